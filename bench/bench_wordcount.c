/* SPDX-License-Identifier: MIT */
/*
 * bench_wordcount.c - the two steps of bench/bench_wordcount.sh that a
 * shell does badly:
 *
 *   bench_wordcount gen --dict FILE --out FILE [--vocab N] [--size BYTES]
 *                       [--seed S]
 *       writes --size bytes (default 1 GiB) of text: lines of 5 to 20
 *       words separated by single spaces, words drawn with a Zipf (s = 1)
 *       distribution over --vocab words (default: all) of the dictionary
 *       FILE (one word a line, e.g. /usr/share/dict/words), shuffled with
 *       the seed so that frequency does not follow dictionary order. The
 *       same arguments always give the same bytes. Draws are O(1) (Walker's
 *       alias method), so a tail of 10^6 words costs nothing extra.
 *
 *   bench_wordcount run --key KEY [--store DIR] [--threads N] [--reps N]
 *       runs the "wordcount" rower in this process over the dataframe KEY
 *       (loaded with `eau2 load FILE --format lines`) --reps times (default
 *       3, at most 64) on --threads threads (default 2) and prints one line:
 *       "best SECS median SECS text BYTES gbps X median_gbps Y words W
 *       distinct D cpu C" (X from the best run, Y from the median; C the
 *       least CPU seconds of a run, all threads: a figure that a busy host
 *       disturbs less than wall time), where BYTES is
 *       the text the column holds (newlines included, as in the file), W
 *       the sum of the counts and D the number of distinct words. Timing
 *       covers eau2_run only (the dataframe is mapped and touched before).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ------------------------------------------------------------------ gen */

struct alias {
	double *prob;
	uint32_t *alias;
	uint32_t n;
};

/* Walker's alias table for P(i) ~ 1 / (i + 1), i < n. */
static void alias_zipf(struct alias *a, uint32_t n)
{
	double *p = malloc(sizeof(double) * n), h = 0;
	uint32_t *small = malloc(sizeof(uint32_t) * n), *large = malloc(sizeof(uint32_t) * n);
	uint32_t ns = 0, nl = 0;

	a->prob = malloc(sizeof(double) * n);
	a->alias = malloc(sizeof(uint32_t) * n);
	a->n = n;
	if (!p || !small || !large || !a->prob || !a->alias)
		die("zipf table", NULL);
	for (uint32_t i = 0; i < n; i++)
		h += 1.0 / (i + 1.0);
	for (uint32_t i = 0; i < n; i++) {
		p[i] = (double)n / ((i + 1.0) * h);
		if (p[i] < 1.0)
			small[ns++] = i;
		else
			large[nl++] = i;
	}
	while (ns && nl) {
		uint32_t s = small[--ns], l = large[nl - 1];
		a->prob[s] = p[s];
		a->alias[s] = l;
		p[l] -= 1.0 - p[s];
		if (p[l] < 1.0) {
			nl--;
			small[ns++] = l;
		}
	}
	while (nl) {
		uint32_t l = large[--nl];
		a->prob[l] = 1.0, a->alias[l] = l;
	}
	while (ns) {
		uint32_t s = small[--ns];
		a->prob[s] = 1.0, a->alias[s] = s;
	}
	free(p);
	free(small);
	free(large);
}

static uint32_t alias_draw(const struct alias *a, uint64_t *s)
{
	uint64_t x = rnd(s);
	uint32_t i = (uint32_t)(((x >> 32) * a->n) >> 32);
	double u = (double)(x & 0xffffffffu) / 4294967296.0;

	return u < a->prob[i] ? i : a->alias[i];
}

/* Reads the dictionary: words are its lines, without empty ones or any
 * with whitespace inside (so the text has exactly the words drawn). */
static char **read_dict(const char *path, uint32_t *n)
{
	FILE *f = fopen(path, "r");
	char **w = NULL, line[512];
	size_t cap = 0;

	*n = 0;
	if (!f)
		die(path, NULL);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\n");
		line[len] = 0;
		if (!len || strpbrk(line, " \t\r\v\f"))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 65536;
			w = realloc(w, cap * sizeof(*w));
			if (!w)
				die("dictionary", NULL);
		}
		if (!(w[(*n)++] = strdup(line)))
			die("dictionary", NULL);
	}
	fclose(f);
	if (!*n) {
		fprintf(stderr, "bench_wordcount: %s: no words\n", path);
		exit(1);
	}
	return w;
}

static int cmd_gen(int argc, char **argv)
{
	const char *dict = NULL, *out = NULL;
	uint64_t size = 1ull << 30, seed = 1, vocab = 0;
	uint32_t n;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dict"))
			dict = argv[i + 1];
		else if (!strcmp(argv[i], "--out"))
			out = argv[i + 1];
		else if (!strcmp(argv[i], "--size"))
			size = arg_num("--size", argv[i + 1], true);
		else if (!strcmp(argv[i], "--seed"))
			seed = arg_num("--seed", argv[i + 1], false);
		else if (!strcmp(argv[i], "--vocab"))
			vocab = arg_num("--vocab", argv[i + 1], false);
		else
			goto usage;
	}
	if (!dict || !out || (argc % 2))
		goto usage;

	char **words = read_dict(dict, &n);
	uint64_t s = seed;
	for (uint32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
		uint32_t j = (uint32_t)(rnd(&s) % (i + 1));
		char *t = words[i];
		words[i] = words[j];
		words[j] = t;
	}
	if (vocab && vocab < n)
		n = (uint32_t)vocab;
	uint32_t *lens = malloc(sizeof(uint32_t) * n);
	if (!lens)
		die("gen", NULL);
	for (uint32_t i = 0; i < n; i++)
		lens[i] = (uint32_t)strlen(words[i]);

	struct alias a;
	alias_zipf(&a, n);
	FILE *f = fopen(out, "w");
	size_t bsz = 4u << 20, len = 0;
	char *buf = malloc(bsz + 8192);
	uint64_t written = 0;
	if (!f || !buf)
		die(out, NULL);
	while (written + len < size) {
		uint32_t nw = 5 + (uint32_t)(rnd(&s) % 16);
		for (uint32_t k = 0; k < nw; k++) {
			uint32_t w = alias_draw(&a, &s);
			memcpy(buf + len, words[w], lens[w]);
			len += lens[w];
			buf[len++] = k + 1 < nw ? ' ' : '\n';
		}
		if (len >= bsz) {
			if (fwrite(buf, 1, len, f) != len)
				die(out, NULL);
			written += len;
			len = 0;
		}
	}
	if ((len && fwrite(buf, 1, len, f) != len) || fclose(f))
		die(out, NULL);
	written += len;
	fprintf(stderr, "bench_wordcount: %s: %llu bytes, vocabulary %u words\n", out,
		(unsigned long long)written, n);
	free(buf);
	free(lens);
	free(a.prob);
	free(a.alias);
	return 0;
usage:
	fprintf(stderr, "usage: bench_wordcount gen --dict FILE --out FILE [--vocab N] "
		"[--size BYTES] [--seed S]\n");
	return 2;
}

/* ------------------------------------------------------------------ run */

/* Bytes of text in string column 0 (one newline per row, as in the file)
 * and a touch of every page, so the runs time counting, not page faults. */
static volatile uint64_t sink;

static uint64_t text_bytes(const eau2_df *df)
{
	struct eau2_error err = {0};
	uint64_t bytes = 0;

	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v;

		if (eau2_df_chunk(df, 0, g, &v, &err))
			die("chunk", &err);
		uint64_t n = (uint64_t)(v.values.offsets[v.rows] - v.values.offsets[0]);
		for (uint64_t i = 0; i < n; i += 4096)
			sink += (uint8_t)v.data[v.values.offsets[0] + (int64_t)i];
		bytes += n + v.rows;
	}
	return bytes;
}

static int cmd_run(int argc, char **argv)
{
	const char *key = NULL, *store = NULL;
	unsigned threads = 2, reps = 3;
	struct eau2_error err = {0};

	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--key"))
			key = argv[i + 1];
		else if (!strcmp(argv[i], "--store"))
			store = argv[i + 1];
		else if (!strcmp(argv[i], "--threads"))
			threads = (unsigned)arg_num("--threads", argv[i + 1], false);
		else if (!strcmp(argv[i], "--reps"))
			reps = (unsigned)arg_num("--reps", argv[i + 1], false);
		else
			goto usage;
	}
	if (!key || (argc % 2) || !reps || reps > 64 || !threads || threads > 1024)
		goto usage;

	eau2 *db = NULL;
	eau2_df *df = NULL;
	struct eau2_options o = { .store = store, .node = EAU2_NODE_OFF };
	if (eau2_open(&db, &o, &err) || eau2_get(db, key, &df, &err))
		die(key, &err);
	uint64_t bytes = text_bytes(df);
	const struct eau2_rower_class *cls = eau2_rower_find("wordcount");
	struct eau2_run_options ro = { .threads = threads };
	double best = 1e30, t[64], cpu = 1e30;
	int64_t words = 0, distinct = 0;

	for (unsigned r = 0; r < reps; r++) {
		eau2_df *res = NULL;
		double t0 = now(), c0 = cpu_now();
		if (eau2_run(db, df, cls, NULL, &ro, &res, &err))
			die("wordcount", &err);
		double dt = now() - t0, dc = cpu_now() - c0;
		cpu = dc < cpu ? dc : cpu;
		best = dt < best ? dt : best;
		t[r] = dt;
		if (r == 0) {
			for (size_t g = 0; g < eau2_df_ngroups(res); g++) {
				struct eau2_chunk_view v;
				if (eau2_df_chunk(res, 1, g, &v, &err))
					die("result", &err);
				for (uint32_t i = 0; i < v.rows; i++)
					words += v.values.i64[i];
				distinct += v.rows;
			}
		}
		eau2_df_release(res);
	}
	for (unsigned i = 1; i < reps; i++) /* insertion sort, for the median */
		for (unsigned j = i; j > 0 && t[j] < t[j - 1]; j--) {
			double x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	printf("best %.4f median %.4f text %llu gbps %.3f median_gbps %.3f words %lld "
	       "distinct %lld cpu %.4f\n", best, t[reps / 2], (unsigned long long)bytes,
	       (double)bytes / best / 1e9, (double)bytes / t[reps / 2] / 1e9, (long long)words,
	       (long long)distinct, cpu);
	eau2_df_release(df);
	eau2_close(db);
	return 0;
usage:
	fprintf(stderr, "usage: bench_wordcount run --key KEY [--store DIR] "
		"[--threads N] [--reps N]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "gen"))
		return cmd_gen(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc, argv);
	fprintf(stderr, "usage: bench_wordcount gen|run ... (see bench/bench_wordcount.sh)\n");
	return 2;
}
