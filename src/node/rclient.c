/* SPDX-License-Identifier: MIT */
/*
 * rclient.c - the client of a remote eau2-node (remote.h): one
 * authenticated connection, made at open (so a wrong secret or a node
 * that is not there fails eau2_open) and made again on the next call
 * after a transport error left it unusable. Every step is bounded by the
 * handle's timeout; errors name the peer.
 *
 * Access rules: a handle belongs to one thread at a time (that of the eau2
 * handle holding it), but for eau2_remote_abort from another: cmu guards
 * the connection pointer's changes (the owner reads it without).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "df/df.h"
#include "node/node.h"
#include "node/remote.h"
#include "util/clock.h"

struct eau2_remote {
	char *addr;
	pthread_mutex_t cmu;    /* c's changes, for eau2_remote_abort's thread */
	char node_id[EAU2_NET_NAME_MAX + 1];
	struct eau2_net_opts o;
	eau2_net_conn *c;
	uint64_t next_req;
	struct eau2_remote_progress progress;
	int64_t last_ms; /* when the connection last served a call */
};

/* A connection idle this long is PINGed before use: the node may have
 * closed it (its idle timeout) or restarted, and a call should not fail
 * for that. */
#define STALE_MS 30000

/* Closes the connection (the next call connects again). */
static void drop_conn(eau2_remote *r)
{
	pthread_mutex_lock(&r->cmu);
	eau2_net_close(r->c);
	r->c = NULL;
	pthread_mutex_unlock(&r->cmu);
}

static int reconnect(eau2_remote *r, struct eau2_error *err)
{
	eau2_net_conn *c;
	int rc;

	if (r->c && eau2_mono_ms() - r->last_ms > STALE_MS && eau2_net_ping(r->c, NULL, NULL)) {
		drop_conn(r);
	}
	r->last_ms = eau2_mono_ms();
	if (r->c)
		return 0;
	if ((rc = eau2_net_connect(&c, r->addr, &r->o, err)))
		return rc;
	eau2_remote_tune(c);
	pthread_mutex_lock(&r->cmu);
	r->c = c;
	pthread_mutex_unlock(&r->cmu);
	return 0;
}

/* After an exchange: a connection an error left mid-stream is closed
 * (the next call connects again); a refusal leaves it usable. */
static int done(eau2_remote *r, int rc)
{
	r->last_ms = eau2_mono_ms();
	if (rc && r->c && eau2_net_broken(r->c)) {
		drop_conn(r);
	}
	return rc;
}

int eau2_remote_open(eau2_remote **out, const char *addr, const char *secret_file,
		     int timeout_ms, struct eau2_error *err)
{
	return eau2_remote_open_bounded(out, addr, secret_file, timeout_ms, timeout_ms, err);
}

int eau2_remote_open_bounded(eau2_remote **out, const char *addr, const char *secret_file,
			     int timeout_ms, int connect_ms, struct eau2_error *err)
{
	eau2_remote *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (!r || !(r->addr = strdup(addr))) {
		free(r);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&r->cmu, NULL);
	snprintf(r->node_id, sizeof(r->node_id), "client-%ld", (long)getpid());
	r->o.ident = (struct eau2_net_ident){ .cluster = EAU2_REMOTE_CLUSTER,
					      .node_id = r->node_id,
					      .role = EAU2_NET_ROLE_CLIENT };
	if (timeout_ms > 0)
		r->o.io_timeout_ms = timeout_ms;
	if (connect_ms > 0)
		r->o.connect_timeout_ms = r->o.handshake_timeout_ms = connect_ms;
	if (secret_file) {
		rc = eau2_net_secret_load(secret_file, r->o.ident.secret, err);
		if (rc)
			goto fail;
		r->o.ident.has_secret = true;
	}
	if ((rc = reconnect(r, err)))
		goto fail;
	*out = r;
	return 0;
fail:
	eau2_remote_close(r);
	return rc;
}

void eau2_remote_close(eau2_remote *r)
{
	if (!r)
		return;
	eau2_net_close(r->c);
	sodium_memzero(r->o.ident.secret, sizeof(r->o.ident.secret));
	pthread_mutex_destroy(&r->cmu);
	free(r->addr);
	free(r);
}

void eau2_remote_abort(eau2_remote *r)
{
	pthread_mutex_lock(&r->cmu);
	if (r->c)
		shutdown(eau2_net_fd(r->c), SHUT_RDWR);
	pthread_mutex_unlock(&r->cmu);
}

const char *eau2_remote_addr(const eau2_remote *r)
{
	return r->addr;
}

void eau2_remote_set_progress(eau2_remote *r, const struct eau2_remote_progress *pr)
{
	r->progress = *pr;
}

/* Sends a request whose payload is p (len bytes); *req its id. */
static int request(eau2_remote *r, uint16_t type, const void *p, size_t len, uint64_t *req,
		   struct eau2_error *err)
{
	struct eau2_net_frame f = { .type = type, .len = (uint32_t)len };
	int rc = reconnect(r, err);

	if (rc)
		return rc;
	f.req = *req = ++r->next_req;
	return eau2_net_send(r->c, &f, p, err);
}

static int key_request(eau2_remote *r, uint16_t type, const char *key, uint64_t *req,
		       struct eau2_error *err)
{
	size_t l = strlen(key);

	if (l == 0 || l > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "key of %zu bytes (1 to %u)", l, EAU2_KEY_MAX);
	return request(r, type, key, l, req, err);
}

/* The next reply header, of type want (0: any) to request req; a
 * refusal (an ERROR frame) comes back as its code. */
static int reply(eau2_remote *r, uint64_t req, struct eau2_net_frame *f, uint16_t want,
		 struct eau2_error *err)
{
	int rc = eau2_net_recv_hdr(r->c, f, err);

	if (rc)
		return rc;
	if (f->req != req || (want && f->type != want)) {
		/* Out of step: the stream cannot be trusted any more. */
		drop_conn(r);
		return eau2_error_set(err, -EPROTO, "peer %s: a reply of type 0x%x to request "
				      "%llu, expected 0x%x to %llu", r->addr, f->type,
				      (unsigned long long)f->req, want, (unsigned long long)req);
	}
	return 0;
}

/* Reads an empty reply of type want. */
static int simple_reply(eau2_remote *r, uint64_t req, uint16_t want, struct eau2_net_frame *f,
			struct eau2_error *err)
{
	int rc = reply(r, req, f, want, err);

	if (!rc && f->len) {
		rc = eau2_error_set(err, -EPROTO, "peer %s: a reply of %u bytes, expected none",
				    r->addr, f->len);
		drop_conn(r);
	}
	return rc;
}

int eau2_remote_list(eau2_remote *r, char ***keys, size_t *n, struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t req = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	if ((rc = request(r, EAU2_REMOTE_LIST, NULL, 0, &req, err)))
		return done(r, rc);
	do {
		uint8_t *p;

		if ((rc = reply(r, req, &f, EAU2_REMOTE_KEYS, err)))
			break;
		if (f.len > EAU2_REMOTE_LIST_MAX - len) {
			rc = eau2_error_set(err, -EMSGSIZE, "peer %s: a key list over %u bytes",
					    r->addr, EAU2_REMOTE_LIST_MAX);
			drop_conn(r);
			break;
		}
		p = realloc(buf, len + f.len + 1);
		if (!p) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			drop_conn(r);
			break;
		}
		buf = p;
		if ((rc = eau2_net_recv_payload(r->c, &f, buf + len, err)))
			break;
		len += f.len;
	} while (f.flags & EAU2_REMOTE_F_MORE);
	if (!rc && (rc = eau2_node_list_decode(buf, len, keys, n, err)))
		eau2_error_prefix(err, rc, "peer %s", r->addr);
	free(buf);
	return done(r, rc);
}

int eau2_remote_stat(eau2_remote *r, const char *key, struct eau2_remote_desc *d,
		     struct eau2_error *err)
{
	uint64_t req = 0;
	int rc;

	memset(d, 0, sizeof(*d));
	if ((rc = key_request(r, EAU2_REMOTE_STAT, key, &req, err)))
		return done(r, rc);
	rc = eau2_remote_recv_desc(r->c, NULL, d, err);
	return done(r, rc);
}

/* Receives a dataframe stream (GET's and RUN's reply) into db. */
static int recv_df(eau2_remote *r, uint64_t req, eau2 *db, eau2_df **df,
		   struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	int rc = reply(r, req, &f, EAU2_REMOTE_DESC, err);

	if (!rc)
		rc = eau2_remote_recv_df(r->c, req, &f, db, &r->progress, df, err);
	if (rc && r->c && !eau2_net_broken(r->c) && f.type == EAU2_REMOTE_DESC) {
		/* Failed on our side mid-stream (the store is full): the
		 * rest of the stream is still coming. */
		drop_conn(r);
	}
	return done(r, rc);
}

int eau2_remote_get(eau2_remote *r, eau2 *db, const char *key, uint64_t first,
		    uint64_t max_groups, int wait_ms, eau2_df **df, struct eau2_error *err)
{
	struct eau2_remote_get_req g = { .first = first, .max_groups = max_groups,
					 .wait_ms = wait_ms > 0 ? (uint32_t)wait_ms : 0 };
	uint8_t p[20 + EAU2_KEY_MAX];
	uint64_t req = 0;
	size_t len, l = strlen(key);
	int rc;

	*df = NULL;
	if (l == 0 || l > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "key of %zu bytes (1 to %u)", l, EAU2_KEY_MAX);
	memcpy(g.key, key, l + 1);
	if (g.wait_ms > EAU2_REMOTE_WAIT_SLICE_MS)
		g.wait_ms = EAU2_REMOTE_WAIT_SLICE_MS;
	eau2_remote_get_encode(&g, p, &len);
	if ((rc = request(r, EAU2_REMOTE_GET, p, len, &req, err)))
		return done(r, rc);
	return recv_df(r, req, db, df, err);
}

int eau2_remote_put_begin(eau2_remote *r, const char *key, uint64_t *req,
			  struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	int rc;

	if ((rc = key_request(r, EAU2_REMOTE_PUT, key, req, err)) ||
	    (rc = simple_reply(r, *req, EAU2_REMOTE_GO, &f, err)))
		return done(r, rc);
	return 0;
}

int eau2_remote_put_piece(eau2_remote *r, uint64_t req, const eau2_df *df, size_t first,
			  size_t n, bool restart, struct eau2_error *err)
{
	int rc = eau2_remote_send_df(r->c, req, df, first, n,
				     restart ? EAU2_REMOTE_F_RESTART : 0, &r->progress, err);

	if (rc)
		eau2_remote_put_abort(r);
	return rc;
}

int eau2_remote_put_end(eau2_remote *r, uint64_t req, uint64_t chunks, struct eau2_error *err)
{
	struct eau2_net_frame f = { .type = EAU2_REMOTE_END, .req = req, .aux = { chunks } };
	int rc = eau2_net_send(r->c, &f, NULL, err);

	if (!rc)
		rc = simple_reply(r, req, EAU2_REMOTE_OK, &f, err);
	if (rc && r->c) {
		/* A node that refused half-way drops what follows: this
		 * connection is done. */
		drop_conn(r);
	}
	return rc;
}

int eau2_remote_put_ping(eau2_remote *r, struct eau2_error *err)
{
	int rc = r->c ? eau2_net_ping(r->c, NULL, err) :
		 eau2_error_set(err, -ENOTCONN, "peer %s: the put's connection is gone", r->addr);

	if (rc)
		eau2_remote_put_abort(r);
	return rc;
}

void eau2_remote_put_abort(eau2_remote *r)
{
	/* The node holds a half transfer: only closing drops it. */
	drop_conn(r);
}

int eau2_remote_put(eau2_remote *r, const char *key, const eau2_df *df, size_t first,
		    size_t n, struct eau2_error *err)
{
	uint64_t req = 0;
	int rc;

	if ((rc = eau2_remote_put_begin(r, key, &req, err)) ||
	    (rc = eau2_remote_put_piece(r, req, df, first, n, false, err)))
		return rc;
	return eau2_remote_put_end(r, req, (uint64_t)n * eau2_df_ncols(df), err);
}

int eau2_remote_delete(eau2_remote *r, const char *key, struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	uint64_t req = 0;
	int rc;

	if (!(rc = key_request(r, EAU2_REMOTE_DELETE, key, &req, err)))
		rc = simple_reply(r, req, EAU2_REMOTE_OK, &f, err);
	return done(r, rc);
}

int eau2_remote_pull(eau2_remote *r, const char *from, const char *key, uint64_t rate,
		     uint64_t *bytes, struct eau2_error *err)
{
	struct eau2_remote_pull_req q = { .rate = rate };
	struct eau2_net_frame f = {0};
	uint8_t p[12 + EAU2_REMOTE_ADDR_MAX + EAU2_KEY_MAX];
	uint64_t req = 0;
	size_t len;
	int rc;

	if (bytes)
		*bytes = 0;
	if (strlen(from) > EAU2_REMOTE_ADDR_MAX || strlen(key) > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "pull: address or key too long");
	strcpy(q.from, from);
	strcpy(q.key, key);
	if ((rc = eau2_remote_pull_encode(&q, p, &len, err)))
		return rc;
	if (!(rc = request(r, EAU2_REMOTE_PULL, p, len, &req, err)) &&
	    !(rc = simple_reply(r, req, EAU2_REMOTE_OK, &f, err)) && bytes)
		*bytes = f.aux[0];
	if (rc)
		eau2_error_prefix(err, rc, "node %s pulling '%s' from %s", r->addr, key, from);
	return done(r, rc);
}

int eau2_remote_ping(eau2_remote *r, uint64_t *rtt_us, struct eau2_error *err)
{
	int rc = reconnect(r, err);

	if (!rc)
		rc = eau2_net_ping(r->c, rtt_us, err);
	if (rc && r->c && !eau2_net_broken(r->c)) {
		/* A PONG that never came may still: the stream is out of step. */
		drop_conn(r);
	}
	return done(r, rc);
}

/* Sends a RUN or RUN_STATE request; *req its id. */
static int run_request(eau2_remote *r, uint16_t type, const char *rower,
		       const struct eau2_args *args, const char *key, const char *as,
		       unsigned threads, uint64_t *req, struct eau2_error *err)
{
	static const struct eau2_args none;
	struct eau2_remote_run_req q = { .rower = rower, .key = key, .as = as,
					 .threads = threads, .args = args ? *args : none };
	uint8_t *p;
	size_t len;
	int rc;

	if ((rc = eau2_remote_run_encode(&q, &p, &len, err)))
		return rc;
	rc = request(r, type, p, len, req, err);
	free(p);
	return rc;
}

int eau2_remote_run(eau2_remote *r, eau2 *db, const char *rower, const struct eau2_args *args,
		    const char *key, const char *as, unsigned threads, eau2_df **result,
		    uint64_t *rows, struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	uint64_t req = 0;
	int rc;

	*result = NULL;
	*rows = 0;
	if ((rc = run_request(r, EAU2_REMOTE_RUN, rower, args, key, as, threads, &req, err)))
		return done(r, rc);
	if (as && as[0]) {
		if (!(rc = simple_reply(r, req, EAU2_REMOTE_OK, &f, err)))
			*rows = f.aux[0];
		return done(r, rc);
	}
	rc = recv_df(r, req, db, result, err);
	if (!rc)
		*rows = eau2_df_rows(*result);
	return rc;
}

int eau2_remote_run_state_at(eau2_remote *r, const char *rower, const struct eau2_args *args,
			     const char *key, unsigned threads, void **state, size_t *len,
			     struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	uint8_t *buf = NULL;
	uint64_t req = 0;
	int rc;

	*state = NULL;
	*len = 0;
	rc = run_request(r, EAU2_REMOTE_RUN_STATE, rower, args, key, NULL, threads, &req, err);
	if (!rc && !(rc = reply(r, req, &f, EAU2_REMOTE_STATE, err)))
		rc = eau2_remote_recv_parts(r->c, &f, EAU2_REMOTE_STATE, 0, EAU2_REMOTE_STATE_MAX,
					    &buf, len, err);
	if (rc && r->c && f.type == EAU2_REMOTE_STATE) {
		/* Cut inside the state's parts: out of step. */
		drop_conn(r);
	}
	*state = buf;
	return done(r, rc);
}
