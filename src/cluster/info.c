/* SPDX-License-Identifier: MIT */
/*
 * info.c - a key or the cluster described from the directory alone
 * (cluster.h): a key's schema, rows, bytes and row groups
 * (eau2_cluster_stat) and the nodes with the partitions and bytes the
 * directory places on each (eau2_cluster_status), each ZooKeeper read
 * bounded by the handle's timeout; and a key's head (eau2_cluster_get_head):
 * its first partitions only, fetched one after the other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/dir.h"
#include "cluster/repair.h"

static eau2_zk *zk_of(eau2_cluster *cl)
{
	const struct eau2_cluster_node_ops *ops;
	void *ctx;

	return eau2_cluster_zk(cl, &ops, &ctx);
}

int eau2_cluster_stat(eau2_cluster *cl, const char *key, struct eau2_stat *st,
		      struct eau2_error *err)
{
	struct eau2_dir_entry e;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = eau2_dir_read(zk_of(cl), key, &e, NULL, NULL, err)))
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

/* Fetches partition i of e from the first live replica that has it. */
static int fetch_part(eau2_cluster *cl, const struct eau2_dir_entry *e, size_t i,
		      const struct eau2_members *m, eau2 *db, eau2_df **df,
		      struct eau2_error *err)
{
	const struct eau2_cluster_node_ops *ops;
	char name[EAU2_DIR_PART_NAME_MAX];
	void *ctx;
	int rc = 0;

	eau2_cluster_zk(cl, &ops, &ctx);
	eau2_dir_part_name(e->put, i, name);
	for (uint32_t j = 0; j < e->parts[i].nrep; j++)
		for (size_t k = 0; k < m->n; k++)
			if (!strcmp(m->v[k].id, eau2_dir_replica(e, i, j)) &&
			    !(rc = ops->fetch(ctx, &m->v[k], name, db, df, err)))
				return 0;
	if (!rc)
		return eau2_error_set(err, -EHOSTUNREACH, "'%s' partition %zu (%s): no live "
				      "replica", e->key, i, name);
	return eau2_error_prefix(err, rc, "'%s' partition %zu (%s)", e->key, i, name);
}

int eau2_cluster_get_head(eau2_cluster *cl, eau2 *db, const char *key, uint64_t rows,
			  eau2_df **df, struct eau2_error *err)
{
	struct eau2_members m = {0};
	struct eau2_dir_entry e;
	eau2_df **parts = NULL;
	uint64_t have = 0;
	size_t k = 0;
	int rc;

	*df = NULL;
	if ((rc = eau2_dir_read(zk_of(cl), key, &e, NULL, NULL, err)))
		return rc;
	while (k < e.nparts && (have < rows || k == 0))
		have += e.parts[k++].rows;
	if (k && !(parts = calloc(k, sizeof(*parts))))
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
	else if (k)
		rc = eau2_members_list(zk_of(cl), &m, err);
	for (size_t i = 0; i < k && !rc; i++)
		rc = fetch_part(cl, &e, i, &m, db, &parts[i], err);
	if (!rc)
		rc = eau2_cluster_concat(db, e.schema, parts, k, df, err);
	for (size_t i = 0; parts && i < k; i++)
		eau2_df_release(parts[i]);
	free(parts);
	eau2_members_free(&m);
	eau2_dir_entry_free(&e);
	return rc;
}

/* Adds entry e's replicas to the nodes they are on (a node that is no
 * member gets a row of its own, member false), and its partitions with
 * fewer live replicas than it names to the under-replicated. */
static int tally(struct eau2_cluster_status *s, size_t *cap, const struct eau2_dir_entry *e,
		 struct eau2_error *err)
{
	s->partitions += e->nparts;
	for (size_t i = 0; i < e->nparts; i++) {
		uint32_t live = 0;

		for (uint32_t j = 0; j < e->parts[i].nrep; j++) {
			const char *id = eau2_dir_replica(e, i, j);
			size_t k;

			for (k = 0; k < s->n; k++)
				if (!strcmp(s->nodes[k].m.id, id))
					break;
			if (k == s->n) {
				if (s->n == *cap) {
					size_t nc = *cap ? 2 * *cap : 8;
					void *p = realloc(s->nodes, nc * sizeof(*s->nodes));

					if (!p)
						return eau2_error_set(err, -ENOMEM, "out of memory");
					s->nodes = p;
					*cap = nc;
				}
				memset(&s->nodes[k], 0, sizeof(s->nodes[k]));
				snprintf(s->nodes[k].m.id, sizeof(s->nodes[k].m.id), "%s", id);
				s->n++;
			}
			s->nodes[k].parts++;
			s->nodes[k].bytes += e->parts[i].bytes;
			live += s->nodes[k].member;
		}
		if (live == e->parts[i].nrep && e->parts[i].state == EAU2_PART_OK)
			continue;
		s->under++;
		s->lost += live == 0;
		if (s->nunder == EAU2_CLUSTER_UNDER_MAX)
			continue;
		if (!s->under_parts && !(s->under_parts = calloc(EAU2_CLUSTER_UNDER_MAX,
								 sizeof(*s->under_parts))))
			return eau2_error_set(err, -ENOMEM, "out of memory");
		s->under_parts[s->nunder++] = (struct eau2_cluster_part_status){
			.part = i, .live = live, .replicas = e->parts[i].nrep,
		};
		snprintf(s->under_parts[s->nunder - 1].key, sizeof(s->under_parts->key), "%s",
			 e->key);
	}
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct eau2_cluster_node_status *)a)->m.id,
		      ((const struct eau2_cluster_node_status *)b)->m.id);
}

int eau2_cluster_status(eau2_cluster *cl, struct eau2_cluster_status *s,
			struct eau2_error *err)
{
	struct eau2_members m = {0};
	char **keys = NULL;
	size_t nk = 0, cap;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = eau2_members_list(zk_of(cl), &m, err)))
		return rc;
	if (m.n && !(s->nodes = calloc(m.n, sizeof(*s->nodes)))) {
		eau2_members_free(&m);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < m.n; i++) {
		s->nodes[i].m = m.v[i];
		s->nodes[i].member = true;
	}
	s->n = cap = m.n;
	s->bad = m.bad;
	eau2_members_free(&m);
	if ((rc = eau2_dir_list(zk_of(cl), &keys, &nk, err)))
		goto fail;
	s->keys = nk;
	for (size_t i = 0; i < nk; i++) {
		struct eau2_dir_entry e;
		int r = eau2_dir_read(zk_of(cl), keys[i], &e, NULL, NULL, err);

		if (r == -ENOENT) /* deleted meanwhile */
			continue;
		if (r) {
			rc = r;
			goto fail;
		}
		rc = tally(s, &cap, &e, err);
		eau2_dir_entry_free(&e);
		if (rc)
			goto fail;
	}
	eau2_list_free(keys);
	if (s->n)
		qsort(s->nodes, s->n, sizeof(*s->nodes), cmp_node);
	/* The leader's progress; a malformed one is left out. */
	s->has_repair = eau2_repair_status_read(zk_of(cl), &s->repair, NULL) == 0;
	return 0;
fail:
	eau2_list_free(keys);
	eau2_cluster_status_free(s);
	return rc;
}

void eau2_cluster_status_free(struct eau2_cluster_status *s)
{
	free(s->nodes);
	free(s->under_parts);
	memset(s, 0, sizeof(*s));
}
