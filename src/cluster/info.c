/* SPDX-License-Identifier: MIT */
/*
 * info.c - what the directory says without touching a node (cluster.h):
 * a key's schema, rows, bytes and row groups (eau2_cluster_stat), and the
 * cluster's nodes with the partitions and bytes the directory places on
 * each (eau2_cluster_status). Reads ZooKeeper only; each read is bounded
 * by the handle's timeout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"

int eau2_cluster_stat(eau2_cluster *cl, const char *key, struct eau2_stat *st,
		      struct eau2_error *err)
{
	struct eau2_dir_entry e;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = eau2_dir_read(eau2_cluster_zk(cl), key, &e, NULL, NULL, err)))
		return rc;
	st->rows = e.rows;
	st->bytes = e.bytes;
	for (size_t i = 0; i < e.nparts; i++)
		st->ngroups += e.parts[i].groups;
	st->schema = e.schema;
	e.schema = NULL;
	eau2_dir_entry_free(&e);
	return 0;
}

/* Adds entry e's replicas to the nodes they are on. */
static void tally(struct eau2_cluster_status *s, const struct eau2_dir_entry *e)
{
	for (size_t i = 0; i < e->nparts; i++)
		for (uint32_t j = 0; j < e->parts[i].nrep; j++) {
			const char *id = eau2_dir_replica(e, i, j);

			for (size_t k = 0; k < s->n; k++)
				if (!strcmp(s->nodes[k].m.id, id)) {
					s->nodes[k].parts++;
					s->nodes[k].bytes += e->parts[i].bytes;
				}
		}
}

int eau2_cluster_status(eau2_cluster *cl, struct eau2_cluster_status *s,
			struct eau2_error *err)
{
	struct eau2_members m = {0};
	char **keys = NULL;
	size_t nk = 0;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = eau2_members_list(eau2_cluster_zk(cl), &m, err)))
		return rc;
	if (m.n && !(s->nodes = calloc(m.n, sizeof(*s->nodes)))) {
		eau2_members_free(&m);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m.n; i++)
		s->nodes[i].m = m.v[i];
	s->n = m.n;
	s->bad = m.bad;
	eau2_members_free(&m);
	if ((rc = eau2_dir_list(eau2_cluster_zk(cl), &keys, &nk, err)))
		goto fail;
	s->keys = nk;
	for (size_t i = 0; i < nk; i++) {
		struct eau2_dir_entry e;
		int r = eau2_dir_read(eau2_cluster_zk(cl), keys[i], &e, NULL, NULL, err);

		if (r == -ENOENT) /* deleted meanwhile */
			continue;
		if (r) {
			rc = r;
			goto fail;
		}
		tally(s, &e);
		eau2_dir_entry_free(&e);
	}
	eau2_list_free(keys);
	return 0;
fail:
	eau2_list_free(keys);
	eau2_cluster_status_free(s);
	return rc;
}

void eau2_cluster_status_free(struct eau2_cluster_status *s)
{
	free(s->nodes);
	memset(s, 0, sizeof(*s));
}
