/* SPDX-License-Identifier: MIT */
/*
 * spec.h - a run's partition tasks with backup copies (spec.c), internal
 * to src/cluster: the driver's run hands it the partitions and their
 * replicas, and gets back one encoded state per partition.
 *
 * As MapReduce's backup tasks did: once a task has run longer than
 * `factor` times the median time of the run's finished tasks, and longer
 * than min_ms, a copy starts on another replica; the first answer wins
 * and the other is thrown away when it comes. The call returns as soon as
 * every partition has an answer (or one has none from any replica): it
 * does not wait for the losers, whose threads hold their own copies of
 * what they use. What they still use of the caller is the node
 * operations and their context: eau2_spec_drain (from
 * eau2_cluster_close) waits for the last of them.
 */
#ifndef EAU2_CLUSTER_SPEC_H
#define EAU2_CLUSTER_SPEC_H

#include <pthread.h>
#include <stddef.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"

/* Attempts still running past the call that started them; one per
 * cluster handle. */
struct eau2_spec_track {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t inflight;
};

void eau2_spec_track_init(struct eau2_spec_track *t);
/* Waits until no attempt runs, then destroys t. */
void eau2_spec_drain(struct eau2_spec_track *t);

struct eau2_health;

/* With a health thread, an attempt skips replicas that are dead, and one
 * whose node dies while it waits (or that dies and comes back: its
 * connection went with it) is abandoned: its task starts again on the
 * next replica within one tick (50 ms) of the death, and what the
 * abandoned attempt brings later is thrown away unless it is the first
 * answer. A task whose replicas are all dead fails, naming its
 * partition. */
struct eau2_spec_opts {
	double factor;    /* backup when slower than factor x the median */
	int min_ms;       /* ... and slower than this */
	unsigned parallel; /* attempts at once, backups not counted */
	struct eau2_health *health; /* NULL: none */
};

/* A run whose parts keep their output where they ran (ops->run_out, for
 * classes with EAU2_ROWER_ROWWISE): partition i's output is stored on the
 * node that runs it as eau2_dir_part_name(put, i). Arrays of e->nparts,
 * the caller's; the call fills them. An attempt started after the call
 * returned never runs (a task's copies run on the replicas marked in
 * tried by then, and no others), so the caller knows every node that may
 * hold a copy: the winner's, and the losers' (identical rows: the class
 * is row-wise and deterministic). A loser cut short may still store its
 * copy after the call returned: the node's scan drops a copy that no
 * entry places there (repair.h). */
struct eau2_spec_out {
	uint64_t put;
	struct eau2_cluster_part_out *info; /* the winner's answer */
	uint32_t *won;      /* the replica index (in e->parts[i]) that won */
	uint32_t *tried;    /* bit j: replica j was asked to run it */
};

/* Runs rower (with args) over every partition of e on one live replica
 * (m: the live members) through ops->run, with backups as above. Fills
 * states[i] (malloc'd, the caller's) and lens[i] for every i; on an error
 * (the lowest failing partition's, naming it and what each replica said)
 * the states filled so far are the caller's to free too. With out (not
 * NULL) each part runs through ops->run_out instead and out is filled;
 * states and lens are unused (NULL allowed). */
int eau2_spec_run(struct eau2_spec_track *t, const struct eau2_spec_opts *o,
		  const struct eau2_cluster_node_ops *ops, void *ctx,
		  const struct eau2_dir_entry *e, const struct eau2_members *m,
		  const char *rower, const struct eau2_args *args,
		  struct eau2_spec_out *out, void **states, size_t *lens,
		  struct eau2_error *err);

#endif
