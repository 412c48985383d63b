/* SPDX-License-Identifier: MIT */
/*
 * wordcount_table.c - the wordcount rower's word table (see wordcount.h):
 * its memory, insertion and growth. Lookups are inline in wordcount.h.
 *
 * Load: the table doubles past 3/4 full. A large vocabulary's table is
 * larger than the caches and most of its lookups miss them, so its size
 * is what it costs: at 3/4, ~660k words fit 2^20 slots (32 MiB) where a
 * limit of 1/2 needed 2^21 (64 MiB); linear probing then reads ~2.5
 * slots per found word (two to a cache line).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "rowers/wordcount.h"

/* Slots are 32 bytes on a 64-byte aligned array: none straddles a line.
 * A table of 2 MiB or more (large vocabularies) is mapped on its own,
 * 2 MiB aligned, and asks for transparent huge pages before its first
 * touch (memory recycled by malloc is already faulted in 4 KiB pages):
 * its lookups land anywhere in it, and 4 KiB pages would add a TLB miss
 * to most of them. slots_free must be given the same cap. */
#define WC_HUGE (2u << 20)

static struct wc_slot *slots_new(size_t cap)
{
	size_t size = cap * sizeof(struct wc_slot);
	struct wc_slot *s;

	if (size >= WC_HUGE) {
		/* over-map by 2 MiB, then trim to an aligned range */
		char *m = mmap(NULL, size + WC_HUGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		size_t lead = (size_t)(-(uintptr_t)m & (WC_HUGE - 1));
		if (lead)
			munmap(m, lead);
		if (WC_HUGE - lead)
			munmap(m + lead + size, WC_HUGE - lead);
		s = (struct wc_slot *)(void *)(m + lead);
		madvise(s, size, MADV_HUGEPAGE); /* a hint: failure is harmless */
		return s; /* fresh anonymous memory is zero */
	}
	s = aligned_alloc(64, size);
	if (s)
		memset(s, 0, size);
	return s;
}

static void slots_free(struct wc_slot *s, size_t cap)
{
	size_t size = cap * sizeof(struct wc_slot);

	if (!s)
		return;
	if (size >= WC_HUGE)
		munmap(s, size);
	else
		free(s);
}

int eau2_wc_table_init(struct wc_table *t, unsigned bits)
{
	memset(t, 0, sizeof(*t));
	t->slots = slots_new((size_t)1 << bits);
	if (!t->slots)
		return -ENOMEM;
	t->mask = ((size_t)1 << bits) - 1;
	t->shift = 64 - bits;
	return 0;
}

void eau2_wc_table_free(struct wc_table *t)
{
	if (t->slots)
		slots_free(t->slots, t->mask + 1);
	free(t->keys);
	memset(t, 0, sizeof(*t));
}

static int grow(struct wc_table *t)
{
	size_t cap = (t->mask + 1) * 2;
	struct wc_slot *n = slots_new(cap);

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i <= t->mask; i++) {
		if (!t->slots[i].len)
			continue;
		size_t j = (size_t)(eau2_wc_slot_hash(t, &t->slots[i]) >> (t->shift - 1));
		while (n[j].len)
			j = (j + 1) & (cap - 1);
		n[j] = t->slots[i];
	}
	slots_free(t->slots, t->mask + 1);
	t->slots = n;
	t->mask = cap - 1;
	t->shift--;
	return 0;
}

/* Appends the record of long word p[0..len) (hash, then the bytes zero
 * padded to 8) to t->keys; *at is where it starts. 0, -ENOMEM or -E2BIG. */
static int key_add(struct wc_table *t, const char *p, uint32_t len, uint64_t hash,
		   uint32_t *at)
{
	size_t need = 1 + ((size_t)len + 7) / 8;

	if (need > t->keys_cap - t->keys_len) {
		size_t ncap = t->keys_cap ? t->keys_cap : 4096;
		while (need > ncap - t->keys_len)
			ncap *= 2;
		if (ncap > ((size_t)1 << 32)) { /* key is 32 bits */
			if (t->keys_len + need > ((size_t)1 << 32))
				return -E2BIG;
			ncap = (size_t)1 << 32;
		}
		void *k = realloc(t->keys, ncap * sizeof(*t->keys));
		if (!k)
			return -ENOMEM;
		t->keys = k;
		t->keys_cap = ncap;
	}
	uint64_t *r = t->keys + t->keys_len;
	r[0] = hash;
	r[need - 1] = 0; /* the padding */
	memcpy(r + 1, p, len);
	*at = (uint32_t)t->keys_len;
	t->keys_len += need;
	return 0;
}

int eau2_wc_insert(struct wc_table *t, size_t j, const char *p, uint32_t len,
		   uint64_t w0, uint64_t w1, uint64_t hash, uint64_t count)
{
	uint32_t key = 0;

	if (t->n >= (1u << 30))
		return -E2BIG;
	if (len > 16) {
		int rc = key_add(t, p, len, hash, &key);
		if (rc < 0)
			return rc;
	}
	t->slots[j] = (struct wc_slot){ .w0 = w0, .w1 = w1, .count = count,
					.len = len, .key = key };
	t->n++;
	if ((size_t)t->n * 4 > (t->mask + 1) * 3)
		return grow(t);
	return 0;
}
