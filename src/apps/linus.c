/* SPDX-License-Identifier: MIT */
/*
 * linus.c - "degrees of Linus" over three tables: projects (pid int, name
 * string), users (uid int, name string) and commits (pid int, author int,
 * committer int), as loaded from SoR files (columns found by name, else by
 * position c0, c1, c2 as SoR names them).
 *
 * A user is linked to a project when they authored or committed any of its
 * commits. Degree 0 is the start user; degree k+1 are the users not yet
 * reached that are linked to a project linked to a degree-k user. Only
 * projects not reached before can lead to new users (every user of an
 * earlier project was reached with it), so each degree is two passes:
 *
 *   P_k = projects of commits touching a user of F_{k-1}, minus those seen
 *   F_k = authors and committers of commits of P_k, minus users seen
 *
 * `eau2 run linus --input COMMITS --arg users=KEY --arg projects=KEY
 *  --arg start=UID [--arg degrees=N]` (N default 4, at most 1000) prints
 * degree, new_users (|F_k|), new_projects (|P_k|), total_users (users
 * reached up to degree k, the start user included) for k = 1..N.
 *
 * The linus class's own pass collects the projects of the start user
 * (P_1); its finish reads the users and projects tables (ids, which must
 * be dense enough for bitmaps indexed by id - min), checks the start user,
 * then runs the "linus-step" class once per remaining pass with eau2_run.
 * A step's frontier is a bitmap stored for the pass under a temporary key
 * (linus.tmp.<pid>.<n>, deleted after the pass), which the step's init
 * reads: a step is the distributed-ready unit - its arguments are strings,
 * its state the output bitmap (join = OR, encode = the words), and its
 * result a dataframe of one int column `w` of bitmap words. On a
 * cluster (the driver's finish: ctx->key) each pass is a distributed run
 * over the commits key, the frontier a cluster key broadcast to the
 * nodes (side_args); the users and projects tables are read by the
 * driver alone.
 * Commits naming a user or project absent from their table are ignored.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/apps.h"
#include "rowers/rowers.h"

#define COMMITS_TABLE "linus: the commits table (input)" /* in errors */
#define LINUS_DEGREES_MAX 1000

/* Columns of the commits table (the input). */
static int commit_cols(const eau2_df *df, const char *app, size_t cols[3],
		       struct eau2_error *err)
{
	static const char *const names[3] = { "pid", "author", "committer" };
	int rc = 0;

	if (!df)
		return eau2_error_set(err, -EINVAL, "%s: needs --input COMMITS "
				      "(pid, author, committer)", app);
	for (size_t i = 0; rc == 0 && i < 3; i++)
		rc = eau2_apps_column(df, app, "commits (input)", names[i], i,
				      EAU2_APPS_INTLIKE, &cols[i], err);
	return rc;
}

/* ------------------------------------------------------------ linus-step */

enum { STEP_PROJECTS, STEP_USERS };

struct step_state {
	int mode;
	size_t cols[3];
	int64_t umin, pmin;
	uint64_t un, pn;
	uint64_t *frontier;   /* over users (mode projects) or projects */
	uint64_t *out;        /* over projects (mode projects) or users */
	size_t fwords, owords;
	int64_t *tmp[3];      /* bool columns widened, allocated on demand */
};

static int step_init(void *state, const struct eau2_run_ctx *ctx,
		     struct eau2_error *err)
{
	struct step_state *s = state;
	const char *mode = eau2_args_get(ctx->args, "mode");
	eau2_df *f = NULL;
	int64_t un, pn;
	int rc;

	rc = commit_cols(ctx->input, "linus-step", s->cols, err);
	if (rc < 0)
		return rc;
	if (!mode || (strcmp(mode, "projects") && strcmp(mode, "users")))
		return eau2_error_set(err, -EINVAL, "linus-step: argument mode= "
				      "must be projects or users");
	s->mode = !strcmp(mode, "users") ? STEP_USERS : STEP_PROJECTS;
	rc = eau2_apps_arg_i64(ctx->args, "linus-step", "umin", 0, INT64_MIN,
			       INT64_MAX, &s->umin, err);
	if (rc == 0)
		rc = eau2_apps_arg_i64(ctx->args, "linus-step", "pmin", 0, INT64_MIN,
				       INT64_MAX, &s->pmin, err);
	if (rc == 0)
		rc = eau2_apps_arg_i64(ctx->args, "linus-step", "un", -1, 1,
				       INT64_C(1) << 36, &un, err);
	if (rc == 0)
		rc = eau2_apps_arg_i64(ctx->args, "linus-step", "pn", -1, 1,
				       INT64_C(1) << 36, &pn, err);
	if (rc < 0)
		return rc;
	s->un = (uint64_t)un;
	s->pn = (uint64_t)pn;
	s->fwords = eau2_apps_words(s->mode == STEP_USERS ? s->pn : s->un);
	s->owords = eau2_apps_words(s->mode == STEP_USERS ? s->un : s->pn);
	s->frontier = calloc(s->fwords, sizeof(uint64_t));
	s->out = calloc(s->owords, sizeof(uint64_t));
	if (!s->frontier || !s->out)
		return eau2_error_set(err, -ENOMEM, "linus-step: out of memory");
	rc = eau2_apps_get(ctx->db, "linus-step", "frontier",
			   eau2_args_get(ctx->args, "frontier"), &f, err);
	if (rc < 0)
		return rc;
	if (eau2_df_ncols(f) != 1 || eau2_schema_type(eau2_df_schema(f), 0) != EAU2_INT ||
	    eau2_df_rows(f) != s->fwords) {
		rc = eau2_error_set(err, -EINVAL, "linus-step: frontier %s is not "
				    "%zu bitmap words", eau2_args_get(ctx->args, "frontier"),
				    s->fwords);
		goto out;
	}
	for (size_t g = 0, k = 0; g < eau2_df_ngroups(f); g++) {
		struct eau2_chunk_view v;
		rc = eau2_df_chunk(f, 0, g, &v, err);
		if (rc < 0)
			goto out;
		memcpy(s->frontier + k, v.values.i64, v.rows * sizeof(uint64_t));
		k += v.rows;
	}
out:
	eau2_df_release(f);
	return rc;
}

static void step_destroy(void *state)
{
	struct step_state *s = state;

	free(s->frontier);
	free(s->out);
	for (int i = 0; i < 3; i++)
		free(s->tmp[i]);
}

static int step_chunk(void *state, const struct eau2_group *g,
		      struct eau2_error *err)
{
	struct step_state *s = state;
	const struct eau2_chunk_view *vp = &g->cols[s->cols[0]],
		*va = &g->cols[s->cols[1]], *vc = &g->cols[s->cols[2]];
	const int64_t *pid, *au, *co;
	const uint64_t *F = s->frontier;
	uint64_t *out = s->out;
	const int64_t umin = s->umin, pmin = s->pmin;
	const uint64_t un = s->un, pn = s->pn;
	const bool nulls = vp->validity || va->validity || vc->validity;

	for (int i = 0; i < 3; i++) {
		if (g->cols[s->cols[i]].type == EAU2_BOOL && !s->tmp[i]) {
			s->tmp[i] = malloc(EAU2_CHUNK_ROWS * sizeof(int64_t));
			if (!s->tmp[i])
				return eau2_error_set(err, -ENOMEM, "linus-step: out of memory");
		}
	}
	pid = eau2_apps_ints(vp, s->tmp[0]);
	au = eau2_apps_ints(va, s->tmp[1]);
	co = eau2_apps_ints(vc, s->tmp[2]);
	/* Unsigned differences put ids below min out of range too. */
	if (s->mode == STEP_PROJECTS) {
		for (uint32_t i = 0; i < g->rows; i++) {
			uint64_t a = (uint64_t)au[i] - (uint64_t)umin;
			uint64_t c = (uint64_t)co[i] - (uint64_t)umin;
			uint64_t p = (uint64_t)pid[i] - (uint64_t)pmin;
			bool hit = (a < un && eau2_apps_bit(F, a)) ||
				   (c < un && eau2_apps_bit(F, c));
			if (nulls && hit) {
				if (!eau2_view_valid(vp, i))
					continue;
				hit = (eau2_view_valid(va, i) && a < un && eau2_apps_bit(F, a)) ||
				      (eau2_view_valid(vc, i) && c < un && eau2_apps_bit(F, c));
			}
			if (hit && p < pn)
				eau2_apps_set(out, p);
		}
	} else {
		for (uint32_t i = 0; i < g->rows; i++) {
			uint64_t p = (uint64_t)pid[i] - (uint64_t)pmin;
			if (p >= pn || !eau2_apps_bit(F, p))
				continue;
			if (nulls && !eau2_view_valid(vp, i))
				continue;
			uint64_t a = (uint64_t)au[i] - (uint64_t)umin;
			uint64_t c = (uint64_t)co[i] - (uint64_t)umin;
			if (a < un && (!nulls || eau2_view_valid(va, i)))
				eau2_apps_set(out, a);
			if (c < un && (!nulls || eau2_view_valid(vc, i)))
				eau2_apps_set(out, c);
		}
	}
	return 0;
}

static int step_join(void *state, void *other_, struct eau2_error *err)
{
	struct step_state *s = state, *o = other_;

	for (size_t i = 0; i < s->owords; i++)
		s->out[i] |= o->out[i];
	return 0;
}

static int step_encode(const void *state, void **buf, size_t *len,
		       struct eau2_error *err)
{
	const struct step_state *s = state;
	struct eau2_buf b = {0};
	int rc = eau2_buf_u64(&b, s->owords);

	if (rc == 0)
		rc = eau2_buf_put(&b, s->out, s->owords * sizeof(uint64_t));
	if (rc < 0) {
		free(b.p);
		return eau2_error_set(err, rc, "linus-step: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int step_decode(void *state, const void *buf, size_t len,
		       struct eau2_error *err)
{
	struct step_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t n;

	if (eau2_rd_u64(&r, &n) || n != s->owords ||
	    len - r.pos != n * sizeof(uint64_t))
		return eau2_error_set(err, -EBADMSG, "linus-step: decode: want %zu "
				      "bitmap words in %zu bytes", s->owords, len);
	memcpy(s->out, (const uint8_t *)buf + r.pos, len - r.pos);
	return 0;
}

static int step_finish(void *state, const struct eau2_run_ctx *ctx,
		       eau2_df **result, struct eau2_error *err)
{
	struct step_state *s = state;

	return eau2_df_from_array(ctx->db, "w", EAU2_INT, s->out, s->owords,
				  result, err);
}

static const char *const linus_step_args[] = { "mode", "frontier", "umin", "un", "pmin", "pn", NULL };
static const char *const linus_step_side[] = { "frontier", NULL };

const struct eau2_rower_class eau2_app_linus_step = {
	.name = "linus-step",
	.summary = "one pass of linus: mode=projects|users frontier=KEY (bitmap "
		   "words) umin= un= pmin= pn=; result: bitmap words w",
	.state_size = sizeof(struct step_state),
	.init = step_init,
	.accept_chunk = step_chunk,
	.join = step_join,
	.encode = step_encode,
	.decode = step_decode,
	.finish = step_finish,
	.destroy = step_destroy,
	.args = linus_step_args,
	.side_args = linus_step_side,
};

/* ----------------------------------------------------------------- linus */

struct linus_state {
	size_t cols[3];
	int64_t start, degrees;
	int64_t *pids;      /* projects of the start user, with repeats */
	size_t n, cap;
};

static int linus_init(void *state, const struct eau2_run_ctx *ctx,
		      struct eau2_error *err)
{
	struct linus_state *s = state;
	int rc = commit_cols(ctx->input, "linus", s->cols, err);

	if (rc < 0)
		return rc;
	/* A cluster driver's input has no rows: finish asks the key. */
	if (!ctx->key && (rc = eau2_apps_nonempty(ctx, COMMITS_TABLE, err)))
		return rc;
	if (!eau2_args_get(ctx->args, "users"))
		return eau2_error_set(err, -EINVAL, "linus: missing argument users=KEY");
	if (!eau2_args_get(ctx->args, "projects"))
		return eau2_error_set(err, -EINVAL, "linus: missing argument projects=KEY");
	rc = eau2_apps_arg_i64(ctx->args, "linus", "start", -1, INT64_MIN + 1,
			       INT64_MAX, &s->start, err);
	if (rc == 0 && !eau2_args_get(ctx->args, "start"))
		rc = eau2_error_set(err, -EINVAL, "linus: missing argument start=UID");
	if (rc == 0)
		rc = eau2_apps_arg_i64(ctx->args, "linus", "degrees", 4, 1,
				       LINUS_DEGREES_MAX, &s->degrees, err);
	return rc;
}

static void linus_destroy(void *state)
{
	free(((struct linus_state *)state)->pids);
}

static int push_pid(struct linus_state *s, int64_t p)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		int64_t *v = realloc(s->pids, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->pids = v;
		s->cap = cap;
	}
	s->pids[s->n++] = p;
	return 0;
}

static int linus_chunk(void *state, const struct eau2_group *g,
		       struct eau2_error *err)
{
	struct linus_state *s = state;
	const struct eau2_chunk_view *vp = &g->cols[s->cols[0]],
		*va = &g->cols[s->cols[1]], *vc = &g->cols[s->cols[2]];
	int64_t start = s->start;

	for (uint32_t i = 0; i < g->rows; i++) {
		int64_t a, c;
		if (va->type == EAU2_INT && vc->type == EAU2_INT) {
			a = va->values.i64[i];
			c = vc->values.i64[i];
		} else {
			a = (int64_t)eau2_apps_num(va, i);
			c = (int64_t)eau2_apps_num(vc, i);
		}
		if (a != start && c != start)
			continue;
		bool hit = (a == start && eau2_view_valid(va, i)) ||
			   (c == start && eau2_view_valid(vc, i));
		if (!hit || !eau2_view_valid(vp, i))
			continue;
		int64_t p = vp->type == EAU2_INT ? vp->values.i64[i] :
			(int64_t)eau2_apps_num(vp, i);
		if (push_pid(s, p) < 0)
			return eau2_error_set(err, -ENOMEM, "linus: out of memory");
	}
	return 0;
}

static int linus_join(void *state, void *other_, struct eau2_error *err)
{
	struct linus_state *s = state, *o = other_;

	for (size_t i = 0; i < o->n; i++)
		if (push_pid(s, o->pids[i]) < 0)
			return eau2_error_set(err, -ENOMEM, "linus: out of memory");
	return 0;
}

static int linus_encode(const void *state, void **buf, size_t *len,
			struct eau2_error *err)
{
	const struct linus_state *s = state;
	struct eau2_buf b = {0};
	int rc = eau2_buf_u64(&b, s->n);

	if (rc == 0)
		rc = eau2_buf_put(&b, s->pids, s->n * sizeof(int64_t));
	if (rc < 0) {
		free(b.p);
		return eau2_error_set(err, rc, "linus: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int linus_decode(void *state, const void *buf, size_t len,
			struct eau2_error *err)
{
	struct linus_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t n;

	if (eau2_rd_u64(&r, &n) || n > (len - r.pos) / 8 || len - r.pos != n * 8)
		return eau2_error_set(err, -EBADMSG, "linus: decode: bad length");
	for (uint64_t i = 0; i < n; i++) {
		int64_t p;
		memcpy(&p, (const uint8_t *)buf + r.pos + i * 8, 8);
		if (push_pid(s, p) < 0)
			return eau2_error_set(err, -ENOMEM, "linus: decode: out of memory");
	}
	return 0;
}

/* The ids of a users or projects table as a bitmap over [min, min + n). */
struct idset {
	int64_t min;
	uint64_t n;
	uint64_t *bits;
	uint64_t count;
};

static int read_ids(eau2 *db, const struct eau2_args *args, const char *what,
		    const char *idname, struct idset *ids, struct eau2_error *err)
{
	const char *key = eau2_args_get(args, what);
	char table[EAU2_KEY_MAX + 32];
	int64_t min = INT64_MAX, max = INT64_MIN;
	uint64_t rows = 0;
	eau2_df *df = NULL;
	size_t col;
	int rc;

	snprintf(table, sizeof(table), "%s (%s)", what, key ? key : "?");
	rc = eau2_apps_get(db, "linus", what, key, &df, err);
	if (rc == 0)
		rc = eau2_apps_column(df, "linus", table, idname, 0,
				      EAU2_APPS_INTLIKE, &col, err);
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		for (size_t g = 0; rc == 0 && g < eau2_df_ngroups(df); g++) {
			struct eau2_chunk_view v;
			rc = eau2_df_chunk(df, col, g, &v, err);
			for (uint32_t i = 0; rc == 0 && i < v.rows; i++) {
				if (!eau2_view_valid(&v, i))
					continue;
				int64_t x = (int64_t)eau2_apps_num(&v, i);
				if (pass == 0) {
					min = x < min ? x : min;
					max = x > max ? x : max;
					rows++;
				} else {
					eau2_apps_set(ids->bits, (uint64_t)x - (uint64_t)min);
				}
			}
		}
		if (rc < 0 || pass == 1)
			break;
		if (rows == 0) {
			rc = eau2_error_set(err, -EINVAL, "linus: table %s has no "
					    "%s values", table, idname);
			break;
		}
		ids->min = min;
		ids->n = (uint64_t)max - (uint64_t)min + 1;
		/* bitmaps are indexed by id - min: refuse ranges far wider than
		 * the table (16 bits of bitmap per row, 16 MiB at least) */
		if (ids->n == 0 || ids->n > (INT64_C(1) << 36) ||
		    ids->n > 16 * rows + (UINT64_C(1) << 27)) {
			rc = eau2_error_set(err, -ERANGE, "linus: table %s: %s values "
					    "%lld..%lld are too sparse for %llu rows",
					    table, idname, (long long)min,
					    (long long)max, (unsigned long long)rows);
			break;
		}
		ids->bits = calloc(eau2_apps_words(ids->n), sizeof(uint64_t));
		if (!ids->bits)
			rc = eau2_error_set(err, -ENOMEM, "linus: out of memory");
	}
	if (rc == 0)
		ids->count = eau2_apps_popcount(ids->bits, eau2_apps_words(ids->n));
	eau2_df_release(df);
	return rc;
}

static atomic_uint tmp_counter;

/* One linus-step pass with frontier f; the output bitmap (owords words)
 * replaces out. */
static int run_step(const struct eau2_run_ctx *ctx, const char *mode,
		    const uint64_t *f, size_t fwords, uint64_t *out,
		    size_t owords, const struct idset *users,
		    const struct idset *projects, struct eau2_error *err)
{
	char key[64], v[4][32];
	const char *names[] = { "mode", "frontier", "umin", "un", "pmin", "pn" };
	const char *values[6];
	struct eau2_args args = { .n = 6, .names = names, .values = values };
	struct eau2_run_options opt = { .threads = ctx->threads, .cancel = ctx->cancel };
	eau2_df *fdf = NULL, *res = NULL;
	bool put = false;
	int rc;

	snprintf(key, sizeof(key), "linus.tmp.%ld.%u", (long)getpid(),
		 atomic_fetch_add(&tmp_counter, 1));
	snprintf(v[0], sizeof(v[0]), "%lld", (long long)users->min);
	snprintf(v[1], sizeof(v[1]), "%llu", (unsigned long long)users->n);
	snprintf(v[2], sizeof(v[2]), "%lld", (long long)projects->min);
	snprintf(v[3], sizeof(v[3]), "%llu", (unsigned long long)projects->n);
	values[0] = mode;
	values[1] = key;
	for (int i = 0; i < 4; i++)
		values[2 + i] = v[i];
	rc = eau2_df_from_array(ctx->db, "w", EAU2_INT, f, fwords, &fdf, err);
	if (rc == 0)
		rc = eau2_put(ctx->db, key, fdf, err);
	put = rc == 0;
	/* On a cluster's driver the pass is a distributed run over the
	 * commits key; the frontier, a cluster key too, is broadcast to the
	 * nodes (linus-step's side_args). */
	if (rc == 0 && ctx->key)
		rc = eau2_run_key(ctx->db, ctx->key, &eau2_app_linus_step, &args,
				  &opt, NULL, &res, err);
	else if (rc == 0)
		rc = eau2_run(ctx->db, ctx->input, &eau2_app_linus_step, &args,
			      &opt, &res, err);
	if (rc == 0 && eau2_df_rows(res) != owords)
		rc = eau2_error_set(err, -EINVAL, "linus: step returned %llu words, "
				    "want %zu", (unsigned long long)eau2_df_rows(res),
				    owords);
	for (size_t g = 0, k = 0; rc == 0 && g < eau2_df_ngroups(res); g++) {
		struct eau2_chunk_view cv;
		rc = eau2_df_chunk(res, 0, g, &cv, err);
		if (rc == 0)
			memcpy(out + k, cv.values.i64, cv.rows * sizeof(uint64_t));
		k += cv.rows;
	}
	if (put)
		(void)eau2_delete(ctx->db, key, NULL);
	eau2_df_release(fdf);
	eau2_df_release(res);
	return rc;
}

/* out = out & known & ~seen; seen |= out; returns |out|. */
static uint64_t restrict_new(uint64_t *out, const uint64_t *known,
			     uint64_t *seen, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++) {
		out[i] &= known[i] & ~seen[i];
		seen[i] |= out[i];
		n += (uint64_t)__builtin_popcountll(out[i]);
	}
	return n;
}

static int linus_finish(void *state, const struct eau2_run_ctx *ctx,
			eau2_df **result, struct eau2_error *err)
{
	struct linus_state *s = state;
	struct idset users = {0}, projects = {0};
	uint64_t *seen_u = NULL, *seen_p = NULL, *F = NULL, *P = NULL;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	size_t uw, pw;
	uint64_t total = 1, nf = 1, np;
	int rc;

	/* a cluster's driver: init could not tell */
	if (ctx->key && (rc = eau2_apps_nonempty(ctx, COMMITS_TABLE, err)))
		return rc;
	rc = read_ids(ctx->db, ctx->args, "users", "uid", &users, err);
	if (rc == 0)
		rc = read_ids(ctx->db, ctx->args, "projects", "pid", &projects, err);
	if (rc < 0)
		goto out;
	if ((uint64_t)s->start - (uint64_t)users.min >= users.n ||
	    !eau2_apps_bit(users.bits, (uint64_t)s->start - (uint64_t)users.min)) {
		rc = eau2_error_set(err, -ENOENT, "linus: start user %lld is not in "
				    "the users table (%s)", (long long)s->start,
				    eau2_args_get(ctx->args, "users"));
		goto out;
	}
	uw = eau2_apps_words(users.n);
	pw = eau2_apps_words(projects.n);
	seen_u = calloc(uw, 8);
	F = calloc(uw, 8);
	seen_p = calloc(pw, 8);
	P = calloc(pw, 8);
	if (!seen_u || !F || !seen_p || !P) {
		rc = eau2_error_set(err, -ENOMEM, "linus: out of memory");
		goto out;
	}
	eau2_apps_set(seen_u, (uint64_t)s->start - (uint64_t)users.min);
	eau2_apps_set(F, (uint64_t)s->start - (uint64_t)users.min);
	rc = eau2_schema_parse("degree:int,new_users:int,new_projects:int,"
			       "total_users:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (int64_t k = 1; rc == 0 && k <= s->degrees; k++) {
		if (nf == 0) {
			np = 0;
		} else if (k == 1) {
			/* the linus pass itself found the start user's projects */
			for (size_t i = 0; i < s->n; i++) {
				uint64_t p = (uint64_t)s->pids[i] - (uint64_t)projects.min;
				if (p < projects.n)
					eau2_apps_set(P, p);
			}
			np = restrict_new(P, projects.bits, seen_p, pw);
		} else {
			rc = run_step(ctx, "projects", F, uw, P, pw, &users,
				      &projects, err);
			np = rc == 0 ? restrict_new(P, projects.bits, seen_p, pw) : 0;
		}
		if (rc == 0 && np > 0) {
			rc = run_step(ctx, "users", P, pw, F, uw, &users, &projects,
				      err);
			nf = rc == 0 ? restrict_new(F, users.bits, seen_u, uw) : 0;
		} else {
			nf = 0;
		}
		total += nf;
		if (rc == 0)
			rc = eau2_builder_append_int(b, 0, k, err);
		if (rc == 0)
			rc = eau2_builder_append_int(b, 1, (int64_t)nf, err);
		if (rc == 0)
			rc = eau2_builder_append_int(b, 2, (int64_t)np, err);
		if (rc == 0)
			rc = eau2_builder_append_int(b, 3, (int64_t)total, err);
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(users.bits);
	free(projects.bits);
	free(seen_u);
	free(seen_p);
	free(F);
	free(P);
	return rc;
}

static const char *const linus_args[] = { "users", "projects", "start", "degrees", NULL };

const struct eau2_rower_class eau2_app_linus = {
	.name = "linus",
	.summary = "degrees of Linus over commits (pid, author, committer): "
		   "users= projects= start=UID degrees=N; degree, new_users, "
		   "new_projects, total_users",
	.state_size = sizeof(struct linus_state),
	.init = linus_init,
	.accept_chunk = linus_chunk,
	.join = linus_join,
	.encode = linus_encode,
	.decode = linus_decode,
	.finish = linus_finish,
	.destroy = linus_destroy,
	.args = linus_args,
};
