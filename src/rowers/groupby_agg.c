/* SPDX-License-Identifier: MIT */
/*
 * groupby_agg.c - the group-by rower's aggregate records: parsing agg=,
 * feeding a batch of rows to one aggregate, adding two records (join,
 * decode, merge) and emitting a record as result columns. Record layout:
 * struct agg in groupby.h.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/groupby.h"

int eau2_gb_parse_aggs(struct gb *s, const eau2_schema *schema,
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

/* An int mean's sum: w[0] + w[1] * 2^64 (both signed). Adding x wraps w[0]
 * at most once, and then w[1] takes the carry: one add per row, a branch
 * almost never taken. */
static inline void add_wide(union word *w, int64_t x)
{
	if (__builtin_add_overflow(w[0].i, x, &w[0].i))
		w[1].i += x < 0 ? -1 : 1;
}

static inline double get_wide(const union word *w)
{
	return (double)((__int128)w[0].i + (__int128)w[1].i * ((__int128)1 << 64));
}

/* Whether aggregate a's w[0] counts the group's nulls (count, sum, mean:
 * values = group rows - nulls, so rows without nulls touch no count) or
 * its values (min, max: the first value sets the word). */
static inline bool counts_nulls(const struct agg *a)
{
	return a->fn != FN_MIN && a->fn != FN_MAX;
}

/* Values aggregate a saw in the group whose record is rw. */
static inline int64_t agg_values(const struct agg *a, const union word *rw)
{
	const union word *w = rw + a->off;

	return counts_nulls(a) ? rw[0].i - w[0].i : w[0].i;
}

static inline int update(struct gb *s, struct agg *a,
			 const struct eau2_chunk_view *v, const uint32_t *gid,
			 uint32_t from, uint32_t n, struct eau2_error *err)
{
	union word *rec = s->rec + a->off;
	size_t stride = s->stride;
	bool all = !v->validity || v->null_count == 0;
	int64_t skip = counts_nulls(a);

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
			if (!eau2_view_valid(v, r)) { \
				w[0].i += skip; \
				continue; \
			} \
			body; \
		} \
	} \
} while (0)

	if (a->fn == FN_COUNT) {
		if (!all)
			EACH((void)w; (void)r);
		return 0;
	}
	if (a->type == EAU2_INT) {
		const int64_t *x = v->values.i64;
		switch (a->fn) {
		case FN_SUM: {
			bool ov = false;
			EACH(ov |= __builtin_add_overflow(w[1].i, x[r], &w[1].i));
			if (ov)
				return sum_overflow(s, a, err);
			return 0;
		}
		case FN_MEAN:
			EACH(add_wide(w + 1, x[r]));
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
		EACH(neumaier(&w[1].d, &w[2].d, x[r]));
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

int eau2_gb_feed(struct gb *s, const struct eau2_group *g, uint32_t from,
		 uint32_t n, struct eau2_error *err)
{
	/* Sub-batches of SUB rows: the first loop takes the cache misses
	 * (fetching PREFETCH rows ahead), the aggregate loops then find the
	 * SUB rows' records in L1. A record may straddle two cache lines:
	 * fetch both ends. Tables that fit in L2 need no prefetch. */
	bool far = (size_t)s->ngroups * s->stride * sizeof(*s->rec) >
		   (256u << 10);
	int rc;

	for (uint32_t sub = 0; sub < n; sub += SUB) {
		uint32_t m = n - sub < SUB ? n - sub : SUB;
		const uint32_t *gid = s->gid + sub;
		for (uint32_t i = 0; far && i < m; i++) {
			if (sub + i + PREFETCH < n) {
				union word *p = s->rec +
					(size_t)gid[i + PREFETCH] * s->stride;
				__builtin_prefetch(p, 1);
				__builtin_prefetch(p + s->stride - 1, 1);
			}
			s->rec[(size_t)gid[i] * s->stride].i++;
		}
		for (uint32_t i = 0; !far && i < m; i++)
			s->rec[(size_t)gid[i] * s->stride].i++;
		for (size_t a = 0; a < s->naggs; a++)
			if ((rc = update(s, &s->aggs[a], &g->cols[s->aggs[a].col],
					 gid, from + sub, m, err)))
				return rc;
	}
	return 0;
}

/* Adds record ro into record rs (both of states with s's spec). */
int eau2_gb_merge_words(const struct gb *s, union word *rs, const union word *ro,
		       struct eau2_error *err)
{
	/* Records may come from a decoded state (another process or host):
	 * counts are checked, not trusted. */
	if (ro[0].i < 0 || __builtin_add_overflow(rs[0].i, ro[0].i, &rs[0].i))
		return eau2_error_set(err, -EBADMSG, "groupby: group count out of range "
				      "(corrupt state?)");
	for (size_t k = 0; k < s->naggs; k++) {
		const struct agg *a = &s->aggs[k];
		union word *x = rs + a->off;
		const union word *y = ro + a->off;
		bool first = x[0].i == 0;
		if (y[0].i < 0 || y[0].i > ro[0].i ||
		    __builtin_add_overflow(x[0].i, y[0].i, &x[0].i))
			return eau2_error_set(err, -EBADMSG, "groupby: count of aggregate %zu "
					      "out of range (corrupt state?)", k + 1);
		if (a->fn == FN_COUNT || agg_values(a, ro) == 0)
			continue;
		if (a->type == EAU2_INT) {
			if (a->fn == FN_SUM) {
				if (__builtin_add_overflow(x[1].i, y[1].i, &x[1].i))
					return sum_overflow(s, a, err);
			} else if (a->fn == FN_MEAN) {
				add_wide(x + 1, y[1].i);
				if (__builtin_add_overflow(x[2].i, y[2].i, &x[2].i))
					return eau2_error_set(err, -EBADMSG, "groupby: sum of "
							      "aggregate %zu out of range "
							      "(corrupt state?)", k + 1);
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

/* The aggregate columns (from col on) of a group's record rw. */
int eau2_gb_emit_aggs(const struct gb *s, eau2_builder *b, size_t col,
		     const union word *rw, struct eau2_error *err)
{
	int rc = 0;

	if (s->want_count)
		rc = eau2_builder_append_int(b, col++, rw[0].i, err);
	for (size_t k = 0; k < s->naggs && rc == 0; k++, col++) {
		const struct agg *a = &s->aggs[k];
		const union word *w = rw + a->off;
		int64_t nv = agg_values(a, rw);
		if (a->fn == FN_COUNT) {
			rc = eau2_builder_append_int(b, col, nv, err);
		} else if (!nv) {
			rc = eau2_builder_append_null(b, col, err);
		} else if (a->fn == FN_MEAN) {
			double m;
			if (a->type == EAU2_INT) {
				m = get_wide(w + 1) / (double)nv;
			} else {
				double t = w[1].d;
				if (isfinite(t))
					t += w[2].d;
				m = t / (double)nv;
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
