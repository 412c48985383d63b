/* SPDX-License-Identifier: MIT */
/*
 * test_cores.c - sharing cores among runs (src/shm/cores.c and the
 * executor's use of it): fair shares as runs come and go, CPUs claimed by
 * one run at a time, the tokens of a killed process cleared, and runs of
 * the executor that share (one core while others run, all when alone)
 * with the same answers and nothing left in the table.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "shm/shm.h"

static void test_shares_and_claims(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_shm_cores *t = eau2_shm_cores_map(db);
	uint64_t a, b, c;
	int cpus[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, got_a[8], got_b[8];
	unsigned na, nb;

	(void)unused;
	assert_non_null(t);
	assert_ptr_equal(eau2_shm_cores_map(db), t);
	tu_ok(eau2_shm_cores_enter(t, &a), &(struct eau2_error){0});
	assert_int_equal(eau2_shm_cores_share(t, a, 8), 8);
	tu_ok(eau2_shm_cores_enter(t, &b), &(struct eau2_error){0});
	assert_true(a != b);
	assert_int_equal(eau2_shm_cores_share(t, a, 8), 4);
	assert_int_equal(eau2_shm_cores_share(t, b, 8), 4);
	tu_ok(eau2_shm_cores_enter(t, &c), &(struct eau2_error){0});
	/* 8 cores, 3 runs: 3 + 3 + 2, in table order */
	assert_int_equal(eau2_shm_cores_share(t, a, 8) + eau2_shm_cores_share(t, b, 8) +
			 eau2_shm_cores_share(t, c, 8), 8);
	assert_int_equal(eau2_shm_cores_share(t, c, 2), 1);
	eau2_shm_cores_leave(t, c);

	na = eau2_shm_cores_claim(t, a, cpus, 8, 5, got_a);
	assert_int_equal(na, 5);
	nb = eau2_shm_cores_claim(t, b, cpus, 8, 8, got_b);
	assert_int_equal(nb, 3); /* only the three a left */
	for (unsigned i = 0; i < na; i++)
		for (unsigned j = 0; j < nb; j++)
			assert_int_not_equal(got_a[i], got_b[j]);
	/* A released CPU, and the CPUs of a run that left, are free again. */
	eau2_shm_cores_release_cpu(t, a, got_a[0]);
	assert_int_equal(eau2_shm_cores_claim(t, b, cpus, 8, 8, got_b), 1);
	eau2_shm_cores_leave(t, a);
	assert_int_equal(eau2_shm_cores_claim(t, b, cpus, 8, 8, got_b), 4);
	assert_int_equal(eau2_shm_cores_share(t, b, 8), 8);
	eau2_shm_cores_leave(t, b);
	tu_close_store(db, dir);
}

/* A process that registers a run and is killed: its token no longer
 * counts once someone registers next. */
static void test_killed_run(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_shm_cores *t = eau2_shm_cores_map(db);
	int cpus[2] = { 0, 1 }, got[2], p[2], st;
	uint64_t me;
	pid_t pid;
	char c;

	(void)unused;
	assert_non_null(t);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t tok;

		if (eau2_shm_cores_enter(t, &tok) ||
		    eau2_shm_cores_claim(t, tok, cpus, 2, 2, got) != 2)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &c, 1), 1);
	tu_ok(eau2_shm_cores_enter(t, &me), &(struct eau2_error){0});
	assert_int_equal(eau2_shm_cores_share(t, me, 2), 1); /* the child counts */
	assert_int_equal(eau2_shm_cores_claim(t, me, cpus, 2, 2, got), 0);
	eau2_shm_cores_leave(t, me);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	tu_ok(eau2_shm_cores_enter(t, &me), &(struct eau2_error){0});
	assert_int_equal(eau2_shm_cores_share(t, me, 2), 2);
	assert_int_equal(eau2_shm_cores_claim(t, me, cpus, 2, 2, got), 2);
	eau2_shm_cores_leave(t, me);
	close(p[0]);
	close(p[1]);
	tu_close_store(db, dir);
}

/* With four other runs registered a run gets one core; alone, all; the
 * answer is the same and the run leaves nothing registered. */
static void test_run_with_others(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_shm_cores *t = eau2_shm_cores_map(db);
	const struct eau2_rower_class *sum = eau2_rower_find("sum");
	const char *names[] = { "columns" }, *values[] = { "v" };
	struct eau2_args args = { .names = names, .values = values, .n = 1 };
	size_t n = tu_quick() ? 1u << 20 : 1u << 24;
	int64_t *v = malloc(n * sizeof(*v)), want = 0, got;
	eau2_df *df, *res;
	uint64_t tok[4];

	(void)unused;
	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		v[i] = (int64_t)(i % 1000);
		want += v[i];
	}
	tu_ok(eau2_df_from_array(db, "v", EAU2_INT, v, n, &df, &err), &err);
	/* Others are running: this run gets one core and still answers. */
	for (int i = 0; i < 4; i++)
		tu_ok(eau2_shm_cores_enter(t, &tok[i]), &err);
	tu_ok(eau2_run(db, df, sum, &args, NULL, &res, &err), &err);
	tu_ok(eau2_df_get_int(res, 0, 0, &got, &err), &err);
	assert_int_equal(got, want);
	eau2_df_release(res);
	for (int i = 0; i < 4; i++)
		eau2_shm_cores_leave(t, tok[i]);
	/* Alone again: the table is empty after the run. */
	tu_ok(eau2_run(db, df, sum, &args, NULL, &res, &err), &err);
	tu_ok(eau2_df_get_int(res, 0, 0, &got, &err), &err);
	assert_int_equal(got, want);
	eau2_df_release(res);
	tu_ok(eau2_shm_cores_enter(t, &tok[0]), &err);
	assert_int_equal(eau2_shm_cores_share(t, tok[0], 64), 64);
	eau2_shm_cores_leave(t, tok[0]);
	eau2_df_release(df);
	free(v);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_and_claims),
		cmocka_unit_test(test_killed_run),
		cmocka_unit_test(test_run_with_others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
