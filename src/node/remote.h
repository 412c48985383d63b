/* SPDX-License-Identifier: MIT */
/*
 * remote.h - eau2-node's service to remote peers and its client: the
 * requests a program (eau2_open with a remote address) makes of a node
 * on another host, over uring_net's authenticated frames (net.h). Part
 * of src/node; the facade's remote backend (src/api/remote.c) and the
 * eau2-node command use it.
 *
 * Protocol (frame types of the upper range; little-endian payloads; every
 * reply echoes its request's id; a refusal is the transport's ERROR frame
 * with -errno and a one-line message naming the key, after which the
 * connection stays usable):
 *
 *   LIST   0x100  -                        KEYS frames: NUL-terminated keys,
 *                                          flag MORE on every part but the last
 *   STAT   0x101  key                      DESC frames (below)
 *   GET    0x102  u64 first group,         DESC frames, then one chunk per
 *                 u64 max groups,          (group, column), group-major, tag
 *                 u32 wait ms, key         = index (CHUNK_BEGIN/BLOCK), then END
 *                                          (aux[0] = chunks sent)
 *   PUT    0x103  key                      GO; then the client sends one
 *                                          or more pieces (DESC frames and
 *                                          their chunks, tags from 0 in each;
 *                                          a piece whose DESC has flag
 *                                          RESTART replaces those before it),
 *                                          then END (aux[0] = chunks since
 *                                          the last restart); the node
 *                                          replies OK once the dataframe is
 *                                          published under key
 *   DELETE 0x104  key                      OK
 *   RUN    0x105  strings (u32 length +    without `as`: the result as GET's
 *                 bytes): rower, input     reply; with `as`: OK once the
 *                 key ("" none), as key    result is stored there (aux[0] =
 *                 ("" none); u32 threads;  its rows)
 *                 u32 nargs; nargs x
 *                 (name, value) strings
 *   RUN_STATE     RUN's payload (as ""):   STATE frames: the joined state as
 *          0x106  a partition's run of a   the class encodes it, in parts
 *                 distributed one          (flag MORE), aux[0] = its length
 *   PULL   0x107  u64 bytes/s (0: no      OK once key is copied from the
 *                 limit), u32 length +     node at HOST:PORT (a GET of it
 *                 HOST:PORT, key           there, node to node) and
 *                                          published here; aux[0] = the
 *                                          chunk bytes copied. Repairs
 *                                          (issue #13): throttled to the
 *                                          rate, the node PINGs meanwhile
 *   replies: OK 0x180, KEYS 0x181, DESC 0x182, END 0x183, GO 0x184,
 *            STATE 0x185
 *
 *   A descriptor (DESC) is the schema and the row groups of what follows,
 *   sent in frames of at most EAU2_NET_CONTROL_MAX bytes with flag MORE on
 *   every part but the last (4096 columns of 255-byte names do not fit
 *   one), aux[0] = the total length (at most EAU2_REMOTE_DESC_MAX):
 *       u32 version (1), u32 ncols, u64 rows, u64 ngroups, u64 chunk bytes,
 *       ncols x (u8 type, u8 name length, name), ngroups x u32 rows.
 *
 * Transfers. The sender streams chunks straight from its mapped segments
 * (net.h: raw blocks are not copied); the receiver takes each chunk into
 * one of a window of 3 reusable buffers (each the largest chunk so far),
 * where uring_net checks it, and a writer thread writes it with pwrite
 * into a new dataframe of its store (eau2_builder_put_chunk) while the
 * next arrive: memory holds 3 chunks and the codec's scratch, whatever
 * the dataframe's size, and TCP's window is the only other queue. The new
 * dataframe is published (the store's atomic put) only once complete,
 * checked and matching its descriptor; until then the key keeps its old
 * dataframe, and a transfer cut at any point leaves nothing: the
 * builder's files are removed when it aborts, and a process killed
 * mid-build leaves files that eau2_gc reclaims (their lock is free). A
 * node that refuses a push half-way sends ERROR and drops what still
 * comes for a few seconds; the client looks for a reply between chunks.
 *
 * Waiting. While a run computes or a GET waits for its key, the node
 * PINGs the client every second (the client's receive answers them), so
 * the client's frame timeout bounds silence, not the length of a run.
 *
 * Threads. A client handle is used by one thread at a time. The service
 * answers each request on a uring_net worker with a store handle taken
 * from a small pool (one per worker), so handles are never shared.
 */
#ifndef EAU2_NODE_REMOTE_H
#define EAU2_NODE_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eau2.h"
#include "uring_net/net.h"

enum eau2_remote_type {
	EAU2_REMOTE_LIST = 0x100,
	EAU2_REMOTE_STAT = 0x101,
	EAU2_REMOTE_GET = 0x102,
	EAU2_REMOTE_PUT = 0x103,
	EAU2_REMOTE_DELETE = 0x104,
	EAU2_REMOTE_RUN = 0x105,
	EAU2_REMOTE_RUN_STATE = 0x106,
	EAU2_REMOTE_PULL = 0x107,
	EAU2_REMOTE_OK = 0x180,
	EAU2_REMOTE_KEYS = 0x181,
	EAU2_REMOTE_DESC = 0x182,
	EAU2_REMOTE_END = 0x183,
	EAU2_REMOTE_GO = 0x184,
	EAU2_REMOTE_STATE = 0x185,
};
#define EAU2_REMOTE_F_MORE 1u
#define EAU2_REMOTE_F_RESTART 2u /* DESC of a put's piece: drop the pieces before */

#define EAU2_REMOTE_DESC_VERSION 1u
#define EAU2_REMOTE_GROUPS_MAX (1u << 22)   /* row groups in one descriptor */
#define EAU2_REMOTE_DESC_MAX (32u + EAU2_COLS_MAX * (2u + EAU2_NAME_MAX) + \
			      4u * EAU2_REMOTE_GROUPS_MAX)
#define EAU2_REMOTE_LIST_MAX (64u << 20)    /* bytes of a reassembled key list */
#define EAU2_REMOTE_ARGS_MAX 256u           /* arguments of a run */
#define EAU2_REMOTE_STATE_MAX (1u << 30)    /* bytes of an encoded state */
#define EAU2_REMOTE_RUN_CACHE 256u         /* run inputs a node keeps open (dfcache.h) */
#define EAU2_REMOTE_WAIT_SLICE_MS 10000     /* longest wait one GET asks for */
#define EAU2_REMOTE_CLUSTER "eau2"          /* the cluster name of a lone node */
#define EAU2_REMOTE_ADDR_MAX 263u           /* bytes of a PULL's HOST:PORT */
#define EAU2_REMOTE_RATE_MIN (64u << 10)    /* slowest PULL rate (bytes/s) but 0 */

/* ------------------------------------------------- messages (rproto.c) */

/* A decoded descriptor: what a transfer carries. */
struct eau2_remote_desc {
	eau2_schema *schema;
	uint64_t rows, bytes;
	size_t ngroups;
	uint32_t *group_rows; /* ngroups entries */
};
void eau2_remote_desc_free(struct eau2_remote_desc *d); /* its members */

/* Encodes the descriptor of row groups [first, first + n) of df into a
 * new buffer *out (malloc'd) of *len bytes. */
int eau2_remote_desc_encode(const eau2_df *df, size_t first, size_t n, uint8_t **out,
			    size_t *len, struct eau2_error *err);
/* Decodes and checks one (types, names, counts, rows per group at most
 * EAU2_CHUNK_ROWS summing to rows): 0 or -EBADMSG. */
int eau2_remote_desc_decode(const uint8_t *buf, size_t len, struct eau2_remote_desc *d,
			    struct eau2_error *err);

struct eau2_remote_get_req {
	uint64_t first, max_groups;
	uint32_t wait_ms;
	char key[EAU2_KEY_MAX + 1];
};
int eau2_remote_get_encode(const struct eau2_remote_get_req *r, uint8_t *out, size_t *len);
int eau2_remote_get_decode(const uint8_t *p, size_t len, struct eau2_remote_get_req *r,
			   struct eau2_error *err);
/* A key request's payload (STAT, PUT, DELETE): 1..EAU2_KEY_MAX bytes, no NUL. */
int eau2_remote_key_decode(const uint8_t *p, size_t len, char key[EAU2_KEY_MAX + 1],
			   struct eau2_error *err);

/* A PULL request: copy key from the node at `from`, at most rate bytes/s
 * (0: no limit; else at least EAU2_REMOTE_RATE_MIN). The receiver holds
 * back after a chunk at most a few seconds, so that the sender's frame
 * timeout never fires: a chunk larger than that at the rate goes faster. */
struct eau2_remote_pull_req {
	uint64_t rate;
	char from[EAU2_REMOTE_ADDR_MAX + 1];
	char key[EAU2_KEY_MAX + 1];
};
/* out: room for 12 + EAU2_REMOTE_ADDR_MAX + EAU2_KEY_MAX bytes. */
int eau2_remote_pull_encode(const struct eau2_remote_pull_req *r, uint8_t *out, size_t *len,
			    struct eau2_error *err);
int eau2_remote_pull_decode(const uint8_t *p, size_t len, struct eau2_remote_pull_req *r,
			    struct eau2_error *err);

/* A run request. Decoded, the strings point into one allocation (free
 * with eau2_remote_run_free). */
struct eau2_remote_run_req {
	const char *rower, *key, *as; /* key and as: "" for none */
	uint32_t threads;
	struct eau2_args args;
	void *mem;
};
int eau2_remote_run_encode(const struct eau2_remote_run_req *r, uint8_t **out,
			   size_t *len, struct eau2_error *err);
int eau2_remote_run_decode(const uint8_t *p, size_t len, struct eau2_remote_run_req *r,
			   struct eau2_error *err);
void eau2_remote_run_free(struct eau2_remote_run_req *r);

/* ------------------------------------------ dataframe streams (rxfer.c) */

/* Told of a transfer's progress after each chunk, on the transferring
 * thread: chunk bytes done and in all (0: not known). */
struct eau2_remote_progress {
	void (*fn)(void *ctx, uint64_t done, uint64_t total);
	void *ctx;
};

/* A reply of len bytes (a descriptor, a key list, a state) in frames of
 * type, at most EAU2_NET_CONTROL_MAX bytes each, flag MORE on every part
 * but the last, aux[0] = len. */
int eau2_remote_send_parts(eau2_net_conn *c, uint64_t req, uint16_t type, const void *p,
			  size_t len, struct eau2_error *err);
/* Receives one (first: its first header already read, or NULL) of min to
 * max bytes into *out (malloc'd). */
int eau2_remote_recv_parts(eau2_net_conn *c, const struct eau2_net_frame *first,
			  uint16_t type, size_t min, size_t max, uint8_t **out, size_t *len,
			  struct eau2_error *err);
/* Over loopback no link limits what a codec would save: chunks go raw
 * (AUTO, misled by a receiver that writes slower than the link, would
 * compress and make the sender the bottleneck). Elsewhere AUTO. */
void eau2_remote_tune(eau2_net_conn *c);
/* Sends the descriptor of row groups [first, first + n) of df (DESC frames). */
int eau2_remote_send_desc(eau2_net_conn *c, uint64_t req, const eau2_df *df, size_t first,
			  size_t n, struct eau2_error *err);
/* Sends row groups [first, first + n) of df as DESC frames (flags on
 * each: 0, or EAU2_REMOTE_F_RESTART) then its chunks (no END: the caller
 * ends the reply, or sends another piece). */
int eau2_remote_send_df(eau2_net_conn *c, uint64_t req, const eau2_df *df, size_t first,
			size_t n, uint16_t flags, const struct eau2_remote_progress *pr,
			struct eau2_error *err);
/* Receives one or more pieces (a descriptor and its chunks) into a new
 * dataframe of store db (under no key), checking every chunk against its
 * piece's descriptor, then the END frame. Every piece has the first's
 * schema and at least one row group; one marked EAU2_REMOTE_F_RESTART
 * drops the pieces before it. desc_first: a DESC header already read
 * (NULL: read here). On failure nothing is left in the store. pr: NULL,
 * or told of progress. */
int eau2_remote_recv_df(eau2_net_conn *c, uint64_t req, const struct eau2_net_frame *desc_first,
			eau2 *db, const struct eau2_remote_progress *pr, eau2_df **out,
			struct eau2_error *err);
/* Receives DESC frames into a decoded descriptor. */
int eau2_remote_recv_desc(eau2_net_conn *c, const struct eau2_net_frame *first,
			  struct eau2_remote_desc *d, struct eau2_error *err);

/* --------------------------------------------------- client (rclient.c) */

typedef struct eau2_remote eau2_remote;

/* Connects to the node at addr ("HOST:PORT") and authenticates (secret:
 * the secret file, or NULL for a node without one); timeout_ms bounds
 * connecting, the handshake and each frame (0: the transport's
 * defaults). The handle reconnects by itself on the next call after a
 * transport error. */
int eau2_remote_open(eau2_remote **r, const char *addr, const char *secret_file,
		     int timeout_ms, struct eau2_error *err);
/* The same with connect_ms bounding connecting and the handshake apart
 * (0: the transport's defaults), timeout_ms each frame. */
int eau2_remote_open_bounded(eau2_remote **r, const char *addr, const char *secret_file,
			     int timeout_ms, int connect_ms, struct eau2_error *err);
void eau2_remote_close(eau2_remote *r); /* NULL allowed */
/* From any thread while another uses r: the call in progress on r's
 * connection fails at once (its socket shut down; the next call
 * connects again). A connect or handshake in progress is not cut: it
 * keeps its own bound. */
void eau2_remote_abort(eau2_remote *r);
const char *eau2_remote_addr(const eau2_remote *r);
/* Transfers of this handle report their progress there (fn NULL: not). */
void eau2_remote_set_progress(eau2_remote *r, const struct eau2_remote_progress *pr);

int eau2_remote_list(eau2_remote *r, char ***keys, size_t *n, struct eau2_error *err);
int eau2_remote_stat(eau2_remote *r, const char *key, struct eau2_remote_desc *d,
		     struct eau2_error *err);
/* Pulls row groups [first, first + max_groups) of key into a new dataframe of
 * db's store (under no key). wait_ms >= 0: wait up to that long for key
 * to appear (-ETIMEDOUT); < 0: -ENOENT at once when absent. */
int eau2_remote_get(eau2_remote *r, eau2 *db, const char *key, uint64_t first,
		    uint64_t max_groups, int wait_ms, eau2_df **df, struct eau2_error *err);
/* Pushes row groups [first, first + n) of df under key on the node. */
int eau2_remote_put(eau2_remote *r, const char *key, const eau2_df *df, size_t first,
		    size_t n, struct eau2_error *err);
/* A put in pieces, sent as they are made: begin (PUT, GO), then pieces
 * (row groups [first, first + n) of df each; restart: this piece and
 * those after replace those before), then end with the chunks sent
 * since the last restart (the node publishes, OK). Between pieces, ping
 * keeps the node waiting (it gives each frame its timeout; a PING is
 * one). Between begin and end the connection is the put's; on any
 * failure it is closed, which drops the put on the node; abort does that
 * on purpose. */
int eau2_remote_put_begin(eau2_remote *r, const char *key, uint64_t *req,
			  struct eau2_error *err);
int eau2_remote_put_piece(eau2_remote *r, uint64_t req, const eau2_df *df, size_t first,
			  size_t n, bool restart, struct eau2_error *err);
int eau2_remote_put_end(eau2_remote *r, uint64_t req, uint64_t chunks, struct eau2_error *err);
int eau2_remote_put_ping(eau2_remote *r, struct eau2_error *err);
void eau2_remote_put_abort(eau2_remote *r);
int eau2_remote_delete(eau2_remote *r, const char *key, struct eau2_error *err);
/* A PING's round trip (the node's event loop answers it, busy workers or
 * not: a heartbeat), connecting first when the handle has no connection;
 * bounded by the handle's timeout. A PING left unanswered closes the
 * connection (the next call connects again). */
int eau2_remote_ping(eau2_remote *r, uint64_t *rtt_us, struct eau2_error *err);
/* Runs a rower on the node over its key (NULL for EAU2_ROWER_NO_INPUT
 * rowers). as: stores the result there on the node, *result NULL and
 * *rows its rows; else the result is pulled into db's store. */
int eau2_remote_run(eau2_remote *r, eau2 *db, const char *rower, const struct eau2_args *args,
		    const char *key, const char *as, unsigned threads, eau2_df **result,
		    uint64_t *rows, struct eau2_error *err);

/* PULL: the node copies key from the node at `from` (HOST:PORT), node to
 * node, at most rate bytes/s (0: no limit), and publishes it once whole
 * and checked (replacing what key held there). *bytes (optional): the
 * chunk bytes copied. Errors name both nodes and the key. */
int eau2_remote_pull(eau2_remote *r, const char *from, const char *key, uint64_t rate,
		     uint64_t *bytes, struct eau2_error *err);

/* Runs cls over df (df NULL: a class with EAU2_ROWER_NO_INPUT) with
 * eau2_run on db and gives its joined state encoded by the class
 * (*state malloc'd, the caller frees) instead of its result; -ENOTSUP
 * for a class without encode and decode. (rrun.c) */
int eau2_remote_run_state(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
			  const struct eau2_args *args, const struct eau2_run_options *opt,
			  void **state, size_t *len, struct eau2_error *err);
/* eau2_remote_run_state, and with nsample > 0 also the joined state's
 * sample of nsample shuffle keys (the class's sample: eau2.h) in
 * *sample (malloc'd, *slen bytes); -ENOTSUP for a class without sample
 * and split. (rrun.c) */
int eau2_remote_run_sample(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
			   const struct eau2_args *args, const struct eau2_run_options *opt,
			   size_t nsample, void **sample, size_t *slen, void **state,
			   size_t *len, struct eau2_error *err);
/* RUN_STATE on the node: rower over key there, the encoded state here
 * (*state malloc'd). */
int eau2_remote_run_state_at(eau2_remote *r, const char *rower, const struct eau2_args *args,
			     const char *key, unsigned threads, void **state, size_t *len,
			     struct eau2_error *err);

/* --------------------------------------------------- service (rserve.c) */

typedef struct eau2_remote_server eau2_remote_server;

struct eau2_remote_server_opts {
	const char *listen;       /* "HOST:PORT" (port 0: ephemeral) */
	const char *secret_file;  /* NULL: no secret, loopback addresses only */
	const char *node_id;      /* NULL: the host name (and the listen port) */
	const char *store;        /* the store directory to serve */
	unsigned workers;         /* requests served at once; 0: 8 */
	int timeout_ms;           /* each frame; 0: the transport's default */
	int ping_ms;              /* PINGs to a peer waiting on a run; 0: 1000 */
	eau2_net_log_fn log;      /* connect, refusal, disconnect, errors */
	void *log_ctx;
	/* where runs and traffic are counted (rstats.h; NULL: the service's
	 * own): the node's, so that its warm runs count with these. Must
	 * outlive the service. */
	struct eau2_rstats *stats;
};

/* Opens one store handle per worker on o->store and starts listening.
 * Without a secret a non-loopback address is refused (-EPERM, saying to
 * give --secret-file). */
int eau2_remote_server_start(eau2_remote_server **s, const struct eau2_remote_server_opts *o,
			     struct eau2_error *err);
uint16_t eau2_remote_server_port(const eau2_remote_server *s);
void eau2_remote_server_stats(eau2_remote_server *s, struct eau2_net_server_stats *out);
void eau2_remote_server_stop(eau2_remote_server *s); /* NULL allowed */

/* ------------------------------------ the service's statistics (rstats.c) */

/* Runs the service executed (RUN and RUN_STATE), per rower: bucket[i]
 * counts the runs that took at most eau2_remote_run_bounds[i] seconds and
 * more than the bound before it; the last bucket, those above every bound. */
#define EAU2_REMOTE_RUN_BUCKETS 7u
extern const double eau2_remote_run_bounds[EAU2_REMOTE_RUN_BUCKETS];
#define EAU2_REMOTE_ROWERS_MAX 128u  /* rowers counted; the rest as "other" */
#define EAU2_REMOTE_RUNS_LIVE 64u    /* running runs listed (more are counted) */
#define EAU2_REMOTE_RUNS_RECENT 32u  /* finished runs remembered */
#define EAU2_REMOTE_PEERS_MAX 256u   /* peer hosts counted; the rest as "other" */

struct eau2_remote_rower_runs {
	char rower[64];
	uint64_t finished;   /* failed ones included */
	uint64_t failed;
	double seconds;      /* sum of the finished runs' durations */
	uint64_t bucket[EAU2_REMOTE_RUN_BUCKETS + 1];
};

/* One run, running or finished. */
struct eau2_remote_run_item {
	char rower[64];
	char input[EAU2_KEY_MAX + 1]; /* "" for none */
	char peer[64];       /* who asked (its host) */
	bool part;           /* a partition's run of a distributed one (RUN_STATE) */
	bool running;
	int rc;              /* finished: 0 or -errno */
	uint64_t rows;       /* the input's rows */
	uint64_t rows_done;  /* of those, visited so far (all, once done) */
	double started;      /* seconds since the Unix epoch */
	double seconds;      /* so far, or in all */
};

/* A remote peer's traffic with the service, by host (every connection
 * from one address adds to one entry). */
struct eau2_remote_peer {
	char addr[64];
	struct eau2_net_stats st;
};

/* Copies the node's run counters (its warm runs, and the remote
 * service's when it counts there: opts.stats): *running, up to cap
 * rowers into rower (returns how many), and up to icap runs into item,
 * running ones first then the finished, newest first (*nitems). */
struct eau2_node_server;
size_t eau2_node_server_runs(struct eau2_node_server *srv, uint64_t *running,
			     struct eau2_remote_rower_runs *rower, size_t cap,
			     struct eau2_remote_run_item *item, size_t icap, size_t *nitems);
/* Copies up to cap peers' traffic into out; returns how many. */
size_t eau2_remote_server_peers(eau2_remote_server *s, struct eau2_remote_peer *out,
				size_t cap);

#endif
