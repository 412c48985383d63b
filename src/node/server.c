/* SPDX-License-Identifier: MIT */
/*
 * server.c - the eau2-node event loop: one thread, one epoll set holding
 * the listening socket, a signalfd (SIGTERM, SIGINT), an eventfd (stop
 * requests) and every client connection. Requests are small and answered
 * at once, so a single thread serves thousands of clients; the only
 * blocking calls are sends of replies, bounded by SO_SNDTIMEO (a client
 * that stops reading for that long is dropped).
 *
 * Reference counts: each connection holds a small array of (id, count),
 * raised by GET and HOLD and lowered by RELEASE; closing the connection
 * (clean exit, crash, SIGKILL) drops all of it. The node itself never maps
 * or keeps open a dataframe's files (it opens them for the duration of one
 * GET), so a deleted dataframe's pages are freed by the kernel as soon as
 * the last client unmaps them: the counts here are the node's view of
 * that, shown by STATUS, not what keeps the pages alive.
 *
 * Access rules: everything in struct eau2_node_server and struct conn is
 * owned by the thread in eau2_node_server_run; only stop_fd and the
 * counters in `stats` are touched from elsewhere (eau2_node_server_stop
 * writes stop_fd, which is async-signal-safe; the loop alone writes the
 * counters, relaxed atomics that eau2_node_server_stats reads from any
 * thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "df/df.h"
#include "node/lrun.h"
#include "node/node.h"
#include "node/rstats.h"
#include "shm/shm.h"
#include "util/clock.h"

#define SEND_TIMEOUT_MS 2000
#define MSGS_PER_WAKE 64   /* requests served per connection per wake-up */
#define GET_RETRIES 64

struct hold {
	uint64_t id;
	uint32_t count;
};

struct conn {
	int fd;
	unsigned serial; /* for the log: conn#N */
	pid_t pid;
	uid_t uid;
	int hello;
	struct hold *holds; /* unsorted: a client holds few ids */
	size_t nholds, cap;
	uint64_t requests;
	/* RUN: queued runs (oldest first), the turn it last had, and the
	 * results (no `as`) it holds, kept until released or closed */
	struct eau2_node_job *jobs, *jobs_tail;
	unsigned njobs;
	uint64_t last_turn;
	eau2_df **results;
	size_t nresults, rcap;
};

struct eau2_node_server {
	struct eau2_store *db;
	int lock_fd;
	int listen_fd;
	int epfd;
	int sig_fd;
	int stop_fd;
	int log_fd;
	int quiet;
	int no_runs;
	int run_failed; /* the run thread did not start: RUN is refused */
	int bound; /* node.sock is ours to remove */
	int spare_fd; /* /dev/null, given up to accept-and-close at EMFILE */
	sigset_t oldmask;
	int masked;
	struct conn **conns;
	size_t nconns, cap;
	unsigned serial;
	uint8_t *buf;  /* one received message */
	uint8_t *out;  /* one reply payload */
	/* RUN (lrun.h): the run thread, started with the loop; the job it
	 * has; runs queued on connections; turns given */
	struct eau2_node_runner *runner;
	struct eau2_rstats *rstats; /* the runs (warm and remote), its own lock */
	int run_fd;
	struct eau2_node_job *running;
	unsigned queued;
	uint64_t turn;
	int64_t keepalive_ms;
	struct {
		_Atomic uint64_t clients, connects, refused, requests, gets, runs, run_hits;
	} stats;
};

/* The loop is the only writer: a relaxed add is enough for readers. */
#define STAT_ADD(s, f, n) atomic_fetch_add_explicit(&(s)->stats.f, (n), memory_order_relaxed)

/* Tags that tell the fixed descriptors from connections in epoll data. */
static char tag_listen, tag_signal, tag_stop, tag_run;

static void logf_(struct eau2_node_server *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logf_(struct eau2_node_server *s, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (s->log_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "eau2-node[%d] %02d:%02d:%02d.%03ld ",
		     (int)getpid(), tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(s->log_fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

/* ------------------------------------------------------------ open/close */

static int read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = 0;
	return atoi(buf);
}

static int write_pid(struct eau2_node_server *s, struct eau2_error *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, buf, (size_t)n, 0) != n)
		return eau2_error_set(err, errno ? -errno : -EIO, "store %s: writing " EAU2_NODE_LOCK ": %s",
				      s->db->dir, strerror(errno));
	return 0;
}

static int epoll_add(int epfd, int fd, void *ptr, uint32_t events);

int eau2_node_server_forked(struct eau2_node_server *s, struct eau2_error *err)
{
	sigset_t set;
	int fd, rc;

	/* A signalfd wakes the epoll sets of the process that made it, so
	 * the child makes its own. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return eau2_error_set(err, -errno, "node: signalfd: %s", strerror(errno));
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->sig_fd, NULL);
	close(s->sig_fd);
	s->sig_fd = fd;
	rc = epoll_add(s->epfd, fd, &tag_signal, EPOLLIN);
	if (rc)
		return eau2_error_set(err, rc, "node: epoll: %s", strerror(-rc));
	return write_pid(s, err);
}

static int take_lock(struct eau2_node_server *s, struct eau2_error *err)
{
	const char *dir = s->db->dir;

	s->lock_fd = openat(s->db->dirfd, EAU2_NODE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return eau2_error_set(err, -errno, "store %s: " EAU2_NODE_LOCK ": %s", dir,
				      strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = -errno;

		if (rc == -EWOULDBLOCK) {
			int pid = read_pid(s->lock_fd);

			if (pid > 0)
				return eau2_error_set(err, -EBUSY,
						      "store %s is already served by eau2-node pid %d (it holds %s/" EAU2_NODE_LOCK ")",
						      dir, pid, dir);
			return eau2_error_set(err, -EBUSY,
					      "store %s is already served by another eau2-node (it holds %s/" EAU2_NODE_LOCK ")",
					      dir, dir);
		}
		return eau2_error_set(err, rc, "store %s: locking " EAU2_NODE_LOCK ": %s", dir,
				      strerror(-rc));
	}
	return write_pid(s, err);
}

static int bind_socket(struct eau2_node_server *s, struct eau2_error *err)
{
	struct sockaddr_un addr;
	unsigned len;
	const char *dir = s->db->dir;
	int rc;

	if (eau2_node_sockaddr(dir, s->db->dirfd, &addr, &len))
		return eau2_error_set(err, -ENAMETOOLONG, "store %s: socket path too long", dir);
	s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		return eau2_error_set(err, -errno, "socket: %s", strerror(errno));
	/* We hold node.lock, so a socket file left here is a dead node's. */
	if (unlinkat(s->db->dirfd, EAU2_NODE_SOCK, 0) < 0 && errno != ENOENT)
		return eau2_error_set(err, -errno, "store %s: removing stale " EAU2_NODE_SOCK ": %s",
				      dir, strerror(errno));
	if (bind(s->listen_fd, (struct sockaddr *)&addr, len) < 0)
		return eau2_error_set(err, -errno, "store %s: bind %s: %s", dir, addr.sun_path,
				      strerror(errno));
	s->bound = 1;
	fchmodat(s->db->dirfd, EAU2_NODE_SOCK, 0600, 0);
	if (listen(s->listen_fd, 128) < 0) {
		rc = -errno;
		return eau2_error_set(err, rc, "store %s: listen: %s", dir, strerror(-rc));
	}
	return 0;
}

static int epoll_add(int epfd, int fd, void *ptr, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* A GET opens 1 + nsegs files at once: take the hard limit. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int eau2_node_server_open(struct eau2_node_server **out, const char *dir,
			  const struct eau2_node_server_opts *opts,
			  struct eau2_error *err)
{
	struct eau2_node_server *s;
	sigset_t set;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	s->lock_fd = s->listen_fd = s->epfd = s->sig_fd = s->stop_fd = s->run_fd = -1;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s->log_fd = opts ? opts->log_fd : 2;
	s->quiet = opts ? opts->quiet : 0;
	s->no_runs = opts ? opts->no_runs : 0;
	s->buf = malloc(EAU2_NODE_MSG_MAX);
	s->out = malloc(EAU2_NODE_PAYLOAD_MAX);
	s->rstats = eau2_rstats_new();
	if (!s->buf || !s->out || !s->rstats) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	/* The store itself, not a facade's handle: nothing in the node
	 * attaches to a node (least of all to itself). */
	rc = eau2_shm_open(&s->db, dir, err);
	if (rc)
		goto fail;
	if ((rc = take_lock(s, err)) || (rc = bind_socket(s, err)))
		goto fail;
	raise_nofile();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked from here on, so a SIGTERM before the loop runs is not
	 * lost and does not kill the node uncleanly. */
	sigprocmask(SIG_BLOCK, &set, &s->oldmask);
	s->masked = 1;
	s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->sig_fd < 0 || s->stop_fd < 0 || s->epfd < 0) {
		rc = eau2_error_set(err, -errno, "node: %s", strerror(errno));
		goto fail;
	}
	if ((rc = epoll_add(s->epfd, s->listen_fd, &tag_listen, EPOLLIN)) ||
	    (rc = epoll_add(s->epfd, s->sig_fd, &tag_signal, EPOLLIN)) ||
	    (rc = epoll_add(s->epfd, s->stop_fd, &tag_stop, EPOLLIN))) {
		eau2_error_set(err, rc, "node: epoll: %s", strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	eau2_node_server_close(s);
	return rc;
}

const char *eau2_node_server_dir(const struct eau2_node_server *s)
{
	return s->db->dir;
}

void eau2_node_server_stats(const struct eau2_node_server *s,
			    struct eau2_node_server_stats *st)
{
	/* atomic_load takes a pointer to non-const in C17. */
	struct eau2_node_server *m = (struct eau2_node_server *)s;

	st->clients = atomic_load_explicit(&m->stats.clients, memory_order_relaxed);
	st->connects = atomic_load_explicit(&m->stats.connects, memory_order_relaxed);
	st->refused = atomic_load_explicit(&m->stats.refused, memory_order_relaxed);
	st->requests = atomic_load_explicit(&m->stats.requests, memory_order_relaxed);
	st->gets = atomic_load_explicit(&m->stats.gets, memory_order_relaxed);
	st->runs = atomic_load_explicit(&m->stats.runs, memory_order_relaxed);
	st->run_hits = atomic_load_explicit(&m->stats.run_hits, memory_order_relaxed);
}

void eau2_node_server_set_log(struct eau2_node_server *s, int fd)
{
	s->log_fd = fd;
}

void eau2_node_server_stop(struct eau2_node_server *s)
{
	uint64_t one = 1;

	if (write(s->stop_fd, &one, sizeof(one)) < 0) {
		/* already signalled (counter full) */
	}
}

/* Lets a run's result go. Unpublished, its files go with it, unless the
 * client put it under a key meanwhile (it may: the dataframe it mapped
 * is in this store): then the key keeps them. The client's put is done
 * by then: it releases the result (or dies) after. One scan of the keys. */
static void result_drop(struct eau2_node_server *s, eau2_df *df)
{
	if (df->lock_fd >= 0 && eau2_shm_id_referenced(s->db, df->id)) {
		eau2_shm_id_published(s->db, df->id, df->lock_fd);
		df->lock_fd = -1;
	}
	eau2_df_release(df);
}

/* Drops c's queued runs and its results, and cancels its running one. */
static void conn_drop_runs(struct eau2_node_server *s, struct conn *c)
{
	while (c->jobs) {
		struct eau2_node_job *j = c->jobs;

		c->jobs = j->next;
		eau2_node_job_free(j);
		s->queued--;
	}
	c->jobs_tail = NULL;
	c->njobs = 0;
	if (s->running && s->running->owner == c) {
		s->running->owner = NULL;
		s->running->cancel = 1;
	}
	while (c->nresults)
		result_drop(s, c->results[--c->nresults]);
	free(c->results);
	c->results = NULL;
}

static void conn_free(struct eau2_node_server *s, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	conn_drop_runs(s, c);
	free(c->holds);
	free(c);
}

void eau2_node_server_close(struct eau2_node_server *s)
{
	size_t i;

	if (!s)
		return;
	/* The runner frees the job it has; the connections their queues. */
	eau2_node_runner_stop(s->runner);
	s->runner = NULL;
	s->running = NULL;
	for (i = 0; i < s->nconns; i++)
		conn_free(s, s->conns[i]);
	free(s->conns);
	/* The socket goes before the lock: a next node binds only once it
	 * holds the lock. */
	if (s->bound)
		unlinkat(s->db->dirfd, EAU2_NODE_SOCK, 0);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->lock_fd >= 0) {
		/* node.lock itself stays: unlinking it would let two nodes
		 * lock two different files. */
		if (s->bound && ftruncate(s->lock_fd, 0) < 0) {
			/* a stale pid is harmless: it is read only while locked */
		}
		close(s->lock_fd);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->sig_fd >= 0)
		close(s->sig_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	eau2_shm_close(s->db);
	if (s->masked)
		sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
	free(s->buf);
	free(s->out);
	eau2_rstats_free(s->rstats);
	free(s);
}

struct eau2_rstats *eau2_node_server_rstats(struct eau2_node_server *s)
{
	return s->rstats;
}

size_t eau2_node_server_runs(struct eau2_node_server *s, uint64_t *running,
			     struct eau2_remote_rower_runs *rower, size_t cap,
			     struct eau2_remote_run_item *item, size_t icap, size_t *nitems)
{
	return eau2_rstats_runs(s->rstats, running, rower, cap, item, icap, nitems);
}

/* ------------------------------------------------------------ holds */

static struct hold *hold_find(struct conn *c, uint64_t id)
{
	size_t i;

	for (i = 0; i < c->nholds; i++)
		if (c->holds[i].id == id)
			return &c->holds[i];
	return NULL;
}

static int hold_add(struct conn *c, uint64_t id, uint32_t count)
{
	struct hold *h = hold_find(c, id);

	if (h) {
		if (h->count > UINT32_MAX - count)
			return -EOVERFLOW;
		h->count += count;
		return 0;
	}
	if (c->nholds >= EAU2_NODE_HOLDS_MAX)
		return -ENOSPC;
	if (c->nholds == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct hold *p = realloc(c->holds, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->holds = p;
		c->cap = cap;
	}
	c->holds[c->nholds++] = (struct hold){ id, count };
	return 0;
}

static int hold_drop(struct conn *c, uint64_t id, uint32_t count)
{
	struct hold *h = hold_find(c, id);

	if (!h || h->count < count)
		return -ENOENT;
	h->count -= count;
	if (h->count == 0)
		*h = c->holds[--c->nholds];
	return 0;
}

/* ------------------------------------------------------------ replies */

static int reply(struct conn *c, const struct eau2_node_hdr *req, int code,
		 uint32_t flags, const void *payload, uint32_t len,
		 const int *fds, uint32_t nfds)
{
	struct eau2_node_hdr h = {
		.magic = EAU2_NODE_MAGIC, .version = EAU2_NODE_VERSION,
		.type = (uint16_t)(req->type | EAU2_NODE_REPLY), .flags = flags,
		.len = len, .req = req->req, .code = code, .nfds = nfds,
	};

	return eau2_node_send(c->fd, &h, payload, fds, nfds);
}

static int reply_error(struct conn *c, const struct eau2_node_hdr *req,
		       const struct eau2_error *err)
{
	size_t len = strnlen(err->msg, sizeof(err->msg));

	return reply(c, req, err->code < 0 ? err->code : -EIO, 0, err->msg,
		     (uint32_t)len, NULL, 0);
}

/* Sends buf (len bytes) as one reply in parts of at most a payload. */
static int reply_parts(struct conn *c, const struct eau2_node_hdr *req,
		       const uint8_t *buf, size_t len)
{
	size_t off = 0;
	int rc;

	do {
		size_t part = len - off > EAU2_NODE_PAYLOAD_MAX ? EAU2_NODE_PAYLOAD_MAX : len - off;

		rc = reply(c, req, 0, off + part < len ? EAU2_NODE_F_MORE : 0,
			   buf + off, (uint32_t)part, NULL, 0);
		off += part;
	} while (!rc && off < len);
	return rc;
}

/* ------------------------------------------------------------ requests */

static void key_of(const struct eau2_node_hdr *h, const uint8_t *payload, char *key)
{
	memcpy(key, payload, h->len);
	key[h->len] = 0;
}

/* Opens id's descriptor and segments into fds (1 + nsegs of them).
 * -ENOENT when a file is gone (the key was replaced meanwhile). */
static int open_df_files(struct eau2_store *db, uint64_t id, int **fdsp, uint32_t *nsegsp,
			 struct eau2_error *err)
{
	struct eau2_desc_hdr dh;
	char name[64];
	int *fds = NULL, fd, rc = 0;
	uint32_t i, nsegs;

	eau2_shm_desc_name(name, id);
	fd = openat(db->datafd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT :
		       eau2_error_set(err, -errno, "descriptor %s: %s", name, strerror(errno));
	if (pread(fd, &dh, sizeof(dh), 0) != (ssize_t)sizeof(dh) ||
	    memcmp(dh.magic, EAU2_DESC_MAGIC, 8) || dh.nsegs > EAU2_NODE_SEGS_MAX) {
		close(fd);
		return eau2_error_set(err, -EBADMSG, "descriptor %s: not a descriptor this node can serve",
				      name);
	}
	nsegs = dh.nsegs;
	fds = malloc((1 + (size_t)nsegs) * sizeof(int));
	if (!fds) {
		close(fd);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	fds[0] = fd;
	for (i = 0; i < nsegs; i++) {
		eau2_shm_seg_name(name, id, i);
		fds[1 + i] = openat(db->datafd, name, O_RDONLY | O_CLOEXEC);
		if (fds[1 + i] < 0) {
			rc = errno == ENOENT ? -ENOENT :
			     eau2_error_set(err, -errno, "segment %s: %s", name, strerror(errno));
			break;
		}
	}
	if (rc) {
		while (i > 0)
			close(fds[i--]);
		close(fds[0]);
		free(fds);
		return rc;
	}
	*fdsp = fds;
	*nsegsp = nsegs;
	return 0;
}

static int send_df(struct conn *c, const struct eau2_node_hdr *h, uint64_t id, int *fds,
		   uint32_t nsegs);

static int do_get(struct eau2_node_server *s, struct conn *c,
		  const struct eau2_node_hdr *h, const uint8_t *payload)
{
	char key[EAU2_KEY_MAX + 1];
	struct eau2_error err = {0};
	int *fds = NULL, rc = -ENOENT, tries;
	uint32_t nsegs = 0;
	uint64_t id = 0;

	key_of(h, payload, key);
	for (tries = 0; tries < GET_RETRIES && rc == -ENOENT; tries++) {
		rc = eau2_shm_key_read(s->db, key, &id, &err);
		if (rc)
			return reply_error(c, h, &err);
		rc = open_df_files(s->db, id, &fds, &nsegs, &err);
	}
	if (rc == -ENOENT)
		eau2_error_set(&err, -EBADMSG,
			       "key '%s' names dataframe %016" PRIx64 " whose files are missing",
			       key, id);
	if (rc)
		return reply_error(c, h, &err);
	return send_df(c, h, id, fds, nsegs);
}

/* GET's reply: id's descriptor and segment fds (fds: 1 + nsegs, closed
 * and freed here), the reference counted for c first. */
static int send_df(struct conn *c, const struct eau2_node_hdr *h, uint64_t id, int *fds,
		   uint32_t nsegs)
{
	struct eau2_error err = {0};
	uint32_t first, nfds, total;
	int rc;

	/* Count first: a client over its limit gets an error, not fds. */
	rc = hold_add(c, id, 1);
	if (rc) {
		eau2_error_set(&err, rc, "connection holds too many dataframes (%u)",
			       EAU2_NODE_HOLDS_MAX);
		rc = reply_error(c, h, &err);
		goto out;
	}
	total = 1 + nsegs;
	for (first = 0; first < total; first += nfds) {
		uint8_t p[16];

		nfds = total - first > EAU2_NODE_FDS_MAX ? EAU2_NODE_FDS_MAX : total - first;
		eau2_node_put_u64(p, id);
		eau2_node_put_u32(p + 8, nsegs);
		eau2_node_put_u32(p + 12, first);
		rc = reply(c, h, 0, first + nfds < total ? EAU2_NODE_F_MORE : 0, p,
			   sizeof(p), fds + first, nfds);
		if (rc)
			break;
	}
out:
	for (first = 0; first < 1 + nsegs; first++)
		close(fds[first]);
	free(fds);
	return rc;
}

static int do_list(struct eau2_node_server *s, struct conn *c,
		   const struct eau2_node_hdr *h)
{
	struct eau2_error err = {0};
	char **keys = NULL;
	uint8_t *buf = NULL;
	size_t n, i, len = 0, off = 0;
	int rc = eau2_shm_keys_list(s->db, &keys, &n, &err);

	if (rc)
		return reply_error(c, h, &err);
	for (i = 0; i < n; i++)
		len += strlen(keys[i]) + 1;
	buf = malloc(len ? len : 1);
	if (!buf) {
		eau2_error_set(&err, -ENOMEM, "out of memory");
		rc = reply_error(c, h, &err);
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t l = strlen(keys[i]) + 1;

		memcpy(buf + off, keys[i], l);
		off += l;
	}
	/* Parts split keys anywhere; the client joins them before decoding. */
	rc = reply_parts(c, h, buf, len);
out:
	free(buf);
	eau2_list_free(keys);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted ids that some key names now. */
static int keyed_ids(struct eau2_store *db, uint64_t **ids, size_t *n)
{
	char **keys = NULL;
	size_t nk, i;
	uint64_t *v;

	*ids = NULL;
	*n = 0;
	if (eau2_shm_keys_list(db, &keys, &nk, NULL))
		return -EIO;
	v = malloc((nk ? nk : 1) * sizeof(*v));
	if (!v) {
		eau2_list_free(keys);
		return -ENOMEM;
	}
	for (i = 0; i < nk; i++)
		if (eau2_shm_key_read(db, keys[i], &v[*n], NULL) == 0)
			(*n)++;
	eau2_list_free(keys);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_u64);
	*ids = v;
	return 0;
}

struct id_total {
	uint64_t id;
	uint64_t refs;
	uint32_t nconns;
};

static int cmp_total(const void *a, const void *b)
{
	return cmp_u64(&((const struct id_total *)a)->id, &((const struct id_total *)b)->id);
}

static int do_status(struct eau2_node_server *s, struct conn *c,
		     const struct eau2_node_hdr *h)
{
	struct eau2_error err = {0};
	struct id_total *t = NULL;
	uint64_t *keyed = NULL;
	uint8_t *buf = NULL, *p;
	size_t nt = 0, all = 0, nkeyed = 0, i, j, len;
	int rc;

	for (i = 0; i < s->nconns; i++)
		all += s->conns[i]->nholds;
	t = malloc((all ? all : 1) * sizeof(*t));
	if (!t || keyed_ids(s->db, &keyed, &nkeyed)) {
		eau2_error_set(&err, -ENOMEM, "status: out of memory");
		rc = reply_error(c, h, &err);
		goto out;
	}
	for (i = 0; i < s->nconns; i++)
		for (j = 0; j < s->conns[i]->nholds; j++)
			t[nt++] = (struct id_total){ s->conns[i]->holds[j].id,
						     s->conns[i]->holds[j].count, 1 };
	if (nt)
		qsort(t, nt, sizeof(*t), cmp_total);
	for (i = 0, j = 0; i < nt; i++) { /* merge equal ids */
		if (j && t[j - 1].id == t[i].id) {
			t[j - 1].refs += t[i].refs;
			t[j - 1].nconns++;
		} else {
			t[j++] = t[i];
		}
	}
	nt = j;
	len = 16 + s->nconns * 16 + nt * 24;
	buf = calloc(1, len);
	if (!buf) {
		eau2_error_set(&err, -ENOMEM, "status: out of memory");
		rc = reply_error(c, h, &err);
		goto out;
	}
	eau2_node_put_u32(buf, (uint32_t)getpid());
	eau2_node_put_u32(buf + 4, (uint32_t)s->nconns);
	eau2_node_put_u32(buf + 8, (uint32_t)nt);
	p = buf + 16;
	for (i = 0; i < s->nconns; i++, p += 16) {
		uint64_t refs = 0;

		for (j = 0; j < s->conns[i]->nholds; j++)
			refs += s->conns[i]->holds[j].count;
		eau2_node_put_u32(p, (uint32_t)s->conns[i]->pid);
		eau2_node_put_u32(p + 4, (uint32_t)s->conns[i]->nholds);
		eau2_node_put_u64(p + 8, refs);
	}
	for (i = 0; i < nt; i++, p += 24) {
		eau2_node_put_u64(p, t[i].id);
		eau2_node_put_u32(p + 8, t[i].refs > UINT32_MAX ? UINT32_MAX : (uint32_t)t[i].refs);
		eau2_node_put_u32(p + 12, t[i].nconns);
		eau2_node_put_u32(p + 16, nkeyed && bsearch(&t[i].id, keyed, nkeyed,
							    sizeof(uint64_t), cmp_u64) != NULL);
	}
	rc = reply_parts(c, h, buf, len);
out:
	free(t);
	free(keyed);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------ RUN */

/* Hands the runner the next queued run when it is idle: the oldest of
 * the connection that had its turn least recently. */
static void run_dispatch(struct eau2_node_server *s)
{
	struct conn *next = NULL;
	struct eau2_node_job *j;
	size_t i;

	if (s->running || !s->queued || !s->runner)
		return;
	for (i = 0; i < s->nconns; i++) {
		struct conn *c = s->conns[i];

		if (c->jobs && (!next || c->last_turn < next->last_turn ||
				(c->last_turn == next->last_turn && c->serial < next->serial)))
			next = c;
	}
	if (!next)
		return;
	j = next->jobs;
	next->jobs = j->next;
	if (!next->jobs)
		next->jobs_tail = NULL;
	next->njobs--;
	s->queued--;
	j->next = NULL;
	next->last_turn = ++s->turn;
	s->running = j;
	eau2_node_runner_submit(s->runner, j);
}

/* The run thread, started on the first RUN (not at open: a daemon forks
 * in between; and a node that runs nothing holds no more than before).
 * When it cannot start, RUN is refused with -ENOEXEC, which has clients
 * run in-process. */
static int runner_up(struct eau2_node_server *s, struct eau2_error *err)
{
	int rc;

	if (s->runner)
		return 0;
	if (s->no_runs || s->run_failed)
		return eau2_error_set(err, -ENOEXEC, "this node executes no runs%s",
				      s->no_runs ? " (--no-runs)" : " (its run thread did not start)");
	rc = eau2_node_runner_start(&s->runner, s->db, s->rstats, &s->run_fd, err);
	if (!rc && (rc = epoll_add(s->epfd, s->run_fd, &tag_run, EPOLLIN))) {
		eau2_error_set(err, rc, "epoll: %s", strerror(-rc));
		eau2_node_runner_stop(s->runner);
		s->runner = NULL;
		s->run_fd = -1;
	}
	if (rc) {
		logf_(s, "runs stay in the clients: %s", err->msg);
		s->run_failed = 1;
		return eau2_error_set(err, -ENOEXEC, "this node executes no runs (its run "
				      "thread did not start)");
	}
	return 0;
}

static int do_run(struct eau2_node_server *s, struct conn *c, const struct eau2_node_hdr *h,
		  const uint8_t *payload)
{
	struct eau2_error err = {0};
	struct eau2_node_job *j;

	if (runner_up(s, &err))
		return reply_error(c, h, &err);
	if (s->queued >= EAU2_NODE_RUN_QUEUE)
		eau2_error_set(&err, -EBUSY, "node busy: %u runs queued already (at most %u); "
			       "try again later", s->queued, EAU2_NODE_RUN_QUEUE);
	else if (c->njobs >= EAU2_NODE_RUN_CONN)
		eau2_error_set(&err, -EBUSY, "node busy: this connection has %u runs queued "
			       "already (at most %u)", c->njobs, EAU2_NODE_RUN_CONN);
	if (err.code)
		return reply_error(c, h, &err);
	j = calloc(1, sizeof(*j));
	if (!j) {
		eau2_error_set(&err, -ENOMEM, "run: out of memory");
		return reply_error(c, h, &err);
	}
	/* eau2_node_req_check decoded it once already */
	if (eau2_remote_run_decode(payload, h->len, &j->q, &err)) {
		free(j);
		return reply_error(c, h, &err);
	}
	j->owner = c;
	j->req = h->req;
	if (c->jobs_tail)
		c->jobs_tail->next = j;
	else
		c->jobs = j;
	c->jobs_tail = j;
	c->njobs++;
	s->queued++;
	STAT_ADD(s, runs, 1);
	run_dispatch(s);
	return 0;
}

/* RUN's reply to its connection (still open): an error, the rows and
 * columns stored, or the result's files (the connection keeps the result
 * until it releases its id). */
static int run_reply(struct eau2_node_server *s, struct conn *c, struct eau2_node_job *j)
{
	struct eau2_node_hdr h = { .type = EAU2_NODE_RUN, .req = j->req };
	struct eau2_error err = {0};
	uint8_t p[12];
	int *fds = NULL;
	uint32_t nsegs = 0;
	int rc;

	if (j->rc) {
		if (!s->quiet || j->rc != -ECANCELED)
			logf_(s, "conn#%u pid %d: run %s: %s", c->serial, (int)c->pid, j->q.rower,
			      j->err.msg);
		if (!j->err.code)
			eau2_error_set(&j->err, j->rc, "run %s: %s", j->q.rower, strerror(-j->rc));
		return reply_error(c, &h, &j->err);
	}
	if (!s->quiet)
		logf_(s, "conn#%u pid %d: run %s%s%s%s%s: %" PRIu64 " rows in %.1f ms%s",
		      c->serial, (int)c->pid, j->q.rower, j->q.key[0] ? " over " : "",
		      j->q.key, j->q.as[0] ? " as " : "", j->q.as, j->rows, j->ms,
		      j->hit ? " (input open already)" : "");
	if (j->q.as[0]) {
		eau2_node_put_u64(p, j->rows);
		eau2_node_put_u32(p + 8, j->cols);
		return reply(c, &h, 0, 0, p, sizeof(p), NULL, 0);
	}
	if (c->nresults == c->rcap) {
		size_t cap = c->rcap ? c->rcap * 2 : 4;
		eau2_df **v = realloc(c->results, cap * sizeof(*v));

		if (!v) {
			eau2_error_set(&err, -ENOMEM, "run: out of memory");
			return reply_error(c, &h, &err);
		}
		c->results = v;
		c->rcap = cap;
	}
	rc = open_df_files(s->db, j->out->id, &fds, &nsegs, &err);
	if (rc) {
		if (!err.code)
			eau2_error_set(&err, rc, "run %s: the result's files: %s", j->q.rower,
				       strerror(-rc));
		return reply_error(c, &h, &err);
	}
	c->results[c->nresults++] = j->out;
	j->out = NULL;
	return send_df(c, &h, c->results[c->nresults - 1]->id, fds, nsegs);
}

/* After RELEASE: a result no longer held goes. */
static void run_result_released(struct eau2_node_server *s, struct conn *c, uint64_t id)
{
	size_t i;

	if (hold_find(c, id))
		return;
	for (i = 0; i < c->nresults; i++) {
		if (c->results[i]->id == id) {
			result_drop(s, c->results[i]);
			c->results[i] = c->results[--c->nresults];
			return;
		}
	}
}

/* The runner is done: reply to the connection that asked (when still
 * there), then hand it the next run. */
static void run_done(struct eau2_node_server *s)
{
	struct eau2_node_job *j = eau2_node_runner_take(s->runner);
	struct conn *c;

	if (!j)
		return;
	s->running = NULL;
	if (j->hit)
		STAT_ADD(s, run_hits, 1);
	c = j->owner;
	/* A failed send shuts the connection down and the loop closes it
	 * when it reads the end: c may be in this wake-up's events still. */
	if (c && run_reply(s, c, j))
		shutdown(c->fd, SHUT_RDWR);
	eau2_node_job_free(j);
	run_dispatch(s);
}

/* An empty part flagged MORE to every connection waiting for a run, so
 * that its receive timeout does not run out while the run waits or
 * computes. */
static void run_keepalive(struct eau2_node_server *s)
{
	struct eau2_node_hdr h = { .type = EAU2_NODE_RUN };
	size_t i = s->nconns;

	while (i-- > 0) {
		struct conn *c = s->conns[i];
		struct eau2_node_job *j = c->jobs;
		int rc = 0;

		if (s->running && s->running->owner == c) {
			h.req = s->running->req;
			rc = reply(c, &h, 0, EAU2_NODE_F_MORE, NULL, 0, NULL, 0);
		}
		for (; j && !rc; j = j->next) {
			h.req = j->req;
			rc = reply(c, &h, 0, EAU2_NODE_F_MORE, NULL, 0, NULL, 0);
		}
		if (rc)
			shutdown(c->fd, SHUT_RDWR);
	}
}

/* Serves one request. Returns 0 to go on with the connection, < 0 to
 * close it (the reason is logged here). */
static int handle(struct eau2_node_server *s, struct conn *c, const uint8_t *msg,
		  size_t len)
{
	struct eau2_error err = {0};
	struct eau2_node_hdr h;
	const uint8_t *payload = msg + EAU2_NODE_HDR_SIZE;
	char key[EAU2_KEY_MAX + 1];
	uint64_t id;
	uint32_t count;
	int rc;

	rc = eau2_node_hdr_decode(msg, len, &h, &err);
	if (rc == -EPROTO) {
		logf_(s, "conn#%u pid %d: refused: %s", c->serial, (int)c->pid, err.msg);
		h.type &= 0x7f;
		h.version = EAU2_NODE_VERSION;
		reply_error(c, &h, &err);
		return rc;
	}
	if (!rc)
		rc = eau2_node_req_check(&h, payload, &err);
	if (rc) {
		logf_(s, "conn#%u pid %d: bad request, closing: %s", c->serial, (int)c->pid,
		      err.msg);
		return rc;
	}
	c->requests++;
	STAT_ADD(s, requests, 1);
	if (h.type == EAU2_NODE_GET)
		STAT_ADD(s, gets, 1);
	if (!c->hello && h.type != EAU2_NODE_HELLO) {
		logf_(s, "conn#%u pid %d: request type %u before HELLO, closing", c->serial,
		      (int)c->pid, h.type);
		return -EPROTO;
	}
	switch (h.type) {
	case EAU2_NODE_HELLO: {
		uint8_t p[8];

		if (eau2_node_get_u32(payload) != EAU2_NODE_VERSION) {
			eau2_error_set(&err, -EPROTO, "client speaks protocol %u, node speaks %u",
				       eau2_node_get_u32(payload), EAU2_NODE_VERSION);
			logf_(s, "conn#%u pid %d: refused: %s", c->serial, (int)c->pid, err.msg);
			reply_error(c, &h, &err);
			return -EPROTO;
		}
		c->hello = 1;
		/* the revision: older clients read only the pid */
		eau2_node_put_u32(p, s->no_runs ? 1u : EAU2_NODE_REVISION);
		eau2_node_put_u32(p + 4, (uint32_t)getpid());
		return reply(c, &h, 0, 0, p, sizeof(p), NULL, 0);
	}
	case EAU2_NODE_GET:
		return do_get(s, c, &h, payload);
	case EAU2_NODE_RELEASE:
	case EAU2_NODE_HOLD:
		id = eau2_node_get_u64(payload);
		count = eau2_node_get_u32(payload + 8);
		rc = h.type == EAU2_NODE_HOLD ? hold_add(c, id, count) : hold_drop(c, id, count);
		if (!rc && h.type == EAU2_NODE_RELEASE && c->nresults)
			run_result_released(s, c, id);
		if (rc)
			logf_(s, "conn#%u pid %d: %s %u of dataframe %016" PRIx64 ": %s",
			      c->serial, (int)c->pid,
			      h.type == EAU2_NODE_HOLD ? "hold" : "release", count, id,
			      rc == -ENOENT ? "not held (ignored)" : strerror(-rc));
		return 0; /* no reply; a bad count is the client's problem */
	case EAU2_NODE_LIST:
		return do_list(s, c, &h);
	case EAU2_NODE_DELETE:
		key_of(&h, payload, key);
		rc = eau2_delete_in(s->db, key, &err);
		if (!s->quiet || rc)
			logf_(s, "conn#%u pid %d: delete '%s': %s", c->serial, (int)c->pid, key,
			      rc ? err.msg : "done");
		return rc ? reply_error(c, &h, &err) : reply(c, &h, 0, 0, NULL, 0, NULL, 0);
	case EAU2_NODE_STATUS:
		return do_status(s, c, &h);
	case EAU2_NODE_RUN:
		return do_run(s, c, &h, payload);
	}
	return -EBADMSG;
}

/* ------------------------------------------------------------ the loop */

static void conn_close(struct eau2_node_server *s, struct conn *c, const char *why)
{
	uint64_t refs = 0;
	size_t i;

	for (i = 0; i < c->nholds; i++)
		refs += c->holds[i].count;
	if (!s->quiet || strcmp(why, "disconnect"))
		logf_(s, "conn#%u pid %d: %s (released %" PRIu64 " references to %zu dataframes)",
		      c->serial, (int)c->pid, why, refs, c->nholds);
	for (i = 0; i < s->nconns; i++) {
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->nconns];
			STAT_ADD(s, clients, (uint64_t)-1);
			break;
		}
	}
	conn_free(s, c);
}

static void do_accept(struct eau2_node_server *s)
{
	for (;;) {
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		struct timeval tv = { SEND_TIMEOUT_MS / 1000, (SEND_TIMEOUT_MS % 1000) * 1000 };
		struct conn *c;
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			logf_(s, "accept: %s", strerror(errno));
			if ((errno == EMFILE || errno == ENFILE) && s->spare_fd >= 0) {
				/* Out of descriptors: the pending client would
				 * keep the listening socket readable and the loop
				 * spinning, so take it with the spare and drop it. */
				close(s->spare_fd);
				fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				continue;
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
			cred = (struct ucred){ .pid = 0, .uid = (uid_t)-1 };
		if (cred.uid != geteuid()) {
			logf_(s, "refused pid %d: uid %u is not the store owner's", (int)cred.pid,
			      (unsigned)cred.uid);
			STAT_ADD(s, refused, 1);
			close(fd);
			continue;
		}
		if (s->nconns >= EAU2_NODE_CONNS_MAX) {
			logf_(s, "refused pid %d: %u connections already", (int)cred.pid,
			      EAU2_NODE_CONNS_MAX);
			STAT_ADD(s, refused, 1);
			close(fd);
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c = calloc(1, sizeof(*c));
		if (c && s->nconns == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct conn **p = realloc(s->conns, cap * sizeof(*p));

			if (!p) {
				free(c);
				c = NULL;
			} else {
				s->conns = p;
				s->cap = cap;
			}
		}
		if (!c) {
			logf_(s, "refused pid %d: out of memory", (int)cred.pid);
			STAT_ADD(s, refused, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->serial = ++s->serial;
		if (epoll_add(s->epfd, fd, c, EPOLLIN | EPOLLRDHUP) < 0) {
			logf_(s, "refused pid %d: epoll: %s", (int)cred.pid, strerror(errno));
			STAT_ADD(s, refused, 1);
			close(fd);
			free(c);
			continue;
		}
		s->conns[s->nconns++] = c;
		STAT_ADD(s, clients, 1);
		STAT_ADD(s, connects, 1);
		if (!s->quiet)
			logf_(s, "conn#%u pid %d: connect (%zu connections)", c->serial,
			      (int)c->pid, s->nconns);
	}
}

static void do_read(struct eau2_node_server *s, struct conn *c)
{
	int fds[EAU2_NODE_FDS_MAX];
	size_t nfds, k;
	int i;

	for (i = 0; i < MSGS_PER_WAKE; i++) {
		ssize_t n = eau2_node_recv(c->fd, s->buf, fds, &nfds, MSG_DONTWAIT);
		char why[160];
		int rc;

		for (k = 0; k < nfds; k++)
			close(fds[k]); /* clients send none */
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			conn_close(s, c, "disconnect");
			return;
		}
		if (n < 0) {
			snprintf(why, sizeof(why), "error: receive: %s", strerror((int)-n));
			conn_close(s, c, why);
			return;
		}
		rc = handle(s, c, s->buf, (size_t)n);
		if (rc) {
			snprintf(why, sizeof(why), "closed: %s",
				 rc == -EPIPE || rc == -ECONNRESET ? "client went away mid-request" :
				 rc == -EAGAIN ? "client stopped reading replies" :
				 strerror(-rc));
			conn_close(s, c, why);
			return;
		}
	}
}

int eau2_node_server_run(struct eau2_node_server *s, struct eau2_error *err)
{
	struct epoll_event ev[64];
	int stop = 0, rc = 0, n, i;

	signal(SIGPIPE, SIG_IGN);
	logf_(s, "serving store %s on %s/" EAU2_NODE_SOCK " (protocol %u; %s)", s->db->dir,
	      s->db->dir, EAU2_NODE_VERSION, s->db->pages.how);
	while (!stop) {
		int pending = s->running || s->queued;
		int64_t now;

		n = epoll_wait(s->epfd, ev, 64, pending ? EAU2_NODE_KEEPALIVE_MS / 2 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = eau2_error_set(err, -errno, "node: epoll_wait: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;

			if (p == &tag_listen) {
				do_accept(s);
			} else if (p == &tag_signal) {
				struct signalfd_siginfo si;

				if (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					logf_(s, "signal %s from pid %d: stopping",
					      si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
					      (int)si.ssi_pid);
					stop = 1;
				}
			} else if (p == &tag_stop) {
				logf_(s, "stop requested");
				stop = 1;
			} else if (p == &tag_run) {
				run_done(s);
			} else {
				do_read(s, p);
				/* p may be freed: nothing of it is used below,
				 * and a connection appears once per batch. */
			}
		}
		now = eau2_mono_ms();
		if (!(s->running || s->queued))
			s->keepalive_ms = now;
		else if (now - s->keepalive_ms >= EAU2_NODE_KEEPALIVE_MS) {
			s->keepalive_ms = now;
			run_keepalive(s);
		}
	}
	logf_(s, "stopped (%zu connections dropped)", s->nconns);
	return rc;
}
