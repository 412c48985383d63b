/* SPDX-License-Identifier: MIT */
/*
 * rproto.c - the remote protocol's messages (remote.h), encoded and
 * decoded without I/O: descriptors, GET and RUN requests, keys. Every
 * decoder takes bytes from a peer: each length is checked against what
 * is left and against its limit before anything is allocated for it
 * (fuzz_remote replays them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "df/df.h"
#include "node/node.h"
#include "node/remote.h"

/* A bounds-checked reader. */
struct rd {
	const uint8_t *p;
	size_t left;
	int bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = take(r, 8);

	return p ? eau2_node_get_u64(p) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = take(r, 4);

	return p ? eau2_node_get_u32(p) : 0;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? *p : 0;
}

/* ----------------------------------------------------------- descriptor */

void eau2_remote_desc_free(struct eau2_remote_desc *d)
{
	eau2_schema_free(d->schema);
	free(d->group_rows);
	memset(d, 0, sizeof(*d));
}

int eau2_remote_desc_encode(const eau2_df *df, size_t first, size_t n, uint8_t **out,
			    size_t *len, struct eau2_error *err)
{
	const eau2_schema *s = eau2_df_schema(df);
	size_t ncols = eau2_schema_ncols(s), cap = 32 + 4 * n, off, g, c;
	uint64_t rows = 0, bytes = 0;
	uint8_t *p;

	*out = NULL;
	if (first > eau2_df_ngroups(df) || n > eau2_df_ngroups(df) - first)
		return eau2_error_set(err, -ERANGE, "row groups %zu+%zu of %zu", first, n,
				      eau2_df_ngroups(df));
	if (n > EAU2_REMOTE_GROUPS_MAX)
		return eau2_error_set(err, -EMSGSIZE, "%zu row groups: at most %u travel at once",
				      n, EAU2_REMOTE_GROUPS_MAX);
	for (c = 0; c < ncols; c++)
		cap += 2 + strlen(eau2_schema_name(s, c));
	p = malloc(cap);
	if (!p)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	for (g = first; g < first + n; g++)
		rows += eau2_df_group_rows(df, g);
	/* Chunk bytes of the groups sent: the whole when all of them. */
	bytes = n == eau2_df_ngroups(df) ? eau2_df_bytes(df) : 0;
	eau2_node_put_u32(p, EAU2_REMOTE_DESC_VERSION);
	eau2_node_put_u32(p + 4, (uint32_t)ncols);
	eau2_node_put_u64(p + 8, rows);
	eau2_node_put_u64(p + 16, n);
	eau2_node_put_u64(p + 24, bytes);
	off = 32;
	for (c = 0; c < ncols; c++) {
		const char *name = eau2_schema_name(s, c);
		size_t l = strlen(name);

		p[off++] = (uint8_t)eau2_schema_type(s, c);
		p[off++] = (uint8_t)l;
		memcpy(p + off, name, l);
		off += l;
	}
	for (g = first; g < first + n; g++, off += 4)
		eau2_node_put_u32(p + off, eau2_df_group_rows(df, g));
	*out = p;
	*len = off;
	return 0;
}

int eau2_remote_desc_decode(const uint8_t *buf, size_t len, struct eau2_remote_desc *d,
			    struct eau2_error *err)
{
	struct rd r = { buf, len, 0 };
	char name[EAU2_NAME_MAX + 1];
	uint32_t version, ncols, c;
	uint64_t ngroups, sum = 0, g;
	int rc;

	memset(d, 0, sizeof(*d));
	version = rd_u32(&r);
	ncols = rd_u32(&r);
	d->rows = rd_u64(&r);
	ngroups = rd_u64(&r);
	d->bytes = rd_u64(&r);
	if (r.bad)
		return eau2_error_set(err, -EBADMSG, "descriptor: %zu bytes, truncated", len);
	if (version != EAU2_REMOTE_DESC_VERSION)
		return eau2_error_set(err, -EPROTO, "descriptor version %u, not %u", version,
				      EAU2_REMOTE_DESC_VERSION);
	if (ncols > EAU2_COLS_MAX || ngroups > EAU2_REMOTE_GROUPS_MAX ||
	    (ncols == 0 && ngroups))
		return eau2_error_set(err, -EBADMSG, "descriptor: %u columns, %llu row groups",
				      ncols, (unsigned long long)ngroups);
	if ((rc = eau2_schema_new(&d->schema, err)))
		return rc;
	for (c = 0; c < ncols; c++) {
		uint8_t type = rd_u8(&r), l = rd_u8(&r);
		const uint8_t *n = take(&r, l);
		struct eau2_error e = {0};

		if (!n) {
			rc = eau2_error_set(err, -EBADMSG, "descriptor: column %u truncated", c);
			goto fail;
		}
		memcpy(name, n, l);
		name[l] = 0;
		if (memchr(n, 0, l) || eau2_schema_add(d->schema, name, (enum eau2_type)type, &e)) {
			rc = eau2_error_set(err, -EBADMSG, "descriptor: column %u: %s", c,
					    e.msg[0] ? e.msg : "a NUL in its name");
			goto fail;
		}
	}
	if (r.left != ngroups * 4) {
		rc = eau2_error_set(err, -EBADMSG, "descriptor: %zu bytes of row counts for %llu "
				    "row groups", r.left, (unsigned long long)ngroups);
		goto fail;
	}
	d->group_rows = malloc(ngroups ? ngroups * 4 : 1);
	if (!d->group_rows) {
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	d->ngroups = (size_t)ngroups;
	for (g = 0; g < ngroups; g++) {
		d->group_rows[g] = rd_u32(&r);
		if (d->group_rows[g] == 0 || d->group_rows[g] > EAU2_CHUNK_ROWS) {
			rc = eau2_error_set(err, -EBADMSG, "descriptor: row group %llu of %u rows",
					    (unsigned long long)g, d->group_rows[g]);
			goto fail;
		}
		sum += d->group_rows[g];
	}
	if (sum != d->rows) {
		rc = eau2_error_set(err, -EBADMSG, "descriptor: %llu rows, row groups hold %llu",
				    (unsigned long long)d->rows, (unsigned long long)sum);
		goto fail;
	}
	return 0;
fail:
	eau2_remote_desc_free(d);
	return rc;
}

/* ----------------------------------------------------------- requests */

int eau2_remote_key_decode(const uint8_t *p, size_t len, char key[EAU2_KEY_MAX + 1],
			   struct eau2_error *err)
{
	if (len == 0 || len > EAU2_KEY_MAX || memchr(p, 0, len))
		return eau2_error_set(err, -EINVAL, "a key of %zu bytes (1 to %u, no NUL)", len,
				      EAU2_KEY_MAX);
	memcpy(key, p, len);
	key[len] = 0;
	return 0;
}

int eau2_remote_get_encode(const struct eau2_remote_get_req *r, uint8_t *out, size_t *len)
{
	size_t l = strlen(r->key);

	if (l == 0 || l > EAU2_KEY_MAX)
		return -EINVAL;
	eau2_node_put_u64(out, r->first);
	eau2_node_put_u64(out + 8, r->max_groups);
	eau2_node_put_u32(out + 16, r->wait_ms);
	memcpy(out + 20, r->key, l);
	*len = 20 + l;
	return 0;
}

int eau2_remote_get_decode(const uint8_t *p, size_t len, struct eau2_remote_get_req *r,
			   struct eau2_error *err)
{
	if (len < 20)
		return eau2_error_set(err, -EBADMSG, "GET request of %zu bytes", len);
	r->first = eau2_node_get_u64(p);
	r->max_groups = eau2_node_get_u64(p + 8);
	r->wait_ms = eau2_node_get_u32(p + 16);
	if (r->wait_ms > EAU2_REMOTE_WAIT_SLICE_MS)
		r->wait_ms = EAU2_REMOTE_WAIT_SLICE_MS;
	return eau2_remote_key_decode(p + 20, len - 20, r->key, err);
}

int eau2_remote_pull_encode(const struct eau2_remote_pull_req *r, uint8_t *out, size_t *len,
			    struct eau2_error *err)
{
	size_t fl = strlen(r->from), kl = strlen(r->key);

	if (fl == 0 || fl > EAU2_REMOTE_ADDR_MAX || kl == 0 || kl > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "PULL of '%.64s' from '%.64s': a key of 1 to "
				      "%u bytes and an address of 1 to %u", r->key, r->from,
				      EAU2_KEY_MAX, EAU2_REMOTE_ADDR_MAX);
	eau2_node_put_u64(out, r->rate);
	eau2_node_put_u32(out + 8, (uint32_t)fl);
	memcpy(out + 12, r->from, fl);
	memcpy(out + 12 + fl, r->key, kl);
	*len = 12 + fl + kl;
	return 0;
}

int eau2_remote_pull_decode(const uint8_t *p, size_t len, struct eau2_remote_pull_req *r,
			    struct eau2_error *err)
{
	uint32_t fl;

	if (len < 12)
		return eau2_error_set(err, -EBADMSG, "PULL request of %zu bytes", len);
	r->rate = eau2_node_get_u64(p);
	fl = eau2_node_get_u32(p + 8);
	if (fl == 0 || fl > EAU2_REMOTE_ADDR_MAX || fl > len - 12 || memchr(p + 12, 0, fl))
		return eau2_error_set(err, -EBADMSG, "PULL request: an address of %u bytes "
				      "(1 to %u, no NUL) in %zu", fl, EAU2_REMOTE_ADDR_MAX, len);
	if (r->rate && r->rate < EAU2_REMOTE_RATE_MIN)
		return eau2_error_set(err, -EINVAL, "PULL request: %llu bytes/s, under the "
				      "least %u", (unsigned long long)r->rate,
				      EAU2_REMOTE_RATE_MIN);
	memcpy(r->from, p + 12, fl);
	r->from[fl] = 0;
	return eau2_remote_key_decode(p + 12 + fl, len - 12 - fl, r->key, err);
}

static size_t put_str(uint8_t *p, const char *s)
{
	size_t l = s ? strlen(s) : 0;

	eau2_node_put_u32(p, (uint32_t)l);
	if (l)
		memcpy(p + 4, s, l);
	return 4 + l;
}

int eau2_remote_run_encode(const struct eau2_remote_run_req *r, uint8_t **out,
			   size_t *len, struct eau2_error *err)
{
	size_t cap = 3 * 4 + 8 + strlen(r->rower) + (r->key ? strlen(r->key) : 0) +
		     (r->as ? strlen(r->as) : 0), off = 0;
	uint8_t *p;

	if (r->args.n > EAU2_REMOTE_ARGS_MAX)
		return eau2_error_set(err, -E2BIG, "%zu arguments: at most %u", r->args.n,
				      EAU2_REMOTE_ARGS_MAX);
	for (size_t i = 0; i < r->args.n; i++)
		cap += 8 + strlen(r->args.names[i]) + strlen(r->args.values[i]);
	if (cap > EAU2_NET_CONTROL_MAX)
		return eau2_error_set(err, -E2BIG, "run request of %zu bytes: at most %u", cap,
				      EAU2_NET_CONTROL_MAX);
	p = malloc(cap);
	if (!p)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	off += put_str(p + off, r->rower);
	off += put_str(p + off, r->key);
	off += put_str(p + off, r->as);
	eau2_node_put_u32(p + off, r->threads);
	eau2_node_put_u32(p + off + 4, (uint32_t)r->args.n);
	off += 8;
	for (size_t i = 0; i < r->args.n; i++) {
		off += put_str(p + off, r->args.names[i]);
		off += put_str(p + off, r->args.values[i]);
	}
	*out = p;
	*len = off;
	return 0;
}

void eau2_remote_run_free(struct eau2_remote_run_req *r)
{
	free(r->mem);
	memset(r, 0, sizeof(*r));
}

/* The next string into the arena at *a (NUL-terminated); limit: its
 * largest length. NULL when truncated, too long or holding a NUL. */
static const char *rd_str(struct rd *r, char **a, size_t limit)
{
	uint32_t l = rd_u32(r);
	const uint8_t *s = take(r, l);
	char *out = *a;

	if (!s || l > limit || memchr(s, 0, l)) {
		r->bad = 1;
		return NULL;
	}
	memcpy(out, s, l);
	out[l] = 0;
	*a += l + 1;
	return out;
}

int eau2_remote_run_decode(const uint8_t *p, size_t len, struct eau2_remote_run_req *r,
			   struct eau2_error *err)
{
	struct rd rd = { p, len, 0 };
	const char **names, **values;
	uint32_t nargs;
	char *a;

	memset(r, 0, sizeof(*r));
	if (len > EAU2_NET_CONTROL_MAX)
		return eau2_error_set(err, -EBADMSG, "run request of %zu bytes", len);
	/* Every string fits the arena: the payload's bytes plus a NUL each
	 * (a string takes at least 4 bytes there). */
	r->mem = malloc(len + len / 4 + 2 * EAU2_REMOTE_ARGS_MAX * sizeof(char *) + 8);
	if (!r->mem)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	names = r->mem;
	values = names + EAU2_REMOTE_ARGS_MAX;
	a = (char *)(values + EAU2_REMOTE_ARGS_MAX);
	r->rower = rd_str(&rd, &a, EAU2_NAME_MAX);
	r->key = rd_str(&rd, &a, EAU2_KEY_MAX);
	r->as = rd_str(&rd, &a, EAU2_KEY_MAX);
	r->threads = rd_u32(&rd);
	nargs = rd_u32(&rd);
	if (rd.bad || !r->rower[0] || nargs > EAU2_REMOTE_ARGS_MAX) {
		eau2_remote_run_free(r);
		return eau2_error_set(err, -EBADMSG, "run request: malformed (%zu bytes)", len);
	}
	for (uint32_t i = 0; i < nargs; i++) {
		names[i] = rd_str(&rd, &a, EAU2_NET_CONTROL_MAX);
		values[i] = rd_str(&rd, &a, EAU2_NET_CONTROL_MAX);
		if (rd.bad) {
			eau2_remote_run_free(r);
			return eau2_error_set(err, -EBADMSG, "run request: argument %u truncated", i);
		}
	}
	if (rd.left) {
		eau2_remote_run_free(r);
		return eau2_error_set(err, -EBADMSG, "run request: %zu bytes past its end", rd.left);
	}
	r->args = (struct eau2_args){ .n = nargs, .names = names, .values = values };
	return 0;
}
