/* SPDX-License-Identifier: MIT */
/*
 * join.c - eau2-node --zk: joining a cluster (join.h). The member znode
 * (members.h) holds the address peers connect to, this machine's cores
 * and memory, and the store's free bytes, which the registration's own
 * thread refreshes by calling store_free (statvfs of the store directory,
 * read-only and thread-safe). The znode is ephemeral: when the node dies
 * its session expires and the znode goes, so drivers stop placing on it.
 *
 * node_repair_start adds src/cluster's repair loop (repair.h) on the same
 * session: a scan that drops the partitions no entry names here any more
 * (at start and now and then), and, while this node leads, copies that
 * bring under-replicated partitions back to their replicas, node to node
 * at the --repair-rate. It talks to the nodes, this one too, over the
 * network (netops.c's operations) with the node's secret.
 *
 * node_keep adds a keeper thread. A node cut off from ZooKeeper for
 * longer than its session (a frozen process, a link down) finds its
 * session expired when it is back: its znode is gone, so the drivers
 * and the repair leader count it dead. The keeper sees that within
 * KEEP_MS and joins again: a new session, the member znode, the repair
 * loop (whose first scan drops the partitions copied elsewhere
 * meanwhile), and whatever else the caller runs on the session (the
 * cluster view), retried every second until it succeeds or the node
 * stops. Only the keeper changes zk, reg and repair once it runs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cluster/cluster.h"
#include "cluster/members.h"
#include "cluster/repair.h"
#include "cluster/zk.h"
#include "eau2-node/join.h"
#include "uring_net/net.h"

#define SESSION_MS 10000
#define REFRESH_MS 5000
#define KEEP_MS 500      /* how often the keeper looks at the session */
#define REJOIN_MS 1000   /* between two tries to join again */

struct node_join {
	eau2_zk *zk;
	eau2_member_reg *reg;
	char store[4096];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	struct eau2_cluster_net *net;  /* the repair loop's node operations */
	eau2_repair *repair;
	uint64_t rate;                 /* the repair loop's, once started */
	/* What joining takes, kept for the keeper. */
	char connect[1024], cluster[256], http[EAU2_MEMBER_ADDR_MAX + 1];
	bool has_cluster, has_http;
	int session_ms;
	/* The keeper. */
	pthread_mutex_t mu;
	pthread_cond_t cv;             /* CLOCK_MONOTONIC (eau2_zk_cond_init) */
	bool stop, has_keeper;         /* stop: under mu */
	pthread_t keeper;
	node_session_fn on_session;
	void *on_session_ctx;
};

static uint64_t store_free(void *arg)
{
	struct node_join *j = arg;
	struct statvfs sv;

	if (statvfs(j->store, &sv))
		return 0;
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* The address peers reach: advertise, else listen's host and the port. */
static int node_addr(const char *listen, uint16_t port, const char *advertise, char *out,
		     size_t cap, struct eau2_error *err)
{
	char host[256];
	uint16_t p;
	int rc;

	if (advertise) {
		if ((size_t)snprintf(out, cap, "%s", advertise) >= cap)
			return eau2_error_set(err, -EINVAL, "--advertise %s: too long", advertise);
		return eau2_member_check_addr(out, err);
	}
	if ((rc = eau2_net_split_hostport(listen, host, sizeof(host), &p, err)))
		return rc;
	snprintf(out, cap, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	return 0;
}

/* A session and the member znode on it (j->zk, j->reg). */
static int join_session(struct node_join *j, struct eau2_error *err)
{
	struct eau2_zk_options zo = {
		.connect = j->connect, .cluster = j->has_cluster ? j->cluster : NULL,
		.session_ms = j->session_ms,
	};
	struct eau2_member_options mo = {
		.addr = j->addr, .http = j->has_http ? j->http : NULL, .free_fn = store_free,
		.arg = j, .refresh_ms = REFRESH_MS, .join_wait_ms = j->session_ms + 5000,
	};
	int rc;

	if ((rc = eau2_zk_connect(&j->zk, &zo, err)))
		return eau2_error_prefix(err, rc, "--zk %s", j->connect);
	return eau2_member_register(j->zk, &mo, &j->reg, err);
}

/* Ends what runs on the session, then the session. */
static void leave_session(struct node_join *j)
{
	eau2_repair_stop(j->repair);
	j->repair = NULL;
	eau2_member_unregister(j->reg);
	j->reg = NULL;
	eau2_zk_close(j->zk);
	j->zk = NULL;
}

int node_join(const char *zk, const char *cluster, const char *listen, uint16_t port,
	      const char *advertise, const char *http, const char *store, int session_ms,
	      struct node_join **out, struct eau2_error *err)
{
	struct node_join *j;
	char *slash;
	int rc;

	*out = NULL;
	if (!(j = calloc(1, sizeof(*j))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&j->mu, NULL);
	eau2_zk_cond_init(&j->cv);
	j->session_ms = session_ms ? session_ms : SESSION_MS;
	if ((size_t)snprintf(j->connect, sizeof(j->connect), "%s", zk) >= sizeof(j->connect)) {
		rc = eau2_error_set(err, -EINVAL, "--zk: connect string too long");
		goto fail;
	}
	if ((slash = strchr(j->connect, '/'))) {
		*slash = 0;
		if (!cluster)
			cluster = slash + 1;
	}
	if (cluster && (size_t)snprintf(j->cluster, sizeof(j->cluster), "%s", cluster) >=
	    sizeof(j->cluster)) {
		rc = eau2_error_set(err, -EINVAL, "--cluster %s: too long", cluster);
		goto fail;
	}
	j->has_cluster = cluster != NULL;
	if (http && (size_t)snprintf(j->http, sizeof(j->http), "%s", http) >= sizeof(j->http)) {
		rc = eau2_error_set(err, -EINVAL, "--http %s: too long", http);
		goto fail;
	}
	j->has_http = http != NULL;
	snprintf(j->store, sizeof(j->store), "%s", store);
	if ((rc = node_addr(listen, port, advertise, j->addr, sizeof(j->addr), err)) ||
	    (rc = join_session(j, err)))
		goto fail;
	*out = j;
	return 0;
fail:
	node_leave(j);
	return rc;
}

void node_leave(struct node_join *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	j->stop = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (j->has_keeper)
		pthread_join(j->keeper, NULL);
	if (j->on_session && j->zk)
		j->on_session(j->on_session_ctx, NULL, NULL);
	leave_session(j);
	eau2_cluster_net_free(j->net);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

eau2_zk *node_join_zk(const struct node_join *j)
{
	return j->zk;
}

const char *node_join_id(const struct node_join *j)
{
	return eau2_member_id(j->reg);
}

static void repair_log(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "eau2-node: repair: %s\n", line);
}

/* The repair loop on the session (j->net made). */
static int repair_start(struct node_join *j, struct eau2_error *err)
{
	struct eau2_member self = {0};

	snprintf(self.id, sizeof(self.id), "%s", eau2_member_id(j->reg));
	snprintf(self.addr, sizeof(self.addr), "%s", j->addr);
	return eau2_repair_start(&(struct eau2_repair_opts){
		.zk = j->zk, .self = &self, .ops = &eau2_cluster_net_ops, .ctx = j->net,
		.rate = j->rate, .log = repair_log,
	}, &j->repair, err);
}

int node_repair_start(struct node_join *j, const char *secret_file, uint64_t rate,
		      struct eau2_error *err)
{
	int rc;

	if (rate == NODE_REPAIR_RATE_DEFAULT)
		rate = EAU2_REPAIR_RATE_DEFAULT;
	if ((rc = eau2_cluster_net_new(j->store, secret_file, 0, &j->net, err)))
		return rc;
	eau2_cluster_net_set_copy_rate(j->net, rate);
	j->rate = rate;
	return repair_start(j, err);
}

/* Waits ms, or less when the node stops; whether it stops. */
static bool keeper_wait(struct node_join *j, int ms)
{
	struct timespec dl = eau2_zk_deadline(ms);
	bool stop;

	pthread_mutex_lock(&j->mu);
	while (!j->stop && pthread_cond_timedwait(&j->cv, &j->mu, &dl) != ETIMEDOUT)
		;
	stop = j->stop;
	pthread_mutex_unlock(&j->mu);
	return stop;
}

static void *keeper_main(void *arg)
{
	struct node_join *j = arg;

	while (!keeper_wait(j, KEEP_MS)) {
		struct eau2_error err = {0};
		bool said = false;

		if (!eau2_zk_expired(j->zk))
			continue;
		fprintf(stderr, "eau2-node: ZooKeeper session expired: the cluster counts node %s "
			"dead; joining again\n", j->addr);
		if (j->on_session)
			j->on_session(j->on_session_ctx, NULL, NULL);
		leave_session(j);
		for (;;) {
			int rc = join_session(j, &err);

			if (rc == 0 && j->net)
				rc = repair_start(j, &err);
			if (rc == 0)
				break;
			leave_session(j);
			if (!said) /* once, not every second */
				fprintf(stderr, "eau2-node: joining again: %s (trying every %d ms)\n",
					err.msg, REJOIN_MS);
			said = true;
			if (keeper_wait(j, REJOIN_MS))
				return NULL;
		}
		if (j->on_session)
			j->on_session(j->on_session_ctx, j->zk, eau2_member_id(j->reg));
		fprintf(stderr, "eau2-node: joined the cluster again as node %s\n",
			eau2_member_id(j->reg));
	}
	return NULL;
}

int node_keep(struct node_join *j, node_session_fn fn, void *ctx, struct eau2_error *err)
{
	int rc;

	j->on_session = fn;
	j->on_session_ctx = ctx;
	if ((rc = pthread_create(&j->keeper, NULL, keeper_main, j)))
		return eau2_error_set(err, -rc, "cannot start the cluster keeper thread");
	j->has_keeper = true;
	return 0;
}
