/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_net.c - the cluster backend end to end, in one process: a
 * real ZooKeeper (zkutil), three remote node services on loopback
 * (eau2_remote_server, each with a store of its own) registered as
 * members, and a driver opened with eau2_options.cluster, so that every
 * call goes through the network node operations (netops.c) and RUN_STATE.
 * A put with 2 replicas lists, stats, gets and heads back equal; runs of the
 * built-in rowers equal local runs; with one node stopped the runs still
 * answer equal; delete drops every partition. Shared state on the same
 * cluster: eau2_wait_get wakes on a put from another driver, and
 * eau2_watch wakes on a put, a replace and a delete. The node operations
 * forget a node's clients (pooled and heartbeat) once it has not been
 * called for a while: descriptors go back.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "zkutil.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "node/remote.h"

#define NNODES 3

struct node {
	char *dir;
	eau2_remote_server *srv;
	eau2_zk *zk;
	eau2_member_reg *reg;
};

static struct node nodes[NNODES];

static void nodes_start(const char *cluster)
{
	struct eau2_error err = {0};

	for (int i = 0; i < NNODES; i++) {
		struct node *n = &nodes[i];
		struct eau2_remote_server_opts o = { .listen = "127.0.0.1:0", .workers = 4,
						     .timeout_ms = 5000 };
		char addr[64], id[16];
		struct eau2_member_options mo = { .addr = addr, .id = id, .free = 1ull << 30 };
		eau2 *db;

		n->dir = tu_tmpdir("node");
		tu_ok(eau2_open(&db, TU_STORE(n->dir), &err), &err);
		eau2_close(db);
		o.store = n->dir;
		tu_ok(eau2_remote_server_start(&n->srv, &o, &err), &err);
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", eau2_remote_server_port(n->srv));
		snprintf(id, sizeof(id), "n%d", i);
		n->zk = zku_connect(cluster, 0);
		tu_ok(eau2_member_register(n->zk, &mo, &n->reg, &err), &err);
	}
}

static void nodes_stop(void)
{
	for (int i = 0; i < NNODES; i++) {
		eau2_member_unregister(nodes[i].reg);
		eau2_zk_close(nodes[i].zk);
		eau2_remote_server_stop(nodes[i].srv);
		tu_rmdir(nodes[i].dir);
		memset(&nodes[i], 0, sizeof(nodes[i]));
	}
}

/* Partitions in node i's store. */
static size_t node_parts(int i)
{
	struct eau2_error err = {0};
	char **keys;
	size_t n, parts = 0;
	eau2 *db;

	tu_ok(eau2_open(&db, TU_STORE(nodes[i].dir), &err), &err);
	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	for (size_t k = 0; k < n; k++)
		parts += !strncmp(keys[k], "eau2.part.", 10);
	eau2_list_free(keys);
	eau2_close(db);
	return parts;
}

static eau2_df *make_df(eau2 *db, uint64_t rows)
{
	static const char *const words[] = { "the", "cat", "sat", "on", "a", "mat", "eau2" };
	struct eau2_error err = {0};
	uint64_t seed = 7;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;

	tu_ok(eau2_schema_parse("id:int,x:double,s:string,w:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (uint64_t r = 0; r < rows; r++) {
		uint64_t v = tu_rand(&seed);
		char line[64];

		snprintf(line, sizeof(line), "%s %s %s", words[v % 7], words[(v >> 8) % 7],
			 words[(v >> 16) % 7]);
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)r, &err), &err);
		tu_ok(eau2_builder_append_double(b, 1, (double)(v % 1000) / 4.0, &err), &err);
		tu_ok(eau2_builder_append_string(b, 2, words[(v >> 24) % 7],
						 strlen(words[(v >> 24) % 7]), &err), &err);
		tu_ok(eau2_builder_append_string(b, 3, line, strlen(line), &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	return df;
}

/* The first n rows of a and all of b: the same CSV. */
static void assert_same_n(const eau2_df *a, const eau2_df *b, uint64_t n)
{
	struct eau2_error err = {0};
	int fa = memfd_create("a", 0), fb = memfd_create("b", 0);
	off_t la, lb;
	char *pa, *pb;

	tu_ok(eau2_export_csv(a, fa, n, &err), &err);
	tu_ok(eau2_export_csv(b, fb, UINT64_MAX, &err), &err);
	la = lseek(fa, 0, SEEK_END);
	lb = lseek(fb, 0, SEEK_END);
	assert_int_equal(la, lb);
	assert_true(la > 0);
	pa = malloc((size_t)la);
	pb = malloc((size_t)lb);
	assert_int_equal(pread(fa, pa, (size_t)la, 0), la);
	assert_int_equal(pread(fb, pb, (size_t)lb, 0), lb);
	assert_memory_equal(pa, pb, (size_t)la);
	free(pa);
	free(pb);
	close(fa);
	close(fb);
}

static void assert_same(const eau2_df *a, const eau2_df *b)
{
	assert_same_n(a, b, UINT64_MAX);
}

static const char *const cases[][3] = {
	{ "count", NULL, NULL },
	{ "sum", "columns", "id,x" },
	{ "mean", "columns", "x" },
	{ "wordcount", "column", "w" },
	{ "groupby", "by", "s" },
};

static void run_cases(eau2 *cdb, eau2 *ldb, const eau2_df *df)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		const char *names[2] = { cases[c][1], "agg" };
		const char *values[2] = { cases[c][2], "count,sum:x,max:id" };
		struct eau2_args args = { cases[c][1] ? (c == 4 ? 2 : 1) : 0, names, values };
		const struct eau2_rower_class *cls = eau2_rower_find(cases[c][0]);
		struct eau2_error err = {0};
		eau2_df *local = NULL, *dist = NULL;

		assert_non_null(cls);
		tu_ok(eau2_run(ldb, df, cls, &args, NULL, &local, &err), &err);
		if (eau2_run_key(cdb, "t", cls, &args, NULL, NULL, &dist, &err))
			fail_msg("cluster run of %s: %s", cases[c][0], err.msg);
		assert_same(local, dist);
		eau2_df_release(local);
		eau2_df_release(dist);
	}
}

static int died; /* DIED events (atomic) */

static void on_node(void *arg, enum eau2_node_event ev, const char *id, const char *addr)
{
	(void)arg;
	/* On the health thread: no cmocka assertion here. */
	if (ev == EAU2_NODE_EVENT_DIED && id && id[0] && addr && addr[0])
		__atomic_add_fetch(&died, 1, __ATOMIC_SEQ_CST);
}

static void test_backend(void **state)
{
	struct eau2_error err = {0};
	char connect[1200], *cdir = tu_tmpdir("driver"), *ldir = NULL;
	eau2 *ldb = tu_open_store(&ldir), *cdb = NULL;
	eau2_df *df, *got = NULL;
	struct eau2_stat st;
	char **keys;
	size_t n, total = 0;

	(void)state;
	nodes_start("net");
	snprintf(connect, sizeof(connect), "%s/net", zku->connect);
	tu_ok(eau2_open(&cdb, &(struct eau2_options){ .store = cdir, .node = EAU2_NODE_OFF,
			.cluster = connect, .replicas = 2, .timeout_ms = 5000,
			.verify = true, .heartbeat_ms = 100, .dead_after_ms = 500 }, &err), &err);
	/* Node events: a cluster handle's only. */
	assert_int_equal(eau2_on_node_event(ldb, on_node, NULL, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "cluster"));
	tu_ok(eau2_on_node_event(cdb, on_node, NULL, &err), &err);
	df = make_df(ldb, 3 * EAU2_CHUNK_ROWS + 1234);
	tu_ok(eau2_put(cdb, "t", df, &err), &err);
	tu_ok(eau2_list(cdb, &keys, &n, &err), &err);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], "t");
	eau2_list_free(keys);
	tu_ok(eau2_stat(cdb, "t", &st, &err), &err);
	assert_int_equal(st.rows, eau2_df_rows(df));
	assert_int_equal(st.ngroups, eau2_df_ngroups(df));
	eau2_schema_free(st.schema);
	tu_ok(eau2_get(cdb, "t", &got, &err), &err);
	assert_same(df, got);
	eau2_df_release(got);
	/* A head fetches the first partitions only. */
	tu_ok(eau2_get_head(cdb, "t", 10, &got, &err), &err);
	assert_true(eau2_df_rows(got) >= 10 && eau2_df_rows(got) < eau2_df_rows(df));
	assert_same_n(df, got, eau2_df_rows(got));
	eau2_df_release(got);
	/* Two replicas of every partition, spread over the three nodes. */
	for (int i = 0; i < NNODES; i++) {
		assert_true(node_parts(i) > 0);
		total += node_parts(i);
	}
	assert_int_equal(total % 2, 0);
	run_cases(cdb, ldb, df);

	/* A node stopped (its member znode still there): the other replica
	 * of each of its partitions answers. */
	eau2_remote_server_stop(nodes[1].srv);
	nodes[1].srv = NULL;
	run_cases(cdb, ldb, df);
	/* Its heartbeats go unanswered: declared dead within 500 ms and a beat. */
	for (int k = 0; k < 300 && !__atomic_load_n(&died, __ATOMIC_SEQ_CST); k++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&died, __ATOMIC_SEQ_CST), 1);
	tu_ok(eau2_on_node_event(cdb, NULL, NULL, &err), &err);
	tu_ok(eau2_get(cdb, "t", &got, &err), &err);
	assert_same(df, got);
	eau2_df_release(got);
	/* No such key: named. */
	assert_int_equal(eau2_get(cdb, "nope", &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));

	tu_ok(eau2_delete(cdb, "t", &err), &err);
	tu_ok(eau2_list(cdb, &keys, &n, &err), &err);
	assert_int_equal(n, 0);
	eau2_list_free(keys);
	assert_int_equal(node_parts(0) + node_parts(2), 0);
	eau2_df_release(df);
	eau2_close(cdb);
	nodes_stop();
	tu_rmdir(cdir);
	tu_close_store(ldb, ldir);
}

/* ---------------------------------------------------------- shared state */

/* A second driver's wait on another thread: eau2_wait_get of key, or with
 * watch eau2_watch from version. */
struct waiter {
	eau2 *db;
	const char *key;
	bool watch;
	uint64_t version;
	eau2_df *got;
	int rc;
	long long ms;
	struct eau2_error err;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	long long t0 = zkc_now_ms();

	w->rc = w->watch ? eau2_watch(w->db, w->key, 10000, &w->version, &w->err)
			 : eau2_wait_get(w->db, w->key, 10000, &w->got, &w->err);
	w->ms = zkc_now_ms() - t0;
	return NULL;
}

/* Starts w, makes a change 300 ms later with put (NULL: a delete), and
 * checks that w slept until then and woke soon after. */
static void wake_on(struct waiter *w, eau2 *cdb, eau2_df *put)
{
	struct eau2_error err = {0};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, waiter_main, w), 0);
	usleep(300 * 1000);
	if (put)
		tu_ok(eau2_put(cdb, w->key, put, &err), &err);
	else
		tu_ok(eau2_delete(cdb, w->key, &err), &err);
	pthread_join(t, NULL);
	tu_ok(w->rc, &w->err);
	if (w->ms < 250 || w->ms > 8000)
		fail_msg("a wait on '%s' returned after %lld ms; the change came at 300",
			 w->key, w->ms);
}

static void test_shared_state(void **state)
{
	struct eau2_error err = {0};
	char connect[1200], *cdir = tu_tmpdir("driver"), *ldir = NULL;
	eau2 *ldb = tu_open_store(&ldir), *cdb = NULL, *cdb2 = NULL;
	struct eau2_options o = { .store = cdir, .node = EAU2_NODE_OFF, .replicas = 1,
				  .timeout_ms = 5000 };
	eau2_df *a, *b;
	struct waiter w;
	uint64_t v;

	(void)state;
	nodes_start("sync");
	snprintf(connect, sizeof(connect), "%s/sync", zku->connect);
	o.cluster = connect;
	tu_ok(eau2_open(&cdb, &o, &err), &err);
	tu_ok(eau2_open(&cdb2, &o, &err), &err);
	a = make_df(ldb, 1000);
	b = make_df(ldb, 2000);

	/* The facade's wait_get on a cluster: a timeout, then a put. */
	assert_int_equal(eau2_wait_get(cdb2, "late", 200, &w.got, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "late"));
	w = (struct waiter){ .db = cdb2, .key = "late" };
	wake_on(&w, cdb, a);
	assert_same(a, w.got);
	eau2_df_release(w.got);

	/* Watches: created, replaced, deleted. */
	v = EAU2_VERSION_ANY;
	tu_ok(eau2_watch(cdb2, "v", 0, &v, &err), &err);
	assert_int_equal(v, EAU2_VERSION_NONE);
	w = (struct waiter){ .db = cdb2, .key = "v", .watch = true, .version = v };
	wake_on(&w, cdb, a);
	assert_true(w.version != EAU2_VERSION_NONE);
	v = w.version;
	w = (struct waiter){ .db = cdb2, .key = "v", .watch = true, .version = v };
	wake_on(&w, cdb, b);
	assert_true(w.version != EAU2_VERSION_NONE && w.version != v);
	w = (struct waiter){ .db = cdb2, .key = "v", .watch = true, .version = w.version };
	wake_on(&w, cdb, NULL);
	assert_int_equal(w.version, EAU2_VERSION_NONE);
	assert_int_equal(eau2_watch(cdb2, "v", 200, NULL, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "'v'"));

	eau2_df_release(a);
	eau2_df_release(b);
	eau2_close(cdb2);
	eau2_close(cdb);
	nodes_stop();
	tu_rmdir(cdir);
	tu_close_store(ldb, ldir);
}

/* Descriptors this process holds. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A PING and a list of node i through the network operations. */
static void call_node(struct eau2_cluster_net *net, int i)
{
	struct eau2_member m = {0};
	struct eau2_error err = {0};
	char **parts = NULL;
	size_t n = 0;

	snprintf(m.id, sizeof(m.id), "n%d", i);
	snprintf(m.addr, sizeof(m.addr), "127.0.0.1:%u", eau2_remote_server_port(nodes[i].srv));
	tu_ok(eau2_cluster_net_ops.ping(net, &m, 5000, &err), &err);
	tu_ok(eau2_cluster_net_ops.list(net, &m, &parts, &n, &err), &err);
	for (size_t k = 0; k < n; k++)
		free(parts[k]);
	free(parts);
}

static void test_forget(void **state)
{
	struct eau2_error err = {0};
	struct eau2_cluster_net *net;
	int base, used, left = 0;

	(void)state;
	nodes_start("cf");
	tu_ok(eau2_cluster_net_new(NULL, NULL, 5000, &net, &err), &err);
	eau2_cluster_net_forget_ms(net, 300);
	base = open_fds();
	call_node(net, 0);
	call_node(net, 1);
	used = open_fds() - base; /* both ends of 2 connections per node */
	assert_true(used >= 4);
	nanosleep(&(struct timespec){ 0, 400000000 }, NULL);
	/* Calls to node 2 forget nodes 0 and 1, silent for longer than 300 ms:
	 * what stays open is node 2's (as many as nodes 0 and 1 had, each). */
	for (int t = 0; t < 100; t++) {
		call_node(net, 2);
		left = open_fds() - base;
		if (left <= used / 2)
			break;
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL); /* the servers' ends */
	}
	if (left > used / 2)
		fail_msg("%d descriptors still open after forgetting nodes 0 and 1 (%d for them)",
			 left, used);
	eau2_cluster_net_free(net);
	nodes_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backend),
		cmocka_unit_test(test_shared_state),
		cmocka_unit_test(test_forget),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
