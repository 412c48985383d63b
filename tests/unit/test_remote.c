/* SPDX-License-Identifier: MIT */
/*
 * test_remote.c - the remote protocol, service and backend over loopback
 * (an in-process eau2_remote_server on an ephemeral port, serving a store
 * of its own; clients open with options.remote): round trips of every
 * type with nulls, empty and long strings, bit-identical chunk for chunk;
 * list, stat, head, delete, wait_get; remote runs equal local ones;
 * wrong and missing secrets refused with the reason; a non-loopback
 * listen without a secret refused; garbage and a cut push dropped, the
 * old value kept and no staged files left; kill -9 of the node mid-push
 * and of a client mid-pull: errors name the peer, the old value stays,
 * and each store is back to its files once opened again. PULL: a node
 * copies a key from another node itself, bit-identical, no faster than
 * the rate asked; a missing key, a node not there, a rate under the
 * least and (without a secret) a non-loopback address are refused
 * naming them, and the connection goes on.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "df/load.h"
#include "df/df.h"
#include "node/remote.h"
#include "util/clock.h"

struct srv {
	char *dir;
	eau2_remote_server *s;
	char addr[64];
	char log[8192];
	pthread_mutex_t mu;
};

static void srv_log(void *ctx, enum eau2_net_log_level level, const char *line)
{
	struct srv *v = ctx;

	pthread_mutex_lock(&v->mu);
	if (getenv("EAU2_TEST_VERBOSE"))
		fprintf(stderr, "  [node] %s\n", line);
	if (strlen(v->log) + strlen(line) + 2 < sizeof(v->log)) {
		strcat(v->log, line);
		strcat(v->log, "\n");
	}
	pthread_mutex_unlock(&v->mu);
	(void)level;
}

/* Waits up to 5 s for text in the node's log. */
static int log_has(struct srv *v, const char *text)
{
	for (int i = 0; i < 500; i++) {
		int found;

		pthread_mutex_lock(&v->mu);
		found = strstr(v->log, text) != NULL;
		pthread_mutex_unlock(&v->mu);
		if (found)
			return 1;
		usleep(10000);
	}
	return 0;
}

static void srv_start(struct srv *v, const char *secret_file)
{
	struct eau2_error err = {0};
	struct eau2_remote_server_opts o = { .listen = "127.0.0.1:0", .secret_file = secret_file,
					     .workers = 2, .log = srv_log, .log_ctx = v,
					     .timeout_ms = 3000 };
	eau2 *db;

	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->mu, NULL);
	v->dir = tu_tmpdir("node");
	/* Make the store (eau2_open creates it). */
	tu_ok(eau2_open(&db, TU_STORE(v->dir), &err), &err);
	eau2_close(db);
	o.store = v->dir;
	tu_ok(eau2_remote_server_start(&v->s, &o, &err), &err);
	snprintf(v->addr, sizeof(v->addr), "127.0.0.1:%u", eau2_remote_server_port(v->s));
}

static void srv_stop(struct srv *v)
{
	eau2_remote_server_stop(v->s);
	tu_rmdir(v->dir);
	pthread_mutex_destroy(&v->mu);
}

/* What the progress callback saw. */
static uint64_t prog_calls, prog_done, prog_total;

static void progress(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	prog_calls++;
	prog_done = done;
	prog_total = total;
}

static eau2 *client_p(const char *dir, const char *addr, const char *secret_file,
		      void (*prog)(void *, uint64_t, uint64_t))
{
	struct eau2_error err = {0};
	struct eau2_options o = { .store = dir, .remote = addr, .secret_file = secret_file,
				  .timeout_ms = 3000, .verify = true, .progress = prog };
	eau2 *db = NULL;

	tu_ok(eau2_open(&db, &o, &err), &err);
	return db;
}

static eau2 *client(const char *dir, const char *addr, const char *secret_file)
{
	return client_p(dir, addr, secret_file, NULL);
}

/* Files under dir/data. */
static int data_files(const char *dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A dataframe of every type: nulls every 7th row, every 5th string empty,
 * one long string (1 MiB), rows rows (several row groups). */
static eau2_df *make_df(eau2 *db, uint64_t rows, uint64_t seed)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	char *lng = malloc(1 << 20);

	for (int i = 0; i < (1 << 20); i++)
		lng[i] = (char)('a' + i % 26);
	tu_ok(eau2_schema_parse("b:bool,i:int,d:double,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (uint64_t r = 0; r < rows; r++) {
		uint64_t x = tu_rand(&seed);
		char str[48];
		size_t len = r % 5 ? (size_t)(x % 40) : 0;

		for (size_t k = 0; k < len; k++)
			str[k] = (char)('a' + (x >> (k % 50)) % 26);
		if (r % 7 == 3) {
			for (size_t c = 0; c < 4; c++)
				tu_ok(eau2_builder_append_null(b, c, &err), &err);
			continue;
		}
		tu_ok(eau2_builder_append_bool(b, 0, x & 1, &err), &err);
		tu_ok(eau2_builder_append_int(b, 1, (int64_t)(x % 1000) - 500, &err), &err);
		tu_ok(eau2_builder_append_double(b, 2, (double)x / 7.0, &err), &err);
		if (r == rows / 2)
			tu_ok(eau2_builder_append_string(b, 3, lng, 1 << 20, &err), &err);
		else
			tu_ok(eau2_builder_append_string(b, 3, str, len, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	free(lng);
	return df;
}

/* Bit-identical: the same schema, row groups, and chunk bytes. */
static void assert_same(const eau2_df *a, const eau2_df *b)
{
	struct eau2_error err = {0};
	size_t ncols = eau2_df_ncols(a);

	assert_int_equal(eau2_df_rows(a), eau2_df_rows(b));
	assert_int_equal(ncols, eau2_df_ncols(b));
	assert_int_equal(eau2_df_ngroups(a), eau2_df_ngroups(b));
	assert_int_equal(eau2_df_bytes(a), eau2_df_bytes(b));
	for (size_t c = 0; c < ncols; c++) {
		assert_string_equal(eau2_schema_name(eau2_df_schema(a), c),
				    eau2_schema_name(eau2_df_schema(b), c));
		assert_int_equal(eau2_schema_type(eau2_df_schema(a), c),
				 eau2_schema_type(eau2_df_schema(b), c));
	}
	for (size_t g = 0; g < eau2_df_ngroups(a); g++)
		for (size_t c = 0; c < ncols; c++) {
			const struct eau2_chunk_ref *ra = &a->chunk_refs[g * ncols + c];
			const struct eau2_chunk_ref *rb = &b->chunk_refs[g * ncols + c];
			const uint8_t *pa = a->segs[ra->seg].base + ra->off;
			const uint8_t *pb = b->segs[rb->seg].base + rb->off;
			struct eau2_chunk_view v;

			struct eau2_chunk_hdr ha, hb;

			tu_ok(eau2_df_chunk(a, c, g, &v, &err), &err);
			tu_ok(eau2_df_chunk(b, c, g, &v, &err), &err);
			memcpy(&ha, pa, sizeof(ha));
			memcpy(&hb, pb, sizeof(hb));
			assert_int_equal(ha.total_len, hb.total_len);
			assert_memory_equal(pa, pb, ha.total_len);
		}
}

static void test_pull(void **state)
{
	struct eau2_error err = {0};
	uint64_t rows = tu_quick() ? 50000 : 150000, bytes = 0, rate = 4u << 20;
	struct srv a, b;
	char *adir = tu_tmpdir("pa"), *bdir = tu_tmpdir("pb");
	eau2 *ca, *cb;
	eau2_remote *r;
	eau2_df *df, *got;
	long long t0, ms;

	(void)state;
	srv_start(&a, NULL);
	srv_start(&b, NULL);
	ca = client(adir, a.addr, NULL);
	cb = client(bdir, b.addr, NULL);
	df = make_df(ca, rows, 7);
	tu_ok(eau2_put(ca, "k", df, &err), &err);
	tu_ok(eau2_remote_open(&r, b.addr, NULL, 3000, &err), &err);
	t0 = eau2_mono_ms();
	tu_ok(eau2_remote_pull(r, a.addr, "k", rate, &bytes, &err), &err);
	ms = eau2_mono_ms() - t0;
	assert_int_equal(bytes, eau2_df_bytes(df));
	/* The throttle waits after each chunk until bytes / rate. */
	assert_true(ms >= (long long)(bytes * 1000 / rate) - 20);
	tu_ok(eau2_get(cb, "k", &got, &err), &err);
	assert_same(df, got);
	eau2_df_release(got);
	assert_true(log_has(&b, "pulled 'k' from"));

	/* Refusals name what failed; the connection goes on. */
	assert_int_equal(eau2_remote_pull(r, a.addr, "nope", 0, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "nope"));
	assert_non_null(strstr(err.msg, a.addr));
	assert_true(eau2_remote_pull(r, "127.0.0.1:1", "k", 0, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	assert_int_equal(eau2_remote_pull(r, a.addr, "k", 5, NULL, &err), -EINVAL);
	assert_int_equal(eau2_remote_pull(r, "192.0.2.1:7", "k", 0, NULL, &err), -EPERM);
	assert_non_null(strstr(err.msg, "192.0.2.1:7"));
	tu_ok(eau2_remote_pull(r, a.addr, "k", 0, &bytes, &err), &err);
	eau2_remote_close(r);
	eau2_df_release(df);
	eau2_close(ca);
	eau2_close(cb);
	srv_stop(&a);
	srv_stop(&b);
	tu_rmdir(adir);
	tu_rmdir(bdir);
}

static void test_round_trip(void **state)
{
	struct eau2_error err = {0};
	uint64_t rows = tu_quick() ? 70000 : 200000;
	struct srv v;
	char *cdir = tu_tmpdir("client"), **keys;
	struct eau2_stat st;
	eau2_df *df, *got, *head, *empty;
	eau2_schema *s;
	eau2_builder *b;
	eau2 *db;
	size_t n;

	(void)state;
	srv_start(&v, NULL);
	db = client_p(cdir, v.addr, NULL, progress);
	df = make_df(db, rows, 1);
	prog_calls = 0;
	tu_ok(eau2_put(db, "all types", df, &err), &err);
	/* Progress: once per chunk, up to every byte. */
	assert_int_equal(prog_calls, eau2_df_ngroups(df) * 4);
	assert_int_equal(prog_done, eau2_df_bytes(df));
	assert_int_equal(prog_total, eau2_df_bytes(df));
	/* An empty dataframe (no rows) travels too. */
	tu_ok(eau2_schema_parse("x:int,y:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	tu_ok(eau2_builder_finish(b, &empty, &err), &err);
	tu_ok(eau2_put(db, "empty", empty, &err), &err);
	eau2_schema_free(s);
	assert_true(log_has(&v, "put 'all types'"));

	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], "all types");
	assert_string_equal(keys[1], "empty");
	eau2_list_free(keys);

	prog_calls = 0;
	tu_ok(eau2_get(db, "all types", &got, &err), &err);
	assert_int_equal(prog_calls, eau2_df_ngroups(df) * 4);
	assert_int_equal(prog_done, eau2_df_bytes(df));
	assert_int_equal(prog_total, eau2_df_bytes(df));
	assert_same(df, got);
	eau2_df_release(got);
	tu_ok(eau2_get(db, "empty", &got, &err), &err);
	assert_same(empty, got);
	eau2_df_release(got);

	tu_ok(eau2_stat(db, "all types", &st, &err), &err);
	assert_int_equal(st.rows, rows);
	assert_int_equal(st.ngroups, eau2_df_ngroups(df));
	assert_int_equal(st.bytes, eau2_df_bytes(df));
	assert_int_equal(eau2_schema_ncols(st.schema), 4);
	eau2_schema_free(st.schema);

	/* A head moves only the row groups it needs. */
	tu_ok(eau2_get_head(db, "all types", 10, &head, &err), &err);
	assert_int_equal(eau2_df_ngroups(head), 1);
	assert_true(eau2_df_rows(head) >= 10);
	eau2_df_release(head);

	assert_int_equal(eau2_get(db, "nope", &got, &err), -ENOENT);
	assert_non_null(strstr(err.msg, v.addr));
	assert_non_null(strstr(err.msg, "nope"));
	tu_ok(eau2_delete(db, "empty", &err), &err);
	assert_int_equal(eau2_delete(db, "empty", &err), -ENOENT);
	assert_int_equal(eau2_wait_get(db, "later", 300, &got, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "later"));
	/* Shared state is a cluster's or a store's: refused, naming the node. */
	{
		struct eau2_lock *lk = NULL;

		assert_int_equal(eau2_watch(db, "later", 0, NULL, &err), -ENOTSUP);
		assert_non_null(strstr(err.msg, v.addr));
		assert_int_equal(eau2_lock(db, "L", 0, &lk, &err), -ENOTSUP);
		assert_non_null(strstr(err.msg, "lock"));
		assert_null(lk);
	}

	eau2_df_release(df);
	eau2_df_release(empty);
	eau2_close(db);
	/* What the client pulled lived under no key: its store is clean. */
	assert_int_equal(data_files(cdir), 0);
	tu_rmdir(cdir);
	srv_stop(&v);
}

/* 4096 columns of 255-byte names: the descriptor (over 1 MiB) travels in
 * parts. */
static void test_wide(void **state)
{
	struct eau2_error err = {0};
	char *cdir = tu_tmpdir("client"), name[EAU2_NAME_MAX + 1];
	struct srv v;
	struct eau2_stat st;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df, *got;
	eau2 *db;

	(void)state;
	srv_start(&v, NULL);
	/* 4096 columns take the sanitizers' build seconds to finish and
	 * publish on the node: a timeout of 30 s, the default. */
	tu_ok(eau2_open(&db, &(struct eau2_options){ .store = cdir, .remote = v.addr }, &err),
	      &err);
	tu_ok(eau2_schema_new(&s, &err), &err);
	for (int c = 0; c < EAU2_COLS_MAX; c++) {
		memset(name, 'a' + c % 26, EAU2_NAME_MAX);
		snprintf(name, 8, "%07d", c);
		name[7] = 'x';
		name[EAU2_NAME_MAX] = 0;
		tu_ok(eau2_schema_add(s, name, EAU2_BOOL, &err), &err);
	}
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (int r = 0; r < 3; r++)
		for (int c = 0; c < EAU2_COLS_MAX; c++)
			tu_ok(eau2_builder_append_bool(b, (size_t)c, (r + c) & 1, &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	tu_ok(eau2_put(db, "wide", df, &err), &err);
	tu_ok(eau2_stat(db, "wide", &st, &err), &err);
	assert_int_equal(eau2_schema_ncols(st.schema), EAU2_COLS_MAX);
	assert_string_equal(eau2_schema_name(st.schema, 4095),
			    eau2_schema_name(eau2_df_schema(df), 4095));
	eau2_schema_free(st.schema);
	tu_ok(eau2_get(db, "wide", &got, &err), &err);
	assert_same(df, got);
	eau2_df_release(got);
	eau2_df_release(df);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

static void test_run(void **state)
{
	struct eau2_error err = {0};
	const char *names[] = { "column" }, *values[] = { "i" };
	struct eau2_args args = { 1, names, values };
	const struct eau2_rower_class *sum = eau2_rower_find("sum");
	struct srv v;
	char *cdir = tu_tmpdir("client");
	eau2_df *df, *local, *remote;
	eau2 *db, *ldb;

	(void)state;
	assert_non_null(sum);
	srv_start(&v, NULL);
	db = client(cdir, v.addr, NULL);
	ldb = NULL;
	tu_ok(eau2_open(&ldb, TU_STORE(cdir), &err), &err);
	df = make_df(db, 70000, 2);
	tu_ok(eau2_put(db, "t", df, &err), &err);
	tu_ok(eau2_run(ldb, df, sum, &args, NULL, &local, &err), &err);
	tu_ok(eau2_run_key(db, "t", sum, &args, NULL, NULL, &remote, &err), &err);
	assert_same(local, remote);
	eau2_df_release(remote);
	/* With `as` the result stays on the node. */
	tu_ok(eau2_run_key(db, "t", sum, &args, NULL, "t.sum", &remote, &err), &err);
	assert_null(remote);
	tu_ok(eau2_get(db, "t.sum", &remote, &err), &err);
	assert_same(local, remote);
	eau2_df_release(remote);
	/* A partition's run for a cluster: the same encoded state there
	 * and here. */
	{
		eau2_remote *r;
		void *a, *b;
		size_t alen, blen;

		tu_ok(eau2_remote_open(&r, v.addr, NULL, 3000, &err), &err);
		tu_ok(eau2_remote_run_state_at(r, "sum", &args, "t", 0, &a, &alen, &err), &err);
		tu_ok(eau2_remote_run_state(ldb, df, sum, &args, NULL, &b, &blen, &err), &err);
		assert_true(alen > 0);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		free(a);
		free(b);
		assert_int_equal(eau2_remote_run_state_at(r, "no.such", &args, "t", 0, &a, &alen,
							  &err), -ENOENT);
		assert_non_null(strstr(err.msg, "no.such"));
		eau2_remote_close(r);
	}
	/* The node keeps t open for the next run (rserve.c's cache): t
	 * replaced, a run sees the new one; t deleted, a run fails. */
	eau2_df_release(local);
	eau2_df_release(df);
	df = make_df(db, 50000, 5);
	tu_ok(eau2_put(db, "t", df, &err), &err);
	tu_ok(eau2_run(ldb, df, sum, &args, NULL, &local, &err), &err);
	tu_ok(eau2_run_key(db, "t", sum, &args, NULL, NULL, &remote, &err), &err);
	assert_same(local, remote);
	eau2_df_release(remote);
	tu_ok(eau2_delete(db, "t", &err), &err);
	assert_int_equal(eau2_run_key(db, "t", sum, &args, NULL, NULL, &remote, &err), -ENOENT);
	tu_ok(eau2_put(db, "t", df, &err), &err);
	/* Errors say what and where. */
	assert_int_equal(eau2_run_key(db, "missing", sum, &args, NULL, NULL, &remote, &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "missing"));
	values[0] = "nocol";
	assert_true(eau2_run_key(db, "t", sum, &args, NULL, NULL, &remote, &err) < 0);
	assert_non_null(strstr(err.msg, "nocol"));
	eau2_df_release(local);
	eau2_df_release(df);
	eau2_close(ldb);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

/* RUN_STATE: a node's part of a distributed run is the state a local
 * eau2_remote_run_state gives, byte for byte (one thread each: the same
 * joins), over several STATE frames when it is large; a rower or key the
 * node lacks is refused naming what it lacks, and the connection stays. */
static void test_run_state(void **state)
{
	struct eau2_error err = {0};
	const char *names[] = { "columns" }, *values[] = { "s" };
	struct eau2_args args = { 1, names, values };
	const struct eau2_rower_class *distinct = eau2_rower_find("distinct");
	struct srv v;
	char *cdir = tu_tmpdir("client");
	void *ls = NULL, *rs = NULL;
	size_t llen = 0, rlen = 0;
	eau2_remote *r = NULL;
	eau2_df *df;
	eau2 *db;

	(void)state;
	assert_non_null(distinct);
	srv_start(&v, NULL);
	db = client(cdir, v.addr, NULL);
	df = make_df(db, 70000, 3);
	tu_ok(eau2_put(db, "t", df, &err), &err);
	tu_ok(eau2_remote_run_state(db, df, distinct, &args, &(struct eau2_run_options){
		.threads = 1 }, &ls, &llen, &err), &err);
	assert_true(llen > EAU2_NET_CONTROL_MAX); /* more than one frame */
	tu_ok(eau2_remote_open(&r, v.addr, NULL, 3000, &err), &err);
	tu_ok(eau2_remote_run_state_at(r, "distinct", &args, "t", 1, &rs, &rlen, &err), &err);
	assert_int_equal(llen, rlen);
	assert_memory_equal(ls, rs, llen);
	free(rs);
	/* Refusals leave the connection usable. */
	assert_int_equal(eau2_remote_run_state_at(r, "no_such_rower", &args, "t", 1, &rs, &rlen,
					       &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no_such_rower"));
	assert_int_equal(eau2_remote_run_state_at(r, "distinct", &args, "absent", 1, &rs, &rlen,
					       &err), -ENOENT);
	assert_non_null(strstr(err.msg, "absent"));
	values[0] = "nocol";
	assert_true(eau2_remote_run_state_at(r, "distinct", &args, "t", 1, &rs, &rlen, &err) < 0);
	assert_non_null(strstr(err.msg, "nocol"));
	values[0] = "s";
	tu_ok(eau2_remote_run_state_at(r, "distinct", &args, "t", 1, &rs, &rlen, &err), &err);
	assert_int_equal(llen, rlen);
	free(rs);
	free(ls);
	eau2_remote_close(r);
	eau2_df_release(df);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

struct waiter {
	struct srv *v;
	char *dir;
	const char *key;
	int rc;
	uint64_t rows;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct eau2_error err = {0};
	eau2 *db = client(w->dir, w->v->addr, NULL);
	eau2_df *df = NULL;

	w->rc = eau2_wait_get(db, w->key, 10000, &df, &err);
	if (!w->rc)
		w->rows = eau2_df_rows(df);
	else
		fprintf(stderr, "wait_get: %s\n", err.msg);
	eau2_df_release(df);
	eau2_close(db);
	return NULL;
}

/* Three clients wait for a key on a node of two workers (at most one
 * waits there at a time); a fourth puts it; all three get it, and the
 * node answered other requests meanwhile. */
static void test_wait(void **state)
{
	struct eau2_error err = {0};
	struct srv v;
	struct waiter w[3];
	pthread_t t[3];
	char *cdir = tu_tmpdir("client"), **keys;
	eau2_df *df;
	eau2 *db;
	size_t n;

	(void)state;
	srv_start(&v, NULL);
	db = client(cdir, v.addr, NULL);
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ .v = &v, .dir = cdir, .key = "late" };
		assert_int_equal(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
	}
	usleep(300000);
	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	assert_int_equal(n, 0);
	eau2_list_free(keys);
	df = make_df(db, 100, 5);
	tu_ok(eau2_put(db, "late", df, &err), &err);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
		assert_int_equal(w[i].rows, 100);
	}
	eau2_df_release(df);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

/* A rower that takes longer than the client's frame timeout. */
static int sleepy_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	(void)state, (void)ctx, (void)err;
	usleep(4500000);
	return 0;
}

static int sleepy_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
			 struct eau2_error *err)
{
	int64_t v = 42;

	(void)state;
	return eau2_df_from_scalar(ctx->db, "answer", EAU2_INT, &v, result, err);
}

static int sleepy_accept(void *state, const struct eau2_row *row)
{
	(void)state, (void)row;
	return 1;
}

static int sleepy_join(void *state, void *other, struct eau2_error *err)
{
	(void)state, (void)other, (void)err;
	return 0;
}

static const struct eau2_rower_class sleepy = {
	.name = "test.sleepy", .summary = "sleeps 4.5 s, then 42", .flags = EAU2_ROWER_NO_INPUT,
	.state_size = 8, .init = sleepy_init, .accept = sleepy_accept, .join = sleepy_join,
	.finish = sleepy_finish,
};

/* A run of 4.5 s for a client whose frames time out after 2 s: the node's
 * PINGs keep the client waiting, and the answer comes. */
static void test_long_run(void **state)
{
	struct eau2_error err = {0};
	struct srv v;
	char *cdir = tu_tmpdir("client");
	eau2_df *res;
	int64_t x = 0;
	eau2 *db = NULL;

	(void)state;
	if (!eau2_rower_find("test.sleepy"))
		tu_ok(eau2_rower_register(&sleepy, &err), &err);
	srv_start(&v, NULL);
	tu_ok(eau2_open(&db, &(struct eau2_options){ .store = cdir, .remote = v.addr,
						   .timeout_ms = 2000 }, &err), &err);
	tu_ok(eau2_run_key(db, NULL, &sleepy, NULL, NULL, NULL, &res, &err), &err);
	tu_ok(eau2_df_get_int(res, 0, 0, &x, &err), &err);
	assert_int_equal(x, 42);
	eau2_df_release(res);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

static char *secret(const char *dir, const char *name, const char *text)
{
	char *path = malloc(4096);
	int fd;

	snprintf(path, 4096, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_secret(void **state)
{
	struct eau2_error err = {0};
	char *tmp = tu_tmpdir("secret"), *cdir = tu_tmpdir("client");
	char *good = secret(tmp, "good", "s3cret\n"), *bad = secret(tmp, "bad", "other");
	struct eau2_options o = { .store = cdir, .timeout_ms = 3000 };
	struct eau2_remote_server_opts so = { .listen = "0.0.0.0:0", .store = cdir };
	eau2_remote_server *s = NULL;
	struct srv v;
	eau2 *db = NULL;

	(void)state;
	/* No secret: loopback only. */
	assert_int_equal(eau2_remote_server_start(&s, &so, &err), -EPERM);
	assert_non_null(strstr(err.msg, "--secret-file"));
	assert_null(s);

	srv_start(&v, good);
	o.remote = v.addr;
	o.secret_file = bad;
	assert_int_equal(eau2_open(&db, &o, &err), -EACCES);
	assert_non_null(strstr(err.msg, "secret mismatch"));
	assert_non_null(strstr(err.msg, v.addr));
	o.secret_file = NULL;
	assert_true(eau2_open(&db, &o, &err) < 0);
	assert_non_null(strstr(err.msg, "secret"));
	assert_null(db);
	assert_true(log_has(&v, "refused"));
	o.secret_file = good;
	tu_ok(eau2_open(&db, &o, &err), &err);
	eau2_close(db);
	srv_stop(&v);
	free(good);
	free(bad);
	tu_rmdir(tmp);
	tu_rmdir(cdir);
}

/* A raw TCP connection to addr's port. */
static int raw_connect(struct srv *v)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(eau2_remote_server_port(v->s)) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Starts a PUT of key "k" (request req) by hand on c and sends df's
 * descriptor: the chunks are the caller's to send. */
static void put_by_hand(eau2_net_conn *c, uint64_t req, const eau2_df *df)
{
	struct eau2_net_frame f = { .type = EAU2_REMOTE_PUT, .req = req, .len = 1 };
	struct eau2_error err = {0};

	tu_ok(eau2_net_send(c, &f, "k", &err), &err);
	tu_ok(eau2_net_recv_hdr(c, &f, &err), &err);
	assert_int_equal(f.type, EAU2_REMOTE_GO);
	tu_ok(eau2_remote_send_desc(c, req, df, 0, eau2_df_ngroups(df), &err), &err);
}

/* A refused put left nothing: the node's data files are back to base
 * and "k" is still old. */
static void put_left_nothing(struct srv *v, int base, eau2 *db, const eau2_df *old)
{
	struct eau2_error err = {0};
	eau2_df *got;

	for (int i = 0; i < 500 && data_files(v->dir) != base; i++)
		usleep(10000);
	assert_int_equal(data_files(v->dir), base);
	tu_ok(eau2_get(db, "k", &got, &err), &err);
	assert_same(old, got);
	eau2_df_release(got);
}

/* A node with "k" = a 1000-row dataframe (*old) and a client of it; the
 * node's data files then. */
static int serve_old(struct srv *v, const char *cdir, eau2 **db, eau2_df **old)
{
	struct eau2_error err = {0};

	srv_start(v, NULL);
	*db = client(cdir, v->addr, NULL);
	*old = make_df(*db, 1000, 3);
	tu_ok(eau2_put(*db, "k", *old, &err), &err);
	return data_files(v->dir);
}

static void test_garbage_and_cuts(void **state)
{
	struct eau2_error err = {0};
	struct eau2_net_opts no = { .ident = { .cluster = EAU2_REMOTE_CLUSTER,
					       .node_id = "cutter", .role = EAU2_NET_ROLE_CLIENT },
				    .io_timeout_ms = 3000 };
	struct eau2_net_frame f = { .type = EAU2_REMOTE_PUT, .req = 1, .len = 3 };
	char *cdir = tu_tmpdir("client"), junk[4096];
	struct srv v;
	eau2_net_conn *c;
	eau2_df *df, *old, *got;
	eau2 *db;
	int fd, base;

	(void)state;
	base = serve_old(&v, cdir, &db, &old);

	/* Garbage instead of a handshake: dropped, others still served. */
	fd = raw_connect(&v);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_true(log_has(&v, "dropped: bad magic"));
	close(fd);

	/* A push cut after a few chunks: the old value stays, nothing
	 * staged is left. */
	df = make_df(db, 300000, 4);
	tu_ok(eau2_net_connect(&c, v.addr, &no, &err), &err);
	tu_ok(eau2_net_send(c, &f, "k\0", &err), &err); /* "k\0\0" is a bad key */
	assert_true(eau2_net_recv_hdr(c, &f, &err) < 0);
	assert_non_null(strstr(err.msg, "key"));
	put_by_hand(c, 2, df);
	for (size_t col = 0; col < 4; col++) {
		const struct eau2_chunk_ref *r = &df->chunk_refs[col];

		tu_ok(eau2_net_send_chunk(c, df->segs[r->seg].base + r->off, 2, col, &err), &err);
	}
	eau2_net_close(c);
	assert_true(log_has(&v, "put dropped"));
	put_left_nothing(&v, base, db, old);

	/* A chunk out of order is refused, naming it. */
	tu_ok(eau2_net_connect(&c, v.addr, &no, &err), &err);
	put_by_hand(c, 3, df);
	tu_ok(eau2_net_send_chunk(c, df->segs[df->chunk_refs[1].seg].base + df->chunk_refs[1].off,
				  3, 0, &err), &err);
	assert_true(eau2_net_recv_hdr(c, &f, &err) < 0);
	assert_non_null(strstr(err.msg, "expected chunk 0"));
	eau2_net_close(c);
	put_left_nothing(&v, base, db, old);

	/* A chunk changed after its checksum was made, sent raw (raw blocks
	 * carry no payload sum): refused by the chunk's checksum once whole,
	 * naming the chunk; nothing is published. */
	{
		const struct eau2_chunk_ref *r = &df->chunk_refs[1], *r0 = &df->chunk_refs[0];
		const uint8_t *src = df->segs[r->seg].base + r->off;
		uint64_t clen = ((const struct eau2_chunk_hdr *)(const void *)src)->total_len;
		uint8_t *bad = aligned_alloc(64, (clen + 63) / 64 * 64);

		memcpy(bad, src, clen);
		bad[clen - 8] ^= 1;
		tu_ok(eau2_net_connect(&c, v.addr, &no, &err), &err);
		eau2_net_set_policy(c, EAU2_NET_FORCE_NONE);
		put_by_hand(c, 4, df);
		tu_ok(eau2_net_send_chunk(c, df->segs[r0->seg].base + r0->off, 4, 0, &err), &err);
		tu_ok(eau2_net_send_chunk(c, bad, 4, 1, &err), &err);
		assert_true(eau2_net_recv_hdr(c, &f, &err) < 0);
		assert_true(log_has(&v, "put dropped: put 'k': column 'i', row group 0: peer "));
		assert_true(log_has(&v, ": received chunk 1 (int, 65536 rows): checksum mismatch"));
		eau2_net_close(c);
		free(bad);
		put_left_nothing(&v, base, db, old);
	}

	/* The service goes on. */
	tu_ok(eau2_put(db, "k", df, &err), &err);
	tu_ok(eau2_get(db, "k", &got, &err), &err);
	assert_same(df, got);
	eau2_df_release(got);
	eau2_df_release(df);
	eau2_df_release(old);
	eau2_close(db);
	tu_rmdir(cdir);
	srv_stop(&v);
}

/* A node in a child process (killed with -9 by the test); *pid its pid. */
static void child_node(const char *dir, char *addr, size_t cap, pid_t *pid)
{
	int p[2];
	uint16_t port = 0;

	assert_int_equal(pipe(p), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		struct eau2_remote_server_opts o = { .listen = "127.0.0.1:0", .store = dir,
						     .workers = 2 };
		struct eau2_error err = {0};
		eau2_remote_server *s;

		if (eau2_remote_server_start(&s, &o, &err))
			_exit(3);
		port = eau2_remote_server_port(s);
		if (write(p[1], &port, sizeof(port)) != sizeof(port))
			_exit(3);
		for (;;)
			pause();
	}
	assert_int_equal(read(p[0], &port, sizeof(port)), (ssize_t)sizeof(port));
	close(p[0]);
	close(p[1]);
	snprintf(addr, cap, "127.0.0.1:%u", port);
}

/* Waits (up to 10 s) until dir/data holds more than base files. */
static int grows(const char *dir, int base)
{
	for (int i = 0; i < 10000; i++) {
		if (data_files(dir) > base)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* kill -9 of the node mid-push, then of a client mid-pull: the caller
 * gets an error naming the peer, the old value stays, and once each
 * store is opened again (its gc) no staged file is left. */
static void test_killed(void **state)
{
	struct eau2_error err = {0};
	char *ndir = tu_tmpdir("node"), *cdir = tu_tmpdir("client"), addr[64];
	eau2_df *old, *big, *got;
	eau2 *db, *ndb;
	int base, cbase, status;
	pid_t node, puller;

	(void)state;
	tu_ok(eau2_open(&ndb, TU_STORE(ndir), &err), &err);
	eau2_close(ndb);
	child_node(ndir, addr, sizeof(addr), &node);
	db = client(cdir, addr, NULL);
	old = make_df(db, 1000, 6);
	big = make_df(db, tu_quick() ? 400000 : 1500000, 7);
	tu_ok(eau2_put(db, "k", old, &err), &err);
	base = data_files(ndir);

	/* The node dies mid-push. */
	if ((puller = fork()) == 0) {
		struct eau2_error e = {0};
		int rc = eau2_put(db, "k", big, &e);

		fprintf(stderr, "  push after the node's death: %s\n", e.msg);
		_exit(rc < 0 && strstr(e.msg, addr) ? 0 : 1);
	}
	assert_true(grows(ndir, base));
	kill(node, SIGKILL);
	waitpid(node, NULL, 0);
	assert_int_equal(waitpid(puller, &status, 0), puller);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tu_ok(eau2_open(&ndb, &(struct eau2_options){ .store = ndir, .node = EAU2_NODE_OFF },
			&err), &err);
	eau2_close(ndb);
	assert_int_equal(data_files(ndir), base);

	/* The restarted node serves the old value; a client dies mid-pull. */
	child_node(ndir, addr, sizeof(addr), &node);
	eau2_close(db);
	db = client(cdir, addr, NULL);
	tu_ok(eau2_put(db, "big", big, &err), &err);
	tu_ok(eau2_get(db, "k", &got, &err), &err);
	assert_same(old, got);
	eau2_df_release(got);
	eau2_df_release(big);
	eau2_df_release(old);
	eau2_close(db);
	cbase = data_files(cdir);
	if ((puller = fork()) == 0) {
		eau2 *c = client(cdir, addr, NULL);
		eau2_df *df;

		eau2_get(c, "big", &df, NULL);
		_exit(0);
	}
	assert_true(grows(cdir, cbase));
	kill(puller, SIGKILL);
	waitpid(puller, NULL, 0);
	tu_ok(eau2_open(&ndb, &(struct eau2_options){ .store = cdir, .node = EAU2_NODE_OFF },
			&err), &err);
	eau2_close(ndb);
	assert_int_equal(data_files(cdir), cbase);
	/* The node goes on serving. */
	db = client(cdir, addr, NULL);
	tu_ok(eau2_get(db, "k", &got, &err), &err);
	eau2_df_release(got);
	eau2_close(db);
	kill(node, SIGKILL);
	waitpid(node, NULL, 0);
	tu_rmdir(cdir);
	tu_rmdir(ndir);
}

/* In a private tmpfs of 16 MiB (tu_on_tmpfs's child): a push larger than
 * the node's store fails naming the full store, the old value stays and
 * nothing staged is left; the node goes on serving. Exit status: 0, or
 * the failed step. */
static int full_node(const char *dir)
{
	struct eau2_error err = {0};
	struct eau2_remote_server_opts o = { .listen = "127.0.0.1:0", .store = dir,
					     .workers = 2 };
	char *cdir = tu_tmpdir("client"), addr[64];
	eau2_remote_server *s = NULL;
	eau2_df *old, *big, *got = NULL;
	eau2 *db = NULL;
	int base, rc = 0;

	if (eau2_open(&db, TU_STORE(dir), &err))
		return 10;
	eau2_close(db);
	if (eau2_remote_server_start(&s, &o, &err))
		return 11;
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", eau2_remote_server_port(s));
	db = client(cdir, addr, NULL);
	old = make_df(db, 1000, 8);
	big = make_df(db, 600000, 9);
	if (eau2_put(db, "k", old, &err))
		rc = 12;
	base = data_files(dir);
	if (!rc && (eau2_put(db, "k", big, &err) != -ENOSPC || !strstr(err.msg, addr) ||
		    !strstr(err.msg, "full")))
		rc = 13;
	if (rc == 13 || getenv("EAU2_TEST_VERBOSE"))
		fprintf(stderr, "full_node: push: %s\n", err.msg);
	for (int i = 0; i < 500 && data_files(dir) != base; i++)
		usleep(10000);
	if (!rc && data_files(dir) != base)
		rc = 14;
	if (!rc && (eau2_get(db, "k", &got, &err) || eau2_df_rows(got) != 1000)) {
		fprintf(stderr, "full_node: get: %s\n", err.msg);
		rc = 15;
	}
	eau2_df_release(got);
	eau2_df_release(big);
	eau2_df_release(old);
	eau2_close(db);
	eau2_remote_server_stop(s);
	tu_rmdir(cdir);
	return rc;
}

static void test_full(void **state)
{
	(void)state;
	tu_on_tmpfs(tu_tmpdir("full"), "size=16m", full_node);
}

/* A put in pieces, by hand: two pieces make the dataframe; a piece marked
 * RESTART drops those before it, even of another schema; a later piece
 * of another schema, or of no row groups, or with a wrong chunk (named
 * by its row group in the whole transfer) is refused, the old value kept
 * and nothing left. */
static void test_put_pieces(void **state)
{
	struct eau2_error err = {0};
	struct eau2_net_opts no = { .ident = { .cluster = EAU2_REMOTE_CLUSTER,
					       .node_id = "pieces", .role = EAU2_NET_ROLE_CLIENT },
				    .io_timeout_ms = 3000 };
	char *cdir = tu_tmpdir("client");
	struct srv v;
	eau2_net_conn *c;
	eau2_df *df, *old, *got, *other;
	eau2 *db;
	size_t ng, nc;
	int base;

	(void)state;
	base = serve_old(&v, cdir, &db, &old);
	df = make_df(db, 3 * EAU2_CHUNK_ROWS + 77, 5);
	ng = eau2_df_ngroups(df);
	nc = eau2_df_ncols(df);
	assert_true(ng >= 4);
	{
		int64_t vals[3] = { 1, 2, 3 };

		tu_ok(eau2_df_from_array(db, "x", EAU2_INT, vals, 3, &other, &err), &err);
	}
	for (int way = 0; way < 5; way++) {
		struct eau2_net_frame f = { .type = EAU2_REMOTE_PUT, .req = 9, .len = 1 };
		uint64_t chunks = (uint64_t)ng * nc;

		tu_ok(eau2_net_connect(&c, v.addr, &no, &err), &err);
		tu_ok(eau2_net_send(c, &f, "k", &err), &err);
		tu_ok(eau2_net_recv_hdr(c, &f, &err), &err);
		assert_int_equal(f.type, EAU2_REMOTE_GO);
		if (way == 0) { /* two pieces */
			tu_ok(eau2_remote_send_df(c, 9, df, 0, 2, 0, NULL, &err), &err);
			tu_ok(eau2_remote_send_df(c, 9, df, 2, ng - 2, 0, NULL, &err), &err);
		} else if (way == 1) { /* another schema, then all again */
			tu_ok(eau2_remote_send_df(c, 9, other, 0, 1, 0, NULL, &err), &err);
			tu_ok(eau2_remote_send_df(c, 9, df, 0, ng, EAU2_REMOTE_F_RESTART, NULL,
						  &err), &err);
		} else if (way == 2) { /* another schema without a restart */
			tu_ok(eau2_remote_send_df(c, 9, df, 0, 1, 0, NULL, &err), &err);
			tu_ok(eau2_remote_send_df(c, 9, other, 0, 1, 0, NULL, &err), &err);
		} else if (way == 3) { /* a piece of nothing */
			tu_ok(eau2_remote_send_df(c, 9, df, 0, 1, 0, NULL, &err), &err);
			tu_ok(eau2_remote_send_df(c, 9, df, 1, 0, 0, NULL, &err), &err);
		} else { /* a wrong chunk in the second piece, named by its group */
			const struct eau2_chunk_ref *r = &df->chunk_refs[0];

			tu_ok(eau2_remote_send_df(c, 9, df, 0, 2, 0, NULL, &err), &err);
			tu_ok(eau2_remote_send_desc(c, 9, df, ng - 1, 1, &err), &err);
			tu_ok(eau2_net_send_chunk(c, df->segs[r->seg].base + r->off, 9, 0, &err),
			      &err);
		}
		f = (struct eau2_net_frame){ .type = EAU2_REMOTE_END, .req = 9,
					     .aux = { chunks } };
		if (way < 2) {
			tu_ok(eau2_net_send(c, &f, NULL, &err), &err);
			tu_ok(eau2_net_recv_hdr(c, &f, &err), &err);
			assert_int_equal(f.type, EAU2_REMOTE_OK);
			tu_ok(eau2_get(db, "k", &got, &err), &err);
			assert_same(df, got);
			eau2_df_release(got);
			tu_ok(eau2_put(db, "k", old, &err), &err);
		} else {
			assert_true(eau2_net_recv_hdr(c, &f, &err) < 0);
			if (!strstr(err.msg, way == 2 ? "another schema" : way == 3 ?
				    "a piece of no row groups" : "(column 'b', row group 2)"))
				fail_msg("way %d: %s", way, err.msg);
		}
		eau2_net_close(c);
		put_left_nothing(&v, base, db, old);
	}
	eau2_df_release(other);
	eau2_df_release(df);
	eau2_df_release(old);
	eau2_close(db);
	srv_stop(&v);
	tu_rmdir(cdir);
}

/* rows lines of "id,name,v"; the int column v holds "x" on the last row
 * when widen, the last row has a field too many when bad. */
static char *write_csv(const char *dir, const char *name, uint64_t rows, int last)
{
	char *path = malloc(4200);
	FILE *f;

	snprintf(path, 4200, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "id,name,v\n");
	for (uint64_t r = 0; r + 1 < rows; r++)
		fprintf(f, "%llu,name%llu,%llu\n", (unsigned long long)r,
			(unsigned long long)(r % 977), (unsigned long long)(r * 7 % 1000));
	fprintf(f, last == 1 ? "%llu,last,x\n" : last == 2 ? "%llu,last,1,2\n" : "%llu,last,5\n",
		(unsigned long long)(rows - 1));
	assert_int_equal(fclose(f), 0);
	return path;
}

/* A load's progress: once the file is parsed (before its last piece),
 * waits up to 3 s for the node to hold files of the put (pieces that
 * left during the parse) and keeps their count. */
struct staged {
	struct srv *v;
	int base, seen, stall;
};

static void until_staged(void *ctx, uint64_t done, uint64_t total)
{
	struct staged *st = ctx;

	if (done < total) {
		/* Once, a parse slower than the node's 3 s frame timeout:
		 * the idle sender's PINGs keep the put alive. */
		if (st->stall) {
			st->stall = 0;
			sleep(4);
		}
		return;
	}
	for (int i = 0; i < 300 && data_files(st->v->dir) <= st->base; i++)
		usleep(10000);
	st->seen = data_files(st->v->dir);
}

/* A proxy on an ephemeral loopback port to `to`, for one connection at
 * a time, passing each direction at about rate bytes a second. */
struct slow_proxy {
	int lfd;
	char addr[64];
	const char *to;
	uint64_t rate;
	pthread_t t;
};

/* Forwards between a and b until either side closes. */
static void slow_forward(const struct slow_proxy *p, int a, int b)
{
	static char buf[64 << 10];

	for (;;) {
		struct pollfd f[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };

		if (poll(f, 2, -1) < 0)
			return;
		for (int i = 0; i < 2; i++) {
			ssize_t n, off = 0;

			if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if ((n = read(f[i].fd, buf, sizeof(buf))) <= 0)
				return;
			while (off < n) {
				ssize_t w = write(f[1 - i].fd, buf + off, (size_t)(n - off));

				if (w <= 0)
					return;
				off += w;
			}
			usleep((useconds_t)((uint64_t)n * 1000000 / p->rate));
		}
	}
}

static void *slow_proxy_run(void *arg)
{
	struct slow_proxy *p = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons((uint16_t)atoi(strchr(p->to, ':') + 1)) };
	int a, b;

	while ((a = accept(p->lfd, NULL, NULL)) >= 0) {
		b = socket(AF_INET, SOCK_STREAM, 0);
		if (b >= 0 && connect(b, (void *)&sa, sizeof(sa)) == 0)
			slow_forward(p, a, b);
		if (b >= 0)
			close(b);
		close(a);
	}
	return NULL;
}

static void slow_proxy_start(struct slow_proxy *p, const char *to, uint64_t rate)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);

	*p = (struct slow_proxy){ .to = to, .rate = rate };
	assert_true((p->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(p->lfd, (void *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 1), 0);
	assert_int_equal(getsockname(p->lfd, (void *)&sa, &len), 0);
	snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%u", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&p->t, NULL, slow_proxy_run, p), 0);
}

/* After the client closed its connections. */
static void slow_proxy_stop(struct slow_proxy *p)
{
	shutdown(p->lfd, SHUT_RDWR); /* accept returns */
	pthread_join(p->t, NULL);
	close(p->lfd);
}

/* A load's progress, slowed so that the sender keeps up: the most bytes
 * allocated under dir (the client's store) so far. */
struct peak {
	const char *dir;
	uint64_t bytes;
	bool slow;
};

static void store_peak(void *ctx, uint64_t done, uint64_t total)
{
	struct peak *p = ctx;
	uint64_t b;

	(void)done;
	(void)total;
	if (p->slow)
		usleep(5000);
	if ((b = tu_allocated(p->dir)) > p->bytes)
		p->bytes = b;
}

/* The growth of the client's store (dir) at its fullest during a
 * streamed load of path under key, with (keep) or without the caller
 * keeping the dataframe loaded, the parse slowed (slow) or not; the
 * node's copy then equals want. */
static uint64_t load_peak(eau2 *db, const char *dir, const char *path, bool keep, bool slow,
			  const eau2_df *want)
{
	struct peak p = { dir, 0, slow };
	struct eau2_load_options lo = { .threads = 1, .progress = store_peak, .progress_ctx = &p };
	struct eau2_error err = {0};
	uint64_t base = tu_allocated(dir);
	eau2_df *df = NULL, *got = NULL;

	tu_ok(eau2_load_put(db, path, "s", &lo, keep ? &df : NULL, NULL, &err), &err);
	assert_true(keep ? df != NULL : df == NULL);
	tu_ok(eau2_get(db, "s", &got, &err), &err);
	assert_same(want, got);
	eau2_df_release(got);
	eau2_df_release(df);
	return p.bytes > base ? p.bytes - base : 0;
}

/* eau2_load_put on a remote node: the pieces leave while the file is
 * parsed (64 KiB pieces: many joins), and the node's dataframe equals a
 * local load of the file, also when the parse stalls past the node's
 * frame timeout; one whose types widen near its end (the load starts
 * again) too; a caller that keeps no copy leaves the client's store
 * holding what is in flight, not the whole file; a file with a bad last
 * row fails naming its line, and the node keeps the old value with
 * nothing staged. */
static void test_load_streamed(void **state)
{
	struct eau2_error err = {0};
	struct eau2_load_options lo = { .threads = 2 };
	char *cdir = tu_tmpdir("client"), *ldir = tu_tmpdir("local");
	uint64_t rows = tu_quick() ? 60000 : 200000;
	struct srv v;
	eau2 *db, *local;
	eau2_df *got, *want, *old, *df;
	int base;

	(void)state;
	srv_start(&v, NULL);
	db = client(cdir, v.addr, NULL);
	tu_ok(eau2_open(&local, TU_STORE(ldir), &err), &err);
	eau2_load_tune.piece_bytes = 64u << 10;
	eau2_load_tune.progress_bytes = 64u << 10;
	eau2_load_tune.sample_bytes = 4096;
	eau2_load_tune.samples = 1;
	for (int last = 0; last < 2; last++) {
		char *path = write_csv(cdir, last ? "widen.csv" : "ok.csv", rows, last);
		struct staged st = { .v = &v, .base = data_files(v.dir), .stall = last == 0 };

		lo.progress = until_staged;
		lo.progress_ctx = &st;
		tu_ok(eau2_load_put(db, path, "s", &lo, &df, NULL, &err), &err);
		lo.progress = NULL;
		assert_true(st.seen > st.base);
		tu_ok(eau2_load(local, path, &lo, &want, NULL, &err), &err);
		assert_int_equal(eau2_schema_type(eau2_df_schema(want), 2),
				 last ? EAU2_STRING : EAU2_INT);
		assert_same(want, df);
		tu_ok(eau2_get(db, "s", &got, &err), &err);
		assert_same(want, got);
		/* The same, keeping no copy (what was sent is written over here). */
		(void)load_peak(db, cdir, path, false, true, want);
		eau2_df_release(got);
		eau2_df_release(want);
		eau2_df_release(df);
		free(path);
	}
	{
		char *path = write_csv(cdir, "ok.csv", rows, 0);
		uint64_t kept, dropped;

		struct slow_proxy px;
		char *pdir = tu_tmpdir("proxied");
		eau2 *pdb;
		uint64_t slow;

		tu_ok(eau2_load(local, path, NULL, &want, NULL, &err), &err);
		kept = load_peak(db, cdir, path, true, true, want);
		dropped = load_peak(db, cdir, path, false, true, want);
		/* Through a link slower than the parse (20 MB/s), which then
		 * waits for the sender (a window of 64 KiB here). */
		slow_proxy_start(&px, v.addr, 20u << 20);
		pdb = client(pdir, px.addr, NULL);
		eau2_load_tune.stream_window = 64u << 10;
		slow = load_peak(pdb, pdir, path, false, false, want);
		eau2_load_tune.stream_window = 0;
		eau2_close(pdb);
		slow_proxy_stop(&px);
		tu_rmdir(pdir);
		/* Not freed whole: a segment is refilled once all its
		 * chunks were sent, and each holds several. */
		if (dropped * 2 > kept || slow * 2 > kept)
			fail_msg("the client's store grew by %llu bytes keeping the dataframe, and "
				 "keeping none by %llu, %llu over a slow link",
				 (unsigned long long)kept, (unsigned long long)dropped,
				 (unsigned long long)slow);
		eau2_df_release(want);
		free(path);
	}
	{
		char *path = write_csv(cdir, "bad.csv", rows, 2);
		char at[64];

		old = make_df(db, 1000, 3);
		tu_ok(eau2_put(db, "k", old, &err), &err);
		base = data_files(v.dir);
		assert_true(eau2_load_put(db, path, "k", &lo, &df, NULL, &err) < 0);
		assert_null(df);
		snprintf(at, sizeof(at), "bad.csv:%llu:", (unsigned long long)rows + 1);
		if (!strstr(err.msg, at))
			fail_msg("want %s in: %s", at, err.msg);
		put_left_nothing(&v, base, db, old);
		eau2_df_release(old);
		free(path);
	}
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	eau2_close(local);
	eau2_close(db);
	srv_stop(&v);
	tu_rmdir(ldir);
	tu_rmdir(cdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_pull),
		cmocka_unit_test(test_wide),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_run_state),
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_long_run),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_garbage_and_cuts),
		cmocka_unit_test(test_killed),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_put_pieces),
		cmocka_unit_test(test_load_streamed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
