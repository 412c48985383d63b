/* SPDX-License-Identifier: MIT */
/*
 * zk.c - ZooKeeper's C client made bounded and safe to call (see zk.h).
 *
 * Every synchronous call is an asynchronous ZooKeeper call plus a timed
 * wait on the handle's condition variable: the C client's own synchronous
 * calls wait as long as it keeps reconnecting, which for a stopped server
 * is a long time. A call's state (struct call) is shared by the caller and
 * the completion: it starts with two references and whichever of the two
 * lets go last frees it, so a caller that gave up on a late answer leaves
 * the completion something valid to write into. Results (a node's data,
 * the names of children, multi-op results) are copied into the call, never
 * into the caller's memory.
 *
 * Watches: every ZooKeeper watch this file sets has the same watcher
 * function and context (the handle), so the C client keeps one per path
 * and kind; an event marks every eau2_zk_watch armed on that path as fired.
 * A watch freed before it fired leaves ZooKeeper's watch armed, and its
 * event later finds nobody: harmless, and no pointer of ours is left in
 * the client.
 *
 * Access rules. struct eau2_zk: zh, connect, root, timeouts and callbacks
 * are set by connect and constant until close. `mu` guards state, closing,
 * cb_thread, the list of watches, every watch's fired/arms, every call's
 * refs/done/rc, and lock_seq. `mu` is a leaf: no ZooKeeper call and no user
 * callback is made while holding it (the C client may call back into us on
 * its threads while a call of ours is in it). A call's result fields are
 * written by the completion before done is set under `mu`, and read by the
 * caller after it saw done under `mu`.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zookeeper/zookeeper.h>

#include "cluster/zk.h"

struct arm {
	char *path;   /* full path */
	bool child;   /* a children watch, else a data/exists watch */
};

struct eau2_zk_watch {
	eau2_zk *zk;                 /* NULL once the handle closed */
	struct eau2_zk_watch *prev, *next; /* zk->watches, under zk->mu */
	bool fired;                  /* under zk->mu */
	struct arm *arms;            /* under zk->mu */
	size_t narms, cap;
};

struct eau2_zk {
	zhandle_t *zh;
	char *connect;
	char root[EAU2_ZK_PATH_MAX];
	size_t root_len;
	int timeout_ms;
	eau2_zk_session_fn *on_session;
	void *arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;           /* CLOCK_MONOTONIC; broadcast on any change */
	int state;                   /* 0 (never connected) or an eau2_zk_session_event */
	bool closing;
	bool have_cb_thread;
	pthread_t cb_thread;         /* the C client's completion thread */
	struct eau2_zk_watch *watches;
	uint64_t lock_seq;
};

struct eau2_zk_lock {
	eau2_zk *zk;
	char full[EAU2_ZK_PATH_MAX]; /* this contender's znode */
};

/* ------------------------------------------------------------ the log */

/* The C client logs to one process-wide stream; it becomes this sink. */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
/* Under log_mu: the last line, the last ZOO_ERROR line (what a connect
 * error quotes: "Connection refused" rather than "Delaying connection"),
 * the line number of each, and a line being assembled. */
static char log_last[512], log_last_error[512];
static unsigned long log_lines, log_error_line;
static char log_line[1024];
static size_t log_len;
static bool log_print;

static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n > size - 1)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void log_flush_line(void)
{
	size_t n = log_len < sizeof(log_line) ? log_len : sizeof(log_line) - 1;
	const char *msg;

	log_line[n] = 0;
	log_len = 0;
	if (!n)
		return;
	if (log_print)
		fprintf(stderr, "zookeeper: %s\n", log_line);
	/* Drop the time stamp and thread id: "...:ZOO_ERROR@fn@line: text". */
	msg = strstr(log_line, "ZOO_");
	msg = msg ? msg : log_line;
	log_lines++;
	copy_trunc(log_last, sizeof(log_last), msg);
	if (!strncmp(msg, "ZOO_ERROR", 9)) {
		copy_trunc(log_last_error, sizeof(log_last_error), msg);
		log_error_line = log_lines;
	}
}

static ssize_t log_write(void *cookie, const char *buf, size_t n)
{
	(void)cookie;
	pthread_mutex_lock(&log_mu);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n')
			log_flush_line();
		else if (log_len < sizeof(log_line) - 1)
			log_line[log_len++] = buf[i];
	}
	pthread_mutex_unlock(&log_mu);
	return (ssize_t)n;
}

static void log_init(void)
{
	static const cookie_io_functions_t io = { .write = log_write };
	const char *env = getenv("EAU2_ZK_LOG");
	ZooLogLevel level = ZOO_LOG_LEVEL_WARN;
	FILE *f;

	if (env && *env) {
		log_print = true;
		if (!strcmp(env, "error"))
			level = ZOO_LOG_LEVEL_ERROR;
		else if (!strcmp(env, "info"))
			level = ZOO_LOG_LEVEL_INFO;
		else if (!strcmp(env, "debug"))
			level = ZOO_LOG_LEVEL_DEBUG;
		else if (!strcmp(env, "none") || !strcmp(env, "0"))
			log_print = false;
	}
	zoo_set_debug_level(level);
	f = fopencookie(NULL, "w", io);
	if (f) {
		setvbuf(f, NULL, _IOLBF, 0);
		zoo_set_log_stream(f);
	}
}

/* The last error the client logged after line `since`, else its last
 * line after it, else "(nothing logged)". */
static void last_log_since(unsigned long since, char *buf, size_t size)
{
	pthread_mutex_lock(&log_mu);
	if (log_error_line > since)
		copy_trunc(buf, size, log_last_error);
	else if (log_lines > since)
		copy_trunc(buf, size, log_last);
	else
		copy_trunc(buf, size, "(nothing logged)");
	pthread_mutex_unlock(&log_mu);
}

static unsigned long log_mark(void)
{
	unsigned long n;

	pthread_mutex_lock(&log_mu);
	n = log_lines;
	pthread_mutex_unlock(&log_mu);
	return n;
}

void eau2_zk_last_log(char *buf, size_t size)
{
	if (size)
		last_log_since(0, buf, size);
}

/* ------------------------------------------------------------- errors */

static int zerr_to_errno(int zrc)
{
	switch (zrc) {
	case ZOK: return 0;
	case ZNONODE: return -ENOENT;
	case ZNODEEXISTS: return -EEXIST;
	case ZBADVERSION: return -ESTALE;
	case ZNOTEMPTY: return -ENOTEMPTY;
	case ZCONNECTIONLOSS:
	case ZSESSIONMOVED: return -ECONNRESET;
	case ZOPERATIONTIMEOUT: return -ETIMEDOUT;
	case ZSESSIONEXPIRED:
	case ZINVALIDSTATE:
	case ZCLOSING:
	case ZAUTHFAILED: return -ENOTCONN;
	case ZBADARGUMENTS:
	case ZNOCHILDRENFOREPHEMERALS:
	case ZINVALIDACL: return -EINVAL;
	case ZNOAUTH: return -EACCES;
	case ZMARSHALLINGERROR: return -EBADMSG;
	case ZTHROTTLEDOP: return -EAGAIN;
	case ZRUNTIMEINCONSISTENCY: return -ECANCELED; /* multi: not run */
	default: return -EIO;
	}
}

static const char *zerr_text(int zrc)
{
	/* zerror's "invalid zhandle state" says little to a reader. */
	if (zrc == ZINVALIDSTATE)
		return "session expired (invalid zhandle state)";
	return zerror(zrc);
}

/* Fails `op` on `full` with ZooKeeper's zrc; connection trouble also names
 * the ensemble. */
static int zfail(eau2_zk *zk, struct eau2_error *err, int zrc, const char *op,
		 const char *full)
{
	int code = zerr_to_errno(zrc);

	if (code == -ECONNRESET || code == -ENOTCONN || code == -ETIMEDOUT)
		return eau2_error_set(err, code, "ZooKeeper %s %s: %s (ensemble %s)",
				      op, full, zerr_text(zrc), zk->connect);
	return eau2_error_set(err, code, "ZooKeeper %s %s: %s", op, full,
			      zerr_text(zrc));
}

/* ------------------------------------------------------------ helpers */

struct timespec eau2_zk_deadline(int ms)
{
	struct timespec t;

	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

void eau2_zk_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

int eau2_zk_ms_left(const struct timespec *dl)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(dl->tv_sec - now.tv_sec) * 1000 +
	     (dl->tv_nsec - now.tv_nsec) / 1000000L;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static void stat_copy(struct eau2_zk_stat *out, const struct Stat *st)
{
	if (!out)
		return;
	if (!st) {
		memset(out, 0, sizeof(*out));
		return;
	}
	out->czxid = st->czxid;
	out->mzxid = st->mzxid;
	out->pzxid = st->pzxid;
	out->mtime_ms = st->mtime;
	out->version = st->version;
	out->cversion = st->cversion;
	out->num_children = st->numChildren;
	out->data_len = st->dataLength;
	out->ephemeral_owner = st->ephemeralOwner;
}

int eau2_zk_check_name(const char *name, size_t max, const char *what,
		       struct eau2_error *err)
{
	size_t n;

	if (!name || !*name)
		return eau2_error_set(err, -EINVAL, "%s is empty", what);
	n = strnlen(name, max + 1);
	if (n > max)
		return eau2_error_set(err, -EINVAL, "%s '%.40s...' is longer than %zu bytes",
				      what, name, max);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return eau2_error_set(err, -EINVAL, "%s '%s' is not a name", what, name);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._:@[]-", c)))
			return eau2_error_set(err, -EINVAL,
					      "%s '%s': byte %zu (0x%02x) is not one of [A-Za-z0-9._:@[]-]",
					      what, name, i, (unsigned char)c);
	}
	return 0;
}

/* Resolves a path relative to the root into out (EAU2_ZK_PATH_MAX). */
static int full_path(const eau2_zk *zk, const char *rel, char *out,
		     struct eau2_error *err)
{
	size_t n;
	const char *p;

	if (!rel)
		return eau2_error_set(err, -EINVAL, "ZooKeeper path is NULL");
	if (!*rel) {
		memcpy(out, zk->root, zk->root_len + 1);
		return 0;
	}
	n = strlen(rel);
	if (zk->root_len + 1 + n >= EAU2_ZK_PATH_MAX)
		return eau2_error_set(err, -EINVAL, "ZooKeeper path %s/%.40s...: longer than %d bytes",
				      zk->root, rel, EAU2_ZK_PATH_MAX - 1);
	/* Components between slashes: non-empty, not "." or "..", no NUL
	 * tricks (strlen stopped at the first). */
	p = rel;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return eau2_error_set(err, -EINVAL,
					      "ZooKeeper path '%s' (under %s): empty, '.' or '..' component",
					      rel, zk->root);
		if (!e)
			break;
		p = e + 1;
	}
	memcpy(out, zk->root, zk->root_len);
	out[zk->root_len] = '/';
	memcpy(out + zk->root_len + 1, rel, n + 1);
	return 0;
}

/* a/b into out (EAU2_ZK_PATH_MAX bytes); false when it does not fit. */
static bool join(char *out, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la + 1 + lb >= EAU2_ZK_PATH_MAX)
		return false;
	memcpy(out, a, la);
	out[la] = '/';
	memcpy(out + la + 1, b, lb + 1);
	return true;
}

/* The part of a full path under the root ("" for the root). */
static const char *rel_of(const eau2_zk *zk, const char *full)
{
	if (!strncmp(full, zk->root, zk->root_len)) {
		if (full[zk->root_len] == '/')
			return full + zk->root_len + 1;
		if (!full[zk->root_len])
			return "";
	}
	return full;
}

static void note_cb_thread(eau2_zk *zk)
{
	/* Caller holds mu. */
	if (!zk->have_cb_thread) {
		zk->cb_thread = pthread_self();
		zk->have_cb_thread = true;
	}
}

static int check_caller(eau2_zk *zk, const char *op, const char *full,
			struct eau2_error *err)
{
	bool self;

	pthread_mutex_lock(&zk->mu);
	self = zk->have_cb_thread && pthread_equal(zk->cb_thread, pthread_self());
	pthread_mutex_unlock(&zk->mu);
	if (self)
		return eau2_error_set(err, -EDEADLK,
				      "ZooKeeper %s %s: called from a ZooKeeper callback", op, full);
	return 0;
}

/* What every public call on a path starts with: resolve it, and refuse a
 * call from a ZooKeeper callback. */
static int enter(eau2_zk *zk, const char *path, const char *op, char *full,
		 struct eau2_error *err)
{
	int rc = full_path(zk, path, full, err);

	return rc ? rc : check_caller(zk, op, full, err);
}

/* Waits (to dl) until the handle is connected: an operation sent while
 * the client is between servers would only come back as a connection
 * loss. */
static int wait_connected(eau2_zk *zk, const struct timespec *dl,
			  const char *op, const char *full, struct eau2_error *err)
{
	int state;

	pthread_mutex_lock(&zk->mu);
	while (zk->state == EAU2_ZK_DISCONNECTED && !zk->closing &&
	       pthread_cond_timedwait(&zk->cv, &zk->mu, dl) != ETIMEDOUT)
		;
	state = zk->closing ? EAU2_ZK_EXPIRED : zk->state;
	pthread_mutex_unlock(&zk->mu);
	if (state == EAU2_ZK_EXPIRED)
		return eau2_error_set(err, -ENOTCONN,
				      "ZooKeeper %s %s: session expired (ensemble %s)",
				      op, full, zk->connect);
	if (state != EAU2_ZK_CONNECTED)
		return eau2_error_set(err, -ETIMEDOUT,
				      "ZooKeeper %s %s: no connection to %s within %d ms",
				      op, full, zk->connect, zk->timeout_ms);
	return 0;
}

/* -------------------------------------------------------------- calls */

struct call {
	eau2_zk *zk;
	int refs;          /* under zk->mu */
	bool done;         /* under zk->mu */
	int rc;            /* ZooKeeper's, set before done */
	bool nomem;        /* the completion could not copy its result */
	char *data;        /* get: the data; create: the path created */
	int len;
	bool has_stat;
	struct Stat stat;
	char **names;      /* children */
	size_t nnames;
	/* multi: what the C client writes into when the answer comes */
	zoo_op_t *zops;
	zoo_op_result_t *results;
	struct Stat *set_stats;
	char *create_paths;
};

static struct call *call_new(eau2_zk *zk)
{
	struct call *c = calloc(1, sizeof(*c));

	if (c) {
		c->zk = zk;
		c->refs = 2;
	}
	return c;
}

static void call_free(struct call *c)
{
	free(c->data);
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	free(c->zops);
	free(c->results);
	free(c->set_stats);
	free(c->create_paths);
	free(c);
}

/* Drops n references; the last one frees. */
static void call_put(struct call *c, int n)
{
	eau2_zk *zk = c->zk;
	bool last;

	pthread_mutex_lock(&zk->mu);
	c->refs -= n;
	last = c->refs == 0;
	pthread_mutex_unlock(&zk->mu);
	if (last)
		call_free(c);
}

static void call_finish(struct call *c, int rc)
{
	eau2_zk *zk = c->zk;
	bool last;

	pthread_mutex_lock(&zk->mu);
	note_cb_thread(zk);
	c->rc = rc;
	c->done = true;
	last = --c->refs == 0;
	pthread_cond_broadcast(&zk->cv);
	pthread_mutex_unlock(&zk->mu);
	if (last)
		call_free(c);
}

static void done_void(int rc, const void *data)
{
	call_finish((struct call *)data, rc);
}

static void done_stat(int rc, const struct Stat *st, const void *data)
{
	struct call *c = (struct call *)data;

	if (st) {
		c->stat = *st;
		c->has_stat = true;
	}
	call_finish(c, rc);
}

static void done_string(int rc, const char *value, const void *data)
{
	struct call *c = (struct call *)data;

	if (rc == ZOK && value && !(c->data = strdup(value)))
		c->nomem = true;
	call_finish(c, rc);
}

static void done_data(int rc, const char *value, int len, const struct Stat *st,
		      const void *data)
{
	struct call *c = (struct call *)data;

	if (rc == ZOK) {
		if (len < 0 || !value)
			len = 0;
		if ((size_t)len > 4u * EAU2_ZK_DATA_MAX) { /* a client bug: refuse */
			rc = ZMARSHALLINGERROR;
		} else if (!(c->data = malloc((size_t)len + 1))) {
			c->nomem = true;
		} else {
			if (len)
				memcpy(c->data, value, (size_t)len);
			c->data[len] = 0;
			c->len = len;
		}
	}
	if (st) {
		c->stat = *st;
		c->has_stat = true;
	}
	call_finish(c, rc);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void done_children(int rc, const struct String_vector *sv,
			  const struct Stat *st, const void *data)
{
	struct call *c = (struct call *)data;

	if (rc == ZOK && sv && sv->count > 0) {
		c->names = calloc((size_t)sv->count, sizeof(*c->names));
		if (!c->names) {
			c->nomem = true;
		} else {
			for (int32_t i = 0; i < sv->count; i++) {
				if (!(c->names[i] = strdup(sv->data[i] ? sv->data[i] : ""))) {
					c->nomem = true;
					break;
				}
				c->nnames++;
			}
		}
	}
	if (st) {
		c->stat = *st;
		c->has_stat = true;
	}
	call_finish(c, rc);
}

/*
 * Waits for call c that `submitted` (the async call's return) started.
 * Returns 0 when the answer came: the caller reads c and drops its
 * reference (call_put(c, 1)). Otherwise fills err and returns the error,
 * with the caller's references already dropped.
 */
static int call_wait(eau2_zk *zk, struct call *c, int submitted,
		     const struct timespec *dl, int budget_ms, const char *op,
		     const char *full, struct eau2_error *err)
{
	bool done;

	if (submitted != ZOK) {
		/* No completion will come: both references are ours. */
		call_put(c, 2);
		return zfail(zk, err, submitted, op, full);
	}
	pthread_mutex_lock(&zk->mu);
	while (!c->done &&
	       pthread_cond_timedwait(&zk->cv, &zk->mu, dl) != ETIMEDOUT)
		;
	done = c->done;
	pthread_mutex_unlock(&zk->mu);
	if (!done) {
		call_put(c, 1);
		return eau2_error_set(err, -ETIMEDOUT,
				      "ZooKeeper %s %s: no answer from %s within %d ms",
				      op, full, zk->connect, budget_ms);
	}
	if (c->nomem) {
		call_put(c, 1);
		return eau2_error_set(err, -ENOMEM, "ZooKeeper %s %s: out of memory",
				      op, full);
	}
	if (c->rc != ZOK) {
		int rc = zfail(zk, err, c->rc, op, full);

		call_put(c, 1);
		return rc;
	}
	return 0;
}

/* ------------------------------------------------------------ watches */

static void watch_fire_locked(struct eau2_zk_watch *w)
{
	for (size_t i = 0; i < w->narms; i++)
		free(w->arms[i].path);
	w->narms = 0;
	w->fired = true;
}

/* A node event from ZooKeeper: fire the watches armed on it. */
static void dispatch_event(eau2_zk *zk, int type, const char *path)
{
	bool data = type == ZOO_CREATED_EVENT || type == ZOO_DELETED_EVENT ||
		    type == ZOO_CHANGED_EVENT || type == ZOO_NOTWATCHING_EVENT;
	bool child = type == ZOO_CHILD_EVENT || type == ZOO_DELETED_EVENT ||
		     type == ZOO_NOTWATCHING_EVENT;

	if (!path)
		return;
	pthread_mutex_lock(&zk->mu);
	note_cb_thread(zk);
	for (struct eau2_zk_watch *w = zk->watches; w; w = w->next) {
		for (size_t i = 0; i < w->narms; i++) {
			if (((w->arms[i].child && child) || (!w->arms[i].child && data)) &&
			    !strcmp(w->arms[i].path, path)) {
				watch_fire_locked(w);
				break;
			}
		}
	}
	pthread_cond_broadcast(&zk->cv);
	pthread_mutex_unlock(&zk->mu);
}

static void watch_event(zhandle_t *zh, int type, int state, const char *path,
			void *ctx)
{
	(void)zh;
	(void)state;
	/* Session events also reach every armed watcher; session_event
	 * handles them once, through the default watcher. */
	if (type != ZOO_SESSION_EVENT)
		dispatch_event(ctx, type, path);
}

/* Arms w on full before the read that sets ZooKeeper's watch, so an event
 * that beats our caller's wake-up still finds it. */
static int watch_arm(struct eau2_zk_watch *w, const char *full, bool child,
		     struct eau2_error *err)
{
	eau2_zk *zk = w->zk;
	char *copy = strdup(full);
	int rc = 0;

	if (!copy)
		return eau2_error_set(err, -ENOMEM, "ZooKeeper watch %s: out of memory", full);
	pthread_mutex_lock(&zk->mu);
	for (size_t i = 0; i < w->narms; i++) {
		if (w->arms[i].child == child && !strcmp(w->arms[i].path, full))
			goto out; /* already armed */
	}
	if (w->narms == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 4;
		struct arm *a = realloc(w->arms, cap * sizeof(*a));

		if (!a) {
			rc = eau2_error_set(err, -ENOMEM, "ZooKeeper watch %s: out of memory", full);
			goto out;
		}
		w->arms = a;
		w->cap = cap;
	}
	w->arms[w->narms].path = copy;
	w->arms[w->narms].child = child;
	w->narms++;
	copy = NULL;
out:
	pthread_mutex_unlock(&zk->mu);
	free(copy);
	return rc;
}

/* Takes back an arm whose read failed without setting a watch. */
static void watch_disarm(struct eau2_zk_watch *w, const char *full, bool child)
{
	eau2_zk *zk = w->zk;

	pthread_mutex_lock(&zk->mu);
	for (size_t i = 0; i < w->narms; i++) {
		if (w->arms[i].child == child && !strcmp(w->arms[i].path, full)) {
			free(w->arms[i].path);
			w->arms[i] = w->arms[--w->narms];
			break;
		}
	}
	pthread_mutex_unlock(&zk->mu);
}

int eau2_zk_watch_new(eau2_zk *zk, eau2_zk_watch **out, struct eau2_error *err)
{
	struct eau2_zk_watch *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (!w)
		return eau2_error_set(err, -ENOMEM, "ZooKeeper watch: out of memory");
	w->zk = zk;
	pthread_mutex_lock(&zk->mu);
	w->next = zk->watches;
	if (zk->watches)
		zk->watches->prev = w;
	zk->watches = w;
	pthread_mutex_unlock(&zk->mu);
	*out = w;
	return 0;
}

static void watch_unlink_locked(struct eau2_zk_watch *w)
{
	eau2_zk *zk = w->zk;

	if (w->prev)
		w->prev->next = w->next;
	else
		zk->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->zk = NULL;
}

void eau2_zk_watch_free(eau2_zk_watch *w)
{
	if (!w)
		return;
	if (w->zk) {
		eau2_zk *zk = w->zk;

		pthread_mutex_lock(&zk->mu);
		watch_unlink_locked(w);
		pthread_mutex_unlock(&zk->mu);
	}
	for (size_t i = 0; i < w->narms; i++)
		free(w->arms[i].path);
	free(w->arms);
	free(w);
}

void eau2_zk_watch_wake(eau2_zk_watch *w)
{
	eau2_zk *zk = w->zk;

	if (!zk)
		return;
	pthread_mutex_lock(&zk->mu);
	watch_fire_locked(w);
	pthread_cond_broadcast(&zk->cv);
	pthread_mutex_unlock(&zk->mu);
}

static int watch_wait_until(struct eau2_zk_watch *w, const struct timespec *dl,
			    int budget_ms, struct eau2_error *err)
{
	eau2_zk *zk = w->zk;
	int rc = 0;

	if (!zk)
		return eau2_error_set(err, -ENOTCONN, "ZooKeeper watch: the handle is closed");
	pthread_mutex_lock(&zk->mu);
	if (!w->fired && !w->narms) {
		rc = eau2_error_set(err, -EINVAL, "ZooKeeper watch: nothing armed it");
		goto out;
	}
	while (!w->fired && zk->state != EAU2_ZK_EXPIRED && !zk->closing &&
	       pthread_cond_timedwait(&zk->cv, &zk->mu, dl) != ETIMEDOUT)
		;
	if (w->fired)
		w->fired = false;
	else if (zk->state == EAU2_ZK_EXPIRED || zk->closing)
		rc = eau2_error_set(err, -ENOTCONN, "ZooKeeper watch: session expired (ensemble %s)",
				    zk->connect);
	else
		rc = eau2_error_set(err, -ETIMEDOUT, "ZooKeeper watch: no change within %d ms",
				    budget_ms);
out:
	pthread_mutex_unlock(&zk->mu);
	return rc;
}

int eau2_zk_watch_wait(eau2_zk_watch *w, int timeout_ms, struct eau2_error *err)
{
	struct timespec dl = eau2_zk_deadline(timeout_ms);

	return watch_wait_until(w, &dl, timeout_ms, err);
}

/* ------------------------------------------------------------ session */

static void session_event(zhandle_t *zh, int type, int state, const char *path,
			  void *ctx)
{
	eau2_zk *zk = ctx;
	int ev = 0;

	(void)zh;
	if (type != ZOO_SESSION_EVENT) {
		dispatch_event(zk, type, path);
		return;
	}
	if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE)
		ev = EAU2_ZK_CONNECTED;
	else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE)
		ev = EAU2_ZK_DISCONNECTED;
	else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE)
		ev = EAU2_ZK_EXPIRED;
	if (!ev)
		return;
	pthread_mutex_lock(&zk->mu);
	note_cb_thread(zk);
	if (zk->state == EAU2_ZK_EXPIRED || zk->state == ev) {
		ev = 0; /* terminal, or no news */
	} else {
		zk->state = ev;
		if (ev == EAU2_ZK_EXPIRED) {
			for (struct eau2_zk_watch *w = zk->watches; w; w = w->next)
				watch_fire_locked(w);
		}
	}
	pthread_cond_broadcast(&zk->cv);
	pthread_mutex_unlock(&zk->mu);
	if (ev && zk->on_session)
		zk->on_session(zk->arg, ev);
}

/* ----------------------------------------------------- single znodes */

enum write_kind { WRITE_CREATE, WRITE_SET, WRITE_DELETE };

struct write {
	enum write_kind kind;
	const char *full;
	const void *data;   /* create, set */
	size_t len;
	int mode;           /* create: ZooKeeper's flags */
	int32_t version;    /* set, delete */
};

/* Sends one write and waits for it; on success *out is the answered call
 * (the caller takes its results and drops it). */
static int zwrite_once(eau2_zk *zk, const struct write *wr,
		       const struct timespec *dl, struct call **out,
		       struct eau2_error *err)
{
	static const char *const op[] = { "create", "set", "delete" };
	int vlen = wr->data ? (int)wr->len : -1;
	struct call *c;
	int rc;

	if ((rc = wait_connected(zk, dl, op[wr->kind], wr->full, err)))
		return rc;
	if (!(c = call_new(zk)))
		return eau2_error_set(err, -ENOMEM, "ZooKeeper %s %s: out of memory",
				      op[wr->kind], wr->full);
	switch (wr->kind) {
	case WRITE_CREATE:
		rc = zoo_acreate(zk->zh, wr->full, wr->data, vlen, &ZOO_OPEN_ACL_UNSAFE,
				 wr->mode, done_string, c);
		break;
	case WRITE_SET:
		rc = zoo_aset(zk->zh, wr->full, wr->data, vlen, wr->version, done_stat, c);
		break;
	case WRITE_DELETE:
		rc = zoo_adelete(zk->zh, wr->full, wr->version, done_void, c);
		break;
	}
	if ((rc = call_wait(zk, c, rc, dl, zk->timeout_ms, op[wr->kind], wr->full, err)))
		return rc;
	*out = c;
	return 0;
}

/* The path created (as the server named it), relative to the root, into
 * created (when given). */
static int copy_created(eau2_zk *zk, const char *full, const char *got,
			char *created, size_t created_size, struct eau2_error *err)
{
	const char *rel = rel_of(zk, got ? got : full);

	if (!created || !created_size)
		return 0;
	if (strlen(rel) >= created_size)
		return eau2_error_set(err, -ENAMETOOLONG,
				      "ZooKeeper create %s: the created path does not fit %zu bytes",
				      full, created_size);
	strcpy(created, rel);
	return 0;
}

static int zcreate_once(eau2_zk *zk, const char *full, const void *data, size_t len,
			unsigned flags, char *created, size_t created_size,
			const struct timespec *dl, struct eau2_error *err)
{
	struct write wr = { .kind = WRITE_CREATE, .full = full, .data = data, .len = len };
	struct call *c;
	int rc;

	if (flags & EAU2_ZK_EPHEMERAL)
		wr.mode |= ZOO_EPHEMERAL;
	if (flags & EAU2_ZK_SEQUENTIAL)
		wr.mode |= ZOO_SEQUENCE;
	if (len > EAU2_ZK_DATA_MAX)
		return eau2_error_set(err, -EMSGSIZE, "ZooKeeper create %s: %zu bytes of data, over %u",
				      full, len, EAU2_ZK_DATA_MAX);
	if ((rc = zwrite_once(zk, &wr, dl, &c, err)))
		return rc;
	rc = copy_created(zk, full, c->data, created, created_size, err);
	call_put(c, 1);
	return rc;
}

static int zcreate(eau2_zk *zk, const char *full, const void *data, size_t len,
		   unsigned flags, char *created, size_t created_size,
		   const struct timespec *dl, struct eau2_error *err);

static int zmkdirs(eau2_zk *zk, const char *full, const struct timespec *dl,
		   struct eau2_error *err)
{
	char prefix[EAU2_ZK_PATH_MAX];
	size_t n = strlen(full);
	int rc;

	/* Top down: /eau2, /eau2/<cluster>, ...; a component created by
	 * someone else meanwhile is fine. */
	for (size_t i = 1; i <= n; i++) {
		if (i < n && full[i] != '/')
			continue;
		memcpy(prefix, full, i);
		prefix[i] = 0;
		rc = zcreate(zk, prefix, NULL, 0, 0, NULL, 0, dl, err);
		if (rc && rc != -EEXIST)
			return rc;
	}
	if (err)
		err->msg[0] = 0;
	return 0;
}

int eau2_zk_create(eau2_zk *zk, const char *path, const void *data, size_t len,
		   unsigned flags, char *created, size_t created_size,
		   struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if ((rc = enter(zk, path, "create", full, err)))
		return rc;
	rc = zcreate(zk, full, data, len, flags, created, created_size, &dl, err);
	if (rc == -ENOENT && (flags & EAU2_ZK_PARENTS)) {
		char parent[EAU2_ZK_PATH_MAX];

		strcpy(parent, full);
		*strrchr(parent, '/') = 0;
		if ((rc = zmkdirs(zk, parent, &dl, err)))
			return rc;
		rc = zcreate(zk, full, data, len, flags, created, created_size, &dl, err);
	}
	return rc;
}

int eau2_zk_mkdirs(eau2_zk *zk, const char *path, struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if ((rc = enter(zk, path, "mkdirs", full, err)))
		return rc;
	return zmkdirs(zk, full, &dl, err);
}

enum read_kind { READ_GET, READ_EXISTS, READ_CHILDREN };

/*
 * One read of full, arming w (optional) on what it reads. On success *out
 * is the answered call: the caller takes its results and drops it.
 */
static int zread_once(eau2_zk *zk, enum read_kind kind, const char *full,
		      eau2_zk_watch *w, const struct timespec *dl,
		      struct call **out, struct eau2_error *err)
{
	static const char *const op[] = { "get", "exists", "children" };
	bool child = kind == READ_CHILDREN;
	struct call *c;
	int rc;

	if ((rc = wait_connected(zk, dl, op[kind], full, err)))
		return rc;
	if (w && (rc = watch_arm(w, full, child, err)))
		return rc;
	if (!(c = call_new(zk))) {
		rc = eau2_error_set(err, -ENOMEM, "ZooKeeper %s %s: out of memory", op[kind], full);
		goto fail;
	}
	switch (kind) {
	case READ_GET:
		rc = w ? zoo_awget(zk->zh, full, watch_event, zk, done_data, c)
		       : zoo_aget(zk->zh, full, 0, done_data, c);
		break;
	case READ_EXISTS:
		rc = w ? zoo_awexists(zk->zh, full, watch_event, zk, done_stat, c)
		       : zoo_aexists(zk->zh, full, 0, done_stat, c);
		break;
	case READ_CHILDREN:
		rc = w ? zoo_awget_children2(zk->zh, full, watch_event, zk, done_children, c)
		       : zoo_aget_children2(zk->zh, full, 0, done_children, c);
		break;
	}
	rc = call_wait(zk, c, rc, dl, zk->timeout_ms, op[kind], full, err);
	if (rc == -ENOENT && kind == READ_EXISTS)
		return rc; /* the watch is set: it fires on creation */
	if (rc)
		goto fail;
	*out = c;
	return 0;
fail:
	if (w)
		watch_disarm(w, full, child);
	return rc;
}

/* Reads are idempotent: one that lost its connection is sent again, once
 * the client is connected, until the deadline. */
static int zread(eau2_zk *zk, enum read_kind kind, const char *full,
		 eau2_zk_watch *w, const struct timespec *dl, struct call **out,
		 struct eau2_error *err)
{
	int rc;

	do
		rc = zread_once(zk, kind, full, w, dl, out, err);
	while (rc == -ECONNRESET && eau2_zk_ms_left(dl));
	return rc;
}

static int zget(eau2_zk *zk, const char *full, void **data, size_t *len,
		struct eau2_zk_stat *stat, eau2_zk_watch *w,
		const struct timespec *dl, struct eau2_error *err)
{
	struct call *c;
	int rc;

	if ((rc = zread(zk, READ_GET, full, w, dl, &c, err)))
		return rc;
	if (data) {
		*data = c->data;
		c->data = NULL;
	}
	if (len)
		*len = (size_t)c->len;
	stat_copy(stat, c->has_stat ? &c->stat : NULL);
	call_put(c, 1);
	return 0;
}

static int zexists(eau2_zk *zk, const char *full, struct eau2_zk_stat *stat,
		   eau2_zk_watch *w, const struct timespec *dl,
		   struct eau2_error *err)
{
	struct call *c;
	int rc;

	stat_copy(stat, NULL);
	if ((rc = zread(zk, READ_EXISTS, full, w, dl, &c, err)))
		return rc;
	stat_copy(stat, c->has_stat ? &c->stat : NULL);
	call_put(c, 1);
	return 0;
}

static int zchildren(eau2_zk *zk, const char *full, struct eau2_zk_names *names,
		     struct eau2_zk_stat *stat, eau2_zk_watch *w,
		     const struct timespec *dl, struct eau2_error *err)
{
	struct call *c;
	int rc;

	if (names) {
		names->n = 0;
		names->names = NULL;
	}
	if ((rc = zread(zk, READ_CHILDREN, full, w, dl, &c, err)))
		return rc;
	if (names) {
		if (c->nnames > 1)
			qsort(c->names, c->nnames, sizeof(*c->names), cmp_str);
		names->names = c->names;
		names->n = c->nnames;
		c->names = NULL;
		c->nnames = 0;
	}
	stat_copy(stat, c->has_stat ? &c->stat : NULL);
	call_put(c, 1);
	return 0;
}

int eau2_zk_get(eau2_zk *zk, const char *path, void **data, size_t *len,
		struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if (data)
		*data = NULL;
	if (len)
		*len = 0;
	if ((rc = enter(zk, path, "get", full, err)))
		return rc;
	return zget(zk, full, data, len, stat, watch, &dl, err);
}

static int zset_once(eau2_zk *zk, const char *full, const void *data, size_t len,
		     int32_t version, struct eau2_zk_stat *stat,
		     const struct timespec *dl, struct eau2_error *err)
{
	struct write wr = { .kind = WRITE_SET, .full = full, .data = data, .len = len,
			    .version = version };
	struct call *c;
	int rc;

	if ((rc = zwrite_once(zk, &wr, dl, &c, err)))
		return rc;
	stat_copy(stat, c->has_stat ? &c->stat : NULL);
	call_put(c, 1);
	return 0;
}

int eau2_zk_set(eau2_zk *zk, const char *path, const void *data, size_t len,
		int32_t version, struct eau2_zk_stat *stat, struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if ((rc = enter(zk, path, "set", full, err)))
		return rc;
	if (len > EAU2_ZK_DATA_MAX)
		return eau2_error_set(err, -EMSGSIZE, "ZooKeeper set %s: %zu bytes of data, over %u",
				      full, len, EAU2_ZK_DATA_MAX);
	/* An unconditional set is idempotent: one whose answer was lost is
	 * sent again. A conditional one is not (it would lose to itself). */
	do
		rc = zset_once(zk, full, data, len, version, stat, &dl, err);
	while (rc == -ECONNRESET && version == -1 && eau2_zk_ms_left(&dl));
	return rc;
}

static int zdelete_once(eau2_zk *zk, const char *full, int32_t version,
			const struct timespec *dl, struct eau2_error *err)
{
	struct write wr = { .kind = WRITE_DELETE, .full = full, .version = version };
	struct call *c;
	int rc;

	if ((rc = zwrite_once(zk, &wr, dl, &c, err)))
		return rc;
	call_put(c, 1);
	return 0;
}

/* An unconditional delete whose answer was lost is sent again; "no such
 * znode" then means it went, ours or not. */
static int zdelete(eau2_zk *zk, const char *full, int32_t version,
		   const struct timespec *dl, struct eau2_error *err)
{
	bool lost = false;
	int rc;

	for (;;) {
		rc = zdelete_once(zk, full, version, dl, err);
		if (rc == -ECONNRESET && version == -1 && eau2_zk_ms_left(dl)) {
			lost = true;
			continue;
		}
		if (rc == -ENOENT && lost) {
			if (err)
				err->msg[0] = 0;
			rc = 0;
		}
		return rc;
	}
}

int eau2_zk_delete(eau2_zk *zk, const char *path, int32_t version,
		   struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if ((rc = enter(zk, path, "delete", full, err)))
		return rc;
	return zdelete(zk, full, version, &dl, err);
}

int eau2_zk_exists(eau2_zk *zk, const char *path, struct eau2_zk_stat *stat,
		   eau2_zk_watch *watch, struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if ((rc = enter(zk, path, "exists", full, err)))
		return rc;
	return zexists(zk, full, stat, watch, &dl, err);
}

void eau2_zk_names_free(struct eau2_zk_names *names)
{
	if (!names)
		return;
	for (size_t i = 0; i < names->n; i++)
		free(names->names[i]);
	free(names->names);
	names->names = NULL;
	names->n = 0;
}

int eau2_zk_children(eau2_zk *zk, const char *path, struct eau2_zk_names *names,
		     struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		     struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	int rc;

	if (names) {
		names->n = 0;
		names->names = NULL;
	}
	if ((rc = enter(zk, path, "children", full, err)))
		return rc;
	return zchildren(zk, full, names, stat, watch, &dl, err);
}

/* After a create whose answer was lost found the znode there: is it the
 * one we sent? An ephemeral is if our session owns it; a persistent one
 * if it holds our bytes (see zk.h). */
static int created_by_us(eau2_zk *zk, const char *full, const void *data,
			 size_t len, unsigned flags, const struct timespec *dl,
			 struct eau2_error *err)
{
	struct eau2_zk_stat st;
	void *got = NULL;
	size_t got_len = 0;
	bool ours;
	int rc;

	if (flags & EAU2_ZK_EPHEMERAL) {
		if ((rc = zexists(zk, full, &st, NULL, dl, err)))
			return rc;
		ours = st.ephemeral_owner == zoo_client_id(zk->zh)->client_id;
	} else {
		if ((rc = zget(zk, full, &got, &got_len, NULL, NULL, dl, err)))
			return rc;
		ours = got_len == len && (!len || !memcmp(got, data, len));
		free(got);
	}
	if (!ours)
		return eau2_error_set(err, -EEXIST, "ZooKeeper create %s: %s", full,
				      zerror(ZNODEEXISTS));
	if (err)
		err->msg[0] = 0;
	return 0;
}

static int zcreate(eau2_zk *zk, const char *full, const void *data, size_t len,
		   unsigned flags, char *created, size_t created_size,
		   const struct timespec *dl, struct eau2_error *err)
{
	bool lost = false;
	int rc;

	for (;;) {
		rc = zcreate_once(zk, full, data, len, flags, created, created_size, dl, err);
		/* A sequential create cannot be sent again blindly: it
		 * would make a second znode (the lock recipe finds its own). */
		if (rc == -ECONNRESET && !(flags & EAU2_ZK_SEQUENTIAL) && eau2_zk_ms_left(dl)) {
			lost = true;
			continue;
		}
		if (rc == -EEXIST && lost &&
		    (rc = created_by_us(zk, full, data, len, flags, dl, err)) == 0)
			rc = copy_created(zk, full, NULL, created, created_size, err);
		return rc;
	}
}

static bool stat_differs(const struct eau2_zk_stat *a, const struct eau2_zk_stat *b)
{
	return a->czxid != b->czxid || a->mzxid != b->mzxid || a->pzxid != b->pzxid;
}

int eau2_zk_wait_change(eau2_zk *zk, const char *path,
			const struct eau2_zk_stat *seen, int timeout_ms,
			struct eau2_zk_stat *now, struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct timespec dl = eau2_zk_deadline(timeout_ms);
	struct eau2_zk_stat none = {0}, cur;
	struct eau2_zk_watch *w = NULL;
	int rc;

	if (!seen)
		seen = &none;
	if ((rc = full_path(zk, path, full, err)) ||
	    (rc = check_caller(zk, "wait", full, err)) ||
	    (rc = eau2_zk_watch_new(zk, &w, err)))
		return rc;
	for (;;) {
		/* The reads arm the watch, so a change after them wakes us;
		 * one before them shows in the stat. */
		rc = zexists(zk, full, &cur, w, &dl, err);
		if (rc == -ENOENT) {
			memset(&cur, 0, sizeof(cur));
		} else if (rc) {
			goto out;
		} else {
			rc = zchildren(zk, full, NULL, &cur, w, &dl, err);
			if (rc == -ENOENT)
				continue; /* removed in between: read again */
			if (rc)
				goto out;
		}
		if (stat_differs(seen, &cur)) {
			if (now)
				*now = cur;
			rc = 0;
			goto out;
		}
		rc = watch_wait_until(w, &dl, timeout_ms, err);
		if (rc == -ETIMEDOUT)
			rc = eau2_error_set(err, -ETIMEDOUT,
					    "ZooKeeper wait %s: no change within %d ms",
					    full, timeout_ms);
		if (rc)
			goto out;
	}
out:
	eau2_zk_watch_free(w);
	return rc;
}

/* ------------------------------------------------------------- multi */

int eau2_zk_multi(eau2_zk *zk, struct eau2_zk_op *ops, size_t n,
		  struct eau2_error *err)
{
	struct timespec dl = eau2_zk_deadline(zk->timeout_ms);
	char (*fulls)[EAU2_ZK_PATH_MAX] = NULL;
	struct call *c = NULL;
	size_t total = 0;
	int rc;

	if (n == 0)
		return 0;
	if (n > EAU2_ZK_MULTI_MAX)
		return eau2_error_set(err, -EINVAL, "ZooKeeper multi: %zu ops, over %d",
				      n, EAU2_ZK_MULTI_MAX);
	if ((rc = check_caller(zk, "multi", zk->root, err)) ||
	    (rc = wait_connected(zk, &dl, "multi", zk->root, err)))
		return rc;
	fulls = calloc(n, sizeof(*fulls));
	if (!fulls || !(c = call_new(zk)) ||
	    !(c->zops = calloc(n, sizeof(*c->zops))) ||
	    !(c->results = calloc(n, sizeof(*c->results))) ||
	    !(c->set_stats = calloc(n, sizeof(*c->set_stats))) ||
	    !(c->create_paths = calloc(n, EAU2_ZK_PATH_MAX))) {
		rc = eau2_error_set(err, -ENOMEM, "ZooKeeper multi: out of memory");
		goto out_unsubmitted;
	}
	for (size_t i = 0; i < n; i++) {
		struct eau2_zk_op *op = &ops[i];
		int mode = 0;

		op->result = 0;
		if ((rc = full_path(zk, op->path, fulls[i], err)))
			goto out_unsubmitted;
		total += op->len + strlen(fulls[i]) + 32;
		if (op->len > EAU2_ZK_DATA_MAX || total > EAU2_ZK_DATA_MAX) {
			rc = eau2_error_set(err, -EMSGSIZE,
					    "ZooKeeper multi: op %zu (%s) brings the request to %zu bytes, over %u",
					    i, fulls[i], total, EAU2_ZK_DATA_MAX);
			goto out_unsubmitted;
		}
		switch (op->type) {
		case EAU2_ZK_OP_CREATE:
			if (op->flags & EAU2_ZK_EPHEMERAL)
				mode |= ZOO_EPHEMERAL;
			if (op->flags & EAU2_ZK_SEQUENTIAL)
				mode |= ZOO_SEQUENCE;
			zoo_create_op_init(&c->zops[i], fulls[i], op->data,
					   op->data ? (int)op->len : -1,
					   &ZOO_OPEN_ACL_UNSAFE, mode,
					   c->create_paths + i * EAU2_ZK_PATH_MAX,
					   EAU2_ZK_PATH_MAX);
			break;
		case EAU2_ZK_OP_DELETE:
			zoo_delete_op_init(&c->zops[i], fulls[i], op->version);
			break;
		case EAU2_ZK_OP_SET:
			zoo_set_op_init(&c->zops[i], fulls[i], op->data,
					op->data ? (int)op->len : -1, op->version,
					&c->set_stats[i]);
			break;
		case EAU2_ZK_OP_CHECK:
			zoo_check_op_init(&c->zops[i], fulls[i], op->version);
			break;
		default:
			rc = eau2_error_set(err, -EINVAL, "ZooKeeper multi: op %zu (%s) has type %d",
					    i, fulls[i], (int)op->type);
			goto out_unsubmitted;
		}
	}
	/* The request is serialised here: fulls and the callers' data are
	 * no longer needed once zoo_amulti returns. */
	rc = zoo_amulti(zk->zh, (int)n, c->zops, c->results, done_void, c);
	if (rc == ZOK) {
		pthread_mutex_lock(&zk->mu);
		while (!c->done &&
		       pthread_cond_timedwait(&zk->cv, &zk->mu, &dl) != ETIMEDOUT)
			;
		bool done = c->done;
		pthread_mutex_unlock(&zk->mu);
		if (!done) {
			call_put(c, 1);
			rc = eau2_error_set(err, -ETIMEDOUT,
					    "ZooKeeper multi of %zu ops (first %s): no answer from %s within %d ms",
					    n, fulls[0], zk->connect, zk->timeout_ms);
			goto out;
		}
		rc = c->rc;
		if (rc != ZOK) {
			size_t bad = 0;
			bool found = false;

			for (size_t i = 0; i < n; i++) {
				int r = c->results[i].err;

				ops[i].result = zerr_to_errno(r);
				if (!found && r != ZOK && r != ZRUNTIMEINCONSISTENCY) {
					bad = i;
					found = true;
				}
			}
			if (found)
				rc = zfail(zk, err, c->results[bad].err, "multi", fulls[bad]);
			else
				rc = zfail(zk, err, rc, "multi", fulls[0]);
		}
		call_put(c, 1);
		goto out;
	}
	call_put(c, 2);
	rc = zfail(zk, err, rc, "multi", fulls[0]);
	goto out;
out_unsubmitted:
	if (c)
		call_put(c, 2);
out:
	free(fulls);
	return rc;
}

/* ------------------------------------------------------------- locks */

/* The 10-digit counter at the end of a sequential name, or -1. */
static long long seq_of(const char *name)
{
	size_t n = strlen(name);
	long long v = 0;

	if (n < 10)
		return -1;
	for (size_t i = n - 10; i < n; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

int eau2_zk_lock_take(eau2_zk *zk, const char *name, int timeout_ms,
		      eau2_zk_lock **out, struct eau2_error *err)
{
	struct timespec dl = eau2_zk_deadline(timeout_ms);
	char dir[EAU2_ZK_PATH_MAX], prefix[EAU2_ZK_PATH_MAX], rel[EAU2_ZK_PATH_MAX];
	char id[64];
	struct eau2_zk_names kids = {0};
	struct eau2_zk_watch *w = NULL;
	struct eau2_zk_lock *lk = NULL;
	const char *mine, *base;
	size_t base_len;
	uint64_t seq;
	int rc;

	*out = NULL;
	if ((rc = eau2_zk_check_name(name, 200, "lock name", err)))
		return rc;
	snprintf(rel, sizeof(rel), "locks/%s", name);
	if ((rc = full_path(zk, rel, dir, err)) ||
	    (rc = check_caller(zk, "lock", dir, err)))
		return rc;
	if (!(lk = calloc(1, sizeof(*lk))))
		return eau2_error_set(err, -ENOMEM, "ZooKeeper lock %s: out of memory", dir);
	lk->zk = zk;
	pthread_mutex_lock(&zk->mu);
	seq = ++zk->lock_seq;
	pthread_mutex_unlock(&zk->mu);
	/* The session and a per-handle counter make the name ours: after a
	 * lost answer to the create we can find what it created. */
	snprintf(id, sizeof(id), "%016" PRIx64 "-%" PRIu64 "-",
		 (uint64_t)zoo_client_id(zk->zh)->client_id, seq);
	if (!join(prefix, dir, id)) {
		rc = eau2_error_set(err, -EINVAL, "ZooKeeper lock %s: path too long", dir);
		goto fail;
	}
	base = prefix + strlen(dir) + 1;
	base_len = strlen(base);
	for (;;) {
		char got[EAU2_ZK_PATH_MAX];

		rc = zcreate(zk, prefix, NULL, 0, EAU2_ZK_EPHEMERAL | EAU2_ZK_SEQUENTIAL,
			     got, sizeof(got), &dl, err);
		if (rc == -ENOENT) {
			if ((rc = zmkdirs(zk, dir, &dl, err)))
				goto fail;
			continue;
		}
		if (rc == 0) {
			if (!join(lk->full, zk->root, got)) {
				rc = eau2_error_set(err, -EINVAL, "ZooKeeper lock %s: path too long", dir);
				goto fail_delete;
			}
			break;
		}
		if (rc != -ECONNRESET || !eau2_zk_ms_left(&dl))
			goto fail;
		/* Lost answer: did it create ours? */
		if (zchildren(zk, dir, &kids, NULL, NULL, &dl, NULL) == 0) {
			for (size_t i = 0; i < kids.n; i++) {
				if (!strncmp(kids.names[i], base, base_len) &&
				    !join(lk->full, dir, kids.names[i]))
					lk->full[0] = 0;
			}
			eau2_zk_names_free(&kids);
			if (lk->full[0])
				break;
		}
	}
	mine = strrchr(lk->full, '/') + 1;
	if ((rc = eau2_zk_watch_new(zk, &w, err)))
		goto fail_delete;
	for (;;) {
		const char *pred = NULL;
		long long my_seq = seq_of(mine), best = -1;
		bool found = false;
		char pred_full[EAU2_ZK_PATH_MAX];

		if ((rc = zchildren(zk, dir, &kids, NULL, NULL, &dl, err)))
			goto fail_delete;
		for (size_t i = 0; i < kids.n; i++) {
			long long s = seq_of(kids.names[i]);

			if (!strcmp(kids.names[i], mine)) {
				found = true;
			} else if (!strncmp(kids.names[i], base, base_len)) {
				/* Ours too: a create whose answer was lost
				 * and then retried. It must not block us. */
				char orphan[EAU2_ZK_PATH_MAX];

				if (join(orphan, dir, kids.names[i]))
					zdelete(zk, orphan, -1, &dl, NULL);
			} else if (s >= 0 && s < my_seq && s > best) {
				best = s;
				pred = kids.names[i];
			}
		}
		if (!found) {
			rc = eau2_error_set(err, -ENOTCONN,
					    "ZooKeeper lock %s: our znode %s vanished (session expired?)",
					    dir, mine);
			goto fail;
		}
		if (!pred)
			break; /* lowest: ours */
		if (!join(pred_full, dir, pred)) {
			rc = eau2_error_set(err, -EINVAL, "ZooKeeper lock %s: path too long", dir);
			goto fail_delete;
		}
		eau2_zk_names_free(&kids);
		rc = zexists(zk, pred_full, NULL, w, &dl, err);
		if (rc == -ENOENT)
			continue;
		if (rc)
			goto fail_delete;
		rc = watch_wait_until(w, &dl, timeout_ms, err);
		if (rc == -ETIMEDOUT) {
			rc = eau2_error_set(err, -ETIMEDOUT,
					    "ZooKeeper lock %s: %s waited for %d ms behind %s",
					    dir, mine, timeout_ms, strrchr(pred_full, '/') + 1);
			goto fail_delete;
		}
		if (rc)
			goto fail_delete;
	}
	eau2_zk_names_free(&kids);
	eau2_zk_watch_free(w);
	*out = lk;
	return 0;
fail_delete:
	{
		/* Leave no trace; if this fails too, the session's end removes
		 * the ephemeral znode. A short grace beyond the deadline. */
		struct timespec dl2 = eau2_zk_deadline(zk->timeout_ms < 2000 ? zk->timeout_ms : 2000);

		zdelete(zk, lk->full, -1, &dl2, NULL);
	}
fail:
	eau2_zk_names_free(&kids);
	eau2_zk_watch_free(w);
	free(lk);
	return rc;
}

int eau2_zk_lock_release(eau2_zk_lock *lk, struct eau2_error *err)
{
	struct timespec dl;
	int rc;

	if (!lk)
		return 0;
	dl = eau2_zk_deadline(lk->zk->timeout_ms);
	if ((rc = check_caller(lk->zk, "unlock", lk->full, err)) == 0) {
		rc = zdelete(lk->zk, lk->full, -1, &dl, err);
		if (rc == -ENOENT)
			rc = 0; /* the session ended: released already */
	}
	free(lk);
	return rc;
}

/* ------------------------------------------------------ the handle */

static int check_connect(const char *connect, struct eau2_error *err)
{
	size_t n;

	if (!connect || !*connect)
		return eau2_error_set(err, -EINVAL, "ZooKeeper connect string is empty");
	n = strnlen(connect, 1024);
	if (n >= 1024)
		return eau2_error_set(err, -EINVAL, "ZooKeeper connect string is longer than 1023 bytes");
	for (size_t i = 0; i < n; i++) {
		char c = connect[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(".:,[]-_", c)))
			return eau2_error_set(err, -EINVAL,
					      "ZooKeeper connect string '%s': byte %zu (0x%02x) is not part of host:port[,host:port...]",
					      connect, i, (unsigned char)c);
	}
	if (!strchr(connect, ':'))
		return eau2_error_set(err, -EINVAL,
				      "ZooKeeper connect string '%s' has no :port (host:port[,host:port...])",
				      connect);
	return 0;
}

int eau2_zk_connect(eau2_zk **out, const struct eau2_zk_options *opt,
		    struct eau2_error *err)
{
	const char *cluster = opt->cluster ? opt->cluster : "eau2";
	int session_ms = opt->session_ms > 0 ? opt->session_ms : 10000;
	struct timespec dl;
	unsigned long mark;
	eau2_zk *zk;
	int rc;

	*out = NULL;
	if ((rc = check_connect(opt->connect, err)))
		return rc;
	if (strlen(cluster) >= EAU2_ZK_CLUSTER_MAX || strpbrk(cluster, ":@[]"))
		return eau2_error_set(err, -EINVAL,
				      "cluster name '%.80s': 1-%d bytes of [A-Za-z0-9._-]",
				      cluster, EAU2_ZK_CLUSTER_MAX - 1);
	if ((rc = eau2_zk_check_name(cluster, EAU2_ZK_CLUSTER_MAX - 1, "cluster name", err)))
		return rc;
	pthread_once(&log_once, log_init);
	if (!(zk = calloc(1, sizeof(*zk))) || !(zk->connect = strdup(opt->connect))) {
		free(zk);
		return eau2_error_set(err, -ENOMEM, "ZooKeeper connect: out of memory");
	}
	zk->root_len = (size_t)snprintf(zk->root, sizeof(zk->root), "/eau2/%s", cluster);
	zk->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : session_ms;
	zk->on_session = opt->on_session;
	zk->arg = opt->arg;
	pthread_mutex_init(&zk->mu, NULL);
	eau2_zk_cond_init(&zk->cv);

	dl = eau2_zk_deadline(zk->timeout_ms);
	mark = log_mark();
	errno = 0;
	zk->zh = zookeeper_init(zk->connect, session_event, session_ms, NULL, zk, 0);
	if (!zk->zh) {
		rc = errno ? -errno : -EIO;
		eau2_error_set(err, rc == -ENOMEM ? rc : -EINVAL,
			       "ZooKeeper %s: cannot start a client (%s): a host that does not resolve?",
			       zk->connect, strerror(-rc));
		rc = rc == -ENOMEM ? rc : -EINVAL;
		goto fail;
	}
	pthread_mutex_lock(&zk->mu);
	while (zk->state != EAU2_ZK_CONNECTED && zk->state != EAU2_ZK_EXPIRED &&
	       pthread_cond_timedwait(&zk->cv, &zk->mu, &dl) != ETIMEDOUT)
		;
	rc = zk->state;
	pthread_mutex_unlock(&zk->mu);
	if (rc != EAU2_ZK_CONNECTED) {
		char last[256];

		last_log_since(mark, last, sizeof(last));
		rc = eau2_error_set(err, rc == EAU2_ZK_EXPIRED ? -ENOTCONN : -ETIMEDOUT,
				    "ZooKeeper %s: no session within %d ms (down, unreachable or stopped?); the client last said: %s",
				    zk->connect, zk->timeout_ms, last);
		goto fail;
	}
	if ((rc = zmkdirs(zk, zk->root, &dl, err)))
		goto fail;
	*out = zk;
	return 0;
fail:
	eau2_zk_close(zk);
	return rc;
}

void eau2_zk_close(eau2_zk *zk)
{
	if (!zk)
		return;
	pthread_mutex_lock(&zk->mu);
	zk->closing = true;
	pthread_cond_broadcast(&zk->cv);
	pthread_mutex_unlock(&zk->mu);
	/* Runs the completions still pending (ZCLOSING) and joins the
	 * client's threads: nothing of ours is touched after it. */
	if (zk->zh)
		zookeeper_close(zk->zh);
	pthread_mutex_lock(&zk->mu);
	while (zk->watches)
		watch_unlink_locked(zk->watches);
	pthread_mutex_unlock(&zk->mu);
	pthread_cond_destroy(&zk->cv);
	pthread_mutex_destroy(&zk->mu);
	free(zk->connect);
	free(zk);
}

int eau2_zk_wait_connected(eau2_zk *zk, int timeout_ms, struct eau2_error *err)
{
	struct timespec dl = eau2_zk_deadline(timeout_ms);
	int rc = wait_connected(zk, &dl, "connect", zk->root, err);

	if (rc == -ETIMEDOUT)
		rc = eau2_error_set(err, -ETIMEDOUT, "ZooKeeper %s: no connection within %d ms",
				    zk->connect, timeout_ms);
	return rc;
}

const char *eau2_zk_root(const eau2_zk *zk)
{
	return zk->root;
}

const char *eau2_zk_connect_string(const eau2_zk *zk)
{
	return zk->connect;
}

int64_t eau2_zk_session_id(const eau2_zk *zk, char passwd[16])
{
	const clientid_t *id = zoo_client_id(zk->zh);

	if (passwd)
		memcpy(passwd, id->passwd, 16);
	return id->client_id;
}

int eau2_zk_session_ms(const eau2_zk *zk)
{
	return zoo_recv_timeout(zk->zh);
}

bool eau2_zk_expired(eau2_zk *zk)
{
	bool e;

	pthread_mutex_lock(&zk->mu);
	e = zk->state == EAU2_ZK_EXPIRED || zk->closing;
	pthread_mutex_unlock(&zk->mu);
	return e;
}
