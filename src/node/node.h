/* SPDX-License-Identifier: MIT */
/*
 * node.h - eau2-node, the process that owns a store directory and serves it
 * to local clients over a Unix socket, and the client side that libeau2
 * uses to attach to it. The only way into src/node from other modules.
 *
 * Roles. The store layout (shm.h) already lets any process of the owner
 * read and write the catalog safely on its own ("embedded mode"). The node
 * adds what a file layout cannot give: one process that knows which
 * dataframe ids each client holds (reference counts, released when the
 * client's connection closes, however it dies), that hands clients the
 * segment descriptors (SCM_RIGHTS) so a client needs no path into data/,
 * and the place where remote clients will come in (--listen, later).
 *
 * Catalog writes (put, delete) stay in the clients, under writer.lock, as
 * in embedded mode: the catalog is the files, they are crash-safe without
 * the node, and a node that dies mid-request cannot lose or half-apply a
 * put. The node serves GET, RELEASE, HOLD, LIST, DELETE and STATUS; DELETE
 * and LIST are there for tools and for remote clients later, and do what
 * eau2_delete / eau2_list do on the node's own handle.
 *
 * Files the node adds to a store: node.lock (flock held for the node's
 * life; holds its pid as text) and node.sock (the SOCK_SEQPACKET socket,
 * removed on a clean stop; a stale one left by a crash is refused by the
 * kernel with ECONNREFUSED and replaced by the next node).
 *
 * Wire format (little endian): a 32-byte header, then `len` payload bytes,
 * one request or reply per SEQPACKET message, at most EAU2_NODE_MSG_MAX
 * bytes in all. Replies carry the request's type | EAU2_NODE_REPLY and its
 * request id; `code` is 0 or -errno, and an error reply's payload is the
 * one-line message. A reply longer than one message is split, every part
 * but the last flagged EAU2_NODE_F_MORE. RELEASE and HOLD have no reply.
 *
 *   HELLO   req: u32 version, u32 pid         rep: u32 version, u32 node pid
 *   GET     req: key bytes                    rep: u64 id, u32 nsegs, u32 first
 *           + fds (descriptor, then segment 0..nsegs-1, at most 253 per
 *           message; `first` is the index of the message's first fd)
 *   RELEASE req: u64 id, u32 count            (no reply)
 *   HOLD    req: u64 id, u32 count            (no reply; re-announces what a
 *                                              client held before a node restart)
 *   LIST    req: -                            rep: keys, each NUL-terminated
 *   DELETE  req: key bytes                    rep: -
 *   STATUS  req: -                            rep: see eau2_node_status_decode
 *   RUN     req: remote.h's RUN payload        rep (with `as`): u64 rows, u32 cols
 *           (rower, input key, as key,         once the result is stored under
 *           threads, arguments)                `as`; (without): GET's reply for
 *                                              the result, which belongs to no key
 *           and which the node keeps until the client RELEASEs its id or its
 *           connection closes. While the run waits or computes the node sends,
 *           every second, an empty part flagged MORE (a keepalive: the
 *           client's receive timeout bounds silence, not a run's length).
 *
 * Revisions. The header's version is the wire format; HELLO's reply
 * carries the node's revision: 1 serves GET to STATUS, 2 also RUN. A
 * client asks for RUN only of a node of revision 2 (older clients ignore
 * the field), and runs in-process otherwise.
 *
 * Warm runs (RUN). The node executes runs one at a time on its run
 * thread (started on the first RUN; one that cannot start, or a node
 * with no_runs, refuses RUN with -ENOEXEC and clients run in-process),
 * never on the event loop, over a long-lived handle of its store:
 * the input dataframes it opened stay mapped with their checked chunk
 * views (dfcache.h: EAU2_NODE_RUN_CACHE keys, an entry used only while
 * its key names its id and dropped within a second of naming another id
 * or none), and the pinned pool runs the rower as in-process. Queued
 * runs take turns round-robin across connections (the connection served
 * least recently goes next); a connection may queue EAU2_NODE_RUN_CONN
 * runs and the node EAU2_NODE_RUN_QUEUE in all, beyond which RUN is
 * refused with -EBUSY. A connection that closes drops its queued runs and
 * cancels its running one (the executor's cancel flag); what it ran
 * leaves nothing behind but what it stored under `as`.
 *
 * Access rules. The server is single-threaded: everything in it belongs to
 * its event loop. A client handle is shared by a store handle and every
 * dataframe got through it, which may be released from any thread: all its
 * fields are guarded by its mutex, and the handle is freed when its last
 * reference goes (eau2_node_client_unref).
 */
#ifndef EAU2_NODE_H
#define EAU2_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eau2.h"

#define EAU2_NODE_MAGIC 0x504e3245u /* "E2NP" */
#define EAU2_NODE_VERSION 1u
#define EAU2_NODE_REVISION 2u        /* HELLO's reply: 2 serves RUN */
#define EAU2_NODE_HDR_SIZE 32u
#define EAU2_NODE_MSG_MAX 65536u
#define EAU2_NODE_PAYLOAD_MAX (EAU2_NODE_MSG_MAX - EAU2_NODE_HDR_SIZE)
#define EAU2_NODE_FDS_MAX 253u       /* SCM_MAX_FD */
#define EAU2_NODE_SEGS_MAX 65536u    /* segments of one dataframe */
#define EAU2_NODE_HOLDS_MAX 65536u   /* distinct ids one connection holds */
#define EAU2_NODE_CONNS_MAX 4096u
#define EAU2_NODE_REPLY_MAX (64u << 20) /* a reassembled multi-part reply */
#define EAU2_NODE_RUN_QUEUE 64u     /* runs queued on a node, all connections */
#define EAU2_NODE_RUN_CONN 4u       /* runs queued by one connection */
#define EAU2_NODE_RUN_CACHE 16u     /* input dataframes a node keeps open */
#define EAU2_NODE_KEEPALIVE_MS 1000 /* between keepalives of a pending RUN */
#define EAU2_NODE_SOCK "node.sock"
#define EAU2_NODE_LOCK "node.lock"
#define EAU2_NODE_LOG "node.log"

enum eau2_node_type {
	EAU2_NODE_HELLO = 1,
	EAU2_NODE_GET = 2,
	EAU2_NODE_RELEASE = 3,
	EAU2_NODE_HOLD = 4,
	EAU2_NODE_LIST = 5,
	EAU2_NODE_DELETE = 6,
	EAU2_NODE_STATUS = 7,
	EAU2_NODE_RUN = 8,
	EAU2_NODE_REPLY = 0x80,
};
#define EAU2_NODE_F_MORE 1u

struct eau2_node_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t len;  /* payload bytes after the header */
	uint64_t req;
	int32_t code;
	uint32_t nfds; /* descriptors passed with this message */
};

/* ------------------------------------------------------------ protocol */

/* Writes h as 32 little-endian bytes at out. */
void eau2_node_hdr_encode(const struct eau2_node_hdr *h, uint8_t *out);
/* Checks one received message of msg_len bytes: size, magic, version,
 * type, payload length. -EPROTO for a different protocol version (h is
 * still filled, so the peer can be told), -EBADMSG for anything else. */
int eau2_node_hdr_decode(const uint8_t *msg, size_t msg_len,
			 struct eau2_node_hdr *h, struct eau2_error *err);
/* Checks a request's payload for its type (keys, ids, counts). */
int eau2_node_req_check(const struct eau2_node_hdr *h, const uint8_t *payload,
			struct eau2_error *err);
uint32_t eau2_node_get_u32(const uint8_t *p);
uint64_t eau2_node_get_u64(const uint8_t *p);
void eau2_node_put_u32(uint8_t *p, uint32_t v);
void eau2_node_put_u64(uint8_t *p, uint64_t v);

/* Sends one message (header + payload + fds), blocking, MSG_NOSIGNAL. */
int eau2_node_send(int sock, const struct eau2_node_hdr *h, const void *payload,
		   const int *fds, size_t nfds);
/* Receives one message into buf (EAU2_NODE_MSG_MAX bytes); descriptors that
 * come with it land in fds (room for EAU2_NODE_FDS_MAX, close-on-exec) and
 * *nfds. Returns the message length, 0 at end of stream, or -errno
 * (-EAGAIN when flags has MSG_DONTWAIT and nothing is there). */
ssize_t eau2_node_recv(int sock, uint8_t *buf, int *fds, size_t *nfds, int flags);

/* The socket address of store dir (dirfd open on it): dir/node.sock, or
 * /proc/self/fd/<dirfd>/node.sock when the path is too long for sun_path. */
int eau2_node_sockaddr(const char *dir, int dirfd, void *addr, unsigned *addr_len);

/* STATUS reply, decoded. */
struct eau2_node_conn_status {
	pid_t pid;
	uint32_t nids;  /* distinct ids held */
	uint64_t refs;  /* references held, all ids */
};
struct eau2_node_id_status {
	uint64_t id;
	uint32_t refs;   /* references held, all connections */
	uint32_t nconns; /* connections holding it */
	int keyed;       /* a key still names it (0: deleted or replaced) */
};
struct eau2_node_status {
	pid_t node_pid;
	size_t nconns, nids;
	struct eau2_node_conn_status *conns;
	struct eau2_node_id_status *ids; /* sorted by id */
};
/* Parses a reassembled STATUS payload into a new *st (one allocation:
 * free(*st)). */
int eau2_node_status_decode(const uint8_t *buf, size_t len,
			    struct eau2_node_status **st, struct eau2_error *err);
/* Builds the keys array of eau2_list from a LIST payload. */
int eau2_node_list_decode(const uint8_t *buf, size_t len, char ***keys,
			  size_t *n, struct eau2_error *err);

/* --------------------------------------------------------------- server */

struct eau2_node_server;

struct eau2_node_server_opts {
	int log_fd;        /* where log lines go: 2 for stderr */
	int quiet;         /* 1: log errors only */
	int no_runs;       /* 1: serve no RUN (revision 1: clients run in-process) */
};

/* Opens the store at dir (NULL: the default store, as eau2_open), takes
 * node.lock (-EBUSY, naming the running node's pid, when another node
 * holds it) and binds node.sock. */
int eau2_node_server_open(struct eau2_node_server **srv, const char *dir,
			  const struct eau2_node_server_opts *opts,
			  struct eau2_error *err);
/* Serves until SIGTERM or SIGINT (blocked and taken by a signalfd) or
 * until eau2_node_server_stop. Returns 0 on a clean stop. */
int eau2_node_server_run(struct eau2_node_server *srv, struct eau2_error *err);
/* Asks a running loop to stop (async-signal-safe). */
void eau2_node_server_stop(struct eau2_node_server *srv);
/* Call in the child after fork() when the child is to be the node (a
 * daemon): records its pid in node.lock and remakes its signalfd. */
int eau2_node_server_forked(struct eau2_node_server *srv, struct eau2_error *err);
/* Where logs go from now on. */
void eau2_node_server_set_log(struct eau2_node_server *srv, int fd);
const char *eau2_node_server_dir(const struct eau2_node_server *srv);
/* The node's counters of runs (rstats.h): its warm runs count there, and
 * the remote service's when it is given them (its opts.stats). Lives as
 * long as srv. */
struct eau2_rstats;
struct eau2_rstats *eau2_node_server_rstats(struct eau2_node_server *srv);
/* Counters of a server, for /metrics and status pages. Safe to call from
 * any thread while the loop runs: each field is read atomically on its
 * own (the set as a whole is not one instant). */
struct eau2_node_server_stats {
	uint64_t clients;        /* connections open now */
	uint64_t connects;       /* connections accepted since the start */
	uint64_t refused;        /* connections refused (other uid, limit, memory) */
	uint64_t requests;       /* requests served, all connections */
	uint64_t gets;           /* of which GETs */
	uint64_t runs;           /* of which RUNs */
	uint64_t run_hits;       /* RUNs whose input was open already */
};
void eau2_node_server_stats(const struct eau2_node_server *srv,
			    struct eau2_node_server_stats *st);
/* Removes node.sock (when it is still ours), drops node.lock, closes. */
void eau2_node_server_close(struct eau2_node_server *srv);

/* --------------------------------------------------------------- client */

struct eau2_node_client;

/* Makes a client handle for the store at dir and tries to attach to its
 * node. Returns 0 with *c set whether or not a node is there now (the
 * handle re-attaches on later calls when one appears or restarts), or
 * -ENOMEM. *c starts with one reference. Whether to attach at all is the
 * caller's choice (eau2_open's node option). */
int eau2_node_attach(const char *dir, struct eau2_node_client **c,
		     struct eau2_error *err);
/* 1 when the handle has a live connection now. */
int eau2_node_attached(struct eau2_node_client *c);
struct eau2_node_client *eau2_node_client_ref(struct eau2_node_client *c);
void eau2_node_client_unref(struct eau2_node_client *c); /* NULL allowed */

/* eau2_get through the node: the node resolves key and passes the
 * descriptor and segment fds; they are mapped read-only here and the
 * dataframe is built on db (the node's store, opened here). The node counts one
 * reference to the id for this connection: call eau2_node_release(c, id)
 * when the dataframe is freed. Returns -ENOTCONN, with nothing held, when
 * no node can be reached: the caller goes on in embedded mode. */
struct eau2_store;
int eau2_node_get(struct eau2_node_client *c, struct eau2_store *db, const char *key,
		  eau2_df **df, struct eau2_error *err);
/* A run on the node (RUN): rower over key (NULL: none) with args,
 * threads (0: the node's default); as (NULL: none) stores the result
 * there on the node, *result NULL and *rows its rows; else *result is the
 * result mapped here (zero-copy, from the node's store, counted by the
 * node like a GET: release it with eau2_node_release). *cancel, when it
 * becomes non-zero, drops the connection (the node cancels the run) and
 * the call returns -ECANCELED. Returns -ENOTCONN, having run nothing,
 * when no node of revision 2 can be reached or the request does not fit
 * a message, and -ENOEXEC when the node has no rower of that name (an
 * older node, or a class the caller registered itself): the caller runs
 * in-process. Any other error is the run's (the node's message in err).
 * The handle's lock is held for the whole run: dataframes got through c
 * and released meanwhile on other threads wait for it to finish. */
int eau2_node_run(struct eau2_node_client *c, struct eau2_store *db, const char *rower,
		  const struct eau2_args *args, const char *key, const char *as,
		  unsigned threads, const volatile int *cancel, eau2_df **result,
		  uint64_t *rows, struct eau2_error *err);
/* Drops one reference to id (no reply is awaited). */
void eau2_node_release(struct eau2_node_client *c, uint64_t id);
/* eau2_list / eau2_delete done by the node; -ENOTCONN when unreachable. */
int eau2_node_list(struct eau2_node_client *c, char ***keys, size_t *n,
		   struct eau2_error *err);
int eau2_node_delete(struct eau2_node_client *c, const char *key,
		     struct eau2_error *err);
/* The node's connections and reference counts (free(*st)). */
int eau2_node_status(struct eau2_node_client *c, struct eau2_node_status **st,
		     struct eau2_error *err);

#endif
