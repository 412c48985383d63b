/* SPDX-License-Identifier: MIT */
/*
 * bench_cluster.c - what the cluster driver's own steps cost on one host,
 * against the local operation measured in the same run (issue #12; the
 * network is the transport's and is not in these figures):
 *
 *  1. A partition's run (eau2_cluster_run_part: the run plus encoding its
 *     state, what a node answers) over every partition of a dataframe cut
 *     in --parts pieces, against one local eau2_run over the whole, for
 *     wordcount and groupby: CPU seconds (ratio, target <= 1.15 for the
 *     whole distributed run), and the state bytes a driver would receive
 *     against the data bytes (wordcount target: <= 1%).
 *  2. Assembling a get (eau2_cluster_concat of the partitions) in GB/s,
 *     against memcpy of the same bytes: the driver copies values today.
 *
 * Each figure is the median of --reps runs (default 3). The store is a
 * fresh directory under /dev/shm, removed at the end.
 *
 * Usage: bench_cluster [--rows N] [--parts P] [--reps N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cluster/cluster.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* rows rows: w a line of 8 Zipf-ish words, g one of 1000 keys, x a value,
 * in row groups of EAU2_CHUNK_ROWS. */
static eau2_df *make_df(eau2 *db, uint64_t rows)
{
	static const char *const words[] = {
		"the", "of", "and", "to", "in", "is", "that", "for", "it", "as",
		"was", "with", "be", "by", "on", "not", "he", "this", "are", "or",
		"his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
	};
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	uint64_t seed = 42;

	if (eau2_schema_parse("w:string,g:int,x:double", &s, &err) ||
	    eau2_builder_new(db, s, &b, &err))
		die("schema", &err);
	eau2_schema_free(s);
	for (uint64_t r = 0; r < rows; r++) {
		char line[256];
		size_t n = 0;

		for (int k = 0; k < 8; k++) {
			uint64_t z = rnd(&seed);
			/* Low indices far more often: min of two draws, twice. */
			uint64_t i = z % 30, j = (z >> 20) % 30, l = (z >> 40) % 30;
			const char *w = words[i < j ? (i < l ? i : l) : (j < l ? j : l)];

			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", k ? " " : "", w);
		}
		if (eau2_builder_append_string(b, 0, line, n, &err) ||
		    eau2_builder_append_int(b, 1, (int64_t)(rnd(&seed) % 1000), &err) ||
		    eau2_builder_append_double(b, 2, (double)(rnd(&seed) % 100000) / 7, &err))
			die("append", &err);
	}
	if (eau2_builder_finish(b, &df, &err))
		die("finish", &err);
	return df;
}

struct rower_case {
	const char *name;
	const char *names[2];
	const char *values[2];
	size_t nargs;
};

int main(int argc, char **argv)
{
	static const struct rower_case cases[] = {
		{ "wordcount", { "column" }, { "w" }, 1 },
		{ "groupby", { "by", "agg" }, { "g", "count,sum:x,mean:x" }, 2 },
	};
	uint64_t rows = getenv("EAU2_TEST_QUICK") ? 200000 : 2000000;
	int reps = 3, nparts = 3;
	struct eau2_error err = {0};
	char dir[] = "/dev/shm/eau2-bench-cluster-XXXXXX";
	eau2 *db;
	eau2_df *df, **parts;
	uint64_t bytes;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rows") && i + 1 < argc)
			rows = arg_num("--rows", argv[++i], false);
		else if (!strcmp(argv[i], "--parts") && i + 1 < argc)
			nparts = (int)arg_num("--parts", argv[++i], false);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = (int)arg_num("--reps", argv[++i], false);
		else {
			fprintf(stderr, "usage: bench_cluster [--rows N] [--parts P] [--reps N]\n");
			return 2;
		}
	}
	if (nparts < 1 || reps < 1 || reps > 100)
		die("arguments: --parts and --reps must be >= 1 (reps <= 100)", NULL);
	if (!mkdtemp(dir))
		die("mkdtemp", NULL);
	if (eau2_open(&db, &(struct eau2_options){ .store = dir, .node = EAU2_NODE_OFF }, &err))
		die("open", &err);
	df = make_df(db, rows);
	bytes = eau2_df_bytes(df);
	if (eau2_df_ngroups(df) < (size_t)nparts)
		nparts = (int)eau2_df_ngroups(df);
	parts = calloc((size_t)nparts, sizeof(*parts));
	for (int p = 0; p < nparts; p++) {
		size_t ng = eau2_df_ngroups(df), g0 = ng * (size_t)p / (size_t)nparts,
		       g1 = ng * (size_t)(p + 1) / (size_t)nparts;

		if (eau2_cluster_copy_groups(db, df, g0, g1 - g0, &parts[p], &err))
			die("partition", &err);
	}
	printf("bench_cluster: %llu rows, %.1f MiB, %d partitions, median of %d\n",
	       (unsigned long long)rows, (double)bytes / (1 << 20), nparts, reps);

	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		const struct rower_case *rc = &cases[c];
		const struct eau2_rower_class *cls = eau2_rower_find(rc->name);
		struct eau2_args args = { rc->nargs, rc->names, rc->values };
		double local[100], dist[100];
		size_t state_bytes = 0;

		for (int r = 0; r < reps; r++) {
			eau2_df *res = NULL;
			double t0 = cpu_now();

			if (eau2_run(db, df, cls, &args, NULL, &res, &err))
				die(rc->name, &err);
			local[r] = cpu_now() - t0;
			eau2_df_release(res);
			t0 = cpu_now();
			state_bytes = 0;
			for (int p = 0; p < nparts; p++) {
				void *st = NULL;
				size_t len = 0;

				if (eau2_cluster_run_part(db, parts[p], cls, &args, 0, &st, &len, &err))
					die(rc->name, &err);
				state_bytes += len;
				free(st);
			}
			dist[r] = cpu_now() - t0;
		}
		double l = median(local, reps), d = median(dist, reps);

		printf("  %-9s local %.3f s CPU, %d partition runs %.3f s CPU: ratio %.2f; "
		       "states %zu bytes = %.3f%% of the data\n", rc->name, l, nparts, d,
		       d / l, state_bytes, 100.0 * (double)state_bytes / (double)bytes);
	}

	{
		double cat[100], cpy[100];
		char *a = malloc(bytes), *b = malloc(bytes);

		if (!a || !b)
			die("malloc", NULL);
		memset(a, 1, bytes);
		memset(b, 2, bytes);
		for (int r = 0; r < reps; r++) {
			eau2_df *out = NULL;
			double t0 = now();

			if (eau2_cluster_concat(db, eau2_df_schema(df), parts, (size_t)nparts, &out,
						&err))
				die("concat", &err);
			cat[r] = now() - t0;
			eau2_df_release(out);
			t0 = now();
			memcpy(b, a, bytes);
			cpy[r] = now() - t0;
		}
		double c1 = median(cat, reps), c2 = median(cpy, reps);

		printf("  get assembly (concat) %.2f GB/s, memcpy %.2f GB/s: ratio %.3f\n",
		       (double)bytes / c1 / 1e9, (double)bytes / c2 / 1e9, c2 / c1);
		free(a);
		free(b);
	}
	for (int p = 0; p < nparts; p++)
		eau2_df_release(parts[p]);
	free(parts);
	eau2_df_release(df);
	eau2_close(db);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
