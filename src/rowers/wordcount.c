/* SPDX-License-Identifier: MIT */
/*
 * wordcount.c - the "wordcount" rower: counts words in a string column
 * (column=NAME; default the first string column). A word is a maximal run
 * of bytes that are not ASCII whitespace (space, \t, \n, \v, \f, \r);
 * words are case-sensitive bytes and never span two rows; null rows hold
 * no words. Result: columns word (string) and count (int), sorted by count
 * descending then word bytewise, so it is the same for any thread count.
 *
 * Speed: each state owns an open-addressing table specialised for words.
 * A slot is 32 bytes, half a cache line (the word's first 16 bytes zero
 * padded, its count, length and id), so a word of up to 16 bytes is found
 * and counted touching one cache line, with integer compares and no
 * memcmp; longer words compare the rest against the state's key buffer.
 * Words of up to 16 bytes are hashed with two multiplies (slot = high
 * bits of the hash), longer ones with XXH3. The scan reads the chunk in
 * place (no copies, no per-word allocation): a chunk's valid rows are one
 * byte range, row starts acting as separators, and word boundaries come
 * from 64-byte whitespace masks (SSE2, or AVX2 when the CPU has it, picked
 * at init) flattened to positions (see wc_range_impl). Words are looked
 * up WC_BATCH at a time after prefetching their slots, so the misses of a
 * large vocabulary's table overlap; a table of 2 MiB or more gets huge
 * pages, and the text is prefetched ahead with a non-temporal hint so it
 * does not push the table out of the caches.
 * Measured (50k-word Zipf text, 1 thread, CPU time): ~1.5-1.7 s/GB, from
 * ~1.9-2.1 s/GB before these changes (same run, alternating).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rowers/rowers.h"

#define WC_MAGIC 0x31544e57u /* "WNT1" */

struct wc_slot {
	uint64_t w0, w1;  /* first 16 bytes of the word, zero padded */
	uint64_t count;
	uint32_t len;
	uint32_t id1;     /* id + 1; 0 = empty */
};

struct wc_word {
	uint64_t off;     /* into keys */
	uint64_t hash;
	uint64_t slot;    /* index of its slot */
	uint32_t len;
};

/* A word found by the scan, waiting for its table lookup. */
struct wc_pending {
	const char *p;
	uint64_t w0, w1, hash;
	uint32_t len;
};

#define WC_BATCH 64
#define WC_WIN 1024 /* bytes a scan window holds (a multiple of 64) */
/* one start or end per byte at most (rows of one byte), +8 for flatten */
#define WC_POS_CAP (WC_WIN + 16)
#define WC_AHEAD 1024 /* bytes of text prefetched ahead of the scan */

#if defined(__x86_64__) && defined(__GNUC__)
#define WC_X86_AVX2 1
#include <immintrin.h>
#else
#define WC_X86_AVX2 0
#endif

struct wc_state {
	size_t col;
	bool avx2;          /* the CPU has AVX2, POPCNT, BMI1 and BMI2 */
	uint32_t npend;
	struct wc_pending pend[WC_BATCH];
	struct wc_slot *slots;
	size_t mask;        /* slots - 1 */
	unsigned shift;     /* 64 - log2(slots): a word's slot is hash >> shift */
	struct wc_word *words;
	uint32_t n, cap;
	char *keys;
	size_t keys_len, keys_cap;
	uint64_t spos[WC_POS_CAP], epos[WC_POS_CAP]; /* a window's words */
};

static struct wc_slot *slots_new(size_t cap);
static void slots_free(struct wc_slot *s, size_t cap);

static const uint8_t is_space[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1,
};

static int wc_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	struct wc_state *s = state;
	const eau2_schema *schema = eau2_df_schema(ctx->input);
	const char *name = eau2_args_get(ctx->args, "column");
	size_t nc = eau2_schema_ncols(schema);
	int c = -1;

	if (name) {
		c = eau2_schema_find(schema, name);
		if (c < 0)
			return eau2_error_set(err, -ENOENT, "wordcount: no column '%s'", name);
		if (eau2_schema_type(schema, (size_t)c) != EAU2_STRING)
			return eau2_error_set(err, -EINVAL,
					      "wordcount: column '%s' is %s, want string",
					      name, eau2_type_name(eau2_schema_type(schema, (size_t)c)));
	} else {
		for (size_t i = 0; i < nc && c < 0; i++)
			if (eau2_schema_type(schema, i) == EAU2_STRING)
				c = (int)i;
		if (c < 0)
			return eau2_error_set(err, -EINVAL, "wordcount: no string column");
	}
	s->col = (size_t)c;
#if WC_X86_AVX2
	__builtin_cpu_init();
	s->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
		  __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
	if (getenv("EAU2_WC_NO_AVX2")) /* tests: the SSE2 scan */
		s->avx2 = false;
#endif
	s->mask = 4095;
	s->shift = 64 - 12;
	s->slots = slots_new(s->mask + 1);
	if (!s->slots)
		return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	return 0;
}

static void wc_destroy(void *state)
{
	struct wc_state *s = state;

	slots_free(s->slots, s->mask + 1);
	free(s->words);
	free(s->keys);
}

/* Words of up to 16 bytes are hashed from their two zero-padded 8-byte
 * halves with two multiplies; slots are picked by the high bits of the
 * hash (multiplicative hashing: every input bit reaches them). Longer
 * words are hashed with XXH3. */
static inline uint64_t word_hash(const char *p, uint32_t len, uint64_t w0,
				 uint64_t w1)
{
	if (__builtin_expect(len > 16, 0))
		return eau2_hash_bytes(p, len);
	return (w0 ^ ((w1 + len) * 0xc4ceb9fe1a85ec53ULL)) * 0x9e3779b97f4a7c15ULL;
}

/* The first min(len, 16) bytes of p, zero padded, without a branch on
 * len when p + 16 <= limit (two unaligned loads, then masks). */
static inline void word_head(const char *p, uint32_t len, const char *limit,
			     uint64_t *w0, uint64_t *w1)
{
	uint64_t a = 0, b = 0;

	if (__builtin_expect(limit - p >= 16, 1)) {
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		/* bytes kept of each half: n0 in [1, 8], n1 in [0, 8] */
		uint32_t n0 = len < 8 ? len : 8, n1 = len < 16 ? len - n0 : 8;
		a &= ~0ULL >> (64 - 8 * n0);
		b &= n1 ? ~0ULL >> ((64 - 8 * n1) & 63) : 0;
	} else {
		memcpy(&a, p, len < 8 ? len : 8);
		if (len > 8)
			memcpy(&b, p + 8, len < 16 ? len - 8 : 8);
	}
	*w0 = a;
	*w1 = b;
}

/* Slots are 32 bytes on a 64-byte aligned array: none straddles a line.
 * A table of 2 MiB or more (large vocabularies) is mapped on its own,
 * 2 MiB aligned, and asks for transparent huge pages before its first
 * touch (memory recycled by malloc is already faulted in 4 KiB pages):
 * its lookups land anywhere in it, and 4 KiB pages would add a TLB miss
 * to most of them. slots_free must be given the same cap. */
#define WC_HUGE (2u << 20)

static struct wc_slot *slots_new(size_t cap)
{
	size_t size = cap * sizeof(struct wc_slot);
	struct wc_slot *s;

	if (size >= WC_HUGE) {
		/* over-map by 2 MiB, then trim to an aligned range */
		char *m = mmap(NULL, size + WC_HUGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		size_t lead = (size_t)(-(uintptr_t)m & (WC_HUGE - 1));
		if (lead)
			munmap(m, lead);
		if (WC_HUGE - lead)
			munmap(m + lead + size, WC_HUGE - lead);
		s = (struct wc_slot *)(void *)(m + lead);
		madvise(s, size, MADV_HUGEPAGE); /* a hint: failure is harmless */
		return s; /* fresh anonymous memory is zero */
	}
	s = aligned_alloc(64, size);
	if (s)
		memset(s, 0, size);
	return s;
}

static void slots_free(struct wc_slot *s, size_t cap)
{
	size_t size = cap * sizeof(struct wc_slot);

	if (!s)
		return;
	if (size >= WC_HUGE)
		munmap(s, size);
	else
		free(s);
}

static int wc_grow(struct wc_state *s)
{
	size_t cap = (s->mask + 1) * 2;
	struct wc_slot *n = slots_new(cap);

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i <= s->mask; i++) {
		if (!s->slots[i].id1)
			continue;
		struct wc_word *w = &s->words[s->slots[i].id1 - 1];
		size_t j = (size_t)(w->hash >> (s->shift - 1));
		while (n[j].id1)
			j = (j + 1) & (cap - 1);
		n[j] = s->slots[i];
		w->slot = j;
	}
	slots_free(s->slots, s->mask + 1);
	s->slots = n;
	s->mask = cap - 1;
	s->shift--;
	return 0;
}

static int wc_insert(struct wc_state *s, size_t j, const char *p, uint32_t len,
		     uint64_t w0, uint64_t w1, uint64_t hash, uint64_t count)
{
	if (s->n == s->cap) {
		uint32_t ncap = s->cap ? s->cap * 2 : 1024;
		if (s->cap >= (1u << 30))
			return -E2BIG;
		void *w = realloc(s->words, (size_t)ncap * sizeof(*s->words));
		if (!w)
			return -ENOMEM;
		s->words = w;
		s->cap = ncap;
	}
	if (len > s->keys_cap - s->keys_len) {
		size_t ncap = s->keys_cap ? s->keys_cap : 65536;
		while (len > ncap - s->keys_len)
			ncap *= 2;
		void *k = realloc(s->keys, ncap);
		if (!k)
			return -ENOMEM;
		s->keys = k;
		s->keys_cap = ncap;
	}
	memcpy(s->keys + s->keys_len, p, len);
	s->words[s->n] = (struct wc_word){
		.off = s->keys_len, .hash = hash, .slot = j, .len = len };
	s->keys_len += len;
	s->slots[j] = (struct wc_slot){ .w0 = w0, .w1 = w1, .count = count,
					.len = len, .id1 = ++s->n };
	if ((size_t)s->n * 2 > s->mask + 1)
		return wc_grow(s);
	return 0;
}

/* Adds count to word p[0..len). A word of up to 16 bytes is matched on
 * the slot alone (one cache line); longer ones also compare the rest. */
static inline int wc_add(struct wc_state *s, const char *p, uint32_t len,
			 uint64_t w0, uint64_t w1, uint64_t hash, uint64_t count)
{
	size_t j = (size_t)(hash >> s->shift);

	/* an empty slot (all zero) never matches: words are not empty */
	for (;;) {
		struct wc_slot *slot = &s->slots[j];
		if (((slot->w0 ^ w0) | (slot->w1 ^ w1) | (slot->len ^ len)) == 0 &&
		    (__builtin_expect(len <= 16, 1) ||
		     memcmp(s->keys + s->words[slot->id1 - 1].off + 16, p + 16,
			    len - 16) == 0)) {
			slot->count += count;
			return 0;
		}
		if (!slot->id1)
			return wc_insert(s, j, p, len, w0, w1, hash, count);
		j = (j + 1) & s->mask;
	}
}

/* Bit i set when byte i of the 64 at p is ASCII whitespace: a space, or
 * a byte in 9..13 (\t \n \v \f \r). */
static inline uint64_t ws_mask64(const char *p)
{
#ifdef __SSE2__
	const __m128i sp = _mm_set1_epi8(' '), lo = _mm_set1_epi8(8),
		      hi = _mm_set1_epi8(14);
	uint64_t m = 0;

	for (int k = 0; k < 4; k++) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
		__m128i w = _mm_or_si128(_mm_cmpeq_epi8(v, sp),
					 _mm_and_si128(_mm_cmpgt_epi8(v, lo),
						       _mm_cmplt_epi8(v, hi)));
		m |= (uint64_t)(uint16_t)_mm_movemask_epi8(w) << (16 * k);
	}
	return m;
#else
	uint64_t m = 0;

	for (int i = 0; i < 64; i++)
		m |= (uint64_t)is_space[(uint8_t)p[i]] << i;
	return m;
#endif
}

#if WC_X86_AVX2
/* ws_mask64 with two 32-byte compares (only called where AVX2 exists). */
__attribute__((target("avx2"))) static inline uint64_t ws_mask64_avx2(const char *p)
{
	const __m256i sp = _mm256_set1_epi8(' '), lo = _mm256_set1_epi8(8),
		      hi = _mm256_set1_epi8(14);
	__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)p);
	__m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));
	__m256i wa = _mm256_or_si256(_mm256_cmpeq_epi8(a, sp),
				     _mm256_and_si256(_mm256_cmpgt_epi8(a, lo),
						      _mm256_cmpgt_epi8(hi, a)));
	__m256i wb = _mm256_or_si256(_mm256_cmpeq_epi8(b, sp),
				     _mm256_and_si256(_mm256_cmpgt_epi8(b, lo),
						      _mm256_cmpgt_epi8(hi, b)));

	return (uint64_t)(uint32_t)_mm256_movemask_epi8(wa) |
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(wb) << 32;
}
#endif

static int wc_flush(struct wc_state *s)
{
	for (uint32_t i = 0; i < s->npend; i++) {
		const struct wc_pending *w = &s->pend[i];
		int rc = wc_add(s, w->p, w->len, w->w0, w->w1, w->hash, 1);
		if (rc < 0)
			return rc;
	}
	s->npend = 0;
	return 0;
}

static int wc_flush(struct wc_state *s);

/* Queues word p[0..len) (len > 0) and prefetches its slot; lookups run a
 * batch at a time so the cache misses of a batch overlap (the table of a
 * large vocabulary does not fit in L2). The usual word (up to 16 bytes,
 * 16 readable bytes at p) takes the branch-free path: two loads, masks,
 * two multiplies. */
static inline __attribute__((always_inline)) int
wc_word(struct wc_state *s, const char *p, size_t len,
			  const char *limit)
{
	struct wc_pending *w = &s->pend[s->npend];
	uint64_t w0, w1, h;

	if (__builtin_expect(len <= 16 && limit - p >= 16, 1)) {
		uint64_t a, b;
		memcpy(&a, p, 8);
		memcpy(&b, p + 8, 8);
		unsigned n0 = len < 8 ? (unsigned)len : 8, n1 = (unsigned)len - n0;
		w0 = a & (~0ULL >> (64 - 8 * n0));
		w1 = n1 ? b & (~0ULL >> ((64 - 8 * n1) & 63)) : 0;
		h = (w0 ^ ((w1 + len) * 0xc4ceb9fe1a85ec53ULL)) * 0x9e3779b97f4a7c15ULL;
	} else {
		if (len >= UINT32_MAX)
			return -E2BIG;
		word_head(p, (uint32_t)len, limit, &w0, &w1);
		h = word_hash(p, (uint32_t)len, w0, w1);
	}
	w->p = p;
	w->len = (uint32_t)len;
	w->w0 = w0;
	w->w1 = w1;
	w->hash = h;
	__builtin_prefetch(&s->slots[h >> s->shift], 1, 3);
	if (__builtin_expect(++s->npend == WC_BATCH, 0))
		return wc_flush(s);
	return 0;
}

/* Appends base + the index of each set bit of m to out[n..] and returns
 * the new n. Writes 8 entries whatever the count (out needs 8 spare), so
 * the usual block costs no branch per bit; bit 63 stands in for exhausted
 * bits (no ctz of zero). */
static inline uint32_t flatten(uint64_t *out, uint32_t n, uint64_t base, uint64_t m)
{
	uint32_t cnt = (uint32_t)__builtin_popcountll(m);
	uint64_t *o = out + n;

	for (int i = 0; i < 8; i++) {
		o[i] = base + (uint64_t)__builtin_ctzll(m | (1ULL << 63));
		m &= m - 1;
	}
	for (uint32_t i = 8; i < cnt; i++) {
		o[i] = base + (uint64_t)__builtin_ctzll(m);
		m &= m - 1;
	}
	return n + cnt;
}

/* Counts the words of the bytes p[0..len), rows whose starts are at
 * bnd[k] - o0 (k < nb; ascending, in [0, len]): a row start separates
 * words like whitespace. Works a window of WC_WIN bytes at a time: per 64-byte
 * block, SSE2/AVX2 compares give a whitespace mask ws; with prev = ws of
 * the byte before each (the byte before p counts as whitespace) and rs =
 * the row starts,
 *     first = ~ws & (prev | rs)    a word's first byte
 *     endx  = (ws | rs) & ~prev    one past a word's last byte
 * are flattened into s->spos and s->epos; the k-th start pairs with the
 * k-th end (they alternate), a start without an end yet carries over to
 * the next window. No branch per byte, none per word boundary. limit
 * bounds what may be read (the chunk's bytes). */
static inline __attribute__((always_inline)) int
wc_range_impl(struct wc_state *s, const char *p, size_t len, const int64_t *bnd,
	      int64_t o0, uint32_t nb, const char *limit, bool avx2)
{
	uint64_t *S = s->spos, *E = s->epos;
	uint64_t carry = 1, bm[WC_WIN / 64];
	uint32_t ns = 0, ne, k = 0;
	int rc;

	(void)avx2;
	for (size_t wb = 0; wb < len; wb += WC_WIN) {
		size_t wl = len - wb < WC_WIN ? len - wb : WC_WIN;

		memset(bm, 0, sizeof(bm));
		for (; k < nb && (uint64_t)(bnd[k] - o0) < wb + wl; k++) {
			size_t q = (size_t)(bnd[k] - o0) - wb;
			bm[q >> 6] |= 1ULL << (q & 63);
		}
		ne = 0;
		for (size_t b = 0; b < wl; b += 64) {
			const char *q = p + wb + b;
			size_t rem = wl - b;
			uint64_t ws;

			if (limit - q >= 64) {
				/* the text is read once: fetch it ahead without
				 * evicting the table from the caches (L2 and L3) */
				if (limit - q >= WC_AHEAD + 64)
					__builtin_prefetch(q + WC_AHEAD, 0, 0);
#if WC_X86_AVX2
				if (avx2)
					ws = ws_mask64_avx2(q);
				else
#endif
					ws = ws_mask64(q);
			} else {
				char tmp[64];
				memset(tmp, ' ', sizeof(tmp));
				memcpy(tmp, q, rem < 64 ? rem : 64);
				ws = ws_mask64(tmp);
			}
			if (rem < 64)
				ws |= ~0ULL << rem;
			uint64_t prev = (ws << 1) | carry, rs = bm[b >> 6];
			carry = ws >> 63;
			ns = flatten(S, ns, wb + b, ~ws & (prev | rs));
			ne = flatten(E, ne, wb + b, (ws | rs) & ~prev);
		}
		for (uint32_t i = 0; i < ne; i++) {
			rc = wc_word(s, p + S[i], (size_t)(E[i] - S[i]), limit);
			if (rc < 0)
				return rc;
		}
		S[0] = S[ne]; /* the word still open, if any */
		ns -= ne;
	}
	if (ns) /* the last word runs to the end */
		return wc_word(s, p + S[0], (size_t)(len - S[0]), limit);
	return 0;
}

static int wc_range(struct wc_state *s, const char *p, size_t len,
		    const int64_t *bnd, int64_t o0, uint32_t nb, const char *limit)
{
	return wc_range_impl(s, p, len, bnd, o0, nb, limit, false);
}

#if WC_X86_AVX2
__attribute__((target("avx2,popcnt,bmi,bmi2"))) static int
wc_range_avx2(struct wc_state *s, const char *p, size_t len, const int64_t *bnd,
	      int64_t o0, uint32_t nb, const char *limit)
{
	return wc_range_impl(s, p, len, bnd, o0, nb, limit, true);
}
#endif

/* Scans the rows [r0, r1) of v, all valid, as one byte range; the row
 * starts inside it are off[r0 + 1 .. r1 - 1]. */
static int wc_rows(struct wc_state *s, const struct eau2_chunk_view *v,
		   uint32_t r0, uint32_t r1, const char *limit)
{
	const int64_t *off = v->values.offsets;
	int64_t o0 = off[r0];
	uint32_t nb;

	if (r1 <= r0 || off[r1] == o0)
		return 0;
	nb = r1 - r0 - 1;
#if WC_X86_AVX2
	if (s->avx2)
		return wc_range_avx2(s, v->data + o0, (size_t)(off[r1] - o0),
				     off + r0 + 1, o0, nb, limit);
#endif
	return wc_range(s, v->data + o0, (size_t)(off[r1] - o0), off + r0 + 1, o0,
			nb, limit);
}

static int wc_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct wc_state *s = state;
	const struct eau2_chunk_view *v = &g->cols[s->col];
	const int64_t *off = v->values.offsets;
	const char *limit = v->rows ? v->data + off[v->rows] : NULL;
	int rc = 0;

	if (!v->null_count) {
		rc = wc_rows(s, v, 0, v->rows, limit);
	} else {
		/* runs of valid rows */
		for (uint32_t i = 0; i < v->rows && rc == 0;) {
			while (i < v->rows && !eau2_view_valid(v, i))
				i++;
			uint32_t j = i;
			while (j < v->rows && eau2_view_valid(v, j))
				j++;
			if (j > i)
				rc = wc_rows(s, v, i, j, limit);
			i = j;
		}
	}
	if (rc == 0)
		rc = wc_flush(s); /* pending words point into this chunk */
	if (rc < 0)
		return eau2_error_set(err, rc, "wordcount: %s",
				      rc == -E2BIG ? "too many or too long words"
						   : "out of memory");
	return 0;
}

static int wc_join(void *state, void *other_, struct eau2_error *err)
{
	struct wc_state *s = state, *o = other_;

	for (uint32_t i = 0; i < o->n; i++) {
		const struct wc_word *w = &o->words[i];
		const struct wc_slot *sl = &o->slots[w->slot];
		if (wc_add(s, o->keys + w->off, w->len, sl->w0, sl->w1, w->hash,
			   sl->count) < 0)
			return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	}
	return 0;
}

static int wc_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	const struct wc_state *s = state;
	struct eau2_buf b = {0};
	int rc = 0;

	rc |= eau2_buf_u64(&b, WC_MAGIC);
	rc |= eau2_buf_u64(&b, s->n);
	for (uint32_t i = 0; rc == 0 && i < s->n; i++) {
		rc |= eau2_buf_u64(&b, s->slots[s->words[i].slot].count);
		rc |= eau2_buf_bytes(&b, s->keys + s->words[i].off, s->words[i].len);
	}
	if (rc) {
		free(b.p);
		return eau2_error_set(err, -ENOMEM, "wordcount: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int wc_decode(void *state, const void *buf, size_t len,
		     struct eau2_error *err)
{
	struct wc_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, n;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &n) || magic != WC_MAGIC ||
	    n > (len - r.pos) / 16)
		return eau2_error_set(err, -EBADMSG, "wordcount: decode: bad header");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t count;
		const char *p;
		size_t wl;
		if (eau2_rd_u64(&r, &count) || eau2_rd_bytes(&r, &p, &wl) ||
		    wl == 0 || wl >= UINT32_MAX)
			return eau2_error_set(err, -EBADMSG, "wordcount: decode: bad word %llu",
					      (unsigned long long)i);
		for (size_t k = 0; k < wl; k++)
			if (is_space[(uint8_t)p[k]])
				return eau2_error_set(err, -EBADMSG,
						      "wordcount: decode: word %llu has a space",
						      (unsigned long long)i);
		uint64_t w0, w1;
		word_head(p, (uint32_t)wl, (const char *)r.p + r.len, &w0, &w1);
		if (wc_add(s, p, (uint32_t)wl, w0, w1, word_hash(p, (uint32_t)wl, w0, w1),
			   count) < 0)
			return eau2_error_set(err, -ENOMEM, "wordcount: decode: out of memory");
	}
	if (r.pos != len)
		return eau2_error_set(err, -EBADMSG, "wordcount: decode: trailing bytes");
	return 0;
}

static _Thread_local const struct wc_state *qsort_state;

static int word_cmp(const void *a_, const void *b_)
{
	const struct wc_state *s = qsort_state;
	const struct wc_word *a = &s->words[*(const uint32_t *)a_];
	const struct wc_word *b = &s->words[*(const uint32_t *)b_];
	uint64_t ca = s->slots[a->slot].count, cb = s->slots[b->slot].count;

	if (ca != cb)
		return ca > cb ? -1 : 1;
	int c = memcmp(s->keys + a->off, s->keys + b->off, a->len < b->len ? a->len : b->len);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int wc_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct wc_state *s = state;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	int rc;

	order = malloc((s->n ? s->n : 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < s->n; i++)
		order[i] = i;
	qsort_state = s;
	qsort(order, s->n, sizeof(*order), word_cmp);
	rc = eau2_schema_parse("word:string,count:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (uint32_t i = 0; rc == 0 && i < s->n; i++) {
		const struct wc_word *w = &s->words[order[i]];
		rc = eau2_builder_append_string(b, 0, s->keys + w->off, w->len, err);
		if (rc == 0)
			rc = eau2_builder_append_int(b, 1, (int64_t)s->slots[w->slot].count, err);
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	return rc;
}

static void wc_columns(const void *state, uint64_t *used, size_t ncols)
{
	(void)ncols;
	eau2_columns_set(used, ((const struct wc_state *)state)->col);
}

static const char *const wordcount_args[] = { "column", NULL };

const struct eau2_rower_class eau2_rower_wordcount = {
	.name = "wordcount",
	.summary = "word, count of whitespace-separated words of column=NAME "
		   "(default the first string column), by count desc",
	.state_size = sizeof(struct wc_state),
	.init = wc_init,
	.accept_chunk = wc_chunk,
	.join = wc_join,
	.encode = wc_encode,
	.decode = wc_decode,
	.finish = wc_finish,
	.destroy = wc_destroy,
	.columns = wc_columns,
	.args = wordcount_args,
};
