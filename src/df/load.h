/* SPDX-License-Identifier: MIT */
/*
 * load.h - internals shared by the loaders (load.c, csv.c, sor.c, lines.c)
 * and the CSV writer (csv_write.c): the mapped input file, the parallel
 * piece runner, number parsing and error locations.
 *
 * A load maps the input file read-only (MAP_PRIVATE) and never copies it
 * to the heap; pieces of it are parsed on worker threads, each into its own
 * builder part, and the parts are joined in file order. A file truncated by
 * someone else while it is mapped makes the kernel raise SIGBUS on the
 * missing pages: load.c's SIGBUS handler (installed on the first load,
 * chaining to the one it replaced for every other fault) maps zeros over
 * them and flags the load; a write that keeps the size is seen by an
 * inotify watch and by size/mtime/ctime before and after. Either way the
 * load fails with -EIO ("truncated or written to while it was being
 * loaded"): never a crash, never a dataframe of a mixed file.
 */
#ifndef EAU2_LOAD_H
#define EAU2_LOAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "df/df.h"

/* One load in progress. Filled by eau2_load before it calls a format. */
struct eau2_load_ctx {
	struct eau2_store *db;
	const char *path;
	int fd;
	const uint8_t *map; /* the whole file, or NULL when it is empty */
	size_t size;
	struct eau2_load_options opt; /* defaults applied */
	unsigned threads;
	struct eau2_load_stats *stats; /* never NULL (a local when the caller passed NULL) */
	struct eau2_error *err;        /* never NULL */
	_Atomic uint64_t bytes_done;   /* progress, updated by workers */
	/* Called after joins added row groups to the load's builder, with
	 * the loader's lock held (a load streaming what it has parsed:
	 * eau2_load_stream_in); NULL: none. */
	eau2_load_joined_fn *joined;
	void *joined_arg;
	_Atomic bool stopped;          /* joined said stop: no more pieces */
	uint64_t progress_next;        /* calling thread only */
};

/* Tunables, for tests that need small pieces or small samples. 0 keeps the
 * default. Not thread-safe: set them before loading. */
struct eau2_load_tune {
	size_t piece_bytes;   /* target bytes per parallel piece */
	size_t sample_bytes;  /* CSV: bytes per type-inference sample window */
	unsigned samples;     /* CSV: number of sample windows */
	uint64_t progress_bytes; /* between progress calls (64 MiB) */
	uint64_t stream_window;  /* eau2_load_stream_window (256 MiB) */
	_Atomic unsigned csv_missplits; /* out: CSV passes dropped for a split
					 * guessed inside quotes */
};
extern struct eau2_load_tune eau2_load_tune;

/* Runs fn(arg, i, worker) for every i in [0, n) on up to `threads` threads
 * (the calling thread is worker 0; fewer when threads cannot start);
 * stops handing out items once ctx->stopped is set. Between items the
 * calling thread reports progress (ctx->bytes_done) to opt.progress every
 * ~64 MiB: the callback only ever runs on the calling thread. Returns 0,
 * or -ECANCELED with ctx->err set when the load was stopped. */
typedef void (*eau2_load_item_fn)(void *arg, size_t i, unsigned worker);
int eau2_load_parallel(struct eau2_load_ctx *ctx, size_t n, eau2_load_item_fn fn,
		       void *arg);
void eau2_load_progress(struct eau2_load_ctx *ctx, bool final);

/* Loaders parse pieces of the file in parallel, each into a builder part,
 * and join the parts into the load's builder in piece order as they finish:
 * with the loader's lock held, after marking a piece done, this joins the
 * parts of pieces *next, *next + 1, ... for as long as part(arg, i) gives
 * one (a pointer to piece i's part, which it sets to NULL after joining;
 * part returns NULL for a piece not done yet, or when the load is
 * stopping), then calls ctx->joined if it joined any (and sets
 * ctx->stopped if that says stop). Returns 0, or the failed join's code
 * with err filled and *next left at that piece. */
typedef eau2_builder **(*eau2_load_part_fn)(void *arg, size_t i);
int eau2_load_join_done(struct eau2_load_ctx *ctx, eau2_builder *root, size_t *next, size_t n,
			eau2_load_part_fn part, void *arg, struct eau2_error *err);

/* 1-based line and byte column of byte offset off of the file. O(off). */
void eau2_load_locate(const struct eau2_load_ctx *ctx, size_t off,
		      uint64_t *line, uint64_t *col);
/* Fills err with "path:line:col: msg" for offset off; returns code. */
int eau2_load_error_at(struct eau2_load_ctx *ctx, int code, size_t off,
		       const char *msg);
/* Records a skipped row at off in ctx->stats->where (when a slot is free). */
void eau2_load_where_add(struct eau2_load_ctx *ctx, size_t off, const char *msg);

/* Exact parsers over s[0..n) (no NUL needed). parse_i64: optional sign and
 * 1..19 digits that fit int64. parse_f64: strtod's syntax in the C locale
 * (decimal, exponent, inf, nan, hex); fast exact path for short decimals. */
bool eau2_load_parse_i64(const char *s, size_t n, int64_t *v);
bool eau2_load_parse_f64(const char *s, size_t n, double *v);
/* The same without hex floats: CSV's double ("0x1f" stays a string). */
bool eau2_csv_parse_f64(const char *s, size_t n, double *v);

/* Worker threads for threads = 0. */
unsigned eau2_load_default_threads(void);

/* The formats. Each fills *df or leaves nothing behind and fills ctx->err. */
int eau2_csv_load(struct eau2_load_ctx *ctx, eau2_df **df);
int eau2_sor_load(struct eau2_load_ctx *ctx, eau2_df **df);
int eau2_lines_load(struct eau2_load_ctx *ctx, eau2_df **df);

/* CSV kinds of an unquoted field, shared by the CSV reader's type inference
 * and the writer (which quotes strings that would read back as another
 * type). */
enum {
	EAU2_KIND_NULL = 0,
	EAU2_KIND_TF = 1 << 0,  /* true / false */
	EAU2_KIND_01 = 1 << 1,  /* 0 / 1 */
	EAU2_KIND_INT = 1 << 2,
	EAU2_KIND_DBL = 1 << 3,
	EAU2_KIND_STR = 1 << 4,
};
unsigned eau2_csv_kind(const char *s, size_t n);
/* true/false in any of the spellings the reader takes. */
bool eau2_csv_parse_bool(const char *s, size_t n, bool *v);

#endif
