/* SPDX-License-Identifier: MIT */
/*
 * groupby.c - the `groupby` rower: by=k1,k2 agg=count,sum:v,mean:v,min:v,
 * max:v,count:v. One result row per distinct key tuple (a null key is a
 * group of its own, as in SQL), sorted by the keys (nulls last); columns:
 * the keys, then `count` when asked for, then <fn>_<column> per aggregate.
 * Aggregates skip nulls; a group whose values are all null gets null
 * (count gets 0). sum of ints is an int and fails on overflow; mean is a
 * double; double sums use Neumaier compensation so that the result hardly
 * depends on how rows were split between threads.
 *
 * Hash tables: every worker state owns one. A single int (or bool) key
 * uses an open-addressing table of raw int64 keys (linear probing,
 * Fibonacci hashing, no key hashing of bytes); other keys are serialised
 * per row into a small tuple (tag byte, then 8 bytes or length + bytes per
 * key) and interned in the state's eau2_htab (rowers.h), whose buffer
 * doubles as the key arena. Each distinct key gets a dense group id; a group's row
 * count and aggregates sit together in one record of `stride` words (one
 * cache line for a few aggregates), so a row costs one or two cache
 * misses however many aggregates it feeds; a batch of rows gets its ids
 * first, then one tight loop per aggregate. States encode to (key,
 * record) lists for distributed runs; decode checks every key tuple.
 *
 * Access rules: a state is used by one worker thread at a time; join reads
 * the other state, which the executor no longer runs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tuples are hashed only here (intern, join, decode): an inlined XXH3
 * saves a library call per row. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rowers/rowers.h"

#define BATCH 4096u
#define PREFETCH 16u

enum fn { FN_COUNT, FN_SUM, FN_MEAN, FN_MIN, FN_MAX };
static const char *const fn_names[] = { "count", "sum", "mean", "min", "max" };

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
	struct slot *slots;
	size_t smask;
	int64_t *gkey;           /* key by group id */
	int64_t null_id;         /* group of the null key, -1 when none */

	/* any other key */
	struct eau2_htab ht;
	char *kbuf;              /* one serialised tuple */
	size_t kcap;
};

/* ---------------------------------------------------------- arguments */

static void gb_free(struct gb *s)
{
	free(s->keys);
	free(s->ktypes);
	free(s->aggs);
	free(s->rec);
	free(s->gid);
	free(s->slots);
	free(s->gkey);
	eau2_htab_free(&s->ht);
	free(s->kbuf);
	memset(s, 0, sizeof(*s));
}

static int parse_aggs(struct gb *s, const eau2_schema *schema,
		      const char *spec, struct eau2_error *err)
{
	size_t n = 1;
	const char *p;

	for (p = spec; *p; p++)
		n += *p == ',';
	s->aggs = calloc(n, sizeof(*s->aggs));
	if (!s->aggs)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (p = spec;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		size_t flen = colon ? (size_t)(colon - p) : len;
		int f = -1;
		for (int k = 0; k < 5; k++)
			if (strlen(fn_names[k]) == flen &&
			    memcmp(p, fn_names[k], flen) == 0)
				f = k;
		if (f < 0)
			return eau2_error_set(err, -EINVAL, "groupby: agg: unknown "
					      "function '%.*s' (count, sum, mean, "
					      "min, max)", (int)(flen > 64 ? 64 : flen), p);
		if (!colon) {
			if (f != FN_COUNT)
				return eau2_error_set(err, -EINVAL, "groupby: agg: "
						      "%s needs a column (%s:COLUMN)",
						      fn_names[f], fn_names[f]);
			s->want_count = true;
		} else {
			char name[EAU2_NAME_MAX + 1];
			size_t nlen = len - flen - 1;
			int col = -ENOENT;
			if (nlen <= EAU2_NAME_MAX) {
				memcpy(name, colon + 1, nlen);
				name[nlen] = 0;
				col = eau2_schema_find(schema, name);
			}
			if (col < 0)
				return eau2_error_set(err, -ENOENT, "groupby: agg: "
						      "unknown column '%.*s'",
						      (int)(nlen > 255 ? 255 : nlen),
						      colon + 1);
			enum eau2_type t = eau2_schema_type(schema, (size_t)col);
			if (f != FN_COUNT && t != EAU2_INT && t != EAU2_DOUBLE)
				return eau2_error_set(err, -EINVAL, "groupby: agg: "
						      "%s needs an int or double "
						      "column; '%s' is %s", fn_names[f],
						      name, eau2_type_name(t));
			s->aggs[s->naggs++] = (struct agg){
				.fn = (enum fn)f, .col = (size_t)col, .type = t };
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

static int gb_setup(struct gb *s, const eau2_schema *schema,
		    const struct eau2_args *args, struct eau2_error *err)
{
	const char *by = eau2_args_get(args, "by");
	const char *agg = eau2_args_get(args, "agg");
	int rc;

	s->null_id = -1;
	s->in = schema;
	if (!by)
		return eau2_error_set(err, -EINVAL, "groupby: missing argument "
				      "by=COLUMN[,COLUMN...]");
	if ((rc = eau2_rowers_columns(schema, by, "groupby: by", &s->keys,
				      &s->nkeys, err)))
		return rc;
	s->ktypes = calloc(s->nkeys, sizeof(*s->ktypes));
	if (!s->ktypes)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (size_t k = 0; k < s->nkeys; k++) {
		enum eau2_type t = eau2_schema_type(schema, s->keys[k]);
		if (t == EAU2_DOUBLE)
			return eau2_error_set(err, -EINVAL, "groupby: by: column "
					      "'%s' is double; keys must be int, "
					      "bool or string",
					      eau2_schema_name(schema, s->keys[k]));
		s->ktypes[k] = t;
	}
	if ((rc = parse_aggs(s, schema, agg ? agg : "count", err)))
		return rc;
	s->stride = 1;
	for (size_t a = 0; a < s->naggs; a++) {
		struct agg *g = &s->aggs[a];
		g->off = s->stride;
		s->stride += g->fn == FN_COUNT ? 1 :
			     g->type == EAU2_DOUBLE && g->fn != FN_MIN &&
			     g->fn != FN_MAX ? 3 :
			     g->type == EAU2_INT && g->fn == FN_MEAN ? 3 : 2;
	}
	s->intkey = s->nkeys == 1 && s->ktypes[0] != EAU2_STRING;
	if (!(s->gid = malloc(BATCH * sizeof(*s->gid))))
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	if (s->intkey) {
		s->smask = 1023;
		s->slots = calloc(s->smask + 1, sizeof(*s->slots));
		if (!s->slots)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		return 0;
	}
	if (eau2_htab_init(&s->ht, 1024) < 0)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	return 0;
}

/* ------------------------------------------------------------- groups */

#define GROW(p, n) do { \
	void *q_ = realloc((p), (size_t)(n) * sizeof(*(p))); \
	if (!q_) \
		return -ENOMEM; \
	(p) = q_; \
} while (0)

/* Room for one more group; new entries are zero. */
static int grow_groups(struct gb *s)
{
	uint32_t cap, old = s->cap;

	if (s->ngroups < s->cap)
		return 0;
	if (s->cap >= (1u << 31))
		return -E2BIG;
	cap = s->cap ? 2 * s->cap : 256;
	GROW(s->rec, (size_t)cap * s->stride);
	memset(s->rec + (size_t)old * s->stride, 0,
	       (size_t)(cap - old) * s->stride * sizeof(*s->rec));
	if (s->intkey)
		GROW(s->gkey, cap);
	s->cap = cap;
	return 0;
}

static inline size_t slot_of(int64_t k, size_t mask)
{
	return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static int rehash(struct gb *s)
{
	size_t mask = s->smask * 2 + 1;
	struct slot *slots = calloc(mask + 1, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j <= s->smask; j++) {
		if (!s->slots[j].id1)
			continue;
		size_t p = slot_of(s->slots[j].key, mask);
		while (slots[p].id1)
			p = (p + 1) & mask;
		slots[p] = s->slots[j];
	}
	free(s->slots);
	s->slots = slots;
	s->smask = mask;
	return 0;
}

static int64_t int_group_slow(struct gb *s, int64_t k, bool isnull, size_t p);

/* Group id of int key k (null when isnull), created when absent. */
static inline int64_t int_group(struct gb *s, int64_t k, bool isnull)
{
	size_t p = slot_of(k, s->smask);

	if (!isnull)
		for (;;) {
			const struct slot *sl = &s->slots[p];
			if (sl->key == k && sl->id1)
				return sl->id1 - 1;
			if (!sl->id1)
				break;
			p = (p + 1) & s->smask;
		}
	return int_group_slow(s, k, isnull, p);
}

/* A new group for k at empty slot p, or the null group. */
static int64_t int_group_slow(struct gb *s, int64_t k, bool isnull, size_t p)
{
	int rc;

	if (isnull) {
		if (s->null_id >= 0)
			return s->null_id;
		if ((rc = grow_groups(s)))
			return rc;
		s->gkey[s->ngroups] = 0;
		s->null_id = s->ngroups;
		return s->ngroups++;
	}
	if ((rc = grow_groups(s)))
		return rc;
	s->slots[p].key = k;
	s->slots[p].id1 = s->ngroups + 1;
	s->gkey[s->ngroups] = k;
	s->ngroups++;
	if ((size_t)s->ngroups * 2 > s->smask && (rc = rehash(s)))
		return rc;
	return s->ngroups - 1;
}

static int64_t tuple_group(struct gb *s, const void *key, size_t len)
{
	bool added;
	int64_t id = eau2_htab_intern(&s->ht, key, len, XXH3_64bits(key, len),
				      &added);
	int rc;

	if (id >= 0 && added) {
		if ((rc = grow_groups(s)))
			return rc;
		s->ngroups++;
	}
	return id;
}

/* Serialises the key tuple of row i of g into s->kbuf; its length. */
static int64_t tuple_of(struct gb *s, const struct eau2_chunk_view *cols,
			uint32_t i)
{
	size_t need = 0, at = 0;

	for (size_t k = 0; k < s->nkeys; k++) {
		const struct eau2_chunk_view *v = &cols[s->keys[k]];
		need += 1 + 8;
		if (v->type == EAU2_STRING && eau2_view_valid(v, i)) {
			size_t len;
			eau2_view_string(v, i, &len);
			if (len > UINT32_MAX)
				return -E2BIG;
			need += len;
		}
	}
	if (need > s->kcap) {
		size_t cap = need * 2;
		char *b = realloc(s->kbuf, cap);
		if (!b)
			return -ENOMEM;
		s->kbuf = b;
		s->kcap = cap;
	}
	for (size_t k = 0; k < s->nkeys; k++) {
		const struct eau2_chunk_view *v = &cols[s->keys[k]];
		if (!eau2_view_valid(v, i)) {
			s->kbuf[at++] = 0;
			continue;
		}
		s->kbuf[at++] = 1;
		if (v->type == EAU2_INT) {
			memcpy(s->kbuf + at, &v->values.i64[i], 8);
			at += 8;
		} else if (v->type == EAU2_BOOL) {
			s->kbuf[at++] = (char)eau2_view_bool(v, i);
		} else {
			size_t len;
			const char *p = eau2_view_string(v, i, &len);
			uint32_t l32 = (uint32_t)len;
			memcpy(s->kbuf + at, &l32, 4);
			memcpy(s->kbuf + at + 4, p, len);
			at += 4 + len;
		}
	}
	return (int64_t)at;
}

/* ---------------------------------------------------------- aggregates */

static inline void neumaier(double *s, double *c, double x)
{
	double t = *s + x;
	/* Both branches computed, one chosen: no data-dependent branch. */
	double big = fabs(*s) >= fabs(x) ? *s : x;
	double small = fabs(*s) >= fabs(x) ? x : *s;

	*c += (big - t) + small;
	*s = t;
}

/* Order for min/max: NaN is greater than every number (as in Postgres),
 * so the result does not depend on the order of the rows. */
static inline bool dless(double a, double b)
{
	return isnan(b) ? !isnan(a) : a < b;
}

static int sum_overflow(const struct gb *s, const struct agg *a,
			struct eau2_error *err)
{
	return eau2_error_set(err, -ERANGE, "groupby: sum:%s overflows int64",
			      eau2_schema_name(s->in, a->col));
}

static inline void add128(union word *w, int64_t x)
{
	uint64_t lo = w[0].u + (uint64_t)x;

	w[1].u += (uint64_t)(x >> 63) + (lo < w[0].u);
	w[0].u = lo;
}

static inline double get128(const union word *w)
{
	return (double)(__int128)(((unsigned __int128)w[1].u << 64) | w[0].u);
}

static int update(struct gb *s, struct agg *a, const struct eau2_chunk_view *v,
		  uint32_t from, uint32_t n, struct eau2_error *err)
{
	const uint32_t *gid = s->gid;
	union word *rec = s->rec + a->off;
	size_t stride = s->stride;
	bool all = !v->validity || v->null_count == 0;

	/* body sees w (the aggregate's words in the row's group) and r. */
#define EACH(body) do { \
	if (all) { \
		for (uint32_t i = 0; i < n; i++) { \
			union word *w = rec + gid[i] * stride; \
			uint32_t r = from + i; \
			body; \
		} \
	} else { \
		for (uint32_t i = 0; i < n; i++) { \
			union word *w = rec + gid[i] * stride; \
			uint32_t r = from + i; \
			if (!eau2_view_valid(v, r)) \
				continue; \
			body; \
		} \
	} \
} while (0)

	if (a->fn == FN_COUNT) {
		EACH((void)r; w[0].i++);
		return 0;
	}
	if (a->type == EAU2_INT) {
		const int64_t *x = v->values.i64;
		switch (a->fn) {
		case FN_SUM: {
			bool ov = false;
			EACH(ov |= __builtin_add_overflow(w[1].i, x[r], &w[1].i);
			     w[0].i++);
			if (ov)
				return sum_overflow(s, a, err);
			return 0;
		}
		case FN_MEAN:
			EACH(add128(w + 1, x[r]); w[0].i++);
			return 0;
		case FN_MIN:
			EACH(if (!w[0].i++ || x[r] < w[1].i) w[1].i = x[r]);
			return 0;
		default:
			EACH(if (!w[0].i++ || x[r] > w[1].i) w[1].i = x[r]);
			return 0;
		}
	}
	const double *x = v->values.f64;
	switch (a->fn) {
	case FN_SUM:
	case FN_MEAN:
		EACH(neumaier(&w[1].d, &w[2].d, x[r]); w[0].i++);
		return 0;
	case FN_MIN:
		EACH(if (!w[0].i++ || dless(x[r], w[1].d)) w[1].d = x[r]);
		return 0;
	default:
		EACH(if (!w[0].i++ || dless(w[1].d, x[r])) w[1].d = x[r]);
		return 0;
	}
#undef EACH
}

/* --------------------------------------------------------------- class */

static int gb_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	return gb_setup(state, eau2_df_schema(ctx->input), ctx->args, err);
}

static int gb_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct gb *s = state;
	int rc;

	for (uint32_t from = 0; from < g->rows; from += BATCH) {
		uint32_t n = g->rows - from < BATCH ? g->rows - from : BATCH;
		if (s->intkey) {
			const struct eau2_chunk_view *v = &g->cols[s->keys[0]];
			bool all = !v->validity || v->null_count == 0;
			/* With many groups every probe misses the cache: fetch
			 * the slot of the row PREFETCH ahead while this one waits. */
			bool ints = v->type == EAU2_INT;
			const int64_t *kv = v->values.i64;
			for (uint32_t i = 0; i < n; i++) {
				uint32_t r = from + i;
				if (ints && i + PREFETCH < n)
					__builtin_prefetch(&s->slots[slot_of(
						kv[r + PREFETCH], s->smask)]);
				int64_t k = ints ? kv[r] : eau2_view_bool(v, r);
				int64_t id = int_group(s, k, !all && !eau2_view_valid(v, r));
				if (id < 0)
					goto nomem;
				s->gid[i] = (uint32_t)id;
			}
		} else {
			for (uint32_t i = 0; i < n; i++) {
				int64_t len = tuple_of(s, g->cols, from + i);
				int64_t id = len < 0 ? len
						     : tuple_group(s, s->kbuf, (size_t)len);
				if (id < 0)
					goto nomem;
				s->gid[i] = (uint32_t)id;
			}
		}
		for (uint32_t i = 0; i < n; i++) {
			if (i + PREFETCH < n)
				__builtin_prefetch(s->rec + (size_t)s->gid[i + PREFETCH] *
						   s->stride, 1);
			s->rec[(size_t)s->gid[i] * s->stride].i++;
		}
		for (size_t a = 0; a < s->naggs; a++)
			if ((rc = update(s, &s->aggs[a], &g->cols[s->aggs[a].col],
					 from, n, err)))
				return rc;
	}
	return 0;
nomem:
	return eau2_error_set(err, -ENOMEM, "groupby: out of memory (or more "
			      "than 2^31 groups) in row group %zu", g->group);
}

/* Adds record ro (of a state with the same spec) into group id of s. */
static int merge_record(struct gb *s, int64_t id, const union word *ro,
			struct eau2_error *err)
{
	union word *rs = s->rec + (size_t)id * s->stride;

	/* Records may come from a decoded state (another process or host):
	 * counts are checked, not trusted. */
	if (ro[0].i < 0 || __builtin_add_overflow(rs[0].i, ro[0].i, &rs[0].i))
		return eau2_error_set(err, -EBADMSG, "groupby: group count out of range "
				      "(corrupt state?)");
	for (size_t k = 0; k < s->naggs; k++) {
		struct agg *a = &s->aggs[k];
		union word *x = rs + a->off;
		const union word *y = ro + a->off;
		if (!y[0].i)
			continue;
		bool first = x[0].i == 0;
		if (y[0].i < 0 || __builtin_add_overflow(x[0].i, y[0].i, &x[0].i))
			return eau2_error_set(err, -EBADMSG, "groupby: count of aggregate %zu "
					      "out of range (corrupt state?)", k + 1);
		if (a->fn == FN_COUNT)
			continue;
		if (a->type == EAU2_INT) {
			if (a->fn == FN_SUM) {
				if (__builtin_add_overflow(x[1].i, y[1].i, &x[1].i))
					return sum_overflow(s, a, err);
			} else if (a->fn == FN_MEAN) {
				uint64_t lo = x[1].u + y[1].u;
				x[2].u += y[2].u + (lo < x[1].u);
				x[1].u = lo;
			} else if (first || (a->fn == FN_MIN ? y[1].i < x[1].i
							    : y[1].i > x[1].i)) {
				x[1].i = y[1].i;
			}
		} else if (a->fn == FN_SUM || a->fn == FN_MEAN) {
			neumaier(&x[1].d, &x[2].d, y[1].d);
			x[2].d += y[2].d;
		} else if (first || (a->fn == FN_MIN ? dless(y[1].d, x[1].d)
						     : dless(x[1].d, y[1].d))) {
			x[1].d = y[1].d;
		}
	}
	return 0;
}

static int gb_join(void *state, void *other_state, struct eau2_error *err)
{
	struct gb *s = state, *o = other_state;
	int rc;

	for (uint32_t j = 0; j < o->ngroups; j++) {
		int64_t id;
		if (s->intkey) {
			id = int_group(s, o->gkey[j], (int64_t)j == o->null_id);
		} else {
			size_t len;
			const char *k = eau2_htab_key(&o->ht, j, &len);
			id = tuple_group(s, k, len);
		}
		if (id < 0)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory "
					      "joining states");
		if ((rc = merge_record(s, id, o->rec + (size_t)j * o->stride, err)))
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------ encode / decode */

/* Encoding: magic, nkeys, naggs, stride, ngroups, then per group its key
 * (intkey: null flag and value; else the serialised tuple as length +
 * bytes) and its record (stride words). Host byte order: little endian. */
#define GB_MAGIC 0x3159424755414545ull /* "EAUGBY1" */

static int gb_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	const struct gb *s = state;
	struct eau2_buf b = { 0 };
	int rc = 0;

	*buf = NULL;
	*len = 0;
	rc = eau2_buf_u64(&b, GB_MAGIC) ?: eau2_buf_u64(&b, s->nkeys) ?:
	     eau2_buf_u64(&b, s->naggs) ?: eau2_buf_u64(&b, s->stride) ?:
	     eau2_buf_u64(&b, s->ngroups);
	for (uint32_t j = 0; j < s->ngroups && rc == 0; j++) {
		if (s->intkey) {
			rc = eau2_buf_u64(&b, (int64_t)j == s->null_id) ?:
			     eau2_buf_u64(&b, (uint64_t)s->gkey[j]);
		} else {
			size_t klen;
			const char *k = eau2_htab_key(&s->ht, j, &klen);
			rc = eau2_buf_bytes(&b, k, klen);
		}
		if (rc == 0)
			rc = eau2_buf_put(&b, s->rec + (size_t)j * s->stride,
					  s->stride * sizeof(*s->rec));
	}
	if (rc) {
		free(b.p);
		return eau2_error_set(err, rc, "groupby: out of memory encoding "
				      "%u groups", s->ngroups);
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

/* A serialised tuple from outside must parse exactly as tuple_of writes. */
static bool tuple_ok(const struct gb *s, const char *p, size_t len)
{
	size_t at = 0;

	for (size_t k = 0; k < s->nkeys; k++) {
		if (at >= len)
			return false;
		if (!p[at++])
			continue;
		if (s->ktypes[k] == EAU2_INT) {
			at += 8;
		} else if (s->ktypes[k] == EAU2_BOOL) {
			if (at >= len || (p[at] != 0 && p[at] != 1))
				return false;
			at++;
		} else {
			uint32_t m;
			if (len - at < 4)
				return false;
			memcpy(&m, p + at, 4);
			at += 4;
			if (len - at < m)
				return false;
			at += m;
		}
		if (at > len)
			return false;
	}
	return at == len;
}

static int gb_decode(void *state, const void *buf, size_t len,
		     struct eau2_error *err)
{
	struct gb *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, nkeys, naggs, stride, n;
	union word *rec = NULL;
	int rc;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &nkeys) ||
	    eau2_rd_u64(&r, &naggs) || eau2_rd_u64(&r, &stride) ||
	    eau2_rd_u64(&r, &n) || magic != GB_MAGIC || nkeys != s->nkeys ||
	    naggs != s->naggs || stride != s->stride)
		return eau2_error_set(err, -EBADMSG, "groupby: decode: header "
				      "does not match this run's by/agg");
	/* Each group takes at least stride words: bound n before looping. */
	if (n > (len - r.pos) / (stride * sizeof(*rec)))
		return eau2_error_set(err, -EBADMSG, "groupby: decode: %llu "
				      "groups do not fit in %zu bytes",
				      (unsigned long long)n, len);
	rec = malloc(stride * sizeof(*rec));
	if (!rec)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (uint64_t j = 0; j < n; j++) {
		int64_t id;
		if (s->intkey) {
			uint64_t isnull, key;
			if (eau2_rd_u64(&r, &isnull) || eau2_rd_u64(&r, &key) ||
			    isnull > 1 || (s->ktypes[0] == EAU2_BOOL && key > 1)) {
				rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
						    "bad key of group %llu",
						    (unsigned long long)j);
				goto out;
			}
			id = int_group(s, (int64_t)key, isnull);
		} else {
			const char *k;
			size_t klen;
			if (eau2_rd_bytes(&r, &k, &klen) || !tuple_ok(s, k, klen)) {
				rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
						    "bad key of group %llu",
						    (unsigned long long)j);
				goto out;
			}
			id = tuple_group(s, k, klen);
		}
		if (id < 0) {
			rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
			goto out;
		}
		if (eau2_rd_get(&r, rec, stride * sizeof(*rec))) {
			rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
					    "truncated group %llu",
					    (unsigned long long)j);
			goto out;
		}
		if ((rc = merge_record(s, id, rec, err)))
			goto out;
	}
	rc = r.pos == len ? 0 : eau2_error_set(err, -EBADMSG, "groupby: decode: "
					       "%zu trailing bytes", len - r.pos);
out:
	free(rec);
	return rc;
}

/* ---------------------------------------------------------- sorting */

struct ikey {
	int64_t k;
	uint32_t id;
};

/* LSD radix sort by key (8 passes of 8 bits over the key with its sign
 * bit flipped; passes where every key has the same byte are skipped).
 * Keys are distinct, so stability does not matter. Result in a. */
static void radix_ikeys(struct ikey *a, struct ikey *tmp, size_t n)
{
	struct ikey *src = a, *dst = tmp;

	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t cnt[256] = { 0 }, sum = 0;
		for (size_t i = 0; i < n; i++)
			cnt[(((uint64_t)src[i].k ^ (1ull << 63)) >> shift) & 255]++;
		if (cnt[(((uint64_t)src[0].k ^ (1ull << 63)) >> shift) & 255] == n)
			continue;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(((uint64_t)src[i].k ^ (1ull << 63)) >> shift) & 255]++] =
				src[i];
		struct ikey *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Compares two serialised tuples field by field; nulls last. */
static int cmp_tuple(const void *x, const void *y, void *ctx)
{
	const struct gb *s = ctx;
	size_t la, lb;
	const char *a = eau2_htab_key(&s->ht, *(const uint32_t *)x, &la);
	const char *b = eau2_htab_key(&s->ht, *(const uint32_t *)y, &lb);

	for (size_t k = 0; k < s->nkeys; k++) {
		char ta = *a++, tb = *b++;
		if (ta != tb)
			return ta ? -1 : 1;
		if (!ta)
			continue;
		if (s->ktypes[k] == EAU2_INT) {
			int64_t u, v;
			memcpy(&u, a, 8);
			memcpy(&v, b, 8);
			if (u != v)
				return u < v ? -1 : 1;
			a += 8;
			b += 8;
		} else if (s->ktypes[k] == EAU2_BOOL) {
			if (*a != *b)
				return *a < *b ? -1 : 1;
			a++;
			b++;
		} else {
			uint32_t m, n;
			memcpy(&m, a, 4);
			memcpy(&n, b, 4);
			int c = memcmp(a + 4, b + 4, m < n ? m : n);
			if (c)
				return c;
			if (m != n)
				return m < n ? -1 : 1;
			a += 4 + m;
			b += 4 + n;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- finish */

static int out_schema(const struct gb *s, const eau2_schema *in,
		      eau2_schema **out, struct eau2_error *err)
{
	char name[2 * EAU2_NAME_MAX];
	int rc;

	if ((rc = eau2_schema_new(out, err)))
		return rc;
	for (size_t k = 0; k < s->nkeys; k++)
		if ((rc = eau2_schema_add(*out, eau2_schema_name(in, s->keys[k]),
					  s->ktypes[k], err)))
			return rc;
	if (s->want_count && (rc = eau2_schema_add(*out, "count", EAU2_INT, err)))
		return rc;
	for (size_t k = 0; k < s->naggs; k++) {
		const struct agg *a = &s->aggs[k];
		enum eau2_type t = a->fn == FN_COUNT ? EAU2_INT :
				   a->fn == FN_MEAN ? EAU2_DOUBLE : a->type;
		snprintf(name, sizeof(name), "%s_%s", fn_names[a->fn],
			 eau2_schema_name(in, a->col));
		if (strlen(name) > EAU2_NAME_MAX)
			return eau2_error_set(err, -EINVAL, "groupby: result column "
					      "name '%.40s...' is too long", name);
		if ((rc = eau2_schema_add(*out, name, t, err)))
			return rc;
	}
	return 0;
}

static int emit_row(const struct gb *s, eau2_builder *b, uint32_t id,
		    struct eau2_error *err)
{
	size_t col = 0;
	int rc = 0;

	if (s->intkey) {
		if ((int64_t)id == s->null_id)
			rc = eau2_builder_append_null(b, col, err);
		else if (s->ktypes[0] == EAU2_BOOL)
			rc = eau2_builder_append_bool(b, col, s->gkey[id] != 0, err);
		else
			rc = eau2_builder_append_int(b, col, s->gkey[id], err);
		col++;
	} else {
		size_t len;
		const char *p = eau2_htab_key(&s->ht, id, &len);
		for (size_t k = 0; k < s->nkeys && rc == 0; k++, col++) {
			if (!*p++) {
				rc = eau2_builder_append_null(b, col, err);
			} else if (s->ktypes[k] == EAU2_INT) {
				int64_t v;
				memcpy(&v, p, 8);
				p += 8;
				rc = eau2_builder_append_int(b, col, v, err);
			} else if (s->ktypes[k] == EAU2_BOOL) {
				rc = eau2_builder_append_bool(b, col, *p++ != 0, err);
			} else {
				uint32_t m;
				memcpy(&m, p, 4);
				rc = eau2_builder_append_string(b, col, p + 4, m, err);
				p += 4 + m;
			}
		}
	}
	const union word *rw = s->rec + (size_t)id * s->stride;
	if (rc == 0 && s->want_count)
		rc = eau2_builder_append_int(b, col++, rw[0].i, err);
	for (size_t k = 0; k < s->naggs && rc == 0; k++, col++) {
		const struct agg *a = &s->aggs[k];
		const union word *w = rw + a->off;
		if (a->fn == FN_COUNT) {
			rc = eau2_builder_append_int(b, col, w[0].i, err);
		} else if (!w[0].i) {
			rc = eau2_builder_append_null(b, col, err);
		} else if (a->fn == FN_MEAN) {
			double m;
			if (a->type == EAU2_INT) {
				m = get128(w + 1) / (double)w[0].i;
			} else {
				double t = w[1].d;
				if (isfinite(t))
					t += w[2].d;
				m = t / (double)w[0].i;
			}
			rc = eau2_builder_append_double(b, col, m, err);
		} else if (a->type == EAU2_INT) {
			rc = eau2_builder_append_int(b, col, w[1].i, err);
		} else {
			double t = w[1].d;
			if (a->fn == FN_SUM && isfinite(t))
				t += w[2].d;
			rc = eau2_builder_append_double(b, col, t, err);
		}
	}
	return rc;
}

static int gb_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct gb *s = state;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	struct ikey *ik = NULL;
	uint32_t n = s->ngroups, m = 0;
	int rc;

	*result = NULL;
	if ((rc = out_schema(s, eau2_df_schema(ctx->input), &schema, err)))
		goto out;
	order = malloc(((size_t)n + 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		goto out;
	}
	if (s->intkey) {
		ik = malloc(2 * ((size_t)n + 1) * sizeof(*ik));
		if (!ik) {
			rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
			goto out;
		}
		for (uint32_t j = 0; j < n; j++)
			if ((int64_t)j != s->null_id)
				ik[m++] = (struct ikey){ s->gkey[j], j };
		if (m)
			radix_ikeys(ik, ik + n + 1, m);
		for (uint32_t j = 0; j < m; j++)
			order[j] = ik[j].id;
		if (s->null_id >= 0)
			order[m++] = (uint32_t)s->null_id;
	} else {
		for (uint32_t j = 0; j < n; j++)
			order[j] = j;
		qsort_r(order, n, sizeof(*order), cmp_tuple, s);
	}
	if ((rc = eau2_builder_new(ctx->db, schema, &b, err)))
		goto out;
	for (uint32_t j = 0; j < n; j++)
		if ((rc = emit_row(s, b, order[j], err)))
			goto out;
	rc = eau2_builder_finish(b, result, err);
	b = NULL;
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	free(ik);
	return rc;
}

static void gb_destroy(void *state)
{
	gb_free(state);
}

const struct eau2_rower_class eau2_rower_groupby = {
	.name = "groupby",
	.summary = "hash group-by, sorted by key: by=K1[,K2...] "
		   "agg=count,sum:V,mean:V,min:V,max:V,count:V",
	.flags = 0,
	.state_size = sizeof(struct gb),
	.init = gb_init,
	.accept_chunk = gb_chunk,
	.join = gb_join,
	.encode = gb_encode,
	.decode = gb_decode,
	.finish = gb_finish,
	.destroy = gb_destroy,
};
