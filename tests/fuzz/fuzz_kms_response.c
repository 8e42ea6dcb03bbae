/*
 * Fuzz harness for the KMS message layer. Every input is tried
 *  - as a response to each captured request (tests/data/kms), raw;
 *  - as a v4 response base with a correct MAC appended, and as a v5/v6
 *    plaintext encrypted with the right key, so that the checks behind the
 *    MAC and the cipher are reached too;
 *  - as a request, with the test host's parser; a request the host accepts
 *    must yield a response the agent accepts with the same values, and a
 *    deliberately corrupted one it refuses.
 * A parse either fails cleanly or yields values inside the protocol's bounds.
 *
 * Built with -DFUZZ_KMS_WRITE_CORPUS the file is instead a program that writes
 * the seed corpus (the captured requests and responses, rebuilt byte for byte
 * from their captured inputs as test_kms proves, then cut, extended and
 * corrupted) into the directory named on its command line.
 */
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"
#include "kmswatch/kms.h"
#include "kmswatch/kmscrypto.h"

/* The fuzz targets link only the agent's core library, which must never hold
 * the host side, so the host's code is compiled into this harness directly. */
#include "kmshost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OUT_MAX 4096
#define FUZZ_EPID    "03612-00206-559-709370-03-1103-14393.0000-1912020"

/* The captured conversations: the request's inputs, and for rebuilding the
 * response, the host's answer and random material. */
struct fuzz_capture {
	const char *name;
	unsigned version;
	const char *cmid;
	uint64_t time;
	uint8_t iv[16];
	uint8_t salt[16];
	uint8_t response_iv[16];
	uint32_t count;
};

static const struct fuzz_capture fuzz_captures[] = {
    {"v4",
     4,
     "11111111-2222-3333-4444-555555555554",
     UINT64_C(134397337520000000),
     {0},
     {0},
     {0},
     1},
    {"v5",
     5,
     "11111111-2222-3333-4444-555555555555",
     UINT64_C(134397337530000000),
     {0xc3, 0xe0, 0x78, 0x2b, 0x1a, 0xed, 0xda, 0xd0, 0x6f, 0xf6, 0xfd, 0x65, 0x09, 0x42, 0x3c,
      0xdd},
     {0x41, 0xf0, 0x71, 0x01, 0x03, 0x95, 0x55, 0x9f, 0x04, 0xd3, 0xb0, 0xb6, 0x91, 0x60, 0x3c,
      0xd2},
     {0},
     2},
    {"v6",
     6,
     "11111111-2222-3333-4444-555555555556",
     UINT64_C(134397337530000000),
     {0x49, 0xa5, 0xe6, 0x31, 0x7b, 0x96, 0xf7, 0x33, 0x69, 0x02, 0x15, 0x9c, 0x61, 0xe9, 0x81,
      0x06},
     {0x7e, 0x49, 0xb3, 0xf8, 0xf6, 0x85, 0x32, 0xce, 0xd8, 0x09, 0xdc, 0x71, 0x0c, 0xe6, 0xf3,
      0xb8},
     {0x8e, 0x03, 0x36, 0x11, 0xea, 0x8c, 0xde, 0xae, 0xa2, 0xef, 0xb8, 0xe8, 0xd0, 0x23, 0xb5,
      0xcd},
     3},
    {"v6_ndr32",
     6,
     "11111111-2222-3333-4444-555555555557",
     UINT64_C(134397343750000000),
     {0xab, 0xdd, 0xde, 0xcf, 0x5f, 0x76, 0xef, 0x9c, 0x7c, 0xca, 0x37, 0x74, 0x20, 0xa4, 0x57,
      0x59},
     {0xb4, 0x08, 0x56, 0x24, 0x34, 0x2f, 0x79, 0x78, 0xfe, 0x80, 0x30, 0xf1, 0xc1, 0x49, 0xbd,
      0xe8},
     {0x18, 0xf0, 0xd1, 0x21, 0x79, 0xe5, 0xf9, 0x50, 0xa8, 0xbb, 0x45, 0x20, 0xde, 0x41, 0x11,
      0xce},
     4},
};
#define FUZZ_NCAPTURES (sizeof(fuzz_captures) / sizeof(fuzz_captures[0]))

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static void
fuzz_state(const struct fuzz_capture *c, struct kms_client_state *st)
{
	uint8_t cmid[KMS_GUID_SIZE];

	check(kms_guid_parse(c->cmid, cmid) == 0);
	check(kms_state_init(st, c->version, c->iv, cmid, c->time) == KMS_OK);
}

/* Parses and, on success, checks what the parser promises. */
static void
parse_checked(const struct kms_client_state *st, const uint8_t *data, size_t size)
{
	struct kms_response res;

	if (kms_parse_response(st, data, size, &res) != KMS_OK)
		return;
	check(res.version == st->version && res.minor_version == 0);
	check(res.epid_size >= 2 && res.epid_size <= KMS_EPID_MAX_SIZE && res.epid_size % 2 == 0);
	check(memchr(res.epid, '\0', sizeof(res.epid)) != NULL);
	check(strlen(res.epid) <= 3 * (res.epid_size / 2 - 1));
	check(memcmp(res.cmid, st->cmid, KMS_GUID_SIZE) == 0);
	check(res.request_time == st->request_time);
	check(res.has_hwid == (st->version == 6));
}

/* The input as a v4 base with its MAC, or as v5/v6 plaintext under the
 * version's key, gets past the integrity layer to the parsing behind it. */
static void
parse_sealed(const struct kms_client_state *st, const uint8_t *data, size_t size)
{
	static const uint8_t zero_iv[KMSCRYPTO_BLOCK_SIZE];
	uint8_t msg[4 + KMS_RESPONSE_MAX_SIZE + KMSCRYPTO_BLOCK_SIZE];
	struct rijndael_ctx ctx;

	if (st->version == 4) {
		if (size > KMS_RESPONSE_MAX_SIZE)
			return;
		memcpy(msg, data, size);
		kmscrypto_v4_mac(msg, size, msg + size);
		parse_checked(st, msg, size + KMSCRYPTO_MAC_SIZE);
		return;
	}
	size_t n = size < KMS_RESPONSE_MAX_SIZE ? size : KMS_RESPONSE_MAX_SIZE;
	n -= n % KMSCRYPTO_BLOCK_SIZE;
	msg[0] = 0;
	msg[1] = 0;
	msg[2] = (uint8_t)st->version;
	msg[3] = 0;
	memcpy(msg + 4, data, n);
	(void)kmscrypto_cipher_init(&ctx, st->version);
	(void)kmscrypto_cbc_encrypt(&ctx, zero_iv, msg + 4, n, msg + 4);
	parse_checked(st, msg, 4 + n);
}

static void
fuzz_reply(struct kms_host_reply *r, const struct kms_host_request *req, uint8_t seed)
{
	memset(r, 0, sizeof(*r));
	r->epid = FUZZ_EPID;
	r->count = seed;
	r->activation_interval = 120;
	r->renewal_interval = 10080;
	memcpy(r->salt, req->cmid, sizeof(r->salt));
	memcpy(r->response_iv, req->sku_id, sizeof(r->response_iv));
	r->hwid[0] = seed;
}

/* A request the host accepts: the honest answer passes, a corrupted one
 * (which knob depends on the input) fails. */
static void
host_round_trip(const uint8_t *data, size_t size)
{
	struct kms_host_request req;
	struct kms_host_reply reply;
	struct kms_client_state st;
	struct kms_response res;
	struct buf out;

	if (kms_host_parse_request(data, size, &req) != KMS_HOST_OK)
		return;
	check(req.version >= 4 && req.version <= 6);
	check(strlen(req.machine_name) < sizeof(req.machine_name));
	/* The agent only verifies answers to minor version 0, what it sends. */
	if (req.minor_version != 0)
		return;
	check(kms_state_init(&st, req.version, req.iv, req.cmid, req.request_time) == KMS_OK);

	uint8_t seed = data[size - 1];
	fuzz_reply(&reply, &req, seed);
	buf_init(&out, FUZZ_OUT_MAX);
	check(kms_host_build_response(&req, &reply, &out) == KMS_HOST_OK);
	check(kms_parse_response(&st, out.data, out.len, &res) == KMS_OK);
	check(strcmp(res.epid, FUZZ_EPID) == 0 && res.count == seed);

	reply.corrupt = (enum kms_host_corruption)(1 + seed % (KMS_HOST_CORRUPTION_COUNT - 1));
	buf_reset(&out);
	if (kms_host_build_response(&req, &reply, &out) == KMS_HOST_OK)
		check(kms_parse_response(&st, out.data, out.len, &res) != KMS_OK);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < FUZZ_NCAPTURES; i++) {
		struct kms_client_state st;
		fuzz_state(&fuzz_captures[i], &st);
		parse_checked(&st, data, size);
		parse_sealed(&st, data, size);
	}
	host_round_trip(data, size);
	return 0;
}

#ifdef FUZZ_KMS_WRITE_CORPUS
#include <stdio.h>

static const char *corpus_dir;

static void
write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[4096];
	FILE *f;

	check(snprintf(path, sizeof(path), "%s/%s", corpus_dir, name) < (int)sizeof(path));
	f = fopen(path, "wb");
	check(f != NULL);
	check(fwrite(data, 1, len, f) == len || len == 0);
	check(fclose(f) == 0);
}

/* The captured request, rebuilt by the agent from the captured inputs. */
static void
capture_request(const struct fuzz_capture *c, struct buf *out)
{
	struct kms_product_ids prod;
	struct kms_request_params p;
	struct kms_client_state st;

	memset(&prod, 0, sizeof(prod));
	check(kms_guid_parse("55c92734-d682-4d71-983e-d6ec3f16059f", prod.application_id) == 0);
	check(kms_guid_parse("34e1ae55-27f8-4950-8877-7a03be5fb181", prod.sku_id) == 0);
	check(kms_guid_parse("8449b1fb-f0ea-497a-99ab-66ca96e9a0f5", prod.kms_counted_id) == 0);
	prod.required_count = 5;
	prod.protocol_version = c->version;
	memset(&p, 0, sizeof(p));
	p.version = c->version;
	p.product = &prod;
	check(kms_guid_parse(c->cmid, p.cmid) == 0);
	p.request_time = c->time;
	p.workstation = "kms-monitor.test";
	memcpy(p.iv, c->iv, sizeof(p.iv));
	buf_init(out, FUZZ_OUT_MAX);
	check(kms_build_request(&p, &st, out) == KMS_OK);
}

static void
capture_response(const struct fuzz_capture *c, const struct kms_host_request *req,
                 enum kms_host_corruption corrupt, struct buf *out)
{
	static const uint8_t hwid[KMS_HWID_SIZE] = {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76};
	struct kms_host_reply r;

	memset(&r, 0, sizeof(r));
	r.epid = FUZZ_EPID;
	r.count = c->count;
	r.activation_interval = 120;
	r.renewal_interval = 10080;
	memcpy(r.hwid, hwid, sizeof(hwid));
	memcpy(r.salt, c->salt, sizeof(r.salt));
	memcpy(r.response_iv, c->response_iv, sizeof(r.response_iv));
	r.corrupt = corrupt;
	buf_init(out, FUZZ_OUT_MAX);
	check(kms_host_build_response(req, &r, out) == KMS_HOST_OK);
}

int
main(int argc, char **argv)
{
	/* Which corruptions to seed for which capture: enough to reach every
	 * check once without growing the corpus past a few dozen files. */
	static const struct {
		size_t capture;
		enum kms_host_corruption corrupt;
	} seeds[] = {
	    {0, KMS_HOST_CORRUPT_MAC},
	    {0, KMS_HOST_CORRUPT_VERSION},
	    {0, KMS_HOST_CORRUPT_EPID_ODD},
	    {0, KMS_HOST_CORRUPT_EPID_NUL},
	    {0, KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL},
	    {0, KMS_HOST_CORRUPT_EPID_ENCODING},
	    {0, KMS_HOST_CORRUPT_CMID},
	    {0, KMS_HOST_CORRUPT_TIME},
	    {1, KMS_HOST_CORRUPT_IV},
	    {1, KMS_HOST_CORRUPT_SALT_HASH},
	    {1, KMS_HOST_CORRUPT_PADDING_SHORT},
	    {1, KMS_HOST_CORRUPT_INNER_VERSION},
	    {2, KMS_HOST_CORRUPT_HMAC},
	    {2, KMS_HOST_CORRUPT_XORED_IVS},
	    {2, KMS_HOST_CORRUPT_PADDING},
	    {2, KMS_HOST_CORRUPT_PADDING_ZERO},
	    {2, KMS_HOST_CORRUPT_EPID_OVERSIZE},
	    {2, KMS_HOST_CORRUPT_TIME},
	};
	struct kms_host_request reqs[FUZZ_NCAPTURES];
	char name[128];

	if (argc != 2) {
		fprintf(stderr, "usage: %s corpus-directory\n", argv[0]);
		return 2;
	}
	corpus_dir = argv[1];
	write_file("empty", (const uint8_t *)"", 0);
	for (size_t i = 0; i < FUZZ_NCAPTURES; i++) {
		const struct fuzz_capture *c = &fuzz_captures[i];
		struct kms_client_state st;
		struct buf req, resp;

		capture_request(c, &req);
		check(kms_host_parse_request(req.data, req.len, &reqs[i]) == KMS_HOST_OK);
		capture_response(c, &reqs[i], KMS_HOST_CORRUPT_NONE, &resp);
		fuzz_state(c, &st);
		check(kms_parse_response(&st, resp.data, resp.len, &(struct kms_response){0}) ==
		      KMS_OK);
		snprintf(name, sizeof(name), "request_%s", c->name);
		write_file(name, req.data, req.len);
		snprintf(name, sizeof(name), "response_%s", c->name);
		write_file(name, resp.data, resp.len);
		if (i < 3) {
			/* Cut inside the first block, and one byte short. */
			snprintf(name, sizeof(name), "truncated_%s_7", c->name);
			write_file(name, resp.data, 7);
			snprintf(name, sizeof(name), "truncated_%s_%zu", c->name, resp.len - 1);
			write_file(name, resp.data, resp.len - 1);
			buf_put_zeros(&resp, 16);
			snprintf(name, sizeof(name), "extended_%s_16", c->name);
			write_file(name, resp.data, resp.len);
		}
		buf_free(&req);
		buf_free(&resp);
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		const struct fuzz_capture *c = &fuzz_captures[seeds[i].capture];
		struct buf resp;
		capture_response(c, &reqs[seeds[i].capture], seeds[i].corrupt, &resp);
		snprintf(name, sizeof(name), "%s_%s", kms_host_corruption_name(seeds[i].corrupt),
		         c->name);
		write_file(name, resp.data, resp.len);
		buf_free(&resp);
	}
	return 0;
}
#endif
