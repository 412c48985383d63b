/* SPDX-License-Identifier: MIT */
/* testutil.c - see testutil.h. */
#include "testutil.h"
#include "df/load.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	char *path;

	if (!base)
		base = "/tmp";
	if (asprintf(&path, "%s/eau2-test-%s-XXXXXX", base, tag) < 0)
		abort();
	if (!mkdtemp(path))
		fail_msg("mkdtemp %s: %s", path, strerror(errno));
	return path;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

void tu_rmdir(char *path)
{
	if (path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

static pthread_mutex_t walk_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t walk_bytes; /* under walk_mu */

static int walk_add(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)p; (void)f;
	if (flag == FTW_F)
		walk_bytes += (uint64_t)st->st_blocks * 512;
	return 0;
}

uint64_t tu_allocated(const char *dir)
{
	uint64_t b;
	int rc = -1;

	pthread_mutex_lock(&walk_mu);
	/* Again should a directory vanish mid-walk (files that do are
	 * skipped by nftw itself). */
	for (int i = 0; i < 10 && rc != 0; i++) {
		walk_bytes = 0;
		rc = nftw(dir, walk_add, 16, FTW_PHYS);
	}
	b = walk_bytes;
	pthread_mutex_unlock(&walk_mu);
	if (rc == 0)
		return b;
	/* Not fail_msg: pushers and progress callbacks call this off the
	 * test's thread, where cmocka cannot end the test. */
	fprintf(stderr, "tu_allocated: nftw %s: %s\n", dir, strerror(errno));
	return UINT64_MAX;
}

eau2 *tu_open_store(char **dir)
{
	struct eau2_error err = {0};
	eau2 *db = NULL;

	*dir = tu_tmpdir("store");
	if (eau2_open(&db, TU_STORE(*dir), &err) != 0)
		fail_msg("eau2_open %s: %s", *dir, err.msg);
	return db;
}

void tu_close_store(eau2 *db, char *dir)
{
	eau2_close(db);
	tu_rmdir(dir);
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void tu_on_tmpfs(char *dir, const char *opts, int (*fn)(const char *dir))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		int rc;

		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tmpfs", dir, "tmpfs", 0, opts))
			_exit(77);
		rc = fn(dir);
		umount(dir);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	tu_rmdir(dir);
	if (WEXITSTATUS(status) == 77)
		skip(); /* no CAP_SYS_ADMIN here */
	assert_int_equal(WEXITSTATUS(status), 0);
}

int tu_quick(void)
{
	const char *q = getenv("EAU2_TEST_QUICK");

	return q && *q && strcmp(q, "0") != 0;
}

int tu_fx_setup(void **state)
{
	struct tu_fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->db = tu_open_store(&f->dir);
	f->tmp = tu_tmpdir("input");
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	*state = f;
	return 0;
}

int tu_fx_teardown(void **state)
{
	struct tu_fx *f = *state;

	tu_close_store(f->db, f->dir);
	tu_rmdir(f->tmp);
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	free(f);
	return 0;
}

const char *tu_put_file(struct tu_fx *f, const char *name, const char *data,
			size_t n)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/%s", f->tmp, name);
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	return f->path;
}
