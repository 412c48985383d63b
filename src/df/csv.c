/* SPDX-License-Identifier: MIT */
/*
 * csv.c - the RFC 4180 CSV reader.
 *
 * Records end at a newline outside quotes; a quote toggles the quote state
 * wherever it appears, so the state at any byte is the parity of the quotes
 * before it. Splitting is speculative: each raw split point moves forward
 * to the next newline, as if no quoted field held one, and no pass runs
 * before the parse. The parse checks every guess: a piece whose own start
 * is right reads its records to its end, and ends outside quotes exactly
 * when the next piece's start is a record start too. A piece that ends
 * inside quotes (a guessed start inside a quoted newline, or an unclosed
 * quote) flags a missplit; the pass is dropped and the file split exactly:
 * a first parallel pass counts the quotes of each piece, a prefix sum
 * gives the state at every raw split point, and each split moves forward
 * to the next newline outside quotes. A file whose first sample window
 * shows a quoted newline is split exactly from the start. Fields are then
 * checked: a field holding a quote must be "quoted" with inner quotes
 * doubled; anything else is an error (or a skipped row) at its exact
 * file:line:column.
 *
 * Scanning is 64 bytes at a time (AVX2 when the CPU has it, else SSE2):
 * bitmasks of delimiters, newlines, quotes and NULs, a prefix-xor of the
 * quote mask for the in-quote region, and the remaining set bits are the
 * field ends and quotes to visit. In fail mode a hot loop (csv_fast)
 * converts and appends each field as it ends; any record it cannot take
 * as is goes to the careful path, which reports it or flags a restart.
 * Numbers parse with an exact fast path (Clinger: mantissa <= 2^53, power
 * of ten <= 22) and fall back to strtod_l in the C locale.
 *
 * Types: without a schema every field of a sample (the whole data when it
 * is small, else windows at several piece starts) is classified (empty =
 * null, true/false, 0/1, int64, double, else string; a quoted field is a
 * string) and a column takes the most general kind seen; true/false next
 * to numbers makes a string. A later value that does not fit records its
 * kind, flags a restart and its worker only classifies from then on; after
 * the pass the builder is dropped and the file parsed again with the
 * widened types (one restart suffices: successful conversions never hold a
 * kind the widened type rejects). A column the sample saw no value of is
 * loaded as strings whose kinds are recorded too: when they make another
 * type, the load restarts with it, so the types never depend on where the
 * sample windows fell. With a schema a misfit is an error, or
 * a skipped row with EAU2_ON_ERROR_SKIP.
 *
 * Blank lines are skipped in files of two or more columns; in a one-column
 * file a blank line is a null. A UTF-8 BOM is skipped.
 *
 * Threads: pieces go to eau2_load_parallel's workers. Each piece forks a
 * builder part; struct csv_load.lock guards the parent builder (fork and
 * join), next_join and the done flags; parts are joined in piece order as
 * soon as every earlier piece is done. Everything else a worker touches is
 * its own piece result and its own struct csv_worker.
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "df/df.h"
#include "df/load.h"

#define CSV_WHERE_MAX EAU2_LOAD_WHERE_MAX
#define CSV_RECORD_MAX (1ull << 31) /* bytes of one unescaped field */

enum { EV_END, EV_DELIM, EV_NL, EV_QUOTE, EV_NUL };

#define CSV_UNSEEN 0x100 /* L->ftypes: a string column whose kinds count */

/* ----------------------------------------------------------- tokenizer */

struct tok {
	const uint8_t *map;
	size_t size;   /* readable bytes of map */
	size_t end;    /* events at or past end are not reported */
	bool vnl;      /* a virtual '\n' sits at offset size */
	uint8_t delim;
	size_t blk;    /* offset of the current 64-byte block */
	uint64_t ev, nl, q, nul;
	uint64_t carry; /* all ones when the block starts inside quotes */
};

static inline uint64_t prefix_xor(uint64_t x)
{
	x ^= x << 1;
	x ^= x << 2;
	x ^= x << 4;
	x ^= x << 8;
	x ^= x << 16;
	x ^= x << 32;
	return x;
}

#if defined(__SSE2__)
static inline void masks64(const uint8_t *p, uint8_t delim, uint64_t *d,
			   uint64_t *n, uint64_t *q, uint64_t *z)
{
	__m128i v[4];
	__m128i cd = _mm_set1_epi8((char)delim), cn = _mm_set1_epi8('\n');
	__m128i cq = _mm_set1_epi8('"'), cz = _mm_setzero_si128();
	uint64_t md = 0, mn = 0, mq = 0, mz = 0;

	for (int i = 0; i < 4; i++)
		v[i] = _mm_loadu_si128((const void *)(p + 16 * i));
	for (int i = 0; i < 4; i++) {
		md |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], cd)) << (16 * i);
		mn |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], cn)) << (16 * i);
		mq |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], cq)) << (16 * i);
		mz |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v[i], cz)) << (16 * i);
	}
	*d = md;
	*n = mn;
	*q = mq;
	*z = mz;
}

static size_t count_quotes(const uint8_t *p, size_t n)
{
	__m128i cq = _mm_set1_epi8('"'), zero = _mm_setzero_si128();
	size_t c = 0, i = 0;

	/* Bytes of -1 per quote, summed 255 blocks at a time with psadbw. */
	while (i + 16 <= n) {
		__m128i acc = _mm_setzero_si128(), sum;
		size_t stop = i + 255 * 16 < n ? i + 255 * 16 : n;

		for (; i + 16 <= stop; i += 16)
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(
				_mm_loadu_si128((const void *)(p + i)), cq));
		sum = _mm_sad_epu8(acc, zero);
		c += (size_t)_mm_cvtsi128_si64(sum) +
		     (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sum, sum));
	}
	for (; i < n; i++)
		c += p[i] == '"';
	return c;
}
#else
static inline void masks64(const uint8_t *p, uint8_t delim, uint64_t *d,
			   uint64_t *n, uint64_t *q, uint64_t *z)
{
	uint64_t md = 0, mn = 0, mq = 0, mz = 0;

	for (int i = 0; i < 64; i++) {
		md |= (uint64_t)(p[i] == delim) << i;
		mn |= (uint64_t)(p[i] == '\n') << i;
		mq |= (uint64_t)(p[i] == '"') << i;
		mz |= (uint64_t)(p[i] == 0) << i;
	}
	*d = md;
	*n = mn;
	*q = mq;
	*z = mz;
}

static size_t count_quotes(const uint8_t *p, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += p[i] == '"';
	return c;
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
__attribute__((target("avx2"), always_inline))
static inline void masks64_avx2(const uint8_t *p, uint8_t delim, uint64_t *d,
			 uint64_t *n, uint64_t *q, uint64_t *z)
{
	__m256i a = _mm256_loadu_si256((const void *)p);
	__m256i b = _mm256_loadu_si256((const void *)(p + 32));
	__m256i cd = _mm256_set1_epi8((char)delim), cn = _mm256_set1_epi8('\n');
	__m256i cq = _mm256_set1_epi8('"'), cz = _mm256_setzero_si256();

#define M2(c) ((uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, c)) | \
	       (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, c)) << 32)
	*d = M2(cd);
	*n = M2(cn);
	*q = M2(cq);
	*z = M2(cz);
#undef M2
}

static bool use_avx2, use_avx512;
static pthread_once_t avx2_once = PTHREAD_ONCE_INIT;

static void avx2_init(void)
{
	__builtin_cpu_init();
	use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") &&
		   __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
	use_avx512 = use_avx2 && __builtin_cpu_supports("avx512bw") &&
		     __builtin_cpu_supports("avx512vl") &&
		     __builtin_cpu_supports("avx512dq") &&
		     __builtin_cpu_supports("avx512cd") &&
		     __builtin_cpu_supports("avx512vbmi2");
}
#endif

/* The block at t->blk, or a zero-padded copy of its readable part (with
 * the virtual newline) when it runs past the map. */
static inline const uint8_t *tok_bytes(const struct tok *t, uint8_t tmp[64])
{
	size_t have;

	if (t->blk + 64 <= t->size) {
		/* The streamer stops at page ends: ask for the bytes ahead. */
		__builtin_prefetch(t->map + t->blk + 1024);
		return t->map + t->blk;
	}
	have = t->blk < t->size ? t->size - t->blk : 0;
	memset(tmp, 0, 64);
	if (have)
		memcpy(tmp, t->map + t->blk, have);
	if (t->vnl && have < 64)
		tmp[have] = '\n';
	return tmp;
}

static inline void tok_set(struct tok *t, uint64_t d, uint64_t n, uint64_t q,
			   uint64_t z, uint64_t inq)
{
	size_t left = t->end - t->blk;
	uint64_t valid = left >= 64 ? ~0ull : (1ull << left) - 1;

	t->carry = (uint64_t)((int64_t)inq >> 63);
	t->nl = n;
	t->q = q;
	t->nul = z;
	t->ev = (((d | n) & ~inq) | q | z) & valid;
}

#ifdef HAVE_AVX2_PATH
/* tok_block on AVX2: the masks inline and the prefix-xor of the quotes as
 * one carry-less multiply by all ones. */
__attribute__((target("avx2,pclmul")))
static void tok_block_avx2(struct tok *t)
{
	uint8_t tmp[64];
	const uint8_t *p = tok_bytes(t, tmp);
	uint64_t d, n, q, z, inq;

	masks64_avx2(p, t->delim, &d, &n, &q, &z);
	inq = (uint64_t)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
		_mm_set_epi64x(0, (long long)q), _mm_set1_epi8((char)0xff), 0));
	tok_set(t, d, n, q, z, inq ^ t->carry);
}
#endif

static void tok_block(struct tok *t)
{
	uint8_t tmp[64];
	const uint8_t *p;
	uint64_t d, n, q, z;

#ifdef HAVE_AVX2_PATH
	if (use_avx2) {
		tok_block_avx2(t);
		return;
	}
#endif
	p = tok_bytes(t, tmp);
	masks64(p, t->delim, &d, &n, &q, &z);
	tok_set(t, d, n, q, z, prefix_xor(q) ^ t->carry);
}

static void tok_init(struct tok *t, const uint8_t *map, size_t size, bool vnl,
		     uint8_t delim, size_t start, size_t end)
{
	t->map = map;
	t->size = size;
	t->vnl = vnl;
	t->delim = delim;
	t->end = end;
	t->blk = start;
	t->carry = 0;
	t->ev = 0;
	if (start < end)
		tok_block(t);
}

/* The next event at or after the current position: its offset and kind. */
static inline int tok_next(struct tok *t, size_t *pos)
{
	uint64_t bit;

	while (t->ev == 0) {
		t->blk += 64;
		if (t->blk >= t->end)
			return EV_END;
		tok_block(t);
	}
	bit = t->ev & -t->ev;
	t->ev ^= bit;
	*pos = t->blk + (size_t)__builtin_ctzll(bit);
	if (t->q & bit)
		return EV_QUOTE;
	if (t->nl & bit)
		return EV_NL;
	if (t->nul & bit)
		return EV_NUL;
	return EV_DELIM;
}

/* -------------------------------------------------------------- records */

struct fspan {
	size_t off, len;
	bool q; /* holds a quote */
};

enum { REC_OK, REC_NUL, REC_UNTERMINATED, REC_END };

/* Reads one record starting at *pos: spans of its first `max` fields into
 * f, the field count into *nf; *pos moves past its newline. A record with
 * a NUL is read to its end (REC_NUL, *bad = the NUL); one that runs off the
 * end inside quotes gives REC_UNTERMINATED with *bad = its first quote. */
static int csv_record(struct tok *t, size_t *pos, struct fspan *f, size_t max,
		      size_t *nf, size_t *bad)
{
	size_t n = 0, e = 0, fs = *pos;
	int kind, rc = REC_OK;
	bool hasq = false;

	if (*pos >= t->end)
		return REC_END;
	for (;;) {
		kind = tok_next(t, &e);
		if (kind == EV_QUOTE) {
			hasq = true;
			continue;
		}
		if (kind == EV_NUL) {
			if (rc == REC_OK) {
				rc = REC_NUL;
				*bad = e;
			}
			continue;
		}
		if (kind == EV_END) {
			const void *qp = memchr(t->map + fs, '"', t->size - fs);

			*bad = qp ? (size_t)((const uint8_t *)qp - t->map) : fs;
			*nf = n;
			*pos = t->end;
			return REC_UNTERMINATED;
		}
		if (n < max) {
			f[n].off = fs;
			f[n].len = e - fs;
			f[n].q = hasq;
		}
		n++;
		fs = e + 1;
		hasq = false;
		if (kind == EV_NL)
			break;
	}
	/* CRLF: the CR belongs to the line end. */
	if (n <= max && f[n - 1].len && t->map[e - 1] == '\r')
		f[n - 1].len--;
	*nf = n;
	*pos = e + 1;
	return rc;
}

/* Unquotes a field that holds a quote. Sets the text (in the map,
 * or unescaped into *buf). Returns NULL, or what is wrong with *bad at it. */
static const char *csv_unquote(const uint8_t *map, const struct fspan *f,
			       char **buf, size_t *cap, size_t *used,
			       size_t *boff, size_t *n, size_t *bad)
{
	const uint8_t *p = map + f->off;
	size_t len = f->len, i, pairs = 0;

	if (p[0] != '"') {
		*bad = f->off + (size_t)((const uint8_t *)memchr(p, '"', len) - p);
		return "quote in unquoted field";
	}
	for (i = 1; i < len; i++) {
		if (p[i] != '"')
			continue;
		if (i + 1 < len && p[i + 1] == '"') {
			pairs++;
			i++;
			continue;
		}
		if (i != len - 1) {
			*bad = f->off + i + 1;
			return "unexpected character after closing quote";
		}
		break;
	}
	if (i >= len) { /* cannot happen after parity splitting; be safe */
		*bad = f->off;
		return "unterminated quoted field";
	}
	if (!pairs) {
		*boff = SIZE_MAX; /* in the map */
		*n = len - 2;
		return NULL;
	}
	if (*used + len > *cap) {
		size_t ncap = (*cap ? *cap : 4096);
		char *nb;

		while (ncap < *used + len)
			ncap *= 2;
		nb = realloc(*buf, ncap);
		if (!nb) {
			*bad = f->off;
			return "out of memory";
		}
		*buf = nb;
		*cap = ncap;
	}
	{
		char *o = *buf + *used;
		size_t k = 0;

		for (i = 1; i < len - 1; i++) {
			o[k++] = (char)p[i];
			if (p[i] == '"')
				i++;
		}
		*boff = *used;
		*n = k;
		*used += k;
	}
	return NULL;
}

/* --------------------------------------------------------------- state */

struct fval {
	const char *s;
	size_t n;
	size_t boff;   /* SIZE_MAX: s points into the map; else into the arena */
	union { int64_t i; double d; bool b; } v;
	bool null;
};

struct csv_worker {
	struct fspan *f;
	struct fval *v;
	char *arena;
	size_t cap, used;
	unsigned *kinds; /* classified kinds per column (widening) */
	uint8_t *scale;  /* csv_fast: decimals per pending double, per column */
	uint32_t *bev;   /* csv_batch: field ends of a batch */
	uint64_t *bnl;   /* csv_batch: its line-end masks, then counts */
	uint32_t *bnull; /* csv_batch: (column, row) of its empty fields */
};

struct piece {
	size_t start, end;
	eau2_builder *part;
	uint64_t rows, skipped;
	int code;            /* 0, or the error */
	size_t err_off;      /* SIZE_MAX: no location */
	char msg[512];
	unsigned nwhere;
	size_t where_off[CSV_WHERE_MAX];
	char where_msg[CSV_WHERE_MAX][160];
	bool done;
};

struct csv_load {
	struct eau2_load_ctx *ctx;
	size_t ncols;
	enum eau2_type *types;
	int *ftypes;             /* types for parsing: CSV_UNSEEN for a string
				  * column the sample saw no value of */
	bool explicit_types;
	bool skip_bad;
	bool vnl;
	size_t data_start;
	size_t npieces;
	struct piece *pieces;
	struct csv_worker *workers;
	unsigned *sample_kinds;
	bool exact;              /* split by quote parity, not guessed */
	bool multiline;          /* the first sample window has a quoted newline */
	_Atomic bool missplit;   /* a guessed split start was inside quotes */
	eau2_builder *b;
	pthread_mutex_t lock;
	size_t next_join;        /* under lock */
	_Atomic size_t fail_piece; /* lowest piece with an error */
	_Atomic bool restart;
	size_t *qcount;          /* exact split: quotes per raw block */
	size_t *raw;             /* raw split points */
};

static enum eau2_type kinds_type(unsigned k)
{
	if (k == 0 || (k & EAU2_KIND_STR))
		return EAU2_STRING;
	if ((k & EAU2_KIND_TF) && (k & (EAU2_KIND_INT | EAU2_KIND_DBL)))
		return EAU2_STRING;
	if (k & EAU2_KIND_DBL)
		return EAU2_DOUBLE;
	if (k & EAU2_KIND_INT)
		return EAU2_INT;
	return EAU2_BOOL;
}

static void piece_fail(struct csv_load *L, size_t idx, int code, size_t off,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void piece_fail(struct csv_load *L, size_t idx, int code, size_t off,
		       const char *fmt, ...)
{
	struct piece *p = &L->pieces[idx];
	size_t cur;
	va_list ap;

	p->code = code;
	p->err_off = off;
	va_start(ap, fmt);
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
	va_end(ap);
	cur = atomic_load(&L->fail_piece);
	while (idx < cur && !atomic_compare_exchange_weak(&L->fail_piece, &cur, idx))
		;
}

static void piece_skip(struct piece *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void piece_skip(struct piece *p, size_t off, const char *fmt, ...)
{
	va_list ap;

	p->skipped++;
	if (p->nwhere >= CSV_WHERE_MAX)
		return;
	p->where_off[p->nwhere] = off;
	va_start(ap, fmt);
	vsnprintf(p->where_msg[p->nwhere], sizeof(p->where_msg[0]), fmt, ap);
	va_end(ap);
	p->nwhere++;
}

/* Converts field text to column c's type. Returns false when it does not
 * fit. */
static bool convert(struct csv_load *L, struct csv_worker *w, size_t c,
		    const char *s, size_t n, bool quoted, struct fval *v)
{
	v->s = s;
	v->n = n;
	v->null = false;
	if (n == 0 && !quoted) {
		v->null = true;
		return true;
	}
	if (quoted && !L->explicit_types && L->types[c] != EAU2_STRING)
		return false;
	switch (L->types[c]) {
	case EAU2_BOOL:
		if (n == 1 && (s[0] == '0' || s[0] == '1')) {
			v->v.b = s[0] == '1';
			return true;
		}
		if (!eau2_csv_parse_bool(s, n, &v->v.b))
			return false;
		w->kinds[c] |= EAU2_KIND_TF;
		return true;
	case EAU2_INT:
		return eau2_load_parse_i64(s, n, &v->v.i);
	case EAU2_DOUBLE:
		return eau2_csv_parse_f64(s, n, &v->v.d);
	default:
		return true;
	}
}

static int append_row(struct csv_load *L, eau2_builder *b, struct fval *v,
		      struct eau2_error *err)
{
	int rc = 0;

	for (size_t c = 0; c < L->ncols && rc == 0; c++) {
		if (v[c].null) {
			rc = eau2_builder_append_null(b, c, err);
			continue;
		}
		switch (L->types[c]) {
		case EAU2_BOOL:
			rc = eau2_builder_append_bool(b, c, v[c].v.b, err);
			break;
		case EAU2_INT:
			rc = eau2_builder_append_int(b, c, v[c].v.i, err);
			break;
		case EAU2_DOUBLE:
			rc = eau2_builder_append_double(b, c, v[c].v.d, err);
			break;
		default:
			rc = eau2_builder_append_string(b, c, v[c].s, v[c].n, err);
			break;
		}
	}
	return rc;
}

/* Classifies the fields of one record into kinds[]; first: the record is
 * read from a known record start, so a quoted newline in it is real. */
static void classify(struct csv_load *L, struct csv_worker *w, size_t nf,
		     unsigned *kinds, bool first)
{
	const uint8_t *map = L->ctx->map;

	for (size_t c = 0; c < nf; c++) {
		struct fspan *f = &w->f[c];

		if (f->q) {
			kinds[c] |= EAU2_KIND_STR;
			if (first && memchr(map + f->off, '\n', f->len))
				L->multiline = true;
		} else
			kinds[c] |= eau2_csv_kind((const char *)map + f->off, f->len);
	}
}

static bool blank(const struct csv_load *L, const struct fspan *f, size_t nf)
{
	return L->ncols > 1 && nf == 1 && f[0].len == 0 && !f[0].q;
}

enum { FAST_END, FAST_YIELD, FAST_BAIL, FAST_FAIL };

/* ------------------------------------------------- fast number parsing
 * For unquoted fields of the map with at least FAST_SLACK readable bytes
 * after their start: eight digits at a time (SWAR). Anything these do not
 * take (exponents, more than 16 integer or fraction digits, a mantissa
 * past 2^53, inf/nan, junk) goes to the exact parsers of load.c, so the
 * results are theirs bit for bit. */
#define FAST_SLACK 64

static inline uint64_t load8(const char *s)
{
	uint64_t w;

	memcpy(&w, s, 8);
	return w;
}

/* The value of the k (1..8) digits at the start of w, or -1 when one of
 * them is not a digit. */
__attribute__((always_inline))
static inline int64_t swar8(uint64_t w, unsigned k)
{
	unsigned sh = 64 - 8 * k;
	uint64_t keep = ~0ull << sh;

	/* The digits move to the high bytes (the least significant end);
	 * the low bytes become leading '0's. */
	w = (w << sh) | (0x3030303030303030ull & ~keep);
	if (((w & 0xf0f0f0f0f0f0f0f0ull) |
	     (((w + 0x0606060606060606ull) & 0xf0f0f0f0f0f0f0f0ull) >> 4)) !=
	    0x3333333333333333ull)
		return -1;
	w -= 0x3030303030303030ull;
	w = w * 10 + (w >> 8);
	w = (((w & 0x000000ff000000ffull) * (100 + (1000000ull << 32))) +
	     (((w >> 16) & 0x000000ff000000ffull) * (1 + (10000ull << 32)))) >> 32;
	return (int64_t)(uint32_t)w;
}

static const uint64_t pow10_u64[17] = {
	1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
	100000000ull, 1000000000ull, 10000000000ull, 100000000000ull,
	1000000000000ull, 10000000000000ull, 100000000000000ull,
	1000000000000000ull, 10000000000000000ull,
};

/* The value of the k (1..16) digits at s, or -1. */
__attribute__((always_inline))
static inline int64_t swar16(const char *s, size_t k)
{
	int64_t a, b;

	if (k <= 8)
		return swar8(load8(s), (unsigned)k);
	a = swar8(load8(s), 8);
	b = swar8(load8(s + 8), (unsigned)(k - 8));
	if ((a | b) < 0)
		return -1;
	return a * (int64_t)pow10_u64[k - 8] + b;
}

__attribute__((always_inline))
static inline bool fast_i64(const char *s, size_t n, int64_t *v)
{
	size_t i = s[0] == '-' || s[0] == '+';
	int64_t x;

	if (n - i - 1 < 16) {
		x = swar16(s + i, n - i);
		if (x >= 0) {
			*v = s[0] == '-' ? -x : x;
			return true;
		}
	}
	return eau2_load_parse_i64(s, n, v);
}

/* An int of 1..4 digits without a sign in one 32-bit word (a batch's
 * short ids and counts), else fast_i64. */
__attribute__((always_inline))
static inline bool short_i64(const char *s, size_t n, int64_t *v)
{
	if (n <= 4) {
		unsigned sh = 32 - 8 * (unsigned)n;
		uint32_t w;

		memcpy(&w, s, 4);
		/* The digits to the high bytes, '0's before them. */
		w = (w << sh) | (0x30303030u & ~(~0u << sh));
		if (((w & 0xf0f0f0f0u) | (((w + 0x06060606u) & 0xf0f0f0f0u) >> 4)) ==
		    0x33333333u) {
			w -= 0x30303030u;
			w = w * 10 + (w >> 8); /* pairs in bytes 0 and 2 */
			*v = (int64_t)((((uint64_t)(w & 0x00ff00ffu) *
					 (1 + (100ull << 16))) >> 16) & 0xffff);
			return true;
		}
	}
	return fast_i64(s, n, v);
}

static const double pow10_f64[17] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
	1e13, 1e14, 1e15, 1e16,
};

/* Like eau2_csv_parse_f64, but a short decimal comes back unscaled:
 * *v = +-m and *scale = its decimals, for the caller to divide by
 * 10^scale later (the division, a long-latency instruction, then runs in
 * a tight pass over the chunk instead of stalling the parse loop). The
 * quotient is the same correctly rounded one either way. */
__attribute__((always_inline))
static inline bool fast_f64(const char *s, size_t n, double *v, uint8_t *scale)
{
	size_t i = s[0] == '-' || s[0] == '+', k = n - i, d;
	const char *dot;
	int64_t ip, fp;

	if (k - 3 < 6) {
		/* Digits, a dot, digits within one word: find the dot in
		 * that word, drop it and take all k - 1 digits at once. */
		uint64_t wd = load8(s + i), x = wd ^ 0x2e2e2e2e2e2e2e2eull;
		uint64_t z = (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;

		z &= ~0ull >> (64 - 8 * k); /* the first zero byte is exact */
		d = z ? (size_t)__builtin_ctzll(z) >> 3 : k;
		if (d - 1 < k - 2) {
			unsigned sh = 8 * (unsigned)d;

			ip = swar8((wd & ((1ull << sh) - 1)) | ((wd >> (sh + 8)) << sh),
				   (unsigned)(k - 1));
			if (ip >= 0) {
				*v = s[0] == '-' ? -(double)ip : (double)ip;
				*scale = (uint8_t)(k - d - 1);
				return true;
			}
		}
	}
	if (k - 1 < 16) {
#if defined(__SSE2__)
		unsigned dm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(
			_mm_loadu_si128((const void *)(s + i)), _mm_set1_epi8('.')));

		(void)dot;
		dm &= (unsigned)((1ul << k) - 1);
		d = dm ? (size_t)__builtin_ctz(dm) : k;
#else
		dot = memchr(s + i, '.', k);
		d = dot ? (size_t)(dot - (s + i)) : k;
#endif
		if (d - 1 < 16 && (d == k || (k - d - 1) - 1 < 16) && k <= 20) {
			ip = swar16(s + i, d);
			fp = d == k ? 0 : swar16(s + i + d + 1, k - d - 1);
			if ((ip | fp) >= 0) {
				size_t fd = d == k ? 0 : k - d - 1;
				uint64_t m = (uint64_t)ip * pow10_u64[fd] + (uint64_t)fp;

				/* Clinger: both exact, one correctly rounded division. */
				if (m <= (1ull << 53)) {
					double x = (double)m;

					*v = s[0] == '-' ? -x : x;
					*scale = (uint8_t)fd;
					return true;
				}
			}
		}
	}
	*scale = 0;
	return eau2_csv_parse_f64(s, n, v);
}

#ifdef HAVE_AVX2_PATH
/* v[i] /= 10^sc[i] for i in [from, n), four at a time (the same correctly
 * rounded quotients). */
__attribute__((target("avx2")))
static void scale_avx2(double *v, const uint8_t *sc, uint32_t from, uint32_t n)
{
	uint32_t i = from;

	for (; i + 4 <= n; i += 4) {
		uint32_t k;
		__m128i idx;

		memcpy(&k, sc + i, 4);
		idx = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)k));
		_mm256_storeu_pd(v + i, _mm256_div_pd(_mm256_loadu_pd(v + i),
			_mm256_i32gather_pd(pow10_f64, idx, 8)));
	}
	for (; i < n; i++)
		v[i] = v[i] / pow10_f64[sc[i]];
}
#endif

/* Divides the double columns' values [from, n) by their pending scale. */
static void scale_doubles(const struct csv_load *L, const struct csv_worker *w,
			  struct eau2_colbuf *cols, uint32_t from)
{
	for (size_t c = 0; c < L->ncols; c++) {
		const uint8_t *sc = w->scale + c * EAU2_CHUNK_ROWS;
		double *v = cols[c].v.f64;

		if (L->types[c] != EAU2_DOUBLE)
			continue;
#ifdef HAVE_AVX2_PATH
		if (use_avx2) {
			scale_avx2(v, sc, from, cols[c].n);
			continue;
		}
#endif
		for (uint32_t i = from; i < cols[c].n; i++)
			v[i] = v[i] / pow10_f64[sc[i]];
	}
}

/* A quoted field in the hot loop: its text (unescaped into the worker's
 * arena when it has doubled quotes) into *s, *n. False when it is not
 * well formed. Out of line: it keeps the hot loop's registers free. */
__attribute__((noinline, cold))
static bool fast_unquote(const uint8_t *map, struct csv_worker *w, size_t fs,
			 const char **s, size_t *n)
{
	struct fspan f = { .off = fs, .len = *n, .q = true };
	size_t boff, bad;

	w->used = 0;
	if (csv_unquote(map, &f, &w->arena, &w->cap, &w->used, &boff, n, &bad))
		return false;
	*s = boff == SIZE_MAX ? (const char *)map + fs + 1 : w->arena + boff;
	return true;
}

/* A bool field other than 0/1: true/false (recording the kind). */
__attribute__((noinline))
static bool fast_bool(struct csv_worker *w, size_t c, const char *s, size_t n,
		      struct eau2_colbuf *cb, uint32_t r)
{
	bool v;

	if (n == 1 && (s[0] == '0' || s[0] == '1'))
		v = s[0] == '1';
	else if (eau2_csv_parse_bool(s, n, &v))
		w->kinds[c] |= EAU2_KIND_TF;
	else
		return false;
	if (v)
		cb->v.bits[r >> 3] |= (uint8_t)(1u << (r & 7));
	return true;
}

/* A string field that does not take the two fixed 16-byte moves. */
__attribute__((noinline))
static int fast_str_slow(eau2_builder *b, struct eau2_colbuf *cb, size_t c,
			 const char *s, size_t n, uint32_t r,
			 struct eau2_error *err)
{
	if (cb->data_cap - cb->data_len < n + 32 &&
	    eau2_builder_reserve_data(b, c, n + 32, err))
		return -1;
	memcpy(cb->data + cb->data_len, s, n);
	cb->data_len += n;
	cb->v.i64[r + 1] = (int64_t)cb->data_len;
	return 0;
}

/* ------------------------------------------------------------ batches
 * The per-field loop below decides for every field which event ends it,
 * which column it is and how to convert it, all in one loop that holds
 * every column type's code. On a run of plain records (no quote, no NUL,
 * each of ncols fields) csv_batch does the same work in two passes over
 * at most BATCH_BYTES: the first lists the offsets of the field ends and
 * of the line ends (a few instructions a 64-byte block and a field) and
 * checks that line k ends field (k + 1) * ncols; the second converts
 * column by column, each column in a loop of its own type. A field its
 * column's loop cannot take cuts the batch before that field's row;
 * csv_fast then reads that row field by field as before (and reports it,
 * or widens its column). Nothing of the rows past a cut is kept. */
#define BATCH_BYTES (16u << 10)
#define BATCH_EV (BATCH_BYTES + 128) /* entries of the list (64 of slack) */

struct bscan {
	uint32_t *ev;  /* field ends; ev[0] = UINT32_MAX, the end before */
	uint64_t *nl;  /* per 64-byte block: its line ends (a mask) */
	uint32_t *nlc; /* per block: the line ends before it */
	uint32_t nev, nnl, nblk;
};

/* Appends base + the offsets of m's set bits to out[*cnt...], eight at a
 * time: the writes past the last are scratch (the list has 8 of slack). */
__attribute__((always_inline))
static inline void flatten(uint32_t *out, uint32_t *cnt, uint32_t base, uint64_t m)
{
	uint32_t *o = out + *cnt;

	*cnt += (uint32_t)__builtin_popcountll(m);
	while (m) {
#define FLAT1(i) (o[i] = base + (uint32_t)__builtin_ctzll(m | (1ull << 63)), m &= m - 1)
		FLAT1(0); FLAT1(1); FLAT1(2); FLAT1(3);
		FLAT1(4); FLAT1(5); FLAT1(6); FLAT1(7);
#undef FLAT1
		o += 8;
	}
}

/* One 64-byte block at offset base of a batch: false at its first quote
 * or NUL (events from there on are not listed). */
__attribute__((always_inline))
static inline bool bscan_block(struct bscan *s, uint32_t base, uint64_t d,
			       uint64_t n, uint64_t sp, uint64_t valid)
{
	bool more = true;

	sp &= valid;
	if (sp) {
		valid &= (sp & -sp) - 1;
		more = false;
	}
	flatten(s->ev, &s->nev, base, (d | n) & valid);
	s->nl[s->nblk] = n & valid;
	s->nlc[s->nblk++] = s->nnl;
	s->nnl += (uint32_t)__builtin_popcountll(n & valid);
	return more;
}

/* Lists the field and line ends of map[at, at + len) up to its first
 * quote or NUL, with the block masks of masks (inlined into each of the
 * callers below); len <= BATCH_BYTES and at + len + 64 <= the map's
 * size. */
__attribute__((always_inline))
static inline void bscan_with(const uint8_t *map, size_t at, size_t len, uint8_t delim,
			      struct bscan *s,
			      void (*masks)(const uint8_t *, uint8_t, uint64_t *,
					    uint64_t *, uint64_t *, uint64_t *))
{
	s->ev[0] = UINT32_MAX;
	s->nev = 1;
	s->nnl = s->nblk = 0;
	for (size_t o = 0; o < len; o += 64) {
		uint64_t d, n, q, z;

		/* The hardware streamer stops at page ends: ask ahead. */
		__builtin_prefetch(map + at + o + 1024);
		masks(map + at + o, delim, &d, &n, &q, &z);
		if (!bscan_block(s, (uint32_t)o, d, n, q | z,
				 len - o >= 64 ? ~0ull : (1ull << (len - o)) - 1))
			break;
	}
}

static void bscan(const uint8_t *map, size_t at, size_t len, uint8_t delim,
		  struct bscan *s)
{
	bscan_with(map, at, len, delim, s, masks64);
}

#ifdef HAVE_AVX2_PATH
__attribute__((target("avx2,popcnt,bmi")))
static void bscan_avx2(const uint8_t *map, size_t at, size_t len, uint8_t delim,
		       struct bscan *s)
{
	bscan_with(map, at, len, delim, s, masks64_avx2);
}

/* bscan with AVX-512: a block's masks straight from compares, and its
 * field ends listed by one byte compress (VBMI2), 16 offsets a store,
 * instead of a bit at a time. */
__attribute__((target("avx2,popcnt,bmi,avx512f,avx512bw,avx512vl,avx512vbmi2")))
static void bscan_vbmi2(const uint8_t *map, size_t at, size_t len, uint8_t delim,
			struct bscan *s)
{
	const __m512i cd = _mm512_set1_epi8((char)delim);
	const __m512i cn = _mm512_set1_epi8('\n'), cq = _mm512_set1_epi8('"');
	const __m512i iota = _mm512_set_epi8(
		63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48,
		47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
		31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
		15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);

	s->ev[0] = UINT32_MAX;
	s->nev = 1;
	s->nnl = s->nblk = 0;
	for (size_t o = 0; o < len; o += 64) {
		__m512i v = _mm512_loadu_si512((const void *)(map + at + o));
		uint64_t valid = len - o >= 64 ? ~0ull : (1ull << (len - o)) - 1;
		uint64_t n = _mm512_cmpeq_epi8_mask(v, cn);
		uint64_t m = _mm512_cmpeq_epi8_mask(v, cd) | n;
		uint64_t sp = (_mm512_cmpeq_epi8_mask(v, cq) |
			       _mm512_testn_epi8_mask(v, v)) & valid;
		__m512i pos, base = _mm512_set1_epi32((int)o);
		uint32_t *out = s->ev + s->nev, cnt;

		__builtin_prefetch(map + at + o + 1024);
		if (sp)
			valid &= (sp & -sp) - 1;
		m &= valid;
		n &= valid;
		cnt = (uint32_t)__builtin_popcountll(m);
		pos = _mm512_maskz_compress_epi8(m, iota);
		_mm512_storeu_si512(out, _mm512_add_epi32(base,
			_mm512_cvtepu8_epi32(_mm512_castsi512_si128(pos))));
		if (__builtin_expect(cnt > 16, 0)) {
			_mm512_storeu_si512(out + 16, _mm512_add_epi32(base,
				_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(pos, 1))));
			_mm512_storeu_si512(out + 32, _mm512_add_epi32(base,
				_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(pos, 2))));
			_mm512_storeu_si512(out + 48, _mm512_add_epi32(base,
				_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(pos, 3))));
		}
		s->nev += cnt;
		s->nl[s->nblk] = n;
		s->nlc[s->nblk++] = s->nnl;
		s->nnl += (uint32_t)__builtin_popcountll(n);
		if (sp)
			break;
	}
}

/* Sixteen rows of an int column at once, when each is 1..4 digits
 * without a sign (else false, and nothing is stored): ev points at the
 * first row's field end before the column, nc apart. The same
 * arithmetic as short_i64, a lane per row. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl")))
static bool ints16(const uint32_t *ev, size_t nc, const char *base, int64_t *v)
{
	const __m512i one = _mm512_set1_epi32(1);
	__m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
							  7, 6, 5, 4, 3, 2, 1, 0),
					 _mm512_set1_epi32((int)nc));
	__m512i e0 = _mm512_i32gather_epi32(idx, (const void *)ev, 4);
	__m512i e1 = _mm512_i32gather_epi32(idx, (const void *)(ev + 1), 4);
	__m512i st = _mm512_add_epi32(e0, one);
	__m512i len = _mm512_sub_epi32(e1, st), sh, w, d;

	if (_mm512_cmpge_epu32_mask(_mm512_sub_epi32(len, one), _mm512_set1_epi32(4)))
		return false;
	w = _mm512_i32gather_epi32(st, (const void *)base, 1);
	/* The digits to the high bytes, '0's before them. */
	sh = _mm512_sub_epi32(_mm512_set1_epi32(32), _mm512_slli_epi32(len, 3));
	w = _mm512_or_si512(_mm512_sllv_epi32(w, sh),
			    _mm512_andnot_si512(_mm512_sllv_epi32(_mm512_set1_epi32(-1), sh),
						_mm512_set1_epi32(0x30303030)));
	d = _mm512_sub_epi8(w, _mm512_set1_epi8('0'));
	if (_mm512_cmpge_epu8_mask(d, _mm512_set1_epi8(10)))
		return false;
	/* Pairs d0 * 10 + d1 in 16 bits, then p0 * 100 + p1 in 32. */
	d = _mm512_madd_epi16(_mm512_maddubs_epi16(d, _mm512_set1_epi16(0x010a)),
			      _mm512_set1_epi32(0x00010064));
	_mm512_storeu_si512((void *)v, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(d)));
	_mm512_storeu_si512((void *)(v + 8),
			    _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(d, 1)));
	return true;
}

/* Eight rows of a double column at once, when each is 3..8 bytes of
 * digits with one dot inside (not first, not last), no sign: fast_f64's
 * first path a lane per row (the digits without the dot as an integer,
 * the decimals into sc). Else false, and nothing is stored. */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512dq,avx512cd")))
static bool dbl8(const uint32_t *ev, size_t nc, const char *base, double *v,
		 uint8_t *sc)
{
	const __m512i one = _mm512_set1_epi64(1);
	__m256i idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0),
					 _mm256_set1_epi32((int)nc));
	__m256i e0 = _mm256_i32gather_epi32((const int *)ev, idx, 4);
	__m256i e1 = _mm256_i32gather_epi32((const int *)(ev + 1), idx, 4);
	__m256i st = _mm256_add_epi32(e0, _mm256_set1_epi32(1));
	__m256i len = _mm256_sub_epi32(e1, st);
	__m512i w, n, nb, x, sh, low, s2, dg;
	__mmask64 in, dot, bad, last;

	if (_mm256_cmpge_epu32_mask(_mm256_sub_epi32(len, _mm256_set1_epi32(3)),
				    _mm256_set1_epi32(6)))
		return false;
	w = _mm512_i32gather_epi64(st, (const void *)base, 1);
	n = _mm512_cvtepu32_epi64(len);
	nb = _mm512_mullo_epi64(n, _mm512_set1_epi64(0x0101010101010101ll));
	x = _mm512_set1_epi64(0x0706050403020100ll); /* byte indices */
	in = _mm512_cmplt_epu8_mask(x, nb);
	last = _mm512_cmpeq_epi8_mask(x, _mm512_sub_epi8(nb, _mm512_set1_epi8(1)));
	dot = _mm512_mask_cmpeq_epi8_mask(in, w, _mm512_set1_epi8('.'));
	bad = _mm512_mask_cmpge_epu8_mask(in & ~dot, _mm512_sub_epi8(w, _mm512_set1_epi8('0')),
					  _mm512_set1_epi8(10));
	if (bad | (dot & 0x0101010101010101ull) | (dot & last))
		return false;
	/* One dot in every lane: a single bit each. */
	x = _mm512_maskz_mov_epi8(dot, _mm512_set1_epi8(1));
	if (_mm512_test_epi64_mask(x, x) != 0xff ||
	    _mm512_test_epi64_mask(x, _mm512_sub_epi64(x, one)))
		return false;
	/* Drop the dot: the bytes after it move down one. */
	sh = _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(x)); /* 8 * dot */
	low = _mm512_sub_epi64(_mm512_sllv_epi64(one, sh), one);
	w = _mm512_or_si512(_mm512_and_si512(w, low),
			    _mm512_andnot_si512(low, _mm512_srli_epi64(w, 8)));
	/* The n - 1 digits to the high bytes, '0's before them. */
	s2 = _mm512_sub_epi64(_mm512_set1_epi64(72), _mm512_slli_epi64(n, 3));
	w = _mm512_or_si512(_mm512_sllv_epi64(w, s2),
			    _mm512_andnot_si512(_mm512_sllv_epi64(_mm512_set1_epi64(-1), s2),
						_mm512_set1_epi64(0x3030303030303030ll)));
	dg = _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_sub_epi8(w, _mm512_set1_epi8('0')),
						    _mm512_set1_epi16(0x010a)),
			       _mm512_set1_epi32(0x00010064));
	dg = _mm512_add_epi64(_mm512_mul_epu32(dg, _mm512_set1_epi64(10000)),
			      _mm512_srli_epi64(dg, 32));
	_mm512_storeu_pd(v, _mm512_cvtepu64_pd(dg));
	_mm_storel_epi64((__m128i *)(void *)sc, _mm512_cvtepi64_epi8(
		_mm512_sub_epi64(_mm512_sub_epi64(n, one), _mm512_srli_epi64(sh, 3))));
	return true;
}
#endif

/* Line ends up to offset x of a batch (x included). */
static inline uint32_t bnl_upto(const struct bscan *s, uint32_t x)
{
	return s->nlc[x >> 6] + (uint32_t)__builtin_popcountll(
		s->nl[x >> 6] & (~0ull >> (63 - (x & 63))));
}

/* The rows of a batch that are records of nc fields, at most k: row j
 * ends at field end (j + 1) * nc, a line end, and no other line end
 * comes before it since row j - 1's. */
static uint32_t bsplit(const struct bscan *s, size_t nc, uint32_t k)
{
	uint32_t j;

	if ((size_t)k * nc >= s->nev)
		k = (uint32_t)((s->nev - 1) / nc);
	for (j = 0; j < k; j++) {
		uint32_t e = s->ev[(size_t)(j + 1) * nc];

		if (!(s->nl[e >> 6] >> (e & 63) & 1))
			break;
	}
	k = j;
	/* Every row ends at a line end: the rows are right when these are
	 * all the line ends (the usual case: one test for the batch). */
	if (k == 0 || bnl_upto(s, s->ev[(size_t)k * nc]) == k)
		return k;
	for (j = 0; j < k; j++)
		if (bnl_upto(s, s->ev[(size_t)(j + 1) * nc]) != j + 1)
			break;
	return j;
}

/* Field c of batch row j: its text at *f (offsets from map + at), its
 * length the return; a CR before the line end is not part of the last. */
#define BFIELD(ev, nc, j, c, last, base, f) __extension__ ({		\
	const uint32_t *e_ = (ev) + (size_t)(j) * (nc) + (c);		\
	size_t n_ = (uint32_t)(e_[1] - e_[0] - 1);			\
	(f) = (const char *)(base) + (uint32_t)(e_[0] + 1);		\
	if ((last) && n_ && (f)[n_ - 1] == '\r')			\
		n_--;							\
	n_; })

/* Notes the empty field of column c, batch row j (a null if the row is
 * taken). */
static inline void bnull_add(uint32_t *nulls, uint32_t *nnull, size_t c, uint32_t j)
{
	nulls[2 * *nnull] = (uint32_t)c;
	nulls[2 * (*nnull)++ + 1] = j;
}

/* Rows [0, k) of number column c of a batch into v (dbl: doubles, their
 * scales into sc; else ints): 16 ints or 8 doubles at a time by ints16
 * or dbl8 where AVX-512 has them, else field by field; an empty field is
 * noted as a null. Returns the rows converted before the first that is
 * not a short number (k: all). Inlined with dbl a constant: one loop
 * each, as if written twice. */
__attribute__((always_inline))
static inline uint32_t batch_nums(const bool dbl, const uint32_t *ev, size_t nc, size_t c,
				  bool lc, const char *base, uint32_t k, void *v,
				  uint8_t *sc, uint32_t *nulls, uint32_t *nnull)
{
	const uint32_t lanes = dbl ? 8 : 16;
	int64_t *vi = v;
	double *vd = v;
	uint32_t j;

	for (j = 0; j < k;) {
		uint32_t end = k - j > lanes ? j + lanes : k;

#ifdef HAVE_AVX2_PATH
		/* A CR before a line end is no digit: the row goes to the
		 * field-by-field loop, which drops it. */
		if (use_avx512 && end == j + lanes &&
		    (dbl ? dbl8(ev + (size_t)j * nc + c, nc, base, vd + j, sc + j) :
			   ints16(ev + (size_t)j * nc + c, nc, base, vi + j))) {
			j = end;
			continue;
		}
#endif
		for (; j < end; j++) {
			const char *f;
			size_t n = BFIELD(ev, nc, j, c, lc, base, f);

			if (__builtin_expect(n == 0, 0)) {
				if (dbl)
					sc[j] = 0;
				bnull_add(nulls, nnull, c, j);
				continue;
			}
			if (!(dbl ? fast_f64(f, n, &vd[j], &sc[j]) : short_i64(f, n, &vi[j])))
				break;
		}
		if (j < end)
			break;
	}
	return j;
}

/* Converts up to maxrows plain records from map + at (none past
 * at + len, len <= BATCH_BYTES, at + len + 64 <= size: every field has
 * FAST_SLACK readable bytes) into cols[*] at row r, as csv_fast would.
 * Returns the rows taken (0: none) and *next, the offset after them. The
 * columns' n stay r: the caller adds the rows. */
static uint32_t csv_batch(struct csv_load *L, struct csv_worker *w,
			  eau2_builder *b, struct eau2_colbuf *cols, size_t at,
			  size_t len, uint32_t r, uint32_t maxrows, size_t *next)
{
	const uint8_t *map = L->ctx->map;
	const char *base = (const char *)map + at;
	const size_t nc = L->ncols, last = nc - 1;
	struct bscan s = {
		.ev = w->bev, .nl = w->bnl,
		.nlc = (uint32_t *)(w->bnl + BATCH_BYTES / 64),
	};
	uint32_t *nulls = w->bnull, nnull = 0, k, kmax, j = 0;
	const uint32_t *ev;

#ifdef HAVE_AVX2_PATH
	if (use_avx512)
		bscan_vbmi2(map, at, len, (uint8_t)L->ctx->opt.delim, &s);
	else if (use_avx2)
		bscan_avx2(map, at, len, (uint8_t)L->ctx->opt.delim, &s);
	else
#endif
		bscan(map, at, len, (uint8_t)L->ctx->opt.delim, &s);
	ev = s.ev;
	k = s.nnl < maxrows ? s.nnl : maxrows;
	k = bsplit(&s, nc, k);
	kmax = k;
	for (size_t c = 0; c < nc && k; c++) {
		struct eau2_colbuf *cb = &cols[c];
		const bool lc = c == last;
		const char *f;
		size_t n;

		switch (L->ftypes[c]) {
		case EAU2_INT:
			j = batch_nums(false, ev, nc, c, lc, base, k, cb->v.i64 + r, NULL,
				       nulls, &nnull);
			break;
		case EAU2_DOUBLE:
			j = batch_nums(true, ev, nc, c, lc, base, k, cb->v.f64 + r,
				       w->scale + c * EAU2_CHUNK_ROWS + r, nulls, &nnull);
			break;
		case EAU2_BOOL:
			for (j = 0; j < k; j++) {
				uint32_t row = r + j;

				n = BFIELD(ev, nc, j, c, lc, base, f);
				if (__builtin_expect(n == 0, 0)) {
					bnull_add(nulls, &nnull, c, j);
					continue;
				}
				if (n != 1 || (uint8_t)(f[0] - '0') > 1)
					break;
				cb->v.bits[row >> 3] |= (uint8_t)((f[0] - '0') << (row & 7));
			}
			break;
		case EAU2_STRING: {
			/* Room for the whole batch (and 32 bytes of scratch) once. */
			int64_t *o = cb->v.i64 + r + 1;
			uint64_t used;
			char *d;

			if (eau2_builder_reserve_data(b, c, ev[k * nc] + 64, NULL)) {
				k = 0; /* the per-field loop reports it */
				break;
			}
			d = cb->data;
			used = cb->data_len;
			for (j = 0; j < k; j++) {
				n = BFIELD(ev, nc, j, c, lc, base, f);
				if (__builtin_expect(n == 0, 0)) {
					bnull_add(nulls, &nnull, c, j);
				} else if (__builtin_expect(n <= 32, 1)) {
					memcpy(d + used, f, 16);
					memcpy(d + used + 16, f + 16, 16);
				} else {
					memcpy(d + used, f, n);
				}
				used += n;
				o[j] = (int64_t)used;
			}
			break;
		}
		default: /* not batched: see csv_fast */
			j = 0;
			break;
		}
		k = j;
	}
	/* Bits of rows not taken must stay clear: the per-field loop ORs
	 * its ones in. */
	for (size_t c = 0; c < nc; c++) {
		struct eau2_colbuf *cb = &cols[c];

		if (cb->type == EAU2_STRING)
			cb->data_len = (uint64_t)cb->v.i64[r + k];
		else if (cb->type == EAU2_BOOL)
			for (j = k; j < kmax; j++)
				cb->v.bits[(r + j) >> 3] &= (uint8_t)~(1u << ((r + j) & 7));
	}
	for (uint32_t i = 0; i < nnull; i++) {
		size_t c = nulls[2 * i];

		if (nulls[2 * i + 1] >= k)
			continue;
		cols[c].n = r + nulls[2 * i + 1];
		eau2_builder_put_null(b, c);
	}
	for (size_t c = 0; c < nc; c++)
		cols[c].n = r;
	*next = at + (k ? (size_t)ev[k * nc] + 1 : 0);
	return k;
}

/* The hot loop for clean records when a bad row fails the load: each field
 * is converted and written into its column's pending chunk (the builder's
 * bulk path) as soon as it ends. A record that is not clean (wrong field
 * count, bad quoting, NUL, a value that does not fit) makes it return
 * FAST_BAIL with *pos at that record's start, for the careful path to
 * report or to flag a restart: the values it already wrote do not matter
 * then, as the builder is dropped either way (and a part whose columns are
 * out of step is refused on entry). FAST_YIELD every ~8 MiB lets the
 * caller report progress; FAST_FAIL is a builder error.
 *
 * The tokenizer's block state (offset, pending events, newline and
 * quote/NUL masks) lives in locals here and goes back into *t on return,
 * and every column's row count is the one local r while a row is read
 * (all columns are in step): the loop touches memory only for the values
 * it writes. Each event is a field end unless it is a quote or a NUL (one
 * test of the special mask); a newline must end the last field and only
 * the last one. */
__attribute__((noinline))
static int csv_fast(struct csv_load *L, struct csv_worker *w, struct piece *p,
		    struct tok *t, size_t *pos, size_t yield_at,
		    struct eau2_error *err)
{
	const uint8_t *map = L->ctx->map;
	const size_t size = L->ctx->size;
	const size_t safe = size >= FAST_SLACK ? size - FAST_SLACK : 0;
	const int *types = L->ftypes;
	const bool inferred = !L->explicit_types;
	eau2_builder *b = p->part;
	struct eau2_colbuf *cols = eau2_builder_colbufs(b);
	const size_t ncols = L->ncols, last = ncols - 1, pend = p->end;
	const size_t tend = t->end;
	size_t blk = t->blk, at = *pos, e = 0, c = 0;
	uint64_t ev = t->ev, nl = t->nl, sp = t->q | t->nul;
	uint64_t rows = 0;
	uint32_t from, r;
	uint8_t *scale;
	size_t batch_at = at; /* csv_batch is tried from here on */
	bool batch = true;
	int ret = FAST_END;

	if (ncols == 0)
		return FAST_BAIL;
	for (size_t k = 0; k < ncols; k++)
		batch = batch && types[k] != CSV_UNSEEN;
	if (batch && !w->bev) {
		w->bev = malloc(BATCH_EV * sizeof(uint32_t));
		w->bnl = malloc(BATCH_BYTES / 64 * (sizeof(uint64_t) + sizeof(uint32_t)));
		w->bnull = malloc(2 * BATCH_EV * sizeof(uint32_t));
		if (!w->bev || !w->bnl || !w->bnull) {
			eau2_error_set(err, -ENOMEM, "out of memory");
			return FAST_FAIL;
		}
	}
	for (size_t k = 1; k < ncols; k++)
		if (cols[k].n != cols[0].n) {
			eau2_error_set(err, -EIO, "internal: columns out of step");
			return FAST_FAIL;
		}
	if (!w->scale && !(w->scale = malloc(ncols * EAU2_CHUNK_ROWS))) {
		eau2_error_set(err, -ENOMEM, "out of memory");
		return FAST_FAIL;
	}
	scale = w->scale;
	from = r = cols[0].n;
	while (at < pend) {
		size_t rec = at, fs = rec;
		unsigned nq = 0;
		bool hasq = false;

		if (__builtin_expect(rec >= yield_at, 0)) {
			ret = FAST_YIELD;
			break;
		}
		if (__builtin_expect(r == EAU2_CHUNK_ROWS, 0)) {
			for (size_t k = 0; k < ncols; k++)
				cols[k].n = r;
			scale_doubles(L, w, cols, from);
			from = r = 0;
			if (eau2_builder_seal_full(b, err)) {
				ret = FAST_FAIL;
				c = 0;
				goto out;
			}
		}
		if (batch && at >= batch_at) {
			size_t len = (pend < safe ? pend : safe);
			uint32_t k;

			len = len > at ? len - at : 0;
			len = len < BATCH_BYTES ? len : BATCH_BYTES;
			k = len ? csv_batch(L, w, b, cols, at, len, r,
					    EAU2_CHUNK_ROWS - r, &at) : 0;
			if (k < 16 && k < EAU2_CHUNK_ROWS - r)
				batch_at = at + 4 * BATCH_BYTES; /* not worth it here */
			if (k) {
				r += k;
				rows += k;
				if (at - blk >= 64) {
					/* No quote in [rec, at): outside quotes here. */
					blk += (at - blk) & ~(size_t)63;
					t->blk = blk;
					t->carry = 0;
					if (blk < tend) {
#ifdef HAVE_AVX2_PATH
						if (use_avx2)
							tok_block_avx2(t);
						else
#endif
							tok_block(t);
					}
					ev = blk < tend ? t->ev : 0;
					nl = t->nl;
					sp = t->q | t->nul;
				}
				ev &= ~0ull << (at - blk);
				continue;
			}
		}
		c = 0;
		for (;;) {
			struct eau2_colbuf *cb;
			const char *s;
			uint64_t bit;
			size_t n;
			bool isnl, inmap = false;

			while (__builtin_expect(ev == 0, 0)) {
				blk += 64;
				if (blk >= tend)
					goto bail;
				t->blk = blk;
#ifdef HAVE_AVX2_PATH
				if (use_avx2)
					tok_block_avx2(t);
				else
#endif
					tok_block(t);
				ev = t->ev;
				nl = t->nl;
				sp = t->q | t->nul;
			}
			bit = ev & -ev;
			e = blk + (size_t)__builtin_ctzll(ev);
			ev ^= bit;
			if (__builtin_expect((sp & bit) != 0, 0)) {
				if (t->nul & bit)
					goto bail;
				hasq = true;
				nq++;
				continue;
			}
			isnl = (nl & bit) != 0;
			n = e - fs;
			if (isnl && n && map[e - 1] == '\r')
				n--;
			if (__builtin_expect(isnl != (c == last), 0)) {
				if (isnl && c == 0 && n == 0 && !hasq)
					break; /* blank line */
				goto bail;
			}
			s = (const char *)map + fs;
			cb = &cols[c];
			if (__builtin_expect(hasq, 0)) {
				/* Two quotes, at its first and last byte: "text". */
				if (nq == 2 && n >= 2 && s[0] == '"' && s[n - 1] == '"') {
					s++;
					n -= 2;
					inmap = true;
				} else if (!fast_unquote(map, w, fs, &s, &n)) {
					goto bail;
				}
				if (inferred && types[c] != EAU2_STRING && types[c] != CSV_UNSEEN)
					goto bail; /* a quoted value is a string */
			} else if (__builtin_expect(n == 0, 0)) {
				scale[c * EAU2_CHUNK_ROWS + r] = 0;
				cb->n = r;
				eau2_builder_put_null(b, c);
				goto next;
			}
			switch (types[c]) {
			case EAU2_INT:
				if (__builtin_expect(!hasq && fs <= safe, 1)) {
					if (!fast_i64(s, n, &cb->v.i64[r]))
						goto bail;
				} else if (!eau2_load_parse_i64(s, n, &cb->v.i64[r])) {
					goto bail;
				}
				break;
			case EAU2_DOUBLE: {
				uint8_t *sc = &scale[c * EAU2_CHUNK_ROWS + r];

				if (__builtin_expect(!hasq && fs <= safe, 1)) {
					if (!fast_f64(s, n, &cb->v.f64[r], sc))
						goto bail;
				} else {
					*sc = 0;
					if (!eau2_csv_parse_f64(s, n, &cb->v.f64[r]))
						goto bail;
				}
				break;
			}
			case EAU2_BOOL:
				/* 0/1 here, no call: the OR of a 0 changes nothing. */
				if (n == 1 && (uint8_t)(s[0] - '0') <= 1)
					cb->v.bits[r >> 3] |= (uint8_t)((s[0] - '0') << (r & 7));
				else if (!fast_bool(w, c, s, n, cb, r))
					goto bail;
				break;
			case CSV_UNSEEN:
				w->kinds[c] |= hasq ? EAU2_KIND_STR : eau2_csv_kind(s, n);
				/* fall through */
			default:
				if (__builtin_expect(n <= 32 && (!hasq || inmap) && fs <= safe &&
						     cb->data_cap - cb->data_len >= 64, 1)) {
					/* Short strings: two fixed 16-byte moves
					 * (the slack past data_len is scratch). */
					char *d = cb->data + cb->data_len;

					memcpy(d, s, 16);
					memcpy(d + 16, s + 16, 16);
					cb->data_len += n;
					cb->v.i64[r + 1] = (int64_t)cb->data_len;
				} else if (fast_str_slow(b, cb, c, s, n, r, err)) {
					ret = FAST_FAIL;
					goto out;
				}
				break;
			}
next:
			c++;
			fs = e + 1;
			hasq = false;
			nq = 0;
			if (isnl)
				break;
		}
		at = e + 1;
		if (c) {
			rows++;
			r++;
		}
		c = 0;
	}
	goto out;
bail:
	ret = FAST_BAIL; /* at is still the record's start */
out:
	/* Columns before c hold a value of the row being read. */
	for (size_t k = 0; k < ncols; k++)
		cols[k].n = r + (k < c);
	scale_doubles(L, w, cols, from);
	t->blk = blk;
	t->ev = ev;
	p->rows += rows;
	*pos = at;
	return ret;
}

/* Maps the pages of map[from, to) in one call rather than one fault at a
 * time, for the first pass over them. Bounded by a piece, so files larger
 * than memory still stream. */
static void populate(const uint8_t *map, size_t from, size_t to)
{
#ifdef MADV_POPULATE_READ
	uintptr_t a = (uintptr_t)(map + from) & ~(uintptr_t)4095;
	uintptr_t b = (uintptr_t)(map + to);

	if (b > a)
		madvise((void *)a, b - a, MADV_POPULATE_READ);
#else
	(void)map;
	(void)from;
	(void)to;
#endif
}

/* Piece i's part, for eau2_load_join_done: once it is done and did not
 * fail, until a restart is flagged. Under L->lock. */
static eau2_builder **done_part(void *arg, size_t i)
{
	struct csv_load *L = arg;
	struct piece *p = &L->pieces[i];

	if (!p->done || p->code || atomic_load(&L->restart))
		return NULL;
	return &p->part;
}

/* Parses piece idx into its own builder part; with check set (or once a
 * restart is flagged) only classifies. */
static void csv_piece(void *arg, size_t idx, unsigned worker)
{
	struct csv_load *L = arg;
	struct eau2_load_ctx *ctx = L->ctx;
	struct csv_worker *w = &L->workers[worker];
	struct piece *p = &L->pieces[idx];
	struct eau2_error err = { 0 };
	struct tok t;
	size_t pos = p->start, nf, bad = 0;
	bool check = atomic_load(&L->restart);
	uint64_t reported = 0;
	int rc;

	if (idx > atomic_load(&L->fail_piece) || p->start >= p->end ||
	    atomic_load(&L->missplit))
		goto done;
	if (!L->exact)
		populate(ctx->map, p->start, p->end);
	if (!check) {
		pthread_mutex_lock(&L->lock);
		rc = eau2_builder_fork(L->b, &p->part, &err);
		pthread_mutex_unlock(&L->lock);
		if (rc) {
			piece_fail(L, idx, rc, SIZE_MAX, "%s", err.msg);
			goto done;
		}
	}
	tok_init(&t, ctx->map, ctx->size, L->vnl, (uint8_t)ctx->opt.delim,
		 p->start, p->end == ctx->size && L->vnl ? ctx->size + 1 : p->end);
	while (pos < p->end) {
		size_t rec = pos;
		const char *why = NULL;

		if ((pos - p->start) - reported >= (8u << 20)) {
			atomic_fetch_add(&ctx->bytes_done, (pos - p->start) - reported);
			reported = pos - p->start;
			if (idx > atomic_load(&L->fail_piece) || atomic_load(&L->missplit))
				goto done;
			check = check || atomic_load(&L->restart);
		}
		if (!check && !L->skip_bad) {
			rc = csv_fast(L, w, p, &t, &pos, p->start + reported + (8u << 20), &err);
			if (rc == FAST_END)
				break;
			if (rc == FAST_FAIL) {
				piece_fail(L, idx, err.code ? err.code : -EIO, SIZE_MAX,
					   "%s", err.msg);
				goto done;
			}
			if (rc == FAST_YIELD)
				continue;
			/* FAST_BAIL: this record again, carefully. */
			tok_init(&t, ctx->map, ctx->size, L->vnl, (uint8_t)ctx->opt.delim,
				 pos, t.end);
			rec = pos;
		}
		rc = csv_record(&t, &pos, w->f, L->ncols, &nf, &bad);
		if (rc == REC_END)
			break;
		if (rc == REC_UNTERMINATED) {
			if (!L->exact && p->end < ctx->size) {
				/* Not the last piece: the next start was guessed
				 * inside quotes (or a quote runs on past this
				 * piece); the exact split tells which. */
				atomic_store(&L->missplit, true);
				goto done;
			}
			if (L->skip_bad) {
				piece_skip(p, bad, "unterminated quoted field");
				break;
			}
			piece_fail(L, idx, -EBADMSG, bad, "unterminated quoted field");
			goto done;
		}
		if (rc == REC_NUL) {
			why = "NUL byte (binary file?)";
		} else if (blank(L, w->f, nf)) {
			continue;
		} else if (nf != L->ncols) {
			if (L->skip_bad) {
				piece_skip(p, rec, "expected %zu fields, got %zu",
					   L->ncols, nf);
				continue;
			}
			piece_fail(L, idx, -EBADMSG, rec, "expected %zu fields, got %zu",
				   L->ncols, nf);
			goto done;
		}
		if (why) {
			if (L->skip_bad) {
				piece_skip(p, bad, "%s", why);
				continue;
			}
			piece_fail(L, idx, -EBADMSG, bad, "%s", why);
			goto done;
		}
		w->used = 0;
		for (size_t c = 0; c < nf; c++) {
			struct fspan *f = &w->f[c];
			struct fval *v = &w->v[c];
			const char *s = (const char *)ctx->map + f->off;
			size_t n = f->len;

			v->boff = SIZE_MAX;
			if (f->q) {
				why = csv_unquote(ctx->map, f, &w->arena, &w->cap,
						  &w->used, &v->boff, &n, &bad);
				if (why)
					break;
				s = v->boff == SIZE_MAX ? s + 1 : NULL;
			}
			if (check) {
				w->kinds[c] |= f->q ? EAU2_KIND_STR : eau2_csv_kind(s, n);
				continue;
			}
			if (!s)
				s = w->arena + v->boff;
			if (!convert(L, w, c, s, n, f->q, v)) {
				if (!L->explicit_types) {
					w->kinds[c] |= f->q ? EAU2_KIND_STR :
						eau2_csv_kind(s, n);
					atomic_store(&L->restart, true);
					check = true;
					continue;
				}
				bad = f->off;
				if (L->skip_bad) {
					piece_skip(p, bad, "column %s: \"%.*s\" is not a valid %s",
						   eau2_schema_name(eau2_builder_schema(L->b), c),
						   (int)(n > 40 ? 40 : n), s,
						   eau2_type_name(L->types[c]));
					why = "";
					break;
				}
				piece_fail(L, idx, -EBADMSG, bad,
					   "column %s: \"%.*s\" is not a valid %s",
					   eau2_schema_name(eau2_builder_schema(L->b), c),
					   (int)(n > 40 ? 40 : n), s,
					   eau2_type_name(L->types[c]));
				goto done;
			}
			if (L->ftypes[c] == CSV_UNSEEN && !v->null)
				w->kinds[c] |= f->q ? EAU2_KIND_STR : eau2_csv_kind(s, n);
		}
		if (why) {
			if (!*why)
				continue; /* already counted */
			if (L->skip_bad) {
				piece_skip(p, bad, "%s", why);
				continue;
			}
			piece_fail(L, idx, -EBADMSG, bad, "%s", why);
			goto done;
		}
		if (check)
			continue;
		for (size_t c = 0; c < nf; c++)
			if (w->v[c].boff != SIZE_MAX)
				w->v[c].s = w->arena + w->v[c].boff;
		rc = append_row(L, p->part, w->v, &err);
		if (rc) {
			piece_fail(L, idx, rc, SIZE_MAX, "%s", err.msg);
			goto done;
		}
		p->rows++;
	}
done:
	atomic_fetch_add(&ctx->bytes_done, (p->end - p->start) - reported);
	/* The part's last short row group, written here rather than by its
	 * join under the lock, where the other threads would wait for it. */
	if (p->part && !p->code && !atomic_load(&L->restart) &&
	    !atomic_load(&L->missplit) && (rc = eau2_builder_seal_pending(p->part, &err)))
		piece_fail(L, idx, rc, SIZE_MAX, "%s", err.msg);
	pthread_mutex_lock(&L->lock);
	p->done = true;
	rc = eau2_load_join_done(L->ctx, L->b, &L->next_join, L->npieces, done_part, L, &err);
	if (rc)
		piece_fail(L, L->next_join, rc, SIZE_MAX, "%s", err.msg);
	pthread_mutex_unlock(&L->lock);
}

/* ---------------------------------------------------------- splitting */

static void count_piece(void *arg, size_t i, unsigned worker)
{
	struct csv_load *L = arg;

	(void)worker;
	populate(L->ctx->map, L->raw[i], L->raw[i + 1]);
	L->qcount[i] = count_quotes(L->ctx->map + L->raw[i], L->raw[i + 1] - L->raw[i]);
}

/* The first record start at or after off, given the quote state there. */
static size_t next_record(const uint8_t *map, size_t off, size_t end, bool inq)
{
	for (; off < end; off++) {
		if (map[off] == '"')
			inq = !inq;
		else if (map[off] == '\n' && !inq)
			return off + 1;
	}
	return end;
}

/* Splits the data into pieces: guessed (L->exact false: each raw point
 * moves to the next newline) or exact (a counting pass first). */
static int split(struct csv_load *L)
{
	struct eau2_load_ctx *ctx = L->ctx;
	size_t len = ctx->size - L->data_start, piece, n;
	size_t parity = 0;

	piece = eau2_load_tune.piece_bytes;
	if (!piece) {
		piece = len / (ctx->threads * 4);
		if (piece < (256u << 10))
			piece = 256u << 10;
		if (piece > (16u << 20))
			piece = 16u << 20;
	}
	n = len / piece + 1;
	if (n > len + 1)
		n = len + 1;
	free(L->raw);
	free(L->qcount);
	free(L->pieces);
	L->raw = calloc(n + 1, sizeof(*L->raw));
	L->qcount = L->exact ? calloc(n + 1, sizeof(*L->qcount)) : NULL;
	L->pieces = calloc(n, sizeof(*L->pieces));
	if (!L->raw || (L->exact && !L->qcount) || !L->pieces)
		return eau2_error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
	for (size_t i = 0; i <= n; i++)
		L->raw[i] = L->data_start + (size_t)((unsigned __int128)len * i / n);
	L->npieces = n;
	if (n > 1 && L->exact)
		eau2_load_parallel(ctx, n, count_piece, L);
	L->pieces[0].start = L->data_start;
	for (size_t i = 1; i < n; i++) {
		size_t s;

		if (L->exact)
			parity += L->qcount[i - 1];
		/* A split inside the record the previous split ran through
		 * ends where that one did: no rescan (a huge quoted field
		 * would cost O(pieces * field) otherwise). */
		if (L->raw[i] < L->pieces[i - 1].start) {
			s = L->pieces[i - 1].start;
		} else if (L->exact) {
			s = next_record(ctx->map, L->raw[i], ctx->size, parity & 1);
		} else {
			const uint8_t *nl = memchr(ctx->map + L->raw[i], '\n',
						   ctx->size - L->raw[i]);

			s = nl ? (size_t)(nl - ctx->map) + 1 : ctx->size;
		}
		L->pieces[i].start = s;
		L->pieces[i - 1].end = s;
	}
	L->pieces[n - 1].end = ctx->size;
	return 0;
}

/* --from/--len (opt.from, opt.len): the records that start after `from`
 * (the record holding it is skipped, as SoR skips the line holding it)
 * and end, with their newline, before from + len; a range that runs to
 * the end of the file takes its last record whole. Narrows the data to
 * [L->data_start, ctx->size): the caller restores ctx->size. Quote state
 * is exact: the parity of the quotes before each bound. eau2_load has
 * checked that from lies inside the file. */
static void csv_range(struct csv_load *L)
{
	struct eau2_load_ctx *ctx = L->ctx;
	const uint8_t *map = ctx->map;
	size_t from = ctx->opt.from, end, par, q;

	par = count_quotes(map, from) & 1;
	if (from) {
		size_t rs = next_record(map, from, ctx->size, par);

		if (rs > L->data_start)
			L->data_start = rs;
	}
	if (!ctx->opt.len || ctx->opt.len >= ctx->size - from)
		return;
	end = from + ctx->opt.len;
	if (end <= L->data_start) {
		ctx->size = L->data_start;
		L->vnl = false;
		return;
	}
	/* Back from end to the last newline outside quotes. */
	par = (par + count_quotes(map + from, end - from)) & 1;
	ctx->size = L->data_start;
	for (q = end; q-- > L->data_start;) {
		if (map[q] == '"') {
			par ^= 1;
		} else if (map[q] == '\n' && !par) {
			ctx->size = q + 1;
			break;
		}
	}
	L->vnl = false; /* the range ends after a newline */
}

/* -------------------------------------------------------------- header */

static int header(struct csv_load *L, eau2_schema **schema)
{
	struct eau2_load_ctx *ctx = L->ctx;
	struct csv_worker *w = &L->workers[0];
	struct tok t;
	size_t pos = L->data_start, nf = 0, bad = 0, max = EAU2_COLS_MAX + 1;
	int rc;

	tok_init(&t, ctx->map, ctx->size, L->vnl, (uint8_t)ctx->opt.delim, pos,
		 L->vnl ? ctx->size + 1 : ctx->size);
	rc = csv_record(&t, &pos, w->f, max, &nf, &bad);
	if (rc == REC_UNTERMINATED)
		return eau2_load_error_at(ctx, -EBADMSG, bad, "unterminated quoted field");
	if (rc == REC_NUL)
		return eau2_load_error_at(ctx, -EBADMSG, bad, "NUL byte (binary file?)");
	if (nf > EAU2_COLS_MAX)
		return eau2_load_error_at(ctx, -EINVAL, L->data_start,
					  "more than " "4096" " columns");
	if (ctx->opt.schema) {
		L->ncols = eau2_schema_ncols(ctx->opt.schema);
		if (!ctx->opt.no_header && nf != L->ncols) {
			char m[128];

			snprintf(m, sizeof(m), "header has %zu fields, the schema %zu",
				 nf, L->ncols);
			return eau2_load_error_at(ctx, -EINVAL, L->data_start, m);
		}
		if (!ctx->opt.no_header)
			L->data_start = pos;
		return eau2_schema_copy(ctx->opt.schema, schema, ctx->err);
	}
	L->ncols = nf;
	rc = eau2_schema_new(schema, ctx->err);
	for (size_t c = 0; c < nf && rc == 0; c++) {
		char name[EAU2_NAME_MAX + 32];
		const char *s = (const char *)ctx->map + w->f[c].off;
		size_t n = w->f[c].len, boff = SIZE_MAX;
		const char *why = NULL;

		if (ctx->opt.no_header) {
			snprintf(name, sizeof(name), "c%zu", c);
		} else {
			w->used = 0;
			if (w->f[c].q) {
				why = csv_unquote(ctx->map, &w->f[c], &w->arena, &w->cap,
						  &w->used, &boff, &n, &bad);
				if (why)
					return eau2_load_error_at(ctx, -EBADMSG, bad, why);
				s = boff == SIZE_MAX ? s + 1 : w->arena + boff;
			}
			if (n > EAU2_NAME_MAX)
				return eau2_load_error_at(ctx, -EINVAL, w->f[c].off,
							  "column name longer than 255 bytes");
			if (memchr(s, 0, n))
				return eau2_load_error_at(ctx, -EINVAL, w->f[c].off,
							  "NUL in column name");
			if (n == 0)
				snprintf(name, sizeof(name), "c%zu", c);
			else
				snprintf(name, sizeof(name), "%.*s", (int)n, s);
			/* Duplicates get the column number appended. */
			if (eau2_schema_find(*schema, name) >= 0) {
				size_t k = strlen(name);

				snprintf(name + (k > EAU2_NAME_MAX - 12 ? EAU2_NAME_MAX - 12 : k),
					 24, "_%zu", c);
			}
		}
		rc = eau2_schema_add(*schema, name, EAU2_STRING, ctx->err);
	}
	if (!ctx->opt.no_header)
		L->data_start = pos;
	return rc;
}

/* ---------------------------------------------------------------- types */

/* Classifies the records of [start, start + limit); the window at
 * data_start also tells whether quoted fields hold newlines. */
static void sample_window(struct csv_load *L, size_t start, size_t limit)
{
	struct eau2_load_ctx *ctx = L->ctx;
	struct csv_worker *w = &L->workers[0];
	struct tok t;
	size_t pos = start, nf, bad;
	int rc;

	tok_init(&t, ctx->map, ctx->size, L->vnl, (uint8_t)ctx->opt.delim, start,
		 L->vnl ? ctx->size + 1 : ctx->size);
	while (pos < ctx->size && pos - start < limit) {
		rc = csv_record(&t, &pos, w->f, L->ncols, &nf, &bad);
		if (rc == REC_END || rc == REC_UNTERMINATED)
			break;
		if (rc != REC_OK || nf != L->ncols)
			continue;
		classify(L, w, nf, L->sample_kinds, start == L->data_start);
	}
}

static void sample(struct csv_load *L)
{
	size_t bytes = eau2_load_tune.sample_bytes ? eau2_load_tune.sample_bytes : 256u << 10;
	unsigned k = eau2_load_tune.samples ? eau2_load_tune.samples : 8;
	size_t len = L->ctx->size - L->data_start;

	if (len <= (size_t)k * bytes || L->npieces <= 1) {
		sample_window(L, L->data_start, len <= (size_t)k * bytes ? SIZE_MAX : bytes);
		return;
	}
	for (unsigned i = 0; i < k; i++) {
		size_t p = (size_t)i * L->npieces / k;

		if (i && p == (size_t)(i - 1) * L->npieces / k)
			continue;
		sample_window(L, L->pieces[p].start, bytes);
	}
}

/* ----------------------------------------------------------------- load */

/* Splits the data (guessed, unless L->exact) and sets the column types:
 * the schema's, or the sample's. A quoted newline in the first sample
 * window makes a guessed split likely wrong: split exactly then. */
static int split_and_sample(struct csv_load *L, const eau2_schema *schema)
{
	int rc = split(L);

	if (rc)
		return rc;
	if (L->explicit_types) {
		for (size_t c = 0; c < L->ncols; c++)
			L->types[c] = eau2_schema_type(schema, c);
		return 0;
	}
	memset(L->sample_kinds, 0, L->ncols * sizeof(unsigned));
	L->multiline = false;
	sample(L);
	if (L->multiline && !L->exact) {
		L->exact = true;
		return split_and_sample(L, schema);
	}
	for (size_t c = 0; c < L->ncols; c++)
		L->types[c] = kinds_type(L->sample_kinds[c]);
	return 0;
}

static void drop_parts(struct csv_load *L)
{
	for (size_t i = 0; i < L->npieces; i++) {
		eau2_builder_abort(L->pieces[i].part);
		L->pieces[i].part = NULL;
	}
	eau2_builder_abort(L->b);
	L->b = NULL;
}

static int workers_new(struct csv_load *L)
{
	unsigned nt = L->ctx->threads;

	L->workers = calloc(nt, sizeof(*L->workers));
	if (!L->workers)
		return -ENOMEM;
	for (unsigned i = 0; i < nt; i++) {
		size_t nf = i == 0 ? EAU2_COLS_MAX + 1 : (L->ncols ? L->ncols : 1);

		L->workers[i].f = calloc(nf, sizeof(struct fspan));
		L->workers[i].v = calloc(nf, sizeof(struct fval));
		L->workers[i].kinds = calloc(nf, sizeof(unsigned));
		if (!L->workers[i].f || !L->workers[i].v || !L->workers[i].kinds)
			return -ENOMEM;
	}
	return 0;
}

static void workers_free(struct csv_load *L)
{
	if (!L->workers)
		return;
	for (unsigned i = 0; i < L->ctx->threads; i++) {
		free(L->workers[i].f);
		free(L->workers[i].v);
		free(L->workers[i].kinds);
		free(L->workers[i].arena);
		free(L->workers[i].scale);
		free(L->workers[i].bev);
		free(L->workers[i].bnl);
		free(L->workers[i].bnull);
	}
	free(L->workers);
}

static int report_first_error(struct csv_load *L)
{
	struct eau2_load_ctx *ctx = L->ctx;

	for (size_t i = 0; i < L->npieces; i++) {
		struct piece *p = &L->pieces[i];

		if (!p->code)
			continue;
		if (p->err_off == SIZE_MAX)
			return eau2_error_set(ctx->err, p->code, "%s: %s", ctx->path, p->msg);
		return eau2_load_error_at(ctx, p->code, p->err_off, p->msg);
	}
	return 0;
}

int eau2_csv_load(struct eau2_load_ctx *ctx, eau2_df **df)
{
	struct csv_load L = { .ctx = ctx };
	size_t file_size = ctx->size; /* csv_range may narrow ctx->size */
	eau2_schema *schema = NULL;
	int rc = 0;

	pthread_mutex_init(&L.lock, NULL);
#ifdef HAVE_AVX2_PATH
	pthread_once(&avx2_once, avx2_init);
#endif
	L.skip_bad = ctx->opt.on_error == EAU2_ON_ERROR_SKIP;
	L.explicit_types = ctx->opt.schema != NULL;
	L.vnl = ctx->size && ctx->map[ctx->size - 1] != '\n';
	if (ctx->size >= 3 && !memcmp(ctx->map, "\xef\xbb\xbf", 3))
		L.data_start = 3;
	L.ncols = EAU2_COLS_MAX + 1;
	rc = workers_new(&L);
	if (rc) {
		eau2_error_set(ctx->err, rc, "%s: out of memory", ctx->path);
		goto out;
	}
	if (L.data_start >= ctx->size) {
		if (!ctx->opt.schema) {
			rc = eau2_error_set(ctx->err, -EINVAL, "%s: empty file (no header)",
					    ctx->path);
			goto out;
		}
		rc = eau2_schema_copy(ctx->opt.schema, &schema, ctx->err);
		if (rc == 0)
			rc = eau2_builder_new_in(ctx->db, schema, &L.b, ctx->err);
		if (rc == 0) {
			rc = eau2_builder_finish(L.b, df, ctx->err);
			L.b = NULL;
		}
		goto out;
	}
	rc = header(&L, &schema);
	if (rc)
		goto out;
	if (ctx->opt.from || ctx->opt.len)
		csv_range(&L);
	/* Now that ncols is known, size the workers' arrays for it. */
	workers_free(&L);
	rc = workers_new(&L);
	if (rc) {
		eau2_error_set(ctx->err, rc, "%s: out of memory", ctx->path);
		goto out;
	}
	L.types = calloc(L.ncols, sizeof(*L.types));
	L.ftypes = calloc(L.ncols, sizeof(*L.ftypes));
	L.sample_kinds = calloc(L.ncols, sizeof(unsigned));
	if (!L.types || !L.ftypes || !L.sample_kinds) {
		rc = eau2_error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
		goto out;
	}
	if (L.data_start >= ctx->size) {
		/* Header only: no rows; the header's columns are strings. */
		rc = eau2_builder_new_in(ctx->db, schema, &L.b, ctx->err);
		if (rc == 0) {
			rc = eau2_builder_finish(L.b, df, ctx->err);
			L.b = NULL;
		}
		goto out;
	}
	rc = split_and_sample(&L, schema);
	if (rc)
		goto out;
	for (int pass = 0;; pass++) {
		eau2_schema *typed = NULL;

		if (!L.explicit_types) {
			rc = eau2_schema_new(&typed, ctx->err);
			for (size_t c = 0; c < L.ncols && rc == 0; c++)
				rc = eau2_schema_add(typed, eau2_schema_name(schema, c),
						     L.types[c], ctx->err);
			if (rc == 0)
				rc = eau2_builder_new_in(ctx->db, typed, &L.b, ctx->err);
			eau2_schema_free(typed);
		} else {
			rc = eau2_builder_new_in(ctx->db, schema, &L.b, ctx->err);
		}
		if (rc)
			goto out;
		for (size_t c = 0; c < L.ncols; c++)
			L.ftypes[c] = !L.explicit_types && L.sample_kinds[c] == 0 ?
				CSV_UNSEEN : (int)L.types[c];
		atomic_init(&L.fail_piece, SIZE_MAX);
		atomic_init(&L.restart, false);
		L.next_join = 0;
		for (size_t i = 0; i < L.npieces; i++) {
			struct piece *p = &L.pieces[i];
			size_t s = p->start, e = p->end;

			memset(p, 0, sizeof(*p));
			p->start = s;
			p->end = e;
		}
		atomic_store(&ctx->bytes_done, 0);
		rc = eau2_load_parallel(ctx, L.npieces, csv_piece, &L);
		if (rc)
			goto out;
		if (atomic_load(&L.missplit)) {
			/* Every result of this pass may stem from a wrong start
			 * (its errors, kinds and sample too): again, exactly. */
			drop_parts(&L);
			for (unsigned w = 0; w < ctx->threads; w++)
				memset(L.workers[w].kinds, 0, L.ncols * sizeof(unsigned));
			atomic_store(&L.missplit, false);
			atomic_fetch_add(&eau2_load_tune.csv_missplits, 1);
			L.exact = true;
			rc = split_and_sample(&L, schema);
			if (rc)
				goto out;
			pass--;
			continue;
		}
		rc = report_first_error(&L);
		if (rc)
			goto out;
		for (size_t c = 0; c < L.ncols; c++) {
			unsigned k = 0;

			if (L.ftypes[c] != CSV_UNSEEN)
				continue;
			for (unsigned w = 0; w < ctx->threads; w++)
				k |= L.workers[w].kinds[c];
			if (kinds_type(k) != EAU2_STRING)
				atomic_store(&L.restart, true);
		}
		if (!atomic_load(&L.restart))
			break;
		/* Widen: the sample's kinds plus every kind seen since. */
		drop_parts(&L);
		for (size_t c = 0; c < L.ncols; c++) {
			unsigned k = L.sample_kinds[c];

			for (unsigned w = 0; w < ctx->threads; w++) {
				k |= L.workers[w].kinds[c];
				L.workers[w].kinds[c] = 0;
			}
			L.sample_kinds[c] = k;
			L.types[c] = kinds_type(k);
		}
		if (pass > 4) {
			rc = eau2_error_set(ctx->err, -EIO, "%s: type inference did not settle",
					    ctx->path);
			goto out;
		}
	}
	/* Join what the workers left (all joins happen in order). */
	for (size_t i = L.next_join; i < L.npieces; i++) {
		struct piece *p = &L.pieces[i];

		if (p->part) {
			rc = eau2_builder_join(L.b, p->part, ctx->err);
			p->part = NULL;
			if (rc)
				goto out;
		}
	}
	for (size_t i = 0; i < L.npieces; i++) {
		struct piece *p = &L.pieces[i];

		ctx->stats->rows += p->rows;
		for (unsigned k = 0; k < p->nwhere; k++) {
			ctx->stats->skipped++;
			eau2_load_where_add(ctx, p->where_off[k], p->where_msg[k]);
		}
		ctx->stats->skipped += p->skipped - p->nwhere;
	}
	ctx->stats->bytes = ctx->size - (ctx->opt.from ? L.data_start : 0);
	rc = eau2_builder_finish(L.b, df, ctx->err);
	L.b = NULL;
out:
	if (L.pieces)
		drop_parts(&L);
	else
		eau2_builder_abort(L.b);
	eau2_schema_free(schema);
	workers_free(&L);
	free(L.types);
	free(L.ftypes);
	free(L.sample_kinds);
	free(L.pieces);
	free(L.raw);
	free(L.qcount);
	pthread_mutex_destroy(&L.lock);
	ctx->size = file_size;
	return rc;
}
