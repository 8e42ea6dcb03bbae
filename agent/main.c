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

#include "kmswatch/config.h"
#include "kmswatch/dns.h"
#include "kmswatch/http.h"
#include "kmswatch/log.h"
#include "kmswatch/loop.h"
#include "kmswatch/results.h"
#include "kmswatch/scheduler.h"

#define DEFAULT_CONFIG   "/etc/kmswatch/kmswatch.yml"
#define MAX_LISTEN_FLAGS 16

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
};

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

static void
engine_publish(void *arg)
{
	struct engine *e = arg;
	if (e->http != NULL)
		http_publish(e->http, results_snapshot(e->res));
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
	if (dns_library_init() == -1) {
		log_error("c-ares initialisation failed");
		config_free(e.cfg);
		return 1;
	}
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
	results_free(e.res);
	loop_free(e.loop);
	config_free(e.cfg);
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
