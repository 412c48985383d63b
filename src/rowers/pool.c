/* SPDX-License-Identifier: MIT */
/*
 * pool.c - the executor: runs a rower class over a dataframe on worker
 * threads, one pinned per allowed core.
 *
 * Sharing: a run sized by default (no opt->threads) takes its fair share
 * of the host's cores among all runs of all processes on the store
 * (src/shm/cores.c), pins its workers to CPUs no other run holds, and its
 * extra workers retire when more runs arrive; a run whose share is one
 * core runs on the caller's thread. opt->threads bypasses the sharing.
 *
 * Threads: created per run and joined at its end (no process-wide pool).
 * That keeps runs independent (several client threads may run at once,
 * and a rower may itself call eau2_run) at a cost of ~20-50 us per thread;
 * a run with a single unit of work (one row group, or threads = 1) runs
 * inline on the calling thread and creates nothing, so small runs pay
 * nothing. Worker i is pinned to the i-th CPU of the process's affinity
 * mask when the run has no more workers than allowed CPUs; oversubscribed
 * runs are not pinned.
 *
 * Columns: a class with columns() names the columns its states read; the
 * workers view only those (the others' chunks are never touched, their
 * views stay zeroed).
 *
 * Work: unordered classes pull row groups (morsels) from a shared atomic
 * counter; each worker owns one state (zeroed, init'ed on the worker) and
 * the states are joined in worker-index order. EAU2_ROWER_ORDERED classes
 * are split into contiguous tasks of row groups whose boundaries depend
 * only on the row-group count (ORDERED_TASKS tasks at most, never on the
 * thread count); each task gets a fresh state and the task states are
 * joined in task order, so output order and content are the same for any
 * thread count.
 *
 * States: every state the executor allocates is destroyed (when the class
 * has destroy), including one whose init failed: states start zeroed, so
 * destroy must accept a zeroed or half-initialised state.
 *
 * Errors: the first failing worker stores its code and message in the run
 * (under run->lock) and raises run->stop, which every worker checks
 * between row groups. opt->cancel is polled at the same points.
 *
 * Access rules: struct run is shared by the workers. next and stop are
 * atomics; rc and err are written only under lock; states[k] is written
 * only by the worker that owns unit k and read by the caller after every
 * worker has been joined. Everything else is read-only during the run.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rowers/rowers.h"
#include "shm/shm.h"
#include "util/cpu.h"

#define ORDERED_TASKS 64   /* tasks per ordered run, at most */
#define THREADS_MAX 1024   /* a larger opt->threads is refused */
#define SHARE_CHECK_NS 2000000 /* workers re-read their run's share this often */

/* jemalloc's control call when jemalloc is the process allocator (every
 * eau2 binary); NULL otherwise (programs on glibc malloc, sanitizer
 * builds). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

/*
 * Gives back to the system the pages of what a run freed. Its states and
 * its output buffers (an ordered run's 64 tasks each build their rows)
 * are freed at its end, and jemalloc would keep those dirty pages for
 * up to 10 s: a client idling after a join held ~40 MB it no longer
 * used, on each of many clients. Measured on the bench's join and filter
 * (2 GiB input, ~439k rows out): no slower (0.96-0.99 of the time).
 * "arena.4096" is every arena (MALLCTL_ARENAS_ALL).
 */
static void return_freed_pages(void)
{
	if (mallctl)
		mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ run */

struct run {
	const struct eau2_rower_class *cls;
	const eau2_df *df;
	struct eau2_run_ctx ctx;
	size_t ngroups, ncols;
	bool ordered;
	size_t nunits;        /* ordered: tasks; else: workers */
	void **states;        /* one per unit; NULL until allocated */
	const volatile int *cancel;
	uint64_t *rows_done;  /* opt->rows_done: progress, or NULL */
	struct eau2_shm_cores *cores; /* shared cores table, or NULL */
	uint64_t token;               /* this run's token in it */
	unsigned cores_total;         /* cores the shares divide */
	atomic_size_t next;   /* next row group (unordered) or task (ordered) */
	atomic_int stop;
	pthread_mutex_t lock; /* guards rc and err */
	int rc;
	struct eau2_error err;
};

struct worker {
	struct run *run;
	unsigned index;
	int cpu;                       /* claimed CPU, or -1 */
	uint64_t next_check;           /* ns: when to re-read the share */
	struct eau2_chunk_view *views; /* ncols */
	uint64_t *used;                /* columns the class reads (a bit each),
					* or NULL: all */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True when worker w (never worker 0) should stop taking work because
 * more runs now share the cores; it gives its CPU back. */
static bool worker_retires(struct worker *w)
{
	struct run *r = w->run;
	uint64_t t;

	if (!r->cores || w->index == 0)
		return false;
	t = now_ns();
	if (t < w->next_check)
		return false;
	w->next_check = t + SHARE_CHECK_NS;
	if (w->index < eau2_shm_cores_share(r->cores, r->token, r->cores_total))
		return false;
	eau2_shm_cores_release_cpu(r->cores, r->token, w->cpu);
	return true;
}

static void run_fail(struct run *r, int rc, const struct eau2_error *err)
{
	pthread_mutex_lock(&r->lock);
	if (r->rc == 0) {
		r->rc = rc;
		if (err && err->msg[0])
			r->err = *err;
		else
			eau2_error_set(&r->err, rc, "rower '%s' failed: %s",
				       r->cls->name, strerror(-rc));
		r->err.code = rc;
	}
	pthread_mutex_unlock(&r->lock);
	atomic_store_explicit(&r->stop, 1, memory_order_relaxed);
}

/* True when the run must stop (an error elsewhere, or cancellation). */
static bool run_stopping(struct run *r)
{
	if (atomic_load_explicit(&r->stop, memory_order_relaxed))
		return true;
	if (r->cancel && *r->cancel) {
		struct eau2_error e;
		eau2_error_set(&e, -ECANCELED, "rower '%s': run cancelled",
			       r->cls->name);
		run_fail(r, -ECANCELED, &e);
		return true;
	}
	return false;
}

static int state_new(struct run *r, void **out, struct eau2_error *err)
{
	size_t size = r->cls->state_size ? r->cls->state_size : 1;
	void *s = calloc(1, size);

	*out = s;
	if (!s)
		return eau2_error_set(err, -ENOMEM, "rower '%s': no memory for a state",
				      r->cls->name);
	return r->cls->init(s, &r->ctx, err);
}

/* A new state: which columns it reads (every state of a run reads the
 * same ones, but asking each keeps the class's contract simple). */
static void worker_columns(struct worker *w, const void *state)
{
	if (!w->used)
		return;
	memset(w->used, 0, (w->run->ncols + 63) / 64 * sizeof(*w->used));
	w->run->cls->columns(state, w->used, w->run->ncols);
}

static int visit_group(struct worker *w, void *state, size_t g,
		       struct eau2_error *err)
{
	struct run *r = w->run;
	int rc;

	for (size_t c = 0; c < r->ncols; c++) {
		if (w->used && !((w->used[c / 64] >> (c % 64)) & 1))
			continue; /* its view stays zeroed */
		rc = eau2_df_chunk(r->df, c, g, &w->views[c], err);
		if (rc < 0)
			return rc;
	}
	struct eau2_group grp = {
		.df = r->df,
		.group = g,
		.first_row = eau2_df_group_first_row(r->df, g),
		.rows = eau2_df_group_rows(r->df, g),
		.cols = w->views,
	};
	if (r->cls->accept_chunk)
		return r->cls->accept_chunk(state, &grp, err);
	struct eau2_row row = { .df = r->df, .cols = w->views };
	for (uint32_t i = 0; i < grp.rows; i++) {
		row.i = i;
		row.row = grp.first_row + i;
		rc = r->cls->accept(state, &row);
		if (rc < 0)
			return eau2_error_set(err, rc, "rower '%s': accept failed at row %llu: %s",
					      r->cls->name, (unsigned long long)row.row,
					      strerror(-rc));
	}
	return 0;
}

/* visit_group, counted in the run's progress once done. */
static int do_group(struct worker *w, void *state, size_t g, struct eau2_error *err)
{
	int rc = visit_group(w, state, g, err);

	if (!rc && w->run->rows_done)
		__atomic_fetch_add(w->run->rows_done, eau2_df_group_rows(w->run->df, g),
				   __ATOMIC_RELAXED);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	struct eau2_error err = {0};
	int rc = 0;

	if (!r->ordered) {
		rc = state_new(r, &r->states[w->index], &err);
		if (rc == 0)
			worker_columns(w, r->states[w->index]);
		while (rc == 0 && !run_stopping(r) && !worker_retires(w)) {
			size_t g = atomic_fetch_add(&r->next, 1);
			if (g >= r->ngroups)
				break;
			rc = do_group(w, r->states[w->index], g, &err);
		}
	} else {
		while (rc == 0 && !run_stopping(r) && !worker_retires(w)) {
			size_t t = atomic_fetch_add(&r->next, 1);
			if (t >= r->nunits)
				break;
			size_t g0 = t * r->ngroups / r->nunits;
			size_t g1 = (t + 1) * r->ngroups / r->nunits;
			rc = state_new(r, &r->states[t], &err);
			if (rc == 0)
				worker_columns(w, r->states[t]);
			for (size_t g = g0; rc == 0 && g < g1; g++) {
				if (g > g0 && run_stopping(r))
					break;
				rc = do_group(w, r->states[t], g, &err);
			}
		}
	}
	if (rc < 0)
		run_fail(r, rc, &err);
	return NULL;
}

/* Every argument is one cls declares (when it declares them) and none is
 * given twice: a misspelt name is an error, never silently ignored. */
static int check_args(const struct eau2_rower_class *cls, const struct eau2_args *a,
		      struct eau2_error *err)
{
	const char *rower = cls->name ? cls->name : "?";

	for (size_t i = 0; a && i < a->n; i++) {
		const char *name = a->names[i] ? a->names[i] : "";
		const char *const *k;
		char list[256];
		size_t n = 0;

		for (size_t j = 0; j < i; j++)
			if (a->names[j] && !strcmp(a->names[j], name))
				return eau2_error_set(err, -EINVAL, "rower '%s': argument '%s' "
						      "given twice", rower, name);
		if (!cls->args)
			continue;
		for (k = cls->args; *k && strcmp(*k, name); k++)
			;
		if (*k)
			continue;
		list[0] = 0;
		for (k = cls->args; *k && n < sizeof(list); k++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
					      k == cls->args ? "" : ", ", *k);
		return eau2_error_set(err, -EINVAL, "rower '%s' has no argument '%s' (%s%s)",
				      rower, name, cls->args[0] ? "its arguments: " :
				      "it takes none", list);
	}
	return 0;
}

int eau2_run_in(struct eau2_store *st, eau2 *db, const eau2_df *df,
		const struct eau2_rower_class *cls, const struct eau2_args *args,
		const struct eau2_run_options *opt, eau2_df **result,
		struct eau2_error *err)
{
	static const struct eau2_args no_args = {0};
	struct eau2_error e = {0};
	struct worker *workers = NULL;
	pthread_t *tids = NULL;
	unsigned nthreads, started = 0;
	struct run r;
	int rc = 0;

	if (result)
		*result = NULL;
	if (!cls || !result)
		return eau2_error_set(err, -EINVAL, "eau2_run: NULL class or result");
	if (!df && !(cls->flags & EAU2_ROWER_NO_INPUT))
		return eau2_error_set(err, -EINVAL, "rower '%s' needs an input dataframe",
				      cls->name ? cls->name : "?");
	if (!cls->init || !cls->join || !cls->finish ||
	    (!cls->accept && !cls->accept_chunk))
		return eau2_error_set(err, -EINVAL, "eau2_run: rower '%s' lacks init, join, "
				      "finish or accept", cls->name ? cls->name : "?");
	if ((rc = check_args(cls, args, err)))
		return rc;
	nthreads = opt && opt->threads ? opt->threads : eau2_default_threads();
	if (nthreads > THREADS_MAX)
		return eau2_error_set(err, -EINVAL, "eau2_run: %u threads (at most %u)",
				      nthreads, THREADS_MAX);

	memset(&r, 0, sizeof(r));
	r.cls = cls;
	r.df = df;
	/* No input (EAU2_ROWER_NO_INPUT): one state is init'ed and finished,
	 * with no rows to visit. */
	r.ngroups = df ? eau2_df_ngroups(df) : 0;
	r.ncols = df ? eau2_df_ncols(df) : 0;
	r.ordered = cls->flags & EAU2_ROWER_ORDERED;
	r.cancel = opt ? opt->cancel : NULL;
	r.rows_done = opt ? opt->rows_done : NULL;
	pthread_mutex_init(&r.lock, NULL);
	atomic_init(&r.next, 0);
	atomic_init(&r.stop, 0);

	/* Units of parallel work bound the useful thread count. */
	size_t work = r.ordered ? (r.ngroups < ORDERED_TASKS ? r.ngroups : ORDERED_TASKS)
				: r.ngroups;
	if (work == 0)
		work = 1;
	if (nthreads > work)
		nthreads = (unsigned)work;
	int claimed[THREADS_MAX];
	unsigned nclaimed = 0;
	if (!(opt && opt->threads) && st && nthreads > 1 &&
	    (r.cores = eau2_shm_cores_map(st)) &&
	    eau2_shm_cores_enter(r.cores, &r.token) == 0) {
		unsigned share;

		r.cores_total = eau2_default_threads();
		share = eau2_shm_cores_share(r.cores, r.token, r.cores_total);
		if (share < nthreads)
			nthreads = share;
		if (nthreads > 1) {
			unsigned ncpus;
			const int *cpus = eau2_cpu_allowed(&ncpus);

			nclaimed = eau2_shm_cores_claim(r.cores, r.token, cpus, ncpus,
							nthreads, claimed);
			if (nclaimed < 2) {
				/* One core: the caller's own thread runs it. */
				for (unsigned i = 0; i < nclaimed; i++)
					eau2_shm_cores_release_cpu(r.cores, r.token,
								   claimed[i]);
				nclaimed = 0;
			}
			nthreads = nclaimed ? nclaimed : 1;
		}
	} else {
		r.cores = NULL;
	}
	r.nunits = r.ordered ? work : nthreads;
	r.ctx = (struct eau2_run_ctx){
		.db = db, .input = df, .args = args ? args : &no_args,
		.threads = nthreads, .cancel = r.cancel, .flags = opt ? opt->flags : 0,
	};

	r.states = calloc(r.nunits, sizeof(*r.states));
	workers = calloc(nthreads, sizeof(*workers));
	tids = calloc(nthreads, sizeof(*tids));
	if (!r.states || !workers || !tids) {
		rc = eau2_error_set(err, -ENOMEM, "eau2_run: out of memory");
		goto out;
	}
	for (unsigned i = 0; i < nthreads; i++) {
		workers[i].run = &r;
		workers[i].index = i;
		workers[i].cpu = i < nclaimed ? claimed[i] : -1;
		workers[i].views = calloc(r.ncols ? r.ncols : 1, sizeof(*workers[i].views));
		if (cls->columns && r.ncols)
			workers[i].used = calloc((r.ncols + 63) / 64, sizeof(uint64_t));
		if (!workers[i].views || (cls->columns && r.ncols && !workers[i].used)) {
			rc = eau2_error_set(err, -ENOMEM, "eau2_run: out of memory");
			goto out;
		}
	}

	if (r.ngroups == 0 && r.ordered) {
		/* No task at all: one empty state still gives the result. */
		rc = state_new(&r, &r.states[0], &e);
		if (rc < 0)
			run_fail(&r, rc, &e);
	} else if (nthreads == 1) {
		worker_main(&workers[0]);
	} else {
		pthread_attr_t attr;
		unsigned ncpus;
		const int *cpus = eau2_cpu_allowed(&ncpus);
		bool pin;

		pin = nclaimed == nthreads || (!r.cores && nthreads <= ncpus);
		for (unsigned i = 0; i < nthreads; i++) {
			pthread_attr_init(&attr);
			if (pin) {
				cpu_set_t set;
				CPU_ZERO(&set);
				CPU_SET(nclaimed ? claimed[i] : cpus[i], &set);
				pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
			}
			rc = pthread_create(&tids[i], &attr, worker_main, &workers[i]);
			pthread_attr_destroy(&attr);
			if (rc != 0) {
				rc = -rc;
				eau2_error_set(&e, rc, "eau2_run: cannot start worker %u: %s",
					       i, strerror(-rc));
				run_fail(&r, rc, &e);
				break;
			}
			started++;
		}
		rc = 0;
		for (unsigned i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
	}

	rc = r.rc;
	if (rc == 0 && r.cancel && *r.cancel) {
		rc = eau2_error_set(&r.err, -ECANCELED, "rower '%s': run cancelled",
				    cls->name);
	}
	if (rc < 0) {
		if (err)
			*err = r.err;
		goto out;
	}
	/* Join in fixed order: worker index, or task index when ordered. */
	for (size_t k = 1; k < r.nunits; k++) {
		if (!r.states[k])
			continue;
		rc = cls->join(r.states[0], r.states[k], err);
		if (rc < 0)
			goto out;
		if (cls->destroy)
			cls->destroy(r.states[k]);
		free(r.states[k]);
		r.states[k] = NULL;
	}
	rc = cls->finish(r.states[0], &r.ctx, result, err);
	if (rc < 0 && *result) {
		eau2_df_release(*result);
		*result = NULL;
	}
out:
	for (size_t k = 0; r.states && k < r.nunits; k++) {
		if (!r.states[k])
			continue;
		if (cls->destroy)
			cls->destroy(r.states[k]);
		free(r.states[k]);
	}
	for (unsigned i = 0; workers && i < nthreads; i++) {
		free(workers[i].views);
		free(workers[i].used);
	}
	free(workers);
	free(tids);
	free(r.states);
	if (r.cores) {
		for (unsigned i = 0; i < nclaimed; i++)
			eau2_shm_cores_release_cpu(r.cores, r.token, claimed[i]);
		eau2_shm_cores_leave(r.cores, r.token);
	}
	pthread_mutex_destroy(&r.lock);
	if (r.ngroups > 1)
		return_freed_pages();
	return rc;
}
