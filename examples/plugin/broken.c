/* SPDX-License-Identifier: MIT */
/*
 * broken.c - deliberately broken plugins for tests/unit/test_plugin.c,
 * one per compile definition:
 *   BROKEN_NO_INIT  exports no eau2_plugin_init;
 *   BROKEN_CLASH    registers "broken_first", then "count" (a built-in:
 *                   -EEXIST), and returns that error;
 *   BROKEN_FAIL     registers "broken_fail_first", then fails on its own.
 * In both failing cases the loader must leave no class registered.
 */
#include <errno.h>

#include "eau2.h"

#define EXPORT __attribute__((visibility("default")))

#if !defined(BROKEN_NO_INIT)
static int b_init(void *s, const struct eau2_run_ctx *c, struct eau2_error *e)
{
	return 0;
}
static int b_chunk(void *s, const struct eau2_group *g, struct eau2_error *e)
{
	return 0;
}
static int b_join(void *s, void *o, struct eau2_error *e)
{
	return 0;
}
static int b_finish(void *s, const struct eau2_run_ctx *c, eau2_df **r,
		    struct eau2_error *e)
{
	return -ENOSYS;
}

#define CLASS(n) { .name = n, .state_size = 8, .init = b_init, \
	.accept_chunk = b_chunk, .join = b_join, .finish = b_finish }
#endif

#if defined(BROKEN_NO_INIT)
EXPORT int eau2_plugin_setup(struct eau2_error *err);
int eau2_plugin_setup(struct eau2_error *err)
{
	return 0;
}
#elif defined(BROKEN_CLASH)
static const struct eau2_rower_class first = CLASS("broken_first");
static const struct eau2_rower_class clash = CLASS("count");
EXPORT int eau2_plugin_init(struct eau2_error *err);
int eau2_plugin_init(struct eau2_error *err)
{
	int rc = eau2_rower_register(&first, err);
	return rc ? rc : eau2_rower_register(&clash, err);
}
#elif defined(BROKEN_FAIL)
static const struct eau2_rower_class first = CLASS("broken_fail_first");
EXPORT int eau2_plugin_init(struct eau2_error *err);
int eau2_plugin_init(struct eau2_error *err)
{
	int rc = eau2_rower_register(&first, err);
	return rc ? rc : eau2_error_set(err, -EPROTO, "broken: refusing to start");
}
#else
#error "define BROKEN_NO_INIT, BROKEN_CLASH or BROKEN_FAIL"
#endif
