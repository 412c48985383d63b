/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cluster_dir.c - the decoder of directory entries
 * (eau2_dir_decode): their bytes come from ZooKeeper, where any client of
 * the ensemble may have written them. Beyond not crashing, checks what
 * the decoder promises: replicas index the node list, the partitions add
 * up to the entry, and decode(encode(e)) == e. The same bytes as a node's
 * store key (a node's list reply): a partition or broadcast copy name
 * that parses is the one its parts name again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct eau2_dir_entry *a, const struct eau2_dir_entry *b)
{
	if (strcmp(a->key, b->key) || a->put != b->put || a->rows != b->rows ||
	    a->bytes != b->bytes || a->created_ms != b->created_ms ||
	    a->nnodes != b->nnodes || a->nparts != b->nparts ||
	    eau2_schema_ncols(a->schema) != eau2_schema_ncols(b->schema))
		abort();
	for (size_t c = 0; c < eau2_schema_ncols(a->schema); c++)
		if (strcmp(eau2_schema_name(a->schema, c), eau2_schema_name(b->schema, c)) ||
		    eau2_schema_type(a->schema, c) != eau2_schema_type(b->schema, c))
			abort();
	if (a->nnodes && memcmp(a->nodes, b->nodes, a->nnodes * sizeof(*a->nodes)))
		abort();
	if (a->nparts && memcmp(a->parts, b->parts, a->nparts * sizeof(*a->parts)))
		abort();
}

/* data as a key name: what parses names itself again. */
static void names(const uint8_t *data, size_t size)
{
	char name[EAU2_DIR_PART_NAME_MAX + 8], again[EAU2_DIR_PART_NAME_MAX];
	uint64_t put;
	size_t index;

	if (size >= sizeof(name))
		return;
	memcpy(name, data, size);
	name[size] = 0;
	if (eau2_dir_part_parse(name, &put, &index) == 0) {
		eau2_dir_part_name(put, index, again);
		if (strcmp(name, again) || eau2_dir_bcast_parse(name, NULL, NULL) == 0)
			abort();
	}
	if (eau2_dir_bcast_parse(name, &put, &index) == 0) {
		eau2_dir_bcast_name(put, index, again);
		if (strcmp(name, again))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_dir_entry e, again;
	struct eau2_error err;
	uint64_t rows = 0;
	char *buf;
	size_t len;

	names(data, size);
	if (eau2_dir_decode("/eau2/fuzz/keys/k", data, size, &e, &err) != 0)
		return 0;
	for (size_t i = 0; i < e.nparts; i++) {
		if (e.parts[i].nrep == 0 || e.parts[i].nrep > EAU2_DIR_REPLICAS_MAX)
			abort();
		for (uint32_t j = 0; j < e.parts[i].nrep; j++)
			if (e.parts[i].rep[j] >= e.nnodes)
				abort();
		rows += e.parts[i].rows;
	}
	if (rows != e.rows || !e.schema || e.put == 0)
		abort();
	if (eau2_dir_encode(&e, &buf, &len, &err) != 0)
		abort();
	if (eau2_dir_decode("/eau2/fuzz/keys/k", buf, len, &again, &err) != 0)
		abort();
	same(&e, &again);
	free(buf);
	eau2_dir_entry_free(&again);
	eau2_dir_entry_free(&e);
	return 0;
}
