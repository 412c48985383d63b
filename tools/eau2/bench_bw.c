/* SPDX-License-Identifier: MIT */
/*
 * bench_bw.c - the memory-read bandwidth meter of `eau2 bench`: the
 * parent sums a large array on N pinned threads, before and between the
 * operations' segments, so each operation is compared with the bandwidth
 * measured around it.
 *
 * Threads: the bandwidth threads share a read-only array and a barrier,
 * and write only their own result slot.
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

/* -------------------------------------------------- memory bandwidth */

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

/*
 * nthreads threads sum the array in passes, after one warm-up pass, for
 * at least min_passes passes and secs seconds. The sustained figure is
 * the statistic an operation's round gets (bytes over wall time), so
 * the two compare like for like; the fastest pass is kept as well (on a
 * shared host it catches bursts that no sustained scan sees).
 */
int bench_bw_measure(const struct bw_meter *bm, unsigned nthreads,
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
		bench_errorf("cannot start the bandwidth threads");
		abort();
	}
	for (unsigned p = 0;; p++) {
		pthread_barrier_wait(&r.bar);
		t0 = bench_now();
		pthread_barrier_wait(&r.bar);
		t = bench_now() - t0;
		if (p == 0) {
			start = bench_now();
			continue;
		}
		res->passes = p;
		if (t > 0 && bytes / t / 1e9 > res->best)
			res->best = bytes / t / 1e9;
		t = bench_now() - start;
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
int bench_bw_open(struct bw_meter *bm)
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
	bm->ncpus = bench_allowed_cpus(bm->cpus, 1024);
	return 0;
}

void bench_bw_close(struct bw_meter *bm)
{
	if (bm->a)
		munmap(bm->a, bm->n * 8);
	bm->a = NULL;
}
