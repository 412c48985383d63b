/* SPDX-License-Identifier: MIT */
/*
 * repair.c - re-replication after a node's death, and the scan of a
 * restarted node (repair.h): the plan over place.c's repair, the
 * leader's pass (copies node to node, entries updated with a version
 * check), the scan, the progress znode, and the loop every joined node
 * runs.
 *
 * Access rules. A pass and a scan use only what their caller gives them
 * and the zk handle (thread-safe). The loop's struct eau2_repair: `stop`
 * is written under `mu` by eau2_repair_stop and read by the loop's
 * thread (a pass reads it between copies without the lock: a late look
 * costs one more copy); everything else in it belongs to that thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/place.h"
#include "cluster/repair.h"
#include "util/clock.h"

#define COPIES "repair/copies"
#define STATUS "repair/status"
#define LOCK "eau2.repair"
#define COMMIT_TRIES 8

/* The member index of id, or -1. */
static long member_index(const struct eau2_members *m, const char *id)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(id, m->v[mid].id);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* ----------------------------------------------------------- plan */

void eau2_repair_plan_free(struct eau2_repair_plan *plan)
{
	free(plan->v);
	memset(plan, 0, sizeof(*plan));
}

/* Adds a copy to the plan, growing it. */
static int plan_add(struct eau2_repair_plan *p, size_t *cap, const struct eau2_repair_copy *c)
{
	if (p->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void *v = realloc(p->v, nc * sizeof(*p->v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		*cap = nc;
	}
	p->v[p->n++] = *c;
	p->bytes += c->bytes;
	return 0;
}

int eau2_repair_plan(const struct eau2_dir_entry *entries, size_t n,
		     const struct eau2_members *m, struct eau2_repair_plan *plan,
		     struct eau2_error *err)
{
	struct eau2_place_node *nodes = NULL;
	unsigned char *alive = NULL;
	uint32_t *map = NULL, reps[EAU2_DIR_REPLICAS_MAX];
	size_t maxnodes = 0, cap = 0;
	int rc = 0;

	memset(plan, 0, sizeof(*plan));
	for (size_t k = 0; k < n; k++)
		if (entries[k].nnodes > maxnodes)
			maxnodes = entries[k].nnodes;
	nodes = calloc(m->n + maxnodes + 1, sizeof(*nodes));
	alive = calloc(m->n + maxnodes + 1, 1);
	map = calloc(maxnodes + 1, sizeof(*map));
	if (!nodes || !alive || !map) {
		rc = eau2_error_set(err, -ENOMEM, "repair plan: out of memory");
		goto out;
	}
	for (size_t k = 0; k < m->n; k++) {
		nodes[k] = (struct eau2_place_node){ .id = m->v[k].id, .free = m->v[k].free };
		alive[k] = 1;
	}
	/* The load: what the directory places on each live node. */
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < entries[k].nparts; i++)
			for (uint32_t j = 0; j < entries[k].parts[i].nrep; j++) {
				long x = member_index(m, eau2_dir_replica(&entries[k], i, j));

				if (x >= 0)
					nodes[x].load += entries[k].parts[i].bytes;
			}
	for (size_t k = 0; k < n; k++) {
		const struct eau2_dir_entry *e = &entries[k];

		/* Dead nodes of e get indices after the members. */
		for (size_t x = 0; x < e->nnodes; x++) {
			long i = member_index(m, e->nodes[x]);

			map[x] = i >= 0 ? (uint32_t)i : (uint32_t)(m->n + x);
			if (i < 0)
				nodes[m->n + x] = (struct eau2_place_node){ .id = e->nodes[x] };
		}
		for (size_t i = 0; i < e->nparts; i++) {
			const struct eau2_dir_part *p = &e->parts[i];
			struct eau2_place_copy cp[EAU2_DIR_REPLICAS_MAX];
			size_t live = 0, ncp = 0, lost[1], nlost = 0;
			uint32_t nrep = p->nrep;
			int prc;

			for (uint32_t j = 0; j < p->nrep; j++) {
				reps[j] = map[p->rep[j]];
				live += reps[j] < m->n;
			}
			if (live == nrep)
				continue;
			plan->under++;
			if (live == 0) {
				plan->lost++;
				continue;
			}
			/* One partition at a time: one that no node can take
			 * does not stop the others. */
			prc = eau2_place_repair(nodes, m->n + e->nnodes, alive, &p->bytes, reps,
						&nrep, EAU2_DIR_REPLICAS_MAX, 1, nrep, cp, &ncp,
						lost, &nlost, NULL);
			if (prc == -ENOMEM) {
				rc = eau2_error_set(err, -ENOMEM, "repair plan: out of memory");
				goto out;
			}
			plan->stuck += nrep - live - ncp;
			for (size_t c = 0; c < ncp; c++) {
				struct eau2_repair_copy rc1 = {
					.key = k, .part = i, .from = cp[c].from, .to = cp[c].to,
					.bytes = p->bytes,
				};

				if (plan_add(plan, &cap, &rc1)) {
					rc = eau2_error_set(err, -ENOMEM, "repair plan: out of memory");
					goto out;
				}
			}
		}
	}
out:
	if (rc)
		eau2_repair_plan_free(plan);
	free(nodes);
	free(alive);
	free(map);
	return rc;
}

/* ----------------------------------------------------------- status */

int eau2_repair_status_encode(const struct eau2_cluster_repair_status *s, char **out,
			      size_t *len)
{
	const struct eau2_repair_stats *st = &s->st;
	json_t *j = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			      "v", 1, "leader", s->leader, "updated", (json_int_t)s->updated_ms,
			      "rate", (json_int_t)s->rate,
			      "under", (json_int_t)st->under, "lost", (json_int_t)st->lost,
			      "stuck", (json_int_t)st->stuck, "planned", (json_int_t)st->planned,
			      "copied", (json_int_t)st->copied, "failed", (json_int_t)st->failed,
			      "bytes_planned", (json_int_t)st->bytes_planned,
			      "bytes_copied", (json_int_t)st->bytes_copied,
			      "current", s->current);

	*out = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!*out)
		return -ENOMEM;
	*len = strlen(*out);
	return 0;
}

static int status_write(eau2_zk *zk, const struct eau2_repair_pass_opts *o,
			const struct eau2_repair_stats *st, const char *current)
{
	struct eau2_cluster_repair_status s = { .updated_ms = eau2_wall_ms(), .rate = o->rate,
						.st = *st };
	char *text;
	size_t len;
	int rc;

	if (o->earlier) {
		s.st.planned += o->earlier->planned;
		s.st.copied += o->earlier->copied;
		s.st.failed += o->earlier->failed;
		s.st.bytes_planned += o->earlier->bytes_planned;
		s.st.bytes_copied += o->earlier->bytes_copied;
	}
	snprintf(s.leader, sizeof(s.leader), "%s", o->leader ? o->leader : "");
	snprintf(s.current, sizeof(s.current), "%s", current ? current : "");
	if ((rc = eau2_repair_status_encode(&s, &text, &len)))
		return rc;
	rc = eau2_zk_set(zk, STATUS, text, len, -1, NULL, NULL);
	if (rc == -ENOENT)
		rc = eau2_zk_create(zk, STATUS, text, len, EAU2_ZK_PARENTS, NULL, 0, NULL);
	free(text);
	return rc;
}

static int count_of(const json_t *o, const char *name, uint64_t *out)
{
	const json_t *v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int eau2_repair_status_decode(const char *path, const void *data, size_t len,
			      struct eau2_cluster_repair_status *s, struct eau2_error *err)
{
	static const char *const names[] = {
		"under", "lost", "stuck", "planned", "copied", "failed", "bytes_planned",
		"bytes_copied", "rate", "updated",
	};
	uint64_t v[sizeof(names) / sizeof(*names)];
	const char *leader, *current;
	json_error_t je;
	json_t *o;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (len > EAU2_REPAIR_STATUS_MAX)
		return eau2_error_set(err, -EBADMSG, "znode %s: %zu bytes, over %d", path, len,
				      EAU2_REPAIR_STATUS_MAX);
	if (!(o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(o)) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: not a JSON object (%s)", path,
				    o ? "another type" : je.text);
		goto out;
	}
	leader = json_string_value(json_object_get(o, "leader"));
	current = json_string_value(json_object_get(o, "current"));
	if (!leader || !current || strlen(leader) > EAU2_MEMBER_ID_MAX ||
	    strlen(current) >= sizeof(s->current)) {
		rc = eau2_error_set(err, -EBADMSG, "znode %s: bad \"leader\" or \"current\"", path);
		goto out;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (count_of(o, names[i], &v[i])) {
			rc = eau2_error_set(err, -EBADMSG, "znode %s: \"%s\" is not a count", path,
					    names[i]);
			goto out;
		}
	strcpy(s->leader, leader);
	strcpy(s->current, current);
	s->st = (struct eau2_repair_stats){
		.under = v[0], .lost = v[1], .stuck = v[2], .planned = v[3], .copied = v[4],
		.failed = v[5], .bytes_planned = v[6], .bytes_copied = v[7],
	};
	s->rate = v[8];
	s->updated_ms = v[9] > INT64_MAX ? INT64_MAX : (int64_t)v[9];
out:
	json_decref(o);
	return rc;
}

int eau2_repair_status_read(eau2_zk *zk, struct eau2_cluster_repair_status *s,
			    struct eau2_error *err)
{
	char path[EAU2_ZK_PATH_MAX + 32];
	void *data = NULL;
	size_t len;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = eau2_zk_get(zk, STATUS, &data, &len, NULL, NULL, err)))
		return rc;
	snprintf(path, sizeof(path), "%s/" STATUS, eau2_zk_root(zk));
	rc = eau2_repair_status_decode(path, data, len, s, err);
	free(data);
	return rc;
}

/* ----------------------------------------------------------- pass */

__attribute__((format(printf, 2, 3)))
static void plog(const struct eau2_repair_pass_opts *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->log(o->log_arg, line);
}

/* Reads every key's entry (with its version). Keys removed meanwhile
 * are left out; an entry that does not decode is skipped and counted in
 * *bad, or fails the read when bad is NULL. */
static int read_entries(eau2_zk *zk, struct eau2_dir_entry **out, int32_t **versions,
			size_t *n, size_t *bad, struct eau2_error *err)
{
	char **keys = NULL;
	size_t nk = 0;
	int rc;

	*out = NULL;
	*versions = NULL;
	*n = 0;
	if (bad)
		*bad = 0;
	if ((rc = eau2_dir_list(zk, &keys, &nk, err)))
		return rc;
	*out = calloc(nk + 1, sizeof(**out));
	*versions = calloc(nk + 1, sizeof(**versions));
	if (!*out || !*versions) {
		rc = eau2_error_set(err, -ENOMEM, "repair: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nk; i++) {
		struct eau2_zk_stat st = {0};
		int r = eau2_dir_read(zk, keys[i], &(*out)[*n], &st, NULL, err);

		if (r == 0) {
			(*versions)[(*n)++] = st.version;
		} else if (r == -EBADMSG && bad) {
			(*bad)++;
		} else if (r != -ENOENT) {
			rc = r;
			goto out;
		}
	}
out:
	eau2_list_free(keys);
	if (rc) {
		for (size_t i = 0; *out && i < *n; i++)
			eau2_dir_entry_free(&(*out)[i]);
		free(*out);
		free(*versions);
		*out = NULL;
		*versions = NULL;
		*n = 0;
	}
	return rc;
}

enum commit_result { COMMITTED, BEATEN };

/* Names `to` as a replica of partition i of key's put `put`, in place of
 * one whose node is not live, with a version-checked set; the entry is
 * read again for each try. BEATEN: a put or a delete changed the key,
 * or no replica is dead any more: the copy is not wanted. */
static int commit_copy(eau2_zk *zk, const char *key, uint64_t put, size_t i, const char *to,
		       enum commit_result *res, struct eau2_error *err)
{
	int rc = 0;

	*res = BEATEN;
	for (int t = 0; t < COMMIT_TRIES; t++) {
		struct eau2_dir_entry e;
		struct eau2_members m = {0};
		struct eau2_zk_stat st = {0};
		size_t j, dead = SIZE_MAX;

		rc = eau2_dir_read(zk, key, &e, &st, NULL, err);
		if (rc == -ENOENT)
			return 0;
		if (rc)
			return rc;
		if (e.put != put || i >= e.nparts) {
			eau2_dir_entry_free(&e);
			return 0;
		}
		if ((rc = eau2_members_list(zk, &m, err))) {
			eau2_dir_entry_free(&e);
			return rc;
		}
		for (j = 0; j < e.parts[i].nrep; j++) {
			const char *id = eau2_dir_replica(&e, i, j);

			if (!strcmp(id, to))
				break;
			if (dead == SIZE_MAX && member_index(&m, id) < 0)
				dead = j;
		}
		eau2_members_free(&m);
		if (j < e.parts[i].nrep) { /* named already */
			*res = COMMITTED;
			eau2_dir_entry_free(&e);
			return 0;
		}
		if (dead == SIZE_MAX) {
			eau2_dir_entry_free(&e);
			return 0;
		}
		rc = eau2_dir_set_replica(&e, i, dead, to, err);
		if (!rc)
			rc = eau2_dir_update(zk, &e, st.version, err);
		eau2_dir_entry_free(&e);
		if (rc == 0) {
			*res = COMMITTED;
			return 0;
		}
		if (rc != -ESTALE && rc != -ENOENT)
			return rc;
	}
	return eau2_error_set(err, -EAGAIN, "key '%s': its entry kept changing (%d tries)",
			      key, COMMIT_TRIES);
}

/* Makes copy c: marks it in progress, copies, names the new replica,
 * unmarks it. */
static int make_copy(eau2_zk *zk, const struct eau2_cluster_node_ops *ops, void *ctx,
		     const struct eau2_dir_entry *e, const struct eau2_members *m,
		     const struct eau2_repair_copy *c, struct eau2_repair_stats *st,
		     struct eau2_error *err)
{
	const struct eau2_member *from = &m->v[c->from], *to = &m->v[c->to];
	char name[EAU2_DIR_PART_NAME_MAX], mark[EAU2_ZK_PATH_MAX];
	enum commit_result res;
	int rc;

	eau2_dir_part_name(e->put, c->part, name);
	snprintf(mark, sizeof(mark), COPIES "/%s@%s", name, to->id);
	rc = eau2_zk_create(zk, mark, NULL, 0, EAU2_ZK_EPHEMERAL | EAU2_ZK_PARENTS, NULL, 0,
			    err);
	if (rc == -EEXIST) /* a former leader's copy, still going: next pass */
		return eau2_error_set(err, -EBUSY, "%s to %s: a copy is in progress", name,
				      to->id);
	if (rc)
		return rc;
	rc = ops->copy(ctx, from, to, name, err);
	if (rc == 0) {
		rc = commit_copy(zk, e->key, e->put, c->part, to->id, &res, err);
		if (rc == 0 && res == BEATEN) {
			(void)ops->drop(ctx, to, name, NULL);
			st->dropped++;
		}
	}
	/* A mark left behind goes with this session. */
	(void)eau2_zk_delete(zk, mark, -1, NULL);
	if (rc)
		eau2_error_prefix(err, rc, "key '%s' partition %zu (%s) from %s to %s", e->key,
				  c->part, name, from->id, to->id);
	return rc;
}

int eau2_repair_pass(eau2_zk *zk, const struct eau2_cluster_node_ops *ops, void *ctx,
		     const struct eau2_repair_pass_opts *o, struct eau2_repair_stats *st,
		     struct eau2_error *err)
{
	static const struct eau2_repair_pass_opts none;
	struct eau2_members m = {0};
	struct eau2_dir_entry *es = NULL;
	struct eau2_repair_plan plan = {0};
	int32_t *versions = NULL;
	size_t n = 0, bad = 0;
	int rc;

	if (!o)
		o = &none;
	memset(st, 0, sizeof(*st));
	/* An entry that does not decode cannot be repaired; the others can. */
	if ((rc = eau2_members_list(zk, &m, err)) ||
	    (rc = read_entries(zk, &es, &versions, &n, &bad, err)) ||
	    (rc = eau2_repair_plan(es, n, &m, &plan, err)))
		goto out;
	st->under = plan.under;
	st->lost = plan.lost;
	st->stuck = plan.stuck;
	st->planned = plan.n;
	st->bytes_planned = plan.bytes;
	for (size_t c = 0; c < plan.n && !(o->stop && *o->stop); c++) {
		const struct eau2_repair_copy *cp = &plan.v[c];
		struct eau2_error e = {0};
		char cur[sizeof(((struct eau2_cluster_repair_status *)0)->current)];
		char name[EAU2_DIR_PART_NAME_MAX];
		int64_t t0 = eau2_mono_ms();
		int r;

		eau2_dir_part_name(es[cp->key].put, cp->part, name);
		snprintf(cur, sizeof(cur), "%s to %s", name, m.v[cp->to].id);
		(void)status_write(zk, o, st, cur);
		r = make_copy(zk, ops, ctx, &es[cp->key], &m, cp, st, &e);
		if (r) {
			st->failed++;
			plog(o, "copy failed: %s", e.msg);
		} else {
			st->copied++;
			st->bytes_copied += cp->bytes;
			plog(o, "copied '%s' partition %zu (%" PRIu64 " bytes) from %s to %s "
			     "in %lld ms", es[cp->key].key, cp->part, cp->bytes,
			     m.v[cp->from].id, m.v[cp->to].id, (long long)(eau2_mono_ms() - t0));
		}
	}
	if (plan.under || plan.n)
		(void)status_write(zk, o, st, NULL);
out:
	eau2_repair_plan_free(&plan);
	for (size_t i = 0; i < n; i++)
		eau2_dir_entry_free(&es[i]);
	free(es);
	free(versions);
	eau2_members_free(&m);
	return rc;
}

/* ----------------------------------------------------------- scan */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether partition (put, index) is to stay on node self. */
static bool keeps(const struct eau2_dir_entry *es, size_t n, const uint64_t *leases,
		  size_t nleases, const char *self, uint64_t put, size_t index)
{
	bool named = false;

	for (size_t k = 0; k < n; k++) {
		if (es[k].put != put)
			continue;
		named = true;
		if (index >= es[k].nparts)
			continue;
		for (uint32_t j = 0; j < es[k].parts[index].nrep; j++)
			if (!strcmp(eau2_dir_replica(&es[k], index, j), self))
				return true;
	}
	/* A put no entry names: kept while leased (in progress). */
	return !named && bsearch(&put, leases, nleases, sizeof(put), cmp_u64);
}

int eau2_repair_scan(eau2_zk *zk, const struct eau2_cluster_node_ops *ops, void *ctx,
		     const struct eau2_member *self, size_t *dropped,
		     struct eau2_error *err)
{
	struct eau2_zk_names marks = {0};
	struct eau2_dir_entry *es = NULL;
	int32_t *versions = NULL;
	uint64_t *leases = NULL;
	size_t np = 0, n = 0, nleases = 0, bad = 0, count = 0;
	char **parts = NULL;
	int rc;

	if (dropped)
		*dropped = 0;
	/* This order: see repair.h. */
	if ((rc = ops->list(ctx, self, &parts, &np, err)))
		return eau2_error_prefix(err, rc, "scan of node %s", self->id);
	rc = eau2_zk_children(zk, COPIES, &marks, NULL, NULL, err);
	if (rc && rc != -ENOENT)
		goto out;
	if ((rc = eau2_dir_leases(zk, &leases, &nleases, err)) ||
	    (rc = read_entries(zk, &es, &versions, &n, &bad, err)))
		goto out;
	if (bad) {
		rc = eau2_error_set(err, -EBADMSG, "scan of node %s: %zu directory entr%s do "
				    "not decode: nothing dropped", self->id, bad,
				    bad == 1 ? "y" : "ies");
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		char mark[EAU2_DIR_PART_NAME_MAX + EAU2_MEMBER_ID_MAX + 2];
		uint64_t put;
		size_t index;
		bool marked = false;

		/* A broadcast copy: kept while its run's lease lives (no
		 * entry names its run id). */
		if (eau2_dir_part_parse(parts[i], &put, &index) &&
		    eau2_dir_bcast_parse(parts[i], &put, &index))
			continue;
		snprintf(mark, sizeof(mark), "%s@%s", parts[i], self->id);
		for (size_t k = 0; k < marks.n && !marked; k++)
			marked = !strcmp(marks.names[k], mark);
		if (marked || keeps(es, n, leases, nleases, self->id, put, index))
			continue;
		if (ops->drop(ctx, self, parts[i], NULL) == 0)
			count++;
	}
	if (dropped)
		*dropped = count;
out:
	eau2_list_free(parts);
	eau2_zk_names_free(&marks);
	for (size_t i = 0; i < n; i++)
		eau2_dir_entry_free(&es[i]);
	free(es);
	free(versions);
	free(leases);
	return rc;
}

/* ----------------------------------------------------------- loop */

struct eau2_repair {
	struct eau2_repair_opts o;
	struct eau2_member self;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	volatile int stop;          /* under mu; read by a pass without it */
	eau2_zk_lock *lock;         /* the loop's thread's */
	struct eau2_repair_pass_opts po;
	struct eau2_repair_stats earlier; /* the passes since it leads (po) */
};

#define rlog(r, ...) plog(&(r)->po, __VA_ARGS__)

/* Sleeps ms, or less when stopped: whether to go on. */
static bool nap(eau2_repair *r, int ms)
{
	struct timespec at = eau2_zk_deadline(ms);
	bool go;

	pthread_mutex_lock(&r->mu);
	while (!r->stop && eau2_zk_ms_left(&at) > 0)
		pthread_cond_timedwait(&r->cv, &r->mu, &at);
	go = !r->stop;
	pthread_mutex_unlock(&r->mu);
	return go;
}

/* What a pass depends on besides the entries' data: who is a member, and
 * which keys exist. -1 fields when unknown. */
struct sig {
	int64_t nodes_pzxid, keys_pzxid;
};

static struct sig sig_read(eau2_zk *zk)
{
	struct eau2_zk_stat a = {0}, b = {0};
	struct sig s = { -1, -1 };

	if (eau2_zk_exists(zk, "nodes", &a, NULL, NULL) == 0 &&
	    eau2_zk_exists(zk, "keys", &b, NULL, NULL) == 0)
		s = (struct sig){ a.pzxid, b.pzxid };
	return s;
}

/* A leader's full pass reads every entry: after one that found nothing
 * it could do, the next waits for a member or a key to come or go, or
 * for FULL_PASS_MS (an entry replaced in place, free bytes that grew). */
#define FULL_PASS_MS 30000

static void *loop_main(void *arg)
{
	eau2_repair *r = arg;
	int64_t next_scan = 0, last_pass = 0;
	struct sig last_sig = { -1, -1 };
	bool idle = false;
	int last_rc = 0;

	do {
		struct eau2_error err = {0};
		int rc;

		if (eau2_zk_expired(r->o.zk))
			break;
		if (eau2_mono_ms() >= next_scan) {
			size_t dropped = 0;

			rc = eau2_repair_scan(r->o.zk, r->o.ops, r->o.ctx, &r->self, &dropped, &err);
			if (rc)
				rlog(r, "scan: %s", err.msg);
			else if (dropped)
				rlog(r, "dropped %zu partition%s no directory entry names here",
				     dropped, dropped == 1 ? "" : "s");
			next_scan = eau2_mono_ms() + (rc ? r->o.period_ms : r->o.scan_ms);
		}
		if (!r->lock) {
			rc = eau2_zk_lock_take(r->o.zk, LOCK, r->o.period_ms, &r->lock, &err);
			if (rc == 0)
				rlog(r, "leading repairs");
			else if (rc != -ETIMEDOUT && !nap(r, r->o.period_ms))
				break;
			continue;
		}
		{
			struct eau2_repair_stats st;
			struct sig now = sig_read(r->o.zk);

			if (idle && now.nodes_pzxid >= 0 && now.nodes_pzxid == last_sig.nodes_pzxid &&
			    now.keys_pzxid == last_sig.keys_pzxid &&
			    eau2_mono_ms() - last_pass < FULL_PASS_MS)
				continue;
			last_sig = now;
			last_pass = eau2_mono_ms();
			rc = eau2_repair_pass(r->o.zk, r->o.ops, r->o.ctx, &r->po, &st, &err);
			idle = rc == 0 && st.planned == 0;
			r->earlier.planned += st.planned;
			r->earlier.copied += st.copied;
			r->earlier.failed += st.failed;
			r->earlier.bytes_planned += st.bytes_planned;
			r->earlier.bytes_copied += st.bytes_copied;
			if (rc && rc != last_rc)
				rlog(r, "pass: %s", err.msg);
			else if (!rc && st.stuck + st.lost && !last_rc)
				rlog(r, "%zu partition%s under-replicated: %zu lost, %zu cop%s no "
				     "live node can take", st.under, st.under == 1 ? "" : "s",
				     st.lost, st.stuck, st.stuck == 1 ? "y" : "ies");
			last_rc = rc ? rc : (st.stuck + st.lost ? 1 : 0);
		}
	} while (nap(r, r->o.period_ms));
	return NULL;
}

int eau2_repair_start(const struct eau2_repair_opts *o, eau2_repair **out,
		      struct eau2_error *err)
{
	eau2_repair *r;

	*out = NULL;
	if (!o || !o->zk || !o->self || !o->ops)
		return eau2_error_set(err, -EINVAL, "repair: no ZooKeeper, node or operations");
	if (!(r = calloc(1, sizeof(*r))))
		return eau2_error_set(err, -ENOMEM, "repair: out of memory");
	r->o = *o;
	r->self = *o->self;
	r->o.self = &r->self;
	r->o.period_ms = o->period_ms > 0 ? o->period_ms : 1000;
	r->o.scan_ms = o->scan_ms > 0 ? o->scan_ms : 60000;
	r->po = (struct eau2_repair_pass_opts){
		.leader = r->self.id, .rate = o->rate, .stop = &r->stop,
		.log = o->log, .log_arg = o->log_arg, .earlier = &r->earlier,
	};
	pthread_mutex_init(&r->mu, NULL);
	eau2_zk_cond_init(&r->cv);
	if (pthread_create(&r->thread, NULL, loop_main, r)) {
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->mu);
		free(r);
		return eau2_error_set(err, -EAGAIN, "repair: cannot start a thread");
	}
	*out = r;
	return 0;
}

void eau2_repair_stop(eau2_repair *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	eau2_zk_lock_release(r->lock, NULL);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
