/*
 * Bounds-checked byte reader and size-capped growable writer. Every parser in
 * kmswatch reads through struct buf_reader and never indexes raw memory; every
 * builder writes through struct buf, whose capacity is capped so that input can
 * never grow memory without bound.
 */
#ifndef KMSWATCH_BUF_H
#define KMSWATCH_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read cursor over memory the caller owns. Once a read fails the reader is
 * marked failed and every later read fails too, so callers may check once. */
struct buf_reader {
	const uint8_t *data;
	size_t len;
	size_t off;
	bool failed;
};

void buf_reader_init(struct buf_reader *r, const void *data, size_t len);
size_t buf_remaining(const struct buf_reader *r);
bool buf_ok(const struct buf_reader *r);
int buf_get_u8(struct buf_reader *r, uint8_t *v);
int buf_get_u16le(struct buf_reader *r, uint16_t *v);
int buf_get_u32le(struct buf_reader *r, uint32_t *v);
int buf_get_u64le(struct buf_reader *r, uint64_t *v);
int buf_get_bytes(struct buf_reader *r, void *out, size_t n);
/* Points *p at the next n bytes (valid while the underlying memory is). */
int buf_get_ptr(struct buf_reader *r, const uint8_t **p, size_t n);
int buf_skip(struct buf_reader *r, size_t n);
/* Narrows r to the next n bytes as a new reader and advances r past them. */
int buf_get_sub(struct buf_reader *r, struct buf_reader *sub, size_t n);

/* A growable buffer that refuses to grow past max. Once an append fails the
 * buffer is marked overflowed and later appends are ignored. */
struct buf {
	uint8_t *data; /* owned; always NUL-terminated when len < cap */
	size_t len;
	size_t cap;
	size_t max;
	bool overflow;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u16le(struct buf *b, uint16_t v);
int buf_put_u32le(struct buf *b, uint32_t v);
int buf_put_u64le(struct buf *b, uint64_t v);
int buf_put_zeros(struct buf *b, size_t n);
/* Hands the contents to the caller (free() them) and resets the buffer. */
uint8_t *buf_steal(struct buf *b, size_t *len);
/* The contents as a C string (empty string when nothing was written). */
const char *buf_str(const struct buf *b);

#endif
