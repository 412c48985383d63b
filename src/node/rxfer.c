/* SPDX-License-Identifier: MIT */
/*
 * rxfer.c - a dataframe over a connection, both ways (remote.h): the
 * sender streams its descriptor then every chunk, group-major, straight
 * from the mapped segments; the receiver builds a new dataframe of its
 * store chunk by chunk through one reusable buffer, so neither side
 * holds more than a chunk (and the codec's scratch) whatever the size.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "df/df.h"
#include "node/remote.h"

/* ---------------------------------------------------------------- send */

void eau2_remote_tune(eau2_net_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(eau2_net_fd(c), (struct sockaddr *)&ss, &len) == 0 &&
	    eau2_net_addr_is_loopback((struct sockaddr *)&ss))
		eau2_net_set_policy(c, EAU2_NET_FORCE_NONE);
}

/* eau2_remote_send_parts, with flags on every part too. */
static int send_parts(eau2_net_conn *c, uint64_t req, uint16_t type, uint16_t flags,
		      const void *p, size_t len, struct eau2_error *err)
{
	size_t off = 0;
	int rc = 0;

	do {
		size_t part = len - off > EAU2_NET_CONTROL_MAX ? EAU2_NET_CONTROL_MAX : len - off;
		struct eau2_net_frame f = {
			.type = type, .req = req, .len = (uint32_t)part,
			.flags = flags | (off + part < len ? EAU2_REMOTE_F_MORE : 0),
			.aux = { len },
		};

		rc = eau2_net_send(c, &f, (const uint8_t *)p + off, err);
		off += part;
	} while (!rc && off < len);
	return rc;
}

int eau2_remote_send_parts(eau2_net_conn *c, uint64_t req, uint16_t type, const void *p,
			  size_t len, struct eau2_error *err)
{
	return send_parts(c, req, type, 0, p, len, err);
}

static int send_desc(eau2_net_conn *c, uint64_t req, const eau2_df *df, size_t first,
		     size_t n, uint16_t flags, struct eau2_error *err)
{
	uint8_t *d;
	size_t len;
	int rc;

	if ((rc = eau2_remote_desc_encode(df, first, n, &d, &len, err)))
		return rc;
	rc = send_parts(c, req, EAU2_REMOTE_DESC, flags, d, len, err);
	free(d);
	return rc;
}

int eau2_remote_send_desc(eau2_net_conn *c, uint64_t req, const eau2_df *df, size_t first,
			  size_t n, struct eau2_error *err)
{
	return send_desc(c, req, df, first, n, 0, err);
}

/* Whether the peer said something while we stream (it only does to
 * refuse: the store there is full, a chunk was wrong): then its ERROR
 * frame is read and returned, rather than a reset later. */
static int peer_spoke(eau2_net_conn *c, struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	char b;
	int rc;

	if (recv(eau2_net_fd(c), &b, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
		return 0;
	rc = eau2_net_recv_hdr(c, &f, err);
	if (rc)
		return rc;
	return eau2_error_set(err, -EPROTO, "peer %s: a frame of type 0x%x in the middle of "
			      "a transfer", eau2_net_peer(c), f.type);
}

int eau2_remote_send_df(eau2_net_conn *c, uint64_t req, const eau2_df *df, size_t first,
			size_t n, uint16_t flags, const struct eau2_remote_progress *pr,
			struct eau2_error *err)
{
	size_t ncols = eau2_df_ncols(df);
	uint64_t done = 0, total = n == eau2_df_ngroups(df) ? eau2_df_bytes(df) : 0;
	int rc = send_desc(c, req, df, first, n, flags, err);

	for (size_t g = first; !rc && g < first + n; g++)
		for (size_t col = 0; !rc && col < ncols; col++) {
			const struct eau2_chunk_ref *ref = &df->chunk_refs[g * ncols + col];
			struct eau2_chunk_view v;

			/* The first view checks the header against its segment. */
			if ((rc = eau2_df_chunk(df, col, g, &v, err)) || (rc = peer_spoke(c, err)))
				break;
			rc = eau2_net_send_chunk(c, df->segs[ref->seg].base + ref->off, req,
						 (g - first) * ncols + col, err);
			done += ((const struct eau2_chunk_hdr *)(const void *)
				 (df->segs[ref->seg].base + ref->off))->total_len;
			if (!rc && pr && pr->fn)
				pr->fn(pr->ctx, done, total);
		}
	return rc;
}

/* ------------------------------------------------------------- receive */

int eau2_remote_recv_parts(eau2_net_conn *c, const struct eau2_net_frame *first,
			  uint16_t type, size_t min, size_t max, uint8_t **out, size_t *len,
			  struct eau2_error *err)
{
	struct eau2_net_frame f = {0};
	uint8_t *buf = NULL;
	size_t total = 0, off = 0;
	int rc = 0;

	*out = NULL;
	*len = 0;
	for (;;) {
		if (first) {
			f = *first;
			first = NULL;
		} else if ((rc = eau2_net_recv_hdr(c, &f, err))) {
			goto out;
		}
		if (f.type != type) {
			rc = eau2_error_set(err, -EPROTO, "peer %s: a frame of type 0x%x instead "
					    "of 0x%x", eau2_net_peer(c), f.type, type);
			goto out;
		}
		if (!buf) {
			total = f.aux[0];
			if (total > max || total < min) {
				rc = eau2_error_set(err, -EBADMSG, "peer %s: a reply of %zu bytes "
						    "(type 0x%x: %zu to %zu)", eau2_net_peer(c),
						    total, type, min, max);
				goto out;
			}
			if (!(buf = malloc(total ? total : 1))) {
				rc = eau2_error_set(err, -ENOMEM, "out of memory for %zu bytes", total);
				goto out;
			}
		}
		/* Every part but the last carries bytes: a peer cannot keep
		 * us reading empty parts. */
		if (f.aux[0] != total || f.len > total - off ||
		    (!f.len && (f.flags & EAU2_REMOTE_F_MORE))) {
			rc = eau2_error_set(err, -EBADMSG, "peer %s: parts overrun their %zu bytes",
					    eau2_net_peer(c), total);
			goto out;
		}
		if ((rc = eau2_net_recv_payload(c, &f, buf + off, err)))
			goto out;
		off += f.len;
		if (!(f.flags & EAU2_REMOTE_F_MORE))
			break;
	}
	if (off != total) {
		rc = eau2_error_set(err, -EBADMSG, "peer %s: %zu bytes announced, %zu came",
				    eau2_net_peer(c), total, off);
		goto out;
	}
	*out = buf;
	*len = total;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int eau2_remote_recv_desc(eau2_net_conn *c, const struct eau2_net_frame *first,
			  struct eau2_remote_desc *d, struct eau2_error *err)
{
	uint8_t *buf;
	size_t len;
	int rc;

	memset(d, 0, sizeof(*d));
	rc = eau2_remote_recv_parts(c, first, EAU2_REMOTE_DESC, 32, EAU2_REMOTE_DESC_MAX, &buf,
				    &len, err);
	if (rc)
		return rc;
	rc = eau2_remote_desc_decode(buf, len, d, err);
	if (rc)
		eau2_error_prefix(err, rc, "peer %s", eau2_net_peer(c));
	free(buf);
	return rc;
}

/* The receiving side: the connection's thread receives chunks into a
 * window of RX_WINDOW buffers (each as large as the largest chunk so far)
 * and a writer thread appends them to the builder (a pwrite each), so
 * receiving and writing into the store overlap, and memory stays at the
 * window whatever the dataframe's size.
 *
 * Access rules: slot i belongs to the receiver while !full, to the writer
 * while full; full, stop and the writer's error are guarded by mu. The
 * builder belongs to the writer from its start to its join. */
#define RX_WINDOW 3

struct slot {
	uint8_t *buf;
	uint64_t cap;
	uint64_t len; /* of the chunk in it */
	size_t col;
	int full;
};

struct sink {
	const struct eau2_remote_desc *d; /* the piece being received */
	uint64_t expect;   /* tag of the chunk due (from 0 in each piece) */
	uint64_t group0;   /* row groups of the pieces before this one */
	uint64_t seq;      /* chunks received for the writer: its slot order */
	struct slot slots[RX_WINDOW];
	struct slot *cur;  /* the slot being received into */
	/* A chunk that is not the one due is still taken in (then refused):
	 * the stream stays in step, so the refusal can reach the peer. */
	struct eau2_error wrong; /* code 0: the chunk is the one due */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	eau2_builder *b;
	uint64_t written;  /* chunks the writer appended */
	uint64_t done;     /* chunk bytes received */
	int stop;
	int wrc;           /* the writer's error */
	struct eau2_error werr;
};

static void *sink_dst(void *ctx, const struct eau2_chunk_hdr *h, uint64_t tag,
		      struct eau2_error *err)
{
	struct sink *s = ctx;
	struct slot *sl = s->cur;
	size_t ncols = eau2_schema_ncols(s->d->schema);
	size_t g = (size_t)(s->expect / ncols), col = (size_t)(s->expect % ncols);

	s->wrong.code = 0;
	if (tag != s->expect || h->type != eau2_schema_type(s->d->schema, col) ||
	    h->rows != s->d->group_rows[g])
		eau2_error_set(&s->wrong, -EBADMSG, "chunk %llu: %u %s rows, expected chunk "
			       "%llu: %u %s rows (column '%s', row group %zu)",
			       (unsigned long long)tag, h->rows, eau2_type_name(h->type),
			       (unsigned long long)s->expect, s->d->group_rows[g],
			       eau2_type_name(eau2_schema_type(s->d->schema, col)),
			       eau2_schema_name(s->d->schema, col), (size_t)(s->group0 + g));
	if (h->total_len > sl->cap) {
		uint64_t cap = eau2_align64(h->total_len);

		free(sl->buf);
		sl->buf = aligned_alloc(EAU2_ALIGN, cap);
		sl->cap = sl->buf ? cap : 0;
		if (!sl->buf) {
			eau2_error_set(err, -ENOMEM, "out of memory for a chunk of %llu bytes",
				       (unsigned long long)h->total_len);
			return NULL;
		}
	}
	sl->col = col;
	sl->len = h->total_len;
	return sl->buf;
}

static void *writer(void *arg)
{
	struct sink *s = arg;
	struct eau2_error e = {0};

	for (uint64_t i = 0;; i++) {
		struct slot *sl = &s->slots[i % RX_WINDOW];
		int rc, full;

		pthread_mutex_lock(&s->mu);
		while (!sl->full && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		full = sl->full;
		pthread_mutex_unlock(&s->mu);
		if (!full)
			break;
		rc = eau2_builder_put_chunk(s->b, sl->col, sl->buf, &e);
		pthread_mutex_lock(&s->mu);
		sl->full = 0;
		s->written += !rc;
		if (rc) {
			s->wrc = rc;
			s->werr = e;
		}
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		if (rc)
			break;
	}
	return NULL;
}

/* Receives chunk s->expect into the next free slot and hands it over. */
static int recv_one(eau2_net_conn *c, struct sink *s, struct eau2_error *err)
{
	struct slot *sl = &s->slots[s->seq % RX_WINDOW];
	int rc;

	pthread_mutex_lock(&s->mu);
	while (sl->full && !s->wrc)
		pthread_cond_wait(&s->cv, &s->mu);
	rc = s->wrc;
	pthread_mutex_unlock(&s->mu);
	if (rc) /* the writer failed (the store is full): its error */
		return eau2_error_set(err, rc, "%s", s->werr.msg);
	s->cur = sl;
	rc = eau2_net_recv_chunk(c, NULL, 0, sink_dst, s, NULL, err);
	if (rc == -EBADMSG) { /* the chunk's bytes: say which chunk, as the user knows it */
		size_t ncols = eau2_schema_ncols(s->d->schema);

		eau2_error_prefix(err, rc, "column '%s', row group %zu",
				  eau2_schema_name(s->d->schema, (size_t)(s->expect % ncols)),
				  (size_t)(s->group0 + s->expect / ncols));
	}
	if (!rc && s->wrong.code)
		rc = eau2_error_set(err, s->wrong.code, "peer %s: %s", eau2_net_peer(c),
				    s->wrong.msg);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	sl->full = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->seq++;
	return 0;
}

/* Stops the writer once it has appended what it holds; its error, if any. */
static int writer_join(pthread_t t, struct sink *s, int rc, struct eau2_error *err)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(t, NULL);
	s->stop = 0;
	if (!rc && s->wrc)
		rc = eau2_error_set(err, s->wrc, "%s", s->werr.msg);
	return rc;
}

static bool same_schema(const eau2_schema *a, const eau2_schema *b)
{
	size_t n = eau2_schema_ncols(a);

	if (eau2_schema_ncols(b) != n)
		return false;
	for (size_t col = 0; col < n; col++)
		if (eau2_schema_type(a, col) != eau2_schema_type(b, col) ||
		    strcmp(eau2_schema_name(a, col), eau2_schema_name(b, col)))
			return false;
	return true;
}

/* Stops the writer (once it has appended what it holds) and drops what
 * the builder has: a put that starts again. */
static int sink_reset(struct sink *s, pthread_t t, struct eau2_error *err)
{
	int rc = writer_join(t, s, 0, err);

	eau2_builder_abort(s->b);
	s->b = NULL;
	s->written = 0;
	s->seq = 0;
	return rc;
}

/* The builder of a piece: a new one for the first (and the writer that
 * appends to it), else the one of the pieces before, whose schema this
 * piece must have. */
static int sink_piece(struct sink *s, eau2_net_conn *c, eau2 *db, pthread_t *t,
		      struct eau2_error *err)
{
	int rc;

	if (s->b) {
		if (!same_schema(eau2_builder_schema(s->b), s->d->schema))
			return eau2_error_set(err, -EBADMSG, "peer %s: a piece of another schema "
					      "than the transfer's", eau2_net_peer(c));
		return 0;
	}
	if ((rc = eau2_builder_new(db, s->d->schema, &s->b, err)))
		return rc;
	if ((rc = pthread_create(t, NULL, writer, s))) {
		eau2_builder_abort(s->b);
		s->b = NULL;
		return eau2_error_set(err, -rc, "cannot start a writer thread: %s", strerror(rc));
	}
	return 0;
}

int eau2_remote_recv_df(eau2_net_conn *c, uint64_t req, const struct eau2_net_frame *desc_first,
			eau2 *db, const struct eau2_remote_progress *pr, eau2_df **out,
			struct eau2_error *err)
{
	struct eau2_remote_desc d = {0};
	struct sink s = { .d = &d };
	struct eau2_net_frame f = {0};
	const struct eau2_net_frame *hdr = desc_first;
	uint64_t chunks = 0, rows = 0, bytes = 0; /* of the pieces since a restart */
	uint64_t groups = 0;
	pthread_t t;
	int rc = 0;

	*out = NULL;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	for (bool first = true;; first = false) {
		uint64_t nchunks;

		if (!hdr) {
			if ((rc = eau2_net_recv_hdr(c, &f, err)))
				break;
			hdr = &f;
		}
		if (!first && hdr->type == EAU2_REMOTE_END) {
			if (hdr->req != req || hdr->aux[0] != chunks)
				rc = eau2_error_set(err, -EPROTO, "peer %s: the end of request %llu "
						    "after %llu chunks, where request %llu sent "
						    "%llu", eau2_net_peer(c),
						    (unsigned long long)hdr->req,
						    (unsigned long long)hdr->aux[0],
						    (unsigned long long)req,
						    (unsigned long long)chunks);
			break;
		}
		if (!first && (hdr->flags & EAU2_REMOTE_F_RESTART) && s.b) {
			if ((rc = sink_reset(&s, t, err)))
				break;
			chunks = rows = bytes = groups = 0;
		}
		rc = eau2_remote_recv_desc(c, hdr, &d, err);
		hdr = NULL;
		if (!rc && !first && d.ngroups == 0) /* each piece takes room: no endless stream */
			rc = eau2_error_set(err, -EBADMSG, "peer %s: a piece of no row groups",
					    eau2_net_peer(c));
		if (rc || (rc = sink_piece(&s, c, db, &t, err)))
			break;
		nchunks = (uint64_t)d.ngroups * eau2_schema_ncols(d.schema);
		s.group0 = groups;
		for (s.expect = 0; !rc && s.expect < nchunks; s.expect++) {
			if ((rc = recv_one(c, &s, err)))
				break;
			s.done += s.cur->len;
			if (pr && pr->fn)
				pr->fn(pr->ctx, s.done, bytes + d.bytes);
		}
		chunks += nchunks;
		groups += d.ngroups;
		rows += d.rows;
		bytes += d.bytes;
		eau2_remote_desc_free(&d);
		if (rc)
			break;
	}
	if (s.b) {
		rc = writer_join(t, &s, rc, err);
		if (!rc && s.written != chunks)
			rc = eau2_error_set(err, -EIO, "%llu of %llu chunks written",
					    (unsigned long long)s.written, (unsigned long long)chunks);
		if (!rc) {
			rc = eau2_builder_finish(s.b, out, err);
			s.b = NULL;
		}
	}
	if (!rc && eau2_df_rows(*out) != rows) {
		rc = eau2_error_set(err, -EBADMSG, "peer %s: %llu rows received, %llu announced",
				    eau2_net_peer(c), (unsigned long long)eau2_df_rows(*out),
				    (unsigned long long)rows);
		eau2_df_release(*out);
		*out = NULL;
	}
	pthread_cond_destroy(&s.cv);
	pthread_mutex_destroy(&s.mu);
	eau2_builder_abort(s.b);
	for (int i = 0; i < RX_WINDOW; i++)
		free(s.slots[i].buf);
	eau2_remote_desc_free(&d);
	return rc;
}
