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
#define GB_MAGIC 0x3259424755414545ull /* "EAUGBY2" */

static int header_put(const struct gb *s, uint64_t n, struct eau2_buf *b)
{
	return eau2_buf_u64(b, GB_MAGIC) ?: eau2_buf_u64(b, s->nkeys) ?:
	       eau2_buf_u64(b, s->naggs) ?: eau2_buf_u64(b, s->stride) ?:
	       eau2_buf_u64(b, n);
}

#define HEADER_N 32 /* offset of the group count in the header */

/* Group j of t (present): its key, then its record. */
static int group_put(const struct gb *t, uint32_t j, struct eau2_buf *b)
{
	int rc;

	if (t->intkey) {
		bool isnull = eau2_gb_null_group(t, j);
		rc = eau2_buf_u64(b, isnull) ?:
		     eau2_buf_u64(b, isnull ? 0 : (uint64_t)eau2_gb_group_key(t, j));
	} else {
		rc = tuple_put(t, j, b);
	}
	return rc ?: eau2_buf_put(b, t->rec + (size_t)j * t->stride,
				  t->stride * sizeof(*t->rec));
}

/* State k of s: s itself, then its unmerged joined states (pend). */
static const struct gb *state_at(const struct gb *s, size_t k)
{
	return k ? s->pend[k - 1] : s;
}

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
		const struct gb *t = state_at(s, k);
		for (uint32_t j = 0; j < t->ngroups; j++)
			n += eau2_gb_present(t, j);
	}
	rc = header_put(s, n, &b);
	for (size_t k = 0; k <= s->npend && rc == 0; k++) {
		const struct gb *t = state_at(s, k);
		for (uint32_t j = 0; j < t->ngroups && rc == 0; j++)
			if (eau2_gb_present(t, j))
				rc = group_put(t, j, &b);
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
	    eau2_rd_u64(&r, &n))
		return eau2_error_set(err, -EBADMSG, "groupby: decode: a state of "
				      "%zu bytes, shorter than its header", len);
	if (magic != GB_MAGIC)
		return eau2_error_set(err, -EBADMSG, "groupby: decode: not a state "
				      "of this eau2 version (magic %#llx, expected %#llx: "
				      "are the nodes on one build?)",
				      (unsigned long long)magic,
				      (unsigned long long)GB_MAGIC);
	if (nkeys != s->nkeys || naggs != s->naggs || stride != s->stride)
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

/* ------------------------------------------------------------ shuffle */

/*
 * A group's shuffle key (eau2.h: sample, split): per key column a tag
 * byte, 1, or 2 for null (nulls last, as finish puts them), then an int
 * as 8 big-endian bytes with its sign bit flipped, a bool as one byte,
 * or a string's bytes with each 0 byte written as 0 0xff and ended by
 * 0 0. Each column's code is prefix-free and in the column's order under
 * memcmp, so a tuple's concatenated codes are in the tuple's order:
 * finish's order. Costs a pass over the groups of the state and its
 * pending states; split writes each group once, into its range.
 */
static int key_int(struct eau2_buf *b, uint64_t v)
{
	uint64_t be = __builtin_bswap64(v ^ (1ull << 63));

	return eau2_buf_put(b, "\1", 1) ?: eau2_buf_put(b, &be, 8);
}

static int key_string(struct eau2_buf *b, const char *p, size_t len)
{
	int rc = eau2_buf_put(b, "\1", 1);

	while (rc == 0) {
		const char *z = memchr(p, 0, len);
		size_t run = z ? (size_t)(z - p) : len;

		rc = eau2_buf_put(b, p, run);
		if (rc || !z)
			break;
		rc = eau2_buf_put(b, "\0\377", 2);
		p += run + 1;
		len -= run + 1;
	}
	return rc ?: eau2_buf_put(b, "\0\0", 2);
}

/* Shuffle key of group j of t into b (emptied first). */
static int order_key(const struct gb *t, uint32_t j, struct eau2_buf *b)
{
	int rc = 0;

	b->len = 0;
	if (t->intkey)
		return eau2_gb_null_group(t, j) ? eau2_buf_put(b, "\2", 1) :
		       key_int(b, (uint64_t)eau2_gb_group_key(t, j));
	for (size_t k = 0; k < t->nkeys && rc == 0; k++) {
		const struct cdict *d = &t->dict[k];
		const struct cval *v = &d->vals[t->gcid[(size_t)j * t->nkeys + k]];
		uint8_t bv = v->a != 0;

		if (v->isnull)
			rc = eau2_buf_put(b, "\2", 1);
		else if (t->ktypes[k] == EAU2_INT)
			rc = key_int(b, v->a);
		else if (t->ktypes[k] == EAU2_BOOL)
			rc = eau2_buf_put(b, "\1", 1) ?: eau2_buf_put(b, &bv, 1);
		else
			rc = key_string(b, d->arena + v->a, v->len);
	}
	return rc;
}

int eau2_gb_sample(const void *state, size_t n, void **buf, size_t *len,
		   struct eau2_error *err)
{
	const struct gb *s = state;
	struct eau2_buf out = {0}, key = {0};
	uint64_t total = 0;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	for (size_t k = 0; k <= s->npend; k++)
		total += state_at(s, k)->ngroups;
	/* From each state in proportion to its groups, evenly over its ids
	 * (a direct state's absent ids are skipped: fewer keys). */
	for (size_t k = 0; k <= s->npend && total && rc == 0; k++) {
		const struct gb *t = state_at(s, k);
		uint64_t g = t->ngroups, want = (n * g + total - 1) / total;

		for (uint64_t q = 0; q < want && q < g && rc == 0; q++) {
			uint32_t j = (uint32_t)(q * g / want);

			if (eau2_gb_present(t, j))
				rc = order_key(t, j, &key) ?:
				     eau2_buf_bytes(&out, key.p, key.len);
		}
	}
	free(key.p);
	if (rc) {
		free(out.p);
		return eau2_error_set(err, rc, "groupby: out of memory sampling keys");
	}
	*buf = out.p;
	*len = out.len;
	return 0;
}

struct bound {
	const char *p;
	size_t len;
};

/* Range of key among nsplit sorted bounds: the number of bounds <= key. */
static size_t range_of(const struct bound *sp, size_t nsplit, const struct eau2_buf *key)
{
	size_t lo = 0, hi = nsplit;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (eau2_shuffle_key_cmp(sp[mid].p, sp[mid].len, key->p, key->len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int eau2_gb_split(const void *state, const void *splits, size_t splits_len,
		  size_t nsplit, void **bufs, size_t *lens, struct eau2_error *err)
{
	const struct gb *s = state;
	struct eau2_rd r = { .p = splits, .len = splits_len };
	struct eau2_buf *out = NULL, key = {0};
	struct bound *sp = NULL;
	uint64_t *n = NULL;
	int rc = 0;

	/* Each bound takes at least its 8-byte length. */
	if (nsplit > splits_len / 8)
		return eau2_error_set(err, -EBADMSG, "groupby: split: %zu keys do not fit "
				      "in %zu bytes", nsplit, splits_len);
	sp = malloc((nsplit + 1) * sizeof(*sp));
	out = calloc(nsplit + 1, sizeof(*out));
	n = calloc(nsplit + 1, sizeof(*n));
	if (!sp || !out || !n)
		goto nomem;
	for (size_t i = 0; i < nsplit; i++) {
		if (eau2_rd_bytes(&r, &sp[i].p, &sp[i].len)) {
			rc = eau2_error_set(err, -EBADMSG, "groupby: split: key %zu "
					    "truncated", i);
			goto out;
		}
		if (i && eau2_shuffle_key_cmp(sp[i - 1].p, sp[i - 1].len, sp[i].p,
					      sp[i].len) > 0) {
			rc = eau2_error_set(err, -EINVAL, "groupby: split: key %zu is "
					    "below key %zu", i, i - 1);
			goto out;
		}
	}
	if (r.pos != splits_len) {
		rc = eau2_error_set(err, -EBADMSG, "groupby: split: %zu bytes after "
				    "%zu keys", splits_len - r.pos, nsplit);
		goto out;
	}
	for (size_t q = 0; q <= nsplit; q++)
		if (header_put(s, 0, &out[q]))
			goto nomem;
	for (size_t k = 0; k <= s->npend; k++) {
		const struct gb *t = state_at(s, k);

		for (uint32_t j = 0; j < t->ngroups; j++) {
			size_t q;

			if (!eau2_gb_present(t, j))
				continue;
			if (order_key(t, j, &key))
				goto nomem;
			q = range_of(sp, nsplit, &key);
			if (group_put(t, j, &out[q]))
				goto nomem;
			n[q]++;
		}
	}
	for (size_t q = 0; q <= nsplit; q++) {
		memcpy(out[q].p + HEADER_N, &n[q], 8);
		bufs[q] = out[q].p;
		lens[q] = out[q].len;
	}
	goto out;
nomem:
	rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory splitting %u groups "
			    "into %zu ranges", s->ngroups, nsplit + 1);
out:
	for (size_t q = 0; rc && out && q <= nsplit; q++)
		free(out[q].p);
	free(out);
	free(sp);
	free(n);
	free(key.p);
	return rc;
}
