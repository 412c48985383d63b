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
 */
#ifndef EAU2_TOOLS_ENV_OPTIONS_H
#define EAU2_TOOLS_ENV_OPTIONS_H

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

/* eau2_open with the environment's options (store as above). */
static inline int eau2_env_open(eau2 **db, const char *store, struct eau2_error *err)
{
	struct eau2_options opt;

	eau2_env_options(&opt, store);
	return eau2_open(db, &opt, err);
}

#endif
