/* sgb_net - Ethernet, ARP and IPv4 between the port and the TCP stack
 *
 * The generator is a router on the gate's link: it answers ARP for its own
 * address (--addr), learns the gate's MAC, and takes every IPv4 TCP packet
 * the gate sends to its MAC as meant for one of the clients behind it, or,
 * when addressed to one of the flood's spoofed sources, for sgb_flood.c.
 * IPv4 only, no options, no fragments: the gate sends neither.
 *
 * Checksums: ours are computed in software (memif offloads nothing); the
 * gate's are trusted unless --check-csum (the link is shared memory, and
 * verifying costs the generator time the gate should get).
 *
 * Output never blocks: packets the port does not take stay in g->tx and
 * are offered again on the next flush; when that is full too, new packets
 * are dropped and counted (TCP retransmits them).
 */
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ip.h>

#include "sgb.h"

/* arp_send - an ARP request or reply from our address */
static void
arp_send(struct sgb *g, uint16_t op, uint32_t tip_be, const struct rte_ether_addr *tha,
         const struct rte_ether_addr *dst)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *ah;

	if (m == NULL) {
		g->st.drop_nomem++;
		return;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*ah));
	ah = (struct rte_arp_hdr *)(eh + 1);
	eh->dst_addr = *dst;
	eh->src_addr = g->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = g->mac;
	ah->arp_data.arp_sip = rte_cpu_to_be_32(g->c.my_ip);
	ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = tip_be;
	if (g->ntx < SGB_TX_MAX)
		g->tx[g->ntx++] = m;
	else {
		g->st.tx_dropped++;
		rte_pktmbuf_free(m);
	}
}

void
sgb_net_arp_ask(struct sgb *g)
{
	static const struct rte_ether_addr bcast = {
	        .addr_bytes = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
	static const struct rte_ether_addr zero;

	arp_send(g, RTE_ARP_OP_REQUEST, rte_cpu_to_be_32(g->c.gate_ip), &zero, &bcast);
	g->st.arp_requests++;
}

/* arp_input - learn the gate, answer questions about our address */
static void
arp_input(struct sgb *g, struct rte_mbuf *m)
{
	const struct rte_arp_hdr *ah;

	g->st.arp_in++;
	if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) + sizeof(*ah)) {
		g->st.drop_l2++;
		return;
	}
	ah = rte_pktmbuf_mtod_offset(m, const struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    ah->arp_hlen != RTE_ETHER_ADDR_LEN || ah->arp_plen != 4) {
		g->st.drop_l2++;
		return;
	}
	if (ah->arp_data.arp_sip == rte_cpu_to_be_32(g->c.gate_ip)) {
		g->gate_mac = ah->arp_data.arp_sha;
		g->gate_known = true;
	}
	if (ah->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) &&
	    ah->arp_data.arp_tip == rte_cpu_to_be_32(g->c.my_ip)) {
		arp_send(g, RTE_ARP_OP_REPLY, ah->arp_data.arp_sip, &ah->arp_data.arp_sha,
		         &ah->arp_data.arp_sha);
		g->st.arp_replies++;
	}
}

/* ip4_input - a TCP segment for one of our clients goes to the stack */
static void
ip4_input(struct sgb *g, struct rte_mbuf *m)
{
	unsigned avail = rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN, len;
	const struct rte_ipv4_hdr *ih;
	struct tcp_seg seg = {.family = TCP_V4};
	const uint8_t *tcp;

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ih)) {
		g->st.drop_ip++;
		return;
	}
	ih = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *, RTE_ETHER_HDR_LEN);
	len = rte_be_to_cpu_16(ih->total_length);
	if (ih->version_ihl != RTE_IPV4_VHL_DEF || len < sizeof(*ih) || len > avail ||
	    (ih->fragment_offset &
	     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
		g->st.drop_ip++;
		return;
	}
	if (ih->next_proto_id != IPPROTO_TCP) {
		g->st.drop_proto++;
		return;
	}
	if (sgb_flood_mine(g, rte_be_to_cpu_32(ih->dst_addr))) { /* to a spoofed source */
		sgb_flood_input(g, (const uint8_t *)(ih + 1), len - (unsigned)sizeof(*ih),
		                ih->src_addr, ih->dst_addr);
		return;
	}
	seg.src = tcp_ip_v4(ih->src_addr);
	seg.dst = tcp_ip_v4(ih->dst_addr);
	tcp = (const uint8_t *)(ih + 1);
	len -= (unsigned)sizeof(*ih);
	if (g->c.check_csum && (rte_raw_cksum(ih, sizeof(*ih)) != 0xffff ||
	                        !tcp_wire_csum_ok(TCP_V4, &seg.src, &seg.dst, tcp, len))) {
		g->st.drop_csum++;
		return;
	}
	if (tcp_wire_parse(tcp, len, &seg) < 0) {
		g->st.drop_ip++;
		return;
	}
	tcp_input(g->tcp, &seg, g->now_ms);
}

void
sgb_net_input(struct sgb *g, struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	if (rte_pktmbuf_data_len(m) < sizeof(*eh) || m->nb_segs != 1 ||
	    (rte_is_unicast_ether_addr(&eh->dst_addr) &&
	     !rte_is_same_ether_addr(&eh->dst_addr, &g->mac))) {
		g->st.drop_l2++;
	} else if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		arp_input(g, m);
	} else if (eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
		ip4_input(g, m);
	} else {
		g->st.drop_l2++;
	}
	rte_pktmbuf_free(m);
}

int
sgb_net_emit(void *arg, const struct tcp_out *o)
{
	struct sgb *g = arg;
	size_t hlen = tcp_wire_hdr_len(o), plen = tcp_wire_payload_len(o);
	struct rte_ether_hdr *eh;
	struct rte_ipv4_hdr *ih;
	struct rte_mbuf *m;
	char *tcp;

	if (!g->gate_known) {
		g->st.drop_nomac++;
		return -1;
	}
	if (g->ntx == SGB_TX_MAX) {
		sgb_net_flush(g);
		if (g->ntx == SGB_TX_MAX) {
			g->st.tx_dropped++;
			return -1;
		}
	}
	m = rte_pktmbuf_alloc(g->pool);
	if (m == NULL) {
		g->st.drop_nomem++;
		return -1;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(
	        m, (uint16_t)(sizeof(*eh) + sizeof(*ih) + hlen + plen));
	if (eh == NULL) {
		rte_pktmbuf_free(m);
		g->st.drop_nomem++;
		return -1;
	}
	ih = (struct rte_ipv4_hdr *)(eh + 1);
	tcp = (char *)(ih + 1);
	tcp_wire_build(tcp, hlen, o);
	if (o->len[0] > 0)
		memcpy(tcp + hlen, o->data[0], o->len[0]);
	if (o->len[1] > 0)
		memcpy(tcp + hlen + o->len[0], o->data[1], o->len[1]);
	tcp_wire_csum_out(tcp, hlen, o);
	memset(ih, 0, sizeof(*ih));
	ih->version_ihl = RTE_IPV4_VHL_DEF;
	ih->total_length = rte_cpu_to_be_16((uint16_t)(sizeof(*ih) + hlen + plen));
	ih->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_TCP;
	memcpy(&ih->src_addr, o->src.b, 4);
	memcpy(&ih->dst_addr, o->dst.b, 4);
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	eh->dst_addr = g->gate_mac;
	eh->src_addr = g->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	g->tx[g->ntx++] = m;
	return 0;
}

void
sgb_net_flush(struct sgb *g)
{
	uint16_t sent;

	if (g->ntx == 0)
		return;
	sent = rte_eth_tx_burst(g->port_id, 0, g->tx, (uint16_t)g->ntx);
	g->st.tx_pkts += sent;
	if (sent < g->ntx) {
		g->st.tx_retry++;
		memmove(g->tx, g->tx + sent, (g->ntx - sent) * sizeof(g->tx[0]));
	}
	g->ntx -= sent;
}
