/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_sync.c - shared state through the public API (eau2_watch,
 * eau2_lock, eau2_unlock) on the local store and on a cluster handle (a
 * real ZooKeeper, zkutil; locks need no node): a watch wakes on put,
 * replace and delete and times out naming the key; processes that
 * increment a counter key under the lock lose no update; a holder killed
 * with SIGKILL releases the lock (locally at once, on a cluster within
 * its session timeout); a lock that is not free in time fails with
 * -ETIMEDOUT naming it. Watches on a cluster's keys, which need nodes,
 * are in test_cluster_net.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "zkutil.h"

/* The cluster handles' timeout: their ZooKeeper session is this long. */
#define SESSION_MS 4000

/* A handle on dir; with connect (not "-") on that cluster's keys. */
static int open_db(eau2 **db, const char *dir, const char *connect, struct eau2_error *err)
{
	return eau2_open(db, &(struct eau2_options){
				     .store = dir, .node = EAU2_NODE_OFF,
				     .cluster = strcmp(connect, "-") ? connect : NULL,
				     .timeout_ms = SESSION_MS }, err);
}

/* The counter under key "c" of the local store (0 when absent). */
static int counter_get(eau2 *ldb, int64_t *v, struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc = eau2_get(ldb, "c", &df, err);

	*v = 0;
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = eau2_df_get_int(df, 0, 0, v, err);
	eau2_df_release(df);
	return rc;
}

static int counter_set(eau2 *ldb, int64_t v, struct eau2_error *err)
{
	eau2_df *df = NULL;
	int rc = eau2_df_from_scalar(ldb, "c", EAU2_INT, &v, &df, err);

	if (!rc)
		rc = eau2_put(ldb, "c", df, err);
	eau2_df_release(df);
	return rc;
}

/* ------------------------------------------------------------ children */

/* --child incr DIR CONNECT N: N increments of the counter in DIR, each a
 * read and a put under lock "ctr" (of the cluster, or with "-" of DIR).
 * --child hold DIR CONNECT: takes lock "H", says "locked", waits. */
static int child_main(int argc, char **argv)
{
	struct eau2_error err = {0};
	struct eau2_lock *lk = NULL;
	eau2 *ldb = NULL, *sdb = NULL;
	int n;

	if (argc < 5)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (open_db(&ldb, argv[3], "-", &err) || open_db(&sdb, argv[3], argv[4], &err))
		goto fail;
	if (!strcmp(argv[2], "hold")) {
		if (eau2_lock(sdb, "H", 10000, &lk, &err))
			goto fail;
		printf("locked\n");
		sleep(60); /* until killed; bounded all the same */
		return 3;
	}
	n = argc > 5 ? atoi(argv[5]) : 0;
	for (int i = 0; i < n; i++) {
		int64_t v;

		if (eau2_lock(sdb, "ctr", 30000, &lk, &err) || counter_get(ldb, &v, &err) ||
		    counter_set(ldb, v + 1, &err) || eau2_unlock(lk, &err))
			goto fail;
	}
	printf("done\n");
	eau2_close(sdb);
	eau2_close(ldb);
	return 0;
fail:
	fprintf(stderr, "child %s: %s\n", argv[2], err.msg);
	return 1;
}

/* ------------------------------------------------------------ watches */

struct watcher {
	eau2 *db;
	const char *key;
	uint64_t version;
	int rc;
	long long ms;
	struct eau2_error err;
	pthread_t t;
};

static void *watch_main(void *arg)
{
	struct watcher *w = arg;
	long long t0 = zkc_now_ms();

	w->rc = eau2_watch(w->db, w->key, 10000, &w->version, &w->err);
	w->ms = zkc_now_ms() - t0;
	return NULL;
}

/* Starts a watch of key from version v on db (another thread's handle),
 * runs change on main's handle 200 ms later, and checks that the watch
 * slept until then and woke soon after with a new version. */
static uint64_t watch_one(eau2 *db, eau2 *main_db, const char *key, uint64_t v,
			  int (*change)(eau2 *db, const char *key, struct eau2_error *err))
{
	struct watcher w = { .db = db, .key = key, .version = v };
	struct eau2_error err = {0};

	assert_int_equal(pthread_create(&w.t, NULL, watch_main, &w), 0);
	usleep(200 * 1000);
	tu_ok(change(main_db, key, &err), &err);
	pthread_join(w.t, NULL);
	tu_ok(w.rc, &w.err);
	assert_true(w.version != v);
	if (w.ms < 150 || w.ms > 5000)
		fail_msg("watch of '%s' returned after %lld ms, the change came at 200", key,
			 w.ms);
	return w.version;
}

static int put_one(eau2 *db, const char *key, struct eau2_error *err)
{
	static int64_t n;
	eau2_df *df = NULL;
	int rc = eau2_df_from_scalar(db, "x", EAU2_INT, &n, &df, err);

	n++;
	if (!rc)
		rc = eau2_put(db, key, df, err);
	eau2_df_release(df);
	return rc;
}

static void test_local_watch(void **state)
{
	struct eau2_error err = {0};
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir), *db2 = NULL;
	uint64_t v = EAU2_VERSION_ANY, v1, v2;
	long long t0;

	(void)state;
	tu_ok(open_db(&db2, dir, "-", &err), &err);
	/* ANY: at once, with the version now (none). */
	tu_ok(eau2_watch(db, "k", 0, &v, &err), &err);
	assert_int_equal(v, EAU2_VERSION_NONE);
	t0 = zkc_now_ms();
	assert_int_equal(eau2_watch(db, "k", 150, &v, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "'k'"));
	assert_true(zkc_now_ms() - t0 >= 140 && zkc_now_ms() - t0 < 3000);
	v1 = watch_one(db2, db, "k", v, put_one);                /* put */
	v2 = watch_one(db2, db, "k", v1, put_one);               /* replace */
	assert_true(v2 != EAU2_VERSION_NONE && v2 != v1);
	assert_int_equal(watch_one(db2, db, "k", v2, eau2_delete), EAU2_VERSION_NONE);
	/* A change already made before the wait is not lost. */
	tu_ok(put_one(db, "k", &err), &err);
	v = EAU2_VERSION_NONE;
	tu_ok(eau2_watch(db2, "k", 0, &v, &err), &err);
	assert_true(v != EAU2_VERSION_NONE);
	/* No version: the next change. */
	assert_int_equal(eau2_watch(db2, "k", 100, NULL, &err), -ETIMEDOUT);
	assert_int_equal(eau2_watch(db2, "bad\nkey", 100, NULL, &err), -EINVAL);
	eau2_close(db2);
	tu_close_store(db, dir);
}

/* ------------------------------------------------------------- locks */

/* N processes, each `incr` times under the lock: the counter counts all. */
static void counter_race(const char *dir, const char *connect)
{
	enum { NPROC = 4 };
	struct zkc c[NPROC];
	struct eau2_error err = {0};
	char incr[16];
	int each = tu_quick() ? 10 : 25;
	eau2 *ldb = NULL;
	int64_t v;

	snprintf(incr, sizeof(incr), "%d", each);
	for (int i = 0; i < NPROC; i++)
		zkc_spawn(&c[i], (const char *const[]){ "incr", dir, connect, incr, NULL });
	for (int i = 0; i < NPROC; i++) {
		zkc_expect(&c[i], "done", 50000);
		assert_int_equal(zkc_wait(&c[i], 5000), 0);
	}
	tu_ok(open_db(&ldb, dir, "-", &err), &err);
	tu_ok(counter_get(ldb, &v, &err), &err);
	assert_int_equal(v, NPROC * each);
	eau2_close(ldb);
}

/* A holder killed: the lock is free again within max_ms. */
static void holder_killed(eau2 *db, const char *dir, const char *connect, int max_ms)
{
	struct eau2_error err = {0};
	struct eau2_lock *lk = NULL;
	struct zkc c;
	long long t0;

	zkc_spawn(&c, (const char *const[]){ "hold", dir, connect, NULL });
	zkc_expect(&c, "locked", 15000);
	t0 = zkc_now_ms();
	assert_int_equal(eau2_lock(db, "H", 300, &lk, &err), -ETIMEDOUT);
	assert_null(lk);
	assert_non_null(strstr(err.msg, "H"));
	if (zkc_now_ms() - t0 < 290 || zkc_now_ms() - t0 > 3000)
		fail_msg("a lock with a 300 ms timeout took %lld ms", zkc_now_ms() - t0);
	zkc_kill(&c);
	t0 = zkc_now_ms();
	tu_ok(eau2_lock(db, "H", 20000, &lk, &err), &err);
	if (zkc_now_ms() - t0 > max_ms)
		fail_msg("the lock of a killed holder came free after %lld ms (at most %d)",
			 zkc_now_ms() - t0, max_ms);
	tu_ok(eau2_unlock(lk, &err), &err);
}

static void test_local_lock(void **state)
{
	struct eau2_error err = {0};
	struct eau2_lock *a = NULL, *b = NULL;
	char *dir = NULL;
	eau2 *db = tu_open_store(&dir), *db2 = NULL;

	(void)state;
	tu_ok(open_db(&db2, dir, "-", &err), &err);
	tu_ok(eau2_lock(db, "L", 0, &a, &err), &err);
	assert_int_equal(eau2_lock(db2, "L", 100, &b, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "'L'"));
	tu_ok(eau2_unlock(a, &err), &err);
	tu_ok(eau2_lock(db2, "L", 100, &b, &err), &err);
	tu_ok(eau2_unlock(b, &err), &err);
	assert_int_equal(eau2_unlock(NULL, &err), 0);
	assert_int_equal(eau2_lock(db, "a/b", 0, &a, &err), -EINVAL);
	assert_int_equal(eau2_lock(db, "..", 0, &a, &err), -EINVAL);
	assert_int_equal(eau2_lock(db, "", 0, &a, &err), -EINVAL);
	assert_null(a);
	counter_race(dir, "-");
	holder_killed(db, dir, "-", 500);
	eau2_close(db2);
	tu_close_store(db, dir);
}

static void test_cluster_lock(void **state)
{
	struct eau2_error err = {0};
	struct eau2_lock *a = NULL, *b = NULL;
	char connect[1200], *dir = tu_tmpdir("sync");
	eau2 *db = NULL, *db2 = NULL;

	(void)state;
	snprintf(connect, sizeof(connect), "%s/sync", zku->connect);
	tu_ok(open_db(&db, dir, connect, &err), &err);
	tu_ok(open_db(&db2, dir, connect, &err), &err);
	tu_ok(eau2_lock(db, "L", 5000, &a, &err), &err);
	assert_int_equal(eau2_lock(db2, "L", 200, &b, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "'L'"));
	tu_ok(eau2_unlock(a, &err), &err);
	tu_ok(eau2_lock(db2, "L", 5000, &b, &err), &err);
	tu_ok(eau2_unlock(b, &err), &err);
	assert_int_equal(eau2_lock(db, "a/b", 0, &a, &err), -EINVAL);
	/* The counter's key is local: the lock alone orders the processes. */
	counter_race(dir, connect);
	/* Session expiry: SESSION_MS, plus a tick or two of the server. */
	holder_killed(db, dir, connect, SESSION_MS + 3000);
	/* No watch on a cluster key without nodes is needed to test the
	 * timeout: nothing puts it. */
	assert_int_equal(eau2_watch(db, "never", 100, NULL, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "'never'"));
	eau2_close(db2);
	eau2_close(db);
	tu_rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_watch),
		cmocka_unit_test(test_local_lock),
		cmocka_unit_test(test_cluster_lock),
	};

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
