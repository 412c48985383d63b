/* SPDX-License-Identifier: MIT */
/*
 * lines.c - the text loader: one string column "line", one row per line,
 * without its "\n" and a "\r" before it. A last line without a newline is
 * a row; a file ending in "\n" has no empty last row. A NUL byte fails the
 * load (binary file) or, with EAU2_ON_ERROR_SKIP, skips its line.
 *
 * The file is cut at newlines into pieces parsed on all threads, each into
 * its own builder part. struct lines_load.lock guards the parent builder
 * (fork, join) and next_join; a piece's fields belong to its worker until
 * it sets done under the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df/df.h"
#include "df/load.h"

struct lpiece {
	size_t start, end;
	eau2_builder *part;
	uint64_t rows, skipped;
	size_t where_off[EAU2_LOAD_WHERE_MAX];
	unsigned nwhere;
	int code;
	size_t err_off; /* SIZE_MAX: no location */
	char msg[512];
	bool done;
};

struct lines_load {
	struct eau2_load_ctx *ctx;
	eau2_builder *b;
	pthread_mutex_t lock;
	size_t next_join; /* under lock */
	size_t npieces;
	struct lpiece *pieces;
	_Atomic bool stop;
};

/* Piece i's part, for eau2_load_join_done: once it is done, until the
 * load stops. Under L->lock. */
static eau2_builder **done_part(void *arg, size_t i)
{
	struct lines_load *L = arg;

	if (!L->pieces[i].done || atomic_load(&L->stop))
		return NULL;
	return &L->pieces[i].part;
}

static void lines_piece(void *arg, size_t idx, unsigned worker)
{
	struct lines_load *L = arg;
	struct eau2_load_ctx *ctx = L->ctx;
	struct lpiece *p = &L->pieces[idx];
	struct eau2_error err = { 0 };
	const char *base = (const char *)ctx->map;
	size_t pos = p->start;
	bool has_nul;
	int rc;

	(void)worker;
	if (p->start >= p->end || atomic_load(&L->stop))
		goto done;
	pthread_mutex_lock(&L->lock);
	rc = eau2_builder_fork(L->b, &p->part, &err);
	pthread_mutex_unlock(&L->lock);
	if (rc)
		goto fail;
	has_nul = memchr(base + p->start, 0, p->end - p->start) != NULL;
	while (pos < p->end) {
		const char *nl = memchr(base + pos, '\n', p->end - pos);
		size_t e = nl ? (size_t)(nl - base) : p->end, n = e - pos;
		const char *z;

		if (n && base[e - 1] == '\r')
			n--;
		if (has_nul && (z = memchr(base + pos, 0, e - pos))) {
			if (ctx->opt.on_error != EAU2_ON_ERROR_SKIP) {
				p->code = -EBADMSG;
				p->err_off = (size_t)(z - base);
				snprintf(p->msg, sizeof(p->msg), "NUL byte (binary file?)");
				atomic_store(&L->stop, true);
				goto done;
			}
			if (p->nwhere < EAU2_LOAD_WHERE_MAX)
				p->where_off[p->nwhere++] = (size_t)(z - base);
			p->skipped++;
		} else {
			rc = eau2_builder_append_string(p->part, 0, base + pos, n, &err);
			if (rc)
				goto fail;
			p->rows++;
		}
		pos = e + 1;
	}
	goto done;
fail:
	p->code = rc;
	p->err_off = SIZE_MAX;
	snprintf(p->msg, sizeof(p->msg), "%s", err.msg);
	atomic_store(&L->stop, true);
done:
	atomic_fetch_add(&ctx->bytes_done, p->end - p->start);
	pthread_mutex_lock(&L->lock);
	p->done = true;
	rc = eau2_load_join_done(L->ctx, L->b, &L->next_join, L->npieces, done_part, L, &err);
	if (rc) {
		struct lpiece *j = &L->pieces[L->next_join];

		j->code = rc;
		j->err_off = SIZE_MAX;
		snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
		atomic_store(&L->stop, true);
	}
	pthread_mutex_unlock(&L->lock);
}

int eau2_lines_load(struct eau2_load_ctx *ctx, eau2_df **df)
{
	struct lines_load L = { .ctx = ctx };
	eau2_schema *schema = NULL;
	size_t piece, n;
	int rc;

	pthread_mutex_init(&L.lock, NULL);
	atomic_init(&L.stop, false);
	rc = eau2_schema_new(&schema, ctx->err);
	if (rc == 0)
		rc = eau2_schema_add(schema, "line", EAU2_STRING, ctx->err);
	if (rc == 0)
		rc = eau2_builder_new_in(ctx->db, schema, &L.b, ctx->err);
	if (rc)
		goto out;
	piece = eau2_load_tune.piece_bytes;
	if (!piece) {
		piece = ctx->size / (ctx->threads * 4);
		if (piece < (256u << 10))
			piece = 256u << 10;
		if (piece > (16u << 20))
			piece = 16u << 20;
	}
	n = ctx->size / piece + 1;
	L.pieces = calloc(n, sizeof(*L.pieces));
	if (!L.pieces) {
		rc = eau2_error_set(ctx->err, -ENOMEM, "%s: out of memory", ctx->path);
		goto out;
	}
	L.npieces = n;
	for (size_t i = 1; i < n; i++) {
		size_t raw = (size_t)((unsigned __int128)ctx->size * i / n);
		const char *nl;

		if (raw < L.pieces[i - 1].start)
			raw = L.pieces[i - 1].start;
		nl = raw < ctx->size ? memchr(ctx->map + raw, '\n', ctx->size - raw) : NULL;
		L.pieces[i].start = nl ? (size_t)((const uint8_t *)nl - ctx->map) + 1 : ctx->size;
		L.pieces[i - 1].end = L.pieces[i].start;
	}
	L.pieces[n - 1].end = ctx->size;
	rc = eau2_load_parallel(ctx, n, lines_piece, &L);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct lpiece *p = &L.pieces[i];

		if (!p->code)
			continue;
		if (p->err_off == SIZE_MAX)
			rc = eau2_error_set(ctx->err, p->code, "%s: %s", ctx->path, p->msg);
		else
			rc = eau2_load_error_at(ctx, p->code, p->err_off, p->msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct lpiece *p = &L.pieces[i];

		if (p->part) {
			rc = eau2_builder_join(L.b, p->part, ctx->err);
			p->part = NULL;
			if (rc)
				goto out;
		}
		ctx->stats->rows += p->rows;
		for (unsigned k = 0; k < p->nwhere; k++) {
			ctx->stats->skipped++;
			eau2_load_where_add(ctx, p->where_off[k], "NUL byte (binary file?)");
		}
		ctx->stats->skipped += p->skipped - p->nwhere;
	}
	ctx->stats->bytes = ctx->size;
	rc = eau2_builder_finish(L.b, df, ctx->err);
	L.b = NULL;
out:
	for (size_t i = 0; i < L.npieces; i++)
		eau2_builder_abort(L.pieces[i].part);
	eau2_builder_abort(L.b);
	eau2_schema_free(schema);
	free(L.pieces);
	pthread_mutex_destroy(&L.lock);
	return rc;
}
