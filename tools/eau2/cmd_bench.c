/* SPDX-License-Identifier: MIT */
/*
 * cmd_bench.c - `eau2 bench`, the main job of eau2: on the store, generate
 * (once, then reuse) a mixed int/double/string dataframe, a text dataframe
 * of Zipf-distributed words and a small dimension dataframe; measure this
 * machine's memory-read bandwidth in the same run; then run the rower suite
 * (sum, filter, groupby, join, wordcount) from 1, 2, 4, 8 concurrent client
 * processes, each mapping the data zero-copy, and report per operation and
 * client count the time, GB/s per client and in total, the total against
 * the memory bandwidth, peak RSS and PSS against the data size, and the
 * attach time.
 *
 * Processes: the parent generates the data, measures the bandwidth, closes
 * its store handle, then for each client count forks the clients. Each
 * client has its own pair of pipes: it writes fixed-size messages (smaller
 * than PIPE_BUF, so atomic) on its result pipe and reads one byte from its
 * go pipe at every barrier. A barrier is: every client reports READY, then
 * the parent writes one byte to every go pipe, so all clients start each
 * step together. Steps: start (then attach), attached (then touch every
 * page), touched (then sample memory), one per segment of each operation
 * (the parent measures the memory bandwidth first; then the clients run,
 * report, and after an operation's last segment sample memory with the
 * result held), and a last one before anyone unmaps, so that no sample
 * sees a page mapped by fewer clients than the others. A client
 * that dies shows as EOF on its result pipe; the parent then kills the
 * others of the round (by pid) and fails.
 *
 * Threads: the generator threads each own one builder part and one stats
 * struct, handed back through pthread_join; the bandwidth threads share a
 * read-only array and a barrier, and write only their own result slot.
 *
 * The parent never calls into the executor: the executor reads the CPU
 * affinity once per process, and each client sets its own slice of CPUs
 * before its first run so that concurrent clients do not pin their pools
 * to the same cores.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/env_options.h"
#include "eau2.h"
#include "util/file.h"
#include "util/parse.h"

/* Bump when the generated data changes, so cached data sets are rebuilt. */
#define BENCH_FORMAT 1

/* Defaults sized so that a first run (generation included) finishes in
 * well under 5 minutes on a 2-core host; see the help text. */
#define DEFAULT_SIZE (2ull << 30)
#define DEFAULT_TEXT_SIZE (1ull << 30)
#define SIZE_MIN (64ull << 10)
#define SIZE_MAX_ (1ull << 40)

#define CLIENTS_MAX 64
#define THREADS_MAX 1024
#define NCATS 4096          /* distinct values of the string key s */
#define VOCAB 50000         /* words of the text vocabulary */
#define KEY_RANGE 10000000  /* k in [0, KEY_RANGE) */
#define DIM_ROWS 100000     /* dimension keys 0..DIM_ROWS-1: 1% of k match */
#define V_RANGE 1000000     /* v in [0, V_RANGE) */
#define FILTER_X 990000     /* filter where v > FILTER_X: ~1% of rows */
#define BLOCK_ROWS EAU2_CHUNK_ROWS
#define LINE_MAX_WORDS 16
#define BW_PASSES 10       /* the first bandwidth measurement: passes, at least */
#define BW_SLICE_SECS 0.2  /* the measurements around segments */
#define BW_SLICE_PASSES 2
#define SEGMENTS 4         /* one client's round of an operation: its parts */
#define OP_MIN_SECS 1.0   /* each client repeats an operation this long */
#define OP_MAX_RUNS 1000

#define MIXED_SCHEMA "id:int,k:int,v:int,x:double,s:string"
#define TEXT_SCHEMA "line:string"
#define DIM_SCHEMA "k:int,name:string,w:double"

enum { OP_SUM, OP_FILTER, OP_GROUPBY, OP_JOIN, OP_WORDCOUNT, NOPS };
static const char *const op_names[NOPS] = {
	"sum", "filter", "groupby", "join", "wordcount",
};

enum { ST_OK, ST_SKIPPED, ST_FAILED, ST_WRONG };
static const char *const status_names[] = { "ok", "skipped", "failed", "wrong" };

struct bench_opts {
	uint64_t size, text_size, seed;
	unsigned clients[CLIENTS_MAX];
	size_t nclients;
	unsigned threads;        /* 0: the executor shares the cores */
	bool op_on[NOPS];
	const char *store, *json, *plot;
	bool regen;
};

/* What the parent knows of a data set. */
struct dataset {
	char key[EAU2_KEY_MAX + 1];
	bool present;      /* in use by this run */
	bool generated;    /* built by this run (else reused) */
	double gen_secs;
	uint64_t rows, bytes;
	uint64_t col_bytes[8];
	/* expected answers, from the generator (kept in the .meta key) */
	int64_t sum_v, n_filter, n_join, n_groups, words, n_distinct;
};

/* Results of one client for one round. */
struct client_res {
	pid_t pid;
	int go_w, res_r;
	bool alive;
	double attach, touch;
	double secs[NOPS], cpu[NOPS]; /* summed over the segments */
	uint32_t runs[NOPS];
	int rc[NOPS];
	char msg[NOPS][256];
	uint64_t rows[NOPS];
	int64_t check[NOPS];
	uint64_t rss_peak, pss_peak;
	uint64_t rss_base, pss_base; /* before opening the store */
};

struct op_res {
	int status;
	char why[300];
	double mean, max, wall; /* per run: mean and max over clients */
	uint64_t runs;       /* runs of all clients in the round */
	double cpu_mean;     /* CPU seconds (user + system) per client, all runs */
	double cpu_util;     /* all clients' CPU time / (wall x cores) */
	uint64_t bytes;      /* input bytes one client reads */
	double gbps_client, gbps_total, ratio;
	double membw;        /* GB/s: the mean of the bandwidth measurements
			      * before, between and after its segments */
	uint64_t rows;
};

struct round {
	unsigned clients, threads;
	struct op_res op[NOPS];
	double attach_mean, attach_max, touch_mean;
	uint64_t rss_client, rss_total, pss_client, pss_total;
	uint64_t rss_base, pss_base; /* per client, mean */
};

/* ------------------------------------------------------------- helpers */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("eau2: bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Copies at most size - 1 bytes of src (messages are cut, not failed). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The random stream of one block: independent of how blocks are spread
 * over threads, so the data depends on the seed only. */
static uint64_t block_seed(uint64_t seed, uint64_t kind, uint64_t block)
{
	uint64_t s = seed ^ (kind << 56) ^ (block * 0x2545f4914f6cdd1dull);

	return splitmix(&s);
}

static const char *human(char *buf, size_t size, double bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_clients(const char *s, struct bench_opts *o)
{
	char buf[512], *tok, *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	o->nclients = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nclients == CLIENTS_MAX ||
		    parse_uint(tok, 1, 256, &o->clients[o->nclients]))
			return -EINVAL;
		o->nclients++;
	}
	return o->nclients ? 0 : -EINVAL;
}

static int parse_ops(const char *s, struct bench_opts *o)
{
	char buf[512], *tok, *save = NULL;
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	memset(o->op_on, 0, sizeof(o->op_on));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k;

		for (k = 0; k < NOPS && strcmp(tok, op_names[k]); k++)
			;
		if (k == NOPS) {
			errorf("--ops: unknown operation '%s' (known: sum, filter, "
			       "groupby, join, wordcount)", tok);
			return -ENOENT;
		}
		o->op_on[k] = true;
		n++;
	}
	return n ? 0 : -EINVAL;
}

static void usage(FILE *out)
{
	char a[32], b[32];

	fprintf(out,
"usage: eau2 bench [--size BYTES] [--text-size BYTES] [--clients LIST]\n"
"                  [--threads N] [--ops LIST] [--json FILE] [--plot FILE.png]\n"
"                  [--seed N] [--regen] [--store DIR]\n\n"
"The main job of eau2. On the store (--store, else $EAU2_STORE, else the\n"
"default store) it generates once and then reuses, under bench/... keys:\n"
"  bench/mixed-SIZE  int id, k, v; double x; string s (%u values): SIZE\n"
"                    bytes of chunk data\n"
"  bench/text-SIZE   one string column 'line' of 4-16 words drawn from a\n"
"                    %u-word Zipf (s=1) vocabulary\n"
"  bench/dim-%u  the join's dimension table (k = 0..%u, 1%% of rows match)\n"
"measures this machine's memory-read bandwidth at the start (all cores,\n"
"then one, summing a heap array, warm: bytes over wall time of at least\n"
"%d passes and %.1f s, as an operation's first round is timed) and runs,\n"
"from each count of concurrent client processes (all started together;\n"
"each opens the store and maps the data zero-copy):\n"
"  sum        sum columns=v\n"
"  filter     filter where=v > %u (~1%% of rows)\n"
"  groupby    groupby by=s agg=sum:v\n"
"  join       join with=bench/dim-%u on=k (inner)\n"
"  wordcount  wordcount column=line (on the text)\n"
"Times are warm: each client first touches every page it maps (reported\n"
"as 'first touch'), then runs each operation back to back: for %.1f s (at\n"
"least once) in the first round, and as many times as that in every later\n"
"round, each client; time/cl is the mean time of one run. A single\n"
"client's round runs in %d segments, a round of several clients in one.\n"
"GB/s counts the bytes of the columns an operation reads (sum, filter: v;\n"
"groupby: s and v; join: k; wordcount: line), per client (bytes / time of\n"
"one run) and in total (all clients' runs x bytes / wall time of the\n"
"segments). 'membw' is the memory-read bandwidth of all cores measured\n"
"for %.1f s before each segment and after the last, while the clients\n"
"wait (their mean: on a shared host it moves within a second), and\n"
"'x membw' the total over it. cpu%% is the clients' CPU time over wall\n"
"time x cores (below 100: the host was not saturated). RSS and PSS are\n"
"each client's peak (/proc/self/status VmHWM, /proc/self/smaps_rollup);\n"
"their totals are compared with the data size.\n"
"Answers are checked against the generator's (sum, rows of filter, join,\n"
"groupby, wordcount).\n\n"
"options:\n"
"  --size BYTES       mixed data size, K/M/G/T suffixes (default %s)\n"
"  --text-size BYTES  text data size (default %s)\n"
"  --clients LIST     client process counts (default 1,2,4,8)\n"
"  --threads N        pool size of each client (default: each run takes\n"
"                     its share of the cores among all clients' runs,\n"
"                     pinned to CPUs no other run holds)\n"
"  --ops LIST         operations (default sum,filter,groupby,join,wordcount)\n"
"  --json FILE        also write the results as JSON\n"
"  --plot FILE.png    plot throughput and memory against clients (gnuplot)\n"
"  --seed N           generator seed (default 1); data is a function of it\n"
"  --regen            rebuild the data sets even when cached\n"
"  --store DIR        the store directory\n"
"  -h, --help         show this help\n\n"
"With the defaults, on a 2-core host, a run takes about 3 minutes (plus\n"
"~10 s the first time, to generate ~3 GiB); the data stay in the store\n"
"(remove them with 'eau2 rm'). Missing rowers are reported as skipped.\n"
"Exit status: 0 success, 1 bad option, 2 a failure (store, client, rower,\n"
"wrong answer).\n",
		NCATS, VOCAB, DIM_ROWS, DIM_ROWS - 1, BW_PASSES, OP_MIN_SECS,
		FILTER_X, DIM_ROWS,
		OP_MIN_SECS, SEGMENTS, BW_SLICE_SECS,
		human(a, sizeof(a), (double)DEFAULT_SIZE),
		human(b, sizeof(b), (double)DEFAULT_TEXT_SIZE));
}

/* Returns 0, 1 for --help, or -EINVAL (message printed). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const unsigned def_clients[] = { 1, 2, 4, 8 };

	memset(o, 0, sizeof(*o));
	o->size = DEFAULT_SIZE;
	o->text_size = DEFAULT_TEXT_SIZE;
	o->seed = 1;
	o->nclients = 4;
	memcpy(o->clients, def_clients, sizeof(def_clients));
	for (int k = 0; k < NOPS; k++)
		o->op_on[k] = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t nl;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (strncmp(a, "--", 2)) {
			errorf("unexpected argument '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name)) {
			errorf("unknown option '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		memcpy(name, a, nl);
		name[nl] = 0;
		if (!strcmp(name, "--regen")) {
			if (eq) {
				errorf("option '--regen' takes no value");
				return -EINVAL;
			}
			o->regen = true;
			continue;
		}
		if (strcmp(name, "--size") && strcmp(name, "--text-size") &&
		    strcmp(name, "--clients") && strcmp(name, "--threads") &&
		    strcmp(name, "--ops") && strcmp(name, "--json") &&
		    strcmp(name, "--plot") && strcmp(name, "--seed") &&
		    strcmp(name, "--store")) {
			errorf("unknown option '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			errorf("option '%s' needs a value", name);
			return -EINVAL;
		}
		if (!strcmp(name, "--size") || !strcmp(name, "--text-size")) {
			uint64_t *dst = name[2] == 's' ? &o->size : &o->text_size;
			char a1[32], a2[32];

			if (eau2_parse_size(val, dst) || *dst < SIZE_MIN || *dst > SIZE_MAX_) {
				errorf("%s: '%s' is not a size from %s to %s (e.g. 512M, 2G)",
				       name, val, human(a1, sizeof(a1), (double)SIZE_MIN),
				       human(a2, sizeof(a2), (double)SIZE_MAX_));
				return -EINVAL;
			}
		} else if (!strcmp(name, "--clients")) {
			if (parse_clients(val, o)) {
				errorf("--clients: '%s' is not a comma-separated list of "
				       "at most %d counts from 1 to 256", val, CLIENTS_MAX);
				return -EINVAL;
			}
		} else if (!strcmp(name, "--threads")) {
			if (parse_uint(val, 1, THREADS_MAX, &o->threads)) {
				errorf("--threads: '%s' is not a number from 1 to %d",
				       val, THREADS_MAX);
				return -EINVAL;
			}
		} else if (!strcmp(name, "--ops")) {
			int rc = parse_ops(val, o);

			if (rc == -EINVAL)
				errorf("--ops: '%s' names no operation", val);
			if (rc)
				return -EINVAL;
		} else if (!strcmp(name, "--seed")) {
			char *end;

			errno = 0;
			o->seed = strtoull(val, &end, 0);
			if (!*val || *end || errno || *val == '-') {
				errorf("--seed: '%s' is not a number", val);
				return -EINVAL;
			}
		} else if (!strcmp(name, "--json")) {
			o->json = val;
		} else if (!strcmp(name, "--plot")) {
			o->plot = val;
		} else {
			o->store = val;
		}
		if (!*val) {
			errorf("option '%s' needs a non-empty value", name);
			return -EINVAL;
		}
	}
	return 0;
}

static bool uses_mixed(const struct bench_opts *o)
{
	return o->op_on[OP_SUM] || o->op_on[OP_FILTER] || o->op_on[OP_GROUPBY] ||
	       o->op_on[OP_JOIN];
}

/* Worker threads the executor would use here. Asked in a throwaway child
 * so that this process never initialises the executor's CPU list (see the
 * overview); falls back to the online CPU count. */
static unsigned probe_cores(void)
{
	unsigned n = 0;
	int fds[2];
	pid_t pid;

	if (pipe(fds) == 0) {
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			unsigned t = eau2_default_threads();

			close(fds[0]);
			if (write(fds[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
				_exit(1);
			_exit(0);
		}
		close(fds[1]);
		if (pid > 0) {
			if (read(fds[0], &n, sizeof(n)) != (ssize_t)sizeof(n))
				n = 0;
			waitpid(pid, NULL, 0);
		}
		close(fds[0]);
	}
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (unsigned)c : 1;
	}
	return n;
}

/* The CPUs this process may run on, in increasing order. */
static unsigned allowed_cpus(int *cpus, unsigned max)
{
	cpu_set_t set;
	unsigned n = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int c = 0; c < CPU_SETSIZE && n < max; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	return n;
}

/* ------------------------------------------------------------ vocabulary */

/* Words are the base-100 digits of their rank spelled as consonant-vowel
 * syllables: distinct, pronounceable, and short for frequent words. */
struct vocab {
	char *bytes;
	uint32_t *off;   /* n + 1 offsets */
	uint32_t n;
	/* Walker/Vose alias table of the Zipf(1) word distribution (NULL for
	 * category lists): draw i uniformly, keep it when a 32-bit coin is
	 * below thr, else take alias. 8 bytes a word: stays in L2. */
	struct alias { uint32_t thr, alias; } *zipf;
	double mean_len; /* expected bytes of a word drawn from the table */
};

static size_t syllables(uint32_t w, char *out)
{
	static const char cons[] = "bdfgklmnprstvzhjcwxy";
	static const char vow[] = "aeiou";
	char tmp[16];
	size_t n = 0, len = 0;

	do {
		unsigned d = w % 100;
		tmp[n++] = vow[d % 5];
		tmp[n++] = cons[d / 5];
		w /= 100;
	} while (w);
	while (n)
		out[len++] = tmp[--n];
	return len;
}

static void vocab_free(struct vocab *v)
{
	free(v->bytes);
	free(v->off);
	free(v->zipf);
	memset(v, 0, sizeof(*v));
}

/* cats: NCATS category names "word-word"; else the VOCAB-word text
 * vocabulary with its Zipf quantile table. */
static int vocab_init(struct vocab *v, bool cats)
{
	uint32_t n = cats ? NCATS : VOCAB;
	size_t len = 0;

	memset(v, 0, sizeof(*v));
	v->n = n;
	v->bytes = malloc((size_t)n * 16);
	v->off = malloc(((size_t)n + 1) * sizeof(*v->off));
	if (!v->bytes || !v->off)
		goto nomem;
	for (uint32_t w = 0; w < n; w++) {
		v->off[w] = (uint32_t)len;
		len += syllables(w, v->bytes + len);
		if (cats) {
			v->bytes[len++] = '-';
			len += syllables((w * 2654435761u) % 9973u, v->bytes + len);
		}
	}
	v->off[n] = (uint32_t)len;
	if (cats) {
		v->mean_len = (double)len / n;
		return 0;
	}

	double h = 0, mean = 0, *pr = NULL;
	uint32_t *small = NULL, *large = NULL, ns = 0, nl = 0;

	v->zipf = calloc(n, sizeof(*v->zipf));
	pr = malloc(n * sizeof(*pr));
	small = malloc(n * sizeof(*small));
	large = malloc(n * sizeof(*large));
	if (!v->zipf || !pr || !small || !large) {
		free(pr);
		free(small);
		free(large);
		goto nomem;
	}
	for (uint32_t k = 0; k < n; k++)
		h += 1.0 / (k + 1);
	for (uint32_t k = 0; k < n; k++) {
		double p = 1.0 / ((k + 1) * h);

		mean += p * (v->off[k + 1] - v->off[k]);
		pr[k] = p * n;
		if (pr[k] < 1.0)
			small[ns++] = k;
		else
			large[nl++] = k;
	}
	while (ns && nl) {
		uint32_t a = small[--ns], b = large[--nl];

		v->zipf[a].thr = (uint32_t)(pr[a] * 4294967296.0);
		v->zipf[a].alias = b;
		pr[b] += pr[a] - 1.0;
		if (pr[b] < 1.0)
			small[ns++] = b;
		else
			large[nl++] = b;
	}
	/* What is left has probability 1 up to rounding: always kept. */
	while (ns) {
		uint32_t a = small[--ns];
		v->zipf[a].thr = UINT32_MAX;
		v->zipf[a].alias = a;
	}
	while (nl) {
		uint32_t a = large[--nl];
		v->zipf[a].thr = UINT32_MAX;
		v->zipf[a].alias = a;
	}
	free(pr);
	free(small);
	free(large);
	v->mean_len = mean;
	return 0;
nomem:
	vocab_free(v);
	return -ENOMEM;
}

/* ------------------------------------------------------------ generation */

enum gen_kind { GEN_MIXED = 1, GEN_TEXT = 2 };

struct gen_part {
	eau2_builder *b;
	enum gen_kind kind;
	uint64_t seed, rows, blk0, blk1;
	const struct vocab *cats, *words;
	int rc;
	struct eau2_error err;
	int64_t sum_v, n_filter, n_join, words_total;
	uint8_t *seen;   /* bitmap of categories or words drawn */
};

static void *gen_mixed(void *arg)
{
	struct gen_part *p = arg;
	const struct vocab *cv = p->cats;
	struct eau2_error *err = &p->err;
	eau2_builder *b = p->b;
	int rc = 0;

	for (uint64_t blk = p->blk0; blk < p->blk1 && !rc; blk++) {
		uint64_t s = block_seed(p->seed, GEN_MIXED, blk);
		uint64_t first = blk * BLOCK_ROWS;
		uint64_t n = p->rows - first < BLOCK_ROWS ? p->rows - first : BLOCK_ROWS;

		for (uint64_t i = 0; i < n && !rc; i++) {
			int64_t k = (int64_t)(splitmix(&s) % KEY_RANGE);
			int64_t v = (int64_t)(splitmix(&s) % V_RANGE);
			double x = (double)(splitmix(&s) >> 11) * 0x1p-53 * 1000.0;
			uint32_t c = (uint32_t)(splitmix(&s) % NCATS);

			rc = eau2_builder_append_int(b, 0, (int64_t)(first + i), err);
			if (!rc)
				rc = eau2_builder_append_int(b, 1, k, err);
			if (!rc)
				rc = eau2_builder_append_int(b, 2, v, err);
			if (!rc)
				rc = eau2_builder_append_double(b, 3, x, err);
			if (!rc)
				rc = eau2_builder_append_string(b, 4, cv->bytes + cv->off[c],
								cv->off[c + 1] - cv->off[c], err);
			p->sum_v += v;
			p->n_filter += v > FILTER_X;
			p->n_join += k < DIM_ROWS;
			p->seen[c >> 3] |= (uint8_t)(1u << (c & 7));
		}
	}
	p->rc = rc;
	return NULL;
}

static void *gen_text(void *arg)
{
	struct gen_part *p = arg;
	const struct vocab *wv = p->words;
	struct eau2_error *err = &p->err;
	eau2_builder *b = p->b;
	char line[LINE_MAX_WORDS * 16];
	int rc = 0;

	for (uint64_t blk = p->blk0; blk < p->blk1 && !rc; blk++) {
		uint64_t s = block_seed(p->seed, GEN_TEXT, blk);
		uint64_t first = blk * BLOCK_ROWS;
		uint64_t n = p->rows - first < BLOCK_ROWS ? p->rows - first : BLOCK_ROWS;

		for (uint64_t i = 0; i < n && !rc; i++) {
			unsigned nw = 4 + (unsigned)(splitmix(&s) % 13);
			size_t len = 0;

			for (unsigned j = 0; j < nw; j++) {
				uint64_t u = splitmix(&s);
				uint32_t d = (uint32_t)(((u >> 32) * VOCAB) >> 32);
				uint32_t w = (uint32_t)u < wv->zipf[d].thr ? d
					     : wv->zipf[d].alias;
				uint32_t wl = wv->off[w + 1] - wv->off[w];

				if (j)
					line[len++] = ' ';
				memcpy(line + len, wv->bytes + wv->off[w], wl);
				len += wl;
				p->seen[w >> 3] |= (uint8_t)(1u << (w & 7));
			}
			p->words_total += nw;
			rc = eau2_builder_append_string(b, 0, line, len, err);
		}
	}
	p->rc = rc;
	return NULL;
}

/* Builds rows rows of kind on nthreads threads, one builder part each over
 * a contiguous range of blocks, joined in block order. Sums the parts'
 * stats into *total (its seen bitmap of seen_bytes bytes must be zeroed). */
static int gen_parallel(eau2 *db, const char *spec, enum gen_kind kind,
			uint64_t seed, uint64_t rows, unsigned nthreads,
			const struct vocab *cats, const struct vocab *words,
			size_t seen_bytes, struct gen_part *total, eau2_df **df,
			struct eau2_error *err)
{
	uint64_t nblk = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
	struct gen_part *parts = NULL;
	pthread_t *tids = NULL;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	unsigned started = 0, forked = 0, t;
	int rc;

	*df = NULL;
	if (nthreads > nblk)
		nthreads = nblk ? (unsigned)nblk : 1;
	parts = calloc(nthreads, sizeof(*parts));
	tids = calloc(nthreads, sizeof(*tids));
	if (!parts || !tids) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eau2_schema_parse(spec, &schema, err)) ||
	    (rc = eau2_builder_new(db, schema, &b, err)))
		goto out;
	for (t = 0; t < nthreads; t++) {
		struct gen_part *p = &parts[t];

		p->kind = kind;
		p->seed = seed;
		p->rows = rows;
		p->blk0 = nblk * t / nthreads;
		p->blk1 = nblk * (t + 1) / nthreads;
		p->cats = cats;
		p->words = words;
		if (!(p->seen = calloc(1, seen_bytes))) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = eau2_builder_fork(b, &p->b, err)))
			goto out;
		forked++;
	}
	for (t = 0; t < nthreads; t++) {
		rc = pthread_create(&tids[t], NULL, kind == GEN_MIXED ? gen_mixed : gen_text,
				    &parts[t]);
		if (rc) {
			rc = eau2_error_set(err, -rc, "cannot start a generator thread: %s",
					    strerror(rc));
			break;
		}
		started++;
	}
	for (t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	if (rc)
		goto out;
	for (t = 0; t < nthreads; t++) {
		if (parts[t].rc) {
			rc = parts[t].rc;
			*err = parts[t].err;
			goto out;
		}
	}
	/* Join in block order; a joined part is consumed. */
	for (t = 0; t < nthreads; t++) {
		struct gen_part *p = &parts[t];

		rc = eau2_builder_join(b, p->b, err);
		p->b = NULL;
		if (rc)
			goto out;
		total->sum_v += p->sum_v;
		total->n_filter += p->n_filter;
		total->n_join += p->n_join;
		total->words_total += p->words_total;
		for (size_t i = 0; i < seen_bytes; i++)
			total->seen[i] |= p->seen[i];
	}
	rc = eau2_builder_finish(b, df, err);
	b = NULL;
out:
	for (t = 0; parts && t < nthreads; t++) {
		if (t < forked && parts[t].b)
			eau2_builder_abort(parts[t].b);
		free(parts[t].seen);
	}
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(parts);
	free(tids);
	return rc;
}

static int64_t popcount_bytes(const uint8_t *p, size_t n)
{
	int64_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += __builtin_popcount(p[i]);
	return c;
}

/* ------------------------------------------------------- cache and meta */

static const char *const mixed_meta[] = {
	"format", "seed", "rows", "sum_v", "n_filter", "n_join", "n_groups",
};
static const char *const text_meta[] = {
	"format", "seed", "rows", "words", "n_distinct",
};
#define NMETA_MAX 7

static bool schema_is(const eau2_df *df, const char *spec)
{
	eau2_schema *want = NULL;
	const eau2_schema *have = eau2_df_schema(df);
	bool same = false;

	if (eau2_schema_parse(spec, &want, NULL))
		return false;
	if (eau2_schema_ncols(want) == eau2_schema_ncols(have)) {
		same = true;
		for (size_t c = 0; c < eau2_schema_ncols(want); c++)
			if (strcmp(eau2_schema_name(want, c), eau2_schema_name(have, c)) ||
			    eau2_schema_type(want, c) != eau2_schema_type(have, c))
				same = false;
	}
	eau2_schema_free(want);
	return same;
}

/* Reads the one-row int meta dataframe under key into vals; -ENOENT when
 * absent or not of that shape. */
static int meta_read(eau2 *db, const char *key, const char *const *names,
		     size_t n, int64_t *vals)
{
	eau2_df *df = NULL;
	int rc = eau2_get(db, key, &df, NULL);

	if (rc)
		return rc;
	rc = -ENOENT;
	if (eau2_df_rows(df) != 1 || eau2_df_ncols(df) != n)
		goto out;
	for (size_t c = 0; c < n; c++) {
		const eau2_schema *s = eau2_df_schema(df);

		if (strcmp(eau2_schema_name(s, c), names[c]) ||
		    eau2_schema_type(s, c) != EAU2_INT ||
		    eau2_df_get_int(df, c, 0, &vals[c], NULL) != 0)
			goto out;
	}
	rc = 0;
out:
	eau2_df_release(df);
	return rc;
}

static int meta_write(eau2 *db, const char *key, const char *const *names,
		      size_t n, const int64_t *vals, struct eau2_error *err)
{
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	int rc;

	if ((rc = eau2_schema_new(&s, err)))
		goto out;
	for (size_t c = 0; c < n; c++)
		if ((rc = eau2_schema_add(s, names[c], EAU2_INT, err)))
			goto out;
	if ((rc = eau2_builder_new(db, s, &b, err)))
		goto out;
	for (size_t c = 0; c < n; c++)
		if ((rc = eau2_builder_append_int(b, c, vals[c], err)))
			goto out;
	rc = eau2_builder_finish(b, &df, err);
	b = NULL;
	if (!rc)
		rc = eau2_put(db, key, df, err);
out:
	eau2_builder_abort(b);
	eau2_df_release(df);
	eau2_schema_free(s);
	return rc;
}

/* Bytes of every column's chunks (bitmap, values, string bytes). */
static int column_bytes(const eau2_df *df, uint64_t *out, size_t max,
			struct eau2_error *err)
{
	size_t nc = eau2_df_ncols(df), ng = eau2_df_ngroups(df);

	memset(out, 0, max * sizeof(*out));
	for (size_t g = 0; g < ng; g++) {
		for (size_t c = 0; c < nc && c < max; c++) {
			struct eau2_chunk_view v;
			uint64_t r;
			int rc = eau2_df_chunk(df, c, g, &v, err);

			if (rc)
				return rc;
			r = v.rows;
			if (v.validity)
				out[c] += (r + 7) / 8;
			switch (v.type) {
			case EAU2_BOOL: out[c] += (r + 7) / 8; break;
			case EAU2_INT: case EAU2_DOUBLE: out[c] += r * 8; break;
			case EAU2_STRING:
				out[c] += (r + 1) * 8 + (uint64_t)v.values.offsets[r];
				break;
			}
		}
	}
	return 0;
}

/* The answers a data set's generator counts, kept in its .meta key after
 * format, seed and rows: pointers into ds, in mixed_meta / text_meta order.
 * The last one is the popcount of the generator's `seen` bitmap. */
static size_t answers(enum gen_kind kind, struct dataset *ds, int64_t **a)
{
	if (kind == GEN_MIXED) {
		a[0] = &ds->sum_v;
		a[1] = &ds->n_filter;
		a[2] = &ds->n_join;
		a[3] = &ds->n_groups;
		return 4;
	}
	a[0] = &ds->words;
	a[1] = &ds->n_distinct;
	return 2;
}

/* Makes sure the store holds the data set of kind (GEN_MIXED: the mixed
 * columns, GEN_TEXT: the text) for o's size and seed: reused when its
 * .meta key matches, else generated on `cores` threads and put. Fills ds
 * with its key, sizes and the answers the operations must give. */
static int ensure_data(eau2 *db, const struct bench_opts *o, unsigned cores,
		       enum gen_kind kind, struct dataset *ds, struct eau2_error *err)
{
	bool mixed = kind == GEN_MIXED;
	const char *schema = mixed ? MIXED_SCHEMA : TEXT_SCHEMA;
	const char *const *names = mixed ? mixed_meta : text_meta;
	uint64_t size = mixed ? o->size : o->text_size;
	size_t seen_bytes = mixed ? NCATS / 8 : VOCAB / 8 + 1;
	char meta_key[EAU2_KEY_MAX + 16], h[32];
	int64_t m[NMETA_MAX], *ans[NMETA_MAX];
	size_t nans = answers(kind, ds, ans), nmeta = 3 + nans;
	eau2_df *df = NULL;
	struct vocab v = {0};
	struct gen_part total = {0};
	uint8_t *seen = NULL;
	uint64_t rows;
	double per_row, t0;
	int rc;

	ds->present = true;
	snprintf(ds->key, sizeof(ds->key), "bench/%s-%" PRIu64,
		 mixed ? "mixed" : "text", size);
	snprintf(meta_key, sizeof(meta_key), "%s.meta", ds->key);
	if (!o->regen && meta_read(db, meta_key, names, nmeta, m) == 0 &&
	    m[0] == BENCH_FORMAT && (uint64_t)m[1] == o->seed &&
	    eau2_get(db, ds->key, &df, NULL) == 0 &&
	    schema_is(df, schema) && eau2_df_rows(df) == (uint64_t)m[2]) {
		for (size_t i = 0; i < nans; i++)
			*ans[i] = m[3 + i];
		goto measure;
	}
	eau2_df_release(df);
	df = NULL;
	seen = calloc(1, seen_bytes);
	if (!seen || vocab_init(&v, mixed)) {
		vocab_free(&v);
		free(seen);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	/* Mixed, per row: four 8-byte values, one 8-byte offset, the string
	 * bytes. Text, per line: an 8-byte offset, 10 words on average, 9
	 * spaces. */
	per_row = mixed ? 40.0 + v.mean_len : 8.0 + 10.0 * v.mean_len + 9.0;
	rows = (uint64_t)((double)size / per_row);
	if (rows == 0)
		rows = 1;
	progress("generating %s (%s, %" PRIu64 " %s) on %u threads...", ds->key,
		 human(h, sizeof(h), (double)size), rows, mixed ? "rows" : "lines",
		 cores);
	t0 = now();
	total.seen = seen;
	rc = gen_parallel(db, schema, kind, o->seed, rows, cores, mixed ? &v : NULL,
			  mixed ? NULL : &v, seen_bytes, &total, &df, err);
	vocab_free(&v);
	if (rc) {
		eau2_error_prefix(err, rc, "generating %s", ds->key);
		goto out;
	}
	if (mixed) {
		ds->sum_v = total.sum_v;
		ds->n_filter = total.n_filter;
		ds->n_join = total.n_join;
	} else {
		ds->words = total.words_total;
	}
	*ans[nans - 1] = popcount_bytes(seen, seen_bytes);
	m[0] = BENCH_FORMAT;
	m[1] = (int64_t)o->seed;
	m[2] = (int64_t)rows;
	for (size_t i = 0; i < nans; i++)
		m[3 + i] = *ans[i];
	if ((rc = eau2_put(db, ds->key, df, err)) ||
	    (rc = meta_write(db, meta_key, names, nmeta, m, err)))
		goto out;
	ds->generated = true;
	ds->gen_secs = now() - t0;
measure:
	ds->rows = eau2_df_rows(df);
	ds->bytes = eau2_df_bytes(df);
	rc = column_bytes(df, ds->col_bytes, 8, err);
out:
	free(seen);
	eau2_df_release(df);
	return rc;
}

static int ensure_dim(eau2 *db, const struct bench_opts *o, struct dataset *ds,
		      struct eau2_error *err)
{
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	int rc = 0;

	ds->present = true;
	snprintf(ds->key, sizeof(ds->key), "bench/dim-%d", DIM_ROWS);
	if (!o->regen && eau2_get(db, ds->key, &df, NULL) == 0 &&
	    schema_is(df, DIM_SCHEMA) && eau2_df_rows(df) == DIM_ROWS)
		goto measure;
	eau2_df_release(df);
	df = NULL;
	double t0 = now();
	if ((rc = eau2_schema_parse(DIM_SCHEMA, &s, err)) ||
	    (rc = eau2_builder_new(db, s, &b, err)))
		goto out;
	for (uint32_t i = 0; i < DIM_ROWS && !rc; i++) {
		char name[16];
		size_t len = syllables(i, name);

		rc = eau2_builder_append_int(b, 0, i, err);
		if (!rc)
			rc = eau2_builder_append_string(b, 1, name, len, err);
		if (!rc)
			rc = eau2_builder_append_double(b, 2, i * 0.5, err);
	}
	if (rc)
		goto out;
	rc = eau2_builder_finish(b, &df, err);
	b = NULL;
	if (rc || (rc = eau2_put(db, ds->key, df, err)))
		goto out;
	ds->generated = true;
	ds->gen_secs = now() - t0;
measure:
	ds->rows = eau2_df_rows(df);
	ds->bytes = eau2_df_bytes(df);
out:
	eau2_builder_abort(b);
	eau2_schema_free(s);
	eau2_df_release(df);
	if (rc)
		eau2_error_prefix(err, rc, "generating %s", ds->key);
	return rc;
}

/* -------------------------------------------------- memory bandwidth */

/* A heap array that the parent sums to measure the memory-read bandwidth,
 * kept for the whole run so the bandwidth can be measured around every
 * operation (this host's bandwidth moves by 2x within minutes when it
 * is shared). MADV_DONTFORK: the clients forked meanwhile do not map it. */
struct bw_meter {
	uint64_t *a;
	size_t n; /* words */
	int cpus[1024];
	unsigned ncpus;
};

struct bw_run {
	const uint64_t *a;
	size_t n;
	unsigned nthreads;
	const int *cpus;
	unsigned ncpus;
	bool stop;         /* set by the main thread between passes */
	pthread_barrier_t bar;
	uint64_t sink[64];
};

struct bw_arg {
	struct bw_run *run;
	unsigned index;
};

/* Four independent sums: enough to keep the loads streaming. */
static uint64_t sum_u64(const uint64_t *p, size_t n)
{
	uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		a0 += p[i];
		a1 += p[i + 1];
		a2 += p[i + 2];
		a3 += p[i + 3];
	}
	for (; i < n; i++)
		a0 += p[i];
	return a0 + a1 + a2 + a3;
}

static void *bw_worker(void *arg)
{
	struct bw_arg *ba = arg;
	struct bw_run *r = ba->run;
	size_t lo = r->n * ba->index / r->nthreads;
	size_t hi = r->n * (ba->index + 1) / r->nthreads;
	uint64_t s = 0;

	if (r->ncpus >= r->nthreads) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(r->cpus[ba->index], &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	for (;;) {
		pthread_barrier_wait(&r->bar);
		if (r->stop)
			break;
		s += sum_u64(r->a + lo, hi - lo);
		pthread_barrier_wait(&r->bar);
	}
	r->sink[ba->index % 64] = s;
	return NULL;
}

struct bw_result {
	double sustained; /* bytes of all passes / their wall time, GB/s */
	double best;      /* the fastest pass, GB/s */
	unsigned passes;
};

/*
 * nthreads threads sum the array in passes, after one warm-up pass, for
 * at least min_passes passes and secs seconds. The sustained figure is
 * the statistic an operation's round gets (bytes over wall time), so
 * the two compare like for like; the fastest pass is kept as well (on a
 * shared host it catches bursts that no sustained scan sees).
 */
static int bw_measure(const struct bw_meter *bm, unsigned nthreads,
		      unsigned min_passes, double secs, struct bw_result *res)
{
	struct bw_run r = { .a = bm->a, .n = bm->n, .nthreads = nthreads,
			    .cpus = bm->cpus, .ncpus = bm->ncpus };
	struct bw_arg *args = calloc(nthreads, sizeof(*args));
	pthread_t *tids = calloc(nthreads, sizeof(*tids));
	double bytes = (double)bm->n * 8, start = 0, t0, t;
	unsigned started = 0;
	int rc = -ENOMEM;

	memset(res, 0, sizeof(*res));
	if (!args || !tids || pthread_barrier_init(&r.bar, NULL, nthreads + 1))
		goto out;
	for (unsigned i = 0; i < nthreads; i++) {
		args[i].run = &r;
		args[i].index = i;
		if (pthread_create(&tids[i], NULL, bw_worker, &args[i]))
			break;
		started++;
	}
	if (started < nthreads) {
		/* Cannot happen in practice; the started ones would wait at
		 * the barrier forever, so fail loudly. */
		errorf("cannot start the bandwidth threads");
		abort();
	}
	for (unsigned p = 0;; p++) {
		pthread_barrier_wait(&r.bar);
		t0 = now();
		pthread_barrier_wait(&r.bar);
		t = now() - t0;
		if (p == 0) {
			start = now();
			continue;
		}
		res->passes = p;
		if (t > 0 && bytes / t / 1e9 > res->best)
			res->best = bytes / t / 1e9;
		t = now() - start;
		if (p >= min_passes && t >= secs) {
			res->sustained = bytes * p / t / 1e9;
			break;
		}
	}
	r.stop = true;
	pthread_barrier_wait(&r.bar);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_barrier_destroy(&r.bar);
	rc = res->sustained > 0 ? 0 : -EIO;
out:
	free(args);
	free(tids);
	return rc;
}

/* An array of up to 1 GiB (an eighth of RAM when that is less), written
 * so it is resident. */
static int bw_meter_open(struct bw_meter *bm)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	uint64_t sz = 1ull << 30;

	if (pages > 0 && psz > 0 && (uint64_t)pages * (uint64_t)psz / 8 < sz)
		sz = (uint64_t)pages * (uint64_t)psz / 8;
	sz &= ~(uint64_t)4095;
	bm->a = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
	if (bm->a == MAP_FAILED) {
		bm->a = NULL;
		return -errno;
	}
	if (madvise(bm->a, sz, MADV_DONTFORK)) {
		int rc = -errno;

		munmap(bm->a, sz);
		bm->a = NULL;
		return rc;
	}
	bm->n = sz / 8;
	for (size_t i = 0; i < bm->n; i++)
		bm->a[i] = i * 0x9e3779b97f4a7c15ull;
	bm->ncpus = allowed_cpus(bm->cpus, 1024);
	return 0;
}

static void bw_meter_close(struct bw_meter *bm)
{
	if (bm->a)
		munmap(bm->a, bm->n * 8);
	bm->a = NULL;
}

/* ------------------------------------------------------------ clients */

enum { MSG_READY = 1, MSG_ATTACH, MSG_OP, MSG_MEM, MSG_FAIL };

struct msg {
	uint32_t kind, op;
	int32_t rc;
	uint32_t runs;     /* OP: how many runs between start and end */
	double a, b;       /* ATTACH: attach, touch secs; OP: start, end time */
	double cpu;        /* OP: CPU seconds of the run, all threads */
	uint64_t rows;
	int64_t check;
	uint64_t rss, pss; /* bytes */
	char text[256];
};
_Static_assert(sizeof(struct msg) <= 512, "a message is written atomically");

struct client_plan {
	const char *dir;
	const struct dataset *mixed, *text, *dim;
	bool run[NOPS];
	uint32_t runs[NOPS]; /* runs per client; 0: for OP_MIN_SECS */
	unsigned index, clients, threads;
	const int *cpus;
	unsigned ncpus;
	int go_r, res_w;
	/* the parent's: measures bandwidth around each operation */
	const struct bw_meter *bw;
	unsigned bw_threads;
};

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 0, or -EIO on EOF or error. */
static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Rss and Pss of this process, in bytes, from smaps_rollup. */
static void read_mem(uint64_t *rss, uint64_t *pss)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long long kb;

	*rss = *pss = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu kB", &kb) == 1)
			*rss = kb * 1024;
		else if (sscanf(line, "Pss: %llu kB", &kb) == 1)
			*pss = kb * 1024;
	}
	fclose(f);
}

static uint64_t read_hwm(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static uint64_t touch_bytes(const void *p, uint64_t n)
{
	const volatile uint8_t *c = p;
	uint64_t s = 0;

	if (!p || !n)
		return 0;
	for (uint64_t off = 0; off < n; off += 4096)
		s += c[off];
	return s + c[n - 1];
}

/* Reads one byte of every page of every chunk: the first-touch cost a
 * client pays once per mapping. */
static int touch_df(const eau2_df *df, uint64_t *sink, struct eau2_error *err)
{
	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		for (size_t c = 0; c < eau2_df_ncols(df); c++) {
			struct eau2_chunk_view v;
			uint64_t r;
			int rc = eau2_df_chunk(df, c, g, &v, err);

			if (rc)
				return rc;
			r = v.rows;
			*sink += touch_bytes(v.validity, v.validity ? (r + 7) / 8 : 0);
			switch (v.type) {
			case EAU2_BOOL: *sink += touch_bytes(v.values.bits, (r + 7) / 8); break;
			case EAU2_INT: case EAU2_DOUBLE:
				*sink += touch_bytes(v.values.i64, r * 8);
				break;
			case EAU2_STRING:
				*sink += touch_bytes(v.values.offsets, (r + 1) * 8);
				*sink += touch_bytes(v.data, (uint64_t)v.values.offsets[r]);
				break;
			}
		}
	}
	return 0;
}

static double cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void child_send(const struct client_plan *p, struct msg *m)
{
	if (write_full(p->res_w, m, sizeof(*m)))
		_exit(3);
}

/* Segments of an operation's round. One client's round runs in SEGMENTS
 * (or one per run when it has fewer runs; runs = 0: the first round,
 * timed), so that its scan is compared with bandwidth measured around it.
 * A round of several clients runs in one: each segment ends when the
 * slowest client does, and the cores the others leave idle meanwhile
 * would be counted once per segment. */
static unsigned segments(uint32_t runs, unsigned clients)
{
	if (clients > 1)
		return 1;
	return runs && runs < SEGMENTS ? runs : SEGMENTS;
}

/* Runs of segment seg of nseg; 0 when the segment is timed instead. */
static uint32_t seg_runs(uint32_t runs, unsigned seg, unsigned nseg)
{
	return (uint32_t)((uint64_t)runs * (seg + 1) / nseg -
			  (uint64_t)runs * seg / nseg);
}

static void child_wait(const struct client_plan *p)
{
	struct msg m = { .kind = MSG_READY };
	char c;

	child_send(p, &m);
	if (read_full(p->go_r, &c, 1))
		_exit(3); /* the parent is gone */
}

static void child_fail(const struct client_plan *p, const char *what,
		       const struct eau2_error *err)
{
	struct msg m = { .kind = MSG_FAIL, .rc = err->code };
	size_t n;

	copy_str(m.text, sizeof(m.text), what);
	n = strlen(m.text);
	copy_str(m.text + n, sizeof(m.text) - n, ": ");
	n = strlen(m.text);
	copy_str(m.text + n, sizeof(m.text) - n, err->msg);
	child_send(p, &m);
	_exit(1);
}

/* The arguments of each operation. */
static void op_args(int op, const struct dataset *dim, const char **names,
		    const char **values, size_t *n)
{
	static char where[64];

	switch (op) {
	case OP_SUM:
		names[0] = "columns"; values[0] = "v"; *n = 1;
		break;
	case OP_FILTER:
		snprintf(where, sizeof(where), "v > %d", FILTER_X);
		names[0] = "where"; values[0] = where; *n = 1;
		break;
	case OP_GROUPBY:
		names[0] = "by"; values[0] = "s";
		names[1] = "agg"; values[1] = "sum:v"; *n = 2;
		break;
	case OP_JOIN:
		names[0] = "with"; values[0] = dim->key;
		names[1] = "on"; values[1] = "k";
		names[2] = "how"; values[2] = "inner"; *n = 3;
		break;
	default:
		names[0] = "column"; values[0] = "line"; *n = 1;
		break;
	}
}

static void child_main(const struct client_plan *p) __attribute__((noreturn));
static void child_main(const struct client_plan *p)
{
	struct eau2_error err = {0};
	eau2 *db = NULL;
	eau2_df *mixed = NULL, *text = NULL;
	uint64_t sink = 0, rss, pss, rss_peak = 0, pss_peak = 0, rss0, pss0;
	struct msg m;
	double t0, t1, t1b, t2;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A slice of the CPUs, so concurrent clients' pools do not pin to
	 * the same cores; the executor reads this mask on its first run. */
	if (p->threads && p->threads < p->ncpus) {
		cpu_set_t set;

		CPU_ZERO(&set);
		for (unsigned j = 0; j < p->threads; j++)
			CPU_SET(p->cpus[(p->index * p->threads + j) % p->ncpus], &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	read_mem(&rss0, &pss0);
	child_wait(p);
	t0 = now();
	if (eau2_env_open(&db, p->dir, &err))
		child_fail(p, "opening the store", &err);
	if (p->mixed->present && eau2_get(db, p->mixed->key, &mixed, &err))
		child_fail(p, "get", &err);
	if (p->text->present && eau2_get(db, p->text->key, &text, &err))
		child_fail(p, "get", &err);
	t1 = now();
	/* Clients attach together, then touch together: one client's page
	 * faults over all the data would otherwise sit in another's attach. */
	child_wait(p);
	t1b = now();
	if ((mixed && touch_df(mixed, &sink, &err)) ||
	    (text && touch_df(text, &sink, &err)))
		child_fail(p, "touching the data", &err);
	t2 = now();
	memset(&m, 0, sizeof(m));
	m.kind = MSG_ATTACH;
	m.a = t1 - t0;
	m.b = t2 - t1b;
	m.check = (int64_t)(sink & 1); /* keeps the touches */
	m.rss = rss0;
	m.pss = pss0;
	child_send(p, &m);
	/* Sample once every client has touched everything: a page mapped
	 * by fewer clients counts more in each one's PSS. */
	child_wait(p);
	read_mem(&rss, &pss);
	rss_peak = rss;
	pss_peak = pss;

	for (int op = 0; op < NOPS; op++) {
		const struct eau2_rower_class *cls;
		const char *names[4], *values[4];
		struct eau2_args args = { .names = names, .values = values };
		struct eau2_run_options ro = { .threads = p->threads };
		eau2_df *res = NULL;
		int rc;

		if (!p->run[op])
			continue;
		op_args(op, p->dim, names, values, &args.n);
		cls = eau2_rower_find(op_names[op]);
		rc = 0;
		/* The first round runs back to back for OP_MIN_SECS (a short
		 * scan is then not dwarfed by one wake-up of the pool); later
		 * rounds give every client that many runs, so all clients do
		 * the same work and start and end together. Either is split
		 * into segments; the parent measures the bandwidth between
		 * them. After a failure the remaining segments run nothing. */
		for (unsigned seg = 0, nseg = segments(p->runs[op], p->clients); seg < nseg; seg++) {
			uint32_t want = seg_runs(p->runs[op], seg, nseg);

			child_wait(p);
			memset(&m, 0, sizeof(m));
			m.kind = MSG_OP;
			m.op = (uint32_t)op;
			m.cpu = cpu_secs();
			m.a = m.b = now();
			while (!rc) {
				eau2_df_release(res);
				res = NULL;
				memset(&err, 0, sizeof(err));
				if (cls)
					rc = eau2_run(db, op == OP_WORDCOUNT ? text : mixed,
						      cls, &args, &ro, &res, &err);
				else
					rc = eau2_error_set(&err, -ENOSYS, "rower %s "
							    "not registered",
							    op_names[op]);
				m.runs++;
				m.b = now();
				if (want ? m.runs >= want :
				    m.b - m.a >= OP_MIN_SECS / nseg ||
				    m.runs >= OP_MAX_RUNS / nseg)
					break;
			}
			m.cpu = cpu_secs() - m.cpu;
			m.rc = rc;
			if (rc) {
				copy_str(m.text, sizeof(m.text), err.msg);
			} else if (res) {
				m.rows = eau2_df_rows(res);
				if (op == OP_SUM &&
				    eau2_df_get_int(res, 0, 0, &m.check, &err))
					m.check = INT64_MIN;
			}
			child_send(p, &m);
		}
		read_mem(&rss, &pss);
		if (rss > rss_peak)
			rss_peak = rss;
		if (pss > pss_peak)
			pss_peak = pss;
		eau2_df_release(res);
	}
	memset(&m, 0, sizeof(m));
	m.kind = MSG_MEM;
	rss = read_hwm();
	m.rss = rss > rss_peak ? rss : rss_peak;
	m.pss = pss_peak;
	child_send(p, &m);
	/* Nobody unmaps before every client has sampled: a client alone on
	 * a page has it all in its PSS. */
	child_wait(p);
	eau2_df_release(mixed);
	eau2_df_release(text);
	eau2_close(db);
	_exit(0);
}

static void kill_clients(struct client_res *cr, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (cr[i].pid > 0 && cr[i].alive) {
			kill(cr[i].pid, SIGKILL);
			waitpid(cr[i].pid, NULL, 0);
			cr[i].alive = false;
		}
	}
}

/* Reads one message of kind from client i; on FAIL or EOF prints why. */
static int recv_msg(struct client_res *cr, unsigned i, uint32_t kind, struct msg *m)
{
	if (read_full(cr[i].res_r, m, sizeof(*m))) {
		int st = 0;

		if (waitpid(cr[i].pid, &st, 0) == cr[i].pid) {
			cr[i].alive = false;
			if (WIFSIGNALED(st))
				errorf("client %u (pid %d) died of signal %d (%s)", i,
				       (int)cr[i].pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
			else
				errorf("client %u (pid %d) exited with status %d", i,
				       (int)cr[i].pid, WEXITSTATUS(st));
		} else {
			errorf("client %u (pid %d) stopped answering", i, (int)cr[i].pid);
		}
		return -EIO;
	}
	if (m->kind == MSG_FAIL) {
		m->text[sizeof(m->text) - 1] = 0;
		errorf("client %u: %s", i, m->text);
		return m->rc ? m->rc : -EIO;
	}
	if (m->kind != kind) {
		errorf("client %u: unexpected message %u", i, m->kind);
		return -EPROTO;
	}
	return 0;
}

/* Waits until all n clients are ready, then lets them go. With bw, first
 * measures the memory-read bandwidth into *gbps while every client waits
 * (so nothing else of the bench competes for the memory). */
static int barrier_bw(struct client_res *cr, unsigned n, const struct client_plan *bw,
		      double *gbps)
{
	struct bw_result res;
	struct msg m;
	char c = 1;
	int rc;

	for (unsigned i = 0; i < n; i++)
		if ((rc = recv_msg(cr, i, MSG_READY, &m)))
			return rc;
	if (bw) {
		if ((rc = bw_measure(bw->bw, bw->bw_threads, BW_SLICE_PASSES,
				     BW_SLICE_SECS, &res))) {
			errorf("measuring the memory bandwidth failed: %s",
			       strerror(-rc));
			return rc;
		}
		*gbps = res.sustained;
	}
	for (unsigned i = 0; i < n; i++)
		if (write_full(cr[i].go_w, &c, 1))
			return -EIO;
	return 0;
}

static int barrier(struct client_res *cr, unsigned n)
{
	return barrier_bw(cr, n, NULL, NULL);
}

/*
 * Runs one round. Each operation runs in segments; before each, and after
 * the last, the bandwidth is measured while the clients wait: membw[op]
 * gets the mean of those measurements, wall[op] the summed wall time of
 * the segments (first start to last end over the clients).
 */
static int run_round(const struct client_plan *base, unsigned nclients,
		     struct client_res *cr, double *membw, double *wall)
{
	struct msg m;
	unsigned forked = 0, i, nsamples = 0;
	int rc = 0, prev = -1;
	double sample = 0, bw_sum = 0;

	for (i = 0; i < nclients; i++)
		cr[i].go_w = cr[i].res_r = -1;
	fflush(NULL);
	for (i = 0; i < nclients; i++) {
		int go[2], res[2];
		struct client_plan p = *base;

		if (pipe2(go, O_CLOEXEC))
			goto sys;
		if (pipe2(res, O_CLOEXEC)) {
			close(go[0]);
			close(go[1]);
			goto sys;
		}
		cr[i].pid = fork();
		if (cr[i].pid < 0) {
			close(go[0]); close(go[1]); close(res[0]); close(res[1]);
			goto sys;
		}
		if (cr[i].pid == 0) {
			for (unsigned j = 0; j < i; j++) {
				close(cr[j].go_w);
				close(cr[j].res_r);
			}
			close(go[1]);
			close(res[0]);
			p.index = i;
			p.go_r = go[0];
			p.res_w = res[1];
			child_main(&p);
		}
		close(go[0]);
		close(res[1]);
		cr[i].go_w = go[1];
		cr[i].res_r = res[0];
		cr[i].alive = true;
		forked++;
	}

	if ((rc = barrier(cr, nclients)) || (rc = barrier(cr, nclients)))
		goto out;
	for (i = 0; i < nclients; i++) {
		if ((rc = recv_msg(cr, i, MSG_ATTACH, &m)))
			goto out;
		cr[i].attach = m.a;
		cr[i].touch = m.b;
		cr[i].rss_base = m.rss;
		cr[i].pss_base = m.pss;
	}
	if ((rc = barrier(cr, nclients)))
		goto out;
	for (int op = 0; op < NOPS; op++) {
		if (!base->run[op])
			continue;
		wall[op] = 0;
		for (unsigned seg = 0, nseg = segments(base->runs[op], base->clients); seg < nseg; seg++) {
			double first = INFINITY, last = 0;

			if ((rc = barrier_bw(cr, nclients, base, &sample)))
				goto out;
			if (prev >= 0 && prev != op)
				membw[prev] = (bw_sum + sample) / (nsamples + 1);
			if (prev != op)
				bw_sum = nsamples = 0;
			bw_sum += sample;
			nsamples++;
			prev = op;
			for (i = 0; i < nclients; i++) {
				if ((rc = recv_msg(cr, i, MSG_OP, &m)))
					goto out;
				cr[i].secs[op] += m.b - m.a;
				cr[i].cpu[op] += m.cpu;
				cr[i].runs[op] += m.runs;
				if (m.a < first)
					first = m.a;
				if (m.b > last)
					last = m.b;
				if (!m.runs) /* after a failure */
					continue;
				cr[i].rc[op] = m.rc;
				m.text[sizeof(m.text) - 1] = 0;
				copy_str(cr[i].msg[op], sizeof(cr[i].msg[op]), m.text);
				cr[i].rows[op] = m.rows;
				cr[i].check[op] = m.check;
			}
			wall[op] += last - first;
		}
	}
	for (i = 0; i < nclients; i++) {
		if ((rc = recv_msg(cr, i, MSG_MEM, &m)))
			goto out;
		cr[i].rss_peak = m.rss;
		cr[i].pss_peak = m.pss;
	}
	if ((rc = barrier_bw(cr, nclients, prev >= 0 ? base : NULL, &sample)))
		goto out;
	if (prev >= 0)
		membw[prev] = (bw_sum + sample) / (nsamples + 1);
	for (i = 0; i < nclients; i++) {
		int st = 0;

		if (waitpid(cr[i].pid, &st, 0) == cr[i].pid)
			cr[i].alive = false;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			errorf("client %u (pid %d) ended badly (status 0x%x)", i,
			       (int)cr[i].pid, st);
			rc = -EIO;
			goto out;
		}
	}
	goto out;
sys:
	rc = -errno;
	errorf("cannot start client %u: %s", forked, strerror(errno));
out:
	if (rc)
		kill_clients(cr, forked);
	for (i = 0; i < forked; i++) {
		close(cr[i].go_w);
		close(cr[i].res_r);
	}
	return rc;
}

/* Fills r from the clients' results, checking answers against ds. */
static void summarise(struct round *r, const struct client_res *cr,
		      const struct client_plan *plan, const bool *avail,
		      const struct dataset *mixed, const struct dataset *text,
		      const double *membw, const double *wall, unsigned cores)
{
	unsigned n = r->clients;

	r->attach_mean = r->attach_max = r->touch_mean = 0;
	r->rss_total = r->pss_total = r->rss_base = r->pss_base = 0;
	for (unsigned i = 0; i < n; i++) {
		r->attach_mean += cr[i].attach / n;
		r->touch_mean += cr[i].touch / n;
		if (cr[i].attach > r->attach_max)
			r->attach_max = cr[i].attach;
		r->rss_total += cr[i].rss_peak;
		r->pss_total += cr[i].pss_peak;
		r->rss_base += cr[i].rss_base / n;
		r->pss_base += cr[i].pss_base / n;
	}
	r->rss_client = r->rss_total / n;
	r->pss_client = r->pss_total / n;

	for (int op = 0; op < NOPS; op++) {
		struct op_res *o = &r->op[op];
		int64_t want = 0;

		memset(o, 0, sizeof(*o));
		if (!avail[op]) {
			o->status = ST_SKIPPED;
			snprintf(o->why, sizeof(o->why), "rower %s not available",
				 op_names[op]);
			continue;
		}
		if (!plan->run[op])
			continue;
		switch (op) {
		case OP_SUM: o->bytes = mixed->col_bytes[2]; want = mixed->sum_v; break;
		case OP_FILTER: o->bytes = mixed->col_bytes[2]; want = mixed->n_filter; break;
		case OP_GROUPBY:
			o->bytes = mixed->col_bytes[4] + mixed->col_bytes[2];
			want = mixed->n_groups;
			break;
		case OP_JOIN: o->bytes = mixed->col_bytes[1]; want = mixed->n_join; break;
		default: o->bytes = text->col_bytes[0]; want = text->n_distinct; break;
		}
		o->status = ST_OK;
		for (unsigned i = 0; i < n; i++) {
			double t = cr[i].secs[op] / (cr[i].runs[op] ? cr[i].runs[op] : 1);
			int64_t got = op == OP_SUM ? cr[i].check[op] : (int64_t)cr[i].rows[op];

			o->mean += t / n;
			o->cpu_mean += cr[i].cpu[op] / n;
			o->runs += cr[i].runs[op];
			if (t > o->max)
				o->max = t;
			o->rows = cr[i].rows[op];
			if (cr[i].rc[op] == -ENOSYS) {
				/* a registered stand-in that says it is not built */
				if (o->status == ST_OK) {
					o->status = ST_SKIPPED;
					snprintf(o->why, sizeof(o->why), "rower %s not "
						 "available (%s)", op_names[op],
						 cr[i].msg[op]);
				}
			} else if (cr[i].rc[op] && o->status != ST_FAILED) {
				o->status = ST_FAILED;
				snprintf(o->why, sizeof(o->why), "client %u: %s", i,
					 cr[i].msg[op]);
			} else if (!cr[i].rc[op] && got != want && o->status == ST_OK) {
				o->status = ST_WRONG;
				snprintf(o->why, sizeof(o->why), "client %u: %s %" PRId64
					 ", expected %" PRId64, i,
					 op == OP_SUM ? "sum" : "rows", got, want);
			}
		}
		if (o->status == ST_SKIPPED)
			continue;
		o->wall = wall[op];
		if (o->mean > 0)
			o->gbps_client = (double)o->bytes / o->mean / 1e9;
		if (o->wall > 0)
			o->gbps_total = (double)o->bytes * (double)o->runs / o->wall / 1e9;
		o->membw = membw[op];
		o->ratio = o->membw > 0 ? o->gbps_total / o->membw : 0;
		if (o->wall > 0)
			o->cpu_util = o->cpu_mean * n / (o->wall * cores);
	}
}

/* ------------------------------------------------------------ output */

/* A client's pool size as shown: a number, or "auto" (shared cores). */
static const char *threads_str(unsigned threads, char *buf, size_t size)
{
	if (!threads)
		return "auto";
	snprintf(buf, size, "%u", threads);
	return buf;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

struct report {
	const struct bench_opts *o;
	const char *dir;
	char pages[64]; /* what backs the store (eau2_page_size) */
	unsigned cores;
	struct bw_result bw_all, bw_one;
	uint64_t bw_bytes;
	const struct dataset *mixed, *text, *dim;
	const struct round *rounds;
	size_t nrounds;
	bool run[NOPS];
	double total_secs;
	double loadavg; /* 1-minute load average before the run, or -1 */
};

static void json_dataset(FILE *f, const char *name, const struct dataset *d,
			 bool last)
{
	fprintf(f, "    \"%s\": {\"key\": ", name);
	json_str(f, d->key);
	fprintf(f, ", \"rows\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"generated\": %s, \"gen_seconds\": ", d->rows, d->bytes,
		d->generated ? "true" : "false");
	json_num(f, d->gen_secs);
	fprintf(f, "}%s\n", last ? "" : ",");
}

static int write_json(const struct report *rp, const char *path)
{
	struct eau2_outfile out = { .fd = -1 };
	struct eau2_error err = {0};
	bool first = true;
	FILE *f = NULL;
	int rc = eau2_outfile_open(&out, path, 0666, &err);

	if (rc || !(f = fdopen(out.fd, "w"))) {
		errorf("--json: %s", rc ? err.msg : strerror(errno));
		eau2_outfile_abort(&out);
		return rc ? rc : -ENOMEM;
	}
	out.fd = -1; /* f owns it now */
	fprintf(f, "{\n  \"format\": 1,\n  \"store\": ");
	json_str(f, rp->dir);
	fprintf(f, ",\n  \"cores\": %u,\n  \"seed\": %" PRIu64 ",\n  \"loadavg\": ",
		rp->cores, rp->o->seed);
	json_num(f, rp->loadavg);
	fprintf(f, ",\n");
	fprintf(f, "  \"membw\": {\"gbps_all_cores\": ");
	json_num(f, rp->bw_all.sustained);
	fprintf(f, ", \"gbps_one_core\": ");
	json_num(f, rp->bw_one.sustained);
	fprintf(f, ", \"best_pass_gbps_all_cores\": ");
	json_num(f, rp->bw_all.best);
	fprintf(f, ", \"best_pass_gbps_one_core\": ");
	json_num(f, rp->bw_one.best);
	fprintf(f, ", \"array_bytes\": %" PRIu64 "},\n  \"data\": {\n", rp->bw_bytes);
	const struct dataset *sets[3] = { rp->mixed, rp->text, rp->dim };
	const char *setn[3] = { "mixed", "text", "dim" };
	int nsets = 0, k = 0;
	for (int s = 0; s < 3; s++)
		nsets += sets[s]->present;
	for (int s = 0; s < 3; s++)
		if (sets[s]->present)
			json_dataset(f, setn[s], sets[s], ++k == nsets);
	fprintf(f, "  },\n  \"data_bytes\": %" PRIu64 ",\n  \"results\": [\n",
		rp->mixed->bytes + rp->text->bytes);
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		for (int op = 0; op < NOPS; op++) {
			const struct op_res *o = &r->op[op];

			if (!rp->run[op] && o->status != ST_SKIPPED)
				continue;
			if (!rp->o->op_on[op])
				continue;
			fprintf(f, "%s    {\"op\": \"%s\", \"clients\": %u, \"threads\": %u, "
				"\"status\": \"%s\"", first ? "" : ",\n", op_names[op],
				r->clients, r->threads, status_names[o->status]);
			first = false;
			if (o->why[0]) {
				fprintf(f, ", \"message\": ");
				json_str(f, o->why);
			}
			if (o->status != ST_SKIPPED) {
				fprintf(f, ", \"bytes_per_client\": %" PRIu64
					", \"result_rows\": %" PRIu64 ", \"runs\": %" PRIu64
					", \"seconds_mean\": ", o->bytes, o->rows, o->runs);
				json_num(f, o->mean);
				fprintf(f, ", \"seconds_max\": ");
				json_num(f, o->max);
				fprintf(f, ", \"seconds_wall\": ");
				json_num(f, o->wall);
				fprintf(f, ", \"gbps_per_client\": ");
				json_num(f, o->gbps_client);
				fprintf(f, ", \"gbps_total\": ");
				json_num(f, o->gbps_total);
				fprintf(f, ", \"membw_gbps\": ");
				json_num(f, o->membw);
				fprintf(f, ", \"membw_ratio\": ");
				json_num(f, o->ratio);
				fprintf(f, ", \"cpu_seconds_mean\": ");
				json_num(f, o->cpu_mean);
				fprintf(f, ", \"cpu_utilisation\": ");
				json_num(f, o->cpu_util);
			}
			fputc('}', f);
		}
	}
	fprintf(f, "\n  ],\n  \"clients\": [\n");
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		fprintf(f, "    {\"clients\": %u, \"threads\": %u, \"attach_seconds_mean\": ",
			r->clients, r->threads);
		json_num(f, r->attach_mean);
		fprintf(f, ", \"attach_seconds_max\": ");
		json_num(f, r->attach_max);
		fprintf(f, ", \"touch_seconds_mean\": ");
		json_num(f, r->touch_mean);
		fprintf(f, ", \"rss_peak_per_client\": %" PRIu64 ", \"rss_peak_total\": %"
			PRIu64 ", \"pss_peak_per_client\": %" PRIu64
			", \"pss_peak_total\": %" PRIu64 ", \"rss_base_per_client\": %"
			PRIu64 ", \"pss_base_per_client\": %" PRIu64 "}%s\n",
			r->rss_client, r->rss_total, r->pss_client, r->pss_total,
			r->rss_base, r->pss_base,
			i + 1 < rp->nrounds ? "," : "");
	}
	fprintf(f, "  ],\n  \"total_seconds\": ");
	json_num(f, rp->total_secs);
	fprintf(f, "\n}\n");
	if (ferror(f) | fclose(f)) {
		errorf("--json: writing '%s' failed", path);
		eau2_outfile_abort(&out);
		return -EIO;
	}
	rc = eau2_outfile_commit(&out, &err);
	if (rc)
		errorf("--json: %s", err.msg);
	return rc;
}

static void print_table(const struct report *rp)
{
	char h1[32], h2[32], h3[32], h4[32], tb[16];
	const double gib = 1024.0 * 1024 * 1024;
	uint64_t data = rp->mixed->bytes + rp->text->bytes;

	printf("eau2 bench: store %s (%s), %u cores, seed %" PRIu64 ", load average "
	       "before the run %.2f\n", rp->dir, rp->pages, rp->cores, rp->o->seed,
	       rp->loadavg);
	printf("memory-read bandwidth at the start: %.2f GB/s with %u threads, %.2f "
	       "with 1\n  (sum over a %s heap array, warm, sustained over %u and %u "
	       "passes;\n  fastest single pass %.2f and %.2f GB/s); 'membw' is the same "
	       "with %u threads\n  measured for %.1f s before, between and after the "
	       "segments of each\n  operation's round (mean; one client's round runs "
	       "in %d segments)\n",
	       rp->bw_all.sustained, rp->cores, rp->bw_one.sustained,
	       human(h1, sizeof(h1), (double)rp->bw_bytes), rp->bw_all.passes,
	       rp->bw_one.passes, rp->bw_all.best, rp->bw_one.best, rp->cores,
	       BW_SLICE_SECS, SEGMENTS);
	if (rp->mixed->present)
		printf("data: %-20s %10s, %" PRIu64 " rows (id,k,v int; x double; "
		       "s string, %" PRId64 " values) %s\n", rp->mixed->key,
		       human(h1, sizeof(h1), (double)rp->mixed->bytes),
		       rp->mixed->rows, rp->mixed->n_groups,
		       rp->mixed->generated ? "generated" : "reused");
	if (rp->text->present)
		printf("data: %-20s %10s, %" PRIu64 " lines, %" PRId64 " words, %"
		       PRId64 " distinct %s\n", rp->text->key,
		       human(h1, sizeof(h1), (double)rp->text->bytes), rp->text->rows,
		       rp->text->words, rp->text->n_distinct,
		       rp->text->generated ? "generated" : "reused");
	if (rp->dim->present)
		printf("data: %-20s %10s, %" PRIu64 " rows (join on k: %" PRId64
		       " of the mixed rows match) %s\n", rp->dim->key,
		       human(h1, sizeof(h1), (double)rp->dim->bytes), rp->dim->rows,
		       rp->mixed->n_join, rp->dim->generated ? "generated" : "reused");
	for (const struct dataset *d = rp->mixed; ; d = d == rp->mixed ? rp->text : rp->dim) {
		if (d->generated && d->gen_secs > 0.05)
			printf("      (%s generated in %.1f s)\n", d->key, d->gen_secs);
		if (d == rp->dim)
			break;
	}

	printf("\n%-10s %7s %7s %10s %10s %8s %8s %6s %7s %5s  %s\n", "op",
	       "clients", "threads", "read/cl", "time/cl s", "GB/s/cl", "GB/s tot",
	       "membw", "x membw", "cpu%", "result");
	for (int op = 0; op < NOPS; op++) {
		if (!rp->o->op_on[op])
			continue;
		for (size_t i = 0; i < rp->nrounds; i++) {
			const struct round *r = &rp->rounds[i];
			const struct op_res *o = &r->op[op];

			if (o->status == ST_SKIPPED) {
				printf("%-10s %7u %7s   skipped: %s\n", op_names[op],
				       r->clients, threads_str(r->threads, tb, sizeof(tb)),
				       o->why);
				continue;
			}
			printf("%-10s %7u %7s %10s %10.3f %8.2f %8.2f %6.1f %7.3f %5.0f  %s",
			       op_names[op], r->clients,
			       threads_str(r->threads, tb, sizeof(tb)),
			       human(h1, sizeof(h1), (double)o->bytes), o->mean,
			       o->gbps_client, o->gbps_total, o->membw, o->ratio,
			       o->cpu_util * 100, status_names[o->status]);
			if (o->status == ST_OK)
				printf(" (%" PRIu64 " rows)\n", o->rows);
			else
				printf(": %s\n", o->why);
		}
	}
	printf("\n%7s %10s %11s %11s %11s %11s %11s %10s %10s\n", "clients",
	       "attach ms", "1st touch s", "RSS/cl", "RSS total", "PSS/cl",
	       "PSS total", "PSS/data", "+PSS/data");
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];
		double grown = (double)r->pss_total - (double)r->pss_base * r->clients;

		printf("%7u %10.2f %11.3f %11s %11s %11s %11s %10.2f %10.2f\n",
		       r->clients, r->attach_mean * 1e3, r->touch_mean,
		       human(h1, sizeof(h1), (double)r->rss_client),
		       human(h2, sizeof(h2), (double)r->rss_total),
		       human(h3, sizeof(h3), (double)r->pss_client),
		       human(h4, sizeof(h4), (double)r->pss_total),
		       data ? (double)r->pss_total / (double)data : 0,
		       data ? grown / (double)data : 0);
	}
	if (rp->nrounds)
		printf("(peaks per client; +PSS counts only what grew after the fork: "
		       "a client starts at %s RSS, %s PSS)\n",
		       human(h1, sizeof(h1), (double)rp->rounds[0].rss_base),
		       human(h2, sizeof(h2), (double)rp->rounds[0].pss_base));
	printf("\ndata mapped by each client: %s (%.2f GiB); one copy is shared by "
	       "all clients.\n", human(h1, sizeof(h1), (double)data), (double)data / gib);
	double low = 2;
	for (size_t i = 0; i < rp->nrounds; i++)
		for (int op = 0; op < NOPS; op++)
			if (rp->o->op_on[op] && rp->rounds[i].op[op].status == ST_OK &&
			    rp->rounds[i].op[op].wall > 0.5 &&
			    rp->rounds[i].op[op].cpu_util < low)
				low = rp->rounds[i].op[op].cpu_util;
	if (low < 0.7)
		printf("note: some runs of over 0.5 s got only %.0f%% of the cores' time "
		       "(load average %.2f before the run):\nother processes competed "
		       "for the CPUs, so those figures understate this host.\n",
		       low * 100, rp->loadavg);
	printf("total time %.1f s\n", rp->total_secs);
}

static double read_loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static bool have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		if (n && n + 9 < sizeof(buf)) {
			memcpy(buf, path, n);
			strcpy(buf + n, "/gnuplot");
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n + (colon ? 1 : 0);
	}
	return false;
}

/* Two panels: total GB/s per operation, and RSS/PSS totals against the
 * data size, both against the client count. */
static int write_plot(const struct report *rp, const char *png)
{
	char dat[] = "/tmp/eau2-bench-plot-XXXXXX";
	struct eau2_outfile out = { .fd = -1 };
	struct eau2_error err = {0};
	int fd = mkstemp(dat), rc = 0, st, gfd = -1;
	const double gib = 1024.0 * 1024 * 1024;
	FILE *f, *g;
	int col;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		errorf("--plot: cannot create a temporary file: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		fprintf(f, "%u", r->clients);
		for (int op = 0; op < NOPS; op++) {
			if (!rp->o->op_on[op])
				continue;
			if (r->op[op].status == ST_OK)
				fprintf(f, " %.4f", r->op[op].gbps_total);
			else
				fputs(" ?", f);
		}
		fprintf(f, " %.4f %.4f %.4f\n", (double)r->rss_total / gib,
			(double)r->pss_total / gib,
			(double)(rp->mixed->bytes + rp->text->bytes) / gib);
	}
	if (ferror(f) | fclose(f)) {
		errorf("--plot: writing %s failed", dat);
		unlink(dat);
		return -EIO;
	}
	/* gnuplot writes into our temporary through an inherited fd, so it
	 * never opens the user's path itself (eau2_outfile). */
	if (eau2_outfile_open(&out, png, 0666, &err) ||
	    (gfd = fcntl(out.fd, F_DUPFD, 3)) < 0) {
		errorf("--plot: %s", out.fd < 0 ? err.msg : strerror(errno));
		eau2_outfile_abort(&out);
		unlink(dat);
		return -EIO;
	}
	fflush(NULL);
	g = popen("gnuplot", "w");
	if (!g) {
		errorf("--plot: cannot run gnuplot: %s", strerror(errno));
		close(gfd);
		eau2_outfile_abort(&out);
		unlink(dat);
		return -EIO;
	}
	fprintf(g, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		"  set terminal pngcairo size 1400,550 noenhanced\n"
		"} else {\n  set terminal png size 1400,550 noenhanced\n}\n");
	fprintf(g, "set output '/proc/self/fd/%d", gfd);
	fprintf(g, "'\nset datafile missing '?'\nset key left top\nset grid\n"
		"set logscale x 2\nset xlabel 'client processes'\n"
		"set multiplot layout 1,2 title 'eau2 bench (%u cores, memory-read "
		"bandwidth %.1f GB/s)'\n", rp->cores, rp->bw_all.sustained);
	fprintf(g, "set ylabel 'GB/s, all clients'\nset logscale y 10\nplot ");
	col = 2;
	for (int op = 0; op < NOPS; op++) {
		if (!rp->o->op_on[op])
			continue;
		fprintf(g, "'%s' using 1:%d with linespoints title '%s', ", dat, col++,
			op_names[op]);
	}
	fprintf(g, "%.4f with lines dashtype 2 title 'memory bandwidth'\n",
		rp->bw_all.sustained);
	fprintf(g, "unset logscale y\nset yrange [0:*]\nset ylabel 'GiB'\nplot '%s' using 1:%d with linespoints title "
		"'RSS total', '%s' using 1:%d with linespoints title 'PSS total', "
		"'%s' using 1:%d with lines dashtype 2 title 'data size'\n"
		"unset multiplot\n", dat, col, dat, col + 1, dat, col + 2);
	st = pclose(g);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		errorf("--plot: gnuplot failed (status 0x%x)", st);
		rc = -EIO;
	}
	close(gfd);
	if (!rc && (rc = eau2_outfile_commit(&out, &err)))
		errorf("--plot: %s", err.msg);
	eau2_outfile_abort(&out);
	unlink(dat);
	return rc;
}

/* ------------------------------------------------------------ the command */

int eau2_cli_bench(int argc, char **argv)
{
	struct bench_opts o;
	struct eau2_error err = {0};
	struct dataset mixed = {0}, text = {0}, dim = {0};
	struct round *rounds = NULL;
	char tb[16];
	struct client_res *cr = NULL;
	struct report rp = {0};
	struct client_plan plan = {0};
	bool avail[NOPS];
	double membw[NOPS] = {0}, wall[NOPS] = {0};
	struct bw_meter meter = {0};
	char dir[PATH_MAX];
	int cpus[1024];
	unsigned ncpus, cores;
	eau2 *db = NULL;
	const char *pages;
	int status = 0, rc;
	double t_start = now();
	void (*old_pipe)(int);

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? (fflush(stdout) ? 2 : 0) : 1;
	if (o.plot && !have_gnuplot()) {
		errorf("--plot needs gnuplot, which is not installed (Debian: "
		       "apt-get install gnuplot-nox); use --json for the numbers");
		return 1;
	}
	rp.loadavg = read_loadavg();
	cores = probe_cores();
	ncpus = allowed_cpus(cpus, 1024);
	if (ncpus == 0) {
		cpus[0] = 0;
		ncpus = 1;
	}

	if ((rc = eau2_env_open(&db, o.store, &err))) {
		errorf("opening the store: %s", err.msg);
		return rc == -ENOMEM || rc == -EIO ? 2 : 1;
	}
	snprintf(dir, sizeof(dir), "%s", eau2_dir(db));
	eau2_page_size(db, &pages);
	snprintf(rp.pages, sizeof(rp.pages), "%s", pages);

	for (int op = 0; op < NOPS; op++) {
		avail[op] = eau2_rower_find(op_names[op]) != NULL;
		plan.run[op] = o.op_on[op] && avail[op];
	}
	if (uses_mixed(&o) && (rc = ensure_data(db, &o, cores, GEN_MIXED, &mixed, &err)))
		goto fail;
	if (o.op_on[OP_WORDCOUNT] && (rc = ensure_data(db, &o, cores, GEN_TEXT, &text, &err)))
		goto fail;
	if (o.op_on[OP_JOIN] && (rc = ensure_dim(db, &o, &dim, &err)))
		goto fail;
	eau2_close(db);
	db = NULL;

	progress("measuring memory-read bandwidth...");
	rp.cores = cores;
	if ((rc = bw_meter_open(&meter)) ||
	    (rc = bw_measure(&meter, cores, BW_PASSES, OP_MIN_SECS, &rp.bw_all)) ||
	    (rc = cores > 1 ? bw_measure(&meter, 1, BW_PASSES, OP_MIN_SECS,
					 &rp.bw_one) : (rp.bw_one = rp.bw_all, 0))) {
		errorf("measuring the memory bandwidth failed: %s", strerror(-rc));
		status = 2;
		goto out;
	}
	rp.bw_bytes = meter.n * 8;

	rounds = calloc(o.nclients, sizeof(*rounds));
	cr = calloc(256, sizeof(*cr)); /* --clients counts are <= 256 */
	if (!rounds || !cr) {
		errorf("out of memory");
		status = 2;
		goto out;
	}
	plan.dir = dir;
	plan.mixed = &mixed;
	plan.text = &text;
	plan.dim = &dim;
	plan.cpus = cpus;
	plan.ncpus = ncpus;
	plan.bw = &meter;
	plan.bw_threads = cores;
	old_pipe = signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < o.nclients; i++) {
		struct round *r = &rounds[i];

		r->clients = o.clients[i];
		r->threads = o.threads;
		plan.clients = r->clients;
		plan.threads = r->threads;
		progress("%u client%s x %s thread%s...", r->clients,
			 r->clients > 1 ? "s" : "", threads_str(r->threads, tb, sizeof(tb)),
			 r->threads == 1 ? "" : "s");
		memset(cr, 0, r->clients * sizeof(*cr));
		if (run_round(&plan, r->clients, cr, membw, wall)) {
			status = 2;
			break;
		}
		summarise(r, cr, &plan, avail, &mixed, &text, membw, wall, cores);
		rp.nrounds = i + 1;
		for (int op = 0; i == 0 && op < NOPS; op++) {
			uint32_t least = UINT32_MAX;

			for (unsigned k = 0; k < r->clients; k++)
				if (cr[k].runs[op] < least)
					least = cr[k].runs[op];
			plan.runs[op] = plan.run[op] ? least : 0;
		}
	}
	signal(SIGPIPE, old_pipe);

	rp.o = &o;
	rp.dir = dir;
	rp.mixed = &mixed;
	rp.text = &text;
	rp.dim = &dim;
	rp.rounds = rounds;
	memcpy(rp.run, plan.run, sizeof(rp.run));
	rp.total_secs = now() - t_start;
	if (rp.nrounds) {
		print_table(&rp);
		if (fflush(stdout)) {
			errorf("writing the report: %s", strerror(errno));
			status = 2;
		}
	}
	for (size_t i = 0; i < rp.nrounds; i++)
		for (int op = 0; op < NOPS; op++)
			if (rounds[i].op[op].status == ST_FAILED ||
			    rounds[i].op[op].status == ST_WRONG)
				status = 2;
	if (o.json && rp.nrounds && write_json(&rp, o.json))
		status = 2;
	if (o.plot && rp.nrounds && write_plot(&rp, o.plot))
		status = 2;
	goto out;
fail:
	errorf("%s", err.msg[0] ? err.msg : strerror(-rc));
	status = rc == -EINVAL || rc == -ENOSPC ? 1 : 2;
out:
	eau2_close(db);
	bw_meter_close(&meter);
	free(rounds);
	free(cr);
	return status;
}
