/* SPDX-License-Identifier: MIT */
/*
 * store.c - opening a store directory, the catalog of keys, dataframe ids
 * and their lock files, and garbage collection of what killed writers left.
 * The layout and the access rules are in shm.h.
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm/shm.h"
#include "util/log.h"

#define MARKER "EAU2STORE"
#define MARKER_TEXT "eau2 store, layout 1\n"

/* /dev/shm/eau2-$USER (the user's name from the password database when
 * USER is unset). */
static int default_dir(char **out, struct eau2_error *err)
{
	const char *user = getenv("USER");
	struct passwd *pw;

	if (!user || !*user) {
		pw = getpwuid(geteuid());
		user = pw ? pw->pw_name : "unknown";
	}
	if (asprintf(out, "/dev/shm/eau2-%s", user) < 0)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* 1 when dir holds only what a store being created by another process
 * may already hold, 0 when it holds something else. */
static int looks_empty(int dirfd)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dirfd), ok = 1;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "keys") || !strcmp(e->d_name, "data") ||
		    !strncmp(e->d_name, MARKER ".tmp", sizeof(MARKER ".tmp") - 1))
			continue;
		ok = 0;
		break;
	}
	closedir(d);
	return ok;
}

static int write_marker(int dirfd, struct eau2_error *err, const char *dir)
{
	char tmp[64];
	int fd, rc = 0;
	ssize_t len = (ssize_t)strlen(MARKER_TEXT);

	snprintf(tmp, sizeof(tmp), MARKER ".tmp.%d", (int)getpid());
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return eau2_error_set(err, -errno, "%s: cannot create store marker: %s",
				      dir, strerror(errno));
	if (write(fd, MARKER_TEXT, (size_t)len) != len)
		rc = eau2_error_set(err, -EIO, "%s: cannot write store marker", dir);
	close(fd);
	if (!rc && renameat(dirfd, tmp, dirfd, MARKER) < 0)
		rc = eau2_error_set(err, -errno, "%s: cannot create store marker: %s",
				    dir, strerror(errno));
	if (rc)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

static int check_marker(int dirfd, const char *dir, struct eau2_error *err)
{
	char buf[64];
	ssize_t n;
	int fd = openat(dirfd, MARKER, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno != ENOENT)
			return eau2_error_set(err, -errno, "%s/" MARKER ": %s", dir,
					      strerror(errno));
		if (looks_empty(dirfd))
			return 1; /* a new store */
		/* Another process creating the store at the same time
		 * publishes its marker before anything else (the writer's
		 * lock, say): look again before calling it foreign. */
		fd = openat(dirfd, MARKER, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return eau2_error_set(err, -EBADMSG,
					      "%s is not an eau2 store (no " MARKER
					      " file, and the directory is not empty)",
					      dir);
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n != (ssize_t)strlen(MARKER_TEXT) || memcmp(buf, MARKER_TEXT, (size_t)n))
		return eau2_error_set(err, -EBADMSG,
				      "%s/" MARKER ": not an eau2 store of layout 1", dir);
	return 0;
}

static int open_subdir(int dirfd, const char *name, const char *dir,
		       struct eau2_error *err)
{
	struct stat st;
	int fd;

	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return eau2_error_set(err, -errno, "%s/%s: %s", dir, name,
				      strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return eau2_error_set(err, -errno, "%s/%s: %s", dir, name,
				      errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid()) {
		close(fd);
		return eau2_error_set(err, -EACCES, "%s/%s: not owned by you: refused", dir, name);
	}
	return fd;
}

static int gc(struct eau2_store *db, bool try, struct eau2_error *err);

int eau2_shm_open(struct eau2_store **out, const char *dir, struct eau2_error *err)
{
	struct eau2_error gerr = {0};
	struct eau2_store *db;
	struct stat st;
	int rc;

	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (!db)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	db->dirfd = db->keysfd = db->datafd = db->writer_fd = -1;
	if (dir && *dir) {
		db->dir = strdup(dir);
		rc = db->dir ? 0 : eau2_error_set(err, -ENOMEM, "out of memory");
	} else {
		rc = default_dir(&db->dir, err);
	}
	if (rc)
		goto fail;

	if (mkdir(db->dir, 0700) < 0 && errno != EEXIST) {
		rc = eau2_error_set(err, -errno, "store %s: cannot create: %s",
				    db->dir, strerror(errno));
		goto fail;
	}
	/* The store path itself may be a symbolic link only when it is
	 * ours: one another user planted (at the default /dev/shm/eau2-$USER,
	 * say) is refused, never followed. */
	db->dirfd = open(db->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (db->dirfd < 0 && (errno == ELOOP || errno == ENOTDIR) &&
	    lstat(db->dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (st.st_uid != geteuid()) {
			rc = eau2_error_set(err, -EACCES,
					    "store %s is a symbolic link owned by uid %u, not by "
					    "you (uid %u): refused", db->dir,
					    (unsigned)st.st_uid, (unsigned)geteuid());
			goto fail;
		}
		db->dirfd = open(db->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (db->dirfd < 0) {
		rc = eau2_error_set(err, -errno, "store %s: %s", db->dir,
				    errno == ENOTDIR ? "not a directory" : strerror(errno));
		goto fail;
	}
	if (fstat(db->dirfd, &st) < 0) {
		rc = eau2_error_set(err, -errno, "store %s: %s", db->dir, strerror(errno));
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		rc = eau2_error_set(err, -EACCES,
				    "store %s belongs to uid %u, not to you (uid %u)",
				    db->dir, (unsigned)st.st_uid, (unsigned)geteuid());
		goto fail;
	}
	/* Before anything is created in it. */
	if ((rc = eau2_shm_pages(db->dirfd, db->dir, &db->pages, err)))
		goto fail;
	rc = check_marker(db->dirfd, db->dir, err);
	if (rc < 0)
		goto fail;
	db->keysfd = open_subdir(db->dirfd, "keys", db->dir, err);
	if (db->keysfd < 0) {
		rc = db->keysfd;
		goto fail;
	}
	db->datafd = open_subdir(db->dirfd, "data", db->dir, err);
	if (db->datafd < 0) {
		rc = db->datafd;
		goto fail;
	}
	if (rc == 1 && (rc = write_marker(db->dirfd, err, db->dir)) < 0)
		goto fail;
	/* A reader never waits for a writer: clean up only when the writer
	 * lock is free now (the next open, or eau2_gc, does it otherwise). */
	rc = gc(db, true, &gerr);
	if (rc == -EBADMSG) {
		/* A bad key: nothing was removed. Say so; the store opens. */
		eau2_warn("%s", gerr.msg);
		rc = 0;
	}
	if (rc) {
		if (err)
			*err = gerr;
		goto fail;
	}
	*out = db;
	return 0;
fail:
	eau2_shm_close(db);
	return rc;
}

void eau2_shm_close(struct eau2_store *db)
{
	if (!db)
		return;
	if (db->dirfd >= 0)
		close(db->dirfd);
	if (db->keysfd >= 0)
		close(db->keysfd);
	if (db->datafd >= 0)
		close(db->datafd);
	if (db->writer_fd >= 0)
		close(db->writer_fd);
	eau2_shm_cores_unmap(db);
	free(db->dir);
	free(db);
}

/* op: LOCK_EX, or LOCK_EX | LOCK_NB to fail with -EWOULDBLOCK (err left
 * alone) instead of waiting for another process. */
static int writer_lock(struct eau2_store *db, int op, struct eau2_error *err)
{
	if (db->writer_depth++ > 0)
		return 0;
	if (db->writer_fd < 0) {
		db->writer_fd = openat(db->dirfd, "writer.lock",
				       O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (db->writer_fd < 0) {
			db->writer_depth = 0;
			return eau2_error_set(err, -errno, "store %s: writer.lock: %s",
					      db->dir, strerror(errno));
		}
	}
	while (flock(db->writer_fd, op) < 0) {
		if (errno != EINTR) {
			db->writer_depth = 0;
			if (errno == EWOULDBLOCK)
				return -EWOULDBLOCK;
			return eau2_error_set(err, -errno, "store %s: writer.lock: %s",
					      db->dir, strerror(errno));
		}
	}
	return 0;
}

int eau2_shm_writer_lock(struct eau2_store *db, struct eau2_error *err)
{
	return writer_lock(db, LOCK_EX, err);
}

void eau2_shm_writer_unlock(struct eau2_store *db)
{
	if (--db->writer_depth == 0)
		flock(db->writer_fd, LOCK_UN);
}

/* ------------------------------------------------------------------ keys */

static int plain_key_byte(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c == '.';
}

int eau2_shm_key_encode(const char *key, char *out, struct eau2_error *err)
{
	size_t i, o = 0, len;

	if (!key)
		return eau2_error_set(err, -EINVAL, "key is NULL");
	len = strlen(key);
	if (len == 0)
		return eau2_error_set(err, -EINVAL, "key is empty");
	if (len > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "key '%.40s...' is %zu bytes long (at most %d)",
				      key, len, EAU2_KEY_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c < 0x20 || c > 0x7e)
			return eau2_error_set(err, -EINVAL,
					      "key has byte 0x%02x at offset %zu: keys are printable ASCII",
					      c, i);
		/* A leading '.' is encoded so no key names ".", ".." or a
		 * hidden temporary file. */
		if (plain_key_byte(c) && !(i == 0 && c == '.')) {
			if (o + 1 > 250)
				goto long_key;
			out[o++] = (char)c;
		} else {
			if (o + 3 > 250)
				goto long_key;
			o += (size_t)sprintf(out + o, "%%%02X", c);
		}
	}
	out[o] = 0;
	return 0;
long_key:
	return eau2_error_set(err, -EINVAL,
			      "key '%.40s...' is too long once encoded for the file system",
			      key);
}

static int key_decode(const char *name, char *out)
{
	size_t o = 0;

	for (; *name; name++) {
		unsigned v;

		if (o >= EAU2_KEY_MAX)
			return -1;
		if (*name != '%') {
			out[o++] = *name;
			continue;
		}
		if (sscanf(name + 1, "%2X", &v) != 1 || !isxdigit((unsigned char)name[1]) ||
		    !isxdigit((unsigned char)name[2]))
			return -1;
		out[o++] = (char)v;
		name += 2;
	}
	out[o] = 0;
	return 0;
}

static int parse_id(const char *s, size_t n, uint64_t *id)
{
	uint64_t v = 0;
	size_t i;

	if (n < 16)
		return -1;
	for (i = 0; i < 16; i++) {
		int c = (unsigned char)s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return v ? 0 : -1;
}

static int read_key_file(int keysfd, const char *name, uint64_t *id)
{
	char buf[32];
	ssize_t n;
	int fd = openat(keysfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != 17 || buf[16] != '\n' || parse_id(buf, 16, id))
		return -EBADMSG;
	return 0;
}

int eau2_shm_key_read(struct eau2_store *db, const char *key, uint64_t *id,
		      struct eau2_error *err)
{
	char name[256];
	int rc = eau2_shm_key_encode(key, name, err);

	if (rc)
		return rc;
	rc = read_key_file(db->keysfd, name, id);
	if (rc == -ENOENT)
		return eau2_error_set(err, rc, "no key '%s' in store %s", key, db->dir);
	if (rc == -EBADMSG)
		return eau2_error_set(err, rc, "key '%s': catalog entry %s/keys/%s is corrupt",
				      key, db->dir, name);
	if (rc)
		return eau2_error_set(err, rc, "key '%s': %s", key, strerror(-rc));
	return 0;
}

int eau2_shm_key_write(struct eau2_store *db, const char *key, uint64_t id, uint64_t *old,
		       struct eau2_error *err)
{
	char name[256], tmp[64], text[32];
	int fd, rc;

	assert(db->writer_depth > 0);
	rc = eau2_shm_key_encode(key, name, err);
	if (rc)
		return rc;
	*old = 0;
	if (read_key_file(db->keysfd, name, old))
		*old = 0;
	snprintf(tmp, sizeof(tmp), ".tmp.%d", (int)getpid());
	snprintf(text, sizeof(text), "%016" PRIx64 "\n", id);
	fd = openat(db->keysfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return eau2_error_set(err, -errno, "key '%s': %s", key, strerror(errno));
	if (write(fd, text, 17) != 17) {
		rc = eau2_error_set(err, errno == ENOSPC ? -ENOSPC : -EIO,
				    "key '%s': cannot write catalog entry (store %s full?)",
				    key, db->dir);
		close(fd);
		unlinkat(db->keysfd, tmp, 0);
		return rc;
	}
	close(fd);
	if (renameat(db->keysfd, tmp, db->keysfd, name) < 0) {
		rc = eau2_error_set(err, -errno, "key '%s': %s", key, strerror(errno));
		unlinkat(db->keysfd, tmp, 0);
		return rc;
	}
	return 0;
}

int eau2_shm_key_remove(struct eau2_store *db, const char *key, uint64_t *old,
			struct eau2_error *err)
{
	char name[256];
	int rc = eau2_shm_key_read(db, key, old, err);

	if (rc && rc != -EBADMSG)
		return rc;
	if (rc)
		*old = 0;
	eau2_shm_key_encode(key, name, NULL);
	if (unlinkat(db->keysfd, name, 0) < 0)
		return eau2_error_set(err, -errno, "key '%s': %s", key, strerror(errno));
	return 0;
}

/* Key files that exist but cannot be read or parsed (mode 000, garbage):
 * how many, and the first one's file name and error. */
struct bad_keys {
	size_t n;
	int code;
	char name[256];
};

/* Calls fn for each key file (name, id); stops when fn returns non-zero.
 * Key files that cannot be read are counted in bad (when not NULL). */
static int each_key(struct eau2_store *db, int (*fn)(void *ctx, const char *name, uint64_t id),
		    void *ctx, struct bad_keys *bad)
{
	int fd = dup(db->keysfd), rc = 0;
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		uint64_t id;

		if (e->d_name[0] == '.')
			continue;
		rc = read_key_file(db->keysfd, e->d_name, &id);
		if (rc) {
			/* Vanished: removed meanwhile. Otherwise get reports
			 * it, and a caller about to delete files learns that
			 * this key might name them. */
			if (rc != -ENOENT && bad && bad->n++ == 0) {
				bad->code = rc;
				snprintf(bad->name, sizeof(bad->name), "%s", e->d_name);
			}
			rc = 0;
			continue;
		}
		if ((rc = fn(ctx, e->d_name, id)))
			break;
	}
	closedir(d);
	return rc;
}

static int match_id(void *ctx, const char *name, uint64_t id)
{
	(void)name;
	return id == *(uint64_t *)ctx;
}

int eau2_shm_id_referenced(struct eau2_store *db, uint64_t id)
{
	struct bad_keys bad = {0};

	/* A key that cannot be read might name id: keep id. */
	return each_key(db, match_id, &id, &bad) == 1 || bad.n;
}

struct key_list {
	char **keys;
	size_t n, cap;
};

static int add_key(void *ctx, const char *name, uint64_t id)
{
	struct key_list *l = ctx;
	char key[EAU2_KEY_MAX + 1];

	(void)id;
	if (key_decode(name, key))
		return 0;
	if (l->n + 2 > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **k = realloc(l->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->cap = cap;
	}
	if (!(l->keys[l->n] = strdup(key)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eau2_shm_keys_list(struct eau2_store *db, char ***keys, size_t *n, struct eau2_error *err)
{
	struct key_list l = {0};
	int rc = each_key(db, add_key, &l, NULL);

	if (rc) {
		if (l.keys)
			l.keys[l.n] = NULL;
		eau2_list_free(l.keys);
		return eau2_error_set(err, rc, "store %s: listing keys: %s", db->dir,
				      strerror(-rc));
	}
	if (!l.keys && !(l.keys = calloc(1, sizeof(char *))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	l.keys[l.n] = NULL;
	if (l.n)
		qsort(l.keys, l.n, sizeof(char *), cmp_str);
	*keys = l.keys;
	if (n)
		*n = l.n;
	return 0;
}

void eau2_list_free(char **keys)
{
	char **k;

	if (!keys)
		return;
	for (k = keys; *k; k++)
		free(*k);
	free(keys);
}

int eau2_shm_keys_watch(struct eau2_store *db, int *fd, struct eau2_error *err)
{
	char path[4096];

	*fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (*fd < 0)
		return eau2_error_set(err, -errno, "inotify: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/keys", db->dir);
	if (inotify_add_watch(*fd, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
		int rc = -errno;

		close(*fd);
		*fd = -1;
		return eau2_error_set(err, rc, "inotify %s: %s", path, strerror(-rc));
	}
	return 0;
}

int eau2_shm_keys_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[4096];
	int rc = poll(&p, 1, timeout_ms);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	while (rc > 0 && read(fd, buf, sizeof(buf)) > 0)
		; /* drain: callers re-check the key */
	return 0;
}

/* --------------------------------------------------------- ids and files */

void eau2_shm_desc_name(char *buf, uint64_t id)
{
	snprintf(buf, 64, "%016" PRIx64 ".df", id);
}

void eau2_shm_seg_name(char *buf, uint64_t id, uint32_t n)
{
	snprintf(buf, 64, "%016" PRIx64 ".%" PRIu32 ".seg", id, n);
}

static void lock_name(char *buf, uint64_t id)
{
	snprintf(buf, 64, "%016" PRIx64 ".lock", id);
}

static uint64_t new_id(void)
{
	uint64_t id = 0;
	struct timespec ts;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		id = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid();
	}
	return id ? id : 1;
}

/* The lock file appears already locked: made anonymous with O_TMPFILE,
 * locked, then linked in, so eau2_gc can never see it unlocked while its
 * builder lives. Where O_TMPFILE is missing, create-then-lock leaves a
 * window of a few instructions. */
static int make_lock(int datafd, const char *name)
{
	char proc[64];
	int fd = openat(datafd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0) {
		if (flock(fd, LOCK_EX) < 0)
			goto fail;
		if (linkat(fd, "", datafd, name, AT_EMPTY_PATH) == 0)
			return fd;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		if (errno != EEXIST &&
		    linkat(AT_FDCWD, proc, datafd, name, AT_SYMLINK_FOLLOW) == 0)
			return fd;
		goto fail;
	}
	fd = openat(datafd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) == 0)
		return fd;
fail:
	{
		int rc = -errno;

		close(fd);
		return rc;
	}
}

int eau2_shm_id_create(struct eau2_store *db, uint64_t *id, int *lock_fd,
		       struct eau2_error *err)
{
	char name[64];
	int tries, fd = -EEXIST;

	for (tries = 0; tries < 16 && fd == -EEXIST; tries++) {
		*id = new_id();
		lock_name(name, *id);
		fd = make_lock(db->datafd, name);
	}
	if (fd < 0)
		return eau2_error_set(err, fd, "store %s: cannot create a dataframe: %s",
				      db->dir, strerror(-fd));
	*lock_fd = fd;
	return 0;
}

void eau2_shm_id_published(struct eau2_store *db, uint64_t id, int lock_fd)
{
	char name[64];

	lock_name(name, id);
	unlinkat(db->datafd, name, 0);
	close(lock_fd);
}

void eau2_shm_id_remove(int datafd, uint64_t id)
{
	char name[64];
	uint32_t n = 0;

	/* Segments are numbered densely from 0; removing them from the top
	 * down keeps them dense if we are killed half-way, so a later remove
	 * (or eau2_gc) finds the rest. */
	for (;; n++) {
		eau2_shm_seg_name(name, id, n);
		if (faccessat(datafd, name, F_OK, 0) < 0)
			break;
	}
	while (n-- > 0) {
		eau2_shm_seg_name(name, id, n);
		unlinkat(datafd, name, 0);
	}
	eau2_shm_desc_name(name, id);
	unlinkat(datafd, name, 0);
	lock_name(name, id);
	unlinkat(datafd, name, 0);
}

/* ---------------------------------------------------------------- gc */

struct id_set {
	uint64_t *ids;
	size_t n, cap;
};

static int set_add(struct id_set *s, uint64_t id)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *p = realloc(s->ids, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->ids = p;
		s->cap = cap;
	}
	s->ids[s->n++] = id;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int collect_ref(void *ctx, const char *name, uint64_t id)
{
	(void)name;
	return set_add(ctx, id);
}

static int set_has(const struct id_set *s, uint64_t id)
{
	return s->n && bsearch(&id, s->ids, s->n, sizeof(id), cmp_u64) != NULL;
}

/* True when no live process holds id's lock file. A missing lock file
 * means the id was published once (put removes it). */
static int id_abandoned(int datafd, uint64_t id)
{
	char name[64];
	int fd, free_;

	lock_name(name, id);
	fd = openat(datafd, name, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_;
}

/* Catalog temporaries are only written under the writer lock, so any
 * seen while holding it belongs to a dead writer. */
static void remove_key_temps(struct eau2_store *db)
{
	int fd = dup(db->keysfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".tmp.", 5))
			unlinkat(db->keysfd, e->d_name, 0);
	closedir(d);
}

/* eau2_gc; with try, returns 0 at once, doing nothing, when another
 * process holds the writer lock. */
static int gc(struct eau2_store *db, bool try, struct eau2_error *err)
{
	struct id_set refs = {0}, seen = {0}, dead = {0};
	struct bad_keys bad = {0};
	DIR *d = NULL;
	struct dirent *e;
	int fd, rc, pass;
	size_t i;

	rc = writer_lock(db, try ? LOCK_EX | LOCK_NB : LOCK_EX, err);
	if (rc)
		return rc == -EWOULDBLOCK ? 0 : rc;
	rc = each_key(db, collect_ref, &refs, &bad);
	if (rc)
		goto out;
	if (bad.n) {
		/* An unreadable key may name any unreferenced id: remove none. */
		remove_key_temps(db);
		rc = -EBADMSG;
		goto out;
	}
	if (refs.n)
		qsort(refs.ids, refs.n, sizeof(uint64_t), cmp_u64);

	fd = dup(db->datafd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto out;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		uint64_t id;

		if (parse_id(e->d_name, strlen(e->d_name), &id) || e->d_name[16] != '.')
			continue;
		/* A key names id, yet its lock file is there and nobody holds
		 * it: a put killed between the key's rename and the lock's
		 * unlink (both under the writer lock we hold). */
		if (set_has(&refs, id)) {
			if (!strcmp(e->d_name + 16, ".lock") && id_abandoned(db->datafd, id))
				unlinkat(db->datafd, e->d_name, 0);
			continue;
		}
		if ((rc = set_add(&seen, id)))
			goto out;
	}
	if (seen.n)
		qsort(seen.ids, seen.n, sizeof(uint64_t), cmp_u64);
	for (i = 0; i < seen.n; i++)
		if ((i == 0 || seen.ids[i] != seen.ids[i - 1]) &&
		    id_abandoned(db->datafd, seen.ids[i]) &&
		    (rc = set_add(&dead, seen.ids[i])))
			goto out;
	/* Remove by listing, not by eau2_shm_id_remove's walk from segment 0:
	 * a remove killed half-way may have left any subset. Lock files go
	 * last, so a half-done pass is finished by the next. */
	for (pass = 0; pass < 2 && dead.n; pass++) {
		rewinddir(d);
		while ((e = readdir(d))) {
			uint64_t id;
			int is_lock = strstr(e->d_name, ".lock") != NULL;

			if (parse_id(e->d_name, strlen(e->d_name), &id) ||
			    e->d_name[16] != '.' || is_lock != pass ||
			    !set_has(&dead, id))
				continue;
			unlinkat(db->datafd, e->d_name, 0);
		}
	}
	remove_key_temps(db);
out:
	if (d)
		closedir(d);
	eau2_shm_writer_unlock(db);
	free(refs.ids);
	free(seen.ids);
	free(dead.ids);
	if (bad.n) {
		char key[EAU2_KEY_MAX + 1];

		if (key_decode(bad.name, key))
			snprintf(key, sizeof(key), "%.*s", EAU2_KEY_MAX, bad.name);
		return eau2_error_set(err, rc, "store %s: key '%s' (keys/%s) cannot be read: %s%s; "
				      "clean-up removed nothing (fix or remove that key)",
				      db->dir, key, bad.name,
				      bad.code == -EBADMSG ? "not a dataframe id" : strerror(-bad.code),
				      bad.n > 1 ? ", nor can some others" : "");
	}
	if (rc)
		return eau2_error_set(err, rc, "store %s: gc: %s", db->dir, strerror(-rc));
	return 0;
}

int eau2_shm_gc(struct eau2_store *db, struct eau2_error *err)
{
	return gc(db, false, err);
}
