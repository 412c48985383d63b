/* SPDX-License-Identifier: MIT */
/*
 * place.h - where the partitions of a distributed dataframe go: pure
 * functions (no ZooKeeper, no I/O), internal to src/cluster.
 *
 *  - cut: consecutive row groups into partitions of about equal bytes,
 *    never splitting a row group;
 *  - assign: each partition to r distinct nodes, balanced by bytes and
 *    within each node's free store bytes;
 *  - repair: after nodes are lost, which partitions to copy from which
 *    survivor to which node to get back to r replicas (issue #13), and
 *    which partitions have no replica left.
 */
#ifndef EAU2_CLUSTER_PLACE_H
#define EAU2_CLUSTER_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "eau2.h"

/* Partitions of a put: a target of bytes each, at least one per node
 * when there are row groups enough. */
#define EAU2_PLACE_PART_BYTES (256ull << 20)

struct eau2_place_range {
	size_t group;      /* first row group */
	size_t ngroups;
	uint64_t bytes;
};

/* Cuts groups 0..n (group_bytes[i] each) into consecutive ranges: at
 * least min_parts of them when n allows, each about target bytes (0:
 * EAU2_PLACE_PART_BYTES) and at most max_parts (<= n). *out is malloc'd
 * (*nout ranges; none when n is 0). */
int eau2_place_cut(const uint64_t *group_bytes, size_t n, uint64_t target,
		   size_t min_parts, size_t max_parts,
		   struct eau2_place_range **out, size_t *nout,
		   struct eau2_error *err);

struct eau2_place_node {
	const char *id;    /* for messages */
	uint64_t free;     /* free bytes of its store */
	uint64_t load;     /* bytes it holds of this placement (in/out) */
};

/* Places partition i (bytes[i]) on r distinct nodes: out[i * r + j] is
 * the index in nodes of its replica j. Largest partitions first, each on
 * the nodes holding fewest bytes so far (ties: most free, then lowest
 * index), never over a node's free bytes. nodes[].load is read as the
 * starting load and updated. -EINVAL when r is 0 or over n_nodes
 * (message: how many nodes there are), -ENOSPC naming the partition that
 * fits on fewer than r nodes. */
int eau2_place_assign(struct eau2_place_node *nodes, size_t n_nodes,
		      const uint64_t *bytes, size_t nparts, unsigned r,
		      uint32_t *out, struct eau2_error *err);

/* A copy to make: partition `part` from node `from` to node `to`
 * (indices into the repair's nodes). */
struct eau2_place_copy {
	size_t part;
	uint32_t from, to;
};

/* Repair plan. reps[i] lists partition i's replicas (nrep[i] of them, node
 * indices; maxrep a row) and alive[k] says whether node k lives. Fills
 * copies (room for nparts * r) with what brings every partition that has
 * a live replica back to r live replicas (copying to the least loaded
 * live nodes that lack it, as assign does), and lost (room for nparts)
 * with the partitions that have none. nodes[].load is updated. */
int eau2_place_repair(struct eau2_place_node *nodes, size_t n_nodes,
		      const unsigned char *alive, const uint64_t *bytes,
		      const uint32_t *reps, const uint32_t *nrep, size_t maxrep,
		      size_t nparts, unsigned r,
		      struct eau2_place_copy *copies, size_t *ncopies,
		      size_t *lost, size_t *nlost, struct eau2_error *err);

#endif
