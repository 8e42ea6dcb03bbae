/*
 * Leveled logging; see log.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmswatch/log.h"

static _Atomic int log_min_level = LOG_LEVEL_INFO;
static _Atomic int log_fmt = LOG_FORMAT_LOGFMT;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_init(enum log_level level, enum log_format format)
{
	log_min_level = level;
	log_fmt = format;
}

int
log_parse_level(const char *s, enum log_level *out)
{
	for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int
log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "logfmt") == 0)
		*out = LOG_FORMAT_LOGFMT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -1;
	return 0;
}

int
log_enabled(enum log_level level)
{
	return (int)level >= log_min_level;
}

/* Appends s quoted for logfmt or JSON; both escape quotes, backslashes and
 * control characters the same way for the characters a message can hold. */
static size_t
log_quote(char *out, size_t cap, size_t len, const char *s)
{
	if (len < cap)
		out[len++] = '"';
	for (; *s != '\0' && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[len++] = '\\';
			out[len++] = (char)c;
		} else if (c == '\n') {
			out[len++] = '\\';
			out[len++] = 'n';
		} else if (c < 0x20) {
			len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
		} else {
			out[len++] = (char)c;
		}
	}
	if (len < cap)
		out[len++] = '"';
	return len;
}

static void
log_emit(enum log_level level, const char *fmt, va_list ap, int err)
{
	if (!log_enabled(level))
		return;
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err != 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[96];
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (int)(ts.tv_nsec / 1000000));

	char line[4608];
	size_t len;
	if (log_fmt == LOG_FORMAT_JSON) {
		len = (size_t)snprintf(line, sizeof(line),
		                       "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when,
		                       level_names[level]);
		len = log_quote(line, sizeof(line) - 3, len, msg);
		line[len++] = '}';
	} else {
		len = (size_t)snprintf(line, sizeof(line), "ts=%s level=%s msg=", when,
		                       level_names[level]);
		len = log_quote(line, sizeof(line) - 2, len, msg);
	}
	line[len++] = '\n';
	/* One write per record keeps lines from different threads whole. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

#define LOG_FN(name, level, with_errno)                                                            \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(level, fmt, ap, with_errno ? saved : 0);                                  \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, saved);
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, fmt, ap, 0);
	va_end(ap);
	exit(70);
}
