/* SPDX-License-Identifier: MIT */
/*
 * cluster.h - the driver of a cluster: the header of src/cluster for the
 * modules above (src/api's cluster backend, the command line). A driver
 * is any process that puts, gets, lists, deletes and runs on the keys of
 * a cluster; it coordinates through ZooKeeper only (dir.h: the directory,
 * members.h: the nodes) and talks to nodes through a table of node
 * operations, so that the transport (src/node's remote client) plugs in
 * from outside and tests run with an in-process double.
 *
 * Dataframes on the driver's side live in its local store (the eau2
 * handle `db` each call takes): put reads the dataframe there, get and
 * run build their results there.
 *
 * Threads. A cluster handle may be used by one thread at a time (like an
 * eau2 handle); its calls run node operations on threads of their own,
 * several at once (one per replica or partition, at most
 * EAU2_CLUSTER_PARALLEL), so the operations must be thread-safe.
 */
#ifndef EAU2_CLUSTER_CLUSTER_H
#define EAU2_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eau2.h"
#include "cluster/members.h"

#define EAU2_CLUSTER_PARALLEL 16   /* node operations in flight per call */
#define EAU2_CLUSTER_HEARTBEAT_MS 1000   /* default heartbeat_ms */
#define EAU2_CLUSTER_DEAD_AFTER_MS 5000  /* default dead_after_ms */
/* Bytes of one side table a run may broadcast (eau2_cluster_run); the
 * handle's bcast_max sets another bound. */
#define EAU2_BCAST_MAX (256ull << 20)
/* A run of a class with sample and split on node operations with keep,
 * cut and reduce shuffles its states by key range, node to node, when a
 * part's state is at least this many bytes (encoded), and gathers them
 * on the driver otherwise; the handle's shuffle_bytes says another
 * bound. */
#define EAU2_SHUFFLE_BYTES_DEFAULT (64ull << 20)
#define EAU2_SHUFFLE_SAMPLES 1024  /* keys sampled per part */

/* What a node answers for the output it stored of a partition's run
 * (run_out): its size and schema, never its rows. */
struct eau2_cluster_part_out {
	uint64_t rows;
	uint64_t bytes;          /* chunk payload (eau2_df_bytes) */
	uint32_t groups;         /* row groups */
	eau2_schema *schema;     /* the receiver's (eau2_schema_free) */
};

/* What the driver needs of a node; every function gets the table's ctx,
 * the node (its id and address, from its member znode) and returns 0 or
 * -errno with err naming the node and the partition. A partition is a
 * dataframe in the node's store under a partition name
 * (eau2_dir_part_name: "eau2.part.<put>.<index>"), replacing any there.
 * Every call is bounded in time (the transport's timeout).
 *
 * Calls come from several threads at once, to one node or to several;
 * the calls in flight of one driver call share its db (fetch), and an
 * eau2 handle is used by one thread at a time: a transport serialises
 * what it does with db, or opens a handle of its own on db's store. */
struct eau2_cluster_node_ops {
	/* Stores row groups [group, group + ngroups) of df (in the driver's
	 * store) on node as partition `part`. */
	int (*push)(void *ctx, const struct eau2_member *node, const char *part,
		    const eau2_df *df, size_t group, size_t ngroups,
		    struct eau2_error *err);
	/* Copies partition `part` of node into db's store: *df, one
	 * reference the caller's. -ENOENT when the node lacks it. */
	int (*fetch)(void *ctx, const struct eau2_member *node, const char *part,
		     eau2 *db, eau2_df **df, struct eau2_error *err);
	/* Removes partition `part` from node; -ENOENT when absent. */
	int (*drop)(void *ctx, const struct eau2_member *node, const char *part,
		    struct eau2_error *err);
	/* The names of node's partitions and broadcast copies (every
	 * eau2.part.* and eau2.bcast.* key: dir.h), as
	 * eau2_list returns keys (free with eau2_list_free). */
	int (*list)(void *ctx, const struct eau2_member *node, char ***parts,
		    size_t *n, struct eau2_error *err);
	/* Node `to` copies partition `part` from node `from` (repairs,
	 * issue #13): the bytes go node to node, not through the driver. */
	int (*copy)(void *ctx, const struct eau2_member *from,
		    const struct eau2_member *to, const char *part,
		    struct eau2_error *err);
	/* Runs rower class `rower` (a name the node's registry knows) with
	 * args over partition `part` and returns its joined state, encoded
	 * by the class's encode (*state malloc'd, the caller frees): what
	 * eau2_cluster_run_part computes on the node. -ENOENT when the node
	 * lacks the partition, -ENOENT naming the rower when it lacks it. */
	int (*run)(void *ctx, const struct eau2_member *node, const char *part,
		   const char *rower, const struct eau2_args *args,
		   void **state, size_t *len, struct eau2_error *err);
	/* Runs rower over partition `part` as a whole run (finish
	 * included) and stores its result on node as `out` (a partition
	 * name, replacing any there); *info gets its size and schema. For
	 * classes with EAU2_ROWER_ROWWISE, whose result for a partition is
	 * that partition's output: the rows stay on the node. Errors as
	 * run's. Optional (NULL: eau2_cluster_run_as refuses, -ENOTSUP). */
	int (*run_out)(void *ctx, const struct eau2_member *node, const char *part,
		       const char *rower, const struct eau2_args *args, const char *out,
		       struct eau2_cluster_part_out *info, struct eau2_error *err);
	/* A heartbeat: one round trip to node, bounded by timeout_ms, on a
	 * connection of its own (never one a long call holds). Optional
	 * (NULL: nodes are judged by their member znodes alone). Called by
	 * one thread at a time (the cluster handle's health thread, or the
	 * caller's in eau2_cluster_probe). */
	int (*ping)(void *ctx, const struct eau2_member *node, int timeout_ms,
		    struct eau2_error *err);
	/* Optional: makes the calls in flight to node fail soon (node was
	 * declared dead: its calls would wait out the transport's timeout).
	 * Called from any thread, under the driver's locks: it must not
	 * block. */
	void (*abort)(void *ctx, const struct eau2_member *node);
	/* A shuffle (eau2_cluster_run of a class with sample and split):
	 * optional, all three or none (NULL: the states are gathered). The
	 * names given are partition names of the run's lease, so drop,
	 * list, copy and gc treat what they name as partitions.
	 * keep: runs rower over partition `part` as run does and keeps the
	 * joined state on node as `state` (eau2_cluster_keep_part); *sample
	 * (malloc'd) gets the class's sample of nsample shuffle keys, *bytes
	 * the state's encoded size. db: the driver's store, for what comes
	 * back. */
	int (*keep)(void *ctx, const struct eau2_member *node, const char *part,
		    const char *rower, const struct eau2_args *args, const char *state,
		    size_t nsample, eau2 *db, void **sample, size_t *slen, uint64_t *bytes,
		    struct eau2_error *err);
	/* cut: the state kept on node as `state` cut at the nsplit split
	 * keys (a key list: eau2.h) into ranges kept as ranges[0..nsplit]
	 * (eau2_shuffle_cut); states are of rower over an input of
	 * `schema`. */
	int (*cut)(void *ctx, const struct eau2_member *node, const char *rower,
		   const struct eau2_args *args, const eau2_schema *schema, const char *state,
		   const void *splits, size_t slen, size_t nsplit, const char *const *ranges,
		   eau2 *db, struct eau2_error *err);
	/* reduce: the kept states names[0..n) of node joined in that order
	 * and finished, the result stored on node as `out`
	 * (eau2_cluster_reduce_kept); *info its size and schema. */
	int (*reduce)(void *ctx, const struct eau2_member *node, const char *rower,
		      const struct eau2_args *args, const eau2_schema *schema,
		      const char *const *names, size_t n, const char *out,
		      struct eau2_cluster_part_out *info, struct eau2_error *err);
};

/* The node operations over the network (netops.c: src/node's remote
 * client, a pool of connections per node, shared by the driver's
 * threads). ctx: a struct eau2_cluster_net made by eau2_cluster_net_new
 * with the driver's store directory (unused since copies go node to
 * node: PULL), the cluster
 * secret file (NULL: none, loopback nodes only) and the bound of each
 * network step (0: the transport's defaults). Free it after the cluster
 * handle that uses it is closed. */
struct eau2_cluster_net;
extern const struct eau2_cluster_node_ops eau2_cluster_net_ops;
int eau2_cluster_net_new(const char *store, const char *secret_file, int timeout_ms,
			 struct eau2_cluster_net **out, struct eau2_error *err);
void eau2_cluster_net_free(struct eau2_cluster_net *n); /* NULL allowed */
/* The rate of copy (node `to` pulls at most that many bytes/s; 0: no
 * limit, else at least EAU2_REMOTE_RATE_MIN). Set before the operations
 * are used. */
void eau2_cluster_net_set_copy_rate(struct eau2_cluster_net *n, uint64_t bytes_per_s);
/* Bounds connecting and the handshake by ms when that is shorter than the
 * timeout (a driver passes its dead_after_ms: a node that takes longer
 * to answer one is dead anyway, and a stopped node's half-open
 * connection cannot be cut). Before the first call. */
void eau2_cluster_net_connect_ms(struct eau2_cluster_net *n, int ms);
/* How long a node's clients (pooled and heartbeat) are kept after its
 * last call (default 60 s; tests shorten it). Before the first call. */
void eau2_cluster_net_forget_ms(struct eau2_cluster_net *n, int ms);

typedef struct eau2_cluster eau2_cluster;

struct eau2_cluster_options {
	/* "host:port[,host:port...][/NAME]": ZooKeeper's ensemble and the
	 * cluster's name (default "eau2"). Required. */
	const char *connect;
	int timeout_ms;          /* bound of connecting and of each ZooKeeper
				  * step; 0: 10000 */
	const struct eau2_cluster_node_ops *ops;  /* required */
	void *ctx;               /* ops' context */
	/* A run's partition task slower than backup_factor x the median of
	 * its run's finished tasks, and than backup_min_ms, gets a backup
	 * copy on another replica; the first answer wins (spec.h). 0: 3.0
	 * and 2000; a negative factor: no backups. */
	double backup_factor;
	int backup_min_ms;
	/* Failure detection (health.h): every member is PINGed every
	 * heartbeat_ms; one silent for dead_after_ms, or whose member znode
	 * goes (its ZooKeeper session expired), is dead: a run's tasks on it
	 * move to another replica at once. 0: 1000 and 5000; a negative
	 * heartbeat_ms: no health thread (member znodes alone, at each call). */
	int heartbeat_ms;
	int dead_after_ms;
	/* The shuffle bound of eau2_cluster_run (bytes of a part's state).
	 * 0: EAU2_SHUFFLE_BYTES_DEFAULT; negative: always shuffle. */
	int64_t shuffle_bytes;
	/* The bytes of one side table a run broadcasts. 0: EAU2_BCAST_MAX. */
	uint64_t bcast_max;
};

/* Connects to ZooKeeper (an unreachable one: -ETIMEDOUT naming the
 * connect string, within the timeout) and makes the directory's znodes. */
int eau2_cluster_open(const struct eau2_cluster_options *opt, eau2_cluster **cl,
		      struct eau2_error *err);
/* Ends the session (its leases go with it), once the losing copies of
 * past runs' tasks have ended (each is bounded by the node operations'
 * timeout). NULL is a no-op. */
void eau2_cluster_close(eau2_cluster *cl);

struct eau2_cluster_put_options {
	unsigned replicas;       /* 0: min(2, live nodes) */
	uint64_t part_bytes;     /* target bytes per partition; 0: the default
				  * (place.h), and at least one per node */
};

/* Cuts df (in db's store) into partitions at row-group boundaries,
 * places each on `replicas` live nodes balanced by free bytes, pushes
 * them (every replica at once), and publishes key: visible whole or not
 * at all. A failed put drops what it pushed; a driver killed mid-put
 * leaves a lease that dies with its session, and its partitions garbage
 * (dir.h). The partitions of the version replaced are dropped. opt may
 * be NULL. */
int eau2_cluster_put(eau2_cluster *cl, eau2 *db, const char *key, const eau2_df *df,
		     const struct eau2_cluster_put_options *opt, struct eau2_error *err);

/* Loads path (eau2_load_stream_in, into store: the driver's) and puts
 * it under key as eau2_cluster_put does, the partitions leaving while the
 * file is parsed: each run of row groups the loader has joined, of
 * po->part_bytes (0: about a quarter of the file's bytes per node, 4 MiB
 * to EAU2_PLACE_PART_BYTES), goes to pusher threads that place it on the
 * nodes least loaded by this put and push it; the groups left when the
 * load ends make the last partition. A load that starts again (CSV
 * types widened) drops what it pushed and puts its result whole. A
 * failed load or put drops every copy pushed and leaves key as it was.
 * *df gets the dataframe loaded in store (unpublished there). With df
 * NULL the caller keeps no copy here: once there is a partition a node,
 * each partition is given back to the builder when it has reached all
 * its nodes (eau2_builder_discard: the partitions parsed next are
 * written over its pages), so the driver holds what is in flight, not
 * the whole file. */
struct eau2_store;
int eau2_cluster_load(eau2_cluster *cl, struct eau2_store *store, const char *path,
		      const char *key, const struct eau2_load_options *lo,
		      const struct eau2_cluster_put_options *po, eau2_df **df,
		      struct eau2_load_stats *stats, struct eau2_error *err);

/* Fetches key's partitions (any live replica of each, in parallel) and
 * assembles them in order into one dataframe in db's store. A partition
 * no live replica holds: an error naming it. */
int eau2_cluster_get(eau2_cluster *cl, eau2 *db, const char *key, eau2_df **df,
		     struct eau2_error *err);
/* eau2_cluster_get once key exists, waiting at most timeout_ms (negative:
 * forever) on a ZooKeeper watch. */
int eau2_cluster_wait_get(eau2_cluster *cl, eau2 *db, const char *key, int timeout_ms,
			  eau2_df **df, struct eau2_error *err);
/* Removes key from the directory first (readers stop seeing it), then
 * drops its partitions (best effort: a node that is down keeps garbage). */
int eau2_cluster_delete(eau2_cluster *cl, const char *key, struct eau2_error *err);
/* The cluster's keys, sorted (free with eau2_list_free). */
int eau2_cluster_list(eau2_cluster *cl, char ***keys, size_t *n, struct eau2_error *err);

/* Runs cls over key: one live replica of each partition runs its part
 * (another replica when that one fails, and a backup copy on another
 * when it straggles: the first answer wins), and the driver joins their
 * states in partition order and finishes in db, so the answer is the
 * one a single host gives. The class's init, decode and finish see an
 * input of key's schema and no rows (the rows stay on the nodes), flags
 * EAU2_RUN_CLUSTER and ctx->key = key.
 *
 * Side tables (cls->side_args): each one given, itself a cluster key,
 * is gathered here once (refused, naming it, above the handle's
 * bcast_max bytes by its directory entry, before anything is read),
 * pushed to every live node holding a replica of key's partitions (so
 * backups and failover find it too) as eau2_dir_bcast_name(run, n)
 * under a lease of the run, and the nodes' runs name that copy instead;
 * the driver's own states read the gathered copy (eau2_cluster_get of
 * that key returns it while the run lasts). The copies are dropped
 * after the run, whatever its result; a driver killed meanwhile leaves
 * copies that eau2_cluster_gc and the nodes' scans drop once its lease
 * is gone. A node the push fails on runs no part of this run (its
 * replicas' others do). Network cost: each table's bytes once in (the
 * gather), and once out per node that holds a partition of key.
 *
 * Shuffle: a class with sample and split (groupby), on node operations
 * with keep, cut and reduce, keeps each part's state on its node; when a
 * state is at least the handle's shuffle_bytes (its default:
 * EAU2_SHUFFLE_BYTES_DEFAULT) the states are cut into one key range per
 * live member, each member joins its range of every state (pulled node
 * to node) in partition order and finishes it, and the driver
 * concatenates the finished ranges: the same answer, without the states
 * on the driver. Smaller states are fetched and joined here; without
 * `as`, an input whose partitions are all below a sixteenth of the bound
 * runs as other classes do (backups, failover mid-call). A node
 * failing mid-way is left out and the run starts again on the others
 * (at most 3 times); the kept states go whatever the outcome (a killed
 * driver's: gc, by the run's lease). */
int eau2_cluster_run(eau2_cluster *cl, eau2 *db, const char *key,
		     const struct eau2_rower_class *cls, const struct eau2_args *args,
		     eau2_df **result, struct eau2_error *err);

/* Runs cls (EAU2_ROWER_ROWWISE) over key and publishes its result as
 * key `as` on the cluster without the rows crossing the driver: each
 * part runs as eau2_cluster_run does (failover, backups) and stores its
 * output on the node that ran it, under a partition name of a lease of
 * as (not a key: eau2_cluster_gc drops it when the driver dies); each
 * output then reaches `replicas` nodes by node-to-node copies (0: as
 * many as the input partition's replicas, at most the live nodes), and
 * as is published whole, its partitions in the input's order: what one
 * host's run gives, row for row. Only the winning copy of a task is
 * published; the losers' are dropped. Nothing is published on an error
 * (and what was stored is dropped). A class that shuffles (see
 * eau2_cluster_run) publishes its finished key ranges where they were
 * made, in range order, each placed and copied as above (0: the input's
 * first partition's replicas); states small enough to gather give the
 * result here, put as `as`. -ENOTSUP for a class without the flag that
 * does not shuffle, or node operations without run_out. */
int eau2_cluster_run_as(eau2_cluster *cl, eau2 *db, const char *key,
			const struct eau2_rower_class *cls, const struct eau2_args *args,
			const char *as, unsigned replicas, struct eau2_error *err);

/* Drops, on every live node, the partitions that are garbage (dir.h: no
 * lease and no key names their put): what a killed driver's put left;
 * and the broadcast copies whose run's lease is gone (a killed driver's
 * run).
 * *dropped (optional) counts them. Nodes that fail to list are skipped;
 * the first such error is returned after the others are cleaned. */
int eau2_cluster_gc(eau2_cluster *cl, size_t *dropped, struct eau2_error *err);

/* ------------------------------------------------ health (health.c) */

/* What the health thread knows of a node; every node seen since the
 * handle opened (a member once), dead ones included. */
enum eau2_cluster_node_state {
	EAU2_CLUSTER_ALIVE = 0,    /* answers heartbeats */
	EAU2_CLUSTER_SUSPECT = 1,  /* missed 2 heartbeats in a row */
	EAU2_CLUSTER_DEAD = 2,     /* silent for dead_after_ms, or its member
				    * znode is gone */
};
const char *eau2_cluster_state_name(enum eau2_cluster_node_state s); /* "alive"... */

struct eau2_cluster_health_node {
	char id[EAU2_MEMBER_ID_MAX + 1];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	enum eau2_cluster_node_state state;
	bool member;               /* its member znode exists */
	int64_t heard_ago_ms;      /* since its last answer (or since its
				    * member znode appeared, before any) */
	uint64_t beats;            /* heartbeats answered */
	uint64_t missed;           /* heartbeats unanswered, in all */
	uint64_t deaths;           /* times declared dead */
};

/* A copy of what the health thread knows, sorted by id (*v malloc'd,
 * the caller frees; *n may be 0). -ENOTSUP naming why when the handle
 * runs no health thread (heartbeat_ms < 0). Safe from any thread while
 * the handle is open (it takes the health mutex only). */
int eau2_cluster_health(eau2_cluster *cl, struct eau2_cluster_health_node **v, size_t *n,
			struct eau2_error *err);
/* Waits (at most timeout_ms) until the health thread has PINGed every
 * member twice (a round after this call began, at least), so that a
 * one-shot status shows states that were measured: one that answered
 * neither is suspect. 0, or -ETIMEDOUT. */
int eau2_cluster_health_wait(eau2_cluster *cl, int timeout_ms, struct eau2_error *err);

enum eau2_cluster_event {
	EAU2_CLUSTER_JOINED = 1,   /* a member appeared or a dead node answers again */
	EAU2_CLUSTER_DIED = 2,     /* declared dead */
};
typedef void eau2_cluster_event_fn(void *arg, enum eau2_cluster_event ev,
				   const char *id, const char *addr);
/* Calls fn (on the health thread, no lock of ours held; it must not
 * call into cl) on every later join and death; fn NULL: no more calls.
 * Returns once no call of the previous fn is in progress. -ENOTSUP
 * without a health thread. */
int eau2_cluster_on_event(eau2_cluster *cl, eau2_cluster_event_fn *fn, void *arg,
			  struct eau2_error *err);

/* ------------------------------------------------ the directory (info.c) */

/* The ZooKeeper handle of cl (for reading the directory and members),
 * and its node operations and their context. */
eau2_zk *eau2_cluster_zk(eau2_cluster *cl, const struct eau2_cluster_node_ops **ops,
			 void **ctx);

/* Key's schema, rows, bytes and row groups, from its directory entry
 * alone (st->schema is the caller's). -ENOENT: no such key. */
int eau2_cluster_stat(eau2_cluster *cl, const char *key, struct eau2_stat *st,
		      struct eau2_error *err);

/* The first partitions of key holding at least `rows` rows (all when it
 * has fewer), fetched one after the other from any live replica of each
 * and assembled in db's store, as eau2_cluster_get does for all. */
int eau2_cluster_get_head(eau2_cluster *cl, eau2 *db, const char *key, uint64_t rows,
			  eau2_df **df, struct eau2_error *err);

/* What a repair pass (repair.h) found and did. */
struct eau2_repair_stats {
	size_t under, lost, stuck;  /* partitions under-replicated; of those
				     * with no replica left; copies wanted
				     * that no live node can take */
	size_t planned, copied, failed;
	size_t dropped;             /* copies a concurrent put or delete beat */
	uint64_t bytes_planned, bytes_copied;
};

/* The repair leader's progress (its znode repair/status): under, lost and
 * stuck as its last pass found them; planned, copied and failed (and
 * their bytes) since it took the lead. */
struct eau2_cluster_repair_status {
	char leader[EAU2_MEMBER_ID_MAX + 1];
	int64_t updated_ms;         /* ms since the Unix epoch */
	uint64_t rate;              /* bytes/s of each copy (0: no limit) */
	struct eau2_repair_stats st;
	char current[200];          /* "PART to NODE" while copying, else "" */
};

/* A partition with fewer live replicas than its entry names. */
struct eau2_cluster_part_status {
	char key[EAU2_KEY_MAX + 1];
	size_t part;
	uint32_t live, replicas;
};
#define EAU2_CLUSTER_UNDER_MAX 1000 /* listed in a status; the rest counted */

/* The live nodes, what the directory places on each (a node the
 * directory names that is no member, its session expired, is listed too,
 * with member false and only its id in m), the partitions
 * under-replicated and the repair leader's progress. */
struct eau2_cluster_status {
	size_t n;
	struct eau2_cluster_node_status {
		struct eau2_member m;  /* id, address, cores, memory, free */
		bool member;
		uint64_t parts;        /* partition replicas placed there */
		uint64_t bytes;        /* their bytes */
	} *nodes;                      /* sorted by id */
	size_t keys;                   /* keys in the directory */
	size_t bad;                    /* malformed member znodes skipped */
	uint64_t partitions;           /* of every key */
	size_t under, lost;            /* partitions under-replicated; of
					* those, with no live replica */
	size_t nunder;                 /* listed in under_parts (the first
					* EAU2_CLUSTER_UNDER_MAX by key) */
	struct eau2_cluster_part_status *under_parts;
	bool has_repair;               /* a leader wrote its progress */
	struct eau2_cluster_repair_status repair;
};
int eau2_cluster_status(eau2_cluster *cl, struct eau2_cluster_status *s,
			struct eau2_error *err);
void eau2_cluster_status_free(struct eau2_cluster_status *s);

/* What a node does for the run operation: runs cls over part (in db's
 * store) with threads workers (0: all cores) and encodes the joined
 * state into *state (malloc'd). */
int eau2_cluster_run_part(eau2 *db, const eau2_df *part,
			  const struct eau2_rower_class *cls,
			  const struct eau2_args *args, unsigned threads,
			  void **state, size_t *len, struct eau2_error *err);

/* A node's steps of a shuffle (the ops keep and reduce; cut is
 * rowers.h's eau2_shuffle_cut): keep runs cls over part as
 * eau2_cluster_run_part does, keeps the joined state as `state`
 * (replacing any: eau2_shuffle_blob_put), and gives its sample (nsample
 * keys, malloc'd) and size; reduce joins the kept states names[0..n) in
 * order and finishes (eau2_shuffle_reduce), stores the result as out
 * and gives its size and schema. */
int eau2_cluster_keep_part(eau2 *db, const eau2_df *part, const struct eau2_rower_class *cls,
			   const struct eau2_args *args, unsigned threads, const char *state,
			   size_t nsample, void **sample, size_t *slen, uint64_t *bytes,
			   struct eau2_error *err);
int eau2_cluster_reduce_kept(eau2 *db, const struct eau2_rower_class *cls,
			     const struct eau2_args *args, const eau2_schema *schema,
			     const char *const *names, size_t n, const char *out,
			     struct eau2_cluster_part_out *info, struct eau2_error *err);

/* Copies row groups [group, group + ngroups) of src into a new dataframe
 * of db (under no key): for transports and tests that hold partitions in
 * stores of their own. O(data). */
int eau2_cluster_copy_groups(eau2 *db, const eau2_df *src, size_t group,
			     size_t ngroups, eau2_df **out, struct eau2_error *err);

/* Whether two schemas have the same names and types in the same order. */
bool eau2_cluster_same_schema(const eau2_schema *a, const eau2_schema *b);

/* One dataframe of schema in db holding the rows of dfs[0..n) in order
 * (each of that schema: -EINVAL naming the one that is not). O(data). */
int eau2_cluster_concat(eau2 *db, const eau2_schema *schema, eau2_df *const *dfs,
			size_t n, eau2_df **out, struct eau2_error *err);

/* ------------------------------------------------ shared state (sync.c) */

/* eau2_watch on a cluster: a key's version is the zxid that last wrote its
 * directory entry (0: no entry); waits on a ZooKeeper watch, no polling. */
int eau2_cluster_watch(eau2_cluster *cl, const char *key, int timeout_ms,
		       uint64_t *version, struct eau2_error *err);

/* eau2_lock on a cluster: ZooKeeper's lock recipe (zk.h) under
 * locks/<name>; negative timeout_ms waits forever (queueing again each
 * minute). Release with eau2_cluster_unlock, before eau2_cluster_close. */
struct eau2_zk_lock;
int eau2_cluster_lock(eau2_cluster *cl, const char *name, int timeout_ms,
		      struct eau2_zk_lock **lock, struct eau2_error *err);
int eau2_cluster_unlock(struct eau2_zk_lock *lock, struct eau2_error *err);

#endif
