/* SPDX-License-Identifier: MIT */
/*
 * test_large.c - a dataframe larger than 2^31 bytes spans several segments
 * and round-trips: another process maps it and reads every value back.
 * The long test of the suite (a few seconds; ~2.2 GB of /dev/shm).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static int count_segments(const char *dir)
{
	char path[4096];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/data", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strstr(e->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

static void test_over_2g(void **state)
{
	struct eau2_error err = {0};
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	/* Two 8-byte columns: past 2^31 bytes of values. */
	uint64_t rows = (1ull << 31) / 16 + 3 * EAU2_CHUNK_ROWS + 12345, r;
	pid_t pid;
	int status;

	(void)state;
	tu_ok(eau2_schema_parse("i:int,d:double", &s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	for (r = 0; r < rows; r++) {
		tu_ok(eau2_builder_append_int(b, 0, (int64_t)(r * 3), &err), &err);
		tu_ok(eau2_builder_append_double(b, 1, (double)r * 0.5, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	assert_true(eau2_df_bytes(df) > (1ull << 31));
	tu_ok(eau2_put(db, "big", df, &err), &err);
	eau2_df_release(df);
	assert_true(count_segments(dir) >= 3);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		eau2 *cdb;
		eau2_df *cdf;
		struct eau2_chunk_view vi, vd;
		uint64_t seen = 0;
		size_t g;
		uint32_t k;

		if (eau2_open(&cdb, TU_STORE(dir), &err) || eau2_get(cdb, "big", &cdf, &err))
			_exit(10);
		if (eau2_df_rows(cdf) != rows)
			_exit(11);
		for (g = 0; g < eau2_df_ngroups(cdf); g++) {
			if (eau2_df_chunk(cdf, 0, g, &vi, &err) ||
			    eau2_df_chunk(cdf, 1, g, &vd, &err))
				_exit(12);
			for (k = 0; k < vi.rows; k++, seen++)
				if (vi.values.i64[k] != (int64_t)(seen * 3) ||
				    vd.values.f64[k] != (double)seen * 0.5)
					_exit(13);
		}
		if (seen != rows || eau2_df_verify(cdf, &err))
			_exit(14);
		eau2_df_release(cdf);
		eau2_close(cdb);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_ok(eau2_delete(db, "big", &err), &err);
	assert_int_equal(count_segments(dir), 0);
	eau2_schema_free(s);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_over_2g),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
