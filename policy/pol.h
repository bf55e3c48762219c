/* pol - the access policy: load, compile, evaluate and publish
 *
 * This is the whole public interface of policy/. The flow is:
 *
 *   pol_load_file()  policy file (UCL or JSON) -> rule model, with file:line
 *   pol_compile()    rule model -> immutable snapshot (hash sets, prefix
 *                    tables, Hyperscan databases)
 *   pol_publish()    snapshot -> live, through liburcu QSBR
 *   pol_eval()       one call per SMTP stage -> verdict, reply and rule
 *
 * policy/ knows nothing of packets or DPDK: the CLI, the tests and the
 * dataplane's lcores all link it the same way.
 */
#ifndef POL_H
#define POL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pol_cidr.h"
#include "pol_err.h"

#define POL_NONE UINT32_MAX /* no entry */

/* Limits, with their reasons. */
#define POL_MAX_SERVICES      16   /* listeners per gate; ports are few */
#define POL_MAX_PORTS         8    /* ports of one service */
#define POL_MAX_BACKENDS      16   /* backend MTAs for round robin */
#define POL_MAX_NAME          64   /* service name */
#define POL_MAX_BANNER        400  /* greeting text: fits a 512-octet reply line */
#define POL_MAX_INPUT         512  /* HELO argument or address: an SMTP line is at most 512 */
#define POL_REPLY_MAX         640  /* a reply line, echoing one input, without CRLF */
#define POL_MAX_ENTRY         1024 /* one list entry as written */
#define POL_MAX_ENTRIES       5000000
#define POL_MAX_LIST_FILE_MiB 256
#define POL_MAX_CLIENT_LIMIT  65535 /* per-client counts are 16 bits in the shared table */
#define POL_MAX_RATE_UNIT_S   3600  /* a longer window keeps idle clients' slots busy */
#define POL_MAX_TLS_CERTS     4 /* certificate/key pairs of a service: one RSA, one ECDSA, spares */
#define POL_MAX_PEM_KiB       256 /* a certificate chain or key file: far above any real one */

/* Every list an entry can belong to. */
enum pol_list {
	POL_L_LAN,
	POL_L_RELAY_CLIENTS,
	POL_L_LOCAL_DOMAINS,
	POL_L_LOCAL_HOSTS,
	POL_L_LOCAL_ADDRESSES,
	POL_L_BL_CLIENTS,
	POL_L_BL_HELO,
	POL_L_BL_SENDERS,
	POL_L_BL_RECIPIENTS,
	POL_L_WL_CLIENTS,
	POL_L_WL_HELO,
	POL_L_WL_SENDERS,
	POL_L_WL_RECIPIENTS,
	POL_L_COUNT
};

/* How an entry matches. */
enum pol_pkind {
	POL_P_CIDR,      /* 192.0.2.0/24, 2001:db8::/32, a single address */
	POL_P_NULL,      /* <>: the null sender only */
	POL_P_ADDR,      /* user@example.com */
	POL_P_LOCALPART, /* user@: that local part in any domain */
	POL_P_DOMAIN,    /* example.com or @example.com; for HELO, that exact host */
	POL_P_SUBDOMAIN, /* .example.com: any subdomain, not the domain itself */
	POL_P_GLOB,      /* * and ? wildcards over the whole input */
	POL_P_REGEX,     /* /regex/ in Hyperscan syntax, unanchored unless anchored */
	POL_P_COUNT
};

struct pol_entry {
	enum pol_list list;
	enum pol_pkind kind;    /* how it matches */
	enum pol_pkind written; /* what the operator wrote (a glob may match as a domain) */
	char *text;             /* as written in the policy */
	char *key;              /* normalised: lowercase, no trailing dot, no @ or leading dot */
	const char *file;       /* owned by the model's file table */
	unsigned line;
	struct cidr cidr; /* POL_P_CIDR */
};

enum pol_handoff {
	POL_HANDOFF_XCLIENT,
	POL_HANDOFF_PROXY_V1,
	POL_HANDOFF_PROXY_V2,
	POL_HANDOFF_NONE,
};

/* When the relay opens its connection to the backend. */
enum pol_backend_at {
	POL_BACKEND_AT_RCPT, /* at the first accepted recipient */
	POL_BACKEND_AT_DATA, /* at DATA */
};

/* STARTTLS on a service (RFC 3207). */
enum pol_tls {
	POL_TLS_OFF,      /* not offered; STARTTLS gets 454 */
	POL_TLS_OPTIONAL, /* offered after EHLO */
	POL_TLS_REQUIRED, /* offered, and MAIL before it gets 530 5.7.0 */
};

/* TLS protocol versions a service accepts (bits). */
enum pol_tls_proto {
	POL_TLS_V1_2 = 1 << 0,
	POL_TLS_V1_3 = 1 << 1,
};

/* One certificate chain and its key, read at load time (PEM text, so that a
 * pushed policy carries them and the gate reads no file of its own). */
struct pol_tls_cert {
	char *cert; /* PEM: the certificate, then its chain; NUL-terminated */
	char *key;  /* PEM: the private key; wiped before it is freed */
	size_t cert_len, key_len;
	const char *cert_path; /* as read, for error messages */
	const char *key_path;
	const char *file; /* where tls_cert names it */
	unsigned line;
};

struct pol_service {
	char name[POL_MAX_NAME];
	const char *file;
	unsigned line;
	uint16_t ports[POL_MAX_PORTS];
	unsigned nports;
	bool require_auth;
	bool auth_in_clear; /* offer AUTH without TLS (a password in clear: a private network) */
	bool reject_remote_local_helo;
	bool reject_nonlocal_senders_claiming_local;
	bool delay_reject;
	char banner[POL_MAX_BANNER]; /* text after "220 ", $hostname expanded */
	uint32_t max_recipients;     /* per transaction; 452 beyond */
	uint64_t message_size_limit; /* bytes, advertised in EHLO SIZE */
	uint32_t command_timeout_ms; /* idle time allowed between commands */
	uint32_t session_timeout_ms; /* whole session */
	uint32_t max_errors;         /* error replies before 421 and close */
	uint32_t greet_wait_ms; /* banner held back this long; talking first is refused; 0: off */
	enum pol_backend_at backend_at;
	/* Per-client limits (Postfix's smtpd_client_connection_count_limit and
	 * smtpd_client_connection_rate_limit over anvil_rate_time_unit): a
	 * client is an IPv4 address or an IPv6 /64; lan and whitelist.clients
	 * are exempt. 0: no limit. */
	uint32_t client_conn_limit;  /* sessions open at once */
	uint32_t client_rate_limit;  /* connections per client_rate_unit_s */
	uint32_t client_rate_unit_s; /* the fixed rate window */
	enum pol_tls tls;
	uint8_t tls_protocols; /* enum pol_tls_proto bits; both by default */
	struct pol_tls_cert tls_certs[POL_MAX_TLS_CERTS];
	unsigned ntls_certs;
};

/* TLS on the backend leg (Postfix's smtp_tls_security_level; the order of
 * relay_tls_level). */
enum pol_backend_tls {
	POL_BTLS_NONE,    /* plaintext: the backend learns of the client's TLS by XCLIENT/PROXY */
	POL_BTLS_MAY,     /* STARTTLS when the backend offers it */
	POL_BTLS_ENCRYPT, /* STARTTLS required, any certificate */
	POL_BTLS_VERIFY,  /* STARTTLS required, the chain checked against tls_ca and the name */
};

struct pol_backend {
	bool configured;
	struct cidr addr[POL_MAX_BACKENDS];
	uint16_t port[POL_MAX_BACKENDS];
	unsigned naddr;
	enum pol_handoff handoff;
	uint32_t connect_timeout_ms;
	const char *file;
	unsigned line;
	enum pol_backend_tls tls;
	uint8_t tls_protocols; /* enum pol_tls_proto bits; both by default */
	char *tls_ca;          /* PEM: the trusted CAs (verify), read at load time; or NULL */
	size_t tls_ca_len;
	const char *tls_ca_path;   /* as read, for error messages */
	unsigned tls_ca_line;      /* where tls_ca is */
	char tls_server_name[256]; /* the name checked (and sent as SNI); "": the backend's address
	                            */
};

/* The rule model: what the file says, with where it says it. */
struct pol_model {
	char hostname[256];
	struct pol_entry *entries; /* in file order within each list */
	size_t nentries;
	size_t nlist[POL_L_COUNT]; /* entries per list */
	struct pol_service services[POL_MAX_SERVICES];
	unsigned nservices;
	struct pol_backend backend;
	char **files; /* every file read: the policy first, then list files */
	size_t nfiles;
	uint8_t source_hash[16]; /* XXH3-128 over every file read, in order */
	size_t source_bytes;
};

/* Where a policy's files come from: the disk for the CLI, a pushed bundle
 * for the gate. read() returns a malloc'ed buffer or NULL with errno set. */
struct pol_source {
	char *(*read)(void *arg, const char *path, size_t *len);
	void *arg;
};

/* pol_load_file - read and check a policy file; NULL with every error in errs */
struct pol_model *pol_load_file(const char *path, struct pol_errs *errs);
/* pol_load - the same, reading the policy and its list files through src */
struct pol_model *pol_load(const char *path, const struct pol_source *src, struct pol_errs *errs);
void pol_model_free(struct pol_model *m);

/* The compiled snapshot; opaque, immutable once compiled. */
struct pol_snapshot;

struct pol_stats {
	uint64_t version;          /* set by pol_publish; 0 before */
	size_t nlist[POL_L_COUNT]; /* entries per list */
	size_t nkind[POL_P_COUNT]; /* entries per match kind */
	size_t hs_patterns;        /* globs and regexes */
	unsigned hs_compiled;      /* databases compiled by this compile */
	unsigned hs_cached;        /* databases taken from the cache */
	double compile_seconds;    /* wall time of pol_compile */
	size_t mem_bytes;          /* hash sets, prefix tables and databases */
	uint8_t source_hash[16];
};

/* pol_compile - build a snapshot; the model is consumed (kept for its
 * entries' text and locations). NULL with errors in errs on failure. */
struct pol_snapshot *pol_compile(struct pol_model *m, struct pol_errs *errs);
void pol_snapshot_free(struct pol_snapshot *s);
/* pol_snapshot_attach - hang the user's own data on a snapshot (the gate's
 * TLS contexts, built from its services), freed by free_fn with the snapshot
 * after its grace period; before pol_publish only, once */
void pol_snapshot_attach(struct pol_snapshot *s, void *data, void (*free_fn)(void *));
void *pol_snapshot_attachment(const struct pol_snapshot *s);
const struct pol_model *pol_snapshot_model(const struct pol_snapshot *s);
/* pol_snapshot_id - unique per compile, never 0: tells snapshots apart where
 * an address could be reused after a free */
uint64_t pol_snapshot_id(const struct pol_snapshot *s);
void pol_snapshot_stats(const struct pol_snapshot *s, struct pol_stats *out);
/* pol_service_find - by name (caseless) or NULL */
const struct pol_service *pol_service_find(const struct pol_snapshot *s, const char *name);
/* pol_service_by_port - the service listening on a port, or NULL */
const struct pol_service *pol_service_by_port(const struct pol_snapshot *s, uint16_t port);

/* Hyperscan database cache: compiled databases are kept by a hash of their
 * patterns, in memory and, when a directory is set, on disk. */
void pol_hs_cache_dir(const char *dir); /* NULL: memory only */
void pol_hs_cache_clear(void);          /* drop the in-memory cache */

/* ---- evaluation ---- */

enum pol_stage {
	POL_CONNECT,
	POL_HELO,
	POL_MAIL,
	POL_RCPT,
};

enum pol_action {
	POL_ACCEPT,
	POL_REJECT,
};

/* Why: the label of verdict counters and metrics. */
enum pol_reason {
	POL_R_ACCEPT,        /* nothing refused */
	POL_R_WHITELISTED,   /* accepted: a whitelist entry exempted it */
	POL_R_RELAY_DENIED,  /* 554 5.7.1 Relay access denied */
	POL_R_AUTH_REQUIRED, /* 530 5.7.0 Authentication required */
	POL_R_BL_CLIENT,     /* blacklist.clients */
	POL_R_BL_HELO,       /* blacklist.helo */
	POL_R_BL_SENDER,     /* blacklist.senders */
	POL_R_BL_RCPT,       /* blacklist.recipients */
	POL_R_LOCAL_HELO,    /* reject_remote_local_helo */
	POL_R_LOCAL_SENDER,  /* reject_nonlocal_senders_claiming_local */
	POL_R_COUNT
};

/* The inputs of a decision. Strings are NUL-terminated, as the client sent
 * them (addresses without the angle brackets); NULL when not known yet.
 * The null sender is "". */
struct pol_query {
	const struct pol_service *service; /* from this snapshot */
	struct cidr client;                /* an address: len is ignored */
	bool auth;                         /* the client has authenticated */
	const char *auth_user;
	const char *helo;
	const char *sender;
	const char *rcpt; /* POL_RCPT only */
};

/* Facts derived from the inputs of earlier stages, cached by the caller for
 * the session so that each input is matched once; recomputed when the
 * snapshot changed under the session. Zero it (pol_state_init) per session. */
struct pol_state {
	uint64_t snap_id;   /* snapshot the facts come from; 0: none */
	uint8_t have;       /* bits: facts known for client, helo, sender */
	uint32_t lan;       /* entry of lan covering the client, or POL_NONE */
	uint32_t relay;     /* entry of relay.allow_clients */
	uint32_t wl_client; /* whitelist.clients */
	uint32_t bl_client; /* blacklist.clients */
	uint32_t wl_helo;
	uint32_t bl_helo;
	uint32_t local_helo; /* entry the HELO claims to be (local_hosts, ...) */
	uint32_t wl_sender;
	uint32_t bl_sender;
	uint32_t local_sender; /* local_domains entry of the sender's domain */
};

struct pol_verdict {
	enum pol_action action;
	enum pol_reason reason;
	uint16_t code;       /* SMTP reply code; 0 when accepted */
	char ecode[12];      /* enhanced status code, "5.7.1" */
	uint32_t rule;       /* deciding entry (refusing or whitelisting), or POL_NONE */
	uint32_t relay_rule; /* RCPT accepted off-domain: the lan or relay entry */
	bool relay_by_auth;  /* ... or authentication let it relay */
	uint16_t text_len;   /* strlen(text), as pol_eval fills it (callers need not measure) */
	char text[POL_REPLY_MAX]; /* whole reply without CRLF; empty when accepted */
};

void pol_state_init(struct pol_state *st);
/* pol_state_forget - before a new input of stage (POL_HELO: a new HELO;
 * POL_MAIL: a new transaction's sender) is decided, drop the facts of the
 * old one and of later stages; the client's facts stay */
void pol_state_forget(struct pol_state *st, enum pol_stage stage);

/* A thread that evaluates against the live snapshot. */
struct pol_reader;

/* pol_eval - decide one stage. reader is the calling thread's registration
 * (its Hyperscan scratch), or NULL for single-threaded offline use. */
void pol_eval(const struct pol_snapshot *s, struct pol_reader *reader, const struct pol_query *q,
              enum pol_stage stage, struct pol_state *st, struct pol_verdict *v);

/* pol_limit_exempt - the lan or whitelist.clients entry that exempts client
 * from the per-client connection limits, or POL_NONE when they apply */
uint32_t pol_limit_exempt(const struct pol_snapshot *s, const struct cidr *client);

/* pol_format_reject - the Postfix log line of a refusal ("NOQUEUE: reject:
 * RCPT from unknown[ADDR]: 554 5.7.1 ...; from=<> to=<> proto=ESMTP helo=<>") */
size_t pol_format_reject(char *buf, size_t size, enum pol_stage stage, const struct pol_query *q,
                         const struct pol_verdict *v, bool esmtp);
/* pol_client_name - "unknown[ADDR]" */
char *pol_client_name(const struct cidr *client, char *buf, size_t size);

const struct pol_entry *pol_entry_get(const struct pol_snapshot *s, uint32_t id);
const char *pol_list_name(enum pol_list l);     /* "blacklist.senders" */
const char *pol_kind_name(enum pol_pkind k);    /* "glob" */
const char *pol_reason_name(enum pol_reason r); /* "relay_denied" */
const char *pol_stage_name(enum pol_stage st);  /* "rcpt" */
const char *pol_handoff_name(enum pol_handoff h);
const char *pol_tls_name(enum pol_tls t);                 /* "required" */
const char *pol_backend_tls_name(enum pol_backend_tls t); /* "verify" */

/* ---- publication (liburcu QSBR) ----
 *
 * One writer (the control thread) publishes; reader threads register once,
 * fetch the live snapshot with pol_live(), may use it until their next
 * pol_quiescent(), and announce a quiescent state once per loop. */

/* pol_reader_register - register the calling thread with RCU and give it a
 * scratch slot; NULL when all POL_MAX_READERS slots are taken. */
#define POL_MAX_READERS 128
struct pol_reader *pol_reader_register(void);
void pol_reader_unregister(struct pol_reader *r);
const struct pol_snapshot *pol_live(struct pol_reader *r);
void pol_quiescent(struct pol_reader *r);
void pol_reader_offline(struct pol_reader *r); /* before sleeping */
void pol_reader_online(struct pol_reader *r);
/* pol_reader_cache_stats - lookups of the reader's cache of input facts
 * (HELO names, senders, recipients seen recently) answered and missed;
 * missed includes the inputs that bypassed it while it samples */
void pol_reader_cache_stats(const struct pol_reader *r, uint64_t *hits, uint64_t *misses);
/* pol_reader_cache_sampling - whether the reader's cache samples (its hit
 * rate was low: most inputs bypass it), and how many inputs bypassed it */
bool pol_reader_cache_sampling(const struct pol_reader *r, uint64_t *bypassed);

/* pol_publish - make s live: clone a scratch for every registered reader,
 * swap the pointer, wait for a grace period and free the old snapshot.
 * Returns the new version, or 0 with errs set (s is then freed). */
uint64_t pol_publish(struct pol_snapshot *s, struct pol_errs *errs);
/* pol_unpublish - at shutdown: retire and free the live snapshot */
void pol_unpublish(void);

#endif
