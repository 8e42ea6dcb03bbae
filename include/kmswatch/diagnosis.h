/*
 * Diagnosis: what each alert and each observed state means for KMS clients,
 * the error code a Windows client in that situation reports (DOMAIN.md's
 * table), and what an administrator does next. The alert catalog (name,
 * severity, runbook anchor in docs/runbooks.md) lives here too, so the
 * evaluator, the exposition, the status page and the runbooks agree. Pure: no
 * I/O, no clock, no allocation; every text is written into the caller's
 * fixed-size buffers and truncated safely.
 */
#ifndef KMSWATCH_DIAGNOSIS_H
#define KMSWATCH_DIAGNOSIS_H

#include <stdint.h>

#include "kmswatch/dns.h"
#include "kmswatch/probe.h"

enum diag_alert {
	/* KMSNoSRVRecords: NXDOMAIN 0x8007232B or no SRV data 0x8007251D */
	DIAG_NO_SRV_RECORDS,
	/* KMSDNSFailure: SERVFAIL, refused, timeout, error: 0x8007232A */
	DIAG_DNS_FAILURE,
	/* KMSSRVInconsistent: resolvers disagree; no code */
	DIAG_SRV_INCONSISTENT,
	/* KMSHostUnreachable: refused/unreachable/resolve_failed 0x800706BA, timeout 0xC004F039 */
	DIAG_HOST_UNREACHABLE,
	/* KMSNoHostReachable: every host of a domain fails: 0xC004F074 */
	DIAG_NO_HOST_REACHABLE,
	/* KMSHostNotActivated: 0xC004F041 */
	DIAG_HOST_NOT_ACTIVATED,
	/* KMSProductNotCovered: 0xC004F042 */
	DIAG_PRODUCT_NOT_COVERED,
	/* KMSClockSkew: 0xC004F06C */
	DIAG_CLOCK_SKEW,
	/* KMSHostOutdated: 0x8007000D */
	DIAG_HOST_OUTDATED,
	/* KMSCountBelowThreshold: count < N: 0xC004F038 */
	DIAG_COUNT_BELOW_THRESHOLD,
	/* KMSCountNearThreshold: count < N + margin; no code */
	DIAG_COUNT_NEAR_THRESHOLD,
	/* KMSCountDropped: fell by >= min or >= ratio from its max over the window; pages */
	DIAG_COUNT_DROPPED,
	/* KMSHostKeyChanged: ePID changed; no code */
	DIAG_HOST_KEY_CHANGED,
	/* KMSTooManyHosts: more SRV hosts than max_hosts; no code */
	DIAG_TOO_MANY_HOSTS,
	/* KMSProbeStale: no successful probe for stale_after intervals; code of the last failure */
	DIAG_PROBE_STALE,
	DIAG_ALERT_COUNT
};

/* diagnosis.c */
/* The alert's name ("KMSCountDropped"), severity ("critical" pages, "warning"
 * tickets, "info") and the anchor of its section in docs/runbooks.md
 * ("kmscountdropped"); static strings, NULL when a is out of range. */
const char *diag_alert_name(enum diag_alert a);
const char *diag_alert_severity(enum diag_alert a);
const char *diag_alert_anchor(enum diag_alert a);
/* The alert named exactly name (case matters, as in Prometheus); 0 or -1. */
int diag_alert_parse(const char *name, enum diag_alert *out);

/* Values an alert's texts may mention; NULL (or empty) strings and negative
 * numbers mean "not known", and the texts are worded without them. */
struct diag_vars {
	const char *domain, *resolver, *host, *port, *product;
	/* The agent's own words on the failure, e.g. "KMS response: HMAC mismatch". */
	const char *detail;
	long long count, required, margin, max, drop_min, hosts, max_hosts;
	/* 0.2 = 20 %. drop_min and drop_ratio at 0 mean that test is off. */
	double drop_ratio;
	const char *window; /* "24h" */
	const char *old_epid, *new_epid;
	const char *last_success; /* RFC 3339 or NULL */
	const char *result;       /* the state name, e.g. "timeout", "nxdomain" */
};

/* A diag_vars with every value unknown, to start from. */
#define DIAG_VARS_UNKNOWN                                                                          \
	{                                                                                          \
		.count = -1, .required = -1, .margin = -1, .max = -1, .drop_min = -1, .hosts = -1, \
		.max_hosts = -1, .drop_ratio = -1.0                                                \
	}

#define DIAG_TEXT_MAX 1024
struct diag_text {
	char code[16]; /* "0xC004F038", or "" when the alert has none */
	char summary[256];
	char description[DIAG_TEXT_MAX];
	char remedy[DIAG_TEXT_MAX];
};

/* Fills the texts of one firing alert. code_hint is the code that applies to
 * this instance when the alert has several ("0x8007251D" or "0x8007232B" for
 * KMSNoSRVRecords, "0xC004F039" or "0x800706BA" for KMSHostUnreachable, the
 * last failure's code for KMSProbeStale), in either case of hex digits. NULL,
 * or a code the alert cannot carry, picks the alert's default: the code that
 * v->result implies when it implies one, else the alert's first code (none
 * for KMSProbeStale). v may be NULL (all unknown). Never overflows: a text
 * that does not fit is cut at a character boundary and ends in "...". */
void diag_describe(enum diag_alert a, const char *code_hint, const struct diag_vars *v,
                   struct diag_text *out);

/* Outcome-level diagnosis of every state the agent can observe, for the
 * status page and the diagnose command. All strings are static. */
struct diag_outcome {
	/* The code a Windows client in this situation would report, "" for success. */
	const char *code;
	const char *meaning; /* one sentence */
	const char *remedy;  /* what to do next, concretely */
	int alert;           /* the enum diag_alert it raises, or -1 */
};

void diag_srv(enum dns_result r, struct diag_outcome *out);
void diag_tcp(enum probe_tcp_result r, struct diag_outcome *out);
/* hresult is the probe's kms_probe_hresult. It refines PROBE_KMS_HOST_ERROR:
 * a refusal code with a state of its own is diagnosed as that state; any
 * other host error has code "" and a meaning that points at the metric. */
void diag_kms(enum probe_kms_result r, uint32_t hresult, struct diag_outcome *out);

#endif
