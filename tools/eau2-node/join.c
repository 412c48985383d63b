/* SPDX-License-Identifier: MIT */
/*
 * join.c - eau2-node --zk: joining a cluster (join.h). The member znode
 * (members.h) holds the address peers connect to, this machine's cores
 * and memory, and the store's free bytes, which the registration's own
 * thread refreshes by calling store_free (statvfs of the store directory,
 * read-only and thread-safe). The znode is ephemeral: when the node dies
 * its session expires and the znode goes, so drivers stop placing on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "cluster/members.h"
#include "cluster/zk.h"
#include "eau2-node/join.h"
#include "uring_net/net.h"

#define SESSION_MS 10000
#define REFRESH_MS 5000

struct node_join {
	eau2_zk *zk;
	eau2_member_reg *reg;
	char store[4096];
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
	      const char *advertise, const char *store, int session_ms,
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
	mo.addr = addr;
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
	eau2_member_unregister(j->reg);
	eau2_zk_close(j->zk);
	free(j);
}

const char *node_join_id(const struct node_join *j)
{
	return eau2_member_id(j->reg);
}
