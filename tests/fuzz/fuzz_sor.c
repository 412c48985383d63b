/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sor.c - fuzz target for the SoR loader. Each input is written to a
 * file under /dev/shm and loaded into one store opened once: whole on one
 * thread, whole on 3 threads with tiny pieces (same rows, skipped count and
 * messages), and as two byte ranges cut at a point taken from the input.
 * Nothing may crash; stats.rows must match the dataframe, and the two
 * ranges may not hold more rows (loaded + skipped) than the file's lines.
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
static char store_dir[] = "/dev/shm/eau2-fuzz-sor-XXXXXX";
static char in_dir[] = "/dev/shm/eau2-fuzz-sorin-XXXXXX";
static char in_path[128];

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

static void must(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_sor: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err = { 0 };
	struct eau2_load_stats st;
	struct eau2_load_options opt = { .format = EAU2_FORMAT_SOR, .threads = 1 };
	struct eau2_load_options many = { .format = EAU2_FORMAT_SOR, .threads = 3 };
	struct eau2_load_stats st3;
	uint64_t lines = 1, total = 0;
	size_t cut = size ? data[0] % (size + 1) : 0;
	eau2_df *df = NULL;
	int fd;

	if (!db) {
		must(mkdtemp(store_dir) && mkdtemp(in_dir) &&
		     eau2_open(&db, &(struct eau2_options){ .store = store_dir }, &err) == 0, "cannot open a store");
		snprintf(in_path, sizeof(in_path), "%s/in.sor", in_dir);
		atexit(cleanup);
	}
	fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	must(fd >= 0, "cannot write the input file");
	must(write(fd, data, size) == (ssize_t)size, "short write");
	close(fd);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';

	if (eau2_load(db, in_path, &opt, &df, &st, &err) == 0) {
		eau2_df *b = NULL;

		must(st.rows == eau2_df_rows(df), "stats.rows");
		must(st.rows + st.skipped <= lines, "more rows than lines");
		eau2_load_tune.piece_bytes = 1 + size / 4;
		must(eau2_load(db, in_path, &many, &b, &st3, &err) == 0,
		     "3 threads fail where 1 thread loads");
		eau2_load_tune.piece_bytes = 0;
		must(st.rows == st3.rows && st.skipped == st3.skipped &&
		     eau2_df_ncols(df) == eau2_df_ncols(b), "3 threads load differently");
		for (int k = 0; k < EAU2_LOAD_WHERE_MAX; k++)
			must(strcmp(st.where[k], st3.where[k]) == 0, "3 threads: other messages");
		eau2_df_release(b);
		eau2_df_release(df);
	}
	/* [0, cut) and [cut, end): each line lands in at most one. */
	opt.from = 0;
	opt.len = cut;
	if (cut && eau2_load(db, in_path, &opt, &df, &st, &err) == 0) {
		total += st.rows + st.skipped;
		eau2_df_release(df);
	}
	opt.from = cut;
	opt.len = 0;
	if (eau2_load(db, in_path, &opt, &df, &st, &err) == 0) {
		total += st.rows + st.skipped;
		eau2_df_release(df);
	}
	must(total <= lines, "ranges overlap");
	return 0;
}
