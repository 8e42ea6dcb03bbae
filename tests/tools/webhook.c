/*
 * Test fixture: an HTTP endpoint on loopback that Alertmanager's webhook
 * receivers post to. Every POST body is appended to FILE as one line (tagged
 * with the request path), so a test can wait for a page or a resolution.
 * Usage: webhook ADDRESS PORT FILE. Prints "ready" once listening.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_REQUEST (1024 * 1024)

static void
serve(int c, FILE *out)
{
	static char req[MAX_REQUEST + 1];
	size_t len = 0;
	char *body = NULL;
	size_t want = 0;
	struct timeval tv = {.tv_sec = 5};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (;;) {
		if (len == MAX_REQUEST)
			return;
		ssize_t n = read(c, req + len, MAX_REQUEST - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		req[len] = '\0';
		if (body == NULL) {
			char *end = strstr(req, "\r\n\r\n");
			if (end == NULL)
				continue;
			body = end + 4;
			const char *cl = strcasestr(req, "\r\nContent-Length:");
			if (cl == NULL || cl > end)
				return;
			char *e;
			unsigned long v = strtoul(cl + 17, &e, 10);
			if (v > MAX_REQUEST)
				return;
			want = (size_t)v;
		}
		if ((size_t)(req + len - body) >= want)
			break;
	}
	char path[256] = "?";
	sscanf(req, "%*s %255s", path);
	fprintf(out, "%s ", path);
	for (size_t i = 0; i < want; i++)
		fputc(body[i] == '\n' ? ' ' : body[i], out);
	fputc('\n', out);
	fflush(out);
	static const char ok[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	ssize_t w = write(c, ok, sizeof(ok) - 1);
	(void)w;
}

int
main(int argc, char **argv)
{
	if (argc != 4 || strncmp(argv[1], "127.", 4) != 0) {
		fprintf(stderr, "usage: webhook 127.x.y.z PORT FILE (loopback only)\n");
		return 2;
	}
	FILE *out = fopen(argv[3], "a");
	if (out == NULL) {
		perror(argv[3]);
		return 1;
	}
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_port = htons((uint16_t)strtoul(argv[2], NULL, 10));
	if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1)
		return 2;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s == -1 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(s, 16) == -1) {
		perror("webhook");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		serve(c, out);
		close(c);
	}
}
