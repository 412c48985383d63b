/* SPDX-License-Identifier: MIT */
/*
 * htab.c - the small utilities the rowers share (see rowers.h): XXH3
 * hashing, a bump arena, an open-addressing byte-string interning table,
 * a growable encode buffer with its bounds-checked reader, and the
 * "columns=a,b" argument parser.
 *
 * Access rules: none of these objects is shared between threads; a rower
 * state owns its own and the executor never touches one state from two
 * threads at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "rowers/rowers.h"
#include "util/mem.h"

uint64_t eau2_hash_bytes(const void *p, size_t len)
{
	return XXH3_64bits(p, len);
}

/* --------------------------------------------------------------- arena */

struct eau2_arena_block {
	struct eau2_arena_block *prev;
	size_t cap;
	_Alignas(64) unsigned char data[];
};

#define ARENA_MIN_BLOCK (64u << 10)

void eau2_arena_init(struct eau2_arena *a)
{
	memset(a, 0, sizeof(*a));
}

void *eau2_arena_alloc(struct eau2_arena *a, size_t size, size_t align)
{
	size_t at;

	if (a->head) {
		at = (a->used + align - 1) & ~(align - 1);
		if (at <= a->cap && size <= a->cap - at) {
			a->used = at + size;
			return a->head->data + at;
		}
	}
	/* New block: doubling with the total keeps the block count O(log n);
	 * an oversized request gets a block of its own size. */
	size_t cap = a->total < ARENA_MIN_BLOCK ? ARENA_MIN_BLOCK : a->total;
	if (cap > (64u << 20))
		cap = 64u << 20;
	if (size > cap)
		cap = size;
	if (cap > SIZE_MAX - sizeof(struct eau2_arena_block) - 64)
		return NULL;
	struct eau2_arena_block *b = aligned_alloc(64,
		(sizeof(*b) + cap + 63) & ~(size_t)63);
	if (!b)
		return NULL;
	b->prev = a->head;
	b->cap = cap;
	a->head = b;
	a->cap = cap;
	a->used = size;
	a->total += cap;
	return b->data;
}

char *eau2_arena_memdup(struct eau2_arena *a, const void *p, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *d = eau2_arena_alloc(a, len + 1, 1);
	if (!d)
		return NULL;
	if (len)
		memcpy(d, p, len);
	d[len] = 0;
	return d;
}

void eau2_arena_free(struct eau2_arena *a)
{
	struct eau2_arena_block *b = a->head;

	while (b) {
		struct eau2_arena_block *prev = b->prev;
		free(b);
		b = prev;
	}
	memset(a, 0, sizeof(*a));
}

void eau2_arena_merge(struct eau2_arena *dst, struct eau2_arena *src)
{
	struct eau2_arena_block *tail = src->head;

	if (!tail)
		return;
	if (!dst->head) {
		*dst = *src;
	} else {
		/* src's chain goes behind dst's current block. */
		while (tail->prev)
			tail = tail->prev;
		tail->prev = dst->head->prev;
		dst->head->prev = src->head;
		dst->total += src->total;
	}
	memset(src, 0, sizeof(*src));
}

/* ----------------------------------------------------------- hash table */

int eau2_htab_init(struct eau2_htab *h, size_t expect)
{
	size_t cap = 64;

	memset(h, 0, sizeof(*h));
	if (expect > (1u << 30))
		expect = 1u << 30;
	while (cap < expect * 2)
		cap <<= 1;
	h->slots = eau2_zalloc_written(cap, sizeof(*h->slots));
	/* The key arena exists from the start: with only empty keys interned
	 * it would otherwise stay NULL, and NULL + 0 is undefined. */
	h->keys_cap = 4096;
	h->keys = malloc(h->keys_cap);
	if (!h->slots || !h->keys) {
		eau2_htab_free(h);
		return -ENOMEM;
	}
	h->mask = cap - 1;
	return 0;
}

void eau2_htab_free(struct eau2_htab *h)
{
	free(h->slots);
	free(h->entries);
	free(h->keys);
	memset(h, 0, sizeof(*h));
}

static int htab_grow(struct eau2_htab *h)
{
	size_t cap = (h->mask + 1) * 2;
	struct eau2_htab_slot *s = eau2_zalloc_written(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i <= h->mask; i++) {
		const struct eau2_htab_slot *o = &h->slots[i];
		if (!o->id1)
			continue;
		size_t j = o->hash & (cap - 1);
		while (s[j].id1)
			j = (j + 1) & (cap - 1);
		s[j] = *o;
	}
	free(h->slots);
	h->slots = s;
	h->mask = cap - 1;
	return 0;
}

int64_t eau2_htab_find(const struct eau2_htab *h, const void *key, size_t len,
		       uint64_t hash)
{
	size_t j = hash & h->mask;

	for (;;) {
		const struct eau2_htab_slot *s = &h->slots[j];
		if (!s->id1)
			return -ENOENT;
		if (s->hash == hash && s->len == len &&
		    memcmp(h->keys + s->off, key, len) == 0)
			return s->id1 - 1;
		j = (j + 1) & h->mask;
	}
}

int64_t eau2_htab_intern(struct eau2_htab *h, const void *key, size_t len,
			 uint64_t hash, bool *added)
{
	size_t j = hash & h->mask;
	struct eau2_htab_slot *s;

	if (added)
		*added = false;
	for (;;) {
		s = &h->slots[j];
		if (!s->id1)
			break;
		if (s->hash == hash && s->len == len &&
		    memcmp(h->keys + s->off, key, len) == 0)
			return s->id1 - 1;
		j = (j + 1) & h->mask;
	}
	if (len >= UINT32_MAX || h->n >= (1u << 31))
		return -E2BIG;
	if (h->n == h->entries_cap) {
		uint32_t ncap = h->entries_cap ? h->entries_cap * 2 : 64;
		void *e = realloc(h->entries, (size_t)ncap * sizeof(*h->entries));
		if (!e)
			return -ENOMEM;
		h->entries = e;
		h->entries_cap = ncap;
	}
	if (len > h->keys_cap - h->keys_len) {
		size_t ncap = h->keys_cap ? h->keys_cap : 4096;
		while (len > ncap - h->keys_len) {
			if (ncap > SIZE_MAX / 2)
				return -ENOMEM;
			ncap *= 2;
		}
		void *k = realloc(h->keys, ncap);
		if (!k)
			return -ENOMEM;
		h->keys = k;
		h->keys_cap = ncap;
	}
	if (len)
		memcpy(h->keys + h->keys_len, key, len);
	uint32_t id = h->n++;
	h->entries[id] = (struct eau2_htab_entry){
		.off = h->keys_len, .hash = hash, .len = (uint32_t)len };
	*s = (struct eau2_htab_slot){
		.hash = hash, .off = h->keys_len, .len = (uint32_t)len,
		.id1 = id + 1 };
	h->keys_len += len;
	if (added)
		*added = true;
	if ((size_t)h->n * 2 > h->mask + 1) {
		int rc = htab_grow(h);
		if (rc < 0) {
			/* Keep the table consistent: the key stays (the load
			 * factor is just higher than planned). */
			if ((size_t)h->n >= h->mask)
				return rc;
		}
	}
	return id;
}

/* ------------------------------------------------ encode / decode buffers */

int eau2_buf_put(struct eau2_buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t ncap = b->cap ? b->cap : 256;
		while (n > ncap - b->len) {
			if (ncap > SIZE_MAX / 2)
				return -ENOMEM;
			ncap *= 2;
		}
		void *q = realloc(b->p, ncap);
		if (!q)
			return -ENOMEM;
		b->p = q;
		b->cap = ncap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int eau2_buf_bytes(struct eau2_buf *b, const void *p, size_t n)
{
	int rc = eau2_buf_u64(b, n);
	return rc < 0 ? rc : eau2_buf_put(b, p, n);
}

int eau2_rd_get(struct eau2_rd *r, void *out, size_t n)
{
	if (n > r->len - r->pos)
		return -EBADMSG;
	if (n)
		memcpy(out, r->p + r->pos, n);
	r->pos += n;
	return 0;
}

int eau2_rd_bytes(struct eau2_rd *r, const char **p, size_t *n)
{
	uint64_t len;

	if (eau2_rd_u64(r, &len) < 0 || len > r->len - r->pos)
		return -EBADMSG;
	*p = (const char *)r->p + r->pos;
	*n = (size_t)len;
	r->pos += (size_t)len;
	return 0;
}

/* ------------------------------------------------------------- arguments */

int eau2_rowers_columns(const eau2_schema *schema, const char *list,
			const char *what, size_t **cols, size_t *n,
			struct eau2_error *err)
{
	size_t count = 1, k = 0;
	size_t *out = NULL;
	int rc = 0;

	*cols = NULL;
	*n = 0;
	if (!list || !*list)
		return eau2_error_set(err, -EINVAL, "%s: empty column list", what);
	for (const char *p = list; *p; p++)
		count += *p == ',';
	if (count > EAU2_COLS_MAX) {
		rc = eau2_error_set(err, -EINVAL, "%s: more than %u columns",
				    what, EAU2_COLS_MAX);
		goto out;
	}
	out = malloc(count * sizeof(*out));
	if (!out) {
		rc = eau2_error_set(err, -ENOMEM, "%s: out of memory", what);
		goto out;
	}
	for (const char *p = list;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char name[EAU2_NAME_MAX + 1];
		if (len == 0 || len > EAU2_NAME_MAX) {
			rc = eau2_error_set(err, -EINVAL,
					    "%s: bad column name in '%s'", what, list);
			goto out;
		}
		memcpy(name, p, len);
		name[len] = 0;
		int c = eau2_schema_find(schema, name);
		if (c < 0) {
			rc = eau2_error_set(err, -ENOENT, "%s: no column '%s'",
					    what, name);
			goto out;
		}
		out[k++] = (size_t)c;
		if (!e)
			break;
		p = e + 1;
	}
	*cols = out;
	*n = k;
	out = NULL;
out:
	free(out);
	return rc;
}
