/*
 * The engine's results store: the latest SRV lookup per domain and resolver,
 * the current target set with each target's latest reachability check, and
 * the agent's own counters. Owned and changed by the engine thread only; it
 * renders immutable snapshots for the HTTP side.
 */
#ifndef KMSWATCH_RESULTS_H
#define KMSWATCH_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/config.h"
#include "kmswatch/dns.h"
#include "kmswatch/history.h"
#include "kmswatch/persist.h"
#include "kmswatch/probe.h"
#include "kmswatch/snapshot.h"

enum target_source { TARGET_SRV, TARGET_STATIC, TARGET_SOURCE_COUNT };

enum probe_kind { PROBE_KIND_SRV, PROBE_KIND_CONNECT, PROBE_KIND_KMS, PROBE_KIND_COUNT };
/* The most results any kind has (the activation probe's). */
#define PROBE_RESULT_MAX PROBE_KMS_RESULT_COUNT

struct srv_entry {
	char *target;
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
};

/* One domain as seen by one resolver. */
struct srv_state {
	bool have; /* a lookup has completed */
	enum dns_result result;
	double duration_s;
	struct srv_entry *recs; /* the latest answer; none after a failure */
	size_t n;
	/* The latest definitive answer (ok, nodata, nxdomain). A resolver that
	 * fails for a cycle keeps its targets in the set through this. */
	struct srv_entry *known;
	size_t n_known;
};

struct target {
	char *host;
	uint16_t port;
	enum target_source source;
	size_t resolver; /* index of the resolver that resolves its addresses */
	bool checked;
	struct probe_outcome tcp;
	struct probe *probe; /* in flight, owned by the scheduler */
};

/* One target and one product: the activation probe's state. */
struct kms_state {
	char *host;
	uint16_t port;
	char *product; /* the product's name; its index in the configuration below */
	size_t product_index;
	size_t resolver;
	bool checked;             /* a probe has completed */
	struct probe_outcome out; /* the latest outcome */
	bool outdated;            /* the host refused v5/v6 with 0x8007000D */
	bool have_data;           /* last holds the latest successful answer */
	struct kms_response last;
	int64_t last_success_ms; /* wall clock of that answer; 0: never */
	/* What survives restarts through the state file. */
	struct history hist;     /* counts over the drop window */
	char *epid;              /* the latest ePID, NULL if none seen */
	char *prev_epid;         /* the one before the last change */
	int64_t epid_changed_ms; /* 0: never changed */
	struct probe *probe;     /* in flight, owned by the scheduler */
	bool fallback;           /* the probe in flight is the v4 retry */
};

struct agent_stats {
	double start_time;
	bool last_reload_ok;
	double last_reload_success;
	double cycle_duration_s;
	double last_cycle_end; /* wall clock; 0 before the first cycle ends */
	uint64_t cycles_total;
	uint64_t kms_rounds_total; /* completed activation probe rounds */
	bool ready;
	unsigned in_flight;
	/* Indexed by kind, then by the kind's result enum. */
	uint64_t probes_total[PROBE_KIND_COUNT][PROBE_RESULT_MAX];
};

struct results {
	const struct config *cfg; /* not owned; replaced on reload */
	struct srv_state *srv;    /* [domain * n_resolvers + resolver] */
	struct target *targets;   /* sorted by host, then port */
	size_t n_targets;
	struct kms_state *kms; /* sorted by host, port, product index */
	size_t n_kms;
	/* Series read from the state file, waiting for their target and
	 * product to enter the probe set (sorted like kms). */
	struct persist_state restore;
	bool *restore_taken; /* per restore series: moved into a state */
	struct agent_stats stats;
};

/* results.c */
struct results *results_new(const struct config *cfg);
void results_free(struct results *r);
/* Switches to a new configuration, keeping what is known about domains and
 * resolvers that remain; the target set is rebuilt. No probe may be in flight. */
void results_configure(struct results *r, const struct config *cfg);
struct srv_state *results_srv(struct results *r, size_t domain, size_t resolver);
void results_set_srv(struct results *r, size_t domain, size_t resolver, enum dns_result res,
                     const struct dns_srv *recs, size_t n, uint64_t duration_us);
/* Rebuilds the target set from the static hosts and the known SRV records,
 * keeping the latest results of targets that remain. No probe may be in flight. */
void results_rebuild_targets(struct results *r);
/* Rebuilds the activation probe set: every target with every configured
 * product, keeping what is known of pairs that remain. No activation probe
 * may be in flight. */
void results_rebuild_kms(struct results *r);
/* Records an activation probe's outcome in k. */
void results_set_kms(struct results *r, struct kms_state *k, const struct probe_outcome *out,
                     bool outdated);
/* Takes over the series of a state file read at start. */
void results_restore(struct results *r, struct persist_state *st);
/* Fills st (caller frees with persist_state_free) with what must survive a
 * restart: every series known now or still waiting to be restored. */
void results_export(const struct results *r, struct persist_state *st);
/* Renders the activation metrics of n states (for /probe). */
char *results_render_kms(const struct config *cfg, const struct kms_state *k, size_t n,
                         size_t *len);
/* 1 when every resolver with a definitive answer returned the same targets. */
bool results_srv_consistent(const struct results *r, size_t domain);
struct alerts;
struct notify;
struct statefile_stats;

/* What a snapshot shows besides the results; any may be NULL. */
struct snapshot_extras {
	const struct alerts *alerts;
	const char *external_url;
	const struct notify *notify;         /* the Alertmanager push, if configured */
	const struct statefile_stats *state; /* the state file writer, if enabled */
};

/* Renders the exposition, status page, alerts and readiness into a new
 * snapshot. */
struct snapshot *results_snapshot(const struct results *r, const struct snapshot_extras *x);
const char *target_source_name(enum target_source s);

#endif
