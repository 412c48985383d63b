/* SPDX-License-Identifier: MIT */
/*
 * test_net_server.c - connections and the server over loopback, on
 * ephemeral ports: requests and replies (pipelined too), PING, IPv6 and
 * names; each handshake mismatch with both sides' messages; a peer that
 * connects and stalls or sends garbage (dropped while another is served);
 * a thousand idle connections (refused past the maximum, fds bounded);
 * the idle timeout; a peer killed mid-transfer either way; client
 * timeouts against a listener that never accepts and a stopped server;
 * stopping a server whose handler is blocked.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <arpa/inet.h>

#include "nettest.h"

#define T_ECHO 0x100   /* reply: the payload back, type T_REPLY */
#define T_REPLY 0x101
#define T_CHUNK 0x102  /* reply: a chunk of aux[0] bytes of string, then T_REPLY */
#define T_SINK 0x103   /* receives a chunk, replies T_REPLY */
#define T_WAIT 0x104   /* waits for a frame that never comes */

struct hctx {
	pthread_mutex_t mu;
	char err[512];   /* the last handler error */
	int errors;
	atomic_int waiting; /* a T_WAIT handler is running */
	uint8_t *big;    /* the chunk T_CHUNK sends */
};

static int handler(void *ctx, eau2_net_conn *c, const struct eau2_net_frame *f,
		   const void *payload)
{
	struct hctx *h = ctx;
	struct eau2_error err = {0};
	struct eau2_net_frame r = { .type = T_REPLY, .req = f->req, .len = f->len };
	void *buf = NULL;
	int rc = 0;

	switch (f->type) {
	case T_ECHO:
		rc = eau2_net_send(c, &r, payload, &err);
		break;
	case T_CHUNK:
		r.len = 0;
		rc = eau2_net_send_chunk(c, h->big, f->req, 0, &err);
		if (rc == 0)
			rc = eau2_net_send(c, &r, NULL, &err);
		break;
	case T_SINK:
		atomic_store(&h->waiting, 2);
		r.len = 0;
		rc = eau2_net_recv_chunk(c, NULL, 0, nt_dst_malloc, &buf, NULL, &err);
		if (rc == 0)
			rc = eau2_net_send(c, &r, NULL, &err);
		break;
	case T_WAIT:
		atomic_store(&h->waiting, 1);
		rc = eau2_net_recv(c, &r, NULL, 0, &err);
		break;
	default:
		rc = eau2_net_send_error(c, f->req, -ENOTSUP, "no such request", &err);
		break;
	}
	free(buf);
	if (rc) {
		pthread_mutex_lock(&h->mu);
		snprintf(h->err, sizeof(h->err), "%s", err.msg);
		h->errors++;
		pthread_mutex_unlock(&h->mu);
	}
	return rc;
}

struct fixture {
	struct hctx h;
	struct nt_log log;
	struct eau2_net_server_opts so;
	eau2_net_server *s;
	char addr[64];
};

static struct fixture *start(struct eau2_net_server_opts *so)
{
	struct fixture *x = calloc(1, sizeof(*x));

	pthread_mutex_init(&x->h.mu, NULL);
	x->so = *so;
	x->so.on_request = handler;
	x->so.ctx = &x->h;
	x->s = nt_server(&x->so, &x->log, x->addr, sizeof(x->addr));
	return x;
}

static void stop(struct fixture *x)
{
	eau2_net_server_stop(x->s);
	nt_log_free(&x->log);
	free(x->h.big);
	free(x);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A request and its echoed reply. */
static void echo(eau2_net_conn *c, uint64_t req, const char *text)
{
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_ECHO, .req = req, .len = (uint32_t)strlen(text) };
	char buf[256];

	tu_ok(eau2_net_send(c, &f, text, &err), &err);
	tu_ok(eau2_net_recv(c, &f, buf, sizeof(buf), &err), &err);
	assert_int_equal(f.type, T_REPLY);
	assert_int_equal(f.req, req);
	assert_int_equal(f.len, strlen(text));
	assert_memory_equal(buf, text, f.len);
}

static void test_requests(void **state)
{
	struct eau2_net_server_opts so = {0};
	struct fixture *x = start(&so);
	struct eau2_net_opts o = nt_opts("cli", NULL);
	struct eau2_error err = {0};
	struct eau2_net_frame f;
	eau2_net_conn *c;
	uint64_t rtt;
	char buf[64];

	(void)state;
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	assert_non_null(nt_log_wait(&x->log, "(node cli): connected (client)", NULL, 2000));
	echo(c, 1, "hello");
	echo(c, 2, "");
	tu_ok(eau2_net_ping(c, &rtt, &err), &err);
	/* Pipelined: two requests before reading either reply. */
	f = (struct eau2_net_frame){ .type = T_ECHO, .req = 3, .len = 1 };
	tu_ok(eau2_net_send(c, &f, "a", &err), &err);
	f.req = 4;
	tu_ok(eau2_net_send(c, &f, "b", &err), &err);
	tu_ok(eau2_net_recv(c, &f, buf, sizeof(buf), &err), &err);
	assert_int_equal(f.req, 3);
	tu_ok(eau2_net_recv(c, &f, buf, sizeof(buf), &err), &err);
	assert_int_equal(f.req, 4);
	assert_int_equal(buf[0], 'b');
	/* An error reply keeps the connection. */
	f = (struct eau2_net_frame){ .type = 0x1ff, .req = 5 };
	tu_ok(eau2_net_send(c, &f, NULL, &err), &err);
	assert_int_equal(eau2_net_recv(c, &f, buf, sizeof(buf), &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "(node server): no such request"));
	echo(c, 6, "still here");
	/* A reply larger than the caller's buffer. */
	f = (struct eau2_net_frame){ .type = T_ECHO, .req = 7, .len = 10 };
	tu_ok(eau2_net_send(c, &f, "0123456789", &err), &err);
	assert_int_equal(eau2_net_recv(c, &f, buf, 5, &err), -EMSGSIZE);
	assert_non_null(strstr(err.msg, "of 10 bytes, over the 5 expected"));
	assert_int_equal(eau2_net_recv(c, &f, buf, 5, &err), -EPIPE);
	/* Transport types are not the caller's to send. */
	f = (struct eau2_net_frame){ .type = EAU2_NET_HELLO };
	eau2_net_close(c);

	/* IPv6 and names. */
	stop(x);
	so.listen = "[::1]:0";
	x = start(&so);
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	assert_int_equal(eau2_net_send(c, &f, NULL, &err), -EINVAL);
	echo(c, 1, "over IPv6");
	assert_non_null(strstr(eau2_net_peer(c), "[::1]:"));
	eau2_net_close(c);
	snprintf(buf, sizeof(buf), "localhost:%u", eau2_net_server_port(x->s));
	if (eau2_net_connect(&c, buf, &o, &err) == 0) { /* localhost may be 127.0.0.1 only */
		echo(c, 1, "by name");
		eau2_net_close(c);
	}
	stop(x);
}

/* Each mismatch, with the client's message naming the server and the
 * server's log naming the client. */
static void test_handshake_mismatch(void **state)
{
	struct eau2_net_server_opts so = { .conn = nt_opts("srv", "sesame") };
	struct fixture *x;
	struct eau2_net_opts o;
	struct eau2_error err = {0};
	eau2_net_conn *c;
	char want[128];

	(void)state;
	so.conn.ident.role = EAU2_NET_ROLE_NODE;
	x = start(&so);
	o = nt_opts("good", "sesame");
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	echo(c, 1, "authenticated");
	eau2_net_close(c);

	o = nt_opts("wrong", "open");
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EACCES);
	assert_null(c);
	snprintf(want, sizeof(want), "peer %s (node srv): secret mismatch", x->addr);
	assert_string_equal(err.msg, want);
	assert_non_null(nt_log_wait(&x->log, "(node wrong): refused: secret mismatch", NULL, 2000));

	o = nt_opts("other", "sesame");
	o.ident.cluster = "prod";
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EACCES);
	snprintf(want, sizeof(want), "peer %s (node srv): cluster 'test' != ours 'prod'", x->addr);
	assert_string_equal(err.msg, want);
	assert_non_null(nt_log_wait(&x->log, "(node other): refused: cluster 'prod' != ours 'test'",
				    NULL, 2000));

	o = nt_opts("old", "sesame"); /* version 1: raw blocks with a payload sum */
	o.ident.proto_version = 1;
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "protocol version 2 != ours 1"));
	assert_non_null(nt_log_wait(&x->log, "refused: protocol version 1 != ours 2", NULL, 2000));

	o = nt_opts("nosecret", NULL);
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EACCES);
	assert_non_null(strstr(err.msg, "(node srv): the peer has a cluster secret, none is configured here"));
	assert_non_null(nt_log_wait(&x->log, "(node nosecret): refused: a cluster secret is configured here, the peer has none",
				    NULL, 2000));
	stop(x);

	/* A server without a secret refuses a client with one. */
	so.conn = nt_opts("open-srv", NULL);
	x = start(&so);
	o = nt_opts("withsecret", "sesame");
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EACCES);
	assert_non_null(strstr(err.msg, "a cluster secret is configured here, the peer has none"));
	stop(x);
}

/* Raw TCP socket to the server (no handshake). */
static int raw_connect(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const char *colon = strrchr(addr, ':');

	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Reads until EOF (at most 2 s); returns the bytes read. */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap)
{
	struct timeval tv = { 2, 0 };
	size_t got = 0;
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (got < cap && (n = recv(fd, buf + got, cap - got, 0)) > 0)
		got += (size_t)n;
	return (ssize_t)got;
}

static void test_stall_and_garbage(void **state)
{
	struct eau2_net_server_opts so = { .conn = { .handshake_timeout_ms = 1000 } };
	struct fixture *x = start(&so);
	struct eau2_net_opts o = nt_opts("cli", NULL);
	struct eau2_error err = {0};
	struct eau2_net_frame f;
	uint8_t buf[4096];
	eau2_net_conn *c;
	double t0 = now_s();
	int stalled = raw_connect(x->addr), garbage = raw_connect(x->addr);
	ssize_t n;

	(void)state;
	memset(buf, 'G', 200);
	assert_int_equal(send(garbage, buf, 200, 0), 200);
	/* Served normally meanwhile. */
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	echo(c, 1, "served while others stall");
	/* The garbage sender is told why; its HELLO came first. */
	n = read_all(garbage, buf, sizeof(buf));
	assert_true(n > (ssize_t)EAU2_NET_HDR_SIZE);
	tu_ok(eau2_net_frame_decode(buf, (size_t)n, &f, &err), &err);
	assert_int_equal(f.type, EAU2_NET_HELLO);
	tu_ok(eau2_net_frame_decode(buf + EAU2_NET_HDR_SIZE + f.len,
				    (size_t)n - EAU2_NET_HDR_SIZE - f.len, &f, &err), &err);
	assert_int_equal(f.type, EAU2_NET_ERROR);
	assert_non_null(nt_log_wait(&x->log, "dropped: bad magic 0x47474747", NULL, 2000));
	/* The stalled one is dropped after the handshake timeout. */
	n = read_all(stalled, buf, sizeof(buf)); /* its HELLO, then EOF */
	assert_true(now_s() - t0 < 6.0);
	assert_non_null(nt_log_wait(&x->log, "dropped: no handshake within 1000 ms", NULL, 2000));
	echo(c, 2, "still served");
	close(stalled);
	close(garbage);
	eau2_net_close(c);
	{
		struct eau2_net_server_stats st;

		eau2_net_server_stats(x->s, &st);
		assert_int_equal(st.handshake_failed, 2);
	}
	stop(x);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* A thousand idle, authenticated connections: the one past the maximum
 * is refused "busy", the server keeps serving, its fds come back. Each
 * client connection here holds a socket and its own ring (2 fds), the
 * server one fd. */
static void test_thousand_idle(void **state)
{
	struct rlimit rl;
	unsigned n = 1000;
	struct eau2_net_server_opts so = { .max_conns = 1000, .workers = 2 };
	struct fixture *x;
	struct eau2_net_opts o = nt_opts("idle", NULL);
	struct eau2_error err = {0};
	struct eau2_net_server_stats st;
	eau2_net_conn **cs, *c;
	int fds0;
	long rss0, rss1;

	(void)state;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 3 * n + 200 && rl.rlim_max >= 3 * n + 200) {
		rl.rlim_cur = 3 * n + 200;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 3 * n + 200) {
		n = (unsigned)(rl.rlim_cur - 200) / 3;
		so.max_conns = n;
		fprintf(stderr, "  (fd limit %lu: %u connections)\n", (unsigned long)rl.rlim_cur, n);
	}
	x = start(&so);
	fds0 = count_fds();
	rss0 = rss_kib();
	cs = calloc(n, sizeof(*cs));
	for (unsigned i = 0; i < n; i++)
		tu_ok(eau2_net_connect(&cs[i], x->addr, &o, &err), &err);
	for (int t = 0; t < 200; t++) {
		eau2_net_server_stats(x->s, &st);
		if (st.idle == n)
			break;
		usleep(10000);
	}
	assert_int_equal(st.conns, n);
	assert_int_equal(st.idle, n);
	rss1 = rss_kib();
	fprintf(stderr, "  %u idle connections: %d fds, RSS +%ld KiB (clients and server)\n", n,
		count_fds() - fds0, rss1 - rss0);
	assert_true(count_fds() - fds0 <= (int)(3 * n + 10));
	assert_true(rss1 - rss0 < 64 * 1024);
	/* Past the maximum. */
	assert_int_equal(eau2_net_connect(&c, x->addr, &o, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "refused by the peer: busy ("));
	assert_non_null(nt_log_wait(&x->log, "refused: busy", NULL, 2000));
	/* Existing ones are served; a freed slot takes a new one. */
	echo(cs[n / 2], 1, "one of many");
	eau2_net_close(cs[0]);
	cs[0] = NULL;
	for (int t = 0; t < 200; t++) {
		eau2_net_server_stats(x->s, &st);
		if (st.conns < n)
			break;
		usleep(10000);
	}
	tu_ok(eau2_net_connect(&cs[0], x->addr, &o, &err), &err);
	echo(cs[0], 2, "took the free slot");
	for (unsigned i = 0; i < n; i++)
		eau2_net_close(cs[i]);
	free(cs);
	for (int t = 0; t < 300; t++) {
		eau2_net_server_stats(x->s, &st);
		if (st.conns == 0)
			break;
		usleep(10000);
	}
	assert_int_equal(st.conns, 0);
	assert_true(count_fds() <= fds0 + 2);
	stop(x);
}

static void test_idle_timeout(void **state)
{
	struct eau2_net_server_opts so = { .idle_timeout_ms = 200 };
	struct fixture *x = start(&so);
	struct eau2_net_opts o = nt_opts("sleepy", NULL);
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_ECHO, .len = 1 };
	eau2_net_conn *c;

	(void)state;
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	echo(c, 1, "x");
	assert_non_null(nt_log_wait(&x->log, "(node sleepy): disconnected: idle for 200 ms", NULL,
				    2000));
	eau2_net_send(c, &f, "y", &err); /* may still go out */
	assert_int_not_equal(eau2_net_recv(c, &f, NULL, 0, &err), 0);
	eau2_net_close(c);
	stop(x);
}

/* ----------------------------------------------------- killed mid-way */

/* The client in a child, killed mid-send: the handler gets a clear error
 * at once and the server serves the next client. */
static void test_client_killed(void **state)
{
	struct eau2_net_server_opts so = {0};
	struct fixture *x = start(&so);
	struct eau2_error err = {0};
	int p[2];
	pid_t pid;
	char ok;
	double t0;
	eau2_net_conn *c;
	struct eau2_net_opts o = nt_opts("survivor", NULL);

	(void)state;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		/* Sends the request, the chunk's header and part of a block. */
		struct eau2_net_opts co = nt_opts("doomed", NULL);
		struct eau2_net_frame f = { .type = T_SINK };
		uint64_t len;
		uint8_t *chunk = nt_chunk(EAU2_STRING, 10, 0, 3u << 20, 1, &len);
		struct eau2_net_tx tx;
		struct eau2_net_stats st = {0};
		uint8_t hdr[2][EAU2_NET_HDR_SIZE];
		struct iovec iov[2];
		int niov, fd;

		if (eau2_net_connect(&c, x->addr, &co, &err) || eau2_net_send(c, &f, NULL, &err))
			_exit(1);
		fd = eau2_net_fd(c);
		eau2_net_tx_init(&tx, EAU2_NET_FORCE_NONE, &st);
		eau2_net_tx_begin(&tx, chunk, 0, 0, NULL, NULL, &err);
		eau2_net_tx_next(&tx, NULL, hdr[0], iov, &niov);
		if (write(fd, hdr[0], EAU2_NET_HDR_SIZE) < 0 || write(fd, iov[0].iov_base, 128) < 0)
			_exit(1);
		eau2_net_tx_next(&tx, NULL, hdr[1], iov, &niov);
		if (write(fd, hdr[1], EAU2_NET_HDR_SIZE) < 0 ||
		    write(fd, iov[0].iov_base, iov[0].iov_len / 2) < 0)
			_exit(1);
		if (write(p[1], "k", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	/* Killed once its request is in a handler (killed before, it is
	 * dropped without one: test_stall_and_garbage covers that side). */
	for (int t = 0; t < 300 && atomic_load(&x->h.waiting) != 2; t++)
		usleep(10000);
	assert_int_equal(atomic_load(&x->h.waiting), 2);
	t0 = now_s();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_non_null(nt_log_wait(&x->log, "(node doomed): disconnected after a request", NULL,
				    3000));
	assert_true(now_s() - t0 < 3.0);
	pthread_mutex_lock(&x->h.mu);
	if (!strstr(x->h.err, "(node doomed): connection closed by the peer after") &&
	    !strstr(x->h.err, "Connection reset by peer"))
		fail_msg("handler error: %s", x->h.err);
	assert_non_null(strstr(x->h.err, "a chunk block"));
	pthread_mutex_unlock(&x->h.mu);
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	echo(c, 1, "next");
	eau2_net_close(c);
	stop(x);
}

/* A server in a child, killed while it sends a chunk: the client's
 * receive fails at once with a message naming the peer. Also a server
 * stopped (SIGSTOP): the client times out. */
static pid_t child_server(uint16_t *port, uint64_t big)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct eau2_net_server_opts so = { .listen = "127.0.0.1:0", .on_request = handler,
						   .conn = nt_opts("child", NULL) };
		struct hctx h = { .mu = PTHREAD_MUTEX_INITIALIZER };
		eau2_net_server *s;
		uint64_t len;
		uint16_t pt;

		/* A failed assertion in the parent must not leave this child
		 * stopped, holding ctest's pipe. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		h.big = nt_chunk(EAU2_STRING, 100, 0, big, 2, &len);
		so.ctx = &h;
		if (eau2_net_server_start(&s, &so, NULL))
			_exit(1);
		pt = eau2_net_server_port(s);
		if (write(p[1], &pt, 2) != 2)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], port, 2), 2);
	close(p[0]);
	return pid;
}

static void test_server_killed_or_stopped(void **state)
{
	uint16_t port;
	pid_t pid = child_server(&port, 512u << 20);
	char addr[64];
	struct eau2_net_opts o = nt_opts("cli", NULL);
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_CHUNK, .req = 1 };
	eau2_net_conn *c;
	uint8_t hdr[EAU2_NET_HDR_SIZE + 128];
	double t0;
	int rc;


	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	tu_ok(eau2_net_connect(&c, addr, &o, &err), &err);
	tu_ok(eau2_net_send(c, &f, NULL, &err), &err);
	{
		void *buf = NULL;

		/* Killed once its CHUNK_BEGIN is here, mid-way through 512 MiB. */
		tu_ok(eau2_net_recv_hdr(c, &f, &err), &err);
		assert_int_equal(f.type, EAU2_NET_CHUNK_BEGIN);
		kill(pid, SIGKILL);
		t0 = now_s();
		rc = eau2_net_recv_chunk(c, &f, 0, nt_dst_malloc, &buf, NULL, &err);
		assert_int_not_equal(rc, 0);
		assert_true(now_s() - t0 < 3.0);
		if (!strstr(err.msg, "(node child): connection closed by the peer after") &&
		    !strstr(err.msg, "Connection reset by peer"))
			fail_msg("client error: %s", err.msg);
		if (!strstr(err.msg, "a chunk block") && !strstr(err.msg, "a frame header"))
			fail_msg("client error: %s", err.msg);
		free(buf);
	}
	waitpid(pid, NULL, 0);
	eau2_net_close(c);

	/* A stopped server: the client's wait ends at its timeout. */
	pid = child_server(&port, 1024);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	o.io_timeout_ms = 300;
	tu_ok(eau2_net_connect(&c, addr, &o, &err), &err);
	kill(pid, SIGSTOP);
	/* kill() returns before every thread of the child has stopped: wait
	 * for the stop, or its ring thread may still answer the echo. */
	{
		int st;

		assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
		assert_true(WIFSTOPPED(st));
	}
	f = (struct eau2_net_frame){ .type = T_ECHO, .req = 3, .len = 2 };
	tu_ok(eau2_net_send(c, &f, "hi", &err), &err);
	t0 = now_s();
	assert_int_equal(eau2_net_recv(c, &f, hdr, sizeof(hdr), &err), -ETIMEDOUT);
	assert_true(now_s() - t0 < 3.0);
	assert_non_null(strstr(err.msg, "(node child): timed out after 300 ms receiving a frame header"));
	eau2_net_close(c);
	/* And a connect to it: the kernel completes the TCP handshake, ours
	 * times out. */
	o.handshake_timeout_ms = 300;
	t0 = now_s();
	assert_int_equal(eau2_net_connect(&c, addr, &o, &err), -ETIMEDOUT);
	assert_true(now_s() - t0 < 3.0);
	assert_non_null(strstr(err.msg, "timed out after 300 ms receiving the handshake"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* A listener that never accepts, with its backlog full: connect itself
 * times out (the SYN is dropped). */
static void test_connect_timeout(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), filler[8];
	struct eau2_net_opts o = nt_opts("cli", NULL);
	struct eau2_error err = {0};
	eau2_net_conn *c;
	char addr[64];
	double t0;
	int rc;

	(void)state;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	for (int i = 0; i < 8; i++) { /* fill the accept queue */
		filler[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(filler[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(50000);
	o.connect_timeout_ms = 300;
	o.handshake_timeout_ms = 300;
	t0 = now_s();
	rc = eau2_net_connect(&c, addr, &o, &err);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(now_s() - t0 < 3.0);
	/* Either step may be the one that waits, depending on the kernel. */
	if (!strstr(err.msg, "connect timed out after 300 ms") &&
	    !strstr(err.msg, "timed out after 300 ms receiving the handshake"))
		fail_msg("%s", err.msg);
	for (int i = 0; i < 8; i++)
		close(filler[i]);
	close(lfd);
}

/* Stopping a server while a handler waits for a frame that never comes:
 * the stop returns at once and the handler sees its receive fail. */
static void test_stop_with_busy_handler(void **state)
{
	struct eau2_net_server_opts so = {0};
	struct fixture *x = start(&so);
	struct eau2_net_opts o = nt_opts("cli", NULL);
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_WAIT };
	struct eau2_net_server_stats st;
	eau2_net_conn *c;
	double t0;

	(void)state;
	tu_ok(eau2_net_connect(&c, x->addr, &o, &err), &err);
	tu_ok(eau2_net_send(c, &f, NULL, &err), &err);
	for (int t = 0; t < 500 && !atomic_load(&x->h.waiting); t++)
		usleep(10000);
	eau2_net_server_stats(x->s, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(atomic_load(&x->h.waiting), 1);
	t0 = now_s();
	eau2_net_server_stop(x->s);
	assert_true(now_s() - t0 < 3.0);
	assert_int_equal(x->h.errors, 1);
	assert_non_null(strstr(x->h.err, "(node cli): "));
	assert_int_not_equal(eau2_net_recv(c, &f, NULL, 0, &err), 0);
	eau2_net_close(c);
	nt_log_free(&x->log);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* The forking tests first, while no other thread runs. */
		cmocka_unit_test(test_server_killed_or_stopped),
		cmocka_unit_test(test_client_killed),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_handshake_mismatch),
		cmocka_unit_test(test_stall_and_garbage),
		cmocka_unit_test(test_thousand_idle),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_stop_with_busy_handler),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
