/* SPDX-License-Identifier: MIT */
/*
 * test_cores.c - sharing cores among runs (src/shm/cores.c and the
 * executor's use of it): fair shares as runs come and go, CPUs claimed by
 * one run at a time, the tokens of a killed process cleared, and runs of
 * the executor that share (one core while others run, all when alone)
 * with the same answers and nothing left in the table, and a run that
 * gives a core back while it runs once another run registers.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "api/api.h"
#include "shm/shm.h"

static void test_shares_and_claims(void **unused)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_shm_cores *t = eau2_shm_cores_map(db->store);
	uint64_t a, b, c;
	int cpus[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, got_a[8], got_b[8];
	unsigned na, nb;

	(void)unused;
	assert_non_null(t);
	assert_ptr_equal(eau2_shm_cores_map(db->store), t);
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
	struct eau2_shm_cores *t = eau2_shm_cores_map(db->store);
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
	struct eau2_shm_cores *t = eau2_shm_cores_map(db->store);
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

/* A rower that spends about a millisecond on every row group and counts
 * the groups: slow enough to watch a run from outside. */
static int slow_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	(void)state, (void)ctx, (void)err;
	return 0;
}

static int slow_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct timespec t0, t;

	(void)g, (void)err;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 1000000L);
	++*(int64_t *)state;
	return 0;
}

static int slow_join(void *state, void *other, struct eau2_error *err)
{
	(void)err;
	*(int64_t *)state += *(int64_t *)other;
	return 0;
}

static int slow_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **out,
		       struct eau2_error *err)
{
	return eau2_df_from_array(ctx->db, "groups", EAU2_INT, state, 1, out, err);
}

static const struct eau2_rower_class slow_class = {
	.name = "test-slow", .state_size = sizeof(int64_t), .init = slow_init,
	.accept_chunk = slow_chunk, .join = slow_join, .finish = slow_finish,
};

struct slow_run {
	eau2 *db;
	eau2_df *df;
	int64_t groups;
	atomic_int done;
};

static void *slow_main(void *arg)
{
	struct slow_run *sr = arg;
	struct eau2_error err = {0};
	eau2_df *res;

	tu_ok(eau2_run(sr->db, sr->df, &slow_class, NULL, NULL, &res, &err), &err);
	tu_ok(eau2_df_get_int(res, 0, 0, &sr->groups, &err), &err);
	eau2_df_release(res);
	atomic_store(&sr->done, 1);
	return NULL;
}

/* A run alone on two cores holds both; once another run registers, its
 * second worker gives its CPU back (within a few ms) while the run goes
 * on, and the run still visits every row group. */
static void test_run_gives_back(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_shm_cores *t = eau2_shm_cores_map(db->store);
	struct slow_run sr = { .db = db };
	eau2_schema *s;
	eau2_builder *root, *part;
	pthread_t tid;
	uint64_t other;
	int cpus[64], got[64], ncpus = 0, freed = 0;
	cpu_set_t set;
	const int groups = 400;

	(void)unused;
	CPU_ZERO(&set);
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	for (int c = 0; c < 64; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpus++] = c;
	if (eau2_default_threads() < 2 || ncpus < 2) {
		tu_close_store(db, dir);
		skip();
	}
	/* Row groups of ten rows: one per joined part. */
	tu_ok(eau2_schema_parse("v:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &root, &err), &err);
	for (int g = 0; g < groups; g++) {
		tu_ok(eau2_builder_fork(root, &part, &err), &err);
		for (int i = 0; i < 10; i++)
			tu_ok(eau2_builder_append_int(part, 0, i, &err), &err);
		tu_ok(eau2_builder_join(root, part, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &sr.df, &err), &err);
	eau2_schema_free(s);
	assert_int_equal(eau2_df_ngroups(sr.df), groups);

	assert_int_equal(pthread_create(&tid, NULL, slow_main, &sr), 0);
	usleep(20000);
	tu_ok(eau2_shm_cores_enter(t, &other), &err);
	/* Poll for a free CPU while the run is still going. */
	while (!atomic_load(&sr.done) && !freed) {
		freed = (int)eau2_shm_cores_claim(t, other, cpus, (unsigned)ncpus, 1, got);
		if (!freed)
			usleep(2000);
	}
	/* Freed early, the run has a good 100 ms of work left on one thread;
	 * freed only by the run's end, it is done by now. */
	usleep(20000);
	if (freed)
		assert_int_equal(atomic_load(&sr.done), 0);
	assert_int_equal(pthread_join(tid, NULL), 0);
	eau2_shm_cores_leave(t, other);
	assert_true(freed); /* else the run never gave its second CPU back */
	assert_int_equal(sr.groups, groups);
	eau2_df_release(sr.df);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_and_claims),
		cmocka_unit_test(test_killed_run),
		cmocka_unit_test(test_run_with_others),
		cmocka_unit_test(test_run_gives_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
