/* SPDX-License-Identifier: MIT */
/*
 * cores.c - sharing the host's cores among the rower runs of every process
 * that uses a store, so that N clients asking for all cores each do not
 * put N x cores threads on the host (context switches, N x cores hash
 * tables), and their pinned threads do not pile onto the same CPUs.
 *
 * The store's file `cores` (struct table, made whole by O_TMPFILE and
 * linkat, so nobody maps it half-sized) is mapped by every process that
 * runs. A run registers a token (pid and a per-process sequence number) in
 * runs[], so the number of live runs is a scan away; its fair share of the
 * cores is cores / runs (the first cores % runs runs in table order get one
 * more). It then claims that many CPUs by compare-and-swap of cpus[c] from
 * 0 to its token and pins a worker on each. While it runs, its workers
 * recompute the share every few milliseconds and the extra ones retire
 * (releasing their CPU) when more runs have come. A run never waits for a
 * core: with no CPU free it still runs, on its caller's thread, unpinned.
 *
 * A process killed mid-run leaves its token behind. Registration checks
 * the owner of every token it counts with kill(pid, 0) and clears the dead
 * ones, and a CPU whose owner token is no longer registered is free. (PIDs
 * are those of the registering process's namespace: processes in other
 * PID namespaces sharing a store do not count each other's liveness.)
 *
 * Access rules: the table is shared by processes; every field is an
 * atomic, written only by compare-and-swap (runs, cpus) or once (magic).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/shm.h"

#define CORES_MAGIC 0x3153455230325541ull /* "AU20RES1" */
#define RUNS_MAX 1024
#define CPUS_MAX 4096

struct eau2_shm_cores {
	_Atomic uint64_t magic;
	_Atomic uint64_t runs[RUNS_MAX];  /* 0: free, else a run's token */
	_Atomic uint64_t cpus[CPUS_MAX];  /* 0: free, else the owner's token */
};

static _Atomic uint64_t seq;

static pid_t token_pid(uint64_t t)
{
	return (pid_t)(t >> 24);
}

/* Creates `cores` whole (size and magic set before it has a name). */
static int table_create(int dirfd)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	uint64_t magic = CORES_MAGIC;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, sizeof(struct eau2_shm_cores)) < 0 ||
	    pwrite(fd, &magic, sizeof(magic), 0) != sizeof(magic))
		rc = errno ? -errno : -EIO;
	else if (linkat(fd, "", dirfd, "cores", AT_EMPTY_PATH) < 0 && errno != EEXIST)
		rc = -errno;
	close(fd);
	return rc;
}

struct eau2_shm_cores *eau2_shm_cores_map(struct eau2_store *db)
{
	struct eau2_shm_cores *t = atomic_load(&db->cores), *expect = NULL;
	struct stat st;
	int fd, tries;

	if (t)
		return t;
	for (tries = 0; tries < 2; tries++) {
		fd = openat(db->dirfd, "cores", O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != ENOENT || table_create(db->dirfd))
			return NULL;
	}
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || st.st_size != sizeof(*t)) {
		close(fd);
		return NULL;
	}
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (t == MAP_FAILED)
		return NULL;
	if (atomic_load(&t->magic) != CORES_MAGIC) {
		munmap(t, sizeof(*t));
		return NULL;
	}
	if (!atomic_compare_exchange_strong(&db->cores, &expect, t)) {
		munmap(t, sizeof(*t));
		t = expect;
	}
	return t;
}

void eau2_shm_cores_unmap(struct eau2_store *db)
{
	struct eau2_shm_cores *t = atomic_load(&db->cores);

	if (t)
		munmap(t, sizeof(*t));
}

static bool registered(const struct eau2_shm_cores *t, uint64_t token)
{
	for (size_t i = 0; i < RUNS_MAX; i++)
		if (atomic_load_explicit(&t->runs[i], memory_order_relaxed) == token)
			return true;
	return false;
}

int eau2_shm_cores_enter(struct eau2_shm_cores *t, uint64_t *token)
{
	uint64_t me = ((uint64_t)getpid() << 24) |
		      ((atomic_fetch_add(&seq, 1) + 1) & 0xffffff);

	*token = 0;
	/* Clear the tokens of dead processes first. */
	for (size_t i = 0; i < RUNS_MAX; i++) {
		uint64_t t0 = atomic_load(&t->runs[i]);

		if (t0 && kill(token_pid(t0), 0) < 0 && errno == ESRCH)
			atomic_compare_exchange_strong(&t->runs[i], &t0, 0);
	}
	for (size_t i = 0; i < RUNS_MAX; i++) {
		uint64_t zero = 0;

		if (atomic_compare_exchange_strong(&t->runs[i], &zero, me)) {
			*token = me;
			return 0;
		}
	}
	return -EBUSY;
}

unsigned eau2_shm_cores_share(const struct eau2_shm_cores *t, uint64_t token,
			      unsigned cores)
{
	unsigned runs = 0, rank = 0;

	for (size_t i = 0; i < RUNS_MAX; i++) {
		uint64_t v = atomic_load_explicit(&t->runs[i], memory_order_relaxed);

		if (!v)
			continue;
		if (v == token)
			rank = runs;
		runs++;
	}
	if (runs == 0)
		return cores ? cores : 1;
	if (cores <= runs)
		return 1;
	return cores / runs + (rank < cores % runs);
}

unsigned eau2_shm_cores_claim(struct eau2_shm_cores *t, uint64_t token,
			      const int *cpus, unsigned ncpus, unsigned want,
			      int *got)
{
	unsigned n = 0;
	/* Start at a place that depends on the token, so concurrent runs
	 * do not race for the same CPUs first. */
	unsigned start = ncpus ? (unsigned)((token * 0x9e3779b97f4a7c15ull) >> 40) % ncpus : 0;

	for (unsigned k = 0; k < ncpus && n < want; k++) {
		int c = cpus[(start + k) % ncpus];
		uint64_t owner;

		if (c < 0 || c >= CPUS_MAX)
			continue;
		owner = atomic_load(&t->cpus[c]);
		if (owner && registered(t, owner))
			continue;
		if (atomic_compare_exchange_strong(&t->cpus[c], &owner, token))
			got[n++] = c;
	}
	return n;
}

void eau2_shm_cores_release_cpu(struct eau2_shm_cores *t, uint64_t token, int cpu)
{
	uint64_t expect = token;

	if (cpu >= 0 && cpu < CPUS_MAX)
		atomic_compare_exchange_strong(&t->cpus[cpu], &expect, 0);
}

void eau2_shm_cores_leave(struct eau2_shm_cores *t, uint64_t token)
{
	for (size_t i = 0; i < RUNS_MAX; i++) {
		uint64_t expect = token;

		if (atomic_compare_exchange_strong(&t->runs[i], &expect, 0))
			break;
	}
}
