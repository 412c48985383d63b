/* SPDX-License-Identifier: MIT */
/*
 * driver.c - the driver of a cluster (cluster.h): put, get, wait_get,
 * delete, list and run on a cluster's keys, over the directory in
 * ZooKeeper (dir.c), the members (members.c), placement (place.c) and
 * the node operations the caller plugs in; and runs whose output stays
 * on the nodes (eau2_cluster_run_as).
 *
 * Access rules. struct eau2_cluster is used by one thread at a time
 * (its zk handle is thread-safe and shared with the worker threads of a
 * call). A call's node operations run on up to EAU2_CLUSTER_PARALLEL
 * threads started for that call and joined before it returns, except a
 * run's, whose losing copies may outlive it (spec.c: they own what they
 * use, and close waits for them); each task
 * writes only its own slot of the call's arrays, and the first error (by
 * task index) is kept under the call's mutex.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/health.h"
#include "cluster/place.h"
#include "cluster/spec.h"
#include "cluster/zk.h"
#include "df/df.h"
#include "rowers/rowers.h"

struct bcast;

struct eau2_cluster {
	struct bcast *bcast;   /* the side tables of the runs in progress
				* (innermost first): eau2_cluster_get's cache */
	eau2_zk *zk;
	const struct eau2_cluster_node_ops *ops;
	void *ctx;
	int timeout_ms;
	struct eau2_spec_opts spec;
	struct eau2_spec_track inflight; /* run attempts that outlived their call */
	struct eau2_health *health;      /* NULL: heartbeat_ms < 0 */
};

/* ------------------------------------------------- parallel tasks */

typedef int task_fn(void *arg, size_t i, struct eau2_error *err);

struct par {
	task_fn *fn;
	void *arg;
	size_t n;
	atomic_size_t next;
	pthread_mutex_t mu;
	int rc;               /* under mu: the error of the lowest task */
	size_t rc_task;       /* under mu */
	struct eau2_error err; /* under mu */
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
		struct eau2_error e = {0};
		int rc = p->fn(p->arg, i, &e);

		if (rc == 0)
			continue;
		pthread_mutex_lock(&p->mu);
		if (p->rc == 0 || i < p->rc_task) {
			p->rc = rc;
			p->rc_task = i;
			p->err = e;
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* Runs fn(arg, i) for i in [0, n) on up to EAU2_CLUSTER_PARALLEL threads;
 * every task runs. Returns the error of the lowest failing task. */
static int parallel(size_t n, task_fn *fn, void *arg, struct eau2_error *err)
{
	pthread_t tids[EAU2_CLUSTER_PARALLEL];
	struct par p = { .fn = fn, .arg = arg, .n = n };
	size_t nt = n < EAU2_CLUSTER_PARALLEL ? n : EAU2_CLUSTER_PARALLEL, started = 0;

	if (n == 0)
		return 0;
	atomic_init(&p.next, 0);
	pthread_mutex_init(&p.mu, NULL);
	for (size_t t = 1; t < nt; t++, started++)
		if (pthread_create(&tids[started], NULL, par_main, &p))
			break;
	par_main(&p); /* the caller's thread works too */
	for (size_t t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	pthread_mutex_destroy(&p.mu);
	if (p.rc && err)
		*err = p.err;
	return p.rc;
}

/* ------------------------------------------------- open and close */

int eau2_cluster_open(const struct eau2_cluster_options *opt, eau2_cluster **out,
		      struct eau2_error *err)
{
	char connect[1024], *slash;
	struct eau2_zk_options zo = {0};
	eau2_cluster *cl;
	int rc;

	*out = NULL;
	if (!opt || !opt->connect || !opt->ops)
		return eau2_error_set(err, -EINVAL, "cluster: no connect string or node operations");
	if (strlen(opt->connect) >= sizeof(connect))
		return eau2_error_set(err, -EINVAL, "cluster '%.40s...': connect string too long",
				      opt->connect);
	if (opt->timeout_ms < 0)
		return eau2_error_set(err, -EINVAL, "cluster %s: negative timeout", opt->connect);
	if (opt->dead_after_ms < 0 || (opt->heartbeat_ms >= 0 && opt->dead_after_ms > 0 &&
				       opt->dead_after_ms < (opt->heartbeat_ms ? opt->heartbeat_ms :
							     EAU2_HEALTH_HEARTBEAT_MS)))
		return eau2_error_set(err, -EINVAL, "cluster %s: dead after %d ms, less than "
				      "the heartbeat (%d ms)", opt->connect, opt->dead_after_ms,
				      opt->heartbeat_ms ? opt->heartbeat_ms :
				      EAU2_HEALTH_HEARTBEAT_MS);
	strcpy(connect, opt->connect);
	slash = strchr(connect, '/');
	if (slash) {
		*slash = 0;
		if (!slash[1] || strchr(slash + 1, '/'))
			return eau2_error_set(err, -EINVAL, "cluster '%s': want "
					      "HOST:PORT[,HOST:PORT...][/NAME]", opt->connect);
	}
	if (!connect[0])
		return eau2_error_set(err, -EINVAL, "cluster '%s': no ZooKeeper HOST:PORT",
				      opt->connect);
	if (!(cl = calloc(1, sizeof(*cl))))
		return eau2_error_set(err, -ENOMEM, "cluster: out of memory");
	cl->ops = opt->ops;
	cl->ctx = opt->ctx;
	cl->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 10000;
	cl->spec = (struct eau2_spec_opts){
		.factor = opt->backup_factor ? opt->backup_factor : 3.0,
		.min_ms = opt->backup_min_ms ? opt->backup_min_ms : 2000,
		.parallel = EAU2_CLUSTER_PARALLEL,
	};
	eau2_spec_track_init(&cl->inflight);
	zo.connect = connect;
	zo.cluster = slash ? slash + 1 : NULL;
	zo.timeout_ms = cl->timeout_ms;
	/* The session outlives short stalls; the timeout bounds each call. */
	zo.session_ms = cl->timeout_ms < 4000 ? 4000 : cl->timeout_ms;
	if ((rc = eau2_zk_connect(&cl->zk, &zo, err)) ||
	    (rc = eau2_dir_init(cl->zk, err)) ||
	    (opt->heartbeat_ms >= 0 &&
	     (rc = eau2_health_start(&(struct eau2_health_opts){
		     .zk = cl->zk, .ops = cl->ops, .ctx = cl->ctx,
		     .heartbeat_ms = opt->heartbeat_ms ? opt->heartbeat_ms : EAU2_HEALTH_HEARTBEAT_MS,
		     .dead_after_ms = opt->dead_after_ms ? opt->dead_after_ms :
				      EAU2_HEALTH_DEAD_AFTER_MS },
		     &cl->health, err)))) {
		eau2_zk_close(cl->zk);
		eau2_spec_drain(&cl->inflight);
		free(cl);
		return rc;
	}
	cl->spec.health = cl->health;
	*out = cl;
	return 0;
}

void eau2_cluster_close(eau2_cluster *cl)
{
	if (!cl)
		return;
	eau2_spec_drain(&cl->inflight); /* its attempts ask the health thread */
	eau2_health_stop(cl->health);
	eau2_zk_close(cl->zk);
	free(cl);
}

/* The live member of id, or NULL. */
static const struct eau2_member *member_of(const struct eau2_members *m, const char *id)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(id, m->v[mid].id);

		if (c == 0)
			return &m->v[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

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

/* Drops the partitions of put `put` named by (part, node id) pairs, on
 * the nodes that are alive; best effort (a node down keeps garbage). */
struct drop_call {
	eau2_cluster *cl;
	const struct eau2_members *m;
	uint64_t put;
	const struct eau2_dir_entry *e;  /* replicas of an entry, or */
	const uint32_t *place;           /* a placement (with pushed) */
	const unsigned char *pushed;
	unsigned r;
};

static int drop_task(void *arg, size_t t, struct eau2_error *err)
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
		node = member_of(c->m, eau2_dir_replica(c->e, i, j));
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

static void drop_entry(eau2_cluster *cl, const struct eau2_dir_entry *e)
{
	struct eau2_members m;
	struct drop_call c = { .cl = cl, .m = &m, .put = e->put, .e = e };

	if (e->nparts == 0 || eau2_members_list(cl->zk, &m, NULL))
		return;
	parallel(e->nparts * EAU2_DIR_REPLICAS_MAX, drop_task, &c, NULL);
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

		if ((rc = parallel(nparts * r, push_task, &c, err)))
			goto out;
	}
	if ((rc = make_entry(&e, key, df, put, &m, ranges, nparts, place, r, err)) ||
	    (rc = eau2_dir_publish(cl->zk, &e, &old, err)))
		goto out;
	leased = false;
	drop_entry(cl, &old);
	goto out;
prefix:
	eau2_error_prefix(err, rc, "put '%s'", key);
out:
	if (rc && put) {
		struct drop_call c = {
			.cl = cl, .m = &m, .put = put, .place = place, .pushed = pushed, .r = r,
		};

		parallel(nparts * r, drop_task, &c, NULL);
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
	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct stream_part *parts;
	size_t nparts, cap, next;
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
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc)
		eau2_df_release(snap);
	return rc;
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
	s->id = id;
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
	parallel(s->nparts * s->r, stream_drop_task, s, NULL);
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
	drop_entry(s->cl, &old);
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
	struct stream *s;
	struct stat st;
	int rc;

	*df = NULL;
	if ((rc = stream_begin(cl, key, stat(path, &st) ? 0 : (uint64_t)st.st_size, po, &s,
			       err)))
		return rc;
	rc = eau2_load_stream_in(store, path, lo, stream_joined, s, df, stats, err);
	if (rc) {
		/* Stopped for a failed push: that push's error. */
		int pushed = stream_end(s, NULL, rc == -ECANCELED ? err : NULL);

		return rc == -ECANCELED && pushed ? pushed : rc;
	}
	if ((rc = stream_end(s, *df, err))) {
		eau2_df_release(*df);
		*df = NULL;
	}
	return rc;
}

/* ------------------------------------------------- broadcast side tables */

/*
 * A run whose class reads side tables (cls->side_args) gets them on every
 * node that may run one of its parts: the driver gathers each table once
 * (eau2_cluster_get: it is a cluster key itself), pushes it whole to each
 * live node holding a replica of the input's partitions, under a name of
 * the run (eau2_dir_bcast_name, the run id a lease of the driver's
 * session), and hands the nodes that name as the argument's value.
 * Bytes on the network: each table's size once in, then its size x the
 * nodes pushed to. The copies are dropped after the run; a killed
 * driver's lease dies with its session and gc drops what it left.
 */

#define BCAST_SIDES_MAX 8 /* side tables of one run */

struct bcast {
	eau2_cluster *cl;
	uint64_t run;                       /* its lease; 0: none taken */
	size_t n;                           /* side tables given */
	size_t arg[BCAST_SIDES_MAX];        /* their index in the args */
	const char *key[BCAST_SIDES_MAX];   /* the cluster keys named */
	char name[BCAST_SIDES_MAX][EAU2_DIR_PART_NAME_MAX]; /* the copies */
	eau2_df *df[BCAST_SIDES_MAX];       /* gathered */
	const struct eau2_member **to;      /* nodes pushed to */
	size_t nto;
	unsigned char *pushed;              /* [k * n + j]: copy j on to[k] */
	const char **values;                /* the nodes' argument values */
	struct eau2_args args;              /* the nodes' arguments */
	struct eau2_members m;              /* the members a part may run on */
	struct bcast *outer;                /* cl->bcast before this run */
};

/* The bound of one side table: EAU2_BCAST_MAX, or the environment's. */
static int bcast_limit(uint64_t *out, struct eau2_error *err)
{
	const char *v = getenv("EAU2_BCAST_MAX");
	char *end;

	*out = EAU2_BCAST_MAX;
	if (!v || !*v)
		return 0;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end || v[0] == '-')
		return eau2_error_set(err, -EINVAL, "EAU2_BCAST_MAX='%s': want a number of "
				      "bytes", v);
	return 0;
}

/* A reference to the gathered copy of cluster key `key`, while a run
 * that broadcast it lasts; else NULL. */
static eau2_df *bcast_cached(eau2_cluster *cl, const char *key)
{
	for (struct bcast *b = cl->bcast; b; b = b->outer)
		for (size_t j = 0; j < b->n; j++)
			if (b->df[j] && !strcmp(b->key[j], key))
				return eau2_df_retain(b->df[j]);
	return NULL;
}

static int bcast_push_task(void *arg, size_t t, struct eau2_error *err)
{
	struct bcast *b = arg;
	const struct eau2_member *node = b->to[t / b->n];
	size_t j = t % b->n;
	int rc;

	rc = b->cl->ops->push(b->cl->ctx, node, b->name[j], b->df[j], 0,
			      eau2_df_ngroups(b->df[j]), err);
	if (rc)
		return eau2_error_prefix(err, rc, "broadcast of %s to node %s (%s)",
					 b->key[j], node->id, node->addr);
	b->pushed[t] = 1;
	return 0;
}

static int bcast_drop_task(void *arg, size_t t, struct eau2_error *err)
{
	struct bcast *b = arg;

	if (b->pushed[t])
		(void)b->cl->ops->drop(b->cl->ctx, b->to[t / b->n], b->name[t % b->n], err);
	return 0;
}

/* Drops the copies pushed, ends the lease, frees b; restores the cache. */
static void bcast_end(struct bcast *b)
{
	if (!b->cl)
		return; /* bcast_start did not run */
	if (b->nto && b->n)
		parallel(b->nto * b->n, bcast_drop_task, b, NULL);
	if (b->run)
		eau2_dir_unlease(b->cl->zk, b->run, NULL);
	if (b->cl->bcast == b)
		b->cl->bcast = b->outer;
	for (size_t j = 0; j < b->n; j++)
		eau2_df_release(b->df[j]);
	free(b->to);
	free(b->pushed);
	free(b->values);
	free(b->m.v);
}

/* The members a part may run on: those of m but the nodes in to[] whose
 * pushes failed. */
static int bcast_members(struct bcast *b, const struct eau2_members *m, struct eau2_error *err)
{
	if (!(b->m.v = calloc(m->n + 1, sizeof(*b->m.v))))
		return eau2_error_set(err, -ENOMEM, "run: out of memory");
	for (size_t i = 0; i < m->n; i++) {
		bool ok = true;

		for (size_t k = 0; k < b->nto && ok; k++)
			if (b->to[k] == &m->v[i])
				for (size_t j = 0; j < b->n; j++)
					ok = ok && b->pushed[k * b->n + j];
		if (ok)
			b->m.v[b->m.n++] = m->v[i];
	}
	return 0;
}

/* Gathers and pushes cls's side tables named in args for a run over e
 * (b zeroed by the caller; bcast_end it whatever this returns). No side
 * table given: b->n stays 0 and the run goes on as it is. */
static int bcast_start(eau2_cluster *cl, eau2 *db, const struct eau2_dir_entry *e,
		       const struct eau2_members *m, const struct eau2_rower_class *cls,
		       const struct eau2_args *args, struct bcast *b, struct eau2_error *err)
{
	struct eau2_error perr = {0};
	uint64_t limit;
	int rc, prc;

	b->cl = cl;
	for (size_t i = 0; cls->side_args && i < args->n; i++)
		for (size_t k = 0; cls->side_args[k]; k++) {
			if (strcmp(args->names[i], cls->side_args[k]))
				continue;
			if (b->n == BCAST_SIDES_MAX)
				return eau2_error_set(err, -E2BIG, "run '%s': more than %d side "
						      "tables", cls->name, BCAST_SIDES_MAX);
			b->arg[b->n] = i;
			b->key[b->n++] = args->values[i];
		}
	if (b->n == 0)
		return 0;
	if ((rc = bcast_limit(&limit, err)))
		return rc;
	/* The sizes first, from the directory: nothing is read of a table
	 * over the bound. */
	for (size_t j = 0; j < b->n; j++) {
		struct eau2_dir_entry se;
		uint64_t bytes;

		if ((rc = eau2_dir_read(cl->zk, b->key[j], &se, NULL, NULL, err)))
			return eau2_error_prefix(err, rc, "run '%s': side table %s=%s",
						 cls->name, args->names[b->arg[j]], b->key[j]);
		bytes = se.bytes;
		eau2_dir_entry_free(&se);
		if (bytes > limit)
			return eau2_error_set(err, -ERANGE, "run '%s': side table %s=%s is %"
					      PRIu64 " bytes, over the broadcast bound of %"
					      PRIu64 " (EAU2_BCAST_MAX)", cls->name,
					      args->names[b->arg[j]], b->key[j], bytes, limit);
	}
	for (size_t j = 0; j < b->n; j++)
		if ((rc = eau2_cluster_get(cl, db, b->key[j], &b->df[j], err)))
			return eau2_error_prefix(err, rc, "run '%s': side table %s=%s",
						 cls->name, args->names[b->arg[j]], b->key[j]);
	/* The live nodes holding a replica of some partition of e. */
	b->to = calloc(m->n + 1, sizeof(*b->to));
	b->values = calloc(args->n + 1, sizeof(*b->values));
	if (!b->to || !b->values)
		return eau2_error_set(err, -ENOMEM, "run '%s': out of memory", cls->name);
	for (size_t i = 0; i < m->n; i++) {
		bool holds = false;

		for (size_t p = 0; p < e->nparts && !holds; p++)
			for (uint32_t r = 0; r < e->parts[p].nrep && !holds; r++)
				holds = !strcmp(eau2_dir_replica(e, p, r), m->v[i].id);
		if (holds)
			b->to[b->nto++] = &m->v[i];
	}
	if (!(b->pushed = calloc(b->nto * b->n + 1, 1)))
		return eau2_error_set(err, -ENOMEM, "run '%s': out of memory", cls->name);
	if ((rc = eau2_dir_lease(cl->zk, e->key, &b->run, err))) {
		b->run = 0;
		return eau2_error_prefix(err, rc, "run '%s'", cls->name);
	}
	for (size_t j = 0; j < b->n; j++)
		eau2_dir_bcast_name(b->run, j, b->name[j]);
	b->outer = cl->bcast;
	cl->bcast = b;
	/* A node a push fails on runs none of the parts: the first such
	 * error is the run's when a partition is left without a node. */
	prc = parallel(b->nto * b->n, bcast_push_task, b, &perr);
	if ((rc = bcast_members(b, m, err)))
		return rc;
	for (size_t p = 0; prc && p < e->nparts; p++) {
		bool any = false;

		for (uint32_t r = 0; r < e->parts[p].nrep && !any; r++)
			any = member_of(&b->m, eau2_dir_replica(e, p, r)) != NULL;
		if (!any) {
			if (err)
				*err = perr;
			return eau2_error_prefix(err, prc, "run '%s' on '%s': partition %zu",
						 cls->name, e->key, p);
		}
	}
	for (size_t i = 0; i < args->n; i++)
		b->values[i] = args->values[i];
	for (size_t j = 0; j < b->n; j++)
		b->values[b->arg[j]] = b->name[j];
	b->args = (struct eau2_args){ .n = args->n, .names = args->names,
				      .values = b->values };
	return 0;
}

/* ------------------------------------------------- get and run */

/* What get and run share: an entry, the live members, one slot per
 * partition. */
struct part_call {
	eau2_cluster *cl;
	eau2 *db;
	const struct eau2_dir_entry *e;
	const struct eau2_members *m;
	eau2_df **dfs;                       /* get */
	const struct eau2_rower_class *cls;  /* run */
	const struct eau2_args *args;
	void **states;
	size_t *lens;
};

/* Tries partition i on each live replica in turn, starting from replica
 * i % nrep to spread the work, until one answers. */
static int on_replicas(struct part_call *c, size_t i,
		       int (*op)(struct part_call *, const struct eau2_member *,
				 const char *, size_t, struct eau2_error *),
		       const char *what, struct eau2_error *err)
{
	const struct eau2_dir_part *p = &c->e->parts[i];
	char name[EAU2_DIR_PART_NAME_MAX], tried[256] = "";
	size_t off = 0;
	int rc = -EHOSTUNREACH;

	eau2_dir_part_name(c->e->put, i, name);
	for (uint32_t k = 0; k < p->nrep; k++) {
		const char *id = eau2_dir_replica(c->e, i, (i + k) % p->nrep);
		const struct eau2_member *node = member_of(c->m, id);
		struct eau2_error e = {0};

		if (!node) {
			off += (size_t)snprintf(tried + off, off < sizeof(tried) ?
						sizeof(tried) - off : 0, "%s%s: down",
						off ? "; " : "", id);
			continue;
		}
		rc = op(c, node, name, i, &e);
		if (rc == 0)
			return 0;
		off += (size_t)snprintf(tried + off, off < sizeof(tried) ? sizeof(tried) - off : 0,
					"%s%s: %s", off ? "; " : "", id, e.msg);
	}
	return eau2_error_set(err, rc, "%s '%s': partition %zu (%s) has no live replica that "
			      "answers (%s)", what, c->e->key, i, name, tried);
}

static int fetch_op(struct part_call *c, const struct eau2_member *node,
		    const char *name, size_t i, struct eau2_error *err)
{
	const struct eau2_dir_part *p = &c->e->parts[i];
	eau2_df *df = NULL;
	int rc;

	rc = c->cl->ops->fetch(c->cl->ctx, node, name, c->db, &df, err);
	if (rc)
		return rc;
	/* Never a wrong answer: the rows must be the ones published. */
	if (!eau2_cluster_same_schema(eau2_df_schema(df), c->e->schema)) {
		eau2_df_release(df);
		return eau2_error_set(err, -EBADMSG, "holds another schema than the key's");
	}
	if (eau2_df_rows(df) != p->rows) {
		rc = eau2_error_set(err, -EBADMSG, "holds %" PRIu64 " rows, the directory "
				    "says %" PRIu64, eau2_df_rows(df), p->rows);
		eau2_df_release(df);
		return rc;
	}
	c->dfs[i] = df;
	return 0;
}

static int fetch_task(void *arg, size_t i, struct eau2_error *err)
{
	return on_replicas(arg, i, fetch_op, "get", err);
}

int eau2_cluster_get(eau2_cluster *cl, eau2 *db, const char *key, eau2_df **df,
		     struct eau2_error *err)
{
	struct eau2_dir_entry e;
	struct eau2_members m = {0};
	struct part_call c = { .cl = cl, .db = db, .e = &e, .m = &m };
	int rc;

	*df = NULL;
	if ((*df = bcast_cached(cl, key)))
		return 0;
	if ((rc = eau2_dir_read(cl->zk, key, &e, NULL, NULL, err)))
		return rc;
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		goto out;
	if (!(c.dfs = calloc(e.nparts + 1, sizeof(*c.dfs)))) {
		rc = eau2_error_set(err, -ENOMEM, "get '%s': out of memory", key);
		goto out;
	}
	if ((rc = parallel(e.nparts, fetch_task, &c, err)))
		goto out;
	if (e.nparts == 1) {
		*df = c.dfs[0];
		c.dfs[0] = NULL;
	} else {
		rc = eau2_cluster_concat(db, e.schema, c.dfs, e.nparts, df, err);
		if (rc)
			eau2_error_prefix(err, rc, "get '%s'", key);
	}
out:
	for (size_t i = 0; c.dfs && i < e.nparts; i++)
		eau2_df_release(c.dfs[i]);
	free(c.dfs);
	eau2_members_free(&m);
	eau2_dir_entry_free(&e);
	return rc;
}

int eau2_cluster_wait_get(eau2_cluster *cl, eau2 *db, const char *key, int timeout_ms,
			  eau2_df **df, struct eau2_error *err)
{
	int rc;

	*df = NULL;
	/* Negative: forever, in bounded steps. */
	do {
		rc = eau2_dir_wait(cl->zk, key, timeout_ms < 0 ? 60000 : timeout_ms, err);
	} while (rc == -ETIMEDOUT && timeout_ms < 0);
	return rc ? rc : eau2_cluster_get(cl, db, key, df, err);
}

int eau2_cluster_delete(eau2_cluster *cl, const char *key, struct eau2_error *err)
{
	struct eau2_dir_entry old;
	int rc = eau2_dir_remove(cl->zk, key, &old, err);

	if (rc)
		return rc;
	drop_entry(cl, &old);
	eau2_dir_entry_free(&old);
	return 0;
}

eau2_zk *eau2_cluster_zk(eau2_cluster *cl, const struct eau2_cluster_node_ops **ops,
			 void **ctx)
{
	*ops = cl->ops;
	*ctx = cl->ctx;
	return cl->zk;
}

static int no_health(const eau2_cluster *cl, struct eau2_error *err)
{
	return eau2_error_set(err, -ENOTSUP, "cluster %s: no failure detection (heartbeat "
			      "off)", eau2_zk_root(cl->zk));
}

int eau2_cluster_health(eau2_cluster *cl, struct eau2_cluster_health_node **v, size_t *n,
			struct eau2_error *err)
{
	*v = NULL;
	*n = 0;
	return cl->health ? eau2_health_snapshot(cl->health, v, n, err) : no_health(cl, err);
}

int eau2_cluster_health_wait(eau2_cluster *cl, int timeout_ms, struct eau2_error *err)
{
	return cl->health ? eau2_health_wait_round(cl->health, timeout_ms, err)
			  : no_health(cl, err);
}

int eau2_cluster_on_event(eau2_cluster *cl, eau2_cluster_event_fn *fn, void *arg,
			  struct eau2_error *err)
{
	if (!cl->health)
		return no_health(cl, err);
	eau2_health_on_event(cl->health, fn, arg);
	return 0;
}

int eau2_cluster_list(eau2_cluster *cl, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_dir_list(cl->zk, keys, n, err);
}

/* A new state of cls, init'ed for ctx. */
static int state_new(const struct eau2_rower_class *cls, const struct eau2_run_ctx *ctx,
		     void **out, struct eau2_error *err)
{
	*out = calloc(1, cls->state_size ? cls->state_size : 1);
	if (!*out)
		return eau2_error_set(err, -ENOMEM, "rower '%s': no memory for a state", cls->name);
	return cls->init(*out, ctx, err);
}

static void state_free(const struct eau2_rower_class *cls, void *s)
{
	if (s && cls->destroy)
		cls->destroy(s);
	free(s);
}

/* Decodes the partitions' states and joins them in partition order. */
static int join_states(const struct part_call *c, const struct eau2_run_ctx *ctx,
		       eau2_df **result, struct eau2_error *err)
{
	const struct eau2_rower_class *cls = c->cls;
	void *root = NULL;
	int rc;

	if ((rc = state_new(cls, ctx, &root, err)))
		goto out;
	for (size_t i = 0; i < c->e->nparts && rc == 0; i++) {
		void *s = NULL;

		if ((rc = state_new(cls, ctx, &s, err)) == 0 &&
		    (rc = cls->decode(s, c->states[i], c->lens[i], err)) == 0)
			rc = cls->join(root, s, err);
		if (rc)
			eau2_error_prefix(err, rc, "run '%s' on '%s': state of partition %zu",
					  cls->name, c->e->key, i);
		state_free(cls, s);
	}
	if (rc == 0) {
		rc = cls->finish(root, ctx, result, err);
		if (rc && *result) {
			eau2_df_release(*result);
			*result = NULL;
		}
	}
out:
	state_free(cls, root);
	return rc;
}

/* Why a built-in class cannot run by joining partition states, or NULL.
 * These would fail on the driver: their states name rows or row groups
 * of an input that stays on the nodes. */
static const char *not_distributed(const struct eau2_rower_class *cls)
{
	if (cls == &eau2_rower_sort)
		return "its states name rows of the input";
	if (cls == &eau2_rower_map)
		return "its states name row groups of the input";
	return NULL;
}


/* ------------------------------------------------- shuffle */

/*
 * A run of a class with sample and split, on node operations with keep,
 * cut and reduce (cluster.h), keeps its states on the nodes (issue #12:
 * ten million groups do not funnel into one process):
 *  1. keep: one live replica of each partition runs its part and keeps
 *     the joined state (a partition name of a lease of this run), and
 *     answers its size and a sample of its keys;
 *  2. states all below the shuffle bound (EAU2_SHUFFLE_BYTES_DEFAULT;
 *     the driver's environment variable EAU2_SHUFFLE_BYTES says another,
 *     0: always shuffle): the states are fetched and joined here as
 *     before (the gathering path);
 *  3. else the key space is cut into P ranges, P the live members, at
 *     split keys from the samples (eau2_shuffle_splits: balanced, in
 *     finish's order); each state is cut on its node (cut); member r
 *     pulls range r of every state node to node (copy) and joins them in
 *     partition order and finishes (reduce): the rows of range r of the
 *     one-host answer; the driver fetches the P results in order and
 *     concatenates them. The driver moves no state: it sees samples,
 *     sizes and the finished ranges.
 * Whatever the outcome every kept state goes (drop; a killed driver's
 * are gc's: the lease). A node that fails (down, dead, unreachable) is
 * left out and the whole run starts again on the others, at most
 * SHUFFLE_TRIES times; a partition with no replica left fails the run,
 * naming it.
 */
#define SHUFFLE_TRIES 3

struct shuf {
	eau2_cluster *cl;
	eau2 *db;
	const struct eau2_dir_entry *e;
	const struct eau2_members *m;
	const struct eau2_rower_class *cls;
	const struct eau2_args *args;
	uint64_t put;
	size_t nparts, nranges;
	uint32_t *range_at;       /* nranges member indices: who reduces range r */
	unsigned char *failed;    /* per member: a call to it failed (host) */
	uint32_t *holder;         /* per part: the member keeping its state */
	void **sample;
	size_t *slen;
	uint64_t *bytes;
	void *splits;
	size_t splits_len;
	struct eau2_cluster_part_out *info; /* per range */
	eau2_df **dfs;            /* per range: its result, fetched */
	void **states;            /* the gathering path: per part */
	size_t *lens;
	const char *as;           /* NULL, or the results are published as it */
	unsigned replicas;        /* of as's partitions; 0: the input's */
	bool published;           /* as is: its partitions stay */
};

static int shuf_publish(struct shuf *c, struct eau2_error *err);

/* Partition names of the run: part i's state (what 0), range r of it
 * (1), range r's result (2: partition r of the output, so that --as
 * publishes the results where they are). */
static void shuf_name(const struct shuf *c, size_t i, size_t r, int what,
		      char out[EAU2_DIR_PART_NAME_MAX])
{
	size_t n = c->nparts, nr = c->nranges;
	size_t idx = what == 2 ? r : what == 0 ? nr + i : nr + n + i * nr + r;

	eau2_dir_part_name(c->put, idx, out);
}

static bool shuf_dead(const struct shuf *c, size_t k)
{
	return __atomic_load_n(&c->failed[k], __ATOMIC_SEQ_CST) ||
	       (c->cl->health &&
		eau2_health_state(c->cl->health, c->m->v[k].id, NULL) == EAU2_CLUSTER_DEAD);
}

/* A failure of the node rather than of the run: the node is left out. */
static int shuf_failed(const struct shuf *c, size_t k, int rc)
{
	if (rc == -EHOSTUNREACH || rc == -ETIMEDOUT || rc == -ECONNRESET ||
	    rc == -ECONNREFUSED || rc == -EPIPE || rc == -ENOTCONN || rc == -ECANCELED)
		__atomic_store_n(&c->failed[k], 1, __ATOMIC_SEQ_CST);
	return rc;
}

static int keep_task(void *arg, size_t i, struct eau2_error *err)
{
	struct shuf *c = arg;
	const struct eau2_dir_part *p = &c->e->parts[i];
	char part[EAU2_DIR_PART_NAME_MAX], state[EAU2_DIR_PART_NAME_MAX];
	int rc = -EHOSTUNREACH;

	eau2_dir_part_name(c->e->put, i, part);
	shuf_name(c, i, 0, 0, state);
	eau2_error_set(err, rc, "partition %zu: no live replica", i);
	/* Replicas in turn, from a different one per partition. */
	for (uint32_t q = 0; q < p->nrep; q++) {
		uint32_t j = (uint32_t)((q + i) % p->nrep);
		const struct eau2_member *node = member_of(c->m, eau2_dir_replica(c->e, i, j));
		size_t k;

		if (!node || shuf_dead(c, k = (size_t)(node - c->m->v)))
			continue;
		rc = c->cl->ops->keep(c->cl->ctx, node, part, c->cls->name, c->args, state,
				      EAU2_SHUFFLE_SAMPLES, c->db, &c->sample[i], &c->slen[i],
				      &c->bytes[i], err);
		if (rc == 0) {
			c->holder[i] = (uint32_t)k;
			return 0;
		}
		eau2_error_prefix(err, shuf_failed(c, k, rc), "partition %zu on node %s", i,
				  node->id);
	}
	return rc;
}

static int cut_task(void *arg, size_t i, struct eau2_error *err)
{
	struct shuf *c = arg;
	const struct eau2_member *node = &c->m->v[c->holder[i]];
	char state[EAU2_DIR_PART_NAME_MAX], (*names)[EAU2_DIR_PART_NAME_MAX];
	const char **ranges;
	int rc;

	names = calloc(c->nranges, sizeof(*names));
	ranges = calloc(c->nranges, sizeof(*ranges));
	if (!names || !ranges) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	shuf_name(c, i, 0, 0, state);
	for (size_t r = 0; r < c->nranges; r++) {
		shuf_name(c, i, r, 1, names[r]);
		ranges[r] = names[r];
	}
	rc = c->cl->ops->cut(c->cl->ctx, node, c->cls->name, c->args, c->e->schema, state,
			     c->splits, c->splits_len, c->nranges - 1, ranges, c->db, err);
	if (rc)
		eau2_error_prefix(err, shuf_failed(c, c->holder[i], rc), "partition %zu's "
				  "state on node %s", i, node->id);
out:
	free(names);
	free(ranges);
	return rc;
}

/* Member range_at[r] pulls range r of every state, then reduces them. */
static int reduce_task(void *arg, size_t r, struct eau2_error *err)
{
	struct shuf *c = arg;
	size_t k = c->range_at[r];
	const struct eau2_member *to = &c->m->v[k];
	char (*names)[EAU2_DIR_PART_NAME_MAX], out[EAU2_DIR_PART_NAME_MAX];
	const char **v;
	int rc = 0;

	names = calloc(c->nparts + 1, sizeof(*names));
	v = calloc(c->nparts + 1, sizeof(*v));
	if (!names || !v) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c->nparts && rc == 0; i++) {
		shuf_name(c, i, r, 1, names[i]);
		v[i] = names[i];
		if (c->holder[i] == k)
			continue;
		rc = c->cl->ops->copy(c->cl->ctx, &c->m->v[c->holder[i]], to, names[i], err);
		if (rc) {
			/* Which end failed is unknown: both are suspect once. */
			shuf_failed(c, c->holder[i], rc);
			eau2_error_prefix(err, shuf_failed(c, k, rc), "range %zu of partition "
					  "%zu from node %s to %s", r, i,
					  c->m->v[c->holder[i]].id, to->id);
		}
	}
	shuf_name(c, 0, r, 2, out);
	if (rc == 0 && (rc = c->cl->ops->reduce(c->cl->ctx, to, c->cls->name, c->args,
						c->e->schema, v, c->nparts, out,
						&c->info[r], err)))
		eau2_error_prefix(err, shuf_failed(c, k, rc), "range %zu on node %s", r,
				  to->id);
out:
	free(names);
	free(v);
	return rc;
}

/* Range r's result (what = 2) or part r's kept state (what = 0). */
static int shuf_fetch(struct shuf *c, size_t r, int what, struct eau2_error *err)
{
	size_t k = what == 2 ? c->range_at[r] : c->holder[r];
	char name[EAU2_DIR_PART_NAME_MAX];
	eau2_df *df = NULL;
	int rc;

	shuf_name(c, r, r, what, name);
	rc = c->cl->ops->fetch(c->cl->ctx, &c->m->v[k], name, c->db, &df, err);
	if (rc)
		return eau2_error_prefix(err, shuf_failed(c, k, rc), "%s %zu from node %s",
					 what == 2 ? "range" : "the state of partition", r,
					 c->m->v[k].id);
	if (what == 2) {
		c->dfs[r] = df;
		return 0;
	}
	rc = eau2_shuffle_blob_read(df, &c->states[r], &c->lens[r], err);
	eau2_df_release(df);
	return rc;
}

static int fetch_range_task(void *arg, size_t r, struct eau2_error *err)
{
	return shuf_fetch(arg, r, 2, err);
}

static int fetch_state_task(void *arg, size_t i, struct eau2_error *err)
{
	return shuf_fetch(arg, i, 0, err);
}

/* Drops what this attempt left on member k (its put's partitions). */
static int shuf_clean_task(void *arg, size_t k, struct eau2_error *err)
{
	struct shuf *c = arg;
	char prefix[EAU2_DIR_PART_NAME_MAX];
	char **parts = NULL;
	size_t n = 0;

	eau2_dir_part_name(c->put, 0, prefix);
	prefix[strlen(prefix) - 1] = 0; /* "eau2.part.<put>." */
	if (c->cl->ops->list(c->cl->ctx, &c->m->v[k], &parts, &n, err))
		return 0; /* down: gc drops it later (no lease) */
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(prefix);

		if (strncmp(parts[i], prefix, len))
			continue;
		/* Published: the results (partitions 0 .. nranges - 1) stay. */
		if (c->published && strtoull(parts[i] + len, NULL, 10) < c->nranges)
			continue;
		(void)c->cl->ops->drop(c->cl->ctx, &c->m->v[k], parts[i], err);
	}
	eau2_list_free(parts);
	return 0;
}

/* The bound of a state below which the states are gathered. */
static uint64_t shuffle_bytes(void)
{
	const char *v = getenv("EAU2_SHUFFLE_BYTES");
	char *end;
	unsigned long long b;

	if (!v || !*v)
		return EAU2_SHUFFLE_BYTES_DEFAULT;
	b = strtoull(v, &end, 10);
	return *end ? EAU2_SHUFFLE_BYTES_DEFAULT : b;
}

static bool shuffles(const eau2_cluster *cl, const struct eau2_rower_class *cls)
{
	return cls->sample && cls->split && cl->ops->keep && cl->ops->cut && cl->ops->reduce;
}

/* Whether a part's state might reach the shuffle bound: a group-by's
 * state holds at most a key and a record per row, which seldom take 16
 * times a row's bytes. Runs below keep the plain path, backups for
 * stragglers and failover mid-call included (keep has neither); a state
 * that grows past the guess is gathered, as before the shuffle. */
static bool may_shuffle(const struct eau2_dir_entry *e)
{
	uint64_t bound = shuffle_bytes(), most = 0;

	for (size_t i = 0; i < e->nparts; i++)
		most = most > e->parts[i].bytes ? most : e->parts[i].bytes;
	return most >= bound / 16;
}

/* One attempt on the members m; c's arrays sized for them. */
static int shuf_attempt(struct shuf *c, const struct eau2_run_ctx *ctx, eau2_df **result,
			struct eau2_error *err)
{
	uint64_t most = 0;
	int rc;

	if ((rc = parallel(c->nparts, keep_task, c, err)))
		return rc;
	for (size_t i = 0; i < c->nparts; i++)
		most = most > c->bytes[i] ? most : c->bytes[i];
	if (most < shuffle_bytes() || c->nranges < 2) {
		struct part_call pc = {
			.cl = c->cl, .db = c->db, .e = c->e, .m = c->m, .cls = c->cls,
			.args = c->args, .states = c->states, .lens = c->lens,
		};

		return parallel(c->nparts, fetch_state_task, c, err) ?:
		       join_states(&pc, ctx, result, err);
	}
	if ((rc = eau2_shuffle_splits((const void *const *)c->sample, c->slen, c->nparts,
				      c->nranges, &c->splits, &c->splits_len, err)) ||
	    (rc = parallel(c->nparts, cut_task, c, err)) ||
	    (rc = parallel(c->nranges, reduce_task, c, err)))
		return rc;
	if (c->as)
		return shuf_publish(c, err);
	if ((rc = parallel(c->nranges, fetch_range_task, c, err)))
		return rc;
	for (size_t r = 0; r < c->nranges; r++)
		if (!eau2_cluster_same_schema(c->info[r].schema, c->info[0].schema))
			return eau2_error_set(err, -EBADMSG, "range %zu's result has another "
					      "schema than range 0's", r);
	return eau2_cluster_concat(c->db, c->info[0].schema, c->dfs, c->nranges, result, err);
}

static void shuf_free(struct shuf *c)
{
	for (size_t i = 0; i < c->nparts; i++) {
		if (c->sample)
			free(c->sample[i]);
		if (c->states)
			free(c->states[i]);
	}
	for (size_t r = 0; r < c->nranges; r++) {
		if (c->info)
			eau2_schema_free(c->info[r].schema);
		if (c->dfs)
			eau2_df_release(c->dfs[r]);
	}
	free(c->range_at);
	free(c->failed);
	free(c->holder);
	free(c->sample);
	free(c->slen);
	free(c->bytes);
	free(c->splits);
	free(c->info);
	free(c->dfs);
	free(c->states);
	free(c->lens);
}

/* Members failed in earlier attempts (by id): left out of the next. */
struct shuf_out {
	size_t n;
	char id[EAU2_CLUSTER_PARALLEL][EAU2_MEMBER_ID_MAX + 1];
};

/* A shuffle of cls over e; as: its ranges published as `as` on
 * `replicas` nodes each (*result stays NULL unless the states were
 * gathered: the caller puts it). */
static int shuffle_run(eau2_cluster *cl, eau2 *db, const struct eau2_dir_entry *e,
		       const struct eau2_rower_class *cls, const struct eau2_args *args,
		       const struct eau2_run_ctx *ctx, const char *as, unsigned replicas,
		       eau2_df **result, struct eau2_error *err)
{
	struct shuf_out gone = {0};
	int rc = 0;

	for (int t = 0; t < SHUFFLE_TRIES; t++) {
		struct eau2_members m = {0};
		struct shuf c = {
			.cl = cl, .db = db, .e = e, .m = &m, .cls = cls, .args = args,
			.nparts = e->nparts, .as = as, .replicas = replicas,
		};
		bool again = false;

		if ((rc = eau2_members_list(cl->zk, &m, err)))
			return rc;
		c.failed = calloc(m.n + 1, 1);
		c.range_at = calloc(m.n + 1, sizeof(*c.range_at));
		if (!c.failed || !c.range_at) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			goto next;
		}
		for (size_t k = 0; k < m.n; k++)
			for (size_t q = 0; q < gone.n; q++)
				c.failed[k] |= !strcmp(m.v[k].id, gone.id[q]);
		for (size_t k = 0; k < m.n; k++)
			if (!shuf_dead(&c, k))
				c.range_at[c.nranges++] = (uint32_t)k;
		if (c.nranges == 0) {
			rc = eau2_error_set(err, -EHOSTUNREACH, "no live node in cluster %s",
					    eau2_zk_root(cl->zk));
			goto next;
		}
		c.holder = calloc(c.nparts + 1, sizeof(*c.holder));
		c.sample = calloc(c.nparts + 1, sizeof(*c.sample));
		c.slen = calloc(c.nparts + 1, sizeof(*c.slen));
		c.bytes = calloc(c.nparts + 1, sizeof(*c.bytes));
		c.states = calloc(c.nparts + 1, sizeof(*c.states));
		c.lens = calloc(c.nparts + 1, sizeof(*c.lens));
		c.info = calloc(c.nranges, sizeof(*c.info));
		c.dfs = calloc(c.nranges, sizeof(*c.dfs));
		if (!c.holder || !c.sample || !c.slen || !c.bytes || !c.states || !c.lens ||
		    !c.info || !c.dfs) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			goto next;
		}
		if ((rc = eau2_dir_lease(cl->zk, as ? as : e->key, &c.put, err)))
			goto next;
		rc = shuf_attempt(&c, ctx, result, err);
		parallel(m.n, shuf_clean_task, &c, NULL);
		if (!c.published) /* else the publish ended it */
			eau2_dir_unlease(cl->zk, c.put, NULL);
		/* A node failed: again without it, while another is left. */
		for (size_t k = 0; rc && k < m.n; k++)
			if (c.failed[k] && gone.n < EAU2_CLUSTER_PARALLEL) {
				bool known = false;

				for (size_t q = 0; q < gone.n; q++)
					known = known || !strcmp(gone.id[q], m.v[k].id);
				if (!known) {
					strcpy(gone.id[gone.n++], m.v[k].id);
					again = true;
				}
			}
next:
		shuf_free(&c);
		eau2_members_free(&m);
		if (rc == 0 || !again)
			break;
	}
	return rc;
}

int eau2_cluster_run(eau2_cluster *cl, eau2 *db, const char *key,
		     const struct eau2_rower_class *cls, const struct eau2_args *args,
		     eau2_df **result, struct eau2_error *err)
{
	static const struct eau2_args no_args = {0};
	struct eau2_dir_entry e;
	struct eau2_members m = {0};
	struct part_call c = {
		.cl = cl, .db = db, .e = &e, .m = &m, .cls = cls,
		.args = args ? args : &no_args,
	};
	eau2_builder *b = NULL;
	eau2_df *input = NULL;
	struct bcast side = {0};
	const char *why;
	int rc;

	*result = NULL;
	if (!cls || !cls->init || !cls->join || !cls->finish || !cls->encode || !cls->decode)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' lacks init, join, finish, "
				      "encode or decode: it cannot run on a cluster",
				      cls && cls->name ? cls->name : "?");
	if (cls->flags & EAU2_ROWER_NO_INPUT)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' takes no input: run it on one "
				      "host", cls->name);
	if ((why = not_distributed(cls)))
		return eau2_error_set(err, -ENOTSUP, "rower '%s' cannot run on a cluster yet: "
				      "%s", cls->name, why);
	if ((rc = eau2_dir_read(cl->zk, key, &e, NULL, NULL, err)))
		return rc;
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		goto out;
	c.states = calloc(e.nparts + 1, sizeof(*c.states));
	c.lens = calloc(e.nparts + 1, sizeof(*c.lens));
	if (!c.states || !c.lens) {
		rc = eau2_error_set(err, -ENOMEM, "run '%s': out of memory", key);
		goto out;
	}
	/* The driver's states see the key's schema and no rows. */
	if ((rc = eau2_builder_new(db, e.schema, &b, err)) ||
	    (rc = eau2_builder_finish(b, &input, err)))
		goto out;
	if ((rc = bcast_start(cl, db, &e, &m, cls, c.args, &side, err)))
		goto out;
	if (shuffles(cl, cls) && may_shuffle(&e)) {
		struct eau2_run_ctx ctx = {
			.db = db, .input = input, .args = c.args, .threads = 1,
			.flags = EAU2_RUN_CLUSTER, .key = key,
		};

		rc = shuffle_run(cl, db, &e, cls, side.n ? &side.args : c.args, &ctx, NULL, 0,
				 result, err);
		if (rc)
			eau2_error_prefix(err, rc, "run '%s' on '%s'", cls->name, key);
		goto out;
	}
	if ((rc = eau2_spec_run(&cl->inflight, &cl->spec, cl->ops, cl->ctx, &e,
				side.n ? &side.m : &m, cls->name, side.n ? &side.args : c.args,
				NULL, c.states, c.lens, err)))
		goto out;
	{
		/* The driver's states read the side tables by their cluster
		 * keys: bcast_cached answers. */
		struct eau2_run_ctx ctx = {
			.db = db, .input = input, .args = c.args, .threads = 1,
			.flags = EAU2_RUN_CLUSTER, .key = key,
		};

		rc = join_states(&c, &ctx, result, err);
	}
out:
	bcast_end(&side);
	for (size_t i = 0; c.states && i < e.nparts; i++)
		free(c.states[i]);
	free(c.states);
	free(c.lens);
	eau2_df_release(input);
	eau2_members_free(&m);
	eau2_dir_entry_free(&e);
	return rc;
}

/* ------------------------------------------------- runs kept on the nodes */

/*
 * A row-wise run stored under a key (eau2_cluster_run_as). Each part's
 * output is stored where it ran as partition i of a new put (a lease of
 * `as`, so a driver killed meanwhile leaves garbage that gc drops); the
 * driver hears its size and schema only. The winner's copy then goes
 * node to node (PULL) to the other replicas, chosen among the live
 * members by the bytes this run has given each (nodes that ran a losing
 * copy last: theirs is the same rows, and is dropped when unchosen), and
 * the entry is published in the input's partition order. Network: each
 * output's bytes once per extra replica, node to node; the driver sees a
 * descriptor per partition.
 */
struct out_call {
	eau2_cluster *cl;
	const struct eau2_dir_entry *e;    /* the input's */
	const struct eau2_members *m;
	struct eau2_spec_out so;
	uint32_t *to;           /* [i * REPLICAS_MAX + j]: member indices; j 0 the winner */
	unsigned *nto;          /* per partition */
	unsigned char *copied;  /* as to: the copy is there */
	uint32_t *lost;         /* as to: the members that ran a copy of i */
	unsigned char *stale;   /* as lost: to drop */
};

#define OUT_AT(i, j) ((i) * EAU2_DIR_REPLICAS_MAX + (j))

/* c's placement arrays for n partitions (not so.info: the caller's);
 * out_free frees what was made. -ENOMEM leaves them to out_free. */
static int out_alloc(struct out_call *c, size_t n)
{
	size_t slots = n * EAU2_DIR_REPLICAS_MAX + 1;

	c->so.won = calloc(n + 1, sizeof(*c->so.won));
	c->so.tried = calloc(n + 1, sizeof(*c->so.tried));
	c->nto = calloc(n + 1, sizeof(*c->nto));
	c->to = calloc(slots, sizeof(*c->to));
	c->lost = calloc(slots, sizeof(*c->lost));
	c->copied = calloc(slots, 1);
	c->stale = calloc(slots, 1);
	return c->so.won && c->so.tried && c->nto && c->to && c->lost && c->copied &&
	       c->stale ? 0 : -ENOMEM;
}

static void out_free(struct out_call *c)
{
	free(c->so.won);
	free(c->so.tried);
	free(c->nto);
	free(c->to);
	free(c->lost);
	free(c->copied);
	free(c->stale);
}

static int out_copy_task(void *arg, size_t t, struct eau2_error *err)
{
	struct out_call *c = arg;
	size_t i = t / EAU2_DIR_REPLICAS_MAX, j = t % EAU2_DIR_REPLICAS_MAX;
	const struct eau2_member *from, *to;
	char name[EAU2_DIR_PART_NAME_MAX];
	int rc;

	if (j == 0 || j >= c->nto[i])
		return 0;
	from = &c->m->v[c->to[OUT_AT(i, 0)]];
	to = &c->m->v[c->to[t]];
	eau2_dir_part_name(c->so.put, i, name);
	if ((rc = c->cl->ops->copy(c->cl->ctx, from, to, name, err)))
		return eau2_error_prefix(err, rc, "partition %zu's output from node %s to %s",
					 i, from->id, to->id);
	c->copied[t] = 1;
	return 0;
}

static bool out_dead(const struct out_call *c, size_t k)
{
	return c->cl->health &&
	       eau2_health_state(c->cl->health, c->m->v[k].id, NULL) == EAU2_CLUSTER_DEAD;
}

/* Copies each winner's output to its other replicas placed; a copy that
 * fails is tried on the other live members in turn (one at a time: a
 * node gone since the run costs a retry, not the run). */
static int out_copy(struct out_call *c, struct eau2_error *err)
{
	size_t n = c->e->nparts * EAU2_DIR_REPLICAS_MAX;
	int rc = parallel(n, out_copy_task, c, err);

	for (size_t t = 0; rc && t < n; t++) {
		size_t i = t / EAU2_DIR_REPLICAS_MAX, j = t % EAU2_DIR_REPLICAS_MAX;
		uint32_t first = c->to[t];

		if (j == 0 || j >= c->nto[i] || c->copied[t])
			continue;
		for (size_t k = 0; k < c->m->n && !c->copied[t]; k++) {
			struct eau2_error again = {0};
			bool taken = k == first || out_dead(c, k);

			for (unsigned q = 0; q < c->nto[i] && !taken; q++)
				taken = c->to[OUT_AT(i, q)] == k;
			if (taken)
				continue;
			c->to[t] = (uint32_t)k;
			(void)out_copy_task(c, t, &again);
		}
		if (!c->copied[t]) {
			c->to[t] = first;
			return rc; /* the first failure's error */
		}
	}
	return 0;
}

/* Picks partition i's replicas: the winner, then the members with the
 * fewest bytes given by this run, those that ran a losing copy last.
 * given: bytes per member, updated. */
static int out_place(struct out_call *c, size_t i, unsigned r, uint64_t *given,
		     struct eau2_error *err)
{
	const struct eau2_dir_part *p = &c->e->parts[i];
	const struct eau2_member *w = member_of(c->m, eau2_dir_replica(c->e, i, c->so.won[i]));
	uint64_t bytes = c->so.info[i].bytes;
	unsigned n = 0;

	if (!w)
		return eau2_error_set(err, -EHOSTUNREACH, "partition %zu: the node that ran it "
				      "left", i);
	c->to[OUT_AT(i, n++)] = (uint32_t)(w - c->m->v);
	given[w - c->m->v] += bytes;
	while (n < r) {
		size_t best = SIZE_MAX;
		bool best_ran = true;

		for (size_t k = 0; k < c->m->n; k++) {
			bool taken = false, ran = false;

			for (unsigned q = 0; q < n; q++)
				taken = taken || c->to[OUT_AT(i, q)] == k;
			for (uint32_t j = 0; j < p->nrep; j++)
				ran = ran || (c->stale[OUT_AT(i, j)] && c->lost[OUT_AT(i, j)] == k);
			if (taken || out_dead(c, k))
				continue;
			if (best == SIZE_MAX || (best_ran && !ran) ||
			    (best_ran == ran && given[k] < given[best])) {
				best = k;
				best_ran = ran;
			}
		}
		if (best == SIZE_MAX)
			return eau2_error_set(err, -EHOSTUNREACH, "%u replicas, %zu live nodes",
					      r, c->m->n);
		c->to[OUT_AT(i, n++)] = (uint32_t)best;
		given[best] += bytes;
	}
	c->nto[i] = n;
	return 0;
}

/* The entry of as: the partitions' sizes as their winners said, their
 * replicas as placed. */
static int out_entry(struct out_call *c, const char *as, struct eau2_dir_entry *oe,
		     struct eau2_error *err)
{
	const struct eau2_dir_entry *e = c->e;
	int rc;

	memset(oe, 0, sizeof(*oe));
	snprintf(oe->key, sizeof(oe->key), "%s", as);
	oe->put = c->so.put;
	oe->created_ms = (int64_t)time(NULL) * 1000;
	if (!(oe->parts = calloc(e->nparts + 1, sizeof(*oe->parts))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	oe->nparts = e->nparts;
	if ((rc = eau2_schema_copy(c->so.info[0].schema, &oe->schema, err)))
		return rc;
	for (size_t i = 0; i < e->nparts; i++) {
		struct eau2_dir_part *p = &oe->parts[i];
		const struct eau2_cluster_part_out *o = &c->so.info[i];

		if (!eau2_cluster_same_schema(o->schema, oe->schema))
			return eau2_error_set(err, -EBADMSG, "partition %zu's output has "
					      "another schema than partition 0's", i);
		p->rows = o->rows;
		p->bytes = o->bytes;
		p->groups = o->groups;
		oe->rows += o->rows;
		oe->bytes += o->bytes;
		for (unsigned j = 0; j < c->nto[i]; j++) {
			p->nrep = j + 1;
			if ((rc = eau2_dir_set_replica(oe, i, j, c->m->v[c->to[OUT_AT(i, j)]].id,
						       err)))
				return rc;
		}
	}
	return 0;
}

/* Drops the copies marked in `marks` (as to or lost) of members `at`. */
static void out_drop(struct out_call *c, const uint32_t *at, const unsigned char *marks)
{
	struct drop_call d = {
		.cl = c->cl, .m = c->m, .put = c->so.put, .place = at, .pushed = marks,
		.r = EAU2_DIR_REPLICAS_MAX,
	};

	parallel(c->e->nparts * EAU2_DIR_REPLICAS_MAX, drop_task, &d, NULL);
}

/* Places each partition's output (`replicas` each, 0: its input
 * partition's, at most the live members), copies it there node to node
 * and publishes `as`: its entry in *oe, the one it replaced in *old
 * (both the caller's to free). */
static int out_publish(struct out_call *c, const char *as, unsigned replicas,
		       uint64_t *given, struct eau2_dir_entry *oe, struct eau2_dir_entry *old,
		       struct eau2_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < c->e->nparts && rc == 0; i++) {
		unsigned r = replicas ? replicas : c->e->parts[i].nrep;

		rc = out_place(c, i, r > c->m->n ? (unsigned)c->m->n : r, given, err);
	}
	return rc ?: out_copy(c, err) ?: out_entry(c, as, oe, err) ?:
	       eau2_dir_publish(c->cl->zk, oe, old, err);
}

/* The shuffle's finished ranges, each on the member that reduced it as
 * partition r of the run's put, published as c->as in range order with
 * replicas as eau2_cluster_run_as places them (out_publish): the rows
 * never reach the driver. */
static int shuf_publish(struct shuf *s, struct eau2_error *err)
{
	struct eau2_dir_entry re = {0}, oe = {0}, old = {0};
	struct out_call c = {
		.cl = s->cl, .e = &re, .m = s->m,
		.so = { .put = s->put, .info = s->info },
	};
	uint64_t *given = calloc(s->m->n + 1, sizeof(*given));
	int rc = 0;

	snprintf(re.key, sizeof(re.key), "%s", s->as);
	re.nparts = s->nranges;
	re.parts = calloc(s->nranges + 1, sizeof(*re.parts));
	if (out_alloc(&c, s->nranges) || !given || !re.parts) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t r = 0; r < s->nranges && rc == 0; r++) {
		re.parts[r].nrep = 1;
		rc = eau2_dir_set_replica(&re, r, 0, s->m->v[s->range_at[r]].id, err);
	}
	if (rc || (rc = out_publish(&c, s->as, s->replicas ? s->replicas :
				    s->e->parts[0].nrep, given, &oe, &old, err)))
		goto out;
	s->published = true;
	drop_entry(s->cl, &old);
out:
	free(given);
	out_free(&c);
	eau2_dir_entry_free(&re);
	eau2_dir_entry_free(&oe);
	eau2_dir_entry_free(&old);
	return rc;
}

/* eau2_cluster_run_as of a class that shuffles: the finished ranges are
 * published where they were made; states small enough to gather give a
 * result here, put as `as`. */
static int shuffle_as(eau2_cluster *cl, eau2 *db, const char *key,
		      const struct eau2_rower_class *cls, const struct eau2_args *args,
		      const char *as, unsigned replicas, struct eau2_error *err)
{
	static const struct eau2_args no_args = {0};
	struct eau2_dir_entry e;
	eau2_builder *b = NULL;
	eau2_df *input = NULL, *res = NULL;
	int rc;

	if (cls->side_args)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' as '%s': side tables and a "
				      "shuffle", cls->name, as);
	if ((rc = eau2_dir_key_path(as, (char[EAU2_ZK_PATH_MAX]){0}, err)) ||
	    (rc = eau2_dir_read(cl->zk, key, &e, NULL, NULL, err)))
		return rc;
	if ((rc = eau2_builder_new(db, e.schema, &b, err)) ||
	    (rc = eau2_builder_finish(b, &input, err)))
		goto out;
	{
		struct eau2_run_ctx ctx = {
			.db = db, .input = input, .args = args ? args : &no_args, .threads = 1,
			.flags = EAU2_RUN_CLUSTER, .key = key,
		};

		rc = shuffle_run(cl, db, &e, cls, ctx.args, &ctx, as, replicas, &res, err);
	}
	if (rc == 0 && res)
		rc = eau2_cluster_put(cl, db, as, res, &(struct eau2_cluster_put_options){
			.replicas = replicas }, err);
	if (rc)
		eau2_error_prefix(err, rc, "run '%s' as '%s'", cls->name, as);
out:
	eau2_df_release(res);
	eau2_df_release(input);
	eau2_dir_entry_free(&e);
	return rc;
}

int eau2_cluster_run_as(eau2_cluster *cl, eau2 *db, const char *key,
			const struct eau2_rower_class *cls, const struct eau2_args *args,
			const char *as, unsigned replicas, struct eau2_error *err)
{
	static const struct eau2_args no_args = {0};
	struct eau2_dir_entry e, oe = {0}, old = {0};
	struct eau2_members m = {0};
	struct out_call c = { .cl = cl, .e = &e, .m = &m };
	struct bcast side = {0};
	uint64_t *given = NULL;
	bool leased = false;
	bool shuffled = cls && !(cls->flags & EAU2_ROWER_ROWWISE) && shuffles(cl, cls);
	int rc;

	if (!shuffled && (!cls || !(cls->flags & EAU2_ROWER_ROWWISE) || !cl->ops->run_out))
		return eau2_error_set(err, -ENOTSUP, "rower '%s': its output cannot stay on "
				      "the nodes", cls && cls->name ? cls->name : "?");
	if (replicas > EAU2_DIR_REPLICAS_MAX)
		return eau2_error_set(err, -EINVAL, "run '%s' as '%s': %u replicas (at most "
				      "%d)", cls->name, as, replicas, EAU2_DIR_REPLICAS_MAX);
	if (shuffled)
		return shuffle_as(cl, db, key, cls, args, as, replicas, err);
	if ((rc = eau2_dir_key_path(as, (char[EAU2_ZK_PATH_MAX]){0}, err)))
		return rc;
	if ((rc = eau2_dir_read(cl->zk, key, &e, NULL, NULL, err)))
		return rc;
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		goto out;
	c.so.info = calloc(e.nparts + 1, sizeof(*c.so.info));
	given = calloc(m.n + 1, sizeof(*given));
	if (out_alloc(&c, e.nparts) || !c.so.info || !given) {
		rc = eau2_error_set(err, -ENOMEM, "run '%s' as '%s': out of memory", cls->name, as);
		goto out;
	}
	if (e.nparts == 0) {
		rc = eau2_error_set(err, -EBADMSG, "run '%s': key '%s' has no partition",
				    cls->name, key);
		goto out;
	}
	if (replicas > m.n) {
		rc = eau2_error_set(err, -EHOSTUNREACH, "run '%s' as '%s': %u replicas, %zu "
				    "live nodes", cls->name, as, replicas, m.n);
		goto out;
	}
	if ((rc = bcast_start(cl, db, &e, &m, cls, args ? args : &no_args, &side, err)))
		goto out;
	if ((rc = eau2_dir_lease(cl->zk, as, &c.so.put, err)))
		goto out;
	leased = true;
	rc = eau2_spec_run(&cl->inflight, &cl->spec, cl->ops, cl->ctx, &e,
			   side.n ? &side.m : &m, cls->name,
			   side.n ? &side.args : args ? args : &no_args, &c.so, NULL, NULL, err);
	/* What each task's copies left, whatever the outcome. */
	for (size_t i = 0; i < e.nparts; i++)
		for (uint32_t j = 0; j < e.parts[i].nrep; j++) {
			const struct eau2_member *node = member_of(&m, eau2_dir_replica(&e, i, j));

			if ((c.so.tried[i] >> j & 1) && node) {
				c.lost[OUT_AT(i, j)] = (uint32_t)(node - m.v);
				c.stale[OUT_AT(i, j)] = 1;
			}
		}
	if (rc)
		goto out;
	if ((rc = out_publish(&c, as, replicas, given, &oe, &old, err))) {
		eau2_error_prefix(err, rc, "run '%s' as '%s'", cls->name, as);
		goto out;
	}
	leased = false;
	drop_entry(cl, &old);
	/* The copies kept: a node placed holds the winner's. */
	for (size_t i = 0; i < e.nparts; i++)
		for (uint32_t j = 0; j < e.parts[i].nrep; j++)
			for (unsigned q = 0; q < c.nto[i]; q++)
				if (c.lost[OUT_AT(i, j)] == c.to[OUT_AT(i, q)])
					c.stale[OUT_AT(i, j)] = 0;
out:
	/* Nothing published: every copy goes, the winners' too. */
	if (rc && c.to && c.copied)
		out_drop(&c, c.to, c.copied);
	if (c.lost && c.stale)
		out_drop(&c, c.lost, c.stale);
	if (leased)
		eau2_dir_unlease(cl->zk, c.so.put, NULL);
	bcast_end(&side);
	for (size_t i = 0; c.so.info && i < e.nparts; i++)
		eau2_schema_free(c.so.info[i].schema);
	free(c.so.info);
	out_free(&c);
	free(given);
	eau2_dir_entry_free(&oe);
	eau2_dir_entry_free(&old);
	eau2_members_free(&m);
	eau2_dir_entry_free(&e);
	return rc;
}

/* ------------------------------------------------- garbage */

struct gc_call {
	eau2_cluster *cl;
	const struct eau2_members *m;
	const struct eau2_dir_live *live;   /* NULL while listing */
	char ***parts;                      /* per node */
	size_t *nparts;
	atomic_size_t dropped;
};

static int gc_task(void *arg, size_t k, struct eau2_error *err)
{
	struct gc_call *c = arg;
	const struct eau2_member *node = &c->m->v[k];
	int rc;

	if (!c->live) {
		rc = c->cl->ops->list(c->cl->ctx, node, &c->parts[k], &c->nparts[k], err);
		return rc ? eau2_error_prefix(err, rc, "gc: node %s (%s)", node->id, node->addr) : 0;
	}
	for (size_t i = 0; i < c->nparts[k]; i++)
		if (eau2_dir_is_garbage(c->live, c->parts[k][i]) &&
		    c->cl->ops->drop(c->cl->ctx, node, c->parts[k][i], NULL) == 0)
			atomic_fetch_add(&c->dropped, 1);
	return 0;
}

int eau2_cluster_gc(eau2_cluster *cl, size_t *dropped, struct eau2_error *err)
{
	struct eau2_members m = {0};
	struct eau2_dir_live live = {0};
	struct gc_call c = { .cl = cl, .m = &m };
	struct eau2_error lerr = {0};
	int rc, lrc;

	if (dropped)
		*dropped = 0;
	atomic_init(&c.dropped, 0);
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		return rc;
	c.parts = calloc(m.n + 1, sizeof(*c.parts));
	c.nparts = calloc(m.n + 1, sizeof(*c.nparts));
	if (!c.parts || !c.nparts) {
		rc = eau2_error_set(err, -ENOMEM, "gc: out of memory");
		goto out;
	}
	/* The partitions first, then what is alive: a listed partition was
	 * pushed before the read, so its put's lease (taken before any push)
	 * or its key is seen by the read unless the put is over. */
	lrc = parallel(m.n, gc_task, &c, &lerr);
	if ((rc = eau2_dir_live_read(cl->zk, &live, err)))
		goto out;
	c.live = &live;
	parallel(m.n, gc_task, &c, NULL);
	if (dropped)
		*dropped = atomic_load(&c.dropped);
	if ((rc = lrc) && err)
		*err = lerr;
out:
	for (size_t k = 0; c.parts && k < m.n; k++)
		eau2_list_free(c.parts[k]);
	free(c.parts);
	free(c.nparts);
	eau2_dir_live_free(&live);
	eau2_members_free(&m);
	return rc;
}
