/* SPDX-License-Identifier: MIT */
/*
 * groupby.c - the `groupby` rower: by=k1,k2 agg=count,sum:v,mean:v,min:v,
 * max:v,count:v. One result row per distinct key tuple (a null key is a
 * group of its own, as in SQL), sorted by the keys (nulls last); columns:
 * the keys, then `count` when asked for, then <fn>_<column> per aggregate.
 * Aggregates skip nulls; a group whose values are all null gets null
 * (count gets 0). sum of ints is an int and fails on overflow; mean is a
 * double; double sums use Neumaier compensation so that the result hardly
 * depends on how rows were split between threads.
 *
 * Group ids: every worker state maps keys to dense group ids in one of
 * three ways.
 *  - direct: a single int key whose values (chunk min/max over the input)
 *    span a small range, or a bool key: the id is the key minus the
 *    minimum, so a row costs no hashing and no probe and groups come out
 *    in key order (see choose_direct). A key outside the range (only from
 *    a decoded state or a lying chunk header) moves the state to hashing.
 *  - int hash: other single int keys; open addressing over raw int64 keys
 *    (linear probing, Fibonacci hashing, slots prefetched ahead).
 *  - dictionary: string and composite keys; per key column a dictionary
 *    gives each distinct value a dense column id (short strings compared
 *    as one word, long ones by XXH3 hash, length, then bytes), and maps of
 *    id pairs combine the columns' ids into group ids (see "dictionary
 *    mode" below).
 * A group's row count and aggregates sit together in one record of
 * `stride` words, so a row costs one or two cache misses however many
 * aggregates it feeds; a batch of rows gets its ids first, then, in
 * sub-batches whose records stay in L1, one tight loop per aggregate.
 * Large tables are huge-page, pre-faulted memory (big_zalloc). States
 * encode to (key, record) lists for distributed runs, in one format for
 * all three modes; decode checks every key tuple.
 *
 * Access rules: a state is used by one worker thread at a time; join reads
 * the other state, which the executor no longer runs.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Tuples are hashed only here (intern, join, decode): an inlined XXH3
 * saves a library call per row. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "rowers/rowers.h"

#include "rowers/groupby.h"
/* ---------------------------------------------------------- arguments */

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

static void cdict_free(struct cdict *d)
{
	free(d->slots);
	free(d->vals);
	free(d->arena);
}

static bool umap_init(struct umap *m)
{
	m->mask = 63;
	m->slots = calloc(m->mask + 1, sizeof(*m->slots));
	return m->slots != NULL;
}

static void free_slots(struct gb *s)
{
	if (s->slots_mapped)
		munmap(s->slots, s->slots_mapped);
	else
		free(s->slots);
	s->slots = NULL;
	s->slots_mapped = 0;
}

static void gb_free(struct gb *s)
{
	for (size_t k = 0; k < s->npend; k++) {
		gb_free(s->pend[k]);
		free(s->pend[k]);
	}
	free(s->pend);
	free(s->keys);
	free(s->ktypes);
	free(s->aggs);
	if (s->rec_mapped)
		munmap(s->rec, s->rec_mapped);
	else
		free(s->rec);
	free(s->gid);
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
	memset(s, 0, sizeof(*s));
}

static int parse_aggs(struct gb *s, const eau2_schema *schema,
		      const char *spec, struct eau2_error *err)
{
	size_t n = 1;
	const char *p;

	for (p = spec; *p; p++)
		n += *p == ',';
	s->aggs = calloc(n, sizeof(*s->aggs));
	if (!s->aggs)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (p = spec;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		size_t flen = colon ? (size_t)(colon - p) : len;
		int f = -1;
		for (int k = 0; k < 5; k++)
			if (strlen(fn_names[k]) == flen &&
			    memcmp(p, fn_names[k], flen) == 0)
				f = k;
		if (f < 0)
			return eau2_error_set(err, -EINVAL, "groupby: agg: unknown "
					      "function '%.*s' (count, sum, mean, "
					      "min, max)", (int)(flen > 64 ? 64 : flen), p);
		if (!colon) {
			if (f != FN_COUNT)
				return eau2_error_set(err, -EINVAL, "groupby: agg: "
						      "%s needs a column (%s:COLUMN)",
						      fn_names[f], fn_names[f]);
			s->want_count = true;
		} else {
			char name[EAU2_NAME_MAX + 1];
			size_t nlen = len - flen - 1;
			int col = -ENOENT;
			if (nlen <= EAU2_NAME_MAX) {
				memcpy(name, colon + 1, nlen);
				name[nlen] = 0;
				col = eau2_schema_find(schema, name);
			}
			if (col < 0)
				return eau2_error_set(err, -ENOENT, "groupby: agg: "
						      "unknown column '%.*s'",
						      (int)(nlen > 255 ? 255 : nlen),
						      colon + 1);
			enum eau2_type t = eau2_schema_type(schema, (size_t)col);
			if (f != FN_COUNT && t != EAU2_INT && t != EAU2_DOUBLE)
				return eau2_error_set(err, -EINVAL, "groupby: agg: "
						      "%s needs an int or double "
						      "column; '%s' is %s", fn_names[f],
						      name, eau2_type_name(t));
			s->aggs[s->naggs++] = (struct agg){
				.fn = (enum fn)f, .col = (size_t)col, .type = t };
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/* Zeroed memory for a large table: anonymous pages asked for as huge
 * pages (the tables are probed at random: fewer TLB misses) and faulted
 * in writable up front, so that the first write to a page that was first
 * read does not take a copy-on-write fault (with a TLB shootdown of every
 * other worker's CPU) in the middle of the probe loop. */
static void *big_zalloc(size_t bytes)
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

/* A single int key whose values (chunk min/max over the whole input) span
 * a small range gets direct mode: the key minus the minimum is the group
 * id, so a row costs no hashing and no probe, and the groups come out in
 * key order. The table costs (range + 1) records per state, bounded by
 * DIRECT_MAX_BYTES and by what hashing would cost if every row were a
 * group of its own (record, two slots, key: stride + 5 words per input
 * row), at least 1 MiB. A bool
 * key always fits. Values outside the range (a chunk whose header lied,
 * or a decoded state from another input) demote the state to hashing. */
#define DIRECT_MAX_BYTES (512ull << 20)

static int choose_direct(struct gb *s, const eau2_df *df)
{
	int64_t lo = 0, hi = 1;
	size_t bytes;

	if (!df)
		return 0;
	if (s->ktypes[0] == EAU2_INT) {
		bool any = false;
		for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
			struct eau2_chunk_view v;
			struct eau2_error e;
			if (eau2_df_chunk(df, s->keys[0], g, &v, &e) < 0)
				return 0; /* the run will report it */
			if (v.rows == v.null_count)
				continue;
			if (!v.has_minmax || v.min.i > v.max.i)
				return 0;
			if (!any || v.min.i < lo)
				lo = v.min.i;
			if (!any || v.max.i > hi)
				hi = v.max.i;
			any = true;
		}
		if (!any)
			hi = lo = 0;
	}
	uint64_t range = (uint64_t)hi - (uint64_t)lo; /* + 1 below */
	uint64_t rows = eau2_df_rows(df);
	uint64_t limit = rows > DIRECT_MAX_BYTES ? DIRECT_MAX_BYTES
		       : rows * (s->stride + 5) * sizeof(*s->rec);
	if (limit < (1u << 20))
		limit = 1u << 20;
	if (limit > DIRECT_MAX_BYTES)
		limit = DIRECT_MAX_BYTES;
	if (range >= limit / sizeof(*s->rec) ||
	    (range + 2) * s->stride * sizeof(*s->rec) > limit)
		return 0;
	bytes = (size_t)(range + 2) * s->stride * sizeof(*s->rec);
	if (bytes < (256u << 10)) {
		s->rec = calloc(1, bytes);
	} else {
		s->rec = big_zalloc(bytes);
		s->rec_mapped = s->rec ? bytes : 0;
	}
	if (!s->rec)
		return -ENOMEM;
	s->direct = true;
	s->dmin = lo;
	s->drange = (uint32_t)range + 1;
	s->ngroups = s->cap = s->drange + 1;
	return 0;
}

static int gb_setup(struct gb *s, const eau2_schema *schema, const eau2_df *df,
		    const struct eau2_args *args, struct eau2_error *err)
{
	const char *by = eau2_args_get(args, "by");
	const char *agg = eau2_args_get(args, "agg");
	int rc;

	s->null_id = -1;
	s->in = schema;
	if (!by)
		return eau2_error_set(err, -EINVAL, "groupby: missing argument "
				      "by=COLUMN[,COLUMN...]");
	if ((rc = eau2_rowers_columns(schema, by, "groupby: by", &s->keys,
				      &s->nkeys, err)))
		return rc;
	s->ktypes = calloc(s->nkeys, sizeof(*s->ktypes));
	if (!s->ktypes)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (size_t k = 0; k < s->nkeys; k++) {
		enum eau2_type t = eau2_schema_type(schema, s->keys[k]);
		if (t == EAU2_DOUBLE)
			return eau2_error_set(err, -EINVAL, "groupby: by: column "
					      "'%s' is double; keys must be int, "
					      "bool or string",
					      eau2_schema_name(schema, s->keys[k]));
		s->ktypes[k] = t;
	}
	if ((rc = parse_aggs(s, schema, agg ? agg : "count", err)))
		return rc;
	s->stride = 1;
	for (size_t a = 0; a < s->naggs; a++) {
		struct agg *g = &s->aggs[a];
		g->off = s->stride;
		s->stride += g->fn == FN_COUNT ? 1 :
			     g->type == EAU2_DOUBLE && g->fn != FN_MIN &&
			     g->fn != FN_MAX ? 3 :
			     g->type == EAU2_INT && g->fn == FN_MEAN ? 3 : 2;
	}
	s->intkey = s->nkeys == 1 && s->ktypes[0] != EAU2_STRING;
	if (!(s->gid = malloc(BATCH * sizeof(*s->gid))))
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	if (s->intkey) {
		if (choose_direct(s, df) < 0)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		if (s->direct)
			return 0;
		s->smask = 1023;
		s->slots = calloc(s->smask + 1, sizeof(*s->slots));
		if (!s->slots)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		return 0;
	}
	s->dict = calloc(s->nkeys, sizeof(*s->dict));
	s->pairs = calloc(s->nkeys, sizeof(*s->pairs));
	s->cid = malloc(s->nkeys * BATCH * sizeof(*s->cid));
	if (!s->dict || !s->pairs || !s->cid)
		return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	for (size_t k = 0; k < s->nkeys; k++)
		if (!cdict_init(&s->dict[k], s->ktypes[k]) ||
		    (k + 1 < s->nkeys && !umap_init(&s->pairs[k])))
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory");
	return 0;
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

static inline size_t slot_of(int64_t k, size_t mask)
{
	return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static int rehash(struct gb *s)
{
	size_t mask = s->smask * 2 + 1, bytes = (mask + 1) * sizeof(struct slot);
	/* Not calloc: pages must be faulted in writable now, not as the zero
	 * page that the first insert into it would then copy (with a TLB
	 * shootdown) in the probe loop. Large tables get huge pages. */
	bool big = bytes >= (4u << 20);
	struct slot *slots = big ? big_zalloc(bytes) : malloc(bytes);

	if (!slots)
		return -ENOMEM;
	if (!big)
		memset(slots, 0, bytes);
	for (size_t j = 0; j <= s->smask; j++) {
		if (!s->slots[j].id1)
			continue;
		size_t p = slot_of(s->slots[j].key, mask);
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
	size_t p = slot_of(k, s->smask);

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

/* Direct mode: does group j exist; the null group; the key of j. */
static inline bool present(const struct gb *s, uint32_t j)
{
	return !s->direct || s->rec[(size_t)j * s->stride].i != 0;
}

static inline bool null_group(const struct gb *s, uint32_t j)
{
	return s->direct ? j == s->drange : (int64_t)j == s->null_id;
}

static inline int64_t group_key(const struct gb *s, uint32_t j)
{
	return s->direct ? (int64_t)((uint64_t)s->dmin + j) : s->gkey[j];
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
static int64_t key_group(struct gb *s, int64_t k, bool isnull)
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
 * Strings up to 8 bytes are compared as one 64-bit word (their bytes,
 * zero-padded) and their length: no byte hashing, no memcmp; longer ones
 * by XXH3 hash and length, then bytes. Values are copied once per
 * distinct value into the dictionary's byte arena and addressed by
 * offset (no per-key allocation). */

static inline uint64_t word_pos(uint64_t a, uint32_t len)
{
	return eau2_hash_u64(a ^ ((uint64_t)len << 56));
}

static int cdict_grow(struct cdict *d)
{
	size_t mask = d->mask * 2 + 1;
	struct cslot *slots = calloc(mask + 1, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j <= d->mask; j++) {
		const struct cslot *o = &d->slots[j];
		if (!o->id1)
			continue;
		size_t p = (o->len > 8 ? o->a : word_pos(o->a, o->len)) & mask;
		while (slots[p].id1)
			p = (p + 1) & mask;
		slots[p] = *o;
	}
	free(d->slots);
	d->slots = slots;
	d->mask = mask;
	return 0;
}

/* A new cid for a value (a, len: as in the slot; p: string bytes) at
 * empty slot j, or for null (j = SIZE_MAX: no slot). */
static int64_t cdict_add(struct cdict *d, uint64_t a, uint32_t len,
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
	d->slots[j] = (struct cslot){ .a = a, .len = len, .id1 = id + 1 };
	/* Load <= 1/4: with the few distinct values a key column usually
	 * has, a probe almost always hits its first slot (a miss costs a
	 * mispredicted branch, more than the memory). */
	if ((size_t)d->n * 4 > d->mask) {
		int rc = cdict_grow(d);
		if (rc < 0 && (size_t)d->n * 2 >= d->mask)
			return rc;
	}
	return id;
}

/* cid of an int/bool value (len 0) or of a string of len <= 8 bytes whose
 * zero-padded bytes are a (p: the bytes, copied when new). */
static inline int64_t cdict_word(struct cdict *d, uint64_t a, uint32_t len,
				 const char *p)
{
	size_t j = word_pos(a, len) & d->mask;

	for (;;) {
		const struct cslot *sl = &d->slots[j];
		if (sl->a == a && sl->len == len && sl->id1)
			return sl->id1 - 1;
		if (!sl->id1)
			return cdict_add(d, a, len, p, j);
		j = (j + 1) & d->mask;
	}
}

/* cid of a string longer than 8 bytes. */
static int64_t cdict_long(struct cdict *d, const char *p, size_t len)
{
	uint64_t h = XXH3_64bits(p, len);
	size_t j = h & d->mask;

	if (len >= UINT32_MAX)
		return -E2BIG;
	for (;;) {
		const struct cslot *sl = &d->slots[j];
		if (!sl->id1)
			return cdict_add(d, h, (uint32_t)len, p, j);
		if (sl->a == h && sl->len == len &&
		    memcmp(d->arena + d->vals[sl->id1 - 1].a, p, len) == 0)
			return sl->id1 - 1;
		j = (j + 1) & d->mask;
	}
}

static int64_t cdict_null(struct cdict *d)
{
	return d->null_id >= 0 ? d->null_id : cdict_add(d, 0, 0, NULL, SIZE_MAX);
}

/* cid of any value: null, int/bool i, or string p[len]. */
static int64_t cdict_any(struct cdict *d, bool isnull, int64_t i,
			 const char *p, size_t len)
{
	uint64_t a = 0;

	if (isnull)
		return cdict_null(d);
	if (d->type != EAU2_STRING)
		return cdict_word(d, (uint64_t)i, 0, NULL);
	if (len > 8)
		return cdict_long(d, p, len);
	if (len)
		memcpy(&a, p, len);
	return cdict_word(d, a, (uint32_t)len, p);
}

/* cids of rows from..from+n of view v into out. */
static int column_cids(struct cdict *d, const struct eau2_chunk_view *v,
		       uint32_t from, uint32_t n, uint32_t *out)
{
	bool all = !v->validity || v->null_count == 0;
	int64_t id = 0;

	if (v->type == EAU2_STRING) {
		const int64_t *off = v->values.offsets;
		const char *data = v->data;
		int64_t end = off[v->rows];
		for (uint32_t i = 0; i < n; i++) {
			uint32_t r = from + i;
			int64_t o = off[r], len = off[r + 1] - o;
			if (!all && !eau2_view_valid(v, r)) {
				id = cdict_null(d);
			} else if (len <= 8) {
				/* One unaligned load when 8 bytes are there;
				 * the masked word is the zero-padded string. */
				uint64_t a = 0;
				if (o + 8 <= end) {
					memcpy(&a, data + o, 8);
					a &= len ? ~0ull >> (64 - 8 * len) : 0;
				} else if (len > 0) {
					memcpy(&a, data + o, (size_t)len);
				}
				id = cdict_word(d, a, (uint32_t)len, data + o);
			} else {
				id = cdict_long(d, data + o, (size_t)len);
			}
			if (id < 0)
				return (int)id;
			out[i] = (uint32_t)id;
		}
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = from + i;
		if (!all && !eau2_view_valid(v, r))
			id = cdict_null(d);
		else
			id = cdict_word(d, v->type == EAU2_INT ? (uint64_t)v->values.i64[r]
					: eau2_view_bool(v, r), 0, NULL);
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
		struct uslot *slots = calloc(mask + 1, sizeof(*slots));
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
static int64_t cids_group(struct gb *s, const uint32_t *c, size_t cstride)
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
		if ((rc = column_cids(&s->dict[k], &g->cols[s->keys[k]], from, n,
				      s->cid + k * BATCH)))
			return rc;
	if (s->nkeys == 1) {
		memcpy(s->gid, s->cid, n * sizeof(*s->gid));
		if (s->dict[0].n > s->ngroups &&
		    cids_group(s, &(uint32_t){ s->dict[0].n - 1 }, 0) < 0)
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
					id = cids_group(s, s->cid + i, BATCH);
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
		int64_t id = cids_group(s, s->cid + i, BATCH);
		if (id < 0)
			return (int)id;
		s->gid[i] = (uint32_t)id;
	}
	return 0;
}

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
		id = cdict_any(&s->dict[k], isnull, i, p, m);
		p += m;
		if (id < 0)
			return id;
		c[k] = (uint32_t)id;
	}
	return cids_group(s, c, 1);
}

/* ---------------------------------------------------------- aggregates */

static inline void neumaier(double *s, double *c, double x)
{
	double t = *s + x;
	/* Both branches computed, one chosen: no data-dependent branch. */
	double big = fabs(*s) >= fabs(x) ? *s : x;
	double small = fabs(*s) >= fabs(x) ? x : *s;

	*c += (big - t) + small;
	*s = t;
}

/* Order for min/max: NaN is greater than every number (as in Postgres),
 * so the result does not depend on the order of the rows. */
static inline bool dless(double a, double b)
{
	return isnan(b) ? !isnan(a) : a < b;
}

static int sum_overflow(const struct gb *s, const struct agg *a,
			struct eau2_error *err)
{
	return eau2_error_set(err, -ERANGE, "groupby: sum:%s overflows int64",
			      eau2_schema_name(s->in, a->col));
}

static inline void add128(union word *w, int64_t x)
{
	uint64_t lo = w[0].u + (uint64_t)x;

	w[1].u += (uint64_t)(x >> 63) + (lo < w[0].u);
	w[0].u = lo;
}

static inline double get128(const union word *w)
{
	return (double)(__int128)(((unsigned __int128)w[1].u << 64) | w[0].u);
}

static int update(struct gb *s, struct agg *a, const struct eau2_chunk_view *v,
		  const uint32_t *gid, uint32_t from, uint32_t n,
		  struct eau2_error *err)
{
	union word *rec = s->rec + a->off;
	size_t stride = s->stride;
	bool all = !v->validity || v->null_count == 0;

	/* body sees w (the aggregate's words in the row's group) and r. */
#define EACH(body) do { \
	if (all) { \
		for (uint32_t i = 0; i < n; i++) { \
			union word *w = rec + gid[i] * stride; \
			uint32_t r = from + i; \
			body; \
		} \
	} else { \
		for (uint32_t i = 0; i < n; i++) { \
			union word *w = rec + gid[i] * stride; \
			uint32_t r = from + i; \
			if (!eau2_view_valid(v, r)) \
				continue; \
			body; \
		} \
	} \
} while (0)

	if (a->fn == FN_COUNT) {
		EACH((void)r; w[0].i++);
		return 0;
	}
	if (a->type == EAU2_INT) {
		const int64_t *x = v->values.i64;
		switch (a->fn) {
		case FN_SUM: {
			bool ov = false;
			EACH(ov |= __builtin_add_overflow(w[1].i, x[r], &w[1].i);
			     w[0].i++);
			if (ov)
				return sum_overflow(s, a, err);
			return 0;
		}
		case FN_MEAN:
			EACH(add128(w + 1, x[r]); w[0].i++);
			return 0;
		case FN_MIN:
			EACH(if (!w[0].i++ || x[r] < w[1].i) w[1].i = x[r]);
			return 0;
		default:
			EACH(if (!w[0].i++ || x[r] > w[1].i) w[1].i = x[r]);
			return 0;
		}
	}
	const double *x = v->values.f64;
	switch (a->fn) {
	case FN_SUM:
	case FN_MEAN:
		EACH(neumaier(&w[1].d, &w[2].d, x[r]); w[0].i++);
		return 0;
	case FN_MIN:
		EACH(if (!w[0].i++ || dless(x[r], w[1].d)) w[1].d = x[r]);
		return 0;
	default:
		EACH(if (!w[0].i++ || dless(w[1].d, x[r])) w[1].d = x[r]);
		return 0;
	}
#undef EACH
}

/* --------------------------------------------------------------- class */

static int gb_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	((struct gb *)state)->threads = ctx->threads;
	return gb_setup(state, eau2_df_schema(ctx->input), ctx->input, ctx->args,
			err);
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

static int gb_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct gb *s = state;
	int rc;

	for (uint32_t from = 0; from < g->rows; from += BATCH) {
		uint32_t n = g->rows - from < BATCH ? g->rows - from : BATCH;
		if (s->direct) {
			int drc = direct_ids(s, &g->cols[s->keys[0]], from, n);
			if (drc < 0)
				goto nomem;
		}
		if (s->direct) {
			/* ids are set */
		} else if (s->intkey) {
			const struct eau2_chunk_view *v = &g->cols[s->keys[0]];
			bool all = !v->validity || v->null_count == 0;
			/* With many groups every probe misses the cache: fetch
			 * the slot of the row PREFETCH ahead while this one waits. */
			bool ints = v->type == EAU2_INT;
			const int64_t *kv = v->values.i64;
			for (uint32_t i = 0; i < n; i++) {
				uint32_t r = from + i;
				if (ints && i + PREFETCH < n)
					__builtin_prefetch(&s->slots[slot_of(
						kv[r + PREFETCH], s->smask)]);
				int64_t k = ints ? kv[r] : eau2_view_bool(v, r);
				int64_t id = int_group(s, k, !all && !eau2_view_valid(v, r));
				if (id < 0)
					goto nomem;
				s->gid[i] = (uint32_t)id;
			}
		} else if (dict_ids(s, g, from, n) < 0) {
			goto nomem;
		}
		/* Sub-batches of SUB rows: the first loop takes the cache
		 * misses (fetching PREFETCH rows ahead), the aggregate loops
		 * then find the SUB rows' records in L1. A record may straddle
		 * two cache lines: fetch both ends. */
		/* Tables that fit in L2 need no prefetch. */
		bool far = (size_t)s->ngroups * s->stride * sizeof(*s->rec) >
			   (256u << 10);
		for (uint32_t sub = 0; sub < n; sub += SUB) {
			uint32_t m = n - sub < SUB ? n - sub : SUB;
			const uint32_t *gid = s->gid + sub;
			for (uint32_t i = 0; far && i < m; i++) {
				if (sub + i + PREFETCH < n) {
					union word *p = s->rec +
						(size_t)gid[i + PREFETCH] * s->stride;
					__builtin_prefetch(p, 1);
					__builtin_prefetch(p + s->stride - 1, 1);
				}
				s->rec[(size_t)gid[i] * s->stride].i++;
			}
			for (uint32_t i = 0; !far && i < m; i++)
				s->rec[(size_t)gid[i] * s->stride].i++;
			for (size_t a = 0; a < s->naggs; a++)
				if ((rc = update(s, &s->aggs[a],
						 &g->cols[s->aggs[a].col], gid,
						 from + sub, m, err)))
					return rc;
		}
	}
	return 0;
nomem:
	return eau2_error_set(err, -ENOMEM, "groupby: out of memory (or more "
			      "than 2^31 groups) in row group %zu", g->group);
}

/* Adds record ro into record rs (both of states with s's spec). */
static int merge_words(const struct gb *s, union word *rs, const union word *ro,
		       struct eau2_error *err)
{
	/* Records may come from a decoded state (another process or host):
	 * counts are checked, not trusted. */
	if (ro[0].i < 0 || __builtin_add_overflow(rs[0].i, ro[0].i, &rs[0].i))
		return eau2_error_set(err, -EBADMSG, "groupby: group count out of range "
				      "(corrupt state?)");
	for (size_t k = 0; k < s->naggs; k++) {
		const struct agg *a = &s->aggs[k];
		union word *x = rs + a->off;
		const union word *y = ro + a->off;
		if (!y[0].i)
			continue;
		bool first = x[0].i == 0;
		if (y[0].i < 0 || __builtin_add_overflow(x[0].i, y[0].i, &x[0].i))
			return eau2_error_set(err, -EBADMSG, "groupby: count of aggregate %zu "
					      "out of range (corrupt state?)", k + 1);
		if (a->fn == FN_COUNT)
			continue;
		if (a->type == EAU2_INT) {
			if (a->fn == FN_SUM) {
				if (__builtin_add_overflow(x[1].i, y[1].i, &x[1].i))
					return sum_overflow(s, a, err);
			} else if (a->fn == FN_MEAN) {
				uint64_t lo = x[1].u + y[1].u;
				x[2].u += y[2].u + (lo < x[1].u);
				x[1].u = lo;
			} else if (first || (a->fn == FN_MIN ? y[1].i < x[1].i
							    : y[1].i > x[1].i)) {
				x[1].i = y[1].i;
			}
		} else if (a->fn == FN_SUM || a->fn == FN_MEAN) {
			neumaier(&x[1].d, &x[2].d, y[1].d);
			x[2].d += y[2].d;
		} else if (first || (a->fn == FN_MIN ? dless(y[1].d, x[1].d)
						     : dless(x[1].d, y[1].d))) {
			x[1].d = y[1].d;
		}
	}
	return 0;
}

/* Adds record ro (of a state with the same spec) into group id of s. */
static int merge_record(struct gb *s, int64_t id, const union word *ro,
			struct eau2_error *err)
{
	return merge_words(s, s->rec + (size_t)id * s->stride, ro, err);
}

/* Dictionary mode: o's cids are translated to s's (one lookup per
 * distinct value of o), then each of o's groups is found by its tuple. */
static int dict_join(struct gb *s, const struct gb *o, struct eau2_error *err)
{
	uint32_t **xlat = calloc(s->nkeys, sizeof(*xlat));
	uint32_t c[EAU2_COLS_MAX];
	int rc = 0;

	if (!xlat)
		goto nomem;
	for (size_t k = 0; k < s->nkeys; k++) {
		const struct cdict *od = &o->dict[k];
		if (!(xlat[k] = malloc(((size_t)od->n + 1) * sizeof(**xlat))))
			goto nomem;
		for (uint32_t i = 0; i < od->n; i++) {
			const struct cval *v = &od->vals[i];
			int64_t id = cdict_any(&s->dict[k], v->isnull, (int64_t)v->a,
					       od->arena + (od->type == EAU2_STRING &&
							    !v->isnull ? v->a : 0),
					       v->len);
			if (id < 0)
				goto nomem;
			xlat[k][i] = (uint32_t)id;
		}
	}
	for (uint32_t j = 0; j < o->ngroups; j++) {
		for (size_t k = 0; k < s->nkeys; k++)
			c[k] = xlat[k][o->gcid[(size_t)j * s->nkeys + k]];
		int64_t id = cids_group(s, c, 1);
		if (id < 0)
			goto nomem;
		if ((rc = merge_record(s, id, o->rec + (size_t)j * o->stride, err)))
			goto out;
	}
	goto out;
nomem:
	rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory joining states");
out:
	for (size_t k = 0; xlat && k < s->nkeys; k++)
		free(xlat[k]);
	free(xlat);
	return rc;
}

static int gb_join(void *state, void *other_state, struct eau2_error *err)
{
	struct gb *s = state, *o = other_state;
	int rc;

	if (s->direct && o->direct && s->dmin == o->dmin &&
	    s->drange == o->drange) {
		/* Same layout (same input): record j goes to group j. */
		for (uint32_t j = 0; j < o->ngroups; j++)
			if (present(o, j) &&
			    (rc = merge_record(s, j, o->rec + (size_t)j * o->stride,
					       err)))
				return rc;
		return 0;
	}
	if (!s->intkey)
		return dict_join(s, o, err);
	if (!s->direct && !o->direct &&
	    (s->npend || (uint64_t)s->ngroups + o->ngroups >= LAZY_GROUPS)) {
		/* Many groups: merging o here would be one serial pass of
		 * cache misses; finish merges every state at once, in
		 * parallel by key range. o keeps nothing (destroy frees
		 * nothing). */
		struct gb *m = malloc(sizeof(*m));
		void *q = realloc(s->pend, (s->npend + 1) * sizeof(*s->pend));
		if (!m || !q) {
			free(m);
			if (q)
				s->pend = q;
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory "
					      "joining states");
		}
		s->pend = q;
		*m = *o;
		memset(o, 0, sizeof(*o));
		s->pend[s->npend++] = m;
		return 0;
	}
	for (uint32_t j = 0; j < o->ngroups; j++) {
		int64_t id;
		/* Many groups: each probe misses the cache; fetch ahead. */
		if (!s->direct && !o->direct && j + PREFETCH < o->ngroups) {
			__builtin_prefetch(&s->slots[slot_of(o->gkey[j + PREFETCH],
							     s->smask)]);
			__builtin_prefetch(o->rec + (size_t)(j + PREFETCH) * o->stride);
		}
		if (!present(o, j))
			continue;
		id = key_group(s, group_key(o, j), null_group(o, j));
		if (id < 0)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory "
					      "joining states");
		if ((rc = merge_record(s, id, o->rec + (size_t)j * o->stride, err)))
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------ encode / decode */

/* Encoding: magic, nkeys, naggs, stride, ngroups, then per group its key
 * (intkey: null flag and value; else the serialised tuple as length +
 * bytes) and its record (stride words). Host byte order: little endian. */
#define GB_MAGIC 0x3159424755414545ull /* "EAUGBY1" */

static int gb_encode(const void *state, void **buf, size_t *len,
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
			n += present(t, j);
	}
	rc = eau2_buf_u64(&b, GB_MAGIC) ?: eau2_buf_u64(&b, s->nkeys) ?:
	     eau2_buf_u64(&b, s->naggs) ?: eau2_buf_u64(&b, s->stride) ?:
	     eau2_buf_u64(&b, n);
	for (size_t k = 0; k <= s->npend && rc == 0; k++) {
		const struct gb *t = k ? s->pend[k - 1] : s;
		for (uint32_t j = 0; j < t->ngroups && rc == 0; j++) {
			if (!present(t, j))
				continue;
			if (t->intkey) {
				bool isnull = null_group(t, j);
				rc = eau2_buf_u64(&b, isnull) ?:
				     eau2_buf_u64(&b, isnull ? 0
						  : (uint64_t)group_key(t, j));
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

static int gb_decode(void *state, const void *buf, size_t len,
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
			id = key_group(s, (int64_t)key, isnull);
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
		if ((rc = merge_record(s, id, rec, err)))
			goto out;
	}
	rc = r.pos == len ? 0 : eau2_error_set(err, -EBADMSG, "groupby: decode: "
					       "%zu trailing bytes", len - r.pos);
out:
	free(rec);
	return rc;
}

/* ------------------------------------------------------------- finish */

static int out_schema(const struct gb *s, const eau2_schema *in,
		      eau2_schema **out, struct eau2_error *err)
{
	char name[2 * EAU2_NAME_MAX];
	int rc;

	if ((rc = eau2_schema_new(out, err)))
		return rc;
	for (size_t k = 0; k < s->nkeys; k++)
		if ((rc = eau2_schema_add(*out, eau2_schema_name(in, s->keys[k]),
					  s->ktypes[k], err)))
			return rc;
	if (s->want_count && (rc = eau2_schema_add(*out, "count", EAU2_INT, err)))
		return rc;
	for (size_t k = 0; k < s->naggs; k++) {
		const struct agg *a = &s->aggs[k];
		enum eau2_type t = a->fn == FN_COUNT ? EAU2_INT :
				   a->fn == FN_MEAN ? EAU2_DOUBLE : a->type;
		snprintf(name, sizeof(name), "%s_%s", fn_names[a->fn],
			 eau2_schema_name(in, a->col));
		if (strlen(name) > EAU2_NAME_MAX)
			return eau2_error_set(err, -EINVAL, "groupby: result column "
					      "name '%.40s...' is too long", name);
		if ((rc = eau2_schema_add(*out, name, t, err)))
			return rc;
	}
	return 0;
}

static int emit_aggs(const struct gb *s, eau2_builder *b, size_t col,
		     const union word *rw, struct eau2_error *err);

static int emit_row(const struct gb *s, eau2_builder *b, uint32_t id,
		    struct eau2_error *err)
{
	size_t col = 0;
	int rc = 0;

	if (s->intkey) {
		if (null_group(s, id))
			rc = eau2_builder_append_null(b, col, err);
		else if (s->ktypes[0] == EAU2_BOOL)
			rc = eau2_builder_append_bool(b, col, group_key(s, id) != 0,
						      err);
		else
			rc = eau2_builder_append_int(b, col, group_key(s, id), err);
		col++;
	} else {
		for (size_t k = 0; k < s->nkeys && rc == 0; k++, col++) {
			const struct cdict *d = &s->dict[k];
			const struct cval *v = &d->vals[s->gcid[(size_t)id * s->nkeys + k]];
			if (v->isnull)
				rc = eau2_builder_append_null(b, col, err);
			else if (s->ktypes[k] == EAU2_INT)
				rc = eau2_builder_append_int(b, col, (int64_t)v->a, err);
			else if (s->ktypes[k] == EAU2_BOOL)
				rc = eau2_builder_append_bool(b, col, v->a != 0, err);
			else
				rc = eau2_builder_append_string(b, col, d->arena + v->a,
								v->len, err);
		}
	}
	return rc ? rc : emit_aggs(s, b, col, s->rec + (size_t)id * s->stride, err);
}

/* The aggregate columns (from col on) of a group's record rw. */
static int emit_aggs(const struct gb *s, eau2_builder *b, size_t col,
		     const union word *rw, struct eau2_error *err)
{
	int rc = 0;

	if (s->want_count)
		rc = eau2_builder_append_int(b, col++, rw[0].i, err);
	for (size_t k = 0; k < s->naggs && rc == 0; k++, col++) {
		const struct agg *a = &s->aggs[k];
		const union word *w = rw + a->off;
		if (a->fn == FN_COUNT) {
			rc = eau2_builder_append_int(b, col, w[0].i, err);
		} else if (!w[0].i) {
			rc = eau2_builder_append_null(b, col, err);
		} else if (a->fn == FN_MEAN) {
			double m;
			if (a->type == EAU2_INT) {
				m = get128(w + 1) / (double)w[0].i;
			} else {
				double t = w[1].d;
				if (isfinite(t))
					t += w[2].d;
				m = t / (double)w[0].i;
			}
			rc = eau2_builder_append_double(b, col, m, err);
		} else if (a->type == EAU2_INT) {
			rc = eau2_builder_append_int(b, col, w[1].i, err);
		} else {
			double t = w[1].d;
			if (a->fn == FN_SUM && isfinite(t))
				t += w[2].d;
			rc = eau2_builder_append_double(b, col, t, err);
		}
	}
	return rc;
}

/* ----------------------------------------------------- parallel merge */

/* finish of an int hash state with joined states pending (pend): every
 * state's groups are split into PARTS key ranges (counting sort of group
 * ids, one pass per state); the run's threads take one range at a time
 * and merge it, state by state in join order (so each group's record is
 * the one serial joins would give), into a small table of its own that
 * stays in cache, then sort it by key. The ranges, emitted in order, are
 * the sorted result.
 *
 * Access rules: struct pmerge is shared by the merging threads; next and
 * failed are atomics, rc and err are written under lock, parts[p] only by
 * the thread that took range p; everything else is read-only until the
 * threads are joined. */
struct part {
	uint32_t n;              /* groups in this range */
	int64_t *keys;           /* n keys, sorted */
	union word *rec;         /* their records, same order */
};
struct pmerge {
	const struct gb *s;
	const struct gb **st;    /* nst states: s, then pend in join order */
	size_t nst;
	uint32_t **idx;          /* per state: its non-null group ids by range */
	uint32_t **start;        /* per state: PARTS + 1 offsets into idx */
	int64_t kmin;
	uint64_t span;           /* kmax - kmin */
	struct part *parts;      /* PARTS */
	atomic_uint next;
	atomic_int failed;
	pthread_mutex_t lock;
	int rc;
	struct eau2_error err;
};

static inline uint32_t part_of(const struct pmerge *m, int64_t k)
{
	return (uint32_t)(((unsigned __int128)((uint64_t)k - (uint64_t)m->kmin) *
			   PARTS) / ((unsigned __int128)m->span + 1));
}

static int merge_part(struct pmerge *m, uint32_t p, struct eau2_error *err)
{
	const struct gb *s = m->s;
	size_t total = 0, mask = 15, stride = s->stride;
	struct part *out = &m->parts[p];
	struct slot *slots = NULL;
	struct ikey *ik = NULL;
	union word *rec = NULL;
	uint32_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < m->nst; i++)
		total += m->start[i][p + 1] - m->start[i][p];
	if (!total)
		return 0;
	while (mask + 1 < 2 * total)
		mask = mask * 2 + 1;
	slots = calloc(mask + 1, sizeof(*slots));
	ik = malloc(2 * total * sizeof(*ik));
	rec = malloc(total * stride * sizeof(*rec));
	out->keys = malloc(total * sizeof(*out->keys));
	out->rec = malloc(total * stride * sizeof(*out->rec));
	if (!slots || !ik || !rec || !out->keys || !out->rec) {
		rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory merging "
				    "states");
		goto out;
	}
	for (size_t i = 0; i < m->nst; i++) {
		const struct gb *t = m->st[i];
		for (uint32_t q = m->start[i][p]; q < m->start[i][p + 1]; q++) {
			uint32_t j = m->idx[i][q];
			int64_t k = t->gkey[j];
			const union word *r = t->rec + (size_t)j * stride;
			size_t h = slot_of(k, mask);
			while (slots[h].id1 && slots[h].key != k)
				h = (h + 1) & mask;
			if (!slots[h].id1) {
				slots[h] = (struct slot){ .key = k, .id1 = n + 1 };
				memcpy(rec + (size_t)n * stride, r, stride * sizeof(*r));
				ik[n] = (struct ikey){ k, n };
				n++;
			} else if ((rc = merge_words(s, rec + (size_t)(slots[h].id1 - 1) *
						     stride, r, err))) {
				goto out;
			}
		}
	}
	eau2_gb_radix_ikeys(ik, ik + total, n);
	for (uint32_t j = 0; j < n; j++) {
		out->keys[j] = ik[j].k;
		memcpy(out->rec + (size_t)j * stride, rec + (size_t)ik[j].id * stride,
		       stride * sizeof(*rec));
	}
	out->n = n;
out:
	free(slots);
	free(ik);
	free(rec);
	return rc;
}

static void *merge_worker(void *arg)
{
	struct pmerge *m = arg;
	struct eau2_error e = {0};

	while (!atomic_load(&m->failed)) {
		uint32_t p = atomic_fetch_add(&m->next, 1);
		if (p >= PARTS)
			break;
		int rc = merge_part(m, p, &e);
		if (rc) {
			pthread_mutex_lock(&m->lock);
			if (!m->rc) {
				m->rc = rc;
				m->err = e;
			}
			pthread_mutex_unlock(&m->lock);
			atomic_store(&m->failed, 1);
		}
	}
	return NULL;
}

/* Appends the merged groups of s and its pending states to b, sorted by
 * key, the null key last. */
static int emit_merged(const struct gb *s, eau2_builder *b,
		       struct eau2_error *err)
{
	struct pmerge m = { .s = s, .nst = s->npend + 1 };
	union word *nullrec = NULL;
	pthread_t tids[64];
	unsigned started = 0;
	bool any = false;
	int rc = 0;

	atomic_init(&m.next, 0);
	atomic_init(&m.failed, 0);
	pthread_mutex_init(&m.lock, NULL);
	m.st = calloc(m.nst, sizeof(*m.st));
	m.idx = calloc(m.nst, sizeof(*m.idx));
	m.start = calloc(m.nst, sizeof(*m.start));
	m.parts = calloc(PARTS, sizeof(*m.parts));
	nullrec = calloc(s->stride, sizeof(*nullrec));
	if (!m.st || !m.idx || !m.start || !m.parts || !nullrec)
		goto nomem;
	for (size_t i = 0; i < m.nst; i++)
		m.st[i] = i ? s->pend[i - 1] : s;
	/* The key range, and the null group (merged here, in join order). */
	int64_t kmax = 0;
	for (size_t i = 0; i < m.nst; i++) {
		const struct gb *t = m.st[i];
		for (uint32_t j = 0; j < t->ngroups; j++) {
			if ((int64_t)j == t->null_id) {
				if ((rc = merge_words(s, nullrec, t->rec +
						      (size_t)j * t->stride, err)))
					goto out;
				continue;
			}
			if (!any || t->gkey[j] < m.kmin)
				m.kmin = t->gkey[j];
			if (!any || t->gkey[j] > kmax)
				kmax = t->gkey[j];
			any = true;
		}
	}
	m.span = (uint64_t)kmax - (uint64_t)m.kmin;
	/* Each state's group ids by range: a counting sort. */
	for (size_t i = 0; i < m.nst; i++) {
		const struct gb *t = m.st[i];
		uint32_t *start = calloc(PARTS + 1, sizeof(*start));
		m.start[i] = start;
		m.idx[i] = malloc(((size_t)t->ngroups + 1) * sizeof(**m.idx));
		if (!start || !m.idx[i])
			goto nomem;
		for (uint32_t j = 0; j < t->ngroups; j++)
			if ((int64_t)j != t->null_id)
				start[part_of(&m, t->gkey[j]) + 1]++;
		for (uint32_t p = 0; p < PARTS; p++)
			start[p + 1] += start[p];
		uint32_t fill[PARTS];
		memcpy(fill, start, sizeof(fill));
		for (uint32_t j = 0; j < t->ngroups; j++)
			if ((int64_t)j != t->null_id)
				m.idx[i][fill[part_of(&m, t->gkey[j])]++] = j;
	}
	/* This thread merges too; the others are extra hands (the merge
	 * still completes if none can be started). */
	for (unsigned w = 1; w < s->threads && w <= 64; w++) {
		if (pthread_create(&tids[started], NULL, merge_worker, &m) != 0)
			break;
		started++;
	}
	merge_worker(&m);
	for (unsigned w = 0; w < started; w++)
		pthread_join(tids[w], NULL);
	if (m.rc) {
		rc = m.rc;
		if (err)
			*err = m.err;
		goto out;
	}
	for (uint32_t p = 0; p < PARTS && rc == 0; p++) {
		const struct part *pt = &m.parts[p];
		for (uint32_t j = 0; j < pt->n && rc == 0; j++) {
			int64_t k = pt->keys[j];
			rc = (s->ktypes[0] == EAU2_BOOL
			      ? eau2_builder_append_bool(b, 0, k != 0, err)
			      : eau2_builder_append_int(b, 0, k, err)) ?:
			     emit_aggs(s, b, 1, pt->rec + (size_t)j * s->stride, err);
		}
	}
	if (rc == 0 && nullrec[0].i)
		rc = eau2_builder_append_null(b, 0, err) ?:
		     emit_aggs(s, b, 1, nullrec, err);
	goto out;
nomem:
	rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory merging states");
out:
	for (size_t i = 0; i < m.nst; i++) {
		if (m.idx)
			free(m.idx[i]);
		if (m.start)
			free(m.start[i]);
	}
	for (uint32_t p = 0; m.parts && p < PARTS; p++) {
		free(m.parts[p].keys);
		free(m.parts[p].rec);
	}
	free(m.idx);
	free(m.start);
	free(m.st);
	free(m.parts);
	free(nullrec);
	pthread_mutex_destroy(&m.lock);
	return rc;
}

static int gb_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct gb *s = state;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	struct ikey *ik = NULL;
	uint32_t n = s->ngroups, m = 0;
	int rc;

	*result = NULL;
	if ((rc = out_schema(s, eau2_df_schema(ctx->input), &schema, err)))
		goto out;
	if (s->npend) {
		if ((rc = eau2_builder_new(ctx->db, schema, &b, err)) ||
		    (rc = emit_merged(s, b, err)))
			goto out;
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
		goto out;
	}
	order = malloc(((size_t)n + 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
		goto out;
	}
	if (s->direct) {
		/* Ids are keys minus the minimum: already in key order. */
		for (uint32_t j = 0; j < s->drange; j++)
			if (present(s, j))
				order[m++] = j;
		if (present(s, s->drange))
			order[m++] = s->drange;
		n = m;
	} else if (s->intkey) {
		ik = malloc(2 * ((size_t)n + 1) * sizeof(*ik));
		if (!ik) {
			rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory");
			goto out;
		}
		for (uint32_t j = 0; j < n; j++)
			if ((int64_t)j != s->null_id)
				ik[m++] = (struct ikey){ s->gkey[j], j };
		if (m)
			eau2_gb_radix_ikeys(ik, ik + n + 1, m);
		for (uint32_t j = 0; j < m; j++)
			order[j] = ik[j].id;
		if (s->null_id >= 0)
			order[m++] = (uint32_t)s->null_id;
	} else if ((rc = eau2_gb_dict_order(s, order)) < 0) {
		rc = eau2_error_set(err, rc, "groupby: out of memory sorting groups");
		goto out;
	}
	if ((rc = eau2_builder_new(ctx->db, schema, &b, err)))
		goto out;
	for (uint32_t j = 0; j < n; j++)
		if ((rc = emit_row(s, b, order[j], err)))
			goto out;
	rc = eau2_builder_finish(b, result, err);
	b = NULL;
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	free(ik);
	return rc;
}

static void gb_destroy(void *state)
{
	gb_free(state);
}

static void gb_columns(const void *state, uint64_t *used, size_t ncols)
{
	const struct gb *s = state;

	(void)ncols;
	for (size_t k = 0; k < s->nkeys; k++)
		eau2_columns_set(used, s->keys[k]);
	for (size_t a = 0; a < s->naggs; a++)
		eau2_columns_set(used, s->aggs[a].col);
}

static const char *const gb_args[] = { "by", "agg", NULL };

const struct eau2_rower_class eau2_rower_groupby = {
	.name = "groupby",
	.summary = "hash group-by, sorted by key: by=K1[,K2...] "
		   "agg=count,sum:V,mean:V,min:V,max:V,count:V",
	.flags = 0,
	.state_size = sizeof(struct gb),
	.init = gb_init,
	.accept_chunk = gb_chunk,
	.join = gb_join,
	.encode = gb_encode,
	.decode = gb_decode,
	.finish = gb_finish,
	.destroy = gb_destroy,
	.columns = gb_columns,
	.args = gb_args,
};
