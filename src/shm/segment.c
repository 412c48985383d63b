/* SPDX-License-Identifier: MIT */
/*
 * segment.c - segment files: created by one builder, which writes its
 * chunks into them with pwritev (so a full store is an ENOSPC error from
 * the write, never a SIGBUS: nothing writes through a mapping, and pages
 * are allocated by the write itself, not zeroed by a reservation first),
 * shrunk to their used size when sealed, then mapped read-only by every
 * reader. Offsets inside a segment are what chunk references hold, so any
 * process may map it at any address.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "shm/shm.h"

/* Shared-memory pages backed by transparent huge pages cut TLB misses on
 * scans and page faults on first touch; the kernel ignores the advice when
 * shmem THP is disabled. */
static void advise(void *base, size_t size)
{
#ifdef MADV_HUGEPAGE
	madvise(base, size, MADV_HUGEPAGE);
#endif
}

/* Large segments leave a reserve free: when a big load fills the store,
 * it fails (and gives its space back) while other clients' small results,
 * which also live in the store, still fit. Reserve: 1/32 of the file
 * system, between 1 and 64 MiB. */
static int reserve_ok(int datafd, uint64_t size)
{
	struct statvfs vfs;
	uint64_t total, avail, reserve;

	if (size < EAU2_SEG_RESERVED_FROM || fstatvfs(datafd, &vfs) < 0)
		return 1;
	total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	reserve = total / 32;
	if (reserve < (1u << 20))
		reserve = 1u << 20;
	if (reserve > (64u << 20))
		reserve = 64u << 20;
	return avail >= size + reserve;
}

int eau2_shm_seg_create(int datafd, uint64_t id, uint32_t n, uint64_t size,
			struct eau2_shm_seg *seg, struct eau2_error *err)
{
	char name[64];
	int fd, rc;
	void *base;

	eau2_shm_seg_name(name, id, n);
	if (!reserve_ok(datafd, size))
		return eau2_error_set(err, -ENOSPC,
				      "store is full: no room for a %llu MiB segment %s "
				      "beside the reserve kept for other clients",
				      (unsigned long long)(size >> 20), name);
	fd = openat(datafd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return eau2_error_set(err, -errno, "segment %s: %s", name, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0) {
		rc = eau2_error_set(err, -errno, "segment %s: %s", name,
				    strerror(errno));
		goto fail;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		rc = eau2_error_set(err, -errno, "segment %s: mmap: %s", name,
				    strerror(errno));
		goto fail;
	}
	advise(base, size);
	seg->fd = fd;
	seg->base = base;
	seg->size = size;
	seg->used = 0;
	return 0;
fail:
	close(fd);
	unlinkat(datafd, name, 0);
	return rc;
}

int eau2_shm_seg_seal(struct eau2_shm_seg *seg, struct eau2_error *err)
{
	uint64_t len = (seg->used + 63) & ~63ull;
	int rc = 0;

	if (len < seg->size && ftruncate(seg->fd, (off_t)len) < 0)
		rc = eau2_error_set(err, -errno, "segment: truncate: %s", strerror(errno));
	close(seg->fd);
	seg->fd = -1;
	seg->used = len;
	return rc;
}

void eau2_shm_seg_drop(struct eau2_shm_seg *seg)
{
	if (seg->base)
		munmap(seg->base, seg->size);
	if (seg->fd >= 0)
		close(seg->fd);
	seg->base = NULL;
	seg->fd = -1;
}

int eau2_shm_seg_map(int datafd, uint64_t id, uint32_t n, uint64_t size,
		     const uint8_t **base, struct eau2_error *err)
{
	char name[64];
	struct stat st;
	void *p;
	int fd, rc = 0;

	eau2_shm_seg_name(name, id, n);
	fd = openat(datafd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return eau2_error_set(err, -errno, "segment %s: %s", name, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = eau2_error_set(err, -errno, "segment %s: %s", name, strerror(errno));
		goto out;
	}
	if ((uint64_t)st.st_size != size) {
		rc = eau2_error_set(err, -EBADMSG,
				    "segment %s is %lld bytes, its descriptor says %llu (truncated or corrupt)",
				    name, (long long)st.st_size, (unsigned long long)size);
		goto out;
	}
	p = mmap(NULL, size ? size : 1, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		rc = eau2_error_set(err, -errno, "segment %s: mmap: %s", name,
				    strerror(errno));
		goto out;
	}
	advise(p, size);
	*base = p;
out:
	close(fd);
	return rc;
}
