/* SPDX-License-Identifier: MIT */
/*
 * http.c - the HTTP service of http.h on libmicrohttpd: one polling thread
 * (epoll) of MHD's serves every connection; this file binds the socket,
 * checks the method and the bearer token, routes, and renders the page
 * from a snapshot.
 *
 * Bounds, each MHD's to enforce: EAU2_HTTP_CONNS_MAX connections (idle
 * ones included: with epoll an idle connection costs a descriptor and
 * a little memory, so a few hundred of them do not stop a scrape), at
 * most EAU2_HTTP_CONNS_PER_IP of them from one address (so that one host
 * holding connections open cannot lock a scraper elsewhere out),
 * EAU2_HTTP_TIMEOUT_S of inactivity per connection, and
 * EAU2_HTTP_REQUEST_MAX bytes of request line and headers (MHD answers
 * 414 or 431 past it). Only GET and HEAD are served (405 otherwise);
 * request bodies are never read.
 *
 * A snapshot scans the store's directory, so it is shared: pages asked
 * within SNAP_REUSE_S of each other (longer when snapshots are slow)
 * render the same one. Access rules:
 * `lock` guards the snapper, the cached snapshot, its time and the
 * peers, runs and cluster view (cstate) taken with it; the rest of struct eau2_http is immutable while
 * MHD's thread runs, except the request counter (atomic).
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "eau2-node/http/http.h"

#define SNAP_REUSE_S 0.5
#define SNAP_REUSE_X 20
#define LOG_BURST 20
#define LOG_WINDOW_S 60.0

struct eau2_http {
	struct MHD_Daemon *mhd;
	int log_fd;
	struct eau2_node_server *srv;
	eau2_remote_server *remote;
	eau2_http_peers_fn peers_fn;
	void *peers_ctx;
	eau2_http_runs_fn runs_fn;
	void *runs_ctx;
	struct eau2_http_runs runs; /* rower: EAU2_HTTP_ROWERS_MAX, under lock */
	struct eau2_http_peer *peers; /* EAU2_HTTP_PEERS_MAX, under lock */
	struct eau2_cview *cview;     /* NULL: not in a cluster */
	struct eau2_cview_state *cstate; /* its copy, under lock */
	size_t npeers;
	char addr[80];
	bool auth;
	char token[EAU2_HTTP_TOKEN_HEX + 1];
	_Atomic uint64_t requests;
	pthread_mutex_t lock;
	struct eau2_snapper *snapper;
	struct eau2_snap snap;   /* the last one taken */
	double snap_at;          /* monotonic seconds; 0: none yet */
	double snap_seconds;
	double log_window;       /* log_limited's window (MHD's thread) */
	unsigned log_lines;
	uint64_t log_dropped;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void logf_(struct eau2_http *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logf_(struct eau2_http *h, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (h->log_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "eau2-node[%d]: http: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(h->log_fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

/* Lines about requests (MHD's messages on bad ones, failed snapshots):
 * at most LOG_BURST per LOG_WINDOW_S, so that a client sending garbage
 * cannot fill the log; the number left out is said with the next line let
 * through. Called on MHD's thread, or before it starts (no lock). */
static void log_limited(struct eau2_http *h, const char *msg)
{
	double t = now_s();

	if (t - h->log_window > LOG_WINDOW_S) {
		h->log_window = t;
		h->log_lines = 0;
	}
	if (h->log_lines >= LOG_BURST) {
		h->log_dropped++;
		return;
	}
	h->log_lines++;
	if (h->log_dropped)
		logf_(h, "%s (and %llu messages left out before)", msg,
		      (unsigned long long)h->log_dropped);
	else
		logf_(h, "%s", msg);
	h->log_dropped = 0;
}

static void mhd_log(void *ctx, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void mhd_log(void *ctx, const char *fmt, va_list ap)
{
	char msg[200], *html;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	html = strstr(msg, " ('<"); /* the HTML of MHD's error page: noise here */
	if (html)
		strcpy(html, ")");
	msg[strcspn(msg, "\n")] = '\0';
	log_limited(ctx, msg);
}

/* ------------------------------------------------------------ pages */

static enum MHD_Result respond(struct MHD_Connection *con, unsigned code, const char *type,
			       void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO; /* MHD closes the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	/* The dashboard fetches nothing from anywhere else. */
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:");
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (code == MHD_HTTP_UNAUTHORIZED) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"eau2\"");
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"eau2 (password: the token)\"");
	}
	ret = MHD_queue_response(con, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *con, unsigned code,
				    const char *text)
{
	return respond(con, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
		       MHD_RESPMEM_PERSISTENT);
}

enum page { PAGE_METRICS, PAGE_STATUS, PAGE_NODE };

/* Renders a page from the shared snapshot, taking a new one when the
 * last is too old. */
static enum MHD_Result dynamic(struct eau2_http *h, struct MHD_Connection *con,
			       enum page page)
{
	static const char *const name[] = { "/metrics", "/api/status", "/api/node" };
	bool json = page != PAGE_METRICS;
	struct eau2_error err = {0};
	struct eau2_http_view v = { .http_addr = h->addr };
	char *body = NULL;
	size_t len = 0;
	double t0, reuse;
	int rc = 0;

	pthread_mutex_lock(&h->lock);
	t0 = now_s();
	/* Reused for SNAP_REUSE_S, or SNAP_REUSE_X times what the last one
	 * took, so that however big the store, snapshots never take more
	 * than 1 / SNAP_REUSE_X of a core. */
	reuse = SNAP_REUSE_X * h->snap_seconds;
	if (reuse < SNAP_REUSE_S)
		reuse = SNAP_REUSE_S;
	if (!h->snap_at || t0 - h->snap_at > reuse) {
		eau2_snap_clear(&h->snap);
		h->snap_at = 0;
		rc = eau2_snapper_take(h->snapper, &h->snap, &err);
		if (!rc) {
			h->npeers = h->peers_fn ? h->peers_fn(h->peers_ctx, h->peers,
							      EAU2_HTTP_PEERS_MAX) : 0;
			if (h->npeers > EAU2_HTTP_PEERS_MAX)
				h->npeers = EAU2_HTTP_PEERS_MAX;
			if (h->runs_fn) {
				h->runs.n = h->runs.nitems = 0;
				h->runs_fn(h->runs_ctx, &h->runs, EAU2_HTTP_ROWERS_MAX);
				if (h->runs.n > EAU2_HTTP_ROWERS_MAX)
					h->runs.n = EAU2_HTTP_ROWERS_MAX;
				if (h->runs.nitems > EAU2_HTTP_RUN_ITEMS)
					h->runs.nitems = EAU2_HTTP_RUN_ITEMS;
			}
			if (h->cview)
				eau2_cview_get(h->cview, h->cstate);
			h->snap_at = now_s();
			h->snap_seconds = h->snap_at - t0;
		}
	}
	if (!rc) {
		v.snap = &h->snap;
		v.peers = h->peers;
		v.npeers = h->npeers;
		v.runs = h->runs_fn ? &h->runs : NULL;
		v.cluster = h->cview ? h->cstate : NULL;
		v.snap_seconds = h->snap_seconds;
		v.http_requests = atomic_load(&h->requests) - 1;
		if (h->srv)
			eau2_node_server_stats(h->srv, &v.node);
		if (h->remote) {
			eau2_remote_server_stats(h->remote, &v.remote);
			v.remote_on = true;
		}
		rc = page == PAGE_STATUS ? eau2_http_status_json(&v, &body, &len)
		   : page == PAGE_NODE	 ? eau2_http_node_json(&v, &body, &len)
					 : eau2_http_metrics(&v, &body, &len);
		if (rc)
			eau2_error_set(&err, rc, "rendering %s: %s", name[page], strerror(-rc));
	}
	pthread_mutex_unlock(&h->lock);
	if (rc) {
		log_limited(h, err.msg);
		return respond_text(con, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "eau2-node: the snapshot failed (see the node's log)\n");
	}
	return respond(con, MHD_HTTP_OK,
		       json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8",
		       body, len, MHD_RESPMEM_MUST_FREE);
}

static bool token_ok(struct eau2_http *h, const char *t)
{
	return t && strlen(t) == EAU2_HTTP_TOKEN_HEX &&
	       sodium_memcmp(t, h->token, EAU2_HTTP_TOKEN_HEX) == 0;
}

/* "Authorization: Bearer TOKEN" (scrapers, curl), or Basic with TOKEN as
 * the password and any user name (what a browser asks for; the header's
 * decoding is MHD's). */
static bool authorized(struct eau2_http *h, struct MHD_Connection *con)
{
	char *user, *pass = NULL;
	const char *a;
	bool ok;

	if (!h->auth)
		return true;
	a = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!a)
		return false;
	if (!strncasecmp(a, "Bearer ", 7)) {
		for (a += 7; *a == ' '; a++)
			;
		return token_ok(h, a);
	}
	user = MHD_basic_auth_get_username_password(con, &pass);
	ok = token_ok(h, pass);
	if (pass)
		sodium_memzero(pass, strlen(pass));
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

static enum MHD_Result handler(void *ctx, struct MHD_Connection *con, const char *url,
			       const char *method, const char *version,
			       const char *upload_data, size_t *upload_data_size,
			       void **con_cls)
{
	struct eau2_http *h = ctx;
	size_t i;

	atomic_fetch_add(&h->requests, 1);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond_text(con, MHD_HTTP_METHOD_NOT_ALLOWED,
				    "eau2-node: read-only: GET and HEAD only\n");
	if (!authorized(h, con))
		return respond_text(con, MHD_HTTP_UNAUTHORIZED,
				    "eau2-node: this address needs \"Authorization: Bearer TOKEN\" "
				    "(eau2-node http-token --secret-file FILE prints it)\n");
	if (!strcmp(url, "/metrics"))
		return dynamic(h, con, PAGE_METRICS);
	if (!strcmp(url, "/api/status"))
		return dynamic(h, con, PAGE_STATUS);
	if (!strcmp(url, "/api/node"))
		return dynamic(h, con, PAGE_NODE);
	for (i = 0; i < eau2_web_nassets; i++)
		if (!strcmp(url, eau2_web_assets[i].path))
			return respond(con, MHD_HTTP_OK, eau2_web_assets[i].type,
				       (void *)eau2_web_assets[i].data, eau2_web_assets[i].len,
				       MHD_RESPMEM_PERSISTENT);
	return respond_text(con, MHD_HTTP_NOT_FOUND,
			    "eau2-node: not found (try /, /metrics, /api/status, /api/node)\n");
}

/* ------------------------------------------------------------ start/stop */

static int bind_addr(struct eau2_http *h, const char *host, uint16_t port,
		     const char *spec, struct eau2_error *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ports[8];
	int fd = -1, one = 1, e = 0, rc;

	snprintf(ports, sizeof(ports), "%u", port);
	rc = getaddrinfo(*host ? host : NULL, ports, &hints, &res);
	if (rc)
		return eau2_error_set(err, -EINVAL, "--http %s: %s", spec, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return eau2_error_set(err, -e, "--http %s: bind: %s", spec, strerror(e));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		eau2_net_addr_str((struct sockaddr *)&ss, h->addr, sizeof(h->addr));
	else
		snprintf(h->addr, sizeof(h->addr), "%s", spec);
	return fd;
}

int eau2_http_start(struct eau2_http **out, const struct eau2_http_opts *o,
		    struct eau2_error *err)
{
	struct eau2_http *h;
	uint8_t key[EAU2_NET_KEY_BYTES];
	char host[256];
	uint16_t port;
	int rc, fd = -1;

	*out = NULL;
	rc = eau2_net_split_hostport(o->addr, host, sizeof(host), &port, err);
	if (rc)
		return eau2_error_prefix(err, rc, "--http");
	rc = eau2_net_host_is_loopback(host, err);
	if (rc < 0)
		return eau2_error_prefix(err, rc, "--http %s", o->addr);
	if (rc == 0 && !o->secret_file)
		return eau2_error_set(err, -EPERM,
				      "--http %s: not a loopback address, so it needs the cluster "
				      "secret (--secret-file FILE or EAU2_SECRET_FILE); requests then "
				      "carry its token (eau2-node http-token)", o->addr);
	h = calloc(1, sizeof(*h));
	if (!h)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	h->log_fd = o->log_fd;
	h->srv = o->srv;
	h->remote = o->remote;
	h->peers_fn = o->peers;
	h->peers_ctx = o->peers_ctx;
	h->runs_fn = o->runs;
	h->runs_ctx = o->runs_ctx;
	h->cview = o->cluster;
	if ((o->peers && !(h->peers = calloc(EAU2_HTTP_PEERS_MAX, sizeof(*h->peers)))) ||
	    (o->runs && !(h->runs.rower = calloc(EAU2_HTTP_ROWERS_MAX, sizeof(*h->runs.rower)))) ||
	    (o->runs && !(h->runs.item = calloc(EAU2_HTTP_RUN_ITEMS, sizeof(*h->runs.item)))) ||
	    (o->cluster && !(h->cstate = calloc(1, sizeof(*h->cstate))))) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (o->secret_file) {
		rc = eau2_net_secret_load(o->secret_file, key, err);
		if (rc)
			goto fail;
		eau2_http_token(key, h->token);
		sodium_memzero(key, sizeof(key));
		h->auth = true;
	}
	rc = eau2_snapper_open(&h->snapper, o->store, err);
	if (rc)
		goto fail;
	/* The first snapshot is the baseline of eau2_load_bytes_total. */
	rc = eau2_snapper_take(h->snapper, &h->snap, err);
	if (rc)
		goto fail;
	h->snap_at = now_s();
	fd = bind_addr(h, host, port, o->addr, err);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	/* poll, not epoll: with epoll, libmicrohttpd (0.9.75) misses the end
	 * of a stream that came with half a request, and such a connection,
	 * its client gone, held its slot until the idle timeout; at most
	 * EAU2_HTTP_CONNS_MAX sockets, poll costs nothing here. */
	h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
				  MHD_USE_ERROR_LOG, 0, NULL, NULL, handler, h,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, /* first, as MHD asks */
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)EAU2_HTTP_CONNS_MAX,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)EAU2_HTTP_CONNS_PER_IP,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)EAU2_HTTP_TIMEOUT_S,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)EAU2_HTTP_REQUEST_MAX,
				  MHD_OPTION_END);
	if (!h->mhd) {
		close(fd);
		rc = eau2_error_set(err, -EIO, "--http %s: libmicrohttpd did not start", o->addr);
		goto fail;
	}
	logf_(h, "serving on %s (%s)", h->addr,
	      h->auth ? "bearer token required" : "loopback, no token");
	*out = h;
	return 0;
fail:
	eau2_http_stop(h);
	return rc;
}

const char *eau2_http_addr(const struct eau2_http *h)
{
	return h->addr;
}

void eau2_http_stop(struct eau2_http *h)
{
	if (!h)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd); /* joins its thread, closes the socket */
	eau2_snap_clear(&h->snap);
	eau2_snapper_close(h->snapper);
	free(h->peers);
	free(h->runs.rower);
	free(h->runs.item);
	free(h->cstate);
	pthread_mutex_destroy(&h->lock);
	sodium_memzero(h->token, sizeof(h->token));
	free(h);
}
