/* SPDX-License-Identifier: MIT */
/*
 * fuzz_csv.c - fuzz target for the CSV reader and writer. Each input is
 * written to a file under /dev/shm and loaded into one store opened once:
 *  - on 1 thread, and on 3 threads with tiny pieces: both must agree on
 *    success or failure and, on success, on every type and value (split
 *    points must never change a result);
 *  - in skip mode (must not crash; rows + skipped are consistent);
 *  - when the load succeeded and no column is all null, export -> load
 *    must give an equal dataframe (LZ4's round-trip idea).
 * Any disagreement aborts, which libFuzzer and the replay test report.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eau2.h"
#include "df/load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static eau2 *db;
static char store_dir[] = "/dev/shm/eau2-fuzz-csv-XXXXXX";
static char in_dir[] = "/dev/shm/eau2-fuzz-csvin-XXXXXX";
static char in_path[128], out_path[128];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void cleanup(void)
{
	eau2_close(db);
	nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(in_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
	struct eau2_error err = { 0 };

	if (!mkdtemp(store_dir) || !mkdtemp(in_dir) || eau2_open(&db, &(struct eau2_options){ .store = store_dir }, &err)) {
		fprintf(stderr, "fuzz_csv: cannot open a store: %s\n", err.msg);
		abort();
	}
	snprintf(in_path, sizeof(in_path), "%s/in.csv", in_dir);
	snprintf(out_path, sizeof(out_path), "%s/out.csv", in_dir);
	atexit(cleanup);
}

static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_csv: %s\n", what);
		abort();
	}
}

static bool same_value(const eau2_df *a, const eau2_df *b, size_t c, uint64_t r)
{
	int ra, rb;

	switch (eau2_schema_type(eau2_df_schema(a), c)) {
	case EAU2_BOOL: {
		bool x = 0, y = 0;

		ra = eau2_df_get_bool(a, c, r, &x, NULL);
		rb = eau2_df_get_bool(b, c, r, &y, NULL);
		return ra == rb && x == y;
	}
	case EAU2_INT: {
		int64_t x = 0, y = 0;

		ra = eau2_df_get_int(a, c, r, &x, NULL);
		rb = eau2_df_get_int(b, c, r, &y, NULL);
		return ra == rb && x == y;
	}
	case EAU2_DOUBLE: {
		double x = 0, y = 0;

		ra = eau2_df_get_double(a, c, r, &x, NULL);
		rb = eau2_df_get_double(b, c, r, &y, NULL);
		return ra == rb && (memcmp(&x, &y, sizeof(x)) == 0 || (x != x && y != y));
	}
	default: {
		const char *x = NULL, *y = NULL;
		size_t nx = 0, ny = 0;

		ra = eau2_df_get_string(a, c, r, &x, &nx, NULL);
		rb = eau2_df_get_string(b, c, r, &y, &ny, NULL);
		return ra == rb && (ra != 0 || (nx == ny && memcmp(x, y, nx) == 0));
	}
	}
}

static bool df_equal(const eau2_df *a, const eau2_df *b)
{
	const eau2_schema *sa = eau2_df_schema(a), *sb = eau2_df_schema(b);
	size_t ncols = eau2_df_ncols(a);

	if (ncols != eau2_df_ncols(b) || eau2_df_rows(a) != eau2_df_rows(b))
		return false;
	for (size_t c = 0; c < ncols; c++)
		if (eau2_schema_type(sa, c) != eau2_schema_type(sb, c) ||
		    strcmp(eau2_schema_name(sa, c), eau2_schema_name(sb, c)))
			return false;
	for (uint64_t r = 0; r < eau2_df_rows(a); r++)
		for (size_t c = 0; c < ncols; c++)
			if (!same_value(a, b, c, r))
				return false;
	return true;
}

static bool has_all_null_column(const eau2_df *df)
{
	for (size_t c = 0; c < eau2_df_ncols(df); c++) {
		bool any = false;

		for (size_t g = 0; g < eau2_df_ngroups(df) && !any; g++) {
			struct eau2_chunk_view v;

			if (eau2_df_chunk(df, c, g, &v, NULL) == 0)
				any = v.null_count < v.rows;
		}
		if (!any)
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	struct eau2_load_options one = { .format = EAU2_FORMAT_CSV, .threads = 1 };
	struct eau2_load_options many = { .format = EAU2_FORMAT_CSV, .threads = 3 };
	struct eau2_load_options skip = { .format = EAU2_FORMAT_CSV, .threads = 2,
					  .on_error = EAU2_ON_ERROR_SKIP };
	eau2_df *a = NULL, *b = NULL, *c = NULL;
	int fd, ra, rb;

	if (!db)
		init();
	fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	must(fd >= 0, "cannot write the input file");
	must(write(fd, data, size) == (ssize_t)size, "short write");
	close(fd);

	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));
	ra = eau2_load(db, in_path, &one, &a, &st, &err);
	must(ra <= 0 && (ra == 0) == (a != NULL), "load 1: result and df disagree");
	must(ra != 0 || st.rows == eau2_df_rows(a), "load 1: stats.rows");
	eau2_load_tune.piece_bytes = 1 + size / 5;
	eau2_load_tune.sample_bytes = 16;
	eau2_load_tune.samples = 2;
	rb = eau2_load(db, in_path, &many, &b, NULL, &err);
	must(ra == rb, "1 and 3 threads disagree on success");
	must(ra != 0 || df_equal(a, b), "1 and 3 threads give different dataframes");
	eau2_df_release(b);
	if (eau2_load(db, in_path, &skip, &c, &st, &err) == 0) {
		must(st.rows == eau2_df_rows(c), "skip: stats.rows");
		eau2_df_release(c);
	}
	memset(&eau2_load_tune, 0, sizeof(eau2_load_tune));

	if (ra == 0 && !has_all_null_column(a)) {
		eau2_df *back = NULL;

		fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		must(fd >= 0, "cannot write the export file");
		must(eau2_export_csv(a, fd, UINT64_MAX, &err) == 0, "export failed");
		close(fd);
		if (eau2_load(db, out_path, &one, &back, NULL, &err) != 0) {
			fprintf(stderr, "fuzz_csv: reading the export back: %s\n", err.msg);
			abort();
		}
		must(df_equal(a, back), "export -> load is not the same dataframe");
		eau2_df_release(back);
	}
	eau2_df_release(a);
	return 0;
}
