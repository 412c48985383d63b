/* SPDX-License-Identifier: MIT */
/*
 * file.c - files written for a user (a temporary created exclusively,
 * renamed into place) and user input paths opened without blocking. See
 * file.h for the rules both follow.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"

/* Tries this many random names before giving up: each collision is a file
 * someone else made, so many in a row mean the directory is hostile. */
#define TMP_TRIES 32

static uint64_t tmp_token(void)
{
	uint64_t v = 0;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec;
	}
	return v;
}

int eau2_outfile_open(struct eau2_outfile *f, const char *path, mode_t mode,
		      struct eau2_error *err)
{
	int rc = -EEXIST, tries;

	f->fd = -1;
	f->tmp = NULL;
	f->path = strdup(path);
	if (!f->path)
		return eau2_error_set(err, -ENOMEM, "%s: out of memory", path);
	for (tries = 0; tries < TMP_TRIES && rc == -EEXIST; tries++) {
		free(f->tmp);
		if (asprintf(&f->tmp, "%s.tmp-%012" PRIx64, path,
			     tmp_token() & (uint64_t)0xffffffffffff) < 0) {
			f->tmp = NULL;
			rc = -ENOMEM;
			break;
		}
		/* O_EXCL: a name that exists, a symlink included (even a
		 * dangling one), is never opened; O_NOFOLLOW says so twice. */
		f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			     O_CLOEXEC, mode);
		rc = f->fd >= 0 ? 0 : -errno;
	}
	if (rc) {
		if (rc == -ENOMEM)
			eau2_error_set(err, rc, "%s: out of memory", path);
		else
			eau2_error_set(err, rc, "%s: cannot create a temporary beside it: %s",
				       path, strerror(-rc));
		free(f->tmp);
		free(f->path);
		f->tmp = f->path = NULL;
		return rc;
	}
	return 0;
}

static void outfile_release(struct eau2_outfile *f)
{
	free(f->tmp);
	free(f->path);
	f->tmp = f->path = NULL;
	f->fd = -1;
}

int eau2_outfile_commit(struct eau2_outfile *f, struct eau2_error *err)
{
	int rc = 0;

	if (f->fd >= 0 && close(f->fd) != 0)
		rc = eau2_error_set(err, -errno, "%s: %s", f->tmp, strerror(errno));
	f->fd = -1;
	if (!rc && rename(f->tmp, f->path) != 0)
		rc = eau2_error_set(err, -errno, "%s: %s", f->path, strerror(errno));
	if (rc)
		unlink(f->tmp);
	outfile_release(f);
	return rc;
}

void eau2_outfile_abort(struct eau2_outfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	outfile_release(f);
}

int eau2_open_regular(const char *path, struct eau2_error *err)
{
	struct stat st;
	int fd, rc;

	/* O_NONBLOCK: opening a FIFO for reading otherwise waits for a
	 * writer, forever. It means nothing for a regular file. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return eau2_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = eau2_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = eau2_error_set(err, -EISDIR, "%s: is a directory", path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = eau2_error_set(err, -EINVAL, "%s: not a regular file (%s)", path,
				    S_ISFIFO(st.st_mode) ? "a FIFO" :
				    S_ISSOCK(st.st_mode) ? "a socket" :
				    S_ISCHR(st.st_mode) ? "a character device" :
				    S_ISBLK(st.st_mode) ? "a block device" : "not a file");
		goto fail;
	}
	if (fcntl(fd, F_SETFL, 0) < 0) {
		rc = eau2_error_set(err, -errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

long eau2_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}
