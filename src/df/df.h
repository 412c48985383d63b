/* SPDX-License-Identifier: MIT */
/*
 * df.h - internals of src/df shared between its files: the chunk header,
 * the dataframe descriptor, and the structs behind the opaque handles.
 *
 * A chunk, as it sits in a segment, on the wire and in memory:
 *
 *     +0     struct eau2_chunk_hdr (128 bytes)
 *     +128   validity bitmap, only when null_count > 0    } each buffer
 *     ...    values: bits, int64, double, or int64 offsets } 64-byte aligned,
 *     ...    string bytes (EAU2_STRING only)              } zero padded
 *
 * The buffers are Arrow's (bool, int64, float64, large_utf8). The header's
 * checksum is XXH3-64 of every byte after the header up to total_len; its
 * hdr_checksum, XXH3-64 of the header's own first 120 bytes, covers the
 * fields answers are computed from without reading the payload (rows,
 * null count, min/max, offsets) and is checked on every chunk's first
 * view, with or without payload verification.
 *
 * A descriptor file (data/<id>.df) lists a dataframe's schema, segments,
 * row groups and one chunk reference (segment, offset) per column and row
 * group; it is written once by the builder and mapped by readers.
 */
#ifndef EAU2_DF_H
#define EAU2_DF_H

#include <stdatomic.h>
#include <sys/uio.h>
#include <xxhash.h>
#include <stdint.h>
#include <sys/types.h>

#include "eau2.h"

struct eau2_store; /* shm.h */

#define EAU2_CHUNK_MAGIC 0x4b4e4843u /* "CHNK" */
#define EAU2_ALIGN 64u

struct eau2_chunk_hdr {
	uint32_t magic;
	uint8_t type;
	uint8_t has_minmax;
	uint16_t hdr_size;
	uint32_t rows;
	uint32_t null_count;
	uint64_t validity_off, validity_len; /* offsets from the chunk start */
	uint64_t values_off, values_len;
	uint64_t data_off, data_len;
	uint64_t total_len;
	uint64_t checksum;
	union { int64_t i; double d; } min, max;
	uint8_t reserved[24];
	uint64_t hdr_checksum; /* XXH3-64 of the 120 bytes before it */
};
_Static_assert(sizeof(struct eau2_chunk_hdr) == 128, "chunk header is 128 bytes");

#define EAU2_DESC_MAGIC "EAU2DF\0\1"
/* 2: chunk headers carry hdr_checksum. A store of version 1 is refused
 * (its data must be loaded again). */
#define EAU2_DESC_VERSION 2u

struct eau2_desc_hdr {
	char magic[8];
	uint32_t version;
	uint32_t ncols;
	uint64_t nrows;
	uint64_t ngroups;
	uint32_t nsegs;
	uint32_t names_len; /* NUL-terminated names, padded to 8 */
	uint64_t file_len;
	uint64_t checksum;  /* XXH3-64 of bytes [64, file_len) */
	uint64_t bytes;     /* chunk bytes in all segments */
};
_Static_assert(sizeof(struct eau2_desc_hdr) == 64, "descriptor header is 64 bytes");
/* Then: uint8_t types[ncols] padded to 8; names; uint64_t seg_size[nsegs];
 * uint64_t group_first[ngroups + 1]; struct eau2_chunk_ref refs[ngroups][ncols]. */

struct eau2_chunk_ref {
	uint32_t seg;
	uint32_t reserved;
	uint64_t off;
};

struct eau2_schema {
	size_t n, cap;
	char **names;
	enum eau2_type *types;
};

struct eau2_df_seg {
	const uint8_t *base;
	uint64_t size;    /* bytes of the segment file */
	uint64_t map_len; /* bytes mapped (the writer maps more) */
};

/* The release hook of a dataframe (struct eau2_df below). */
typedef void (*eau2_df_release_fn)(void *ctx, uint64_t id);

/* Access rules: everything but refs and lock_fd is immutable after open
 * (the release hook is set by whoever opened it, before handing it out).
 * refs is atomic. lock_fd is changed only by eau2_put_in, under the store's
 * writer lock; a dataframe must not be put from two threads at once. */
struct eau2_df {
	atomic_int refs;
	eau2_schema *schema;
	uint64_t id;
	uint64_t nrows;
	uint64_t bytes;
	size_t ngroups;
	size_t nsegs;
	const uint64_t *group_first; /* ngroups + 1 entries, into desc */
	const struct eau2_chunk_ref *chunk_refs; /* into desc */
	struct eau2_df_seg *segs;
	void *desc;
	void *mem;   /* group_first and chunk_refs of a snapshot (no desc) */
	size_t desc_len;
	int datafd;  /* the store's data/ directory (dup) */
	int lock_fd; /* >= 0 while unpublished: files removed on release */
	/* Called once when df is freed, after its munmaps (the mappings are
	 * what a lender counts), with release_ctx and df's id: whoever lent
	 * df (a node counting this reference) is told. NULL: nobody. */
	eau2_df_release_fn release;
	void *release_ctx;
	dev_t data_dev;
	ino_t data_ino;
	/* The views of this process's checked chunks (group * ncols + col).
	 * A chunk's header (and a string chunk's offsets, so a segment
	 * corrupted on disk cannot send a reader outside the mapping) is
	 * checked on its first view; the view is kept, and later views of
	 * it read no header: a scan of one column then takes no cache miss
	 * on the headers of the others. The first thread to claim a chunk's
	 * bit writes its view, then sets its ready bit (release). */
	struct eau2_chunk_view *views;
	_Atomic uint64_t *view_claimed, *view_ready;
	/* This process's builder wrote or verified every chunk (it handed
	 * its mappings to eau2_df_open_id): a first view checks the header,
	 * not a string chunk's offsets again (O(rows): a cluster load's
	 * driver views every chunk it just built to place and send it). */
	bool built_here;
	/* A builder's snapshot (eau2_df_open_mem): its chunks are in the
	 * builder's segments and no descriptor names them, so it is in no
	 * store; it can be read and pushed to a node, never put. */
	bool snapshot;
};

static inline uint64_t eau2_align64(uint64_t n)
{
	return (n + EAU2_ALIGN - 1) & ~(uint64_t)(EAU2_ALIGN - 1);
}

/* Bytes a chunk of `rows` rows needs (header and padding included). */
uint64_t eau2_chunk_size(enum eau2_type type, uint32_t rows, uint32_t nulls,
			 uint64_t data_len);

/* Source buffers of a chunk to write (any alignment). */
struct eau2_chunk_src {
	enum eau2_type type;
	uint32_t rows;
	uint32_t null_count;
	const uint8_t *validity;
	const void *values;
	const char *data;
	uint64_t data_len;
};
/* A chunk laid out over its source buffers, nothing copied: the header
 * (statistics and checksum filled in) as iov[0], then the buffers and
 * their zero padding in order; len bytes in all. */
struct eau2_chunk_iov {
	struct eau2_chunk_hdr hdr;
	struct iovec iov[7];
	int n;
	uint64_t len;
};
/* Lays src out (x: scratch checksum state). */
void eau2_chunk_layout(const struct eau2_chunk_src *src, XXH3_state_t *x,
		       struct eau2_chunk_iov *l);
/* The same, copied to dst (eau2_chunk_size bytes, aligned to 64). */
void eau2_chunk_write(uint8_t *dst, const struct eau2_chunk_src *src);
/* Tests and benches: the AVX2 loops (the statistics, the string offsets
 * check) on (1, where the CPU has AVX2), off (0: the scalar loops) or
 * chosen by the CPU again (-1, the default). Not thread-safe: set it
 * before building or checking. */
void eau2_chunk_simd(int on);

/* Checks a chunk header at base+off inside a segment of seg_size bytes
 * against the expected type and rows. -EBADMSG with a message otherwise. */
int eau2_chunk_check(const uint8_t *base, uint64_t seg_size, uint64_t off,
		     enum eau2_type type, uint32_t rows, struct eau2_error *err);
/* Checks a chunk header on its own, before anything is allocated for the
 * chunk (a header read off the network): magic, a known type, at most
 * EAU2_CHUNK_ROWS rows, null_count <= rows, buffers of the lengths type
 * and rows imply lying inside total_len, and 128 <= total_len <= limit.
 * 0, -EMSGSIZE (over limit) or -EBADMSG, with a message. It cannot check
 * a string chunk's offsets: eau2_chunk_check then eau2_chunk_verify do,
 * once the bytes are there. */
int eau2_chunk_hdr_check(const struct eau2_chunk_hdr *h, uint64_t limit,
			 struct eau2_error *err);
/* Fills a view from a checked chunk. */
void eau2_chunk_view_fill(const uint8_t *chunk, uint64_t first_row,
			  struct eau2_chunk_view *v);
/* Recomputes the checksum and walks string offsets: -EBADMSG on mismatch. */
int eau2_chunk_verify(const uint8_t *chunk, struct eau2_error *err);
/* Checks that a string chunk's offsets never decrease (with the first and
 * last already checked by eau2_chunk_check, every string then lies inside
 * the chunk's bytes). O(rows). */
int eau2_chunk_check_offsets(const uint8_t *chunk, struct eau2_error *err);

/* Checks a schema column name (message names it). */
int eau2_schema_check_name(const char *name, struct eau2_error *err);

/* The store-level forms of public functions. The public eau2_builder_new,
 * eau2_load, eau2_df_zip, eau2_df_from_* (which take the facade's handle,
 * eau2) are defined by src/api on top of these, which take the local
 * store the dataframes are built in; eau2_put_in, eau2_get_in and
 * eau2_delete_in are what the facade's "local" backend does with the
 * store's files (a get here never goes through a node and never
 * verifies). Arguments, returns and errors as in eau2.h. */
int eau2_builder_new_in(struct eau2_store *db, const eau2_schema *schema,
			eau2_builder **builder, struct eau2_error *err);
int eau2_load_in(struct eau2_store *db, const char *path,
		 const struct eau2_load_options *opt, eau2_df **df,
		 struct eau2_load_stats *stats, struct eau2_error *err);
/* eau2_load_in, calling joined(arg, root) each time row groups were added
 * to the builder of the load (under the loader's lock, so it must be
 * quick: eau2_builder_snapshot and the like). A load that starts again
 * (CSV types widened, pieces split again) does so with a new builder
 * (another eau2_builder_id): what the hook took from the old one is not
 * in the result. joined returns false to stop the load: no piece starts
 * after that, and the load fails with -ECANCELED ("load stopped by its
 * caller"), leaving nothing in the store. A hook that sends what it
 * takes and frees it (eau2_builder_discard) may wait in joined, holding
 * the parse back, while more than eau2_load_stream_window() bytes of
 * row groups are parsed and not yet sent: the store then holds about
 * that much, however large the file and slow the link. */
typedef bool eau2_load_joined_fn(void *arg, eau2_builder *root);
int eau2_load_stream_in(struct eau2_store *db, const char *path,
			const struct eau2_load_options *opt, eau2_load_joined_fn *joined,
			void *arg, eau2_df **df, struct eau2_load_stats *stats,
			struct eau2_error *err);
uint64_t eau2_load_stream_window(void);
int eau2_df_zip_in(struct eau2_store *db, const eau2_df *a, const eau2_df *b,
		   eau2_df **out, struct eau2_error *err);
int eau2_df_from_array_in(struct eau2_store *db, const char *name,
			  enum eau2_type type, const void *values, size_t n,
			  eau2_df **df, struct eau2_error *err);
int eau2_df_from_visitor_in(struct eau2_store *db, const eau2_schema *schema,
			    eau2_fill_fn fill, void *ctx, eau2_df **df,
			    struct eau2_error *err);
int eau2_put_in(struct eau2_store *db, const char *key, eau2_df *df,
		struct eau2_error *err);
int eau2_get_in(struct eau2_store *db, const char *key, eau2_df **df,
		struct eau2_error *err);
int eau2_delete_in(struct eau2_store *db, const char *key,
		   struct eau2_error *err);

/* Makes the dataframe object for id of store db from its descriptor.
 * Segments: when `segs` is not NULL they are the writer's own mappings,
 * taken over by the dataframe, whose chunks the writer built or verified
 * (built_here); otherwise they are mapped read-only. */
int eau2_df_open_id(struct eau2_store *db, uint64_t id,
		    struct eau2_df_seg *segs, size_t nsegs, int lock_fd,
		    eau2_df **out, struct eau2_error *err);

/* The dataframe object of groups that a builder has sealed (a snapshot
 * of eau2_builder_snapshot): first (ngroups + 1 entries, from 0) and refs
 * (ngroups x schema columns) are copied; segs (nsegs read-only mappings,
 * those no ref names may have a NULL base) are taken over, also on
 * failure. It is in no store: it cannot be put under a key, and
 * releasing it removes no file. */
int eau2_df_open_mem(uint64_t id, const eau2_schema *schema,
		     struct eau2_df_seg *segs, size_t nsegs, size_t ngroups,
		     const uint64_t *first, const struct eau2_chunk_ref *refs,
		     uint64_t bytes, eau2_df **out, struct eau2_error *err);

/* The store's id of df (its files; a snapshot's builder's). */
uint64_t eau2_df_store_id(const eau2_df *df);

/* Sets df's release hook (at most one; before df is shared). */
void eau2_df_set_release(eau2_df *df, eau2_df_release_fn fn, void *ctx);

/* Writes data/<id>.df (desc.c): group_first has ngroups + 1 entries, refs
 * ngroups x s->n (group-major). */
int eau2_desc_write(int datafd, uint64_t id, const eau2_schema *s,
		    uint32_t nsegs, const uint64_t *seg_sizes, size_t ngroups,
		    const uint64_t *group_first, const struct eau2_chunk_ref *refs,
		    struct eau2_error *err);

/* Snapshots of a builder that is still being filled, for a load that
 * streams what it has parsed (builder.c; the caller holds whatever lock
 * guards the builder and its joins). groups: row groups sealed so far
 * (joins only ever add groups at the end); id: the dataframe it builds
 * (another after a load restarts with a new builder); group_bytes: the
 * bytes of group g's chunks; snapshot: a dataframe of groups [from, to)
 * (eau2_df_open_mem), readable after the builder is finished or
 * aborted; discard: gives the bytes of groups [from, to)'s chunks back
 * to the builder, for a load that sent those groups elsewhere and never
 * reads them again (once per group): a segment whose chunks are all
 * discarded is filled again by the next chunks sealed, its store pages
 * written over rather than allocated anew, so the store holds about what
 * is in flight rather than the whole load. Those groups then read as
 * other groups' bytes, in the builder, in its snapshots and in the
 * dataframe it finishes: only the groups never discarded may be read.
 * recycle: from now on the segments the builder makes stay small, so
 * that discards give them back whole sooner; a load that will discard
 * calls it first (discard does too). */
size_t eau2_builder_groups(const eau2_builder *b);
uint64_t eau2_builder_id(const eau2_builder *b);
uint64_t eau2_builder_group_bytes(eau2_builder *b, size_t g);
int eau2_builder_discard(eau2_builder *b, size_t from, size_t to, struct eau2_error *err);
void eau2_builder_recycle(eau2_builder *b);
int eau2_builder_snapshot(eau2_builder *b, size_t from, size_t to, eau2_df **df,
			  struct eau2_error *err);

/* Builder: bulk appends for loaders that append whole rows (builder.c).
 * eau2_builder_colbufs gives each column's pending chunk: a value goes at
 * index n, then n++ (a string: its bytes at data + data_len, after
 * eau2_builder_reserve_data; data_len += len; v.i64[n + 1] = data_len;
 * n++); a null through eau2_builder_put_null. A loader keeps every column
 * at the same n and calls eau2_builder_seal_full before a row once n is
 * EAU2_CHUNK_ROWS. Validity is kept only once nulls > 0: all ones but the
 * nulls' bits, so a valid value needs no bitmap write. */
struct eau2_colbuf {
	enum eau2_type type;
	uint32_t n;      /* values pending in this chunk */
	uint32_t nulls;  /* nulls among them */
	uint64_t sealed; /* values in sealed chunks */
	uint8_t *validity;
	union { uint8_t *bits; int64_t *i64; double *f64; } v;
	char *data;
	uint64_t data_len, data_cap;
};
struct eau2_colbuf *eau2_builder_colbufs(eau2_builder *b);
void eau2_builder_put_null(eau2_builder *b, size_t col);
int eau2_builder_reserve_data(eau2_builder *b, size_t col, uint64_t more,
			      struct eau2_error *err);
int eau2_builder_seal_full(eau2_builder *b, struct eau2_error *err);
/* Seals the pending rows of every column as a (short) row group: a part,
 * on the thread that filled it, before its join; the join, often run
 * under a loader's lock, then has nothing left to write. */
int eau2_builder_seal_pending(eau2_builder *b, struct eau2_error *err);

/* Appends a whole chunk (header and buffers, total_len bytes, checked by
 * the caller: eau2_chunk_hdr_check and eau2_chunk_verify) to column col,
 * which must have no values pending: a transfer's receiving side. The
 * type must be the column's and rows 1..EAU2_CHUNK_ROWS (-EBADMSG). */
int eau2_builder_put_chunk(eau2_builder *b, size_t col, const void *chunk,
			   struct eau2_error *err);

/* Appends value i of view v (its type, or a null) to column col of b: the
 * one place a rower or a partition copy moves a cell from a chunk into a
 * builder. */
int eau2_builder_append_cell(eau2_builder *b, size_t col,
			     const struct eau2_chunk_view *v, uint32_t i,
			     struct eau2_error *err);

#endif
