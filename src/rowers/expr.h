/* SPDX-License-Identifier: MIT */
/*
 * expr.h - internal header of the relational rowers (filter, map, groupby,
 * join): the expression language they share, and the "ordered output"
 * helpers that let an EAU2_ROWER_ORDERED rower emit rows from many states
 * into one result dataframe in input order.
 *
 * Expressions: compiled once against a schema into a typed register
 * program (eau2_expr, immutable, shareable between threads), then evaluated
 * vectorised, EAU2_EXPR_BATCH rows at a time, by a per-thread evaluator
 * (eau2_expr_eval, owned by one state). Grammar, loosest binding first:
 *
 *     expr   := and ('or' and)*
 *     and    := not ('and' not)*
 *     not    := 'not' not | cmp
 *     cmp    := sum (('='|'=='|'!='|'<>'|'<'|'<='|'>'|'>=') sum
 *                    | 'is' ['not'] 'null')?
 *     sum    := prod (('+'|'-') prod)*
 *     prod   := unary (('*'|'/') unary)*
 *     unary  := '-' unary | atom
 *     atom   := INT | DOUBLE | 'str' | "str" | true | false | null
 *             | column | `any column name` | '(' expr ')'
 *
 * Keywords are case-insensitive; quotes inside literals are doubled.
 * Arithmetic is on int and double (int op double -> double); int + - *
 * overflow is an error naming the position and row; int / 0 is null;
 * comparisons need both sides of one kind (numbers, strings or bools);
 * null propagates and and/or/not follow SQL three-valued logic.
 */
#ifndef EAU2_ROWERS_EXPR_H
#define EAU2_ROWERS_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eau2.h"

/* Rows evaluated per batch: registers of this many values stay in L1/L2. */
#define EAU2_EXPR_BATCH 2048u
/* Limits on outside input: text bytes, nesting depth, registers. */
#define EAU2_EXPR_TEXT_MAX (64u << 10)
#define EAU2_EXPR_DEPTH_MAX 200u
#define EAU2_EXPR_REGS_MAX 512u

struct eau2_expr;
struct eau2_expr_eval;

/* Compiles text against schema. `what` names the argument in messages
 * ("where: position 7: unknown column 'pricee'"); positions are 1-based
 * byte offsets into text. -EINVAL for a syntax or type error, -ENOENT for
 * an unknown column, -E2BIG past the limits above, -ENOMEM. */
int eau2_expr_compile(const char *text, const eau2_schema *schema,
		      const char *what, struct eau2_expr **expr,
		      struct eau2_error *err);
void eau2_expr_free(struct eau2_expr *expr); /* NULL allowed */
/* Marks the input columns expr reads (eau2_columns_set). */
void eau2_expr_columns(const struct eau2_expr *expr, uint64_t *used);
/* Type of the result: EAU2_BOOL, EAU2_INT, EAU2_DOUBLE or EAU2_STRING. */
enum eau2_type eau2_expr_type(const struct eau2_expr *expr);

/* A per-thread evaluator of expr (which must outlive it). */
int eau2_expr_eval_new(const struct eau2_expr *expr,
		       struct eau2_expr_eval **ev, struct eau2_error *err);
void eau2_expr_eval_free(struct eau2_expr_eval *ev); /* NULL allowed */

/* One evaluated batch. null is NULL when no row is null (else one byte per
 * row, 1 = null; values at null rows are unspecified). Exactly one of
 * b/i64/f64 is set for bool/int/double; strings come either from a
 * column view (sview, rows from sbase) or a constant (sconst). Valid until
 * the next call on the evaluator. */
struct eau2_expr_vec {
	enum eau2_type type;
	uint32_t len;
	const uint8_t *null;
	const uint8_t *b;     /* 0 or 1 */
	const int64_t *i64;
	const double *f64;
	const struct eau2_chunk_view *sview;
	uint32_t sbase;
	const char *sconst;
	size_t sconst_len;
};

/* Evaluates rows [from, from + len) of g, len <= EAU2_EXPR_BATCH. Errors
 * (integer overflow) name the position and the row of the dataframe. */
int eau2_expr_eval_batch(struct eau2_expr_eval *ev, const struct eau2_group *g,
			 uint32_t from, uint32_t len, struct eau2_expr_vec *out,
			 struct eau2_error *err);

/* For a bool expression: the rows of g where it is true (not false, not
 * null), ascending, into sel (room for g->rows); *n receives their count. */
int eau2_expr_select(struct eau2_expr_eval *ev, const struct eau2_group *g,
		     uint32_t *sel, uint32_t *n, struct eau2_error *err);

/* String value of row i of a string vector. */
static inline const char *eau2_expr_vec_string(const struct eau2_expr_vec *v,
					       uint32_t i, size_t *len)
{
	if (v->sview)
		return eau2_view_string(v->sview, v->sbase + i, len);
	*len = v->sconst_len;
	return v->sconst;
}

/* ------------------------------------------------------ ordered output */

/* Run-wide state shared by every state of one ORDERED run of a class:
 * created by the first init of the run (keyed by the run context pointer
 * and the class), reference-counted by the states, freed with the last.
 * It holds what must exist once per run: the root builder of the result
 * (states fork parts from it; finish joins them in order), and class data
 * made once (a compiled expression, a hash table over the small side of a
 * join).
 *
 * Access rules: `lock` guards `root` while states fork from it; `data`
 * and `schema` are written only by make (under lock, before any other
 * state sees the object) and are read-only afterwards; refs is guarded by
 * the global registry lock in filter.c. */
struct eau2_rel_shared {
	const void *key_ctx;
	const void *key_cls;
	unsigned refs;
	struct eau2_rel_shared *next;
	int rc;                     /* make's result, returned to every init */
	struct eau2_error err;
	void *lock;                 /* pthread_mutex_t *, opaque here */
	eau2_builder *root;         /* NULL once finished */
	eau2_schema *schema;        /* of the result */
	void *data;
	void (*free_data)(void *data);
};

/* make fills *schema (result schema, owned by the shared object) and
 * *data; it runs once per run, under the shared object's lock. */
typedef int (*eau2_rel_make_fn)(const struct eau2_run_ctx *ctx,
				eau2_schema **schema, void **data,
				void (**free_data)(void *data),
				struct eau2_error *err);
int eau2_rel_shared_get(const struct eau2_run_ctx *ctx, const void *cls,
			eau2_rel_make_fn make, struct eau2_rel_shared **shared,
			struct eau2_error *err);
void eau2_rel_shared_put(struct eau2_rel_shared *shared); /* NULL allowed */

/* Where a state's rows came from, for encode (relenc.c): row group
 * `group` of `df` (retained), whose rows the class's emit function
 * reproduces; or, when df is NULL, blocks decoded from another state
 * (blob: a copy of their wire bytes, re-sent as they are). */
struct eau2_rel_item {
	eau2_df *df;
	size_t group;
	uint8_t *blob;
	size_t len;
};

/* The parts a state emitted into, in row order, and the items that say
 * where those rows came from, in the same order.
 *
 * per_group (map): the state emits exactly the rows of each input row
 * group it takes (one result row per input row, only the new columns),
 * and each group's rows are sealed as one chunk of their own, so the
 * result has the input's row groups and finish can zip it with the input
 * instead of copying the input's columns. Then every item is one row
 * group of `input` (decoded ones included: the wire form names the group,
 * and decode checks it against `input`), and the parts hold one chunk per
 * item, in item order. */
struct eau2_rel_out {
	struct eau2_rel_shared *shared;
	eau2_builder **parts;
	size_t n, cap;
	struct eau2_rel_item *items;
	size_t nitems, items_cap;
	bool per_group;
	const eau2_df *input;       /* per_group: the run's input */
};

/* The builder part to append to (forks one on first use). */
int eau2_rel_out_part(struct eau2_rel_out *o, eau2_builder **part,
		      struct eau2_error *err);
/* Appends other's parts and items after o's (other is left empty). */
int eau2_rel_out_join(struct eau2_rel_out *o, struct eau2_rel_out *other,
		      struct eau2_error *err);
/* Joins every part into the root in order and finishes the result. */
int eau2_rel_out_finish(struct eau2_rel_out *o, eau2_df **result,
			struct eau2_error *err);
/* Aborts the parts not joined; drops the shared reference. */
void eau2_rel_out_destroy(struct eau2_rel_out *o);

/* ------------------------------------------- emitting, encode, decode */

/* A state's rows can cross processes: encode writes the rows the state
 * holds, decode appends them to the decoding state's part. The builder
 * cannot be read back, so a state remembers per row group it emitted
 * (eau2_rel_item) and encode re-runs the class's emit function over that
 * group into a block encoder instead of a builder. Decoded rows are kept
 * as their wire bytes too, so a decoded state encodes again.
 *
 * Wire form (host order, little endian; relenc.c checks every length):
 *
 *     u64 magic "EAU2REL1", u64 ncols, u64 type[ncols], u64 names hash
 *     blocks until the end, each:
 *       u64 rows (>= 1), then per column:
 *         u64 nulls; when nulls > 0, validity bitmap (ceil(rows/8) bytes,
 *           LSB first, 1 = valid, exactly `nulls` zero bits among rows);
 *         bool: bitmap (ceil(rows/8) bytes);  int, double: rows x 8 bytes;
 *         string: (rows + 1) x i64 offsets (0, non-decreasing, last =
 *           bytes), u64 bytes, then the bytes.
 *
 * Values at null rows are written as zeros and ignored on decode.
 *
 * per_group states (map) write "EAU2REL2" instead, and each block starts
 * with a u64 row group index of the input before its row count; the row
 * count must equal that group's. */

struct eau2_rel_enc; /* one block being encoded, column-wise */

/* Emit sink: accept mode (out set: rows go to out's current part, opened
 * by eau2_rel_sink_open, which also records the group as an item) or
 * encode mode (enc set). */
struct eau2_rel_sink {
	struct eau2_rel_out *out;
	struct eau2_rel_enc *enc;
	const struct eau2_group *g;
	eau2_builder *b;
	eau2_builder *part;  /* per_group: the state's part, when b is a
			      * sub-part of it that eau2_rel_accept joins */
};

/* A class's row production for one row group: calls eau2_rel_sink_open
 * once it knows it emits rows, then the eau2_rel_put_* functions. The
 * state is the class's own; encode hands it a state it was given const:
 * emit may touch scratch buffers only. */
typedef int (*eau2_rel_emit_fn)(void *state, const struct eau2_group *g,
				struct eau2_rel_sink *sink,
				struct eau2_error *err);

int eau2_rel_sink_open(struct eau2_rel_sink *k, struct eau2_error *err);

int eau2_rel_enc_null(struct eau2_rel_enc *e, size_t col,
		      struct eau2_error *err);
int eau2_rel_enc_bool(struct eau2_rel_enc *e, size_t col, bool v,
		      struct eau2_error *err);
int eau2_rel_enc_int(struct eau2_rel_enc *e, size_t col, int64_t v,
		     struct eau2_error *err);
int eau2_rel_enc_double(struct eau2_rel_enc *e, size_t col, double v,
			struct eau2_error *err);
int eau2_rel_enc_string(struct eau2_rel_enc *e, size_t col, const char *s,
			size_t len, struct eau2_error *err);

static inline int eau2_rel_put_null(struct eau2_rel_sink *k, size_t col,
				    struct eau2_error *err)
{
	return k->b ? eau2_builder_append_null(k->b, col, err)
		    : eau2_rel_enc_null(k->enc, col, err);
}
static inline int eau2_rel_put_bool(struct eau2_rel_sink *k, size_t col,
				    bool v, struct eau2_error *err)
{
	return k->b ? eau2_builder_append_bool(k->b, col, v, err)
		    : eau2_rel_enc_bool(k->enc, col, v, err);
}
static inline int eau2_rel_put_int(struct eau2_rel_sink *k, size_t col,
				   int64_t v, struct eau2_error *err)
{
	return k->b ? eau2_builder_append_int(k->b, col, v, err)
		    : eau2_rel_enc_int(k->enc, col, v, err);
}
static inline int eau2_rel_put_double(struct eau2_rel_sink *k, size_t col,
				      double v, struct eau2_error *err)
{
	return k->b ? eau2_builder_append_double(k->b, col, v, err)
		    : eau2_rel_enc_double(k->enc, col, v, err);
}
static inline int eau2_rel_put_string(struct eau2_rel_sink *k, size_t col,
				      const char *s, size_t len,
				      struct eau2_error *err)
{
	return k->b ? eau2_builder_append_string(k->b, col, s, len, err)
		    : eau2_rel_enc_string(k->enc, col, s, len, err);
}

/* accept_chunk of a relational class: emit g into o's part. */
int eau2_rel_accept(struct eau2_rel_out *o, void *state,
		    eau2_rel_emit_fn emit, const struct eau2_group *g,
		    struct eau2_error *err);
/* encode / decode of a relational class (`what` names it in messages).
 * decode checks the whole buffer before appending anything: on -EBADMSG
 * the state is unchanged. */
int eau2_rel_encode(const struct eau2_rel_out *o, void *state,
		    eau2_rel_emit_fn emit, const char *what, void **buf,
		    size_t *len, struct eau2_error *err);
int eau2_rel_decode(struct eau2_rel_out *o, const char *what,
		    const void *buf, size_t len, struct eau2_error *err);
/* finish of a per_group state: joins the parts into the new columns'
 * dataframe, then zips the run's input with it (no copy) when the items
 * are the input's row groups in order, else (a state over part of the
 * input, an input in another store) copies the input rows of each item
 * next to its chunk of new columns. */
int eau2_rel_finish_zip(struct eau2_rel_out *o, const struct eau2_run_ctx *ctx,
			const char *what, eau2_df **result,
			struct eau2_error *err);
/* Frees the items (called by eau2_rel_out_destroy). */
void eau2_rel_items_free(struct eau2_rel_out *o);

/* Appends to column `out` of the sink the values of view at rows[0..n)
 * (a row of UINT32_MAX appends a null), converting nothing: the types
 * must match. */
int eau2_rel_append_rows(struct eau2_rel_sink *k, size_t out,
			 const struct eau2_chunk_view *view,
			 const uint32_t *rows, uint32_t n,
			 struct eau2_error *err);
/* Appends the values of an evaluated batch (nulls where v->null says) to
 * column col of the sink. */
int eau2_rel_append_vec(struct eau2_rel_sink *k, size_t col,
			const struct eau2_expr_vec *v, struct eau2_error *err);

#endif
