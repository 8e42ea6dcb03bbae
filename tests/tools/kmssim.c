/*
 * Test fixture: a KMS host simulator for kmswatch's integration and
 * end-to-end tests. Never installed. It listens on loopback only and answers
 * only requests that carry the monitoring CMID given with --cmid; every other
 * request gets its connection closed unanswered, so the simulator can never
 * act as a KMS server for real clients.
 *
 * The hosts it plays, their answers and their faults come from a JSON file
 * (see usage()) that SIGHUP re-reads. With --stats it keeps a JSON file of
 * what each host was asked, rewritten before every answer leaves, so a test
 * that has read an answer can rely on the file describing that request.
 *
 * One thread, one poll() loop, bounded memory: at most MAX_CONNS connections
 * with CONN_BUF_MAX bytes of buffer each way, and nothing ever blocks on a
 * peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kmshost.h"
#include "kmswatch/buf.h"
#include "kmswatch/kms.h"
#include "kmswatch/rpc.h"

#define MAX_HOSTS        64
#define MAX_PRODUCTS     64
#define MAX_SERVED       64 /* (application id, CMID) pairs remembered per host */
#define MAX_CONNS        256
#define CONN_BUF_MAX     8192
#define LISTEN_BACKLOG   64
#define IDLE_MS          30000
#define SLOW_GAP_MS      20
#define DELAY_MAX_MS     600000
#define GARBAGE_LEN      64
#define OVERSIZE_TAIL    64
#define OVERSIZE_FRAG    0xffff
#define KEY_MAX          64 /* "[" INET6_ADDRSTRLEN "]:65535" fits */
#define ERR_MAX          256
#define FEATURE_BITS     0x3
#define FAULT_STATUS     0x1C010003u /* nca_s_unk_if */
#define HR_OLD_HOST      0x8007000Du /* what pre-2012 hosts answer v5/v6 with */
#define BIND_NAK_REASON  0           /* reason not specified */
#define ASSOC_GROUP_BASE 0x00012000u
#define DEFAULT_EPID     "03612-00206-559-709370-03-1103-14393.0000-1912020"
#define DEFAULT_HWID     "3A1C049600B60076"
#define DEFAULT_ACT_MIN  120
#define DEFAULT_REN_MIN  10080

enum fault {
	FAULT_NONE,
	FAULT_HANG,
	FAULT_SLOW,
	FAULT_CLOSE_BIND,
	FAULT_CLOSE_MID,
	FAULT_GARBAGE,
	FAULT_OVERSIZE,
	FAULT_RESET,
	FAULT_WRONG_CALL_ID,
	FAULT_BIND_NAK,
	FAULT_BIND_REJECT,
	FAULT_RPC_FAULT,
};

static const struct {
	enum fault f;
	const char *name;
	const char *help;
} fault_names[] = {
    {FAULT_NONE, "none", "answer normally"},
    {FAULT_HANG, "hang", "accept and read, never answer anything"},
    {FAULT_SLOW, "slow", "send every answer one byte at a time, 20 ms apart"},
    {FAULT_CLOSE_BIND, "close-bind", "close after reading the bind"},
    {FAULT_CLOSE_MID, "close-mid", "send half of the response PDU, then close"},
    {FAULT_GARBAGE, "garbage", "answer the request with 64 random bytes"},
    {FAULT_OVERSIZE, "oversize", "answer with a header claiming fragment length 65535"},
    {FAULT_RESET, "reset", "answer the request by resetting the connection"},
    {FAULT_WRONG_CALL_ID, "wrong-call-id", "response with the call id plus one"},
    {FAULT_BIND_NAK, "bind-nak", "answer the bind with bind_nak"},
    {FAULT_BIND_REJECT, "bind-reject", "bind_ack rejecting item 0, reason 2"},
    {FAULT_RPC_FAULT, "rpc-fault", "answer the request with a fault PDU, 0x1C010003"},
};

/* A per-product override of the host's count and HRESULT. */
struct product {
	uint8_t counted_id[KMS_GUID_SIZE];
	bool has_count;
	bool has_hresult;
	uint32_t count;
	uint32_t hresult;
};

/* One host as the configuration file describes it. */
struct host_cfg {
	char key[KEY_MAX]; /* canonical listen address: identity and stats key */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint16_t port;
	char epid[KMS_EPID_TEXT_MAX];
	uint8_t hwid[KMS_HWID_SIZE];
	uint32_t count;
	bool counting;
	uint32_t activation_interval;
	uint32_t renewal_interval;
	uint32_t hresult;
	size_t n_products;
	struct product products[MAX_PRODUCTS];
	enum fault fault;
	enum kms_host_corruption corrupt;
	uint32_t delay_ms;
};

struct config {
	size_t n_hosts;
	struct host_cfg hosts[MAX_HOSTS];
};

/* What a host has been asked; survives reloads that keep its address. */
struct host_stats {
	uint64_t requests; /* well-formed RPC requests, foreign ones included */
	uint64_t answered; /* requests that got any bytes back */
	uint64_t foreign;  /* requests closed unanswered for their CMID */
	uint64_t versions[3];
	bool seen; /* the last_* fields are set */
	unsigned last_version;
	char last_workstation[KMS_WORKSTATION_TEXT_MAX];
	uint32_t last_required_count;
	uint8_t last_cmid[KMS_GUID_SIZE];
	uint8_t last_application_id[KMS_GUID_SIZE];
	uint8_t last_sku_id[KMS_GUID_SIZE];
	uint8_t last_kms_counted_id[KMS_GUID_SIZE];
};

struct served {
	uint8_t application_id[KMS_GUID_SIZE];
	uint8_t cmid[KMS_GUID_SIZE];
};

struct host {
	struct host_cfg cfg;
	int fd;
	struct host_stats st;
	size_t n_served;
	struct served served[MAX_SERVED];
};

/* What happens once a connection's pending output is sent. */
enum conn_after {
	AFTER_KEEP,
	AFTER_CLOSE,
	AFTER_RESET,
};

struct conn {
	int fd;
	struct host *host; /* never NULL: a host's removal closes its connections */
	uint8_t in[CONN_BUF_MAX];
	size_t in_len;
	bool eof;
	struct buf out; /* capped at CONN_BUF_MAX */
	size_t out_off;
	bool slow;
	enum conn_after after;
	int64_t write_at; /* monotonic ms; nothing is sent before it */
	int64_t last_io;
	uint32_t assoc_group;
	size_t n_ctx; /* presentation contexts accepted for KMS over NDR32 */
	uint16_t ctx[RPC_MAX_ITEMS];
	bool reset; /* close with SO_LINGER 0, so the peer sees a reset */
};

struct sim {
	uint8_t cmid[KMS_GUID_SIZE];
	const char *config_path;
	const char *stats_path;
	char *stats_tmp; /* owned */
	size_t n_hosts;
	struct host *hosts[MAX_HOSTS]; /* owned */
	size_t n_conns;
	struct conn *conns[MAX_CONNS]; /* owned; NULL slots are free */
	uint32_t next_group;
};

static void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
sim_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("kmssim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fill_random(void *p, size_t n)
{
	uint8_t *b = p;
	size_t off = 0;
	while (off < n) {
		ssize_t r = getrandom(b + off, n - off, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: kmssim --cmid GUID --config FILE [--stats FILE]\n"
	           "\n"
	           "KMS host simulator for kmswatch's tests; never installed. Listens on\n"
	           "loopback only and answers only requests carrying the monitoring CMID\n"
	           "GUID; any other request has its connection closed unanswered. Prints\n"
	           "\"ready\" once listening. SIGHUP re-reads FILE (\"reloaded\" on success,\n"
	           "the old configuration kept otherwise); SIGTERM and SIGINT exit 0.\n"
	           "\n"
	           "FILE is JSON: {\"hosts\": [HOST, ...]}, each HOST an object with\n"
	           "  listen               \"127.x.y.z:PORT\" or \"[::1]:PORT\" (required)\n"
	           "  epid                 default " DEFAULT_EPID "\n"
	           "  hwid                 16 hex digits, default " DEFAULT_HWID "\n"
	           "  count                current count answered, default 0\n"
	           "  counting             true: count plus the distinct CMIDs served for\n"
	           "                       the request's application id; default false\n"
	           "  activation_interval  minutes, default 120\n"
	           "  renewal_interval     minutes, default 10080\n"
	           "  hresult              refuse every request with this HRESULT (number or\n"
	           "                       \"0x...\"); 0x8007000D refuses only v5 and v6\n"
	           "  products             {\"KMS-COUNTED-ID\": {\"count\": N, \"hresult\": H}}\n"
	           "  fault                a fault or a response corruption, default none\n"
	           "  delay_ms             wait before answering a request, default 0\n"
	           "\n"
	           "faults:\n");
	for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		fprintf(f, "  %-20s %s\n", fault_names[i].name, fault_names[i].help);
	fprintf(f, "response corruptions (and the versions they exist in; other versions\n"
	           "get an honest response):\n");
	for (int c = KMS_HOST_CORRUPT_NONE + 1; c < KMS_HOST_CORRUPTION_COUNT; c++) {
		enum kms_host_corruption k = (enum kms_host_corruption)c;
		fprintf(f, "  %-20s", kms_host_corruption_name(k));
		for (unsigned v = 4; v <= 6; v++)
			if (kms_host_corruption_applies(k, v))
				fprintf(f, " v%u", v);
		fputc('\n', f);
	}
	fprintf(f,
	        "\n--stats FILE is rewritten (atomically) as each request is handled:\n"
	        "{\"hosts\": {LISTEN: {\"requests\", \"answered\", \"foreign\", \"versions\",\n"
	        "\"last_workstation\", \"last_required_count\", \"last_cmid\", \"last_version\",\n"
	        "\"last_application_id\", \"last_sku_id\", \"last_kms_counted_id\",\n"
	        "\"distinct_cmids\"}}}\n");
}

/* Configuration. Every function fills err (ERR_MAX bytes) on failure. */

static int cfg_err(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
cfg_err(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* "127.x.y.z:PORT" or "[::1]:PORT"; anything off loopback is refused, since
 * the simulator must never be reachable from another machine. */
static int
parse_listen(const char *text, struct host_cfg *h, char *err)
{
	char addr[INET6_ADDRSTRLEN];
	const char *host, *port_text;
	size_t host_len;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return cfg_err(err, "listen \"%s\": expected [ADDRESS]:PORT", text);
		host = text + 1;
		host_len = (size_t)(close - host);
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || memchr(text, ':', (size_t)(colon - text)) != NULL)
			return cfg_err(err, "listen \"%s\": expected ADDRESS:PORT", text);
		host = text;
		host_len = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(addr))
		return cfg_err(err, "listen \"%s\": bad address", text);
	memcpy(addr, host, host_len);
	addr[host_len] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(port_text, &end, 10);
	if (port_text[0] < '0' || port_text[0] > '9' || *end != '\0' || errno != 0 || port == 0 ||
	    port > 65535)
		return cfg_err(err, "listen \"%s\": bad port", text);

	memset(&h->addr, 0, sizeof(h->addr));
	h->port = (uint16_t)port;
	char canon[INET6_ADDRSTRLEN];
	struct sockaddr_in *in = (struct sockaddr_in *)&h->addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&h->addr;
	if (text[0] != '[' && inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		if ((ntohl(in->sin_addr.s_addr) >> 24) != 127)
			return cfg_err(err, "listen \"%s\": not in 127.0.0.0/8; refusing", text);
		in->sin_family = AF_INET;
		in->sin_port = htons(h->port);
		h->addr_len = sizeof(*in);
		inet_ntop(AF_INET, &in->sin_addr, canon, sizeof(canon));
		snprintf(h->key, sizeof(h->key), "%s:%u", canon, (unsigned)h->port);
	} else if (text[0] == '[' && inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return cfg_err(err, "listen \"%s\": not ::1; refusing", text);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(h->port);
		h->addr_len = sizeof(*in6);
		inet_ntop(AF_INET6, &in6->sin6_addr, canon, sizeof(canon));
		snprintf(h->key, sizeof(h->key), "[%s]:%u", canon, (unsigned)h->port);
	} else {
		return cfg_err(err, "listen \"%s\": bad address", text);
	}
	return 0;
}

static int
json_u32(const json_t *v, uint32_t max, uint32_t *out)
{
	if (!json_is_integer(v))
		return -1;
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n > max)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

/* HRESULTs are written both signed and unsigned, and most readably as hex
 * strings, so all three are accepted. */
static int
json_hresult(const json_t *v, uint32_t *out)
{
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n < INT32_MIN || n > (json_int_t)UINT32_MAX)
			return -1;
		*out = (uint32_t)n;
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	int base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	bool digit = base == 16 ? (s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f') ||
	                              (s[0] >= 'A' && s[0] <= 'F')
	                        : s[0] >= '0' && s[0] <= '9';
	if (!digit)
		return -1;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, base);
	if (*end != '\0' || errno != 0 || n > UINT32_MAX)
		return -1;
	*out = (uint32_t)n;
	return 0;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
parse_hwid(const char *s, uint8_t out[KMS_HWID_SIZE])
{
	if (strlen(s) != 2 * KMS_HWID_SIZE)
		return -1;
	for (size_t i = 0; i < KMS_HWID_SIZE; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
parse_fault(const char *s, struct host_cfg *h)
{
	for (size_t i = 0; i < sizeof(fault_names) / sizeof(fault_names[0]); i++) {
		if (strcmp(s, fault_names[i].name) == 0) {
			h->fault = fault_names[i].f;
			h->corrupt = KMS_HOST_CORRUPT_NONE;
			return 0;
		}
	}
	h->fault = FAULT_NONE;
	return kms_host_corruption_parse(s, &h->corrupt);
}

static int
parse_products(json_t *obj, struct host_cfg *h, char *err)
{
	const char *key;
	json_t *v;
	if (!json_is_object(obj))
		return cfg_err(err, "%s: products must be an object", h->key);
	json_object_foreach(obj, key, v)
	{
		if (h->n_products == MAX_PRODUCTS)
			return cfg_err(err, "%s: more than %d products", h->key, MAX_PRODUCTS);
		struct product *p = &h->products[h->n_products];
		memset(p, 0, sizeof(*p));
		if (kms_guid_parse(key, p->counted_id) == -1)
			return cfg_err(err, "%s: product \"%s\" is not a GUID", h->key, key);
		for (size_t i = 0; i < h->n_products; i++)
			if (memcmp(h->products[i].counted_id, p->counted_id, KMS_GUID_SIZE) == 0)
				return cfg_err(err, "%s: product %s listed twice", h->key, key);
		if (!json_is_object(v))
			return cfg_err(err, "%s: product %s must be an object", h->key, key);
		const char *field;
		json_t *fv;
		json_object_foreach(v, field, fv)
		{
			if (strcmp(field, "count") == 0) {
				if (json_u32(fv, UINT32_MAX, &p->count) == -1)
					return cfg_err(err, "%s: product %s: bad count", h->key,
					               key);
				p->has_count = true;
			} else if (strcmp(field, "hresult") == 0) {
				if (json_hresult(fv, &p->hresult) == -1)
					return cfg_err(err, "%s: product %s: bad hresult", h->key,
					               key);
				p->has_hresult = true;
			} else {
				return cfg_err(err, "%s: product %s: unknown field \"%s\"", h->key,
				               key, field);
			}
		}
		h->n_products++;
	}
	return 0;
}

static int
parse_host(json_t *obj, size_t index, struct host_cfg *h, char *err)
{
	memset(h, 0, sizeof(*h));
	if (!json_is_object(obj))
		return cfg_err(err, "hosts[%zu]: not an object", index);
	const json_t *listen = json_object_get(obj, "listen");
	if (!json_is_string(listen))
		return cfg_err(err, "hosts[%zu]: \"listen\" missing or not a string", index);
	if (parse_listen(json_string_value(listen), h, err) == -1)
		return -1;
	snprintf(h->epid, sizeof(h->epid), "%s", DEFAULT_EPID);
	(void)parse_hwid(DEFAULT_HWID, h->hwid);
	h->activation_interval = DEFAULT_ACT_MIN;
	h->renewal_interval = DEFAULT_REN_MIN;

	/* Unknown fields are errors: a misspelt fault would otherwise leave a
	 * test silently talking to a healthy host. */
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		int bad = 0;
		if (strcmp(key, "listen") == 0) {
			continue;
		} else if (strcmp(key, "epid") == 0) {
			uint8_t units[2 * (KMS_EPID_MAX_SIZE / 2 - 1)];
			size_t n;
			bad = !json_is_string(v) ||
			      strlen(json_string_value(v)) >= sizeof(h->epid) ||
			      kms_utf8_to_utf16le(json_string_value(v), units,
			                          KMS_EPID_MAX_SIZE / 2 - 1, &n) == -1;
			if (!bad)
				snprintf(h->epid, sizeof(h->epid), "%s", json_string_value(v));
		} else if (strcmp(key, "hwid") == 0) {
			bad = !json_is_string(v) || parse_hwid(json_string_value(v), h->hwid) == -1;
		} else if (strcmp(key, "count") == 0) {
			bad = json_u32(v, UINT32_MAX, &h->count) == -1;
		} else if (strcmp(key, "counting") == 0) {
			bad = !json_is_boolean(v);
			h->counting = json_is_true(v);
		} else if (strcmp(key, "activation_interval") == 0) {
			bad = json_u32(v, UINT32_MAX, &h->activation_interval) == -1;
		} else if (strcmp(key, "renewal_interval") == 0) {
			bad = json_u32(v, UINT32_MAX, &h->renewal_interval) == -1;
		} else if (strcmp(key, "hresult") == 0) {
			bad = json_hresult(v, &h->hresult) == -1;
		} else if (strcmp(key, "products") == 0) {
			if (parse_products(v, h, err) == -1)
				return -1;
		} else if (strcmp(key, "fault") == 0) {
			bad = !json_is_string(v) || parse_fault(json_string_value(v), h) == -1;
		} else if (strcmp(key, "delay_ms") == 0) {
			bad = json_u32(v, DELAY_MAX_MS, &h->delay_ms) == -1;
		} else {
			return cfg_err(err, "%s: unknown field \"%s\"", h->key, key);
		}
		if (bad)
			return cfg_err(err, "%s: bad value for \"%s\"", h->key, key);
	}
	return 0;
}

/* Returns the configuration in path (caller frees), or NULL with err set. */
static struct config *
config_load(const char *path, char *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		cfg_err(err, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	struct config *cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		cfg_err(err, "out of memory");
		goto fail;
	}
	const json_t *hosts = json_object_get(root, "hosts");
	if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(hosts)) {
		cfg_err(err, "%s: expected {\"hosts\": [...]} and nothing else", path);
		goto fail;
	}
	if (json_array_size(hosts) > MAX_HOSTS) {
		cfg_err(err, "%s: more than %d hosts", path, MAX_HOSTS);
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(hosts); i++) {
		struct host_cfg *h = &cfg->hosts[i];
		char herr[ERR_MAX];
		if (parse_host(json_array_get(hosts, i), i, h, herr) == -1) {
			cfg_err(err, "%s: %s", path, herr);
			goto fail;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->hosts[j].key, h->key) == 0) {
				cfg_err(err, "%s: %s listed twice", path, h->key);
				goto fail;
			}
		}
		cfg->n_hosts = i + 1;
	}
	json_decref(root);
	return cfg;
fail:
	free(cfg);
	json_decref(root);
	return NULL;
}

/* Hosts and statistics. */

static int
listener_open(const struct host_cfg *h)
{
	int fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	/* Tests restart the simulator on the same ports while old connections
	 * sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (h->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)&h->addr, h->addr_len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static const struct product *
host_product(const struct host *h, const uint8_t counted_id[KMS_GUID_SIZE])
{
	for (size_t i = 0; i < h->cfg.n_products; i++)
		if (memcmp(h->cfg.products[i].counted_id, counted_id, KMS_GUID_SIZE) == 0)
			return &h->cfg.products[i];
	return NULL;
}

/* Records that h served cmid for application app and returns how many
 * distinct CMIDs it has served for app, this one included. */
static uint32_t
host_serve(struct host *h, const uint8_t app[KMS_GUID_SIZE], const uint8_t cmid[KMS_GUID_SIZE])
{
	uint32_t n = 0;
	bool known = false;
	for (size_t i = 0; i < h->n_served; i++) {
		if (memcmp(h->served[i].application_id, app, KMS_GUID_SIZE) != 0)
			continue;
		n++;
		if (memcmp(h->served[i].cmid, cmid, KMS_GUID_SIZE) == 0)
			known = true;
	}
	if (!known && h->n_served < MAX_SERVED) {
		memcpy(h->served[h->n_served].application_id, app, KMS_GUID_SIZE);
		memcpy(h->served[h->n_served].cmid, cmid, KMS_GUID_SIZE);
		h->n_served++;
		n++;
	}
	return n;
}

static size_t
host_distinct_cmids(const struct host *h)
{
	size_t n = 0;
	for (size_t i = 0; i < h->n_served; i++) {
		size_t j = 0;
		while (j < i && memcmp(h->served[j].cmid, h->served[i].cmid, KMS_GUID_SIZE) != 0)
			j++;
		n += j == i;
	}
	return n;
}

static json_t *
json_guid(const uint8_t guid[KMS_GUID_SIZE])
{
	char text[KMS_GUID_TEXT_SIZE];
	kms_guid_format(guid, text);
	return json_string(text);
}

static json_t *
host_stats_json(const struct host *h)
{
	const struct host_stats *st = &h->st;
	json_t *o = json_object();
	json_t *versions = json_object();
	json_object_set_new(versions, "4", json_integer((json_int_t)st->versions[0]));
	json_object_set_new(versions, "5", json_integer((json_int_t)st->versions[1]));
	json_object_set_new(versions, "6", json_integer((json_int_t)st->versions[2]));
	json_object_set_new(o, "requests", json_integer((json_int_t)st->requests));
	json_object_set_new(o, "answered", json_integer((json_int_t)st->answered));
	json_object_set_new(o, "foreign", json_integer((json_int_t)st->foreign));
	json_object_set_new(o, "versions", versions);
	json_object_set_new(o, "distinct_cmids", json_integer((json_int_t)host_distinct_cmids(h)));
	if (!st->seen) {
		json_object_set_new(o, "last_workstation", json_null());
		json_object_set_new(o, "last_required_count", json_null());
		json_object_set_new(o, "last_cmid", json_null());
		json_object_set_new(o, "last_version", json_null());
		json_object_set_new(o, "last_application_id", json_null());
		json_object_set_new(o, "last_sku_id", json_null());
		json_object_set_new(o, "last_kms_counted_id", json_null());
		return o;
	}
	json_object_set_new(o, "last_workstation", json_string(st->last_workstation));
	json_object_set_new(o, "last_required_count", json_integer(st->last_required_count));
	json_object_set_new(o, "last_cmid", json_guid(st->last_cmid));
	json_object_set_new(o, "last_version", json_integer(st->last_version));
	json_object_set_new(o, "last_application_id", json_guid(st->last_application_id));
	json_object_set_new(o, "last_sku_id", json_guid(st->last_sku_id));
	json_object_set_new(o, "last_kms_counted_id", json_guid(st->last_kms_counted_id));
	return o;
}

/* Rewrites the stats file through a temporary one and rename(), so a test
 * never reads half a file. */
static void
stats_write(const struct sim *s)
{
	if (s->stats_path == NULL)
		return;
	json_t *root = json_object();
	json_t *hosts = json_object();
	json_object_set_new(root, "hosts", hosts);
	for (size_t i = 0; i < s->n_hosts; i++)
		json_object_set_new(hosts, s->hosts[i]->cfg.key, host_stats_json(s->hosts[i]));
	if (json_dump_file(root, s->stats_tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == -1)
		sim_log("%s: cannot write", s->stats_tmp);
	else if (rename(s->stats_tmp, s->stats_path) == -1)
		sim_log("%s: %s", s->stats_path, strerror(errno));
	json_decref(root);
}

/* Connections. */

static void
conn_close(struct sim *s, size_t slot)
{
	struct conn *c = s->conns[slot];
	if (c->reset) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	buf_free(&c->out);
	free(c);
	s->conns[slot] = NULL;
	s->n_conns--;
}

static bool
conn_busy(const struct conn *c)
{
	return c->out_off < c->out.len || c->after != AFTER_KEEP;
}

/* Queues pdu as the answer, sent from at (monotonic ms); then does after. */
static int
conn_queue(struct conn *c, const uint8_t *pdu, size_t len, int64_t at, enum conn_after after)
{
	if (buf_append(&c->out, pdu, len) == -1)
		return -1;
	c->write_at = at;
	c->after = after;
	c->slow = c->host->cfg.fault == FAULT_SLOW;
	return 0;
}

/* Sends what is due. Returns -1 when the connection is to be closed. */
static int
conn_flush(struct conn *c, int64_t now)
{
	if (now < c->write_at)
		return 0;
	while (c->out_off < c->out.len) {
		size_t n = c->slow ? 1 : c->out.len - c->out_off;
		ssize_t w = send(c->fd, c->out.data + c->out_off, n, MSG_NOSIGNAL);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->out_off += (size_t)w;
		c->last_io = now;
		if (c->slow) {
			c->write_at = now + SLOW_GAP_MS;
			if (c->out_off < c->out.len)
				return 0;
		}
	}
	buf_reset(&c->out);
	c->out_off = 0;
	if (c->after == AFTER_KEEP)
		return 0;
	c->reset = c->after == AFTER_RESET;
	return -1;
}

static bool
conn_ctx_accepted(const struct conn *c, uint16_t id)
{
	for (size_t i = 0; i < c->n_ctx; i++)
		if (c->ctx[i] == id)
			return true;
	return false;
}

/* A bind_ack like the honest one but rejecting item 0 for its transfer
 * syntax: built honestly, parsed back and altered, so everything else stays
 * exactly what rpc_build_bind_ack() produces. */
static enum rpc_err
build_bind_reject(struct buf *out, const struct rpc_bind *offer, uint16_t port, uint32_t group)
{
	struct buf tmp;
	struct rpc_bind_ack a;
	buf_init(&tmp, CONN_BUF_MAX);
	enum rpc_err e = rpc_build_bind_ack(&tmp, offer, port, group, FEATURE_BITS);
	if (e == RPC_OK)
		e = rpc_parse_bind_ack(tmp.data, tmp.len, offer->call_id, &a);
	if (e == RPC_OK) {
		a.results[0].result = RPC_RESULT_PROVIDER_REJECTION;
		a.results[0].reason = RPC_REASON_TRANSFER_SYNTAX;
		memset(&a.results[0].transfer, 0, sizeof(a.results[0].transfer));
		e = rpc_write_bind_ack(out, &a);
	}
	buf_free(&tmp);
	return e;
}

static int
handle_bind(struct sim *s, struct conn *c, const uint8_t *pdu, size_t len, int64_t now)
{
	struct host *h = c->host;
	struct rpc_bind offer;
	enum rpc_err e = rpc_parse_bind(pdu, len, &offer);
	if (e != RPC_OK) {
		sim_log("%s: closing: bad bind or alter_context: %s", h->cfg.key, rpc_strerror(e));
		return -1;
	}
	if (h->cfg.fault == FAULT_CLOSE_BIND)
		return -1;
	/* A client that names an association group joins it; otherwise the
	 * connection gets its own, non-zero as C706 requires. */
	if (offer.assoc_group != 0)
		c->assoc_group = offer.assoc_group;
	else if (c->assoc_group == 0)
		c->assoc_group = s->next_group++;

	struct buf pdu_out;
	buf_init(&pdu_out, CONN_BUF_MAX);
	/* Only a bind can be refused with bind_nak; an alter_context gets the
	 * ordinary answer then. */
	bool nak = h->cfg.fault == FAULT_BIND_NAK && offer.type == RPC_TYPE_BIND;
	bool reject = h->cfg.fault == FAULT_BIND_REJECT;
	if (nak)
		e = rpc_build_bind_nak(&pdu_out, offer.call_id, BIND_NAK_REASON);
	else if (reject)
		e = build_bind_reject(&pdu_out, &offer, h->cfg.port, c->assoc_group);
	else
		e = rpc_build_bind_ack(&pdu_out, &offer, h->cfg.port, c->assoc_group, FEATURE_BITS);
	if (e == RPC_OK && !nak) {
		/* Remember the contexts the answer accepted (the same test as
		 * rpc_build_bind_ack's), so that a request on any other one is
		 * refused as a real host would. */
		for (size_t i = reject ? 1 : 0; i < offer.n_items; i++) {
			const struct rpc_ctx_item *it = &offer.items[i];
			if (rpc_syntax_equal(&it->abstract, &rpc_syntax_kms) &&
			    rpc_syntax_equal(&it->transfer, &rpc_syntax_ndr32) &&
			    !conn_ctx_accepted(c, it->context_id) && c->n_ctx < RPC_MAX_ITEMS)
				c->ctx[c->n_ctx++] = it->context_id;
		}
	}
	int rc = -1;
	if (e != RPC_OK)
		sim_log("%s: cannot answer %s: %s", h->cfg.key, rpc_type_name(offer.type),
		        rpc_strerror(e));
	else
		rc = conn_queue(c, pdu_out.data, pdu_out.len, now, AFTER_KEEP);
	buf_free(&pdu_out);
	return rc;
}

/* The honest answer to a verified request (req) or, with req NULL, to a
 * request of a version no host knows: success or NULL-pointer refusal. */
static int
build_answer(struct host *h, const struct kms_host_request *req, uint32_t call_id, uint16_t ctx,
             struct buf *out)
{
	uint32_t hr = HR_OLD_HOST;
	uint32_t count = h->cfg.count;
	enum rpc_err e;
	if (req != NULL) {
		const struct product *p = host_product(h, req->kms_counted_id);
		hr = p != NULL && p->has_hresult ? p->hresult : h->cfg.hresult;
		count = p != NULL && p->has_count ? p->count : h->cfg.count;
		/* An old host understands v4, so that is answered normally. */
		if (hr == HR_OLD_HOST && req->version == 4)
			hr = 0;
	}
	if (hr != 0) {
		e = rpc_build_response_null(out, call_id, ctx, hr);
		if (e != RPC_OK) {
			sim_log("%s: cannot build refusal: %s", h->cfg.key, rpc_strerror(e));
			return -1;
		}
		if (req != NULL)
			sim_log("%s: v%u request refused with 0x%08" PRIX32, h->cfg.key,
			        req->version, hr);
		else
			sim_log("%s: request of unknown version refused with 0x%08" PRIX32,
			        h->cfg.key, hr);
		return 0;
	}

	/* req is not NULL here: without one, hr is HR_OLD_HOST. */
	struct kms_host_reply reply;
	memset(&reply, 0, sizeof(reply));
	reply.epid = h->cfg.epid;
	uint32_t served = host_serve(h, req->application_id, req->cmid);
	reply.count =
	    h->cfg.counting ? (count > UINT32_MAX - served ? UINT32_MAX : count + served) : count;
	reply.activation_interval = h->cfg.activation_interval;
	reply.renewal_interval = h->cfg.renewal_interval;
	memcpy(reply.hwid, h->cfg.hwid, sizeof(reply.hwid));
	reply.corrupt = h->cfg.corrupt;
	/* A corruption that does not exist in this version (bad-hmac on v4) is
	 * dropped rather than failing the connection; the log says so. */
	if (!kms_host_corruption_applies(reply.corrupt, req->version)) {
		sim_log("%s: %s does not apply to v%u; answering honestly", h->cfg.key,
		        kms_host_corruption_name(reply.corrupt), req->version);
		reply.corrupt = KMS_HOST_CORRUPT_NONE;
	}
	if (fill_random(reply.salt, sizeof(reply.salt)) == -1 ||
	    fill_random(reply.response_iv, sizeof(reply.response_iv)) == -1) {
		sim_log("getrandom: %s", strerror(errno));
		return -1;
	}
	struct buf kms;
	buf_init(&kms, CONN_BUF_MAX);
	enum kms_host_error ke = kms_host_build_response(req, &reply, &kms);
	e = ke == KMS_HOST_OK ? rpc_build_response(out, call_id, ctx, kms.data, kms.len, 0)
	                      : RPC_OK;
	buf_free(&kms);
	if (ke != KMS_HOST_OK || e != RPC_OK) {
		sim_log("%s: cannot build response: %s", h->cfg.key,
		        ke != KMS_HOST_OK ? kms_host_strerror(ke) : rpc_strerror(e));
		return -1;
	}
	sim_log("%s: v%u request from \"%s\", N %" PRIu32 ": count %" PRIu32, h->cfg.key,
	        req->version, req->machine_name, req->required_count, reply.count);
	return 0;
}

/* Queues the answer the host's fault calls for. */
static int
queue_answer(struct conn *c, const struct rpc_request *rq, const struct kms_host_request *req,
             int64_t now)
{
	struct host *h = c->host;
	int64_t at = now + h->cfg.delay_ms;
	uint32_t call_id = rq->call_id;
	struct buf pdu;
	int rc = 0;
	enum conn_after after = AFTER_KEEP;
	size_t send_len;

	buf_init(&pdu, CONN_BUF_MAX);
	switch (h->cfg.fault) {
	case FAULT_RESET:
		/* Nothing is sent: the reset is the answer. */
		c->write_at = at;
		c->after = AFTER_RESET;
		return 0;
	case FAULT_GARBAGE: {
		uint8_t junk[GARBAGE_LEN];
		rc = fill_random(junk, sizeof(junk));
		/* Random bytes could, very rarely, start a valid header; a first
		 * byte other than the RPC version 5 rules that out. */
		if (junk[0] == 5)
			junk[0] = 0xa5;
		buf_append(&pdu, junk, sizeof(junk));
		break;
	}
	case FAULT_OVERSIZE:
		/* A well-formed response header whose fragment length exceeds
		 * what the client offered to receive. */
		buf_put_u8(&pdu, 5);
		buf_put_u8(&pdu, 0);
		buf_put_u8(&pdu, RPC_TYPE_RESPONSE);
		buf_put_u8(&pdu, RPC_FLAG_FIRST | RPC_FLAG_LAST);
		buf_put_u32le(&pdu, 0x10);
		buf_put_u16le(&pdu, OVERSIZE_FRAG);
		buf_put_u16le(&pdu, 0);
		buf_put_u32le(&pdu, call_id);
		buf_put_zeros(&pdu, OVERSIZE_TAIL);
		break;
	case FAULT_RPC_FAULT:
		rc =
		    rpc_build_fault(&pdu, call_id, rq->context_id, FAULT_STATUS) == RPC_OK ? 0 : -1;
		break;
	case FAULT_WRONG_CALL_ID:
		call_id++;
		rc = build_answer(h, req, call_id, rq->context_id, &pdu);
		break;
	case FAULT_CLOSE_MID:
		rc = build_answer(h, req, call_id, rq->context_id, &pdu);
		after = AFTER_CLOSE;
		break;
	default:
		rc = build_answer(h, req, call_id, rq->context_id, &pdu);
		break;
	}
	if (rc == 0 && pdu.overflow)
		rc = -1;
	/* close-mid sends the first half of the PDU, whatever it is. */
	send_len = after == AFTER_CLOSE ? pdu.len / 2 : pdu.len;
	if (rc == 0)
		rc = conn_queue(c, pdu.data, send_len, at, after);
	if (rc == 0)
		h->st.answered++;
	buf_free(&pdu);
	return rc;
}

static int
handle_request(struct sim *s, struct conn *c, const uint8_t *pdu, size_t len, int64_t now)
{
	struct host *h = c->host;
	struct rpc_request rq;
	enum rpc_err e = rpc_parse_request(pdu, len, &rq);
	if (e != RPC_OK) {
		sim_log("%s: closing: bad request: %s", h->cfg.key, rpc_strerror(e));
		return -1;
	}
	if (!conn_ctx_accepted(c, rq.context_id)) {
		sim_log("%s: closing: request on context %u, which no bind accepted", h->cfg.key,
		        (unsigned)rq.context_id);
		return -1;
	}
	h->st.requests++;

	struct kms_host_request req;
	enum kms_host_error ke = kms_host_parse_request(rq.data, rq.len, &req);
	/* A request of an unknown version cannot be decrypted, so its CMID is
	 * unknown: like every other request not provably from the monitoring
	 * CMID, it gets no answer at all. */
	if (ke != KMS_HOST_OK) {
		sim_log("%s: closing: bad KMS request: %s", h->cfg.key, kms_host_strerror(ke));
		stats_write(s);
		return -1;
	}
	if (memcmp(req.cmid, s->cmid, KMS_GUID_SIZE) != 0) {
		char text[KMS_GUID_TEXT_SIZE];
		kms_guid_format(req.cmid, text);
		sim_log("%s: closing: foreign CMID %s", h->cfg.key, text);
		h->st.foreign++;
		stats_write(s);
		return -1;
	}
	struct host_stats *st = &h->st;
	st->versions[req.version - 4]++;
	st->seen = true;
	st->last_version = req.version;
	snprintf(st->last_workstation, sizeof(st->last_workstation), "%s", req.machine_name);
	st->last_required_count = req.required_count;
	memcpy(st->last_cmid, req.cmid, KMS_GUID_SIZE);
	memcpy(st->last_application_id, req.application_id, KMS_GUID_SIZE);
	memcpy(st->last_sku_id, req.sku_id, KMS_GUID_SIZE);
	memcpy(st->last_kms_counted_id, req.kms_counted_id, KMS_GUID_SIZE);

	int rc = queue_answer(c, &rq, &req, now);
	/* Written before any answer byte can leave (conn_flush runs after
	 * this), so a test that has the answer finds the file current. */
	stats_write(s);
	return rc;
}

/* Handles the next whole PDU in c's input. Returns 1 when one was handled, 0
 * when more input is needed, -1 when the connection is to be closed. */
static int
conn_next_pdu(struct sim *s, struct conn *c, int64_t now)
{
	struct host *h = c->host;
	struct rpc_header hdr;
	if (h->cfg.fault == FAULT_HANG) {
		c->in_len = 0;
		return 0;
	}
	if (c->in_len == 0)
		return 0;
	enum rpc_err e = rpc_parse_header(c->in, c->in_len, RPC_MAX_FRAG, &hdr);
	if (e == RPC_ERR_TRUNCATED)
		return 0;
	if (e != RPC_OK) {
		sim_log("%s: closing: %s", h->cfg.key, rpc_strerror(e));
		return -1;
	}
	if (hdr.frag_len > c->in_len)
		return 0;
	int rc;
	switch (hdr.type) {
	case RPC_TYPE_BIND:
	case RPC_TYPE_ALTER_CONTEXT:
		rc = handle_bind(s, c, c->in, hdr.frag_len, now);
		break;
	case RPC_TYPE_REQUEST:
		rc = handle_request(s, c, c->in, hdr.frag_len, now);
		break;
	default:
		sim_log("%s: closing: unexpected %s", h->cfg.key, rpc_type_name(hdr.type));
		return -1;
	}
	if (rc == -1)
		return -1;
	memmove(c->in, c->in + hdr.frag_len, c->in_len - hdr.frag_len);
	c->in_len -= hdr.frag_len;
	return 1;
}

/* The time after which c counts as idle: no I/O and nothing scheduled. */
static int64_t
conn_idle_deadline(const struct conn *c)
{
	int64_t t = c->last_io;
	if (conn_busy(c) && c->write_at > t)
		t = c->write_at;
	return t + IDLE_MS;
}

/* Reads what is there. Returns -1 on a connection error. */
static int
conn_read(struct conn *c, int64_t now)
{
	while (!c->eof && c->in_len < sizeof(c->in)) {
		ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (r == 0)
			c->eof = true;
		c->in_len += (size_t)r;
		c->last_io = now;
	}
	return 0;
}

/* Advances c as far as it can without blocking: answers whole PDUs one at a
 * time (the next waits until the previous answer is out) and sends what is
 * due. Returns -1 when c is to be closed. */
static int
conn_step(struct sim *s, struct conn *c, int64_t now)
{
	for (;;) {
		if (conn_busy(c)) {
			if (conn_flush(c, now) == -1)
				return -1;
			if (conn_busy(c))
				return 0;
		}
		int r = conn_next_pdu(s, c, now);
		if (r == -1)
			return -1;
		if (r == 0)
			break;
	}
	if (c->eof || now >= conn_idle_deadline(c))
		return -1;
	return 0;
}

static void
accept_all(struct sim *s, struct host *h, int64_t now)
{
	while (s->n_conns < MAX_CONNS) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				sim_log("%s: accept: %s", h->cfg.key, strerror(errno));
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			sim_log("out of memory");
			close(fd);
			return;
		}
		c->fd = fd;
		c->host = h;
		c->last_io = now;
		c->write_at = now;
		buf_init(&c->out, CONN_BUF_MAX);
		size_t slot = 0;
		while (s->conns[slot] != NULL)
			slot++;
		s->conns[slot] = c;
		s->n_conns++;
	}
}

/* Applies the configuration in the file: keeps the listeners (and counting
 * state) of hosts whose address stays, opens new ones, closes removed ones.
 * All or nothing: on any failure the running configuration is untouched.
 * Returns 0, -1 for a bad file, -2 when a listener cannot be opened. */
static int
sim_configure(struct sim *s, char *err)
{
	struct config *cfg = config_load(s->config_path, err);
	if (cfg == NULL)
		return -1;
	struct host *next[MAX_HOSTS] = {0};
	int rc = 0;
	for (size_t i = 0; i < cfg->n_hosts && rc == 0; i++) {
		for (size_t j = 0; j < s->n_hosts; j++)
			if (strcmp(s->hosts[j]->cfg.key, cfg->hosts[i].key) == 0)
				next[i] = s->hosts[j];
		if (next[i] != NULL)
			continue;
		struct host *h = calloc(1, sizeof(*h));
		if (h == NULL) {
			cfg_err(err, "out of memory");
			rc = -2;
			break;
		}
		h->fd = listener_open(&cfg->hosts[i]);
		if (h->fd == -1) {
			cfg_err(err, "%s: %s", cfg->hosts[i].key, strerror(errno));
			free(h);
			rc = -2;
			break;
		}
		next[i] = h;
	}
	if (rc != 0) {
		/* Undo: close only the listeners opened just now. */
		for (size_t i = 0; i < cfg->n_hosts; i++) {
			bool old = false;
			for (size_t j = 0; j < s->n_hosts; j++)
				old |= next[i] == s->hosts[j];
			if (next[i] != NULL && !old) {
				close(next[i]->fd);
				free(next[i]);
			}
		}
		free(cfg);
		return rc;
	}
	for (size_t j = 0; j < s->n_hosts; j++) {
		struct host *h = s->hosts[j];
		bool kept = false;
		for (size_t i = 0; i < cfg->n_hosts; i++)
			kept |= next[i] == h;
		if (kept)
			continue;
		for (size_t k = 0; k < MAX_CONNS; k++)
			if (s->conns[k] != NULL && s->conns[k]->host == h)
				conn_close(s, k);
		close(h->fd);
		free(h);
	}
	for (size_t i = 0; i < cfg->n_hosts; i++) {
		next[i]->cfg = cfg->hosts[i];
		s->hosts[i] = next[i];
	}
	s->n_hosts = cfg->n_hosts;
	free(cfg);
	stats_write(s);
	return 0;
}

static void
sim_free(struct sim *s)
{
	for (size_t k = 0; k < MAX_CONNS; k++)
		if (s->conns[k] != NULL)
			conn_close(s, k);
	for (size_t i = 0; i < s->n_hosts; i++) {
		close(s->hosts[i]->fd);
		free(s->hosts[i]);
	}
	s->n_hosts = 0;
	free(s->stats_tmp);
}

/* Returns the exit status: 0 on SIGTERM or SIGINT, 1 on a failure. */
static int
sim_run(struct sim *s, int sigfd)
{
	struct pollfd pfd[1 + MAX_HOSTS + MAX_CONNS];
	struct host *pfd_host[1 + MAX_HOSTS + MAX_CONNS];
	size_t pfd_conn[1 + MAX_HOSTS + MAX_CONNS];

	for (;;) {
		int64_t now = now_ms();
		int64_t deadline = INT64_MAX;
		nfds_t n = 0;
		pfd[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
		pfd_host[n] = NULL;
		pfd_conn[n++] = MAX_CONNS;
		/* At the connection cap, new connections wait in the backlog. */
		for (size_t i = 0; i < s->n_hosts && s->n_conns < MAX_CONNS; i++) {
			pfd[n] = (struct pollfd){.fd = s->hosts[i]->fd, .events = POLLIN};
			pfd_host[n] = s->hosts[i];
			pfd_conn[n++] = MAX_CONNS;
		}
		for (size_t k = 0; k < MAX_CONNS; k++) {
			struct conn *c = s->conns[k];
			if (c == NULL)
				continue;
			short ev = 0;
			if (!c->eof && c->in_len < sizeof(c->in))
				ev |= POLLIN;
			if (conn_busy(c)) {
				if (c->write_at <= now && c->out_off < c->out.len)
					ev |= POLLOUT;
				else if (c->write_at < deadline)
					deadline = c->write_at;
			}
			int64_t idle = conn_idle_deadline(c);
			if (idle < deadline)
				deadline = idle;
			pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
			pfd_host[n] = NULL;
			pfd_conn[n++] = k;
		}
		int timeout = -1;
		if (deadline != INT64_MAX)
			timeout = deadline <= now
			              ? 0
			              : (int)(deadline - now < 60000 ? deadline - now : 60000);
		if (poll(pfd, n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			sim_log("poll: %s", strerror(errno));
			return 1;
		}
		now = now_ms();

		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				if (si.ssi_signo != SIGHUP)
					return 0;
				char err[ERR_MAX];
				if (sim_configure(s, err) != 0) {
					sim_log("reload failed, configuration unchanged: %s", err);
					continue;
				}
				printf("reloaded\n");
				fflush(stdout);
			}
			/* A reload may have closed connections and listeners that
			 * the rest of this round's results refer to. */
			continue;
		}
		for (nfds_t i = 1; i < n; i++) {
			if (pfd_host[i] != NULL && (pfd[i].revents & POLLIN))
				accept_all(s, pfd_host[i], now);
			if (pfd_conn[i] == MAX_CONNS)
				continue;
			size_t k = pfd_conn[i];
			struct conn *c = s->conns[k];
			if (c == NULL)
				continue;
			/* POLLHUP and POLLERR mean nothing can be sent any more. */
			if ((pfd[i].revents & (POLLHUP | POLLERR)) != 0 ||
			    ((pfd[i].revents & POLLIN) != 0 && conn_read(c, now) == -1) ||
			    conn_step(s, c, now) == -1)
				conn_close(s, k);
		}
	}
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"cmid", required_argument, NULL, 'c'},
	    {"config", required_argument, NULL, 'f'},
	    {"stats", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sim s;
	const char *cmid = NULL;
	int opt;

	memset(&s, 0, sizeof(s));
	s.next_group = ASSOC_GROUP_BASE;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			cmid = optarg;
			break;
		case 'f':
			s.config_path = optarg;
			break;
		case 's':
			s.stats_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || cmid == NULL || s.config_path == NULL) {
		usage(stderr);
		return 2;
	}
	if (kms_guid_parse(cmid, s.cmid) == -1) {
		sim_log("--cmid %s: not a GUID", cmid);
		return 2;
	}
	if (s.stats_path != NULL) {
		size_t n = strlen(s.stats_path) + sizeof(".tmp");
		s.stats_tmp = malloc(n);
		if (s.stats_tmp == NULL) {
			sim_log("out of memory");
			return 1;
		}
		snprintf(s.stats_tmp, n, "%s.tmp", s.stats_path);
	}

	/* Signals arrive through a descriptor so that a reload runs inside the
	 * loop, never between two halves of a connection's update. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	int sigfd = -1;
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		sim_log("signalfd: %s", strerror(errno));
		free(s.stats_tmp);
		return 1;
	}

	char err[ERR_MAX];
	int rc = sim_configure(&s, err);
	if (rc != 0) {
		sim_log("%s", err);
		sim_free(&s);
		close(sigfd);
		return rc == -1 ? 2 : 1;
	}
	printf("ready\n");
	fflush(stdout);
	rc = sim_run(&s, sigfd);
	sim_free(&s);
	close(sigfd);
	return rc;
}
