/* SPDX-License-Identifier: MIT */
/*
 * cmd_cstatus.c - `eau2 --cluster CONNECT status [--json]`: the nodes of a
 * cluster as ZooKeeper knows them (members.h: id, address, cores, memory,
 * free store bytes, up since) and what the directory places on each
 * (partition replicas and their bytes), the partitions with fewer live
 * replicas than their entry names (under-replicated, lost when none is
 * left) and the repair leader's progress, read from ZooKeeper, bounded by
 * --timeout; and each member's figures from its --http service
 * (status_http.c), all at once, bounded by STATUS_HTTP_MS: a member whose
 * --http does not answer shows dead (a stopped node's znode lasts until
 * its session expires).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster/cluster.h"
#include "status_http.h"

/* The under-replicated partitions and the repair's progress (JSON). */
static json_t *repair_json(const struct eau2_cluster_status *s)
{
	json_t *o = json_object(), *parts = json_array();

	for (size_t i = 0; i < s->nunder; i++) {
		const struct eau2_cluster_part_status *p = &s->under_parts[i];

		json_array_append_new(parts, json_pack("{s:s, s:I, s:I, s:I}", "key", p->key,
						       "partition", (json_int_t)p->part,
						       "live", (json_int_t)p->live,
						       "replicas", (json_int_t)p->replicas));
	}
	json_object_set_new(o, "under_replicated", json_integer((json_int_t)s->under));
	json_object_set_new(o, "lost", json_integer((json_int_t)s->lost));
	json_object_set_new(o, "partitions", parts);
	if (s->has_repair) {
		const struct eau2_cluster_repair_status *r = &s->repair;

		json_object_set_new(o, "progress", json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			"leader", r->leader, "updated_ms", (json_int_t)r->updated_ms,
			"rate", (json_int_t)r->rate, "planned", (json_int_t)r->st.planned,
			"copied", (json_int_t)r->st.copied, "failed", (json_int_t)r->st.failed,
			"stuck", (json_int_t)r->st.stuck,
			"bytes_planned", (json_int_t)r->st.bytes_planned,
			"bytes_copied", (json_int_t)r->st.bytes_copied, "current", r->current));
	}
	return o;
}

static const char *state_of(const struct eau2_cli_probe *p)
{
	return !p->addr[0] || p->ok ? "up" : "dead";
}

static json_t *num_or_null(bool known, double v)
{
	return known ? json_real(v) : json_null();
}

static int print_json(const char *connect, const struct eau2_cluster_status *s,
		      const struct eau2_cli_probe *p)
{
	json_t *root = json_object(), *nodes = json_array();
	char *text;

	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		const struct eau2_cli_probe *q = &p[i];

		json_array_append_new(nodes, json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
			"id", n->m.id, "address", n->m.addr, "http", n->m.http,
			"state", state_of(q),
			"cores", (json_int_t)n->m.cores, "memory", (json_int_t)n->m.memory,
			"free", (json_int_t)n->m.free, "started_ms", (json_int_t)n->m.started_ms,
			"partitions", (json_int_t)n->parts, "bytes", (json_int_t)n->bytes,
			"load1", num_or_null(q->ok, q->node.load1),
			"cpu_busy", num_or_null(q->ok && q->node.cpu_busy >= 0, q->node.cpu_busy),
			"store_used", num_or_null(q->ok, (double)q->node.store_used),
			"store_size", num_or_null(q->ok, (double)q->node.store_size),
			"runs_running", num_or_null(q->ok, (double)q->t.runs_running)));
	}
	json_object_set_new(root, "cluster", json_string(connect));
	json_object_set_new(root, "keys", json_integer((json_int_t)s->keys));
	json_object_set_new(root, "partitions", json_integer((json_int_t)s->partitions));
	json_object_set_new(root, "under_replicated", json_integer((json_int_t)s->under));
	json_object_set_new(root, "nodes", nodes);
	json_object_set_new(root, "repair", repair_json(s));
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
		       const struct eau2_cli_probe *p)
{
	char mem[32], fr[32], held[32], used[32], size[32];

	printf("cluster     %s: %zu node%s, %zu key%s\n", connect, s->n, s->n == 1 ? "" : "s",
	       s->keys, s->keys == 1 ? "" : "s");
	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		eau2_cli_human_bytes(mem, sizeof(mem), (double)n->m.memory);
		eau2_cli_human_bytes(fr, sizeof(fr), (double)n->m.free);
		eau2_cli_human_bytes(held, sizeof(held), (double)n->bytes);
		printf("node        %s%s%s: %s, %" PRIu32 " cores, %s memory, %s free; "
		       "%" PRIu64 " partitions, %s", n->m.id, strcmp(n->m.id, n->m.addr) ?
		       " at " : "", strcmp(n->m.id, n->m.addr) ? n->m.addr : "",
		       !p[i].addr[0] || p[i].ok ? "up" : "dead (its --http does not answer)",
		       n->m.cores, mem, fr, n->parts, held);
		if (p[i].ok) {
			eau2_cli_human_bytes(used, sizeof(used), (double)p[i].node.store_used);
			eau2_cli_human_bytes(size, sizeof(size), (double)p[i].node.store_size);
			printf("; load %.2f", p[i].node.load1);
			if (p[i].node.cpu_busy >= 0)
				printf(", CPU %.0f%%", 100 * p[i].node.cpu_busy);
			printf(", store %s of %s, %" PRIu64 " runs", used, size,
			       p[i].t.runs_running);
		}
		printf("\n");
	}
	printf("partitions  %" PRIu64 " (%zu under-replicated)\n", s->partitions, s->under);
	if (s->bad)
		printf("skipped     %zu malformed member znode%s\n", s->bad,
		       s->bad == 1 ? "" : "s");
	printf("replicas    %zu partition%s under-replicated, %zu lost\n", s->under,
	       s->under == 1 ? "" : "s", s->lost);
	for (size_t i = 0; i < s->nunder; i++)
		printf("under       %s partition %zu: %" PRIu32 " of %" PRIu32 " replicas live\n",
		       s->under_parts[i].key, s->under_parts[i].part, s->under_parts[i].live,
		       s->under_parts[i].replicas);
	if (s->nunder < s->under)
		printf("under       ... and %zu more\n", s->under - s->nunder);
	if (s->has_repair) {
		const struct eau2_cluster_repair_status *r = &s->repair;
		char done[32], all[32], rate[40] = "no rate limit";

		eau2_cli_human_bytes(done, sizeof(done), (double)r->st.bytes_copied);
		eau2_cli_human_bytes(all, sizeof(all), (double)r->st.bytes_planned);
		if (r->rate) {
			eau2_cli_human_bytes(rate, sizeof(rate) - 2, (double)r->rate);
			strcat(rate, "/s");
		}
		printf("repair      leader %s: %zu of %zu copies made (%s of %s), %zu failed, "
		       "%zu stuck; %s%s%s\n", r->leader, r->st.copied, r->st.planned, done,
		       all, r->st.failed, r->st.stuck, rate, r->current[0] ? "; copying " : "",
		       r->current);
	}
}

int eau2_cli_cluster_status(struct eau2_cli *cli, const char *connect, bool json)
{
	struct eau2_error err = {0};
	struct eau2_cluster_status s;
	struct eau2_cli_probe *p = NULL;
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
	if (s.n && !(p = calloc(s.n, sizeof(*p)))) {
		eau2_cluster_status_free(&s);
		eau2_cli_errorf("status: out of memory");
		return EAU2_CLI_INTERNAL;
	}
	for (size_t i = 0; i < s.n; i++)
		snprintf(p[i].addr, sizeof(p[i].addr), "%s", s.nodes[i].m.http);
	eau2_cli_probe(cli->g->secret_file, p, s.n);
	if (json) {
		status = print_json(connect, &s, p);
	} else {
		print_text(connect, &s, p);
		status = EAU2_CLI_OK;
	}
	free(p);
	eau2_cluster_status_free(&s);
	return status;
}
