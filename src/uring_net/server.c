/* SPDX-License-Identifier: MIT */
/*
 * server.c - the listener: one network thread with its own ring, and a
 * bounded pool of workers.
 *
 * The network thread accepts (multishot accept), runs each new
 * connection's handshake as a small state machine (auth.c) bounded by the
 * handshake timeout, and keeps authenticated connections parked between
 * requests: a multishot receive per connection, drawing from one ring of
 * provided buffers (PARK_BUFS x PARK_BUF_SIZE, shared by all), answers
 * PINGs itself and closes connections idle past the idle timeout. When
 * a request frame's header arrives, the receive is cancelled, and the
 * connection, with the bytes read so far, goes to the ready queue; a
 * worker takes it, reads the rest of the request's payload, calls the
 * handler on its own ring, and hands the connection back through the
 * back queue (the eventfd wakes the network thread). A peer that stalls
 * or sends garbage never reaches a worker.
 *
 * Bounds: max_conns connections (past it, an ERROR "busy" and close);
 * workers requests at once; bytes read ahead per parked connection at
 * most PARK_IN_MAX (a request header arrives, the receive is cancelled;
 * what the kernel delivered meanwhile must fit, or the peer is dropped);
 * handshake input HS_IN bytes.
 *
 * Access rules. Fields of struct eau2_net_server marked "loop" belong to
 * the network thread; those marked "mu" are under mu; the counters are
 * atomic; the options are read-only after start. A sconn belongs to the
 * network thread except while state == BUSY, when the worker that
 * popped it from the ready queue owns it until it pushes it onto the
 * back queue (both queues under mu). The network thread may still call
 * shutdown() on a busy connection's fd (to stop the server): the fd stays
 * open until the network thread closes it.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uring_net/net_impl.h"

#define RING_ENTRIES 512
#define PARK_BUFS 128
#define PARK_BUF_SIZE 2048
#define PARK_BGID 1
#define PARK_IN_MAX (256u << 10)
#define HS_IN 1024
#define TICK_MS 50

enum { ST_HS = 1, ST_PARKED, ST_HANDOFF, ST_BUSY, ST_CLOSING };
enum { K_ACCEPT = 1, K_EVENT, K_RECV, K_SEND, K_CANCEL };

struct sconn {
	struct eau2_net_conn c;      /* first: a handler gets &c */
	int state;
	int nops;                    /* ring operations in flight */
	bool recv_armed, send_busy, close_after;
	uint64_t deadline;           /* ns: end of handshake or of idleness */
	struct eau2_net_hs *hs;      /* during the handshake */
	uint8_t *hs_in;              /* HS_IN bytes, during the handshake */
	size_t hs_len;
	uint8_t out[EAU2_NET_HS_OUT_MAX]; /* loop's sends: handshake, PONG, ERROR */
	size_t out_len, out_off;
	struct eau2_net_frame req;   /* the request handed to a worker */
	char why[440];               /* why it closes, for the log */
	struct sconn *prev, *next;   /* loop: all connections */
	struct sconn *qnext;         /* mu: ready or back queue */
} __attribute__((aligned(16)));

struct eau2_net_server {
	struct eau2_net_server_opts o;
	int lfd, efd;
	uint16_t port;
	pthread_t loop_thread;
	pthread_t *workers;
	unsigned nworkers;
	/* loop */
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	struct sconn *all;
	unsigned nconns;
	bool accept_armed, event_armed, stop_seen;
	uint64_t accept_retry, next_scan, efd_val;
	/* mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* ready queue not empty, or quit */
	pthread_cond_t started_cv;
	int started;                 /* 1: loop up, < 0: its error */
	struct eau2_error start_err;
	struct sconn *ready, *ready_tail, *back;
	bool quit_workers;
	/* any thread */
	atomic_bool stopping;
	_Atomic uint64_t accepted, refused_busy, hs_failed, requests;
	atomic_uint conns, idle, busy;
};

__attribute__((format(printf, 3, 4)))
static void slog(struct eau2_net_server *s, enum eau2_net_log_level level,
		 const char *fmt, ...)
{
	char line[600];
	va_list ap;

	if (!s->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_ctx, level, line);
}

static const char *role_name(uint8_t role)
{
	switch (role) {
	case EAU2_NET_ROLE_CLIENT: return "client";
	case EAU2_NET_ROLE_NODE: return "node";
	case EAU2_NET_ROLE_DRIVER: return "driver";
	}
	return "?";
}

/* ---------------------------------------------------------- ring helpers */

static struct io_uring_sqe *sqe_for(struct eau2_net_server *s, struct sconn *sc, int kind)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	if (!sqe)
		return NULL;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)sc | (uint64_t)kind);
	if (sc)
		sc->nops++;
	return sqe;
}

static void arm_accept(struct eau2_net_server *s)
{
	struct io_uring_sqe *sqe = sqe_for(s, NULL, K_ACCEPT);

	if (!sqe)
		return;
	io_uring_prep_multishot_accept(sqe, s->lfd, NULL, NULL, SOCK_CLOEXEC);
	s->accept_armed = true;
}

static void arm_event(struct eau2_net_server *s)
{
	struct io_uring_sqe *sqe = sqe_for(s, NULL, K_EVENT);

	if (!sqe)
		return;
	io_uring_prep_read(sqe, s->efd, &s->efd_val, sizeof(s->efd_val), 0);
	s->event_armed = true;
}

static void recycle(struct eau2_net_server *s, unsigned bid)
{
	io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * PARK_BUF_SIZE, PARK_BUF_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(PARK_BUFS), 0);
	io_uring_buf_ring_advance(s->br, 1);
}

/* -------------------------------------------------------- connections */

/* Moves sc to state st, keeping the idle and busy counts. */
static void set_state(struct eau2_net_server *s, struct sconn *sc, int st)
{
	if (sc->state == ST_PARKED)
		atomic_fetch_sub(&s->idle, 1);
	if (sc->state == ST_HANDOFF || sc->state == ST_BUSY)
		atomic_fetch_sub(&s->busy, 1);
	if (st == ST_PARKED)
		atomic_fetch_add(&s->idle, 1);
	if (st == ST_HANDOFF || st == ST_BUSY)
		atomic_fetch_add(&s->busy, 1);
	sc->state = st;
}

static void close_conn(struct eau2_net_server *s, struct sconn *sc,
		       enum eau2_net_log_level level, const char *why)
{
	if (sc->state == ST_CLOSING)
		return;
	if (sc->state == ST_HS)
		atomic_fetch_add(&s->hs_failed, 1);
	slog(s, level, "peer %s: %s", sc->c.peer, why);
	set_state(s, sc, ST_CLOSING);
	shutdown(sc->c.fd, SHUT_RDWR); /* completes whatever is in flight */
}

/* Frees a closing connection once nothing is in flight. */
static void reap(struct eau2_net_server *s, struct sconn *sc)
{
	if (sc->state != ST_CLOSING || sc->nops)
		return;
	close(sc->c.fd);
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		s->all = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	s->nconns--;
	atomic_store(&s->conns, s->nconns);
	free(sc->hs);
	free(sc->hs_in);
	free(sc->c.in);
	free(sc);
}

static void send_out(struct eau2_net_server *s, struct sconn *sc)
{
	struct io_uring_sqe *sqe;

	if (sc->send_busy || sc->out_off == sc->out_len || sc->state == ST_CLOSING)
		return;
	sqe = sqe_for(s, sc, K_SEND);
	if (!sqe) {
		close_conn(s, sc, EAU2_NET_LOG_WARN, "dropped: network thread's ring is full");
		return;
	}
	io_uring_prep_send(sqe, sc->c.fd, sc->out + sc->out_off, sc->out_len - sc->out_off,
			   MSG_NOSIGNAL);
	sc->send_busy = true;
}

static int queue_out(struct eau2_net_server *s, struct sconn *sc, const void *p, size_t n)
{
	if (sc->out_off == sc->out_len)
		sc->out_off = sc->out_len = 0;
	if (n > sizeof(sc->out) - sc->out_len)
		return -ENOBUFS;
	memcpy(sc->out + sc->out_len, p, n);
	sc->out_len += n;
	send_out(s, sc);
	return 0;
}

/* Tells the peer why in an ERROR frame, then closes once it is sent. */
static void refuse_conn(struct eau2_net_server *s, struct sconn *sc, int code,
			const char *why)
{
	uint8_t frame[EAU2_NET_HDR_SIZE + EAU2_NET_ERROR_MAX];
	struct eau2_net_frame f = { .type = EAU2_NET_ERROR,
				    .aux = { (uint64_t)(code < 0 ? -code : code), 0 } };
	size_t n = strlen(why);

	f.len = (uint32_t)(n < EAU2_NET_ERROR_MAX ? n : EAU2_NET_ERROR_MAX);
	f.sum = eau2_net_payload_sum(&(struct iovec){ (void *)(uintptr_t)why, f.len }, 1);
	eau2_net_frame_encode(&f, frame);
	memcpy(frame + EAU2_NET_HDR_SIZE, why, f.len);
	snprintf(sc->why, sizeof(sc->why), "dropped: %.400s", why);
	if (queue_out(s, sc, frame, EAU2_NET_HDR_SIZE + f.len) == 0 && sc->send_busy) {
		sc->close_after = true;
		return;
	}
	close_conn(s, sc, EAU2_NET_LOG_WARN, sc->why);
}

/* A parked connection's multishot receive into the shared buffers, or
 * a handshake's one-shot receive into its own. */
static void arm_recv(struct eau2_net_server *s, struct sconn *sc)
{
	struct io_uring_sqe *sqe;

	if (sc->recv_armed)
		return;
	sqe = sqe_for(s, sc, K_RECV);
	if (!sqe) {
		close_conn(s, sc, EAU2_NET_LOG_WARN, "dropped: network thread's ring is full");
		return;
	}
	if (sc->state == ST_HS) {
		io_uring_prep_recv(sqe, sc->c.fd, sc->hs_in + sc->hs_len, HS_IN - sc->hs_len, 0);
	} else {
		io_uring_prep_recv_multishot(sqe, sc->c.fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = PARK_BGID;
	}
	sc->recv_armed = true;
}

static void cancel_recv(struct eau2_net_server *s, struct sconn *sc)
{
	struct io_uring_sqe *sqe = sqe_for(s, NULL, K_CANCEL);

	if (sqe)
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)sc | K_RECV, 0);
	else
		shutdown(sc->c.fd, SHUT_RDWR);
}

/* A connection goes to a worker once the network thread has nothing in
 * flight on it (its receive cancelled, a PONG sent). */
static void handoff(struct eau2_net_server *s, struct sconn *sc)
{
	if (sc->state != ST_HANDOFF || sc->recv_armed || sc->send_busy)
		return;
	set_state(s, sc, ST_BUSY);
	pthread_mutex_lock(&s->mu);
	sc->qnext = NULL;
	if (s->ready_tail)
		s->ready_tail->qnext = sc;
	else
		s->ready = sc;
	s->ready_tail = sc;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* Looks at what a parked connection sent: PINGs are answered here; the
 * header of a request moves it towards a worker. */
static void parked_input(struct eau2_net_server *s, struct sconn *sc)
{
	struct eau2_net_conn *c = &sc->c;
	struct eau2_error err;
	struct eau2_net_frame f;

	while (sc->state == ST_PARKED && !sc->close_after &&
	       c->in_len - c->in_pos >= EAU2_NET_HDR_SIZE) {
		const uint8_t *p = c->in + c->in_pos;

		if (eau2_net_frame_decode(p, EAU2_NET_HDR_SIZE, &f, &err)) {
			refuse_conn(s, sc, err.code, err.msg);
			return;
		}
		if (f.type >= EAU2_NET_TYPE_USER) {
			sc->req = f;
			set_state(s, sc, ST_HANDOFF);
			sc->deadline = 0;
			if (sc->recv_armed)
				cancel_recv(s, sc);
			handoff(s, sc);
			return;
		}
		if (f.type != EAU2_NET_PING && f.type != EAU2_NET_PONG) {
			char why[120];

			snprintf(why, sizeof(why), "unexpected %s frame between requests",
				 eau2_net_type_name(f.type));
			refuse_conn(s, sc, -EPROTO, why);
			return;
		}
		if (f.len > 64) {
			refuse_conn(s, sc, -EPROTO, "PING of more than 64 bytes");
			return;
		}
		if (c->in_len - c->in_pos < EAU2_NET_HDR_SIZE + f.len)
			return;
		if (eau2_net_frame_check(&f, p + EAU2_NET_HDR_SIZE, &err)) {
			refuse_conn(s, sc, err.code, err.msg);
			return;
		}
		if (f.type == EAU2_NET_PING) {
			uint8_t pong[EAU2_NET_HDR_SIZE + 64];

			f.type = EAU2_NET_PONG;
			eau2_net_frame_encode(&f, pong);
			memcpy(pong + EAU2_NET_HDR_SIZE, p + EAU2_NET_HDR_SIZE, f.len);
			if (queue_out(s, sc, pong, EAU2_NET_HDR_SIZE + f.len)) {
				refuse_conn(s, sc, -ENOBUFS, "PINGs faster than it reads PONGs");
				return;
			}
		}
		c->in_pos += EAU2_NET_HDR_SIZE + f.len;
	}
	if (c->in_pos == c->in_len) {
		free(c->in);
		c->in = NULL;
		c->in_pos = c->in_len = c->in_cap = 0;
	}
}

static void park(struct eau2_net_server *s, struct sconn *sc)
{
	set_state(s, sc, ST_PARKED);
	sc->deadline = net_now_ns() + (uint64_t)s->o.idle_timeout_ms * 1000000u;
	parked_input(s, sc);
	if (sc->state == ST_PARKED)
		arm_recv(s, sc);
}

/* Appends n received bytes to c->in, within PARK_IN_MAX. */
static int take_in(struct sconn *sc, const uint8_t *p, size_t n)
{
	struct eau2_net_conn *c = &sc->c;

	if (c->in_pos && c->in_pos == c->in_len)
		c->in_pos = c->in_len = 0;
	if (n > PARK_IN_MAX - (c->in_len - c->in_pos))
		return -ENOBUFS;
	if (c->in_len + n > c->in_cap) {
		uint32_t cap = c->in_cap ? c->in_cap : 4096;
		uint8_t *q;

		if (c->in_pos) {
			memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
			c->in_len -= c->in_pos;
			c->in_pos = 0;
		}
		while (cap < c->in_len + n)
			cap *= 2;
		if (cap != c->in_cap) {
			q = realloc(c->in, cap);
			if (!q)
				return -ENOMEM;
			c->in = q;
			c->in_cap = cap;
		}
	}
	memcpy(c->in + c->in_len, p, n);
	c->in_len += (uint32_t)n;
	return 0;
}

/* Feeds the handshake machine every whole frame in hs_in. */
static void hs_input(struct eau2_net_server *s, struct sconn *sc)
{
	size_t off = 0;
	struct eau2_error err = {0};

	while (sc->hs_len - off >= EAU2_NET_HDR_SIZE) {
		struct eau2_net_frame f;
		const uint8_t *p = sc->hs_in + off;
		int step;

		if (eau2_net_frame_decode(p, EAU2_NET_HDR_SIZE, &f, &err)) {
			refuse_conn(s, sc, err.code, err.msg);
			return;
		}
		if (f.len > HS_IN - EAU2_NET_HDR_SIZE) {
			refuse_conn(s, sc, -EBADMSG, "handshake frame too large");
			return;
		}
		if (sc->hs_len - off < EAU2_NET_HDR_SIZE + f.len)
			break;
		if (eau2_net_frame_check(&f, p + EAU2_NET_HDR_SIZE, &err)) {
			refuse_conn(s, sc, err.code, err.msg);
			return;
		}
		step = eau2_net_hs_step(sc->hs, &f, p + EAU2_NET_HDR_SIZE, &err);
		eau2_net_conn_set_peer(&sc->c, sc->hs);
		off += EAU2_NET_HDR_SIZE + f.len;
		if (step < 0) {
			/* The machine's ERROR frame (if any) tells the peer why. */
			snprintf(sc->why, sizeof(sc->why), "refused: %.400s", err.msg);
			if (sc->hs->out_len &&
			    queue_out(s, sc, sc->hs->out, sc->hs->out_len) == 0 && sc->send_busy) {
				sc->close_after = true;
				return;
			}
			close_conn(s, sc, EAU2_NET_LOG_WARN, sc->why);
			return;
		}
		if (sc->hs->out_len && queue_out(s, sc, sc->hs->out, sc->hs->out_len)) {
			close_conn(s, sc, EAU2_NET_LOG_WARN, "dropped: handshake output overflow");
			return;
		}
		if (step == 1) {
			slog(s, EAU2_NET_LOG_INFO, "peer %s: connected (%s)", sc->c.peer,
			     role_name(sc->c.peer_role));
			/* A request may follow READY in the same read. */
			if (sc->hs_len > off && take_in(sc, sc->hs_in + off, sc->hs_len - off)) {
				close_conn(s, sc, EAU2_NET_LOG_WARN, "dropped: out of memory");
				return;
			}
			free(sc->hs);
			free(sc->hs_in);
			sc->hs = NULL;
			sc->hs_in = NULL;
			park(s, sc);
			return;
		}
	}
	memmove(sc->hs_in, sc->hs_in + off, sc->hs_len - off);
	sc->hs_len -= off;
	arm_recv(s, sc);
}

/* ------------------------------------------------------- accept, events */

static void on_accept(struct eau2_net_server *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sconn *sc;
	char addr[64];
	int one = 1;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	eau2_net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
	atomic_fetch_add(&s->accepted, 1);
	if (atomic_load(&s->stopping) || s->nconns >= s->o.max_conns) {
		char why[96];
		uint8_t frame[EAU2_NET_HDR_SIZE + sizeof(why)], drain[512];
		struct eau2_net_frame f = { .type = EAU2_NET_ERROR, .aux = { EBUSY, 0 } };
		int n = snprintf(why, sizeof(why), "busy (%u connections)", s->nconns);

		/* A fresh socket's buffer takes the frame at once. Whatever the
		 * peer sent already is read, so that close sends a FIN, not a
		 * reset that could overtake the frame. */
		f.len = (uint32_t)n;
		f.sum = eau2_net_payload_sum(&(struct iovec){ why, (size_t)n }, 1);
		eau2_net_frame_encode(&f, frame);
		memcpy(frame + EAU2_NET_HDR_SIZE, why, (size_t)n);
		if (send(fd, frame, EAU2_NET_HDR_SIZE + (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			(void)0; /* the close says enough */
		shutdown(fd, SHUT_WR);
		while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
			;
		close(fd);
		atomic_fetch_add(&s->refused_busy, 1);
		slog(s, EAU2_NET_LOG_WARN, "peer %s: refused: %s", addr, why);
		return;
	}
	sc = aligned_alloc(16, sizeof(*sc));
	if (sc) {
		memset(sc, 0, sizeof(*sc));
		sc->hs = malloc(sizeof(*sc->hs));
		sc->hs_in = malloc(HS_IN);
	}
	if (!sc || !sc->hs || !sc->hs_in) {
		if (sc) {
			free(sc->hs);
			free(sc->hs_in);
		}
		free(sc);
		close(fd);
		slog(s, EAU2_NET_LOG_WARN, "peer %s: dropped: out of memory", addr);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	eau2_net_conn_setup(&sc->c, fd, (struct sockaddr *)&ss, &s->o.conn);
	sc->state = ST_HS;
	sc->deadline = net_now_ns() + (uint64_t)s->o.conn.handshake_timeout_ms * 1000000u;
	sc->next = s->all;
	if (s->all)
		s->all->prev = sc;
	s->all = sc;
	s->nconns++;
	atomic_store(&s->conns, s->nconns);
	eau2_net_hs_init(sc->hs, &s->o.conn.ident, NULL);
	queue_out(s, sc, sc->hs->out, sc->hs->out_len);
	arm_recv(s, sc);
}

static void on_recv(struct eau2_net_server *s, struct sconn *sc, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	int res = cqe->res;

	if (res > 0) /* what this thread reads ahead: handshakes, requests */
		sc->c.st.bytes_recv += (uint64_t)res;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		int rc = 0;

		if (res > 0 && sc->state != ST_CLOSING)
			rc = take_in(sc, s->bufs + (size_t)bid * PARK_BUF_SIZE, (size_t)res);
		recycle(s, bid);
		if (rc) {
			close_conn(s, sc, EAU2_NET_LOG_WARN,
				   "dropped: sent more than it may before its request was read");
			return;
		}
	}
	if (!more)
		sc->recv_armed = false;
	if (sc->state == ST_CLOSING)
		return;
	if (res == 0 || (res < 0 && res != -ENOBUFS && res != -ECANCELED)) {
		char why[96];

		if (res == 0)
			snprintf(why, sizeof(why), "%s",
				 sc->state == ST_HS ? "dropped: closed during the handshake" :
				 "disconnected");
		else
			snprintf(why, sizeof(why), "disconnected: %s", strerror(-res));
		close_conn(s, sc, sc->state == ST_HS ? EAU2_NET_LOG_WARN : EAU2_NET_LOG_INFO, why);
		return;
	}
	switch (sc->state) {
	case ST_HS:
		if (res > 0)
			sc->hs_len += (size_t)res;
		if (!sc->close_after)
			hs_input(s, sc);
		break;
	case ST_PARKED:
		if (sc->close_after)
			break;
		if (res > 0)
			sc->deadline = net_now_ns() + (uint64_t)s->o.idle_timeout_ms * 1000000u;
		parked_input(s, sc);
		if (sc->state == ST_PARKED && !sc->recv_armed)
			arm_recv(s, sc); /* ran out of buffers, or ended */
		break;
	case ST_HANDOFF:
		handoff(s, sc);
		break;
	}
}

static void on_send(struct eau2_net_server *s, struct sconn *sc, int res)
{
	sc->send_busy = false;
	if (sc->state == ST_CLOSING)
		return;
	if (res <= 0) {
		char why[96];

		snprintf(why, sizeof(why), "disconnected: %s", strerror(res ? -res : EPIPE));
		close_conn(s, sc, EAU2_NET_LOG_INFO, why);
		return;
	}
	sc->out_off += (size_t)res;
	sc->c.st.bytes_sent += (uint64_t)res;
	if (sc->out_off < sc->out_len) {
		send_out(s, sc);
		return;
	}
	sc->out_off = sc->out_len = 0;
	if (sc->close_after)
		close_conn(s, sc, EAU2_NET_LOG_WARN, sc->why);
	else
		handoff(s, sc);
}

static void on_cqe(struct eau2_net_server *s, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	int kind = (int)(ud & 15);
	struct sconn *sc = (struct sconn *)(uintptr_t)(ud & ~(uint64_t)15);
	bool more = cqe->flags & IORING_CQE_F_MORE;

	switch (kind) {
	case K_ACCEPT:
		if (cqe->res >= 0)
			on_accept(s, cqe->res);
		else if (cqe->res != -ECANCELED && !atomic_load(&s->stopping))
			slog(s, EAU2_NET_LOG_WARN, "accept: %s (%u connections)",
			     strerror(-cqe->res), s->nconns);
		if (!more) {
			s->accept_armed = false;
			s->accept_retry = net_now_ns() + 100000000ull;
		}
		return;
	case K_EVENT:
		s->event_armed = false;
		return;
	case K_CANCEL:
		return;
	}
	if (!more)
		sc->nops--;
	if (kind == K_RECV)
		on_recv(s, sc, cqe);
	else if (kind == K_SEND)
		on_send(s, sc, cqe->res);
	reap(s, sc);
}

/* Connections workers handed back. */
static void take_back(struct eau2_net_server *s)
{
	struct sconn *sc, *next;

	pthread_mutex_lock(&s->mu);
	sc = s->back;
	s->back = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; sc; sc = next) {
		next = sc->qnext;
		if (sc->close_after || atomic_load(&s->stopping)) {
			set_state(s, sc, ST_HANDOFF); /* counted busy until it closes */
			close_conn(s, sc, sc->close_after ? EAU2_NET_LOG_INFO : EAU2_NET_LOG_INFO,
				   sc->close_after ? sc->why : "disconnected: server stopping");
			reap(s, sc);
			continue;
		}
		atomic_fetch_add(&s->requests, 1);
		park(s, sc);
	}
}

/* Deadlines: handshakes that took too long, idle connections. */
static void expire(struct eau2_net_server *s, uint64_t now)
{
	struct sconn *sc, *next;
	char why[96];

	for (sc = s->all; sc; sc = next) {
		next = sc->next;
		if (!sc->deadline || now < sc->deadline)
			continue;
		if (sc->state == ST_HS) {
			snprintf(why, sizeof(why), "dropped: no handshake within %d ms",
				 s->o.conn.handshake_timeout_ms);
			close_conn(s, sc, EAU2_NET_LOG_WARN, why);
		} else if (sc->state == ST_PARKED) {
			snprintf(why, sizeof(why), "disconnected: idle for %d ms",
				 s->o.idle_timeout_ms);
			close_conn(s, sc, EAU2_NET_LOG_INFO, why);
		}
		sc->deadline = 0;
		reap(s, sc);
	}
}

/* On stop: no new connections; every connection is shut down (a busy
 * one's handler sees its next call fail) and those queued for a worker
 * are dropped. */
static void begin_stop(struct eau2_net_server *s)
{
	struct sconn *sc, *next, *q;

	s->stop_seen = true;
	shutdown(s->lfd, SHUT_RDWR);
	pthread_mutex_lock(&s->mu);
	q = s->ready;
	s->ready = s->ready_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	for (; q; q = next) {
		next = q->qnext;
		close_conn(s, q, EAU2_NET_LOG_INFO, "disconnected: server stopping");
	}
	for (sc = s->all; sc; sc = next) {
		next = sc->next;
		if (sc->state == ST_BUSY)
			shutdown(sc->c.fd, SHUT_RDWR);
		else
			close_conn(s, sc, EAU2_NET_LOG_INFO, "disconnected: server stopping");
		reap(s, sc);
	}
}

static int setup_bufs(struct eau2_net_server *s, struct eau2_error *err)
{
	struct io_uring_buf_reg reg = {0};
	size_t bytes = PARK_BUFS * sizeof(struct io_uring_buf);
	int rc;

	s->br = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (s->br == MAP_FAILED) {
		s->br = NULL;
		return eau2_error_set(err, -errno, "mmap: %s", strerror(errno));
	}
	s->bufs = malloc((size_t)PARK_BUFS * PARK_BUF_SIZE);
	if (!s->bufs)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	reg.ring_addr = (uint64_t)(uintptr_t)s->br;
	reg.ring_entries = PARK_BUFS;
	reg.bgid = PARK_BGID;
	rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (rc)
		return eau2_error_set(err, rc,
				      "io_uring provided buffer ring: %s (kernel 5.19 or later)",
				      strerror(-rc));
	io_uring_buf_ring_init(s->br);
	for (unsigned i = 0; i < PARK_BUFS; i++)
		io_uring_buf_ring_add(s->br, s->bufs + (size_t)i * PARK_BUF_SIZE, PARK_BUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(PARK_BUFS), (int)i);
	io_uring_buf_ring_advance(s->br, PARK_BUFS);
	return 0;
}

static void *loop_main(void *arg)
{
	struct eau2_net_server *s = arg;
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN };
	struct eau2_error err = {0};
	int rc;

	rc = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(RING_ENTRIES, &s->ring, &p);
	}
	if (rc)
		eau2_error_set(&err, rc, "io_uring setup: %s", strerror(-rc));
	else if ((rc = setup_bufs(s, &err)))
		io_uring_queue_exit(&s->ring);
	pthread_mutex_lock(&s->mu);
	s->started = rc ? rc : 1;
	s->start_err = err;
	pthread_cond_broadcast(&s->started_cv);
	pthread_mutex_unlock(&s->mu);
	if (rc)
		return NULL;
	arm_accept(s);
	arm_event(s);
	for (;;) {
		struct io_uring_cqe *cqe = NULL;
		struct __kernel_timespec ts = { 0, TICK_MS * 1000000ll };
		uint64_t now;
		unsigned head, n = 0;

		if (s->stop_seen && s->nconns == 0)
			break;
		rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
		(void)rc;
		io_uring_for_each_cqe(&s->ring, head, cqe) {
			on_cqe(s, cqe);
			n++;
		}
		io_uring_cq_advance(&s->ring, n);
		if (!s->event_armed)
			arm_event(s);
		take_back(s);
		if (atomic_load(&s->stopping) && !s->stop_seen)
			begin_stop(s);
		now = net_now_ns();
		if (!s->accept_armed && !s->stop_seen && now >= s->accept_retry)
			arm_accept(s);
		if (now >= s->next_scan) {
			expire(s, now);
			s->next_scan = now + TICK_MS * 1000000ull;
		}
	}
	io_uring_queue_exit(&s->ring); /* cancels the accept and the eventfd read */
	return NULL;
}

/* ---------------------------------------------------------------- workers */

/* Runs one request on the worker's ring: the rest of its payload, then
 * the handler. Returns whether the connection may be kept. */
static bool serve(struct eau2_net_server *s, struct sconn *sc, uint8_t **buf,
		  size_t *cap)
{
	struct eau2_net_conn *c = &sc->c;
	struct eau2_error err = {0};
	const struct eau2_net_frame *f = &sc->req;
	int rc;

	c->in_pos += EAU2_NET_HDR_SIZE; /* the loop decoded the header */
	c->st.frames_recv++;
	if (f->len > *cap) {
		uint8_t *q = realloc(*buf, f->len);

		if (!q) {
			snprintf(sc->why, sizeof(sc->why), "dropped: out of memory for a request");
			return false;
		}
		*buf = q;
		*cap = f->len;
	}
	rc = eau2_net_recv_exact(c, *buf, f->len, c->o.io_timeout_ms, "a request's payload", &err);
	if (rc == 0 && eau2_net_frame_check(f, *buf, &err))
		rc = -EBADMSG;
	if (rc) {
		snprintf(sc->why, sizeof(sc->why), "dropped: %.400s", err.msg);
		return false;
	}
	rc = s->o.on_request(s->o.ctx, c, f, *buf);
	if (rc || c->broken) {
		snprintf(sc->why, sizeof(sc->why), "disconnected after a request (%s)",
			 strerror(-(rc < 0 ? rc : c->broken ? c->broken : -EIO)));
		return false;
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct eau2_net_server *s = arg;
	struct net_io io;
	struct eau2_error err;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int up = eau2_net_io_init(&io, 32, 1, &err) == 0;

	if (!up)
		slog(s, EAU2_NET_LOG_WARN, "worker: %s", err.msg);
	for (;;) {
		struct sconn *sc;

		pthread_mutex_lock(&s->mu);
		while (!s->ready && !s->quit_workers)
			pthread_cond_wait(&s->cv, &s->mu);
		sc = s->ready;
		if (sc) {
			s->ready = sc->qnext;
			if (!s->ready)
				s->ready_tail = NULL;
		}
		pthread_mutex_unlock(&s->mu);
		if (!sc)
			break;
		sc->c.io = &io;
		if (!up)
			snprintf(sc->why, sizeof(sc->why), "dropped: worker has no io_uring");
		sc->close_after = !up || !serve(s, sc, &buf, &cap);
		sc->c.io = NULL;
		pthread_mutex_lock(&s->mu);
		sc->qnext = s->back;
		s->back = sc;
		pthread_mutex_unlock(&s->mu);
		eventfd_write(s->efd, 1);
	}
	free(buf);
	if (up)
		eau2_net_io_free(&io);
	return NULL;
}

/* ------------------------------------------------------------ start, stop */

static int listen_on(struct eau2_net_server *s, struct eau2_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	uint16_t portnum;
	int rc, one = 1;

	rc = eau2_net_split_hostport(s->o.listen, host, sizeof(host), &portnum, err);
	if (rc)
		return rc;
	snprintf(port, sizeof(port), "%u", portnum);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return eau2_error_set(err, -EADDRNOTAVAIL, "listen %s: %s", s->o.listen,
				      gai_strerror(rc));
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		s->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s->lfd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s->lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s->lfd, 512) == 0) {
			rc = 0;
			break;
		}
		rc = -errno;
		close(s->lfd);
		s->lfd = -1;
	}
	freeaddrinfo(res);
	if (rc)
		return eau2_error_set(err, rc, "listen %s: %s", s->o.listen, strerror(-rc));
	if (getsockname(s->lfd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)(void *)&ss)->sin6_port :
				((struct sockaddr_in *)(void *)&ss)->sin_port);
	return 0;
}

int eau2_net_server_start(eau2_net_server **out, const struct eau2_net_server_opts *o,
			  struct eau2_error *err)
{
	struct eau2_net_server *s;
	int rc;

	*out = NULL;
	if (!o->on_request || !o->listen)
		return eau2_error_set(err, -EINVAL, "a server needs an address and a handler");
	rc = eau2_net_ident_check(&o->conn.ident, err);
	if (rc)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	s->o = *o;
	eau2_net_opts_defaults(&s->o.conn);
	if (!s->o.max_conns)
		s->o.max_conns = EAU2_NET_MAX_CONNS;
	if (!s->o.workers)
		s->o.workers = EAU2_NET_WORKERS;
	if (s->o.idle_timeout_ms <= 0)
		s->o.idle_timeout_ms = EAU2_NET_IDLE_TIMEOUT_MS;
	s->lfd = s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->started_cv, NULL);
	rc = listen_on(s, err);
	if (rc)
		goto fail;
	s->efd = eventfd(0, EFD_CLOEXEC);
	if (s->efd < 0) {
		rc = eau2_error_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = -pthread_create(&s->loop_thread, NULL, loop_main, s);
	if (rc) {
		eau2_error_set(err, rc, "pthread_create: %s", strerror(-rc));
		goto fail;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->started)
		pthread_cond_wait(&s->started_cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->started < 0) {
		rc = s->started;
		if (err)
			*err = s->start_err;
		pthread_join(s->loop_thread, NULL);
		goto fail;
	}
	s->workers = calloc(s->o.workers, sizeof(*s->workers));
	for (unsigned i = 0; s->workers && i < s->o.workers; i++) {
		if (pthread_create(&s->workers[i], NULL, worker_main, s))
			break;
		s->nworkers++;
	}
	if (s->nworkers == 0) {
		rc = eau2_error_set(err, -EAGAIN, "no worker thread could start");
		eau2_net_server_stop(s);
		return rc;
	}
	*out = s;
	return 0;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->efd >= 0)
		close(s->efd);
	if (s->br)
		munmap(s->br, PARK_BUFS * sizeof(struct io_uring_buf));
	free(s->bufs);
	free(s);
	return rc;
}

uint16_t eau2_net_server_port(const eau2_net_server *s)
{
	return s->port;
}

void eau2_net_server_stats(eau2_net_server *s, struct eau2_net_server_stats *out)
{
	out->accepted = atomic_load(&s->accepted);
	out->refused_busy = atomic_load(&s->refused_busy);
	out->handshake_failed = atomic_load(&s->hs_failed);
	out->requests = atomic_load(&s->requests);
	out->conns = atomic_load(&s->conns);
	out->idle = atomic_load(&s->idle);
	out->busy = atomic_load(&s->busy);
}

void eau2_net_server_stop(eau2_net_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	eventfd_write(s->efd, 1);
	pthread_join(s->loop_thread, NULL);
	pthread_mutex_lock(&s->mu);
	s->quit_workers = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
	close(s->lfd);
	close(s->efd);
	munmap(s->br, PARK_BUFS * sizeof(struct io_uring_buf));
	free(s->bufs);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->started_cv);
	free(s);
}
