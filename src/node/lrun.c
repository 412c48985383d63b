/* SPDX-License-Identifier: MIT */
/*
 * lrun.c - the local node's run thread (lrun.h; node.h: RUN). A command
 * that runs a rower in its own process pays for mapping the input's pages
 * and checking its chunk headers and string offsets before computing; the
 * node pays once: the dataframes it opened for earlier runs stay open in
 * a cache of EAU2_NODE_RUN_CACHE entries (dfcache.h), their pages mapped
 * and their views checked, dropped within a second of their key naming
 * another dataframe or none.
 *
 * Access rules: the thread owns the store handle; the cache is safe
 * from any thread; the mailbox (job, done, stop) is guarded by mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "df/df.h"
#include "node/dfcache.h"
#include "node/lrun.h"
#include "node/node.h"
#include "node/rstats.h"
#include "shm/shm.h"

struct eau2_node_runner {
	eau2 *h;                 /* runs and puts go through it */
	struct eau2_dfcache *inputs;
	int fd;                  /* eventfd: a job is done */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct eau2_node_job *job, *done;
	int stop;
	struct eau2_rstats *stats; /* the server's, or NULL */
};

void eau2_node_job_free(struct eau2_node_job *job)
{
	if (!job)
		return;
	eau2_df_release(job->out);
	eau2_remote_run_free(&job->q);
	free(job);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ a run */

static void execute(struct eau2_node_runner *r, struct eau2_node_job *j)
{
	const struct eau2_rower_class *cls = eau2_rower_find(j->q.rower);
	uint64_t rows_done = 0;
	struct eau2_run_options ro = { .threads = j->q.threads, .cancel = &j->cancel,
				       .rows_done = &rows_done };
	eau2_df *in = NULL, *out = NULL;
	int rc = 0, slot = -1;

	if (!cls)
		rc = eau2_error_set(&j->err, -ENOEXEC, "no rower '%s' on this node (a plugin it "
				    "lacks? start it with --plugin)", j->q.rower);
	else if (j->q.key[0])
		rc = eau2_dfcache_get(r->inputs, j->q.key, &in, &j->hit, &j->err);
	if (!rc) {
		bool counted = r->stats != NULL;

		if (counted)
			slot = eau2_rstats_run_begin(r->stats, j->q.rower, j->q.key, "local",
						     false, in ? eau2_df_rows(in) : 0, &rows_done);
		rc = eau2_run(r->h, in, cls, &j->q.args, &ro, &out, &j->err);
		if (counted)
			eau2_rstats_run_end(r->stats, slot, j->q.rower, rc);
	}
	eau2_df_release(in);
	if (!rc) {
		j->rows = eau2_df_rows(out);
		j->cols = (uint32_t)eau2_df_ncols(out);
	}
	if (!rc && j->q.as[0]) {
		rc = eau2_put(r->h, j->q.as, out, &j->err);
		eau2_df_release(out);
		out = NULL;
	}
	j->rc = rc;
	j->out = out;
}

static void *runner_main(void *arg)
{
	struct eau2_node_runner *r = arg;
	uint64_t one = 1;
	int64_t t0;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct eau2_node_job *j = r->job;

		if (!j) {
			pthread_cond_wait(&r->cv, &r->mu);
			continue;
		}
		pthread_mutex_unlock(&r->mu);
		t0 = mono_ns();
		execute(r, j);
		j->ms = (double)(mono_ns() - t0) / 1e6;
		pthread_mutex_lock(&r->mu);
		r->job = NULL;
		r->done = j;
		if (write(r->fd, &one, sizeof(one)) < 0) {
			/* the counter is full: the loop is woken already */
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ------------------------------------------------------------ start/stop */

/* What start made, the thread excepted. */
static void runner_free(struct eau2_node_runner *r)
{
	eau2_close(r->h);
	eau2_dfcache_free(r->inputs);
	close(r->fd);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

int eau2_node_runner_start(struct eau2_node_runner **out, struct eau2_store *db,
			   struct eau2_rstats *stats, int *fd, struct eau2_error *err)
{
	struct eau2_options opt = { .store = db->dir, .node = EAU2_NODE_OFF };
	struct eau2_node_runner *r;
	int rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	r->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->fd < 0) {
		rc = eau2_error_set(err, -errno, "node: eventfd: %s", strerror(errno));
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->stats = stats;
	/* Not a facade's handle on the node itself: the node runs here. */
	if ((rc = eau2_open(&r->h, &opt, err)) ||
	    (rc = eau2_dfcache_new(&r->inputs, db->dir, EAU2_NODE_RUN_CACHE, err)))
		goto fail;
	rc = -pthread_create(&r->thread, NULL, runner_main, r);
	if (rc) {
		eau2_error_set(err, rc, "node: starting the run thread: %s", strerror(-rc));
		goto fail;
	}
	*fd = r->fd;
	*out = r;
	return 0;
fail:
	runner_free(r);
	return rc;
}

void eau2_node_runner_submit(struct eau2_node_runner *r, struct eau2_node_job *job)
{
	pthread_mutex_lock(&r->mu);
	r->job = job;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

struct eau2_node_job *eau2_node_runner_take(struct eau2_node_runner *r)
{
	struct eau2_node_job *j;
	uint64_t n;

	if (read(r->fd, &n, sizeof(n)) < 0) {
		/* nothing counted: a spurious wake-up */
	}
	pthread_mutex_lock(&r->mu);
	j = r->done;
	r->done = NULL;
	pthread_mutex_unlock(&r->mu);
	return j;
}

void eau2_node_runner_stop(struct eau2_node_runner *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	if (r->job)
		r->job->cancel = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	eau2_node_job_free(r->job);
	eau2_node_job_free(r->done);
	runner_free(r);
}
