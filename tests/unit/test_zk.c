/* SPDX-License-Identifier: MIT */
/*
 * test_zk.c - src/cluster/zk.c against a real ZooKeeper (tools/zk.sh, one
 * standalone server shared by the whole program; each test works under
 * its own cluster root): znodes and versions, multi-op atomicity,
 * ephemerals after a close and after a SIGKILL, watches and
 * wait-for-change with their timeouts, the lock recipe between processes,
 * session expiry.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/zk.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static char *get_str(eau2_zk *zk, const char *path)
{
	struct eau2_error err = {0};
	void *data;
	size_t len;

	tu_ok(eau2_zk_get(zk, path, &data, &len, NULL, NULL, &err), &err);
	assert_int_equal(strlen(data), len);
	return data;
}

/* -------------------------------------------------------------- basics */

static void test_znodes(void **state)
{
	eau2_zk *zk = zku_connect("t-znodes", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat st, st2;
	struct eau2_zk_names kids;
	char created[256];
	char *s;

	(void)state;
	assert_string_equal(eau2_zk_root(zk), "/eau2/t-znodes");
	tu_ok(eau2_zk_exists(zk, "", &st, NULL, &err), &err); /* the root */

	tu_ok(eau2_zk_create(zk, "a", "one", 3, 0, created, sizeof(created), &err), &err);
	assert_string_equal(created, "a");
	assert_int_equal(eau2_zk_create(zk, "a", "x", 1, 0, NULL, 0, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "/eau2/t-znodes/a"));
	assert_non_null(strstr(err.msg, "node exists"));

	s = get_str(zk, "a");
	assert_string_equal(s, "one");
	free(s);

	/* Conditional update: the right version wins, a stale one loses. */
	tu_ok(eau2_zk_exists(zk, "a", &st, NULL, &err), &err);
	assert_int_equal(st.version, 0);
	assert_int_equal(st.data_len, 3);
	assert_int_equal(st.ephemeral_owner, 0);
	tu_ok(eau2_zk_set(zk, "a", "two", 3, st.version, &st2, &err), &err);
	assert_int_equal(st2.version, 1);
	assert_int_equal(eau2_zk_set(zk, "a", "three", 5, st.version, NULL, &err), -ESTALE);
	assert_non_null(strstr(err.msg, "/eau2/t-znodes/a"));
	assert_non_null(strstr(err.msg, "bad version"));
	s = get_str(zk, "a");
	assert_string_equal(s, "two");
	free(s);
	assert_int_equal(eau2_zk_delete(zk, "a", 0, &err), -ESTALE);
	tu_ok(eau2_zk_set(zk, "a", NULL, 0, -1, NULL, &err), &err);
	s = get_str(zk, "a");
	assert_string_equal(s, "");
	free(s);

	/* Children, sorted; sequential names; parents on demand. */
	tu_ok(eau2_zk_create(zk, "d/x/y", "", 0, EAU2_ZK_PARENTS, NULL, 0, &err), &err);
	tu_ok(eau2_zk_create(zk, "d/b", "", 0, 0, NULL, 0, &err), &err);
	tu_ok(eau2_zk_create(zk, "d/s-", "", 0, EAU2_ZK_SEQUENTIAL, created,
			     sizeof(created), &err), &err);
	assert_string_equal(created, "d/s-0000000002");
	tu_ok(eau2_zk_children(zk, "d", &kids, &st, NULL, &err), &err);
	assert_int_equal(kids.n, 3);
	assert_string_equal(kids.names[0], "b");
	assert_string_equal(kids.names[1], "s-0000000002");
	assert_string_equal(kids.names[2], "x");
	assert_int_equal(st.num_children, 3);
	eau2_zk_names_free(&kids);
	assert_int_equal(eau2_zk_delete(zk, "d/x", -1, &err), -ENOTEMPTY);
	tu_ok(eau2_zk_mkdirs(zk, "d/x/y", &err), &err); /* exists: fine */
	tu_ok(eau2_zk_mkdirs(zk, "m/n/o", &err), &err);
	tu_ok(eau2_zk_exists(zk, "m/n/o", NULL, NULL, &err), &err);

	/* Missing znodes. */
	assert_int_equal(eau2_zk_get(zk, "nope", (void **)&s, NULL, NULL, NULL, &err), -ENOENT);
	assert_null(s);
	assert_non_null(strstr(err.msg, "/eau2/t-znodes/nope"));
	assert_int_equal(eau2_zk_exists(zk, "nope", &st, NULL, &err), -ENOENT);
	assert_int_equal(st.czxid, 0);
	assert_int_equal(eau2_zk_create(zk, "no/parent", "", 0, 0, NULL, 0, &err), -ENOENT);
	assert_int_equal(eau2_zk_delete(zk, "nope", -1, &err), -ENOENT);

	/* Bad paths and sizes never reach ZooKeeper. */
	assert_int_equal(eau2_zk_get(zk, "/abs", NULL, NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(eau2_zk_get(zk, "a/../b", NULL, NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(eau2_zk_get(zk, "a//b", NULL, NULL, NULL, NULL, &err), -EINVAL);
	assert_int_equal(eau2_zk_get(zk, "a/", NULL, NULL, NULL, NULL, &err), -EINVAL);
	{
		size_t big = EAU2_ZK_DATA_MAX + 1;
		char *b = calloc(1, big);

		assert_int_equal(eau2_zk_create(zk, "big", b, big, 0, NULL, 0, &err), -EMSGSIZE);
		assert_int_equal(eau2_zk_set(zk, "a", b, big, -1, NULL, &err), -EMSGSIZE);
		/* The largest allowed does go through, also in a multi. */
		tu_ok(eau2_zk_create(zk, "big", b, EAU2_ZK_DATA_MAX, 0, NULL, 0, &err), &err);
		{
			struct eau2_zk_op ops[] = {
				{ .type = EAU2_ZK_OP_SET, .path = "big", .data = b,
				  .len = EAU2_ZK_DATA_MAX - 100, .version = -1 },
				{ .type = EAU2_ZK_OP_SET, .path = "a", .data = b,
				  .len = 100, .version = -1 },
			};

			assert_int_equal(eau2_zk_multi(zk, ops, 2, &err), -EMSGSIZE);
			ops[0].len -= 200;
			tu_ok(eau2_zk_multi(zk, ops, 2, &err), &err);
		}
		free(b);
		tu_ok(eau2_zk_get(zk, "big", (void **)&b, &big, NULL, NULL, &err), &err);
		assert_int_equal(big, EAU2_ZK_DATA_MAX - 300);
		free(b);
		tu_ok(eau2_zk_set(zk, "a", NULL, 0, -1, NULL, &err), &err);
	}
	eau2_zk_close(zk);
}

static void test_names(void **state)
{
	struct eau2_zk_options o = { .connect = "" };
	struct eau2_error err = {0};
	eau2_zk *zk = (eau2_zk *)1;

	(void)state;
	assert_int_equal(eau2_zk_check_name("host-1.lan:7400", 255, "node id", &err), 0);
	assert_int_equal(eau2_zk_check_name("[::1]:7400", 255, "node id", &err), 0);
	assert_int_equal(eau2_zk_check_name("", 255, "node id", &err), -EINVAL);
	assert_int_equal(eau2_zk_check_name("..", 255, "node id", &err), -EINVAL);
	assert_int_equal(eau2_zk_check_name("a/b", 255, "node id", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node id 'a/b'"));
	assert_int_equal(eau2_zk_check_name("a b", 255, "node id", &err), -EINVAL);
	assert_int_equal(eau2_zk_check_name("abcdef", 5, "node id", &err), -EINVAL);

	assert_int_equal(eau2_zk_connect(&zk, &o, &err), -EINVAL);
	assert_null(zk);
	o.connect = "127.0.0.1";
	assert_int_equal(eau2_zk_connect(&zk, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no :port"));
	o.connect = "127.0.0.1:2181;rm -rf";
	assert_int_equal(eau2_zk_connect(&zk, &o, &err), -EINVAL);
	o.connect = zku->connect;
	o.cluster = "a/b";
	assert_int_equal(eau2_zk_connect(&zk, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cluster name"));
}

/* --------------------------------------------------------------- multi */

static void test_multi(void **state)
{
	eau2_zk *zk = zku_connect("t-multi", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat st;
	char *s;

	(void)state;
	tu_ok(eau2_zk_create(zk, "c", "c0", 2, 0, NULL, 0, &err), &err);
	{
		struct eau2_zk_op ops[] = {
			{ .type = EAU2_ZK_OP_CREATE, .path = "x", .data = "x", .len = 1 },
			{ .type = EAU2_ZK_OP_CREATE, .path = "y", .data = "y", .len = 1 },
			/* stale version: the whole multi must fail */
			{ .type = EAU2_ZK_OP_SET, .path = "c", .data = "c1", .len = 2, .version = 7 },
			{ .type = EAU2_ZK_OP_CREATE, .path = "z", .data = "z", .len = 1 },
		};

		assert_int_equal(eau2_zk_multi(zk, ops, 4, &err), -ESTALE);
		assert_non_null(strstr(err.msg, "/eau2/t-multi/c"));
		assert_int_equal(ops[0].result, 0);
		assert_int_equal(ops[2].result, -ESTALE);
		assert_int_equal(ops[3].result, -ECANCELED);
		assert_int_equal(eau2_zk_exists(zk, "x", NULL, NULL, &err), -ENOENT);
		assert_int_equal(eau2_zk_exists(zk, "y", NULL, NULL, &err), -ENOENT);
		assert_int_equal(eau2_zk_exists(zk, "z", NULL, NULL, &err), -ENOENT);
		s = get_str(zk, "c");
		assert_string_equal(s, "c0");
		free(s);
	}
	{
		struct eau2_zk_op ops[] = {
			{ .type = EAU2_ZK_OP_CHECK, .path = "c", .version = 0 },
			{ .type = EAU2_ZK_OP_CREATE, .path = "x", .data = "x", .len = 1 },
			{ .type = EAU2_ZK_OP_CREATE, .path = "x/e", .flags = EAU2_ZK_EPHEMERAL },
			{ .type = EAU2_ZK_OP_SET, .path = "c", .data = "c1", .len = 2, .version = 0 },
			{ .type = EAU2_ZK_OP_DELETE, .path = "x/e", .version = -1 },
		};

		tu_ok(eau2_zk_multi(zk, ops, 5, &err), &err);
		s = get_str(zk, "c");
		assert_string_equal(s, "c1");
		free(s);
		tu_ok(eau2_zk_exists(zk, "x", &st, NULL, &err), &err);
		assert_int_equal(st.num_children, 0);
	}
	{
		/* A failing op in the middle, on a path that does not exist. */
		struct eau2_zk_op ops[] = {
			{ .type = EAU2_ZK_OP_DELETE, .path = "x", .version = -1 },
			{ .type = EAU2_ZK_OP_DELETE, .path = "ghost", .version = -1 },
		};

		assert_int_equal(eau2_zk_multi(zk, ops, 2, &err), -ENOENT);
		assert_non_null(strstr(err.msg, "/eau2/t-multi/ghost"));
		tu_ok(eau2_zk_exists(zk, "x", NULL, NULL, &err), &err);
	}
	{
		struct eau2_zk_op bad[] = { { .type = 99, .path = "q" } };

		assert_int_equal(eau2_zk_multi(zk, bad, 1, &err), -EINVAL);
		assert_int_equal(eau2_zk_multi(zk, bad, EAU2_ZK_MULTI_MAX + 1, &err), -EINVAL);
	}
	eau2_zk_close(zk);
}

/* ---------------------------------------------------------- ephemerals */

static void test_ephemeral_close(void **state)
{
	eau2_zk *a = zku_connect("t-eph", 0), *b = zku_connect("t-eph", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat st;

	(void)state;
	tu_ok(eau2_zk_create(b, "e", "b", 1, EAU2_ZK_EPHEMERAL, NULL, 0, &err), &err);
	tu_ok(eau2_zk_exists(a, "e", &st, NULL, &err), &err);
	assert_int_equal(st.ephemeral_owner, eau2_zk_session_id(b, NULL));
	assert_int_equal(eau2_zk_create(b, "e/child", "", 0, 0, NULL, 0, &err), -EINVAL);
	eau2_zk_close(b);
	/* A close ends the session at once: no session timeout to wait. */
	assert_int_equal(eau2_zk_exists(a, "e", NULL, NULL, &err), -ENOENT);
	eau2_zk_close(a);
}

static void test_ephemeral_kill(void **state)
{
	eau2_zk *zk = zku_connect("t-ephk", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat seen, now;
	struct zkc c;
	long long t0, dt;

	(void)state;
	zkc_spawn(&c, (const char *const[]){ "ephemeral", zku->connect, "t-ephk", "e", "1000", NULL });
	zkc_expect(&c, "ready", 15000);
	tu_ok(eau2_zk_exists(zk, "e", &seen, NULL, &err), &err);
	assert_int_not_equal(seen.ephemeral_owner, 0);
	t0 = zkc_now_ms();
	zkc_kill(&c);
	/* The session outlives its process until the timeout (1 s here). */
	tu_ok(eau2_zk_wait_change(zk, "e", &seen, 10000, &now, &err), &err);
	dt = zkc_now_ms() - t0;
	assert_int_equal(now.czxid, 0);
	assert_int_equal(eau2_zk_exists(zk, "e", NULL, NULL, &err), -ENOENT);
	if (dt < 400 || dt > 6000)
		fail_msg("ephemeral of a killed client went after %lld ms (session 1000 ms)", dt);
	eau2_zk_close(zk);
}

/* ------------------------------------------------------------- watches */

struct later {
	eau2_zk *zk;
	const char *path;
	unsigned delay_ms;
	int what; /* 0 set, 1 create child, 2 create */
};

static void *later_main(void *arg)
{
	struct later *l = arg;
	struct eau2_error err = {0};
	char p[256];

	usleep(l->delay_ms * 1000);
	if (l->what == 0) {
		eau2_zk_set(l->zk, l->path, "later", 5, -1, NULL, &err);
	} else if (l->what == 1) {
		snprintf(p, sizeof(p), "%s/kid", l->path);
		eau2_zk_create(l->zk, p, "", 0, 0, NULL, 0, &err);
	} else {
		eau2_zk_create(l->zk, l->path, "", 0, 0, NULL, 0, &err);
	}
	return NULL;
}

static void test_wait_change(void **state)
{
	eau2_zk *zk = zku_connect("t-wait", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat seen, now, none = {0};
	struct later l = { .zk = zk, .path = "w", .delay_ms = 200 };
	pthread_t t;
	long long t0, dt;

	(void)state;
	tu_ok(eau2_zk_create(zk, "w", "", 0, 0, NULL, 0, &err), &err);
	tu_ok(eau2_zk_exists(zk, "w", &seen, NULL, &err), &err);

	/* Nothing changes: the timeout is honoured, not much more. */
	t0 = zkc_now_ms();
	assert_int_equal(eau2_zk_wait_change(zk, "w", &seen, 300, NULL, &err), -ETIMEDOUT);
	dt = zkc_now_ms() - t0;
	assert_non_null(strstr(err.msg, "/eau2/t-wait/w"));
	if (dt < 300 || dt > 2000)
		fail_msg("wait_change with a 300 ms timeout took %lld ms", dt);

	/* A data change wakes it. */
	pthread_create(&t, NULL, later_main, &l);
	t0 = zkc_now_ms();
	tu_ok(eau2_zk_wait_change(zk, "w", &seen, 10000, &now, &err), &err);
	dt = zkc_now_ms() - t0;
	pthread_join(t, NULL);
	assert_true(now.mzxid > seen.mzxid);
	assert_int_equal(now.version, seen.version + 1);
	if (dt < 150 || dt > 5000)
		fail_msg("wait_change woke after %lld ms for a change at 200 ms", dt);

	/* A child wakes it. */
	seen = now;
	l.what = 1;
	pthread_create(&t, NULL, later_main, &l);
	tu_ok(eau2_zk_wait_change(zk, "w", &seen, 10000, &now, &err), &err);
	pthread_join(t, NULL);
	assert_int_equal(now.num_children, 1);

	/* A change that already happened returns at once. */
	t0 = zkc_now_ms();
	tu_ok(eau2_zk_wait_change(zk, "w", &none, 10000, &now, &err), &err);
	assert_true(zkc_now_ms() - t0 < 2000);

	/* Creation of a znode that did not exist. */
	l.what = 2;
	l.path = "born";
	pthread_create(&t, NULL, later_main, &l);
	tu_ok(eau2_zk_wait_change(zk, "born", &none, 10000, &now, &err), &err);
	pthread_join(t, NULL);
	assert_int_not_equal(now.czxid, 0);
	eau2_zk_close(zk);
}

static void test_watch(void **state)
{
	eau2_zk *zk = zku_connect("t-watch", 0), *other = zku_connect("t-watch", 0);
	struct eau2_error err = {0};
	struct eau2_zk_names kids;
	eau2_zk_watch *w;
	void *data;

	(void)state;
	tu_ok(eau2_zk_create(zk, "v", "0", 1, 0, NULL, 0, &err), &err);
	tu_ok(eau2_zk_watch_new(zk, &w, &err), &err);
	assert_int_equal(eau2_zk_watch_wait(w, 10, &err), -EINVAL); /* unarmed */

	tu_ok(eau2_zk_get(zk, "v", &data, NULL, NULL, w, &err), &err);
	free(data);
	assert_int_equal(eau2_zk_watch_wait(w, 100, &err), -ETIMEDOUT);
	tu_ok(eau2_zk_set(other, "v", "1", 1, -1, NULL, &err), &err);
	tu_ok(eau2_zk_watch_wait(w, 10000, &err), &err);
	/* One-shot: a second change without a new read does not fire it. */
	tu_ok(eau2_zk_set(other, "v", "2", 1, -1, NULL, &err), &err);
	assert_int_equal(eau2_zk_watch_wait(w, 10, &err), -EINVAL);

	/* Children watch, and an exists watch on a missing znode. */
	tu_ok(eau2_zk_children(zk, "v", &kids, NULL, w, &err), &err);
	eau2_zk_names_free(&kids);
	tu_ok(eau2_zk_create(other, "v/k", "", 0, 0, NULL, 0, &err), &err);
	tu_ok(eau2_zk_watch_wait(w, 10000, &err), &err);
	assert_int_equal(eau2_zk_exists(zk, "u", NULL, w, &err), -ENOENT);
	tu_ok(eau2_zk_create(other, "u", "", 0, 0, NULL, 0, &err), &err);
	tu_ok(eau2_zk_watch_wait(w, 10000, &err), &err);

	/* A get that fails arms nothing. */
	assert_int_equal(eau2_zk_get(zk, "gone", &data, NULL, NULL, w, &err), -ENOENT);
	assert_int_equal(eau2_zk_watch_wait(w, 10, &err), -EINVAL);

	/* A watch freed before it fired leaves nothing behind. */
	tu_ok(eau2_zk_get(zk, "v", &data, NULL, NULL, w, &err), &err);
	free(data);
	eau2_zk_watch_free(w);
	tu_ok(eau2_zk_set(other, "v", "3", 1, -1, NULL, &err), &err);
	tu_ok(eau2_zk_exists(zk, "v", NULL, NULL, &err), &err); /* event passed */
	eau2_zk_close(other);
	eau2_zk_close(zk);
}

/* --------------------------------------------------------------- locks */

static void test_lock_contend(void **state)
{
	eau2_zk *zk = zku_connect("t-lock", 0);
	struct eau2_error err = {0};
	struct eau2_zk_names kids;
	eau2_zk_lock *lk = NULL;
	struct zkc c;
	long long t0, dt;

	(void)state;
	zkc_spawn(&c, (const char *const[]){ "lock", zku->connect, "t-lock", "L", "10000", NULL });
	zkc_expect(&c, "waiting", 15000);
	zkc_expect(&c, "locked", 15000);

	/* Held by the child: the timeout is honoured and leaves no trace. */
	t0 = zkc_now_ms();
	assert_int_equal(eau2_zk_lock_take(zk, "L", 500, &lk, &err), -ETIMEDOUT);
	dt = zkc_now_ms() - t0;
	assert_null(lk);
	assert_non_null(strstr(err.msg, "/eau2/t-lock/locks/L"));
	if (dt < 500 || dt > 3000)
		fail_msg("lock with a 500 ms timeout took %lld ms", dt);
	tu_ok(eau2_zk_children(zk, "locks/L", &kids, NULL, NULL, &err), &err);
	assert_int_equal(kids.n, 1);
	eau2_zk_names_free(&kids);

	/* Released by the child: ours. Wait from before the release. */
	zkc_say(&c, "unlock");
	tu_ok(eau2_zk_lock_take(zk, "L", 10000, &lk, &err), &err);
	zkc_expect(&c, "unlocked", 10000);
	assert_int_equal(WEXITSTATUS(zkc_wait(&c, 10000)), 0);

	/* Now the child must wait for us. */
	zkc_spawn(&c, (const char *const[]){ "lock", zku->connect, "t-lock", "L", "10000", NULL });
	zkc_expect(&c, "waiting", 15000);
	for (;;) { /* until the child queues behind us */
		struct eau2_zk_stat st;

		tu_ok(eau2_zk_children(zk, "locks/L", &kids, &st, NULL, &err), &err);
		eau2_zk_names_free(&kids);
		if (st.num_children == 2)
			break;
		assert_int_equal(st.num_children, 1);
		tu_ok(eau2_zk_wait_change(zk, "locks/L", &st, 10000, NULL, &err), &err);
	}
	tu_ok(eau2_zk_lock_release(lk, &err), &err);
	zkc_expect(&c, "locked", 10000);
	zkc_say(&c, "unlock");
	zkc_expect(&c, "unlocked", 10000);
	zkc_wait(&c, 10000);

	assert_int_equal(eau2_zk_lock_take(zk, "bad/name", 100, &lk, &err), -EINVAL);
	eau2_zk_close(zk);
}

static void test_lock_holder_killed(void **state)
{
	eau2_zk *zk = zku_connect("t-lockk", 0);
	struct eau2_error err = {0};
	eau2_zk_lock *lk = NULL;
	struct zkc c;
	long long t0, dt;

	(void)state;
	zkc_spawn(&c, (const char *const[]){ "lock", zku->connect, "t-lockk", "K", "1000", NULL });
	zkc_expect(&c, "waiting", 15000);
	zkc_expect(&c, "locked", 15000);
	t0 = zkc_now_ms();
	zkc_kill(&c);
	tu_ok(eau2_zk_lock_take(zk, "K", 10000, &lk, &err), &err);
	dt = zkc_now_ms() - t0;
	if (dt < 400 || dt > 6000)
		fail_msg("the lock of a killed holder came free after %lld ms (session 1000 ms)", dt);
	tu_ok(eau2_zk_lock_release(lk, &err), &err);
	eau2_zk_close(zk);
}

/* ------------------------------------------------------------- session */

/* A client frozen (SIGSTOP) past its session timeout: the server expires
 * the session and removes its ephemeral; thawed, the client learns it on
 * reconnecting, through the session callback, and its calls then fail
 * with -ENOTCONN. A call made from the callback itself gets -EDEADLK. */
static void test_session_expiry(void **state)
{
	eau2_zk *zk = zku_connect("t-exp", 0);
	struct eau2_error err = {0};
	struct eau2_zk_stat seen, now;
	char want[64];
	struct zkc c;

	(void)state;
	zkc_spawn(&c, (const char *const[]){ "expire", zku->connect, "t-exp", "mine", "1000", NULL });
	zkc_expect(&c, "ready", 15000);
	tu_ok(eau2_zk_exists(zk, "mine", &seen, NULL, &err), &err);
	kill(c.pid, SIGSTOP);
	tu_ok(eau2_zk_wait_change(zk, "mine", &seen, 15000, &now, &err), &err);
	assert_int_equal(now.czxid, 0);
	kill(c.pid, SIGCONT);
	zkc_expect(&c, "expired", 15000);
	snprintf(want, sizeof(want), "from-callback %d", -EDEADLK);
	zkc_expect(&c, want, 5000);
	snprintf(want, sizeof(want), "after %d", -ENOTCONN);
	zkc_expect(&c, want, 5000);
	assert_int_equal(WEXITSTATUS(zkc_wait(&c, 10000)), 0);
	eau2_zk_close(zk);
}

struct events {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int expired;
	int from_callback; /* what a synchronous call from the callback got */
	eau2_zk *zk;
};

static void on_session(void *arg, enum eau2_zk_session_event ev)
{
	struct events *e = arg;
	eau2_zk *zk;
	int rc;

	if (ev != EAU2_ZK_EXPIRED)
		return;
	pthread_mutex_lock(&e->mu);
	zk = e->zk;
	pthread_mutex_unlock(&e->mu);
	rc = zk ? eau2_zk_exists(zk, "", NULL, NULL, NULL) : 1;
	pthread_mutex_lock(&e->mu);
	e->expired = 1;
	e->from_callback = rc;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static int child_expire(eau2_zk *zk, struct events *e, const char *path)
{
	struct eau2_error err = {0};
	struct timespec dl = eau2_zk_deadline(30000);
	int rc = 0;

	if (eau2_zk_create(zk, path, "", 0, EAU2_ZK_EPHEMERAL, NULL, 0, &err)) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 1;
	}
	printf("ready\n");
	pthread_mutex_lock(&e->mu);
	while (!e->expired && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&e->cv, &e->mu, &dl);
	pthread_mutex_unlock(&e->mu);
	if (!e->expired)
		return 1;
	printf("expired\n");
	printf("from-callback %d\n", e->from_callback);
	printf("after %d\n", eau2_zk_exists(zk, path, NULL, NULL, &err));
	return 0;
}

/* ------------------------------------------------------------ children */

static int child_main(int argc, char **argv)
{
	struct events e = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct eau2_error err = {0};
	struct eau2_zk_options o = {0};
	eau2_zk *zk = NULL;
	char line[64];

	if (argc < 7)
		return 2;
	o.connect = argv[3];
	o.cluster = argv[4];
	o.session_ms = atoi(argv[6]);
	o.timeout_ms = 10000;
	o.on_session = on_session;
	o.arg = &e;
	eau2_zk_cond_init(&e.cv);
	if (eau2_zk_connect(&zk, &o, &err)) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 1;
	}
	pthread_mutex_lock(&e.mu);
	e.zk = zk;
	pthread_mutex_unlock(&e.mu);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[2], "expire")) {
		int rc = child_expire(zk, &e, argv[5]);

		eau2_zk_close(zk);
		return rc;
	} else if (!strcmp(argv[2], "ephemeral")) {
		if (eau2_zk_create(zk, argv[5], "", 0, EAU2_ZK_EPHEMERAL, NULL, 0, &err))
			goto fail;
		printf("ready\n");
		sleep(60); /* until killed; bounded all the same */
	} else if (!strcmp(argv[2], "lock")) {
		eau2_zk_lock *lk;

		printf("waiting\n");
		if (eau2_zk_lock_take(zk, argv[5], 20000, &lk, &err))
			goto fail;
		printf("locked\n");
		if (!fgets(line, sizeof(line), stdin) || strcmp(line, "unlock\n"))
			return 3;
		if (eau2_zk_lock_release(lk, &err))
			goto fail;
		printf("unlocked\n");
	}
	eau2_zk_close(zk);
	return 0;
fail:
	fprintf(stderr, "child: %s\n", err.msg);
	return 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_znodes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_multi),
		cmocka_unit_test(test_ephemeral_close),
		cmocka_unit_test(test_ephemeral_kill),
		cmocka_unit_test(test_wait_change),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_lock_contend),
		cmocka_unit_test(test_lock_holder_killed),
		cmocka_unit_test(test_session_expiry),
	};

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
