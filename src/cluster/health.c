/* SPDX-License-Identifier: MIT */
/*
 * health.c - failure detection for a driver (health.h).
 *
 * Access rules. `mu` guards the node table, the event queue, the
 * callback and the counters; the member watch's thread and the heartbeat
 * thread both update the table under it and queue the transitions they
 * see, and only the heartbeat thread calls the callback (outside mu, with
 * `calling` set so that on_event can wait for it to end). The heartbeat
 * thread copies the members to PING out of the table each round, so no
 * PING runs under mu.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/health.h"
#include "cluster/members.h"
#include "util/clock.h"

#define EVENTS_MAX 256 /* queued transitions; more are dropped (and counted) */

struct peer {
	struct eau2_member m;
	enum eau2_cluster_node_state state;
	bool member;
	int64_t heard_ms;     /* monotonic: last answer, or when it joined */
	uint64_t missed_row, beats, missed, deaths;
};

struct event {
	enum eau2_cluster_event ev;
	char id[EAU2_MEMBER_ID_MAX + 1];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
};

struct eau2_health {
	struct eau2_health_opts o;
	eau2_member_watch *watch;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* stop, a round done, a callback ended */
	bool stop;
	struct peer *v;         /* sorted by id */
	size_t n;
	uint64_t rounds;
	struct event ev[EVENTS_MAX];
	size_t nev;
	uint64_t ev_dropped;
	eau2_cluster_event_fn *fn;
	void *arg;
	bool calling;
};

const char *eau2_cluster_state_name(enum eau2_cluster_node_state s)
{
	switch (s) {
	case EAU2_CLUSTER_ALIVE: return "alive";
	case EAU2_CLUSTER_SUSPECT: return "suspect";
	case EAU2_CLUSTER_DEAD: return "dead";
	}
	return "?";
}

enum eau2_cluster_node_state eau2_health_judge(bool member, uint64_t missed_in_row,
					       int64_t silent_ms, int dead_after_ms)
{
	if (!member || silent_ms >= dead_after_ms)
		return EAU2_CLUSTER_DEAD;
	if (missed_in_row >= EAU2_HEALTH_SUSPECT_MISSED)
		return EAU2_CLUSTER_SUSPECT;
	return EAU2_CLUSTER_ALIVE;
}

/* The peer of id, or where it would go (mu held). */
static size_t find(const struct eau2_health *h, const char *id, bool *found)
{
	size_t lo = 0, hi = h->n;

	*found = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(id, h->v[mid].m.id);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void queue(struct eau2_health *h, enum eau2_cluster_event ev, const struct peer *p)
{
	struct event *e;

	if (h->nev == EVENTS_MAX) {
		h->ev_dropped++;
		return;
	}
	e = &h->ev[h->nev++];
	e->ev = ev;
	snprintf(e->id, sizeof(e->id), "%s", p->m.id);
	snprintf(e->addr, sizeof(e->addr), "%s", p->m.addr);
	pthread_cond_broadcast(&h->cv);
}

static void transition(struct eau2_health *h, struct peer *p, enum eau2_cluster_node_state s)
{
	if (s == EAU2_CLUSTER_DEAD && p->state != EAU2_CLUSTER_DEAD) {
		p->deaths++;
		queue(h, EAU2_CLUSTER_DIED, p);
	} else if (s != EAU2_CLUSTER_DEAD && p->state == EAU2_CLUSTER_DEAD) {
		queue(h, EAU2_CLUSTER_JOINED, p);
	}
	p->state = s;
}

/* Judges p now and queues its transition (mu held). */
static void judge(struct eau2_health *h, struct peer *p, int64_t now)
{
	transition(h, p, eau2_health_judge(p->member, p->missed_row, now - p->heard_ms,
					   h->o.dead_after_ms));
}

/* Waits on h->cv until `until` (monotonic ms) at most (mu held). */
static void wait_until(struct eau2_health *h, int64_t until)
{
	struct timespec dl;
	int64_t ms = until - eau2_mono_ms();

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&h->cv, &h->mu, &dl);
}

/* Room for one more peer (mu held): drops a dead non-member when full. */
static bool room(struct eau2_health *h)
{
	if (h->n < EAU2_HEALTH_NODES_MAX)
		return true;
	for (size_t i = 0; i < h->n; i++)
		if (!h->v[i].member && h->v[i].state == EAU2_CLUSTER_DEAD) {
			memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
			h->n--;
			return true;
		}
	return false;
}

static void on_member(void *arg, enum eau2_member_event event, const struct eau2_member *m)
{
	struct eau2_health *h = arg;
	int64_t now = eau2_mono_ms();
	struct peer *p;
	bool found;
	size_t i;

	pthread_mutex_lock(&h->mu);
	i = find(h, m->id, &found);
	if (!found) {
		if (event != EAU2_MEMBER_JOINED || !room(h)) {
			pthread_mutex_unlock(&h->mu);
			return;
		}
		i = find(h, m->id, &found); /* room() may have moved it */
		memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof(*h->v));
		h->n++;
		p = &h->v[i];
		memset(p, 0, sizeof(*p));
		p->m = *m;
		p->member = true;
		p->heard_ms = now;
		p->state = EAU2_CLUSTER_ALIVE;
		queue(h, EAU2_CLUSTER_JOINED, p);
		pthread_mutex_unlock(&h->mu);
		return;
	}
	p = &h->v[i];
	if (event == EAU2_MEMBER_JOINED) {
		/* The watch's first look repeats the members seeded at start:
		 * only a new session is a new start. */
		if (!p->member || p->m.session != m->session) {
			p->missed_row = 0;
			p->heard_ms = now;
		}
		p->m = *m;
		p->member = true;
	} else {
		p->member = false;
	}
	judge(h, p, now);
	pthread_mutex_unlock(&h->mu);
}

/* Calls the callback for the queued events (mu held; released while
 * calling). */
static void deliver(struct eau2_health *h)
{
	while (h->nev) {
		struct event e = h->ev[0];
		eau2_cluster_event_fn *fn = h->fn;
		void *arg = h->arg;

		memmove(&h->ev[0], &h->ev[1], (h->nev - 1) * sizeof(h->ev[0]));
		h->nev--;
		if (!fn)
			continue;
		h->calling = true;
		pthread_mutex_unlock(&h->mu);
		fn(arg, e.ev, e.id, e.addr);
		pthread_mutex_lock(&h->mu);
		h->calling = false;
		pthread_cond_broadcast(&h->cv);
	}
}

/* One round: PINGs every member once, one after the other. */
static void round_once(struct eau2_health *h, int timeout_ms)
{
	struct eau2_member *todo;
	size_t n = 0;

	pthread_mutex_lock(&h->mu);
	todo = malloc((h->n + 1) * sizeof(*todo));
	for (size_t i = 0; todo && i < h->n; i++)
		if (h->v[i].member)
			todo[n++] = h->v[i].m;
	pthread_mutex_unlock(&h->mu);
	if (!todo)
		return;
	for (size_t k = 0; k < n; k++) {
		struct eau2_error e = {0};
		int rc;
		bool found;
		size_t i;

		pthread_mutex_lock(&h->mu);
		if (h->stop) {
			pthread_mutex_unlock(&h->mu);
			break;
		}
		pthread_mutex_unlock(&h->mu);
		rc = h->o.ops->ping(h->o.ctx, &todo[k], timeout_ms, &e);
		pthread_mutex_lock(&h->mu);
		i = find(h, todo[k].id, &found);
		/* A node that restarted meanwhile is judged by its new self. */
		if (found && h->v[i].m.session == todo[k].session &&
		    !strcmp(h->v[i].m.addr, todo[k].addr)) {
			struct peer *p = &h->v[i];
			int64_t now = eau2_mono_ms();

			if (rc == 0) {
				p->beats++;
				p->missed_row = 0;
				p->heard_ms = now;
			} else {
				p->missed++;
				p->missed_row++;
			}
			judge(h, p, now);
		}
		pthread_mutex_unlock(&h->mu);
	}
	free(todo);
}

static void *health_main(void *arg)
{
	struct eau2_health *h = arg;
	int timeout = h->o.heartbeat_ms;

	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		int64_t next = eau2_mono_ms() + h->o.heartbeat_ms, now;

		deliver(h);
		pthread_mutex_unlock(&h->mu);
		if (h->o.ops->ping)
			round_once(h, timeout);
		pthread_mutex_lock(&h->mu);
		now = eau2_mono_ms();
		for (size_t i = 0; i < h->n; i++)
			judge(h, &h->v[i], now);
		h->rounds++;
		pthread_cond_broadcast(&h->cv);
		while (!h->stop && eau2_mono_ms() < next) {
			if (h->nev)
				deliver(h);
			else
				wait_until(h, next);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int eau2_health_start(const struct eau2_health_opts *o, struct eau2_health **out,
		      struct eau2_error *err)
{
	struct eau2_health *h;
	int rc;

	*out = NULL;
	if (o->heartbeat_ms <= 0 || o->dead_after_ms <= 0)
		return eau2_error_set(err, -EINVAL, "health: heartbeat %d ms, dead after %d ms "
				      "(both must be positive)", o->heartbeat_ms, o->dead_after_ms);
	if (!(h = calloc(1, sizeof(*h))) ||
	    !(h->v = calloc(EAU2_HEALTH_NODES_MAX, sizeof(*h->v)))) {
		free(h);
		return eau2_error_set(err, -ENOMEM, "health: out of memory");
	}
	h->o = *o;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	/* The members now, before the first round (the watch reports them
	 * from its own thread, a little later). */
	{
		struct eau2_members m;

		if ((rc = eau2_members_list(o->zk, &m, err)))
			goto fail;
		for (size_t i = 0; i < m.n; i++)
			on_member(h, EAU2_MEMBER_JOINED, &m.v[i]);
		eau2_members_free(&m);
	}
	if ((rc = eau2_members_watch(o->zk, on_member, h, &h->watch, err)))
		goto fail;
	if ((rc = -pthread_create(&h->tid, NULL, health_main, h))) {
		eau2_members_unwatch(h->watch);
		eau2_error_set(err, rc, "health: cannot start a thread");
		goto fail;
	}
	*out = h;
	return 0;
fail:
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->v);
	free(h);
	return rc;
}

void eau2_health_stop(struct eau2_health *h)
{
	if (!h)
		return;
	eau2_members_unwatch(h->watch);
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->tid, NULL);
	pthread_mutex_destroy(&h->mu);
	pthread_cond_destroy(&h->cv);
	free(h->v);
	free(h);
}

enum eau2_cluster_node_state eau2_health_state(struct eau2_health *h, const char *id,
					       uint64_t *deaths)
{
	enum eau2_cluster_node_state s = EAU2_CLUSTER_ALIVE;
	bool found;
	size_t i;

	pthread_mutex_lock(&h->mu);
	i = find(h, id, &found);
	if (found)
		s = h->v[i].state;
	if (deaths)
		*deaths = found ? h->v[i].deaths : 0;
	pthread_mutex_unlock(&h->mu);
	return s;
}

int eau2_health_snapshot(struct eau2_health *h, struct eau2_cluster_health_node **out,
			 size_t *n, struct eau2_error *err)
{
	struct eau2_cluster_health_node *v;
	int64_t now = eau2_mono_ms();

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&h->mu);
	if (!(v = calloc(h->n + 1, sizeof(*v)))) {
		pthread_mutex_unlock(&h->mu);
		return eau2_error_set(err, -ENOMEM, "health: out of memory");
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct peer *p = &h->v[i];

		snprintf(v[i].id, sizeof(v[i].id), "%s", p->m.id);
		snprintf(v[i].addr, sizeof(v[i].addr), "%s", p->m.addr);
		v[i].state = p->state;
		v[i].member = p->member;
		v[i].heard_ago_ms = now - p->heard_ms;
		v[i].beats = p->beats;
		v[i].missed = p->missed;
		v[i].deaths = p->deaths;
	}
	*n = h->n;
	pthread_mutex_unlock(&h->mu);
	*out = v;
	return 0;
}

/* Whether every member was PINGed EAU2_HEALTH_SUSPECT_MISSED times, so
 * that one that does not answer shows suspect (mu held). */
static bool judged(const struct eau2_health *h, uint64_t since)
{
	if (h->rounds <= since)
		return false;
	if (!h->o.ops->ping)
		return true;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].member && h->v[i].beats + h->v[i].missed < EAU2_HEALTH_SUSPECT_MISSED)
			return false;
	return true;
}

int eau2_health_wait_round(struct eau2_health *h, int timeout_ms, struct eau2_error *err)
{
	int64_t until = eau2_mono_ms() + timeout_ms;
	int rc = 0;
	uint64_t since;

	pthread_mutex_lock(&h->mu);
	/* The round in progress may have started before the members were
	 * known: one after it, at least. */
	since = h->rounds;
	while (!judged(h, since) && !h->stop) {
		if (eau2_mono_ms() >= until) {
			rc = eau2_error_set(err, -ETIMEDOUT, "health: no heartbeat round "
					    "within %d ms", timeout_ms);
			break;
		}
		wait_until(h, until);
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

void eau2_health_on_event(struct eau2_health *h, eau2_cluster_event_fn *fn, void *arg)
{
	pthread_mutex_lock(&h->mu);
	h->fn = fn;
	h->arg = arg;
	while (h->calling && !pthread_equal(pthread_self(), h->tid))
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}
