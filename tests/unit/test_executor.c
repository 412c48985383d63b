/* SPDX-License-Identifier: MIT */
/*
 * test_executor.c - the registry, the row API, and eau2_run itself:
 * row-at-a-time rowers (accept + typed getters + Fielder visit) against a
 * reference, EAU2_ROWER_ORDERED output order on 1, 2 and 7 threads, every
 * state destroyed (init count = destroy count, error runs included), error
 * propagation with the rower's message, cancellation, thread pinning and
 * limits, empty dataframes, count round trip.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowertest.h"

static atomic_int inits, destroys;
static atomic_int groups_seen;
static volatile int cancel_flag;
static atomic_int pinned_states, unpinned_states;

/* ------------------------------------------------- df with every type */

struct gen {
	size_t n;
	int64_t *i;
	double *d;
	bool *b;
	char (*s)[12];
	bool *vi, *vd, *vb, *vs;
};

static eau2_df *gen_df(eau2 *db, uint64_t seed, size_t n, struct gen *g)
{
	struct eau2_error err = {0};
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	uint64_t st = seed;
	size_t m = n ? n : 1;

	g->n = n;
	g->i = calloc(m, 8), g->d = calloc(m, 8), g->b = calloc(m, 1), g->s = calloc(m, 12);
	g->vi = calloc(m, 1), g->vd = calloc(m, 1), g->vb = calloc(m, 1), g->vs = calloc(m, 1);
	tu_ok(eau2_schema_parse("i:int,d:double,b:bool,s:string", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t r = 0; r < n; r++) {
		uint64_t x = tu_rand(&st);
		g->vi[r] = x % 4, g->vd[r] = (x >> 2) % 5, g->vb[r] = (x >> 5) % 3, g->vs[r] = (x >> 7) % 6;
		g->i[r] = (int64_t)(x >> 20) % 100000 - 50000;
		g->d[r] = (double)((x >> 30) % 1000) / 8;
		g->b[r] = (x >> 40) & 1;
		snprintf(g->s[r], 12, "%u", (unsigned)((x >> 44) % 100000));
		if (g->vi[r]) tu_ok(eau2_builder_append_int(b, 0, g->i[r], &err), &err);
		else tu_ok(eau2_builder_append_null(b, 0, &err), &err);
		if (g->vd[r]) tu_ok(eau2_builder_append_double(b, 1, g->d[r], &err), &err);
		else tu_ok(eau2_builder_append_null(b, 1, &err), &err);
		if (g->vb[r]) tu_ok(eau2_builder_append_bool(b, 2, g->b[r], &err), &err);
		else tu_ok(eau2_builder_append_null(b, 2, &err), &err);
		if (g->vs[r]) tu_ok(eau2_builder_append_string(b, 3, g->s[r], strlen(g->s[r]), &err), &err);
		else tu_ok(eau2_builder_append_null(b, 3, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);
	return df;
}

static void gen_free(struct gen *g)
{
	free(g->i), free(g->d), free(g->b), free(g->s);
	free(g->vi), free(g->vd), free(g->vb), free(g->vs);
}

static eau2_df *ids_df(eau2 *db, size_t n)
{
	struct eau2_error err = {0};
	int64_t *v = malloc((n ? n : 1) * sizeof(*v));
	eau2_df *df = NULL;

	for (size_t i = 0; i < n; i++)
		v[i] = (int64_t)i;
	tu_ok(eau2_df_from_array(db, "id", EAU2_INT, v, n, &df, &err), &err);
	free(v);
	return df;
}

/* --------------------------------- a row-at-a-time rower: "test_rowstat" */

struct rowstat {
	int64_t isum, nulls, slen, trues, bad;
	double dsum;
};

static int rs_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	atomic_fetch_add(&inits, 1);
	return 0;
}

static void rs_on_null(void *ctx, size_t col)
{
	((struct rowstat *)ctx)->nulls++;
}
static void rs_on_bool(void *ctx, size_t col, bool v)
{
	((struct rowstat *)ctx)->trues += v;
}

static int rs_accept(void *state, const struct eau2_row *row)
{
	struct rowstat *s = state;
	int64_t i;
	double d;
	bool b;
	const char *str;
	size_t len;
	static const struct eau2_fielder f = { .on_null = rs_on_null, .on_bool = rs_on_bool };

	if (eau2_row_get_int(row, 0, &i) == 0)
		s->isum += i;
	if (eau2_row_get_double(row, 1, &d) == 0)
		s->dsum += d;
	if (eau2_row_get_string(row, 3, &str, &len) == 0)
		s->slen += (int64_t)len;
	/* type mismatches and bad columns never succeed */
	if (eau2_row_get_int(row, 3, &i) != -EINVAL || eau2_row_get_bool(row, 0, &b) != -EINVAL ||
	    eau2_row_get_string(row, 2, &str, &len) != -EINVAL ||
	    eau2_row_get_int(row, 4, &i) != -ERANGE)
		s->bad++;
	/* get_double reads int columns too */
	int rc = eau2_row_get_double(row, 0, &d);
	if (rc != eau2_row_get_int(row, 0, &i) || (rc == 0 && d != (double)i))
		s->bad++;
	eau2_row_visit(row, &f, s);
	return 1;
}

static int rs_join(void *state, void *other, struct eau2_error *err)
{
	struct rowstat *s = state, *o = other;
	s->isum += o->isum, s->nulls += o->nulls, s->slen += o->slen;
	s->trues += o->trues, s->bad += o->bad, s->dsum += o->dsum;
	return 0;
}

static int rs_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		     struct eau2_error *err)
{
	struct rowstat *s = state;
	int64_t v[6] = { s->isum, s->nulls, s->slen, s->trues, s->bad, (int64_t)s->dsum };
	return eau2_df_from_array(ctx->db, "v", EAU2_INT, v, 6, result, err);
}

static void rs_destroy(void *state)
{
	atomic_fetch_add(&destroys, 1);
}

static const struct eau2_rower_class rowstat_class = {
	.name = "test_rowstat", .state_size = sizeof(struct rowstat),
	.init = rs_init, .accept = rs_accept, .join = rs_join,
	.finish = rs_finish, .destroy = rs_destroy,
};

/* "test_col0": reads column 0 only (columns); the others' views are
 * zeroed, so the typed getters refuse them and the Fielder skips them. */
static int c0_accept(void *state, const struct eau2_row *row)
{
	struct rowstat *s = state;
	static const struct eau2_fielder f = { .on_null = rs_on_null, .on_bool = rs_on_bool };
	int64_t i;
	double d;
	bool b;
	const char *str;
	size_t len;

	if (eau2_row_get_int(row, 0, &i) == 0)
		s->isum += i;
	if (eau2_row_get_double(row, 1, &d) != -EINVAL ||
	    eau2_row_get_bool(row, 2, &b) != -EINVAL ||
	    eau2_row_get_string(row, 3, &str, &len) != -EINVAL)
		s->bad++;
	eau2_row_visit(row, &f, s);
	return 1;
}

static void c0_columns(const void *state, uint64_t *used, size_t ncols)
{
	(void)state;
	assert_int_equal(ncols, 4);
	assert_int_equal(used[0], 0);
	eau2_columns_set(used, 0);
}

static const struct eau2_rower_class col0_class = {
	.name = "test_col0", .state_size = sizeof(struct rowstat),
	.init = rs_init, .accept = c0_accept, .join = rs_join,
	.finish = rs_finish, .destroy = rs_destroy, .columns = c0_columns,
};

/* --------------------------- an ordered rower: "test_collect" (ids % 3) */

struct collect {
	int64_t *v;
	size_t n, cap;
	int fail_group;     /* -1: none */
	int fail_row;       /* -1: none */
	bool cancel_at_2;
	bool check_pin;
};

static int col_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	struct collect *s = state;
	const char *f = eau2_args_get(ctx->args, "fail_group");
	const char *fr = eau2_args_get(ctx->args, "fail_row");

	atomic_fetch_add(&inits, 1);
	s->fail_group = f ? atoi(f) : -1;
	s->fail_row = fr ? atoi(fr) : -1;
	s->cancel_at_2 = eau2_args_get(ctx->args, "cancel") != NULL;
	if (eau2_args_get(ctx->args, "fail_init"))
		return eau2_error_set(err, -EPROTO, "test_collect: init refused");
	if (eau2_args_get(ctx->args, "pin")) {
		cpu_set_t set;
		CPU_ZERO(&set);
		assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
		atomic_fetch_add(CPU_COUNT(&set) == 1 ? &pinned_states : &unpinned_states, 1);
	}
	return 0;
}

static int col_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct collect *s = state;
	const struct eau2_chunk_view *v = &g->cols[0];

	atomic_fetch_add(&groups_seen, 1);
	if ((int)g->group == s->fail_group)
		return eau2_error_set(err, -EIO, "test_collect: boom in group %zu", g->group);
	if (s->cancel_at_2 && g->group == 2)
		cancel_flag = 1;
	for (uint32_t i = 0; i < g->rows; i++) {
		if (v->values.i64[i] % 3 == 0)
			continue;
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 1024;
			s->v = realloc(s->v, s->cap * sizeof(*s->v));
		}
		s->v[s->n++] = v->values.i64[i];
	}
	return 0;
}

static int col_accept(void *state, const struct eau2_row *row)
{
	struct collect *s = state;
	return (int64_t)row->row == s->fail_row ? -EIO : 1;
}

static int col_join(void *state, void *other, struct eau2_error *err)
{
	struct collect *s = state, *o = other;
	for (size_t i = 0; i < o->n; i++) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 1024;
			s->v = realloc(s->v, s->cap * sizeof(*s->v));
		}
		s->v[s->n++] = o->v[i];
	}
	return 0;
}

static int col_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		      struct eau2_error *err)
{
	struct collect *s = state;
	return eau2_df_from_array(ctx->db, "id", EAU2_INT, s->v, s->n, result, err);
}

static void col_destroy(void *state)
{
	atomic_fetch_add(&destroys, 1);
	free(((struct collect *)state)->v);
}

static const struct eau2_rower_class collect_class = {
	.name = "test_collect", .flags = EAU2_ROWER_ORDERED,
	.state_size = sizeof(struct collect),
	.init = col_init, .accept_chunk = col_chunk, .join = col_join,
	.finish = col_finish, .destroy = col_destroy,
};

/* Same, row at a time (to fail in accept) and unordered. */
static const struct eau2_rower_class collect_rows_class = {
	.name = "test_collect_rows", .state_size = sizeof(struct collect),
	.init = col_init, .accept = col_accept, .join = col_join,
	.finish = col_finish, .destroy = col_destroy,
};

/* -------------------------------------------------------------- tests */

static void count_class(void *ctx, const struct eau2_rower_class *c)
{
	(void)c;
	(*(size_t *)ctx)++;
}

static void seen_name(void *ctx, const struct eau2_rower_class *c)
{
	char *buf = ctx;
	strcat(buf, c->name);
	strcat(buf, " ");
}

static void test_registry(void **st)
{
	static const char *const builtins[] = { "count", "sum", "min", "max", "mean",
		"distinct", "sort", "wordcount", "filter", "map", "groupby", "join" };
	struct eau2_error err = {0};
	static char names[4096];
	struct eau2_rower_class noname = rowstat_class;

	size_t before = 0;

	(void)st;
	/* Applications register classes of their own: count what is there. */
	eau2_rower_foreach(count_class, &before);
	assert_true(before >= sizeof(builtins) / sizeof(builtins[0]));
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		const struct eau2_rower_class *c = eau2_rower_find(builtins[i]);
		assert_non_null(c);
		assert_string_equal(c->name, builtins[i]);
		if (i < 8) { /* this module's built-ins; the rest are tested elsewhere */
			assert_non_null(c->summary);
			assert_non_null(c->encode);
			assert_non_null(c->decode);
		}
	}
	assert_null(eau2_rower_find("no-such-rower"));
	assert_null(eau2_rower_find(NULL));
	assert_int_equal(eau2_rower_register(eau2_rower_find("count"), &err), -EEXIST);
	assert_non_null(strstr(err.msg, "count"));
	tu_ok(eau2_rower_register(&rowstat_class, &err), &err);
	tu_ok(eau2_rower_register(&collect_class, &err), &err);
	tu_ok(eau2_rower_register(&collect_rows_class, &err), &err);
	assert_int_equal(eau2_rower_register(&rowstat_class, &err), -EEXIST);
	assert_ptr_equal(eau2_rower_find("test_rowstat"), &rowstat_class);
	noname.name = "";
	assert_int_equal(eau2_rower_register(&noname, &err), -EINVAL);
	noname.name = "has space";
	assert_int_equal(eau2_rower_register(&noname, &err), -EINVAL);
	noname.name = "no_accept";
	noname.accept = NULL;
	assert_int_equal(eau2_rower_register(&noname, &err), -EINVAL);
	assert_null(eau2_rower_find("no_accept"));

	/* foreach: sorted by name, every class once */
	names[0] = 0;
	eau2_rower_foreach(seen_name, names);
	char *prev = NULL, *save = NULL;
	size_t count = 0;
	for (char *t = strtok_r(names, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (prev)
			assert_true(strcmp(prev, t) < 0);
		prev = t;
		count++;
	}
	assert_int_equal(count, before + 3);
}

static void test_args(void **st)
{
	const char *names[] = { "a", "b", "a" }, *values[] = { "1", "2", "3" };
	struct eau2_args args = { 3, names, values };

	(void)st;
	assert_string_equal(eau2_args_get(&args, "a"), "3");
	assert_string_equal(eau2_args_get(&args, "b"), "2");
	assert_null(eau2_args_get(&args, "c"));
	assert_null(eau2_args_get(NULL, "a"));
}

static void test_row_api(void **st)
{
	static const size_t sizes[] = { 0, 1, 65536, 65537, 150001 };
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};

	(void)st;
	assert_true(eau2_rower_register(&col0_class, &err) == 0 ||
		    err.code == -EEXIST);
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		struct gen g;
		size_t n = tu_quick() && sizes[si] > 70000 ? 70000 : sizes[si];
		int64_t nulls0 = 0;
		eau2_df *df = gen_df(db, 5 + si, n, &g);
		int64_t want[6] = {0};
		double dsum = 0;
		for (size_t r = 0; r < n; r++) {
			if (g.vi[r]) want[0] += g.i[r];
			if (g.vd[r]) dsum += g.d[r];
			if (g.vs[r]) want[2] += (int64_t)strlen(g.s[r]);
			if (g.vb[r]) want[3] += g.b[r];
			want[1] += !g.vi[r] + !g.vd[r] + !g.vb[r] + !g.vs[r];
			nulls0 += !g.vi[r];
		}
		want[5] = (int64_t)dsum; /* d values are multiples of 1/8: exact */
		for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
			eau2_df *res = NULL;
			atomic_store(&inits, 0);
			atomic_store(&destroys, 0);
			tu_ok(rt_run(db, df, "test_rowstat", NULL, t, &res, &err), &err);
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));
			for (size_t k = 0; k < 6; k++) {
				int64_t v;
				tu_ok(eau2_df_get_int(res, 0, k, &v, &err), &err);
				if (v != want[k])
					fail_msg("n=%zu t=%u stat %zu: %lld != %lld", n, t, k,
						 (long long)v, (long long)want[k]);
			}
			eau2_df_release(res);
			/* Column 0 alone: its sum and nulls, nothing else. */
			int64_t want0[6] = { want[0], nulls0, 0, 0, 0, 0 };
			tu_ok(rt_run(db, df, "test_col0", NULL, t, &res, &err), &err);
			for (size_t k = 0; k < 6; k++) {
				int64_t v;
				tu_ok(eau2_df_get_int(res, 0, k, &v, &err), &err);
				if (v != want0[k])
					fail_msg("test_col0 n=%zu t=%u stat %zu: %lld != %lld",
						 n, t, k, (long long)v, (long long)want0[k]);
			}
			eau2_df_release(res);
		}
		gen_free(&g);
		eau2_df_release(df);
	}
	tu_close_store(db, dir);
}

static void test_ordered(void **st)
{
	static const size_t sizes[] = { 0, 1, 65536, 65537, 11 * 65536 + 3, 70 * 65536 + 1 };
	size_t nsizes = tu_quick() ? 5 : sizeof(sizes) / sizeof(sizes[0]);
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};

	(void)st;
	for (size_t si = 0; si < nsizes; si++) {
		size_t n = sizes[si];
		eau2_df *df = ids_df(db, n);
		for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
			eau2_df *res = NULL;
			atomic_store(&inits, 0);
			atomic_store(&destroys, 0);
			tu_ok(rt_run(db, df, "test_collect", NULL, t, &res, &err), &err);
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));
			assert_true(atomic_load(&inits) >= 1);
			uint64_t k = 0;
			for (uint64_t id = 0; id < n; id++) {
				if (id % 3 == 0)
					continue;
				int64_t v;
				tu_ok(eau2_df_get_int(res, 0, k, &v, &err), &err);
				if ((uint64_t)v != id)
					fail_msg("n=%zu t=%u: row %llu is %lld, want %llu", n, t,
						 (unsigned long long)k, (long long)v,
						 (unsigned long long)id);
				k++;
			}
			assert_int_equal(eau2_df_rows(res), k);
			eau2_df_release(res);
		}
		eau2_df_release(df);
	}
	tu_close_store(db, dir);
}

static void test_errors(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	size_t ng = tu_quick() ? 20 : 60;
	eau2_df *df = ids_df(db, ng * 65536), *res = NULL;
	struct eau2_run_options big = { .threads = 100000 };
	int rc;

	(void)st;
	for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
		for (int ordered = 0; ordered < 2; ordered++) {
			const char *name = ordered ? "test_collect" : "test_collect_rows";
			atomic_store(&inits, 0);
			atomic_store(&destroys, 0);
			atomic_store(&groups_seen, 0);
			if (ordered)
				rc = rt_run(db, df, name, rt_args(&ra, 1, (const char *[]){"fail_group=3"}),
					    t, &res, &err);
			else
				rc = rt_run(db, df, name, rt_args(&ra, 1, (const char *[]){"fail_row=200000"}),
					    t, &res, &err);
			assert_int_equal(rc, -EIO);
			assert_int_equal(err.code, -EIO);
			assert_null(res);
			if (ordered) {
				assert_non_null(strstr(err.msg, "boom in group 3"));
				/* stopped early: not every group was visited */
				assert_true(atomic_load(&groups_seen) < (int)ng);
			} else {
				assert_non_null(strstr(err.msg, "200000"));
			}
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));

			atomic_store(&inits, 0);
			atomic_store(&destroys, 0);
			rc = rt_run(db, df, name, rt_args(&ra, 1, (const char *[]){"fail_init=1"}),
				    t, &res, &err);
			assert_int_equal(rc, -EPROTO);
			assert_non_null(strstr(err.msg, "init refused"));
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));
		}
	}
	assert_int_equal(eau2_run(db, df, eau2_rower_find("count"), NULL, &big, &res, &err), -EINVAL);
	assert_int_equal(eau2_run(db, df, NULL, NULL, NULL, &res, &err), -EINVAL);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_cancel(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	size_t ng = 40;
	eau2_df *df = ids_df(db, ng * 65536), *res = NULL;
	const struct eau2_args *args = rt_args(&ra, 1, (const char *[]){"cancel=1"});

	(void)st;
	for (int ordered = 0; ordered < 2; ordered++) {
		const struct eau2_rower_class *cls = ordered ? &collect_class : &collect_rows_class;
		for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
			struct eau2_run_options opt = { .threads = t, .cancel = &cancel_flag };
			cancel_flag = 1; /* cancelled before it starts */
			atomic_store(&inits, 0);
			atomic_store(&destroys, 0);
			assert_int_equal(eau2_run(db, df, cls, NULL, &opt, &res, &err), -ECANCELED);
			assert_null(res);
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));
			if (!ordered)
				continue;
			/* cancelled by the rower itself while in group 2 */
			cancel_flag = 0;
			atomic_store(&groups_seen, 0);
			assert_int_equal(eau2_run(db, df, cls, args, &opt, &res, &err), -ECANCELED);
			assert_non_null(strstr(err.msg, "cancel"));
			assert_true(atomic_load(&groups_seen) < (int)ng);
			if (t == 1)
				assert_int_equal(atomic_load(&groups_seen), 3);
			assert_int_equal(atomic_load(&inits), atomic_load(&destroys));
		}
	}
	cancel_flag = 0;
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_threads(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	cpu_set_t set;
	unsigned def = eau2_default_threads();
	eau2_df *df = ids_df(db, 8 * 65536), *res = NULL;

	(void)st;
	CPU_ZERO(&set);
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	assert_true(def >= 1);
	assert_true(def <= (unsigned)CPU_COUNT(&set));
	/* unordered runs pin each worker to one CPU when not oversubscribed;
	 * the caller's own affinity is untouched */
	const struct eau2_args *args = rt_args(&ra, 1, (const char *[]){"pin=1"});
	if (CPU_COUNT(&set) >= 2) {
		atomic_store(&pinned_states, 0);
		atomic_store(&unpinned_states, 0);
		tu_ok(rt_run(db, df, "test_collect_rows", args, 2, &res, &err), &err);
		eau2_df_release(res);
		assert_int_equal(atomic_load(&pinned_states), 2);
		assert_int_equal(atomic_load(&unpinned_states), 0);
	}
	atomic_store(&pinned_states, 0);
	atomic_store(&unpinned_states, 0);
	tu_ok(rt_run(db, df, "test_collect_rows", args, (unsigned)CPU_COUNT(&set) + 3, &res, &err), &err);
	eau2_df_release(res);
	assert_int_equal(atomic_load(&unpinned_states), CPU_COUNT(&set) + 3);
	cpu_set_t after;
	CPU_ZERO(&after);
	sched_getaffinity(0, sizeof(after), &after);
	assert_true(CPU_EQUAL(&set, &after));
	/* threads = 0 means the default */
	struct eau2_run_options opt = { 0 };
	tu_ok(eau2_run(db, df, eau2_rower_find("count"), NULL, &opt, &res, &err), &err);
	eau2_df_release(res);
	tu_ok(eau2_run(db, df, eau2_rower_find("count"), NULL, NULL, &res, &err), &err);
	int64_t c;
	tu_ok(eau2_df_get_int(res, 0, 0, &c, &err), &err);
	assert_int_equal(c, 8 * 65536);
	eau2_df_release(res);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* Several client threads run at once on their own store handles. */
struct client {
	eau2 *db;
	const eau2_df *df;
	int64_t got;
	int rc;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct eau2_error err = {0};
	struct eau2_run_options opt = { .threads = 2 };
	eau2_df *res = NULL;

	for (int i = 0; i < 5 && c->rc == 0; i++) {
		c->rc = eau2_run(c->db, c->df, eau2_rower_find("sum"), NULL, &opt, &res, &err);
		if (c->rc == 0) {
			eau2_df_get_int(res, 0, 0, &c->got, &err);
			eau2_df_release(res);
		}
	}
	return NULL;
}

static void test_concurrent_runs(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	size_t n = 5 * 65536;
	eau2_df *df = ids_df(db, n);
	struct client c[4];
	pthread_t t[4];

	(void)st;
	for (int i = 0; i < 4; i++) {
		struct eau2_error err = {0};
		c[i] = (struct client){ .df = df };
		tu_ok(eau2_open(&c[i].db, TU_STORE(dir), &err), &err);
		pthread_create(&t[i], NULL, client_main, &c[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].rc, 0);
		assert_int_equal(c[i].got, (int64_t)(n * (n - 1) / 2));
		eau2_close(c[i].db);
	}
	eau2_df_release(df);
	tu_close_store(db, dir);
}

/* jemalloc's control call when it is this process's allocator. */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

static size_t dirty_pages(void)
{
	uint64_t epoch = 1;
	size_t pdirty = 0, len = sizeof(pdirty);

	assert_int_equal(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0);
	assert_int_equal(mallctl("stats.arenas.4096.pdirty", &pdirty, &len, NULL, 0), 0);
	return pdirty;
}

/* A run that freed a lot (an ordered run's tasks, each with its buffers)
 * leaves no dirty pages behind in the allocator. */
static void test_freed_pages_returned(void **st)
{
	char *dir;
	eau2 *db;
	struct eau2_error err = {0};
	eau2_df *df, *res = NULL;
	void *big[64];

	(void)st;
	if (!mallctl)
		skip(); /* sanitizer builds keep their own allocator */
	db = tu_open_store(&dir);
	df = ids_df(db, 8 * 65536);
	/* Freed pages the allocator would keep; the run gives them back. */
	for (int i = 0; i < 64; i++)
		memset(big[i] = malloc(1 << 20), 1, 1 << 20);
	for (int i = 0; i < 64; i++)
		free(big[i]);
	assert_true(dirty_pages() > 0);
	tu_ok(rt_run(db, df, "test_collect", NULL, 2, &res, &err), &err);
	assert_int_equal(eau2_df_rows(res), 8 * 65536 - (8 * 65536 + 2) / 3);
	assert_int_equal(dirty_pages(), 0);
	eau2_df_release(res);
	eau2_df_release(df);
	tu_close_store(db, dir);
}

static void test_count_roundtrip(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct rt_args ra;

	(void)st;
	for (size_t n = 0; n < 200000; n = n * 3 + 65535) {
		eau2_df *df = ids_df(db, n);
		rt_check_roundtrip(db, df, "count", NULL);
		rt_check_roundtrip(db, df, "count", rt_args(&ra, 1, (const char *[]){"column=id"}));
		eau2_df_release(df);
	}
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_row_api),
		cmocka_unit_test(test_ordered),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_concurrent_runs),
		cmocka_unit_test(test_freed_pages_returned),
		cmocka_unit_test(test_count_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
