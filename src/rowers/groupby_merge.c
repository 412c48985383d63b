/* SPDX-License-Identifier: MIT */
/*
 * groupby_merge.c - joining group-by states: small states are merged
 * into the first at once; hash and dictionary states with many groups
 * are kept (pend) and merged by finish in parallel, by key range, then
 * emitted in key order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "rowers/groupby.h"
#include "util/mem.h"

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
	if (!s->intkey)
		return dict_join(s, o, err);
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

/* finish of a state with joined states pending (pend), int hash or
 * dictionary mode: the groups of every state are split into nparts key
 * ranges (a power of two, from the group count: about 4096 groups each,
 * at most MAX_PARTS), then the run's threads merge the ranges, one at a
 * time each, into small tables of their own that stay in cache, and sort
 * each range. The ranges, emitted in order, are the sorted result.
 *  - Splitting is parallel over states (one pass over a state's groups,
 *    a counting sort of its group ids by range). Int keys go to ranges
 *    by value (linear over the key span); key tuples of dictionary mode
 *    by a binary search over splitters: nparts - 1 tuples chosen from a
 *    sorted sample of every state's groups, so ranges hold about as many
 *    groups however the keys are distributed.
 *  - Merging is parallel over ranges: within a range, state by state in
 *    join order, so each group's record is the one serial joins would
 *    give whatever the number of ranges; a group's key is named by the
 *    first state that has it (struct ref). Tuples are found by a hash
 *    (per distinct value of a state's dictionaries, combined per group)
 *    and compared value by value.
 * The null key of int mode is merged apart, by the caller's thread, and
 * emitted last.
 *
 * Access rules: struct pmerge is shared by the merging threads; next and
 * failed are atomics, rc and err are written under lock; a task writes
 * only its own state's idx/start/hash (split) or its own part (merge);
 * everything else is read-only while the threads run. */
#define MAX_PARTS 256u
#define PART_GROUPS 4096u
#define SAMPLES 16u             /* per range, for the splitters */

struct ref {
	uint32_t st, j;          /* state index, group id in it */
};
struct part {
	uint32_t n;              /* groups in this range */
	struct ref *refs;        /* n groups, as found */
	union word *rec;         /* their merged records, same order */
	uint32_t *order;         /* their indexes in key order */
};
struct pmerge;
typedef int (*task_fn)(struct pmerge *m, uint32_t t, struct eau2_error *err);
struct pmerge {
	const struct gb *s;
	const struct gb **st;    /* nst states: s, then pend in join order */
	size_t nst;
	uint32_t nparts;
	uint32_t **idx;          /* per state: its non-null group ids by range */
	uint32_t **start;        /* per state: nparts + 1 offsets into idx */
	uint64_t **hash;         /* dictionary mode, per state: group hashes */
	uint64_t **pfx;          /* and PFX words of order per group (pfx_of) */
	int64_t kmin;            /* int mode: the key range */
	uint64_t span;           /* kmax - kmin */
	struct ref *split;       /* dictionary mode: nparts - 1 splitters */
	uint64_t *split_pfx;     /* and their PFX words each */
	struct part *parts;      /* nparts */
	task_fn fn;
	uint32_t ntasks;
	atomic_uint next;
	atomic_int failed;
	pthread_mutex_t lock;
	int rc;
	struct eau2_error err;
};

static inline uint32_t part_of_int(const struct pmerge *m, int64_t k)
{
	return (uint32_t)(((unsigned __int128)((uint64_t)k - (uint64_t)m->kmin) *
			   m->nparts) / ((unsigned __int128)m->span + 1));
}

/* Order of the key tuples of two groups (dictionary mode). */
static int ref_cmp(const struct pmerge *m, struct ref a, struct ref b)
{
	const struct gb *ta = m->st[a.st], *tb = m->st[b.st];
	size_t nk = m->s->nkeys;

	for (size_t k = 0; k < nk; k++) {
		const struct cdict *da = &ta->dict[k], *db = &tb->dict[k];
		int c = eau2_gb_cval_cmp(da, &da->vals[ta->gcid[(size_t)a.j * nk + k]],
					 db, &db->vals[tb->gcid[(size_t)b.j * nk + k]]);
		if (c)
			return c;
	}
	return 0;
}

/* Words of order of a group (dictionary mode): eau2_gb_cval_prefix of
 * its first key, complete only when that key is the whole tuple. */
#define PFX 3

/* Tuples a (words pa) and b (pb) in order: words first, the values only
 * when those do not decide (equal prefixes of a long or composite key). */
static inline int pref_cmp(const struct pmerge *m, struct ref a,
			   const uint64_t *pa, struct ref b, const uint64_t *pb)
{
	if (pa[0] != pb[0])
		return pa[0] < pb[0] ? -1 : 1;
	if (pa[1] != pb[1])
		return pa[1] < pb[1] ? -1 : 1;
	if (pa[2] & pb[2] & 1)
		return pa[2] < pb[2] ? -1 : pa[2] > pb[2];
	return ref_cmp(m, a, b);
}

static inline const uint64_t *pfx_of(const struct pmerge *m, struct ref r)
{
	return m->pfx[r.st] + PFX * (size_t)r.j;
}

static int ref_cmp_q(const void *x, const void *y, void *ctx)
{
	struct ref a = *(const struct ref *)x, b = *(const struct ref *)y;

	return pref_cmp(ctx, a, pfx_of(ctx, a), b, pfx_of(ctx, b));
}

/* Dictionary mode: a range's groups sorted by their prefixes (copied
 * here: the comparisons stay in cache), then by refs. */
struct skey {
	uint64_t w[PFX];
	uint32_t id;             /* into the range's refs */
};
struct sort_ctx {
	const struct pmerge *m;
	const struct ref *refs;
};

static int cmp_skey(const void *x, const void *y, void *ctx)
{
	const struct sort_ctx *c = ctx;
	const struct skey *a = x, *b = y;

	return pref_cmp(c->m, c->refs[a->id], a->w, c->refs[b->id], b->w);
}

/* Range of a tuple: the number of splitters not above it. */
static uint32_t part_of_ref(const struct pmerge *m, struct ref r)
{
	uint32_t lo = 0, hi = m->nparts - 1;
	const uint64_t *pr = pfx_of(m, r);

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (pref_cmp(m, m->split[mid], m->split_pfx + PFX * mid, r, pr) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Task of the first phase (dictionary mode): the hashes of state i's
 * groups (one hash per distinct value of each dictionary, combined per
 * group) and the prefixes of their first keys. */
static int prep_state(struct pmerge *m, uint32_t i, struct eau2_error *err)
{
	const struct gb *t = m->st[i];
	size_t nk = t->nkeys;
	uint64_t *h = malloc(((size_t)t->ngroups + 1) * sizeof(*h)), *vh = NULL;
	uint64_t *pf = malloc(PFX * ((size_t)t->ngroups + 1) * sizeof(*pf));
	int rc = -ENOMEM;

	m->hash[i] = h;
	m->pfx[i] = pf;
	if (!h || !pf)
		goto out;
	for (uint32_t j = 0; j < t->ngroups; j++)
		h[j] = nk;
	for (size_t k = 0; k < nk; k++) {
		const struct cdict *d = &t->dict[k];
		free(vh);
		if (!(vh = malloc(((size_t)d->n + 1) * sizeof(*vh))))
			goto out;
		for (uint32_t c = 0; c < d->n; c++) {
			const struct cval *v = &d->vals[c];
			vh[c] = v->isnull ? 0x9E3779B97F4A7C15ull :
				d->type == EAU2_STRING ? eau2_hash_bytes(d->arena + v->a, v->len) :
				eau2_hash_u64(v->a);
		}
		for (uint32_t j = 0; j < t->ngroups; j++)
			h[j] = eau2_hash_u64(h[j] ^ vh[t->gcid[(size_t)j * nk + k]]);
		if (k)
			continue;
		for (uint32_t j = 0; j < t->ngroups; j++) {
			const struct cval *v = &d->vals[t->gcid[(size_t)j * nk]];
			uint64_t *w = pf + PFX * (size_t)j;
			eau2_gb_cval_prefix(d, v, w);
			if (nk > 1)
				w[2] &= ~1ull;
		}
	}
	rc = 0;
out:
	free(vh);
	return rc ? eau2_error_set(err, rc, "groupby: out of memory merging "
				   "states") : 0;
}

/* Task of the first phase: state i's group ids by range. */
static int split_state(struct pmerge *m, uint32_t i, struct eau2_error *err)
{
	const struct gb *t = m->st[i];
	uint32_t *start = calloc(m->nparts + 1, sizeof(*start)), *fill = NULL;
	uint32_t *pj = malloc(((size_t)t->ngroups + 1) * sizeof(*pj));
	int rc = -ENOMEM;

	m->start[i] = start;
	m->idx[i] = malloc(((size_t)t->ngroups + 1) * sizeof(**m->idx));
	if (!start || !pj || !m->idx[i])
		goto out;
	for (uint32_t j = 0; j < t->ngroups; j++) {
		if (t->intkey && (int64_t)j == t->null_id) {
			pj[j] = UINT32_MAX;
			continue;
		}
		pj[j] = t->intkey ? part_of_int(m, t->gkey[j])
				  : part_of_ref(m, (struct ref){ i, j });
		start[pj[j] + 1]++;
	}
	for (uint32_t p = 0; p < m->nparts; p++)
		start[p + 1] += start[p];
	if (!(fill = malloc(m->nparts * sizeof(*fill))))
		goto out;
	memcpy(fill, start, m->nparts * sizeof(*fill));
	for (uint32_t j = 0; j < t->ngroups; j++)
		if (pj[j] != UINT32_MAX)
			m->idx[i][fill[pj[j]]++] = j;
	rc = 0;
out:
	free(pj);
	free(fill);
	return rc ? eau2_error_set(err, rc, "groupby: out of memory merging "
				   "states") : 0;
}

/* Task of the second phase: range p of every state, merged and sorted. */
static int merge_part(struct pmerge *m, uint32_t p, struct eau2_error *err)
{
	const struct gb *s = m->s;
	size_t total = 0, mask = 15, stride = s->stride;
	struct part *out = &m->parts[p];
	struct slot *slots = NULL;
	struct ikey *ik = NULL;
	struct skey *sk = NULL;
	struct ref *refs = NULL;
	union word *rec = NULL;
	uint32_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < m->nst; i++)
		total += m->start[i][p + 1] - m->start[i][p];
	if (!total)
		return 0;
	while (mask + 1 < 2 * total)
		mask = mask * 2 + 1;
	slots = eau2_zalloc_written(mask + 1, sizeof(*slots));
	ik = malloc(2 * total * sizeof(*ik));
	sk = s->intkey ? NULL : malloc(total * sizeof(*sk));
	out->refs = refs = malloc(total * sizeof(*refs));
	out->rec = rec = malloc(total * stride * sizeof(*rec));
	out->order = malloc(total * sizeof(*out->order));
	if (!slots || !ik || (!s->intkey && !sk) || !refs || !rec || !out->order)
		goto nomem;
	for (uint32_t i = 0; i < m->nst; i++) {
		const struct gb *t = m->st[i];
		for (uint32_t q = m->start[i][p]; q < m->start[i][p + 1]; q++) {
			uint32_t j = m->idx[i][q];
			/* slot key: the int key, or the tuple's hash */
			int64_t k = t->intkey ? t->gkey[j] : (int64_t)m->hash[i][j];
			const union word *r = t->rec + (size_t)j * stride;
			size_t h = eau2_gb_slot_of(k, mask);
			const uint64_t *w = t->intkey ? NULL : pfx_of(m, (struct ref){ i, j });
			while (slots[h].id1 && (slots[h].key != k ||
			       (w && pref_cmp(m, refs[slots[h].id1 - 1],
					      sk[slots[h].id1 - 1].w,
					      (struct ref){ i, j }, w))))
				h = (h + 1) & mask;
			if (!slots[h].id1) {
				slots[h] = (struct slot){ .key = k, .id1 = n + 1 };
				memcpy(rec + (size_t)n * stride, r, stride * sizeof(*r));
				refs[n] = (struct ref){ i, j };
				ik[n] = (struct ikey){ k, n };
				if (w) {
					memcpy(sk[n].w, w, sizeof(sk[n].w));
					sk[n].id = n;
				}
				n++;
			} else if ((rc = eau2_gb_merge_words(s, rec + (size_t)(slots[h].id1 - 1) *
							     stride, r, err))) {
				goto out;
			}
		}
	}
	if (s->intkey) {
		eau2_gb_radix_ikeys(ik, ik + total, n);
		for (uint32_t j = 0; j < n; j++)
			out->order[j] = ik[j].id;
	} else {
		struct sort_ctx c = { m, refs };
		qsort_r(sk, n, sizeof(*sk), cmp_skey, &c);
		for (uint32_t j = 0; j < n; j++)
			out->order[j] = sk[j].id;
	}
	out->n = n;
	goto out;
nomem:
	rc = eau2_error_set(err, -ENOMEM, "groupby: out of memory merging states");
out:
	free(slots);
	free(ik);
	free(sk);
	return rc;
}

static void *task_worker(void *arg)
{
	struct pmerge *m = arg;
	struct eau2_error e = {0};

	while (!atomic_load(&m->failed)) {
		uint32_t t = atomic_fetch_add(&m->next, 1);
		if (t >= m->ntasks)
			break;
		int rc = m->fn(m, t, &e);
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

/* Tasks 0..ntasks of fn on the run's threads; this thread works too, the
 * others are extra hands (the tasks still complete if none can be
 * started). Returns the first failure. */
static int run_tasks(struct pmerge *m, task_fn fn, uint32_t ntasks)
{
	pthread_t tids[64];
	unsigned started = 0;

	m->fn = fn;
	m->ntasks = ntasks;
	atomic_store(&m->next, 0);
	for (unsigned w = 1; w < m->s->threads && w < ntasks && w <= 64; w++) {
		if (pthread_create(&tids[started], NULL, task_worker, m) != 0)
			break;
		started++;
	}
	task_worker(m);
	for (unsigned w = 0; w < started; w++)
		pthread_join(tids[w], NULL);
	return m->rc;
}

/* Dictionary mode: nparts - 1 splitters from a sorted sample of about
 * SAMPLES groups per range, taken from each state in proportion to its
 * groups. */
static int choose_splitters(struct pmerge *m, uint64_t total)
{
	uint64_t want = (uint64_t)m->nparts * SAMPLES;
	size_t ns = 0;
	struct ref *smp = malloc((want + m->nst) * sizeof(*smp));

	m->split = malloc(m->nparts * sizeof(*m->split));
	m->split_pfx = malloc(PFX * m->nparts * sizeof(*m->split_pfx));
	if (!smp || !m->split || !m->split_pfx) {
		free(smp);
		return -ENOMEM;
	}
	if (!total) {
		free(smp);
		return 0; /* nparts is 1: no splitter */
	}
	for (uint32_t i = 0; i < m->nst; i++) {
		uint32_t g = m->st[i]->ngroups;
		uint64_t k = (want * g + total - 1) / total;
		for (uint64_t q = 0; q < k && q < g; q++)
			smp[ns++] = (struct ref){ i, (uint32_t)(q * g / k) };
	}
	qsort_r(smp, ns, sizeof(*smp), ref_cmp_q, m);
	for (uint32_t p = 1; p < m->nparts; p++) {
		struct ref r = smp[(uint64_t)p * ns / m->nparts];
		m->split[p - 1] = r;
		memcpy(m->split_pfx + PFX * (p - 1), pfx_of(m, r),
		       PFX * sizeof(uint64_t));
	}
	free(smp);
	return 0;
}

/* Int mode: the key range, and the null group merged into nullrec. */
static int int_range(struct pmerge *m, union word *nullrec,
		     struct eau2_error *err)
{
	int64_t kmax = 0;
	bool any = false;
	int rc;

	for (size_t i = 0; i < m->nst; i++) {
		const struct gb *t = m->st[i];
		for (uint32_t j = 0; j < t->ngroups; j++) {
			if ((int64_t)j == t->null_id) {
				if ((rc = eau2_gb_merge_words(m->s, nullrec, t->rec +
							      (size_t)j * t->stride, err)))
					return rc;
				continue;
			}
			if (!any || t->gkey[j] < m->kmin)
				m->kmin = t->gkey[j];
			if (!any || t->gkey[j] > kmax)
				kmax = t->gkey[j];
			any = true;
		}
	}
	m->span = (uint64_t)kmax - (uint64_t)m->kmin;
	return 0;
}

int eau2_gb_emit_merged(const struct gb *s, eau2_builder *b,
			struct eau2_error *err)
{
	struct pmerge m = { .s = s, .nst = s->npend + 1, .nparts = 1 };
	union word *nullrec = NULL;
	uint64_t total = 0;
	int rc = 0;

	atomic_init(&m.next, 0);
	atomic_init(&m.failed, 0);
	pthread_mutex_init(&m.lock, NULL);
	m.st = calloc(m.nst, sizeof(*m.st));
	m.idx = calloc(m.nst, sizeof(*m.idx));
	m.start = calloc(m.nst, sizeof(*m.start));
	m.hash = calloc(m.nst, sizeof(*m.hash));
	m.pfx = calloc(m.nst, sizeof(*m.pfx));
	nullrec = calloc(s->stride, sizeof(*nullrec));
	if (!m.st || !m.idx || !m.start || !m.hash || !m.pfx || !nullrec)
		goto nomem;
	for (size_t i = 0; i < m.nst; i++) {
		m.st[i] = i ? s->pend[i - 1] : s;
		total += m.st[i]->ngroups;
	}
	while (m.nparts < MAX_PARTS && (uint64_t)m.nparts * PART_GROUPS < total)
		m.nparts *= 2;
	if (!(m.parts = calloc(m.nparts, sizeof(*m.parts))))
		goto nomem;
	if (s->intkey && (rc = int_range(&m, nullrec, err)))
		goto out;
	if (!s->intkey && (rc = run_tasks(&m, prep_state, (uint32_t)m.nst))) {
		if (err)
			*err = m.err;
		goto out;
	}
	if (!s->intkey && choose_splitters(&m, total) < 0)
		goto nomem;
	if ((rc = run_tasks(&m, split_state, (uint32_t)m.nst)) ||
	    (rc = run_tasks(&m, merge_part, m.nparts))) {
		if (err)
			*err = m.err;
		goto out;
	}
	for (uint32_t p = 0; p < m.nparts && rc == 0; p++) {
		const struct part *pt = &m.parts[p];
		for (uint32_t j = 0; j < pt->n && rc == 0; j++) {
			uint32_t id = pt->order[j];
			rc = eau2_gb_emit_keys(m.st[pt->refs[id].st], b,
					       pt->refs[id].j, err) ?:
			     eau2_gb_emit_aggs(s, b, s->nkeys,
					       pt->rec + (size_t)id * s->stride, err);
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
		if (m.hash)
			free(m.hash[i]);
		if (m.pfx)
			free(m.pfx[i]);
	}
	for (uint32_t p = 0; m.parts && p < m.nparts; p++) {
		free(m.parts[p].refs);
		free(m.parts[p].rec);
		free(m.parts[p].order);
	}
	free(m.idx);
	free(m.start);
	free(m.hash);
	free(m.pfx);
	free(m.st);
	free(m.parts);
	free(m.split);
	free(m.split_pfx);
	free(nullrec);
	pthread_mutex_destroy(&m.lock);
	return rc;
}
