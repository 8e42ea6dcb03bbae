/*
 * The HTTP server; see http.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kmswatch/http.h"
#include "kmswatch/log.h"
#include "kmswatch/runbooks.h"

#define CT_TEXT        "text/plain; charset=utf-8"
#define CT_HTML        "text/html; charset=utf-8"
#define CT_METRICS     "text/plain; version=0.0.4; charset=utf-8"
#define CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

struct http_request {
	struct http *http;
	struct MHD_Connection *conn;
	struct http_job job;
	bool queued;  /* handed to the engine */
	bool pending; /* suspended, waiting for http_job_done */
	bool answered;
	struct http_request *prev, *next; /* in http->pending while pending */
};

struct http {
	struct loop *loop;
	http_job_cb jobs;
	void *jobs_arg;
	struct MHD_Daemon **daemons;
	size_t n_daemons;
	pthread_mutex_t lock; /* guards current and pending */
	struct snapshot *current;
	struct http_request *pending;
	bool stopping;
	char *runbooks; /* the runbooks page, rendered once */
	size_t runbooks_len;
};

static struct snapshot *
http_current(struct http *h)
{
	/* The lock covers only taking the reference, so a publish can never
	 * free the snapshot between loading the pointer and counting it. */
	pthread_mutex_lock(&h->lock);
	struct snapshot *s = h->current;
	if (s != NULL)
		snapshot_ref(s);
	pthread_mutex_unlock(&h->lock);
	return s;
}

void
http_publish(struct http *h, struct snapshot *s)
{
	pthread_mutex_lock(&h->lock);
	struct snapshot *old = h->current;
	h->current = s;
	pthread_mutex_unlock(&h->lock);
	snapshot_unref(old);
}

static enum MHD_Result
http_send(struct MHD_Connection *conn, unsigned status, const char *type, const void *data,
          size_t len, bool gzip, const char *allow)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
http_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
	return http_send(conn, status, CT_TEXT, text, strlen(text), false, NULL);
}

/* True when the comma-separated header lists token (case-insensitive) with
 * a quality above zero. */
static bool
http_accepts(const char *header, const char *token)
{
	if (header == NULL)
		return false;
	size_t tlen = strlen(token);
	for (const char *p = header; *p != '\0';) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ",");
		if (len >= tlen && strncasecmp(p, token, tlen) == 0 &&
		    (len == tlen || p[tlen] == ';' || p[tlen] == ' ')) {
			const char *q = strstr(p, "q=");
			if (q == NULL || q >= p + len || strtod(q + 2, NULL) > 0)
				return true;
		}
		p += len;
	}
	return false;
}

static enum MHD_Result
http_serve_body(struct MHD_Connection *conn, struct snapshot *s, struct snapshot_body *b,
                const char *type)
{
	const char *enc =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *gz;
	size_t gz_len;
	if (http_accepts(enc, "gzip") && snapshot_body_gzip(s, b, &gz, &gz_len))
		return http_send(conn, MHD_HTTP_OK, type, gz, gz_len, true, NULL);
	return http_send(conn, MHD_HTTP_OK, type, b->data, b->len, false, NULL);
}

static enum MHD_Result
http_metrics(struct http *h, struct MHD_Connection *conn)
{
	struct snapshot *s = http_current(h);
	if (s == NULL)
		return http_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no data yet\n");
	const char *accept =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	enum MHD_Result rc;
	if (http_accepts(accept, "application/openmetrics-text"))
		rc = http_serve_body(conn, s, &s->openmetrics, CT_OPENMETRICS);
	else
		rc = http_serve_body(conn, s, &s->metrics, CT_METRICS);
	snapshot_unref(s);
	return rc;
}

static enum MHD_Result
http_status_page(struct http *h, struct MHD_Connection *conn)
{
	struct snapshot *s = http_current(h);
	if (s == NULL)
		return http_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	enum MHD_Result rc = http_serve_body(conn, s, &s->status, CT_HTML);
	snapshot_unref(s);
	return rc;
}

static enum MHD_Result
http_alerts(struct http *h, struct MHD_Connection *conn)
{
	struct snapshot *s = http_current(h);
	if (s == NULL)
		return http_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
	enum MHD_Result rc = http_serve_body(conn, s, &s->alerts, "application/json");
	snapshot_unref(s);
	return rc;
}

/* True for a line that is exactly <a id="NAME"></a> with NAME made of
 * [a-z0-9_-]: safe to pass through as HTML. */
static bool
http_anchor_line(const char *p, size_t n)
{
	static const char head[] = "<a id=\"", tail[] = "\"></a>";
	size_t h = sizeof(head) - 1, t = sizeof(tail) - 1;
	if (n <= h + t || strncmp(p, head, h) != 0 || strncmp(p + n - t, tail, t) != 0)
		return false;
	for (size_t i = h; i < n - t; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' ||
		      p[i] == '_'))
			return false;
	return true;
}

/* The runbooks as a page: the markdown as preformatted text, with the
 * anchors it carries (lines of the form <a id="..."></a>) kept as HTML so
 * that every alert's runbook_url lands on its section. */
static void
http_render_runbooks(struct http *h)
{
	struct buf b;
	buf_init(&b, 4 * runbooks_md_len + 4096);
	buf_puts(&b,
	         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>kmswatch "
	         "runbooks</title><style>body{font-family:sans-serif;margin:2em}pre{white-space:"
	         "pre-wrap;max-width:60em}</style></head><body><pre>\n");
	const char *p = (const char *)runbooks_md;
	while (*p != '\0') {
		size_t n = strcspn(p, "\n");
		if (http_anchor_line(p, n)) {
			buf_append(&b, p, n);
		} else {
			for (size_t i = 0; i < n; i++) {
				switch (p[i]) {
				case '<':
					buf_puts(&b, "&lt;");
					break;
				case '>':
					buf_puts(&b, "&gt;");
					break;
				case '&':
					buf_puts(&b, "&amp;");
					break;
				default:
					buf_putc(&b, p[i]);
				}
			}
		}
		buf_putc(&b, '\n');
		p += n + (p[n] == '\n');
	}
	buf_puts(&b, "</pre></body></html>\n");
	h->runbooks = (char *)buf_steal(&b, &h->runbooks_len);
}

static enum MHD_Result
http_ready(struct http *h, struct MHD_Connection *conn)
{
	struct snapshot *s = http_current(h);
	bool ready = s != NULL && s->ready;
	snapshot_unref(s);
	if (ready)
		return http_text(conn, MHD_HTTP_OK, "ready\n");
	return http_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: first cycle running\n");
}

static void
http_run_job(struct loop *l, void *arg)
{
	(void)l;
	struct http_request *req = arg;
	req->http->jobs(&req->job, req->http->jobs_arg);
}

/* Hands the request to the engine and suspends the connection. */
static enum MHD_Result
http_queue_job(struct http *h, struct http_request *req, enum http_job_kind kind)
{
	req->job.kind = kind;
	req->queued = true;
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		pthread_mutex_unlock(&h->lock);
		return http_text(req->conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
	}
	req->pending = true;
	req->next = h->pending;
	if (h->pending != NULL)
		h->pending->prev = req;
	h->pending = req;
	MHD_suspend_connection(req->conn);
	pthread_mutex_unlock(&h->lock);
	if (loop_post(h->loop, http_run_job, req) == -1) {
		req->job.status = MHD_HTTP_SERVICE_UNAVAILABLE;
		http_job_done(h, &req->job);
	}
	return MHD_YES;
}

void
http_job_done(struct http *h, struct http_job *job)
{
	struct http_request *req =
	    (struct http_request *)((char *)job - offsetof(struct http_request, job));
	pthread_mutex_lock(&h->lock);
	if (req->pending) {
		req->pending = false;
		if (req->prev != NULL)
			req->prev->next = req->next;
		else
			h->pending = req->next;
		if (req->next != NULL)
			req->next->prev = req->prev;
		req->answered = true;
		MHD_resume_connection(req->conn);
	}
	pthread_mutex_unlock(&h->lock);
}

/* GET /probe?target=HOST[:PORT]&product=NAME: the parameters' syntax is
 * checked here; whether the product is configured, by the engine. */
static enum MHD_Result
http_probe(struct http *h, struct http_request *req)
{
	const char *target =
	    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "target");
	const char *product =
	    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "product");
	char msg[512];
	if (target == NULL || target[0] == '\0' || product == NULL || product[0] == '\0') {
		snprintf(msg, sizeof(msg),
		         "missing parameter \"%s\": use /probe?target=HOST[:PORT]&product=NAME\n",
		         target == NULL || target[0] == '\0' ? "target" : "product");
		return http_text(req->conn, MHD_HTTP_BAD_REQUEST, msg);
	}
	char *host = NULL;
	uint16_t port;
	if (config_parse_hostport(target, CONFIG_KMS_PORT, &host, &port) == -1 ||
	    strlen(host) >= sizeof(req->job.host)) {
		free(host);
		snprintf(msg, sizeof(msg),
		         "bad parameter \"target\": expected HOST or HOST:PORT (IPv6 as "
		         "[ADDRESS]:PORT)\n");
		return http_text(req->conn, MHD_HTTP_BAD_REQUEST, msg);
	}
	if (strlen(product) >= sizeof(req->job.product)) {
		free(host);
		return http_text(req->conn, MHD_HTTP_BAD_REQUEST,
		                 "bad parameter \"product\": name too long\n");
	}
	snprintf(req->job.host, sizeof(req->job.host), "%s", host);
	snprintf(req->job.product, sizeof(req->job.product), "%s", product);
	req->job.port = port;
	free(host);
	return http_queue_job(h, req, HTTP_JOB_PROBE);
}

static enum MHD_Result
http_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	(void)version;
	(void)upload_data;
	struct http *h = cls;
	struct http_request *req = *con_cls;
	if (req == NULL) {
		req = calloc(1, sizeof(*req));
		if (req == NULL)
			return MHD_NO;
		req->http = h;
		req->conn = conn;
		*con_cls = req;
		return MHD_YES;
	}
	/* Request bodies are not used; they are read and dropped. */
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->answered) {
		const char *type = req->job.content_type ? req->job.content_type : CT_TEXT;
		const char *body = req->job.body ? req->job.body : "";
		return http_send(conn, req->job.status ? req->job.status : 500, type, body,
		                 req->job.body ? req->job.body_len : 0, false, NULL);
	}
	if (req->queued)
		return MHD_YES;

	bool get =
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	const char *allow = "GET, HEAD";
	if (strcmp(url, "/metrics") == 0) {
		if (get)
			return http_metrics(h, conn);
	} else if (strcmp(url, "/") == 0) {
		if (get)
			return http_status_page(h, conn);
	} else if (strcmp(url, "/-/healthy") == 0) {
		if (get)
			return http_text(conn, MHD_HTTP_OK, "healthy\n");
	} else if (strcmp(url, "/-/ready") == 0) {
		if (get)
			return http_ready(h, conn);
	} else if (strcmp(url, "/alerts") == 0) {
		if (get)
			return http_alerts(h, conn);
	} else if (strcmp(url, "/runbooks") == 0) {
		if (get)
			return http_send(conn, MHD_HTTP_OK, CT_HTML, h->runbooks, h->runbooks_len,
			                 false, NULL);
	} else if (strcmp(url, "/probe") == 0) {
		if (get)
			return http_probe(h, req);
	} else if (strcmp(url, "/-/reload") == 0) {
		if (post || strcmp(method, "PUT") == 0)
			return http_queue_job(h, req, HTTP_JOB_RELOAD);
		allow = "POST, PUT";
	} else {
		return http_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	}
	char msg[128];
	snprintf(msg, sizeof(msg), "method not allowed; use %s\n", allow);
	return http_send(conn, MHD_HTTP_METHOD_NOT_ALLOWED, CT_TEXT, msg, strlen(msg), false,
	                 allow);
}

static void
http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
               enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct http_request *req = *con_cls;
	if (req == NULL)
		return;
	free(req->job.body);
	free(req);
	*con_cls = NULL;
}

static void http_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
http_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warnx("http: %s", msg);
}

int
http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, int *any)
{
	memset(ss, 0, sizeof(*ss));
	const char *colon = strrchr(s, ':');
	if (colon == NULL)
		return -1;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port == 0 || port > 65535)
		return -1;
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen = (size_t)(colon - s);
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	*any = hlen == 0;
	if (hlen == 0) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_any;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	*len = sizeof(*in);
	return 0;
}

static struct MHD_Daemon *
http_start(struct http *h, const struct sockaddr_storage *ss, unsigned flags)
{
	return MHD_start_daemon(
	    flags | MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME, 0,
	    NULL, NULL, http_handler, h, MHD_OPTION_EXTERNAL_LOGGER, http_log, h,
	    MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HTTP_THREADS,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_IP,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MAX_REQUEST_BYTES,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h, MHD_OPTION_END);
}

struct http *
http_new(const struct config *cfg, struct loop *l, http_job_cb jobs, void *arg, char *err,
         size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		fatal("http");
	h->loop = l;
	h->jobs = jobs;
	h->jobs_arg = arg;
	pthread_mutex_init(&h->lock, NULL);
	http_render_runbooks(h);
	h->daemons = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(*h->daemons));
	if (h->daemons == NULL)
		fatal("http");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		int any;
		if (http_parse_listen(cfg->listen[i], &ss, &len, &any) == -1) {
			snprintf(err, errlen, "web.listen: cannot parse \"%s\"", cfg->listen[i]);
			goto fail;
		}
		struct MHD_Daemon *d = http_start(
		    h, &ss,
		    ss.ss_family == AF_INET6 ? (any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6) : 0);
		if (d == NULL && any) {
			/* No IPv6 on this machine: all IPv4 addresses instead. */
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;
			uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
			memset(&ss, 0, sizeof(ss));
			in->sin_family = AF_INET;
			in->sin_port = port;
			in->sin_addr.s_addr = htonl(INADDR_ANY);
			d = http_start(h, &ss, 0);
		}
		if (d == NULL) {
			snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen[i],
			         strerror(errno));
			goto fail;
		}
		h->daemons[h->n_daemons++] = d;
		log_info("listening on %s", cfg->listen[i]);
	}
	return h;
fail:
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	/* Suspended connections must be resumed before the daemon stops. */
	while (h->pending != NULL) {
		struct http_request *req = h->pending;
		h->pending = req->next;
		req->pending = false;
		req->answered = true;
		req->job.status = MHD_HTTP_SERVICE_UNAVAILABLE;
		MHD_resume_connection(req->conn);
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < h->n_daemons; i++)
		MHD_stop_daemon(h->daemons[i]);
	free(h->daemons);
	snapshot_unref(h->current);
	free(h->runbooks);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
