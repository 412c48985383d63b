/* SPDX-License-Identifier: MIT */
/*
 * mem.c - zeroed memory written at once (mem.h).
 */
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

void *eau2_zalloc_written(size_t n, size_t size)
{
	size_t bytes;
	void *p;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	if (!(p = malloc(bytes ? bytes : 1)))
		return NULL;
	/* Hidden from the compiler, which would turn malloc + memset back
	 * into calloc. */
	__asm__ volatile("" : "+r"(p));
	memset(p, 0, bytes);
	return p;
}
