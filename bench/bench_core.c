/* SPDX-License-Identifier: MIT */
/*
 * bench_core.c - the columnar core against this machine's own limits,
 * measured in the same run:
 *   put      building + sealing a ~2 GiB (int64, double, string) dataframe
 *            into the store, against memcpy of the same bytes into fresh
 *            memory (what any copy into new pages costs);
 *   open     another process opening a key and touching one value: a
 *            10 MB dataframe against a 2 GB one (median of runs);
 *   scan     summing an int64 column through chunk views, against a plain
 *            loop over an equal heap array (one thread each);
 *   offsets  the check that a string chunk's offsets never decrease (every
 *            chunk received, every first view in another process), over
 *            the string column: AVX2 against the scalar loop.
 *
 * usage: bench_core [--size BYTES] [--store DIR]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"
#include "df/df.h"

/* Rows of a dataframe with int64, double and a ~16-byte string column. */
static eau2_df *build(eau2 *db, uint64_t rows, const int64_t *iv, const double *dv,
		      const char *words, double *secs)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	uint64_t r;
	double t0 = now();

	if (eau2_schema_parse("i:int,d:double,s:string", &s, &err) ||
	    eau2_builder_new(db, s, &b, &err))
		die("builder", &err);
	for (r = 0; r < rows; r++) {
		if (eau2_builder_append_int(b, 0, iv[r], &err) ||
		    eau2_builder_append_double(b, 1, dv[r], &err) ||
		    eau2_builder_append_string(b, 2, words + (r & 1023) * 16, 16, &err))
			die("append", &err);
	}
	if (eau2_builder_finish(b, &df, &err))
		die("finish", &err);
	*secs = now() - t0;
	eau2_schema_free(s);
	return df;
}

/* Median time, in a fresh process, of open + get + one read. */
static double open_latency(const char *dir, const char *key)
{
	double times[15], t;
	int i, j, fds[2];

	for (i = 0; i < 15; i++) {
		pid_t pid;

		if (pipe(fds))
			exit(1);
		pid = fork();
		if (pid == 0) {
			struct eau2_error err = {0};
			eau2 *db;
			eau2_df *df;
			int64_t v;
			double t0 = now(), dt;

			if (eau2_env_open(&db, dir, &err) || eau2_get(db, key, &df, &err) ||
			    eau2_df_get_int(df, 0, eau2_df_rows(df) - 1, &v, &err))
				_exit(1);
			dt = now() - t0;
			if (write(fds[1], &dt, sizeof(dt)) != sizeof(dt))
				_exit(1);
			_exit(0);
		}
		close(fds[1]);
		if (read(fds[0], &times[i], sizeof(double)) != sizeof(double))
			times[i] = -1;
		close(fds[0]);
		waitpid(pid, NULL, 0);
	}
	for (i = 1; i < 15; i++) /* insertion sort */
		for (j = i; j > 0 && times[j] < times[j - 1]; j--) {
			t = times[j];
			times[j] = times[j - 1];
			times[j - 1] = t;
		}
	return times[7];
}

static volatile int64_t sink;

/* One summing loop for both sides, so the ratio compares memory paths and
 * not two compilations of the loop. */
__attribute__((noinline)) static int64_t sum_i64(const int64_t *a, size_t n)
{
	int64_t s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += a[i];
	return s;
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

static void scan(const char *dir, const int64_t *iv, uint64_t rows, double *cold,
		 double *warm, double *heap)
{
	double t[3];
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		exit(1);
	pid = fork();
	if (pid == 0) {
		struct eau2_error err = {0};
		struct eau2_chunk_view v;
		eau2 *db;
		eau2_df *df;
		int64_t sum = 0, sum2 = 0, *copy = malloc(rows * sizeof(*copy));
		size_t g;
		int pass;
		double t0;

		if (!copy || eau2_env_open(&db, dir, &err) || eau2_get(db, "big", &df, &err))
			die("scan: get", &err);
		memcpy(copy, iv, rows * sizeof(*copy));
		/* Pass 0 maps pages in; then the best of three warm passes of
		 * each side, interleaved so that noise hits both alike. */
		t[1] = t[2] = 1e30;
		for (pass = 0; pass < 4; pass++) {
			sum = 0;
			t0 = now();
			for (g = 0; g < eau2_df_ngroups(df); g++) {
				if (eau2_df_chunk(df, 0, g, &v, &err))
					die("chunk", &err);
				sum += sum_i64(v.values.i64, v.rows);
			}
			if (pass == 0)
				t[0] = now() - t0;
			else
				t[1] = min_d(t[1], now() - t0);
			t0 = now();
			sum2 = sum_i64(copy, rows);
			if (pass > 0)
				t[2] = min_d(t[2], now() - t0);
		}
		if (sum != sum2)
			die("scan", &(struct eau2_error){ .msg = "sums differ" });
		if (write(fds[1], t, sizeof(t)) != sizeof(t))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], t, sizeof(t)) != sizeof(t))
		exit(1);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	*cold = t[0];
	*warm = t[1];
	*heap = t[2];
}

/* Seconds to check the offsets of column col's chunks g0 .. g1 - 1,
 * each reps times in a row (reps > 1: from cache, as a chunk just
 * received is). */
static double offsets_pass(const eau2_df *df, size_t col, size_t g0, size_t g1, int reps)
{
	struct eau2_error err = {0};
	size_t ncols = eau2_df_ncols(df);
	double t0 = now();

	for (size_t g = g0; g < g1; g++) {
		const struct eau2_chunk_ref *ref = &df->chunk_refs[g * ncols + col];

		for (int r = 0; r < reps; r++)
			if (eau2_chunk_check_offsets(df->segs[ref->seg].base + ref->off, &err))
				die("offsets", &err);
	}
	return now() - t0;
}

/* t[0], t[1]: the whole column from memory, AVX2 then scalar; t[2], t[3]:
 * its first 16 chunks 64 times each, from cache. Best of five, the two
 * loops interleaved, after a pass that brings the offsets in. */
static void offsets(const eau2_df *df, size_t col, double t[4])
{
	size_t n = eau2_df_ngroups(df), hot = n < 16 ? n : 16;

	t[0] = t[1] = t[2] = t[3] = 1e30;
	offsets_pass(df, col, 0, n, 1);
	for (int i = 0; i < 5; i++)
		for (int simd = 1; simd >= 0; simd--) {
			eau2_chunk_simd(simd);
			t[1 - simd] = min_d(t[1 - simd], offsets_pass(df, col, 0, n, 1));
			t[3 - simd] = min_d(t[3 - simd], offsets_pass(df, col, 0, hot, 64));
		}
	eau2_chunk_simd(-1);
}

int main(int argc, char **argv)
{
	struct eau2_error err = {0};
	uint64_t size = 2ull << 30, rows, r, small_rows;
	const char *store = NULL;
	char *words, tmpl[] = "/dev/shm/eau2-bench-core-XXXXXX";
	int64_t *iv;
	double *dv, t0, t_memcpy, t_put, t_small, t_read, t_scan, t_scan_cold;
	double lat_small, lat_big, t_off[4];
	eau2 *db;
	eau2_df *df, *small;
	uint8_t *src, *dst;
	uint64_t bytes, est;
	int i, own_store = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = arg_num("--size", argv[++i], true);
		else if (!strcmp(argv[i], "--store") && i + 1 < argc)
			store = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--size BYTES] [--store DIR]\n", argv[0]);
			return 1;
		}
	}
	if (!store) {
		store = mkdtemp(tmpl);
		own_store = 1;
	}
	if (eau2_env_open(&db, store, &err))
		die("open", &err);
	rows = size / 40; /* 8 + 8 + 16 bytes + 8 of string offset */
	iv = malloc(rows * sizeof(*iv));
	dv = malloc(rows * sizeof(*dv));
	words = malloc(1024 * 16);
	for (r = 0; r < rows; r++) {
		iv[r] = (int64_t)(r * 2654435761u % 1000003);
		dv[r] = (double)r * 0.25;
	}
	for (r = 0; r < 1024 * 16; r++)
		words[r] = (char)('a' + r * 7 % 26);

	/* memcpy of the same number of bytes into fresh pages, first. */
	est = rows * 40;
	src = malloc(est);
	memset(src, 1, est);
	t0 = now();
	dst = malloc(est);
	memcpy(dst, src, est);
	t_memcpy = now() - t0;
	sink = dst[est / 2];
	free(src);
	free(dst);

	df = build(db, rows, iv, dv, words, &t_put);
	bytes = eau2_df_bytes(df);
	if (eau2_put(db, "big", df, &err))
		die("put", &err);

	small_rows = (10ull << 20) / 40;
	small = build(db, small_rows, iv, dv, words, &t_small);
	if (eau2_put(db, "small", small, &err))
		die("put small", &err);
	eau2_df_release(small);
	lat_small = open_latency(store, "small");
	lat_big = open_latency(store, "big");

	/* Scan, in a fresh reader process as a client would: the int column
	 * through chunk views (pass 1 maps pages in, pass 2 is warm) against
	 * the same values in a heap array of that process. */
	scan(store, iv, rows, &t_scan_cold, &t_scan, &t_read);
	offsets(df, 2, t_off);
	eau2_df_release(df);
	df = NULL;

	printf("eau2 core benchmark: %llu rows, %.2f GiB of chunks\n",
	       (unsigned long long)rows, (double)bytes / (1 << 30));
	printf("%-34s %10s %12s %8s\n", "measure", "time", "rate", "ratio");
	printf("%-34s %9.3fs %9.2f GB/s %8s\n", "memcpy to fresh pages (baseline)",
	       t_memcpy, (double)est / t_memcpy / 1e9, "1.00");
	printf("%-34s %9.3fs %9.2f GB/s %8.2f\n", "build+seal into store (put)",
	       t_put, (double)bytes / t_put / 1e9,
	       ((double)bytes / t_put) / ((double)est / t_memcpy));
	printf("%-34s %8.3fms %12s %8s\n", "open+get+touch, 10 MB (median)",
	       lat_small * 1e3, "", "1.00");
	printf("%-34s %8.3fms %12s %8.2f\n", "open+get+touch, big (median)",
	       lat_big * 1e3, "", lat_big / lat_small);
	printf("%-34s %9.3fs %9.2f GB/s %8s\n", "heap int64 read loop (baseline)",
	       t_read, (double)rows * 8 / t_read / 1e9, "1.00");
	printf("%-34s %9.3fs %9.2f GB/s %8.2f\n", "int64 column via views, warm",
	       t_scan, (double)rows * 8 / t_scan / 1e9, t_read / t_scan);
	printf("%-34s %9.3fs %9.2f GB/s %8.2f\n", "int64 column via views, 1st map",
	       t_scan_cold, (double)rows * 8 / t_scan_cold / 1e9, t_read / t_scan_cold);

	{
		/* 8 bytes of offset a row; the cached passes cover 16 chunks
		 * 64 times. */
		uint64_t hot = rows < 16ull * EAU2_CHUNK_ROWS ? rows : 16ull * EAU2_CHUNK_ROWS;
		double b[4] = { rows * 8.0, rows * 8.0, hot * 8.0 * 64, hot * 8.0 * 64 };
		const char *what[4] = { "offsets check, AVX2", "offsets check, scalar (baseline)",
					"offsets check from cache, AVX2",
					"offsets check from cache, scalar" };

		for (i = 3; i >= 0; i--)
			printf("%-34s %9.3fs %9.2f GB/s %8.2f\n", what[i], t_off[i],
			       b[i] / t_off[i] / 1e9, i % 2 ? 1.0 : t_off[i + 1] / t_off[i]);
	}

	eau2_delete(db, "big", NULL);
	eau2_delete(db, "small", NULL);
	eau2_close(db);
	if (own_store) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store);
		if (system(cmd))
			return 1;
	}
	free(iv);
	free(dv);
	free(words);
	return 0;
}
