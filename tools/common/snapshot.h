/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - the numbers that eau2-node's /metrics and /api/status and
 * `eau2 status` show, taken in one place so that the three agree: the
 * store (bytes, keys, dataframes, segments, and the bytes that appeared in
 * it, whose rate is the load throughput), the host (cores, memory, load,
 * CPU busy), this process, and the node server's counters when the caller
 * runs one.
 *
 * A snapper keeps what a rate or a running total needs between two
 * snapshots (the ids seen last time, /proc/stat's last totals), so each
 * caller that wants rates keeps one snapper and takes its snapshots in
 * turn. Access rules: a snapper is used by one thread at a time (the
 * HTTP service takes a mutex around it); a snapshot is the caller's.
 * Cost: O(files in data/ + keys) per snapshot, reading directories and
 * stat()ing files, never mapping data.
 */
#ifndef EAU2_TOOLS_SNAPSHOT_H
#define EAU2_TOOLS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eau2.h"

/* Keys listed one by one in a snapshot (all are counted). */
#define EAU2_SNAP_KEYS_MAX 1000u

struct eau2_snap_key {
	char *key;
	uint64_t id;
	uint64_t bytes;    /* descriptor and segments, as files (st_size) */
	uint32_t segments;
};

struct eau2_snap {
	double time;           /* seconds since the epoch */
	const char *dir;       /* the store (the snapper's string) */
	/* store */
	uint64_t fs_size, fs_free;  /* the store's filesystem, bytes */
	uint64_t used_bytes;        /* allocated by data/ files (st_blocks) */
	uint64_t keys, dataframes, segments;
	uint64_t unkeyed;           /* dataframes no key names (held, or being built) */
	uint64_t added_bytes;       /* total bytes of dataframes that appeared since the snapper opened */
	struct eau2_snap_key *key; /* sorted by key, at most EAU2_SNAP_KEYS_MAX */
	size_t nkey;
	/* host */
	unsigned cores_online, cores_allowed;
	uint64_t mem_total, mem_available;
	double load1, load5, load15;
	double cpu_busy;            /* 0..1 since the previous snapshot; < 0: unknown */
	/* this process */
	pid_t pid;
	double start_time;          /* seconds since the epoch */
	double cpu_seconds;         /* user + system */
	uint64_t rss;
	uint64_t open_fds;
};

struct eau2_snapper;

/* Opens the store at dir (as eau2-node does: the files, no node) for
 * snapshots. *sp is freed with eau2_snapper_close (NULL allowed). */
int eau2_snapper_open(struct eau2_snapper **sp, const char *dir,
		      struct eau2_error *err);
void eau2_snapper_close(struct eau2_snapper *sp);
/* Takes a snapshot into *snap (cleared first); free what it holds with
 * eau2_snap_clear. A store that cannot be read is an error naming it;
 * missing /proc files leave their fields 0. */
int eau2_snapper_take(struct eau2_snapper *sp, struct eau2_snap *snap,
		      struct eau2_error *err);
void eau2_snap_clear(struct eau2_snap *snap);

#endif
