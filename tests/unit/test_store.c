/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the store across processes: opening and refusing
 * directories (and creating one from several processes at once), put/get/replace/delete/list, wait_get, readers in other
 * processes while a writer replaces keys, a writer killed with SIGKILL in
 * the middle of a put, corruption detected on read (chunk headers
 * included), the stale lock file of a put killed after its rename, keys
 * that cannot be read (clean-up removes nothing), and a full store.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "df/df.h"
#include "testutil.h"

/* A dataframe of `rows` rows whose every value is `gen`: a reader can
 * tell a torn dataframe from a whole one. */
static eau2_df *make_gen(eau2 *db, int64_t gen, uint64_t rows)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	char str[32];
	uint64_t r;
	int n = snprintf(str, sizeof(str), "gen-%lld", (long long)gen);

	tu_ok(eau2_schema_parse("g:int,s:string", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (r = 0; r < rows; r++) {
		tu_ok(eau2_builder_append_int(b, 0, gen, &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, str, (size_t)n, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	return df;
}

/* 0 when df is a whole make_gen dataframe; its generation in *gen. */
static int check_gen(const eau2_df *df, int64_t *gen)
{
	struct eau2_chunk_view v;
	size_t g;
	uint32_t i;

	if (eau2_df_rows(df) == 0 || eau2_df_rows(df) % 1000)
		return -1;
	if (eau2_df_chunk(df, 0, 0, &v, NULL))
		return -1;
	*gen = v.values.i64[0];
	if (eau2_df_rows(df) != (uint64_t)*gen * 1000)
		return -1;
	for (g = 0; g < eau2_df_ngroups(df); g++) {
		if (eau2_df_chunk(df, 0, g, &v, NULL))
			return -1;
		for (i = 0; i < v.rows; i++)
			if (v.values.i64[i] != *gen)
				return -1;
	}
	return 0;
}

static int count_files(const char *dir, const char *sub)
{
	char path[4096];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Distinct dataframe ids among the files of data/. */
static int count_ids(const char *dir)
{
	char path[4096], ids[64][17];
	DIR *d;
	struct dirent *e;
	int n = 0, i;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strlen(e->d_name) < 16)
			continue;
		for (i = 0; i < n && strncmp(ids[i], e->d_name, 16); i++)
			;
		if (i == n && n < 64) {
			memcpy(ids[n], e->d_name, 16);
			ids[n++][16] = 0;
		}
	}
	closedir(d);
	return n;
}

static void test_open_refusals(void **state)
{
	struct eau2_error err = {0};
	char *dir = tu_tmpdir("refuse"), path[4096];
	eau2 *db;
	int fd;

	(void)state;
	/* A file is not a store. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(eau2_open(&db, TU_STORE(path), &err), -ENOTDIR);
	assert_non_null(strstr(err.msg, "not a directory"));
	/* A non-empty directory that is not a store. */
	assert_int_equal(eau2_open(&db, TU_STORE(dir), &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "is not an eau2 store"));
	/* Another user's directory. */
	if (geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/other", dir);
		mkdir(path, 0700);
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(eau2_open(&db, TU_STORE(path), &err), -EACCES);
		assert_non_null(strstr(err.msg, "belongs to uid 65534"));
	}
	/* A fresh directory becomes a store, and opens again. */
	snprintf(path, sizeof(path), "%s/store", dir);
	tu_ok(eau2_open(&db, TU_STORE(path), &err), &err);
	assert_string_equal(eau2_dir(db), path);
	eau2_close(db);
	tu_ok(eau2_open(&db, TU_STORE(path), &err), &err);
	eau2_close(db);
	/* Bad options create nothing. */
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(eau2_open(&db, &(struct eau2_options){ .store = path, .node = 7 },
				   &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node mode 7"));
	assert_int_equal(eau2_open(&db, &(struct eau2_options){ .store = path, .timeout_ms = -1 },
				   &err), -EINVAL);
	assert_int_equal(eau2_open(&db, &(struct eau2_options){ .store = path,
				   .remote = "h:1", .cluster = "z:2" }, &err), -EINVAL);
	assert_null(db);
	assert_int_equal(access(path, F_OK), -1);
	/* A ZooKeeper that is not there: the error names it, within the
	 * timeout. */
	assert_true(eau2_open(&db, &(struct eau2_options){ .store = path,
			      .cluster = "127.0.0.1:9/c", .timeout_ms = 1000 }, &err) < 0);
	assert_non_null(strstr(err.msg, "127.0.0.1:9"));
	assert_null(db);
	/* A remote node that is not there: the error names it. */
	assert_true(eau2_open(&db, &(struct eau2_options){ .store = path,
			      .remote = "127.0.0.1:9", .timeout_ms = 2000 }, &err) < 0);
	assert_non_null(strstr(err.msg, "127.0.0.1:9"));
	assert_null(db);
	tu_rmdir(dir);
}

/* Processes that create the same fresh store at once all open it: the
 * loser of the race never mistakes the winner's half-made store (its
 * writer's lock, say) for a foreign directory. */
static void test_open_race(void **state)
{
	char *dir = tu_tmpdir("race"), path[4096];
	enum { ROUNDS = 100, KIDS = 4 };
	pid_t kids[KIDS];
	int r, k, st;

	(void)state;
	for (r = 0; r < ROUNDS; r++) {
		snprintf(path, sizeof(path), "%s/s%d", dir, r);
		for (k = 0; k < KIDS; k++) {
			kids[k] = fork();
			assert_true(kids[k] >= 0);
			if (kids[k] == 0) {
				struct eau2_error err = {0};
				eau2 *db;

				/* Staggered, so that one finds the store half-made. */
				usleep((useconds_t)(k * ((r * 211) % 700)));
				if (eau2_open(&db, TU_STORE(path), &err)) {
					fprintf(stderr, "round %d: %s\n", r, err.msg);
					_exit(1);
				}
				eau2_close(db);
				_exit(0);
			}
		}
		for (k = 0; k < KIDS; k++) {
			assert_int_equal(waitpid(kids[k], &st, 0), kids[k]);
			assert_true(WIFEXITED(st));
			assert_int_equal(WEXITSTATUS(st), 0);
		}
	}
	tu_rmdir(dir);
}

static void test_catalog(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *a = make_gen(db, 1, 1000), *b = make_gen(db, 2, 2000), *got;
	char **keys;
	size_t n;
	int64_t gen;

	(void)state;
	/* Unpublished dataframes are not listed and vanish when released. */
	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	assert_int_equal(n, 0);
	eau2_list_free(keys);

	tu_ok(eau2_put(db, "x", a, &err), &err);
	tu_ok(eau2_put(db, "y", a, &err), &err); /* one dataframe, two keys */
	tu_ok(eau2_put(db, "a-first", b, &err), &err);
	tu_ok(eau2_list(db, &keys, &n, &err), &err);
	assert_int_equal(n, 3);
	assert_string_equal(keys[0], "a-first");
	assert_string_equal(keys[1], "x");
	assert_string_equal(keys[2], "y");
	assert_null(keys[3]);
	eau2_list_free(keys);

	/* Replace x by b: y still holds a. */
	tu_ok(eau2_put(db, "x", b, &err), &err);
	tu_ok(eau2_get(db, "y", &got, &err), &err);
	assert_int_equal(check_gen(got, &gen), 0);
	assert_int_equal(gen, 1);
	eau2_df_release(got);
	tu_ok(eau2_get(db, "x", &got, &err), &err);
	assert_int_equal(check_gen(got, &gen), 0);
	assert_int_equal(gen, 2);

	/* Delete y: a's files go (nothing names it); got (b) stays mapped
	 * even once every key of b is gone. */
	eau2_df_release(a);
	tu_ok(eau2_delete(db, "y", &err), &err);
	tu_ok(eau2_delete(db, "x", &err), &err);
	tu_ok(eau2_delete(db, "a-first", &err), &err);
	assert_int_equal(check_gen(got, &gen), 0);
	assert_int_equal(gen, 2);
	eau2_df_release(got);
	eau2_df_release(b);
	assert_int_equal(count_files(dir, "data"), 0);
	assert_int_equal(count_files(dir, "keys"), 0);

	/* Released before a put: nothing left. */
	a = make_gen(db, 3, 3000);
	assert_true(count_files(dir, "data") > 0);
	eau2_df_release(a);
	assert_int_equal(count_files(dir, "data"), 0);
	tu_close_store(db, dir);
}

struct delayed_put {
	char *dir;
	int delay_ms;
};

static void *put_later(void *arg)
{
	struct delayed_put *p = arg;
	struct eau2_error err = {0};
	struct timespec ts = { 0, p->delay_ms * 1000000L };
	eau2 *db;
	eau2_df *df;

	nanosleep(&ts, NULL);
	if (eau2_open(&db, TU_STORE(p->dir), &err))
		return NULL;
	df = make_gen(db, 4, 4000);
	eau2_put(db, "later", df, &err);
	eau2_df_release(df);
	eau2_close(db);
	return NULL;
}

static void test_wait_get(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct delayed_put p = { dir, 100 };
	pthread_t t;
	eau2_df *df;
	int64_t gen;

	(void)state;
	assert_int_equal(eau2_wait_get(db, "never", 50, &df, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "did not appear within 50 ms"));
	pthread_create(&t, NULL, put_later, &p);
	tu_ok(eau2_wait_get(db, "later", 10000, &df, &err), &err);
	assert_int_equal(check_gen(df, &gen), 0);
	assert_int_equal(gen, 4);
	eau2_df_release(df);
	pthread_join(t, NULL);
	tu_close_store(db, dir);
}

/* Readers in two processes see whole dataframes while a third process
 * replaces the key and adds new ones. */
static void test_readers_and_writer(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_gen(db, 1, 1000);
	pid_t kids[3];
	int k, status, gens = tu_quick() ? 20 : 60;

	(void)state;
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	for (k = 0; k < 3; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			eau2 *cdb;
			int64_t gen, last = 0;
			int i, bad = 0;

			if (eau2_open(&cdb, TU_STORE(dir), &err))
				_exit(10);
			if (k == 0) { /* the writer */
				for (i = 2; i <= gens; i++) {
					char key[32];
					eau2_df *w = make_gen(cdb, i, (uint64_t)i * 1000);

					if (eau2_put(cdb, "k", w, &err))
						_exit(11);
					snprintf(key, sizeof(key), "new-%d", i);
					if (eau2_put(cdb, key, w, &err))
						_exit(12);
					eau2_df_release(w);
				}
				_exit(0);
			}
			for (i = 0; i < 2000 && last < gens; i++) {
				eau2_df *r;

				if (eau2_get(cdb, "k", &r, &err))
					_exit(13);
				if (check_gen(r, &gen))
					bad++;
				else if (gen < last)
					bad++; /* went back in time */
				else
					last = gen;
				eau2_df_release(r);
			}
			eau2_close(cdb);
			_exit(bad ? 14 : 0);
		}
	}
	for (k = 0; k < 3; k++) {
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	tu_close_store(db, dir);
}

/* A writer killed at a random instant of a put leaves either the old or
 * the new dataframe under the key, and no space after gc. */
static void test_kill_mid_put(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = make_gen(db, 1, 1000);
	uint64_t seed = 7;
	int round, rounds = tu_quick() ? 6 : 20, status;

	(void)state;
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	for (round = 0; round < rounds; round++) {
		pid_t pid = fork();
		struct timespec ts = { 0, (long)(tu_rand(&seed) % 60) * 1000000L };
		int64_t gen;

		assert_true(pid >= 0);
		if (pid == 0) {
			eau2 *cdb;

			if (eau2_open(&cdb, TU_STORE(dir), &err))
				_exit(10);
			for (int i = 0;; i++) {
				eau2_df *w = make_gen(cdb, 100 + i % 50, (uint64_t)(100 + i % 50) * 1000);

				eau2_put(cdb, "k", w, &err);
				eau2_df_release(w);
			}
		}
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));

		tu_ok(eau2_get(db, "k", &df, &err), &err);
		assert_int_equal(check_gen(df, &gen), 0);
		tu_ok(eau2_df_verify(df, &err), &err);
		eau2_df_release(df);
		tu_ok(eau2_gc(db, &err), &err);
		/* The files of one dataframe left: the one under the key. */
		assert_int_equal(count_ids(dir), 1);
		assert_int_equal(count_files(dir, "keys"), 1);
	}
	/* The store is usable afterwards. */
	df = make_gen(db, 5, 5000);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	tu_ok(eau2_delete(db, "k", &err), &err);
	tu_ok(eau2_gc(db, &err), &err);
	assert_int_equal(count_files(dir, "data"), 0);
	tu_close_store(db, dir);
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* Path of the only file in data/ ending with suffix. */
static void find_file(const char *dir, const char *suffix, char *out)
{
	char path[2048];
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	assert_non_null(d);
	out[0] = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), s = strlen(suffix);

		if (l > s && !strcmp(e->d_name + l - s, suffix))
			snprintf(out, 4096, "%s/%s", path, e->d_name);
	}
	closedir(d);
	assert_true(out[0] != 0);
}

/* The offset of the first 8-aligned occurrence of pat in a segment file
 * under data/ (its path in out), or -1. */
static long find_bytes(const char *dir, const void *pat, size_t n, char *out)
{
	char path[2048];
	struct dirent *e;
	long off = -1;
	DIR *d;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	assert_non_null(d);
	while (off < 0 && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		unsigned char *bytes;
		long len;
		FILE *f;

		if (l < 4 || strcmp(e->d_name + l - 4, ".seg"))
			continue;
		snprintf(out, 4096, "%s/%s", path, e->d_name);
		f = fopen(out, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		bytes = malloc((size_t)len + 1);
		assert_non_null(bytes);
		assert_int_equal(fread(bytes, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		for (long i = 0; off < 0 && i + (long)n <= len; i += 8)
			if (!memcmp(bytes + i, pat, n))
				off = i;
		free(bytes);
	}
	closedir(d);
	return off;
}

/* Runs the built-in rower name (one argument, or none) over df: wants rc,
 * and on success a first int cell of want. */
static void run_named(eau2 *db, const eau2_df *df, const char *name,
		      const char *arg, const char *value, int rc, int64_t want)
{
	struct eau2_error err = {0};
	const char *names[1] = { arg }, *values[1] = { value };
	struct eau2_args args = { .n = arg ? 1 : 0, .names = names, .values = values };
	struct eau2_run_options ro = { .threads = 2 };
	eau2_df *res = NULL;
	int64_t got;
	int r = eau2_run(db, df, eau2_rower_find(name), &args, &ro, &res, &err);

	if (r != rc)
		fail_msg("%s: %d (%s), wanted %d", name, r, err.msg, rc);
	if (rc)
		return;
	tu_ok(eau2_df_get_int(res, 0, 0, &got, &err), &err);
	assert_int_equal(got, want);
	eau2_df_release(res);
}

static void test_corruption(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir), *vdb = NULL;
	eau2_df *built = make_gen(db, 3, 3000), *df;
	struct eau2_chunk_view v;
	char seg[4096], desc[4096];

	(void)state;
	tu_ok(eau2_put(db, "k", built, &err), &err);
	find_file(dir, ".0.seg", seg);
	find_file(dir, ".df", desc);

	/* A payload byte: the checksum catches it. */
	flip_byte(seg, 128 + 64);
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	assert_int_equal(eau2_df_verify(df, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "column 'g', row group 0"));
	assert_non_null(strstr(err.msg, "checksum mismatch"));
	eau2_df_release(df);
	/* The verify option makes every get check; the library ignores
	 * EAU2_VERIFY (only the command lines read it). */
	setenv("EAU2_VERIFY", "1", 1);
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	eau2_df_release(df);
	unsetenv("EAU2_VERIFY");
	tu_ok(eau2_open(&vdb, &(struct eau2_options){ .store = dir, .verify = true }, &err),
	      &err);
	assert_int_equal(eau2_get(vdb, "k", &df, &err), -EBADMSG);
	assert_null(df);
	assert_int_equal(eau2_wait_get(vdb, "k", 0, &df, &err), -EBADMSG);
	eau2_close(vdb);
	flip_byte(seg, 128 + 64);

	/* A header byte: the view refuses it. */
	flip_byte(seg, 0);
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	assert_int_equal(eau2_df_chunk(df, 0, 0, &v, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "bad magic"));
	eau2_df_release(df);
	flip_byte(seg, 0);

	/* A string offset in the middle of a chunk (first and last intact,
	 * no checksum check on a plain get): the view refuses the chunk
	 * rather than hand out strings outside it. */
	{
		int64_t want[4] = { 0, 5, 10, 15 }; /* "gen-3" x 3000 */
		char sseg[4096];
		long off = find_bytes(dir, want, sizeof(want), sseg);

		assert_true(off >= 0);
		flip_byte(sseg, off + 16 + 7); /* offsets[2] becomes huge */
		/* The builder's own dataframe does not walk the offsets it wrote
		 * again (changing them under it is outside its contract); a
		 * verify still finds the chunk changed. */
		tu_ok(eau2_df_chunk(built, 1, 0, &v, &err), &err);
		assert_int_equal(eau2_df_verify(built, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "column 's', row group 0"));
		eau2_df_release(built);
		tu_ok(eau2_get(db, "k", &df, &err), &err);
		/* A run that reads only g never views s (its class names its
		 * columns); one that reads s stops at the bad chunk. */
		run_named(db, df, "sum", "columns", "g", 0, 3 * 3000);
		run_named(db, df, "count", NULL, NULL, 0, 3000);
		run_named(db, df, "distinct", "columns", "s", -EBADMSG, 0);
		assert_int_equal(eau2_df_chunk(df, 1, 0, &v, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "column 's', row group 0"));
		assert_non_null(strstr(err.msg, "string offsets decrease at row 2"));
		/* Refused again: a bad chunk's view is never kept. */
		assert_int_equal(eau2_df_chunk(df, 1, 0, &v, &err), -EBADMSG);
		tu_ok(eau2_df_chunk(df, 0, 0, &v, &err), &err);
		eau2_df_release(df);
		flip_byte(sseg, off + 16 + 7);
		tu_ok(eau2_get(db, "k", &df, &err), &err);
		tu_ok(eau2_df_chunk(df, 1, 0, &v, &err), &err);
		tu_ok(eau2_df_verify(df, &err), &err);
		eau2_df_release(df);
	}

	/* The descriptor: refused at get. */
	flip_byte(desc, 100);
	assert_int_equal(eau2_get(db, "k", &df, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "checksum mismatch"));
	flip_byte(desc, 100);

	/* A truncated segment: refused at get. */
	assert_int_equal(truncate(seg, 4096), 0);
	assert_int_equal(eau2_get(db, "k", &df, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "truncated"));
	tu_close_store(db, dir);
}

/* Writes n bytes at off of path. */
static void poke(const char *path, off_t off, const void *p, size_t n)
{
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, off), (ssize_t)n);
	close(fd);
}

/* The fields answers are computed from without reading the payload (max,
 * null count) are covered by the header's own checksum: a corrupted one
 * is an error on the chunk's first view, with or without EAU2_VERIFY,
 * never a wrong answer. */
static void test_header_checksum(void **state)
{
	struct eau2_error err = {0};
	struct eau2_chunk_hdr h;
	char *dir, seg[4096];
	eau2 *db = tu_open_store(&dir);
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	off_t off;
	int pass;

	(void)state;
	tu_ok(eau2_schema_parse("x:int", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (int64_t i = 0; i < 1000; i++)
		tu_ok(i % 10 == 3 ? eau2_builder_append_null(b, 0, &err) :
		      eau2_builder_append_int(b, 0, i, &err), &err);
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(s);
	tu_ok(eau2_put(db, "k", df, &err), &err);
	off = (off_t)df->chunk_refs[0].off;
	assert_int_equal(df->chunk_refs[0].seg, 0);
	eau2_df_release(df);
	find_file(dir, ".0.seg", seg);
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	run_named(db, df, "max", "columns", "x", 0, 999);
	run_named(db, df, "count", "column", "x", 0, 900);
	eau2_df_release(df);

	for (pass = 0; pass < 2; pass++) {
		int64_t max = 123456789;
		uint32_t nulls = 101;

		if (pass)
			setenv("EAU2_VERIFY", "1", 1);
		/* max: 949 in the case, 999 here */
		poke(seg, off + (off_t)offsetof(struct eau2_chunk_hdr, max), &max, 8);
		if (eau2_get(db, "k", &df, &err) == 0) {
			run_named(db, df, "max", "columns", "x", -EBADMSG, 0);
			assert_int_equal(eau2_df_chunk(df, 0, 0, &(struct eau2_chunk_view){0},
						       &err), -EBADMSG);
			assert_non_null(strstr(err.msg, "header checksum"));
			eau2_df_release(df);
		} else {
			assert_true(pass == 1);
			assert_non_null(strstr(err.msg, "header checksum"));
		}
		max = 999;
		poke(seg, off + (off_t)offsetof(struct eau2_chunk_hdr, max), &max, 8);

		/* null_count one more: count and mean would change */
		poke(seg, off + (off_t)offsetof(struct eau2_chunk_hdr, null_count), &nulls, 4);
		if (eau2_get(db, "k", &df, &err) == 0) {
			run_named(db, df, "count", "column", "x", -EBADMSG, 0);
			run_named(db, df, "mean", "columns", "x", -EBADMSG, 0);
			eau2_df_release(df);
		} else {
			assert_true(pass == 1);
			assert_non_null(strstr(err.msg, "header checksum"));
		}
		nulls = 100;
		poke(seg, off + (off_t)offsetof(struct eau2_chunk_hdr, null_count), &nulls, 4);
		unsetenv("EAU2_VERIFY");
	}
	/* Restored: right again. */
	tu_ok(eau2_get(db, "k", &df, &err), &err);
	memcpy(&h, df->segs[0].base + off, sizeof(h));
	assert_int_equal(h.null_count, 100);
	run_named(db, df, "max", "columns", "x", 0, 999);
	tu_ok(eau2_df_verify(df, &err), &err);
	eau2_df_release(df);
	/* A dataframe of format 1 (no header checksums) is refused, saying
	 * why. */
	{
		char desc[4096];
		uint32_t v1 = 1;

		find_file(dir, ".df", desc);
		poke(desc, (off_t)offsetof(struct eau2_desc_hdr, version), &v1, 4);
		assert_int_equal(eau2_get(db, "k", &df, &err), -EBADMSG);
		assert_non_null(strstr(err.msg, "older eau2"));
	}
	tu_close_store(db, dir);
}

/* A put killed between its key's rename and its lock file's unlink leaves
 * the lock file of a published id, unlocked: gc removes it (and only it). */
static void test_stale_lock_of_published(void **state)
{
	struct eau2_error err = {0};
	char *dir, desc[4096], lock[4096];
	eau2 *db = tu_open_store(&dir), *db2;
	eau2_df *df = make_gen(db, 1, 1000), *got;
	int64_t gen;
	size_t n;
	int fd;

	(void)state;
	tu_ok(eau2_put(db, "k", df, &err), &err);
	eau2_df_release(df);
	find_file(dir, ".df", desc);
	n = strlen(desc);
	snprintf(lock, sizeof(lock), "%.*s.lock", (int)(n - 3), desc);
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL, 0600); /* as the killed put left it */
	assert_true(fd >= 0);
	close(fd);
	tu_ok(eau2_open(&db2, TU_STORE(dir), &err), &err); /* opening cleans up */
	eau2_close(db2);
	assert_int_equal(access(lock, F_OK), -1);
	tu_ok(eau2_get(db, "k", &got, &err), &err);
	assert_int_equal(check_gen(got, &gen), 0);
	assert_int_equal(gen, 1);
	eau2_df_release(got);
	tu_close_store(db, dir);
}

/* A full store: a clear error, no key, no space kept, others still fit.
 * Needs a small tmpfs, mounted in a private mount namespace. */
/* Writes text into dir/keys/name (garbage where a dataframe id belongs). */
static void garble_key(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/keys/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A key file that cannot be parsed might name any dataframe: clean-up
 * (eau2_gc, and the gc of every eau2_open) removes nothing and names the
 * key; delete and replace keep files such a key might name. */
static void test_bad_key_keeps_data(void **state)
{
	struct eau2_error err = {0};
	char *dir, path[4096], saved[64];
	eau2 *db = tu_open_store(&dir), *db2;
	eau2_df *df = make_gen(db, 2, 2000), *got;
	int64_t gen;
	FILE *f;
	size_t n;

	(void)state;
	tu_ok(eau2_put(db, "a", df, &err), &err);
	tu_ok(eau2_put(db, "b", df, &err), &err);
	eau2_df_release(df);
	snprintf(path, sizeof(path), "%s/keys/b", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(saved, 1, sizeof(saved) - 1, f);
	fclose(f);
	saved[n] = 0;

	/* gc with b unreadable: nothing removed, b named, -EBADMSG. */
	garble_key(dir, "b", "garbage, not an id\n");
	tu_ok(eau2_delete(db, "a", &err), &err); /* b might name a's id */
	assert_int_equal(eau2_gc(db, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "key 'b'"));
	assert_non_null(strstr(err.msg, "removed nothing"));
	/* Opening warns and opens. */
	tu_ok(eau2_open(&db2, TU_STORE(dir), &err), &err);
	eau2_close(db2);
	assert_true(count_files(dir, "data") > 0);

	/* Repaired, b is whole again: nothing was lost. */
	garble_key(dir, "b", saved);
	tu_ok(eau2_get(db, "b", &got, &err), &err);
	assert_int_equal(check_gen(got, &gen), 0);
	assert_int_equal(gen, 2);
	eau2_df_release(got);
	tu_ok(eau2_gc(db, &err), &err);
	tu_close_store(db, dir);
}

static int full_store(const char *dir)
{
	struct eau2_error err = {0};
	eau2 *db;
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	int64_t i;
	int rc = 0;

	if (eau2_open(&db, TU_STORE(dir), &err) || eau2_schema_parse("v:int", &s, &err) ||
	    eau2_builder_new(db, s, &b, &err))
		return 10;
	for (i = 0; i < 100000000 && !rc; i++)
		rc = eau2_builder_append_int(b, 0, i, &err);
	if (rc != -ENOSPC || !strstr(err.msg, "store is full"))
		return 11;
	eau2_builder_abort(b);
	if (count_files(dir, "data") != 0)
		return 12;
	/* Space came back: a smaller dataframe fits. */
	if (eau2_builder_new(db, s, &b, &err))
		return 13;
	rc = 0;
	for (i = 0; i < 100000 && !rc; i++)
		rc = eau2_builder_append_int(b, 0, i, &err);
	if (rc || eau2_builder_finish(b, &df, &err) || eau2_put(db, "small", df, &err))
		return 14;
	eau2_df_release(df);
	eau2_schema_free(s);
	eau2_close(db);
	return 0;
}

static void test_full_store(void **state)
{
	(void)state;
	tu_on_tmpfs(tu_tmpdir("full"), "size=16m", full_store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_open_race),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_wait_get),
		cmocka_unit_test(test_readers_and_writer),
		cmocka_unit_test(test_kill_mid_put),
		cmocka_unit_test(test_corruption),
		cmocka_unit_test(test_header_checksum),
		cmocka_unit_test(test_stale_lock_of_published),
		cmocka_unit_test(test_bad_key_keeps_data),
		cmocka_unit_test(test_full_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
