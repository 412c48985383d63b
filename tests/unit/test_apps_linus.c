/* SPDX-License-Identifier: MIT */
/*
 * test_apps_linus.c - degrees of Linus against a naive reference: random
 * users/projects/commits tables (ids offset and with gaps, commits naming
 * unknown users and projects, some nulls), built with builders; the
 * reference follows the definition literally - for each degree, every
 * project with a commit touching a user of the previous degree, then every
 * user of any commit of such a project not reached yet - with plain loops
 * over the commit arrays. Checked for several start users and thread
 * counts, the linus-step encode/decode round trip, that no temporary key
 * is left behind, and the errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowertest.h"

#define NU 300
#define NP 250
#define UBASE 1000
#define PBASE 50

struct graph {
	size_t nc;
	int64_t *pid, *au, *co;
	bool *pid_null;
	eau2_df *users, *projects, *commits;
};

/* uids UBASE + 2i (gaps), pids PBASE + i */
static void make_graph(eau2 *db, size_t nc, uint64_t seed, struct graph *g)
{
	struct eau2_error err = {0};
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	uint64_t rng = seed;

	g->nc = nc;
	g->pid = calloc(nc, sizeof(int64_t));
	g->au = calloc(nc, sizeof(int64_t));
	g->co = calloc(nc, sizeof(int64_t));
	g->pid_null = calloc(nc, sizeof(bool));
	tu_ok(eau2_schema_parse("uid:int,name:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (int i = 0; i < NU; i++) {
		char name[16];
		snprintf(name, sizeof(name), "u%d", i);
		tu_ok(eau2_builder_append_int(b, 0, UBASE + 2 * i, &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, name, strlen(name), &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &g->users, &err), &err);
	eau2_schema_free(s);
	tu_ok(eau2_schema_parse("pid:int,name:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (int i = 0; i < NP; i++) {
		tu_ok(eau2_builder_append_int(b, 0, PBASE + i, &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, "p", 1, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &g->projects, &err), &err);
	eau2_schema_free(s);
	/* commits: committer first so that column order differs from the
	 * default positions (names are what count) */
	tu_ok(eau2_schema_parse("committer:int,pid:int,author:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (size_t i = 0; i < nc; i++) {
		uint64_t r = tu_rand(&rng);
		/* skewed: small project and user indexes are busier */
		uint64_t p = (r % NP) * ((r >> 20) % NP) / NP;
		uint64_t a = (tu_rand(&rng) % NU) * ((r >> 30) % NU) / NU;
		uint64_t c = (r >> 40) % 4 ? a : tu_rand(&rng) % NU;
		g->pid[i] = PBASE + (int64_t)p;
		g->au[i] = UBASE + 2 * (int64_t)a;
		g->co[i] = UBASE + 2 * (int64_t)c;
		if ((r >> 50) % 97 == 0)
			g->au[i] = UBASE + 1;        /* not a user (a gap) */
		if ((r >> 50) % 89 == 1)
			g->pid[i] = PBASE + NP + 7;  /* not a project */
		g->pid_null[i] = (r >> 50) % 101 == 2;
		tu_ok(eau2_builder_append_int(b, 0, g->co[i], &err), &err);
		if (g->pid_null[i])
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
		else
			tu_ok(eau2_builder_append_int(b, 1, g->pid[i], &err), &err);
		tu_ok(eau2_builder_append_int(b, 2, g->au[i], &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &g->commits, &err), &err);
	eau2_schema_free(s);
	tu_ok(eau2_put(db, "users", g->users, &err), &err);
	tu_ok(eau2_put(db, "projects", g->projects, &err), &err);
}

static void free_graph(struct graph *g)
{
	free(g->pid);
	free(g->au);
	free(g->co);
	free(g->pid_null);
	eau2_df_release(g->users);
	eau2_df_release(g->projects);
	eau2_df_release(g->commits);
}

static bool is_user(int64_t u)
{
	return u >= UBASE && u < UBASE + 2 * NU && (u - UBASE) % 2 == 0;
}

static bool is_project(int64_t p)
{
	return p >= PBASE && p < PBASE + NP;
}

/* rows[k] = {new_users, new_projects, total} for degree k + 1 */
static void reference(const struct graph *g, int64_t start, int degrees,
		      int64_t rows[][3])
{
	int ulevel[2 * NU + 1], preached[NP];
	int64_t total = 1;

	for (int i = 0; i <= 2 * NU; i++)
		ulevel[i] = -1;
	for (int i = 0; i < NP; i++)
		preached[i] = 0;
	ulevel[start - UBASE] = 0;
	for (int k = 1; k <= degrees; k++) {
		int64_t np = 0, nu = 0;
		bool plinked[NP] = {0};
		/* projects linked to a user of degree k - 1 */
		for (size_t i = 0; i < g->nc; i++) {
			if (g->pid_null[i] || !is_project(g->pid[i]))
				continue;
			bool hit = (is_user(g->au[i]) && ulevel[g->au[i] - UBASE] == k - 1) ||
				   (is_user(g->co[i]) && ulevel[g->co[i] - UBASE] == k - 1);
			if (hit)
				plinked[g->pid[i] - PBASE] = true;
		}
		for (int p = 0; p < NP; p++)
			if (plinked[p] && !preached[p]) {
				preached[p] = k;
				np++;
			}
		/* users linked to any of those projects, not reached yet */
		for (size_t i = 0; i < g->nc; i++) {
			if (g->pid_null[i] || !is_project(g->pid[i]) ||
			    !plinked[g->pid[i] - PBASE])
				continue;
			int64_t us[2] = { g->au[i], g->co[i] };
			for (int j = 0; j < 2; j++)
				if (is_user(us[j]) && ulevel[us[j] - UBASE] < 0) {
					ulevel[us[j] - UBASE] = k;
					nu++;
				}
		}
		total += nu;
		rows[k - 1][0] = nu;
		rows[k - 1][1] = np;
		rows[k - 1][2] = total;
	}
}

static void run_linus(eau2 *db, const eau2_df *commits, int64_t start,
		      int degrees, unsigned threads, eau2_df **res,
		      struct eau2_error *err, int *rc)
{
	char s1[32], s2[32];
	const char *kv[4] = { "users=users", "projects=projects", s1, s2 };
	struct rt_args ra;

	snprintf(s1, sizeof(s1), "start=%lld", (long long)start);
	snprintf(s2, sizeof(s2), "degrees=%d", degrees);
	*rc = rt_run(db, commits, "linus", rt_args(&ra, 4, kv), threads, res, err);
}

static void test_against_reference(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct graph g;
	size_t nc = tu_quick() ? 3000 : 200000;
	const int64_t starts[] = { UBASE, UBASE + 2 * 7, UBASE + 2 * 150,
				   UBASE + 2 * (NU - 1) };

	/* a sparse graph first (long chains), then a dense one */
	for (int pass = 0; pass < 2; pass++) {
		make_graph(db, pass == 0 ? 400 : nc, 7 + (uint64_t)pass, &g);
		for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
			int64_t want[8][3];
			reference(&g, starts[si], 8, want);
			for (unsigned t = 1; t <= 2; t++) {
				eau2_df *res = NULL;
				int rc;
				run_linus(db, g.commits, starts[si], 8, t, &res, &err, &rc);
				tu_ok(rc, &err);
				assert_int_equal(eau2_df_rows(res), 8);
				for (int k = 0; k < 8; k++) {
					int64_t v[4];
					for (int c = 0; c < 4; c++)
						tu_ok(eau2_df_get_int(res, (size_t)c, (uint64_t)k,
								      &v[c], &err), &err);
					if (v[0] != k + 1 || v[1] != want[k][0] ||
					    v[2] != want[k][1] || v[3] != want[k][2])
						fail_msg("start %lld degree %d: got %lld,%lld,%lld "
							 "want %lld,%lld,%lld", (long long)starts[si],
							 k + 1, (long long)v[1], (long long)v[2],
							 (long long)v[3], (long long)want[k][0],
							 (long long)want[k][1], (long long)want[k][2]);
				}
				eau2_df_release(res);
			}
		}
		if (pass == 1) {
			struct rt_args ra;
			const char *kv[] = { "users=users", "projects=projects",
					     "start=1014", "degrees=3" };
			rt_check_roundtrip(db, g.commits, "linus", rt_args(&ra, 4, kv));
		}
		free_graph(&g);
	}
	/* only users, projects remain: no temporary frontier keys */
	char **keys;
	size_t n;
	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	assert_int_equal(n, 2);
	eau2_list_free(keys);
	tu_close_store(db, dir);
}

/* linus-step alone, with a frontier stored by hand: encode/decode. */
static void test_step_roundtrip(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct graph g;
	uint64_t words[(NP + 63) / 64] = { 0x5555, 0, 0xff00ff };
	eau2_df *f = NULL;
	struct rt_args ra;
	char un[32], pn[32], umin[32], pmin[32];

	make_graph(db, 5000, 3, &g);
	tu_ok(eau2_df_from_array(db, "w", EAU2_INT, words, (NP + 63) / 64, &f, &err), &err);
	tu_ok(eau2_put(db, "front", f, &err), &err);
	snprintf(un, sizeof(un), "un=%d", 2 * NU - 1);
	snprintf(pn, sizeof(pn), "pn=%d", NP);
	snprintf(umin, sizeof(umin), "umin=%d", UBASE);
	snprintf(pmin, sizeof(pmin), "pmin=%d", PBASE);
	const char *kv[] = { "mode=users", "frontier=front", un, pn, umin, pmin };
	rt_check_roundtrip(db, g.commits, "linus-step", rt_args(&ra, 6, kv));
	eau2_df_release(f);
	free_graph(&g);
	tu_close_store(db, dir);
}

static void test_errors(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct graph g;
	eau2_df *res = NULL, *bad = NULL;
	struct rt_args ra;
	int rc;

	make_graph(db, 100, 1, &g);
	run_linus(db, g.commits, UBASE + 1, 2, 1, &res, &err, &rc);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err.msg, "start user 1001"));
	assert_null(res);
	const char *kv[] = { "users=nokey", "projects=projects", "start=1000" };
	assert_int_equal(rt_run(db, g.commits, "linus", rt_args(&ra, 3, kv), 1, &res,
				&err), -ENOENT);
	assert_non_null(strstr(err.msg, "nokey"));
	const char *kv2[] = { "projects=projects", "start=1000" };
	assert_int_equal(rt_run(db, g.commits, "linus", rt_args(&ra, 2, kv2), 1, &res,
				&err), -EINVAL);
	assert_non_null(strstr(err.msg, "users=KEY"));
	const char *kv3[] = { "users=users", "projects=projects" };
	assert_int_equal(rt_run(db, g.commits, "linus", rt_args(&ra, 2, kv3), 1, &res,
				&err), -EINVAL);
	assert_non_null(strstr(err.msg, "start=UID"));
	/* commits without the author column / with a string column */
	const char *names[] = { "a", "b" };
	tu_ok(eau2_df_from_array(db, "pid", EAU2_STRING, names, 2, &bad, &err), &err);
	const char *kv4[] = { "users=users", "projects=projects", "start=1000" };
	rc = rt_run(db, bad, "linus", rt_args(&ra, 3, kv4), 1, &res, &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err.msg, "'pid' is string"));
	eau2_df_release(bad);
	int64_t one = 5;
	tu_ok(eau2_df_from_array(db, "pid", EAU2_INT, &one, 1, &bad, &err), &err);
	rc = rt_run(db, bad, "linus", rt_args(&ra, 3, kv4), 1, &res, &err);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err.msg, "no column 'author'"));
	eau2_df_release(bad);
	/* empty commits */
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	tu_ok(eau2_schema_parse("pid:int,author:int,committer:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	tu_ok(eau2_builder_finish(b, &bad, &err), &err);
	eau2_schema_free(s);
	rc = rt_run(db, bad, "linus", rt_args(&ra, 3, kv4), 1, &res, &err);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	eau2_df_release(bad);
	free_graph(&g);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_step_roundtrip),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
