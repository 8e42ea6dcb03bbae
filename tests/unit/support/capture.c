/*
 * Capture loader for unit tests; see capture.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"

#include "capture.h"

#ifndef TEST_DATA_DIR
#error "TEST_DATA_DIR must be defined by the build"
#endif

/* Generous bounds for test data: the captures are a few kilobytes. */
#define CAPTURE_MAX_STREAM (1u << 20)
#define CAPTURE_MAX_PATH   4096
#define CAPTURE_RPC_HEADER 16

static int
hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
capture_hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex);
	if (n % 2 != 0)
		return -1;
	/* One spare byte so an empty string still yields a non-NULL buffer. */
	uint8_t *p = malloc(n / 2 + 1);
	if (p == NULL)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(p);
			return -1;
		}
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = p;
	*len = n / 2;
	return 0;
}

void
capture_guid_format(const uint8_t wire[16], char text[37])
{
	/* The first three fields are little-endian on the wire, the rest as
	 * written, so the text order of the wire bytes is this permutation. */
	static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
	static const char digits[] = "0123456789abcdef";
	size_t t = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			text[t++] = '-';
		text[t++] = digits[wire[order[i]] >> 4];
		text[t++] = digits[wire[order[i]] & 0x0f];
	}
	text[t] = '\0';
}

bool
capture_guid_equal(const uint8_t wire[16], const char *text)
{
	char mine[37];
	capture_guid_format(wire, mine);
	return strlen(text) == 36 && strncasecmp(mine, text, 36) == 0;
}

static json_t *
expected_lookup(const struct capture *c, const char *path)
{
	json_t *j = c->expected;
	const char *p = path;
	while (j != NULL && *p != '\0') {
		const char *dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		j = json_object_getn(j, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
	return j;
}

const char *
capture_expected_str(const struct capture *c, const char *path)
{
	return json_string_value(expected_lookup(c, path));
}

long long
capture_expected_int(const struct capture *c, const char *path)
{
	json_t *j = expected_lookup(c, path);
	return json_is_integer(j) ? (long long)json_integer_value(j) : -1;
}

int
capture_expected_u32(const struct capture *c, const char *path, uint32_t *out)
{
	json_t *j = expected_lookup(c, path);
	if (json_is_integer(j)) {
		json_int_t v = json_integer_value(j);
		if (v < 0 || v > UINT32_MAX)
			return -1;
		*out = (uint32_t)v;
		return 0;
	}
	const char *s = json_string_value(j);
	if (s == NULL)
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

const struct capture_pdu *
capture_nth(const struct capture *c, int dir, size_t n)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->pdus[i].dir == dir && n-- == 0)
			return &c->pdus[i];
	return NULL;
}

const struct capture_pdu *
capture_find(const struct capture *c, int dir, uint8_t ptype, size_t n)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct capture_pdu *p = &c->pdus[i];
		if (p->dir == dir && p->len > 2 && p->data[2] == ptype && n-- == 0)
			return p;
	}
	return NULL;
}

void
capture_free(struct capture *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->pdus[i].data);
	free(c->pdus);
	json_decref(c->expected);
	memset(c, 0, sizeof(*c));
}

static json_t *
load_json(const char *name, const char *suffix)
{
	char path[CAPTURE_MAX_PATH];
	int n = snprintf(path, sizeof(path), "%s/kms/%s%s", TEST_DATA_DIR, name, suffix);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "capture %s: path too long\n", name);
		return NULL;
	}
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);
	if (j == NULL)
		fprintf(stderr, "capture %s: %s:%d:%d: %s\n", name, path, err.line, err.column,
		        err.text);
	return j;
}

static int
add_pdu(struct capture *c, int dir, const uint8_t *data, size_t len)
{
	struct capture_pdu *p = realloc(c->pdus, (c->n + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	c->pdus = p;
	uint8_t *copy = malloc(len);
	if (copy == NULL)
		return -1;
	memcpy(copy, data, len);
	c->pdus[c->n++] = (struct capture_pdu){.dir = dir, .data = copy, .len = len};
	return 0;
}

/* Moves every complete PDU at the front of stream s into c. The fragment
 * length is read at offset 8; a value below the header size could never make
 * progress and is an error. */
static int
drain_stream(const char *name, struct capture *c, int dir, struct buf *s)
{
	size_t off = 0;
	int rc = 0;
	while (s->len - off >= CAPTURE_RPC_HEADER) {
		struct buf_reader r;
		uint16_t frag;
		buf_reader_init(&r, s->data + off, s->len - off);
		if (buf_skip(&r, 8) == -1 || buf_get_u16le(&r, &frag) == -1)
			break;
		if (frag < CAPTURE_RPC_HEADER) {
			fprintf(stderr, "capture %s: %s fragment length %u is below 16\n", name,
			        dir == CAPTURE_C2S ? "c2s" : "s2c", frag);
			rc = -1;
			break;
		}
		if (s->len - off < frag)
			break;
		if (add_pdu(c, dir, s->data + off, frag) == -1) {
			fprintf(stderr, "capture %s: out of memory\n", name);
			rc = -1;
			break;
		}
		off += frag;
	}
	if (off > 0) {
		memmove(s->data, s->data + off, s->len - off);
		s->len -= off;
	}
	return rc;
}

static int
load_frames(const char *name, json_t *frames, struct capture *c)
{
	struct buf streams[2];
	int rc = -1;
	buf_init(&streams[0], CAPTURE_MAX_STREAM);
	buf_init(&streams[1], CAPTURE_MAX_STREAM);
	if (!json_is_array(frames)) {
		fprintf(stderr, "capture %s: frames file is not a JSON array\n", name);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(frames); i++) {
		json_t *frame = json_array_get(frames, i);
		const char *dir = json_string_value(json_object_get(frame, "dir"));
		const char *hex = json_string_value(json_object_get(frame, "hex"));
		int d;
		if (dir != NULL && strcmp(dir, "c2s") == 0)
			d = CAPTURE_C2S;
		else if (dir != NULL && strcmp(dir, "s2c") == 0)
			d = CAPTURE_S2C;
		else {
			fprintf(stderr, "capture %s: frame %zu: bad or missing \"dir\"\n", name, i);
			goto fail;
		}
		uint8_t *bytes;
		size_t len;
		if (hex == NULL || capture_hex_decode(hex, &bytes, &len) == -1) {
			fprintf(stderr, "capture %s: frame %zu: bad or missing \"hex\"\n", name, i);
			goto fail;
		}
		int ok = buf_append(&streams[d], bytes, len);
		free(bytes);
		if (ok == -1) {
			fprintf(stderr, "capture %s: frame %zu: stream too large\n", name, i);
			goto fail;
		}
		if (drain_stream(name, c, d, &streams[d]) == -1)
			goto fail;
	}
	for (int d = 0; d < 2; d++) {
		if (streams[d].len != 0) {
			fprintf(stderr, "capture %s: %zu bytes left over in the %s stream\n", name,
			        streams[d].len, d == CAPTURE_C2S ? "c2s" : "s2c");
			goto fail;
		}
	}
	if (c->n == 0) {
		fprintf(stderr, "capture %s: no PDUs\n", name);
		goto fail;
	}
	rc = 0;
fail:
	buf_free(&streams[0]);
	buf_free(&streams[1]);
	return rc;
}

int
capture_load(const char *name, struct capture *out)
{
	memset(out, 0, sizeof(*out));
	json_t *frames = load_json(name, ".frames.json");
	if (frames == NULL)
		return -1;
	int rc = load_frames(name, frames, out);
	json_decref(frames);
	if (rc == 0) {
		out->expected = load_json(name, ".expected.json");
		if (out->expected == NULL)
			rc = -1;
	}
	if (rc == -1)
		capture_free(out);
	return rc;
}
