/* SPDX-License-Identifier: MIT */
/*
 * clock.h - milliseconds, for timeouts (monotonic) and for timestamps
 * other processes read (the wall clock).
 */
#ifndef EAU2_UTIL_CLOCK_H
#define EAU2_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t eau2_clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* For deadlines and durations: never jumps. */
static inline int64_t eau2_mono_ms(void)
{
	return eau2_clock_ms(CLOCK_MONOTONIC);
}

/* Milliseconds since the Unix epoch. */
static inline int64_t eau2_wall_ms(void)
{
	return eau2_clock_ms(CLOCK_REALTIME);
}

#endif
