/* SPDX-License-Identifier: MIT */
/*
 * dir.c - the directory of distributed keys on ZooKeeper (see dir.h):
 * entry payloads (JSON), leases of puts in progress, the publishing
 * multi-op, and the rule that says which partitions are garbage.
 *
 * No state of its own: every function works on the zk handle it is given
 * (thread-safe, zk.h), so these may be called from any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>

#include "cluster/dir.h"
#include "shm/shm.h"

#define KEYS "keys"
#define LEASES "leases"
#define PART_PREFIX "eau2.part."
#define BCAST_PREFIX "eau2.bcast."

static const char *const state_names[] = {
	[EAU2_PART_OK] = "ok", [EAU2_PART_DEGRADED] = "degraded",
	[EAU2_PART_LOST] = "lost",
};

static int64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void eau2_dir_entry_free(struct eau2_dir_entry *e)
{
	if (!e)
		return;
	eau2_schema_free(e->schema);
	free(e->nodes);
	free(e->parts);
	memset(e, 0, sizeof(*e));
}

/* ----------------------------------------------------------- names */

void eau2_dir_part_name(uint64_t put, size_t index, char out[EAU2_DIR_PART_NAME_MAX])
{
	snprintf(out, EAU2_DIR_PART_NAME_MAX, PART_PREFIX "%016" PRIx64 ".%zu", put, index);
}

static int parse_hex16(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -EINVAL;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

void eau2_dir_bcast_name(uint64_t run, size_t index, char out[EAU2_DIR_PART_NAME_MAX])
{
	snprintf(out, EAU2_DIR_PART_NAME_MAX, BCAST_PREFIX "%016" PRIx64 ".%zu", run, index);
}

/* "<prefix><16 hex>.<index>", index < EAU2_DIR_PARTS_MAX without leading
 * zeros. */
static int name_parse(const char *name, const char *prefix, uint64_t *put, size_t *index)
{
	size_t plen = strlen(prefix), idx = 0;
	const char *p;
	uint64_t v;

	if (strncmp(name, prefix, plen) || strnlen(name + plen, 17) < 17 ||
	    parse_hex16(name + plen, &v) || name[plen + 16] != '.')
		return -EINVAL;
	p = name + plen + 17;
	if (!*p || strlen(p) > 5 || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		idx = idx * 10 + (size_t)(*p - '0');
	}
	if (idx >= EAU2_DIR_PARTS_MAX)
		return -EINVAL;
	if (put)
		*put = v;
	if (index)
		*index = idx;
	return 0;
}

int eau2_dir_part_parse(const char *name, uint64_t *put, size_t *index)
{
	return name_parse(name, PART_PREFIX, put, index);
}

int eau2_dir_bcast_parse(const char *name, uint64_t *run, size_t *index)
{
	return name_parse(name, BCAST_PREFIX, run, index);
}

int eau2_dir_key_path(const char *key, char *out, struct eau2_error *err)
{
	char enc[256];
	int rc;

	if ((rc = eau2_shm_key_encode(key, enc, err)))
		return rc;
	snprintf(out, EAU2_ZK_PATH_MAX, KEYS "/%s", enc);
	return 0;
}

/* The key a keys/ child names, or -EINVAL (not one of ours). */
static int key_decode(const char *name, char *out)
{
	size_t o = 0;

	for (const char *p = name; *p; p++) {
		unsigned v;

		if (o >= EAU2_KEY_MAX)
			return -EINVAL;
		if (*p != '%') {
			out[o++] = *p;
			continue;
		}
		if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
			return -EINVAL;
		v = (unsigned)strtoul((char[3]){p[1], p[2], 0}, NULL, 16);
		if (v < 0x20 || v > 0x7e)
			return -EINVAL;
		out[o++] = (char)v;
		p += 2;
	}
	out[o] = 0;
	return o ? 0 : -EINVAL;
}

/* ----------------------------------------------------------- payload */

int eau2_dir_encode(const struct eau2_dir_entry *e, char **buf, size_t *len,
		    struct eau2_error *err)
{
	json_t *o = NULL, *schema, *nodes, *parts;
	char put[17];
	int rc = -ENOMEM;

	*buf = NULL;
	if (e->rows > INT64_MAX || e->bytes > INT64_MAX)
		return eau2_error_set(err, -ERANGE, "key '%s': count over 2^63", e->key);
	snprintf(put, sizeof(put), "%016" PRIx64, e->put);
	schema = json_array();
	nodes = json_array();
	parts = json_array();
	o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}",
		      "v", EAU2_DIR_FORMAT, "key", e->key, "put", put,
		      "created", (json_int_t)e->created_ms, "rows", (json_int_t)e->rows,
		      "bytes", (json_int_t)e->bytes, "schema", schema, "nodes", nodes,
		      "parts", parts);
	if (!o)
		goto out;
	for (size_t c = 0; e->schema && c < eau2_schema_ncols(e->schema); c++)
		if (json_array_append_new(schema, json_pack("[s, s]",
				eau2_schema_name(e->schema, c),
				eau2_type_name(eau2_schema_type(e->schema, c)))))
			goto out;
	for (size_t i = 0; i < e->nnodes; i++)
		if (json_array_append_new(nodes, json_string(e->nodes[i])))
			goto out;
	for (size_t i = 0; i < e->nparts; i++) {
		const struct eau2_dir_part *p = &e->parts[i];
		json_t *rep = json_array(), *po;

		for (uint32_t j = 0; rep && j < p->nrep; j++)
			if (json_array_append_new(rep, json_integer(p->rep[j])))
				break;
		po = json_pack("{s:I, s:I, s:I, s:o, s:s}", "rows", (json_int_t)p->rows,
			       "bytes", (json_int_t)p->bytes, "groups", (json_int_t)p->groups,
			       "replicas", rep, "state", state_names[p->state]);
		if (!po || json_array_append_new(parts, po))
			goto out;
	}
	*buf = json_dumps(o, JSON_COMPACT);
	if (!*buf)
		goto out;
	*len = strlen(*buf);
	if (*len > EAU2_DIR_JSON_MAX) {
		free(*buf);
		*buf = NULL;
		rc = eau2_error_set(err, -EMSGSIZE, "key '%s': its directory entry is %zu bytes, "
				    "over %u (fewer partitions or columns)", e->key, *len,
				    EAU2_DIR_JSON_MAX);
		goto out2;
	}
	rc = 0;
out:
	if (rc)
		eau2_error_set(err, rc, "key '%s': cannot encode its directory entry", e->key);
out2:
	json_decref(o);
	return rc;
}

/* An integer of o (or of an array element when key is NULL: v). */
static int int_in(const json_t *v, const char *what, long long min, long long max,
		  long long *out, const char *path, struct eau2_error *err)
{
	long long x;

	if (!v)
		return eau2_error_set(err, -EBADMSG, "znode %s: no \"%s\"", path, what);
	if (!json_is_integer(v))
		return eau2_error_set(err, -EBADMSG, "znode %s: \"%s\" is not an integer",
				      path, what);
	x = json_integer_value(v);
	if (x < min || x > max)
		return eau2_error_set(err, -EBADMSG, "znode %s: \"%s\" is %lld, out of %lld-%lld",
				      path, what, x, min, max);
	*out = x;
	return 0;
}

static const char *str_of(const json_t *v, size_t max)
{
	if (!v || !json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

/* a, an array of at most max elements: *out gets a zeroed array of as
 * many of size bytes (NULL when empty). */
static int array_of(const json_t *a, const char *what, size_t max, size_t size,
		    void **out, size_t *n, const char *path, struct eau2_error *err)
{
	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) > max)
		return eau2_error_set(err, -EBADMSG, "znode %s: \"%s\" is not an array of "
				      "at most %zu", path, what, max);
	if (json_array_size(a) && !(*out = calloc(json_array_size(a), size)))
		return eau2_error_set(err, -ENOMEM, "znode %s: out of memory", path);
	*n = json_array_size(a);
	return 0;
}

static int decode_schema(const json_t *a, const char *path, eau2_schema **out,
			 struct eau2_error *err)
{
	struct eau2_error e2 = {0};
	eau2_schema *s = NULL;
	size_t i;
	json_t *col;
	int rc;

	if (!json_is_array(a) || json_array_size(a) > EAU2_COLS_MAX)
		return eau2_error_set(err, -EBADMSG, "znode %s: \"schema\" is not an array "
				      "of at most %d columns", path, EAU2_COLS_MAX);
	if ((rc = eau2_schema_new(&s, err)))
		return rc;
	json_array_foreach(a, i, col) {
		const char *name, *tname;
		enum eau2_type t;

		if (!json_is_array(col) || json_array_size(col) != 2 ||
		    !(name = str_of(json_array_get(col, 0), EAU2_NAME_MAX)) ||
		    !(tname = str_of(json_array_get(col, 1), 16)) ||
		    eau2_type_parse(tname, &t) || eau2_schema_add(s, name, t, &e2)) {
			eau2_schema_free(s);
			return eau2_error_set(err, -EBADMSG, "znode %s: schema column %zu is "
					      "not a valid [name, type]%s%s", path, i,
					      e2.msg[0] ? ": " : "", e2.msg);
		}
	}
	*out = s;
	return 0;
}

static int decode_part(const json_t *po, size_t i, size_t nnodes,
		       struct eau2_dir_part *p, const char *path, struct eau2_error *err)
{
	const json_t *rep;
	const char *st;
	long long v;
	char what[64];
	size_t j;
	json_t *x;
	int rc;

	if (!json_is_object(po))
		return eau2_error_set(err, -EBADMSG, "znode %s: partition %zu is not an object",
				      path, i);
	snprintf(what, sizeof(what), "parts[%zu].rows", i);
	if ((rc = int_in(json_object_get(po, "rows"), what, 0, INT64_MAX, &v, path, err)))
		return rc;
	p->rows = (uint64_t)v;
	snprintf(what, sizeof(what), "parts[%zu].bytes", i);
	if ((rc = int_in(json_object_get(po, "bytes"), what, 0, INT64_MAX, &v, path, err)))
		return rc;
	p->bytes = (uint64_t)v;
	snprintf(what, sizeof(what), "parts[%zu].groups", i);
	if ((rc = int_in(json_object_get(po, "groups"), what, 0, UINT32_MAX, &v, path, err)))
		return rc;
	p->groups = (uint32_t)v;
	rep = json_object_get(po, "replicas");
	if (!json_is_array(rep) || json_array_size(rep) < 1 ||
	    json_array_size(rep) > EAU2_DIR_REPLICAS_MAX)
		return eau2_error_set(err, -EBADMSG, "znode %s: partition %zu: \"replicas\" is "
				      "not an array of 1-%d", path, i, EAU2_DIR_REPLICAS_MAX);
	json_array_foreach(rep, j, x) {
		snprintf(what, sizeof(what), "parts[%zu].replicas[%zu]", i, j);
		if ((rc = int_in(x, what, 0, (long long)nnodes - 1, &v, path, err)))
			return rc;
		for (size_t k = 0; k < j; k++)
			if (p->rep[k] == (uint32_t)v)
				return eau2_error_set(err, -EBADMSG, "znode %s: partition %zu "
						      "names node %lld twice", path, i, v);
		p->rep[j] = (uint32_t)v;
	}
	p->nrep = (uint32_t)json_array_size(rep);
	st = str_of(json_object_get(po, "state"), 16);
	for (j = 0; st && j < sizeof(state_names) / sizeof(*state_names); j++)
		if (!strcmp(st, state_names[j]))
			break;
	if (!st || j == sizeof(state_names) / sizeof(*state_names))
		return eau2_error_set(err, -EBADMSG, "znode %s: partition %zu: bad \"state\"",
				      path, i);
	p->state = (enum eau2_dir_part_state)j;
	return 0;
}

int eau2_dir_decode(const char *path, const void *data, size_t len,
		    struct eau2_dir_entry *e, struct eau2_error *err)
{
	uint64_t rows = 0, bytes = 0;
	const json_t *nodes, *parts;
	const char *s;
	json_error_t je;
	json_t *o, *x;
	long long v;
	size_t i;
	int rc = -EBADMSG;

	memset(e, 0, sizeof(*e));
	if (len > EAU2_DIR_JSON_MAX)
		return eau2_error_set(err, -EBADMSG, "znode %s: %zu bytes, over %u",
				      path, len, EAU2_DIR_JSON_MAX);
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return eau2_error_set(err, -EBADMSG, "znode %s: not JSON: %s (byte %d)",
				      path, je.text, je.position);
	if (!json_is_object(o)) {
		eau2_error_set(err, rc, "znode %s: not a JSON object", path);
		goto fail;
	}
	if ((rc = int_in(json_object_get(o, "v"), "v", 0, INT32_MAX, &v, path, err)))
		goto fail;
	if (v != EAU2_DIR_FORMAT) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: format %lld, this build reads %d",
				    path, v, EAU2_DIR_FORMAT);
		goto fail;
	}
	rc = -EBADMSG;
	if (!(s = str_of(json_object_get(o, "key"), EAU2_KEY_MAX)) || !*s) {
		eau2_error_set(err, rc, "znode %s: \"key\" is not a key", path);
		goto fail;
	}
	strcpy(e->key, s);
	if (!(s = str_of(json_object_get(o, "put"), 16)) || strlen(s) != 16 ||
	    parse_hex16(s, &e->put) || e->put == 0) {
		eau2_error_set(err, rc, "znode %s: \"put\" is not 16 hex digits", path);
		goto fail;
	}
	if ((rc = int_in(json_object_get(o, "created"), "created", 0, INT64_MAX, &v, path, err)))
		goto fail;
	e->created_ms = v;
	if ((rc = int_in(json_object_get(o, "rows"), "rows", 0, INT64_MAX, &v, path, err)))
		goto fail;
	e->rows = (uint64_t)v;
	if ((rc = int_in(json_object_get(o, "bytes"), "bytes", 0, INT64_MAX, &v, path, err)))
		goto fail;
	e->bytes = (uint64_t)v;
	if ((rc = decode_schema(json_object_get(o, "schema"), path, &e->schema, err)))
		goto fail;
	rc = -EBADMSG;
	nodes = json_object_get(o, "nodes");
	if ((rc = array_of(nodes, "nodes", EAU2_DIR_NODES_MAX, sizeof(*e->nodes),
			   (void **)&e->nodes, &e->nnodes, path, err)))
		goto fail;
	rc = -EBADMSG;
	json_array_foreach(nodes, i, x) {
		if (!(s = str_of(x, EAU2_MEMBER_ID_MAX)) ||
		    eau2_zk_check_name(s, EAU2_MEMBER_ID_MAX, "node id", NULL)) {
			eau2_error_set(err, rc, "znode %s: nodes[%zu] is not a node id", path, i);
			goto fail;
		}
		for (size_t k = 0; k < i; k++)
			if (!strcmp(e->nodes[k], s)) {
				eau2_error_set(err, rc, "znode %s: node '%s' listed twice", path, s);
				goto fail;
			}
		strcpy(e->nodes[i], s);
	}
	parts = json_object_get(o, "parts");
	if ((rc = array_of(parts, "parts", EAU2_DIR_PARTS_MAX, sizeof(*e->parts),
			   (void **)&e->parts, &e->nparts, path, err)))
		goto fail;
	json_array_foreach(parts, i, x) {
		if ((rc = decode_part(x, i, e->nnodes, &e->parts[i], path, err)))
			goto fail;
		if (rows + e->parts[i].rows < rows || bytes + e->parts[i].bytes < bytes)
			break;
		rows += e->parts[i].rows;
		bytes += e->parts[i].bytes;
	}
	rc = -EBADMSG;
	if (rows != e->rows || bytes != e->bytes) {
		eau2_error_set(err, rc, "znode %s: the partitions hold %" PRIu64 " rows and %"
			       PRIu64 " bytes, the entry says %" PRIu64 " and %" PRIu64,
			       path, rows, bytes, e->rows, e->bytes);
		goto fail;
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	eau2_dir_entry_free(e);
	return rc;
}

/* ----------------------------------------------------------- puts */

int eau2_dir_init(eau2_zk *zk, struct eau2_error *err)
{
	int rc = eau2_zk_mkdirs(zk, KEYS, err);

	return rc ? rc : eau2_zk_mkdirs(zk, LEASES, err);
}

int eau2_dir_lease(eau2_zk *zk, const char *key, uint64_t *put, struct eau2_error *err)
{
	char path[64], *data;
	json_t *o;
	int rc;

	do {
		if (getrandom(put, sizeof(*put), 0) != sizeof(*put))
			return eau2_error_set(err, -EIO, "key '%s': no random put id", key);
	} while (*put == 0);
	snprintf(path, sizeof(path), LEASES "/%016" PRIx64, *put);
	o = json_pack("{s:i, s:s, s:I}", "v", 1, "key", key, "started", (json_int_t)wall_ms());
	data = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!data)
		return eau2_error_set(err, -ENOMEM, "key '%s': out of memory", key);
	rc = eau2_zk_create(zk, path, data, strlen(data), EAU2_ZK_EPHEMERAL | EAU2_ZK_PARENTS,
			    NULL, 0, err);
	free(data);
	if (rc)
		eau2_error_prefix(err, rc, "key '%s': cannot take a put lease", key);
	return rc;
}

int eau2_dir_unlease(eau2_zk *zk, uint64_t put, struct eau2_error *err)
{
	char path[64];
	int rc;

	snprintf(path, sizeof(path), LEASES "/%016" PRIx64, put);
	rc = eau2_zk_delete(zk, path, -1, err);
	return rc == -ENOENT ? 0 : rc;
}

/* Reads the entry at path (relative) with its stat; -ENOENT when none. */
static int read_at(eau2_zk *zk, const char *path, struct eau2_dir_entry *e,
		   struct eau2_zk_stat *st, eau2_zk_watch *watch, struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX + 64];
	void *data = NULL;
	size_t len;
	int rc;

	memset(e, 0, sizeof(*e));
	rc = eau2_zk_get(zk, path, &data, &len, st, watch, err);
	if (rc)
		return rc;
	snprintf(full, sizeof(full), "%s/%s", eau2_zk_root(zk), path);
	rc = eau2_dir_decode(full, data, len, e, err);
	free(data);
	return rc;
}

int eau2_dir_publish(eau2_zk *zk, const struct eau2_dir_entry *e,
		     struct eau2_dir_entry *old, struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX], lease[64], *buf = NULL;
	struct timespec end = eau2_zk_deadline(eau2_zk_session_ms(zk) * 2);
	struct eau2_dir_entry prev;
	size_t len;
	int rc;

	if (old)
		memset(old, 0, sizeof(*old));
	if ((rc = eau2_dir_key_path(e->key, path, err)) ||
	    (rc = eau2_dir_encode(e, &buf, &len, err)))
		return rc;
	snprintf(lease, sizeof(lease), LEASES "/%016" PRIx64, e->put);
	for (;;) {
		struct eau2_zk_stat st = {0};
		struct eau2_zk_op ops[2];
		bool exists;

		rc = read_at(zk, path, &prev, &st, NULL, err);
		/* A replaced entry that does not decode is replaced all the
		 * same (its partitions stay as garbage): st is valid. */
		if (rc && rc != -ENOENT && rc != -EBADMSG)
			break;
		exists = rc != -ENOENT;
		memset(ops, 0, sizeof(ops));
		ops[0] = (struct eau2_zk_op){
			.type = exists ? EAU2_ZK_OP_SET : EAU2_ZK_OP_CREATE,
			.path = path, .data = buf, .len = len,
			.version = exists ? st.version : -1,
		};
		ops[1] = (struct eau2_zk_op){ .type = EAU2_ZK_OP_DELETE, .path = lease,
					      .version = -1 };
		rc = eau2_zk_multi(zk, ops, 2, err);
		if (rc == 0) {
			if (old)
				*old = prev;
			else
				eau2_dir_entry_free(&prev);
			break;
		}
		eau2_dir_entry_free(&prev);
		if (ops[1].result == -ENOENT) {
			rc = eau2_error_set(err, -ENOTCONN, "key '%s': put lease %016" PRIx64
					    " lost (session ended?): nothing published",
					    e->key, e->put);
			break;
		}
		/* Another driver got there first: read again and retry. */
		if ((rc != -ESTALE && rc != -EEXIST && rc != -ENOENT) ||
		    eau2_zk_ms_left(&end) == 0)
			break;
	}
	free(buf);
	return rc;
}

int eau2_dir_update(eau2_zk *zk, const struct eau2_dir_entry *e, int32_t version,
		    struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX], *buf = NULL;
	size_t len;
	int rc;

	if ((rc = eau2_dir_key_path(e->key, path, err)) ||
	    (rc = eau2_dir_encode(e, &buf, &len, err)))
		return rc;
	rc = eau2_zk_set(zk, path, buf, len, version, NULL, err);
	free(buf);
	return rc;
}

int eau2_dir_set_replica(struct eau2_dir_entry *e, size_t i, size_t j, const char *id,
			 struct eau2_error *err)
{
	struct eau2_dir_part *p = &e->parts[i];
	size_t k, used = 0;
	uint32_t *map;

	for (k = 0; k < p->nrep; k++)
		if (k != j && !strcmp(eau2_dir_replica(e, i, k), id))
			return eau2_error_set(err, -EINVAL, "key '%s': node %s already holds "
					      "partition %zu", e->key, id, i);
	for (k = 0; k < e->nnodes && strcmp(e->nodes[k], id); k++)
		;
	if (k == e->nnodes) {
		void *v = realloc(e->nodes, (e->nnodes + 1) * sizeof(*e->nodes));

		if (!v)
			return eau2_error_set(err, -ENOMEM, "key '%s': out of memory", e->key);
		e->nodes = v;
		snprintf(e->nodes[e->nnodes++], sizeof(*e->nodes), "%s", id);
	}
	p->rep[j] = (uint32_t)k;
	/* Compacts the nodes: the ones still named, in their order. */
	if (!(map = calloc(e->nnodes, sizeof(*map))))
		return eau2_error_set(err, -ENOMEM, "key '%s': out of memory", e->key);
	for (size_t q = 0; q < e->nparts; q++)
		for (uint32_t r = 0; r < e->parts[q].nrep; r++)
			map[e->parts[q].rep[r]] = 1;
	for (k = 0; k < e->nnodes; k++) {
		if (!map[k])
			continue;
		if (used != k)
			memcpy(e->nodes[used], e->nodes[k], sizeof(*e->nodes));
		map[k] = (uint32_t)used++;
	}
	e->nnodes = used;
	for (size_t q = 0; q < e->nparts; q++)
		for (uint32_t r = 0; r < e->parts[q].nrep; r++)
			e->parts[q].rep[r] = map[e->parts[q].rep[r]];
	free(map);
	return 0;
}

/* ----------------------------------------------------------- reading */

int eau2_dir_read(eau2_zk *zk, const char *key, struct eau2_dir_entry *e,
		  struct eau2_zk_stat *stat, eau2_zk_watch *watch,
		  struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX];
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = eau2_dir_key_path(key, path, err)))
		return rc;
	rc = read_at(zk, path, e, stat, watch, err);
	if (rc == -ENOENT)
		eau2_error_set(err, rc, "no key '%s' in cluster %s", key, eau2_zk_root(zk));
	return rc;
}

int eau2_dir_remove(eau2_zk *zk, const char *key, struct eau2_dir_entry *old,
		    struct eau2_error *err)
{
	struct timespec end = eau2_zk_deadline(eau2_zk_session_ms(zk) * 2);
	char path[EAU2_ZK_PATH_MAX];
	struct eau2_dir_entry prev;
	int rc;

	if (old)
		memset(old, 0, sizeof(*old));
	if ((rc = eau2_dir_key_path(key, path, err)))
		return rc;
	for (;;) {
		struct eau2_zk_stat st = {0};

		rc = read_at(zk, path, &prev, &st, NULL, err);
		if (rc == -ENOENT) {
			eau2_error_set(err, rc, "no key '%s' in cluster %s", key, eau2_zk_root(zk));
			break;
		}
		if (rc && rc != -EBADMSG)
			break;
		rc = eau2_zk_delete(zk, path, st.version, err);
		if (rc == 0) {
			if (old)
				*old = prev;
			else
				eau2_dir_entry_free(&prev);
			break;
		}
		eau2_dir_entry_free(&prev);
		if ((rc != -ESTALE && rc != -ENOENT) || eau2_zk_ms_left(&end) == 0)
			break;
	}
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int eau2_dir_list(eau2_zk *zk, char ***keys, size_t *n, struct eau2_error *err)
{
	struct eau2_zk_names kids = {0};
	char **out;
	size_t k = 0;
	int rc;

	*keys = NULL;
	*n = 0;
	rc = eau2_zk_children(zk, KEYS, &kids, NULL, NULL, err);
	if (rc && rc != -ENOENT)
		return rc;
	if (!(out = calloc(kids.n + 1, sizeof(*out)))) {
		eau2_zk_names_free(&kids);
		return eau2_error_set(err, -ENOMEM, "list: out of memory");
	}
	for (size_t i = 0; i < kids.n; i++) {
		char key[EAU2_KEY_MAX + 1];

		if (key_decode(kids.names[i], key))
			continue;
		if (!(out[k] = strdup(key))) {
			eau2_zk_names_free(&kids);
			eau2_list_free(out);
			return eau2_error_set(err, -ENOMEM, "list: out of memory");
		}
		k++;
	}
	eau2_zk_names_free(&kids);
	qsort(out, k, sizeof(*out), cmp_str);
	*keys = out;
	*n = k;
	return 0;
}

int eau2_dir_wait(eau2_zk *zk, const char *key, int timeout_ms, struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX];
	struct eau2_zk_stat seen = {0}, now;
	int rc;

	if ((rc = eau2_dir_key_path(key, path, err)))
		return rc;
	rc = eau2_zk_exists(zk, path, NULL, NULL, err);
	if (rc != -ENOENT)
		return rc;
	rc = eau2_zk_wait_change(zk, path, &seen, timeout_ms, &now, err);
	if (rc == -ETIMEDOUT)
		eau2_error_set(err, rc, "key '%s' did not appear in cluster %s within %d ms",
			       key, eau2_zk_root(zk), timeout_ms);
	return rc;
}

/* ----------------------------------------------------------- garbage */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void eau2_dir_live_free(struct eau2_dir_live *live)
{
	if (!live)
		return;
	free(live->puts);
	memset(live, 0, sizeof(*live));
}

/* Appends the put ids of lease names to puts (room for names->n). */
static size_t lease_puts(const struct eau2_zk_names *names, uint64_t *puts)
{
	size_t n = 0;

	for (size_t i = 0; i < names->n; i++)
		if (strlen(names->names[i]) == 16 && parse_hex16(names->names[i], &puts[n]) == 0)
			n++;
	return n;
}

int eau2_dir_leases(eau2_zk *zk, uint64_t **puts, size_t *n, struct eau2_error *err)
{
	struct eau2_zk_names leases = {0};
	int rc = eau2_zk_children(zk, LEASES, &leases, NULL, NULL, err);

	*puts = NULL;
	*n = 0;
	if (rc && rc != -ENOENT)
		return rc;
	if (!(*puts = calloc(leases.n + 1, sizeof(**puts)))) {
		eau2_zk_names_free(&leases);
		return eau2_error_set(err, -ENOMEM, "directory: out of memory");
	}
	*n = lease_puts(&leases, *puts);
	qsort(*puts, *n, sizeof(**puts), cmp_u64);
	eau2_zk_names_free(&leases);
	return 0;
}

int eau2_dir_live_read(eau2_zk *zk, struct eau2_dir_live *live, struct eau2_error *err)
{
	struct eau2_zk_names leases = {0}, keys = {0};
	int rc;

	memset(live, 0, sizeof(*live));
	rc = eau2_zk_children(zk, LEASES, &leases, NULL, NULL, err);
	if (rc && rc != -ENOENT)
		return rc;
	rc = eau2_zk_children(zk, KEYS, &keys, NULL, NULL, err);
	if (rc && rc != -ENOENT)
		goto out;
	rc = 0;
	if (!(live->puts = calloc(leases.n + keys.n + 1, sizeof(*live->puts)))) {
		rc = eau2_error_set(err, -ENOMEM, "directory: out of memory");
		goto out;
	}
	live->n = lease_puts(&leases, live->puts);
	for (size_t i = 0; i < keys.n; i++) {
		char path[EAU2_ZK_PATH_MAX];
		struct eau2_dir_entry e;

		snprintf(path, sizeof(path), KEYS "/%.900s", keys.names[i]);
		rc = read_at(zk, path, &e, NULL, NULL, err);
		if (rc == -ENOENT) {
			rc = 0;
			continue; /* removed meanwhile */
		}
		if (rc)
			goto out;
		live->puts[live->n++] = e.put;
		eau2_dir_entry_free(&e);
	}
	qsort(live->puts, live->n, sizeof(*live->puts), cmp_u64);
out:
	eau2_zk_names_free(&leases);
	eau2_zk_names_free(&keys);
	if (rc)
		eau2_dir_live_free(live);
	return rc;
}

bool eau2_dir_is_garbage(const struct eau2_dir_live *live, const char *name)
{
	uint64_t put;

	if (eau2_dir_part_parse(name, &put, NULL) && eau2_dir_bcast_parse(name, &put, NULL))
		return false;
	return !bsearch(&put, live->puts, live->n, sizeof(put), cmp_u64);
}
