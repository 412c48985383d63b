/* SPDX-License-Identifier: MIT */
/*
 * net.h - eau2's network transport (src/uring_net), the only way in.
 *
 * It moves bytes, frames and chunks between hosts over TCP on io_uring,
 * and knows nothing about keys, dataframes, the store or rowers. Above it
 * the node (a server: eau2_net_server_start) and its clients
 * (eau2_net_connect) define their own request types in the upper range.
 *
 * What travels
 *   Every message is a frame: a 64-byte little-endian header, then `len`
 *   payload bytes.
 *
 *     off size
 *      0   4  magic "EAUN" (0x4e554145)
 *      4   1  frame version (EAU2_NET_FRAME_VERSION)
 *      5   1  flags: the upper layer's; 0 on transport frames
 *      6   2  type: < 0x100 transport (enum eau2_net_type), >= 0x100 upper layer
 *      8   4  payload length: <= EAU2_NET_BLOCK_MAX for CHUNK_BLOCK,
 *             <= EAU2_NET_CONTROL_MAX for every other type
 *     12   4  reserved, 0
 *     16   8  request id (a reply echoes its request's)
 *     24   8  aux[0]  } the upper layer's; each transport type says
 *     32   8  aux[1]  } what it puts there
 *     40   8  XXH3-64 of the payload; 0 on a raw CHUNK_BLOCK (required:
 *             its bytes are the chunk's own, checked whole against the
 *             chunk's checksum before the chunk is given to anyone)
 *     48   8  reserved, 0
 *     56   8  XXH3-64 of bytes 0..55 (the header itself)
 *
 *   A connection opens with the handshake (HELLO, AUTH when a secret is
 *   set, READY, both ways), then carries the upper layer's requests and
 *   replies. A chunk (df.h: 128-byte header, then 64-byte aligned
 *   buffers) travels as a CHUNK_BEGIN frame carrying its header, then
 *   CHUNK_BLOCK frames carrying bytes [128, total_len) in order, each at
 *   most EAU2_NET_BLOCK_MAX raw bytes and never spanning two buffers,
 *   each raw, LZ4-compressed, or byte-shuffled then LZ4-compressed.
 *
 * Guarantees
 *   - Every length and limit from the peer is checked before anything is
 *     allocated or written for it; both checksums are checked before a
 *     frame is used (a raw block has only the header's: its bytes are
 *     the chunk's own, which the chunk's checksum covers, so one XXH3
 *     pass checks them); a chunk is checked (eau2_chunk_check and its
 *     XXH3 checksum) before eau2_net_recv_chunk returns success.
 *   - Every blocking call is bounded by a timeout (connect, handshake,
 *     each frame or block); a stalled peer costs a timeout and an error,
 *     never a hang. Errors name the peer ("peer 10.0.0.2:7400 (node b):
 *     timed out after 30000 ms receiving a frame header").
 *   - After any error on a connection its stream position is lost:
 *     close it (eau2_net_close), or let the handler return non-zero.
 *   - The secret never crosses the wire; the handshake proves both
 *     sides know it. Frames are NOT encrypted and their checksums are not
 *     MACs: this authenticates peers, it does not protect the stream
 *     from someone on the path (use a private network or a tunnel).
 *
 * Threads
 *   A connection is used by one thread at a time (any thread). The server
 *   runs one network thread (accept, handshakes, idle connections) and a
 *   bounded pool of workers; a handler runs on a worker and owns the
 *   connection until it returns. Logging callbacks are called from the
 *   network thread and from workers.
 *
 * Conventions: functions return 0 or a negative errno code and take an
 * optional struct eau2_error * (NULL allowed) for a one-line message.
 */
#ifndef EAU2_URING_NET_H
#define EAU2_URING_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "df/df.h"
#include "eau2.h"

/* ------------------------------------------------------------- limits */

#define EAU2_NET_MAGIC 0x4e554145u        /* "EAUN" */
#define EAU2_NET_FRAME_VERSION 1u         /* the header layout above */
#define EAU2_NET_PROTO_VERSION 2u         /* the handshake and transport types;
					   * 2: raw blocks carry no payload sum */
#define EAU2_NET_HDR_SIZE 64u
#define EAU2_NET_CONTROL_MAX (1u << 20)   /* payload of any frame but a block */
#define EAU2_NET_BLOCK_MAX (4u << 20)     /* raw (and wire) bytes of a block */
#define EAU2_NET_CHUNK_LIMIT (1ull << 30) /* default cap on a received chunk */
#define EAU2_NET_NAME_MAX 64u             /* cluster name, node id */
#define EAU2_NET_KEY_BYTES 32u            /* the derived cluster key */
#define EAU2_NET_SECRET_FILE_MAX 4096u    /* bytes of a secret file */
#define EAU2_NET_ERROR_MAX 400u           /* bytes of an ERROR frame's text */
/* Scratch each side of a chunk transfer needs, twice (eau2_net_tx/rx). */
#define EAU2_NET_SCRATCH_BYTES (EAU2_NET_BLOCK_MAX + EAU2_NET_BLOCK_MAX / 255 + 64)

/* Defaults of the timeouts (milliseconds) and server bounds. */
#define EAU2_NET_CONNECT_TIMEOUT_MS 5000
#define EAU2_NET_HANDSHAKE_TIMEOUT_MS 5000
#define EAU2_NET_IO_TIMEOUT_MS 30000
#define EAU2_NET_IDLE_TIMEOUT_MS 300000
#define EAU2_NET_MAX_CONNS 1024u
#define EAU2_NET_WORKERS 4u

/* Frame types. 0x0000-0x00ff are the transport's; the upper layer owns
 * 0x0100-0xffff and defines its own there. A server hands a handler only
 * frames of the upper range. */
enum eau2_net_type {
	EAU2_NET_HELLO = 1,       /* handshake: version, role, cluster, node id, nonce */
	EAU2_NET_AUTH = 2,        /* handshake: the keyed proof (32 bytes) */
	EAU2_NET_READY = 3,       /* handshake: "I accept you" (empty) */
	EAU2_NET_ERROR = 4,       /* aux[0] = errno code (positive), payload = text */
	EAU2_NET_PING = 5,        /* answered with PONG, same req and payload */
	EAU2_NET_PONG = 6,
	EAU2_NET_CHUNK_BEGIN = 7, /* aux[0] = the sender's tag, payload = chunk header */
	EAU2_NET_CHUNK_BLOCK = 8, /* aux[0] = offset in the chunk, aux[1] = raw length
				   * | codec << 32 | element size << 40 */
	EAU2_NET_TYPE_USER = 0x100,
};

/* How a block's bytes travel. */
enum eau2_net_codec {
	EAU2_NET_RAW = 0,
	EAU2_NET_LZ4 = 1,      /* LZ4 block format */
	EAU2_NET_SHUF_LZ4 = 2, /* bytes of each element grouped by position, then LZ4 */
	EAU2_NET_NCODECS = 3,
};

/* Which codec a sender uses. AUTO compresses only when it pays: when the
 * link's rate (TCP's delivery rate, measured while we kept the pipe full)
 * is below what compression sustains on this kind of buffer, and the
 * kind compressed well recently; otherwise it sends raw. LZ4 and
 * SHUFFLE force a codec (SHUFFLE on fixed-width buffers, LZ4 on the
 * rest); a block that does not shrink still goes raw. NONE never
 * compresses. */
enum eau2_net_policy {
	EAU2_NET_AUTO = 0,
	EAU2_NET_FORCE_LZ4 = 1,
	EAU2_NET_FORCE_SHUFFLE = 2,
	EAU2_NET_FORCE_NONE = 3,
};

/* Roles a peer announces in its HELLO (informational; part of the proof). */
enum eau2_net_role {
	EAU2_NET_ROLE_CLIENT = 1, /* a command line or program using libeau2 */
	EAU2_NET_ROLE_NODE = 2,   /* an eau2-node */
	EAU2_NET_ROLE_DRIVER = 3, /* a cluster driver */
};

/* ------------------------------------------------------------- frames */

struct eau2_net_frame {
	uint16_t type;
	uint8_t flags;
	uint32_t len;    /* payload bytes */
	uint64_t req;    /* request id */
	uint64_t aux[2];
	uint64_t sum;    /* XXH3-64 of the payload (decode fills it in) */
};

/* XXH3-64 of the payload given as iovecs (n >= 0). */
uint64_t eau2_net_payload_sum(const struct iovec *iov, int n);

/* Writes f's header to out, with f->sum as given and the header checksum
 * computed. No check: the sending functions check f first. */
void eau2_net_frame_encode(const struct eau2_net_frame *f,
			   uint8_t out[EAU2_NET_HDR_SIZE]);

/* Decodes and checks a header from n bytes at in: n >= 64, magic,
 * version, reserved zero, header checksum, the length within its type's
 * limit, transport types known with flags 0. Returns 0, -EBADMSG or
 * -EMSGSIZE (length over the limit) with a message. The payload is not
 * looked at: eau2_net_frame_check does that. */
int eau2_net_frame_decode(const uint8_t *in, size_t n, struct eau2_net_frame *f,
			  struct eau2_error *err);

/* Checks f->len payload bytes against f->sum: 0 or -EBADMSG. */
int eau2_net_frame_check(const struct eau2_net_frame *f, const void *payload,
			 struct eau2_error *err);

/* The name of a transport type ("HELLO", ...), or "user" / "unknown". */
const char *eau2_net_type_name(unsigned type);

/* ---------------------------------------------------- identity, secret */

/* Who this side is. cluster and node_id: 1..EAU2_NET_NAME_MAX bytes of
 * letters, digits and ._:@/- ; the strings must outlive the connection or
 * server using them. has_secret: both sides must have one, or neither
 * (the upper layer restricts a secret-less server to loopback:
 * eau2_net_host_is_loopback). proto_version: 0 for
 * EAU2_NET_PROTO_VERSION (tests set another to see the refusal). */
struct eau2_net_ident {
	const char *cluster;
	const char *node_id;
	uint8_t role;             /* enum eau2_net_role */
	bool has_secret;
	uint8_t secret[EAU2_NET_KEY_BYTES];
	uint16_t proto_version;
};

/* Checks an identity's names and role: 0 or -EINVAL naming the field. */
int eau2_net_ident_check(const struct eau2_net_ident *id, struct eau2_error *err);

/* Reads a secret file and derives the key: BLAKE2b-256 (libsodium's
 * crypto_generichash) of its contents without one trailing "\n" or
 * "\r\n". Refuses (-EPERM) a file that group or others may read or
 * write, saying "chmod 600"; -EINVAL for an empty file or one larger than
 * EAU2_NET_SECRET_FILE_MAX; -errno when it cannot be read. The file's
 * bytes are wiped from memory before returning. */
int eau2_net_secret_load(const char *path, uint8_t key[EAU2_NET_KEY_BYTES],
			 struct eau2_error *err);
/* The same derivation from bytes in memory (len > 0). */
void eau2_net_secret_derive(const void *secret, size_t len,
			    uint8_t key[EAU2_NET_KEY_BYTES]);

/* ------------------------------------------------------------ addresses */

/* Splits "HOST:PORT", "[V6]:PORT" or "V6LITERAL" (no port: -EINVAL) into
 * host (NUL-terminated, at most hostcap - 1 bytes) and port. Port 0 is
 * allowed (a listener then takes an ephemeral port). */
int eau2_net_split_hostport(const char *s, char *host, size_t hostcap,
			    uint16_t *port, struct eau2_error *err);
/* True when sa is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool eau2_net_addr_is_loopback(const struct sockaddr *sa);
/* Resolves host (a literal or a name) and says whether every address it
 * gives is loopback: 1, 0, or -errno with a message ("0.0.0.0" and "::"
 * are not loopback). For the node's rule "no secret, loopback only". */
int eau2_net_host_is_loopback(const char *host, struct eau2_error *err);
/* "1.2.3.4:5" or "[::1]:5" for sa, into buf (>= 64 bytes). */
void eau2_net_addr_str(const struct sockaddr *sa, char *buf, size_t cap);

/* ------------------------------------------------------------ statistics */

/* Per-connection counters, for benchmarks and /metrics. by_type is
 * indexed by the chunk's enum eau2_type (0: unused) and codec; raw is
 * the chunk bytes a codec carried, wire the bytes that went out or came
 * in for them (block payloads; headers are in frame_bytes). */
struct eau2_net_stats {
	uint64_t frames_sent, frames_recv;
	uint64_t bytes_sent, bytes_recv;   /* everything, headers included */
	uint64_t chunks_sent, chunks_recv;
	struct { uint64_t raw, wire, blocks; } sent[5][EAU2_NET_NCODECS],
						recv[5][EAU2_NET_NCODECS];
	uint64_t compress_ns, decompress_ns; /* thread CPU time in the codecs */
	uint64_t checksum_ns;                /* thread CPU time in XXH3 */
	uint64_t zc_sends, zc_copied; /* zero-copy sends; those the kernel copied */
};

/* ------------------------------------------ chunk codec (pure, no I/O) */

/* The sender's and receiver's state of one chunk transfer. Plain structs
 * so that a connection embeds them; their fields are private to
 * uring_net. scratch: two caller buffers of EAU2_NET_SCRATCH_BYTES each,
 * used only during a call (a server worker shares its own among the
 * connections it serves). */
struct eau2_net_link {
	double rate;      /* TCP's delivery rate, bytes/s (0: unknown) */
	bool app_limited; /* the sender did not fill the pipe (we are slow) */
	bool backlog;     /* the socket's send queue is more than half full */
};

struct eau2_net_class {     /* what a kind of buffer did lately (AUTO) */
	float ratio[EAU2_NET_NCODECS]; /* wire / raw, 0: never tried */
	float speed[EAU2_NET_NCODECS]; /* raw bytes per second of CPU */
	uint32_t skip;                 /* blocks to send raw before retrying */
};

struct eau2_net_tx {
	/* private */
	const uint8_t *chunk;
	uint64_t total, pos, req, tag;
	int type, stage;
	uint8_t *scratch[2];
	enum eau2_net_policy policy;
	double link_rate; /* the last rate TCP measured while not app-limited */
	struct eau2_net_class cls[5][3]; /* type x (validity, values, data) */
	struct eau2_net_stats *st;
};

struct eau2_net_rx {
	/* private */
	struct eau2_chunk_hdr hdr;
	uint8_t *dst;
	uint64_t pos, tag;
	int codec, elem;
	uint32_t raw;
	uint8_t *scratch[2];
	struct eau2_net_stats *st;
};

/* Prepares tx for a connection: st (not NULL) receives its counters. */
void eau2_net_tx_init(struct eau2_net_tx *tx, enum eau2_net_policy policy,
		      struct eau2_net_stats *st);
/* Starts sending the chunk at chunk (its header's total_len bytes, 8-byte
 * aligned; checked with eau2_chunk_hdr_check, -EBADMSG otherwise).
 * Nothing is copied: raw blocks point into it, so it must stay mapped
 * and unchanged until the last frame is sent. */
int eau2_net_tx_begin(struct eau2_net_tx *tx, const void *chunk, uint64_t req,
		      uint64_t tag, uint8_t *scratch0, uint8_t *scratch1,
		      struct eau2_error *err);
/* The next frame of the chunk: its header into hdr, its payload as
 * iovecs (at most 2) into iov; returns 1, or 0 once every frame was
 * given. link: the socket's state for AUTO (NULL: raw under AUTO). The
 * payload lies in the chunk or in scratch, valid until the next call. */
int eau2_net_tx_next(struct eau2_net_tx *tx, const struct eau2_net_link *link,
		     uint8_t hdr[EAU2_NET_HDR_SIZE], struct iovec iov[2], int *niov);

void eau2_net_rx_init(struct eau2_net_rx *rx, struct eau2_net_stats *st);
/* Checks a CHUNK_BEGIN frame (decoded, its payload checked) and the
 * header it carries, against limit (0: EAU2_NET_CHUNK_LIMIT); copies
 * the header to *hdr. Then the caller gives eau2_net_rx_dst the place of
 * hdr->total_len bytes. */
int eau2_net_rx_begin(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
		      const void *payload, uint64_t limit,
		      struct eau2_chunk_hdr *hdr, struct eau2_error *err);
/* dst: hdr->total_len writable bytes, 64-byte aligned; the header is
 * written there at once, the rest block by block. Returns 0 when blocks
 * follow, 1 when the chunk is the header alone (a bool or int chunk of
 * 0 rows) and checked, or -EBADMSG. */
int eau2_net_rx_dst(struct eau2_net_rx *rx, void *dst, uint8_t *scratch0,
		    uint8_t *scratch1, struct eau2_error *err);
/* Checks a decoded CHUNK_BLOCK header against the chunk (its offset is
 * where the last block ended, its raw length fits, its codec and wire
 * length are consistent, a raw block's sum is 0) and says where its f->len payload bytes must be
 * put: straight into the chunk (raw) or into scratch. 0 or -EBADMSG. */
int eau2_net_rx_block(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
		      void **into, struct eau2_error *err);
/* Once the payload is at *into: checks a compressed block's checksum
 * (a raw one's bytes are checked with the chunk's), decodes it in place
 * (LZ4_decompress_safe must give exactly the raw length), and after the
 * last block checks the whole chunk (eau2_chunk_check, eau2_chunk_verify).
 * Returns 1 when the chunk is complete and verified, 0 when more blocks
 * follow, -EBADMSG. */
int eau2_net_rx_block_done(struct eau2_net_rx *rx, const struct eau2_net_frame *f,
			   struct eau2_error *err);

/* ------------------------------------------- handshake (pure, no I/O) */

#define EAU2_NET_HELLO_MAX (40u + 2 * EAU2_NET_NAME_MAX)
#define EAU2_NET_HS_OUT_MAX (EAU2_NET_HDR_SIZE + EAU2_NET_ERROR_MAX)

/* One side of the handshake. Both sides send HELLO at once; on the
 * peer's HELLO each checks the protocol version, the cluster name and that
 * both or neither have a secret, then (with a secret) sends AUTH =
 * BLAKE2b-256 keyed with the secret over a label, its own HELLO and the
 * peer's (each with a fresh 32-byte nonce), and checks the peer's AUTH
 * in constant time; then each sends READY and waits for the peer's. A
 * side that refuses sends ERROR with its reason before closing. */
struct eau2_net_hs {
	/* what to send next: out_len bytes (0: nothing) */
	uint8_t out[EAU2_NET_HS_OUT_MAX];
	size_t out_len;
	/* the peer, once its HELLO was read */
	char peer_cluster[EAU2_NET_NAME_MAX + 1];
	char peer_node[EAU2_NET_NAME_MAX + 1];
	uint8_t peer_role;
	uint16_t peer_version;
	/* private */
	const struct eau2_net_ident *self;
	int state;
	uint8_t hello[EAU2_NET_HELLO_MAX], peer_hello[EAU2_NET_HELLO_MAX];
	size_t hello_len, peer_hello_len;
};

/* Starts: out holds our HELLO. nonce: 32 random bytes (NULL: drawn from
 * libsodium's randombytes). self must have passed eau2_net_ident_check
 * and outlive hs. */
void eau2_net_hs_init(struct eau2_net_hs *hs, const struct eau2_net_ident *self,
		      const uint8_t *nonce);
/* Feeds the peer's next frame (decoded, payload checked). Returns 0:
 * send out (when out_len > 0) and feed the next frame; 1: done, the peer
 * is authenticated and our READY already went out (out_len is 0); < 0: refused,
 * err says why (the peer's own message for an ERROR frame, prefixed
 * "refused by the peer: ") and out holds the ERROR frame to send, if
 * any, before closing. */
int eau2_net_hs_step(struct eau2_net_hs *hs, const struct eau2_net_frame *f,
		     const void *payload, struct eau2_error *err);

/* ----------------------------------------------------------- connections */

typedef struct eau2_net_conn eau2_net_conn;

/* A connection's settings (both sides). Zero means the default. */
struct eau2_net_opts {
	struct eau2_net_ident ident;
	int connect_timeout_ms;   /* EAU2_NET_CONNECT_TIMEOUT_MS */
	int handshake_timeout_ms; /* EAU2_NET_HANDSHAKE_TIMEOUT_MS, all of it */
	int io_timeout_ms;        /* EAU2_NET_IO_TIMEOUT_MS, each frame or block */
	enum eau2_net_policy policy;
	bool send_zc;             /* IORING_OP_SEND_ZC for raw blocks (see bench) */
};

/* Connects to "HOST:PORT" ("[::1]:7400", "10.0.0.2:7400", "node-b:7400";
 * names resolve through getaddrinfo, whose own resolver timeouts bound
 * it), trying each address within connect_timeout_ms, then runs the
 * handshake within handshake_timeout_ms. On success *out is a connection
 * with its own small io_uring; on failure *out is NULL and err names the
 * peer and the step ("peer 127.0.0.1:7400 (node b): cluster 'x' != ours
 * 'y'", "...: refused by the peer: busy (1024 connections)"). o's ident
 * strings must outlive the connection. */
int eau2_net_connect(eau2_net_conn **out, const char *hostport,
		     const struct eau2_net_opts *o, struct eau2_error *err);
/* Closes and frees (NULL allowed). Never inside a server handler: the
 * handler returns instead. */
void eau2_net_close(eau2_net_conn *c);

/* "127.0.0.1:7400 (node b)", for messages; the peer's node id and role. */
const char *eau2_net_peer(const eau2_net_conn *c);
const char *eau2_net_peer_node(const eau2_net_conn *c);
enum eau2_net_role eau2_net_peer_role(const eau2_net_conn *c);

/* Sends a frame: f->type, flags, req and aux as given, f->len payload
 * bytes from payload (NULL when 0) or from iovecs; len and sum are
 * computed for sendv. Only upper-range types, ERROR and PING may be sent
 * this way (-EINVAL otherwise). Bounded by io_timeout_ms. */
int eau2_net_send(eau2_net_conn *c, const struct eau2_net_frame *f,
		  const void *payload, struct eau2_error *err);
int eau2_net_sendv(eau2_net_conn *c, const struct eau2_net_frame *f,
		   const struct iovec *iov, int n, struct eau2_error *err);
/* Sends an ERROR frame for request req: code (negative errno) and text
 * (cut to EAU2_NET_ERROR_MAX bytes). The peer's receive then returns
 * code with "peer ...: TEXT". */
int eau2_net_send_error(eau2_net_conn *c, uint64_t req, int code,
			const char *text, struct eau2_error *err);

/* Receives the next frame's header, answering PINGs and skipping PONGs
 * on the way. An ERROR frame is returned as its code (negative) with its
 * text in err. Then the caller reads its payload with
 * eau2_net_recv_payload (or the chunk with eau2_net_recv_chunk). */
int eau2_net_recv_hdr(eau2_net_conn *c, struct eau2_net_frame *f,
		      struct eau2_error *err);
/* Reads f->len payload bytes into buf and checks their checksum. */
int eau2_net_recv_payload(eau2_net_conn *c, const struct eau2_net_frame *f,
			  void *buf, struct eau2_error *err);
/* Both: a frame whose payload is over cap is -EMSGSIZE. */
int eau2_net_recv(eau2_net_conn *c, struct eau2_net_frame *f, void *buf,
		  size_t cap, struct eau2_error *err);

/* Sends a whole chunk (its header's total_len bytes at chunk, e.g. a
 * pointer into a mapped segment; raw blocks are sent from there without
 * a copy) as request req with the caller's tag, compressing as the
 * connection's policy says. */
int eau2_net_send_chunk(eau2_net_conn *c, const void *chunk, uint64_t req,
			uint64_t tag, struct eau2_error *err);

/* Where a received chunk goes: called once its header is checked, with
 * the header and the sender's tag; returns hdr->total_len writable bytes,
 * 64-byte aligned (in a segment, or a buffer of the caller), or NULL with
 * err set to refuse the chunk. */
typedef void *(*eau2_net_dst_fn)(void *ctx, const struct eau2_chunk_hdr *hdr,
				 uint64_t tag, struct eau2_error *err);
/* Receives one chunk. begin: a CHUNK_BEGIN header the caller already got
 * from eau2_net_recv_hdr, or NULL to read it here (another type is then
 * -EPROTO). limit: the largest total_len accepted (0:
 * EAU2_NET_CHUNK_LIMIT). Blocks are decoded straight into the
 * destination; on success the chunk there is complete and verified. On
 * failure the destination holds garbage. *tag (NULL allowed) receives
 * the sender's tag. */
int eau2_net_recv_chunk(eau2_net_conn *c, const struct eau2_net_frame *begin,
			uint64_t limit, eau2_net_dst_fn dst, void *ctx,
			uint64_t *tag, struct eau2_error *err);

/* Round trip of a PING: 0 and *rtt_us, bounded by io_timeout_ms. */
int eau2_net_ping(eau2_net_conn *c, uint64_t *rtt_us, struct eau2_error *err);

/* The connection's socket: another thread may shutdown(fd, SHUT_RDWR)
 * it to make a blocked call fail at once (a user's cancel); the
 * connection still owns and closes it. */
int eau2_net_fd(const eau2_net_conn *c);
/* Whether an earlier error left the connection unusable (0: usable; a
 * refusal the peer sent as an ERROR frame leaves it usable). */
int eau2_net_broken(const eau2_net_conn *c);

void eau2_net_set_policy(eau2_net_conn *c, enum eau2_net_policy policy);
void eau2_net_set_send_zc(eau2_net_conn *c, bool on);
/* A copy of the connection's counters. */
void eau2_net_stats(const eau2_net_conn *c, struct eau2_net_stats *out);
/* The connection's counters at the previous call (zeros at the first)
 * in *before, and now in *after: a server's handler reports each
 * request's traffic with it, the bytes its network thread read and
 * wrote outside the handler (the handshake, requests read ahead)
 * included; what follows the call (a refusal) counts with the next. */
void eau2_net_stats_mark(eau2_net_conn *c, struct eau2_net_stats *before,
			 struct eau2_net_stats *after);

/* ---------------------------------------------------------------- server */

typedef struct eau2_net_server eau2_net_server;

/* A request: the first frame of an exchange, of an upper-range type, its
 * payload (f->len bytes, checked) valid during the call. The handler
 * answers with sends and receives on c (the same blocking calls as a
 * client's, each bounded by io_timeout_ms) for as long as the exchange
 * lasts, then returns 0 to keep the connection (it goes back to the
 * network thread to wait for the next request) or non-zero to close it
 * (an error left it mid-stream, or the peer should go). Runs on a worker
 * thread; never call eau2_net_close or eau2_net_server_stop from it. */
typedef int (*eau2_net_handler)(void *ctx, eau2_net_conn *c,
				const struct eau2_net_frame *f, const void *payload);

enum eau2_net_log_level { EAU2_NET_LOG_INFO = 0, EAU2_NET_LOG_WARN = 1 };
/* One line without a newline, e.g. "peer 127.0.0.1:40312 (node a,
 * client): authenticated". Called from several threads. */
typedef void (*eau2_net_log_fn)(void *ctx, enum eau2_net_log_level level,
				const char *line);

struct eau2_net_server_opts {
	const char *listen;           /* "HOST:PORT"; port 0: ephemeral */
	struct eau2_net_opts conn;    /* identity, timeouts, policy */
	eau2_net_handler on_request;
	void *ctx;
	eau2_net_log_fn log;          /* NULL: no log */
	void *log_ctx;
	unsigned max_conns;     /* EAU2_NET_MAX_CONNS: beyond, "busy" and closed */
	unsigned workers;       /* EAU2_NET_WORKERS: requests served at once */
	int idle_timeout_ms;    /* EAU2_NET_IDLE_TIMEOUT_MS between requests */
};

/* Binds, listens and starts the network thread and the workers. Memory:
 * about 1 KiB per idle connection, 3 KiB during its handshake, 256 KiB of
 * receive buffers shared by the idle ones, and per worker 2 x
 * EAU2_NET_SCRATCH_BYTES plus a request buffer of EAU2_NET_CONTROL_MAX
 * (taken when first used). File descriptors: one per connection up to
 * max_conns, plus a few. -errno with a message (address in use, ...). */
int eau2_net_server_start(eau2_net_server **out,
			  const struct eau2_net_server_opts *o,
			  struct eau2_error *err);
/* The port it listens on (the ephemeral one when asked for port 0). */
uint16_t eau2_net_server_port(const eau2_net_server *s);

struct eau2_net_server_stats {
	uint64_t accepted, refused_busy, handshake_failed, requests;
	uint32_t conns, idle, busy; /* now */
};
void eau2_net_server_stats(eau2_net_server *s, struct eau2_net_server_stats *out);

/* Stops accepting, shuts every connection down (a handler blocked in a
 * send or receive gets an error at once), waits for the handlers to
 * return, joins the threads and frees s. From any thread but a handler's.
 * NULL allowed. */
void eau2_net_server_stop(eau2_net_server *s);

#endif
