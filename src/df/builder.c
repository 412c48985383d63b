/* SPDX-License-Identifier: MIT */
/*
 * builder.c - building a dataframe: values are appended to per-column
 * buffers of one chunk (EAU2_CHUNK_ROWS rows); a full chunk is laid out
 * into a segment of the store at once, so memory stays at one chunk per
 * column however large the dataframe grows. Columns seal independently at
 * every EAU2_CHUNK_ROWS values, which keeps chunk k of every column the
 * same rows: row group k.
 *
 * Access rules. A builder and each of its parts belong to one thread each.
 * They share one `struct writer` (the new dataframe's id, lock and
 * segments); its segment list and bump pointers are guarded by writer.mu,
 * taken once per sealed chunk. Bytes are copied into a segment outside the
 * lock: each allocation is private to the thread that made it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df/df.h"
#include "shm/shm.h"

struct writer {
	pthread_mutex_t mu;
	eau2 *db;
	uint64_t id;
	int lock_fd;
	struct eau2_shm_seg *segs;
	uint32_t nsegs, cap;
	int users; /* the builder and its live parts; guarded by mu */
};

struct chunk_list {
	struct eau2_chunk_ref *refs;
	uint32_t *rows;
	size_t n, cap;
};

struct colbuf {
	enum eau2_type type;
	uint32_t n;     /* values pending in this chunk */
	uint32_t nulls; /* nulls among them */
	uint64_t total; /* values appended, sealed and pending */
	uint8_t *validity;
	union {
		uint8_t *bits;
		int64_t *i64;
		double *f64;
	} v;
	char *data;
	uint64_t data_len, data_cap;
	struct chunk_list chunks;
};

struct eau2_builder {
	struct writer *w;
	eau2_schema *schema;
	struct colbuf *cols;
	int is_part;
};

#define CR EAU2_CHUNK_ROWS

/* ---------------------------------------------------------------- writer */

static void writer_put(struct writer *w, int remove_files)
{
	uint32_t i;
	int last;

	pthread_mutex_lock(&w->mu);
	last = --w->users == 0;
	pthread_mutex_unlock(&w->mu);
	if (!last)
		return;
	for (i = 0; i < w->nsegs; i++)
		eau2_shm_seg_drop(&w->segs[i]);
	if (remove_files) {
		eau2_shm_id_remove(w->db->datafd, w->id);
		close(w->lock_fd);
	}
	pthread_mutex_destroy(&w->mu);
	free(w->segs);
	free(w);
}

static int writer_alloc(struct writer *w, uint64_t size, uint32_t *seg,
			uint64_t *off, uint8_t **ptr, struct eau2_error *err)
{
	struct eau2_shm_seg *s;
	int rc = 0;

	pthread_mutex_lock(&w->mu);
	s = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
	if (!s || s->size - s->used < size) {
		uint64_t want = EAU2_SEG_MIN;
		uint32_t k;

		for (k = 0; k < w->nsegs && want < EAU2_SEG_MAX; k++)
			want *= 2;
		if (want < size)
			want = (size + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
		if (w->nsegs == w->cap) {
			uint32_t cap = w->cap ? w->cap * 2 : 8;
			struct eau2_shm_seg *p = realloc(w->segs, cap * sizeof(*p));

			if (!p) {
				rc = eau2_error_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			w->segs = p;
			w->cap = cap;
		}
		rc = eau2_shm_seg_create(w->db->datafd, w->id, w->nsegs, want,
					 &w->segs[w->nsegs], err);
		if (rc)
			goto out;
		s = &w->segs[w->nsegs++];
	}
	*seg = (uint32_t)(s - w->segs);
	*off = s->used;
	*ptr = s->base + s->used;
	s->used += eau2_align64(size);
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* --------------------------------------------------------------- columns */

static int col_init(struct colbuf *c, enum eau2_type type)
{
	c->type = type;
	c->validity = calloc(CR / 8, 1);
	switch (type) {
	case EAU2_BOOL: c->v.bits = calloc(CR / 8, 1); break;
	case EAU2_INT: c->v.i64 = malloc(CR * sizeof(int64_t)); break;
	case EAU2_DOUBLE: c->v.f64 = malloc(CR * sizeof(double)); break;
	case EAU2_STRING: c->v.i64 = calloc(CR + 1, sizeof(int64_t)); break;
	}
	return c->validity && c->v.bits ? 0 : -ENOMEM;
}

static void col_free(struct colbuf *c)
{
	free(c->validity);
	free(c->v.bits);
	free(c->data);
	free(c->chunks.refs);
	free(c->chunks.rows);
}

static int list_add(struct chunk_list *l, uint32_t seg, uint64_t off, uint32_t rows)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct eau2_chunk_ref *r = realloc(l->refs, cap * sizeof(*r));
		uint32_t *n;

		if (!r)
			return -ENOMEM;
		l->refs = r;
		n = realloc(l->rows, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->rows = n;
		l->cap = cap;
	}
	l->refs[l->n] = (struct eau2_chunk_ref){ .seg = seg, .off = off };
	l->rows[l->n++] = rows;
	return 0;
}

static int seal_col(eau2_builder *b, size_t col, struct eau2_error *err)
{
	struct colbuf *c = &b->cols[col];
	struct eau2_chunk_src src = {
		.type = c->type, .rows = c->n, .null_count = c->nulls,
		.validity = c->validity, .values = c->v.bits,
		.data = c->data, .data_len = c->data_len,
	};
	uint64_t size, off = 0;
	uint32_t seg = 0;
	uint8_t *ptr = NULL;
	int rc;

	if (c->n == 0)
		return 0;
	size = eau2_chunk_size(c->type, c->n, c->nulls, c->data_len);
	rc = writer_alloc(b->w, size, &seg, &off, &ptr, err);
	if (rc)
		return rc;
	eau2_chunk_write(ptr, &src);
	if (list_add(&c->chunks, seg, off, c->n))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	if (c->type == EAU2_BOOL)
		memset(c->v.bits, 0, CR / 8);
	c->n = 0;
	c->nulls = 0;
	c->data_len = 0;
	return 0;
}

static int builder_alloc(struct writer *w, const eau2_schema *schema,
			 eau2_builder **out, struct eau2_error *err)
{
	eau2_builder *b = calloc(1, sizeof(*b));
	size_t i;
	int rc;

	if (!b)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	rc = eau2_schema_copy(schema, &b->schema, err);
	if (rc) {
		free(b);
		return rc;
	}
	b->cols = calloc(schema->n ? schema->n : 1, sizeof(*b->cols));
	if (!b->cols) {
		eau2_schema_free(b->schema);
		free(b);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	b->w = w;
	*out = b;
	for (i = 0; i < schema->n; i++)
		if (col_init(&b->cols[i], schema->types[i]))
			return eau2_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

static void builder_free(eau2_builder *b)
{
	size_t i;

	for (i = 0; i < b->schema->n; i++)
		col_free(&b->cols[i]);
	free(b->cols);
	eau2_schema_free(b->schema);
	free(b);
}

int eau2_builder_new(eau2 *db, const eau2_schema *schema, eau2_builder **out,
		     struct eau2_error *err)
{
	struct writer *w;
	int rc;

	*out = NULL;
	if (!db || !schema)
		return eau2_error_set(err, -EINVAL, "builder: store and schema are required");
	w = calloc(1, sizeof(*w));
	if (!w)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&w->mu, NULL);
	w->db = db;
	w->users = 1;
	rc = eau2_shm_id_create(db, &w->id, &w->lock_fd, err);
	if (rc) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		return rc;
	}
	rc = builder_alloc(w, schema, out, err);
	if (rc) {
		if (*out)
			builder_free(*out);
		*out = NULL;
		writer_put(w, 1);
	}
	return rc;
}

const eau2_schema *eau2_builder_schema(const eau2_builder *b)
{
	return b->schema;
}

uint64_t eau2_builder_rows(const eau2_builder *b, size_t col)
{
	return col < b->schema->n ? b->cols[col].total : 0;
}

/* ---------------------------------------------------------------- append */

static inline int bad_col(const eau2_builder *b, size_t col, enum eau2_type type,
			  struct eau2_error *err)
{
	if (col >= b->schema->n)
		return eau2_error_set(err, -ERANGE, "builder: column %zu out of range (%zu columns)",
				      col, b->schema->n);
	return eau2_error_set(err, -EINVAL, "builder: column '%s' is %s, cannot append %s",
			      b->schema->names[col], eau2_type_name(b->schema->types[col]),
			      eau2_type_name(type));
}

static inline void set_bit(uint8_t *bits, uint32_t i)
{
	bits[i >> 3] |= (uint8_t)(1u << (i & 7));
}

/* Book-keeping after a value or null was written at index c->n. */
static inline int appended(eau2_builder *b, size_t col, struct colbuf *c,
			   struct eau2_error *err)
{
	c->total++;
	if (++c->n == CR)
		return seal_col(b, col, err);
	return 0;
}

int eau2_builder_append_null(eau2_builder *b, size_t col, struct eau2_error *err)
{
	struct colbuf *c;

	if (col >= b->schema->n)
		return bad_col(b, col, 0, err);
	c = &b->cols[col];
	if (c->nulls == 0) {
		/* First null of this chunk: the bitmap starts to matter. */
		uint32_t i;

		memset(c->validity, 0, CR / 8);
		memset(c->validity, 0xff, c->n / 8);
		for (i = c->n & ~7u; i < c->n; i++)
			set_bit(c->validity, i);
	}
	c->nulls++;
	switch (c->type) {
	case EAU2_BOOL: break;
	case EAU2_INT: c->v.i64[c->n] = 0; break;
	case EAU2_DOUBLE: c->v.f64[c->n] = 0; break;
	case EAU2_STRING: c->v.i64[c->n + 1] = c->v.i64[c->n]; break;
	}
	return appended(b, col, c, err);
}

#define VALID(c) do { if ((c)->nulls) set_bit((c)->validity, (c)->n); } while (0)

int eau2_builder_append_bool(eau2_builder *b, size_t col, bool v,
			     struct eau2_error *err)
{
	struct colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_BOOL)
		return bad_col(b, col, EAU2_BOOL, err);
	c = &b->cols[col];
	if (v)
		set_bit(c->v.bits, c->n);
	VALID(c);
	return appended(b, col, c, err);
}

int eau2_builder_append_double(eau2_builder *b, size_t col, double v,
			       struct eau2_error *err)
{
	struct colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_DOUBLE)
		return bad_col(b, col, EAU2_DOUBLE, err);
	c = &b->cols[col];
	c->v.f64[c->n] = v;
	VALID(c);
	return appended(b, col, c, err);
}

int eau2_builder_append_int(eau2_builder *b, size_t col, int64_t v,
			    struct eau2_error *err)
{
	struct colbuf *c;

	if (col < b->schema->n && b->cols[col].type == EAU2_DOUBLE)
		return eau2_builder_append_double(b, col, (double)v, err);
	if (col >= b->schema->n || b->cols[col].type != EAU2_INT)
		return bad_col(b, col, EAU2_INT, err);
	c = &b->cols[col];
	c->v.i64[c->n] = v;
	VALID(c);
	return appended(b, col, c, err);
}

int eau2_builder_append_string(eau2_builder *b, size_t col, const char *s,
			       size_t len, struct eau2_error *err)
{
	struct colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_STRING)
		return bad_col(b, col, EAU2_STRING, err);
	c = &b->cols[col];
	if (len > c->data_cap - c->data_len) {
		uint64_t cap = c->data_cap ? c->data_cap : 1 << 16;
		char *p;

		while (cap - c->data_len < len)
			cap *= 2;
		p = realloc(c->data, cap);
		if (!p)
			return eau2_error_set(err, -ENOMEM,
					      "out of memory growing column '%s' to %llu bytes",
					      b->schema->names[col], (unsigned long long)cap);
		c->data = p;
		c->data_cap = cap;
	}
	if (len)
		memcpy(c->data + c->data_len, s, len);
	c->data_len += len;
	c->v.i64[c->n + 1] = (int64_t)c->data_len;
	VALID(c);
	return appended(b, col, c, err);
}

/* ------------------------------------------------------- parts and finish */

int eau2_builder_fork(eau2_builder *parent, eau2_builder **part,
		      struct eau2_error *err)
{
	int rc;

	pthread_mutex_lock(&parent->w->mu);
	parent->w->users++;
	pthread_mutex_unlock(&parent->w->mu);
	rc = builder_alloc(parent->w, parent->schema, part, err);
	if (rc) {
		if (*part)
			builder_free(*part);
		*part = NULL;
		writer_put(parent->w, 0);
		return rc;
	}
	(*part)->is_part = 1;
	return 0;
}

/* Seals every column's pending values; they must be equally many. */
static int seal_all(eau2_builder *b, struct eau2_error *err)
{
	size_t i;
	int rc;

	for (i = 1; i < b->schema->n; i++)
		if (b->cols[i].total != b->cols[0].total)
			return eau2_error_set(err, -EINVAL,
					      "builder: column '%s' has %llu values, column '%s' has %llu",
					      b->schema->names[0],
					      (unsigned long long)b->cols[0].total,
					      b->schema->names[i],
					      (unsigned long long)b->cols[i].total);
	for (i = 0; i < b->schema->n; i++)
		if ((rc = seal_col(b, i, err)))
			return rc;
	return 0;
}

int eau2_builder_join(eau2_builder *parent, eau2_builder *part,
		      struct eau2_error *err)
{
	size_t i, k;
	int rc;

	if (!part->is_part || part->w != parent->w)
		return eau2_error_set(err, -EINVAL, "builder: join of a part of another builder");
	rc = seal_all(parent, err);
	if (!rc)
		rc = seal_all(part, err);
	for (i = 0; !rc && i < parent->schema->n; i++) {
		struct chunk_list *src = &part->cols[i].chunks;

		for (k = 0; !rc && k < src->n; k++)
			if (list_add(&parent->cols[i].chunks, src->refs[k].seg,
				     src->refs[k].off, src->rows[k]))
				rc = eau2_error_set(err, -ENOMEM, "out of memory");
		parent->cols[i].total += part->cols[i].total;
	}
	builder_free(part);
	writer_put(parent->w, 0);
	return rc;
}

static int write_desc(eau2_builder *b, uint64_t *seg_sizes, struct eau2_error *err)
{
	size_t ncols = b->schema->n, ngroups = ncols ? b->cols[0].chunks.n : 0, i, g;
	uint64_t *first = malloc((ngroups + 1) * sizeof(*first));
	struct eau2_chunk_ref *refs = malloc((ngroups * ncols + 1) * sizeof(*refs));
	int rc;

	if (!first || !refs) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	first[0] = 0;
	for (g = 0; g < ngroups; g++) {
		first[g + 1] = first[g] + b->cols[0].chunks.rows[g];
		for (i = 0; i < ncols; i++)
			refs[g * ncols + i] = b->cols[i].chunks.refs[g];
	}
	rc = eau2_desc_write(b->w->db->datafd, b->w->id, b->schema, b->w->nsegs,
			     seg_sizes, ngroups, first, refs, err);
out:
	free(first);
	free(refs);
	return rc;
}

/* Every column must have sealed the same chunks, row for row. */
static int check_groups(eau2_builder *b, struct eau2_error *err)
{
	size_t i, g;

	for (i = 1; i < b->schema->n; i++) {
		const struct chunk_list *a = &b->cols[0].chunks, *c = &b->cols[i].chunks;

		if (a->n != c->n)
			goto bad;
		for (g = 0; g < a->n; g++)
			if (a->rows[g] != c->rows[g])
				goto bad;
		continue;
bad:
		return eau2_error_set(err, -EINVAL,
				      "builder: columns '%s' and '%s' were sealed at different rows",
				      b->schema->names[0], b->schema->names[i]);
	}
	return 0;
}

int eau2_builder_finish(eau2_builder *b, eau2_df **df, struct eau2_error *err)
{
	struct writer *w = b->w;
	struct eau2_df_seg *segs = NULL;
	uint64_t *sizes = NULL;
	uint32_t i;
	int rc;

	*df = NULL;
	if (b->is_part) {
		rc = eau2_error_set(err, -EINVAL, "builder: finish of a part (join it instead)");
		eau2_builder_abort(b);
		return rc;
	}
	rc = seal_all(b, err);
	if (!rc)
		rc = check_groups(b, err);
	if (rc)
		goto fail;
	pthread_mutex_lock(&w->mu);
	if (w->users != 1)
		rc = eau2_error_set(err, -EINVAL, "builder: finish with %d parts not joined",
				    w->users - 1);
	pthread_mutex_unlock(&w->mu);
	if (rc)
		goto fail;
	sizes = calloc(w->nsegs + 1, sizeof(*sizes));
	segs = calloc(w->nsegs + 1, sizeof(*segs));
	if (!sizes || !segs) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < w->nsegs; i++) {
		rc = eau2_shm_seg_seal(&w->segs[i], err);
		if (rc)
			goto fail;
		sizes[i] = w->segs[i].used;
		segs[i] = (struct eau2_df_seg){ .base = w->segs[i].base,
						.size = w->segs[i].used,
						.map_len = w->segs[i].size };
	}
	rc = write_desc(b, sizes, err);
	if (rc)
		goto fail;
	/* The dataframe takes over the mappings and the lock. */
	rc = eau2_df_open_id(w->db, w->id, segs, w->nsegs, w->lock_fd, df, err);
	if (rc) {
		/* open_id unmapped what it was given */
		w->nsegs = 0;
		goto fail;
	}
	w->nsegs = 0;
	w->lock_fd = -1;
	free(sizes);
	builder_free(b);
	writer_put(w, 0);
	return 0;
fail:
	free(sizes);
	free(segs);
	eau2_builder_abort(b);
	return rc;
}

void eau2_builder_abort(eau2_builder *b)
{
	struct writer *w;

	if (!b)
		return;
	w = b->w;
	builder_free(b);
	writer_put(w, w->lock_fd >= 0);
}
