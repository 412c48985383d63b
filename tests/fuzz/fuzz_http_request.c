/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_request.c - raw bytes sent as a request to eau2-node's HTTP
 * service (tools/eau2-node/http), started once in this process on
 * loopback: twice, without a token and with one required (a secret file
 * made here), so routing, the methods and the bearer and basic checks all
 * see the input. HTTP itself is libmicrohttpd's; what is ours is what it
 * hands to our handler. Each answer must be empty (the connection closed)
 * or begin with a status line, a 200 only for a request that could be
 * ours, and the service must still answer a good request afterwards.
 * An input that is no complete request may get no answer at all, so the
 * answer is awaited WAIT_MS at most and the connection closed from here
 * (the service frees it on seeing the end of the stream: it_http_node
 * checks that no such connection is left in CLOSE-WAIT).
 * libFuzzer's -timeout is a SIGALRM every few seconds; a socket call it
 * interrupts fails with EINTR (one with a timeout set is never
 * restarted), and is carried on here: an answer cut short that way once
 * failed this harness, not the service.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "eau2-node/http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WAIT_MS 200

static struct eau2_http *open_h, *auth_h;
static char tmpl[] = "/tmp/eau2-fuzz-http-XXXXXX";

static uint16_t port_of(const struct eau2_http *h)
{
	const char *p = strrchr(eau2_http_addr(h), ':');

	return (uint16_t)atoi(p + 1);
}

/* Why the last exchange's reading ended: 0 (the service closed) or an
 * errno (EAGAIN: wait_ms passed without a byte). */
static int read_end;

/* connect; one interrupted goes on in the background, and is awaited. */
static int connect_to(int fd, const struct sockaddr_in *sa)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int e = 0, n;
	socklen_t len = sizeof(e);

	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return 0;
	if (errno != EINTR)
		return -1;
	while ((n = poll(&p, 1, 10000)) < 0 && errno == EINTR)
		;
	if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) || e) {
		errno = n == 0 ? ETIMEDOUT : e ? e : errno;
		return -1;
	}
	return 0;
}

/* Sends data, closes our side for writing, reads the answer (at most
 * cap - 1 bytes kept) until the service closes or wait_ms pass without
 * a byte. Returns the bytes kept. */
static size_t exchange(uint16_t port, const uint8_t *data, size_t size, char *out, size_t cap,
		       int wait_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { wait_ms / 1000, (wait_ms % 1000) * 1000 };
	size_t got = 0;
	ssize_t n;
	char junk[4096];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect_to(fd, &sa) < 0) {
		perror("fuzz_http_request: connect");
		abort();
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (size) { /* until sent, or the service stops taking it */
		n = send(fd, data, size, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		data += n;
		size -= (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		n = recv(fd, got < cap - 1 ? out + got : junk,
			 got < cap - 1 ? cap - 1 - got : sizeof(junk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			read_end = n < 0 ? errno : 0;
			break;
		}
		if (got < cap - 1)
			got += (size_t)n;
	}
	close(fd);
	out[got] = '\0';
	return got;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	eau2_http_stop(open_h);
	eau2_http_stop(auth_h);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	struct eau2_error err = {0};
	struct eau2_http_opts o = { .addr = "127.0.0.1:0", .log_fd = -1 };
	char secret[64];
	int fd;

	if (!mkdtemp(tmpl))
		abort();
	atexit(teardown);
	o.store = tmpl;
	if (eau2_http_start(&open_h, &o, &err))
		goto fail;
	snprintf(secret, sizeof(secret), "%s.secret", tmpl);
	fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, "fuzz", 4) != 4)
		abort();
	close(fd);
	o.secret_file = secret;
	o.addr = "127.0.0.1:0"; /* loopback with a secret: the token is still required */
	if (eau2_http_start(&auth_h, &o, &err))
		goto fail;
	unlink(secret);
	return;
fail:
	fprintf(stderr, "fuzz_http_request: %s\n", err.msg);
	abort();
}

static void check(const struct eau2_http *h, const uint8_t *data, size_t size)
{
	static const char good[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	char out[256];
	size_t n = exchange(port_of(h), data, size, out, sizeof(out), WAIT_MS);

	if (n && strncmp(out, "HTTP/1.", 7))
		abort();
	/* Without the token nothing but a refusal comes back. */
	if (h == auth_h && n && !strncmp(out + 8, " 200", 4) &&
	    !memmem(data, size, "Authorization", 13) && !memmem(data, size, "authorization", 13))
		abort();
	n = exchange(port_of(open_h), (const uint8_t *)good, sizeof(good) - 1, out, sizeof(out),
		     10000);
	if (n < 12 || strncmp(out, "HTTP/1.1 200", 12)) {
		fprintf(stderr, "fuzz_http_request: a good request after this input got %zu bytes "
			"(reading ended: %s): %.*s\n", n,
			read_end ? strerror(read_end) : "closed by the service",
			(int)strcspn(out, "\r\n"), out);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!open_h)
		setup();
	if (size > 64 << 10)
		return 0;
	check(open_h, data, size);
	check(auth_h, data, size);
	return 0;
}
