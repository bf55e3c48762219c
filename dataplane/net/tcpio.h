/* tcpio - TCP segments between the IP layer and the lcore's TCP stack */
#ifndef TCPIO_H
#define TCPIO_H

#include <rte_ip.h>
#include <rte_mbuf.h>

struct lcore_conf;
struct tcp_out;

/* tcpio_rx - a received frame on port: the common IPv4 TCP segment to us
 * straight to the stack, anything else to eth_input(); consumes m */
void tcpio_rx(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m, uint64_t now);
/* tcpio_input4 - a TCP segment in an IPv4 packet (len: the IP total length); consumes m */
void tcpio_input4(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m,
                  const struct rte_ipv4_hdr *ih, unsigned hlen, unsigned len);
/* tcpio_input6 - a TCP segment of len bytes behind an IPv6 header; consumes m */
void tcpio_input6(struct lcore_conf *lc, unsigned port, struct rte_mbuf *m,
                  const struct rte_ipv6_hdr *ih, unsigned len);
/* tcpio_emit - the TCP stack's output callback (arg: the lcore_conf) */
int tcpio_emit(void *arg, const struct tcp_out *o);

#endif
