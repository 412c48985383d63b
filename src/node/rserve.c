/* SPDX-License-Identifier: MIT */
/*
 * rserve.c - eau2-node's service to remote peers (remote.h): a uring_net
 * server whose handler answers LIST, STAT, GET, PUT, DELETE, RUN and
 * RUN_STATE on the node's store, and PULL: a copy of a key from another
 * node (repairs, issue #13), made by this node as the other's client,
 * throttled in the receive path. The transport authenticates peers,
 * bounds connections, frames and time, and logs connects, refusals and
 * disconnects; this file logs what a request did wrong. A request that
 * computes or waits (a run, a GET waiting for its key) PINGs its peer
 * meanwhile, so that a client's frame timeout bounds silence, not work.
 *
 * A refusal (no such key, a bad argument) is an ERROR frame and the
 * connection stays; an error that leaves the stream out of step (a cut
 * transfer, a malformed request) closes it.
 *
 * A run's input stays open for the next run over it (dfcache.h: up to
 * EAU2_REMOTE_RUN_CACHE dataframes, mapped with their views checked): a
 * cluster runs every job over the same partitions, and a node would
 * otherwise map and check each afresh per run.
 *
 * Access rules: handlers run on the transport's workers, at most `workers`
 * at once; each takes a store handle from the pool (mu guards it) for
 * the length of one request, so no handle is used by two threads. The
 * cache is safe from any thread.
 */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "df/df.h"
#include "node/dfcache.h"
#include "node/remote.h"
#include "node/rstats.h"
#include "shm/shm.h"
#include "util/clock.h"

#define DEFAULT_WORKERS 8u

struct eau2_remote_server {
	eau2_net_server *net;
	struct eau2_net_server_opts so;
	char node_id[EAU2_NET_NAME_MAX + 1];
	eau2_net_log_fn log;
	void *log_ctx;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	eau2 **free_dbs; /* a stack of idle handles */
	eau2 **all_dbs;
	unsigned nfree, ndbs;
	unsigned waiting; /* GETs waiting for their key; guarded by mu */
	struct eau2_rstats *stats; /* runs and traffic (rstats.h), its own lock */
	struct eau2_dfcache *inputs; /* runs' inputs kept open */
	bool own_stats;            /* made here, not opts.stats */
	char *secret_file; /* PULL connects to the other node with it */
	int timeout_ms;
	int ping_ms;
};

__attribute__((format(printf, 3, 4)))
static void slog(eau2_remote_server *s, enum eau2_net_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, line);
}

static eau2 *take_db(eau2_remote_server *s)
{
	eau2 *db;

	pthread_mutex_lock(&s->mu);
	while (!s->nfree)
		pthread_cond_wait(&s->cv, &s->mu);
	db = s->free_dbs[--s->nfree];
	pthread_mutex_unlock(&s->mu);
	return db;
}

static void give_db(eau2_remote_server *s, eau2 *db)
{
	pthread_mutex_lock(&s->mu);
	s->free_dbs[s->nfree++] = db;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* While a request computes or waits (a run, a GET waiting for its key),
 * the work goes to a thread of its own and the handler's thread, which
 * owns the connection (and its ring, single-issuer), PINGs the peer
 * every ping_ms (TICK_MS by default): the peer's wait for the reply, bounded by its own frame
 * timeout, goes on while the node is alive, and a peer that went away
 * cancels a run. A peer whose socket closed (a driver killed: its kernel
 * sends FIN or RST) is seen every HUP_MS without a round trip, so its run
 * stops within a row group of that. */
#define TICK_MS 1000 /* the default of ping_ms */
#define HUP_MS 100

/* True when the peer closed the connection: poll's state of the socket,
 * kept whatever the network thread read meanwhile. */
static int peer_hung_up(eau2_net_conn *c)
{
	struct pollfd p = { .fd = eau2_net_fd(c), .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

struct job {
	int (*fn)(struct job *j);
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	volatile int gone; /* the peer did not answer: a run's cancel flag */
	int rc;
	/* the work's arguments and results */
	eau2 *db;
	const char *key;
	int wait_ms;
	eau2_df *in, *out;
	const struct eau2_rower_class *cls;
	const struct eau2_args *args;
	struct eau2_run_options ro;
	void *state;       /* RUN_STATE's encoded state */
	size_t len;
	eau2_remote_server *s;                    /* PULL */
	const struct eau2_remote_pull_req *pull;
	uint64_t bytes;
	struct eau2_error err;
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	int rc = j->fn(j);

	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->done = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* Runs j->fn on a thread while PINGing c every ping_ms; its code, with
 * err copied. */
static int with_pings(eau2_net_conn *c, int ping_ms, struct job *j, struct eau2_error *err)
{
	pthread_t t;
	int rc;

	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	if (pthread_create(&t, NULL, job_main, j)) {
		rc = j->fn(j); /* no thread: the peer's timeout bounds it */
	} else {
		int64_t next_ping = eau2_mono_ms() + ping_ms;

		pthread_mutex_lock(&j->mu);
		while (!j->done) {
			struct timespec at;

			clock_gettime(CLOCK_REALTIME, &at);
			at.tv_nsec += HUP_MS * 1000000L;
			if (at.tv_nsec >= 1000000000L) {
				at.tv_sec++;
				at.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&j->cv, &j->mu, &at) != ETIMEDOUT ||
			    j->done || j->gone)
				continue;
			pthread_mutex_unlock(&j->mu);
			if (peer_hung_up(c)) {
				j->gone = 1;
			} else if (eau2_mono_ms() >= next_ping) {
				next_ping = eau2_mono_ms() + ping_ms;
				if (eau2_net_ping(c, NULL, NULL))
					j->gone = 1;
			}
			pthread_mutex_lock(&j->mu);
		}
		pthread_mutex_unlock(&j->mu);
		pthread_join(t, NULL);
		rc = j->rc;
	}
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	if (rc)
		*err = j->err;
	else if (j->gone)
		rc = eau2_error_set(err, -EPIPE, "the peer went away meanwhile");
	return rc;
}

static int job_wait_get(struct job *j)
{
	return eau2_wait_get(j->db, j->key, j->wait_ms, &j->out, &j->err);
}

static int job_run(struct job *j)
{
	return eau2_run(j->db, j->in, j->cls, j->args, &j->ro, &j->out, &j->err);
}

static int job_run_state(struct job *j)
{
	return eau2_remote_run_state(j->db, j->in, j->cls, j->args, &j->ro, &j->state, &j->len,
				     &j->err);
}

/* PULL's throttle, on the receiving thread after each chunk: sleeps
 * until the bytes so far took at least bytes / rate, but at most
 * THROTTLE_MAX_MS at once, so that the sender (whose frame timeout bounds
 * a send that the full TCP window holds back) never waits that long. A
 * chunk larger than rate x THROTTLE_MAX_MS thus goes faster than rate. */
#define THROTTLE_MAX_MS 5000

struct throttle {
	uint64_t rate;
	int64_t t0_ms;
};

static void throttle_fn(void *ctx, uint64_t done, uint64_t total)
{
	struct throttle *t = ctx;
	int64_t due, late;

	(void)total;
	if (!t->rate)
		return;
	due = (int64_t)(done * 1000 / t->rate);
	late = due - (eau2_mono_ms() - t->t0_ms);
	if (late > 0) {
		if (late > THROTTLE_MAX_MS)
			late = THROTTLE_MAX_MS;
		struct timespec ts = { late / 1000, (late % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

static int job_pull(struct job *j)
{
	struct throttle t = { .rate = j->pull->rate, .t0_ms = eau2_mono_ms() };
	struct eau2_remote_progress pr = { .fn = throttle_fn, .ctx = &t };
	eau2_remote *r = NULL;
	eau2_df *df = NULL;
	int rc;

	if ((rc = eau2_remote_open(&r, j->pull->from, j->s->secret_file, j->s->timeout_ms,
				   &j->err)))
		goto out;
	eau2_remote_set_progress(r, &pr);
	if ((rc = eau2_remote_get(r, j->db, j->pull->key, 0, UINT64_MAX, -1, &df, &j->err)))
		goto out;
	j->bytes = eau2_df_bytes(df);
	rc = eau2_put(j->db, j->pull->key, df, &j->err);
out:
	if (rc)
		eau2_error_prefix(&j->err, rc, "pull '%s' from %s", j->pull->key, j->pull->from);
	eau2_df_release(df);
	eau2_remote_close(r);
	return rc;
}

/* An empty reply of type t with aux[0] = a. */
static int send_empty(eau2_net_conn *c, uint64_t req, uint16_t t, uint64_t a,
		      struct eau2_error *err)
{
	struct eau2_net_frame f = { .type = t, .req = req, .aux = { a } };

	return eau2_net_send(c, &f, NULL, err);
}

static int do_list(eau2 *db, eau2_net_conn *c, uint64_t req, struct eau2_error *err)
{
	char **keys = NULL, *buf = NULL;
	size_t n = 0, i = 0;
	int rc;

	if ((rc = eau2_list(db, &keys, &n, err)))
		return rc;
	if (!(buf = malloc(EAU2_NET_CONTROL_MAX))) {
		eau2_list_free(keys);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	/* Keys are at most EAU2_KEY_MAX bytes: a part is never empty
	 * but the only one of an empty list. */
	do {
		struct eau2_net_frame f = { .type = EAU2_REMOTE_KEYS, .req = req };
		size_t len = 0;

		while (i < n && len + strlen(keys[i]) + 1 <= EAU2_NET_CONTROL_MAX) {
			size_t l = strlen(keys[i]) + 1;

			memcpy(buf + len, keys[i++], l);
			len += l;
		}
		f.len = (uint32_t)len;
		f.flags = i < n ? EAU2_REMOTE_F_MORE : 0;
		rc = eau2_net_send(c, &f, buf, err);
	} while (!rc && i < n);
	free(buf);
	eau2_list_free(keys);
	return rc;
}

/* Sends groups [first, first + max) of df and END. */
static int send_groups(eau2_net_conn *c, uint64_t req, const eau2_df *df, uint64_t first,
		       uint64_t max, struct eau2_error *err)
{
	size_t ng = eau2_df_ngroups(df), n;
	int rc;

	if (first > ng)
		return eau2_error_set(err, -ERANGE, "row group %llu of %zu",
				      (unsigned long long)first, ng);
	n = max < ng - first ? (size_t)max : ng - (size_t)first;
	rc = eau2_remote_send_df(c, req, df, (size_t)first, n, 0, NULL, err);
	if (!rc)
		rc = send_empty(c, req, EAU2_REMOTE_END, (uint64_t)n * eau2_df_ncols(df), err);
	return rc;
}

/* Whether a GET may wait: a waiting GET holds a worker, so at most half
 * of them wait at once; the others answer at once (the client's wait
 * then retries after a pause) and the node keeps serving. */
static int may_wait(eau2_remote_server *s, int delta)
{
	int ok = 1;

	pthread_mutex_lock(&s->mu);
	if (delta > 0 && (ok = s->waiting < (s->ndbs + 1) / 2))
		s->waiting++;
	else if (delta < 0)
		s->waiting--;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static int do_get(eau2_remote_server *s, eau2 *db, eau2_net_conn *c, uint64_t req,
		  const void *p, uint32_t len, int *streamed, struct eau2_error *err)
{
	struct eau2_remote_get_req g;
	eau2_df *df = NULL;
	int rc;

	if ((rc = eau2_remote_get_decode(p, len, &g, err)))
		return rc;
	if (g.wait_ms && may_wait(s, 1)) {
		struct job j = { .fn = job_wait_get, .db = db, .key = g.key,
				 .wait_ms = (int)g.wait_ms };

		rc = with_pings(c, s->ping_ms, &j, err);
		df = j.out;
		may_wait(s, -1);
	} else {
		rc = eau2_get(db, g.key, &df, err);
	}
	if (rc) {
		eau2_df_release(df);
		return rc;
	}
	if (g.first > eau2_df_ngroups(df))
		rc = eau2_error_set(err, -ERANGE, "'%s': row group %llu of %zu", g.key,
				    (unsigned long long)g.first, eau2_df_ngroups(df));
	else {
		*streamed = 1;
		rc = send_groups(c, req, df, g.first, g.max_groups, err);
	}
	eau2_df_release(df);
	return rc;
}

static int do_stat(eau2 *db, eau2_net_conn *c, uint64_t req, const char *key,
		   struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc = eau2_get(db, key, &df, err);

	if (!rc)
		rc = eau2_remote_send_desc(c, req, df, 0, eau2_df_ngroups(df), err);
	eau2_df_release(df);
	return rc;
}

static int do_put(eau2_remote_server *s, eau2 *db, eau2_net_conn *c, uint64_t req,
		  const char *key, int *streamed, struct eau2_error *err)
{
	char enc[256];
	eau2_df *df = NULL;
	int rc;

	if ((rc = eau2_shm_key_encode(key, enc, err)) ||
	    (rc = send_empty(c, req, EAU2_REMOTE_GO, 0, err)))
		return rc;
	*streamed = 1;
	if ((rc = eau2_remote_recv_df(c, req, NULL, db, NULL, &df, err)))
		return eau2_error_prefix(err, rc, "put '%s'", key);
	/* Published whole by the store's atomic put, or not at all: the
	 * unpublished dataframe's files go with its release. */
	rc = eau2_put(db, key, df, err);
	if (!rc) {
		*streamed = 0;
		slog(s, EAU2_NET_LOG_INFO, "peer %s: put '%s' (%llu rows, %llu bytes)",
		     eau2_net_peer(c), key, (unsigned long long)eau2_df_rows(df),
		     (unsigned long long)eau2_df_bytes(df));
		rc = send_empty(c, req, EAU2_REMOTE_OK, eau2_df_rows(df), err);
	}
	eau2_df_release(df);
	return rc;
}

static int do_pull(eau2_remote_server *s, eau2 *db, eau2_net_conn *c, uint64_t req,
		   const void *p, uint32_t len, struct eau2_error *err)
{
	struct eau2_remote_pull_req q;
	struct job j = { .fn = job_pull, .db = db, .s = s, .pull = &q };
	char host[256];
	uint16_t port;
	int rc;

	if ((rc = eau2_remote_pull_decode(p, len, &q, err)) ||
	    (rc = eau2_net_split_hostport(q.from, host, sizeof(host), &port, err)))
		return rc;
	/* Without a secret this node serves loopback peers only: it makes no
	 * connection elsewhere on their behalf either. */
	if (!s->secret_file && eau2_net_host_is_loopback(host, NULL) != 1)
		return eau2_error_set(err, -EPERM, "pull '%s' from %s: not a loopback address, "
				      "and this node has no secret", q.key, q.from);
	if ((rc = with_pings(c, s->ping_ms, &j, err)))
		return rc;
	slog(s, EAU2_NET_LOG_INFO, "peer %s: pulled '%s' from %s (%llu bytes)",
	     eau2_net_peer(c), q.key, q.from, (unsigned long long)j.bytes);
	return send_empty(c, req, EAU2_REMOTE_OK, j.bytes, err);
}

/* RUN, or with state RUN_STATE. */
static int do_run(eau2_remote_server *s, eau2 *db, eau2_net_conn *c, uint64_t req,
		  const void *p, uint32_t len, int state, int *streamed, struct eau2_error *err)
{
	struct eau2_remote_run_req q;
	const struct eau2_rower_class *cls = NULL;
	struct job j = { .fn = state ? job_run_state : job_run, .db = db };
	eau2_df *in = NULL, *out = NULL;
	int rc, hit;

	if ((rc = eau2_remote_run_decode(p, len, &q, err)))
		return rc;
	if (state && q.as[0])
		rc = eau2_error_set(err, -EINVAL, "a state run stores nothing ('%s')", q.as);
	else if (!(cls = eau2_rower_find(q.rower)))
		rc = eau2_error_set(err, -ENOENT, "no rower '%s' on this node (a plugin it "
				    "lacks? start it with --plugin)", q.rower);
	else if (q.key[0])
		rc = eau2_dfcache_get(s->inputs, q.key, &in, &hit, err);
	if (!rc) {
		uint64_t rows_done = 0;
		int slot = eau2_rstats_run_begin(s->stats, q.rower, q.key, eau2_net_peer(c), state,
						 in ? eau2_df_rows(in) : 0, &rows_done);

		j.in = in;
		j.cls = cls;
		j.args = &q.args;
		j.ro = (struct eau2_run_options){ .threads = q.threads, .cancel = &j.gone,
						  .rows_done = &rows_done };
		rc = with_pings(c, s->ping_ms, &j, err);
		eau2_rstats_run_end(s->stats, slot, q.rower, rc);
		out = j.out;
	}
	if (!rc && state) {
		rc = j.len > EAU2_REMOTE_STATE_MAX
			     ? eau2_error_set(err, -EMSGSIZE, "rower '%s': a state of %zu bytes, "
					      "over %u", q.rower, j.len, EAU2_REMOTE_STATE_MAX)
			     : eau2_remote_send_parts(c, req, EAU2_REMOTE_STATE, j.state, j.len, err);
		*streamed = j.len > EAU2_NET_CONTROL_MAX;
	} else if (!rc && q.as[0]) {
		if (!(rc = eau2_put(db, q.as, out, err)))
			rc = send_empty(c, req, EAU2_REMOTE_OK, eau2_df_rows(out), err);
	} else if (!rc) {
		*streamed = 1;
		rc = send_groups(c, req, out, 0, UINT64_MAX, err);
	}
	eau2_df_release(in);
	eau2_df_release(out);
	free(j.state);
	eau2_remote_run_free(&q);
	return rc;
}

/* After refusing a transfer half-way: reads and drops what the peer still
 * sends (up to DRAIN_MS), so that it reads our ERROR frame instead of
 * meeting a reset; the connection closes afterwards. */
#define DRAIN_MS 3000

static void drain(eau2_net_conn *c)
{
	struct timespec t0, t;
	char buf[65536];
	int fd = eau2_net_fd(c);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = DRAIN_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (ms <= 0 || poll(&p, 1, (int)ms) <= 0 ||
		    recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			return;
	}
}

static const char *type_name(unsigned t)
{
	switch (t) {
	case EAU2_REMOTE_LIST: return "list";
	case EAU2_REMOTE_STAT: return "stat";
	case EAU2_REMOTE_GET: return "get";
	case EAU2_REMOTE_PUT: return "put";
	case EAU2_REMOTE_DELETE: return "delete";
	case EAU2_REMOTE_RUN: return "run";
	case EAU2_REMOTE_RUN_STATE: return "state run";
	case EAU2_REMOTE_PULL: return "pull";
	}
	return "unknown request";
}

static int handler(void *ctx, eau2_net_conn *c, const struct eau2_net_frame *f,
		   const void *payload)
{
	eau2_remote_server *s = ctx;
	struct eau2_error err = {0};
	char key[EAU2_KEY_MAX + 1];
	struct eau2_net_stats before, after;
	int rc, streamed = 0, keyed;
	eau2 *db;

	keyed = f->type == EAU2_REMOTE_STAT || f->type == EAU2_REMOTE_PUT ||
		f->type == EAU2_REMOTE_DELETE;
	if (keyed && (rc = eau2_remote_key_decode(payload, f->len, key, &err)))
		goto refuse;
	db = take_db(s);
	eau2_remote_tune(c);
	switch (f->type) {
	case EAU2_REMOTE_LIST:
		rc = f->len ? eau2_error_set(&err, -EBADMSG, "LIST with a payload")
			    : do_list(db, c, f->req, &err);
		break;
	case EAU2_REMOTE_STAT:
		rc = do_stat(db, c, f->req, key, &err);
		break;
	case EAU2_REMOTE_GET:
		rc = do_get(s, db, c, f->req, payload, f->len, &streamed, &err);
		break;
	case EAU2_REMOTE_PUT:
		rc = do_put(s, db, c, f->req, key, &streamed, &err);
		break;
	case EAU2_REMOTE_DELETE:
		if (!(rc = eau2_delete(db, key, &err))) {
			eau2_dfcache_sweep(s->inputs); /* its pages go now */
			rc = send_empty(c, f->req, EAU2_REMOTE_OK, 0, &err);
		}
		break;
	case EAU2_REMOTE_RUN:
	case EAU2_REMOTE_RUN_STATE:
		rc = do_run(s, db, c, f->req, payload, f->len, f->type == EAU2_REMOTE_RUN_STATE,
			    &streamed, &err);
		break;
	case EAU2_REMOTE_PULL:
		rc = do_pull(s, db, c, f->req, payload, f->len, &err);
		break;
	default:
		streamed = 1; /* a peer speaking another protocol: drop it */
		rc = eau2_error_set(&err, -EPROTO, "unknown request type 0x%x", f->type);
	}
	give_db(s, db);
	eau2_net_stats_mark(c, &before, &after);
	eau2_rstats_traffic(s->stats, eau2_net_peer(c), &before, &after);
	if (!rc)
		return 0;
refuse:
	/* Only a peer that went away cancels (with_pings): nobody reads a
	 * reply. */
	if (rc == -ECANCELED) {
		slog(s, EAU2_NET_LOG_WARN, "peer %s: %s stopped, the peer went away: %s",
		     eau2_net_peer(c), type_name(f->type), err.msg);
		return 1;
	}
	if (eau2_net_broken(c)) {
		slog(s, EAU2_NET_LOG_WARN, "peer %s: %s dropped: %s", eau2_net_peer(c),
		     type_name(f->type), err.msg);
		return 1;
	}
	/* The peer's call fails with this; a stream cut half-way leaves the
	 * connection out of step, so it closes. */
	if (streamed || rc == -EBADMSG || rc == -EPROTO)
		slog(s, EAU2_NET_LOG_WARN, "peer %s: %s: %s", eau2_net_peer(c),
		     type_name(f->type), err.msg);
	if (eau2_net_send_error(c, f->req, rc, err.msg, NULL))
		return 1;
	if (streamed && f->type == EAU2_REMOTE_PUT)
		drain(c);
	return streamed || rc == -EBADMSG || rc == -EPROTO;
}

static void sanitize_id(char *out, size_t cap, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++) {
		char ch = s[i];

		out[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || strchr("._:@/-", ch) ? ch : '_';
	}
	out[i] = 0;
}

/* Without a secret only loopback addresses may be served. */
static int check_listen(const struct eau2_remote_server_opts *o, struct eau2_error *err)
{
	char host[256];
	uint16_t port;
	int rc;

	if ((rc = eau2_net_split_hostport(o->listen, host, sizeof(host), &port, err)))
		return rc;
	if (o->secret_file)
		return 0;
	rc = eau2_net_host_is_loopback(host, err);
	if (rc < 0)
		return eau2_error_prefix(err, rc, "--listen %s", o->listen);
	if (rc == 0)
		return eau2_error_set(err, -EPERM, "--listen %s: not a loopback address, and "
				      "there is no secret: give --secret-file FILE (the same on "
				      "every peer) to serve other hosts", o->listen);
	return 0;
}

int eau2_remote_server_start(eau2_remote_server **out, const struct eau2_remote_server_opts *o,
			     struct eau2_error *err)
{
	struct eau2_options so = { .store = o->store, .node = EAU2_NODE_OFF };
	eau2_remote_server *s;
	unsigned i;
	int rc;

	*out = NULL;
	if ((rc = check_listen(o, err)))
		return rc;
	if (!(s = calloc(1, sizeof(*s))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->log = o->log;
	s->log_ctx = o->log_ctx;
	s->timeout_ms = o->timeout_ms;
	if (o->secret_file && !(s->secret_file = strdup(o->secret_file))) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (o->node_id) {
		sanitize_id(s->node_id, sizeof(s->node_id), o->node_id);
	} else {
		/* This host's name, and the port when it is fixed (an
		 * ephemeral one is not known before the server starts). */
		char host[256] = "eau2-node", id[320];
		const char *colon = strrchr(o->listen, ':');

		gethostname(host, sizeof(host) - 1);
		host[sizeof(host) - 1] = 0;
		snprintf(id, sizeof(id), "%s%s", host,
			 colon && strcmp(colon, ":0") ? colon : "");
		sanitize_id(s->node_id, sizeof(s->node_id), id);
	}
	s->stats = o->stats;
	if (!s->stats && (s->own_stats = true) && !(s->stats = eau2_rstats_new())) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	s->ndbs = o->workers ? o->workers : DEFAULT_WORKERS;
	s->all_dbs = calloc(s->ndbs, sizeof(*s->all_dbs));
	s->free_dbs = calloc(s->ndbs, sizeof(*s->free_dbs));
	if (!s->all_dbs || !s->free_dbs) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < s->ndbs; i++) {
		if ((rc = eau2_open(&s->all_dbs[i], &so, err)))
			goto fail;
		s->free_dbs[s->nfree++] = s->all_dbs[i];
	}
	if ((rc = eau2_dfcache_new(&s->inputs, o->store, EAU2_REMOTE_RUN_CACHE, err)))
		goto fail;
	s->so = (struct eau2_net_server_opts){
		.listen = o->listen, .on_request = handler, .ctx = s,
		.log = o->log, .log_ctx = o->log_ctx, .workers = s->ndbs,
	};
	s->so.conn.ident = (struct eau2_net_ident){ .cluster = EAU2_REMOTE_CLUSTER,
						    .node_id = s->node_id,
						    .role = EAU2_NET_ROLE_NODE };
	s->so.conn.io_timeout_ms = o->timeout_ms;
	s->ping_ms = o->ping_ms > 0 ? o->ping_ms : TICK_MS;
	if (o->secret_file) {
		if ((rc = eau2_net_secret_load(o->secret_file, s->so.conn.ident.secret, err)))
			goto fail;
		s->so.conn.ident.has_secret = true;
	}
	if ((rc = eau2_net_server_start(&s->net, &s->so, err)))
		goto fail;
	/* Warning level: quiet logs keep it, and scripts that asked for
	 * port 0 read the port here. */
	slog(s, EAU2_NET_LOG_WARN, "listening on %s, port %u, as node %s%s", o->listen,
	     eau2_net_server_port(s->net), s->node_id,
	     o->secret_file ? "" : " (no secret: loopback peers only)");
	*out = s;
	return 0;
fail:
	eau2_remote_server_stop(s);
	return rc;
}

uint16_t eau2_remote_server_port(const eau2_remote_server *s)
{
	return eau2_net_server_port(s->net);
}

void eau2_remote_server_stats(eau2_remote_server *s, struct eau2_net_server_stats *out)
{
	eau2_net_server_stats(s->net, out);
}

size_t eau2_remote_server_peers(eau2_remote_server *s, struct eau2_remote_peer *out,
				size_t cap)
{
	return eau2_rstats_peers(s->stats, out, cap);
}

void eau2_remote_server_stop(eau2_remote_server *s)
{
	if (!s)
		return;
	eau2_net_server_stop(s->net);
	eau2_dfcache_free(s->inputs);
	for (unsigned i = 0; s->all_dbs && i < s->ndbs; i++)
		eau2_close(s->all_dbs[i]);
	sodium_memzero(s->so.conn.ident.secret, sizeof(s->so.conn.ident.secret));
	free(s->all_dbs);
	free(s->free_dbs);
	if (s->own_stats)
		eau2_rstats_free(s->stats);
	free(s->secret_file);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
