/* SPDX-License-Identifier: MIT */
/*
 * remote.c - the "remote" backend: keys are those of an eau2-node on
 * another host (opt.remote, "HOST:PORT"), reached through src/node's
 * remote client over uring_net. eau2_put pushes the local dataframe there
 * (published there only once complete); eau2_get pulls the node's
 * dataframe into the local store, where it is mapped like any other and
 * belongs to no key (released, its files go); eau2_run_key runs on the
 * node and only its result crosses the network.
 *
 * eau2_load_put sends the row groups the loader has joined while it
 * parses the rest (a put in pieces, published there once complete).
 *
 * Every step is bounded by opt.timeout_ms (0: the transport's defaults);
 * errors name the peer. A wait_get longer than one request may ask for is
 * a sequence of bounded waits.
 *
 * Access rules: the state (the client) belongs to the handle and is used
 * by one thread at a time, as the handle is; dataframes it returns live
 * in the local store and need nothing from it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "df/df.h"
#include "node/remote.h"
#include "shm/shm.h"
#include "util/clock.h"

static int remote_open(eau2 *db, struct eau2_error *err)
{
	eau2_remote *r = NULL;
	int rc = eau2_remote_open(&r, db->opt.remote, db->opt.secret_file, db->opt.timeout_ms,
				  err);

	db->be_state = r;
	if (!rc && db->opt.progress)
		eau2_remote_set_progress(r, &(struct eau2_remote_progress){
						    db->opt.progress, db->opt.progress_ctx });
	return rc;
}

static void remote_close(eau2 *db)
{
	eau2_remote_close(db->be_state);
	db->be_state = NULL;
}

static int remote_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	return eau2_remote_put(db->be_state, key, df, 0, eau2_df_ngroups(df), err);
}

/*
 * A load streamed to the node. The loader's hook (stream_joined, under the
 * loader's lock) hands the row groups joined since the last piece, as a
 * snapshot of its builder (nothing copied), to a sender thread whenever
 * that thread is idle; the sender pushes each piece on the put's
 * connection. When the load is done, the groups left make the last piece,
 * then END. A load that starts again with a new builder (CSV types
 * widened) sends its next piece with RESTART: the node drops what came
 * before. Any failure closes the connection, which drops the put there.
 *
 * When the caller keeps no copy (discard), the hook gives the builder
 * back the groups already sent (eau2_builder_discard: their pages are
 * written again by the groups parsed next), and holds the
 * parse back while more than eau2_load_stream_window() bytes of groups
 * wait to be sent: the client's store holds what is in flight, not the
 * whole file, however slow the link.
 *
 * Access rules. id, taken, restart, freed, counted and seen are the
 * hook's (the loader's lock), read by the caller once the load returned;
 * piece, piece_restart, piece_id, piece_to, piece_end, sent_id, sent_to,
 * sent_end, busy, end, rc and err are under mu; chunks is the sender's
 * until it is joined. The connection is the sender's from begin to its
 * join, then the caller's.
 */
#define STREAM_PING_S 1 /* an idle sender PINGs the node this often */

struct stream {
	eau2_remote *r;
	const char *key;
	uint64_t req;
	uint64_t id;          /* the builder streamed; 0: none yet */
	size_t taken;         /* its groups handed to the sender */
	bool restart;         /* the next piece starts the put again */
	bool discard;         /* the caller keeps no copy: give back what was sent */
	size_t freed;         /* groups [0, freed) of builder id discarded */
	size_t counted;       /* groups [0, counted) of builder id ... */
	uint64_t seen;        /* ... hold seen bytes */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	eau2_df *piece;       /* handed over, not yet sent */
	bool piece_restart;
	uint64_t piece_id, sent_id; /* the builder of the piece, of the last sent */
	size_t piece_to, sent_to;   /* the group after it, after the last sent */
	uint64_t piece_end, sent_end; /* the bytes of the groups before those */
	bool busy, end;
	int rc;
	struct eau2_error err;
	uint64_t chunks;      /* sent since the last restart */
	bool sent;            /* a piece went */
};

static void stream_fail(struct stream *s, int rc, const struct eau2_error *e)
{
	pthread_mutex_lock(&s->mu);
	if (!s->rc) {
		s->rc = rc;
		s->err = *e;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Sends groups [first, ngroups) of df as a piece; counts its chunks. */
static int stream_send(struct stream *s, const eau2_df *df, size_t first, bool restart,
		       struct eau2_error *err)
{
	size_t n = eau2_df_ngroups(df) - first;
	int rc = eau2_remote_put_piece(s->r, s->req, df, first, n, restart, err);

	if (!rc) {
		s->chunks = (restart ? 0 : s->chunks) + (uint64_t)n * eau2_df_ncols(df);
		s->sent = true;
	}
	return rc;
}

static void *stream_sender(void *arg)
{
	struct stream *s = arg;

	for (;;) {
		struct eau2_error e = {0};
		eau2_df *piece;
		bool restart;
		int rc;

		pthread_mutex_lock(&s->mu);
		while (!s->piece && !s->end && !s->rc) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += STREAM_PING_S;
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT ||
			    s->piece || s->end || s->rc)
				continue;
			/* Idle while the parse goes on: the node gives each
			 * frame its timeout, and a PING is one. */
			pthread_mutex_unlock(&s->mu);
			rc = eau2_remote_put_ping(s->r, &e);
			if (rc)
				stream_fail(s, rc, &e);
			pthread_mutex_lock(&s->mu);
		}
		if (!s->piece || s->rc) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		piece = s->piece;
		restart = s->piece_restart;
		s->piece = NULL;
		s->busy = true;
		pthread_mutex_unlock(&s->mu);
		rc = stream_send(s, piece, 0, restart, &e);
		eau2_df_release(piece);
		pthread_mutex_lock(&s->mu);
		s->busy = false;
		if (!rc) {
			s->sent_id = s->piece_id;
			s->sent_to = s->piece_to;
			s->sent_end = s->piece_end;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (rc) {
			stream_fail(s, rc, &e);
			return NULL;
		}
	}
}

/* The load's hook: false (stop the load) once a piece failed. */
static bool stream_joined(void *arg, eau2_builder *root)
{
	struct stream *s = arg;
	size_t n = eau2_builder_groups(root);
	uint64_t id = eau2_builder_id(root);
	bool go;

	pthread_mutex_lock(&s->mu);
	if (s->id != id) {
		if (s->id) { /* the load started again: what it sent is not the result */
			s->restart = true;
			eau2_df_release(s->piece);
			s->piece = NULL;
		}
		if (s->discard)
			eau2_builder_recycle(root);
		s->id = id;
		s->taken = 0;
		s->freed = 0;
		s->counted = 0;
		s->seen = 0;
	}
	for (; s->discard && s->counted < n; s->counted++)
		s->seen += eau2_builder_group_bytes(root, s->counted);
	/* Backpressure: the parse waits while the sender lags a window. */
	while (s->discard && !s->rc && (s->piece || s->busy) &&
	       s->seen - (s->sent_id == id ? s->sent_end : 0) > eau2_load_stream_window())
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->discard && s->sent_id == id && s->sent_to > s->freed) {
		/* Best effort: groups left in place cost memory, nothing else. */
		(void)eau2_builder_discard(root, s->freed, s->sent_to, NULL);
		s->freed = s->sent_to;
	}
	if (!s->rc && !s->piece && !s->busy && n > s->taken) {
		struct eau2_error e = {0};
		int rc = eau2_builder_snapshot(root, s->taken, n, &s->piece, &e);

		if (rc) {
			s->rc = rc;
			s->err = e;
		} else {
			s->piece_restart = s->restart;
			s->piece_id = id;
			s->piece_to = n;
			s->piece_end = s->seen;
			s->restart = false;
			s->taken = n;
			pthread_cond_broadcast(&s->cv);
		}
	}
	go = !s->rc;
	pthread_mutex_unlock(&s->mu);
	return go;
}

/* Stops the sender once it sent what it holds; its error, if any. */
static int stream_join(struct stream *s, pthread_t t, struct eau2_error *err)
{
	pthread_mutex_lock(&s->mu);
	s->end = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(t, NULL);
	eau2_df_release(s->piece);
	s->piece = NULL;
	if (s->rc && err)
		*err = s->err;
	return s->rc;
}

/* The last piece (the groups the hook did not hand over, or all of them
 * when the result is not the builder streamed), then END. */
static int stream_finish(struct stream *s, const eau2_df *df, struct eau2_error *err)
{
	size_t first = s->taken;
	bool restart = s->restart;
	int rc;

	if (s->id != eau2_df_store_id(df)) {
		first = 0;
		restart = true;
	}
	if (!s->sent || first < eau2_df_ngroups(df)) {
		if (s->sent && restart && eau2_df_ngroups(df) == 0) {
			/* Nothing to start again with: a plain put of it. */
			eau2_remote_put_abort(s->r);
			return eau2_remote_put(s->r, s->key, df, 0, 0, err);
		}
		if ((rc = stream_send(s, df, first, restart, err)))
			return rc;
	}
	return eau2_remote_put_end(s->r, s->req, s->chunks, err);
}

static int remote_load_put(eau2 *db, const char *path, const char *key,
			   const struct eau2_load_options *opt, eau2_df **df,
			   struct eau2_load_stats *stats, struct eau2_error *err)
{
	struct stream s = { .r = db->be_state, .key = key, .discard = !df };
	eau2_df *out = NULL;
	pthread_t t;
	int rc;

	if (df)
		*df = NULL;
	if ((rc = eau2_remote_put_begin(s.r, key, &s.req, err)))
		return rc;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	/* One progress bar: the load's (the pieces are its output). */
	eau2_remote_set_progress(s.r, &(struct eau2_remote_progress){ NULL, NULL });
	if ((rc = pthread_create(&t, NULL, stream_sender, &s))) {
		rc = eau2_error_set(err, -rc, "put '%s': cannot start a thread: %s", key,
				    strerror(rc));
		eau2_remote_put_abort(s.r);
		goto out;
	}
	rc = eau2_load_stream_in(db->store, path, opt, stream_joined, &s, &out, stats, err);
	if (rc) {
		/* Stopped for a failed piece: that piece's error. */
		int failed = stream_join(&s, t, rc == -ECANCELED ? err : NULL);

		rc = rc == -ECANCELED && failed ? failed : rc;
		eau2_remote_put_abort(s.r);
	} else if ((rc = stream_join(&s, t, err)) || (rc = stream_finish(&s, out, err))) {
		eau2_remote_put_abort(s.r);
	}
	if (rc || !df)
		eau2_df_release(out);
	else
		*df = out;
out:
	eau2_remote_set_progress(s.r, &(struct eau2_remote_progress){ db->opt.progress,
								      db->opt.progress_ctx });
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	return rc;
}

static int remote_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	return eau2_remote_get(db->be_state, db, key, 0, UINT64_MAX, -1, df, err);
}

static int remote_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
			   struct eau2_error *err)
{
	int64_t deadline = eau2_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		int64_t t0 = eau2_mono_ms(), left = timeout_ms < 0 ? EAU2_REMOTE_WAIT_SLICE_MS
							       : deadline - t0;
		int rc;

		if (left > EAU2_REMOTE_WAIT_SLICE_MS)
			left = EAU2_REMOTE_WAIT_SLICE_MS;
		if (left < 1)
			left = 1;
		rc = eau2_remote_get(db->be_state, db, key, 0, UINT64_MAX, (int)left, df, err);
		if (rc != -ETIMEDOUT && rc != -ENOENT)
			return rc;
		if (timeout_ms >= 0 && eau2_mono_ms() >= deadline)
			return eau2_error_set(err, -ETIMEDOUT, "peer %s: key '%s' did not appear "
					      "within %d ms", eau2_remote_addr(db->be_state), key,
					      timeout_ms);
		/* A node whose workers are all busy waiting answers at once:
		 * ask again a little later, not in a tight loop. */
		if (rc == -ENOENT && eau2_mono_ms() - t0 < left) {
			int64_t pause = left < 100 ? left : 100;
			struct timespec ts = { 0, (long)pause * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
}

static int remote_del(eau2 *db, const char *key, struct eau2_error *err)
{
	return eau2_remote_delete(db->be_state, key, err);
}

static int remote_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_remote_list(db->be_state, keys, n, err);
}

/* Garbage on the node is the node's: its own store's gc. Here, the local
 * store's, where pulled dataframes are built. */
static int remote_gc(eau2 *db, struct eau2_error *err)
{
	return eau2_shm_gc(db->store, err);
}

static int remote_stat(eau2 *db, const char *key, struct eau2_stat *st,
		       struct eau2_error *err)
{
	struct eau2_remote_desc d;
	int rc = eau2_remote_stat(db->be_state, key, &d, err);

	if (rc)
		return rc;
	*st = (struct eau2_stat){ .rows = d.rows, .bytes = d.bytes, .ngroups = d.ngroups,
				  .schema = d.schema };
	d.schema = NULL;
	eau2_remote_desc_free(&d);
	return 0;
}

static int remote_get_head(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
			   struct eau2_error *err)
{
	struct eau2_remote_desc d;
	uint64_t have = 0;
	size_t groups = 0;
	int rc;

	/* Row groups may be shorter than EAU2_CHUNK_ROWS (a parallel load's
	 * split points): the descriptor says how many hold `rows`. */
	if ((rc = eau2_remote_stat(db->be_state, key, &d, err)))
		return rc;
	while (groups < d.ngroups && have < rows)
		have += d.group_rows[groups++];
	eau2_remote_desc_free(&d);
	return eau2_remote_get(db->be_state, db, key, 0, groups, -1, df, err);
}

static int remote_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
			  const struct eau2_args *args, const struct eau2_run_options *opt,
			  const char *as, eau2_df **result, struct eau2_error *err)
{
	uint64_t rows;

	return eau2_remote_run(db->be_state, db, cls->name, args, key, as,
			       opt ? opt->threads : 0, result, &rows, err);
}

const struct eau2_backend eau2_backend_remote = {
	.name = "remote",
	.open = remote_open,
	.close = remote_close,
	.put = remote_put,
	.load_put = remote_load_put,
	.get = remote_get,
	.wait_get = remote_wait_get,
	.del = remote_del,
	.list = remote_list,
	.gc = remote_gc,
	.stat = remote_stat,
	.get_head = remote_get_head,
	.run_key = remote_run_key,
};
