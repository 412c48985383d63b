/* SPDX-License-Identifier: MIT */
/*
 * client.c - the client side of the node protocol, used by libeau2 when a
 * node serves the store: attach (connect + HELLO), get (the node passes
 * the dataframe's descriptor and segment fds; they are mapped here, read-
 * only, and never copied), release, list, delete, status.
 *
 * Failure model: any error on the connection (node killed, restarted,
 * stopped for longer than the timeout, garbage) drops it, and the call
 * returns -ENOTCONN so that the caller goes on in embedded mode. Every
 * step is bounded: connect never blocks (a full listen backlog is retried
 * until ATTACH_MS), connect and HELLO together take at most ATTACH_MS,
 * each later call TIMEOUT_MS. A node that runs out of time is treated as
 * missing for STALLED_MS, and a one-line warning names its pid. The next
 * call re-attaches when a node is there again (at most one attempt per
 * RETRY_MS) and re-announces with HOLD every reference this handle still
 * holds, so a restarted node's counts are right again. Mappings never
 * depend on the connection: a dataframe stays readable whatever happens
 * to the node.
 *
 * A handle inherited across fork() is not used by the child: the child
 * sees a pid other than the one that connected, drops its copy of the
 * socket (the parent's connection is untouched) and attaches anew,
 * holding what it inherited.
 *
 * Access rules: every field below `mu` is guarded by mu; refs is atomic.
 * The store handle and each dataframe got through the node own one
 * reference each, and dataframes may be released from any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "df/df.h"
#include "node/node.h"
#include "node/remote.h"
#include "shm/shm.h"
#include "util/clock.h"
#include "util/log.h"

#define TIMEOUT_MS 5000 /* a node silent this long is treated as gone */
#define ATTACH_MS 1000  /* connect + HELLO: a node slower than this is gone */
#define RETRY_MS 100    /* between re-attach attempts */
#define STALLED_MS 30000 /* after a node timed out: the files, this long */
#define GET_RETRIES 64

struct hold {
	uint64_t id;
	uint32_t count;
};

struct eau2_node_client {
	atomic_int refs;
	pthread_mutex_t mu;
	char *dir;
	int fd;          /* -1: not attached */
	pid_t pid;       /* the process that owns fd */
	pid_t node_pid;
	uint32_t node_rev; /* HELLO's revision: 2 serves RUN */
	const volatile int *cancel; /* during a RUN: the caller's cancel flag */
	uint64_t next_req;
	int64_t last_try_ms;
	int64_t stalled_until_ms; /* a node that timed out: not asked before */
	int timed_out;   /* the last send or receive ran out of time */
	struct hold *held;
	size_t nheld, cap;
	uint8_t *buf;    /* one message */
};

/* --------------------------------------------------------- held table */

static struct hold *held_find(struct eau2_node_client *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->nheld; i++)
		if (c->held[i].id == id)
			return &c->held[i];
	return NULL;
}

static int held_add(struct eau2_node_client *c, uint64_t id)
{
	struct hold *h = held_find(c, id);

	if (h) {
		h->count++;
		return 0;
	}
	if (c->nheld == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct hold *p = realloc(c->held, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->held = p;
		c->cap = cap;
	}
	c->held[c->nheld++] = (struct hold){ id, 1 };
	return 0;
}

/* 0 when id was held (one reference dropped), -ENOENT when not. */
static int held_drop(struct eau2_node_client *c, uint64_t id)
{
	struct hold *h = held_find(c, id);

	if (!h)
		return -ENOENT;
	if (--h->count == 0)
		*h = c->held[--c->nheld];
	return 0;
}

/* --------------------------------------------------------- connection */

static void drop_locked(struct eau2_node_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int send_req(struct eau2_node_client *c, uint16_t type, const void *payload,
		    uint32_t len, uint64_t *req)
{
	struct eau2_node_hdr h = {
		.magic = EAU2_NODE_MAGIC, .version = EAU2_NODE_VERSION,
		.type = type, .len = len, .req = ++c->next_req,
	};
	int rc = eau2_node_send(c->fd, &h, payload, NULL, 0);

	if (rc == -EAGAIN)
		c->timed_out = 1;
	if (rc)
		drop_locked(c);
	if (req)
		*req = h.req;
	return rc ? -ENOTCONN : 0;
}

struct reply {
	uint8_t *data; /* joined payloads */
	size_t len, cap;
	int *fds;
	size_t nfds, fds_cap;
	uint8_t first[16]; /* the first part's first 16 payload bytes (GET) */
};

static void reply_free(struct reply *r)
{
	size_t i;

	for (i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	free(r->fds);
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static int reply_add_fds(struct reply *r, const int *fds, size_t n)
{
	if (r->nfds + n > r->fds_cap) {
		size_t cap = r->fds_cap ? r->fds_cap * 2 : 16;
		int *p;

		while (cap < r->nfds + n)
			cap *= 2;
		p = realloc(r->fds, cap * sizeof(int));
		if (!p)
			return -ENOMEM;
		r->fds = p;
		r->fds_cap = cap;
	}
	memcpy(r->fds + r->nfds, fds, n * sizeof(int));
	r->nfds += n;
	return 0;
}

static int reply_add_data(struct reply *r, const uint8_t *p, size_t n)
{
	if (r->len + n > EAU2_NODE_REPLY_MAX)
		return -EMSGSIZE;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		uint8_t *q;

		while (cap < r->len + n)
			cap *= 2;
		q = realloc(r->data, cap);
		if (!q)
			return -ENOMEM;
		r->data = q;
		r->cap = cap;
	}
	if (n)
		memcpy(r->data + r->len, p, n);
	r->len += n;
	return 0;
}

/* Receives the (possibly multi-part) reply to request `req`. Returns 0,
 * the node's error code with its message in err, or -ENOTCONN after
 * dropping the connection (lost, timed out, or the node misbehaved). For
 * GET, every part's payload is checked to repeat the first one's id and
 * count and to number its fds in order, and only descriptors are kept. */
static int recv_reply(struct eau2_node_client *c, uint16_t type, uint64_t req,
		      struct reply *r, struct eau2_error *err)
{
	int fds[EAU2_NODE_FDS_MAX];
	struct eau2_node_hdr h;
	size_t nfds, k;
	ssize_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if (c->cancel) {
			/* A RUN: wait in slices, so that the caller's cancel
			 * flag (set by a signal handler) is seen. */
			struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
			int64_t until = eau2_mono_ms() + TIMEOUT_MS;
			int ready = 0;

			while (!ready && !*c->cancel && eau2_mono_ms() < until)
				ready = poll(&pfd, 1, 100) > 0;
			if (*c->cancel) {
				reply_free(r);
				drop_locked(c); /* the node cancels the run */
				return eau2_error_set(err, -ECANCELED, "cancelled");
			}
			if (!ready) {
				c->timed_out = 1;
				goto lost;
			}
		}
		n = eau2_node_recv(c->fd, c->buf, fds, &nfds, 0);
		if (n == -EAGAIN)
			c->timed_out = 1; /* SO_RCVTIMEO ran out */
		if (n <= 0)
			goto lost;
		rc = eau2_node_hdr_decode(c->buf, (size_t)n, &h, NULL);
		if (rc || h.nfds != nfds)
			goto bad;
		if (h.req != req) { /* a late reply to a request that timed out */
			for (k = 0; k < nfds; k++)
				close(fds[k]);
			continue;
		}
		if (h.type != (type | EAU2_NODE_REPLY))
			goto bad;
		if (h.code < 0) {
			for (k = 0; k < nfds; k++)
				close(fds[k]);
			reply_free(r);
			/* -ENOTCONN means "no node" to callers; codes
			 * outside errno's range are the node's bug. */
			rc = h.code == -ENOTCONN || h.code < -4095 ? -EIO : h.code;
			return eau2_error_set(err, rc, "%.*s", (int)h.len,
					      (const char *)c->buf + EAU2_NODE_HDR_SIZE);
		}
		if (type == EAU2_NODE_RUN && h.len == 0 && nfds == 0 &&
		    (h.flags & EAU2_NODE_F_MORE))
			continue; /* a keepalive of a run that waits or computes */
		if (type == EAU2_NODE_GET || (type == EAU2_NODE_RUN && h.len == 16)) {
			const uint8_t *p = c->buf + EAU2_NODE_HDR_SIZE;

			if (h.len != 16)
				goto bad;
			if (r->nfds == 0 && !r->data)
				memcpy(r->first, p, 16);
			if (memcmp(r->first, p, 12) ||
			    eau2_node_get_u32(p + 12) != r->nfds)
				goto bad;
			if (reply_add_fds(r, fds, nfds))
				goto oom;
			nfds = 0;
			if (!r->data && !(r->data = malloc(1)))
				goto oom;
		} else if (nfds || reply_add_data(r, c->buf + EAU2_NODE_HDR_SIZE, h.len)) {
			goto bad;
		}
		if (!(h.flags & EAU2_NODE_F_MORE))
			return 0;
	}
oom:
	for (k = 0; k < nfds; k++)
		close(fds[k]);
	reply_free(r);
	drop_locked(c);
	return eau2_error_set(err, -ENOMEM, "out of memory");
bad:
	for (k = 0; k < nfds; k++)
		close(fds[k]);
lost:
	reply_free(r);
	drop_locked(c);
	return -ENOTCONN;
}

static void set_timeout(int fd, int64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The pid in the store's node.lock, or 0. */
static pid_t lock_pid(const char *dir)
{
	char path[4200], buf[16];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/" EAU2_NODE_LOCK, dir);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return (pid_t)strtol(buf, NULL, 10);
}

/* A node that did not answer in time is treated as missing for
 * STALLED_MS: calls go to the files, and say so once. */
static void stalled_locked(struct eau2_node_client *c, pid_t pid, int64_t ms)
{
	if (!pid)
		pid = lock_pid(c->dir);
	eau2_warn("eau2-node (pid %d) on %s/" EAU2_NODE_SOCK " did not answer within "
		  "%lld ms: using the store's files", (int)pid, c->dir, (long long)ms);
	c->stalled_until_ms = eau2_mono_ms() + STALLED_MS;
	c->timed_out = 0;
}

/* Attaches when not attached: connect, HELLO, then HOLD what is held.
 * Bounded: a full listen backlog (a stopped node) is retried, without
 * blocking, and connect and HELLO together take at most ATTACH_MS. */
static int connect_locked(struct eau2_node_client *c)
{
	struct sockaddr_un addr;
	struct ucred cred = {0};
	socklen_t cred_len = sizeof(cred);
	struct reply r;
	unsigned len;
	uint8_t p[12];
	uint64_t req;
	int64_t deadline, left;
	int dirfd = -1, rc, busy = 0;
	size_t i;

	if (c->fd >= 0 && c->pid == getpid())
		return 0;
	if (c->fd >= 0) { /* inherited: the parent's connection, not ours */
		close(c->fd);
		c->fd = -1;
		c->last_try_ms = 0;
	}
	if (c->last_try_ms && eau2_mono_ms() - c->last_try_ms < RETRY_MS)
		return -ENOTCONN;
	if (c->stalled_until_ms && eau2_mono_ms() < c->stalled_until_ms)
		return -ENOTCONN;
	c->last_try_ms = eau2_mono_ms();
	deadline = c->last_try_ms + ATTACH_MS;
	c->timed_out = 0;
	if (eau2_node_sockaddr(c->dir, -1, &addr, &len)) {
		dirfd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0 || eau2_node_sockaddr(c->dir, dirfd, &addr, &len))
			goto fail;
	}
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		goto fail;
	/* A Unix socket's connect does not wait when non-blocking: it fails
	 * with EAGAIN while the node's backlog is full. */
	while (connect(c->fd, (struct sockaddr *)&addr, len) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || eau2_mono_ms() >= deadline)
			goto fail;
		busy = 1;
		usleep(10000);
	}
	busy = 0;
	if (dirfd >= 0)
		close(dirfd);
	dirfd = -1;
	c->pid = getpid();
	getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len);
	if (fcntl(c->fd, F_SETFL, 0) < 0)
		goto fail;
	left = deadline - eau2_mono_ms();
	set_timeout(c->fd, left > 1 ? left : 1);
	eau2_node_put_u32(p, EAU2_NODE_VERSION);
	eau2_node_put_u32(p + 4, (uint32_t)getpid());
	if (send_req(c, EAU2_NODE_HELLO, p, 8, &req))
		goto fail;
	rc = recv_reply(c, EAU2_NODE_HELLO, req, &r, NULL);
	if (rc || r.len != 8) {
		reply_free(&r);
		goto fail;
	}
	c->node_rev = eau2_node_get_u32(r.data);
	c->node_pid = (pid_t)eau2_node_get_u32(r.data + 4);
	reply_free(&r);
	set_timeout(c->fd, TIMEOUT_MS);
	for (i = 0; i < c->nheld; i++) {
		eau2_node_put_u64(p, c->held[i].id);
		eau2_node_put_u32(p + 8, c->held[i].count);
		if (send_req(c, EAU2_NODE_HOLD, p, 12, NULL))
			return -ENOTCONN;
	}
	return 0;
fail:
	if (dirfd >= 0)
		close(dirfd);
	drop_locked(c);
	if (busy || c->timed_out)
		stalled_locked(c, cred.pid, ATTACH_MS);
	return -ENOTCONN;
}

int eau2_node_attach(const char *dir, struct eau2_node_client **out,
		     struct eau2_error *err)
{
	struct eau2_node_client *c;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->mu, NULL);
	c->fd = -1;
	c->dir = strdup(dir);
	c->buf = malloc(EAU2_NODE_MSG_MAX);
	if (!c->dir || !c->buf) {
		eau2_node_client_unref(c);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&c->mu);
	connect_locked(c);
	pthread_mutex_unlock(&c->mu);
	*out = c;
	return 0;
}

int eau2_node_attached(struct eau2_node_client *c)
{
	int on;

	pthread_mutex_lock(&c->mu);
	on = c->fd >= 0 && c->pid == getpid();
	pthread_mutex_unlock(&c->mu);
	return on;
}

struct eau2_node_client *eau2_node_client_ref(struct eau2_node_client *c)
{
	if (c)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void eau2_node_client_unref(struct eau2_node_client *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (c->fd >= 0)
		close(c->fd);
	pthread_mutex_destroy(&c->mu);
	free(c->held);
	free(c->buf);
	free(c->dir);
	free(c);
}

/* ---------------------------------------------------------------- calls */

/* One request and its reply, attaching first when needed. */
static int roundtrip(struct eau2_node_client *c, uint16_t type, const void *payload,
		     uint32_t len, struct reply *r, struct eau2_error *err)
{
	uint64_t req;
	int rc = connect_locked(c);

	if (rc)
		return rc;
	rc = send_req(c, type, payload, len, &req);
	if (!rc)
		rc = recv_reply(c, type, req, r, err);
	if (rc == -ENOTCONN && c->timed_out)
		stalled_locked(c, c->node_pid, TIMEOUT_MS);
	return rc;
}

static void release_locked(struct eau2_node_client *c, uint64_t id)
{
	uint8_t p[12];

	if (held_drop(c, id))
		return; /* never counted by a node (or already released) */
	if (c->fd < 0 || c->pid != getpid())
		return; /* the next attach announces only what is still held */
	eau2_node_put_u64(p, id);
	eau2_node_put_u32(p + 8, 1);
	send_req(c, EAU2_NODE_RELEASE, p, 12, NULL);
}

void eau2_node_release(struct eau2_node_client *c, uint64_t id)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	release_locked(c, id);
	pthread_mutex_unlock(&c->mu);
}

/* The descriptor's segment sizes must be the sizes of the files we got. */
static int check_seg_sizes(const eau2_df *df, struct eau2_error *err)
{
	const struct eau2_desc_hdr *h = df->desc;
	const uint8_t *p = (const uint8_t *)df->desc + sizeof(*h) +
			   ((h->ncols + 7u) & ~7u) + h->names_len;
	size_t i;

	for (i = 0; i < df->nsegs; i++) {
		uint64_t want;

		memcpy(&want, p + i * 8, 8);
		if (want != df->segs[i].size)
			return eau2_error_set(err, -EBADMSG,
					      "dataframe %016llx: segment %zu is %llu bytes, its descriptor says %llu",
					      (unsigned long long)df->id, i,
					      (unsigned long long)df->segs[i].size,
					      (unsigned long long)want);
	}
	return 0;
}

/* Maps the segment fds of r (after the descriptor's) read-only. */
static int map_segs(const struct reply *r, uint32_t nsegs, struct eau2_df_seg **out,
		    struct eau2_error *err)
{
	struct eau2_df_seg *segs = calloc(nsegs ? nsegs : 1, sizeof(*segs));
	uint32_t i;
	int rc = 0;

	if (!segs)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < nsegs; i++) {
		struct stat st;
		void *p;

		if (fstat(r->fds[1 + i], &st) < 0) {
			rc = eau2_error_set(err, -errno, "segment %u: %s", i, strerror(errno));
			break;
		}
		p = mmap(NULL, st.st_size ? (size_t)st.st_size : 1, PROT_READ, MAP_SHARED,
			 r->fds[1 + i], 0);
		if (p == MAP_FAILED) {
			rc = eau2_error_set(err, -errno, "segment %u: mmap: %s", i, strerror(errno));
			break;
		}
#ifdef MADV_HUGEPAGE
		madvise(p, (size_t)st.st_size, MADV_HUGEPAGE);
#endif
		segs[i].base = p;
		segs[i].size = (uint64_t)st.st_size;
		segs[i].map_len = st.st_size ? (uint64_t)st.st_size : 1;
	}
	if (rc) {
		while (i > 0) {
			i--;
			munmap((void *)segs[i].base, segs[i].map_len);
		}
		free(segs);
		return rc;
	}
	*out = segs;
	return 0;
}

/* The dataframe whose fds a GET-style reply r carries (r is freed),
 * counted as held. -ENOTCONN: a node that breaks the protocol (dropped);
 * -ENOENT: its files went since the node opened them. */
static int take_df(struct eau2_node_client *c, struct eau2_store *db, struct reply *r,
		   uint64_t *idp, eau2_df **df, struct eau2_error *err)
{
	struct eau2_df_seg *segs = NULL;
	uint64_t id = eau2_node_get_u64(r->first);
	uint32_t nsegs = eau2_node_get_u32(r->first + 8);
	int rc;

	*idp = id;
	if (id == 0 || nsegs > EAU2_NODE_SEGS_MAX || r->nfds != 1 + (size_t)nsegs) {
		reply_free(r);
		drop_locked(c); /* a node that breaks the protocol */
		return -ENOTCONN;
	}
	/* The node counted the reference when it sent the fds. */
	if (held_add(c, id)) {
		uint8_t p[12];

		eau2_node_put_u64(p, id);
		eau2_node_put_u32(p + 8, 1);
		send_req(c, EAU2_NODE_RELEASE, p, 12, NULL);
		reply_free(r);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	rc = map_segs(r, nsegs, &segs, err);
	reply_free(r); /* mappings keep the files; fds are not needed */
	if (!rc) {
		/* The descriptor is opened by name (eau2_df_open_id):
		 * -ENOENT when a writer replaced the key and removed
		 * the files since the node opened them. */
		rc = eau2_df_open_id(db, id, segs, nsegs, -1, df, err);
		if (!rc && (rc = check_seg_sizes(*df, err))) {
			eau2_df_release(*df);
			*df = NULL;
		}
	}
	if (rc)
		release_locked(c, id);
	return rc;
}

int eau2_node_get(struct eau2_node_client *c, struct eau2_store *db, const char *key,
		  eau2_df **df, struct eau2_error *err)
{
	char name[256];
	struct reply r;
	uint64_t id = 0;
	int rc = 0, tries, vanished = 1, node_err = 0;

	*df = NULL;
	/* A key the node would refuse: the embedded path words the error. */
	if (eau2_shm_key_encode(key, name, NULL))
		return -ENOTCONN;
	pthread_mutex_lock(&c->mu);
	for (tries = 0; tries < GET_RETRIES && vanished; tries++) {
		vanished = 0;
		rc = roundtrip(c, EAU2_NODE_GET, key, (uint32_t)strlen(key), &r, err);
		if (rc) {
			node_err = 1; /* the node's own message, or -ENOTCONN */
			break;
		}
		rc = take_df(c, db, &r, &id, df, err);
		vanished = rc == -ENOENT; /* replaced meanwhile: ask again */
		if (rc == -ENOTCONN || (rc && !vanished))
			break;
	}
	pthread_mutex_unlock(&c->mu);
	/* The node out of descriptors or memory: the files still serve. */
	if (node_err && (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM))
		rc = -ENOTCONN;
	if (vanished)
		return eau2_error_set(err, -EBADMSG,
				      "key '%s' names dataframe %016llx whose files are missing",
				      key, (unsigned long long)id);
	if (rc && !node_err && rc != -ENOTCONN)
		return eau2_error_prefix(err, rc, "key '%s'", key);
	return rc;
}

int eau2_node_run(struct eau2_node_client *c, struct eau2_store *db, const char *rower,
		  const struct eau2_args *args, const char *key, const char *as,
		  unsigned threads, const volatile int *cancel, eau2_df **result,
		  uint64_t *rows, struct eau2_error *err)
{
	static const volatile int never;
	struct eau2_remote_run_req q = {
		.rower = rower, .key = key ? key : "", .as = as ? as : "", .threads = threads,
	};
	struct reply r;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t id = 0;
	int rc, broken = 0;

	*result = NULL;
	*rows = 0;
	if (args)
		q.args = *args;
	/* What the node cannot take, the caller runs in-process. */
	if (eau2_remote_run_encode(&q, &buf, &len, NULL) || len > EAU2_NODE_PAYLOAD_MAX) {
		free(buf);
		return -ENOTCONN;
	}
	pthread_mutex_lock(&c->mu);
	rc = connect_locked(c);
	if (!rc && c->node_rev < 2)
		rc = -ENOTCONN; /* a node from before RUN */
	if (!rc) {
		c->cancel = cancel ? cancel : &never;
		rc = roundtrip(c, EAU2_NODE_RUN, buf, (uint32_t)len, &r, err);
		c->cancel = NULL;
	}
	if (!rc && as && as[0]) {
		if (r.len == 12)
			*rows = eau2_node_get_u64(r.data);
		else
			broken = 1;
		reply_free(&r);
	} else if (!rc && !r.nfds) {
		broken = 1;
		reply_free(&r);
	} else if (!rc) {
		rc = take_df(c, db, &r, &id, result, err);
		/* the node keeps the result's files until released */
		if (rc == -ENOENT)
			rc = eau2_error_set(err, -EIO, "run %s: the node's result %016llx "
					    "has no files", rower, (unsigned long long)id);
		if (!rc)
			*rows = eau2_df_rows(*result);
	}
	if (broken) {
		drop_locked(c); /* a node that breaks the protocol */
		rc = -ENOTCONN;
	}
	pthread_mutex_unlock(&c->mu);
	free(buf);
	return rc;
}

int eau2_node_list(struct eau2_node_client *c, char ***keys, size_t *n,
		   struct eau2_error *err)
{
	struct reply r;
	int rc;

	pthread_mutex_lock(&c->mu);
	rc = roundtrip(c, EAU2_NODE_LIST, NULL, 0, &r, err);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return rc;
	rc = eau2_node_list_decode(r.data, r.len, keys, n, err);
	reply_free(&r);
	return rc;
}

int eau2_node_delete(struct eau2_node_client *c, const char *key,
		     struct eau2_error *err)
{
	char name[256];
	struct reply r;
	int rc;

	if (eau2_shm_key_encode(key, name, NULL))
		return -ENOTCONN;
	pthread_mutex_lock(&c->mu);
	rc = roundtrip(c, EAU2_NODE_DELETE, key, (uint32_t)strlen(key), &r, err);
	pthread_mutex_unlock(&c->mu);
	if (!rc)
		reply_free(&r);
	return rc;
}

int eau2_node_status(struct eau2_node_client *c, struct eau2_node_status **st,
		     struct eau2_error *err)
{
	struct reply r;
	int rc;

	*st = NULL;
	pthread_mutex_lock(&c->mu);
	rc = roundtrip(c, EAU2_NODE_STATUS, NULL, 0, &r, err);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		return rc == -ENOTCONN ?
			eau2_error_set(err, rc, "no eau2-node serves store %s", c->dir) : rc;
	rc = eau2_node_status_decode(r.data, r.len, st, err);
	reply_free(&r);
	return rc;
}
