/* SPDX-License-Identifier: MIT */
/*
 * distinct.c - the "distinct" rower: the distinct combinations of the
 * columns named by columns=a,b (default: all), sorted ascending column by
 * column (nulls last, false < true, numbers by value with NaN after every
 * number, strings bytewise) so the result never depends on thread count.
 *
 * Each combination is encoded as one byte string (per column: a tag byte,
 * 0 null / 1 value, then 1 byte for a bool, 8 for an int or double with
 * -0.0 folded into 0.0 and every NaN into one NaN, 8-byte length and the
 * bytes for a string) and interned in a per-state eau2_htab; join interns
 * the other state's keys; encode ships the keys as they are.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/rowers.h"

#define DISTINCT_MAGIC 0x31545344u /* "DST1" */

struct distinct_state {
	size_t n;
	size_t *cols;
	enum eau2_type *types;
	struct eau2_htab keys;
	struct eau2_buf scratch;
};

static int distinct_init(void *state, const struct eau2_run_ctx *ctx,
			 struct eau2_error *err)
{
	struct distinct_state *s = state;
	const eau2_schema *schema = eau2_df_schema(ctx->input);
	const char *list = eau2_args_get(ctx->args, "columns");
	int rc;

	if (list) {
		rc = eau2_rowers_columns(schema, list, "distinct: columns",
					 &s->cols, &s->n, err);
		if (rc < 0)
			return rc;
	} else {
		s->n = eau2_schema_ncols(schema);
		s->cols = malloc((s->n ? s->n : 1) * sizeof(*s->cols));
		if (!s->cols)
			return eau2_error_set(err, -ENOMEM, "distinct: out of memory");
		for (size_t c = 0; c < s->n; c++)
			s->cols[c] = c;
	}
	s->types = malloc((s->n ? s->n : 1) * sizeof(*s->types));
	if (!s->types)
		return eau2_error_set(err, -ENOMEM, "distinct: out of memory");
	for (size_t k = 0; k < s->n; k++)
		s->types[k] = eau2_schema_type(schema, s->cols[k]);
	if (eau2_htab_init(&s->keys, 1024) < 0)
		return eau2_error_set(err, -ENOMEM, "distinct: out of memory");
	return 0;
}

static void distinct_destroy(void *state)
{
	struct distinct_state *s = state;

	free(s->cols);
	free(s->types);
	eau2_htab_free(&s->keys);
	free(s->scratch.p);
}

static double canon(double d)
{
	if (isnan(d))
		return NAN;
	return d == 0 ? 0.0 : d;
}

static int add_key(struct distinct_state *s, const void *p, size_t len)
{
	int64_t id = eau2_htab_intern(&s->keys, p, len, eau2_hash_bytes(p, len), NULL);
	return id < 0 ? (int)id : 0;
}

static int distinct_chunk(void *state, const struct eau2_group *g,
			  struct eau2_error *err)
{
	struct distinct_state *s = state;
	struct eau2_buf *b = &s->scratch;
	int rc = 0;

	for (uint32_t i = 0; i < g->rows && rc == 0; i++) {
		b->len = 0;
		for (size_t k = 0; k < s->n && rc == 0; k++) {
			const struct eau2_chunk_view *v = &g->cols[s->cols[k]];
			uint8_t tag = eau2_view_valid(v, i);
			rc = eau2_buf_put(b, &tag, 1);
			if (!tag || rc)
				continue;
			switch (v->type) {
			case EAU2_BOOL: {
				uint8_t x = eau2_view_bool(v, i);
				rc = eau2_buf_put(b, &x, 1);
				break;
			}
			case EAU2_INT:
				rc = eau2_buf_put(b, &v->values.i64[i], 8);
				break;
			case EAU2_DOUBLE: {
				double d = canon(v->values.f64[i]);
				rc = eau2_buf_put(b, &d, 8);
				break;
			}
			case EAU2_STRING: {
				size_t len;
				const char *str = eau2_view_string(v, i, &len);
				rc = eau2_buf_bytes(b, str, len);
				break;
			}
			}
		}
		if (rc == 0)
			rc = add_key(s, b->p, b->len);
	}
	if (rc < 0)
		return eau2_error_set(err, rc, "distinct: out of memory");
	return 0;
}

static int distinct_join(void *state, void *other_, struct eau2_error *err)
{
	struct distinct_state *s = state, *o = other_;

	for (uint32_t id = 0; id < eau2_htab_size(&o->keys); id++) {
		size_t len;
		const char *k = eau2_htab_key(&o->keys, id, &len);
		if (eau2_htab_intern(&s->keys, k, len, eau2_htab_hash(&o->keys, id), NULL) < 0)
			return eau2_error_set(err, -ENOMEM, "distinct: out of memory");
	}
	return 0;
}

static int distinct_encode(const void *state, void **buf, size_t *len,
			   struct eau2_error *err)
{
	const struct distinct_state *s = state;
	struct eau2_buf b = {0};
	int rc = 0;

	rc |= eau2_buf_u64(&b, DISTINCT_MAGIC);
	rc |= eau2_buf_u64(&b, s->n);
	rc |= eau2_buf_u64(&b, eau2_htab_size(&s->keys));
	for (uint32_t id = 0; rc == 0 && id < eau2_htab_size(&s->keys); id++) {
		size_t kl;
		const char *k = eau2_htab_key(&s->keys, id, &kl);
		rc = eau2_buf_bytes(&b, k, kl);
	}
	if (rc) {
		free(b.p);
		return eau2_error_set(err, -ENOMEM, "distinct: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

/* Checks that key is a well-formed encoding for the state's types. */
static bool key_valid(const struct distinct_state *s, const char *p, size_t len)
{
	struct eau2_rd r = { .p = (const uint8_t *)p, .len = len };

	for (size_t k = 0; k < s->n; k++) {
		uint8_t tag;
		const char *str;
		size_t sl;
		uint64_t x;
		if (eau2_rd_get(&r, &tag, 1) || tag > 1)
			return false;
		if (!tag)
			continue;
		switch (s->types[k]) {
		case EAU2_BOOL:
			if (eau2_rd_get(&r, &tag, 1) || tag > 1)
				return false;
			break;
		case EAU2_INT:
		case EAU2_DOUBLE:
			if (eau2_rd_u64(&r, &x))
				return false;
			break;
		case EAU2_STRING:
			if (eau2_rd_bytes(&r, &str, &sl))
				return false;
			break;
		}
	}
	return r.pos == len;
}

static int distinct_decode(void *state, const void *buf, size_t len,
			   struct eau2_error *err)
{
	struct distinct_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, n, count;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &n) || eau2_rd_u64(&r, &count) ||
	    magic != DISTINCT_MAGIC || n != s->n || count > (len - r.pos) / 8)
		return eau2_error_set(err, -EBADMSG, "distinct: decode: bad header");
	for (uint64_t i = 0; i < count; i++) {
		const char *k;
		size_t kl;
		if (eau2_rd_bytes(&r, &k, &kl) || !key_valid(s, k, kl))
			return eau2_error_set(err, -EBADMSG, "distinct: decode: bad key %llu",
					      (unsigned long long)i);
		if (add_key(s, k, kl) < 0)
			return eau2_error_set(err, -ENOMEM, "distinct: decode: out of memory");
	}
	if (r.pos != len)
		return eau2_error_set(err, -EBADMSG, "distinct: decode: trailing bytes");
	return 0;
}

/* Comparison of two valid keys, column by column; qsort has no context
 * argument, so the state goes through a thread-local. */
static _Thread_local const struct distinct_state *sort_state;

static int dcmp(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a > b) - (a < b);
}

static int key_cmp(const void *a_, const void *b_)
{
	const struct distinct_state *s = sort_state;
	uint32_t ia = *(const uint32_t *)a_, ib = *(const uint32_t *)b_;
	size_t la, lb;
	const uint8_t *a = (const uint8_t *)eau2_htab_key(&s->keys, ia, &la);
	const uint8_t *b = (const uint8_t *)eau2_htab_key(&s->keys, ib, &lb);

	for (size_t k = 0; k < s->n; k++) {
		uint8_t ta = *a++, tb = *b++;
		if (ta != tb)
			return ta ? -1 : 1; /* nulls last */
		if (!ta)
			continue;
		int c = 0;
		switch (s->types[k]) {
		case EAU2_BOOL:
			c = (int)*a - (int)*b;
			a++, b++;
			break;
		case EAU2_INT: {
			int64_t x, y;
			memcpy(&x, a, 8);
			memcpy(&y, b, 8);
			c = (x > y) - (x < y);
			a += 8, b += 8;
			break;
		}
		case EAU2_DOUBLE: {
			double x, y;
			memcpy(&x, a, 8);
			memcpy(&y, b, 8);
			c = dcmp(x, y);
			a += 8, b += 8;
			break;
		}
		case EAU2_STRING: {
			uint64_t x, y;
			memcpy(&x, a, 8);
			memcpy(&y, b, 8);
			c = memcmp(a + 8, b + 8, x < y ? x : y);
			if (c == 0)
				c = (x > y) - (x < y);
			a += 8 + x, b += 8 + y;
			break;
		}
		}
		if (c)
			return c;
	}
	return 0;
}

static int distinct_finish(void *state, const struct eau2_run_ctx *ctx,
			   eau2_df **result, struct eau2_error *err)
{
	struct distinct_state *s = state;
	const eau2_schema *in = eau2_df_schema(ctx->input);
	uint32_t n = eau2_htab_size(&s->keys);
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	int rc;

	order = malloc((n ? n : 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "distinct: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	sort_state = s;
	qsort(order, n, sizeof(*order), key_cmp);

	rc = eau2_schema_new(&schema, err);
	for (size_t k = 0; rc == 0 && k < s->n; k++)
		rc = eau2_schema_add(schema, eau2_schema_name(in, s->cols[k]),
				     s->types[k], err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		size_t len;
		const uint8_t *p = (const uint8_t *)eau2_htab_key(&s->keys, order[i], &len);
		for (size_t k = 0; rc == 0 && k < s->n; k++) {
			if (!*p++) {
				rc = eau2_builder_append_null(b, k, err);
				continue;
			}
			switch (s->types[k]) {
			case EAU2_BOOL:
				rc = eau2_builder_append_bool(b, k, *p++, err);
				break;
			case EAU2_INT: {
				int64_t x;
				memcpy(&x, p, 8);
				p += 8;
				rc = eau2_builder_append_int(b, k, x, err);
				break;
			}
			case EAU2_DOUBLE: {
				double x;
				memcpy(&x, p, 8);
				p += 8;
				rc = eau2_builder_append_double(b, k, x, err);
				break;
			}
			case EAU2_STRING: {
				uint64_t l;
				memcpy(&l, p, 8);
				rc = eau2_builder_append_string(b, k, (const char *)p + 8, l, err);
				p += 8 + l;
				break;
			}
			}
		}
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

static void distinct_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct distinct_state *s = state;

	(void)ncols;
	for (size_t k = 0; k < s->n; k++)
		eau2_columns_set(used, s->cols[k]);
}

static const char *const distinct_args[] = { "columns", NULL };

const struct eau2_rower_class eau2_rower_distinct = {
	.name = "distinct",
	.summary = "distinct combinations of columns=a,b (default all), sorted",
	.state_size = sizeof(struct distinct_state),
	.init = distinct_init,
	.accept_chunk = distinct_chunk,
	.join = distinct_join,
	.encode = distinct_encode,
	.decode = distinct_decode,
	.finish = distinct_finish,
	.destroy = distinct_destroy,
	.columns = distinct_columns,
	.args = distinct_args,
};
