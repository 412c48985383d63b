/* SPDX-License-Identifier: MIT */
/*
 * bench_rowers.c - throughput of the executor and two built-in rowers,
 * against this machine's own limit measured in the same run:
 *
 *  1. "sum" over one int64 column of --size bytes (default 2 GiB; 256 MiB
 *     with EAU2_TEST_QUICK) on 1 and 2 threads, in GB/s, next to a plain
 *     loop summing an equal in-memory array on the same number of pinned
 *     threads (the memory-read baseline). Prints sum/baseline (target
 *     >= 0.8).
 *  2. "wordcount" over --text bytes (default 1 GiB; 128 MiB quick) of
 *     generated Zipf-distributed words (50k-word vocabulary, s = 1.0), one
 *     ~80-byte line per row, built with a builder; GB/s of text on 1 and 2
 *     threads and the ratio to the read baseline.
 *
 * 3. The same two operations in DuckDB (bench/compare/duckdb_rowers.mjs,
 *    when `npm i` was run there; --no-duckdb skips it), GB/s over the same
 *    byte counts, for the eau2/DuckDB ratio.
 *
 * Each figure is the best of --reps runs (default 3). The store is a fresh
 * directory under /dev/shm, removed at the end.
 *
 * Usage: bench_rowers [--size BYTES] [--text BYTES] [--reps N]
 */
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"

/* ------------------------------------------------ memory-read baseline */

struct reader {
	const int64_t *p;
	size_t n;
	int cpu;
	uint64_t sum;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;

	if (r->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(r->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	for (; i + 4 <= r->n; i += 4) {
		s0 += (uint64_t)r->p[i];
		s1 += (uint64_t)r->p[i + 1];
		s2 += (uint64_t)r->p[i + 2];
		s3 += (uint64_t)r->p[i + 3];
	}
	for (; i < r->n; i++)
		s0 += (uint64_t)r->p[i];
	r->sum = s0 + s1 + s2 + s3;
	return NULL;
}

static double read_baseline(const int64_t *a, size_t n, unsigned threads, int reps,
			    uint64_t *sum)
{
	cpu_set_t set;
	int cpus[64], ncpus = 0;
	double best = 1e30;

	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	for (int c = 0; c < CPU_SETSIZE && ncpus < 64; c++)
		if (CPU_ISSET(c, &set))
			cpus[ncpus++] = c;
	for (int rep = 0; rep < reps; rep++) {
		pthread_t t[64];
		struct reader r[64];
		double t0 = now();
		for (unsigned i = 0; i < threads; i++) {
			r[i] = (struct reader){ a + n * i / threads,
						n * (i + 1) / threads - n * i / threads,
						(int)threads <= ncpus ? cpus[i] : -1, 0 };
			pthread_create(&t[i], NULL, reader_main, &r[i]);
		}
		*sum = 0;
		for (unsigned i = 0; i < threads; i++) {
			pthread_join(t[i], NULL);
			*sum += r[i].sum;
		}
		double dt = now() - t0;
		best = dt < best ? dt : best;
	}
	return (double)n * 8 / best / 1e9;
}

/* Best wall-clock GB/s of reps runs; *cpu_gbs gets bytes per CPU-second
 * of that run times threads (what the threads would do with their cores
 * to themselves: this host may be shared). */
static double run_best(eau2 *db, const eau2_df *df, const char *name, unsigned threads,
		       int reps, double bytes, eau2_df **last, double *cpu_gbs)
{
	const struct eau2_rower_class *cls = eau2_rower_find(name);
	struct eau2_run_options opt = { .threads = threads };
	struct eau2_error err = {0};
	double best = 1e30;

	for (int rep = 0; rep < reps; rep++) {
		eau2_df *res = NULL;
		double t0 = now(), c0 = cpu_now();
		if (eau2_run(db, df, cls, NULL, &opt, &res, &err) != 0)
			die(name, &err);
		double dt = now() - t0, dc = cpu_now() - c0;
		if (dt < best)
			*cpu_gbs = bytes / (dc / threads) / 1e9;
		best = dt < best ? dt : best;
		if (rep == reps - 1 && last)
			*last = res;
		else
			eau2_df_release(res);
	}
	return bytes / best / 1e9;
}

/* ----------------------------------------------------------- Zipf text */

#define VOCAB 50000
#define INV_BITS 20 /* inverse-CDF table of 2^20 entries */

static eau2_df *make_text(eau2 *db, size_t bytes, uint64_t *out_bytes)
{
	struct eau2_error err = {0};
	static char words[VOCAB][16];
	static uint8_t lens[VOCAB];
	uint32_t *inv = malloc(sizeof(uint32_t) << INV_BITS);
	uint64_t s = 12345;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	char line[256];
	double h = 0, acc = 0;

	for (int w = 0; w < VOCAB; w++) {
		lens[w] = (uint8_t)(2 + rnd(&s) % 10);
		for (int i = 0; i < lens[w]; i++)
			words[w][i] = (char)('a' + rnd(&s) % 26);
		h += 1.0 / (w + 1);
	}
	for (size_t i = 0, w = 0; i < (1u << INV_BITS); i++) {
		double u = ((double)i + 0.5) / (1u << INV_BITS);
		while (w < VOCAB - 1 && acc + 1.0 / ((double)w + 1) / h < u)
			acc += 1.0 / ((double)(w++) + 1) / h;
		inv[i] = (uint32_t)w;
	}
	if (eau2_schema_parse("line:string", &schema, &err) ||
	    eau2_builder_new(db, schema, &b, &err))
		die("text schema", &err);
	*out_bytes = 0;
	while (*out_bytes < bytes) {
		size_t len = 0;
		while (len < 72) {
			uint64_t x = rnd(&s);
			uint32_t w = inv[x & ((1u << INV_BITS) - 1)];
			memcpy(line + len, words[w], lens[w]);
			len += lens[w];
			line[len++] = (x >> 40) % 16 == 0 ? '\t' : ' ';
		}
		len--; /* no trailing separator */
		if (eau2_builder_append_string(b, 0, line, len, &err))
			die("text append", &err);
		*out_bytes += len;
	}
	if (eau2_builder_finish(b, &df, &err))
		die("text finish", &err);
	eau2_schema_free(schema);
	free(inv);
	return df;
}

/* Writes df's string column 0 to path, one line per row. */
static void write_lines(const eau2_df *df, const char *path)
{
	struct eau2_error err = {0};
	FILE *f = fopen(path, "w");

	if (!f)
		die(path, NULL);
	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v;

		if (eau2_df_chunk(df, 0, g, &v, &err))
			die("text chunk", &err);
		for (uint32_t i = 0; i < v.rows; i++) {
			size_t len;
			const char *p = eau2_view_string(&v, i, &len);

			fwrite(p, 1, len, f);
			fputc('\n', f);
		}
	}
	if (fclose(f))
		die(path, NULL);
}

/* The same operations in DuckDB (bench/compare/duckdb_rowers.mjs), when
 * node and the compare directory's node_modules are there. */
static void duckdb_compare(const char *dir, const eau2_df *text, uint64_t tbytes,
			   size_t rows, int reps)
{
	char src[4096], script[4200], mods[4300], path[4200], cmd[9000];

	const char *bdir;

	snprintf(src, sizeof(src), "%s", __FILE__);
	bdir = dirname(src); /* this file's directory */
	snprintf(script, sizeof(script), "%s/compare/duckdb_rowers.mjs", bdir);
	snprintf(mods, sizeof(mods), "%s/compare/node_modules/@duckdb/node-api", bdir);
	if (access(script, R_OK) || access(mods, R_OK)) {
		printf("\n  DuckDB: skipped (run `npm i` in bench/compare)\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/text.txt", dir);
	write_lines(text, path);
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "node '%s' %zu '%s' %llu %d 1 2", script, rows, path,
		 (unsigned long long)tbytes, reps);
	if (system(cmd) != 0)
		printf("  DuckDB: comparison script failed\n");
	unlink(path);
}

int main(int argc, char **argv)
{
	bool quick = getenv("EAU2_TEST_QUICK") != NULL;
	size_t size = quick ? 256ull << 20 : 2ull << 30;
	size_t text = quick ? 128ull << 20 : 1ull << 30;
	int reps = 3;
	bool duck = !quick;
	struct eau2_error err = {0};
	char dir[] = "/dev/shm/eau2-bench-rowers-XXXXXX";
	eau2 *db = NULL;
	eau2_df *df = NULL, *res = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
			size = arg_num("--size", argv[++i], true);
		else if (strcmp(argv[i], "--text") == 0 && i + 1 < argc)
			text = arg_num("--text", argv[++i], true);
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = (int)arg_num("--reps", argv[++i], false);
		else if (strcmp(argv[i], "--no-duckdb") == 0)
			duck = false;
		else {
			fprintf(stderr, "usage: %s [--size BYTES] [--text BYTES] [--reps N] "
				"[--no-duckdb]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1 || size < 8)
		return 2;
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	if (eau2_env_open(&db, dir, &err))
		die("open", &err);

	/* 1. sum of an int64 column vs reading an equal array */
	size_t n = size / 8;
	int64_t *a = malloc(n * sizeof(*a));
	if (!a)
		die("malloc", NULL);
	uint64_t s = 1;
	for (size_t i = 0; i < n; i++)
		a[i] = (int64_t)(rnd(&s) >> 34); /* 30 bits: the sum fits int64 */
	if (eau2_df_from_array(db, "v", EAU2_INT, a, n, &df, &err))
		die("from_array", &err);
	printf("sum: int64 column, %.2f GiB, %zu row groups, default threads %u\n",
	       (double)n * 8 / (1 << 30), eau2_df_ngroups(df), eau2_default_threads());
	for (unsigned t = 1; t <= 2; t++) {
		uint64_t bsum;
		double base = read_baseline(a, n, t, reps, &bsum);
		double cg;
		double got = run_best(db, df, "sum", t, reps, (double)n * 8, &res, &cg);
		int64_t v = 0;
		eau2_df_get_int(res, 0, 0, &v, &err);
		eau2_df_release(res);
		printf("  threads %u: sum %.2f GB/s, memory read %.2f GB/s, ratio %.2f%s\n",
		       t, got, base, got / base, (uint64_t)v == bsum ? "" : "  (SUM MISMATCH)");
	}
	eau2_df_release(df);

	/* 2. wordcount over Zipf text */
	uint64_t tbytes;
	double t0 = now();
	df = make_text(db, text, &tbytes);
	printf("wordcount: %.2f GiB of Zipf text in %llu rows (built in %.1f s)\n",
	       (double)tbytes / (1 << 30), (unsigned long long)eau2_df_rows(df), now() - t0);
	double base1 = 0, base2 = 0;
	{
		uint64_t bsum;
		base1 = read_baseline(a, n, 1, reps, &bsum);
		base2 = read_baseline(a, n, 2, reps, &bsum);
	}
	free(a);
	for (unsigned t = 1; t <= 2; t++) {
		double cg;
		double got = run_best(db, df, "wordcount", t, reps, (double)tbytes, &res, &cg);
		printf("  threads %u: wordcount %.2f GB/s (per CPU-second x threads: %.2f GB/s; "
		       "%llu distinct words), ratio to memory read %.3f\n", t, got, cg,
		       (unsigned long long)eau2_df_rows(res), got / (t == 1 ? base1 : base2));
		eau2_df_release(res);
	}
	if (duck)
		duckdb_compare(dir, df, tbytes, n, reps);
	eau2_df_release(df);
	eau2_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
