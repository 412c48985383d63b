/* SPDX-License-Identifier: MIT */
/* groupby.h - the group-by rower's state, shared by its files
 * (groupby.c: keys, aggregates, class; groupby_sort.c: key order). */
#ifndef EAU2_ROWERS_GROUPBY_H
#define EAU2_ROWERS_GROUPBY_H

#include <stdbool.h>
#include <stdint.h>

#include "rowers/rowers.h"
#define BATCH 4096u
#define PREFETCH 16u
#define SUB 256u
#define LAZY_GROUPS (1u << 16) /* joined int hash states merge in finish */
#define PARTS 256u             /* key ranges of finish's parallel merge */

enum fn { FN_COUNT, FN_SUM, FN_MEAN, FN_MIN, FN_MAX };
static const char *const fn_names[] __attribute__((unused)) = { "count", "sum", "mean", "min", "max" };

/* One word of a group record. */
union word {
	int64_t i;
	uint64_t u;
	double d;
};

/* Record words of an aggregate at `off`: [0] non-null values, then
 * int sum/min/max: [1]; int mean: [1..2] exact 128-bit sum (lo, hi);
 * double sum/mean: [1] sum, [2] Neumaier compensation; double min/max: [1]. */
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
	uint64_t a;              /* int/bool value, short string word, or hash */
	uint32_t len;            /* string length (0 for int/bool) */
	uint32_t id1;            /* cid + 1; 0 = empty */
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
	uint32_t *gcid;          /* nkeys cids per group */

	/* int hash mode, many groups: states joined into this one but not yet
	 * merged (moved here by join; merged in parallel by finish). */
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

#endif
