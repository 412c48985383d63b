/* SPDX-License-Identifier: MIT */
/*
 * zk.h - a small, bounded wrapper over ZooKeeper's multi-threaded C client
 * (Debian's libzookeeper-mt), internal to src/cluster. eau2 implements no
 * consensus of its own: membership, the directory of keys, watches and
 * locks all sit on the znodes this file reads and writes.
 *
 * Every znode of a cluster lives under its root /eau2/<cluster> (created
 * on connect). Paths given to these functions are relative to that root
 * ("nodes/n1"; "" is the root itself); messages name the full path.
 *
 * Waiting. Every call waits at most the handle's timeout (or the one it is
 * given): a ZooKeeper that is down, unreachable or stopped (SIGSTOP) costs
 * a caller that timeout and -ETIMEDOUT or -ECONNRESET with a message naming
 * the connect string or the znode, never a hang. An operation that timed
 * out may still be applied by the server later.
 *
 * Errors: 0 or a negative errno, and a one-line message in err naming the
 * znode and ZooKeeper's own words (zerror()):
 *   -ENOENT      no such znode (ZNONODE)
 *   -EEXIST      the znode exists (ZNODEEXISTS)
 *   -ESTALE      the version moved on: a conditional update lost (ZBADVERSION)
 *   -ENOTEMPTY   the znode has children (ZNOTEMPTY)
 *   -ECONNRESET  the connection to ZooKeeper was lost with the call in flight,
 *                so its outcome is unknown (read to learn it); the session
 *                may live on. Only calls that cannot be sent again safely
 *                return it: reads, unconditional sets and deletes, and
 *                non-sequential creates are sent again, once connected,
 *                until the timeout (see eau2_zk_create)
 *   -ETIMEDOUT   no answer within the timeout
 *   -ENOTCONN    the session expired or the handle is closing: terminal, the
 *                handle's ephemeral znodes are gone; open a new handle
 *   -EDEADLK     called from a ZooKeeper callback (session callback), where a
 *                synchronous call would wait on itself
 *   -EINVAL      a bad path, name or argument; -EMSGSIZE data over the limit
 *   -EIO         anything else ZooKeeper reports
 *
 * Threads and locks. A handle may be used from any number of threads at
 * once. Its fields are guarded by one mutex (zk.c: struct eau2_zk), a leaf
 * lock: no ZooKeeper call and no user callback runs while it is held. The
 * C client runs two threads of its own per handle (I/O and completions);
 * completions and watch events only copy results and wake waiters. The one
 * user callback, the session callback, runs on the completion thread and
 * must not call this API synchronously (such calls fail with -EDEADLK).
 *
 * The C client's own log is captured: it is not printed unless
 * EAU2_ZK_LOG=error|warn|info|debug asks for it on stderr; its last error
 * is kept (eau2_zk_last_log) and quoted by connect errors.
 */
#ifndef EAU2_CLUSTER_ZK_H
#define EAU2_CLUSTER_ZK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "eau2.h"

typedef struct eau2_zk eau2_zk;

#define EAU2_ZK_PATH_MAX 1024      /* bytes in a full path, with the NUL */
/* Bytes of data in a znode, and in all of a multi-op's ops together with
 * their paths: the server drops a connection whose request exceeds its
 * jute.maxbuffer (1 MiB by default), headers included. */
#define EAU2_ZK_DATA_MAX 1000000u
#define EAU2_ZK_CLUSTER_MAX 64     /* bytes in a cluster name */

enum eau2_zk_session_event {
	EAU2_ZK_CONNECTED = 1,    /* (re)connected; the session and its
				   * ephemeral znodes live on */
	EAU2_ZK_DISCONNECTED = 2, /* connection lost; the client retries */
	EAU2_ZK_EXPIRED = 3,      /* session over (expired, or authentication
				   * refused): terminal, ephemerals gone */
};

/* Called on the C client's completion thread, without the handle's lock;
 * must not call this API synchronously. */
typedef void eau2_zk_session_fn(void *arg, enum eau2_zk_session_event event);

struct eau2_zk_options {
	const char *connect;   /* "host:port[,host:port...]", required */
	const char *cluster;   /* NULL: "eau2"; [A-Za-z0-9._-], 1-63 bytes */
	int session_ms;        /* requested session timeout; 0: 10000. The
				* server clamps it to its min/max */
	int timeout_ms;        /* bound of connect and of every call; 0: the
				* session timeout */
	eau2_zk_session_fn *on_session; /* optional */
	void *arg;
};

/* Connects to opt->connect, waits at most the timeout for a session, and
 * creates /eau2/<cluster> when missing. *zk is the handle (NULL on error).
 * on_session sees EAU2_ZK_CONNECTED before this returns.
 * -ETIMEDOUT when no server answered in time (the message names the
 * connect string and the client's last log line), -EINVAL for a bad
 * connect string or cluster name. */
int eau2_zk_connect(eau2_zk **zk, const struct eau2_zk_options *opt,
		    struct eau2_error *err);
/* Closes the session (its ephemeral znodes and locks go at once) and frees
 * the handle; bounded even when ZooKeeper is stopped. No other thread may
 * use the handle meanwhile. Watches outlive it, dead (their wait returns
 * -ENOTCONN): free them with eau2_zk_watch_free. NULL is a no-op. */
void eau2_zk_close(eau2_zk *zk);

/* Waits at most timeout_ms until the handle is connected (at once when it
 * is): 0, -ETIMEDOUT, or -ENOTCONN when the session expired. */
int eau2_zk_wait_connected(eau2_zk *zk, int timeout_ms, struct eau2_error *err);

const char *eau2_zk_root(const eau2_zk *zk);       /* "/eau2/<cluster>" */
const char *eau2_zk_connect_string(const eau2_zk *zk);
/* The session id (0 before connect) and its 16-byte password: what
 * another client needs to take the session over or to close it. */
int64_t eau2_zk_session_id(const eau2_zk *zk, char passwd[16]);
/* The session timeout the server granted, in ms. */
int eau2_zk_session_ms(const eau2_zk *zk);
/* True once the session expired (or the handle closes). */
bool eau2_zk_expired(eau2_zk *zk);
/* Copies the last error the C client logged (any handle; else its last
 * line) into buf. */
void eau2_zk_last_log(char *buf, size_t size);

/* What ZooKeeper keeps about a znode (a subset of its Stat). czxid == 0
 * means "no such znode" where a function says so. */
struct eau2_zk_stat {
	int64_t czxid;           /* transaction that created it */
	int64_t mzxid;           /* last data change */
	int64_t pzxid;           /* last change of its children */
	int64_t mtime_ms;        /* wall-clock time of the last data change */
	int32_t version;         /* data version, for conditional updates */
	int32_t cversion;        /* children version */
	int32_t num_children;
	int32_t data_len;
	int64_t ephemeral_owner; /* session id, 0 for persistent znodes */
};

/* Create flags. */
#define EAU2_ZK_EPHEMERAL 1u  /* removed when the session ends */
#define EAU2_ZK_SEQUENTIAL 2u /* a 10-digit counter appended to the name */
#define EAU2_ZK_PARENTS 4u    /* create missing parents (persistent, empty) */

/* Creates path with len bytes of data (data may be NULL when len is 0).
 * created (optional, created_size bytes) receives the path created,
 * relative to the root: with EAU2_ZK_SEQUENTIAL it ends in the counter.
 * When the answer to a non-sequential create is lost, it is sent again;
 * if the znode then exists, the create counts as ours when our session
 * owns it (ephemeral) or it holds exactly our bytes (persistent): two
 * writers creating one path with the same bytes may then both succeed,
 * so claim a name with an ephemeral, a sequential or a multi-op. */
int eau2_zk_create(eau2_zk *zk, const char *path, const void *data, size_t len,
		   unsigned flags, char *created, size_t created_size,
		   struct eau2_error *err);
/* Creates path and its missing parents, persistent and empty; 0 when it
 * already exists. */
int eau2_zk_mkdirs(eau2_zk *zk, const char *path, struct eau2_error *err);

/* A one-shot watch: reads given a watch arm it on what they read (get and
 * exists: the znode's data, creation and removal; children: its children
 * and removal). It fires once, on the first change of anything it was
 * armed on since the last wait; a read arms it again. Not thread-safe:
 * one thread arms and waits on a watch. */
typedef struct eau2_zk_watch eau2_zk_watch;
int eau2_zk_watch_new(eau2_zk *zk, eau2_zk_watch **watch, struct eau2_error *err);
/* Waits at most timeout_ms for the watch to fire: 0 when it fired (a
 * change may have happened: read again), -ETIMEDOUT, -ENOTCONN when the
 * session expired, -EINVAL when nothing armed it. */
int eau2_zk_watch_wait(eau2_zk_watch *watch, int timeout_ms, struct eau2_error *err);
/* Wakes the watch's waiter as if it fired: the one watch function another
 * thread may call (to stop a thread that waits on it). */
void eau2_zk_watch_wake(eau2_zk_watch *watch);
/* NULL is a no-op. */
void eau2_zk_watch_free(eau2_zk_watch *watch);

/* Reads path's data into *data (malloc'd, NUL-terminated after *len bytes;
 * the caller frees it). stat and watch are optional. */
int eau2_zk_get(eau2_zk *zk, const char *path, void **data, size_t *len,
		struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		struct eau2_error *err);
/* Replaces path's data when its version is `version` (-1: any); -ESTALE
 * when another writer got there first. stat (optional) receives the new
 * stat. */
int eau2_zk_set(eau2_zk *zk, const char *path, const void *data, size_t len,
		int32_t version, struct eau2_zk_stat *stat, struct eau2_error *err);
/* Removes path when its version is `version` (-1: any). */
int eau2_zk_delete(eau2_zk *zk, const char *path, int32_t version,
		   struct eau2_error *err);
/* 0 when path exists, -ENOENT when not (a watch then fires on creation). */
int eau2_zk_exists(eau2_zk *zk, const char *path, struct eau2_zk_stat *stat,
		   eau2_zk_watch *watch, struct eau2_error *err);

/* Names of children, sorted (strcmp). */
struct eau2_zk_names {
	size_t n;
	char **names;
};
/* *names receives path's children; free it with eau2_zk_names_free. stat
 * (optional) receives path's own stat. */
int eau2_zk_children(eau2_zk *zk, const char *path, struct eau2_zk_names *names,
		     struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		     struct eau2_error *err);
void eau2_zk_names_free(struct eau2_zk_names *names);

/* Waits at most timeout_ms until path's data or children differ from
 * `seen` (a stat read before; czxid == 0 for "did not exist"): 0 when they
 * do (at once when they already did), -ETIMEDOUT otherwise. *now
 * (optional) receives the stat that differs (czxid 0: gone). No polling:
 * it sleeps on a watch. */
int eau2_zk_wait_change(eau2_zk *zk, const char *path,
			const struct eau2_zk_stat *seen, int timeout_ms,
			struct eau2_zk_stat *now, struct eau2_error *err);

/* Multi-op: all of ops apply, or none does. */
enum eau2_zk_op_type {
	EAU2_ZK_OP_CREATE = 1, /* path, data, len, flags (not PARENTS) */
	EAU2_ZK_OP_DELETE = 2, /* path, version */
	EAU2_ZK_OP_SET = 3,    /* path, data, len, version */
	EAU2_ZK_OP_CHECK = 4,  /* path, version: fails unless it matches */
};
struct eau2_zk_op {
	enum eau2_zk_op_type type;
	const char *path;
	const void *data;
	size_t len;
	unsigned flags;
	int32_t version;       /* -1: any */
	int result;            /* out: this op's 0 or -errno */
};
#define EAU2_ZK_MULTI_MAX 1024
/* Applies ops[0..n) atomically. On failure nothing is applied; each op's
 * result says which failed (the others read 0 or -ECANCELED), and the
 * message names the first failing op's path. */
int eau2_zk_multi(eau2_zk *zk, struct eau2_zk_op *ops, size_t n,
		  struct eau2_error *err);

/* ZooKeeper's lock recipe: an ephemeral sequential child of locks/<name>
 * per contender, each watching the one before it; the lowest holds the
 * lock. Fair (first come, first served), and released by the session's
 * end when a holder dies. */
typedef struct eau2_zk_lock eau2_zk_lock;
/* Takes lock `name` ([A-Za-z0-9._:-], 1-200 bytes) within timeout_ms:
 * 0 and *lock, or -ETIMEDOUT (no trace left behind). */
int eau2_zk_lock_take(eau2_zk *zk, const char *name, int timeout_ms,
		      eau2_zk_lock **lock, struct eau2_error *err);
/* Releases the lock and frees it (also when ZooKeeper fails to delete its
 * znode: the session's end does). NULL is a no-op. */
int eau2_zk_lock_release(eau2_zk_lock *lock, struct eau2_error *err);

/* Checks a single znode name (a node id, a lock name): 1-max bytes of
 * [A-Za-z0-9._:@[]-], not "." or "..". what names it in the message. */
int eau2_zk_check_name(const char *name, size_t max, const char *what,
		       struct eau2_error *err);

/* For the module's own bounded waits: the CLOCK_MONOTONIC time ms from now
 * (negative counts as 0), the ms left until such a deadline (0 when
 * passed), and a condition variable timed on that clock. */
struct timespec eau2_zk_deadline(int ms);
int eau2_zk_ms_left(const struct timespec *deadline);
void eau2_zk_cond_init(pthread_cond_t *cv);

#endif
