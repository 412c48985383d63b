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
 */
#include <errno.h>
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

struct node_join {
	eau2_zk *zk;
	eau2_member_reg *reg;
	char store[4096];
	char addr[EAU2_MEMBER_ADDR_MAX + 1];
	struct eau2_cluster_net *net;  /* the repair loop's node operations */
	eau2_repair *repair;
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

int node_join(const char *zk, const char *cluster, const char *listen, uint16_t port,
	      const char *advertise, const char *http, const char *store, int session_ms,
	      struct node_join **out, struct eau2_error *err)
{
	char connect[1024], addr[EAU2_MEMBER_ADDR_MAX + 1], *slash;
	struct eau2_zk_options zo = { .session_ms = session_ms ? session_ms : SESSION_MS };
	struct eau2_member_options mo = { .free_fn = store_free, .refresh_ms = REFRESH_MS,
					  .join_wait_ms = zo.session_ms + 5000 };
	struct node_join *j;
	int rc;

	*out = NULL;
	if ((size_t)snprintf(connect, sizeof(connect), "%s", zk) >= sizeof(connect))
		return eau2_error_set(err, -EINVAL, "--zk: connect string too long");
	if ((slash = strchr(connect, '/'))) {
		*slash = 0;
		if (!cluster)
			cluster = slash + 1;
	}
	if ((rc = node_addr(listen, port, advertise, addr, sizeof(addr), err)))
		return rc;
	if (!(j = calloc(1, sizeof(*j))))
		return eau2_error_set(err, -ENOMEM, "out of memory");
	snprintf(j->store, sizeof(j->store), "%s", store);
	zo.connect = connect;
	zo.cluster = cluster;
	if ((rc = eau2_zk_connect(&j->zk, &zo, err))) {
		eau2_error_prefix(err, rc, "--zk %s", zk);
		goto fail;
	}
	snprintf(j->addr, sizeof(j->addr), "%s", addr);
	mo.addr = addr;
	mo.http = http;
	mo.arg = j;
	if ((rc = eau2_member_register(j->zk, &mo, &j->reg, err)))
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
	eau2_repair_stop(j->repair);
	eau2_cluster_net_free(j->net);
	eau2_member_unregister(j->reg);
	eau2_zk_close(j->zk);
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

int node_repair_start(struct node_join *j, const char *secret_file, uint64_t rate,
		      struct eau2_error *err)
{
	struct eau2_member self = {0};
	int rc;

	if (rate == NODE_REPAIR_RATE_DEFAULT)
		rate = EAU2_REPAIR_RATE_DEFAULT;
	if ((rc = eau2_cluster_net_new(j->store, secret_file, 0, &j->net, err)))
		return rc;
	eau2_cluster_net_set_copy_rate(j->net, rate);
	snprintf(self.id, sizeof(self.id), "%s", eau2_member_id(j->reg));
	snprintf(self.addr, sizeof(self.addr), "%s", j->addr);
	return eau2_repair_start(&(struct eau2_repair_opts){
		.zk = j->zk, .self = &self, .ops = &eau2_cluster_net_ops, .ctx = j->net,
		.rate = rate, .log = repair_log,
	}, &j->repair, err);
}
