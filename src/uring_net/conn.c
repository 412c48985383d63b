/* SPDX-License-Identifier: MIT */
/*
 * conn.c - a connection's blocking calls on io_uring: connect, the
 * handshake, frames and chunks, each bounded by a timeout. Clients call
 * them on a connection with its own small ring; a server's handler calls
 * the same functions on its worker's ring (server.c).
 *
 * One operation is in flight on a ring at a time: it is submitted, then
 * waited for with io_uring_submit_and_wait_timeout until its deadline;
 * past the deadline it is cancelled and reaped before the call returns,
 * so no operation outlives the buffer it writes to. A zero-copy send's
 * notifications are reaped before eau2_net_send_chunk returns.
 *
 * Access rules: see net_impl.h (one thread at a time per connection).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "uring_net/net_impl.h"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif

/* Sends that are not worth a zero-copy notification round. */
#define ZC_MIN (64u << 10)
/* Bytes between two looks at the socket's state (AUTO policy). */
#define LINK_SAMPLE (256u << 10)

/* ------------------------------------------------------------- the ring */

int eau2_net_io_init(struct net_io *io, unsigned entries, int single_issuer,
		struct eau2_error *err)
{
	struct io_uring_params p = {0};
	int rc;

	memset(io, 0, sizeof(*io));
	if (single_issuer)
		p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	rc = io_uring_queue_init_params(entries, &io->ring, &p);
	if (rc == -EINVAL && single_issuer) { /* kernels before 6.1 */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &io->ring, &p);
	}
	if (rc)
		return eau2_error_set(err, rc, "io_uring setup: %s%s", strerror(-rc),
				      rc == -EPERM || rc == -ENOSYS ?
				      " (io_uring disabled on this system?)" : "");
	io->up = 1;
	return 0;
}

void eau2_net_io_free(struct net_io *io)
{
	if (io->up)
		io_uring_queue_exit(&io->ring);
	free(io->scratch[0]);
	free(io->scratch[1]);
	memset(io, 0, sizeof(*io));
}

int eau2_net_io_scratch(struct net_io *io, struct eau2_error *err)
{
	for (int i = 0; i < 2; i++) {
		if (io->scratch[i])
			continue;
		io->scratch[i] = aligned_alloc(64, EAU2_NET_SCRATCH_BYTES);
		if (!io->scratch[i])
			return eau2_error_set(err, -ENOMEM, "out of memory for the chunk codec");
	}
	return 0;
}

/* Waits for the completion of operation ud (0: only for every zero-copy
 * notification still due) until deadline (ns), reaping anything else on
 * the way (a cancellation's own completion, notifications, which
 * io->zc_pending counts). Past the deadline it cancels ud and waits for
 * it; shutting the socket down is the last resort, so the operation never
 * outlives this call. Returns its result, or -ETIMEDOUT. */
static int io_wait(struct net_io *io, int fd, uint64_t ud, uint64_t deadline)
{
	int cancelled = 0;

	for (;;) {
		struct io_uring_cqe *cqe = NULL;
		struct __kernel_timespec ts;
		uint64_t now = net_now_ns();
		int rc;

		if (ud == 0 && io->zc_pending <= 0)
			return 0;
		if (now >= deadline) {
			struct io_uring_sqe *sqe;

			if (ud == 0)
				return -ETIMEDOUT;
			if (cancelled == 0 && (sqe = io_uring_get_sqe(&io->ring))) {
				io_uring_prep_cancel64(sqe, ud, 0);
				io_uring_sqe_set_data64(sqe, 0);
			} else if (cancelled <= 1) {
				shutdown(fd, SHUT_RDWR);
			} else {
				abort(); /* the kernel kept a socket operation past a shutdown */
			}
			cancelled++;
			deadline = now + 2000000000ull;
		}
		ts.tv_sec = (long long)((deadline - now) / 1000000000u);
		ts.tv_nsec = (long long)((deadline - now) % 1000000000u);
		rc = io_uring_submit_and_wait_timeout(&io->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
		if (!cqe)
			continue;
		if (cqe->flags & IORING_CQE_F_NOTIF) {
			if ((uint32_t)cqe->res & IORING_NOTIF_USAGE_ZC_COPIED)
				io->zc_copied++;
			io->zc_pending--;
			io_uring_cqe_seen(&io->ring, cqe);
			continue;
		}
		if (ud == 0 || cqe->user_data != ud) {
			io_uring_cqe_seen(&io->ring, cqe);
			continue;
		}
		rc = cqe->res;
		if (cqe->flags & IORING_CQE_F_MORE)
			io->zc_pending++;
		io_uring_cqe_seen(&io->ring, cqe);
		return cancelled && rc == -ECANCELED ? -ETIMEDOUT : rc;
	}
}

/* An SQE for a new operation; *ud receives its user_data (never 0). */
static struct io_uring_sqe *io_sqe(struct net_io *io, uint64_t *ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);

	if (!sqe) { /* full of nothing we wait for: flush it */
		io_uring_submit(&io->ring);
		sqe = io_uring_get_sqe(&io->ring);
	}
	*ud = ++io->seq ? io->seq : ++io->seq;
	if (sqe)
		io_uring_sqe_set_data64(sqe, *ud);
	return sqe;
}

/* ------------------------------------------------------------ messages */

void eau2_net_opts_defaults(struct eau2_net_opts *o)
{
	if (o->connect_timeout_ms <= 0)
		o->connect_timeout_ms = EAU2_NET_CONNECT_TIMEOUT_MS;
	if (o->handshake_timeout_ms <= 0)
		o->handshake_timeout_ms = EAU2_NET_HANDSHAKE_TIMEOUT_MS;
	if (o->io_timeout_ms <= 0)
		o->io_timeout_ms = EAU2_NET_IO_TIMEOUT_MS;
}

void eau2_net_conn_setup(struct eau2_net_conn *c, int fd, const struct sockaddr *sa,
		    const struct eau2_net_opts *o)
{
	c->fd = fd;
	c->o = *o;
	memset(&c->marked, 0, sizeof(c->marked));
	eau2_net_opts_defaults(&c->o);
	eau2_net_addr_str(sa, c->addr, sizeof(c->addr));
	snprintf(c->peer, sizeof(c->peer), "%s", c->addr);
	eau2_net_tx_init(&c->tx, c->o.policy, &c->st);
	eau2_net_rx_init(&c->rx, &c->st);
}

void eau2_net_conn_set_peer(struct eau2_net_conn *c, const struct eau2_net_hs *hs)
{
	if (!hs->peer_node[0])
		return;
	snprintf(c->peer_node, sizeof(c->peer_node), "%s", hs->peer_node);
	c->peer_role = hs->peer_role;
	snprintf(c->peer, sizeof(c->peer), "%s (node %s)", c->addr, c->peer_node);
}

const char *eau2_net_peer(const eau2_net_conn *c) { return c->peer; }
const char *eau2_net_peer_node(const eau2_net_conn *c) { return c->peer_node; }
enum eau2_net_role eau2_net_peer_role(const eau2_net_conn *c)
{
	return (enum eau2_net_role)c->peer_role;
}

/* err = "peer P: " + err's message, and the connection is broken. */
static int broke(struct eau2_net_conn *c, int code, struct eau2_error *err)
{
	c->broken = code;
	return eau2_error_prefix(err, code, "peer %s", c->peer);
}

/* err = "peer P: " + the formatted text; the connection is broken. */
__attribute__((format(printf, 4, 5)))
static int fail(struct eau2_net_conn *c, int code, struct eau2_error *err,
		const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	c->broken = code;
	return eau2_error_set(err, code, "peer %s: %s", c->peer, text);
}

static int check_usable(struct eau2_net_conn *c, struct eau2_error *err)
{
	if (!c->broken)
		return 0;
	return eau2_error_set(err, -EPIPE, "peer %s: connection unusable after an earlier error",
			      c->peer);
}

static int io_failed(struct eau2_net_conn *c, int rc, int timeout_ms, const char *doing,
		     struct eau2_error *err)
{
	if (rc == -ETIMEDOUT)
		return fail(c, rc, err, "timed out after %d ms %s", timeout_ms, doing);
	return fail(c, rc, err, "%s %s", strerror(-rc), doing);
}

/* ------------------------------------------------------- bytes in, out */

/* Reads exactly n bytes: first those read ahead (c->in), then from the
 * socket, until deadline. what: "a frame header", for the message. */
static int recv_until(struct eau2_net_conn *c, void *buf, size_t n, uint64_t deadline,
		      int timeout_ms, const char *what, struct eau2_error *err)
{
	uint8_t *p = buf;
	size_t got = 0;

	if (n == 0) /* buf may be NULL */
		return 0;
	if (c->in_len > c->in_pos) {
		size_t k = c->in_len - c->in_pos < n ? c->in_len - c->in_pos : n;

		memcpy(p, c->in + c->in_pos, k);
		c->in_pos += (uint32_t)k;
		got = k;
		if (c->in_pos == c->in_len)
			c->in_pos = c->in_len = 0;
	}
	while (got < n) {
		uint64_t ud;
		struct io_uring_sqe *sqe = io_sqe(c->io, &ud);
		size_t want = n - got < (1u << 30) ? n - got : (1u << 30);
		char doing[96];
		int rc;

		if (!sqe)
			return fail(c, -EBUSY, err, "io_uring submission queue full");
		io_uring_prep_recv(sqe, c->fd, p + got, want, MSG_WAITALL);
		rc = io_wait(c->io, c->fd, ud, deadline);
		if (rc > 0) {
			got += (size_t)rc;
			c->st.bytes_recv += (uint64_t)rc;
			continue;
		}
		if (rc == 0)
			return fail(c, -ECONNRESET, err,
				    "connection closed by the peer after %zu of %zu bytes of %s",
				    got, n, what);
		snprintf(doing, sizeof(doing), "receiving %s (%zu of %zu bytes)", what, got, n);
		return io_failed(c, rc, timeout_ms, doing, err);
	}
	return 0;
}

int eau2_net_recv_exact(struct eau2_net_conn *c, void *buf, size_t n, int timeout_ms,
		   const char *what, struct eau2_error *err)
{
	return recv_until(c, buf, n, net_now_ns() + (uint64_t)timeout_ms * 1000000u,
			  timeout_ms, what, err);
}

/* Sends every byte of iov[0..n) (n <= 8) until deadline. zc: as
 * zero-copy sends (one iovec), whose notifications are reaped later. */
static int send_until(struct eau2_net_conn *c, const struct iovec *iov, int n,
		      uint64_t deadline, const char *what, int zc, struct eau2_error *err)
{
	struct iovec v[8];
	struct msghdr msg = { .msg_iov = v, .msg_iovlen = (size_t)n };
	size_t left = 0;

	memcpy(v, iov, sizeof(*v) * (size_t)n);
	for (int i = 0; i < n; i++)
		left += v[i].iov_len;
	while (left) {
		uint64_t ud;
		struct io_uring_sqe *sqe = io_sqe(c->io, &ud);
		size_t sent;
		int rc;

		if (!sqe)
			return fail(c, -EBUSY, err, "io_uring submission queue full");
		if (zc && msg.msg_iovlen == 1)
			io_uring_prep_send_zc(sqe, c->fd, v[0].iov_base, v[0].iov_len,
					      MSG_NOSIGNAL | MSG_WAITALL,
					      IORING_SEND_ZC_REPORT_USAGE);
		else
			io_uring_prep_sendmsg(sqe, c->fd, &msg, MSG_NOSIGNAL | MSG_WAITALL);
		if (zc && msg.msg_iovlen == 1)
			c->st.zc_sends++;
		rc = io_wait(c->io, c->fd, ud, deadline);
		if (rc <= 0) {
			char doing[96];

			if (rc == 0)
				rc = -EPIPE;
			snprintf(doing, sizeof(doing), "sending %s (%zu bytes left)", what, left);
			return io_failed(c, rc, c->o.io_timeout_ms, doing, err);
		}
		sent = (size_t)rc;
		c->st.bytes_sent += sent;
		left -= sent;
		while (sent && msg.msg_iovlen) {
			if (sent >= msg.msg_iov->iov_len) {
				sent -= msg.msg_iov->iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + sent;
				msg.msg_iov->iov_len -= sent;
				sent = 0;
			}
		}
		if (msg.msg_iovlen)
			memmove(v, msg.msg_iov, sizeof(*v) * msg.msg_iovlen);
		msg.msg_iov = v;
	}
	return 0;
}

static uint64_t deadline_in(int ms)
{
	return net_now_ns() + (uint64_t)ms * 1000000u;
}

/* ------------------------------------------------------------- frames */

static int send_frame(struct eau2_net_conn *c, const struct eau2_net_frame *f,
		      const struct iovec *iov, int n, struct eau2_error *err)
{
	uint8_t hdr[EAU2_NET_HDR_SIZE];
	struct iovec v[8];

	if (n > 7)
		return eau2_error_set(err, -EINVAL, "at most 7 iovecs in a frame");
	eau2_net_frame_encode(f, hdr);
	v[0] = (struct iovec){ hdr, sizeof(hdr) };
	memcpy(v + 1, iov, sizeof(*v) * (size_t)n);
	c->st.frames_sent++;
	return send_until(c, v, n + 1, deadline_in(c->o.io_timeout_ms),
			  eau2_net_type_name(f->type), 0, err);
}

int eau2_net_sendv(eau2_net_conn *c, const struct eau2_net_frame *f,
		   const struct iovec *iov, int n, struct eau2_error *err)
{
	struct eau2_net_frame g = *f;
	uint64_t len = 0;

	if (check_usable(c, err))
		return -EPIPE;
	if (g.type < EAU2_NET_TYPE_USER && g.type != EAU2_NET_ERROR && g.type != EAU2_NET_PING)
		return eau2_error_set(err, -EINVAL, "frame type %u is the transport's own", g.type);
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len > EAU2_NET_CONTROL_MAX)
		return eau2_error_set(err, -EMSGSIZE, "frame of %llu bytes, over the %u allowed",
				      (unsigned long long)len, EAU2_NET_CONTROL_MAX);
	if (g.type < EAU2_NET_TYPE_USER)
		g.flags = 0;
	g.len = (uint32_t)len;
	g.sum = eau2_net_payload_sum(iov, n);
	return send_frame(c, &g, iov, n, err);
}

int eau2_net_send(eau2_net_conn *c, const struct eau2_net_frame *f,
		  const void *payload, struct eau2_error *err)
{
	struct iovec v = { (void *)(uintptr_t)payload, f->len };

	return eau2_net_sendv(c, f, &v, f->len ? 1 : 0, err);
}

int eau2_net_send_error(eau2_net_conn *c, uint64_t req, int code, const char *text,
			struct eau2_error *err)
{
	struct eau2_net_frame f = { .type = EAU2_NET_ERROR, .req = req,
				    .aux = { (uint64_t)(code < 0 ? -code : code), 0 } };
	size_t n = strlen(text);

	f.len = (uint32_t)(n < EAU2_NET_ERROR_MAX ? n : EAU2_NET_ERROR_MAX);
	return eau2_net_send(c, &f, text, err);
}

/* An ERROR frame's payload (already known to be at most ERROR_MAX). */
static int peer_error(struct eau2_net_conn *c, const struct eau2_net_frame *f,
		      struct eau2_error *err)
{
	uint8_t buf[EAU2_NET_ERROR_MAX];
	char text[EAU2_NET_ERROR_MAX + 1];
	int rc, code;

	rc = recv_until(c, buf, f->len, deadline_in(c->o.io_timeout_ms), c->o.io_timeout_ms,
			"an ERROR frame", err);
	if (rc)
		return rc;
	if (eau2_net_frame_check(f, buf, err))
		return broke(c, -EBADMSG, err);
	for (uint32_t i = 0; i < f->len; i++)
		text[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? (char)buf[i] : '?';
	text[f->len] = 0;
	code = f->aux[0] > 0 && f->aux[0] < 4096 ? -(int)f->aux[0] : -EIO;
	return eau2_error_set(err, code, "peer %s: %s", c->peer, text);
}

/* The next frame's header; blocks are accepted only inside a chunk. */
static int next_hdr(struct eau2_net_conn *c, struct eau2_net_frame *f, int in_chunk,
		    struct eau2_error *err)
{
	uint8_t hdr[EAU2_NET_HDR_SIZE];
	int rc;

	if (check_usable(c, err))
		return -EPIPE;
	for (;;) {
		rc = recv_until(c, hdr, sizeof(hdr), deadline_in(c->o.io_timeout_ms),
				c->o.io_timeout_ms, "a frame header", err);
		if (rc)
			return rc;
		rc = eau2_net_frame_decode(hdr, sizeof(hdr), f, err);
		if (rc)
			return broke(c, rc, err);
		c->st.frames_recv++;
		switch (f->type) {
		case EAU2_NET_ERROR:
			if (f->len > EAU2_NET_ERROR_MAX)
				return fail(c, -EBADMSG, err, "ERROR frame of %u bytes", f->len);
			return peer_error(c, f, err);
		case EAU2_NET_PING:
		case EAU2_NET_PONG: {
			uint8_t p[64];
			struct eau2_net_frame pong = *f;

			if (f->len > sizeof(p))
				return fail(c, -EBADMSG, err, "%s frame of %u bytes",
					    eau2_net_type_name(f->type), f->len);
			rc = recv_until(c, p, f->len, deadline_in(c->o.io_timeout_ms),
					c->o.io_timeout_ms, "a PING", err);
			if (rc)
				return rc;
			if (eau2_net_frame_check(f, p, err))
				return broke(c, -EBADMSG, err);
			if (f->type == EAU2_NET_PONG)
				continue;
			pong.type = EAU2_NET_PONG;
			rc = send_frame(c, &pong, &(struct iovec){ p, f->len }, f->len ? 1 : 0,
					err);
			if (rc)
				return rc;
			continue;
		}
		case EAU2_NET_CHUNK_BEGIN:
			return 0;
		case EAU2_NET_CHUNK_BLOCK:
			if (in_chunk)
				return 0;
			return fail(c, -EPROTO, err, "CHUNK_BLOCK frame outside a chunk");
		default:
			if (f->type >= EAU2_NET_TYPE_USER)
				return 0;
			return fail(c, -EPROTO, err, "unexpected %s frame",
				    eau2_net_type_name(f->type));
		}
	}
}

int eau2_net_recv_hdr(eau2_net_conn *c, struct eau2_net_frame *f, struct eau2_error *err)
{
	return next_hdr(c, f, 0, err);
}

int eau2_net_recv_payload(eau2_net_conn *c, const struct eau2_net_frame *f, void *buf,
			  struct eau2_error *err)
{
	int rc;

	if (check_usable(c, err))
		return -EPIPE;
	rc = recv_until(c, buf, f->len, deadline_in(c->o.io_timeout_ms), c->o.io_timeout_ms,
			"a frame's payload", err);
	if (rc)
		return rc;
	rc = eau2_net_frame_check(f, buf, err);
	return rc ? broke(c, rc, err) : 0;
}

int eau2_net_recv(eau2_net_conn *c, struct eau2_net_frame *f, void *buf, size_t cap,
		  struct eau2_error *err)
{
	int rc = eau2_net_recv_hdr(c, f, err);

	if (rc)
		return rc;
	if (f->len > cap)
		return fail(c, -EMSGSIZE, err, "%s frame (type %u) of %u bytes, over the %zu expected",
			    eau2_net_type_name(f->type), f->type, f->len, cap);
	return eau2_net_recv_payload(c, f, buf, err);
}

int eau2_net_ping(eau2_net_conn *c, uint64_t *rtt_us, struct eau2_error *err)
{
	uint8_t hdr[EAU2_NET_HDR_SIZE], p[8];
	struct eau2_net_frame f = { .type = EAU2_NET_PING, .len = 8 }, g;
	uint64_t t0 = net_now_ns();
	struct iovec v = { p, 8 };
	int rc;

	if (check_usable(c, err))
		return -EPIPE;
	net_put64(p, t0);
	f.req = t0;
	f.sum = eau2_net_payload_sum(&v, 1);
	eau2_net_frame_encode(&f, hdr);
	rc = send_until(c, (struct iovec[]){ { hdr, sizeof(hdr) }, { p, 8 } }, 2,
			deadline_in(c->o.io_timeout_ms), "a PING", 0, err);
	if (rc)
		return rc;
	for (;;) {
		rc = recv_until(c, hdr, sizeof(hdr), deadline_in(c->o.io_timeout_ms),
				c->o.io_timeout_ms, "a PONG", err);
		if (rc)
			return rc;
		rc = eau2_net_frame_decode(hdr, sizeof(hdr), &g, err);
		if (rc)
			return broke(c, rc, err);
		if (g.type == EAU2_NET_ERROR && g.len <= EAU2_NET_ERROR_MAX)
			return peer_error(c, &g, err);
		if (g.type != EAU2_NET_PONG || g.len != 8 || g.req != t0)
			return fail(c, -EPROTO, err, "%s frame while waiting for a PONG",
				    eau2_net_type_name(g.type));
		rc = recv_until(c, p, 8, deadline_in(c->o.io_timeout_ms), c->o.io_timeout_ms,
				"a PONG", err);
		if (rc)
			return rc;
		if (eau2_net_frame_check(&g, p, err))
			return broke(c, -EBADMSG, err);
		break;
	}
	if (rtt_us)
		*rtt_us = (net_now_ns() - t0) / 1000;
	return 0;
}

/* -------------------------------------------------------------- chunks */

/* The socket's state for the AUTO policy. */
static void link_state(struct eau2_net_conn *c, struct eau2_net_link *l)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0, sndbuf = 0;
	socklen_t slen = sizeof(sndbuf);

	memset(l, 0, sizeof(*l));
	if (ioctl(c->fd, SIOCOUTQ, &outq) == 0 &&
	    getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &slen) == 0)
		l->backlog = outq > sndbuf / 4; /* about half the data a full queue holds */
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_delivery_rate) + sizeof(ti.tcpi_delivery_rate)) {
		l->rate = (double)ti.tcpi_delivery_rate;
		l->app_limited = ti.tcpi_delivery_rate_app_limited;
	}
}

int eau2_net_send_chunk(eau2_net_conn *c, const void *chunk, uint64_t req, uint64_t tag,
			struct eau2_error *err)
{
	uint8_t hdr[2][EAU2_NET_HDR_SIZE];
	struct iovec v[6], p[2];
	struct eau2_net_link link = {0};
	uint64_t copied0 = c->io->zc_copied;
	uint64_t since = UINT64_MAX;
	int n, k, rc;

	if (check_usable(c, err))
		return -EPIPE;
	rc = eau2_net_io_scratch(c->io, err);
	if (rc)
		return rc;
	c->tx.policy = c->o.policy;
	rc = eau2_net_tx_begin(&c->tx, chunk, req, tag, c->io->scratch[0], c->io->scratch[1],
			       err);
	if (rc)
		return rc;
	/* CHUNK_BEGIN and the first block go out in one sendmsg. */
	eau2_net_tx_next(&c->tx, NULL, hdr[0], p, &k);
	v[0] = (struct iovec){ hdr[0], EAU2_NET_HDR_SIZE };
	v[1] = p[0];
	n = 2;
	c->st.frames_sent++;
	for (;;) {
		int raw_zc;

		if (c->o.policy == EAU2_NET_AUTO && since >= LINK_SAMPLE) {
			link_state(c, &link);
			since = 0;
		}
		k = 0;
		if (!eau2_net_tx_next(&c->tx, &link, hdr[1], p, &k))
			break;
		since += p[0].iov_len;
		c->st.frames_sent++;
		raw_zc = c->o.send_zc && p[0].iov_len >= ZC_MIN &&
			 (const uint8_t *)p[0].iov_base >= (const uint8_t *)chunk &&
			 (const uint8_t *)p[0].iov_base < (const uint8_t *)chunk + c->tx.total;
		v[n++] = (struct iovec){ hdr[1], EAU2_NET_HDR_SIZE };
		if (!raw_zc)
			v[n++] = p[0];
		rc = send_until(c, v, n, deadline_in(c->o.io_timeout_ms), "a chunk block", 0,
				err);
		if (rc == 0 && raw_zc)
			rc = send_until(c, p, 1, deadline_in(c->o.io_timeout_ms),
					"a chunk block (zero copy)", 1, err);
		if (rc)
			goto out;
		n = 0;
	}
	if (n)
		rc = send_until(c, v, n, deadline_in(c->o.io_timeout_ms), "a chunk", 0, err);
	if (rc == 0)
		c->st.chunks_sent++;
out:
	if (c->io->zc_pending > 0) {
		/* Every notification is reaped before the chunk may change. */
		int left = io_wait(c->io, c->fd, 0, deadline_in(c->o.io_timeout_ms));

		if (left && rc == 0)
			rc = io_failed(c, left, c->o.io_timeout_ms,
				       "waiting for zero-copy completions", err);
	}
	c->st.zc_copied += c->io->zc_copied - copied0;
	return rc;
}

int eau2_net_recv_chunk(eau2_net_conn *c, const struct eau2_net_frame *begin,
			uint64_t limit, eau2_net_dst_fn dst, void *ctx, uint64_t *tag,
			struct eau2_error *err)
{
	struct eau2_net_frame f;
	struct eau2_chunk_hdr h, raw;
	void *into, *to;
	int rc;

	if (check_usable(c, err))
		return -EPIPE;
	if (begin) {
		f = *begin;
	} else {
		rc = eau2_net_recv_hdr(c, &f, err);
		if (rc)
			return rc;
	}
	if (f.type != EAU2_NET_CHUNK_BEGIN || f.len != sizeof(raw))
		return fail(c, -EPROTO, err, "expected a chunk, got a %s frame (type %u)",
			    eau2_net_type_name(f.type), f.type);
	rc = eau2_net_recv_payload(c, &f, &raw, err);
	if (rc)
		return rc;
	rc = eau2_net_rx_begin(&c->rx, &f, &raw, limit, &h, err);
	if (rc)
		return broke(c, rc, err);
	if (tag)
		*tag = f.aux[0];
	rc = eau2_net_io_scratch(c->io, err);
	if (rc)
		return broke(c, rc, err);
	to = dst(ctx, &h, f.aux[0], err);
	if (!to) {
		rc = err && err->code < 0 ? err->code : -ENOMEM;
		return broke(c, rc, err);
	}
	if ((uintptr_t)to % EAU2_ALIGN)
		return fail(c, -EINVAL, err, "chunk destination %p is not 64-byte aligned", to);
	rc = eau2_net_rx_dst(&c->rx, to, c->io->scratch[0], c->io->scratch[1], err);
	if (rc < 0)
		return broke(c, rc, err);
	while (rc == 0) {
		rc = next_hdr(c, &f, 1, err);
		if (rc)
			return rc;
		rc = eau2_net_rx_block(&c->rx, &f, &into, err);
		if (rc)
			return broke(c, rc, err);
		rc = recv_until(c, into, f.len, deadline_in(c->o.io_timeout_ms), c->o.io_timeout_ms,
				"a chunk block", err);
		if (rc)
			return rc;
		rc = eau2_net_rx_block_done(&c->rx, &f, err);
		if (rc < 0)
			return broke(c, rc, err);
	}
	c->st.chunks_recv++;
	return 0;
}

/* ------------------------------------------------------------ connecting */

/* The handshake on a connected socket, within handshake_timeout_ms. */
static int handshake(struct eau2_net_conn *c, struct eau2_error *err)
{
	struct eau2_net_hs *hs = malloc(sizeof(*hs));
	uint64_t deadline = deadline_in(c->o.handshake_timeout_ms);
	uint8_t hdr[EAU2_NET_HDR_SIZE], payload[EAU2_NET_HS_OUT_MAX];
	struct eau2_net_frame f;
	int rc = 0, step = 0;

	if (!hs)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	eau2_net_hs_init(hs, &c->o.ident, NULL);
	for (;;) {
		if (hs->out_len) {
			rc = send_until(c, &(struct iovec){ hs->out, hs->out_len }, 1, deadline,
					"the handshake", 0, err);
			if (rc)
				break;
		}
		if (step == 1)
			break;
		rc = recv_until(c, hdr, sizeof(hdr), deadline, c->o.handshake_timeout_ms,
				"the handshake", err);
		if (rc)
			break;
		rc = eau2_net_frame_decode(hdr, sizeof(hdr), &f, err);
		if (rc == 0 && f.len > sizeof(payload))
			rc = eau2_error_set(err, -EBADMSG, "%s frame of %u bytes in the handshake",
					    eau2_net_type_name(f.type), f.len);
		if (rc) {
			rc = broke(c, rc, err);
			break;
		}
		rc = recv_until(c, payload, f.len, deadline, c->o.handshake_timeout_ms,
				"the handshake", err);
		if (rc)
			break;
		rc = eau2_net_frame_check(&f, payload, err);
		if (rc == 0)
			step = eau2_net_hs_step(hs, &f, payload, err);
		eau2_net_conn_set_peer(c, hs);
		if (rc || step < 0) {
			/* Tell the peer why, briefly; our own error stands. */
			if (hs->out_len)
				send_until(c, &(struct iovec){ hs->out, hs->out_len }, 1,
					   deadline_in(100), "ERROR", 0, NULL);
			rc = broke(c, rc ? rc : step, err);
			break;
		}
		c->st.frames_recv++;
	}
	free(hs);
	return rc;
}

int eau2_net_connect(eau2_net_conn **out, const char *hostport,
		     const struct eau2_net_opts *o, struct eau2_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	struct eau2_net_conn *c = NULL;
	char host[256], port[8];
	uint16_t portnum;
	uint64_t deadline;
	int rc, fd = -1, one = 1;
	struct eau2_net_opts opts = *o;

	*out = NULL;
	eau2_net_opts_defaults(&opts);
	rc = eau2_net_ident_check(&opts.ident, err);
	if (rc)
		return rc;
	rc = eau2_net_split_hostport(hostport, host, sizeof(host), &portnum, err);
	if (rc)
		return rc;
	snprintf(port, sizeof(port), "%u", portnum);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return eau2_error_set(err, -EHOSTUNREACH, "peer %s: %s", hostport,
				      gai_strerror(rc));
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = eau2_net_io_init(&c->own, 16, 0, err);
	if (rc)
		goto out;
	c->io = &c->own;
	c->fd = -1;
	deadline = deadline_in(opts.connect_timeout_ms);
	rc = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		uint64_t ud;
		struct io_uring_sqe *sqe;

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		sqe = io_sqe(c->io, &ud);
		io_uring_prep_connect(sqe, fd, ai->ai_addr, ai->ai_addrlen);
		rc = io_wait(c->io, fd, ud, deadline);
		if (rc == 0)
			break;
		close(fd);
		fd = -1;
		if (rc == -ETIMEDOUT)
			break;
	}
	if (fd < 0) {
		char a[64];

		eau2_net_addr_str(res->ai_addr, a, sizeof(a));
		if (rc == -ETIMEDOUT)
			rc = eau2_error_set(err, rc, "peer %s: connect timed out after %d ms",
					    hostport, opts.connect_timeout_ms);
		else
			rc = eau2_error_set(err, rc, "peer %s: connect: %s", hostport,
					    strerror(-rc));
		goto out;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	eau2_net_conn_setup(c, fd, ai->ai_addr, &opts);
	rc = handshake(c, err);
out:
	if (res)
		freeaddrinfo(res);
	if (rc) {
		eau2_net_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void eau2_net_close(eau2_net_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->io == &c->own)
		eau2_net_io_free(&c->own);
	free(c->in);
	free(c);
}

int eau2_net_fd(const eau2_net_conn *c)
{
	return c->fd;
}

int eau2_net_broken(const eau2_net_conn *c)
{
	return c->broken;
}

void eau2_net_set_policy(eau2_net_conn *c, enum eau2_net_policy policy)
{
	c->o.policy = policy;
}

void eau2_net_set_send_zc(eau2_net_conn *c, bool on)
{
	c->o.send_zc = on;
}

void eau2_net_stats(const eau2_net_conn *c, struct eau2_net_stats *out)
{
	*out = c->st;
}

void eau2_net_stats_mark(eau2_net_conn *c, struct eau2_net_stats *before,
			 struct eau2_net_stats *after)
{
	*before = c->marked;
	*after = c->marked = c->st;
}
