/*
 * Bounds-checked reader and size-capped writer; see buf.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"

void
buf_reader_init(struct buf_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data != NULL ? len : 0;
	r->off = 0;
	r->failed = false;
}

size_t
buf_remaining(const struct buf_reader *r)
{
	return r->failed ? 0 : r->len - r->off;
}

bool
buf_ok(const struct buf_reader *r)
{
	return !r->failed;
}

int
buf_get_ptr(struct buf_reader *r, const uint8_t **p, size_t n)
{
	if (r->failed || n > r->len - r->off) {
		r->failed = true;
		return -1;
	}
	*p = r->data + r->off;
	r->off += n;
	return 0;
}

int
buf_get_bytes(struct buf_reader *r, void *out, size_t n)
{
	const uint8_t *p;
	if (buf_get_ptr(r, &p, n) == -1)
		return -1;
	if (n > 0)
		memcpy(out, p, n);
	return 0;
}

int
buf_skip(struct buf_reader *r, size_t n)
{
	const uint8_t *p;
	return buf_get_ptr(r, &p, n);
}

int
buf_get_sub(struct buf_reader *r, struct buf_reader *sub, size_t n)
{
	const uint8_t *p;
	if (buf_get_ptr(r, &p, n) == -1) {
		buf_reader_init(sub, NULL, 0);
		sub->failed = true;
		return -1;
	}
	buf_reader_init(sub, p, n);
	return 0;
}

int
buf_get_u8(struct buf_reader *r, uint8_t *v)
{
	const uint8_t *p;
	if (buf_get_ptr(r, &p, 1) == -1)
		return -1;
	*v = p[0];
	return 0;
}

int
buf_get_u16le(struct buf_reader *r, uint16_t *v)
{
	const uint8_t *p;
	if (buf_get_ptr(r, &p, 2) == -1)
		return -1;
	*v = (uint16_t)(p[0] | (uint16_t)p[1] << 8);
	return 0;
}

int
buf_get_u32le(struct buf_reader *r, uint32_t *v)
{
	const uint8_t *p;
	if (buf_get_ptr(r, &p, 4) == -1)
		return -1;
	*v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

int
buf_get_u64le(struct buf_reader *r, uint64_t *v)
{
	uint32_t lo, hi;
	if (buf_get_u32le(r, &lo) == -1 || buf_get_u32le(r, &hi) == -1)
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

/* Makes room for n more bytes plus a terminating NUL, within the cap. */
static int
buf_reserve(struct buf *b, size_t n)
{
	if (b->overflow)
		return -1;
	if (n > b->max - b->len) {
		b->overflow = true;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL) {
		b->overflow = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->overflow = true;
		return -1;
	}
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (buf_reserve(b, (size_t)n) == -1)
		return -1;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_append(b, &v, 1);
}

int
buf_put_u16le(struct buf *b, uint16_t v)
{
	uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	return buf_append(b, p, sizeof(p));
}

int
buf_put_u32le(struct buf *b, uint32_t v)
{
	uint8_t p[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	return buf_append(b, p, sizeof(p));
}

int
buf_put_u64le(struct buf *b, uint64_t v)
{
	uint8_t p[8];
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return buf_append(b, p, sizeof(p));
}

int
buf_put_zeros(struct buf *b, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	memset(b->data + b->len, 0, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

uint8_t *
buf_steal(struct buf *b, size_t *len)
{
	uint8_t *p = b->data;
	if (p == NULL) {
		p = calloc(1, 1);
		if (p == NULL)
			return NULL;
	}
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
	return p;
}

const char *
buf_str(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}
