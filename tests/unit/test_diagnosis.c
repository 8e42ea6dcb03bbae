/*
 * Diagnosis: the alert catalog is complete and agrees with docs/runbooks.md,
 * every alert renders for full and for unknown values, codes follow
 * DOMAIN.md's table (and the hints), every observable state has an outcome,
 * and no input overflows a text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "kmswatch/diagnosis.h"

#define RUNBOOKS TEST_DATA_DIR "/../../docs/runbooks.md"

/* DOMAIN.md, "Error codes the agent reports". */
static const char *const domain_codes[] = {
    "0x8007232B", "0x8007251D", "0x8007232A", "0x800706BA", "0xC004F039", "0xC004F074",
    "0xC004F041", "0xC004F042", "0xC004F038", "0xC004F06C", "0x8007000D",
};
#define N_DOMAIN_CODES (sizeof(domain_codes) / sizeof(domain_codes[0]))

/* The catalog as the brief and DESIGN.md define it: name, severity, default code. */
static const struct {
	enum diag_alert a;
	const char *name;
	const char *severity;
	const char *code;
} catalog[] = {
    {DIAG_NO_SRV_RECORDS, "KMSNoSRVRecords", "critical", "0x8007232B"},
    {DIAG_DNS_FAILURE, "KMSDNSFailure", "warning", "0x8007232A"},
    {DIAG_SRV_INCONSISTENT, "KMSSRVInconsistent", "warning", ""},
    {DIAG_HOST_UNREACHABLE, "KMSHostUnreachable", "warning", "0x800706BA"},
    {DIAG_NO_HOST_REACHABLE, "KMSNoHostReachable", "critical", "0xC004F074"},
    {DIAG_HOST_NOT_ACTIVATED, "KMSHostNotActivated", "critical", "0xC004F041"},
    {DIAG_PRODUCT_NOT_COVERED, "KMSProductNotCovered", "warning", "0xC004F042"},
    {DIAG_CLOCK_SKEW, "KMSClockSkew", "warning", "0xC004F06C"},
    {DIAG_HOST_OUTDATED, "KMSHostOutdated", "warning", "0x8007000D"},
    {DIAG_COUNT_BELOW_THRESHOLD, "KMSCountBelowThreshold", "critical", "0xC004F038"},
    {DIAG_COUNT_NEAR_THRESHOLD, "KMSCountNearThreshold", "warning", ""},
    {DIAG_COUNT_DROPPED, "KMSCountDropped", "critical", ""},
    {DIAG_HOST_KEY_CHANGED, "KMSHostKeyChanged", "info", ""},
    {DIAG_TOO_MANY_HOSTS, "KMSTooManyHosts", "warning", ""},
    {DIAG_PROBE_STALE, "KMSProbeStale", "warning", ""},
};
#define N_CATALOG (sizeof(catalog) / sizeof(catalog[0]))

static struct diag_vars
full_vars(void)
{
	struct diag_vars v = {
	    .domain = "corp.example.com",
	    .resolver = "10.0.0.53:53",
	    .host = "kms1.corp.example.com",
	    .port = "1688",
	    .product = "windows-10-11",
	    .detail = "KMS response: HMAC mismatch",
	    .count = 12,
	    .required = 25,
	    .margin = 5,
	    .max = 31,
	    .drop_min = 5,
	    .hosts = 4,
	    .max_hosts = 2,
	    .drop_ratio = 0.2,
	    .window = "24h",
	    .old_epid = "06401-00206-551-080125-03-1033-17763.0000-1812018",
	    .new_epid = "06401-00206-551-543210-03-1033-20348.0000-0432022",
	    .last_success = "2024-05-02T10:15:00Z",
	    .result = "timeout",
	};
	return v;
}

static char *
read_runbooks(void)
{
	FILE *f = fopen(RUNBOOKS, "rb");
	cr_assert_not_null(f, "cannot open %s", RUNBOOKS);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	cr_assert_gt(n, 0);
	rewind(f);
	char *text = malloc((size_t)n + 1);
	cr_assert_not_null(text);
	cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* True when line occurs in text as a whole line. */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = strstr(text, line); p != NULL; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static void
assert_clean(const char *what, const char *name, const char *s, int check_minus_one)
{
	cr_assert(s[0] != '\0', "%s of %s is empty", what, name);
	cr_assert_null(strstr(s, "(null)"), "%s of %s: %s", what, name, s);
	cr_assert_null(strstr(s, "%s"), "%s of %s has a stray format: %s", what, name, s);
	cr_assert_null(strstr(s, "%ll"), "%s of %s has a stray format: %s", what, name, s);
	if (check_minus_one)
		cr_assert_null(strstr(s, "-1"), "%s of %s mentions -1: %s", what, name, s);
}

static void
assert_text(enum diag_alert a, const struct diag_text *t, int unknown)
{
	const char *name = diag_alert_name(a);
	assert_clean("summary", name, t->summary, unknown);
	assert_clean("description", name, t->description, unknown);
	assert_clean("remedy", name, t->remedy, unknown);
	cr_assert_null(strchr(t->summary, '\n'), "summary of %s is not one line", name);
	cr_assert_lt(strlen(t->summary), sizeof(t->summary));
	cr_assert_lt(strlen(t->description), sizeof(t->description));
	cr_assert_lt(strlen(t->remedy), sizeof(t->remedy));
	/* A code, when the alert has one, is named in the description too. */
	if (t->code[0] != '\0')
		cr_assert_not_null(strstr(t->description, t->code), "%s: %s not in: %s", name,
		                   t->code, t->description);
}

Test(diagnosis, catalog_is_complete_and_as_specified)
{
	cr_assert_eq(N_CATALOG, DIAG_ALERT_COUNT);
	for (size_t i = 0; i < N_CATALOG; i++) {
		enum diag_alert a = catalog[i].a;
		cr_assert_str_eq(diag_alert_name(a), catalog[i].name);
		cr_assert_str_eq(diag_alert_severity(a), catalog[i].severity, "%s",
		                 catalog[i].name);
	}
}

Test(diagnosis, names_severities_anchors)
{
	for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
		enum diag_alert a = (enum diag_alert)i;
		const char *name = diag_alert_name(a);
		const char *sev = diag_alert_severity(a);
		const char *anchor = diag_alert_anchor(a);
		cr_assert_not_null(name, "alert %d has no name", i);
		cr_assert_not_null(sev, "%s has no severity", name);
		cr_assert_not_null(anchor, "%s has no anchor", name);

		/* CamelCase after the KMS prefix: letters only, next one upper case. */
		cr_assert_eq(strncmp(name, "KMS", 3), 0, "%s", name);
		cr_assert(name[3] >= 'A' && name[3] <= 'Z', "%s", name);
		for (const char *p = name; *p != '\0'; p++)
			cr_assert((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'), "%s", name);

		cr_assert(strcmp(sev, "critical") == 0 || strcmp(sev, "warning") == 0 ||
		              strcmp(sev, "info") == 0,
		          "%s: %s", name, sev);

		/* The anchor is the name in lower case: stable, and what http.c accepts. */
		cr_assert_eq(strlen(anchor), strlen(name));
		for (size_t k = 0; name[k] != '\0'; k++) {
			char lower = name[k] >= 'A' && name[k] <= 'Z' ? (char)(name[k] - 'A' + 'a')
			                                              : name[k];
			cr_assert_eq(anchor[k], lower, "%s: %s", name, anchor);
		}

		for (int j = 0; j < i; j++) {
			cr_assert_str_neq(name, diag_alert_name((enum diag_alert)j));
			cr_assert_str_neq(anchor, diag_alert_anchor((enum diag_alert)j));
		}
	}
	cr_assert_null(diag_alert_name(DIAG_ALERT_COUNT));
	cr_assert_null(diag_alert_severity(DIAG_ALERT_COUNT));
	cr_assert_null(diag_alert_anchor((enum diag_alert) - 1));
}

Test(diagnosis, every_anchor_is_in_the_runbooks)
{
	char *text = read_runbooks();
	char line[256];
	for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
		enum diag_alert a = (enum diag_alert)i;
		snprintf(line, sizeof(line), "<a id=\"%s\"></a>", diag_alert_anchor(a));
		cr_assert(has_line(text, line), "runbooks.md lacks %s", line);
		snprintf(line, sizeof(line), "## %s {#%s}", diag_alert_name(a),
		         diag_alert_anchor(a));
		cr_assert(has_line(text, line), "runbooks.md lacks the heading %s", line);
	}
	/* Every code an administrator may look up has its place in the runbooks. */
	for (size_t i = 0; i < N_DOMAIN_CODES; i++)
		cr_assert_not_null(strstr(text, domain_codes[i]), "runbooks.md lacks %s",
		                   domain_codes[i]);
	free(text);
}

Test(diagnosis, parse_round_trips)
{
	for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
		enum diag_alert a = DIAG_ALERT_COUNT, want = (enum diag_alert)i;
		cr_assert_eq(diag_alert_parse(diag_alert_name(want), &a), 0);
		cr_assert_eq(a, want);
	}
	enum diag_alert a = DIAG_PROBE_STALE;
	cr_assert_eq(diag_alert_parse("kmscountdropped", &a), -1); /* names are case-sensitive */
	cr_assert_eq(diag_alert_parse("KMSCountDropped ", &a), -1);
	cr_assert_eq(diag_alert_parse("", &a), -1);
	cr_assert_eq(diag_alert_parse(NULL, &a), -1);
	cr_assert_eq(a, DIAG_PROBE_STALE, "a failed parse leaves out alone");
}

Test(diagnosis, full_vars_render)
{
	struct diag_vars v = full_vars();
	for (size_t i = 0; i < N_CATALOG; i++) {
		struct diag_text t;
		v.result = NULL; /* the default code, not the one "timeout" implies */
		diag_describe(catalog[i].a, NULL, &v, &t);
		assert_text(catalog[i].a, &t, 0);
		cr_assert_str_eq(t.code, catalog[i].code, "%s", catalog[i].name);
	}
}

Test(diagnosis, summaries_name_the_instance)
{
	struct diag_vars v = full_vars();
	struct diag_text t;

	diag_describe(DIAG_COUNT_DROPPED, NULL, &v, &t);
	cr_assert_str_eq(t.summary, "Count for windows-10-11 on kms1.corp.example.com:1688 fell "
	                            "from 31 to 12 (24h maximum)");
	cr_assert_not_null(strstr(t.description, "19"), "%s", t.description);
	cr_assert_not_null(strstr(t.description, "0xC004F038"), "%s", t.description);

	diag_describe(DIAG_COUNT_BELOW_THRESHOLD, NULL, &v, &t);
	cr_assert_str_eq(t.summary, "Count for windows-10-11 on kms1.corp.example.com:1688 is 12, "
	                            "below the required 25");

	diag_describe(DIAG_TOO_MANY_HOSTS, NULL, &v, &t);
	cr_assert_not_null(strstr(t.summary, "corp.example.com"));
	cr_assert_not_null(strstr(t.summary, "4"));
	cr_assert_not_null(strstr(t.summary, "2"));

	static const enum diag_alert dns[] = {DIAG_NO_SRV_RECORDS, DIAG_DNS_FAILURE};
	for (size_t i = 0; i < 2; i++) {
		diag_describe(dns[i], NULL, &v, &t);
		cr_assert_not_null(strstr(t.summary, "corp.example.com"), "%s", t.summary);
		cr_assert_not_null(strstr(t.summary, "10.0.0.53:53"), "%s", t.summary);
	}
	static const enum diag_alert hosts[] = {
	    DIAG_HOST_UNREACHABLE,     DIAG_HOST_NOT_ACTIVATED, DIAG_PRODUCT_NOT_COVERED,
	    DIAG_CLOCK_SKEW,           DIAG_HOST_OUTDATED,      DIAG_COUNT_BELOW_THRESHOLD,
	    DIAG_COUNT_NEAR_THRESHOLD, DIAG_COUNT_DROPPED,      DIAG_HOST_KEY_CHANGED,
	    DIAG_PROBE_STALE,
	};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		diag_describe(hosts[i], NULL, &v, &t);
		cr_assert_not_null(strstr(t.summary, "kms1.corp.example.com:1688"), "%s",
		                   t.summary);
	}

	/* Commands carry the instance's values. */
	diag_describe(DIAG_HOST_UNREACHABLE, "0xC004F039", &v, &t);
	cr_assert_not_null(strstr(t.remedy, "Test-NetConnection kms1.corp.example.com -Port 1688"),
	                   "%s", t.remedy);
	diag_describe(DIAG_NO_SRV_RECORDS, NULL, &v, &t);
	cr_assert_not_null(
	    strstr(t.remedy, "nslookup -type=srv _vlmcs._tcp.corp.example.com 10.0.0.53"), "%s",
	    t.remedy);
	v.resolver = "[2001:db8::53]:5353";
	diag_describe(DIAG_NO_SRV_RECORDS, NULL, &v, &t);
	cr_assert_not_null(strstr(t.remedy, "nslookup -type=srv -port=5353 "
	                                    "_vlmcs._tcp.corp.example.com 2001:db8::53`"),
	                   "%s", t.remedy);
	v.resolver = "system";
	diag_describe(DIAG_NO_SRV_RECORDS, NULL, &v, &t);
	cr_assert_not_null(strstr(t.remedy, "nslookup -type=srv _vlmcs._tcp.corp.example.com`"),
	                   "%s", t.remedy);
}

Test(diagnosis, unknown_vars_render)
{
	struct diag_vars unknown = DIAG_VARS_UNKNOWN;
	/* What alerts.c builds: zeroed, numbers set to -1, ratio left at 0 (off). */
	struct diag_vars zeroed;
	memset(&zeroed, 0, sizeof(zeroed));
	zeroed.count = zeroed.required = zeroed.margin = zeroed.max = zeroed.drop_min = -1;
	zeroed.hosts = zeroed.max_hosts = -1;
	/* Empty strings count as unknown too. */
	struct diag_vars empty = DIAG_VARS_UNKNOWN;
	empty.domain = empty.resolver = empty.host = empty.port = empty.product = "";
	empty.detail = empty.window = empty.old_epid = empty.new_epid = "";
	empty.last_success = empty.result = "";

	const struct diag_vars *sets[] = {&unknown, &zeroed, &empty, NULL};
	for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
		for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
			struct diag_text t;
			diag_describe((enum diag_alert)i, NULL, sets[s], &t);
			assert_text((enum diag_alert)i, &t, 1);
		}
	}
}

Test(diagnosis, code_hints)
{
	struct diag_vars v = DIAG_VARS_UNKNOWN;
	struct diag_text t;

	diag_describe(DIAG_NO_SRV_RECORDS, NULL, &v, &t);
	cr_assert_str_eq(t.code, "0x8007232B");
	diag_describe(DIAG_NO_SRV_RECORDS, "0x8007251D", &v, &t);
	cr_assert_str_eq(t.code, "0x8007251D");
	cr_assert_not_null(strstr(t.description, "no SRV records"), "%s", t.description);
	diag_describe(DIAG_NO_SRV_RECORDS, "0x8007251d", &v, &t); /* hex case is free */
	cr_assert_str_eq(t.code, "0x8007251D");
	diag_describe(DIAG_NO_SRV_RECORDS, "0xC004F038", &v, &t); /* not this alert's */
	cr_assert_str_eq(t.code, "0x8007232B");

	/* Malformed hints fall back to the default. */
	static const char *const bad[] = {"",           "0x",          "8007251D",
	                                  "0x8007251",  "0x8007251DD", "0x8007251G",
	                                  "1x8007251D", " 0x8007251D"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		diag_describe(DIAG_NO_SRV_RECORDS, bad[i], &v, &t);
		cr_assert_str_eq(t.code, "0x8007232B", "hint \"%s\"", bad[i]);
	}

	/* Without a hint the result decides between an alert's codes. */
	v.result = "nodata";
	diag_describe(DIAG_NO_SRV_RECORDS, NULL, &v, &t);
	cr_assert_str_eq(t.code, "0x8007251D");
	v.result = "timeout";
	diag_describe(DIAG_HOST_UNREACHABLE, NULL, &v, &t);
	cr_assert_str_eq(t.code, "0xC004F039");
	cr_assert_not_null(strstr(t.summary, "timed out"), "%s", t.summary);
	/* ...but the hint wins. */
	diag_describe(DIAG_HOST_UNREACHABLE, "0x800706BA", &v, &t);
	cr_assert_str_eq(t.code, "0x800706BA");
	v.result = "refused";
	diag_describe(DIAG_HOST_UNREACHABLE, "0xC004F039", &v, &t);
	cr_assert_str_eq(t.code, "0xC004F039");
	cr_assert_not_null(strstr(t.remedy, "Key Management Service (TCP-In)"), "%s", t.remedy);
	diag_describe(DIAG_HOST_UNREACHABLE, NULL, &v, &t);
	cr_assert_str_eq(t.code, "0x800706BA");
	cr_assert_not_null(strstr(t.summary, "refused"), "%s", t.summary);

	/* KMSProbeStale carries whatever the last failure had, or nothing. */
	v.result = NULL;
	diag_describe(DIAG_PROBE_STALE, NULL, &v, &t);
	cr_assert_str_eq(t.code, "");
	diag_describe(DIAG_PROBE_STALE, "0xc004f041", &v, &t);
	cr_assert_str_eq(t.code, "0xC004F041");
	cr_assert_not_null(strstr(t.description, "not activated"), "%s", t.description);
	diag_describe(DIAG_PROBE_STALE, "0x80070005", &v, &t); /* any host's code */
	cr_assert_str_eq(t.code, "0x80070005");
	diag_describe(DIAG_PROBE_STALE, "0x00000000", &v, &t); /* success is no failure code */
	cr_assert_str_eq(t.code, "");
	v.result = "timeout";
	diag_describe(DIAG_PROBE_STALE, NULL, &v, &t);
	cr_assert_str_eq(t.code, "0xC004F039");

	/* Alerts without a code ignore hints. */
	static const enum diag_alert none[] = {DIAG_SRV_INCONSISTENT, DIAG_COUNT_NEAR_THRESHOLD,
	                                       DIAG_COUNT_DROPPED, DIAG_HOST_KEY_CHANGED,
	                                       DIAG_TOO_MANY_HOSTS};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		diag_describe(none[i], "0xC004F038", &v, &t);
		cr_assert_str_eq(t.code, "", "%s", diag_alert_name(none[i]));
	}
	/* Single-code alerts keep theirs. */
	diag_describe(DIAG_NO_HOST_REACHABLE, "0x800706BA", &v, &t);
	cr_assert_str_eq(t.code, "0xC004F074");
}

Test(diagnosis, out_of_range_alert_is_empty)
{
	struct diag_text t;
	memset(&t, 'x', sizeof(t));
	diag_describe(DIAG_ALERT_COUNT, NULL, NULL, &t);
	cr_assert_str_eq(t.code, "");
	cr_assert_str_eq(t.summary, "");
	cr_assert_str_eq(t.description, "");
	cr_assert_str_eq(t.remedy, "");
}

/* A diag_text between guard bytes, to catch a write past either end. */
struct guarded {
	unsigned char before[64];
	struct diag_text t;
	unsigned char after[64];
};

static void
assert_guards(const struct guarded *g, const char *what)
{
	for (size_t i = 0; i < sizeof(g->before); i++) {
		cr_assert_eq(g->before[i], 0xA5, "%s: wrote before the text", what);
		cr_assert_eq(g->after[i], 0xA5, "%s: wrote after the text", what);
	}
}

/* No byte sequence cut in the middle: every lead byte has its continuations. */
static int
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : 3;
		if ((*p & 0xC0) == 0x80)
			return 0;
		p++;
		for (int k = 0; k < n; k++, p++)
			if ((*p & 0xC0) != 0x80)
				return 0;
	}
	return 1;
}

Test(diagnosis, huge_values_truncate_safely)
{
	static char huge[10 * 1024 + 1];
	static char wide[10 * 1024 + 1];
	memset(huge, 'd', sizeof(huge) - 1);
	/* Two-byte characters, so a cut at a byte boundary would split one. */
	for (size_t i = 0; i + 1 < sizeof(wide) - 1; i += 2) {
		wide[i] = (char)0xC3;
		wide[i + 1] = (char)0xA9;
	}

	const char *values[] = {huge, wide};
	for (size_t k = 0; k < 2; k++) {
		for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
			struct diag_vars v = full_vars();
			v.detail = values[k];
			for (int field = 0; field < 3; field++) {
				struct guarded g;
				memset(&g, 0xA5, sizeof(g));
				if (field == 1)
					v.host = values[k];
				if (field == 2)
					v.domain = v.product = v.new_epid = values[k];
				diag_describe((enum diag_alert)i, NULL, &v, &g.t);
				const char *name = diag_alert_name((enum diag_alert)i);
				assert_guards(&g, name);
				cr_assert_lt(strlen(g.t.summary), sizeof(g.t.summary), "%s", name);
				cr_assert_lt(strlen(g.t.description), sizeof(g.t.description));
				cr_assert_lt(strlen(g.t.remedy), sizeof(g.t.remedy));
				cr_assert(g.t.summary[0] != '\0' && g.t.description[0] != '\0' &&
				          g.t.remedy[0] != '\0');
				cr_assert(valid_utf8(g.t.summary), "%s: summary cut mid-character",
				          name);
				cr_assert(valid_utf8(g.t.description), "%s: description cut", name);
				cr_assert(valid_utf8(g.t.remedy), "%s: remedy cut", name);
			}
		}
	}

	/* A text that did not fit says so. */
	struct diag_vars v = full_vars();
	v.detail = huge;
	struct diag_text t;
	diag_describe(DIAG_DNS_FAILURE, NULL, &v, &t);
	size_t n = strlen(t.description);
	cr_assert_eq(n, sizeof(t.description) - 1);
	cr_assert_str_eq(t.description + n - 3, "...");
}

Test(diagnosis, srv_outcomes)
{
	static const struct {
		enum dns_result r;
		const char *code;
		int alert;
	} want[] = {
	    {DNS_OK, "", -1},
	    {DNS_NXDOMAIN, "0x8007232B", DIAG_NO_SRV_RECORDS},
	    {DNS_NODATA, "0x8007251D", DIAG_NO_SRV_RECORDS},
	    {DNS_SERVFAIL, "0x8007232A", DIAG_DNS_FAILURE},
	    {DNS_REFUSED, "0x8007232A", DIAG_DNS_FAILURE},
	    {DNS_TIMEOUT, "0x8007232A", DIAG_DNS_FAILURE},
	    {DNS_ERROR, "0x8007232A", DIAG_DNS_FAILURE},
	};
	cr_assert_eq(sizeof(want) / sizeof(want[0]), DNS_RESULT_COUNT);
	for (size_t i = 0; i < DNS_RESULT_COUNT; i++) {
		struct diag_outcome o;
		diag_srv(want[i].r, &o);
		const char *name = dns_result_name(want[i].r);
		cr_assert_not_null(o.code);
		cr_assert_str_eq(o.code, want[i].code, "%s", name);
		cr_assert_eq(o.alert, want[i].alert, "%s", name);
		cr_assert(o.meaning != NULL && o.meaning[0] != '\0', "%s", name);
		cr_assert(o.remedy != NULL && o.remedy[0] != '\0', "%s", name);
	}
	/* Cancelled is never exported, but must not crash or raise anything. */
	struct diag_outcome o;
	diag_srv(DNS_CANCELLED, &o);
	cr_assert_str_eq(o.code, "");
	cr_assert_eq(o.alert, -1);
	cr_assert_not_null(o.meaning);
}

Test(diagnosis, tcp_outcomes)
{
	static const struct {
		enum probe_tcp_result r;
		const char *code;
		int alert;
	} want[] = {
	    {PROBE_TCP_OK, "", -1},
	    {PROBE_TCP_REFUSED, "0x800706BA", DIAG_HOST_UNREACHABLE},
	    {PROBE_TCP_UNREACHABLE, "0x800706BA", DIAG_HOST_UNREACHABLE},
	    {PROBE_TCP_TIMEOUT, "0xC004F039", DIAG_HOST_UNREACHABLE},
	    {PROBE_TCP_RESOLVE_FAILED, "0x800706BA", DIAG_HOST_UNREACHABLE},
	};
	cr_assert_eq(sizeof(want) / sizeof(want[0]), PROBE_TCP_RESULT_COUNT);
	for (size_t i = 0; i < PROBE_TCP_RESULT_COUNT; i++) {
		struct diag_outcome o;
		diag_tcp(want[i].r, &o);
		const char *name = probe_tcp_result_name(want[i].r);
		cr_assert_str_eq(o.code, want[i].code, "%s", name);
		cr_assert_eq(o.alert, want[i].alert, "%s", name);
		cr_assert(o.meaning != NULL && o.meaning[0] != '\0', "%s", name);
		cr_assert(o.remedy != NULL && o.remedy[0] != '\0', "%s", name);
	}
}

Test(diagnosis, kms_outcomes)
{
	/* host_error, rpc_error and protocol_error have no alert of their own:
	 * when they persist, KMSProbeStale fires with their code. */
	static const struct {
		enum probe_kms_result r;
		uint32_t hresult;
		const char *code;
		int alert;
	} want[] = {
	    {PROBE_KMS_OK, 0, "", -1},
	    {PROBE_KMS_PRODUCT_NOT_COVERED, PROBE_HR_NOT_COVERED, "0xC004F042",
	     DIAG_PRODUCT_NOT_COVERED},
	    {PROBE_KMS_HOST_NOT_ACTIVATED, PROBE_HR_NOT_ACTIVATED, "0xC004F041",
	     DIAG_HOST_NOT_ACTIVATED},
	    {PROBE_KMS_CLOCK_SKEW, PROBE_HR_CLOCK_SKEW, "0xC004F06C", DIAG_CLOCK_SKEW},
	    {PROBE_KMS_PROTOCOL_UNSUPPORTED, PROBE_HR_INVALID_DATA, "0x8007000D",
	     DIAG_HOST_OUTDATED},
	    {PROBE_KMS_HOST_ERROR, 0x80070005u, "", -1},
	    {PROBE_KMS_RPC_ERROR, 0x1C010003u, "", -1},
	    {PROBE_KMS_PROTOCOL_ERROR, 0, "", -1},
	    {PROBE_KMS_TIMEOUT, PROBE_HR_NO_ANSWER, "0xC004F039", DIAG_HOST_UNREACHABLE},
	    {PROBE_KMS_UNREACHABLE, PROBE_HR_RPC_UNAVAILABLE, "0x800706BA", DIAG_HOST_UNREACHABLE},
	};
	cr_assert_eq(sizeof(want) / sizeof(want[0]), PROBE_KMS_RESULT_COUNT);
	for (size_t i = 0; i < PROBE_KMS_RESULT_COUNT; i++) {
		struct diag_outcome o;
		diag_kms(want[i].r, want[i].hresult, &o);
		const char *name = probe_kms_result_name(want[i].r);
		cr_assert_str_eq(o.code, want[i].code, "%s", name);
		cr_assert_eq(o.alert, want[i].alert, "%s", name);
		cr_assert(o.meaning != NULL && o.meaning[0] != '\0', "%s", name);
		cr_assert(o.remedy != NULL && o.remedy[0] != '\0', "%s", name);
	}

	struct diag_outcome o;
	diag_kms(PROBE_KMS_HOST_ERROR, 0x80070005u, &o);
	cr_assert_not_null(strstr(o.meaning, "kms_probe_hresult"), "%s", o.meaning);
	/* A known refusal code reported as host_error is diagnosed as its state. */
	diag_kms(PROBE_KMS_HOST_ERROR, PROBE_HR_NOT_ACTIVATED, &o);
	cr_assert_str_eq(o.code, "0xC004F041");
	cr_assert_eq(o.alert, DIAG_HOST_NOT_ACTIVATED);
	diag_kms(PROBE_KMS_HOST_ERROR, PROBE_HR_INVALID_DATA, &o);
	cr_assert_eq(o.alert, DIAG_HOST_OUTDATED);
	/* Out of range: no crash, no alert. */
	diag_kms(PROBE_KMS_RESULT_COUNT, 0, &o);
	cr_assert_eq(o.alert, -1);
	diag_tcp(PROBE_TCP_RESULT_COUNT, &o);
	cr_assert_eq(o.alert, -1);
}

/* An outcome's code is one its alert accepts as a hint: the status page and
 * the alert say the same thing. */
Test(diagnosis, outcomes_agree_with_alerts)
{
	struct diag_outcome
	    outs[DNS_RESULT_COUNT + PROBE_TCP_RESULT_COUNT + PROBE_KMS_RESULT_COUNT];
	size_t n = 0;
	for (int i = 0; i < DNS_RESULT_COUNT; i++)
		diag_srv((enum dns_result)i, &outs[n++]);
	for (int i = 0; i < PROBE_TCP_RESULT_COUNT; i++)
		diag_tcp((enum probe_tcp_result)i, &outs[n++]);
	for (int i = 0; i < PROBE_KMS_RESULT_COUNT; i++)
		diag_kms((enum probe_kms_result)i, 0, &outs[n++]);
	for (size_t i = 0; i < n; i++) {
		cr_assert(outs[i].alert >= -1 && outs[i].alert < DIAG_ALERT_COUNT);
		if (outs[i].alert < 0)
			continue;
		cr_assert_neq(outs[i].code[0], '\0', "a failure with an alert has a code");
		struct diag_text t;
		diag_describe((enum diag_alert)outs[i].alert, outs[i].code, NULL, &t);
		cr_assert_str_eq(t.code, outs[i].code);
	}
}

Test(diagnosis, every_domain_code_is_produced)
{
	int seen[N_DOMAIN_CODES] = {0};
	struct diag_outcome o;
	struct diag_text t;

#define SEE(code)                                                                                  \
	do {                                                                                       \
		for (size_t k = 0; k < N_DOMAIN_CODES; k++)                                        \
			if (strcmp((code), domain_codes[k]) == 0)                                  \
				seen[k] = 1;                                                       \
	} while (0)

	for (int i = 0; i < DNS_RESULT_COUNT; i++) {
		diag_srv((enum dns_result)i, &o);
		SEE(o.code);
	}
	for (int i = 0; i < PROBE_TCP_RESULT_COUNT; i++) {
		diag_tcp((enum probe_tcp_result)i, &o);
		SEE(o.code);
	}
	for (int i = 0; i < PROBE_KMS_RESULT_COUNT; i++) {
		diag_kms((enum probe_kms_result)i, 0, &o);
		SEE(o.code);
	}
	for (int i = 0; i < DIAG_ALERT_COUNT; i++) {
		diag_describe((enum diag_alert)i, NULL, NULL, &t);
		SEE(t.code);
	}
#undef SEE
	for (size_t k = 0; k < N_DOMAIN_CODES; k++)
		cr_assert(seen[k], "%s is never produced", domain_codes[k]);
}
