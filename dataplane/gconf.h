/* gconf - the gate configuration: what does not change while the gate runs
 *
 * Ports (any DPDK device) with their addresses, routes, lcores, table sizes
 * and limits, the control socket and the log target. UCL like the policy
 * (policy/conf.c parses it); a bad key is an error at start that names it.
 */
#ifndef GCONF_H
#define GCONF_H

#include <stdbool.h>
#include <stdint.h>

#include "pol_cidr.h"
#include "pol_err.h"

#define GCONF_MAX_PORTS  8
#define GCONF_MAX_ADDRS  8 /* addresses of one port, per family */
#define GCONF_MAX_ROUTES 64
#define GCONF_MAX_LCORES 64
#define GCONF_MAX_DEVARG 256

struct gconf_port {
	char name[32];                     /* the operator's name, e.g. "edge0" */
	char device[GCONF_MAX_DEVARG];     /* PCI address or vdev "net_tap0,iface=sg0" */
	struct cidr addr[GCONF_MAX_ADDRS]; /* our addresses with their prefix lengths */
	unsigned naddr;
	uint16_t mtu;
	uint16_t rx_desc, tx_desc;
	bool offload; /* checksums by the device where it can (both ways) */
};

struct gconf_route {
	struct cidr prefix; /* destination */
	struct cidr via;    /* next hop; family 0: on link */
	unsigned port;      /* index into ports */
};

enum gconf_log {
	GCONF_LOG_STDOUT,
	GCONF_LOG_SYSLOG,
	GCONF_LOG_FILE,
};

/* Where AUTH credentials are checked: a Dovecot auth server (its SASL
 * protocol, as Postfix's smtpd_sasl_type = dovecot speaks it). */
struct gconf_auth {
	char socket[108];           /* a UNIX socket path; "": no checker, AUTH is not offered */
	struct cidr addr;           /* ... or a TCP address (family 0: not TCP) */
	uint16_t port;              /* ... and its port */
	uint32_t timeout_ms;        /* a check not answered by then: 454 4.7.0 */
	uint32_t max_inflight;      /* checks sent to the server and not answered yet */
	uint32_t max_failures;      /* failed checks of one client address ... */
	uint32_t failure_window_ms; /* ... within this: further AUTH gets 454 until it passes */
};

struct gconf {
	struct gconf_port ports[GCONF_MAX_PORTS];
	unsigned nports;
	struct gconf_route routes[GCONF_MAX_ROUTES];
	unsigned nroutes;
	unsigned lcores[GCONF_MAX_LCORES]; /* worker lcores; each polls every port on its queue */
	unsigned nlcores;
	uint32_t max_flows;   /* per lcore */
	uint32_t syn_backlog; /* half-open flows per lcore before SYN cookies */
	uint32_t mbufs;       /* per port pool */
	uint32_t clients;     /* slots of the per-client limits table, shared by all lcores */
	uint64_t tcp_buffers; /* bytes of TCP buffer chunks per lcore (send, hold, out of order) */
	uint32_t arp_timeout_ms;
	char control_socket[108];
	uint32_t control_mode;   /* permissions of the socket file */
	int64_t control_gid;     /* its group; -1: the gate's own */
	char metrics_listen[64]; /* "127.0.0.1:9125", "[::1]:9125"; "": no metrics */
	enum gconf_log log;
	char log_file[256];
	char user[64];   /* who the gate runs as once started (privdrop.h) */
	int64_t run_uid; /* its uid and gid; -1: stay as started */
	int64_t run_gid;
	struct gconf_auth auth;
};

/* gconf_load - read and check a gate config; -1 with every error in errs */
int gconf_load(const char *path, struct gconf *out, struct pol_errs *errs);

#endif
