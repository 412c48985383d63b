/* SPDX-License-Identifier: MIT */
/*
 * expr.c - the expression language of filter and map (grammar in expr.h).
 *
 * Compilation is a recursive-descent parser that type-checks as it goes and
 * emits a straight-line register program: every column referenced is one
 * register (loaded zero-copy from the chunk view for int and double), every
 * literal a constant register (materialised once per evaluator), every
 * operator one instruction writing a fresh temporary. Evaluation runs the
 * program over EAU2_EXPR_BATCH rows at a time: each instruction is a tight
 * loop over arrays of values and null bytes that compilers vectorise, so
 * the per-row cost is a few cycles per operator instead of a tree walk.
 *
 * Nulls: each register carries a null-byte vector or none (no null in this
 * batch), so null handling costs nothing on columns without nulls.
 *
 * Access rules: a compiled eau2_expr is immutable and may be shared by any
 * number of threads; an eau2_expr_eval belongs to one thread.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rowers/expr.h"

#define TYPE_NULL 0 /* type of a bare `null` before it meets an operand */

enum op {
	OP_I2D, OP_NEG_I, OP_NEG_D,
	OP_ADD_I, OP_SUB_I, OP_MUL_I, OP_DIV_I,
	OP_ADD_D, OP_SUB_D, OP_MUL_D, OP_DIV_D,
	OP_CMP_I, OP_CMP_D, OP_CMP_B, OP_CMP_S,
	OP_AND, OP_OR, OP_NOT, OP_ISNULL, OP_NOTNULL,
};

enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
static const char *const cmp_names[] = { "=", "!=", "<", "<=", ">", ">=" };

enum reg_kind { REG_COL, REG_CONST, REG_TMP };

struct reg {
	int type;             /* enum eau2_type or TYPE_NULL */
	enum reg_kind kind;
	size_t col;           /* REG_COL */
	bool knull;           /* REG_CONST: the null literal */
	union {
		int64_t i;
		double d;
		bool b;
	} k;
	char *s;              /* REG_CONST string bytes (malloc'd) */
	size_t slen;
	uint32_t pos;         /* where it came from, for messages */
};

struct insn {
	uint8_t op, cmp;
	uint32_t dst, a, b;
	uint32_t pos;
};

struct eau2_expr {
	char *what;
	int type;
	uint32_t result;
	struct reg *regs;
	uint32_t nregs;
	struct insn *insns;
	uint32_t ninsns, insns_cap;
	const eau2_schema *schema; /* only during compilation */
};

/* ------------------------------------------------------------- lexer */

enum tok {
	T_END, T_INT, T_DOUBLE, T_STRING, T_IDENT, T_TRUE, T_FALSE, T_NULL,
	T_AND, T_OR, T_NOT, T_IS, T_LP, T_RP, T_PLUS, T_MINUS, T_STAR,
	T_SLASH, T_CMP,
};

struct parser {
	const char *text;
	size_t len, at;
	/* current token */
	enum tok tok;
	size_t tpos, tlen;   /* byte offset and length in text */
	enum cmp cmp;
	char *sval;          /* T_STRING / quoted T_IDENT, unescaped, malloc'd */
	size_t slen;
	unsigned depth;
	struct eau2_expr *e;
	struct eau2_error *err;
};

static int perr(struct parser *p, int code, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr(struct parser *p, int code, size_t pos, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return eau2_error_set(p->err, code, "%s: position %zu: %s", p->e->what,
			      pos + 1, msg);
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool word_is(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

/* Scans a quoted literal or name starting at p->at (the opening quote q);
 * a doubled quote stands for one. */
static int lex_quoted(struct parser *p, char q)
{
	size_t i = p->at + 1, n = 0;
	char *s = malloc(p->len - p->at + 1);

	if (!s)
		return eau2_error_set(p->err, -ENOMEM, "%s: out of memory",
				      p->e->what);
	for (;;) {
		if (i >= p->len) {
			free(s);
			return perr(p, -EINVAL, p->at, "unterminated %s",
				    q == '`' ? "quoted name" : "string");
		}
		if (p->text[i] == q) {
			if (i + 1 < p->len && p->text[i + 1] == q) {
				s[n++] = q;
				i += 2;
				continue;
			}
			i++;
			break;
		}
		s[n++] = p->text[i++];
	}
	s[n] = 0;
	p->sval = s;
	p->slen = n;
	p->tlen = i - p->at;
	return 0;
}

static int lex(struct parser *p)
{
	const char *t = p->text;
	int rc = 0;

	free(p->sval);
	p->sval = NULL;
	while (p->at < p->len && (t[p->at] == ' ' || t[p->at] == '\t' ||
				  t[p->at] == '\n' || t[p->at] == '\r'))
		p->at++;
	p->tpos = p->at;
	p->tlen = 1;
	if (p->at >= p->len) {
		p->tok = T_END;
		p->tlen = 0;
		return 0;
	}
	char c = t[p->at], d = p->at + 1 < p->len ? t[p->at + 1] : 0;
	if (is_ident_start((unsigned char)c)) {
		size_t i = p->at;
		while (i < p->len && (is_ident_start((unsigned char)t[i]) ||
				      is_digit((unsigned char)t[i])))
			i++;
		p->tlen = i - p->at;
		const char *w = t + p->at;
		size_t n = p->tlen;
		p->tok = word_is(w, n, "and") ? T_AND :
			 word_is(w, n, "or") ? T_OR :
			 word_is(w, n, "not") ? T_NOT :
			 word_is(w, n, "is") ? T_IS :
			 word_is(w, n, "null") ? T_NULL :
			 word_is(w, n, "true") ? T_TRUE :
			 word_is(w, n, "false") ? T_FALSE : T_IDENT;
	} else if (is_digit((unsigned char)c) ||
		   (c == '.' && is_digit((unsigned char)d))) {
		size_t i = p->at;
		bool dbl = false;
		while (i < p->len && is_digit((unsigned char)t[i]))
			i++;
		if (i < p->len && t[i] == '.') {
			dbl = true;
			i++;
			while (i < p->len && is_digit((unsigned char)t[i]))
				i++;
		}
		if (i < p->len && (t[i] == 'e' || t[i] == 'E')) {
			size_t j = i + 1;
			if (j < p->len && (t[j] == '+' || t[j] == '-'))
				j++;
			if (j < p->len && is_digit((unsigned char)t[j])) {
				dbl = true;
				i = j;
				while (i < p->len && is_digit((unsigned char)t[i]))
					i++;
			}
		}
		if (i < p->len && (is_ident_start((unsigned char)t[i]) || t[i] == '.'))
			return perr(p, -EINVAL, i, "malformed number");
		p->tlen = i - p->at;
		p->tok = dbl ? T_DOUBLE : T_INT;
	} else if (c == '\'' || c == '"') {
		rc = lex_quoted(p, c);
		p->tok = T_STRING;
	} else if (c == '`') {
		rc = lex_quoted(p, c);
		p->tok = T_IDENT;
		if (rc == 0 && p->slen == 0)
			rc = perr(p, -EINVAL, p->at, "empty quoted name");
	} else {
		p->tok = T_CMP;
		switch (c) {
		case '(': p->tok = T_LP; break;
		case ')': p->tok = T_RP; break;
		case '+': p->tok = T_PLUS; break;
		case '-': p->tok = T_MINUS; break;
		case '*': p->tok = T_STAR; break;
		case '/': p->tok = T_SLASH; break;
		case '=':
			p->cmp = CMP_EQ;
			p->tlen = d == '=' ? 2 : 1;
			break;
		case '!':
			if (d != '=')
				return perr(p, -EINVAL, p->at,
					    "unexpected '!' (did you mean '!='?)");
			p->cmp = CMP_NE;
			p->tlen = 2;
			break;
		case '<':
			p->cmp = d == '=' ? CMP_LE : d == '>' ? CMP_NE : CMP_LT;
			p->tlen = d == '=' || d == '>' ? 2 : 1;
			break;
		case '>':
			p->cmp = d == '=' ? CMP_GE : CMP_GT;
			p->tlen = d == '=' ? 2 : 1;
			break;
		default:
			if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
				return perr(p, -EINVAL, p->at,
					    "unexpected character '%c'", c);
			return perr(p, -EINVAL, p->at,
				    "unexpected byte 0x%02x", (unsigned char)c);
		}
	}
	if (rc == 0)
		p->at = p->tpos + p->tlen;
	return rc;
}

/* ------------------------------------------------------ program building */

static int new_reg(struct parser *p, int type, enum reg_kind kind,
		   size_t pos, uint32_t *out)
{
	struct eau2_expr *e = p->e;

	if (e->nregs >= EAU2_EXPR_REGS_MAX)
		return perr(p, -E2BIG, pos, "expression too complex (over %u "
			    "operands and operators)", EAU2_EXPR_REGS_MAX);
	struct reg *r = &e->regs[e->nregs];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->kind = kind;
	r->pos = (uint32_t)pos;
	*out = e->nregs++;
	return 0;
}

static int emit(struct parser *p, enum op op, enum cmp cmp, int type,
		uint32_t a, uint32_t b, size_t pos, uint32_t *dst)
{
	struct eau2_expr *e = p->e;
	int rc = new_reg(p, type, REG_TMP, pos, dst);

	if (rc)
		return rc;
	if (e->ninsns == e->insns_cap) {
		uint32_t cap = e->insns_cap ? 2 * e->insns_cap : 16;
		struct insn *n = realloc(e->insns, cap * sizeof(*n));
		if (!n)
			return eau2_error_set(p->err, -ENOMEM,
					      "%s: out of memory", e->what);
		e->insns = n;
		e->insns_cap = cap;
	}
	e->insns[e->ninsns++] = (struct insn){
		.op = (uint8_t)op, .cmp = (uint8_t)cmp, .dst = *dst,
		.a = a, .b = b, .pos = (uint32_t)pos,
	};
	return 0;
}

static const char *tname(int type)
{
	return type == TYPE_NULL ? "null" : eau2_type_name((enum eau2_type)type);
}

/* "'price' (int)" or "int expression", for type errors. */
static void describe(struct parser *p, uint32_t r, char *buf, size_t n)
{
	const struct reg *g = &p->e->regs[r];

	if (g->kind == REG_COL)
		snprintf(buf, n, "column '%s' (%s)",
			 eau2_schema_name(p->e->schema, g->col), tname(g->type));
	else if (g->kind == REG_CONST)
		snprintf(buf, n, "%s literal", tname(g->type));
	else
		snprintf(buf, n, "%s expression", tname(g->type));
}

static int type_error(struct parser *p, size_t pos, const char *opname,
		      uint32_t a, uint32_t b)
{
	char da[300], db[300];

	describe(p, a, da, sizeof(da));
	if (b == UINT32_MAX)
		return perr(p, -EINVAL, pos, "type mismatch: '%s' of %s",
			    opname, da);
	describe(p, b, db, sizeof(db));
	return perr(p, -EINVAL, pos, "type mismatch: %s %s %s", da, opname, db);
}

/* A bare null takes the type its operand context wants. */
static void settle_null(struct parser *p, uint32_t r, int type)
{
	if (p->e->regs[r].type == TYPE_NULL)
		p->e->regs[r].type = type;
}

static bool numeric(int t)
{
	return t == EAU2_INT || t == EAU2_DOUBLE;
}

static int to_double(struct parser *p, uint32_t *r, size_t pos)
{
	if (p->e->regs[*r].type == EAU2_DOUBLE)
		return 0;
	return emit(p, OP_I2D, 0, EAU2_DOUBLE, *r, 0, pos, r);
}

/* Arithmetic operand types: null adopts the other side's type (int when
 * both are null); int with double widens the int. */
static int arith_types(struct parser *p, const char *opname, size_t pos,
		       uint32_t *a, uint32_t *b, int *type)
{
	int ta = p->e->regs[*a].type, tb = p->e->regs[*b].type;
	int rc;

	if (ta == TYPE_NULL && tb == TYPE_NULL)
		ta = tb = EAU2_INT;
	if (ta == TYPE_NULL)
		ta = tb;
	if (tb == TYPE_NULL)
		tb = ta;
	settle_null(p, *a, ta);
	settle_null(p, *b, tb);
	if (!numeric(ta) || !numeric(tb))
		return type_error(p, pos, opname, *a, *b);
	if (ta == tb) {
		*type = ta;
		return 0;
	}
	*type = EAU2_DOUBLE;
	rc = to_double(p, a, pos);
	return rc ? rc : to_double(p, b, pos);
}

static int parse_or(struct parser *p, uint32_t *out);

static int parse_atom(struct parser *p, uint32_t *out)
{
	struct eau2_expr *e = p->e;
	size_t pos = p->tpos;
	int rc = 0;

	switch (p->tok) {
	case T_LP:
		if (++p->depth > EAU2_EXPR_DEPTH_MAX)
			return perr(p, -E2BIG, pos, "nesting deeper than %u",
				    EAU2_EXPR_DEPTH_MAX);
		if ((rc = lex(p)) || (rc = parse_or(p, out)))
			return rc;
		p->depth--;
		if (p->tok != T_RP)
			return perr(p, -EINVAL, p->tpos,
				    "expected ')' to close '(' at position %zu",
				    pos + 1);
		return lex(p);
	case T_INT: {
		char buf[32];
		if (p->tlen >= sizeof(buf))
			return perr(p, -ERANGE, pos, "integer literal out of range");
		memcpy(buf, p->text + pos, p->tlen);
		buf[p->tlen] = 0;
		errno = 0;
		unsigned long long v = strtoull(buf, NULL, 10);
		if (errno || v > INT64_MAX)
			return perr(p, -ERANGE, pos, "integer literal out of range");
		if ((rc = new_reg(p, EAU2_INT, REG_CONST, pos, out)))
			return rc;
		e->regs[*out].k.i = (int64_t)v;
		return lex(p);
	}
	case T_DOUBLE: {
		char buf[400];
		if (p->tlen >= sizeof(buf))
			return perr(p, -ERANGE, pos, "number literal too long");
		memcpy(buf, p->text + pos, p->tlen);
		buf[p->tlen] = 0;
		if ((rc = new_reg(p, EAU2_DOUBLE, REG_CONST, pos, out)))
			return rc;
		e->regs[*out].k.d = strtod(buf, NULL);
		return lex(p);
	}
	case T_STRING:
		if ((rc = new_reg(p, EAU2_STRING, REG_CONST, pos, out)))
			return rc;
		e->regs[*out].s = p->sval;
		e->regs[*out].slen = p->slen;
		p->sval = NULL;
		return lex(p);
	case T_TRUE:
	case T_FALSE:
		if ((rc = new_reg(p, EAU2_BOOL, REG_CONST, pos, out)))
			return rc;
		e->regs[*out].k.b = p->tok == T_TRUE;
		return lex(p);
	case T_NULL:
		if ((rc = new_reg(p, TYPE_NULL, REG_CONST, pos, out)))
			return rc;
		e->regs[*out].knull = true;
		return lex(p);
	case T_IDENT: {
		char name[EAU2_NAME_MAX + 1];
		const char *s = p->sval ? p->sval : p->text + pos;
		size_t n = p->sval ? p->slen : p->tlen;
		int col = -ENOENT;
		if (n <= EAU2_NAME_MAX && !memchr(s, 0, n)) {
			memcpy(name, s, n);
			name[n] = 0;
			col = eau2_schema_find(e->schema, name);
		}
		if (col < 0)
			return perr(p, -ENOENT, pos, "unknown column '%.*s'",
				    (int)(n > 200 ? 200 : n), s);
		for (uint32_t r = 0; r < e->nregs; r++)
			if (e->regs[r].kind == REG_COL &&
			    e->regs[r].col == (size_t)col) {
				*out = r; /* one register per column */
				return lex(p);
			}
		if ((rc = new_reg(p, eau2_schema_type(e->schema, (size_t)col),
				  REG_COL, pos, out)))
			return rc;
		e->regs[*out].col = (size_t)col;
		return lex(p);
	}
	case T_END:
		return perr(p, -EINVAL, pos, "unexpected end of expression");
	default:
		return perr(p, -EINVAL, pos, "unexpected '%.*s'",
			    (int)(p->tlen > 40 ? 40 : p->tlen), p->text + pos);
	}
}

static int parse_unary(struct parser *p, uint32_t *out)
{
	size_t pos = p->tpos;
	int rc;

	if (p->tok != T_MINUS)
		return parse_atom(p, out);
	if ((rc = lex(p)))
		return rc;
	/* -9223372036854775808 is a literal, not the negation of one. */
	if (p->tok == T_INT && p->tlen == 19 &&
	    memcmp(p->text + p->tpos, "9223372036854775808", 19) == 0) {
		if ((rc = new_reg(p, EAU2_INT, REG_CONST, pos, out)))
			return rc;
		p->e->regs[*out].k.i = INT64_MIN;
		return lex(p);
	}
	if (++p->depth > EAU2_EXPR_DEPTH_MAX)
		return perr(p, -E2BIG, pos, "nesting deeper than %u",
			    EAU2_EXPR_DEPTH_MAX);
	uint32_t a;
	if ((rc = parse_unary(p, &a)))
		return rc;
	p->depth--;
	settle_null(p, a, EAU2_INT);
	int t = p->e->regs[a].type;
	if (!numeric(t))
		return type_error(p, pos, "-", a, UINT32_MAX);
	return emit(p, t == EAU2_INT ? OP_NEG_I : OP_NEG_D, 0, t, a, 0, pos, out);
}

static int parse_prod(struct parser *p, uint32_t *out)
{
	int rc = parse_unary(p, out);

	while (rc == 0 && (p->tok == T_STAR || p->tok == T_SLASH)) {
		bool mul = p->tok == T_STAR;
		size_t pos = p->tpos;
		uint32_t b;
		int t;
		if ((rc = lex(p)) || (rc = parse_unary(p, &b)) ||
		    (rc = arith_types(p, mul ? "*" : "/", pos, out, &b, &t)))
			break;
		enum op op = t == EAU2_INT ? (mul ? OP_MUL_I : OP_DIV_I)
					   : (mul ? OP_MUL_D : OP_DIV_D);
		rc = emit(p, op, 0, t, *out, b, pos, out);
	}
	return rc;
}

static int parse_sum(struct parser *p, uint32_t *out)
{
	int rc = parse_prod(p, out);

	while (rc == 0 && (p->tok == T_PLUS || p->tok == T_MINUS)) {
		bool add = p->tok == T_PLUS;
		size_t pos = p->tpos;
		uint32_t b;
		int t;
		if ((rc = lex(p)) || (rc = parse_prod(p, &b)) ||
		    (rc = arith_types(p, add ? "+" : "-", pos, out, &b, &t)))
			break;
		enum op op = t == EAU2_INT ? (add ? OP_ADD_I : OP_SUB_I)
					   : (add ? OP_ADD_D : OP_SUB_D);
		rc = emit(p, op, 0, t, *out, b, pos, out);
	}
	return rc;
}

static int parse_cmp(struct parser *p, uint32_t *out)
{
	int rc = parse_sum(p, out);
	size_t pos = p->tpos;

	if (rc)
		return rc;
	if (p->tok == T_IS) {
		bool neg = false;
		if ((rc = lex(p)))
			return rc;
		if (p->tok == T_NOT) {
			neg = true;
			if ((rc = lex(p)))
				return rc;
		}
		if (p->tok != T_NULL)
			return perr(p, -EINVAL, p->tpos, "expected 'null' after "
				    "'is%s'", neg ? " not" : "");
		if ((rc = lex(p)))
			return rc;
		settle_null(p, *out, EAU2_INT);
		return emit(p, neg ? OP_NOTNULL : OP_ISNULL, 0, EAU2_BOOL, *out,
			    0, pos, out);
	}
	if (p->tok != T_CMP)
		return 0;
	enum cmp c = p->cmp;
	uint32_t b;
	if ((rc = lex(p)) || (rc = parse_sum(p, &b)))
		return rc;
	int ta = p->e->regs[*out].type, tb = p->e->regs[b].type;
	if (ta == TYPE_NULL && tb == TYPE_NULL)
		ta = tb = EAU2_INT;
	settle_null(p, *out, tb == TYPE_NULL ? ta : tb);
	settle_null(p, b, ta == TYPE_NULL ? tb : ta);
	ta = p->e->regs[*out].type;
	tb = p->e->regs[b].type;
	enum op op;
	if (numeric(ta) && numeric(tb)) {
		if (ta != tb && ((rc = to_double(p, out, pos)) ||
				 (rc = to_double(p, &b, pos))))
			return rc;
		op = ta == EAU2_INT && tb == EAU2_INT ? OP_CMP_I : OP_CMP_D;
	} else if (ta == EAU2_STRING && tb == EAU2_STRING) {
		op = OP_CMP_S;
	} else if (ta == EAU2_BOOL && tb == EAU2_BOOL) {
		op = OP_CMP_B;
	} else {
		return type_error(p, pos, cmp_names[c], *out, b);
	}
	return emit(p, op, c, EAU2_BOOL, *out, b, pos, out);
}

static int want_bool(struct parser *p, uint32_t r, const char *opname,
		     size_t pos)
{
	settle_null(p, r, EAU2_BOOL);
	if (p->e->regs[r].type != EAU2_BOOL)
		return type_error(p, pos, opname, r, UINT32_MAX);
	return 0;
}

static int parse_not(struct parser *p, uint32_t *out)
{
	size_t pos = p->tpos;
	uint32_t a;
	int rc;

	if (p->tok != T_NOT)
		return parse_cmp(p, out);
	if (++p->depth > EAU2_EXPR_DEPTH_MAX)
		return perr(p, -E2BIG, pos, "nesting deeper than %u",
			    EAU2_EXPR_DEPTH_MAX);
	if ((rc = lex(p)) || (rc = parse_not(p, &a)) ||
	    (rc = want_bool(p, a, "not", pos)))
		return rc;
	p->depth--;
	return emit(p, OP_NOT, 0, EAU2_BOOL, a, 0, pos, out);
}

static int parse_and(struct parser *p, uint32_t *out)
{
	int rc = parse_not(p, out);

	while (rc == 0 && p->tok == T_AND) {
		size_t pos = p->tpos;
		uint32_t b;
		if ((rc = lex(p)) || (rc = parse_not(p, &b)) ||
		    (rc = want_bool(p, *out, "and", pos)) ||
		    (rc = want_bool(p, b, "and", pos)))
			break;
		rc = emit(p, OP_AND, 0, EAU2_BOOL, *out, b, pos, out);
	}
	return rc;
}

static int parse_or(struct parser *p, uint32_t *out)
{
	int rc = parse_and(p, out);

	while (rc == 0 && p->tok == T_OR) {
		size_t pos = p->tpos;
		uint32_t b;
		if ((rc = lex(p)) || (rc = parse_and(p, &b)) ||
		    (rc = want_bool(p, *out, "or", pos)) ||
		    (rc = want_bool(p, b, "or", pos)))
			break;
		rc = emit(p, OP_OR, 0, EAU2_BOOL, *out, b, pos, out);
	}
	return rc;
}

void eau2_expr_free(struct eau2_expr *e)
{
	if (!e)
		return;
	for (uint32_t r = 0; r < e->nregs; r++)
		free(e->regs[r].s);
	free(e->regs);
	free(e->insns);
	free(e->what);
	free(e);
}

int eau2_expr_compile(const char *text, const eau2_schema *schema,
		      const char *what, struct eau2_expr **out,
		      struct eau2_error *err)
{
	struct parser p = { 0 };
	struct eau2_expr *e;
	int rc;

	*out = NULL;
	if (!what)
		what = "expression";
	if (!text || !schema)
		return eau2_error_set(err, -EINVAL, "%s: missing", what);
	e = calloc(1, sizeof(*e));
	if (!e || !(e->what = strdup(what)) ||
	    !(e->regs = calloc(EAU2_EXPR_REGS_MAX, sizeof(*e->regs)))) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	e->schema = schema;
	p.text = text;
	p.len = strlen(text);
	p.e = e;
	p.err = err;
	if (p.len > EAU2_EXPR_TEXT_MAX) {
		rc = eau2_error_set(err, -E2BIG, "%s: expression longer than "
				    "%u bytes", what, EAU2_EXPR_TEXT_MAX);
		goto out;
	}
	if ((rc = lex(&p)) || (rc = parse_or(&p, &e->result)))
		goto out;
	if (p.tok != T_END) {
		rc = perr(&p, -EINVAL, p.tpos, "unexpected '%.*s' after the "
			  "expression", (int)(p.tlen > 40 ? 40 : p.tlen),
			  text + p.tpos);
		goto out;
	}
	settle_null(&p, e->result, EAU2_BOOL);
	e->type = e->regs[e->result].type;
	e->schema = NULL;
	*out = e;
	e = NULL;
out:
	free(p.sval);
	eau2_expr_free(e);
	return rc;
}

enum eau2_type eau2_expr_type(const struct eau2_expr *e)
{
	return (enum eau2_type)e->type;
}

/* ------------------------------------------------------------ evaluation */

struct rv {
	const void *v;          /* current values (buffer or chunk) */
	const uint8_t *null;    /* current nulls, NULL = none */
	void *vbuf;             /* EAU2_EXPR_BATCH values of 8 bytes */
	uint8_t *nbuf;          /* EAU2_EXPR_BATCH null bytes */
	const struct eau2_chunk_view *sview; /* string column */
	uint32_t sbase;
};

struct eau2_expr_eval {
	const struct eau2_expr *e;
	struct rv *r;
	void *mem;
};

void eau2_expr_eval_free(struct eau2_expr_eval *ev)
{
	if (!ev)
		return;
	free(ev->mem);
	free(ev->r);
	free(ev);
}

int eau2_expr_eval_new(const struct eau2_expr *e, struct eau2_expr_eval **out,
		       struct eau2_error *err)
{
	struct eau2_expr_eval *ev = calloc(1, sizeof(*ev));
	size_t per = EAU2_EXPR_BATCH * 9;
	int rc = 0;

	*out = NULL;
	if (!ev || !(ev->r = calloc(e->nregs, sizeof(*ev->r))) ||
	    !(ev->mem = aligned_alloc(64, per * e->nregs + 64))) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", e->what);
		goto out;
	}
	ev->e = e;
	for (uint32_t i = 0; i < e->nregs; i++) {
		const struct reg *g = &e->regs[i];
		struct rv *r = &ev->r[i];
		r->vbuf = (char *)ev->mem + per * i;
		r->nbuf = (uint8_t *)r->vbuf + EAU2_EXPR_BATCH * 8;
		if (g->kind != REG_CONST)
			continue;
		memset(r->nbuf, 1, EAU2_EXPR_BATCH);
		r->null = g->knull ? r->nbuf : NULL;
		r->v = r->vbuf;
		for (uint32_t j = 0; j < EAU2_EXPR_BATCH; j++) {
			if (g->type == EAU2_INT)
				((int64_t *)r->vbuf)[j] = g->knull ? 0 : g->k.i;
			else if (g->type == EAU2_DOUBLE)
				((double *)r->vbuf)[j] = g->knull ? 0 : g->k.d;
			else if (g->type == EAU2_BOOL)
				((uint8_t *)r->vbuf)[j] = !g->knull && g->k.b;
		}
	}
	*out = ev;
	ev = NULL;
out:
	eau2_expr_eval_free(ev);
	return rc;
}

/* Null bytes of rows [from, from + len) of a view, or NULL if none. */
static const uint8_t *load_nulls(const struct eau2_chunk_view *v,
				 uint32_t from, uint32_t len, uint8_t *nbuf)
{
	if (!v->validity || v->null_count == 0)
		return NULL;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t j = from + i;
		nbuf[i] = !((v->validity[j >> 3] >> (j & 7)) & 1);
	}
	return nbuf;
}

/* dst nulls = a nulls | b nulls. */
static const uint8_t *or_nulls(const uint8_t *a, const uint8_t *b,
			       uint8_t *nbuf, uint32_t n)
{
	if (!a)
		return b;
	if (!b)
		return a;
	for (uint32_t i = 0; i < n; i++)
		nbuf[i] = a[i] | b[i];
	return nbuf;
}

static int overflow_error(const struct eau2_expr *e, const struct insn *in,
			  const struct eau2_group *g, uint32_t from, uint32_t i,
			  struct eau2_error *err)
{
	static const char *names[] = {
		[OP_ADD_I] = "+", [OP_SUB_I] = "-", [OP_MUL_I] = "*",
		[OP_DIV_I] = "/", [OP_NEG_I] = "-",
	};
	return eau2_error_set(err, -ERANGE, "%s: position %u: integer overflow "
			      "in '%s' at row %llu", e->what, in->pos + 1,
			      names[in->op],
			      (unsigned long long)(g->first_row + from + i));
}

#define CMP_LOOP(T, A, B) do { \
	const T *x_ = (A), *y_ = (B); \
	switch (in->cmp) { \
	case CMP_EQ: for (i = 0; i < n; i++) o[i] = x_[i] == y_[i]; break; \
	case CMP_NE: for (i = 0; i < n; i++) o[i] = x_[i] != y_[i]; break; \
	case CMP_LT: for (i = 0; i < n; i++) o[i] = x_[i] < y_[i]; break; \
	case CMP_LE: for (i = 0; i < n; i++) o[i] = x_[i] <= y_[i]; break; \
	case CMP_GT: for (i = 0; i < n; i++) o[i] = x_[i] > y_[i]; break; \
	default: for (i = 0; i < n; i++) o[i] = x_[i] >= y_[i]; break; \
	} \
} while (0)

static int cmp_result(int c, int d)
{
	switch (c) {
	case CMP_EQ: return d == 0;
	case CMP_NE: return d != 0;
	case CMP_LT: return d < 0;
	case CMP_LE: return d <= 0;
	case CMP_GT: return d > 0;
	default: return d >= 0;
	}
}

static void str_of(const struct reg *g, const struct rv *r, uint32_t i,
		   const char **s, size_t *len)
{
	if (r->sview) {
		*s = eau2_view_string(r->sview, r->sbase + i, len);
	} else {
		*s = g->s ? g->s : "";
		*len = g->slen;
	}
}

static int run_insn(struct eau2_expr_eval *ev, const struct insn *in,
		    const struct eau2_group *g, uint32_t from, uint32_t n,
		    struct eau2_error *err)
{
	const struct eau2_expr *e = ev->e;
	struct rv *d = &ev->r[in->dst], *a = &ev->r[in->a], *b = &ev->r[in->b];
	const int64_t *ai = a->v, *bi = b->v;
	const double *ad = a->v, *bd = b->v;
	const uint8_t *ab = a->v, *bb = b->v;
	int64_t *oi = d->vbuf;
	double *od = d->vbuf;
	uint8_t *o = d->vbuf, *on = d->nbuf;
	uint32_t i;

	d->v = d->vbuf;
	switch ((enum op)in->op) {
	case OP_I2D:
		for (i = 0; i < n; i++)
			od[i] = (double)ai[i];
		d->null = a->null;
		return 0;
	case OP_NEG_D:
		for (i = 0; i < n; i++)
			od[i] = -ad[i];
		d->null = a->null;
		return 0;
	case OP_NEG_I: {
		uint64_t ov = 0;
		for (i = 0; i < n; i++) {
			ov |= ai[i] == INT64_MIN;
			oi[i] = (int64_t)(0 - (uint64_t)ai[i]);
		}
		d->null = a->null;
		if (ov)
			for (i = 0; i < n; i++)
				if (ai[i] == INT64_MIN && !(a->null && a->null[i]))
					return overflow_error(e, in, g, from, i, err);
		return 0;
	}
	case OP_ADD_I:
	case OP_SUB_I: {
		uint64_t ov = 0;
		bool add = in->op == OP_ADD_I;
		if (add)
			for (i = 0; i < n; i++) {
				int64_t r = (int64_t)((uint64_t)ai[i] + (uint64_t)bi[i]);
				ov |= (uint64_t)((ai[i] ^ r) & (bi[i] ^ r));
				oi[i] = r;
			}
		else
			for (i = 0; i < n; i++) {
				int64_t r = (int64_t)((uint64_t)ai[i] - (uint64_t)bi[i]);
				ov |= (uint64_t)((ai[i] ^ bi[i]) & (ai[i] ^ r));
				oi[i] = r;
			}
		d->null = or_nulls(a->null, b->null, on, n);
		if (ov >> 63)
			for (i = 0; i < n; i++) {
				int64_t r;
				bool bad = add ? __builtin_add_overflow(ai[i], bi[i], &r)
					       : __builtin_sub_overflow(ai[i], bi[i], &r);
				if (bad && !(d->null && d->null[i]))
					return overflow_error(e, in, g, from, i, err);
			}
		return 0;
	}
	case OP_MUL_I: {
		bool ov = false;
		for (i = 0; i < n; i++) {
			int64_t r;
			ov |= __builtin_mul_overflow(ai[i], bi[i], &r);
			oi[i] = (int64_t)((uint64_t)ai[i] * (uint64_t)bi[i]);
		}
		d->null = or_nulls(a->null, b->null, on, n);
		if (ov)
			for (i = 0; i < n; i++) {
				int64_t r;
				if (__builtin_mul_overflow(ai[i], bi[i], &r) &&
				    !(d->null && d->null[i]))
					return overflow_error(e, in, g, from, i, err);
			}
		return 0;
	}
	case OP_DIV_I: {
		/* x / 0 is null (SQL); INT64_MIN / -1 overflows. */
		uint8_t any = 0;
		for (i = 0; i < n; i++) {
			uint8_t bad = (uint8_t)((bi[i] == 0) |
				(a->null ? a->null[i] : 0) | (b->null ? b->null[i] : 0));
			if (!bad && ai[i] == INT64_MIN && bi[i] == -1)
				return overflow_error(e, in, g, from, i, err);
			on[i] = bad;
			any |= bad;
			oi[i] = bad ? 0 : ai[i] / bi[i];
		}
		d->null = any ? on : NULL;
		return 0;
	}
	case OP_ADD_D:
		for (i = 0; i < n; i++)
			od[i] = ad[i] + bd[i];
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_SUB_D:
		for (i = 0; i < n; i++)
			od[i] = ad[i] - bd[i];
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_MUL_D:
		for (i = 0; i < n; i++)
			od[i] = ad[i] * bd[i];
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_DIV_D:
		for (i = 0; i < n; i++)
			od[i] = ad[i] / bd[i];
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_CMP_I:
		CMP_LOOP(int64_t, ai, bi);
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_CMP_D:
		CMP_LOOP(double, ad, bd);
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_CMP_B:
		CMP_LOOP(uint8_t, ab, bb);
		d->null = or_nulls(a->null, b->null, on, n);
		return 0;
	case OP_CMP_S: {
		const struct reg *ga = &e->regs[in->a], *gb = &e->regs[in->b];
		d->null = or_nulls(a->null, b->null, on, n);
		for (i = 0; i < n; i++) {
			const char *s, *t;
			size_t sl, tl;
			if (d->null && d->null[i]) {
				o[i] = 0;
				continue;
			}
			str_of(ga, a, i, &s, &sl);
			str_of(gb, b, i, &t, &tl);
			if (in->cmp == CMP_EQ || in->cmp == CMP_NE) {
				bool eq = sl == tl && memcmp(s, t, sl) == 0;
				o[i] = (uint8_t)(eq == (in->cmp == CMP_EQ));
				continue;
			}
			int c = memcmp(s, t, sl < tl ? sl : tl);
			if (c == 0)
				c = sl < tl ? -1 : sl > tl;
			o[i] = (uint8_t)cmp_result(in->cmp, c);
		}
		return 0;
	}
	case OP_AND:
		if (!a->null && !b->null) {
			for (i = 0; i < n; i++)
				o[i] = ab[i] & bb[i];
			d->null = NULL;
			return 0;
		}
		for (i = 0; i < n; i++) {
			uint8_t an = a->null ? a->null[i] : 0;
			uint8_t bn = b->null ? b->null[i] : 0;
			uint8_t af = !an & !ab[i], bf = !bn & !bb[i];
			o[i] = (ab[i] & !an) & (bb[i] & !bn);
			on[i] = (an | bn) & !af & !bf;
		}
		d->null = on;
		return 0;
	case OP_OR:
		if (!a->null && !b->null) {
			for (i = 0; i < n; i++)
				o[i] = ab[i] | bb[i];
			d->null = NULL;
			return 0;
		}
		for (i = 0; i < n; i++) {
			uint8_t an = a->null ? a->null[i] : 0;
			uint8_t bn = b->null ? b->null[i] : 0;
			o[i] = (ab[i] & !an) | (bb[i] & !bn);
			on[i] = (an | bn) & !o[i];
		}
		d->null = on;
		return 0;
	case OP_NOT:
		for (i = 0; i < n; i++)
			o[i] = !ab[i];
		d->null = a->null;
		return 0;
	case OP_ISNULL:
	case OP_NOTNULL: {
		uint8_t neg = in->op == OP_NOTNULL;
		if (a->null)
			for (i = 0; i < n; i++)
				o[i] = a->null[i] ^ neg;
		else
			memset(o, neg, n);
		d->null = NULL;
		return 0;
	}
	}
	return eau2_error_set(err, -EINVAL, "%s: bad instruction", e->what);
}

void eau2_expr_columns(const struct eau2_expr *e, uint64_t *used)
{
	for (uint32_t r = 0; r < e->nregs; r++)
		if (e->regs[r].kind == REG_COL)
			eau2_columns_set(used, e->regs[r].col);
}

int eau2_expr_eval_batch(struct eau2_expr_eval *ev, const struct eau2_group *g,
			 uint32_t from, uint32_t n, struct eau2_expr_vec *out,
			 struct eau2_error *err)
{
	const struct eau2_expr *e = ev->e;
	int rc;

	if (n > EAU2_EXPR_BATCH || from > g->rows || n > g->rows - from)
		return eau2_error_set(err, -ERANGE, "%s: bad batch", e->what);
	for (uint32_t r = 0; r < e->nregs; r++) {
		const struct reg *gr = &e->regs[r];
		struct rv *v = &ev->r[r];
		if (gr->kind != REG_COL)
			continue;
		const struct eau2_chunk_view *cv = &g->cols[gr->col];
		if (cv->type != (enum eau2_type)gr->type || cv->rows != g->rows)
			return eau2_error_set(err, -EINVAL, "%s: column %zu of "
					      "row group %zu does not match the "
					      "schema", e->what, gr->col, g->group);
		v->null = load_nulls(cv, from, n, v->nbuf);
		switch (gr->type) {
		case EAU2_INT:
			v->v = cv->values.i64 + from;
			break;
		case EAU2_DOUBLE:
			v->v = cv->values.f64 + from;
			break;
		case EAU2_BOOL: {
			uint8_t *o = v->vbuf;
			for (uint32_t i = 0; i < n; i++) {
				uint32_t j = from + i;
				o[i] = (cv->values.bits[j >> 3] >> (j & 7)) & 1;
			}
			v->v = o;
			break;
		}
		default:
			v->sview = cv;
			v->sbase = from;
			break;
		}
	}
	for (uint32_t k = 0; k < e->ninsns; k++)
		if ((rc = run_insn(ev, &e->insns[k], g, from, n, err)))
			return rc;
	const struct rv *r = &ev->r[e->result];
	const struct reg *gr = &e->regs[e->result];
	memset(out, 0, sizeof(*out));
	out->type = (enum eau2_type)e->type;
	out->len = n;
	out->null = r->null;
	switch (e->type) {
	case EAU2_BOOL: out->b = r->v; break;
	case EAU2_INT: out->i64 = r->v; break;
	case EAU2_DOUBLE: out->f64 = r->v; break;
	default:
		out->sview = r->sview;
		out->sbase = r->sbase;
		out->sconst = gr->s ? gr->s : "";
		out->sconst_len = gr->slen;
		if (gr->knull)
			out->null = r->nbuf;
		break;
	}
	return 0;
}

int eau2_expr_select(struct eau2_expr_eval *ev, const struct eau2_group *g,
		     uint32_t *sel, uint32_t *nsel, struct eau2_error *err)
{
	struct eau2_expr_vec v;
	uint32_t k = 0;
	int rc = 0;

	*nsel = 0;
	if (ev->e->type != EAU2_BOOL)
		return eau2_error_set(err, -EINVAL, "%s: is %s, not a condition",
				      ev->e->what, tname(ev->e->type));
	for (uint32_t from = 0; from < g->rows; from += EAU2_EXPR_BATCH) {
		uint32_t n = g->rows - from < EAU2_EXPR_BATCH ?
			     g->rows - from : EAU2_EXPR_BATCH;
		if ((rc = eau2_expr_eval_batch(ev, g, from, n, &v, err)))
			return rc;
		/* Branch-free compaction: write every index, advance on pass. */
		if (v.null)
			for (uint32_t i = 0; i < n; i++) {
				sel[k] = from + i;
				k += v.b[i] & !v.null[i];
			}
		else
			for (uint32_t i = 0; i < n; i++) {
				sel[k] = from + i;
				k += v.b[i];
			}
	}
	*nsel = k;
	return 0;
}
