/* SPDX-License-Identifier: MIT */
/*
 * builder.c - building a dataframe: values are appended to per-column
 * buffers of one chunk (EAU2_CHUNK_ROWS rows); a full chunk is written
 * into a segment of the store at once, so memory stays at one chunk per
 * column however large the dataframe grows. Columns seal independently at
 * every EAU2_CHUNK_ROWS values, which keeps chunk k of every column the
 * same rows: row group k.
 *
 * Sealing computes the chunk's statistics and checksum from the column
 * buffers while they are hot and writes header and buffers to the segment
 * file with one pwritev: no staging copy, and no page faults on the
 * segment's fresh tmpfs pages (a write into the page cache costs a third
 * of the faults a store through the mapping takes). Each thread fills
 * segments of its own, so writers on several threads never queue on one
 * file's lock; a thread's segments grow with the dataframe (an eighth of
 * the bytes reserved so far, at least EAU2_SEG_MIN, at most EAU2_SEG_MAX),
 * which bounds both the segment count and the reserve left unused. A
 * load that sends its row groups elsewhere gives them back
 * (eau2_builder_discard): a segment whose chunks were all given back, and
 * whose owner moved on, is filled again from its start by the next
 * thread that needs a segment, over the pages it holds.
 *
 * Access rules. A builder and each of its parts belong to one thread each.
 * They share one `struct writer` (the new dataframe's id, lock and
 * segments); its segment list, owners, bump pointers and live bytes are guarded by
 * writer.mu, taken once per sealed chunk, as is its pool of column
 * buffers that freed parts leave to the next fork; a new segment is created outside
 * the lock (its slot is claimed first, marked not ready). Bytes are
 * written into a segment outside the lock: each allocation is private to
 * the thread that made it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "df/df.h"
#include "shm/shm.h"

struct seg_meta {
	pthread_t owner; /* the thread that fills it */
	bool ready;      /* false while its creator makes it (outside mu) */
	bool spent;      /* its owner moved on to another segment; once
			  * no byte of it is live, the next thread that
			  * needs a segment fills it again */
	uint64_t live;   /* bytes of its chunks not discarded */
};

/* Column buffers kept from freed parts for the next fork (a part's
 * buffers are megabytes; fresh ones cost a page fault per 4 KiB written).
 * Parts on and off the pool never outnumber the most parts alive at once. */
#define SPARE_MAX 16

/* The largest segment made once chunks are discarded (a segment is
 * refilled only once every chunk in it is: smaller ones keep the store
 * near what is in flight). */
#define SEG_RECYCLE (8ull << 20)

struct writer {
	pthread_mutex_t mu;
	struct eau2_store *db;
	uint64_t id;
	int lock_fd;
	struct eau2_shm_seg *segs;
	struct seg_meta *meta;
	uint32_t nsegs, cap;
	uint64_t reserved; /* bytes of every segment */
	int users;  /* the builder and its live parts; guarded by mu */
	int broken; /* a segment could not be made: finish fails */
	bool recycle; /* chunks were discarded: segments are refilled */
	size_t ncols;
	struct eau2_colbuf *spare[SPARE_MAX]; /* guarded by mu */
	uint32_t nspare;
};

struct chunk_list {
	struct eau2_chunk_ref *refs;
	uint32_t *rows;
	size_t n, cap;
};

/* A column's pending chunk is a struct eau2_colbuf (df.h): loaders fill
 * it directly. Validity: while nulls == 0 the bitmap is not kept; the
 * first null sets it to all ones, and each null clears its bit. */
struct eau2_builder {
	struct writer *w;
	eau2_schema *schema;
	struct eau2_colbuf *cols;
	struct chunk_list *chunks; /* per column */
	XXH3_state_t *xxh;
	int is_part;
};

#define CR EAU2_CHUNK_ROWS

static void col_free(struct eau2_colbuf *c);

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
	for (i = 0; i < w->nspare; i++) {
		for (size_t c = 0; c < w->ncols; c++)
			col_free(&w->spare[i][c]);
		free(w->spare[i]);
	}
	if (remove_files) {
		eau2_shm_id_remove(w->db->datafd, w->id);
		close(w->lock_fd);
	}
	pthread_mutex_destroy(&w->mu);
	free(w->segs);
	free(w->meta);
	free(w);
}

/* Where a sealed chunk goes: segment index, offset, and the segment's fd. */
struct slot {
	uint32_t seg;
	uint64_t off;
	int fd;
};

/* Reserves size bytes (rounded up to 64) in the calling thread's
 * segment, else in a spent one whose chunks were all discarded (its
 * pages written again, not allocated afresh), else in a new one made for
 * it. */
static int writer_alloc(struct writer *w, uint64_t size, struct slot *out,
			struct eau2_error *err)
{
	pthread_t self = pthread_self();
	struct eau2_shm_seg made;
	uint64_t want;
	uint32_t i, idx;
	int rc = 0;

	size = eau2_align64(size);
	pthread_mutex_lock(&w->mu);
	for (i = w->nsegs; i-- > 0;) {
		struct eau2_shm_seg *s = &w->segs[i];
		struct seg_meta *m = &w->meta[i];

		if (!m->ready || m->spent || !pthread_equal(m->owner, self))
			continue;
		if (s->size - s->used >= size) {
			*out = (struct slot){ .seg = i, .off = s->used, .fd = s->fd };
			s->used += size;
			m->live += size;
			goto out;
		}
		m->spent = true;
		break;
	}
	for (i = 0; i < w->nsegs; i++) {
		struct eau2_shm_seg *s = &w->segs[i];
		struct seg_meta *m = &w->meta[i];

		if (m->spent && m->live == 0 && s->size >= size) {
			*m = (struct seg_meta){ .owner = self, .ready = true, .live = size };
			s->used = size;
			*out = (struct slot){ .seg = i, .off = 0, .fd = s->fd };
			goto out;
		}
	}
	if (!w->reserved) {
		/* The dataframe's first segment holds just its first chunk:
		 * most rower results are a few rows, and reserving (then
		 * trimming) 256 KiB for them costs more than the run. */
		want = (size + EAU2_SEG_FIRST - 1) & ~(EAU2_SEG_FIRST - 1);
	} else {
		/* Segments given back whole by discard are refilled: once
		 * a load discards, small ones come back sooner. */
		uint64_t most = w->recycle ? SEG_RECYCLE : EAU2_SEG_MAX;

		want = EAU2_SEG_MIN;
		while (want < most && want * 8 <= w->reserved)
			want *= 2;
		if (want < size)
			want = (size + (2u << 20) - 1) & ~(uint64_t)((2u << 20) - 1);
		/* On huge pages, none smaller than one. */
		if (want < w->db->pages.size)
			want = w->db->pages.size;
	}
	want = eau2_shm_seg_align(w->db, want);
	if (w->nsegs == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 8;
		struct eau2_shm_seg *p = realloc(w->segs, cap * sizeof(*p));
		struct seg_meta *m;

		if (!p) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		w->segs = p;
		m = realloc(w->meta, cap * sizeof(*m));
		if (!m) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		w->meta = m;
		w->cap = cap;
	}
	idx = w->nsegs++;
	w->segs[idx] = (struct eau2_shm_seg){ .fd = -1 };
	w->meta[idx] = (struct seg_meta){ .owner = self, .ready = false };
	w->reserved += want;
	/* Creating a segment (a file, a mapping) is a few syscalls: not under
	 * the lock. */
	pthread_mutex_unlock(&w->mu);
	rc = eau2_shm_seg_create(w->db->datafd, w->id, idx, want, &made, err);
	pthread_mutex_lock(&w->mu);
	if (rc) {
		w->broken = 1; /* the slot stays empty; finish refuses */
		goto out;
	}
	made.used = size;
	w->segs[idx] = made;
	w->meta[idx].ready = true;
	w->meta[idx].live = size;
	*out = (struct slot){ .seg = idx, .off = 0, .fd = made.fd };
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* --------------------------------------------------------------- columns */

static int col_init(struct eau2_colbuf *c, enum eau2_type type)
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

static void col_free(struct eau2_colbuf *c)
{
	free(c->validity);
	free(c->v.bits);
	free(c->data);
}

static void list_free(struct chunk_list *l)
{
	free(l->refs);
	free(l->rows);
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

/* ------------------------------------------------------------- sealing */

static int write_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t k = pwritev(fd, iov, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		off += (uint64_t)k;
		while (n > 0 && (size_t)k >= iov->iov_len) {
			k -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* Writes the pending values of column col as a chunk and starts the next
 * chunk. */
static int seal_col(eau2_builder *b, size_t col, struct eau2_error *err)
{
	struct eau2_colbuf *c = &b->cols[col];
	struct eau2_chunk_iov l;
	struct slot at = { .fd = -1 };
	int rc;

	if (c->n == 0)
		return 0;
	if (c->nulls && (c->n & 7)) /* bits past the last row are zero */
		c->validity[c->n >> 3] &= (uint8_t)((1u << (c->n & 7)) - 1);
	eau2_chunk_layout(&(struct eau2_chunk_src){
				  .type = c->type, .rows = c->n, .null_count = c->nulls,
				  .validity = c->validity, .values = c->v.bits,
				  .data = c->data, .data_len = c->data_len,
			  }, b->xxh, &l);
	rc = writer_alloc(b->w, l.len, &at, err);
	if (rc)
		return rc;
	rc = write_all(at.fd, l.iov, l.n, at.off);
	if (rc)
		return eau2_error_set(err, rc, rc == -ENOSPC ?
				      "store is full: no room for a chunk of column '%s'%s" :
				      "store: cannot write a chunk of column '%s': %s",
				      b->schema->names[col],
				      rc == -ENOSPC ? "" : strerror(-rc));
	if (list_add(&b->chunks[col], at.seg, at.off, c->n))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	if (c->type == EAU2_BOOL)
		memset(c->v.bits, 0, CR / 8);
	c->sealed += c->n;
	c->n = 0;
	c->nulls = 0;
	c->data_len = 0;
	return 0;
}

/* A part's columns, emptied, onto w's pool; false when it is full. */
static bool spare_put(struct writer *w, struct eau2_colbuf *cols, size_t n)
{
	bool kept = false;

	for (size_t i = 0; i < n; i++) {
		if (cols[i].type == EAU2_BOOL)
			memset(cols[i].v.bits, 0, CR / 8);
		cols[i].n = cols[i].nulls = 0;
		cols[i].sealed = cols[i].data_len = 0;
	}
	pthread_mutex_lock(&w->mu);
	if (w->nspare < SPARE_MAX) {
		w->spare[w->nspare++] = cols;
		kept = true;
	}
	pthread_mutex_unlock(&w->mu);
	return kept;
}

static struct eau2_colbuf *spare_get(struct writer *w)
{
	struct eau2_colbuf *cols = NULL;

	pthread_mutex_lock(&w->mu);
	if (w->nspare)
		cols = w->spare[--w->nspare];
	pthread_mutex_unlock(&w->mu);
	return cols;
}

/* A builder for w; a part (part set) takes its columns from w's pool
 * when it has some. */
static int builder_alloc(struct writer *w, const eau2_schema *schema, bool part,
			 eau2_builder **out, struct eau2_error *err)
{
	eau2_builder *b = calloc(1, sizeof(*b));
	struct eau2_colbuf *spare = NULL;
	size_t i;
	int rc;

	if (!b)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	rc = eau2_schema_copy(schema, &b->schema, err);
	if (rc) {
		free(b);
		return rc;
	}
	if (part && schema->n)
		spare = spare_get(w);
	b->cols = spare ? spare : calloc(schema->n ? schema->n : 1, sizeof(*b->cols));
	b->chunks = calloc(schema->n ? schema->n : 1, sizeof(*b->chunks));
	if (!b->cols || !b->chunks) {
		free(b->cols);
		free(b->chunks);
		eau2_schema_free(b->schema);
		free(b);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	b->w = w;
	*out = b;
	b->xxh = XXH3_createState();
	if (!b->xxh)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	for (i = 0; !spare && i < schema->n; i++)
		if (col_init(&b->cols[i], schema->types[i]))
			return eau2_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

static void builder_free(eau2_builder *b)
{
	size_t i, n = b->schema->n;

	for (i = 0; i < n; i++)
		list_free(&b->chunks[i]);
	if (!b->is_part || !n || !spare_put(b->w, b->cols, n)) {
		for (i = 0; i < n; i++)
			col_free(&b->cols[i]);
		free(b->cols);
	}
	free(b->chunks);
	XXH3_freeState(b->xxh);
	eau2_schema_free(b->schema);
	free(b);
}

int eau2_builder_new_in(struct eau2_store *db, const eau2_schema *schema,
			eau2_builder **out, struct eau2_error *err)
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
	w->ncols = schema->n;
	rc = eau2_shm_id_create(db, &w->id, &w->lock_fd, err);
	if (rc) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		return rc;
	}
	rc = builder_alloc(w, schema, false, out, err);
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
	return col < b->schema->n ? b->cols[col].sealed + b->cols[col].n : 0;
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
static inline int appended(eau2_builder *b, size_t col, struct eau2_colbuf *c,
			   struct eau2_error *err)
{
	if (++c->n == CR)
		return seal_col(b, col, err);
	return 0;
}

void eau2_builder_put_null(eau2_builder *b, size_t col)
{
	struct eau2_colbuf *c = &b->cols[col];

	if (c->nulls == 0) /* first null of this chunk: the bitmap starts */
		memset(c->validity, 0xff, CR / 8);
	c->validity[c->n >> 3] &= (uint8_t)~(1u << (c->n & 7));
	c->nulls++;
	switch (c->type) {
	case EAU2_BOOL: break;
	case EAU2_INT: c->v.i64[c->n] = 0; break;
	case EAU2_DOUBLE: c->v.f64[c->n] = 0; break;
	case EAU2_STRING: c->v.i64[c->n + 1] = c->v.i64[c->n]; break;
	}
	c->n++;
}

int eau2_builder_append_null(eau2_builder *b, size_t col, struct eau2_error *err)
{
	if (col >= b->schema->n)
		return bad_col(b, col, 0, err);
	eau2_builder_put_null(b, col);
	if (b->cols[col].n == CR)
		return seal_col(b, col, err);
	return 0;
}

struct eau2_colbuf *eau2_builder_colbufs(eau2_builder *b)
{
	return b->cols;
}

int eau2_builder_seal_full(eau2_builder *b, struct eau2_error *err)
{
	size_t i;
	int rc;

	for (i = 0; i < b->schema->n; i++)
		if (b->cols[i].n == CR && (rc = seal_col(b, i, err)))
			return rc;
	return 0;
}

int eau2_builder_append_bool(eau2_builder *b, size_t col, bool v,
			     struct eau2_error *err)
{
	struct eau2_colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_BOOL)
		return bad_col(b, col, EAU2_BOOL, err);
	c = &b->cols[col];
	if (v)
		set_bit(c->v.bits, c->n);
	return appended(b, col, c, err);
}

int eau2_builder_append_double(eau2_builder *b, size_t col, double v,
			       struct eau2_error *err)
{
	struct eau2_colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_DOUBLE)
		return bad_col(b, col, EAU2_DOUBLE, err);
	c = &b->cols[col];
	c->v.f64[c->n] = v;
	return appended(b, col, c, err);
}

int eau2_builder_append_int(eau2_builder *b, size_t col, int64_t v,
			    struct eau2_error *err)
{
	struct eau2_colbuf *c;

	if (col < b->schema->n && b->cols[col].type == EAU2_DOUBLE)
		return eau2_builder_append_double(b, col, (double)v, err);
	if (col >= b->schema->n || b->cols[col].type != EAU2_INT)
		return bad_col(b, col, EAU2_INT, err);
	c = &b->cols[col];
	c->v.i64[c->n] = v;
	return appended(b, col, c, err);
}

int eau2_builder_reserve_data(eau2_builder *b, size_t col, uint64_t more,
			       struct eau2_error *err)
{
	struct eau2_colbuf *c = &b->cols[col];
	uint64_t cap = c->data_cap ? c->data_cap : 1 << 16;
	char *p;

	if (more <= c->data_cap - c->data_len)
		return 0;
	while (cap - c->data_len < more)
		cap *= 2;
	p = realloc(c->data, cap);
	if (!p)
		return eau2_error_set(err, -ENOMEM,
				      "out of memory growing column '%s' to %llu bytes",
				      b->schema->names[col], (unsigned long long)cap);
	c->data = p;
	c->data_cap = cap;
	return 0;
}

int eau2_builder_append_string(eau2_builder *b, size_t col, const char *s,
			       size_t len, struct eau2_error *err)
{
	struct eau2_colbuf *c;

	if (col >= b->schema->n || b->cols[col].type != EAU2_STRING)
		return bad_col(b, col, EAU2_STRING, err);
	c = &b->cols[col];
	if (len > c->data_cap - c->data_len) {
		int rc = eau2_builder_reserve_data(b, col, len, err);

		if (rc)
			return rc;
	}
	if (len)
		memcpy(c->data + c->data_len, s, len);
	c->data_len += len;
	c->v.i64[c->n + 1] = (int64_t)c->data_len;
	return appended(b, col, c, err);
}

int eau2_builder_append_cell(eau2_builder *b, size_t col,
			     const struct eau2_chunk_view *v, uint32_t i,
			     struct eau2_error *err)
{
	const char *s;
	size_t len;

	if (!eau2_view_valid(v, i))
		return eau2_builder_append_null(b, col, err);
	switch (v->type) {
	case EAU2_BOOL:
		return eau2_builder_append_bool(b, col, eau2_view_bool(v, i), err);
	case EAU2_INT:
		return eau2_builder_append_int(b, col, v->values.i64[i], err);
	case EAU2_DOUBLE:
		return eau2_builder_append_double(b, col, v->values.f64[i], err);
	case EAU2_STRING:
		s = eau2_view_string(v, i, &len);
		return eau2_builder_append_string(b, col, s, len, err);
	}
	return eau2_error_set(err, -EBADMSG, "column %zu has type %d", col, (int)v->type);
}

/* A chunk made elsewhere (received from a peer, checked by the caller)
 * becomes column col's next chunk: written with one pwrite into a
 * segment, never through a mapping. */
int eau2_builder_put_chunk(eau2_builder *b, size_t col, const void *chunk,
			   struct eau2_error *err)
{
	const struct eau2_chunk_hdr *h = chunk;
	struct iovec iov = { .iov_base = (void *)chunk };
	struct slot at = { .fd = -1 };
	int rc;

	if (col >= b->schema->n)
		return eau2_error_set(err, -ERANGE, "builder: no column %zu", col);
	if (b->cols[col].n)
		return eau2_error_set(err, -EINVAL, "builder: column '%s' has values pending",
				      b->schema->names[col]);
	if (h->type != b->cols[col].type || h->rows == 0 || h->rows > CR)
		return eau2_error_set(err, -EBADMSG, "builder: a chunk of %u %s rows for "
				      "column '%s' (%s)", h->rows, eau2_type_name(h->type),
				      b->schema->names[col], eau2_type_name(b->cols[col].type));
	iov.iov_len = h->total_len;
	if ((rc = writer_alloc(b->w, h->total_len, &at, err)))
		return rc;
	if ((rc = write_all(at.fd, &iov, 1, at.off)))
		return eau2_error_set(err, rc, "store: cannot write a chunk of column '%s': %s",
				      b->schema->names[col], strerror(-rc));
	if (list_add(&b->chunks[col], at.seg, at.off, h->rows))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	b->cols[col].sealed += h->rows;
	return 0;
}

/* ------------------------------------------------------- parts and finish */

int eau2_builder_fork(eau2_builder *parent, eau2_builder **part,
		      struct eau2_error *err)
{
	int rc;

	pthread_mutex_lock(&parent->w->mu);
	parent->w->users++;
	pthread_mutex_unlock(&parent->w->mu);
	rc = builder_alloc(parent->w, parent->schema, true, part, err);
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
		if (eau2_builder_rows(b, i) != eau2_builder_rows(b, 0))
			return eau2_error_set(err, -EINVAL,
					      "builder: column '%s' has %llu values, column '%s' has %llu",
					      b->schema->names[0],
					      (unsigned long long)eau2_builder_rows(b, 0),
					      b->schema->names[i],
					      (unsigned long long)eau2_builder_rows(b, i));
	for (i = 0; i < b->schema->n; i++)
		if ((rc = seal_col(b, i, err)))
			return rc;
	return 0;
}

int eau2_builder_seal_pending(eau2_builder *b, struct eau2_error *err)
{
	return seal_all(b, err);
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
		struct chunk_list *src = &part->chunks[i];

		for (k = 0; !rc && k < src->n; k++)
			if (list_add(&parent->chunks[i], src->refs[k].seg,
				     src->refs[k].off, src->rows[k]))
				rc = eau2_error_set(err, -ENOMEM, "out of memory");
		parent->cols[i].sealed += part->cols[i].sealed;
	}
	builder_free(part);
	writer_put(parent->w, 0);
	return rc;
}

static int write_desc(eau2_builder *b, uint64_t *seg_sizes, struct eau2_error *err)
{
	size_t ncols = b->schema->n, ngroups = ncols ? b->chunks[0].n : 0, i, g;
	uint64_t *first = malloc((ngroups + 1) * sizeof(*first));
	struct eau2_chunk_ref *refs = malloc((ngroups * ncols + 1) * sizeof(*refs));
	int rc;

	if (!first || !refs) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	first[0] = 0;
	for (g = 0; g < ngroups; g++) {
		first[g + 1] = first[g] + b->chunks[0].rows[g];
		for (i = 0; i < ncols; i++)
			refs[g * ncols + i] = b->chunks[i].refs[g];
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
		const struct chunk_list *a = &b->chunks[0], *c = &b->chunks[i];

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
	else if (w->broken)
		rc = eau2_error_set(err, -EIO, "builder: finish after a failed append");
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

/* ------------------------------------------------------------ snapshots */

size_t eau2_builder_groups(const eau2_builder *b)
{
	return b->schema->n ? b->chunks[0].n : 0;
}

uint64_t eau2_builder_id(const eau2_builder *b)
{
	return b->w->id;
}

uint64_t eau2_builder_group_bytes(eau2_builder *b, size_t g)
{
	struct writer *w = b->w;
	uint64_t bytes = 0;

	pthread_mutex_lock(&w->mu);
	for (size_t c = 0; c < b->schema->n; c++) {
		const struct eau2_chunk_ref *r = &b->chunks[c].refs[g];
		const struct eau2_chunk_hdr *h =
			(const void *)(w->segs[r->seg].base + r->off);

		bytes += h->total_len;
	}
	pthread_mutex_unlock(&w->mu);
	return bytes;
}

void eau2_builder_recycle(eau2_builder *b)
{
	pthread_mutex_lock(&b->w->mu);
	b->w->recycle = true;
	pthread_mutex_unlock(&b->w->mu);
}

int eau2_builder_discard(eau2_builder *b, size_t from, size_t to, struct eau2_error *err)
{
	struct writer *w = b->w;

	if (from > to || to > eau2_builder_groups(b) || b->is_part)
		return eau2_error_set(err, -EINVAL, "builder: discard of groups %zu to %zu of %zu",
				      from, to, eau2_builder_groups(b));
	pthread_mutex_lock(&w->mu);
	w->recycle = true;
	for (size_t g = from; g < to; g++) {
		for (size_t c = 0; c < b->schema->n; c++) {
			const struct eau2_chunk_ref *r = &b->chunks[c].refs[g];
			const struct eau2_chunk_hdr *h =
				(const void *)(w->segs[r->seg].base + r->off);
			struct seg_meta *m = &w->meta[r->seg];
			uint64_t len = eau2_align64(h->total_len);

			m->live -= len < m->live ? len : m->live;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int eau2_builder_snapshot(eau2_builder *b, size_t from, size_t to, eau2_df **df,
			  struct eau2_error *err)
{
	struct writer *w = b->w;
	size_t ncols = b->schema->n, n = to - from;
	uint64_t *first = malloc((n + 1) * sizeof(*first));
	struct eau2_chunk_ref *refs = malloc((n * ncols + 1) * sizeof(*refs));
	struct eau2_df_seg *segs = NULL;
	uint64_t bytes = 0;
	uint32_t nsegs;
	int rc = 0;

	*df = NULL;
	if (from > to || to > eau2_builder_groups(b) || b->is_part) {
		free(first);
		free(refs);
		return eau2_error_set(err, -EINVAL, "builder: snapshot of groups %zu to %zu of %zu",
				      from, to, eau2_builder_groups(b));
	}
	pthread_mutex_lock(&w->mu);
	nsegs = w->nsegs;
	segs = calloc(nsegs + 1, sizeof(*segs));
	if (!first || !refs || !segs) {
		pthread_mutex_unlock(&w->mu);
		free(first);
		free(refs);
		free(segs);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	first[0] = 0;
	for (size_t g = 0; g < n; g++) {
		first[g + 1] = first[g] + b->chunks[0].rows[from + g];
		for (size_t c = 0; c < ncols && !rc; c++) {
			const struct eau2_chunk_ref *r = &b->chunks[c].refs[from + g];
			struct eau2_shm_seg *s = &w->segs[r->seg];
			struct eau2_df_seg *d = &segs[r->seg];

			refs[g * ncols + c] = *r;
			bytes += ((const struct eau2_chunk_hdr *)(const void *)(s->base + r->off))
					 ->total_len;
			if (d->base)
				continue;
			/* Its own mapping: the writer's goes to the final
			 * dataframe, or away with a failed load. */
			d->base = mmap(NULL, s->size, PROT_READ, MAP_SHARED, s->fd, 0);
			if (d->base == MAP_FAILED) {
				d->base = NULL;
				rc = eau2_error_set(err, -errno, "snapshot: mmap: %s",
						    strerror(errno));
			}
			d->size = d->map_len = s->size;
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (rc) {
		for (uint32_t i = 0; i < nsegs; i++)
			if (segs[i].base)
				munmap((void *)segs[i].base, segs[i].map_len);
		free(segs);
	} else {
		rc = eau2_df_open_mem(w->id, b->schema, segs, nsegs, n, first, refs, bytes, df,
				      err);
	}
	free(first);
	free(refs);
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
