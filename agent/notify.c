/*
 * The Alertmanager push; see notify.h.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmswatch/log.h"
#include "kmswatch/notify.h"

#define NOTIFY_RETRY_MIN_MS 1000
#define NOTIFY_RETRY_MAX_MS 60000

struct notify_target {
	struct notify *nt;
	char *url;      /* as configured */
	char *endpoint; /* url + /api/v2/alerts */
	char *pending;  /* the newest body not yet sent, or NULL */
	size_t pending_len;
	char *sending; /* the body of the request in flight */
	size_t sending_len;
	CURL *easy;
	struct curl_slist *headers;
	struct loop_timer *retry;
	uint64_t backoff_ms;
	uint64_t sent, failed;
	double last_success;
};

struct notify {
	struct loop *loop;
	CURLM *multi;
	struct loop_timer *timer;
	uint64_t timeout_ms;
	struct notify_target *t;
	size_t n;
};

static void notify_start(struct notify_target *t);

int
notify_library_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
notify_library_cleanup(void)
{
	curl_global_cleanup();
}

static size_t
notify_discard(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	(void)arg;
	return size * n;
}

static void
notify_retry_due(struct loop *l, void *arg)
{
	(void)l;
	struct notify_target *t = arg;
	t->retry = NULL;
	notify_start(t);
}

/* Collects finished transfers. */
static void
notify_check_done(struct notify *nt)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(nt->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct notify_target *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		long code = 0;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		CURLcode rc = msg->data.result;
		curl_multi_remove_handle(nt->multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
		if (rc == CURLE_OK && code >= 200 && code < 300) {
			t->sent++;
			t->last_success = loop_wall_time();
			t->backoff_ms = 0;
			free(t->sending);
			t->sending = NULL;
			if (t->pending != NULL)
				notify_start(t);
			continue;
		}
		t->failed++;
		if (rc != CURLE_OK)
			log_warnx("alertmanager %s: %s", t->url, curl_easy_strerror(rc));
		else
			log_warnx("alertmanager %s: HTTP %ld", t->url, code);
		/* Retry the newest body: a later one supersedes the failed one. */
		if (t->pending == NULL) {
			t->pending = t->sending;
			t->pending_len = t->sending_len;
		} else {
			free(t->sending);
		}
		t->sending = NULL;
		t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : NOTIFY_RETRY_MIN_MS;
		if (t->backoff_ms > NOTIFY_RETRY_MAX_MS)
			t->backoff_ms = NOTIFY_RETRY_MAX_MS;
		t->retry = loop_timer_add(nt->loop, t->backoff_ms, notify_retry_due, t);
	}
}

static void
notify_io(struct loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	struct notify *nt = arg;
	int mask = 0, running;
	if (events & (LOOP_READ | LOOP_ERROR))
		mask |= CURL_CSELECT_IN;
	if (events & LOOP_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (events & LOOP_ERROR)
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(nt->multi, fd, mask, &running);
	notify_check_done(nt);
}

static int
notify_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	(void)easy;
	(void)socketp;
	struct notify *nt = userp;
	if (what == CURL_POLL_REMOVE) {
		loop_fd_remove(nt->loop, fd);
		return 0;
	}
	unsigned ev =
	    (what & CURL_POLL_IN ? LOOP_READ : 0) | (what & CURL_POLL_OUT ? LOOP_WRITE : 0);
	if (loop_fd_modify(nt->loop, fd, ev) == -1 &&
	    loop_fd_add(nt->loop, fd, ev, notify_io, nt) == -1) {
		log_warn("alertmanager: cannot watch socket");
		return -1;
	}
	return 0;
}

static void
notify_timeout(struct loop *l, void *arg)
{
	(void)l;
	struct notify *nt = arg;
	int running;
	nt->timer = NULL;
	curl_multi_socket_action(nt->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	notify_check_done(nt);
}

static int
notify_set_timer(CURLM *multi, long timeout_ms, void *userp)
{
	(void)multi;
	struct notify *nt = userp;
	if (nt->timer != NULL) {
		loop_timer_cancel(nt->loop, nt->timer);
		nt->timer = NULL;
	}
	if (timeout_ms >= 0)
		nt->timer = loop_timer_add(nt->loop, (uint64_t)timeout_ms, notify_timeout, nt);
	return 0;
}

/* Sends the pending body if nothing is in flight and no retry is waiting. */
static void
notify_start(struct notify_target *t)
{
	if (t->easy != NULL || t->retry != NULL || t->pending == NULL)
		return;
	t->sending = t->pending;
	t->sending_len = t->pending_len;
	t->pending = NULL;
	t->easy = curl_easy_init();
	if (t->easy == NULL)
		fatal("curl");
	curl_easy_setopt(t->easy, CURLOPT_URL, t->endpoint);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, (long)t->nt->timeout_ms);
	curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, t->sending);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->sending_len);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "kmswatch/" KMSWATCH_VERSION);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, notify_discard);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(t->nt->multi, t->easy) != CURLM_OK)
		fatal("curl");
}

struct notify *
notify_new(struct loop *l, char *const *urls, size_t n, uint64_t timeout_ms)
{
	struct notify *nt = calloc(1, sizeof(*nt));
	if (nt == NULL)
		fatal("notify");
	nt->loop = l;
	nt->timeout_ms = timeout_ms;
	nt->multi = curl_multi_init();
	if (nt->multi == NULL)
		fatal("curl");
	curl_multi_setopt(nt->multi, CURLMOPT_SOCKETFUNCTION, notify_socket);
	curl_multi_setopt(nt->multi, CURLMOPT_SOCKETDATA, nt);
	curl_multi_setopt(nt->multi, CURLMOPT_TIMERFUNCTION, notify_set_timer);
	curl_multi_setopt(nt->multi, CURLMOPT_TIMERDATA, nt);
	nt->t = calloc(n ? n : 1, sizeof(*nt->t));
	if (nt->t == NULL)
		fatal("notify");
	nt->n = n;
	for (size_t i = 0; i < n; i++) {
		struct notify_target *t = &nt->t[i];
		t->nt = nt;
		t->url = strdup(urls[i]);
		size_t len = strlen(urls[i]);
		while (len > 0 && urls[i][len - 1] == '/')
			len--;
		if (t->url == NULL ||
		    asprintf(&t->endpoint, "%.*s/api/v2/alerts", (int)len, urls[i]) == -1)
			fatal("notify");
		t->headers = curl_slist_append(NULL, "Content-Type: application/json");
		if (t->headers == NULL)
			fatal("curl");
	}
	return nt;
}

void
notify_free(struct notify *nt)
{
	if (nt == NULL)
		return;
	for (size_t i = 0; i < nt->n; i++) {
		struct notify_target *t = &nt->t[i];
		if (t->easy != NULL) {
			curl_multi_remove_handle(nt->multi, t->easy);
			curl_easy_cleanup(t->easy);
		}
		if (t->retry != NULL)
			loop_timer_cancel(nt->loop, t->retry);
		curl_slist_free_all(t->headers);
		free(t->url);
		free(t->endpoint);
		free(t->pending);
		free(t->sending);
	}
	curl_multi_cleanup(nt->multi);
	if (nt->timer != NULL)
		loop_timer_cancel(nt->loop, nt->timer);
	free(nt->t);
	free(nt);
}

void
notify_post(struct notify *nt, const char *body, size_t len)
{
	for (size_t i = 0; i < nt->n; i++) {
		struct notify_target *t = &nt->t[i];
		free(t->pending);
		t->pending = malloc(len + 1);
		if (t->pending == NULL)
			fatal("notify");
		memcpy(t->pending, body, len);
		t->pending[len] = '\0';
		t->pending_len = len;
		notify_start(t);
	}
}

size_t
notify_count(const struct notify *nt)
{
	return nt != NULL ? nt->n : 0;
}

void
notify_get_stats(const struct notify *nt, size_t i, struct notify_stats *out)
{
	const struct notify_target *t = &nt->t[i];
	*out = (struct notify_stats){
	    .url = t->url, .sent = t->sent, .failed = t->failed, .last_success = t->last_success};
}
