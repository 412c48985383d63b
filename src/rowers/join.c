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
 * int and bool keys go into an open-addressing table of raw int64 keys,
 * string keys into an eau2_htab; each key points to a chain of its small
 * rows (next[]), linked in row order.
 *
 * encode/decode carry the state's rows (relenc.c): encode re-runs
 * join_emit over the row groups the state took, probing the same table.
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

struct jt {
	eau2_df *small;
	size_t lcol, rcol;          /* key columns: input, small */
	enum eau2_type ktype;
	bool left;
	size_t ncols_out;           /* small columns in the result */
	size_t *scols;              /* their indexes in small */
	size_t sgroups, sncols;
	struct eau2_chunk_view *views; /* [group * sncols + col] */
	uint32_t *rg, *ri;          /* small row -> (group, index in it) */
	uint32_t *next;             /* small row -> next row + 1 of its key */
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
	free(t->scols);
	free(t->views);
	free(t->rg);
	free(t->ri);
	free(t->next);
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
	size_t p = slot_of(k, t->mask);

	for (;;) {
		const struct jslot *sl = &t->slots[p];
		if (!sl->head || sl->key == k)
			return sl->head;
		p = (p + 1) & t->mask;
	}
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
	t->rg = malloc(((size_t)nrows + 1) * sizeof(*t->rg));
	t->ri = malloc(((size_t)nrows + 1) * sizeof(*t->ri));
	t->next = malloc(((size_t)nrows + 1) * sizeof(*t->next));
	if (!t->views || !t->rg || !t->ri || !t->next)
		return eau2_error_set(err, -ENOMEM, "join: out of memory");
	for (size_t g = 0; g < t->sgroups; g++)
		for (size_t c = 0; c < t->sncols; c++)
			if ((rc = eau2_df_chunk(t->small, c, g,
						&t->views[g * t->sncols + c], err)))
				return rc;
	if (t->ktype == EAU2_STRING) {
		if (eau2_htab_init(&t->ht, nrows) < 0 ||
		    !(t->head = calloc((size_t)nrows + 1, sizeof(*t->head))))
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
	} else {
		t->mask = 15;
		while (t->mask < (size_t)nrows * 2)
			t->mask = t->mask * 2 + 1;
		t->slots = calloc(t->mask + 1, sizeof(*t->slots));
		if (!t->slots)
			return eau2_error_set(err, -ENOMEM, "join: out of memory");
	}
	/* Rows in reverse, each pushed at the head of its key's chain, so
	 * that every chain lists its rows in increasing order. */
	uint32_t r = nrows;
	for (size_t g = t->sgroups; g-- > 0;) {
		const struct eau2_chunk_view *v = &t->views[g * t->sncols + t->rcol];
		for (uint32_t i = v->rows; i-- > 0;) {
			r--;
			t->rg[r] = (uint32_t)g;
			t->ri[r] = i;
			t->next[r] = 0;
			if (!eau2_view_valid(v, i))
				continue; /* a null key matches nothing */
			if (t->ktype == EAU2_STRING) {
				size_t len;
				const char *s = eau2_view_string(v, i, &len);
				if (len == 0) {
					t->next[r] = t->empty_head;
					t->empty_head = r + 1;
					continue;
				}
				int64_t id = eau2_htab_intern(&t->ht, s, len,
							      eau2_hash_bytes(s, len),
							      NULL);
				if (id < 0)
					return eau2_error_set(err, (int)id, "join: "
							      "out of memory");
				t->next[r] = t->head[id];
				t->head[id] = r + 1;
				continue;
			}
			int64_t k = t->ktype == EAU2_INT ? v->values.i64[i]
							 : eau2_view_bool(v, i);
			size_t p = slot_of(k, t->mask);
			while (t->slots[p].head && t->slots[p].key != k)
				p = (p + 1) & t->mask;
			t->slots[p].key = k;
			t->next[r] = t->slots[p].head;
			t->slots[p].head = r + 1;
		}
	}
	if (r != 0)
		return eau2_error_set(err, -EBADMSG, "join: with: row groups do "
				      "not add up to the row count");
	return 0;
}

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
	return build(t, err);
}

struct join_state {
	struct eau2_rel_out out;
	const struct jt *t;
	uint32_t *lrows, *rrows;    /* matches of the current group */
	size_t n, cap;
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
	return 0;
}

static int push(struct join_state *s, uint32_t l, uint32_t r)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : EAU2_CHUNK_ROWS;
		uint32_t *a = realloc(s->lrows, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->lrows = a;
		uint32_t *b = realloc(s->rrows, cap * sizeof(*b));
		if (!b)
			return -ENOMEM;
		s->rrows = b;
		s->cap = cap;
	}
	s->lrows[s->n] = l;
	s->rrows[s->n] = r;
	s->n++;
	return 0;
}

/* Appends small column c at rows[0..n) (UINT32_MAX: null) to column out. */
static int append_small(const struct jt *t, struct eau2_rel_sink *b, size_t out,
			size_t c, const uint32_t *rows, size_t n,
			struct eau2_error *err)
{
	int rc = 0;

	for (size_t k = 0; k < n && rc == 0; k++) {
		uint32_t r = rows[k];
		if (r == UINT32_MAX) {
			rc = eau2_rel_put_null(b, out, err);
			continue;
		}
		const struct eau2_chunk_view *v = &t->views[t->rg[r] * t->sncols + c];
		uint32_t i = t->ri[r];
		if (!eau2_view_valid(v, i)) {
			rc = eau2_rel_put_null(b, out, err);
			continue;
		}
		switch (v->type) {
		case EAU2_BOOL:
			rc = eau2_rel_put_bool(b, out, eau2_view_bool(v, i), err);
			break;
		case EAU2_INT:
			rc = eau2_rel_put_int(b, out, v->values.i64[i], err);
			break;
		case EAU2_DOUBLE:
			rc = eau2_rel_put_double(b, out, v->values.f64[i], err);
			break;
		default: {
			size_t len;
			const char *p = eau2_view_string(v, i, &len);
			rc = eau2_rel_put_string(b, out, p, len, err);
			break;
		}
		}
	}
	return rc;
}

static int join_emit(void *state, const struct eau2_group *g,
		     struct eau2_rel_sink *b, struct eau2_error *err)
{
	struct join_state *s = state;
	const struct jt *t = s->t;
	const struct eau2_chunk_view *v = &g->cols[t->lcol];
	size_t ncols = eau2_df_ncols(g->df);
	int rc = 0;

	s->n = 0;
	for (uint32_t i = 0; i < g->rows && rc == 0; i++) {
		uint32_t h = 0;
		if (t->ktype == EAU2_INT && i + 16 < g->rows)
			__builtin_prefetch(&t->slots[slot_of(v->values.i64[i + 16],
							     t->mask)]);
		if (eau2_view_valid(v, i)) {
			if (t->ktype == EAU2_STRING) {
				size_t len;
				const char *p = eau2_view_string(v, i, &len);
				int64_t id = len == 0 ? -1 :
					eau2_htab_find(&t->ht, p, len,
						       eau2_hash_bytes(p, len));
				h = len == 0 ? t->empty_head : id >= 0 ? t->head[id] : 0;
			} else {
				h = find_int(t, t->ktype == EAU2_INT ? v->values.i64[i]
								     : eau2_view_bool(v, i));
			}
		}
		if (!h && t->left)
			rc = push(s, i, UINT32_MAX);
		for (; h && rc == 0; h = t->next[h - 1])
			rc = push(s, i, h - 1);
	}
	if (rc)
		return eau2_error_set(err, rc, "join: out of memory");
	if (s->n == 0)
		return 0;
	if ((rc = eau2_rel_sink_open(b, err)))
		return rc;
	/* lrows holds up to EAU2_CHUNK_ROWS distinct rows but may repeat them:
	 * append in slices the width of one call. */
	for (size_t c = 0; c < ncols; c++)
		for (size_t k = 0; k < s->n; k += EAU2_CHUNK_ROWS) {
			size_t m = s->n - k < EAU2_CHUNK_ROWS ? s->n - k
							       : EAU2_CHUNK_ROWS;
			if ((rc = eau2_rel_append_rows(b, c, &g->cols[c],
						       s->lrows + k, (uint32_t)m,
						       err)))
				return rc;
		}
	for (size_t c = 0; c < t->ncols_out; c++)
		if ((rc = append_small(t, b, ncols + c, t->scols[c], s->rrows,
				       s->n, err)))
			return rc;
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
	return eau2_rel_out_finish(&((struct join_state *)state)->out, result,
				   err);
}

static void join_destroy(void *state)
{
	struct join_state *s = state;

	free(s->lrows);
	free(s->rrows);
	eau2_rel_out_destroy(&s->out);
}

const struct eau2_rower_class eau2_rower_join = {
	.name = "join",
	.summary = "broadcast hash join of a small dataframe: with=KEY "
		   "on=LEFT[:RIGHT] how=inner|left",
	.flags = EAU2_ROWER_ORDERED,
	.state_size = sizeof(struct join_state),
	.init = join_init,
	.accept_chunk = join_chunk,
	.join = join_join,
	.encode = join_encode,
	.decode = join_decode,
	.finish = join_finish,
	.destroy = join_destroy,
};
