/* SPDX-License-Identifier: MIT */
/*
 * driver.h - what the files of a cluster's driver share, internal to
 * src/cluster: the handle (struct eau2_cluster), the parallel tasks a
 * call's node operations run on, and the pieces one file lends another:
 *
 *  - driver.c: open and close, get, wait_get, delete, list, health, run
 *    (with broadcast side tables), runs whose output stays on the nodes
 *    (eau2_cluster_run_as) and gc;
 *  - put.c: put, and a load streamed to the nodes while it parses;
 *  - shuffle.c: a run whose states stay on the nodes and are shuffled by
 *    key range (issue #12).
 *
 * Access rules. struct eau2_cluster is used by one thread at a time
 * (its zk handle is thread-safe and shared with the worker threads of a
 * call). A call's node operations run on up to EAU2_CLUSTER_PARALLEL
 * threads started for that call and joined before it returns, except a
 * run's, whose losing copies may outlive it (spec.c: they own what they
 * use, and close waits for them); each task
 * writes only its own slot of the call's arrays, and the first error (by
 * task index) is kept under the call's mutex.
 */
#ifndef EAU2_CLUSTER_DRIVER_H
#define EAU2_CLUSTER_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/health.h"
#include "cluster/members.h"
#include "cluster/spec.h"
#include "rowers/rowers.h"

struct bcast;

struct eau2_cluster {
	struct bcast *bcast;   /* the side tables of the runs in progress
				* (innermost first): eau2_cluster_get's cache */
	eau2_zk *zk;
	const struct eau2_cluster_node_ops *ops;
	void *ctx;
	int timeout_ms;
	struct eau2_spec_opts spec;
	struct eau2_spec_track inflight; /* run attempts that outlived their call */
	struct eau2_health *health;      /* NULL: heartbeat_ms < 0 */
	uint64_t shuffle_bytes;          /* the shuffle bound; 0: always shuffle */
	uint64_t bcast_max;              /* bytes of one side table */
};

/* ------------------------------------------------- parallel tasks */

typedef int task_fn(void *arg, size_t i, struct eau2_error *err);

/* Runs fn(arg, i) for i in [0, n) on up to EAU2_CLUSTER_PARALLEL threads;
 * every task runs. Returns the error of the lowest failing task. */
int eau2_driver_parallel(size_t n, task_fn *fn, void *arg, struct eau2_error *err);

/* The live member of id, or NULL. */
const struct eau2_member *eau2_driver_member_of(const struct eau2_members *m, const char *id);

/* ------------------------------------------------- put.c */

/* Drops the partitions of put `put` named by (part, node id) pairs, on
 * the nodes that are alive; best effort (a node down keeps garbage). */
struct drop_call {
	eau2_cluster *cl;
	const struct eau2_members *m;
	uint64_t put;
	const struct eau2_dir_entry *e;  /* replicas of an entry, or */
	const uint32_t *place;           /* a placement (with pushed) */
	const unsigned char *pushed;
	unsigned r;
};

/* drop_call's task t: partition t / r of a placement, or replica
 * t % EAU2_DIR_REPLICAS_MAX of partition t / EAU2_DIR_REPLICAS_MAX of
 * an entry. Always 0. */
int eau2_driver_drop_task(void *arg, size_t t, struct eau2_error *err);

/* Drops every replica of e's partitions on the live nodes. */
void eau2_driver_drop_entry(eau2_cluster *cl, const struct eau2_dir_entry *e);

/* ------------------------------------------------- driver.c: get and run */

/* What get and run share: an entry, the live members, one slot per
 * partition. */
struct part_call {
	eau2_cluster *cl;
	eau2 *db;
	const struct eau2_dir_entry *e;
	const struct eau2_members *m;
	eau2_df **dfs;                       /* get */
	const struct eau2_rower_class *cls;  /* run */
	const struct eau2_args *args;
	void **states;
	size_t *lens;
};

/* Decodes the partitions' states and joins them in partition order. */
int eau2_driver_join_states(const struct part_call *c, const struct eau2_run_ctx *ctx,
			    eau2_df **result, struct eau2_error *err);

/* ------------------------------------------------- driver.c: runs kept on the nodes */

/* A run whose output stays on the nodes (driver.c says how). */
struct out_call {
	eau2_cluster *cl;
	const struct eau2_dir_entry *e;    /* the input's */
	const struct eau2_members *m;
	struct eau2_spec_out so;
	uint32_t *to;           /* [i * REPLICAS_MAX + j]: member indices; j 0 the winner */
	unsigned *nto;          /* per partition */
	unsigned char *copied;  /* as to: the copy is there */
	uint32_t *lost;         /* as to: the members that ran a copy of i */
	unsigned char *stale;   /* as lost: to drop */
};

/* c's placement arrays for n partitions (not so.info: the caller's);
 * eau2_driver_out_free frees what was made. -ENOMEM leaves them to it. */
int eau2_driver_out_alloc(struct out_call *c, size_t n);
void eau2_driver_out_free(struct out_call *c);

/* Places each partition's output (`replicas` each, 0: its input
 * partition's, at most the live members), copies it there node to node
 * and publishes `as`: its entry in *oe, the one it replaced in *old
 * (both the caller's to free). */
int eau2_driver_out_publish(struct out_call *c, const char *as, unsigned replicas,
			    uint64_t *given, struct eau2_dir_entry *oe,
			    struct eau2_dir_entry *old, struct eau2_error *err);

/* ------------------------------------------------- shuffle.c */

/* Whether runs of cls shuffle on cl: cls samples and splits, the node
 * operations keep, cut and reduce. */
bool eau2_driver_shuffles(const eau2_cluster *cl, const struct eau2_rower_class *cls);

/* Whether a part's state of a run over e might reach the shuffle bound. */
bool eau2_driver_may_shuffle(const eau2_cluster *cl, const struct eau2_dir_entry *e);

/* A shuffle of cls over e; as: its ranges published as `as` on
 * `replicas` nodes each (*result stays NULL unless the states were
 * gathered: the caller puts it). */
int eau2_driver_shuffle_run(eau2_cluster *cl, eau2 *db, const struct eau2_dir_entry *e,
			    const struct eau2_rower_class *cls, const struct eau2_args *args,
			    const struct eau2_run_ctx *ctx, const char *as, unsigned replicas,
			    eau2_df **result, struct eau2_error *err);

/* eau2_cluster_run_as of a class that shuffles. */
int eau2_driver_shuffle_as(eau2_cluster *cl, eau2 *db, const char *key,
			   const struct eau2_rower_class *cls, const struct eau2_args *args,
			   const char *as, unsigned replicas, struct eau2_error *err);

#endif
