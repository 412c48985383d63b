/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what every benchmark under bench/ needs: wall and CPU clocks,
 * a seedable generator, dying with a message, and removing a scratch
 * store. Static functions: each bench includes it once.
 */
#ifndef EAU2_BENCH_H
#define EAU2_BENCH_H

#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "eau2.h"
#include "util/parse.h"

#define BENCH_UNUSED __attribute__((unused))

/* Monotonic wall clock, seconds. */
BENCH_UNUSED static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds of this process, all threads, user + system. */
BENCH_UNUSED static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: deterministic, seedable. */
BENCH_UNUSED static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Prints "PROGRAM: what: why" (err's message, else errno's) and exits 1. */
BENCH_UNUSED static void die(const char *what, const struct eau2_error *err)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		err ? err->msg : strerror(errno));
	exit(1);
}

/* The value of option opt: a whole number, or a byte count with an
 * optional K, M, G or T suffix when sized (eau2_parse_size). Exits with a
 * message (status 2, as for a usage error) on anything else. */
BENCH_UNUSED static uint64_t arg_num(const char *opt, const char *s, bool sized)
{
	uint64_t v;

	if ((sized ? eau2_parse_size(s, &v) : eau2_parse_u64(s, &v)) == 0)
		return v;
	fprintf(stderr, "%s: %s: '%s' is not a %s\n", program_invocation_short_name,
		opt, s, sized ? "size (a number, optionally with K, M, G or T)" :
		"whole number");
	exit(2);
}

/* nftw callback removing every entry (use with FTW_DEPTH | FTW_PHYS). */
BENCH_UNUSED static int rm_one(const char *p, const struct stat *st, int flag,
			       struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

#endif
