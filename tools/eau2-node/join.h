/* SPDX-License-Identifier: MIT */
/*
 * join.h - eau2-node --zk: the node joins a cluster (src/cluster's
 * members.h) with an ephemeral member znode that dies with it.
 */
#ifndef EAU2_NODE_JOIN_H
#define EAU2_NODE_JOIN_H

#include <stdint.h>

#include "cluster/zk.h"
#include "eau2.h"

struct node_join;

/* Connects to ZooKeeper at zk ("HOST:PORT[,...][/NAME]"; cluster, when not
 * NULL, names the cluster instead of /NAME; default "eau2") and
 * registers this node: address `advertise` when given, else the --listen
 * address with the port the server got; id the same; the free bytes of
 * the store directory, refreshed every few seconds. When a previous run
 * of this node still holds the id, waits for its session to expire.
 * http: the dashboard's HOST:PORT published in the znode (NULL: none).
 * session_ms: the ZooKeeper session (0: 10000): once the node dies its
 * znode goes within that, and drivers count it dead. */
int node_join(const char *zk, const char *cluster, const char *listen, uint16_t port,
	      const char *advertise, const char *http, const char *store, int session_ms,
	      struct node_join **out, struct eau2_error *err);
/* Starts the repair loop (src/cluster/repair.h) on the node's session:
 * copies made while this node leads go at most rate bytes/s (0: no
 * limit; NODE_REPAIR_RATE_DEFAULT: repair.h's default, half a 1 Gbit/s
 * link); secret_file (NULL: none) reaches the other nodes. */
#define NODE_REPAIR_RATE_DEFAULT UINT64_MAX
int node_repair_start(struct node_join *j, const char *secret_file, uint64_t rate,
		      struct eau2_error *err);
/* What runs on the session besides the member znode and the repair loop
 * (the cluster view): called with zk NULL when the session is lost,
 * before it is closed (stop using it), and with the new session and id
 * once the node has joined again. */
typedef void (*node_session_fn)(void *ctx, eau2_zk *zk, const char *id);
/* Starts the keeper: when the session expires (the node was cut off from
 * ZooKeeper longer than its session), it joins again, with the repair
 * loop when one was started, retrying every second; fn (may be NULL)
 * follows. Logs each step to stderr. */
int node_keep(struct node_join *j, node_session_fn fn, void *ctx, struct eau2_error *err);
/* Stops the keeper, then what node_keep's fn runs on the session (fn
 * with zk NULL) and the repair loop, removes the znode and closes the
 * session. NULL is a no-op. */
void node_leave(struct node_join *j);
/* The ZooKeeper handle (the cluster view reads members and directory);
 * before node_keep only (the keeper replaces it: see node_session_fn). */
eau2_zk *node_join_zk(const struct node_join *j);
/* The id registered. */
const char *node_join_id(const struct node_join *j);

#endif
