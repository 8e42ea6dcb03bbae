/*
 * DCE/RPC PDU layer against the captured conversations, round trips of every
 * builder, and one test per way a PDU can be malformed.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kmswatch/buf.h"
#include "kmswatch/rpc.h"

#include "capture.h"

#define CALL_ID 2 /* every captured conversation uses call id 2 */
#define OUT_MAX 65536

static const char *const all_captures[] = {"v4", "v5", "v6", "v6_ndr32", "v6_err"};
#define N_CAPTURES (sizeof(all_captures) / sizeof(all_captures[0]))

static void
load(const char *name, struct capture *c)
{
	cr_assert_eq(capture_load(name, c), 0, "cannot load capture %s", name);
}

static const struct capture_pdu *
must_find(const struct capture *c, int dir, uint8_t type, size_t n)
{
	const struct capture_pdu *p = capture_find(c, dir, type, n);
	cr_assert_not_null(p, "no %s #%zu in capture", rpc_type_name(type), n);
	return p;
}

/* A private, writable copy of a PDU to damage. */
static uint8_t *
dup_pdu(const uint8_t *data, size_t len, size_t extra)
{
	uint8_t *p = calloc(1, len + extra + 1);
	cr_assert_not_null(p);
	memcpy(p, data, len);
	return p;
}

static void
put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[off + (size_t)i] = (uint8_t)(v >> (8 * i));
}

/* Parses a PDU with the parser its type calls for, as the side that
 * receives it would. */
static enum rpc_err
parse_any(const uint8_t *data, size_t len, uint8_t type)
{
	struct rpc_bind b;
	struct rpc_bind_ack a;
	struct rpc_request q;
	struct rpc_response s;
	struct rpc_fault f;
	struct rpc_bind_nak k;
	switch (type) {
	case RPC_TYPE_BIND:
	case RPC_TYPE_ALTER_CONTEXT:
		return rpc_parse_bind(data, len, &b);
	case RPC_TYPE_BIND_ACK:
	case RPC_TYPE_ALTER_CONTEXT_RESP:
		return rpc_parse_bind_ack(data, len, CALL_ID, &a);
	case RPC_TYPE_REQUEST:
		return rpc_parse_request(data, len, &q);
	case RPC_TYPE_RESPONSE:
		return rpc_parse_response(data, len, CALL_ID, &s);
	case RPC_TYPE_FAULT:
		return rpc_parse_fault(data, len, CALL_ID, &f);
	case RPC_TYPE_BIND_NAK:
		return rpc_parse_bind_nak(data, len, CALL_ID, &k);
	}
	return RPC_ERR_TYPE;
}

static void
assert_syntax(const struct rpc_syntax *got, const struct rpc_syntax *want)
{
	cr_assert(rpc_syntax_equal(got, want));
}

static void
assert_nil_syntax(const struct rpc_syntax *s)
{
	static const struct rpc_syntax nil;
	cr_assert(rpc_syntax_equal(s, &nil));
}

/* Captures */

Test(rpc_capture, every_pdu_frames_and_parses)
{
	for (size_t i = 0; i < N_CAPTURES; i++) {
		struct capture c;
		load(all_captures[i], &c);
		for (size_t j = 0; j < c.n; j++) {
			const struct capture_pdu *p = &c.pdus[j];
			struct rpc_header h;
			size_t frag;
			cr_assert_eq(rpc_parse_header(p->data, p->len, RPC_MAX_FRAG, &h), RPC_OK);
			cr_assert_eq(rpc_frag_length(p->data, p->len, RPC_MAX_FRAG, &frag), RPC_OK);
			cr_assert_eq(frag, p->len);
			cr_assert_eq(h.call_id, CALL_ID);
			enum rpc_err err = parse_any(p->data, p->len, h.type);
			cr_assert_eq(err, RPC_OK, "%s PDU %zu (%s): %s", all_captures[i], j,
			             rpc_type_name(h.type), rpc_strerror(err));
		}
		capture_free(&c);
	}
}

Test(rpc_capture, guid_constants_match_their_text)
{
	cr_assert(capture_guid_equal(rpc_syntax_kms.uuid, "51c82175-844e-4750-b0d8-ec255555bc06"));
	cr_assert(
	    capture_guid_equal(rpc_syntax_ndr32.uuid, "8a885d04-1ceb-11c9-9fe8-08002b104860"));
	cr_assert(
	    capture_guid_equal(rpc_syntax_ndr64.uuid, "71710533-beba-4937-8319-b5dbef9ccc36"));
	cr_assert(capture_guid_equal(rpc_syntax_feature_neg.uuid,
	                             "6cb71c2c-9812-4540-0300-000000000000"));
	cr_assert_eq(rpc_syntax_kms.version, 1); /* 1.0: major in the low half */
	cr_assert_eq(rpc_syntax_ndr32.version, 2);
}

Test(rpc_capture, v4_bind_offers_ndr32_ndr64_and_feature_negotiation)
{
	struct capture c;
	load("v4", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_BIND, 0);
	struct rpc_bind b;
	cr_assert_eq(rpc_parse_bind(p->data, p->len, &b), RPC_OK);
	cr_assert_eq(b.type, RPC_TYPE_BIND);
	cr_assert_eq(b.flags, RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_CONC_MPX);
	cr_assert_eq(b.call_id, CALL_ID);
	cr_assert_eq(b.max_xmit, 5840);
	cr_assert_eq(b.max_recv, 5840);
	cr_assert_eq(b.assoc_group, 0);
	cr_assert_eq(b.n_items, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(b.items[i].context_id, i);
		assert_syntax(&b.items[i].abstract, &rpc_syntax_kms);
	}
	assert_syntax(&b.items[0].transfer, &rpc_syntax_ndr32);
	assert_syntax(&b.items[1].transfer, &rpc_syntax_ndr64);
	uint16_t bits = 0;
	cr_assert(rpc_syntax_is_feature_neg(&b.items[2].transfer, &bits));
	cr_assert_eq(bits, 3);
	cr_assert_not(rpc_syntax_is_feature_neg(&b.items[0].transfer, NULL));
	capture_free(&c);
}

Test(rpc_capture, v4_bind_ack_rejects_ndr32_accepts_ndr64_acks_features)
{
	struct capture c;
	load("v4", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
	struct rpc_bind_ack a;
	cr_assert_eq(rpc_parse_bind_ack(p->data, p->len, CALL_ID, &a), RPC_OK);
	cr_assert_eq(a.type, RPC_TYPE_BIND_ACK);
	cr_assert_str_eq(a.sec_addr, "11688"); /* the captured host listened on 11688 */
	cr_assert_eq(a.assoc_group, 0xba5f8895);
	cr_assert_eq(a.n_results, 3);
	cr_assert_eq(a.results[0].result, RPC_RESULT_PROVIDER_REJECTION);
	cr_assert_eq(a.results[0].reason, RPC_REASON_TRANSFER_SYNTAX);
	assert_nil_syntax(&a.results[0].transfer);
	cr_assert_eq(a.results[1].result, RPC_RESULT_ACCEPTED);
	cr_assert_eq(a.results[1].reason, 0);
	assert_syntax(&a.results[1].transfer, &rpc_syntax_ndr64);
	cr_assert_eq(a.results[2].result, RPC_RESULT_NEGOTIATE_ACK);
	cr_assert_eq(a.results[2].reason, 3);
	assert_nil_syntax(&a.results[2].transfer);
	/* The probe needs NDR32 accepted on item 0, which this host refused. */
	cr_assert_eq(rpc_check_bind_ack(&a, 3), RPC_ERR_BIND_REJECTED);
	capture_free(&c);
}

Test(rpc_capture, v4_alter_context_moves_to_ndr32)
{
	struct capture c;
	load("v4", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_ALTER_CONTEXT, 0);
	struct rpc_bind b;
	cr_assert_eq(rpc_parse_bind(p->data, p->len, &b), RPC_OK);
	cr_assert_eq(b.type, RPC_TYPE_ALTER_CONTEXT);
	cr_assert_eq(b.n_items, 1);
	cr_assert_eq(b.items[0].context_id, 0);
	assert_syntax(&b.items[0].abstract, &rpc_syntax_kms);
	assert_syntax(&b.items[0].transfer, &rpc_syntax_ndr32);

	p = must_find(&c, CAPTURE_S2C, RPC_TYPE_ALTER_CONTEXT_RESP, 0);
	struct rpc_bind_ack a;
	cr_assert_eq(rpc_parse_bind_ack(p->data, p->len, CALL_ID, &a), RPC_OK);
	cr_assert_eq(a.type, RPC_TYPE_ALTER_CONTEXT_RESP);
	cr_assert_eq(a.flags, RPC_FLAG_FIRST | RPC_FLAG_LAST);
	cr_assert_str_eq(a.sec_addr, "");
	cr_assert_eq(a.n_results, 1);
	cr_assert_eq(a.results[0].result, RPC_RESULT_ACCEPTED);
	assert_syntax(&a.results[0].transfer, &rpc_syntax_ndr32);
	cr_assert_eq(rpc_check_bind_ack(&a, 1), RPC_OK);
	/* The two padding bytes after the empty secondary address are stale
	 * ("11"), so padding content must not be checked there. */
	cr_assert_eq(p->data[26], '1');
	cr_assert_eq(p->data[27], '1');
	capture_free(&c);
}

Test(rpc_capture, ndr32_bind_ack_accepts_item0)
{
	const char *names[] = {"v6_ndr32", "v6_err"};
	for (size_t i = 0; i < 2; i++) {
		struct capture c;
		load(names[i], &c);
		const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
		struct rpc_bind_ack a;
		cr_assert_eq(rpc_parse_bind_ack(p->data, p->len, CALL_ID, &a), RPC_OK);
		cr_assert_str_eq(a.sec_addr, "11688");
		cr_assert_eq(a.n_results, 2);
		cr_assert_eq(a.results[0].result, RPC_RESULT_ACCEPTED);
		assert_syntax(&a.results[0].transfer, &rpc_syntax_ndr32);
		cr_assert_eq(a.results[1].result, RPC_RESULT_NEGOTIATE_ACK);
		cr_assert_eq(a.results[1].reason, 3);
		cr_assert_eq(rpc_check_bind_ack(&a, 2), RPC_OK);
		capture_free(&c);
	}
}

Test(rpc_capture, request_stub_lengths)
{
	static const struct {
		const char *name;
		size_t pdu, stub;
		uint8_t version;
	} want[] = {
	    {"v4", 284, 252, 4},       {"v5", 292, 260, 5},     {"v6", 292, 260, 6},
	    {"v6_ndr32", 292, 260, 6}, {"v6_err", 292, 260, 6},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct capture c;
		load(want[i].name, &c);
		const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
		struct rpc_request q;
		cr_assert_eq(p->len, want[i].pdu);
		cr_assert_eq(rpc_parse_request(p->data, p->len, &q), RPC_OK);
		cr_assert_eq(q.call_id, CALL_ID);
		cr_assert_eq(q.context_id, 0);
		cr_assert_eq(q.opnum, 0);
		cr_assert_eq(q.alloc_hint, want[i].stub + 8);
		cr_assert_eq(q.len, want[i].stub);
		/* The KMS request starts with minor u16 0, major u16 = version. */
		cr_assert_eq(q.data[0], 0);
		cr_assert_eq(q.data[1], 0);
		cr_assert_eq(q.data[2], want[i].version);
		cr_assert_eq(q.data[3], 0);
		capture_free(&c);
	}
}

Test(rpc_capture, response_success)
{
	static const struct {
		const char *name;
		size_t stub;
	} want[] = {{"v4", 160}, {"v5", 228}, {"v6", 260}, {"v6_ndr32", 260}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct capture c;
		load(want[i].name, &c);
		uint32_t hr;
		cr_assert_eq(capture_expected_u32(&c, "hresult", &hr), 0);
		const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
		struct rpc_response s;
		cr_assert_eq(rpc_parse_response(p->data, p->len, CALL_ID, &s), RPC_OK);
		cr_assert_not(s.null_ptr);
		cr_assert_eq(s.hresult, hr);
		cr_assert_eq(s.hresult, 0);
		cr_assert_eq(s.len, want[i].stub);
		cr_assert_eq(s.alloc_hint, 12 + want[i].stub + 4);
		cr_assert_eq(s.context_id, 0);
		capture_free(&c);
	}
}

Test(rpc_capture, v6_err_is_a_null_pointer_refusal)
{
	struct capture c;
	load("v6_err", &c);
	uint32_t hr;
	cr_assert_eq(capture_expected_u32(&c, "hresult", &hr), 0);
	cr_assert_eq(hr, 0xC004F042);
	const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	struct rpc_response s;
	cr_assert_eq(rpc_parse_response(p->data, p->len, CALL_ID, &s), RPC_OK);
	cr_assert(s.null_ptr);
	cr_assert_null(s.data);
	cr_assert_eq(s.len, 0);
	cr_assert_eq(s.hresult, 0xC004F042);
	capture_free(&c);
}

/* Builders against the captures */

Test(rpc_build, probe_bind_equals_captured_bind)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_BIND, 0);
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind(&out, CALL_ID), RPC_OK);
	cr_assert_eq(out.len, 116);
	cr_assert_eq(out.len, p->len);
	cr_assert_arr_eq(out.data, p->data, p->len);
	buf_free(&out);
	capture_free(&c);
}

Test(rpc_build, parsed_binds_write_back_identically)
{
	for (size_t i = 0; i < N_CAPTURES; i++) {
		struct capture c;
		load(all_captures[i], &c);
		for (size_t j = 0; j < c.n; j++) {
			const struct capture_pdu *p = &c.pdus[j];
			struct buf out;
			buf_init(&out, OUT_MAX);
			if (p->data[2] == RPC_TYPE_BIND || p->data[2] == RPC_TYPE_ALTER_CONTEXT) {
				struct rpc_bind b;
				cr_assert_eq(rpc_parse_bind(p->data, p->len, &b), RPC_OK);
				cr_assert_eq(rpc_write_bind(&out, &b), RPC_OK);
			} else if (p->data[2] == RPC_TYPE_BIND_ACK ||
			           p->data[2] == RPC_TYPE_ALTER_CONTEXT_RESP) {
				struct rpc_bind_ack a;
				cr_assert_eq(rpc_parse_bind_ack(p->data, p->len, CALL_ID, &a),
				             RPC_OK);
				cr_assert_eq(rpc_write_bind_ack(&out, &a), RPC_OK);
			} else {
				buf_free(&out);
				continue;
			}
			cr_assert_eq(out.len, p->len);
			for (size_t k = 0; k < p->len; k++) {
				/* Only the stale padding of the alter_context_resp
				 * differs: ours is zero. */
				if (p->data[2] == RPC_TYPE_ALTER_CONTEXT_RESP &&
				    (k == 26 || k == 27))
					cr_assert_eq(out.data[k], 0);
				else
					cr_assert_eq(out.data[k], p->data[k], "%s PDU %zu byte %zu",
					             all_captures[i], j, k);
			}
			buf_free(&out);
		}
		capture_free(&c);
	}
}

Test(rpc_build, requests_and_responses_rebuild_identically)
{
	for (size_t i = 0; i < N_CAPTURES; i++) {
		struct capture c;
		load(all_captures[i], &c);
		const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
		struct rpc_request q;
		struct buf out;
		buf_init(&out, OUT_MAX);
		cr_assert_eq(rpc_parse_request(p->data, p->len, &q), RPC_OK);
		cr_assert_eq(rpc_build_request(&out, q.call_id, q.data, q.len), RPC_OK);
		cr_assert_eq(out.len, p->len);
		cr_assert_arr_eq(out.data, p->data, p->len);

		p = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
		struct rpc_response s;
		cr_assert_eq(rpc_parse_response(p->data, p->len, CALL_ID, &s), RPC_OK);
		buf_reset(&out);
		if (s.null_ptr)
			cr_assert_eq(rpc_build_response_null(&out, CALL_ID, 0, s.hresult), RPC_OK);
		else
			cr_assert_eq(rpc_build_response(&out, CALL_ID, 0, s.data, s.len, s.hresult),
			             RPC_OK);
		cr_assert_eq(out.len, p->len);
		cr_assert_arr_eq(out.data, p->data, p->len);
		buf_free(&out);
		capture_free(&c);
	}
}

Test(rpc_build, host_bind_ack_equals_captured_for_the_probe_bind)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *bind = must_find(&c, CAPTURE_C2S, RPC_TYPE_BIND, 0);
	const struct capture_pdu *ack = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
	struct rpc_bind b;
	cr_assert_eq(rpc_parse_bind(bind->data, bind->len, &b), RPC_OK);
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind_ack(&out, &b, 11688, 0xba5f8898, 0xffff), RPC_OK);
	cr_assert_eq(out.len, ack->len);
	cr_assert_arr_eq(out.data, ack->data, ack->len);
	buf_free(&out);
	capture_free(&c);
}

Test(rpc_build, host_bind_ack_for_a_v4_client)
{
	struct capture c;
	load("v4", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_BIND, 0);
	struct rpc_bind b;
	cr_assert_eq(rpc_parse_bind(p->data, p->len, &b), RPC_OK);
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind_ack(&out, &b, RPC_KMS_PORT, 7, 0x1), RPC_OK);
	/* "1688\0" ends at 31, so one byte of padding: 32 + 4 + 3 * 24. */
	cr_assert_eq(out.len, 108);
	cr_assert_eq(out.data[31], 0);
	struct rpc_bind_ack a;
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, CALL_ID, &a), RPC_OK);
	cr_assert_str_eq(a.sec_addr, "1688");
	cr_assert_eq(a.assoc_group, 7);
	cr_assert_eq(a.n_results, 3);
	cr_assert_eq(a.results[0].result, RPC_RESULT_ACCEPTED);
	assert_syntax(&a.results[0].transfer, &rpc_syntax_ndr32);
	cr_assert_eq(a.results[1].result, RPC_RESULT_PROVIDER_REJECTION);
	cr_assert_eq(a.results[1].reason, RPC_REASON_TRANSFER_SYNTAX);
	assert_nil_syntax(&a.results[1].transfer);
	cr_assert_eq(a.results[2].result, RPC_RESULT_NEGOTIATE_ACK);
	cr_assert_eq(a.results[2].reason, 0x1); /* offered 3, host grants only 1 */
	cr_assert_eq(rpc_check_bind_ack(&a, 3), RPC_OK);

	/* The alter_context is answered with an alter_context_resp that, but
	 * for the stale padding, is the captured one. */
	p = must_find(&c, CAPTURE_C2S, RPC_TYPE_ALTER_CONTEXT, 0);
	const struct capture_pdu *resp = must_find(&c, CAPTURE_S2C, RPC_TYPE_ALTER_CONTEXT_RESP, 0);
	cr_assert_eq(rpc_parse_bind(p->data, p->len, &b), RPC_OK);
	buf_reset(&out);
	cr_assert_eq(rpc_build_bind_ack(&out, &b, RPC_KMS_PORT, 0xba5f8895, 0xffff), RPC_OK);
	cr_assert_eq(out.len, resp->len);
	cr_assert_arr_eq(out.data, resp->data, 26);
	cr_assert_arr_eq(out.data + 28, resp->data + 28, resp->len - 28);
	buf_free(&out);
	capture_free(&c);
}

Test(rpc_build, host_rejects_another_interface)
{
	struct rpc_bind b;
	rpc_bind_init_probe(&b, 9);
	b.items[0].abstract.uuid[0] ^= 0xff;
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind_ack(&out, &b, RPC_KMS_PORT, 1, 0xffff), RPC_OK);
	struct rpc_bind_ack a;
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, 9, &a), RPC_OK);
	cr_assert_eq(a.results[0].result, RPC_RESULT_PROVIDER_REJECTION);
	cr_assert_eq(a.results[0].reason, RPC_REASON_ABSTRACT_SYNTAX);
	cr_assert_eq(rpc_check_bind_ack(&a, 2), RPC_ERR_BIND_REJECTED);
	buf_free(&out);
}

/* Round trips */

Test(rpc_roundtrip, bind)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind(&out, 0x12345678), RPC_OK);
	struct rpc_bind b, want;
	rpc_bind_init_probe(&want, 0x12345678);
	cr_assert_eq(rpc_parse_bind(out.data, out.len, &b), RPC_OK);
	cr_assert_eq(b.call_id, 0x12345678);
	cr_assert_eq(b.n_items, want.n_items);
	for (size_t i = 0; i < b.n_items; i++) {
		cr_assert_eq(b.items[i].context_id, want.items[i].context_id);
		assert_syntax(&b.items[i].abstract, &want.items[i].abstract);
		assert_syntax(&b.items[i].transfer, &want.items[i].transfer);
	}
	buf_free(&out);
}

Test(rpc_roundtrip, request_every_small_size)
{
	uint8_t kms[300];
	for (size_t i = 0; i < sizeof(kms); i++)
		kms[i] = (uint8_t)(i * 7 + 1);
	for (size_t n = 0; n < 12; n++) {
		struct buf out;
		buf_init(&out, OUT_MAX);
		cr_assert_eq(rpc_build_request(&out, 77, n > 0 ? kms : NULL, n), RPC_OK);
		cr_assert_eq(out.len, 32 + n);
		struct rpc_request q;
		cr_assert_eq(rpc_parse_request(out.data, out.len, &q), RPC_OK);
		cr_assert_eq(q.call_id, 77);
		cr_assert_eq(q.alloc_hint, n + 8);
		cr_assert_eq(q.len, n);
		if (n > 0)
			cr_assert_arr_eq(q.data, kms, n);
		buf_free(&out);
	}
}

Test(rpc_roundtrip, response_every_padding)
{
	uint8_t kms[64];
	for (size_t i = 0; i < sizeof(kms); i++)
		kms[i] = (uint8_t)(0xa0 + i);
	for (size_t n = 0; n < 12; n++) {
		struct buf out;
		buf_init(&out, OUT_MAX);
		cr_assert_eq(rpc_build_response(&out, 5, 0, kms, n, 0x8007000D), RPC_OK);
		size_t pad = (4 - n % 4) % 4;
		cr_assert_eq(out.len, 24 + 12 + n + pad + 4);
		struct rpc_response s;
		cr_assert_eq(rpc_parse_response(out.data, out.len, 5, &s), RPC_OK);
		cr_assert_not(s.null_ptr);
		cr_assert_eq(s.len, n);
		if (n > 0)
			cr_assert_arr_eq(s.data, kms, n);
		cr_assert_eq(s.hresult, 0x8007000D);
		buf_free(&out);
	}
}

Test(rpc_roundtrip, refusal)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_response_null(&out, 3, 0, 0xC004F041), RPC_OK);
	cr_assert_eq(out.len, 36);
	struct rpc_response s;
	cr_assert_eq(rpc_parse_response(out.data, out.len, 3, &s), RPC_OK);
	cr_assert(s.null_ptr);
	cr_assert_eq(s.hresult, 0xC004F041);
	buf_free(&out);
}

Test(rpc_roundtrip, bind_nak)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind_nak(&out, 4, 4), RPC_OK);
	struct rpc_bind_nak k;
	cr_assert_eq(rpc_parse_bind_nak(out.data, out.len, 4, &k), RPC_OK);
	cr_assert_eq(k.reason, 4);
	/* The probe reads whatever answers its bind: a bind_nak is a failure. */
	struct rpc_bind_ack a;
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, 4, &a), RPC_ERR_BIND_NAK);
	cr_assert_eq(a.nak_reason, 4);
	buf_free(&out);
}

Test(rpc_roundtrip, fault)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_fault(&out, 8, 0, 0x1c010002), RPC_OK);
	cr_assert_eq(out.len, 32);
	struct rpc_fault f;
	cr_assert_eq(rpc_parse_fault(out.data, out.len, 8, &f), RPC_OK);
	cr_assert_eq(f.status, 0x1c010002);
	/* The probe expects a response: a fault is reported with its status. */
	struct rpc_response s;
	cr_assert_eq(rpc_parse_response(out.data, out.len, 8, &s), RPC_ERR_FAULT);
	cr_assert_eq(s.fault_status, 0x1c010002);
	buf_free(&out);
}

Test(rpc_roundtrip, builders_append_after_existing_data)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind(&out, 1), RPC_OK);
	cr_assert_eq(rpc_build_request(&out, 1, (const uint8_t *)"abc", 3), RPC_OK);
	size_t frag;
	cr_assert_eq(rpc_frag_length(out.data, out.len, RPC_MAX_FRAG, &frag), RPC_OK);
	cr_assert_eq(frag, 116);
	struct rpc_request q;
	cr_assert_eq(rpc_parse_request(out.data + 116, out.len - 116, &q), RPC_OK);
	cr_assert_eq(q.len, 3);
	buf_free(&out);
}

/* Malformed input */

Test(rpc_malformed, truncated_at_every_length)
{
	for (size_t i = 0; i < N_CAPTURES; i++) {
		struct capture c;
		load(all_captures[i], &c);
		for (size_t j = 0; j < c.n; j++) {
			const struct capture_pdu *p = &c.pdus[j];
			uint8_t type = p->data[2];
			for (size_t k = 0; k < p->len; k++) {
				/* A fresh heap copy of exactly k bytes, so that
				 * the sanitizers catch any read past the end. */
				uint8_t *cut = malloc(k + 1);
				cr_assert_not_null(cut);
				memcpy(cut, p->data, k);
				enum rpc_err want =
				    k < RPC_HEADER_LEN ? RPC_ERR_TRUNCATED : RPC_ERR_FRAG_LENGTH;
				cr_assert_eq(parse_any(cut, k, type), want, "%s PDU %zu cut at %zu",
				             all_captures[i], j, k);
				/* A stream reader learns it needs more. */
				size_t frag = 0;
				enum rpc_err ferr = rpc_frag_length(cut, k, RPC_MAX_FRAG, &frag);
				if (k < RPC_HEADER_LEN)
					cr_assert_eq(ferr, RPC_ERR_TRUNCATED);
				else
					cr_assert(ferr == RPC_OK && frag == p->len);
				/* With the fragment length rewritten to match,
				 * the body is what is short. */
				if (k >= RPC_HEADER_LEN) {
					put16(cut, 8, (uint16_t)k);
					enum rpc_err err = parse_any(cut, k, type);
					if (type == RPC_TYPE_REQUEST || type == RPC_TYPE_RESPONSE)
						cr_assert(err == RPC_ERR_TRUNCATED ||
						          err == RPC_ERR_STUB);
					else
						cr_assert_eq(err, RPC_ERR_TRUNCATED,
						             "%s PDU %zu cut at %zu: %s",
						             all_captures[i], j, k,
						             rpc_strerror(err));
				}
				free(cut);
			}
		}
		capture_free(&c);
	}
}

Test(rpc_malformed, fragment_length)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	struct rpc_response s;
	uint8_t *d = dup_pdu(p->data, p->len, 1);
	size_t frag;

	put16(d, 8, 15); /* too small */
	cr_assert_eq(rpc_parse_response(d, p->len, CALL_ID, &s), RPC_ERR_FRAG_LENGTH);
	cr_assert_eq(rpc_frag_length(d, p->len, RPC_MAX_FRAG, &frag), RPC_ERR_FRAG_LENGTH);
	put16(d, 8, 0);
	cr_assert_eq(rpc_frag_length(d, p->len, RPC_MAX_FRAG, &frag), RPC_ERR_FRAG_LENGTH);

	put16(d, 8, (uint16_t)(p->len + 1)); /* larger than the buffer */
	cr_assert_eq(rpc_parse_response(d, p->len, CALL_ID, &s), RPC_ERR_FRAG_LENGTH);

	put16(d, 8, (uint16_t)p->len); /* smaller than the buffer */
	cr_assert_eq(rpc_parse_response(d, p->len + 1, CALL_ID, &s), RPC_ERR_FRAG_LENGTH);

	/* Larger than the caller's maximum: refused before anything is read
	 * or allocated. */
	cr_assert_eq(rpc_frag_length(d, p->len, p->len - 1, &frag), RPC_ERR_FRAG_LENGTH);
	put16(d, 8, 0xffff);
	cr_assert_eq(rpc_frag_length(d, RPC_HEADER_LEN, RPC_MAX_FRAG, &frag), RPC_ERR_FRAG_LENGTH);
	cr_assert_eq(rpc_frag_length(d, RPC_HEADER_LEN, 0xffff, &frag), RPC_OK);
	cr_assert_eq(frag, 0xffff);
	free(d);
	capture_free(&c);
}

Test(rpc_malformed, header_fields)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	struct rpc_response s;
	static const struct {
		size_t off;
		uint8_t val;
		enum rpc_err want;
	} cases[] = {
	    {0, 4, RPC_ERR_VERSION},  {1, 1, RPC_ERR_VERSION},  {2, 99, RPC_ERR_TYPE},
	    {3, 0x01, RPC_ERR_FLAGS}, {3, 0x02, RPC_ERR_FLAGS}, {3, 0x00, RPC_ERR_FLAGS},
	    {3, 0x13, RPC_ERR_FLAGS}, {3, 0x83, RPC_ERR_FLAGS}, {3, 0x07, RPC_ERR_FLAGS},
	    {4, 0x00, RPC_ERR_DREP},  {5, 0x01, RPC_ERR_DREP},  {10, 16, RPC_ERR_AUTH},
	    {11, 1, RPC_ERR_AUTH},    {12, 3, RPC_ERR_CALL_ID}, {15, 0x80, RPC_ERR_CALL_ID},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *d = dup_pdu(p->data, p->len, 0);
		d[cases[i].off] = cases[i].val;
		enum rpc_err err = rpc_parse_response(d, p->len, CALL_ID, &s);
		cr_assert_eq(err, cases[i].want, "case %zu: got %s", i, rpc_strerror(err));
		if (cases[i].want != RPC_ERR_CALL_ID) {
			size_t frag;
			cr_assert_eq(rpc_frag_length(d, p->len, RPC_MAX_FRAG, &frag),
			             cases[i].want);
		}
		free(d);
	}
	capture_free(&c);
}

Test(rpc_malformed, flags_allowed_per_type)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind(&out, 1), RPC_OK);
	struct rpc_bind b;
	out.data[3] = RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_HDR_SIGN | RPC_FLAG_CONC_MPX;
	cr_assert_eq(rpc_parse_bind(out.data, out.len, &b), RPC_OK);
	out.data[3] = RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_DID_NOT_EXECUTE;
	cr_assert_eq(rpc_parse_bind(out.data, out.len, &b), RPC_ERR_FLAGS);
	out.data[3] = RPC_FLAG_FIRST; /* a first fragment of several */
	cr_assert_eq(rpc_parse_bind(out.data, out.len, &b), RPC_ERR_FLAGS);
	buf_reset(&out);
	cr_assert_eq(rpc_build_fault(&out, 1, 0, 5), RPC_OK);
	struct rpc_fault f;
	cr_assert_eq(rpc_parse_fault(out.data, out.len, 1, &f), RPC_OK);
	out.data[3] = RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_CONC_MPX;
	cr_assert_eq(rpc_parse_fault(out.data, out.len, 1, &f), RPC_ERR_FLAGS);
	buf_free(&out);
}

Test(rpc_malformed, wrong_call_id)
{
	struct capture c;
	load("v6_err", &c);
	const struct capture_pdu *ack = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
	const struct capture_pdu *resp = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	struct rpc_bind_ack a;
	struct rpc_response s;
	cr_assert_eq(rpc_parse_bind_ack(ack->data, ack->len, 3, &a), RPC_ERR_CALL_ID);
	cr_assert_eq(rpc_parse_response(resp->data, resp->len, 1, &s), RPC_ERR_CALL_ID);
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_fault(&out, 2, 0, 5), RPC_OK);
	struct rpc_fault f;
	cr_assert_eq(rpc_parse_fault(out.data, out.len, 3, &f), RPC_ERR_CALL_ID);
	cr_assert_eq(rpc_parse_response(out.data, out.len, 3, &s), RPC_ERR_CALL_ID);
	buf_reset(&out);
	cr_assert_eq(rpc_build_bind_nak(&out, 2, 1), RPC_OK);
	struct rpc_bind_nak k;
	cr_assert_eq(rpc_parse_bind_nak(out.data, out.len, 3, &k), RPC_ERR_CALL_ID);
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, 3, &a), RPC_ERR_CALL_ID);
	buf_free(&out);
	capture_free(&c);
}

Test(rpc_malformed, wrong_type)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *bind = must_find(&c, CAPTURE_C2S, RPC_TYPE_BIND, 0);
	const struct capture_pdu *ack = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
	const struct capture_pdu *req = must_find(&c, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
	const struct capture_pdu *resp = must_find(&c, CAPTURE_S2C, RPC_TYPE_RESPONSE, 0);
	struct rpc_bind b;
	struct rpc_bind_ack a;
	struct rpc_request q;
	struct rpc_response s;
	struct rpc_fault f;
	struct rpc_bind_nak k;
	cr_assert_eq(rpc_parse_bind(req->data, req->len, &b), RPC_ERR_TYPE);
	cr_assert_eq(rpc_parse_bind_ack(resp->data, resp->len, CALL_ID, &a), RPC_ERR_TYPE);
	cr_assert_eq(rpc_parse_request(bind->data, bind->len, &q), RPC_ERR_TYPE);
	cr_assert_eq(rpc_parse_response(ack->data, ack->len, CALL_ID, &s), RPC_ERR_TYPE);
	cr_assert_eq(rpc_parse_fault(resp->data, resp->len, CALL_ID, &f), RPC_ERR_TYPE);
	cr_assert_eq(rpc_parse_bind_nak(ack->data, ack->len, CALL_ID, &k), RPC_ERR_TYPE);
	capture_free(&c);
}

Test(rpc_malformed, bind_items)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	struct rpc_bind b;
	cr_assert_eq(rpc_build_bind(&out, 1), RPC_OK);
	uint8_t *d = dup_pdu(out.data, out.len, 44 * 8 + 1);
	size_t len = out.len;

	d[24] = 0; /* no items */
	cr_assert_eq(rpc_parse_bind(d, len, &b), RPC_ERR_ITEMS);
	d[24] = RPC_MAX_ITEMS + 1;
	cr_assert_eq(rpc_parse_bind(d, len, &b), RPC_ERR_ITEMS);
	d[24] = 2;
	d[28 + 2] = 2; /* two transfer syntaxes in item 0 */
	cr_assert_eq(rpc_parse_bind(d, len, &b), RPC_ERR_ITEMS);
	d[28 + 2] = 1;
	cr_assert_eq(rpc_parse_bind(d, len, &b), RPC_OK);
	put16(d, 8, (uint16_t)(len + 1)); /* a byte after the last item */
	cr_assert_eq(rpc_parse_bind(d, len + 1, &b), RPC_ERR_TRAILING);
	free(d);
	buf_free(&out);
}

/* A bind_ack with the given secondary address bytes (wire length n). */
static size_t
make_bind_ack(uint8_t *d, const char *addr, uint16_t n)
{
	struct buf out;
	struct rpc_bind_ack a;
	memset(&a, 0, sizeof(a));
	a.type = RPC_TYPE_BIND_ACK;
	a.flags = RPC_FLAG_FIRST | RPC_FLAG_LAST;
	a.call_id = 1;
	a.n_results = 1;
	a.results[0].transfer = rpc_syntax_ndr32;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_write_bind_ack(&out, &a), RPC_OK);
	/* Rebuild around the address by hand: header, 8 fixed bytes, then the
	 * address, padding and the result list of the built PDU. */
	size_t len = 24;
	memcpy(d, out.data, len);
	put16(d, len, n);
	len += 2;
	memcpy(d + len, addr, n);
	len += n;
	while (len % 4 != 0)
		d[len++] = 0;
	memcpy(d + len, out.data + 28, out.len - 28);
	len += out.len - 28;
	put16(d, 8, (uint16_t)len);
	buf_free(&out);
	return len;
}

Test(rpc_malformed, bind_ack_secondary_address)
{
	uint8_t d[512];
	struct rpc_bind_ack a;
	size_t len = make_bind_ack(d, "1688", 5);
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_OK);
	cr_assert_str_eq(a.sec_addr, "1688");
	len = make_bind_ack(d, "1688", 4); /* no NUL */
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_ERR_SECONDARY_ADDR);
	len = make_bind_ack(d, "16\00088", 6); /* NUL inside */
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_ERR_SECONDARY_ADDR);
	len = make_bind_ack(d, "16\n8", 5);
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_ERR_SECONDARY_ADDR);
	char longest[RPC_SEC_ADDR_MAX + 2];
	memset(longest, '7', sizeof(longest));
	longest[RPC_SEC_ADDR_MAX] = '\0';
	len = make_bind_ack(d, longest, RPC_SEC_ADDR_MAX + 1);
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_OK);
	longest[RPC_SEC_ADDR_MAX] = '7';
	longest[RPC_SEC_ADDR_MAX + 1] = '\0';
	len = make_bind_ack(d, longest, RPC_SEC_ADDR_MAX + 2);
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_ERR_SECONDARY_ADDR);
	/* An address that claims to run past the fragment. */
	len = make_bind_ack(d, "1688", 5);
	put16(d, 24, 200);
	cr_assert_eq(rpc_parse_bind_ack(d, len, 1, &a), RPC_ERR_TRUNCATED);
}

Test(rpc_malformed, bind_ack_results)
{
	struct capture c;
	load("v6_ndr32", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_S2C, RPC_TYPE_BIND_ACK, 0);
	struct rpc_bind_ack a;
	/* "11688\0" ends at 32: the result count is at 32, results at 36. */
	uint8_t *d = dup_pdu(p->data, p->len, 1);
	d[32] = 0;
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_ERR_RESULTS);
	d[32] = RPC_MAX_ITEMS + 1;
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_ERR_RESULTS);
	d[32] = 2;
	put16(d, 36, 4); /* no such result value */
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_ERR_RESULTS);
	put16(d, 36, RPC_RESULT_USER_REJECTION);
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_OK);
	cr_assert_eq(rpc_check_bind_ack(&a, 2), RPC_ERR_BIND_REJECTED);
	put16(d, 36, RPC_RESULT_ACCEPTED);
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_OK);
	cr_assert_eq(rpc_check_bind_ack(&a, 2), RPC_OK);
	cr_assert_eq(rpc_check_bind_ack(&a, 1), RPC_ERR_RESULTS);
	d[40] ^= 1; /* accepted, but a transfer syntax the probe never offered */
	cr_assert_eq(rpc_parse_bind_ack(d, p->len, CALL_ID, &a), RPC_OK);
	cr_assert_eq(rpc_check_bind_ack(&a, 2), RPC_ERR_BIND_REJECTED);
	d[40] ^= 1;
	put16(d, 8, (uint16_t)(p->len + 1));
	cr_assert_eq(rpc_parse_bind_ack(d, p->len + 1, CALL_ID, &a), RPC_ERR_TRAILING);
	free(d);
	capture_free(&c);
}

Test(rpc_malformed, bind_nak)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_bind_nak(&out, 1, 2), RPC_OK);
	struct rpc_bind_ack a;
	struct rpc_bind_nak k;
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, 1, &a), RPC_ERR_BIND_NAK);
	cr_assert_eq(a.nak_reason, 2);
	/* A version list that runs past the fragment. */
	out.data[18] = 5;
	cr_assert_eq(rpc_parse_bind_nak(out.data, out.len, 1, &k), RPC_ERR_TRUNCATED);
	cr_assert_eq(rpc_parse_bind_ack(out.data, out.len, 1, &a), RPC_ERR_TRUNCATED);
	/* Only the reason is required. */
	out.data[8] = 18;
	cr_assert_eq(rpc_parse_bind_nak(out.data, 18, 1, &k), RPC_OK);
	cr_assert_eq(k.reason, 2);
	out.data[8] = 17;
	cr_assert_eq(rpc_parse_bind_nak(out.data, 17, 1, &k), RPC_ERR_TRUNCATED);
	buf_free(&out);
}

Test(rpc_malformed, fault)
{
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_fault(&out, 1, 0, 0x1c00001c), RPC_OK);
	struct rpc_response s;
	cr_assert_eq(rpc_parse_response(out.data, out.len, 1, &s), RPC_ERR_FAULT);
	cr_assert_eq(s.fault_status, 0x1c00001c);
	/* The status is what matters; a fault too short to hold it is not one. */
	out.data[8] = 27;
	cr_assert_eq(rpc_parse_response(out.data, 27, 1, &s), RPC_ERR_TRUNCATED);
	out.data[8] = 28;
	cr_assert_eq(rpc_parse_response(out.data, 28, 1, &s), RPC_ERR_FAULT);
	buf_free(&out);
}

Test(rpc_malformed, request_stub)
{
	struct capture c;
	load("v4", &c);
	const struct capture_pdu *p = must_find(&c, CAPTURE_C2S, RPC_TYPE_REQUEST, 0);
	struct rpc_request q;
	uint8_t *d = dup_pdu(p->data, p->len, 0);
	put32(d, 28, 251); /* max count disagrees with the size */
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_ERR_STUB);
	put32(d, 24, 251); /* both agree, but not with the bytes present */
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_ERR_STUB);
	put32(d, 24, 253);
	put32(d, 28, 253);
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_ERR_STUB);
	put32(d, 24, 0xffffffff);
	put32(d, 28, 0xffffffff);
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_ERR_STUB);
	put32(d, 24, 252);
	put32(d, 28, 252);
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_OK);
	put16(d, 22, 1); /* another operation */
	cr_assert_eq(rpc_parse_request(d, p->len, &q), RPC_ERR_OPNUM);
	cr_assert_eq(q.opnum, 1);
	cr_assert_eq(q.call_id, CALL_ID);
	free(d);
	capture_free(&c);
}

Test(rpc_malformed, response_stub_pointer_padding_context)
{
	static const uint8_t kms[6] = {1, 2, 3, 4, 5, 6};
	struct buf out;
	buf_init(&out, OUT_MAX);
	cr_assert_eq(rpc_build_response(&out, 1, 0, kms, sizeof(kms), 0), RPC_OK);
	/* Stub at 24: size, referent, max count, 6 bytes at 36, pad at 42. */
	cr_assert_eq(out.len, 48);
	uint8_t *d = dup_pdu(out.data, out.len, 0);
	struct rpc_response s;
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_OK);

	d[43] = 0xaa; /* padding */
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_PADDING);
	d[43] = 0;

	put32(d, 32, 7); /* max count */
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_STUB);
	/* Size and max count agree, the fragment does not. Sizes 5 to 8 would
	 * all fit these 12 bytes with their padding, so 9 and 4 are used. */
	put32(d, 24, 9);
	put32(d, 32, 9);
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_STUB);
	put32(d, 24, 4);
	put32(d, 32, 4);
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_STUB);
	put32(d, 24, 0xfffffff0);
	put32(d, 32, 0xfffffff0);
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_STUB);
	put32(d, 24, 6);
	put32(d, 32, 6);

	put16(d, 20, 1); /* a context the probe never used */
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_CONTEXT);
	put16(d, 20, 0);

	put32(d, 28, 0); /* NULL pointer with a size */
	cr_assert_eq(rpc_parse_response(d, out.len, 1, &s), RPC_ERR_POINTER);
	free(d);

	/* A refusal with bytes after the HRESULT. */
	buf_reset(&out);
	cr_assert_eq(rpc_build_response_null(&out, 1, 0, 0xC004F042), RPC_OK);
	cr_assert_eq(buf_put_u32le(&out, 0), 0);
	out.data[8] = (uint8_t)out.len;
	cr_assert_eq(rpc_parse_response(out.data, out.len, 1, &s), RPC_ERR_TRAILING);
	buf_free(&out);
}

Test(rpc_malformed, builders_refuse_bad_arguments_and_full_buffers)
{
	struct buf out;
	buf_init(&out, 115); /* one byte short of the bind */
	cr_assert_eq(rpc_build_bind(&out, 1), RPC_ERR_NOSPACE);
	buf_free(&out);
	buf_init(&out, OUT_MAX * 2);
	cr_assert_eq(rpc_build_request(&out, 1, NULL, 4), RPC_ERR_INVALID);
	static uint8_t big[70000];
	cr_assert_eq(rpc_build_request(&out, 1, big, sizeof(big)), RPC_ERR_INVALID);
	cr_assert_eq(rpc_build_response(&out, 1, 0, big, sizeof(big), 0), RPC_ERR_INVALID);
	cr_assert_eq(rpc_build_request(&out, 1, big, 0xffff - 32), RPC_OK);
	cr_assert_eq(out.len, 0xffff);
	struct rpc_bind b;
	rpc_bind_init_probe(&b, 1);
	b.n_items = 0;
	cr_assert_eq(rpc_write_bind(&out, &b), RPC_ERR_INVALID);
	b.n_items = RPC_MAX_ITEMS + 1;
	cr_assert_eq(rpc_write_bind(&out, &b), RPC_ERR_INVALID);
	b.n_items = 2;
	b.flags = RPC_FLAG_FIRST;
	cr_assert_eq(rpc_write_bind(&out, &b), RPC_ERR_INVALID);
	b.flags = RPC_FLAG_FIRST | RPC_FLAG_LAST;
	b.type = RPC_TYPE_REQUEST;
	cr_assert_eq(rpc_write_bind(&out, &b), RPC_ERR_INVALID);
	buf_free(&out);
}

Test(rpc_errors, every_error_has_its_own_name)
{
	for (int i = RPC_OK; i <= RPC_ERR_NOSPACE; i++) {
		const char *a = rpc_strerror((enum rpc_err)i);
		cr_assert_neq(strcmp(a, "unknown RPC error"), 0, "error %d unnamed", i);
		for (int j = RPC_OK; j < i; j++)
			cr_assert_neq(strcmp(a, rpc_strerror((enum rpc_err)j)), 0);
	}
	cr_assert_str_eq(rpc_type_name(RPC_TYPE_ALTER_CONTEXT_RESP), "alter_context_resp");
	cr_assert_str_eq(rpc_type_name(42), "unknown");
}

Test(capture, loader_splits_and_orders_pdus)
{
	struct capture c;
	load("v4", &c);
	static const struct {
		int dir;
		uint8_t type;
	} want[] = {
	    {CAPTURE_C2S, RPC_TYPE_BIND},          {CAPTURE_S2C, RPC_TYPE_BIND_ACK},
	    {CAPTURE_C2S, RPC_TYPE_ALTER_CONTEXT}, {CAPTURE_S2C, RPC_TYPE_ALTER_CONTEXT_RESP},
	    {CAPTURE_C2S, RPC_TYPE_REQUEST},       {CAPTURE_S2C, RPC_TYPE_RESPONSE},
	};
	cr_assert_eq(c.n, 6);
	for (size_t i = 0; i < c.n; i++) {
		cr_assert_eq(c.pdus[i].dir, want[i].dir);
		cr_assert_eq(c.pdus[i].data[2], want[i].type);
	}
	cr_assert_eq(capture_nth(&c, CAPTURE_S2C, 2), &c.pdus[5]);
	cr_assert_null(capture_nth(&c, CAPTURE_S2C, 3));
	cr_assert_str_eq(capture_expected_str(&c, "request.kms_counted_id"),
	                 "8449b1fb-f0ea-497a-99ab-66ca96e9a0f5");
	cr_assert_eq(capture_expected_int(&c, "request.required_count"), 5);
	cr_assert_eq(capture_expected_int(&c, "request.nothing"), -1);
	capture_free(&c);
	cr_assert_neq(capture_load("no-such-capture", &c), 0);
	capture_free(&c);
}
