/* SPDX-License-Identifier: MIT */
/*
 * net_impl.h - what the files of src/uring_net share and nothing else
 * includes: little-endian accessors, what liburing 2.3 (Debian 12) lacks,
 * the I/O context (a ring and its scratch) and the connection struct.
 *
 * Access rules: a connection belongs to one thread at a time. A client's
 * uses its own net_io. A server connection belongs to the network thread
 * while it shakes hands or waits idle, and to one worker while a handler
 * runs; the hand-over goes through the server's mutex-protected queues,
 * which order every access to its fields. conn->io points to the ring of
 * whoever holds it.
 */
#ifndef EAU2_URING_NET_IMPL_H
#define EAU2_URING_NET_IMPL_H

#include <liburing.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "uring_net/net.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the wire is little endian and so are the chunk headers sent raw");

static inline uint16_t net_get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t net_get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t net_get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void net_put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void net_put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void net_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* liburing 2.3's headers predate these (kernel 6.2 and later). */
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

static inline uint64_t net_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t net_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A ring for blocking calls with timeouts, and the scratch of the chunk
 * codec, taken on first use. Owned by one thread at a time. */
struct net_io {
	struct io_uring ring;
	uint64_t seq;         /* user_data of the next operation */
	uint8_t *scratch[2];  /* EAU2_NET_SCRATCH_BYTES each, or NULL */
	int zc_pending;       /* zero-copy notifications still due */
	uint64_t zc_copied;   /* notifications saying the kernel copied */
	int up;
};

/* single_issuer: SINGLE_ISSUER | DEFER_TASKRUN where the kernel has
 * them (the ring is then used only by the calling thread). */
int eau2_net_io_init(struct net_io *io, unsigned entries, int single_issuer,
		struct eau2_error *err);
void eau2_net_io_free(struct net_io *io);
int eau2_net_io_scratch(struct net_io *io, struct eau2_error *err);

struct eau2_net_conn {
	int fd;
	struct net_io *io;     /* own, or the server worker's */
	struct net_io own;
	struct eau2_net_opts o;
	char addr[64];         /* "1.2.3.4:5" */
	char peer_node[EAU2_NET_NAME_MAX + 1];
	char peer[EAU2_NET_NAME_MAX + 96]; /* "1.2.3.4:5 (node b)" */
	uint8_t peer_role;
	int broken;            /* the code of the error that broke it, or 0 */
	/* Bytes read ahead of the caller (by the server's network thread),
	 * consumed before the socket: in[in_pos, in_len). */
	uint8_t *in;
	uint32_t in_pos, in_len, in_cap;
	struct eau2_net_tx tx;
	struct eau2_net_rx rx;
	struct eau2_net_stats st;
	struct eau2_net_stats marked; /* st at the last eau2_net_stats_mark */
};

/* Fills a new connection's fields (fd taken over), defaults applied. */
void eau2_net_conn_setup(struct eau2_net_conn *c, int fd, const struct sockaddr *sa,
		    const struct eau2_net_opts *o);
/* Records the authenticated peer's node id and role (c->peer string). */
void eau2_net_conn_set_peer(struct eau2_net_conn *c, const struct eau2_net_hs *hs);
/* Reads the frame header and payload of a request whose header is at
 * the start of c->in (the server's hand-over), into buf (cap bytes). */
int eau2_net_recv_exact(struct eau2_net_conn *c, void *buf, size_t n, int timeout_ms,
		   const char *what, struct eau2_error *err);
/* Applies the option defaults. */
void eau2_net_opts_defaults(struct eau2_net_opts *o);

#endif
