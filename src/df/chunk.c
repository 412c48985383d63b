/* SPDX-License-Identifier: MIT */
/*
 * chunk.c - the chunk layout (see df.h): laying a sealed chunk out over
 * its source buffers with its statistics and checksum (the builder writes
 * that list to a segment with one pwritev), checking a header before
 * trusting it, and filling read views. The same bytes serve memory,
 * segments and the wire.
 */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
/* libxxhash's x86 dispatch: XXH3 with AVX2 or AVX-512 where the CPU has
 * them (the same hashes; twice the SSE2 build's speed on a chunk). */
#include <xxh_x86dispatch.h>
#endif

#include "df/df.h"

static uint64_t values_len(enum eau2_type type, uint32_t rows)
{
	switch (type) {
	case EAU2_BOOL: return ((uint64_t)rows + 7) / 8;
	case EAU2_INT:
	case EAU2_DOUBLE: return (uint64_t)rows * 8;
	case EAU2_STRING: return ((uint64_t)rows + 1) * 8;
	}
	return 0;
}

uint64_t eau2_chunk_size(enum eau2_type type, uint32_t rows, uint32_t nulls,
			 uint64_t data_len)
{
	uint64_t n = sizeof(struct eau2_chunk_hdr);

	if (nulls)
		n += eau2_align64(((uint64_t)rows + 7) / 8);
	n += eau2_align64(values_len(type, rows));
	if (type == EAU2_STRING)
		n += eau2_align64(data_len);
	return n;
}

/* The scalar min/max step: a value replaces lo (hi) only when it compares
 * below (above) it, so a NaN never enters and the first of equal values
 * stays. */
#define KEEP_MINMAX(lo, hi, x) do { \
	lo = (x) < lo ? (x) : lo; \
	hi = (x) > hi ? (x) : hi; \
} while (0)

/* The chunk's AVX2 loops, chosen where the CPU has AVX2 (runtime check;
 * eau2_chunk_simd for tests), else the scalar ones, which give the same
 * bits (test_builder compares them): the statistics, run on the sealing
 * thread right after the checksum pass brought the buffer into cache,
 * eight values a cycle; and the string offsets check. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_CHUNK_AVX2 1

static int chunk_avx2 = -1; /* -1: not probed yet */

/* lo/hi of v[0..rows) (rows >= 1), four lanes of two vectors each. */
__attribute__((target("avx2")))
static void minmax_i64_avx2(const int64_t *v, uint32_t rows, int64_t *plo, int64_t *phi)
{
	__m256i lo0 = _mm256_set1_epi64x(v[0]), hi0 = lo0, lo1 = lo0, hi1 = lo0;
	int64_t l[4], h[4], lo, hi;
	uint32_t i = 0;

	for (; i + 8 <= rows; i += 8) {
		__m256i a = _mm256_loadu_si256((const void *)(v + i));
		__m256i b = _mm256_loadu_si256((const void *)(v + i + 4));

		lo0 = _mm256_blendv_epi8(lo0, a, _mm256_cmpgt_epi64(lo0, a));
		hi0 = _mm256_blendv_epi8(hi0, a, _mm256_cmpgt_epi64(a, hi0));
		lo1 = _mm256_blendv_epi8(lo1, b, _mm256_cmpgt_epi64(lo1, b));
		hi1 = _mm256_blendv_epi8(hi1, b, _mm256_cmpgt_epi64(b, hi1));
	}
	lo0 = _mm256_blendv_epi8(lo0, lo1, _mm256_cmpgt_epi64(lo0, lo1));
	hi0 = _mm256_blendv_epi8(hi0, hi1, _mm256_cmpgt_epi64(hi1, hi0));
	_mm256_storeu_si256((void *)l, lo0);
	_mm256_storeu_si256((void *)h, hi0);
	lo = l[0];
	hi = h[0];
	for (int k = 1; k < 4; k++) {
		lo = l[k] < lo ? l[k] : lo;
		hi = h[k] > hi ? h[k] : hi;
	}
	for (; i < rows; i++)
		KEEP_MINMAX(lo, hi, v[i]);
	*plo = lo;
	*phi = hi;
}

/* The first zero of v (the scalar loops keep the first of equal values,
 * and a zero min or max is the first zero: nothing below or above it). */
static double first_zero(const double *v, uint32_t rows)
{
	for (uint32_t i = 0; i < rows; i++)
		if (v[i] == 0)
			return v[i];
	return 0;
}

/* minpd/maxpd keep their second operand unless the first compares below
 * (above) it, exactly the scalar `v < lo ? v : lo`: a NaN never enters.
 * Only the order differs, which matters for equal values of different
 * bits, i.e. -0.0 and 0.0: a zero min or max takes the first zero's sign,
 * as the scalar loop does. */
__attribute__((target("avx2")))
static void minmax_f64_avx2(const double *v, uint32_t rows, double *plo, double *phi)
{
	__m256d lo0 = _mm256_set1_pd(INFINITY), hi0 = _mm256_set1_pd(-INFINITY);
	__m256d lo1 = lo0, hi1 = hi0;
	double l[4], h[4], lo = INFINITY, hi = -INFINITY;
	uint32_t i = 0;

	for (; i + 8 <= rows; i += 8) {
		__m256d a = _mm256_loadu_pd(v + i), b = _mm256_loadu_pd(v + i + 4);

		lo0 = _mm256_min_pd(a, lo0);
		hi0 = _mm256_max_pd(a, hi0);
		lo1 = _mm256_min_pd(b, lo1);
		hi1 = _mm256_max_pd(b, hi1);
	}
	_mm256_storeu_pd(l, _mm256_min_pd(lo1, lo0));
	_mm256_storeu_pd(h, _mm256_max_pd(hi1, hi0));
	for (int k = 0; k < 4; k++) {
		lo = l[k] < lo ? l[k] : lo;
		hi = h[k] > hi ? h[k] : hi;
	}
	for (; i < rows; i++)
		KEEP_MINMAX(lo, hi, v[i]);
	*plo = lo == 0 ? first_zero(v, rows) : lo;
	*phi = hi == 0 ? first_zero(v, rows) : hi;
}

/* Whether a string offset decreases: o[i + 1] < o[i] for some i < rows.
 * A first view of every string chunk in another process, and every chunk
 * received, walks its offsets: eight a step here, against one scalar
 * compare a step (GCC does not vectorize 64-bit compares below SSE4.2). */
__attribute__((target("avx2")))
static bool offsets_decrease_avx2(const int64_t *o, uint32_t rows)
{
	__m256i bad0 = _mm256_setzero_si256(), bad1 = bad0;
	bool bad;
	uint32_t i = 0;

	for (; i + 8 <= rows; i += 8) {
		__m256i a = _mm256_loadu_si256((const void *)(o + i));
		__m256i b = _mm256_loadu_si256((const void *)(o + i + 4));
		__m256i a1 = _mm256_loadu_si256((const void *)(o + i + 1));
		__m256i b1 = _mm256_loadu_si256((const void *)(o + i + 5));

		bad0 = _mm256_or_si256(bad0, _mm256_cmpgt_epi64(a, a1));
		bad1 = _mm256_or_si256(bad1, _mm256_cmpgt_epi64(b, b1));
	}
	bad0 = _mm256_or_si256(bad0, bad1);
	bad = !_mm256_testz_si256(bad0, bad0);
	for (; i < rows; i++)
		bad |= o[i + 1] < o[i];
	return bad;
}

static bool use_chunk_avx2(void)
{
	int on = __atomic_load_n(&chunk_avx2, __ATOMIC_RELAXED);

	if (on < 0) {
		__builtin_cpu_init();
		on = __builtin_cpu_supports("avx2");
		__atomic_store_n(&chunk_avx2, on, __ATOMIC_RELAXED);
	}
	return on;
}

void eau2_chunk_simd(int on)
{
	__atomic_store_n(&chunk_avx2, on < 0 ? -1 : on && __builtin_cpu_supports("avx2"),
			 __ATOMIC_RELAXED);
}
#else
void eau2_chunk_simd(int on)
{
	(void)on;
}
#endif

/* min/max over the valid values. Runs without a validity test when the
 * chunk has no null. */
static void int_stats(struct eau2_chunk_hdr *h, const int64_t *v,
		      const uint8_t *validity, uint32_t rows)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	uint32_t i, seen = 0;

	if (!validity) {
#ifdef HAVE_CHUNK_AVX2
		if (rows && use_chunk_avx2())
			minmax_i64_avx2(v, rows, &lo, &hi);
		else
#endif
		for (i = 0; i < rows; i++)
			KEEP_MINMAX(lo, hi, v[i]);
		seen = rows;
	} else {
		for (i = 0; i < rows; i++) {
			if (!(validity[i >> 3] >> (i & 7) & 1))
				continue;
			lo = v[i] < lo ? v[i] : lo;
			hi = v[i] > hi ? v[i] : hi;
			seen++;
		}
	}
	if (seen) {
		h->has_minmax = 1;
		h->min.i = lo;
		h->max.i = hi;
	}
}

/* NaNs take no part in min/max (as in SQL engines that order NaN apart):
 * a NaN compares false both ways, so it never replaces lo or hi, and
 * lo <= hi holds exactly when some valid non-NaN value was seen. */
static void double_stats(struct eau2_chunk_hdr *h, const double *v,
			 const uint8_t *validity, uint32_t rows)
{
	double lo = INFINITY, hi = -INFINITY;
	uint32_t i;

	if (!validity) {
#ifdef HAVE_CHUNK_AVX2
		if (use_chunk_avx2())
			minmax_f64_avx2(v, rows, &lo, &hi);
		else
#endif
		for (i = 0; i < rows; i++)
			KEEP_MINMAX(lo, hi, v[i]);
	} else {
		for (i = 0; i < rows; i++) {
			if (!(validity[i >> 3] >> (i & 7) & 1))
				continue;
			lo = v[i] < lo ? v[i] : lo;
			hi = v[i] > hi ? v[i] : hi;
		}
	}
	if (lo <= hi) {
		h->has_minmax = 1;
		h->min.d = lo;
		h->max.d = hi;
	}
}

static uint64_t hdr_sum(const struct eau2_chunk_hdr *h)
{
	return XXH3_64bits(h, offsetof(struct eau2_chunk_hdr, hdr_checksum));
}

static const uint8_t zero_pad[EAU2_ALIGN];

/* Appends len bytes at p, then zeros up to the next 64-byte boundary, to
 * the layout and the checksum. Returns the bytes' offset in the chunk. */
static uint64_t lay(struct eau2_chunk_iov *l, XXH3_state_t *x, const void *p,
		    uint64_t len)
{
	uint64_t at = l->len, pad = eau2_align64(len) - len;

	if (len) {
		l->iov[l->n++] = (struct iovec){ .iov_base = (void *)(uintptr_t)p,
						 .iov_len = len };
		XXH3_64bits_update(x, p, len);
	}
	if (pad) {
		l->iov[l->n++] = (struct iovec){ .iov_base = (void *)(uintptr_t)zero_pad,
						 .iov_len = pad };
		XXH3_64bits_update(x, zero_pad, pad);
	}
	l->len += len + pad;
	return at;
}

void eau2_chunk_layout(const struct eau2_chunk_src *src, XXH3_state_t *x,
		       struct eau2_chunk_iov *l)
{
	struct eau2_chunk_hdr *h = &l->hdr;

	memset(h, 0, sizeof(*h));
	h->magic = EAU2_CHUNK_MAGIC;
	h->type = (uint8_t)src->type;
	h->hdr_size = sizeof(*h);
	h->rows = src->rows;
	h->null_count = src->null_count;
	l->iov[0] = (struct iovec){ .iov_base = h, .iov_len = sizeof(*h) };
	l->n = 1;
	l->len = sizeof(*h);
	XXH3_64bits_reset(x);
	if (src->null_count) {
		h->validity_len = ((uint64_t)src->rows + 7) / 8;
		h->validity_off = lay(l, x, src->validity, h->validity_len);
	}
	h->values_len = values_len(src->type, src->rows);
	h->values_off = lay(l, x, src->values, h->values_len);
	if (src->type == EAU2_STRING) {
		h->data_len = src->data_len;
		h->data_off = lay(l, x, src->data, src->data_len);
	}
	h->total_len = l->len;
	if (src->type == EAU2_INT)
		int_stats(h, (const int64_t *)src->values,
			  src->null_count ? src->validity : NULL, src->rows);
	else if (src->type == EAU2_DOUBLE)
		double_stats(h, (const double *)src->values,
			     src->null_count ? src->validity : NULL, src->rows);
	h->checksum = XXH3_64bits_digest(x);
	h->hdr_checksum = hdr_sum(h);
}

void eau2_chunk_write(uint8_t *dst, const struct eau2_chunk_src *src)
{
	struct eau2_chunk_iov l;
	XXH3_state_t *x = XXH3_createState();

	if (!x)
		abort(); /* tests only: out of memory */
	eau2_chunk_layout(src, x, &l);
	XXH3_freeState(x);
	for (int i = 0; i < l.n; i++) {
		memcpy(dst, l.iov[i].iov_base, l.iov[i].iov_len);
		dst += l.iov[i].iov_len;
	}
}

/* The header's own consistency, room being the bytes it may span: its
 * buffers, of the lengths its type and rows imply, lie inside total_len,
 * and total_len inside room. */
static int buffers_inside(const struct eau2_chunk_hdr *h, uint64_t room)
{
	enum eau2_type type = (enum eau2_type)h->type;
	uint64_t rows = h->rows;

	return !(h->total_len > room || h->total_len < sizeof(*h) ||
		 h->values_len != values_len(type, h->rows) ||
		 h->values_off > h->total_len || h->total_len - h->values_off < h->values_len ||
		 (h->null_count && (h->validity_len != (rows + 7) / 8 ||
				    h->validity_off > h->total_len ||
				    h->total_len - h->validity_off < h->validity_len)) ||
		 h->values_off % 8 || h->validity_off % 8 || h->data_off % 8 ||
		 (type == EAU2_STRING && (h->data_off > h->total_len ||
					  h->total_len - h->data_off < h->data_len)));
}

int eau2_chunk_check(const uint8_t *base, uint64_t seg_size, uint64_t off,
		     enum eau2_type type, uint32_t rows, struct eau2_error *err)
{
	const struct eau2_chunk_hdr *h;

	if (off % EAU2_ALIGN || off > seg_size || seg_size - off < sizeof(*h))
		return eau2_error_set(err, -EBADMSG, "chunk at offset %llu: outside its segment",
				      (unsigned long long)off);
	h = (const struct eau2_chunk_hdr *)(const void *)(base + off);
	if (h->magic != EAU2_CHUNK_MAGIC || h->hdr_size != sizeof(*h))
		return eau2_error_set(err, -EBADMSG, "chunk at offset %llu: bad magic",
				      (unsigned long long)off);
	/* 128 bytes: cheap enough for every first view, and a corrupted
	 * count or min/max is an error, never a wrong answer. */
	if (h->hdr_checksum != hdr_sum(h))
		return eau2_error_set(err, -EBADMSG, "chunk at offset %llu: header checksum mismatch "
				      "(its counts or statistics are corrupt)",
				      (unsigned long long)off);
	if (h->type != type || h->rows != rows || h->null_count > rows)
		return eau2_error_set(err, -EBADMSG,
				      "chunk at offset %llu: header says %s x %u rows, descriptor %s x %u",
				      (unsigned long long)off, eau2_type_name(h->type), h->rows,
				      eau2_type_name(type), rows);
	if (!buffers_inside(h, seg_size - off))
		return eau2_error_set(err, -EBADMSG,
				      "chunk at offset %llu: buffers lie outside the chunk",
				      (unsigned long long)off);
	if (type == EAU2_STRING) {
		const int64_t *o = (const int64_t *)(const void *)(base + off + h->values_off);

		if (o[0] != 0 || o[rows] < 0 || (uint64_t)o[rows] != h->data_len)
			return eau2_error_set(err, -EBADMSG,
					      "chunk at offset %llu: string offsets do not match its bytes",
					      (unsigned long long)off);
	}
	return 0;
}

int eau2_chunk_hdr_check(const struct eau2_chunk_hdr *h, uint64_t limit,
			 struct eau2_error *err)
{
	if (h->magic != EAU2_CHUNK_MAGIC || h->hdr_size != sizeof(*h))
		return eau2_error_set(err, -EBADMSG, "chunk header: bad magic");
	if (h->type < EAU2_BOOL || h->type > EAU2_STRING)
		return eau2_error_set(err, -EBADMSG, "chunk header: unknown type %u", h->type);
	if (h->rows > EAU2_CHUNK_ROWS || h->null_count > h->rows)
		return eau2_error_set(err, -EBADMSG,
				      "chunk header: %u rows, %u nulls (at most %u rows)",
				      h->rows, h->null_count, EAU2_CHUNK_ROWS);
	if (h->total_len > limit)
		return eau2_error_set(err, -EMSGSIZE,
				      "chunk header: %llu bytes, more than the %llu allowed",
				      (unsigned long long)h->total_len,
				      (unsigned long long)limit);
	if (!buffers_inside(h, limit))
		return eau2_error_set(err, -EBADMSG,
				      "chunk header: %s x %u rows, buffers lie outside its %llu bytes",
				      eau2_type_name(h->type), h->rows,
				      (unsigned long long)h->total_len);
	return 0;
}

void eau2_chunk_view_fill(const uint8_t *chunk, uint64_t first_row,
			  struct eau2_chunk_view *v)
{
	const struct eau2_chunk_hdr *h = (const struct eau2_chunk_hdr *)(const void *)chunk;

	v->type = (enum eau2_type)h->type;
	v->rows = h->rows;
	v->null_count = h->null_count;
	v->first_row = first_row;
	v->validity = h->null_count ? chunk + h->validity_off : NULL;
	v->values.bits = chunk + h->values_off;
	v->data = h->type == EAU2_STRING ? (const char *)chunk + h->data_off : NULL;
	v->has_minmax = h->has_minmax;
	v->min.i = h->min.i;
	v->max.i = h->max.i;
}

int eau2_chunk_verify(const uint8_t *chunk, struct eau2_error *err)
{
	const struct eau2_chunk_hdr *h = (const struct eau2_chunk_hdr *)(const void *)chunk;
	uint64_t sum = XXH3_64bits(chunk + sizeof(*h), h->total_len - sizeof(*h));

	if (sum != h->checksum)
		return eau2_error_set(err, -EBADMSG,
				      "checksum mismatch (stored %016llx, computed %016llx)",
				      (unsigned long long)h->checksum,
				      (unsigned long long)sum);
	return h->type == EAU2_STRING ? eau2_chunk_check_offsets(chunk, err) : 0;
}

int eau2_chunk_check_offsets(const uint8_t *chunk, struct eau2_error *err)
{
	const struct eau2_chunk_hdr *h = (const struct eau2_chunk_hdr *)(const void *)chunk;
	const int64_t *o = (const int64_t *)(const void *)(chunk + h->values_off);
	unsigned bad = 0;
	uint32_t i;

	/* Branch-free over the rows; the row is looked for only on failure. */
#ifdef HAVE_CHUNK_AVX2
	if (use_chunk_avx2())
		bad = offsets_decrease_avx2(o, h->rows);
	else
#endif
		for (i = 0; i < h->rows; i++)
			bad |= o[i + 1] < o[i];
	if (!bad)
		return 0;
	for (i = 0; o[i + 1] >= o[i]; i++)
		;
	return eau2_error_set(err, -EBADMSG, "string offsets decrease at row %u", i);
}
