/* SPDX-License-Identifier: MIT */
/*
 * env_options.h - the environment variables of eau2's programs (the eau2
 * and eau2-node commands, eau2 bench's client processes, the programs
 * under bench/) turned into eau2_open's options. The library reads no
 * environment; its command lines take these as their defaults:
 *
 *   EAU2_STORE    the store directory (a --store option overrides it)
 *   EAU2_NODE     "0", "off" or "no": do not attach to an eau2-node
 *   EAU2_VERIFY   set and not "0": verify every chunk on every get
 *   EAU2_SECRET_FILE  the cluster secret (a --secret-file option overrides
 *                 it): the default of eau2 and eau2-node alike
 *   EAU2_REMOTE   HOST:PORT of a remote eau2-node the eau2 command works
 *                 on (its --remote overrides it). Only the eau2 command
 *                 reads it (eau2_env_remote): eau2-node and the benchmarks
 *                 always open their own store.
 *   EAU2_CLUSTER  HOST:PORT[,HOST:PORT...][/NAME]: the ZooKeeper of a
 *                 cluster the eau2 command works on (its --cluster
 *                 overrides it; eau2_env_cluster). --remote and
 *                 --cluster are exclusive.
 *
 * and, read by the eau2 command when it drives a cluster
 * (eau2_env_driver_options):
 *
 *   EAU2_CLUSTER_GATHER  "1": a run stored under a key gathers its output
 *                 on the driver and puts it back out (options.gather)
 *   EAU2_SHUFFLE_BYTES  the shuffle bound in bytes; 0: always shuffle
 *                 (options.shuffle_bytes)
 *   EAU2_BCAST_MAX  the bytes of one broadcast side table, at least 1
 *                 (options.bcast_max)
 */
#ifndef EAU2_TOOLS_ENV_OPTIONS_H
#define EAU2_TOOLS_ENV_OPTIONS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eau2.h"

/* A variable's value, or NULL when unset or empty. */
static inline const char *eau2_env_str(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

/* EAU2_REMOTE, or NULL. */
static inline const char *eau2_env_remote(void)
{
	return eau2_env_str("EAU2_REMOTE");
}

/* EAU2_CLUSTER, or NULL. */
static inline const char *eau2_env_cluster(void)
{
	return eau2_env_str("EAU2_CLUSTER");
}

/* Fills *opt from the environment (EAU2_REMOTE excepted: see above);
 * store, when not NULL, overrides EAU2_STORE. The strings point into the
 * environment and into store. */
static inline void eau2_env_options(struct eau2_options *opt, const char *store)
{
	const char *node = getenv("EAU2_NODE");
	const char *verify = getenv("EAU2_VERIFY");

	memset(opt, 0, sizeof(*opt));
	opt->store = store ? store : getenv("EAU2_STORE");
	if (opt->store && !*opt->store)
		opt->store = NULL;
	if (node && (!strcmp(node, "0") || !strcmp(node, "off") || !strcmp(node, "no")))
		opt->node = EAU2_NODE_OFF;
	opt->verify = verify && *verify && strcmp(verify, "0") != 0;
	opt->secret_file = eau2_env_str("EAU2_SECRET_FILE");
}

/* A variable's value in bytes into *out; unset or empty: *out unchanged.
 * -EINVAL, naming it, unless it is all digits and fits in 64 bits. */
static inline int eau2_env_bytes(const char *name, uint64_t *out, struct eau2_error *err)
{
	const char *v = eau2_env_str(name);
	unsigned long long b;
	char *end;

	if (!v)
		return 0;
	errno = 0;
	b = strtoull(v, &end, 10);
	if (errno || *end || v[0] < '0' || v[0] > '9')
		return eau2_error_set(err, -EINVAL, "%s='%s': want a number of bytes", name, v);
	*out = b;
	return 0;
}

/* Fills the cluster driver's options of *opt from EAU2_CLUSTER_GATHER,
 * EAU2_SHUFFLE_BYTES and EAU2_BCAST_MAX (see above); those unset keep
 * their value. Returns 0, or -EINVAL naming a variable that is not a
 * number of bytes (or EAU2_BCAST_MAX=0). */
static inline int eau2_env_driver_options(struct eau2_options *opt, struct eau2_error *err)
{
	const char *gather = eau2_env_str("EAU2_CLUSTER_GATHER");
	uint64_t shuffle = 0, bcast = 0;
	int rc;

	if (gather)
		opt->gather = !strcmp(gather, "1");
	if ((rc = eau2_env_bytes("EAU2_SHUFFLE_BYTES", &shuffle, err)) ||
	    (rc = eau2_env_bytes("EAU2_BCAST_MAX", &bcast, err)))
		return rc;
	if (eau2_env_str("EAU2_SHUFFLE_BYTES")) /* 0: always shuffle */
		opt->shuffle_bytes = shuffle == 0 ? -1 : shuffle > INT64_MAX ? INT64_MAX :
			(int64_t)shuffle;
	if (eau2_env_str("EAU2_BCAST_MAX") && bcast == 0)
		return eau2_error_set(err, -EINVAL, "EAU2_BCAST_MAX='0': want a number of "
				      "bytes above 0");
	if (bcast)
		opt->bcast_max = bcast;
	return 0;
}

/* eau2_open with the environment's options (store as above). */
static inline int eau2_env_open(eau2 **db, const char *store, struct eau2_error *err)
{
	struct eau2_options opt;

	eau2_env_options(&opt, store);
	return eau2_open(db, &opt, err);
}

#endif
