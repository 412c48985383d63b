/* SPDX-License-Identifier: MIT */
/*
 * slow.c - a test plugin: the rower "slow_count" counts rows, sleeping
 * ms=N milliseconds (default 100, at most 60000) on every row group, so
 * that a test can watch a run while it runs (the dashboard's Runs tab,
 * tests/integration/http_cluster.sh). Result: one row, one int column
 * "rows". Built as <build>/plugins/eau2_slow_count.so.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eau2.h"

struct slow_state {
	uint64_t n;
	long ms;
};

static int slow_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	struct slow_state *s = state;
	const char *ms = eau2_args_get(ctx->args, "ms");
	char *end;

	s->ms = 100;
	if (ms) {
		s->ms = strtol(ms, &end, 10);
		if (!*ms || *end || s->ms < 0 || s->ms > 60000)
			return eau2_error_set(err, -EINVAL, "slow_count: ms=%s: not 0-60000", ms);
	}
	return 0;
}

static int slow_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct slow_state *s = state;
	struct timespec t = { s->ms / 1000, (s->ms % 1000) * 1000000L };

	(void)err;
	nanosleep(&t, NULL);
	s->n += g->rows;
	return 0;
}

static int slow_join(void *state, void *other, struct eau2_error *err)
{
	(void)err;
	((struct slow_state *)state)->n += ((struct slow_state *)other)->n;
	return 0;
}

static int slow_encode(const void *state, void **buf, size_t *len, struct eau2_error *err)
{
	uint64_t *p = malloc(sizeof(*p));

	if (!p)
		return eau2_error_set(err, -ENOMEM, "slow_count: out of memory");
	*p = ((const struct slow_state *)state)->n;
	*buf = p;
	*len = sizeof(*p);
	return 0;
}

static int slow_decode(void *state, const void *buf, size_t len, struct eau2_error *err)
{
	if (len != sizeof(uint64_t))
		return eau2_error_set(err, -EBADMSG, "slow_count: state of %zu bytes", len);
	memcpy(&((struct slow_state *)state)->n, buf, sizeof(uint64_t));
	return 0;
}

static int slow_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		       struct eau2_error *err)
{
	int64_t n = (int64_t)((struct slow_state *)state)->n;

	return eau2_df_from_scalar(ctx->db, "rows", EAU2_INT, &n, result, err);
}

static void slow_columns(const void *state, uint64_t *used, size_t ncols)
{
	(void)state;
	(void)used;
	(void)ncols; /* reads no column */
}

static const char *const slow_args[] = { "ms", NULL };

static const struct eau2_rower_class slow_count = {
	.name = "slow_count",
	.summary = "rows, sleeping ms=N milliseconds per row group (a test plugin)",
	.state_size = sizeof(struct slow_state),
	.init = slow_init,
	.accept_chunk = slow_chunk,
	.join = slow_join,
	.encode = slow_encode,
	.decode = slow_decode,
	.finish = slow_finish,
	.columns = slow_columns,
	.args = slow_args,
};

__attribute__((visibility("default"))) int eau2_plugin_init(struct eau2_error *err);

int eau2_plugin_init(struct eau2_error *err)
{
	return eau2_rower_register(&slow_count, err);
}
