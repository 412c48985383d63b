/* SPDX-License-Identifier: MIT */
/*
 * cmd_status.c - `eau2 status`: the numbers of eau2-node's /metrics and
 * dashboard for one host, from the command line. They come from the same
 * snapshot code (tools/common/snapshot.c) run here, on the store, plus
 * the node's own count of attached clients (its STATUS request) when a
 * node serves the store. Two snapshots STATUS_SAMPLE_MS apart give the
 * CPU busy figure. What only the node counts (its runs, its traffic with
 * remote peers, its view of the cluster) comes from its --http service,
 * at the address it leaves in DIR/node.http (status_http.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/env_options.h"
#include "common/snapshot.h"
#include "node/node.h"
#include "status_http.h"

#define STATUS_SAMPLE_MS 200

struct status_opts {
	bool keys;
	bool json;
};

static void human(char *buf, size_t cap, uint64_t n)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	unsigned i = 0;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i)
		snprintf(buf, cap, "%.1f %s", v, unit[i]);
	else
		snprintf(buf, cap, "%" PRIu64 " B", n);
}

/* The node's pid and its client count (ours excluded); -ENOTCONN when
 * no node serves the store. */
static int node_clients(const char *dir, pid_t *pid, size_t *clients)
{
	struct eau2_node_client *c = NULL;
	struct eau2_node_status *st = NULL;
	int rc;

	rc = eau2_node_attach(dir, &c, NULL);
	if (!rc)
		rc = eau2_node_attached(c) ? eau2_node_status(c, &st, NULL) : -ENOTCONN;
	if (!rc) {
		*pid = st->node_pid;
		*clients = st->nconns ? st->nconns - 1 : 0;
	}
	free(st);
	eau2_node_client_unref(c);
	return rc;
}

/* The runs, transfers and cluster lines: from the node's --http. */
static void node_totals(struct eau2_cli *cli, int node, const char *dir)
{
	struct eau2_cli_probe p = {0};
	const struct eau2_node_totals *t = &p.t;
	char a[32], b[32], c[32];

	if (!node) {
		printf("runs        none here (clients run rowers in their own processes)\n");
		return;
	}
	if (eau2_cli_node_http(dir, p.addr, sizeof(p.addr))) {
		printf("runs        unknown: the node serves no --http (it counts its runs, "
		       "transfers and cluster there)\n");
		return;
	}
	eau2_cli_probe(cli->g->secret_file, &p, 1);
	if (!p.ok) {
		printf("runs        unknown: the node's --http at %s does not answer\n", p.addr);
		return;
	}
	printf("runs        %" PRIu64 " running, %" PRIu64 " finished (%" PRIu64 " failed) "
	       "on the node for remote clients\n", t->runs_running, t->runs_finished,
	       t->runs_failed);
	human(a, sizeof(a), t->sent_bytes);
	human(b, sizeof(b), t->received_bytes);
	human(c, sizeof(c), t->load_bytes);
	printf("transfers   %s sent, %s received with remote peers; %s loaded since the "
	       "node started\n", a, b, c);
	if (t->cluster)
		printf("cluster     %" PRIu64 " nodes alive, %" PRIu64 " suspect, %" PRIu64
		       " dead; %" PRIu64 " keys, %" PRIu64 " partitions (%" PRIu64
		       " under-replicated)\n", t->nodes_alive, t->nodes_suspect, t->nodes_dead,
		       t->keys, t->partitions, t->under_replicated);
	else
		printf("cluster     none (a single node)\n");
	printf("dashboard   http://%s/\n", p.addr);
}

static int cmd_status(struct eau2_cli *cli, void *vopts)
{
	const struct status_opts *o = vopts;
	struct timespec pause = { 0, STATUS_SAMPLE_MS * 1000000L };
	struct eau2_error err = {0};
	struct eau2_snapper *sp = NULL;
	struct eau2_snap s = {0};
	struct eau2_options env;
	char a[32], b[32], c[32];
	size_t clients = 0, i;
	pid_t pid = 0;
	int rc, node;

	if (cli->g->cluster || (!cli->g->remote && eau2_env_cluster()))
		return eau2_cli_cluster_status(cli, cli->g->cluster ? cli->g->cluster
								 : eau2_env_cluster(), o->json);
	if (o->json) {
		eau2_cli_errorf("status: --json goes with --cluster (for now)");
		return EAU2_CLI_USER;
	}
	eau2_env_options(&env, cli->store_dir);
	rc = eau2_snapper_open(&sp, env.store, &err);
	if (!rc)
		rc = eau2_snapper_take(sp, &s, &err);
	if (!rc) { /* the first one only starts the CPU sample */
		eau2_snap_clear(&s);
		nanosleep(&pause, NULL);
		rc = eau2_snapper_take(sp, &s, &err);
	}
	if (rc) {
		rc = eau2_cli_fail(rc, &err, env.store ? env.store : "the default store");
		goto out;
	}
	node = env.node != EAU2_NODE_OFF && !node_clients(s.dir, &pid, &clients);
	if (node)
		printf("node        running, pid %d\n", (int)pid);
	else
		printf("node        not running (clients use the store's files)\n");
	printf("store       %s\n", s.dir);
	human(a, sizeof(a), s.used_bytes);
	human(b, sizeof(b), s.fs_free);
	human(c, sizeof(c), s.fs_size);
	printf("store use   %s used, %s free of %s\n", a, b, c);
	printf("keys        %" PRIu64 " (%" PRIu64 " dataframes, %" PRIu64 " unkeyed, %" PRIu64
	       " segments)\n", s.keys, s.dataframes, s.unkeyed, s.segments);
	if (node)
		printf("clients     %zu attached\n", clients);
	human(a, sizeof(a), s.mem_available);
	human(b, sizeof(b), s.mem_total);
	printf("host        %u cores (%u allowed), %s of %s memory available, load %.2f",
	       s.cores_online, s.cores_allowed, a, b, s.load1);
	if (s.cpu_busy >= 0)
		printf(", CPU %.0f%% busy", 100 * s.cpu_busy);
	printf("\n");
	node_totals(cli, node, s.dir);
	if (o->keys)
		for (i = 0; i < s.nkey; i++) {
			human(a, sizeof(a), s.key[i].bytes);
			printf("key         %s %016" PRIx64 " %s %" PRIu32 " segments\n",
			       s.key[i].key, s.key[i].id, a, s.key[i].segments);
		}
	if (o->keys && s.nkey < s.keys)
		printf("key         ... %" PRIu64 " more\n", s.keys - s.nkey);
	rc = EAU2_CLI_OK;
out:
	eau2_snap_clear(&s);
	eau2_snapper_close(sp);
	return rc;
}

static const struct eau2_cli_opt status_opts[] = {
	{ "keys", 'k', EAU2_OPT_FLAG, offsetof(struct status_opts, keys), NULL,
	  "also list the keys: id, bytes, segments", NULL, false },
	{ "json", 0, EAU2_OPT_FLAG, offsetof(struct status_opts, json), NULL,
	  "--cluster: print the nodes as JSON", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

const struct eau2_cli_cmd eau2_cli_cmd_status = {
	.name = "status",
	.synopsis = "[--keys]",
	.summary = "what the store, its node and the host hold and do now",
	.details = "The numbers of eau2-node's /metrics and dashboard (--http), for\n"
		   "this host: store use, keys, dataframes and segments, attached\n"
		   "clients when a node runs, cores, memory, load and CPU; and, when\n"
		   "the node serves --http, its runs, transfers and view of its\n"
		   "cluster. With --cluster: every member, up or dead (its --http\n"
		   "does not answer), its figures, and the partitions under-replicated.\n",
	.opts = status_opts,
	.opts_size = sizeof(struct status_opts),
	.min_pos = 0,
	.max_pos = 0,
	.needs_store = false,
	.run = cmd_status,
};
