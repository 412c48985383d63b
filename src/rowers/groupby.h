/* SPDX-License-Identifier: MIT */
/* groupby.h - the group-by rower's state, shared by its files:
 * groupby.c (the class: setup, chunks, finish), groupby_keys.c (key-to-id
 * maps), groupby_agg.c (aggregate records), groupby_wire.c (state
 * encode/decode), groupby_merge.c (join, parallel merge and its emit),
 * groupby_sort.c (key order). */
#ifndef EAU2_ROWERS_GROUPBY_H
#define EAU2_ROWERS_GROUPBY_H

#include <stdbool.h>
#include <stdint.h>

#include "rowers/rowers.h"
#define BATCH 4096u
#define PREFETCH 16u
#define SUB 256u
#define LAZY_GROUPS (1u << 16) /* joined hash states merge in finish */

enum fn { FN_COUNT, FN_SUM, FN_MEAN, FN_MIN, FN_MAX };
static const char *const fn_names[] __attribute__((unused)) = { "count", "sum", "mean", "min", "max" };

/* One word of a group record. */
union word {
	int64_t i;
	uint64_t u;
	double d;
};

/* Record words of an aggregate at `off` (word 0 of the record counts the
 * group's rows): [0] count, sum, mean: the rows whose value is null (the
 * values are the group's rows less these, so a chunk without nulls
 * touches no count); min, max: the values seen; then int sum/min/max:
 * [1]; int mean: [1..2] exact sum [1] + [2] * 2^64 (both signed); double
 * sum/mean: [1] sum, [2] Neumaier compensation; double min/max: [1]. */
struct agg {
	enum fn fn;
	size_t col;
	enum eau2_type type;     /* of the input column */
	uint32_t off;
};

struct slot {
	int64_t key;
	uint32_t id1;            /* id + 1; 0 = empty */
};

/* Dictionary mode (see "dictionary mode" below): a key column's slots,
 * values, and the maps of cid pairs. */
struct cslot {
	uint64_t a;              /* int/bool value, first string word, or hash */
	uint64_t b;              /* second string word (0 for others) */
	uint32_t len;            /* string length (0 for int/bool) */
	uint32_t id1;            /* cid + 1; 0 = empty */
};
/* A string of a batch, read before its probe (see column_cids). */
struct cprobe {
	uint64_t a, b;           /* words of a string of <= 16 bytes */
	uint64_t h;              /* slot hash: word_pos, or XXH3 of longer */
	uint32_t len;
	uint32_t null;
};
struct cval {
	uint64_t a;              /* int/bool value, or offset into arena */
	uint32_t len;
	uint32_t isnull;
};
struct cdict {
	enum eau2_type type;
	struct cslot *slots;
	size_t mask;
	size_t slots_mapped;     /* bytes when slots were mmap'd, else 0 */
	struct cval *vals;       /* by cid */
	uint32_t n, vcap;
	int64_t null_id;         /* cid of null, -1 until one is seen */
	char *arena;             /* string bytes of every value */
	size_t alen, acap;
};
struct uslot {
	uint64_t key;
	uint32_t id1;            /* id + 1; 0 = empty */
	uint32_t unused;
};
struct umap {
	struct uslot *slots;
	size_t mask;
	uint32_t n;
};

struct gb {
	const eau2_schema *in;   /* the input's, valid for the run */
	size_t nkeys;
	size_t *keys;
	enum eau2_type *ktypes;
	bool want_count;
	struct agg *aggs;
	size_t naggs;

	uint32_t ngroups, cap;
	uint32_t stride;         /* words per group record; word 0: rows */
	union word *rec;         /* cap records */
	uint32_t *gid;           /* BATCH group ids of the current batch */

	/* single int/bool key */
	bool intkey;
	/* direct mode: group id = key - dmin for keys in [dmin, dmin + drange),
	 * drange = the null key; ngroups = cap = drange + 1 and a group exists
	 * when its row count is not 0. No slots, no gkey. */
	bool direct;
	int64_t dmin;
	uint32_t drange;
	size_t rec_mapped;       /* bytes when rec was mmap'd, else 0 */
	size_t slots_mapped;     /* bytes when slots were mmap'd, else 0 */
	struct slot *slots;
	size_t smask;
	int64_t *gkey;           /* key by group id */
	int64_t null_id;         /* group of the null key, -1 when none */

	/* any other key: dictionary mode */
	struct cdict *dict;      /* nkeys */
	struct umap *pairs;      /* nkeys - 1 */
	uint32_t *cid;           /* nkeys * BATCH cids of the current batch */
	struct cprobe *probe;    /* BATCH strings of the current batch */
	uint32_t *gcid;          /* nkeys cids per group */

	/* int hash and dictionary modes, many groups: states joined into
	 * this one but not yet merged (moved here by join; merged in parallel
	 * by finish, see groupby_merge.c). */
	struct gb **pend;
	size_t npend;
	unsigned threads;        /* of the run, for finish's merge */
};

struct ikey {
	int64_t k;
	uint32_t id;
};

/* Sorts n keys by value (LSD radix); tmp holds n more. */
void eau2_gb_radix_ikeys(struct ikey *a, struct ikey *tmp, size_t n);
/* Group ids of dictionary mode in key order. */
int eau2_gb_dict_order(const struct gb *s, uint32_t *order);
/* Order of value a of dictionary da and b of db (same key column of two
 * states): nulls last, strings by bytes then length. */
int eau2_gb_cval_cmp(const struct cdict *da, const struct cval *a,
		     const struct cdict *db, const struct cval *b);
/* Words of order w[0..3) of value v of d, so that most comparisons touch
 * no dictionary: w[0..2) agree with eau2_gb_cval_cmp (w(a) < w(b)
 * implies a < b): a string's first 16 bytes (zero-padded) as two
 * big-endian words, an int with its sign bit flipped (w[1] = 0), all
 * ones for null; w[2] = length << 1 | complete, where complete means that
 * w is the whole value (a string of at most 16 bytes, an int, or null,
 * whose length is then 2^32, after every string): two complete values
 * are in the order of their w[0], w[1], w[2]. */
void eau2_gb_cval_prefix(const struct cdict *d, const struct cval *v,
			 uint64_t w[3]);
/* Appends the key columns (0..nkeys) of group id of s to b (groupby.c). */
int eau2_gb_emit_keys(const struct gb *s, eau2_builder *b, uint32_t id,
		      struct eau2_error *err);

/* ------------------------------------------------ groupby_keys.c */

/* Zeroed, pre-faulted, huge-page memory for a large table (munmap it). */
void *eau2_gb_big_zalloc(size_t bytes);
/* The key maps of a state set up by groupby.c (keys, ktypes, intkey,
 * direct chosen): hash slots or dictionaries. 0 or -ENOMEM. */
int eau2_gb_keys_init(struct gb *s);
void eau2_gb_keys_free(struct gb *s);
/* Group ids of rows from..from+n of g into s->gid, groups created when
 * new. 0, or -ENOMEM / -E2BIG (more than 2^31 groups). */
int eau2_gb_ids(struct gb *s, const struct eau2_group *g, uint32_t from,
		uint32_t n);
/* Group id of an int/bool key (either int mode), created when absent. */
int64_t eau2_gb_key_group(struct gb *s, int64_t k, bool isnull);
/* Dictionary mode: cid of any value (null, int/bool i, or string p[len])
 * in d; group of a tuple of cids c[k * cstride], created when absent. */
int64_t eau2_gb_cdict_any(struct cdict *d, bool isnull, int64_t i,
			  const char *p, size_t len);
int64_t eau2_gb_cids_group(struct gb *s, const uint32_t *c, size_t cstride);

static inline size_t eau2_gb_slot_of(int64_t k, size_t mask)
{
	return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* Int modes: does group j exist (direct mode); the null group; its key. */
static inline bool eau2_gb_present(const struct gb *s, uint32_t j)
{
	return !s->direct || s->rec[(size_t)j * s->stride].i != 0;
}

static inline bool eau2_gb_null_group(const struct gb *s, uint32_t j)
{
	return s->direct ? j == s->drange : (int64_t)j == s->null_id;
}

static inline int64_t eau2_gb_group_key(const struct gb *s, uint32_t j)
{
	return s->direct ? (int64_t)((uint64_t)s->dmin + j) : s->gkey[j];
}

/* ------------------------------------------------- groupby_agg.c */

/* Parses agg=... into s->aggs / want_count (columns of schema). */
int eau2_gb_parse_aggs(struct gb *s, const eau2_schema *schema,
		       const char *spec, struct eau2_error *err);
/* Feeds rows from..from+n of g, whose group ids are in s->gid, to their
 * groups' records: row count and every aggregate. */
int eau2_gb_feed(struct gb *s, const struct eau2_group *g, uint32_t from,
		 uint32_t n, struct eau2_error *err);
/* Adds record ro into record rs (both of states with s's spec); ro may
 * come from outside (decode): its counts are checked. */
int eau2_gb_merge_words(const struct gb *s, union word *rs,
			const union word *ro, struct eau2_error *err);
/* Appends the aggregate columns (from col on) of record rw to b. */
int eau2_gb_emit_aggs(const struct gb *s, eau2_builder *b, size_t col,
		      const union word *rw, struct eau2_error *err);

/* Adds record ro (of a state with the same spec) into group id of s. */
static inline int eau2_gb_merge_record(struct gb *s, int64_t id,
				       const union word *ro,
				       struct eau2_error *err)
{
	return eau2_gb_merge_words(s, s->rec + (size_t)id * s->stride, ro, err);
}

/* ------------------------------------------------ groupby_wire.c */

int eau2_gb_encode(const void *state, void **buf, size_t *len,
		   struct eau2_error *err);
int eau2_gb_decode(void *state, const void *buf, size_t len,
		   struct eau2_error *err);
/* The class's sample and split (eau2.h): shuffle keys in finish's order. */
int eau2_gb_sample(const void *state, size_t n, void **buf, size_t *len,
		   struct eau2_error *err);
int eau2_gb_split(const void *state, const void *splits, size_t splits_len,
		  size_t nsplit, void **bufs, size_t *lens, struct eau2_error *err);

/* ----------------------------------------------- groupby_merge.c */

/* The class's join: o is merged into s, or (many groups) moved to
 * s->pend for finish's parallel merge. */
int eau2_gb_join(void *state, void *other_state, struct eau2_error *err);
/* Appends the groups of s and of its pending states, merged in
 * parallel, to b in key order. */
int eau2_gb_emit_merged(const struct gb *s, eau2_builder *b,
			struct eau2_error *err);

#endif
