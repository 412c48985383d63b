/* SPDX-License-Identifier: MIT */
/*
 * cluster.c - the "cluster" backend: keys are those of a cluster
 * (opt.cluster, "HOST:PORT[,HOST:PORT...][/NAME]": ZooKeeper's ensemble
 * and the cluster's name), driven through src/cluster over the network
 * node operations (netops.c). eau2_put cuts the local dataframe into
 * partitions placed on opt.replicas nodes (0: min(2, live nodes)) and
 * publishes the key whole; eau2_get fetches the partitions into the local
 * store; eau2_run_key runs on the nodes holding the partitions and joins
 * their states here, so the answer is the one a single host gives (with
 * `as`, the result is put on the cluster; a row-wise class's (filter,
 * map, join) is stored by the nodes that ran it and a shuffled one's
 * (groupby) where its key ranges were finished, in opt.replicas copies,
 * 0: the input's: eau2_cluster_run_as). eau2_stat reads the directory
 * only. A rower without input runs here, told (EAU2_RUN_CLUSTER) that it
 * may spread its work over the nodes.
 *
 * Every network and ZooKeeper step is bounded by opt.timeout_ms (0: the
 * defaults).
 *
 * Access rules: the state belongs to the handle, used by one thread at a
 * time; the driver runs node operations on threads of its own, and the
 * network operations serialise what they do with the handle (netops.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "api/api.h"
#include "cluster/cluster.h"
#include "shm/shm.h"

struct cluster_state {
	eau2_cluster *cl;
	struct eau2_cluster_net *net;
	eau2_node_event_fn *fn;   /* set while the health thread calls none */
	void *arg;
};

static void cluster_close(eau2 *db)
{
	struct cluster_state *s = db->be_state;

	if (!s)
		return;
	eau2_cluster_close(s->cl);
	eau2_cluster_net_free(s->net);
	free(s);
	db->be_state = NULL;
}

static int cluster_open(eau2 *db, struct eau2_error *err)
{
	struct cluster_state *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	db->be_state = s;
	rc = eau2_cluster_net_new(eau2_dir(db), db->opt.secret_file, db->opt.timeout_ms,
				  &s->net, err);
	if (!rc && db->opt.heartbeat_ms >= 0)
		eau2_cluster_net_connect_ms(s->net, db->opt.dead_after_ms ? db->opt.dead_after_ms
						    : EAU2_CLUSTER_DEAD_AFTER_MS);
	if (!rc)
		rc = eau2_cluster_open(&(struct eau2_cluster_options){
					       .connect = db->opt.cluster,
					       .timeout_ms = db->opt.timeout_ms,
					       .heartbeat_ms = db->opt.heartbeat_ms,
					       .dead_after_ms = db->opt.dead_after_ms,
					       .shuffle_bytes = db->opt.shuffle_bytes,
					       .bcast_max = db->opt.bcast_max,
					       .ops = &eau2_cluster_net_ops, .ctx = s->net },
				       &s->cl, err);
	if (rc)
		cluster_close(db);
	return rc;
}

static eau2_cluster *cl_of(eau2 *db)
{
	return ((struct cluster_state *)db->be_state)->cl;
}

static int cluster_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err)
{
	struct eau2_cluster_put_options po = { .replicas = db->opt.replicas };

	return eau2_cluster_put(cl_of(db), db, key, df, &po, err);
}

static int cluster_load_put(eau2 *db, const char *path, const char *key,
			    const struct eau2_load_options *opt, eau2_df **df,
			    struct eau2_load_stats *stats, struct eau2_error *err)
{
	struct eau2_cluster_put_options po = { .replicas = db->opt.replicas };

	return eau2_cluster_load(cl_of(db), db->store, path, key, opt, &po, df, stats, err);
}

static int cluster_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err)
{
	return eau2_cluster_get(cl_of(db), db, key, df, err);
}

static int cluster_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
			    struct eau2_error *err)
{
	return eau2_cluster_wait_get(cl_of(db), db, key, timeout_ms, df, err);
}

static int cluster_del(eau2 *db, const char *key, struct eau2_error *err)
{
	return eau2_cluster_delete(cl_of(db), key, err);
}

static int cluster_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err)
{
	return eau2_cluster_list(cl_of(db), keys, n, err);
}

/* The nodes' garbage (partitions of puts that died), then the local
 * store's (where gets and runs build). */
static int cluster_gc(eau2 *db, struct eau2_error *err)
{
	int rc = eau2_cluster_gc(cl_of(db), NULL, err);

	if (!rc)
		rc = eau2_shm_gc(db->store, err);
	return rc;
}

static int cluster_stat(eau2 *db, const char *key, struct eau2_stat *st,
			struct eau2_error *err)
{
	return eau2_cluster_stat(cl_of(db), key, st, err);
}

static int cluster_get_head(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
			    struct eau2_error *err)
{
	return eau2_cluster_get_head(cl_of(db), db, key, rows, df, err);
}

static int cluster_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
			   const struct eau2_args *args, const struct eau2_run_options *opt,
			   const char *as, eau2_df **result, struct eau2_error *err)
{
	eau2_df *out = NULL;
	int rc;

	/* A row-wise class's output stays on the nodes that ran it, a
	 * shuffled one's where its key ranges were finished; the option
	 * gather gathers it here and puts it back out instead (what
	 * bench_cluster.sh compares). */
	if (key && as && as[0] && ((cls->flags & EAU2_ROWER_ROWWISE) ||
				   (cls->sample && cls->split)) && !db->opt.gather)
		return eau2_cluster_run_as(cl_of(db), db, key, cls, args, as, db->opt.replicas,
					   err);
	if (key) {
		rc = eau2_cluster_run(cl_of(db), db, key, cls, args, &out, err);
	} else {
		/* It runs here; its finish may spread work over the nodes
		 * (mandelbrot's image rows). */
		struct eau2_run_options o = opt ? *opt : (struct eau2_run_options){0};

		o.flags |= EAU2_RUN_CLUSTER;
		rc = eau2_run(db, NULL, cls, args, &o, &out, err);
	}
	return eau2_api_run_result(db, rc, out, as, result, err);
}

/* ---------------------------------------------------------- shared state */

static int cluster_watch(eau2 *db, const char *key, int timeout_ms, uint64_t *version,
			 struct eau2_error *err)
{
	return eau2_cluster_watch(cl_of(db), key, timeout_ms, version, err);
}

static int cluster_lock(eau2 *db, struct eau2_lock *lk, int timeout_ms, struct eau2_error *err)
{
	struct eau2_zk_lock *zl = NULL;
	int rc = eau2_cluster_lock(cl_of(db), lk->name, timeout_ms, &zl, err);

	lk->impl = zl;
	return rc;
}

static int cluster_unlock(struct eau2_lock *lk, struct eau2_error *err)
{
	return eau2_cluster_unlock(lk->impl, err);
}

static void node_event(void *arg, enum eau2_cluster_event ev, const char *id,
		       const char *addr)
{
	struct cluster_state *s = arg;

	s->fn(s->arg, ev == EAU2_CLUSTER_DIED ? EAU2_NODE_EVENT_DIED : EAU2_NODE_EVENT_JOINED,
	      id, addr);
}

static int cluster_on_node_event(eau2 *db, eau2_node_event_fn *fn, void *arg,
				 struct eau2_error *err)
{
	struct cluster_state *s = db->be_state;
	int rc;

	/* Off first: once it returns, no call reads the old fn. */
	if ((rc = eau2_cluster_on_event(s->cl, NULL, NULL, err)) || !fn)
		return rc;
	s->fn = fn;
	s->arg = arg;
	return eau2_cluster_on_event(s->cl, node_event, s, err);
}

const struct eau2_backend eau2_backend_cluster = {
	.name = "cluster",
	.open = cluster_open,
	.close = cluster_close,
	.put = cluster_put,
	.load_put = cluster_load_put,
	.get = cluster_get,
	.wait_get = cluster_wait_get,
	.del = cluster_del,
	.list = cluster_list,
	.gc = cluster_gc,
	.stat = cluster_stat,
	.get_head = cluster_get_head,
	.run_key = cluster_run_key,
	.watch = cluster_watch,
	.lock = cluster_lock,
	.unlock = cluster_unlock,
	.on_node_event = cluster_on_node_event,
};
