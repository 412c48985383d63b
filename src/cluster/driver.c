/* SPDX-License-Identifier: MIT */
/*
 * driver.c - the driver of a cluster (cluster.h): open and close, get,
 * wait_get, delete, list, health and run on a cluster's keys, over the
 * directory in ZooKeeper (dir.c), the members (members.c) and the node
 * operations the caller plugs in; broadcast side tables; runs whose
 * output stays on the nodes (eau2_cluster_run_as); and gc. Put and load
 * are put.c's, a run that shuffles is shuffle.c's.
 *
 * Access rules: driver.h's.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/driver.h"
#include "cluster/zk.h"
#include "df/df.h"

/* ------------------------------------------------- parallel tasks */

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
int eau2_driver_parallel(size_t n, task_fn *fn, void *arg, struct eau2_error *err)
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
	cl->shuffle_bytes = opt->shuffle_bytes < 0 ? 0 : opt->shuffle_bytes ?
			    (uint64_t)opt->shuffle_bytes : EAU2_SHUFFLE_BYTES_DEFAULT;
	cl->bcast_max = opt->bcast_max ? opt->bcast_max : EAU2_BCAST_MAX;
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
const struct eau2_member *eau2_driver_member_of(const struct eau2_members *m, const char *id)
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
		eau2_driver_parallel(b->nto * b->n, bcast_drop_task, b, NULL);
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
		if (bytes > cl->bcast_max)
			return eau2_error_set(err, -ERANGE, "run '%s': side table %s=%s is %"
					      PRIu64 " bytes, over the broadcast bound of %"
					      PRIu64 " (bcast_max, EAU2_BCAST_MAX)", cls->name,
					      args->names[b->arg[j]], b->key[j], bytes,
					      cl->bcast_max);
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
	prc = eau2_driver_parallel(b->nto * b->n, bcast_push_task, b, &perr);
	if ((rc = bcast_members(b, m, err)))
		return rc;
	for (size_t p = 0; prc && p < e->nparts; p++) {
		bool any = false;

		for (uint32_t r = 0; r < e->parts[p].nrep && !any; r++)
			any = eau2_driver_member_of(&b->m, eau2_dir_replica(e, p, r)) != NULL;
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
		const struct eau2_member *node = eau2_driver_member_of(c->m, id);
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
	if ((rc = eau2_driver_parallel(e.nparts, fetch_task, &c, err)))
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
	eau2_driver_drop_entry(cl, &old);
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
int eau2_driver_join_states(const struct part_call *c, const struct eau2_run_ctx *ctx,
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
	if (eau2_driver_shuffles(cl, cls) && eau2_driver_may_shuffle(cl, &e)) {
		struct eau2_run_ctx ctx = {
			.db = db, .input = input, .args = c.args, .threads = 1,
			.flags = EAU2_RUN_CLUSTER, .key = key,
		};

		rc = eau2_driver_shuffle_run(cl, db, &e, cls, side.n ? &side.args : c.args,
					     &ctx, NULL, 0, result, err);
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

		rc = eau2_driver_join_states(&c, &ctx, result, err);
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

#define OUT_AT(i, j) ((i) * EAU2_DIR_REPLICAS_MAX + (j))

/* c's placement arrays for n partitions (not so.info: the caller's);
 * eau2_driver_out_free frees what was made. -ENOMEM leaves them to it. */
int eau2_driver_out_alloc(struct out_call *c, size_t n)
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

void eau2_driver_out_free(struct out_call *c)
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
	int rc = eau2_driver_parallel(n, out_copy_task, c, err);

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
	const struct eau2_member *w =
		eau2_driver_member_of(c->m, eau2_dir_replica(c->e, i, c->so.won[i]));
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

	eau2_driver_parallel(c->e->nparts * EAU2_DIR_REPLICAS_MAX, eau2_driver_drop_task, &d, NULL);
}

/* Places each partition's output (`replicas` each, 0: its input
 * partition's, at most the live members), copies it there node to node
 * and publishes `as`: its entry in *oe, the one it replaced in *old
 * (both the caller's to free). */
int eau2_driver_out_publish(struct out_call *c, const char *as, unsigned replicas,
			    uint64_t *given, struct eau2_dir_entry *oe,
			    struct eau2_dir_entry *old, struct eau2_error *err)
{
	int rc = 0;

	for (size_t i = 0; i < c->e->nparts && rc == 0; i++) {
		unsigned r = replicas ? replicas : c->e->parts[i].nrep;

		rc = out_place(c, i, r > c->m->n ? (unsigned)c->m->n : r, given, err);
	}
	return rc ?: out_copy(c, err) ?: out_entry(c, as, oe, err) ?:
	       eau2_dir_publish(c->cl->zk, oe, old, err);
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
	bool shuffled = cls && !(cls->flags & EAU2_ROWER_ROWWISE) && eau2_driver_shuffles(cl, cls);
	int rc;

	if (!shuffled && (!cls || !(cls->flags & EAU2_ROWER_ROWWISE) || !cl->ops->run_out))
		return eau2_error_set(err, -ENOTSUP, "rower '%s': its output cannot stay on "
				      "the nodes", cls && cls->name ? cls->name : "?");
	if (replicas > EAU2_DIR_REPLICAS_MAX)
		return eau2_error_set(err, -EINVAL, "run '%s' as '%s': %u replicas (at most "
				      "%d)", cls->name, as, replicas, EAU2_DIR_REPLICAS_MAX);
	if (shuffled)
		return eau2_driver_shuffle_as(cl, db, key, cls, args, as, replicas, err);
	if ((rc = eau2_dir_key_path(as, (char[EAU2_ZK_PATH_MAX]){0}, err)))
		return rc;
	if ((rc = eau2_dir_read(cl->zk, key, &e, NULL, NULL, err)))
		return rc;
	if ((rc = eau2_members_list(cl->zk, &m, err)))
		goto out;
	c.so.info = calloc(e.nparts + 1, sizeof(*c.so.info));
	given = calloc(m.n + 1, sizeof(*given));
	if (eau2_driver_out_alloc(&c, e.nparts) || !c.so.info || !given) {
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
			const struct eau2_member *node =
				eau2_driver_member_of(&m, eau2_dir_replica(&e, i, j));

			if ((c.so.tried[i] >> j & 1) && node) {
				c.lost[OUT_AT(i, j)] = (uint32_t)(node - m.v);
				c.stale[OUT_AT(i, j)] = 1;
			}
		}
	if (rc)
		goto out;
	if ((rc = eau2_driver_out_publish(&c, as, replicas, given, &oe, &old, err))) {
		eau2_error_prefix(err, rc, "run '%s' as '%s'", cls->name, as);
		goto out;
	}
	leased = false;
	eau2_driver_drop_entry(cl, &old);
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
	eau2_driver_out_free(&c);
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
	lrc = eau2_driver_parallel(m.n, gc_task, &c, &lerr);
	if ((rc = eau2_dir_live_read(cl->zk, &live, err)))
		goto out;
	c.live = &live;
	eau2_driver_parallel(m.n, gc_task, &c, NULL);
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
