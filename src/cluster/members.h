/* SPDX-License-Identifier: MIT */
/*
 * members.h - who is in the cluster, on ZooKeeper (zk.h): each node keeps
 * an ephemeral znode /eau2/<cluster>/nodes/<node-id> for as long as its
 * session lives, holding what others need to reach and place work on it.
 * Internal to src/cluster.
 *
 * The payload is a JSON object (jansson), format 1:
 *     {"v":1,"addr":"HOST:PORT","cores":4,"memory":8589934592,
 *      "free":1073741824,"protocol":1,"started":1733300000000,
 *      "http":"HOST:PORT"}
 * addr is where peers connect (the advertised address); memory and free
 * are bytes (free: the node's store); started is the node's start time in
 * ms since the Unix epoch; http (optional) is where the node serves its
 * dashboard and /api/node (eau2-node --http). Decoding checks every field (type, range,
 * length) and ignores keys it does not know, so a later format can add
 * some; a znode that fails is an error naming its path, never trusted.
 *
 * Threads. A registration runs one thread that refreshes the free bytes
 * every refresh_ms; a member watch runs one thread that calls its callback.
 * Each has a mutex of its own (members.c), taken after no other lock of
 * ours and never held while calling ZooKeeper or a callback. Stop them
 * (eau2_member_unregister, eau2_members_unwatch) before eau2_zk_close.
 */
#ifndef EAU2_CLUSTER_MEMBERS_H
#define EAU2_CLUSTER_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/zk.h"

#define EAU2_MEMBER_FORMAT 1      /* the payload's "v" */
#define EAU2_MEMBER_PROTOCOL 1    /* the node protocol this build speaks */
#define EAU2_MEMBER_ID_MAX 128    /* bytes in a node id */
#define EAU2_MEMBER_ADDR_MAX 263  /* bytes in HOST:PORT (a DNS name, :65535) */
#define EAU2_MEMBER_JSON_MAX 4096 /* bytes in a payload */

struct eau2_member {
	char id[EAU2_MEMBER_ID_MAX + 1];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	uint32_t cores;
	uint64_t memory;     /* bytes of RAM */
	uint64_t free;       /* free bytes of the node's store */
	uint32_t protocol;
	int64_t started_ms;  /* ms since the Unix epoch */
	char http[EAU2_MEMBER_ADDR_MAX + 1]; /* "" when the node serves no --http */
	int64_t session;     /* the ZooKeeper session that owns the znode (0
			      * when unknown): a restarted node has a new one */
};

/* Encodes m (id and session are not in the payload) into buf (size
 * bytes, at least EAU2_MEMBER_JSON_MAX is always enough): 0 and *len. */
int eau2_member_encode(const struct eau2_member *m, char *buf, size_t size,
		       size_t *len, struct eau2_error *err);
/* Decodes len bytes of the znode at `path` (named in errors) for node id
 * into *m (session left 0). -EBADMSG for anything malformed. */
int eau2_member_decode(const char *path, const char *id, const void *data,
		       size_t len, struct eau2_member *m, struct eau2_error *err);

/* Checks HOST:PORT: a DNS name, IPv4 or [IPv6] host and a port 1-65535. */
int eau2_member_check_addr(const char *addr, struct eau2_error *err);

/* ----------------------------------------------------------- joining */

typedef uint64_t eau2_member_free_fn(void *arg);

struct eau2_member_options {
	const char *addr;     /* HOST:PORT peers connect to, required. A
			       * wildcard host (0.0.0.0, [::]) becomes this
			       * machine's host name */
	const char *id;       /* NULL: the address (hostname:port) */
	const char *http;     /* NULL: no dashboard; else its HOST:PORT */
	uint32_t cores;       /* 0: the CPUs this process may run on */
	uint64_t memory;      /* 0: physical memory */
	uint64_t free;        /* the store's free bytes at start */
	eau2_member_free_fn *free_fn; /* optional: free bytes, polled */
	void *arg;
	int refresh_ms;       /* how often free_fn is polled; 0: 5000 */
	int join_wait_ms;     /* when the id is taken, wait this long for
			       * the holder to go (a previous run of this node
			       * whose session has not expired yet); 0: fail */
};

typedef struct eau2_member_reg eau2_member_reg;

/* Registers this node: creates its ephemeral znode. -EEXIST when a live
 * node holds the id (the message names it, its address and session). */
int eau2_member_register(eau2_zk *zk, const struct eau2_member_options *opt,
			 eau2_member_reg **reg, struct eau2_error *err);
/* The id registered. */
const char *eau2_member_id(const eau2_member_reg *reg);
/* Publishes a new free byte count now. */
int eau2_member_update(eau2_member_reg *reg, uint64_t free, struct eau2_error *err);
/* Stops the refresh thread and removes the znode (bounded by the handle's
 * timeout; the session's end removes it anyway). NULL is a no-op. */
void eau2_member_unregister(eau2_member_reg *reg);

/* ----------------------------------------------------------- looking */

struct eau2_members {
	size_t n;
	struct eau2_member *v;   /* sorted by id */
	size_t bad;              /* znodes skipped as malformed */
	char bad_msg[256];       /* the first one's error, "" when none */
};

/* The live members, sorted by id. Malformed znodes are skipped and
 * counted (they are no members); ones that vanish meanwhile are left out. */
int eau2_members_list(eau2_zk *zk, struct eau2_members *out, struct eau2_error *err);
void eau2_members_free(struct eau2_members *m);

enum eau2_member_event {
	EAU2_MEMBER_JOINED = 1,
	EAU2_MEMBER_LEFT = 2,
};

/* Called on the watch's thread, without locks of ours held; may call the
 * zk.h API (but not eau2_members_unwatch of its own watch). */
typedef void eau2_member_event_fn(void *arg, enum eau2_member_event event,
				  const struct eau2_member *m);

typedef struct eau2_member_watch eau2_member_watch;

/* Calls fn for every member present now (JOINED), then for every join and
 * departure. A node that leaves and comes back (a new session) between two
 * looks still yields LEFT then JOINED. Runs until unwatched or the
 * session expires. */
int eau2_members_watch(eau2_zk *zk, eau2_member_event_fn *fn, void *arg,
		       eau2_member_watch **watch, struct eau2_error *err);
/* Stops the watch (promptly: it does not wait out a timeout) and frees it.
 * NULL is a no-op. */
void eau2_members_unwatch(eau2_member_watch *watch);

#endif
