/*
 * Exposition writer; see expo.h. The formats follow the Prometheus text format
 * 0.0.4 and the OpenMetrics 1.0 ABNF; where they differ (HELP escaping, counter
 * naming, descriptor order, the EOF line) the difference is noted in place.
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/expo.h"

#define EXPO_COUNTER_SUFFIX "_total"

/* 2^53: below it every integer is exactly representable as a double. */
#define EXPO_EXACT_INT_LIMIT 9007199254740992.0

static bool
expo_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
expo_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]*, at most EXPO_NAME_MAX bytes. */
static bool
expo_valid_metric_name(const char *s)
{
	if (s == NULL || !(expo_is_alpha(s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	size_t i;
	for (i = 1; s[i] != '\0'; i++) {
		if (i >= EXPO_NAME_MAX)
			return false;
		if (!(expo_is_alpha(s[i]) || expo_is_digit(s[i]) || s[i] == '_' || s[i] == ':'))
			return false;
	}
	return true;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, and not the __ prefix Prometheus reserves. */
static bool
expo_valid_label_name(const char *s)
{
	if (s == NULL || !(expo_is_alpha(s[0]) || s[0] == '_'))
		return false;
	if (s[0] == '_' && s[1] == '_')
		return false;
	for (size_t i = 1; s[i] != '\0'; i++)
		if (!(expo_is_alpha(s[i]) || expo_is_digit(s[i]) || s[i] == '_'))
			return false;
	return true;
}

/*
 * Length of the well-formed UTF-8 sequence starting at s (1 to 4), or 0 if
 * there is none; then *bad is the length of the maximal ill-formed prefix,
 * which the caller replaces by a single U+FFFD (the Unicode "maximal subpart"
 * practice, so one truncated character costs one replacement). Overlong forms,
 * surrogates and code points past U+10FFFF are ill-formed. s is NUL-terminated
 * and NUL is never a continuation byte, so the scan stops at the end.
 */
static size_t
expo_utf8_len(const unsigned char *s, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		*bad = 1;
		return 0;
	}
	for (size_t i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

/*
 * Writes s escaped: backslash and newline always, double quote when quote is
 * set (label values in both formats, HELP in OpenMetrics; the 0.0.4 parser
 * rejects \" in HELP). Both formats require UTF-8, and an ingestor must reject
 * an exposition with invalid UTF-8 as a whole, so one bad byte from a KMS host
 * or a DNS answer would cost every series; invalid bytes become U+FFFD instead.
 */
static void
expo_put_escaped(struct buf *b, const char *s, bool quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0;

	while (p[run] != '\0') {
		const char *esc = NULL;
		size_t len, bad = 0;

		if (p[run] == '\\')
			esc = "\\\\";
		else if (p[run] == '\n')
			esc = "\\n";
		else if (p[run] == '"' && quote)
			esc = "\\\"";
		if (esc != NULL) {
			buf_append(b, p, run);
			buf_puts(b, esc);
			p += run + 1;
			run = 0;
			continue;
		}
		len = expo_utf8_len(p + run, &bad);
		if (len > 0) {
			run += len;
			continue;
		}
		buf_append(b, p, run);
		buf_puts(b, "\xef\xbf\xbd");
		p += run + bad;
		run = 0;
	}
	buf_append(b, p, run);
}

/*
 * Integers below 2^53 print plainly (1688, not 1688.0 or 1.688e+03) because
 * operators read these values; anything else gets the shortest of %.15g,
 * %.16g and %.17g that reads back as the same double (17 digits always do).
 * Negative zero prints as 0. The decimal point assumes the C locale for
 * LC_NUMERIC, which kmswatch never changes.
 */
static void
expo_put_value(struct buf *b, double v)
{
	char tmp[40];

	if (isnan(v)) {
		buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v > -EXPO_EXACT_INT_LIMIT && v < EXPO_EXACT_INT_LIMIT && v == (double)(int64_t)v) {
		buf_printf(b, "%lld", (long long)(int64_t)v);
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	buf_puts(b, tmp);
}

void
expo_init(struct expo *e, struct buf *out, enum expo_format format)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->format = format;
}

const char *
expo_content_type(enum expo_format format)
{
	if (format == EXPO_OPENMETRICS)
		return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	return "text/plain; version=0.0.4; charset=utf-8";
}

static bool
expo_has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len > n && memcmp(s + len - n, suffix, n) == 0;
}

int
expo_family(struct expo *e, const char *name, enum expo_type type, const char *help)
{
	const char *type_name;
	size_t len, family_len;

	/* A failed family must not leave the previous one open, or the caller's
	 * next samples would land under the wrong name. */
	e->family_open = false;
	if (e->out->overflow || e->finished || !expo_valid_metric_name(name))
		return -1;
	switch (type) {
	case EXPO_COUNTER:
		type_name = "counter";
		break;
	case EXPO_GAUGE:
	case EXPO_INFO:
	case EXPO_STATESET:
		type_name = "gauge";
		break;
	default:
		return -1;
	}

	len = strlen(name);
	family_len = len;
	memcpy(e->sample_name, name, len + 1);
	/* OpenMetrics names a counter family without _total and its samples with
	 * it; 0.0.4 has one name for both. */
	if (e->format == EXPO_OPENMETRICS && type == EXPO_COUNTER) {
		if (expo_has_suffix(name, len, EXPO_COUNTER_SUFFIX))
			family_len = len - strlen(EXPO_COUNTER_SUFFIX);
		else
			memcpy(e->sample_name + len, EXPO_COUNTER_SUFFIX,
			       sizeof(EXPO_COUNTER_SUFFIX));
	}

	bool has_help = help != NULL && help[0] != '\0';
	if (e->format == EXPO_OPENMETRICS) {
		/* OpenMetrics recommends TYPE before HELP and escapes quotes in HELP. */
		buf_printf(e->out, "# TYPE %.*s %s\n", (int)family_len, name, type_name);
		if (has_help) {
			buf_printf(e->out, "# HELP %.*s ", (int)family_len, name);
			expo_put_escaped(e->out, help, true);
			buf_putc(e->out, '\n');
		}
	} else {
		if (has_help) {
			buf_printf(e->out, "# HELP %s ", name);
			expo_put_escaped(e->out, help, false);
			buf_putc(e->out, '\n');
		}
		buf_printf(e->out, "# TYPE %s %s\n", name, type_name);
	}
	if (e->out->overflow)
		return -1;
	e->family_open = true;
	return 0;
}

/* Checks every label before anything is written, so a bad call writes nothing. */
static bool
expo_valid_labels(const struct expo_label *labels, size_t n)
{
	if (n > 0 && labels == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!expo_valid_label_name(labels[i].name) || labels[i].value == NULL)
			return false;
		/* Duplicate names make the whole exposition invalid. Label sets are
		 * a handful of entries, so the quadratic check is cheap. */
		for (size_t j = 0; j < i; j++)
			if (strcmp(labels[i].name, labels[j].name) == 0)
				return false;
	}
	return true;
}

int
expo_sample(struct expo *e, const struct expo_label *labels, size_t n_labels, double value)
{
	if (e->out->overflow || e->finished)
		return -1;
	/* Samples belong to the family declared last; the caller groups them. */
	assert(e->family_open);
	if (!e->family_open || !expo_valid_labels(labels, n_labels))
		return -1;

	buf_puts(e->out, e->sample_name);
	if (n_labels > 0) {
		for (size_t i = 0; i < n_labels; i++) {
			buf_putc(e->out, i == 0 ? '{' : ',');
			buf_puts(e->out, labels[i].name);
			buf_puts(e->out, "=\"");
			expo_put_escaped(e->out, labels[i].value, true);
			buf_putc(e->out, '"');
		}
		buf_putc(e->out, '}');
	}
	buf_putc(e->out, ' ');
	expo_put_value(e->out, value);
	buf_putc(e->out, '\n');
	return e->out->overflow ? -1 : 0;
}

int
expo_samplef(struct expo *e, double value, ...)
{
	struct expo_label labels[EXPO_SAMPLEF_MAX];
	size_t n = 0;
	const char *name;
	va_list ap;
	int rc = 0;

	va_start(ap, value);
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		/* A NULL value is either a missing pair member or an unset string;
		 * both are caller bugs. Stop reading: what follows is unknown. */
		if (v == NULL || n == EXPO_SAMPLEF_MAX) {
			rc = -1;
			break;
		}
		labels[n].name = name;
		labels[n].value = v;
		n++;
	}
	va_end(ap);
	if (rc == -1)
		return -1;
	return expo_sample(e, labels, n, value);
}

int
expo_finish(struct expo *e)
{
	if (e->out->overflow || e->finished)
		return -1;
	e->finished = true;
	e->family_open = false;
	if (e->format == EXPO_OPENMETRICS)
		buf_puts(e->out, "# EOF\n");
	return e->out->overflow ? -1 : 0;
}
