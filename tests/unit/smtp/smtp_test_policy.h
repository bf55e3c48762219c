/* smtp_test_policy - the policy of the SMTP engine's tests, in one place
 *
 * The lists of tests/unit/policy/test_eval.c and a service per behaviour.
 * tests/unit/smtp (harness.h: h_policy) and tests/fuzz/fuzz_smtp.c (which
 * adds services of its own after it) both use it, so that the fuzzer meets
 * every service the unit tests have.
 */
#ifndef SMTP_TEST_POLICY_H
#define SMTP_TEST_POLICY_H

/* clang-format off */
#define SMTP_TEST_POLICY \
	"hostname = \"mx.test.example\";\n" \
	"local_domains = [ \"local.example\", \".sub.example\" ];\n" \
	"local_hosts = [ \"gw.local.example\" ];\n" \
	"local_addresses = [ \"192.0.2.1\", \"2001:db8::1\" ];\n" \
	"lan = [ \"10.0.0.0/8\", \"2001:db8:1::/48\" ];\n" \
	"relay { allow_clients = [ \"172.16.0.0/12\" ]; }\n" \
	"blacklist {\n" \
	"  clients = [ \"198.51.100.0/24\", \"2001:db8:bad::/48\" ];\n" \
	"  helo = [ \"bad.helo.example\", \"*.dyn.example\" ];\n" \
	"  senders = [ \"spammer@bad.example\", \"*@glob.example\", \"/^[a-z]{2}[0-9]{6,}@/\" ];\n" \
	"  recipients = [ \"trap@local.example\" ];\n" \
	"}\n" \
	"whitelist {\n" \
	"  clients = [ \"198.51.100.7\" ];\n" \
	"  helo = [ \"good.helo.example\" ];\n" \
	"  senders = [ \"friend@bad.example\" ];\n" \
	"  recipients = [ \"postmaster@local.example\" ];\n" \
	"}\n" \
	"service mx { ports = [25]; reject_remote_local_helo = true;\n" \
	"  reject_nonlocal_senders_claiming_local = true; }\n" \
	"service mxdelay { ports = [2525]; reject_remote_local_helo = true;\n" \
	"  reject_nonlocal_senders_claiming_local = true; delay_reject = true;\n" \
	"  banner = \"$hostname ESMTP delayed\"; }\n" \
	"service sub { ports = [587]; require_auth = true; }\n" \
	"service small { ports = [26]; max_recipients = 3; message_size_limit = 1000;\n" \
	"  max_errors = 5; command_timeout = 10s; session_timeout = 60s; }\n" \
	"service nolimit { ports = [27]; message_size_limit = 0; }\n" \
	"service pg { ports = [28]; greet_wait = 2s; }\n" \
	"service clear { ports = [29]; require_auth = true; auth_in_clear = true; }\n" \
	"service clearopen { ports = [30]; auth_in_clear = true; }\n"
/* clang-format on */

#endif
