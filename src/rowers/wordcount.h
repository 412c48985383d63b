/* SPDX-License-Identifier: MIT */
/*
 * wordcount.h - internal to the wordcount rower: its word table (one
 * mechanism, in wordcount_table.c, with the lookup inline here because
 * the scan calls it per word) and the finish (wordcount_finish.c: the
 * parallel merge of the threads' tables, the sort and the result).
 *
 * A table belongs to one thread at a time: a state's own table to the
 * worker that owns the state; after the executor's joins, every table to
 * the finishing thread, which hands disjoint hash ranges of them to its
 * helper threads (read only) for the merge.
 */
#ifndef EAU2_ROWERS_WORDCOUNT_H
#define EAU2_ROWERS_WORDCOUNT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "rowers/rowers.h"

/* A slot is 32 bytes, half a cache line: the word's first 16 bytes zero
 * padded, its count and length, so a word of up to 16 bytes is found,
 * counted and even read back (its bytes are the slot's w0, w1) touching
 * one cache line, with integer compares and no memcmp. A longer word's
 * bytes are in the table's keys, which the slot locates directly: a hit
 * on it touches one more line (no index to follow first). */
struct wc_slot {
	uint64_t w0, w1;  /* first 16 bytes of the word, zero padded */
	uint64_t count;
	uint32_t len;     /* 0 = empty (words are not empty) */
	uint32_t key;     /* len > 16: its record in keys (in 8-byte units) */
};

/* Open addressing with linear probing; a word's home slot is the high
 * bits of its hash (hash >> shift), so slots are in hash order apart from
 * runs displaced by collisions (the finish splits tables by hash range).
 * keys holds only the words longer than 16 bytes, a record each: their
 * hash, then their bytes zero padded to 8. A short word's hash is
 * recomputed from its slot when needed (growth, the finish): a remix
 * table (the finish's own) places short words by eau2_hash_u64 of it;
 * a long word's is the one given at insertion. */
struct wc_table {
	struct wc_slot *slots;
	size_t mask;        /* slots - 1 */
	unsigned shift;     /* 64 - log2(slots) */
	bool remix;
	uint32_t n;         /* words */
	uint64_t *keys;
	size_t keys_len, keys_cap; /* in 8-byte units */
};

/* An empty table of 2^bits slots: 0 or -ENOMEM. */
int eau2_wc_table_init(struct wc_table *t, unsigned bits);
/* Frees what t holds (a zeroed table is fine) and zeroes it. */
void eau2_wc_table_free(struct wc_table *t);
/* Inserts word p[0..len) with count into the empty slot j (see
 * eau2_wc_add); grows the table past a load of 3/4. 0, -ENOMEM or -E2BIG
 * (2^30 words, or 32 GiB of long words' records). */
int eau2_wc_insert(struct wc_table *t, size_t j, const char *p, uint32_t len,
		   uint64_t w0, uint64_t w1, uint64_t hash, uint64_t count);

/* Words of up to 16 bytes are hashed from their two zero-padded 8-byte
 * halves with two multiplies; slots are picked by the high bits of the
 * hash (multiplicative hashing: every input bit reaches them). Longer
 * words are hashed with XXH3. */
static inline uint64_t eau2_wc_hash16(uint64_t w0, uint64_t w1, uint64_t len)
{
	return (w0 ^ ((w1 + len) * 0xc4ceb9fe1a85ec53ULL)) * 0x9e3779b97f4a7c15ULL;
}

static inline uint64_t eau2_wc_hash(const char *p, uint32_t len, uint64_t w0,
				    uint64_t w1)
{
	if (__builtin_expect(len > 16, 0))
		return eau2_hash_bytes(p, len);
	return eau2_wc_hash16(w0, w1, len);
}

/* The bytes of the word in slot s of t (s->len of them). */
static inline const char *eau2_wc_bytes(const struct wc_table *t,
					const struct wc_slot *s)
{
	if (s->len <= 16)
		return (const char *)&s->w0; /* w0 then w1: the bytes in order */
	return (const char *)(t->keys + s->key + 1);
}

/* The hash that places the word of slot s in t. */
static inline uint64_t eau2_wc_slot_hash(const struct wc_table *t,
					 const struct wc_slot *s)
{
	if (s->len > 16)
		return t->keys[s->key];
	uint64_t h = eau2_wc_hash16(s->w0, s->w1, s->len);
	return t->remix ? eau2_hash_u64(h) : h;
}

/* 16 bytes kept, then 16 dropped: the masks of eau2_wc_head16. */
static const uint8_t eau2_wc_keep[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* The first min(len, 16) bytes of p (len > 0), zero padded, when 16
 * bytes at p are readable: two unaligned loads and two masks read from
 * eau2_wc_keep at 16 - min(len, 16), without a branch (words of up to 8
 * bytes and longer ones alternate at random: a branch on the length
 * would be mispredicted often, and compilers make one of arithmetic
 * masks). */
static inline void eau2_wc_head16(const char *p, size_t len, uint64_t *w0,
				  uint64_t *w1)
{
	const uint8_t *k = eau2_wc_keep + 16 - (len < 16 ? len : 16);
	uint64_t a, b, m0, m1;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	memcpy(&m0, k, 8);
	memcpy(&m1, k + 8, 8);
	*w0 = a & m0;
	*w1 = b & m1;
}

/* The first min(len, 16) bytes of p (len > 0), zero padded; limit bounds
 * what may be read. */
static inline void eau2_wc_head(const char *p, uint32_t len, const char *limit,
				uint64_t *w0, uint64_t *w1)
{
	uint64_t a = 0, b = 0;

	if (__builtin_expect(limit - p >= 16, 1)) {
		eau2_wc_head16(p, len, w0, w1);
		return;
	}
	memcpy(&a, p, len < 8 ? len : 8);
	if (len > 8)
		memcpy(&b, p + 8, len < 16 ? len - 8 : 8);
	*w0 = a;
	*w1 = b;
}

/* Adds count to word p[0..len) (len > 0; w0, w1 its head, hash its
 * hash). A word of up to 16 bytes is matched on the slot alone (one cache
 * line); longer ones also compare the rest. */
static inline int eau2_wc_add(struct wc_table *t, const char *p, uint32_t len,
			      uint64_t w0, uint64_t w1, uint64_t hash,
			      uint64_t count)
{
	size_t j = (size_t)(hash >> t->shift);

	/* an empty slot (all zero) never matches: words are not empty */
	for (;;) {
		struct wc_slot *slot = &t->slots[j];
		if (((slot->w0 ^ w0) | (slot->w1 ^ w1) | (slot->len ^ len)) == 0 &&
		    (__builtin_expect(len <= 16, 1) ||
		     memcmp(eau2_wc_bytes(t, slot) + 16, p + 16, len - 16) == 0)) {
			slot->count += count;
			return 0;
		}
		if (!slot->len)
			return eau2_wc_insert(t, j, p, len, w0, w1, hash, count);
		j = (j + 1) & t->mask;
	}
}

/* The result of the tables (tables[0..ntables): words may repeat across
 * them, their counts add up): columns word and count, by count desc then
 * word bytewise, built on up to threads threads. */
int eau2_wc_finish(const struct wc_table *tables, size_t ntables, unsigned threads,
		   eau2 *db, eau2_df **result, struct eau2_error *err);

#endif
