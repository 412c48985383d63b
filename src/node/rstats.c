/* SPDX-License-Identifier: MIT */
/*
 * rstats.c - the remote service's counters (rstats.h). One mutex guards
 * everything; each hook holds it for a few string compares and copies,
 * never while doing I/O.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node/rstats.h"
#include "util/clock.h"

const double eau2_remote_run_bounds[EAU2_REMOTE_RUN_BUCKETS] = { 0.01, 0.1, 1, 10, 60,
								  600, 3600 };

struct live {
	bool used;
	int64_t t0_ms; /* monotonic */
	const uint64_t *rows_done; /* the run's progress, atomic */
	struct eau2_remote_run_item it;
};

struct eau2_rstats {
	pthread_mutex_t mu;
	uint64_t running;
	size_t nrower;
	struct eau2_remote_rower_runs rower[EAU2_REMOTE_ROWERS_MAX];
	struct live live[EAU2_REMOTE_RUNS_LIVE];
	struct eau2_remote_run_item recent[EAU2_REMOTE_RUNS_RECENT]; /* a ring */
	size_t nrecent, recent_next;
	size_t npeer;
	struct eau2_remote_peer *peer; /* EAU2_REMOTE_PEERS_MAX */
};

struct eau2_rstats *eau2_rstats_new(void)
{
	struct eau2_rstats *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (!(st->peer = calloc(EAU2_REMOTE_PEERS_MAX, sizeof(*st->peer)))) {
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->mu, NULL);
	return st;
}

void eau2_rstats_free(struct eau2_rstats *st)
{
	if (!st)
		return;
	pthread_mutex_destroy(&st->mu);
	free(st->peer);
	free(st);
}

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "10.0.0.1:7400 (node b)" -> "10.0.0.1"; "[::1]:7400 (...)" -> "[::1]". */
static void peer_host(const char *peer, char *out, size_t cap)
{
	size_t n = strcspn(peer, " ");
	const char *colon;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, peer, n);
	out[n] = 0;
	colon = strrchr(out, ':');
	if (colon && (out[0] != '[' || colon[-1] == ']'))
		out[colon - out] = 0;
}

int eau2_rstats_run_begin(struct eau2_rstats *st, const char *rower, const char *input,
			  const char *peer, bool part, uint64_t rows, const uint64_t *rows_done)
{
	int slot = -1;

	pthread_mutex_lock(&st->mu);
	st->running++;
	for (size_t i = 0; i < EAU2_REMOTE_RUNS_LIVE; i++) {
		struct live *l = &st->live[i];

		if (l->used)
			continue;
		memset(l, 0, sizeof(*l));
		l->used = true;
		l->t0_ms = eau2_mono_ms();
		snprintf(l->it.rower, sizeof(l->it.rower), "%s", rower);
		snprintf(l->it.input, sizeof(l->it.input), "%s", input ? input : "");
		peer_host(peer ? peer : "", l->it.peer, sizeof(l->it.peer));
		l->it.part = part;
		l->it.running = true;
		l->it.rows = rows;
		l->rows_done = rows_done;
		l->it.started = wall_s();
		slot = (int)i;
		break;
	}
	pthread_mutex_unlock(&st->mu);
	return slot;
}

/* The rower's counters; past EAU2_REMOTE_ROWERS_MAX, the last entry is
 * "other". Under mu. */
static struct eau2_remote_rower_runs *rower_of(struct eau2_rstats *st, const char *name)
{
	struct eau2_remote_rower_runs *r;

	for (size_t i = 0; i < st->nrower; i++)
		if (!strncmp(st->rower[i].rower, name, sizeof(r->rower) - 1))
			return &st->rower[i];
	if (st->nrower == EAU2_REMOTE_ROWERS_MAX) {
		r = &st->rower[EAU2_REMOTE_ROWERS_MAX - 1];
		snprintf(r->rower, sizeof(r->rower), "other");
		return r;
	}
	r = &st->rower[st->nrower++];
	snprintf(r->rower, sizeof(r->rower), "%s", name);
	return r;
}

void eau2_rstats_run_end(struct eau2_rstats *st, int slot, const char *rower, int rc)
{
	struct eau2_remote_rower_runs *r;
	double sec = 0;
	size_t b = 0;

	pthread_mutex_lock(&st->mu);
	if (st->running)
		st->running--;
	if (slot >= 0 && slot < (int)EAU2_REMOTE_RUNS_LIVE && st->live[slot].used) {
		struct live *l = &st->live[slot];

		sec = (double)(eau2_mono_ms() - l->t0_ms) / 1000;
		l->it.running = false;
		l->it.rc = rc;
		if (l->rows_done)
			l->it.rows_done = __atomic_load_n(l->rows_done, __ATOMIC_RELAXED);
		l->it.seconds = sec;
		st->recent[st->recent_next] = l->it;
		st->recent_next = (st->recent_next + 1) % EAU2_REMOTE_RUNS_RECENT;
		if (st->nrecent < EAU2_REMOTE_RUNS_RECENT)
			st->nrecent++;
		l->used = false;
	}
	r = rower_of(st, rower);
	r->finished++;
	r->failed += rc != 0;
	r->seconds += sec;
	while (b < EAU2_REMOTE_RUN_BUCKETS && sec > eau2_remote_run_bounds[b])
		b++;
	r->bucket[b]++;
	pthread_mutex_unlock(&st->mu);
}

static void add_stats(struct eau2_net_stats *to, const struct eau2_net_stats *a,
		      const struct eau2_net_stats *b)
{
	to->frames_sent += b->frames_sent - a->frames_sent;
	to->frames_recv += b->frames_recv - a->frames_recv;
	to->bytes_sent += b->bytes_sent - a->bytes_sent;
	to->bytes_recv += b->bytes_recv - a->bytes_recv;
	to->chunks_sent += b->chunks_sent - a->chunks_sent;
	to->chunks_recv += b->chunks_recv - a->chunks_recv;
	for (size_t t = 0; t < 5; t++)
		for (size_t c = 0; c < EAU2_NET_NCODECS; c++) {
			to->sent[t][c].raw += b->sent[t][c].raw - a->sent[t][c].raw;
			to->sent[t][c].wire += b->sent[t][c].wire - a->sent[t][c].wire;
			to->sent[t][c].blocks += b->sent[t][c].blocks - a->sent[t][c].blocks;
			to->recv[t][c].raw += b->recv[t][c].raw - a->recv[t][c].raw;
			to->recv[t][c].wire += b->recv[t][c].wire - a->recv[t][c].wire;
			to->recv[t][c].blocks += b->recv[t][c].blocks - a->recv[t][c].blocks;
		}
}

void eau2_rstats_traffic(struct eau2_rstats *st, const char *peer,
			 const struct eau2_net_stats *before,
			 const struct eau2_net_stats *after)
{
	struct eau2_remote_peer *p = NULL;
	char host[64];

	peer_host(peer ? peer : "", host, sizeof(host));
	pthread_mutex_lock(&st->mu);
	for (size_t i = 0; i < st->npeer && !p; i++)
		if (!strcmp(st->peer[i].addr, host))
			p = &st->peer[i];
	if (!p && st->npeer < EAU2_REMOTE_PEERS_MAX) {
		p = &st->peer[st->npeer++];
		snprintf(p->addr, sizeof(p->addr), "%s", host);
	}
	if (!p) {
		p = &st->peer[EAU2_REMOTE_PEERS_MAX - 1];
		snprintf(p->addr, sizeof(p->addr), "other");
	}
	add_stats(&p->st, before, after);
	pthread_mutex_unlock(&st->mu);
}

size_t eau2_rstats_runs(struct eau2_rstats *st, uint64_t *running,
			struct eau2_remote_rower_runs *rower, size_t cap,
			struct eau2_remote_run_item *item, size_t icap, size_t *nitems)
{
	int64_t now = eau2_mono_ms();
	size_t n, k = 0;

	pthread_mutex_lock(&st->mu);
	*running = st->running;
	n = st->nrower < cap ? st->nrower : cap;
	memcpy(rower, st->rower, n * sizeof(*rower));
	for (size_t i = 0; i < EAU2_REMOTE_RUNS_LIVE && k < icap; i++)
		if (st->live[i].used) {
			item[k] = st->live[i].it;
			if (st->live[i].rows_done)
				item[k].rows_done = __atomic_load_n(st->live[i].rows_done,
								    __ATOMIC_RELAXED);
			item[k++].seconds = (double)(now - st->live[i].t0_ms) / 1000;
		}
	for (size_t i = 0; i < st->nrecent && k < icap; i++)
		item[k++] = st->recent[(st->recent_next + EAU2_REMOTE_RUNS_RECENT - 1 - i) %
				       EAU2_REMOTE_RUNS_RECENT];
	pthread_mutex_unlock(&st->mu);
	*nitems = k;
	return n;
}

size_t eau2_rstats_peers(struct eau2_rstats *st, struct eau2_remote_peer *out, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&st->mu);
	n = st->npeer < cap ? st->npeer : cap;
	memcpy(out, st->peer, n * sizeof(*out));
	pthread_mutex_unlock(&st->mu);
	return n;
}
