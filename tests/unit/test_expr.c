/* SPDX-License-Identifier: MIT */
/*
 * test_expr.c - the expression language of filter and map (src/rowers/
 * expr.c): error messages with positions, result types, precedence, and
 * random expressions over random data with nulls checked row by row
 * against a naive tree-walking evaluator with SQL semantics, over batch
 * boundaries. Row groups are hand-made chunk views: no store needed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "rowers/expr.h"

/* ------------------------------------------------------ fake row groups */

enum { C_I, C_J, C_D, C_S, C_T, C_B, NCOLS };
static const char *const col_names[NCOLS] = { "i", "j", "d", "s", "t", "b" };
static const enum eau2_type col_types[NCOLS] = {
	EAU2_INT, EAU2_INT, EAU2_DOUBLE, EAU2_STRING, EAU2_STRING, EAU2_BOOL };

struct fake {
	uint32_t rows;
	struct eau2_chunk_view v[NCOLS];
	uint8_t *valid[NCOLS];
	int64_t *i64[NCOLS];
	double *f64[NCOLS];
	uint8_t *bits[NCOLS];
	int64_t *off[NCOLS];
	char *data[NCOLS];
	struct eau2_group g;
};

static eau2_schema *test_schema(void)
{
	struct eau2_error err = {0};
	eau2_schema *s;

	tu_ok(eau2_schema_new(&s, &err), &err);
	for (int c = 0; c < NCOLS; c++)
		tu_ok(eau2_schema_add(s, col_names[c], col_types[c], &err), &err);
	return s;
}

static const char *const words[] = { "", "a", "ab", "b", "abc", "zz", "Ab",
				      "it's", "a\"b" };
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* Random group; ints in [-range, range]; null with probability 1/nullp
 * (nullp 0: no nulls, and no validity bitmap). */
static void fake_make(struct fake *f, uint32_t rows, uint64_t *seed,
		      int64_t range, unsigned nullp)
{
	memset(f, 0, sizeof(*f));
	f->rows = rows;
	for (int c = 0; c < NCOLS; c++) {
		struct eau2_chunk_view *v = &f->v[c];
		size_t nb = rows / 8 + 1;
		v->type = col_types[c];
		v->rows = rows;
		f->valid[c] = calloc(nb, 1);
		f->i64[c] = calloc(rows + 1, 8);
		f->f64[c] = calloc(rows + 1, 8);
		f->bits[c] = calloc(nb, 1);
		f->off[c] = calloc(rows + 1, 8);
		f->data[c] = calloc(rows * 4 + 1, 1);
		int64_t at = 0;
		for (uint32_t i = 0; i < rows; i++) {
			bool null = nullp && tu_rand(seed) % nullp == 0;
			uint64_t r = tu_rand(seed);
			if (!null)
				f->valid[c][i / 8] |= (uint8_t)(1u << (i % 8));
			else
				v->null_count++;
			f->i64[c][i] = (int64_t)(r % (uint64_t)(2 * range + 1)) - range;
			f->f64[c][i] = (double)((int64_t)(r % 2001) - 1000) / 8.0;
			if (r % 97 == 0)
				f->f64[c][i] = 0.0;
			if (r & (1u << 20))
				f->bits[c][i / 8] |= (uint8_t)(1u << (i % 8));
			const char *w = words[(r >> 24) % NWORDS];
			size_t len = strlen(w);
			if (len > 4)
				len = 4;
			memcpy(f->data[c] + at, w, len);
			at += (int64_t)len;
			f->off[c][i + 1] = at;
		}
		v->validity = nullp ? f->valid[c] : NULL;
		if (!nullp)
			v->null_count = 0;
		switch (v->type) {
		case EAU2_INT: v->values.i64 = f->i64[c]; break;
		case EAU2_DOUBLE: v->values.f64 = f->f64[c]; break;
		case EAU2_BOOL: v->values.bits = f->bits[c]; break;
		default:
			v->values.offsets = f->off[c];
			v->data = f->data[c];
			break;
		}
	}
	f->g = (struct eau2_group){ .group = 3, .first_row = 1000000,
				    .rows = rows, .cols = f->v };
}

static void fake_free(struct fake *f)
{
	for (int c = 0; c < NCOLS; c++) {
		free(f->valid[c]);
		free(f->i64[c]);
		free(f->f64[c]);
		free(f->bits[c]);
		free(f->off[c]);
		free(f->data[c]);
	}
}

/* ----------------------------------------------------------- errors */

static void expect_error(const eau2_schema *s, const char *text, int code,
			 const char *msg)
{
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;
	int rc = eau2_expr_compile(text, s, "where", &e, &err);

	if (rc != code || !strstr(err.msg, msg))
		fail_msg("'%s': rc %d (want %d), msg '%s' (want '%s')", text, rc,
			 code, err.msg, msg);
	assert_null(e);
}

static void test_errors(void **unused)
{
	eau2_schema *s = test_schema();
	char deep[1000];

	(void)unused;
	expect_error(s, "pricee > 3", -ENOENT,
		     "where: position 1: unknown column 'pricee'");
	expect_error(s, "i > 3 and pricee = 2", -ENOENT,
		     "where: position 11: unknown column 'pricee'");
	expect_error(s, "s > 3", -EINVAL, "where: position 3: type mismatch: "
		     "column 's' (string) > int literal");
	expect_error(s, "i + ", -EINVAL, "position 5: unexpected end");
	expect_error(s, "(i > 3", -EINVAL, "position 7: expected ')' to close "
		     "'(' at position 1");
	expect_error(s, "i > 3 )", -EINVAL, "position 7: unexpected ')' after");
	expect_error(s, "i @ 3", -EINVAL, "position 3: unexpected character '@'");
	expect_error(s, "s = 'abc", -EINVAL, "position 5: unterminated string");
	expect_error(s, "i = 99999999999999999999", -ERANGE,
		     "position 5: integer literal out of range");
	expect_error(s, "not i", -EINVAL, "position 1: type mismatch: 'not'");
	expect_error(s, "i is 3", -EINVAL, "position 6: expected 'null'");
	expect_error(s, "b + 1", -EINVAL, "position 3: type mismatch");
	expect_error(s, "i and b", -EINVAL, "position 3: type mismatch: 'and'");
	expect_error(s, "d = b", -EINVAL, "position 3: type mismatch");
	expect_error(s, "-s", -EINVAL, "position 1: type mismatch: '-'");
	expect_error(s, "i ! 3", -EINVAL, "position 3: unexpected '!'");
	expect_error(s, "12abc", -EINVAL, "position 3: malformed number");
	expect_error(s, "``", -EINVAL, "position 1: empty quoted name");
	expect_error(s, "", -EINVAL, "position 1: unexpected end");
	expect_error(s, "i \x01", -EINVAL, "position 3: unexpected byte 0x01");
	memset(deep, '(', 300);
	strcpy(deep + 300, "1");
	expect_error(s, deep, -E2BIG, "nesting deeper than");
	memset(deep, '-', 300);
	strcpy(deep + 300, "1");
	expect_error(s, deep, -E2BIG, "nesting deeper than");
	/* over EAU2_EXPR_REGS_MAX registers */
	char *big = malloc(8 * EAU2_EXPR_REGS_MAX);
	size_t at = 0;
	at += (size_t)sprintf(big + at, "1");
	for (unsigned k = 0; k < EAU2_EXPR_REGS_MAX; k++)
		at += (size_t)sprintf(big + at, "+1");
	expect_error(s, big, -E2BIG, "too complex");
	free(big);
	eau2_schema_free(s);
}

static void expect_type(const eau2_schema *s, const char *text,
			enum eau2_type type)
{
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;

	tu_ok(eau2_expr_compile(text, s, "expr", &e, &err), &err);
	if (eau2_expr_type(e) != type)
		fail_msg("'%s': type %s, want %s", text,
			 eau2_type_name(eau2_expr_type(e)), eau2_type_name(type));
	eau2_expr_free(e);
}

static void test_types(void **unused)
{
	eau2_schema *s = test_schema();

	(void)unused;
	expect_type(s, "i + d", EAU2_DOUBLE);
	expect_type(s, "i / 2", EAU2_INT);
	expect_type(s, "i > d", EAU2_BOOL);
	expect_type(s, "s", EAU2_STRING);
	expect_type(s, "null", EAU2_BOOL);
	expect_type(s, "null + 1", EAU2_INT);
	expect_type(s, "null * 1.5", EAU2_DOUBLE);
	expect_type(s, "-9223372036854775808", EAU2_INT);
	expect_type(s, "`i` * 2 IS NOT NULL AND b OR NOT b", EAU2_BOOL);
	expect_type(s, "s <> \"x\" and t == 'y'", EAU2_BOOL);
	expect_type(s, ".5e3 + 1e-2", EAU2_DOUBLE);
	eau2_schema_free(s);
}

/* Constant expressions on a 1-row group: value or null. */
static void expect_const(const eau2_schema *s, const struct eau2_group *g,
			 const char *text, int isnull, int64_t want)
{
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;
	struct eau2_expr_eval *ev = NULL;
	struct eau2_expr_vec v;

	tu_ok(eau2_expr_compile(text, s, "expr", &e, &err), &err);
	tu_ok(eau2_expr_eval_new(e, &ev, &err), &err);
	tu_ok(eau2_expr_eval_batch(ev, g, 0, 1, &v, &err), &err);
	int n = v.null && v.null[0];
	if (n != isnull)
		fail_msg("'%s': null %d, want %d", text, n, isnull);
	if (!n) {
		int64_t got = v.type == EAU2_BOOL ? v.b[0] :
			      v.type == EAU2_INT ? v.i64[0] : (int64_t)v.f64[0];
		if (got != want)
			fail_msg("'%s' = %lld, want %lld", text, (long long)got,
				 (long long)want);
	}
	eau2_expr_eval_free(ev);
	eau2_expr_free(e);
}

static void test_semantics(void **unused)
{
	eau2_schema *s = test_schema();
	uint64_t seed = 1;
	struct fake f;

	(void)unused;
	fake_make(&f, 1, &seed, 10, 0);
	expect_const(s, &f.g, "1 + 2 * 3 = 7", 0, 1);
	expect_const(s, &f.g, "(1 + 2) * 3", 0, 9);
	expect_const(s, &f.g, "10 - 2 - 3", 0, 5);
	expect_const(s, &f.g, "12 / 2 / 3", 0, 2);
	expect_const(s, &f.g, "-7 / 2", 0, -3);
	expect_const(s, &f.g, "- - 4", 0, 4);
	expect_const(s, &f.g, "-2 * 3 = -6", 0, 1);
	expect_const(s, &f.g, "not true or true", 0, 1);
	expect_const(s, &f.g, "true or true and false", 0, 1);
	expect_const(s, &f.g, "not (true and false)", 0, 1);
	expect_const(s, &f.g, "5 / 0", 1, 0);
	expect_const(s, &f.g, "5 / 0 is null", 0, 1);
	expect_const(s, &f.g, "null = null", 1, 0);
	expect_const(s, &f.g, "null and false", 0, 0);
	expect_const(s, &f.g, "null and true", 1, 0);
	expect_const(s, &f.g, "null or true", 0, 1);
	expect_const(s, &f.g, "null or false", 1, 0);
	expect_const(s, &f.g, "not null", 1, 0);
	expect_const(s, &f.g, "null is not null", 0, 0);
	expect_const(s, &f.g, "'ab' < 'b' and 'a' < 'ab' and 'it''s' = \"it's\"", 0, 1);
	expect_const(s, &f.g, "'B' < 'a'", 0, 1);
	expect_const(s, &f.g, "1 = 1.0 and 1 < 1.5", 0, 1);
	expect_const(s, &f.g, "true > false", 0, 1);
	expect_const(s, &f.g, "-9223372036854775808 < 0", 0, 1);
	expect_const(s, &f.g, "9223372036854775807 + 0", 0, INT64_MAX);
	fake_free(&f);
	eau2_schema_free(s);
}

static void expect_eval_error(const eau2_schema *s, const struct eau2_group *g,
			      const char *text, const char *msg)
{
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;
	struct eau2_expr_eval *ev = NULL;
	struct eau2_expr_vec v;
	int rc;

	tu_ok(eau2_expr_compile(text, s, "expr", &e, &err), &err);
	tu_ok(eau2_expr_eval_new(e, &ev, &err), &err);
	rc = eau2_expr_eval_batch(ev, g, 0, g->rows, &v, &err);
	if (rc != -ERANGE || !strstr(err.msg, msg))
		fail_msg("'%s': rc %d msg '%s', want -ERANGE '%s'", text, rc,
			 err.msg, msg);
	eau2_expr_eval_free(ev);
	eau2_expr_free(e);
}

static void test_overflow(void **unused)
{
	eau2_schema *s = test_schema();
	uint64_t seed = 2;
	struct fake f;

	(void)unused;
	fake_make(&f, 10, &seed, 10, 0);
	f.i64[C_I][7] = INT64_MAX;
	f.i64[C_J][4] = INT64_MIN;
	expect_eval_error(s, &f.g, "i + 11", "expr: position 3: integer overflow "
			  "in '+' at row 1000007");
	expect_eval_error(s, &f.g, "j - 11", "position 3: integer overflow in "
			  "'-' at row 1000004");
	expect_eval_error(s, &f.g, "1 + i * 2", "position 7: integer overflow "
			  "in '*' at row 1000007");
	expect_eval_error(s, &f.g, "-j", "position 1: integer overflow in '-' "
			  "at row 1000004");
	expect_eval_error(s, &f.g, "j / -1", "position 3: integer overflow in "
			  "'/' at row 1000004");
	expect_const(s, &f.g, "9223372036854775807 + -1", 0, INT64_MAX - 1);
	/* an overflow in a null row is no overflow */
	f.v[C_I].validity = f.valid[C_I];
	f.valid[C_I][0] = 0x7f; /* row 7 null */
	f.v[C_I].null_count = 3;
	struct eau2_error err = {0};
	struct eau2_expr *e = NULL;
	struct eau2_expr_eval *ev = NULL;
	struct eau2_expr_vec v;
	tu_ok(eau2_expr_compile("i * 3 + 1", s, "expr", &e, &err), &err);
	tu_ok(eau2_expr_eval_new(e, &ev, &err), &err);
	tu_ok(eau2_expr_eval_batch(ev, &f.g, 0, 10, &v, &err), &err);
	assert_non_null(v.null);
	assert_int_equal(v.null[7], 1);
	assert_int_equal(v.null[6], 0);
	eau2_expr_eval_free(ev);
	eau2_expr_free(e);
	fake_free(&f);
	eau2_schema_free(s);
}

/* ------------------------------------------------ random vs reference */

struct val {
	bool null;
	int64_t i;
	double d;
	bool b;
	const char *s;
	size_t len;
};

enum kind { K_INT, K_DBL, K_BOOL, K_STR };

struct node {
	enum kind kind;
	int op;         /* see ref() */
	int cmp;
	int col;        /* -1: constant */
	struct val k;
	struct node *a, *b;
};

struct gen {
	uint64_t *seed;
	char *text;
	size_t len, cap;
	bool overflow; /* set by ref() */
};

static void put(struct gen *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(g->text + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < g->cap - g->len) {
			g->len += (size_t)n;
			return;
		}
		g->cap = g->cap * 2 + (size_t)n + 64;
		g->text = realloc(g->text, g->cap);
	}
}

static unsigned rnd(struct gen *g, unsigned n)
{
	return (unsigned)(tu_rand(g->seed) % n);
}

static const char *const cmp_ops[] = { "=", "!=", "<", "<=", ">", ">=" };

static struct node *gen(struct gen *g, enum kind kind, int depth);

static struct node *leaf(struct gen *g, enum kind kind)
{
	struct node *n = calloc(1, sizeof(*n));
	unsigned r = rnd(g, 10);

	n->kind = kind;
	n->op = 0;
	n->col = -1;
	if (r == 0) {
		n->k.null = true;
		put(g, "null");
		return n;
	}
	switch (kind) {
	case K_INT:
		if (r < 6) {
			n->col = rnd(g, 2) ? C_I : C_J;
			put(g, "%s", col_names[n->col]);
		} else {
			n->k.i = (int64_t)rnd(g, 21) - 10;
			put(g, "%lld", (long long)n->k.i);
		}
		break;
	case K_DBL:
		if (r < 6) {
			n->col = C_D;
			put(g, "d");
		} else {
			n->k.d = ((double)rnd(g, 200) - 100) / 4.0;
			put(g, "%.17g", n->k.d);
			if (n->k.d == floor(n->k.d))
				put(g, ".0");
		}
		break;
	case K_BOOL:
		if (r < 6) {
			n->col = C_B;
			put(g, "b");
		} else {
			n->k.b = r & 1;
			put(g, "%s", n->k.b ? "TRUE" : "false");
		}
		break;
	case K_STR:
		if (r < 6) {
			n->col = rnd(g, 2) ? C_S : C_T;
			put(g, "%s", col_names[n->col]);
		} else {
			const char *w = words[rnd(g, 6)];
			n->k.s = w;
			n->k.len = strlen(w);
			put(g, "'%s'", w);
		}
		break;
	}
	return n;
}

/* op codes: 1 neg, 2 add, 3 sub, 4 mul, 5 div, 6 i2d, 10 cmp, 11 and,
 * 12 or, 13 not, 14 is null, 15 is not null */
static struct node *gen(struct gen *g, enum kind kind, int depth)
{
	if (depth <= 0 || rnd(g, 4) == 0 || kind == K_STR)
		return leaf(g, kind);
	struct node *n = calloc(1, sizeof(*n));
	n->kind = kind;
	n->col = -1;
	put(g, "(");
	if (kind == K_INT || kind == K_DBL) {
		unsigned r = rnd(g, 6);
		if (kind == K_DBL && r == 5) {
			n->op = 6;
			n->a = gen(g, K_INT, depth - 1);
			put(g, " + 0.0");
		} else if (r == 0) {
			n->op = 1;
			put(g, "-");
			n->a = gen(g, kind, depth - 1);
		} else {
			static const char *ops = "+-*/";
			n->op = 1 + (int)(r > 4 ? 4 : r);
			/* doubles mix in int operands; ints stay int */
			n->a = gen(g, kind == K_DBL && rnd(g, 3) == 0 ? K_INT : kind,
				   depth - 1);
			put(g, " %c ", ops[n->op - 2]);
			n->b = gen(g, kind, depth - 1);
		}
	} else {
		unsigned r = rnd(g, 7);
		if (r <= 1) {
			static const enum kind ks[] = { K_INT, K_DBL, K_STR, K_BOOL };
			enum kind k = ks[rnd(g, 4)];
			n->op = 10;
			n->cmp = (int)rnd(g, 6);
			n->a = gen(g, k, depth - 1);
			put(g, " %s ", cmp_ops[n->cmp]);
			n->b = gen(g, k == K_INT && rnd(g, 2) ? K_DBL : k, depth - 1);
		} else if (r <= 3) {
			n->op = r == 2 ? 11 : 12;
			n->a = gen(g, K_BOOL, depth - 1);
			put(g, r == 2 ? " and " : " OR ");
			n->b = gen(g, K_BOOL, depth - 1);
		} else if (r == 4) {
			n->op = 13;
			put(g, "not ");
			n->a = gen(g, K_BOOL, depth - 1);
		} else {
			static const enum kind ks[] = { K_INT, K_DBL, K_STR, K_BOOL };
			n->op = r == 5 ? 14 : 15;
			n->a = gen(g, ks[rnd(g, 4)], depth - 1);
			put(g, r == 5 ? " is null" : " is not null");
		}
	}
	put(g, ")");
	return n;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	node_free(n->a);
	node_free(n->b);
	free(n);
}

static double as_d(const struct node *n, const struct val *v)
{
	return n->kind == K_INT ? (double)v->i : v->d;
}

static struct val ref(struct gen *g, const struct node *n,
		      const struct fake *f, uint32_t i)
{
	struct val r = {0}, a, b = {0};

	if (n->op == 0) {
		if (n->col < 0)
			return n->k;
		const struct eau2_chunk_view *v = &f->v[n->col];
		r.null = !eau2_view_valid(v, i);
		switch (n->kind) {
		case K_INT: r.i = v->values.i64[i]; break;
		case K_DBL: r.d = v->values.f64[i]; break;
		case K_BOOL: r.b = eau2_view_bool(v, i); break;
		case K_STR: r.s = eau2_view_string(v, i, &r.len); break;
		}
		return r;
	}
	a = ref(g, n->a, f, i);
	if (n->b)
		b = ref(g, n->b, f, i);
	switch (n->op) {
	case 1:
		r.null = a.null;
		if (n->kind == K_INT) {
			if (!a.null && a.i == INT64_MIN)
				g->overflow = true;
			r.i = (int64_t)(0 - (uint64_t)a.i);
		} else {
			r.d = -a.d;
		}
		return r;
	case 6:
		r.null = a.null;
		r.d = (double)a.i;
		return r;
	case 2: case 3: case 4: case 5:
		r.null = a.null || b.null;
		if (n->kind == K_DBL) {
			double x = as_d(n->a, &a), y = as_d(n->b, &b);
			r.d = n->op == 2 ? x + y : n->op == 3 ? x - y :
			      n->op == 4 ? x * y : x / y;
			return r;
		}
		if (r.null)
			return r;
		if (n->op == 5) {
			if (b.i == 0)
				r.null = true;
			else if (a.i == INT64_MIN && b.i == -1)
				g->overflow = true;
			else
				r.i = a.i / b.i;
			return r;
		}
		if (n->op == 2 ? __builtin_add_overflow(a.i, b.i, &r.i) :
		    n->op == 3 ? __builtin_sub_overflow(a.i, b.i, &r.i) :
		    __builtin_mul_overflow(a.i, b.i, &r.i))
			g->overflow = true;
		return r;
	case 10: {
		r.null = a.null || b.null;
		if (r.null)
			return r;
		int c;
		if (n->a->kind == K_STR) {
			size_t m = a.len < b.len ? a.len : b.len;
			c = memcmp(a.s, b.s, m);
			if (c == 0)
				c = a.len < b.len ? -1 : a.len > b.len;
		} else if (n->a->kind == K_BOOL) {
			c = (int)a.b - (int)b.b;
		} else if (n->a->kind == K_INT && n->b->kind == K_INT) {
			c = (a.i > b.i) - (a.i < b.i);
		} else {
			double x = as_d(n->a, &a), y = as_d(n->b, &b);
			if (isnan(x) || isnan(y)) {
				r.b = n->cmp == 1;
				return r;
			}
			c = (x > y) - (x < y);
		}
		switch (n->cmp) {
		case 0: r.b = c == 0; break;
		case 1: r.b = c != 0; break;
		case 2: r.b = c < 0; break;
		case 3: r.b = c <= 0; break;
		case 4: r.b = c > 0; break;
		default: r.b = c >= 0; break;
		}
		return r;
	}
	case 11: {
		bool af = !a.null && !a.b, bf = !b.null && !b.b;
		r.null = !af && !bf && (a.null || b.null);
		r.b = !a.null && a.b && !b.null && b.b;
		return r;
	}
	case 12: {
		bool at = !a.null && a.b, bt = !b.null && b.b;
		r.b = at || bt;
		r.null = !r.b && (a.null || b.null);
		return r;
	}
	case 13:
		r.null = a.null;
		r.b = !a.b;
		return r;
	default:
		r.b = n->op == 14 ? a.null : !a.null;
		return r;
	}
}

static void check_random(uint32_t rows, unsigned nullp, uint64_t seed0,
			 int nexpr)
{
	eau2_schema *s = test_schema();
	uint64_t seed = seed0;
	struct fake f;

	fake_make(&f, rows, &seed, nexpr % 3 == 0 ? 1000 : 3000000000LL, nullp);
	uint32_t *sel = malloc((rows + 1) * sizeof(*sel));
	for (int x = 0; x < nexpr; x++) {
		static const enum kind ks[] = { K_BOOL, K_BOOL, K_INT, K_DBL, K_STR };
		struct gen g = { .seed = &seed, .text = malloc(64), .cap = 64 };
		struct eau2_error err = {0};
		struct eau2_expr *e = NULL;
		struct eau2_expr_eval *ev = NULL;
		enum kind kind = ks[rnd(&g, 5)];
		struct node *n = gen(&g, kind, 1 + (int)rnd(&g, 4));
		put(&g, " ");
		tu_ok(eau2_expr_compile(g.text, s, "where", &e, &err), &err);
		tu_ok(eau2_expr_eval_new(e, &ev, &err), &err);
		struct val *want = calloc(rows + 1, sizeof(*want));
		for (uint32_t i = 0; i < rows; i++)
			want[i] = ref(&g, n, &f, i);
		bool failed = false;
		for (uint32_t from = 0; from < rows && !failed; from += EAU2_EXPR_BATCH) {
			uint32_t len = rows - from < EAU2_EXPR_BATCH ? rows - from
								     : EAU2_EXPR_BATCH;
			struct eau2_expr_vec v;
			int rc = eau2_expr_eval_batch(ev, &f.g, from, len, &v, &err);
			if (rc) {
				if (rc != -ERANGE || !g.overflow)
					fail_msg("'%s': rc %d: %s", g.text, rc, err.msg);
				failed = true;
				break;
			}
			for (uint32_t k = 0; k < len; k++) {
				const struct val *w = &want[from + k];
				bool null = v.null && v.null[k];
				if (null != w->null)
					fail_msg("'%s' row %u: null %d, want %d", g.text,
						 from + k, null, w->null);
				if (null)
					continue;
				switch (kind) {
				case K_BOOL:
					if (v.b[k] != w->b)
						fail_msg("'%s' row %u: %d, want %d",
							 g.text, from + k, v.b[k], w->b);
					break;
				case K_INT:
					if (v.i64[k] != w->i)
						fail_msg("'%s' row %u: %lld, want %lld",
							 g.text, from + k,
							 (long long)v.i64[k], (long long)w->i);
					break;
				case K_DBL: {
					double got = v.f64[k], exp = as_d(n, w);
					if (!(isnan(got) && isnan(exp)) && got != exp)
						fail_msg("'%s' row %u: %.17g, want %.17g",
							 g.text, from + k, got, exp);
					break;
				}
				case K_STR: {
					size_t len2;
					const char *p = eau2_expr_vec_string(&v, k, &len2);
					assert_int_equal(len2, w->len);
					assert_memory_equal(p, w->s, len2);
					break;
				}
				}
			}
		}
		if (!failed && g.overflow)
			fail_msg("'%s': overflow not reported", g.text);
		/* select agrees with the row-by-row truth */
		if (kind == K_BOOL && !g.overflow) {
			uint32_t m = 0, k = 0;
			tu_ok(eau2_expr_select(ev, &f.g, sel, &m, &err), &err);
			for (uint32_t i = 0; i < rows; i++)
				if (!want[i].null && want[i].b) {
					assert_true(k < m);
					assert_int_equal(sel[k], i);
					k++;
				}
			assert_int_equal(k, m);
		}
		free(want);
		node_free(n);
		free(g.text);
		eau2_expr_eval_free(ev);
		eau2_expr_free(e);
	}
	free(sel);
	fake_free(&f);
	eau2_schema_free(s);
}

static void test_random(void **unused)
{
	static const uint32_t sizes[] = { 1, 7, 8, 9, 2047, 2048, 2049, 5000,
					  EAU2_CHUNK_ROWS };
	int nexpr = tu_quick() ? 40 : 150;

	(void)unused;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		for (unsigned nullp = 0; nullp < 12; nullp += 3)
			check_random(sizes[k], nullp, 1000 * k + nullp + 1,
				     sizes[k] > 10000 ? nexpr / 4 : nexpr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_semantics),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
