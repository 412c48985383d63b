/* SPDX-License-Identifier: MIT */
/*
 * fuzz_store.c - the readers of a store's files, which another process
 * (or a disk gone bad) may have left in any state: the dataframe
 * descriptor (df.c parse_desc) and the chunk headers in its segment
 * (eau2_df_chunk), then every byte a chunk view says is there.
 *
 * Input: a little-endian u32 n, then n bytes of descriptor (n is taken
 * modulo what is left), then the bytes of segment 0. They are written as
 * data/<id>.df and data/<id>.0.seg of a scratch store under a key, which
 * is then opened with eau2_get and read whole: eau2_df_verify, every
 * chunk's view, its validity bits, values and string bytes, and the typed
 * getters of the first and last row. A descriptor naming more segments
 * than one must fail to open. Beyond not crashing, checks that an opened
 * dataframe's row groups add up to its rows.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "df/df.h"
#include "shm/shm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ID 0x00f022f022f022f0ull

static eau2 *db;
static char dir[] = "/dev/shm/eau2-fuzz-store-XXXXXX";

static void cleanup(void)
{
	char cmd[64 + sizeof(dir)];

	eau2_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "fuzz_store: could not remove %s\n", dir);
}

static void setup(void)
{
	struct eau2_error err = {0};
	uint64_t old;

	if (!mkdtemp(dir) || eau2_open(&db, &(struct eau2_options){ .store = dir }, &err)) {
		fprintf(stderr, "fuzz_store: scratch store %s: %s\n", dir, err.msg);
		abort();
	}
	atexit(cleanup);
	if (eau2_shm_writer_lock(db->store, &err) ||
	    eau2_shm_key_write(db->store, "f", FUZZ_ID, &old, &err)) {
		fprintf(stderr, "fuzz_store: key: %s\n", err.msg);
		abort();
	}
	eau2_shm_writer_unlock(db->store);
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
	int fd = openat(db->store->datafd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

static uint64_t touch(const void *p, uint64_t n)
{
	const volatile uint8_t *b = p;
	uint64_t s = 0;

	for (uint64_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

static uint64_t read_all(const eau2_df *df)
{
	struct eau2_error err = {0};
	uint64_t s = 0, rows = 0;

	(void)eau2_df_verify(df, &err);
	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		rows += eau2_df_group_rows(df, g);
		for (size_t c = 0; c < eau2_df_ncols(df); c++) {
			struct eau2_chunk_view v;
			uint64_t r;

			if (eau2_df_chunk(df, c, g, &v, &err))
				continue;
			r = v.rows;
			if (v.validity)
				s += touch(v.validity, (r + 7) / 8);
			switch (v.type) {
			case EAU2_BOOL:
				s += touch(v.values.bits, (r + 7) / 8);
				break;
			case EAU2_INT:
			case EAU2_DOUBLE:
				s += touch(v.values.i64, r * 8);
				break;
			case EAU2_STRING:
				s += touch(v.values.offsets, (r + 1) * 8);
				for (uint64_t i = 0; i < r; i++) {
					size_t len;
					const char *str = eau2_view_string(&v, (uint32_t)i, &len);

					s += touch(str, len);
				}
				break;
			}
		}
	}
	if (rows != eau2_df_rows(df))
		abort();
	for (size_t c = 0; c < eau2_df_ncols(df) && eau2_df_rows(df); c++) {
		int64_t i;
		double d;
		bool b;
		const char *str;
		size_t len;
		uint64_t last = eau2_df_rows(df) - 1;

		s += (uint64_t)eau2_df_get_int(df, c, 0, &i, &err);
		s += (uint64_t)eau2_df_get_double(df, c, last, &d, &err);
		s += (uint64_t)eau2_df_get_bool(df, c, last, &b, &err);
		s += (uint64_t)eau2_df_get_string(df, c, 0, &str, &len, &err);
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err = {0};
	char name[64];
	eau2_df *df = NULL;
	uint32_t n;
	volatile uint64_t sink;

	if (size < 4 || size > (8u << 20))
		return 0;
	if (!db)
		setup();
	memcpy(&n, data, 4);
	data += 4;
	size -= 4;
	n = (uint32_t)(n % (size + 1));
	eau2_shm_desc_name(name, FUZZ_ID);
	put_file(name, data, n);
	eau2_shm_seg_name(name, FUZZ_ID, 0);
	put_file(name, data + n, size - n);
	if (eau2_get(db, "f", &df, &err) == 0) {
		if (df->nsegs > 1)
			abort(); /* segment 1 does not exist */
		sink = read_all(df);
		(void)sink;
		eau2_df_release(df);
	}
	return 0;
}
