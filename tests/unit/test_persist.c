/*
 * The state file: round trips, every way a file can be unusable (missing,
 * empty, every truncation, garbage, wrong version, wrong types, values out of
 * range, too big), quarantine, atomic replacement, and a kill -9 simulation:
 * a writer killed at random moments never leaves a mixed or unreadable file.
 *
 * No test sets .timeout: with --jobs 2, Criterion 2.4.1 leaks a runner
 * allocation when two timed tests overlap, which fails the sanitizer run;
 * ctest's own timeout still stops a hung test.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "kmswatch/history.h"
#include "kmswatch/persist.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define T0     1700000000000LL
#define EPID   "03612-00206-559-709370-03-1103-14393.0000-1912020"

static char dir[256];
static char path[300];

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/kmswatch-persist.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/state", dir);
	umask(022);
}

static void
teardown(void)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	char p[600];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

TestSuite(persist, .init = setup, .fini = teardown);

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
dupf(const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	char *p = strdup(tmp);
	cr_assert_not_null(p);
	return p;
}

static bool
exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* A state with n series (random histories over several windows, some empty)
 * and n_alerts alerts, the same for the same seed. */
static void
build_state(struct persist_state *s, uint64_t seed, size_t n, size_t n_alerts)
{
	static const uint64_t windows[] = {DAY_MS, 3600 * 1000, 63000, 0, 7 * DAY_MS};
	memset(s, 0, sizeof(*s));
	s->series = calloc(n ? n : 1, sizeof(*s->series));
	s->alerts = calloc(n_alerts ? n_alerts : 1, sizeof(*s->alerts));
	cr_assert(s->series != NULL && s->alerts != NULL);
	for (size_t i = 0; i < n; i++) {
		struct persist_series *ps = &s->series[s->n_series++];
		ps->host =
		    i == 1 ? dupf("kms-é-%zu.example.com", i) : dupf("kms%zu.example.com", i);
		ps->port = (uint16_t)(1688 + i % 3);
		ps->product = dupf("%s", i % 2 ? "windows-10-11" : "office-ltsc-2021");
		history_init(&ps->history, windows[i % 5]);
		size_t samples = i % 7 == 3 ? 0 : (size_t)(rnd(&seed) % 300);
		int64_t t = T0 + (int64_t)(rnd(&seed) % DAY_MS);
		for (size_t k = 0; k < samples; k++) {
			t += (int64_t)(rnd(&seed) % (2 * 3600 * 1000));
			uint32_t c = k == 5 ? UINT32_MAX : (uint32_t)(rnd(&seed) % 1000);
			history_add(&ps->history, t, c);
		}
		if (i % 3 != 0) {
			ps->epid = dupf("%s", EPID);
			ps->last_success_ms = t;
		}
		if (i % 4 == 1) {
			ps->prev_epid = dupf("03612-00206-559-709370-03-1033-%u.0000-0012021",
			                     (unsigned)(17763 + seed % 1000));
			ps->epid_changed_ms = t - 1000;
		}
	}
	for (size_t i = 0; i < n_alerts; i++) {
		struct persist_alert *a = &s->alerts[s->n_alerts++];
		a->fingerprint = i == 0 ? dupf("KMSHostKeyChanged|host=\"q\\uoted\"\n\t|x=%llu",
		                               (unsigned long long)seed)
		                        : dupf("KMSCountDropped|host=kms%zu.example.com|port=1688|"
		                               "product=windows-10-11",
		                               i);
		a->starts_at_ms = i == 2 ? 0 : T0 + (int64_t)(rnd(&seed) % DAY_MS);
	}
}

static bool
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field by field, every bucket, and the answers history_max gives. */
static bool
states_equal(const struct persist_state *a, const struct persist_state *b, char *why, size_t whylen)
{
	if (a->n_series != b->n_series || a->n_alerts != b->n_alerts) {
		snprintf(why, whylen, "counts %zu/%zu vs %zu/%zu", a->n_series, a->n_alerts,
		         b->n_series, b->n_alerts);
		return false;
	}
	for (size_t i = 0; i < a->n_series; i++) {
		const struct persist_series *x = &a->series[i], *y = &b->series[i];
		const struct history *p = &x->history, *q = &y->history;
		snprintf(why, whylen, "series[%zu]", i);
		if (!str_eq(x->host, y->host) || x->port != y->port ||
		    !str_eq(x->product, y->product) || !str_eq(x->epid, y->epid) ||
		    !str_eq(x->prev_epid, y->prev_epid) ||
		    x->epid_changed_ms != y->epid_changed_ms ||
		    x->last_success_ms != y->last_success_ms || p->window_ms != q->window_ms ||
		    p->have_last != q->have_last || p->last != q->last || p->last_ms != q->last_ms)
			return false;
		for (size_t k = 0; k < HISTORY_BUCKETS; k++) {
			if (p->b[k].used != q->b[k].used ||
			    (p->b[k].used && (p->b[k].start_ms != q->b[k].start_ms ||
			                      p->b[k].max != q->b[k].max))) {
				snprintf(why, whylen, "series[%zu] bucket %zu", i, k);
				return false;
			}
		}
		for (int64_t t = T0; t < T0 + 40 * DAY_MS; t += 3600 * 1000) {
			uint32_t m1 = 0, m2 = 0;
			bool h1 = history_max(p, t, &m1), h2 = history_max(q, t, &m2);
			if (h1 != h2 || m1 != m2) {
				snprintf(why, whylen, "series[%zu] history_max at %lld", i,
				         (long long)t);
				return false;
			}
		}
	}
	for (size_t i = 0; i < a->n_alerts; i++) {
		snprintf(why, whylen, "alerts[%zu]", i);
		if (!str_eq(a->alerts[i].fingerprint, b->alerts[i].fingerprint) ||
		    a->alerts[i].starts_at_ms != b->alerts[i].starts_at_ms)
			return false;
	}
	return true;
}

static void
assert_empty(const struct persist_state *s)
{
	cr_assert(s->series == NULL && s->n_series == 0 && s->alerts == NULL && s->n_alerts == 0,
	          "state not empty after a failed read");
}

static void
write_bytes(const char *p, const void *data, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *
slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	static char buf[1 << 20];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	char *out = malloc(*len + 1);
	cr_assert_not_null(out);
	memcpy(out, buf, *len);
	out[*len] = '\0';
	return out;
}

/* Reads text as the state file: must be refused, with expect in the message. */
static void
assert_refused(const char *text, size_t len, const char *expect)
{
	write_bytes(path, text, len);
	struct persist_state s;
	char err[512] = "";
	int rc = persist_read(path, &s, err, sizeof(err));
	cr_assert_eq(rc, -1, "accepted: %.*s", (int)(len < 300 ? len : 300), text);
	assert_empty(&s);
	cr_assert_neq(err[0], '\0', "no message");
	if (expect != NULL)
		cr_assert_not_null(strstr(err, expect), "message \"%s\" lacks \"%s\" (input %.*s)",
		                   err, expect, (int)(len < 300 ? len : 300), text);
}

Test(persist, round_trip)
{
	struct persist_state a, b, r;
	build_state(&a, 1, 12, 5);
	build_state(&b, 2, 3, 0);
	char err[512] = "", why[128];
	cr_assert_eq(persist_write(path, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&a, &r, why, sizeof(why)), "differs at %s", why);
	persist_state_free(&r);
	/* Replacing it with another state. */
	cr_assert_eq(persist_write(path, &b, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&b, &r, why, sizeof(why)), "differs at %s", why);
	persist_state_free(&r);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_not(exists(tmp), ".tmp left behind");
	persist_state_free(&a);
	persist_state_free(&b);
	persist_state_free(&b); /* freeing an empty state is harmless */
}

Test(persist, empty_state_round_trip)
{
	struct persist_state a = {0}, r;
	char err[256] = "";
	cr_assert_eq(persist_write(path, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(r.n_series, 0);
	cr_assert_eq(r.n_alerts, 0);
	persist_state_free(&r);
}

/* The layout is the one documented, so that an operator can read it. */
Test(persist, layout)
{
	struct persist_state a = {0};
	char host[] = "kms1.example.com", product[] = "windows-10-11", epid[] = EPID;
	char fingerprint[] = "KMSCountDropped|host=kms1";
	struct persist_series ps = {
	    .host = host, .port = 1688, .product = product, .epid = epid, .last_success_ms = 6500};
	history_init(&ps.history, 63000);
	history_add(&ps.history, 6500, 12);
	history_add(&ps.history, 5500, 10); /* the clock stepped back */
	history_add(&ps.history, 7000, 11);
	struct persist_alert al = {.fingerprint = fingerprint, .starts_at_ms = 9};
	a.series = &ps;
	a.n_series = 1;
	a.alerts = &al;
	a.n_alerts = 1;
	char err[256] = "";
	cr_assert_eq(persist_write(path, &a, err, sizeof(err)), 0, "%s", err);
	size_t len;
	char *text = slurp(path, &len);
	const char *ws = strstr(text, "\"written_at_ms\":");
	cr_assert_not_null(ws);
	cr_assert_eq(strncmp(text, "{\"version\":1,\"written_at_ms\":", 29), 0, "%s", text);
	const char *rest = strchr(ws, ',');
	cr_assert_str_eq(rest, ",\"series\":[{\"host\":\"kms1.example.com\",\"port\":1688,"
	                       "\"product\":\"windows-10-11\",\"window_ms\":63000,"
	                       "\"buckets\":[[6000,12],[7000,11]],\"last\":11,\"last_ms\":7000,"
	                       "\"epid\":\"" EPID "\",\"prev_epid\":null,\"epid_changed_ms\":0,"
	                       "\"last_success_ms\":6500}],\"alerts\":[{\"fingerprint\":"
	                       "\"KMSCountDropped|host=kms1\",\"starts_at_ms\":9}]}");
	free(text);
}

Test(persist, missing_file)
{
	struct persist_state s;
	memset(&s, 0xA5, sizeof(s));
	char err[256] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), 1);
	assert_empty(&s);
}

Test(persist, empty_file)
{
	assert_refused("", 0, "empty");
}

Test(persist, every_truncation)
{
	struct persist_state a;
	build_state(&a, 3, 1, 1);
	char err[256] = "";
	cr_assert_eq(persist_write(path, &a, err, sizeof(err)), 0, "%s", err);
	persist_state_free(&a);
	size_t len;
	char *text = slurp(path, &len);
	cr_assert(len >= 200 && len <= 4000, "a few hundred bytes wanted, got %zu", len);
	for (size_t cut = 0; cut < len; cut++)
		assert_refused(text, cut, NULL);
	/* And the whole file still reads. */
	write_bytes(path, text, len);
	struct persist_state r;
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	persist_state_free(&r);
	free(text);
}

Test(persist, garbage)
{
	uint64_t seed = 99;
	char junk[700];
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + rnd(&seed) % sizeof(junk);
		for (size_t i = 0; i < n; i++)
			junk[i] = (char)(rnd(&seed) >> 24);
		/* Some rounds start like JSON to get further into the parser. */
		if (round % 2)
			junk[0] = '{';
		assert_refused(junk, n, NULL);
	}
	static const char *const texts[] = {
	    "null",
	    "[]",
	    "{}",
	    "42",
	    "\"state\"",
	    "\xef\xbb\xbf{\"version\":1}",
	    "{\"version\":1,\"written_at_ms\":0,\"series\":[],\"alerts\":[]} trailing",
	    "{\"version\":1,\"written_at_ms\":0,\"series\":[],\"alerts\":[]}{}",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		assert_refused(texts[i], strlen(texts[i]), NULL);
	/* Zero bytes and deep nesting. */
	char zeros[100] = {0};
	assert_refused(zeros, sizeof(zeros), "not valid JSON");
	static char deep[200001];
	memset(deep, '[', sizeof(deep) - 1);
	assert_refused(deep, sizeof(deep) - 1, "not valid JSON");
}

/*
 * A valid document, two series and two alerts, with one field of the second
 * series (or alert, or the top level) replaced by raw JSON text, removed
 * (value NULL), or added (a key not in the template).
 */
struct change {
	const char *where; /* "top", "series" or "alert" */
	const char *key;
	const char *value;
	const char *expect; /* in the message */
};

static const char *const top_fields[][2] = {
    {"version", "1"}, {"written_at_ms", "1700000000000"}, {"series", NULL}, {"alerts", NULL}};
static const char *const series_fields[][2] = {{"host", "\"kms%d.example.com\""},
                                               {"port", "1688"},
                                               {"product", "\"windows-10-11\""},
                                               {"window_ms", "63000"},
                                               {"buckets", "[[5000,10],[6000,12]]"},
                                               {"last", "12"},
                                               {"last_ms", "6500"},
                                               {"epid", "\"" EPID "\""},
                                               {"prev_epid", "null"},
                                               {"epid_changed_ms", "0"},
                                               {"last_success_ms", "6500"}};
static const char *const alert_fields[][2] = {{"fingerprint", "\"KMSCountDropped|host=kms%d\""},
                                              {"starts_at_ms", "1700000000000"}};

static void emit(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
emit(char *out, size_t cap, const char *fmt, ...)
{
	size_t len = strlen(out);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + len, cap - len, fmt, ap);
	va_end(ap);
	cr_assert(n >= 0 && (size_t)n < cap - len, "document too long");
}

static void
emit_object(char *out, size_t cap, const char *const (*fields)[2], size_t n, int index,
            const struct change *c, const char *kind)
{
	bool mine = c != NULL && strcmp(c->where, kind) == 0 && (index == 1 || index < 0);
	bool found = false, first = true;
	const char *p;
	emit(out, cap, "{");
	for (size_t i = 0; i < n; i++) {
		const char *key = fields[i][0], *value = fields[i][1];
		if (mine && strcmp(c->key, key) == 0) {
			found = true;
			value = c->value;
			if (value == NULL)
				continue;
		}
		emit(out, cap, "%s\"%s\":", first ? "" : ",", key);
		first = false;
		if (strcmp(key, "series") == 0 && value == NULL) {
			emit(out, cap, "[");
			emit_object(out, cap, series_fields, 11, 0, c, "series");
			emit(out, cap, ",");
			emit_object(out, cap, series_fields, 11, 1, c, "series");
			emit(out, cap, "]");
		} else if (strcmp(key, "alerts") == 0 && value == NULL) {
			emit(out, cap, "[");
			emit_object(out, cap, alert_fields, 2, 0, c, "alert");
			emit(out, cap, ",");
			emit_object(out, cap, alert_fields, 2, 1, c, "alert");
			emit(out, cap, "]");
		} else if ((p = strstr(value, "%d")) != NULL) {
			/* The entry's index goes where the template says %d. */
			emit(out, cap, "%.*s%d%s", (int)(p - value), value, index, p + 2);
		} else {
			emit(out, cap, "%s", value);
		}
	}
	if (mine && !found)
		emit(out, cap, "%s\"%s\":%s", first ? "" : ",", c->key, c->value);
	emit(out, cap, "}");
}

static char doc_buf[300000];

static const char *
doc(const struct change *c)
{
	doc_buf[0] = '\0';
	emit_object(doc_buf, sizeof(doc_buf), top_fields, 4, -1, c, "top");
	return doc_buf;
}

Test(persist, template_is_valid)
{
	const char *text = doc(NULL);
	write_bytes(path, text, strlen(text));
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), 0, "%s: %s", err, text);
	cr_assert_eq(s.n_series, 2);
	cr_assert_eq(s.n_alerts, 2);
	cr_assert_str_eq(s.series[1].host, "kms1.example.com");
	uint32_t m;
	cr_assert(history_max(&s.series[1].history, 6500, &m));
	cr_assert_eq(m, 12);
	persist_state_free(&s);
}

static void
check_changes(const struct change *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *text = doc(&cases[i]);
		assert_refused(text, strlen(text), cases[i].expect);
	}
}

Test(persist, wrong_version)
{
	static const struct change cases[] = {
	    {"top", "version", "2", "unsupported version 2"},
	    {"top", "version", "0", "unsupported version 0"},
	    {"top", "version", "\"1\"", "\"version\" must be an integer, not a string"},
	    {"top", "version", "1.0", "\"version\" must be an integer, not a real number"},
	    {"top", "version", NULL, "\"version\" is missing"},
	};
	check_changes(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(persist, wrong_types)
{
	static const struct change cases[] = {
	    {"top", "series", "{}", "\"series\" must be an array, not an object"},
	    {"top", "alerts", "null", "\"alerts\" must be an array, not null"},
	    {"top", "series", "[1]", "series[0]: must be an object, not an integer"},
	    {"top", "written_at_ms", "\"now\"", "\"written_at_ms\" must be an integer"},
	    {"top", "written_at_ms", NULL, "\"written_at_ms\" is missing"},
	    {"top", "extra", "1", "unknown key \"extra\""},
	    {"series", "host", "5", "series[1]: \"host\" must be a string, not an integer"},
	    {"series", "host", "null", "series[1]: \"host\" must be a string, not null"},
	    {"series", "host", NULL, "series[1]: \"host\" is missing"},
	    {"series", "port", "\"1688\"", "series[1]: \"port\" must be an integer, not a string"},
	    {"series", "port", "true", "series[1]: \"port\" must be an integer, not a boolean"},
	    {"series", "port", "1688.5", "series[1]: \"port\" must be an integer"},
	    {"series", "product", "[]", "series[1]: \"product\" must be a string"},
	    {"series", "window_ms", "\"24h\"", "series[1]: \"window_ms\" must be an integer"},
	    {"series", "buckets", "{}", "series[1]: \"buckets\" must be an array"},
	    {"series", "buckets", "[5000,10]", "series[1]: \"buckets\"[0] must be an array"},
	    {"series", "buckets", "[[5000,10,1]]", "series[1]: \"buckets\"[0] must be an array"},
	    {"series", "buckets", "[[5000]]", "series[1]: \"buckets\"[0] must be an array"},
	    {"series", "buckets", "[[\"5000\",10]]", "series[1]: \"buckets\"[0] must be an array"},
	    {"series", "buckets", "[[5000,null]]", "series[1]: \"buckets\"[0] must be an array"},
	    {"series", "last", "\"12\"", "series[1]: \"last\" must be an integer or null"},
	    {"series", "last", "false", "series[1]: \"last\" must be an integer or null"},
	    {"series", "last", NULL, "series[1]: \"last\" is missing"},
	    {"series", "last_ms", "null", "series[1]: \"last_ms\" must be an integer"},
	    {"series", "epid", "5", "series[1]: \"epid\" must be a string or null"},
	    {"series", "prev_epid", "[]", "series[1]: \"prev_epid\" must be a string or null"},
	    {"series", "epid_changed_ms", "1.0", "series[1]: \"epid_changed_ms\" must be"},
	    {"series", "last_success_ms", NULL, "series[1]: \"last_success_ms\" is missing"},
	    {"series", "extra", "1", "series[1]: unknown key \"extra\""},
	    {"alert", "fingerprint", "7", "alerts[1]: \"fingerprint\" must be a string"},
	    {"alert", "fingerprint", NULL, "alerts[1]: \"fingerprint\" is missing"},
	    {"alert", "starts_at_ms", "\"0\"", "alerts[1]: \"starts_at_ms\" must be an integer"},
	    {"alert", "labels", "{}", "alerts[1]: unknown key \"labels\""},
	    {"top", "alerts", "[\"x\"]", "alerts[0]: must be an object, not a string"},
	};
	check_changes(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(persist, values_out_of_range)
{
	static char long_string[PERSIST_MAX_STRING + 8];
	memset(long_string, 'a', sizeof(long_string) - 1);
	long_string[0] = '"';
	long_string[PERSIST_MAX_STRING + 2] = '"';
	long_string[PERSIST_MAX_STRING + 3] = '\0'; /* 1025 bytes between the quotes */
	char buckets65[2000] = "[";
	for (int i = 0; i < 65; i++)
		snprintf(buckets65 + strlen(buckets65), sizeof(buckets65) - strlen(buckets65),
		         "%s[%d,1]", i ? "," : "", 1000 * i);
	strncat(buckets65, "]", sizeof(buckets65) - strlen(buckets65) - 1);
	const struct change cases[] = {
	    {"series", "port", "0", "series[1]: \"port\" 0 is out of range 1..65535"},
	    {"series", "port", "65536", "series[1]: \"port\" 65536 is out of range 1..65535"},
	    {"series", "port", "-1688", "series[1]: \"port\" -1688 is out of range"},
	    {"series", "host", "\"\"", "series[1]: \"host\" is empty"},
	    {"series", "host", long_string, "series[1]: \"host\" is 1025 bytes, over the limit"},
	    {"series", "product", long_string, "series[1]: \"product\" is 1025 bytes"},
	    {"series", "epid", long_string, "series[1]: \"epid\" is 1025 bytes"},
	    {"series", "window_ms", "-1", "series[1]: \"window_ms\" -1 is out of range"},
	    {"series", "last", "-1", "series[1]: \"last\" -1 is out of range 0..4294967295"},
	    {"series", "last", "4294967296", "series[1]: \"last\" 4294967296 is out of range"},
	    {"series", "last_ms", "-5", "series[1]: \"last_ms\" -5 is out of range"},
	    {"series", "epid_changed_ms", "-1", "series[1]: \"epid_changed_ms\" -1 is out of"},
	    {"series", "last_success_ms", "-1", "series[1]: \"last_success_ms\" -1 is out of"},
	    {"series", "buckets", buckets65, "series[1]: \"buckets\" has 65 entries"},
	    {"series", "buckets", "[[-1000,1]]",
	     "series[1]: \"buckets\"[0]: [-1000, 1] out of range"},
	    {"series", "buckets", "[[5000,4294967296]]", "series[1]: \"buckets\"[0]: [5000, "},
	    {"series", "buckets", "[[5000,-1]]", "series[1]: \"buckets\"[0]: [5000, -1] out of"},
	    {"series", "buckets", "[[5001,1]]", "series[1]: \"buckets\"[0]: start_ms 5001 is not"},
	    {"series", "buckets", "[[5000,1],[69000,2]]", "series[1]: \"buckets\"[1]: start_ms"},
	    {"series", "buckets", "[[5000,1],[5000,2]]", "series[1]: \"buckets\"[1]: start_ms"},
	    {"alert", "starts_at_ms", "-1", "alerts[1]: \"starts_at_ms\" -1 is out of range"},
	    {"alert", "fingerprint", "\"\"", "alerts[1]: \"fingerprint\" is empty"},
	    {"alert", "fingerprint", long_string, "alerts[1]: \"fingerprint\" is 1025 bytes"},
	    {"top", "written_at_ms", "-1", "\"written_at_ms\" -1 is out of range"},
	    /* Beyond what jansson (and int64) can hold. */
	    {"series", "last_ms", "99999999999999999999", "not valid JSON"},
	    /* Invalid UTF-8 and an embedded NUL. */
	    {"series", "host", "\"kms\xff.example.com\"", "not valid JSON"},
	    {"series", "host", "\"kms\\u0000.example.com\"", "not valid JSON"},
	    /* Duplicate keys would let two readers see two values. */
	    {"series", "port", "1688,\"port\":1689", "not valid JSON"},
	};
	check_changes(cases, sizeof(cases) / sizeof(cases[0]));

	/* The limits themselves are fine. */
	static char max_string[PERSIST_MAX_STRING + 8];
	memset(max_string, 'b', sizeof(max_string) - 1);
	max_string[0] = '"';
	max_string[PERSIST_MAX_STRING + 1] = '"';
	max_string[PERSIST_MAX_STRING + 2] = '\0';
	const struct change ok[] = {
	    {"series", "host", max_string, NULL},
	    {"series", "port", "65535", NULL},
	    {"series", "port", "1", NULL},
	    {"series", "last", "4294967295", NULL},
	    {"series", "last", "null", NULL},
	    {"series", "buckets", "[]", NULL},
	    {"series", "window_ms", "9223372036854775807", NULL},
	};
	static char text[8192];
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "%s", doc(&ok[i]));
		if (strcmp(ok[i].key, "window_ms") == 0) {
			/* The template's buckets are not aligned to so wide a
			 * window: series[1] gets none. */
			char *p = strstr(strstr(text, "kms1.example.com"), "[[5000,10],[6000,12]]");
			cr_assert_not_null(p);
			p[1] = ']';
			memmove(p + 2, p + 21, strlen(p + 21) + 1);
		}
		write_bytes(path, text, strlen(text));
		struct persist_state s;
		char err[512] = "";
		int rc = persist_read(path, &s, err, sizeof(err));
		cr_assert_eq(rc, 0, "%s=%.40s refused: %s", ok[i].key, ok[i].value, err);
		persist_state_free(&s);
	}
}

Test(persist, duplicates)
{
	const struct change cases[] = {
	    {"series", "host", "\"kms0.example.com\"",
	     "series[0] and series[1] are the same series (kms0.example.com:1688 windows-10-11)"},
	    {"alert", "fingerprint", "\"KMSCountDropped|host=kms0\"",
	     "alerts[0] and alerts[1] have the same fingerprint"},
	};
	check_changes(cases, sizeof(cases) / sizeof(cases[0]));
	/* The same host on another port is another series: series[1] moved to
	 * port 1689, then renamed kms0. */
	const struct change port = {"series", "port", "1689", NULL};
	char text[4096];
	snprintf(text, sizeof(text), "%s", doc(&port));
	char *p = strstr(text, "kms1.example.com");
	cr_assert_not_null(p);
	p[3] = '0';
	write_bytes(path, text, strlen(text));
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), 0, "%s", err);
	persist_state_free(&s);
}

/* Counts are checked before the entries, so a huge array is refused early. */
Test(persist, too_many_entries)
{
	size_t n = PERSIST_MAX_SERIES + 1;
	const char *heads[] = {"{\"version\":1,\"written_at_ms\":0,\"alerts\":[],\"series\":[",
	                       "{\"version\":1,\"written_at_ms\":0,\"series\":[],\"alerts\":["};
	const char *expect[] = {"1000001 series, over the limit", "1000001 alerts, over the limit"};
	for (size_t k = 0; k < 2; k++) {
		size_t cap = strlen(heads[k]) + 2 * n + 8, len = 0;
		char *text = malloc(cap);
		cr_assert_not_null(text);
		len = (size_t)snprintf(text, cap, "%s", heads[k]);
		for (size_t i = 0; i < n; i++) {
			text[len++] = '0';
			text[len++] = ',';
		}
		text[len - 1] = ']';
		text[len++] = '}';
		assert_refused(text, len, expect[k]);
		free(text);
	}
}

Test(persist, sparse_65_mib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 65 * 1024 * 1024), 0);
	close(fd);
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), -1);
	assert_empty(&s);
	cr_assert_not_null(strstr(err, "68157440 bytes, over the limit"), "%s", err);
	cr_assert_not_null(strstr(err, "64 MiB"), "%s", err);
}

Test(persist, not_a_regular_file)
{
	cr_assert_eq(mkdir(path, 0700), 0);
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), -1);
	assert_empty(&s);
	cr_assert_not_null(strstr(err, "not a regular file"), "%s", err);
	rmdir(path);
}

Test(persist, unreadable)
{
	write_bytes(path, "{}", 2);
	cr_assert_eq(chmod(path, 0), 0);
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		close(fd);
		cr_skip_test("running with privileges that read any file");
	}
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), -1);
	assert_empty(&s);
	cr_assert_not_null(strstr(err, strerror(EACCES)), "%s", err);
}

Test(persist, no_message_buffer)
{
	write_bytes(path, "nonsense", 8);
	struct persist_state s;
	cr_assert_eq(persist_read(path, &s, NULL, 0), -1);
	assert_empty(&s);
}

Test(persist, quarantine)
{
	char corrupt[400];
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
	write_bytes(path, "old garbage", 11);
	cr_assert_eq(persist_quarantine(path), 0);
	write_bytes(path, "{\"version\":", 11);
	struct persist_state s;
	char err[512] = "";
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), -1);
	cr_assert_eq(persist_quarantine(path), 0, "%s", strerror(errno));
	cr_assert_not(exists(path));
	size_t len;
	char *text = slurp(corrupt, &len);
	cr_assert_eq(len, 11);
	cr_assert_eq(memcmp(text, "{\"version\":", 11), 0, "older .corrupt not replaced");
	free(text);
	cr_assert_eq(persist_read(path, &s, err, sizeof(err)), 1);
	/* Nothing to move. */
	errno = 0;
	cr_assert_eq(persist_quarantine(path), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(persist, stale_tmp_is_replaced)
{
	char tmp[400], victim[400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	/* What a crash mid-write leaves, or a link planted to redirect the write. */
	write_bytes(victim, "keep", 4);
	cr_assert_eq(symlink(victim, tmp), 0);
	struct persist_state a, r;
	build_state(&a, 5, 2, 1);
	char err[512] = "", why[128];
	cr_assert_eq(persist_write(path, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_not(exists(tmp));
	size_t len;
	char *text = slurp(victim, &len);
	cr_assert_str_eq(text, "keep");
	free(text);
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&a, &r, why, sizeof(why)), "%s", why);
	persist_state_free(&r);
	persist_state_free(&a);
}

Test(persist, relative_path)
{
	cr_assert_eq(chdir(dir), 0);
	struct persist_state a, r;
	build_state(&a, 6, 2, 0);
	char err[512] = "";
	cr_assert_eq(persist_write("state", &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(persist_read("state", &r, err, sizeof(err)), 0, "%s", err);
	persist_state_free(&r);
	persist_state_free(&a);
}

Test(persist, directory_missing)
{
	char p[400];
	snprintf(p, sizeof(p), "%s/no/such/dir/state", dir);
	struct persist_state a;
	build_state(&a, 7, 2, 1);
	char err[512] = "";
	errno = 0;
	cr_assert_eq(persist_write(p, &a, err, sizeof(err)), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert_not_null(strstr(err, strerror(ENOENT)), "%s", err);
	cr_assert_not_null(strstr(err, "/no/such/dir/state.tmp"), "%s", err);
	persist_state_free(&a);
}

/* The writer refuses what the reader would refuse, and then leaves the old
 * file alone. */
Test(persist, refuses_unreadable_states)
{
	struct persist_state good, r;
	build_state(&good, 8, 3, 2);
	char err[512] = "", why[128];
	cr_assert_eq(persist_write(path, &good, err, sizeof(err)), 0, "%s", err);

	static const char *const expect[] = {
	    "series[1]: \"port\" 0",
	    "series[2]: \"host\" is missing",
	    "series[0]: \"product\" is not valid UTF-8",
	    "series[1]: \"epid_changed_ms\" is negative",
	    "series[0] and series[2] are the same series",
	    "alerts[1]: \"fingerprint\" is 1025 bytes",
	    "series[2]: history bucket at 12345 is not a bucket",
	};
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		struct persist_state s;
		build_state(&s, 9, 3, 2);
		switch (i) {
		case 0:
			s.series[1].port = 0;
			break;
		case 1:
			free(s.series[2].host);
			s.series[2].host = NULL;
			break;
		case 2:
			free(s.series[0].product);
			s.series[0].product = dupf("%s", "windows\xc0\xaf"); /* overlong '/' */
			break;
		case 3:
			s.series[1].epid_changed_ms = -1;
			break;
		case 4:
			free(s.series[2].host);
			s.series[2].host = dupf("%s", s.series[0].host);
			s.series[2].port = s.series[0].port;
			free(s.series[2].product);
			s.series[2].product = dupf("%s", s.series[0].product);
			break;
		case 5:
			free(s.alerts[1].fingerprint);
			s.alerts[1].fingerprint = calloc(PERSIST_MAX_STRING + 2, 1);
			cr_assert_not_null(s.alerts[1].fingerprint);
			memset(s.alerts[1].fingerprint, 'f', PERSIST_MAX_STRING + 1);
			break;
		default:
			/* Not where the ring would put it: unaligned. */
			history_init(&s.series[2].history, 63000);
			s.series[2].history.b[12] =
			    (struct history_bucket){.start_ms = 12345, .max = 1, .used = true};
			break;
		}
		errno = 0;
		err[0] = '\0';
		cr_assert_eq(persist_write(path, &s, err, sizeof(err)), -1, "case %zu", i);
		cr_assert_eq(errno, EINVAL);
		cr_assert_not_null(strstr(err, expect[i]), "case %zu: %s", i, err);
		persist_state_free(&s);
	}
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&good, &r, why, sizeof(why)), "%s", why);
	persist_state_free(&r);
	persist_state_free(&good);
}

/* A state that would make a file over 64 MiB is not written: the next start
 * would refuse it and lose everything. */
Test(persist, refuses_oversized_state)
{
	struct persist_state good, r;
	build_state(&good, 10, 1, 0);
	char err[512] = "", why[128];
	cr_assert_eq(persist_write(path, &good, err, sizeof(err)), 0, "%s", err);

	/* 65535 series, each with a 1 KiB host: about 70 MB of JSON. */
	static char host[PERSIST_MAX_STRING + 1];
	char product[] = "p";
	memset(host, 'h', PERSIST_MAX_STRING);
	struct persist_state big = {0};
	big.series = calloc(65535, sizeof(*big.series));
	cr_assert_not_null(big.series);
	for (size_t i = 0; i < 65535; i++) {
		big.series[i] = (struct persist_series){
		    .host = host, .port = (uint16_t)(i + 1), .product = product};
		history_init(&big.series[i].history, DAY_MS);
	}
	big.n_series = 65535;
	errno = 0;
	cr_assert_eq(persist_write(path, &big, err, sizeof(err)), -1);
	cr_assert_eq(errno, EFBIG);
	cr_assert_not_null(strstr(err, "over the limit"), "%s", err);
	free(big.series); /* the strings are shared, not owned */
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_not(exists(tmp), ".tmp left behind after a failed write");
	cr_assert_eq(persist_read(path, &r, err, sizeof(err)), 0, "%s", err);
	cr_assert(states_equal(&good, &r, why, sizeof(why)), "%s", why);
	persist_state_free(&r);
	persist_state_free(&good);
}

/*
 * kill -9 at random moments: a child rewrites the state in a loop, switching
 * between two different states; after each kill the file is one of them,
 * whole. (This shows the rename's atomicity; surviving power loss also needs
 * the fsyncs, which no test here can observe.)
 */
Test(persist, crash_safety)
{
	struct persist_state a, b;
	build_state(&a, 11, 40, 3);
	build_state(&b, 12, 70, 6);
	uint64_t seed = (uint64_t)time(NULL) | 1;
	cr_log_info("crash_safety seed %llu", (unsigned long long)seed);
	bool seen_file = false;
	int reads_ok = 0, tmp_left = 0;
	char tmp[400];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	for (int round = 0; round < 50; round++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			char err[512];
			for (int i = 0; i < 100000; i++)
				if (persist_write(path, i % 2 ? &b : &a, err, sizeof(err)) < 0) {
					fprintf(stderr, "writer: %s\n", err);
					_exit(2);
				}
			_exit(0);
		}
		usleep((useconds_t)(rnd(&seed) % 30000));
		kill(pid, SIGKILL);
		int status;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		          "writer failed (status %d)", status);
		tmp_left += exists(tmp);

		struct persist_state r;
		char err[512] = "", why[128] = "";
		int rc = persist_read(path, &r, err, sizeof(err));
		cr_assert(rc == 0 || (rc == 1 && !seen_file), "round %d: read %d: %s", round, rc,
		          err);
		if (rc == 0) {
			seen_file = true;
			reads_ok++;
			bool is_a = states_equal(&a, &r, why, sizeof(why));
			bool is_b = !is_a && states_equal(&b, &r, why, sizeof(why));
			cr_assert(is_a || is_b, "round %d: neither state (%s)", round, why);
		}
		persist_state_free(&r);
	}
	cr_log_info("crash_safety: %d reads, %d kills left a .tmp", reads_ok, tmp_left);
	cr_assert_gt(reads_ok, 10, "too few rounds got to write anything");
	persist_state_free(&a);
	persist_state_free(&b);
}
