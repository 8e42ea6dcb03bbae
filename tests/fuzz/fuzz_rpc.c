/*
 * Fuzz harness for the DCE/RPC layer: the input is tried as one PDU with every
 * parser, then as a stream framed by rpc_frag_length(). Whatever parses must
 * survive a round trip through the matching builder, so the fuzzer finds
 * disagreements between the two directions as well as crashes.
 */
#include <stdlib.h>
#include <string.h>

#include "kmswatch/buf.h"
#include "kmswatch/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_OUT_MAX 0x20000

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static void
roundtrip_bind(const struct rpc_bind *b)
{
	struct buf out;
	struct rpc_bind again;
	buf_init(&out, FUZZ_OUT_MAX);
	check(rpc_write_bind(&out, b) == RPC_OK);
	check(rpc_parse_bind(out.data, out.len, &again) == RPC_OK);
	check(memcmp(b, &again, sizeof(again)) == 0);

	/* The host's answer covers every offered item and parses back. */
	struct rpc_bind_ack a;
	buf_reset(&out);
	check(rpc_build_bind_ack(&out, b, RPC_KMS_PORT, 1, 0xffff) == RPC_OK);
	check(rpc_parse_bind_ack(out.data, out.len, b->call_id, &a) == RPC_OK);
	check(a.n_results == b->n_items);
	check(rpc_check_bind_ack(&a, b->n_items) == RPC_OK ||
	      a.results[0].result != RPC_RESULT_ACCEPTED);
	buf_free(&out);
}

static void
roundtrip_bind_ack(const struct rpc_bind_ack *a)
{
	struct buf out;
	struct rpc_bind_ack again;
	buf_init(&out, FUZZ_OUT_MAX);
	check(rpc_write_bind_ack(&out, a) == RPC_OK);
	check(rpc_parse_bind_ack(out.data, out.len, a->call_id, &again) == RPC_OK);
	check(memcmp(a, &again, sizeof(again)) == 0);
	buf_free(&out);
}

static void
roundtrip_request(const struct rpc_request *q)
{
	struct buf out;
	struct rpc_request again;
	buf_init(&out, FUZZ_OUT_MAX);
	check(rpc_build_request(&out, q->call_id, q->data, q->len) == RPC_OK);
	check(rpc_parse_request(out.data, out.len, &again) == RPC_OK);
	check(again.call_id == q->call_id && again.len == q->len);
	check(q->len == 0 || memcmp(again.data, q->data, q->len) == 0);
	buf_free(&out);
}

static void
roundtrip_response(const struct rpc_response *s)
{
	struct buf out;
	struct rpc_response again;
	enum rpc_err err;
	buf_init(&out, FUZZ_OUT_MAX);
	if (s->null_ptr)
		err = rpc_build_response_null(&out, s->call_id, s->context_id, s->hresult);
	else
		err = rpc_build_response(&out, s->call_id, s->context_id, s->data, s->len,
		                         s->hresult);
	check(err == RPC_OK);
	check(rpc_parse_response(out.data, out.len, s->call_id, &again) == RPC_OK);
	check(again.null_ptr == s->null_ptr && again.len == s->len && again.hresult == s->hresult);
	check(s->len == 0 || memcmp(again.data, s->data, s->len) == 0);
	buf_free(&out);
}

static void
parse_all(const uint8_t *data, size_t size)
{
	struct rpc_header h;
	uint32_t call_id = 2;
	size_t frag;
	enum rpc_err err;

	/* Parse with the call id the PDU carries so the checks past it run. */
	if (rpc_parse_header(data, size, 0xffff, &h) == RPC_OK)
		call_id = h.call_id;
	err = rpc_frag_length(data, size, RPC_MAX_FRAG, &frag);
	check(rpc_strerror(err) != NULL);
	check(err != RPC_OK || (frag >= RPC_HEADER_LEN && frag <= RPC_MAX_FRAG));

	struct rpc_bind b;
	if (rpc_parse_bind(data, size, &b) == RPC_OK)
		roundtrip_bind(&b);

	struct rpc_bind_ack a;
	err = rpc_parse_bind_ack(data, size, call_id, &a);
	if (err == RPC_OK) {
		check(a.n_results >= 1 && a.n_results <= RPC_MAX_ITEMS);
		check(strlen(a.sec_addr) <= RPC_SEC_ADDR_MAX);
		(void)rpc_check_bind_ack(&a, a.n_results);
		roundtrip_bind_ack(&a);
	}

	struct rpc_bind_nak k;
	if (rpc_parse_bind_nak(data, size, call_id, &k) == RPC_OK) {
		struct buf out;
		buf_init(&out, FUZZ_OUT_MAX);
		check(rpc_build_bind_nak(&out, call_id, k.reason) == RPC_OK);
		check(rpc_parse_bind_ack(out.data, out.len, call_id, &a) == RPC_ERR_BIND_NAK);
		check(a.nak_reason == k.reason);
		buf_free(&out);
	}

	struct rpc_request q;
	if (rpc_parse_request(data, size, &q) == RPC_OK) {
		check(q.len <= size);
		roundtrip_request(&q);
	}

	struct rpc_response s;
	err = rpc_parse_response(data, size, call_id, &s);
	if (err == RPC_OK) {
		check(s.null_ptr ? s.data == NULL && s.len == 0 : s.len <= size);
		roundtrip_response(&s);
	}

	struct rpc_fault f;
	if (rpc_parse_fault(data, size, call_id, &f) == RPC_OK) {
		struct buf out;
		buf_init(&out, FUZZ_OUT_MAX);
		check(rpc_build_fault(&out, call_id, f.context_id, f.status) == RPC_OK);
		check(rpc_parse_response(out.data, out.len, call_id, &s) == RPC_ERR_FAULT);
		check(s.fault_status == f.status);
		buf_free(&out);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_all(data, size);

	/* As a byte stream: frame one PDU at a time, as the probe reads. */
	size_t off = 0;
	while (off < size) {
		size_t frag;
		if (rpc_frag_length(data + off, size - off, 0xffff, &frag) != RPC_OK ||
		    frag > size - off)
			break;
		parse_all(data + off, frag);
		off += frag;
	}
	return 0;
}
