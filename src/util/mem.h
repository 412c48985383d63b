/* SPDX-License-Identifier: MIT */
/*
 * mem.h - zeroed memory whose pages are written at once, for the hash
 * tables of the rowers (src/rowers, and the applications' through them).
 *
 * calloc hands back fresh pages untouched, and a probe that reads a slot
 * before the insert writes it maps the shared zero page there; the first
 * write into each such page then faults again to copy it, and in a
 * process with several threads each of those faults flushes the TLBs of
 * the others (an IPI per page). Writing the zeros up front costs one
 * plain fault per page instead.
 */
#ifndef EAU2_UTIL_MEM_H
#define EAU2_UTIL_MEM_H

#include <stddef.h>

/* n elements of size bytes, zeroed by writing (free it); NULL when out of
 * memory or when n * size overflows. */
void *eau2_zalloc_written(size_t n, size_t size);

#endif
