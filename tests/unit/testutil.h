/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by the cmocka unit tests: fresh store
 * directories that clean themselves up, and a fixed-seed PRNG.
 */
#ifndef EAU2_TESTUTIL_H
#define EAU2_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "eau2.h"

/* A new empty directory under /dev/shm (or $TMPDIR when /dev/shm is
 * missing); returns a malloc'd path. */
char *tu_tmpdir(const char *tag);
/* rm -rf path, then free(path). */
void tu_rmdir(char *path);
/* Bytes allocated to the files under dir (st_blocks); thread-safe. A
 * walk that fails ten times says why on stderr and returns UINT64_MAX,
 * so every bound on the result fails, on the test's thread. */
uint64_t tu_allocated(const char *dir);
/* eau2_open's options for the store at dir, everything else default. */
#define TU_STORE(dir) (&(struct eau2_options){ .store = (dir) })
/* Opens a store in a fresh directory; *dir receives the path. */
eau2 *tu_open_store(char **dir);
/* Closes db and removes the directory. */
void tu_close_store(eau2 *db, char *dir);

/* The loader tests' fixture: a fresh store and a directory for input
 * files. tu_fx_setup/teardown are cmocka setup/teardown functions (they
 * also reset the loader's test tuning, eau2_load_tune). */
struct tu_fx {
	eau2 *db;
	char *dir;
	char *tmp;
	char path[4096];
};
int tu_fx_setup(void **state);
int tu_fx_teardown(void **state);
/* Writes n bytes to tmp/name; returns the path (in f->path). */
const char *tu_put_file(struct tu_fx *f, const char *name, const char *data,
			size_t n);

/* splitmix64: deterministic, seedable. */
uint64_t tu_rand(uint64_t *state);

/* Runs fn(dir) in a child process, in a private mount namespace with a
 * tmpfs mounted on dir (mount options opts, "size=16m"), and asserts it
 * exits 0; skips the test where the namespace or the mount is not allowed
 * (no CAP_SYS_ADMIN). fn returns the child's exit status (say why on
 * stderr when not 0). dir is removed afterwards and freed. */
void tu_on_tmpfs(char *dir, const char *opts, int (*fn)(const char *dir));

/* True when EAU2_TEST_QUICK is set (sanitizer runs shrink big tests). */
int tu_quick(void);

/* Asserts rc == 0, printing err->msg when not. */
#define tu_ok(rc, err) do { \
	int tu_rc_ = (rc); \
	if (tu_rc_ != 0) \
		fail_msg("%s = %d: %s", #rc, tu_rc_, (err)->msg); \
} while (0)

#endif
