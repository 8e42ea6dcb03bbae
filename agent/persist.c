/*
 * The state file; see persist.h. The only file that includes jansson.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kmswatch/log.h"
#include "kmswatch/xmalloc.h"
#include "kmswatch/persist.h"

/* Output is gathered into writes of this size. */
#define PERSIST_WRITE_CHUNK (64u * 1024)

static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* PATH followed by suffix, e.g. PATH.tmp; the caller frees it. */
static char *
path_with(const char *path, const char *suffix)
{
	size_t a = strlen(path), b = strlen(suffix);
	char *p = xcalloc(a + b + 1, 1);
	memcpy(p, path, a);
	memcpy(p + a, suffix, b + 1);
	return p;
}

/* The directory holding path, which a rename changes: fsyncing it makes the
 * rename itself durable. */
static int
fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else {
		dir = xcalloc((size_t)(slash - path) + 1, 1);
		memcpy(dir, path, (size_t)(slash - path));
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;
	if (fd >= 0) {
		rc = fsync(fd);
		/* EINVAL: this filesystem cannot sync a directory; nothing more
		 * can be done for the rename's durability. */
		if (rc < 0 && errno == EINVAL)
			rc = 0;
		int saved = errno;
		close(fd);
		errno = saved;
	}
	int saved = errno;
	free(dir);
	errno = saved;
	return rc;
}

/* Strict UTF-8, as jansson checks it: no overlong forms, no surrogates,
 * nothing past U+10FFFF. Checked before json_string so that a NULL from it can
 * only mean out of memory. */
static bool
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		unsigned c = *p++;
		if (c < 0x80)
			continue;
		size_t n;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 0; i < n; i++, p++) {
			if ((*p & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (*p & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
	}
	return true;
}

void
persist_state_free(struct persist_state *s)
{
	for (size_t i = 0; i < s->n_series; i++) {
		free(s->series[i].host);
		free(s->series[i].product);
		free(s->series[i].epid);
		free(s->series[i].prev_epid);
	}
	free(s->series);
	for (size_t i = 0; i < s->n_alerts; i++)
		free(s->alerts[i].fingerprint);
	free(s->alerts);
	memset(s, 0, sizeof(*s));
}

/* ---- validation, shared by the writer and the reader ---- */

static int
check_string(const char *what, size_t i, const char *key, const char *v, bool nullable, char *err,
             size_t errlen)
{
	if (v == NULL) {
		if (nullable)
			return 0;
		errf(err, errlen, "%s[%zu]: \"%s\" is missing", what, i, key);
		return -1;
	}
	size_t len = strlen(v);
	if (len == 0 && !nullable) {
		errf(err, errlen, "%s[%zu]: \"%s\" is empty", what, i, key);
		return -1;
	}
	if (len > PERSIST_MAX_STRING) {
		errf(err, errlen, "%s[%zu]: \"%s\" is %zu bytes, over the limit of %u", what, i,
		     key, len, PERSIST_MAX_STRING);
		return -1;
	}
	if (!utf8_valid(v)) {
		errf(err, errlen, "%s[%zu]: \"%s\" is not valid UTF-8", what, i, key);
		return -1;
	}
	return 0;
}

static int
check_time(const char *what, size_t i, const char *key, int64_t v, char *err, size_t errlen)
{
	if (v >= 0)
		return 0;
	errf(err, errlen, "%s[%zu]: \"%s\" is negative (%lld)", what, i, key, (long long)v);
	return -1;
}

static int
check_history(size_t i, const struct history *h, char *err, size_t errlen)
{
	if (h->window_ms > HISTORY_WINDOW_MAX) {
		errf(err, errlen, "series[%zu]: \"window_ms\" %llu is over the limit of %llu", i,
		     (unsigned long long)h->window_ms, (unsigned long long)HISTORY_WINDOW_MAX);
		return -1;
	}
	if (check_time("series", i, "last_ms", h->last_ms, err, errlen) < 0)
		return -1;
	uint64_t width = history_bucket_ms(h->window_ms);
	for (size_t k = 0; k < HISTORY_BUCKETS; k++) {
		const struct history_bucket *b = &h->b[k];
		if (!b->used)
			continue;
		/* Where history_restore_bucket will put it back. */
		if (b->start_ms < 0 || (uint64_t)b->start_ms % width != 0 ||
		    ((uint64_t)b->start_ms / width) % HISTORY_BUCKETS != k) {
			errf(err, errlen,
			     "series[%zu]: history bucket at %lld is not a bucket of window %llu "
			     "in its slot",
			     i, (long long)b->start_ms, (unsigned long long)h->window_ms);
			return -1;
		}
	}
	return 0;
}

static int
check_series(size_t i, const struct persist_series *ps, char *err, size_t errlen)
{
	if (check_string("series", i, "host", ps->host, false, err, errlen) < 0 ||
	    check_string("series", i, "product", ps->product, false, err, errlen) < 0 ||
	    check_string("series", i, "epid", ps->epid, true, err, errlen) < 0 ||
	    check_string("series", i, "prev_epid", ps->prev_epid, true, err, errlen) < 0 ||
	    check_time("series", i, "epid_changed_ms", ps->epid_changed_ms, err, errlen) < 0 ||
	    check_time("series", i, "last_success_ms", ps->last_success_ms, err, errlen) < 0)
		return -1;
	if (ps->port == 0) {
		errf(err, errlen, "series[%zu]: \"port\" 0 is out of range 1..65535", i);
		return -1;
	}
	return check_history(i, &ps->history, err, errlen);
}

static int
series_key_cmp(const void *a, const void *b)
{
	const struct persist_series *x = *(const struct persist_series *const *)a;
	const struct persist_series *y = *(const struct persist_series *const *)b;
	int c = strcmp(x->host, y->host);
	if (c != 0)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return strcmp(x->product, y->product);
}

static int
alert_key_cmp(const void *a, const void *b)
{
	const struct persist_alert *x = *(const struct persist_alert *const *)a;
	const struct persist_alert *y = *(const struct persist_alert *const *)b;
	return strcmp(x->fingerprint, y->fingerprint);
}

/* Two entries for one series (or alert) would leave the caller to pick one
 * of them; neither side may produce that. */
static int
check_unique(const struct persist_state *s, char *err, size_t errlen)
{
	size_t n = s->n_series > s->n_alerts ? s->n_series : s->n_alerts;
	const void **v = xcalloc(n, sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < s->n_series; i++)
		v[i] = &s->series[i];
	qsort(v, s->n_series, sizeof(*v), series_key_cmp);
	for (size_t i = 1; i < s->n_series && rc == 0; i++) {
		if (series_key_cmp(&v[i - 1], &v[i]) != 0)
			continue;
		const struct persist_series *x = v[i - 1], *y = v[i];
		size_t a = (size_t)(x - s->series), b = (size_t)(y - s->series);
		errf(err, errlen,
		     "series[%zu] and series[%zu] are the same series (%.64s:%u %.64s)",
		     a < b ? a : b, a < b ? b : a, x->host, x->port, x->product);
		rc = -1;
	}
	for (size_t i = 0; i < s->n_alerts && rc == 0; i++)
		v[i] = &s->alerts[i];
	if (rc == 0)
		qsort(v, s->n_alerts, sizeof(*v), alert_key_cmp);
	for (size_t i = 1; i < s->n_alerts && rc == 0; i++) {
		if (alert_key_cmp(&v[i - 1], &v[i]) != 0)
			continue;
		const struct persist_alert *x = v[i - 1], *y = v[i];
		size_t a = (size_t)(x - s->alerts), b = (size_t)(y - s->alerts);
		errf(err, errlen, "alerts[%zu] and alerts[%zu] have the same fingerprint (%.128s)",
		     a < b ? a : b, a < b ? b : a, x->fingerprint);
		rc = -1;
	}
	free(v);
	return rc;
}

static int
check_state(const struct persist_state *s, char *err, size_t errlen)
{
	if (s->n_series > PERSIST_MAX_SERIES) {
		errf(err, errlen, "%zu series, over the limit of %u", s->n_series,
		     PERSIST_MAX_SERIES);
		return -1;
	}
	if (s->n_alerts > PERSIST_MAX_ALERTS) {
		errf(err, errlen, "%zu alerts, over the limit of %u", s->n_alerts,
		     PERSIST_MAX_ALERTS);
		return -1;
	}
	for (size_t i = 0; i < s->n_series; i++)
		if (check_series(i, &s->series[i], err, errlen) < 0)
			return -1;
	for (size_t i = 0; i < s->n_alerts; i++)
		if (check_string("alerts", i, "fingerprint", s->alerts[i].fingerprint, false, err,
		                 errlen) < 0 ||
		    check_time("alerts", i, "starts_at_ms", s->alerts[i].starts_at_ms, err,
		               errlen) < 0)
			return -1;
	return check_unique(s, err, errlen);
}

/* ---- writing ---- */

/* Every jansson constructor below returns NULL only when out of memory:
 * strings were checked for UTF-8 and keys are literals. */
static json_t *
must(json_t *v)
{
	if (v == NULL)
		fatal("persist: out of memory");
	return v;
}

static void
put(json_t *o, const char *key, json_t *v)
{
	if (json_object_set_new(o, key, must(v)) < 0)
		fatal("persist: out of memory");
}

static void
append(json_t *a, json_t *v)
{
	if (json_array_append_new(a, must(v)) < 0)
		fatal("persist: out of memory");
}

static json_t *
string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
series_to_json(const struct persist_series *ps)
{
	const struct history *h = &ps->history;
	json_t *o = must(json_object());
	put(o, "host", json_string(ps->host));
	put(o, "port", json_integer(ps->port));
	put(o, "product", json_string(ps->product));
	put(o, "window_ms", json_integer((json_int_t)h->window_ms));
	/* Oldest first, so that the file reads in time order. */
	const struct history_bucket *order[HISTORY_BUCKETS];
	size_t n = 0;
	for (size_t k = 0; k < HISTORY_BUCKETS; k++) {
		if (!h->b[k].used)
			continue;
		size_t j = n++;
		for (; j > 0 && order[j - 1]->start_ms > h->b[k].start_ms; j--)
			order[j] = order[j - 1];
		order[j] = &h->b[k];
	}
	json_t *buckets = must(json_array());
	for (size_t k = 0; k < n; k++) {
		json_t *pair = must(json_array());
		append(pair, json_integer(order[k]->start_ms));
		append(pair, json_integer(order[k]->max));
		append(buckets, pair);
	}
	put(o, "buckets", buckets);
	put(o, "last", h->have_last ? json_integer(h->last) : json_null());
	put(o, "last_ms", json_integer(h->last_ms));
	put(o, "epid", string_or_null(ps->epid));
	put(o, "prev_epid", string_or_null(ps->prev_epid));
	put(o, "epid_changed_ms", json_integer(ps->epid_changed_ms));
	put(o, "last_success_ms", json_integer(ps->last_success_ms));
	return o;
}

static json_t *
state_to_json(const struct persist_state *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	json_t *root = must(json_object());
	put(root, "version", json_integer(PERSIST_VERSION));
	/* A clock before 1970 would make the file unreadable. */
	put(root, "written_at_ms", json_integer(now_ms > 0 ? now_ms : 0));
	json_t *series = must(json_array());
	for (size_t i = 0; i < s->n_series; i++)
		append(series, series_to_json(&s->series[i]));
	put(root, "series", series);
	json_t *alerts = must(json_array());
	for (size_t i = 0; i < s->n_alerts; i++) {
		json_t *a = must(json_object());
		put(a, "fingerprint", json_string(s->alerts[i].fingerprint));
		put(a, "starts_at_ms", json_integer(s->alerts[i].starts_at_ms));
		append(alerts, a);
	}
	put(root, "alerts", alerts);
	return root;
}

struct sink {
	int fd;
	size_t total; /* bytes produced so far */
	int error;    /* errno of the first failure */
	size_t len;
	char *buf;
};

static int
sink_flush(struct sink *k)
{
	size_t off = 0;
	while (off < k->len) {
		ssize_t w = write(k->fd, k->buf + off, k->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			k->error = errno;
			return -1;
		}
		off += (size_t)w;
	}
	k->len = 0;
	return 0;
}

static int
sink_put(const char *data, size_t size, void *arg)
{
	struct sink *k = arg;
	/* A file the reader would refuse must not replace a good one. */
	if (size > PERSIST_MAX_BYTES - k->total) {
		k->error = EFBIG;
		return -1;
	}
	k->total += size;
	while (size > 0) {
		size_t n = PERSIST_WRITE_CHUNK - k->len;
		if (n > size)
			n = size;
		memcpy(k->buf + k->len, data, n);
		k->len += n;
		data += n;
		size -= n;
		if (k->len == PERSIST_WRITE_CHUNK && sink_flush(k) < 0)
			return -1;
	}
	return 0;
}

int
persist_write(const char *path, const struct persist_state *s, char *err, size_t errlen)
{
	char why[256];
	if (check_state(s, why, sizeof(why)) < 0) {
		errf(err, errlen, "%s: not written: %s", path, why);
		errno = EINVAL;
		return -1;
	}
	json_t *root = state_to_json(s);
	char *tmp = path_with(path, ".tmp");
	struct sink k = {.fd = -1};
	int rc = -1, saved;

	/* A crash may have left a PATH.tmp behind; O_EXCL on a fresh name also
	 * refuses to follow a symbolic link planted there. */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		saved = errno;
		errf(err, errlen, "%s: cannot remove: %s", tmp, strerror(saved));
		goto fail;
	}
	k.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (k.fd < 0) {
		saved = errno;
		errf(err, errlen, "%s: cannot create: %s", tmp, strerror(saved));
		goto fail;
	}
	k.buf = xcalloc(PERSIST_WRITE_CHUNK, 1);
	if (json_dump_callback(root, sink_put, &k, JSON_COMPACT) < 0 || sink_flush(&k) < 0) {
		saved = k.error != 0 ? k.error : EIO;
		if (saved == EFBIG)
			errf(err, errlen,
			     "%s: not written: the state (%zu series, %zu alerts) is over the "
			     "limit of %u bytes",
			     path, s->n_series, s->n_alerts, PERSIST_MAX_BYTES);
		else
			errf(err, errlen, "%s: write: %s", tmp, strerror(saved));
		goto fail_unlink;
	}
	if (fsync(k.fd) < 0) {
		saved = errno;
		errf(err, errlen, "%s: fsync: %s", tmp, strerror(saved));
		goto fail_unlink;
	}
	int fd = k.fd;
	k.fd = -1;
	/* Some filesystems (NFS) report write errors only at close. */
	if (close(fd) < 0) {
		saved = errno;
		errf(err, errlen, "%s: close: %s", tmp, strerror(saved));
		goto fail_unlink;
	}
	if (rename(tmp, path) < 0) {
		saved = errno;
		errf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(saved));
		goto fail_unlink;
	}
	/* The new file is in place; without this the rename might not survive a
	 * power failure, so say so. */
	if (fsync_dir(path) < 0) {
		saved = errno;
		errf(err, errlen, "%s: fsync of its directory: %s", path, strerror(saved));
		goto fail;
	}
	rc = 0;
	saved = 0;
	goto out;

fail_unlink:
	unlink(tmp);
fail:
out:
	if (k.fd >= 0)
		close(k.fd);
	free(k.buf);
	free(tmp);
	json_decref(root);
	if (rc < 0)
		errno = saved;
	return rc;
}

/* ---- reading ---- */

static const char *
type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* Where in the file a value is, for messages: "series[3]" and the like. */
struct ctx {
	char where[64];
	char *err;
	size_t errlen;
};

static int
only_keys(struct ctx *c, json_t *o, const char *const *keys, size_t n)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		(void)v;
		size_t i = 0;
		while (i < n && strcmp(keys[i], key) != 0)
			i++;
		if (i == n) {
			errf(c->err, c->errlen, "%s: unknown key \"%.64s\"", c->where, key);
			return -1;
		}
	}
	return 0;
}

static const json_t *
get(struct ctx *c, const json_t *o, const char *key, json_type type, bool nullable)
{
	const json_t *v = json_object_get(o, key);
	if (v == NULL) {
		errf(c->err, c->errlen, "%s: \"%s\" is missing", c->where, key);
		return NULL;
	}
	if (json_typeof(v) == type || (nullable && json_is_null(v)))
		return v;
	errf(c->err, c->errlen, "%s: \"%s\" must be %s%s, not %s", c->where, key, type_name(type),
	     nullable ? " or null" : "", type_name(json_typeof(v)));
	return NULL;
}

static int
int_in_range(struct ctx *c, const char *key, const json_t *v, int64_t lo, int64_t hi, int64_t *out)
{
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi) {
		errf(c->err, c->errlen, "%s: \"%s\" %lld is out of range %lld..%lld", c->where, key,
		     (long long)x, (long long)lo, (long long)hi);
		return -1;
	}
	*out = (int64_t)x;
	return 0;
}

static int
get_int(struct ctx *c, const json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	const json_t *v = get(c, o, key, JSON_INTEGER, false);
	return v != NULL ? int_in_range(c, key, v, lo, hi, out) : -1;
}

/* A string or (when nullable) null; *out is NULL for null. Lengths and UTF-8
 * are checked with the rest in check_state. */
static int
get_string(struct ctx *c, const json_t *o, const char *key, bool nullable, char **out)
{
	const json_t *v = get(c, o, key, JSON_STRING, nullable);
	if (v == NULL)
		return -1;
	if (json_is_string(v)) {
		/* Refused here too, so that nothing huge is copied. */
		if (json_string_length(v) > PERSIST_MAX_STRING) {
			errf(c->err, c->errlen, "%s: \"%s\" is %zu bytes, over the limit of %u",
			     c->where, key, json_string_length(v), PERSIST_MAX_STRING);
			return -1;
		}
		*out = xstrdup(json_string_value(v));
	}
	return 0;
}

static int
buckets_from_json(struct ctx *c, const json_t *arr, struct history *h)
{
	if (json_array_size(arr) > HISTORY_BUCKETS) {
		errf(c->err, c->errlen, "%s: \"buckets\" has %zu entries, over the limit of %d",
		     c->where, json_array_size(arr), HISTORY_BUCKETS);
		return -1;
	}
	size_t k;
	const json_t *pair;
	json_array_foreach(arr, k, pair)
	{
		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    !json_is_integer(json_array_get(pair, 0)) ||
		    !json_is_integer(json_array_get(pair, 1))) {
			errf(
			    c->err, c->errlen,
			    "%s: \"buckets\"[%zu] must be an array of two integers [start_ms, max]",
			    c->where, k);
			return -1;
		}
		json_int_t start = json_integer_value(json_array_get(pair, 0));
		json_int_t max = json_integer_value(json_array_get(pair, 1));
		if (start < 0 || max < 0 || max > UINT32_MAX) {
			errf(c->err, c->errlen,
			     "%s: \"buckets\"[%zu]: [%lld, %lld] out of range (start_ms >= 0, "
			     "max 0..%u)",
			     c->where, k, (long long)start, (long long)max, UINT32_MAX);
			return -1;
		}
		if (history_restore_bucket(h, (int64_t)start, (uint32_t)max) < 0) {
			errf(c->err, c->errlen,
			     "%s: \"buckets\"[%zu]: start_ms %lld is not a bucket of window %llu "
			     "(unaligned, or a second bucket for the same slot)",
			     c->where, k, (long long)start, (unsigned long long)h->window_ms);
			return -1;
		}
	}
	return 0;
}

static int
series_from_json(struct ctx *c, json_t *o, struct persist_series *ps)
{
	static const char *const keys[] = {
	    "host",    "port", "product",   "window_ms",       "buckets",        "last",
	    "last_ms", "epid", "prev_epid", "epid_changed_ms", "last_success_ms"};
	if (!json_is_object(o)) {
		errf(c->err, c->errlen, "%s: must be an object, not %s", c->where,
		     type_name(json_typeof(o)));
		return -1;
	}
	if (only_keys(c, o, keys, sizeof(keys) / sizeof(keys[0])) < 0)
		return -1;
	int64_t port, window, last_ms, changed, success;
	if (get_string(c, o, "host", false, &ps->host) < 0 ||
	    get_int(c, o, "port", 1, UINT16_MAX, &port) < 0 ||
	    get_string(c, o, "product", false, &ps->product) < 0 ||
	    get_int(c, o, "window_ms", 0, (int64_t)HISTORY_WINDOW_MAX, &window) < 0)
		return -1;
	ps->port = (uint16_t)port;
	history_init(&ps->history, (uint64_t)window);
	const json_t *buckets = get(c, o, "buckets", JSON_ARRAY, false);
	if (buckets == NULL || buckets_from_json(c, buckets, &ps->history) < 0)
		return -1;
	const json_t *last = get(c, o, "last", JSON_INTEGER, true);
	int64_t count;
	if (last == NULL ||
	    (json_is_integer(last) && int_in_range(c, "last", last, 0, UINT32_MAX, &count) < 0))
		return -1;
	if (json_is_integer(last)) {
		ps->history.have_last = true;
		ps->history.last = (uint32_t)count;
	}
	if (get_int(c, o, "last_ms", 0, INT64_MAX, &last_ms) < 0 ||
	    get_string(c, o, "epid", true, &ps->epid) < 0 ||
	    get_string(c, o, "prev_epid", true, &ps->prev_epid) < 0 ||
	    get_int(c, o, "epid_changed_ms", 0, INT64_MAX, &changed) < 0 ||
	    get_int(c, o, "last_success_ms", 0, INT64_MAX, &success) < 0)
		return -1;
	ps->history.last_ms = last_ms;
	ps->epid_changed_ms = changed;
	ps->last_success_ms = success;
	return 0;
}

static int
alert_from_json(struct ctx *c, json_t *o, struct persist_alert *pa)
{
	static const char *const keys[] = {"fingerprint", "starts_at_ms"};
	if (!json_is_object(o)) {
		errf(c->err, c->errlen, "%s: must be an object, not %s", c->where,
		     type_name(json_typeof(o)));
		return -1;
	}
	if (only_keys(c, o, keys, sizeof(keys) / sizeof(keys[0])) < 0)
		return -1;
	return get_string(c, o, "fingerprint", false, &pa->fingerprint) < 0 ||
	               get_int(c, o, "starts_at_ms", 0, INT64_MAX, &pa->starts_at_ms) < 0
	           ? -1
	           : 0;
}

static int
state_from_json(json_t *root, struct persist_state *s, char *err, size_t errlen)
{
	static const char *const keys[] = {"version", "written_at_ms", "series", "alerts"};
	struct ctx c = {.where = "top level", .err = err, .errlen = errlen};
	if (!json_is_object(root)) {
		errf(err, errlen, "top level: must be an object, not %s",
		     type_name(json_typeof(root)));
		return -1;
	}
	/* The version first: a newer file's other differences are no surprise. */
	const json_t *version = get(&c, root, "version", JSON_INTEGER, false);
	if (version == NULL)
		return -1;
	if (json_integer_value(version) != PERSIST_VERSION) {
		errf(err, errlen, "unsupported version %lld (this agent reads version %d)",
		     (long long)json_integer_value(version), PERSIST_VERSION);
		return -1;
	}
	int64_t written;
	if (only_keys(&c, root, keys, sizeof(keys) / sizeof(keys[0])) < 0 ||
	    get_int(&c, root, "written_at_ms", 0, INT64_MAX, &written) < 0)
		return -1;
	const json_t *series = get(&c, root, "series", JSON_ARRAY, false);
	const json_t *alerts = series ? get(&c, root, "alerts", JSON_ARRAY, false) : NULL;
	if (series == NULL || alerts == NULL)
		return -1;
	if (json_array_size(series) > PERSIST_MAX_SERIES) {
		errf(err, errlen, "%zu series, over the limit of %u", json_array_size(series),
		     PERSIST_MAX_SERIES);
		return -1;
	}
	if (json_array_size(alerts) > PERSIST_MAX_ALERTS) {
		errf(err, errlen, "%zu alerts, over the limit of %u", json_array_size(alerts),
		     PERSIST_MAX_ALERTS);
		return -1;
	}
	s->series = xcalloc(json_array_size(series), sizeof(*s->series));
	s->alerts = xcalloc(json_array_size(alerts), sizeof(*s->alerts));
	size_t i;
	json_t *v;
	json_array_foreach(series, i, v)
	{
		snprintf(c.where, sizeof(c.where), "series[%zu]", i);
		/* Counted first so that persist_state_free releases a partial entry. */
		s->n_series++;
		if (series_from_json(&c, v, &s->series[i]) < 0)
			return -1;
	}
	json_array_foreach(alerts, i, v)
	{
		snprintf(c.where, sizeof(c.where), "alerts[%zu]", i);
		s->n_alerts++;
		if (alert_from_json(&c, v, &s->alerts[i]) < 0)
			return -1;
	}
	return 0;
}

/* The whole file, at most PERSIST_MAX_BYTES + 1 bytes of it: one more than
 * allowed is enough to refuse a file that grew after fstat. */
static int
read_file(int fd, const char *path, size_t hint, char **out, size_t *outlen, char *err,
          size_t errlen)
{
	size_t cap = (hint < PERSIST_MAX_BYTES ? hint : PERSIST_MAX_BYTES) + 1, len = 0;
	char *buf = xcalloc(cap, 1);
	for (;;) {
		if (len == cap) {
			if (cap > PERSIST_MAX_BYTES)
				break;
			size_t ncap =
			    cap * 2 < PERSIST_MAX_BYTES + 1 ? cap * 2 : PERSIST_MAX_BYTES + 1;
			char *nbuf = realloc(buf, ncap);
			if (nbuf == NULL)
				fatal("persist");
			buf = nbuf;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			errf(err, errlen, "%s: read: %s", path, strerror(saved));
			free(buf);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > PERSIST_MAX_BYTES) {
		errf(err, errlen, "%s: over the limit of %u bytes (64 MiB)", path,
		     PERSIST_MAX_BYTES);
		free(buf);
		errno = EFBIG;
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int
persist_read(const char *path, struct persist_state *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int saved = errno;
		if (saved == ENOENT)
			return 1;
		errf(err, errlen, "%s: cannot open: %s", path, strerror(saved));
		errno = saved;
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		errf(err, errlen, "%s: fstat: %s", path, strerror(saved));
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		errf(err, errlen, "%s: not a regular file", path);
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if ((uint64_t)st.st_size > PERSIST_MAX_BYTES) {
		errf(err, errlen, "%s: %lld bytes, over the limit of %u bytes (64 MiB)", path,
		     (long long)st.st_size, PERSIST_MAX_BYTES);
		close(fd);
		errno = EFBIG;
		return -1;
	}
	char *buf;
	size_t len;
	int rc = read_file(fd, path, (size_t)st.st_size, &buf, &len, err, errlen);
	int saved = errno;
	close(fd);
	if (rc < 0) {
		errno = saved;
		return -1;
	}
	if (len == 0) {
		free(buf);
		errf(err, errlen, "%s: empty file", path);
		errno = EINVAL;
		return -1;
	}
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (root == NULL) {
		errf(err, errlen,
		     "%s: not valid JSON (truncated or damaged?): line %d column %d: %s", path,
		     je.line, je.column, je.text);
		errno = EINVAL;
		return -1;
	}
	char why[512];
	rc = state_from_json(root, s, why, sizeof(why));
	json_decref(root);
	if (rc == 0)
		rc = check_state(s, why, sizeof(why));
	if (rc < 0) {
		errf(err, errlen, "%s: %s", path, why);
		persist_state_free(s);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
persist_quarantine(const char *path)
{
	char *dst = path_with(path, ".corrupt");
	/* rename replaces an older PATH.corrupt atomically. The directory is not
	 * synced: the next persist_write, which replaces PATH, does that. */
	int rc = rename(path, dst);
	int saved = errno;
	free(dst);
	errno = saved;
	return rc;
}
