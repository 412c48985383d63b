/* SPDX-License-Identifier: MIT */
/*
 * test_zip.c - eau2_df_zip: columns of two dataframes side by side with
 * their bytes shared, not copied. Checks values against the inputs over
 * uneven row groups (built from parts of odd sizes), that the result's
 * segment files are links to the inputs' (same inode), that it outlives
 * the inputs' keys, that an unpublished result leaves no file behind, and
 * the refusals (different row groups, a clashing column name, another
 * store, an input whose files were removed).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Builds `spec` with rows in parts of the sizes in `parts` (0-terminated):
 * column c of row r holds r * (c + 1) (as its type), null when r % 7 == c. */
static eau2_df *build(eau2 *db, const char *spec, const uint32_t *parts)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *root, *b;
	eau2_df *df;
	uint64_t r = 0;

	tu_ok(eau2_schema_parse(spec, &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &root, &err), &err);
	for (const uint32_t *p = parts; *p; p++) {
		tu_ok(eau2_builder_fork(root, &b, &err), &err);
		for (uint32_t k = 0; k < *p; k++, r++) {
			for (size_t c = 0; c < eau2_schema_ncols(s); c++) {
				int64_t v = (int64_t)(r * (c + 1));
				char buf[32];

				if (r % 7 == c) {
					tu_ok(eau2_builder_append_null(b, c, &err), &err);
					continue;
				}
				switch (eau2_schema_type(s, c)) {
				case EAU2_BOOL:
					tu_ok(eau2_builder_append_bool(b, c, v & 1, &err), &err);
					break;
				case EAU2_INT:
					tu_ok(eau2_builder_append_int(b, c, v, &err), &err);
					break;
				case EAU2_DOUBLE:
					tu_ok(eau2_builder_append_double(b, c, (double)v / 4, &err), &err);
					break;
				case EAU2_STRING:
					snprintf(buf, sizeof(buf), "s%lld", (long long)v);
					tu_ok(eau2_builder_append_string(b, c, buf, strlen(buf), &err),
					      &err);
					break;
				}
			}
		}
		tu_ok(eau2_builder_join(root, b, &err), &err);
	}
	tu_ok(eau2_builder_finish(root, &df, &err), &err);
	eau2_schema_free(s);
	return df;
}

/* Every value of column col of `got` equals column src_col of `want`. */
static void same_column(const eau2_df *got, size_t col, const eau2_df *want,
			size_t src_col)
{
	struct eau2_error err = {0};

	assert_int_equal(eau2_df_rows(got), eau2_df_rows(want));
	for (uint64_t r = 0; r < eau2_df_rows(got); r++) {
		int64_t a, b;
		double x, y;
		const char *s, *t;
		size_t ls, lt;
		bool p, q;
		int ra, rb;

		switch (eau2_schema_type(eau2_df_schema(want), src_col)) {
		case EAU2_INT:
			ra = eau2_df_get_int(got, col, r, &a, &err);
			rb = eau2_df_get_int(want, src_col, r, &b, &err);
			assert_int_equal(ra, rb);
			if (!ra)
				assert_int_equal(a, b);
			break;
		case EAU2_DOUBLE:
			ra = eau2_df_get_double(got, col, r, &x, &err);
			rb = eau2_df_get_double(want, src_col, r, &y, &err);
			assert_int_equal(ra, rb);
			if (!ra)
				assert_true(x == y);
			break;
		case EAU2_BOOL:
			ra = eau2_df_get_bool(got, col, r, &p, &err);
			rb = eau2_df_get_bool(want, src_col, r, &q, &err);
			assert_int_equal(ra, rb);
			if (!ra)
				assert_int_equal(p, q);
			break;
		case EAU2_STRING:
			ra = eau2_df_get_string(got, col, r, &s, &ls, &err);
			rb = eau2_df_get_string(want, src_col, r, &t, &lt, &err);
			assert_int_equal(ra, rb);
			if (!ra) {
				assert_int_equal(ls, lt);
				assert_memory_equal(s, t, ls);
			}
			break;
		}
	}
}

static size_t count_files(const char *dir)
{
	char path[4096];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Segment files under data/, their distinct inodes, and how many of the
 * files have exactly two links. */
static void seg_links(const char *dir, size_t *nseg, size_t *ninode, size_t *nlink2)
{
	char path[4096];
	ino_t inos[256];
	struct dirent *e;
	DIR *d;

	*nseg = *ninode = *nlink2 = 0;
	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d))) {
		struct stat st;
		size_t len = strlen(e->d_name), i;

		if (len < 4 || strcmp(e->d_name + len - 4, ".seg"))
			continue;
		assert_int_equal(fstatat(dirfd(d), e->d_name, &st, 0), 0);
		(*nseg)++;
		*nlink2 += st.st_nlink == 2;
		for (i = 0; i < *ninode && inos[i] != st.st_ino; i++)
			;
		if (i == *ninode) {
			assert_true(*ninode < 256);
			inos[(*ninode)++] = st.st_ino;
		}
	}
	closedir(d);
}

static const uint32_t uneven[] = { 70000, 3, 65536, 131071, 1, 40000, 0 };

static void test_values_and_sharing(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *a = build(db, "i:int,s:string", uneven);
	eau2_df *b = build(db, "d:double,f:bool", uneven);
	eau2_df *z, *got;
	size_t nseg, ninode, nlink2;

	(void)unused;
	tu_ok(eau2_df_zip(db, a, b, &z, &err), &err);
	assert_int_equal(eau2_df_ncols(z), 4);
	assert_string_equal(eau2_schema_name(eau2_df_schema(z), 2), "d");
	assert_int_equal(eau2_df_ngroups(z), eau2_df_ngroups(a));
	assert_int_equal(eau2_df_bytes(z), eau2_df_bytes(a) + eau2_df_bytes(b));
	same_column(z, 0, a, 0);
	same_column(z, 1, a, 1);
	same_column(z, 2, b, 0);
	same_column(z, 3, b, 1);
	tu_ok(eau2_df_verify(z, &err), &err);

	/* Published, then the inputs' keys go: the result still reads. */
	tu_ok(eau2_put(db, "a", a, &err), &err);
	tu_ok(eau2_put(db, "b", b, &err), &err);
	tu_ok(eau2_put(db, "z", z, &err), &err);
	eau2_df_release(z);
	tu_ok(eau2_get(db, "z", &got, &err), &err);
	/* Every segment file is one of two names of the same inode: z's
	 * segments are a's and b's, not copies. */
	seg_links(dir, &nseg, &ninode, &nlink2);
	assert_true(nseg > 0);
	assert_int_equal(nseg, 2 * ninode);
	assert_int_equal(nlink2, nseg);
	tu_ok(eau2_delete(db, "a", &err), &err);
	tu_ok(eau2_delete(db, "b", &err), &err);
	eau2_df_release(got);
	tu_ok(eau2_get(db, "z", &got, &err), &err);
	tu_ok(eau2_df_verify(got, &err), &err);
	same_column(got, 0, a, 0);
	same_column(got, 3, b, 1);
	eau2_df_release(got);
	eau2_df_release(a);
	eau2_df_release(b);
	tu_close_store(db, dir);
}

static void test_unpublished_leaves_nothing(void **unused)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	static const uint32_t one[] = { 1000, 0 };
	eau2_df *a = build(db, "i:int", one), *b = build(db, "j:int", one), *z;
	size_t before;

	(void)unused;
	tu_ok(eau2_put(db, "a", a, &err), &err);
	tu_ok(eau2_put(db, "b", b, &err), &err);
	before = count_files(dir);
	tu_ok(eau2_df_zip(db, a, b, &z, &err), &err);
	assert_true(count_files(dir) > before);
	eau2_df_release(z);
	assert_int_equal(count_files(dir), before);
	same_column(a, 0, a, 0);
	eau2_df_release(a);
	eau2_df_release(b);
	tu_close_store(db, dir);
}

static void test_refusals(void **unused)
{
	struct eau2_error err = {0};
	char *dir, *dir2;
	eau2 *db = tu_open_store(&dir), *db2 = tu_open_store(&dir2);
	static const uint32_t p1[] = { 100, 100, 0 }, p2[] = { 200, 0 },
			      p3[] = { 150, 0 };
	eau2_df *a = build(db, "i:int,x:double", p1), *b = build(db, "j:int", p2);
	eau2_df *c = build(db, "j:int", p3), *d = build(db, "x:int", p1);
	eau2_df *e = build(db2, "j:int", p1), *z = NULL;

	(void)unused;
	assert_int_equal(eau2_df_zip(db, a, b, &z, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "row group"));
	assert_null(z);
	assert_int_equal(eau2_df_zip(db, a, c, &z, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "rows"));
	assert_int_equal(eau2_df_zip(db, a, d, &z, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "column 'x' is on both sides"));
	assert_int_equal(eau2_df_zip(db, a, e, &z, &err), -EXDEV);
	assert_int_equal(eau2_df_zip(db, a, NULL, &z, &err), -EINVAL);
	/* Files gone (key deleted while mapped): not linkable. */
	{
		static const uint32_t p4[] = { 100, 100, 0 };
		eau2_df *f = build(db, "f:int", p4);

		tu_ok(eau2_put(db, "f", f, &err), &err);
		tu_ok(eau2_delete(db, "f", &err), &err);
		assert_int_equal(eau2_df_zip(db, a, f, &z, &err), -ENOENT);
		assert_null(z);
		eau2_df_release(f);
	}
	eau2_df_release(a);
	eau2_df_release(b);
	eau2_df_release(c);
	eau2_df_release(d);
	eau2_df_release(e);
	tu_close_store(db, dir);
	tu_close_store(db2, dir2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_and_sharing),
		cmocka_unit_test(test_unpublished_leaves_nothing),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
