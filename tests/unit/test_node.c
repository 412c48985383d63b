/* SPDX-License-Identifier: MIT */
/*
 * test_node.c - eau2-node and its client, with real processes: the node
 * runs in a forked child (eau2_node_server_run), clients are this process
 * and forked children. Checked against the store itself (embedded gets of
 * the same keys) and against the node's STATUS: reference counts after
 * gets, releases, SIGKILLed clients and deletes; a second node refused; a
 * node killed and restarted while a client holds dataframes; garbage,
 * wrong versions and clients dying mid-request; dataframes with more
 * segments than one message can carry descriptors for; concurrent readers
 * while a writer replaces keys; attach+open latency for a small and a
 * large dataframe; PSS of 8 clients mapping one large dataframe.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "api/api.h"
#include "df/df.h"
#include "node/dfcache.h"
#include "node/node.h"
#include "node/remote.h"
#include "shm/shm.h"

/* ------------------------------------------------------------ helpers */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static eau2 *open_mode(const char *dir, enum eau2_node_mode mode)
{
	struct eau2_error err = {0};
	eau2 *db = NULL;

	tu_ok(eau2_open(&db, &(struct eau2_options){ .store = dir, .node = mode }, &err),
	      &err);
	return db;
}

/* A store handle that never attaches to a node: the reference the tests
 * compare against, and the db that node-got dataframes are built on. */
static eau2 *open_embedded(const char *dir)
{
	return open_mode(dir, EAU2_NODE_OFF);
}

static struct eau2_node_client *attach(const char *dir)
{
	struct eau2_error err = {0};
	struct eau2_node_client *c = NULL;

	tu_ok(eau2_node_attach(dir, &c, &err), &err);
	return c;
}

static pid_t start_node_opts(const char *dir, int no_runs)
{
	struct eau2_node_client *c;
	pid_t pid = fork();
	int i;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct eau2_node_server_opts o = { .log_fd = 2, .quiet = 1, .no_runs = no_runs };

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphans when a test fails */
		struct eau2_node_server *srv;
		struct eau2_error err = {0};
		int rc = eau2_node_server_open(&srv, dir, &o, &err);

		if (rc) {
			fprintf(stderr, "node: %s\n", err.msg);
			_exit(3);
		}
		rc = eau2_node_server_run(srv, &err);
		eau2_node_server_close(srv);
		_exit(rc ? 2 : 0);
	}
	for (i = 0; i < 500; i++) { /* up to 5 s */
		c = attach(dir);
		if (eau2_node_attached(c)) {
			eau2_node_client_unref(c);
			return pid;
		}
		eau2_node_client_unref(c);
		sleep_ms(10);
	}
	fail_msg("node for %s did not come up", dir);
	return -1;
}

static pid_t start_node(const char *dir)
{
	return start_node_opts(dir, 0);
}

static void stop_node(pid_t pid)
{
	int st;

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void kill_node(pid_t pid)
{
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static struct eau2_node_status *status_of(const char *dir)
{
	struct eau2_error err = {0};
	struct eau2_node_client *c = attach(dir);
	struct eau2_node_status *st = NULL;

	tu_ok(eau2_node_status(c, &st, &err), &err);
	eau2_node_client_unref(c);
	return st;
}

/* References to id over all connections (0 when not held). */
static uint32_t refs_of(const struct eau2_node_status *st, uint64_t id)
{
	size_t i;

	for (i = 0; i < st->nids; i++)
		if (st->ids[i].id == id)
			return st->ids[i].refs;
	return 0;
}

static uint64_t total_refs(const struct eau2_node_status *st)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; i < st->nids; i++)
		t += st->ids[i].refs;
	return t;
}

/* Waits until the node shows `conns` connections (clients' closes are
 * seen asynchronously). */
static struct eau2_node_status *status_when(const char *dir, size_t conns)
{
	struct eau2_node_status *st = NULL;
	int i;

	for (i = 0; i < 300; i++) {
		free(st);
		st = status_of(dir);
		/* The status request's own connection is one of them. */
		if (st->nconns == conns + 1)
			return st;
		sleep_ms(10);
	}
	fail_msg("node shows %zu connections, want %zu", st->nconns - 1, conns);
	return st;
}

/* rows rows: a = i, b = i / 2.0 (null every 97th), s = "s<i % 1000>". */
static eau2_df *make_df(eau2 *db, uint64_t rows, int64_t base)
{
	struct eau2_error err = {0};
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	char buf[32];
	uint64_t i;

	tu_ok(eau2_schema_parse("a:int,b:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	eau2_schema_free(s);
	for (i = 0; i < rows; i++) {
		int n = snprintf(buf, sizeof(buf), "s%d", (int)(i % 1000));

		tu_ok(eau2_builder_append_int(b, 0, base + (int64_t)i, &err), &err);
		if (i % 97 == 0)
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
		else
			tu_ok(eau2_builder_append_double(b, 1, (double)i / 2.0, &err), &err);
		tu_ok(eau2_builder_append_string(b, 2, buf, (size_t)n, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	return df;
}

/* One int64 column of `bytes` bytes: a big dataframe made fast. */
static eau2_df *make_big(eau2 *db, uint64_t bytes)
{
	struct eau2_error err = {0};
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	uint64_t i, rows = bytes / 8;

	tu_ok(eau2_schema_parse("v:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	eau2_schema_free(s);
	for (i = 0; i < rows; i++)
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)(i * 7 + 1), &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	return df;
}

/* Sums column 0 over every chunk: touches every page of the data. */
static int64_t sum_col0(const eau2_df *df)
{
	struct eau2_error err = {0};
	struct eau2_chunk_view v;
	int64_t sum = 0;
	size_t g;
	uint32_t i;

	for (g = 0; g < eau2_df_ngroups(df); g++) {
		tu_ok(eau2_df_chunk(df, 0, g, &v, &err), &err);
		for (i = 0; i < v.rows; i++)
			sum += v.values.i64[i];
	}
	return sum;
}

/* Every value of every column equal, nulls included. */
static void assert_same_df(const eau2_df *x, const eau2_df *y)
{
	struct eau2_error err = {0};
	size_t c, g;

	assert_int_equal(eau2_df_rows(x), eau2_df_rows(y));
	assert_int_equal(eau2_df_ncols(x), eau2_df_ncols(y));
	assert_int_equal(eau2_df_ngroups(x), eau2_df_ngroups(y));
	for (g = 0; g < eau2_df_ngroups(x); g++) {
		for (c = 0; c < eau2_df_ncols(x); c++) {
			struct eau2_chunk_view a, b;
			uint32_t i;

			tu_ok(eau2_df_chunk(x, c, g, &a, &err), &err);
			tu_ok(eau2_df_chunk(y, c, g, &b, &err), &err);
			assert_int_equal(a.rows, b.rows);
			assert_int_equal(a.null_count, b.null_count);
			for (i = 0; i < a.rows; i++) {
				size_t la, lb;
				const char *sa, *sb;

				assert_int_equal(eau2_view_valid(&a, i), eau2_view_valid(&b, i));
				if (!eau2_view_valid(&a, i))
					continue;
				switch (a.type) {
				case EAU2_INT:
					assert_int_equal(a.values.i64[i], b.values.i64[i]);
					break;
				case EAU2_DOUBLE:
					assert_true(a.values.f64[i] == b.values.f64[i]);
					break;
				case EAU2_STRING:
					sa = eau2_view_string(&a, i, &la);
					sb = eau2_view_string(&b, i, &lb);
					assert_int_equal(la, lb);
					assert_memory_equal(sa, sb, la);
					break;
				case EAU2_BOOL:
					assert_int_equal(eau2_view_bool(&a, i), eau2_view_bool(&b, i));
					break;
				}
			}
		}
	}
}

static int seg_exists(const char *dir, uint64_t id)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/data/%016" PRIx64 ".0.seg", dir, id);
	return access(path, F_OK) == 0;
}

/* ------------------------------------------------------------ protocol */

static void test_proto(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_hdr h = {
		.magic = EAU2_NODE_MAGIC, .version = EAU2_NODE_VERSION,
		.type = EAU2_NODE_GET, .len = 3, .req = 0x1122334455667788ull,
	}, d;
	uint8_t msg[64];
	struct eau2_node_status *st;
	char **keys;
	size_t n;

	(void)state;
	eau2_node_hdr_encode(&h, msg);
	memcpy(msg + EAU2_NODE_HDR_SIZE, "abc", 3);
	tu_ok(eau2_node_hdr_decode(msg, 35, &d, &err), &err);
	assert_int_equal(d.req, h.req);
	assert_int_equal(d.type, EAU2_NODE_GET);
	assert_int_equal(d.len, 3);
	tu_ok(eau2_node_req_check(&d, msg + EAU2_NODE_HDR_SIZE, &err), &err);
	/* Length disagreeing with the message, short, bad magic. */
	assert_int_equal(eau2_node_hdr_decode(msg, 34, &d, &err), -EBADMSG);
	assert_int_equal(eau2_node_hdr_decode(msg, 31, &d, &err), -EBADMSG);
	msg[0] ^= 1;
	assert_int_equal(eau2_node_hdr_decode(msg, 35, &d, &err), -EBADMSG);
	msg[0] ^= 1;
	/* Another version: -EPROTO, and the message says both. */
	h.version = 7;
	eau2_node_hdr_encode(&h, msg);
	assert_int_equal(eau2_node_hdr_decode(msg, 35, &d, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "version 7"));
	/* Keys: control bytes and empty keys are refused. */
	h.version = EAU2_NODE_VERSION;
	memcpy(msg + EAU2_NODE_HDR_SIZE, "a\nb", 3);
	eau2_node_hdr_encode(&h, msg);
	tu_ok(eau2_node_hdr_decode(msg, 35, &d, &err), &err);
	assert_int_equal(eau2_node_req_check(&d, msg + EAU2_NODE_HDR_SIZE, &err), -EINVAL);
	d.len = 0;
	assert_int_equal(eau2_node_req_check(&d, msg + EAU2_NODE_HDR_SIZE, &err), -EINVAL);

	/* Status decoding checks sizes against counts. */
	memset(msg, 0, sizeof(msg));
	eau2_node_put_u32(msg, 42);
	eau2_node_put_u32(msg + 4, 1);
	eau2_node_put_u32(msg + 16, 99);
	eau2_node_put_u64(msg + 24, 5);
	tu_ok(eau2_node_status_decode(msg, 32, &st, &err), &err);
	assert_int_equal(st->node_pid, 42);
	assert_int_equal(st->nconns, 1);
	assert_int_equal(st->conns[0].pid, 99);
	assert_int_equal(st->conns[0].refs, 5);
	free(st);
	eau2_node_put_u32(msg + 8, 0x7fffffff); /* ids that are not there */
	assert_int_equal(eau2_node_status_decode(msg, 32, &st, &err), -EBADMSG);

	tu_ok(eau2_node_list_decode((const uint8_t *)"ab\0c\0", 5, &keys, &n, &err), &err);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], "ab");
	assert_string_equal(keys[1], "c");
	assert_null(keys[2]);
	eau2_list_free(keys);
	assert_int_equal(eau2_node_list_decode((const uint8_t *)"ab", 2, &keys, &n, &err),
			 -EBADMSG);
	assert_int_equal(eau2_node_list_decode((const uint8_t *)"a\0\0", 3, &keys, &n, &err),
			 -EBADMSG);
}

/* -------------------------------------------------------------- basics */

static void test_get_release_status(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db;
	eau2_df *df, *emb, *got, *got2;
	struct eau2_node_client *c;
	struct eau2_node_status *st;
	char **keys;
	size_t n;
	pid_t node;
	uint64_t id;

	(void)state;
	dir = tu_tmpdir("node");
	db = open_embedded(dir);
	df = make_df(db, 200000, 5);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	id = df->id;
	eau2_df_release(df);
	node = start_node(dir);

	/* Embedded and node gets give the same dataframe. */
	c = attach(dir);
	assert_true(eau2_node_attached(c));
	tu_ok(eau2_get(db, "k", &emb, &err), &err);
	tu_ok(eau2_node_get(c, db->store, "k", &got, &err), &err);
	assert_int_equal(got->id, id);
	assert_same_df(emb, got);
	tu_ok(eau2_node_get(c, db->store, "k", &got2, &err), &err);

	st = status_of(dir);
	assert_int_equal(st->nconns, 2); /* c and the status connection */
	assert_int_equal(refs_of(st, id), 2);
	assert_int_equal(st->nids, 1);
	assert_true(st->ids[0].keyed);
	free(st);

	/* Missing keys: the node's message is the store's. */
	assert_int_equal(eau2_node_get(c, db->store, "nope", &df, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no key 'nope'"));
	assert_null(df);
	/* A key the protocol cannot carry goes the embedded way. */
	assert_int_equal(eau2_node_get(c, db->store, "bad\nkey", &df, &err), -ENOTCONN);
	assert_true(eau2_node_attached(c));

	/* LIST and DELETE through the node. */
	df = make_df(db, 10, 0);
	tu_ok(eau2_put(db, "other", df, &err), &err);
	eau2_df_release(df);
	tu_ok(eau2_node_list(c, &keys, &n, &err), &err);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], "k");
	assert_string_equal(keys[1], "other");
	eau2_list_free(keys);
	tu_ok(eau2_node_delete(c, "other", &err), &err);
	assert_int_equal(eau2_node_delete(c, "other", &err), -ENOENT);

	/* Deleting a held key: data stays readable, status says deleted,
	 * and the last release lets the kernel free it. */
	tu_ok(eau2_delete(db, "k", &err), &err);
	assert_false(seg_exists(dir, id));
	st = status_of(dir);
	assert_int_equal(refs_of(st, id), 2);
	assert_false(st->ids[0].keyed);
	free(st);
	assert_same_df(emb, got2);
	eau2_node_release(c, got->id);
	eau2_df_release(got);
	st = status_of(dir);
	assert_int_equal(refs_of(st, id), 1);
	free(st);
	eau2_node_release(c, got2->id);
	eau2_df_release(got2);
	st = status_of(dir);
	assert_int_equal(st->nids, 0);
	free(st);
	/* Releasing what is not held is ignored on both sides. */
	eau2_node_release(c, id);
	eau2_df_release(emb);
	eau2_node_client_unref(c);
	stop_node(node);
	/* A clean stop removes the socket and leaves the store intact. */
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/" EAU2_NODE_SOCK, dir);
		assert_int_equal(access(path, F_OK), -1);
	}
	tu_close_store(db, dir);
}

/* eau2_get on a store handle opened normally goes through the node when
 * the lead's hooks are in (df.c, store.c); skipped otherwise. */
static void test_hooked_get(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db, *emb_db;
	eau2_df *df, *emb;
	struct eau2_node_status *st;
	pid_t node;
	uint64_t id;
	int hooked;

	(void)state;
	dir = tu_tmpdir("node");
	emb_db = open_embedded(dir);
	df = make_df(emb_db, 70000, 1);
	tu_ok(eau2_put(emb_db, "k", df, &err), &err);
	id = df->id;
	eau2_df_release(df);
	node = start_node(dir);
	tu_ok(eau2_open(&db, TU_STORE(dir), &err), &err);
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	st = status_of(dir);
	hooked = refs_of(st, id) == 1;
	free(st);
	if (hooked) {
		tu_ok(eau2_get(emb_db, "k", &emb, &err), &err);
		assert_same_df(emb, df);
		eau2_df_release(emb);
		/* The dataframe outlives the handle and keeps the count. */
		eau2_close(db);
		db = NULL;
		st = status_of(dir);
		assert_int_equal(refs_of(st, id), 1);
		free(st);
		eau2_df_release(df);
		df = NULL;
		st = status_when(dir, 0);
		assert_int_equal(st->nids, 0);
		free(st);
		/* Node gone: gets fall back to the files. */
		stop_node(node);
		tu_ok(eau2_open(&db, TU_STORE(dir), &err), &err);
		tu_ok(eau2_get(db, "k", &df, &err), &err);
		assert_int_equal(eau2_df_rows(df), 70000);
	} else {
		stop_node(node);
	}
	eau2_df_release(df);
	eau2_close(db);
	tu_close_store(emb_db, dir);
	if (!hooked)
		skip();
}

static void test_second_node_refused(void **state)
{
	struct eau2_node_server_opts o = { .log_fd = -1 };
	struct eau2_node_server *srv = NULL;
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("node"), pidtext[32];
	pid_t node;

	(void)state;
	eau2_close(open_embedded(dir));
	node = start_node(dir);
	assert_int_equal(eau2_node_server_open(&srv, dir, &o, &err), -EBUSY);
	assert_null(srv);
	snprintf(pidtext, sizeof(pidtext), "pid %d", (int)node);
	assert_non_null(strstr(err.msg, pidtext));
	/* Failing to become a node leaves this process a client. */
	{
		struct eau2_node_client *c = attach(dir);

		assert_true(eau2_node_attached(c));
		eau2_node_client_unref(c);
	}
	/* The refused node did not take the socket away. */
	kill_node(node);
	/* A crashed node's socket is stale: the next node replaces it. */
	node = start_node(dir);
	stop_node(node);
	tu_rmdir(dir);
}

static void test_not_a_store(void **state)
{
	struct eau2_node_server_opts o = { .log_fd = -1 };
	struct eau2_node_server *srv = NULL;
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("node"), path[4096];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/precious.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(eau2_node_server_open(&srv, dir, &o, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "not an eau2 store"));
	snprintf(path, sizeof(path), "%s/node.sock", dir);
	assert_int_equal(access(path, F_OK), -1);
	tu_rmdir(dir);
}

/* -------------------------------------------- clients that die or hold */

/* A child that attaches, gets key `gets` times, reports, then waits to
 * be killed (or exits when told). */
static pid_t holder(const char *dir, const char *key, int gets, int *ready_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct eau2_error err = {0};
		struct eau2_node_client *c;
		eau2_df *df;
		eau2 *db;
		char ok = 1;
		int i;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		db = open_embedded(dir);
		if (eau2_node_attach(dir, &c, &err))
			_exit(2);
		for (i = 0; i < gets; i++)
			if (eau2_node_get(c, db->store, key, &df, &err))
				_exit(3); /* df kept on purpose: held */
		if (write(p[1], &ok, 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

static void wait_ready(int fd)
{
	char b;

	assert_int_equal(read(fd, &b, 1), 1);
	close(fd);
}

static void test_killed_clients(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_status *st;
	char *dir = tu_tmpdir("node");
	pid_t node, kids[6];
	int ready[6], i, ws;
	eau2 *db;
	eau2_df *df;
	uint64_t a, b;

	(void)state;
	db = open_embedded(dir);
	df = make_df(db, 1000, 0);
	tu_ok(eau2_put(db, "a", df, &err), &err);
	a = df->id;
	eau2_df_release(df);
	df = make_df(db, 1000, 1);
	tu_ok(eau2_put(db, "b", df, &err), &err);
	b = df->id;
	eau2_df_release(df);
	node = start_node(dir);
	for (i = 0; i < 6; i++)
		kids[i] = holder(dir, i % 2 ? "b" : "a", i + 1, &ready[i]);
	for (i = 0; i < 6; i++)
		wait_ready(ready[i]);
	st = status_when(dir, 6);
	assert_int_equal(refs_of(st, a), 1 + 3 + 5);
	assert_int_equal(refs_of(st, b), 2 + 4 + 6);
	free(st);
	/* SIGKILL the ones holding a and one holding b. */
	for (i = 0; i < 6; i += 2)
		kill(kids[i], SIGKILL);
	kill(kids[5], SIGKILL);
	for (i = 0; i < 6; i += 2)
		waitpid(kids[i], &ws, 0);
	waitpid(kids[5], &ws, 0);
	st = status_when(dir, 2);
	assert_int_equal(refs_of(st, a), 0);
	assert_int_equal(refs_of(st, b), 2 + 4);
	assert_int_equal(total_refs(st), 6);
	free(st);
	/* Deleting b while held: its files go, the holders keep the pages. */
	tu_ok(eau2_delete(db, "b", &err), &err);
	assert_false(seg_exists(dir, b));
	st = status_of(dir);
	assert_int_equal(st->nids, 1);
	assert_false(st->ids[0].keyed);
	free(st);
	kill(kids[1], SIGKILL);
	kill(kids[3], SIGKILL);
	waitpid(kids[1], &ws, 0);
	waitpid(kids[3], &ws, 0);
	st = status_when(dir, 0);
	assert_int_equal(st->nids, 0);
	free(st);
	stop_node(node);
	tu_close_store(db, dir);
}

/* A node killed while a client holds dataframes; the client falls back,
 * then re-attaches to a new node and re-announces what it holds. */
static void test_node_restart(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_status *st;
	struct eau2_node_client *c;
	char *dir = tu_tmpdir("node");
	eau2_df *df, *held1, *held2, *again;
	eau2 *db;
	pid_t node;
	uint64_t id;
	int i, rc = -ENOTCONN;

	(void)state;
	db = open_embedded(dir);
	df = make_df(db, 5000, 0);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	id = df->id;
	eau2_df_release(df);
	node = start_node(dir);
	c = attach(dir);
	tu_ok(eau2_node_get(c, db->store, "k", &held1, &err), &err);
	tu_ok(eau2_node_get(c, db->store, "k", &held2, &err), &err);
	kill_node(node);
	/* No node: -ENOTCONN, the caller's cue to use the files. */
	assert_int_equal(eau2_node_get(c, db->store, "k", &df, &err), -ENOTCONN);
	assert_false(eau2_node_attached(c));
	assert_int_equal(sum_col0(held1), sum_col0(held2)); /* mappings live on */
	/* The store is intact for the next node. */
	node = start_node(dir);
	for (i = 0; i < 100 && rc == -ENOTCONN; i++) {
		rc = eau2_node_get(c, db->store, "k", &again, &err);
		if (rc == -ENOTCONN)
			sleep_ms(20);
	}
	tu_ok(rc, &err);
	assert_true(eau2_node_attached(c));
	st = status_of(dir);
	assert_int_equal(refs_of(st, id), 3); /* 2 re-announced + 1 new */
	free(st);
	assert_same_df(held1, again);
	eau2_node_release(c, id);
	eau2_df_release(held1);
	eau2_node_release(c, id);
	eau2_df_release(held2);
	eau2_node_release(c, id);
	eau2_df_release(again);
	st = status_of(dir);
	assert_int_equal(st->nids, 0);
	free(st);
	eau2_node_client_unref(c);
	stop_node(node);
	tu_close_store(db, dir);
}

/* A handle inherited across fork: the child attaches on its own,
 * announcing what it inherited, and never speaks on the parent's socket. */
static void test_fork_inherits(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_status *st;
	struct eau2_node_client *c;
	char *dir = tu_tmpdir("node");
	eau2_df *df, *held;
	eau2 *db;
	pid_t node, kid;
	uint64_t id;
	int p[2], q[2], ws;
	char b;

	(void)state;
	db = open_embedded(dir);
	df = make_df(db, 3000, 0);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	id = df->id;
	eau2_df_release(df);
	node = start_node(dir);
	c = attach(dir);
	tu_ok(eau2_node_get(c, db->store, "k", &held, &err), &err);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		close(q[1]);
		/* Inherited and not attached here; the next call attaches
		 * (HOLD 1 for `held`) and gets once more. */
		if (eau2_node_attached(c) || eau2_node_get(c, db->store, "k", &df, &err) ||
		    !eau2_node_attached(c) || write(p[1], "r", 1) != 1 ||
		    read(q[0], &b, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	close(q[0]);
	assert_int_equal(read(p[0], &b, 1), 1);
	st = status_when(dir, 2);
	assert_int_equal(refs_of(st, id), 1 + 2);
	free(st);
	/* The parent's connection still works. */
	eau2_node_release(c, id);
	eau2_df_release(held);
	tu_ok(eau2_node_get(c, db->store, "k", &held, &err), &err);
	assert_true(eau2_node_attached(c));
	st = status_of(dir);
	assert_int_equal(refs_of(st, id), 1 + 2);
	free(st);
	assert_int_equal(write(q[1], "x", 1), 1);
	assert_int_equal(waitpid(kid, &ws, 0), kid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	st = status_when(dir, 1);
	assert_int_equal(refs_of(st, id), 1);
	free(st);
	eau2_node_release(c, id);
	eau2_df_release(held);
	eau2_node_client_unref(c);
	stop_node(node);
	close(p[0]);
	close(q[1]);
	tu_close_store(db, dir);
}

/* ------------------------------------------------------------ bad input */

static int raw_connect(const char *dir)
{
	struct sockaddr_un addr;
	unsigned len;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct timeval tv = { 5, 0 };

	assert_true(fd >= 0);
	assert_int_equal(eau2_node_sockaddr(dir, -1, &addr, &len), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, len), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_raw(int fd, uint16_t version, uint16_t type, const void *p, uint32_t len)
{
	struct eau2_node_hdr h = {
		.magic = EAU2_NODE_MAGIC, .version = version, .type = type,
		.len = len, .req = 1,
	};

	assert_int_equal(eau2_node_send(fd, &h, p, NULL, 0), 0);
}

/* The node closed fd (possibly after one error reply): returns that
 * reply's code, or 0 when there was none. */
static int closed_by_node(int fd)
{
	uint8_t *buf = malloc(EAU2_NODE_MSG_MAX);
	int fds[EAU2_NODE_FDS_MAX], code = 0;
	size_t nfds;
	ssize_t n = eau2_node_recv(fd, buf, fds, &nfds, 0);

	if (n > 0) {
		struct eau2_node_hdr h;

		assert_int_equal(eau2_node_hdr_decode(buf, (size_t)n, &h, NULL), 0);
		code = h.code;
		n = eau2_node_recv(fd, buf, fds, &nfds, 0);
	}
	assert_int_equal(n, 0);
	free(buf);
	close(fd);
	return code;
}

static void test_bad_input(void **state)
{
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("node");
	struct eau2_node_client *c;
	uint8_t hello[8], junk[300];
	eau2_df *df;
	eau2 *db;
	pid_t node;
	int fd, i;

	(void)state;
	db = open_embedded(dir);
	df = make_df(db, 1000, 0);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	node = start_node(dir);
	c = attach(dir); /* a good client that must keep working */

	/* Another protocol version: refused with -EPROTO, then closed. */
	eau2_node_put_u32(hello, 9);
	eau2_node_put_u32(hello + 4, (uint32_t)getpid());
	fd = raw_connect(dir);
	send_raw(fd, 9, EAU2_NODE_HELLO, hello, 8);
	assert_int_equal(closed_by_node(fd), -EPROTO);
	/* Right header version, other HELLO version. */
	fd = raw_connect(dir);
	send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_HELLO, hello, 8);
	assert_int_equal(closed_by_node(fd), -EPROTO);
	/* A request before HELLO. */
	fd = raw_connect(dir);
	send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_GET, "k", 1);
	assert_int_equal(closed_by_node(fd), 0);
	/* Garbage of many sizes. */
	for (i = 0; i < (int)sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	for (i = 0; i < 6; i++) {
		fd = raw_connect(dir);
		assert_int_equal(send(fd, junk, (size_t)(i * 50 + 1), 0), i * 50 + 1);
		assert_int_equal(closed_by_node(fd), 0);
	}
	/* Garbage after a good HELLO; an empty message. */
	eau2_node_put_u32(hello, EAU2_NODE_VERSION);
	fd = raw_connect(dir);
	send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_HELLO, hello, 8);
	{
		uint8_t buf[EAU2_NODE_MSG_MAX];
		int fds[EAU2_NODE_FDS_MAX];
		size_t nfds;

		assert_true(eau2_node_recv(fd, buf, fds, &nfds, 0) > 0);
	}
	assert_int_equal(send(fd, junk, 0, 0), 0);
	assert_int_equal(closed_by_node(fd), 0);
	/* Dying mid-request: GET sent, connection closed before the reply. */
	for (i = 0; i < 20; i++) {
		fd = raw_connect(dir);
		send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_HELLO, hello, 8);
		send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_GET, "k", 1);
		close(fd);
	}
	/* Sending descriptors to the node: they are closed, the request
	 * refused. */
	{
		struct eau2_node_hdr h = {
			.magic = EAU2_NODE_MAGIC, .version = EAU2_NODE_VERSION,
			.type = EAU2_NODE_HELLO, .len = 8, .req = 1, .nfds = 1,
		};
		int one = 0;

		fd = raw_connect(dir);
		assert_int_equal(eau2_node_send(fd, &h, hello, &one, 1), 0);
		assert_int_equal(closed_by_node(fd), 0);
	}
	/* The good client never noticed. */
	tu_ok(eau2_node_get(c, db->store, "k", &df, &err), &err);
	assert_int_equal(eau2_df_rows(df), 1000);
	eau2_node_release(c, df->id);
	eau2_df_release(df);
	{
		struct eau2_node_status *st = status_when(dir, 1);

		assert_int_equal(st->nids, 0);
		free(st);
	}
	eau2_node_client_unref(c);
	stop_node(node);
	tu_close_store(db, dir);
}

/* ---------------------------------------------- many segments: batches */

/* Writes a dataframe of one int column by hand, one single-row chunk per
 * segment, and puts it under key: more segments than one SCM_RIGHTS
 * message carries. */
static uint64_t put_many_segments(eau2 *db, const char *key, uint32_t nsegs)
{
	struct eau2_error err = {0};
	uint64_t chunk = eau2_chunk_size(EAU2_INT, 1, 0, 0), id, old, len, bytes = 0;
	size_t types_len = 8, names_len = 8, off;
	uint8_t *desc, *p;
	struct eau2_desc_hdr *h;
	char name[64];
	int lock_fd, fd;
	uint32_t i;

	tu_ok(eau2_shm_id_create(db->store, &id, &lock_fd, &err), &err);
	for (i = 0; i < nsegs; i++) {
		struct eau2_shm_seg seg;
		int64_t v = (int64_t)i * 3;
		struct eau2_chunk_src src = { .type = EAU2_INT, .rows = 1, .values = &v };

		tu_ok(eau2_shm_seg_create(db->store->datafd, id, i, chunk, &seg, &err), &err);
		memset(seg.base, 0, chunk);
		eau2_chunk_write(seg.base, &src);
		seg.used = chunk;
		tu_ok(eau2_shm_seg_seal(&seg, &err), &err);
		munmap(seg.base, seg.size);
		bytes += chunk;
	}
	len = sizeof(*h) + types_len + names_len + nsegs * 8ull + (nsegs + 1) * 8ull +
	      nsegs * sizeof(struct eau2_chunk_ref);
	desc = calloc(1, len);
	h = (struct eau2_desc_hdr *)(void *)desc;
	memcpy(h->magic, EAU2_DESC_MAGIC, 8);
	h->version = EAU2_DESC_VERSION;
	h->ncols = 1;
	h->nrows = nsegs;
	h->ngroups = nsegs;
	h->nsegs = nsegs;
	h->names_len = (uint32_t)names_len;
	h->file_len = len;
	h->bytes = bytes;
	p = desc + sizeof(*h);
	p[0] = EAU2_INT;
	memcpy(p + types_len, "v", 2);
	off = sizeof(*h) + types_len + names_len;
	for (i = 0; i < nsegs; i++)
		memcpy(desc + off + i * 8ull, &chunk, 8);
	off += nsegs * 8ull;
	for (i = 0; i <= nsegs; i++) {
		uint64_t first = i;

		memcpy(desc + off + i * 8ull, &first, 8);
	}
	off += (nsegs + 1) * 8ull;
	for (i = 0; i < nsegs; i++) {
		struct eau2_chunk_ref r = { .seg = i, .off = 0 };

		memcpy(desc + off + i * sizeof(r), &r, sizeof(r));
	}
	h->checksum = XXH3_64bits(desc + sizeof(*h), len - sizeof(*h));
	eau2_shm_desc_name(name, id);
	fd = openat(db->store->datafd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, desc, len), (ssize_t)len);
	close(fd);
	free(desc);
	tu_ok(eau2_shm_writer_lock(db->store, &err), &err);
	tu_ok(eau2_shm_key_write(db->store, key, id, &old, &err), &err);
	eau2_shm_writer_unlock(db->store);
	snprintf(name, sizeof(name), "%016" PRIx64 ".lock", id);
	unlinkat(db->store->datafd, name, 0);
	close(lock_fd);
	return id;
}

static void test_many_segments(void **state)
{
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("node");
	struct eau2_node_client *c;
	eau2_df *emb, *got;
	eau2 *db;
	pid_t node;
	uint32_t nsegs = 2 * EAU2_NODE_FDS_MAX + 40; /* three messages */

	(void)state;
	db = open_embedded(dir);
	put_many_segments(db, "many", nsegs);
	tu_ok(eau2_get(db, "many", &emb, &err), &err);
	tu_ok(eau2_df_verify(emb, &err), &err);
	node = start_node(dir);
	c = attach(dir);
	tu_ok(eau2_node_get(c, db->store, "many", &got, &err), &err);
	assert_int_equal(got->nsegs, nsegs);
	assert_same_df(emb, got);
	assert_int_equal(sum_col0(got), 3ll * nsegs * (nsegs - 1) / 2);
	eau2_node_release(c, got->id);
	eau2_df_release(got);
	eau2_df_release(emb);
	eau2_node_client_unref(c);
	stop_node(node);
	tu_close_store(db, dir);
}

/* ------------------------------------------ readers while a writer puts */

/* Versions of key "k": version v has 1000 + v rows, a = v * 1000000 + i. */
static void check_version(const eau2_df *df)
{
	struct eau2_error err = {0};
	uint64_t rows = eau2_df_rows(df), i;
	int64_t v = (int64_t)rows - 1000, a;

	for (i = 0; i < rows; i += 97) /* runs in a child: no cmocka asserts */
		if (eau2_df_get_int(df, 0, i, &a, &err) || a != v * 1000000 + (int64_t)i)
			_exit(5);
}

static void test_readers_and_writer(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_status *st;
	char *dir = tu_tmpdir("node");
	int nreaders = 8, versions = tu_quick() ? 30 : 120, i, v, ws;
	pid_t node, kids[8];
	eau2_df *df;
	eau2 *db;
	char key[32];

	(void)state;
	db = open_embedded(dir);
	df = make_df(db, 1000, 0);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	node = start_node(dir);
	for (i = 0; i < nreaders; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct eau2_node_client *c;
			eau2 *rdb = open_embedded(dir);
			int n = 0;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (eau2_node_attach(dir, &c, &err))
				_exit(2);
			for (;;) {
				int rc = eau2_node_get(c, rdb->store, "k", &df, &err);

				if (rc) {
					fprintf(stderr, "reader: %d %s\n", rc, err.msg);
					_exit(3);
				}
				check_version(df);
				eau2_node_release(c, df->id);
				eau2_df_release(df);
				if (++n % 16 == 0 && eau2_get(rdb, "stop", &df, NULL) == 0)
					_exit(0);
			}
		}
	}
	for (v = 1; v <= versions; v++) {
		df = make_df(db, 1000 + (uint64_t)v, (int64_t)v * 1000000);
		tu_ok(eau2_put(db, "k", df, &err), &err);
		eau2_df_release(df);
		snprintf(key, sizeof(key), "new%d", v); /* new keys too */
		df = make_df(db, 10, v);
		tu_ok(eau2_put(db, key, df, &err), &err);
		eau2_df_release(df);
	}
	df = make_df(db, 1, 0);
	tu_ok(eau2_put(db, "stop", df, &err), &err);
	eau2_df_release(df);
	for (i = 0; i < nreaders; i++) {
		assert_int_equal(waitpid(kids[i], &ws, 0), kids[i]);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0);
	}
	st = status_when(dir, 0);
	assert_int_equal(st->nids, 0);
	free(st);
	stop_node(node);
	/* Only live versions are left in data/: 1 + versions + 1 keys. */
	{
		char **keys;
		size_t n;

		tu_ok(eau2_list(db, &keys, &n, &err), &err);
		assert_int_equal(n, (size_t)versions + 2);
		eau2_list_free(keys);
	}
	tu_close_store(db, dir);
}

/* ---------------------------------------------- latency and memory */

/* Attach + get through the node, in ms. */
static double attach_get_ms(const char *dir, eau2 *db, const char *key, int64_t *sum)
{
	struct eau2_error err = {0};
	struct eau2_node_client *c;
	eau2_df *df;
	double t0 = now_s(), t;

	tu_ok(eau2_node_attach(dir, &c, &err), &err);
	tu_ok(eau2_node_get(c, db->store, key, &df, &err), &err);
	t = (now_s() - t0) * 1e3;
	assert_true(eau2_node_attached(c));
	if (sum)
		*sum = sum_col0(df);
	eau2_node_release(c, df->id);
	eau2_df_release(df);
	eau2_node_client_unref(c);
	return t;
}

static double open_get_ms(const char *dir, const char *key)
{
	struct eau2_error err = {0};
	eau2_df *df;
	eau2 *db;
	double t0 = now_s(), t;

	db = open_embedded(dir);
	tu_ok(eau2_get(db, key, &df, &err), &err);
	t = (now_s() - t0) * 1e3;
	eau2_df_release(df);
	eau2_close(db);
	return t;
}

/* Pss of a process in kB: all of it (smaps_rollup), or only its mappings
 * of files under dir (smaps). */
static uint64_t pss_kb(pid_t pid, const char *only_dir)
{
	char path[64], line[4096];
	uint64_t total = 0, kb;
	int in_dir = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid,
		 only_dir ? "smaps" : "smaps_rollup");
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (only_dir && strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) {
			in_dir = strstr(line, only_dir) != NULL; /* a mapping's line */
			continue;
		}
		if (sscanf(line, "Pss: %" SCNu64 " kB", &kb) == 1 && (!only_dir || in_dir))
			total += kb;
	}
	fclose(f);
	return total;
}

static void test_latency_and_pss(void **state)
{
	struct eau2_error err = {0};
	struct eau2_node_status *st;
	char *dir = tu_tmpdir("node");
	/* EAU2_TEST_NODE_BIG_MIB: another size for the large dataframe. */
	const char *big_env = getenv("EAU2_TEST_NODE_BIG_MIB");
	uint64_t big = big_env ? strtoull(big_env, NULL, 10) << 20 :
		       tu_quick() ? (64ull << 20) : (1ull << 30);
	double small_ms = 1e9, big_ms = 1e9, small_emb = 1e9, big_emb = 1e9;
	uint64_t pss_all = 0, pss_seg = 0, pss_node;
	int64_t want = 0, got;
	int ready[8], go[8][2], i, ws;
	pid_t node, kids[8];
	eau2_df *df;
	eau2 *db;
	uint64_t id;

	(void)state;
	db = open_embedded(dir);
	df = make_big(db, 10ull << 20);
	tu_ok(eau2_put(db, "small", df, &err), &err);
	eau2_df_release(df);
	df = make_big(db, big);
	tu_ok(eau2_put(db, "big", df, &err), &err);
	id = df->id;
	want = sum_col0(df);
	eau2_df_release(df);
	node = start_node(dir);

	/* Best of 5: the first attach also pays for page faults of code. */
	for (i = 0; i < 5; i++) {
		double t = attach_get_ms(dir, db, "small", NULL);

		small_ms = t < small_ms ? t : small_ms;
		t = attach_get_ms(dir, db, "big", i == 0 ? &got : NULL);
		big_ms = t < big_ms ? t : big_ms;
		if (i == 0)
			assert_int_equal(got, want);
		t = open_get_ms(dir, "small");
		small_emb = t < small_emb ? t : small_emb;
		t = open_get_ms(dir, "big");
		big_emb = t < big_emb ? t : big_emb;
	}
	printf("# attach+get via node: 10 MiB %.3f ms, %llu MiB %.3f ms; "
	       "embedded open+get: %.3f ms, %.3f ms\n", small_ms,
	       (unsigned long long)(big >> 20), big_ms, small_emb, big_emb);
	assert_true(small_ms < 10.0);
	assert_true(big_ms < 10.0);

	/* 8 clients map the big dataframe through the node and read it all. */
	eau2_close(db);
	db = NULL;
	for (i = 0; i < 8; i++) {
		int r[2];

		assert_int_equal(pipe(r), 0);
		assert_int_equal(pipe(go[i]), 0);
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct eau2_node_client *c;
			eau2 *cdb = open_embedded(dir);
			int64_t sum;
			char b;

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(r[0]);
			for (int j = 0; j <= i; j++)
				close(go[j][1]); /* else siblings never see EOF */
			if (eau2_node_attach(dir, &c, &err) ||
			    eau2_node_get(c, cdb->store, "big", &df, &err))
				_exit(2);
			sum = sum_col0(df);
			if (write(r[1], &sum, sizeof(sum)) != sizeof(sum))
				_exit(3);
			if (read(go[i][0], &b, 1) < 0)
				_exit(4);
			_exit(0);
		}
		close(r[1]);
		close(go[i][0]);
		ready[i] = r[0];
	}
	for (i = 0; i < 8; i++) {
		assert_int_equal(read(ready[i], &got, sizeof(got)), sizeof(got));
		assert_int_equal(got, want);
		close(ready[i]);
	}
	st = status_when(dir, 8);
	assert_int_equal(refs_of(st, id), 8);
	free(st);
	for (i = 0; i < 8; i++) {
		pss_all += pss_kb(kids[i], NULL);
		pss_seg += pss_kb(kids[i], dir);
	}
	pss_node = pss_kb(node, NULL);
	printf("# 8 clients on a %llu MiB dataframe: PSS of the clients %llu MiB "
	       "(of which the store's mappings %llu MiB), node %llu kB\n",
	       (unsigned long long)(big >> 20), (unsigned long long)(pss_all >> 10),
	       (unsigned long long)(pss_seg >> 10), (unsigned long long)pss_node);
	/* One copy of the data, shared: within 2% of its size (page
	 * rounding), where 8 private copies would be 8x. */
	assert_true(pss_seg * 1024 <= big + big / 50);
	assert_true(pss_seg * 1024 >= big - big / 50);
	if (!tu_quick() && big >= (1ull << 30)) /* sanitizers inflate the rest */
		assert_true((pss_all + pss_node) * 1024 <= big + big / 5);
	for (i = 0; i < 8; i++) {
		close(go[i][1]);
		assert_int_equal(waitpid(kids[i], &ws, 0), kids[i]);
		assert_true(WIFEXITED(ws));
		assert_int_equal(WEXITSTATUS(ws), 0);
	}
	st = status_when(dir, 0);
	assert_int_equal(st->nids, 0);
	free(st);
	stop_node(node);
	tu_rmdir(dir);
}

/* ------------------------------------------------------------ warm runs */

/* "sleepy": sums column 0, sleeping ms=N milliseconds per row group (a
 * run long enough to be cancelled, or to queue others behind it). It is
 * registered before any node forks, so the nodes know it. */
struct sleepy {
	int64_t sum;
	int ms;
};

static int sleepy_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	struct sleepy *s = state;
	const char *ms = eau2_args_get(ctx->args, "ms");

	(void)err;
	s->sum = 0;
	s->ms = ms ? atoi(ms) : 0;
	return 0;
}

static int sleepy_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct sleepy *s = state;
	uint32_t i;

	(void)err;
	for (i = 0; i < g->rows; i++)
		s->sum += g->cols[0].values.i64[i];
	sleep_ms(s->ms);
	return 0;
}

static int sleepy_join(void *state, void *other, struct eau2_error *err)
{
	(void)err;
	((struct sleepy *)state)->sum += ((struct sleepy *)other)->sum;
	return 0;
}

static int sleepy_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
			 struct eau2_error *err)
{
	return eau2_df_from_scalar(ctx->db, "sum", EAU2_INT, &((struct sleepy *)state)->sum,
				   result, err);
}

static const char *const sleepy_args[] = { "ms", NULL };
static const struct eau2_rower_class sleepy_class = {
	.name = "test_sleepy",
	.summary = "sum of column 0, ms=N milliseconds per row group",
	.state_size = sizeof(struct sleepy),
	.init = sleepy_init,
	.accept_chunk = sleepy_chunk,
	.join = sleepy_join,
	.finish = sleepy_finish,
	.args = sleepy_args,
};

/* A handle that sends eau2_run_key to the node. */
static eau2 *open_runs(const char *dir)
{
	return open_mode(dir, EAU2_NODE_RUNS);
}

static eau2_df *get_key(eau2 *db, const char *key)
{
	struct eau2_error err = {0};
	eau2_df *df = NULL;

	tu_ok(eau2_get(db, key, &df, &err), &err);
	return df;
}

static size_t data_files(const char *dir)
{
	char cmd[4200];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls '%s/data' | wc -l", dir);
	f = popen(cmd, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%zu", &n), 1);
	pclose(f);
	return n;
}

/* Mappings in this process of dataframe id's first segment. */
static int mapped(uint64_t id)
{
	char name[64], line[4608];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	assert_non_null(f);
	eau2_shm_seg_name(name, id, 0);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, name) != NULL;
	fclose(f);
	return n;
}

/* The cache of run inputs (dfcache.h): a second lookup is a hit on the
 * same mapping; a replaced key is opened afresh; the least recently used
 * entry makes room; a deleted key's mapping goes within a second or so
 * (the sweeper), with no lookup to notice it. */
static void test_dfcache(void **state)
{
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("dfcache");
	eau2 *db = open_embedded(dir);
	struct eau2_dfcache *c = NULL;
	eau2_df *df, *got, *again;
	uint64_t first, id;
	int hit = -1, i;

	(void)state;
	df = make_df(db, 5000, 0);
	tu_ok(eau2_put(db, "a", df, &err), &err);
	first = df->id;
	eau2_df_release(df);
	assert_int_equal(eau2_dfcache_new(&c, dir, 0, &err), -EINVAL);
	tu_ok(eau2_dfcache_new(&c, dir, 2, &err), &err);
	tu_ok(eau2_dfcache_get(c, "a", &got, &hit, &err), &err);
	assert_int_equal(hit, 0);
	tu_ok(eau2_dfcache_get(c, "a", &again, &hit, &err), &err);
	assert_int_equal(hit, 1);
	assert_ptr_equal(got, again);
	eau2_df_release(again);
	eau2_df_release(got);
	assert_int_equal(mapped(first), 1); /* the cache's */
	/* replaced: the new dataframe, not a hit */
	df = make_df(db, 3000, 9);
	tu_ok(eau2_put(db, "a", df, &err), &err);
	id = df->id;
	eau2_df_release(df);
	tu_ok(eau2_dfcache_get(c, "a", &got, &hit, &err), &err);
	assert_int_equal(hit, 0);
	assert_int_equal(got->id, id);
	assert_int_equal(eau2_df_rows(got), 3000);
	eau2_df_release(got);
	assert_int_equal(mapped(first), 0);
	/* a missing key: the store's error, nothing cached */
	assert_int_equal(eau2_dfcache_get(c, "none", &got, &hit, &err), -ENOENT);
	assert_null(got);
	/* two entries: b and c push a out, least recently used first */
	for (i = 0; i < 2; i++) {
		df = make_df(db, 1000, i);
		tu_ok(eau2_put(db, i ? "c" : "b", df, &err), &err);
		eau2_df_release(df);
	}
	tu_ok(eau2_dfcache_get(c, "b", &got, &hit, &err), &err);
	eau2_df_release(got);
	assert_int_equal(mapped(id), 1);
	tu_ok(eau2_dfcache_get(c, "c", &got, &hit, &err), &err);
	eau2_df_release(got);
	assert_int_equal(mapped(id), 0);
	tu_ok(eau2_dfcache_get(c, "b", &got, &hit, &err), &err);
	assert_int_equal(hit, 1);
	id = got->id;
	eau2_df_release(got);
	/* deleted: the sweeper unmaps it without a lookup */
	tu_ok(eau2_delete(db, "b", &err), &err);
	assert_int_equal(mapped(id), 1);
	for (i = 0; i < 300 && mapped(id); i++)
		usleep(10000);
	assert_int_equal(mapped(id), 0);
	eau2_dfcache_free(c);
	tu_close_store(db, dir);
}

/* RUN gives what an in-process run gives, stored or handed back; the
 * node keeps its input open (a second run of the same key, then of the
 * key replaced, still answers right); errors come back with the rower's
 * message; a handle on no node runs in-process. */
static void test_run_warm(void **state)
{
	const char *gn[] = { "by", "agg" }, *gv[] = { "s", "sum:a,mean:b,count" };
	struct eau2_args ga = { 2, gn, gv };
	const char *bn[] = { "nope" }, *bv[] = { "1" };
	struct eau2_args bad = { 1, bn, bv };
	const struct eau2_rower_class *gb = eau2_rower_find("groupby");
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("noderun");
	eau2 *db = open_embedded(dir), *rdb;
	eau2_df *in, *want = NULL, *got = NULL, *stored;
	struct eau2_node_status *st;
	pid_t node;
	int round;

	(void)state;
	assert_non_null(gb);
	in = make_df(db, 50000, 0);
	tu_ok(eau2_put(db, "in", in, &err), &err);
	eau2_df_release(in);
	/* no node: the run happens here */
	rdb = open_runs(dir);
	tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, NULL, &want, &err), &err);
	eau2_close(rdb);
	node = start_node(dir);
	rdb = open_runs(dir);
	for (round = 0; round < 3; round++) {
		if (round == 2) { /* the key replaced: the cached input must go */
			eau2_df_release(want);
			in = make_df(db, 30000, 7);
			tu_ok(eau2_put(db, "in", in, &err), &err);
			eau2_df_release(in);
			tu_ok(eau2_run_key(db, "in", gb, &ga, NULL, NULL, &want, &err), &err);
		}
		tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, NULL, &got, &err), &err);
		assert_same_df(want, got);
		/* the node counts the result this connection holds */
		st = status_of(dir);
		assert_int_equal(refs_of(st, got->id), 1);
		free(st);
		eau2_df_release(got);
		tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, "out", &got, &err), &err);
		assert_null(got);
		stored = get_key(db, "out");
		assert_same_df(want, stored);
		eau2_df_release(stored);
	}
	/* released results leave nothing held */
	st = status_when(dir, 1);
	assert_int_equal(total_refs(st), 0);
	free(st);
	/* a result put under a key here outlives the node's reference */
	tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, NULL, &got, &err), &err);
	tu_ok(eau2_put(rdb, "kept", got, &err), &err);
	eau2_df_release(got);
	st = status_when(dir, 1);
	assert_int_equal(total_refs(st), 0);
	free(st);
	stored = get_key(db, "kept");
	assert_same_df(want, stored);
	eau2_df_release(stored);
	/* errors: the rower's (an undeclared argument), a missing key; the
	 * connection stays usable */
	assert_int_equal(eau2_run_key(rdb, "in", gb, &bad, NULL, NULL, &got, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "nope"));
	assert_int_equal(eau2_run_key(rdb, "missing", gb, &ga, NULL, NULL, &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing"));
	/* a class the node lacks runs here (its result is not the node's) */
	{
		struct eau2_rower_class late = sleepy_class;
		int64_t sum = 0;

		late.name = "test_not_in_node";
		tu_ok(eau2_run_key(rdb, "in", &late, NULL, NULL, NULL, &got, &err), &err);
		tu_ok(eau2_df_get_int(got, 0, 0, &sum, &err), &err);
		assert_int_equal(sum, (int64_t)30000 * 29999 / 2 + 7 * 30000);
		st = status_of(dir);
		assert_int_equal(refs_of(st, got->id), 0);
		free(st);
		eau2_df_release(got);
	}
	tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, NULL, &got, &err), &err);
	assert_same_df(want, got);
	eau2_df_release(got);
	eau2_close(rdb);
	stop_node(node);
	/* a node that runs nothing (revision 1, as before RUN): the handle
	 * runs in-process, and the result is its own (not held by the node) */
	node = start_node_opts(dir, 1);
	rdb = open_runs(dir);
	tu_ok(eau2_run_key(rdb, "in", gb, &ga, NULL, NULL, &got, &err), &err);
	assert_same_df(want, got);
	st = status_of(dir);
	assert_int_equal(refs_of(st, got->id), 0);
	free(st);
	eau2_df_release(got);
	eau2_close(rdb);
	eau2_df_release(want);
	stop_node(node);
	eau2_close(db);
	tu_rmdir(dir);
}

/* A client killed mid-run: the node cancels the run, frees its job and
 * result, and serves the next run at once. */
static void test_run_client_dies(void **state)
{
	const char *sn[] = { "ms" }, *sv[] = { "200" };
	struct eau2_args sa = { 1, sn, sv };
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("noderun");
	eau2 *db = open_embedded(dir), *rdb;
	eau2_df *in, *got = NULL;
	struct eau2_node_status *st;
	size_t files;
	double t0;
	pid_t node, kid;
	int ws;

	(void)state;
	/* 200 row groups (100 MiB) of 200 ms: 40 s of sleep unless cancelled */
	in = make_big(db, 200ull * EAU2_CHUNK_ROWS * 8);
	tu_ok(eau2_put(db, "in", in, &err), &err);
	eau2_df_release(in);
	node = start_node(dir);
	files = data_files(dir);
	kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		eau2 *k = open_runs(dir);

		eau2_run_key(k, "in", &sleepy_class, &sa, NULL, NULL, &got, &err);
		_exit(1); /* killed before */
	}
	sleep_ms(300);
	assert_int_equal(kill(kid, SIGKILL), 0);
	assert_int_equal(waitpid(kid, &ws, 0), kid);
	t0 = now_s();
	rdb = open_runs(dir);
	sv[0] = "0";
	tu_ok(eau2_run_key(rdb, "in", &sleepy_class, &sa, NULL, NULL, &got, &err), &err);
	/* the dead client's run was cancelled, not finished (40 s) */
	assert_true(now_s() - t0 < 10.0);
	assert_int_equal(eau2_df_rows(got), 1);
	eau2_df_release(got);
	eau2_close(rdb);
	st = status_when(dir, 0);
	assert_int_equal(st->nids, 0);
	free(st);
	assert_int_equal(data_files(dir), files);
	stop_node(node);
	eau2_close(db);
	tu_rmdir(dir);
}

static void send_run(int fd, uint64_t req, const char *as, const char *ms)
{
	const char *sn[] = { "ms" }, *sv[] = { ms };
	struct eau2_remote_run_req q = {
		.rower = "test_sleepy", .key = "in", .as = as, .threads = 1,
		.args = { 1, sn, sv },
	};
	struct eau2_node_hdr h = {
		.magic = EAU2_NODE_MAGIC, .version = EAU2_NODE_VERSION, .type = EAU2_NODE_RUN,
		.req = req,
	};
	uint8_t *p = NULL;
	size_t len = 0;

	assert_int_equal(eau2_remote_run_encode(&q, &p, &len, NULL), 0);
	h.len = (uint32_t)len;
	assert_int_equal(eau2_node_send(fd, &h, p, NULL, 0), 0);
	free(p);
}

/* The next reply (keepalives skipped): its request id and code. */
static uint64_t next_reply(int fd, int *code)
{
	uint8_t *buf = malloc(EAU2_NODE_MSG_MAX);
	int fds[EAU2_NODE_FDS_MAX];
	struct eau2_node_hdr h;
	size_t nfds;
	ssize_t n;

	for (;;) {
		n = eau2_node_recv(fd, buf, fds, &nfds, 0);
		assert_true(n > 0);
		assert_int_equal(eau2_node_hdr_decode(buf, (size_t)n, &h, NULL), 0);
		assert_int_equal(h.type, EAU2_NODE_RUN | EAU2_NODE_REPLY);
		if (!(h.flags & EAU2_NODE_F_MORE))
			break;
		assert_int_equal(h.len, 0); /* a keepalive */
	}
	*code = h.code;
	free(buf);
	return h.req;
}

static int hello_raw(const char *dir)
{
	uint8_t p[8], *buf = malloc(EAU2_NODE_MSG_MAX);
	int fds[EAU2_NODE_FDS_MAX], fd = raw_connect(dir);
	size_t nfds;

	eau2_node_put_u32(p, EAU2_NODE_VERSION);
	eau2_node_put_u32(p + 4, (uint32_t)getpid());
	send_raw(fd, EAU2_NODE_VERSION, EAU2_NODE_HELLO, p, 8);
	assert_int_equal(eau2_node_recv(fd, buf, fds, &nfds, 0), EAU2_NODE_HDR_SIZE + 8);
	/* the node's revision: it serves RUN */
	assert_int_equal(eau2_node_get_u32(buf + EAU2_NODE_HDR_SIZE), EAU2_NODE_REVISION);
	free(buf);
	return fd;
}

/* Two clients take turns: B's one run goes before A's queued ones; a
 * connection's queue is bounded (-EBUSY beyond it). */
static void test_run_turns(void **state)
{
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("noderun");
	eau2 *db = open_embedded(dir);
	uint64_t order[16];
	eau2_df *in;
	pid_t node;
	int a, b, code, i, n = 0;
	char as[16];

	(void)state;
	in = make_big(db, 4ull * EAU2_CHUNK_ROWS * 8);
	tu_ok(eau2_put(db, "in", in, &err), &err);
	eau2_df_release(in);
	node = start_node(dir);
	a = hello_raw(dir);
	b = hello_raw(dir);
	/* A: one running (4 groups x 150 ms) and EAU2_NODE_RUN_CONN queued,
	 * then one too many */
	for (i = 1; i <= (int)EAU2_NODE_RUN_CONN + 2; i++) {
		snprintf(as, sizeof(as), "a%d", i);
		send_run(a, (uint64_t)i, as, i == 1 ? "150" : "0");
	}
	sleep_ms(100);
	send_run(b, 100, "b", "0");
	/* A hears of the refusal first (it comes at once) */
	assert_int_equal(next_reply(a, &code), EAU2_NODE_RUN_CONN + 2);
	assert_int_equal(code, -EBUSY);
	/* then the replies in the order the runs ran: a1, b, a2.. */
	order[n++] = next_reply(a, &code);
	assert_int_equal(code, 0);
	order[n++] = next_reply(b, &code);
	assert_int_equal(code, 0);
	for (i = 2; i <= (int)EAU2_NODE_RUN_CONN + 1; i++) {
		order[n++] = next_reply(a, &code);
		assert_int_equal(code, 0);
	}
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 100);
	for (i = 2; i < n; i++)
		assert_int_equal(order[i], (uint64_t)i);
	close(a);
	close(b);
	stop_node(node);
	eau2_close(db);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto),
		cmocka_unit_test(test_get_release_status),
		cmocka_unit_test(test_hooked_get),
		cmocka_unit_test(test_second_node_refused),
		cmocka_unit_test(test_not_a_store),
		cmocka_unit_test(test_killed_clients),
		cmocka_unit_test(test_node_restart),
		cmocka_unit_test(test_fork_inherits),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_many_segments),
		cmocka_unit_test(test_readers_and_writer),
		cmocka_unit_test(test_latency_and_pss),
		cmocka_unit_test(test_dfcache),
		cmocka_unit_test(test_run_warm),
		cmocka_unit_test(test_run_client_dies),
		cmocka_unit_test(test_run_turns),
	};

	signal(SIGPIPE, SIG_IGN);
	if (eau2_rower_register(&sleepy_class, NULL)) {
		fprintf(stderr, "registering test_sleepy failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
