/* SPDX-License-Identifier: MIT */
/*
 * fuzz_expr.c - libFuzzer target for the expression language of filter and
 * map (src/rowers/expr.c): arbitrary bytes are compiled against a fixed
 * schema (every type, names i, j, d, s, b, `odd name`); what compiles is
 * evaluated over a tiny hand-made row group with nulls, extreme ints,
 * zeros, NaN and strings with odd bytes, in one batch and in batches of
 * three rows, which must agree. Errors must carry a message.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eau2.h"
#include "rowers/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROWS 8

static const char *const names[] = { "i", "j", "d", "s", "b", "odd name" };
static const enum eau2_type types[] = { EAU2_INT, EAU2_INT, EAU2_DOUBLE,
					EAU2_STRING, EAU2_BOOL, EAU2_INT };
#define NCOLS 6

static const int64_t ivals[ROWS] = { 0, 1, -1, INT64_MAX, INT64_MIN, 7, 42, -3 };
static const int64_t jvals[ROWS] = { 2, 0, -1, 1, -1, 0, 3, INT64_MIN };
static const double dvals[ROWS] = { 0.0, -0.0, 1.5, -2.25, 1e308, 0.0, -1e-300, 3 };
static const int64_t offs[ROWS + 1] = { 0, 0, 1, 3, 3, 7, 8, 10, 12 };
static const char sdata[] = "aab\0xyz\xff" "bcq'";
static const uint8_t bits[1] = { 0x5a };
static const uint8_t valid_some[1] = { 0xb7 }; /* rows 3 and 6 null */
static const uint8_t valid_all[1] = { 0xff };

static void make_group(struct eau2_chunk_view *v, struct eau2_group *g)
{
	memset(v, 0, NCOLS * sizeof(*v));
	for (int c = 0; c < NCOLS; c++) {
		v[c].type = types[c];
		v[c].rows = ROWS;
		v[c].validity = c % 2 ? valid_some : valid_all;
		v[c].null_count = c % 2 ? 2 : 0;
	}
	v[0].values.i64 = ivals;
	v[1].values.i64 = jvals;
	v[2].values.f64 = dvals;
	v[3].values.offsets = offs;
	v[3].data = sdata;
	v[4].values.bits = bits;
	v[5].values.i64 = jvals;
	*g = (struct eau2_group){ .rows = ROWS, .cols = v, .first_row = 100 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;
	struct eau2_expr_eval *ev = NULL;
	struct eau2_chunk_view views[NCOLS];
	struct eau2_group g;
	eau2_schema *schema = NULL;
	char *text;
	int rc;

	if (size > EAU2_EXPR_TEXT_MAX + 16)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0; /* an embedded NUL ends the text early: also fine */
	if (eau2_schema_new(&schema, &err))
		abort();
	for (int c = 0; c < NCOLS; c++)
		if (eau2_schema_add(schema, names[c], types[c], &err))
			abort();
	rc = eau2_expr_compile(text, schema, "where", &e, &err);
	if (rc) {
		if (rc >= 0 || !err.msg[0] || e)
			abort();
		goto out;
	}
	make_group(views, &g);
	if (eau2_expr_eval_new(e, &ev, &err))
		goto out;
	struct eau2_expr_vec whole, part;
	int rc1 = eau2_expr_eval_batch(ev, &g, 0, ROWS, &whole, &err);
	/* Keep a copy: the next call reuses the evaluator's buffers. */
	uint8_t wnull[ROWS] = {0}, wb[ROWS] = {0};
	int64_t wi[ROWS] = {0};
	double wd[ROWS] = {0};
	if (rc1 == 0) {
		for (int k = 0; k < ROWS; k++) {
			wnull[k] = whole.null ? whole.null[k] : 0;
			if (wnull[k])
				continue;
			if (whole.type == EAU2_BOOL) {
				if (whole.b[k] > 1)
					abort();
				wb[k] = whole.b[k];
			} else if (whole.type == EAU2_INT) {
				wi[k] = whole.i64[k];
			} else if (whole.type == EAU2_DOUBLE) {
				wd[k] = whole.f64[k];
			} else {
				size_t len;
				const char *p = eau2_expr_vec_string(&whole, k, &len);
				if (len && !p)
					abort();
			}
		}
	} else if (rc1 != -ERANGE || !err.msg[0]) {
		abort();
	}
	int rc2 = 0;
	for (uint32_t from = 0; from < ROWS && rc2 == 0; from += 3) {
		uint32_t n = ROWS - from < 3 ? ROWS - from : 3;
		rc2 = eau2_expr_eval_batch(ev, &g, from, n, &part, &err);
		for (uint32_t k = 0; rc2 == 0 && rc1 == 0 && k < n; k++) {
			uint8_t pn = part.null ? part.null[k] : 0;
			if (pn != wnull[from + k])
				abort();
			if (pn)
				continue;
			if ((part.type == EAU2_BOOL && part.b[k] != wb[from + k]) ||
			    (part.type == EAU2_INT && part.i64[k] != wi[from + k]) ||
			    (part.type == EAU2_DOUBLE && !isnan(wd[from + k]) &&
			     memcmp(&part.f64[k], &wd[from + k], 8)))
				abort();
		}
	}
	if ((rc1 == 0) != (rc2 == 0))
		abort();
	if (eau2_expr_type(e) == EAU2_BOOL) {
		uint32_t sel[ROWS], n;
		rc2 = eau2_expr_select(ev, &g, sel, &n, &err);
		if ((rc1 == 0) != (rc2 == 0) || (rc2 == 0 && n > ROWS))
			abort();
	}
out:
	eau2_expr_eval_free(ev);
	eau2_expr_free(e);
	eau2_schema_free(schema);
	free(text);
	return 0;
}
