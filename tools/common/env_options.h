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
 */
#ifndef EAU2_TOOLS_ENV_OPTIONS_H
#define EAU2_TOOLS_ENV_OPTIONS_H

#include <stdlib.h>
#include <string.h>

#include "eau2.h"

/* Fills *opt from the environment; store, when not NULL, overrides
 * EAU2_STORE. The strings point into the environment and into store. */
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
}

/* eau2_open with the environment's options (store as above). */
static inline int eau2_env_open(eau2 **db, const char *store, struct eau2_error *err)
{
	struct eau2_options opt;

	eau2_env_options(&opt, store);
	return eau2_open(db, &opt, err);
}

#endif
