/* SPDX-License-Identifier: MIT */
/*
 * dir.h - the directory of a cluster's distributed keys, on ZooKeeper
 * (zk.h). Internal to src/cluster.
 *
 * Znodes, under the cluster's root /eau2/<cluster>:
 *   keys/<enc>     persistent: the entry of key (enc: the key encoded as
 *                  the store encodes file names, eau2_shm_key_encode)
 *   leases/<put>   ephemeral: a put in progress (put: 16 hex digits), held
 *                  by the driver's session; payload {"v":1,"key":...}
 *
 * A put: take a lease (eau2_dir_lease), push the partitions, named by the
 * put id (eau2_dir_part_name), to their nodes, then publish (one
 * ZooKeeper multi: create or version-checked set of keys/<enc>, and
 * delete of the lease). The multi fails whole when the lease is gone (the
 * driver's session ended): a put is visible whole or not at all. Two
 * drivers publishing one key: each publish is one multi, so the key holds
 * one of them, whole; each publisher learns the entry it replaced, and
 * drops its partitions (exactly one publisher replaces each version).
 *
 * Broadcast copies: a run whose rower reads side tables (eau2_rower_class
 * side_args) takes a lease of its own (a run id) and pushes each table
 * to its nodes as eau2_dir_bcast_name(run, n), dropped after the run.
 *
 * Garbage: a partition (a node's store key eau2_dir_part_name) is garbage
 * when its put id is neither leased nor named by any key's entry; a
 * broadcast copy when its run's lease is gone (its driver ended, or died
 * before dropping it). Read
 * the leases first, then the keys (eau2_dir_live_read): a put that
 * publishes between the two reads is then seen in one of them.
 *
 * Entry payload, JSON (jansson), format 1:
 *   {"v":1,"key":"K","put":"00ab..16 hex","created":MS,"rows":N,
 *    "bytes":B,"schema":[["name","int"],...],"nodes":["n1","n2"],
 *    "parts":[{"rows":N,"bytes":B,"groups":G,"replicas":[0,1],
 *              "state":"ok"},...]}
 * replicas index "nodes" (so ids are written once). Decoding checks every
 * field (type, range, sums: rows and bytes of the parts add up to the
 * entry's, replicas distinct) and ignores unknown keys.
 */
#ifndef EAU2_CLUSTER_DIR_H
#define EAU2_CLUSTER_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "cluster/zk.h"

#define EAU2_DIR_FORMAT 1
#define EAU2_DIR_PARTS_MAX 4096      /* partitions of one key */
#define EAU2_DIR_REPLICAS_MAX 8      /* replicas of one partition */
#define EAU2_DIR_NODES_MAX 1024      /* distinct nodes in one entry */
/* Bytes of an entry's payload: under ZooKeeper's request limit with the
 * multi's other op and paths. */
#define EAU2_DIR_JSON_MAX 900000u
#define EAU2_DIR_PART_NAME_MAX 48    /* "eau2.part.<16 hex>.<index>" + NUL */

enum eau2_dir_part_state {
	EAU2_PART_OK = 0,        /* every replica acknowledged */
	EAU2_PART_DEGRADED = 1,  /* fewer than r live replicas (issue #13) */
	EAU2_PART_LOST = 2,      /* no replica left */
};

struct eau2_dir_part {
	uint64_t rows;
	uint64_t bytes;
	uint32_t groups;                           /* row groups */
	uint32_t nrep;
	uint32_t rep[EAU2_DIR_REPLICAS_MAX];       /* indices into nodes */
	enum eau2_dir_part_state state;
};

struct eau2_dir_entry {
	char key[EAU2_KEY_MAX + 1];
	uint64_t put;                 /* the put's id, names its partitions */
	int64_t created_ms;           /* ms since the Unix epoch */
	uint64_t rows, bytes;
	eau2_schema *schema;          /* owned */
	size_t nnodes;
	char (*nodes)[EAU2_MEMBER_ID_MAX + 1];   /* owned */
	size_t nparts;
	struct eau2_dir_part *parts;  /* owned */
};

void eau2_dir_entry_free(struct eau2_dir_entry *e); /* NULL allowed */

/* The node id of replica j of partition i. */
static inline const char *eau2_dir_replica(const struct eau2_dir_entry *e,
					   size_t i, size_t j)
{
	return e->nodes[e->parts[i].rep[j]];
}

/* Encodes e into *buf (malloc'd, *len bytes; the caller frees).
 * -EMSGSIZE over EAU2_DIR_JSON_MAX (the message names the key). */
int eau2_dir_encode(const struct eau2_dir_entry *e, char **buf, size_t *len,
		    struct eau2_error *err);
/* Decodes len bytes of the znode at path (named in errors) into *e (free
 * with eau2_dir_entry_free; zeroed on error). -EBADMSG for anything
 * malformed. */
int eau2_dir_decode(const char *path, const void *data, size_t len,
		    struct eau2_dir_entry *e, struct eau2_error *err);

/* The store key of partition `index` of put `put` on a node. */
void eau2_dir_part_name(uint64_t put, size_t index,
			char out[EAU2_DIR_PART_NAME_MAX]);
/* Parses a partition name: 0, or -EINVAL when name is not one (not
 * ours). put and index are optional. */
int eau2_dir_part_parse(const char *name, uint64_t *put, size_t *index);
/* The store key of broadcast copy `index` of run `run` on a node
 * ("eau2.bcast.<16 hex>.<index>"), and its parser (as above). */
void eau2_dir_bcast_name(uint64_t run, size_t index,
			 char out[EAU2_DIR_PART_NAME_MAX]);
int eau2_dir_bcast_parse(const char *name, uint64_t *run, size_t *index);

/* The znode path (relative to the root) of key's entry: out has room for
 * EAU2_ZK_PATH_MAX. -EINVAL for a bad key. */
int eau2_dir_key_path(const char *key, char *out, struct eau2_error *err);

/* Creates keys/ and leases/ under the root when missing. */
int eau2_dir_init(eau2_zk *zk, struct eau2_error *err);

/* ----------------------------------------------------------- puts */

/* Takes a lease for a new put of key: *put receives a fresh random id. */
int eau2_dir_lease(eau2_zk *zk, const char *key, uint64_t *put,
		   struct eau2_error *err);
/* Drops a lease (an abandoned put); its partitions become garbage. */
int eau2_dir_unlease(eau2_zk *zk, uint64_t put, struct eau2_error *err);

/* Publishes e (e->put leased by this session) under e->key, replacing
 * what the key held: one multi that also ends the lease. *old (optional)
 * receives the entry replaced (nparts 0 and put 0 when none): its
 * partitions are the caller's to drop. -ENOTCONN ("lease lost") when the
 * lease is gone: nothing was published. Retries lost races within the
 * handle's timeout. */
int eau2_dir_publish(eau2_zk *zk, const struct eau2_dir_entry *e,
		     struct eau2_dir_entry *old, struct eau2_error *err);

/* ----------------------------------------------------------- reading */

/* Reads key's entry. stat and watch optional. -ENOENT: no such key. */
int eau2_dir_read(eau2_zk *zk, const char *key, struct eau2_dir_entry *e,
		  struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		  struct eau2_error *err);
/* Removes key's entry; *old (optional) receives it (its partitions are
 * the caller's to drop). -ENOENT when absent. */
int eau2_dir_remove(eau2_zk *zk, const char *key, struct eau2_dir_entry *old,
		    struct eau2_error *err);
/* All keys, sorted bytewise, NULL-terminated (free with eau2_list_free).
 * Znodes whose names do not decode are skipped. */
int eau2_dir_list(eau2_zk *zk, char ***keys, size_t *n, struct eau2_error *err);
/* Waits at most timeout_ms for key to exist (at once when it does). */
int eau2_dir_wait(eau2_zk *zk, const char *key, int timeout_ms,
		  struct eau2_error *err);

/* ----------------------------------------------------------- repairs */

/* Replaces key's entry by e (same key) when the znode's version is still
 * `version` (its stat from eau2_dir_read): -ESTALE when a put, a delete
 * or another writer changed it meanwhile, -ENOENT when it is gone. */
int eau2_dir_update(eau2_zk *zk, const struct eau2_dir_entry *e, int32_t version,
		    struct eau2_error *err);
/* Makes node id replica j of partition i of e: id joins e->nodes when
 * new, and nodes no replica names any more leave it. -EINVAL when id
 * already holds another replica of i. */
int eau2_dir_set_replica(struct eau2_dir_entry *e, size_t i, size_t j, const char *id,
			 struct eau2_error *err);
/* The put ids of the leases held now, sorted (*puts malloc'd). */
int eau2_dir_leases(eau2_zk *zk, uint64_t **puts, size_t *n, struct eau2_error *err);

/* ----------------------------------------------------------- garbage */

/* The put ids alive now: leased or named by an entry (sorted). */
struct eau2_dir_live {
	size_t n;
	uint64_t *puts;
};
/* Reads the leases, then every entry (that order: see above). An entry
 * that does not decode makes it fail (-EBADMSG naming it): then no
 * partition can be judged garbage. */
int eau2_dir_live_read(eau2_zk *zk, struct eau2_dir_live *live,
		       struct eau2_error *err);
void eau2_dir_live_free(struct eau2_dir_live *live);
/* True when name is a partition or a broadcast copy and its put (run)
 * is not alive. */
bool eau2_dir_is_garbage(const struct eau2_dir_live *live, const char *name);

#endif
