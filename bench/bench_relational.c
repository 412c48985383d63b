/* SPDX-License-Identifier: MIT */
/*
 * bench_relational.c - throughput of the groupby and join rowers, next to
 * DuckDB running the same queries over the same data in the same run
 * (bench/compare, when its node_modules is installed):
 *
 *  groupby over --rows rows (default 1e7; 1e8 with --big; 1e6 with
 *  EAU2_TEST_QUICK), sum:v and mean:x per group, keyed by
 *    - one int key with 100 groups          (k100)
 *    - one string key with 100 groups       (s100)
 *    - two string keys, 100 x 10 groups     (sa, sb)
 *    - one int key with 1e5 groups          (k1e5)
 *    - one int key with 1e6 groups          (k1e6)
 *  join: a broadcast inner join of --rows rows (dk, v, x) with a 1e5-row
 *  dimension table (dk, name, w); the result is materialised.
 *  filter and map over the same (dk, v, x) rows, results materialised.
 *
 * Each figure is the best of --reps runs (default 3) on 1 and on all
 * allowed threads; rows/s counts input rows. Keys and values are uniform
 * random. DuckDB gets the same rows through CSV files (eau2_export_csv)
 * written to a temporary directory, loaded into tables before timing
 * (load time excluded, as for eau2, whose data is already in the store);
 * its queries materialise their result (CREATE TABLE AS ... ORDER BY), as
 * eau2's rowers build a result dataframe sorted by key.
 *
 * --only runs the queries whose label contains the given text, on both
 * sides; the tables no selected query reads are neither generated nor
 * exported. Before DuckDB starts, the eau2 store is closed and removed and
 * DuckDB's script deletes each CSV file once loaded (--unlink-csv), so the
 * two never hold their copies of the data at once: peak memory (printed:
 * this process's peak RSS, which counts the store pages it touched, and
 * node's) stays near the larger of the two, ~14 GB for --big --only
 * groupby. "cpu s" is the process CPU time (all threads) of the best run:
 * it inflates less than wall time when other jobs share the host.
 *
 * Usage: bench_relational [--rows N] [--big] [--reps N] [--no-duckdb]
 *                         [--only LABEL-SUBSTRING]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"

#define OK(call, what) do { \
	if ((call) != 0) \
		die(what, &err); \
} while (0)

struct sink {
	uint64_t seed;
	uint64_t rows;
};

/* facts: k100, s100, sa, sb, k1e5, k1e6, v, x */
static int fill_facts(void *ctx, eau2_builder *b, struct eau2_error *err)
{
	struct sink *s = ctx;
	char buf[32];
	uint64_t n = s->rows < 65536 ? s->rows : 65536;

	if (n == 0)
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rnd(&s->seed), q = rnd(&s->seed);
		int len;
		if (eau2_builder_append_int(b, 0, (int64_t)(r % 100), err))
			return -EIO;
		len = snprintf(buf, sizeof(buf), "key%02u", (unsigned)((r >> 8) % 100));
		if (eau2_builder_append_string(b, 1, buf, (size_t)len, err))
			return -EIO;
		len = snprintf(buf, sizeof(buf), "city%02u", (unsigned)((r >> 16) % 100));
		if (eau2_builder_append_string(b, 2, buf, (size_t)len, err))
			return -EIO;
		len = snprintf(buf, sizeof(buf), "cat%u", (unsigned)((r >> 24) % 10));
		if (eau2_builder_append_string(b, 3, buf, (size_t)len, err))
			return -EIO;
		if (eau2_builder_append_int(b, 4, (int64_t)((r >> 32) % 100000), err) ||
		    eau2_builder_append_int(b, 5, (int64_t)(q % 1000000), err) ||
		    eau2_builder_append_int(b, 6, (int64_t)((q >> 20) % 10000), err) ||
		    eau2_builder_append_double(b, 7,
			(double)(q >> 11) / 9007199254740992.0 * 100.0, err))
			return -EIO;
	}
	s->rows -= n;
	return 1;
}

/* sales: dk, v, x */
static int fill_sales(void *ctx, eau2_builder *b, struct eau2_error *err)
{
	struct sink *s = ctx;
	uint64_t n = s->rows < 65536 ? s->rows : 65536;

	if (n == 0)
		return 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t r = rnd(&s->seed);
		if (eau2_builder_append_int(b, 0, (int64_t)(r % 100000), err) ||
		    eau2_builder_append_int(b, 1, (int64_t)((r >> 20) % 10000), err) ||
		    eau2_builder_append_double(b, 2,
			(double)(r >> 40) / 16777216.0 * 50.0, err))
			return -EIO;
	}
	s->rows -= n;
	return 1;
}

/* dim: dk (0..99999 shuffled), name, w; with rows == 2 (dim2) the same
 * but for key 99999, so that a join cannot share the input's chunks. */
static int fill_dim(void *ctx, eau2_builder *b, struct eau2_error *err)
{
	struct sink *s = ctx;
	bool skip = s->rows == 2;
	int64_t *perm = malloc(100000 * sizeof(*perm));
	char buf[32];
	int rc = 0;

	if (!perm)
		return -ENOMEM;
	for (int64_t i = 0; i < 100000; i++)
		perm[i] = i;
	for (int64_t i = 99999; i > 0; i--) {
		int64_t j = (int64_t)(rnd(&s->seed) % (uint64_t)(i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 0; i < 100000 && rc == 0; i++) {
		if (skip && perm[i] == 99999)
			continue;
		int len = snprintf(buf, sizeof(buf), "product-%06lld",
				   (long long)perm[i]);
		if (eau2_builder_append_int(b, 0, perm[i], err) ||
		    eau2_builder_append_string(b, 1, buf, (size_t)len, err) ||
		    eau2_builder_append_double(b, 2, (double)(perm[i] % 997) / 7.0, err))
			rc = -EIO;
	}
	free(perm);
	return rc;
}

static void export(const eau2_df *df, const char *dir, const char *name)
{
	struct eau2_error err = {0};
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.csv", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path, NULL);
	OK(eau2_export_csv(df, fd, UINT64_MAX, &err), path);
	close(fd);
}

/* Releases the tables, closes the store and removes its directory; prints
 * the peak RSS so far (the store's pages this process touched count). */
static void close_store(eau2 *db, const char *store, eau2_df *facts,
			eau2_df *sales, eau2_df *dim, eau2_df *dim2)
{
	struct rusage ru;

	eau2_df_release(facts);
	eau2_df_release(sales);
	eau2_df_release(dim);
	eau2_df_release(dim2);
	eau2_close(db);
	nftw(store, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("  eau2 peak RSS %.2f GB\n", (double)ru.ru_maxrss / 1048576.0);
}

struct query {
	const char *label;
	const char *rower;
	const char *names[3], *values[3];
	size_t nargs;
	const char *sql; /* DuckDB equivalent (see compare script) */
};

static const struct query queries[] = {
	{ "groupby int key, 100 groups", "groupby", { "by", "agg" },
	  { "k100", "sum:v,mean:x" }, 2, "g_k100" },
	{ "groupby string key, 100 groups", "groupby", { "by", "agg" },
	  { "s100", "sum:v,mean:x" }, 2, "g_s100" },
	{ "groupby 2 string keys, 1000 groups", "groupby", { "by", "agg" },
	  { "sa,sb", "sum:v,mean:x" }, 2, "g_sa_sb" },
	{ "groupby int key, 1e5 groups", "groupby", { "by", "agg" },
	  { "k1e5", "sum:v,mean:x" }, 2, "g_k1e5" },
	{ "groupby int key, 1e6 groups", "groupby", { "by", "agg" },
	  { "k1e6", "sum:v,mean:x" }, 2, "g_k1e6" },
	{ "join with 1e5-row dim (inner)", "join", { "with", "on", "how" },
	  { "bench/dim", "dk", "inner" }, 3, "j_dim" },
	/* Every row matches once above, so the result shares the input's
	 * chunks; here one key is missing and every column is written. */
	{ "join, dim lacking 1 key (copies)", "join", { "with", "on", "how" },
	  { "bench/dim2", "dk", "inner" }, 3, "j_dim2" },
	{ "filter v < 5000 and x > 25 (~25%)", "filter", { "where" },
	  { "v < 5000 and x > 25" }, 1, "f" },
	{ "map y = v * 2 + dk", "map", { "name", "expr" },
	  { "y", "v * 2 + dk" }, 2, "m" },
};
#define NQ (sizeof(queries) / sizeof(queries[0]))

int main(int argc, char **argv)
{
	struct eau2_error err = {0};
	uint64_t rows = getenv("EAU2_TEST_QUICK") ? 1000000 : 10000000;
	unsigned reps = 3;
	bool duck = true;
	const char *only = NULL; /* run the queries whose label contains it */
	char store[] = "/dev/shm/eau2-bench-rel-XXXXXX";
	char csvdir[] = "/dev/shm/eau2-bench-rel-csv-XXXXXX";
	eau2 *db;
	eau2_df *facts, *sales, *dim, *dim2;
	eau2_schema *schema;
	double t0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--big")) {
			rows = 100000000;
		} else if (!strcmp(argv[i], "--rows") && i + 1 < argc) {
			rows = arg_num("--rows", argv[++i], false);
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = (unsigned)arg_num("--reps", argv[++i], false);
		} else if (!strcmp(argv[i], "--no-duckdb")) {
			duck = false;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--rows N] [--big] [--reps N] "
				"[--no-duckdb] [--only LABEL-SUBSTRING]\n", argv[0]);
			return 2;
		}
	}
	if (reps == 0)
		reps = 1;
	if (!mkdtemp(store))
		die("mkdtemp", NULL);
	OK(eau2_env_open(&db, store, &err), "open");

	if (only && strchr(only, '\'')) {
		fprintf(stderr, "bench_relational: --only must not contain '\n");
		return 2;
	}
	/* Tables the selected queries read. */
	bool need_facts = false, need_sales = false, need_dim = false, need_dim2 = false;
	for (size_t q = 0; q < NQ; q++) {
		if (only && !strstr(queries[q].label, only))
			continue;
		if (!strcmp(queries[q].rower, "groupby"))
			need_facts = true;
		else
			need_sales = true;
		if (!strcmp(queries[q].rower, "join")) {
			need_dim |= !strcmp(queries[q].values[0], "bench/dim");
			need_dim2 |= !strcmp(queries[q].values[0], "bench/dim2");
		}
	}
	facts = sales = dim = dim2 = NULL;

	printf("bench_relational: %llu rows, best of %u, threads 1 and %u\n",
	       (unsigned long long)rows, reps, eau2_default_threads());
	t0 = now();
	struct sink s = { .seed = 42, .rows = rows };
	if (need_facts) {
		OK(eau2_schema_parse("k100:int,s100:string,sa:string,sb:string,"
				     "k1e5:int,k1e6:int,v:int,x:double", &schema,
				     &err), "schema");
		OK(eau2_df_from_visitor(db, schema, fill_facts, &s, &facts, &err),
		   "facts");
		eau2_schema_free(schema);
	}
	if (need_sales) {
		s = (struct sink){ .seed = 43, .rows = rows };
		OK(eau2_schema_parse("dk:int,v:int,x:double", &schema, &err), "schema");
		OK(eau2_df_from_visitor(db, schema, fill_sales, &s, &sales, &err),
		   "sales");
		eau2_schema_free(schema);
	}
	if (need_dim) {
		s = (struct sink){ .seed = 44, .rows = 1 };
		OK(eau2_schema_parse("dk:int,name:string,w:double", &schema, &err),
		   "schema");
		OK(eau2_df_from_visitor(db, schema, fill_dim, &s, &dim, &err), "dim");
		eau2_schema_free(schema);
		OK(eau2_put(db, "bench/dim", dim, &err), "put dim");
	}
	if (need_dim2) {
		s = (struct sink){ .seed = 44, .rows = 2 };
		OK(eau2_schema_parse("dk:int,name:string,w:double", &schema, &err),
		   "schema");
		OK(eau2_df_from_visitor(db, schema, fill_dim, &s, &dim2, &err), "dim2");
		eau2_schema_free(schema);
		OK(eau2_put(db, "bench/dim2", dim2, &err), "put dim2");
	}
	printf("  generated in %.2f s (facts %.0f MB, sales %.0f MB)\n",
	       now() - t0, facts ? (double)eau2_df_bytes(facts) / 1e6 : 0.0,
	       sales ? (double)eau2_df_bytes(sales) / 1e6 : 0.0);

	unsigned threads[2] = { 1, eau2_default_threads() };
	size_t nthreads = threads[1] > 1 ? 2 : 1;
	printf("\n  %-38s %8s %10s %12s %10s %8s\n", "query (eau2)", "threads",
	       "seconds", "rows/s", "out rows", "cpu s");
	for (size_t q = 0; q < NQ; q++) {
		const struct query *qu = &queries[q];
		const struct eau2_rower_class *cls = eau2_rower_find(qu->rower);
		if (only && !strstr(qu->label, only))
			continue;
		struct eau2_args args = { qu->nargs, qu->names, qu->values };
		const eau2_df *in = strcmp(qu->rower, "groupby") ? sales : facts;
		if (!cls)
			die(qu->rower, NULL);
		for (size_t t = 0; t < nthreads; t++) {
			struct eau2_run_options opt = { .threads = threads[t] };
			double best = 1e300, best_cpu = 0;
			uint64_t out_rows = 0;
			for (unsigned r = 0; r < reps; r++) {
				eau2_df *res;
				double a = now(), c = cpu_now();
				OK(eau2_run(db, in, cls, &args, &opt, &res, &err), qu->label);
				double el = now() - a;
				if (el < best)
					best_cpu = cpu_now() - c;
				best = el < best ? el : best;
				out_rows = eau2_df_rows(res);
				eau2_df_release(res);
			}
			printf("  %-38s %8u %10.3f %12.3g %10llu %8.3f\n", qu->label,
			       threads[t], best, (double)eau2_df_rows(in) / best,
			       (unsigned long long)out_rows, best_cpu);
			fflush(stdout);
		}
	}

	if (duck) {
		char script[4200], cmd[9000], src[4096];
		snprintf(src, sizeof(src), "%s", __FILE__);
		const char *bdir = dirname(src); /* this file's directory */
		snprintf(script, sizeof(script), "%s/compare/duckdb_relational.mjs",
			 bdir);
		char mods[4300];
		snprintf(mods, sizeof(mods), "%s/compare/node_modules/@duckdb/node-api",
			 bdir);
		if (access(script, R_OK) || access(mods, R_OK)) {
			printf("\n  DuckDB: skipped (run `npm i` in bench/compare)\n");
		} else if (!mkdtemp(csvdir)) {
			die("mkdtemp", NULL);
		} else {
			t0 = now();
			if (facts)
				export(facts, csvdir, "facts");
			if (sales)
				export(sales, csvdir, "sales");
			if (dim)
				export(dim, csvdir, "dim");
			if (dim2)
				export(dim2, csvdir, "dim2");
			printf("\n  CSV for DuckDB written in %.1f s\n", now() - t0);
			/* The store goes before DuckDB loads its copy. */
			close_store(db, store, facts, sales, dim, dim2);
			db = NULL;
			snprintf(cmd, sizeof(cmd), "node '%s' --unlink-csv%s%s%s "
				 "'%s' %u %u %u", script, only ? " --only '" : "",
				 only ? only : "", only ? "'" : "", csvdir, reps,
				 threads[0], threads[nthreads - 1]);
			fflush(stdout);
			if (system(cmd) != 0)
				printf("  DuckDB: comparison script failed\n");
			nftw(csvdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
		}
	}
	if (db)
		close_store(db, store, facts, sales, dim, dim2);
	return 0;
}
