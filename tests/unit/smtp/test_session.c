/* test_session - SMTP conversations through the engine, case by case
 *
 * Each case is a service port, a client address, the client's bytes and
 * the exact output (every reply line), the last action and the log lines.
 * Every case is played whole, one byte at a time, and cut in two at every
 * offset: all must give the same output, logs, action and stopping point
 * (pipelining and segmentation never change the conversation), and no
 * chunk may be left over.
 */
#include "harness.h"

#define IN(s) s, sizeof(s) - 1

#define HOST "mx.test.example"
#define G    "220 " HOST " ESMTP\r\n"
#define GD   "220 " HOST " ESMTP delayed\r\n"
#define EHLO_REPLY(size)                                                                           \
	"250-" HOST "\r\n250-PIPELINING\r\n250-" size                                              \
	"\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define E    EHLO_REPLY("SIZE 10240000")
#define OK   "250 2.0.0 Ok\r\n"
#define MOK  "250 2.1.0 Ok\r\n"
#define ROK  "250 2.1.5 Ok\r\n"
#define BYE  "221 2.0.0 Bye\r\n"
#define NOB  "451 4.4.1 Error: no backend available, try again later\r\n"
#define SYNB "500 5.5.2 Error: bad syntax\r\n"
#define UNK  "502 5.5.2 Error: command not recognized\r\n"
#define RMT  "203.0.113.5"
#define LAN  "10.1.2.3"
#define BLC  "198.51.100.9"
#define H    "EHLO h.remote.example\r\n"
#define M    "MAIL FROM:<a@remote.example>\r\n"
#define R    "RCPT TO:<u@local.example>\r\n"
#define NOQ  "NOQUEUE: reject: "
#define TAIL "; from=<a@remote.example> to=<u@other.example> proto=ESMTP helo=<h.remote.example>\n"
#define BADS "501 5.1.7 Bad sender address syntax"
#define BADR "501 5.1.3 Bad recipient address syntax"
#define L4   "aaaa"
#define L16  L4 L4 L4 L4
#define L64  L16 L16 L16 L16
#define D252 L64 L64 L64 L16 L16 L16 L4 L4 L4 /* a domain of 252 octets */
#define C    SMTP_CONTINUE
#define X    SMTP_CLOSE

static const struct scase cases[] = {
        /* ---- verbs ---- */
        {"greeting, QUIT", 25, RMT, IN("QUIT\r\n"), G BYE, X, ""},
        {"QUIT ends reading", 25, RMT, IN("QUIT\r\nNOOP\r\nNOOP\r\n"), G BYE, X, ""},
        {"QUIT with an argument", 25, RMT, IN("QUIT now\r\n"), G BYE, X, ""},
        {"EHLO", 25, RMT, IN(H), G E, C, ""},
        {"EHLO without a size limit", 27, RMT, IN(H), G EHLO_REPLY("SIZE"), C, ""},
        {"HELO", 25, RMT, IN("HELO h.remote.example\r\n"), G "250 " HOST "\r\n", C, ""},
        {"HELO takes the first word, spaces around", 25, RMT,
         IN("HELO   h.remote.example  junk   \r\n"), G "250 " HOST "\r\n", C, ""},
        {"lowercase verbs", 25, RMT,
         IN("ehlo h\r\nmail from:<a@remote.example>\r\nrcpt to:<u@local.example>\r\nquit\r\n"),
         G E MOK ROK BYE, X, ""},
        {"HELO without a name", 25, RMT, IN("HELO\r\nHELO  \r\n"),
         G "501 5.5.4 Syntax: HELO hostname\r\n501 5.5.4 Syntax: HELO hostname\r\n", C, ""},
        {"EHLO without a name", 25, RMT, IN("EHLO\r\n"), G "501 5.5.4 Syntax: EHLO hostname\r\n", C,
         ""},
        {"a whole transaction: DATA gets 451, never 2xx", 25, RMT, IN(H M R "DATA\r\nQUIT\r\n"),
         G E MOK ROK NOB BYE, X, ""},
        {"DATA ends the transaction", 25, RMT, IN(H M R "DATA\r\n" R M R "DATA\r\n"),
         G E MOK ROK NOB "503 5.5.1 Error: need MAIL command\r\n" MOK ROK NOB, C, ""},
        {"DATA with an argument", 25, RMT, IN(H M R "DATA x\r\n"),
         G E MOK ROK "501 5.5.4 Syntax: DATA\r\n", C, ""},
        {"RSET", 25, RMT, IN(H M R "RSET\r\n" R "RSET x\r\n"),
         G E MOK ROK OK "503 5.5.1 Error: need MAIL command\r\n501 5.5.4 Syntax: RSET\r\n", C, ""},
        {"RSET keeps the HELO", 25, RMT, IN(H "RSET\r\n" M), G E OK MOK, C, ""},
        {"NOOP, with and without argument", 25, RMT, IN("NOOP\r\nNOOP hello there\r\n"), G OK OK, C,
         ""},
        {"VRFY", 25, RMT, IN("VRFY u@local.example\r\nVRFY\r\n"),
         G "252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
           "501 5.5.4 Syntax: VRFY address\r\n",
         C, ""},
        {"HELP", 25, RMT, IN("HELP\r\nHELP MAIL\r\n"),
         G "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n"
           "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n",
         C, ""},
        {"unknown commands", 25, RMT, IN("FOO\r\nNOOPX\r\nNOO\r\nSTARTTLSX\r\nAUTH PLAIN\r\n"),
         G UNK UNK UNK UNK "503 5.5.1 Error: send HELO/EHLO first\r\n", C, ""},
        {"STARTTLS where TLS is off", 25, RMT, IN("STARTTLS\r\n"),
         G "454 4.7.0 TLS not available due to local problem\r\n", C, ""},
        {"empty lines", 25, RMT, IN("\r\n   \r\n"), G SYNB SYNB, C, ""},
        /* ---- sequence ---- */
        {"MAIL before HELO", 25, RMT, IN(M), G "503 5.5.1 Error: send HELO/EHLO first\r\n", C, ""},
        {"RCPT before MAIL", 25, RMT, IN(H R), G E "503 5.5.1 Error: need MAIL command\r\n", C, ""},
        {"DATA before MAIL", 25, RMT, IN(H "DATA\r\n"),
         G E "503 5.5.1 Error: need RCPT command\r\n", C, ""},
        {"DATA before HELO", 25, RMT, IN("DATA\r\n"), G "503 5.5.1 Error: need RCPT command\r\n", C,
         ""},
        {"nested MAIL", 25, RMT, IN(H M M), G E MOK "503 5.5.1 Error: nested MAIL command\r\n", C,
         ""},
        {"EHLO again resets the transaction", 25, RMT, IN(H M H R M),
         G E MOK E "503 5.5.1 Error: need MAIL command\r\n" MOK, C, ""},
        /* ---- MAIL and RCPT syntax ---- */
        {"MAIL syntax", 25, RMT,
         IN(H "MAIL FROM:a@remote.example\r\nMAIL TO:<a@b>\r\nMAIL\r\nMAIL FROM:<a@b\r\n"
              "MAIL FROM:<a b@c>\r\nMAIL FROM:<a@b>x\r\nMAIL FROMM:<a@b>\r\n"),
         G E "501 5.5.4 Syntax: MAIL FROM:<address>\r\n501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
             "501 5.5.4 Syntax: MAIL FROM:<address>\r\n501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
             "501 5.5.4 Syntax: MAIL FROM:<address>\r\n501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
             "501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
         C, ""},
        {"MAIL FROM: <addr> with a space, as Postfix", 25, RMT,
         IN(H "MAIL FROM: <a@remote.example>\r\n"), G E MOK, C, ""},
        {"null sender", 25, RMT, IN(H "MAIL FROM:<>\r\n" R), G E MOK ROK, C, ""},
        {"quoted local part with space and >", 25, RMT,
         IN(H "MAIL FROM:<\"a >b\"@remote.example>\r\n" R), G E MOK ROK, C, ""},
        {"RCPT syntax", 25, RMT,
         IN(H M "RCPT TO:<>\r\nRCPT TO:u@local.example\r\nRCPT FROM:<u@local.example>\r\n"
                "RCPT TO:<u@local.example> NOTIFY=NEVER\r\nRCPT TO:<u@local.example> ORCPT\r\n"),
         G E MOK "501 5.5.4 Syntax: RCPT TO:<address>\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"
                 "501 5.5.4 Syntax: RCPT TO:<address>\r\n555 5.5.4 Unsupported option: NOTIFY\r\n"
                 "555 5.5.4 Unsupported option: ORCPT\r\n",
         C, ""},
        {"RCPT TO:<postmaster>", 25, RMT, IN(H M "RCPT TO:<Postmaster>\r\n"), G E MOK ROK, C, ""},
        /* ---- MAIL parameters ---- */
        {"SIZE and BODY accepted", 25, RMT,
         IN(H "MAIL FROM:<a@remote.example> SIZE=10240000 BODY=8BITMIME\r\nRSET\r\n"
              "MAIL FROM:<a@remote.example> body=7bit size=0\r\n"),
         G E MOK OK MOK, C, ""},
        {"SIZE over the limit", 26, RMT,
         IN(H
            "MAIL FROM:<a@remote.example> SIZE=1001\r\nMAIL FROM:<a@remote.example> SIZE=1000\r\n"),
         G EHLO_REPLY("SIZE 1000") "552 5.3.4 Message size exceeds fixed limit\r\n" MOK, C, ""},
        {"SIZE without a limit", 27, RMT,
         IN(H "MAIL FROM:<a@remote.example> SIZE=18446744073709551610\r\n"),
         G EHLO_REPLY("SIZE") MOK, C, ""},
        {"bad SIZE values", 25, RMT,
         IN(H "MAIL FROM:<a@b> SIZE=abc\r\nMAIL FROM:<a@b> SIZE=\r\n"
              "MAIL FROM:<a@b> SIZE=99999999999999999999999\r\nMAIL FROM:<a@b> SIZE=-1\r\n"),
         G E "501 5.5.4 Bad message size syntax\r\n501 5.5.4 Bad message size syntax\r\n"
             "501 5.5.4 Bad message size syntax\r\n501 5.5.4 Bad message size syntax\r\n",
         C, ""},
        {"bad BODY values", 25, RMT,
         IN(H "MAIL FROM:<a@b> BODY=BINARYMIME\r\nMAIL FROM:<a@b> BODY=\r\n"),
         G E "501 5.5.4 Bad BODY keyword value\r\n501 5.5.4 Bad BODY keyword value\r\n", C, ""},
        {"unknown MAIL parameters", 25, RMT,
         IN(H "MAIL FROM:<a@b> AUTH\r\nMAIL FROM:<a@b> SMTPUTF8\r\nMAIL FROM:<a@b> SIZE\r\n"
              "MAIL FROM:<a@b> "
              "Xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="
              "1\r\n"),
         G E "555 5.5.4 Unsupported option: AUTH\r\n555 5.5.4 Unsupported option: SMTPUTF8\r\n"
             "555 5.5.4 Unsupported option: SIZE\r\n"
             "555 5.5.4 Unsupported option: X"
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
         C, ""},
        /* ---- policy: relay, auth ---- */
        {"relay denied", 25, RMT, IN(H M "RCPT TO:<u@other.example>\r\nDATA\r\n"),
         G E MOK "554 5.7.1 <u@other.example>: Relay access denied\r\n"
                 "554 5.5.1 Error: no valid recipients\r\n",
         C,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <u@other.example>: Relay access denied" TAIL},
        {"relay denied after HELO: proto=SMTP", 25, RMT,
         IN("HELO h.remote.example\r\n" M "RCPT TO:<u@other.example>\r\n"),
         G "250 " HOST "\r\n" MOK "554 5.7.1 <u@other.example>: Relay access denied\r\n", C,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <u@other.example>: Relay access denied; "
             "from=<a@remote.example> to=<u@other.example> proto=SMTP helo=<h.remote.example>\n"},
        {"lan relays", 25, LAN, IN(H M "RCPT TO:<u@other.example>\r\n"), G E MOK ROK, C, ""},
        {"relay.allow_clients relays", 25, "172.16.1.1", IN(H M "RCPT TO:<u@other.example>\r\n"),
         G E MOK ROK, C, ""},
        {"routing in the local part is relay", 25, RMT,
         IN(H M "RCPT TO:<u%other.example@local.example>\r\n"),
         G E MOK "554 5.7.1 <u%other.example@local.example>: Relay access denied\r\n", C,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <u%other.example@local.example>: Relay access "
             "denied; from=<a@remote.example> to=<u%other.example@local.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"require_auth: 530 at MAIL", 587, RMT, IN(H M R),
         G E "530 5.7.0 Authentication required\r\n503 5.5.1 Error: need MAIL command\r\n", C,
         NOQ "MAIL from unknown[" RMT "]: 530 5.7.0 Authentication required; "
             "from=<a@remote.example> proto=ESMTP helo=<h.remote.example>\n"},
        /* ---- policy: black lists, at the earliest stage ---- */
        {"blacklisted client: 554 greeting, 503s, QUIT", 25, BLC,
         IN("EHLO h\r\n" M "NOOP\r\nFOO\r\nQUIT\r\n"),
         "554 5.7.1 <unknown[" BLC "]>: Client host rejected: Access denied\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n" BYE,
         X,
         NOQ "CONNECT from unknown[" BLC "]: 554 5.7.1 <unknown[" BLC "]>: Client host rejected: "
             "Access denied; proto=SMTP\n"},
        {"blacklisted client v6", 25, "2001:db8:bad::5", IN("QUIT\r\n"),
         "554 5.7.1 <unknown[2001:db8:bad::5]>: Client host rejected: Access denied\r\n" BYE, X,
         NOQ "CONNECT from unknown[2001:db8:bad::5]: 554 5.7.1 <unknown[2001:db8:bad::5]>: Client "
             "host rejected: Access denied; proto=SMTP\n"},
        {"whitelisted client inside a blacklisted net", 25, "198.51.100.7", IN(H), G E, C, ""},
        {"blacklisted HELO leaves no HELO", 25, RMT, IN("EHLO bad.helo.example\r\n" M),
         G "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied\r\n"
           "503 5.5.1 Error: send HELO/EHLO first\r\n",
         C,
         NOQ "HELO from unknown[" RMT "]: 550 5.7.1 <bad.helo.example>: Helo command rejected: "
             "Access denied; proto=ESMTP helo=<bad.helo.example>\n"},
        {"a refused HELO removes the earlier one", 25, RMT, IN(H M "HELO x.dyn.example\r\n" M),
         G E MOK "550 5.7.1 <x.dyn.example>: Helo command rejected: Access denied\r\n"
                 "503 5.5.1 Error: send HELO/EHLO first\r\n",
         C,
         NOQ "HELO from unknown[" RMT "]: 550 5.7.1 <x.dyn.example>: Helo command rejected: "
             "Access denied; proto=SMTP helo=<x.dyn.example>\n"},
        {"blacklisted sender leaves no transaction", 25, RMT,
         IN(H "MAIL FROM:<spammer@bad.example>\r\n" R),
         G E "550 5.7.1 <spammer@bad.example>: Sender address rejected: Access denied\r\n"
             "503 5.5.1 Error: need MAIL command\r\n",
         C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <spammer@bad.example>: Sender address "
             "rejected: Access denied; from=<spammer@bad.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"blacklisted sender by regex", 25, RMT, IN(H "MAIL FROM:<ab123456@x.example>\r\n"),
         G E "550 5.7.1 <ab123456@x.example>: Sender address rejected: Access denied\r\n", C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <ab123456@x.example>: Sender address "
             "rejected: Access denied; from=<ab123456@x.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"blacklisted recipient is not added", 25, RMT,
         IN(H M "RCPT TO:<trap@local.example>\r\nDATA\r\n"),
         G E MOK "550 5.7.1 <trap@local.example>: Recipient address rejected: Access denied\r\n"
                 "554 5.5.1 Error: no valid recipients\r\n",
         C,
         NOQ "RCPT from unknown[" RMT "]: 550 5.7.1 <trap@local.example>: Recipient address "
             "rejected: Access denied; from=<a@remote.example> to=<trap@local.example> "
             "proto=ESMTP helo=<h.remote.example>\n"},
        /* ---- policy: anti-spoof ---- */
        {"HELO claims to be local", 25, RMT, IN("EHLO gw.local.example\r\nHELO [192.0.2.1]\r\n"),
         G "550 5.7.1 <gw.local.example>: Helo command rejected: Host claims to be local\r\n"
           "550 5.7.1 <[192.0.2.1]>: Helo command rejected: Host claims to be local\r\n",
         C,
         NOQ "HELO from unknown[" RMT "]: 550 5.7.1 <gw.local.example>: Helo command rejected: "
             "Host claims to be local; proto=ESMTP helo=<gw.local.example>\n" NOQ
             "HELO from unknown[" RMT "]: 550 5.7.1 <[192.0.2.1]>: Helo command rejected: "
             "Host claims to be local; proto=SMTP helo=<[192.0.2.1]>\n"},
        {"sender claims to be local", 25, RMT, IN(H "MAIL FROM:<x@local.example>\r\n"),
         G E "550 5.7.1 <x@local.example>: Sender address rejected: Non-local sender claiming to "
             "be local\r\n",
         C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <x@local.example>: Sender address rejected: "
             "Non-local sender claiming to be local; from=<x@local.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"lan is exempt from anti-spoof", 25, LAN,
         IN("EHLO gw.local.example\r\nMAIL FROM:<x@local.example>\r\n" R), G E MOK ROK, C, ""},
        /* ---- policy: delay_reject ---- */
        {"delay_reject: blacklisted client refused at RCPT", 2525, BLC, IN(H M R "DATA\r\n"),
         GD E MOK "554 5.7.1 <unknown[" BLC "]>: Client host rejected: Access denied\r\n"
                  "554 5.5.1 Error: no valid recipients\r\n",
         C,
         NOQ "RCPT from unknown[" BLC "]: 554 5.7.1 <unknown[" BLC "]>: Client host rejected: "
             "Access denied; from=<a@remote.example> to=<u@local.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"delay_reject: a whitelisted recipient still passes", 2525, BLC,
         IN(H M "RCPT TO:<postmaster@local.example>\r\nDATA\r\n"), GD E MOK ROK NOB, C, ""},
        {"delay_reject: blacklisted HELO refused at RCPT", 2525, RMT,
         IN("EHLO bad.helo.example\r\n" M R),
         GD E MOK "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied\r\n", C,
         NOQ "RCPT from unknown[" RMT "]: 550 5.7.1 <bad.helo.example>: Helo command rejected: "
             "Access denied; from=<a@remote.example> to=<u@local.example> proto=ESMTP "
             "helo=<bad.helo.example>\n"},
        {"delay_reject: a whitelisted sender exempts a blacklisted HELO", 2525, RMT,
         IN("EHLO bad.helo.example\r\nMAIL FROM:<friend@bad.example>\r\n" R), GD E MOK ROK, C, ""},
        {"no delay_reject: the HELO is refused before the sender", 25, RMT,
         IN("EHLO bad.helo.example\r\nMAIL FROM:<friend@bad.example>\r\n"),
         G "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied\r\n"
           "503 5.5.1 Error: send HELO/EHLO first\r\n",
         C,
         NOQ "HELO from unknown[" RMT "]: 550 5.7.1 <bad.helo.example>: Helo command rejected: "
             "Access denied; proto=ESMTP helo=<bad.helo.example>\n"},
        /* ---- several transactions: the sender's facts are recomputed ---- */
        {"second transaction with a blacklisted sender", 25, RMT,
         IN(H M R "RSET\r\nMAIL FROM:<spammer@bad.example>\r\n"),
         G E MOK ROK OK
         "550 5.7.1 <spammer@bad.example>: Sender address rejected: Access denied\r\n",
         C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <spammer@bad.example>: Sender address "
             "rejected: Access denied; from=<spammer@bad.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"a good sender after a refused one", 25, RMT,
         IN(H "MAIL FROM:<spammer@bad.example>\r\n" M R),
         G E "550 5.7.1 <spammer@bad.example>: Sender address rejected: Access denied\r\n" MOK ROK,
         C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <spammer@bad.example>: Sender address "
             "rejected: Access denied; from=<spammer@bad.example> proto=ESMTP "
             "helo=<h.remote.example>\n"},
        {"a blacklisted sender after DATA", 25, RMT,
         IN(H M R "DATA\r\nMAIL FROM:<x@glob.example>\r\n"),
         G E MOK ROK NOB "550 5.7.1 <x@glob.example>: Sender address rejected: Access denied\r\n",
         C,
         NOQ "MAIL from unknown[" RMT "]: 550 5.7.1 <x@glob.example>: Sender address rejected: "
             "Access denied; from=<x@glob.example> proto=ESMTP helo=<h.remote.example>\n"},
        {"a new HELO is decided anew", 25, RMT, IN(H "EHLO bad.helo.example\r\n" H),
         G E "550 5.7.1 <bad.helo.example>: Helo command rejected: Access denied\r\n" E, C,
         NOQ "HELO from unknown[" RMT "]: 550 5.7.1 <bad.helo.example>: Helo command rejected: "
             "Access denied; proto=ESMTP helo=<bad.helo.example>\n"},
        /* ---- recipients ---- */
        {"too many recipients", 26, RMT, IN(H M R R R R "DATA\r\n"),
         G EHLO_REPLY("SIZE 1000") MOK ROK ROK ROK "452 4.5.3 Error: too many recipients\r\n" NOB,
         C, ""},
        {"the recipient limit is per transaction", 26, RMT, IN(H M R R R "RSET\r\n" M R R R),
         G EHLO_REPLY("SIZE 1000") MOK ROK ROK ROK OK MOK ROK ROK ROK, C, ""},
        /* ---- line ends, bytes ---- */
        {"bare LF", 25, RMT, IN("NOOP\n"), G "521 5.5.2 " HOST " Error: bare <LF> received\r\n", X,
         "bare <LF> received after CONNECT from unknown[" RMT "]\n"},
        {"bare LF after pipelined commands stops reading", 25, RMT, IN(H "NOOP\r\nNOOP\nNOOP\r\n"),
         G E OK "521 5.5.2 " HOST " Error: bare <LF> received\r\n", X,
         "bare <LF> received after NOOP from unknown[" RMT "]\n"},
        {"LF CR is a bare LF", 25, RMT, IN("NOOP\n\r"),
         G "521 5.5.2 " HOST " Error: bare <LF> received\r\n", X,
         "bare <LF> received after CONNECT from unknown[" RMT "]\n"},
        {"bare CR inside a command", 25, RMT, IN("NO\rOP\r\nNOOP\r\r\nNOOP\r\n"), G SYNB SYNB OK, C,
         ""},
        {"bare CR then LF later is a bare LF", 25, RMT, IN("NOOP\rx\n"),
         G "521 5.5.2 " HOST " Error: bare <LF> received\r\n", X,
         "bare <LF> received after CONNECT from unknown[" RMT "]\n"},
        {"NUL in a command", 25, RMT, IN("NO\0OP\r\nHELO a\0b\r\n\0\r\nNOOP\r\n"),
         G SYNB SYNB SYNB OK, C, ""},
        {"other controls and DEL", 25, RMT, IN("NOOP\t\r\nNOOP\x7f\r\nNOOP\x1b\r\n"),
         G SYNB SYNB SYNB, C, ""},
        {"8-bit bytes: commands are US-ASCII", 25, RMT,
         IN("NOOP \xc3\xa9t\xc3\xa9\r\n" H "MAIL FROM:<\xe9@remote.example>\r\nNOOP\r\n"),
         G SYNB E SYNB OK, C, ""},
        /* ---- envelope addresses: RFC 5321 4.5.3.1 sizes, 4.1.2 source routes ---- */
        {"a local part of 64 octets, and of 65", 25, RMT,
         IN(H "MAIL FROM:<" L64 "@remote.example>\r\n"
              "RCPT TO:<" L64 "@local.example>\r\n"
              "RCPT TO:<" L64 "x@local.example>\r\nRSET\r\n"
              "MAIL FROM:<" L64 "x@remote.example>\r\n"),
         G E MOK ROK BADR ": local part over 64 octets\r\n" OK BADS
                          ": local part over 64 octets\r\n",
         C, ""},
        {"a path of 256 octets, and of 257", 25, RMT,
         IN(H "MAIL FROM:<a@" D252 ">\r\nRSET\r\nMAIL FROM:<a@" D252 "a>\r\n"),
         G E MOK OK BADS ": path over 256 octets\r\n", C, ""},
        {"a domain of 256 octets", 25, RMT,
         IN(H "MAIL FROM:<a@" D252 "aaaa>\r\n" M "RCPT TO:<u@" D252 "aaaa>\r\n"),
         G E BADS ": domain over 255 octets\r\n" MOK BADR ": domain over 255 octets\r\n", C, ""},
        {"a recipient without a local part, without a domain; a quoted @ is routing", 25, RMT,
         IN(H M "RCPT TO:<@local.example>\r\nRCPT TO:<u@>\r\nRCPT TO:<\"u@\">\r\n" R),
         G E MOK BADR "\r\n" BADR "\r\n554 5.7.1 <\"u@\">: Relay access denied\r\n" ROK, C,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <\"u@\">: Relay access denied; "
             "from=<a@remote.example> to=<\"u@\"> proto=ESMTP helo=<h.remote.example>\n"},
        {"malformed source routes", 25, RMT,
         IN(H M "RCPT TO:<@a.example@b.example:u@local.example>\r\n"
                "RCPT TO:<@:u@local.example>\r\nRCPT TO:<@a.example,:u@local.example>\r\n"
                "RCPT TO:<@a.example,@b.example>\r\nRCPT TO:<@a.example:>\r\n"
                "RCPT TO:<@a.example,b.example:u@local.example>\r\n"
                "RCPT TO:<@[192.0.2.1:u@local.example>\r\n"),
         G E MOK BADR "\r\n" BADR "\r\n" BADR "\r\n" BADR "\r\n" BADR "\r\n" BADR "\r\n" BADR
                      "\r\n",
         C, ""},
        {"a well-formed source route goes to the policy", 25, RMT,
         IN(H "MAIL FROM:<@[192.0.2.1],@b.example:a@remote.example>\r\n"), G E MOK, C, ""},
        {"a null sender, a null recipient", 25, RMT, IN(H "MAIL FROM:<>\r\nRCPT TO:<>\r\n"),
         G E MOK "501 5.5.4 Syntax: RCPT TO:<address>\r\n", C, ""},
        /* ---- errors ---- */
        {"too many errors", 26, RMT, IN("A\r\nB\r\nC\r\nD\r\nE\r\nNOOP\r\n"),
         G UNK UNK UNK UNK UNK "421 4.7.0 " HOST " Error: too many errors\r\n", X,
         "too many errors after UNKNOWN from unknown[" RMT "]\n"},
        {"every 4xx and 5xx counts", 26, RMT,
         IN(H M R R R R "DATA\r\nDATA\r\n" M "RCPT TO:<u@other.example>\r\nX\r\nNOOP\r\n"),
         G EHLO_REPLY("SIZE 1000") MOK ROK ROK ROK
         "452 4.5.3 Error: too many recipients\r\n" NOB "503 5.5.1 Error: need RCPT command\r\n" MOK
         "554 5.7.1 <u@other.example>: Relay access denied\r\n" UNK "421 4.7.0 " HOST
         " Error: too many errors\r\n",
         X,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <u@other.example>: Relay access denied" TAIL
             "too many errors after UNKNOWN from unknown[" RMT "]\n"},
        {"a refused greeting counts", 26, BLC, IN("NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n"),
         "554 5.7.1 <unknown[" BLC "]>: Client host rejected: Access denied\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "503 5.5.1 Error: access denied for unknown[" BLC "]\r\n"
         "421 4.7.0 " HOST " Error: too many errors\r\n",
         X,
         NOQ "CONNECT from unknown[" BLC "]: 554 5.7.1 <unknown[" BLC "]>: Client host rejected: "
             "Access denied; proto=SMTP\n"
             "too many errors after NOOP from unknown[" BLC "]\n"},
        /* ---- pipelining: many commands in one segment ---- */
        {"pipelined envelope", 25, RMT,
         IN("EHLO h.remote.example\r\nMAIL FROM:<a@remote.example> SIZE=100\r\n"
            "RCPT TO:<u@local.example>\r\nRCPT TO:<u@other.example>\r\nRCPT "
            "TO:<v@sub.sub.example>\r\n"
            "DATA\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@local.example>\r\nQUIT\r\n"),
         G E MOK ROK "554 5.7.1 <u@other.example>: Relay access denied\r\n" ROK NOB OK MOK ROK BYE,
         X,
         NOQ "RCPT from unknown[" RMT "]: 554 5.7.1 <u@other.example>: Relay access denied" TAIL},
};

/* rnd - a fixed pseudo-random sequence (test_record_lengths) */
static uint32_t
rnd(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* rnd_name - n bytes of a host name or local part into buf; some end in a
 * blacklisted HELO domain (".dyn.example") or sender domain, so that HELO
 * and MAIL refusals come with every length too */
static void
rnd_name(uint32_t *st, char *buf, size_t n, const char *tail)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789-.";
	size_t tl = strlen(tail);

	for (size_t i = 0; i < n; i++)
		buf[i] = set[rnd(st) % (sizeof(set) - 1)];
	buf[0] = 'h';
	if (tl < n)
		memcpy(buf + n - tl, tail, tl);
	buf[n] = '\0';
}

/* one_lengths - one session (HELO name of hl bytes, sender of sl) refused
 * at HELO, MAIL or RCPT, run with records and with lines (the record
 * carries each string's length; the HELO name lives in the session, or in
 * a chunk when long): the lines must be the same */
static bool
one_lengths(const struct pol_snapshot *snap, uint32_t *st, size_t hl, size_t sl, bool *long_helo)
{
	char helo[600], sender[600], in[2048], log[2][4096], out[2][4096];
	const char *htail = rnd(st) % 4 == 0 ? ".dyn.example" : "";
	/* "ab123456@" and more digits: the senders' regex blacklists it */
	const char *local = rnd(st) % 4 == 0 ? "ab1234567" : "sender";
	size_t ll = strlen(local) + 1, inlen;
	bool same = true;

	rnd_name(st, helo, hl, htail);
	memcpy(sender, local, ll - 1);
	sender[ll - 1] = '@';
	rnd_name(st, sender + ll, sl > ll + 16 ? sl - ll : 16, ".remote.example");
	inlen = (size_t)snprintf(
	        in, sizeof(in),
	        "EHLO %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<u@other.example>\r\nQUIT\r\n", helo, sender);
	for (int r = 0; r < 2; r++) {
		struct h h;

		h_records = r == 1;
		h_init(&h, 4096);
		h_play(&h, snap, RMT, 25, in, inlen, NULL, 0);
		snprintf(log[r], sizeof(log[r]), "%s", h.log.s != NULL ? h.log.s : "");
		snprintf(out[r], sizeof(out[r]), "%.*s", (int)h.out.len, h.out.s);
		same = same && h.ck.live == 0 && h.ck.gets == h.ck.puts;
		h_fini(&h);
	}
	h_records = false;
	/* every session is refused once, and its line names the HELO name */
	same = same && strstr(log[0], NOQ) != NULL && strstr(log[0], helo) != NULL;
	if (strcmp(log[0], log[1]) != 0 || strcmp(out[0], out[1]) != 0)
		same = false;
	if (!same)
		printf("#   HELO %zu, sender %zu bytes\n#   lines:   %s#   records: %s", hl,
		       strlen(sender), log[0], log[1]);
	*long_helo = *long_helo || (hl >= 255 && strstr(log[0], "RCPT from") != NULL);
	return same;
}

/* test_record_lengths - refusals of sessions with HELO names of 1 to 490
 * bytes (in the session, in a chunk, past 255) and senders of 16 to 254,
 * logged as records and as lines: the same lines */
static void
test_record_lengths(const struct pol_snapshot *snap)
{
	static const size_t edge[] = {1, 2, 62, 63, 64, 65, 253, 254, 255, 256, 257, 490};
	uint32_t st = 6;
	unsigned same = 0, n = 0;
	bool long_helo = false;

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
		for (size_t j = 0; j < sizeof(edge) / sizeof(edge[0]); j++) {
			if (edge[j] > 254 - 2) /* the sender's path <...> is at most 256 */
				continue;
			same += one_lengths(snap, &st, edge[i], edge[j] + 16, &long_helo);
			n++;
		}
	for (int k = 0; k < 300; k++, n++)
		same += one_lengths(snap, &st, 1 + rnd(&st) % 490, 16 + rnd(&st) % 238, &long_helo);
	ok(same == n && long_helo,
	   "HELO names of 1 to 490 bytes, senders of 16 to 254: records and lines the same in %u "
	   "of %u sessions (a HELO of 255 or more refused at RCPT: %s)",
	   same, n, long_helo ? "yes" : "no");
}

/* test_records - every case again with its refusals logged as records
 * (the gate's way): the same lines, byte for byte; a record cut short or
 * with a length past its end is reported, not read past */
static void
test_records(const struct pol_snapshot *snap)
{
	struct smtp_reject_rec r = {.stage = POL_RCPT};
	char rec[sizeof(r) + 8], line[256];
	unsigned same = 0, n = sizeof(cases) / sizeof(cases[0]), refusals = 0;
	size_t len;

	h_records = true;
	for (size_t i = 0; i < n; i++) {
		size_t stop = (size_t)-1;

		same += h_run(snap, &cases[i], NULL, 0, &stop, false);
		refusals += strstr(cases[i].log, NOQ) != NULL;
	}
	h_records = false;
	ok(same == n,
	   "refusals logged as records: the same log lines in %u of %u cases (%u with a "
	   "refusal)",
	   same, n, refusals);
	for (unsigned i = 0; i < SMTP_REC_NSTR; i++)
		r.len[i] = SMTP_REC_NONE;
	r.len[SMTP_REC_TEXT] = 9; /* 8 bytes follow */
	memcpy(rec, &r, sizeof(r));
	memcpy(rec + sizeof(r), "554 5.7.", 8);
	len = smtp_reject_format(line, sizeof(line), rec, sizeof(rec));
	ok(len == strlen(line) && strstr(line, "malformed") != NULL,
	   "a string past the record's end: \"%s\"", line);
	len = smtp_reject_format(line, sizeof(line), rec, sizeof(r) - 1);
	ok(len == strlen(line) && strstr(line, "malformed") != NULL, "a record cut short: \"%s\"",
	   line);
}

int
main(void)
{
	struct pol_snapshot *snap = must_load("smtp.conf", h_policy);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		h_check(snap, &cases[i]);
	test_records(snap);
	test_record_lengths(snap);
	pol_snapshot_free(snap);
	return done_testing();
}
