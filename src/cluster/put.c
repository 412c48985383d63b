/* SPDX-License-Identifier: MIT */
/*
 * put.c - a dataframe put on a cluster (eau2_cluster_put): cut into
 * partitions of row groups, placed on the live nodes (place.c), pushed and
 * published in the directory; and a load streamed to the nodes while it
 * parses (eau2_cluster_load).
 *
 * Access rules: driver.h's for the cluster handle and a call's tasks;
 * the stream's own are below.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster/driver.h"
#include "cluster/place.h"
#include "cluster/zk.h"
#include "df/df.h"

/* ------------------------------------------------- put */

/* Bytes of row group g of df, from its chunk views (no data read). */
static int group_bytes(const eau2_df *df, size_t g, uint64_t *out, struct eau2_error *err)
{
	uint64_t b = 0;

	for (size_t c = 0; c < eau2_df_ncols(df); c++) {
		struct eau2_chunk_view v;
		int rc = eau2_df_chunk(df, c, g, &v, err);

		if (rc)
			return rc;
		b += v.validity ? (v.rows + 7) / 8 : 0;
		if (v.type == EAU2_BOOL)
			b += (v.rows + 7) / 8;
		else if (v.type == EAU2_STRING)
			b += 8ull * (v.rows + 1) +
			     (uint64_t)(v.values.offsets[v.rows] - v.values.offsets[0]);
		else
			b += 8ull * v.rows;
	}
	*out = b;
	return 0;
}

struct put_call {
	eau2_cluster *cl;
	const eau2_df *df;
	const struct eau2_members *m;
	const struct eau2_place_range *ranges;
	const uint32_t *place;     /* nparts x r member indices */
	unsigned r;
	uint64_t put;
	unsigned char *pushed;     /* per task */
};

static int push_task(void *arg, size_t t, struct eau2_error *err)
{
	struct put_call *c = arg;
	size_t i = t / c->r;
	const struct eau2_member *node = &c->m->v[c->place[t]];
	char name[EAU2_DIR_PART_NAME_MAX];
	int rc;

	eau2_dir_part_name(c->put, i, name);
	rc = c->cl->ops->push(c->cl->ctx, node, name, c->df, c->ranges[i].group,
			      c->ranges[i].ngroups, err);
	if (rc)
		return eau2_error_prefix(err, rc, "put: partition %zu to node %s (%s)",
					 i, node->id, node->addr);
	c->pushed[t] = 1;
	return 0;
}

int eau2_driver_drop_task(void *arg, size_t t, struct eau2_error *err)
{
	struct drop_call *c = arg;
	char name[EAU2_DIR_PART_NAME_MAX];
	const struct eau2_member *node;
	size_t i;

	if (c->e) {
		size_t j;

		i = t / EAU2_DIR_REPLICAS_MAX;
		j = t % EAU2_DIR_REPLICAS_MAX;
		if (j >= c->e->parts[i].nrep)
			return 0;
		node = eau2_driver_member_of(c->m, eau2_dir_replica(c->e, i, j));
	} else {
		i = t / c->r;
		node = c->pushed[t] ? &c->m->v[c->place[t]] : NULL;
	}
	if (!node)
		return 0;
	eau2_dir_part_name(c->put, i, name);
	(void)c->cl->ops->drop(c->cl->ctx, node, name, err);
	return 0;
}

void eau2_driver_drop_entry(eau2_cluster *cl, const struct eau2_dir_entry *e)
{
	struct eau2_members m;
	struct drop_call c = { .cl = cl, .m = &m, .put = e->put, .e = e };

	if (e->nparts == 0 || eau2_members_list(cl->zk, &m, NULL))
		return;
	eau2_driver_parallel(e->nparts * EAU2_DIR_REPLICAS_MAX, eau2_driver_drop_task, &c, NULL);
	eau2_members_free(&m);
}

/* The entry of a put: the nodes used (compacted), partitions' replicas. */
static int make_entry(struct eau2_dir_entry *e, const char *key, const eau2_df *df,
		      uint64_t put, const struct eau2_members *m,
		      const struct eau2_place_range *ranges, size_t nparts,
		      const uint32_t *place, unsigned r, struct eau2_error *err)
{
	uint32_t *map;
	int rc;

	memset(e, 0, sizeof(*e));
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->put = put;
	e->created_ms = (int64_t)time(NULL) * 1000;
	map = malloc((m->n + 1) * sizeof(*map));
	e->nodes = calloc(m->n + 1, sizeof(*e->nodes));
	e->parts = calloc(nparts + 1, sizeof(*e->parts));
	if (!map || !e->nodes || !e->parts) {
		rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", key);
		goto out;
	}
	if ((rc = eau2_schema_copy(eau2_df_schema(df), &e->schema, err)))
		goto out;
	for (size_t k = 0; k < m->n; k++)
		map[k] = UINT32_MAX;
	e->nparts = nparts;
	for (size_t i = 0; i < nparts; i++) {
		struct eau2_dir_part *p = &e->parts[i];
		size_t last = ranges[i].group + ranges[i].ngroups;

		p->rows = (last < eau2_df_ngroups(df) ? eau2_df_group_first_row(df, last)
			   : eau2_df_rows(df)) - eau2_df_group_first_row(df, ranges[i].group);
		p->bytes = ranges[i].bytes;
		p->groups = (uint32_t)ranges[i].ngroups;
		p->nrep = r;
		for (unsigned j = 0; j < r; j++) {
			uint32_t k = place[i * r + j];

			if (map[k] == UINT32_MAX) {
				map[k] = (uint32_t)e->nnodes;
				strcpy(e->nodes[e->nnodes++], m->v[k].id);
			}
			p->rep[j] = map[k];
		}
		e->rows += p->rows;
		e->bytes += p->bytes;
	}
out:
	free(map);
	if (rc)
		eau2_dir_entry_free(e);
	return rc;
}

int eau2_cluster_put(eau2_cluster *cl, eau2 *db, const char *key, const eau2_df *df,
		     const struct eau2_cluster_put_options *opt, struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX];
	struct eau2_members m = {0};
	struct eau2_place_node *nodes = NULL;
	struct eau2_place_range *ranges = NULL;
	struct eau2_dir_entry e = {0}, old = {0};
	uint64_t *gb = NULL, *pb = NULL, put = 0;
	uint32_t *place = NULL;
	unsigned char *pushed = NULL;
	size_t ng = eau2_df_ngroups(df), nparts = 0;
	bool leased = false;
	unsigned r = 0;
	int rc;

	(void)db;
	if ((rc = eau2_dir_key_path(key, path, err)))
		return rc;
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		return eau2_error_prefix(err, rc, "put '%s'", key);
	if (m.n == 0) {
		rc = eau2_error_set(err, -EHOSTUNREACH, "put '%s': no live node in cluster %s",
				    key, eau2_zk_root(cl->zk));
		goto out;
	}
	r = opt && opt->replicas ? opt->replicas : (m.n < 2 ? (unsigned)m.n : 2);
	if (r > EAU2_DIR_REPLICAS_MAX) {
		rc = eau2_error_set(err, -EINVAL, "put '%s': %u replicas (at most %d)", key, r,
				    EAU2_DIR_REPLICAS_MAX);
		goto out;
	}
	gb = calloc(ng + 1, sizeof(*gb));
	nodes = calloc(m.n, sizeof(*nodes));
	if (!gb || !nodes) {
		rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", key);
		goto out;
	}
	for (size_t g = 0; g < ng; g++)
		if ((rc = group_bytes(df, g, &gb[g], err)))
			goto out;
	if ((rc = eau2_place_cut(gb, ng, opt ? opt->part_bytes : 0, m.n, EAU2_DIR_PARTS_MAX,
				 &ranges, &nparts, err)))
		goto out;
	pb = calloc(nparts + 1, sizeof(*pb));
	place = calloc(nparts * r + 1, sizeof(*place));
	pushed = calloc(nparts * r + 1, 1);
	if (!pb || !place || !pushed) {
		rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", key);
		goto out;
	}
	for (size_t i = 0; i < nparts; i++)
		pb[i] = ranges[i].bytes;
	for (size_t k = 0; k < m.n; k++)
		nodes[k] = (struct eau2_place_node){ .id = m.v[k].id, .free = m.v[k].free };
	if ((rc = eau2_place_assign(nodes, m.n, pb, nparts, r, place, err)))
		goto prefix;
	if ((rc = eau2_dir_lease(cl->zk, key, &put, err)))
		goto out;
	leased = true;
	{
		struct put_call c = {
			.cl = cl, .df = df, .m = &m, .ranges = ranges, .place = place,
			.r = r, .put = put, .pushed = pushed,
		};

		if ((rc = eau2_driver_parallel(nparts * r, push_task, &c, err)))
			goto out;
	}
	if ((rc = make_entry(&e, key, df, put, &m, ranges, nparts, place, r, err)) ||
	    (rc = eau2_dir_publish(cl->zk, &e, &old, err)))
		goto out;
	leased = false;
	eau2_driver_drop_entry(cl, &old);
	goto out;
prefix:
	eau2_error_prefix(err, rc, "put '%s'", key);
out:
	if (rc && put) {
		struct drop_call c = {
			.cl = cl, .m = &m, .put = put, .place = place, .pushed = pushed, .r = r,
		};

		eau2_driver_parallel(nparts * r, eau2_driver_drop_task, &c, NULL);
	}
	if (leased)
		eau2_dir_unlease(cl->zk, put, NULL);
	eau2_dir_entry_free(&old);
	eau2_dir_entry_free(&e);
	eau2_members_free(&m);
	free(gb);
	free(pb);
	free(nodes);
	free(ranges);
	free(place);
	free(pushed);
	return rc;
}

/* ------------------------------------------------- a load streamed to the nodes */

/*
 * eau2_cluster_load: a put whose partitions leave while the loader is
 * still parsing. The loader calls the hook (stream_joined) under its lock
 * whenever its builder gained row groups; each run of at least `target`
 * bytes of groups becomes a partition: a snapshot of those groups
 * (eau2_builder_snapshot: the segments mapped again, nothing copied),
 * queued for the pusher threads, which place it on r nodes (the least
 * loaded by this put's bytes, as eau2_place_assign does for a whole df)
 * and push it. When the load is done, the groups left (the tail) make
 * the last partition, pushed by the caller, and the key is published as
 * by eau2_cluster_put. A load that starts again with a new builder (CSV
 * types widened) falls back: what was pushed is dropped and the whole
 * result is put the usual way. Any failure drops every pushed copy.
 *
 * Access rules. The hook's fields (id, cut, scanned, acc, fallback) are
 * the loader's, serialized by its lock, and read by the caller only after
 * the load returned. parts, nparts, next, nodes, rc, err, end and stale are
 * under mu, as is each part (the array moves as it grows); the caller
 * reads them without it once the pushers are joined. A part's snapshot
 * is released by the pusher that took it, or by the caller. A push that
 * fails stops the pushers, and the hook stops the load at its next join
 * (pieces being parsed finish); the put fails with the push's error.
 */

#define STREAM_PUSHERS 2
#define STREAM_MIN_TARGET (4ull << 20)

struct stream_part {
	size_t group, ngroups;
	uint64_t bytes;
	eau2_df *snap;                       /* until pushed */
	bool freed;                          /* the hook's: discarded here */
	uint32_t place[EAU2_DIR_REPLICAS_MAX];
	unsigned char pushed[EAU2_DIR_REPLICAS_MAX];
};

struct stream {
	eau2_cluster *cl;
	char key[EAU2_KEY_MAX + 1];
	struct eau2_members m;
	struct eau2_place_node *nodes;
	unsigned r;
	uint64_t put;       /* the lease */
	uint64_t target;    /* bytes per partition */
	/* the hook's */
	uint64_t id;        /* the builder streamed; 0: none yet */
	size_t cut;         /* its groups made into partitions */
	size_t scanned;     /* its groups counted into acc */
	uint64_t acc;
	bool fallback;
	bool discard;       /* the caller keeps no copy: give back what was pushed */
	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stream_part *parts;
	size_t nparts, cap, next;
	uint64_t inflight;  /* bytes of the parts queued or being pushed */
	bool end;
	bool stale;         /* the load started again */
	int rc;
	struct eau2_error err;
	pthread_t th[STREAM_PUSHERS];
	unsigned nth;
};

static void stream_fail(struct stream *s, int rc, const struct eau2_error *e)
{
	pthread_mutex_lock(&s->mu);
	if (!s->rc) {
		s->rc = rc;
		if (e)
			s->err = *e;
	}
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Places part i (under mu) and pushes it, groups [first, first +
 * ngroups) of df, to its r nodes. */
static int stream_push(struct stream *s, size_t i, const eau2_df *df,
		       size_t first, struct eau2_error *err)
{
	struct stream_part p;
	char name[EAU2_DIR_PART_NAME_MAX];
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = eau2_place_assign(s->nodes, s->m.n, &s->parts[i].bytes, 1, s->r, s->parts[i].place,
			       err);
	p = s->parts[i];
	pthread_mutex_unlock(&s->mu);
	if (rc)
		return eau2_error_prefix(err, rc, "put '%s'", s->key);
	eau2_dir_part_name(s->put, i, name);
	for (unsigned j = 0; j < s->r; j++) {
		const struct eau2_member *node = &s->m.v[p.place[j]];

		rc = s->cl->ops->push(s->cl->ctx, node, name, df, first, p.ngroups, err);
		if (rc)
			return eau2_error_prefix(err, rc, "put '%s': partition %zu to node %s (%s)",
						 s->key, i, node->id, node->addr);
		pthread_mutex_lock(&s->mu);
		s->parts[i].pushed[j] = 1;
		if (j + 1 == s->r) {
			s->inflight -= p.bytes;
			pthread_cond_broadcast(&s->cv);
		}
		pthread_mutex_unlock(&s->mu);
	}
	return 0;
}

static void *stream_pusher(void *arg)
{
	struct stream *s = arg;

	for (;;) {
		struct eau2_error e = {0};
		eau2_df *snap;
		size_t i;
		int rc;

		pthread_mutex_lock(&s->mu);
		while (!s->rc && !s->end && !s->stale && s->next == s->nparts)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->rc || s->stale || s->next == s->nparts) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		i = s->next++;
		snap = s->parts[i].snap;
		s->parts[i].snap = NULL;
		pthread_mutex_unlock(&s->mu);
		rc = stream_push(s, i, snap, 0, &e);
		eau2_df_release(snap);
		if (rc)
			stream_fail(s, rc, &e);
	}
}

/* Appends the partition of groups [group, group + ngroups) (snap: NULL
 * for the tail, which the caller pushes). */
static int stream_add(struct stream *s, size_t group, size_t ngroups,
		      uint64_t bytes, eau2_df *snap, struct eau2_error *err)
{
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (s->nparts == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct stream_part *p = realloc(s->parts, cap * sizeof(*p));

		if (!p)
			rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", s->key);
		else {
			s->parts = p;
			s->cap = cap;
		}
	}
	if (!rc) {
		s->parts[s->nparts++] = (struct stream_part){
			.group = group, .ngroups = ngroups, .bytes = bytes, .snap = snap,
		};
		s->inflight += bytes;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc)
		eau2_df_release(snap);
	return rc;
}

/* Gives the builder back the partitions that reached all their nodes
 * (the caller keeps no copy here; their pages are written again by the
 * groups parsed next), so the driver's store holds the partitions in
 * flight, not the whole file; first, while the parts in flight pass
 * the window (eau2_load_stream_window, or one part more than the pushers
 * push at once), holds the parse back. Only from the first partition a
 * node on: a put that ends with fewer is cut again from the whole
 * dataframe. Best effort: a partition left in place costs memory,
 * nothing else. */
static void stream_discard(struct stream *s, eau2_builder *root)
{
	uint64_t window = eau2_load_stream_window();

	if (window < (STREAM_PUSHERS + 1) * s->target)
		window = (STREAM_PUSHERS + 1) * s->target;
	pthread_mutex_lock(&s->mu);
	while (!s->rc && s->inflight > window)
		pthread_cond_wait(&s->cv, &s->mu);
	for (size_t i = 0; s->nparts >= s->m.n && i < s->nparts; i++) {
		struct stream_part *p = &s->parts[i]; /* the array moves: not kept unlocked */
		size_t from = p->group, to = p->group + p->ngroups;
		bool pushed = !p->freed;

		for (unsigned j = 0; j < s->r; j++)
			pushed = pushed && p->pushed[j];
		if (!pushed)
			continue;
		p->freed = true;
		pthread_mutex_unlock(&s->mu);
		(void)eau2_builder_discard(root, from, to, NULL);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

/* The load's hook: false (stop the load) once a push failed. */
static bool stream_joined(void *arg, eau2_builder *root)
{
	struct stream *s = arg;
	size_t n = eau2_builder_groups(root);
	uint64_t id = eau2_builder_id(root);
	bool failed;

	pthread_mutex_lock(&s->mu);
	failed = s->rc != 0;
	pthread_mutex_unlock(&s->mu);
	if (failed)
		return false;
	if (s->fallback)
		return true;
	if (s->id && s->id != id) {
		s->fallback = true; /* the load started again */
		pthread_mutex_lock(&s->mu);
		s->stale = true;    /* nothing queued is worth pushing */
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		return true;
	}
	if (s->discard && s->id != id)
		eau2_builder_recycle(root);
	s->id = id;
	if (s->discard)
		stream_discard(s, root);
	for (; s->scanned < n; s->scanned++) {
		struct eau2_error e = {0};
		eau2_df *snap;
		int rc;

		s->acc += eau2_builder_group_bytes(root, s->scanned);
		/* The last partitions stay for the tail: never more than the
		 * directory takes. */
		if (s->acc < s->target || s->nparts + 2 >= EAU2_DIR_PARTS_MAX)
			continue;
		rc = eau2_builder_snapshot(root, s->cut, s->scanned + 1, &snap, &e);
		if (!rc)
			rc = stream_add(s, s->cut, s->scanned + 1 - s->cut, s->acc, snap, &e);
		if (rc) {
			stream_fail(s, rc, &e);
			return false;
		}
		s->cut = s->scanned + 1;
		s->acc = 0;
	}
	return true;
}

static int stream_end(struct stream *s, const eau2_df *df, struct eau2_error *err);

static int stream_begin(eau2_cluster *cl, const char *key, uint64_t size_hint,
			const struct eau2_cluster_put_options *opt, struct stream **out,
			struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX];
	struct stream *s;
	int rc;

	*out = NULL;
	if ((rc = eau2_dir_key_path(key, path, err)))
		return rc;
	if (!(s = calloc(1, sizeof(*s))))
		return eau2_error_set(err, -ENOMEM, "put '%s': out of memory", key);
	s->cl = cl;
	snprintf(s->key, sizeof(s->key), "%s", key);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((rc = eau2_members_list(cl->zk, &s->m, err))) {
		eau2_error_prefix(err, rc, "put '%s'", key);
		goto fail;
	}
	if (s->m.n == 0) {
		rc = eau2_error_set(err, -EHOSTUNREACH, "put '%s': no live node in cluster %s",
				    key, eau2_zk_root(cl->zk));
		goto fail;
	}
	s->r = opt && opt->replicas ? opt->replicas : (s->m.n < 2 ? (unsigned)s->m.n : 2);
	if (s->r > EAU2_DIR_REPLICAS_MAX) {
		rc = eau2_error_set(err, -EINVAL, "put '%s': %u replicas (at most %d)", key, s->r,
				    EAU2_DIR_REPLICAS_MAX);
		goto fail;
	}
	if (s->r > s->m.n) {
		rc = eau2_error_set(err, -EINVAL, "put '%s': placement: %u replicas asked, the "
				    "cluster has %zu live node%s", key, s->r, s->m.n,
				    s->m.n == 1 ? "" : "s");
		goto fail;
	}
	if (!(s->nodes = calloc(s->m.n, sizeof(*s->nodes)))) {
		rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", key);
		goto fail;
	}
	for (size_t k = 0; k < s->m.n; k++)
		s->nodes[k] = (struct eau2_place_node){ .id = s->m.v[k].id, .free = s->m.v[k].free };
	/* About four partitions a node, none over the usual size. */
	s->target = opt && opt->part_bytes ? opt->part_bytes : size_hint / (4 * s->m.n);
	if (!(opt && opt->part_bytes) && s->target < STREAM_MIN_TARGET)
		s->target = STREAM_MIN_TARGET;
	if (s->target > EAU2_PLACE_PART_BYTES)
		s->target = EAU2_PLACE_PART_BYTES;
	if ((rc = eau2_dir_lease(cl->zk, key, &s->put, err)))
		goto fail;
	for (; s->nth < STREAM_PUSHERS; s->nth++)
		if (pthread_create(&s->th[s->nth], NULL, stream_pusher, s))
			break;
	if (s->nth == 0) {
		rc = eau2_error_set(err, -EAGAIN, "put '%s': cannot start a thread", key);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	stream_end(s, NULL, err);
	return rc;
}

static int stream_drop_task(void *arg, size_t t, struct eau2_error *err)
{
	struct stream *s = arg;
	struct stream_part *p = &s->parts[t / s->r];
	char name[EAU2_DIR_PART_NAME_MAX];

	if (!p->pushed[t % s->r])
		return 0;
	eau2_dir_part_name(s->put, t / s->r, name);
	(void)s->cl->ops->drop(s->cl->ctx, &s->m.v[p->place[t % s->r]], name, err);
	p->pushed[t % s->r] = 0;
	return 0;
}

/* Drops every copy pushed (best effort, as a failed put does). */
static void stream_drop(struct stream *s)
{
	eau2_driver_parallel(s->nparts * s->r, stream_drop_task, s, NULL);
}

static int stream_end(struct stream *s, const eau2_df *df, struct eau2_error *err)
{
	struct eau2_place_range *ranges = NULL;
	uint32_t *place = NULL;
	struct eau2_dir_entry e = {0}, old = {0};
	size_t ng = df ? eau2_df_ngroups(df) : 0, np;
	bool published = false;
	int rc = 0;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->end = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned t = 0; t < s->nth; t++)
		pthread_join(s->th[t], NULL);
	s->nth = 0;
	if (s->rc) {
		rc = s->rc;
		if (err)
			*err = s->err;
		goto out;
	}
	if (!df)
		goto out;
	if (s->fallback || (s->id && s->id != eau2_df_store_id(df))) {
		/* Started again: the first pass's partitions are not df's. */
		goto put;
	}
	if (s->nparts + (s->cut < ng) < (ng < s->m.n ? ng : s->m.n)) {
		/* Small: cut whole, at least one partition a node, as a
		 * put does (a run then spreads over every node). */
		goto put;
	}
	if (s->cut < ng) {
		uint64_t bytes = s->acc;

		/* The groups the hook never saw (sealed by the finish). */
		for (size_t g = s->scanned; g < ng && !rc; g++) {
			uint64_t b;

			if (!(rc = group_bytes(df, g, &b, err)))
				bytes += b;
		}
		if (!rc)
			rc = stream_add(s, s->cut, ng - s->cut, bytes, NULL, err);
		if (!rc)
			rc = stream_push(s, s->nparts - 1, df, s->cut, err);
		if (rc)
			goto out;
	}
	np = s->nparts;
	ranges = calloc(np + 1, sizeof(*ranges));
	place = calloc(np * s->r + 1, sizeof(*place));
	if (!ranges || !place) {
		rc = eau2_error_set(err, -ENOMEM, "put '%s': out of memory", s->key);
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		ranges[i] = (struct eau2_place_range){ .group = s->parts[i].group,
						       .ngroups = s->parts[i].ngroups,
						       .bytes = s->parts[i].bytes };
		memcpy(&place[i * s->r], s->parts[i].place, s->r * sizeof(*place));
	}
	if ((rc = make_entry(&e, s->key, df, s->put, &s->m, ranges, np, place, s->r, err)) ||
	    (rc = eau2_dir_publish(s->cl->zk, &e, &old, err)))
		goto out;
	published = true;
	eau2_driver_drop_entry(s->cl, &old);
	goto out;
put:
	stream_drop(s);
	eau2_dir_unlease(s->cl->zk, s->put, NULL);
	s->put = 0;
	rc = eau2_cluster_put(s->cl, NULL, s->key, df,
			      &(struct eau2_cluster_put_options){ .replicas = s->r,
								  .part_bytes = s->target },
			      err);
out:
	if (!published)
		stream_drop(s);
	if (s->put && !published)
		eau2_dir_unlease(s->cl->zk, s->put, NULL);
	for (size_t i = 0; i < s->nparts; i++)
		eau2_df_release(s->parts[i].snap);
	eau2_dir_entry_free(&old);
	eau2_dir_entry_free(&e);
	eau2_members_free(&s->m);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(ranges);
	free(place);
	free(s->parts);
	free(s->nodes);
	free(s);
	return rc;
}

int eau2_cluster_load(eau2_cluster *cl, struct eau2_store *store, const char *path,
		      const char *key, const struct eau2_load_options *lo,
		      const struct eau2_cluster_put_options *po, eau2_df **df,
		      struct eau2_load_stats *stats, struct eau2_error *err)
{
	eau2_df *out = NULL;
	struct stream *s;
	struct stat st;
	int rc;

	if (df)
		*df = NULL;
	if ((rc = stream_begin(cl, key, stat(path, &st) ? 0 : (uint64_t)st.st_size, po, &s,
			       err)))
		return rc;
	s->discard = !df;
	rc = eau2_load_stream_in(store, path, lo, stream_joined, s, &out, stats, err);
	if (rc) {
		/* Stopped for a failed push: that push's error. */
		int pushed = stream_end(s, NULL, rc == -ECANCELED ? err : NULL);

		return rc == -ECANCELED && pushed ? pushed : rc;
	}
	rc = stream_end(s, out, err);
	if (rc || !df)
		eau2_df_release(out);
	else
		*df = out;
	return rc;
}
