/* SPDX-License-Identifier: MIT */
/*
 * probe.c - the cluster view's default probe (cview.h): GET /api/node of
 * every member's --http service at once, non-blocking sockets under one
 * poll loop, so a round takes at most its timeout however many members
 * hang. An answer is outside input: at most EAU2_CVIEW_PROBE_BODY_MAX
 * bytes are read, and eau2_cview_parse_node checks what it takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "eau2-node/http/cview.h"
#include "uring_net/net.h"
#include "util/clock.h"

struct conn {
	int fd;
	bool sent, done;
	char *buf;
	size_t len;
};

/* A non-blocking connect to HOST:PORT (numeric hosts, and names the
 * resolver knows). -1 on failure. */
static int start_connect(const char *addr)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[EAU2_MEMBER_ADDR_MAX + 1], port[8];
	uint16_t p;
	int fd;

	if (eau2_net_split_hostport(addr, host, sizeof(host), &p, NULL) || !p)
		return -1;
	snprintf(port, sizeof(port), "%u", p);
	if (getaddrinfo(host, port, &hints, &res) || !res)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) && errno != EINPROGRESS) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void step(struct conn *c, short rev, const char *req, size_t reqlen)
{
	ssize_t r;

	if (!c->sent) {
		int e = 0;
		socklen_t sl = sizeof(e);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &sl) || e ||
		    send(c->fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen) {
			c->done = true; /* refused, or a request that does not fit at once */
			c->len = 0;
			return;
		}
		c->sent = true;
		return;
	}
	(void)rev;
	r = recv(c->fd, c->buf + c->len, EAU2_CVIEW_PROBE_BODY_MAX - c->len, 0);
	if (r > 0) {
		c->len += (size_t)r;
		if (c->len == EAU2_CVIEW_PROBE_BODY_MAX) { /* too long: not an answer */
			c->len = 0;
			c->done = true;
		}
	} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
		c->done = true;
		if (r < 0)
			c->len = 0;
	}
}

void eau2_cview_http_probe(void *ctx, struct eau2_cview_node *nodes, bool *ok, size_t n,
			   int timeout_ms)
{
	const char *token = ctx;
	struct conn *c = calloc(n ? n : 1, sizeof(*c));
	struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
	int64_t deadline = eau2_mono_ms() + timeout_ms;
	char req[EAU2_MEMBER_ADDR_MAX + 256];
	size_t i, k;

	for (i = 0; i < n; i++)
		ok[i] = false;
	if (!c || !p)
		goto out;
	for (i = 0; i < n; i++) {
		c[i].fd = nodes[i].http[0] ? start_connect(nodes[i].http) : -1;
		c[i].done = c[i].fd < 0;
		if (!c[i].done && !(c[i].buf = malloc(EAU2_CVIEW_PROBE_BODY_MAX + 1)))
			c[i].done = true;
	}
	for (;;) {
		int64_t left = deadline - eau2_mono_ms();

		for (i = k = 0; i < n; i++)
			if (!c[i].done) {
				p[k].fd = c[i].fd;
				p[k].events = c[i].sent ? POLLIN : POLLOUT;
				p[k++].revents = 0;
			}
		if (!k || left <= 0 || poll(p, k, (int)left) < 0)
			break;
		for (i = k = 0; i < n; i++) {
			if (c[i].done)
				continue;
			if (p[k].revents) {
				int len = snprintf(req, sizeof(req),
						   "GET /api/node HTTP/1.0\r\nHost: %s\r\n%s%s%s"
						   "Connection: close\r\n\r\n", nodes[i].http,
						   token ? "Authorization: Bearer " : "",
						   token ? token : "", token ? "\r\n" : "");

				step(&c[i], p[k].revents, req, (size_t)len);
			}
			k++;
		}
	}
	for (i = 0; i < n; i++) {
		struct eau2_error err = {0};

		/* Only a complete answer (the peer closed) counts. */
		if (c[i].done && c[i].len)
			ok[i] = !eau2_cview_parse_node(c[i].buf, c[i].len, &nodes[i], &err);
	}
out:
	for (i = 0; c && i < n; i++) {
		if (c[i].fd >= 0)
			close(c[i].fd);
		free(c[i].buf);
	}
	free(c);
	free(p);
}

static bool num(json_t *o, const char *k, double lo, double hi, double *out)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return *out >= lo && *out <= hi;
}

int eau2_cview_parse_node(const char *buf, size_t len, struct eau2_cview_node *n,
			  struct eau2_error *err)
{
	static const char *const keys[] = { "cores_allowed", "mem_available", "store_used",
					     "store_size", "clients", "rss", "load1" };
	double v[7], busy = -1, runs = 0;
	const char *body = NULL;
	json_error_t je;
	json_t *o, *b;
	size_t i;

	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || memcmp(buf + 8, " 200", 4))
		return eau2_error_set(err, -EBADMSG, "probe: not an HTTP 200 answer");
	for (i = 12; i + 4 <= len && !body; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4))
			body = buf + i + 4;
	if (!body)
		return eau2_error_set(err, -EBADMSG, "probe: no end of headers");
	o = json_loadb(body, len - (size_t)(body - buf), JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return eau2_error_set(err, -EBADMSG, "probe: not JSON: %s", je.text);
	for (i = 0; i < 7; i++)
		if (!num(o, keys[i], 0, i == 6 ? 1e9 : 9.2e18, &v[i])) {
			json_decref(o);
			return eau2_error_set(err, -EBADMSG, "probe: \"%s\" missing or out of "
					      "range", keys[i]);
		}
	b = json_object_get(o, "cpu_busy");
	if (b && !json_is_null(b) && !num(o, "cpu_busy", 0, 1, &busy)) {
		json_decref(o);
		return eau2_error_set(err, -EBADMSG, "probe: \"cpu_busy\" out of range");
	}
	if (json_object_get(o, "runs_running") && !num(o, "runs_running", 0, 1e12, &runs)) {
		json_decref(o);
		return eau2_error_set(err, -EBADMSG, "probe: \"runs_running\" out of range");
	}
	json_decref(o);
	n->have_info = true;
	n->cores_allowed = v[0] > 1 << 20 ? 1 << 20 : (uint32_t)v[0];
	n->mem_available = (uint64_t)v[1];
	n->store_used = (uint64_t)v[2];
	n->store_size = (uint64_t)v[3];
	n->clients = (uint64_t)v[4];
	n->rss = (uint64_t)v[5];
	n->load1 = v[6];
	n->cpu_busy = busy;
	n->runs_running = (uint64_t)runs;
	return 0;
}
