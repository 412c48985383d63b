/* SPDX-License-Identifier: MIT */
/*
 * health.h - failure detection for a driver (health.c), internal to
 * src/cluster: one thread per cluster handle PINGs every member through
 * the node operations' ping every heartbeat_ms and follows the member
 * znodes (members.h's watch). A node is
 *   alive    while it answers,
 *   suspect  after 2 heartbeats in a row went unanswered,
 *   dead     once silent for dead_after_ms, or at once when its member
 *            znode goes (its ZooKeeper session expired or it left);
 * a dead node that answers again, or whose znode comes back (a restart),
 * is alive again. The driver's runs (spec.c) ask for a node's state and
 * its count of deaths to abandon attempts on a node that died.
 *
 * Cost: one PING frame and its PONG per member per heartbeat (the node's
 * event loop answers it, not a worker), on a connection of its own. The
 * PINGs of one round go one after the other, each bounded by the
 * heartbeat: a frozen node slows a round by one heartbeat, never more.
 *
 * Access rules: everything that changes is under the health mutex, taken
 * after any other lock of the driver's (spec.c's run mutex) and never
 * held across a PING, a ZooKeeper call or an event callback.
 */
#ifndef EAU2_CLUSTER_HEALTH_H
#define EAU2_CLUSTER_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"

#define EAU2_HEALTH_HEARTBEAT_MS EAU2_CLUSTER_HEARTBEAT_MS
#define EAU2_HEALTH_DEAD_AFTER_MS EAU2_CLUSTER_DEAD_AFTER_MS
#define EAU2_HEALTH_SUSPECT_MISSED 2  /* unanswered in a row: suspect */
#define EAU2_HEALTH_NODES_MAX 4096    /* nodes remembered (dead ones dropped first) */

struct eau2_health;

struct eau2_health_opts {
	eau2_zk *zk;
	const struct eau2_cluster_node_ops *ops;
	void *ctx;
	int heartbeat_ms;   /* > 0 */
	int dead_after_ms;  /* > 0 */
};

/* Starts the member watch and the heartbeat thread. */
int eau2_health_start(const struct eau2_health_opts *o, struct eau2_health **h,
		      struct eau2_error *err);
/* Stops both (promptly: at most one PING's bound) and frees h. NULL: no-op. */
void eau2_health_stop(struct eau2_health *h);

/* The state of node id (a node never seen: alive) and, when deaths is
 * not NULL, how often it was declared dead so far. */
enum eau2_cluster_node_state eau2_health_state(struct eau2_health *h, const char *id,
					       uint64_t *deaths);

int eau2_health_snapshot(struct eau2_health *h, struct eau2_cluster_health_node **v,
			 size_t *n, struct eau2_error *err);
int eau2_health_wait_round(struct eau2_health *h, int timeout_ms, struct eau2_error *err);
void eau2_health_on_event(struct eau2_health *h, eau2_cluster_event_fn *fn, void *arg);

/* The state machine alone: the state of a node whose member znode
 * exists or not, that missed `missed_in_row` heartbeats in a row and was
 * last heard silent_ms ago. */
enum eau2_cluster_node_state eau2_health_judge(bool member, uint64_t missed_in_row,
					       int64_t silent_ms, int dead_after_ms);

#endif
