/* SPDX-License-Identifier: MIT */
/*
 * slow.c - a test plugin (not an example to follow): the rower
 * "slow_count" counts rows like count, but sleeps ms=N milliseconds
 * (default 200, at most 10000) on each row group, and with trace=FILE
 * appends one line per row group to FILE as it starts it. Tests use it
 * for a run that lasts, whose progress another process can watch (the
 * lines), to check that a run whose driver went away stops
 * (tests/integration/cluster_sync.sh). Result: one row, int column
 * "rows".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eau2.h"

struct slow_state {
	uint64_t rows;
	long ms;
	const char *trace;
};

static int slow_init(void *state, const struct eau2_run_ctx *ctx, struct eau2_error *err)
{
	struct slow_state *s = state;
	const char *ms = eau2_args_get(ctx->args, "ms");
	char *end;

	s->ms = 200;
	if (ms) {
		s->ms = strtol(ms, &end, 10);
		if (end == ms || *end || s->ms < 0 || s->ms > 10000)
			return eau2_error_set(err, -EINVAL, "slow_count: ms='%s': want 0-10000",
					      ms);
	}
	s->trace = eau2_args_get(ctx->args, "trace");
	return 0;
}

static int slow_chunk(void *state, const struct eau2_group *g, struct eau2_error *err)
{
	struct slow_state *s = state;

	if (s->trace) {
		int fd = open(s->trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0 || write(fd, "group\n", 6) != 6) {
			int e = errno;

			if (fd >= 0)
				close(fd);
			return eau2_error_set(err, -e, "slow_count: trace %s: %s", s->trace,
					      strerror(e));
		}
		close(fd);
	}
	nanosleep(&(struct timespec){ .tv_sec = s->ms / 1000,
				      .tv_nsec = s->ms % 1000 * 1000000L }, NULL);
	s->rows += g->rows;
	return 0;
}

static int slow_join(void *state, void *other, struct eau2_error *err)
{
	(void)err;
	((struct slow_state *)state)->rows += ((struct slow_state *)other)->rows;
	return 0;
}

static int slow_encode(const void *state, void **buf, size_t *len, struct eau2_error *err)
{
	uint64_t *p = malloc(sizeof(*p));

	if (!p)
		return eau2_error_set(err, -ENOMEM, "slow_count: out of memory");
	*p = ((const struct slow_state *)state)->rows;
	*buf = p;
	*len = sizeof(*p);
	return 0;
}

static int slow_decode(void *state, const void *buf, size_t len, struct eau2_error *err)
{
	if (len != sizeof(uint64_t))
		return eau2_error_set(err, -EBADMSG, "slow_count: state of %zu bytes", len);
	memcpy(&((struct slow_state *)state)->rows, buf, sizeof(uint64_t));
	return 0;
}

static int slow_finish(void *state, const struct eau2_run_ctx *ctx, eau2_df **result,
		       struct eau2_error *err)
{
	int64_t n = (int64_t)((struct slow_state *)state)->rows;

	return eau2_df_from_scalar(ctx->db, "rows", EAU2_INT, &n, result, err);
}

static const char *const slow_args[] = { "ms", "trace", NULL };

static const struct eau2_rower_class slow_count = {
	.name = "slow_count",
	.summary = "count rows, sleeping ms=N per row group (a test plugin)",
	.state_size = sizeof(struct slow_state),
	.init = slow_init,
	.accept_chunk = slow_chunk,
	.join = slow_join,
	.encode = slow_encode,
	.decode = slow_decode,
	.finish = slow_finish,
	.args = slow_args,
};

__attribute__((visibility("default"))) int eau2_plugin_init(struct eau2_error *err);

int eau2_plugin_init(struct eau2_error *err)
{
	return eau2_rower_register(&slow_count, err);
}
