/* SPDX-License-Identifier: MIT */
/*
 * rrun.c - a node's part of a distributed run (remote.h: RUN_STATE; the
 * cluster's eau2_cluster_run_part is this): a rower runs over a
 * dataframe on the local pinned pool (eau2_run) and the caller gets its
 * joined state encoded, instead of the finished result. The class is
 * wrapped in one whose finish encodes: the executor then joins the
 * workers' states in its fixed order exactly as for a local run. finish
 * runs on the thread that called eau2_run, so the encoded bytes reach the
 * caller through a thread-local slot, set only around that call.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "node/remote.h"

struct capture {
	const struct eau2_rower_class *inner;
	void *buf;
	size_t len;
	size_t nsample;          /* keys the class's sample gives, 0: none */
	void *sample;
	size_t slen;
	bool done;
};

static _Thread_local struct capture *capture_slot;

static int capture_finish(void *state, const struct eau2_run_ctx *ctx,
			  eau2_df **result, struct eau2_error *err)
{
	struct capture *c = capture_slot;

	(void)ctx;
	*result = NULL;
	if (!c)
		return eau2_error_set(err, -EINVAL, "state run: finish on another thread");
	c->done = true;
	if (c->nsample) {
		int rc = c->inner->sample(state, c->nsample, &c->sample, &c->slen, err);

		if (rc)
			return rc;
	}
	return c->inner->encode(state, &c->buf, &c->len, err);
}

int eau2_remote_run_state(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
			  const struct eau2_args *args, const struct eau2_run_options *opt,
			  void **state, size_t *len, struct eau2_error *err)
{
	return eau2_remote_run_sample(db, df, cls, args, opt, 0, NULL, NULL, state, len, err);
}

int eau2_remote_run_sample(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
			   const struct eau2_args *args, const struct eau2_run_options *opt,
			   size_t nsample, void **sample, size_t *slen, void **state,
			   size_t *len, struct eau2_error *err)
{
	struct capture c = { .inner = cls, .nsample = nsample };
	struct eau2_run_options ro = opt ? *opt : (struct eau2_run_options){0};
	struct eau2_rower_class wrap;
	eau2_df *none = NULL;
	int rc;

	*state = NULL;
	*len = 0;
	if (nsample) {
		*sample = NULL;
		*slen = 0;
	}
	if (!cls->encode || !cls->decode)
		return eau2_error_set(err, -ENOTSUP, "rower '%s' has no encode/decode: its "
				      "state cannot leave the node", cls->name);
	if (nsample && (!cls->sample || !cls->split))
		return eau2_error_set(err, -ENOTSUP, "rower '%s' cannot be shuffled (no "
				      "sample and split)", cls->name);
	wrap = *cls;
	wrap.finish = capture_finish;
	capture_slot = &c;
	ro.flags |= EAU2_RUN_PART; /* the state is joined by the caller */
	rc = eau2_run(db, df, &wrap, args, &ro, &none, err);
	capture_slot = NULL;
	eau2_df_release(none);
	if (rc == 0 && !c.done)
		rc = eau2_error_set(err, -EIO, "rower '%s': the run gave no state", cls->name);
	if (rc) {
		free(c.buf);
		free(c.sample);
		return rc;
	}
	*state = c.buf;
	*len = c.len;
	if (nsample) {
		*sample = c.sample;
		*slen = c.slen;
	}
	return 0;
}
