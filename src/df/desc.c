/* SPDX-License-Identifier: MIT */
/*
 * desc.c - writing a dataframe descriptor (data/<id>.df, layout in df.h):
 * the schema, the segment sizes, the first row of every row group and the
 * chunk of every column in every group. df.c parses it; the builder and
 * eau2_df_zip write it, once, before the dataframe is opened.
 *
 * Access rules: none shared; the file is created O_EXCL, so a descriptor
 * is written by exactly one writer and never changes afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "df/df.h"
#include "shm/shm.h"

int eau2_desc_write(int datafd, uint64_t id, const eau2_schema *s,
		    uint32_t nsegs, const uint64_t *seg_sizes, size_t ngroups,
		    const uint64_t *group_first, const struct eau2_chunk_ref *refs,
		    struct eau2_error *err)
{
	size_t ncols = s->n, types_len = (ncols + 7) & ~(size_t)7, names_len = 0, i;
	uint64_t len, bytes = 0;
	struct eau2_desc_hdr *h;
	uint8_t *buf, *p;
	char name[64];
	int fd, rc = 0;
	ssize_t n;

	for (i = 0; i < ncols; i++)
		names_len += strlen(s->names[i]) + 1;
	names_len = (names_len + 7) & ~(size_t)7;
	len = sizeof(*h) + types_len + names_len + nsegs * 8ull +
	      (ngroups + 1) * 8ull + ngroups * ncols * sizeof(*refs);
	buf = calloc(1, len);
	if (!buf)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	h = (struct eau2_desc_hdr *)(void *)buf;
	memcpy(h->magic, EAU2_DESC_MAGIC, 8);
	h->version = EAU2_DESC_VERSION;
	h->ncols = (uint32_t)ncols;
	h->ngroups = ngroups;
	h->nsegs = nsegs;
	h->names_len = (uint32_t)names_len;
	h->file_len = len;
	h->nrows = group_first[ngroups];
	p = buf + sizeof(*h);
	for (i = 0; i < ncols; i++)
		p[i] = (uint8_t)s->types[i];
	p += types_len;
	for (i = 0; i < ncols; i++) {
		size_t l = strlen(s->names[i]) + 1;

		memcpy(p, s->names[i], l);
		p += l;
	}
	p = buf + sizeof(*h) + types_len + names_len;
	memcpy(p, seg_sizes, nsegs * 8ull);
	for (i = 0; i < nsegs; i++)
		bytes += seg_sizes[i];
	h->bytes = bytes;
	p += nsegs * 8ull;
	memcpy(p, group_first, (ngroups + 1) * 8);
	p += (ngroups + 1) * 8;
	memcpy(p, refs, ngroups * ncols * sizeof(*refs));
	h->checksum = XXH3_64bits(buf + sizeof(*h), len - sizeof(*h));

	eau2_shm_desc_name(name, id);
	fd = openat(datafd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = eau2_error_set(err, -errno, "descriptor %s: %s", name, strerror(errno));
		goto out;
	}
	for (p = buf; p < buf + len; p += n) {
		n = write(fd, p, (size_t)(buf + len - p));
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			rc = eau2_error_set(err, n < 0 && errno == ENOSPC ? -ENOSPC : -EIO,
					    "store is full: cannot write descriptor %s", name);
			break;
		}
	}
	close(fd);
out:
	free(buf);
	return rc;
}
