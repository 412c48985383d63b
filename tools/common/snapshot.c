/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - takes the snapshots of snapshot.h: scans the store's data/
 * directory (file names are <16 hex id>.df, <id>.<n>.seg, <id>.lock; see
 * src/shm/shm.h), reads its keys, and reads the host's and this process's
 * figures from /proc. Access rules are snapshot.h's: one thread at a time
 * per snapper.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#include "common/snapshot.h"
#include "shm/shm.h"
#include "util/file.h"

/* One dataframe id found in data/. */
struct file_id {
	uint64_t id;
	uint64_t bytes;
	uint32_t segments;
	bool desc;
};

struct eau2_snapper {
	struct eau2_store *db;
	uint64_t *seen;     /* ids with a descriptor at the last snapshot, sorted */
	size_t nseen;
	uint64_t added_bytes;
	bool first;         /* no snapshot yet: what exists is not "added" */
	uint64_t cpu_idle, cpu_total; /* /proc/stat at the last snapshot */
	double start_time;
};

static int cmp_id(const void *a, const void *b)
{
	uint64_t x = ((const struct file_id *)a)->id, y = ((const struct file_id *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "<16 hex>.df" or "<16 hex>.<n>.seg": the id and which; 0 for others. */
static int parse_name(const char *name, uint64_t *id, bool *desc)
{
	char *end;
	size_t i;

	for (i = 0; i < 16; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	if (name[16] != '.')
		return 0;
	*id = strtoull(name, NULL, 16);
	if (!strcmp(name + 17, "df")) {
		*desc = true;
		return 1;
	}
	if (name[17] < '0' || name[17] > '9')
		return 0;
	strtoul(name + 17, &end, 10);
	*desc = false;
	return !strcmp(end, ".seg");
}

/* Reads data/ into a sorted array of ids (one entry per id). */
static int scan_data(struct eau2_snapper *sp, struct eau2_snap *snap,
		     struct file_id **out, size_t *nout, struct eau2_error *err)
{
	struct file_id *f = NULL, *p;
	size_t n = 0, cap = 0, i, j;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(sp->db->datafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return eau2_error_set(err, -errno, "%s/data: %s", sp->db->dir, strerror(errno));
	}
	while ((de = readdir(d))) {
		struct stat st;
		uint64_t id;
		bool desc;

		if (!parse_name(de->d_name, &id, &desc))
			continue;
		if (fstatat(sp->db->datafd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed since readdir */
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			p = realloc(f, cap * sizeof(*f));
			if (!p) {
				closedir(d);
				free(f);
				return eau2_error_set(err, -ENOMEM, "out of memory");
			}
			f = p;
		}
		f[n++] = (struct file_id){ .id = id, .bytes = (uint64_t)st.st_size,
					   .segments = !desc, .desc = desc };
		snap->used_bytes += (uint64_t)st.st_blocks * 512;
		snap->segments += !desc;
	}
	closedir(d);
	if (n)
		qsort(f, n, sizeof(*f), cmp_id);
	for (i = 0, j = 0; i < n; i++) {
		if (j && f[j - 1].id == f[i].id) {
			f[j - 1].bytes += f[i].bytes;
			f[j - 1].segments += f[i].segments;
			f[j - 1].desc |= f[i].desc;
		} else {
			f[j++] = f[i];
		}
	}
	*out = f;
	*nout = j;
	return 0;
}

static struct file_id *find_id(struct file_id *f, size_t n, uint64_t id)
{
	struct file_id k = { .id = id };

	return n ? bsearch(&k, f, n, sizeof(*f), cmp_id) : NULL;
}

/* Counts dataframes and the bytes of those not seen last time, then
 * remembers the ids seen now. A dataframe is counted once its
 * descriptor exists: a put writes its segments first. */
static void count_added(struct eau2_snapper *sp, struct eau2_snap *snap,
			const struct file_id *f, size_t n)
{
	uint64_t *seen = malloc((n ? n : 1) * sizeof(*seen));
	size_t i, m = 0;

	for (i = 0; i < n; i++) {
		if (!f[i].desc)
			continue;
		snap->dataframes++;
		if (!sp->first && !(sp->nseen &&
				    bsearch(&f[i].id, sp->seen, sp->nseen, sizeof(uint64_t), cmp_u64)))
			sp->added_bytes += f[i].bytes;
		if (seen)
			seen[m++] = f[i].id;
	}
	if (seen) { /* without memory, the next snapshot counts again */
		free(sp->seen);
		sp->seen = seen;
		sp->nseen = m;
	}
	sp->first = false;
	snap->added_bytes = sp->added_bytes;
}

static int read_keys(struct eau2_snapper *sp, struct eau2_snap *snap,
		     struct file_id *f, size_t n, struct eau2_error *err)
{
	char **keys = NULL;
	size_t nkeys = 0, i;
	int rc;

	rc = eau2_shm_keys_list(sp->db, &keys, &nkeys, err);
	if (rc)
		return rc;
	snap->keys = nkeys;
	snap->unkeyed = snap->dataframes;
	snap->key = calloc(nkeys < EAU2_SNAP_KEYS_MAX ? nkeys + 1 : EAU2_SNAP_KEYS_MAX,
			   sizeof(*snap->key));
	if (!snap->key) {
		eau2_list_free(keys);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	for (i = 0; i < nkeys; i++) {
		struct file_id *fi;
		uint64_t id;

		if (eau2_shm_key_read(sp->db, keys[i], &id, NULL))
			continue; /* removed since the listing, or unreadable */
		fi = find_id(f, n, id);
		if (fi && fi->desc && snap->unkeyed)
			snap->unkeyed--;
		if (snap->nkey == EAU2_SNAP_KEYS_MAX)
			continue;
		snap->key[snap->nkey++] = (struct eau2_snap_key){
			.key = keys[i], .id = id, .bytes = fi ? fi->bytes : 0,
			.segments = fi ? fi->segments : 0 };
		keys[i] = NULL; /* now the snapshot's */
	}
	eau2_list_free(keys);
	return 0;
}

/* ------------------------------------------------------------ /proc */

static uint64_t meminfo_field(const char *buf, const char *name)
{
	const char *p = strstr(buf, name);

	return p ? strtoull(p + strlen(name), NULL, 10) * 1024 : 0;
}

static void read_host(struct eau2_snapper *sp, struct eau2_snap *snap)
{
	unsigned long long v[8] = {0};
	uint64_t idle, total;
	char buf[4096];
	cpu_set_t set;

	snap->cores_online = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	snap->cores_allowed = sched_getaffinity(0, sizeof(set), &set) ? snap->cores_online
								       : (unsigned)CPU_COUNT(&set);
	if (eau2_read_small("/proc/meminfo", buf, sizeof(buf)) > 0) {
		snap->mem_total = meminfo_field(buf, "MemTotal:");
		snap->mem_available = meminfo_field(buf, "MemAvailable:");
	}
	if (eau2_read_small("/proc/loadavg", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%lf %lf %lf", &snap->load1, &snap->load5, &snap->load15) != 3)
		snap->load1 = snap->load5 = snap->load15 = 0;
	snap->cpu_busy = -1;
	/* cpu  user nice system idle iowait irq softirq steal */
	if (eau2_read_small("/proc/stat", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		   &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
		idle = v[3] + v[4];
		/* iowait may go backwards (proc(5)): clamp the share. */
		if (sp->cpu_total && total > sp->cpu_total) {
			double d = 1 - ((double)idle - (double)sp->cpu_idle) /
				       (double)(total - sp->cpu_total);

			snap->cpu_busy = d < 0 ? 0 : d > 1 ? 1 : d;
		}
		if (total > sp->cpu_total) { /* else wait for a tick to compare with */
			sp->cpu_idle = idle;
			sp->cpu_total = total;
		}
	}
}

static void read_self(struct eau2_snapper *sp, struct eau2_snap *snap)
{
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long size, rss;
	struct tms t;
	struct dirent *de;
	char buf[256];
	DIR *d;

	snap->pid = getpid();
	snap->start_time = sp->start_time;
	if (times(&t) != (clock_t)-1 && tck > 0)
		snap->cpu_seconds = (double)(t.tms_utime + t.tms_stime) / (double)tck;
	if (eau2_read_small("/proc/self/statm", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%llu %llu", &size, &rss) == 2)
		snap->rss = rss * (uint64_t)page;
	d = opendir("/proc/self/fd");
	if (d) {
		while ((de = readdir(d)))
			snap->open_fds += de->d_name[0] != '.';
		closedir(d);
		snap->open_fds--; /* the one opendir holds */
	}
}

/* ------------------------------------------------------------ api */

int eau2_snapper_open(struct eau2_snapper **out, const char *dir, struct eau2_error *err)
{
	struct eau2_snapper *sp = calloc(1, sizeof(*sp));
	struct timeval tv;
	int rc;

	*out = NULL;
	if (!sp)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	rc = eau2_shm_open(&sp->db, dir, err);
	if (rc) {
		free(sp);
		return rc;
	}
	gettimeofday(&tv, NULL);
	sp->start_time = (double)tv.tv_sec + tv.tv_usec / 1e6;
	sp->first = true;
	*out = sp;
	return 0;
}

void eau2_snapper_close(struct eau2_snapper *sp)
{
	if (!sp)
		return;
	eau2_shm_close(sp->db);
	free(sp->seen);
	free(sp);
}

void eau2_snap_clear(struct eau2_snap *snap)
{
	size_t i;

	for (i = 0; i < snap->nkey; i++)
		free(snap->key[i].key);
	free(snap->key);
	memset(snap, 0, sizeof(*snap));
}

int eau2_snapper_take(struct eau2_snapper *sp, struct eau2_snap *snap,
		      struct eau2_error *err)
{
	struct file_id *f = NULL;
	struct statvfs vfs;
	struct timeval tv;
	size_t n = 0;
	int rc;

	memset(snap, 0, sizeof(*snap));
	gettimeofday(&tv, NULL);
	snap->time = (double)tv.tv_sec + tv.tv_usec / 1e6;
	snap->dir = sp->db->dir;
	if (fstatvfs(sp->db->dirfd, &vfs) == 0) {
		snap->fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		snap->fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	}
	rc = scan_data(sp, snap, &f, &n, err);
	if (rc)
		goto out;
	count_added(sp, snap, f, n);
	rc = read_keys(sp, snap, f, n, err);
	if (rc)
		goto out;
	read_host(sp, snap);
	read_self(sp, snap);
out:
	free(f);
	if (rc)
		eau2_snap_clear(snap);
	return rc;
}
