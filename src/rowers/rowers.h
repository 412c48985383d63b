/* SPDX-License-Identifier: MIT */
/*
 * rowers.h - internal header of src/rowers: the built-in rower classes that
 * registry.c registers, and small utilities the rowers share: a hash of
 * byte strings, an arena, an open-addressing table interning byte-string
 * keys to dense ids, a growable byte buffer with a bounds-checked reader
 * (for encode/decode), and a column-list argument parser.
 *
 * None of these utilities is thread-safe: each rower state owns its own
 * (per-thread clones, joined at the end), so no locking is needed.
 */
#ifndef EAU2_ROWERS_ROWERS_H
#define EAU2_ROWERS_ROWERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eau2.h"

/* Built-in classes, listed in registry.c's table. count.c, agg.c,
 * distinct.c, sort.c, wordcount.c hold the first ones; filter.c, map.c,
 * groupby.c and join.c (the relational rowers) the last four. */
extern const struct eau2_rower_class eau2_rower_count, eau2_rower_sum,
	eau2_rower_min, eau2_rower_max, eau2_rower_mean, eau2_rower_distinct,
	eau2_rower_sort, eau2_rower_wordcount, eau2_rower_filter,
	eau2_rower_map, eau2_rower_groupby, eau2_rower_join, eau2_rower_describe;
/* A shuffle's steps on a node (shufstep.c): eau2.keep, eau2.cut and
 * eau2.reduce, run by the cluster's driver (their arguments: there). */
extern const struct eau2_rower_class eau2_rower_shuffle_keep, eau2_rower_shuffle_cut,
	eau2_rower_shuffle_reduce;

/* eau2_run on the local store st (its cores table shares the host's
 * cores among runs; NULL: no sharing); db is the facade's handle, passed
 * to the class in its run context and never looked into here. */
struct eau2_store;
int eau2_run_in(struct eau2_store *st, eau2 *db, const eau2_df *df,
		const struct eau2_rower_class *cls, const struct eau2_args *args,
		const struct eau2_run_options *opt, eau2_df **result,
		struct eau2_error *err);

/* ------------------------------------------------------------ registry */

/* The registry behind the public eau2_rower_register, eau2_rower_find,
 * eau2_rower_foreach and eau2_plugin_load (src/api/registry.c wraps them,
 * after registering the applications of src/apps). The built-ins above
 * are registered on the first call of any of these. Thread-safe. */
int eau2_registry_register(const struct eau2_rower_class *cls,
			   struct eau2_error *err);
const struct eau2_rower_class *eau2_registry_find(const char *name);
void eau2_registry_foreach(void (*fn)(void *ctx, const struct eau2_rower_class *c),
			   void *ctx);
int eau2_registry_plugin_load(const char *path, struct eau2_error *err);
/* Registers a class of the library that sits above src/rowers (the seed
 * applications) as a built-in: never removed, its name known to be free. */
void eau2_registry_add_builtin(const struct eau2_rower_class *cls);

/* ------------------------------------------------------------- hashing */

/* 64-bit hash of len bytes (XXH3). */
uint64_t eau2_hash_bytes(const void *p, size_t len);

/* Finaliser-quality mix of one 64-bit value (murmur3 fmix64). */
static inline uint64_t eau2_hash_u64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* --------------------------------------------------------------- arena */

/* Bump allocator over a list of blocks; everything is freed at once by
 * eau2_arena_free. Pointers stay valid until then. */
struct eau2_arena_block;
struct eau2_arena {
	struct eau2_arena_block *head; /* current block, links to older ones */
	size_t used, cap;              /* bytes used / usable in head */
	size_t total;                  /* bytes allocated from the heap */
};

void eau2_arena_init(struct eau2_arena *a);
/* size bytes aligned to align (a power of two <= 64); NULL on ENOMEM. */
void *eau2_arena_alloc(struct eau2_arena *a, size_t size, size_t align);
/* A copy of len bytes (plus a NUL after them); NULL on ENOMEM. */
char *eau2_arena_memdup(struct eau2_arena *a, const void *p, size_t len);
void eau2_arena_free(struct eau2_arena *a);
/* Moves every block of src into dst (pointers into src stay valid, now
 * owned by dst); src is left empty. */
void eau2_arena_merge(struct eau2_arena *dst, struct eau2_arena *src);

/* ----------------------------------------------------------- hash table */

/* Interns byte strings: each distinct key gets the next dense id
 * (0, 1, 2, ... in insertion order), which callers use to index their own
 * value arrays. Key bytes are copied into one growable buffer; slots hold
 * (hash, offset, length, id + 1) so a probe compares hashes before bytes.
 * Load factor <= 1/2. Keys up to UINT32_MAX - 1 bytes, up to 2^31 keys. */
struct eau2_htab_slot {
	uint64_t hash;
	uint64_t off;   /* into keys */
	uint32_t len;
	uint32_t id1;   /* id + 1; 0 = empty slot */
};
struct eau2_htab_entry {
	uint64_t off;
	uint64_t hash;
	uint32_t len;
};
struct eau2_htab {
	struct eau2_htab_slot *slots;   /* mask + 1 slots */
	size_t mask;
	struct eau2_htab_entry *entries; /* by id */
	uint32_t n, entries_cap;
	char *keys;                      /* key bytes of every entry */
	size_t keys_len, keys_cap;
};

/* expect: keys expected (a sizing hint, 0 is fine). 0 or -ENOMEM. */
int eau2_htab_init(struct eau2_htab *h, size_t expect);
void eau2_htab_free(struct eau2_htab *h); /* zeroed htab allowed */
/* The id of key (hash = eau2_hash_bytes(key, len) or any hash the caller
 * uses consistently), inserting it when absent (*added set when not NULL).
 * Returns id >= 0, -ENOMEM, or -E2BIG (key or table too large). */
int64_t eau2_htab_intern(struct eau2_htab *h, const void *key, size_t len,
			 uint64_t hash, bool *added);
/* The id of key, or -ENOENT. */
int64_t eau2_htab_find(const struct eau2_htab *h, const void *key, size_t len,
		       uint64_t hash);
static inline uint32_t eau2_htab_size(const struct eau2_htab *h)
{
	return h->n;
}
/* Key bytes of id (< size); valid until the next intern. */
static inline const char *eau2_htab_key(const struct eau2_htab *h,
					uint32_t id, size_t *len)
{
	*len = h->entries[id].len;
	return h->keys + h->entries[id].off;
}
static inline uint64_t eau2_htab_hash(const struct eau2_htab *h, uint32_t id)
{
	return h->entries[id].hash;
}

/* ------------------------------------------------ encode / decode buffers */

/* Growable output buffer for encode; p is malloc'd (hand it to the caller
 * of encode as *buf). On -ENOMEM the buffer keeps what it had. */
struct eau2_buf {
	uint8_t *p;
	size_t len, cap;
};
int eau2_buf_put(struct eau2_buf *b, const void *p, size_t n);
static inline int eau2_buf_u64(struct eau2_buf *b, uint64_t v)
{
	return eau2_buf_put(b, &v, sizeof(v)); /* host order: little endian */
}
/* A length (u64) then the bytes. */
int eau2_buf_bytes(struct eau2_buf *b, const void *p, size_t n);

/* Bounds-checked reader for decode: every get fails with -EBADMSG (and
 * leaves *out untouched) when fewer bytes remain than asked for. */
struct eau2_rd {
	const uint8_t *p;
	size_t len, pos;
};
int eau2_rd_get(struct eau2_rd *r, void *out, size_t n);
static inline int eau2_rd_u64(struct eau2_rd *r, uint64_t *v)
{
	return eau2_rd_get(r, v, sizeof(*v));
}
/* A length (u64) then that many bytes: *p points into the buffer. */
int eau2_rd_bytes(struct eau2_rd *r, const char **p, size_t *n);

/* ---------------------------------------------- shuffle steps (shufstep.c) */

/* A kept state: buf[len] stored as name in db, a dataframe of one string
 * column of EAU2_SHUFFLE_PIECE-byte pieces; its bytes again (*buf
 * malloc'd; -EBADMSG for a dataframe of another shape). */
#define EAU2_SHUFFLE_PIECE (1u << 20)
int eau2_shuffle_blob_put(eau2 *db, const char *name, const void *buf, size_t len,
			  struct eau2_error *err);
int eau2_shuffle_blob_read(const eau2_df *df, void **buf, size_t *len,
			   struct eau2_error *err);
/* The steps; states of cls over an input of `schema` with no rows (flags
 * EAU2_RUN_CLUSTER). cut: the kept `state` decoded and split (cls->split)
 * at the nsplit keys of splits[slen], the ranges kept as ranges[0..nsplit].
 * reduce: names[0..n) each decoded into a state and joined in that order
 * (as the driver joins gathered states: the same answer), then finished:
 * *res in db. */
int eau2_shuffle_cut(eau2 *db, const struct eau2_rower_class *cls,
		     const struct eau2_args *args, const eau2_schema *schema,
		     const char *state, const void *splits, size_t slen, size_t nsplit,
		     const char *const *ranges, struct eau2_error *err);
int eau2_shuffle_reduce(eau2 *db, const struct eau2_rower_class *cls,
			const struct eau2_args *args, const eau2_schema *schema,
			const char *const *names, size_t n, eau2_df **res,
			struct eau2_error *err);

/* ------------------------------------------------------------- arguments */

/* Parses a comma-separated list of column names of schema ("a,b,c";
 * spaces around names are not allowed) into a malloc'd array of column
 * indexes. -ENOENT naming the column (and `what`, e.g. "sum: columns")
 * for an unknown name, -EINVAL for an empty list or empty name, -ENOMEM. */
int eau2_rowers_columns(const eau2_schema *schema, const char *list,
			const char *what, size_t **cols, size_t *n,
			struct eau2_error *err);

#endif
