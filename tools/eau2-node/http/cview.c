/* SPDX-License-Identifier: MIT */
/*
 * cview.c - the cluster view (cview.h). The thread builds each new view
 * in `work` (its own), from the previous one, and copies it into `pub`
 * under mu; readers copy `pub` under mu. ZooKeeper and the probes are
 * called without mu held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/dir.h"
#include "eau2-node/http/cview.h"
#include "util/clock.h"

struct eau2_cview {
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* CLOCK_MONOTONIC (eau2_zk_cond_init) */
	bool stop, has_thread;   /* stop: under mu */
	pthread_t thread;
	eau2_zk *zk;
	eau2_cview_probe_fn probe;
	void *probe_ctx;
	char *token;
	struct eau2_cview_state pub;   /* under mu */
	struct eau2_cview_state work;  /* the thread's */
	struct eau2_cview_node *probed; /* the thread's: a probe round's copies */
	bool *ok;
	int64_t dir_at;                /* monotonic ms of the last directory pass */
};

static double wall_s(void)
{
	return (double)eau2_wall_ms() / 1000;
}

int eau2_cview_new(struct eau2_cview **out, struct eau2_error *err)
{
	struct eau2_cview *cv = calloc(1, sizeof(*cv));

	*out = NULL;
	if (!cv || !(cv->probed = calloc(EAU2_CVIEW_NODES_MAX, sizeof(*cv->probed))) ||
	    !(cv->ok = calloc(EAU2_CVIEW_NODES_MAX, sizeof(*cv->ok)))) {
		if (cv)
			free(cv->probed);
		free(cv);
		return eau2_error_set(err, -ENOMEM, "cluster view: out of memory");
	}
	pthread_mutex_init(&cv->mu, NULL);
	eau2_zk_cond_init(&cv->cv);
	*out = cv;
	return 0;
}

const char *eau2_cview_state_name(const struct eau2_cview_node *n)
{
	return !n->up ? "dead" : n->suspect ? "suspect" : "alive";
}

/* Returns whether the node went up or dead (suspect is not counted: it
 * changes no replica's count). */
static bool set_state(struct eau2_cview_node *n, bool up, const char *why)
{
	bool changed = n->up != up || !n->since;

	if (changed)
		n->since = wall_s();
	n->up = up;
	n->suspect = false;
	snprintf(n->why, sizeof(n->why), "%s", up ? "" : why);
	return changed;
}

/* The record of id, made when new; forgets the oldest dead one to make
 * room. NULL when every slot holds a live member. */
static struct eau2_cview_node *record(struct eau2_cview_state *s, const char *id)
{
	size_t i, old = SIZE_MAX;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->node[i].id, id))
			return &s->node[i];
	if (s->n < EAU2_CVIEW_NODES_MAX) {
		memset(&s->node[s->n], 0, sizeof(s->node[0]));
		return &s->node[s->n++];
	}
	for (i = 0; i < s->n; i++)
		if (!s->node[i].up && (old == SIZE_MAX || s->node[i].since < s->node[old].since))
			old = i;
	if (old == SIZE_MAX)
		return NULL;
	memset(&s->node[old], 0, sizeof(s->node[0]));
	return &s->node[old];
}

/* Members from ZooKeeper: new ones recorded, present ones refreshed,
 * vanished ones dead. */
static int look_members(struct eau2_cview *cv, struct eau2_cview_state *s)
{
	struct eau2_error err = {0};
	struct eau2_members m = {0};
	size_t i;
	int rc = eau2_members_list(cv->zk, &m, &err);

	if (rc) {
		snprintf(s->error, sizeof(s->error), "%.255s", err.msg);
		return rc;
	}
	s->error[0] = 0;
	for (i = 0; i < s->n; i++)
		s->node[i].in_zk = false;
	for (i = 0; i < m.n; i++) {
		struct eau2_cview_node *n = record(s, m.v[i].id);
		bool fresh;

		if (!n)
			continue;
		fresh = !n->id[0];
		snprintf(n->id, sizeof(n->id), "%s", m.v[i].id);
		snprintf(n->addr, sizeof(n->addr), "%s", m.v[i].addr);
		snprintf(n->http, sizeof(n->http), "%s", m.v[i].http);
		n->cores = m.v[i].cores;
		n->memory = m.v[i].memory;
		n->free = m.v[i].free;
		if (n->started != (double)m.v[i].started_ms / 1000) /* restarted: a new life */
			fresh = true;
		n->started = (double)m.v[i].started_ms / 1000;
		n->self = !strcmp(n->id, s->self);
		n->in_zk = true;
		if (fresh) {
			n->have_info = false;
			n->last_ok = wall_s(); /* gets DEAD_MS to answer a first probe */
			n->up = false;
			n->since = 0;
			(void)set_state(n, true, "");
		}
	}
	eau2_members_free(&m);
	return 0;
}

/* Probes every member in ZooKeeper but this node, and judges them:
 * true when one changed state (the directory's counts are then redone). */
static bool probe_round(struct eau2_cview *cv, struct eau2_cview_state *s)
{
	bool changed = false;
	size_t i, k = 0;
	double now;

	for (i = 0; i < s->n; i++)
		if (s->node[i].in_zk && !s->node[i].self && s->node[i].http[0])
			cv->probed[k++] = s->node[i];
	if (k)
		cv->probe(cv->probe_ctx, cv->probed, cv->ok, k, EAU2_CVIEW_PROBE_TIMEOUT_MS);
	now = wall_s();
	for (i = 0; i < k; i++) {
		struct eau2_cview_node *n = record(s, cv->probed[i].id);

		s->probes_ok += cv->ok[i];
		s->probes_failed += !cv->ok[i];
		if (cv->ok[i]) {
			*n = cv->probed[i];
			n->last_ok = now;
		}
	}
	for (i = 0; i < s->n; i++) {
		struct eau2_cview_node *n = &s->node[i];
		char why[96];

		if (!n->in_zk) {
			changed |= set_state(n, false, n->why[0] ? n->why : "its znode is gone");
		} else if (n->self || !n->http[0]) {
			changed |= set_state(n, true, ""); /* no --http to ask: ZooKeeper's word */
		} else if ((now - n->last_ok) * 1000 > EAU2_CVIEW_DEAD_MS) {
			snprintf(why, sizeof(why), "no answer for %.0f s", now - n->last_ok);
			changed |= set_state(n, false, why);
		} else {
			changed |= set_state(n, true, "");
			/* Judged right after a round: an answer in it is fresh. */
			n->suspect = (now - n->last_ok) * 1000 > EAU2_CVIEW_PROBE_MS / 2;
		}
	}
	return changed;
}

static struct eau2_cview_node *node_by_id(struct eau2_cview_state *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->node[i].id, id))
			return &s->node[i];
	return NULL;
}

/* One directory entry into the summary. */
static void tally(struct eau2_cview_state *s, const struct eau2_dir_entry *e)
{
	struct eau2_cview_key *k = s->nkey < EAU2_CVIEW_KEYS_MAX ? &s->key[s->nkey++] : NULL;

	if (k) {
		memset(k, 0, sizeof(*k));
		snprintf(k->key, sizeof(k->key), "%s", e->key);
		k->rows = e->rows;
		k->bytes = e->bytes;
		k->parts = (uint32_t)e->nparts;
		for (size_t j = 0; j < e->nnodes && k->nnodes < EAU2_CVIEW_KEY_NODES; j++)
			snprintf(k->nodes[k->nnodes++], sizeof(k->nodes[0]), "%s", e->nodes[j]);
	}
	s->partitions += e->nparts;
	for (size_t i = 0; i < e->nparts; i++) {
		uint32_t live = 0;

		for (uint32_t j = 0; j < e->parts[i].nrep; j++) {
			struct eau2_cview_node *n = node_by_id(s, eau2_dir_replica(e, i, j));

			live += n && n->up;
			if (n) {
				n->parts++;
				n->part_bytes += e->parts[i].bytes;
			}
			if (n && n->self)
				s->replicas_here++;
		}
		/* Fewer live replicas than placed, or the directory says so. */
		if (live < e->parts[i].nrep || e->parts[i].state != EAU2_PART_OK) {
			s->under_replicated++;
			if (k)
				k->under++;
		}
	}
}

static void look_dir(struct eau2_cview *cv, struct eau2_cview_state *s)
{
	struct eau2_error err = {0};
	char **keys = NULL;
	size_t nk = 0, i;

	if (eau2_dir_list(cv->zk, &keys, &nk, &err)) {
		snprintf(s->error, sizeof(s->error), "%.255s", err.msg);
		return;
	}
	s->keys = nk;
	s->keys_truncated = nk > EAU2_CVIEW_DIR_READ_MAX;
	s->nkey = 0;
	s->partitions = s->replicas_here = s->under_replicated = 0;
	for (i = 0; i < s->n; i++)
		s->node[i].parts = s->node[i].part_bytes = 0;
	for (i = 0; i < nk && i < EAU2_CVIEW_DIR_READ_MAX; i++) {
		struct eau2_dir_entry e;

		if (eau2_dir_read(cv->zk, keys[i], &e, NULL, NULL, &err))
			continue; /* deleted meanwhile, or malformed: not counted */
		tally(s, &e);
		eau2_dir_entry_free(&e);
	}
	eau2_list_free(keys);
}

static void *cview_main(void *arg)
{
	struct eau2_cview *cv = arg;
	struct eau2_cview_state *s = &cv->work;

	for (;;) {
		struct timespec dl = eau2_zk_deadline(EAU2_CVIEW_PROBE_MS);
		bool changed;

		/* ZooKeeper unreachable: the members last listed are probed
		 * still (the error is kept in s->error), so one that dies
		 * meanwhile shows dead all the same. */
		look_members(cv, s);
		changed = probe_round(cv, s);

		if (changed || eau2_mono_ms() - cv->dir_at >= EAU2_CVIEW_DIR_MS) {
			look_dir(cv, s);
			cv->dir_at = eau2_mono_ms();
		}
		s->started = true;
		pthread_mutex_lock(&cv->mu);
		cv->pub = *s;
		while (!cv->stop && pthread_cond_timedwait(&cv->cv, &cv->mu, &dl) != ETIMEDOUT)
			;
		if (cv->stop) {
			pthread_mutex_unlock(&cv->mu);
			return NULL;
		}
		pthread_mutex_unlock(&cv->mu);
	}
}

static void drop_token(struct eau2_cview *cv)
{
	if (cv->token)
		memset(cv->token, 0, strlen(cv->token));
	free(cv->token);
	cv->token = NULL;
}

int eau2_cview_start(struct eau2_cview *cv, eau2_zk *zk, const char *self_id,
		     eau2_cview_probe_fn probe, void *probe_ctx, const char *token,
		     struct eau2_error *err)
{
	int rc;

	if (cv->has_thread)
		return eau2_error_set(err, -EBUSY, "cluster view: already started");
	cv->zk = zk;
	cv->probe = probe ? probe : eau2_cview_http_probe;
	drop_token(cv);
	if (token && !(cv->token = strdup(token)))
		return eau2_error_set(err, -ENOMEM, "cluster view: out of memory");
	cv->probe_ctx = probe ? probe_ctx : cv->token;
	snprintf(cv->work.self, sizeof(cv->work.self), "%s", self_id);
	cv->dir_at = eau2_mono_ms() - EAU2_CVIEW_DIR_MS;
	if ((rc = pthread_create(&cv->thread, NULL, cview_main, cv)))
		return eau2_error_set(err, -rc, "cluster view: cannot start its thread");
	cv->has_thread = true;
	return 0;
}

void eau2_cview_get(struct eau2_cview *cv, struct eau2_cview_state *out)
{
	pthread_mutex_lock(&cv->mu);
	*out = cv->pub;
	pthread_mutex_unlock(&cv->mu);
}

void eau2_cview_stop(struct eau2_cview *cv)
{
	if (!cv || !cv->has_thread)
		return;
	pthread_mutex_lock(&cv->mu);
	cv->stop = true;
	pthread_cond_signal(&cv->cv);
	pthread_mutex_unlock(&cv->mu);
	pthread_join(cv->thread, NULL);
	cv->has_thread = false;
	cv->stop = false;
	cv->zk = NULL;
}

void eau2_cview_free(struct eau2_cview *cv)
{
	if (!cv)
		return;
	eau2_cview_stop(cv);
	pthread_cond_destroy(&cv->cv);
	pthread_mutex_destroy(&cv->mu);
	drop_token(cv);
	free(cv->probed);
	free(cv->ok);
	free(cv);
}
