/*
 * The results store and its rendering; see results.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/alertjson.h"
#include "kmswatch/alerts.h"
#include "kmswatch/epid.h"
#include "kmswatch/expo.h"
#include "kmswatch/log.h"
#include "kmswatch/xmalloc.h"
#include "kmswatch/loop.h"
#include "kmswatch/notify.h"
#include "kmswatch/results.h"
#include "kmswatch/statefile.h"

/* Caps what one rendering may take; far above what the configured limits
 * (domains, resolvers, 1024 records a lookup) can produce. */
#define RESULTS_MAX_RENDER (256u * 1024 * 1024)

static const char *const source_names[TARGET_SOURCE_COUNT] = {"srv", "static"};
static const char *const kind_names[PROBE_KIND_COUNT] = {"srv", "connect", "kms"};
static const size_t kind_results[PROBE_KIND_COUNT] = {DNS_RESULT_COUNT, PROBE_TCP_RESULT_COUNT,
                                                      PROBE_KMS_RESULT_COUNT};

static const char *
kind_result_name(int kind, size_t v)
{
	switch (kind) {
	case PROBE_KIND_SRV:
		return dns_result_name((enum dns_result)v);
	case PROBE_KIND_CONNECT:
		return probe_tcp_result_name((enum probe_tcp_result)v);
	default:
		return probe_kms_result_name((enum probe_kms_result)v);
	}
}

const char *
target_source_name(enum target_source s)
{
	return s < TARGET_SOURCE_COUNT ? source_names[s] : "unknown";
}

static void
entries_free(struct srv_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].target);
	free(e);
}

static void
srv_state_clear(struct srv_state *s)
{
	entries_free(s->recs, s->n);
	entries_free(s->known, s->n_known);
	memset(s, 0, sizeof(*s));
}

static void
target_clear(struct target *t)
{
	free(t->host);
	memset(t, 0, sizeof(*t));
}

static void
kms_clear(struct kms_state *k)
{
	free(k->host);
	free(k->product);
	free(k->epid);
	free(k->prev_epid);
	memset(k, 0, sizeof(*k));
}

struct results *
results_new(const struct config *cfg)
{
	struct results *r = xcalloc(1, sizeof(*r));
	r->stats.start_time = loop_wall_time();
	r->stats.last_reload_ok = true;
	r->stats.last_reload_success = r->stats.start_time;
	r->cfg = cfg;
	r->srv = xcalloc(cfg->n_domains * cfg->n_resolvers, sizeof(*r->srv));
	results_rebuild_targets(r);
	return r;
}

void
results_free(struct results *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->cfg->n_domains * r->cfg->n_resolvers; i++)
		srv_state_clear(&r->srv[i]);
	free(r->srv);
	for (size_t i = 0; i < r->n_targets; i++)
		target_clear(&r->targets[i]);
	free(r->targets);
	for (size_t i = 0; i < r->n_kms; i++)
		kms_clear(&r->kms[i]);
	free(r->kms);
	persist_state_free(&r->restore);
	free(r->restore_taken);
	free(r);
}

static ssize_t
index_of(char *const *list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return (ssize_t)i;
	return -1;
}

static ssize_t
resolver_index(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_resolvers; i++)
		if (strcmp(c->resolvers[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

void
results_configure(struct results *r, const struct config *cfg)
{
	const struct config *old = r->cfg;
	struct srv_state *srv = xcalloc(cfg->n_domains * cfg->n_resolvers, sizeof(*srv));
	for (size_t d = 0; d < old->n_domains; d++) {
		ssize_t nd = index_of(cfg->domains, cfg->n_domains, old->domains[d]);
		for (size_t v = 0; v < old->n_resolvers; v++) {
			struct srv_state *s = &r->srv[d * old->n_resolvers + v];
			ssize_t nv = resolver_index(cfg, old->resolvers[v].name);
			if (nd >= 0 && nv >= 0) {
				srv[(size_t)nd * cfg->n_resolvers + (size_t)nv] = *s;
				memset(s, 0, sizeof(*s));
			} else {
				srv_state_clear(s);
			}
		}
	}
	free(r->srv);
	r->srv = srv;
	r->cfg = cfg;
	results_rebuild_targets(r);
	results_rebuild_kms(r);
}

struct srv_state *
results_srv(struct results *r, size_t domain, size_t resolver)
{
	return &r->srv[domain * r->cfg->n_resolvers + resolver];
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct srv_entry *x = a, *y = b;
	int c = strcmp(x->target, y->target);
	if (c != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	return 0;
}

/* Copies records sorted and without exact duplicates. */
static struct srv_entry *
entries_copy(const struct dns_srv *recs, size_t n, size_t *out_n)
{
	struct srv_entry *e = xcalloc(n, sizeof(*e));
	for (size_t i = 0; i < n; i++)
		e[i] = (struct srv_entry){.target = xstrdup(recs[i].target),
		                          .port = recs[i].port,
		                          .priority = recs[i].priority,
		                          .weight = recs[i].weight};
	qsort(e, n, sizeof(*e), entry_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && entry_cmp(&e[k - 1], &e[i]) == 0) {
			free(e[i].target);
			continue;
		}
		e[k++] = e[i];
	}
	*out_n = k;
	return e;
}

static bool
result_definitive(enum dns_result res)
{
	return res == DNS_OK || res == DNS_NODATA || res == DNS_NXDOMAIN;
}

void
results_set_srv(struct results *r, size_t domain, size_t resolver, enum dns_result res,
                const struct dns_srv *recs, size_t n, uint64_t duration_us)
{
	struct srv_state *s = results_srv(r, domain, resolver);
	entries_free(s->recs, s->n);
	s->recs = NULL;
	s->n = 0;
	s->have = true;
	s->result = res;
	s->duration_s = (double)duration_us / 1e6;
	if (res == DNS_OK)
		s->recs = entries_copy(recs, n, &s->n);
	if (result_definitive(res)) {
		entries_free(s->known, s->n_known);
		s->known = NULL;
		s->n_known = 0;
		if (res == DNS_OK)
			s->known = entries_copy(recs, n, &s->n_known);
	}
	if (res < DNS_RESULT_COUNT)
		r->stats.probes_total[PROBE_KIND_SRV][res]++;
}

/* Same targets (host and port) in two sorted record lists. */
static bool
entries_same_targets(const struct srv_entry *a, size_t na, const struct srv_entry *b, size_t nb)
{
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		/* Records differing only in priority or weight name the same
		 * target: KMS clients ignore both. */
		while (i + 1 < na && strcmp(a[i].target, a[i + 1].target) == 0 &&
		       a[i].port == a[i + 1].port)
			i++;
		while (j + 1 < nb && strcmp(b[j].target, b[j + 1].target) == 0 &&
		       b[j].port == b[j + 1].port)
			j++;
		if (i == na || j == nb)
			return false;
		if (strcmp(a[i].target, b[j].target) != 0 || a[i].port != b[j].port)
			return false;
		i++;
		j++;
	}
	return true;
}

bool
results_srv_consistent(const struct results *r, size_t domain)
{
	const struct srv_state *first = NULL;
	for (size_t v = 0; v < r->cfg->n_resolvers; v++) {
		const struct srv_state *s = &r->srv[domain * r->cfg->n_resolvers + v];
		if (!s->have || !result_definitive(s->result))
			continue;
		if (first == NULL)
			first = s;
		else if (!entries_same_targets(first->recs, first->n, s->recs, s->n))
			return false;
	}
	return true;
}

static int
target_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c = strcmp(x->host, y->host);
	if (c != 0)
		return c;
	return x->port < y->port ? -1 : x->port > y->port ? 1 : 0;
}

static int
target_build_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c = target_cmp(a, b);
	if (c != 0)
		return c;
	if (x->source != y->source)
		return x->source == TARGET_STATIC ? -1 : 1;
	return x->resolver < y->resolver ? -1 : x->resolver > y->resolver ? 1 : 0;
}

void
results_rebuild_targets(struct results *r)
{
	const struct config *c = r->cfg;
	size_t cap = c->n_hosts;
	for (size_t i = 0; i < c->n_domains * c->n_resolvers; i++)
		cap += r->srv[i].n_known;
	struct target *t = xcalloc(cap, sizeof(*t));
	size_t n = 0;
	for (size_t i = 0; i < c->n_hosts; i++)
		t[n++] = (struct target){.host = xstrdup(c->hosts[i].host),
		                         .port = c->hosts[i].port,
		                         .source = TARGET_STATIC};
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			for (size_t k = 0; k < s->n_known; k++)
				t[n++] = (struct target){.host = xstrdup(s->known[k].target),
				                         .port = s->known[k].port,
				                         .source = TARGET_SRV,
				                         .resolver = v};
		}
	/* After sorting, the first entry of each host and port is the one kept:
	 * static before SRV, so a host both pinned and published keeps the source
	 * the administrator gave it, and SRV targets with the first resolver (in
	 * configuration order) that published them. */
	qsort(t, n, sizeof(*t), target_build_cmp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k > 0 && target_cmp(&t[k - 1], &t[i]) == 0) {
			target_clear(&t[i]);
			continue;
		}
		t[k++] = t[i];
	}
	n = k;
	/* Carry over the latest results of targets that remain. */
	for (size_t i = 0; i < n && r->n_targets > 0; i++) {
		struct target *old =
		    bsearch(&t[i], r->targets, r->n_targets, sizeof(*t), target_cmp);
		if (old != NULL && old->checked) {
			t[i].checked = true;
			t[i].tcp = old->tcp;
		}
	}
	for (size_t i = 0; i < r->n_targets; i++)
		target_clear(&r->targets[i]);
	free(r->targets);
	r->targets = t;
	r->n_targets = n;
}

/* The order of activation states and of the state file's series: by host,
 * port and product. */
static int
key_cmp(const char *h1, uint16_t p1, const char *r1, const char *h2, uint16_t p2, const char *r2)
{
	int c = strcmp(h1, h2);
	if (c != 0)
		return c;
	if (p1 != p2)
		return p1 < p2 ? -1 : 1;
	return strcmp(r1, r2);
}

static int
kms_cmp(const void *a, const void *b)
{
	const struct kms_state *x = a, *y = b;
	return key_cmp(x->host, x->port, x->product, y->host, y->port, y->product);
}

static int
series_cmp(const void *a, const void *b)
{
	const struct persist_series *x = a, *y = b;
	return key_cmp(x->host, x->port, x->product, y->host, y->port, y->product);
}

/* Seeds a new state from the state file, if it has the series. */
static void
results_take_restored(struct results *r, struct kms_state *k)
{
	if (r->restore.n_series == 0)
		return;
	struct persist_series key = {.host = k->host, .port = k->port, .product = k->product};
	struct persist_series *ps =
	    bsearch(&key, r->restore.series, r->restore.n_series, sizeof(key), series_cmp);
	if (ps == NULL || r->restore_taken[ps - r->restore.series])
		return;
	r->restore_taken[ps - r->restore.series] = true;
	k->hist = ps->history;
	history_set_window(&k->hist, r->cfg->alerts.drop_window_ms);
	k->epid = ps->epid;
	k->prev_epid = ps->prev_epid;
	k->epid_changed_ms = ps->epid_changed_ms;
	k->last_success_ms = ps->last_success_ms;
	ps->epid = ps->prev_epid = NULL;
}

void
results_restore(struct results *r, struct persist_state *st)
{
	persist_state_free(&r->restore);
	free(r->restore_taken);
	r->restore = *st;
	memset(st, 0, sizeof(*st));
	if (r->restore.n_series > 1)
		qsort(r->restore.series, r->restore.n_series, sizeof(*r->restore.series),
		      series_cmp);
	r->restore_taken = xcalloc(r->restore.n_series, sizeof(*r->restore_taken));
}

static struct persist_series
series_copy(const char *host, uint16_t port, const char *product, const struct history *hist,
            const char *epid, const char *prev_epid, int64_t epid_changed_ms,
            int64_t last_success_ms)
{
	return (struct persist_series){
	    .host = xstrdup(host),
	    .port = port,
	    .product = xstrdup(product),
	    .history = *hist,
	    .epid = xstrdup_or_null(epid),
	    .prev_epid = xstrdup_or_null(prev_epid),
	    .epid_changed_ms = epid_changed_ms,
	    .last_success_ms = last_success_ms,
	};
}

void
results_export(const struct results *r, struct persist_state *st)
{
	size_t n = r->n_kms + r->restore.n_series;
	memset(st, 0, sizeof(*st));
	st->series = xcalloc(n, sizeof(*st->series));
	for (size_t i = 0; i < r->n_kms; i++) {
		const struct kms_state *k = &r->kms[i];
		if (!k->hist.have_last && k->epid == NULL && k->last_success_ms == 0)
			continue;
		st->series[st->n_series++] =
		    series_copy(k->host, k->port, k->product, &k->hist, k->epid, k->prev_epid,
		                k->epid_changed_ms, k->last_success_ms);
	}
	/* Series not yet probed again keep their history until they are. */
	for (size_t i = 0; i < r->restore.n_series; i++) {
		const struct persist_series *ps = &r->restore.series[i];
		if (!r->restore_taken[i])
			st->series[st->n_series++] =
			    series_copy(ps->host, ps->port, ps->product, &ps->history, ps->epid,
			                ps->prev_epid, ps->epid_changed_ms, ps->last_success_ms);
	}
}

void
results_rebuild_kms(struct results *r)
{
	const struct config *c = r->cfg;
	size_t n = r->n_targets * c->n_products;
	struct kms_state *k = xcalloc(n, sizeof(*k));
	size_t i = 0;
	for (size_t t = 0; t < r->n_targets; t++)
		for (size_t p = 0; p < c->n_products; p++, i++) {
			k[i] = (struct kms_state){.host = xstrdup(r->targets[t].host),
			                          .port = r->targets[t].port,
			                          .product = xstrdup(c->products[p].name),
			                          .product_index = p,
			                          .resolver = r->targets[t].resolver};
		}
	qsort(k, n, sizeof(*k), kms_cmp);
	for (i = 0; i < n; i++) {
		struct kms_state *old =
		    r->n_kms > 0 ? bsearch(&k[i], r->kms, r->n_kms, sizeof(*k), kms_cmp) : NULL;
		history_init(&k[i].hist, c->alerts.drop_window_ms);
		if (old != NULL) {
			k[i].checked = old->checked;
			k[i].out = old->out;
			k[i].outdated = old->outdated;
			k[i].have_data = old->have_data;
			k[i].last = old->last;
			k[i].last_success_ms = old->last_success_ms;
			k[i].hist = old->hist;
			history_set_window(&k[i].hist, c->alerts.drop_window_ms);
			k[i].epid = old->epid;
			k[i].prev_epid = old->prev_epid;
			k[i].epid_changed_ms = old->epid_changed_ms;
			old->epid = old->prev_epid = NULL;
			continue;
		}
		results_take_restored(r, &k[i]);
	}
	for (i = 0; i < r->n_kms; i++)
		kms_clear(&r->kms[i]);
	free(r->kms);
	r->kms = k;
	r->n_kms = n;
}

void
results_set_kms(struct results *r, struct kms_state *k, const struct probe_outcome *out,
                bool outdated)
{
	k->checked = true;
	k->out = *out;
	k->outdated = outdated;
	if (out->kms == PROBE_KMS_OK) {
		int64_t now = (int64_t)(loop_wall_time() * 1000.0);
		k->have_data = true;
		k->last = out->resp;
		k->last_success_ms = now;
		history_add(&k->hist, now, out->resp.count);
		if (k->epid != NULL && strcmp(k->epid, out->resp.epid) != 0) {
			free(k->prev_epid);
			k->prev_epid = k->epid;
			k->epid = NULL;
			k->epid_changed_ms = now;
		}
		if (k->epid == NULL)
			k->epid = xstrdup(out->resp.epid);
	}
	r->stats.probes_total[PROBE_KIND_KMS][out->kms]++;
}

/* Rendering. */

#define HELP_SUFFIX                                                                                \
	" Measured by the agent's own polling; kms_agent_last_cycle_timestamp_seconds tells how "  \
	"fresh it is."

static void
render_discovery(struct expo *e, const struct results *r)
{
	const struct config *c = r->cfg;
	char port[8], prio[8], weight[8];

	expo_family(e, "kms_srv_lookup_success", EXPO_GAUGE,
	            "1 if the last _vlmcs._tcp SRV lookup of the domain on the resolver returned "
	            "records, else 0." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			if (s->have)
				expo_samplef(e, s->result == DNS_OK, "domain", c->domains[d],
				             "resolver", c->resolvers[v].name, NULL);
		}

	expo_family(
	    e, "kms_srv_lookup_result", EXPO_STATESET,
	    "Outcome of the last SRV lookup: 1 for the current state (ok, nxdomain, nodata, "
	    "servfail, refused, timeout, error)." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			if (!s->have)
				continue;
			for (int k = 0; k < DNS_RESULT_COUNT; k++)
				expo_samplef(e, s->result == (enum dns_result)k, "domain",
				             c->domains[d], "resolver", c->resolvers[v].name,
				             "result", dns_result_name((enum dns_result)k), NULL);
		}

	expo_family(e, "kms_srv_lookup_duration_seconds", EXPO_GAUGE,
	            "How long the last SRV lookup took." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			if (s->have)
				expo_samplef(e, s->duration_s, "domain", c->domains[d], "resolver",
				             c->resolvers[v].name, NULL);
		}

	expo_family(
	    e, "kms_srv_records", EXPO_GAUGE,
	    "Number of SRV records in the last answer (0 after a failed lookup)." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			if (s->have)
				expo_samplef(e, (double)s->n, "domain", c->domains[d], "resolver",
				             c->resolvers[v].name, NULL);
		}

	expo_family(
	    e, "kms_srv_record_info", EXPO_INFO,
	    "One series per SRV record in the last answer; the value is always 1." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			for (size_t k = 0; k < s->n; k++) {
				snprintf(port, sizeof(port), "%u", (unsigned)s->recs[k].port);
				snprintf(prio, sizeof(prio), "%u", (unsigned)s->recs[k].priority);
				snprintf(weight, sizeof(weight), "%u", (unsigned)s->recs[k].weight);
				expo_samplef(e, 1, "domain", c->domains[d], "resolver",
				             c->resolvers[v].name, "host", s->recs[k].target,
				             "port", port, "priority", prio, "weight", weight,
				             NULL);
			}
		}

	expo_family(e, "kms_srv_consistent", EXPO_GAUGE,
	            "1 if every resolver that answered definitively returned the same SRV targets "
	            "for the domain, else 0." HELP_SUFFIX);
	for (size_t d = 0; d < c->n_domains; d++)
		expo_samplef(e, results_srv_consistent(r, d), "domain", c->domains[d], NULL);
}

static void
render_reachability(struct expo *e, const struct results *r)
{
	char port[8];

	expo_family(
	    e, "kms_tcp_connect_success", EXPO_GAUGE,
	    "1 if the last TCP connection to the KMS host's port succeeded, else 0." HELP_SUFFIX);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		if (!t->checked)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)t->port);
		expo_samplef(e, t->tcp.tcp == PROBE_TCP_OK, "host", t->host, "port", port, "source",
		             target_source_name(t->source), NULL);
	}

	expo_family(e, "kms_tcp_connect_result", EXPO_STATESET,
	            "Outcome of the last TCP connection: 1 for the current state (ok, refused, "
	            "unreachable, timeout, resolve_failed)." HELP_SUFFIX);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		if (!t->checked)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)t->port);
		for (int k = 0; k < PROBE_TCP_RESULT_COUNT; k++)
			expo_samplef(e, t->tcp.tcp == (enum probe_tcp_result)k, "host", t->host,
			             "port", port, "result",
			             probe_tcp_result_name((enum probe_tcp_result)k), NULL);
	}

	expo_family(e, "kms_tcp_connect_duration_seconds", EXPO_GAUGE,
	            "Time to establish the last TCP connection, or until it failed." HELP_SUFFIX);
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		if (!t->checked)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)t->port);
		expo_samplef(e, t->tcp.connect_seconds, "host", t->host, "port", port, NULL);
	}
}

static const char *
license_status(const struct kms_state *k)
{
	switch (k->out.kms) {
	case PROBE_KMS_OK:
		return "licensed";
	case PROBE_KMS_HOST_NOT_ACTIVATED:
		return "not_activated";
	case PROBE_KMS_PRODUCT_NOT_COVERED:
		return "product_not_covered";
	default:
		return "unknown";
	}
}

static const char *const license_states[] = {"licensed", "not_activated", "product_not_covered",
                                             "unknown"};

#define KMS_HELP_SUFFIX                                                                            \
	" Measured by the agent's own activation probe; "                                          \
	"kms_probe_last_success_timestamp_seconds tells how fresh it is."

/* Whether a state should be shown: checked, and (for /metrics) still a
 * target of the current set. */
static bool
kms_visible(const struct results *r, const struct kms_state *k)
{
	if (!k->checked)
		return false;
	if (r == NULL)
		return true;
	struct target key = {.host = k->host, .port = k->port};
	return r->n_targets > 0 &&
	       bsearch(&key, r->targets, r->n_targets, sizeof(key), target_cmp) != NULL;
}

#define KMS_LABELS(k, port) "host", (k)->host, "port", port, "product", (k)->product

static void
render_kms(struct expo *e, const struct results *r, const struct config *c,
           const struct kms_state *ks, size_t n)
{
	char port[8];

	expo_family(e, "kms_probe_success", EXPO_GAUGE,
	            "1 if the last activation probe got a verified answer with a count from the "
	            "host, else 0." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, k->out.kms == PROBE_KMS_OK, KMS_LABELS(k, port), NULL);
	}

	expo_family(
	    e, "kms_probe_result", EXPO_STATESET,
	    "Outcome of the last activation probe: 1 for the current state (ok, "
	    "product_not_covered, host_not_activated, clock_skew, protocol_unsupported, "
	    "host_error, rpc_error, protocol_error, timeout, unreachable)." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		for (int v = 0; v < PROBE_KMS_RESULT_COUNT; v++)
			expo_samplef(e, k->out.kms == (enum probe_kms_result)v, KMS_LABELS(k, port),
			             "result", probe_kms_result_name((enum probe_kms_result)v),
			             NULL);
	}

	expo_family(e, "kms_probe_hresult", EXPO_GAUGE,
	            "HRESULT of the last activation probe as a number: 0 on success, the host's "
	            "code when it refused, else the code a client would report (0x800706BA "
	            "unreachable, 0xC004F039 no answer, 0x8007000D invalid data)." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, (double)k->out.hresult, KMS_LABELS(k, port), NULL);
	}

	expo_family(
	    e, "kms_probe_duration_seconds", EXPO_GAUGE,
	    "How long the last activation probe took, from name lookup to answer." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, k->out.duration_seconds, KMS_LABELS(k, port), NULL);
	}

	expo_family(e, "kms_probe_last_success_timestamp_seconds", EXPO_GAUGE,
	            "When the activation probe last got a verified answer (0 if never since the "
	            "agent started).");
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, (double)k->last_success_ms / 1000.0, KMS_LABELS(k, port), NULL);
	}

	expo_family(e, "kms_host_license_status", EXPO_STATESET,
	            "The host's license state for the product as its last answer shows it: 1 for "
	            "the current state (licensed, not_activated, product_not_covered, "
	            "unknown)." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		const char *now = license_status(k);
		for (size_t v = 0; v < sizeof(license_states) / sizeof(license_states[0]); v++)
			expo_samplef(e, strcmp(now, license_states[v]) == 0, KMS_LABELS(k, port),
			             "status", license_states[v], NULL);
	}

	expo_family(e, "kms_current_count", EXPO_GAUGE,
	            "The host's current count for the product's application: distinct clients in "
	            "the last 30 days, as of its last verified answer (kept while later probes "
	            "fail)." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k) || !k->have_data)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, k->last.count, KMS_LABELS(k, port), NULL);
	}

	expo_family(e, "kms_required_count", EXPO_GAUGE,
	            "The count the product needs before the host activates it (N: 25 for Windows "
	            "client editions, 5 for servers and Office).");
	for (size_t p = 0; p < c->n_products; p++)
		expo_samplef(e, c->products[p].required_count, "product", c->products[p].name,
		             NULL);

	expo_family(e, "kms_activation_interval_seconds", EXPO_GAUGE,
	            "How often a client that is not yet activated retries, as the host announces "
	            "it." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k) || !k->have_data)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, 60.0 * k->last.activation_interval, KMS_LABELS(k, port), NULL);
	}

	expo_family(
	    e, "kms_renewal_interval_seconds", EXPO_GAUGE,
	    "How often an activated client renews, as the host announces it." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k) || !k->have_data)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, 60.0 * k->last.renewal_interval, KMS_LABELS(k, port), NULL);
	}

	expo_family(e, "kms_host_info", EXPO_INFO,
	            "What the host's last answer says about it: its ePID and the OS build, "
	            "platform, host key group and language in it, its hardware id (protocol 6) and "
	            "the protocol version it answered; the value is always 1.");
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		struct epid ep;
		if (!kms_visible(r, k) || !k->have_data ||
		    epid_parse(k->last.epid, strlen(k->last.epid), &ep) == -1)
			continue;
		char build[12], platform[12], group[12], lcid[8], hwid[KMS_HWID_TEXT_SIZE] = "",
		                                                  proto[4];
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		snprintf(build, sizeof(build), "%u", (unsigned)ep.build);
		snprintf(platform, sizeof(platform), "%05u", (unsigned)ep.platform);
		snprintf(group, sizeof(group), "%05u", (unsigned)ep.key_group);
		snprintf(lcid, sizeof(lcid), "%u", (unsigned)ep.lcid);
		snprintf(proto, sizeof(proto), "%u", k->last.version);
		if (k->last.has_hwid)
			kms_hwid_format(k->last.hwid, hwid);
		const struct expo_label labels[] = {
		    {"host", k->host},      {"port", port},      {"product", k->product},
		    {"epid", k->last.epid}, {"os_build", build}, {"platform", platform},
		    {"key_group", group},   {"lcid", lcid},      {"hwid", hwid},
		    {"protocol", proto},
		};
		expo_sample(e, labels, sizeof(labels) / sizeof(labels[0]), 1);
	}

	expo_family(e, "kms_host_key_install_timestamp_seconds", EXPO_GAUGE,
	            "The date in the host's ePID (when its host key was installed or activated), "
	            "as seconds since the epoch.");
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		struct epid ep;
		int64_t when;
		if (!kms_visible(r, k) || !k->have_data ||
		    epid_parse(k->last.epid, strlen(k->last.epid), &ep) == -1 ||
		    epid_timestamp(&ep, &when) == -1)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, (double)when, KMS_LABELS(k, port), NULL);
	}

	expo_family(e, "kms_host_outdated", EXPO_GAUGE,
	            "1 if the host refused protocol 5 or 6 with 0x8007000D and the agent had to "
	            "fall back to protocol 4: the host predates Windows 8 / Server 2012 and cannot "
	            "activate newer clients." KMS_HELP_SUFFIX);
	for (size_t i = 0; i < n; i++) {
		const struct kms_state *k = &ks[i];
		if (!kms_visible(r, k))
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		expo_samplef(e, k->outdated, KMS_LABELS(k, port), NULL);
	}
}

char *
results_render_kms(const struct config *cfg, const struct kms_state *k, size_t n, size_t *len)
{
	struct buf out;
	buf_init(&out, RESULTS_MAX_RENDER);
	struct expo e;
	expo_init(&e, &out, EXPO_TEXT_004);
	render_kms(&e, NULL, cfg, k, n);
	expo_finish(&e);
	return (char *)buf_steal(&out, len);
}

static void
render_agent(struct expo *e, const struct results *r)
{
	const struct agent_stats *s = &r->stats;
	expo_family(e, "kms_agent_build_info", EXPO_INFO,
	            "Version and revision of the running kmswatch; the value is always 1.");
	expo_samplef(e, 1, "version", KMSWATCH_VERSION, "revision", KMSWATCH_REVISION, NULL);
	expo_family(e, "kms_agent_start_time_seconds", EXPO_GAUGE,
	            "When the agent started, in seconds since the epoch.");
	expo_samplef(e, s->start_time, NULL);
	expo_family(e, "kms_agent_config_last_reload_successful", EXPO_GAUGE,
	            "1 if the last configuration (re)load succeeded, else 0.");
	expo_samplef(e, s->last_reload_ok, NULL);
	expo_family(e, "kms_agent_config_last_reload_success_timestamp_seconds", EXPO_GAUGE,
	            "When the configuration was last loaded successfully.");
	expo_samplef(e, s->last_reload_success, NULL);
	expo_family(e, "kms_agent_cycle_duration_seconds", EXPO_GAUGE,
	            "How long the last complete discovery and reachability cycle took.");
	expo_samplef(e, s->cycle_duration_s, NULL);
	expo_family(e, "kms_agent_last_cycle_timestamp_seconds", EXPO_GAUGE,
	            "When the last complete cycle ended (0 before the first); compare with time() "
	            "to see how fresh the other kms_ values are.");
	expo_samplef(e, s->last_cycle_end, NULL);
	expo_family(e, "kms_agent_cycles_total", EXPO_COUNTER,
	            "Complete discovery and reachability cycles since the agent started.");
	expo_samplef(e, (double)s->cycles_total, NULL);
	expo_family(e, "kms_agent_probes_total", EXPO_COUNTER,
	            "Network checks the agent completed, by kind (srv, connect, kms) and result.");
	for (int k = 0; k < PROBE_KIND_COUNT; k++)
		for (size_t v = 0; v < kind_results[k]; v++)
			expo_samplef(e, (double)s->probes_total[k][v], "kind", kind_names[k],
			             "result", kind_result_name(k, v), NULL);
	expo_family(e, "kms_agent_probes_in_flight", EXPO_GAUGE,
	            "Network checks under way when the snapshot was taken.");
	expo_samplef(e, s->in_flight, NULL);
	size_t by_source[TARGET_SOURCE_COUNT] = {0};
	for (size_t i = 0; i < r->n_targets; i++)
		by_source[r->targets[i].source]++;
	expo_family(
	    e, "kms_agent_targets", EXPO_GAUGE,
	    "KMS hosts in the current target set, by source (srv records or static hosts).");
	for (int k = 0; k < TARGET_SOURCE_COUNT; k++)
		expo_samplef(e, (double)by_source[k], "source", source_names[k], NULL);
}

static void
render_alerts(struct expo *e, const struct snapshot_extras *x)
{
	expo_family(e, "kms_alert", EXPO_GAUGE,
	            "1 per alert the agent evaluates as firing, with its name, severity, the error "
	            "code a client would report and the labels that identify the instance "
	            "(domain, resolver, host, port, product). GET /alerts has the texts.");
	if (x->alerts != NULL)
		for (size_t i = 0; i < x->alerts->n; i++) {
			const struct alert *a = &x->alerts->a[i];
			if (a->ends_at_ms != 0)
				continue;
			struct expo_label l[3 + ALERT_MAX_LABELS];
			size_t n = 0;
			l[n++] = (struct expo_label){"alertname", diag_alert_name(a->kind)};
			l[n++] = (struct expo_label){"severity", diag_alert_severity(a->kind)};
			l[n++] = (struct expo_label){"code", a->text.code};
			for (size_t k = 0; k < a->n_labels; k++)
				l[n++] = (struct expo_label){a->labels[k].name, a->labels[k].value};
			expo_sample(e, l, n, 1);
		}
	if (x->notify != NULL) {
		struct notify_stats st;
		size_t n = notify_count(x->notify);
		expo_family(e, "kms_agent_alertmanager_notifications_total", EXPO_COUNTER,
		            "Alert batches Alertmanager accepted, by configured URL.");
		for (size_t i = 0; i < n; i++) {
			notify_get_stats(x->notify, i, &st);
			expo_samplef(e, (double)st.sent, "url", st.url, NULL);
		}
		expo_family(e, "kms_agent_alertmanager_notifications_failed_total", EXPO_COUNTER,
		            "Alert batches that failed to reach Alertmanager (they are retried).");
		for (size_t i = 0; i < n; i++) {
			notify_get_stats(x->notify, i, &st);
			expo_samplef(e, (double)st.failed, "url", st.url, NULL);
		}
		expo_family(e, "kms_agent_alertmanager_last_success_timestamp_seconds", EXPO_GAUGE,
		            "When Alertmanager last accepted a batch (0 if never).");
		for (size_t i = 0; i < n; i++) {
			notify_get_stats(x->notify, i, &st);
			expo_samplef(e, st.last_success, "url", st.url, NULL);
		}
	}
	if (x->state != NULL) {
		expo_family(e, "kms_agent_state_file_last_write_successful", EXPO_GAUGE,
		            "1 if the last write of the state file (count history, firing alerts) "
		            "succeeded.");
		expo_samplef(e, x->state->last_ok, NULL);
		expo_family(e, "kms_agent_state_file_write_failures_total", EXPO_COUNTER,
		            "Writes of the state file that failed.");
		expo_samplef(e, (double)x->state->failures, NULL);
	}
}

static char *
render_metrics(const struct results *r, const struct snapshot_extras *x, enum expo_format format,
               size_t *len)
{
	struct buf out;
	buf_init(&out, RESULTS_MAX_RENDER);
	struct expo e;
	expo_init(&e, &out, format);
	render_discovery(&e, r);
	render_reachability(&e, r);
	render_kms(&e, r, r->cfg, r->kms, r->n_kms);
	render_alerts(&e, x);
	render_agent(&e, r);
	expo_finish(&e);
	if (out.overflow)
		log_warnx("results: exposition larger than %u bytes was cut", RESULTS_MAX_RENDER);
	return (char *)buf_steal(&out, len);
}

static void
html_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			buf_puts(b, "&lt;");
			break;
		case '>':
			buf_puts(b, "&gt;");
			break;
		case '&':
			buf_puts(b, "&amp;");
			break;
		case '"':
			buf_puts(b, "&quot;");
			break;
		case '\'':
			buf_puts(b, "&#39;");
			break;
		default:
			buf_putc(b, *s);
		}
	}
}

static void
html_cell(struct buf *b, const char *s, const char *cls)
{
	buf_puts(b, cls ? "<td class=\"" : "<td>");
	if (cls) {
		buf_puts(b, cls);
		buf_puts(b, "\">");
	}
	html_escape(b, s);
	buf_puts(b, "</td>");
}

static void
render_status_alerts(struct buf *b, const struct snapshot_extras *x)
{
	size_t firing = x->alerts != NULL ? alerts_firing(x->alerts) : 0;
	buf_printf(b, "<h2>Firing alerts (%zu)</h2>\n", firing);
	if (firing == 0) {
		buf_puts(b, "<p>None.</p>\n");
		return;
	}
	buf_puts(b, "<table><tr><th>alert</th><th>severity</th><th>code</th><th>summary</th>"
	            "<th>what to do</th><th>since</th></tr>\n");
	for (size_t i = 0; i < x->alerts->n; i++) {
		const struct alert *a = &x->alerts->a[i];
		if (a->ends_at_ms != 0)
			continue;
		char since[40];
		alertjson_time(a->starts_at_ms, since, sizeof(since));
		buf_puts(b, "<tr><td><a href=\"/runbooks#");
		html_escape(b, diag_alert_anchor(a->kind));
		buf_puts(b, "\">");
		html_escape(b, diag_alert_name(a->kind));
		buf_puts(b, "</a></td>");
		html_cell(b, diag_alert_severity(a->kind),
		          strcmp(diag_alert_severity(a->kind), "critical") == 0 ? "bad" : NULL);
		html_cell(b, a->text.code, NULL);
		html_cell(b, a->text.summary, NULL);
		html_cell(b, a->text.remedy, NULL);
		html_cell(b, since, NULL);
		buf_puts(b, "</tr>\n");
	}
	buf_puts(b, "</table>\n");
}

static char *
render_status(const struct results *r, const struct snapshot_extras *x, size_t *len)
{
	const struct config *c = r->cfg;
	struct buf b;
	buf_init(&b, RESULTS_MAX_RENDER);
	buf_puts(&b,
	         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kmswatch</title>"
	         "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
	         "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
	         ".bad{background:#f8d7da}.ok{background:#d4edda}</style></head><body>\n"
	         "<h1>kmswatch</h1>\n");
	buf_printf(&b,
	           "<p>Version %s (%s). %s; %llu cycles completed. "
	           "<a href=\"/metrics\">Metrics</a></p>\n",
	           KMSWATCH_VERSION, KMSWATCH_REVISION,
	           r->stats.ready ? "Ready" : "Waiting for the first cycle",
	           (unsigned long long)r->stats.cycles_total);
	render_status_alerts(&b, x);

	buf_puts(&b, "<h2>DNS discovery (_vlmcs._tcp)</h2>\n<table><tr><th>domain</th>"
	             "<th>resolver</th><th>result</th><th>records</th><th>consistent</th></tr>\n");
	for (size_t d = 0; d < c->n_domains; d++)
		for (size_t v = 0; v < c->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * c->n_resolvers + v];
			struct buf recs;
			buf_init(&recs, 64 * 1024);
			for (size_t k = 0; k < s->n; k++)
				buf_printf(&recs, "%s%s:%u", k ? ", " : "", s->recs[k].target,
				           (unsigned)s->recs[k].port);
			buf_puts(&b, "<tr>");
			html_cell(&b, c->domains[d], NULL);
			html_cell(&b, c->resolvers[v].name, NULL);
			html_cell(&b, s->have ? dns_result_name(s->result) : "pending",
			          s->have ? (s->result == DNS_OK ? "ok" : "bad") : NULL);
			html_cell(&b, buf_str(&recs), NULL);
			html_cell(&b, results_srv_consistent(r, d) ? "yes" : "no",
			          results_srv_consistent(r, d) ? NULL : "bad");
			buf_puts(&b, "</tr>\n");
			buf_free(&recs);
		}
	buf_puts(&b, "</table>\n");

	buf_puts(&b, "<h2>KMS hosts</h2>\n<table><tr><th>host</th><th>port</th><th>source</th>"
	             "<th>TCP</th><th>address</th><th>connect time</th></tr>\n");
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		char port[8], took[32];
		snprintf(port, sizeof(port), "%u", (unsigned)t->port);
		snprintf(took, sizeof(took), "%.3f s", t->tcp.connect_seconds);
		buf_puts(&b, "<tr>");
		html_cell(&b, t->host, NULL);
		html_cell(&b, port, NULL);
		html_cell(&b, target_source_name(t->source), NULL);
		html_cell(&b, t->checked ? probe_tcp_result_name(t->tcp.tcp) : "pending",
		          t->checked ? (t->tcp.tcp == PROBE_TCP_OK ? "ok" : "bad") : NULL);
		html_cell(&b, t->checked ? t->tcp.address : "", NULL);
		html_cell(&b, t->checked ? took : "", NULL);
		buf_puts(&b, "</tr>\n");
	}
	buf_puts(&b, "</table>\n");

	buf_puts(&b, "<h2>Activation</h2>\n<table><tr><th>host</th><th>port</th><th>product</th>"
	             "<th>result</th><th>count</th><th>needed</th><th>detail</th>"
	             "<th>ePID</th></tr>\n");
	for (size_t i = 0; i < r->n_kms; i++) {
		const struct kms_state *k = &r->kms[i];
		if (!kms_visible(r, k))
			continue;
		const struct config_product *p =
		    k->product_index < c->n_products ? &c->products[k->product_index] : NULL;
		char port[8], count[16] = "", need[16] = "";
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		if (k->have_data)
			snprintf(count, sizeof(count), "%u", (unsigned)k->last.count);
		if (p != NULL)
			snprintf(need, sizeof(need), "%u", p->required_count);
		bool low = k->have_data && p != NULL && k->last.count < p->required_count;
		buf_puts(&b, "<tr>");
		html_cell(&b, k->host, NULL);
		html_cell(&b, port, NULL);
		html_cell(&b, k->product, NULL);
		html_cell(&b, probe_kms_result_name(k->out.kms),
		          k->out.kms == PROBE_KMS_OK ? "ok" : "bad");
		html_cell(&b, count, low ? "bad" : NULL);
		html_cell(&b, need, NULL);
		html_cell(&b,
		          k->outdated ? "outdated host: answered only protocol 4" : k->out.detail,
		          NULL);
		html_cell(&b, k->have_data ? k->last.epid : "", NULL);
		buf_puts(&b, "</tr>\n");
	}
	buf_puts(&b, "</table>\n</body></html>\n");
	return (char *)buf_steal(&b, len);
}

struct snapshot *
results_snapshot(const struct results *r, const struct snapshot_extras *x)
{
	static const struct snapshot_extras none;
	if (x == NULL)
		x = &none;
	struct snapshot *s = snapshot_new();
	size_t len;
	char *data;
	s->ready = r->stats.ready;
	data = render_metrics(r, x, EXPO_TEXT_004, &len);
	snapshot_body_set(&s->metrics, data, len);
	data = render_metrics(r, x, EXPO_OPENMETRICS, &len);
	snapshot_body_set(&s->openmetrics, data, len);
	data = render_status(r, x, &len);
	snapshot_body_set(&s->status, data, len);
	if (x->alerts != NULL) {
		data = alertjson_render(x->alerts, x->external_url ? x->external_url : "", false, 0,
		                        &len);
	} else {
		data = strdup("[]");
		len = 2;
		if (data == NULL)
			fatal("snapshot");
	}
	snapshot_body_set(&s->alerts, data, len);
	return s;
}
