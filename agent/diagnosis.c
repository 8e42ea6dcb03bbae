/*
 * Diagnosis texts; see diagnosis.h. The facts come from DOMAIN.md: the error
 * codes are the ones Windows clients report in the same situation, so an
 * administrator can match an alert with what users see. Pure: no I/O, no
 * clock, no allocation.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kmswatch/diagnosis.h"

#define HR_NO_SRV_NAME   0x8007232Bu /* NXDOMAIN */
#define HR_NO_SRV_DATA   0x8007251Du /* the name exists, no SRV data */
#define HR_DNS_FAILURE   0x8007232Au /* SERVFAIL, refused, timeout */
#define HR_NO_HOST       0xC004F074u /* no host of the domain could be contacted */
#define HR_COUNT_TOO_LOW 0xC004F038u

/*
 * Severities follow one question: do clients fail now, or at their next
 * attempt, with nothing that recovers on its own? Then the alert pages
 * (critical): a domain without SRV records or without any reachable host
 * leaves every client that discovers its host through DNS without one; a host
 * that lost its own activation or whose count is under the product's
 * threshold refuses every client that reaches it; and a falling count is the
 * early sign of the latter that operators asked to be woken for. A warning
 * (ticket) is a fault with a fallback or with time to spare: clients ask
 * another DNS server or another host, activations last 180 days, or only one
 * product or one host is affected. KMSHostKeyChanged is information: it is
 * expected after planned maintenance and only a fault when nobody planned it.
 */
static const struct alert_def {
	const char *name;
	const char *severity;
	const char *anchor;
	uint32_t codes[2]; /* codes[0] is the default */
	unsigned n_codes;
	bool any_code; /* carries whatever code the last failure had */
} alert_defs[DIAG_ALERT_COUNT] = {
    [DIAG_NO_SRV_RECORDS] = {"KMSNoSRVRecords",
                             "critical",
                             "kmsnosrvrecords",
                             {HR_NO_SRV_NAME, HR_NO_SRV_DATA},
                             2,
                             false},
    [DIAG_DNS_FAILURE] = {"KMSDNSFailure", "warning", "kmsdnsfailure", {HR_DNS_FAILURE}, 1, false},
    [DIAG_SRV_INCONSISTENT] =
        {"KMSSRVInconsistent", "warning", "kmssrvinconsistent", {0}, 0, false},
    [DIAG_HOST_UNREACHABLE] = {"KMSHostUnreachable",
                               "warning",
                               "kmshostunreachable",
                               {PROBE_HR_RPC_UNAVAILABLE, PROBE_HR_NO_ANSWER},
                               2,
                               false},
    [DIAG_NO_HOST_REACHABLE] =
        {"KMSNoHostReachable", "critical", "kmsnohostreachable", {HR_NO_HOST}, 1, false},
    [DIAG_HOST_NOT_ACTIVATED] = {"KMSHostNotActivated",
                                 "critical",
                                 "kmshostnotactivated",
                                 {PROBE_HR_NOT_ACTIVATED},
                                 1,
                                 false},
    [DIAG_PRODUCT_NOT_COVERED] = {"KMSProductNotCovered",
                                  "warning",
                                  "kmsproductnotcovered",
                                  {PROBE_HR_NOT_COVERED},
                                  1,
                                  false},
    [DIAG_CLOCK_SKEW] =
        {"KMSClockSkew", "warning", "kmsclockskew", {PROBE_HR_CLOCK_SKEW}, 1, false},
    [DIAG_HOST_OUTDATED] =
        {"KMSHostOutdated", "warning", "kmshostoutdated", {PROBE_HR_INVALID_DATA}, 1, false},
    [DIAG_COUNT_BELOW_THRESHOLD] = {"KMSCountBelowThreshold",
                                    "critical",
                                    "kmscountbelowthreshold",
                                    {HR_COUNT_TOO_LOW},
                                    1,
                                    false},
    [DIAG_COUNT_NEAR_THRESHOLD] =
        {"KMSCountNearThreshold", "warning", "kmscountnearthreshold", {0}, 0, false},
    [DIAG_COUNT_DROPPED] = {"KMSCountDropped", "critical", "kmscountdropped", {0}, 0, false},
    [DIAG_HOST_KEY_CHANGED] = {"KMSHostKeyChanged", "info", "kmshostkeychanged", {0}, 0, false},
    [DIAG_TOO_MANY_HOSTS] = {"KMSTooManyHosts", "warning", "kmstoomanyhosts", {0}, 0, false},
    [DIAG_PROBE_STALE] = {"KMSProbeStale", "warning", "kmsprobestale", {0}, 0, true},
};

/* What each code of DOMAIN.md's table means, in a few words. */
static const struct {
	uint32_t code;
	const char *meaning;
} code_meanings[] = {
    {HR_NO_SRV_NAME, "DNS name does not exist"},
    {HR_NO_SRV_DATA, "no records found for the DNS query"},
    {HR_DNS_FAILURE, "DNS server failure"},
    {PROBE_HR_RPC_UNAVAILABLE, "the RPC server is unavailable"},
    {PROBE_HR_NO_ANSWER, "the KMS host did not answer"},
    {HR_NO_HOST, "no KMS host could be contacted"},
    {PROBE_HR_NOT_ACTIVATED, "the KMS host is not activated"},
    {PROBE_HR_NOT_COVERED, "the KMS host cannot activate this product"},
    {HR_COUNT_TOO_LOW, "the count is too low"},
    {PROBE_HR_CLOCK_SKEW, "the request timestamp is invalid"},
    {PROBE_HR_INVALID_DATA, "invalid data"},
};

/* The code each observed state implies, for alerts whose code depends on it. */
static const struct {
	const char *result;
	uint32_t code;
} result_codes[] = {
    {"nxdomain", HR_NO_SRV_NAME},
    {"nodata", HR_NO_SRV_DATA},
    {"refused", PROBE_HR_RPC_UNAVAILABLE},
    {"unreachable", PROBE_HR_RPC_UNAVAILABLE},
    {"resolve_failed", PROBE_HR_RPC_UNAVAILABLE},
    {"timeout", PROBE_HR_NO_ANSWER},
    {"product_not_covered", PROBE_HR_NOT_COVERED},
    {"host_not_activated", PROBE_HR_NOT_ACTIVATED},
    {"clock_skew", PROBE_HR_CLOCK_SKEW},
    {"protocol_unsupported", PROBE_HR_INVALID_DATA},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct alert_def *
alert_def(enum diag_alert a)
{
	return (unsigned)a < DIAG_ALERT_COUNT ? &alert_defs[a] : NULL;
}

const char *
diag_alert_name(enum diag_alert a)
{
	const struct alert_def *d = alert_def(a);
	return d != NULL ? d->name : NULL;
}

const char *
diag_alert_severity(enum diag_alert a)
{
	const struct alert_def *d = alert_def(a);
	return d != NULL ? d->severity : NULL;
}

const char *
diag_alert_anchor(enum diag_alert a)
{
	const struct alert_def *d = alert_def(a);
	return d != NULL ? d->anchor : NULL;
}

int
diag_alert_parse(const char *name, enum diag_alert *out)
{
	if (name == NULL)
		return -1;
	for (unsigned i = 0; i < DIAG_ALERT_COUNT; i++) {
		if (strcmp(alert_defs[i].name, name) == 0) {
			*out = (enum diag_alert)i;
			return 0;
		}
	}
	return -1;
}

/* A size-capped text being written. Once something did not fit, the text
 * stops growing and is finished with "..." at a character boundary. */
struct text {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
};

static void
text_init(struct text *t, char *buf, size_t cap)
{
	t->buf = buf;
	t->cap = cap;
	t->len = 0;
	t->full = false;
	buf[0] = '\0';
}

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
	if (t->full)
		return;
	size_t room = t->cap - t->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->buf[t->len] = '\0';
		return;
	}
	if ((size_t)n >= room) {
		t->len = t->cap - 1;
		t->full = true;
		return;
	}
	t->len += (size_t)n;
}

static void
text_finish(struct text *t)
{
	static const char mark[] = "...";
	if (!t->full || t->cap < sizeof(mark))
		return;
	size_t at = t->cap - sizeof(mark);
	/* Do not leave half of a UTF-8 sequence before the mark. */
	while (at > 0 && ((unsigned char)t->buf[at] & 0xC0) == 0x80)
		at--;
	memcpy(t->buf + at, mark, sizeof(mark));
	t->len = at + sizeof(mark) - 1;
}

/* Drops an incomplete UTF-8 sequence left at the end of s by a cut. */
static void
utf8_trim_end(char *s)
{
	size_t len = strlen(s), lead = len;
	while (lead > 0 && len - lead < 4 && ((unsigned char)s[lead - 1] & 0xC0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	unsigned char c = (unsigned char)s[lead - 1];
	size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
	if (len - (lead - 1) < need)
		s[lead - 1] = '\0';
}

/* snprintf for the short phrases below: a value too long for its buffer is
 * cut, but never in the middle of a character. */
static void phrase(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
phrase(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
	else if ((size_t)n >= len)
		utf8_trim_end(buf);
}

static const char *
known(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

static const char *
or_else(const char *s, const char *fallback)
{
	return known(s) != NULL ? s : fallback;
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

/* "0x" and exactly eight hex digits, either case. */
static bool
code_parse(const char *s, uint32_t *out)
{
	if (s == NULL || s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	uint32_t v = 0;
	size_t i;
	for (i = 2; s[i] != '\0'; i++) {
		int d = hex_digit(s[i]);
		if (d < 0 || i >= 10)
			return false;
		v = v << 4 | (uint32_t)d;
	}
	if (i != 10)
		return false;
	*out = v;
	return true;
}

static const char *
code_meaning(uint32_t code)
{
	for (size_t i = 0; i < N_ELEMS(code_meanings); i++)
		if (code_meanings[i].code == code)
			return code_meanings[i].meaning;
	return NULL;
}

static bool
code_allowed(const struct alert_def *d, uint32_t code)
{
	if (d->any_code)
		return code != 0;
	for (unsigned i = 0; i < d->n_codes; i++)
		if (d->codes[i] == code)
			return true;
	return false;
}

/* The code of one instance: the hint if the alert can carry it, else what the
 * result implies, else the default. False when the alert has no code. */
static bool
pick_code(const struct alert_def *d, const char *hint, const char *result, uint32_t *code)
{
	uint32_t c;
	if (code_parse(hint, &c) && code_allowed(d, c)) {
		*code = c;
		return true;
	}
	if (known(result) != NULL) {
		for (size_t i = 0; i < N_ELEMS(result_codes); i++) {
			if (strcmp(result_codes[i].result, result) == 0 &&
			    code_allowed(d, result_codes[i].code)) {
				*code = result_codes[i].code;
				return true;
			}
		}
	}
	if (d->n_codes == 0)
		return false;
	*code = d->codes[0];
	return true;
}

/* The phrases every text is built from, with wording for unknown values. */
struct ctx {
	const struct diag_vars *v;
	char target[300];       /* "kms1.example.com:1688", or "the KMS host" */
	char subject[310];      /* "KMS host kms1.example.com:1688", or "The KMS host" */
	const char *host_cmd;   /* the host, or "<host>" in commands */
	const char *port_cmd;   /* the port, or 1688 in commands */
	const char *product;    /* NULL when unknown */
	const char *domain;     /* NULL when unknown */
	const char *domain_cmd; /* the domain, or "<domain>" in commands */
	char resolver[300];     /* "resolver 10.0.0.53:53", "the system resolver", "the resolver" */
	char ns_opts[64];       /* options that precede the name: "" or "-port=5353 " */
	char ns_server[272];    /* " 10.0.0.53", or "" for the default server */
	uint32_t code;
	bool has_code;
};

/* Splits a resolver label as configured ("10.0.0.53:53", "[2001:db8::53]:53",
 * "2001:db8::53", "10.0.0.53") into address and port ("" when absent). */
static void
resolver_split(const char *label, char *addr, size_t addrlen, char *port, size_t portlen)
{
	const char *colon = strchr(label, ':');
	addr[0] = '\0';
	port[0] = '\0';
	if (label[0] == '[') {
		const char *end = strchr(label, ']');
		if (end == NULL) {
			phrase(addr, addrlen, "%s", label);
			return;
		}
		phrase(addr, addrlen, "%.*s", (int)(end - label - 1), label + 1);
		if (end[1] == ':')
			phrase(port, portlen, "%s", end + 2);
		return;
	}
	if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		phrase(addr, addrlen, "%.*s", (int)(colon - label), label);
		phrase(port, portlen, "%s", colon + 1);
		return;
	}
	phrase(addr, addrlen, "%s", label);
}

static void
ctx_init(struct ctx *c, const struct diag_vars *v)
{
	const char *host = known(v->host);
	const char *port = known(v->port);
	const char *resolver = known(v->resolver);

	c->v = v;
	if (host != NULL && port != NULL && strchr(host, ':') != NULL)
		phrase(c->target, sizeof(c->target), "[%s]:%s", host, port);
	else if (host != NULL && port != NULL)
		phrase(c->target, sizeof(c->target), "%s:%s", host, port);
	else if (host != NULL)
		phrase(c->target, sizeof(c->target), "%s", host);
	else
		phrase(c->target, sizeof(c->target), "the KMS host");
	if (host != NULL)
		phrase(c->subject, sizeof(c->subject), "KMS host %s", c->target);
	else
		phrase(c->subject, sizeof(c->subject), "The KMS host");
	c->host_cmd = or_else(host, "<host>");
	c->port_cmd = or_else(port, "1688");
	c->product = known(v->product);
	c->domain = known(v->domain);
	c->domain_cmd = or_else(v->domain, "<domain>");

	c->ns_opts[0] = '\0';
	c->ns_server[0] = '\0';
	if (resolver == NULL) {
		phrase(c->resolver, sizeof(c->resolver), "the resolver");
	} else if (strcmp(resolver, "system") == 0) {
		phrase(c->resolver, sizeof(c->resolver), "the system resolver");
	} else {
		char addr[256], rport[16];
		resolver_split(resolver, addr, sizeof(addr), rport, sizeof(rport));
		phrase(c->resolver, sizeof(c->resolver), "resolver %s", resolver);
		phrase(c->ns_server, sizeof(c->ns_server), " %s", addr);
		if (rport[0] != '\0' && strcmp(rport, "53") != 0)
			phrase(c->ns_opts, sizeof(c->ns_opts), "-port=%s ", rport);
	}
}

/* `nslookup -type=srv _vlmcs._tcp.<domain> <server>` for this instance. */
static void
put_nslookup(struct text *t, const struct ctx *c)
{
	put(t, "`nslookup -type=srv %s_vlmcs._tcp.%s%s`", c->ns_opts, c->domain_cmd, c->ns_server);
}

/* " for windows-10-11", or nothing. */
static void
put_for_product(struct text *t, const struct ctx *c)
{
	if (c->product != NULL)
		put(t, " for %s", c->product);
}

/* The agent's own words on the failure, when it has any. */
static void
put_detail(struct text *t, const struct ctx *c)
{
	if (known(c->v->detail) != NULL)
		put(t, " Details: %s.", c->v->detail);
}

/* The threshold, as "the required 25" or "the product's threshold". */
static void
put_required(struct text *t, const struct ctx *c)
{
	if (c->v->required >= 0)
		put(t, "the required %lld", c->v->required);
	else
		put(t, "the product's threshold");
}

/* Each describe_* writes summary (s), description (d) and remedy (r). */

static void
describe_no_srv(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	bool nodata = c->code == HR_NO_SRV_DATA;

	put(s, "No KMS SRV records for %s from %s: %s", or_else(c->domain, "the domain"),
	    c->resolver, nodata ? "no SRV data" : "name does not exist");

	put(d,
	    "According to %s, _vlmcs._tcp.%s %s, so clients of this domain that look up their "
	    "KMS host in DNS find none and fail with %s.",
	    c->resolver, c->domain_cmd,
	    nodata ? "exists but holds no SRV records" : "does not exist",
	    nodata ? "0x8007251D" : "0x8007232B");
	put(d, " Activated clients keep working until their 180-day activation runs out, but new "
	       "machines cannot activate and renewals (every 7 days) fail; clients pinned to a "
	       "host with slmgr.vbs /skms are not affected.");

	put(r,
	    "On the KMS host run `slmgr.vbs /dlv`: it must read Licensed and show DNS "
	    "publishing enabled (`slmgr.vbs /sdns` turns it on); event 12293 in its Key "
	    "Management Service log means publishing failed. Where the DNS server takes no "
	    "dynamic updates, create the record by hand: _vlmcs._tcp.%s SRV, priority 0, weight "
	    "0, port 1688 (or the host's port), target the host's FQDN. Check that the clients' "
	    "DNS suffix is %s. Verify with ",
	    c->domain_cmd, c->domain_cmd);
	put_nslookup(r, c);
	put(r, ".");
}

static void
describe_dns_failure(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const char *res = or_else(c->v->result, "");
	const char *how = "failed", *why = NULL;
	if (strcmp(res, "servfail") == 0) {
		how = "answered SERVFAIL";
		why = "SERVFAIL";
	} else if (strcmp(res, "refused") == 0) {
		how = "refused the query";
		why = "query refused";
	} else if (strcmp(res, "timeout") == 0) {
		how = "did not answer in time";
		why = "no answer in time";
	} else if (strcmp(res, "error") == 0) {
		how = "returned an unusable answer";
		why = "unusable answer";
	}

	if (c->domain != NULL)
		put(s, "SRV lookup of _vlmcs._tcp.%s on %s failed", c->domain, c->resolver);
	else
		put(s, "KMS SRV lookup on %s failed", c->resolver);
	if (why != NULL)
		put(s, ": %s", why);

	put(d,
	    "Asked for _vlmcs._tcp.%s, %s %s, so clients that use this DNS server cannot find a "
	    "KMS host and report 0x8007232A (DNS server failure).",
	    c->domain_cmd, c->resolver, how);
	put(d, " Clients with a second DNS server may still succeed; activated clients carry on "
	       "until a renewal is due, and unactivated ones retry every 2 hours.");
	put_detail(d, c);

	put(r,
	    "Check the DNS server itself: is the service running and reachable on port 53 (UDP "
	    "and TCP), does it host or forward the zone %s, does DNSSEC validation fail "
	    "(SERVFAIL), does its access list refuse this client (REFUSED)? Repeat the query "
	    "from a client with ",
	    c->domain_cmd);
	put_nslookup(r, c);
	put(r, " and fix the server or the network path to it.");
}

static void
describe_srv_inconsistent(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "DNS servers disagree on the KMS SRV records of %s", or_else(c->domain, "a domain"));
	if (known(c->v->detail) != NULL)
		put(s, ": %s", c->v->detail);

	put(d,
	    "Not every DNS server returns the same hosts and ports for _vlmcs._tcp.%s. Clients "
	    "see different KMS hosts depending on which server they ask, so some may be sent to "
	    "a host that no longer exists or never learn of a new one. Usual causes are "
	    "replication lag or a broken zone transfer, or a record created by hand on only "
	    "one server.",
	    c->domain_cmd);

	put(r,
	    "Ask each DNS server with `nslookup -type=srv _vlmcs._tcp.%s <server>` (the "
	    "kms_srv_record_info series on /metrics lists what each one returned). Decide which "
	    "set is right, repair replication or zone transfers, delete records of "
	    "decommissioned hosts and create missing ones on every server.",
	    c->domain_cmd);
}

static void
describe_host_unreachable(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const char *res = or_else(c->v->result, "");
	bool timeout = c->code == PROBE_HR_NO_ANSWER;
	bool unresolved = !timeout && strcmp(res, "resolve_failed") == 0;

	if (timeout)
		put(s, "%s does not answer: connection timed out", c->subject);
	else if (unresolved)
		put(s, "%s is not reachable: its name does not resolve", c->subject);
	else if (strcmp(res, "refused") == 0)
		put(s, "%s is not reachable: connection refused", c->subject);
	else if (strcmp(res, "unreachable") == 0)
		put(s, "%s is not reachable: no route to the host", c->subject);
	else
		put(s, "%s is not reachable", c->subject);

	if (timeout)
		put(d,
		    "Connections to %s get no answer: something on the path drops the packets, "
		    "or the host is hung. Clients wait for the timeout and report 0xC004F039 "
		    "(the KMS host did not answer).",
		    c->target);
	else if (unresolved)
		put(d,
		    "The name %s has no address, typically because a SRV record still names a "
		    "host that was decommissioned. Clients that pick it report 0x800706BA (RPC "
		    "server unavailable).",
		    c->host_cmd);
	else
		put(d,
		    "Connections to %s are refused or cannot be routed: the KMS service does "
		    "not listen on that port, or a firewall rejects them. Clients report "
		    "0x800706BA (RPC server unavailable).",
		    c->target);
	put(d, " Clients that found this host in DNS try another one, so activation continues if "
	       "other hosts work; clients pinned to it fail until it is back.");
	put_detail(d, c);

	if (timeout)
		put(r,
		    "Find what drops TCP port %s between the clients and the host: host "
		    "firewall (rule \"Key Management Service (TCP-In)\"), network firewalls, "
		    "routers and security groups. Test with `Test-NetConnection %s -Port %s` from "
		    "a client network and `nc -vz %s %s` from the agent. If the port is open, "
		    "check that the host is not hung or overloaded.",
		    c->port_cmd, c->host_cmd, c->port_cmd, c->host_cmd, c->port_cmd);
	else
		put(r,
		    "On the host, enable the firewall rule \"Key Management Service (TCP-In)\" "
		    "and check that the Software Protection service runs and listens on port %s "
		    "(`slmgr.vbs /dlv` shows the KMS port). If the host was decommissioned, "
		    "delete its _vlmcs._tcp SRV record and address record. Test with "
		    "`Test-NetConnection %s -Port %s` from a client.",
		    c->port_cmd, c->host_cmd, c->port_cmd);
}

static void
describe_no_host_reachable(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "No KMS host of %s can be reached", or_else(c->domain, "the domain"));
	if (c->v->hosts >= 0)
		put(s, " (%lld %s tried)", c->v->hosts, c->v->hosts == 1 ? "host" : "hosts");

	put(d,
	    "Every KMS host published for %s failed its last check, so a client in this domain "
	    "has no host to fall back on and reports 0xC004F074 (no KMS host could be "
	    "contacted). Unactivated clients retry every 2 hours in vain, and activated ones "
	    "cannot renew and lose their activation when its 180 days run out.",
	    or_else(c->domain, "the domain"));
	put(d, " The alerts of the individual hosts say why each one failed.");
	put_detail(d, c);

	put(r,
	    "Work through each host's own alert (KMSHostUnreachable, KMSHostNotActivated and "
	    "so on): `nc -vz <host> 1688` from the agent, `Test-NetConnection <host> -Port 1688` "
	    "from a client, `slmgr.vbs /dlv` on the host. When all hosts fail at once, look at "
	    "what they share: the network path and firewalls between clients and hosts, or "
	    "SRV records in _vlmcs._tcp.%s that point at wrong names or ports.",
	    c->domain_cmd);
}

static void
describe_not_activated(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "%s is not activated", c->subject);
	if (c->product != NULL)
		put(s, " (asked for %s)", c->product);

	put(d,
	    "%s answers with 0xC004F041: its own KMS host key is not activated, so it "
	    "activates no client at all. Clients that found it in DNS move on to another host "
	    "if there is one; clients pinned to it fail. This follows a new host key installed "
	    "without activating it, or a rebuilt host.",
	    c->subject);

	put(r,
	    "On %s run `slmgr.vbs /dlv`: License Status must read Licensed. Activate the host "
	    "online with `slmgr.vbs /ato`, or by phone (`slui.exe 4`) if it cannot reach "
	    "Microsoft. If the wrong key is installed, install the KMS host key with `slmgr.vbs "
	    "/ipk <KMS host key>` and run `slmgr.vbs /ato` again. One host key activates at most "
	    "6 hosts, 10 times each.",
	    c->host_cmd);
}

static void
describe_not_covered(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "%s does not cover %s", c->subject, or_else(c->product, "the product"));

	put(d,
	    "%s refuses to activate %s with 0xC004F042: its host key does not include this "
	    "product. Clients of the product that land on it fail, and move on to another host "
	    "only if DNS offers one. Typical causes are an older host key asked for a newer "
	    "Windows, an Office host without the Office volume license pack, or hosts meant for "
	    "one application only.",
	    c->subject, or_else(c->product, "the product"));

	put(r,
	    "Run `slmgr.vbs /dlv` on %s to see which host key is installed. For newer Windows "
	    "editions, install the updates the host needs and a current KMS host key "
	    "(`slmgr.vbs /ipk <KMS host key>`, then `slmgr.vbs /ato`). For Office, install the "
	    "Office volume license pack on the host and activate its Office host key. Or point "
	    "these clients at a host that covers them (`slmgr.vbs /skms <host>:<port>`), or "
	    "stop probing this product on this host if it is not meant to serve it.",
	    c->host_cmd);
}

static void
describe_clock_skew(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "%s rejects the request time", c->subject);
	put_for_product(s, c);
	put(s, " (clock skew)");

	put(d,
	    "%s answers with 0xC004F06C: the time in the request and the host's clock differ "
	    "by more than it accepts (about 4 hours). Either the host's clock or the agent's is "
	    "wrong; clients whose clocks agree with the agent's fail the same way.",
	    c->subject);

	put(r,
	    "Compare the clocks: `w32tm /query /status` on %s, `timedatectl` on the agent. Fix "
	    "the host's time source (the domain hierarchy, or an NTP server) and run `w32tm "
	    "/resync`; check the clients' time as well.",
	    c->host_cmd);
}

static void
describe_outdated(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "%s is too old for newer clients", c->subject);
	if (c->product != NULL)
		put(s, " (asked for %s)", c->product);

	put(d,
	    "%s refuses requests in the newer protocol versions with 0x8007000D (invalid "
	    "data): it lacks the updates that let a KMS host serve newer clients. Newer Windows "
	    "and Office clients fail against it; only clients that speak the old protocol still "
	    "activate.",
	    c->subject);

	put(r,
	    "Install the current updates on %s (Windows Update), then the KMS host key for the "
	    "newest clients it must serve (`slmgr.vbs /ipk <KMS host key>`, `slmgr.vbs /ato`). "
	    "A host whose Windows is older than its clients is best replaced by one on a current "
	    "Windows Server.",
	    c->host_cmd);
}

/* The count's explanation, shared by the three count alerts. */
static void
put_count_remedy(struct text *r, const struct ctx *c)
{
	put(r,
	    "`slmgr.vbs /dlv` on %s shows the current count: the number of distinct machines "
	    "that asked it in the last 30 days. Bring more clients to this host, or consolidate "
	    "hosts (fewer _vlmcs._tcp records) so that requests are not split between them. If "
	    "the count stays low although many clients exist, images were cloned without "
	    "`sysprep /generalize` and share one CMID: compare the CMID that `slmgr.vbs /dlv` "
	    "shows on a few clients and generalize the image.",
	    c->host_cmd);
}

static void
describe_count_below(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "Count");
	put_for_product(s, c);
	put(s, " on %s is ", c->target);
	if (c->v->count >= 0)
		put(s, "%lld, ", c->v->count);
	put(s, "below ");
	put_required(s, c);

	put(d, "Clients");
	put_for_product(d, c);
	put(d, " that ask %s get a count ", c->target);
	if (c->v->count >= 0)
		put(d, "of %lld, ", c->v->count);
	put(d, "under ");
	put_required(d, c);
	put(d, ", so they fail with 0xC004F038 at their next activation or renewal. "
	       "Clients already activated keep working until their 180-day activation runs out "
	       "without renewal; new ones stay in their grace period and retry every 2 hours.");
	if (c->v->count == 0 || c->v->count == 1)
		put(d,
		    " A count this low means the host was just activated or sees a single client "
		    "machine ID.");

	put_count_remedy(r, c);
}

static void
describe_count_near(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	put(s, "Count");
	put_for_product(s, c);
	put(s, " on %s is ", c->target);
	if (c->v->count >= 0)
		put(s, "%lld, ", c->v->count);
	if (c->v->margin >= 0)
		put(s, "within %lld of ", c->v->margin);
	else
		put(s, "close to ");
	put_required(s, c);

	put(d,
	    "The count is still enough, but a few clients leaving %s (or simply not asking for "
	    "30 days) would take it below ",
	    c->target);
	put_required(d, c);
	put(d, ". From then on clients fail with 0xC004F038 at their next activation or renewal.");

	put_count_remedy(r, c);
}

static void
describe_count_dropped(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const struct diag_vars *v = c->v;
	bool fell = v->max >= 0 && v->count >= 0 && v->count < v->max;

	put(s, "Count");
	put_for_product(s, c);
	put(s, " on %s fell", c->target);
	if (fell)
		put(s, " from %lld to %lld", v->max, v->count);
	else if (v->count >= 0)
		put(s, " to %lld", v->count);
	if (fell && known(v->window) != NULL)
		put(s, " (%s maximum)", v->window);

	if (fell) {
		put(d, "The count fell by %lld (%.0f %%) from its highest value", v->max - v->count,
		    v->max > 0 ? 100.0 * (double)(v->max - v->count) / (double)v->max : 0.0);
	} else {
		put(d, "The count fell sharply from its highest value");
	}
	if (known(v->window) != NULL)
		put(d, " in the last %s", v->window);
	/* The drop rule's own terms: either test alone may be switched off (0). */
	if (v->drop_min > 0 && v->drop_ratio > 0)
		put(d, ", which meets the alert's rule (a fall of at least %lld clients or %g %%)",
		    v->drop_min, 100.0 * v->drop_ratio);
	else if (v->drop_min > 0)
		put(d, ", which meets the alert's rule (a fall of at least %lld clients)",
		    v->drop_min);
	else if (v->drop_ratio > 0)
		put(d, ", which meets the alert's rule (a fall of at least %g %%)",
		    100.0 * v->drop_ratio);
	put(d, ". The count covers 30 days, so a sudden fall means the host lost its history "
	       "(rebuilt, replaced, or another machine answers under its name) or a group of "
	       "clients stopped coming (moved to another host, cut off by a network or DNS "
	       "change).");
	if (v->count >= 0 && v->required >= 0 && v->count < v->required) {
		put(d,
		    " It is already below the required %lld: clients fail with 0xC004F038 at "
		    "their next activation or renewal.",
		    v->required);
	} else {
		put(d, " Once it is below ");
		put_required(d, c);
		put(d, ", clients fail with 0xC004F038 at their next activation or renewal.");
	}

	put(r, "Find where the clients went: look for new or removed hosts with ");
	put_nslookup(r, c);
	put(r,
	    ", compare kms_current_count of the other hosts on /metrics, and check recent "
	    "network, firewall and DNS changes. On %s, `slmgr.vbs /dlv` shows the count, and "
	    "events 12290 show which clients still arrive; a host that was reinstalled or got a "
	    "new key also raises KMSHostKeyChanged.",
	    c->host_cmd);
}

static void
describe_key_changed(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const struct diag_vars *v = c->v;

	put(s, "%s answers with a new ePID", c->subject);
	put_for_product(s, c);

	if (known(v->old_epid) != NULL && known(v->new_epid) != NULL)
		put(d, "The extended PID in the answers of %s changed from %s to %s.", c->target,
		    v->old_epid, v->new_epid);
	else if (known(v->new_epid) != NULL)
		put(d, "The extended PID in the answers of %s changed; it is now %s.", c->target,
		    v->new_epid);
	else
		put(d, "The extended PID in the answers of %s changed.", c->target);
	put(d, " A different host key was installed, the host was reinstalled or upgraded to "
	       "another OS build, or another machine now answers under this name. Expected after "
	       "planned work; otherwise it may explain a change in the count.");

	put(r,
	    "If nobody planned a change, run `slmgr.vbs /dlv` on %s to check the installed key, "
	    "license status and count, and check that `nslookup %s` still points at the right "
	    "machine. Nothing to do if the change was planned.",
	    c->host_cmd, c->host_cmd);
}

static void
describe_too_many(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const struct diag_vars *v = c->v;

	put(s, "%s publishes ", or_else(c->domain, "The domain"));
	if (v->hosts >= 0)
		put(s, "%lld KMS hosts", v->hosts);
	else
		put(s, "too many KMS hosts");
	if (v->max_hosts >= 0)
		put(s, ", more than the intended %lld", v->max_hosts);

	put(d,
	    "_vlmcs._tcp.%s lists more KMS hosts than intended. Clients pick one at random, so "
	    "the count is split between them and each may stay below the threshold, making "
	    "clients fail with 0xC004F038. Extra records usually come from a machine that got a "
	    "KMS host key by mistake, or from hosts decommissioned without removing their "
	    "records.",
	    c->domain_cmd);

	put(r, "List the records with ");
	put_nslookup(r, c);
	put(r, ". On a machine that got a host key by mistake, install its client key (`slmgr.vbs "
	       "/ipk <GVLK>`) and delete its SRV record; delete the records of decommissioned "
	       "hosts; run `slmgr.vbs /cdns` on a host that should serve without being published. "
	       "If the extra host is intended, raise alerts.max_hosts.");
}

static void
describe_stale(const struct ctx *c, struct text *s, struct text *d, struct text *r)
{
	const struct diag_vars *v = c->v;

	put(s, "No successful probe of %s", c->target);
	put_for_product(s, c);
	if (known(v->last_success) != NULL)
		put(s, " since %s", v->last_success);
	else
		put(s, " for several intervals");

	put(d, "The agent has not had a verified answer from %s", c->target);
	put_for_product(d, c);
	put(d, " for several probe intervals");
	if (known(v->result) != NULL)
		put(d, "; the last attempt ended in %s", v->result);
	put(d, ".");
	if (c->has_code) {
		const char *m = code_meaning(c->code);
		put(d, " A client in the same situation reports 0x%08" PRIX32 "%s%s%s.", c->code,
		    m != NULL ? " (" : "", m != NULL ? m : "", m != NULL ? ")" : "");
	}
	put(d, " The count and license status shown for it are from the last success and may be "
	       "out of date.");
	put_detail(d, c);

	put(r, "Run the probe by hand with the agent's /probe?target=%s:%s", c->host_cmd,
	    c->port_cmd);
	if (c->product != NULL)
		put(r, "&product=%s", c->product);
	put(r,
	    " and look at kms_probe_result and kms_probe_hresult on /metrics, then follow the "
	    "runbook of that failure. If clients activate against this host while the agent "
	    "cannot, check the path from the agent to port %s (`nc -vz %s %s`).",
	    c->port_cmd, c->host_cmd, c->port_cmd);
}

typedef void (*describe_fn)(const struct ctx *, struct text *, struct text *, struct text *);

static const describe_fn describers[DIAG_ALERT_COUNT] = {
    [DIAG_NO_SRV_RECORDS] = describe_no_srv,
    [DIAG_DNS_FAILURE] = describe_dns_failure,
    [DIAG_SRV_INCONSISTENT] = describe_srv_inconsistent,
    [DIAG_HOST_UNREACHABLE] = describe_host_unreachable,
    [DIAG_NO_HOST_REACHABLE] = describe_no_host_reachable,
    [DIAG_HOST_NOT_ACTIVATED] = describe_not_activated,
    [DIAG_PRODUCT_NOT_COVERED] = describe_not_covered,
    [DIAG_CLOCK_SKEW] = describe_clock_skew,
    [DIAG_HOST_OUTDATED] = describe_outdated,
    [DIAG_COUNT_BELOW_THRESHOLD] = describe_count_below,
    [DIAG_COUNT_NEAR_THRESHOLD] = describe_count_near,
    [DIAG_COUNT_DROPPED] = describe_count_dropped,
    [DIAG_HOST_KEY_CHANGED] = describe_key_changed,
    [DIAG_TOO_MANY_HOSTS] = describe_too_many,
    [DIAG_PROBE_STALE] = describe_stale,
};

void
diag_describe(enum diag_alert a, const char *code_hint, const struct diag_vars *v,
              struct diag_text *out)
{
	static const struct diag_vars unknown = DIAG_VARS_UNKNOWN;
	const struct alert_def *def = alert_def(a);
	struct ctx c;
	struct text s, d, r;

	memset(out, 0, sizeof(*out));
	if (def == NULL)
		return;
	if (v == NULL)
		v = &unknown;
	ctx_init(&c, v);
	c.has_code = pick_code(def, code_hint, v->result, &c.code);
	if (c.has_code)
		snprintf(out->code, sizeof(out->code), "0x%08" PRIX32, c.code);

	text_init(&s, out->summary, sizeof(out->summary));
	text_init(&d, out->description, sizeof(out->description));
	text_init(&r, out->remedy, sizeof(out->remedy));
	describers[a](&c, &s, &d, &r);
	text_finish(&s);
	text_finish(&d);
	text_finish(&r);
}

/* Outcomes: one static entry per state. */

static void
outcome(struct diag_outcome *out, const char *code, int alert, const char *meaning,
        const char *remedy)
{
	out->code = code;
	out->alert = alert;
	out->meaning = meaning;
	out->remedy = remedy;
}

void
diag_srv(enum dns_result r, struct diag_outcome *out)
{
	switch (r) {
	case DNS_OK:
		outcome(out, "", -1, "The DNS server returned SRV records for the domain.",
		        "Nothing to do; the hosts the records name are checked next.");
		return;
	case DNS_NXDOMAIN:
		outcome(out, "0x8007232B", DIAG_NO_SRV_RECORDS,
		        "The DNS server says _vlmcs._tcp does not exist in this domain, so clients "
		        "that rely on DNS find no KMS host.",
		        "Check with `slmgr.vbs /dlv` that a licensed KMS host exists and publishes "
		        "to DNS (`slmgr.vbs /sdns`), or create the _vlmcs._tcp SRV record by hand "
		        "(priority 0, weight 0, port 1688, target the host's FQDN); check the "
		        "clients' DNS suffix.");
		return;
	case DNS_NODATA:
		outcome(out, "0x8007251D", DIAG_NO_SRV_RECORDS,
		        "The name _vlmcs._tcp exists in this domain but holds no SRV records, so "
		        "clients that rely on DNS find no KMS host.",
		        "Check with `slmgr.vbs /dlv` that a licensed KMS host exists and publishes "
		        "to DNS (`slmgr.vbs /sdns`), or create the SRV record by hand (priority 0, "
		        "weight 0, port 1688, target the host's FQDN); look for records of another "
		        "type left under the name.");
		return;
	case DNS_SERVFAIL:
		outcome(out, "0x8007232A", DIAG_DNS_FAILURE,
		        "The DNS server failed to answer (SERVFAIL): it cannot reach the zone's "
		        "authoritative servers or DNSSEC validation failed.",
		        "Check the server's forwarders or delegation for the zone and its DNSSEC "
		        "state; repeat with `dig SRV _vlmcs._tcp.<domain> @<server>`.");
		return;
	case DNS_REFUSED:
		outcome(out, "0x8007232A", DIAG_DNS_FAILURE,
		        "The DNS server refused the query, or nothing listens on its DNS port.",
		        "Check that the DNS service runs and that its access lists allow queries "
		        "and recursion from the clients' networks (and from the agent).");
		return;
	case DNS_TIMEOUT:
		outcome(out, "0x8007232A", DIAG_DNS_FAILURE,
		        "The DNS server did not answer in time.",
		        "Check that the server is up and that UDP and TCP port 53 are open on the "
		        "path from the clients (and the agent) to it.");
		return;
	case DNS_ERROR:
		outcome(out, "0x8007232A", DIAG_DNS_FAILURE,
		        "The DNS lookup failed with an unusable or malformed answer.",
		        "Repeat the query with `dig SRV _vlmcs._tcp.<domain> @<server>` and check "
		        "the server's logs; the agent's log has the details.");
		return;
	case DNS_CANCELLED:
		break;
	}
	outcome(out, "", -1,
	        "The lookup was abandoned before it finished (reload or shutdown), so nothing "
	        "was learned.",
	        "Nothing to do; the next cycle asks again.");
}

void
diag_tcp(enum probe_tcp_result r, struct diag_outcome *out)
{
	switch (r) {
	case PROBE_TCP_OK:
		outcome(out, "", -1, "The KMS port accepted a TCP connection.",
		        "Nothing to do; the activation probe checks the service itself.");
		return;
	case PROBE_TCP_REFUSED:
		outcome(out, "0x800706BA", DIAG_HOST_UNREACHABLE,
		        "The host refused the connection: nothing listens on the KMS port, or a "
		        "firewall rejects it.",
		        "Enable the firewall rule \"Key Management Service (TCP-In)\" on the host "
		        "and check with `slmgr.vbs /dlv` that it is a KMS host listening on this "
		        "port; remove SRV records of hosts that no longer serve KMS.");
		return;
	case PROBE_TCP_UNREACHABLE:
		outcome(out, "0x800706BA", DIAG_HOST_UNREACHABLE,
		        "There is no route to the host: it is down, or the network reports it "
		        "unreachable.",
		        "Check that the host is running and routed from the clients' networks; if "
		        "it was decommissioned, delete its _vlmcs._tcp SRV record.");
		return;
	case PROBE_TCP_TIMEOUT:
		outcome(out, "0xC004F039", DIAG_HOST_UNREACHABLE,
		        "The connection attempt got no answer: a firewall or router on the path "
		        "drops the packets, or the host is hung.",
		        "Check firewalls, routers and the host's rule \"Key Management Service "
		        "(TCP-In)\" for the KMS port; test with `Test-NetConnection <host> -Port "
		        "1688` from a client.");
		return;
	case PROBE_TCP_RESOLVE_FAILED:
		outcome(out, "0x800706BA", DIAG_HOST_UNREACHABLE,
		        "The host's name does not resolve to an address, often a SRV record left "
		        "behind by a decommissioned host.",
		        "Delete the stale _vlmcs._tcp SRV record, or restore the host's A/AAAA "
		        "record if the host still serves.");
		return;
	case PROBE_TCP_RESULT_COUNT:
		break;
	}
	outcome(out, "", -1, "The connection state is unknown.",
	        "Nothing to do; the next cycle checks again.");
}

void
diag_kms(enum probe_kms_result r, uint32_t hresult, struct diag_outcome *out)
{
	if (r == PROBE_KMS_HOST_ERROR) {
		switch (hresult) {
		case PROBE_HR_NOT_COVERED:
			r = PROBE_KMS_PRODUCT_NOT_COVERED;
			break;
		case PROBE_HR_NOT_ACTIVATED:
			r = PROBE_KMS_HOST_NOT_ACTIVATED;
			break;
		case PROBE_HR_CLOCK_SKEW:
			r = PROBE_KMS_CLOCK_SKEW;
			break;
		case PROBE_HR_INVALID_DATA:
			r = PROBE_KMS_PROTOCOL_UNSUPPORTED;
			break;
		default:
			break;
		}
	}
	switch (r) {
	case PROBE_KMS_OK:
		outcome(out, "", -1,
		        "The host answered with a verified activation response and its current "
		        "count.",
		        "Nothing to do; compare the count with the product's threshold.");
		return;
	case PROBE_KMS_PRODUCT_NOT_COVERED:
		outcome(
		    out, "0xC004F042", DIAG_PRODUCT_NOT_COVERED,
		    "The host's KMS host key does not cover this product, so it refuses to "
		    "activate it.",
		    "Install a host key (or the Office volume license pack) that covers the "
		    "product and activate it with `slmgr.vbs /ato`, or point these clients at a "
		    "host that covers them.");
		return;
	case PROBE_KMS_HOST_NOT_ACTIVATED:
		outcome(out, "0xC004F041", DIAG_HOST_NOT_ACTIVATED,
		        "The KMS host itself is not activated, so it activates no clients.",
		        "Activate the host with `slmgr.vbs /ato` (or by phone, `slui.exe 4`) and "
		        "check that `slmgr.vbs /dlv` reads Licensed.");
		return;
	case PROBE_KMS_CLOCK_SKEW:
		outcome(
		    out, "0xC004F06C", DIAG_CLOCK_SKEW,
		    "The host rejected the request's timestamp: its clock and the agent's differ "
		    "by more than about 4 hours.",
		    "Synchronize time on the host and the clients (domain hierarchy or NTP), "
		    "then `w32tm /resync`.");
		return;
	case PROBE_KMS_PROTOCOL_UNSUPPORTED:
		outcome(out, "0x8007000D", DIAG_HOST_OUTDATED,
		        "The host rejects the newer KMS protocol versions: it is too old for newer "
		        "clients.",
		        "Install the current updates on the host, or replace it with a host on a "
		        "current Windows Server.");
		return;
	case PROBE_KMS_HOST_ERROR:
		outcome(
		    out, "", -1,
		    "The host refused the request with an error code of its own; the code is in "
		    "kms_probe_hresult.",
		    "Look the code up with `slui.exe 0x2a <code>` on a Windows machine and check "
		    "the host's Key Management Service event log; if it persists, "
		    "KMSProbeStale fires.");
		return;
	case PROBE_KMS_RPC_ERROR:
		outcome(
		    out, "", -1,
		    "Something on the KMS port accepted the connection but refused the KMS RPC "
		    "interface (bind rejected or RPC fault); the status is in kms_probe_hresult.",
		    "Check that the port belongs to the Software Protection service "
		    "(`slmgr.vbs /dlv` shows the KMS port) and not to another program or a "
		    "proxy; if it persists, KMSProbeStale fires.");
		return;
	case PROBE_KMS_PROTOCOL_ERROR:
		outcome(out, "", -1,
		        "The host's answer was malformed or failed the integrity checks.",
		        "Look at the detail in /probe output and the agent's log; a proxy or an "
		        "emulator that is not a real KMS host can cause this. If it persists, "
		        "KMSProbeStale fires.");
		return;
	case PROBE_KMS_TIMEOUT:
		outcome(out, "0xC004F039", DIAG_HOST_UNREACHABLE,
		        "The host did not answer in time, during the connection or the KMS "
		        "exchange.",
		        "Check firewalls and routers on the path for the KMS port, and that the "
		        "host is not hung; test with `Test-NetConnection <host> -Port 1688`.");
		return;
	case PROBE_KMS_UNREACHABLE:
		outcome(out, "0x800706BA", DIAG_HOST_UNREACHABLE,
		        "The host could not be reached: its name did not resolve, the connection "
		        "was refused, or there was no route.",
		        "Enable the firewall rule \"Key Management Service (TCP-In)\" on the host "
		        "and remove SRV records of decommissioned hosts.");
		return;
	case PROBE_KMS_RESULT_COUNT:
		break;
	}
	outcome(out, "", -1, "The activation probe's state is unknown.",
	        "Nothing to do; the next probe round asks again.");
}
