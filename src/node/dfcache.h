/* SPDX-License-Identifier: MIT */
/*
 * dfcache.h - internal to src/node: the input dataframes a node keeps
 * open between runs. A run in a fresh process pays for mapping its
 * input's pages and checking its chunk headers and string offsets; a node
 * pays once per dataframe: what it opened for one run stays mapped, its
 * views checked (the dataframe keeps checked views, df.c), for the next.
 * The local run thread (lrun.c) and the remote service's runs (rserve.c:
 * RUN, RUN_STATE, a cluster's runs over its partitions) each keep one.
 *
 * An entry is (key, id, dataframe). It serves a key only while the key
 * still names its id (read again at each lookup), and a sweeper thread
 * drops, every second, the entries whose key names another id or none,
 * so that a replaced or deleted dataframe's pages are not kept alive for
 * longer than that. The least recently used entry makes room for a new
 * one. The thread starts with the first entry (not at creation: a daemon
 * forks in between).
 *
 * Access rules: every call is safe from any thread (one mutex guards the
 * entries; a dataframe is opened outside it). A dataframe handed out is
 * the caller's reference, valid after its entry is dropped.
 */
#ifndef EAU2_NODE_DFCACHE_H
#define EAU2_NODE_DFCACHE_H

#include <stddef.h>

#include "eau2.h"

struct eau2_dfcache;

/* A cache of at most cap entries over the store at dir (NULL: the
 * default store), which it opens with a handle of its own at the first
 * lookup. */
int eau2_dfcache_new(struct eau2_dfcache **c, const char *dir, size_t cap,
		     struct eau2_error *err);
/* The dataframe under key: the cached one while key still names it
 * (*hit = 1), else opened as eau2_get does and cached (*hit = 0). */
int eau2_dfcache_get(struct eau2_dfcache *c, const char *key, eau2_df **df, int *hit,
		     struct eau2_error *err);
/* Drops the entries whose key names another dataframe now, or none. */
void eau2_dfcache_sweep(struct eau2_dfcache *c);
/* Stops the sweeper and drops every entry. NULL allowed. */
void eau2_dfcache_free(struct eau2_dfcache *c);

#endif
