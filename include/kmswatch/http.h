/*
 * The HTTP server (libmicrohttpd, only in http.c) on its own threads. It never
 * touches engine state: it serves the latest published snapshot, and hands the
 * few requests that need the engine (/-/reload) to it as jobs through the
 * loop's queue, suspending the connection until the engine answers.
 */
#ifndef KMSWATCH_HTTP_H
#define KMSWATCH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "kmswatch/config.h"
#include "kmswatch/loop.h"
#include "kmswatch/snapshot.h"

#define HTTP_MAX_CONNECTIONS   128
#define HTTP_MAX_PER_IP        32
#define HTTP_IDLE_TIMEOUT_S    30
#define HTTP_MAX_REQUEST_BYTES (32 * 1024) /* per connection, headers and body */
#define HTTP_THREADS           2

enum http_job_kind { HTTP_JOB_RELOAD, HTTP_JOB_PROBE };

/* A request the engine must answer. The engine fills status, content_type and
 * body (malloc'd; taken over by http) and then calls http_job_done. */
struct http_job {
	enum http_job_kind kind;
	/* HTTP_JOB_PROBE: the parameters, already checked for syntax. */
	char host[256];
	uint16_t port;
	char product[64];
	unsigned status;
	const char *content_type;
	char *body;
	size_t body_len;
};

typedef void (*http_job_cb)(struct http_job *job, void *arg);

struct http;

/* Starts listening on every address of cfg->listen; NULL with err on failure.
 * Jobs run on the loop's thread as jobs(job, arg). */
struct http *http_new(const struct config *cfg, struct loop *l, http_job_cb jobs, void *arg,
                      char *err, size_t errlen);
/* Answers every pending job with 503 and stops the server. */
void http_free(struct http *h);
/* Replaces the served snapshot; takes over the caller's reference. */
void http_publish(struct http *h, struct snapshot *s);
/* Thread-safe: the engine's answer to a job is ready. */
void http_job_done(struct http *h, struct http_job *job);

/* Parses "[HOST]:PORT" as in web.listen into a socket address. */
int http_parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len, int *any);

#endif
