/*
 * Unit tests for the bounds-checked reader and the size-capped writer: every
 * read at every truncation length, sticky failure, little-endian values,
 * sub-readers, the writer's cap and overflow flag, printf past the 256-byte
 * fast path, and the ownership hand-over of buf_steal.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Long enough for the longest read plus the bytes skipped before it. */
static const uint8_t seq[32] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
                                0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20};

/* Every reader entry point, so that bounds are checked for each in one loop. */
enum getter { GET_U8, GET_U16, GET_U32, GET_U64, GET_BYTES, GET_PTR, GET_SKIP, GET_SUB, GET_COUNT };

static const char *const getter_names[GET_COUNT] = {"u8",    "u16le", "u32le", "u64le",
                                                    "bytes", "ptr",   "skip",  "sub"};

/* How many bytes the getter consumes; n is the size for the sized ones. */
static size_t
getter_size(enum getter g, size_t n)
{
	switch (g) {
	case GET_U8:
		return 1;
	case GET_U16:
		return 2;
	case GET_U32:
		return 4;
	case GET_U64:
		return 8;
	default:
		return n;
	}
}

/*
 * Runs one getter. The output variables start as a sentinel so that the caller
 * can tell whether a failed read wrote anything.
 */
static int
run_getter(struct buf_reader *r, enum getter g, size_t n, bool *wrote)
{
	uint8_t u8 = 0xa5, out[32];
	uint16_t u16 = 0xa5a5;
	uint32_t u32 = 0xa5a5a5a5u;
	uint64_t u64 = 0xa5a5a5a5a5a5a5a5ull;
	const uint8_t *p = NULL;
	struct buf_reader sub = {.data = NULL, .len = 99, .off = 0, .failed = false};
	int rc = -1;

	memset(out, 0xa5, sizeof(out));
	cr_assert_leq(n, sizeof(out));
	switch (g) {
	case GET_U8:
		rc = buf_get_u8(r, &u8);
		*wrote = u8 != 0xa5;
		break;
	case GET_U16:
		rc = buf_get_u16le(r, &u16);
		*wrote = u16 != 0xa5a5;
		break;
	case GET_U32:
		rc = buf_get_u32le(r, &u32);
		*wrote = u32 != 0xa5a5a5a5u;
		break;
	case GET_U64:
		rc = buf_get_u64le(r, &u64);
		*wrote = u64 != 0xa5a5a5a5a5a5a5a5ull;
		break;
	case GET_BYTES:
		rc = buf_get_bytes(r, out, n);
		*wrote = false;
		for (size_t i = 0; i < sizeof(out); i++)
			if (out[i] != 0xa5)
				*wrote = true;
		break;
	case GET_PTR:
		rc = buf_get_ptr(r, &p, n);
		*wrote = p != NULL;
		break;
	case GET_SKIP:
		rc = buf_skip(r, n);
		*wrote = false;
		break;
	case GET_SUB:
		rc = buf_get_sub(r, &sub, n);
		/* A failed narrowing must leave a sub-reader that cannot read. */
		*wrote = buf_ok(&sub) || buf_remaining(&sub) != 0;
		break;
	default:
		cr_assert_fail("bad getter %d", (int)g);
	}
	return rc;
}

/* Sizes tried for the sized getters. */
static const size_t sized[] = {1, 2, 3, 7, 8, 16};

/*
 * Every read that needs k bytes fails on every shorter input (including with
 * some bytes already consumed), writes nothing, and marks the reader failed;
 * on exactly k bytes it succeeds and leaves nothing.
 */
Test(buf_reader, every_get_fails_at_every_truncation)
{
	for (int g = 0; g < GET_COUNT; g++) {
		size_t n_sizes = g >= GET_BYTES ? ARRAY_LEN(sized) : 1;
		for (size_t s = 0; s < n_sizes; s++) {
			size_t k = getter_size((enum getter)g, sized[s]);
			for (size_t pre = 0; pre <= 3; pre++) {
				for (size_t len = 0; len < k; len++) {
					struct buf_reader r;
					bool wrote;
					buf_reader_init(&r, seq, pre + len);
					cr_assert_eq(buf_skip(&r, pre), 0);
					cr_assert_eq(buf_remaining(&r), len);
					cr_assert_eq(run_getter(&r, (enum getter)g, k, &wrote), -1,
					             "%s of %zu bytes succeeded on %zu bytes",
					             getter_names[g], k, len);
					cr_assert_not(buf_ok(&r), "%s of %zu on %zu: not failed",
					              getter_names[g], k, len);
					cr_assert_eq(buf_remaining(&r), 0);
					cr_assert_not(wrote, "failed %s of %zu on %zu wrote output",
					              getter_names[g], k, len);
				}
				struct buf_reader r;
				bool wrote;
				buf_reader_init(&r, seq, pre + k);
				cr_assert_eq(buf_skip(&r, pre), 0);
				cr_assert_eq(run_getter(&r, (enum getter)g, k, &wrote), 0,
				             "%s of %zu bytes failed on exactly %zu",
				             getter_names[g], k, k);
				cr_assert(buf_ok(&r));
				cr_assert_eq(buf_remaining(&r), 0);
			}
		}
	}
}

/* Once failed, every read fails, even one that would have fit, and even of 0 bytes. */
Test(buf_reader, failure_is_sticky)
{
	for (int g = 0; g < GET_COUNT; g++) {
		struct buf_reader r;
		bool wrote;
		buf_reader_init(&r, seq, sizeof(seq));
		cr_assert_eq(buf_skip(&r, sizeof(seq) + 1), -1);
		cr_assert_not(buf_ok(&r));
		cr_assert_eq(run_getter(&r, (enum getter)g, 1, &wrote), -1, "%s after failure",
		             getter_names[g]);
		cr_assert_not(wrote, "%s after failure wrote output", getter_names[g]);
		cr_assert_not(buf_ok(&r));
		cr_assert_eq(buf_remaining(&r), 0);
	}

	struct buf_reader r;
	uint8_t v;
	buf_reader_init(&r, seq, 4);
	cr_assert_eq(buf_get_u64le(&r, &(uint64_t){0}), -1);
	/* The data is still there, but the reader stays failed. */
	cr_assert_eq(buf_get_u8(&r, &v), -1);
	cr_assert_eq(buf_skip(&r, 0), -1);
	cr_assert_eq(buf_get_bytes(&r, &v, 0), -1);
	cr_assert_not(buf_ok(&r));
}

Test(buf_reader, zero_length_reads_succeed_at_the_end)
{
	struct buf_reader r;
	const uint8_t *p = NULL;
	uint8_t out = 0x5a;

	buf_reader_init(&r, seq, 2);
	cr_assert_eq(buf_skip(&r, 2), 0);
	cr_assert_eq(buf_skip(&r, 0), 0);
	cr_assert_eq(buf_get_bytes(&r, &out, 0), 0);
	cr_assert_eq(out, 0x5a);
	cr_assert_eq(buf_get_ptr(&r, &p, 0), 0);
	cr_assert(buf_ok(&r));
	cr_assert_eq(buf_remaining(&r), 0);
}

Test(buf_reader, null_data_is_empty)
{
	struct buf_reader r;
	uint8_t v;

	buf_reader_init(&r, NULL, 100);
	cr_assert(buf_ok(&r));
	cr_assert_eq(buf_remaining(&r), 0);
	cr_assert_eq(buf_get_u8(&r, &v), -1);
	cr_assert_not(buf_ok(&r));
}

/* A huge n must not wrap around the bounds check. */
Test(buf_reader, huge_sizes_fail)
{
	struct buf_reader r;
	const uint8_t *p = NULL;

	buf_reader_init(&r, seq, sizeof(seq));
	cr_assert_eq(buf_skip(&r, 1), 0);
	cr_assert_eq(buf_get_ptr(&r, &p, SIZE_MAX), -1);
	cr_assert_null(p);
	cr_assert_not(buf_ok(&r));

	buf_reader_init(&r, seq, sizeof(seq));
	cr_assert_eq(buf_skip(&r, 1), 0);
	cr_assert_eq(buf_skip(&r, SIZE_MAX - 1), -1);
	cr_assert_not(buf_ok(&r));
}

Test(buf_reader, little_endian_values)
{
	static const uint8_t d[] = {
	    0x34, 0x12,                                     /* u16 0x1234 */
	    0x80, 0xff,                                     /* u16 0xff80: no sign extension */
	    0x78, 0x56, 0x34, 0x12,                         /* u32 0x12345678 */
	    0x01, 0x00, 0x00, 0x80,                         /* u32 0x80000001 */
	    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* u64 */
	    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, /* u64, every byte high */
	    0xfe,                                           /* u8 */
	};
	struct buf_reader r;
	uint16_t a, b;
	uint32_t c, e;
	uint64_t f, g;
	uint8_t h;

	buf_reader_init(&r, d, sizeof(d));
	cr_assert_eq(buf_get_u16le(&r, &a), 0);
	cr_assert_eq(buf_get_u16le(&r, &b), 0);
	cr_assert_eq(buf_get_u32le(&r, &c), 0);
	cr_assert_eq(buf_get_u32le(&r, &e), 0);
	cr_assert_eq(buf_get_u64le(&r, &f), 0);
	cr_assert_eq(buf_get_u64le(&r, &g), 0);
	cr_assert_eq(buf_get_u8(&r, &h), 0);
	cr_assert_eq(a, 0x1234);
	cr_assert_eq(b, 0xff80);
	cr_assert_eq(c, 0x12345678u);
	cr_assert_eq(e, 0x80000001u);
	cr_assert_eq(f, 0x0102030405060708ull);
	cr_assert_eq(g, 0xf8f9fafbfcfdfeffull);
	cr_assert_eq(h, 0xfe);
	cr_assert_eq(buf_remaining(&r), 0);
	cr_assert(buf_ok(&r));
}

Test(buf_reader, bytes_and_ptr)
{
	struct buf_reader r;
	uint8_t out[4];
	const uint8_t *p = NULL;

	buf_reader_init(&r, seq, 16);
	cr_assert_eq(buf_get_bytes(&r, out, 4), 0);
	cr_assert_arr_eq(out, seq, 4);
	cr_assert_eq(buf_get_ptr(&r, &p, 3), 0);
	/* The pointer is into the caller's memory, not a copy. */
	cr_assert_eq(p, seq + 4);
	cr_assert_eq(buf_skip(&r, 5), 0);
	cr_assert_eq(buf_remaining(&r), 4);
	cr_assert_eq(buf_get_bytes(&r, out, 4), 0);
	cr_assert_arr_eq(out, seq + 12, 4);
}

Test(buf_reader, sub_narrows_and_advances)
{
	struct buf_reader r, sub, subsub;
	uint8_t v;
	uint32_t w;
	uint64_t big;

	buf_reader_init(&r, seq, 10);
	cr_assert_eq(buf_skip(&r, 2), 0);
	cr_assert_eq(buf_get_sub(&r, &sub, 5), 0);
	/* The parent moved past the five bytes. */
	cr_assert_eq(buf_remaining(&r), 3);
	cr_assert_eq(buf_get_u8(&r, &v), 0);
	cr_assert_eq(v, seq[7]);

	/* The sub-reader sees exactly bytes 2..6. */
	cr_assert(buf_ok(&sub));
	cr_assert_eq(buf_remaining(&sub), 5);
	cr_assert_eq(buf_get_u32le(&sub, &w), 0);
	cr_assert_eq(w, 0x06050403u);
	cr_assert_eq(buf_get_sub(&sub, &subsub, 1), 0);
	cr_assert_eq(buf_get_u8(&subsub, &v), 0);
	cr_assert_eq(v, seq[6]);
	cr_assert_eq(buf_get_u8(&subsub, &v), -1);
	/* The grandchild's failure is its own. */
	cr_assert(buf_ok(&sub));
	cr_assert_eq(buf_remaining(&sub), 0);

	/* The sub-reader cannot read past its end although the parent's memory goes on. */
	buf_reader_init(&r, seq, 16);
	cr_assert_eq(buf_get_sub(&r, &sub, 4), 0);
	cr_assert_eq(buf_get_u64le(&sub, &big), -1);
	cr_assert_not(buf_ok(&sub));
	/* ...and its failure does not fail the parent. */
	cr_assert(buf_ok(&r));
	cr_assert_eq(buf_remaining(&r), 12);
	cr_assert_eq(buf_get_u8(&r, &v), 0);
	cr_assert_eq(v, seq[4]);
}

Test(buf_reader, sub_too_long_fails_both)
{
	struct buf_reader r, sub;
	uint8_t v;

	buf_reader_init(&r, seq, 4);
	cr_assert_eq(buf_get_sub(&r, &sub, 5), -1);
	cr_assert_not(buf_ok(&r));
	cr_assert_not(buf_ok(&sub));
	cr_assert_eq(buf_remaining(&sub), 0);
	cr_assert_eq(buf_get_u8(&sub, &v), -1);

	/* A failed parent cannot hand out a sub-reader, even an empty one. */
	cr_assert_eq(buf_get_sub(&r, &sub, 0), -1);
	cr_assert_not(buf_ok(&sub));
}

/* Writer. */

/* The buffer holds exactly what is expected, NUL-terminated, within its cap. */
static void
assert_contents(const struct buf *b, const void *want, size_t len)
{
	cr_assert_eq(b->len, len, "len %zu, want %zu", b->len, len);
	cr_assert_leq(b->len, b->max);
	if (len > 0) {
		cr_assert_not_null(b->data);
		cr_assert_arr_eq(b->data, want, len);
	}
	if (b->data != NULL) {
		cr_assert_lt(b->len, b->cap);
		cr_assert_leq(b->cap, b->max + 1, "cap %zu past max %zu + 1", b->cap, b->max);
		cr_assert_eq(b->data[b->len], '\0');
	}
}

Test(buf_writer, fresh_buffer_is_empty)
{
	struct buf b;
	buf_init(&b, 100);
	cr_assert_eq(b.len, 0);
	cr_assert_not(b.overflow);
	cr_assert_str_eq(buf_str(&b), "");
	buf_free(&b);
	/* Freeing twice and freeing NULL are no-ops. */
	buf_free(&b);
	buf_free(NULL);
	cr_assert_str_eq(buf_str(&b), "");
}

Test(buf_writer, append_exactly_up_to_max)
{
	static const size_t maxes[] = {1, 7, 63, 64, 65, 100, 128, 1000, 4096};
	for (size_t m = 0; m < ARRAY_LEN(maxes); m++) {
		size_t max = maxes[m];
		uint8_t *want = malloc(max + 1);
		cr_assert_not_null(want);
		for (size_t i = 0; i < max; i++)
			want[i] = (uint8_t)('a' + i % 26);
		struct buf b;
		buf_init(&b, max);
		/* In two pieces, so that the second has to grow the buffer. */
		size_t first = max / 3;
		cr_assert_eq(buf_append(&b, want, first), 0);
		cr_assert_eq(buf_append(&b, want + first, max - first), 0, "max %zu", max);
		cr_assert_not(b.overflow);
		assert_contents(&b, want, max);

		/* One more byte does not fit. */
		cr_assert_eq(buf_putc(&b, 'x'), -1, "max %zu: byte past max accepted", max);
		cr_assert(b.overflow);
		assert_contents(&b, want, max);

		/* Later appends are ignored, even empty ones. */
		cr_assert_eq(buf_append(&b, "", 0), -1);
		cr_assert_eq(buf_puts(&b, ""), -1);
		cr_assert_eq(buf_printf(&b, "%d", 1), -1);
		cr_assert_eq(buf_put_u8(&b, 1), -1);
		cr_assert_eq(buf_put_zeros(&b, 0), -1);
		cr_assert(b.overflow);
		assert_contents(&b, want, max);
		buf_free(&b);
		free(want);
	}
}

/* Byte by byte to the cap: every growth step stays within max + 1. */
Test(buf_writer, grows_byte_by_byte_to_the_cap)
{
	const size_t max = 10000;
	struct buf b;
	buf_init(&b, max);
	for (size_t i = 0; i < max; i++) {
		cr_assert_eq(buf_putc(&b, (char)('0' + i % 10)), 0, "byte %zu", i);
		cr_assert_leq(b.cap, max + 1);
	}
	cr_assert_eq(b.len, max);
	cr_assert_eq(b.data[max], '\0');
	cr_assert_eq(buf_putc(&b, 'x'), -1);
	cr_assert(b.overflow);
	cr_assert_eq(b.len, max);
	buf_free(&b);
}

/* Once overflowed, even appends that would still fit are ignored. */
Test(buf_writer, overflow_is_sticky)
{
	struct buf b;
	buf_init(&b, 10);
	cr_assert_eq(buf_puts(&b, "abc"), 0);
	cr_assert_eq(buf_puts(&b, "defghijk"), -1);
	cr_assert(b.overflow);
	assert_contents(&b, "abc", 3);
	cr_assert_eq(buf_putc(&b, 'd'), -1);
	cr_assert_eq(buf_put_u16le(&b, 1), -1);
	cr_assert_eq(buf_put_u32le(&b, 1), -1);
	cr_assert_eq(buf_put_u64le(&b, 1), -1);
	assert_contents(&b, "abc", 3);
	cr_assert_str_eq(buf_str(&b), "abc");

	/* A reset clears the flag and the contents. */
	buf_reset(&b);
	cr_assert_not(b.overflow);
	assert_contents(&b, "", 0);
	cr_assert_str_eq(buf_str(&b), "");
	cr_assert_eq(buf_puts(&b, "0123456789"), 0);
	assert_contents(&b, "0123456789", 10);
	buf_free(&b);
}

/* A single append larger than the cap fails without writing anything. */
Test(buf_writer, oversized_first_append)
{
	struct buf b;
	buf_init(&b, 8);
	cr_assert_eq(buf_append(&b, "123456789", 9), -1);
	cr_assert(b.overflow);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(buf_str(&b), "");
	buf_free(&b);

	buf_init(&b, 0);
	cr_assert_eq(buf_putc(&b, 'a'), -1);
	cr_assert(b.overflow);
	cr_assert_str_eq(buf_str(&b), "");
	buf_free(&b);
}

/* Each fixed-size put succeeds with exactly its size left and fails with one byte less. */
Test(buf_writer, puts_at_the_cap)
{
	for (int kind = 0; kind < 6; kind++) {
		static const size_t sizes[] = {1, 2, 4, 8, 5, 3};
		size_t k = sizes[kind];
		for (int fits = 0; fits <= 1; fits++) {
			struct buf b;
			buf_init(&b, 3 + k - (fits ? 0 : 1));
			cr_assert_eq(buf_puts(&b, "abc"), 0);
			int rc;
			switch (kind) {
			case 0:
				rc = buf_put_u8(&b, 0x11);
				break;
			case 1:
				rc = buf_put_u16le(&b, 0x1122);
				break;
			case 2:
				rc = buf_put_u32le(&b, 0x11223344u);
				break;
			case 3:
				rc = buf_put_u64le(&b, 0x1122334455667788ull);
				break;
			case 4:
				rc = buf_put_zeros(&b, k);
				break;
			default:
				rc = buf_printf(&b, "%s", "xyz");
				break;
			}
			if (fits) {
				cr_assert_eq(rc, 0, "kind %d at the cap", kind);
				cr_assert_not(b.overflow);
				cr_assert_eq(b.len, 3 + k);
				cr_assert_eq(b.data[b.len], '\0');
			} else {
				cr_assert_eq(rc, -1, "kind %d one byte past the cap", kind);
				cr_assert(b.overflow, "kind %d", kind);
				cr_assert_leq(b.len, b.max);
				cr_assert_arr_eq(b.data, "abc", 3);
			}
			buf_free(&b);
		}
	}
}

Test(buf_writer, put_byte_order)
{
	static const uint8_t want[] = {
	    0xfe,                                           /* u8 */
	    0x34, 0x12,                                     /* u16 0x1234 */
	    0x80, 0xff,                                     /* u16 0xff80 */
	    0x78, 0x56, 0x34, 0x12,                         /* u32 */
	    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* u64 */
	    0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0xf8, /* u64 */
	};
	struct buf b;
	buf_init(&b, 64);
	cr_assert_eq(buf_put_u8(&b, 0xfe), 0);
	cr_assert_eq(buf_put_u16le(&b, 0x1234), 0);
	cr_assert_eq(buf_put_u16le(&b, 0xff80), 0);
	cr_assert_eq(buf_put_u32le(&b, 0x12345678u), 0);
	cr_assert_eq(buf_put_u64le(&b, 0x0102030405060708ull), 0);
	cr_assert_eq(buf_put_u64le(&b, 0xf8f9fafbfcfdfeffull), 0);
	assert_contents(&b, want, sizeof(want));

	/* What the writer puts, the reader gets back. */
	struct buf_reader r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	buf_reader_init(&r, b.data, b.len);
	cr_assert_eq(buf_get_u8(&r, &u8), 0);
	cr_assert_eq(u8, 0xfe);
	cr_assert_eq(buf_get_u16le(&r, &u16), 0);
	cr_assert_eq(u16, 0x1234);
	cr_assert_eq(buf_get_u16le(&r, &u16), 0);
	cr_assert_eq(u16, 0xff80);
	cr_assert_eq(buf_get_u32le(&r, &u32), 0);
	cr_assert_eq(u32, 0x12345678u);
	cr_assert_eq(buf_get_u64le(&r, &u64), 0);
	cr_assert_eq(u64, 0x0102030405060708ull);
	cr_assert_eq(buf_get_u64le(&r, &u64), 0);
	cr_assert_eq(u64, 0xf8f9fafbfcfdfeffull);
	cr_assert_eq(buf_remaining(&r), 0);
	buf_free(&b);
}

Test(buf_writer, put_zeros)
{
	static const uint8_t want[] = {'a', 'b', 0, 0, 0, 0, 0, 'c'};
	struct buf b;
	buf_init(&b, 64);
	cr_assert_eq(buf_put_zeros(&b, 0), 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(buf_puts(&b, "ab"), 0);
	cr_assert_eq(buf_put_zeros(&b, 5), 0);
	cr_assert_eq(buf_putc(&b, 'c'), 0);
	assert_contents(&b, want, sizeof(want));
	/* Zeros past the cap are refused whole. */
	cr_assert_eq(buf_put_zeros(&b, 57), -1);
	cr_assert(b.overflow);
	assert_contents(&b, want, sizeof(want));
	buf_free(&b);

	/* A large run grows the buffer past its first allocation. */
	buf_init(&b, 1000);
	cr_assert_eq(buf_putc(&b, 'x'), 0);
	cr_assert_eq(buf_put_zeros(&b, 999), 0);
	cr_assert_eq(b.len, 1000);
	for (size_t i = 1; i < 1000; i++)
		cr_assert_eq(b.data[i], 0, "byte %zu", i);
	buf_free(&b);
}

/* printf output of every length around the 256-byte fast path, appended after text. */
Test(buf_writer, printf_any_length)
{
	static const size_t lens[] = {0, 1, 200, 254, 255, 256, 257, 300, 511, 1000, 5000, 70000};
	char *s = malloc(70001);
	cr_assert_not_null(s);
	for (size_t i = 0; i < 70000; i++)
		s[i] = (char)('A' + i % 26);
	s[70000] = '\0';

	for (size_t k = 0; k < ARRAY_LEN(lens); k++) {
		size_t len = lens[k];
		struct buf b;
		buf_init(&b, 100000);
		cr_assert_eq(buf_puts(&b, "pre:"), 0);
		/* "%.*s" plus a number, so both the string and the arguments matter. */
		cr_assert_eq(buf_printf(&b, "%.*s|%d", (int)len, s, -42), 0, "len %zu", len);
		cr_assert_eq(b.len, 4 + len + 4, "len %zu: got %zu", len, b.len);
		cr_assert_eq(memcmp(b.data, "pre:", 4), 0);
		cr_assert_eq(memcmp(b.data + 4, s, len), 0, "len %zu: text differs", len);
		cr_assert_str_eq((const char *)b.data + 4 + len, "|-42");
		cr_assert_eq(strlen(buf_str(&b)), b.len);
		/* And more text after it lands after it. */
		cr_assert_eq(buf_printf(&b, "%s", "!"), 0);
		cr_assert_eq(b.len, 4 + len + 5);
		cr_assert_eq(b.data[b.len - 1], '!');
		cr_assert_eq(b.data[b.len], '\0');
		buf_free(&b);
	}
	free(s);
}

/* Long printf output is held to the cap: exactly at it succeeds, one past fails. */
Test(buf_writer, printf_long_at_the_cap)
{
	char s[1001];
	memset(s, 'z', 1000);
	s[1000] = '\0';

	struct buf b;
	buf_init(&b, 1002);
	cr_assert_eq(buf_puts(&b, "ab"), 0);
	cr_assert_eq(buf_printf(&b, "%s", s), 0);
	cr_assert_eq(b.len, 1002);
	cr_assert_leq(b.cap, b.max + 1);
	cr_assert_eq(b.data[1002], '\0');
	buf_free(&b);

	buf_init(&b, 1001);
	cr_assert_eq(buf_puts(&b, "ab"), 0);
	cr_assert_eq(buf_printf(&b, "%s", s), -1);
	cr_assert(b.overflow);
	assert_contents(&b, "ab", 2);
	buf_free(&b);

	/* The short path is capped too. */
	buf_init(&b, 5);
	cr_assert_eq(buf_printf(&b, "%d", 123456), -1);
	cr_assert(b.overflow);
	cr_assert_eq(b.len, 0);
	buf_free(&b);
}

static int call_vprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
call_vprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

Test(buf_writer, vprintf_long)
{
	char s[600];
	memset(s, 'q', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	struct buf b;
	buf_init(&b, 4096);
	cr_assert_eq(call_vprintf(&b, "%s=%u;", s, 7u), 0);
	cr_assert_eq(b.len, 599 + 3);
	cr_assert_str_eq((const char *)b.data + 599, "=7;");
	buf_free(&b);
}

Test(buf_writer, steal_empty)
{
	struct buf b;
	size_t len = 99;
	buf_init(&b, 16);
	uint8_t *p = buf_steal(&b, &len);
	/* Never NULL: the caller gets an empty string to free. */
	cr_assert_not_null(p);
	cr_assert_eq(len, 0);
	cr_assert_eq(p[0], '\0');
	free(p);
	cr_assert_str_eq(buf_str(&b), "");

	/* A buffer emptied by a reset hands over an empty string too. */
	cr_assert_eq(buf_puts(&b, "abc"), 0);
	buf_reset(&b);
	cr_assert_str_eq(buf_str(&b), "");
	p = buf_steal(&b, &len);
	cr_assert_not_null(p);
	cr_assert_eq(len, 0);
	cr_assert_str_eq((char *)p, "");
	free(p);

	/* len may be NULL. */
	p = buf_steal(&b, NULL);
	cr_assert_not_null(p);
	free(p);
	buf_free(&b);
}

Test(buf_writer, steal_hands_over_and_resets)
{
	struct buf b;
	size_t len = 0;
	buf_init(&b, 16);
	cr_assert_eq(buf_puts(&b, "hello"), 0);
	uint8_t *p = buf_steal(&b, &len);
	cr_assert_eq(len, 5);
	cr_assert_str_eq((char *)p, "hello");
	/* The buffer no longer owns the memory and starts afresh. */
	cr_assert_null(b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(buf_str(&b), "");
	cr_assert_eq(buf_puts(&b, "0123456789abcdef"), 0);
	cr_assert_str_eq(buf_str(&b), "0123456789abcdef");
	free(p);

	/* Stealing also clears an overflow. */
	cr_assert_eq(buf_putc(&b, 'x'), -1);
	cr_assert(b.overflow);
	p = buf_steal(&b, &len);
	cr_assert_eq(len, 16);
	cr_assert_not(b.overflow);
	free(p);
	cr_assert_eq(buf_putc(&b, 'y'), 0);
	cr_assert_str_eq(buf_str(&b), "y");
	buf_free(&b);
}

Test(buf_writer, str_tracks_contents)
{
	struct buf b;
	buf_init(&b, 1024);
	cr_assert_str_eq(buf_str(&b), "");
	cr_assert_eq(buf_puts(&b, "one"), 0);
	cr_assert_str_eq(buf_str(&b), "one");
	cr_assert_eq(buf_printf(&b, " %s %d", "two", 3), 0);
	cr_assert_str_eq(buf_str(&b), "one two 3");
	buf_reset(&b);
	cr_assert_str_eq(buf_str(&b), "");
	buf_free(&b);
}
