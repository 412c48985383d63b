/* SPDX-License-Identifier: MIT */
/*
 * file.h - files written for a user, and input paths opened for one.
 * Internal to eau2 (the library, the eau2 tools); not part of the C API.
 *
 * A file written for a user (an export, a generated data set, a report,
 * an image) goes to a temporary beside it, created with O_CREAT|O_EXCL
 * under a random name, so it is never opened through a link another user
 * planted and never over a file that exists, and is renamed into place
 * only once complete: readers see the old file or the whole new one.
 *
 * An input path given by a user is opened without blocking (O_NONBLOCK,
 * so a FIFO with no writer cannot hang the open) and checked to be a
 * regular file with fstat before anything reads it.
 */
#ifndef EAU2_UTIL_FILE_H
#define EAU2_UTIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "eau2.h"

struct eau2_outfile {
	int fd;     /* the temporary, open for writing; -1 when closed */
	char *path; /* the target */
	char *tmp;  /* the temporary's path, beside the target */
};

/* Creates the temporary for path (mode as for open(2), umask applied).
 * Returns 0 with f filled, or -errno with err naming the path. On
 * failure f holds nothing to free. */
int eau2_outfile_open(struct eau2_outfile *f, const char *path, mode_t mode,
		      struct eau2_error *err);
/* Closes the temporary (unless the caller closed it, e.g. with fclose
 * after fdopen, and set fd to -1) and renames it over the target. Returns 0, or
 * -errno with err naming the path (the temporary is then removed). f is
 * released in both cases. */
int eau2_outfile_commit(struct eau2_outfile *f, struct eau2_error *err);
/* Closes and removes the temporary; f is released. Safe on an f that was
 * released or never opened (zeroed with fd = -1). */
void eau2_outfile_abort(struct eau2_outfile *f);

/* Opens a user's input path read-only without blocking and checks that it
 * is a regular file. Returns the fd (O_CLOEXEC, back in blocking mode), or
 * -errno with err naming the path: -EINVAL "not a regular file" for a
 * FIFO, socket or device, -EISDIR for a directory. */
int eau2_open_regular(const char *path, struct eau2_error *err);

/* Reads at most size - 1 bytes of a small file (/proc, /sys) into buf and
 * NUL-terminates them: the byte count, or -1 when it cannot be read. */
long eau2_read_small(const char *path, char *buf, size_t size);

#endif
