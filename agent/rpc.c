/*
 * Connection-oriented DCE/RPC PDUs for KMS; see rpc.h and section 1 of
 * KMS-PROTOCOL.md.
 */
#include <stdio.h>
#include <string.h>

#include "kmswatch/rpc.h"

#define RPC_VERSION       5
#define RPC_VERSION_MINOR 0
#define RPC_FRAG_MAX_WIRE 0xffff /* the fragment length is a u16 */
#define RPC_ITEM_LEN      44
#define RPC_RESULT_LEN    24
#define RPC_BIND_FIXED    28 /* header, max sizes, group, item count and reserved */
#define RPC_REQ_FIXED     24 /* header, alloc hint, context, opnum */
#define RPC_RESP_FIXED    24 /* header, alloc hint, context, cancel count, reserved */
#define RPC_FAULT_LEN     32

static const uint8_t rpc_drep[4] = {0x10, 0x00, 0x00, 0x00};

/* The first eight wire bytes of 6cb71c2c-9812-4540-xxxx-xxxxxxxxxxxx; the
 * remaining eight carry the offered feature bits. */
static const uint8_t rpc_feature_neg_prefix[8] = {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45};

const struct rpc_syntax rpc_syntax_kms = {
    {0x75, 0x21, 0xc8, 0x51, 0x4e, 0x84, 0x50, 0x47, 0xb0, 0xd8, 0xec, 0x25, 0x55, 0x55, 0xbc,
     0x06},
    1, /* 1.0 */
};

const struct rpc_syntax rpc_syntax_ndr32 = {
    {0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
     0x60},
    2,
};

const struct rpc_syntax rpc_syntax_ndr64 = {
    {0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc,
     0x36},
    1,
};

const struct rpc_syntax rpc_syntax_feature_neg = {
    {0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00},
    1,
};

const char *
rpc_strerror(enum rpc_err err)
{
	switch (err) {
	case RPC_OK:
		return "no error";
	case RPC_ERR_TRUNCATED:
		return "RPC PDU truncated";
	case RPC_ERR_VERSION:
		return "RPC version is not 5.0";
	case RPC_ERR_DREP:
		return "RPC data representation is not little-endian ASCII IEEE";
	case RPC_ERR_FLAGS:
		return "RPC flags not allowed (fragmented PDU or unexpected flag)";
	case RPC_ERR_FRAG_LENGTH:
		return "RPC fragment length out of range or not the PDU length";
	case RPC_ERR_AUTH:
		return "RPC PDU carries authentication data";
	case RPC_ERR_CALL_ID:
		return "RPC call id does not match the request";
	case RPC_ERR_TYPE:
		return "RPC packet type unknown or unexpected";
	case RPC_ERR_ITEMS:
		return "RPC bind context items missing, too many or malformed";
	case RPC_ERR_SECONDARY_ADDR:
		return "RPC bind_ack secondary address malformed";
	case RPC_ERR_RESULTS:
		return "RPC bind_ack results missing, too many, unknown or miscounted";
	case RPC_ERR_TRAILING:
		return "RPC PDU has bytes after its last field";
	case RPC_ERR_BIND_REJECTED:
		return "RPC bind rejected: KMS interface over NDR not accepted";
	case RPC_ERR_BIND_NAK:
		return "RPC bind refused with bind_nak";
	case RPC_ERR_CONTEXT:
		return "RPC response on an unexpected presentation context";
	case RPC_ERR_OPNUM:
		return "RPC request for an unknown operation";
	case RPC_ERR_STUB:
		return "RPC stub sizes disagree with each other or with the fragment";
	case RPC_ERR_POINTER:
		return "RPC response pointer inconsistent with its size";
	case RPC_ERR_PADDING:
		return "RPC response alignment padding is not zero";
	case RPC_ERR_FAULT:
		return "RPC fault";
	case RPC_ERR_INVALID:
		return "RPC build argument out of range";
	case RPC_ERR_NOSPACE:
		return "RPC output buffer full";
	}
	return "unknown RPC error";
}

const char *
rpc_type_name(uint8_t type)
{
	switch (type) {
	case RPC_TYPE_REQUEST:
		return "request";
	case RPC_TYPE_RESPONSE:
		return "response";
	case RPC_TYPE_FAULT:
		return "fault";
	case RPC_TYPE_BIND:
		return "bind";
	case RPC_TYPE_BIND_ACK:
		return "bind_ack";
	case RPC_TYPE_BIND_NAK:
		return "bind_nak";
	case RPC_TYPE_ALTER_CONTEXT:
		return "alter_context";
	case RPC_TYPE_ALTER_CONTEXT_RESP:
		return "alter_context_resp";
	}
	return "unknown";
}

static bool
type_known(uint8_t type)
{
	return strcmp(rpc_type_name(type), "unknown") != 0;
}

/* Every PDU is a single fragment. The bind family may also say it supports
 * concurrent multiplexing and header signing (the captured client and host set
 * 0x10 on bind, bind_ack and alter_context), and a fault may say the call did
 * not execute; anything else, notably an object UUID that would change the
 * request layout, is refused. */
static bool
flags_ok(uint8_t type, uint8_t flags)
{
	uint8_t allowed = RPC_FLAG_FIRST | RPC_FLAG_LAST;
	if ((flags & allowed) != allowed)
		return false;
	switch (type) {
	case RPC_TYPE_BIND:
	case RPC_TYPE_BIND_ACK:
	case RPC_TYPE_BIND_NAK:
	case RPC_TYPE_ALTER_CONTEXT:
	case RPC_TYPE_ALTER_CONTEXT_RESP:
		allowed |= RPC_FLAG_HDR_SIGN | RPC_FLAG_CONC_MPX;
		break;
	case RPC_TYPE_FAULT:
		allowed |= RPC_FLAG_DID_NOT_EXECUTE;
		break;
	default:
		break;
	}
	return (flags & ~allowed) == 0;
}

static enum rpc_err
header_read(struct buf_reader *r, size_t max_frag, struct rpc_header *h)
{
	uint8_t vers, minor, drep[4];
	uint16_t auth_len;
	if (buf_get_u8(r, &vers) == -1 || buf_get_u8(r, &minor) == -1 ||
	    buf_get_u8(r, &h->type) == -1 || buf_get_u8(r, &h->flags) == -1 ||
	    buf_get_bytes(r, drep, sizeof(drep)) == -1 || buf_get_u16le(r, &h->frag_len) == -1 ||
	    buf_get_u16le(r, &auth_len) == -1 || buf_get_u32le(r, &h->call_id) == -1)
		return RPC_ERR_TRUNCATED;
	if (vers != RPC_VERSION || minor != RPC_VERSION_MINOR)
		return RPC_ERR_VERSION;
	if (!type_known(h->type))
		return RPC_ERR_TYPE;
	if (!flags_ok(h->type, h->flags))
		return RPC_ERR_FLAGS;
	if (memcmp(drep, rpc_drep, sizeof(drep)) != 0)
		return RPC_ERR_DREP;
	if (h->frag_len < RPC_HEADER_LEN || h->frag_len > max_frag)
		return RPC_ERR_FRAG_LENGTH;
	if (auth_len != 0)
		return RPC_ERR_AUTH;
	return RPC_OK;
}

enum rpc_err
rpc_parse_header(const uint8_t *data, size_t len, size_t max_frag, struct rpc_header *out)
{
	struct buf_reader r;
	buf_reader_init(&r, data, len);
	return header_read(&r, max_frag, out);
}

enum rpc_err
rpc_frag_length(const uint8_t *data, size_t len, size_t max_frag, size_t *frag_len)
{
	struct rpc_header h;
	enum rpc_err err = rpc_parse_header(data, len, max_frag, &h);
	if (err == RPC_OK)
		*frag_len = h.frag_len;
	return err;
}

/* Opens one whole PDU: the header must be valid and its fragment length must
 * be exactly the buffer length, since callers frame the stream first. */
static enum rpc_err
pdu_open(const uint8_t *data, size_t len, struct buf_reader *r, struct rpc_header *h)
{
	buf_reader_init(r, data, len);
	enum rpc_err err = header_read(r, RPC_FRAG_MAX_WIRE, h);
	if (err != RPC_OK)
		return err;
	if (h->frag_len != len)
		return RPC_ERR_FRAG_LENGTH;
	return RPC_OK;
}

static size_t
pad4(size_t n)
{
	return (4 - n % 4) % 4;
}

bool
rpc_syntax_equal(const struct rpc_syntax *a, const struct rpc_syntax *b)
{
	return memcmp(a->uuid, b->uuid, sizeof(a->uuid)) == 0 && a->version == b->version;
}

bool
rpc_syntax_is_feature_neg(const struct rpc_syntax *s, uint16_t *bits)
{
	if (memcmp(s->uuid, rpc_feature_neg_prefix, sizeof(rpc_feature_neg_prefix)) != 0)
		return false;
	/* The reason field that grants the bits is 16 bits wide, so only the
	 * low two bytes of the bitmask can ever be granted. */
	if (bits != NULL)
		*bits = (uint16_t)(s->uuid[8] | s->uuid[9] << 8);
	return true;
}

static int
syntax_read(struct buf_reader *r, struct rpc_syntax *s)
{
	if (buf_get_bytes(r, s->uuid, sizeof(s->uuid)) == -1)
		return -1;
	return buf_get_u32le(r, &s->version);
}

static void
syntax_write(struct buf *b, const struct rpc_syntax *s)
{
	buf_append(b, s->uuid, sizeof(s->uuid));
	buf_put_u32le(b, s->version);
}

static void
header_write(struct buf *b, uint8_t type, uint8_t flags, size_t frag_len, uint32_t call_id)
{
	buf_put_u8(b, RPC_VERSION);
	buf_put_u8(b, RPC_VERSION_MINOR);
	buf_put_u8(b, type);
	buf_put_u8(b, flags);
	buf_append(b, rpc_drep, sizeof(rpc_drep));
	buf_put_u16le(b, (uint16_t)frag_len);
	buf_put_u16le(b, 0);
	buf_put_u32le(b, call_id);
}

/* Builders write without checking each append (a failed append marks the
 * buffer and later ones are ignored) and check once here that the PDU came
 * out whole and as long as its header says. */
static enum rpc_err
build_finish(const struct buf *b, size_t start, size_t frag_len)
{
	if (b->overflow || b->len - start != frag_len)
		return RPC_ERR_NOSPACE;
	return RPC_OK;
}

void
rpc_bind_init_probe(struct rpc_bind *b, uint32_t call_id)
{
	memset(b, 0, sizeof(*b));
	b->type = RPC_TYPE_BIND;
	/* The captured Windows-style client sets concurrent multiplexing on its
	 * bind; the probe's bind matches it byte for byte. */
	b->flags = RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_CONC_MPX;
	b->call_id = call_id;
	b->max_xmit = RPC_MAX_FRAG;
	b->max_recv = RPC_MAX_FRAG;
	b->n_items = 2;
	b->items[0] = (struct rpc_ctx_item){0, rpc_syntax_kms, rpc_syntax_ndr32};
	b->items[1] = (struct rpc_ctx_item){1, rpc_syntax_kms, rpc_syntax_feature_neg};
}

enum rpc_err
rpc_write_bind(struct buf *out, const struct rpc_bind *b)
{
	if ((b->type != RPC_TYPE_BIND && b->type != RPC_TYPE_ALTER_CONTEXT) ||
	    !flags_ok(b->type, b->flags) || b->n_items == 0 || b->n_items > RPC_MAX_ITEMS)
		return RPC_ERR_INVALID;
	size_t start = out->len;
	size_t frag_len = RPC_BIND_FIXED + RPC_ITEM_LEN * b->n_items;
	header_write(out, b->type, b->flags, frag_len, b->call_id);
	buf_put_u16le(out, b->max_xmit);
	buf_put_u16le(out, b->max_recv);
	buf_put_u32le(out, b->assoc_group);
	buf_put_u8(out, (uint8_t)b->n_items);
	buf_put_zeros(out, 3);
	for (size_t i = 0; i < b->n_items; i++) {
		buf_put_u16le(out, b->items[i].context_id);
		buf_put_u8(out, 1); /* one transfer syntax per item */
		buf_put_u8(out, 0);
		syntax_write(out, &b->items[i].abstract);
		syntax_write(out, &b->items[i].transfer);
	}
	return build_finish(out, start, frag_len);
}

enum rpc_err
rpc_build_bind(struct buf *out, uint32_t call_id)
{
	struct rpc_bind b;
	rpc_bind_init_probe(&b, call_id);
	return rpc_write_bind(out, &b);
}

enum rpc_err
rpc_build_request(struct buf *out, uint32_t call_id, const uint8_t *kms, size_t n)
{
	if ((kms == NULL && n > 0) || n > RPC_FRAG_MAX_WIRE - RPC_REQ_FIXED - 8)
		return RPC_ERR_INVALID;
	size_t start = out->len;
	size_t frag_len = RPC_REQ_FIXED + 8 + n;
	header_write(out, RPC_TYPE_REQUEST, RPC_FLAG_FIRST | RPC_FLAG_LAST, frag_len, call_id);
	buf_put_u32le(out, (uint32_t)(n + 8));
	buf_put_u16le(out, RPC_KMS_CONTEXT);
	buf_put_u16le(out, RPC_KMS_OPNUM);
	/* The request size argument, then the conformant array's max count. */
	buf_put_u32le(out, (uint32_t)n);
	buf_put_u32le(out, (uint32_t)n);
	buf_append(out, kms, n);
	return build_finish(out, start, frag_len);
}

enum rpc_err
rpc_write_bind_ack(struct buf *out, const struct rpc_bind_ack *a)
{
	if ((a->type != RPC_TYPE_BIND_ACK && a->type != RPC_TYPE_ALTER_CONTEXT_RESP) ||
	    !flags_ok(a->type, a->flags) || a->n_results == 0 || a->n_results > RPC_MAX_ITEMS)
		return RPC_ERR_INVALID;
	size_t addr = strnlen(a->sec_addr, sizeof(a->sec_addr));
	if (addr == sizeof(a->sec_addr))
		return RPC_ERR_INVALID;
	/* An empty address is sent as length 0, as the captured host does in
	 * its alter_context_resp; otherwise the length counts the NUL. */
	size_t addr_wire = addr > 0 ? addr + 1 : 0;
	size_t at = RPC_HEADER_LEN + 8 + 2 + addr_wire;
	size_t pad = pad4(at);
	size_t frag_len = at + pad + 4 + RPC_RESULT_LEN * a->n_results;
	size_t start = out->len;
	header_write(out, a->type, a->flags, frag_len, a->call_id);
	buf_put_u16le(out, a->max_xmit);
	buf_put_u16le(out, a->max_recv);
	buf_put_u32le(out, a->assoc_group);
	buf_put_u16le(out, (uint16_t)addr_wire);
	buf_append(out, a->sec_addr, addr_wire);
	buf_put_zeros(out, pad);
	buf_put_u8(out, (uint8_t)a->n_results);
	buf_put_zeros(out, 3);
	for (size_t i = 0; i < a->n_results; i++) {
		buf_put_u16le(out, a->results[i].result);
		buf_put_u16le(out, a->results[i].reason);
		syntax_write(out, &a->results[i].transfer);
	}
	return build_finish(out, start, frag_len);
}

static uint16_t
min_u16(uint16_t a, uint16_t b)
{
	return a < b ? a : b;
}

enum rpc_err
rpc_build_bind_ack(struct buf *out, const struct rpc_bind *offer, uint16_t port,
                   uint32_t assoc_group, uint16_t feature_bits)
{
	if ((offer->type != RPC_TYPE_BIND && offer->type != RPC_TYPE_ALTER_CONTEXT) ||
	    offer->n_items == 0 || offer->n_items > RPC_MAX_ITEMS)
		return RPC_ERR_INVALID;
	struct rpc_bind_ack a;
	memset(&a, 0, sizeof(a));
	a.flags = RPC_FLAG_FIRST | RPC_FLAG_LAST;
	if (offer->type == RPC_TYPE_BIND) {
		a.type = RPC_TYPE_BIND_ACK;
		/* Mirrors the captured host, which echoes concurrent
		 * multiplexing on bind_ack but not on alter_context_resp. */
		a.flags |= offer->flags & RPC_FLAG_CONC_MPX;
		snprintf(a.sec_addr, sizeof(a.sec_addr), "%u", (unsigned)port);
	} else {
		a.type = RPC_TYPE_ALTER_CONTEXT_RESP;
	}
	a.call_id = offer->call_id;
	a.max_xmit = min_u16(offer->max_xmit, RPC_MAX_FRAG);
	a.max_recv = min_u16(offer->max_recv, RPC_MAX_FRAG);
	a.assoc_group = assoc_group;
	a.n_results = offer->n_items;
	for (size_t i = 0; i < offer->n_items; i++) {
		const struct rpc_ctx_item *it = &offer->items[i];
		struct rpc_result *res = &a.results[i];
		uint16_t bits;
		if (rpc_syntax_is_feature_neg(&it->transfer, &bits)) {
			res->result = RPC_RESULT_NEGOTIATE_ACK;
			res->reason = bits & feature_bits;
		} else if (!rpc_syntax_equal(&it->abstract, &rpc_syntax_kms)) {
			res->result = RPC_RESULT_PROVIDER_REJECTION;
			res->reason = RPC_REASON_ABSTRACT_SYNTAX;
		} else if (!rpc_syntax_equal(&it->transfer, &rpc_syntax_ndr32)) {
			res->result = RPC_RESULT_PROVIDER_REJECTION;
			res->reason = RPC_REASON_TRANSFER_SYNTAX;
		} else {
			res->result = RPC_RESULT_ACCEPTED;
			res->transfer = rpc_syntax_ndr32;
		}
	}
	return rpc_write_bind_ack(out, &a);
}

enum rpc_err
rpc_build_bind_nak(struct buf *out, uint32_t call_id, uint16_t reason)
{
	size_t start = out->len;
	size_t frag_len = RPC_HEADER_LEN + 2 + 1 + 2;
	header_write(out, RPC_TYPE_BIND_NAK, RPC_FLAG_FIRST | RPC_FLAG_LAST, frag_len, call_id);
	buf_put_u16le(out, reason);
	/* The protocol versions supported: one, 5.0. */
	buf_put_u8(out, 1);
	buf_put_u8(out, RPC_VERSION);
	buf_put_u8(out, RPC_VERSION_MINOR);
	return build_finish(out, start, frag_len);
}

enum rpc_err
rpc_build_response(struct buf *out, uint32_t call_id, uint16_t context_id, const uint8_t *kms,
                   size_t n, uint32_t hresult)
{
	if (kms == NULL && n > 0)
		return RPC_ERR_INVALID;
	if (n > RPC_FRAG_MAX_WIRE - RPC_RESP_FIXED - 12 - 3 - 4)
		return RPC_ERR_INVALID;
	size_t pad = pad4(n);
	size_t stub_len = 12 + n + pad + 4;
	size_t frag_len = RPC_RESP_FIXED + stub_len;
	size_t start = out->len;
	header_write(out, RPC_TYPE_RESPONSE, RPC_FLAG_FIRST | RPC_FLAG_LAST, frag_len, call_id);
	buf_put_u32le(out, (uint32_t)stub_len);
	buf_put_u16le(out, context_id);
	buf_put_u8(out, 0);
	buf_put_u8(out, 0);
	/* Response size, a unique pointer's referent id as Windows writes it,
	 * the conformant array's max count, the bytes, padding, HRESULT. */
	buf_put_u32le(out, (uint32_t)n);
	buf_put_u32le(out, 0x00020000);
	buf_put_u32le(out, (uint32_t)n);
	buf_append(out, kms, n);
	buf_put_zeros(out, pad);
	buf_put_u32le(out, hresult);
	return build_finish(out, start, frag_len);
}

enum rpc_err
rpc_build_response_null(struct buf *out, uint32_t call_id, uint16_t context_id, uint32_t hresult)
{
	size_t stub_len = 12;
	size_t frag_len = RPC_RESP_FIXED + stub_len;
	size_t start = out->len;
	header_write(out, RPC_TYPE_RESPONSE, RPC_FLAG_FIRST | RPC_FLAG_LAST, frag_len, call_id);
	buf_put_u32le(out, (uint32_t)stub_len);
	buf_put_u16le(out, context_id);
	buf_put_u8(out, 0);
	buf_put_u8(out, 0);
	buf_put_u32le(out, 0); /* size */
	buf_put_u32le(out, 0); /* NULL pointer: no array follows */
	buf_put_u32le(out, hresult);
	return build_finish(out, start, frag_len);
}

enum rpc_err
rpc_build_fault(struct buf *out, uint32_t call_id, uint16_t context_id, uint32_t status)
{
	size_t start = out->len;
	/* Faults from the host side are about calls it never ran. */
	header_write(out, RPC_TYPE_FAULT, RPC_FLAG_FIRST | RPC_FLAG_LAST | RPC_FLAG_DID_NOT_EXECUTE,
	             RPC_FAULT_LEN, call_id);
	buf_put_u32le(out, 0); /* allocation hint */
	buf_put_u16le(out, context_id);
	buf_put_u8(out, 0); /* cancel count */
	buf_put_u8(out, 0);
	buf_put_u32le(out, status);
	buf_put_u32le(out, 0); /* reserved */
	return build_finish(out, start, RPC_FAULT_LEN);
}

enum rpc_err
rpc_parse_bind(const uint8_t *data, size_t len, struct rpc_bind *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	if (h.type != RPC_TYPE_BIND && h.type != RPC_TYPE_ALTER_CONTEXT)
		return RPC_ERR_TYPE;
	out->type = h.type;
	out->flags = h.flags;
	out->call_id = h.call_id;
	uint8_t n;
	if (buf_get_u16le(&r, &out->max_xmit) == -1 || buf_get_u16le(&r, &out->max_recv) == -1 ||
	    buf_get_u32le(&r, &out->assoc_group) == -1 || buf_get_u8(&r, &n) == -1 ||
	    buf_skip(&r, 3) == -1)
		return RPC_ERR_TRUNCATED;
	if (n == 0 || n > RPC_MAX_ITEMS)
		return RPC_ERR_ITEMS;
	for (size_t i = 0; i < n; i++) {
		struct rpc_ctx_item *it = &out->items[i];
		uint8_t n_syntaxes;
		if (buf_get_u16le(&r, &it->context_id) == -1 || buf_get_u8(&r, &n_syntaxes) == -1 ||
		    buf_skip(&r, 1) == -1)
			return RPC_ERR_TRUNCATED;
		/* KMS clients offer one transfer syntax per item; the item
		 * layout below assumes it. */
		if (n_syntaxes != 1)
			return RPC_ERR_ITEMS;
		if (syntax_read(&r, &it->abstract) == -1 || syntax_read(&r, &it->transfer) == -1)
			return RPC_ERR_TRUNCATED;
		out->n_items = i + 1;
	}
	if (buf_remaining(&r) != 0)
		return RPC_ERR_TRAILING;
	return RPC_OK;
}

/* The body of a bind_nak: the reason, then the protocol versions the peer
 * supports. Anything after them is ignored: Microsoft's extension appends a
 * signature and extended error data, and the reason is all the probe reports. */
static enum rpc_err
bind_nak_read(struct buf_reader *r, uint16_t *reason)
{
	uint8_t n;
	if (buf_get_u16le(r, reason) == -1)
		return RPC_ERR_TRUNCATED;
	if (buf_remaining(r) == 0)
		return RPC_OK;
	if (buf_get_u8(r, &n) == -1 || buf_skip(r, 2 * (size_t)n) == -1)
		return RPC_ERR_TRUNCATED;
	return RPC_OK;
}

/* A secondary address is NUL-terminated printable ASCII (a port number for
 * TCP). Length 0 means none, as in the captured alter_context_resp. */
static enum rpc_err
sec_addr_read(struct buf_reader *r, char *out, size_t out_size)
{
	uint16_t n;
	const uint8_t *p;
	if (buf_get_u16le(r, &n) == -1 || buf_get_ptr(r, &p, n) == -1)
		return RPC_ERR_TRUNCATED;
	out[0] = '\0';
	if (n == 0)
		return RPC_OK;
	if ((size_t)n > out_size)
		return RPC_ERR_SECONDARY_ADDR;
	struct buf_reader s;
	buf_reader_init(&s, p, n);
	for (size_t i = 0; i < n; i++) {
		uint8_t c;
		if (buf_get_u8(&s, &c) == -1)
			return RPC_ERR_TRUNCATED;
		if (i + 1 == n) {
			if (c != '\0')
				return RPC_ERR_SECONDARY_ADDR;
		} else if (c < 0x20 || c > 0x7e) {
			return RPC_ERR_SECONDARY_ADDR;
		}
		out[i] = (char)c;
	}
	return RPC_OK;
}

enum rpc_err
rpc_parse_bind_ack(const uint8_t *data, size_t len, uint32_t call_id, struct rpc_bind_ack *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	out->type = h.type;
	out->flags = h.flags;
	out->call_id = h.call_id;
	if (h.call_id != call_id)
		return RPC_ERR_CALL_ID;
	if (h.type == RPC_TYPE_BIND_NAK) {
		err = bind_nak_read(&r, &out->nak_reason);
		return err != RPC_OK ? err : RPC_ERR_BIND_NAK;
	}
	if (h.type != RPC_TYPE_BIND_ACK && h.type != RPC_TYPE_ALTER_CONTEXT_RESP)
		return RPC_ERR_TYPE;
	if (buf_get_u16le(&r, &out->max_xmit) == -1 || buf_get_u16le(&r, &out->max_recv) == -1 ||
	    buf_get_u32le(&r, &out->assoc_group) == -1)
		return RPC_ERR_TRUNCATED;
	err = sec_addr_read(&r, out->sec_addr, sizeof(out->sec_addr));
	if (err != RPC_OK)
		return err;
	/* Padding to 4 counted from the PDU start. Its content is not checked:
	 * the captured host leaves stale bytes there. */
	uint8_t n;
	if (buf_skip(&r, pad4(r.off)) == -1 || buf_get_u8(&r, &n) == -1 || buf_skip(&r, 3) == -1)
		return RPC_ERR_TRUNCATED;
	if (n == 0 || n > RPC_MAX_ITEMS)
		return RPC_ERR_RESULTS;
	for (size_t i = 0; i < n; i++) {
		struct rpc_result *res = &out->results[i];
		if (buf_get_u16le(&r, &res->result) == -1 ||
		    buf_get_u16le(&r, &res->reason) == -1 || syntax_read(&r, &res->transfer) == -1)
			return RPC_ERR_TRUNCATED;
		if (res->result > RPC_RESULT_NEGOTIATE_ACK)
			return RPC_ERR_RESULTS;
		out->n_results = i + 1;
	}
	if (buf_remaining(&r) != 0)
		return RPC_ERR_TRAILING;
	return RPC_OK;
}

enum rpc_err
rpc_check_bind_ack(const struct rpc_bind_ack *a, size_t n_offered)
{
	if (a->n_results != n_offered || a->n_results == 0)
		return RPC_ERR_RESULTS;
	if (a->results[0].result != RPC_RESULT_ACCEPTED ||
	    !rpc_syntax_equal(&a->results[0].transfer, &rpc_syntax_ndr32))
		return RPC_ERR_BIND_REJECTED;
	return RPC_OK;
}

enum rpc_err
rpc_parse_bind_nak(const uint8_t *data, size_t len, uint32_t call_id, struct rpc_bind_nak *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	out->call_id = h.call_id;
	if (h.call_id != call_id)
		return RPC_ERR_CALL_ID;
	if (h.type != RPC_TYPE_BIND_NAK)
		return RPC_ERR_TYPE;
	return bind_nak_read(&r, &out->reason);
}

enum rpc_err
rpc_parse_request(const uint8_t *data, size_t len, struct rpc_request *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	if (h.type != RPC_TYPE_REQUEST)
		return RPC_ERR_TYPE;
	out->call_id = h.call_id;
	if (buf_get_u32le(&r, &out->alloc_hint) == -1 ||
	    buf_get_u16le(&r, &out->context_id) == -1 || buf_get_u16le(&r, &out->opnum) == -1)
		return RPC_ERR_TRUNCATED;
	if (out->opnum != RPC_KMS_OPNUM)
		return RPC_ERR_OPNUM;
	/* The allocation hint is advisory (C706 lets it be 0) and not checked. */
	uint32_t n, max_count;
	if (buf_get_u32le(&r, &n) == -1 || buf_get_u32le(&r, &max_count) == -1)
		return RPC_ERR_TRUNCATED;
	if (n != max_count || n != buf_remaining(&r))
		return RPC_ERR_STUB;
	if (buf_get_ptr(&r, &out->data, n) == -1)
		return RPC_ERR_TRUNCATED;
	out->len = n;
	return RPC_OK;
}

/* The body of a fault up to its status. What follows (reserved bytes, and
 * optionally extended error data) carries nothing the probe reports. */
static enum rpc_err
fault_read(struct buf_reader *r, struct rpc_fault *f)
{
	uint32_t alloc_hint;
	uint8_t cancel, reserved;
	if (buf_get_u32le(r, &alloc_hint) == -1 || buf_get_u16le(r, &f->context_id) == -1 ||
	    buf_get_u8(r, &cancel) == -1 || buf_get_u8(r, &reserved) == -1 ||
	    buf_get_u32le(r, &f->status) == -1)
		return RPC_ERR_TRUNCATED;
	return RPC_OK;
}

enum rpc_err
rpc_parse_fault(const uint8_t *data, size_t len, uint32_t call_id, struct rpc_fault *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	out->call_id = h.call_id;
	if (h.call_id != call_id)
		return RPC_ERR_CALL_ID;
	if (h.type != RPC_TYPE_FAULT)
		return RPC_ERR_TYPE;
	return fault_read(&r, out);
}

enum rpc_err
rpc_parse_response(const uint8_t *data, size_t len, uint32_t call_id, struct rpc_response *out)
{
	struct buf_reader r;
	struct rpc_header h;
	memset(out, 0, sizeof(*out));
	enum rpc_err err = pdu_open(data, len, &r, &h);
	if (err != RPC_OK)
		return err;
	out->call_id = h.call_id;
	if (h.call_id != call_id)
		return RPC_ERR_CALL_ID;
	if (h.type == RPC_TYPE_FAULT) {
		struct rpc_fault f;
		err = fault_read(&r, &f);
		if (err != RPC_OK)
			return err;
		out->context_id = f.context_id;
		out->fault_status = f.status;
		return RPC_ERR_FAULT;
	}
	if (h.type != RPC_TYPE_RESPONSE)
		return RPC_ERR_TYPE;
	uint8_t cancel, reserved;
	if (buf_get_u32le(&r, &out->alloc_hint) == -1 ||
	    buf_get_u16le(&r, &out->context_id) == -1 || buf_get_u8(&r, &cancel) == -1 ||
	    buf_get_u8(&r, &reserved) == -1)
		return RPC_ERR_TRUNCATED;
	if (out->context_id != RPC_KMS_CONTEXT)
		return RPC_ERR_CONTEXT;
	uint32_t size, referent;
	if (buf_get_u32le(&r, &size) == -1 || buf_get_u32le(&r, &referent) == -1)
		return RPC_ERR_TRUNCATED;
	if (referent == 0) {
		/* A refusal: no array follows the NULL pointer, only the
		 * HRESULT. */
		if (size != 0)
			return RPC_ERR_POINTER;
		if (buf_get_u32le(&r, &out->hresult) == -1)
			return RPC_ERR_TRUNCATED;
		if (buf_remaining(&r) != 0)
			return RPC_ERR_TRAILING;
		out->null_ptr = true;
		return RPC_OK;
	}
	uint32_t max_count;
	if (buf_get_u32le(&r, &max_count) == -1)
		return RPC_ERR_TRUNCATED;
	if (max_count != size)
		return RPC_ERR_STUB;
	/* The stub starts 8-aligned and its fixed part is 12 bytes, so the
	 * padding after the array depends on the size alone. */
	size_t pad = pad4(size);
	size_t rem = buf_remaining(&r);
	if (size > rem || rem - size != pad + 4)
		return RPC_ERR_STUB;
	const uint8_t *padding;
	if (buf_get_ptr(&r, &out->data, size) == -1 || buf_get_ptr(&r, &padding, pad) == -1)
		return RPC_ERR_TRUNCATED;
	out->len = size;
	struct buf_reader pr;
	buf_reader_init(&pr, padding, pad);
	for (size_t i = 0; i < pad; i++) {
		uint8_t c;
		if (buf_get_u8(&pr, &c) == -1)
			return RPC_ERR_TRUNCATED;
		if (c != 0)
			return RPC_ERR_PADDING;
	}
	if (buf_get_u32le(&r, &out->hresult) == -1)
		return RPC_ERR_TRUNCATED;
	return RPC_OK;
}
