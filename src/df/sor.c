/* SPDX-License-Identifier: MIT */
/*
 * sor.c - the schema-on-read (SoR) loader.
 *
 * One row per line; each field sits in <...>, spaces (and tabs) around and
 * inside the brackets are ignored. A field is missing (<>), BOOL (0 or 1),
 * INT (optional sign and digits that fit int64), FLOAT (C strtod syntax in
 * the C locale) or STRING (a token without spaces, or a "double quoted"
 * string, which is a STRING whatever it holds). The column count is the
 * longest valid row among the first 500 lines, each column's type the most
 * general value seen there (STRING > FLOAT > INT > BOOL; all missing:
 * BOOL), unless opt->schema gives them. Short rows are padded with nulls.
 * A row with an invalid field (a NUL, a '<' never closed...), too many
 * fields or a value that does not fit its column fails the load at its
 * file:line:column (on_error fail, the default: the first such row in
 * file order, whatever the pieces), or is skipped and counted in stats
 * (on_error skip). With no valid row among the first 500 lines, the first
 * invalid one is the error. A wider column takes the narrower values (a
 * BOOL 1 in an INT column is 1, in a STRING column "1").
 *
 * opt->from/len select a byte range: with from > 0 the line holding from
 * (up to the next newline) is skipped; a last line that does not end
 * inside the range is dropped, unless the range runs to the end of file.
 * Line numbers in messages are lines of the whole file.
 *
 * Threads: the schema comes from the first 500 lines on the calling
 * thread; then the range is cut right after newlines into pieces that
 * workers parse into their own builder parts, joined in order.
 * struct sor_load.lock guards the parent builder (fork, join), next_join
 * and the done flags; a piece and a struct sor scratch belong to one
 * worker at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df.h"
#include "df/load.h"

#define SOR_INFER_LINES 500

enum { K_MISSING = 0, K_BOOL, K_INT, K_FLOAT, K_STRING };

struct sfield {
	const char *s;
	size_t n;
	int kind;
	union { int64_t i; double d; } v;
};

struct sor {
	struct eau2_load_ctx *ctx;
	struct sfield *f;
	size_t cap;
};

static bool sp(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits line [p, e) into fields. Returns the field count, or -1 with *why
 * and *bad (offset in the line) when the line is invalid. */
static long sor_fields(struct sor *S, const char *p, size_t len, const char **why,
		       size_t *bad)
{
	size_t i = 0, n = 0;

	for (;;) {
		struct sfield f = { 0 };
		size_t a, b;

		while (i < len && sp(p[i]))
			i++;
		if (i == len)
			break;
		if (p[i] != '<') {
			*why = "expected '<'";
			*bad = i;
			return -1;
		}
		i++;
		while (i < len && sp(p[i]))
			i++;
		if (i < len && p[i] == '"') {
			const char *q = memchr(p + i + 1, '"', len - i - 1);

			if (!q) {
				*why = "unterminated string";
				*bad = i;
				return -1;
			}
			f.s = p + i + 1;
			f.n = (size_t)(q - f.s);
			f.kind = K_STRING;
			i = (size_t)(q - p) + 1;
		} else {
			a = i;
			while (i < len && !sp(p[i]) && p[i] != '>')
				i++;
			b = i;
			f.s = p + a;
			f.n = b - a;
			if (memchr(f.s, '<', f.n) || memchr(f.s, '"', f.n) ||
			    memchr(f.s, 0, f.n)) {
				*why = "bad character in field";
				*bad = a;
				return -1;
			}
			if (f.n == 0)
				f.kind = K_MISSING;
			else if (f.n == 1 && (f.s[0] == '0' || f.s[0] == '1')) {
				f.kind = K_BOOL;
				f.v.i = f.s[0] - '0';
			} else if (eau2_load_parse_i64(f.s, f.n, &f.v.i))
				f.kind = K_INT;
			else if (eau2_load_parse_f64(f.s, f.n, &f.v.d))
				f.kind = K_FLOAT;
			else
				f.kind = K_STRING;
		}
		while (i < len && sp(p[i]))
			i++;
		if (i == len || p[i] != '>') {
			*why = i == len ? "missing '>'" : "space inside an unquoted string";
			*bad = i;
			return -1;
		}
		i++;
		if (n == S->cap) {
			size_t ncap = S->cap ? S->cap * 2 : 64;
			struct sfield *nf;

			if (ncap > EAU2_COLS_MAX * 2) {
				*why = "too many fields";
				*bad = i;
				return -1;
			}
			nf = realloc(S->f, ncap * sizeof(*nf));
			if (!nf) {
				*why = "out of memory";
				*bad = i;
				return -1;
			}
			S->f = nf;
			S->cap = ncap;
		}
		S->f[n++] = f;
	}
	return (long)n;
}

static int kind_of(enum eau2_type t)
{
	switch (t) {
	case EAU2_BOOL: return K_BOOL;
	case EAU2_INT: return K_INT;
	case EAU2_DOUBLE: return K_FLOAT;
	default: return K_STRING;
	}
}

static enum eau2_type type_of(int k)
{
	switch (k) {
	case K_INT: return EAU2_INT;
	case K_FLOAT: return EAU2_DOUBLE;
	case K_STRING: return EAU2_STRING;
	default: return EAU2_BOOL;
	}
}

/* Next line in [pos, end): sets *ls and *le (without "\n" and "\r"); false at
 * the end, or for a last line that is cut by the range. */
static bool next_line(const struct eau2_load_ctx *ctx, size_t *pos, size_t end,
		      size_t *ls, size_t *le)
{
	const uint8_t *nl;

	if (*pos >= end)
		return false;
	nl = memchr(ctx->map + *pos, '\n', end - *pos);
	if (!nl && end < ctx->size)
		return false; /* partial last line of a range */
	*ls = *pos;
	*le = nl ? (size_t)(nl - ctx->map) : end;
	*pos = *le + 1;
	if (*le > *ls && ctx->map[*le - 1] == '\r')
		(*le)--;
	return true;
}

/* One piece of the range, parsed by one worker into its own part. */
struct spiece {
	size_t start, end;
	eau2_builder *part;
	uint64_t rows, skipped;
	unsigned nwhere;
	size_t where_off[EAU2_LOAD_WHERE_MAX];
	char where_msg[EAU2_LOAD_WHERE_MAX][200];
	int code;     /* a builder error: fails the load */
	char msg[512];
	bool done;
	bool bad_row; /* on_error fail: where_*[0] is the row that fails it */
};

struct sor_load {
	struct eau2_load_ctx *ctx;
	const eau2_schema *schema;
	size_t ncols;
	eau2_builder *b;
	pthread_mutex_t lock; /* guards b (fork, join), next_join, done flags */
	size_t next_join;
	size_t npieces;
	struct spiece *pieces;
	struct sor *workers;  /* one per worker thread */
	_Atomic bool stop;
	bool fail_bad;        /* on_error fail: the first bad row fails the load */
	_Atomic size_t fail_piece; /* lowest piece with a bad row (fail_bad) */
};

/* Piece i's part, for eau2_load_join_done: once it is done, until the
 * load stops. Under L->lock. */
static eau2_builder **done_part(void *arg, size_t i)
{
	struct sor_load *L = arg;

	if (!L->pieces[i].done || atomic_load(&L->stop))
		return NULL;
	return &L->pieces[i].part;
}

static void sor_piece(void *arg, size_t idx, unsigned worker)
{
	struct sor_load *L = arg;
	struct eau2_load_ctx *ctx = L->ctx;
	struct sor *S = &L->workers[worker];
	struct spiece *p = &L->pieces[idx];
	struct eau2_error err = { 0 };
	size_t pos = p->start, ls, le;
	int rc = 0;

	if (p->start >= p->end || atomic_load(&L->stop) ||
	    idx > atomic_load(&L->fail_piece))
		goto done;
	pthread_mutex_lock(&L->lock);
	rc = eau2_builder_fork(L->b, &p->part, &err);
	pthread_mutex_unlock(&L->lock);
	if (rc)
		goto fail;
	while (next_line(ctx, &pos, p->end, &ls, &le)) {
		const char *why = NULL;
		char msg[200];
		size_t bad = 0;
		long n = sor_fields(S, (const char *)ctx->map + ls, le - ls, &why, &bad);

		if (n >= 0 && (size_t)n > L->ncols) {
			snprintf(msg, sizeof(msg), "%ld fields, the schema has %zu", n, L->ncols);
			why = msg;
			bad = 0;
		}
		for (long c = 0; !why && c < n; c++) {
			enum eau2_type t = eau2_schema_type(L->schema, (size_t)c);

			if (S->f[c].kind > kind_of(t)) {
				snprintf(msg, sizeof(msg), "column c%ld: \"%.*s\" does not fit %s",
					 c, (int)(S->f[c].n > 40 ? 40 : S->f[c].n), S->f[c].s,
					 eau2_type_name(t));
				why = msg;
				bad = (size_t)(S->f[c].s - (const char *)ctx->map) - ls;
			}
		}
		if (why && L->fail_bad) {
			size_t cur = atomic_load(&L->fail_piece);

			p->where_off[0] = ls + bad;
			snprintf(p->where_msg[0], sizeof(p->where_msg[0]), "%s", why);
			p->bad_row = true;
			/* Later pieces need not run: the first bad row is
			 * in this one or an earlier one. */
			while (idx < cur &&
			       !atomic_compare_exchange_weak(&L->fail_piece, &cur, idx))
				;
			break;
		}
		if (why) {
			if (p->nwhere < EAU2_LOAD_WHERE_MAX) {
				p->where_off[p->nwhere] = ls + bad;
				snprintf(p->where_msg[p->nwhere], sizeof(p->where_msg[0]), "%s", why);
				p->nwhere++;
			}
			p->skipped++;
			continue;
		}
		for (size_t c = 0; c < L->ncols && rc == 0; c++) {
			struct sfield *f = (long)c < n ? &S->f[c] : NULL;

			if (!f || f->kind == K_MISSING) {
				rc = eau2_builder_append_null(p->part, c, &err);
				continue;
			}
			switch (eau2_schema_type(L->schema, c)) {
			case EAU2_BOOL:
				rc = eau2_builder_append_bool(p->part, c, f->v.i != 0, &err);
				break;
			case EAU2_INT:
				rc = eau2_builder_append_int(p->part, c, f->v.i, &err);
				break;
			case EAU2_DOUBLE:
				rc = eau2_builder_append_double(p->part, c, f->kind == K_FLOAT ?
								f->v.d : (double)f->v.i, &err);
				break;
			default:
				rc = eau2_builder_append_string(p->part, c, f->s, f->n, &err);
				break;
			}
		}
		if (rc)
			goto fail;
		p->rows++;
	}
	goto done;
fail:
	p->code = rc;
	snprintf(p->msg, sizeof(p->msg), "%s", err.msg);
	atomic_store(&L->stop, true);
done:
	atomic_fetch_add(&ctx->bytes_done, p->end > p->start ? p->end - p->start : 0);
	pthread_mutex_lock(&L->lock);
	p->done = true;
	rc = eau2_load_join_done(L->ctx, L->b, &L->next_join, L->npieces, done_part, L, &err);
	if (rc) {
		struct spiece *j = &L->pieces[L->next_join];

		j->code = rc;
		snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
		atomic_store(&L->stop, true);
	}
	pthread_mutex_unlock(&L->lock);
}

int eau2_sor_load(struct eau2_load_ctx *ctx, eau2_df **df)
{
	struct sor_load L = { .ctx = ctx };
	struct sor S = { .ctx = ctx };
	eau2_schema *schema = NULL;
	size_t start = ctx->opt.from, end = ctx->size, pos, ls, le, ncols = 0, piece, n;
	size_t first_bad = 0;
	const char *first_why = NULL;
	char wide[64];
	int *kinds = NULL;
	int rc = 0;

	pthread_mutex_init(&L.lock, NULL);
	atomic_init(&L.stop, false);
	atomic_init(&L.fail_piece, SIZE_MAX);
	L.fail_bad = ctx->opt.on_error == EAU2_ON_ERROR_FAIL;
	if (start > ctx->size)
		start = ctx->size;
	if (ctx->opt.len && ctx->opt.len < ctx->size - start)
		end = start + ctx->opt.len;
	if (start > 0) {
		const uint8_t *nl = memchr(ctx->map + start, '\n', ctx->size - start);

		start = nl ? (size_t)(nl - ctx->map) + 1 : ctx->size;
	}
	if (start > end)
		start = end;
	if (ctx->opt.schema) {
		rc = eau2_schema_copy(ctx->opt.schema, &schema, ctx->err);
		if (rc)
			goto out;
		ncols = eau2_schema_ncols(schema);
	} else {
		kinds = calloc(EAU2_COLS_MAX, sizeof(*kinds));
		if (!kinds) {
			rc = eau2_error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
			goto out;
		}
		pos = start;
		for (int k = 0; k < SOR_INFER_LINES && next_line(ctx, &pos, end, &ls, &le); k++) {
			const char *why = NULL;
			size_t bad = 0;
			long nf = sor_fields(&S, (const char *)ctx->map + ls, le - ls, &why, &bad);

			if (nf > EAU2_COLS_MAX) {
				snprintf(wide, sizeof(wide), "%ld fields, more than %d", nf,
					 EAU2_COLS_MAX);
				why = wide;
				bad = 0;
			}
			if (why && !first_why) {
				first_why = why;
				first_bad = ls + bad;
			}
			if (why)
				continue;
			if ((size_t)nf > ncols)
				ncols = (size_t)nf;
			for (long c = 0; c < nf; c++)
				if (S.f[c].kind > kinds[c])
					kinds[c] = S.f[c].kind;
		}
		if (ncols == 0 && first_why) {
			char msg[300];

			snprintf(msg, sizeof(msg), "%s (and no valid SoR row in the first %d lines)",
				 first_why, SOR_INFER_LINES);
			rc = eau2_load_error_at(ctx, -EBADMSG, first_bad, msg);
			goto out;
		}
		if (ncols == 0) {
			rc = eau2_error_set(ctx->err, -EINVAL,
					    "%s: no SoR fields in the first %d lines%s",
					    ctx->path, SOR_INFER_LINES,
					    start >= end ? " (the range is empty)" : "");
			goto out;
		}
		rc = eau2_schema_new(&schema, ctx->err);
		for (size_t c = 0; c < ncols && rc == 0; c++) {
			char name[32];

			snprintf(name, sizeof(name), "c%zu", c);
			rc = eau2_schema_add(schema, name, type_of(kinds[c]), ctx->err);
		}
		if (rc)
			goto out;
	}
	L.schema = schema;
	L.ncols = ncols;
	rc = eau2_builder_new_in(ctx->db, schema, &L.b, ctx->err);
	if (rc)
		goto out;

	/* Pieces cut right after newlines, so only the last piece can end in
	 * a partial line (dropped unless the range runs to the end). */
	piece = eau2_load_tune.piece_bytes;
	if (!piece) {
		piece = (end - start) / (ctx->threads * 4);
		if (piece < (256u << 10))
			piece = 256u << 10;
		if (piece > (16u << 20))
			piece = 16u << 20;
	}
	n = (end - start) / piece + 1;
	L.pieces = calloc(n, sizeof(*L.pieces));
	L.workers = calloc(ctx->threads, sizeof(*L.workers));
	if (!L.pieces || !L.workers) {
		rc = eau2_error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
		goto out;
	}
	L.npieces = n;
	for (unsigned w = 0; w < ctx->threads; w++)
		L.workers[w].ctx = ctx;
	L.pieces[0].start = start;
	for (size_t i = 1; i < n; i++) {
		size_t raw = start + (size_t)((unsigned __int128)(end - start) * i / n);
		const uint8_t *nl;

		if (raw < L.pieces[i - 1].start)
			raw = L.pieces[i - 1].start;
		nl = raw < end ? memchr(ctx->map + raw, '\n', end - raw) : NULL;
		L.pieces[i].start = nl ? (size_t)(nl - ctx->map) + 1 : end;
		L.pieces[i - 1].end = L.pieces[i].start;
	}
	L.pieces[n - 1].end = end;
	rc = eau2_load_parallel(ctx, n, sor_piece, &L);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (L.pieces[i].code) {
			rc = eau2_error_set(ctx->err, L.pieces[i].code, "%s: %s", ctx->path,
					    L.pieces[i].msg);
			goto out;
		}
		if (L.pieces[i].bad_row) { /* the first bad row, in file order */
			rc = eau2_load_error_at(ctx, -EBADMSG, L.pieces[i].where_off[0],
						L.pieces[i].where_msg[0]);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct spiece *p = &L.pieces[i];

		if (p->part) {
			rc = eau2_builder_join(L.b, p->part, ctx->err);
			p->part = NULL;
			if (rc)
				goto out;
		}
		ctx->stats->rows += p->rows;
		for (unsigned k = 0; k < p->nwhere; k++) {
			ctx->stats->skipped++;
			eau2_load_where_add(ctx, p->where_off[k], p->where_msg[k]);
		}
		ctx->stats->skipped += p->skipped - p->nwhere;
	}
	ctx->stats->bytes = end - start;
	rc = eau2_builder_finish(L.b, df, ctx->err);
	L.b = NULL;
out:
	for (size_t i = 0; i < L.npieces; i++)
		eau2_builder_abort(L.pieces[i].part);
	eau2_builder_abort(L.b);
	if (L.workers)
		for (unsigned w = 0; w < ctx->threads; w++)
			free(L.workers[w].f);
	free(L.workers);
	free(L.pieces);
	eau2_schema_free(schema);
	free(kinds);
	free(S.f);
	pthread_mutex_destroy(&L.lock);
	return rc;
}
