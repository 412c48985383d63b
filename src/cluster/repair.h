/* SPDX-License-Identifier: MIT */
/*
 * repair.h - keeping r replicas of every partition (issue #13), internal
 * to src/cluster. ZooKeeper is the only coordinator:
 *
 *  - plan: from the directory's entries and the live members, which
 *    partition to copy from which survivor to which node (pure: no I/O);
 *  - pass: one round of the leader: read the directory, plan, and make
 *    each copy with the node operations' copy (node `to` pulls from node
 *    `from`, throttled: the bytes go node to node), then record the new
 *    replica with a version-checked set of the key's entry, so a put or
 *    a delete that changed the key meanwhile wins and the copy is
 *    dropped. A replica is named only once its copy is whole (the pull
 *    publishes it last);
 *  - scan: what a (re)started node does: drop its partitions that no
 *    entry names on it any more (the key was put again, deleted, or its
 *    replica was copied elsewhere while the node was away), keep the
 *    rest, which it serves as before;
 *  - the background loop every joined node runs: a scan at start and
 *    every scan_ms, and passes while it holds the election (zk.h's lock
 *    recipe on locks/eau2.repair: an ephemeral sequential znode each,
 *    the lowest leads; the leader's death hands it on).
 *
 * Znodes, under the cluster's root:
 *   repair/copies/<part>@<node>  ephemeral, the leader's: a copy in
 *                    progress, so that a scan of <node> keeps <part>
 *                    before its entry names it. The leader creates it
 *                    before the copy and removes it after updating the
 *                    entry; a scan lists its partitions, then these, then
 *                    the leases, then the entries, so it sees a copy in
 *                    one of them.
 *   repair/status    persistent: the leader's progress, JSON format 1:
 *                    {"v":1,"leader":ID,"updated":MS,"rate":B,"under":N,
 *                     "lost":N,"stuck":N,"planned":N,"copied":N,
 *                     "failed":N,"bytes_planned":B,"bytes_copied":B,
 *                     "current":"PART to NODE" or ""}
 */
#ifndef EAU2_CLUSTER_REPAIR_H
#define EAU2_CLUSTER_REPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/members.h"

/* Half of a 1 Gbit/s link, in bytes/s: the default throttle of a copy. */
#define EAU2_REPAIR_RATE_DEFAULT 62500000ull
#define EAU2_REPAIR_STATUS_MAX 4096     /* bytes of repair/status */

/* ----------------------------------------------------------- plan */

/* Copy partition `part` of entries[key] from member `from` to member `to`
 * (indices into the members). */
struct eau2_repair_copy {
	size_t key, part;
	uint32_t from, to;
	uint64_t bytes;
};

struct eau2_repair_plan {
	size_t n;
	struct eau2_repair_copy *v;
	size_t under;    /* partitions with fewer live replicas than they name */
	size_t lost;     /* of those, the ones with none */
	size_t stuck;    /* copies wanted that no live node can take */
	uint64_t bytes;  /* of the copies */
};

/* Plans the copies that bring every partition of entries[0..n) that has
 * a live replica back to as many live replicas as it names: a replica is
 * live when m lists its node. Copies go to the live nodes that lack the
 * partition, least loaded first (the bytes the directory places on each,
 * and the copies planned so far), never over a node's free bytes
 * (place.h's repair); they read from the first live replica. */
int eau2_repair_plan(const struct eau2_dir_entry *entries, size_t n,
		     const struct eau2_members *m, struct eau2_repair_plan *plan,
		     struct eau2_error *err);
void eau2_repair_plan_free(struct eau2_repair_plan *plan);

/* ----------------------------------------------------------- pass */

/* struct eau2_repair_stats: cluster.h */
struct eau2_repair_pass_opts {
	const char *leader;       /* this node's id, for the status; NULL: "" */
	uint64_t rate;            /* the copies' rate, for the status */
	const volatile int *stop; /* optional: stop between copies when set */
	/* optional: told of each copy's end (rc 0 or its error) */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* optional: what earlier passes of this leader planned, copied and
	 * failed, added into the status it writes (which then tells the
	 * leader's progress since it took the lead, not one pass's) */
	const struct eau2_repair_stats *earlier;
};

/* One round of the leader (see above). The stats say what it found and
 * did; copies that fail are counted and retried by the next pass. */
int eau2_repair_pass(eau2_zk *zk, const struct eau2_cluster_node_ops *ops, void *ctx,
		     const struct eau2_repair_pass_opts *o, struct eau2_repair_stats *st,
		     struct eau2_error *err);

/* ----------------------------------------------------------- scan */

/* Drops the partitions of node self (listed with ops) that no entry
 * names there, except those of puts in progress (leased) and copies in
 * progress to it. *dropped (optional) counts them. An entry that does
 * not decode stops it (nothing can be judged then). */
int eau2_repair_scan(eau2_zk *zk, const struct eau2_cluster_node_ops *ops, void *ctx,
		     const struct eau2_member *self, size_t *dropped,
		     struct eau2_error *err);

/* ----------------------------------------------------------- status */

/* Reads repair/status: -ENOENT when no leader ever wrote one. */
int eau2_repair_status_read(eau2_zk *zk, struct eau2_cluster_repair_status *s,
			    struct eau2_error *err);
/* Encodes s as repair/status holds it (*out malloc'd, *len bytes). */
int eau2_repair_status_encode(const struct eau2_cluster_repair_status *s, char **out,
			      size_t *len);
/* Decodes len bytes of repair/status (path names it in errors):
 * -EBADMSG for anything malformed. */
int eau2_repair_status_decode(const char *path, const void *data, size_t len,
			      struct eau2_cluster_repair_status *s, struct eau2_error *err);

/* ----------------------------------------------------------- loop */

struct eau2_repair_opts {
	eau2_zk *zk;                 /* the node's session, required */
	const struct eau2_member *self; /* id and address, required */
	const struct eau2_cluster_node_ops *ops; /* required */
	void *ctx;
	uint64_t rate;               /* of copies, for the status */
	int period_ms;               /* between passes; 0: 1000 */
	int scan_ms;                 /* between scans; 0: 60000 */
	void (*log)(void *arg, const char *line); /* optional */
	void *log_arg;
};

typedef struct eau2_repair eau2_repair;

/* Starts the loop on a thread of its own. */
int eau2_repair_start(const struct eau2_repair_opts *o, eau2_repair **r,
		      struct eau2_error *err);
/* Stops it: waits for the copy in flight, if any (bounded by its bytes
 * and rate, or by the node operations' timeout), and gives up the
 * election. NULL is a no-op. Call before closing the zk handle. */
void eau2_repair_stop(eau2_repair *r);

#endif
