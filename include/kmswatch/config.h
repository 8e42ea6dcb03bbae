/*
 * The configuration: YAML (through libyaml, used only in config.c) parsed into
 * an immutable, validated struct config. Errors are reported as
 * "file:line:col: message" lines; config_print() writes the effective
 * configuration in canonical form (what `kmswatch check-config` prints).
 */
#ifndef KMSWATCH_CONFIG_H
#define KMSWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/buf.h"

#define CONFIG_KMS_PORT      1688
#define CONFIG_DNS_PORT      53
#define CONFIG_WEB_PORT      9688
#define CONFIG_MAX_FILE_SIZE (1024 * 1024)
#define CONFIG_MAX_ERRORS    20
#define CONFIG_MAX_LIST      10000 /* entries in any one list */

#define CONFIG_MAX_PRODUCTS    64 /* each is probed on every target */
#define CONFIG_GUID_LEN        36 /* 8-4-4-4-12 hex digits */
#define CONFIG_WORKSTATION_MAX 63 /* characters the KMS request holds */

#define CONFIG_MAX_ALERTMANAGERS 16   /* alertmanager.urls */
#define CONFIG_URL_MAX           2048 /* characters in any URL */
#define CONFIG_STATE_FILE        "/var/lib/kmswatch/state"

struct config_resolver {
	char *name;    /* label value: "system", "127.0.0.1:5353", "[::1]:53" (port always shown) */
	bool system;   /* use /etc/resolv.conf */
	char *address; /* IP literal without brackets; NULL when system */
	uint16_t port; /* CONFIG_DNS_PORT unless given */
};

struct config_target {
	char *host; /* lower case, no trailing dot; IPv6 literal without brackets */
	uint16_t port;
};

/* A product the activation probe asks for. All GUIDs are canonical lower-case
 * text. */
struct config_product {
	char *name;
	char *application_id;
	char *sku_id;
	char *kms_counted_id;
	unsigned required_count; /* N policy: 5 or 25 */
	unsigned protocol;       /* 4, 5 or 6 */
	bool preset;             /* unchanged preset: printed by name */
};

/* The thresholds of the alerts the agent evaluates (alerts: in the file). */
struct config_alerts {
	/* KMSCountDropped: a count fell by >= drop_min, or by >= drop_ratio below
	 * its maximum over drop_window_ms. 0 turns that test off; not both are 0. */
	uint32_t drop_min;           /* 0..1000; default 5 */
	double drop_ratio;           /* 0, or 0 < r < 1; default 0.2 */
	uint64_t drop_window_ms;     /* 1m..90d; default 24h */
	uint32_t count_margin;       /* KMSCountNearThreshold: count < N + margin; default 5 */
	uint32_t max_hosts;          /* KMSTooManyHosts: SRV hosts per domain; 0 = no limit */
	uint32_t stale_after;        /* KMSProbeStale: probe intervals without success; default 3 */
	uint64_t resend_interval_ms; /* firing alerts re-sent to Alertmanager; default 1m */
	uint64_t resolved_retention_ms; /* resolved alerts kept and re-sent; default 15m */
};

struct config {
	char *path;           /* where it was read from */
	uint64_t interval_ms; /* discovery and reachability cycle; default 60000 */
	uint64_t timeout_ms;  /* deadline of each network step; default 5000 */
	unsigned concurrency; /* network operations in flight at once; default 256 */
	struct config_resolver *resolvers;
	size_t n_resolvers; /* default: one, "system" */
	char **domains;     /* lower case, no trailing dot */
	size_t n_domains;   /* default: the machine's own DNS domain ("local") */
	struct config_target *hosts;
	size_t n_hosts;
	char **listen; /* "HOST:PORT" with HOST empty for all addresses */
	size_t n_listen;
	uint64_t probe_interval_ms; /* activation probe per target and product; default 15m */
	char *cmid;                 /* the effective CMID, lower-case GUID text (auto: derived) */
	char *workstation;          /* the effective name the host logs (auto: resolved) */
	/* Default: windows-10-11, windows-server-2022, office-ltsc-2021. */
	struct config_product *products;
	size_t n_products; /* 0: no activation probes */
	struct config_alerts alerts;
	/* "scheme://host[:port][/path]": lower-case scheme and host, no default
	 * port, no trailing slash; the agent POSTs to URL/api/v2/alerts. */
	char **alertmanager_urls;
	size_t n_alertmanager_urls;       /* 0 (default): no direct push */
	uint64_t alertmanager_timeout_ms; /* per request; default 10s */
	char *state_file;                 /* absolute path; "" when disabled; never NULL */
	/* The base URL of this agent for alert links, in the form of
	 * alertmanager_urls. "" in the file means http://<gethostname()>:<port of
	 * listen[0]>, so it is never empty after loading. */
	char *external_url;
	bool external_url_auto; /* external_url was derived, not given */
};

/* Loads and validates; returns NULL and appends "file:line:col: message\n"
 * lines to errors (at most CONFIG_MAX_ERRORS) on failure. Caller frees. */
struct config *config_load_file(const char *path, struct buf *errors);
struct config *config_load_string(const char *name, const char *text, size_t len,
                                  struct buf *errors);
void config_free(struct config *c);
/* Writes the effective configuration as canonical YAML. */
void config_print(const struct config *c, struct buf *out);

/* Helpers shared with the command line and HTTP parameters. */
int config_parse_duration(const char *s, uint64_t *ms);
void config_format_duration(uint64_t ms, char *out, size_t len);
/* HOST[:PORT] or [V6]:PORT or a bare IPv6 literal; *host is malloc'd. */
int config_parse_hostport(const char *s, uint16_t default_port, char **host, uint16_t *port);
/* Checks a DNS name (labels of 1..63 of [A-Za-z0-9_-], 253 at most) and
 * writes it lower-cased without a trailing dot; returns -1 if invalid. */
int config_normalize_dns_name(const char *s, char *out, size_t len);
/* The machine's DNS domain(s) as a KMS client would search them: the search
 * or domain line of /etc/resolv.conf, else the domain part of the host name.
 * Returns how many were written to out (each malloc'd). */
size_t config_local_domains(char **out, size_t max);
/* The same from the given resolv.conf and host name (NULL: gethostname()),
 * so that tests need not depend on the machine. */
size_t config_local_domains_from(const char *resolv_conf, const char *hostname, char **out,
                                 size_t max);

/* The product of that name, or NULL. The pointer lives as long as c. */
const struct config_product *config_find_product(const struct config *c, const char *name);
/* The CMID that "identity.cmid: auto" derives from a machine id (the text of
 * /etc/machine-id without its newline): the first 16 bytes of
 * SHA-256("kmswatch-cmid:" || machine_id) as a version 4, variant 1 UUID, in
 * lower case. Returns -1 if machine_id is NULL or empty. */
int config_derive_cmid(const char *machine_id, char out[CONFIG_GUID_LEN + 1]);
/* Reads a machine id file: 32 hex digits and an optional newline, nothing
 * else (an empty or "uninitialized" file is not a machine id yet). Returns
 * -1 if the file cannot be read or holds no machine id. */
int config_read_machine_id(const char *path, char out[33]);

/* After listen changed (the --web.listen-address flag), derives external_url
 * again from the new listen[0] if the file left it empty; returns -1, leaving
 * it as it was, if this machine's host name does not make a valid URL. */
int config_update_external_url(struct config *c);

#endif
