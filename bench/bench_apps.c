/* SPDX-License-Identifier: MIT */
/*
 * bench_apps.c - the seed applications as benchmarks, on data made by
 * `eau2 gen` and loaded by `eau2 load` (the eau2 binary next to this one,
 * or $EAU2_BIN_DIR/eau2) into a fresh store under /dev/shm, then run in
 * this process with eau2_run on 1 and 2 threads (best of --reps):
 *
 *  wordcount   text (--format lines), GB/s of text; target >= 1 GB/s on
 *              2 cores; next to a read baseline (summing the same string
 *              bytes as 64-bit words on as many threads)
 *  urlfreq     access logs (--format lines), GB/s; same baseline
 *  linus       commits/users/projects SoR tables, 4 degrees from user 0;
 *              time at two sizes (scaling), peak RSS of this process
 *              during the run over the loaded bytes; target (issue): 1e8
 *              commits in < 60 s with peak < 1.5x the data
 *  bikes       trips/stations/weather CSV tables, the three queries;
 *              target: all three over 5e7 trips < 10 s (smaller runs are
 *              scaled linearly to 5e7 for the ratio)
 *  mandelbrot  compute-bound, no input; speed-up from 1 to 2 threads
 *              (target >= 1.9)
 *
 * Default sizes finish in a few minutes (wordcount 2 GiB, urlfreq 1 GiB,
 * linus 1e7 commits, bikes 5e6 trips, mandelbrot 1600x1200x2000);
 * --big uses the full targets (4 GiB logs, 1e8 commits, 5e7
 * trips, 4000x3000); EAU2_TEST_QUICK shrinks everything. Each data set is
 * deleted before the next is made. Wall-clock figures on a shared host
 * are noisy: CPU-time figures (bytes per CPU-second x threads) are
 * printed next to them.
 *
 * Usage: bench_apps [--big] [--reps N] [--only NAME]
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"

static char eau2_bin[PATH_MAX + 16];
static char store_dir[] = "/dev/shm/eau2-bench-apps-XXXXXX";
static char data_dir[PATH_MAX + 16];
static eau2 *db;
static int reps = 3;

/* Runs a shell command (paths here are mkdtemp names: no quoting needed). */
static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_apps: failed: %s\n", cmd);
		exit(1);
	}
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		die(path, NULL);
	return (uint64_t)st.st_size;
}

/* gen NAME into data_dir/FILE (or a directory), timing it. */
static void gen(const char *name, const char *out, const char *size_opt)
{
	double t0 = now();

	sh("%s gen %s --out %s/%s %s 2>/dev/null", eau2_bin, name, data_dir, out,
	   size_opt);
	printf("  gen %-8s %-14s %.1f s\n", name, size_opt, now() - t0);
}

static eau2_df *load(const char *file, const char *key, const char *opts)
{
	struct eau2_error err = {0};
	eau2_df *df = NULL;
	char path[PATH_MAX + 64];
	double t0 = now();

	snprintf(path, sizeof(path), "%s/%s", data_dir, file);
	uint64_t bytes = file_size(path);
	sh("%s --store %s load %s --as %s %s 2>/dev/null", eau2_bin, store_dir,
	   path, key, opts);
	double dt = now() - t0;
	unlink(path);
	if (eau2_get(db, key, &df, &err) != 0)
		die(key, &err);
	printf("  load %-12s %8.1f MB in %6.2f s (%.0f MB/s): %llu rows, %.1f MB "
	       "in the store\n", file, (double)bytes / 1e6, dt, (double)bytes / 1e6 / dt,
	       (unsigned long long)eau2_df_rows(df), (double)eau2_df_bytes(df) / 1e6);
	return df;
}

static void drop(eau2_df *df, const char *key)
{
	eau2_df_release(df);
	(void)eau2_delete(db, key, NULL);
}

struct timing {
	double wall, cpu; /* best wall time; cpu time of that run */
};

static struct timing run_best(const eau2_df *df, const char *name,
			      const struct eau2_args *args, unsigned threads,
			      eau2_df **last)
{
	const struct eau2_rower_class *cls = eau2_rower_find(name);
	struct eau2_run_options opt = { .threads = threads };
	struct eau2_error err = {0};
	struct timing best = { 1e30, 0 };

	if (!cls)
		die(name, NULL);
	for (int rep = 0; rep < reps; rep++) {
		eau2_df *res = NULL;
		double t0 = now(), c0 = cpu_now();
		if (eau2_run(db, df, cls, args, &opt, &res, &err) != 0)
			die(name, &err);
		double dt = now() - t0, dc = cpu_now() - c0;
		if (dt < best.wall)
			best = (struct timing){ dt, dc };
		if (rep == reps - 1 && last)
			*last = res;
		else
			eau2_df_release(res);
	}
	return best;
}

/* args from "k=v" strings */
struct args {
	struct eau2_args a;
	const char *names[8], *values[8];
	char buf[8][256];
};

static const struct eau2_args *mkargs(struct args *x, size_t n, const char *const *kv)
{
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(x->buf[i], sizeof(x->buf[i]), "%s", kv[i]);
		char *eq = strchr(x->buf[i], '=');
		*eq = 0;
		x->names[i] = x->buf[i];
		x->values[i] = eq + 1;
	}
	x->a = (struct eau2_args){ n, x->names, x->values };
	return &x->a;
}

/* ------------------------------------------- read baseline over strings */

struct reader {
	const eau2_df *df;
	size_t g0, g1;
	uint64_t sum;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct eau2_error err = {0};

	for (size_t g = r->g0; g < r->g1; g++) {
		struct eau2_chunk_view v;
		if (eau2_df_chunk(r->df, 0, g, &v, &err) != 0)
			die("chunk", &err);
		size_t n = (size_t)v.values.offsets[v.rows] / 8;
		const uint64_t *p = (const uint64_t *)(const void *)v.data;
		uint64_t s0 = 0, s1 = 0;
		for (size_t i = 0; i + 2 <= n; i += 2) {
			uint64_t a, b;
			memcpy(&a, p + i, 8);
			memcpy(&b, p + i + 1, 8);
			s0 += a;
			s1 += b;
		}
		r->sum += s0 + s1;
	}
	return NULL;
}

/* Best seconds to sum the string bytes of column 0 on `threads` threads. */
static double read_baseline(const eau2_df *df, unsigned threads)
{
	double best = 1e30;
	size_t ng = eau2_df_ngroups(df);

	for (int rep = 0; rep < reps; rep++) {
		pthread_t t[2];
		struct reader r[2];
		double t0 = now();
		for (unsigned i = 0; i < threads; i++) {
			r[i] = (struct reader){ df, ng * i / threads, ng * (i + 1) / threads, 0 };
			pthread_create(&t[i], NULL, reader_main, &r[i]);
		}
		for (unsigned i = 0; i < threads; i++)
			pthread_join(t[i], NULL);
		double dt = now() - t0;
		best = dt < best ? dt : best;
	}
	return best;
}

/* ------------------------------------------------------------ the apps */

static void bench_text_app(const char *app, const char *generator,
			   uint64_t bytes, double target_gbs)
{
	char size_opt[64];
	eau2_df *df, *res = NULL;

	printf("\n%s: %.2f GiB of %s\n", app, (double)bytes / (1 << 30), generator);
	snprintf(size_opt, sizeof(size_opt), "--size %llu", (unsigned long long)bytes);
	gen(generator, "in.txt", size_opt);
	df = load("in.txt", "in", "--format lines");
	for (unsigned t = 1; t <= 2; t++) {
		double base = read_baseline(df, t);
		struct timing tm = run_best(df, app, NULL, t, &res);
		double gbs = (double)bytes / tm.wall / 1e9;
		double cpu_gbs = (double)bytes / (tm.cpu / t) / 1e9;
		printf("  %s %u thread%s: %.3f s, %.2f GB/s (CPU-time %.2f GB/s); read "
		       "baseline %.2f GB/s (%.0f%%); target %.1f GB/s on 2 cores: "
		       "ratio %.2f\n", app, t, t > 1 ? "s" : " ", tm.wall, gbs, cpu_gbs,
		       (double)bytes / base / 1e9, 100 * base / tm.wall, target_gbs,
		       gbs / target_gbs);
		if (t == 2)
			printf("  result: %llu rows\n", (unsigned long long)eau2_df_rows(res));
		eau2_df_release(res);
		res = NULL;
	}
	drop(df, "in");
}

/* Peak RSS (VmHWM, bytes) since the last reset_peak. */
static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

static uint64_t peak_rss(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	uint64_t kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			kb = strtoull(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb * 1024;
}

static double bench_linus_at(uint64_t commits, bool report)
{
	char opt[64];
	struct args a;
	const char *kv[] = { "users=users", "projects=projects", "start=0",
			     "degrees=4" };
	eau2_df *c, *u, *p, *res = NULL;

	printf("\nlinus: %llu commits, %llu users, %llu projects, 4 degrees\n",
	       (unsigned long long)commits, (unsigned long long)commits / 10,
	       (unsigned long long)commits / 10);
	snprintf(opt, sizeof(opt), "--rows %llu", (unsigned long long)commits);
	gen("linus", "linus", opt);
	p = load("linus/projects.sor", "projects", "");
	u = load("linus/users.sor", "users", "");
	c = load("linus/commits.sor", "commits", "");
	uint64_t data = eau2_df_bytes(c) + eau2_df_bytes(u) + eau2_df_bytes(p);
	double t2 = 0;
	for (unsigned t = 2; t >= 1; t--) {
		reset_peak();
		uint64_t rss0 = peak_rss();
		struct timing tm = run_best(c, "linus", mkargs(&a, 4, kv), t, &res);
		uint64_t peak = peak_rss();
		printf("  linus %u thread%s: %.2f s (%.1f M commit-passes/s, 8 passes); "
		       "peak RSS %.0f MB (%.2fx the %.0f MB loaded; %.0f MB before)\n",
		       t, t > 1 ? "s" : " ", tm.wall,
		       8.0 * (double)commits / tm.wall / 1e6, (double)peak / 1e6,
		       (double)peak / (double)data, (double)data / 1e6, (double)rss0 / 1e6);
		if (t == 2) {
			t2 = tm.wall;
			struct eau2_error err = {0};
			for (uint64_t r = 0; r < eau2_df_rows(res); r++) {
				int64_t v[4] = {0};
				for (size_t k = 0; k < 4; k++)
					eau2_df_get_int(res, k, r, &v[k], &err);
				printf("    degree %lld: %lld new users, %lld new projects, "
				       "%lld reached\n", (long long)v[0], (long long)v[1],
				       (long long)v[2], (long long)v[3]);
			}
		}
		eau2_df_release(res);
		res = NULL;
	}
	if (report)
		printf("  target 1e8 commits < 60 s on 2 cores: this size scaled to 1e8: "
		       "%.1f s, ratio %.2f\n", t2 * 1e8 / (double)commits,
		       60.0 / (t2 * 1e8 / (double)commits));
	drop(c, "commits");
	drop(u, "users");
	drop(p, "projects");
	char dir[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/linus", data_dir);
	rmdir(dir);
	return t2;
}

static void bench_bikes(uint64_t trips)
{
	char opt[64], dir[PATH_MAX + 64];
	struct args a;
	eau2_df *w, *s, *t, *res = NULL;

	printf("\nbikes: %llu trips\n", (unsigned long long)trips);
	snprintf(opt, sizeof(opt), "--rows %llu", (unsigned long long)trips);
	gen("bikes", "bikes", opt);
	w = load("bikes/weather.csv", "weather", "");
	s = load("bikes/stations.csv", "stations", "");
	t = load("bikes/trips.csv", "trips", "");
	snprintf(dir, sizeof(dir), "%s/bikes", data_dir);
	rmdir(dir);
	for (unsigned th = 1; th <= 2; th++) {
		double total = 0, cpu = 0;
		for (int q = 1; q <= 3; q++) {
			char qa[16];
			snprintf(qa, sizeof(qa), "query=%d", q);
			const char *kv[] = { "stations=stations", "weather=weather", qa };
			/* the skipped-trip notes go to stderr once per run */
			struct timing tm = run_best(t, "bikes", mkargs(&a, 3, kv), th, &res);
			printf("  query %d, %u thread%s: %.3f s (%.1f M trips/s), %llu result "
			       "rows\n", q, th, th > 1 ? "s" : " ", tm.wall,
			       (double)trips / tm.wall / 1e6,
			       (unsigned long long)eau2_df_rows(res));
			total += tm.wall;
			cpu += tm.cpu;
			eau2_df_release(res);
			res = NULL;
		}
		double scaled = total * 5e7 / (double)trips;
		printf("  all three, %u thread%s: %.2f s (CPU %.2f s); scaled to 5e7 trips "
		       "%.1f s; target < 10 s on 2 cores: ratio %.2f\n", th,
		       th > 1 ? "s" : " ", total, cpu, scaled, 10.0 / scaled);
	}
	drop(w, "weather");
	drop(s, "stations");
	drop(t, "trips");
}

static void bench_mandelbrot(int w, int h, int iter)
{
	char ws[32], hs[32], is[32];
	struct args a;
	const struct eau2_rower_class *cls = eau2_rower_find("mandelbrot");
	struct eau2_error err = {0};
	eau2_df *dummy = NULL;
	int64_t zero = 0;
	double t1 = 0, c1 = 0;

	snprintf(ws, sizeof(ws), "width=%d", w);
	snprintf(hs, sizeof(hs), "height=%d", h);
	snprintf(is, sizeof(is), "iter=%d", iter);
	char ts[32];
	const char *kv[] = { ws, hs, is, "result=summary", ts };
	printf("\nmandelbrot: %d x %d, at most %d iterations\n", w, h, iter);
	/* the rower ignores its input; the executor may refuse none */
	if (eau2_df_from_array(db, "x", EAU2_INT, &zero, 1, &dummy, &err) != 0)
		die("dummy", &err);
	for (unsigned t = 1; t <= 2; t++) {
		double best = 1e30, best_cpu = 0;
		eau2_df *res = NULL;
		for (int rep = 0; rep < reps; rep++) {
			struct eau2_run_options opt = { .threads = t };
			/* threads=N sizes the pool of the rower's inner run */
			snprintf(ts, sizeof(ts), "threads=%u", t);
			double t0 = now(), c0 = cpu_now();
			if (eau2_run(db, dummy, cls, mkargs(&a, 5, kv), &opt, &res, &err) != 0)
				die("mandelbrot", &err);
			double dt = now() - t0, dc = cpu_now() - c0;
			if (dt < best) {
				best = dt;
				best_cpu = dc;
			}
			if (rep < reps - 1) {
				eau2_df_release(res);
				res = NULL;
			}
		}
		int64_t total = 0;
		eau2_df_get_int(res, 3, 0, &total, &err);
		printf("  %u thread%s: %.3f s, %.0f M iterations/s, CPU %.3f s (%.2f "
		       "cores busy)", t, t > 1 ? "s" : " ", best,
		       (double)total / best / 1e6, best_cpu, best_cpu / best);
		if (t == 1) {
			t1 = best;
			c1 = best_cpu;
		} else {
			printf("; speed-up %.2f (target >= 1.9: ratio %.2f); CPU-time "
			       "speed-up (cores to itself) %.2f", t1 / best,
			       t1 / best / 1.9, c1 / (best_cpu / 2));
		}
		printf("\n");
		eau2_df_release(res);
	}
	eau2_df_release(dummy);
}

int main(int argc, char **argv)
{
	bool quick = getenv("EAU2_TEST_QUICK") != NULL, big = false;
	const char *only = NULL;
	struct eau2_error err = {0};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--big"))
			big = true;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = (int)arg_num("--reps", argv[++i], false);
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: %s [--big] [--reps N] [--only NAME]\n", argv[0]);
			return 2;
		}
	}
	if (reps < 1)
		reps = 1;
	const char *bindir = getenv("EAU2_BIN_DIR");
	if (bindir) {
		snprintf(eau2_bin, sizeof(eau2_bin), "%s/eau2", bindir);
	} else {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			die("/proc/self/exe", NULL);
		self[n] = 0;
		*strrchr(self, '/') = 0;
		snprintf(eau2_bin, sizeof(eau2_bin), "%s/eau2", self);
	}
	if (access(eau2_bin, X_OK) != 0) {
		fprintf(stderr, "bench_apps: %s not found (set EAU2_BIN_DIR)\n", eau2_bin);
		return 77;
	}
	if (!mkdtemp(store_dir))
		die("mkdtemp", NULL);
	snprintf(data_dir, sizeof(data_dir), "%s/data", store_dir);
	if (mkdir(data_dir, 0700) != 0)
		die(data_dir, NULL);
	/* the store lives in a subdirectory so that data/ is not in it */
	char sdir[PATH_MAX];
	snprintf(sdir, sizeof(sdir), "%s/store", store_dir);
	if (eau2_env_open(&db, sdir, &err) != 0)
		die("open", &err);
	strcpy(store_dir + strlen(store_dir), "/store");
	printf("bench_apps: %u threads by default on this host, %d reps%s\n",
	       eau2_default_threads(), reps, big ? ", --big" : quick ? ", quick" : "");

	if (!only || !strcmp(only, "wordcount"))
		bench_text_app("wordcount", "text", quick ? 128ull << 20 : 2ull << 30, 1.0);
	if (!only || !strcmp(only, "urlfreq"))
		bench_text_app("urlfreq", "logs", quick ? 64ull << 20 :
			       big ? 4ull << 30 : 1ull << 30, 1.0);
	if (!only || !strcmp(only, "linus")) {
		uint64_t c = quick ? 500000 : big ? 100000000 : 10000000;
		double ts = bench_linus_at(c / 4, false);
		double tl = bench_linus_at(c, true);
		printf("  scaling: 4x the commits took %.2fx the time\n", tl / ts);
	}
	if (!only || !strcmp(only, "bikes"))
		bench_bikes(quick ? 200000 : big ? 50000000 : 5000000);
	if (!only || !strcmp(only, "mandelbrot")) {
		if (quick)
			bench_mandelbrot(400, 300, 500);
		else if (big)
			bench_mandelbrot(4000, 3000, 2000);
		else
			bench_mandelbrot(1600, 1200, 2000);
	}

	eau2_close(db);
	store_dir[strlen(store_dir) - strlen("/store")] = 0;
	nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
