/*
 * Alert evaluation; see alerts.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmswatch/alerts.h"
#include "kmswatch/log.h"
#include "kmswatch/xmalloc.h"

/* One evaluation's findings before they are merged into the alert set. */
struct candidates {
	struct alert *a;
	size_t n;
	size_t cap;
};

void
alerts_init(struct alerts *al)
{
	memset(al, 0, sizeof(*al));
}

static void
alert_clear(struct alert *a)
{
	free(a->fingerprint);
	for (size_t i = 0; i < a->n_labels; i++)
		free(a->labels[i].value);
	memset(a, 0, sizeof(*a));
}

void
alerts_free(struct alerts *al)
{
	for (size_t i = 0; i < al->n; i++)
		alert_clear(&al->a[i]);
	free(al->a);
	memset(al, 0, sizeof(*al));
}

char *
alerts_fingerprint(enum diag_alert kind, const struct alert_label *labels, size_t n)
{
	struct buf b;
	buf_init(&b, 64 * 1024);
	buf_puts(&b, diag_alert_name(kind));
	for (size_t i = 0; i < n; i++)
		if (labels[i].value != NULL)
			buf_printf(&b, "|%s=%s", labels[i].name, labels[i].value);
	char *fp = (char *)buf_steal(&b, NULL);
	if (fp == NULL)
		fatal("alerts");
	return fp;
}

static int
alert_cmp(const void *a, const void *b)
{
	return strcmp(((const struct alert *)a)->fingerprint,
	              ((const struct alert *)b)->fingerprint);
}

/* Records one firing instance. Label values are copied. */
static void
candidate_add(struct candidates *c, enum diag_alert kind, const struct alert_label *labels,
              size_t n, const char *code_hint, const struct diag_vars *v)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->a = xreallocarray(c->a, c->cap, sizeof(*c->a));
	}
	struct alert *a = &c->a[c->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	for (size_t i = 0; i < n && a->n_labels < ALERT_MAX_LABELS; i++)
		if (labels[i].value != NULL)
			a->labels[a->n_labels++] =
			    (struct alert_label){labels[i].name, xstrdup(labels[i].value)};
	a->fingerprint = alerts_fingerprint(kind, a->labels, a->n_labels);
	diag_describe(kind, code_hint, v, &a->text);
}

static void
vars_init(struct diag_vars *v)
{
	memset(v, 0, sizeof(*v));
	v->count = v->required = v->margin = v->max = v->drop_min = v->hosts = v->max_hosts = -1;
}

static const char *
dns_code_hint(enum dns_result r)
{
	return r == DNS_NXDOMAIN ? "0x8007232B" : r == DNS_NODATA ? "0x8007251D" : NULL;
}

static int
target_key_cmp(const void *a, const void *b)
{
	const struct target *x = a, *y = b;
	int c = strcmp(x->host, y->host);
	if (c != 0)
		return c;
	return x->port < y->port ? -1 : x->port > y->port ? 1 : 0;
}

static const struct target *
find_target(const struct results *r, const char *host, uint16_t port)
{
	struct target key = {.host = (char *)(uintptr_t)host, .port = port};
	if (r->n_targets == 0)
		return NULL;
	return bsearch(&key, r->targets, r->n_targets, sizeof(key), target_key_cmp);
}

static void
evaluate_dns(struct candidates *c, const struct results *r)
{
	const struct config *cfg = r->cfg;
	for (size_t d = 0; d < cfg->n_domains; d++) {
		const char *domain = cfg->domains[d];
		for (size_t v = 0; v < cfg->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * cfg->n_resolvers + v];
			if (!s->have || s->result == DNS_OK)
				continue;
			struct alert_label l[] = {{"domain", (char *)(uintptr_t)domain},
			                          {"resolver", cfg->resolvers[v].name}};
			struct diag_vars vars;
			vars_init(&vars);
			vars.domain = domain;
			vars.resolver = cfg->resolvers[v].name;
			vars.result = dns_result_name(s->result);
			bool missing = s->result == DNS_NXDOMAIN || s->result == DNS_NODATA;
			candidate_add(c, missing ? DIAG_NO_SRV_RECORDS : DIAG_DNS_FAILURE, l, 2,
			              dns_code_hint(s->result), &vars);
		}
		if (!results_srv_consistent(r, d)) {
			struct alert_label l[] = {{"domain", (char *)(uintptr_t)domain}};
			struct diag_vars vars;
			vars_init(&vars);
			vars.domain = domain;
			candidate_add(c, DIAG_SRV_INCONSISTENT, l, 1, NULL, &vars);
		}

		/* The domain's hosts: every target any resolver last published. */
		size_t hosts = 0, failing = 0, checked = 0;
		struct srv_entry *seen = NULL;
		size_t n_seen = 0;
		for (size_t v = 0; v < cfg->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * cfg->n_resolvers + v];
			for (size_t k = 0; k < s->n_known; k++) {
				bool dup = false;
				for (size_t j = 0; j < n_seen && !dup; j++)
					dup = seen[j].port == s->known[k].port &&
					      strcmp(seen[j].target, s->known[k].target) == 0;
				if (dup)
					continue;
				seen = xreallocarray(seen, n_seen + 1, sizeof(*seen));
				seen[n_seen++] = s->known[k];
				hosts++;
				const struct target *t =
				    find_target(r, s->known[k].target, s->known[k].port);
				if (t != NULL && t->checked) {
					checked++;
					if (t->tcp.tcp != PROBE_TCP_OK)
						failing++;
				}
			}
		}
		free(seen);
		if (hosts > 0 && checked == hosts && failing == hosts) {
			struct alert_label l[] = {{"domain", (char *)(uintptr_t)domain}};
			struct diag_vars vars;
			vars_init(&vars);
			vars.domain = domain;
			vars.hosts = (long long)hosts;
			candidate_add(c, DIAG_NO_HOST_REACHABLE, l, 1, NULL, &vars);
		}
		if (cfg->alerts.max_hosts > 0 && hosts > cfg->alerts.max_hosts) {
			struct alert_label l[] = {{"domain", (char *)(uintptr_t)domain}};
			struct diag_vars vars;
			vars_init(&vars);
			vars.domain = domain;
			vars.hosts = (long long)hosts;
			vars.max_hosts = cfg->alerts.max_hosts;
			candidate_add(c, DIAG_TOO_MANY_HOSTS, l, 1, NULL, &vars);
		}
	}
}

static void
unreachable_add(struct candidates *c, const struct target *t, const char *domain)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)t->port);
	struct alert_label l[] = {
	    {"domain", (char *)(uintptr_t)domain}, {"host", t->host}, {"port", port}};
	struct diag_vars vars;
	vars_init(&vars);
	vars.domain = domain;
	vars.host = t->host;
	vars.port = port;
	vars.result = probe_tcp_result_name(t->tcp.tcp);
	vars.detail = t->tcp.address[0] ? t->tcp.address : NULL;
	candidate_add(c, DIAG_HOST_UNREACHABLE, l, 3,
	              t->tcp.tcp == PROBE_TCP_TIMEOUT ? "0xC004F039" : "0x800706BA", &vars);
}

/* One KMSHostUnreachable per domain whose records name the host (so that
 * Alertmanager can let KMSNoHostReachable of that domain silence it), and
 * one without a domain for a host no domain publishes (a static host). */
static void
evaluate_targets(struct candidates *c, const struct results *r)
{
	const struct config *cfg = r->cfg;
	bool *published = xcalloc(r->n_targets, sizeof(*published));
	for (size_t d = 0; d < cfg->n_domains; d++)
		for (size_t v = 0; v < cfg->n_resolvers; v++) {
			const struct srv_state *s = &r->srv[d * cfg->n_resolvers + v];
			for (size_t k = 0; k < s->n_known; k++) {
				const struct target *t =
				    find_target(r, s->known[k].target, s->known[k].port);
				if (t == NULL)
					continue;
				published[t - r->targets] = true;
				if (t->checked && t->tcp.tcp != PROBE_TCP_OK)
					unreachable_add(c, t, cfg->domains[d]);
			}
		}
	for (size_t i = 0; i < r->n_targets; i++) {
		const struct target *t = &r->targets[i];
		if (!published[i] && t->checked && t->tcp.tcp != PROBE_TCP_OK)
			unreachable_add(c, t, NULL);
	}
	free(published);
}

static void
format_time(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
evaluate_kms(struct candidates *c, const struct results *r, const struct alerts_input *in)
{
	const struct config *cfg = r->cfg;
	const struct config_alerts *ac = &cfg->alerts;
	char window[32];
	config_format_duration(ac->drop_window_ms, window, sizeof(window));
	/* A host whose key changed is one alert, whatever the number of products. */
	const char *key_host = NULL;
	uint16_t key_port = 0;

	for (size_t i = 0; i < r->n_kms; i++) {
		const struct kms_state *k = &r->kms[i];
		if (find_target(r, k->host, k->port) == NULL || k->product_index >= cfg->n_products)
			continue;
		const struct config_product *p = &cfg->products[k->product_index];
		char port[8], last[32] = "";
		snprintf(port, sizeof(port), "%u", (unsigned)k->port);
		if (k->last_success_ms > 0)
			format_time(k->last_success_ms, last, sizeof(last));
		struct alert_label l[] = {
		    {"host", k->host}, {"port", port}, {"product", k->product}};
		struct diag_vars v;
		vars_init(&v);
		v.host = k->host;
		v.port = port;
		v.product = k->product;
		v.required = p->required_count;
		v.margin = ac->count_margin;
		v.window = window;
		v.drop_min = ac->drop_min;
		v.drop_ratio = ac->drop_ratio;
		v.last_success = last[0] ? last : NULL;
		if (k->checked) {
			v.result = probe_kms_result_name(k->out.kms);
			v.detail = k->out.detail[0] ? k->out.detail : NULL;
		}

		if (k->checked) {
			switch (k->out.kms) {
			case PROBE_KMS_HOST_NOT_ACTIVATED:
				candidate_add(c, DIAG_HOST_NOT_ACTIVATED, l, 3, NULL, &v);
				break;
			case PROBE_KMS_PRODUCT_NOT_COVERED:
				candidate_add(c, DIAG_PRODUCT_NOT_COVERED, l, 3, NULL, &v);
				break;
			case PROBE_KMS_CLOCK_SKEW:
				candidate_add(c, DIAG_CLOCK_SKEW, l, 3, NULL, &v);
				break;
			default:
				break;
			}
			if (k->outdated)
				candidate_add(c, DIAG_HOST_OUTDATED, l, 3, NULL, &v);
		}

		/* Counts: the latest known, from this run or the state file. */
		if (k->hist.have_last) {
			uint32_t count = k->hist.last, max = 0;
			v.count = count;
			if (count < p->required_count)
				candidate_add(c, DIAG_COUNT_BELOW_THRESHOLD, l, 3, NULL, &v);
			else if (ac->count_margin > 0 &&
			         count < (uint64_t)p->required_count + ac->count_margin)
				candidate_add(c, DIAG_COUNT_NEAR_THRESHOLD, l, 3, NULL, &v);
			if (history_max(&k->hist, in->now_ms, &max) && max > count) {
				uint32_t drop = max - count;
				bool by_min = ac->drop_min > 0 && drop >= ac->drop_min;
				/* "At least ratio" must hold at the boundary too: 10 to 2
				 * is a fall of exactly 80 %, which binary fractions alone
				 * would miss by a rounding error. */
				bool by_ratio =
				    ac->drop_ratio > 0 &&
				    (double)drop / (double)max + 1e-13 >= ac->drop_ratio;
				if (by_min || by_ratio) {
					v.max = max;
					candidate_add(c, DIAG_COUNT_DROPPED, l, 3, NULL, &v);
				}
			}
		}

		if (k->epid_changed_ms > 0 &&
		    in->now_ms - k->epid_changed_ms < (int64_t)ac->drop_window_ms &&
		    (key_host == NULL || strcmp(key_host, k->host) != 0 || key_port != k->port)) {
			key_host = k->host;
			key_port = k->port;
			struct diag_vars kv = v;
			kv.product = NULL;
			kv.old_epid = k->prev_epid;
			kv.new_epid = k->epid;
			candidate_add(c, DIAG_HOST_KEY_CHANGED, l, 2, NULL, &kv);
		}

		/* Staleness counts from the last success or, at most, from the
		 * start: a target the agent has not tried yet is not stale. */
		int64_t since =
		    k->last_success_ms > in->start_ms ? k->last_success_ms : in->start_ms;
		int64_t limit = (int64_t)ac->stale_after * (int64_t)cfg->probe_interval_ms;
		if (k->checked && k->out.kms != PROBE_KMS_OK && in->now_ms - since > limit) {
			struct diag_outcome o;
			diag_kms(k->out.kms, k->out.hresult, &o);
			candidate_add(c, DIAG_PROBE_STALE, l, 3, o.code[0] ? o.code : NULL, &v);
		}
	}
}

bool
alerts_evaluate(struct alerts *al, const struct alerts_input *in)
{
	struct candidates c = {0};
	evaluate_dns(&c, in->res);
	evaluate_targets(&c, in->res);
	evaluate_kms(&c, in->res, in);
	if (c.n > 1)
		qsort(c.a, c.n, sizeof(*c.a), alert_cmp);
	/* The same instance found twice (a host key change seen through two
	 * products of one host, say) counts once. */
	size_t u = 0;
	for (size_t k = 0; k < c.n; k++) {
		if (u > 0 && alert_cmp(&c.a[u - 1], &c.a[k]) == 0) {
			alert_clear(&c.a[k]);
			continue;
		}
		c.a[u++] = c.a[k];
	}
	c.n = u;

	/* Merge the sorted candidates into the sorted alert set. */
	struct alert *out = xreallocarray(NULL, al->n + c.n, sizeof(*out));
	size_t n = 0, i = 0, j = 0;
	bool changed = false;
	while (i < al->n || j < c.n) {
		int cmp = i == al->n ? 1 : j == c.n ? -1 : alert_cmp(&al->a[i], &c.a[j]);
		if (cmp < 0) {
			struct alert *a = &al->a[i++];
			if (a->ends_at_ms == 0 && !(a->restored && !in->settled)) {
				a->ends_at_ms = in->now_ms;
				a->restored = false;
				changed = true;
			}
			out[n++] = *a;
		} else if (cmp > 0) {
			struct alert *a = &c.a[j++];
			a->starts_at_ms = in->now_ms;
			changed = true;
			out[n++] = *a;
		} else {
			struct alert *old = &al->a[i++];
			struct alert *a = &c.a[j++];
			if (old->ends_at_ms != 0) {
				a->starts_at_ms = in->now_ms;
				changed = true;
			} else {
				a->starts_at_ms = old->starts_at_ms;
			}
			alert_clear(old);
			out[n++] = *a;
		}
	}
	free(al->a);
	free(c.a);
	al->a = out;
	al->n = n;
	al->cap = n;
	if (changed)
		al->generation++;
	return changed;
}

void
alerts_restore(struct alerts *al, const char *fingerprint, int64_t starts_at_ms)
{
	const char *bar = strchr(fingerprint, '|');
	size_t len = bar ? (size_t)(bar - fingerprint) : strlen(fingerprint);
	char name[64];
	enum diag_alert kind;
	if (len >= sizeof(name))
		return;
	memcpy(name, fingerprint, len);
	name[len] = '\0';
	if (diag_alert_parse(name, &kind) == -1) {
		log_warnx("state file: unknown alert %s dropped", name);
		return;
	}
	struct alert a;
	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.fingerprint = xstrdup(fingerprint);
	a.starts_at_ms = starts_at_ms;
	a.restored = true;
	/* Labels come back from the fingerprint until the alert is evaluated
	 * again: "|name=value" pairs after the alert name. */
	const char *p = bar;
	while (p != NULL && a.n_labels < ALERT_MAX_LABELS) {
		const char *eq = strchr(p + 1, '=');
		const char *next = strchr(p + 1, '|');
		if (eq == NULL || (next != NULL && eq > next))
			break;
		static const char *const known[] = {"domain", "resolver", "host", "port",
		                                    "product"};
		const char *lname = NULL;
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strlen(known[k]) == (size_t)(eq - p - 1) &&
			    strncmp(known[k], p + 1, (size_t)(eq - p - 1)) == 0)
				lname = known[k];
		if (lname == NULL)
			break;
		size_t vlen = next ? (size_t)(next - eq - 1) : strlen(eq + 1);
		char *value = strndup(eq + 1, vlen);
		if (value == NULL)
			fatal("alerts");
		a.labels[a.n_labels++] = (struct alert_label){lname, value};
		p = next;
	}
	struct diag_vars v;
	vars_init(&v);
	for (size_t k = 0; k < a.n_labels; k++) {
		if (strcmp(a.labels[k].name, "domain") == 0)
			v.domain = a.labels[k].value;
		else if (strcmp(a.labels[k].name, "resolver") == 0)
			v.resolver = a.labels[k].value;
		else if (strcmp(a.labels[k].name, "host") == 0)
			v.host = a.labels[k].value;
		else if (strcmp(a.labels[k].name, "port") == 0)
			v.port = a.labels[k].value;
		else
			v.product = a.labels[k].value;
	}
	diag_describe(kind, NULL, &v, &a.text);

	/* Insert in order; a duplicate fingerprint keeps the earlier start. */
	struct alert *found = al->n ? bsearch(&a, al->a, al->n, sizeof(a), alert_cmp) : NULL;
	if (found != NULL) {
		if (starts_at_ms < found->starts_at_ms)
			found->starts_at_ms = starts_at_ms;
		alert_clear(&a);
		return;
	}
	if (al->n == al->cap) {
		al->cap = al->cap ? al->cap * 2 : 16;
		al->a = xreallocarray(al->a, al->cap, sizeof(*al->a));
	}
	size_t pos = 0;
	while (pos < al->n && alert_cmp(&al->a[pos], &a) < 0)
		pos++;
	memmove(&al->a[pos + 1], &al->a[pos], (al->n - pos) * sizeof(*al->a));
	al->a[pos] = a;
	al->n++;
}

void
alerts_expire(struct alerts *al, int64_t now_ms, uint64_t retention_ms)
{
	size_t k = 0;
	for (size_t i = 0; i < al->n; i++) {
		struct alert *a = &al->a[i];
		if (a->ends_at_ms != 0 && now_ms - a->ends_at_ms > (int64_t)retention_ms) {
			alert_clear(a);
			continue;
		}
		al->a[k++] = *a;
	}
	al->n = k;
}

size_t
alerts_firing(const struct alerts *al)
{
	size_t n = 0;
	for (size_t i = 0; i < al->n; i++)
		if (al->a[i].ends_at_ms == 0)
			n++;
	return n;
}
