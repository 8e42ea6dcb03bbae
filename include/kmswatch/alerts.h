/*
 * Alert evaluation: every alert of DESIGN.md's table, over the results store
 * and each (target, product)'s count history, with a lifecycle per alert
 * (starts, keeps firing, resolves; startsAt and endsAt). Pure: the caller
 * passes the time and gets back what changed; rendering to JSON and the
 * exposition happen elsewhere.
 */
#ifndef KMSWATCH_ALERTS_H
#define KMSWATCH_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmswatch/diagnosis.h"
#include "kmswatch/results.h"

#define ALERT_MAX_LABELS 5 /* identifying labels: domain, resolver, host, port, product */

struct alert_label {
	const char *name; /* static */
	char *value;      /* owned */
};

struct alert {
	enum diag_alert kind;
	char *fingerprint; /* alertname and identifying labels; the alert's identity */
	struct alert_label labels[ALERT_MAX_LABELS];
	size_t n_labels;
	struct diag_text text;
	int64_t starts_at_ms;
	int64_t ends_at_ms; /* 0 while firing */
	bool restored;      /* carried over from the state file, not yet re-evaluated */
	bool seen;          /* evaluation bookkeeping */
};

struct alerts {
	struct alert *a;
	size_t n;
	size_t cap;
	uint64_t generation; /* bumped whenever an alert starts or resolves */
};

struct alerts_input {
	const struct results *res;
	int64_t now_ms;   /* wall clock */
	int64_t start_ms; /* when the agent started: staleness counts from here at most */
	/* True once fresh data covers every alert kind (the first activation
	 * round after the start has completed); until then alerts restored from
	 * the state file keep firing even when the data at hand does not show
	 * them, so a restart does not resolve what it merely cannot see yet. */
	bool settled;
};

/* alerts.c */
void alerts_init(struct alerts *al);
void alerts_free(struct alerts *al);
/* Re-evaluates every alert; returns true when an alert started or resolved. */
bool alerts_evaluate(struct alerts *al, const struct alerts_input *in);
/* Adds an alert restored from the state file (firing since starts_at_ms). */
void alerts_restore(struct alerts *al, const char *fingerprint, int64_t starts_at_ms);
/* Drops resolved alerts older than retention_ms. */
void alerts_expire(struct alerts *al, int64_t now_ms, uint64_t retention_ms);
size_t alerts_firing(const struct alerts *al);
/* The fingerprint of kind with the given identifying labels (NULL values are
 * left out); malloc'd. */
char *alerts_fingerprint(enum diag_alert kind, const struct alert_label *labels, size_t n);

#endif
