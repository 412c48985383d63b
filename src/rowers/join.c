/* SPDX-License-Identifier: MIT */
/*
 * join.c - the `join` rower: a broadcast hash join of a small dataframe
 * (with=KEY, read from the store) into the one run over (the big one).
 * Arguments: with=KEY on=LEFT[:RIGHT] how=inner|left (default inner).
 *
 * The result holds every input column, then every column of the small one
 * but its key (a name already taken gets "_r" appended until unique). Rows
 * come in input order; an input row matching several small rows gives one
 * result row per match, in the small side's row order; with how=left an
 * input row with no match (a null key never matches) gives one row whose
 * small-side columns are null.
 *
 * The hash table over the small side is built once per run, by the first
 * state's init (eau2_rel_shared, filter.c), and is read-only afterwards:
 * int and bool keys whose range is at most about twice the small side's
 * row count index a direct array (key - min: one load, no hashing, 4
 * bytes a key, so 1e5 keys fit in L2), other int keys an open-addressing
 * table of raw int64 keys, string keys an eau2_htab; each key points to a
 * chain of its small rows (next[]), linked in row order. The small side's
 * result columns are copied once into flat per-row arrays (values, null
 * bytes, string offsets into one buffer), so that a match costs one
 * random load per column instead of a walk through chunk views.
 *
 * One-to-one joins (the small side's keys are unique, and the join is
 * left, or every input key is non-null and found: checked once, by make,
 * with one probe per input row up to the first miss) give each input row
 * exactly once, unchanged: the states then build only the small side's
 * columns, one chunk per input row group (eau2_rel_out per_group), and
 * finish zips the input with them, so the input's columns are shared,
 * never copied. Other joins write every column of the result, a row
 * group's matches JOIN_BATCH at a time: a skewed key whose output
 * explodes streams into the store in bounded memory (and a store that
 * fills stops it with "store is full"), never into the process's heap.
 *
 * On a cluster the small side is broadcast to the nodes (side_args) and
 * one-to-one joins are off: each node sees only its part of the input,
 * and the driver, which joins the states, none of it. Stored under a
 * key (--as) the output stays on the nodes (EAU2_ROWER_ROWWISE: rows
 * come in input order, so the parts' outputs concatenate): there each
 * part is a whole run of its own, one-to-one joins included.
 *
 * encode/decode carry the state's rows (relenc.c): encode re-runs
 * join_emit over the row groups the state took, probing the same table
 * (one-to-one joins: only the small side's columns, per row group).
 *
 * Access rules: the table (struct jt) is written only while it is built,
 * under the shared lock, before any state can see it; afterwards every
 * state reads it concurrently without locks. Each state owns its output
 * parts and scratch arrays.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/expr.h"
#include "rowers/rowers.h"
#include "util/mem.h"

/* Matches of one input row group handled at a time (also the width of one
 * append call): a many-to-many join's output streams into the store in
 * batches of this many rows, whatever the skew. */
#define JOIN_BATCH EAU2_CHUNK_ROWS

/* One small-side result column, flat by small row. */
struct jcol {
	enum eau2_type type;
	uint8_t *null;              /* 1 = null; NULL when the column has none */
	union {
		int64_t *i64;
		double *f64;
		uint8_t *b;
		uint64_t *off;      /* strings: rows + 1 offsets into data */
	} v;
	char *data;
};

struct jt {
	eau2_df *small;
	size_t lcol, rcol;          /* key columns: input, small */
	enum eau2_type ktype;
	bool left;
	bool unique;                /* no key has two small rows */
	bool one_to_one;            /* every input row matches exactly once */
	size_t ncols_out;           /* small columns in the result */
	size_t *scols;              /* their indexes in small */
	struct jcol *cols;          /* [ncols_out] */
	size_t sgroups, sncols;
	struct eau2_chunk_view *views; /* [group * sncols + col] */
	uint32_t *next;             /* small row -> next row + 1 of its key */
	/* int / bool keys in a small range: dir[key - kmin] = first row + 1 */
	uint32_t *dir;
	int64_t kmin;
	uint64_t krange;
	/* int / bool keys: key and chain head in one slot (one cache miss) */
	struct jslot {
		int64_t key;
		uint32_t head;      /* first row + 1; 0 = empty slot */
	} *slots;
	size_t mask;
	/* string keys */
	struct eau2_htab ht;
	uint32_t *head;             /* by htab id: first row + 1 */
	uint32_t empty_head;        /* the empty string's chain (kept out of
				     * the htab, whose key buffer may be NULL) */
};

static void jt_free(void *data)
{
	struct jt *t = data;

	if (!t)
		return;
	eau2_df_release(t->small);
	for (size_t c = 0; t->cols && c < t->ncols_out; c++) {
		free(t->cols[c].null);
		free(t->cols[c].v.i64);
		free(t->cols[c].data);
	}
	free(t->cols);
	free(t->scols);
	free(t->views);
	free(t->next);
	free(t->dir);
	free(t->slots);
	eau2_htab_free(&t->ht);
	free(t->head);
	free(t);
}

static inline size_t slot_of(int64_t k, size_t mask)
{
	return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

/* First small row + 1 holding int key k, 0 when none. */
static inline uint32_t find_int(const struct jt *t, int64_t k)
{
	if (t->dir) {
		uint64_t d = (uint64_t)k - (uint64_t)t->kmin;
		return d < t->krange ? t->dir[d] : 0;
	}
	size_t p = slot_of(k, t->mask);

	for (;;) {
		const struct jslot *sl = &t->slots[p];
		if (!sl->head || sl->key == k)
			return sl->head;
		p = (p + 1) & t->mask;
	}
}

/* Copies small column c (result column k) into flat arrays. */
static int flatten(struct jt *t, size_t k, size_t c, uint32_t nrows,
		   struct eau2_error *err)
{
	struct jcol *jc = &t->cols[k];
	uint64_t bytes = 0, r = 0;

	jc->type = eau2_schema_type(eau2_df_schema(t->small), c);
	for (size_t g = 0; g < t->sgroups; g++) {
		const struct eau2_chunk_view *v = &t->views[g * t->sncols + c];
		if (v->null_count && !jc->null &&
		    !(jc->null = calloc((size_t)nrows + 1, 1)))
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
		if (jc->type == EAU2_STRING)
			bytes += (uint64_t)(v->values.offsets[v->rows] -
					    v->values.offsets[0]);
	}
	jc->v.i64 = malloc(((size_t)nrows + 1) * 8);
	if (!jc->v.i64 || (jc->type == EAU2_STRING &&
			   !(jc->data = malloc(bytes + 1))))
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	bytes = 0;
	for (size_t g = 0; g < t->sgroups; g++) {
		const struct eau2_chunk_view *v = &t->views[g * t->sncols + c];
		for (uint32_t i = 0; i < v->rows; i++, r++) {
			bool valid = eau2_view_valid(v, i);
			if (jc->null)
				jc->null[r] = !valid;
			switch (jc->type) {
			case EAU2_BOOL:
				jc->v.b[r] = valid && eau2_view_bool(v, i);
				break;
			case EAU2_INT:
				jc->v.i64[r] = valid ? v->values.i64[i] : 0;
				break;
			case EAU2_DOUBLE:
				jc->v.f64[r] = valid ? v->values.f64[i] : 0;
				break;
			default: {
				size_t len = 0;
				const char *p = valid ? eau2_view_string(v, i, &len) : "";
				jc->v.off[r] = bytes;
				memcpy(jc->data + bytes, p, len);
				bytes += len;
				break;
			}
			}
		}
	}
	if (jc->type == EAU2_STRING)
		jc->v.off[r] = bytes;
	return 0;
}

/* The key of row i of an int or bool view. */
static inline int64_t int_key(const struct eau2_chunk_view *v, uint32_t i)
{
	return v->type == EAU2_INT ? v->values.i64[i] : eau2_view_bool(v, i);
}

/* Picks the direct array for int and bool keys spanning a range of at
 * most twice the rows (plus a little): allocated zeroed, filled by build. */
static int plan_direct(struct jt *t, uint32_t nrows, struct eau2_error *err)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	for (size_t g = 0; g < t->sgroups; g++) {
		const struct eau2_chunk_view *v = &t->views[g * t->sncols + t->rcol];
		for (uint32_t i = 0; i < v->rows; i++) {
			if (!eau2_view_valid(v, i))
				continue;
			int64_t k = int_key(v, i);
			lo = k < lo ? k : lo;
			hi = k > hi ? k : hi;
		}
	}
	if (lo > hi)
		return 0; /* no key: the hash table (empty) will do */
	uint64_t range = (uint64_t)hi - (uint64_t)lo;
	if (range >= 2 * (uint64_t)nrows + 64)
		return 0;
	t->kmin = lo;
	t->krange = range + 1;
	if (!(t->dir = eau2_zalloc_written(t->krange, sizeof(*t->dir))))
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	return 0;
}

static int build(struct jt *t, struct eau2_error *err)
{
	uint64_t rows = eau2_df_rows(t->small);
	uint32_t nrows = (uint32_t)rows;
	int rc = 0;

	if (rows >= UINT32_MAX - 1)
		return eau2_error_set(err, -E2BIG, "join: with: %llu rows is too "
				      "many for a broadcast join",
				      (unsigned long long)rows);
	t->sgroups = eau2_df_ngroups(t->small);
	t->views = calloc(t->sgroups * t->sncols + 1, sizeof(*t->views));
	t->next = malloc(((size_t)nrows + 1) * sizeof(*t->next));
	t->cols = calloc(t->ncols_out + 1, sizeof(*t->cols));
	if (!t->views || !t->next || !t->cols)
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	for (size_t g = 0; g < t->sgroups; g++)
		for (size_t c = 0; c < t->sncols; c++)
			if ((rc = eau2_df_chunk(t->small, c, g,
						&t->views[g * t->sncols + c], err)))
				return rc;
	uint64_t sum = 0;
	for (size_t g = 0; g < t->sgroups; g++)
		sum += t->views[g * t->sncols].rows;
	if (sum != rows)
		return eau2_error_set(err, -EBADMSG, "join: with: row groups do "
				      "not add up to the row count");
	for (size_t k = 0; k < t->ncols_out; k++)
		if ((rc = flatten(t, k, t->scols[k], nrows, err)))
			return rc;
	if (t->ktype == EAU2_STRING) {
		if (eau2_htab_init(&t->ht, nrows) < 0 ||
		    !(t->head = eau2_zalloc_written((size_t)nrows + 1, sizeof(*t->head))))
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
	} else {
		if ((rc = plan_direct(t, nrows, err)))
			return rc;
		t->mask = 15;
		while (!t->dir && t->mask < (size_t)nrows * 2)
			t->mask = t->mask * 2 + 1;
		t->slots = t->dir ? NULL : eau2_zalloc_written(t->mask + 1, sizeof(*t->slots));
		if (!t->dir && !t->slots)
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
	}
	/* Rows in reverse, each pushed at the head of its key's chain, so
	 * that every chain lists its rows in increasing order. */
	uint32_t r = nrows;
	t->unique = true;
	for (size_t g = t->sgroups; g-- > 0;) {
		const struct eau2_chunk_view *v = &t->views[g * t->sncols + t->rcol];
		for (uint32_t i = v->rows; i-- > 0;) {
			uint32_t *head;
			r--;
			t->next[r] = 0;
			if (!eau2_view_valid(v, i))
				continue; /* a null key matches nothing */
			if (t->ktype == EAU2_STRING) {
				size_t len;
				const char *p = eau2_view_string(v, i, &len);
				if (len == 0) {
					head = &t->empty_head;
				} else {
					int64_t id = eau2_htab_intern(&t->ht, p, len,
								      eau2_hash_bytes(p, len),
								      NULL);
					if (id < 0)
						return eau2_error_set(err, (int)id,
								      "join: out of memory");
					head = &t->head[id];
				}
			} else if (t->dir) {
				head = &t->dir[(uint64_t)int_key(v, i) -
					       (uint64_t)t->kmin];
			} else {
				int64_t k = int_key(v, i);
				size_t p = slot_of(k, t->mask);
				while (t->slots[p].head && t->slots[p].key != k)
					p = (p + 1) & t->mask;
				t->slots[p].key = k;
				head = &t->slots[p].head;
			}
			t->unique &= *head == 0;
			t->next[r] = *head;
			*head = r + 1;
		}
	}
	return 0;
}

static int all_match(const struct jt *t, const eau2_df *in,
		     struct eau2_error *err);

static int join_make(const struct eau2_run_ctx *ctx, eau2_schema **schema,
		     void **data, void (**free_data)(void *),
		     struct eau2_error *err)
{
	const eau2_schema *in = eau2_df_schema(ctx->input), *sm;
	const char *with = eau2_args_get(ctx->args, "with");
	const char *on = eau2_args_get(ctx->args, "on");
	const char *how = eau2_args_get(ctx->args, "how");
	char lname[EAU2_NAME_MAX + 1], rname[EAU2_NAME_MAX + 1];
	char name[EAU2_NAME_MAX + 1];
	struct eau2_error e;
	struct jt *t;
	int rc, col;

	*schema = NULL;
	if (!with || !on)
		return eau2_error_set(err, -EINVAL, "join: missing argument %s",
				      !with ? "with=KEY" : "on=LEFT[:RIGHT]");
	if (how && strcmp(how, "inner") && strcmp(how, "left"))
		return eau2_error_set(err, -EINVAL, "join: how: '%s' is not "
				      "inner or left", how);
	const char *colon = strchr(on, ':');
	size_t ll = colon ? (size_t)(colon - on) : strlen(on);
	const char *rs = colon ? colon + 1 : on;
	if (ll == 0 || ll > EAU2_NAME_MAX || !*rs || strlen(rs) > EAU2_NAME_MAX)
		return eau2_error_set(err, -EINVAL, "join: on: '%s' is not "
				      "LEFT[:RIGHT]", on);
	memcpy(lname, on, ll);
	lname[ll] = 0;
	strcpy(rname, rs);
	if (!(t = calloc(1, sizeof(*t))))
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	*data = t;
	*free_data = jt_free;
	t->left = how && strcmp(how, "left") == 0;
	if ((rc = eau2_get(ctx->db, with, &t->small, &e)))
		return eau2_error_set(err, rc, "join: with: %s", e.msg);
	sm = eau2_df_schema(t->small);
	t->sncols = eau2_df_ncols(t->small);
	if ((col = eau2_schema_find(in, lname)) < 0)
		return eau2_error_set(err, -ENOENT, "join: on: unknown column "
				      "'%s' in the input", lname);
	t->lcol = (size_t)col;
	if ((col = eau2_schema_find(sm, rname)) < 0)
		return eau2_error_set(err, -ENOENT, "join: on: unknown column "
				      "'%s' in '%s'", rname, with);
	t->rcol = (size_t)col;
	t->ktype = eau2_schema_type(in, t->lcol);
	if (t->ktype != eau2_schema_type(sm, t->rcol) || t->ktype == EAU2_DOUBLE)
		return eau2_error_set(err, -EINVAL, "join: on: key types differ "
				      "or are double: '%s' is %s, '%s' is %s",
				      lname, eau2_type_name(t->ktype), rname,
				      eau2_type_name(eau2_schema_type(sm, t->rcol)));
	if ((rc = eau2_schema_copy(in, schema, err)))
		return rc;
	t->scols = calloc(t->sncols, sizeof(*t->scols));
	if (!t->scols)
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	for (size_t c = 0; c < t->sncols; c++) {
		if (c == t->rcol)
			continue;
		snprintf(name, sizeof(name), "%s", eau2_schema_name(sm, c));
		while (eau2_schema_find(*schema, name) >= 0) {
			if (strlen(name) + 2 > EAU2_NAME_MAX)
				return eau2_error_set(err, -EINVAL, "join: cannot "
						      "rename clashing column '%s'",
						      eau2_schema_name(sm, c));
			strcat(name, "_r");
		}
		if ((rc = eau2_schema_add(*schema, name, eau2_schema_type(sm, c),
					  err)))
			return rc;
		t->scols[t->ncols_out++] = c;
	}
	if ((rc = build(t, err)))
		return rc;
	/* One result row per input row, each input row as it is: the states
	 * build only the small side's columns, zipped with the input. Not
	 * in a run spread over nodes: the states are joined where the input
	 * is not, and each part would judge its own rows only. */
	bool split = (ctx->flags & EAU2_RUN_PART) || ctx->key;
	if (!split && t->unique && t->ncols_out > 0 &&
	    (rc = t->left ? 1 : all_match(t, ctx->input, err)) < 0)
		return rc;
	t->one_to_one = !split && t->unique && t->ncols_out > 0 && rc == 1;
	if (t->one_to_one) {
		eau2_schema *right = NULL;
		size_t nin = eau2_schema_ncols(in);
		if ((rc = eau2_schema_new(&right, err)))
			return rc;
		for (size_t c = 0; c < t->ncols_out && rc == 0; c++)
			rc = eau2_schema_add(right, eau2_schema_name(*schema, nin + c),
					     eau2_schema_type(*schema, nin + c), err);
		eau2_schema_free(*schema);
		*schema = right;
		if (rc)
			return rc;
	}
	return 0;
}

#define GATHER_BLOCK 1024u /* matches gathered before they are appended */

struct join_state {
	struct eau2_rel_out out;
	const struct jt *t;
	uint32_t *lrows, *rrows;    /* matches of the current group */
	size_t n, cap;
	/* Many-to-many groups are matched JOIN_BATCH pairs at a time: the
	 * next batch starts at input row next_i, small row next_h - 1 of its
	 * chain (0: row next_i not probed yet); more is set while a group
	 * has matches left. */
	uint32_t next_i, next_h;
	bool more;
	uint64_t *scratch;          /* 2 * GATHER_BLOCK values */
};

static int join_init(void *state, const struct eau2_run_ctx *ctx,
		     struct eau2_error *err)
{
	struct join_state *s = state;
	int rc = eau2_rel_shared_get(ctx, &eau2_rower_join, join_make,
				     &s->out.shared, err);

	if (rc)
		return rc;
	s->t = s->out.shared->data;
	s->out.per_group = s->t->one_to_one;
	s->out.input = ctx->input;
	if (!(s->scratch = malloc(2 * GATHER_BLOCK * sizeof(*s->scratch))))
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	return 0;
}

static int grow(struct join_state *s, size_t want)
{
	size_t cap = s->cap ? s->cap : EAU2_CHUNK_ROWS;

	while (cap < want)
		cap *= 2;
	uint32_t *a = realloc(s->lrows, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	s->lrows = a;
	uint32_t *b = realloc(s->rrows, cap * sizeof(*b));
	if (!b)
		return -ENOMEM;
	s->rrows = b;
	s->cap = cap;
	return 0;
}

static inline int push(struct join_state *s, uint32_t l, uint32_t r)
{
	if (s->n == s->cap && grow(s, s->n + 1))
		return -ENOMEM;
	s->lrows[s->n] = l;
	s->rrows[s->n] = r;
	s->n++;
	return 0;
}

/* Appends small result column c at small rows[0..n) (UINT32_MAX: null)
 * to column out. */
static int append_small(const struct jcol *jc, struct eau2_rel_sink *k,
			size_t out, const uint32_t *rows, size_t n,
			uint64_t *scratch, struct eau2_error *err)
{
	eau2_builder *b = k->b;
	int rc = 0;
	size_t j;

#define NUL(r) ((r) == UINT32_MAX || (jc->null && jc->null[r]))
	if (!b) {
		for (j = 0; j < n && rc == 0; j++) {
			uint32_t r = rows[j];
			if (NUL(r)) {
				rc = eau2_rel_put_null(k, out, err);
				continue;
			}
			switch (jc->type) {
			case EAU2_BOOL:
				rc = eau2_rel_put_bool(k, out, jc->v.b[r], err);
				break;
			case EAU2_INT:
				rc = eau2_rel_put_int(k, out, jc->v.i64[r], err);
				break;
			case EAU2_DOUBLE:
				rc = eau2_rel_put_double(k, out, jc->v.f64[r], err);
				break;
			default:
				rc = eau2_rel_put_string(k, out,
							 jc->data + jc->v.off[r],
							 jc->v.off[r + 1] - jc->v.off[r],
							 err);
				break;
			}
		}
		return rc;
	}
	/* Blocks of GATHER_BLOCK matches: a tight loop loads the values (the
	 * loads are independent, so many misses overlap), then they are
	 * appended. */
	for (size_t j0 = 0; j0 < n && rc == 0; j0 += GATHER_BLOCK) {
		size_t m = n - j0 < GATHER_BLOCK ? n - j0 : GATHER_BLOCK;
		const uint32_t *rw = rows + j0;
		uint64_t *tmp = scratch;
		bool nulls = false;
		for (j = 0; j < m; j++)
			nulls |= NUL(rw[j]);
		switch (jc->type) {
		case EAU2_BOOL:
			for (j = 0; j < m; j++)
				tmp[j] = rw[j] == UINT32_MAX ? 0 : jc->v.b[rw[j]];
			for (j = 0; j < m && rc == 0; j++)
				rc = nulls && NUL(rw[j])
				     ? eau2_builder_append_null(b, out, err)
				     : eau2_builder_append_bool(b, out, tmp[j], err);
			break;
		case EAU2_INT:
		case EAU2_DOUBLE:
			for (j = 0; j < m; j++)
				tmp[j] = rw[j] == UINT32_MAX ? 0
					 : (uint64_t)jc->v.i64[rw[j]];
			for (j = 0; j < m && rc == 0; j++) {
				if (nulls && NUL(rw[j])) {
					rc = eau2_builder_append_null(b, out, err);
				} else if (jc->type == EAU2_INT) {
					rc = eau2_builder_append_int(b, out,
								     (int64_t)tmp[j], err);
				} else {
					double d;
					memcpy(&d, &tmp[j], 8);
					rc = eau2_builder_append_double(b, out, d, err);
				}
			}
			break;
		default: {
			/* tmp: start offsets, then ends in the block's second half */
			uint64_t *end = tmp + GATHER_BLOCK;
			for (j = 0; j < m; j++) {
				uint32_t r = rw[j];
				tmp[j] = r == UINT32_MAX ? 0 : jc->v.off[r];
				end[j] = r == UINT32_MAX ? 0 : jc->v.off[r + 1];
				__builtin_prefetch(jc->data + tmp[j]);
			}
			for (j = 0; j < m && rc == 0; j++)
				rc = nulls && NUL(rw[j])
				     ? eau2_builder_append_null(b, out, err)
				     : eau2_builder_append_string(b, out,
								  jc->data + tmp[j],
								  end[j] - tmp[j], err);
			break;
		}
		}
	}
#undef NUL
	return rc;
}

/* The first matching small row + 1 of row i of the key view, 0 if none. */
static inline uint32_t probe(const struct jt *t, const struct eau2_chunk_view *v,
			     uint32_t i)
{
	if (!eau2_view_valid(v, i))
		return 0;
	if (t->ktype != EAU2_STRING)
		return find_int(t, int_key(v, i));
	size_t len;
	const char *p = eau2_view_string(v, i, &len);
	if (len == 0)
		return t->empty_head;
	int64_t id = eau2_htab_find(&t->ht, p, len, eau2_hash_bytes(p, len));
	return id >= 0 ? t->head[id] : 0;
}

/* 1 when every row of in has a non-null key found in the table (read
 * before any state runs: one probe per row, stopping at the first miss),
 * 0 otherwise. */
static int all_match(const struct jt *t, const eau2_df *in,
		     struct eau2_error *err)
{
	struct eau2_chunk_view v;
	int rc;

	for (size_t g = 0; g < eau2_df_ngroups(in); g++) {
		if ((rc = eau2_df_chunk(in, t->lcol, g, &v, err)))
			return rc;
		if (v.null_count)
			return 0;
		if (t->dir && v.type == EAU2_INT) {
			uint64_t lo = (uint64_t)t->kmin, miss = 0;
			for (uint32_t i = 0; i < v.rows; i++) {
				uint64_t d = (uint64_t)v.values.i64[i] - lo;
				miss |= d >= t->krange || !t->dir[d];
			}
			if (miss)
				return 0;
			continue;
		}
		for (uint32_t i = 0; i < v.rows; i++)
			if (!probe(t, &v, i))
				return 0;
	}
	return 1;
}

/* The matches of group g into lrows/rrows. */
static int match(struct join_state *s, const struct eau2_group *g)
{
	const struct jt *t = s->t;
	const struct eau2_chunk_view *v = &g->cols[t->lcol];
	uint32_t i;

	s->n = 0;
	if (t->unique && s->cap < g->rows && grow(s, g->rows))
		return -ENOMEM;
	if (t->unique && t->dir && v->type == EAU2_INT && !v->validity) {
		/* the common case: one load per row, no branch but the hit */
		const int64_t *key = v->values.i64;
		uint64_t lo = (uint64_t)t->kmin, range = t->krange;
		size_t n = 0;
		for (i = 0; i < g->rows; i++) {
			uint64_t d = (uint64_t)key[i] - lo;
			uint32_t h = d < range ? t->dir[d] : 0;
			if (h) {
				s->lrows[n] = i;
				s->rrows[n++] = h - 1;
			} else if (t->left) {
				s->lrows[n] = i;
				s->rrows[n++] = UINT32_MAX;
			}
		}
		s->n = n;
		return 0;
	}
	if (t->unique) {
		size_t n = 0;
		for (i = 0; i < g->rows; i++) {
			if (t->slots && t->ktype == EAU2_INT && i + 16 < g->rows)
				__builtin_prefetch(&t->slots[slot_of(v->values.i64[i + 16],
								     t->mask)]);
			uint32_t h = probe(t, v, i);
			if (h || t->left) {
				s->lrows[n] = i;
				s->rrows[n++] = h ? h - 1 : UINT32_MAX;
			}
		}
		s->n = n;
		return 0;
	}
	/* Many-to-many: the output of one group can explode (a skewed key
	 * matches every small row), so at most JOIN_BATCH pairs at a time,
	 * each batch written out before the next is matched. */
	uint32_t h = s->next_h;
	for (i = s->next_i; i < g->rows; i++, h = 0) {
		if (!h) {
			if (t->slots && t->ktype == EAU2_INT && i + 16 < g->rows)
				__builtin_prefetch(&t->slots[slot_of(v->values.i64[i + 16],
								     t->mask)]);
			h = probe(t, v, i);
			if (!h) {
				if (!t->left)
					continue;
				if (s->n == JOIN_BATCH)
					goto full;
				if (push(s, i, UINT32_MAX))
					return -ENOMEM;
				continue;
			}
		}
		for (; h; h = t->next[h - 1]) {
			if (s->n == JOIN_BATCH)
				goto full;
			if (push(s, i, h - 1))
				return -ENOMEM;
		}
	}
	s->more = false;
	return 0;
full:
	s->next_i = i;
	s->next_h = h;
	s->more = true;
	return 0;
}

static int join_emit(void *state, const struct eau2_group *g,
		     struct eau2_rel_sink *b, struct eau2_error *err)
{
	struct join_state *s = state;
	const struct jt *t = s->t;
	size_t ncols = eau2_df_ncols(g->df);
	int rc;

	if (g->rows > EAU2_CHUNK_ROWS)
		return eau2_error_set(err, -EINVAL, "join: row group of %u rows",
				      g->rows);
	if (t->one_to_one)
		ncols = 0; /* the input's columns are zipped, not copied */
	s->next_i = s->next_h = 0;
	s->more = false;
	do {
		if (match(s, g))
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
		if (s->n == 0)
			return 0;
		if (t->one_to_one && s->n != g->rows)
			return eau2_error_set(err, -EINVAL, "join: row group %zu of the "
					      "input is not the one the join was planned "
					      "for", g->group);
		if ((rc = eau2_rel_sink_open(b, err)))
			return rc;
		/* At most JOIN_BATCH = EAU2_CHUNK_ROWS matches: one call per
		 * column. */
		for (size_t c = 0; c < ncols; c++)
			if ((rc = eau2_rel_append_rows(b, c, &g->cols[c], s->lrows,
						       (uint32_t)s->n, err)))
				return rc;
		for (size_t c = 0; c < t->ncols_out; c++)
			if ((rc = append_small(&t->cols[c], b, ncols + c, s->rrows,
					       s->n, s->scratch, err)))
				return rc;
	} while (s->more);
	return 0;
}

static int join_chunk(void *state, const struct eau2_group *g,
		      struct eau2_error *err)
{
	return eau2_rel_accept(&((struct join_state *)state)->out, state,
			       join_emit, g, err);
}

/* emit touches only lrows/rrows: scratch of the state. */
static int join_encode(const void *state, void **buf, size_t *len,
		       struct eau2_error *err)
{
	const struct join_state *s = state;

	return eau2_rel_encode(&s->out, (void *)(uintptr_t)state, join_emit,
			       "join", buf, len, err);
}

static int join_decode(void *state, const void *buf, size_t len,
		       struct eau2_error *err)
{
	return eau2_rel_decode(&((struct join_state *)state)->out, "join", buf,
			       len, err);
}

static int join_join(void *state, void *other, struct eau2_error *err)
{
	return eau2_rel_out_join(&((struct join_state *)state)->out,
				 &((struct join_state *)other)->out, err);
}

static int join_finish(void *state, const struct eau2_run_ctx *ctx,
		       eau2_df **result, struct eau2_error *err)
{
	struct join_state *s = state;

	if (s->out.per_group)
		return eau2_rel_finish_zip(&s->out, ctx, "join", result, err);
	return eau2_rel_out_finish(&s->out, result, err);
}

static void join_destroy(void *state)
{
	struct join_state *s = state;

	free(s->lrows);
	free(s->rrows);
	free(s->scratch);
	eau2_rel_out_destroy(&s->out);
}

static const char *const join_args[] = { "with", "on", "how", NULL };
static const char *const join_side_args[] = { "with", NULL };

const struct eau2_rower_class eau2_rower_join = {
	.name = "join",
	.summary = "broadcast hash join of a small dataframe: with=KEY "
		   "on=LEFT[:RIGHT] how=inner|left",
	.flags = EAU2_ROWER_ORDERED | EAU2_ROWER_ROWWISE,
	.state_size = sizeof(struct join_state),
	.init = join_init,
	.accept_chunk = join_chunk,
	.join = join_join,
	.encode = join_encode,
	.decode = join_decode,
	.finish = join_finish,
	.destroy = join_destroy,
	.args = join_args,
	.side_args = join_side_args,
};
