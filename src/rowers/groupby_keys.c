/* SPDX-License-Identifier: MIT */
/*
 * groupby_keys.c - the group-by rower's key-to-id maps: every worker state
 * maps key tuples to dense group ids in one of three modes (direct, int
 * hash, dictionary; see groupby.c's overview), creating groups (zeroed
 * records) as new keys arrive. eau2_gb_ids does a batch of rows at a time
 * so that the per-row probe loops stay in this file.
 *
 * Access rules: a state is used by one thread at a time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Long strings are hashed only here: an inlined XXH3 saves a library
 * call per row. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rowers/groupby.h"
#include "util/mem.h"

static bool cdict_init(struct cdict *d, enum eau2_type type)
{
	d->type = type;
	d->null_id = -1;
	d->mask = 63;
	d->slots = calloc(d->mask + 1, sizeof(*d->slots));
	/* The arena exists from the start: NULL + 0 is undefined. */
	d->acap = 256;
	d->arena = malloc(d->acap);
	return d->slots && d->arena;
}

static void free_cslots(struct cdict *d);

static void cdict_free(struct cdict *d)
{
	free_cslots(d);
	free(d->vals);
	free(d->arena);
}

static bool umap_init(struct umap *m)
{
	m->mask = 63;
	m->slots = calloc(m->mask + 1, sizeof(*m->slots));
	return m->slots != NULL;
}

/* Frees a table from eau2_gb_big_zalloc (mapped bytes) or malloc (0). */
static void free_table(void *p, size_t mapped)
{
	if (mapped)
		munmap(p, mapped);
	else
		free(p);
}

static void free_slots(struct gb *s)
{
	free_table(s->slots, s->slots_mapped);
	s->slots = NULL;
	s->slots_mapped = 0;
}


/* Zeroed memory for a large table: anonymous pages asked for as huge
 * pages (the tables are probed at random: fewer TLB misses) and faulted
 * in writable up front, so that the first write to a page that was first
 * read does not take a copy-on-write fault (with a TLB shootdown of every
 * other worker's CPU) in the middle of the probe loop. */
void *eau2_gb_big_zalloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
		return p;
#endif
	/* Older kernels: touch every page by writing. */
	for (size_t at = 0; at < bytes; at += 4096)
		((volatile char *)p)[at] = 0;
	return p;
}

/* ------------------------------------------------------------- groups */

#define GROW(p, n) do { \
	void *q_ = realloc((p), (size_t)(n) * sizeof(*(p))); \
	if (!q_) \
		return -ENOMEM; \
	(p) = q_; \
} while (0)

/* Room for one more group; new entries are zero. */
static int grow_groups(struct gb *s)
{
	uint32_t cap, old = s->cap;

	if (s->ngroups < s->cap)
		return 0;
	if (s->cap >= (1u << 31))
		return -E2BIG;
	cap = s->cap ? 2 * s->cap : 256;
	GROW(s->rec, (size_t)cap * s->stride);
	memset(s->rec + (size_t)old * s->stride, 0,
	       (size_t)(cap - old) * s->stride * sizeof(*s->rec));
	if (s->intkey)
		GROW(s->gkey, cap);
	else
		GROW(s->gcid, (size_t)cap * s->nkeys);
	s->cap = cap;
	return 0;
}

static int rehash(struct gb *s)
{
	size_t mask = s->smask * 2 + 1, bytes = (mask + 1) * sizeof(struct slot);
	/* Not calloc: pages must be faulted in writable now, not as the zero
	 * page that the first insert into it would then copy (util/mem.h).
	 * Large tables get huge pages. */
	bool big = bytes >= (4u << 20);
	struct slot *slots = big ? eau2_gb_big_zalloc(bytes) : eau2_zalloc_written(1, bytes);

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j <= s->smask; j++) {
		if (!s->slots[j].id1)
			continue;
		size_t p = eau2_gb_slot_of(s->slots[j].key, mask);
		while (slots[p].id1)
			p = (p + 1) & mask;
		slots[p] = s->slots[j];
	}
	free_slots(s);
	s->slots = slots;
	s->smask = mask;
	s->slots_mapped = big ? bytes : 0;
	return 0;
}

static int64_t int_group_slow(struct gb *s, int64_t k, bool isnull, size_t p);

/* Group id of int key k (null when isnull), created when absent. */
static inline int64_t int_group(struct gb *s, int64_t k, bool isnull)
{
	size_t p = eau2_gb_slot_of(k, s->smask);

	if (!isnull)
		for (;;) {
			const struct slot *sl = &s->slots[p];
			if (sl->key == k && sl->id1)
				return sl->id1 - 1;
			if (!sl->id1)
				break;
			p = (p + 1) & s->smask;
		}
	return int_group_slow(s, k, isnull, p);
}

/* A new group for k at empty slot p, or the null group. */
static int64_t int_group_slow(struct gb *s, int64_t k, bool isnull, size_t p)
{
	int rc;

	if (isnull) {
		if (s->null_id >= 0)
			return s->null_id;
		if ((rc = grow_groups(s)))
			return rc;
		s->gkey[s->ngroups] = 0;
		s->null_id = s->ngroups;
		return s->ngroups++;
	}
	if ((rc = grow_groups(s)))
		return rc;
	s->slots[p].key = k;
	s->slots[p].id1 = s->ngroups + 1;
	s->gkey[s->ngroups] = k;
	s->ngroups++;
	if ((size_t)s->ngroups * 2 > s->smask && (rc = rehash(s)))
		return rc;
	return s->ngroups - 1;
}

/* Leaves direct mode: the existing groups move into a hash table. */
static int demote(struct gb *s)
{
	union word *old = s->rec;
	size_t mapped = s->rec_mapped;
	uint32_t n = s->ngroups;
	int rc = 0;

	s->direct = false;
	s->rec = NULL;
	s->rec_mapped = 0;
	s->ngroups = s->cap = 0;
	s->null_id = -1;
	s->smask = 1023;
	s->slots = calloc(s->smask + 1, sizeof(*s->slots));
	if (!s->slots)
		rc = -ENOMEM;
	for (uint32_t j = 0; j < n && rc == 0; j++) {
		const union word *r = old + (size_t)j * s->stride;
		if (!r[0].i)
			continue;
		int64_t id = int_group(s, (int64_t)((uint64_t)s->dmin + j),
				       j == n - 1);
		if (id < 0)
			rc = (int)id;
		else
			memcpy(s->rec + (size_t)id * s->stride, r,
			       s->stride * sizeof(*r));
	}
	if (mapped)
		munmap(old, mapped);
	else
		free(old);
	return rc;
}

/* Group id of an int/bool key in either mode, created when absent. */
int64_t eau2_gb_key_group(struct gb *s, int64_t k, bool isnull)
{
	if (s->direct) {
		uint64_t d = (uint64_t)k - (uint64_t)s->dmin;
		if (isnull)
			return s->drange;
		if (d < s->drange)
			return (int64_t)d;
		int rc = demote(s);
		if (rc < 0)
			return rc;
	}
	return int_group(s, k, isnull);
}

/* ---------------------------------------------------- dictionary mode */

/* Any key but a single int/bool one. Each key column has a dictionary
 * giving every distinct value (null included) a dense column id (cid);
 * a batch gets its cids column by column, then a row's tuple of cids is
 * its group: with one key the cid is the group id, with k keys the pair
 * (cid0, cid1) is mapped to a dense id by pairs[0], (that id, cid2) by
 * pairs[1], and so on; the last map's ids are the group ids. gcid holds
 * each group's cids (nkeys per group), from which results, encodings and
 * the sort order are made.
 *
 * Strings up to 16 bytes are compared as two 64-bit words (their bytes,
 * zero-padded) and their length, all in the slot: no byte hashing, no
 * memcmp, no visit to the arena; longer ones by XXH3 hash and length,
 * then bytes. Values are copied once per distinct value into the
 * dictionary's byte arena and addressed by offset (no per-key
 * allocation). A batch of strings is read in a first pass (words, or
 * hash), so that the probe loop can fetch the slot of a row PREFETCH
 * ahead: with many distinct values every probe misses the cache. */

static inline uint64_t word_pos(uint64_t a, uint64_t b, uint32_t len)
{
	return eau2_hash_u64(a ^ ((uint64_t)len << 56) ^
			     (b * 0x9E3779B97F4A7C15ull));
}

static inline uint64_t slot_pos(const struct cslot *o)
{
	return o->len > 16 ? o->a : word_pos(o->a, o->b, o->len);
}

static void free_cslots(struct cdict *d)
{
	free_table(d->slots, d->slots_mapped);
	d->slots = NULL;
	d->slots_mapped = 0;
}

static int cdict_grow(struct cdict *d)
{
	size_t mask = d->mask * 2 + 1, bytes = (mask + 1) * sizeof(struct cslot);
	/* Large tables: huge pages, faulted in now (see rehash). */
	bool big = bytes >= (4u << 20);
	struct cslot *slots = big ? eau2_gb_big_zalloc(bytes)
				  : eau2_zalloc_written(mask + 1, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j <= d->mask; j++) {
		const struct cslot *o = &d->slots[j];
		if (!o->id1)
			continue;
		size_t p = slot_pos(o) & mask;
		while (slots[p].id1)
			p = (p + 1) & mask;
		slots[p] = *o;
	}
	free_cslots(d);
	d->slots = slots;
	d->slots_mapped = big ? bytes : 0;
	d->mask = mask;
	return 0;
}

/* A new cid for a value (a, b, len: as in the slot; p: string bytes) at
 * empty slot j, or for null (j = SIZE_MAX: no slot). */
static int64_t cdict_add(struct cdict *d, uint64_t a, uint64_t b, uint32_t len,
			 const char *p, size_t j)
{
	uint32_t id = d->n;
	struct cval v = { .a = a, .len = len, .isnull = j == SIZE_MAX };

	if (d->n >= (1u << 31))
		return -E2BIG;
	if (d->n == d->vcap) {
		uint32_t cap = d->vcap ? 2 * d->vcap : 64;
		void *q = realloc(d->vals, (size_t)cap * sizeof(*d->vals));
		if (!q)
			return -ENOMEM;
		d->vals = q;
		d->vcap = cap;
	}
	if (d->type == EAU2_STRING && !v.isnull) {
		if (len > d->acap - d->alen) {
			size_t cap = d->acap;
			while (len > cap - d->alen) {
				if (cap > SIZE_MAX / 2)
					return -ENOMEM;
				cap *= 2;
			}
			void *q = realloc(d->arena, cap);
			if (!q)
				return -ENOMEM;
			d->arena = q;
			d->acap = cap;
		}
		if (len)
			memcpy(d->arena + d->alen, p, len);
		v.a = d->alen;
		d->alen += len;
	}
	d->vals[id] = v;
	d->n++;
	if (v.isnull) {
		d->null_id = id;
		return id;
	}
	d->slots[j] = (struct cslot){ .a = a, .b = b, .len = len, .id1 = id + 1 };
	/* Load <= 1/4: with the few distinct values a key column usually
	 * has, a probe almost always hits its first slot (a miss costs a
	 * mispredicted branch, more than the memory). Large dictionaries
	 * miss the cache anyway: load <= 1/2 halves their memory. */
	if ((size_t)d->n * 4 > d->mask &&
	    (d->n < LAZY_GROUPS || (size_t)d->n * 2 > d->mask)) {
		int rc = cdict_grow(d);
		if (rc < 0 && (size_t)d->n * 2 >= d->mask)
			return rc;
	}
	return id;
}

/* cid of an int/bool value (len 0, b 0) or of a string of len <= 16
 * bytes whose zero-padded bytes are a, b (p: the bytes, copied when
 * new); h: word_pos of them. */
static inline int64_t cdict_word(struct cdict *d, uint64_t a, uint64_t b,
				 uint32_t len, const char *p, uint64_t h)
{
	size_t j = h & d->mask;

	for (;;) {
		const struct cslot *sl = &d->slots[j];
		if (sl->a == a && sl->b == b && sl->len == len && sl->id1)
			return sl->id1 - 1;
		if (!sl->id1)
			return cdict_add(d, a, b, len, p, j);
		j = (j + 1) & d->mask;
	}
}

/* cid of a string longer than 16 bytes whose XXH3 hash is h. */
static int64_t cdict_long(struct cdict *d, const char *p, size_t len,
			  uint64_t h)
{
	size_t j = h & d->mask;

	if (len >= UINT32_MAX)
		return -E2BIG;
	for (;;) {
		const struct cslot *sl = &d->slots[j];
		if (!sl->id1)
			return cdict_add(d, h, 0, (uint32_t)len, p, j);
		if (sl->a == h && sl->len == len &&
		    memcmp(d->arena + d->vals[sl->id1 - 1].a, p, len) == 0)
			return sl->id1 - 1;
		j = (j + 1) & d->mask;
	}
}

static int64_t cdict_null(struct cdict *d)
{
	return d->null_id >= 0 ? d->null_id : cdict_add(d, 0, 0, 0, NULL, SIZE_MAX);
}

/* The words of a string p[len] of at most 16 bytes; end: how many bytes
 * may be read from p (a whole 16-byte load when there are enough). */
static inline void str_words(const char *p, size_t len, size_t end,
			     uint64_t *a, uint64_t *b)
{
	uint64_t w[2] = { 0, 0 };

	if (end >= 16) {
		memcpy(w, p, 16);
		if (len <= 8) {
			w[0] &= len ? ~0ull >> (64 - 8 * len) : 0;
			w[1] = 0;
		} else {
			w[1] &= ~0ull >> (64 - 8 * (len - 8));
		}
	} else if (len) {
		memcpy(w, p, len);
	}
	*a = w[0];
	*b = w[1];
}

int64_t eau2_gb_cdict_any(struct cdict *d, bool isnull, int64_t i,
			  const char *p, size_t len)
{
	uint64_t a, b;

	if (isnull)
		return cdict_null(d);
	if (d->type != EAU2_STRING)
		return cdict_word(d, (uint64_t)i, 0, 0, NULL, word_pos((uint64_t)i, 0, 0));
	if (len > 16)
		return cdict_long(d, p, len, XXH3_64bits(p, len));
	str_words(p, len, len, &a, &b);
	return cdict_word(d, a, b, (uint32_t)len, p, word_pos(a, b, (uint32_t)len));
}

/* cids of rows from..from+n of view v into out. */
/* String r of v read for its probe: null, words and word_pos, or the
 * hash of a longer one. 0 or -E2BIG. */
static inline __attribute__((always_inline)) int
read_str(const struct eau2_chunk_view *v, bool all, uint32_t r,
	 struct cprobe *q)
{
	const int64_t *off = v->values.offsets;
	int64_t o = off[r], len = off[r + 1] - o;

	q->len = (uint32_t)len;
	q->null = !all && !eau2_view_valid(v, r);
	if (q->null)
		return 0;
	if (len > 16) {
		if (len >= UINT32_MAX)
			return -E2BIG;
		q->h = XXH3_64bits((const char *)v->data + o, (size_t)len);
		return 0;
	}
	str_words((const char *)v->data + o, (size_t)len,
		  (size_t)(off[v->rows] - o), &q->a, &q->b);
	q->h = word_pos(q->a, q->b, (uint32_t)len);
	return 0;
}

/* cid of a string read by read_str, whose bytes are p. */
static inline __attribute__((always_inline)) int64_t
probe_str(struct cdict *d, const struct cprobe *q, const char *p)
{
	if (q->null)
		return cdict_null(d);
	if (q->len > 16)
		return cdict_long(d, p, q->len, q->h);
	return cdict_word(d, q->a, q->b, q->len, p, q->h);
}

/* Dictionaries whose slots fit in L2 are probed as rows are read: the
 * first pass and the prefetch would cost more than they save. */
#define SMALL_DICT ((256u << 10) / sizeof(struct cslot))

/* cids of rows from..from+n of view v into out. */
static int column_cids(struct gb *s, struct cdict *d,
		       const struct eau2_chunk_view *v, uint32_t from,
		       uint32_t n, uint32_t *out)
{
	bool all = !v->validity || v->null_count == 0;
	int64_t id = 0;
	int rc;

	if (v->type == EAU2_STRING) {
		const int64_t *off = v->values.offsets;
		const char *data = v->data;
		struct cprobe *pr = s->probe;
		for (uint32_t i = 0; i < n && d->mask < SMALL_DICT; i++) {
			struct cprobe q = { 0 };
			if ((rc = read_str(v, all, from + i, &q)) ||
			    (id = probe_str(d, &q, data + off[from + i])) < 0)
				return rc ? rc : (int)id;
			out[i] = (uint32_t)id;
		}
		if (d->mask < SMALL_DICT)
			return 0;
		for (uint32_t i = 0; i < n; i++)
			if ((rc = read_str(v, all, from + i, &pr[i])))
				return rc;
		for (uint32_t i = 0; i < n; i++) {
			if (i + PREFETCH < n)
				__builtin_prefetch(&d->slots[pr[i + PREFETCH].h & d->mask]);
			if ((id = probe_str(d, &pr[i], data + off[from + i])) < 0)
				return (int)id;
			out[i] = (uint32_t)id;
		}
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = from + i;
		uint64_t a = v->type == EAU2_INT ? (uint64_t)v->values.i64[r]
						 : eau2_view_bool(v, r);
		if (!all && !eau2_view_valid(v, r))
			id = cdict_null(d);
		else
			id = cdict_word(d, a, 0, 0, NULL, word_pos(a, 0, 0));
		if (id < 0)
			return (int)id;
		out[i] = (uint32_t)id;
	}
	return 0;
}

/* Dense id of key (*created set when new). */
static inline int64_t umap_get(struct umap *m, uint64_t key, bool *created)
{
	size_t j = eau2_hash_u64(key) & m->mask;

	*created = false;
	for (;;) {
		struct uslot *sl = &m->slots[j];
		if (sl->key == key && sl->id1)
			return sl->id1 - 1;
		if (!sl->id1)
			break;
		j = (j + 1) & m->mask;
	}
	if (m->n >= (1u << 31))
		return -E2BIG;
	m->slots[j] = (struct uslot){ .key = key, .id1 = ++m->n };
	*created = true;
	if ((size_t)m->n * 4 > m->mask) {
		size_t mask = m->mask * 2 + 1;
		struct uslot *slots = eau2_zalloc_written(mask + 1, sizeof(*slots));
		if (!slots)
			return (size_t)m->n * 2 < m->mask ? (int64_t)m->n - 1 : -ENOMEM;
		for (size_t i = 0; i <= m->mask; i++) {
			if (!m->slots[i].id1)
				continue;
			size_t p = eau2_hash_u64(m->slots[i].key) & mask;
			while (slots[p].id1)
				p = (p + 1) & mask;
			slots[p] = m->slots[i];
		}
		free(m->slots);
		m->slots = slots;
		m->mask = mask;
	}
	return m->n - 1;
}

/* Group of a tuple of cids c[0..nkeys) (c[k * cstride] with a stride),
 * created when absent. */
int64_t eau2_gb_cids_group(struct gb *s, const uint32_t *c, size_t cstride)
{
	uint64_t t = c[0];
	bool created = false;
	int rc;

	if (s->nkeys == 1) {
		/* Group ids are cids: groups are made in cid order. */
		while (s->ngroups <= t) {
			if ((rc = grow_groups(s)))
				return rc;
			s->gcid[s->ngroups] = s->ngroups;
			s->ngroups++;
		}
		return (int64_t)t;
	}
	for (size_t k = 1; k < s->nkeys; k++) {
		int64_t id = umap_get(&s->pairs[k - 1], t << 32 | c[k * cstride],
				      &created);
		if (id < 0)
			return id;
		t = (uint64_t)id;
	}
	if (created) {
		if ((rc = grow_groups(s)))
			return rc;
		for (size_t k = 0; k < s->nkeys; k++)
			s->gcid[(size_t)s->ngroups * s->nkeys + k] = c[k * cstride];
		s->ngroups++;
	}
	return (int64_t)t;
}

/* Group ids of rows from..from+n of g into s->gid. */
static int dict_ids(struct gb *s, const struct eau2_group *g, uint32_t from,
		    uint32_t n)
{
	int rc;

	for (size_t k = 0; k < s->nkeys; k++)
		if ((rc = column_cids(s, &s->dict[k], &g->cols[s->keys[k]], from, n,
				      s->cid + k * BATCH)))
			return rc;
	if (s->nkeys == 1) {
		memcpy(s->gid, s->cid, n * sizeof(*s->gid));
		if (s->dict[0].n > s->ngroups &&
		    eau2_gb_cids_group(s, &(uint32_t){ s->dict[0].n - 1 }, 0) < 0)
			return -ENOMEM;
		return 0;
	}
	if (s->nkeys == 2) {
		/* The pair map inline; only new groups call cids_group. */
		const uint32_t *c0 = s->cid, *c1 = s->cid + BATCH;
		struct umap *m = &s->pairs[0];
		for (uint32_t i = 0; i < n; i++) {
			uint64_t key = (uint64_t)c0[i] << 32 | c1[i];
			size_t j = eau2_hash_u64(key) & m->mask;
			int64_t id;
			for (;;) {
				const struct uslot *sl = &m->slots[j];
				if (sl->key == key && sl->id1) {
					id = sl->id1 - 1;
					break;
				}
				if (!sl->id1) {
					id = eau2_gb_cids_group(s, s->cid + i, BATCH);
					break;
				}
				j = (j + 1) & m->mask;
			}
			if (id < 0)
				return (int)id;
			s->gid[i] = (uint32_t)id;
		}
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		int64_t id = eau2_gb_cids_group(s, s->cid + i, BATCH);
		if (id < 0)
			return (int)id;
		s->gid[i] = (uint32_t)id;
	}
	return 0;
}

/* Direct mode: the group ids of rows from..from+n of key view v. A key
 * out of range demotes the state (then the caller hashes the batch). */
static int direct_ids(struct gb *s, const struct eau2_chunk_view *v,
		      uint32_t from, uint32_t n)
{
	uint32_t *gid = s->gid, range = s->drange;
	bool all = !v->validity || v->null_count == 0;

	if (v->type == EAU2_BOOL) {
		for (uint32_t i = 0; i < n; i++)
			gid[i] = all || eau2_view_valid(v, from + i)
				 ? (uint32_t)eau2_view_bool(v, from + i) : range;
		return 0;
	}
	const int64_t *kv = v->values.i64 + from;
	uint64_t lo = (uint64_t)s->dmin;
	bool bad = false;
	if (all) {
		for (uint32_t i = 0; i < n; i++) {
			uint64_t d = (uint64_t)kv[i] - lo;
			bad |= d >= range;
			gid[i] = (uint32_t)d;
		}
	} else {
		for (uint32_t i = 0; i < n; i++) {
			uint64_t d = (uint64_t)kv[i] - lo;
			if (!eau2_view_valid(v, from + i))
				d = range;
			else
				bad |= d >= range;
			gid[i] = (uint32_t)d;
		}
	}
	return bad ? demote(s) : 0;
}

int eau2_gb_keys_init(struct gb *s)
{
	if (s->intkey) {
		if (s->direct)
			return 0;
		s->smask = 1023;
		s->slots = calloc(s->smask + 1, sizeof(*s->slots));
		return s->slots ? 0 : -ENOMEM;
	}
	s->dict = calloc(s->nkeys, sizeof(*s->dict));
	s->pairs = calloc(s->nkeys, sizeof(*s->pairs));
	s->cid = malloc(s->nkeys * BATCH * sizeof(*s->cid));
	s->probe = malloc(BATCH * sizeof(*s->probe));
	if (!s->dict || !s->pairs || !s->cid || !s->probe)
		return -ENOMEM;
	for (size_t k = 0; k < s->nkeys; k++)
		if (!cdict_init(&s->dict[k], s->ktypes[k]) ||
		    (k + 1 < s->nkeys && !umap_init(&s->pairs[k])))
			return -ENOMEM;
	return 0;
}

void eau2_gb_keys_free(struct gb *s)
{
	free_slots(s);
	free(s->gkey);
	for (size_t k = 0; s->dict && k < s->nkeys; k++)
		cdict_free(&s->dict[k]);
	for (size_t k = 0; s->pairs && k + 1 < s->nkeys; k++)
		free(s->pairs[k].slots);
	free(s->dict);
	free(s->pairs);
	free(s->cid);
	free(s->gcid);
	free(s->probe);
	s->probe = NULL;
	s->slots = NULL;
	s->gkey = NULL;
	s->dict = NULL;
	s->pairs = NULL;
	s->cid = s->gcid = NULL;
}

int eau2_gb_ids(struct gb *s, const struct eau2_group *g, uint32_t from,
		uint32_t n)
{
	if (s->direct && direct_ids(s, &g->cols[s->keys[0]], from, n) < 0)
		return -ENOMEM;
	if (s->direct)
		return 0; /* ids are set */
	if (!s->intkey)
		return dict_ids(s, g, from, n);
	const struct eau2_chunk_view *v = &g->cols[s->keys[0]];
	bool all = !v->validity || v->null_count == 0;
	/* With many groups every probe misses the cache: fetch the slot of
	 * the row PREFETCH ahead while this one waits. */
	bool ints = v->type == EAU2_INT;
	const int64_t *kv = v->values.i64;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = from + i;
		if (ints && i + PREFETCH < n)
			__builtin_prefetch(&s->slots[eau2_gb_slot_of(
				kv[r + PREFETCH], s->smask)]);
		int64_t k = ints ? kv[r] : eau2_view_bool(v, r);
		int64_t id = int_group(s, k, !all && !eau2_view_valid(v, r));
		if (id < 0)
			return (int)id;
		s->gid[i] = (uint32_t)id;
	}
	return 0;
}
