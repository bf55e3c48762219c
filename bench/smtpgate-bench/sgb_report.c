/* sgb_report - what the generator tells: a progress line, then the report
 *
 * Session times go into a log-linear histogram (16 buckets per power of
 * two: about 6% resolution, fixed memory, no allocation while running);
 * percentiles are read from it at the end. The report is text for people
 * or JSON (--json) for scripts, with the same figures.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sgb.h"

/* bucket - the histogram bucket of a value */
static unsigned
bucket(uint64_t v)
{
	unsigned msb, b;

	if (v < SGB_HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	b = (msb - 3) * SGB_HIST_SUB + (unsigned)((v >> (msb - 4)) & (SGB_HIST_SUB - 1));
	return b < SGB_HIST_N ? b : SGB_HIST_N - 1;
}

/* bucket_mid - the middle of a bucket's range */
static double
bucket_mid(unsigned b)
{
	if (b < SGB_HIST_SUB)
		return b;
	unsigned msb = b / SGB_HIST_SUB + 3, sub = b % SGB_HIST_SUB;
	double lo = (double)((uint64_t)(SGB_HIST_SUB + sub) << (msb - 4));

	return lo + (double)(1ull << (msb - 4)) / 2;
}

void
sgb_hist_add(struct sgb_stats *st, uint64_t us)
{
	st->hist[bucket(us)]++;
	st->lat_sum_us += us;
	if (us > st->lat_max_us)
		st->lat_max_us = us;
}

double
sgb_hist_pct(const struct sgb_stats *st, double p)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned i = 0; i < SGB_HIST_N; i++)
		total += st->hist[i];
	if (total == 0)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)total + 0.5);
	if (want == 0)
		want = 1;
	for (unsigned i = 0; i < SGB_HIST_N; i++) {
		seen += st->hist[i];
		if (seen >= want)
			return bucket_mid(i);
	}
	return (double)st->lat_max_us;
}

/* busy - per cent of the loop's time spent on work */
static double
busy(const struct sgb_stats *now, const struct sgb_stats *prev)
{
	uint64_t loop = now->loop_cycles - (prev != NULL ? prev->loop_cycles : 0);
	uint64_t b = now->busy_cycles - (prev != NULL ? prev->busy_cycles : 0);

	return loop == 0 ? 0 : 100.0 * (double)b / (double)loop;
}

void
sgb_progress(const struct sgb *g, double t, const struct sgb_stats *prev, double dt)
{
	const struct sgb_stats *s = &g->st;
	uint64_t bad = 0;

	for (unsigned e = SGB_E_TIMEOUT; e < SGB_E_COUNT; e++)
		bad += s->ends[e];
	char flood[96] = "";

	if (g->c.flood)
		snprintf(flood, sizeof(flood), "  flood %8.0f SYN/s %8.0f SYN-ACK/s",
		         (double)(s->flood_syn - prev->flood_syn) / dt,
		         (double)(s->flood_synack - prev->flood_synack) / dt);
	fprintf(stderr,
	        "smtpgate-bench: %5.1f s  %9.0f sessions/s  %9.0f rejected/s  active %6u  "
	        "done %9lu  rejected %9lu  failed %lu  busy %3.0f%%%s\n",
	        t, (double)(s->ends[SGB_E_DONE] - prev->ends[SGB_E_DONE]) / dt,
	        (double)(s->rejected - prev->rejected) / dt, g->active, s->ends[SGB_E_DONE],
	        s->rejected, bad, busy(s, prev), flood);
}

/* kinds_text - the mix as "rcpt=7,connect=1" */
static void
kinds_text(const struct sgb_conf *c, char *buf, size_t cap)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned k = 0; k < SGB_K_COUNT && n < cap; k++)
		if (c->weight[k] > 0)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s=%u", n ? "," : "",
			                      sgb_kind_name[k], c->weight[k]);
}

/* flood_seconds - how long the flood ran during the load */
static double
flood_seconds(const struct sgb *g, double load_s)
{
	return g->flood.seconds > 0 ? g->flood.seconds : load_s;
}

/* report_text - the report for people */
static void
report_text(const struct sgb *g, const struct sgb_stats *w, double load_s, double total_s,
            const char *mix)
{
	const struct sgb_stats *s = &g->st;

	printf("smtpgate-bench: %.1f s of load (%.1f s in all), concurrency %u, rate %s, mix %s\n",
	       load_s, total_s, g->c.concurrency, g->c.rate ? "limited" : "unlimited", mix);
	if (g->c.rate)
		printf("  rate limit         %lu sessions/s\n", g->c.rate);
	printf("  sessions           started %lu, done %lu, ended otherwise %lu\n", s->started,
	       s->ends[SGB_E_DONE], s->ended - s->ends[SGB_E_DONE]);
	printf("  sessions/s         %.0f   (done during the load)\n",
	       (double)w->ends[SGB_E_DONE] / load_s);
	printf("  rejected/s         %.0f   (%lu sessions ended by a 5xx in all)\n",
	       (double)w->rejected / load_s, s->rejected);
	printf("  accepted/s         %.0f   (%lu messages in all, %u-byte bodies)\n",
	       (double)w->accepted / load_s, s->accepted, g->c.body);
	printf("  tempfail           %lu   (ended by a 4xx)\n", s->tempfail);
	printf("  session time       p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  "
	       "mean %.3f ms\n",
	       sgb_hist_pct(s, 50) / 1000, sgb_hist_pct(s, 90) / 1000, sgb_hist_pct(s, 99) / 1000,
	       (double)s->lat_max_us / 1000,
	       s->ends[SGB_E_DONE] ? (double)s->lat_sum_us / (double)s->ends[SGB_E_DONE] / 1000
	                           : 0.0);
	printf("  by kind            ");
	for (unsigned k = 0; k < SGB_K_COUNT; k++)
		if (s->by_kind[k] > 0)
			printf("%s %lu/%lu as expected  ", sgb_kind_name[k], s->expected[k],
			       s->by_kind[k]);
	printf("\n  ends               ");
	for (unsigned e = 0; e < SGB_E_COUNT; e++)
		printf("%s %lu  ", sgb_end_name[e], s->ends[e]);
	printf("\n  replies            stage      2xx        3xx        4xx        5xx\n");
	for (unsigned st = 0; st < SGB_S_COUNT; st++)
		printf("                     %-7s %10lu %10lu %10lu %10lu\n", sgb_stage_name[st],
		       s->replies[st][2], s->replies[st][3], s->replies[st][4], s->replies[st][5]);
	printf("  net                rx %lu tx %lu tx_dropped %lu tx_retry %lu arp_in %lu "
	       "arp_replies %lu drops: l2 %lu ip %lu csum %lu proto %lu nomem %lu nomac %lu\n",
	       s->rx_pkts, s->tx_pkts, s->tx_dropped, s->tx_retry, s->arp_in, s->arp_replies,
	       s->drop_l2, s->drop_ip, s->drop_csum, s->drop_proto, s->drop_nomem, s->drop_nomac);
	const struct tcp_stats *t = tcp_lcore_stats(g->tcp);

	printf("  tcp                connected %lu retransmits %lu rst_in %lu rst_out %lu "
	       "drop_window %lu drop_noflow %lu emit_failed %lu\n",
	       t->connected, t->retransmits, t->rst_in, t->rst_out, t->drop_window, t->drop_noflow,
	       t->emit_failed);
	if (g->c.sink_port)
		printf("  sink               sessions %lu commands %lu messages %lu bytes %lu\n",
		       s->sink_sessions, s->sink_commands, s->sink_messages, s->sink_bytes);
	if (g->c.flood)
		printf("  flood              %.0f SYN/s (%lu SYNs, rate %s), %.0f SYN-ACK/s back "
		       "(%lu), rst_in %lu other_in %lu rst_out %lu tx_full (bursts) %lu nomem "
		       "%lu\n",
		       (double)w->flood_syn / flood_seconds(g, load_s), s->flood_syn,
		       g->c.flood_rate ? "limited" : "unlimited",
		       (double)w->flood_synack / flood_seconds(g, load_s), s->flood_synack,
		       s->flood_rst_in, s->flood_other_in, s->flood_rst_out, s->flood_tx_full,
		       s->flood_nomem);
	printf("  generator busy     %.0f%% of its loop\n", busy(s, NULL));
}

/* stats_minus - a - b for what a phase reports: sessions, ends, replies'
 * outcomes and session times (b NULL: a itself) */
static void
stats_minus(struct sgb_stats *d, const struct sgb_stats *a, const struct sgb_stats *b)
{
	*d = *a;
	if (b == NULL)
		return;
	d->started -= b->started;
	d->rejected -= b->rejected;
	d->accepted -= b->accepted;
	d->tempfail -= b->tempfail;
	for (unsigned e = 0; e < SGB_E_COUNT; e++)
		d->ends[e] -= b->ends[e];
	for (unsigned i = 0; i < SGB_HIST_N; i++)
		d->hist[i] -= b->hist[i];
}

/* phase_json - the sessions that ended in one phase of the load: after
 * the counters b (NULL: from the start) up to a, over secs seconds */
static void
phase_json(const char *name, const struct sgb_stats *a, const struct sgb_stats *b, double secs)
{
	struct sgb_stats *d = malloc(sizeof(*d));
	uint64_t failed = 0;

	if (d == NULL)
		return;
	stats_minus(d, a, b);
	for (unsigned e = SGB_E_TIMEOUT; e < SGB_E_COUNT; e++)
		failed += d->ends[e];
	printf("\"%s\": {\"seconds\": %.3f, \"started\": %lu, \"done\": %lu, \"failed\": %lu, "
	       "\"rejected\": %lu, \"accepted\": %lu, \"sessions_per_s\": %.1f, "
	       "\"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f}}",
	       name, secs, d->started, d->ends[SGB_E_DONE], failed, d->rejected, d->accepted,
	       secs > 0 ? (double)d->ends[SGB_E_DONE] / secs : 0.0, sgb_hist_pct(d, 50) / 1000,
	       sgb_hist_pct(d, 90) / 1000, sgb_hist_pct(d, 99) / 1000);
	free(d);
}

/* report_json - the same figures for scripts, one JSON object */
static void
report_json(const struct sgb *g, const struct sgb_stats *w, double load_s, double total_s,
            const char *mix)
{
	const struct sgb_stats *s = &g->st;
	const struct tcp_stats *t = tcp_lcore_stats(g->tcp);

	printf("{\"load_seconds\": %.3f, \"total_seconds\": %.3f, \"concurrency\": %u, "
	       "\"rate_limit\": %lu, \"mix\": \"%s\", \"body_bytes\": %u,\n",
	       load_s, total_s, g->c.concurrency, g->c.rate, mix, g->c.body);
	printf(" \"started\": %lu, \"done\": %lu, \"rejected\": %lu, \"accepted\": %lu, "
	       "\"tempfail\": %lu,\n",
	       s->started, s->ends[SGB_E_DONE], s->rejected, s->accepted, s->tempfail);
	printf(" \"sessions_per_s\": %.1f, \"rejected_per_s\": %.1f, \"accepted_per_s\": %.1f,\n",
	       (double)w->ends[SGB_E_DONE] / load_s, (double)w->rejected / load_s,
	       (double)w->accepted / load_s);
	printf(" \"latency_ms\": {\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, \"max\": %.3f},\n",
	       sgb_hist_pct(s, 50) / 1000, sgb_hist_pct(s, 90) / 1000, sgb_hist_pct(s, 99) / 1000,
	       (double)s->lat_max_us / 1000);
	printf(" \"kinds\": {");
	for (unsigned k = 0; k < SGB_K_COUNT; k++)
		printf("%s\"%s\": {\"started\": %lu, \"expected\": %lu}", k ? ", " : "",
		       sgb_kind_name[k], s->by_kind[k], s->expected[k]);
	printf("},\n \"ends\": {");
	for (unsigned e = 0; e < SGB_E_COUNT; e++)
		printf("%s\"%s\": %lu", e ? ", " : "", sgb_end_name[e], s->ends[e]);
	printf("},\n \"replies\": {");
	for (unsigned st = 0; st < SGB_S_COUNT; st++)
		printf("%s\"%s\": {\"2xx\": %lu, \"3xx\": %lu, \"4xx\": %lu, \"5xx\": %lu}",
		       st ? ", " : "", sgb_stage_name[st], s->replies[st][2], s->replies[st][3],
		       s->replies[st][4], s->replies[st][5]);
	printf("},\n \"net\": {\"rx\": %lu, \"tx\": %lu, \"tx_dropped\": %lu, \"tx_retry\": %lu, "
	       "\"arp_in\": %lu, \"drop_l2\": %lu, \"drop_ip\": %lu, \"drop_csum\": %lu, "
	       "\"drop_nomem\": %lu, \"drop_nomac\": %lu},\n",
	       s->rx_pkts, s->tx_pkts, s->tx_dropped, s->tx_retry, s->arp_in, s->drop_l2,
	       s->drop_ip, s->drop_csum, s->drop_nomem, s->drop_nomac);
	printf(" \"tcp\": {\"connected\": %lu, \"retransmits\": %lu, \"rst_in\": %lu, "
	       "\"rst_out\": %lu, \"drop_window\": %lu, \"drop_noflow\": %lu, \"emit_failed\": "
	       "%lu},\n",
	       t->connected, t->retransmits, t->rst_in, t->rst_out, t->drop_window, t->drop_noflow,
	       t->emit_failed);
	printf(" \"sink\": {\"sessions\": %lu, \"commands\": %lu, \"messages\": %lu, \"bytes\": "
	       "%lu},\n",
	       s->sink_sessions, s->sink_commands, s->sink_messages, s->sink_bytes);
	printf(" \"flood\": {\"on\": %s, \"rate_limit\": %lu, \"rst\": %s, \"syn\": %lu, "
	       "\"syn_per_s\": %.1f, \"synack\": %lu, \"synack_per_s\": %.1f, \"rst_in\": %lu, "
	       "\"other_in\": %lu, \"rst_out\": %lu, \"tx_full\": %lu, \"nomem\": %lu},\n",
	       g->c.flood ? "true" : "false", g->c.flood_rate, g->c.flood_rst ? "true" : "false",
	       s->flood_syn, (double)w->flood_syn / flood_seconds(g, load_s), s->flood_synack,
	       (double)w->flood_synack / flood_seconds(g, load_s), s->flood_rst_in,
	       s->flood_other_in, s->flood_rst_out, s->flood_tx_full, s->flood_nomem);
	if (g->pre != NULL) {
		double before = (double)(g->flood.t_start - g->load_t0) / (double)g->tsc_hz;

		printf(" \"phases\": {");
		if (g->flood.on) {
			phase_json("before", g->pre, NULL, before);
			printf(", ");
			phase_json("during", w, g->pre, g->flood.seconds);
		} else {
			phase_json("before", w, NULL, load_s);
		}
		printf("},\n");
	}
	printf(" \"generator_busy_pct\": %.1f}\n", busy(s, NULL));
}

void
sgb_report(const struct sgb *g, const struct sgb_stats *w, double load_s, double total_s)
{
	char mix[128];

	kinds_text(&g->c, mix, sizeof(mix));
	if (load_s <= 0)
		load_s = 1e-9;
	if (g->c.json)
		report_json(g, w, load_s, total_s, mix);
	else
		report_text(g, w, load_s, total_s, mix);
	fflush(stdout);
}
