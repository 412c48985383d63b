/* SPDX-License-Identifier: MIT */
/*
 * filter.c - the `filter` rower (where=EXPR: the rows where EXPR is true,
 * every column, in input order), and the ordered-output machinery that
 * filter, map and join share (expr.h).
 *
 * Run-wide state: the executor gives every task of an ORDERED run a fresh
 * state but calls every init with the same run context pointer, and
 * destroys every state before eau2_run returns. So a process-wide list of
 * eau2_rel_shared objects keyed by (context pointer, class) and counted by
 * the states holding them gives each run one compiled expression, one hash
 * table and one root builder, made by whichever init comes first, and
 * freed with the last state. The key cannot be confused with a later run
 * reusing the address: that run starts after every state of this one has
 * dropped its reference.
 *
 * Output: each state forks builder parts from the shared root (under the
 * shared lock: a builder handle is not thread-safe) and appends its rows
 * there; join concatenates part lists; finish joins the parts into the
 * root in list order. Rows are copied value by value (the builder has no
 * bulk append yet): a filter result is a new dataframe that owns its data.
 * encode/decode (relenc.c) carry the rows themselves across processes.
 *
 * Access rules: `shared_list` and every object's `refs` are guarded by
 * `shared_lock`; see expr.h for the fields of one object.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/expr.h"
#include "rowers/rowers.h"

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct eau2_rel_shared *shared_list;

static void shared_free(struct eau2_rel_shared *s)
{
	if (s->root)
		eau2_builder_abort(s->root);
	if (s->free_data)
		s->free_data(s->data);
	eau2_schema_free(s->schema);
	if (s->lock) {
		pthread_mutex_destroy(s->lock);
		free(s->lock);
	}
	free(s);
}

int eau2_rel_shared_get(const struct eau2_run_ctx *ctx, const void *cls,
			eau2_rel_make_fn make, struct eau2_rel_shared **out,
			struct eau2_error *err)
{
	struct eau2_rel_shared *s;
	bool created = false;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&shared_lock);
	for (s = shared_list; s; s = s->next)
		if (s->key_ctx == ctx && s->key_cls == cls)
			break;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s && !(s->lock = malloc(sizeof(pthread_mutex_t)))) {
			free(s);
			s = NULL;
		}
		if (!s) {
			pthread_mutex_unlock(&shared_lock);
			return eau2_error_set(err, -ENOMEM, "out of memory");
		}
		pthread_mutex_init(s->lock, NULL);
		s->key_ctx = ctx;
		s->key_cls = cls;
		s->next = shared_list;
		shared_list = s;
		created = true;
		/* Taken before the list lock drops: later inits wait for make. */
		pthread_mutex_lock(s->lock);
	}
	s->refs++;
	pthread_mutex_unlock(&shared_lock);

	if (created) {
		s->rc = make(ctx, &s->schema, &s->data, &s->free_data, &s->err);
		if (s->rc == 0 &&
		    (s->rc = eau2_builder_new(ctx->db, s->schema, &s->root,
					      &s->err)) == 0)
			s->err.msg[0] = 0;
	} else {
		pthread_mutex_lock(s->lock);
	}
	rc = s->rc;
	pthread_mutex_unlock(s->lock);
	*out = s;
	if (rc < 0 && err)
		*err = s->err;
	return rc;
}

void eau2_rel_shared_put(struct eau2_rel_shared *s)
{
	struct eau2_rel_shared **p;
	bool last;

	if (!s)
		return;
	pthread_mutex_lock(&shared_lock);
	last = --s->refs == 0;
	if (last)
		for (p = &shared_list; *p; p = &(*p)->next)
			if (*p == s) {
				*p = s->next;
				break;
			}
	pthread_mutex_unlock(&shared_lock);
	if (last)
		shared_free(s);
}

int eau2_rel_out_part(struct eau2_rel_out *o, eau2_builder **part,
		      struct eau2_error *err)
{
	int rc;

	if (o->n > 0) {
		*part = o->parts[o->n - 1];
		return 0;
	}
	if (o->cap == 0) {
		o->parts = malloc(4 * sizeof(*o->parts));
		if (!o->parts)
			return eau2_error_set(err, -ENOMEM, "out of memory");
		o->cap = 4;
	}
	pthread_mutex_lock(o->shared->lock);
	rc = o->shared->root ? eau2_builder_fork(o->shared->root, part, err)
			     : eau2_error_set(err, -EINVAL, "result finished");
	pthread_mutex_unlock(o->shared->lock);
	if (rc == 0)
		o->parts[o->n++] = *part;
	return rc;
}

int eau2_rel_out_join(struct eau2_rel_out *o, struct eau2_rel_out *other,
		      struct eau2_error *err)
{
	if (other->nitems > 0) {
		if (o->nitems + other->nitems > o->items_cap) {
			size_t cap = (o->nitems + other->nitems) * 2;
			struct eau2_rel_item *it = realloc(o->items,
							   cap * sizeof(*it));
			if (!it)
				return eau2_error_set(err, -ENOMEM, "out of memory");
			o->items = it;
			o->items_cap = cap;
		}
		memcpy(o->items + o->nitems, other->items,
		       other->nitems * sizeof(*o->items));
		o->nitems += other->nitems;
		other->nitems = 0;
	}
	if (other->n == 0)
		return 0;
	if (o->n + other->n > o->cap) {
		size_t cap = (o->n + other->n) * 2;
		eau2_builder **p = realloc(o->parts, cap * sizeof(*p));
		if (!p)
			return eau2_error_set(err, -ENOMEM, "out of memory");
		o->parts = p;
		o->cap = cap;
	}
	memcpy(o->parts + o->n, other->parts, other->n * sizeof(*o->parts));
	o->n += other->n;
	other->n = 0;
	return 0;
}

int eau2_rel_out_finish(struct eau2_rel_out *o, eau2_df **result,
			struct eau2_error *err)
{
	struct eau2_rel_shared *s = o->shared;
	eau2_builder *root;
	size_t i;
	int rc = 0;

	*result = NULL;
	pthread_mutex_lock(s->lock);
	root = s->root;
	s->root = NULL;
	pthread_mutex_unlock(s->lock);
	if (!root)
		return eau2_error_set(err, -EINVAL, "result already finished");
	for (i = 0; i < o->n; i++) {
		eau2_builder *part = o->parts[i];
		o->parts[i] = NULL;
		if ((rc = eau2_builder_join(root, part, err)) < 0) {
			i++;
			goto out;
		}
	}
	rc = eau2_builder_finish(root, result, err);
	root = NULL;
out:
	/* Parts after a failed join are aborted by destroy. */
	if (o->n > i)
		memmove(o->parts, o->parts + i, (o->n - i) * sizeof(*o->parts));
	o->n -= i;
	eau2_builder_abort(root);
	return rc;
}

void eau2_rel_out_destroy(struct eau2_rel_out *o)
{
	for (size_t i = 0; i < o->n; i++)
		eau2_builder_abort(o->parts[i]);
	free(o->parts);
	o->parts = NULL;
	o->n = o->cap = 0;
	eau2_rel_items_free(o);
	eau2_rel_shared_put(o->shared);
	o->shared = NULL;
}

/* One loop per type and per "has nulls", so the common case (no nulls,
 * builder sink) is a call per value with no other branch. */
int eau2_rel_append_rows(struct eau2_rel_sink *k, size_t out,
			 const struct eau2_chunk_view *v, const uint32_t *rows,
			 uint32_t n, struct eau2_error *err)
{
	eau2_builder *b = k->b;
	int rc = 0;
	uint32_t j;

	if (!b || v->validity) {
		for (j = 0; j < n && rc == 0; j++) {
			uint32_t i = rows[j];
			if (i == UINT32_MAX || !eau2_view_valid(v, i)) {
				rc = eau2_rel_put_null(k, out, err);
				continue;
			}
			switch (v->type) {
			case EAU2_BOOL:
				rc = eau2_rel_put_bool(k, out, eau2_view_bool(v, i), err);
				break;
			case EAU2_INT:
				rc = eau2_rel_put_int(k, out, v->values.i64[i], err);
				break;
			case EAU2_DOUBLE:
				rc = eau2_rel_put_double(k, out, v->values.f64[i], err);
				break;
			default: {
				size_t len;
				const char *s = eau2_view_string(v, i, &len);
				rc = eau2_rel_put_string(k, out, s, len, err);
				break;
			}
			}
		}
		return rc;
	}
	/* builder, no nulls in the view (rows may still hold UINT32_MAX) */
#define GATHER(expr, append)                                               \
	for (j = 0; j < n && rc == 0; j++) {                               \
		uint32_t i = rows[j];                                      \
		rc = i == UINT32_MAX ? eau2_builder_append_null(b, out, err) \
				     : append(b, out, expr, err);          \
	}
	switch (v->type) {
	case EAU2_BOOL:
		GATHER(eau2_view_bool(v, i), eau2_builder_append_bool);
		break;
	case EAU2_INT:
		GATHER(v->values.i64[i], eau2_builder_append_int);
		break;
	case EAU2_DOUBLE:
		GATHER(v->values.f64[i], eau2_builder_append_double);
		break;
	default:
		for (j = 0; j < n && rc == 0; j++) {
			uint32_t i = rows[j];
			const int64_t *o = v->values.offsets;
			rc = i == UINT32_MAX
			     ? eau2_builder_append_null(b, out, err)
			     : eau2_builder_append_string(b, out, v->data + o[i],
							  (size_t)(o[i + 1] - o[i]),
							  err);
		}
		break;
	}
#undef GATHER
	return rc;
}

int eau2_rel_append_vec(struct eau2_rel_sink *k, size_t col,
			const struct eau2_expr_vec *v, struct eau2_error *err)
{
	eau2_builder *b = k->b;
	int rc = 0;
	uint32_t i;

	if (!b || v->null) {
		for (i = 0; i < v->len && rc == 0; i++) {
			if (v->null && v->null[i]) {
				rc = eau2_rel_put_null(k, col, err);
				continue;
			}
			switch (v->type) {
			case EAU2_BOOL:
				rc = eau2_rel_put_bool(k, col, v->b[i], err);
				break;
			case EAU2_INT:
				rc = eau2_rel_put_int(k, col, v->i64[i], err);
				break;
			case EAU2_DOUBLE:
				rc = eau2_rel_put_double(k, col, v->f64[i], err);
				break;
			default: {
				size_t len;
				const char *p = eau2_expr_vec_string(v, i, &len);
				rc = eau2_rel_put_string(k, col, p, len, err);
				break;
			}
			}
		}
		return rc;
	}
	switch (v->type) {
	case EAU2_BOOL:
		for (i = 0; i < v->len && rc == 0; i++)
			rc = eau2_builder_append_bool(b, col, v->b[i], err);
		break;
	case EAU2_INT:
		for (i = 0; i < v->len && rc == 0; i++)
			rc = eau2_builder_append_int(b, col, v->i64[i], err);
		break;
	case EAU2_DOUBLE:
		for (i = 0; i < v->len && rc == 0; i++)
			rc = eau2_builder_append_double(b, col, v->f64[i], err);
		break;
	default:
		for (i = 0; i < v->len && rc == 0; i++) {
			size_t len;
			const char *p = eau2_expr_vec_string(v, i, &len);
			rc = eau2_builder_append_string(b, col, p, len, err);
		}
		break;
	}
	return rc;
}

/* ---------------------------------------------------------------- filter */

struct filter_state {
	struct eau2_rel_out out;
	struct eau2_expr_eval *ev;
	uint32_t *sel;
};

static void free_expr(void *data)
{
	eau2_expr_free(data);
}

static int filter_make(const struct eau2_run_ctx *ctx, eau2_schema **schema,
		       void **data, void (**free_data)(void *),
		       struct eau2_error *err)
{
	const eau2_schema *in = eau2_df_schema(ctx->input);
	const char *where = eau2_args_get(ctx->args, "where");
	struct eau2_expr *e = NULL;
	int rc;

	if (!where)
		return eau2_error_set(err, -EINVAL, "filter: missing argument "
				      "where=EXPR");
	if ((rc = eau2_expr_compile(where, in, "where", &e, err)))
		return rc;
	if (eau2_expr_type(e) != EAU2_BOOL) {
		rc = eau2_error_set(err, -EINVAL, "where: is %s, not a condition",
				    eau2_type_name(eau2_expr_type(e)));
		eau2_expr_free(e);
		return rc;
	}
	if ((rc = eau2_schema_copy(in, schema, err))) {
		eau2_expr_free(e);
		return rc;
	}
	*data = e;
	*free_data = free_expr;
	return 0;
}

static int filter_init(void *state, const struct eau2_run_ctx *ctx,
		       struct eau2_error *err)
{
	struct filter_state *s = state;
	int rc = eau2_rel_shared_get(ctx, &eau2_rower_filter, filter_make,
				     &s->out.shared, err);

	if (rc)
		return rc;
	if ((rc = eau2_expr_eval_new(s->out.shared->data, &s->ev, err)))
		return rc;
	s->sel = malloc(EAU2_CHUNK_ROWS * sizeof(*s->sel));
	if (!s->sel)
		return eau2_error_set(err, -ENOMEM, "filter: out of memory");
	return 0;
}

static int filter_emit(void *state, const struct eau2_group *g,
		       struct eau2_rel_sink *k, struct eau2_error *err)
{
	struct filter_state *s = state;
	uint32_t n;
	int rc;

	if (g->rows > EAU2_CHUNK_ROWS)
		return eau2_error_set(err, -EINVAL, "filter: row group of %u rows",
				      g->rows);
	if ((rc = eau2_expr_select(s->ev, g, s->sel, &n, err)) || n == 0)
		return rc;
	if ((rc = eau2_rel_sink_open(k, err)))
		return rc;
	for (size_t c = 0; c < eau2_df_ncols(g->df); c++)
		if ((rc = eau2_rel_append_rows(k, c, &g->cols[c], s->sel, n, err)))
			return rc;
	return 0;
}

static int filter_chunk(void *state, const struct eau2_group *g,
			struct eau2_error *err)
{
	return eau2_rel_accept(&((struct filter_state *)state)->out, state,
			       filter_emit, g, err);
}

/* emit touches only the evaluator and sel: scratch of the state. */
static int filter_encode(const void *state, void **buf, size_t *len,
			 struct eau2_error *err)
{
	const struct filter_state *s = state;

	return eau2_rel_encode(&s->out, (void *)(uintptr_t)state, filter_emit,
			       "filter", buf, len, err);
}

static int filter_decode(void *state, const void *buf, size_t len,
			 struct eau2_error *err)
{
	return eau2_rel_decode(&((struct filter_state *)state)->out, "filter",
			       buf, len, err);
}

static int filter_join(void *state, void *other, struct eau2_error *err)
{
	return eau2_rel_out_join(&((struct filter_state *)state)->out,
				 &((struct filter_state *)other)->out, err);
}

static int filter_finish(void *state, const struct eau2_run_ctx *ctx,
			 eau2_df **result, struct eau2_error *err)
{
	return eau2_rel_out_finish(&((struct filter_state *)state)->out, result,
				   err);
}

static void filter_destroy(void *state)
{
	struct filter_state *s = state;

	eau2_expr_eval_free(s->ev);
	free(s->sel);
	eau2_rel_out_destroy(&s->out);
}

static const char *const filter_args[] = { "where", NULL };

const struct eau2_rower_class eau2_rower_filter = {
	.name = "filter",
	.summary = "rows where EXPR is true, in order: where=EXPR "
		   "(e.g. where=\"price > 10 and city = 'Boston'\")",
	.flags = EAU2_ROWER_ORDERED | EAU2_ROWER_ROWWISE,
	.state_size = sizeof(struct filter_state),
	.init = filter_init,
	.accept_chunk = filter_chunk,
	.join = filter_join,
	.encode = filter_encode,
	.decode = filter_decode,
	.finish = filter_finish,
	.destroy = filter_destroy,
	.args = filter_args,
};
