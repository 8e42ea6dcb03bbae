/*
 * The KMS message layer: the captures in tests/data/kms/ decode to their
 * expected values and are reproduced byte for byte by both builders; the
 * agent's requests and the test host's responses agree for every version;
 * every corrupted, truncated or extended response fails with its own error.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "kmshost.h"
#include "kmswatch/kms.h"
#include "kmswatch/kmscrypto.h"
#include "kmswatch/rpc.h"

#define TEST_EPID "03612-00206-559-709370-03-1103-14393.0000-1912020"
#define TEST_NAME "kmswatch.example.test"
#define BUF_MAX   4096

static const char *const capture_names[] = {"v4", "v5", "v6", "v6_ndr32"};

/* ---- helpers ---- */

/* The KMS request and response bytes inside a capture's RPC stubs. They
 * point into c and are valid while it is loaded. */
struct kms_capture {
	struct capture cap;
	unsigned version;
	const uint8_t *req;
	size_t req_len;
	const uint8_t *resp;
	size_t resp_len;
};

static void
kms_capture_load(const char *name, struct kms_capture *k)
{
	const struct capture_pdu *q, *a;
	struct rpc_request rq;
	struct rpc_response rs;

	memset(k, 0, sizeof(*k));
	cr_assert_eq(capture_load(name, &k->cap), 0, "loading %s", name);
	q = capture_find(&k->cap, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
	a = capture_find(&k->cap, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	cr_assert(q != NULL && a != NULL, "%s has a request and a response", name);
	cr_assert_eq(rpc_parse_request(q->data, q->len, &rq), RPC_OK);
	cr_assert_eq(rpc_parse_response(a->data, a->len, rq.call_id, &rs), RPC_OK);
	k->req = rq.data;
	k->req_len = rq.len;
	k->resp = rs.data;
	k->resp_len = rs.len;
	long long v = capture_expected_int(&k->cap, "version");
	k->version = v > 0 ? (unsigned)v : 0;
}

static void
assert_guid(const uint8_t wire[KMS_GUID_SIZE], const struct capture *c, const char *path)
{
	const char *want = capture_expected_str(c, path);
	char text[KMS_GUID_TEXT_SIZE];

	cr_assert(want != NULL, "%s in expected.json", path);
	kms_guid_format(wire, text);
	cr_assert_str_eq(text, want, "%s", path);
	cr_assert(capture_guid_equal(wire, want), "%s (shared helper)", path);
}

static const struct kms_product_ids *
test_product(void)
{
	static struct kms_product_ids p;

	/* windows-server-2022 Datacenter, from the protocol page's presets. */
	cr_assert_eq(kms_guid_parse("55c92734-d682-4d71-983e-d6ec3f16059f", p.application_id), 0);
	cr_assert_eq(kms_guid_parse("ef6cfc9f-8c5d-44ac-9aad-de6a2ea0ae03", p.sku_id), 0);
	cr_assert_eq(kms_guid_parse("b74263e4-0f92-46c6-bcf8-c11d5efe2959", p.kms_counted_id), 0);
	p.required_count = 5;
	p.protocol_version = 6;
	return &p;
}

static void
test_params(struct kms_request_params *p, unsigned version)
{
	memset(p, 0, sizeof(*p));
	p->version = version;
	p->product = test_product();
	cr_assert_eq(kms_guid_parse("6e6f6e69-746f-4d72-8b6b-6d7377617463", p->cmid), 0);
	p->request_time = UINT64_C(134397337520000000);
	p->workstation = TEST_NAME;
	for (size_t i = 0; i < KMS_IV_SIZE; i++)
		p->iv[i] = (uint8_t)(0xA0 + i * 3);
}

static void
test_reply(struct kms_host_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->epid = TEST_EPID;
	r->count = 42;
	r->activation_interval = 120;
	r->renewal_interval = 10080;
	for (size_t i = 0; i < KMS_HWID_SIZE; i++)
		r->hwid[i] = (uint8_t)(0x10 * i + 1);
	for (size_t i = 0; i < sizeof(r->salt); i++) {
		r->salt[i] = (uint8_t)(0x5A ^ i);
		r->response_iv[i] = (uint8_t)(0xC3 + 7 * i);
	}
}

/* Builds a request with the agent and parses it as the host would. */
static void
request_round_trip(unsigned version, struct kms_client_state *st, struct kms_host_request *hr)
{
	struct kms_request_params p;
	struct buf b;

	test_params(&p, version);
	buf_init(&b, BUF_MAX);
	cr_assert_eq(kms_build_request(&p, st, &b), KMS_OK);
	cr_assert_eq(b.len, version == 4 ? KMS_REQUEST_V4_SIZE : KMS_REQUEST_V5_SIZE);
	cr_assert_eq(kms_host_parse_request(b.data, b.len, hr), KMS_HOST_OK, "v%u", version);
	buf_free(&b);
}

/* Builds the host's response to hr; the caller frees *out. */
static enum kms_host_error
host_response(const struct kms_host_request *hr, const struct kms_host_reply *reply,
              struct buf *out)
{
	buf_init(out, BUF_MAX);
	return kms_host_build_response(hr, reply, out);
}

/* ---- GUIDs, strings, time ---- */

Test(kms_guid, parse_and_format)
{
	static const uint8_t windows[16] = {0x34, 0x27, 0xc9, 0x55, 0x82, 0xd6, 0x71, 0x4d,
	                                    0x98, 0x3e, 0xd6, 0xec, 0x3f, 0x16, 0x05, 0x9f};
	uint8_t g[16];
	char text[KMS_GUID_TEXT_SIZE];

	cr_assert_eq(kms_guid_parse("55c92734-d682-4d71-983e-d6ec3f16059f", g), 0);
	cr_assert_arr_eq(g, windows, 16);
	kms_guid_format(g, text);
	cr_assert_str_eq(text, "55c92734-d682-4d71-983e-d6ec3f16059f");
	cr_assert_eq(kms_guid_parse("{55C92734-D682-4D71-983E-D6EC3F16059F}", g), 0);
	cr_assert_arr_eq(g, windows, 16);
	capture_guid_format(g, text);
	cr_assert_str_eq(text, "55c92734-d682-4d71-983e-d6ec3f16059f");
}

Test(kms_guid, rejects_malformed_text)
{
	static const char *const bad[] = {
	    "",
	    "55c92734-d682-4d71-983e-d6ec3f16059",
	    "55c92734-d682-4d71-983e-d6ec3f16059f0",
	    "55c92734d682-4d71-983e-d6ec3f16059f0",
	    "55c92734-d682-4d71-983e-d6ec3f16059g",
	    "55c92734-d682-4d71-983ed-6ec3f16059f",
	    "{55c92734-d682-4d71-983e-d6ec3f16059f",
	    "(55c92734-d682-4d71-983e-d6ec3f16059f)",
	    "55c92734-d682-4d71-983e-d6ec3f1605 f",
	    "+5c92734-d682-4d71-983e-d6ec3f16059f",
	};
	uint8_t g[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(kms_guid_parse(bad[i], g), -1, "\"%s\"", bad[i]);
}

Test(kms_text, utf8_to_utf16le)
{
	uint8_t out[2 * 64];
	size_t n;

	cr_assert_eq(kms_utf8_to_utf16le("ab", out, 63, &n), 0);
	cr_assert(n == 2 && out[0] == 'a' && out[1] == 0 && out[2] == 'b' && out[3] == 0);
	/* U+00E9, U+20AC and U+1F600 (a surrogate pair). */
	cr_assert_eq(kms_utf8_to_utf16le("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", out, 63, &n), 0);
	static const uint8_t want[] = {0xE9, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE};
	cr_assert_eq(n, 4);
	cr_assert_arr_eq(out, want, sizeof(want));

	static const char *const bad[] = {
	    "\x80",             /* stray continuation */
	    "\xC0\xAF",         /* overlong */
	    "\xE0\x80\xAF",     /* overlong */
	    "\xED\xA0\x80",     /* surrogate */
	    "\xF4\x90\x80\x80", /* above U+10FFFF */
	    "\xE2\x82",         /* truncated */
	    "a\xFF",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(kms_utf8_to_utf16le(bad[i], out, 63, &n), -1, "bad[%zu]", i);

	char name[80];
	memset(name, 'x', 63);
	name[63] = '\0';
	cr_assert_eq(kms_utf8_to_utf16le(name, out, 63, &n), 0);
	cr_assert_eq(n, 63);
	name[63] = 'x';
	name[64] = '\0';
	cr_assert_eq(kms_utf8_to_utf16le(name, out, 63, &n), -1);
	/* A surrogate pair must not be split at the limit. */
	memcpy(name + 62, "\xF0\x9F\x98\x80", 5);
	cr_assert_eq(kms_utf8_to_utf16le(name, out, 63, &n), -1);
}

Test(kms_text, utf16le_to_utf8)
{
	static const uint8_t ok[] = {'a', 0, 0xE9, 0x00, 0xAC, 0x20, 0x3D, 0xD8, 0x00, 0xDE};
	static const uint8_t lone_low[] = {0x00, 0xDC};
	static const uint8_t lone_high[] = {0x00, 0xD8, 'a', 0};
	static const uint8_t high_end[] = {0x00, 0xD8};
	static const uint8_t nul[] = {'a', 0, 0, 0};
	char out[32];

	cr_assert_eq(kms_utf16le_to_utf8(ok, 5, out, sizeof(out)), 0);
	cr_assert_str_eq(out, "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
	cr_assert_eq(kms_utf16le_to_utf8(ok, 5, out, 10), -1, "no room for the NUL");
	cr_assert_eq(kms_utf16le_to_utf8(ok, 5, out, 11), 0);
	cr_assert_eq(kms_utf16le_to_utf8(ok, 0, out, 1), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(kms_utf16le_to_utf8(lone_low, 1, out, sizeof(out)), -1);
	cr_assert_eq(kms_utf16le_to_utf8(lone_high, 2, out, sizeof(out)), -1);
	cr_assert_eq(kms_utf16le_to_utf8(high_end, 1, out, sizeof(out)), -1);
	cr_assert_eq(kms_utf16le_to_utf8(nul, 2, out, sizeof(out)), -1);
}

Test(kms_text, hwid_and_filetime)
{
	static const uint8_t hwid[8] = {0x3A, 0x1C, 0x04, 0x96, 0x00, 0xB6, 0x00, 0x76};
	char text[KMS_HWID_TEXT_SIZE];

	kms_hwid_format(hwid, text);
	cr_assert_str_eq(text, "3A1C049600B60076");
	cr_assert_eq(kms_filetime_from_unix(0, 0), UINT64_C(116444736000000000));
	cr_assert_eq(kms_filetime_from_unix(1, 999999999), UINT64_C(116444736019999999));
	cr_assert_eq(kms_filetime_from_unix(-11644473600, 0), 0);
	cr_assert_eq(kms_filetime_from_unix(-11644473601, 0), 0);
	cr_assert_eq(kms_filetime_from_unix(INT64_MAX, 0), UINT64_MAX);
}

Test(kms_text, strerror_names_every_check)
{
	for (int i = 0; i < KMS_ERROR_COUNT; i++) {
		const char *a = kms_strerror((enum kms_error)i);
		cr_assert(a != NULL && strstr(a, "unknown") == NULL, "error %d", i);
		for (int j = 0; j < i; j++)
			cr_assert_str_neq(a, kms_strerror((enum kms_error)j), "%d vs %d", i, j);
	}
	cr_assert(strstr(kms_strerror((enum kms_error)KMS_ERROR_COUNT), "unknown") != NULL);
	for (int i = 0; i <= KMS_HOST_ERR_NOSPACE; i++)
		cr_assert(strstr(kms_host_strerror((enum kms_host_error)i), "unknown") == NULL);
	for (int i = 0; i < KMS_HOST_CORRUPTION_COUNT; i++) {
		enum kms_host_corruption c;
		const char *name = kms_host_corruption_name((enum kms_host_corruption)i);
		cr_assert_str_neq(name, "unknown");
		cr_assert_eq(kms_host_corruption_parse(name, &c), 0);
		cr_assert_eq((int)c, i);
	}
	enum kms_host_corruption c;
	cr_assert_eq(kms_host_corruption_parse("no-such-knob", &c), -1);
}

/* ---- the captures ---- */

static void
check_capture_request(const struct kms_capture *k, struct kms_host_request *hr)
{
	const struct capture *c = &k->cap;
	json_t *rt = json_object_get(json_object_get(c->expected, "request"), "request_time");
	char iso[32];

	cr_assert_eq(kms_host_parse_request(k->req, k->req_len, hr), KMS_HOST_OK);
	cr_assert_eq(hr->version, k->version);
	cr_assert_eq(hr->minor_version, 0);
	assert_guid(hr->application_id, c, "request.application_id");
	assert_guid(hr->sku_id, c, "request.sku_id");
	assert_guid(hr->kms_counted_id, c, "request.kms_counted_id");
	assert_guid(hr->cmid, c, "request.cmid");
	cr_assert_eq(hr->required_count, capture_expected_int(c, "request.required_count"));
	cr_assert_str_eq(hr->machine_name, capture_expected_str(c, "request.machine_name"));
	cr_assert_eq(hr->license_status, capture_expected_int(c, "request.license_status"));
	cr_assert_eq(hr->vm, capture_expected_int(c, "request.vm"));
	cr_assert_eq(hr->binding_expiration,
	             capture_expected_int(c, "request.binding_expiration_min"));
	static const uint8_t zero[KMS_GUID_SIZE];
	cr_assert_arr_eq(hr->previous_cmid, zero, KMS_GUID_SIZE);
	cr_assert_eq(hr->has_iv, k->version != 4);

	/* The time as ticks, and the same instant as the ISO text. */
	cr_assert(json_is_array(rt) && json_array_size(rt) == 2);
	cr_assert_eq(hr->request_time, (uint64_t)json_integer_value(json_array_get(rt, 0)));
	time_t t = (time_t)((hr->request_time - UINT64_C(116444736000000000)) / 10000000);
	struct tm tm;
	cr_assert(gmtime_r(&t, &tm) != NULL);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert_str_eq(iso, json_string_value(json_array_get(rt, 1)));
	cr_assert_eq(kms_filetime_from_unix((int64_t)timegm(&tm), 0), hr->request_time);
}

static void
check_capture_response(const struct kms_capture *k, const struct kms_host_request *hr,
                       struct kms_client_state *st, struct kms_response *res)
{
	const struct capture *c = &k->cap;
	char hex[KMS_HWID_TEXT_SIZE];

	cr_assert_eq(kms_state_init(st, hr->version, hr->iv, hr->cmid, hr->request_time), KMS_OK);
	enum kms_error rc = kms_parse_response(st, k->resp, k->resp_len, res);
	cr_assert_eq(rc, KMS_OK, "%s", kms_strerror(rc));
	cr_assert_eq(res->version, k->version);
	cr_assert_eq(res->minor_version, 0);
	cr_assert_str_eq(res->epid, capture_expected_str(c, "response.epid"));
	cr_assert_eq(res->epid_size, capture_expected_int(c, "response.pid_size"));
	cr_assert_eq(res->count, capture_expected_int(c, "response.current_count"));
	cr_assert_eq(res->activation_interval,
	             capture_expected_int(c, "response.activation_interval_min"));
	cr_assert_eq(res->renewal_interval,
	             capture_expected_int(c, "response.renewal_interval_min"));
	cr_assert_arr_eq(res->cmid, hr->cmid, KMS_GUID_SIZE);
	cr_assert_eq(res->request_time, hr->request_time);
	const char *hwid = capture_expected_str(c, "hwid");
	cr_assert_eq(res->has_hwid, hwid != NULL);
	if (hwid != NULL) {
		kms_hwid_format(res->hwid, hex);
		cr_assert_str_eq(hex, hwid);
	}
}

/* The agent, given the captured request's inputs, sends the same bytes. */
static void
check_capture_rebuild_request(const struct kms_capture *k, const struct kms_host_request *hr)
{
	struct kms_product_ids prod;
	struct kms_request_params p;
	struct kms_client_state st;
	struct buf b;

	memcpy(prod.application_id, hr->application_id, KMS_GUID_SIZE);
	memcpy(prod.sku_id, hr->sku_id, KMS_GUID_SIZE);
	memcpy(prod.kms_counted_id, hr->kms_counted_id, KMS_GUID_SIZE);
	prod.required_count = hr->required_count;
	prod.protocol_version = hr->version;
	memset(&p, 0, sizeof(p));
	p.version = hr->version;
	p.product = &prod;
	memcpy(p.cmid, hr->cmid, KMS_GUID_SIZE);
	p.request_time = hr->request_time;
	p.workstation = hr->machine_name;
	memcpy(p.iv, hr->iv, KMS_IV_SIZE);
	buf_init(&b, BUF_MAX);
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	cr_assert_eq(b.len, k->req_len);
	cr_assert_arr_eq(b.data, k->req, k->req_len, "rebuilt v%u request", hr->version);
	buf_free(&b);
}

/* The test host, given the captured request, the captured answer's values and
 * its random material, sends the same bytes as the independent host. */
static void
check_capture_rebuild_response(const struct kms_capture *k, const struct kms_host_request *hr,
                               const struct kms_client_state *st, const struct kms_response *res)
{
	struct kms_host_reply reply;
	struct buf b;

	memset(&reply, 0, sizeof(reply));
	reply.epid = res->epid;
	reply.count = res->count;
	reply.activation_interval = res->activation_interval;
	reply.renewal_interval = res->renewal_interval;
	memcpy(reply.hwid, res->hwid, KMS_HWID_SIZE);
	if (hr->version != 4) {
		/* The random material: the v6 response IV is the first block on
		 * the wire; the salt is RandomXoredIVs ^ D from the plaintext. */
		struct rijndael_ctx ctx;
		uint8_t pt[KMS_RESPONSE_MAX_SIZE];
		static const uint8_t zero[16];
		size_t ct_len = k->resp_len - 4;
		cr_assert(ct_len <= sizeof(pt));
		memcpy(reply.response_iv, k->resp + 4, KMS_IV_SIZE);
		cr_assert_eq(kmscrypto_cipher_init(&ctx, hr->version), 0);
		cr_assert_eq(kmscrypto_cbc_decrypt(&ctx, zero, k->resp + 4, ct_len, pt), 0);
		size_t off = 16 + 44 + res->epid_size;
		for (size_t i = 0; i < 16; i++)
			reply.salt[i] = pt[off + i] ^ st->iv_decrypted[i];
		if (hr->version == 5)
			cr_assert_arr_eq(k->resp + 4, hr->iv, KMS_IV_SIZE,
			                 "v5 puts the request IV first");
	}
	cr_assert_eq(host_response(hr, &reply, &b), KMS_HOST_OK);
	cr_assert_eq(b.len, k->resp_len);
	cr_assert_arr_eq(b.data, k->resp, k->resp_len, "rebuilt v%u response", hr->version);
	buf_free(&b);
}

static void
check_capture_lengths(const struct kms_capture *k, const struct kms_client_state *st)
{
	struct kms_response res;
	uint8_t longer[KMS_RESPONSE_MAX_SIZE + 32];

	for (size_t n = 0; n < k->resp_len; n++) {
		enum kms_error rc = kms_parse_response(st, k->resp, n, &res);
		cr_assert_eq(rc, KMS_ERR_TRUNCATED, "length %zu of %zu: %s", n, k->resp_len,
		             kms_strerror(rc));
	}
	cr_assert(k->resp_len + 16 <= sizeof(longer));
	memcpy(longer, k->resp, k->resp_len);
	memset(longer + k->resp_len, 0, 16);
	for (size_t extra = 1; extra <= 16; extra++)
		cr_assert_eq(kms_parse_response(st, longer, k->resp_len + extra, &res),
		             KMS_ERR_SIZE, "%zu trailing bytes", extra);
}

static void
check_capture(const char *name)
{
	struct kms_capture k;
	struct kms_host_request hr;
	struct kms_client_state st;
	struct kms_response res;

	kms_capture_load(name, &k);
	cr_assert(k.version >= 4 && k.version <= 6);
	check_capture_request(&k, &hr);
	check_capture_response(&k, &hr, &st, &res);
	check_capture_rebuild_request(&k, &hr);
	check_capture_rebuild_response(&k, &hr, &st, &res);
	check_capture_lengths(&k, &st);
	capture_free(&k.cap);
}

Test(kms_capture, v4)
{
	check_capture("v4");
}

Test(kms_capture, v5)
{
	check_capture("v5");
}

Test(kms_capture, v6)
{
	check_capture("v6");
}

Test(kms_capture, v6_ndr32)
{
	check_capture("v6_ndr32");
}

Test(kms_capture, v6_err_request_and_refusal)
{
	struct capture c;
	struct kms_host_request hr;
	struct rpc_request rq;
	struct rpc_response rs;
	uint32_t hresult;

	cr_assert_eq(capture_load("v6_err", &c), 0);
	const struct capture_pdu *q = capture_find(&c, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
	const struct capture_pdu *a = capture_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	cr_assert(q != NULL && a != NULL);
	cr_assert_eq(rpc_parse_request(q->data, q->len, &rq), RPC_OK);
	cr_assert_eq(kms_host_parse_request(rq.data, rq.len, &hr), KMS_HOST_OK);
	cr_assert_eq(hr.version, 6);
	/* A refusal carries no KMS response to verify, only the HRESULT. */
	cr_assert_eq(rpc_parse_response(a->data, a->len, rq.call_id, &rs), RPC_OK);
	cr_assert(rs.null_ptr);
	cr_assert_eq(capture_expected_u32(&c, "hresult", &hresult), 0);
	cr_assert_eq(rs.hresult, hresult);
	capture_free(&c);
}

/* A response to a request the state does not describe is refused. */
Test(kms_capture, response_to_another_request)
{
	for (size_t i = 0; i < sizeof(capture_names) / sizeof(capture_names[0]); i++) {
		struct kms_capture k;
		struct kms_host_request hr;
		struct kms_client_state st;
		struct kms_response res;
		uint8_t other[KMS_GUID_SIZE];

		kms_capture_load(capture_names[i], &k);
		cr_assert_eq(kms_host_parse_request(k.req, k.req_len, &hr), KMS_HOST_OK);

		memcpy(other, hr.cmid, sizeof(other));
		other[15] ^= 0x80;
		kms_state_init(&st, hr.version, hr.iv, other, hr.request_time);
		cr_assert_eq(kms_parse_response(&st, k.resp, k.resp_len, &res), KMS_ERR_CMID);

		kms_state_init(&st, hr.version, hr.iv, hr.cmid, hr.request_time + 1);
		cr_assert_eq(kms_parse_response(&st, k.resp, k.resp_len, &res), KMS_ERR_TIME);

		kms_state_init(&st, hr.version == 4 ? 5 : 4, hr.iv, hr.cmid, hr.request_time);
		cr_assert_eq(kms_parse_response(&st, k.resp, k.resp_len, &res), KMS_ERR_VERSION);

		if (hr.version != 4) {
			memcpy(other, hr.iv, sizeof(other));
			other[0] ^= 1;
			kms_state_init(&st, hr.version, other, hr.cmid, hr.request_time);
			enum kms_error want =
			    hr.version == 5 ? KMS_ERR_IV_MISMATCH : KMS_ERR_SALT_HASH;
			cr_assert_eq(kms_parse_response(&st, k.resp, k.resp_len, &res), want);
		}
		capture_free(&k.cap);
	}
}

/* ---- agent requests and host responses, every version ---- */

static void
check_round_trip(unsigned version)
{
	struct kms_client_state st;
	struct kms_host_request hr;
	struct kms_host_reply reply;
	struct kms_response res;
	struct kms_request_params p;
	struct buf b;

	test_params(&p, version);
	request_round_trip(version, &st, &hr);
	cr_assert_eq(hr.version, version);
	cr_assert_eq(hr.minor_version, 0);
	cr_assert_eq(hr.vm, KMS_PROBE_VM);
	cr_assert_eq(hr.license_status, KMS_PROBE_LICENSE_STATUS);
	cr_assert_eq(hr.binding_expiration, KMS_PROBE_BINDING_EXPIRATION);
	cr_assert_arr_eq(hr.application_id, p.product->application_id, KMS_GUID_SIZE);
	cr_assert_arr_eq(hr.sku_id, p.product->sku_id, KMS_GUID_SIZE);
	cr_assert_arr_eq(hr.kms_counted_id, p.product->kms_counted_id, KMS_GUID_SIZE);
	cr_assert_arr_eq(hr.cmid, p.cmid, KMS_GUID_SIZE);
	cr_assert_eq(hr.required_count, p.product->required_count);
	cr_assert_eq(hr.request_time, p.request_time);
	static const uint8_t zero[KMS_GUID_SIZE];
	cr_assert_arr_eq(hr.previous_cmid, zero, KMS_GUID_SIZE);
	cr_assert_str_eq(hr.machine_name, TEST_NAME);
	cr_assert_eq(hr.has_iv, version != 4);
	if (version != 4)
		cr_assert_arr_eq(hr.iv, p.iv, KMS_IV_SIZE);

	cr_assert_eq(st.version, version);
	cr_assert_arr_eq(st.cmid, p.cmid, KMS_GUID_SIZE);
	cr_assert_eq(st.request_time, p.request_time);

	test_reply(&reply);
	cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
	if (version == 5)
		cr_assert_arr_eq(b.data + 4, p.iv, KMS_IV_SIZE);
	if (version == 6)
		cr_assert_arr_eq(b.data + 4, reply.response_iv, KMS_IV_SIZE);
	enum kms_error rc = kms_parse_response(&st, b.data, b.len, &res);
	cr_assert_eq(rc, KMS_OK, "v%u: %s", version, kms_strerror(rc));
	cr_assert_eq(res.version, version);
	cr_assert_str_eq(res.epid, TEST_EPID);
	cr_assert_eq(res.epid_size, 2 * strlen(TEST_EPID) + 2);
	cr_assert_eq(res.count, reply.count);
	cr_assert_eq(res.activation_interval, reply.activation_interval);
	cr_assert_eq(res.renewal_interval, reply.renewal_interval);
	cr_assert_eq(res.has_hwid, version == 6);
	if (version == 6)
		cr_assert_arr_eq(res.hwid, reply.hwid, KMS_HWID_SIZE);
	buf_free(&b);
}

Test(kms_round_trip, v4)
{
	check_round_trip(4);
}

Test(kms_round_trip, v5)
{
	check_round_trip(5);
}

Test(kms_round_trip, v6)
{
	check_round_trip(6);
}

/* The ePID sizes at the edges: an empty ePID (P = 2) and 63 characters
 * (P = 128) are valid, 64 characters cannot be sent honestly. */
Test(kms_round_trip, epid_size_limits)
{
	char epid[80];

	for (unsigned version = 4; version <= 6; version++) {
		struct kms_client_state st;
		struct kms_host_request hr;
		struct kms_host_reply reply;
		struct kms_response res;
		struct buf b;

		request_round_trip(version, &st, &hr);
		test_reply(&reply);
		reply.epid = "";
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
		cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_OK);
		cr_assert_str_eq(res.epid, "");
		cr_assert_eq(res.epid_size, 2);
		buf_free(&b);

		memset(epid, '7', 63);
		epid[63] = '\0';
		reply.epid = epid;
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
		cr_assert(b.len <= KMS_RESPONSE_MAX_SIZE);
		if (version == 6)
			cr_assert_eq(b.len, KMS_RESPONSE_MAX_SIZE);
		cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_OK);
		cr_assert_str_eq(res.epid, epid);
		cr_assert_eq(res.epid_size, 128);
		buf_free(&b);

		epid[63] = '7';
		epid[64] = '\0';
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_ERR_ARGUMENT);
		buf_free(&b);

		/* Non-ASCII survives as UTF-8. */
		reply.epid = "\xC3\xA9-\xF0\x9F\x98\x80";
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
		cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_OK);
		cr_assert_str_eq(res.epid, reply.epid);
		buf_free(&b);
	}
}

/* ---- every corruption, every version ---- */

static enum kms_error
expected_error(enum kms_host_corruption c)
{
	switch (c) {
	case KMS_HOST_CORRUPT_NONE:
		return KMS_OK;
	case KMS_HOST_CORRUPT_MAC:
		return KMS_ERR_MAC;
	case KMS_HOST_CORRUPT_PADDING:
	case KMS_HOST_CORRUPT_PADDING_ZERO:
	case KMS_HOST_CORRUPT_PADDING_SHORT:
		return KMS_ERR_PADDING;
	case KMS_HOST_CORRUPT_SALT_HASH:
		return KMS_ERR_SALT_HASH;
	case KMS_HOST_CORRUPT_HMAC:
		return KMS_ERR_HMAC;
	case KMS_HOST_CORRUPT_XORED_IVS:
		return KMS_ERR_XORED_IVS;
	case KMS_HOST_CORRUPT_IV:
		return KMS_ERR_IV_MISMATCH;
	case KMS_HOST_CORRUPT_EPID_ODD:
	case KMS_HOST_CORRUPT_EPID_OVERSIZE:
		return KMS_ERR_EPID_SIZE;
	case KMS_HOST_CORRUPT_EPID_NUL:
		return KMS_ERR_EPID_NUL;
	case KMS_HOST_CORRUPT_EPID_EMBEDDED_NUL:
		return KMS_ERR_EPID_EMBEDDED_NUL;
	case KMS_HOST_CORRUPT_EPID_ENCODING:
		return KMS_ERR_EPID_ENCODING;
	case KMS_HOST_CORRUPT_VERSION:
		return KMS_ERR_VERSION;
	case KMS_HOST_CORRUPT_INNER_VERSION:
		return KMS_ERR_INNER_VERSION;
	case KMS_HOST_CORRUPT_CMID:
		return KMS_ERR_CMID;
	case KMS_HOST_CORRUPT_TIME:
		return KMS_ERR_TIME;
	}
	return KMS_ERR_ARGUMENT;
}

static void
check_corruptions(unsigned version)
{
	struct kms_client_state st;
	struct kms_host_request hr;
	unsigned applied = 0;

	request_round_trip(version, &st, &hr);
	for (int i = 0; i < KMS_HOST_CORRUPTION_COUNT; i++) {
		enum kms_host_corruption c = (enum kms_host_corruption)i;
		const char *name = kms_host_corruption_name(c);
		struct kms_host_reply reply;
		struct kms_response res;
		struct buf b;

		test_reply(&reply);
		reply.corrupt = c;
		enum kms_host_error hrc = host_response(&hr, &reply, &b);
		if (!kms_host_corruption_applies(c, version)) {
			cr_assert_eq(hrc, KMS_HOST_ERR_KNOB, "v%u %s", version, name);
			buf_free(&b);
			continue;
		}
		cr_assert_eq(hrc, KMS_HOST_OK, "v%u %s: %s", version, name, kms_host_strerror(hrc));
		enum kms_error want = expected_error(c), rc;
		rc = kms_parse_response(&st, b.data, b.len, &res);
		cr_assert_eq(rc, want, "v%u %s: got \"%s\", want \"%s\"", version, name,
		             kms_strerror(rc), kms_strerror(want));
		/* Cut short or extended, a corrupted response is still refused,
		 * and nothing reads outside it. */
		for (size_t n = 0; n < b.len; n++)
			cr_assert_neq(kms_parse_response(&st, b.data, n, &res), KMS_OK);
		applied++;
		buf_free(&b);
	}
	/* Of the 18 values, version 4 lacks 8, version 5 lacks 3, version 6
	 * lacks 2 (see kmshost.h). */
	cr_assert_eq(applied, version == 4 ? 10u : version == 5 ? 15u : 16u);
}

Test(kms_corrupt, v4)
{
	check_corruptions(4);
}

Test(kms_corrupt, v5)
{
	check_corruptions(5);
}

Test(kms_corrupt, v6)
{
	check_corruptions(6);
}

Test(kms_corrupt, truncated_and_extended_at_every_length)
{
	for (unsigned version = 4; version <= 6; version++) {
		struct kms_client_state st;
		struct kms_host_request hr;
		struct kms_host_reply reply;
		struct kms_response res;
		struct buf b;

		request_round_trip(version, &st, &hr);
		test_reply(&reply);
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
		size_t len = b.len;
		for (size_t n = 0; n < len; n++)
			cr_assert_eq(kms_parse_response(&st, b.data, n, &res), KMS_ERR_TRUNCATED,
			             "v%u length %zu", version, n);
		for (size_t extra = 1; extra <= 40; extra++) {
			buf_put_u8(&b, (uint8_t)(0xEE ^ extra));
			cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_ERR_SIZE,
			             "v%u %zu extra bytes", version, extra);
		}
		cr_assert_eq(kms_parse_response(&st, NULL, 0, &res), KMS_ERR_TRUNCATED);
		buf_free(&b);
	}
}

/* Any single flipped bit of a v4 or v6 response is caught. */
Test(kms_corrupt, every_bit_flip_is_caught)
{
	for (unsigned version = 4; version <= 6; version += 2) {
		struct kms_client_state st;
		struct kms_host_request hr;
		struct kms_host_reply reply;
		struct kms_response res;
		struct buf b;

		request_round_trip(version, &st, &hr);
		test_reply(&reply);
		cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
		for (size_t i = 0; i < b.len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				b.data[i] ^= (uint8_t)(1u << bit);
				cr_assert_neq(kms_parse_response(&st, b.data, b.len, &res), KMS_OK,
				              "v%u byte %zu bit %u", version, i, bit);
				b.data[i] ^= (uint8_t)(1u << bit);
			}
		}
		cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_OK);
		buf_free(&b);
	}
}

Test(kms_corrupt, output_only_on_success)
{
	struct kms_client_state st;
	struct kms_host_request hr;
	struct kms_host_reply reply;
	struct kms_response res, before;
	struct buf b;

	request_round_trip(6, &st, &hr);
	test_reply(&reply);
	reply.corrupt = KMS_HOST_CORRUPT_TIME;
	cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_OK);
	memset(&res, 0x5A, sizeof(res));
	before = res;
	cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_ERR_TIME);
	cr_assert_arr_eq(&res, &before, sizeof(res));
	cr_assert_eq(kms_parse_response(NULL, b.data, b.len, &res), KMS_ERR_ARGUMENT);
	st.version = 3;
	cr_assert_eq(kms_parse_response(&st, b.data, b.len, &res), KMS_ERR_ARGUMENT);
	buf_free(&b);
}

/* ---- request building errors ---- */

Test(kms_request, workstation_names)
{
	struct kms_request_params p;
	struct kms_client_state st;
	struct kms_host_request hr;
	char name[80];
	struct buf b;

	test_params(&p, 4);
	buf_init(&b, BUF_MAX);

	memset(name, 'n', 63);
	name[63] = '\0';
	p.workstation = name;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_OK);
	cr_assert_str_eq(hr.machine_name, name);

	buf_reset(&b);
	p.workstation = NULL;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_OK);
	cr_assert_str_eq(hr.machine_name, "");

	buf_reset(&b);
	p.workstation = "h\xC3\xB4te-\xF0\x9F\x98\x80";
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_OK);
	cr_assert_str_eq(hr.machine_name, p.workstation);

	static const char *const bad[] = {"bad\xC0\xAFname", "tab\there", "del\x7F", "line\nbreak"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_reset(&b);
		p.workstation = bad[i];
		cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_WORKSTATION, "bad[%zu]", i);
	}
	name[63] = 'n';
	name[64] = '\0';
	p.workstation = name;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_WORKSTATION);
	buf_free(&b);
}

Test(kms_request, arguments_and_space)
{
	struct kms_request_params p;
	struct kms_client_state st, before;
	struct buf b;

	buf_init(&b, BUF_MAX);
	test_params(&p, 3);
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_ARGUMENT);
	p.version = 7;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_ARGUMENT);
	p.version = 6;
	p.product = NULL;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_ARGUMENT);
	cr_assert_eq(kms_build_request(NULL, &st, &b), KMS_ERR_ARGUMENT);
	cr_assert_eq(b.len, 0);
	buf_free(&b);

	/* One byte short of each request size: refused, state untouched. */
	for (unsigned version = 4; version <= 6; version++) {
		size_t size = version == 4 ? KMS_REQUEST_V4_SIZE : KMS_REQUEST_V5_SIZE;
		test_params(&p, version);
		memset(&st, 0x33, sizeof(st));
		before = st;
		buf_init(&b, size - 1);
		cr_assert_eq(kms_build_request(&p, &st, &b), KMS_ERR_NOSPACE);
		cr_assert_arr_eq(&st, &before, sizeof(st));
		buf_free(&b);
		buf_init(&b, size);
		cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
		cr_assert_eq(b.len, size);
		buf_free(&b);
	}
}

Test(kms_request, appends_after_existing_bytes)
{
	struct kms_request_params p;
	struct kms_client_state st;
	struct kms_host_request hr;
	struct buf b;

	test_params(&p, 6);
	buf_init(&b, BUF_MAX);
	buf_put_u32le(&b, KMS_REQUEST_V5_SIZE);
	buf_put_u32le(&b, KMS_REQUEST_V5_SIZE);
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	cr_assert_eq(b.len, 8 + KMS_REQUEST_V5_SIZE);
	cr_assert_eq(kms_host_parse_request(b.data + 8, b.len - 8, &hr), KMS_HOST_OK);
	buf_free(&b);
}

Test(kms_request, fresh_iv_fresh_ciphertext)
{
	struct kms_request_params p;
	struct kms_client_state st;
	struct buf a, b;

	test_params(&p, 6);
	buf_init(&a, BUF_MAX);
	buf_init(&b, BUF_MAX);
	cr_assert_eq(kms_build_request(&p, &st, &a), KMS_OK);
	p.iv[15] ^= 1;
	cr_assert_eq(kms_build_request(&p, &st, &b), KMS_OK);
	/* Every ciphertext block differs because the chain starts differently. */
	for (size_t off = 20; off < a.len; off += 16)
		cr_assert(memcmp(a.data + off, b.data + off, 16) != 0, "block at %zu", off);
	buf_free(&a);
	buf_free(&b);
}

/* ---- the host's request parser ---- */

static void
build_request(unsigned version, struct buf *b)
{
	struct kms_request_params p;
	struct kms_client_state st;

	test_params(&p, version);
	buf_init(b, BUF_MAX);
	cr_assert_eq(kms_build_request(&p, &st, b), KMS_OK);
}

Test(kms_host, request_lengths_and_versions)
{
	struct kms_host_request hr;

	for (unsigned version = 4; version <= 6; version++) {
		struct buf b;
		build_request(version, &b);
		for (size_t n = 0; n < b.len; n++)
			cr_assert_eq(kms_host_parse_request(b.data, n, &hr), KMS_HOST_ERR_TRUNCATED,
			             "v%u length %zu", version, n);
		buf_put_u8(&b, 0);
		cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_SIZE);
		b.len--;
		b.data[2] = 3;
		cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_VERSION);
		b.data[2] = 7;
		cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_VERSION);
		buf_free(&b);
	}
}

Test(kms_host, request_integrity)
{
	struct kms_host_request hr;
	struct buf b;

	/* v4: any change to the base breaks the MAC. */
	build_request(4, &b);
	b.data[100] ^= 1;
	cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_MAC);
	buf_free(&b);

	/* v5/v6: a damaged last block breaks the padding. */
	for (unsigned version = 5; version <= 6; version++) {
		build_request(version, &b);
		b.data[b.len - 1] ^= 0x40;
		cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_PADDING);
		buf_free(&b);
	}

	/* v6: the version inside must match the one outside. */
	struct rijndael_ctx ctx;
	uint8_t iv[16];
	build_request(6, &b);
	memcpy(iv, b.data + 4, 16);
	kmscrypto_cipher_init(&ctx, 6);
	kmscrypto_cbc_decrypt(&ctx, iv, b.data + 20, 240, b.data + 20);
	b.data[20 + 2] = 5;
	kmscrypto_cbc_encrypt(&ctx, iv, b.data + 20, 240, b.data + 20);
	cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_INNER_VERSION);
	buf_free(&b);
}

Test(kms_host, request_workstation_field)
{
	struct kms_host_request hr;
	struct buf b;
	const size_t name_off = 108;

	/* Each case edits the clear v4 base and recomputes its MAC. */
	for (int variant = 0; variant < 3; variant++) {
		build_request(4, &b);
		if (variant == 0) {
			for (size_t i = 0; i < 128; i += 2)
				b.data[name_off + i] = 'x'; /* no NUL anywhere */
		} else if (variant == 1) {
			b.data[name_off + 126] = 'x'; /* junk after the NUL */
		} else {
			b.data[name_off + 0] = 0x00; /* lone high surrogate */
			b.data[name_off + 1] = 0xD8;
		}
		kmscrypto_v4_mac(b.data, KMS_REQUEST_BASE_SIZE, b.data + KMS_REQUEST_BASE_SIZE);
		cr_assert_eq(kms_host_parse_request(b.data, b.len, &hr), KMS_HOST_ERR_NAME,
		             "variant %d", variant);
		buf_free(&b);
	}
}

Test(kms_host, build_arguments)
{
	struct kms_client_state st;
	struct kms_host_request hr;
	struct kms_host_reply reply;
	struct buf b;

	request_round_trip(6, &st, &hr);
	test_reply(&reply);
	cr_assert_eq(kms_host_build_response(NULL, &reply, &b), KMS_HOST_ERR_ARGUMENT);
	reply.epid = NULL;
	cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_ERR_ARGUMENT);
	buf_free(&b);
	reply.epid = "bad\xC0\xAF";
	cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_ERR_ARGUMENT);
	buf_free(&b);
	test_reply(&reply);
	buf_init(&b, 100);
	cr_assert_eq(kms_host_build_response(&hr, &reply, &b), KMS_HOST_ERR_NOSPACE);
	buf_free(&b);
	hr.has_iv = false;
	cr_assert_eq(host_response(&hr, &reply, &b), KMS_HOST_ERR_ARGUMENT);
	buf_free(&b);
}
