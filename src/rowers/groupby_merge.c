/* SPDX-License-Identifier: MIT */
/*
 * groupby_merge.c - joining group-by states: small states are merged
 * into the first at once; int hash states with many groups are kept
 * (pend) and merged by finish in parallel, by key range, then emitted in
 * key order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/groupby.h"

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
			int64_t id = eau2_gb_cdict_any(&s->dict[k], v->isnull, (int64_t)v->a,
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
		int64_t id = eau2_gb_cids_group(s, c, 1);
		if (id < 0)
			goto nomem;
		if ((rc = eau2_gb_merge_record(s, id, o->rec + (size_t)j * o->stride, err)))
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

int eau2_gb_join(void *state, void *other_state, struct eau2_error *err)
{
	struct gb *s = state, *o = other_state;
	int rc;

	if (s->direct && o->direct && s->dmin == o->dmin &&
	    s->drange == o->drange) {
		/* Same layout (same input): record j goes to group j. */
		for (uint32_t j = 0; j < o->ngroups; j++)
			if (eau2_gb_present(o, j) &&
			    (rc = eau2_gb_merge_record(s, j, o->rec + (size_t)j * o->stride,
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
			__builtin_prefetch(&s->slots[eau2_gb_slot_of(o->gkey[j + PREFETCH],
							     s->smask)]);
			__builtin_prefetch(o->rec + (size_t)(j + PREFETCH) * o->stride);
		}
		if (!eau2_gb_present(o, j))
			continue;
		id = eau2_gb_key_group(s, eau2_gb_group_key(o, j), eau2_gb_null_group(o, j));
		if (id < 0)
			return eau2_error_set(err, -ENOMEM, "groupby: out of memory "
					      "joining states");
		if ((rc = eau2_gb_merge_record(s, id, o->rec + (size_t)j * o->stride, err)))
			return rc;
	}
	return 0;
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
			size_t h = eau2_gb_slot_of(k, mask);
			while (slots[h].id1 && slots[h].key != k)
				h = (h + 1) & mask;
			if (!slots[h].id1) {
				slots[h] = (struct slot){ .key = k, .id1 = n + 1 };
				memcpy(rec + (size_t)n * stride, r, stride * sizeof(*r));
				ik[n] = (struct ikey){ k, n };
				n++;
			} else if ((rc = eau2_gb_merge_words(s, rec + (size_t)(slots[h].id1 - 1) *
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
int eau2_gb_emit_merged(const struct gb *s, eau2_builder *b,
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
				if ((rc = eau2_gb_merge_words(s, nullrec, t->rec +
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
			     eau2_gb_emit_aggs(s, b, 1, pt->rec + (size_t)j * s->stride, err);
		}
	}
	if (rc == 0 && nullrec[0].i)
		rc = eau2_builder_append_null(b, 0, err) ?:
		     eau2_gb_emit_aggs(s, b, 1, nullrec, err);
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
