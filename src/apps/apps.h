/* SPDX-License-Identifier: MIT */
/*
 * apps.h - internal header of src/apps: the seed applications written as
 * rower classes (registered next to the built-ins by registry.c), and the
 * small helpers they share (column lookup with clear errors, integer
 * arguments, int/bool chunk access, bitmaps, store reads from rower init).
 *
 *   urlfreq      url, count of Common Log Format lines (malformed counted)
 *   linus        degrees of Linus over commits/users/projects tables
 *   linus-step   one frontier expansion pass of linus (bitmap state)
 *   bikes        the three bike-share queries over trips/stations/weather
 *   mandelbrot   iteration counts of an image, rows split across the pool
 *   mandelbrot-rows  the per-row worker pass of mandelbrot
 *
 * Nothing here keeps process-wide state except eau2_apps_get's lock (see
 * apps_util.c).
 */
#ifndef EAU2_APPS_APPS_H
#define EAU2_APPS_APPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eau2.h"

extern const struct eau2_rower_class eau2_app_urlfreq, eau2_app_linus,
	eau2_app_linus_step, eau2_app_bikes, eau2_app_mandelbrot,
	eau2_app_mandelbrot_rows;

/* The URL of one Common Log Format line (the grammar is in urlfreq.c):
 * 0 with *url pointing into line[0..len) and *url_len > 0, or -EINVAL for
 * a malformed line (*url, *url_len untouched). Pure: no state, no
 * allocation; reads only line[0..len). */
int eau2_app_clf_parse(const char *line, size_t len, const char **url,
		       size_t *url_len);

/* Type masks for eau2_apps_column. */
#define EAU2_APPS_T(t) (1u << (t))
#define EAU2_APPS_INTLIKE (EAU2_APPS_T(EAU2_INT) | EAU2_APPS_T(EAU2_BOOL))
#define EAU2_APPS_NUMERIC (EAU2_APPS_INTLIKE | EAU2_APPS_T(EAU2_DOUBLE))

/* Index of column `name` of df, else (when pos != SIZE_MAX and df's column
 * pos is named "c<pos>", as SoR and headerless CSV name them) column pos.
 * Its type must be in `types` (a mask of EAU2_APPS_T bits). Errors name
 * the application (`app`), the table (`table`, e.g. "commits (KEY)") and
 * the column: -ENOENT when missing, -EINVAL for a wrong type. */
int eau2_apps_column(const eau2_df *df, const char *app, const char *table,
		     const char *name, size_t pos, unsigned types, size_t *col,
		     struct eau2_error *err);

/* Integer argument `name` in [min, max], `def` when absent (required when
 * def is out of [min, max]). -EINVAL naming the argument otherwise. */
int eau2_apps_arg_i64(const struct eau2_args *args, const char *app,
		      const char *name, int64_t def, int64_t min, int64_t max,
		      int64_t *out, struct eau2_error *err);
/* Double argument, same rules (no range check when min > max). */
int eau2_apps_arg_double(const struct eau2_args *args, const char *app,
			 const char *name, double def, double *out,
			 struct eau2_error *err);

/* eau2_get serialised by a process-wide lock: rower inits run on several
 * worker threads at once while the run's store handle, which allows one
 * thread at a time, is otherwise idle (its owner waits in eau2_run).
 * The message names the argument (`what`, e.g. "stations") and key. */
int eau2_apps_get(eau2 *db, const char *app, const char *what, const char *key,
		  eau2_df **df, struct eau2_error *err);

/* 0 when the run's whole input has rows, else -EINVAL "<what> is empty".
 * Call it from init, except on a cluster's driver (ctx->key set), whose
 * input holds no rows: from finish there, where it asks the key's rows
 * from the directory. */
int eau2_apps_nonempty(const struct eau2_run_ctx *ctx, const char *what,
		       struct eau2_error *err);

/* The int64 values of an INT chunk (in place) or of a BOOL chunk (widened
 * into tmp, which holds EAU2_CHUNK_ROWS values). */
const int64_t *eau2_apps_ints(const struct eau2_chunk_view *v, int64_t *tmp);

/* A number from an INT, BOOL or DOUBLE view (the value must be valid). */
static inline double eau2_apps_num(const struct eau2_chunk_view *v, uint32_t i)
{
	if (v->type == EAU2_DOUBLE)
		return v->values.f64[i];
	if (v->type == EAU2_INT)
		return (double)v->values.i64[i];
	return (double)((v->values.bits[i >> 3] >> (i & 7)) & 1);
}

/* ------------------------------------------------------------- bitmaps */

static inline bool eau2_apps_bit(const uint64_t *w, uint64_t i)
{
	return (w[i >> 6] >> (i & 63)) & 1;
}
static inline void eau2_apps_set(uint64_t *w, uint64_t i)
{
	w[i >> 6] |= 1ull << (i & 63);
}
static inline size_t eau2_apps_words(uint64_t bits)
{
	return (size_t)((bits + 63) / 64);
}
uint64_t eau2_apps_popcount(const uint64_t *w, size_t nwords);

/* ------------------------------------------------------------ mandelbrot */

/* Escape iteration count of c = cx + i*cy, at most maxiter: the one
 * formula the rower and any serial reference must share. */
static inline uint32_t eau2_apps_mandel(double cx, double cy, uint32_t maxiter)
{
	double x = 0, y = 0, x2 = 0, y2 = 0;
	uint32_t n = 0;

	while (n < maxiter && x2 + y2 <= 4.0) {
		y = 2 * x * y + cy;
		x = x2 - y2 + cx;
		x2 = x * x;
		y2 = y * y;
		n++;
	}
	return n;
}

#endif
