/* SPDX-License-Identifier: MIT */
/*
 * lrun.h - internal to src/node: the local node's run thread (node.h:
 * RUN). The event loop (server.c) owns the queue and the turns; it hands
 * the runner one job at a time and is woken through the runner's eventfd
 * when the job is done. The runner executes it on a long-lived store
 * handle, with the input dataframes it opened before kept mapped (their
 * chunk views checked once) in a small cache keyed by key and id.
 *
 * Access rules: a job belongs to the loop except between
 * eau2_node_runner_submit and eau2_node_runner_take, when it is the
 * runner's; only `cancel` is written by the loop meanwhile (a flag the
 * executor polls).
 */
#ifndef EAU2_NODE_LRUN_H
#define EAU2_NODE_LRUN_H

#include <stdint.h>

#include "eau2.h"
#include "node/remote.h"

struct eau2_node_job {
	/* the request (decoded; its strings live in q.mem) */
	struct eau2_remote_run_req q;
	volatile int cancel;     /* set by the loop: the client went away */
	/* the outcome, set by the runner */
	int rc;
	struct eau2_error err;
	eau2_df *out;            /* the result when q.as is "" */
	uint64_t rows;           /* the result's rows and columns */
	uint32_t cols;
	int hit;                 /* the input was open already */
	double ms;               /* how long it took, wait excluded */
	/* the loop's */
	void *owner;             /* the connection waiting, NULL once gone */
	uint64_t req;            /* the request id to reply to */
	struct eau2_node_job *next;
};

struct eau2_node_runner;

/* Opens store handles on db's directory (one for runs and puts, one for
 * the cache of inputs) and starts the run thread. *fd: an eventfd that
 * becomes readable when a submitted job is done. */
struct eau2_rstats;
/* stats (NULL: none): where each run is counted (rstats.h). */
int eau2_node_runner_start(struct eau2_node_runner **r, struct eau2_store *db,
			   struct eau2_rstats *stats, int *fd, struct eau2_error *err);
/* Hands job to the runner (which must be idle). */
void eau2_node_runner_submit(struct eau2_node_runner *r, struct eau2_node_job *job);
/* The job done, or NULL (reads the eventfd). */
struct eau2_node_job *eau2_node_runner_take(struct eau2_node_runner *r);
/* Cancels what runs, joins the thread, closes the cache and the handle.
 * A job still the runner's is freed. NULL allowed. */
void eau2_node_runner_stop(struct eau2_node_runner *r);
void eau2_node_job_free(struct eau2_node_job *job); /* NULL allowed */

#endif
