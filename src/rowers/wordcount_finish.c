/* SPDX-License-Identifier: MIT */
/*
 * wordcount_finish.c - the end of a wordcount run: the threads' tables
 * merged, sorted by count descending then word bytewise, and written out.
 *
 * Large vocabularies made this the serial tail of a run (~660k words:
 * a join word by word into one table, then qsort through three levels
 * of pointers, ~40% of a 2-thread run's wall time). Now the words are
 * split by hash range into one range per thread: a table's home slots are
 * in hash order (slot = high bits of the hash), so a range is a slice of
 * every table's slots, plus the run of occupied slots just past it that
 * collisions pushed over the edge. Each thread adds the counts of its
 * range of the other tables into the first table's slots (words the first
 * table lacks go to a small table of the range's own), makes records (count, the word's first 16 bytes as two big-endian
 * numbers, a pointer, the length) and sorts them: by count (radix), then
 * each run of one count by merge sort with an inline compare that reads
 * the word's bytes only on a tie of all three (sorted neighbours share
 * prefixes: an 8-byte head tied often). The caller then merges the
 * sorted ranges (a heap of one head per range) into the builder.
 *
 * Threads: the helpers read the tables given (their slots and
 * keys); each writes only its own struct range and the count field of
 * the first table's slots of its range's words (see add_first). The caller joins them all
 * before it reads any range. The order is a total order on distinct
 * words, so the result is the same for any thread count.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "rowers/wordcount.h"

#define RANGES_MAX 64 /* ranges (threads) of one finish, at most */

struct rec {
	uint64_t count;
	uint64_t k0, k1; /* the first 16 bytes, big-endian, zero padded */
	const char *p;
	uint32_t len;
};

struct range {
	const struct wc_table *tables;
	size_t ntables;
	unsigned k, nranges;
	struct wc_table extra;  /* the range's words that tables[0] lacks */
	struct rec *recs, *tmp; /* sorted: the result is in recs */
	size_t n, cap;
	int rc;
};

/* A slot's w0 or w1 (bytes in memory order) as a number that compares
 * like the bytes. */
static uint64_t be(uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap64(w);
#else
	return w;
#endif
}

static inline int rec_before(const struct rec *a, const struct rec *b)
{
	/* the usual case without a branch on the data: counts or heads differ */
	if (__builtin_expect(((a->count ^ b->count) | (a->k0 ^ b->k0)) != 0, 1))
		return (a->count > b->count) | ((a->count == b->count) & (a->k0 < b->k0));
	if (a->k1 != b->k1)
		return a->k1 < b->k1;
	/* equal heads: a word of 16 bytes or more, or zero bytes in one */
	int c = memcmp(a->p, b->p, a->len < b->len ? a->len : b->len);
	return c ? c < 0 : a->len < b->len;
}

/* Stable bottom-up merge sort of a[0..n) with tmp (n records); returns
 * the array that holds the result (a or tmp). Runs of 16 are insertion
 * sorted first. */
static struct rec *rec_sort(struct rec *a, struct rec *tmp, size_t n)
{
	for (size_t lo = 0; lo < n; lo += 16) {
		size_t hi = lo + 16 < n ? lo + 16 : n;
		for (size_t i = lo + 1; i < hi; i++) {
			struct rec x = a[i];
			size_t j = i;
			for (; j > lo && rec_before(&x, &a[j - 1]); j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
	}
	for (size_t w = 16; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, o = lo;
			while (i < mid && j < hi) { /* no branch on the order */
				size_t t = (size_t)rec_before(&a[j], &a[i]);
				tmp[o++] = a[t ? j : i];
				j += t;
				i += t ^ 1;
			}
			while (i < mid)
				tmp[o++] = a[i++];
			while (j < hi)
				tmp[o++] = a[j++];
		}
		struct rec *t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

/* The key of a record that radix_sort sorts by: its count descending,
 * or its first 8 bytes. */
static inline uint64_t rec_key(const struct rec *r, bool by_count)
{
	return by_count ? ~r->count : r->k0;
}

/* Stable LSD radix sort of a[0..n) (tmp holds n more) by bytes lo..7 of
 * rec_key, 8 bits a pass over the bytes where keys differ; returns the
 * array that holds the result (a or tmp). */
static struct rec *radix_sort(struct rec *a, struct rec *tmp, size_t n, bool by_count,
			      unsigned lo)
{
	size_t cnt[8][256];
	uint64_t differ = 0, k0 = n ? rec_key(a, by_count) : 0;

	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i < n; i++) {
		uint64_t k = rec_key(&a[i], by_count);
		for (unsigned d = lo; d < 8; d++)
			cnt[d][(k >> (8 * d)) & 255]++;
		differ |= k ^ k0;
	}
	for (unsigned d = lo; d < 8; d++) {
		if (!((differ >> (8 * d)) & 255))
			continue; /* every key has this byte */
		size_t sum = 0;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = cnt[d][b];
			cnt[d][b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[cnt[d][(rec_key(&a[i], by_count) >> (8 * d)) & 255]++] = a[i];
		struct rec *t = a;
		a = tmp;
		tmp = t;
	}
	return a;
}

/* Sorts a[0..n) in result order in place (tmp holds n more), records
 * whose keys (rec_key) agree from byte lo on having been sorted on them:
 * runs of equal such bytes by rec_sort, or, a run of at least 64, by
 * radix on the first 3 bytes of its words first. */
static void sort_runs(struct rec *a, struct rec *tmp, size_t n, bool by_count, unsigned lo)
{
	for (size_t i = 0, j; i < n; i = j) {
		uint64_t k = rec_key(&a[i], by_count) >> (8 * lo);
		for (j = i + 1; j < n && rec_key(&a[j], by_count) >> (8 * lo) == k; j++)
			;
		if (j - i >= 64 && by_count) {
			if (radix_sort(a + i, tmp + i, j - i, false, 5) != a + i)
				memcpy(a + i, tmp + i, (j - i) * sizeof(*a));
			sort_runs(a + i, tmp + i, j - i, false, 5);
		} else if (j - i > 1 && rec_sort(a + i, tmp + i, j - i) != a + i) {
			memcpy(a + i, tmp + i, (j - i) * sizeof(*a));
		}
	}
}

/* Sorts a[0..n) (tmp holds n more) in result order and returns the
 * array that holds it (a or tmp): a radix sort by count descending (~3
 * passes for a large vocabulary's counts), then each run of one count by
 * word: a run of 64 or more (Zipf: most words share a small count with
 * many others) by radix on its words' first 3 bytes, then runs of those
 * by merge sort (rec_sort). A large vocabulary's records are ~13 MB a
 * range: each pass of a merge sort of them all went through memory,
 * ~15 passes. The sort of a range of 332k words (1 GB of Zipf text over
 * 663k words, 2 threads; the same records sorted both ways in one
 * process): merge sort 0.041 s, by count then merge sort 0.031 s, runs
 * of one count by radix first 0.019 s (on a quiet host). */
static struct rec *rec_sort_result(struct rec *a, struct rec *tmp, size_t n)
{
	struct rec *s = radix_sort(a, tmp, n, true, 0);

	sort_runs(s, s == a ? tmp : a, n, true, 0);
	return s;
}

/* The range of hash h among n ranges: by its top 16 bits, so ranges are
 * contiguous in hash order. */
static unsigned range_of(uint64_t h, unsigned n)
{
	return (unsigned)(((h >> 48) * n) >> 16);
}

/* The first hash of range k (k == n: 2^64, returned as 0 with *end). */
static uint64_t range_lo(unsigned k, unsigned n)
{
	return (uint64_t)(((uint64_t)k * 65536 + n - 1) / n) << 48;
}

/* Calls fn(arg, t, slot, hash) for every word of t in range r->k. */
static int range_walk(const struct range *r, const struct wc_table *t,
		      int (*fn)(void *, const struct wc_table *, const struct wc_slot *,
				uint64_t),
		      void *arg)
{
	unsigned shift = t->shift;
	if (!t->slots || !t->n)
		return 0;
	size_t j0 = (size_t)(range_lo(r->k, r->nranges) >> shift), j = j0;
	size_t end = r->k + 1 == r->nranges ? t->mask + 1
		     : (size_t)(range_lo(r->k + 1, r->nranges) >> shift);
	int rc;

	/* home slots [j0, end], then the occupied run past end (wrapping,
	 * never back into [j0, end): one range covers the whole table) */
	for (; j < end; j++) {
		const struct wc_slot *s = &t->slots[j];
		uint64_t h;
		if (s->len && range_of(h = eau2_wc_slot_hash(t, s), r->nranges) == r->k &&
		    (rc = fn(arg, t, s, h)))
			return rc;
	}
	for (size_t i = 0; i < t->mask + 1 - (end - j0); i++) {
		const struct wc_slot *s = &t->slots[(end + i) & t->mask];
		uint64_t h;
		if (!s->len)
			break;
		if (range_of(h = eau2_wc_slot_hash(t, s), r->nranges) == r->k &&
		    (rc = fn(arg, t, s, h)))
			return rc;
	}
	return 0;
}

static int add_rec(void *arg, const struct wc_table *t, const struct wc_slot *s,
		   uint64_t h)
{
	struct range *r = arg;

	(void)h;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		struct rec *n = realloc(r->recs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		r->recs = n;
		r->cap = cap;
	}
	r->recs[r->n++] = (struct rec){ .count = s->count, .k0 = be(s->w0),
					.k1 = be(s->w1), .p = eau2_wc_bytes(t, s),
					.len = s->len };
	return 0;
}

/* Adds the count of word s (of table t, hash h) to the first table's
 * slot of that word. Only this range's thread writes the counts of its
 * words there; the other threads read other fields of those slots (and
 * other slots' counts), so this is free of races. A word the first table
 * lacks goes to the range's own table, keyed by a remix of the hash (the
 * range's hashes share their top bits: as slot numbers they would crowd
 * one part of its slots). Tables are walked in hash order, so the probes
 * of the first table move forward through it, not at random. */
static int add_first(void *arg, const struct wc_table *t, const struct wc_slot *s,
		     uint64_t h)
{
	struct range *r = arg;
	const struct wc_table *f = &r->tables[0];
	const char *p = eau2_wc_bytes(t, s);

	for (size_t j = (size_t)(h >> f->shift);; j = (j + 1) & f->mask) {
		struct wc_slot *x = &f->slots[j];
		if (!x->len)
			break;
		if (((x->w0 ^ s->w0) | (x->w1 ^ s->w1) | (x->len ^ s->len)) == 0 &&
		    (s->len <= 16 ||
		     memcmp(eau2_wc_bytes(f, x) + 16, p + 16, s->len - 16) == 0)) {
			x->count += s->count;
			return 0;
		}
	}
	return eau2_wc_add(&r->extra, p, s->len, s->w0, s->w1, eau2_hash_u64(h),
			   s->count);
}

static void *range_main(void *arg)
{
	struct range *r = arg;
	size_t most = 0;
	int rc = 0;

	/* room for the range's share of the largest table, and some: grown
	 * by doubling from 4096, a large vocabulary's records were copied
	 * and faulted in ~7 times (a range of 332k: 0.03-0.08 -> 0.01-0.03 s
	 * to make them, busy host); if short, add_rec grows them */
	for (size_t i = 0; i < r->ntables; i++)
		most = r->tables[i].n > most ? r->tables[i].n : most;
	r->cap = most / r->nranges + most / r->nranges / 8 + 4096;
	r->recs = malloc(r->cap * sizeof(*r->recs));
	if (!r->recs)
		r->cap = 0;
	if (r->ntables > 1 && r->tables[0].slots) {
		rc = eau2_wc_table_init(&r->extra, 8);
		r->extra.remix = true;
		for (size_t i = 1; rc == 0 && i < r->ntables; i++)
			rc = range_walk(r, &r->tables[i], add_first, r);
	}
	if (rc == 0)
		rc = range_walk(r, r->tables, add_rec, r);
	/* every word of the range's own table is in the range */
	for (size_t j = 0; rc == 0 && r->extra.n && j <= r->extra.mask; j++)
		if (r->extra.slots[j].len)
			rc = add_rec(r, &r->extra, &r->extra.slots[j], 0);
	if (rc == 0) {
		r->tmp = malloc((r->n ? r->n : 1) * sizeof(*r->tmp));
		rc = r->tmp ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		struct rec *sorted = rec_sort_result(r->recs, r->tmp, r->n);
		r->tmp = sorted == r->recs ? r->tmp : r->recs;
		r->recs = sorted;
	}
	r->rc = rc;
	return NULL;
}

/* One part of the result: the records [lo[k], hi[k]) of every range k,
 * which come in the result after those of the parts before it and before
 * those of the parts after it. */
struct part {
	const struct range *r;
	unsigned n;
	size_t lo[RANGES_MAX], hi[RANGES_MAX];
	eau2_builder *b;
	struct eau2_error err;
	int rc;
};

/* Min-heap of range indices by their head record. */
struct heap {
	unsigned idx[RANGES_MAX], n;
	const struct range *r;
	size_t *pos;
};

static int heap_less(const struct heap *hp, unsigned a, unsigned b)
{
	return rec_before(&hp->r[a].recs[hp->pos[a]], &hp->r[b].recs[hp->pos[b]]);
}

static void heap_down(struct heap *hp, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, m = i;
		if (l < hp->n && heap_less(hp, hp->idx[l], hp->idx[m]))
			m = l;
		if (l + 1 < hp->n && heap_less(hp, hp->idx[l + 1], hp->idx[m]))
			m = l + 1;
		if (m == i)
			return;
		unsigned t = hp->idx[i];
		hp->idx[i] = hp->idx[m];
		hp->idx[m] = t;
		i = m;
	}
}

/* Appends the part's records in order (a heap of one head per range). */
static void *part_main(void *arg)
{
	struct part *pt = arg;
	size_t pos[RANGES_MAX], *hi = pt->hi;
	struct heap hp = { .n = 0, .r = pt->r, .pos = pos };
	int rc = 0;

	for (unsigned k = 0; k < pt->n; k++) {
		pos[k] = pt->lo[k];
		if (pos[k] < hi[k])
			hp.idx[hp.n++] = k;
	}
	for (unsigned i = hp.n; i-- > 0;)
		heap_down(&hp, i);
	while (rc == 0 && hp.n) {
		unsigned k = hp.idx[0];
		const struct rec *x = &pt->r[k].recs[pos[k]];
		const char *p = x->p;
		uint64_t head[2];
		if (x->len <= 16) { /* the bytes from the record: p is a cache miss */
			head[0] = be(x->k0);
			head[1] = be(x->k1);
			p = (const char *)head;
		}
		rc = eau2_builder_append_string(pt->b, 0, p, x->len, &pt->err);
		if (rc == 0)
			rc = eau2_builder_append_int(pt->b, 1, (int64_t)x->count, &pt->err);
		if (++pos[k] == hi[k])
			hp.idx[0] = hp.idx[--hp.n];
		heap_down(&hp, 0);
	}
	pt->rc = rc;
	return NULL;
}

/* The records of the ranges before global position g of the result:
 * cut[k] of range k, their sum g. A guess from the range with the most
 * records (its record at the same fraction, sought in every range), then
 * one record at a time to g: the smallest next, or the largest last. */
static void cut_at(const struct range *r, unsigned n, size_t total, size_t g,
		   size_t *cut)
{
	unsigned big = 0;
	size_t sum = 0;

	for (unsigned k = 1; k < n; k++)
		if (r[k].n > r[big].n)
			big = k;
	const struct rec *x = &r[big].recs[(size_t)((double)g / (double)total *
						   (double)r[big].n) % r[big].n];
	for (unsigned k = 0; k < n; k++) {
		size_t lo = 0, hi = r[k].n; /* first record not before x */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (rec_before(&r[k].recs[mid], x))
				lo = mid + 1;
			else
				hi = mid;
		}
		cut[k] = lo;
		sum += lo;
	}
	while (sum < g) {
		unsigned m = n;
		for (unsigned k = 0; k < n; k++)
			if (cut[k] < r[k].n &&
			    (m == n || rec_before(&r[k].recs[cut[k]], &r[m].recs[cut[m]])))
				m = k;
		cut[m]++;
		sum++;
	}
	while (sum > g) {
		unsigned m = n;
		for (unsigned k = 0; k < n; k++)
			if (cut[k] > 0 &&
			    (m == n || rec_before(&r[m].recs[cut[m] - 1], &r[k].recs[cut[k] - 1])))
				m = k;
		cut[m]--;
		sum--;
	}
}

/* Writes the sorted ranges' records, merged, as the result. Its parts
 * start at multiples of EAU2_CHUNK_ROWS (so its row groups are those of
 * a serial write, for any thread count) and are written on up to n
 * threads into parts of the builder, joined in order. */
static int write_result(struct range *r, unsigned n, eau2 *db, eau2_df **result,
			struct eau2_error *err)
{
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	struct part *pt = NULL;
	pthread_t tids[RANGES_MAX];
	size_t total = 0, groups;
	unsigned np, started = 0;
	int rc;

	for (unsigned k = 0; k < n; k++)
		total += r[k].n;
	groups = (total + EAU2_CHUNK_ROWS - 1) / EAU2_CHUNK_ROWS;
	np = groups < n ? (unsigned)(groups ? groups : 1) : n;
	rc = eau2_schema_parse("word:string,count:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(db, schema, &b, err);
	if (rc == 0 && !(pt = calloc(np, sizeof(*pt))))
		rc = eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	for (unsigned i = 0; rc == 0 && i < np; i++) {
		pt[i].r = r;
		pt[i].n = n;
		/* part i starts at group groups * i / np */
		if (i == 0)
			memset(pt[i].lo, 0, sizeof(pt[i].lo));
		else
			cut_at(r, n, total, groups * i / np * EAU2_CHUNK_ROWS, pt[i].lo);
		if (i > 0)
			memcpy(pt[i - 1].hi, pt[i].lo, sizeof(pt[i].lo));
		if (i + 1 == np)
			for (unsigned k = 0; k < n; k++)
				pt[i].hi[k] = r[k].n;
		pt[i].b = b;
		if (i > 0 && (rc = eau2_builder_fork(b, &pt[i].b, err)) < 0)
			pt[i].b = NULL;
	}
	for (unsigned i = 1; rc == 0 && i < np; i++) {
		if (pthread_create(&tids[i], NULL, part_main, &pt[i]) != 0)
			break;
		started = i;
	}
	if (rc == 0) {
		part_main(&pt[0]);
		for (unsigned i = 1; i <= started; i++)
			pthread_join(tids[i], NULL);
		for (unsigned i = started + 1; i < np; i++) /* not started */
			part_main(&pt[i]);
		for (unsigned i = 0; rc == 0 && i < np; i++)
			if ((rc = pt[i].rc) < 0 && err)
				*err = pt[i].err;
	}
	for (unsigned i = 1; pt && i < np; i++) {
		if (rc == 0)
			rc = eau2_builder_join(b, pt[i].b, err);
		else
			eau2_builder_abort(pt[i].b);
		pt[i].b = NULL;
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(pt);
	return rc;
}

int eau2_wc_finish(const struct wc_table *tables, size_t ntables, unsigned threads,
		   eau2 *db, eau2_df **result, struct eau2_error *err)
{
	size_t total = 0;
	unsigned n, started = 0;
	struct range *r;
	pthread_t tids[RANGES_MAX];
	int rc = 0;

	for (size_t i = 0; i < ntables; i++)
		total += tables[i].n;
	/* a range per thread, none under ~16k words (threads cost ~50 us) */
	n = threads ? threads : 1;
	n = n > RANGES_MAX ? RANGES_MAX : n;
	while (n > 1 && total / n < 16384)
		n--;
	r = calloc(n, sizeof(*r));
	if (!r)
		return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	for (unsigned k = 0; k < n; k++)
		r[k] = (struct range){ .tables = tables, .ntables = ntables, .k = k,
				       .nranges = n };
	for (unsigned k = 1; k < n; k++) {
		if (pthread_create(&tids[k], NULL, range_main, &r[k]) != 0)
			break;
		started = k;
	}
	range_main(&r[0]);
	for (unsigned k = 1; k <= started; k++)
		pthread_join(tids[k], NULL);
	for (unsigned k = started + 1; k < n; k++) /* threads that did not start */
		range_main(&r[k]);
	for (unsigned k = 0; k < n && rc == 0; k++)
		rc = r[k].rc;
	if (rc < 0)
		rc = eau2_error_set(err, rc, "wordcount: %s",
				    rc == -E2BIG ? "too many words" : "out of memory");
	else
		rc = write_result(r, n, db, result, err);
	for (unsigned k = 0; k < n; k++) {
		eau2_wc_table_free(&r[k].extra);
		free(r[k].recs);
		free(r[k].tmp);
	}
	free(r);
	return rc;
}
