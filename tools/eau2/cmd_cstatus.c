/* SPDX-License-Identifier: MIT */
/*
 * cmd_cstatus.c - `eau2 --cluster CONNECT status [--json]`: the nodes of a
 * cluster as ZooKeeper knows them (members.h: id, address, cores, memory,
 * free store bytes, up since), what the directory places on each
 * (partition replicas and their bytes), and each node's state: the
 * driver's failure detection (health.h) PINGs every member for two
 * heartbeats first, so a member that does not answer shows "suspect",
 * and a node the directory names whose member znode is gone "dead".
 * Bounded by --timeout and the heartbeat.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster/cluster.h"

/* What health knows of node id, or NULL. */
static const struct eau2_cluster_health_node *health_of(const struct eau2_cluster_health_node *v,
							size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			return &v[i];
	return NULL;
}

static const char *state_of(const struct eau2_cluster_node_status *n,
			    const struct eau2_cluster_health_node *h)
{
	if (!n->member)
		return "dead";
	return h ? eau2_cluster_state_name(h->state) : "alive";
}

static int print_json(const char *connect, const struct eau2_cluster_status *s,
		      const struct eau2_cluster_health_node *hv, size_t hn)
{
	json_t *root = json_object(), *nodes = json_array();
	char *text;

	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];
		const struct eau2_cluster_health_node *h = health_of(hv, hn, n->m.id);
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
			"id", n->m.id, "address", n->m.addr, "state", state_of(n, h),
			"member", (int)n->member,
			"cores", (json_int_t)n->m.cores, "memory", (json_int_t)n->m.memory,
			"free", (json_int_t)n->m.free, "started_ms", (json_int_t)n->m.started_ms,
			"partitions", (json_int_t)n->parts, "bytes", (json_int_t)n->bytes);

		if (o && h && n->member) {
			json_object_set_new(o, "heard_ago_ms", json_integer(h->heard_ago_ms));
			json_object_set_new(o, "heartbeats", json_integer((json_int_t)h->beats));
			json_object_set_new(o, "missed", json_integer((json_int_t)h->missed));
		}
		json_array_append_new(nodes, o);
	}
	json_object_set_new(root, "cluster", json_string(connect));
	json_object_set_new(root, "keys", json_integer((json_int_t)s->keys));
	json_object_set_new(root, "nodes", nodes);
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (!text) {
		eau2_cli_errorf("status: out of memory");
		return EAU2_CLI_INTERNAL;
	}
	printf("%s\n", text);
	free(text);
	return EAU2_CLI_OK;
}

static void print_text(const char *connect, const struct eau2_cluster_status *s,
		       const struct eau2_cluster_health_node *hv, size_t hn)
{
	char mem[32], fr[32], held[32];

	printf("cluster     %s: %zu node%s, %zu key%s\n", connect, s->n, s->n == 1 ? "" : "s",
	       s->keys, s->keys == 1 ? "" : "s");
	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];
		const struct eau2_cluster_health_node *h = health_of(hv, hn, n->m.id);

		eau2_cli_human_bytes(mem, sizeof(mem), (double)n->m.memory);
		eau2_cli_human_bytes(fr, sizeof(fr), (double)n->m.free);
		eau2_cli_human_bytes(held, sizeof(held), (double)n->bytes);
		if (!n->member) {
			printf("node        %s: dead (no member znode); %" PRIu64
			       " partitions, %s\n", n->m.id, n->parts, held);
			continue;
		}
		printf("node        %s%s%s: %s, %" PRIu32 " cores, %s memory, %s free; "
		       "%" PRIu64 " partitions, %s\n", n->m.id, strcmp(n->m.id, n->m.addr) ?
		       " at " : "", strcmp(n->m.id, n->m.addr) ? n->m.addr : "",
		       state_of(n, h), n->m.cores, mem, fr, n->parts, held);
	}
	if (s->bad)
		printf("skipped     %zu malformed member znode%s\n", s->bad,
		       s->bad == 1 ? "" : "s");
}

int eau2_cli_cluster_status(struct eau2_cli *cli, const char *connect, bool json)
{
	const struct eau2_cli_global *g = cli->g;
	struct eau2_error err = {0};
	struct eau2_cluster_status s;
	struct eau2_cluster_health_node *hv = NULL;
	struct eau2_cluster_net *net = NULL;
	struct eau2_options eo;
	eau2_cluster *cl = NULL;
	size_t hn = 0;
	int rc, status, hb = g->heartbeat_ms ? g->heartbeat_ms :
							 EAU2_CLUSTER_HEARTBEAT_MS;

	/* The secret as other commands take it (--secret-file, else the
	 * environment's); no store: status pulls nothing. */
	eau2_cli_options(cli, &eo);
	rc = eau2_cluster_net_new(NULL, eo.secret_file, g->timeout_ms, &net, &err);
	if (!rc)
		eau2_cluster_net_connect_ms(net, g->dead_after_ms ? g->dead_after_ms :
					    EAU2_CLUSTER_DEAD_AFTER_MS);
	if (!rc)
		rc = eau2_cluster_open(&(struct eau2_cluster_options){
					       .connect = connect, .timeout_ms = g->timeout_ms,
					       .ops = &eau2_cluster_net_ops, .ctx = net,
					       .heartbeat_ms = hb,
					       .dead_after_ms = g->dead_after_ms },
				       &cl, &err);
	/* Two heartbeat rounds, each at most a beat per node that does not
	 * answer; past the bound, the states measured so far. */
	if (!rc)
		(void)eau2_cluster_health_wait(cl, 3 * hb + 2000, NULL);
	if (!rc && !(rc = eau2_cluster_status(cl, &s, &err)) &&
	    (rc = eau2_cluster_health(cl, &hv, &hn, &err)))
		eau2_cluster_status_free(&s);
	eau2_cluster_close(cl);
	eau2_cluster_net_free(net);
	if (rc)
		return eau2_cli_fail_peer(rc, &err, connect);
	if (json) {
		status = print_json(connect, &s, hv, hn);
	} else {
		print_text(connect, &s, hv, hn);
		status = EAU2_CLI_OK;
	}
	free(hv);
	eau2_cluster_status_free(&s);
	return status;
}
