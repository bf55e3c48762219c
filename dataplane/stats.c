/* stats - every counter of the running gate, summed and snapshotted (see stats.h)
 *
 * Who touches what:
 *   lcore_conf[] counters   their lcore: rw; here: ro, one volatile 64-bit load each
 *   pinfo                   any caller, under pinfo_lock: what the last caller
 *                           with an RCU reader saw of the live policy
 *   table                   written once (pthread_once), read-only afterwards
 *   lcore tallies           their lcore: rw; here: slot counts with acquire
 *                           loads, then only published slots (smtp_tally.h)
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "stats.h"

/* Every block copied is a run of uint64_t counters, nothing else. */
_Static_assert(sizeof(struct lc_stats) % sizeof(uint64_t) == 0, "lc_stats: only uint64_t");
_Static_assert(sizeof(struct tcp_stats) % sizeof(uint64_t) == 0, "tcp_stats: only uint64_t");
_Static_assert(sizeof(struct smtp_stats) % sizeof(uint64_t) == 0, "smtp_stats: only uint64_t");
_Static_assert(sizeof(struct relay_stats) % sizeof(uint64_t) == 0, "relay_stats: only uint64_t");
_Static_assert(POL_MAX_BACKENDS <= 32, "backend index fits the down bits");

/* What the last reader saw of the live policy, for callers without one. */
static pthread_mutex_t pinfo_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t version;
	unsigned nbackends;
	char name[POL_MAX_BACKENDS][STATS_BACKEND_NAME];
} pinfo;

static const char *const tcp_state_names[TCP_S_COUNT] = {
        [TCP_S_CLOSED] = "closed",         [TCP_S_SYN_SENT] = "syn_sent",
        [TCP_S_SYN_RCVD] = "syn_rcvd",     [TCP_S_ESTABLISHED] = "established",
        [TCP_S_FIN_WAIT_1] = "fin_wait_1", [TCP_S_FIN_WAIT_2] = "fin_wait_2",
        [TCP_S_CLOSE_WAIT] = "close_wait", [TCP_S_CLOSING] = "closing",
        [TCP_S_LAST_ACK] = "last_ack",     [TCP_S_TIME_WAIT] = "time_wait",
};

static const char *const reply_class_names[6] = {NULL, NULL, "2xx", "3xx", "4xx", "5xx"};

const char *
stats_tcp_state_name(enum tcp_state s)
{
	return (unsigned)s < TCP_S_COUNT ? tcp_state_names[s] : "unknown";
}

const char *
stats_reply_class_name(unsigned cls)
{
	return cls < 6 ? reply_class_names[cls] : NULL;
}

/* ---- the table of what is exported ---- */

#define L(field)                      offsetof(struct stats_lcore, field)
#define CIPHER_VALUE(i, name)         {name, L(sess.tls.cipher[i])},
#define BACKEND_CIPHER_VALUE(i, name) {name, L(relay.tls_cipher[i])},
#define BACKEND_TLS_VALUE(r, name)                                                                 \
	{                                                                                          \
		name, L(relay.tls[r])                                                              \
	}
#define C(nm, field, txt)                                                                          \
	{                                                                                          \
		.name = nm, .help = txt, .v = { {NULL, L(field)} }                                 \
	}
#define G(nm, field, txt)                                                                          \
	{                                                                                          \
		.name = nm, .help = txt, .gauge = true, .v = { {NULL, L(field)} }                  \
	}

/* Filled once by table_init: n of every metric, and the values of the
 * enum-indexed ones (their label values come from the enums' name functions). */
static struct stats_metric table[] = {
        C("packets_received_total", net.rx_pkts, "Packets received from the ports."),
        C("packets_sent_total", net.tx_pkts, "Packets handed to the ports."),
        {.name = "packets_dropped_total",
         .help = "Packets dropped, by reason: tx_full (the port's tx ring), l2 (not for us), "
                 "short, csum (IPv4 header or ICMP), frag, ip, proto, nomem, noroute, "
                 "handoff_full.",
         .label = "reason",
         .v = {{"tx_full", L(net.tx_dropped)},
               {"l2", L(net.drop_l2)},
               {"short", L(net.drop_short)},
               {"csum", L(net.drop_csum)},
               {"frag", L(net.drop_frag)},
               {"ip", L(net.drop_ip)},
               {"proto", L(net.drop_proto)},
               {"nomem", L(net.drop_nomem)},
               {"noroute", L(net.drop_noroute)},
               {"handoff_full", L(net.handoff_drop)}}},
        {.name = "packets_handed_off_total",
         .help = "TCP segments passed to (out) or from (in) the lcore owning their flow.",
         .label = "direction",
         .v = {{"out", L(net.handoff_out)}, {"in", L(net.handoff_in)}}},
        C("arp_packets_received_total", net.arp_in, "ARP packets received."),
        C("arp_replies_sent_total", net.arp_replies, "ARP replies sent."),
        C("arp_requests_sent_total", net.arp_requests, "ARP requests sent."),
        C("icmp_echo_replies_total", net.icmp_echo, "ICMP and ICMPv6 echo requests answered."),
        C("neighbour_notes_dropped_total", net.learn_drop,
          "Neighbour notes that did not fit another lcore's ring."),
        C("tcp_segments_received_total", tcp.seg_in, "TCP segments received."),
        C("tcp_segments_sent_total", tcp.seg_out, "TCP segments sent."),
        C("tcp_predicted_total", tcp.predicted,
          "TCP segments that took the header-prediction fast path (of those received)."),
        C("tcp_payload_received_bytes_total", tcp.bytes_in,
          "TCP payload bytes delivered to applications."),
        C("tcp_payload_sent_bytes_total", tcp.bytes_out,
          "TCP payload bytes sent (first transmissions)."),
        C("tcp_retransmits_total", tcp.retransmits,
          "TCP segments sent again (RTO, fast retransmit, SYN, SYN-ACK)."),
        C("tcp_rto_expirations_total", tcp.rto_fired, "TCP retransmission timeouts."),
        C("tcp_fast_retransmits_total", tcp.fast_retransmits, "TCP fast retransmits."),
        C("tcp_sack_retransmits_total", tcp.sack_retransmits,
          "TCP segments resent into holes reported by the peer's SACK blocks."),
        C("tcp_zero_window_probes_total", tcp.probes, "TCP zero-window probes sent."),
        C("tcp_resets_received_total", tcp.rst_in, "TCP RST segments received."),
        C("tcp_resets_sent_total", tcp.rst_out, "TCP RST segments sent."),
        C("tcp_challenge_acks_total", tcp.challenge_acks, "TCP challenge ACKs sent (RFC 5961)."),
        C("tcp_challenge_acks_limited_total", tcp.challenge_acks_limited,
          "TCP challenge ACKs not sent: rate limit."),
        C("tcp_syn_cookies_sent_total", tcp.cookies_sent, "SYN-ACKs sent with a SYN cookie."),
        C("tcp_syn_cookies_accepted_total", tcp.cookies_ok,
          "Connections opened by a valid SYN cookie."),
        C("tcp_syn_cookies_rejected_total", tcp.cookies_bad, "ACKs with an invalid SYN cookie."),
        C("tcp_full_replies_total", tcp.full_replies,
          "Handshakes completed by a SYN cookie when the flow table was full, answered "
          "statelessly with 421 4.3.2 All server ports are busy."),
        C("tcp_connections_accepted_total", tcp.accepted,
          "TCP connections accepted (passive open)."),
        C("tcp_connections_opened_total", tcp.connected,
          "TCP connections opened to backends (active open)."),
        {.name = "tcp_connections_lost_total",
         .help = "TCP connections that ended abnormally: refused (active open), timeout, aborted "
                 "(by us), reset (by the peer).",
         .label = "cause",
         .v = {{"refused", L(tcp.refused)},
               {"timeout", L(tcp.timeouts)},
               {"aborted", L(tcp.aborts)},
               {"reset", L(tcp.resets)}}},
        C("tcp_time_wait_recycled_total", tcp.tw_recycled,
          "TIME_WAIT flows ended early to make room."),
        C("tcp_emit_failures_total", tcp.emit_failed,
          "TCP segments the network layer could not send."),
        {.name = "tcp_segments_dropped_total",
         .help = "TCP segments dropped, by reason: csum, hdr (data offset), window, ack, noflow, "
                 "noport, full (table full, cookies off), nopool, ooo (out of order, not kept), "
                 "flags, lowpool (data of a session before DATA refused, not acked, while the "
                 "chunk pool ran low).",
         .label = "reason",
         .v = {{"csum", L(tcp.drop_csum)},
               {"hdr", L(tcp.drop_hdr)},
               {"window", L(tcp.drop_window)},
               {"ack", L(tcp.drop_ack)},
               {"noflow", L(tcp.drop_noflow)},
               {"noport", L(tcp.drop_noport)},
               {"full", L(tcp.drop_full)},
               {"nopool", L(tcp.drop_nopool)},
               {"ooo", L(tcp.drop_ooo)},
               {"flags", L(tcp.drop_flags)},
               {"lowpool", L(tcp.drop_lowpool)}}},
        G("tcp_flows_active", tcp.flows_active, "TCP flows in use, TIME_WAIT included."),
        G("tcp_flows_half_open", tcp.half_open, "TCP flows in SYN_RCVD."),
        G("tcp_flows_time_wait", tcp.flows_tw, "TCP flows in TIME_WAIT."),
        {.name = "tcp_flows", .help = "TCP flows by state.", .gauge = true, .label = "state"},
        G("tcp_chunks_used", tcp.chunks_used, "TCP buffer chunks in use."),
        G("smtp_chunks_used", sess.chunks_used,
          "SMTP engine chunks in use (partial lines, long HELO names, senders)."),
        G("tcp_chunks_used_max", tcp.chunks_hwm,
          "The most TCP buffer chunks in use at once since start (per lcore: its high-water "
          "mark)."),
        C("smtp_sessions_opened_total", smtp.sessions_opened, "SMTP sessions opened."),
        C("smtp_sessions_closed_total", smtp.sessions_closed, "SMTP sessions closed."),
        C("smtp_commands_total", smtp.commands, "SMTP command lines received."),
        {.name = "smtp_replies_total", .help = "SMTP replies sent, by class.", .label = "class"},
        {.name = "smtp_verdicts_total", .help = "Policy decisions, by reason.", .label = "reason"},
        {.name = "smtp_errors_total",
         .help = "SMTP protocol errors answered, by kind.",
         .label = "kind"},
        C("smtp_connections_refused_total", sess.refused,
          "Connections refused: no session state or send space."),
        C("smtp_output_lost_total", sess.lost_output,
          "SMTP engine output the flow did not take (must stay 0)."),
        C("smtp_timers_fired_total", sess.deadlines,
          "SMTP session timers fired (command and session timeouts)."),
        C("smtp_drain_refusals_total", sess.drained,
          "Connections refused with 421 while draining."),
        {.name = "smtp_client_limit_refusals_total",
         .help = "Connections refused with 421 4.7.0: the client (an IPv4 address or an IPv6 "
                 "/64) was over its limit, by limit: concurrency, rate.",
         .label = "limit",
         .v = {{"concurrency", L(sess.limit_conn)}, {"rate", L(sess.limit_rate)}}},
        C("smtp_client_limit_exempt_total", sess.limit_exempt,
          "Connections to a service with client limits from lan or whitelisted clients."),
        C("smtp_client_limit_table_full_total", sess.limit_full,
          "Connections let in uncounted: the shared client table had no slot (fail open)."),
        C("tls_starttls_total", sess.tls.started, "STARTTLS commands answered 220."),
        {.name = "tls_handshakes_total",
         .help = "TLS handshakes completed after STARTTLS, by protocol.",
         .label = "protocol",
         .v = {{"tls1_2", L(sess.tls.v1_2)}, {"tls1_3", L(sess.tls.v1_3)}}},
        {.name = "tls_ciphers_total",
         .help = "TLS handshakes completed after STARTTLS, by the cipher agreed (OpenSSL's "
                 "names; other: any cipher not listed).",
         .label = "cipher",
         .v = {SESS_TLS_CIPHER_NAMES(CIPHER_VALUE)}},
        C("tls_handshake_failures_total", sess.tls.failed,
          "TLS handshakes that failed or timed out; the session ended."),
        C("tls_unavailable_total", sess.tls.no_slot,
          "STARTTLS answered 454: the lcore's TLS sessions are all in use."),
        G("tls_sessions_active", sess.tls.live, "TLS sessions now (bounded per lcore)."),
        C("smtp_auth_success_total", smtp.auth_ok, "AUTH exchanges answered 235."),
        C("auth_checks_total", auth.asked, "Credentials queued for the auth service."),
        C("auth_busy_total", auth.busy,
          "AUTH answered 454 at once: no check slot or no room in the request ring."),
        C("auth_cancelled_total", auth.cancelled,
          "Sessions that ended while their credentials were being checked."),
        C("auth_expired_total", auth.expired,
          "Checks the auth thread never answered, given 454 by the lcore (must stay 0)."),
        C("relay_connects_total", relay.connects, "Connections opened to backends."),
        C("relay_connect_failures_total", relay.connect_failed,
          "Backend connections refused, timed out or unroutable."),
        C("relay_handoffs_total", relay.handoffs,
          "Client identities handed to backends (XCLIENT or PROXY)."),
        {.name = "relay_recipients_total",
         .help = "Recipients relayed, by the backend's answer.",
         .label = "outcome",
         .v = {{"accepted", L(relay.rcpt_ok)}, {"refused", L(relay.rcpt_refused)}}},
        {.name = "relay_messages_total",
         .help = "Messages relayed, by the backend's reply to their end.",
         .label = "outcome",
         .v = {{"accepted", L(relay.messages_ok)}, {"refused", L(relay.messages_refused)}}},
        C("relay_failures_total", relay.failures,
          "Backend failures with a client waiting (4xx to the client)."),
        C("relay_smuggling_total", relay.smuggling, "Messages refused for a bare CR or LF."),
        C("relay_body_bytes_total", relay.body_bytes, "Message bytes passed to backends."),
        C("relay_no_memory_total", relay.no_memory,
          "Relays refused for want of relay state (451)."),
        G("relay_active", relay_live, "Sessions with a backend connection now."),
        {.name = "backend_tls_total",
         .help = "Backend connections by how their TLS ended (backend tls = may, encrypt, "
                 "verify): ok, plaintext (may), not_offered, refused, unavailable, handshake, "
                 "certificate; every failure a 4xx to the client.",
         .label = "result",
         .v = {BACKEND_TLS_VALUE(RELAY_TLS_R_OK, "ok"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_PLAINTEXT, "plaintext"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_NOT_OFFERED, "not_offered"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_REFUSED, "refused"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_UNAVAILABLE, "unavailable"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_HANDSHAKE, "handshake"),
               BACKEND_TLS_VALUE(RELAY_TLS_R_CERTIFICATE, "certificate")}},
        {.name = "backend_tls_handshakes_total",
         .help = "TLS handshakes completed with backends, by protocol.",
         .label = "protocol",
         .v = {{"tls1_2", L(relay.tls_v1_2)}, {"tls1_3", L(relay.tls_v1_3)}}},
        {.name = "backend_tls_ciphers_total",
         .help = "TLS handshakes completed with backends, by the cipher agreed (OpenSSL's "
                 "names; other: any cipher not listed).",
         .label = "cipher",
         .v = {SESS_TLS_CIPHER_NAMES(BACKEND_CIPHER_VALUE)}},
        C("log_lines_dropped_total", log_dropped, "Log lines lost: the lcore's log ring was full."),
        {.name = "policy_cache_lookups_total",
         .help = "Lookups of the lcore's cache of policy input facts (HELO names, senders, "
                 "recipients), by result; a miss includes an input that passed the cache by.",
         .label = "result",
         .v = {{"hit", L(fcache.hits)}, {"miss", L(fcache.misses)}}},
        C("policy_cache_bypassed_total", fcache.bypassed,
          "Policy inputs that passed the fact cache by while it sampled (inputs rarely repeat)."),
        G("policy_cache_sampling", fcache.sampling,
          "1 while the lcore's fact cache samples (its hit rate was low), else 0; summed: the "
          "lcores that sample."),
};

static const char *
reason_label(unsigned i)
{
	return pol_reason_name((enum pol_reason)i);
}

static const char *
err_label(unsigned i)
{
	return smtp_err_name((enum smtp_err)i);
}

static const char *
state_label(unsigned i)
{
	return stats_tcp_state_name((enum tcp_state)i);
}

/* The enum-indexed counters: label values from the enums' names. */
static const struct {
	const char *name;
	size_t off;
	unsigned first, count;
	const char *(*label)(unsigned i);
} arrays[] = {
        {"tcp_flows", L(tcp.state_n), 0, TCP_S_COUNT, state_label},
        {"smtp_replies_total", L(smtp.replies), 2, 4, stats_reply_class_name},
        {"smtp_verdicts_total", L(smtp.verdicts), 0, POL_R_COUNT, reason_label},
        {"smtp_errors_total", L(smtp.errors), 0, SMTP_E_COUNT, err_label},
};

_Static_assert(TCP_S_COUNT <= STATS_MAX_VALUES && POL_R_COUNT <= STATS_MAX_VALUES &&
                       SMTP_E_COUNT <= STATS_MAX_VALUES,
               "an enum-indexed counter has more values than STATS_MAX_VALUES");

static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* table_init - count each metric's values, fill the enum-indexed ones */
static void
table_init(void)
{
	for (size_t m = 0; m < sizeof(table) / sizeof(table[0]); m++) {
		struct stats_metric *t = &table[m];

		for (size_t a = 0; a < sizeof(arrays) / sizeof(arrays[0]); a++) {
			if (strcmp(arrays[a].name, t->name) != 0)
				continue;
			for (unsigned k = 0; k < arrays[a].count; k++)
				t->v[k] = (struct stats_value){
				        arrays[a].label(arrays[a].first + k),
				        arrays[a].off + (arrays[a].first + k) * sizeof(uint64_t)};
		}
		while (t->n < STATS_MAX_VALUES && (t->n == 0 || t->v[t->n].label != NULL))
			t->n++;
	}
}

const struct stats_metric *
stats_metrics(size_t *n)
{
	pthread_once(&table_once, table_init);
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

uint64_t
stats_get(const struct stats_lcore *s, const struct stats_value *v)
{
	uint64_t x;

	memcpy(&x, (const char *)s + v->off, sizeof(x));
	return x;
}

/* ---- collecting ---- */

/* read_u64s - copy n counters that another thread writes, one whole load each */
static void
read_u64s(void *dst, const void *src, size_t bytes)
{
	const volatile uint64_t *s = src;
	uint64_t *d = dst;

	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		d[i] = s[i];
}

/* add_u64s - dst += src, counter by counter */
static void
add_u64s(void *dst, const void *src, size_t bytes)
{
	const uint64_t *s = src;
	uint64_t *d = dst;

	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		d[i] += s[i];
}

/* read_u64 - one counter that another thread writes */
static uint64_t
read_u64(const uint64_t *p)
{
	return *(const volatile uint64_t *)p;
}

/* lcore_read - one worker's counters; *down: bit i set when it skips backend i */
static void
lcore_read(const struct lcore_conf *lc, struct stats_lcore *o, uint32_t *down)
{
	uint64_t now = read_u64(&lc->now);

	memset(o, 0, sizeof(*o));
	o->lcore_id = lc->lcore_id;
	read_u64s(&o->net, &lc->stats, sizeof(o->net));
	if (lc->tcp != NULL)
		read_u64s(&o->tcp, tcp_lcore_stats(lc->tcp), sizeof(o->tcp));
	read_u64s(&o->smtp, &lc->sess.stats, sizeof(o->smtp));
	o->sess.refused = read_u64(&lc->sess.refused);
	o->sess.lost_output = read_u64(&lc->sess.lost_output);
	o->sess.deadlines = read_u64(&lc->sess.deadlines);
	o->sess.drained = read_u64(&lc->sess.drained);
	o->sess.limit_conn = read_u64(&lc->sess.limit_conn);
	o->sess.limit_rate = read_u64(&lc->sess.limit_rate);
	o->sess.limit_exempt = read_u64(&lc->sess.limit_exempt);
	o->sess.limit_full = read_u64(&lc->sess.limit_full);
	o->sess.chunks_used =
	        lc->sess.chunks.n - *(const volatile uint32_t *)&lc->sess.chunks.nfree;
	read_u64s(&o->sess.tls, &lc->sess.tls, sizeof(o->sess.tls));
	read_u64s(&o->relay, &lc->relay.stats, sizeof(o->relay));
	read_u64s(&o->auth, &lc->auth.stats, sizeof(o->auth));
	o->relay_live = read_u64(&lc->relay.live);
	o->log_dropped = read_u64(&lc->log.dropped);
	read_u64s(&o->fcache, &lc->fcache, sizeof(o->fcache));
	*down = 0;
	for (unsigned i = 0; i < POL_MAX_BACKENDS; i++)
		if (read_u64(&lc->relay.down_until[i]) > now)
			*down |= 1u << i;
}

/* lcore_add - the totals take one lcore's counters */
static void
lcore_add(struct stats_lcore *t, const struct stats_lcore *o)
{
	add_u64s(&t->net, &o->net, sizeof(t->net));
	add_u64s(&t->tcp, &o->tcp, sizeof(t->tcp));
	add_u64s(&t->smtp, &o->smtp, sizeof(t->smtp));
	add_u64s(&t->sess, &o->sess, sizeof(t->sess));
	add_u64s(&t->relay, &o->relay, sizeof(t->relay));
	add_u64s(&t->auth, &o->auth, sizeof(t->auth));
	t->relay_live += o->relay_live;
	t->log_dropped += o->log_dropped;
	add_u64s(&t->fcache, &o->fcache, sizeof(t->fcache));
}

/* backend_name - "192.0.2.1:25" or "[2001:db8::1]:25" */
static void
backend_name(const struct cidr *a, uint16_t port, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, size, a->family == 4 ? "%s:%u" : "[%s]:%u", ip, port);
}

/* pinfo_refresh - read the live policy's version and backends through r */
static void
pinfo_refresh(struct pol_reader *r)
{
	const struct pol_snapshot *s;
	struct pol_stats ps;

	pol_reader_online(r);
	s = pol_live(r);
	pthread_mutex_lock(&pinfo_lock);
	if (s != NULL) {
		const struct pol_backend *b = &pol_snapshot_model(s)->backend;

		pol_snapshot_stats(s, &ps);
		pinfo.version = ps.version;
		pinfo.nbackends = b->configured ? b->naddr : 0;
		for (unsigned i = 0; i < pinfo.nbackends; i++)
			backend_name(&b->addr[i], b->port[i], pinfo.name[i], sizeof(pinfo.name[i]));
	} else {
		pinfo.version = 0;
		pinfo.nbackends = 0;
	}
	pthread_mutex_unlock(&pinfo_lock);
	pol_quiescent(r);
	pol_reader_offline(r);
}

/* ---- services and rules (smtp_tally.h) ---- */

/* service_find - the summed slot of a name, made when new; NULL when full */
static struct stats_service *
service_find(struct gate_stats *out, const char *name)
{
	for (unsigned i = 0; i < out->nservices; i++)
		if (strcmp(out->service[i].name, name) == 0)
			return &out->service[i];
	if (out->nservices == STATS_MAX_SERVICES)
		return NULL;
	struct stats_service *s = &out->service[out->nservices++];

	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, sizeof(s->name));
	s->name[sizeof(s->name) - 1] = '\0';
	return s;
}

/* services_add - one lcore's service counters into the sums, by name */
static void
services_add(struct gate_stats *out, const struct smtp_tally *t)
{
	uint32_t n = __atomic_load_n(&t->nsvc, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n && i < SMTP_TALLY_SERVICES; i++) {
		struct stats_service *s = service_find(out, t->svc[i].name);

		if (s == NULL)
			continue;
		s->sessions += read_u64(&t->svc[i].sessions);
		for (unsigned r = 0; r < POL_R_COUNT; r++)
			s->verdicts[r] += read_u64(&t->svc[i].verdicts[r]);
	}
}

static int
service_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stats_service *)a)->name,
	              ((const struct stats_service *)b)->name);
}

/* rule_cmp_id - by identity (list, hash), to merge */
static int
rule_cmp_id(const void *a, const void *b)
{
	const struct stats_rule *x = a, *y = b;

	if (x->list != y->list)
		return x->list < y->list ? -1 : 1;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* rule_cmp_show - by list, then entry text: the order shown */
static int
rule_cmp_show(const void *a, const void *b)
{
	const struct stats_rule *x = a, *y = b;
	int c;

	if (x->list != y->list)
		return x->list < y->list ? -1 : 1;
	c = strcmp(x->entry, y->entry);
	return c != 0 ? c : rule_cmp_id(a, b);
}

int
stats_rules_collect(struct stats_rules *out)
{
	size_t cap = 0, n = 0, k = 0;

	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < gate_workers.n; i++)
		cap += SMTP_TALLY_RULES;
	out->rule = calloc(cap > 0 ? cap : 1, sizeof(*out->rule));
	if (out->rule == NULL)
		return -1;
	for (unsigned i = 0; i < gate_workers.n; i++) {
		const struct smtp_tally *t = &gate_workers.lc[i]->sess.tally;
		uint32_t nr = __atomic_load_n(&t->nrules, __ATOMIC_ACQUIRE);

		for (uint32_t j = 0; j < nr && j < SMTP_TALLY_RULES; j++) {
			const struct smtp_rule_tally *rt = &t->rule[j];
			struct stats_rule *r = &out->rule[n++];

			r->hash = rt->hash;
			r->list = (enum pol_list)rt->list;
			r->line = rt->line;
			r->hits = read_u64(&rt->hits);
			memcpy(r->entry, rt->entry, sizeof(r->entry));
			memcpy(r->file, rt->file, sizeof(r->file));
		}
		for (unsigned l = 0; l < POL_L_COUNT; l++)
			out->untracked[l] += read_u64(&t->untracked[l]);
	}
	/* the same rule on several lcores: one entry with their sum */
	qsort(out->rule, n, sizeof(*out->rule), rule_cmp_id);
	for (size_t j = 0; j < n; j++) {
		if (k > 0 && rule_cmp_id(&out->rule[k - 1], &out->rule[j]) == 0)
			out->rule[k - 1].hits += out->rule[j].hits;
		else
			out->rule[k++] = out->rule[j];
	}
	qsort(out->rule, k, sizeof(*out->rule), rule_cmp_show);
	out->n = k;
	return 0;
}

void
stats_rules_free(struct stats_rules *r)
{
	free(r->rule);
	r->rule = NULL;
	r->n = 0;
}

void
stats_collect(struct gate_stats *out, struct pol_reader *r)
{
	uint32_t down[GCONF_MAX_LCORES];

	out->nlcores = gate_workers.n;
	memset(&out->total, 0, sizeof(out->total));
	out->total.lcore_id = UINT32_MAX;
	for (unsigned i = 0; i < out->nlcores; i++) {
		lcore_read(gate_workers.lc[i], &out->lcore[i], &down[i]);
		lcore_add(&out->total, &out->lcore[i]);
	}
	out->nservices = 0;
	for (unsigned i = 0; i < out->nlcores; i++)
		services_add(out, &gate_workers.lc[i]->sess.tally);
	qsort(out->service, out->nservices, sizeof(out->service[0]), service_cmp);
	out->draining = gate_draining;
	if (r != NULL)
		pinfo_refresh(r);
	pthread_mutex_lock(&pinfo_lock);
	out->policy_version = pinfo.version;
	out->nbackends = pinfo.nbackends;
	for (unsigned b = 0; b < out->nbackends; b++) {
		struct stats_backend *sb = &out->backend[b];

		memcpy(sb->name, pinfo.name[b], sizeof(sb->name));
		sb->lcores_down = 0;
		for (unsigned i = 0; i < out->nlcores; i++)
			sb->lcores_down += (down[i] >> b) & 1;
		sb->up = sb->lcores_down == 0;
	}
	pthread_mutex_unlock(&pinfo_lock);
}
