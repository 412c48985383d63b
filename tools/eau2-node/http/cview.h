/* SPDX-License-Identifier: MIT */
/*
 * cview.h - a cluster node's own view of its cluster, for the dashboard
 * and /metrics: the members ZooKeeper lists (members.h), each one's
 * state as this node sees it, and a summary of the directory (dir.h):
 * keys, their partitions and where those are, and the partitions with
 * fewer live replicas than asked.
 *
 * A member is up while its znode is there and it answers probes: alive,
 * or suspect once a probe went unanswered; it is dead once its znode is
 * gone or it has not answered for EAU2_CVIEW_DEAD_MS (the words of `eau2
 * --cluster ... status`, whose heartbeats judge the same way). Members seen are remembered (dead ones included,
 * EAU2_CVIEW_NODES_MAX in all, the oldest dead forgotten first), so a
 * node that vanished still shows, as dead.
 *
 * Probing is one function (eau2_cview_probe_fn): the default asks each
 * member's --http service for /api/node (probe.c), every
 * EAU2_CVIEW_PROBE_MS, all members at once, each bounded by
 * EAU2_CVIEW_PROBE_TIMEOUT_MS; a driver-side health service can be put in
 * its place. One thread refreshes the view; readers copy it
 * (eau2_cview_get) under its mutex, never waiting on ZooKeeper or a peer.
 */
#ifndef EAU2_TOOLS_NODE_CVIEW_H
#define EAU2_TOOLS_NODE_CVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/members.h"
#include "cluster/zk.h"
#include "eau2.h"

#define EAU2_CVIEW_NODES_MAX 256u      /* members remembered, dead ones included */
#define EAU2_CVIEW_KEYS_MAX 256u       /* keys summarized for the Data tab */
/* Directory entries read per pass (one ZooKeeper round trip each, on the
 * thread that also probes: 512 keeps a pass well under a second). */
#define EAU2_CVIEW_DIR_READ_MAX 512u
#define EAU2_CVIEW_KEY_NODES 8u        /* node ids listed per key */
#define EAU2_CVIEW_PROBE_MS 1000       /* members and probes, how often */
#define EAU2_CVIEW_PROBE_TIMEOUT_MS 800
#define EAU2_CVIEW_DEAD_MS 2000        /* no answer that long: dead */
#define EAU2_CVIEW_DIR_MS 3000         /* the directory, how often */
#define EAU2_CVIEW_PROBE_BODY_MAX (64u << 10) /* bytes of a probe's answer */

struct eau2_cview_node {
	char id[EAU2_MEMBER_ID_MAX + 1];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	char http[EAU2_MEMBER_ADDR_MAX + 1]; /* "" when it serves no --http */
	bool self;
	bool in_zk;          /* its znode is there now */
	bool up;             /* not dead */
	bool suspect;        /* up, but its last probe went unanswered */
	char why[96];        /* dead: why ("its znode is gone", ...) */
	double since;        /* in this state since (epoch seconds) */
	double last_ok;      /* last answer to a probe (epoch s; 0 never) */
	uint32_t cores;      /* from the znode */
	uint64_t memory, free;
	double started;      /* epoch s */
	/* From its last answer (have_info), else unknown. */
	bool have_info;
	uint32_t cores_allowed;
	uint64_t mem_available, store_used, store_size, clients, rss;
	double load1, cpu_busy; /* cpu_busy < 0: unknown */
	uint64_t runs_running;
	/* What the directory places there. */
	uint64_t parts, part_bytes;
};

struct eau2_cview_key {
	char key[EAU2_KEY_MAX + 1];
	uint64_t rows, bytes;
	uint32_t parts, under;   /* partitions; of which under-replicated */
	uint32_t nnodes;         /* distinct nodes holding a replica */
	char nodes[EAU2_CVIEW_KEY_NODES][EAU2_MEMBER_ID_MAX + 1];
};

struct eau2_cview_state {
	bool started;            /* joined and looked at least once */
	char self[EAU2_MEMBER_ID_MAX + 1];
	char error[256];         /* the last ZooKeeper error, "" none */
	size_t n;
	struct eau2_cview_node node[EAU2_CVIEW_NODES_MAX];
	uint64_t keys;           /* in the directory */
	bool keys_truncated;     /* more than EAU2_CVIEW_DIR_READ_MAX: counts partial */
	size_t nkey;
	struct eau2_cview_key key[EAU2_CVIEW_KEYS_MAX];
	uint64_t partitions;     /* in the directory, all keys */
	uint64_t replicas_here;  /* partition replicas placed on this node */
	uint64_t under_replicated;
	uint64_t probes_ok, probes_failed;
};

/* A probe round: for each of n nodes (never self), fill its info
 * (have_info and the fields after it) and set ok[i] when it answered,
 * all within timeout_ms. */
typedef void (*eau2_cview_probe_fn)(void *ctx, struct eau2_cview_node *nodes, bool *ok,
				    size_t n, int timeout_ms);

struct eau2_cview;

/* An empty view (state.started false) until eau2_cview_start. */
int eau2_cview_new(struct eau2_cview **cv, struct eau2_error *err);
/* Starts the refresh thread on zk, this node being self_id. probe NULL:
 * the HTTP probe (probe.c) with token (NULL: none) as bearer. Again
 * after eau2_cview_stop, on a new session: the members seen are kept. */
int eau2_cview_start(struct eau2_cview *cv, eau2_zk *zk, const char *self_id,
		     eau2_cview_probe_fn probe, void *probe_ctx, const char *token,
		     struct eau2_error *err);
/* "alive", "suspect" or "dead". */
const char *eau2_cview_state_name(const struct eau2_cview_node *n);
/* Copies the view (about 600 KiB: allocate out once). */
void eau2_cview_get(struct eau2_cview *cv, struct eau2_cview_state *out);
/* Stops the thread (promptly); the view stays readable (eau2_cview_get).
 * NULL, or a view not started, is a no-op. */
void eau2_cview_stop(struct eau2_cview *cv);
/* Stops the thread and frees cv. NULL is a no-op. */
void eau2_cview_free(struct eau2_cview *cv);

/* The HTTP probe (probe.c): GET /api/node of each node's http address,
 * in parallel, bounded by timeout_ms in all; ctx is the bearer token
 * (a string) or NULL. */
void eau2_cview_http_probe(void *ctx, struct eau2_cview_node *nodes, bool *ok, size_t n,
			   int timeout_ms);
/* Parses an HTTP response to GET /api/node (status line, headers, JSON
 * body) into n's info: 0, or -EBADMSG with why in err. Outside input. */
int eau2_cview_parse_node(const char *buf, size_t len, struct eau2_cview_node *n,
			  struct eau2_error *err);

/* /api/node's totals (eau2 status prints them): the node's runs, its
 * traffic with remote peers, and its view of the cluster. */
struct eau2_node_totals {
	uint64_t runs_running, runs_finished, runs_failed;
	uint64_t sent_bytes, received_bytes, load_bytes;
	bool cluster;        /* the node is in one; then: */
	uint64_t nodes_alive, nodes_suspect, nodes_dead, partitions, under_replicated, keys;
};
/* Parses an answer to GET /api/node: the node (as eau2_cview_parse_node)
 * and its totals. 0, or -EBADMSG. Outside input. */
int eau2_http_parse_totals(const char *buf, size_t len, struct eau2_cview_node *n,
			   struct eau2_node_totals *t, struct eau2_error *err);

/* A GET of http://addr/path (the token, when not NULL, as bearer). After
 * eau2_http_get_many: ok when the whole answer (status line, headers,
 * body) came, in buf (len bytes and a NUL; malloc'd, the caller frees),
 * at most max bytes (more: not ok). */
#define EAU2_HTTP_GET_PATH_MAX 256
struct eau2_http_get {
	const char *addr, *path, *token;
	size_t max;
	bool ok;
	char *buf;
	size_t len;
};
/* Runs the n GETs at once, all within timeout_ms. */
void eau2_http_get_many(struct eau2_http_get *g, size_t n, int timeout_ms);
/* The body of an HTTP 200 answer in buf: 0 and *body (inside buf), or
 * -EBADMSG (another status, no end of headers). */
int eau2_http_body(const char *buf, size_t len, const char **body, struct eau2_error *err);

#endif
