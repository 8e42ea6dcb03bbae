/*
 * The configuration; see config.h.
 *
 * Loading has two steps. libyaml's event parser first builds a small tree of
 * nodes that remember their positions; anchors, aliases, tags, deep nesting and
 * extra documents are refused there. A walk over per-section key tables then
 * checks and converts each value into struct config. Adding a key means adding
 * a row to a table and a load and a print function.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "kmswatch/config.h"
#include "kmswatch/kmscrypto.h"
#include "kmswatch/log.h"
#include "kmswatch/xmalloc.h"
#include "kmswatch/products.h"

#define CONFIG_MAX_DEPTH         64 /* nested lists and mappings; ours need three */
#define CONFIG_MAX_LOCAL_DOMAINS 32
#define SECTION_MAX_KEYS         32
#define QUOTE_LEN                96 /* a value quoted in an error message */
#define ERRORS_MAX_BYTES         (64 * 1024)
#define RESOLV_CONF              "/etc/resolv.conf"
#define GUID_BUF                 (CONFIG_GUID_LEN + 1)
#define GUID_ZERO                "00000000-0000-0000-0000-000000000000"
#define CMID_PREFIX              "kmswatch-cmid:"
#define MACHINE_ID_LEN           32
#define WORKSTATION_PREFIX       "kmswatch"
#define DROP_WINDOW_MAX_MS       (90ULL * 24 * 3600 * 1000)
#define DROP_WINDOW_MAX_TEXT     "90d"
#define AM_ALERTS_PATH           "/api/v2/alerts" /* what the agent adds to each URL */

#define WHAT_DURATION "a duration (like 30s, 5m, 1h)"
#define WHAT_INTEGER  "an integer"
#define WHAT_LIST     "a list (like [a, b])"
#define WHAT_MAPPING  "a mapping (key: value lines)"
#define WHAT_GUID     "a GUID (8-4-4-4-12 hex digits)"
#define WHAT_NUMBER   "a number (like 0.2)"
#define WHAT_URL      "an http:// or https:// URL"
#define GUID_EXAMPLE  "like 55c92734-d682-4d71-983e-d6ec3f16059f"

/* Where "identity.cmid: auto" looks for the machine id, in this order. */
static const char *const machine_id_files[] = {"/etc/machine-id", "/var/lib/dbus/machine-id"};
#define N_MACHINE_ID_FILES (sizeof(machine_id_files) / sizeof(machine_id_files[0]))

/* The products probed when the configuration names none. */
static const char *const default_products[] = {"windows-10-11", "windows-server-2022",
                                               "office-ltsc-2021"};
#define N_DEFAULT_PRODUCTS (sizeof(default_products) / sizeof(default_products[0]))

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char
to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Durations. */

struct duration_unit {
	const char *name;
	uint64_t ms;
};

/* Largest first: parsing requires this order, like Prometheus, and printing
 * follows it. */
static const struct duration_unit duration_units[] = {
    {"w", 7ULL * 24 * 3600 * 1000},
    {"d", 24ULL * 3600 * 1000},
    {"h", 3600ULL * 1000},
    {"m", 60ULL * 1000},
    {"s", 1000},
    {"ms", 1},
};
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int
config_parse_duration(const char *s, uint64_t *ms)
{
	if (s == NULL || *s == '\0')
		return -1;
	/* A bare zero is unambiguous, and Prometheus accepts it too. */
	if (strcmp(s, "0") == 0) {
		*ms = 0;
		return 0;
	}
	uint64_t total = 0;
	size_t next_unit = 0;
	const char *p = s;
	while (*p != '\0') {
		if (!is_digit(*p))
			return -1;
		uint64_t n = 0;
		for (; is_digit(*p); p++) {
			uint64_t d = (uint64_t)(*p - '0');
			if (n > (UINT64_MAX - d) / 10)
				return -1;
			n = n * 10 + d;
		}
		/* The unit is the run of letters that follows, matched exactly; units
		 * must come largest first and at most once each. */
		size_t ulen = 0, u;
		while (p[ulen] >= 'a' && p[ulen] <= 'z')
			ulen++;
		for (u = next_unit; u < N_DURATION_UNITS; u++)
			if (strlen(duration_units[u].name) == ulen &&
			    strncmp(p, duration_units[u].name, ulen) == 0)
				break;
		if (u == N_DURATION_UNITS)
			return -1;
		p += ulen;
		next_unit = u + 1;
		uint64_t mult = duration_units[u].ms;
		if (n > UINT64_MAX / mult || total > UINT64_MAX - n * mult)
			return -1;
		total += n * mult;
	}
	*ms = total;
	return 0;
}

void
config_format_duration(uint64_t ms, char *out, size_t len)
{
	if (len == 0)
		return;
	out[0] = '\0';
	if (ms == 0) {
		snprintf(out, len, "0s");
		return;
	}
	size_t off = 0;
	for (size_t u = 0; u < N_DURATION_UNITS && off < len; u++) {
		uint64_t q = ms / duration_units[u].ms;
		if (q == 0)
			continue;
		ms -= q * duration_units[u].ms;
		int n = snprintf(out + off, len - off, "%llu%s", (unsigned long long)q,
		                 duration_units[u].name);
		if (n < 0)
			return;
		off += (size_t)n;
	}
}

/* Names and addresses. */

int
config_normalize_dns_name(const char *s, char *out, size_t len)
{
	if (s == NULL || out == NULL)
		return -1;
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n >= len)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (is_alnum(s[i]) || s[i] == '-' || s[i] == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
	}
	if (label == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = to_lower(s[i]);
	out[n] = '\0';
	return 0;
}

/* A port of 1..65535 in decimal digits and nothing else. */
static int
port_parse(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit(*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

enum host_kind { HOST_NAME, HOST_IPV4, HOST_IPV6 };

/* config_parse_hostport, also telling what kind of host it found. A
 * default_port of 0 makes the port mandatory. */
static int
hostport_parse(const char *s, uint16_t default_port, char **host, uint16_t *port,
               enum host_kind *kind)
{
	char tmp[256], canon[256];
	const char *h = s, *p = NULL;
	size_t hlen;
	bool v6 = false;

	*host = NULL;
	if (s == NULL || *s == '\0')
		return -1;
	for (const char *q = s; *q != '\0'; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return -1;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL)
			return -1;
		h = s + 1;
		hlen = (size_t)(end - h);
		v6 = true;
		if (end[1] == ':')
			p = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* Two colons or more: a bare IPv6 literal, which has no port. */
			hlen = strlen(s);
			v6 = true;
		} else if (colon != NULL) {
			hlen = (size_t)(colon - s);
			p = colon + 1;
		} else {
			hlen = strlen(s);
		}
	}
	if (hlen == 0 || hlen >= sizeof(tmp))
		return -1;
	memcpy(tmp, h, hlen);
	tmp[hlen] = '\0';
	if (strpbrk(tmp, "[]") != NULL)
		return -1;

	uint16_t pt = default_port;
	if (p != NULL) {
		if (port_parse(p, &pt) == -1)
			return -1;
	} else if (default_port == 0) {
		return -1;
	}

	struct in6_addr a6;
	struct in_addr a4;
	if (v6) {
		if (inet_pton(AF_INET6, tmp, &a6) != 1 ||
		    inet_ntop(AF_INET6, &a6, canon, sizeof(canon)) == NULL)
			return -1;
		*kind = HOST_IPV6;
	} else if (inet_pton(AF_INET, tmp, &a4) == 1) {
		if (inet_ntop(AF_INET, &a4, canon, sizeof(canon)) == NULL)
			return -1;
		*kind = HOST_IPV4;
	} else {
		if (config_normalize_dns_name(tmp, canon, sizeof(canon)) == -1)
			return -1;
		/* An all-numeric last label is a mistyped address ("10.0.0.256"),
		 * never a top-level domain. */
		const char *last = strrchr(canon, '.');
		last = last != NULL ? last + 1 : canon;
		if (strspn(last, "0123456789") == strlen(last))
			return -1;
		*kind = HOST_NAME;
	}
	*host = xstrdup(canon);
	*port = pt;
	return 0;
}

int
config_parse_hostport(const char *s, uint16_t default_port, char **host, uint16_t *port)
{
	enum host_kind kind;
	return hostport_parse(s, default_port, host, port, &kind);
}

/* "host:port", with IPv6 literals in brackets; malloc'd. */
static char *
hostport_format(const char *host, uint16_t port)
{
	char s[300];
	if (strchr(host, ':') != NULL)
		snprintf(s, sizeof(s), "[%s]:%u", host, (unsigned)port);
	else
		snprintf(s, sizeof(s), "%s:%u", host, (unsigned)port);
	return xstrdup(s);
}

/* The machine's domains. */

/* Adds a name to out unless it is invalid, already there or out is full. */
static void
local_add(const char *name, char **out, size_t *n, size_t max)
{
	char norm[256];
	if (*n >= max || config_normalize_dns_name(name, norm, sizeof(norm)) == -1)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(out[i], norm) == 0)
			return;
	out[(*n)++] = xstrdup(norm);
}

/* Adds the whitespace-separated words of s, or only the first one. */
static void
local_add_words(const char *s, bool first_only, char **out, size_t *n, size_t max)
{
	char word[256];
	while (*s != '\0') {
		s += strspn(s, " \t\r\n");
		size_t w = strcspn(s, " \t\r\n");
		if (w == 0)
			break;
		if (w < sizeof(word)) {
			memcpy(word, s, w);
			word[w] = '\0';
			local_add(word, out, n, max);
		}
		if (first_only)
			break;
		s += w;
	}
}

/* The words after keyword on a resolv.conf line, or NULL. */
static const char *
resolv_value(const char *line, const char *keyword)
{
	size_t k = strlen(keyword);
	if (strncmp(line, keyword, k) != 0 || (line[k] != ' ' && line[k] != '\t'))
		return NULL;
	return line + k;
}

size_t
config_local_domains_from(const char *resolv_conf, const char *hostname, char **out, size_t max)
{
	char search[1024] = "", domain[1024] = "";
	bool have_search = false, have_domain = false;
	size_t n = 0;

	FILE *f = resolv_conf != NULL ? fopen(resolv_conf, "re") : NULL;
	if (f != NULL) {
		char line[1024];
		while (fgets(line, sizeof(line), f) != NULL) {
			size_t l = strlen(line);
			if (l > 0 && line[l - 1] != '\n' && !feof(f)) {
				/* Too long for a line we care about: skip the rest. */
				int c;
				while ((c = fgetc(f)) != EOF && c != '\n')
					;
				continue;
			}
			/* The last line of each kind wins, as for the resolver. */
			const char *v;
			if ((v = resolv_value(line, "search")) != NULL) {
				snprintf(search, sizeof(search), "%s", v);
				have_search = true;
			} else if ((v = resolv_value(line, "domain")) != NULL) {
				snprintf(domain, sizeof(domain), "%s", v);
				have_domain = true;
			}
		}
		fclose(f);
	}
	if (have_search)
		local_add_words(search, false, out, &n, max);
	if (have_domain)
		local_add_words(domain, true, out, &n, max);
	if (n > 0)
		return n;

	char name[HOST_NAME_MAX + 1];
	if (hostname == NULL) {
		if (gethostname(name, sizeof(name)) == -1)
			return 0;
		name[sizeof(name) - 1] = '\0';
		hostname = name;
	}
	const char *dot = strchr(hostname, '.');
	if (dot != NULL)
		local_add(dot + 1, out, &n, max);
	return n;
}

size_t
config_local_domains(char **out, size_t max)
{
	return config_local_domains_from(RESOLV_CONF, NULL, out, max);
}

/* The node tree. */

enum node_kind { NODE_SCALAR, NODE_LIST, NODE_MAP, NODE_BAD };

struct node {
	enum node_kind kind; /* NODE_BAD: an alias, already reported */
	size_t line, col;    /* 1-based */
	char *value;         /* scalars */
	bool null;           /* plain "", "~" or "null": the key counts as absent */
	struct node **items; /* lists: entries; mappings: key, value, key, value... */
	size_t n_items, cap_items;
	size_t dropped; /* entries past CONFIG_MAX_LIST, counted but not kept */
};

static struct node *
node_new(enum node_kind kind, const yaml_mark_t *mark)
{
	struct node *n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = mark->line + 1;
	n->col = mark->column + 1;
	return n;
}

/* Recursion is bounded by CONFIG_MAX_DEPTH. */
static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n_items; i++)
		node_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

static const char *
node_kind_name(const struct node *n)
{
	switch (n->kind) {
	case NODE_LIST:
		return "a list";
	case NODE_MAP:
		return "a mapping";
	case NODE_SCALAR:
	case NODE_BAD:
		break;
	}
	return "a scalar";
}

/* Loading. */

/* A product mapping while it is walked: what each key gave. */
struct product_draft {
	const char *name; /* the node's text, NULL until given */
	bool has_app, has_app_id, has_sku_id, has_kms_id, has_count, has_protocol;
	enum product_app app;
	char app_id[GUID_BUF], sku_id[GUID_BUF], kms_id[GUID_BUF];
	unsigned required_count, protocol;
};

struct loader {
	const char *name; /* the file name in messages */
	struct config *c; /* being filled */
	struct buf *errors;
	struct buf shown; /* the first CONFIG_MAX_ERRORS - 1 messages */
	struct buf last;  /* the next one, shown only if no more follow */
	size_t n_errors;
	const struct node *interval_node, *timeout_node;
	const struct node *cmid_node;         /* "auto" given explicitly */
	const struct node *external_url_node; /* "" given explicitly */
	bool resolvers_set, domains_set, listen_set, products_set;
	struct product_draft *draft; /* the product mapping being walked */
};

static void loader_verror(struct loader *l, size_t line, size_t col, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
loader_verror(struct loader *l, size_t line, size_t col, const char *fmt, va_list ap)
{
	l->n_errors++;
	if (l->n_errors > CONFIG_MAX_ERRORS)
		return;
	struct buf *b = l->n_errors < CONFIG_MAX_ERRORS ? &l->shown : &l->last;
	if (line > 0)
		buf_printf(b, "%s:%zu:%zu: ", l->name, line, col);
	else
		buf_printf(b, "%s: ", l->name);
	buf_vprintf(b, fmt, ap);
	buf_putc(b, '\n');
}

static void loader_error(struct loader *l, size_t line, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
loader_error(struct loader *l, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	loader_verror(l, line, col, fmt, ap);
	va_end(ap);
}

static void node_error(struct loader *l, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
node_error(struct loader *l, const struct node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	loader_verror(l, n->line, n->col, fmt, ap);
	va_end(ap);
}

/* Hands the collected messages to the caller, at most CONFIG_MAX_ERRORS lines. */
static void
loader_flush(struct loader *l)
{
	if (l->errors != NULL && l->n_errors > 0) {
		buf_append(l->errors, l->shown.data != NULL ? l->shown.data : (const uint8_t *)"",
		           l->shown.len);
		if (l->n_errors <= CONFIG_MAX_ERRORS)
			buf_append(l->errors,
			           l->last.data != NULL ? l->last.data : (const uint8_t *)"",
			           l->last.len);
		else
			buf_printf(l->errors, "%s: too many errors, %zu more not shown\n", l->name,
			           l->n_errors - (CONFIG_MAX_ERRORS - 1));
	}
	buf_free(&l->shown);
	buf_free(&l->last);
}

/* s quoted for a message: escaped, and cut when long. */
static const char *
quote_value(const char *s, char *out, size_t len)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 8 >= len) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* "a list", "a mapping" or the quoted scalar, for "expected X, got Y". */
static const char *
node_describe(const struct node *n, char *out, size_t len)
{
	if (n->kind == NODE_SCALAR)
		return quote_value(n->value, out, len);
	snprintf(out, len, "%s", node_kind_name(n));
	return out;
}

/* The byte at a (0-based) line and column, counting UTF-8 characters. */
static int
text_char_at(const char *text, size_t len, size_t line, size_t col)
{
	size_t i = 0;
	for (; i < len && line > 0; i++)
		if (text[i] == '\n')
			line--;
	for (; i < len; i++) {
		if (((unsigned char)text[i] & 0xc0) == 0x80)
			continue;
		if (col-- == 0)
			return (unsigned char)text[i];
	}
	return -1;
}

static void
yaml_error_report(struct loader *l, const yaml_parser_t *p, const char *text, size_t len)
{
	const char *problem = p->problem != NULL ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		fatalx("config: out of memory");
	case YAML_READER_ERROR: {
		/* Reader errors carry a byte offset, not a mark. */
		size_t line = 1, col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (text[i] == '\n') {
				line++;
				col = 1;
			} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		loader_error(l, line, col, "invalid YAML: %s", problem);
		return;
	}
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		break;
	default:
		loader_error(l, 0, 0, "invalid YAML: %s", problem);
		return;
	}

	const yaml_mark_t *pm = &p->problem_mark, *cm = &p->context_mark;
	const char *hint = "";
	if (text_char_at(text, len, pm->line, pm->column) == '\t' && strstr(problem, "tab") == NULL)
		hint = " (tabs are not allowed in indentation)";
	if (p->context == NULL)
		loader_error(l, pm->line + 1, pm->column + 1, "invalid YAML: %s%s", problem, hint);
	else if (cm->line == pm->line && cm->column == pm->column)
		loader_error(l, pm->line + 1, pm->column + 1, "invalid YAML: %s (%s)%s", problem,
		             p->context, hint);
	else
		loader_error(l, pm->line + 1, pm->column + 1,
		             "invalid YAML: %s (%s at line %zu, column %zu)%s", problem, p->context,
		             cm->line + 1, cm->column + 1, hint);
}

/* Anchors and aliases are refused: they make one node appear in several places,
 * which no key of ours needs and which makes positions in messages ambiguous.
 * Tags would change how a value is read, which we do not support either.
 * libyaml allows only [0-9A-Za-z_-] in anchor names, so they are shown as is. */
static void
properties_check(struct loader *l, const yaml_mark_t *mark, const yaml_char_t *anchor,
                 const yaml_char_t *tag)
{
	char q[QUOTE_LEN];
	if (anchor != NULL)
		loader_error(l, mark->line + 1, mark->column + 1,
		             "anchors and aliases are not supported (found anchor &%s)",
		             (const char *)anchor);
	if (tag != NULL)
		loader_error(l, mark->line + 1, mark->column + 1,
		             "tags are not supported (found tag %s)",
		             quote_value((const char *)tag, q, sizeof(q)));
}

static struct node *
scalar_from_event(struct loader *l, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	struct node *n = node_new(NODE_SCALAR, &ev->start_mark);

	properties_check(l, &ev->start_mark, ev->data.scalar.anchor, ev->data.scalar.tag);
	if (memchr(v, '\0', len) != NULL) {
		node_error(l, n, "NUL characters are not allowed");
		n->kind = NODE_BAD;
		return n;
	}
	n->value = xcalloc(len + 1, 1);
	memcpy(n->value, v, len);
	n->null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	          (len == 0 || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	           strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0);
	return n;
}

struct builder {
	struct node *stack[CONFIG_MAX_DEPTH]; /* open lists and mappings */
	size_t depth;
	struct node *root;
};

/* Adds a finished node to the open container, or makes it the root. Entries
 * past CONFIG_MAX_LIST are only counted, which bounds memory; the walk reports
 * them. */
static void
builder_attach(struct builder *b, struct node *n)
{
	if (b->depth == 0) {
		node_free(b->root);
		b->root = n;
		return;
	}
	struct node *parent = b->stack[b->depth - 1];
	size_t limit = parent->kind == NODE_MAP ? 2 * (size_t)CONFIG_MAX_LIST : CONFIG_MAX_LIST;
	if (parent->n_items >= limit) {
		parent->dropped++;
		node_free(n);
		return;
	}
	if (parent->n_items == parent->cap_items) {
		parent->cap_items = parent->cap_items > 0 ? parent->cap_items * 2 : 8;
		parent->items =
		    xreallocarray(parent->items, parent->cap_items, sizeof(*parent->items));
	}
	parent->items[parent->n_items++] = n;
}

/* Parses the text into *root (NULL for an empty stream). Returns -1 when the
 * tree is unusable (syntax error, nesting too deep); other problems are
 * reported and leave NODE_BAD nodes that the walk skips. */
static int
tree_load(struct loader *l, const char *text, size_t len, struct node **root)
{
	yaml_parser_t parser;
	struct builder b = {.depth = 0, .root = NULL};
	int documents = 0, rc = -1;
	bool done = false;

	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		fatalx("config: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			yaml_error_report(l, &parser, text, len);
			goto out;
		}
		const yaml_mark_t *m = &ev.start_mark;
		struct node *n;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				loader_error(l, m->line + 1, m->column + 1,
				             "more than one document (a configuration is one "
				             "YAML document)");
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			loader_error(l, m->line + 1, m->column + 1,
			             "anchors and aliases are not supported (found alias *%s)",
			             (const char *)ev.data.alias.anchor);
			builder_attach(&b, node_new(NODE_BAD, m));
			break;
		case YAML_SCALAR_EVENT:
			builder_attach(&b, scalar_from_event(l, &ev));
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (b.depth == CONFIG_MAX_DEPTH) {
				loader_error(l, m->line + 1, m->column + 1,
				             "nesting too deep (more than %d levels)",
				             CONFIG_MAX_DEPTH);
				yaml_event_delete(&ev);
				goto out;
			}
			if (ev.type == YAML_SEQUENCE_START_EVENT) {
				properties_check(l, m, ev.data.sequence_start.anchor,
				                 ev.data.sequence_start.tag);
				n = node_new(NODE_LIST, m);
			} else {
				properties_check(l, m, ev.data.mapping_start.anchor,
				                 ev.data.mapping_start.tag);
				n = node_new(NODE_MAP, m);
			}
			b.stack[b.depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (b.depth > 0) {
				n = b.stack[--b.depth];
				builder_attach(&b, n);
			}
			break;
		case YAML_NO_EVENT:
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		}
		yaml_event_delete(&ev);
	}
	rc = 0;
out:
	/* Open containers are not attached to their parents yet. */
	while (b.depth > 0)
		node_free(b.stack[--b.depth]);
	yaml_parser_delete(&parser);
	if (rc == -1) {
		node_free(b.root);
		b.root = NULL;
	}
	*root = b.root;
	return rc;
}

/* The key tables. */

struct key_spec {
	const char *key;
	enum node_kind want; /* what the value must be */
	const char *what;    /* ... in words, for messages */
	void (*load)(struct loader *l, const struct node *n, const char *path);
	/* Writes what follows "key:", including the line end. */
	void (*print)(const struct config *c, struct buf *out, int indent);
	/* NODE_MAP: its keys, ending with a NULL key. A section key may have a
	 * load function too, which then walks the section itself (for checks
	 * across its keys). */
	const struct key_spec *section;
};

static void load_interval(struct loader *, const struct node *, const char *);
static void load_timeout(struct loader *, const struct node *, const char *);
static void load_concurrency(struct loader *, const struct node *, const char *);
static void load_resolvers(struct loader *, const struct node *, const char *);
static void load_domains(struct loader *, const struct node *, const char *);
static void load_hosts(struct loader *, const struct node *, const char *);
static void load_listen(struct loader *, const struct node *, const char *);
static void load_probe_interval(struct loader *, const struct node *, const char *);
static void load_cmid(struct loader *, const struct node *, const char *);
static void load_workstation(struct loader *, const struct node *, const char *);
static void load_products(struct loader *, const struct node *, const char *);
static void load_product_name(struct loader *, const struct node *, const char *);
static void load_product_application(struct loader *, const struct node *, const char *);
static void load_product_application_id(struct loader *, const struct node *, const char *);
static void load_product_sku_id(struct loader *, const struct node *, const char *);
static void load_product_kms_counted_id(struct loader *, const struct node *, const char *);
static void load_product_required_count(struct loader *, const struct node *, const char *);
static void load_product_protocol(struct loader *, const struct node *, const char *);
static void load_count_drop(struct loader *, const struct node *, const char *);
static void load_drop_min(struct loader *, const struct node *, const char *);
static void load_drop_ratio(struct loader *, const struct node *, const char *);
static void load_drop_window(struct loader *, const struct node *, const char *);
static void load_count_margin(struct loader *, const struct node *, const char *);
static void load_max_hosts(struct loader *, const struct node *, const char *);
static void load_stale_after(struct loader *, const struct node *, const char *);
static void load_resend_interval(struct loader *, const struct node *, const char *);
static void load_resolved_retention(struct loader *, const struct node *, const char *);
static void load_alertmanager_urls(struct loader *, const struct node *, const char *);
static void load_alertmanager_timeout(struct loader *, const struct node *, const char *);
static void load_state_file(struct loader *, const struct node *, const char *);
static void load_external_url(struct loader *, const struct node *, const char *);
static void print_interval(const struct config *, struct buf *, int);
static void print_timeout(const struct config *, struct buf *, int);
static void print_concurrency(const struct config *, struct buf *, int);
static void print_resolvers(const struct config *, struct buf *, int);
static void print_domains(const struct config *, struct buf *, int);
static void print_hosts(const struct config *, struct buf *, int);
static void print_listen(const struct config *, struct buf *, int);
static void print_probe_interval(const struct config *, struct buf *, int);
static void print_cmid(const struct config *, struct buf *, int);
static void print_workstation(const struct config *, struct buf *, int);
static void print_products(const struct config *, struct buf *, int);
static void print_drop_min(const struct config *, struct buf *, int);
static void print_drop_ratio(const struct config *, struct buf *, int);
static void print_drop_window(const struct config *, struct buf *, int);
static void print_count_margin(const struct config *, struct buf *, int);
static void print_max_hosts(const struct config *, struct buf *, int);
static void print_stale_after(const struct config *, struct buf *, int);
static void print_resend_interval(const struct config *, struct buf *, int);
static void print_resolved_retention(const struct config *, struct buf *, int);
static void print_alertmanager_urls(const struct config *, struct buf *, int);
static void print_alertmanager_timeout(const struct config *, struct buf *, int);
static void print_state_file(const struct config *, struct buf *, int);
static void print_external_url(const struct config *, struct buf *, int);

static const struct key_spec dns_keys[] = {
    {"resolvers", NODE_LIST, WHAT_LIST, load_resolvers, print_resolvers, NULL},
    {"domains", NODE_LIST, WHAT_LIST, load_domains, print_domains, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static const struct key_spec web_keys[] = {
    {"listen", NODE_LIST, WHAT_LIST, load_listen, print_listen, NULL},
    {"external_url", NODE_SCALAR, WHAT_URL " or \"\"", load_external_url, print_external_url, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static const struct key_spec count_drop_keys[] = {
    {"min", NODE_SCALAR, WHAT_INTEGER, load_drop_min, print_drop_min, NULL},
    {"ratio", NODE_SCALAR, WHAT_NUMBER, load_drop_ratio, print_drop_ratio, NULL},
    {"window", NODE_SCALAR, WHAT_DURATION, load_drop_window, print_drop_window, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static const struct key_spec alerts_keys[] = {
    {"count_drop", NODE_MAP, WHAT_MAPPING, load_count_drop, NULL, count_drop_keys},
    {"count_margin", NODE_SCALAR, WHAT_INTEGER, load_count_margin, print_count_margin, NULL},
    {"max_hosts", NODE_SCALAR, WHAT_INTEGER, load_max_hosts, print_max_hosts, NULL},
    {"stale_after", NODE_SCALAR, WHAT_INTEGER, load_stale_after, print_stale_after, NULL},
    {"resend_interval", NODE_SCALAR, WHAT_DURATION, load_resend_interval, print_resend_interval,
     NULL},
    {"resolved_retention", NODE_SCALAR, WHAT_DURATION, load_resolved_retention,
     print_resolved_retention, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static const struct key_spec alertmanager_keys[] = {
    {"urls", NODE_LIST, WHAT_LIST, load_alertmanager_urls, print_alertmanager_urls, NULL},
    {"timeout", NODE_SCALAR, WHAT_DURATION, load_alertmanager_timeout, print_alertmanager_timeout,
     NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static const struct key_spec identity_keys[] = {
    {"cmid", NODE_SCALAR, "\"auto\" or " WHAT_GUID, load_cmid, print_cmid, NULL},
    {"workstation", NODE_SCALAR, "\"auto\" or a name", load_workstation, print_workstation, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

/* The keys of one product mapping in the products list. They load into
 * loader.draft; print_products() writes products itself. */
static const struct key_spec product_keys[] = {
    {"name", NODE_SCALAR, "a product name", load_product_name, NULL, NULL},
    {"application", NODE_SCALAR, "windows, office-2010 or office-2013+", load_product_application,
     NULL, NULL},
    {"application_id", NODE_SCALAR, WHAT_GUID, load_product_application_id, NULL, NULL},
    {"sku_id", NODE_SCALAR, WHAT_GUID, load_product_sku_id, NULL, NULL},
    {"kms_counted_id", NODE_SCALAR, WHAT_GUID, load_product_kms_counted_id, NULL, NULL},
    {"required_count", NODE_SCALAR, "5 or 25", load_product_required_count, NULL, NULL},
    {"protocol", NODE_SCALAR, "4, 5 or 6", load_product_protocol, NULL, NULL},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

/* In the order config_print() writes them. */
static const struct key_spec top_keys[] = {
    {"interval", NODE_SCALAR, WHAT_DURATION, load_interval, print_interval, NULL},
    {"timeout", NODE_SCALAR, WHAT_DURATION, load_timeout, print_timeout, NULL},
    {"concurrency", NODE_SCALAR, WHAT_INTEGER, load_concurrency, print_concurrency, NULL},
    {"probe_interval", NODE_SCALAR, WHAT_DURATION, load_probe_interval, print_probe_interval, NULL},
    {"identity", NODE_MAP, WHAT_MAPPING, NULL, NULL, identity_keys},
    {"dns", NODE_MAP, WHAT_MAPPING, NULL, NULL, dns_keys},
    {"hosts", NODE_LIST, WHAT_LIST, load_hosts, print_hosts, NULL},
    {"products", NODE_LIST, WHAT_LIST, load_products, print_products, NULL},
    {"alerts", NODE_MAP, WHAT_MAPPING, NULL, NULL, alerts_keys},
    {"alertmanager", NODE_MAP, WHAT_MAPPING, NULL, NULL, alertmanager_keys},
    {"state_file", NODE_SCALAR, "an absolute path or \"\"", load_state_file, print_state_file,
     NULL},
    {"web", NODE_MAP, WHAT_MAPPING, NULL, NULL, web_keys},
    {NULL, NODE_BAD, NULL, NULL, NULL, NULL},
};

static void
keys_allowed(const struct key_spec *keys, char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (const struct key_spec *k = keys; k->key != NULL && off < len; k++) {
		int n = snprintf(out + off, len - off, "%s%s", k == keys ? "" : ", ", k->key);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void
walk_section(struct loader *l, const struct node *map, const struct key_spec *keys,
             const char *path)
{
	const struct node *seen[SECTION_MAX_KEYS] = {NULL};
	char q[QUOTE_LEN], allowed[512], sub[128];
	const char *in = *path != '\0' ? " in " : "";

	if (map->dropped > 0)
		node_error(l, map, "%s%smore than %d entries", path, *path != '\0' ? ": " : "",
		           CONFIG_MAX_LIST);
	for (size_t i = 0; i + 1 < map->n_items; i += 2) {
		const struct node *k = map->items[i], *v = map->items[i + 1];
		if (k->kind == NODE_BAD)
			continue;
		if (k->kind != NODE_SCALAR) {
			node_error(l, k, "a key must be a string, not %s%s%s", node_kind_name(k),
			           in, path);
			continue;
		}
		if (k->null) {
			node_error(l, k, "empty key%s%s", in, path);
			continue;
		}
		size_t idx = 0;
		while (keys[idx].key != NULL && strcmp(keys[idx].key, k->value) != 0)
			idx++;
		const struct key_spec *spec = &keys[idx];
		if (spec->key == NULL) {
			keys_allowed(keys, allowed, sizeof(allowed));
			node_error(l, k, "unknown key %s%s%s (allowed: %s)",
			           quote_value(k->value, q, sizeof(q)), in, path, allowed);
			continue;
		}
		if (idx >= SECTION_MAX_KEYS)
			fatalx("config: section %s has too many keys", path);
		if (seen[idx] != NULL) {
			node_error(l, k, "duplicate key %s%s%s (first at line %zu)",
			           quote_value(k->value, q, sizeof(q)), in, path, seen[idx]->line);
			continue;
		}
		seen[idx] = k;
		if (*path != '\0')
			snprintf(sub, sizeof(sub), "%s.%s", path, spec->key);
		else
			snprintf(sub, sizeof(sub), "%s", spec->key);
		/* A key without a value keeps its default, as if it were absent. */
		if (v->kind == NODE_BAD || (v->kind == NODE_SCALAR && v->null))
			continue;
		if (v->kind != spec->want) {
			node_error(l, v, "%s: expected %s, got %s", sub, spec->what,
			           node_describe(v, q, sizeof(q)));
			continue;
		}
		if (spec->load != NULL)
			spec->load(l, v, sub);
		else
			walk_section(l, v, spec->section, sub);
	}
}

/* Scalar values. */

static int
load_duration(struct loader *l, const struct node *n, const char *path, uint64_t min, uint64_t *ms)
{
	char q[QUOTE_LEN], a[32], b[32];
	uint64_t v;
	if (config_parse_duration(n->value, &v) == -1) {
		node_error(l, n, "%s: %s is not a duration (like 30s, 5m, 1h)", path,
		           quote_value(n->value, q, sizeof(q)));
		return -1;
	}
	if (v < min) {
		config_format_duration(v, a, sizeof(a));
		config_format_duration(min, b, sizeof(b));
		node_error(l, n, "%s: %s is too short (at least %s)", path, a, b);
		return -1;
	}
	*ms = v;
	return 0;
}

static void
load_interval(struct loader *l, const struct node *n, const char *path)
{
	l->interval_node = n;
	load_duration(l, n, path, 1000, &l->c->interval_ms);
}

static void
load_timeout(struct loader *l, const struct node *n, const char *path)
{
	l->timeout_node = n;
	load_duration(l, n, path, 10, &l->c->timeout_ms);
}

static void
load_probe_interval(struct loader *l, const struct node *n, const char *path)
{
	load_duration(l, n, path, 1000, &l->c->probe_interval_ms);
}

/* A duration of at least min and at most max (max_text in messages). */
static int
load_duration_range(struct loader *l, const struct node *n, const char *path, uint64_t min,
                    uint64_t max, const char *max_text, uint64_t *ms)
{
	uint64_t v;
	if (load_duration(l, n, path, min, &v) == -1)
		return -1;
	if (v > max) {
		node_error(l, n, "%s: %.40s is too long (at most %s)", path, n->value, max_text);
		return -1;
	}
	*ms = v;
	return 0;
}

/* A decimal integer from min to max (max < ULONG_MAX / 10). */
static int
load_uint(struct loader *l, const struct node *n, const char *path, unsigned long min,
          unsigned long max, unsigned long *out)
{
	char q[QUOTE_LEN];
	const char *s = n->value;
	size_t len = strlen(s);

	if (len == 0 || strspn(s, "0123456789") != len) {
		node_error(l, n, "%s: %s is not an integer", path, quote_value(s, q, sizeof(q)));
		return -1;
	}
	/* Digits only, so the value can be shown as is (cut if absurdly long). */
	unsigned long v = 0;
	for (; *s != '\0' && v <= max; s++)
		v = v * 10 + (unsigned long)(*s - '0');
	if (v < min || v > max) {
		node_error(l, n, "%s: %.40s is out of range (%lu to %lu)", path, n->value, min,
		           max);
		return -1;
	}
	*out = v;
	return 0;
}

static void
load_concurrency(struct loader *l, const struct node *n, const char *path)
{
	unsigned long v;
	if (load_uint(l, n, path, 1, 65536, &v) == 0)
		l->c->concurrency = (unsigned)v;
}

/* Lists. */

/* False (after reporting) when the list was cut at CONFIG_MAX_LIST. */
static bool
list_check(struct loader *l, const struct node *list, const char *path)
{
	if (list->dropped > 0) {
		node_error(l, list, "%s: more than %d entries", path, CONFIG_MAX_LIST);
		return false;
	}
	return true;
}

/* The text of a list entry, or NULL (after reporting) if it has none. */
static const char *
list_entry(struct loader *l, const struct node *n, const char *path)
{
	if (n->kind == NODE_BAD)
		return NULL;
	if (n->kind != NODE_SCALAR) {
		node_error(l, n, "%s: expected a string entry, got %s", path, node_kind_name(n));
		return NULL;
	}
	if (n->null) {
		node_error(l, n, "%s: empty entry", path);
		return NULL;
	}
	return n->value;
}

struct dup_entry {
	const char *key;
	size_t index;
};

static int
dup_entry_cmp(const void *a, const void *b)
{
	const struct dup_entry *x = a, *y = b;
	int r = strcmp(x->key, y->key);
	if (r != 0)
		return r;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Reports every entry equal to an earlier one, in document order. Sorting keeps
 * this fast for lists of CONFIG_MAX_LIST entries. */
static void
duplicates_check(struct loader *l, const char *path, const char *const *keys,
                 const struct node *const *nodes, size_t n)
{
	char q[QUOTE_LEN];
	if (n < 2)
		return;
	struct dup_entry *e = xcalloc(n, sizeof(*e));
	size_t *first = xcalloc(n, sizeof(*first));
	for (size_t i = 0; i < n; i++) {
		e[i].key = keys[i];
		e[i].index = i;
		first[i] = SIZE_MAX;
	}
	qsort(e, n, sizeof(*e), dup_entry_cmp);
	for (size_t i = 1, run = 0; i < n; i++) {
		if (strcmp(e[i].key, e[run].key) == 0)
			first[e[i].index] = e[run].index;
		else
			run = i;
	}
	for (size_t i = 0; i < n; i++)
		if (first[i] != SIZE_MAX)
			node_error(l, nodes[i], "%s: duplicate entry %s (first at line %zu)", path,
			           quote_value(keys[i], q, sizeof(q)), nodes[first[i]]->line);
	free(first);
	free(e);
}

/* "system", or an IP address with an optional port. */
static int
resolver_parse(const char *s, struct config_resolver *r)
{
	enum host_kind kind;
	memset(r, 0, sizeof(*r));
	if (strcmp(s, "system") == 0) {
		r->name = xstrdup("system");
		r->system = true;
		r->port = CONFIG_DNS_PORT;
		return 0;
	}
	if (hostport_parse(s, CONFIG_DNS_PORT, &r->address, &r->port, &kind) == -1)
		return -1;
	if (kind == HOST_NAME) {
		free(r->address);
		r->address = NULL;
		return -1;
	}
	r->name = hostport_format(r->address, r->port);
	return 0;
}

static void
load_resolvers(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;
	char q[QUOTE_LEN];

	l->resolvers_set = true;
	if (!list_check(l, list, path))
		return;
	if (list->n_items == 0) {
		node_error(l, list, "%s: must not be empty (the default is [system])", path);
		return;
	}
	c->resolvers = xcalloc(list->n_items, sizeof(*c->resolvers));
	const char **keys = xcalloc(list->n_items, sizeof(*keys));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		const char *s = list_entry(l, item, path);
		if (s == NULL)
			continue;
		struct config_resolver r;
		if (resolver_parse(s, &r) == -1) {
			node_error(l, item,
			           "%s: %s is not \"system\" or an IP address with an optional "
			           "port (like 10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)",
			           path, quote_value(s, q, sizeof(q)));
			continue;
		}
		keys[c->n_resolvers] = r.name;
		nodes[c->n_resolvers] = item;
		c->resolvers[c->n_resolvers++] = r;
	}
	duplicates_check(l, path, keys, nodes, c->n_resolvers);
	free(nodes);
	free(keys);
}

static bool
strings_contain(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void
domains_push(struct config *c, size_t *cap, const char *name)
{
	if (c->n_domains == *cap) {
		*cap = *cap > 0 ? *cap * 2 : 8;
		c->domains = xreallocarray(c->domains, *cap, sizeof(*c->domains));
	}
	c->domains[c->n_domains++] = xstrdup(name);
}

/* Appends the machine's domains that are not there yet; returns how many there
 * were, keeping them in local. */
static size_t
domains_expand_local(struct config *c, size_t *cap, char **local, size_t max)
{
	size_t n = config_local_domains(local, max);
	for (size_t i = 0; i < n; i++)
		if (!strings_contain(c->domains, c->n_domains, local[i]))
			domains_push(c, cap, local[i]);
	return n;
}

static void
load_domains(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;
	char q[QUOTE_LEN], norm[256];
	char *local[CONFIG_MAX_LOCAL_DOMAINS];
	size_t n_local = 0, cap = 0, n_keys = 0;
	bool expanded = false;

	l->domains_set = true;
	if (!list_check(l, list, path))
		return;
	char **keys = xcalloc(list->n_items, sizeof(*keys));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		const char *s = list_entry(l, item, path);
		if (s == NULL)
			continue;
		if (strcmp(s, "local") == 0) {
			if (!expanded)
				n_local =
				    domains_expand_local(c, &cap, local, CONFIG_MAX_LOCAL_DOMAINS);
			expanded = true;
			keys[n_keys] = xstrdup(s);
		} else if (config_normalize_dns_name(s, norm, sizeof(norm)) == 0) {
			/* The machine's own domain may also be listed by name. */
			if (!strings_contain(local, n_local, norm))
				domains_push(c, &cap, norm);
			keys[n_keys] = xstrdup(norm);
		} else {
			node_error(l, item, "%s: %s is not a DNS name or \"local\"", path,
			           quote_value(s, q, sizeof(q)));
			continue;
		}
		nodes[n_keys++] = item;
	}
	duplicates_check(l, path, (const char *const *)keys, nodes, n_keys);
	for (size_t i = 0; i < n_keys; i++)
		free(keys[i]);
	for (size_t i = 0; i < n_local; i++)
		free(local[i]);
	free(nodes);
	free(keys);
}

static void
load_hosts(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;
	char q[QUOTE_LEN];

	if (!list_check(l, list, path))
		return;
	c->hosts = xcalloc(list->n_items, sizeof(*c->hosts));
	char **keys = xcalloc(list->n_items, sizeof(*keys));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		const char *s = list_entry(l, item, path);
		if (s == NULL)
			continue;
		struct config_target *t = &c->hosts[c->n_hosts];
		enum host_kind kind;
		if (hostport_parse(s, CONFIG_KMS_PORT, &t->host, &t->port, &kind) == -1) {
			node_error(l, item,
			           "%s: %s is not HOST[:PORT] with HOST a DNS name or an IP "
			           "address (like kms.example.com, kms.example.com:1688, "
			           "[2001:db8::1]:1688)",
			           path, quote_value(s, q, sizeof(q)));
			continue;
		}
		keys[c->n_hosts] = hostport_format(t->host, t->port);
		nodes[c->n_hosts++] = item;
	}
	duplicates_check(l, path, (const char *const *)keys, nodes, c->n_hosts);
	for (size_t i = 0; i < c->n_hosts; i++)
		free(keys[i]);
	free(nodes);
	free(keys);
}

/* "[HOST]:PORT" with HOST empty, an IPv4 address or a bracketed IPv6 address;
 * *out is malloc'd in canonical form. */
static int
listen_parse(const char *s, char **out)
{
	char *host;
	uint16_t port;
	enum host_kind kind;
	char buf[16];

	if (s[0] == ':') {
		if (port_parse(s + 1, &port) == -1)
			return -1;
		snprintf(buf, sizeof(buf), ":%u", (unsigned)port);
		*out = xstrdup(buf);
		return 0;
	}
	/* A port is required, so a bare IPv6 literal never gets here. */
	if (hostport_parse(s, 0, &host, &port, &kind) == -1)
		return -1;
	if (kind == HOST_NAME) {
		free(host);
		return -1;
	}
	*out = hostport_format(host, port);
	free(host);
	return 0;
}

static void
load_listen(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;
	char q[QUOTE_LEN];

	l->listen_set = true;
	if (!list_check(l, list, path))
		return;
	if (list->n_items == 0) {
		node_error(l, list, "%s: must not be empty (the default is [\":%d\"])", path,
		           CONFIG_WEB_PORT);
		return;
	}
	c->listen = xcalloc(list->n_items, sizeof(*c->listen));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		const char *s = list_entry(l, item, path);
		if (s == NULL)
			continue;
		if (listen_parse(s, &c->listen[c->n_listen]) == -1) {
			node_error(l, item,
			           "%s: %s is not [HOST]:PORT with HOST empty, an IPv4 address "
			           "or a bracketed IPv6 address (like :9688, 127.0.0.1:9688, "
			           "[::1]:9688)",
			           path, quote_value(s, q, sizeof(q)));
			continue;
		}
		nodes[c->n_listen++] = item;
	}
	duplicates_check(l, path, (const char *const *)c->listen, nodes, c->n_listen);
	free(nodes);
}

/* Identity. */

static const char hex_digits[] = "0123456789abcdef";

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* GUID text in canonical form (lower case) into out, or -1. */
static int
guid_parse(const char *s, char out[GUID_BUF])
{
	if (!product_guid_valid(s))
		return -1;
	for (size_t i = 0; i < CONFIG_GUID_LEN; i++)
		out[i] = to_lower(s[i]);
	out[CONFIG_GUID_LEN] = '\0';
	return 0;
}

/* 16 bytes as GUID text, in the order RFC 4122 writes them. */
static void
guid_format(const uint8_t b[16], char out[GUID_BUF])
{
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex_digits[b[i] >> 4];
		out[o++] = hex_digits[b[i] & 0x0f];
	}
	out[o] = '\0';
}

int
config_derive_cmid(const char *machine_id, char out[CONFIG_GUID_LEN + 1])
{
	uint8_t d[32];
	char input[256];

	if (machine_id == NULL || *machine_id == '\0')
		return -1;
	int n = snprintf(input, sizeof(input), "%s%s", CMID_PREFIX, machine_id);
	if (n < 0 || (size_t)n >= sizeof(input))
		return -1;
	kmscrypto_sha256((const uint8_t *)input, (size_t)n, d);
	/* Version 4 and variant 10xx: the CMID looks like any randomly made
	 * UUID, as a real client's does. */
	d[6] = (uint8_t)((d[6] & 0x0f) | 0x40);
	d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
	guid_format(d, out);
	return 0;
}

int
config_read_machine_id(const char *path, char out[33])
{
	char data[MACHINE_ID_LEN + 2];
	size_t n = 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	/* One byte more than a valid file holds, to see that nothing follows. */
	while (n < sizeof(data)) {
		ssize_t r = read(fd, data + n, sizeof(data) - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == MACHINE_ID_LEN + 1 && data[MACHINE_ID_LEN] == '\n')
		n--;
	if (n != MACHINE_ID_LEN)
		return -1;
	for (size_t i = 0; i < MACHINE_ID_LEN; i++)
		if (!is_hex(data[i]))
			return -1;
	memcpy(out, data, MACHINE_ID_LEN);
	out[MACHINE_ID_LEN] = '\0';
	return 0;
}

static void
load_cmid(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN], guid[GUID_BUF];

	if (strcmp(n->value, "auto") == 0) {
		l->cmid_node = n;
		return;
	}
	if (guid_parse(n->value, guid) == -1) {
		node_error(l, n, "%s: %s is not \"auto\" or a GUID (8-4-4-4-12 hex digits, %s)",
		           path, quote_value(n->value, q, sizeof(q)), GUID_EXAMPLE);
		return;
	}
	if (strcmp(guid, GUID_ZERO) == 0) {
		node_error(l, n,
		           "%s: the all-zero GUID is not a client machine id; use auto or a "
		           "fixed GUID of this installation's own (from uuidgen)",
		           path);
		return;
	}
	l->c->cmid = xstrdup(guid);
}

/* Why s is not a workstation name, or NULL if it is one. The name must fit
 * the request (63 UTF-16 characters) and be easy to type in an event log
 * filter. */
static const char *
workstation_problem(const char *s, char *out, size_t len)
{
	size_t n = strlen(s);
	if (n == 0)
		return "is empty";
	if (n > CONFIG_WORKSTATION_MAX) {
		snprintf(out, len, "is %zu characters long", n);
		return out;
	}
	for (; *s != '\0'; s++) {
		if (*s == ' ')
			return "contains a space";
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return "contains a character that is not printable ASCII";
	}
	return NULL;
}

static void
load_workstation(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN], why[64];
	const char *problem;

	if (strcmp(n->value, "auto") == 0)
		return;
	if ((problem = workstation_problem(n->value, why, sizeof(why))) != NULL) {
		node_error(l, n,
		           "%s: %s %s; a workstation name is 1 to %d printable ASCII characters "
		           "without spaces, so that administrators can filter this agent's "
		           "requests in the host's event log",
		           path, quote_value(n->value, q, sizeof(q)), problem,
		           CONFIG_WORKSTATION_MAX);
		return;
	}
	l->c->workstation = xstrdup(n->value);
}

/* "identity.cmid: auto": the CMID derived from the machine id, malloc'd into
 * the configuration. */
static void
cmid_auto(struct loader *l)
{
	char id[MACHINE_ID_LEN + 1], cmid[GUID_BUF];

	for (size_t i = 0; i < N_MACHINE_ID_FILES; i++) {
		if (config_read_machine_id(machine_id_files[i], id) == 0 &&
		    config_derive_cmid(id, cmid) == 0) {
			l->c->cmid = xstrdup(cmid);
			return;
		}
	}
	/* A random CMID instead would add one client to the hosts' counts at
	 * every start, which is exactly what the probe must never do. */
	const char *msg = "identity.cmid: auto derives the CMID from the machine id, but neither "
	                  "/etc/machine-id nor /var/lib/dbus/machine-id holds one; set "
	                  "identity.cmid to a fixed GUID (from uuidgen) and keep it";
	if (l->cmid_node != NULL)
		node_error(l, l->cmid_node, "%s", msg);
	else
		loader_error(l, 0, 0, "%s", msg);
}

/* "identity.workstation: auto": kmswatch.<first local domain>, or kmswatch
 * alone when there is none or the result would not fit the request (a cut
 * domain would name the wrong one). The name is malloc'd into c. */
static void
workstation_auto(struct config *c)
{
	char name[CONFIG_WORKSTATION_MAX + 1] = WORKSTATION_PREFIX;
	char *local[1];

	if (config_local_domains(local, 1) == 1) {
		if (strlen(WORKSTATION_PREFIX) + 1 + strlen(local[0]) <= CONFIG_WORKSTATION_MAX)
			snprintf(name, sizeof(name), "%s.%s", WORKSTATION_PREFIX, local[0]);
		free(local[0]);
	}
	c->workstation = xstrdup(name);
}

/* Alerts. */

static void
load_count_drop(struct loader *l, const struct node *map, const char *path)
{
	size_t errors = l->n_errors;
	walk_section(l, map, count_drop_keys, path);
	if (l->n_errors > errors)
		return;
	/* Only this mapping can set both to 0: neither defaults to it. */
	if (l->c->alerts.drop_min == 0 && l->c->alerts.drop_ratio == 0)
		node_error(l, map, "%s: min and ratio cannot both be 0", path);
}

static void
load_drop_min(struct loader *l, const struct node *n, const char *path)
{
	unsigned long v;
	if (load_uint(l, n, path, 0, 1000, &v) == 0)
		l->c->alerts.drop_min = (uint32_t)v;
}

/* A number as YAML writes one, [-+]digits[.digits][e[-+]digits] (or .digits
 * for the mantissa), read with strtod once the syntax is known to be plain:
 * no hexadecimal, infinity or NaN. Returns -1 for anything else, 1 for a
 * number that a double does not hold (overflow, underflow). */
static int
number_parse(const char *s, double *v)
{
	const char *p = s;
	size_t digits = 0;

	if (*p == '+' || *p == '-')
		p++;
	for (; is_digit(*p); p++)
		digits++;
	if (*p == '.')
		for (p++; is_digit(*p); p++)
			digits++;
	if (digits == 0)
		return -1;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!is_digit(*p))
			return -1;
		while (is_digit(*p))
			p++;
	}
	if (*p != '\0')
		return -1;
	errno = 0;
	char *end;
	double d = strtod(s, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(d))
		return 1; /* a number, but not one a double holds */
	*v = d;
	return 0;
}

static void
load_drop_ratio(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN];
	double v = 0;
	int rc = number_parse(n->value, &v);
	if (rc == -1) {
		node_error(l, n, "%s: %s is not a number (like 0.2)", path,
		           quote_value(n->value, q, sizeof(q)));
		return;
	}
	if (rc == 1 || v < 0 || v >= 1) {
		node_error(l, n,
		           "%s: %.40s is out of range (more than 0 and less than 1, like 0.2 for "
		           "20%%, or 0 to turn the ratio test off)",
		           path, n->value);
		return;
	}
	/* "-0" is 0 too, and prints as 0. */
	l->c->alerts.drop_ratio = v == 0 ? 0 : v;
}

static void
load_drop_window(struct loader *l, const struct node *n, const char *path)
{
	load_duration_range(l, n, path, 60 * 1000, DROP_WINDOW_MAX_MS, DROP_WINDOW_MAX_TEXT,
	                    &l->c->alerts.drop_window_ms);
}

static void
load_count_margin(struct loader *l, const struct node *n, const char *path)
{
	unsigned long v;
	if (load_uint(l, n, path, 0, 1000, &v) == 0)
		l->c->alerts.count_margin = (uint32_t)v;
}

static void
load_max_hosts(struct loader *l, const struct node *n, const char *path)
{
	unsigned long v;
	if (load_uint(l, n, path, 0, 100000, &v) == 0)
		l->c->alerts.max_hosts = (uint32_t)v;
}

static void
load_stale_after(struct loader *l, const struct node *n, const char *path)
{
	unsigned long v;
	if (load_uint(l, n, path, 1, 1000, &v) == 0)
		l->c->alerts.stale_after = (uint32_t)v;
}

static void
load_resend_interval(struct loader *l, const struct node *n, const char *path)
{
	load_duration(l, n, path, 1000, &l->c->alerts.resend_interval_ms);
}

static void
load_resolved_retention(struct loader *l, const struct node *n, const char *path)
{
	load_duration(l, n, path, 0, &l->c->alerts.resolved_retention_ms);
}

/* URLs. */

/* RFC 3986 path characters other than letters, digits and '%'. */
static bool
is_path_char(char c)
{
	return is_alnum(c) || (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL);
}

/* Checks an http(s) URL of the form scheme://host[:port][/path] and makes
 * *out (malloc'd) its canonical form: scheme and host in lower case, IPv6
 * addresses in canonical form, the port only when it is not the scheme's
 * default, the path as given without trailing slashes. Returns NULL, or why
 * s is not such a URL (pointing to a constant or into why). */
static const char *
url_parse(const char *s, char **out, char *why, size_t why_len)
{
	const char *scheme;
	uint16_t default_port;
	size_t len = strlen(s);

	*out = NULL;
	if (len > CONFIG_URL_MAX) {
		snprintf(why, why_len, "is longer than %d characters", CONFIG_URL_MAX);
		return why;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == ' ')
			return "contains a space";
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return "contains a character that is not printable ASCII (percent-encode "
			       "it)";
	}
	if (strncasecmp(s, "http://", 7) == 0) {
		scheme = "http";
		default_port = 80;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		scheme = "https";
		default_port = 443;
	} else {
		return "does not start with http:// or https://";
	}
	const char *auth = s + strlen(scheme) + 3;
	if (strchr(auth, '?') != NULL)
		return "has a query (?...)";
	if (strchr(auth, '#') != NULL)
		return "has a fragment (#...)";
	size_t alen = strcspn(auth, "/");
	const char *path = auth + alen;
	char a[300];
	if (alen == 0)
		return "has no host";
	if (memchr(auth, '@', alen) != NULL)
		return "has user credentials (user@host), which are not supported";
	if (alen >= sizeof(a))
		return "has a host that is too long";
	memcpy(a, auth, alen);
	a[alen] = '\0';
	/* Outside brackets, a colon starts the port: a bare IPv6 address is
	 * not a URL host. */
	const char *colon = strchr(a, ':');
	if (a[0] != '[' && colon != NULL && strchr(colon + 1, ':') != NULL)
		return "has an IPv6 address that is not in brackets";
	char *host;
	uint16_t port;
	enum host_kind kind;
	if (hostport_parse(a, default_port, &host, &port, &kind) == -1)
		return "has an invalid host or port (a DNS name, an IPv4 address or a bracketed "
		       "IPv6 address, and a port of 1 to 65535)";
	for (const char *p = path; *p != '\0'; p++) {
		if (*p == '%' && !(is_hex(p[1]) && is_hex(p[2]))) {
			free(host);
			return "has a '%' that is not followed by two hex digits (write %25 for "
			       "'%')";
		} else if (*p == '%') {
			p += 2;
		} else if (!is_path_char(*p)) {
			free(host);
			snprintf(why, why_len,
			         "has a character that is not allowed in a URL path ('%c'; "
			         "percent-encode it)",
			         *p);
			return why;
		}
	}
	size_t plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;

	struct buf b;
	buf_init(&b, CONFIG_URL_MAX + 64);
	buf_printf(&b, "%s://", scheme);
	buf_printf(&b, kind == HOST_IPV6 ? "[%s]" : "%s", host);
	if (port != default_port)
		buf_printf(&b, ":%u", (unsigned)port);
	buf_append(&b, path, plen);
	free(host);
	if (b.overflow)
		fatalx("config: URL longer than its buffer");
	*out = (char *)buf_steal(&b, NULL);
	if (*out == NULL)
		fatalx("config: out of memory");
	return NULL;
}

/* Whether a canonical URL ends with the path the agent adds itself. */
static bool
url_has_alerts_path(const char *url)
{
	static const char *const paths[] = {"/api/v1/alerts", "/api/v2/alerts"};
	size_t n = strlen(url);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		size_t p = strlen(paths[i]);
		if (n >= p && strcmp(url + n - p, paths[i]) == 0)
			return true;
	}
	return false;
}

static void
load_alertmanager_urls(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;
	char q[QUOTE_LEN], why[128];

	if (!list_check(l, list, path))
		return;
	if (list->n_items > CONFIG_MAX_ALERTMANAGERS) {
		node_error(l, list, "%s: %zu URLs, more than %d", path, list->n_items,
		           CONFIG_MAX_ALERTMANAGERS);
		return;
	}
	c->alertmanager_urls = xcalloc(list->n_items, sizeof(*c->alertmanager_urls));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		const char *s = list_entry(l, item, path);
		char *url;
		const char *problem;
		if (s == NULL)
			continue;
		if ((problem = url_parse(s, &url, why, sizeof(why))) != NULL) {
			node_error(l, item,
			           "%s: %s %s; an Alertmanager URL is http:// or https://, a host, "
			           "an optional port and an optional path prefix (like "
			           "http://127.0.0.1:9093)",
			           path, quote_value(s, q, sizeof(q)), problem);
			continue;
		}
		if (url_has_alerts_path(url)) {
			node_error(l, item,
			           "%s: %s ends with the API path; give Alertmanager's base URL "
			           "(like http://127.0.0.1:9093): the agent adds %s itself",
			           path, quote_value(s, q, sizeof(q)), AM_ALERTS_PATH);
			free(url);
			continue;
		}
		nodes[c->n_alertmanager_urls] = item;
		c->alertmanager_urls[c->n_alertmanager_urls++] = url;
	}
	duplicates_check(l, path, (const char *const *)c->alertmanager_urls, nodes,
	                 c->n_alertmanager_urls);
	free(nodes);
}

static void
load_alertmanager_timeout(struct loader *l, const struct node *n, const char *path)
{
	load_duration(l, n, path, 100, &l->c->alertmanager_timeout_ms);
}

static void
load_state_file(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN];
	const char *s = n->value;
	size_t len = strlen(s);

	quote_value(s, q, sizeof(q));
	if (len == 0) {
		free(l->c->state_file);
		l->c->state_file = xstrdup("");
		return;
	}
	if (s[0] != '/') {
		node_error(l, n,
		           "%s: %s is a relative path, which would depend on the directory the "
		           "agent happens to start in; give an absolute path (like %s), or \"\" "
		           "to keep no state",
		           path, q, CONFIG_STATE_FILE);
		return;
	}
	if (s[len - 1] == '/') {
		node_error(l, n, "%s: %s names a directory; give the path of a file (like %s)",
		           path, q, CONFIG_STATE_FILE);
		return;
	}
	if (len >= PATH_MAX) {
		node_error(l, n, "%s: %s is longer than %d characters", path, q, PATH_MAX - 1);
		return;
	}
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			node_error(l, n, "%s: %s contains a control character", path, q);
			return;
		}
	}
	free(l->c->state_file);
	l->c->state_file = xstrdup(s);
}

static void
load_external_url(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN], why[128];
	char *url;
	const char *problem;

	if (*n->value == '\0') {
		l->external_url_node = n;
		return;
	}
	if ((problem = url_parse(n->value, &url, why, sizeof(why))) != NULL) {
		node_error(l, n,
		           "%s: %s %s; the external URL is http:// or https://, a host, an "
		           "optional port and an optional path (like "
		           "https://kmswatch.example.com), or \"\" for http://<host name>:<port>",
		           path, quote_value(n->value, q, sizeof(q)), problem);
		return;
	}
	l->c->external_url = url;
}

/* http://<host name>:<port of listen[0]> in canonical form into *out
 * (malloc'd); NULL, or why not. */
static const char *
external_url_derive(const struct config *c, char **out, char *why, size_t why_len)
{
	char name[HOST_NAME_MAX + 1], url[HOST_NAME_MAX + 32];
	uint16_t port = CONFIG_WEB_PORT;

	*out = NULL;
	if (c->n_listen > 0) {
		const char *colon = strrchr(c->listen[0], ':');
		if (colon == NULL || port_parse(colon + 1, &port) == -1) {
			snprintf(why, why_len, "the first listen address has no port");
			return why;
		}
	}
	if (gethostname(name, sizeof(name)) == -1) {
		snprintf(why, why_len, "the host name is unknown (%s)", strerror(errno));
		return why;
	}
	name[sizeof(name) - 1] = '\0';
	snprintf(url, sizeof(url), "http://%s:%u", name, (unsigned)port);
	if (url_parse(url, out, why, why_len) != NULL) {
		snprintf(why, why_len, "%s is not a valid URL", url);
		return why;
	}
	return NULL;
}

int
config_update_external_url(struct config *c)
{
	char why[HOST_NAME_MAX + 64];
	char *url;

	if (c == NULL || !c->external_url_auto)
		return 0;
	if (external_url_derive(c, &url, why, sizeof(why)) != NULL)
		return -1;
	free(c->external_url);
	c->external_url = url;
	return 0;
}

/* "web.external_url" left empty: derived, or an error that says how to set
 * it. */
static void
external_url_auto(struct loader *l)
{
	char why[HOST_NAME_MAX + 64];
	const char *problem = external_url_derive(l->c, &l->c->external_url, why, sizeof(why));

	if (problem == NULL) {
		l->c->external_url_auto = true;
		return;
	}
#define EXTERNAL_URL_AUTO_FAILED                                                                   \
	"web.external_url: \"\" stands for http://<host name>:<port of the first listen "          \
	"address>, but %s; set web.external_url to the URL people use to reach this agent"
	if (l->external_url_node != NULL)
		node_error(l, l->external_url_node, EXTERNAL_URL_AUTO_FAILED, problem);
	else
		loader_error(l, 0, 0, EXTERNAL_URL_AUTO_FAILED, problem);
#undef EXTERNAL_URL_AUTO_FAILED
}

/* Products. */

/* Copies every field of p into cp, which owns the copies (product_clear). */
static void
product_fill(struct config_product *cp, const struct product *p, bool preset)
{
	cp->name = xstrdup(p->name);
	cp->application_id = xstrdup(p->app_id);
	cp->sku_id = xstrdup(p->sku_id);
	cp->kms_counted_id = xstrdup(p->kms_id);
	cp->required_count = p->required_count;
	cp->protocol = p->protocol;
	cp->preset = preset;
}

static void
product_clear(struct config_product *cp)
{
	free(cp->name);
	free(cp->application_id);
	free(cp->sku_id);
	free(cp->kms_counted_id);
}

/* A preset with its GUIDs in lower case, like every GUID of the
 * configuration; p points into the struct. */
struct preset_lower {
	struct product p;
	char app_id[GUID_BUF], sku_id[GUID_BUF], kms_id[GUID_BUF];
};

static void
preset_lower(const struct product *preset, struct preset_lower *out)
{
	if (guid_parse(preset->app_id, out->app_id) == -1 ||
	    guid_parse(preset->sku_id, out->sku_id) == -1 ||
	    guid_parse(preset->kms_id, out->kms_id) == -1)
		fatalx("config: preset %s has an invalid GUID", preset->name);
	out->p = *preset;
	out->p.app_id = out->app_id;
	out->p.sku_id = out->sku_id;
	out->p.kms_id = out->kms_id;
}

static void
product_fill_preset(struct config_product *cp, const struct product *preset)
{
	struct preset_lower pl;
	preset_lower(preset, &pl);
	product_fill(cp, &pl.p, true);
}

/* The names of the presets, for messages. */
static void
presets_list(char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < product_count() && off < len; i++) {
		int n =
		    snprintf(out + off, len - off, "%s%s", i > 0 ? ", " : "", product_get(i)->name);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* A small decimal number (digits only, leading zeros allowed), or -1. */
static int
small_uint_parse(const char *s, unsigned *v)
{
	unsigned long n = 0;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit(*s))
			return -1;
		n = n * 10 + (unsigned long)(*s - '0');
		if (n > 1000000)
			return -1;
	}
	*v = (unsigned)n;
	return 0;
}

/* A number for a message as it is written, anything else quoted. */
static const char *
number_describe(const char *s, char *out, size_t len)
{
	size_t n = strlen(s);
	if (n > 0 && n < 40 && strspn(s, "0123456789") == n) {
		snprintf(out, len, "%s", s);
		return out;
	}
	return quote_value(s, out, len);
}

static void
load_product_name(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN], err[160];
	/* Only the name is in question: everything else is a valid product. */
	struct product probe = {
	    .name = n->value,
	    .app = PRODUCT_APP_WINDOWS,
	    .app_id = product_app_id(PRODUCT_APP_WINDOWS),
	    .kms_id = GUID_ZERO,
	    .sku_id = GUID_ZERO,
	    .required_count = 25,
	    .protocol = 6,
	};
	if (product_validate(&probe, err, sizeof(err)) == -1) {
		node_error(l, n, "%s: %s: %s", path, quote_value(n->value, q, sizeof(q)), err);
		return;
	}
	l->draft->name = n->value;
}

static void
load_product_application(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN];
	if (product_app_parse(n->value, &l->draft->app) == -1) {
		node_error(l, n, "%s: %s is not windows, office-2010 or office-2013+", path,
		           quote_value(n->value, q, sizeof(q)));
		return;
	}
	l->draft->has_app = true;
}

static bool
load_product_guid(struct loader *l, const struct node *n, const char *path, char out[GUID_BUF])
{
	char q[QUOTE_LEN];
	if (guid_parse(n->value, out) == -1) {
		node_error(l, n, "%s: %s is not a GUID (8-4-4-4-12 hex digits, %s)", path,
		           quote_value(n->value, q, sizeof(q)), GUID_EXAMPLE);
		return false;
	}
	return true;
}

static void
load_product_application_id(struct loader *l, const struct node *n, const char *path)
{
	l->draft->has_app_id = load_product_guid(l, n, path, l->draft->app_id);
}

static void
load_product_sku_id(struct loader *l, const struct node *n, const char *path)
{
	l->draft->has_sku_id = load_product_guid(l, n, path, l->draft->sku_id);
}

static void
load_product_kms_counted_id(struct loader *l, const struct node *n, const char *path)
{
	l->draft->has_kms_id = load_product_guid(l, n, path, l->draft->kms_id);
}

static void
load_product_required_count(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN];
	unsigned v;
	/* Any other N would make the probe a client no real one looks like. */
	if (small_uint_parse(n->value, &v) == -1 || (v != 5 && v != 25)) {
		node_error(l, n,
		           "%s: %s is not 5 or 25 (the product's own N: 25 for Windows client "
		           "editions, 5 for servers and Office)",
		           path, number_describe(n->value, q, sizeof(q)));
		return;
	}
	l->draft->required_count = v;
	l->draft->has_count = true;
}

static void
load_product_protocol(struct loader *l, const struct node *n, const char *path)
{
	char q[QUOTE_LEN];
	unsigned v;
	if (small_uint_parse(n->value, &v) == -1 || v < 4 || v > 6) {
		node_error(l, n, "%s: %s is not 4, 5 or 6 (the KMS protocol version)", path,
		           number_describe(n->value, q, sizeof(q)));
		return;
	}
	l->draft->protocol = v;
	l->draft->has_protocol = true;
}

/* The application that goes with an application id, or def. */
static enum product_app
app_of_id(const char *app_id, enum product_app def)
{
	static const enum product_app apps[] = {PRODUCT_APP_WINDOWS, PRODUCT_APP_OFFICE2010,
	                                        PRODUCT_APP_OFFICE2013};
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		if (strcmp(product_app_id(apps[i]), app_id) == 0)
			return apps[i];
	return def;
}

/* Whether a product sends exactly what the preset sends. */
static bool
product_is_preset(const struct product *p, const struct product *preset)
{
	return strcmp(p->app_id, preset->app_id) == 0 && strcmp(p->sku_id, preset->sku_id) == 0 &&
	       strcmp(p->kms_id, preset->kms_id) == 0 &&
	       p->required_count == preset->required_count && p->protocol == preset->protocol;
}

/* A product mapping: a new product, or a preset with fields overridden.
 * Fills out (owned by the caller) or returns -1 after reporting. */
static int
product_from_map(struct loader *l, const struct node *map, size_t index, const char *path,
                 struct config_product *out)
{
	struct product_draft d;
	struct preset_lower pl;
	char sub[64], q[QUOTE_LEN], err[160];
	size_t errors = l->n_errors;

	memset(&d, 0, sizeof(d));
	snprintf(sub, sizeof(sub), "%s[%zu]", path, index);
	l->draft = &d;
	walk_section(l, map, product_keys, sub);
	l->draft = NULL;
	if (l->n_errors > errors)
		return -1;
	if (d.name == NULL) {
		node_error(l, map, "%s: name is required (a preset to override, or a new name)",
		           sub);
		return -1;
	}
	const struct product *preset = product_find(d.name);
	quote_value(d.name, q, sizeof(q));
	struct product p = {.name = d.name, .protocol = 6};
	if (preset != NULL) {
		preset_lower(preset, &pl);
		p = pl.p;
		p.name = d.name;
	}
	/* The application id is what is sent; application only supplies it. */
	if (d.has_app)
		p.app = d.app;
	if (d.has_app_id)
		p.app_id = d.app_id;
	else if (d.has_app)
		p.app_id = product_app_id(d.app);
	if (d.has_app_id && !d.has_app)
		p.app = app_of_id(d.app_id, preset != NULL ? preset->app : PRODUCT_APP_WINDOWS);
	if (d.has_sku_id)
		p.sku_id = d.sku_id;
	else if (preset == NULL)
		p.sku_id = GUID_ZERO;
	if (d.has_kms_id)
		p.kms_id = d.kms_id;
	if (d.has_count)
		p.required_count = d.required_count;
	if (d.has_protocol)
		p.protocol = d.protocol;
	if (preset == NULL) {
		if (p.app_id == NULL)
			node_error(l, map,
			           "%s: %s is not a preset, so application (windows, office-2010 "
			           "or office-2013+) or application_id is required",
			           sub, q);
		if (p.kms_id == NULL)
			node_error(l, map, "%s: %s is not a preset, so kms_counted_id is required",
			           sub, q);
		if (p.required_count == 0)
			node_error(l, map,
			           "%s: %s is not a preset, so required_count is required (25 "
			           "for Windows client editions, 5 for servers and Office)",
			           sub, q);
		if (l->n_errors > errors)
			return -1;
	}
	if (product_validate(&p, err, sizeof(err)) == -1) {
		node_error(l, map, "%s: %s", sub, err);
		return -1;
	}
	product_fill(out, &p, preset != NULL && product_is_preset(&p, &pl.p));
	return 0;
}

static int
product_from_name(struct loader *l, const struct node *n, const char *path,
                  struct config_product *out)
{
	char q[QUOTE_LEN], presets[512];
	const struct product *p = product_find(n->value);
	if (p == NULL) {
		presets_list(presets, sizeof(presets));
		node_error(l, n,
		           "%s: unknown product %s (presets: %s; define any other product as a "
		           "mapping with name, application, kms_counted_id and required_count)",
		           path, quote_value(n->value, q, sizeof(q)), presets);
		return -1;
	}
	product_fill_preset(out, p);
	return 0;
}

static void
load_products(struct loader *l, const struct node *list, const char *path)
{
	struct config *c = l->c;

	l->products_set = true;
	if (!list_check(l, list, path))
		return;
	if (list->n_items > CONFIG_MAX_PRODUCTS) {
		node_error(l, list,
		           "%s: %zu products, more than %d (every product is probed on every "
		           "target)",
		           path, list->n_items, CONFIG_MAX_PRODUCTS);
		return;
	}
	c->products = xcalloc(list->n_items, sizeof(*c->products));
	const char **keys = xcalloc(list->n_items, sizeof(*keys));
	const struct node **nodes = xcalloc(list->n_items, sizeof(*nodes));
	for (size_t i = 0; i < list->n_items; i++) {
		const struct node *item = list->items[i];
		struct config_product *cp = &c->products[c->n_products];
		int rc;
		if (item->kind == NODE_BAD)
			continue;
		if (item->kind == NODE_MAP) {
			rc = product_from_map(l, item, i, path, cp);
		} else if (item->kind == NODE_LIST) {
			node_error(l, item, "%s: expected a preset name or a mapping, got a list",
			           path);
			continue;
		} else if (item->null) {
			node_error(l, item, "%s: empty entry", path);
			continue;
		} else {
			rc = product_from_name(l, item, path, cp);
		}
		if (rc == -1)
			continue;
		keys[c->n_products] = cp->name;
		nodes[c->n_products++] = item;
	}
	duplicates_check(l, path, keys, nodes, c->n_products);
	free(nodes);
	free(keys);
}

/* The default products, allocated into c like loaded ones. */
static void
products_default(struct config *c)
{
	c->products = xcalloc(N_DEFAULT_PRODUCTS, sizeof(*c->products));
	for (size_t i = 0; i < N_DEFAULT_PRODUCTS; i++) {
		const struct product *p = product_find(default_products[i]);
		if (p == NULL)
			fatalx("config: default product %s is not a preset", default_products[i]);
		product_fill_preset(&c->products[c->n_products++], p);
	}
}

const struct config_product *
config_find_product(const struct config *c, const char *name)
{
	if (c == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_products; i++)
		if (strcmp(c->products[i].name, name) == 0)
			return &c->products[i];
	return NULL;
}

/* Checks across keys, then the defaults that depend on what was given. Both
 * need every key to be valid, or a key left at its default after an error
 * would be reported again. */
static void
config_finish(struct loader *l)
{
	struct config *c = l->c;
	char a[32], b[32];

	if (l->n_errors > 0)
		return;
	if (c->timeout_ms >= c->interval_ms) {
		config_format_duration(c->timeout_ms, a, sizeof(a));
		config_format_duration(c->interval_ms, b, sizeof(b));
		if (l->timeout_node != NULL)
			node_error(l, l->timeout_node,
			           "timeout: %s must be less than interval (%s)", a, b);
		else if (l->interval_node != NULL)
			node_error(l, l->interval_node,
			           "interval: %s must be more than timeout (%s by default)", b, a);
	}
	if (l->n_errors > 0)
		return;
	if (!l->resolvers_set) {
		c->resolvers = xcalloc(1, sizeof(*c->resolvers));
		resolver_parse("system", &c->resolvers[0]);
		c->n_resolvers = 1;
	}
	if (!l->domains_set) {
		char *local[CONFIG_MAX_LOCAL_DOMAINS];
		size_t cap = 0;
		size_t n = domains_expand_local(c, &cap, local, CONFIG_MAX_LOCAL_DOMAINS);
		for (size_t i = 0; i < n; i++)
			free(local[i]);
	}
	if (!l->listen_set) {
		char s[16];
		snprintf(s, sizeof(s), ":%d", CONFIG_WEB_PORT);
		c->listen = xcalloc(1, sizeof(*c->listen));
		c->listen[0] = xstrdup(s);
		c->n_listen = 1;
	}
	if (c->external_url == NULL)
		external_url_auto(l);
	if (c->cmid == NULL)
		cmid_auto(l);
	if (c->workstation == NULL)
		workstation_auto(c);
	if (!l->products_set)
		products_default(c);
}

static struct config *
config_new(const char *name)
{
	struct config *c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(name);
	c->interval_ms = 60 * 1000;
	c->timeout_ms = 5 * 1000;
	c->concurrency = 256;
	c->probe_interval_ms = 15 * 60 * 1000;
	c->alerts.drop_min = 5;
	c->alerts.drop_ratio = 0.2;
	c->alerts.drop_window_ms = 24 * 3600 * 1000;
	c->alerts.count_margin = 5;
	c->alerts.max_hosts = 0;
	c->alerts.stale_after = 3;
	c->alerts.resend_interval_ms = 60 * 1000;
	c->alerts.resolved_retention_ms = 15 * 60 * 1000;
	c->alertmanager_timeout_ms = 10 * 1000;
	c->state_file = xstrdup(CONFIG_STATE_FILE);
	return c;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_resolvers; i++) {
		free(c->resolvers[i].name);
		free(c->resolvers[i].address);
	}
	free(c->resolvers);
	for (size_t i = 0; i < c->n_domains; i++)
		free(c->domains[i]);
	free(c->domains);
	for (size_t i = 0; i < c->n_hosts; i++)
		free(c->hosts[i].host);
	free(c->hosts);
	for (size_t i = 0; i < c->n_listen; i++)
		free(c->listen[i]);
	free(c->listen);
	free(c->cmid);
	free(c->workstation);
	for (size_t i = 0; i < c->n_products; i++)
		product_clear(&c->products[i]);
	free(c->products);
	for (size_t i = 0; i < c->n_alertmanager_urls; i++)
		free(c->alertmanager_urls[i]);
	free(c->alertmanager_urls);
	free(c->state_file);
	free(c->external_url);
	free(c->path);
	free(c);
}

struct config *
config_load_string(const char *name, const char *text, size_t len, struct buf *errors)
{
	struct loader l;
	struct config *c = NULL;
	struct node *root = NULL;

	memset(&l, 0, sizeof(l));
	l.name = name != NULL ? name : "<config>";
	l.errors = errors;
	buf_init(&l.shown, ERRORS_MAX_BYTES);
	buf_init(&l.last, ERRORS_MAX_BYTES);
	if (text == NULL)
		len = 0;
	if (len > CONFIG_MAX_FILE_SIZE) {
		loader_error(&l, 0, 0, "file is larger than %d MiB",
		             CONFIG_MAX_FILE_SIZE / (1024 * 1024));
		goto out;
	}
	c = config_new(l.name);
	l.c = c;
	if (tree_load(&l, text != NULL ? text : "", len, &root) == 0) {
		/* An empty file, or one of only comments, gives all defaults. */
		if (root != NULL && root->kind == NODE_MAP)
			walk_section(&l, root, top_keys, "");
		else if (root != NULL && root->kind != NODE_BAD && !root->null)
			node_error(&l, root,
			           "the configuration must be a mapping of keys (like "
			           "\"interval: 1m\"), not %s",
			           node_kind_name(root));
		config_finish(&l);
	}
	node_free(root);
out:
	if (l.n_errors > 0) {
		config_free(c);
		c = NULL;
	}
	loader_flush(&l);
	return c;
}

/* Reads at most CONFIG_MAX_FILE_SIZE bytes into *text (malloc'd). */
static int
file_read(const char *path, char **text, size_t *len, struct buf *errors)
{
	const char *what;
	char *data = NULL;
	size_t n = 0, cap = 0;
	struct stat st;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		goto fail_errno;
	/* Regular files that are too large are refused before reading them;
	 * anything else is read up to the limit. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CONFIG_MAX_FILE_SIZE)
		goto fail;
	for (;;) {
		if (n == cap) {
			if (cap > CONFIG_MAX_FILE_SIZE)
				goto fail;
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > CONFIG_MAX_FILE_SIZE + 1)
				cap = CONFIG_MAX_FILE_SIZE + 1;
			data = xreallocarray(data, cap, 1);
		}
		ssize_t r = read(fd, data + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail_errno;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_MAX_FILE_SIZE)
		goto fail;
	close(fd);
	*text = data;
	*len = n;
	return 0;
fail_errno:
	what = strerror(errno);
	if (errors != NULL)
		buf_printf(errors, "%s: cannot read: %s\n", path, what);
	goto out;
fail:
	if (errors != NULL)
		buf_printf(errors, "%s: file is larger than %d MiB\n", path,
		           CONFIG_MAX_FILE_SIZE / (1024 * 1024));
out:
	if (fd != -1)
		close(fd);
	free(data);
	return -1;
}

struct config *
config_load_file(const char *path, struct buf *errors)
{
	char *text;
	size_t len;

	if (path == NULL) {
		if (errors != NULL)
			buf_puts(errors, "no configuration file given\n");
		return NULL;
	}
	if (file_read(path, &text, &len, errors) == -1)
		return NULL;
	struct config *c = config_load_string(path, text, len, errors);
	free(text);
	return c;
}

/* Printing. */

/* A double-quoted YAML string; the escapes cover whatever a later key holds. */
static void
print_string(struct buf *out, const char *s)
{
	buf_putc(out, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			buf_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(out, "\\x%02x", c);
		else
			buf_putc(out, (char)c);
	}
	buf_putc(out, '"');
}

static void
print_duration(struct buf *out, uint64_t ms)
{
	char s[32];
	config_format_duration(ms, s, sizeof(s));
	buf_printf(out, " %s\n", s);
}

/* Lists are written in block style, one quoted entry per line, so that long
 * lists diff well; an empty one is "[]". */
static void
print_list(struct buf *out, int indent, size_t n, const struct config *c,
           void (*item)(const struct config *c, size_t i, struct buf *out))
{
	if (n == 0) {
		buf_puts(out, " []\n");
		return;
	}
	buf_putc(out, '\n');
	for (size_t i = 0; i < n; i++) {
		buf_printf(out, "%*s- ", indent + 2, "");
		item(c, i, out);
		buf_putc(out, '\n');
	}
}

static void
print_interval(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->interval_ms);
}

static void
print_timeout(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->timeout_ms);
}

static void
print_concurrency(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	buf_printf(out, " %u\n", c->concurrency);
}

static void
resolver_item(const struct config *c, size_t i, struct buf *out)
{
	print_string(out, c->resolvers[i].name);
}

static void
print_resolvers(const struct config *c, struct buf *out, int indent)
{
	print_list(out, indent, c->n_resolvers, c, resolver_item);
}

static void
domain_item(const struct config *c, size_t i, struct buf *out)
{
	print_string(out, c->domains[i]);
}

static void
print_domains(const struct config *c, struct buf *out, int indent)
{
	print_list(out, indent, c->n_domains, c, domain_item);
}

static void
host_item(const struct config *c, size_t i, struct buf *out)
{
	char *s = hostport_format(c->hosts[i].host, c->hosts[i].port);
	print_string(out, s);
	free(s);
}

static void
print_hosts(const struct config *c, struct buf *out, int indent)
{
	print_list(out, indent, c->n_hosts, c, host_item);
}

static void
listen_item(const struct config *c, size_t i, struct buf *out)
{
	print_string(out, c->listen[i]);
}

static void
print_listen(const struct config *c, struct buf *out, int indent)
{
	print_list(out, indent, c->n_listen, c, listen_item);
}

static void
print_probe_interval(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->probe_interval_ms);
}

/* A loaded configuration always has both; "auto" stands in otherwise. */
static void
print_string_or_auto(struct buf *out, const char *s)
{
	buf_putc(out, ' ');
	if (s != NULL)
		print_string(out, s);
	else
		buf_puts(out, "auto");
	buf_putc(out, '\n');
}

static void
print_cmid(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_string_or_auto(out, c->cmid);
}

static void
print_workstation(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_string_or_auto(out, c->workstation);
}

/* Unchanged presets by name; anything else as a mapping with every field, so
 * that it does not depend on the catalog of the agent that reads it. */
static void
print_products(const struct config *c, struct buf *out, int indent)
{
	if (c->n_products == 0) {
		buf_puts(out, " []\n");
		return;
	}
	buf_putc(out, '\n');
	for (size_t i = 0; i < c->n_products; i++) {
		const struct config_product *p = &c->products[i];
		int in = indent + 4;
		buf_printf(out, "%*s- ", indent + 2, "");
		if (p->preset) {
			print_string(out, p->name);
			buf_putc(out, '\n');
			continue;
		}
		buf_puts(out, "name: ");
		print_string(out, p->name);
		buf_printf(out, "\n%*sapplication_id: ", in, "");
		print_string(out, p->application_id);
		buf_printf(out, "\n%*ssku_id: ", in, "");
		print_string(out, p->sku_id);
		buf_printf(out, "\n%*skms_counted_id: ", in, "");
		print_string(out, p->kms_counted_id);
		buf_printf(out, "\n%*srequired_count: %u\n", in, "", p->required_count);
		buf_printf(out, "%*sprotocol: %u\n", in, "", p->protocol);
	}
}

static void
print_uint(struct buf *out, uint32_t v)
{
	buf_printf(out, " %u\n", (unsigned)v);
}

static void
print_drop_min(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_uint(out, c->alerts.drop_min);
}

/* The shortest text that reads back as the same double. */
static void
print_drop_ratio(const struct config *c, struct buf *out, int indent)
{
	char s[40];
	double v = c->alerts.drop_ratio;
	(void)indent;
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(s, sizeof(s), "%.*g", prec, v);
		if (strtod(s, NULL) == v)
			break;
	}
	buf_printf(out, " %s\n", s);
}

static void
print_drop_window(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->alerts.drop_window_ms);
}

static void
print_count_margin(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_uint(out, c->alerts.count_margin);
}

static void
print_max_hosts(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_uint(out, c->alerts.max_hosts);
}

static void
print_stale_after(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_uint(out, c->alerts.stale_after);
}

static void
print_resend_interval(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->alerts.resend_interval_ms);
}

static void
print_resolved_retention(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->alerts.resolved_retention_ms);
}

static void
alertmanager_url_item(const struct config *c, size_t i, struct buf *out)
{
	print_string(out, c->alertmanager_urls[i]);
}

static void
print_alertmanager_urls(const struct config *c, struct buf *out, int indent)
{
	print_list(out, indent, c->n_alertmanager_urls, c, alertmanager_url_item);
}

static void
print_alertmanager_timeout(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_duration(out, c->alertmanager_timeout_ms);
}

/* Quoted, so that "" (no state file) reads back as itself, not as a missing
 * value. */
static void
print_quoted(struct buf *out, const char *s)
{
	buf_putc(out, ' ');
	print_string(out, s != NULL ? s : "");
	buf_putc(out, '\n');
}

static void
print_state_file(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_quoted(out, c->state_file);
}

static void
print_external_url(const struct config *c, struct buf *out, int indent)
{
	(void)indent;
	print_quoted(out, c->external_url);
}

static void
print_section(const struct config *c, struct buf *out, const struct key_spec *keys, int indent)
{
	for (const struct key_spec *k = keys; k->key != NULL; k++) {
		buf_printf(out, "%*s%s:", indent, "", k->key);
		if (k->section != NULL) {
			buf_putc(out, '\n');
			print_section(c, out, k->section, indent + 2);
		} else {
			k->print(c, out, indent);
		}
	}
}

void
config_print(const struct config *c, struct buf *out)
{
	if (c == NULL || out == NULL)
		return;
	print_section(c, out, top_keys, 0);
}
