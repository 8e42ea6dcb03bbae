/*
 * Test fixture: TCP listeners on loopback that behave in the ways a KMS host's
 * port can. Usage: tcpfixture MODE ADDRESS PORT [MODE ADDRESS PORT ...]
 *   open    accepts connections and closes them at once
 *   full    listens with a full accept queue and never accepts, so new
 *           connection attempts time out
 *   closed  reserves nothing: a port known to refuse (for symmetry in scripts)
 * Prints "ready" once every listener is up and runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTENERS 64

static int
is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

static int
make_listener(const char *addr, unsigned port, int backlog, struct sockaddr_storage *ss,
              socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			return -1;
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*in6);
	}
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)ss, *len) == -1 || listen(fd, backlog) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct pollfd fds[MAX_LISTENERS];
	int n = 0;
	if (argc < 4 || (argc - 1) % 3 != 0) {
		fprintf(stderr, "usage: tcpfixture MODE ADDRESS PORT ...\n");
		return 2;
	}
	for (int i = 1; i + 2 < argc && n < MAX_LISTENERS; i += 3) {
		const char *mode = argv[i], *addr = argv[i + 1];
		char *end;
		unsigned long port = strtoul(argv[i + 2], &end, 10);
		if (*end != '\0' || port == 0 || port > 65535 || !is_loopback(addr)) {
			fprintf(stderr, "tcpfixture: bad listener %s %s %s (loopback only)\n", mode,
			        addr, argv[i + 2]);
			return 2;
		}
		if (strcmp(mode, "closed") == 0)
			continue;
		struct sockaddr_storage ss;
		socklen_t len;
		int full = strcmp(mode, "full") == 0;
		int fd = make_listener(addr, (unsigned)port, full ? 0 : 64, &ss, &len);
		if (fd == -1) {
			fprintf(stderr, "tcpfixture: %s %s:%lu: %s\n", mode, addr, port,
			        strerror(errno));
			return 1;
		}
		if (full) {
			/* Fill the accept queue (a backlog of 0 still admits one) with
			 * connections nobody accepts; later SYNs are dropped. */
			for (int k = 0; k < 4; k++) {
				int c = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
				if (c != -1)
					connect(c, (struct sockaddr *)&ss, len);
			}
			continue;
		}
		fds[n].fd = fd;
		fds[n].events = POLLIN;
		n++;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (poll(fds, (nfds_t)n, -1) == -1 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++)
			if (fds[i].revents & POLLIN) {
				int c = accept(fds[i].fd, NULL, NULL);
				if (c != -1)
					close(c);
			}
	}
}
