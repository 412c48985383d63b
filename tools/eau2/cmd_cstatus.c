/* SPDX-License-Identifier: MIT */
/*
 * cmd_cstatus.c - `eau2 --cluster CONNECT status [--json]`: the nodes of a
 * cluster as ZooKeeper knows them (members.h: id, address, cores, memory,
 * free store bytes, up since) and what the directory places on each
 * (partition replicas and their bytes), the partitions with fewer live
 * replicas than their entry names (under-replicated, lost when none is
 * left) and the repair leader's progress, read from ZooKeeper, bounded by
 * --timeout. Each node's state is the driver's failure detection
 * (health.h), which PINGs every member for two heartbeats first: a member
 * that does not answer shows "suspect", a node the directory names whose
 * member znode is gone "dead". Each member's figures (load, CPU, store,
 * runs) come from its --http service (status_http.c), all at once,
 * bounded by STATUS_HTTP_MS.
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

static json_t *num_or_null(bool known, double v)
{
	return known ? json_real(v) : json_null();
}

static int print_json(const char *connect, const struct eau2_cluster_status *s,
		      const struct eau2_cli_probe *p, const struct eau2_cluster_health_node *hv,
		      size_t hn)
{
	json_t *root = json_object(), *nodes = json_array();
	char *text;

	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		const struct eau2_cli_probe *q = &p[i];
		const struct eau2_cluster_health_node *h = health_of(hv, hn, n->m.id);
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
			"id", n->m.id, "address", n->m.addr, "http", n->m.http,
			"state", state_of(n, h), "member", (int)n->member,
			"http_ok", (int)q->ok,
			"cores", (json_int_t)n->m.cores, "memory", (json_int_t)n->m.memory,
			"free", (json_int_t)n->m.free, "started_ms", (json_int_t)n->m.started_ms,
			"partitions", (json_int_t)n->parts, "bytes", (json_int_t)n->bytes,
			"load1", num_or_null(q->ok, q->node.load1),
			"cpu_busy", num_or_null(q->ok && q->node.cpu_busy >= 0, q->node.cpu_busy),
			"store_used", num_or_null(q->ok, (double)q->node.store_used),
			"store_size", num_or_null(q->ok, (double)q->node.store_size),
			"runs_running", num_or_null(q->ok, (double)q->t.runs_running));

		if (o && h && n->member) {
			json_object_set_new(o, "heard_ago_ms", json_integer(h->heard_ago_ms));
			json_object_set_new(o, "heartbeats", json_integer((json_int_t)h->beats));
			json_object_set_new(o, "missed", json_integer((json_int_t)h->missed));
		}
		json_array_append_new(nodes, o);
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
		       const struct eau2_cli_probe *p, const struct eau2_cluster_health_node *hv,
		       size_t hn)
{
	char mem[32], fr[32], held[32], used[32], size[32];

	printf("cluster     %s: %zu node%s, %zu key%s\n", connect, s->n, s->n == 1 ? "" : "s",
	       s->keys, s->keys == 1 ? "" : "s");
	for (size_t i = 0; i < s->n; i++) {
		const struct eau2_cluster_node_status *n = &s->nodes[i];

		eau2_cli_human_bytes(mem, sizeof(mem), (double)n->m.memory);
		eau2_cli_human_bytes(fr, sizeof(fr), (double)n->m.free);
		eau2_cli_human_bytes(held, sizeof(held), (double)n->bytes);
		if (!n->member) {
			printf("node        %s: dead (no member znode); %" PRIu64
			       " partitions, %s\n", n->m.id, n->parts, held);
			continue;
		}
		printf("node        %s%s%s: %s, %" PRIu32 " cores, %s memory, %s free; "
		       "%" PRIu64 " partitions, %s", n->m.id, strcmp(n->m.id, n->m.addr) ?
		       " at " : "", strcmp(n->m.id, n->m.addr) ? n->m.addr : "",
		       state_of(n, health_of(hv, hn, n->m.id)), n->m.cores, mem, fr,
		       n->parts, held);
		if (p[i].addr[0] && !p[i].ok)
			printf("; its --http does not answer");
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
	const struct eau2_cli_global *g = cli->g;
	struct eau2_error err = {0};
	struct eau2_cluster_status s;
	struct eau2_cluster_health_node *hv = NULL;
	struct eau2_cluster_net *net = NULL;
	struct eau2_cli_probe *p = NULL;
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
	if (s.n && !(p = calloc(s.n, sizeof(*p)))) {
		free(hv);
		eau2_cluster_status_free(&s);
		eau2_cli_errorf("status: out of memory");
		return EAU2_CLI_INTERNAL;
	}
	for (size_t i = 0; i < s.n; i++)
		snprintf(p[i].addr, sizeof(p[i].addr), "%s", s.nodes[i].m.http);
	eau2_cli_probe(eo.secret_file, p, s.n);
	if (json) {
		status = print_json(connect, &s, p, hv, hn);
	} else {
		print_text(connect, &s, p, hv, hn);
		status = EAU2_CLI_OK;
	}
	free(p);
	free(hv);
	eau2_cluster_status_free(&s);
	return status;
}
