/* SPDX-License-Identifier: MIT */
/*
 * bench.h - `eau2 bench`, the benchmark suite of the command line
 * (cmd_bench.c): generates or reuses data sets in the store, measures this
 * machine's memory-read bandwidth, runs the built-in rowers from 1, 2, 4, 8
 * concurrent client processes and reports time, throughput and memory
 * against that bandwidth and the data size.
 */
#ifndef EAU2_TOOLS_BENCH_H
#define EAU2_TOOLS_BENCH_H

/* Runs `eau2 bench`. argv[0] is "bench"; the options follow (see
 * `eau2 bench --help`). The store is --store DIR, else $EAU2_STORE, else
 * the default store. Prints the report on stdout and progress on stderr.
 * Returns the exit status: 0 success, 1 user error (bad option), 2
 * internal failure (a rower failed or returned a wrong answer, a client
 * died, the store failed). */
int eau2_cli_bench(int argc, char **argv);

#endif
