/*
 * The configuration module: defaults, every key, canonical printing against
 * golden files, round trips, every error with its exact position, the helper
 * parsers, the probe identity (CMID derivation, workstation name), products
 * (presets, overrides, definitions), the alert settings (thresholds,
 * Alertmanager URLs, state file, external URL), and hostile input (huge,
 * deeply nested, malformed).
 *
 * Set KMSWATCH_UPDATE_GOLDEN=1 to rewrite the golden files in tests/data/config from the
 * current output (then review the diff).
 */
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kmswatch/buf.h"
#include "kmswatch/config.h"
#include "kmswatch/products.h"

#define ERRBUF_MAX (1 << 20)
#define GOLDEN_DIR TEST_DATA_DIR "/config"

#define ALLOWED_TOP                                                                                \
	"(allowed: interval, timeout, concurrency, probe_interval, identity, dns, hosts, "         \
	"products, alerts, alertmanager, state_file, web)"
#define ALLOWED_ALERTS                                                                             \
	"(allowed: count_drop, count_margin, max_hosts, stale_after, resend_interval, "            \
	"resolved_retention)"
#define AM_RULE                                                                                    \
	"; an Alertmanager URL is http:// or https://, a host, an optional port and an optional "  \
	"path prefix (like http://127.0.0.1:9093)\n"
#define EXT_RULE                                                                                   \
	"; the external URL is http:// or https://, a host, an optional port and an optional "     \
	"path (like https://kmswatch.example.com), or \"\" for http://<host name>:<port>\n"
#define BAD_HOST                                                                                   \
	"has an invalid host or port (a DNS name, an IPv4 address or a bracketed IPv6 address, "   \
	"and a port of 1 to 65535)"
#define RATIO_RANGE                                                                                \
	"is out of range (more than 0 and less than 1, like 0.2 for 20%, or 0 to turn the ratio "  \
	"test off)\n"
#define FIXED_URL "http://kmswatch.example:9688"
#define PRODUCT_KEYS                                                                               \
	"(allowed: name, application, application_id, sku_id, kms_counted_id, required_count, "    \
	"protocol)"
#define ZERO_GUID   "00000000-0000-0000-0000-000000000000"
#define FIXED_CMID  "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#define APP_WINDOWS "55c92734-d682-4d71-983e-d6ec3f16059f"
#define APP_OFF2010 "59a52881-a989-479d-af46-f275c6370663"
#define APP_OFF2013 "0ff1ce15-a989-479d-af46-f275c6370663"
#define KMS_WIN10   "58e2134f-8e11-4d17-9cb2-91069c151148"
#define KMS_OFF2010 "e85af946-2e25-47b7-83e1-bebcebeac611"
#define NO_MACHINE_ID                                                                              \
	"identity.cmid: auto derives the CMID from the machine id, but neither /etc/machine-id "   \
	"nor /var/lib/dbus/machine-id holds one; set identity.cmid to a fixed GUID (from "         \
	"uuidgen) and keep it\n"
#define A16 "aaaaaaaaaaaaaaaa"
#define WORKSTATION_RULE                                                                           \
	"a workstation name is 1 to 63 printable ASCII characters without spaces, so that "        \
	"administrators can filter this agent's requests in the host's event log\n"

/* Helpers. */

static struct config *
load(const char *text, struct buf *err)
{
	buf_init(err, ERRBUF_MAX);
	return config_load_string("t.yml", text, strlen(text), err);
}

static char *
print_config(const struct config *c)
{
	struct buf out;
	buf_init(&out, ERRBUF_MAX);
	config_print(c, &out);
	cr_assert(!out.overflow);
	return (char *)buf_steal(&out, NULL);
}

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	struct buf b;
	buf_init(&b, 16 << 20);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return (char *)buf_steal(&b, NULL);
}

/* Writes len bytes to a new temporary file; returns its malloc'd path. */
static char *
write_temp(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	size_t plen = strlen(dir) + 32;
	char *path = malloc(plen);
	cr_assert_not_null(path);
	snprintf(path, plen, "%s/kmswatch-cfg.XXXXXX", dir);
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		cr_assert(w > 0, "write: %s", strerror(errno));
		p += w;
		len -= (size_t)w;
	}
	close(fd);
	return path;
}

/* Loads text and expects exactly the given error text. */
static void
expect_errors(const char *text, const char *want)
{
	struct buf err;
	struct config *c = load(text, &err);
	cr_expect_null(c, "input loaded but should not have:\n%s", text);
	cr_expect_str_eq(buf_str(&err), want, "input:\n%s\ngot:\n%s\nwant:\n%s", text,
	                 buf_str(&err), want);
	config_free(c);
	buf_free(&err);
}

/* The machine's domains, as config_local_domains() gives them. */
struct local_domains {
	char *v[64];
	size_t n;
};

static void
local_domains_get(struct local_domains *d)
{
	d->n = config_local_domains(d->v, 64);
}

static void
local_domains_free(struct local_domains *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
}

/* The CMID that "auto" must give on this machine, computed here from the
 * machine id files; false if neither holds a machine id. */
static bool
machine_cmid(char out[CONFIG_GUID_LEN + 1])
{
	static const char *const files[] = {"/etc/machine-id", "/var/lib/dbus/machine-id"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f = fopen(files[i], "r");
		if (f == NULL)
			continue;
		char line[128] = "";
		bool got = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		line[strcspn(line, "\n")] = '\0';
		if (got && strlen(line) == 32 && config_derive_cmid(line, out) == 0)
			return true;
	}
	return false;
}

/* What "identity.workstation: auto" must give on this machine. */
static void
machine_workstation(char *out, size_t len)
{
	struct local_domains local;
	local_domains_get(&local);
	if (local.n > 0 && strlen("kmswatch.") + strlen(local.v[0]) <= 63)
		snprintf(out, len, "kmswatch.%s", local.v[0]);
	else
		snprintf(out, len, "kmswatch");
	local_domains_free(&local);
}

/* What an empty web.external_url must give on this machine for a port:
 * http://<host name>:<port>, the host name in lower case like every URL host,
 * and the port left out when it is 80. */
static void
machine_external_url(unsigned port, char *out, size_t len)
{
	char name[256];
	cr_assert_eq(gethostname(name, sizeof(name)), 0, "gethostname: %s", strerror(errno));
	name[sizeof(name) - 1] = '\0';
	for (char *p = name; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (port == 80)
		snprintf(out, len, "http://%s", name);
	else
		snprintf(out, len, "http://%s:%u", name, port);
}

/* Every alert setting at its default. */
static void
expect_alert_defaults(const struct config *c)
{
	cr_expect_eq(c->alerts.drop_min, 5);
	cr_expect_eq(c->alerts.drop_ratio, 0.2);
	cr_expect_eq(c->alerts.drop_window_ms, 24 * 3600 * 1000);
	cr_expect_eq(c->alerts.count_margin, 5);
	cr_expect_eq(c->alerts.max_hosts, 0);
	cr_expect_eq(c->alerts.stale_after, 3);
	cr_expect_eq(c->alerts.resend_interval_ms, 60 * 1000);
	cr_expect_eq(c->alerts.resolved_retention_ms, 15 * 60 * 1000);
	cr_expect_eq(c->n_alertmanager_urls, 0);
	cr_expect_eq(c->alertmanager_timeout_ms, 10 * 1000);
	cr_assert_not_null(c->state_file);
	cr_expect_str_eq(c->state_file, "/var/lib/kmswatch/state");
}

/* A product of the configuration against the preset of the same name. */
static void
expect_preset(const struct config_product *cp, const char *name)
{
	const struct product *p = product_find(name);
	cr_assert_not_null(p, "%s is not a preset", name);
	cr_expect_str_eq(cp->name, name);
	cr_expect_str_eq(cp->application_id, p->app_id);
	cr_expect_str_eq(cp->sku_id, p->sku_id);
	cr_expect_str_eq(cp->kms_counted_id, p->kms_id);
	cr_expect_eq(cp->required_count, p->required_count);
	cr_expect_eq(cp->protocol, p->protocol);
	cr_expect(cp->preset, "%s: not marked as an unchanged preset", name);
}

static void
expect_product(const struct config_product *cp, const char *name, const char *app_id,
               const char *sku_id, const char *kms_id, unsigned n, unsigned protocol, bool preset)
{
	cr_expect_str_eq(cp->name, name);
	cr_expect_str_eq(cp->application_id, app_id, "%s", name);
	cr_expect_str_eq(cp->sku_id, sku_id, "%s", name);
	cr_expect_str_eq(cp->kms_counted_id, kms_id, "%s", name);
	cr_expect_eq(cp->required_count, n, "%s", name);
	cr_expect_eq(cp->protocol, protocol, "%s", name);
	cr_expect_eq(cp->preset, preset, "%s", name);
}

static void expect_round_trip(const char *what, const struct config *c);

/* Defaults. */

static void
expect_defaults(const char *text)
{
	struct buf err;
	struct local_domains local;
	char cmid[CONFIG_GUID_LEN + 1], workstation[128];
	if (!machine_cmid(cmid)) {
		/* No machine id here: auto must say so instead of guessing. */
		expect_errors(text, "t.yml: " NO_MACHINE_ID);
		return;
	}
	struct config *c = load(text, &err);
	cr_assert_not_null(c, "input:\n%s\nerrors:\n%s", text, buf_str(&err));
	cr_expect_str_eq(buf_str(&err), "");
	cr_expect_str_eq(c->path, "t.yml");
	cr_expect_eq(c->interval_ms, 60000);
	cr_expect_eq(c->timeout_ms, 5000);
	cr_expect_eq(c->concurrency, 256);
	cr_assert_eq(c->n_resolvers, 1);
	cr_expect_str_eq(c->resolvers[0].name, "system");
	cr_expect(c->resolvers[0].system);
	cr_expect_null(c->resolvers[0].address);
	cr_expect_eq(c->resolvers[0].port, CONFIG_DNS_PORT);
	local_domains_get(&local);
	cr_assert_eq(c->n_domains, local.n);
	for (size_t i = 0; i < local.n; i++)
		cr_expect_str_eq(c->domains[i], local.v[i]);
	local_domains_free(&local);
	cr_expect_eq(c->n_hosts, 0);
	cr_assert_eq(c->n_listen, 1);
	cr_expect_str_eq(c->listen[0], ":9688");
	cr_expect_eq(c->probe_interval_ms, 15 * 60 * 1000);
	cr_expect_str_eq(c->cmid, cmid);
	machine_workstation(workstation, sizeof(workstation));
	cr_expect_str_eq(c->workstation, workstation);
	cr_assert_eq(c->n_products, 3);
	expect_preset(&c->products[0], "windows-10-11");
	expect_preset(&c->products[1], "windows-server-2022");
	expect_preset(&c->products[2], "office-ltsc-2021");
	expect_alert_defaults(c);
	char url[512];
	machine_external_url(CONFIG_WEB_PORT, url, sizeof(url));
	cr_expect_str_eq(c->external_url, url);
	cr_expect(c->external_url_auto);
	config_free(c);
	buf_free(&err);
}

Test(config, defaults_from_empty_file)
{
	expect_defaults("");
}

Test(config, defaults_from_comments_only)
{
	expect_defaults("# nothing here\n\n   # but comments\n");
}

Test(config, defaults_from_empty_document_and_nulls)
{
	expect_defaults("---\n...\n");
	expect_defaults("~\n");
	/* A key without a value keeps its default. */
	expect_defaults(
	    "interval:\ntimeout: ~\nconcurrency: null\ndns:\nhosts:\nweb:\n  listen:\n");
	expect_defaults("probe_interval:\nidentity:\nproducts: ~\n");
	expect_defaults("identity:\n  cmid:\n  workstation: ~\n");
	expect_defaults("identity: {cmid: auto, workstation: auto}\n");
	expect_defaults("alerts:\nalertmanager:\nstate_file:\n");
	expect_defaults("alerts:\n  count_drop:\n  count_margin: ~\n  max_hosts:\n  stale_after:\n"
	                "  resend_interval:\n  resolved_retention:\n"
	                "alertmanager:\n  urls:\n  timeout: ~\n"
	                "web:\n  external_url:\n");
	expect_defaults("alerts: {count_drop: {min: ~, ratio: ~, window: ~}}\n");
	/* "" in quotes is not a missing value, but means the same here. */
	expect_defaults("web: {external_url: \"\"}\n");
	expect_defaults(
	    "alerts:\n  count_drop: {min: 5, ratio: 0.2, window: 24h}\n  count_margin: 5\n"
	    "  max_hosts: 0\n  stale_after: 3\n  resend_interval: 1m\n"
	    "  resolved_retention: 15m\nalertmanager: {urls: [], timeout: 10s}\n"
	    "state_file: /var/lib/kmswatch/state\nweb: {listen: [\":9688\"]}\n");
}

Test(config, defaults_from_file)
{
	char *path = write_temp("", 0);
	struct buf err;
	buf_init(&err, ERRBUF_MAX);
	struct config *c = config_load_file(path, &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_str_eq(c->path, path);
	cr_expect_eq(c->interval_ms, 60000);
	config_free(c);
	buf_free(&err);
	unlink(path);
	free(path);
}

/* Every key. */

Test(config, every_key)
{
	const char *text = "interval: 1m30s\n"
	                   "timeout: 250ms\n"
	                   "concurrency: 65536\n"
	                   "probe_interval: 1s\n"
	                   "identity:\n"
	                   "  cmid: 3F2504E0-4f89-41D3-9a0c-0305E82C3301\n"
	                   "  workstation: \"mon-01.lab\"\n"
	                   "dns:\n"
	                   "  resolvers:\n"
	                   "    - system\n"
	                   "    - 10.0.0.53\n"
	                   "    - \"10.0.0.53:5353\"\n"
	                   "    - \"[2001:db8::53]:5353\"\n"
	                   "    - \"2001:DB8::54\"\n"
	                   "  domains: [Example.COM., _msdcs.corp.example.com]\n"
	                   "hosts:\n"
	                   "  - KMS1.example.com\n"
	                   "  - \"kms2.example.com:1700\"\n"
	                   "  - \"[2001:db8::1]:1689\"\n"
	                   "  - \"::1\"\n"
	                   "  - 192.0.2.1\n"
	                   "products:\n"
	                   "  - office-2019\n"
	                   "  - name: office-2010\n"
	                   "    application: office-2010\n"
	                   "    kms_counted_id: " KMS_OFF2010 "\n"
	                   "    required_count: 5\n"
	                   "    protocol: 4\n"
	                   "alerts:\n"
	                   "  count_drop:\n"
	                   "    min: 0\n"
	                   "    ratio: 0.5\n"
	                   "    window: 7d\n"
	                   "  count_margin: 1000\n"
	                   "  max_hosts: 100000\n"
	                   "  stale_after: 1000\n"
	                   "  resend_interval: 1s\n"
	                   "  resolved_retention: 0s\n"
	                   "alertmanager:\n"
	                   "  urls: [\"http://127.0.0.1:9093\", \"https://am.example.com/am\"]\n"
	                   "  timeout: 100ms\n"
	                   "state_file: /tmp/kmswatch.state\n"
	                   "web:\n"
	                   "  listen: [\":9100\", \"127.0.0.1:9200\", \"[::1]:9300\"]\n"
	                   "  external_url: \"https://kmswatch.example.com:8443/kms\"\n";
	struct buf err;
	struct config *c = load(text, &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_eq(c->interval_ms, 90000);
	cr_expect_eq(c->timeout_ms, 250);
	cr_expect_eq(c->concurrency, 65536);
	/* Short probe intervals are for tests, and are not an error. */
	cr_expect_eq(c->probe_interval_ms, 1000);
	cr_expect_str_eq(c->cmid, FIXED_CMID);
	cr_expect_str_eq(c->workstation, "mon-01.lab");
	cr_assert_eq(c->n_products, 2);
	expect_preset(&c->products[0], "office-2019");
	expect_product(&c->products[1], "office-2010", APP_OFF2010, ZERO_GUID, KMS_OFF2010, 5, 4,
	               false);

	cr_assert_eq(c->n_resolvers, 5);
	static const struct {
		const char *name, *address;
		uint16_t port;
	} res[] = {
	    {"system", NULL, 53},
	    {"10.0.0.53:53", "10.0.0.53", 53},
	    {"10.0.0.53:5353", "10.0.0.53", 5353},
	    {"[2001:db8::53]:5353", "2001:db8::53", 5353},
	    {"[2001:db8::54]:53", "2001:db8::54", 53},
	};
	for (size_t i = 0; i < 5; i++) {
		cr_expect_str_eq(c->resolvers[i].name, res[i].name);
		cr_expect_eq(c->resolvers[i].system, res[i].address == NULL);
		if (res[i].address == NULL)
			cr_expect_null(c->resolvers[i].address);
		else
			cr_expect_str_eq(c->resolvers[i].address, res[i].address);
		cr_expect_eq(c->resolvers[i].port, res[i].port);
	}

	cr_assert_eq(c->n_domains, 2);
	cr_expect_str_eq(c->domains[0], "example.com");
	cr_expect_str_eq(c->domains[1], "_msdcs.corp.example.com");

	cr_assert_eq(c->n_hosts, 5);
	static const struct {
		const char *host;
		uint16_t port;
	} hosts[] = {
	    {"kms1.example.com", 1688}, {"kms2.example.com", 1700},
	    {"2001:db8::1", 1689},      {"::1", 1688},
	    {"192.0.2.1", 1688},
	};
	for (size_t i = 0; i < 5; i++) {
		cr_expect_str_eq(c->hosts[i].host, hosts[i].host);
		cr_expect_eq(c->hosts[i].port, hosts[i].port);
	}

	cr_assert_eq(c->n_listen, 3);
	cr_expect_str_eq(c->listen[0], ":9100");
	cr_expect_str_eq(c->listen[1], "127.0.0.1:9200");
	cr_expect_str_eq(c->listen[2], "[::1]:9300");

	cr_expect_eq(c->alerts.drop_min, 0);
	cr_expect_eq(c->alerts.drop_ratio, 0.5);
	cr_expect_eq(c->alerts.drop_window_ms, 7ULL * 24 * 3600 * 1000);
	cr_expect_eq(c->alerts.count_margin, 1000);
	cr_expect_eq(c->alerts.max_hosts, 100000);
	cr_expect_eq(c->alerts.stale_after, 1000);
	cr_expect_eq(c->alerts.resend_interval_ms, 1000);
	cr_expect_eq(c->alerts.resolved_retention_ms, 0);
	cr_assert_eq(c->n_alertmanager_urls, 2);
	cr_expect_str_eq(c->alertmanager_urls[0], "http://127.0.0.1:9093");
	cr_expect_str_eq(c->alertmanager_urls[1], "https://am.example.com/am");
	cr_expect_eq(c->alertmanager_timeout_ms, 100);
	cr_expect_str_eq(c->state_file, "/tmp/kmswatch.state");
	cr_expect_str_eq(c->external_url, "https://kmswatch.example.com:8443/kms");
	cr_expect(!c->external_url_auto);
	config_free(c);
	buf_free(&err);
}

Test(config, empty_lists)
{
	struct buf err;
	struct config *c = load("dns:\n  domains: []\nhosts: []\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_eq(c->n_domains, 0);
	cr_expect_eq(c->n_hosts, 0);
	config_free(c);
	buf_free(&err);
}

Test(config, free_null)
{
	config_free(NULL);
}

Test(config, errors_buffer_may_be_null)
{
	cr_expect_null(config_load_string("t.yml", "interval: x\n", 12, NULL));
	cr_expect_null(config_load_file("/nonexistent/kmswatch.yml", NULL));
	struct config *c = config_load_string("t.yml", NULL, 0, NULL);
	cr_expect_not_null(c);
	config_free(c);
}

/* `local`. */

Test(config, local_expands_to_machine_domains)
{
	struct local_domains local;
	local_domains_get(&local);
	const char *texts[] = {"dns:\n  domains: [local]\n", "dns: {}\n", "{}\n"};
	for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		struct buf err;
		struct config *c = load(texts[t], &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		cr_assert_eq(c->n_domains, local.n, "%s", texts[t]);
		for (size_t i = 0; i < local.n; i++)
			cr_expect_str_eq(c->domains[i], local.v[i]);
		config_free(c);
		buf_free(&err);
	}
	local_domains_free(&local);
}

Test(config, local_keeps_its_place_and_merges)
{
	struct local_domains local;
	local_domains_get(&local);
	struct buf err;
	/* The machine's domain also listed by name is kept once. */
	struct buf text;
	buf_init(&text, 1 << 16);
	buf_puts(&text, "dns:\n  domains: [first.invalid, local");
	if (local.n > 0)
		buf_printf(&text, ", %s", local.v[0]);
	buf_puts(&text, ", last.invalid]\n");
	struct config *c = load(buf_str(&text), &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_assert_eq(c->n_domains, local.n + 2);
	cr_expect_str_eq(c->domains[0], "first.invalid");
	for (size_t i = 0; i < local.n; i++)
		cr_expect_str_eq(c->domains[1 + i], local.v[i]);
	cr_expect_str_eq(c->domains[local.n + 1], "last.invalid");
	config_free(c);
	buf_free(&err);
	buf_free(&text);
	local_domains_free(&local);
}

struct local_case {
	const char *resolv_conf; /* NULL: no such file */
	const char *hostname;
	size_t max;
	const char *want[8];
};

Test(config, local_domains_from_resolv_conf)
{
	static const struct local_case cases[] = {
	    {"search a.example B.Example.\ndomain c.example\n",
	     "h.d.example",
	     8,
	     {"a.example", "b.example", "c.example"}},
	    {"nameserver 10.0.0.1\ndomain c.example\n", "h.d.example", 8, {"c.example"}},
	    {"search\ta.example\tb.example\n", NULL, 8, {"a.example", "b.example"}},
	    /* The last line of a kind wins, as in the resolver. */
	    {"search a.example\nsearch b.example\n", "h", 8, {"b.example"}},
	    /* Invalid names and duplicates are skipped. */
	    {"search a.example bad..name A.example. .\n", "h", 8, {"a.example"}},
	    {"search a.example b.example c.example\n", "h", 2, {"a.example", "b.example"}},
	    /* Neither line: the host name's domain. */
	    {"# search x.example\n; domain y.example\nsearchx z.example\n",
	     "host.Corp.Example.",
	     8,
	     {"corp.example"}},
	    {NULL, "host.corp.example", 8, {"corp.example"}},
	    {NULL, "host", 8, {NULL}},
	    {"", "host.", 8, {NULL}},
	};
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		const struct local_case *lc = &cases[t];
		char *path = NULL;
		if (lc->resolv_conf != NULL)
			path = write_temp(lc->resolv_conf, strlen(lc->resolv_conf));
		char *out[8];
		size_t n = config_local_domains_from(path != NULL ? path : "/nonexistent/resolv",
		                                     lc->hostname, out, lc->max);
		size_t want_n = 0;
		while (want_n < 8 && lc->want[want_n] != NULL)
			want_n++;
		cr_expect_eq(n, want_n, "case %zu: got %zu domains, want %zu", t, n, want_n);
		for (size_t i = 0; i < n && i < want_n; i++)
			cr_expect_str_eq(out[i], lc->want[i], "case %zu", t);
		for (size_t i = 0; i < n; i++)
			free(out[i]);
		if (path != NULL) {
			unlink(path);
			free(path);
		}
	}
}

/* The probe identity. */

static bool
guid_is_v4(const char *g)
{
	return strlen(g) == 36 && g[14] == '4' && strchr("89ab", g[19]) != NULL &&
	       strspn(g, "0123456789abcdef-") == 36;
}

Test(config, derive_cmid_known_answers)
{
	/* SHA-256("kmswatch-cmid:" || id), first 16 bytes, version 4, variant
	 * 10xx; computed independently. */
	static const struct {
		const char *machine_id, *cmid;
	} cases[] = {
	    {"0123456789abcdef0123456789abcdef", "76e3bffe-8f7a-4e74-96dd-55e161e3bdc1"},
	    {"fedcba9876543210fedcba9876543210", "27c464c0-864a-42de-a582-c94c6b62ae85"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[CONFIG_GUID_LEN + 1];
		cr_assert_eq(config_derive_cmid(cases[i].machine_id, out), 0);
		cr_expect_str_eq(out, cases[i].cmid);
		cr_expect(product_guid_valid(out));
	}
	char out[CONFIG_GUID_LEN + 1] = "untouched";
	cr_expect_eq(config_derive_cmid(NULL, out), -1);
	cr_expect_eq(config_derive_cmid("", out), -1);
	cr_expect_str_eq(out, "untouched");
}

Test(config, derive_cmid_is_stable_and_looks_random)
{
	char a[CONFIG_GUID_LEN + 1], b[CONFIG_GUID_LEN + 1], prev[CONFIG_GUID_LEN + 1] = "";
	char id[33];
	for (unsigned i = 0; i < 256; i++) {
		snprintf(id, sizeof(id), "%032x", i);
		cr_assert_eq(config_derive_cmid(id, a), 0);
		cr_assert_eq(config_derive_cmid(id, b), 0);
		cr_expect_str_eq(a, b, "not deterministic for %s", id);
		cr_expect(guid_is_v4(a), "%s: %s is not a lower-case version 4 UUID", id, a);
		cr_expect_str_neq(a, prev, "two machine ids gave the same CMID");
		snprintf(prev, sizeof(prev), "%s", a);
	}
}

struct machine_id_case {
	const char *content; /* NULL: no such file */
	const char *want;    /* NULL: not a machine id */
};

Test(config, read_machine_id)
{
	static const struct machine_id_case cases[] = {
	    {"3d1219c7c4c5404aaa1f6d2a48adfda4\n", "3d1219c7c4c5404aaa1f6d2a48adfda4"},
	    {"3d1219c7c4c5404aaa1f6d2a48adfda4", "3d1219c7c4c5404aaa1f6d2a48adfda4"},
	    {"3D1219C7C4C5404AAA1F6D2A48ADFDA4\n", "3D1219C7C4C5404AAA1F6D2A48ADFDA4"},
	    {"", NULL},
	    {"\n", NULL},
	    {"uninitialized\n", NULL},
	    {"3d1219c7c4c5404aaa1f6d2a48adfda\n", NULL},
	    {"3d1219c7c4c5404aaa1f6d2a48adfda44\n", NULL},
	    {"3d1219c7c4c5404aaa1f6d2a48adfda4\n\n", NULL},
	    {"3d1219c7c4c5404aaa1f6d2a48adfda4 ", NULL},
	    {"3d1219c7-c4c5-404a-aa1f-6d2a48adfda4\n", NULL},
	    {"3d1219c7c4c5404aaa1f6d2a48adfdag\n", NULL},
	    {NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct machine_id_case *mc = &cases[i];
		char *path = NULL;
		if (mc->content != NULL)
			path = write_temp(mc->content, strlen(mc->content));
		char out[33] = "untouched";
		int rc =
		    config_read_machine_id(path != NULL ? path : "/nonexistent/machine-id", out);
		if (mc->want != NULL) {
			cr_expect_eq(rc, 0, "case %zu", i);
			cr_expect_str_eq(out, mc->want, "case %zu", i);
		} else {
			cr_expect_eq(rc, -1, "case %zu was accepted", i);
		}
		if (path != NULL) {
			unlink(path);
			free(path);
		}
	}
}

Test(config, cmid_auto_is_derived_from_this_machine)
{
	char want[CONFIG_GUID_LEN + 1];
	if (!machine_cmid(want)) {
		expect_errors("identity:\n  cmid: auto\n", "t.yml:2:9: " NO_MACHINE_ID);
		return;
	}
	cr_expect(guid_is_v4(want));
	for (int round = 0; round < 2; round++) {
		struct buf err;
		struct config *c = load("identity:\n  cmid: auto\n", &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		cr_expect_str_eq(c->cmid, want);
		/* The effective CMID is what check-config shows. */
		char *printed = print_config(c);
		char line[64];
		snprintf(line, sizeof(line), "\n  cmid: \"%s\"\n", want);
		cr_expect_not_null(strstr(printed, line), "%s", printed);
		free(printed);
		config_free(c);
		buf_free(&err);
	}
}

Test(config, cmid_given)
{
	struct buf err;
	struct config *c =
	    load("identity: {cmid: \"3F2504E0-4F89-41D3-9A0C-0305E82C3301\"}\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_str_eq(c->cmid, FIXED_CMID);
	config_free(c);
	buf_free(&err);
	/* Any GUID is taken as it is; only the all-zero one is refused. */
	c = load("identity: {cmid: 00000000-0000-0000-0000-000000000001}\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_str_eq(c->cmid, "00000000-0000-0000-0000-000000000001");
	config_free(c);
	buf_free(&err);
}

Test(config, workstation)
{
	char want[128];
	machine_workstation(want, sizeof(want));
	static const char *const autos[] = {"identity: {cmid: " FIXED_CMID "}\n",
	                                    "identity: {cmid: " FIXED_CMID
	                                    ", workstation: auto}\n"};
	for (size_t i = 0; i < 2; i++) {
		struct buf err;
		struct config *c = load(autos[i], &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		cr_expect_str_eq(c->workstation, want);
		cr_expect_leq(strlen(c->workstation), 63);
		config_free(c);
		buf_free(&err);
	}
	static const char *const names[] = {
	    "k",
	    "kmswatch.corp.example.com",
	    "MON_01",
	    "a!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
	    A16 A16 A16 "aaaaaaaaaaaaaaa",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct buf text, err;
		buf_init(&text, 1 << 12);
		/* Single quotes take every character but the quote itself literally. */
		buf_puts(&text, "identity:\n  cmid: " FIXED_CMID "\n  workstation: '");
		for (const char *p = names[i]; *p != '\0'; p++) {
			if (*p == '\'')
				buf_puts(&text, "''");
			else
				buf_putc(&text, *p);
		}
		buf_puts(&text, "'\n");
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", names[i], buf_str(&err));
		cr_expect_str_eq(c->workstation, names[i]);
		expect_round_trip(names[i], c);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

/* Products. */

Test(config, products_presets_by_name)
{
	struct buf err;
	struct config *c =
	    load("products: [office-2016, windows-server-2012r2, windows-10-ltsc]\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_assert_eq(c->n_products, 3);
	expect_preset(&c->products[0], "office-2016");
	expect_preset(&c->products[1], "windows-server-2012r2");
	expect_preset(&c->products[2], "windows-10-ltsc");
	cr_expect_eq(config_find_product(c, "windows-server-2012r2"), &c->products[1]);
	cr_expect_null(config_find_product(c, "windows-10-11"));
	cr_expect_null(config_find_product(c, NULL));
	cr_expect_null(config_find_product(NULL, "office-2016"));
	config_free(c);
	buf_free(&err);
}

Test(config, products_every_preset)
{
	struct buf text, err;
	buf_init(&text, 1 << 12);
	buf_puts(&text, "products:\n");
	for (size_t i = 0; i < product_count(); i++)
		buf_printf(&text, "  - %s\n", product_get(i)->name);
	struct config *c = load(buf_str(&text), &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_assert_eq(c->n_products, product_count());
	for (size_t i = 0; i < product_count(); i++)
		expect_preset(&c->products[i], product_get(i)->name);
	config_free(c);
	buf_free(&err);
	buf_free(&text);
}

Test(config, products_preset_override)
{
	struct buf err;
	struct config *c = load("products:\n"
	                        "  - name: windows-10-11\n"
	                        "    kms_counted_id: 11B15659-E603-4CF1-9C1F-F0EC01B81888\n"
	                        "  - name: windows-server-2022\n"
	                        "    sku_id: " ZERO_GUID "\n"
	                        "    protocol: 5\n"
	                        "  - name: office-ltsc-2021\n"
	                        "    application: office-2010\n"
	                        "    required_count: 5\n"
	                        "  - {name: office-2019, application_id: " APP_WINDOWS "}\n"
	                        "  - {name: office-2016, application: office-2013+, protocol: 6}\n",
	                        &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_assert_eq(c->n_products, 5);
	const struct product *w = product_find("windows-10-11");
	expect_product(&c->products[0], "windows-10-11", APP_WINDOWS, w->sku_id,
	               "11b15659-e603-4cf1-9c1f-f0ec01b81888", 25, 6, false);
	const struct product *s = product_find("windows-server-2022");
	expect_product(&c->products[1], "windows-server-2022", APP_WINDOWS, ZERO_GUID, s->kms_id, 5,
	               5, false);
	const struct product *o = product_find("office-ltsc-2021");
	expect_product(&c->products[2], "office-ltsc-2021", APP_OFF2010, o->sku_id, o->kms_id, 5, 6,
	               false);
	const struct product *o19 = product_find("office-2019");
	expect_product(&c->products[3], "office-2019", APP_WINDOWS, o19->sku_id, o19->kms_id, 5, 6,
	               false);
	/* Fields given as the preset has them change nothing. */
	expect_preset(&c->products[4], "office-2016");

	char *printed = print_config(c);
	cr_expect_not_null(strstr(printed, "products:\n"
	                                   "  - name: \"windows-10-11\"\n"
	                                   "    application_id: \"" APP_WINDOWS "\"\n"
	                                   "    sku_id: \"73111121-5638-40f6-bc11-f1d7b0d64300\"\n"
	                                   "    kms_counted_id: "
	                                   "\"11b15659-e603-4cf1-9c1f-f0ec01b81888\"\n"
	                                   "    required_count: 25\n"
	                                   "    protocol: 6\n"),
	                   "%s", printed);
	cr_expect_not_null(strstr(printed, "  - \"office-2016\"\nalerts:"), "%s", printed);
	free(printed);
	expect_round_trip("overrides", c);
	config_free(c);
	buf_free(&err);
}

Test(config, products_defined)
{
	struct buf err;
	struct config *c = load("products:\n"
	                        "  - name: office-2010\n"
	                        "    application: office-2010\n"
	                        "    kms_counted_id: " KMS_OFF2010 "\n"
	                        "    required_count: 5\n"
	                        "    protocol: 4\n"
	                        "  - name: by-id\n"
	                        "    application_id: " APP_OFF2013 "\n"
	                        "    sku_id: B322DA9C-A2E2-4058-9E4E-F59A6970BD69\n"
	                        "    kms_counted_id: e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0\n"
	                        "    required_count: \"5\"\n"
	                        "  - name: both\n"
	                        "    application: windows\n"
	                        "    application_id: 01234567-89ab-cdef-0123-456789abcdef\n"
	                        "    kms_counted_id: " KMS_WIN10 "\n"
	                        "    required_count: 25\n",
	                        &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_assert_eq(c->n_products, 3);
	expect_product(&c->products[0], "office-2010", APP_OFF2010, ZERO_GUID, KMS_OFF2010, 5, 4,
	               false);
	expect_product(&c->products[1], "by-id", APP_OFF2013,
	               "b322da9c-a2e2-4058-9e4e-f59a6970bd69",
	               "e6a6f1bf-9d40-40c3-aa9f-c77ba21578c0", 5, 6, false);
	/* The application id is what is sent, so it wins over application. */
	expect_product(&c->products[2], "both", "01234567-89ab-cdef-0123-456789abcdef", ZERO_GUID,
	               KMS_WIN10, 25, 6, false);
	expect_round_trip("defined", c);
	config_free(c);
	buf_free(&err);
}

Test(config, products_empty)
{
	struct buf err;
	struct config *c = load("products: []\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_str_eq(buf_str(&err), "");
	cr_expect_eq(c->n_products, 0);
	cr_expect_null(config_find_product(c, "windows-10-11"));
	config_free(c);
	buf_free(&err);
}

static char *
products_list(size_t n)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "products:\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b,
		           "  - {name: p%zu, application: windows, kms_counted_id: " KMS_WIN10
		           ", required_count: 25}\n",
		           i);
	return (char *)buf_steal(&b, NULL);
}

Test(config, products_limit)
{
	struct buf err;
	char *text = products_list(CONFIG_MAX_PRODUCTS);
	struct config *c = load(text, &err);
	cr_assert_not_null(c, "%.300s", buf_str(&err));
	cr_expect_eq(c->n_products, 64);
	cr_expect_str_eq(c->products[63].name, "p63");
	config_free(c);
	buf_free(&err);
	free(text);

	text = products_list(CONFIG_MAX_PRODUCTS + 1);
	expect_errors(text, "t.yml:2:3: products: 65 products, more than 64 (every product is "
	                    "probed on every target)\n");
	free(text);
}

/* Canonical printing. */

static const char *const golden_names[] = {"defaults", "full", "ipv6", "messy"};

Test(config, print_matches_golden_files)
{
	bool update = getenv("KMSWATCH_UPDATE_GOLDEN") != NULL;
	for (size_t i = 0; i < sizeof(golden_names) / sizeof(golden_names[0]); i++) {
		char in[512], golden[512];
		snprintf(in, sizeof(in), "%s/%s.yml", GOLDEN_DIR, golden_names[i]);
		snprintf(golden, sizeof(golden), "%s/%s.golden", GOLDEN_DIR, golden_names[i]);
		struct buf err;
		buf_init(&err, ERRBUF_MAX);
		struct config *c = config_load_file(in, &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		char *got = print_config(c);
		if (update) {
			FILE *f = fopen(golden, "w");
			cr_assert_not_null(f);
			fputs(got, f);
			fclose(f);
		}
		char *want = read_text(golden);
		cr_expect_str_eq(got, want, "%s: got:\n%s\nwant:\n%s", in, got, want);
		free(want);
		free(got);
		config_free(c);
		buf_free(&err);
	}
}

Test(config, print_defaults_exactly)
{
	struct buf err;
	/* The external URL is given: its default depends on the host name. */
	struct config *c = load("dns:\n  domains: []\nidentity: {cmid: " FIXED_CMID
	                        ", workstation: w}\nweb: {external_url: " FIXED_URL "}\n",
	                        &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	char *got = print_config(c);
	cr_expect_str_eq(got, "interval: 1m\n"
	                      "timeout: 5s\n"
	                      "concurrency: 256\n"
	                      "probe_interval: 15m\n"
	                      "identity:\n"
	                      "  cmid: \"" FIXED_CMID "\"\n"
	                      "  workstation: \"w\"\n"
	                      "dns:\n"
	                      "  resolvers:\n"
	                      "    - \"system\"\n"
	                      "  domains: []\n"
	                      "hosts: []\n"
	                      "products:\n"
	                      "  - \"windows-10-11\"\n"
	                      "  - \"windows-server-2022\"\n"
	                      "  - \"office-ltsc-2021\"\n"
	                      "alerts:\n"
	                      "  count_drop:\n"
	                      "    min: 5\n"
	                      "    ratio: 0.2\n"
	                      "    window: 1d\n"
	                      "  count_margin: 5\n"
	                      "  max_hosts: 0\n"
	                      "  stale_after: 3\n"
	                      "  resend_interval: 1m\n"
	                      "  resolved_retention: 15m\n"
	                      "alertmanager:\n"
	                      "  urls: []\n"
	                      "  timeout: 10s\n"
	                      "state_file: \"/var/lib/kmswatch/state\"\n"
	                      "web:\n"
	                      "  listen:\n"
	                      "    - \":9688\"\n"
	                      "  external_url: \"" FIXED_URL "\"\n");
	free(got);
	config_free(c);
	buf_free(&err);
}

/* print → load → print gives the same text and the same values. */
static void
expect_round_trip(const char *what, const struct config *c)
{
	char *first = print_config(c);
	struct buf err;
	struct config *again = load(first, &err);
	cr_assert_not_null(again, "%s: printed config does not load:\n%s\nerrors:\n%s", what, first,
	                   buf_str(&err));
	char *second = print_config(again);
	cr_expect_str_eq(first, second, "%s", what);
	cr_expect_eq(again->interval_ms, c->interval_ms);
	cr_expect_eq(again->timeout_ms, c->timeout_ms);
	cr_expect_eq(again->concurrency, c->concurrency);
	cr_expect_eq(again->n_resolvers, c->n_resolvers);
	cr_expect_eq(again->n_domains, c->n_domains);
	cr_expect_eq(again->n_hosts, c->n_hosts);
	cr_expect_eq(again->n_listen, c->n_listen);
	cr_expect_eq(again->probe_interval_ms, c->probe_interval_ms);
	cr_expect_str_eq(again->cmid, c->cmid, "%s", what);
	cr_expect_str_eq(again->workstation, c->workstation, "%s", what);
	cr_assert_eq(again->n_products, c->n_products, "%s", what);
	for (size_t i = 0; i < c->n_products; i++) {
		const struct config_product *p = &c->products[i];
		expect_product(&again->products[i], p->name, p->application_id, p->sku_id,
		               p->kms_counted_id, p->required_count, p->protocol, p->preset);
	}
	cr_expect_eq(again->alerts.drop_min, c->alerts.drop_min, "%s", what);
	cr_expect_eq(again->alerts.drop_ratio, c->alerts.drop_ratio, "%s", what);
	cr_expect_eq(again->alerts.drop_window_ms, c->alerts.drop_window_ms, "%s", what);
	cr_expect_eq(again->alerts.count_margin, c->alerts.count_margin, "%s", what);
	cr_expect_eq(again->alerts.max_hosts, c->alerts.max_hosts, "%s", what);
	cr_expect_eq(again->alerts.stale_after, c->alerts.stale_after, "%s", what);
	cr_expect_eq(again->alerts.resend_interval_ms, c->alerts.resend_interval_ms, "%s", what);
	cr_expect_eq(again->alerts.resolved_retention_ms, c->alerts.resolved_retention_ms, "%s",
	             what);
	cr_assert_eq(again->n_alertmanager_urls, c->n_alertmanager_urls, "%s", what);
	for (size_t i = 0; i < c->n_alertmanager_urls; i++)
		cr_expect_str_eq(again->alertmanager_urls[i], c->alertmanager_urls[i], "%s", what);
	cr_expect_eq(again->alertmanager_timeout_ms, c->alertmanager_timeout_ms, "%s", what);
	cr_expect_str_eq(again->state_file, c->state_file, "%s", what);
	/* The effective URL is printed, so it reads back as given. */
	cr_expect_str_eq(again->external_url, c->external_url, "%s", what);
	cr_expect(!again->external_url_auto, "%s", what);
	free(first);
	free(second);
	config_free(again);
	buf_free(&err);
}

Test(config, round_trip)
{
	for (size_t i = 0; i < sizeof(golden_names) / sizeof(golden_names[0]); i++) {
		char in[512];
		snprintf(in, sizeof(in), "%s/%s.yml", GOLDEN_DIR, golden_names[i]);
		struct buf err;
		buf_init(&err, ERRBUF_MAX);
		struct config *c = config_load_file(in, &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		expect_round_trip(in, c);
		config_free(c);
		buf_free(&err);
	}
	/* With the machine's domains and identity, whatever they are. */
	struct buf err;
	char cmid[CONFIG_GUID_LEN + 1];
	if (machine_cmid(cmid)) {
		struct config *c = load("interval: 7d\ntimeout: 999ms\n", &err);
		cr_assert_not_null(c, "%s", buf_str(&err));
		expect_round_trip("local", c);
		config_free(c);
		buf_free(&err);
	}
	/* Characters that need escapes, the longest name, every product form. */
	struct config *c = load("identity:\n"
	                        "  cmid: " FIXED_CMID "\n"
	                        "  workstation: '\"q\"\\#:" A16 A16 "aaaaaaaaaaaaaaaaaaaaaaaaa'\n"
	                        "products:\n"
	                        "  - {name: windows-10-ltsc, protocol: 5}\n"
	                        "  - {name: windows-server-2019}\n"
	                        "  - {name: x.y_z-1, application_id: " APP_WINDOWS
	                        ", kms_counted_id: " KMS_WIN10 ", required_count: 25}\n",
	                        &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_eq(strlen(c->workstation), 63);
	cr_expect(!c->products[0].preset);
	cr_expect(c->products[1].preset);
	expect_round_trip("escapes", c);
	config_free(c);
	buf_free(&err);
	c = load("identity: {cmid: " FIXED_CMID "}\nproducts: []\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	expect_round_trip("no products", c);
	config_free(c);
	buf_free(&err);
	/* Alert settings at their edges, and an external URL derived from the
	 * host name. */
	c = load("identity: {cmid: " FIXED_CMID "}\n"
	         "alerts:\n"
	         "  count_drop: {min: 1000, ratio: 0.30000000000000004, window: 90d}\n"
	         "  resolved_retention: 0\n"
	         "alertmanager: {urls: [\"HTTPS://[::1]:443/a%2Fb/\", \"http://a:8080/~x;y=1\"]}\n"
	         "state_file: \"\"\n"
	         "web: {listen: [\"127.0.0.1:9100\"]}\n",
	         &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect(c->external_url_auto);
	expect_round_trip("alerts", c);
	config_free(c);
	buf_free(&err);
}

/* Alerts. */

Test(config, count_drop_one_test_off)
{
	static const struct {
		const char *in;
		uint32_t min;
		double ratio;
	} cases[] = {
	    {"alerts: {count_drop: {min: 0}}\n", 0, 0.2},
	    {"alerts: {count_drop: {ratio: 0}}\n", 5, 0},
	    {"alerts: {count_drop: {min: 0, ratio: 0.01}}\n", 0, 0.01},
	    {"alerts: {count_drop: {min: 1, ratio: 0}}\n", 1, 0},
	    {"alerts: {count_drop: {min: \"007\", ratio: -0}}\n", 7, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf text, err;
		buf_init(&text, 1 << 12);
		buf_printf(&text, "identity: {cmid: %s}\nweb: {external_url: %s}\n%s", FIXED_CMID,
		           FIXED_URL, cases[i].in);
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", cases[i].in, buf_str(&err));
		cr_expect_eq(c->alerts.drop_min, cases[i].min, "%s", cases[i].in);
		cr_expect_eq(c->alerts.drop_ratio, cases[i].ratio, "%s", cases[i].in);
		cr_expect(!signbit(c->alerts.drop_ratio), "%s", cases[i].in);
		expect_round_trip(cases[i].in, c);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

Test(config, count_drop_ratio_forms)
{
	static const struct {
		const char *in;
		double want;
		const char *printed;
	} cases[] = {
	    {"0.2", 0.2, "0.2"},
	    {"\"0.2\"", 0.2, "0.2"},
	    {".5", 0.5, "0.5"},
	    {"+0.25", 0.25, "0.25"},
	    {"2e-1", 0.2, "0.2"},
	    {"2.5E-1", 0.25, "0.25"},
	    {"0.30000000000000004", 0.30000000000000004, "0.30000000000000004"},
	    {"1e-5", 1e-5, "1e-05"},
	    {"0.999999999999", 0.999999999999, "0.999999999999"},
	    {"0.1", 0.1, "0.1"},
	    {"0", 0, "0"},
	    {"0.0", 0, "0"},
	    {"-0", 0, "0"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf text, err;
		buf_init(&text, 1 << 12);
		buf_printf(&text,
		           "identity: {cmid: %s}\nweb: {external_url: %s}\n"
		           "alerts: {count_drop: {ratio: %s}}\n",
		           FIXED_CMID, FIXED_URL, cases[i].in);
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", cases[i].in, buf_str(&err));
		cr_expect_eq(c->alerts.drop_ratio, cases[i].want, "%s", cases[i].in);
		char *printed = print_config(c);
		char want[64];
		snprintf(want, sizeof(want), "\n    ratio: %s\n", cases[i].printed);
		cr_expect_not_null(strstr(printed, want), "%s: want%s in:\n%s", cases[i].in, want,
		                   printed);
		expect_round_trip(cases[i].in, c);
		free(printed);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

Test(config, alertmanager_urls_canonical)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"http://127.0.0.1:9093", "http://127.0.0.1:9093"},
	    {"HTTP://AM.Example.COM", "http://am.example.com"},
	    {"Https://am.example.com.:9093", "https://am.example.com:9093"},
	    {"http://am:80", "http://am"},
	    {"https://am:443/", "https://am"},
	    {"https://am:80", "https://am:80"},
	    {"http://am:443", "http://am:443"},
	    {"http://10.0.0.1:09093", "http://10.0.0.1:9093"},
	    {"http://[2001:DB8:0::1]:9093", "http://[2001:db8::1]:9093"},
	    {"http://[::1]", "http://[::1]"},
	    {"http://am.example.com/Prefix/Path///", "http://am.example.com/Prefix/Path"},
	    {"http://am/", "http://am"},
	    {"http://am/a%2fb/~c-d_e.f!$&'()*+,;=:@", "http://am/a%2fb/~c-d_e.f!$&'()*+,;=:@"},
	    {"http://am_1.example", "http://am_1.example"},
	    {"http://am/api/v2", "http://am/api/v2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf text, err;
		buf_init(&text, 1 << 12);
		buf_printf(&text,
		           "identity: {cmid: %s}\nalertmanager:\n  urls: [\"%s\"]\nweb:\n  "
		           "external_url: \"%s\"\n",
		           FIXED_CMID, cases[i].in, cases[i].in);
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", cases[i].in, buf_str(&err));
		cr_assert_eq(c->n_alertmanager_urls, 1);
		cr_expect_str_eq(c->alertmanager_urls[0], cases[i].want, "%s", cases[i].in);
		/* The external URL follows the same rules. */
		cr_expect_str_eq(c->external_url, cases[i].want, "%s", cases[i].in);
		expect_round_trip(cases[i].in, c);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

/* alertmanager.urls with n entries http://am<i>:9093, one per line from
 * line 3. */
static char *
urls_list(size_t n)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	buf_puts(&b, "alertmanager:\n  urls:\n");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "    - http://am%zu:9093\n", i);
	return (char *)buf_steal(&b, NULL);
}

Test(config, alertmanager_urls_limit)
{
	struct buf err;
	char *text = urls_list(CONFIG_MAX_ALERTMANAGERS);
	struct config *c = load(text, &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	cr_expect_eq(c->n_alertmanager_urls, CONFIG_MAX_ALERTMANAGERS);
	cr_expect_str_eq(c->alertmanager_urls[15], "http://am15:9093");
	config_free(c);
	buf_free(&err);
	free(text);
	text = urls_list(CONFIG_MAX_ALERTMANAGERS + 1);
	expect_errors(text, "t.yml:3:5: alertmanager.urls: 17 URLs, more than 16\n");
	free(text);

	/* A URL of CONFIG_URL_MAX characters, and one more. */
	for (size_t extra = 0; extra < 2; extra++) {
		struct buf b;
		buf_init(&b, 1 << 16);
		buf_puts(&b, "alertmanager: {urls: [\"http://am/");
		for (size_t i = strlen("http://am/"); i < CONFIG_URL_MAX + extra; i++)
			buf_putc(&b, 'a');
		buf_puts(&b, "\"]}\n");
		c = load(buf_str(&b), &err);
		if (extra == 0) {
			cr_expect_not_null(c, "%.200s", buf_str(&err));
		} else {
			cr_expect_null(c);
			cr_expect_not_null(
			    strstr(buf_str(&err), "\" is longer than 2048 characters; "), "%s",
			    buf_str(&err));
		}
		config_free(c);
		buf_free(&err);
		buf_free(&b);
	}
}

Test(config, state_file_forms)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"\"\"", ""},
	    {"''", ""},
	    {"/var/lib/kmswatch/state", "/var/lib/kmswatch/state"},
	    {"/x", "/x"},
	    {"\"/srv/kms watch/state.json\"", "/srv/kms watch/state.json"},
	    {"/var/lib/kmswatch/../kmswatch/state", "/var/lib/kmswatch/../kmswatch/state"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf text, err;
		buf_init(&text, 1 << 12);
		buf_printf(&text, "identity: {cmid: %s}\nweb: {external_url: %s}\nstate_file: %s\n",
		           FIXED_CMID, FIXED_URL, cases[i].in);
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", cases[i].in, buf_str(&err));
		cr_expect_str_eq(c->state_file, cases[i].want, "%s", cases[i].in);
		expect_round_trip(cases[i].in, c);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
	/* The longest path the system takes, and one more character. */
	for (size_t extra = 0; extra < 2; extra++) {
		struct buf text, err;
		buf_init(&text, 1 << 16);
		buf_printf(&text, "identity: {cmid: %s}\nweb: {external_url: %s}\nstate_file: /",
		           FIXED_CMID, FIXED_URL);
		for (size_t i = 1; i < PATH_MAX - 1 + extra; i++)
			buf_putc(&text, 'a');
		buf_putc(&text, '\n');
		struct config *c = load(buf_str(&text), &err);
		if (extra == 0) {
			cr_assert_not_null(c, "%.200s", buf_str(&err));
			cr_expect_eq(strlen(c->state_file), PATH_MAX - 1);
		} else {
			cr_expect_null(c);
			cr_expect_not_null(
			    strstr(buf_str(&err), "...\" is longer than 4095 characters\n"), "%s",
			    buf_str(&err));
		}
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

/* web.external_url left empty is http://<gethostname()>:<port of the first
 * listen address>, whatever this machine is called. */
Test(config, external_url_from_host_name)
{
	static const struct {
		const char *in;
		unsigned port;
	} cases[] = {
	    {"", 9688},
	    {"web: {external_url: \"\"}\n", 9688},
	    {"web: {external_url: ''}\n", 9688},
	    {"web: {listen: [\"127.0.0.1:9100\", \":9200\"]}\n", 9100},
	    {"web: {listen: [\"[::1]:9300\"], external_url: \"\"}\n", 9300},
	    {"web: {listen: [\":80\"]}\n", 80},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf text, err;
		char want[512];
		buf_init(&text, 1 << 12);
		buf_printf(&text, "identity: {cmid: %s}\n%s", FIXED_CMID, cases[i].in);
		struct config *c = load(buf_str(&text), &err);
		cr_assert_not_null(c, "%s: %s", cases[i].in, buf_str(&err));
		machine_external_url(cases[i].port, want, sizeof(want));
		cr_expect_str_eq(c->external_url, want, "%s", cases[i].in);
		cr_expect(c->external_url_auto, "%s", cases[i].in);
		/* Printed as the effective value, which then counts as given. */
		char *printed = print_config(c);
		char line[600];
		snprintf(line, sizeof(line), "\n  external_url: \"%s\"\n", want);
		cr_expect_not_null(strstr(printed, line), "%s", printed);
		expect_round_trip(cases[i].in, c);
		free(printed);
		config_free(c);
		buf_free(&err);
		buf_free(&text);
	}
}

/* The listen addresses replaced after loading, as the --web.listen-address
 * flag does: a derived URL follows them, a given one stays. */
Test(config, external_url_follows_listen_flag)
{
	struct buf err;
	char want[512];
	struct config *c = load("identity: {cmid: " FIXED_CMID "}\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	free(c->listen[0]);
	c->listen[0] = strdup("127.0.0.1:19100");
	cr_assert_not_null(c->listen[0]);
	cr_expect_eq(config_update_external_url(c), 0);
	machine_external_url(19100, want, sizeof(want));
	cr_expect_str_eq(c->external_url, want);
	cr_expect(c->external_url_auto);
	config_free(c);
	buf_free(&err);

	c = load("identity: {cmid: " FIXED_CMID "}\nweb: {external_url: " FIXED_URL "}\n", &err);
	cr_assert_not_null(c, "%s", buf_str(&err));
	free(c->listen[0]);
	c->listen[0] = strdup(":19100");
	cr_assert_not_null(c->listen[0]);
	cr_expect_eq(config_update_external_url(c), 0);
	cr_expect_str_eq(c->external_url, FIXED_URL);
	cr_expect(!c->external_url_auto);
	config_free(c);
	buf_free(&err);
	cr_expect_eq(config_update_external_url(NULL), 0);
}

Test(config, examples_load)
{
	glob_t g;
	int rc = glob(TEST_DATA_DIR "/../../config/examples/*.yml", 0, NULL, &g);
	cr_assert_eq(rc, 0, "no example configurations found");
	cr_expect_geq(g.gl_pathc, 2);
	char cmid[CONFIG_GUID_LEN + 1];
	bool have_machine_id = machine_cmid(cmid);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct buf err;
		buf_init(&err, ERRBUF_MAX);
		struct config *c = config_load_file(g.gl_pathv[i], &err);
		/* Without a machine id, identity.cmid: auto is refused. */
		if (c == NULL && !have_machine_id && strstr(buf_str(&err), NO_MACHINE_ID) != NULL) {
			buf_free(&err);
			continue;
		}
		cr_expect_not_null(c, "%s", buf_str(&err));
		if (c != NULL)
			expect_round_trip(g.gl_pathv[i], c);
		config_free(c);
		buf_free(&err);
	}
	globfree(&g);
}

/* Errors, each with its exact position. */

struct error_case {
	const char *in;
	const char *want;
};

static const struct error_case error_cases[] = {
    /* Unknown keys. */
    {"intervall: 1m\n", "t.yml:1:1: unknown key \"intervall\" " ALLOWED_TOP "\n"},
    {"dns:\n  resolver: [system]\n",
     "t.yml:2:3: unknown key \"resolver\" in dns (allowed: resolvers, domains)\n"},
    {"web:\n  listen: [\":1\"]\n  tls: {}\n",
     "t.yml:3:3: unknown key \"tls\" in web (allowed: listen, external_url)\n"},
    /* Wrong types. */
    {"interval:\n  seconds: 30\n",
     "t.yml:2:3: interval: expected a duration (like 30s, 5m, 1h), got a mapping\n"},
    {"timeout: [5s]\n",
     "t.yml:1:10: timeout: expected a duration (like 30s, 5m, 1h), got a list\n"},
    {"hosts: kms.example.com\n",
     "t.yml:1:8: hosts: expected a list (like [a, b]), got \"kms.example.com\"\n"},
    {"dns: [system]\n", "t.yml:1:6: dns: expected a mapping (key: value lines), got a list\n"},
    {"web: \":9688\"\n", "t.yml:1:6: web: expected a mapping (key: value lines), got \":9688\"\n"},
    {"hosts:\n  - host: kms\n    port: 1688\n",
     "t.yml:2:5: hosts: expected a string entry, got a mapping\n"},
    {"dns:\n  domains: [[a.example]]\n",
     "t.yml:2:13: dns.domains: expected a string entry, got a list\n"},
    {"? [a]\n: 1\n", "t.yml:1:3: a key must be a string, not a list\n"},
    {"hosts:\n  -\n  - null\n", "t.yml:2:4: hosts: empty entry\nt.yml:3:5: hosts: empty entry\n"},
    /* Bad values. */
    {"interval: abc\n", "t.yml:1:11: interval: \"abc\" is not a duration (like 30s, 5m, 1h)\n"},
    {"timeout: 1.5s\n", "t.yml:1:10: timeout: \"1.5s\" is not a duration (like 30s, 5m, 1h)\n"},
    {"interval: -1m\n", "t.yml:1:11: interval: \"-1m\" is not a duration (like 30s, 5m, 1h)\n"},
    {"interval: \"\"\n", "t.yml:1:11: interval: \"\" is not a duration (like 30s, 5m, 1h)\n"},
    {"interval: 500ms\n", "t.yml:1:11: interval: 500ms is too short (at least 1s)\n"},
    {"timeout: 5ms\n", "t.yml:1:10: timeout: 5ms is too short (at least 10ms)\n"},
    {"interval: 10s\ntimeout: 10s\n",
     "t.yml:2:10: timeout: 10s must be less than interval (10s)\n"},
    {"timeout: 2m\n", "t.yml:1:10: timeout: 2m must be less than interval (1m)\n"},
    {"interval: 2s\n", "t.yml:1:11: interval: 2s must be more than timeout (5s by default)\n"},
    {"concurrency: many\n", "t.yml:1:14: concurrency: \"many\" is not an integer\n"},
    {"concurrency: -1\n", "t.yml:1:14: concurrency: \"-1\" is not an integer\n"},
    {"concurrency: 0x10\n", "t.yml:1:14: concurrency: \"0x10\" is not an integer\n"},
    {"concurrency: 0\n", "t.yml:1:14: concurrency: 0 is out of range (1 to 65536)\n"},
    {"concurrency: 65537\n", "t.yml:1:14: concurrency: 65537 is out of range (1 to 65536)\n"},
    {"concurrency: 99999999999999999999999\n",
     "t.yml:1:14: concurrency: 99999999999999999999999 is out of range (1 to 65536)\n"},
    {"dns:\n  resolvers: [dns.example.com, \"10.0.0.1:0\", \"[10.0.0.1]:53\"]\n",
     "t.yml:2:15: dns.resolvers: \"dns.example.com\" is not \"system\" or an IP address with an "
     "optional port (like 10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)\n"
     "t.yml:2:32: dns.resolvers: \"10.0.0.1:0\" is not \"system\" or an IP address with an "
     "optional port (like 10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)\n"
     "t.yml:2:46: dns.resolvers: \"[10.0.0.1]:53\" is not \"system\" or an IP address with an "
     "optional port (like 10.0.0.53, 10.0.0.53:5353, [2001:db8::53]:5353)\n"},
    {"dns:\n  resolvers: []\n",
     "t.yml:2:14: dns.resolvers: must not be empty (the default is [system])\n"},
    {"dns:\n  domains:\n    - ok.example\n    - bad..example\n    - \"*.example\"\n",
     "t.yml:4:7: dns.domains: \"bad..example\" is not a DNS name or \"local\"\n"
     "t.yml:5:7: dns.domains: \"*.example\" is not a DNS name or \"local\"\n"},
    {"hosts: [\"kms:0\", \"kms:65536\", \"[::1\", \"kms x\", \":1688\", 10.0.0.256]\n",
     "t.yml:1:9: hosts: \"kms:0\" is not HOST[:PORT] with HOST a DNS name or an IP address "
     "(like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"
     "t.yml:1:18: hosts: \"kms:65536\" is not HOST[:PORT] with HOST a DNS name or an IP "
     "address (like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"
     "t.yml:1:31: hosts: \"[::1\" is not HOST[:PORT] with HOST a DNS name or an IP address "
     "(like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"
     "t.yml:1:39: hosts: \"kms x\" is not HOST[:PORT] with HOST a DNS name or an IP address "
     "(like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"
     "t.yml:1:48: hosts: \":1688\" is not HOST[:PORT] with HOST a DNS name or an IP address "
     "(like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"
     "t.yml:1:57: hosts: \"10.0.0.256\" is not HOST[:PORT] with HOST a DNS name or an IP "
     "address (like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"},
    {"web:\n  listen: [\"localhost:9688\", \"127.0.0.1\", \"::1\", \":0\"]\n",
     "t.yml:2:12: web.listen: \"localhost:9688\" is not [HOST]:PORT with HOST empty, an IPv4 "
     "address or a bracketed IPv6 address (like :9688, 127.0.0.1:9688, [::1]:9688)\n"
     "t.yml:2:30: web.listen: \"127.0.0.1\" is not [HOST]:PORT with HOST empty, an IPv4 "
     "address or a bracketed IPv6 address (like :9688, 127.0.0.1:9688, [::1]:9688)\n"
     "t.yml:2:43: web.listen: \"::1\" is not [HOST]:PORT with HOST empty, an IPv4 "
     "address or a bracketed IPv6 address (like :9688, 127.0.0.1:9688, [::1]:9688)\n"
     "t.yml:2:50: web.listen: \":0\" is not [HOST]:PORT with HOST empty, an IPv4 "
     "address or a bracketed IPv6 address (like :9688, 127.0.0.1:9688, [::1]:9688)\n"},
    {"web:\n  listen: []\n",
     "t.yml:2:11: web.listen: must not be empty (the default is [\":9688\"])\n"},
    {"interval: \"1\\0m\"\n", "t.yml:1:11: NUL characters are not allowed\n"},
    {"interval: \"a\\u0001\\\"\"\n",
     "t.yml:1:11: interval: \"a\\x01\\\"\" is not a duration (like 30s, 5m, 1h)\n"},
    /* Duplicate keys and entries. */
    {"interval: 1m\ninterval: 2m\n", "t.yml:2:1: duplicate key \"interval\" (first at line 1)\n"},
    {"dns:\n  domains: []\n  domains: [a.example]\n",
     "t.yml:3:3: duplicate key \"domains\" in dns (first at line 2)\n"},
    {"dns:\n  resolvers: [\"10.0.0.53\", system, \"10.0.0.53:53\", system]\n",
     "t.yml:2:36: dns.resolvers: duplicate entry \"10.0.0.53:53\" (first at line 2)\n"
     "t.yml:2:52: dns.resolvers: duplicate entry \"system\" (first at line 2)\n"},
    {"dns:\n  resolvers:\n    - \"[2001:db8::53]\"\n    - \"2001:DB8:0::53\"\n",
     "t.yml:4:7: dns.resolvers: duplicate entry \"[2001:db8::53]:53\" (first at line 3)\n"},
    {"dns:\n  domains:\n    - Example.com\n    - example.COM.\n    - local\n    - local\n",
     "t.yml:4:7: dns.domains: duplicate entry \"example.com\" (first at line 3)\n"
     "t.yml:6:7: dns.domains: duplicate entry \"local\" (first at line 5)\n"},
    {"hosts:\n  - kms\n  - kms:1689\n  - KMS:1688\n",
     "t.yml:4:5: hosts: duplicate entry \"kms:1688\" (first at line 2)\n"},
    {"web:\n  listen: [\":9688\", \":09688\"]\n",
     "t.yml:2:21: web.listen: duplicate entry \":9688\" (first at line 2)\n"},
    /* Anchors, aliases, tags. */
    {"interval: &i 1m\n", "t.yml:1:11: anchors and aliases are not supported (found anchor "
                          "&i)\n"},
    {"interval: &i 1m\ntimeout: *i\n",
     "t.yml:1:11: anchors and aliases are not supported (found anchor &i)\n"
     "t.yml:2:10: anchors and aliases are not supported (found alias *i)\n"},
    {"dns: &d\n  domains: []\n",
     "t.yml:1:6: anchors and aliases are not supported (found anchor &d)\n"},
    {"interval: !!str 1m\n",
     "t.yml:1:11: tags are not supported (found tag \"tag:yaml.org,2002:str\")\n"},
    /* Documents. */
    {"interval: 1m\n---\ninterval: 2m\n",
     "t.yml:2:1: more than one document (a configuration is one YAML document)\n"},
    {"---\ninterval: 1m\n---\n",
     "t.yml:3:1: more than one document (a configuration is one YAML document)\n"},
    {"kms.example.com\n",
     "t.yml:1:1: the configuration must be a mapping of keys (like \"interval: 1m\"), not a "
     "scalar\n"},
    {"- interval: 1m\n",
     "t.yml:1:1: the configuration must be a mapping of keys (like \"interval: 1m\"), not a "
     "list\n"},
    /* Malformed YAML. */
    {"interval: 1m\n\ttimeout: 5s\n",
     "t.yml:2:1: invalid YAML: found a tab character that violates indentation (while "
     "scanning a plain scalar at line 1, column 11)\n"},
    {"\tinterval: 1m\n",
     "t.yml:1:1: invalid YAML: found character that cannot start any token (while scanning "
     "for the next token) (tabs are not allowed in indentation)\n"},
    {"dns:\n\tdomains: []\n",
     "t.yml:2:1: invalid YAML: found character that cannot start any token (while scanning "
     "for the next token) (tabs are not allowed in indentation)\n"},
    {"interval: \"1m\ntimeout: 5s\n",
     "t.yml:3:1: invalid YAML: found unexpected end of stream (while scanning a quoted "
     "scalar at line 1, column 11)\n"},
    {"dns:\n  resolvers: [system]\n domains: []\n",
     "t.yml:3:2: invalid YAML: did not find expected key (while parsing a block mapping at "
     "line 1, column 1)\n"},
    {"hosts: [a, b\ninterval: 1m\n",
     "t.yml:2:9: invalid YAML: did not find expected ',' or ']' (while parsing a flow "
     "sequence at line 1, column 8)\n"},
    {"interval: 1m\nfoo: \"\xff\"\n", "t.yml:2:7: invalid YAML: invalid leading UTF-8 octet\n"},
    /* Several errors are collected in one pass. */
    {"interval: x\nfoo: 1\ndns:\n  domains: [\"-\", a..b]\nhosts: [\"kms:0\"]\n",
     "t.yml:1:11: interval: \"x\" is not a duration (like 30s, 5m, 1h)\n"
     "t.yml:2:1: unknown key \"foo\" " ALLOWED_TOP "\n"
     "t.yml:4:18: dns.domains: \"a..b\" is not a DNS name or \"local\"\n"
     "t.yml:5:9: hosts: \"kms:0\" is not HOST[:PORT] with HOST a DNS name or an IP address "
     "(like kms.example.com, kms.example.com:1688, [2001:db8::1]:1688)\n"},
    /* The probe interval. */
    {"probe_interval: 999ms\n", "t.yml:1:17: probe_interval: 999ms is too short (at least 1s)\n"},
    {"probe_interval: 15\n",
     "t.yml:1:17: probe_interval: \"15\" is not a duration (like 30s, 5m, 1h)\n"},
    /* Identity. */
    {"identity: auto\n",
     "t.yml:1:11: identity: expected a mapping (key: value lines), got \"auto\"\n"},
    {"identity:\n  cmid: [auto]\n",
     "t.yml:2:9: identity.cmid: expected \"auto\" or a GUID (8-4-4-4-12 hex digits), got a "
     "list\n"},
    {"identity:\n  machine: x\n",
     "t.yml:2:3: unknown key \"machine\" in identity (allowed: cmid, workstation)\n"},
    {"identity:\n  cmid: " ZERO_GUID "\n",
     "t.yml:2:9: identity.cmid: the all-zero GUID is not a client machine id; use auto or a "
     "fixed GUID of this installation's own (from uuidgen)\n"},
    {"identity:\n  cmid: \"{3f2504e0-4f89-41d3-9a0c-0305e82c3301}\"\n",
     "t.yml:2:9: identity.cmid: \"{3f2504e0-4f89-41d3-9a0c-0305e82c3301}\" is not \"auto\" or a "
     "GUID (8-4-4-4-12 hex digits, like 55c92734-d682-4d71-983e-d6ec3f16059f)\n"},
    {"identity: {cmid: Auto}\n",
     "t.yml:1:18: identity.cmid: \"Auto\" is not \"auto\" or a GUID (8-4-4-4-12 hex digits, "
     "like 55c92734-d682-4d71-983e-d6ec3f16059f)\n"},
    {"identity:\n  cmid: 3f2504e0-4f89-41d3-9a0c-0305e82c330\n",
     "t.yml:2:9: identity.cmid: \"3f2504e0-4f89-41d3-9a0c-0305e82c330\" is not \"auto\" or a "
     "GUID (8-4-4-4-12 hex digits, like 55c92734-d682-4d71-983e-d6ec3f16059f)\n"},
    {"identity:\n  workstation: kms watch\n",
     "t.yml:2:16: identity.workstation: \"kms watch\" contains a space; " WORKSTATION_RULE},
    {"identity:\n  workstation: " A16 A16 A16 A16 "\n",
     "t.yml:2:16: identity.workstation: \"" A16 A16 A16 A16
     "\" is 64 characters long; " WORKSTATION_RULE},
    {"identity:\n  workstation: \"\"\n",
     "t.yml:2:16: identity.workstation: \"\" is empty; " WORKSTATION_RULE},
    {"identity:\n  workstation: \"kms\xc3\xa9\"\n",
     "t.yml:2:16: identity.workstation: \"kms\xc3\xa9\" contains a character that is not "
     "printable ASCII; " WORKSTATION_RULE},
    {"identity:\n  workstation: \"a\\tb\"\n",
     "t.yml:2:16: identity.workstation: \"a\\x09b\" contains a character that is not "
     "printable ASCII; " WORKSTATION_RULE},
    /* Products. */
    {"products: windows-10-11\n",
     "t.yml:1:11: products: expected a list (like [a, b]), got \"windows-10-11\"\n"},
    {"products: [windows-10-11, windows-12]\n",
     "t.yml:1:27: products: unknown product \"windows-12\" (presets: windows-10-11, "
     "windows-10-ltsc, windows-server-2019, windows-server-2022, windows-server-2012r2, "
     "office-2016, office-2019, office-ltsc-2021; define any other product as a mapping with "
     "name, application, kms_counted_id and required_count)\n"},
    {"products:\n  - [windows-10-11]\n  -\n",
     "t.yml:2:5: products: expected a preset name or a mapping, got a list\n"
     "t.yml:3:4: products: empty entry\n"},
    {"products:\n  - name: windows-10-11\n    kms_id: " KMS_WIN10 "\n",
     "t.yml:3:5: unknown key \"kms_id\" in products[0] " PRODUCT_KEYS "\n"},
    {"products:\n  - windows-10-11\n  - name: w\n    kms_counted_id: "
     "58e2134f-8e11-4d17-9cb2-91069c15114g\n",
     "t.yml:4:21: products[1].kms_counted_id: \"58e2134f-8e11-4d17-9cb2-91069c15114g\" is not "
     "a GUID (8-4-4-4-12 hex digits, like 55c92734-d682-4d71-983e-d6ec3f16059f)\n"},
    {"products:\n  - {name: w, sku_id: 1, application_id: \"\"}\n",
     "t.yml:2:23: products[0].sku_id: \"1\" is not a GUID (8-4-4-4-12 hex digits, like "
     "55c92734-d682-4d71-983e-d6ec3f16059f)\n"
     "t.yml:2:42: products[0].application_id: \"\" is not a GUID (8-4-4-4-12 hex digits, like "
     "55c92734-d682-4d71-983e-d6ec3f16059f)\n"},
    {"products:\n  - name: windows-10-11\n    required_count: 10\n",
     "t.yml:3:21: products[0].required_count: 10 is not 5 or 25 (the product's own N: 25 for "
     "Windows client editions, 5 for servers and Office)\n"},
    {"products:\n  - {name: office-2019, required_count: five}\n",
     "t.yml:2:41: products[0].required_count: \"five\" is not 5 or 25 (the product's own N: 25 "
     "for Windows client editions, 5 for servers and Office)\n"},
    {"products:\n  - name: windows-10-11\n    protocol: 7\n",
     "t.yml:3:15: products[0].protocol: 7 is not 4, 5 or 6 (the KMS protocol version)\n"},
    {"products:\n  - {name: office-2019, protocol: [6]}\n",
     "t.yml:2:35: products[0].protocol: expected 4, 5 or 6, got a list\n"},
    {"products:\n  - {name: office-2019, application: office}\n",
     "t.yml:2:38: products[0].application: \"office\" is not windows, office-2010 or "
     "office-2013+\n"},
    {"products:\n  - name: my-product\n    application: windows\n    required_count: 25\n",
     "t.yml:2:5: products[0]: \"my-product\" is not a preset, so kms_counted_id is required\n"},
    {"products:\n  - name: my-product\n",
     "t.yml:2:5: products[0]: \"my-product\" is not a preset, so application (windows, "
     "office-2010 or office-2013+) or application_id is required\n"
     "t.yml:2:5: products[0]: \"my-product\" is not a preset, so kms_counted_id is required\n"
     "t.yml:2:5: products[0]: \"my-product\" is not a preset, so required_count is required "
     "(25 for Windows client editions, 5 for servers and Office)\n"},
    {"products:\n  - application: windows\n    kms_counted_id: " KMS_WIN10 "\n",
     "t.yml:2:5: products[0]: name is required (a preset to override, or a new name)\n"},
    {"products:\n  - {name: Windows 12}\n",
     "t.yml:2:12: products[0].name: \"Windows 12\": product name must be 1 to 63 characters of "
     "a-z, 0-9, '.', '_', '-'\n"},
    {"products:\n  - windows-10-11\n  - office-2019\n  - name: windows-10-11\n    protocol: 5\n"
     "  - {name: office-2019}\n",
     "t.yml:4:5: products: duplicate entry \"windows-10-11\" (first at line 2)\n"
     "t.yml:6:5: products: duplicate entry \"office-2019\" (first at line 3)\n"},
    {"products:\n  - {name: a, application: windows, kms_counted_id: " KMS_WIN10
     ", required_count: 25}\n  - {name: a, application: windows, kms_counted_id: " KMS_WIN10
     ", required_count: 5}\n",
     "t.yml:3:5: products: duplicate entry \"a\" (first at line 2)\n"},
    {"products:\n  - name: w\n    name: x\n",
     "t.yml:3:5: duplicate key \"name\" in products[0] (first at line 2)\n"},
    /* Alerts. */
    {"alerts: 5\n", "t.yml:1:9: alerts: expected a mapping (key: value lines), got \"5\"\n"},
    {"alerts:\n  drop: {min: 1}\n",
     "t.yml:2:3: unknown key \"drop\" in alerts " ALLOWED_ALERTS "\n"},
    {"alerts:\n  count_drop: 5\n",
     "t.yml:2:15: alerts.count_drop: expected a mapping (key: value lines), got \"5\"\n"},
    {"alerts:\n  count_drop: {minimum: 5, window: 1h}\n",
     "t.yml:2:16: unknown key \"minimum\" in alerts.count_drop (allowed: min, ratio, window)\n"},
    {"alerts:\n  count_drop:\n    min: -1\n    ratio: 20%\n    window: 30s\n",
     "t.yml:3:10: alerts.count_drop.min: \"-1\" is not an integer\n"
     "t.yml:4:12: alerts.count_drop.ratio: \"20%\" is not a number (like 0.2)\n"
     "t.yml:5:13: alerts.count_drop.window: 30s is too short (at least 1m)\n"},
    {"alerts:\n  count_drop: {min: 1001}\n",
     "t.yml:2:21: alerts.count_drop.min: 1001 is out of range (0 to 1000)\n"},
    {"alerts:\n  count_drop: {min: 2.5}\n",
     "t.yml:2:21: alerts.count_drop.min: \"2.5\" is not an integer\n"},
    {"alerts: {count_drop: {ratio: 1}}\n", "t.yml:1:30: alerts.count_drop.ratio: 1 " RATIO_RANGE},
    {"alerts: {count_drop: {ratio: 1.0}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: 1.0 " RATIO_RANGE},
    {"alerts: {count_drop: {ratio: -0.1}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: -0.1 " RATIO_RANGE},
    {"alerts: {count_drop: {ratio: 1e999}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: 1e999 " RATIO_RANGE},
    {"alerts: {count_drop: {ratio: 1e-999}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: 1e-999 " RATIO_RANGE},
    {"alerts: {count_drop: {ratio: 0x1}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: \"0x1\" is not a number (like 0.2)\n"},
    {"alerts: {count_drop: {ratio: .inf}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: \".inf\" is not a number (like 0.2)\n"},
    {"alerts: {count_drop: {ratio: nan}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: \"nan\" is not a number (like 0.2)\n"},
    {"alerts: {count_drop: {ratio: 1e}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: \"1e\" is not a number (like 0.2)\n"},
    {"alerts: {count_drop: {ratio: \".\"}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: \".\" is not a number (like 0.2)\n"},
    {"alerts: {count_drop: {ratio: [0.2]}}\n",
     "t.yml:1:30: alerts.count_drop.ratio: expected a number (like 0.2), got a list\n"},
    {"alerts:\n  count_drop:\n    min: 0\n    ratio: 0\n",
     "t.yml:3:5: alerts.count_drop: min and ratio cannot both be 0\n"},
    {"alerts: {count_drop: {min: 0, ratio: 0.0, window: 1h}}\n",
     "t.yml:1:22: alerts.count_drop: min and ratio cannot both be 0\n"},
    {"alerts: {count_drop: {window: 91d}}\n",
     "t.yml:1:31: alerts.count_drop.window: 91d is too long (at most 90d)\n"},
    {"alerts: {count_drop: {window: 13w}}\n",
     "t.yml:1:31: alerts.count_drop.window: 13w is too long (at most 90d)\n"},
    {"alerts: {count_drop: {window: 0}}\n",
     "t.yml:1:31: alerts.count_drop.window: 0s is too short (at least 1m)\n"},
    {"alerts: {count_drop: {window: 1 day}}\n",
     "t.yml:1:31: alerts.count_drop.window: \"1 day\" is not a duration (like 30s, 5m, 1h)\n"},
    {"alerts:\n  count_margin: 1001\n",
     "t.yml:2:17: alerts.count_margin: 1001 is out of range (0 to 1000)\n"},
    {"alerts:\n  count_margin: -5\n",
     "t.yml:2:17: alerts.count_margin: \"-5\" is not an integer\n"},
    {"alerts:\n  max_hosts: 100001\n",
     "t.yml:2:14: alerts.max_hosts: 100001 is out of range (0 to 100000)\n"},
    {"alerts:\n  stale_after: 0\n",
     "t.yml:2:16: alerts.stale_after: 0 is out of range (1 to 1000)\n"},
    {"alerts:\n  stale_after: 1001\n",
     "t.yml:2:16: alerts.stale_after: 1001 is out of range (1 to 1000)\n"},
    {"alerts:\n  resend_interval: 999ms\n",
     "t.yml:2:20: alerts.resend_interval: 999ms is too short (at least 1s)\n"},
    {"alerts:\n  resend_interval: 0\n",
     "t.yml:2:20: alerts.resend_interval: 0s is too short (at least 1s)\n"},
    {"alerts:\n  resolved_retention: forever\n",
     "t.yml:2:23: alerts.resolved_retention: \"forever\" is not a duration (like 30s, 5m, 1h)\n"},
    {"alerts:\n  count_margin: 1\n  count_margin: 2\n",
     "t.yml:3:3: duplicate key \"count_margin\" in alerts (first at line 2)\n"},
    /* Alertmanager. */
    {"alertmanager: [\"http://a\"]\n",
     "t.yml:1:15: alertmanager: expected a mapping (key: value lines), got a list\n"},
    {"alertmanager:\n  url: http://a\n",
     "t.yml:2:3: unknown key \"url\" in alertmanager (allowed: urls, timeout)\n"},
    {"alertmanager:\n  urls: http://127.0.0.1:9093\n",
     "t.yml:2:9: alertmanager.urls: expected a list (like [a, b]), got "
     "\"http://127.0.0.1:9093\"\n"},
    {"alertmanager:\n"
     "  urls:\n"
     "    - ftp://am\n"
     "    - 127.0.0.1:9093\n"
     "    - \"http:/am\"\n"
     "    - \"\"\n"
     "    - \"http://\"\n"
     "    - \"http://am 1\"\n"
     "    - \"http://am?x=1\"\n"
     "    - \"http://am/#top\"\n"
     "    - \"http://user:pw@am\"\n",
     "t.yml:3:7: alertmanager.urls: \"ftp://am\" does not start with http:// or https://" AM_RULE
     "t.yml:4:7: alertmanager.urls: \"127.0.0.1:9093\" does not start with http:// or "
     "https://" AM_RULE "t.yml:5:7: alertmanager.urls: \"http:/am\" does not start with http:// or "
     "https://" AM_RULE
     "t.yml:6:7: alertmanager.urls: \"\" does not start with http:// or https://" AM_RULE
     "t.yml:7:7: alertmanager.urls: \"http://\" has no host" AM_RULE
     "t.yml:8:7: alertmanager.urls: \"http://am 1\" contains a space" AM_RULE
     "t.yml:9:7: alertmanager.urls: \"http://am?x=1\" has a query (?...)" AM_RULE
     "t.yml:10:7: alertmanager.urls: \"http://am/#top\" has a fragment (#...)" AM_RULE
     "t.yml:11:7: alertmanager.urls: \"http://user:pw@am\" has user credentials (user@host), "
     "which are not supported" AM_RULE},
    {"alertmanager:\n"
     "  urls:\n"
     "    - \"http://am:0\"\n"
     "    - \"http://am:65536\"\n"
     "    - \"http://::1\"\n"
     "    - \"http://[::1\"\n"
     "    - \"http://10.0.0.256\"\n"
     "    - \"http://am/%zz\"\n"
     "    - \"http://am/a\\\\b\"\n"
     "    - \"http://am/\xc3\xa9\"\n",
     "t.yml:3:7: alertmanager.urls: \"http://am:0\" " BAD_HOST AM_RULE
     "t.yml:4:7: alertmanager.urls: \"http://am:65536\" " BAD_HOST AM_RULE
     "t.yml:5:7: alertmanager.urls: \"http://::1\" has an IPv6 address that is not in "
     "brackets" AM_RULE "t.yml:6:7: alertmanager.urls: \"http://[::1\" " BAD_HOST AM_RULE
     "t.yml:7:7: alertmanager.urls: \"http://10.0.0.256\" " BAD_HOST AM_RULE
     "t.yml:8:7: alertmanager.urls: \"http://am/%zz\" has a '%' that is not followed by two "
     "hex digits (write %25 for '%')" AM_RULE
     "t.yml:9:7: alertmanager.urls: \"http://am/a\\\\b\" has a character that is not allowed "
     "in a URL path ('\\'; percent-encode it)" AM_RULE
     "t.yml:10:7: alertmanager.urls: \"http://am/\xc3\xa9\" contains a character that is not "
     "printable ASCII (percent-encode it)" AM_RULE},
    {"alertmanager:\n  urls: [\"http://am:9093/api/v2/alerts\", \"http://am/x/api/v1/alerts/\"]\n",
     "t.yml:2:10: alertmanager.urls: \"http://am:9093/api/v2/alerts\" ends with the API path; "
     "give Alertmanager's base URL (like http://127.0.0.1:9093): the agent adds /api/v2/alerts "
     "itself\n"
     "t.yml:2:42: alertmanager.urls: \"http://am/x/api/v1/alerts/\" ends with the API path; "
     "give Alertmanager's base URL (like http://127.0.0.1:9093): the agent adds /api/v2/alerts "
     "itself\n"},
    {"alertmanager:\n"
     "  urls:\n"
     "    - http://am\n"
     "    - HTTP://AM:80/\n"
     "    - https://am\n"
     "    - http://am:9093\n"
     "    - \"http://am:9093/\"\n",
     "t.yml:4:7: alertmanager.urls: duplicate entry \"http://am\" (first at line 3)\n"
     "t.yml:7:7: alertmanager.urls: duplicate entry \"http://am:9093\" (first at line 6)\n"},
    {"alertmanager:\n  urls: [http://a, ~]\n", "t.yml:2:20: alertmanager.urls: empty entry\n"},
    {"alertmanager:\n  timeout: 99ms\n",
     "t.yml:2:12: alertmanager.timeout: 99ms is too short (at least 100ms)\n"},
    /* The state file. */
    {"state_file: state\n",
     "t.yml:1:13: state_file: \"state\" is a relative path, which would depend on the directory "
     "the agent happens to start in; give an absolute path (like /var/lib/kmswatch/state), or "
     "\"\" to keep no state\n"},
    {"state_file: ./var/state\n",
     "t.yml:1:13: state_file: \"./var/state\" is a relative path, which would depend on the "
     "directory the agent happens to start in; give an absolute path (like "
     "/var/lib/kmswatch/state), or \"\" to keep no state\n"},
    {"state_file: ~/state\n",
     "t.yml:1:13: state_file: \"~/state\" is a relative path, which would depend on the "
     "directory the agent happens to start in; give an absolute path (like "
     "/var/lib/kmswatch/state), or \"\" to keep no state\n"},
    {"state_file: /var/lib/kmswatch/\n",
     "t.yml:1:13: state_file: \"/var/lib/kmswatch/\" names a directory; give the path of a file "
     "(like /var/lib/kmswatch/state)\n"},
    {"state_file: \"/a\\tb\"\n",
     "t.yml:1:13: state_file: \"/a\\x09b\" contains a control character\n"},
    {"state_file: [/a]\n",
     "t.yml:1:13: state_file: expected an absolute path or \"\", got a list\n"},
    /* The external URL. */
    {"web:\n  external_url: kms.example.com\n",
     "t.yml:2:17: web.external_url: \"kms.example.com\" does not start with http:// or "
     "https://" EXT_RULE},
    {"web:\n  external_url: \"https://kms.example.com/?a=b\"\n",
     "t.yml:2:17: web.external_url: \"https://kms.example.com/?a=b\" has a query (?...)" EXT_RULE},
    {"web:\n  external_url: [a]\n",
     "t.yml:2:17: web.external_url: expected an http:// or https:// URL or \"\", got a list\n"},
};

Test(config, errors_with_positions)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		expect_errors(error_cases[i].in, error_cases[i].want);
}

Test(config, errors_name_the_file)
{
	const char *text = "timeout: 5\n";
	char *path = write_temp(text, strlen(text));
	struct buf err, want;
	buf_init(&err, ERRBUF_MAX);
	buf_init(&want, ERRBUF_MAX);
	buf_printf(&want, "%s:1:10: timeout: \"5\" is not a duration (like 30s, 5m, 1h)\n", path);
	cr_expect_null(config_load_file(path, &err));
	cr_expect_str_eq(buf_str(&err), buf_str(&want));
	buf_free(&err);
	buf_free(&want);
	unlink(path);
	free(path);
}

Test(config, errors_are_appended)
{
	struct buf err;
	buf_init(&err, ERRBUF_MAX);
	buf_puts(&err, "earlier\n");
	cr_expect_null(config_load_string("t.yml", "foo: 1\n", 7, &err));
	cr_expect_str_eq(buf_str(&err),
	                 "earlier\nt.yml:1:1: unknown key \"foo\" " ALLOWED_TOP "\n");
	buf_free(&err);
}

static void
expect_unknown_keys(size_t n, size_t want_lines, const char *last)
{
	struct buf text, err;
	buf_init(&text, 1 << 20);
	for (size_t i = 0; i < n; i++)
		buf_printf(&text, "k%zu: 1\n", i);
	struct config *c = load(buf_str(&text), &err);
	cr_expect_null(c);
	size_t lines = 0;
	const char *s = buf_str(&err), *last_line = s;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '\n') {
			lines++;
			if (p[1] != '\0')
				last_line = p + 1;
		}
	}
	cr_expect_eq(lines, want_lines, "%zu errors gave %zu lines:\n%s", n, lines, s);
	cr_expect_eq(strncmp(last_line, last, strlen(last)), 0, "last line: %s", last_line);
	buf_free(&text);
	buf_free(&err);
}

Test(config, errors_are_capped)
{
	expect_unknown_keys(CONFIG_MAX_ERRORS, CONFIG_MAX_ERRORS,
	                    "t.yml:20:1: unknown key \"k19\"");
	expect_unknown_keys(CONFIG_MAX_ERRORS + 1, CONFIG_MAX_ERRORS,
	                    "t.yml: too many errors, 2 more not shown\n");
	expect_unknown_keys(5000, CONFIG_MAX_ERRORS,
	                    "t.yml: too many errors, 4981 more not shown\n");
}

Test(config, file_errors)
{
	struct buf err;
	buf_init(&err, ERRBUF_MAX);
	cr_expect_null(config_load_file("/nonexistent/kmswatch.yml", &err));
	cr_expect_str_eq(buf_str(&err),
	                 "/nonexistent/kmswatch.yml: cannot read: No such file or directory\n");
	buf_reset(&err);
	cr_expect_null(config_load_file("/", &err));
	cr_expect_str_eq(buf_str(&err), "/: cannot read: Is a directory\n");
	buf_free(&err);
}

/* Lists and sizes at their limits. */

static char *
hosts_list(size_t n)
{
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "hosts: [");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "%sh%zu.example", i > 0 ? ", " : "", i);
	buf_puts(&b, "]\n");
	return (char *)buf_steal(&b, NULL);
}

Test(config, list_limit)
{
	struct buf err;
	char *text = hosts_list(CONFIG_MAX_LIST);
	struct config *c = load(text, &err);
	cr_assert_not_null(c, "%.300s", buf_str(&err));
	cr_expect_eq(c->n_hosts, CONFIG_MAX_LIST);
	config_free(c);
	buf_free(&err);
	free(text);

	text = hosts_list(CONFIG_MAX_LIST + 1);
	expect_errors(text, "t.yml:1:8: hosts: more than 10000 entries\n");
	free(text);

	/* Lists that are not ours are cut too, and reported as what they are. */
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "x: [");
	for (size_t i = 0; i < 3 * CONFIG_MAX_LIST; i++)
		buf_puts(&b, "[], ");
	buf_puts(&b, "]\n");
	expect_errors(buf_str(&b), "t.yml:1:1: unknown key \"x\" " ALLOWED_TOP "\n");
	buf_free(&b);
}

Test(config, duplicate_check_scales)
{
	/* Every entry the same: each is reported, then the cap applies. */
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "hosts: [");
	for (size_t i = 0; i < CONFIG_MAX_LIST; i++)
		buf_printf(&b, "%skms", i > 0 ? ", " : "");
	buf_puts(&b, "]\n");
	struct buf err;
	cr_expect_null(load(buf_str(&b), &err));
	const char *first = "t.yml:1:14: hosts: duplicate entry \"kms:1688\" (first at line 1)\n";
	cr_expect_eq(strncmp(buf_str(&err), first, strlen(first)), 0, "%.200s", buf_str(&err));
	buf_free(&err);
	buf_free(&b);
}

Test(config, huge_file_rejected)
{
	/* Comments only, so the size is the only problem. */
	size_t len = CONFIG_MAX_FILE_SIZE + 1;
	char *data = malloc(len);
	cr_assert_not_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = i % 64 == 0 ? '#' : i % 64 == 63 ? '\n' : 'x';
	char *path = write_temp(data, len);

	struct buf err, want;
	buf_init(&err, ERRBUF_MAX);
	buf_init(&want, ERRBUF_MAX);
	buf_printf(&want, "%s: file is larger than 1 MiB\n", path);
	cr_expect_null(config_load_file(path, &err));
	cr_expect_str_eq(buf_str(&err), buf_str(&want));

	buf_reset(&err);
	cr_expect_null(config_load_string("t.yml", data, len, &err));
	cr_expect_str_eq(buf_str(&err), "t.yml: file is larger than 1 MiB\n");

	/* Exactly at the limit is fine. */
	buf_reset(&err);
	struct config *c = config_load_string("t.yml", data, len - 1, &err);
	cr_expect_not_null(c, "%s", buf_str(&err));
	config_free(c);
	unlink(path);
	free(path);
	path = write_temp(data, len - 1);
	c = config_load_file(path, &err);
	cr_expect_not_null(c, "%s", buf_str(&err));
	config_free(c);

	/* Not a regular file: read up to the limit, then refused. */
	buf_reset(&err);
	cr_expect_null(config_load_file("/dev/zero", &err));
	cr_expect_str_eq(buf_str(&err), "/dev/zero: file is larger than 1 MiB\n");

	unlink(path);
	free(path);
	free(data);
	buf_free(&err);
	buf_free(&want);
}

static void
expect_nested(const char *unit, size_t n, const char *want)
{
	struct buf b;
	buf_init(&b, 16 << 20);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, unit);
	buf_putc(&b, '\n');
	expect_errors(buf_str(&b), want);
	buf_free(&b);
}

Test(config, deep_nesting_rejected)
{
	expect_nested("[", 100000, "t.yml:1:65: nesting too deep (more than 64 levels)\n");
	expect_nested("{", 100000, "t.yml:1:65: nesting too deep (more than 64 levels)\n");
	expect_nested("- ", 100000, "t.yml:1:129: nesting too deep (more than 64 levels)\n");
	expect_nested("a: {", 100000, "t.yml:1:256: nesting too deep (more than 64 levels)\n");
	/* 64 levels are still parsed (and then found not to be a mapping). */
	struct buf b;
	buf_init(&b, 1 << 16);
	for (size_t i = 0; i < 64; i++)
		buf_putc(&b, '[');
	for (size_t i = 0; i < 64; i++)
		buf_putc(&b, ']');
	expect_errors(buf_str(&b), "t.yml:1:1: the configuration must be a mapping of keys (like "
	                           "\"interval: 1m\"), not a list\n");
	buf_free(&b);
}

Test(config, garbage_does_not_crash)
{
	/* Binary and odd input: an error or a config, never a crash or a leak. */
	static const char *const inputs[] = {
	    "\x00\x01\x02",
	    "%YAML 1.1\n%YAML 1.1\n",
	    "&",
	    "*",
	    "!",
	    "? ? ? ?",
	    "[}",
	    "{a: [b, {c: d}]",
	    "'''",
	    "\xef\xbb\xbf",
	    ":",
	    "- - -\n  - a",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct buf err;
		buf_init(&err, ERRBUF_MAX);
		size_t len = i == 0 ? 3 : strlen(inputs[i]);
		struct config *c = config_load_string("t.yml", inputs[i], len, &err);
		cr_expect(c != NULL || err.len > 0, "input %zu", i);
		config_free(c);
		buf_free(&err);
	}
}

/* Durations. */

Test(config, duration_valid)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} cases[] = {
	    {"0", 0},
	    {"0s", 0},
	    {"1ms", 1},
	    {"500ms", 500},
	    {"1s", 1000},
	    {"30s", 30000},
	    {"01s", 1000},
	    {"1m", 60000},
	    {"90s", 90000},
	    {"1m30s", 90000},
	    {"24h", 86400000},
	    {"7d", 604800000},
	    {"1w", 604800000},
	    {"2w3d4h5m6s7ms",
	     2 * 604800000ULL + 3 * 86400000ULL + 4 * 3600000 + 5 * 60000 + 6000 + 7},
	    {"1h1ms", 3600001},
	    {"18446744073709551615ms", UINT64_MAX},
	    {"30500568904w6d14h25m51s615ms", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		cr_expect_eq(config_parse_duration(cases[i].s, &ms), 0, "%s", cases[i].s);
		cr_expect_eq(ms, cases[i].ms, "%s", cases[i].s);
	}
}

Test(config, duration_invalid)
{
	static const char *const cases[] = {
	    "",
	    "s",
	    "ms",
	    "1",
	    "30",
	    "-1s",
	    "+1s",
	    "1.5s",
	    ".5s",
	    "1e3s",
	    "1x",
	    "1y",
	    "1S",
	    "1M",
	    "1 s",
	    " 1s",
	    "1s ",
	    "1s\n",
	    "30s1m",
	    "1m1m",
	    "1ms1s",
	    "1s1s",
	    "1msx",
	    "1mss",
	    "1m30",
	    "18446744073709551616ms",
	    "30500568905w",
	    "99999999999999999999h",
	    "18446744073709551615ms1s",
	    "18446744073709552s",
	    "00",
	    "0x10s",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		cr_expect_eq(config_parse_duration(cases[i], &ms), -1, "\"%s\" was accepted",
		             cases[i]);
		cr_expect_eq(ms, 12345, "\"%s\" changed the output", cases[i]);
	}
	uint64_t ms;
	cr_expect_eq(config_parse_duration(NULL, &ms), -1);
}

Test(config, duration_format)
{
	static const struct {
		uint64_t ms;
		const char *s;
	} cases[] = {
	    {0, "0s"},
	    {1, "1ms"},
	    {500, "500ms"},
	    {1000, "1s"},
	    {1500, "1s500ms"},
	    {60000, "1m"},
	    {90000, "1m30s"},
	    {3600000, "1h"},
	    {86400000, "1d"},
	    {604800000, "1w"},
	    {694861001, "1w1d1h1m1s1ms"},
	    {UINT64_MAX, "30500568904w6d14h25m51s615ms"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char s[64];
		config_format_duration(cases[i].ms, s, sizeof(s));
		cr_expect_str_eq(s, cases[i].s);
		uint64_t back;
		cr_expect_eq(config_parse_duration(s, &back), 0, "%s", s);
		cr_expect_eq(back, cases[i].ms, "%s", s);
	}
	/* A short buffer gets a terminated prefix. */
	char small[4];
	config_format_duration(90000, small, sizeof(small));
	cr_expect_str_eq(small, "1m3");
}

/* Hosts and ports. */

Test(config, hostport_valid)
{
	static const struct {
		const char *s;
		uint16_t def;
		const char *host;
		uint16_t port;
	} cases[] = {
	    {"kms.example.com", 1688, "kms.example.com", 1688},
	    {"KMS.Example.COM.", 1688, "kms.example.com", 1688},
	    {"kms", 1688, "kms", 1688},
	    {"kms:1700", 1688, "kms", 1700},
	    {"kms:1", 1688, "kms", 1},
	    {"kms:65535", 1688, "kms", 65535},
	    {"kms:01688", 1, "kms", 1688},
	    {"_vlmcs._tcp.example.com", 1, "_vlmcs._tcp.example.com", 1},
	    {"10.0.0.1", 53, "10.0.0.1", 53},
	    {"10.0.0.1:5353", 53, "10.0.0.1", 5353},
	    {"[2001:db8::53]:5353", 53, "2001:db8::53", 5353},
	    {"[2001:db8::53]", 53, "2001:db8::53", 53},
	    {"2001:db8::53", 53, "2001:db8::53", 53},
	    {"2001:DB8:0:0:0:0:0:1", 53, "2001:db8::1", 53},
	    {"::1", 1688, "::1", 1688},
	    {"[::]:9688", 1, "::", 9688},
	    {"::ffff:10.0.0.1", 1, "::ffff:10.0.0.1", 1},
	    {"kms:1", 0, "kms", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *host = NULL;
		uint16_t port = 0;
		cr_expect_eq(config_parse_hostport(cases[i].s, cases[i].def, &host, &port), 0,
		             "\"%s\" was rejected", cases[i].s);
		if (host == NULL)
			continue;
		cr_expect_str_eq(host, cases[i].host, "%s", cases[i].s);
		cr_expect_eq(port, cases[i].port, "%s", cases[i].s);
		free(host);
	}
}

Test(config, hostport_invalid)
{
	static const char *const cases[] = {
	    "",
	    ":1688",
	    "[]:1688",
	    "[]",
	    "kms:",
	    "kms:0",
	    "kms:00",
	    "kms:65536",
	    "kms:99999999999",
	    "kms:1688x",
	    "kms:+1688",
	    "kms:-1",
	    "kms:0x10",
	    "kms: 1688",
	    " kms",
	    "kms ",
	    "k ms",
	    "kms\t",
	    "kms\n",
	    "[::1",
	    "::1]",
	    "[::1]]:1",
	    "[::1]x",
	    "[::1]:",
	    "[::1]:1688:1",
	    "[[::1]]:1",
	    "a]b",
	    "kms:1688]",
	    "[10.0.0.1]:53",
	    "[kms]:1688",
	    "kms:1688:1689",
	    "10.0.0.256",
	    "1.2.3",
	    "999",
	    "010.0.0.1",
	    "kms..example.com",
	    ".kms",
	    "kms.example.com..",
	    "*.example.com",
	    "k/ms",
	    "kms\xc3\xa9.example",
	    "fe80::1%eth0",
	    "[fe80::1%eth0]:1",
	    "2001:db8::zz",
	    "http://kms:1688",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char untouched[] = "untouched";
		char *host = untouched;
		uint16_t port = 7;
		cr_expect_eq(config_parse_hostport(cases[i], 1688, &host, &port), -1,
		             "\"%s\" was accepted", cases[i]);
		cr_expect_null(host, "\"%s\" left a host", cases[i]);
	}
	/* With no default port, a port is required. */
	char *host;
	uint16_t port;
	cr_expect_eq(config_parse_hostport("kms", 0, &host, &port), -1);
	cr_expect_eq(config_parse_hostport("2001:db8::1", 0, &host, &port), -1);
	cr_expect_eq(config_parse_hostport(NULL, 1, &host, &port), -1);
}

/* DNS names. */

Test(config, dns_name_valid)
{
	char label63[64], name253[254], name253dot[255];
	memset(label63, 'a', 63);
	label63[63] = '\0';
	/* 4 labels of 62 plus 3 dots = 251, then ".a" = 253. */
	size_t o = 0;
	for (int l = 0; l < 4; l++) {
		memset(name253 + o, 'b', 62);
		o += 62;
		name253[o++] = '.';
	}
	name253[o++] = 'c';
	name253[o] = '\0';
	cr_assert_eq(strlen(name253), 253);
	snprintf(name253dot, sizeof(name253dot), "%s.", name253);

	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"example.com", "example.com"},
	    {"Example.COM.", "example.com"},
	    {"a", "a"},
	    {"_vlmcs._tcp.example.com", "_vlmcs._tcp.example.com"},
	    {"xn--bcher-kva.example", "xn--bcher-kva.example"},
	    {"a-b.c_d.1e", "a-b.c_d.1e"},
	    {"KMS1", "kms1"},
	};
	char out[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(config_normalize_dns_name(cases[i].in, out, sizeof(out)), 0, "%s",
		             cases[i].in);
		cr_expect_str_eq(out, cases[i].out);
	}
	cr_expect_eq(config_normalize_dns_name(label63, out, sizeof(out)), 0);
	cr_expect_eq(config_normalize_dns_name(name253, out, sizeof(out)), 0);
	cr_expect_str_eq(out, name253);
	cr_expect_eq(config_normalize_dns_name(name253dot, out, sizeof(out)), 0);
	cr_expect_str_eq(out, name253);
	/* The output buffer must hold the name and its NUL, nothing more. */
	cr_expect_eq(config_normalize_dns_name("example.com.", out, 12), 0);
	cr_expect_eq(config_normalize_dns_name("example.com", out, 11), -1);
}

Test(config, dns_name_invalid)
{
	char label64[65], name254[256];
	memset(label64, 'a', 64);
	label64[64] = '\0';
	memset(name254, 'a', 254);
	for (size_t i = 63; i < 254; i += 64)
		name254[i] = '.';
	name254[254] = '\0';
	static const char *const cases[] = {
	    "",    ".",    "..",    "a..b",  ".a",   "a.b..", "a b",
	    "a/b", "a\tb", "é.com", "a.b:c", "*.ex", "a@b",   "a\\.b",
	};
	char out[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_expect_eq(config_normalize_dns_name(cases[i], out, sizeof(out)), -1,
		             "\"%s\" was accepted", cases[i]);
	}
	cr_expect_eq(config_normalize_dns_name(label64, out, sizeof(out)), -1);
	cr_expect_eq(config_normalize_dns_name(name254, out, sizeof(out)), -1);
	cr_expect_eq(config_normalize_dns_name(NULL, out, sizeof(out)), -1);
}
