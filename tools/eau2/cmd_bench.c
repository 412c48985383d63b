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
 * Processes: the parent generates the data (bench_data.c), measures the
 * bandwidth (bench_bw.c), closes its store handle, then for each client
 * count forks the clients and steps them through the operations
 * (bench_clients.c); bench_output.c prints the report. This file holds
 * the options, small helpers and the command itself; bench_int.h what
 * the parts share.
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
#include "bench_int.h"
#include "common/env_options.h"
#include "eau2.h"
#include "util/file.h"
#include "util/parse.h"

const char *const bench_op_names[NOPS] = {
	"sum", "filter", "groupby", "join", "wordcount",
};
const char *const bench_status_names[4] = { "ok", "skipped", "failed", "wrong" };

/* ------------------------------------------------------------- helpers */

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_errorf(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("eau2: bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bench_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}
const char *bench_human(char *buf, size_t size, double bytes)
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

		for (k = 0; k < NOPS && strcmp(tok, bench_op_names[k]); k++)
			;
		if (k == NOPS) {
			bench_errorf("--ops: unknown operation '%s' (known: sum, filter, "
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
"time x cores (below 100: the host was not saturated). 'scaling' puts\n"
"each round of several clients against the nearest one-client rounds\n"
"(--clients 1,8,1 brackets it), in total GB/s, per CPU share (GB/s over\n"
"cpu%%: other processes' load cancels out, and so do cores eau2 leaves\n"
"idle) and per share of the cores left (GB/s over 1 - others%%, where\n"
"others%% is the share of the cores' time, from /proc/stat, that other\n"
"processes took while the clients ran: their load cancels out, idle\n"
"cores still count). RSS and PSS are\n"
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
		bench_human(a, sizeof(a), (double)DEFAULT_SIZE),
		bench_human(b, sizeof(b), (double)DEFAULT_TEXT_SIZE));
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
			bench_errorf("unexpected argument '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a) : strlen(a);
		if (nl >= sizeof(name)) {
			bench_errorf("unknown option '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		memcpy(name, a, nl);
		name[nl] = 0;
		if (!strcmp(name, "--regen")) {
			if (eq) {
				bench_errorf("option '--regen' takes no value");
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
			bench_errorf("unknown option '%s' (see 'eau2 bench --help')", a);
			return -EINVAL;
		}
		if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			bench_errorf("option '%s' needs a value", name);
			return -EINVAL;
		}
		if (!strcmp(name, "--size") || !strcmp(name, "--text-size")) {
			uint64_t *dst = name[2] == 's' ? &o->size : &o->text_size;
			char a1[32], a2[32];

			if (eau2_parse_size(val, dst) || *dst < SIZE_MIN || *dst > SIZE_MAX_) {
				bench_errorf("%s: '%s' is not a size from %s to %s (e.g. 512M, 2G)",
				       name, val, bench_human(a1, sizeof(a1), (double)SIZE_MIN),
				       bench_human(a2, sizeof(a2), (double)SIZE_MAX_));
				return -EINVAL;
			}
		} else if (!strcmp(name, "--clients")) {
			if (parse_clients(val, o)) {
				bench_errorf("--clients: '%s' is not a comma-separated list of "
				       "at most %d counts from 1 to 256", val, CLIENTS_MAX);
				return -EINVAL;
			}
		} else if (!strcmp(name, "--threads")) {
			if (parse_uint(val, 1, THREADS_MAX, &o->threads)) {
				bench_errorf("--threads: '%s' is not a number from 1 to %d",
				       val, THREADS_MAX);
				return -EINVAL;
			}
		} else if (!strcmp(name, "--ops")) {
			int rc = parse_ops(val, o);

			if (rc == -EINVAL)
				bench_errorf("--ops: '%s' names no operation", val);
			if (rc)
				return -EINVAL;
		} else if (!strcmp(name, "--seed")) {
			char *end;

			errno = 0;
			o->seed = strtoull(val, &end, 0);
			if (!*val || *end || errno || *val == '-') {
				bench_errorf("--seed: '%s' is not a number", val);
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
			bench_errorf("option '%s' needs a non-empty value", name);
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

unsigned bench_allowed_cpus(int *cpus, unsigned max)
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
	double membw[NOPS] = {0}, wall[NOPS] = {0}, others[NOPS] = {0};
	double cpu_all[NOPS] = {0};
	struct bw_meter meter = {0};
	char dir[PATH_MAX];
	int cpus[1024];
	unsigned ncpus, cores;
	eau2 *db = NULL;
	const char *pages;
	int status = 0, rc;
	double t_start = bench_now();
	void (*old_pipe)(int);

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? (fflush(stdout) ? 2 : 0) : 1;
	if (o.plot && !bench_have_gnuplot()) {
		bench_errorf("--plot needs gnuplot, which is not installed (Debian: "
		       "apt-get install gnuplot-nox); use --json for the numbers");
		return 1;
	}
	rp.loadavg = bench_read_loadavg();
	cores = probe_cores();
	ncpus = bench_allowed_cpus(cpus, 1024);
	if (ncpus == 0) {
		cpus[0] = 0;
		ncpus = 1;
	}

	if ((rc = eau2_env_open(&db, o.store, &err))) {
		bench_errorf("opening the store: %s", err.msg);
		return rc == -ENOMEM || rc == -EIO ? 2 : 1;
	}
	snprintf(dir, sizeof(dir), "%s", eau2_dir(db));
	eau2_page_size(db, &pages);
	snprintf(rp.pages, sizeof(rp.pages), "%s", pages);

	for (int op = 0; op < NOPS; op++) {
		avail[op] = eau2_rower_find(bench_op_names[op]) != NULL;
		plan.run[op] = o.op_on[op] && avail[op];
	}
	if (uses_mixed(&o) && (rc = bench_ensure_data(db, &o, cores, GEN_MIXED, &mixed, &err)))
		goto fail;
	if (o.op_on[OP_WORDCOUNT] && (rc = bench_ensure_data(db, &o, cores, GEN_TEXT, &text, &err)))
		goto fail;
	if (o.op_on[OP_JOIN] && (rc = bench_ensure_dim(db, &o, &dim, &err)))
		goto fail;
	eau2_close(db);
	db = NULL;

	bench_progress("measuring memory-read bandwidth...");
	rp.cores = cores;
	if ((rc = bench_bw_open(&meter)) ||
	    (rc = bench_bw_measure(&meter, cores, BW_PASSES, OP_MIN_SECS, &rp.bw_all)) ||
	    (rc = cores > 1 ? bench_bw_measure(&meter, 1, BW_PASSES, OP_MIN_SECS,
					 &rp.bw_one) : (rp.bw_one = rp.bw_all, 0))) {
		bench_errorf("measuring the memory bandwidth failed: %s", strerror(-rc));
		status = 2;
		goto out;
	}
	rp.bw_bytes = meter.n * 8;

	rounds = calloc(o.nclients, sizeof(*rounds));
	cr = calloc(256, sizeof(*cr)); /* --clients counts are <= 256 */
	if (!rounds || !cr) {
		bench_errorf("out of memory");
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
		bench_progress("%u client%s x %s thread%s...", r->clients,
			 r->clients > 1 ? "s" : "", bench_threads_str(r->threads, tb, sizeof(tb)),
			 r->threads == 1 ? "" : "s");
		memset(cr, 0, r->clients * sizeof(*cr));
		if (bench_run_round(&plan, r->clients, cr, membw, wall, others, cpu_all)) {
			status = 2;
			break;
		}
		bench_summarise(r, cr, &plan, avail, &mixed, &text, membw, wall, others,
				cpu_all, cores);
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
	rp.total_secs = bench_now() - t_start;
	if (rp.nrounds) {
		bench_print_table(&rp);
		if (fflush(stdout)) {
			bench_errorf("writing the report: %s", strerror(errno));
			status = 2;
		}
	}
	for (size_t i = 0; i < rp.nrounds; i++)
		for (int op = 0; op < NOPS; op++)
			if (rounds[i].op[op].status == ST_FAILED ||
			    rounds[i].op[op].status == ST_WRONG)
				status = 2;
	if (o.json && rp.nrounds && bench_write_json(&rp, o.json))
		status = 2;
	if (o.plot && rp.nrounds && bench_write_plot(&rp, o.plot))
		status = 2;
	goto out;
fail:
	bench_errorf("%s", err.msg[0] ? err.msg : strerror(-rc));
	status = rc == -EINVAL || rc == -ENOSPC ? 1 : 2;
out:
	eau2_close(db);
	bench_bw_close(&meter);
	free(rounds);
	free(cr);
	return status;
}
