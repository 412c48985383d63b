/* SPDX-License-Identifier: MIT */
/*
 * wordcount.c - the "wordcount" rower: counts words in a string column
 * (column=NAME; default the first string column). A word is a maximal run
 * of bytes that are not ASCII whitespace (space, \t, \n, \v, \f, \r);
 * words are case-sensitive bytes and never span two rows; null rows hold
 * no words. Result: columns word (string) and count (int), sorted by count
 * descending then word bytewise, so it is the same for any thread count.
 *
 * Speed: each state owns an open-addressing table specialised for words
 * (wordcount.h, wordcount_table.c). The scan reads the chunk in
 * place (no copies, no per-word allocation): a chunk's valid rows are one
 * byte range, row starts acting as separators, and word boundaries come
 * from 64-byte whitespace masks (SSE2, or AVX2 or AVX-512 when the CPU
 * has it, picked at init) flattened to positions (see wc_range_impl). Words are looked
 * up WC_BATCH at a time after prefetching their slots, so the misses of a
 * large vocabulary's table overlap; a table of 2 MiB or more gets huge
 * pages, and the text is prefetched ahead into L2.
 * Measured (50k-word Zipf text, 1 thread, CPU time): ~1.5-1.7 s/GB, from
 * ~1.9-2.1 s/GB before these changes (same run, alternating).
 *
 * Joins do not merge: a join moves the other state's tables into this
 * one's list (no copy), and the finish merges every table by hash range
 * on the run's threads, then sorts (wordcount_finish.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "rowers/wordcount.h"

#define WC_MAGIC 0x31544e57u /* "WNT1" */

/* A word found by the scan, waiting for its table lookup. */
struct wc_pending {
	const char *p;
	uint64_t w0, w1, hash;
	uint32_t len;
};

#define WC_BATCH 64 /* at most 256 (wc_flush) */
#define WC_WIN 1024 /* bytes a scan window holds (a multiple of 64) */
/* one start or end per byte at most (rows of one byte), one carried
 * over, +16 for flatten */
#define WC_POS_CAP (WC_WIN + 32)
#define WC_AHEAD 1024 /* bytes of text prefetched ahead of the scan */

#if defined(__x86_64__) && defined(__GNUC__)
#define WC_X86_AVX2 1
#include <immintrin.h>
#else
#define WC_X86_AVX2 0
#endif

/* The scans: SSE2 (or plain C); AVX2 with POPCNT, BMI1 and BMI2; and
 * that with AVX-512 BW and VBMI2 too (one 64-byte compare into a mask
 * register, positions flattened by a byte compress). */
enum { WC_SSE2, WC_AVX2, WC_AVX512 };
#define WC_AVX512_TARGET "avx512f,avx512bw,avx512vbmi2,avx2,popcnt,bmi,bmi2"

struct wc_state {
	size_t col;
	int isa;            /* the scan's: WC_SSE2, WC_AVX2 or WC_AVX512 */
	uint32_t npend;
	struct wc_pending pend[WC_BATCH];
	struct wc_table t;
	struct wc_table *more; /* tables of the states joined into this one */
	size_t nmore;
	uint64_t spos[WC_POS_CAP], epos[WC_POS_CAP]; /* a window's words */
};

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
	s->isa = WC_SSE2;
#if WC_X86_AVX2
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
	    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
	    !getenv("EAU2_WC_NO_AVX2")) /* tests: the SSE2 scan */
		s->isa = WC_AVX2;
	if (s->isa == WC_AVX2 && __builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi2") &&
	    !getenv("EAU2_WC_NO_AVX512")) /* tests: the AVX2 scan */
		s->isa = WC_AVX512;
#endif
	if (eau2_wc_table_init(&s->t, 12))
		return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	return 0;
}

static void wc_destroy(void *state)
{
	struct wc_state *s = state;

	eau2_wc_table_free(&s->t);
	for (size_t i = 0; i < s->nmore; i++)
		eau2_wc_table_free(&s->more[i]);
	free(s->more);
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

/* ws_mask64 with one 64-byte load: bytes equal to ' ', or whose byte - 9
 * is below 5 unsigned (only called where AVX-512 BW exists). */
__attribute__((target(WC_AVX512_TARGET))) static inline uint64_t
ws_mask64_avx512(const char *p)
{
	__m512i v = _mm512_loadu_si512((const void *)p);

	return _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(' ')) |
	       _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, _mm512_set1_epi8(9)),
				      _mm512_set1_epi8(5));
}

/* The byte indices of a block, compressed by a mask into positions. */
static const uint8_t wc_iota[64] __attribute__((aligned(64))) = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
	48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
};

/* flatten with a byte compress of wc_iota by m, widened and stored 16
 * entries at a time whatever the count (out needs 16 spare); a block of
 * more than 16 words (of 1 to 3 bytes) writes the rest one at a time.
 * The loop of flatten cost ~25 instructions a word: 1 GB, 1 thread,
 * least CPU of 3 runs alternating: 663k words 1.28 -> 1.20 s, 50k words
 * 0.875 -> 0.786 s. */
__attribute__((target(WC_AVX512_TARGET))) static inline uint32_t
flatten_avx512(uint64_t *out, uint32_t n, uint64_t base, uint64_t m)
{
	uint32_t cnt = (uint32_t)__builtin_popcountll(m);
	__m512i c = _mm512_maskz_compress_epi8(m, _mm512_load_si512((const void *)wc_iota));
	__m128i lo = _mm512_castsi512_si128(c);
	__m512i b = _mm512_set1_epi64((long long)base);
	uint64_t *o = out + n;

	_mm512_storeu_si512((void *)o, _mm512_add_epi64(_mm512_cvtepu8_epi64(lo), b));
	_mm512_storeu_si512((void *)(o + 8),
			    _mm512_add_epi64(_mm512_cvtepu8_epi64(_mm_srli_si128(lo, 8)), b));
	if (__builtin_expect(cnt > 16, 0)) {
		uint8_t idx[64];
		_mm512_storeu_si512((void *)idx, c);
		for (uint32_t i = 16; i < cnt; i++)
			o[i] = base + idx[i];
	}
	return n + cnt;
}
#endif

/* Looks up the batch's words. A long word whose home slot holds a word
 * of the same length and head is most likely that word: the compare of
 * its other bytes would wait for a cache miss on them, so it waits until
 * the end of the batch instead, its bytes prefetched. */
static int wc_flush(struct wc_state *s)
{
	uint8_t later[WC_BATCH];
	uint32_t nlater = 0;
	int rc;

	for (uint32_t i = 0; i < s->npend; i++) {
		const struct wc_pending *w = &s->pend[i];
		if (__builtin_expect(w->len > 16, 0)) {
			const struct wc_slot *x = &s->t.slots[w->hash >> s->t.shift];
			if (x->len == w->len && x->w0 == w->w0 && x->w1 == w->w1) {
				__builtin_prefetch(eau2_wc_bytes(&s->t, x) + 16, 0, 3);
				later[nlater++] = (uint8_t)i;
				continue;
			}
		}
		rc = eau2_wc_add(&s->t, w->p, w->len, w->w0, w->w1, w->hash, 1);
		if (rc < 0)
			return rc;
	}
	for (uint32_t k = 0; k < nlater; k++) {
		const struct wc_pending *w = &s->pend[later[k]];
		rc = eau2_wc_add(&s->t, w->p, w->len, w->w0, w->w1, w->hash, 1);
		if (rc < 0)
			return rc;
	}
	s->npend = 0;
	return 0;
}

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
		eau2_wc_head16(p, len, &w0, &w1);
		h = eau2_wc_hash16(w0, w1, len);
	} else {
		if (len >= UINT32_MAX)
			return -E2BIG;
		eau2_wc_head(p, (uint32_t)len, limit, &w0, &w1);
		h = eau2_wc_hash(p, (uint32_t)len, w0, w1);
	}
	w->p = p;
	w->len = (uint32_t)len;
	w->w0 = w0;
	w->w1 = w1;
	w->hash = h;
	/* the home slot's line, and the next slot's when that is the next
	 * line (a probe often goes on: at the table's end this is one past
	 * its slots, and a prefetch never faults) */
	const char *home = (const char *)&s->t.slots[h >> s->t.shift];
	__builtin_prefetch(home, 1, 3);
	__builtin_prefetch(home + sizeof(struct wc_slot), 1, 3);
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
 * block, SSE2, AVX2 or AVX-512 compares give a whitespace mask ws; with prev = ws of
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
	      int64_t o0, uint32_t nb, const char *limit, int isa)
{
	uint64_t *S = s->spos, *E = s->epos;
	uint64_t carry = 1, bm[WC_WIN / 64];
	uint32_t ns = 0, ne, k = 0;
	int rc;

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
				/* the text is read once: fetch it ahead into L2
				 * (a non-temporal hint filled L1 alone, whose
				 * lines the table's evict: from 1536 bytes
				 * ahead most of it was read from memory again.
				 * 1 GB, 663k words, 1 thread, least CPU of 4:
				 * 1.31 -> 1.27 s; 2048 ahead 1.28 s, but 1.64 s
				 * with the hint) */
				if (limit - q >= WC_AHEAD + 64)
					__builtin_prefetch(q + WC_AHEAD, 0, 1);
#if WC_X86_AVX2
				if (isa == WC_AVX512)
					ws = ws_mask64_avx512(q);
				else if (isa == WC_AVX2)
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
#if WC_X86_AVX2
			if (isa == WC_AVX512) {
				ns = flatten_avx512(S, ns, wb + b, ~ws & (prev | rs));
				ne = flatten_avx512(E, ne, wb + b, (ws | rs) & ~prev);
				continue;
			}
#endif
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
	return wc_range_impl(s, p, len, bnd, o0, nb, limit, WC_SSE2);
}

#if WC_X86_AVX2
__attribute__((target("avx2,popcnt,bmi,bmi2"))) static int
wc_range_avx2(struct wc_state *s, const char *p, size_t len, const int64_t *bnd,
	      int64_t o0, uint32_t nb, const char *limit)
{
	return wc_range_impl(s, p, len, bnd, o0, nb, limit, WC_AVX2);
}

__attribute__((target(WC_AVX512_TARGET))) static int
wc_range_avx512(struct wc_state *s, const char *p, size_t len, const int64_t *bnd,
		int64_t o0, uint32_t nb, const char *limit)
{
	return wc_range_impl(s, p, len, bnd, o0, nb, limit, WC_AVX512);
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
	if (s->isa == WC_AVX512)
		return wc_range_avx512(s, v->data + o0, (size_t)(off[r1] - o0),
				       off + r0 + 1, o0, nb, limit);
	if (s->isa == WC_AVX2)
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

/* Moves o's tables (its own and those it adopted) to s's list; o keeps
 * none, so destroying it frees nothing of them. */
static int wc_join(void *state, void *other_, struct eau2_error *err)
{
	struct wc_state *s = state, *o = other_;
	size_t n = s->nmore + o->nmore + 1;
	struct wc_table *m = realloc(s->more, n * sizeof(*m));

	if (!m)
		return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	s->more = m;
	m[s->nmore++] = o->t;
	if (o->nmore)
		memcpy(m + s->nmore, o->more, o->nmore * sizeof(*m));
	s->nmore += o->nmore;
	free(o->more);
	o->more = NULL;
	o->nmore = 0;
	memset(&o->t, 0, sizeof(o->t));
	return 0;
}

/* Every table's words: a word held by several tables is written once per
 * table (decode adds the counts up). */
static int wc_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	const struct wc_state *s = state;
	struct eau2_buf b = {0};
	uint64_t n = s->t.n;
	int rc = 0;

	for (size_t i = 0; i < s->nmore; i++)
		n += s->more[i].n;
	rc |= eau2_buf_u64(&b, WC_MAGIC);
	rc |= eau2_buf_u64(&b, n);
	for (size_t i = 0; rc == 0 && i <= s->nmore; i++) {
		const struct wc_table *t = i ? &s->more[i - 1] : &s->t;
		for (size_t j = 0; rc == 0 && t->n && j <= t->mask; j++) {
			const struct wc_slot *x = &t->slots[j];
			if (!x->len)
				continue;
			rc |= eau2_buf_u64(&b, x->count);
			rc |= eau2_buf_bytes(&b, eau2_wc_bytes(t, x), x->len);
		}
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
		eau2_wc_head(p, (uint32_t)wl, (const char *)r.p + r.len, &w0, &w1);
		int rc = eau2_wc_add(&s->t, p, (uint32_t)wl, w0, w1,
				     eau2_wc_hash(p, (uint32_t)wl, w0, w1), count);
		if (rc < 0)
			return eau2_error_set(err, rc, "wordcount: decode: %s",
					      rc == -E2BIG ? "too many words" : "out of memory");
	}
	if (r.pos != len)
		return eau2_error_set(err, -EBADMSG, "wordcount: decode: trailing bytes");
	return 0;
}

static int wc_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct wc_state *s = state;
	struct wc_table *all = malloc((s->nmore + 1) * sizeof(*all));
	int rc;

	if (!all)
		return eau2_error_set(err, -ENOMEM, "wordcount: out of memory");
	all[0] = s->t; /* shallow copies: s still owns them */
	if (s->nmore)
		memcpy(all + 1, s->more, s->nmore * sizeof(*all));
	rc = eau2_wc_finish(all, s->nmore + 1, ctx->threads, ctx->db, result, err);
	free(all);
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
