/*
 * Loads the captured KMS conversations in tests/data/kms/ for unit tests:
 * NAME.frames.json (TCP reads per direction, as hex) is reassembled into
 * DCE/RPC PDUs in conversation order, and NAME.expected.json is kept as JSON.
 */
#ifndef KMSWATCH_TEST_CAPTURE_H
#define KMSWATCH_TEST_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CAPTURE_C2S 0
#define CAPTURE_S2C 1

struct capture_pdu {
	int dir; /* 0 = c2s, 1 = s2c */
	uint8_t *data;
	size_t len;
};

struct capture {
	struct capture_pdu *pdus;
	size_t n;
	json_t *expected; /* NAME.expected.json */
};

/* capture.c */
/* Reads TEST_DATA_DIR "/kms/" NAME ".frames.json" and ".expected.json", splits
 * each direction's byte stream into PDUs by the RPC fragment length and lists
 * them in the order they completed. Returns -1 with a message on stderr on any
 * problem; *out then holds nothing to free. The caller frees with
 * capture_free(). */
int capture_load(const char *name, struct capture *out);
void capture_free(struct capture *c);

/* The n-th PDU (from 0) sent in direction dir, or NULL. */
const struct capture_pdu *capture_nth(const struct capture *c, int dir, size_t n);

/* The n-th PDU (from 0) of RPC packet type ptype in direction dir, or NULL. */
const struct capture_pdu *capture_find(const struct capture *c, int dir, uint8_t ptype, size_t n);

/* Decodes hex text (even length, either case) into a new buffer the caller
 * frees. Returns -1 on bad input or out of memory. */
int capture_hex_decode(const char *hex, uint8_t **out, size_t *len);

/* Formats 16 wire bytes (Microsoft mixed-endian layout) as lower-case GUID text
 * into text[37]. */
void capture_guid_format(const uint8_t wire[16], char text[37]);

/* True when the 16 wire bytes are the GUID written as text (either case). */
bool capture_guid_equal(const uint8_t wire[16], const char *text);

/* A string member of capture->expected by path ("response.epid"), or NULL. */
const char *capture_expected_str(const struct capture *c, const char *path);

/* An integer member of capture->expected by path, or -1 when absent. */
long long capture_expected_int(const struct capture *c, const char *path);

/* A 32-bit member given as an integer or as "0x..." text (the HRESULTs).
 * Returns -1 when absent or malformed. */
int capture_expected_u32(const struct capture *c, const char *path, uint32_t *out);

#endif
