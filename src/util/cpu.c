/* SPDX-License-Identifier: MIT */
/*
 * cpu.c - what a process may run on: the CPUs of its affinity mask and
 * the CPU quota of its cgroup (v2 cpu.max of its cgroup and every
 * ancestor, v1 cfs quota), read once per process.
 *
 * Access rules: cpus, ncpus and default_threads are written once, by
 * cpus_init under pthread_once, and only read afterwards.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eau2.h"
#include "util/cpu.h"
#include "util/file.h"

static pthread_once_t cpus_once = PTHREAD_ONCE_INIT;
static int cpus[CPU_SETSIZE]; /* allowed CPUs, in increasing order */
static unsigned ncpus;        /* entries of cpus */
static unsigned default_threads;

/* CPUs allowed by a cgroup v2 cpu.max file ("max 100000" or "Q P"), or 0
 * for no limit. */
static unsigned quota_v2(const char *path)
{
	char buf[128];
	long long q, p;

	if (eau2_read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	if (sscanf(buf, "%lld %lld", &q, &p) != 2 || q <= 0 || p <= 0)
		return 0; /* "max ..." does not parse as a number */
	return (unsigned)((q + p - 1) / p);
}

static unsigned quota_v1(const char *dir)
{
	char path[256], buf[64];
	long long q, p;

	snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
	if (eau2_read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%lld", &q) != 1)
		return 0;
	snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
	if (eau2_read_small(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%lld", &p) != 1)
		return 0;
	if (q <= 0 || p <= 0)
		return 0;
	return (unsigned)((q + p - 1) / p);
}

static unsigned min_nonzero(unsigned a, unsigned b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* The tightest cgroup CPU quota over this process's cgroup v2 directory and
 * its ancestors, and the v1 cfs quota; 0 when none applies. */
static unsigned cgroup_quota(void)
{
	char buf[4096], path[4096 + 64];
	unsigned lim = 0;

	lim = min_nonzero(lim, quota_v2("/sys/fs/cgroup/cpu.max"));
	if (eau2_read_small("/proc/self/cgroup", buf, sizeof(buf)) > 0) {
		char *line = strstr(buf, "0::/");
		if (line == buf || (line && line[-1] == '\n')) {
			char *rel = line + 3, *nl = strchr(rel, '\n');
			if (nl)
				*nl = 0;
			while (*rel) {
				snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", rel);
				lim = min_nonzero(lim, quota_v2(path));
				char *slash = strrchr(rel, '/');
				if (!slash)
					break;
				*slash = 0;
			}
		}
	}
	lim = min_nonzero(lim, quota_v1("/sys/fs/cgroup/cpu,cpuacct"));
	lim = min_nonzero(lim, quota_v1("/sys/fs/cgroup/cpu"));
	return lim;
}

static void cpus_init(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpus++] = c;
	}
	if (ncpus == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		ncpus = n > 0 && n < CPU_SETSIZE ? (unsigned)n : 1;
		for (unsigned i = 0; i < ncpus; i++)
			cpus[i] = (int)i;
	}
	default_threads = ncpus;
	unsigned q = cgroup_quota();
	if (q && q < default_threads)
		default_threads = q;
	if (default_threads == 0)
		default_threads = 1;
}

unsigned eau2_default_threads(void)
{
	pthread_once(&cpus_once, cpus_init);
	return default_threads;
}

const int *eau2_cpu_allowed(unsigned *n)
{
	pthread_once(&cpus_once, cpus_init);
	*n = ncpus;
	return cpus;
}
