/* SPDX-License-Identifier: MIT */
/*
 * shm.h - the shared-memory store: the directory layout, the catalog of
 * keys, and the segment files that hold chunk bytes. The only way into
 * src/shm from other modules.
 *
 * Layout of a store directory:
 *     EAU2STORE            marker: magic and layout version
 *     writer.lock          flock(LOCK_EX) held by whoever changes keys/
 *     keys/<enc(key)>      16 hex digits: the id of the dataframe it names
 *     data/<id>.df         the dataframe descriptor (src/df owns its format)
 *     data/<id>.<n>.seg    segment n of that dataframe: chunk bytes
 *     data/<id>.lock       flock(LOCK_EX) held while the dataframe is being
 *                          built or is held unpublished by its builder
 *     cores                the table through which runs of all processes
 *                          share the host's cores (cores.c)
 *     locks/<name>         flock(LOCK_EX) of eau2_lock's named locks
 *                          (src/api/local.c); created on first use
 *
 * Access rules. Files under data/ are written by exactly one process (the
 * builder that created the id) and are immutable once the descriptor
 * exists. keys/ changes only by rename() (atomic replace) or unlink(), and
 * only under writer.lock, so a writer that reads a key's old value, renames
 * and then removes the old dataframe's files does all three atomically with
 * respect to other writers. Readers take no lock: they read a key, then
 * open the descriptor and segments; if a file vanished in between (the key
 * was replaced and the old files removed) they retry from the key. Pages
 * of removed files live on while any process maps them: that is the
 * reference count, kept by the kernel, and it is released when a process
 * exits or dies. Every lock is an flock, so kill -9 at any instant leaves
 * no lock held; files left by a killed builder are found by eau2_gc (their
 * lock file is no longer locked and no key names their id), and so is the
 * lock file a put killed between its key's rename and the lock's unlink
 * leaves (a key names its id, and nobody holds it).
 */
#ifndef EAU2_SHM_H
#define EAU2_SHM_H

#include <stdint.h>
#include <sys/types.h>

#include "eau2.h"

/* The handle of one store directory, one per opener (the facade's eau2
 * holds one; eau2-node holds its own). Access rules: everything but
 * writer_depth, writer_fd and cores is immutable after eau2_shm_open.
 * writer_fd and writer_depth belong to the thread holding the handle's
 * writer lock (a handle is used by one thread at a time, like eau2);
 * cores is set once, atomically, by eau2_shm_cores_map. */
/* The pages backing a store's segment files (pages.c). */
struct eau2_shm_pages {
	uint64_t size;  /* bytes: 4096, or the huge page size */
	char how[64];   /* "2048 KiB pages (tmpfs huge=within_size)" */
};

struct eau2_store {
	char *dir;
	int dirfd;
	int keysfd;
	int datafd;
	int writer_fd;   /* writer.lock, opened on first use */
	int writer_depth; /* nesting count of eau2_shm_writer_lock */
	/* The store's core-sharing table (cores.c), mapped on first use. */
	struct eau2_shm_cores *_Atomic cores;
	struct eau2_shm_pages pages; /* what backs data/ */
};

/* Opens (creating when absent) the store at dir (NULL or "": the default
 * store) and reclaims what killed writers left (eau2_shm_gc); the checks
 * and errors of eau2_open. Free with eau2_shm_close (NULL allowed). */
int eau2_shm_open(struct eau2_store **db, const char *dir, struct eau2_error *err);
void eau2_shm_close(struct eau2_store *db);
/* eau2_gc on the store's files. */
int eau2_shm_gc(struct eau2_store *db, struct eau2_error *err);

/* Segment sizes: a dataframe's first segment holds its first chunk (in
 * steps of EAU2_SEG_FIRST), the next ones grow with what the dataframe
 * already reserved, from EAU2_SEG_MIN up to the maximum; a chunk larger
 * than the maximum gets a segment of its own. */
#define EAU2_SEG_FIRST (16ull << 10)
#define EAU2_SEG_MIN (256ull << 10)
#define EAU2_SEG_MAX (1ull << 30)
/* Finds the pages backing the store directory dirfd (path dir, for
 * messages): 0, or -EINVAL for a file system a store cannot live on
 * (hugetlbfs), saying what to use instead. */
int eau2_shm_pages(int dirfd, const char *dir, struct eau2_shm_pages *pg,
		   struct eau2_error *err);
/* A segment size fitted to the store's pages: on huge pages, a segment of
 * half a huge page or more is rounded up to whole ones (a tmpfs mounted
 * huge=within_size gives a range a huge page only when the file covers
 * it); other sizes are returned as they are. */
uint64_t eau2_shm_seg_align(const struct eau2_store *db, uint64_t size);
/* Segments from this size on must leave the store's reserve free. */
#define EAU2_SEG_RESERVED_FROM (4ull << 20)

/* Serialises catalog writers across processes (flock on writer.lock).
 * Nests within one handle. */
int eau2_shm_writer_lock(struct eau2_store *db, struct eau2_error *err);
void eau2_shm_writer_unlock(struct eau2_store *db);

/* Checks a key and encodes it as a file name (out has room for 256). */
int eau2_shm_key_encode(const char *key, char *out, struct eau2_error *err);
/* Reads the dataframe id under key: 0, -ENOENT, or -EBADMSG. */
int eau2_shm_key_read(struct eau2_store *db, const char *key, uint64_t *id,
		      struct eau2_error *err);
/* Points key at id (atomic replace); *old receives the id it held, or 0.
 * Caller holds the writer lock. */
int eau2_shm_key_write(struct eau2_store *db, const char *key, uint64_t id, uint64_t *old,
		       struct eau2_error *err);
/* Removes key; *old receives its id. Caller holds the writer lock. */
int eau2_shm_key_remove(struct eau2_store *db, const char *key, uint64_t *old,
			struct eau2_error *err);
/* True when any key names id. Caller holds the writer lock. O(keys). */
int eau2_shm_id_referenced(struct eau2_store *db, uint64_t id);
/* Watching keys/ for changes (eau2_wait_get): open the watch, check, then
 * wait; a change between the check and the wait is not lost. wait returns
 * 0 on a change or when timeout_ms (negative: forever) passes; callers
 * re-check. Close the watch with close(). */
int eau2_shm_keys_watch(struct eau2_store *db, int *fd, struct eau2_error *err);
int eau2_shm_keys_wait(int fd, int timeout_ms);
/* Sorted, NULL-terminated array of decoded keys (eau2_list). */
int eau2_shm_keys_list(struct eau2_store *db, char ***keys, size_t *n,
		       struct eau2_error *err);

/* Makes a new dataframe id and its held lock file (*lock_fd). */
int eau2_shm_id_create(struct eau2_store *db, uint64_t *id, int *lock_fd,
		       struct eau2_error *err);
/* After a key names id: removes its lock file and closes lock_fd. */
void eau2_shm_id_published(struct eau2_store *db, uint64_t id, int lock_fd);
/* Removes every file of id under data/ (lock file last). */
void eau2_shm_id_remove(int datafd, uint64_t id);

/* File names of an id's descriptor and segments (buf of 64 bytes). */
void eau2_shm_desc_name(char *buf, uint64_t id);
void eau2_shm_seg_name(char *buf, uint64_t id, uint32_t n);

/* A segment mapped for writing by its builder. */
struct eau2_shm_seg {
	int fd;
	uint8_t *base;
	uint64_t size; /* bytes reserved and mapped */
	uint64_t used; /* bump pointer */
};

/* Creates segment n of id, size bytes long (sparse: its writer fills it
 * with pwritev, which fails with -ENOSPC when the store is full; nothing
 * may write through the mapping) and maps it. Segments of
 * EAU2_SEG_RESERVED_FROM bytes or more fail with -ENOSPC when the store's
 * free space would drop into a small reserve kept for other clients. */
int eau2_shm_seg_create(int datafd, uint64_t id, uint32_t n, uint64_t size,
			struct eau2_shm_seg *seg, struct eau2_error *err);
/* Shrinks a finished segment to its used bytes (rounded up to 64) and
 * closes its fd; the mapping stays (seg->base, seg->size bytes) for the
 * writer's own reads, to be unmapped by the caller. */
int eau2_shm_seg_seal(struct eau2_shm_seg *seg, struct eau2_error *err);
/* Unmaps and closes a segment that will not be sealed (abort paths). */
void eau2_shm_seg_drop(struct eau2_shm_seg *seg);
/* Maps segment n of id read-only; its size must be `size`. */
int eau2_shm_seg_map(int datafd, uint64_t id, uint32_t n, uint64_t size,
		     const uint8_t **base, struct eau2_error *err);

/* Sharing cores among the runs of all processes using the store (cores.c,
 * file `cores`). map returns NULL when the table cannot be had (then runs
 * go on without sharing). A run enters (gets a token; -EBUSY when 1024
 * runs are registered), asks for its share of `cores`, claims up to that
 * many CPUs of cpus[] (their numbers in got[]), releases them one by one
 * or all when it leaves. */
struct eau2_shm_cores;
struct eau2_shm_cores *eau2_shm_cores_map(struct eau2_store *db);
void eau2_shm_cores_unmap(struct eau2_store *db);
int eau2_shm_cores_enter(struct eau2_shm_cores *t, uint64_t *token);
unsigned eau2_shm_cores_share(const struct eau2_shm_cores *t, uint64_t token,
			      unsigned cores);
unsigned eau2_shm_cores_claim(struct eau2_shm_cores *t, uint64_t token,
			      const int *cpus, unsigned ncpus, unsigned want,
			      int *got);
void eau2_shm_cores_release_cpu(struct eau2_shm_cores *t, uint64_t token, int cpu);
void eau2_shm_cores_leave(struct eau2_shm_cores *t, uint64_t token);

#endif
