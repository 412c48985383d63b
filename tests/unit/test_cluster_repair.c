/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_repair.c - re-replication and the restart scan
 * (src/cluster/repair.c). The plan alone, on hand-made entries: which
 * partition goes from where to where (least loaded node lacking it,
 * never over its free bytes), what is lost and what no node can take.
 * Then on a real ZooKeeper with an in-process double of the node
 * operations (four "nodes", each a member znode of its own session and
 * a store of its own): after a node leaves, a pass restores 2 live
 * replicas of every partition with copies the stores really hold and a
 * get equal to what was put; a second pass has nothing to do; a delete
 * during a copy wins (the copy is dropped, nothing is named); the scan
 * of a node that comes back drops what no entry names on it and keeps
 * current, leased and in-progress partitions.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/repair.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------ plan */

static void member(struct eau2_members *m, size_t k, const char *id, uint64_t free)
{
	memset(&m->v[k], 0, sizeof(m->v[k]));
	snprintf(m->v[k].id, sizeof(m->v[k].id), "%s", id);
	m->v[k].free = free;
}

/* An entry over node ids (nodes, "," separated) whose partition i has
 * the replicas reps[i] (indices into the nodes, "" separated digits),
 * each of bytes[i]. */
static void entry(struct eau2_dir_entry *e, const char *key, uint64_t put, const char *nodes,
		  const char *const *reps, const uint64_t *bytes, size_t nparts)
{
	char buf[256], *save, *tok;

	memset(e, 0, sizeof(*e));
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->put = put;
	e->nodes = calloc(8, sizeof(*e->nodes));
	e->parts = calloc(nparts, sizeof(*e->parts));
	assert_non_null(e->nodes);
	assert_non_null(e->parts);
	snprintf(buf, sizeof(buf), "%s", nodes);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		snprintf(e->nodes[e->nnodes++], sizeof(*e->nodes), "%s", tok);
	e->nparts = nparts;
	for (size_t i = 0; i < nparts; i++) {
		e->parts[i].bytes = bytes[i];
		e->parts[i].rows = 1;
		for (const char *r = reps[i]; *r; r++)
			e->parts[i].rep[e->parts[i].nrep++] = (uint32_t)(*r - '0');
	}
}

static void test_plan(void **state)
{
	struct eau2_member v[4];
	struct eau2_members m = { .n = 4, .v = v };
	struct eau2_dir_entry es[2];
	struct eau2_repair_plan p;
	struct eau2_error err = {0};
	/* Node x is dead. a holds the most, d the least (by what the
	 * directory places), c has little room. */
	static const char *const reps0[] = { "01", "02", "13", "3", "12" };
	static const uint64_t bytes0[] = { 100, 200, 50, 70, 30 };
	static const char *const reps1[] = { "0123", "01" };
	static const uint64_t bytes1[] = { 10, 10 };

	(void)state;
	member(&m, 0, "a", 1000);
	member(&m, 1, "b", 1000);
	member(&m, 2, "c", 60);
	member(&m, 3, "d", 1000);
	/* nodes of entry 0: a, x, b, y (x and y dead) */
	entry(&es[0], "k0", 1, "a,x,b,y", reps0, bytes0, 5);
	/* entry 1 over a, b, c, x: partition 0 on 4 nodes (x dead), 1 on a, b */
	entry(&es[1], "k1", 2, "a,b,c,x", reps1, bytes1, 2);
	tu_ok(eau2_repair_plan(es, 2, &m, &p, &err), &err);
	/* k0 part 0 on a,x: needs one; part 1 on a,b: fine; part 2 on x,y:
	 * lost; part 3 on y: lost; part 4 on x,b: needs one. k1 part 0 on
	 * a,b,c,x: needs one, and only d lacks it. */
	assert_int_equal(p.under, 5);
	assert_int_equal(p.lost, 2);
	assert_int_equal(p.stuck, 0);
	assert_int_equal(p.n, 3);
	/* Loads: a 300+10+10, b 230+10+10, c 10, d 0. Part 0 (100 bytes)
	 * from a: c has no room for it (60 free), so d (least loaded); then
	 * part 4 (30 bytes) from b: c (10) before d (100). */
	assert_int_equal(p.v[0].key, 0);
	assert_int_equal(p.v[0].part, 0);
	assert_string_equal(m.v[p.v[0].from].id, "a");
	assert_string_equal(m.v[p.v[0].to].id, "d");
	assert_int_equal(p.v[1].part, 4);
	assert_string_equal(m.v[p.v[1].from].id, "b");
	assert_string_equal(m.v[p.v[1].to].id, "c");
	assert_int_equal(p.v[2].key, 1);
	assert_int_equal(p.v[2].part, 0);
	assert_string_equal(m.v[p.v[2].to].id, "d");
	assert_int_equal(p.bytes, 100 + 30 + 10);
	eau2_repair_plan_free(&p);

	/* d gone too: k1 part 0 is on every live node (stuck); k0 part 0
	 * (100 bytes) fits nowhere but b. */
	m.n = 3;
	tu_ok(eau2_repair_plan(es, 2, &m, &p, &err), &err);
	assert_int_equal(p.stuck, 1);
	assert_int_equal(p.n, 2);
	assert_string_equal(m.v[p.v[0].to].id, "b");
	assert_string_equal(m.v[p.v[1].to].id, "c");
	eau2_repair_plan_free(&p);
	/* Everything live and whole: nothing to do. */
	m.n = 4;
	tu_ok(eau2_repair_plan(&es[1], 1, &m, &p, &err), &err);
	assert_int_equal(p.under, 1); /* x is not a member */
	eau2_repair_plan_free(&p);
	for (int i = 0; i < 2; i++)
		eau2_dir_entry_free(&es[i]);
}

/* A replica replaced: the new node joins the entry's nodes, one no
 * replica names any more leaves them, and the entry still encodes and
 * decodes to the same; a node may not hold two replicas of a partition. */
static void test_set_replica(void **state)
{
	static const char *const reps[] = { "01", "12" };
	static const uint64_t bytes[] = { 5, 7 };
	struct eau2_error err = {0};
	struct eau2_dir_entry e, back;
	char *buf;
	size_t len;

	(void)state;
	entry(&e, "k", 9, "a,x,b", reps, bytes, 2);
	e.rows = 2;
	e.bytes = 12;
	assert_int_equal(eau2_dir_set_replica(&e, 0, 0, "x", &err), -EINVAL);
	tu_ok(eau2_dir_set_replica(&e, 0, 1, "c", &err), &err);  /* x -> c on part 0 */
	tu_ok(eau2_dir_set_replica(&e, 1, 0, "a", &err), &err);  /* x -> a on part 1 */
	assert_int_equal(e.nnodes, 3);                           /* a, b, c: x left */
	assert_string_equal(eau2_dir_replica(&e, 0, 0), "a");
	assert_string_equal(eau2_dir_replica(&e, 0, 1), "c");
	assert_string_equal(eau2_dir_replica(&e, 1, 0), "a");
	assert_string_equal(eau2_dir_replica(&e, 1, 1), "b");
	tu_ok(eau2_dir_encode(&e, &buf, &len, &err), &err);
	tu_ok(eau2_dir_decode("test", buf, len, &back, &err), &err);
	assert_int_equal(back.nnodes, 3);
	for (size_t i = 0; i < 2; i++)
		for (uint32_t j = 0; j < 2; j++)
			assert_string_equal(eau2_dir_replica(&back, i, j), eau2_dir_replica(&e, i, j));
	free(buf);
	eau2_dir_entry_free(&back);
	eau2_dir_entry_free(&e);
}

/* ------------------------------------------------------ node double */

#define NNODES 4

struct dnode {
	char id[8];
	char *dir;
	eau2 *db;
	pthread_mutex_t mu;     /* guards db */
	eau2_zk *zk;
	eau2_member_reg *reg;
};

static struct {
	struct dnode n[NNODES];
	eau2_cluster *cl;       /* for the delete a copy may make */
	const char *delete_in_copy;
	int copies;
} dbl;

static struct dnode *dnode(const struct eau2_member *m, struct eau2_error *err)
{
	for (int i = 0; i < NNODES; i++)
		if (!strcmp(dbl.n[i].id, m->id) && dbl.n[i].reg) {
			pthread_mutex_lock(&dbl.n[i].mu);
			return &dbl.n[i];
		}
	eau2_error_set(err, -EHOSTUNREACH, "node %s is down", m->id);
	return NULL;
}

/* Copies row groups [group, group + ngroups) of src into n's store
 * under part. */
static int store_in(struct dnode *n, const char *part, const eau2_df *src, size_t group,
		    size_t ngroups, struct eau2_error *err)
{
	eau2_df *p = NULL;
	int rc = eau2_cluster_copy_groups(n->db, src, group, ngroups, &p, err);

	if (!rc)
		rc = eau2_put(n->db, part, p, err);
	eau2_df_release(p);
	return rc;
}

static int d_push(void *ctx, const struct eau2_member *node, const char *part,
		  const eau2_df *df, size_t group, size_t ngroups, struct eau2_error *err)
{
	struct dnode *n = dnode(node, err);
	int rc;

	(void)ctx;
	if (!n)
		return err->code;
	rc = store_in(n, part, df, group, ngroups, err);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

static int d_fetch(void *ctx, const struct eau2_member *node, const char *part,
		   eau2 *db, eau2_df **df, struct eau2_error *err)
{
	struct dnode *n = dnode(node, err);
	eau2_df *src = NULL;
	int rc;

	(void)ctx;
	if (!n)
		return err->code;
	rc = eau2_get(n->db, part, &src, err);
	pthread_mutex_unlock(&n->mu);
	if (!rc)
		rc = eau2_cluster_copy_groups(db, src, 0, eau2_df_ngroups(src), df, err);
	eau2_df_release(src);
	return rc;
}

static int d_drop(void *ctx, const struct eau2_member *node, const char *part,
		  struct eau2_error *err)
{
	struct dnode *n = dnode(node, err);
	int rc;

	(void)ctx;
	if (!n)
		return err->code;
	rc = eau2_delete(n->db, part, err);
	pthread_mutex_unlock(&n->mu);
	return rc;
}

static int d_list(void *ctx, const struct eau2_member *node, char ***parts, size_t *np,
		  struct eau2_error *err)
{
	struct dnode *n = dnode(node, err);
	int rc;

	(void)ctx;
	if (!n)
		return err->code;
	rc = eau2_list(n->db, parts, np, err);
	pthread_mutex_unlock(&n->mu);
	/* Only partitions: the test stores nothing else on the nodes. */
	return rc;
}

/* from's partition into to's store; a delete of the key first when
 * the test asks (a driver's delete racing the copy). */
static int d_copy(void *ctx, const struct eau2_member *from, const struct eau2_member *to,
		  const char *part, struct eau2_error *err)
{
	struct dnode *a = dnode(from, err), *b;
	eau2_df *src = NULL;
	int rc;

	(void)ctx;
	if (!a)
		return err->code;
	rc = eau2_get(a->db, part, &src, err);
	pthread_mutex_unlock(&a->mu);
	if (rc)
		return rc;
	if (dbl.delete_in_copy) {
		tu_ok(eau2_cluster_delete(dbl.cl, dbl.delete_in_copy, err), err);
		dbl.delete_in_copy = NULL;
	}
	if ((b = dnode(to, err))) {
		rc = store_in(b, part, src, 0, eau2_df_ngroups(src), err);
		pthread_mutex_unlock(&b->mu);
		dbl.copies++;
	} else {
		rc = err->code;
	}
	eau2_df_release(src);
	return rc;
}

static const struct eau2_cluster_node_ops dops = {
	.push = d_push, .fetch = d_fetch, .drop = d_drop, .list = d_list, .copy = d_copy,
};

static void node_up(const char *cluster, int i)
{
	struct eau2_error err = {0};
	struct eau2_member_options mo = { .addr = "127.0.0.1:1", .id = dbl.n[i].id,
					  .free = 1ull << 30 };

	dbl.n[i].zk = zku_connect(cluster, 0);
	tu_ok(eau2_member_register(dbl.n[i].zk, &mo, &dbl.n[i].reg, &err), &err);
}

static void node_down(int i)
{
	eau2_member_unregister(dbl.n[i].reg);
	eau2_zk_close(dbl.n[i].zk);
	dbl.n[i].reg = NULL;
	dbl.n[i].zk = NULL;
}

static eau2_cluster *double_open(const char *cluster)
{
	char connect[1100];
	struct eau2_error err = {0};

	memset(&dbl, 0, sizeof(dbl));
	for (int i = 0; i < NNODES; i++) {
		snprintf(dbl.n[i].id, sizeof(dbl.n[i].id), "n%d", i);
		pthread_mutex_init(&dbl.n[i].mu, NULL);
		dbl.n[i].db = tu_open_store(&dbl.n[i].dir);
		node_up(cluster, i);
	}
	snprintf(connect, sizeof(connect), "%s/%s", zku->connect, cluster);
	tu_ok(eau2_cluster_open(&(struct eau2_cluster_options){
		.connect = connect, .timeout_ms = 5000, .ops = &dops,
	}, &dbl.cl, &err), &err);
	return dbl.cl;
}

static void double_close(void)
{
	eau2_cluster_close(dbl.cl);
	for (int i = 0; i < NNODES; i++) {
		node_down(i);
		tu_close_store(dbl.n[i].db, dbl.n[i].dir);
		pthread_mutex_destroy(&dbl.n[i].mu);
	}
}

/* Whether node i's store holds key. */
static bool holds(int i, const char *key)
{
	struct eau2_error err = {0};
	eau2_df *df = NULL;
	int rc;

	pthread_mutex_lock(&dbl.n[i].mu);
	rc = eau2_get(dbl.n[i].db, key, &df, &err);
	eau2_df_release(df);
	pthread_mutex_unlock(&dbl.n[i].mu);
	return rc == 0;
}

static size_t nparts_on(int i)
{
	struct eau2_error err = {0};
	char **keys;
	size_t n;

	pthread_mutex_lock(&dbl.n[i].mu);
	tu_ok(eau2_list(dbl.n[i].db, &keys, &n, &err), &err);
	pthread_mutex_unlock(&dbl.n[i].mu);
	eau2_list_free(keys);
	return n;
}

/* ngroups row groups of rows ints (seeded) and strings. */
static eau2_df *make_df(eau2 *db, size_t ngroups, size_t rows, int seed)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *root, *part;
	eau2_df *df;

	tu_ok(eau2_schema_parse("i:int,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &root, &err), &err);
	eau2_schema_free(s);
	for (size_t g = 0; g < ngroups; g++) {
		tu_ok(eau2_builder_fork(root, &part, &err), &err);
		for (size_t r = 0; r < rows; r++) {
			char buf[32];
			int64_t v = (int64_t)((g * rows + r) * 2654435761u % 100003) + seed;

			snprintf(buf, sizeof(buf), "s%lld", (long long)v);
			tu_ok(eau2_builder_append_int(part, 0, v, &err), &err);
			tu_ok(eau2_builder_append_string(part, 1, buf, strlen(buf), &err), &err);
		}
		tu_ok(eau2_builder_join(root, part, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	return df;
}

/* The int column, in order, hashed with the row count. */
static uint64_t fingerprint(const eau2_df *df)
{
	struct eau2_error err = {0};
	uint64_t h = eau2_df_rows(df);

	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v;

		tu_ok(eau2_df_chunk(df, 0, g, &v, &err), &err);
		for (uint32_t r = 0; r < v.rows; r++)
			h = (h ^ (uint64_t)v.values.i64[r]) * 1099511628211ull;
	}
	return h;
}

/* Every partition of key has `want` replicas, all on live double nodes
 * that hold it. */
static void assert_whole(eau2_zk *zk, const char *key, uint32_t want)
{
	struct eau2_error err = {0};
	struct eau2_dir_entry e;

	tu_ok(eau2_dir_read(zk, key, &e, NULL, NULL, &err), &err);
	for (size_t i = 0; i < e.nparts; i++) {
		char name[EAU2_DIR_PART_NAME_MAX];

		assert_int_equal(e.parts[i].nrep, want);
		eau2_dir_part_name(e.put, i, name);
		for (uint32_t j = 0; j < e.parts[i].nrep; j++) {
			int k = eau2_dir_replica(&e, i, j)[1] - '0';

			assert_non_null(dbl.n[k].reg);
			assert_true(holds(k, name));
		}
	}
	eau2_dir_entry_free(&e);
}

static void test_pass(void **state)
{
	struct eau2_cluster_put_options po = { .replicas = 2, .part_bytes = 1 };
	struct eau2_repair_pass_opts o = { .leader = "test", .rate = 12345 };
	struct eau2_cluster_repair_status rs;
	struct eau2_repair_stats st;
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 8, 500, 1), *got = NULL;
	eau2_cluster *cl = double_open("rep1");
	eau2_zk *zk = zku_connect("rep1", 0);
	size_t on1;

	(void)state;
	tu_ok(eau2_cluster_put(cl, db, "k", df, &po, &err), &err);
	tu_ok(eau2_repair_pass(zk, &dops, NULL, &o, &st, &err), &err);
	assert_int_equal(st.under, 0);
	assert_int_equal(st.planned, 0);
	/* n1 leaves: its partitions are copied from their other replica. */
	on1 = nparts_on(1);
	assert_true(on1 > 0);
	node_down(1);
	tu_ok(eau2_repair_pass(zk, &dops, NULL, &o, &st, &err), &err);
	assert_int_equal(st.under, on1);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.planned, on1);
	assert_int_equal(st.copied, on1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(dbl.copies, (int)on1);
	assert_whole(zk, "k", 2);
	tu_ok(eau2_cluster_get(cl, db, "k", &got, &err), &err);
	assert_int_equal(fingerprint(got), fingerprint(df));
	eau2_df_release(got);
	/* The progress znode says so; a second pass has nothing to do. */
	tu_ok(eau2_repair_status_read(zk, &rs, &err), &err);
	assert_string_equal(rs.leader, "test");
	assert_int_equal(rs.rate, 12345);
	assert_int_equal(rs.st.copied, on1);
	assert_string_equal(rs.current, "");
	tu_ok(eau2_repair_pass(zk, &dops, NULL, &o, &st, &err), &err);
	assert_int_equal(st.under + st.planned, 0);

	/* n2 leaves and the key is deleted during the first copy: the
	 * delete wins, the copy is dropped from where it went. */
	node_down(2);
	dbl.copies = 0;
	dbl.delete_in_copy = "k";
	tu_ok(eau2_repair_pass(zk, &dops, NULL, &o, &st, &err), &err);
	assert_true(st.planned > 0);
	assert_int_equal(st.dropped, st.copied);
	assert_int_equal(eau2_dir_read(zk, "k", &(struct eau2_dir_entry){0}, NULL, NULL, NULL),
			 -ENOENT);
	for (int i = 0; i < NNODES; i++)
		if (dbl.n[i].reg)
			assert_int_equal(nparts_on(i), 0);
	eau2_zk_close(zk);
	double_close();
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_scan(void **state)
{
	struct eau2_cluster_put_options po = { .replicas = 2, .part_bytes = 1 };
	struct eau2_cluster_put_options all = { .replicas = 4, .part_bytes = 1 };
	struct eau2_repair_stats st;
	struct eau2_member self = {0};
	struct eau2_error err = {0};
	char *dir = NULL, leased[EAU2_DIR_PART_NAME_MAX], marked[EAU2_DIR_PART_NAME_MAX];
	char bcast[EAU2_DIR_PART_NAME_MAX];
	char mark[EAU2_ZK_PATH_MAX];
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 300, 2), *df2 = make_df(db, 3, 300, 3);
	eau2_cluster *cl = double_open("rep2");
	eau2_zk *zk = zku_connect("rep2", 0);
	uint64_t put;
	size_t dropped, on3;

	(void)state;
	snprintf(self.id, sizeof(self.id), "n3");
	tu_ok(eau2_cluster_put(cl, db, "k", df, &po, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "v", df, &po, &err), &err);
	tu_ok(eau2_cluster_put(cl, db, "all", df2, &all, &err), &err);
	/* n3 as it was: the scan keeps everything. */
	on3 = nparts_on(3);
	tu_ok(eau2_repair_scan(zk, &dops, NULL, &self, &dropped, &err), &err);
	assert_int_equal(dropped, 0);
	assert_int_equal(nparts_on(3), on3);
	/* n3 is away: k is repaired elsewhere, v is put again. */
	node_down(3);
	tu_ok(eau2_repair_pass(zk, &dops, NULL, NULL, &st, &err), &err);
	assert_true(st.copied > 0);
	assert_int_equal(st.stuck, 3); /* all's partitions: no node lacks them */
	tu_ok(eau2_cluster_put(cl, db, "v", df2, &po, &err), &err);
	/* It comes back, holding besides a put in progress and a copy in
	 * progress to it. */
	node_up("rep2", 3);
	tu_ok(eau2_dir_lease(zk, "w", &put, &err), &err);
	eau2_dir_part_name(put, 0, leased);
	eau2_dir_part_name(put ^ 1, 0, marked);
	tu_ok(store_in(&dbl.n[3], leased, df2, 0, 1, &err), &err);
	tu_ok(store_in(&dbl.n[3], marked, df2, 0, 1, &err), &err);
	/* and a broadcast copy of a run in progress (the same lease) */
	eau2_dir_bcast_name(put, 0, bcast);
	tu_ok(store_in(&dbl.n[3], bcast, df2, 0, 1, &err), &err);
	snprintf(mark, sizeof(mark), "repair/copies/%s@n3", marked);
	tu_ok(eau2_zk_create(zk, mark, NULL, 0, EAU2_ZK_EPHEMERAL | EAU2_ZK_PARENTS, NULL, 0,
			     &err), &err);
	tu_ok(eau2_repair_scan(zk, &dops, NULL, &self, &dropped, &err), &err);
	/* Left: all's 3, the leased one, the marked one, the copy. */
	assert_int_equal(dropped, on3 - 3);
	assert_int_equal(nparts_on(3), 6);
	assert_true(holds(3, bcast));
	assert_true(holds(3, leased));
	assert_true(holds(3, marked));
	assert_whole(zk, "all", 4);
	/* The mark gone, its partition goes too; the lease ended (its put
	 * abandoned), its partition as well. */
	tu_ok(eau2_zk_delete(zk, mark, -1, &err), &err);
	tu_ok(eau2_dir_unlease(zk, put, &err), &err);
	tu_ok(eau2_repair_scan(zk, &dops, NULL, &self, &dropped, &err), &err);
	assert_int_equal(dropped, 3);
	assert_int_equal(nparts_on(3), 3);
	assert_false(holds(3, bcast));
	eau2_zk_close(zk);
	double_close();
	eau2_df_release(df);
	eau2_df_release(df2);
	tu_close_store(db, dir);
}

/* Two loops: one leads and repairs; when its session ends the other
 * takes over and repairs the next death. */
static void test_loop(void **state)
{
	struct eau2_cluster_put_options po = { .replicas = 2, .part_bytes = 1 };
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_df(db, 6, 200, 4);
	eau2_cluster *cl = double_open("rep3");
	struct eau2_member self[2] = {0};
	eau2_zk *zk[2];
	eau2_repair *r[2];
	struct eau2_cluster_repair_status rs;
	long long t0;

	(void)state;
	tu_ok(eau2_cluster_put(cl, db, "k", df, &po, &err), &err);
	for (int i = 0; i < 2; i++) {
		snprintf(self[i].id, sizeof(self[i].id), "n%d", i);
		zk[i] = zku_connect("rep3", 0);
		tu_ok(eau2_repair_start(&(struct eau2_repair_opts){
			.zk = zk[i], .self = &self[i], .ops = &dops, .period_ms = 100,
		}, &r[i], &err), &err);
	}
	node_down(3);
	t0 = zkc_now_ms();
	while (eau2_repair_status_read(zk[0], &rs, NULL) || rs.st.copied == 0 ||
	       rs.current[0]) {
		assert_true(zkc_now_ms() - t0 < 10000);
		usleep(20000);
	}
	assert_whole(zk[0], "k", 2);
	/* The leader goes; the other one repairs the next death. */
	{
		int lead = rs.leader[1] - '0', other = 1 - lead;

		eau2_repair_stop(r[lead]);
		eau2_zk_close(zk[lead]);
		r[lead] = NULL;
		zk[lead] = NULL;
		node_down(2);
		t0 = zkc_now_ms();
		while (eau2_repair_status_read(zk[other], &rs, NULL) ||
		       strcmp(rs.leader, self[other].id) || rs.st.under != rs.st.copied ||
		       rs.current[0]) {
			assert_true(zkc_now_ms() - t0 < 10000);
			usleep(20000);
		}
		assert_whole(zk[other], "k", 2);
	}
	for (int i = 0; i < 2; i++) {
		eau2_repair_stop(r[i]);
		eau2_zk_close(zk[i]);
	}
	double_close();
	eau2_df_release(df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_set_replica),
		cmocka_unit_test(test_pass),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_loop),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
