/* SPDX-License-Identifier: MIT */
/*
 * bench_hostcpu.c - how much of the bench's CPUs the host's other
 * processes took while the clients ran.
 *
 * On a shared host a round of eight clients runs about eight times as
 * long as one client's round, minutes later, and meets other bursts of
 * load: its total GB/s against one client's then measures the host, not
 * eau2. The parent reads the busy and total ticks of the CPUs the bench
 * may use (the cpuN lines of /proc/stat) at the start and end of every
 * segment; busy ticks minus the clients' own CPU time are what the
 * others took. Each round's throughput is then also given per CPU
 * second left to it (wall x cores minus the others' share). Unlike the
 * per-CPU-share figure (GB/s over the clients' own cpu%), this one still
 * counts a core that eau2 leaves idle (a straggler, a serial phase, a
 * sleeping pool) against eau2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_int.h"

/* Adds the ticks of the allowed CPUs (cpus[0..ncpus)) to *t; false when
 * /proc/stat cannot be read or lacks one of them. */
bool bench_cpu_ticks(const int *cpus, unsigned ncpus, struct cpu_ticks *t)
{
	FILE *f = fopen("/proc/stat", "r");
	char line[512];
	unsigned seen = 0;

	t->busy = t->total = 0;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[10] = {0};
		int cpu, n;

		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9')
			continue;
		n = sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
			   &v[7], &v[8], &v[9]);
		if (n < 5)
			continue;
		for (unsigned i = 0; i < ncpus; i++) {
			if (cpus[i] != cpu)
				continue;
			/* user nice system idle iowait irq softirq steal;
			 * guest time is already in user and nice. */
			t->busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
			t->total += v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
			seen++;
			break;
		}
	}
	fclose(f);
	return seen == ncpus && ncpus > 0;
}

double bench_cpu_ticks_per_sec(void)
{
	static double hz;

	if (hz == 0) {
		long h = sysconf(_SC_CLK_TCK);
		hz = h > 0 ? (double)h : 100;
	}
	return hz;
}
