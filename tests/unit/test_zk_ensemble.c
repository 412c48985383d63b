/* SPDX-License-Identifier: MIT */
/*
 * test_zk_ensemble.c - an ensemble of three ZooKeeper servers: with any
 * one of them killed, sessions, ephemerals and operations go on; with two
 * killed (no quorum) calls fail within their timeout, and the ensemble
 * serves again once a second server is back.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/zk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A round of writes and reads that must all succeed. */
static void work(eau2_zk *zk, int round)
{
	struct eau2_error err = {0};
	struct eau2_zk_stat st;
	char path[64], val[32], *got;
	size_t len;

	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "r%d/k%d", round, i);
		snprintf(val, sizeof(val), "%d.%d", round, i);
		tu_ok(eau2_zk_create(zk, path, val, strlen(val), EAU2_ZK_PARENTS, NULL, 0, &err), &err);
		tu_ok(eau2_zk_set(zk, "counter", val, strlen(val), -1, &st, &err), &err);
		tu_ok(eau2_zk_get(zk, path, (void **)&got, &len, NULL, NULL, &err), &err);
		assert_string_equal(got, val);
		free(got);
	}
	tu_ok(eau2_zk_exists(zk, "me", &st, NULL, &err), &err);
	assert_int_equal(st.ephemeral_owner, eau2_zk_session_id(zk, NULL));
}

static void test_one_down(void **state)
{
	struct eau2_zk_options o = {
		.connect = zku->connect, .cluster = "t-ens", .session_ms = 6000,
		.timeout_ms = 15000,
	};
	struct eau2_error err = {0};
	eau2_zk *zk = NULL, *late = NULL;
	int64_t session;

	(void)state;
	tu_ok(eau2_zk_connect(&zk, &o, &err), &err);
	session = eau2_zk_session_id(zk, NULL);
	tu_ok(eau2_zk_create(zk, "me", "", 0, EAU2_ZK_EPHEMERAL, NULL, 0, &err), &err);
	tu_ok(eau2_zk_create(zk, "counter", "", 0, 0, NULL, 0, &err), &err);
	work(zk, 0);

	/* Server 3 has the highest id, so it leads after a start where all
	 * have the same history: this kill forces an election. */
	zku_cmd(zku, "kill", 3);
	work(zk, 1);
	zku_cmd(zku, "restart", 3);
	zku_cmd(zku, "kill", 1);
	work(zk, 2);
	/* A new client with a dead server first in its connect string. */
	tu_ok(eau2_zk_connect(&late, &o, &err), &err);
	tu_ok(eau2_zk_exists(late, "r2/k19", NULL, NULL, &err), &err);
	eau2_zk_close(late);
	zku_cmd(zku, "restart", 1);
	assert_int_equal(eau2_zk_session_id(zk, NULL), session);
	assert_false(eau2_zk_expired(zk));
	eau2_zk_close(zk);
}

static void test_no_quorum(void **state)
{
	struct eau2_zk_options o = {
		.connect = zku->connect, .cluster = "t-ens", .session_ms = 20000,
		.timeout_ms = 2000,
	};
	struct eau2_error err = {0};
	eau2_zk *zk = NULL;
	long long t0, dt;
	int rc;

	(void)state;
	zku_heal(zku);
	tu_ok(eau2_zk_connect(&zk, &o, &err), &err);
	zku_cmd(zku, "kill", 1);
	zku_cmd(zku, "kill", 2);
	t0 = zkc_now_ms();
	rc = eau2_zk_create(zk, "nq", "", 0, 0, NULL, 0, &err);
	dt = zkc_now_ms() - t0;
	if (rc != -ETIMEDOUT && rc != -ECONNRESET)
		fail_msg("create without a quorum: %d (%s)", rc, err.msg);
	if (dt > 6000)
		fail_msg("create without a quorum took %lld ms (timeout 2000)", dt);
	assert_non_null(strstr(err.msg, zku->connect));

	zku_cmd(zku, "restart", 2);
	/* The quorum is back: the session (20 s) survived the outage. */
	tu_ok(eau2_zk_exists(zk, "counter", NULL, NULL, &err), &err);
	assert_false(eau2_zk_expired(zk));
	eau2_zk_close(zk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_down),
		cmocka_unit_test(test_no_quorum),
	};

	return cmocka_run_group_tests(tests, zku_setup3, zku_teardown);
}
