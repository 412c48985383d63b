/* SPDX-License-Identifier: MIT */
/*
 * shuffle.c - a run whose states stay on the nodes (eau2_cluster_run and
 * eau2_cluster_run_as of a class with sample and split, on node
 * operations with keep, cut and reduce): kept, cut by key range, moved
 * node to node and reduced there; or gathered here when they are small.
 *
 * Access rules: driver.h's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/driver.h"
#include "cluster/zk.h"
#include "df/df.h"

/* ------------------------------------------------- shuffle */

/*
 * A run of a class with sample and split, on node operations with keep,
 * cut and reduce (cluster.h), keeps its states on the nodes (issue #12:
 * ten million groups do not funnel into one process):
 *  1. keep: one live replica of each partition runs its part and keeps
 *     the joined state (a partition name of a lease of this run), and
 *     answers its size and a sample of its keys;
 *  2. states all below the shuffle bound (cl->shuffle_bytes:
 *     EAU2_SHUFFLE_BYTES_DEFAULT unless the handle's options say another,
 *     0 when they say always shuffle): the states are fetched and joined
 *     here as before (the gathering path);
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
		const struct eau2_member *node =
			eau2_driver_member_of(c->m, eau2_dir_replica(c->e, i, j));
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

bool eau2_driver_shuffles(const eau2_cluster *cl, const struct eau2_rower_class *cls)
{
	return cls->sample && cls->split && cl->ops->keep && cl->ops->cut && cl->ops->reduce;
}

/* Whether a part's state might reach the shuffle bound: a group-by's
 * state holds at most a key and a record per row, which seldom take 16
 * times a row's bytes. Runs below keep the plain path, backups for
 * stragglers and failover mid-call included (keep has neither); a state
 * that grows past the guess is gathered, as before the shuffle. */
bool eau2_driver_may_shuffle(const eau2_cluster *cl, const struct eau2_dir_entry *e)
{
	uint64_t bound = cl->shuffle_bytes, most = 0;

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

	if ((rc = eau2_driver_parallel(c->nparts, keep_task, c, err)))
		return rc;
	for (size_t i = 0; i < c->nparts; i++)
		most = most > c->bytes[i] ? most : c->bytes[i];
	if (most < c->cl->shuffle_bytes || c->nranges < 2) {
		struct part_call pc = {
			.cl = c->cl, .db = c->db, .e = c->e, .m = c->m, .cls = c->cls,
			.args = c->args, .states = c->states, .lens = c->lens,
		};

		return eau2_driver_parallel(c->nparts, fetch_state_task, c, err) ?:
		       eau2_driver_join_states(&pc, ctx, result, err);
	}
	if ((rc = eau2_shuffle_splits((const void *const *)c->sample, c->slen, c->nparts,
				      c->nranges, &c->splits, &c->splits_len, err)) ||
	    (rc = eau2_driver_parallel(c->nparts, cut_task, c, err)) ||
	    (rc = eau2_driver_parallel(c->nranges, reduce_task, c, err)))
		return rc;
	if (c->as)
		return shuf_publish(c, err);
	if ((rc = eau2_driver_parallel(c->nranges, fetch_range_task, c, err)))
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
int eau2_driver_shuffle_run(eau2_cluster *cl, eau2 *db, const struct eau2_dir_entry *e,
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
		eau2_driver_parallel(m.n, shuf_clean_task, &c, NULL);
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

/* The shuffle's finished ranges, each on the member that reduced it as
 * partition r of the run's put, published as c->as in range order with
 * replicas as eau2_cluster_run_as places them (eau2_driver_out_publish): the rows
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
	if (eau2_driver_out_alloc(&c, s->nranges) || !given || !re.parts) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t r = 0; r < s->nranges && rc == 0; r++) {
		re.parts[r].nrep = 1;
		rc = eau2_dir_set_replica(&re, r, 0, s->m->v[s->range_at[r]].id, err);
	}
	if (rc || (rc = eau2_driver_out_publish(&c, s->as, s->replicas ? s->replicas :
						s->e->parts[0].nrep, given, &oe, &old, err)))
		goto out;
	s->published = true;
	eau2_driver_drop_entry(s->cl, &old);
out:
	free(given);
	eau2_driver_out_free(&c);
	eau2_dir_entry_free(&re);
	eau2_dir_entry_free(&oe);
	eau2_dir_entry_free(&old);
	return rc;
}

/* eau2_cluster_run_as of a class that shuffles: the finished ranges are
 * published where they were made; states small enough to gather give a
 * result here, put as `as`. */
int eau2_driver_shuffle_as(eau2_cluster *cl, eau2 *db, const char *key,
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

		rc = eau2_driver_shuffle_run(cl, db, &e, cls, ctx.args, &ctx, as, replicas,
					     &res, err);
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
