/* SPDX-License-Identifier: MIT */
/*
 * bench_load.c - CSV load throughput against this machine's own baseline:
 * reading the same file from the page cache with a read() loop, measured
 * in the same run.
 *
 *   bench_load [FILE.csv] [MB]
 *
 * Without FILE it generates (once, kept for later runs) a CSV of MB
 * megabytes (default 1024, or $EAU2_BENCH_MB) under $TMPDIR (default
 * /tmp): columns id:int, price:double, name:string, qty:int, score:double,
 * city:string. It then loads the file into a fresh store under /dev/shm
 * with 1 and 2 threads (best of 3 runs each) and prints MB/s and the
 * ratio to the read() loop, and the CPU seconds the load took (user +
 * system, all threads: on a busy machine the clearer figure). Last, the
 * store's share: the same number of rows appended straight to a builder.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"

static char *put_u(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static int generate(const char *path, uint64_t bytes)
{
	static const char *names[] = { "alpha", "bravo", "charlie", "delta", "echo",
				       "foxtrot", "golf", "hotel", "india", "juliet" };
	static const char *cities[] = { "Boston", "Montreal", "New York", "Paris",
					"San Francisco", "Tokyo", "\"Quoted, City\"" };
	char *buf = malloc(1 << 20);
	uint64_t seed = 1, written = 0, id = 0;
	FILE *f = fopen(path, "w");

	if (!f || !buf)
		return -1;
	fputs("id,price,name,qty,score,city\n", f);
	while (written < bytes) {
		char *p = buf;

		while (p < buf + (1 << 20) - 256) {
			uint64_t r = rnd(&seed);

			p = put_u(p, id++);
			*p++ = ',';
			p = put_u(p, r % 100000);
			*p++ = '.';
			p = put_u(p, 10 + (r >> 20) % 90);
			*p++ = ',';
			p += sprintf(p, "%s%u", names[(r >> 30) % 10], (unsigned)((r >> 34) % 1000));
			*p++ = ',';
			if ((r >> 44) % 50)
				p = put_u(p, (r >> 40) % 500);
			*p++ = ',';
			*p++ = '-';
			p = put_u(p, (r >> 12) % 10);
			*p++ = '.';
			p = put_u(p, 100000 + (r >> 24) % 900000);
			*p++ = ',';
			p += sprintf(p, "%s", cities[(r >> 50) % 7]);
			*p++ = '\n';
		}
		if (fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf))
			return -1;
		written += (uint64_t)(p - buf);
	}
	free(buf);
	return fclose(f);
}

static double read_loop(const char *path, uint64_t *total)
{
	char *buf = malloc(1 << 20);
	int fd = open(path, O_RDONLY);
	double t0 = now();
	ssize_t k;

	*total = 0;
	while ((k = read(fd, buf, 1 << 20)) > 0)
		*total += (uint64_t)k;
	t0 = now() - t0;
	close(fd);
	free(buf);
	return t0;
}

/* The store's share: the same rows appended to a builder with no parsing
 * (values as the generator makes them), on one thread. */
static double builder_only(eau2 *db, uint64_t rows, double *cpu_s)
{
	static const char *names[] = { "alpha123", "bravo45", "charlie678", "delta9" };
	static const char *cities[] = { "Boston", "Montreal", "New York", "Quoted, City" };
	struct eau2_error err = { 0 };
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	uint64_t seed = 1;
	double t = now(), c = cpu_now();

	if (eau2_schema_parse("id:int,price:double,name:string,qty:int,score:double,city:string",
			      &schema, &err) || eau2_builder_new(db, schema, &b, &err))
		goto fail;
	for (uint64_t r = 0; r < rows; r++) {
		uint64_t x = rnd(&seed);
		const char *n = names[x & 3], *ci = cities[(x >> 2) & 3];

		if (eau2_builder_append_int(b, 0, (int64_t)r, &err) ||
		    eau2_builder_append_double(b, 1, (double)(x % 10000000) / 100, &err) ||
		    eau2_builder_append_string(b, 2, n, strlen(n), &err) ||
		    eau2_builder_append_int(b, 3, (int64_t)(x >> 40) % 500, &err) ||
		    eau2_builder_append_double(b, 4, -(double)(x >> 24 & 0xfffff) / 1e5, &err) ||
		    eau2_builder_append_string(b, 5, ci, strlen(ci), &err))
			goto fail;
	}
	if (eau2_builder_finish(b, &df, &err))
		goto fail;
	t = now() - t;
	*cpu_s = cpu_now() - c;
	eau2_df_release(df);
	eau2_schema_free(schema);
	return t;
fail:
	fprintf(stderr, "builder: %s\n", err.msg);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *env = getenv("EAU2_BENCH_MB");
	uint64_t mb = argc > 2 ? arg_num("MB", argv[2], false) :
		      env ? arg_num("EAU2_BENCH_MB", env, false) : 1024;
	char gen[4096], dir[] = "/dev/shm/eau2-bench-load-XXXXXX";
	const char *path = argc > 1 ? argv[1] : NULL;
	struct eau2_error err = { 0 };
	struct stat st;
	eau2 *db = NULL;
	uint64_t bytes;
	double t_read = 1e30;
	uint64_t last_rows = 0;

	if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: %s [FILE.csv] [MB]\n"
			"Loads FILE (or a generated CSV of MB megabytes, default 1024 or\n"
			"$EAU2_BENCH_MB) on 1 and 2 threads against a read() loop.\n", argv[0]);
		return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 1;
	}

	if (!path) {
		const char *tmp = getenv("TMPDIR");

		snprintf(gen, sizeof(gen), "%s/eau2-bench-load-%llumb.csv", tmp ? tmp : "/tmp",
			 (unsigned long long)mb);
		path = gen;
		if (stat(path, &st) != 0) {
			double t = now();

			printf("generating %s (%llu MB)...\n", path, (unsigned long long)mb);
			if (generate(path, mb << 20)) {
				perror(path);
				return 1;
			}
			printf("  generated in %.1f s\n", now() - t);
		}
	}
	if (!mkdtemp(dir) || eau2_env_open(&db, dir, &err)) {
		fprintf(stderr, "store: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		double t = read_loop(path, &bytes);

		if (t < t_read)
			t_read = t;
	}
	printf("file: %s, %.1f MB\n", path, (double)bytes / 1e6);
	printf("baseline read() loop from page cache: %.0f MB/s\n", (double)bytes / t_read / 1e6);
	for (unsigned threads = 1; threads <= 2; threads++) {
		struct eau2_load_options opt = { .format = EAU2_FORMAT_CSV, .threads = threads };
		double best = 1e30, best_cpu = 0;
		uint64_t rows = 0;

		for (int i = 0; i < 3; i++) {
			struct eau2_load_stats stats;
			eau2_df *df = NULL;
			double t = now(), c = cpu_now();

			if (eau2_load(db, path, &opt, &df, &stats, &err)) {
				fprintf(stderr, "load: %s\n", err.msg);
				eau2_close(db);
				nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
				return 1;
			}
			t = now() - t;
			c = cpu_now() - c;
			rows = stats.rows;
			last_rows = rows;
			eau2_df_release(df);
			if (t < best) {
				best = t;
				best_cpu = c;
			}
		}
		printf("eau2_load csv, %u thread%s: %.0f MB/s (%.2f s, %llu rows), "
		       "ratio to read(): %.3f; %.0f MB per CPU-second (%.2f CPU-s)\n",
		       threads, threads > 1 ? "s" : "", (double)bytes / best / 1e6, best,
		       (unsigned long long)rows, t_read / best,
		       (double)bytes / best_cpu / 1e6, best_cpu);
	}
	{
		double c, t = builder_only(db, last_rows, &c);

		printf("store share: appending the same %llu rows to a builder, no parsing, "
		       "1 thread: %.2f s (%.2f CPU-s) = %.0f MB of CSV per second\n",
		       (unsigned long long)last_rows, t, c, (double)bytes / t / 1e6);
	}
	eau2_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
