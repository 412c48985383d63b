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

int eau2_gb_update(struct gb *s, struct agg *a, const struct eau2_chunk_view *v,
		  const uint32_t *gid, uint32_t from, uint32_t n,
		  struct eau2_error *err)
{
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
