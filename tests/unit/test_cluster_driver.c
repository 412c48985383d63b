/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_driver.c - the driver of a cluster (src/cluster/driver.c,
 * put.c, shuffle.c) on a real ZooKeeper, with an in-process double of the
 * node operations: three "nodes", each a member znode of its own session
 * and a local store of its own holding its partitions. Checked: put/get round trips,
 * built-in rowers giving on the cluster the answer one host gives (1 and
 * 2 replicas, and with a replica down), join with its small table
 * broadcast (and gc of a dead driver's broadcast copy), a put whose driver is killed
 * (no key, its partitions garbage), two drivers on one key, wait_get,
 * delete, and ZooKeeper stopped or unreachable (an error within the
 * timeout). The shuffle of groupby's states (keep, cut, reduce in the
 * double's stores): int, string and composite keys with nulls, every
 * aggregate, 1 and 2 replicas, forced and gathered, empty ranges, --as
 * (the ranges published in place), a node dying mid-shuffle, a partition
 * with no live replica.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/repair.h"
#include "api/api.h"
#include "df/load.h"
#include "rowers/rowers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------ node double */

#define NNODES 3

struct dnode {
	char id[16];
	char *dir;
	eau2 *db;
	pthread_mutex_t mu;   /* guards db (a handle is one thread at a time) */
	eau2_zk *zk;
	eau2_member_reg *reg;
	int down;             /* ops fail with -EHOSTUNREACH (under mu) */
	int slow_ms;          /* run sleeps this long first (atomic) */
	int frozen;           /* ping fails, run hangs until thawed (atomic) */
};

struct double_ctx {
	struct dnode n[NNODES];
	pthread_mutex_t driver_mu; /* guards the drivers' handles in fetch */
	int stall_after;           /* push: block after this many (child) */
	int pushes;
	int cut_kills;             /* node i + 1's next cut: the node goes down */
	int reduces;               /* shuffle ranges reduced (atomic) */
	int refused;               /* ops refused by a node down (atomic) */
	int push_ms;               /* push sleeps this long first (atomic) */
};

static struct double_ctx dbl;

/* The most bytes allocated under watch_dir (the driver's store) that a
 * push saw, while watch_dir is set. */
static const char *watch_dir;
static uint64_t watch_peak;
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;

static struct dnode *node_of(struct double_ctx *d, const struct eau2_member *m,
			     struct eau2_error *err)
{
	for (int i = 0; i < NNODES; i++)
		if (!strcmp(d->n[i].id, m->id)) {
			pthread_mutex_lock(&d->n[i].mu);
			if (!d->n[i].down)
				return &d->n[i];
			pthread_mutex_unlock(&d->n[i].mu);
			__atomic_add_fetch(&d->refused, 1, __ATOMIC_SEQ_CST);
			eau2_error_set(err, -EHOSTUNREACH, "node %s is down", m->id);
			return NULL;
		}
	eau2_error_set(err, -ENOENT, "no node %s", m->id);
	return NULL;
}

static int d_push(void *ctx, const struct eau2_member *node, const char *part,
		  const eau2_df *df, size_t group, size_t ngroups, struct eau2_error *err)
{
	struct double_ctx *d = ctx;
	struct dnode *n = node_of(d, node, err);
	eau2_df *p = NULL;
	int rc;

	if (!n)
		return err->code;
	if (__atomic_load_n(&d->push_ms, __ATOMIC_SEQ_CST))
		usleep(1000u * (unsigned)__atomic_load_n(&d->push_ms, __ATOMIC_SEQ_CST));
	if (watch_dir) {
		uint64_t b = tu_allocated(watch_dir);

		pthread_mutex_lock(&watch_mu);
		if (b > watch_peak)
			watch_peak = b;
		pthread_mutex_unlock(&watch_mu);
	}
	rc = eau2_cluster_copy_groups(n->db, df, group, ngroups, &p, err);
	if (rc == 0)
		rc = eau2_put(n->db, part, p, err);
	eau2_df_release(p);
	pthread_mutex_unlock(&n->mu);
	if (d->stall_after && __atomic_add_fetch(&d->pushes, 1, __ATOMIC_SEQ_CST) >=
	    d->stall_after) {
		printf("pushed\n");
		sleep(60); /* killed meanwhile */
	}
	return rc;
}

/* Partition part of node, mapped from the node's store. */
static int node_get(struct double_ctx *d, const struct eau2_member *node,
		    const char *part, eau2_df **df, struct eau2_error *err)
{
	struct dnode *n = node_of(d, node, err);
	int rc;

	if (!n)
		return err->code;
	rc = eau2_get(n->db, part, df, err);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

static int d_fetch(void *ctx, const struct eau2_member *node, const char *part,
		   eau2 *db, eau2_df **df, struct eau2_error *err)
{
	struct double_ctx *d = ctx;
	eau2_df *src = NULL;
	int rc;

	if ((rc = node_get(d, node, part, &src, err)))
		return rc;
	pthread_mutex_lock(&d->driver_mu);
	rc = eau2_cluster_copy_groups(db, src, 0, eau2_df_ngroups(src), df, err);
	pthread_mutex_unlock(&d->driver_mu);
	eau2_df_release(src);
	return rc;
}

static int d_drop(void *ctx, const struct eau2_member *node, const char *part,
		  struct eau2_error *err)
{
	struct dnode *n = node_of(ctx, node, err);
	int rc;

	if (!n)
		return err->code;
	rc = eau2_delete(n->db, part, err);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

static int d_list(void *ctx, const struct eau2_member *node, char ***parts, size_t *np,
		  struct eau2_error *err)
{
	struct dnode *n = node_of(ctx, node, err);
	char **keys;
	size_t nk, k = 0;
	int rc;

	if (!n)
		return err->code;
	rc = eau2_list(n->db, &keys, &nk, err);
	pthread_mutex_unlock(&n->mu);
	if (rc)
		return rc;
	for (size_t i = 0; i < nk; i++) {
		if (!strncmp(keys[i], "eau2.part.", 10) || !strncmp(keys[i], "eau2.bcast.", 11))
			keys[k++] = keys[i];
		else
			free(keys[i]);
	}
	keys[k] = NULL;
	*parts = keys;
	*np = k;
	return 0;
}

static int d_copy(void *ctx, const struct eau2_member *from, const struct eau2_member *to,
		  const char *part, struct eau2_error *err)
{
	eau2_df *src = NULL, *dst = NULL;
	struct dnode *b;
	int rc;

	if ((rc = node_get(ctx, from, part, &src, err)))
		return rc;
	if (!(b = node_of(ctx, to, err))) {
		eau2_df_release(src);
		return err->code;
	}
	rc = eau2_cluster_copy_groups(b->db, src, 0, eau2_df_ngroups(src), &dst, err);
	if (rc == 0)
		rc = eau2_put(b->db, part, dst, err);
	pthread_mutex_unlock(&b->mu);
	eau2_df_release(src);
	eau2_df_release(dst);
	return rc;
}

/* A run's start on node: a slow one sleeps, a frozen one hangs. */
static void run_delay(const struct eau2_member *node)
{
	for (int i = 0; i < NNODES; i++)
		if (!strcmp(dbl.n[i].id, node->id) && __atomic_load_n(&dbl.n[i].slow_ms,
									 __ATOMIC_SEQ_CST))
			usleep((useconds_t)dbl.n[i].slow_ms * 1000);
	for (int i = 0; i < NNODES; i++)
		/* A stopped node: the transport would wait out its timeout. */
		for (int k = 0; !strcmp(dbl.n[i].id, node->id) && k < 400 &&
		     __atomic_load_n(&dbl.n[i].frozen, __ATOMIC_SEQ_CST); k++)
			usleep(20000);
}

/* A run's start on node: its class, the wait of a slow or frozen node,
 * then the node, locked (the caller unlocks it), and partition part of
 * it in *p. NULL with err set when one fails. */
static struct dnode *run_start(void *ctx, const struct eau2_member *node, const char *part,
			       const char *rower, const struct eau2_rower_class **cls,
			       eau2_df **p, struct eau2_error *err)
{
	struct dnode *n;

	*p = NULL;
	if (!(*cls = eau2_rower_find(rower))) {
		eau2_error_set(err, -ENOENT, "node %s has no rower '%s'", node->id, rower);
		return NULL;
	}
	run_delay(node);
	if (!(n = node_of(ctx, node, err)))
		return NULL;
	if (eau2_get(n->db, part, p, err)) {
		pthread_mutex_unlock(&n->mu);
		return NULL;
	}
	return n;
}

static int d_run(void *ctx, const struct eau2_member *node, const char *part,
		 const char *rower, const struct eau2_args *args, void **state,
		 size_t *len, struct eau2_error *err)
{
	const struct eau2_rower_class *cls;
	eau2_df *p;
	struct dnode *n = run_start(ctx, node, part, rower, &cls, &p, err);
	int rc;

	if (!n)
		return err->code;
	rc = eau2_cluster_run_part(n->db, p, cls, args, 2, state, len, err);
	pthread_mutex_unlock(&n->mu);
	eau2_df_release(p);
	return rc;
}

/* The whole run on the node, its result stored there as out. */
static int d_run_out(void *ctx, const struct eau2_member *node, const char *part,
		     const char *rower, const struct eau2_args *args, const char *out,
		     struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	const struct eau2_rower_class *cls;
	eau2_df *p, *res = NULL;
	struct dnode *n;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!(n = run_start(ctx, node, part, rower, &cls, &p, err)))
		return err->code;
	rc = eau2_run(n->db, p, cls, args, &(struct eau2_run_options){ .threads = 2 }, &res,
		      err);
	if (rc == 0)
		rc = eau2_put(n->db, out, res, err);
	if (rc == 0)
		rc = eau2_schema_copy(eau2_df_schema(res), &info->schema, err);
	if (rc == 0) {
		info->rows = eau2_df_rows(res);
		info->bytes = eau2_df_bytes(res);
		info->groups = (uint32_t)eau2_df_ngroups(res);
	}
	pthread_mutex_unlock(&n->mu);
	eau2_df_release(p);
	eau2_df_release(res);
	return rc;
}

static int d_ping(void *ctx, const struct eau2_member *node, int timeout_ms,
		  struct eau2_error *err)
{
	(void)ctx;
	for (int i = 0; i < NNODES; i++)
		if (!strcmp(dbl.n[i].id, node->id) &&
		    __atomic_load_n(&dbl.n[i].frozen, __ATOMIC_SEQ_CST)) {
			usleep((useconds_t)timeout_ms * 1000);
			return eau2_error_set(err, -ETIMEDOUT, "node %s: no PONG", node->id);
		}
	return 0;
}

static const struct eau2_cluster_node_ops dops = {
	.push = d_push, .fetch = d_fetch, .drop = d_drop, .list = d_list,
	.copy = d_copy, .run = d_run, .run_out = d_run_out, .ping = d_ping,
};

/* The shuffle's steps (partrun.c) in the node's store. */
static int d_keep(void *ctx, const struct eau2_member *node, const char *part,
		  const char *rower, const struct eau2_args *args, const char *state,
		  size_t nsample, eau2 *db, void **sample, size_t *slen, uint64_t *bytes,
		  struct eau2_error *err)
{
	const struct eau2_rower_class *cls;
	eau2_df *p;
	struct dnode *n = run_start(ctx, node, part, rower, &cls, &p, err);
	int rc;

	(void)db;
	if (!n)
		return err->code;
	rc = eau2_cluster_keep_part(n->db, p, cls, args, 2, state, nsample, sample, slen,
				    bytes, err);
	pthread_mutex_unlock(&n->mu);
	eau2_df_release(p);
	return rc;
}

static int d_cut(void *ctx, const struct eau2_member *node, const char *rower,
		 const struct eau2_args *args, const eau2_schema *schema, const char *state,
		 const void *splits, size_t slen, size_t nsplit, const char *const *ranges,
		 eau2 *db, struct eau2_error *err)
{
	struct double_ctx *d = ctx;
	struct dnode *n = node_of(d, node, err);
	int rc;

	(void)db;
	if (!n)
		return err->code;
	if (d->cut_kills && !strcmp(d->n[d->cut_kills - 1].id, node->id)) {
		d->cut_kills = 0;
		n->down = 1;
		pthread_mutex_unlock(&n->mu);
		return eau2_error_set(err, -EHOSTUNREACH, "node %s died", node->id);
	}
	rc = eau2_shuffle_cut(n->db, eau2_rower_find(rower), args, schema, state, splits,
			      slen, nsplit, ranges, err);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

static int d_reduce(void *ctx, const struct eau2_member *node, const char *rower,
		    const struct eau2_args *args, const eau2_schema *schema,
		    const char *const *names, size_t nn, const char *out,
		    struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	struct double_ctx *d = ctx;
	struct dnode *n = node_of(d, node, err);
	int rc;

	if (!n)
		return err->code;
	rc = eau2_cluster_reduce_kept(n->db, eau2_rower_find(rower), args, schema, names, nn,
				      out, info, err);
	pthread_mutex_unlock(&n->mu);
	__atomic_add_fetch(&d->reduces, 1, __ATOMIC_SEQ_CST);
	return rc;
}

static const struct eau2_cluster_node_ops sops = {
	.push = d_push, .fetch = d_fetch, .drop = d_drop, .list = d_list,
	.copy = d_copy, .run = d_run, .run_out = d_run_out, .ping = d_ping,
	.keep = d_keep, .cut = d_cut, .reduce = d_reduce,
};

/* Opens the node stores (dirs given: a child process opening the
 * parent's) and, in the parent, registers the nodes under cluster. */
static void double_open(const char *cluster, char *const *dirs)
{
	memset(&dbl, 0, sizeof(dbl));
	pthread_mutex_init(&dbl.driver_mu, NULL);
	for (int i = 0; i < NNODES; i++) {
		struct dnode *n = &dbl.n[i];
		struct eau2_error err = {0};

		snprintf(n->id, sizeof(n->id), "n%d", i);
		pthread_mutex_init(&n->mu, NULL);
		n->dir = dirs ? strdup(dirs[i]) : tu_tmpdir("cnode");
		tu_ok(eau2_open(&n->db, &(struct eau2_options){ .store = n->dir,
							  .node = EAU2_NODE_OFF }, &err), &err);
		if (!cluster)
			continue;
		char addr[32];
		struct eau2_member_options mo = {
			.addr = addr, .id = n->id, .free = 1ull << 30,
		};

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", 7400 + i);
		n->zk = zku_connect(cluster, 0);
		tu_ok(eau2_member_register(n->zk, &mo, &n->reg, &err), &err);
	}
}

static void double_close(bool remove)
{
	for (int i = 0; i < NNODES; i++) {
		struct dnode *n = &dbl.n[i];

		eau2_member_unregister(n->reg);
		eau2_zk_close(n->zk);
		eau2_close(n->db);
		if (remove)
			tu_rmdir(n->dir);
		else
			free(n->dir);
		pthread_mutex_destroy(&n->mu);
	}
	pthread_mutex_destroy(&dbl.driver_mu);
}

/* The member of double node i (its id is all the double reads). */
static void member_for(int i, struct eau2_member *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->id, dbl.n[i].id, sizeof(dbl.n[i].id));
}

static size_t node_parts(int i)
{
	struct eau2_member m = {0};
	struct eau2_error err = {0};
	char **parts;
	size_t n;

	member_for(i, &m);
	tu_ok(d_list(&dbl, &m, &parts, &n, &err), &err);
	eau2_list_free(parts);
	return n;
}

/* A handle on cluster `name` of the double with the options o (its
 * connect and ctx are filled in). */
static eau2_cluster *open_cluster_with(const char *name, struct eau2_cluster_options o)
{
	char connect[1100];
	struct eau2_error err = {0};
	eau2_cluster *cl;

	snprintf(connect, sizeof(connect), "%s/%s", zku->connect, name);
	o.connect = connect;
	o.ctx = &dbl;
	tu_ok(eau2_cluster_open(&o, &cl, &err), &err);
	return cl;
}

static eau2_cluster *open_cluster_ops(const char *name, int timeout_ms,
				      const struct eau2_cluster_node_ops *ops)
{
	return open_cluster_with(name, (struct eau2_cluster_options){
		.timeout_ms = timeout_ms, .ops = ops });
}

static eau2_cluster *open_cluster(const char *name, int timeout_ms)
{
	return open_cluster_ops(name, timeout_ms, &dops);
}

/* ------------------------------------------------------ data */

/* nparts row groups of rows each (forked builder parts seal short
 * groups): columns id int, x double (nulls), s string (nulls), b bool,
 * w string of words. seed varies the values. */
static eau2_df *make_df(eau2 *db, size_t ngroups, size_t rows, int seed)
{
	static const char *const words[] = { "the", "cat", "sat", "on", "a", "mat", "of", "eau2" };
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *root, *part;
	eau2_df *df;

	tu_ok(eau2_schema_parse("id:int,x:double,s:string,b:bool,w:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &root, &err), &err);
	eau2_schema_free(s);
	for (size_t g = 0; g < ngroups; g++) {
		tu_ok(eau2_builder_fork(root, &part, &err), &err);
		for (size_t r = 0; r < rows; r++) {
			int64_t id = (int64_t)(g * rows + r);
			char buf[64];

			tu_ok(eau2_builder_append_int(part, 0, id * seed % 97, &err), &err);
			if (id % 11 == 3)
				tu_ok(eau2_builder_append_null(part, 1, &err), &err);
			else
				tu_ok(eau2_builder_append_double(part, 1, (double)id / 8 - 20, &err), &err);
			snprintf(buf, sizeof(buf), "k%d", (int)((id * 7 + seed) % 13));
			if (id % 17 == 5)
				tu_ok(eau2_builder_append_null(part, 2, &err), &err);
			else
				tu_ok(eau2_builder_append_string(part, 2, buf, strlen(buf), &err), &err);
			tu_ok(eau2_builder_append_bool(part, 3, id % 3 == 0, &err), &err);
			snprintf(buf, sizeof(buf), "%s %s  %s", words[id % 8], words[(id / 3 + seed) % 8],
				 words[(id * 5) % 8]);
			tu_ok(eau2_builder_append_string(part, 4, buf, strlen(buf), &err), &err);
		}
		tu_ok(eau2_builder_join(root, part, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	return df;
}

/* The dataframe as CSV text (malloc'd). */
static char *csv_of(const eau2_df *df)
{
	struct eau2_error err = {0};
	int fd = memfd_create("csv", 0);
	off_t size;
	char *buf;

	assert_true(fd >= 0);
	tu_ok(eau2_export_csv(df, fd, UINT64_MAX, &err), &err);
	size = lseek(fd, 0, SEEK_END);
	buf = calloc(1, (size_t)size + 1);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	close(fd);
	return buf;
}

static void assert_same_df(const eau2_df *a, const eau2_df *b)
{
	char *x = csv_of(a), *y = csv_of(b);

	assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
	assert_string_equal(x, y);
	free(x);
	free(y);
}

/* ------------------------------------------------------ tests */

static void test_put_get(void **state)
{
	struct eau2_cluster_put_options po = { .replicas = 2, .part_bytes = 1 };
	struct eau2_error err = {0};
	struct eau2_dir_entry e;
	char *dir = NULL, **keys;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 5, 1000, 1), *got = NULL, *empty;
	eau2_cluster *cl;
	size_t n, total = 0;
	eau2_zk *zk;

	(void)state;
	double_open("drv1", NULL);
	cl = open_cluster("drv1", 5000);
	tu_ok(eau2_cluster_put(cl, db, "data/one", df, &po, &err), &err);
	/* 5 partitions of one row group each, 2 replicas, over 3 nodes. */
	zk = zku_connect("drv1", 0);
	tu_ok(eau2_dir_read(zk, "data/one", &e, NULL, NULL, &err), &err);
	assert_int_equal(e.nparts, 5);
	assert_int_equal(e.rows, 5000);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(e.parts[i].nrep, 2);
		assert_int_equal(e.parts[i].rows, 1000);
	}
	eau2_dir_entry_free(&e);
	for (int i = 0; i < NNODES; i++) {
		size_t k = node_parts(i);

		assert_true(k >= 3 && k <= 4); /* 10 replicas over 3 nodes */
		total += k;
	}
	assert_int_equal(total, 10);

	tu_ok(eau2_cluster_get(cl, db, "data/one", &got, &err), &err);
	assert_same_df(df, got);
	eau2_df_release(got);

	/* One partition: the default size. An empty dataframe. */
	tu_ok(eau2_cluster_put(cl, db, "data/two", df, NULL, &err), &err);
	tu_ok(eau2_cluster_get(cl, db, "data/two", &got, &err), &err);
	assert_same_df(df, got);
	eau2_df_release(got);
	{
		eau2_builder *b;

		tu_ok(eau2_builder_new(db, eau2_df_schema(df), &b, &err), &err);
		tu_ok(eau2_builder_finish(b, &empty, &err), &err);
	}
	tu_ok(eau2_cluster_put(cl, db, "empty", empty, NULL, &err), &err);
	tu_ok(eau2_cluster_get(cl, db, "empty", &got, &err), &err);
	assert_int_equal(eau2_df_rows(got), 0);
	assert_int_equal(eau2_df_ncols(got), 5);
	eau2_df_release(got);
	eau2_df_release(empty);

	tu_ok(eau2_cluster_list(cl, &keys, &n, &err), &err);
	assert_int_equal(n, 3);
	assert_string_equal(keys[0], "data/one");
	eau2_list_free(keys);

	/* Replacing drops the old partitions; deleting drops the rest. */
	tu_ok(eau2_cluster_put(cl, db, "data/one", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	total = 0;
	for (int i = 0; i < NNODES; i++)
		total += node_parts(i);
	/* data/one: 5 x 1; data/two: 3 parts (one per node) x 2; empty: 0. */
	assert_int_equal(total, 5 + 6);
	tu_ok(eau2_cluster_delete(cl, "data/one", &err), &err);
	tu_ok(eau2_cluster_delete(cl, "data/two", &err), &err);
	tu_ok(eau2_cluster_delete(cl, "empty", &err), &err);
	for (int i = 0; i < NNODES; i++)
		assert_int_equal(node_parts(i), 0);
	assert_int_equal(eau2_cluster_get(cl, db, "data/one", &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "data/one"));
	assert_int_equal(eau2_cluster_delete(cl, "data/one", &err), -ENOENT);

	/* A node that lost a partition (store wiped): an error naming it. */
	tu_ok(eau2_cluster_put(cl, db, "k", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	for (int i = 0; i < NNODES; i++) {
		struct eau2_member m = {0};
		char **parts;
		size_t np;

		member_for(i, &m);
		tu_ok(d_list(&dbl, &m, &parts, &np, &err), &err);
		for (size_t j = 0; j < np; j++)
			tu_ok(d_drop(&dbl, &m, parts[j], &err), &err);
		eau2_list_free(parts);
		break;
	}
	assert_int_equal(eau2_cluster_get(cl, db, "k", &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "partition"));
	assert_non_null(strstr(err.msg, "no live replica"));

	eau2_zk_close(zk);
	eau2_df_release(df);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

/* ------------------------------------------------------ streamed loads */

/* A CSV of rows rows "id,x,s" in dir/name (path malloc'd); tail, when
 * not NULL, is the last line. */
static char *write_csv(const char *dir, const char *name, size_t rows, const char *tail)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);
	FILE *f;

	sprintf(path, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs("id,x,s\n", f);
	for (size_t r = 0; r < rows; r++)
		fprintf(f, "%zu,%zu,w%zu\n", r, (r * 7919) % 1000, r % 13);
	if (tail)
		fprintf(f, "%s\n", tail);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Copies on every node, and the leases held under the cluster's root. */
static size_t all_parts(void)
{
	size_t n = 0;

	for (int i = 0; i < NNODES; i++)
		n += node_parts(i);
	return n;
}

static size_t leases(eau2_zk *zk)
{
	struct eau2_error err = {0};
	uint64_t *puts;
	size_t n;

	tu_ok(eau2_dir_leases(zk, &puts, &n, &err), &err);
	free(puts);
	return n;
}

/* Streams path into key (partitions of part_bytes, r replicas) and
 * checks the key equals a local load of path. Returns its partitions. */
static size_t stream_check(eau2_cluster *cl, eau2 *db, eau2_zk *zk, const char *path,
			   const char *key, unsigned r, uint64_t part_bytes)
{
	struct eau2_cluster_put_options po = { .replicas = r, .part_bytes = part_bytes };
	struct eau2_error err = {0};
	struct eau2_load_stats st = {0};
	struct eau2_dir_entry e;
	eau2_df *df = NULL, *local = NULL, *got = NULL;
	uint64_t rows = 0;
	size_t nparts;

	tu_ok(eau2_cluster_load(cl, db->store, path, key, NULL, &po, &df, &st, &err), &err);
	tu_ok(eau2_load(db, path, NULL, &local, NULL, &err), &err);
	assert_int_equal(st.rows, eau2_df_rows(local));
	assert_same_df(df, local);
	tu_ok(eau2_cluster_get(cl, db, key, &got, &err), &err);
	assert_same_df(got, local);
	tu_ok(eau2_dir_read(zk, key, &e, NULL, NULL, &err), &err);
	for (size_t i = 0; i < e.nparts; i++) {
		assert_int_equal(e.parts[i].nrep, r);
		rows += e.parts[i].rows;
	}
	assert_int_equal(rows, eau2_df_rows(local));
	nparts = e.nparts;
	eau2_dir_entry_free(&e);
	eau2_df_release(df);
	eau2_df_release(local);
	eau2_df_release(got);
	return nparts;
}

/* A load's progress, slowed so that the pushers keep up with it. */
static void slowly(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)done;
	(void)total;
	usleep(5000);
}

/* The growth of the driver's store (dir) at its fullest during a
 * streamed load of path under key, with (keep) or without the caller
 * keeping the dataframe loaded, the parse slowed (slow) or not; the key
 * then equals a local load. */
static uint64_t load_peak(eau2_cluster *cl, eau2 *db, const char *dir, const char *path,
			  const char *key, bool keep, bool slow)
{
	struct eau2_cluster_put_options po = { .replicas = 1, .part_bytes = 1 };
	struct eau2_load_options lo = { .threads = 1, .progress = slow ? slowly : NULL };
	struct eau2_error err = {0};
	eau2_df *df = NULL, *local = NULL, *got = NULL;
	uint64_t base = tu_allocated(dir);

	watch_peak = 0;
	watch_dir = dir;
	tu_ok(eau2_cluster_load(cl, db->store, path, key, &lo, &po, keep ? &df : NULL, NULL,
				&err), &err);
	watch_dir = NULL;
	assert_true(keep ? df != NULL : df == NULL);
	tu_ok(eau2_load(db, path, NULL, &local, NULL, &err), &err);
	tu_ok(eau2_cluster_get(cl, db, key, &got, &err), &err);
	assert_same_df(got, local);
	if (df)
		assert_same_df(df, local);
	eau2_df_release(df);
	eau2_df_release(local);
	eau2_df_release(got);
	return watch_peak > base ? watch_peak - base : 0;
}

/* A load's progress: the furthest byte reported. The first report
 * waits (up to 5 s) for a node to have refused an op, and a little more
 * for the driver to take that in, so that what the load does after a
 * failed push is seen, whatever the threads' timing. */
static void until_refused(void *ctx, uint64_t done, uint64_t total)
{
	uint64_t *far = ctx;

	(void)total;
	for (int i = 0; i < 500 && !__atomic_load_n(&dbl.refused, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (*far == 0)
		usleep(50000);
	if (done > *far)
		*far = done;
}

static void test_stream_load(void **state)
{
	struct eau2_cluster_put_options po = { .replicas = 2, .part_bytes = 1 };
	struct eau2_error err = {0};
	char *dir = NULL, *ok, *wide, *bad;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = NULL;
	eau2_cluster *cl;
	eau2_zk *zk;
	size_t n;

	(void)state;
	double_open("stream", NULL);
	cl = open_cluster("stream", 5000);
	zk = zku_connect("stream", 0);
	ok = write_csv(dir, "ok.csv", 200000, NULL);
	/* Pieces of 64 KiB: the loader joins many times, each join a
	 * partition of its groups (part_bytes 1). */
	eau2_load_tune.piece_bytes = 64 << 10;
	n = stream_check(cl, db, zk, ok, "s/ok", 2, 1);
	assert_true(n > 20);
	assert_int_equal(all_parts(), 2 * n);
	/* Replaced by one too small to stream (fewer partitions than
	 * nodes): cut whole, one a node; the old copies dropped. */
	assert_int_equal(stream_check(cl, db, zk, ok, "s/ok", 1, 1ull << 40), NNODES);
	assert_int_equal(all_parts(), NNODES);
	tu_ok(eau2_cluster_delete(cl, "s/ok", &err), &err);

	/* A caller that keeps no copy: the driver's builder takes each
	 * partition back once pushed and writes the next ones over it, so
	 * its store holds a few, not the whole file; also
	 * when the pushes are slower than the parse, which then waits for
	 * them (a window of 64 KiB here). */
	eau2_load_tune.progress_bytes = 64 << 10;
	{
		uint64_t kept = load_peak(cl, db, dir, ok, "s/kept", true, true);
		uint64_t dropped = load_peak(cl, db, dir, ok, "s/dropped", false, true);
		uint64_t slow;

		eau2_load_tune.stream_window = 64 << 10;
		__atomic_store_n(&dbl.push_ms, 10, __ATOMIC_SEQ_CST);
		slow = load_peak(cl, db, dir, ok, "s/dropped", false, false);
		__atomic_store_n(&dbl.push_ms, 0, __ATOMIC_SEQ_CST);
		eau2_load_tune.stream_window = 0;
		if (dropped * 4 > kept || slow * 4 > kept)
			fail_msg("the driver's store grew by %llu bytes keeping the dataframe, "
				 "and keeping none by %llu, %llu with slow pushes",
				 (unsigned long long)kept, (unsigned long long)dropped,
				 (unsigned long long)slow);
	}
	eau2_load_tune.progress_bytes = 0;
	tu_ok(eau2_cluster_delete(cl, "s/kept", &err), &err);
	tu_ok(eau2_cluster_delete(cl, "s/dropped", &err), &err);

	/* A value past the samples widens x to a string: the load starts
	 * again, and what the first pass pushed is dropped. */
	eau2_load_tune.sample_bytes = 64;
	eau2_load_tune.samples = 1;
	wide = write_csv(dir, "wide.csv", 200000, "7,seven,w");
	n = stream_check(cl, db, zk, wide, "s/wide", 2, 1);
	assert_int_equal(all_parts(), 2 * n);
	tu_ok(eau2_cluster_get(cl, db, "s/wide", &df, &err), &err);
	assert_int_equal(eau2_schema_type(eau2_df_schema(df), 1), EAU2_STRING);
	eau2_df_release(df);
	df = NULL;
	/* The same, keeping no copy: what the first pass freed is not read
	 * again. */
	(void)load_peak(cl, db, dir, wide, "s/wide", false, true);
	tu_ok(eau2_cluster_delete(cl, "s/wide", &err), &err);

	/* A bad last row: no key, no copy, no lease left. */
	bad = write_csv(dir, "bad.csv", 200000, "1,2");
	assert_int_equal(eau2_cluster_load(cl, db->store, bad, "s/bad", NULL, &po, &df, NULL,
					   &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "bad.csv:200002:1"));
	assert_null(df);
	assert_int_equal(eau2_cluster_get(cl, db, "s/bad", &df, &err), -ENOENT);
	assert_int_equal(all_parts(), 0);
	assert_int_equal(leases(zk), 0);

	/* A node down: the push to it fails, naming it, and stops the
	 * parse (on one thread, it never reaches the file's end); nothing
	 * is left. */
	{
		uint64_t far = 0;
		struct eau2_load_options lo = { .threads = 1, .progress = until_refused,
						 .progress_ctx = &far };
		struct stat st;

		assert_int_equal(stat(ok, &st), 0);
		eau2_load_tune.progress_bytes = 64 << 10;
		dbl.n[1].down = 1;
		__atomic_store_n(&dbl.refused, 0, __ATOMIC_SEQ_CST);
		po.replicas = 3;
		assert_int_equal(eau2_cluster_load(cl, db->store, ok, "s/down", &lo, &po, &df,
						   NULL, &err), -EHOSTUNREACH);
		assert_non_null(strstr(err.msg, "n1"));
		assert_non_null(strstr(err.msg, "partition"));
		dbl.n[1].down = 0;
		eau2_load_tune.progress_bytes = 0;
		assert_true(far > 0);
		if (far * 2 > (uint64_t)st.st_size)
			fail_msg("the parse went on to byte %llu of %lld after the push failed",
				 (unsigned long long)far, (long long)st.st_size);
	}
	assert_null(df);
	assert_int_equal(eau2_cluster_get(cl, db, "s/down", &df, &err), -ENOENT);
	assert_int_equal(all_parts(), 0);
	assert_int_equal(leases(zk), 0);
	/* More replicas than nodes: refused before anything is parsed. */
	po.replicas = 4;
	assert_int_equal(eau2_cluster_load(cl, db->store, ok, "s/four", NULL, &po, &df, NULL,
					   &err), -EINVAL);
	assert_non_null(strstr(err.msg, "4 replicas asked"));
	assert_int_equal(leases(zk), 0);

	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	free(ok);
	free(wide);
	free(bad);
	eau2_zk_close(zk);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

struct rower_case {
	const char *name;
	const char *args[4]; /* NAME=VALUE pairs */
};

/* Not here: sort, map and join, which the driver refuses for now (see
 * not_distributed in driver.c). */
static const struct rower_case cases[] = {
	{ "count", { NULL } },
	{ "count", { "column=x", NULL } },
	{ "sum", { "columns=id,x", NULL } },
	{ "min", { "columns=id,x", NULL } },
	{ "max", { "columns=id,x", NULL } },
	{ "mean", { "columns=x", NULL } },
	{ "distinct", { "columns=s,b", NULL } },
	{ "wordcount", { "column=w", NULL } },
	{ "filter", { "where=x > 100 and b", NULL } },
	{ "groupby", { "by=s", "agg=count,sum:x,mean:id,min:x,max:id", NULL } },
};

/* Runs every case on the cluster and locally: the same answers. */
static void run_cases(eau2_cluster *cl, eau2 *db, const char *key, const eau2_df *df)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		const struct rower_case *rc = &cases[c];
		char names[4][64];
		const char *nv[4], *vv[4];
		struct eau2_args args = { .names = nv, .values = vv };
		const struct eau2_rower_class *cls = eau2_rower_find(rc->name);
		struct eau2_error err = {0};
		eau2_df *local = NULL, *dist = NULL;

		assert_non_null(cls);
		for (size_t i = 0; rc->args[i]; i++) {
			const char *eq = strchr(rc->args[i], '=');

			snprintf(names[i], sizeof(names[i]), "%.*s", (int)(eq - rc->args[i]),
				 rc->args[i]);
			nv[i] = names[i];
			vv[i] = eq + 1;
			args.n++;
		}
		tu_ok(eau2_run(db, df, cls, &args, NULL, &local, &err), &err);
		if (eau2_cluster_run(cl, db, key, cls, &args, &dist, &err))
			fail_msg("cluster run of %s: %s", rc->name, err.msg);
		assert_same_df(local, dist);
		eau2_df_release(local);
		eau2_df_release(dist);
	}
}

static void test_run(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3), *res = NULL;
	eau2_cluster *cl;

	(void)state;
	double_open("drv2", NULL);
	cl = open_cluster("drv2", 5000);
	for (unsigned r = 1; r <= 2; r++) {
		tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
			.replicas = r, .part_bytes = 1 }, &err), &err);
		run_cases(cl, db, "t", df);
	}
	tu_ok(eau2_cluster_put(cl, db, "t1", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	/* A replica down: its partitions run on the other one. */
	pthread_mutex_lock(&dbl.n[1].mu);
	dbl.n[1].down = 1;
	pthread_mutex_unlock(&dbl.n[1].mu);
	run_cases(cl, db, "t", df);
	/* One replica, on a node that is down: an error naming the partition. */
	assert_int_equal(eau2_cluster_run(cl, db, "t1", eau2_rower_find("count"), NULL,
					  &res, &err), -EHOSTUNREACH);
	assert_non_null(strstr(err.msg, "partition"));
	assert_non_null(strstr(err.msg, "n1"));
	assert_null(res);
	dbl.n[1].down = 0;
	/* Rowers that cannot run on a cluster yet: refused, never wrong. */
	assert_int_equal(eau2_cluster_run(cl, db, "t", eau2_rower_find("sort"), NULL,
					  &res, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "sort"));
	assert_int_equal(eau2_cluster_run(cl, db, "t", eau2_rower_find("map"), NULL,
					  &res, &err), -ENOTSUP);
	assert_null(res);
	/* No such key. */
	assert_int_equal(eau2_cluster_run(cl, db, "nope", eau2_rower_find("count"), NULL,
					  &res, &err), -ENOENT);
	eau2_df_release(df);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

/* The broadcast copies on node i (eau2.bcast.*). */
static size_t node_bcasts(int i)
{
	struct eau2_member m = {0};
	struct eau2_error err = {0};
	char **parts;
	size_t n, k = 0;

	member_for(i, &m);
	tu_ok(d_list(&dbl, &m, &parts, &n, &err), &err);
	for (size_t j = 0; j < n; j++)
		k += !strncmp(parts[j], "eau2.bcast.", 11);
	eau2_list_free(parts);
	return k;
}

/* join with=KEY on a cluster: the small table is broadcast to the nodes
 * and the answer is the one a single host gives (inner: rows missing;
 * left: the one-to-one zip locally, whole rows from the nodes), with a
 * node the broadcast cannot reach, and with 1 and 2 replicas; the copies
 * are gone after each run; one over the handle's bcast_max is refused
 * naming it; a copy left by a dead driver (no lease) is gc's garbage. */
static void test_bcast_join(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3), *small = make_df(db, 1, 40, 5);
	eau2_df *local = NULL, *dist = NULL, *stale = NULL;
	const struct eau2_rower_class *join = eau2_rower_find("join");
	const char *names[] = { "with", "on", "how" };
	const char *inner[] = { "s", "id", "inner" }, *left[] = { "s", "id", "left" };
	const char **how[] = { inner, left };
	eau2_cluster *cl, *tight;
	size_t dropped = 0;

	(void)state;
	double_open("drv8", NULL);
	cl = open_cluster("drv8", 5000);
	/* The driver's own states read the table from its store. */
	tu_ok(eau2_put(db, "s", small, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "s", small, NULL, &err), &err);
	for (unsigned r = 1; r <= 2; r++) {
		tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
			.replicas = r, .part_bytes = 1 }, &err), &err);
		for (int h = 0; h < 2; h++) {
			struct eau2_args args = { .n = 3, .names = names, .values = how[h] };

			tu_ok(eau2_run(db, df, join, &args, NULL, &local, &err), &err);
			assert_true(eau2_df_rows(local) > 0);
			if (eau2_cluster_run(cl, db, "t", join, &args, &dist, &err))
				fail_msg("cluster join %s, %u replicas: %s", how[h][2], r, err.msg);
			assert_same_df(local, dist);
			eau2_df_release(local);
			eau2_df_release(dist);
			for (int i = 0; i < NNODES; i++)
				assert_int_equal(node_bcasts(i), 0);
		}
	}
	/* Node 1 refuses the copy: its parts run on their other replicas. */
	{
		struct eau2_args args = { .n = 3, .names = names, .values = inner };

		pthread_mutex_lock(&dbl.n[1].mu);
		dbl.n[1].down = 1;
		pthread_mutex_unlock(&dbl.n[1].mu);
		tu_ok(eau2_run(db, df, join, &args, NULL, &local, &err), &err);
		tu_ok(eau2_cluster_run(cl, db, "t", join, &args, &dist, &err), &err);
		assert_same_df(local, dist);
		eau2_df_release(local);
		eau2_df_release(dist);
		dbl.n[1].down = 0;
		/* Over the bound: refused by its size, naming it. */
		tight = open_cluster_with("drv8", (struct eau2_cluster_options){
			.timeout_ms = 5000, .ops = &dops, .bcast_max = 100 });
		assert_int_equal(eau2_cluster_run(tight, db, "t", join, &args, &dist, &err),
				 -ERANGE);
		eau2_cluster_close(tight);
		assert_null(dist);
		assert_non_null(strstr(err.msg, "with=s"));
		assert_non_null(strstr(err.msg, "bcast_max"));
		/* No such side table. */
		inner[0] = "nosuch";
		assert_int_equal(eau2_cluster_run(cl, db, "t", join, &args, &dist, &err), -ENOENT);
		assert_non_null(strstr(err.msg, "nosuch"));
		inner[0] = "s";
	}
	for (int i = 0; i < NNODES; i++)
		assert_int_equal(node_bcasts(i), 0);
	/* A copy whose run's lease is gone (a killed driver's): garbage. */
	tu_ok(eau2_cluster_copy_groups(dbl.n[2].db, small, 0, 1, &stale, &err), &err);
	tu_ok(eau2_put(dbl.n[2].db, "eau2.bcast.00000000000000ab.0", stale, &err), &err);
	eau2_df_release(stale);
	assert_int_equal(node_bcasts(2), 1);
	tu_ok(eau2_cluster_gc(cl, &dropped, &err), &err);
	assert_true(dropped >= 1);
	assert_int_equal(node_bcasts(2), 0);
	eau2_df_release(df);
	eau2_df_release(small);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

/* A straggling node: its tasks get backup copies on the other replicas,
 * the first answer wins, and the answers stay right. */
static void test_backup(void **state)
{
	char connect[1100];
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3), *local = NULL, *dist = NULL;
	const struct eau2_rower_class *count = eau2_rower_find("count");
	eau2_cluster *cl;
	long long t0;

	(void)state;
	double_open("drv6", NULL);
	snprintf(connect, sizeof(connect), "%s/drv6", zku->connect);
	tu_ok(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops, .ctx = &dbl,
		.backup_min_ms = 200,
	}, &cl, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
		.replicas = 2, .part_bytes = 1 }, &err), &err);
	__atomic_store_n(&dbl.n[0].slow_ms, 3000, __ATOMIC_SEQ_CST);
	tu_ok(eau2_run(db, df, count, NULL, NULL, &local, &err), &err);
	t0 = zkc_now_ms();
	tu_ok(eau2_cluster_run(cl, db, "t", count, NULL, &dist, &err), &err);
	/* Without backups: 3 s, the slow node's primaries. */
	if (zkc_now_ms() - t0 >= 2000)
		fail_msg("a run with a straggler took %lld ms", zkc_now_ms() - t0);
	assert_same_df(local, dist);
	eau2_df_release(local);
	eau2_df_release(dist);
	/* Every case, with arguments the losers outlive. */
	__atomic_store_n(&dbl.n[0].slow_ms, 1000, __ATOMIC_SEQ_CST);
	run_cases(cl, db, "t", df);
	/* Close waits for the losers, then nothing of theirs is left. */
	eau2_cluster_close(cl);
	__atomic_store_n(&dbl.n[0].slow_ms, 0, __ATOMIC_SEQ_CST);
	eau2_df_release(df);
	double_close(true);
	tu_close_store(db, dir);
}

/* Events seen by the callback. */
struct events {
	pthread_mutex_t mu;
	char log[1024];
};

static void on_event(void *arg, enum eau2_cluster_event ev, const char *id, const char *addr)
{
	struct events *e = arg;
	size_t l;

	(void)addr;
	pthread_mutex_lock(&e->mu);
	l = strlen(e->log);
	snprintf(e->log + l, sizeof(e->log) - l, "%s %s;",
		 ev == EAU2_CLUSTER_DIED ? "died" : "joined", id);
	pthread_mutex_unlock(&e->mu);
}

static enum eau2_cluster_node_state state_of(eau2_cluster *cl, const char *id)
{
	struct eau2_cluster_health_node *v;
	struct eau2_error err = {0};
	enum eau2_cluster_node_state s = EAU2_CLUSTER_DEAD;
	size_t n;
	bool found = false;

	tu_ok(eau2_cluster_health(cl, &v, &n, &err), &err);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id)) {
			s = v[i].state;
			found = true;
		}
	free(v);
	assert_true(found);
	return s;
}

/* A node that stops answering (frozen: its runs hang) is declared dead
 * after dead_after_ms and its tasks move to the other replica: the run
 * ends long before the hung calls would; every replica frozen: an error
 * naming a partition, never an answer. */
static void test_failover(void **state)
{
	char connect[1100];
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 5), *local = NULL, *dist = NULL;
	const struct eau2_rower_class *count = eau2_rower_find("count");
	struct events ev = { .mu = PTHREAD_MUTEX_INITIALIZER };
	eau2_cluster *cl;
	long long t0, took;
	int rc;

	(void)state;
	double_open("drv8", NULL);
	snprintf(connect, sizeof(connect), "%s/drv8", zku->connect);
	assert_int_equal(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops, .ctx = &dbl,
		.heartbeat_ms = 100, .dead_after_ms = 50 }, &cl, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "dead after"));
	tu_ok(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops, .ctx = &dbl,
		.backup_factor = -1, .heartbeat_ms = 100, .dead_after_ms = 600,
	}, &cl, &err), &err);
	tu_ok(eau2_cluster_on_event(cl, on_event, &ev, &err), &err);
	tu_ok(eau2_cluster_health_wait(cl, 5000, &err), &err);
	assert_int_equal(state_of(cl, "n0"), EAU2_CLUSTER_ALIVE);
	tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
		.replicas = 2, .part_bytes = 1 }, &err), &err);
	tu_ok(eau2_run(db, df, count, NULL, NULL, &local, &err), &err);

	__atomic_store_n(&dbl.n[0].frozen, 1, __ATOMIC_SEQ_CST);
	t0 = zkc_now_ms();
	tu_ok(eau2_cluster_run(cl, db, "t", count, NULL, &dist, &err), &err);
	took = zkc_now_ms() - t0;
	/* Hung calls last 8 s; detection takes 0.6 s and a beat. */
	if (took >= 4000)
		fail_msg("a run with a frozen node took %lld ms", took);
	assert_same_df(local, dist);
	eau2_df_release(dist);
	assert_int_equal(state_of(cl, "n0"), EAU2_CLUSTER_DEAD);
	pthread_mutex_lock(&ev.mu);
	assert_non_null(strstr(ev.log, "died n0;"));
	pthread_mutex_unlock(&ev.mu);

	/* Thawed: alive again, with a join. */
	__atomic_store_n(&dbl.n[0].frozen, 0, __ATOMIC_SEQ_CST);
	for (t0 = zkc_now_ms(); zkc_now_ms() - t0 < 5000 &&
	     state_of(cl, "n0") != EAU2_CLUSTER_ALIVE;)
		usleep(20000);
	assert_int_equal(state_of(cl, "n0"), EAU2_CLUSTER_ALIVE);
	usleep(300000); /* the event goes out on the next beat */
	pthread_mutex_lock(&ev.mu);
	assert_non_null(strstr(ev.log, "died n0;joined n0;"));
	pthread_mutex_unlock(&ev.mu);

	/* Every replica frozen: an error naming a partition. */
	for (int i = 0; i < NNODES; i++)
		__atomic_store_n(&dbl.n[i].frozen, 1, __ATOMIC_SEQ_CST);
	t0 = zkc_now_ms();
	rc = eau2_cluster_run(cl, db, "t", count, NULL, &dist, &err);
	took = zkc_now_ms() - t0;
	assert_int_not_equal(rc, 0);
	assert_null(dist);
	assert_non_null(strstr(err.msg, "partition"));
	assert_non_null(strstr(err.msg, "dead"));
	if (took >= 4000)
		fail_msg("a run on frozen nodes took %lld ms to fail", took);
	for (int i = 0; i < NNODES; i++)
		__atomic_store_n(&dbl.n[i].frozen, 0, __ATOMIC_SEQ_CST);

	/* A member znode that goes: dead at once, whatever the heartbeats. */
	eau2_member_unregister(dbl.n[2].reg);
	dbl.n[2].reg = NULL;
	for (t0 = zkc_now_ms(); zkc_now_ms() - t0 < 3000 &&
	     state_of(cl, "n2") != EAU2_CLUSTER_DEAD;)
		usleep(20000);
	assert_int_equal(state_of(cl, "n2"), EAU2_CLUSTER_DEAD);

	tu_ok(eau2_cluster_on_event(cl, NULL, NULL, &err), &err);
	eau2_cluster_close(cl);
	eau2_df_release(local);
	eau2_df_release(df);
	double_close(true);
	tu_close_store(db, dir);
}

/* Checks that key's partitions are on their replicas and nowhere else
 * (no loser's or staged copy left), each with `nrep` replicas (0: any);
 * returns the entry's rows. */
static uint64_t check_placed(eau2_zk *zk, const char *key, unsigned nrep)
{
	struct eau2_error err = {0};
	struct eau2_dir_entry e;
	size_t want = 0, found = 0;
	uint64_t rows;

	tu_ok(eau2_dir_read(zk, key, &e, NULL, NULL, &err), &err);
	for (size_t i = 0; i < e.nparts; i++) {
		if (nrep)
			assert_int_equal(e.parts[i].nrep, nrep);
		want += e.parts[i].nrep;
	}
	for (int k = 0; k < NNODES; k++) {
		struct eau2_member m = {0};
		char **parts;
		size_t np;

		member_for(k, &m);
		tu_ok(d_list(&dbl, &m, &parts, &np, &err), &err);
		for (size_t j = 0; j < np; j++) {
			uint64_t put;
			size_t index;
			bool placed = false;

			if (eau2_dir_part_parse(parts[j], &put, &index) || put != e.put)
				continue;
			assert_true(index < e.nparts);
			for (uint32_t r = 0; r < e.parts[index].nrep; r++)
				placed = placed || !strcmp(eau2_dir_replica(&e, index, r), m.id);
			if (!placed)
				fail_msg("%s: %s is on node %s, not one of its replicas", key,
					 parts[j], m.id);
			found++;
		}
		eau2_list_free(parts);
	}
	assert_int_equal(found, want);
	rows = e.rows;
	eau2_dir_entry_free(&e);
	return rows;
}

/* Runs cls over key on the cluster and stored as `as` (run_as), and
 * over df here: `as` gathered, and a later run over it, equal one
 * host's. */
static void check_run_as(eau2_cluster *cl, eau2_zk *zk, eau2 *db, const char *key,
			 const eau2_df *df, const struct eau2_rower_class *cls,
			 const struct eau2_args *args, unsigned replicas, unsigned nrep)
{
	static const char *const cn[] = { "column" }, *cv[] = { "x" };
	static const char *const fn[] = { "where" }, *fv[] = { "id < 50" };
	const struct eau2_args count_args = { 1, cn, cv }, filter_args = { 1, fn, fv };
	const struct eau2_rower_class *count = eau2_rower_find("count");
	const struct eau2_rower_class *filter = eau2_rower_find("filter");
	struct eau2_error err = {0};
	eau2_df *local = NULL, *dist = NULL, *l2 = NULL, *d2 = NULL;

	tu_ok(eau2_run(db, df, cls, args, NULL, &local, &err), &err);
	if (eau2_cluster_run_as(cl, db, key, cls, args, "o", replicas, &err))
		fail_msg("run %s as o: %s", cls->name, err.msg);
	assert_int_equal(check_placed(zk, "o", nrep), eau2_df_rows(local));
	tu_ok(eau2_cluster_get(cl, db, "o", &dist, &err), &err);
	assert_same_df(local, dist);
	eau2_df_release(dist);
	/* Runs over o: what one host gives over the same rows. */
	tu_ok(eau2_run(db, local, count, &count_args, NULL, &l2, &err), &err);
	tu_ok(eau2_cluster_run(cl, db, "o", count, &count_args, &d2, &err), &err);
	assert_same_df(l2, d2);
	eau2_df_release(l2);
	eau2_df_release(d2);
	tu_ok(eau2_run(db, local, filter, &filter_args, NULL, &l2, &err), &err);
	tu_ok(eau2_cluster_run_as(cl, db, "o", filter, &filter_args, "o2", 0, &err), &err);
	check_placed(zk, "o2", nrep);
	tu_ok(eau2_cluster_get(cl, db, "o2", &d2, &err), &err);
	assert_same_df(l2, d2);
	eau2_df_release(l2);
	eau2_df_release(d2);
	eau2_df_release(local);
}

/* filter and map stored on the cluster (eau2_cluster_run_as): each part's
 * output stays on the nodes, on as many replicas as the input's (1 and
 * 2) or as asked, and equals one host's result, and a later run over it
 * too; a class without EAU2_ROWER_ROWWISE is refused; a part that no
 * replica runs publishes nothing and leaves nothing. */
static void test_run_as(void **state)
{
	static const char *const fn[] = { "where" }, *fv[] = { "x > 100 and b" };
	static const char *const mn[] = { "name", "expr" }, *mv[] = { "y", "x * 2 + id" };
	const struct eau2_args fa = { 1, fn, fv }, ma = { 2, mn, mv };
	const struct eau2_rower_class *filter = eau2_rower_find("filter");
	const struct eau2_rower_class *map = eau2_rower_find("map");
	struct eau2_error err = {0};
	char *dir = NULL, **keys;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3);
	eau2_cluster *cl;
	eau2_zk *zk;
	size_t n, before;

	(void)state;
	double_open("drv9", NULL);
	cl = open_cluster("drv9", 5000);
	zk = zku_connect("drv9", 0);
	for (unsigned r = 1; r <= 2; r++) {
		tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
			.replicas = r, .part_bytes = 1 }, &err), &err);
		check_run_as(cl, zk, db, "t", df, filter, &fa, 0, r);
		check_run_as(cl, zk, db, "t", df, map, &ma, 0, r);
	}
	check_run_as(cl, zk, db, "t", df, map, &ma, 3, 3);
	/* Only keys are listed: nothing staged is one. */
	tu_ok(eau2_cluster_list(cl, &keys, &n, &err), &err);
	assert_int_equal(n, 3);
	assert_string_equal(keys[0], "o");
	assert_string_equal(keys[1], "o2");
	assert_string_equal(keys[2], "t");
	eau2_list_free(keys);
	/* More replicas than nodes; a class whose output is not row-wise. */
	before = all_parts();
	assert_int_equal(eau2_cluster_run_as(cl, db, "t", filter, &fa, "o", 4, &err),
			 -EHOSTUNREACH);
	assert_int_equal(eau2_cluster_run_as(cl, db, "t", eau2_rower_find("count"), NULL,
					     "o", 0, &err), -ENOTSUP);
	assert_int_equal(eau2_cluster_run_as(cl, db, "t", eau2_rower_find("sort"), NULL,
					     "o", 0, &err), -ENOTSUP);
	/* A node down after its parts ran (its copies fail): the outputs
	 * go to the other nodes. */
	tu_ok(eau2_cluster_put(cl, db, "t3", df, &(struct eau2_cluster_put_options){
		.replicas = 2, .part_bytes = 1 }, &err), &err);
	pthread_mutex_lock(&dbl.n[1].mu);
	dbl.n[1].down = 1;
	pthread_mutex_unlock(&dbl.n[1].mu);
	tu_ok(eau2_cluster_run_as(cl, db, "t3", filter, &fa, "o3", 0, &err), &err);
	pthread_mutex_lock(&dbl.n[1].mu);
	dbl.n[1].down = 0;
	pthread_mutex_unlock(&dbl.n[1].mu);
	check_placed(zk, "o3", 2);
	tu_ok(eau2_cluster_delete(cl, "t3", &err), &err);
	tu_ok(eau2_cluster_delete(cl, "o3", &err), &err);
	/* A partition whose one replica is down: an error naming it; o is
	 * still the last run's, and what the other parts stored is gone. */
	tu_ok(eau2_cluster_put(cl, db, "t1", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	before = all_parts();
	pthread_mutex_lock(&dbl.n[1].mu);
	dbl.n[1].down = 1;
	pthread_mutex_unlock(&dbl.n[1].mu);
	assert_int_equal(eau2_cluster_run_as(cl, db, "t1", filter, &fa, "o", 0, &err),
			 -EHOSTUNREACH);
	assert_non_null(strstr(err.msg, "partition"));
	pthread_mutex_lock(&dbl.n[1].mu);
	dbl.n[1].down = 0;
	pthread_mutex_unlock(&dbl.n[1].mu);
	assert_int_equal(all_parts(), before);
	check_placed(zk, "o", 3);
	eau2_zk_close(zk);
	eau2_df_release(df);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

/* A straggler's tasks get backups: only the winners' outputs are
 * published, and the losers' copies are dropped unless placed. */
static void test_run_as_backup(void **state)
{
	static const char *const fn[] = { "where" }, *fv[] = { "x > 50" };
	const struct eau2_args fa = { 1, fn, fv };
	char connect[1100];
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3);
	eau2_cluster *cl;
	eau2_zk *zk;

	(void)state;
	double_open("drv10", NULL);
	snprintf(connect, sizeof(connect), "%s/drv10", zku->connect);
	tu_ok(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops, .ctx = &dbl,
		.backup_min_ms = 200,
	}, &cl, &err), &err);
	zk = zku_connect("drv10", 0);
	tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
		.replicas = 2, .part_bytes = 1 }, &err), &err);
	__atomic_store_n(&dbl.n[0].slow_ms, 1000, __ATOMIC_SEQ_CST);
	check_run_as(cl, zk, db, "t", df, eau2_rower_find("filter"), &fa, 0, 2);
	check_run_as(cl, zk, db, "t", df, eau2_rower_find("filter"), &fa, 1, 1);
	__atomic_store_n(&dbl.n[0].slow_ms, 0, __ATOMIC_SEQ_CST);
	eau2_zk_close(zk);
	eau2_cluster_close(cl);
	eau2_df_release(df);
	double_close(true);
	tu_close_store(db, dir);
}

/* A node that stops answering while its parts run: they move to the
 * other replica and the output is published, on live nodes only; the
 * abandoned parts store their copies once the node thaws, and its scan
 * (what every node runs) drops them, since no entry places them there. */
static void test_run_as_failover(void **state)
{
	static const char *const fn[] = { "where" }, *fv[] = { "x > 50" };
	const struct eau2_args fa = { 1, fn, fv };
	const struct eau2_rower_class *filter = eau2_rower_find("filter");
	char connect[1100];
	struct eau2_error err = {0};
	struct eau2_dir_entry e;
	struct eau2_member self;
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 5), *local = NULL, *dist = NULL;
	eau2_cluster *cl;
	eau2_zk *zk;
	long long t0;

	(void)state;
	double_open("drv11", NULL);
	snprintf(connect, sizeof(connect), "%s/drv11", zku->connect);
	tu_ok(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops, .ctx = &dbl,
		.backup_factor = -1, .heartbeat_ms = 100, .dead_after_ms = 600,
	}, &cl, &err), &err);
	zk = zku_connect("drv11", 0);
	tu_ok(eau2_cluster_health_wait(cl, 5000, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
		.replicas = 2, .part_bytes = 1 }, &err), &err);
	tu_ok(eau2_run(db, df, filter, &fa, NULL, &local, &err), &err);
	__atomic_store_n(&dbl.n[0].frozen, 1, __ATOMIC_SEQ_CST);
	t0 = zkc_now_ms();
	tu_ok(eau2_cluster_run_as(cl, db, "t", filter, &fa, "o", 0, &err), &err);
	/* Hung calls last 8 s; detection takes 0.6 s and a beat. */
	if (zkc_now_ms() - t0 >= 4000)
		fail_msg("a run with a frozen node took %lld ms", zkc_now_ms() - t0);
	tu_ok(eau2_dir_read(zk, "o", &e, NULL, NULL, &err), &err);
	for (size_t i = 0; i < e.nparts; i++) {
		assert_int_equal(e.parts[i].nrep, 2);
		for (uint32_t j = 0; j < 2; j++)
			assert_string_not_equal(eau2_dir_replica(&e, i, j), "n0");
	}
	eau2_dir_entry_free(&e);
	tu_ok(eau2_cluster_get(cl, db, "o", &dist, &err), &err);
	assert_same_df(local, dist);
	eau2_df_release(dist);
	/* Thawed: the abandoned parts end (close waits for them). */
	__atomic_store_n(&dbl.n[0].frozen, 0, __ATOMIC_SEQ_CST);
	eau2_cluster_close(cl);
	member_for(0, &self);
	tu_ok(eau2_repair_scan(zk, &dops, &dbl, &self, NULL, &err), &err);
	check_placed(zk, "o", 2);
	check_placed(zk, "t", 2);
	eau2_zk_close(zk);
	eau2_df_release(local);
	eau2_df_release(df);
	double_close(true);
	tu_close_store(db, dir);
}

/* A driver killed mid-put: no key, and its partitions are garbage. */
static void test_killed_put(void **state)
{
	struct eau2_error err = {0};
	const char *args[8];
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_cluster *cl;
	eau2_df *got = NULL;
	struct zkc c;
	size_t dropped = 0, before = 0;
	long long t0;

	(void)state;
	double_open("drv3", NULL);
	args[0] = zku->connect;
	args[1] = dbl.n[0].dir;
	args[2] = dbl.n[1].dir;
	args[3] = dbl.n[2].dir;
	args[4] = dir; /* the child driver's store: the one this test removes */
	args[5] = NULL;
	zkc_spawn(&c, args);
	zkc_expect(&c, "pushed", 30000);
	cl = open_cluster("drv3", 5000);
	/* While the put lives, its partitions are not garbage. */
	tu_ok(eau2_cluster_gc(cl, &dropped, &err), &err);
	assert_int_equal(dropped, 0);
	zkc_kill(&c);
	for (int i = 0; i < NNODES; i++)
		before += node_parts(i);
	assert_true(before >= 2);
	/* Its session ends within its timeout (4 s), and the lease with it. */
	t0 = zkc_now_ms();
	do {
		if (zkc_now_ms() - t0 > 20000)
			fail_msg("the killed driver's lease outlived its session");
		usleep(200 * 1000);
		tu_ok(eau2_cluster_gc(cl, &dropped, &err), &err);
	} while (dropped == 0);
	assert_int_equal(dropped, before);
	for (int i = 0; i < NNODES; i++)
		assert_int_equal(node_parts(i), 0);
	assert_int_equal(eau2_cluster_get(cl, db, "big", &got, &err), -ENOENT);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

static int child_main(int argc, char **argv)
{
	struct eau2_error err = {0};
	char connect[1100];
	eau2 *db;
	eau2_df *df;
	eau2_cluster *cl;

	if (argc < 7)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	/* The parent's nodes are registered by the parent; the child opens
	 * their stores and pushes into them. */
	double_open(NULL, &argv[3]);
	dbl.stall_after = 2;
	snprintf(connect, sizeof(connect), "%s/drv3", argv[2]);
	if (eau2_open(&db, &(struct eau2_options){ .store = argv[6], .node = EAU2_NODE_OFF },
		      &err)) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 1;
	}
	df = make_df(db, 4, 500, 5);
	if (eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 4000, .ops = &dops, .ctx = &dbl,
	}, &cl, &err) ||
	    eau2_cluster_put(cl, db, "big", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err)) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 1;
	}
	return 1; /* never gets here: killed while stalled */
}

/* Two drivers put one key at once, many times: the key ends as one
 * driver's dataframe, whole, and only its partitions are left. */
struct racer {
	int seed;
	eau2 *db;
	char *dir;
	eau2_df *df;
	int rc;
	struct eau2_error err;
};

static void *race_main(void *arg)
{
	struct racer *r = arg;
	eau2_cluster *cl = open_cluster("drv4", 5000);

	for (int i = 0; i < 6 && r->rc == 0; i++) {
		r->rc = eau2_cluster_put(cl, r->db, "shared", r->df,
					 &(struct eau2_cluster_put_options){
					 .replicas = 2, .part_bytes = 1 }, &r->err);
	}
	eau2_cluster_close(cl);
	return NULL;
}

static void test_two_drivers(void **state)
{
	struct racer r[2] = { { .seed = 1 }, { .seed = 2 } };
	struct eau2_error err = {0};
	struct eau2_dir_entry e;
	pthread_t t[2];
	eau2_cluster *cl;
	eau2_df *got = NULL;
	eau2_zk *zk;

	(void)state;
	double_open("drv4", NULL);
	for (int i = 0; i < 2; i++) {
		r[i].db = tu_open_store(&r[i].dir);
		r[i].df = make_df(r[i].db, 4, 300 + 100 * (size_t)i, r[i].seed);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		tu_ok(r[i].rc, &r[i].err);
	}
	cl = open_cluster("drv4", 5000);
	tu_ok(eau2_cluster_get(cl, r[0].db, "shared", &got, &err), &err);
	if (eau2_df_rows(got) == eau2_df_rows(r[0].df))
		assert_same_df(got, r[0].df);
	else
		assert_same_df(got, r[1].df);
	eau2_df_release(got);
	zk = zku_connect("drv4", 0);
	tu_ok(eau2_dir_read(zk, "shared", &e, NULL, NULL, &err), &err);
	/* The winner's partitions on their replicas, and nothing else. */
	check_placed(zk, "shared", 2);
	assert_int_equal(all_parts(), e.nparts * 2);
	eau2_dir_entry_free(&e);
	eau2_zk_close(zk);
	eau2_cluster_close(cl);
	for (int i = 0; i < 2; i++) {
		eau2_df_release(r[i].df);
		tu_close_store(r[i].db, r[i].dir);
	}
	double_close(true);
}

struct later {
	eau2 *db;
	eau2_df *df;
	int rc;
};

static void *put_later(void *arg)
{
	struct later *l = arg;
	struct eau2_error err = {0};
	eau2_cluster *cl = open_cluster("drv5", 5000);

	usleep(300 * 1000);
	l->rc = eau2_cluster_put(cl, l->db, "late", l->df, NULL, &err);
	eau2_cluster_close(cl);
	return NULL;
}

/* wait_get sees a key put later; ZooKeeper stopped or unreachable: an
 * error within the timeout. */
static void test_wait_and_zk_down(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL, *dir2 = NULL;
	eau2 *db = tu_open_store(&dir), *db2 = tu_open_store(&dir2);
	struct later l = { .db = db2 };
	eau2_df *got = NULL;
	eau2_cluster *cl;
	pthread_t t;
	long long t0;
	int rc;

	(void)state;
	double_open("drv5", NULL);
	l.df = make_df(db2, 2, 100, 7);
	cl = open_cluster("drv5", 2000);
	assert_int_equal(eau2_cluster_wait_get(cl, db, "late", 100, &got, &err), -ETIMEDOUT);
	assert_int_equal(pthread_create(&t, NULL, put_later, &l), 0);
	tu_ok(eau2_cluster_wait_get(cl, db, "late", 10000, &got, &err), &err);
	pthread_join(t, NULL);
	assert_int_equal(l.rc, 0);
	assert_same_df(got, l.df);
	eau2_df_release(got);

	/* ZooKeeper frozen: each call fails within about its timeout. */
	zku_cmd(zku, "pause", 1);
	t0 = zkc_now_ms();
	rc = eau2_cluster_get(cl, db, "late", &got, &err);
	assert_true(rc < 0);
	assert_true(zkc_now_ms() - t0 < 3 * 2000 + 1000);
	t0 = zkc_now_ms();
	rc = eau2_cluster_put(cl, db, "late2", l.df, NULL, &err);
	assert_true(rc < 0);
	assert_true(zkc_now_ms() - t0 < 3 * 2000 + 1000);
	zku_cmd(zku, "resume", 1);
	eau2_cluster_close(cl);

	/* Nothing listening: open fails within its timeout, naming it. */
	t0 = zkc_now_ms();
	rc = eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = "127.0.0.1:1/x", .timeout_ms = 1000, .ops = &dops, .ctx = &dbl,
	}, &cl, &err);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	assert_true(zkc_now_ms() - t0 < 3000);
	assert_int_equal(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = "h:1/a/b", .ops = &dops }, &cl, &err), -EINVAL);
	assert_int_equal(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = "/a", .ops = &dops }, &cl, &err), -EINVAL);

	eau2_df_release(l.df);
	double_close(true);
	tu_close_store(db, dir);
	tu_close_store(db2, dir2);
}

/* ------------------------------------------------------ shuffle */

/* groupby over key on the cluster equals one host's; shuffled (ranges
 * reduced on the nodes) when forced (cl's options always shuffle),
 * gathered otherwise (cl's bound is the default); nothing kept stays on
 * the nodes (nparts: the partitions they hold, SIZE_MAX: not checked);
 * nreduces ranges reduced when forced. */
static void check_groupby(eau2_cluster *cl, eau2 *db, const char *key, const eau2_df *df,
			  const char *by, bool forced, size_t nparts, int nreduces)
{
	const char *nv[] = { "by", "agg" }, *vv[] = { by,
		"count,sum:x,mean:x,min:x,max:x,sum:id,mean:id,min:id,max:id,count:x" };
	struct eau2_args args = { .n = 2, .names = nv, .values = vv };
	const struct eau2_rower_class *gb = eau2_rower_find("groupby");
	struct eau2_error err = {0};
	eau2_df *local = NULL, *dist = NULL;

	if (strchr(by, 'x')) /* x is double: no key; count what there is */
		vv[1] = "count";
	__atomic_store_n(&dbl.reduces, 0, __ATOMIC_SEQ_CST);
	tu_ok(eau2_run(db, df, gb, &args, NULL, &local, &err), &err);
	if (eau2_cluster_run(cl, db, key, gb, &args, &dist, &err))
		fail_msg("groupby by=%s: %s", by, err.msg);
	assert_same_df(local, dist);
	assert_int_equal(__atomic_load_n(&dbl.reduces, __ATOMIC_SEQ_CST), forced ? nreduces : 0);
	if (nparts != SIZE_MAX)
		assert_int_equal(all_parts(), nparts);
	eau2_df_release(local);
	eau2_df_release(dist);
}

static size_t entry_reps(eau2_zk *zk, const char *key)
{
	struct eau2_dir_entry e;
	struct eau2_error err = {0};
	size_t n = 0;

	tu_ok(eau2_dir_read(zk, key, &e, NULL, NULL, &err), &err);
	for (size_t i = 0; i < e.nparts; i++)
		n += e.parts[i].nrep;
	eau2_dir_entry_free(&e);
	return n;
}

static void test_shuffle(void **state)
{
	static const char *const bys[] = { "id", "s", "s,b", "b,id,s", "b" };
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 700, 3), *one = NULL, *res = NULL;
	const struct eau2_rower_class *gb = eau2_rower_find("groupby");
	const char *nv[] = { "by", "agg" }, *vv[] = { "k", "count,sum:k" };
	struct eau2_args args = { .n = 2, .names = nv, .values = vv };
	int64_t same[3000];
	eau2_zk *zk;
	eau2_cluster *cl, *sh;
	size_t dropped = 0;
	int rc;

	(void)state;
	double_open("drvsh", NULL);
	cl = open_cluster_ops("drvsh", 5000, &sops);
	sh = open_cluster_with("drvsh", (struct eau2_cluster_options){
		.timeout_ms = 5000, .ops = &sops, .shuffle_bytes = -1 }); /* always */
	{
		const struct eau2_cluster_node_ops *ops;
		void *ctx;

		zk = eau2_cluster_zk(cl, &ops, &ctx);
	}
	for (unsigned r = 1; r <= 2; r++) {
		tu_ok(eau2_cluster_put(cl, db, "t", df, &(struct eau2_cluster_put_options){
			.replicas = r, .part_bytes = 1 }, &err), &err);
		for (size_t k = 0; k < sizeof(bys) / sizeof(*bys); k++)
			for (int forced = 0; forced < 2; forced++)
				check_groupby(forced ? sh : cl, db, "t", df, bys[k], forced,
					      entry_reps(zk, "t"), NNODES);
	}
	/* --as: the ranges published where they were finished (a partition
	 * per node, r replicas each): one host's answer, nothing else left. */
	for (unsigned r = 1; r <= 2; r++) {
		const char *gv[] = { "s,b", "count,sum:x,mean:id,min:x,max:id" };
		struct eau2_args ga = { .n = 2, .names = nv, .values = gv };
		struct eau2_dir_entry oe;
		eau2_df *local = NULL, *got = NULL;

		tu_ok(eau2_cluster_run_as(sh, db, "t", gb, &ga, "o", r, &err), &err);
		tu_ok(eau2_run(db, df, gb, &ga, NULL, &local, &err), &err);
		tu_ok(eau2_cluster_get(cl, db, "o", &got, &err), &err);
		assert_same_df(local, got);
		tu_ok(eau2_dir_read(zk, "o", &oe, NULL, NULL, &err), &err);
		assert_int_equal(oe.nparts, NNODES);
		for (size_t i = 0; i < oe.nparts; i++)
			assert_int_equal(oe.parts[i].nrep, r);
		eau2_dir_entry_free(&oe);
		assert_int_equal(all_parts(), entry_reps(zk, "t") + entry_reps(zk, "o"));
		eau2_df_release(local);
		eau2_df_release(got);
	}
	tu_ok(eau2_cluster_delete(cl, "o", &err), &err);
	/* One key: every row in the last range, the others empty. */
	for (size_t i = 0; i < 3000; i++)
		same[i] = 7;
	tu_ok(eau2_df_from_array(db, "k", EAU2_INT, same, 3000, &one, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "one", one, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	tu_ok(eau2_cluster_run(sh, db, "one", gb, &args, &res, &err), &err);
	assert_int_equal(eau2_df_rows(res), 1);
	eau2_df_release(res);
	res = NULL;

	/* A node dies mid-shuffle (its first cut): the run starts again on
	 * the others (two replicas of each partition) and equals one host's;
	 * what the dead node kept is gc's once it is back. */
	dbl.cut_kills = 2;
	check_groupby(sh, db, "t", df, "s,b", true, SIZE_MAX, NNODES - 1);
	assert_int_equal(dbl.cut_kills, 0);
	dbl.n[1].down = 0;
	tu_ok(eau2_cluster_gc(cl, &dropped, &err), &err);
	assert_true(dropped >= 1);
	assert_int_equal(all_parts(), entry_reps(zk, "t") + entry_reps(zk, "one"));

	/* One replica, its node dead: an error naming the partition, no
	 * answer, nothing left behind. */
	tu_ok(eau2_cluster_put(cl, db, "t1", df, &(struct eau2_cluster_put_options){
		.replicas = 1, .part_bytes = 1 }, &err), &err);
	dbl.n[1].down = 1;
	vv[0] = "s";
	vv[1] = "count";
	rc = eau2_cluster_run(sh, db, "t1", gb, &args, &res, &err);
	assert_int_equal(rc, -EHOSTUNREACH);
	assert_non_null(strstr(err.msg, "partition"));
	assert_null(res);
	dbl.n[1].down = 0;
	assert_int_equal(all_parts(), entry_reps(zk, "t") + entry_reps(zk, "one") +
			 entry_reps(zk, "t1"));
	eau2_df_release(one);
	eau2_df_release(df);
	eau2_cluster_close(sh);
	eau2_cluster_close(cl);
	double_close(true);
	tu_close_store(db, dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_stream_load),
		cmocka_unit_test(test_backup),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_bcast_join),
		cmocka_unit_test(test_run_as),
		cmocka_unit_test(test_run_as_backup),
		cmocka_unit_test(test_run_as_failover),
		cmocka_unit_test(test_killed_put),
		cmocka_unit_test(test_two_drivers),
		cmocka_unit_test(test_wait_and_zk_down),
		cmocka_unit_test(test_shuffle),
	};

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
