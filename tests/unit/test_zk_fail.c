/* SPDX-License-Identifier: MIT */
/*
 * test_zk_fail.c - a ZooKeeper that is not there, frozen (SIGSTOP) or
 * killed costs a caller its timeout and a clear error naming the ensemble
 * or the znode, never a hang; a session outlives a short outage.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/zk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_zk(eau2_zk **zk, const char *connect, int session_ms,
		      int timeout_ms, struct eau2_error *err)
{
	struct eau2_zk_options o = {
		.connect = connect, .cluster = "t-fail", .session_ms = session_ms,
		.timeout_ms = timeout_ms,
	};

	return eau2_zk_connect(zk, &o, err);
}

/* elapsed must lie within [lo, hi] ms. */
static void within(long long t0, long long lo, long long hi, const char *what)
{
	long long dt = zkc_now_ms() - t0;

	if (dt < lo || dt > hi)
		fail_msg("%s took %lld ms, expected %lld-%lld", what, dt, lo, hi);
}

static void test_nobody_listens(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	struct eau2_error err = {0};
	char connect[64];
	eau2_zk *zk = NULL;
	long long t0;
	int fd;

	(void)state;
	/* A port that was free a moment ago and that nobody listens on. */
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", ntohs(a.sin_port));

	t0 = zkc_now_ms();
	assert_int_equal(connect_zk(&zk, connect, 4000, 1000, &err), -ETIMEDOUT);
	within(t0, 1000, 4000, "connect to nobody");
	assert_null(zk);
	assert_non_null(strstr(err.msg, connect));
	assert_non_null(strstr(err.msg, "no session within 1000 ms"));
	/* The client's own words are quoted, not printed. */
	if (!strstr(err.msg, "refused"))
		fail_msg("%s", err.msg);

	/* A host that does not resolve. */
	assert_int_equal(connect_zk(&zk, "no-such-host.invalid:2181", 4000, 1000, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "no-such-host.invalid:2181"));
}

static void test_stopped(void **state)
{
	struct eau2_error err = {0};
	eau2_zk *a = NULL, *b = NULL, *c = NULL;
	long long t0;
	int rc;

	(void)state;
	tu_ok(connect_zk(&a, zku->connect, 4000, 1500, &err), &err);
	tu_ok(connect_zk(&b, zku->connect, 20000, 1500, &err), &err);
	tu_ok(eau2_zk_create(b, "eph", "", 0, EAU2_ZK_EPHEMERAL, NULL, 0, &err), &err);
	zku_cmd(zku, "pause", 1);

	/* A new session: refused within the timeout. */
	t0 = zkc_now_ms();
	assert_int_equal(connect_zk(&c, zku->connect, 4000, 1500, &err), -ETIMEDOUT);
	within(t0, 1500, 5000, "connect to a stopped server");
	assert_non_null(strstr(err.msg, zku->connect));

	/* Calls on a live session: they fail within the timeout too. */
	t0 = zkc_now_ms();
	rc = eau2_zk_get(a, "x", NULL, NULL, NULL, NULL, &err);
	within(t0, 0, 5000, "get on a stopped server");
	if (rc != -ETIMEDOUT && rc != -ECONNRESET)
		fail_msg("get on a stopped server: %d (%s)", rc, err.msg);
	assert_non_null(strstr(err.msg, "/eau2/t-fail/x"));
	assert_non_null(strstr(err.msg, zku->connect));
	t0 = zkc_now_ms();
	rc = eau2_zk_create(a, "y", "", 0, 0, NULL, 0, &err);
	within(t0, 0, 5000, "create on a stopped server");
	assert_true(rc == -ETIMEDOUT || rc == -ECONNRESET);
	t0 = zkc_now_ms();
	rc = eau2_zk_wait_change(a, "x", NULL, 500, NULL, &err);
	within(t0, 0, 5000, "wait on a stopped server");
	assert_true(rc == -ETIMEDOUT || rc == -ECONNRESET);

	/* Closing a handle whose server froze is bounded as well. */
	t0 = zkc_now_ms();
	eau2_zk_close(a);
	within(t0, 0, 5000, "close with a stopped server");

	zku_cmd(zku, "resume", 1);
	/* b's session (20 s) outlived the freeze, ephemeral and all. */
	tu_ok(eau2_zk_wait_connected(b, 15000, &err), &err);
	tu_ok(eau2_zk_exists(b, "eph", NULL, NULL, &err), &err);
	tu_ok(eau2_zk_create(b, "after", "", 0, 0, NULL, 0, &err), &err);
	eau2_zk_close(b);
}

static void test_killed(void **state)
{
	struct eau2_error err = {0};
	eau2_zk *a = NULL, *c = NULL;
	long long t0;
	int rc;

	(void)state;
	tu_ok(connect_zk(&a, zku->connect, 20000, 1500, &err), &err);
	tu_ok(eau2_zk_create(a, "keep", "", 0, EAU2_ZK_EPHEMERAL, NULL, 0, &err), &err);
	zku_cmd(zku, "kill", 1);

	t0 = zkc_now_ms();
	assert_int_equal(connect_zk(&c, zku->connect, 4000, 1000, &err), -ETIMEDOUT);
	within(t0, 1000, 4000, "connect to a killed server");
	assert_non_null(strstr(err.msg, zku->connect));
	t0 = zkc_now_ms();
	rc = eau2_zk_exists(a, "keep", NULL, NULL, &err);
	within(t0, 0, 4000, "exists on a killed server");
	assert_true(rc == -ETIMEDOUT || rc == -ECONNRESET);
	assert_non_null(strstr(err.msg, "/eau2/t-fail/keep"));

	/* Back on the same port and data: the session lives on. */
	zku_cmd(zku, "restart", 1);
	/* The client retries with a back-off of its own: give it time. */
	tu_ok(eau2_zk_wait_connected(a, 15000, &err), &err);
	tu_ok(eau2_zk_exists(a, "keep", NULL, NULL, &err), &err);
	assert_false(eau2_zk_expired(a));
	eau2_zk_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nobody_listens),
		cmocka_unit_test(test_stopped),
		cmocka_unit_test(test_killed),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
