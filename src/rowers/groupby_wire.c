/* SPDX-License-Identifier: MIT */
/*
 * groupby_wire.c - the group-by rower's state encoding for distributed
 * runs: (key, record) lists in one format for all three key modes. decode
 * reads bytes from outside: every key tuple, count and length is checked
 * before use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/groupby.h"

/* Serialised key tuple of group j (the encoding's format: per key a tag
 * byte, 0 for null, then 8 bytes of int, 1 byte of bool, or a 4-byte
 * length and the string bytes) appended to b as length + bytes. */
static int tuple_put(const struct gb *s, uint32_t j, struct eau2_buf *b)
{
	uint64_t len = 0;
	int rc;

	for (size_t k = 0; k < s->nkeys; k++) {
		const struct cval *v = &s->dict[k].vals[s->gcid[(size_t)j * s->nkeys + k]];
		len += 1 + (v->isnull ? 0 : s->ktypes[k] == EAU2_INT ? 8 :
			    s->ktypes[k] == EAU2_BOOL ? 1 : 4 + (uint64_t)v->len);
	}
	if ((rc = eau2_buf_u64(b, len)))
		return rc;
	for (size_t k = 0; k < s->nkeys && rc == 0; k++) {
		const struct cdict *d = &s->dict[k];
		const struct cval *v = &d->vals[s->gcid[(size_t)j * s->nkeys + k]];
		uint8_t tag = !v->isnull, bv = v->a != 0;
		rc = eau2_buf_put(b, &tag, 1);
		if (rc || v->isnull)
			continue;
		if (s->ktypes[k] == EAU2_INT)
			rc = eau2_buf_put(b, &v->a, 8);
		else if (s->ktypes[k] == EAU2_BOOL)
			rc = eau2_buf_put(b, &bv, 1);
		else
			rc = eau2_buf_put(b, &v->len, 4) ?:
			     eau2_buf_put(b, d->arena + v->a, v->len);
	}
	return rc;
}

/* Group of a serialised tuple that tuple_ok accepted. */
static int64_t tuple_group(struct gb *s, const char *p)
{
	uint32_t c[EAU2_COLS_MAX];

	for (size_t k = 0; k < s->nkeys; k++) {
		int64_t id, i = 0;
		uint32_t m = 0;
		bool isnull = !*p++;
		if (!isnull && s->ktypes[k] == EAU2_INT) {
			memcpy(&i, p, 8);
			p += 8;
		} else if (!isnull && s->ktypes[k] == EAU2_BOOL) {
			i = *p++;
		} else if (!isnull) {
			memcpy(&m, p, 4);
			p += 4;
		}
		id = eau2_gb_cdict_any(&s->dict[k], isnull, i, p, m);
		p += m;
		if (id < 0)
			return id;
		c[k] = (uint32_t)id;
	}
	return eau2_gb_cids_group(s, c, 1);
}

/* ------------------------------------------------------ encode / decode */

/* Encoding: magic, nkeys, naggs, stride, ngroups, then per group its key
 * (intkey: null flag and value; else the serialised tuple as length +
 * bytes) and its record (stride words). Host byte order: little endian. */
#define GB_MAGIC 0x3159424755414545ull /* "EAUGBY1" */

int eau2_gb_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	const struct gb *s = state;
	struct eau2_buf b = { 0 };
	uint64_t n = 0;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	/* Unmerged joined states (pend) are encoded after this one's groups:
	 * a key may appear more than once; decode merges them. */
	for (size_t k = 0; k <= s->npend; k++) {
		const struct gb *t = k ? s->pend[k - 1] : s;
		for (uint32_t j = 0; j < t->ngroups; j++)
			n += eau2_gb_present(t, j);
	}
	rc = eau2_buf_u64(&b, GB_MAGIC) ?: eau2_buf_u64(&b, s->nkeys) ?:
	     eau2_buf_u64(&b, s->naggs) ?: eau2_buf_u64(&b, s->stride) ?:
	     eau2_buf_u64(&b, n);
	for (size_t k = 0; k <= s->npend && rc == 0; k++) {
		const struct gb *t = k ? s->pend[k - 1] : s;
		for (uint32_t j = 0; j < t->ngroups && rc == 0; j++) {
			if (!eau2_gb_present(t, j))
				continue;
			if (t->intkey) {
				bool isnull = eau2_gb_null_group(t, j);
				rc = eau2_buf_u64(&b, isnull) ?:
				     eau2_buf_u64(&b, isnull ? 0
						  : (uint64_t)eau2_gb_group_key(t, j));
			} else {
				rc = tuple_put(t, j, &b);
			}
			if (rc == 0)
				rc = eau2_buf_put(&b, t->rec + (size_t)j * t->stride,
						  t->stride * sizeof(*t->rec));
		}
	}
	if (rc) {
		free(b.p);
		return eau2_error_set(err, rc, "groupby: out of memory encoding "
				      "%u groups", s->ngroups);
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

/* A serialised tuple from outside must parse exactly as tuple_put writes. */
static bool tuple_ok(const struct gb *s, const char *p, size_t len)
{
	size_t at = 0;

	for (size_t k = 0; k < s->nkeys; k++) {
		if (at >= len)
			return false;
		if (!p[at++])
			continue;
		if (s->ktypes[k] == EAU2_INT) {
			at += 8;
		} else if (s->ktypes[k] == EAU2_BOOL) {
			if (at >= len || (p[at] != 0 && p[at] != 1))
				return false;
			at++;
		} else {
			uint32_t m;
			if (len - at < 4)
				return false;
			memcpy(&m, p + at, 4);
			at += 4;
			if (len - at < m)
				return false;
			at += m;
		}
		if (at > len)
			return false;
	}
	return at == len;
}

int eau2_gb_decode(void *state, const void *buf, size_t len,
		     struct eau2_error *err)
{
	struct gb *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t magic, nkeys, naggs, stride, n;
	union word *rec = NULL;
	int rc;

	if (eau2_rd_u64(&r, &magic) || eau2_rd_u64(&r, &nkeys) ||
	    eau2_rd_u64(&r, &naggs) || eau2_rd_u64(&r, &stride) ||
	    eau2_rd_u64(&r, &n) || magic != GB_MAGIC || nkeys != s->nkeys ||
	    naggs != s->naggs || stride != s->stride)
		return eau2_error_set(err, -EBADMSG, "groupby: decode: header "
				      "does not match this run's by/agg");
	/* Each group takes at least stride words: bound n before looping. */
	if (n > (len - r.pos) / (stride * sizeof(*rec)))
		return eau2_error_set(err, -EBADMSG, "groupby: decode: %llu "
				      "groups do not fit in %zu bytes",
				      (unsigned long long)n, len);
	rec = malloc(stride * sizeof(*rec));
	if (!rec)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (uint64_t j = 0; j < n; j++) {
		int64_t id;
		if (s->intkey) {
			uint64_t isnull, key;
			if (eau2_rd_u64(&r, &isnull) || eau2_rd_u64(&r, &key) ||
			    isnull > 1 || (s->ktypes[0] == EAU2_BOOL && key > 1)) {
				rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
						    "bad key of group %llu",
						    (unsigned long long)j);
				goto out;
			}
			id = eau2_gb_key_group(s, (int64_t)key, isnull);
		} else {
			const char *k;
			size_t klen;
			if (eau2_rd_bytes(&r, &k, &klen) || !tuple_ok(s, k, klen)) {
				rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
						    "bad key of group %llu",
						    (unsigned long long)j);
				goto out;
			}
			id = tuple_group(s, k);
		}
		if (id < 0) {
			rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
			goto out;
		}
		if (eau2_rd_get(&r, rec, stride * sizeof(*rec))) {
			rc = eau2_error_set(err, -EBADMSG, "groupby: decode: "
					    "truncated group %llu",
					    (unsigned long long)j);
			goto out;
		}
		if ((rc = eau2_gb_merge_record(s, id, rec, err)))
			goto out;
	}
	rc = r.pos == len ? 0 : eau2_error_set(err, -EBADMSG, "groupby: decode: "
					       "%zu trailing bytes", len - r.pos);
out:
	free(rec);
	return rc;
}
