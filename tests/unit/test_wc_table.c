/* SPDX-License-Identifier: MIT */
/*
 * test_wc_table.c - the wordcount rower's word table (src/rowers/
 * wordcount.h, wordcount_table.c) and its finish (wordcount_finish.c)
 * driven directly, with hashes chosen by the test where the rower would
 * compute them (a long word's hash is the one given at insertion):
 *   - long probe runs that wrap past the table's last slot, through many
 *     growths: every word found with its count, the linear-probing
 *     invariant holds (no empty slot between a word's home and its slot);
 *   - words that share their 16-byte head and length, and words that
 *     differ only by trailing zero bytes, kept apart;
 *   - the finish over tables whose runs cross the hash-range boundaries
 *     of its threads and wrap past the end: on 1 to 5 threads, every word
 *     once with the sum of its counts, in result order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "rowers/wordcount.h"

/* The slot of word p[0..len) in t, or NULL (a linear probe from its
 * home slot, given its hash). */
static const struct wc_slot *find(const struct wc_table *t, const char *p, uint32_t len,
				  uint64_t hash)
{
	uint64_t w0, w1;

	eau2_wc_head(p, len, p + len, &w0, &w1);
	for (size_t j = (size_t)(hash >> t->shift), i = 0; i <= t->mask;
	     i++, j = (j + 1) & t->mask) {
		const struct wc_slot *s = &t->slots[j];
		if (!s->len)
			return NULL;
		if (s->len == len && s->w0 == w0 && s->w1 == w1 &&
		    memcmp(eau2_wc_bytes(t, s), p, len) == 0)
			return s;
	}
	return NULL;
}

static int add(struct wc_table *t, const char *p, uint32_t len, uint64_t hash,
	       uint64_t count)
{
	uint64_t w0, w1;

	eau2_wc_head(p, len, p + len, &w0, &w1);
	return eau2_wc_add(t, p, len, w0, w1, hash, count);
}

static uint64_t real_hash(const char *p, uint32_t len)
{
	uint64_t w0, w1;

	eau2_wc_head(p, len, p + len, &w0, &w1);
	return eau2_wc_hash(p, len, w0, w1);
}

/* No empty slot between any word's home slot and its slot (cyclic), and
 * n words in all. */
static void check_invariant(const struct wc_table *t)
{
	uint32_t n = 0;

	for (size_t j = 0; j <= t->mask; j++) {
		const struct wc_slot *s = &t->slots[j];
		if (!s->len)
			continue;
		n++;
		size_t home = (size_t)(eau2_wc_slot_hash(t, s) >> t->shift);
		for (size_t i = home; i != j; i = (i + 1) & t->mask)
			if (!t->slots[i].len)
				fail_msg("slot %zu: home %zu, slot %zu between them empty", j, home, i);
	}
	assert_int_equal(n, t->n);
}

/* A long word in buf[64]: "long-word-" then i in hex, then pad bytes up
 * to len (< 64). */
static uint32_t long_word(char *buf, size_t i, uint32_t len)
{
	int k = snprintf(buf, 64, "long-word-%zx-", i);
	for (uint32_t m = (uint32_t)k; m < len; m++)
		buf[m] = (char)('a' + (i + m) % 26);
	return len > (uint32_t)k ? len : (uint32_t)k;
}

/* 3000 long words whose hashes all place them in the last slot or the
 * few before it: one run that wraps, from 16 slots grown to 4096. */
static void test_wrap(void **st)
{
	struct wc_table t;
	char buf[64];

	(void)st;
	assert_int_equal(eau2_wc_table_init(&t, 4), 0);
	for (size_t i = 0; i < 3000; i++) {
		uint32_t len = long_word(buf, i, 17 + (uint32_t)(i % 40));
		uint64_t h = ~(uint64_t)0 - (i % 3) * (UINT64_MAX / 4096); /* last 3 homes */
		assert_int_equal(add(&t, buf, len, h, i + 1), 0);
		if (i % 500 == 0)
			check_invariant(&t);
	}
	assert_int_equal(t.n, 3000);
	assert_int_equal(t.mask + 1, 4096);
	check_invariant(&t);
	/* each again: counts add, no new word */
	for (size_t i = 0; i < 3000; i++) {
		uint32_t len = long_word(buf, i, 17 + (uint32_t)(i % 40));
		uint64_t h = ~(uint64_t)0 - (i % 3) * (UINT64_MAX / 4096);
		assert_int_equal(add(&t, buf, len, h, 1), 0);
	}
	assert_int_equal(t.n, 3000);
	for (size_t i = 0; i < 3000; i++) {
		uint32_t len = long_word(buf, i, 17 + (uint32_t)(i % 40));
		uint64_t h = ~(uint64_t)0 - (i % 3) * (UINT64_MAX / 4096);
		const struct wc_slot *s = find(&t, buf, len, h);
		assert_non_null(s);
		assert_int_equal(s->count, i + 2);
		assert_int_equal(eau2_wc_slot_hash(&t, s), h);
	}
	eau2_wc_table_free(&t);
}

/* Words alike in their first 16 bytes: the same head and length with
 * other tails (long), one head at several lengths, and words that differ
 * only by trailing zero bytes (short and long), all kept apart; the same
 * on a remix table (the finish's own), grown several times. */
static void test_heads(void **st)
{
	char words[600][48];
	uint32_t lens[600];
	size_t nw = 0;

	(void)st;
	for (size_t i = 0; i < 200; i++, nw++) { /* 32 bytes, same 16-byte head */
		lens[nw] = 32;
		memcpy(words[nw], "0123456789abcdef", 16);
		snprintf(words[nw] + 16, 32, "%016zx", i * 7919);
	}
	for (uint32_t l = 1; l <= 40; l++, nw++) { /* one head, many lengths */
		lens[nw] = l;
		memset(words[nw], 'z', l);
	}
	for (uint32_t l = 1; l <= 40; l++, nw++) { /* "y" then zero bytes */
		lens[nw] = l;
		memset(words[nw], 0, l);
		words[nw][0] = 'y';
	}
	for (uint32_t l = 17; l <= 40; l++, nw++) { /* 16 x 'x', then zeros */
		lens[nw] = l;
		memset(words[nw], 0, l);
		memset(words[nw], 'x', 16);
	}
	for (int remix = 0; remix < 2; remix++) {
		struct wc_table t;
		assert_int_equal(eau2_wc_table_init(&t, 2), 0);
		t.remix = remix;
		for (int round = 0; round < 3; round++)
			for (size_t i = 0; i < nw; i++) {
				uint64_t h = real_hash(words[i], lens[i]);
				assert_int_equal(add(&t, words[i], lens[i],
						     remix ? eau2_hash_u64(h) : h, i + 1), 0);
			}
		assert_int_equal(t.n, nw);
		check_invariant(&t);
		for (size_t i = 0; i < nw; i++) {
			uint64_t h = real_hash(words[i], lens[i]);
			const struct wc_slot *s = find(&t, words[i], lens[i],
						       remix ? eau2_hash_u64(h) : h);
			assert_non_null(s);
			assert_int_equal(s->count, 3 * (i + 1));
			assert_int_equal(s->len, lens[i]);
			assert_memory_equal(eau2_wc_bytes(&t, s), words[i], lens[i]);
		}
		eau2_wc_table_free(&t);
	}
}

struct want {
	char w[64];
	uint32_t len;
	uint64_t hash, a, b, count; /* count = a + b */
};

static int want_cmp(const void *a_, const void *b_)
{
	const struct want *a = a_, *b = b_;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	int c = memcmp(a->w, b->w, a->len < b->len ? a->len : b->len);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* The finish of tables t[0..nt) on threads threads equals w[0..n) (in
 * result order). */
static void check_finish(eau2 *db, const struct wc_table *t, size_t nt, unsigned threads,
			 const struct want *w, size_t n)
{
	struct eau2_error err = {0};
	eau2_df *res = NULL;

	tu_ok(eau2_wc_finish(t, nt, threads, db, &res, &err), &err);
	assert_int_equal(eau2_df_rows(res), n);
	assert_int_equal(eau2_df_ngroups(res), (n + EAU2_CHUNK_ROWS - 1) / EAU2_CHUNK_ROWS);
	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		int64_t c;
		tu_ok(eau2_df_get_string(res, 0, i, &s, &len, &err), &err);
		tu_ok(eau2_df_get_int(res, 1, i, &c, &err), &err);
		if (len != w[i].len || memcmp(s, w[i].w, len) != 0 || (uint64_t)c != w[i].count)
			fail_msg("%u threads, row %zu: got '%.*s' x%lld, want '%.*s' x%llu",
				 threads, i, (int)len, s, (long long)c, (int)w[i].len, w[i].w,
				 (unsigned long long)w[i].count);
	}
	eau2_df_release(res);
}

/* 70,000 long words (enough for several hash ranges), hashed at random
 * but for clusters of 1,500 around each boundary of 2, 3, 4 and 5
 * ranges and at the top (runs wrap): in two tables, some in both. */
static void test_finish_ranges(void **st)
{
	static const unsigned threads[] = { 1, 2, 3, 4, 5 };
	size_t n = 70000;
	struct want *w = calloc(n, sizeof(*w));
	uint64_t rs = 5;
	struct wc_table t[2];
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)st;
	assert_non_null(w);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = tu_rand(&rs), h = tu_rand(&rs);
		if (i < 15000) { /* clusters: 10 boundaries */
			static const unsigned parts[] = { 2, 3, 4, 5 };
			size_t c = i / 1500;
			uint64_t at = ~(uint64_t)0; /* c = 9: the top */
			if (c < 9) { /* boundaries k/p, k in [1, p): 1 + 2 + 3 + 3 */
				unsigned p = parts[c < 1 ? 0 : c < 3 ? 1 : c < 6 ? 2 : 3];
				unsigned k = c < 1 ? 1 : c < 3 ? (unsigned)c : c < 6 ? (unsigned)c - 2 : (unsigned)c - 5;
				at = (uint64_t)(((uint64_t)k * 65536 + p - 1) / p) << 48;
			}
			h = at + (x % 64) - 32; /* around it (wraps at the top) */
		}
		w[i].len = long_word(w[i].w, i, 17 + (uint32_t)(x % 30));
		w[i].hash = h;
		w[i].a = x >> 40 & 3; /* counts in each table, 0 = absent */
		w[i].b = x >> 50 & 3;
		if (!w[i].a && !w[i].b)
			w[i].a = 1;
		w[i].count = w[i].a + w[i].b;
	}
	for (size_t k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
		/* the finish adds into the first table: new tables each time */
		assert_int_equal(eau2_wc_table_init(&t[0], 4), 0);
		assert_int_equal(eau2_wc_table_init(&t[1], 4), 0);
		for (size_t i = 0; i < n; i++) {
			if (w[i].a)
				assert_int_equal(add(&t[0], w[i].w, w[i].len, w[i].hash, w[i].a), 0);
			if (w[i].b)
				assert_int_equal(add(&t[1], w[i].w, w[i].len, w[i].hash, w[i].b), 0);
		}
		if (k == 0) {
			check_invariant(&t[0]);
			check_invariant(&t[1]);
			qsort(w, n, sizeof(*w), want_cmp);
		}
		check_finish(db, t, 2, threads[k], w, n);
		eau2_wc_table_free(&t[0]);
		eau2_wc_table_free(&t[1]);
	}
	free(w);
	tu_close_store(db, dir);
}

/* Counts that differ in any of their 8 bytes (the finish sorts by count
 * a byte at a time, skipping bytes every count shares) and runs of many
 * words of one count (sorted by their first 3 bytes the same way, then
 * by merge sort), short and long words alike in their heads: 40,000
 * words (two hash ranges) split over two tables, in result order on 1 to
 * 3 threads; then the same words all of one count, and of counts that
 * differ only in their top byte; then in one table or the other, never
 * both (a range holds more words than its share of either table). */
static void test_finish_counts(void **st)
{
	static const uint64_t edges[] = {
		255, 256, 257, 65535, 65536, 65537, 0xffffff, 0x1000000, 0xffffffff,
		0x100000000, 0x10000000001, 0xff0000000000, 0x100000000000000,
		0x3fffffffffffffff, 0x3f00000000000001,
	};
	size_t n = 40000;
	struct want *w = calloc(n, sizeof(*w));
	uint64_t rs = 17;
	struct wc_table t[2];
	char *dir;
	eau2 *db = tu_open_store(&dir);

	(void)st;
	assert_non_null(w);
	for (int kind = 0; kind < 4; kind++) {
		for (size_t i = 0; i < n; i++) {
			uint64_t x = tu_rand(&rs), y = tu_rand(&rs);
			/* two bytes of a, b, 0xe9, 0x01; the base-25 digits of i
			 * (a to y: at most 4); z up to 6 to 40 bytes: distinct
			 * words, many sharing heads, in runs of one count that
			 * differ in any of their first 3 bytes */
			uint32_t len = 6 + (uint32_t)(x % 35), m = 2;
			w[i].w[0] = "ab\xe9\x01"[(x >> 8) % 4];
			w[i].w[1] = "ab\xe9\x01"[(x >> 10) % 4];
			for (size_t v = i; v; v /= 25)
				w[i].w[m++] = (char)('a' + v % 25);
			for (; m < len; m++)
				w[i].w[m] = 'z';
			w[i].len = len;
			w[i].hash = real_hash(w[i].w, len);
			if (kind == 1)
				w[i].count = 7;
			else if (kind == 2)
				w[i].count = ((y % 3) << 62) | 5;
			else if (y % 4 < 2)
				w[i].count = 1 + y / 4 % 5; /* long runs of one count */
			else if (y % 4 == 2)
				w[i].count = edges[y / 4 % (sizeof(edges) / sizeof(edges[0]))];
			else
				w[i].count = 1 + (y >> 2) % 0x3fffffffffffffff;
			w[i].a = (x >> 32) % 3 == 0 ? w[i].count : (x >> 32) % 3 == 1 ? 0 : w[i].count / 2;
			if (kind == 3) /* no word in both: more words than either table */
				w[i].a = i % 2 ? w[i].count : 0;
			w[i].b = w[i].count - w[i].a;
		}
		qsort(w, n, sizeof(*w), want_cmp);
		for (unsigned threads = 1; threads <= 3; threads++) {
			assert_int_equal(eau2_wc_table_init(&t[0], 4), 0);
			assert_int_equal(eau2_wc_table_init(&t[1], 4), 0);
			for (size_t i = 0; i < n; i++) {
				if (w[i].a)
					assert_int_equal(add(&t[0], w[i].w, w[i].len, w[i].hash, w[i].a), 0);
				if (w[i].b)
					assert_int_equal(add(&t[1], w[i].w, w[i].len, w[i].hash, w[i].b), 0);
			}
			check_finish(db, t, 2, threads, w, n);
			eau2_wc_table_free(&t[0]);
			eau2_wc_table_free(&t[1]);
		}
	}
	free(w);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_heads),
		cmocka_unit_test(test_finish_ranges),
		cmocka_unit_test(test_finish_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
