/* SPDX-License-Identifier: MIT */
/*
 * df.c - dataframes: opening one from its descriptor (mapping, never
 * copying), publishing under keys, typed access and chunk views, and the
 * fromArray / fromScalar / fromVisitor helpers.
 *
 * Opening costs O(descriptor + segments): the descriptor holds one small
 * record per chunk, and segments are at most EAU2_SEG_MAX bytes each, so a
 * 10 GiB dataframe maps ~12 segments and checks a ~100 KiB descriptor.
 * Chunk payloads are not read at open; eau2_df_verify reads them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "df/df.h"
#include "shm/shm.h"

/* ------------------------------------------------------------- open/free */

static void df_free(eau2_df *df)
{
	size_t i;

	if (!df)
		return;
	for (i = 0; df->segs && i < df->nsegs; i++)
		if (df->segs[i].base)
			munmap((void *)df->segs[i].base,
			       df->segs[i].map_len ? df->segs[i].map_len : 1);
	free(df->segs);
	free(df->views);
	free((void *)df->view_claimed);
	free((void *)df->view_ready);
	if (df->desc)
		munmap(df->desc, df->desc_len);
	free(df->mem);
	if (df->lock_fd >= 0) {
		/* Never published: nobody else can name it. */
		eau2_shm_id_remove(df->datafd, df->id);
		close(df->lock_fd);
	}
	if (df->datafd >= 0)
		close(df->datafd);
	if (df->release) /* after the munmaps: a lender counts mappings */
		df->release(df->release_ctx, df->id);
	eau2_schema_free(df->schema);
	free(df);
}

/* Checks the descriptor and points df's fields into it. */
static int parse_desc(eau2_df *df, const char *name, struct eau2_error *err)
{
	const uint8_t *buf = df->desc, *p, *end;
	const struct eau2_desc_hdr *h = df->desc;
	size_t types_len, i, g;
	uint64_t need;
	int rc;

	if (df->desc_len >= sizeof(*h) && !memcmp(h->magic, EAU2_DESC_MAGIC, 8) &&
	    h->version == 1)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: written by an older eau2 "
				      "(format 1, chunk headers without checksums): load the "
				      "data again", name);
	if (df->desc_len < sizeof(*h) || memcmp(h->magic, EAU2_DESC_MAGIC, 8) ||
	    h->version != EAU2_DESC_VERSION)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: not an eau2 descriptor of version %u",
				      name, EAU2_DESC_VERSION);
	if (h->file_len != df->desc_len)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: %zu bytes, header says %llu (truncated?)",
				      name, df->desc_len, (unsigned long long)h->file_len);
	if (XXH3_64bits(buf + sizeof(*h), df->desc_len - sizeof(*h)) != h->checksum)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: checksum mismatch", name);
	if (h->ncols > EAU2_COLS_MAX || h->nsegs > (1u << 20) ||
	    h->ngroups > (df->desc_len / sizeof(struct eau2_chunk_ref)))
		return eau2_error_set(err, -EBADMSG, "descriptor %s: impossible sizes", name);
	types_len = (h->ncols + 7u) & ~7u;
	need = sizeof(*h) + types_len + (uint64_t)h->names_len + h->nsegs * 8ull +
	       (h->ngroups + 1) * 8 + h->ngroups * h->ncols * sizeof(struct eau2_chunk_ref);
	if (need != df->desc_len)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: sizes do not add up", name);

	rc = eau2_schema_new(&df->schema, err);
	if (rc)
		return rc;
	p = buf + sizeof(*h) + types_len;
	end = p + h->names_len;
	for (i = 0; i < h->ncols; i++) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));

		if (!nul)
			return eau2_error_set(err, -EBADMSG, "descriptor %s: column names run over", name);
		rc = eau2_schema_add(df->schema, (const char *)p,
				     (enum eau2_type)buf[sizeof(*h) + i], err);
		if (rc)
			return eau2_error_prefix(err, -EBADMSG, "descriptor %s", name);
		p = nul + 1;
	}
	p = end;
	df->nsegs = h->nsegs;
	df->ngroups = h->ngroups;
	df->nrows = h->nrows;
	df->bytes = h->bytes;
	p += h->nsegs * 8ull;
	df->group_first = (const uint64_t *)(const void *)p;
	df->chunk_refs = (const struct eau2_chunk_ref *)(const void *)(p + (h->ngroups + 1) * 8);
	if (df->group_first[0] != 0 || df->group_first[h->ngroups] != h->nrows)
		return eau2_error_set(err, -EBADMSG, "descriptor %s: row groups do not cover the rows", name);
	for (g = 0; g < h->ngroups; g++) {
		uint64_t rows = df->group_first[g + 1] - df->group_first[g];

		if (df->group_first[g + 1] < df->group_first[g] || rows == 0 ||
		    rows > EAU2_CHUNK_ROWS)
			return eau2_error_set(err, -EBADMSG, "descriptor %s: row group %zu is malformed",
					      name, g);
	}
	for (i = 0; i < h->ngroups * h->ncols; i++)
		if (df->chunk_refs[i].seg >= h->nsegs)
			return eau2_error_set(err, -EBADMSG, "descriptor %s: chunk in missing segment",
					      name);
	return 0;
}

static const uint64_t *seg_sizes(const eau2_df *df)
{
	const struct eau2_desc_hdr *h = df->desc;

	return (const uint64_t *)(const void *)((const uint8_t *)df->desc + sizeof(*h) +
						((h->ncols + 7u) & ~7u) + h->names_len);
}

/* df's chunk views and their claim and ready bitmaps, for nchunks
 * chunks, all clear. -ENOMEM leaves what was made to df_free. */
static int alloc_views(eau2_df *df, size_t nchunks)
{
	df->views = calloc(nchunks ? nchunks : 1, sizeof(*df->views));
	df->view_claimed = calloc(nchunks / 64 + 1, sizeof(*df->view_claimed));
	df->view_ready = calloc(nchunks / 64 + 1, sizeof(*df->view_ready));
	return df->views && df->view_claimed && df->view_ready ? 0 : -ENOMEM;
}

int eau2_df_open_id(struct eau2_store *db, uint64_t id,
		    struct eau2_df_seg *segs, size_t nsegs, int lock_fd,
		    eau2_df **out, struct eau2_error *err)
{
	char name[64];
	struct stat st;
	eau2_df *df;
	const uint64_t *sizes;
	size_t i, nchunks;
	int fd = -1, rc;

	*out = NULL;
	df = calloc(1, sizeof(*df));
	if (!df) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail_segs;
	}
	atomic_init(&df->refs, 1);
	df->id = id;
	df->lock_fd = -1;
	df->datafd = fcntl(db->datafd, F_DUPFD_CLOEXEC, 0);
	if (df->datafd < 0 || fstat(df->datafd, &st) < 0) {
		rc = eau2_error_set(err, -errno, "store %s: %s", db->dir, strerror(errno));
		goto fail_segs;
	}
	df->data_dev = st.st_dev;
	df->data_ino = st.st_ino;

	eau2_shm_desc_name(name, id);
	fd = openat(db->datafd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = eau2_error_set(err, -errno, "descriptor %s: %s", name, strerror(errno));
		goto fail_segs;
	}
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(struct eau2_desc_hdr)) {
		rc = eau2_error_set(err, -EBADMSG, "descriptor %s: truncated", name);
		goto fail_segs;
	}
	df->desc_len = (size_t)st.st_size;
	df->desc = mmap(NULL, df->desc_len, PROT_READ, MAP_SHARED, fd, 0);
	if (df->desc == MAP_FAILED) {
		df->desc = NULL;
		rc = eau2_error_set(err, -errno, "descriptor %s: mmap: %s", name, strerror(errno));
		goto fail_segs;
	}
	close(fd);
	fd = -1;
	rc = parse_desc(df, name, err);
	if (rc)
		goto fail_segs;
	if (segs && nsegs != df->nsegs) {
		rc = eau2_error_set(err, -EBADMSG, "descriptor %s: segment count mismatch", name);
		goto fail_segs;
	}
	df->segs = calloc(df->nsegs ? df->nsegs : 1, sizeof(*df->segs));
	nchunks = df->ngroups * df->schema->n;
	if (!df->segs || alloc_views(df, nchunks)) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail_segs;
	}
	sizes = seg_sizes(df);
	if (segs) {
		memcpy(df->segs, segs, nsegs * sizeof(*segs));
		free(segs);
		segs = NULL;
		df->built_here = true;
	} else {
		for (i = 0; i < df->nsegs; i++) {
			rc = eau2_shm_seg_map(db->datafd, id, (uint32_t)i, sizes[i],
					      &df->segs[i].base, err);
			if (rc)
				goto fail;
			df->segs[i].size = df->segs[i].map_len = sizes[i];
		}
	}
	df->lock_fd = lock_fd;
	*out = df;
	return 0;
fail_segs:
	for (i = 0; segs && i < nsegs; i++)
		munmap((void *)segs[i].base, segs[i].map_len);
	free(segs);
fail:
	if (fd >= 0)
		close(fd);
	df_free(df);
	return rc;
}

int eau2_df_open_mem(uint64_t id, const eau2_schema *schema,
		     struct eau2_df_seg *segs, size_t nsegs, size_t ngroups,
		     const uint64_t *first, const struct eau2_chunk_ref *refs,
		     uint64_t bytes, eau2_df **out, struct eau2_error *err)
{
	size_t ncols = eau2_schema_ncols(schema), nchunks = ngroups * ncols;
	eau2_df *df = calloc(1, sizeof(*df));
	uint64_t *f;
	int rc;

	*out = NULL;
	if (!df) {
		for (size_t i = 0; i < nsegs; i++)
			if (segs[i].base)
				munmap((void *)segs[i].base, segs[i].map_len);
		free(segs);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	atomic_init(&df->refs, 1);
	df->id = id;
	df->lock_fd = -1;
	df->datafd = -1;
	df->segs = segs;
	df->nsegs = nsegs;
	df->mem = malloc((ngroups + 1) * sizeof(*first) + (nchunks + 1) * sizeof(*refs));
	if (!df->mem || alloc_views(df, nchunks)) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = eau2_schema_copy(schema, &df->schema, err)))
		goto fail;
	f = df->mem;
	memcpy(f, first, (ngroups + 1) * sizeof(*first));
	memcpy(f + ngroups + 1, refs, nchunks * sizeof(*refs));
	df->group_first = f;
	df->chunk_refs = (const struct eau2_chunk_ref *)(f + ngroups + 1);
	df->ngroups = ngroups;
	df->nrows = first[ngroups];
	df->bytes = bytes;
	df->built_here = true; /* a snapshot of this process's builder */
	df->snapshot = true;
	*out = df;
	return 0;
fail:
	df_free(df);
	return rc;
}

uint64_t eau2_df_store_id(const eau2_df *df)
{
	return df->id;
}

void eau2_df_set_release(eau2_df *df, eau2_df_release_fn fn, void *ctx)
{
	df->release = fn;
	df->release_ctx = ctx;
}

eau2_df *eau2_df_retain(eau2_df *df)
{
	if (df)
		atomic_fetch_add_explicit(&df->refs, 1, memory_order_relaxed);
	return df;
}

void eau2_df_release(eau2_df *df)
{
	if (df && atomic_fetch_sub_explicit(&df->refs, 1, memory_order_acq_rel) == 1)
		df_free(df);
}

/* ----------------------------------------------------------------- keys */

int eau2_put_in(struct eau2_store *db, const char *key, eau2_df *df,
		struct eau2_error *err)
{
	char name[256];
	struct stat st;
	uint64_t old = 0;
	int rc;

	if (!db || !df)
		return eau2_error_set(err, -EINVAL, "put: store and dataframe are required");
	rc = eau2_shm_key_encode(key, name, err);
	if (rc)
		return rc;
	if (df->snapshot)
		return eau2_error_set(err, -EINVAL, "put '%s': the dataframe is a snapshot of a "
				      "builder's row groups, in no store: put the finished "
				      "dataframe", key);
	if (fstat(db->datafd, &st) < 0 || st.st_dev != df->data_dev ||
	    st.st_ino != df->data_ino)
		return eau2_error_set(err, -EXDEV, "put '%s': the dataframe belongs to another store",
				      key);
	rc = eau2_shm_writer_lock(db, err);
	if (rc)
		return rc;
	eau2_shm_desc_name(name, df->id);
	if (faccessat(db->datafd, name, F_OK, 0) < 0) {
		rc = eau2_error_set(err, -ENOENT,
				    "put '%s': the dataframe was deleted from the store meanwhile", key);
		goto out;
	}
	rc = eau2_shm_key_write(db, key, df->id, &old, err);
	if (rc)
		goto out;
	if (df->lock_fd >= 0) {
		/* Published: the key keeps it alive from now on. */
		eau2_shm_id_published(db, df->id, df->lock_fd);
		df->lock_fd = -1;
	}
	if (old && old != df->id && !eau2_shm_id_referenced(db, old))
		eau2_shm_id_remove(db->datafd, old);
out:
	eau2_shm_writer_unlock(db);
	return rc;
}

int eau2_delete_in(struct eau2_store *db, const char *key, struct eau2_error *err)
{
	uint64_t old = 0;
	int rc = eau2_shm_writer_lock(db, err);

	if (rc)
		return rc;
	rc = eau2_shm_key_remove(db, key, &old, err);
	if (!rc && old && !eau2_shm_id_referenced(db, old))
		eau2_shm_id_remove(db->datafd, old);
	eau2_shm_writer_unlock(db);
	return rc;
}

int eau2_get_in(struct eau2_store *db, const char *key, eau2_df **df,
		struct eau2_error *err)
{
	uint64_t id;
	int rc = -ENOENT, tries;

	*df = NULL;
	/* A writer may replace the key and remove the old files between our
	 * reading the key and opening them: read the key again. */
	for (tries = 0; tries < 64; tries++) {
		rc = eau2_shm_key_read(db, key, &id, err);
		if (rc)
			return rc;
		rc = eau2_df_open_id(db, id, NULL, 0, -1, df, err);
		if (rc != -ENOENT)
			break;
	}
	if (rc == -ENOENT)
		return eau2_error_set(err, -EBADMSG,
				      "key '%s' names dataframe %016llx whose files are missing",
				      key, (unsigned long long)id);
	if (rc)
		return eau2_error_prefix(err, rc, "key '%s'", key);
	return 0;
}

/* ---------------------------------------------------------------- access */

const eau2_schema *eau2_df_schema(const eau2_df *df) { return df->schema; }
uint64_t eau2_df_rows(const eau2_df *df) { return df->nrows; }
size_t eau2_df_ncols(const eau2_df *df) { return df->schema->n; }
size_t eau2_df_ngroups(const eau2_df *df) { return df->ngroups; }
uint64_t eau2_df_bytes(const eau2_df *df) { return df->bytes; }

uint64_t eau2_df_group_first_row(const eau2_df *df, size_t group)
{
	return group <= df->ngroups ? df->group_first[group] : df->nrows;
}

uint32_t eau2_df_group_rows(const eau2_df *df, size_t group)
{
	return group < df->ngroups ?
		(uint32_t)(df->group_first[group + 1] - df->group_first[group]) : 0;
}

int eau2_df_find_group(const eau2_df *df, uint64_t row, size_t *group)
{
	size_t lo = 0, hi = df->ngroups;

	if (row >= df->nrows)
		return -ERANGE;
	while (hi - lo > 1) { /* group_first[lo] <= row < group_first[hi] */
		size_t mid = lo + (hi - lo) / 2;

		if (df->group_first[mid] <= row)
			lo = mid;
		else
			hi = mid;
	}
	*group = lo;
	return 0;
}

int eau2_df_chunk(const eau2_df *df, size_t col, size_t group,
		  struct eau2_chunk_view *view, struct eau2_error *err)
{
	const struct eau2_chunk_ref *ref;
	const struct eau2_df_seg *seg;
	uint64_t bit;
	size_t k;
	int rc;

	if (col >= df->schema->n || group >= df->ngroups)
		return eau2_error_set(err, -ERANGE,
				      "chunk (column %zu, row group %zu) out of range (%zu x %zu)",
				      col, group, df->schema->n, df->ngroups);
	k = group * df->schema->n + col;
	bit = 1ull << (k % 64);
	if (atomic_load_explicit(&df->view_ready[k / 64], memory_order_acquire) & bit) {
		*view = df->views[k];
		return 0;
	}
	ref = &df->chunk_refs[k];
	seg = &df->segs[ref->seg];
	rc = eau2_chunk_check(seg->base, seg->size, ref->off, df->schema->types[col],
			      eau2_df_group_rows(df, group), err);
	if (!rc && df->schema->types[col] == EAU2_STRING && !df->built_here)
		rc = eau2_chunk_check_offsets(seg->base + ref->off, err);
	if (rc)
		return eau2_error_prefix(err, rc, "column '%s', row group %zu",
					 df->schema->names[col], group);
	eau2_chunk_view_fill(seg->base + ref->off, df->group_first[group], view);
	if (!(atomic_fetch_or_explicit(&df->view_claimed[k / 64], bit,
				       memory_order_relaxed) & bit)) {
		df->views[k] = *view;
		atomic_fetch_or_explicit(&df->view_ready[k / 64], bit, memory_order_release);
	}
	return 0;
}

int eau2_df_verify(const eau2_df *df, struct eau2_error *err)
{
	struct eau2_chunk_view v;
	size_t g, c;
	int rc;

	for (g = 0; g < df->ngroups; g++) {
		for (c = 0; c < df->schema->n; c++) {
			const struct eau2_chunk_ref *ref = &df->chunk_refs[g * df->schema->n + c];

			rc = eau2_df_chunk(df, c, g, &v, err);
			if (!rc)
				rc = eau2_chunk_verify(df->segs[ref->seg].base + ref->off, err);
			if (rc && rc != -EBADMSG)
				return rc;
			if (rc)
				return eau2_error_prefix(err, rc, "dataframe %016llx, column '%s', row group %zu",
							 (unsigned long long)df->id,
							 df->schema->names[c], g);
		}
	}
	return 0;
}

/* Locates (col, row) for the typed getters. */
static int locate(const eau2_df *df, size_t col, uint64_t row, enum eau2_type want,
		  struct eau2_chunk_view *v, uint32_t *i, struct eau2_error *err)
{
	size_t g;
	int rc;

	if (col >= df->schema->n)
		return eau2_error_set(err, -ERANGE, "column %zu out of range (%zu columns)",
				      col, df->schema->n);
	if (eau2_df_find_group(df, row, &g))
		return eau2_error_set(err, -ERANGE, "row %llu out of range (%llu rows)",
				      (unsigned long long)row, (unsigned long long)df->nrows);
	if (df->schema->types[col] != want &&
	    !(want == EAU2_DOUBLE && df->schema->types[col] == EAU2_INT))
		return eau2_error_set(err, -EINVAL, "column '%s' is %s, not %s",
				      df->schema->names[col],
				      eau2_type_name(df->schema->types[col]),
				      eau2_type_name(want));
	rc = eau2_df_chunk(df, col, g, v, err);
	if (rc)
		return rc;
	*i = (uint32_t)(row - v->first_row);
	return eau2_view_valid(v, *i) ? 0 : EAU2_NULL;
}

int eau2_df_get_bool(const eau2_df *df, size_t col, uint64_t row, bool *out,
		     struct eau2_error *err)
{
	struct eau2_chunk_view v;
	uint32_t i;
	int rc = locate(df, col, row, EAU2_BOOL, &v, &i, err);

	if (rc == 0)
		*out = eau2_view_bool(&v, i);
	return rc;
}

int eau2_df_get_int(const eau2_df *df, size_t col, uint64_t row, int64_t *out,
		    struct eau2_error *err)
{
	struct eau2_chunk_view v;
	uint32_t i;
	int rc = locate(df, col, row, EAU2_INT, &v, &i, err);

	if (rc == 0)
		*out = v.values.i64[i];
	return rc;
}

int eau2_df_get_double(const eau2_df *df, size_t col, uint64_t row,
		       double *out, struct eau2_error *err)
{
	struct eau2_chunk_view v;
	uint32_t i;
	int rc = locate(df, col, row, EAU2_DOUBLE, &v, &i, err);

	if (rc == 0)
		*out = v.type == EAU2_INT ? (double)v.values.i64[i] : v.values.f64[i];
	return rc;
}

int eau2_df_get_string(const eau2_df *df, size_t col, uint64_t row,
		       const char **s, size_t *len, struct eau2_error *err)
{
	struct eau2_chunk_view v;
	uint32_t i;
	int rc = locate(df, col, row, EAU2_STRING, &v, &i, err);

	if (rc == 0)
		*s = eau2_view_string(&v, i, len);
	return rc;
}

/* ------------------------------------------------------- eau2's helpers */

static int append_from(eau2_builder *b, enum eau2_type type, const void *values,
		       size_t i, struct eau2_error *err)
{
	const char *s;

	switch (type) {
	case EAU2_BOOL:
		return eau2_builder_append_bool(b, 0, ((const bool *)values)[i], err);
	case EAU2_INT:
		return eau2_builder_append_int(b, 0, ((const int64_t *)values)[i], err);
	case EAU2_DOUBLE:
		return eau2_builder_append_double(b, 0, ((const double *)values)[i], err);
	case EAU2_STRING:
		s = ((const char *const *)values)[i];
		return s ? eau2_builder_append_string(b, 0, s, strlen(s), err) :
			   eau2_builder_append_null(b, 0, err);
	}
	return eau2_error_set(err, -EINVAL, "invalid type %d", (int)type);
}

int eau2_df_from_array_in(struct eau2_store *db, const char *name,
			  enum eau2_type type, const void *values, size_t n,
			  eau2_df **df, struct eau2_error *err)
{
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	size_t i;
	int rc;

	*df = NULL;
	if (!values && n)
		return eau2_error_set(err, -EINVAL, "from_array: values is NULL");
	rc = eau2_schema_new(&s, err);
	if (!rc)
		rc = eau2_schema_add(s, name, type, err);
	if (!rc)
		rc = eau2_builder_new_in(db, s, &b, err);
	eau2_schema_free(s);
	for (i = 0; !rc && i < n; i++)
		rc = append_from(b, type, values, i, err);
	if (rc) {
		eau2_builder_abort(b);
		return rc;
	}
	return eau2_builder_finish(b, df, err);
}

int eau2_df_from_visitor_in(struct eau2_store *db, const eau2_schema *schema,
			    eau2_fill_fn fill, void *ctx, eau2_df **df,
			    struct eau2_error *err)
{
	eau2_builder *b;
	int rc;

	*df = NULL;
	if (!fill)
		return eau2_error_set(err, -EINVAL, "from_visitor: fill is NULL");
	rc = eau2_builder_new_in(db, schema, &b, err);
	if (rc)
		return rc;
	while ((rc = fill(ctx, b, err)) == 1)
		;
	if (rc < 0) {
		eau2_builder_abort(b);
		return rc;
	}
	return eau2_builder_finish(b, df, err);
}
