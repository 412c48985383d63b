/* SPDX-License-Identifier: MIT */
/*
 * bench_int.h - internal to `eau2 bench` (cmd_bench.c and the bench_*.c
 * files beside it): its constants, the structs its parts share, and the
 * functions each part offers the others. The parts: cmd_bench.c (options,
 * helpers, the command), bench_data.c (vocabulary, generation, the data
 * sets cached in the store), bench_bw.c (the memory bandwidth meter),
 * bench_clients.c (the client processes and their rounds),
 * bench_output.c (table, JSON, plot).
 */
#ifndef EAU2_TOOLS_BENCH_INT_H
#define EAU2_TOOLS_BENCH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eau2.h"

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
extern const char *const bench_op_names[NOPS];

enum { ST_OK, ST_SKIPPED, ST_FAILED, ST_WRONG };
extern const char *const bench_status_names[4];
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
	uint64_t huge;     /* bytes mapped in 2 MiB pages after the touch */
};

struct op_res {
	int status;
	char why[300];
	double mean, max, wall; /* per run: mean and max over clients */
	uint64_t runs;       /* runs of all clients in the round */
	double cpu_mean;     /* CPU seconds (user + system) per client, all runs */
	double cpu_util;     /* all clients' CPU time / (wall x cores) */
	double cpu_others;   /* share of the cores' time other processes took
			      * during the segments; < 0: unknown */
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
	uint64_t huge_client;        /* bytes in 2 MiB pages, per client, mean */
};

enum gen_kind { GEN_MIXED = 1, GEN_TEXT = 2 };

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

struct bw_result {
	double sustained; /* bytes of all passes / their wall time, GB/s */
	double best;      /* the fastest pass, GB/s */
	unsigned passes;
};

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

/* ------------------------------------------------------- cmd_bench.c */
double bench_now(void);
void bench_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies at most size - 1 bytes of src (messages are cut, not failed). */
void bench_copy_str(char *dst, size_t size, const char *src);
const char *bench_human(char *buf, size_t size, double bytes);
/* The CPUs this process may run on, in increasing order. */
unsigned bench_allowed_cpus(int *cpus, unsigned max);

/* ------------------------------------------------------ bench_data.c */
/* The expected answers of a data set, for the checks of the clients. */
size_t bench_answers(enum gen_kind kind, struct dataset *ds, int64_t **a);
int bench_ensure_data(eau2 *db, const struct bench_opts *o, unsigned cores,
		      enum gen_kind kind, struct dataset *ds, struct eau2_error *err);
int bench_ensure_dim(eau2 *db, const struct bench_opts *o, struct dataset *ds,
		     struct eau2_error *err);

/* -------------------------------------------------------- bench_bw.c */
int bench_bw_open(struct bw_meter *bm);
void bench_bw_close(struct bw_meter *bm);
int bench_bw_measure(const struct bw_meter *bm, unsigned nthreads,
		     unsigned min_passes, double secs, struct bw_result *res);

/* --------------------------------------------------- bench_clients.c */
int bench_run_round(const struct client_plan *base, unsigned nclients,
		    struct client_res *cr, double *membw, double *wall,
		    double *others, double *cpu_secs_all);
void bench_summarise(struct round *r, const struct client_res *cr,
		     const struct client_plan *plan, const bool *avail,
		     const struct dataset *mixed, const struct dataset *text,
		     const double *membw, const double *wall, const double *others,
		     const double *cpu_secs_all, unsigned cores);

/* ---------------------------------------------------- bench_hostcpu.c */
/* Ticks of some CPUs (/proc/stat), summed: busy (user, nice, system, irq,
 * softirq, steal) and all of them (idle and iowait too). */
struct cpu_ticks {
	unsigned long long busy, total;
};
bool bench_cpu_ticks(const int *cpus, unsigned ncpus, struct cpu_ticks *t);
double bench_cpu_ticks_per_sec(void);

/* ---------------------------------------------------- bench_output.c */
const char *bench_threads_str(unsigned threads, char *buf, size_t size);
int bench_write_json(const struct report *rp, const char *path);
void bench_print_table(const struct report *rp);
double bench_read_loadavg(void);
bool bench_have_gnuplot(void);
int bench_write_plot(const struct report *rp, const char *png);

#endif
