/* SPDX-License-Identifier: MIT */
/*
 * cpu.h - the CPUs this process may use: its affinity mask and the
 * tightest cgroup CPU quota. Below src/df (parallel loaders) and
 * src/rowers (the executor's pool), which both size their threads by it.
 * Internal; the public face is eau2_default_threads (eau2.h), defined in
 * cpu.c.
 */
#ifndef EAU2_UTIL_CPU_H
#define EAU2_UTIL_CPU_H

/* The allowed CPUs in increasing order (*n of them, at least one),
 * detected once per process; the array lives as long as the process. */
const int *eau2_cpu_allowed(unsigned *n);

#endif
