/* SPDX-License-Identifier: MIT */
/*
 * spec.c - a run's partition tasks with backup copies (spec.h).
 *
 * Access rules. A run is shared by the caller's thread (which starts the
 * attempts, watches for stragglers and collects the answers) and one
 * detached thread per attempt; everything in it that changes (the tasks'
 * states, counts, the finished durations, refs) is under run->mu, and the
 * rest is set before the first attempt starts and never changes. Each
 * attempt's thread holds a reference and frees the run when it drops the
 * last; an attempt that ends after its task got an answer, or after the
 * caller returned, throws its state away (the caller cuts the calls of
 * those still running short as it returns: ops->abort). With a health
 * thread, the caller also abandons attempts waiting on a node that died
 * (fail_over). A run that keeps its output (spec.h: eau2_spec_out)
 * starts no call once its task is decided, and its caller waits for the
 * attempts not abandoned to end, so that tried names every copy. The
 * track counts attempts
 * whose threads still run, under its own mutex, decremented by each
 * thread as the last thing it does, after its last use of the run.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/health.h"
#include "cluster/spec.h"
#include "util/clock.h"

enum { T_WAIT, T_RUN, T_DONE, T_FAIL };

struct rep {
	bool live;
	struct eau2_member m;      /* when live */
	char id[EAU2_MEMBER_ID_MAX + 1];
};

struct attempt;

struct task {
	char name[EAU2_DIR_PART_NAME_MAX];
	uint32_t nrep;
	struct rep *reps;
	uint32_t start;            /* the primary's first replica */
	/* under run->mu */
	int state;
	int alive;                 /* attempts running, not abandoned */
	struct attempt *atts;      /* attempts running */
	bool backed_up;
	int64_t started_ms;
	int rc;
	struct eau2_error err;
	void *st;
	size_t len;
	/* a run that keeps its output (run->out) */
	char out[EAU2_DIR_PART_NAME_MAX];
	uint32_t tried;            /* bit j: reps[j] was asked (under run->mu) */
	uint32_t won;              /* the replica whose answer won */
	struct eau2_cluster_part_out info;
};

struct run {
	struct eau2_spec_track *trk;
	const struct eau2_cluster_node_ops *ops;
	void *ctx;
	char key[EAU2_KEY_MAX + 1];
	char *rower;
	struct eau2_args args;     /* a deep copy: attempts outlive the caller */
	size_t n;
	struct task *tasks;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* an attempt ended */
	struct eau2_health *health; /* NULL: none */
	int refs;
	bool out;                  /* parts run through ops->run_out */
	bool over;                 /* the caller has returned */
	unsigned primaries;        /* primary attempts running */
	size_t ndone;
	int64_t *done_ms;          /* durations of the finished tasks */
};

/* An attempt's fields but r, i and start are under run->mu. */
struct attempt {
	struct run *r;
	size_t i;
	uint32_t start;
	bool counted;              /* counts in r->primaries */
	bool abandoned;            /* its node died: another attempt took over */
	int cur;                   /* the replica it waits on, or -1 */
	uint64_t deaths;           /* that node's deaths when it started there */
	struct attempt *next;      /* in its task's list */
};

void eau2_spec_track_init(struct eau2_spec_track *t)
{
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->inflight = 0;
}

void eau2_spec_drain(struct eau2_spec_track *t)
{
	pthread_mutex_lock(&t->mu);
	while (t->inflight)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_destroy(&t->mu);
	pthread_cond_destroy(&t->cv);
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->tasks[i].reps);
		free(r->tasks[i].st);
		eau2_schema_free(r->tasks[i].info.schema);
	}
	free(r->tasks);
	free(r->done_ms);
	free(r->rower);
	free((void *)r->args.names);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

/* Drops a reference (r->mu held; released here). */
static void run_unref(struct run *r)
{
	bool last = --r->refs == 0;

	pthread_mutex_unlock(&r->mu);
	if (last)
		run_free(r);
}

/* The args' names and values copied into one allocation (names array,
 * values array, then the strings). */
static int args_copy(struct eau2_args *dst, const struct eau2_args *src)
{
	size_t bytes = 2 * src->n * sizeof(char *);
	char **v, *p;

	for (size_t i = 0; i < src->n; i++)
		bytes += strlen(src->names[i]) + strlen(src->values[i]) + 2;
	if (!(v = malloc(bytes ? bytes : 1)))
		return -ENOMEM;
	p = (char *)(v + 2 * src->n);
	for (size_t i = 0; i < src->n; i++) {
		v[i] = p;
		p = stpcpy(p, src->names[i]) + 1;
		v[src->n + i] = p;
		p = stpcpy(p, src->values[i]) + 1;
	}
	dst->n = src->n;
	dst->names = (const char *const *)v;
	dst->values = (const char *const *)(v + src->n);
	return 0;
}

static const struct eau2_member *member_find(const struct eau2_members *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].id, id) == 0)
			return &m->v[i];
	return NULL;
}

static struct run *run_new(const struct eau2_dir_entry *e, const struct eau2_members *m,
			   const char *rower, const struct eau2_args *args,
			   const struct eau2_spec_out *out)
{
	struct run *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->refs = 1;
	r->n = e->nparts;
	snprintf(r->key, sizeof(r->key), "%s", e->key);
	r->tasks = calloc(r->n + 1, sizeof(*r->tasks));
	r->done_ms = calloc(r->n + 1, sizeof(*r->done_ms));
	r->rower = strdup(rower);
	r->out = out != NULL;
	if (!r->tasks || !r->done_ms || !r->rower || args_copy(&r->args, args))
		goto fail;
	for (size_t i = 0; i < r->n; i++) {
		struct task *t = &r->tasks[i];

		eau2_dir_part_name(e->put, i, t->name);
		if (out)
			eau2_dir_part_name(out->put, i, t->out);
		t->nrep = e->parts[i].nrep;
		t->start = t->nrep ? (uint32_t)(i % t->nrep) : 0;
		if (!(t->reps = calloc(t->nrep + 1, sizeof(*t->reps))))
			goto fail;
		for (uint32_t j = 0; j < t->nrep; j++) {
			const char *id = eau2_dir_replica(e, i, j);
			const struct eau2_member *node = member_find(m, id);

			snprintf(t->reps[j].id, sizeof(t->reps[j].id), "%s", id);
			t->reps[j].live = node != NULL;
			if (node)
				t->reps[j].m = *node;
		}
	}
	return r;
fail:
	run_free(r);
	return NULL;
}

/* Appends "; ID: WHAT" to buf. */
static void note(char *buf, size_t cap, size_t *off, const char *id, const char *what)
{
	int k = snprintf(buf + *off, *off < cap ? cap - *off : 0, "%s%s: %s",
			 *off ? "; " : "", id, what);

	if (k > 0)
		*off += (size_t)k;
}

static void *attempt_main(void *arg)
{
	struct attempt *a = arg;
	struct run *r = a->r;
	struct task *t = &r->tasks[a->i];
	struct eau2_spec_track *trk = r->trk;
	struct eau2_cluster_part_out info = {0};
	char tried[256] = "";
	size_t off = 0, len = 0;
	uint32_t ran = 0;
	void *st = NULL;
	int rc = -EHOSTUNREACH;

	for (uint32_t k = 0; k < t->nrep; k++) {
		uint32_t j = (a->start + k) % t->nrep;
		const struct rep *rep = &t->reps[j];
		struct eau2_error e = {0};
		uint64_t deaths = 0;
		bool dead = false, abandoned;

		if (!rep->live) {
			note(tried, sizeof(tried), &off, rep->id, "down");
			continue;
		}
		if (r->health)
			dead = eau2_health_state(r->health, rep->id, &deaths) == EAU2_CLUSTER_DEAD;
		if (dead) {
			note(tried, sizeof(tried), &off, rep->id, "dead (no heartbeat)");
			continue;
		}
		pthread_mutex_lock(&r->mu);
		if (r->out && (r->over || t->state != T_RUN)) {
			/* Decided: a copy started now would be one the caller
			 * does not know of. */
			pthread_mutex_unlock(&r->mu);
			rc = -ECANCELED;
			break;
		}
		a->cur = (int)j;
		a->deaths = deaths;
		t->tried |= 1u << j;
		pthread_mutex_unlock(&r->mu);
		ran = j;
		if (r->out)
			rc = r->ops->run_out(r->ctx, &rep->m, t->name, r->rower, &r->args, t->out,
					     &info, &e);
		else
			rc = r->ops->run(r->ctx, &rep->m, t->name, r->rower, &r->args, &st, &len,
					 &e);
		pthread_mutex_lock(&r->mu);
		a->cur = -1;
		abandoned = a->abandoned;
		pthread_mutex_unlock(&r->mu);
		if (rc == 0)
			break;
		note(tried, sizeof(tried), &off, rep->id, e.msg);
		if (abandoned)
			break; /* the attempt that took over tries the rest */
	}

	pthread_mutex_lock(&r->mu);
	for (struct attempt **pp = &t->atts; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	if (!a->abandoned)
		t->alive--;
	if (a->counted)
		r->primaries--;
	if (rc == 0 && t->state == T_RUN && !r->over) {
		t->state = T_DONE;
		t->st = st;
		t->len = len;
		st = NULL;
		t->won = ran;
		t->info = info;
		info.schema = NULL;
		r->done_ms[r->ndone++] = eau2_mono_ms() - t->started_ms;
	} else if (rc && t->state == T_RUN && t->alive == 0 && !a->abandoned) {
		t->state = T_FAIL;
		t->rc = rc;
		eau2_error_set(&t->err, rc, "run '%s' on '%s': partition %zu (%s) has no live "
			       "replica that answers (%s)", r->rower, r->key, a->i, t->name, tried);
	}
	pthread_cond_broadcast(&r->cv);
	run_unref(r);
	free(st); /* a loser's, or one that came after the caller left */
	eau2_schema_free(info.schema);
	free(a);

	pthread_mutex_lock(&trk->mu);
	if (--trk->inflight == 0)
		pthread_cond_broadcast(&trk->cv);
	pthread_mutex_unlock(&trk->mu);
	return NULL;
}

/* Starts an attempt of task i from replica `start` (r->mu held); a
 * primary counts against the run's parallelism. */
static int spawn(struct run *r, size_t i, uint32_t start, bool primary)
{
	struct task *t = &r->tasks[i];
	struct attempt *a = malloc(sizeof(*a));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (!a)
		return -ENOMEM;
	*a = (struct attempt){ .r = r, .i = i, .counted = primary, .start = start, .cur = -1 };
	pthread_mutex_lock(&r->trk->mu);
	r->trk->inflight++;
	pthread_mutex_unlock(&r->trk->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = -pthread_create(&tid, &attr, attempt_main, a);
	pthread_attr_destroy(&attr);
	if (rc) {
		free(a);
		pthread_mutex_lock(&r->trk->mu);
		r->trk->inflight--;
		pthread_mutex_unlock(&r->trk->mu);
		return rc;
	}
	r->refs++;
	t->alive++;
	a->next = t->atts;
	t->atts = a;
	if (primary)
		r->primaries++;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* When a running task is a straggler (r->mu held): -1 until half the
 * tasks have finished, then factor x their median, and min_ms at least. */
static int64_t straggler_ms(struct run *r, const struct eau2_spec_opts *o)
{
	int64_t tmp[64], *d = tmp, med, lim;

	if (o->factor <= 0 || r->ndone == 0 || r->ndone * 2 < r->n)
		return -1;
	if (r->ndone > 64 && !(d = malloc(r->ndone * sizeof(*d))))
		return -1;
	memcpy(d, r->done_ms, r->ndone * sizeof(*d));
	qsort(d, r->ndone, sizeof(*d), cmp_i64);
	med = d[r->ndone / 2];
	if (d != tmp)
		free(d);
	lim = (int64_t)(o->factor * (double)med);
	return lim < o->min_ms ? o->min_ms : lim;
}

/* Abandons the attempts of task i that wait on a node declared dead
 * since they started there (r->mu held); when none is left, one starts
 * on the next replica (it skips the dead ones). */
static void fail_over(struct run *r, size_t i)
{
	struct task *t = &r->tasks[i];
	int last = -1;

	for (struct attempt *a = t->atts; a; a = a->next) {
		uint64_t deaths;

		if (a->abandoned || a->cur < 0 ||
		    (eau2_health_state(r->health, t->reps[a->cur].id, &deaths) !=
		     EAU2_CLUSTER_DEAD && deaths == a->deaths))
			continue;
		a->abandoned = true;
		t->alive--;
		if (r->ops->abort) /* its call would wait out the transport's timeout */
			r->ops->abort(r->ctx, &t->reps[a->cur].m);
		if (a->counted) {
			a->counted = false;
			r->primaries--;
		}
		last = a->cur;
	}
	if (last < 0 || t->alive > 0)
		return;
	if (spawn(r, i, ((uint32_t)last + 1) % t->nrep, false)) {
		t->state = T_FAIL;
		t->rc = eau2_error_set(&t->err, -EAGAIN, "run '%s' on '%s': partition %zu (%s): "
				       "node %s died and no thread starts to run it elsewhere",
				       r->rower, r->key, i, t->name, t->reps[last].id);
	}
}

/* Starts what may start, backups included (r->mu held). Returns 1 when
 * every task is done, -1 when one failed, 0 otherwise. */
static int step(struct run *r, const struct eau2_spec_opts *o, size_t *next)
{
	int64_t lim = straggler_ms(r, o), now = eau2_mono_ms();
	bool all = true;

	while (*next < r->n && r->primaries < o->parallel) {
		struct task *t = &r->tasks[*next];

		t->state = T_RUN;
		t->started_ms = now;
		if (spawn(r, *next, t->start, true)) {
			t->state = T_FAIL;
			t->rc = eau2_error_set(&t->err, -EAGAIN, "run '%s' on '%s': partition %zu: "
					       "cannot start a thread", r->rower, r->key, *next);
		}
		(*next)++;
	}
	for (size_t i = 0; i < r->n; i++) {
		struct task *t = &r->tasks[i];

		if (t->state == T_FAIL)
			return -1;
		if (t->state != T_DONE)
			all = false;
		if (t->state == T_RUN && !t->backed_up && t->nrep > 1 && lim >= 0 &&
		    now - t->started_ms > lim && t->reps[(t->start + 1) % t->nrep].live) {
			t->backed_up = true; /* once, even if the thread fails to start */
			spawn(r, i, (t->start + 1) % t->nrep, false);
		}
		if (t->state == T_RUN && r->health)
			fail_over(r, i);
		if (t->state == T_FAIL)
			return -1;
	}
	return all ? 1 : 0;
}

int eau2_spec_run(struct eau2_spec_track *trk, const struct eau2_spec_opts *o,
		  const struct eau2_cluster_node_ops *ops, void *ctx,
		  const struct eau2_dir_entry *e, const struct eau2_members *m,
		  const char *rower, const struct eau2_args *args,
		  struct eau2_spec_out *out, void **states, size_t *lens,
		  struct eau2_error *err)
{
	struct run *r = run_new(e, m, rower, args, out);
	size_t next = 0;
	int rc = 0, st;

	if (!r)
		return eau2_error_set(err, -ENOMEM, "run '%s' on '%s': out of memory",
				      rower, e->key);
	r->trk = trk;
	r->health = o->health;
	r->ops = ops;
	r->ctx = ctx;
	pthread_mutex_lock(&r->mu);
	while ((st = step(r, o, &next)) == 0) {
		struct timespec dl;

		/* Ticks of 50 ms: a straggler is seen soon after it becomes one. */
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_nsec += 50 * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &dl);
	}
	r->over = true;
	for (size_t i = 0; i < r->n; i++) {
		struct task *t = &r->tasks[i];

		/* Losers (the other copy won, or the run failed) are cut short:
		 * one waiting on a stopped node would hold close for the
		 * transport's timeout, one on a slow node its workers. */
		for (struct attempt *a = t->atts; a && ops->abort; a = a->next)
			if (a->cur >= 0)
				ops->abort(ctx, &t->reps[a->cur].m);

		if (t->state == T_DONE && out) {
			out->info[i] = t->info;
			out->won[i] = t->won;
			t->info.schema = NULL;
		} else if (t->state == T_DONE) {
			states[i] = t->st;
			lens[i] = t->len;
			t->st = NULL;
		} else if (t->state == T_FAIL && rc == 0) {
			rc = t->rc;
			if (err)
				*err = t->err;
		}
	}
	/* The losers' copies are where tried says once their calls end (cut
	 * short above); one whose node died is not waited for. */
	for (size_t i = 0; out && i < r->n; i++) {
		struct attempt *a = r->tasks[i].atts;

		for (; a && a->abandoned; a = a->next)
			;
		if (a) {
			pthread_cond_wait(&r->cv, &r->mu);
			i = (size_t)-1; /* look again from the first */
			continue;
		}
	}
	for (size_t i = 0; out && i < r->n; i++)
		out->tried[i] = r->tasks[i].tried;
	run_unref(r);
	return rc;
}
