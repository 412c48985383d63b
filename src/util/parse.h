/* SPDX-License-Identifier: MIT */
/*
 * parse.h - numbers given on command lines (the eau2 tools, eau2 bench,
 * the programs under bench/): whole, non-negative, decimal, and nothing
 * after them. Internal to eau2's own programs; not part of the C API.
 */
#ifndef EAU2_UTIL_PARSE_H
#define EAU2_UTIL_PARSE_H

#include <stdint.h>

/* "123": 0, -EINVAL (not a number, a sign, trailing text) or -ERANGE. */
int eau2_parse_u64(const char *s, uint64_t *out);

/* A byte count: "100", "64M", "1g", "2KiB", "3MB" (K, M, G, T are powers
 * of 1024, either case; "i" and "B" optional). 0, -EINVAL or -ERANGE. */
int eau2_parse_size(const char *s, uint64_t *out);

#endif
