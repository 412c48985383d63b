/* SPDX-License-Identifier: MIT */
/* groupby_sort.c - key order of the group-by rower's output: radix sort of
 * int keys, and the order of dictionary-mode groups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/groupby.h"

/* ---------------------------------------------------------- sorting */



/* LSD radix sort by key (8 passes of 8 bits over the key with its sign
 * bit flipped; passes where every key has the same byte are skipped).
 * Keys are distinct, so stability does not matter. Result in a. */
void eau2_gb_radix_ikeys(struct ikey *a, struct ikey *tmp, size_t n)
{
	struct ikey *src = a, *dst = tmp;

	for (unsigned shift = 0; shift < 64; shift += 8) {
		size_t cnt[256] = { 0 }, sum = 0;
		for (size_t i = 0; i < n; i++)
			cnt[(((uint64_t)src[i].k ^ (1ull << 63)) >> shift) & 255]++;
		if (cnt[(((uint64_t)src[0].k ^ (1ull << 63)) >> shift) & 255] == n)
			continue;
		for (unsigned b = 0; b < 256; b++) {
			size_t c = cnt[b];
			cnt[b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[cnt[(((uint64_t)src[i].k ^ (1ull << 63)) >> shift) & 255]++] =
				src[i];
		struct ikey *t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

struct rank_ctx {
	const uint32_t *ranks;   /* nkeys per group */
	size_t nkeys;
};

static int cmp_ranks(const void *x, const void *y, void *ctx)
{
	const struct rank_ctx *r = ctx;
	const uint32_t *a = r->ranks + *(const uint32_t *)x * r->nkeys;
	const uint32_t *b = r->ranks + *(const uint32_t *)y * r->nkeys;

	for (size_t k = 0; k < r->nkeys; k++)
		if (a[k] != b[k])
			return a[k] < b[k] ? -1 : 1;
	return 0;
}

/* Bytes a[la] against b[lb], as memcmp then length: inline, 8 bytes a
 * step (keys are short: a call to memcmp would cost more). */
static inline int bytes_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	size_t n = la < lb ? la : lb, i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, y;
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		if (x != y) {
			x = __builtin_bswap64(x);
			y = __builtin_bswap64(y);
			return x < y ? -1 : 1;
		}
	}
	for (; i < n; i++)
		if (a[i] != b[i])
			return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
	return la < lb ? -1 : la > lb;
}

int eau2_gb_cval_cmp(const struct cdict *da, const struct cval *a,
		     const struct cdict *db, const struct cval *b)
{
	if (a->isnull || b->isnull)
		return (int)a->isnull - (int)b->isnull;
	if (da->type != EAU2_STRING)
		return (int64_t)a->a < (int64_t)b->a ? -1 : (int64_t)a->a > (int64_t)b->a;
	return bytes_cmp(da->arena + a->a, a->len, db->arena + b->a, b->len);
}

void eau2_gb_cval_prefix(const struct cdict *d, const struct cval *v,
			 uint64_t w[2])
{
	uint64_t x[2] = { 0, 0 };

	w[1] = 0;
	if (v->isnull) {
		w[0] = w[1] = UINT64_MAX;
	} else if (d->type != EAU2_STRING) {
		w[0] = v->a ^ (1ull << 63);
	} else {
		memcpy(x, d->arena + v->a, v->len < 16 ? v->len : 16);
		w[0] = __builtin_bswap64(x[0]);
		w[1] = __builtin_bswap64(x[1]);
	}
}

/* Order of two values of one dictionary: nulls last. */
static int cmp_cval(const void *x, const void *y, void *ctx)
{
	const struct cdict *d = ctx;

	return eau2_gb_cval_cmp(d, &d->vals[*(const uint32_t *)x],
				d, &d->vals[*(const uint32_t *)y]);
}

/* Sorts the groups of dictionary mode into order[0..ngroups): each
 * dictionary is sorted once (its distinct values) into ranks, then groups
 * by their rank tuples (radix sort for one or two keys). */
int eau2_gb_dict_order(const struct gb *s, uint32_t *order)
{
	uint32_t **rank = calloc(s->nkeys, sizeof(*rank)), *tmp = NULL;
	struct ikey *ik = NULL;
	uint32_t n = s->ngroups;
	int rc = -ENOMEM;

	if (!rank)
		return -ENOMEM;
	for (size_t k = 0; k < s->nkeys; k++) {
		const struct cdict *d = &s->dict[k];
		free(tmp);
		rank[k] = malloc(((size_t)d->n + 1) * sizeof(**rank));
		tmp = malloc(((size_t)d->n + 1) * sizeof(*tmp));
		if (!rank[k] || !tmp)
			goto out;
		for (uint32_t i = 0; i < d->n; i++)
			tmp[i] = i;
		qsort_r(tmp, d->n, sizeof(*tmp), cmp_cval, (void *)d);
		for (uint32_t i = 0; i < d->n; i++)
			rank[k][tmp[i]] = i;
	}
	if (s->nkeys <= 2) {
		ik = malloc(2 * ((size_t)n + 1) * sizeof(*ik));
		if (!ik)
			goto out;
		for (uint32_t j = 0; j < n; j++) {
			const uint32_t *c = s->gcid + (size_t)j * s->nkeys;
			uint64_t key = rank[0][c[0]];
			if (s->nkeys == 2)
				key = key << 32 | rank[1][c[1]];
			ik[j] = (struct ikey){ (int64_t)key, j };
		}
		if (n)
			eau2_gb_radix_ikeys(ik, ik + n + 1, n);
		for (uint32_t j = 0; j < n; j++)
			order[j] = ik[j].id;
	} else {
		/* Rank tuples, then a comparison sort over them. */
		free(tmp);
		tmp = malloc(((size_t)n + 1) * s->nkeys * sizeof(*tmp));
		if (!tmp)
			goto out;
		for (uint32_t j = 0; j < n; j++) {
			for (size_t k = 0; k < s->nkeys; k++)
				tmp[(size_t)j * s->nkeys + k] =
					rank[k][s->gcid[(size_t)j * s->nkeys + k]];
			order[j] = j;
		}
		struct rank_ctx rc_ = { tmp, s->nkeys };
		qsort_r(order, n, sizeof(*order), cmp_ranks, &rc_);
	}
	rc = 0;
out:
	for (size_t k = 0; k < s->nkeys; k++)
		free(rank[k]);
	free(rank);
	free(tmp);
	free(ik);
	return rc;
}

