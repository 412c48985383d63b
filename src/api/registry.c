/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the public entry points of the rower registry
 * (eau2_rower_register, eau2_rower_find, eau2_rower_foreach,
 * eau2_plugin_load). The registry itself is src/rowers/registry.c; this
 * facade sits above both src/rowers and src/apps, so it is the one that
 * registers the seed applications, once per process and before the first
 * lookup, load or registration, whether or not the program ever opens a
 * store (`eau2 rowers` lists them without one).
 *
 * Access rules: apps_once (pthread_once) orders the applications'
 * registration before every call below; the registry has its own lock.
 */
#include <pthread.h>

#include "apps/apps.h"
#include "rowers/rowers.h"

static pthread_once_t apps_once = PTHREAD_ONCE_INIT;

static const struct eau2_rower_class *const apps[] = {
	&eau2_app_urlfreq,
	&eau2_app_mandelbrot,
	&eau2_app_mandelbrot_rows,
	&eau2_app_linus,
	&eau2_app_linus_step,
	&eau2_app_bikes,
};

static void register_apps(void)
{
	for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		eau2_registry_add_builtin(apps[i]); /* names are distinct */
}

/* Plugins take eau2_* functions from the process that loads them. A
 * program linked with the static libeau2.a contains only the objects it
 * references itself, so this table (kept by `used`) references the API a
 * rower plugin needs: any program that can load a plugin (it links this
 * file) then carries all of it, and ENABLE_EXPORTS makes it visible. */
__attribute__((used)) static const void *const plugin_api[] = {
	(const void *)eau2_error_set, (const void *)eau2_type_name,
	(const void *)eau2_type_parse, (const void *)eau2_schema_new,
	(const void *)eau2_schema_add, (const void *)eau2_schema_parse,
	(const void *)eau2_schema_copy, (const void *)eau2_schema_ncols,
	(const void *)eau2_schema_name, (const void *)eau2_schema_type,
	(const void *)eau2_schema_find, (const void *)eau2_schema_free,
	(const void *)eau2_get, (const void *)eau2_put,
	(const void *)eau2_builder_new, (const void *)eau2_builder_schema,
	(const void *)eau2_builder_append_null, (const void *)eau2_builder_append_bool,
	(const void *)eau2_builder_append_int, (const void *)eau2_builder_append_double,
	(const void *)eau2_builder_append_string, (const void *)eau2_builder_rows,
	(const void *)eau2_builder_fork, (const void *)eau2_builder_join,
	(const void *)eau2_builder_finish, (const void *)eau2_builder_abort,
	(const void *)eau2_df_retain, (const void *)eau2_df_release,
	(const void *)eau2_df_schema, (const void *)eau2_df_rows,
	(const void *)eau2_df_ncols, (const void *)eau2_df_ngroups,
	(const void *)eau2_df_group_first_row, (const void *)eau2_df_group_rows,
	(const void *)eau2_df_bytes, (const void *)eau2_df_chunk,
	(const void *)eau2_df_get_bool, (const void *)eau2_df_get_int,
	(const void *)eau2_df_get_double, (const void *)eau2_df_get_string,
	(const void *)eau2_df_find_group, (const void *)eau2_df_from_array,
	(const void *)eau2_df_from_scalar, (const void *)eau2_df_from_visitor,
	(const void *)eau2_row_get_bool, (const void *)eau2_row_get_int,
	(const void *)eau2_row_get_double, (const void *)eau2_row_get_string,
	(const void *)eau2_row_visit, (const void *)eau2_args_get,
	(const void *)eau2_run, (const void *)eau2_default_threads,
};

int eau2_rower_register(const struct eau2_rower_class *cls,
			struct eau2_error *err)
{
	pthread_once(&apps_once, register_apps);
	return eau2_registry_register(cls, err);
}

const struct eau2_rower_class *eau2_rower_find(const char *name)
{
	pthread_once(&apps_once, register_apps);
	return eau2_registry_find(name);
}

void eau2_rower_foreach(void (*fn)(void *ctx, const struct eau2_rower_class *c),
			void *ctx)
{
	pthread_once(&apps_once, register_apps);
	eau2_registry_foreach(fn, ctx);
}

int eau2_plugin_load(const char *path, struct eau2_error *err)
{
	pthread_once(&apps_once, register_apps);
	return eau2_registry_plugin_load(path, err);
}
