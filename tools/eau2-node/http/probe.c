/* SPDX-License-Identifier: MIT */
/*
 * probe.c - a small HTTP/1.0 client (eau2_http_get_many: GETs to several
 * addresses at once, non-blocking sockets under one poll loop, so a round
 * takes at most its timeout however many peers hang, and at most max
 * bytes read from each) and the cluster view's default probe on it
 * (cview.h): GET /api/node of every member's --http service. An answer
 * is outside input: eau2_cview_parse_node checks what it takes.
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
#include <sodium.h>

#include "eau2-node/http/cview.h"
#include "eau2-node/http/http.h"
#include "uring_net/net.h"
#include "util/clock.h"

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

#define TOKEN_LABEL "eau2 http bearer token v1"

/* Here, with the client, so that eau2 status can ask a node too. */
void eau2_http_token(const uint8_t key[EAU2_NET_KEY_BYTES], char hex[EAU2_HTTP_TOKEN_HEX + 1])
{
	uint8_t t[EAU2_NET_KEY_BYTES];

	if (sodium_init() < 0)
		abort(); /* only when the kernel gives no randomness */
	crypto_generichash(t, sizeof(t), (const unsigned char *)TOKEN_LABEL,
			   strlen(TOKEN_LABEL), key, EAU2_NET_KEY_BYTES);
	sodium_bin2hex(hex, EAU2_HTTP_TOKEN_HEX + 1, t, sizeof(t));
	sodium_memzero(t, sizeof(t));
}

struct conn {
	int fd;
	bool sent, done;
	size_t cap;
};

/* One step of g's exchange once its socket is ready. */
static void step(struct conn *c, struct eau2_http_get *g)
{
	ssize_t r;

	if (!c->sent) {
		char req[EAU2_MEMBER_ADDR_MAX + 256 + EAU2_HTTP_GET_PATH_MAX];
		int e = 0, len;
		socklen_t sl = sizeof(e);

		len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n%s%s%s"
			       "Connection: close\r\n\r\n", g->path, g->addr,
			       g->token ? "Authorization: Bearer " : "", g->token ? g->token : "",
			       g->token ? "\r\n" : "");
		/* A refused connect, or a request that does not fit at once. */
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &sl) || e ||
		    len >= (int)sizeof(req) ||
		    send(c->fd, req, (size_t)len, MSG_NOSIGNAL) != (ssize_t)len) {
			c->done = true;
			return;
		}
		c->sent = true;
		return;
	}
	r = recv(c->fd, g->buf + g->len, c->cap - g->len, 0);
	if (r > 0) {
		g->len += (size_t)r;
		if (g->len == c->cap) /* too long: not an answer we take */
			c->done = true;
	} else if (r == 0) {
		c->done = true;
		g->ok = true;
		g->buf[g->len] = 0;
	} else if (errno != EAGAIN && errno != EINTR) {
		c->done = true;
	}
}

void eau2_http_get_many(struct eau2_http_get *g, size_t n, int timeout_ms)
{
	struct conn *c = calloc(n ? n : 1, sizeof(*c));
	struct pollfd *p = calloc(n ? n : 1, sizeof(*p));
	int64_t deadline = eau2_mono_ms() + timeout_ms;
	size_t i, k;

	for (i = 0; i < n; i++) {
		g[i].ok = false;
		g[i].len = 0;
		g[i].buf = NULL;
	}
	if (!c || !p)
		goto out;
	for (i = 0; i < n; i++) {
		c[i].cap = g[i].max + 1; /* a body of max bytes and headers fit below */
		c[i].fd = start_connect(g[i].addr);
		c[i].done = c[i].fd < 0 || strlen(g[i].path) > EAU2_HTTP_GET_PATH_MAX ||
			    !(g[i].buf = malloc(c[i].cap + 1));
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
			if (p[k++].revents)
				step(&c[i], &g[i]);
		}
	}
out:
	for (i = 0; i < n; i++) {
		if (c && c[i].fd >= 0)
			close(c[i].fd);
		if (!g[i].ok) {
			free(g[i].buf);
			g[i].buf = NULL;
			g[i].len = 0;
		}
	}
	free(c);
	free(p);
}

void eau2_cview_http_probe(void *ctx, struct eau2_cview_node *nodes, bool *ok, size_t n,
			   int timeout_ms)
{
	struct eau2_http_get *g = calloc(n ? n : 1, sizeof(*g));
	size_t i;

	for (i = 0; i < n; i++)
		ok[i] = false;
	if (!g)
		return;
	for (i = 0; i < n; i++)
		g[i] = (struct eau2_http_get){ .addr = nodes[i].http, .path = "/api/node",
					       .token = ctx, .max = EAU2_CVIEW_PROBE_BODY_MAX };
	eau2_http_get_many(g, n, timeout_ms);
	for (i = 0; i < n; i++) {
		struct eau2_error err = {0};

		ok[i] = g[i].ok && !eau2_cview_parse_node(g[i].buf, g[i].len, &nodes[i], &err);
		free(g[i].buf);
	}
	free(g);
}

/* The body of an HTTP 200 answer: 0 and *body, or -EBADMSG. */
int eau2_http_body(const char *buf, size_t len, const char **body, struct eau2_error *err)
{
	*body = NULL;
	if (len < 12 || memcmp(buf, "HTTP/1.", 7) || memcmp(buf + 8, " 200", 4))
		return eau2_error_set(err, -EBADMSG, "not an HTTP 200 answer");
	for (size_t i = 12; i + 4 <= len; i++)
		if (!memcmp(buf + i, "\r\n\r\n", 4)) {
			*body = buf + i + 4;
			return 0;
		}
	return eau2_error_set(err, -EBADMSG, "no end of headers");
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
	const char *body;
	json_error_t je;
	json_t *o, *b;
	size_t i;

	if (eau2_http_body(buf, len, &body, err))
		return eau2_error_prefix(err, -EBADMSG, "probe");
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

static bool count(json_t *o, const char *k, uint64_t *out)
{
	double d;

	if (!num(o, k, 0, 9.2e18, &d))
		return false;
	*out = (uint64_t)d;
	return true;
}

int eau2_http_parse_totals(const char *buf, size_t len, struct eau2_cview_node *n,
			   struct eau2_node_totals *t, struct eau2_error *err)
{
	static const char *const keys[] = { "runs_finished", "runs_failed", "sent_bytes",
					    "received_bytes", "load_bytes" };
	uint64_t *dst[] = { &t->runs_finished, &t->runs_failed, &t->sent_bytes,
			    &t->received_bytes, &t->load_bytes };
	static const char *const ckeys[] = { "nodes_alive", "nodes_suspect", "nodes_dead",
					     "partitions", "under_replicated", "keys" };
	uint64_t *cdst[] = { &t->nodes_alive, &t->nodes_suspect, &t->nodes_dead,
			     &t->partitions, &t->under_replicated, &t->keys };
	const char *body;
	json_error_t je;
	json_t *o, *c;
	size_t i;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = eau2_cview_parse_node(buf, len, n, err)))
		return rc;
	eau2_http_body(buf, len, &body, err); /* parsed above: there */
	o = json_loadb(body, len - (size_t)(body - buf), JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return eau2_error_set(err, -EBADMSG, "node totals: not JSON: %s", je.text);
	t->runs_running = n->runs_running;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!count(o, keys[i], dst[i])) {
			rc = eau2_error_set(err, -EBADMSG, "node totals: \"%s\" missing or out "
					    "of range", keys[i]);
			goto out;
		}
	c = json_object_get(o, "cluster");
	if (c && !json_is_null(c)) {
		t->cluster = true;
		for (i = 0; i < sizeof(ckeys) / sizeof(ckeys[0]); i++)
			if (!count(c, ckeys[i], cdst[i])) {
				rc = eau2_error_set(err, -EBADMSG, "node totals: cluster \"%s\" "
						    "missing or out of range", ckeys[i]);
				goto out;
			}
	}
out:
	json_decref(o);
	return rc;
}
