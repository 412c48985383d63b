/* SPDX-License-Identifier: MIT */
/*
 * apps_util.c - helpers shared by the applications: column lookup that
 * names the table and column in its errors, integer/double arguments,
 * int/bool chunk access and bitmap popcount, and eau2_apps_get.
 *
 * Access rule: get_lock serialises every eau2_apps_get call in the
 * process. Rower inits use it to read side tables (stations, weather, a
 * frontier) through the run's store handle, which allows one thread at a
 * time; during a run the handle's owner is blocked in eau2_run, so the
 * workers holding this lock are its only users.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"

static pthread_mutex_t get_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *types_text(unsigned types)
{
	if (types == EAU2_APPS_INTLIKE)
		return "int";
	if (types == EAU2_APPS_NUMERIC)
		return "int or double";
	if (types == EAU2_APPS_T(EAU2_STRING))
		return "string";
	return "another type";
}

int eau2_apps_column(const eau2_df *df, const char *app, const char *table,
		     const char *name, size_t pos, unsigned types, size_t *col,
		     struct eau2_error *err)
{
	const eau2_schema *s = eau2_df_schema(df);
	int c = eau2_schema_find(s, name);

	if (c < 0 && pos != SIZE_MAX && pos < eau2_schema_ncols(s)) {
		char positional[32];

		snprintf(positional, sizeof(positional), "c%zu", pos);
		if (!strcmp(eau2_schema_name(s, pos), positional))
			c = (int)pos;
	}
	if (c < 0)
		return eau2_error_set(err, -ENOENT, "%s: table %s has no column '%s'",
				      app, table, name);
	enum eau2_type t = eau2_schema_type(s, (size_t)c);
	if (!(types & EAU2_APPS_T(t)))
		return eau2_error_set(err, -EINVAL,
				      "%s: table %s: column '%s' is %s, want %s",
				      app, table, eau2_schema_name(s, (size_t)c),
				      eau2_type_name(t), types_text(types));
	*col = (size_t)c;
	return 0;
}

int eau2_apps_arg_i64(const struct eau2_args *args, const char *app,
		      const char *name, int64_t def, int64_t min, int64_t max,
		      int64_t *out, struct eau2_error *err)
{
	const char *v = eau2_args_get(args, name);
	char *end;
	long long x;

	if (!v) {
		if (def < min || def > max)
			return eau2_error_set(err, -EINVAL, "%s: missing argument %s=N",
					      app, name);
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtoll(v, &end, 10);
	if (!*v || *end || errno || x < min || x > max)
		return eau2_error_set(err, -EINVAL,
				      "%s: argument %s='%s': want an integer in "
				      "[%lld, %lld]", app, name, v, (long long)min,
				      (long long)max);
	*out = x;
	return 0;
}

int eau2_apps_arg_double(const struct eau2_args *args, const char *app,
			 const char *name, double def, double *out,
			 struct eau2_error *err)
{
	const char *v = eau2_args_get(args, name);
	char *end;
	double x;

	if (!v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(x))
		return eau2_error_set(err, -EINVAL,
				      "%s: argument %s='%s': want a finite number",
				      app, name, v);
	*out = x;
	return 0;
}

int eau2_apps_get(eau2 *db, const char *app, const char *what, const char *key,
		  eau2_df **df, struct eau2_error *err)
{
	int rc;

	if (!key || !*key)
		return eau2_error_set(err, -EINVAL, "%s: missing argument %s=KEY",
				      app, what);
	pthread_mutex_lock(&get_lock);
	rc = eau2_get(db, key, df, err);
	pthread_mutex_unlock(&get_lock);
	if (rc < 0)
		return eau2_error_prefix(err, rc, "%s: %s", app, what);
	return 0;
}

const int64_t *eau2_apps_ints(const struct eau2_chunk_view *v, int64_t *tmp)
{
	if (v->type == EAU2_INT)
		return v->values.i64;
	for (uint32_t i = 0; i < v->rows; i++)
		tmp[i] = (v->values.bits[i >> 3] >> (i & 7)) & 1;
	return tmp;
}

uint64_t eau2_apps_popcount(const uint64_t *w, size_t nwords)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nwords; i++)
		n += (uint64_t)__builtin_popcountll(w[i]);
	return n;
}

int eau2_apps_nonempty(const struct eau2_run_ctx *ctx, const char *what,
		       struct eau2_error *err)
{
	struct eau2_stat st = {0};
	int rc = 0;

	if (!ctx->key)
		st.rows = ctx->input ? eau2_df_rows(ctx->input) : 0;
	else
		rc = eau2_stat(ctx->db, ctx->key, &st, err);
	eau2_schema_free(st.schema);
	if (rc == 0 && st.rows == 0)
		rc = eau2_error_set(err, -EINVAL, "%s is empty", what);
	return rc;
}
