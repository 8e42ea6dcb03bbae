/*
 * Alert evaluation over hand-built configurations and results stores, with
 * scripted time: every alert of DESIGN.md's table fires with its identifying
 * labels and code, keeps its start while firing and resolves when its
 * condition goes (count drops by min, by ratio and out of the window;
 * thresholds; staleness; DNS and reachability; the host's answers; key
 * changes); alerts restored from the state file; expiry; a large failing
 * target set; and the Alertmanager JSON rendered from the alert set.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/alertjson.h"
#include "kmswatch/alerts.h"
#include "kmswatch/config.h"
#include "kmswatch/diagnosis.h"
#include "kmswatch/dns.h"
#include "kmswatch/history.h"
#include "kmswatch/probe.h"
#include "kmswatch/results.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ITEMS    8

/* 2023-11-14T22:13:20Z: a wall clock with room on both sides. */
#define T0     INT64_C(1700000000000)
#define SECOND INT64_C(1000)
#define MINUTE (60 * SECOND)
#define HOUR   (60 * MINUTE)
#define DAY    (24 * HOUR)

#define WIN10  "windows-10-11"    /* N = 25 */
#define OFFICE "office-ltsc-2021" /* N = 5 */
#define PORT   "1688"
#define H1     "kms1.a.test"
#define H2     "kms2.a.test"
#define H3     "kms3.a.test"
#define EXT    "https://kmswatch.example.com"

/* Identifying labels in the order alerts.c gives them: domain, resolver,
 * host, port, product (NULL: absent). */
#define L_DOMAIN(d) d, NULL, NULL, NULL, NULL
#define L_DNS(d, v) d, v, NULL, NULL, NULL
#define L_HOST(h)   NULL, NULL, h, PORT, NULL
/* A host published by domain d: its KMSHostUnreachable names the domain. */
#define L_DHOST(d, h) d, NULL, h, PORT, NULL
#define L_KMS(h, p)   NULL, NULL, h, PORT, p

/*
 * A configuration built by hand: one or more domains ("a.test", "b.test", ...),
 * resolvers ("127.0.0.1:53", "127.0.0.2:53", ...), static hosts on port 1688,
 * two products, and DESIGN.md's default alert thresholds. Every string is a
 * private copy freed by tcfg_free.
 */
struct tcfg {
	struct config c;
	struct config_resolver resolvers[MAX_ITEMS];
	char *domains[MAX_ITEMS];
	struct config_target hosts[MAX_ITEMS];
	struct config_product products[2];
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	cr_assert_not_null(p);
	return p;
}

/* The alert_label value is not const: label sets of test strings. */
static char *
unconst(const char *s)
{
	return (char *)(uintptr_t)s;
}

static struct tcfg *
tcfg_new(size_t nd, size_t nr, const char *const *hosts, size_t nh)
{
	cr_assert_leq(nd, MAX_ITEMS);
	cr_assert_leq(nr, MAX_ITEMS);
	cr_assert_leq(nh, MAX_ITEMS);
	struct tcfg *t = calloc(1, sizeof(*t));
	cr_assert_not_null(t);
	t->c.interval_ms = MINUTE;
	t->c.timeout_ms = 5 * SECOND;
	t->c.concurrency = 256;
	t->c.probe_interval_ms = 15 * MINUTE;
	for (size_t i = 0; i < nd; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%c.test", (char)('a' + i));
		t->domains[i] = xstrdup(name);
	}
	for (size_t i = 0; i < nr; i++) {
		char name[64], addr[32];
		snprintf(addr, sizeof(addr), "127.0.0.%zu", i + 1);
		snprintf(name, sizeof(name), "%s:53", addr);
		t->resolvers[i] = (struct config_resolver){
		    .name = xstrdup(name), .system = false, .address = xstrdup(addr), .port = 53};
	}
	for (size_t i = 0; i < nh; i++)
		t->hosts[i] = (struct config_target){.host = xstrdup(hosts[i]), .port = 1688};
	t->products[0] = (struct config_product){
	    .name = xstrdup(WIN10), .required_count = 25, .protocol = 6, .preset = true};
	t->products[1] = (struct config_product){
	    .name = xstrdup(OFFICE), .required_count = 5, .protocol = 6, .preset = true};
	t->c.domains = t->domains;
	t->c.n_domains = nd;
	t->c.resolvers = t->resolvers;
	t->c.n_resolvers = nr;
	t->c.hosts = t->hosts;
	t->c.n_hosts = nh;
	t->c.products = t->products;
	t->c.n_products = ARRAY_LEN(t->products);
	t->c.alerts = (struct config_alerts){
	    .drop_min = 5,
	    .drop_ratio = 0.2,
	    .drop_window_ms = (uint64_t)DAY,
	    .count_margin = 5,
	    .max_hosts = 0,
	    .stale_after = 3,
	    .resend_interval_ms = (uint64_t)MINUTE,
	    .resolved_retention_ms = (uint64_t)(15 * MINUTE),
	};
	return t;
}

static void
tcfg_free(struct tcfg *t)
{
	for (size_t i = 0; i < t->c.n_domains; i++)
		free(t->domains[i]);
	for (size_t i = 0; i < t->c.n_resolvers; i++) {
		free(t->resolvers[i].name);
		free(t->resolvers[i].address);
	}
	for (size_t i = 0; i < t->c.n_hosts; i++)
		free(t->hosts[i].host);
	for (size_t i = 0; i < ARRAY_LEN(t->products); i++)
		free(t->products[i].name);
	free(t);
}

/* One test's world: configuration, results store and alert set. */
struct fx {
	struct tcfg *t;
	struct config *c;
	struct results *r;
	struct alerts al;
	int64_t start_ms;
};

static void
fx_new(struct fx *f, size_t nd, size_t nr, const char *const *hosts, size_t nh)
{
	memset(f, 0, sizeof(*f));
	f->t = tcfg_new(nd, nr, hosts, nh);
	f->c = &f->t->c;
	f->r = results_new(f->c);
	results_rebuild_kms(f->r);
	alerts_init(&f->al);
	f->start_ms = T0;
}

static void
fx_free(struct fx *f)
{
	alerts_free(&f->al);
	results_free(f->r);
	tcfg_free(f->t);
}

/* After SRV changes: the target set, then the activation probe set. */
static void
fx_rebuild(struct fx *f)
{
	results_rebuild_targets(f->r);
	results_rebuild_kms(f->r);
}

/* Changes the drop window; the histories take it over. */
static void
fx_window(struct fx *f, uint64_t window_ms)
{
	f->c->alerts.drop_window_ms = window_ms;
	results_rebuild_kms(f->r);
}

static bool
eval_at(struct fx *f, int64_t now_ms, bool settled)
{
	struct alerts_input in = {
	    .res = f->r, .now_ms = now_ms, .start_ms = f->start_ms, .settled = settled};
	return alerts_evaluate(&f->al, &in);
}

static bool
eval(struct fx *f, int64_t now_ms)
{
	return eval_at(f, now_ms, true);
}

/* SRV records on port 1688 as the adapter hands them over. */
static void
set_srv(struct results *r, size_t d, size_t v, enum dns_result res, const char *const *targets,
        size_t n)
{
	struct dns_srv recs[MAX_ITEMS];
	cr_assert_leq(n, MAX_ITEMS);
	for (size_t i = 0; i < n; i++)
		recs[i] = (struct dns_srv){
		    .target = unconst(targets[i]), .port = 1688, .priority = 0, .weight = 100};
	results_set_srv(r, d, v, res, n > 0 ? recs : NULL, n, 1000);
}

static struct target *
target_of(struct results *r, const char *host)
{
	struct target *found = NULL;
	for (size_t i = 0; i < r->n_targets && found == NULL; i++)
		if (strcmp(r->targets[i].host, host) == 0 && r->targets[i].port == 1688)
			found = &r->targets[i];
	cr_assert_not_null(found, "no target %s:1688", host);
	return found;
}

static void
set_tcp(struct results *r, const char *host, enum probe_tcp_result res)
{
	struct target *t = target_of(r, host);
	t->checked = true;
	memset(&t->tcp, 0, sizeof(t->tcp));
	t->tcp.tcp = res;
	if (res != PROBE_TCP_OK)
		snprintf(t->tcp.address, sizeof(t->tcp.address), "192.0.2.1:1688");
}

static struct kms_state *
kms_of(struct results *r, const char *host, const char *product)
{
	struct kms_state *found = NULL;
	for (size_t i = 0; i < r->n_kms && found == NULL; i++)
		if (strcmp(r->kms[i].host, host) == 0 && r->kms[i].port == 1688 &&
		    strcmp(r->kms[i].product, product) == 0)
			found = &r->kms[i];
	cr_assert_not_null(found, "no activation state %s:1688 %s", host, product);
	return found;
}

/* A completed activation probe with the given result. */
static void
set_kms(struct kms_state *k, enum probe_kms_result res, uint32_t hresult)
{
	k->checked = true;
	memset(&k->out, 0, sizeof(k->out));
	k->out.kms = res;
	k->out.hresult = hresult;
	k->out.version = 6;
}

/* A successful probe at now_ms that saw count. */
static void
probe_ok(struct kms_state *k, int64_t now_ms, uint32_t count)
{
	set_kms(k, PROBE_KMS_OK, 0);
	k->out.resp.count = count;
	k->last_success_ms = now_ms;
	history_add(&k->hist, now_ms, count);
}

/* The fingerprint of kind with these labels, through alerts_fingerprint. */
static char *
fingerprint_of(enum diag_alert kind, const char *domain, const char *resolver, const char *host,
               const char *port, const char *product)
{
	struct alert_label l[] = {{"domain", unconst(domain)},
	                          {"resolver", unconst(resolver)},
	                          {"host", unconst(host)},
	                          {"port", unconst(port)},
	                          {"product", unconst(product)}};
	char *fp = alerts_fingerprint(kind, l, ARRAY_LEN(l));
	cr_assert_not_null(fp);
	return fp;
}

/* The alert with that fingerprint, firing or resolved, or NULL. */
static struct alert *
alert_find(const struct alerts *al, enum diag_alert kind, const char *domain, const char *resolver,
           const char *host, const char *port, const char *product)
{
	char *want = fingerprint_of(kind, domain, resolver, host, port, product);
	struct alert *found = NULL;
	for (size_t i = 0; i < al->n; i++) {
		if (strcmp(al->a[i].fingerprint, want) != 0)
			continue;
		cr_assert_null(found, "fingerprint %s twice in the alert set", want);
		found = &al->a[i];
	}
	free(want);
	return found;
}

/* Firing since since_ms with that code ("" for none; NULL: not checked). */
#define FIRING(al, since, code, kind, ...)                                                         \
	expect_firing(__LINE__, al, since, code, kind, __VA_ARGS__)
/* Present, resolved at ends_ms. */
#define RESOLVED(al, ends, kind, ...) expect_resolved(__LINE__, al, ends, kind, __VA_ARGS__)
/* Not firing: absent or resolved. */
#define QUIET(al, kind, ...) expect_quiet(__LINE__, al, kind, __VA_ARGS__)

static struct alert *
expect_firing(int line, const struct alerts *al, int64_t since, const char *code,
              enum diag_alert kind, const char *domain, const char *resolver, const char *host,
              const char *port, const char *product)
{
	struct alert *a = alert_find(al, kind, domain, resolver, host, port, product);
	char *fp = fingerprint_of(kind, domain, resolver, host, port, product);
	cr_assert_not_null(a, "line %d: %s is not in the alert set", line, fp);
	cr_assert_eq(a->ends_at_ms, 0, "line %d: %s resolved at %" PRId64 ", want firing", line, fp,
	             a->ends_at_ms);
	cr_assert_eq(a->starts_at_ms, since,
	             "line %d: %s starts at %" PRId64 ", want %" PRId64 " (T0%+" PRId64 ")", line,
	             fp, a->starts_at_ms, since, since - T0);
	cr_assert_eq(a->kind, kind, "line %d: %s has kind %d", line, fp, (int)a->kind);
	if (code != NULL)
		cr_assert_str_eq(a->text.code, code, "line %d: %s has code \"%s\", want \"%s\"",
		                 line, fp, a->text.code, code);
	cr_assert_neq(a->text.summary[0], '\0', "line %d: %s has no summary", line, fp);
	free(fp);
	return a;
}

static void
expect_resolved(int line, const struct alerts *al, int64_t ends, enum diag_alert kind,
                const char *domain, const char *resolver, const char *host, const char *port,
                const char *product)
{
	struct alert *a = alert_find(al, kind, domain, resolver, host, port, product);
	char *fp = fingerprint_of(kind, domain, resolver, host, port, product);
	cr_assert_not_null(a, "line %d: %s is not in the alert set", line, fp);
	cr_assert_eq(a->ends_at_ms, ends,
	             "line %d: %s ends at %" PRId64 ", want %" PRId64 " (T0%+" PRId64 ")", line, fp,
	             a->ends_at_ms, ends, ends - T0);
	free(fp);
}

static void
expect_quiet(int line, const struct alerts *al, enum diag_alert kind, const char *domain,
             const char *resolver, const char *host, const char *port, const char *product)
{
	struct alert *a = alert_find(al, kind, domain, resolver, host, port, product);
	char *fp = fingerprint_of(kind, domain, resolver, host, port, product);
	cr_assert(a == NULL || a->ends_at_ms != 0,
	          "line %d: %s fires (since T0%+" PRId64 "), want it quiet", line, fp,
	          a != NULL ? a->starts_at_ms - T0 : 0);
	free(fp);
}

/* The labels, in order: name, value, name, value, ..., NULL. */
static void
expect_labels(const struct alert *a, const char *const *want)
{
	size_t n = 0;
	while (want[2 * n] != NULL)
		n++;
	cr_assert_eq(a->n_labels, n, "%s: %zu labels, want %zu", a->fingerprint, a->n_labels, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(a->labels[i].name, want[2 * i], "%s: label %zu is %s, want %s",
		                 a->fingerprint, i, a->labels[i].name, want[2 * i]);
		cr_assert_str_eq(a->labels[i].value, want[2 * i + 1],
		                 "%s: label %s is \"%s\", want \"%s\"", a->fingerprint,
		                 a->labels[i].name, a->labels[i].value, want[2 * i + 1]);
	}
}

/* Alerts of kind in the set; only the firing ones if firing_only. */
static size_t
count_kind(const struct alerts *al, enum diag_alert kind, bool firing_only)
{
	size_t n = 0;
	for (size_t i = 0; i < al->n; i++)
		if (al->a[i].kind == kind && (!firing_only || al->a[i].ends_at_ms == 0))
			n++;
	return n;
}

static const char *const one_host[] = {H1};
static const char *const two_hosts[] = {H1, H2};
static const char *const three_hosts[] = {H1, H2, H3};

/* KMSCountDropped */

Test(alerts, count_dropped_by_min_only)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	f.c->alerts.drop_min = 5;
	f.c->alerts.drop_ratio = 0;
	struct kms_state *w = kms_of(f.r, H1, WIN10), *o = kms_of(f.r, H1, OFFICE);

	probe_ok(w, T0, 40);
	probe_ok(o, T0, 20);
	cr_assert_not(eval(&f, T0));
	cr_assert_eq(f.al.generation, 0);

	/* 4 below the maximum (10 % and 20 %): under min, and the ratio is off. */
	probe_ok(w, T0 + 15 * MINUTE, 36);
	probe_ok(o, T0 + 15 * MINUTE, 16);
	cr_assert_not(eval(&f, T0 + 15 * MINUTE));
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, OFFICE));
	cr_assert_eq(f.al.generation, 0);

	/* 5 below (12.5 %): min. */
	probe_ok(w, T0 + 30 * MINUTE, 35);
	cr_assert(eval(&f, T0 + 30 * MINUTE));
	struct alert *a = FIRING(&f.al, T0 + 30 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, "product", WIN10, NULL});
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, OFFICE));
	cr_assert_eq(f.al.generation, 1);
	cr_assert_eq(count_kind(&f.al, DIAG_COUNT_DROPPED, false), 1);
	fx_free(&f);
}

Test(alerts, count_dropped_by_ratio_only)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	f.c->alerts.drop_min = 0;
	f.c->alerts.drop_ratio = 0.2;
	struct kms_state *w = kms_of(f.r, H1, WIN10), *o = kms_of(f.r, H1, OFFICE);

	probe_ok(w, T0, 50);
	probe_ok(o, T0, 20);
	cr_assert_not(eval(&f, T0));

	/* 18 % below: under the ratio, and a drop of 9 counts for nothing with min off. */
	probe_ok(w, T0 + 15 * MINUTE, 41);
	cr_assert_not(eval(&f, T0 + 15 * MINUTE));
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));

	/* 20 % below: 50 -> 40, and 20 -> 16 (a drop of only 4). */
	probe_ok(w, T0 + 30 * MINUTE, 40);
	probe_ok(o, T0 + 30 * MINUTE, 16);
	cr_assert(eval(&f, T0 + 30 * MINUTE));
	FIRING(&f.al, T0 + 30 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	FIRING(&f.al, T0 + 30 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, OFFICE));
	cr_assert_eq(f.al.generation, 1);
	fx_free(&f);
}

Test(alerts, count_dropped_by_either_threshold)
{
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	/* DESIGN.md's defaults: min 5, ratio 0.2. */
	struct kms_state *w1 = kms_of(f.r, H1, WIN10), *o1 = kms_of(f.r, H1, OFFICE);
	struct kms_state *w2 = kms_of(f.r, H2, WIN10), *o2 = kms_of(f.r, H2, OFFICE);
	probe_ok(w1, T0, 100);
	probe_ok(o1, T0, 20);
	probe_ok(w2, T0, 100);
	probe_ok(o2, T0, 20);
	cr_assert_not(eval(&f, T0));

	/* Smaller than both: 4 (4 %) and 3 (15 %). */
	probe_ok(w1, T0 + HOUR, 96);
	probe_ok(o1, T0 + HOUR, 17);
	/* By min only: 5 (5 %). By ratio only: 4 (20 %). */
	probe_ok(w2, T0 + HOUR, 95);
	probe_ok(o2, T0 + HOUR, 16);
	cr_assert(eval(&f, T0 + HOUR));
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, OFFICE));
	FIRING(&f.al, T0 + HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H2, WIN10));
	FIRING(&f.al, T0 + HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H2, OFFICE));
	cr_assert_eq(count_kind(&f.al, DIAG_COUNT_DROPPED, false), 2);
	fx_free(&f);
}

/*
 * "Fell by >= ratio" (config.h, DESIGN.md): a drop of exactly the ratio fires,
 * one count less does not, whatever the rounding of the ratio in binary.
 */
Test(alerts, count_dropped_ratio_boundary_is_inclusive)
{
	static const struct {
		double ratio;
		uint32_t max, count;
		bool fires;
	} cases[] = {
	    {0.2, 100, 80, true},  {0.2, 100, 81, false}, {0.5, 10, 5, true},  {0.5, 10, 6, false},
	    {0.8, 10, 2, true},    {0.8, 10, 3, false},   {0.9, 10, 1, true},  {0.56, 25, 11, true},
	    {0.56, 25, 12, false}, {0.34, 50, 33, true},  {0.3, 90, 63, true}, {0.3, 90, 64, false},
	};
	char failed[1024] = "";
	size_t n_failed = 0;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct fx f;
		fx_new(&f, 1, 1, one_host, 1);
		f.c->alerts.drop_min = 0;
		f.c->alerts.drop_ratio = cases[i].ratio;
		struct kms_state *w = kms_of(f.r, H1, WIN10);
		probe_ok(w, T0, cases[i].max);
		probe_ok(w, T0 + 15 * MINUTE, cases[i].count);
		eval(&f, T0 + 15 * MINUTE);
		struct alert *a = alert_find(&f.al, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
		bool fires = a != NULL && a->ends_at_ms == 0;
		if (fires != cases[i].fires) {
			size_t len = strlen(failed);
			snprintf(failed + len, sizeof(failed) - len,
			         "\n  ratio %g, max %u, count %u (a drop of %u): %s, want %s",
			         cases[i].ratio, (unsigned)cases[i].max, (unsigned)cases[i].count,
			         (unsigned)(cases[i].max - cases[i].count),
			         fires ? "fires" : "quiet", cases[i].fires ? "fires" : "quiet");
			n_failed++;
		}
		fx_free(&f);
	}
	cr_assert_eq(n_failed, 0, "KMSCountDropped at the ratio boundary:%s", failed);
}

Test(alerts, count_dropped_resolves_and_fires_again_with_a_new_start)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	probe_ok(w, T0, 40);
	cr_assert_not(eval(&f, T0));

	probe_ok(w, T0 + 15 * MINUTE, 30);
	cr_assert(eval(&f, T0 + 15 * MINUTE));
	FIRING(&f.al, T0 + 15 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 1);
	cr_assert_eq(alerts_firing(&f.al), 1);

	/* Nothing new: still firing, nothing changed. */
	cr_assert_not(eval(&f, T0 + 16 * MINUTE));
	FIRING(&f.al, T0 + 15 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 1);

	/* Back at the maximum: resolved at this evaluation. */
	probe_ok(w, T0 + 30 * MINUTE, 40);
	cr_assert(eval(&f, T0 + 30 * MINUTE));
	RESOLVED(&f.al, T0 + 30 * MINUTE, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 2);
	cr_assert_eq(alerts_firing(&f.al), 0);

	/* Staying resolved changes nothing, the end included. */
	cr_assert_not(eval(&f, T0 + 31 * MINUTE));
	RESOLVED(&f.al, T0 + 30 * MINUTE, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 2);

	/* A second drop is a new instance: new start, no end. */
	probe_ok(w, T0 + 45 * MINUTE, 30);
	cr_assert(eval(&f, T0 + 45 * MINUTE));
	FIRING(&f.al, T0 + 45 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 3);
	cr_assert_eq(count_kind(&f.al, DIAG_COUNT_DROPPED, false), 1);
	fx_free(&f);
}

Test(alerts, count_dropped_keeps_its_start_while_firing)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	probe_ok(w, T0, 40);
	probe_ok(w, T0 + 15 * MINUTE, 30);
	cr_assert(eval(&f, T0 + 15 * MINUTE));
	uint64_t gen = f.al.generation;
	/* Ten hours of evaluations every minute, probes every 15 minutes with
	 * counts that stay below the maximum. */
	static const uint32_t counts[] = {30, 31, 33, 35, 32};
	for (int64_t m = 16; m <= 600; m++) {
		int64_t now = T0 + m * MINUTE;
		if (m % 15 == 0)
			probe_ok(w, now, counts[(m / 15) % ARRAY_LEN(counts)]);
		cr_assert_not(eval(&f, now), "minute %" PRId64 ": something changed", m);
		FIRING(&f.al, T0 + 15 * MINUTE, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	}
	cr_assert_eq(f.al.generation, gen);
	cr_assert_eq(f.al.n, 1);
	fx_free(&f);
}

/*
 * The maximum counts for the window plus at most one bucket (history.h): a
 * bucket counts while any millisecond of it is inside (now - window, now].
 */
Test(alerts, count_dropped_resolves_when_the_maximum_leaves_the_window)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	const uint64_t window = 63 * SECOND;
	fx_window(&f, window);
	const int64_t width = (int64_t)history_bucket_ms(window);
	cr_assert_eq(width, SECOND);
	cr_assert_eq(T0 % width, 0);
	struct kms_state *w = kms_of(f.r, H1, WIN10);

	probe_ok(w, T0, 40);
	probe_ok(w, T0 + 2 * SECOND, 30);
	cr_assert(eval(&f, T0 + 2 * SECOND));
	FIRING(&f.al, T0 + 2 * SECOND, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));

	/* Inside the exact window: never forgotten early. */
	cr_assert_not(eval(&f, T0 + (int64_t)window - 1));
	FIRING(&f.al, T0 + 2 * SECOND, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	/* The last millisecond its bucket [T0, T0 + width) touches the window. */
	const int64_t last_in = T0 + width - 1 + (int64_t)window - 1;
	cr_assert_not(eval(&f, last_in));
	FIRING(&f.al, T0 + 2 * SECOND, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	/* One millisecond later the maximum is 30 and the drop is over. */
	cr_assert(eval(&f, last_in + 1));
	RESOLVED(&f.al, last_in + 1, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 2);
	fx_free(&f);
}

Test(alerts, count_dropped_window_default_tolerance)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	const uint64_t window = (uint64_t)DAY;
	const int64_t width = (int64_t)history_bucket_ms(window);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	/* Not aligned to a bucket. */
	const int64_t t1 = T0 + 12345;
	probe_ok(w, t1, 40);
	probe_ok(w, t1 + HOUR, 30);
	cr_assert(eval(&f, t1 + HOUR));
	FIRING(&f.al, t1 + HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_not(eval(&f, t1 + (int64_t)window - 1));
	FIRING(&f.al, t1 + HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	/* Past the window and the tolerance of one bucket. */
	cr_assert(eval(&f, t1 + (int64_t)window + width));
	RESOLVED(&f.al, t1 + (int64_t)window + width, DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	fx_free(&f);
}

/* KMSCountBelowThreshold, KMSCountNearThreshold */

Test(alerts, count_below_and_near_threshold)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	/* windows-10-11: N = 25, margin 5. Counts only rise, so no drop. */
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	probe_ok(w, T0, 24);
	cr_assert(eval(&f, T0));
	struct alert *a =
	    FIRING(&f.al, T0, "0xC004F038", DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, WIN10));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, "product", WIN10, NULL});
	QUIET(&f.al, DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, WIN10));
	/* The product never probed has no count, so no count alert. */
	QUIET(&f.al, DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, OFFICE));
	QUIET(&f.al, DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, OFFICE));

	/* N itself is near, not below. */
	probe_ok(w, T0 + 15 * MINUTE, 25);
	cr_assert(eval(&f, T0 + 15 * MINUTE));
	RESOLVED(&f.al, T0 + 15 * MINUTE, DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, WIN10));
	a = FIRING(&f.al, T0 + 15 * MINUTE, "", DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, WIN10));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, "product", WIN10, NULL});

	probe_ok(w, T0 + 30 * MINUTE, 29);
	cr_assert_not(eval(&f, T0 + 30 * MINUTE));
	FIRING(&f.al, T0 + 15 * MINUTE, "", DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, WIN10));

	/* N + margin is clear of both. */
	probe_ok(w, T0 + 45 * MINUTE, 30);
	cr_assert(eval(&f, T0 + 45 * MINUTE));
	RESOLVED(&f.al, T0 + 45 * MINUTE, DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, WIN10));
	cr_assert_eq(alerts_firing(&f.al), 0);
	fx_free(&f);
}

Test(alerts, count_near_threshold_off_with_margin_zero)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	f.c->alerts.count_margin = 0;
	struct kms_state *o = kms_of(f.r, H1, OFFICE);
	/* office-ltsc-2021: N = 5. */
	probe_ok(o, T0, 5);
	cr_assert_not(eval(&f, T0));
	QUIET(&f.al, DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, OFFICE));
	QUIET(&f.al, DIAG_COUNT_BELOW_THRESHOLD, L_KMS(H1, OFFICE));
	probe_ok(o, T0 + 15 * MINUTE, 4);
	cr_assert(eval(&f, T0 + 15 * MINUTE));
	FIRING(&f.al, T0 + 15 * MINUTE, "0xC004F038", DIAG_COUNT_BELOW_THRESHOLD,
	       L_KMS(H1, OFFICE));
	QUIET(&f.al, DIAG_COUNT_NEAR_THRESHOLD, L_KMS(H1, OFFICE));
	fx_free(&f);
}

/* KMSProbeStale */

Test(alerts, probe_stale_after_stale_after_intervals_from_start)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	/* 3 intervals of 15 minutes. */
	const int64_t limit = 45 * MINUTE;
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	set_kms(w, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);

	cr_assert_not(eval(&f, f.start_ms + MINUTE));
	cr_assert_not(eval(&f, f.start_ms + limit));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	cr_assert(eval(&f, f.start_ms + limit + 1));
	struct alert *a =
	    FIRING(&f.al, f.start_ms + limit + 1, "0xC004F039", DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, "product", WIN10, NULL});
	/* The other product was never probed: not stale. */
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, OFFICE));

	/* A success resolves it... */
	const int64_t ok = f.start_ms + 50 * MINUTE;
	probe_ok(w, ok, 40);
	cr_assert(eval(&f, ok));
	RESOLVED(&f.al, ok, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	/* ...and failures count again from it. */
	set_kms(w, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);
	cr_assert_not(eval(&f, ok + 15 * MINUTE));
	cr_assert_not(eval(&f, ok + limit));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	cr_assert(eval(&f, ok + limit + 1));
	FIRING(&f.al, ok + limit + 1, "0xC004F039", DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	fx_free(&f);
}

Test(alerts, probe_stale_counts_from_the_last_success_after_start)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	const int64_t limit = 45 * MINUTE, ok = f.start_ms + 2 * HOUR;
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	probe_ok(w, ok, 40);
	set_kms(w, PROBE_KMS_UNREACHABLE, PROBE_HR_RPC_UNAVAILABLE);
	cr_assert_not(eval(&f, ok + limit));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	cr_assert(eval(&f, ok + limit + 1));
	FIRING(&f.al, ok + limit + 1, "0x800706BA", DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	fx_free(&f);
}

Test(alerts, probe_stale_counts_from_start_at_most)
{
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	const int64_t limit = 45 * MINUTE;
	/* A success long before the start (from the state file), and none. */
	struct kms_state *old = kms_of(f.r, H1, WIN10), *never = kms_of(f.r, H2, WIN10);
	old->last_success_ms = f.start_ms - 10 * DAY;
	set_kms(old, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);
	set_kms(never, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);
	cr_assert_not(eval(&f, f.start_ms + limit));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H2, WIN10));
	cr_assert(eval(&f, f.start_ms + limit + 1));
	FIRING(&f.al, f.start_ms + limit + 1, "0xC004F039", DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	FIRING(&f.al, f.start_ms + limit + 1, "0xC004F039", DIAG_PROBE_STALE, L_KMS(H2, WIN10));
	fx_free(&f);
}

Test(alerts, probe_stale_only_while_the_last_probe_failed)
{
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	/* Restored from the state file but not probed since the start. */
	struct kms_state *restored = kms_of(f.r, H1, WIN10);
	restored->last_success_ms = f.start_ms - DAY;
	history_add(&restored->hist, f.start_ms - DAY, 40);
	/* Its last probe succeeded, whatever last_success_ms says. */
	struct kms_state *fine = kms_of(f.r, H2, WIN10);
	set_kms(fine, PROBE_KMS_OK, 0);
	fine->out.resp.count = 40;
	fine->last_success_ms = f.start_ms - DAY;
	cr_assert_not(eval(&f, f.start_ms + DAY));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	QUIET(&f.al, DIAG_PROBE_STALE, L_KMS(H2, WIN10));
	cr_assert_eq(f.al.n, 0);
	fx_free(&f);
}

Test(alerts, probe_stale_carries_the_last_failure_code)
{
	static const struct {
		enum probe_kms_result res;
		uint32_t hresult;
		const char *code;
	} cases[] = {
	    {PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER, "0xC004F039"},
	    {PROBE_KMS_UNREACHABLE, PROBE_HR_RPC_UNAVAILABLE, "0x800706BA"},
	    {PROBE_KMS_HOST_NOT_ACTIVATED, PROBE_HR_NOT_ACTIVATED, "0xC004F041"},
	    {PROBE_KMS_PRODUCT_NOT_COVERED, PROBE_HR_NOT_COVERED, "0xC004F042"},
	    {PROBE_KMS_CLOCK_SKEW, PROBE_HR_CLOCK_SKEW, "0xC004F06C"},
	    {PROBE_KMS_PROTOCOL_UNSUPPORTED, PROBE_HR_INVALID_DATA, "0x8007000D"},
	    /* A refusal with a state of its own is diagnosed as that state. */
	    {PROBE_KMS_HOST_ERROR, PROBE_HR_NOT_ACTIVATED, "0xC004F041"},
	    /* Failures without a client-side code of their own have none. */
	    {PROBE_KMS_PROTOCOL_ERROR, 0, ""},
	};
	const int64_t when = T0 + 45 * MINUTE + 1;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct fx f;
		fx_new(&f, 1, 1, one_host, 1);
		set_kms(kms_of(f.r, H1, WIN10), cases[i].res, cases[i].hresult);
		cr_assert(eval(&f, when), "case %zu: nothing fired", i);
		FIRING(&f.al, when, cases[i].code, DIAG_PROBE_STALE, L_KMS(H1, WIN10));
		fx_free(&f);
	}

	/* While firing, the code follows the latest failure; the start stays. */
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	set_kms(w, PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);
	cr_assert(eval(&f, when));
	set_kms(w, PROBE_KMS_UNREACHABLE, PROBE_HR_RPC_UNAVAILABLE);
	cr_assert_not(eval(&f, when + 15 * MINUTE));
	FIRING(&f.al, when, "0x800706BA", DIAG_PROBE_STALE, L_KMS(H1, WIN10));
	fx_free(&f);
}

/* Domain-level alerts */

Test(alerts, too_many_hosts)
{
	struct fx f;
	fx_new(&f, 1, 1, NULL, 0);
	set_srv(f.r, 0, 0, DNS_OK, three_hosts, 3);
	fx_rebuild(&f);
	f.c->alerts.max_hosts = 2;
	cr_assert(eval(&f, T0));
	struct alert *a = FIRING(&f.al, T0, "", DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));
	expect_labels(a, (const char *const[]){"domain", "a.test", NULL});
	cr_assert_eq(f.al.n, 1);

	/* As many as allowed: resolved. */
	f.c->alerts.max_hosts = 3;
	cr_assert(eval(&f, T0 + MINUTE));
	RESOLVED(&f.al, T0 + MINUTE, DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));

	/* 0 turns the limit off. */
	f.c->alerts.max_hosts = 0;
	cr_assert_not(eval(&f, T0 + 2 * MINUTE));
	QUIET(&f.al, DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));

	f.c->alerts.max_hosts = 2;
	cr_assert(eval(&f, T0 + 3 * MINUTE));
	FIRING(&f.al, T0 + 3 * MINUTE, "", DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));
	fx_free(&f);
}

Test(alerts, too_many_hosts_counts_each_host_once_across_resolvers)
{
	static const char *const first[] = {H1, H2}, *const second[] = {H2, H1};
	struct fx f;
	fx_new(&f, 1, 2, NULL, 0);
	f.c->alerts.max_hosts = 2;
	set_srv(f.r, 0, 0, DNS_OK, first, 2);
	set_srv(f.r, 0, 1, DNS_OK, second, 2);
	fx_rebuild(&f);
	cr_assert_not(eval(&f, T0));
	QUIET(&f.al, DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));
	/* A third host, published by one resolver only. */
	static const char *const more[] = {H3, H1, H2};
	set_srv(f.r, 0, 1, DNS_OK, more, 3);
	fx_rebuild(&f);
	cr_assert(eval(&f, T0 + MINUTE));
	FIRING(&f.al, T0 + MINUTE, "", DIAG_TOO_MANY_HOSTS, L_DOMAIN("a.test"));
	FIRING(&f.al, T0 + MINUTE, "", DIAG_SRV_INCONSISTENT, L_DOMAIN("a.test"));
	fx_free(&f);
}

Test(alerts, no_host_reachable)
{
	struct fx f;
	struct alert *a0;
	fx_new(&f, 1, 1, NULL, 0);
	set_srv(f.r, 0, 0, DNS_OK, two_hosts, 2);
	fx_rebuild(&f);

	/* Nothing checked yet. */
	cr_assert_not(eval(&f, T0));
	cr_assert_eq(f.al.n, 0);

	/* One failing, one not checked yet: not every host is known to fail. */
	set_tcp(f.r, H1, PROBE_TCP_TIMEOUT);
	cr_assert(eval(&f, T0 + MINUTE));
	QUIET(&f.al, DIAG_NO_HOST_REACHABLE, L_DOMAIN("a.test"));
	a0 = FIRING(&f.al, T0 + MINUTE, "0xC004F039", DIAG_HOST_UNREACHABLE, L_DHOST("a.test", H1));
	expect_labels(a0,
	              (const char *const[]){"domain", "a.test", "host", H1, "port", PORT, NULL});
	QUIET(&f.al, DIAG_HOST_UNREACHABLE, L_HOST(H1));

	/* Both checked and failing. */
	set_tcp(f.r, H2, PROBE_TCP_REFUSED);
	cr_assert(eval(&f, T0 + 2 * MINUTE));
	struct alert *a = FIRING(&f.al, T0 + 2 * MINUTE, "0xC004F074", DIAG_NO_HOST_REACHABLE,
	                         L_DOMAIN("a.test"));
	expect_labels(a, (const char *const[]){"domain", "a.test", NULL});
	FIRING(&f.al, T0 + 2 * MINUTE, "0x800706BA", DIAG_HOST_UNREACHABLE, L_DHOST("a.test", H2));

	/* One healthy host is enough. */
	set_tcp(f.r, H2, PROBE_TCP_OK);
	cr_assert(eval(&f, T0 + 3 * MINUTE));
	RESOLVED(&f.al, T0 + 3 * MINUTE, DIAG_NO_HOST_REACHABLE, L_DOMAIN("a.test"));
	RESOLVED(&f.al, T0 + 3 * MINUTE, DIAG_HOST_UNREACHABLE, L_DHOST("a.test", H2));
	FIRING(&f.al, T0 + MINUTE, "0xC004F039", DIAG_HOST_UNREACHABLE, L_DHOST("a.test", H1));
	fx_free(&f);
}

Test(alerts, srv_inconsistent)
{
	static const char *const one[] = {H1}, *const reordered[] = {H2, H1};
	struct fx f;
	fx_new(&f, 1, 2, NULL, 0);
	set_srv(f.r, 0, 0, DNS_OK, two_hosts, 2);
	set_srv(f.r, 0, 1, DNS_OK, reordered, 2);
	cr_assert_not(eval(&f, T0));
	QUIET(&f.al, DIAG_SRV_INCONSISTENT, L_DOMAIN("a.test"));

	set_srv(f.r, 0, 1, DNS_OK, one, 1);
	cr_assert(eval(&f, T0 + MINUTE));
	struct alert *a = FIRING(&f.al, T0 + MINUTE, "", DIAG_SRV_INCONSISTENT, L_DOMAIN("a.test"));
	expect_labels(a, (const char *const[]){"domain", "a.test", NULL});

	/* A resolver that fails has no opinion. */
	set_srv(f.r, 0, 1, DNS_SERVFAIL, NULL, 0);
	cr_assert(eval(&f, T0 + 2 * MINUTE));
	RESOLVED(&f.al, T0 + 2 * MINUTE, DIAG_SRV_INCONSISTENT, L_DOMAIN("a.test"));
	FIRING(&f.al, T0 + 2 * MINUTE, "0x8007232A", DIAG_DNS_FAILURE,
	       L_DNS("a.test", "127.0.0.2:53"));

	/* A resolver that says the name does not exist disagrees. */
	set_srv(f.r, 0, 1, DNS_NXDOMAIN, NULL, 0);
	cr_assert(eval(&f, T0 + 3 * MINUTE));
	FIRING(&f.al, T0 + 3 * MINUTE, "", DIAG_SRV_INCONSISTENT, L_DOMAIN("a.test"));
	FIRING(&f.al, T0 + 3 * MINUTE, "0x8007232B", DIAG_NO_SRV_RECORDS,
	       L_DNS("a.test", "127.0.0.2:53"));
	QUIET(&f.al, DIAG_NO_SRV_RECORDS, L_DNS("a.test", "127.0.0.1:53"));
	fx_free(&f);
}

Test(alerts, no_srv_records_codes)
{
	struct fx f;
	fx_new(&f, 1, 2, NULL, 0);
	set_srv(f.r, 0, 0, DNS_OK, one_host, 1);
	set_srv(f.r, 0, 1, DNS_NXDOMAIN, NULL, 0);
	eval(&f, T0);
	struct alert *a =
	    FIRING(&f.al, T0, "0x8007232B", DIAG_NO_SRV_RECORDS, L_DNS("a.test", "127.0.0.2:53"));
	expect_labels(a,
	              (const char *const[]){"domain", "a.test", "resolver", "127.0.0.2:53", NULL});
	QUIET(&f.al, DIAG_NO_SRV_RECORDS, L_DNS("a.test", "127.0.0.1:53"));
	QUIET(&f.al, DIAG_DNS_FAILURE, L_DNS("a.test", "127.0.0.2:53"));

	/* Still no records, now as no data: the same alert with the other code. */
	set_srv(f.r, 0, 1, DNS_NODATA, NULL, 0);
	cr_assert_not(eval(&f, T0 + MINUTE));
	FIRING(&f.al, T0, "0x8007251D", DIAG_NO_SRV_RECORDS, L_DNS("a.test", "127.0.0.2:53"));
	QUIET(&f.al, DIAG_DNS_FAILURE, L_DNS("a.test", "127.0.0.2:53"));

	set_srv(f.r, 0, 1, DNS_OK, one_host, 1);
	cr_assert(eval(&f, T0 + 2 * MINUTE));
	RESOLVED(&f.al, T0 + 2 * MINUTE, DIAG_NO_SRV_RECORDS, L_DNS("a.test", "127.0.0.2:53"));
	cr_assert_eq(alerts_firing(&f.al), 0);
	fx_free(&f);
}

Test(alerts, dns_failure_for_every_failure)
{
	static const enum dns_result failures[] = {DNS_SERVFAIL, DNS_REFUSED, DNS_TIMEOUT,
	                                           DNS_ERROR};
	for (size_t i = 0; i < ARRAY_LEN(failures); i++) {
		struct fx f;
		fx_new(&f, 2, 1, NULL, 0);
		set_srv(f.r, 0, 0, DNS_OK, one_host, 1);
		set_srv(f.r, 1, 0, failures[i], NULL, 0);
		cr_assert(eval(&f, T0), "%s: nothing fired", dns_result_name(failures[i]));
		struct alert *a = FIRING(&f.al, T0, "0x8007232A", DIAG_DNS_FAILURE,
		                         L_DNS("b.test", "127.0.0.1:53"));
		expect_labels(
		    a, (const char *const[]){"domain", "b.test", "resolver", "127.0.0.1:53", NULL});
		QUIET(&f.al, DIAG_NO_SRV_RECORDS, L_DNS("b.test", "127.0.0.1:53"));
		QUIET(&f.al, DIAG_DNS_FAILURE, L_DNS("a.test", "127.0.0.1:53"));
		cr_assert_eq(f.al.n, 1, "%s: %zu alerts", dns_result_name(failures[i]), f.al.n);

		set_srv(f.r, 1, 0, DNS_OK, one_host, 1);
		cr_assert(eval(&f, T0 + MINUTE));
		RESOLVED(&f.al, T0 + MINUTE, DIAG_DNS_FAILURE, L_DNS("b.test", "127.0.0.1:53"));
		fx_free(&f);
	}
}

Test(alerts, host_unreachable_codes)
{
	static const char *const hosts[] = {"refused.test", "unreach.test", "timeout.test",
	                                    "resolve.test", "ok.test",      "unchecked.test"};
	struct fx f;
	fx_new(&f, 1, 1, hosts, ARRAY_LEN(hosts));
	set_tcp(f.r, "refused.test", PROBE_TCP_REFUSED);
	set_tcp(f.r, "unreach.test", PROBE_TCP_UNREACHABLE);
	set_tcp(f.r, "timeout.test", PROBE_TCP_TIMEOUT);
	set_tcp(f.r, "resolve.test", PROBE_TCP_RESOLVE_FAILED);
	set_tcp(f.r, "ok.test", PROBE_TCP_OK);
	cr_assert(eval(&f, T0));
	struct alert *a =
	    FIRING(&f.al, T0, "0x800706BA", DIAG_HOST_UNREACHABLE, L_HOST("refused.test"));
	expect_labels(a, (const char *const[]){"host", "refused.test", "port", PORT, NULL});
	FIRING(&f.al, T0, "0x800706BA", DIAG_HOST_UNREACHABLE, L_HOST("unreach.test"));
	FIRING(&f.al, T0, "0xC004F039", DIAG_HOST_UNREACHABLE, L_HOST("timeout.test"));
	FIRING(&f.al, T0, "0x800706BA", DIAG_HOST_UNREACHABLE, L_HOST("resolve.test"));
	QUIET(&f.al, DIAG_HOST_UNREACHABLE, L_HOST("ok.test"));
	QUIET(&f.al, DIAG_HOST_UNREACHABLE, L_HOST("unchecked.test"));
	/* Static hosts belong to no domain. */
	QUIET(&f.al, DIAG_NO_HOST_REACHABLE, L_DOMAIN("a.test"));
	cr_assert_eq(f.al.n, 4);
	cr_assert_eq(f.al.generation, 1);

	/* Timeout turning into refused: the same instance, the new code. */
	set_tcp(f.r, "timeout.test", PROBE_TCP_REFUSED);
	cr_assert_not(eval(&f, T0 + MINUTE));
	FIRING(&f.al, T0, "0x800706BA", DIAG_HOST_UNREACHABLE, L_HOST("timeout.test"));
	fx_free(&f);
}

/* What the host answers */

Test(alerts, host_answers)
{
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	set_kms(kms_of(f.r, H1, WIN10), PROBE_KMS_HOST_NOT_ACTIVATED, PROBE_HR_NOT_ACTIVATED);
	set_kms(kms_of(f.r, H1, OFFICE), PROBE_KMS_PRODUCT_NOT_COVERED, PROBE_HR_NOT_COVERED);
	set_kms(kms_of(f.r, H2, WIN10), PROBE_KMS_CLOCK_SKEW, PROBE_HR_CLOCK_SKEW);
	/* Refused v5/v6, answered the v4 retry. */
	probe_ok(kms_of(f.r, H2, OFFICE), T0, 40);
	kms_of(f.r, H2, OFFICE)->outdated = true;
	cr_assert(eval(&f, T0));
	struct alert *a =
	    FIRING(&f.al, T0, "0xC004F041", DIAG_HOST_NOT_ACTIVATED, L_KMS(H1, WIN10));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, "product", WIN10, NULL});
	FIRING(&f.al, T0, "0xC004F042", DIAG_PRODUCT_NOT_COVERED, L_KMS(H1, OFFICE));
	FIRING(&f.al, T0, "0xC004F06C", DIAG_CLOCK_SKEW, L_KMS(H2, WIN10));
	a = FIRING(&f.al, T0, "0x8007000D", DIAG_HOST_OUTDATED, L_KMS(H2, OFFICE));
	expect_labels(a, (const char *const[]){"host", H2, "port", PORT, "product", OFFICE, NULL});
	/* Each only where it was answered. */
	cr_assert_eq(count_kind(&f.al, DIAG_HOST_NOT_ACTIVATED, false), 1);
	cr_assert_eq(count_kind(&f.al, DIAG_PRODUCT_NOT_COVERED, false), 1);
	cr_assert_eq(count_kind(&f.al, DIAG_CLOCK_SKEW, false), 1);
	cr_assert_eq(count_kind(&f.al, DIAG_HOST_OUTDATED, false), 1);
	cr_assert_eq(f.al.n, 4);
	cr_assert_eq(f.al.generation, 1);

	/* Still answering so: nothing changes. */
	cr_assert_not(eval(&f, T0 + MINUTE));

	/* All fixed at once: one change, every end the same. */
	probe_ok(kms_of(f.r, H1, WIN10), T0 + 15 * MINUTE, 40);
	probe_ok(kms_of(f.r, H1, OFFICE), T0 + 15 * MINUTE, 40);
	probe_ok(kms_of(f.r, H2, WIN10), T0 + 15 * MINUTE, 40);
	kms_of(f.r, H2, OFFICE)->outdated = false;
	cr_assert(eval(&f, T0 + 15 * MINUTE));
	cr_assert_eq(f.al.generation, 2);
	RESOLVED(&f.al, T0 + 15 * MINUTE, DIAG_HOST_NOT_ACTIVATED, L_KMS(H1, WIN10));
	RESOLVED(&f.al, T0 + 15 * MINUTE, DIAG_PRODUCT_NOT_COVERED, L_KMS(H1, OFFICE));
	RESOLVED(&f.al, T0 + 15 * MINUTE, DIAG_CLOCK_SKEW, L_KMS(H2, WIN10));
	RESOLVED(&f.al, T0 + 15 * MINUTE, DIAG_HOST_OUTDATED, L_KMS(H2, OFFICE));
	cr_assert_eq(alerts_firing(&f.al), 0);
	fx_free(&f);
}

/* KMSHostKeyChanged */

static void
set_key_change(struct kms_state *k, const char *prev, const char *now, int64_t when)
{
	free(k->epid);
	free(k->prev_epid);
	k->epid = xstrdup(now);
	k->prev_epid = xstrdup(prev);
	k->epid_changed_ms = when;
}

Test(alerts, host_key_changed_once_per_host_and_port)
{
	static const char *const old_epid = "05426-00206-556-000001-03-1033-17763.0000-2342023";
	static const char *const new_epid = "05426-00206-556-999999-03-1033-20348.0000-3142023";
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	const uint64_t window = f.c->alerts.drop_window_ms;
	const int64_t changed = T0 + HOUR;
	/* Seen through both products of H1. */
	set_key_change(kms_of(f.r, H1, WIN10), old_epid, new_epid, changed);
	set_key_change(kms_of(f.r, H1, OFFICE), old_epid, new_epid, changed);
	/* H2 has an ePID and never saw it change. */
	kms_of(f.r, H2, WIN10)->epid = xstrdup(old_epid);

	cr_assert(eval(&f, changed + MINUTE));
	struct alert *a = FIRING(&f.al, changed + MINUTE, "", DIAG_HOST_KEY_CHANGED, L_HOST(H1));
	expect_labels(a, (const char *const[]){"host", H1, "port", PORT, NULL});
	cr_assert(strstr(a->text.description, old_epid) != NULL, "%s", a->text.description);
	cr_assert(strstr(a->text.description, new_epid) != NULL, "%s", a->text.description);
	cr_assert_eq(count_kind(&f.al, DIAG_HOST_KEY_CHANGED, false), 1);
	cr_assert_eq(f.al.n, 1);

	/* Only one product of H2 sees the change: one alert as well. */
	set_key_change(kms_of(f.r, H2, OFFICE), old_epid, new_epid, changed + 2 * MINUTE);
	cr_assert(eval(&f, changed + 2 * MINUTE));
	FIRING(&f.al, changed + 2 * MINUTE, "", DIAG_HOST_KEY_CHANGED, L_HOST(H2));
	cr_assert_eq(count_kind(&f.al, DIAG_HOST_KEY_CHANGED, false), 2);

	/* Firing for the drop window after the change, then resolved. */
	cr_assert_not(eval(&f, changed + (int64_t)window - 1));
	FIRING(&f.al, changed + MINUTE, "", DIAG_HOST_KEY_CHANGED, L_HOST(H1));
	cr_assert(eval(&f, changed + (int64_t)window));
	RESOLVED(&f.al, changed + (int64_t)window, DIAG_HOST_KEY_CHANGED, L_HOST(H1));
	FIRING(&f.al, changed + 2 * MINUTE, "", DIAG_HOST_KEY_CHANGED, L_HOST(H2));
	cr_assert(eval(&f, changed + 2 * MINUTE + (int64_t)window));
	RESOLVED(&f.al, changed + 2 * MINUTE + (int64_t)window, DIAG_HOST_KEY_CHANGED, L_HOST(H2));
	fx_free(&f);
}

Test(alerts, host_key_changed_through_results_set_kms)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	struct probe_outcome out;
	memset(&out, 0, sizeof(out));
	out.kms = PROBE_KMS_OK;
	out.version = 6;
	out.resp.count = 40;
	snprintf(out.resp.epid, sizeof(out.resp.epid), "%s", "EPID-FIRST");
	results_set_kms(f.r, w, &out, false);
	cr_assert_eq(w->epid_changed_ms, 0);
	snprintf(out.resp.epid, sizeof(out.resp.epid), "%s", "EPID-SECOND");
	results_set_kms(f.r, w, &out, false);
	cr_assert_gt(w->epid_changed_ms, 0);
	cr_assert_str_eq(w->prev_epid, "EPID-FIRST");
	cr_assert_str_eq(w->epid, "EPID-SECOND");

	/* results_set_kms takes the wall clock; evaluate against it. */
	const int64_t changed = w->epid_changed_ms;
	f.start_ms = changed - MINUTE;
	cr_assert(eval(&f, changed + SECOND));
	struct alert *a = FIRING(&f.al, changed + SECOND, "", DIAG_HOST_KEY_CHANGED, L_HOST(H1));
	cr_assert(strstr(a->text.description, "EPID-FIRST") != NULL, "%s", a->text.description);
	cr_assert(strstr(a->text.description, "EPID-SECOND") != NULL, "%s", a->text.description);
	cr_assert_eq(f.al.n, 1);
	fx_free(&f);
}

/* Alerts restored from the state file */

Test(alerts, restored_alert_keeps_firing_until_settled)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	char *fp = fingerprint_of(DIAG_HOST_UNREACHABLE, L_HOST(H1));
	const int64_t since = T0 - 3 * HOUR;
	alerts_restore(&f.al, fp, since);
	cr_assert_eq(f.al.n, 1);
	cr_assert(f.al.a[0].restored);
	cr_assert_eq(alerts_firing(&f.al), 1);
	/* Its labels come back from the fingerprint. */
	expect_labels(&f.al.a[0], (const char *const[]){"host", H1, "port", PORT, NULL});
	cr_assert_neq(f.al.a[0].text.summary[0], '\0');

	/* No data yet and not settled: it keeps firing, nothing changed. */
	cr_assert_not(eval_at(&f, T0, false));
	FIRING(&f.al, since, NULL, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	cr_assert_not(eval_at(&f, T0 + MINUTE, false));
	FIRING(&f.al, since, NULL, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	cr_assert_eq(f.al.generation, 0);

	/* Settled, and the condition is not there: resolved now. */
	cr_assert(eval_at(&f, T0 + 2 * MINUTE, true));
	RESOLVED(&f.al, T0 + 2 * MINUTE, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	cr_assert_eq(f.al.generation, 1);
	cr_assert_eq(alerts_firing(&f.al), 0);
	free(fp);
	fx_free(&f);
}

Test(alerts, restored_alert_keeps_its_start_when_the_condition_fires)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	const int64_t since = T0 - 3 * HOUR;
	char *unreach = fingerprint_of(DIAG_HOST_UNREACHABLE, L_HOST(H1));
	char *dropped = fingerprint_of(DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	alerts_restore(&f.al, unreach, since);
	alerts_restore(&f.al, dropped, since - HOUR);
	cr_assert_eq(f.al.n, 2);

	/* Fresh data shows both before the first round completed. */
	set_tcp(f.r, H1, PROBE_TCP_TIMEOUT);
	struct kms_state *w = kms_of(f.r, H1, WIN10);
	probe_ok(w, T0 - 2 * HOUR, 40);
	probe_ok(w, T0, 30);
	cr_assert_not(eval_at(&f, T0, false));
	struct alert *a = FIRING(&f.al, since, "0xC004F039", DIAG_HOST_UNREACHABLE, L_HOST(H1));
	cr_assert_not(a->restored);
	FIRING(&f.al, since - HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.generation, 0);

	/* And once settled. */
	cr_assert_not(eval_at(&f, T0 + MINUTE, true));
	FIRING(&f.al, since, "0xC004F039", DIAG_HOST_UNREACHABLE, L_HOST(H1));
	FIRING(&f.al, since - HOUR, "", DIAG_COUNT_DROPPED, L_KMS(H1, WIN10));
	cr_assert_eq(f.al.n, 2);

	/* Restored, then seen fresh, then gone: resolved even unsettled. */
	set_tcp(f.r, H1, PROBE_TCP_OK);
	cr_assert(eval_at(&f, T0 + 2 * MINUTE, false));
	RESOLVED(&f.al, T0 + 2 * MINUTE, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	free(unreach);
	free(dropped);
	fx_free(&f);
}

Test(alerts, restore_settled_with_the_condition_keeps_start)
{
	struct fx f;
	fx_new(&f, 2, 1, NULL, 0);
	char *fp = fingerprint_of(DIAG_NO_SRV_RECORDS, L_DNS("b.test", "127.0.0.1:53"));
	alerts_restore(&f.al, fp, T0 - DAY);
	set_srv(f.r, 1, 0, DNS_NODATA, NULL, 0);
	cr_assert_not(eval(&f, T0));
	FIRING(&f.al, T0 - DAY, "0x8007251D", DIAG_NO_SRV_RECORDS, L_DNS("b.test", "127.0.0.1:53"));
	cr_assert_eq(f.al.n, 1);
	free(fp);
	fx_free(&f);
}

Test(alerts, restore_ignores_unknown_names_and_survives_malformed_fingerprints)
{
	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	alerts_restore(&f.al, "KMSNoSuchAlert|host=kms1.a.test|port=1688", T0);
	alerts_restore(&f.al, "kmshostunreachable|host=kms1.a.test|port=1688", T0);
	alerts_restore(&f.al, "", T0);
	alerts_restore(&f.al, "|", T0);
	alerts_restore(&f.al, "|host=x", T0);
	char longname[200];
	memset(longname, 'K', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	alerts_restore(&f.al, longname, T0);
	cr_assert_eq(f.al.n, 0, "%zu alerts restored from unknown names", f.al.n);

	/* Known names with broken label parts: kept, with what could be read. */
	static const char *const malformed[] = {
	    "KMSHostUnreachable|",
	    "KMSHostUnreachable||",
	    "KMSHostUnreachable|host",
	    "KMSHostUnreachable|=x",
	    "KMSHostUnreachable|host=",
	    "KMSHostUnreachable|host=a=b|port=1688",
	    "KMSHostUnreachable|host=h|bogus=1|port=1688",
	    "KMSHostUnreachable|host=h|port",
	    "KMSCountDropped|domain=a|resolver=b|host=c|port=1|product=e|host=f|port=2",
	    "KMSSRVInconsistent|domain=a|domain=b|domain=c|domain=d|domain=e|domain=f|domain=g",
	};
	for (size_t i = 0; i < ARRAY_LEN(malformed); i++)
		alerts_restore(&f.al, malformed[i], T0 - (int64_t)i);
	cr_assert_eq(f.al.n, ARRAY_LEN(malformed));
	for (size_t i = 0; i < f.al.n; i++) {
		const struct alert *a = &f.al.a[i];
		cr_assert_leq(a->n_labels, ALERT_MAX_LABELS);
		for (size_t k = 0; k < a->n_labels; k++) {
			cr_assert_not_null(a->labels[k].name);
			cr_assert_not_null(a->labels[k].value);
		}
		if (i > 0)
			cr_assert_lt(strcmp(f.al.a[i - 1].fingerprint, a->fingerprint), 0,
			             "restored alerts out of order");
	}
	/* They render, and resolve once settled. */
	size_t len;
	char *json = alertjson_render(&f.al, EXT, true, 0, &len);
	json_error_t err;
	json_t *doc = json_loadb(json, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON: %s", err.text);
	cr_assert_eq(json_array_size(doc), ARRAY_LEN(malformed));
	json_decref(doc);
	free(json);
	cr_assert(eval(&f, T0));
	cr_assert_eq(alerts_firing(&f.al), 0);
	fx_free(&f);
}

Test(alerts, restore_twice_keeps_the_earlier_start)
{
	struct alerts al;
	alerts_init(&al);
	alerts_restore(&al, "KMSHostUnreachable|host=kms1.a.test|port=1688", T0);
	alerts_restore(&al, "KMSHostUnreachable|host=kms1.a.test|port=1688", T0 - HOUR);
	alerts_restore(&al, "KMSHostUnreachable|host=kms1.a.test|port=1688", T0 + HOUR);
	cr_assert_eq(al.n, 1);
	cr_assert_eq(al.a[0].starts_at_ms, T0 - HOUR);
	alerts_free(&al);
}

/* Expiry */

Test(alerts, expire_drops_resolved_after_retention_only)
{
	struct fx f;
	fx_new(&f, 1, 1, two_hosts, 2);
	const uint64_t retention = f.c->alerts.resolved_retention_ms;
	set_tcp(f.r, H1, PROBE_TCP_TIMEOUT);
	set_tcp(f.r, H2, PROBE_TCP_TIMEOUT);
	cr_assert(eval(&f, T0));
	set_tcp(f.r, H1, PROBE_TCP_OK);
	cr_assert(eval(&f, T0 + MINUTE));
	RESOLVED(&f.al, T0 + MINUTE, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	const uint64_t gen = f.al.generation;

	alerts_expire(&f.al, T0 + MINUTE + (int64_t)retention, retention);
	cr_assert_eq(f.al.n, 2);
	RESOLVED(&f.al, T0 + MINUTE, DIAG_HOST_UNREACHABLE, L_HOST(H1));
	alerts_expire(&f.al, T0 + MINUTE + (int64_t)retention + 1, retention);
	cr_assert_eq(f.al.n, 1);
	cr_assert_null(alert_find(&f.al, DIAG_HOST_UNREACHABLE, L_HOST(H1)));
	/* Firing ones stay, however old. */
	alerts_expire(&f.al, T0 + 365 * DAY, retention);
	cr_assert_eq(f.al.n, 1);
	FIRING(&f.al, T0, "0xC004F039", DIAG_HOST_UNREACHABLE, L_HOST(H2));
	cr_assert_eq(f.al.generation, gen);

	/* The set still merges after expiry. */
	set_tcp(f.r, H1, PROBE_TCP_REFUSED);
	cr_assert(eval(&f, T0 + 365 * DAY));
	FIRING(&f.al, T0 + 365 * DAY, "0x800706BA", DIAG_HOST_UNREACHABLE, L_HOST(H1));
	FIRING(&f.al, T0, "0xC004F039", DIAG_HOST_UNREACHABLE, L_HOST(H2));
	fx_free(&f);
}

/* Scale */

Test(alerts, ten_thousand_failing_pairs)
{
	enum { DOMAINS = 5, PER_DOMAIN = 1000 };
	struct fx f;
	fx_new(&f, DOMAINS, 1, NULL, 0);
	static char names[PER_DOMAIN][32];
	static struct dns_srv recs[PER_DOMAIN];
	for (size_t d = 0; d < DOMAINS; d++) {
		for (size_t i = 0; i < PER_DOMAIN; i++) {
			snprintf(names[i], sizeof(names[i]), "kms%04zu.%s", i, f.c->domains[d]);
			recs[i] = (struct dns_srv){
			    .target = names[i], .port = 1688, .priority = 0, .weight = 100};
		}
		results_set_srv(f.r, d, 0, DNS_OK, recs, PER_DOMAIN, 1000);
	}
	fx_rebuild(&f);
	cr_assert_eq(f.r->n_targets, DOMAINS * PER_DOMAIN);
	cr_assert_eq(f.r->n_kms, 2 * DOMAINS * PER_DOMAIN);
	for (size_t i = 0; i < f.r->n_targets; i++) {
		f.r->targets[i].checked = true;
		f.r->targets[i].tcp.tcp = PROBE_TCP_TIMEOUT;
	}
	for (size_t i = 0; i < f.r->n_kms; i++)
		set_kms(&f.r->kms[i], PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER);

	const int64_t now = f.start_ms + 45 * MINUTE + 1;
	cr_assert(eval(&f, now));
	const size_t want = DOMAINS * PER_DOMAIN + DOMAINS + 2 * DOMAINS * PER_DOMAIN;
	cr_assert_eq(f.al.n, want, "%zu alerts, want %zu", f.al.n, want);
	cr_assert_eq(alerts_firing(&f.al), want);
	cr_assert_eq(count_kind(&f.al, DIAG_HOST_UNREACHABLE, true), DOMAINS * PER_DOMAIN);
	cr_assert_eq(count_kind(&f.al, DIAG_NO_HOST_REACHABLE, true), DOMAINS);
	cr_assert_eq(count_kind(&f.al, DIAG_PROBE_STALE, true), 2 * DOMAINS * PER_DOMAIN);
	for (size_t i = 0; i < f.al.n; i++) {
		cr_assert_eq(f.al.a[i].starts_at_ms, now);
		if (i > 0)
			cr_assert_lt(strcmp(f.al.a[i - 1].fingerprint, f.al.a[i].fingerprint), 0,
			             "fingerprints %zu and %zu: %s, %s", i - 1, i,
			             f.al.a[i - 1].fingerprint, f.al.a[i].fingerprint);
	}
	cr_assert_eq(f.al.generation, 1);

	/* Again: nothing changes. */
	cr_assert_not(eval(&f, now + MINUTE));
	cr_assert_eq(f.al.n, want);

	size_t len;
	char *json = alertjson_render(&f.al, EXT, false, 0, &len);
	json_error_t err;
	json_t *doc = json_loadb(json, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON: %s", err.text);
	cr_assert_eq(json_array_size(doc), want);
	json_decref(doc);
	free(json);

	/* Everything recovers at once. */
	for (size_t i = 0; i < f.r->n_targets; i++)
		f.r->targets[i].tcp.tcp = PROBE_TCP_OK;
	for (size_t i = 0; i < f.r->n_kms; i++)
		probe_ok(&f.r->kms[i], now + 2 * MINUTE, 100);
	cr_assert(eval(&f, now + 2 * MINUTE));
	cr_assert_eq(alerts_firing(&f.al), 0);
	cr_assert_eq(f.al.n, want);
	alerts_expire(&f.al, now + 2 * MINUTE + (int64_t)f.c->alerts.resolved_retention_ms + 1,
	              f.c->alerts.resolved_retention_ms);
	cr_assert_eq(f.al.n, 0);
	fx_free(&f);
}

/* Alertmanager JSON */

static const char *
str_member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A string member that must be there. */
static const char *
str_req(const json_t *obj, const char *key)
{
	const char *s = str_member(obj, key);
	cr_assert_not_null(s, "no string member %s", key);
	return s;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static bool
is_rfc3339_ms(const char *s)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	if (s == NULL || strlen(s) != sizeof(pattern) - 1)
		return false;
	for (size_t i = 0; pattern[i] != '\0'; i++) {
		if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
			return false;
	}
	return true;
}

/* The rendered object whose labels carry that alertname and host (or domain). */
static const json_t *
json_alert(const json_t *doc, const char *name, const char *key, const char *value)
{
	const json_t *found = NULL;
	for (size_t i = 0; i < json_array_size(doc); i++) {
		const json_t *labels = json_object_get(json_array_get(doc, i), "labels");
		const char *n = str_member(labels, "alertname"), *v = str_member(labels, key);
		if (n != NULL && strcmp(n, name) == 0 && v != NULL && strcmp(v, value) == 0) {
			cr_assert_null(found, "%s %s=%s twice", name, key, value);
			found = json_array_get(doc, i);
		}
	}
	return found;
}

/* Everything a rendered alert must say about a, whatever its kind. */
static void
check_json_alert(const json_t *obj, const struct alert *a, const char *ext)
{
	const char *name = diag_alert_name(a->kind);
	const json_t *labels = json_object_get(obj, "labels");
	const json_t *ann = json_object_get(obj, "annotations");
	cr_assert(json_is_object(labels), "%s: no labels", name);
	cr_assert(json_is_object(ann), "%s: no annotations", name);

	cr_assert_str_eq(str_req(labels, "alertname"), name);
	cr_assert_str_eq(str_req(labels, "severity"), diag_alert_severity(a->kind));
	size_t n_labels = 2 + a->n_labels;
	if (a->text.code[0] != '\0') {
		cr_assert_str_eq(str_req(labels, "code"), a->text.code, "%s", name);
		n_labels++;
	} else {
		const char *code = str_member(labels, "code");
		cr_assert(code == NULL || code[0] == '\0', "%s: code label \"%s\"", name, code);
		if (code != NULL)
			n_labels++;
	}
	for (size_t k = 0; k < a->n_labels; k++)
		cr_assert_str_eq(str_req(labels, a->labels[k].name), a->labels[k].value,
		                 "%s: label %s", name, a->labels[k].name);
	cr_assert_eq(json_object_size(labels), n_labels, "%s: %zu labels, want %zu", name,
	             json_object_size(labels), n_labels);

	cr_assert_str_eq(str_req(ann, "summary"), a->text.summary);
	cr_assert_str_eq(str_req(ann, "description"), a->text.description);
	cr_assert_str_eq(str_req(ann, "code"), a->text.code);
	cr_assert_str_eq(str_req(ann, "remedy"), a->text.remedy);
	cr_assert_neq(str_req(ann, "summary")[0], '\0', "%s: empty summary", name);
	cr_assert_neq(str_req(ann, "remedy")[0], '\0', "%s: empty remedy", name);
	char want[4096];
	snprintf(want, sizeof(want), "%s/runbooks#%s", ext, diag_alert_anchor(a->kind));
	cr_assert_str_eq(str_req(ann, "runbook_url"), want, "%s: runbook_url", name);
	snprintf(want, sizeof(want), "%s/", ext);
	cr_assert_str_eq(str_req(obj, "generatorURL"), want, "%s: generatorURL", name);
	cr_assert(is_rfc3339_ms(str_member(obj, "startsAt")), "%s: startsAt \"%s\"", name,
	          str_member(obj, "startsAt"));
}

/*
 * A firing DNS failure resolved a minute later, and a firing unreachable host
 * and count below the threshold.
 */
static void
json_world(struct fx *f)
{
	fx_new(f, 1, 1, one_host, 1);
	set_srv(f->r, 0, 0, DNS_SERVFAIL, NULL, 0);
	set_tcp(f->r, H1, PROBE_TCP_TIMEOUT);
	probe_ok(kms_of(f->r, H1, OFFICE), T0 + 123, 3);
	cr_assert(eval(f, T0 + 123));
	set_srv(f->r, 0, 0, DNS_OK, NULL, 0);
	cr_assert(eval(f, T0 + MINUTE + 456));
	cr_assert_eq(f->al.n, 3);
	cr_assert_eq(alerts_firing(&f->al), 2);
}

Test(alerts, json_renders_alertmanager_alerts)
{
	struct fx f;
	json_world(&f);
	size_t len;
	char *out = alertjson_render(&f.al, EXT, true, 0, &len);
	cr_assert_eq(len, strlen(out));
	json_error_t err;
	json_t *doc = json_loadb(out, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON (%s): %s", err.text, out);
	cr_assert(json_is_array(doc));
	cr_assert_eq(json_array_size(doc), 3, "%s", out);
	for (size_t i = 0; i < f.al.n; i++) {
		const struct alert *a = &f.al.a[i];
		const json_t *obj = json_array_get(doc, i);
		cr_assert_str_eq(str_req(json_object_get(obj, "labels"), "alertname"),
		                 diag_alert_name(a->kind), "rendered out of the set's order");
		check_json_alert(obj, a, EXT);
	}

	const json_t *dns = json_alert(doc, "KMSDNSFailure", "domain", "a.test");
	cr_assert_not_null(dns, "%s", out);
	const json_t *labels = json_object_get(dns, "labels");
	cr_assert_str_eq(str_req(labels, "severity"), "warning");
	cr_assert_str_eq(str_req(labels, "code"), "0x8007232A");
	cr_assert_str_eq(str_req(labels, "resolver"), "127.0.0.1:53");
	cr_assert_str_eq(str_req(dns, "startsAt"), "2023-11-14T22:13:20.123Z");
	cr_assert_str_eq(str_req(dns, "endsAt"), "2023-11-14T22:14:20.456Z");
	cr_assert_str_eq(str_req(json_object_get(dns, "annotations"), "runbook_url"),
	                 EXT "/runbooks#kmsdnsfailure");

	const json_t *host = json_alert(doc, "KMSHostUnreachable", "host", H1);
	cr_assert_not_null(host, "%s", out);
	labels = json_object_get(host, "labels");
	cr_assert_str_eq(str_req(labels, "port"), PORT);
	cr_assert_str_eq(str_req(labels, "code"), "0xC004F039");
	cr_assert_str_eq(str_req(host, "startsAt"), "2023-11-14T22:13:20.123Z");
	cr_assert_null(json_object_get(host, "endsAt"), "firing alert with endsAt: %s", out);
	cr_assert_str_eq(str_req(host, "generatorURL"), EXT "/");

	const json_t *below = json_alert(doc, "KMSCountBelowThreshold", "product", OFFICE);
	cr_assert_not_null(below, "%s", out);
	labels = json_object_get(below, "labels");
	cr_assert_str_eq(str_req(labels, "severity"), "critical");
	cr_assert_str_eq(str_req(labels, "code"), "0xC004F038");
	cr_assert_str_eq(str_req(labels, "host"), H1);
	cr_assert_str_eq(str_req(labels, "port"), PORT);
	cr_assert_str_eq(str_req(json_object_get(below, "annotations"), "code"), "0xC004F038");
	cr_assert_null(json_object_get(below, "endsAt"));

	json_decref(doc);
	free(out);
	fx_free(&f);
}

Test(alerts, json_firing_only_and_valid_until)
{
	struct fx f;
	json_world(&f);
	size_t len;
	/* GET /alerts: firing alerts only, without endsAt. */
	char *out = alertjson_render(&f.al, EXT, false, 0, &len);
	json_error_t err;
	json_t *doc = json_loadb(out, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON (%s): %s", err.text, out);
	cr_assert_eq(json_array_size(doc), 2, "%s", out);
	cr_assert_null(json_alert(doc, "KMSDNSFailure", "domain", "a.test"), "%s", out);
	for (size_t i = 0; i < json_array_size(doc); i++)
		cr_assert_null(json_object_get(json_array_get(doc, i), "endsAt"), "%s", out);
	json_decref(doc);
	free(out);

	/* The push: firing alerts end at valid_until, resolved at their end. */
	const int64_t until = T0 + 5 * MINUTE + 789;
	out = alertjson_render(&f.al, EXT, true, until, &len);
	doc = json_loadb(out, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON (%s): %s", err.text, out);
	cr_assert_eq(json_array_size(doc), 3, "%s", out);
	cr_assert_str_eq(str_req(json_alert(doc, "KMSDNSFailure", "domain", "a.test"), "endsAt"),
	                 "2023-11-14T22:14:20.456Z");
	cr_assert_str_eq(str_req(json_alert(doc, "KMSHostUnreachable", "host", H1), "endsAt"),
	                 "2023-11-14T22:18:20.789Z");
	cr_assert_str_eq(str_req(json_alert(doc, "KMSCountBelowThreshold", "host", H1), "endsAt"),
	                 "2023-11-14T22:18:20.789Z");
	json_decref(doc);
	free(out);

	/* Nothing to show: an empty array. */
	struct alerts none;
	alerts_init(&none);
	out = alertjson_render(&none, EXT, true, 0, &len);
	cr_assert_str_eq(out, "[]");
	free(out);
	fx_free(&f);
}

Test(alerts, json_escapes_label_values)
{
	struct alerts al;
	alerts_init(&al);
	/* Restored label values are whatever the state file held. */
	const char *weird = "we\"ird\\pro\xc3\xbc"
	                    "duct\t</script>";
	char fp[256];
	snprintf(fp, sizeof(fp), "KMSCountBelowThreshold|host=%s|port=1688|product=%s", H1, weird);
	alerts_restore(&al, fp, T0);
	cr_assert_eq(al.n, 1);
	size_t len;
	char *out = alertjson_render(&al, EXT, true, 0, &len);
	json_error_t err;
	json_t *doc = json_loadb(out, len, 0, &err);
	cr_assert_not_null(doc, "invalid JSON (%s): %s", err.text, out);
	const json_t *labels = json_object_get(json_array_get(doc, 0), "labels");
	cr_assert_str_eq(str_req(labels, "product"), weird);
	cr_assert_str_eq(str_req(labels, "host"), H1);
	check_json_alert(json_array_get(doc, 0), &al.a[0], EXT);
	json_decref(doc);
	free(out);
	alerts_free(&al);
}

/*
 * web.external_url may be up to CONFIG_URL_MAX (2048) characters; the links
 * built from it must hold all of it.
 */
Test(alerts, json_links_with_a_long_external_url)
{
	char ext[CONFIG_URL_MAX + 1];
	int n = snprintf(ext, sizeof(ext), "https://kmswatch.example.com/");
	cr_assert_gt(n, 0);
	/* A long but valid path, 1000 characters in all. */
	memset(ext + n, 'p', 1000 - (size_t)n);
	ext[1000] = '\0';
	cr_assert_lt(strlen(ext), (size_t)CONFIG_URL_MAX);

	struct fx f;
	fx_new(&f, 1, 1, one_host, 1);
	set_tcp(f.r, H1, PROBE_TCP_TIMEOUT);
	cr_assert(eval(&f, T0));
	size_t len;
	char *out = alertjson_render(&f.al, ext, true, 0, &len);
	json_error_t err;
	json_t *doc = json_loadb(out, len, 0, &err);
	free(out);
	cr_assert_not_null(doc, "invalid JSON (%s)", err.text);
	const json_t *obj = json_array_get(doc, 0);
	const char *runbook = str_member(json_object_get(obj, "annotations"), "runbook_url");
	const char *gen = str_member(obj, "generatorURL");
	/* Everything freed before the verdict, so that a failure reports no leak. */
	char want_runbook[CONFIG_URL_MAX + 64], want_gen[CONFIG_URL_MAX + 2];
	snprintf(want_runbook, sizeof(want_runbook), "%s/runbooks#kmshostunreachable", ext);
	snprintf(want_gen, sizeof(want_gen), "%s/", ext);
	bool runbook_ok = runbook != NULL && strcmp(runbook, want_runbook) == 0;
	bool gen_ok = gen != NULL && strcmp(gen, want_gen) == 0;
	size_t runbook_len = runbook != NULL ? strlen(runbook) : 0;
	size_t gen_len = gen != NULL ? strlen(gen) : 0;
	json_decref(doc);
	fx_free(&f);
	cr_assert(runbook_ok && gen_ok,
	          "links cut short: runbook_url is %zu characters, want %zu; generatorURL is %zu, "
	          "want %zu (external_url has %zu)",
	          runbook_len, strlen(want_runbook), gen_len, strlen(want_gen), strlen(ext));
}

Test(alerts, json_time_format)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
	    {0, "1970-01-01T00:00:00.000Z"},
	    {1, "1970-01-01T00:00:00.001Z"},
	    {T0, "2023-11-14T22:13:20.000Z"},
	    {T0 + 999, "2023-11-14T22:13:20.999Z"},
	    {T0 + 1000, "2023-11-14T22:13:21.000Z"},
	    {INT64_C(4102444799999), "2099-12-31T23:59:59.999Z"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char out[40];
		alertjson_time(cases[i].ms, out, sizeof(out));
		cr_assert_str_eq(out, cases[i].want, "%" PRId64 ": %s", cases[i].ms, out);
	}
}
