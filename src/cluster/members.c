/* SPDX-License-Identifier: MIT */
/*
 * members.c - cluster membership on ZooKeeper (see members.h): the
 * ephemeral znode of each node, its JSON payload, listing and watching.
 *
 * Access rules. struct eau2_member_reg: zk, path, free_fn, arg and
 * refresh_ms are constant; `mu` guards m and stop; the refresh thread and
 * callers of eau2_member_update publish copies of m taken under mu, never
 * holding it across ZooKeeper. struct eau2_member_watch: `mu` guards stop;
 * `known` belongs to the watch's thread alone; zw is created before the
 * thread and freed after it is joined.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/members.h"
#include "util/clock.h"

#define NODES "nodes"

/* ----------------------------------------------------------- payload */

int eau2_member_check_addr(const char *addr, struct eau2_error *err)
{
	const char *colon, *host;
	size_t n, hlen;
	unsigned long port = 0;

	if (!addr || !*addr)
		return eau2_error_set(err, -EINVAL, "node address is empty (want HOST:PORT)");
	n = strnlen(addr, EAU2_MEMBER_ADDR_MAX + 1);
	if (n > EAU2_MEMBER_ADDR_MAX)
		return eau2_error_set(err, -EINVAL, "node address '%.40s...' is longer than %d bytes",
				      addr, EAU2_MEMBER_ADDR_MAX);
	colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1] || strlen(colon + 1) > 5)
		return eau2_error_set(err, -EINVAL, "node address '%s' is not HOST:PORT", addr);
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return eau2_error_set(err, -EINVAL, "node address '%s': bad port", addr);
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return eau2_error_set(err, -EINVAL, "node address '%s': port out of 1-65535", addr);
	host = addr;
	hlen = (size_t)(colon - addr);
	if (host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']')
			return eau2_error_set(err, -EINVAL, "node address '%s': bad [IPv6] host", addr);
		for (size_t i = 1; i < hlen - 1; i++) {
			char c = host[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
				return eau2_error_set(err, -EINVAL,
						      "node address '%s': bad [IPv6] host", addr);
		}
		return 0;
	}
	if (host[0] == '-' || host[0] == '.')
		return eau2_error_set(err, -EINVAL, "node address '%s': bad host name", addr);
	for (size_t i = 0; i < hlen; i++) {
		char c = host[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return eau2_error_set(err, -EINVAL,
					      "node address '%s': byte %zu (0x%02x) is not part of a host name",
					      addr, i, (unsigned char)c);
	}
	return 0;
}

int eau2_member_encode(const struct eau2_member *m, char *buf, size_t size,
		       size_t *len, struct eau2_error *err)
{
	json_t *o;
	size_t n;
	int rc = 0;

	if (m->memory > INT64_MAX || m->free > INT64_MAX)
		return eau2_error_set(err, -ERANGE, "node %s: byte count over 2^63", m->id);
	o = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I}",
		      "v", EAU2_MEMBER_FORMAT, "addr", m->addr,
		      "cores", (json_int_t)m->cores, "memory", (json_int_t)m->memory,
		      "free", (json_int_t)m->free, "protocol", (json_int_t)m->protocol,
		      "started", (json_int_t)m->started_ms);
	if (o && m->http[0] && json_object_set_new(o, "http", json_string(m->http))) {
		json_decref(o);
		o = NULL;
	}
	if (!o)
		return eau2_error_set(err, -ENOMEM, "node %s: cannot encode its znode", m->id);
	n = json_dumpb(o, buf, size, JSON_COMPACT | JSON_SORT_KEYS);
	if (n == 0 || n > size)
		rc = eau2_error_set(err, -EMSGSIZE, "node %s: znode payload over %zu bytes",
				    m->id, size);
	else
		*len = n;
	json_decref(o);
	return rc;
}

/* An integer field of o within [min, max]. */
static int get_int(const json_t *o, const char *key, long long min,
		   long long max, long long *out, const char *path,
		   struct eau2_error *err)
{
	const json_t *v = json_object_get(o, key);
	long long x;

	if (!v)
		return eau2_error_set(err, -EBADMSG, "znode %s: no \"%s\"", path, key);
	if (!json_is_integer(v))
		return eau2_error_set(err, -EBADMSG, "znode %s: \"%s\" is not an integer",
				      path, key);
	x = json_integer_value(v);
	if (x < min || x > max)
		return eau2_error_set(err, -EBADMSG,
				      "znode %s: \"%s\" is %lld, out of %lld-%lld",
				      path, key, x, min, max);
	*out = x;
	return 0;
}

int eau2_member_decode(const char *path, const char *id, const void *data,
		       size_t len, struct eau2_member *m, struct eau2_error *err)
{
	json_error_t je;
	json_t *o = NULL, *addr;
	long long v;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = eau2_zk_check_name(id, EAU2_MEMBER_ID_MAX, "node id", err)))
		return eau2_error_prefix(err, -EBADMSG, "znode %s", path);
	if (len > EAU2_MEMBER_JSON_MAX)
		return eau2_error_set(err, -EBADMSG, "znode %s: %zu bytes, over %d",
				      path, len, EAU2_MEMBER_JSON_MAX);
	o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!o)
		return eau2_error_set(err, -EBADMSG, "znode %s: not JSON: %s (byte %d)",
				      path, je.text, je.position);
	if (!json_is_object(o)) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: not a JSON object", path);
		goto out;
	}
	if ((rc = get_int(o, "v", 0, INT32_MAX, &v, path, err)))
		goto out;
	if (v != EAU2_MEMBER_FORMAT) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: format %lld, this build reads %d",
				    path, v, EAU2_MEMBER_FORMAT);
		goto out;
	}
	addr = json_object_get(o, "addr");
	if (!addr || !json_is_string(addr)) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: \"addr\" is %s", path,
				    addr ? "not a string" : "missing");
		goto out;
	}
	if (json_string_length(addr) > EAU2_MEMBER_ADDR_MAX ||
	    strlen(json_string_value(addr)) != json_string_length(addr) ||
	    eau2_member_check_addr(json_string_value(addr), err)) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: \"addr\" is not HOST:PORT", path);
		goto out;
	}
	strcpy(m->addr, json_string_value(addr));
	strcpy(m->id, id);
	if ((rc = get_int(o, "cores", 1, 1 << 20, &v, path, err)))
		goto out;
	m->cores = (uint32_t)v;
	if ((rc = get_int(o, "memory", 0, INT64_MAX, &v, path, err)))
		goto out;
	m->memory = (uint64_t)v;
	if ((rc = get_int(o, "free", 0, INT64_MAX, &v, path, err)))
		goto out;
	m->free = (uint64_t)v;
	if ((rc = get_int(o, "protocol", 1, 65535, &v, path, err)))
		goto out;
	m->protocol = (uint32_t)v;
	if ((rc = get_int(o, "started", 0, INT64_MAX, &v, path, err)))
		goto out;
	m->started_ms = v;
	/* Optional: where the node serves its dashboard (--http). */
	addr = json_object_get(o, "http");
	if (addr && (!json_is_string(addr) || json_string_length(addr) > EAU2_MEMBER_ADDR_MAX ||
		     strlen(json_string_value(addr)) != json_string_length(addr) ||
		     eau2_member_check_addr(json_string_value(addr), err))) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: \"http\" is not HOST:PORT", path);
		goto out;
	}
	if (addr)
		strcpy(m->http, json_string_value(addr));
out:
	json_decref(o);
	return rc;
}

/* ----------------------------------------------------------- joining */

struct eau2_member_reg {
	eau2_zk *zk;
	char path[EAU2_MEMBER_ID_MAX + 16]; /* nodes/<id> */
	eau2_member_free_fn *free_fn;
	void *arg;
	int refresh_ms;

	pthread_mutex_t mu;
	pthread_cond_t cv;     /* CLOCK_MONOTONIC */
	struct eau2_member m;  /* under mu */
	bool stop;             /* under mu */
	bool has_thread;
	pthread_t thread;
};

static uint32_t cores_here(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (uint32_t)CPU_COUNT(&set);
	return 1;
}

static uint64_t memory_here(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* opt->addr with a wildcard host replaced by the host name. */
static int advertised(const char *addr, char *out, struct eau2_error *err)
{
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	char host[256];
	int rc;

	if (colon && ((colon - addr == 7 && !strncmp(addr, "0.0.0.0", 7)) ||
		      (colon - addr == 4 && !strncmp(addr, "[::]", 4)) || colon == addr)) {
		if (gethostname(host, sizeof(host)) != 0)
			return eau2_error_set(err, -errno, "node address %s: gethostname: %s",
					      addr, strerror(errno));
		host[sizeof(host) - 1] = 0;
		if (strlen(host) + strlen(colon) > EAU2_MEMBER_ADDR_MAX)
			return eau2_error_set(err, -EINVAL, "node address %s: host name too long", addr);
		memcpy(out, host, strlen(host));
		strcpy(out + strlen(host), colon);
	} else {
		if ((rc = eau2_member_check_addr(addr, err)))
			return rc;
		strcpy(out, addr);
	}
	return eau2_member_check_addr(out, err);
}

static int publish(eau2_member_reg *reg, struct eau2_error *err)
{
	char buf[EAU2_MEMBER_JSON_MAX];
	size_t len;
	int rc;

	pthread_mutex_lock(&reg->mu);
	rc = eau2_member_encode(&reg->m, buf, sizeof(buf), &len, err);
	pthread_mutex_unlock(&reg->mu);
	if (rc)
		return rc;
	return eau2_zk_set(reg->zk, reg->path, buf, len, -1, NULL, err);
}

static void *refresh_main(void *arg)
{
	eau2_member_reg *reg = arg;

	for (;;) {
		struct timespec dl = eau2_zk_deadline(reg->refresh_ms);
		uint64_t f;
		bool changed;
		pthread_mutex_lock(&reg->mu);
		while (!reg->stop &&
		       pthread_cond_timedwait(&reg->cv, &reg->mu, &dl) != ETIMEDOUT)
			;
		if (reg->stop) {
			pthread_mutex_unlock(&reg->mu);
			break;
		}
		pthread_mutex_unlock(&reg->mu);
		f = reg->free_fn(reg->arg);
		pthread_mutex_lock(&reg->mu);
		changed = f != reg->m.free;
		reg->m.free = f;
		pthread_mutex_unlock(&reg->mu);
		/* A failed refresh is retried at the next tick; an expired
		 * session ends the registration (the session callback says). */
		if (changed && publish(reg, NULL) == -ENOTCONN)
			break;
	}
	return NULL;
}

/* The id is taken: who holds it, for the message. */
static int taken(eau2_member_reg *reg, const char *id, struct eau2_zk_stat *st,
		 struct eau2_error *err)
{
	char full[EAU2_ZK_PATH_MAX];
	struct eau2_member other;
	void *data = NULL;
	size_t len;
	int rc;

	rc = eau2_zk_get(reg->zk, reg->path, &data, &len, st, NULL, err);
	if (rc)
		return rc; /* -ENOENT: it just went */
	snprintf(full, sizeof(full), "%.80s/%.300s", eau2_zk_root(reg->zk), reg->path);
	if (eau2_member_decode(full, id, data, len, &other, NULL) != 0)
		strcpy(other.addr, "(unreadable)");
	free(data);
	return eau2_error_set(err, -EEXIST,
			      "node id '%s' is taken by a live node at %s (ZooKeeper session 0x%" PRIx64
			      "); a dead node's id comes free when its session times out",
			      id, other.addr, (uint64_t)st->ephemeral_owner);
}

int eau2_member_register(eau2_zk *zk, const struct eau2_member_options *opt,
			 eau2_member_reg **out, struct eau2_error *err)
{
	char buf[EAU2_MEMBER_JSON_MAX];
	struct timespec wait_end;
	eau2_member_reg *reg;
	size_t len;
	int rc;

	*out = NULL;
	if (!(reg = calloc(1, sizeof(*reg))))
		return eau2_error_set(err, -ENOMEM, "node registration: out of memory");
	reg->zk = zk;
	pthread_mutex_init(&reg->mu, NULL);
	eau2_zk_cond_init(&reg->cv);
	if ((rc = advertised(opt->addr, reg->m.addr, err)))
		goto fail;
	if ((rc = eau2_zk_check_name(opt->id ? opt->id : reg->m.addr,
				     EAU2_MEMBER_ID_MAX, "node id", err)))
		goto fail;
	strcpy(reg->m.id, opt->id ? opt->id : reg->m.addr);
	if (opt->http && (rc = advertised(opt->http, reg->m.http, err)))
		goto fail;
	reg->m.cores = opt->cores ? opt->cores : cores_here();
	reg->m.memory = opt->memory ? opt->memory : memory_here();
	reg->m.free = opt->free_fn ? opt->free_fn(opt->arg) : opt->free;
	reg->m.protocol = EAU2_MEMBER_PROTOCOL;
	reg->m.started_ms = eau2_wall_ms();
	reg->m.session = eau2_zk_session_id(zk, NULL);
	reg->free_fn = opt->free_fn;
	reg->arg = opt->arg;
	reg->refresh_ms = opt->refresh_ms > 0 ? opt->refresh_ms : 5000;
	snprintf(reg->path, sizeof(reg->path), NODES "/%s", reg->m.id);
	if ((rc = eau2_member_encode(&reg->m, buf, sizeof(buf), &len, err)))
		goto fail;

	wait_end = eau2_zk_deadline(opt->join_wait_ms);
	for (;;) {
		struct eau2_error werr = {0};
		struct eau2_zk_stat st;
		int left, wrc;

		rc = eau2_zk_create(zk, reg->path, buf, len,
				    EAU2_ZK_EPHEMERAL | EAU2_ZK_PARENTS, NULL, 0, err);
		if (rc != -EEXIST)
			break;
		rc = taken(reg, reg->m.id, &st, err);
		if (rc == -ENOENT)
			continue;
		if (rc != -EEXIST)
			break;
		left = eau2_zk_ms_left(&wait_end);
		if (left <= 0 || st.ephemeral_owner == reg->m.session)
			break; /* -EEXIST, with taken()'s message */
		/* Wait for the holder to go; on the timeout, taken()'s
		 * message stands. */
		wrc = eau2_zk_wait_change(zk, reg->path, &st, left, NULL, &werr);
		if (wrc == -ETIMEDOUT)
			break;
		if (wrc) {
			rc = wrc;
			if (err)
				*err = werr;
			break;
		}
	}
	if (rc)
		goto fail;
	if (reg->free_fn) {
		if ((rc = pthread_create(&reg->thread, NULL, refresh_main, reg))) {
			eau2_zk_delete(zk, reg->path, -1, NULL);
			rc = eau2_error_set(err, -rc, "node %s: cannot start its refresh thread",
					    reg->m.id);
			goto fail;
		}
		reg->has_thread = true;
	}
	*out = reg;
	return 0;
fail:
	pthread_cond_destroy(&reg->cv);
	pthread_mutex_destroy(&reg->mu);
	free(reg);
	return rc;
}

const char *eau2_member_id(const eau2_member_reg *reg)
{
	return reg->m.id;
}

int eau2_member_update(eau2_member_reg *reg, uint64_t free, struct eau2_error *err)
{
	pthread_mutex_lock(&reg->mu);
	reg->m.free = free;
	pthread_mutex_unlock(&reg->mu);
	return publish(reg, err);
}

void eau2_member_unregister(eau2_member_reg *reg)
{
	if (!reg)
		return;
	if (reg->has_thread) {
		pthread_mutex_lock(&reg->mu);
		reg->stop = true;
		pthread_cond_broadcast(&reg->cv);
		pthread_mutex_unlock(&reg->mu);
		pthread_join(reg->thread, NULL);
	}
	eau2_zk_delete(reg->zk, reg->path, -1, NULL);
	pthread_cond_destroy(&reg->cv);
	pthread_mutex_destroy(&reg->mu);
	free(reg);
}

/* ----------------------------------------------------------- looking */

void eau2_members_free(struct eau2_members *m)
{
	if (!m)
		return;
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Reads the members named in kids (sorted) into out. */
static int read_members(eau2_zk *zk, const struct eau2_zk_names *kids,
			struct eau2_members *out, struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX], full[EAU2_ZK_PATH_MAX];
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (kids->n && !(out->v = calloc(kids->n, sizeof(*out->v))))
		return eau2_error_set(err, -ENOMEM, "members: out of memory");
	for (size_t i = 0; i < kids->n; i++) {
		struct eau2_error derr = {0};
		struct eau2_member *m = &out->v[out->n];
		struct eau2_zk_stat st;
		void *data = NULL;
		size_t len = 0;

		snprintf(path, sizeof(path), NODES "/%.200s", kids->names[i]);
		rc = eau2_zk_get(zk, path, &data, &len, &st, NULL, err);
		if (rc == -ENOENT) {
			rc = 0;
			continue; /* left meanwhile */
		}
		if (rc)
			break;
		snprintf(full, sizeof(full), "%.80s/%.300s", eau2_zk_root(zk), path);
		if (eau2_member_decode(full, kids->names[i], data, len, m, &derr) == 0) {
			m->session = st.ephemeral_owner;
			out->n++;
		} else if (out->bad++ == 0) {
			snprintf(out->bad_msg, sizeof(out->bad_msg), "%.255s", derr.msg);
		}
		free(data);
	}
	if (rc)
		eau2_members_free(out);
	return rc;
}

int eau2_members_list(eau2_zk *zk, struct eau2_members *out, struct eau2_error *err)
{
	struct eau2_zk_names kids;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = eau2_zk_children(zk, NODES, &kids, NULL, NULL, err);
	if (rc == -ENOENT)
		return 0; /* nobody ever joined */
	if (rc)
		return rc;
	rc = read_members(zk, &kids, out, err);
	eau2_zk_names_free(&kids);
	return rc;
}

struct eau2_member_watch {
	eau2_zk *zk;
	eau2_member_event_fn *fn;
	void *arg;
	eau2_zk_watch *zw;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;                  /* under mu */
	struct eau2_members known;  /* the thread's */
};

static bool stopping(eau2_member_watch *w)
{
	bool s;

	pthread_mutex_lock(&w->mu);
	s = w->stop;
	pthread_mutex_unlock(&w->mu);
	return s;
}

/* Sleeps ms unless stopped first. */
static void pause_ms(eau2_member_watch *w, int ms)
{
	struct timespec dl = eau2_zk_deadline(ms);

	pthread_mutex_lock(&w->mu);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&w->mu);
}

/* Calls the callback for the differences between the old and new lists
 * (both sorted by id). */
static void report(eau2_member_watch *w, const struct eau2_members *old,
		   const struct eau2_members *now)
{
	size_t i = 0, j = 0;

	while (i < old->n || j < now->n) {
		int c = i == old->n ? 1 : j == now->n ? -1 :
			strcmp(old->v[i].id, now->v[j].id);

		if (c < 0) {
			w->fn(w->arg, EAU2_MEMBER_LEFT, &old->v[i++]);
		} else if (c > 0) {
			w->fn(w->arg, EAU2_MEMBER_JOINED, &now->v[j++]);
		} else {
			/* Same id, new session: it left and came back. */
			if (old->v[i].session != now->v[j].session) {
				w->fn(w->arg, EAU2_MEMBER_LEFT, &old->v[i]);
				w->fn(w->arg, EAU2_MEMBER_JOINED, &now->v[j]);
			}
			i++;
			j++;
		}
	}
}

static void *watch_main(void *arg)
{
	eau2_member_watch *w = arg;

	while (!stopping(w)) {
		struct eau2_zk_names kids;
		struct eau2_members now;
		int rc;

		rc = eau2_zk_children(w->zk, NODES, &kids, NULL, w->zw, NULL);
		if (rc == -ENOENT) {
			/* Nobody joined yet: make the directory to watch. */
			if (eau2_zk_mkdirs(w->zk, NODES, NULL) != 0)
				pause_ms(w, 1000);
			continue;
		}
		if (rc == -ENOTCONN)
			break; /* session over: the session callback tells */
		if (rc) {
			pause_ms(w, 1000);
			continue;
		}
		rc = read_members(w->zk, &kids, &now, NULL);
		eau2_zk_names_free(&kids);
		if (rc == -ENOTCONN)
			break;
		if (rc) {
			pause_ms(w, 1000);
			continue;
		}
		report(w, &w->known, &now);
		eau2_members_free(&w->known);
		w->known = now;
		/* Bounded, and woken at once by unwatch. */
		rc = eau2_zk_watch_wait(w->zw, 60000, NULL);
		if (rc == -ENOTCONN)
			break;
	}
	return NULL;
}

int eau2_members_watch(eau2_zk *zk, eau2_member_event_fn *fn, void *arg,
		       eau2_member_watch **out, struct eau2_error *err)
{
	eau2_member_watch *w;
	int rc;

	*out = NULL;
	if (!(w = calloc(1, sizeof(*w))))
		return eau2_error_set(err, -ENOMEM, "members watch: out of memory");
	w->zk = zk;
	w->fn = fn;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	eau2_zk_cond_init(&w->cv);
	if ((rc = eau2_zk_watch_new(zk, &w->zw, err)))
		goto fail;
	if ((rc = pthread_create(&w->thread, NULL, watch_main, w))) {
		rc = eau2_error_set(err, -rc, "members watch: cannot start its thread");
		goto fail;
	}
	*out = w;
	return 0;
fail:
	eau2_zk_watch_free(w->zw);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return rc;
}

void eau2_members_unwatch(eau2_member_watch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	eau2_zk_watch_wake(w->zw);
	pthread_join(w->thread, NULL);
	eau2_zk_watch_free(w->zw);
	eau2_members_free(&w->known);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
