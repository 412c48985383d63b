/* SPDX-License-Identifier: MIT */
/*
 * shuffle.c - what a shuffle of rower states by key range needs beyond
 * the classes' sample and split (eau2.h): the order of shuffle keys and
 * the choice of split keys from the parts' samples. The samples come
 * from other processes: every key list is checked before use.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/rowers.h"

int eau2_shuffle_key_cmp(const void *a, size_t la, const void *b, size_t lb)
{
	int c = memcmp(a, b, la < lb ? la : lb);

	if (c)
		return c;
	return la < lb ? -1 : la > lb;
}

struct skey {
	const char *p;
	size_t len;
};

static int skey_cmp(const void *x, const void *y)
{
	const struct skey *a = x, *b = y;

	return eau2_shuffle_key_cmp(a->p, a->len, b->p, b->len);
}

/* Keys of list buf[len] appended to v (NULL: only counted into *n). */
static int list_keys(const void *buf, size_t len, struct skey *v, size_t *n)
{
	struct eau2_rd r = { .p = buf, .len = len };

	while (r.pos < len) {
		const char *p;
		size_t l;

		if (eau2_rd_bytes(&r, &p, &l))
			return -EBADMSG;
		if (v)
			v[*n] = (struct skey){ p, l };
		(*n)++;
	}
	return 0;
}

int eau2_shuffle_splits(const void *const *samples, const size_t *lens,
			size_t nsamples, size_t nranges, void **splits,
			size_t *len, struct eau2_error *err)
{
	struct eau2_buf out = {0};
	struct skey *v = NULL;
	size_t n = 0;
	int rc = 0;

	*splits = NULL;
	*len = 0;
	if (nranges == 0)
		return eau2_error_set(err, -EINVAL, "shuffle: no range");
	for (size_t i = 0; i < nsamples; i++)
		if (list_keys(samples[i], lens[i], NULL, &n))
			return eau2_error_set(err, -EBADMSG, "shuffle: sample %zu is not a "
					      "key list", i);
	if (!(v = malloc((n + 1) * sizeof(*v))))
		goto nomem;
	n = 0;
	for (size_t i = 0; i < nsamples; i++)
		(void)list_keys(samples[i], lens[i], v, &n);
	qsort(v, n, sizeof(*v), skey_cmp);
	for (size_t r = 1; r < nranges && rc == 0; r++) {
		const struct skey *k = n ? &v[r * n / nranges] : &(struct skey){ "", 0 };

		rc = eau2_buf_bytes(&out, k->p, k->len);
	}
	if (rc)
		goto nomem;
	free(v);
	*splits = out.p;
	*len = out.len;
	return 0;
nomem:
	free(v);
	free(out.p);
	return eau2_error_set(err, -ENOMEM, "shuffle: out of memory choosing %zu ranges",
			      nranges);
}
