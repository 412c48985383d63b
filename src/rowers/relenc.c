/* SPDX-License-Identifier: MIT */
/*
 * relenc.c - encode and decode of the states of the relational rowers that
 * emit rows (filter, map, join): the rows a state holds, column-wise, in
 * the wire form described in expr.h, so that a state can cross processes
 * and hosts (a node runs the rower over its chunks, encodes, replies; the
 * caller decodes into a fresh state and joins it in order).
 *
 * A builder part cannot be read back, so accept records, per row group it
 * emitted, an item (the dataframe, retained, and the group index); encode
 * re-runs the class's emit function over each recorded group into a block
 * encoder instead of a builder. That costs a state 32 bytes per row group
 * while it is only run locally, and an encode pays the row production a
 * second time (a remote node builds rows it then sends away: a run mode
 * that only records items would save that). Decoded blocks are appended to
 * the decoding state's part and kept as an item holding their bytes, so a
 * decoded state can be encoded again (a node relaying replies).
 *
 * per_group states (map) carry only their new column, one block per row
 * group of the input, each block led by its group index: the decoding
 * side holds the same input and zips it with the decoded column. Their
 * blocks are sealed as chunks of their own (a sub-part forked from the
 * state's part and joined back, unless the block fills a chunk exactly),
 * and each becomes an item, so that the parts hold one chunk per item.
 *
 * Decode trusts nothing: every count is checked against the bytes left
 * before it is used, string offsets are checked to be monotone and end at
 * the byte count, validity bitmaps must hold exactly `nulls` zeros, and the
 * column types and a hash of the names must match the decoding state's
 * result schema. The whole buffer is checked before anything is appended.
 *
 * Access rules: everything here works on one state (and its own encoder),
 * owned by one thread at a time; nothing is shared.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/expr.h"
#include "rowers/rowers.h"

#define REL_MAGIC 0x314c455232554145ull  /* "EAU2REL1" little endian */
#define REL_MAGIC2 0x324c455232554145ull /* "EAU2REL2": per_group */

struct enc_col {
	enum eau2_type type;
	uint64_t n, nulls;
	struct eau2_buf valid, vals, data; /* vals: string end offsets */
};

struct eau2_rel_enc {
	size_t ncols;
	struct enc_col *cols;
};

/* ----------------------------------------------------------------- items */

static int items_push(struct eau2_rel_out *o, const struct eau2_rel_item *it,
		      struct eau2_error *err)
{
	if (o->nitems == o->items_cap) {
		size_t cap = o->items_cap ? 2 * o->items_cap : 8;
		struct eau2_rel_item *p = realloc(o->items, cap * sizeof(*p));
		if (!p)
			return eau2_error_set(err, -ENOMEM, "out of memory");
		o->items = p;
		o->items_cap = cap;
	}
	o->items[o->nitems++] = *it;
	return 0;
}

void eau2_rel_items_free(struct eau2_rel_out *o)
{
	for (size_t i = 0; i < o->nitems; i++) {
		eau2_df_release(o->items[i].df);
		free(o->items[i].blob);
	}
	free(o->items);
	o->items = NULL;
	o->nitems = o->items_cap = 0;
}

/* The builder one per_group block of `rows` rows goes to: the part itself
 * when the block fills a chunk (the part has nothing pending between
 * blocks, so it seals exactly that chunk), else a sub-part forked from it,
 * joined back by group_done, which seals the block as its own chunk.
 * Forking touches only the part (owned by this thread) and the writer's
 * own lock. */
static int group_builder(eau2_builder *part, uint64_t rows, eau2_builder **b,
			 bool *sub, struct eau2_error *err)
{
	*sub = rows != EAU2_CHUNK_ROWS;
	if (!*sub) {
		*b = part;
		return 0;
	}
	return eau2_builder_fork(part, b, err);
}

static int group_done(eau2_builder *part, eau2_builder *b, bool sub, int rc,
		      struct eau2_error *err)
{
	if (!sub)
		return rc;
	if (rc == 0)
		return eau2_builder_join(part, b, err);
	eau2_builder_abort(b);
	return rc;
}

int eau2_rel_sink_open(struct eau2_rel_sink *k, struct eau2_error *err)
{
	struct eau2_rel_item it = { .group = k->g->group };
	eau2_builder *part;
	bool sub = false;
	int rc;

	if (k->enc || k->b)
		return 0;
	if ((rc = eau2_rel_out_part(k->out, &part, err)))
		return rc;
	if (k->out->per_group &&
	    (rc = group_builder(part, k->g->rows, &k->b, &sub, err)))
		return rc;
	if (!k->out->per_group)
		k->b = part;
	if (sub)
		k->part = part;
	/* The group's rows may be reproduced by encode while the state lives. */
	it.df = eau2_df_retain((eau2_df *)(uintptr_t)k->g->df);
	if ((rc = items_push(k->out, &it, err)))
		eau2_df_release(it.df);
	return rc;
}

int eau2_rel_accept(struct eau2_rel_out *o, void *state,
		    eau2_rel_emit_fn emit, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct eau2_rel_sink k = { .out = o, .g = g };
	int rc = emit(state, g, &k, err);

	if (k.part)
		rc = group_done(k.part, k.b, true, rc, err);
	return rc;
}

/* --------------------------------------------------------------- encoder */

static int enc_bit(struct eau2_buf *b, uint64_t i, bool v)
{
	uint8_t z = 0;

	if (i % 8 == 0 && eau2_buf_put(b, &z, 1))
		return -ENOMEM;
	if (v)
		b->p[i / 8] |= (uint8_t)(1u << (i % 8));
	return 0;
}

static int enc_col(struct eau2_rel_enc *e, size_t col, enum eau2_type type,
		   struct enc_col **c, struct eau2_error *err)
{
	if (col >= e->ncols)
		return eau2_error_set(err, -EINVAL, "encode: column %zu of %zu",
				      col, e->ncols);
	*c = &e->cols[col];
	if (type && (*c)->type != type)
		return eau2_error_set(err, -EINVAL, "encode: column %zu is %s, "
				      "not %s", col, eau2_type_name((*c)->type),
				      eau2_type_name(type));
	return 0;
}

static int enc_done(struct enc_col *c, bool valid, int rc,
		    struct eau2_error *err)
{
	if (rc == 0)
		rc = enc_bit(&c->valid, c->n, valid);
	if (rc)
		return eau2_error_set(err, -ENOMEM, "encode: out of memory");
	c->nulls += !valid;
	c->n++;
	return 0;
}

int eau2_rel_enc_null(struct eau2_rel_enc *e, size_t col,
		      struct eau2_error *err)
{
	struct enc_col *c = NULL;
	int rc = enc_col(e, col, 0, &c, err);

	if (rc)
		return rc;
	switch (c->type) {
	case EAU2_BOOL:
		rc = enc_bit(&c->vals, c->n, false);
		break;
	case EAU2_INT:
	case EAU2_DOUBLE:
		rc = eau2_buf_u64(&c->vals, 0);
		break;
	default:
		rc = eau2_buf_u64(&c->vals, c->data.len);
		break;
	}
	return enc_done(c, false, rc, err);
}

int eau2_rel_enc_bool(struct eau2_rel_enc *e, size_t col, bool v,
		      struct eau2_error *err)
{
	struct enc_col *c = NULL;
	int rc = enc_col(e, col, EAU2_BOOL, &c, err);

	return rc ? rc : enc_done(c, true, enc_bit(&c->vals, c->n, v), err);
}

int eau2_rel_enc_int(struct eau2_rel_enc *e, size_t col, int64_t v,
		     struct eau2_error *err)
{
	struct enc_col *c = NULL;
	int rc = enc_col(e, col, EAU2_INT, &c, err);

	return rc ? rc : enc_done(c, true, eau2_buf_put(&c->vals, &v, 8), err);
}

int eau2_rel_enc_double(struct eau2_rel_enc *e, size_t col, double v,
			struct eau2_error *err)
{
	struct enc_col *c = NULL;
	int rc = enc_col(e, col, EAU2_DOUBLE, &c, err);

	return rc ? rc : enc_done(c, true, eau2_buf_put(&c->vals, &v, 8), err);
}

int eau2_rel_enc_string(struct eau2_rel_enc *e, size_t col, const char *s,
			size_t len, struct eau2_error *err)
{
	struct enc_col *c = NULL;
	int rc = enc_col(e, col, EAU2_STRING, &c, err);

	if (rc)
		return rc;
	rc = eau2_buf_put(&c->data, s, len);
	if (rc == 0)
		rc = eau2_buf_u64(&c->vals, c->data.len);
	return enc_done(c, true, rc, err);
}

/* Writes the block of rows collected so far (none: nothing), after its
 * row group index when group is not NULL, and empties the encoder. */
static int enc_flush(struct eau2_rel_enc *e, struct eau2_buf *out,
		     const uint64_t *group, const char *what,
		     struct eau2_error *err)
{
	uint64_t rows = e->ncols ? e->cols[0].n : 0;
	int rc = 0;

	for (size_t c = 1; c < e->ncols; c++)
		if (e->cols[c].n != rows)
			return eau2_error_set(err, -EINVAL, "%s: encode: column %zu "
					      "has %llu values, column 0 %llu",
					      what, c,
					      (unsigned long long)e->cols[c].n,
					      (unsigned long long)rows);
	if (rows == 0)
		return 0;
	if (group)
		rc |= eau2_buf_u64(out, *group);
	rc |= eau2_buf_u64(out, rows);
	for (size_t i = 0; i < e->ncols; i++) {
		struct enc_col *c = &e->cols[i];
		rc |= eau2_buf_u64(out, c->nulls);
		if (c->nulls)
			rc |= eau2_buf_put(out, c->valid.p, c->valid.len);
		if (c->type == EAU2_STRING)
			rc |= eau2_buf_u64(out, 0);
		rc |= eau2_buf_put(out, c->vals.p, c->vals.len);
		if (c->type == EAU2_STRING)
			rc |= eau2_buf_bytes(out, c->data.p, c->data.len);
		c->n = c->nulls = 0;
		c->valid.len = c->vals.len = c->data.len = 0;
	}
	return rc ? eau2_error_set(err, -ENOMEM, "%s: encode: out of memory",
				   what) : 0;
}

/* A hash of the result schema's names and types: a state of another run
 * shape (other arguments) is refused. */
static uint64_t schema_hash(const eau2_schema *s)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;

	for (size_t c = 0; c < eau2_schema_ncols(s); c++) {
		const char *name = eau2_schema_name(s, c);
		h = eau2_hash_u64(h ^ eau2_hash_bytes(name, strlen(name))) +
		    (uint64_t)eau2_schema_type(s, c);
	}
	return h;
}

int eau2_rel_encode(const struct eau2_rel_out *o, void *state,
		    eau2_rel_emit_fn emit, const char *what, void **buf,
		    size_t *len, struct eau2_error *err)
{
	const eau2_schema *schema = o->shared ? o->shared->schema : NULL;
	struct eau2_rel_enc e = {0};
	struct eau2_buf b = {0};
	struct eau2_chunk_view *views = NULL;
	size_t nviews = 0;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	if (!schema)
		return eau2_error_set(err, -EINVAL, "%s: encode of a state that "
				      "was not initialised", what);
	e.ncols = eau2_schema_ncols(schema);
	if (!(e.cols = calloc(e.ncols + 1, sizeof(*e.cols)))) {
		rc = eau2_error_set(err, -ENOMEM, "%s: encode: out of memory", what);
		goto out;
	}
	rc |= eau2_buf_u64(&b, o->per_group ? REL_MAGIC2 : REL_MAGIC);
	rc |= eau2_buf_u64(&b, e.ncols);
	for (size_t c = 0; c < e.ncols; c++) {
		e.cols[c].type = eau2_schema_type(schema, c);
		rc |= eau2_buf_u64(&b, (uint64_t)e.cols[c].type);
	}
	rc |= eau2_buf_u64(&b, schema_hash(schema));
	if (rc) {
		rc = eau2_error_set(err, -ENOMEM, "%s: encode: out of memory", what);
		goto out;
	}
	for (size_t i = 0; i < o->nitems; i++) {
		const struct eau2_rel_item *it = &o->items[i];
		if (!it->df) {
			if (eau2_buf_put(&b, it->blob, it->len)) {
				rc = eau2_error_set(err, -ENOMEM, "%s: encode: out "
						    "of memory", what);
				goto out;
			}
			continue;
		}
		size_t nc = eau2_df_ncols(it->df);
		if (nc + 1 > nviews) {
			struct eau2_chunk_view *v = realloc(views, (nc + 1) *
							    sizeof(*v));
			if (!v) {
				rc = eau2_error_set(err, -ENOMEM, "%s: encode: "
						    "out of memory", what);
				goto out;
			}
			views = v;
			nviews = nc + 1;
		}
		for (size_t c = 0; c < nc; c++)
			if ((rc = eau2_df_chunk(it->df, c, it->group, &views[c],
						err)))
				goto out;
		struct eau2_group g = {
			.df = it->df, .group = it->group, .cols = views,
			.first_row = eau2_df_group_first_row(it->df, it->group),
			.rows = eau2_df_group_rows(it->df, it->group),
		};
		struct eau2_rel_sink k = { .enc = &e, .g = &g };
		uint64_t group = it->group;
		if ((rc = emit(state, &g, &k, err)) ||
		    (rc = enc_flush(&e, &b, o->per_group ? &group : NULL, what,
				    err)))
			goto out;
	}
	*buf = b.p;
	*len = b.len;
	b.p = NULL;
out:
	for (size_t c = 0; e.cols && c < e.ncols; c++) {
		free(e.cols[c].valid.p);
		free(e.cols[c].vals.p);
		free(e.cols[c].data.p);
	}
	free(e.cols);
	free(views);
	free(b.p);
	return rc;
}

/* --------------------------------------------------------------- decoder */

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int bad(const char **why, const char *what)
{
	*why = what;
	return -EBADMSG;
}

/* One column of a block: checked, then appended to column col of b when b
 * is not NULL. */
static int dec_col(struct eau2_rd *r, enum eau2_type type, uint64_t rows,
		   eau2_builder *b, size_t col, const char **why,
		   struct eau2_error *err)
{
	uint64_t bm = rows / 8 + (rows % 8 != 0), nulls, dlen = 0;
	const uint8_t *valid = NULL, *vals, *p = r->p;
	const char *data = NULL;
	int rc = 0;

	*why = NULL;
	if (eau2_rd_u64(r, &nulls) || nulls > rows)
		return bad(why, "bad null count");
	if (nulls) {
		uint64_t zeros = 0;
		if (bm > r->len - r->pos)
			return bad(why, "validity bitmap truncated");
		valid = p + r->pos;
		r->pos += bm;
		for (uint64_t i = 0; i < rows / 8; i++)
			zeros += 8 - (uint64_t)__builtin_popcount(valid[i]);
		for (uint64_t i = rows / 8 * 8; i < rows; i++)
			zeros += !((valid[i / 8] >> (i % 8)) & 1);
		if (zeros != nulls)
			return bad(why, "validity bitmap does not match the null "
				      "count");
	}
	vals = p + r->pos;
	switch (type) {
	case EAU2_BOOL:
		if (bm > r->len - r->pos)
			return bad(why, "values truncated");
		r->pos += bm;
		break;
	case EAU2_INT:
	case EAU2_DOUBLE:
		if (rows > (r->len - r->pos) / 8)
			return bad(why, "values truncated");
		r->pos += rows * 8;
		break;
	default: {
		if (rows >= (r->len - r->pos) / 8)
			return bad(why, "string offsets truncated");
		r->pos += (rows + 1) * 8;
		if (eau2_rd_u64(r, &dlen) || dlen > r->len - r->pos)
			return bad(why, "string bytes truncated");
		data = (const char *)p + r->pos;
		r->pos += dlen;
		uint64_t prev = rd64(vals);
		if (prev != 0)
			return bad(why, "string offsets do not start at 0");
		for (uint64_t i = 1; i <= rows; i++) {
			uint64_t o = rd64(vals + i * 8);
			if (o < prev || o > dlen)
				return bad(why, "string offsets out of order or "
					      "past the bytes");
			prev = o;
		}
		if (prev != dlen)
			return bad(why, "string offsets do not end at the byte "
				      "count");
		break;
	}
	}
	if (!b)
		return 0;
	for (uint64_t i = 0; i < rows && rc == 0; i++) {
		if (valid && !((valid[i / 8] >> (i % 8)) & 1)) {
			rc = eau2_builder_append_null(b, col, err);
			continue;
		}
		switch (type) {
		case EAU2_BOOL:
			rc = eau2_builder_append_bool(b, col,
						      (vals[i / 8] >> (i % 8)) & 1,
						      err);
			break;
		case EAU2_INT:
			rc = eau2_builder_append_int(b, col, (int64_t)rd64(vals + i * 8),
						     err);
			break;
		case EAU2_DOUBLE: {
			double d;
			memcpy(&d, vals + i * 8, 8);
			rc = eau2_builder_append_double(b, col, d, err);
			break;
		}
		default: {
			uint64_t o0 = rd64(vals + i * 8), o1 = rd64(vals + i * 8 + 8);
			rc = eau2_builder_append_string(b, col, data + o0,
							(size_t)(o1 - o0), err);
			break;
		}
		}
	}
	return rc;
}

/* Every block from r's position to the end: checked only (part NULL) or
 * appended to part; per_group blocks each go to a chunk of their own and
 * become an item of o. */
static int dec_blocks(struct eau2_rd *r, struct eau2_rel_out *o,
		      eau2_builder *part, const char *what,
		      struct eau2_error *err)
{
	const eau2_schema *schema = o->shared->schema;
	size_t ncols = eau2_schema_ncols(schema);
	const char *why;
	int rc = 0;

	for (size_t block = 0; r->pos < r->len && rc == 0; block++) {
		struct eau2_rel_item it = {0};
		size_t start = r->pos;
		eau2_builder *b = part;
		uint64_t rows;
		bool sub = false;
		if (o->per_group) {
			if (eau2_rd_u64(r, &it.group) || !o->input ||
			    it.group >= eau2_df_ngroups(o->input))
				return eau2_error_set(err, -EBADMSG, "%s: decode: "
						      "block %zu: bad row group",
						      what, block);
		}
		if (eau2_rd_u64(r, &rows) || rows == 0 ||
		    (o->per_group &&
		     rows != eau2_df_group_rows(o->input, it.group)))
			return eau2_error_set(err, -EBADMSG, "%s: decode: block "
					      "%zu: bad row count", what, block);
		if (part && o->per_group &&
		    (rc = group_builder(part, rows, &b, &sub, err)))
			return rc;
		for (size_t c = 0; c < ncols && rc == 0; c++) {
			rc = dec_col(r, eau2_schema_type(schema, c), rows, b, c,
				     &why, err);
			if (rc && why)
				rc = eau2_error_set(err, rc, "%s: decode: block "
						    "%zu, column '%s': %s", what,
						    block,
						    eau2_schema_name(schema, c),
						    why);
			else if (rc)
				rc = eau2_error_prefix(err, rc, "%s: decode", what);
		}
		if (!part || !o->per_group)
			continue;
		if ((rc = group_done(part, b, sub, rc, err)))
			return rc;
		it.len = r->pos - start;
		if (!(it.blob = malloc(it.len)))
			return eau2_error_set(err, -ENOMEM, "%s: decode: out of "
					      "memory", what);
		memcpy(it.blob, r->p + start, it.len);
		if ((rc = items_push(o, &it, err)))
			free(it.blob);
	}
	return rc;
}

int eau2_rel_decode(struct eau2_rel_out *o, const char *what,
		    const void *buf, size_t len, struct eau2_error *err)
{
	const eau2_schema *schema = o->shared ? o->shared->schema : NULL;
	struct eau2_rd r = { .p = buf, .len = buf ? len : 0 };
	struct eau2_rel_item it = {0};
	uint64_t magic = 0, ncols = 0, h = 0;
	eau2_builder *b;
	size_t start;
	int rc;

	if (!schema)
		return eau2_error_set(err, -EINVAL, "%s: decode into a state that "
				      "was not initialised", what);
	if (eau2_rd_u64(&r, &magic) ||
	    magic != (o->per_group ? REL_MAGIC2 : REL_MAGIC))
		return eau2_error_set(err, -EBADMSG, "%s: decode: not an encoded "
				      "row state (bad magic)", what);
	if (eau2_rd_u64(&r, &ncols) || ncols != eau2_schema_ncols(schema))
		return eau2_error_set(err, -EBADMSG, "%s: decode: %llu columns, "
				      "the result has %zu", what,
				      (unsigned long long)ncols,
				      eau2_schema_ncols(schema));
	for (size_t c = 0; c < ncols; c++) {
		uint64_t t = 0;
		if (eau2_rd_u64(&r, &t) || t != (uint64_t)eau2_schema_type(schema, c))
			return eau2_error_set(err, -EBADMSG, "%s: decode: column "
					      "'%s' has type %llu, not %s", what,
					      eau2_schema_name(schema, c),
					      (unsigned long long)t,
					      eau2_type_name(eau2_schema_type(schema, c)));
	}
	if (eau2_rd_u64(&r, &h) || h != schema_hash(schema))
		return eau2_error_set(err, -EBADMSG, "%s: decode: column names "
				      "differ from the result's", what);
	start = r.pos;
	if ((rc = dec_blocks(&r, o, NULL, what, err)))
		return rc;
	if (start == len)
		return 0; /* no rows */
	if (o->per_group) {
		if ((rc = eau2_rel_out_part(o, &b, err)))
			return rc;
		r.pos = start;
		return dec_blocks(&r, o, b, what, err); /* as below */
	}
	it.len = len - start;
	if (!(it.blob = malloc(it.len)))
		return eau2_error_set(err, -ENOMEM, "%s: decode: out of memory",
				      what);
	memcpy(it.blob, r.p + start, it.len);
	if ((rc = items_push(o, &it, err))) {
		free(it.blob);
		return rc;
	}
	if ((rc = eau2_rel_out_part(o, &b, err)))
		return rc;
	r.pos = start;
	/* Only -ENOMEM / -ENOSPC from here: the state is then unusable
	 * (its part may hold a partial block) and must be destroyed. */
	return dec_blocks(&r, o, b, what, err);
}

/* ------------------------------------------------------ per_group finish */

/* Whether the items are the input's row groups 0, 1, ... in order (the
 * new columns then have the input's row groups: one chunk per item). */
static bool covers(const struct eau2_rel_out *o, const eau2_df *in)
{
	if (o->nitems != eau2_df_ngroups(in))
		return false;
	for (size_t i = 0; i < o->nitems; i++)
		if (o->items[i].group != i)
			return false;
	return true;
}

/* The copying result: for each item k, the input's row group of that
 * item, then chunk k of the new columns. */
static int copy_rows(const struct eau2_run_ctx *ctx,
		     const struct eau2_rel_out *o, const eau2_df *cols,
		     const char *what, eau2_df **result, struct eau2_error *err)
{
	const eau2_df *in = ctx->input;
	const eau2_schema *cs = eau2_df_schema(cols);
	size_t ncols = eau2_df_ncols(in), nnew = eau2_df_ncols(cols);
	struct eau2_chunk_view v;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *all = NULL;
	int rc;

	if (eau2_df_ngroups(cols) != o->nitems)
		return eau2_error_set(err, -EINVAL, "%s: %zu chunks for %zu row "
				      "groups", what, eau2_df_ngroups(cols),
				      o->nitems);
	if ((rc = eau2_schema_copy(eau2_df_schema(in), &schema, err)))
		goto out;
	for (size_t c = 0; c < nnew; c++)
		if ((rc = eau2_schema_add(schema, eau2_schema_name(cs, c),
					  eau2_schema_type(cs, c), err)))
			goto out;
	if ((rc = eau2_builder_new(ctx->db, schema, &b, err)))
		goto out;
	if (!(all = malloc(EAU2_CHUNK_ROWS * sizeof(*all)))) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	for (uint32_t i = 0; i < EAU2_CHUNK_ROWS; i++)
		all[i] = i;
	struct eau2_rel_sink k = { .b = b };
	for (size_t i = 0; i < o->nitems; i++) {
		size_t g = o->items[i].group;
		uint32_t rows = eau2_df_group_rows(cols, i);
		if (g >= eau2_df_ngroups(in) || eau2_df_group_rows(in, g) != rows) {
			rc = eau2_error_set(err, -EINVAL, "%s: chunk %zu does not "
					    "match row group %zu", what, i, g);
			goto out;
		}
		for (size_t c = 0; c < ncols + nnew; c++) {
			if ((rc = c < ncols ? eau2_df_chunk(in, c, g, &v, err)
					    : eau2_df_chunk(cols, c - ncols, i, &v,
							    err)) ||
			    (rc = eau2_rel_append_rows(&k, c, &v, all, rows, err)))
				goto out;
		}
	}
	rc = eau2_builder_finish(b, result, err);
	b = NULL;
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(all);
	return rc;
}

int eau2_rel_finish_zip(struct eau2_rel_out *o, const struct eau2_run_ctx *ctx,
			const char *what, eau2_df **result,
			struct eau2_error *err)
{
	eau2_df *cols = NULL;
	int rc;

	*result = NULL;
	if ((rc = eau2_rel_out_finish(o, &cols, err)))
		return rc;
	rc = -EXDEV;
	if (covers(o, ctx->input))
		rc = eau2_df_zip(ctx->db, ctx->input, cols, result, err);
	/* Another store, or the input's files removed meanwhile (its key
	 * deleted or replaced while this run mapped it): copy instead. */
	if (rc == -EXDEV || rc == -ENOENT)
		rc = copy_rows(ctx, o, cols, what, result, err);
	eau2_df_release(cols);
	return rc;
}
