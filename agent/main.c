/*
 * kmswatch: watches Microsoft KMS activation hosts from the network and serves
 * what it finds to Prometheus. Command line, start-up in dependency order and
 * teardown in reverse; the engine's context is the only global state.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "kmswatch/alertjson.h"
#include "kmswatch/alerts.h"
#include "kmswatch/config.h"
#include "kmswatch/dns.h"
#include "kmswatch/http.h"
#include "kmswatch/log.h"
#include "kmswatch/loop.h"
#include "kmswatch/notify.h"
#include "kmswatch/persist.h"
#include "kmswatch/results.h"
#include "kmswatch/scheduler.h"
#include "kmswatch/statefile.h"

#define DEFAULT_CONFIG   "/etc/kmswatch/kmswatch.yml"
#define MAX_LISTEN_FLAGS 16
/* The state file is rewritten at once when an alert starts or resolves, and
 * otherwise (new counts) at most this often. */
#define STATE_WRITE_INTERVAL_MS 10000

struct options {
	const char *command;
	const char *config_file;
	const char *listen[MAX_LISTEN_FLAGS];
	size_t n_listen;
	enum log_level level;
	enum log_format format;
};

struct engine {
	struct options *opts;
	struct loop *loop;
	struct config *cfg;
	struct results *res;
	struct scheduler *sched;
	struct http *http;
	struct alerts alerts;
	struct notify *notify;   /* NULL without alertmanager.urls */
	struct statefile *state; /* NULL without state_file */
	int64_t start_ms;
	uint64_t pushed_generation;
	int64_t last_push_ms;
	uint64_t saved_generation;
	uint64_t saved_rounds;
	int64_t last_save_ms;
};

static int64_t
wall_ms(void)
{
	return (int64_t)(loop_wall_time() * 1000.0);
}

static void
usage(FILE *f)
{
	fprintf(
	    f, "usage: kmswatch [serve] [flags]         run the agent (the default)\n"
	       "       kmswatch check-config [flags]    validate and print the effective "
	       "configuration\n"
	       "       kmswatch version                 print the version\n"
	       "\n"
	       "flags:\n"
	       "  --config.file=FILE           configuration file (default " DEFAULT_CONFIG ")\n"
	       "  --web.listen-address=ADDR    [HOST]:PORT to serve HTTP on; repeatable; overrides "
	       "web.listen\n"
	       "  --log.level=LEVEL            debug, info, warn or error (default info)\n"
	       "  --log.format=FORMAT          logfmt or json (default logfmt)\n"
	       "  -h, --help                   this text\n");
}

/* Accepts "--flag=value" and "--flag value"; returns the value or NULL. */
static const char *
flag_value(const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	o->command = "serve";
	o->config_file = DEFAULT_CONFIG;
	o->level = LOG_LEVEL_INFO;
	o->format = LOG_FORMAT_LOGFMT;
	int i = 1;
	if (i < argc && argv[i][0] != '-')
		o->command = argv[i++];
	for (; i < argc; i++) {
		const char *v;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if ((v = flag_value("--config.file", argc, argv, &i)) != NULL) {
			o->config_file = v;
		} else if ((v = flag_value("--web.listen-address", argc, argv, &i)) != NULL) {
			if (o->n_listen == MAX_LISTEN_FLAGS) {
				fprintf(stderr, "kmswatch: at most %d --web.listen-address flags\n",
				        MAX_LISTEN_FLAGS);
				return -1;
			}
			o->listen[o->n_listen++] = v;
		} else if ((v = flag_value("--log.level", argc, argv, &i)) != NULL) {
			if (log_parse_level(v, &o->level) == -1) {
				fprintf(stderr,
				        "kmswatch: --log.level: \"%s\" is not one of debug, "
				        "info, warn, error\n",
				        v);
				return -1;
			}
		} else if ((v = flag_value("--log.format", argc, argv, &i)) != NULL) {
			if (log_parse_format(v, &o->format) == -1) {
				fprintf(stderr,
				        "kmswatch: --log.format: \"%s\" is not logfmt or json\n",
				        v);
				return -1;
			}
		} else {
			fprintf(stderr, "kmswatch: unknown or incomplete flag \"%s\"\n", argv[i]);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* Loads the configuration and applies the command line's overrides. Errors
 * go to the log, or as plain lines to stderr for check-config. */
static struct config *
load_config(const struct options *o, bool plain)
{
	struct buf errors;
	buf_init(&errors, 64 * 1024);
	struct config *c = config_load_file(o->config_file, &errors);
	if (c == NULL) {
		/* Each error on its own line keeps file:line:col greppable. */
		const char *p = buf_str(&errors);
		while (*p != '\0') {
			size_t n = strcspn(p, "\n");
			if (plain)
				fprintf(stderr, "%.*s\n", (int)n, p);
			else
				log_error("config: %.*s", (int)n, p);
			p += n + (p[n] == '\n');
		}
		buf_free(&errors);
		return NULL;
	}
	buf_free(&errors);
	if (o->n_listen > 0) {
		for (size_t i = 0; i < o->n_listen; i++) {
			struct sockaddr_storage ss;
			socklen_t len;
			int any;
			if (http_parse_listen(o->listen[i], &ss, &len, &any) == -1) {
				log_error(
				    "--web.listen-address: \"%s\" is not [HOST]:PORT with an IP "
				    "address or nothing as HOST",
				    o->listen[i]);
				config_free(c);
				return NULL;
			}
		}
		for (size_t i = 0; i < c->n_listen; i++)
			free(c->listen[i]);
		free(c->listen);
		c->listen = calloc(o->n_listen, sizeof(*c->listen));
		if (c->listen == NULL)
			fatal("config");
		for (size_t i = 0; i < o->n_listen; i++)
			if ((c->listen[i] = strdup(o->listen[i])) == NULL)
				fatal("config");
		c->n_listen = o->n_listen;
		if (config_update_external_url(c) == -1) {
			log_error(
			    "web.external_url: cannot derive it from this host's name; set it "
			    "in the configuration");
			config_free(c);
			return NULL;
		}
	}
	if (c->n_domains == 0 && c->n_hosts == 0)
		log_warnx("config: no DNS domains and no static hosts: nothing to watch");
	return c;
}

static bool
same_listen(const struct config *a, const struct config *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (strcmp(a->listen[i], b->listen[i]) != 0)
			return false;
	return true;
}

/* What must survive a restart: the count history and the firing alerts. */
static void
engine_export(struct engine *e, struct persist_state *st)
{
	results_export(e->res, st);
	size_t n = alerts_firing(&e->alerts);
	st->alerts = calloc(n ? n : 1, sizeof(*st->alerts));
	if (st->alerts == NULL)
		fatal("state");
	for (size_t i = 0; i < e->alerts.n; i++) {
		const struct alert *a = &e->alerts.a[i];
		if (a->ends_at_ms != 0)
			continue;
		st->alerts[st->n_alerts].fingerprint = strdup(a->fingerprint);
		if (st->alerts[st->n_alerts].fingerprint == NULL)
			fatal("state");
		st->alerts[st->n_alerts++].starts_at_ms = a->starts_at_ms;
	}
}

/* Evaluates the alerts, pushes and saves what changed, and publishes a new
 * snapshot. Runs on the engine thread after every batch of results. */
static void
engine_publish(void *arg)
{
	struct engine *e = arg;
	const struct config *c = e->cfg;
	int64_t now = wall_ms();
	/* Until the first cycle has ended nothing is known; alerts restored from
	 * the state file stand as they are. */
	if (e->res->stats.ready) {
		struct alerts_input in = {
		    .res = e->res,
		    .now_ms = now,
		    .start_ms = e->start_ms,
		    .settled = c->n_products == 0 || e->res->stats.kms_rounds_total > 0,
		};
		alerts_evaluate(&e->alerts, &in);
	}
	alerts_expire(&e->alerts, now, c->alerts.resolved_retention_ms);

	if (e->notify != NULL && e->alerts.n > 0 &&
	    (e->alerts.generation != e->pushed_generation ||
	     now - e->last_push_ms >= (int64_t)c->alerts.resend_interval_ms)) {
		/* Like Prometheus: a firing alert is valid for a few resend
		 * periods, so Alertmanager keeps it if the agent goes quiet
		 * briefly, and resolves it if the agent is gone for good. */
		uint64_t period = c->interval_ms > c->alerts.resend_interval_ms
		                      ? c->interval_ms
		                      : c->alerts.resend_interval_ms;
		size_t len;
		char *body = alertjson_render(&e->alerts, c->external_url, true,
		                              now + 4 * (int64_t)period, &len);
		notify_post(e->notify, body, len);
		free(body);
		e->pushed_generation = e->alerts.generation;
		e->last_push_ms = now;
	}

	/* Saved at once when an alert starts or resolves and when a round of
	 * activation probes completes; otherwise at most every 10 seconds. */
	if (e->state != NULL && (e->alerts.generation != e->saved_generation ||
	                         e->res->stats.kms_rounds_total != e->saved_rounds ||
	                         now - e->last_save_ms >= STATE_WRITE_INTERVAL_MS)) {
		struct persist_state st;
		engine_export(e, &st);
		statefile_submit(e->state, &st);
		e->saved_generation = e->alerts.generation;
		e->saved_rounds = e->res->stats.kms_rounds_total;
		e->last_save_ms = now;
	}

	if (e->http != NULL) {
		struct statefile_stats sst;
		if (e->state != NULL)
			statefile_get_stats(e->state, &sst);
		struct snapshot_extras x = {.alerts = &e->alerts,
		                            .external_url = c->external_url,
		                            .notify = e->notify,
		                            .state = e->state != NULL ? &sst : NULL};
		http_publish(e->http, results_snapshot(e->res, &x));
	}
}

/* Reads the state file at start: the count history and the alerts that were
 * firing, so that a restart neither forgets a drop nor invents one. */
static void
engine_restore(struct engine *e)
{
	if (e->cfg->state_file[0] == '\0')
		return;
	struct persist_state st;
	char err[512];
	memset(&st, 0, sizeof(st));
	int rc = persist_read(e->cfg->state_file, &st, err, sizeof(err));
	if (rc == 1) {
		log_info("state file %s does not exist yet; starting without history",
		         e->cfg->state_file);
		return;
	}
	if (rc == -1) {
		log_warnx("state file %s is unusable (%s); moved aside to %s.corrupt, starting "
		          "without history",
		          e->cfg->state_file, err, e->cfg->state_file);
		persist_quarantine(e->cfg->state_file);
		return;
	}
	log_info("state file %s: %zu count histories, %zu firing alerts restored",
	         e->cfg->state_file, st.n_series, st.n_alerts);
	for (size_t i = 0; i < st.n_alerts; i++)
		alerts_restore(&e->alerts, st.alerts[i].fingerprint, st.alerts[i].starts_at_ms);
	results_restore(e->res, &st);
	persist_state_free(&st);
}

/* (Re)creates the Alertmanager push and the state file writer for c. */
static void
engine_outputs(struct engine *e, const struct config *c)
{
	notify_free(e->notify);
	e->notify = c->n_alertmanager_urls > 0
	                ? notify_new(e->loop, c->alertmanager_urls, c->n_alertmanager_urls,
	                             c->alertmanager_timeout_ms)
	                : NULL;
	e->pushed_generation = e->alerts.generation - 1;
	if (e->state != NULL) {
		struct persist_state st;
		engine_export(e, &st);
		statefile_free(e->state, &st);
		e->state = NULL;
	}
	if (c->state_file[0] != '\0')
		e->state = statefile_new(c->state_file);
	e->saved_generation = e->alerts.generation - 1;
}

/* Returns 0 when the new configuration was taken, -1 when the old one stays. */
static int
engine_reload(struct engine *e, char *msg, size_t len)
{
	log_info("reloading configuration from %s", e->opts->config_file);
	struct config *c = load_config(e->opts, false);
	char err[512] = "";
	if (c != NULL && sched_reconfigure(e->sched, c, err, sizeof(err)) == -1) {
		log_error("config: %s", err);
		config_free(c);
		c = NULL;
	}
	if (c == NULL) {
		e->res->stats.last_reload_ok = false;
		engine_publish(e);
		snprintf(msg, len,
		         "configuration rejected; the previous one stays in force (see the "
		         "log)%s%s\n",
		         err[0] ? ": " : "", err);
		return -1;
	}
	if (!same_listen(e->cfg, c))
		log_warnx("config: web.listen changed; the new addresses take effect at restart");
	config_free(e->cfg);
	e->cfg = c;
	engine_outputs(e, c);
	e->res->stats.last_reload_ok = true;
	e->res->stats.last_reload_success = loop_wall_time();
	engine_publish(e);
	log_info("configuration reloaded");
	snprintf(msg, len, "configuration reloaded\n");
	return 0;
}

struct engine_probe {
	struct engine *e;
	struct http_job *job;
};

static void
engine_probe_done(void *arg, const struct kms_state *k)
{
	struct engine_probe *ep = arg;
	struct engine *e = ep->e;
	struct http_job *job = ep->job;
	free(ep);
	/* At shutdown the HTTP side is gone before the probes are abandoned. */
	if (e->http == NULL)
		return;
	size_t len;
	char *body = results_render_kms(e->cfg, k, 1, &len);
	job->status = 200;
	job->content_type = "text/plain; version=0.0.4; charset=utf-8";
	job->body = body;
	job->body_len = len;
	if (k->out.kms != PROBE_KMS_OK)
		log_info("/probe %s:%u %s: %s (%s)", k->host, (unsigned)k->port, k->product,
		         probe_kms_result_name(k->out.kms), k->out.detail);
	http_job_done(e->http, job);
}

static void
engine_job_text(struct http_job *job, unsigned status, const char *text)
{
	job->status = status;
	job->content_type = "text/plain; charset=utf-8";
	job->body = strdup(text);
	job->body_len = job->body ? strlen(job->body) : 0;
}

static void
engine_probe(struct engine *e, struct http_job *job)
{
	const struct config_product *p = config_find_product(e->cfg, job->product);
	if (p == NULL) {
		struct buf msg;
		buf_init(&msg, 4096);
		buf_printf(&msg, "unknown product \"%s\"; configured:", job->product);
		for (size_t i = 0; i < e->cfg->n_products; i++)
			buf_printf(&msg, " %s", e->cfg->products[i].name);
		buf_puts(&msg, "\n");
		engine_job_text(job, 400, buf_str(&msg));
		buf_free(&msg);
		http_job_done(e->http, job);
		return;
	}
	struct engine_probe *ep = malloc(sizeof(*ep));
	if (ep == NULL)
		fatal("probe");
	*ep = (struct engine_probe){.e = e, .job = job};
	if (sched_probe_once(e->sched, job->host, job->port, (size_t)(p - e->cfg->products),
	                     engine_probe_done, ep) == -1) {
		free(ep);
		engine_job_text(job, 503, "too many probes in flight; try again\n");
		http_job_done(e->http, job);
	}
}

static void
engine_job(struct http_job *job, void *arg)
{
	struct engine *e = arg;
	switch (job->kind) {
	case HTTP_JOB_PROBE:
		engine_probe(e, job);
		return;
	case HTTP_JOB_RELOAD: {
		char msg[768];
		int rc = engine_reload(e, msg, sizeof(msg));
		engine_job_text(job, rc == 0 ? 200 : 500, msg);
		http_job_done(e->http, job);
		return;
	}
	}
}

static void
engine_signal(struct loop *l, int signo, void *arg)
{
	struct engine *e = arg;
	char msg[768];
	switch (signo) {
	case SIGHUP:
		sd_notify(0, "RELOADING=1");
		engine_reload(e, msg, sizeof(msg));
		sd_notify(0, "READY=1");
		break;
	case SIGTERM:
	case SIGINT:
		log_info("received %s; stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
		sd_notify(0, "STOPPING=1");
		loop_stop(l);
		break;
	default:
		break;
	}
}

static int
serve(struct options *o)
{
	struct engine e = {.opts = o};
	char err[512] = "";
	int rc = 1;

	e.cfg = load_config(o, false);
	if (e.cfg == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	if (dns_library_init() == -1 || notify_library_init() == -1) {
		log_error("c-ares or libcurl initialisation failed");
		config_free(e.cfg);
		return 1;
	}
	alerts_init(&e.alerts);
	e.start_ms = wall_ms();
	if ((e.loop = loop_new()) == NULL) {
		log_warn("event loop");
		goto out;
	}
	static const int sigs[] = {SIGHUP, SIGTERM, SIGINT};
	if (loop_signals(e.loop, sigs, 3, engine_signal, &e) == -1) {
		log_warn("signals");
		goto out;
	}
	e.res = results_new(e.cfg);
	engine_restore(&e);
	engine_outputs(&e, e.cfg);
	e.http = http_new(e.cfg, e.loop, engine_job, &e, err, sizeof(err));
	if (e.http == NULL) {
		log_error("%s", err);
		goto out;
	}
	engine_publish(&e);
	e.sched = sched_new(e.loop, e.cfg, e.res, engine_publish, &e, err, sizeof(err));
	if (e.sched == NULL) {
		log_error("%s", err);
		goto out;
	}
	log_info("kmswatch %s (%s) started: %zu domains, %zu resolvers, %zu static hosts, "
	         "interval %llums",
	         KMSWATCH_VERSION, KMSWATCH_REVISION, e.cfg->n_domains, e.cfg->n_resolvers,
	         e.cfg->n_hosts, (unsigned long long)e.cfg->interval_ms);
	sd_notify(0, "READY=1");
	rc = loop_run(e.loop) == 0 ? 0 : 1;
out:
	http_free(e.http);
	e.http = NULL;
	sched_free(e.sched);
	if (e.state != NULL) {
		/* The last word on disk is the state at the stop. */
		struct persist_state st;
		engine_export(&e, &st);
		statefile_free(e.state, &st);
	}
	notify_free(e.notify);
	alerts_free(&e.alerts);
	results_free(e.res);
	loop_free(e.loop);
	config_free(e.cfg);
	notify_library_cleanup();
	dns_library_cleanup();
	log_info("stopped");
	return rc;
}

static int
check_config(const struct options *o)
{
	struct config *c = load_config(o, true);
	if (c == NULL) {
		fprintf(stderr, "kmswatch: %s: configuration is invalid\n", o->config_file);
		return 1;
	}
	struct buf out;
	buf_init(&out, CONFIG_MAX_FILE_SIZE * 4);
	config_print(c, &out);
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	config_free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o;
	memset(&o, 0, sizeof(o));
	if (parse_args(argc, argv, &o) == -1)
		return 2;
	log_init(o.level, o.format);
	if (strcmp(o.command, "version") == 0) {
		printf("kmswatch %s (revision %s)\n", KMSWATCH_VERSION, KMSWATCH_REVISION);
		return 0;
	}
	if (strcmp(o.command, "check-config") == 0)
		return check_config(&o);
	if (strcmp(o.command, "serve") == 0)
		return serve(&o);
	fprintf(stderr, "kmswatch: unknown command \"%s\"\n", o.command);
	usage(stderr);
	return 2;
}
