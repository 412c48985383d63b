/* SPDX-License-Identifier: MIT */
/*
 * dfcache.c - the input dataframes a node keeps open between runs
 * (dfcache.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "df/df.h"
#include "node/dfcache.h"
#include "shm/shm.h"

#define SWEEP_S 1

struct entry {
	char key[EAU2_KEY_MAX + 1];
	uint64_t id;
	eau2_df *df;
	uint64_t used; /* the lookup that last used it */
};

struct eau2_dfcache {
	char *dir;
	struct eau2_store *db; /* keys read and dataframes opened here; opened
				* with the first lookup (an idle node holds
				* no more descriptors than before) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t sweeper;
	bool started, stop;
	uint64_t lookups;
	size_t n, cap;
	struct entry e[];
};

/* Caller holds mu; the dataframe is released after it lets go. */
static eau2_df *entry_take(struct eau2_dfcache *c, size_t i)
{
	eau2_df *df = c->e[i].df;

	c->e[i] = c->e[--c->n];
	return df;
}

/* Whether key still names id (a read of the key's file). */
static bool current(struct eau2_dfcache *c, const char *key, uint64_t id)
{
	uint64_t now = 0;

	return eau2_shm_key_read(c->db, key, &now, NULL) == 0 && now == id;
}

void eau2_dfcache_sweep(struct eau2_dfcache *c)
{
	eau2_df *gone[64];
	size_t ngone;

	do {
		size_t i;

		ngone = 0;
		pthread_mutex_lock(&c->mu);
		i = c->n;
		while (i-- > 0 && ngone < sizeof(gone) / sizeof(gone[0]))
			if (!current(c, c->e[i].key, c->e[i].id))
				gone[ngone++] = entry_take(c, i);
		pthread_mutex_unlock(&c->mu);
		for (i = 0; i < ngone; i++)
			eau2_df_release(gone[i]); /* unmaps: outside the lock */
	} while (ngone == sizeof(gone) / sizeof(gone[0]));
}

static void *sweeper_main(void *arg)
{
	struct eau2_dfcache *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec at;

		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += SWEEP_S;
		if (pthread_cond_timedwait(&c->cv, &c->mu, &at) != ETIMEDOUT || c->stop ||
		    !c->n)
			continue;
		pthread_mutex_unlock(&c->mu);
		eau2_dfcache_sweep(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int eau2_dfcache_new(struct eau2_dfcache **out, const char *dir, size_t cap,
		     struct eau2_error *err)
{
	struct eau2_dfcache *c;

	*out = NULL;
	if (cap == 0)
		return eau2_error_set(err, -EINVAL, "a cache of no entries");
	c = calloc(1, sizeof(*c) + cap * sizeof(c->e[0]));
	if (!c || (dir && !(c->dir = strdup(dir)))) {
		free(c);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->cap = cap;
	*out = c;
	return 0;
}

int eau2_dfcache_get(struct eau2_dfcache *c, const char *key, eau2_df **df, int *hit,
		     struct eau2_error *err)
{
	eau2_df *old = NULL, *mine;
	size_t i, lru = 0;
	int rc;

	*df = NULL;
	*hit = 0;
	pthread_mutex_lock(&c->mu);
	if (!c->db && (rc = eau2_shm_open(&c->db, c->dir, err))) {
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	c->lookups++;
	for (i = 0; i < c->n && strcmp(c->e[i].key, key); i++)
		;
	if (i < c->n) {
		if (current(c, key, c->e[i].id)) {
			c->e[i].used = c->lookups;
			*df = eau2_df_retain(c->e[i].df);
			*hit = 1;
			pthread_mutex_unlock(&c->mu);
			return 0;
		}
		old = entry_take(c, i);
	}
	pthread_mutex_unlock(&c->mu);
	eau2_df_release(old);
	old = NULL;

	rc = eau2_get_in(c->db, key, &mine, err); /* maps: outside the lock */
	if (rc)
		return rc;
	pthread_mutex_lock(&c->mu);
	/* Another thread may have opened the key meanwhile: the newer stays. */
	for (i = 0; i < c->n && strcmp(c->e[i].key, key); i++)
		;
	if (i == c->n && c->n == c->cap) {
		for (i = 1; i < c->n; i++)
			if (c->e[i].used < c->e[lru].used)
				lru = i;
		i = lru;
	}
	if (!c->started)
		c->started = pthread_create(&c->sweeper, NULL, sweeper_main, c) == 0;
	if (c->started) { /* else nothing would drop a deleted key's pages */
		if (i < c->n)
			old = c->e[i].df;
		else
			c->n++;
		snprintf(c->e[i].key, sizeof(c->e[i].key), "%s", key);
		c->e[i].id = eau2_df_store_id(mine);
		c->e[i].df = eau2_df_retain(mine);
		c->e[i].used = c->lookups;
	}
	pthread_mutex_unlock(&c->mu);
	eau2_df_release(old);
	*df = mine;
	return 0;
}

void eau2_dfcache_free(struct eau2_dfcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->started)
		pthread_join(c->sweeper, NULL);
	while (c->n)
		eau2_df_release(entry_take(c, c->n - 1));
	eau2_shm_close(c->db);
	free(c->dir);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
