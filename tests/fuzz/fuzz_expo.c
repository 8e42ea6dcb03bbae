/*
 * Fuzz harness for the exposition writer. The input is one flags byte and then
 * NUL-separated pieces: metric name, HELP text, value (read with strtod), and
 * up to EXPO_SAMPLEF_MAX label name/value pairs. The harness writes a family
 * and two samples (all pairs through expo_sample, the first two through
 * expo_samplef), then parses the output back with its own minimal parser and
 * aborts unless: every line is a well-formed descriptor or sample; label
 * values and HELP close on their own line with only the escapes the format
 * defines (so no raw newline can sit inside one); the whole output is valid
 * UTF-8; values, label values and HELP read back as written; and a rejected
 * call wrote nothing.
 *
 * Flags: bit 0 selects OpenMetrics, bits 1-2 the family type, bit 3 a tiny
 * buffer cap of 16 * (bits 4-7) bytes to exercise overflow.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"
#include "kmswatch/expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT   (1u << 14)
#define FUZZ_MAX_PIECES  (3 + 2 * EXPO_SAMPLEF_MAX)
#define FUZZ_MAX_SAMPLES 2

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(#cond, __LINE__);                                                \
	} while (0)

static void
fuzz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_expo: check failed at line %d: %s\n", line, what);
	abort();
}

/* What one successful sample call should have produced. */
struct fuzz_sample {
	const struct expo_label *labels;
	size_t n;
	double value;
};

struct fuzz_want {
	bool om;
	bool counter;
	const char *help;
	char family[EXPO_NAME_MAX + 1];
	char sample_name[EXPO_NAME_MAX + sizeof("_total")];
	struct fuzz_sample samples[FUZZ_MAX_SAMPLES];
	size_t n_samples;
};

/*
 * Decodes one UTF-8 character by value and range, a different method from the
 * writer's byte table so that the two do not share a mistake. Returns its
 * length, or 0 if the bytes at p are not well-formed UTF-8.
 */
static size_t
fuzz_utf8_char(const unsigned char *p, const unsigned char *end)
{
	static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static bool
fuzz_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		size_t len = fuzz_utf8_char(p, end);
		if (len == 0)
			return false;
		p += len;
	}
	return true;
}

static bool
fuzz_name_char(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || (colon && c == ':');
}

/* Length of the name at s (metric names allow ':'), 0 if none starts there. */
static size_t
fuzz_name_len(const char *s, const char *end, bool colon)
{
	size_t n = 0;
	if (s < end && s[0] >= '0' && s[0] <= '9')
		return 0;
	while (s + n < end && fuzz_name_char(s[n], colon))
		n++;
	return n;
}

static bool
fuzz_span_eq(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && memcmp(s, want, n) == 0;
}

/*
 * Unescapes [s, end) into out (at least end - s + 1 bytes). A quoted string
 * ends at an unescaped '"' (*s_end points there); HELP text runs to end. Any
 * escape the format does not define, a raw quote where one must be escaped, or
 * a quoted string still open at the end of its line is a failed check.
 */
static size_t
fuzz_unescape(const char *s, const char *end, bool quoted, bool quote_escape, char *out,
              const char **s_end)
{
	size_t n = 0;
	while (s < end) {
		if (*s == '"' && quoted)
			break;
		FUZZ_CHECK(*s != '"' || !quote_escape);
		if (*s != '\\') {
			out[n++] = *s++;
			continue;
		}
		FUZZ_CHECK(s + 1 < end);
		if (s[1] == '\\')
			out[n++] = '\\';
		else if (s[1] == 'n')
			out[n++] = '\n';
		else if (s[1] == '"' && quote_escape)
			out[n++] = '"';
		else
			fuzz_fail("undefined escape", __LINE__);
		s += 2;
	}
	FUZZ_CHECK(!quoted || s < end);
	out[n] = '\0';
	*s_end = s;
	return n;
}

/* The text must read back as written, or as a repair of invalid input. */
static void
fuzz_check_text(const char *got, size_t n, const char *orig)
{
	if (fuzz_utf8_valid(orig, strlen(orig)))
		FUZZ_CHECK(fuzz_span_eq(got, n, orig));
	else
		FUZZ_CHECK(memmem(got, n, "\xef\xbf\xbd", 3) != NULL);
}

static void
fuzz_check_value(const char *s, const char *end, double want)
{
	if (fuzz_span_eq(s, (size_t)(end - s), "NaN")) {
		FUZZ_CHECK(isnan(want));
		return;
	}
	if (fuzz_span_eq(s, (size_t)(end - s), "+Inf") ||
	    fuzz_span_eq(s, (size_t)(end - s), "-Inf")) {
		FUZZ_CHECK(isinf(want) && (s[0] == '-') == (want < 0));
		return;
	}
	FUZZ_CHECK(s < end);
	for (const char *p = s; p < end; p++)
		FUZZ_CHECK((*p >= '0' && *p <= '9') || *p == '.' || *p == 'e' || *p == '-' ||
		           *p == '+');
	char num[64];
	FUZZ_CHECK((size_t)(end - s) < sizeof(num));
	memcpy(num, s, (size_t)(end - s));
	num[end - s] = '\0';
	char *num_end;
	double got = strtod(num, &num_end);
	FUZZ_CHECK(*num_end == '\0');
	/* == also matches -0 written as 0, which the writer does on purpose. */
	FUZZ_CHECK(got == want);
}

static void
fuzz_check_sample(const char *s, const char *end, const struct fuzz_want *w,
                  const struct fuzz_sample *want, char *scratch)
{
	size_t n = fuzz_name_len(s, end, true);
	FUZZ_CHECK(fuzz_span_eq(s, n, w->sample_name));
	s += n;
	size_t i = 0;
	if (s < end && *s == '{') {
		s++;
		while (s < end && *s != '}') {
			n = fuzz_name_len(s, end, false);
			FUZZ_CHECK(n > 0 && i < want->n);
			FUZZ_CHECK(fuzz_span_eq(s, n, want->labels[i].name));
			s += n;
			FUZZ_CHECK(end - s >= 2 && s[0] == '=' && s[1] == '"');
			s += 2;
			n = fuzz_unescape(s, end, true, true, scratch, &s);
			fuzz_check_text(scratch, n, want->labels[i].value);
			s++; /* the closing quote */
			i++;
			FUZZ_CHECK(s < end && (*s == ',' || *s == '}'));
			if (*s == ',')
				s++;
		}
		FUZZ_CHECK(s < end && i > 0);
		s++;
	}
	FUZZ_CHECK(i == want->n);
	FUZZ_CHECK(s < end && *s == ' ');
	fuzz_check_value(s + 1, end, want->value);
}

static void
fuzz_check_output(const char *out, size_t len, const struct fuzz_want *w)
{
	const char *line = out, *end = out + len;
	size_t n_type = 0, n_help = 0, n_samples = 0, n_eof = 0;
	char *scratch = malloc(len + 1);

	FUZZ_CHECK(scratch != NULL);
	FUZZ_CHECK(memchr(out, '\0', len) == NULL);
	FUZZ_CHECK(fuzz_utf8_valid(out, len));
	FUZZ_CHECK(len == 0 || out[len - 1] == '\n');
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		FUZZ_CHECK(n_eof == 0);
		if (eol - line >= 7 && memcmp(line, "# TYPE ", 7) == 0) {
			const char *s = line + 7;
			size_t n = fuzz_name_len(s, eol, true);
			FUZZ_CHECK(n > 0 && fuzz_span_eq(s, n, w->family));
			FUZZ_CHECK(n_samples == 0 && n_type++ == 0);
			/* OpenMetrics orders TYPE before HELP, 0.0.4 conventionally after. */
			FUZZ_CHECK(n_help == (w->om ? 0 : (w->help != NULL && w->help[0] != '\0')));
			FUZZ_CHECK(fuzz_span_eq(s + n, (size_t)(eol - s - n),
			                        w->counter ? " counter" : " gauge"));
		} else if (eol - line >= 7 && memcmp(line, "# HELP ", 7) == 0) {
			const char *s = line + 7, *text_end;
			size_t n = fuzz_name_len(s, eol, true);
			FUZZ_CHECK(n > 0 && fuzz_span_eq(s, n, w->family));
			FUZZ_CHECK(n_samples == 0 && n_help++ == 0);
			FUZZ_CHECK(w->help != NULL && s + n < eol && s[n] == ' ');
			n = fuzz_unescape(s + n + 1, eol, false, w->om, scratch, &text_end);
			fuzz_check_text(scratch, n, w->help);
		} else if (fuzz_span_eq(line, (size_t)(eol - line), "# EOF")) {
			FUZZ_CHECK(w->om);
			n_eof++;
		} else {
			FUZZ_CHECK(line[0] != '#' && n_samples < w->n_samples);
			fuzz_check_sample(line, eol, w, &w->samples[n_samples], scratch);
			n_samples++;
		}
		line = eol + 1;
	}
	FUZZ_CHECK(n_type == 1);
	FUZZ_CHECK(n_help == (w->help != NULL && w->help[0] != '\0'));
	FUZZ_CHECK(n_samples == w->n_samples);
	FUZZ_CHECK(n_eof == (w->om ? 1 : 0));
	free(scratch);
}

/* Fills in the names the writer should use for this family. */
static void
fuzz_want_names(struct fuzz_want *w, const char *name)
{
	size_t len = strlen(name), sfx = strlen("_total");
	FUZZ_CHECK(len <= EXPO_NAME_MAX);
	memcpy(w->family, name, len + 1);
	memcpy(w->sample_name, name, len + 1);
	if (!w->om || !w->counter)
		return;
	if (len > sfx && strcmp(name + len - sfx, "_total") == 0)
		w->family[len - sfx] = '\0';
	else
		memcpy(w->sample_name + len, "_total", sfx + 1);
}

static int
fuzz_samplef(struct expo *e, double v, const struct expo_label *l, size_t n)
{
	if (n == 0)
		return expo_samplef(e, v, NULL);
	if (n == 1)
		return expo_samplef(e, v, l[0].name, l[0].value, NULL);
	return expo_samplef(e, v, l[0].name, l[0].value, l[1].name, l[1].value, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *pieces[FUZZ_MAX_PIECES];
	struct expo_label labels[EXPO_SAMPLEF_MAX];
	struct fuzz_want w;
	struct buf out;
	struct expo e;
	size_t n_pieces = 0, n_labels = 0, cap;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	uint8_t flags = data[0];
	/* A NUL-terminated copy: each NUL in the input ends one piece. */
	char *text = malloc(size);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	for (size_t off = 0; off < size && n_pieces < FUZZ_MAX_PIECES;
	     off += strlen(text + off) + 1)
		pieces[n_pieces++] = text + off;

	const char *name = n_pieces > 0 ? pieces[0] : "";
	const char *help = n_pieces > 1 ? pieces[1] : NULL;
	double value = n_pieces > 2 ? strtod(pieces[2], NULL) : 0;
	for (size_t i = 3; i + 1 < n_pieces; i += 2) {
		labels[n_labels].name = pieces[i];
		labels[n_labels].value = pieces[i + 1];
		n_labels++;
	}

	memset(&w, 0, sizeof(w));
	w.om = flags & 1;
	enum expo_type type = (enum expo_type)((flags >> 1) & 3);
	w.counter = type == EXPO_COUNTER;
	w.help = help;
	cap = flags & 8 ? 16u * (flags >> 4) : 1u << 16;
	buf_init(&out, cap);
	expo_init(&e, &out, w.om ? EXPO_OPENMETRICS : EXPO_TEXT_004);

	int rc = expo_family(&e, name, type, help);
	if (rc == -1 && !out.overflow) {
		/* A rejected name writes nothing, and nothing more can be checked. */
		FUZZ_CHECK(out.len == 0);
		goto done;
	}
	if (rc == 0) {
		fuzz_want_names(&w, name);
		for (int k = 0; k < FUZZ_MAX_SAMPLES; k++) {
			size_t n = k == 0 ? n_labels : (n_labels < 2 ? n_labels : 2);
			size_t before = out.len;
			rc = k == 0 ? expo_sample(&e, labels, n, value)
			            : fuzz_samplef(&e, value, labels, n);
			if (rc == 0) {
				w.samples[w.n_samples].labels = labels;
				w.samples[w.n_samples].n = n;
				w.samples[w.n_samples].value = value;
				w.n_samples++;
			} else if (!out.overflow) {
				FUZZ_CHECK(out.len == before);
			}
		}
	}
	rc = expo_finish(&e);
	FUZZ_CHECK(out.len <= cap);
	if (out.overflow) {
		/* Overflow is sticky and always reported. */
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(expo_family(&e, "m", EXPO_GAUGE, NULL) == -1);
		goto done;
	}
	FUZZ_CHECK(rc == 0);
	fuzz_check_output(buf_str(&out), out.len, &w);
done:
	buf_free(&out);
	free(text);
	return 0;
}
