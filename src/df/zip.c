/* SPDX-License-Identifier: MIT */
/*
 * zip.c - eau2_df_zip: a dataframe made of the columns of two others,
 * side by side, without copying a byte. Segment files are immutable once
 * their dataframe's descriptor exists (shm.h), so the new dataframe's
 * segments are hard links to theirs: the same pages, found under the new
 * id's names. Each id's files are then removed on their own (eau2_delete,
 * gc) and the kernel frees a segment's pages when its last name and its
 * last mapping are gone. The new descriptor lists a's segments first, then
 * b's, and points each chunk at its old offset in its renumbered segment.
 *
 * A killed process leaves at worst an unlocked id with some links and no
 * descriptor: gc removes it like any builder's leftovers.
 *
 * Access rules: none shared; the new id is private until eau2_put.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df.h"
#include "shm/shm.h"

static int same_store(struct eau2_store *db, const eau2_df *df)
{
	struct stat st;

	return fstat(db->datafd, &st) == 0 && st.st_dev == df->data_dev &&
	       st.st_ino == df->data_ino;
}

static int check(struct eau2_store *db, const eau2_df *a, const eau2_df *b,
		 struct eau2_error *err)
{
	size_t i, g;

	if (!db || !a || !b)
		return eau2_error_set(err, -EINVAL, "zip: store and dataframes are required");
	if (!same_store(db, a) || !same_store(db, b))
		return eau2_error_set(err, -EXDEV, "zip: the dataframes belong to another store");
	if (a->schema->n + b->schema->n > EAU2_COLS_MAX)
		return eau2_error_set(err, -EINVAL, "zip: more than %d columns",
				      EAU2_COLS_MAX);
	if (a->nsegs + b->nsegs > (1u << 20))
		return eau2_error_set(err, -EINVAL, "zip: too many segments");
	if (a->ngroups != b->ngroups || a->nrows != b->nrows)
		return eau2_error_set(err, -EINVAL, "zip: %llu rows in %zu row groups "
				      "against %llu rows in %zu",
				      (unsigned long long)a->nrows, a->ngroups,
				      (unsigned long long)b->nrows, b->ngroups);
	for (g = 1; g <= a->ngroups; g++)
		if (a->group_first[g] != b->group_first[g])
			return eau2_error_set(err, -EINVAL, "zip: row group %zu holds "
					      "rows from %llu on one side, %llu on the other",
					      g, (unsigned long long)a->group_first[g],
					      (unsigned long long)b->group_first[g]);
	for (i = 0; i < b->schema->n; i++)
		if (eau2_schema_find(a->schema, b->schema->names[i]) >= 0)
			return eau2_error_set(err, -EINVAL, "zip: column '%s' is on "
					      "both sides", b->schema->names[i]);
	return 0;
}

/* Links every segment of src under id, numbered from first. */
static int link_segs(struct eau2_store *db, const eau2_df *src, uint64_t id, uint32_t first,
		     struct eau2_error *err)
{
	char from[64], to[64];

	for (uint32_t k = 0; k < src->nsegs; k++) {
		eau2_shm_seg_name(from, src->id, k);
		eau2_shm_seg_name(to, id, first + k);
		if (linkat(db->datafd, from, db->datafd, to, 0) < 0)
			return eau2_error_set(err, -errno, "zip: linking segment %s: %s",
					      from, strerror(errno));
	}
	return 0;
}

int eau2_df_zip_in(struct eau2_store *db, const eau2_df *a, const eau2_df *b,
		    eau2_df **out, struct eau2_error *err)
{
	size_t na, nb, ncols, ngroups, g, i;
	uint32_t nsegs = 0, k;
	uint64_t id = 0, *sizes = NULL;
	struct eau2_chunk_ref *refs = NULL;
	eau2_schema *schema = NULL;
	int lock_fd = -1, rc;

	*out = NULL;
	if ((rc = check(db, a, b, err)))
		return rc;
	na = a->schema->n;
	nb = b->schema->n;
	ncols = na + nb;
	ngroups = a->ngroups;
	nsegs = (uint32_t)(a->nsegs + b->nsegs);
	sizes = malloc((nsegs + 1) * sizeof(*sizes));
	refs = malloc((ngroups * ncols + 1) * sizeof(*refs));
	if (!sizes || !refs) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = eau2_schema_copy(a->schema, &schema, err)))
		goto out;
	for (i = 0; i < nb; i++)
		if ((rc = eau2_schema_add(schema, b->schema->names[i],
					  b->schema->types[i], err)))
			goto out;
	for (k = 0; k < a->nsegs; k++)
		sizes[k] = a->segs[k].size;
	for (k = 0; k < b->nsegs; k++)
		sizes[a->nsegs + k] = b->segs[k].size;
	for (g = 0; g < ngroups; g++) {
		for (i = 0; i < na; i++)
			refs[g * ncols + i] = a->chunk_refs[g * na + i];
		for (i = 0; i < nb; i++) {
			struct eau2_chunk_ref r = b->chunk_refs[g * nb + i];

			r.seg += (uint32_t)a->nsegs;
			refs[g * ncols + na + i] = r;
		}
	}
	if ((rc = eau2_shm_id_create(db, &id, &lock_fd, err)))
		goto out;
	if ((rc = link_segs(db, a, id, 0, err)) ||
	    (rc = link_segs(db, b, id, (uint32_t)a->nsegs, err)) ||
	    (rc = eau2_desc_write(db->datafd, id, schema, nsegs, sizes, ngroups,
				  a->group_first, refs, err)))
		goto fail;
	/* Maps the links read-only, like any reader; takes over the lock. */
	rc = eau2_df_open_id(db, id, NULL, 0, lock_fd, out, err);
	if (rc)
		goto fail;
	lock_fd = -1;
	goto out;
fail:
	eau2_shm_id_remove(db->datafd, id);
	close(lock_fd);
out:
	eau2_schema_free(schema);
	free(sizes);
	free(refs);
	return rc;
}
