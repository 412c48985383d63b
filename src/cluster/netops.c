/* SPDX-License-Identifier: MIT */
/*
 * netops.c - the driver's node operations over the network (cluster.h's
 * struct eau2_cluster_node_ops on src/node's remote client): push is a
 * remote put of the row-group range, fetch a remote get, drop a remote
 * delete, list the node's keys named "eau2.part.*" and "eau2.bcast.*"
 * (broadcast copies), run a RUN_STATE
 * request, run_out a RUN stored on the node then a STAT of its output,
 * keep, cut and reduce (a shuffle's steps) RUNs of the classes
 * eau2.keep, eau2.cut and eau2.reduce, copy a PULL asking node `to` to copy the partition from
 * node `from` itself (the bytes go node to node, throttled by `to` to the
 * copy rate: eau2_cluster_net_set_copy_rate).
 *
 * Connections. The driver calls these from several threads at once, to
 * one node or several: each call takes an idle client of the node's
 * (by address) from a pool, or opens a new one, and gives it back after,
 * keeping at most IDLE_MAX idle per node. A client whose connection broke
 * reconnects by itself on its next call (rclient.c). A node not called
 * for forget_ms (gone, or restarted on another port) is forgotten, its
 * idle clients and heartbeat client closed, so a long-lived driver in a
 * changing cluster keeps descriptors and memory for the nodes it uses.
 *
 * Access rules: `mu` guards the pool (the node list and idle stacks); it
 * is never held across a network call. `db_mu` serialises what is done
 * with the driver's eau2 handle in fetch, since a handle is used by one
 * thread at a time; it is taken after no other lock. copy_rate is set
 * before the operations are used.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "node/remote.h"
#include "rowers/rowers.h"
#include "util/clock.h"

#define IDLE_MAX 4 /* idle clients kept per node */
#define FORGET_MS 60000 /* default forget_ms */
#define PART_PREFIX "eau2.part."
#define BCAST_PREFIX "eau2.bcast."

/* A client taken out of the pool, for abort. */
struct busy {
	eau2_remote *r;
	struct busy *next;
};

struct pool_node {
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	eau2_remote *idle[IDLE_MAX];
	unsigned nidle;
	struct busy *busy;     /* clients in use */
	int64_t used_ms;       /* monotonic: the last take */
	struct pool_node *next;
};

struct hb_client {
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	eau2_remote *r;         /* NULL until connected */
	int timeout_ms;
	int64_t used_ms;        /* monotonic: the last PING */
	struct hb_client *next;
};

struct eau2_cluster_net {
	char *secret_file;
	int timeout_ms;
	uint64_t copy_rate;     /* bytes/s of a copy; 0: no limit */
	int connect_ms;         /* connecting and the handshake */
	int forget_ms;          /* a node's clients kept this long after its last call */
	pthread_mutex_t mu;     /* the pool */
	pthread_mutex_t db_mu;  /* what is done with a handle */
	struct pool_node *nodes;
	pthread_mutex_t hb_mu;  /* the heartbeat clients (held across a PING:
				 * one thread PINGs, the health thread) */
	struct hb_client *hb;
};

int eau2_cluster_net_new(const char *store, const char *secret_file, int timeout_ms,
			 struct eau2_cluster_net **out, struct eau2_error *err)
{
	struct eau2_cluster_net *n = calloc(1, sizeof(*n));

	(void)store; /* copies no longer pass through the driver */
	*out = NULL;
	if (!n)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	if (secret_file && !(n->secret_file = strdup(secret_file))) {
		free(n);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	n->timeout_ms = n->connect_ms = timeout_ms;
	n->forget_ms = FORGET_MS;
	pthread_mutex_init(&n->mu, NULL);
	pthread_mutex_init(&n->db_mu, NULL);
	pthread_mutex_init(&n->hb_mu, NULL);
	*out = n;
	return 0;
}

void eau2_cluster_net_free(struct eau2_cluster_net *n)
{
	if (!n)
		return;
	while (n->nodes) {
		struct pool_node *p = n->nodes;

		n->nodes = p->next;
		while (p->nidle)
			eau2_remote_close(p->idle[--p->nidle]);
		free(p);
	}
	while (n->hb) {
		struct hb_client *h = n->hb;

		n->hb = h->next;
		eau2_remote_close(h->r);
		free(h);
	}
	pthread_mutex_destroy(&n->hb_mu);
	pthread_mutex_destroy(&n->mu);
	pthread_mutex_destroy(&n->db_mu);
	free(n->secret_file);
	free(n);
}

/* Forgets the nodes with no client in use that were not called for
 * forget_ms (n->mu held), closing their idle clients. */
static void forget_pools(struct eau2_cluster_net *n, int64_t now)
{
	for (struct pool_node **pp = &n->nodes; *pp;) {
		struct pool_node *p = *pp;

		if (p->busy || now - p->used_ms < n->forget_ms) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		while (p->nidle)
			eau2_remote_close(p->idle[--p->nidle]);
		free(p);
	}
}

/* The pool of addr, made when absent (n->mu held); NULL: no memory. */
static struct pool_node *pool_of(struct eau2_cluster_net *n, const char *addr)
{
	struct pool_node *p;

	for (p = n->nodes; p; p = p->next)
		if (!strcmp(p->addr, addr))
			return p;
	if ((p = calloc(1, sizeof(*p)))) {
		strcpy(p->addr, addr);
		p->next = n->nodes;
		n->nodes = p;
	}
	return p;
}

/* An idle client of node, or a new one (connected: errors name the
 * node), listed as busy (b: its entry) until given back. */
static int take(struct eau2_cluster_net *n, const struct eau2_member *node, eau2_remote **r,
		struct eau2_error *err)
{
	struct pool_node *p;
	struct busy *b = malloc(sizeof(*b));
	int64_t now;
	int rc = 0;

	*r = NULL;
	if (!b)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&n->mu);
	now = eau2_mono_ms();
	forget_pools(n, now);
	if ((p = pool_of(n, node->addr))) {
		p->used_ms = now;
		if (p->nidle)
			*r = p->idle[--p->nidle];
	}
	pthread_mutex_unlock(&n->mu);
	if (!p)
		rc = eau2_error_set(err, -ENOMEM, "out of memory");
	else if (!*r && (rc = eau2_remote_open_bounded(r, node->addr, n->secret_file,
							n->timeout_ms, n->connect_ms, err)))
		eau2_error_prefix(err, rc, "node %s", node->id);
	if (rc) {
		free(b);
		return rc;
	}
	b->r = *r;
	pthread_mutex_lock(&n->mu);
	b->next = p->busy;
	p->busy = b;
	pthread_mutex_unlock(&n->mu);
	return 0;
}

/* Gives r back to node's idle stack, or closes it when that is full. */
static void give(struct eau2_cluster_net *n, const struct eau2_member *node, eau2_remote *r)
{
	struct pool_node *p;
	struct busy *b = NULL;

	pthread_mutex_lock(&n->mu);
	p = pool_of(n, node->addr);
	for (struct busy **pp = p ? &p->busy : NULL; pp && *pp; pp = &(*pp)->next)
		if ((*pp)->r == r) {
			b = *pp;
			*pp = b->next;
			break;
		}
	if (p && p->nidle < IDLE_MAX) {
		p->idle[p->nidle++] = r;
		r = NULL;
	}
	pthread_mutex_unlock(&n->mu);
	free(b);
	eau2_remote_close(r);
}

void eau2_cluster_net_connect_ms(struct eau2_cluster_net *n, int ms)
{
	if (ms > 0 && (n->timeout_ms <= 0 || ms < n->timeout_ms))
		n->connect_ms = ms;
}

static void net_abort(void *ctx, const struct eau2_member *node)
{
	struct eau2_cluster_net *n = ctx;
	struct pool_node *p;

	pthread_mutex_lock(&n->mu);
	for (p = n->nodes; p; p = p->next)
		if (!strcmp(p->addr, node->addr))
			for (struct busy *b = p->busy; b; b = b->next)
				eau2_remote_abort(b->r);
	pthread_mutex_unlock(&n->mu);
}

/* Names the node in an error that does not already. */
static int named(const struct eau2_member *node, int rc, struct eau2_error *err)
{
	if (rc && err && !strstr(err->msg, node->addr) && !strstr(err->msg, node->id))
		eau2_error_prefix(err, rc, "node %s (%s)", node->id, node->addr);
	return rc;
}

static int net_push(void *ctx, const struct eau2_member *node, const char *part,
		    const eau2_df *df, size_t group, size_t ngroups, struct eau2_error *err)
{
	eau2_remote *r;
	int rc = take(ctx, node, &r, err);

	if (rc)
		return rc;
	rc = eau2_remote_put(r, part, df, group, ngroups, err);
	give(ctx, node, r);
	return named(node, rc, err);
}

static int fetch_into(struct eau2_cluster_net *n, const struct eau2_member *node,
		      const char *part, eau2 *db, eau2_df **df, struct eau2_error *err)
{
	eau2_remote *r;
	int rc = take(n, node, &r, err);

	*df = NULL;
	if (rc)
		return rc;
	pthread_mutex_lock(&n->db_mu);
	rc = eau2_remote_get(r, db, part, 0, UINT64_MAX, -1, df, err);
	pthread_mutex_unlock(&n->db_mu);
	give(n, node, r);
	return named(node, rc, err);
}

static int net_fetch(void *ctx, const struct eau2_member *node, const char *part,
		     eau2 *db, eau2_df **df, struct eau2_error *err)
{
	return fetch_into(ctx, node, part, db, df, err);
}

static int net_drop(void *ctx, const struct eau2_member *node, const char *part,
		    struct eau2_error *err)
{
	eau2_remote *r;
	int rc = take(ctx, node, &r, err);

	if (rc)
		return rc;
	rc = eau2_remote_delete(r, part, err);
	give(ctx, node, r);
	return named(node, rc, err);
}

static int net_list(void *ctx, const struct eau2_member *node, char ***parts, size_t *np,
		    struct eau2_error *err)
{
	char **keys = NULL;
	size_t nk = 0, k = 0;
	eau2_remote *r;
	int rc = take(ctx, node, &r, err);

	*parts = NULL;
	*np = 0;
	if (rc)
		return rc;
	rc = eau2_remote_list(r, &keys, &nk, err);
	give(ctx, node, r);
	if (rc)
		return named(node, rc, err);
	for (size_t i = 0; i < nk; i++) {
		if (!strncmp(keys[i], PART_PREFIX, strlen(PART_PREFIX)) ||
		    !strncmp(keys[i], BCAST_PREFIX, strlen(BCAST_PREFIX)))
			keys[k++] = keys[i];
		else
			free(keys[i]);
	}
	if (keys)
		keys[k] = NULL;
	*parts = keys;
	*np = k;
	return 0;
}

static int net_copy(void *ctx, const struct eau2_member *from, const struct eau2_member *to,
		    const char *part, struct eau2_error *err)
{
	struct eau2_cluster_net *n = ctx;
	eau2_remote *r;
	int rc = take(n, to, &r, err);

	if (rc)
		return rc;
	rc = eau2_remote_pull(r, from->addr, part, n->copy_rate, NULL, err);
	give(n, to, r);
	return named(to, rc, err);
}

void eau2_cluster_net_forget_ms(struct eau2_cluster_net *n, int ms)
{
	n->forget_ms = ms;
}

void eau2_cluster_net_set_copy_rate(struct eau2_cluster_net *n, uint64_t bytes_per_s)
{
	n->copy_rate = bytes_per_s;
}

static int net_run(void *ctx, const struct eau2_member *node, const char *part,
		   const char *rower, const struct eau2_args *args, void **state,
		   size_t *len, struct eau2_error *err)
{
	eau2_remote *r;
	int rc = take(ctx, node, &r, err);

	*state = NULL;
	*len = 0;
	if (rc)
		return rc;
	rc = eau2_remote_run_state_at(r, rower, args, part, 0, state, len, err);
	give(ctx, node, r);
	return named(node, rc, err);
}

/* A STAT of out, a run's result stored on the node over r, into *info;
 * rows (not NULL): what the run said it stored, checked. */
static int out_info(eau2_remote *r, const char *out, const uint64_t *rows,
		    struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	struct eau2_remote_desc d = {0};
	int rc = eau2_remote_stat(r, out, &d, err);

	if (!rc && ((rows && d.rows != *rows) || d.ngroups > UINT32_MAX))
		rc = eau2_error_set(err, -EBADMSG, "'%s' holds %llu rows in %zu row groups, "
				    "the run said %llu", out, (unsigned long long)d.rows,
				    d.ngroups, (unsigned long long)(rows ? *rows : d.rows));
	if (!rc) {
		*info = (struct eau2_cluster_part_out){
			.rows = d.rows, .bytes = d.bytes, .groups = (uint32_t)d.ngroups,
			.schema = d.schema,
		};
		d.schema = NULL;
	}
	eau2_remote_desc_free(&d);
	return rc;
}

/* A RUN stored under out on the node, then a STAT of out: its
 * descriptor is all that comes back. */
static int net_run_out(void *ctx, const struct eau2_member *node, const char *part,
		       const char *rower, const struct eau2_args *args, const char *out,
		       struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	eau2_df *none = NULL;
	eau2_remote *r;
	uint64_t rows = 0;
	int rc = take(ctx, node, &r, err);

	memset(info, 0, sizeof(*info));
	if (rc)
		return rc;
	rc = eau2_remote_run(r, NULL, rower, args, part, out, 0, &none, &rows, err);
	if (!rc)
		rc = out_info(r, out, &rows, info, err);
	give(ctx, node, r);
	return named(node, rc, err);
}

/* Heartbeats keep clients of their own (hb), opened with the PING's
 * bound: a call of the pool may hold a client for minutes. */
static int net_ping(void *ctx, const struct eau2_member *node, int timeout_ms,
		    struct eau2_error *err)
{
	struct eau2_cluster_net *n = ctx;
	struct hb_client *h;
	int64_t now;
	int rc;

	pthread_mutex_lock(&n->hb_mu);
	now = eau2_mono_ms();
	for (struct hb_client **pp = &n->hb; *pp;) { /* forget the silent */
		h = *pp;
		if (now - h->used_ms < n->forget_ms || !strcmp(h->addr, node->addr)) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		eau2_remote_close(h->r);
		free(h);
	}
	for (h = n->hb; h; h = h->next)
		if (!strcmp(h->addr, node->addr))
			break;
	if (!h && (h = calloc(1, sizeof(*h)))) {
		strcpy(h->addr, node->addr);
		h->next = n->hb;
		n->hb = h;
	}
	if (!h) {
		pthread_mutex_unlock(&n->hb_mu);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	if (h->r && h->timeout_ms != timeout_ms) {
		eau2_remote_close(h->r);
		h->r = NULL;
	}
	h->timeout_ms = timeout_ms;
	h->used_ms = now;
	if (!h->r)
		rc = eau2_remote_open(&h->r, node->addr, n->secret_file, timeout_ms, err);
	else
		rc = eau2_remote_ping(h->r, NULL, err);
	pthread_mutex_unlock(&n->hb_mu);
	return named(node, rc, err);
}


/* ------------------------------------------------- shuffle steps */

/* The shuffle's steps are RUNs of the built-in classes eau2.keep,
 * eau2.cut and eau2.reduce (rowers/shufstep.c): args, the class's
 * own arguments and the step's (at most STEP_ARGS), the schema as
 * "name:type,..." (a name holding ',' or ':' cannot travel: -ENOTSUP). */
#define STEP_ARGS 8

struct step_args {
	struct eau2_args a;
	const char **v;
	char *schema;
};

static int step_args(struct step_args *s, const struct eau2_args *args, const char *rower,
		     const eau2_schema *schema, struct eau2_error *err)
{
	size_t n = args ? args->n : 0, len = 1;

	memset(s, 0, sizeof(*s));
	if (!(s->v = calloc(2 * (n + STEP_ARGS), sizeof(*s->v))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	s->a = (struct eau2_args){ .names = s->v, .values = s->v + n + STEP_ARGS };
	for (size_t i = 0; i < n; i++) {
		s->v[s->a.n] = args->names[i];
		s->v[n + STEP_ARGS + s->a.n++] = args->values[i];
	}
	s->v[s->a.n] = "eau2.rower";
	s->v[n + STEP_ARGS + s->a.n++] = rower;
	if (!schema)
		return 0;
	for (size_t c = 0; c < eau2_schema_ncols(schema); c++) {
		const char *name = eau2_schema_name(schema, c);

		if (strpbrk(name, ",:"))
			return eau2_error_set(err, -ENOTSUP, "column '%s': a name with ',' or "
					      "':' cannot be shuffled", name);
		len += strlen(name) + 16;
	}
	if (!(s->schema = malloc(len)))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	s->schema[0] = 0;
	for (size_t c = 0, at = 0; c < eau2_schema_ncols(schema); c++)
		at += (size_t)snprintf(s->schema + at, len - at, "%s%s:%s", c ? "," : "",
				       eau2_schema_name(schema, c),
				       eau2_type_name(eau2_schema_type(schema, c)));
	s->v[s->a.n] = "eau2.schema";
	s->v[n + STEP_ARGS + s->a.n++] = s->schema;
	return 0;
}

static void step_add(struct step_args *s, const char *name, const char *value)
{
	size_t off = (size_t)(s->a.values - s->a.names);

	s->v[s->a.n] = name;
	s->v[off + s->a.n++] = value;
}

static void step_args_free(struct step_args *s)
{
	free(s->v);
	free(s->schema);
}

/* names[0..n) joined by ',' (malloc'd; NULL: out of memory). */
static char *join_names(const char *const *names, size_t n)
{
	size_t len = 1, at = 0;
	char *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	if (!(p = malloc(len)))
		return NULL;
	p[0] = 0;
	for (size_t i = 0; i < n; i++)
		at += (size_t)snprintf(p + at, len - at, "%s%s", i ? "," : "", names[i]);
	return p;
}

/* A step's RUN on node: its result into db (as NULL) or stored as `as`. */
static int step_run(struct eau2_cluster_net *n, const struct eau2_member *node,
		    const char *step, const struct eau2_args *args, const char *input,
		    const char *as, eau2 *db, eau2_df **res, struct eau2_error *err)
{
	eau2_remote *r;
	uint64_t rows = 0;
	int rc = take(n, node, &r, err);

	*res = NULL;
	if (rc)
		return rc;
	if (!as)
		pthread_mutex_lock(&n->db_mu);
	rc = eau2_remote_run(r, db, step, args, input, as, 0, res, &rows, err);
	if (!as)
		pthread_mutex_unlock(&n->db_mu);
	give(n, node, r);
	return named(node, rc, err);
}

static int net_keep(void *ctx, const struct eau2_member *node, const char *part,
		    const char *rower, const struct eau2_args *args, const char *state,
		    size_t nsample, eau2 *db, void **sample, size_t *slen, uint64_t *bytes,
		    struct eau2_error *err)
{
	struct step_args s;
	char ns[24];
	eau2_df *res = NULL;
	void *buf = NULL;
	size_t len = 0;
	int rc;

	*sample = NULL;
	*slen = 0;
	*bytes = 0;
	snprintf(ns, sizeof(ns), "%zu", nsample);
	if ((rc = step_args(&s, args, rower, NULL, err)) == 0) {
		step_add(&s, "eau2.state", state);
		step_add(&s, "eau2.samples", ns);
		rc = step_run(ctx, node, "eau2.keep", &s.a, part, NULL, db, &res, err);
	}
	step_args_free(&s);
	if (rc == 0)
		rc = eau2_shuffle_blob_read(res, &buf, &len, err);
	eau2_df_release(res);
	if (rc == 0 && len < 8)
		rc = eau2_error_set(err, -EBADMSG, "node %s: keep's answer of %zu bytes",
				    node->id, len);
	if (rc) {
		free(buf);
		return rc;
	}
	memcpy(bytes, buf, 8);
	memmove(buf, (char *)buf + 8, len - 8);
	*sample = buf;
	*slen = len - 8;
	return 0;
}

static int net_cut(void *ctx, const struct eau2_member *node, const char *rower,
		   const struct eau2_args *args, const eau2_schema *schema, const char *state,
		   const void *splits, size_t slen, size_t nsplit, const char *const *ranges,
		   eau2 *db, struct eau2_error *err)
{
	struct step_args s;
	char *hex = malloc(2 * slen + 1), *names = join_names(ranges, nsplit + 1);
	eau2_df *res = NULL;
	int rc;

	if (!hex || !names) {
		free(hex);
		free(names);
		return eau2_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < slen; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)splits)[i]);
	hex[2 * slen] = 0;
	if ((rc = step_args(&s, args, rower, schema, err)) == 0) {
		step_add(&s, "eau2.state", state);
		step_add(&s, "eau2.splits", hex);
		step_add(&s, "eau2.ranges", names);
		rc = step_run(ctx, node, "eau2.cut", &s.a, NULL, NULL, db, &res, err);
	}
	step_args_free(&s);
	eau2_df_release(res);
	free(hex);
	free(names);
	return rc;
}

static int net_reduce(void *ctx, const struct eau2_member *node, const char *rower,
		      const struct eau2_args *args, const eau2_schema *schema,
		      const char *const *names, size_t n, const char *out,
		      struct eau2_cluster_part_out *info, struct eau2_error *err)
{
	struct step_args s;
	char *list = join_names(names, n);
	eau2_df *none = NULL;
	eau2_remote *r;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!list)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	if ((rc = step_args(&s, args, rower, schema, err)) == 0) {
		step_add(&s, "eau2.names", list);
		rc = step_run(ctx, node, "eau2.reduce", &s.a, NULL, out, NULL, &none, err);
	}
	step_args_free(&s);
	free(list);
	if (rc || (rc = take(ctx, node, &r, err)))
		return rc;
	rc = out_info(r, out, NULL, info, err);
	give(ctx, node, r);
	return named(node, rc, err);
}

const struct eau2_cluster_node_ops eau2_cluster_net_ops = {
	.ping = net_ping,
	.abort = net_abort,
	.push = net_push,
	.fetch = net_fetch,
	.drop = net_drop,
	.list = net_list,
	.copy = net_copy,
	.run = net_run,
	.run_out = net_run_out,
	.keep = net_keep,
	.cut = net_cut,
	.reduce = net_reduce,
};
