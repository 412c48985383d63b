/* SPDX-License-Identifier: MIT */
/*
 * cmd_cstatus.c - `eau2 --cluster CONNECT status [--json]`: the nodes of a
 * cluster as ZooKeeper knows them (members.h: id, address, cores, memory,
 * free store bytes, up since) and what the directory places on each
 * (partition replicas and their bytes). Reads ZooKeeper only, bounded by
 * --timeout; never talks to the nodes, so a node that stopped shows until
 * its session expires.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster/cluster.h"

static int print_json(const char *connect, const struct eau2_cluster_status *s)
{
	json_t *root = json_object(), *nodes = json_array();
	char *text;

	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		json_array_append_new(nodes, json_pack(
			"{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"id", n->m.id, "address", n->m.addr, "state", "up",
			"cores", (json_int_t)n->m.cores, "memory", (json_int_t)n->m.memory,
			"free", (json_int_t)n->m.free, "started_ms", (json_int_t)n->m.started_ms,
			"partitions", (json_int_t)n->parts, "bytes", (json_int_t)n->bytes));
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

static void print_text(const char *connect, const struct eau2_cluster_status *s)
{
	char mem[32], fr[32], held[32];

	printf("cluster     %s: %zu node%s, %zu key%s\n", connect, s->n, s->n == 1 ? "" : "s",
	       s->keys, s->keys == 1 ? "" : "s");
	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		eau2_cli_human_bytes(mem, sizeof(mem), (double)n->m.memory);
		eau2_cli_human_bytes(fr, sizeof(fr), (double)n->m.free);
		eau2_cli_human_bytes(held, sizeof(held), (double)n->bytes);
		printf("node        %s%s%s: up, %" PRIu32 " cores, %s memory, %s free; "
		       "%" PRIu64 " partitions, %s\n", n->m.id, strcmp(n->m.id, n->m.addr) ?
		       " at " : "", strcmp(n->m.id, n->m.addr) ? n->m.addr : "", n->m.cores,
		       mem, fr, n->parts, held);
	}
	if (s->bad)
		printf("skipped     %zu malformed member znode%s\n", s->bad,
		       s->bad == 1 ? "" : "s");
}

int eau2_cli_cluster_status(struct eau2_cli *cli, const char *connect, bool json)
{
	struct eau2_error err = {0};
	struct eau2_cluster_status s;
	eau2_cluster *cl = NULL;
	int rc, status;

	/* Status reads ZooKeeper only: the node operations are never called. */
	rc = eau2_cluster_open(&(struct eau2_cluster_options){
				       .connect = connect, .timeout_ms = cli->g->timeout_ms,
				       .ops = &eau2_cluster_net_ops },
			       &cl, &err);
	if (!rc)
		rc = eau2_cluster_status(cl, &s, &err);
	eau2_cluster_close(cl);
	if (rc)
		return eau2_cli_fail_peer(rc, &err, connect);
	if (json) {
		status = print_json(connect, &s);
	} else {
		print_text(connect, &s);
		status = EAU2_CLI_OK;
	}
	eau2_cluster_status_free(&s);
	return status;
}
