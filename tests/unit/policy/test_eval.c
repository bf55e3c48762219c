/* test_eval - every rule of DESIGN.md "Policy semantics", case by case
 *
 * Each case plays a session from connect up to its stage with one
 * pol_state (as the dataplane does) and checks the verdict of that stage:
 * reply line, reason and deciding entry. The same stage evaluated with a
 * fresh state must agree (the cached facts change nothing).
 */
#include "tap.h"
#include "testlib.h"

static const char *const policy_text =
        "hostname = \"mx.test.example\";\n"
        "local_domains = [ \"local.example\", \".sub.example\", \"Upper.Example.\" ];\n"
        "local_hosts = [ \"gw.local.example\" ];\n"
        "local_addresses = [ \"192.0.2.1\", \"2001:db8::1\" ];\n"
        "lan = [ \"10.0.0.0/8\", \"2001:db8:1::/48\" ];\n"
        "relay { allow_clients = [ \"172.16.0.0/12\" ]; }\n"
        "blacklist {\n"
        "  clients = [ \"198.51.100.0/24\", \"2001:db8:bad::/48\", \"10.66.0.0/16\" ];\n"
        "  helo = [ \"bad.helo.example\", \".evil.example\", \"*.dyn.example\", \"/^[0-9.]+$/\",\n"
        "          \".l2.l1.evil.example\" ];\n"
        "  senders = [ \"spammer@bad.example\", \"@badsender.example\", \"badlocal@\",\n"
        "              \".spamdomain.example\", \"*@glob.example\", \"/^[a-z]{2}[0-9]{6,}@/\",\n"
        "              \"@partner.example\" ];\n"
        "  recipients = [ \"trap@local.example\", \"/^honeypot[0-9]+@/\" ];\n"
        "}\n"
        "whitelist {\n"
        "  clients = [ \"198.51.100.7\", \"2001:db8:bad::7\" ];\n"
        "  helo = [ \"good.helo.example\" ];\n"
        "  senders = [ \"friend@bad.example\", \"*@partner.example\" ];\n"
        "  recipients = [ \"postmaster@local.example\" ];\n"
        "}\n"
        "service mx { ports = [25]; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; delay_reject = false; }\n"
        "service mxdelay { ports = [2525]; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; delay_reject = true; }\n"
        "service sub { ports = [587]; require_auth = true; reject_remote_local_helo = true;\n"
        "  reject_nonlocal_senders_claiming_local = true; }\n"
        "service open { ports = [26]; }\n";

struct ecase {
	const char *name;
	const char *service;
	const char *client;
	const char *auth; /* user, or NULL */
	const char *helo;
	const char *from;
	const char *rcpt;
	enum pol_stage stage;
	const char *reply; /* whole reply, or NULL for accept */
	enum pol_reason reason;
	const char *rule;  /* text of the deciding entry, or NULL */
	const char *relay; /* text of the entry that let it relay, or NULL */
};

#define R   "remote.example"
#define OK  NULL
#define RLY "Relay access denied"

static const struct ecase cases[] = {
        /* relay */
        {"local rcpt accepted", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "u@local.example",
         POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"remote rcpt: relay denied", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "u@other.example",
         POL_RCPT, "554 5.7.1 <u@other.example>: Relay access denied", POL_R_RELAY_DENIED, NULL,
         NULL},
        {"lan may relay", "mx", "10.1.2.3", NULL, "h." R, "a@" R, "u@other.example", POL_RCPT, OK,
         POL_R_ACCEPT, NULL, "10.0.0.0/8"},
        {"lan v6 may relay", "mx", "2001:db8:1::99", NULL, "h." R, "a@" R, "u@other.example",
         POL_RCPT, OK, POL_R_ACCEPT, NULL, "2001:db8:1::/48"},
        {"relay.allow_clients may relay", "mx", "172.16.5.5", NULL, "h." R, "a@" R,
         "u@other.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, "172.16.0.0/12"},
        {"authenticated may relay", "mx", "203.0.113.5", "joe", "h." R, "a@" R, "u@other.example",
         POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"whitelisted client may not relay", "mx", "198.51.100.7", NULL, "h." R, "a@" R,
         "u@other.example", POL_RCPT, "554 5.7.1 <u@other.example>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},
        {"whitelisted sender may not relay", "mx", "203.0.113.5", NULL, "h." R,
         "friend@bad.example", "u@other.example", POL_RCPT, "554 5.7.1 <u@other.example>: " RLY,
         POL_R_RELAY_DENIED, NULL, NULL},
        {"whitelisted helo may not relay", "mx", "203.0.113.5", NULL, "good.helo.example", "a@" R,
         "u@other.example", POL_RCPT, "554 5.7.1 <u@other.example>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},
        {"% in local part is relay", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u%other.example@local.example", POL_RCPT,
         "554 5.7.1 <u%other.example@local.example>: " RLY, POL_R_RELAY_DENIED, NULL, NULL},
        {"! in local part is relay", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "other!u@local.example", POL_RCPT, "554 5.7.1 <other!u@local.example>: " RLY,
         POL_R_RELAY_DENIED, NULL, NULL},
        {"quoted @ is relay", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "\"u@other.example\"@local.example", POL_RCPT,
         "554 5.7.1 <\"u@other.example\"@local.example>: " RLY, POL_R_RELAY_DENIED, NULL, NULL},
        {"source route is relay", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "@hop.example:u@local.example", POL_RCPT, "554 5.7.1 <@hop.example:u@local.example>: " RLY,
         POL_R_RELAY_DENIED, NULL, NULL},
        {"routed local part from lan relays", "mx", "10.9.9.9", NULL, "h." R, "a@" R,
         "u%other.example@local.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, "10.0.0.0/8"},
        {"quoted local part without @ is local", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "\"john doe\"@local.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"caseless local domain", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "U@LOCAL.Example",
         POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"trailing dot of rcpt domain", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@local.example.", POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"entry with case and trailing dot", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@upper.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {".domain matches subdomains", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@a.b.sub.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {".domain does not match the domain", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@sub.example", POL_RCPT, "554 5.7.1 <u@sub.example>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},
        {"domain does not match a lookalike", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@evillocal.example", POL_RCPT, "554 5.7.1 <u@evillocal.example>: " RLY,
         POL_R_RELAY_DENIED, NULL, NULL},
        {"bare postmaster is local", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "Postmaster",
         POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"bare user is not local", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "user", POL_RCPT,
         "554 5.7.1 <user>: " RLY, POL_R_RELAY_DENIED, NULL, NULL},
        {"address literal rcpt is not local", "mx", "203.0.113.5", NULL, "h." R, "a@" R,
         "u@[192.0.2.1]", POL_RCPT, "554 5.7.1 <u@[192.0.2.1]>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},
        {"relay is checked before the recipient whitelist", "mx", "203.0.113.5", NULL, "h." R,
         "a@" R, "postmaster@local.example.other.example", POL_RCPT,
         "554 5.7.1 <postmaster@local.example.other.example>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},

        /* client black and white lists */
        {"blacklisted client refused at connect", "mx", "198.51.100.9", NULL, NULL, NULL, NULL,
         POL_CONNECT, "554 5.7.1 <unknown[198.51.100.9]>: Client host rejected: Access denied",
         POL_R_BL_CLIENT, "198.51.100.0/24", NULL},
        {"whitelisted client inside a blacklisted net", "mx", "198.51.100.7", NULL, NULL, NULL,
         NULL, POL_CONNECT, OK, POL_R_WHITELISTED, "198.51.100.7", NULL},
        {"blacklisted v6 client", "mx", "2001:db8:bad::9", NULL, NULL, NULL, NULL, POL_CONNECT,
         "554 5.7.1 <unknown[2001:db8:bad::9]>: Client host rejected: Access denied",
         POL_R_BL_CLIENT, "2001:db8:bad::/48", NULL},
        {"whitelisted v6 client", "mx", "2001:db8:bad::7", NULL, NULL, NULL, NULL, POL_CONNECT, OK,
         POL_R_WHITELISTED, "2001:db8:bad::7", NULL},
        {"lan is not exempt from the black lists", "mx", "10.66.1.1", NULL, NULL, NULL, NULL,
         POL_CONNECT, "554 5.7.1 <unknown[10.66.1.1]>: Client host rejected: Access denied",
         POL_R_BL_CLIENT, "10.66.0.0/16", NULL},
        {"clean client", "mx", "203.0.113.5", NULL, NULL, NULL, NULL, POL_CONNECT, OK, POL_R_ACCEPT,
         NULL, NULL},

        /* HELO */
        {"blacklisted helo", "mx", "203.0.113.5", NULL, "bad.helo.example", NULL, NULL, POL_HELO,
         "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied", POL_R_BL_HELO,
         "bad.helo.example", NULL},
        {"blacklisted helo caseless with dot", "mx", "203.0.113.5", NULL, "BAD.Helo.Example.", NULL,
         NULL, POL_HELO, "550 5.7.1 <BAD.Helo.Example.>: Helo command rejected: Access denied",
         POL_R_BL_HELO, "bad.helo.example", NULL},
        {"helo .domain matches a subdomain", "mx", "203.0.113.5", NULL, "x.y.evil.example", NULL,
         NULL, POL_HELO, "550 5.7.1 <x.y.evil.example>: Helo command rejected: Access denied",
         POL_R_BL_HELO, ".evil.example", NULL},
        /* a name's keys are probed 16 at a time (pol_eval.c NAME_KEYS): the
         * most specific entry still decides across rounds */
        {"helo of 18 labels: the more specific .domain, in the first round", "mx", "203.0.113.5",
         NULL, "h14.h13.h12.h11.h10.h9.h8.h7.h6.h5.h4.h3.h2.h1.l2.l1.evil.example", NULL, NULL,
         POL_HELO,
         "550 5.7.1 <h14.h13.h12.h11.h10.h9.h8.h7.h6.h5.h4.h3.h2.h1.l2.l1.evil.example>: Helo "
         "command rejected: Access denied",
         POL_R_BL_HELO, ".l2.l1.evil.example", NULL},
        {"helo of 22 labels: the more specific .domain, both in the second round", "mx",
         "203.0.113.5", NULL,
         "h18.h17.h16.h15.h14.h13.h12.h11.h10.h9.h8.h7.h6.h5.h4.h3.h2.h1.l2.l1.evil.example", NULL,
         NULL, POL_HELO,
         "550 5.7.1 "
         "<h18.h17.h16.h15.h14.h13.h12.h11.h10.h9.h8.h7.h6.h5.h4.h3.h2.h1.l2.l1.evil.example>: "
         "Helo command rejected: Access denied",
         POL_R_BL_HELO, ".l2.l1.evil.example", NULL},
        {"sender of 24 domain labels: .domain found in the second round", "mx", "203.0.113.5", NULL,
         "h." R,
         "x@d20.d19.d18.d17.d16.d15.d14.d13.d12.d11.d10.d9.d8.d7.d6.d5.d4.d3.d2.d1.er.spamdomain."
         "example",
         NULL, POL_MAIL,
         "550 5.7.1 "
         "<x@d20.d19.d18.d17.d16.d15.d14.d13.d12.d11.d10.d9.d8.d7.d6.d5.d4.d3.d2.d1.er.spamdomain."
         "example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, ".spamdomain.example", NULL},
        {"helo .domain not the domain", "mx", "203.0.113.5", NULL, "evil.example", NULL, NULL,
         POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"helo glob", "mx", "203.0.113.5", NULL, "host-1.DYN.example", NULL, NULL, POL_HELO,
         "550 5.7.1 <host-1.DYN.example>: Helo command rejected: Access denied", POL_R_BL_HELO,
         "*.dyn.example", NULL},
        {"helo glob needs the dot", "mx", "203.0.113.5", NULL, "dyn.example", NULL, NULL, POL_HELO,
         OK, POL_R_ACCEPT, NULL, NULL},
        {"helo regex", "mx", "203.0.113.5", NULL, "1.2.3.4", NULL, NULL, POL_HELO,
         "550 5.7.1 <1.2.3.4>: Helo command rejected: Access denied", POL_R_BL_HELO, "/^[0-9.]+$/",
         NULL},
        {"remote helo with a local host", "mx", "203.0.113.5", NULL, "GW.local.example", NULL, NULL,
         POL_HELO, "550 5.7.1 <GW.local.example>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "gw.local.example", NULL},
        {"remote helo with our hostname", "mx", "203.0.113.5", NULL, "mx.test.example", NULL, NULL,
         POL_HELO, "550 5.7.1 <mx.test.example>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "mx.test.example", NULL},
        {"remote helo with a local domain", "mx", "203.0.113.5", NULL, "local.example", NULL, NULL,
         POL_HELO, "550 5.7.1 <local.example>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "local.example", NULL},
        {"remote helo with our address literal", "mx", "203.0.113.5", NULL, "[192.0.2.1]", NULL,
         NULL, POL_HELO, "550 5.7.1 <[192.0.2.1]>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "192.0.2.1", NULL},
        {"remote helo with our v6 literal", "mx", "203.0.113.5", NULL, "[IPv6:2001:DB8::1]", NULL,
         NULL, POL_HELO,
         "550 5.7.1 <[IPv6:2001:DB8::1]>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "2001:db8::1", NULL},
        {"other address literal is fine", "mx", "203.0.113.5", NULL, "[192.0.2.2]", NULL, NULL,
         POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"lan may use a local helo", "mx", "10.1.1.1", NULL, "gw.local.example", NULL, NULL,
         POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"authenticated may use a local helo", "mx", "203.0.113.5", "joe", "gw.local.example", NULL,
         NULL, POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"switch off: local helo fine", "open", "203.0.113.5", NULL, "gw.local.example", NULL, NULL,
         POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"whitelisted client exempt from helo checks", "mx", "198.51.100.7", NULL,
         "bad.helo.example", NULL, NULL, POL_HELO, OK, POL_R_WHITELISTED, "198.51.100.7", NULL},
        {"whitelisted client exempt from anti-spoof", "mx", "198.51.100.7", NULL,
         "gw.local.example", NULL, NULL, POL_HELO, OK, POL_R_WHITELISTED, "198.51.100.7", NULL},

        /* MAIL FROM */
        {"blacklisted sender address", "mx", "203.0.113.5", NULL, "h." R, "Spammer@Bad.Example",
         NULL, POL_MAIL, "550 5.7.1 <Spammer@Bad.Example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, "spammer@bad.example", NULL},
        {"other address in that domain", "mx", "203.0.113.5", NULL, "h." R, "x@bad.example", NULL,
         POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"blacklisted sender @domain", "mx", "203.0.113.5", NULL, "h." R, "x@badsender.example",
         NULL, POL_MAIL, "550 5.7.1 <x@badsender.example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, "@badsender.example", NULL},
        {"@domain is not its subdomains", "mx", "203.0.113.5", NULL, "h." R,
         "x@a.badsender.example", NULL, POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"blacklisted local part in any domain", "mx", "203.0.113.5", NULL, "h." R,
         "BadLocal@anywhere.example", NULL, POL_MAIL,
         "550 5.7.1 <BadLocal@anywhere.example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, "badlocal@", NULL},
        {"blacklisted .domain", "mx", "203.0.113.5", NULL, "h." R, "x@deep.er.spamdomain.example",
         NULL, POL_MAIL,
         "550 5.7.1 <x@deep.er.spamdomain.example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, ".spamdomain.example", NULL},
        {".domain is not the domain itself", "mx", "203.0.113.5", NULL, "h." R,
         "x@spamdomain.example", NULL, POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"sender glob", "mx", "203.0.113.5", NULL, "h." R, "anyone@GLOB.example", NULL, POL_MAIL,
         "550 5.7.1 <anyone@GLOB.example>: Sender address rejected: Access denied", POL_R_BL_SENDER,
         "*@glob.example", NULL},
        {"sender regex", "mx", "203.0.113.5", NULL, "h." R, "ab123456@x.example", NULL, POL_MAIL,
         "550 5.7.1 <ab123456@x.example>: Sender address rejected: Access denied", POL_R_BL_SENDER,
         "/^[a-z]{2}[0-9]{6,}@/", NULL},
        {"sender regex not matching", "mx", "203.0.113.5", NULL, "h." R, "ab12345@x.example", NULL,
         POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"whitelisted sender beats blacklisted domain", "mx", "203.0.113.5", NULL, "h." R,
         "friend@bad.example", NULL, POL_MAIL, OK, POL_R_WHITELISTED, "friend@bad.example", NULL},
        {"whitelist glob beats blacklist @domain", "mx", "203.0.113.5", NULL, "h." R,
         "x@partner.example", NULL, POL_MAIL, OK, POL_R_WHITELISTED, "*@partner.example", NULL},
        {"whitelisted helo exempts the sender", "mx", "203.0.113.5", NULL, "good.helo.example",
         "spammer@bad.example", NULL, POL_MAIL, OK, POL_R_WHITELISTED, "good.helo.example", NULL},
        {"null sender is not matched by patterns", "mx", "203.0.113.5", NULL, "h." R, "", NULL,
         POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"nonlocal sender claiming local", "mx", "203.0.113.5", NULL, "h." R, "ceo@Local.Example",
         NULL, POL_MAIL,
         "550 5.7.1 <ceo@Local.Example>: Sender address rejected: Non-local sender claiming to be "
         "local",
         POL_R_LOCAL_SENDER, "local.example", NULL},
        {"claiming a local subdomain", "mx", "203.0.113.5", NULL, "h." R, "x@a.sub.example", NULL,
         POL_MAIL,
         "550 5.7.1 <x@a.sub.example>: Sender address rejected: Non-local sender claiming to be "
         "local",
         POL_R_LOCAL_SENDER, ".sub.example", NULL},
        {"lan sender may be local", "mx", "10.2.2.2", NULL, "h." R, "ceo@local.example", NULL,
         POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"authenticated sender may be local", "mx", "203.0.113.5", "joe", "h." R,
         "ceo@local.example", NULL, POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"switch off: local sender fine", "open", "203.0.113.5", NULL, "h." R, "ceo@local.example",
         NULL, POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"black list before anti-spoof", "mx", "203.0.113.5", NULL, "h." R,
         "badlocal@local.example", NULL, POL_MAIL,
         "550 5.7.1 <badlocal@local.example>: Sender address rejected: Access denied",
         POL_R_BL_SENDER, "badlocal@", NULL},

        /* authentication */
        {"require_auth: MAIL unauthenticated", "sub", "203.0.113.5", NULL, "h." R, "a@" R, NULL,
         POL_MAIL, "530 5.7.0 Authentication required", POL_R_AUTH_REQUIRED, NULL, NULL},
        {"require_auth: connect is fine", "sub", "203.0.113.5", NULL, NULL, NULL, NULL, POL_CONNECT,
         OK, POL_R_ACCEPT, NULL, NULL},
        {"require_auth: lan still needs auth", "sub", "10.1.1.1", NULL, "h." R, "a@" R, NULL,
         POL_MAIL, "530 5.7.0 Authentication required", POL_R_AUTH_REQUIRED, NULL, NULL},
        {"require_auth: authenticated relays", "sub", "203.0.113.5", "joe", "h." R,
         "joe@local.example", "x@other.example", POL_RCPT, OK, POL_R_ACCEPT, NULL, NULL},
        {"relay before auth at RCPT", "sub", "203.0.113.5", NULL, "h." R, "a@" R, "x@other.example",
         POL_RCPT, "554 5.7.1 <x@other.example>: " RLY, POL_R_RELAY_DENIED, NULL, NULL},
        {"whitelist does not skip auth", "sub", "198.51.100.7", NULL, "h." R, "a@" R, NULL,
         POL_MAIL, "530 5.7.0 Authentication required", POL_R_AUTH_REQUIRED, NULL, NULL},

        /* RCPT TO */
        {"blacklisted recipient", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "Trap@local.example",
         POL_RCPT, "550 5.7.1 <Trap@local.example>: Recipient address rejected: Access denied",
         POL_R_BL_RCPT, "trap@local.example", NULL},
        {"recipient regex", "mx", "203.0.113.5", NULL, "h." R, "a@" R, "honeypot12@local.example",
         POL_RCPT,
         "550 5.7.1 <honeypot12@local.example>: Recipient address rejected: Access denied",
         POL_R_BL_RCPT, "/^honeypot[0-9]+@/", NULL},
        {"whitelisted sender exempts recipient", "mx", "203.0.113.5", NULL, "h." R,
         "friend@bad.example", "trap@local.example", POL_RCPT, OK, POL_R_WHITELISTED,
         "friend@bad.example", NULL},
        {"lan recipient blacklist still applies", "mx", "10.1.1.1", NULL, "h." R, "a@" R,
         "trap@local.example", POL_RCPT,
         "550 5.7.1 <trap@local.example>: Recipient address rejected: Access denied", POL_R_BL_RCPT,
         "trap@local.example", NULL},

        /* delay_reject */
        {"delay: blacklisted client passes connect", "mxdelay", "198.51.100.9", NULL, NULL, NULL,
         NULL, POL_CONNECT, OK, POL_R_ACCEPT, NULL, NULL},
        {"delay: blacklisted client passes helo", "mxdelay", "198.51.100.9", NULL, "h." R, NULL,
         NULL, POL_HELO, OK, POL_R_ACCEPT, NULL, NULL},
        {"delay: blacklisted client passes mail", "mxdelay", "198.51.100.9", NULL, "h." R, "a@" R,
         NULL, POL_MAIL, OK, POL_R_ACCEPT, NULL, NULL},
        {"delay: blacklisted client refused at rcpt", "mxdelay", "198.51.100.9", NULL, "h." R,
         "a@" R, "u@local.example", POL_RCPT,
         "554 5.7.1 <unknown[198.51.100.9]>: Client host rejected: Access denied", POL_R_BL_CLIENT,
         "198.51.100.0/24", NULL},
        {"delay: recipient whitelist rescues a blacklisted client", "mxdelay", "198.51.100.9", NULL,
         "h." R, "a@" R, "postmaster@local.example", POL_RCPT, OK, POL_R_WHITELISTED,
         "postmaster@local.example", NULL},
        {"no delay: recipient whitelist cannot rescue connect", "mx", "198.51.100.9", NULL, NULL,
         NULL, NULL, POL_CONNECT,
         "554 5.7.1 <unknown[198.51.100.9]>: Client host rejected: Access denied", POL_R_BL_CLIENT,
         "198.51.100.0/24", NULL},
        {"delay: helo refused at rcpt", "mxdelay", "203.0.113.5", NULL, "bad.helo.example", "a@" R,
         "u@local.example", POL_RCPT,
         "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied", POL_R_BL_HELO,
         "bad.helo.example", NULL},
        {"delay: helo before sender", "mxdelay", "203.0.113.5", NULL, "bad.helo.example",
         "spammer@bad.example", "u@local.example", POL_RCPT,
         "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied", POL_R_BL_HELO,
         "bad.helo.example", NULL},
        {"delay: black lists before anti-spoof", "mxdelay", "203.0.113.5", NULL, "gw.local.example",
         "spammer@bad.example", "u@local.example", POL_RCPT,
         "550 5.7.1 <spammer@bad.example>: Sender address rejected: Access denied", POL_R_BL_SENDER,
         "spammer@bad.example", NULL},
        {"delay: anti-spoof helo at rcpt", "mxdelay", "203.0.113.5", NULL, "gw.local.example",
         "a@" R, "u@local.example", POL_RCPT,
         "550 5.7.1 <gw.local.example>: Helo command rejected: Host claims to be local",
         POL_R_LOCAL_HELO, "gw.local.example", NULL},
        {"delay: anti-spoof sender at rcpt", "mxdelay", "203.0.113.5", NULL, "h." R,
         "x@local.example", "u@local.example", POL_RCPT,
         "550 5.7.1 <x@local.example>: Sender address rejected: Non-local sender claiming to be "
         "local",
         POL_R_LOCAL_SENDER, "local.example", NULL},
        {"delay: relay still first", "mxdelay", "198.51.100.9", NULL, "h." R, "a@" R,
         "u@other.example", POL_RCPT, "554 5.7.1 <u@other.example>: " RLY, POL_R_RELAY_DENIED, NULL,
         NULL},
        {"delay: helo whitelist exempts the client", "mxdelay", "198.51.100.9", NULL,
         "good.helo.example", "a@" R, "u@local.example", POL_RCPT, OK, POL_R_WHITELISTED,
         "good.helo.example", NULL},
};

/* play - evaluate every stage up to c->stage with one state */
static void
play(const struct pol_snapshot *s, const struct ecase *c, struct pol_verdict *v, bool fresh)
{
	struct pol_query q = {0};
	struct pol_state st;

	q.service = pol_service_find(s, c->service);
	cidr_addr_parse(c->client, &q.client);
	q.auth = c->auth != NULL;
	q.auth_user = c->auth;
	pol_state_init(&st);
	for (enum pol_stage stage = fresh ? c->stage : POL_CONNECT; stage <= c->stage; stage++) {
		q.helo = stage >= POL_HELO ? c->helo : NULL;
		q.sender = stage >= POL_MAIL ? c->from : NULL;
		q.rcpt = stage == POL_RCPT ? c->rcpt : NULL;
		pol_eval(s, NULL, &q, stage, &st, v);
	}
}

static void
check_case(const struct pol_snapshot *s, const struct ecase *c)
{
	struct pol_verdict v, v2;
	const struct pol_entry *e;

	play(s, c, &v, false);
	if (c->reply == NULL)
		ok(v.action == POL_ACCEPT && v.text[0] == '\0', "%s: accepted", c->name);
	else
		is_str(v.text, c->reply, "%s: reply", c->name);
	is_str(pol_reason_name(v.reason), pol_reason_name(c->reason), "%s: reason", c->name);
	e = pol_entry_get(s, v.rule);
	is_str(e != NULL ? e->text : "(none)", c->rule != NULL ? c->rule : "(none)", "%s: rule",
	       c->name);
	if (c->stage == POL_RCPT && v.action == POL_ACCEPT) {
		e = pol_entry_get(s, v.relay_rule);
		is_str(e != NULL ? e->text : "(none)", c->relay != NULL ? c->relay : "(none)",
		       "%s: relay rule", c->name);
	}
	is_int(v.text_len, strlen(v.text), "%s: text_len", c->name);
	play(s, c, &v2, true);
	ok(strcmp(v.text, v2.text) == 0 && v.reason == v2.reason && v.rule == v2.rule,
	   "%s: same verdict with a fresh state", c->name);
}

/* echo_oracle - what a refusal echoes of client text, byte by byte: up to
 * its NUL or POL_MAX_INPUT bytes, a control or 8-bit byte as '?' */
static size_t
echo_oracle(char *dst, const char *src)
{
	size_t n = 0;

	for (; src[n] != '\0' && n < POL_MAX_INPUT; n++) {
		unsigned char c = (unsigned char)src[n];

		dst[n] = c < ' ' || c >= 0x7f ? '?' : (char)c;
	}
	return n;
}

/* test_echo - a refusal's echo of the input (copied whole, checked eight
 * bytes at a time) against the byte-by-byte oracle: every length 0 to 600
 * (over POL_MAX_INPUT: cut), plain text, one bad byte at each of the first,
 * last and a random place, all bytes random, and each byte value at a
 * random place (NUL: the input ends there) */
static void
test_echo(const struct pol_snapshot *s)
{
	static char in[POL_MAX_INPUT + 100], want[POL_REPLY_MAX];
	struct pol_query q = {.service = pol_service_find(s, "mx"),
	                      .helo = "h.example",
	                      .sender = "a@b.example",
	                      .rcpt = in};
	unsigned bad = 0, nrefused = 0;
	uint32_t x = 2026;

	cidr_addr_parse("203.0.113.9", &q.client);
	for (size_t len = 0; len <= POL_MAX_INPUT + 88; len++)
		for (int mode = 0; mode < 5 + 256; mode++) {
			struct pol_verdict v;
			struct pol_state st;
			size_t n;

			if (mode >= 5 && len % 37 != 5)
				continue; /* each byte value at a few lengths only */
			for (size_t i = 0; i < len; i++) {
				x = x * 1103515245u + 12345u;
				in[i] = mode == 4 ? (char)(1 + (x >> 16) % 255)
				                  : (char)(' ' + (x >> 16) % 95);
			}
			in[len] = '\0';
			x = x * 1103515245u + 12345u;
			if (len > 0 && mode == 1)
				in[0] = (char)((x >> 16) & 1 ? 0x7f : 0x1f);
			if (len > 0 && mode == 2)
				in[len - 1] = (char)((x >> 16) & 1 ? 0x80 : 0x01);
			if (len > 0 && mode == 3)
				in[(x >> 16) % len] = (char)((x >> 8) & 1 ? 0xff : '\t');
			if (len > 0 && mode >= 5)
				in[(x >> 16) % len] = (char)(mode - 5); /* 0: a NUL cuts it */
			n = (size_t)snprintf(want, sizeof(want), "554 5.7.1 <");
			n += echo_oracle(want + n, in);
			n += (size_t)snprintf(want + n, sizeof(want) - n, ">: Relay access denied");
			pol_state_init(&st);
			pol_eval(s, NULL, &q, POL_RCPT, &st, &v);
			nrefused++;
			if (v.action != POL_REJECT || v.reason != POL_R_RELAY_DENIED ||
			    strcmp(v.text, want) != 0 || v.text_len != n) {
				if (bad++ < 3)
					printf("# len %zu mode %d: got \"%s\" (%u)\n", len, mode,
					       v.text, v.text_len);
			}
		}
	is_int(bad, 0, "%u refusals echo their input as the byte-by-byte copy did", nrefused);
}

/* test_log_line - the Postfix line operators' tools parse */
static void
test_log_line(const struct pol_snapshot *s)
{
	struct pol_query q = {.service = pol_service_find(s, "mx"),
	                      .helo = "h.example",
	                      .sender = "a@b.example",
	                      .rcpt = "x@y.example"};
	struct pol_state st;
	struct pol_verdict v;
	char line[2048];

	cidr_addr_parse("203.0.113.9", &q.client);
	pol_state_init(&st);
	pol_eval(s, NULL, &q, POL_RCPT, &st, &v);
	pol_format_reject(line, sizeof(line), POL_RCPT, &q, &v, true);
	is_str(line,
	       "NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@y.example>: Relay "
	       "access denied; from=<a@b.example> to=<x@y.example> proto=ESMTP helo=<h.example>",
	       "reject log line in Postfix's format");
	q.helo = "evil\r\nhelo";
	pol_state_init(&st);
	pol_eval(s, NULL, &q, POL_RCPT, &st, &v);
	pol_format_reject(line, sizeof(line), POL_RCPT, &q, &v, false);
	ok(strstr(line, "helo=<evil??helo>") != NULL && strchr(line, '\r') == NULL,
	   "control characters of the client are escaped in the log line");
}

/* test_state_across_snapshots - a push between stages: facts are recomputed */
static void
test_state_across_snapshots(void)
{
	struct pol_snapshot *a =
	        must_load("a.conf", "hostname = a.example;\n"
	                            "blacklist { helo = [ bad.example ]; }\n"
	                            "local_domains = [ l.example ];\n"
	                            "service mx { ports = 25; delay_reject = true; }\n");
	struct pol_snapshot *b =
	        must_load("b.conf", "hostname = b.example;\n"
	                            "local_domains = [ l.example ];\n"
	                            "service mx { ports = 25; delay_reject = true; }\n");
	struct pol_query q = {
	        .helo = "bad.example", .sender = "s@x.example", .rcpt = "u@l.example"};
	struct pol_state st;
	struct pol_verdict v;

	cidr_addr_parse("203.0.113.1", &q.client);
	pol_state_init(&st);
	q.service = pol_service_find(a, "mx");
	pol_eval(a, NULL, &q, POL_HELO, &st, &v);
	pol_eval(a, NULL, &q, POL_MAIL, &st, &v);
	q.service = pol_service_find(b, "mx");
	pol_eval(b, NULL, &q, POL_RCPT, &st, &v);
	ok(v.action == POL_ACCEPT, "facts from an old snapshot are not reused under a new one");
	q.service = pol_service_find(a, "mx");
	pol_eval(a, NULL, &q, POL_RCPT, &st, &v);
	ok(v.action == POL_REJECT && v.reason == POL_R_BL_HELO, "and back: the old rule applies");
	pol_snapshot_free(a);
	pol_snapshot_free(b);
}

/* test_null_sender - "<>" is matched only by the entry <> */
static void
test_null_sender(void)
{
	struct pol_snapshot *s = must_load("null.conf", "hostname = n.example;\n"
	                                                "blacklist { senders = [ \"<>\" ]; }\n"
	                                                "whitelist { senders = [ \"*\" ]; }\n"
	                                                "service mx { ports = 25; }\n");
	struct pol_query q = {.service = pol_service_find(s, "mx"), .helo = "h", .sender = ""};
	struct pol_state st;
	struct pol_verdict v;

	cidr_addr_parse("203.0.113.1", &q.client);
	pol_state_init(&st);
	pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
	is_str(v.text, "550 5.7.1 <>: Sender address rejected: Access denied",
	       "<> blacklisted; the glob * does not whitelist the null sender");
	q.sender = "a@b.example";
	pol_state_init(&st);
	pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
	ok(v.reason == POL_R_WHITELISTED, "* whitelists any real sender");
	pol_snapshot_free(s);
}

/* test_client_name - the IPv4 fast path writes what printf would */
static void
test_client_name(void)
{
	unsigned bad = 0;
	uint32_t x = 12345;

	for (int i = 0; i < 20000; i++) {
		struct cidr c = {.family = 4, .len = 32};
		char got[80], want[80];

		x = x * 1103515245u + 12345u;
		memcpy(c.addr, &x, 4);
		if (i < 256)
			c.addr[0] = c.addr[1] = c.addr[2] = c.addr[3] = (uint8_t)i;
		pol_client_name(&c, got, sizeof(got));
		snprintf(want, sizeof(want), "unknown[%u.%u.%u.%u]", c.addr[0], c.addr[1],
		         c.addr[2], c.addr[3]);
		bad += strcmp(got, want) != 0;
	}
	is_int(bad, 0, "client names of 20,000 IPv4 addresses as printf writes them");
}

/* test_forget - a second HELO or transaction is decided on its own input */
static void
test_forget(const struct pol_snapshot *s)
{
	struct pol_query q = {.service = pol_service_find(s, "mx"), .helo = "bad.helo.example"};
	struct pol_state st;
	struct pol_verdict v;

	cidr_addr_parse("203.0.113.5", &q.client);
	pol_state_init(&st);
	pol_eval(s, NULL, &q, POL_HELO, &st, &v);
	ok(v.reason == POL_R_BL_HELO, "first HELO refused");
	q.helo = "fine.example";
	pol_state_forget(&st, POL_HELO);
	pol_eval(s, NULL, &q, POL_HELO, &st, &v);
	ok(v.action == POL_ACCEPT, "a second HELO is decided on its own name");
	q.sender = "spammer@bad.example";
	pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
	ok(v.reason == POL_R_BL_SENDER, "first sender refused");
	q.sender = "fine@remote.example";
	pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
	ok(v.reason == POL_R_BL_SENDER, "without forgetting, the old sender's facts stay");
	pol_state_forget(&st, POL_MAIL);
	pol_eval(s, NULL, &q, POL_MAIL, &st, &v);
	ok(v.action == POL_ACCEPT, "after pol_state_forget the new sender decides");
}

int
main(void)
{
	struct pol_snapshot *s = must_load("eval.conf", policy_text);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(s, &cases[i]);
	test_log_line(s);
	test_echo(s);
	test_forget(s);
	test_client_name();
	pol_snapshot_free(s);
	test_state_across_snapshots();
	test_null_sender();
	pol_hs_cache_clear();
	return done_testing();
}
