/* SPDX-License-Identifier: MIT */
/*
 * api.h - internal header of src/api, the facade: the top of libeau2,
 * above every other module. It defines the public handle (struct eau2),
 * implements the public calls that take it, and routes them to the
 * modules below. Nothing below includes this header.
 */
#ifndef EAU2_API_API_H
#define EAU2_API_API_H

#include "eau2.h"

struct eau2_store;
struct eau2_node_client;

/* The public handle. Access rules: as for eau2 in eau2.h, one thread at
 * a time; everything is set by eau2_open and freed by eau2_close. */
struct eau2 {
	struct eau2_store *store;      /* the local store (src/shm) */
	struct eau2_node_client *node; /* its eau2-node, or NULL (embedded) */
};

#endif
