/* SPDX-License-Identifier: MIT */
/*
 * rstats.h - the remote service's counters (remote.h: runs and per-peer
 * traffic), kept by rserve.c's handlers and copied out for /metrics and
 * the dashboard. Internal to src/node.
 *
 * Memory is bounded whatever the peers do: EAU2_REMOTE_ROWERS_MAX rowers
 * and EAU2_REMOTE_PEERS_MAX peer hosts (past them, one "other" entry),
 * EAU2_REMOTE_RUNS_LIVE running runs listed and EAU2_REMOTE_RUNS_RECENT
 * finished ones remembered.
 */
#ifndef EAU2_NODE_RSTATS_H
#define EAU2_NODE_RSTATS_H

#include "node/remote.h"

struct eau2_rstats;

struct eau2_rstats *eau2_rstats_new(void);
void eau2_rstats_free(struct eau2_rstats *st); /* NULL allowed */

/* A run starts: its slot in the live list (-1: listed nowhere, counted
 * anyway); pass it to eau2_rstats_run_end. peer: eau2_net_peer's text.
 * rows_done: the run's progress (eau2_run_options.rows_done), read
 * atomically until eau2_rstats_run_end, which must come before it goes. */
int eau2_rstats_run_begin(struct eau2_rstats *st, const char *rower, const char *input,
			  const char *peer, bool part, uint64_t rows, const uint64_t *rows_done);
void eau2_rstats_run_end(struct eau2_rstats *st, int slot, const char *rower, int rc);
/* Adds the traffic of one request (after - before, a connection's counters)
 * to its peer's host. */
void eau2_rstats_traffic(struct eau2_rstats *st, const char *peer,
			 const struct eau2_net_stats *before,
			 const struct eau2_net_stats *after);

size_t eau2_rstats_runs(struct eau2_rstats *st, uint64_t *running,
			struct eau2_remote_rower_runs *rower, size_t cap,
			struct eau2_remote_run_item *item, size_t icap, size_t *nitems);
size_t eau2_rstats_peers(struct eau2_rstats *st, struct eau2_remote_peer *out, size_t cap);

#endif
