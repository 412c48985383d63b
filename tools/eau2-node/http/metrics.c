/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - /metrics: a view (http.h) in the Prometheus text exposition
 * format, version 0.0.4. Every eau2_* family has HELP and TYPE, even when
 * this node has nothing to count in it yet (peers, partitions): a
 * dashboard or an alert can then be written against the names today, and
 * HELP says when a family stays at zero. Label values are escaped as the
 * format asks (backslash, double quote, newline).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eau2-node/http/http.h"


static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void u64(FILE *f, const char *name, uint64_t v)
{
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void dbl(FILE *f, const char *name, double v)
{
	fprintf(f, "%s %.17g\n", name, v);
}

/* Writes s as a label value (escaped, no quotes). */
static void label_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f), fputc(*s, f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void gauge1(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "gauge", help);
	u64(f, name, v);
}

static void counter1(FILE *f, const char *name, const char *help, uint64_t v)
{
	family(f, name, "counter", help);
	u64(f, name, v);
}

static void store(FILE *f, const struct eau2_snap *s)
{
	gauge1(f, "eau2_store_used_bytes",
	       "Bytes the store's dataframes take on its filesystem (allocated blocks).",
	       s->used_bytes);
	gauge1(f, "eau2_store_free_bytes",
	       "Bytes still free for the store on its filesystem (tmpfs: its size limit).",
	       s->fs_free);
	gauge1(f, "eau2_store_size_bytes", "Size of the store's filesystem in bytes.",
	       s->fs_size);
	gauge1(f, "eau2_store_keys", "Keys in the store's catalog.", s->keys);
	gauge1(f, "eau2_store_dataframes",
	       "Dataframes in the store, keyed or not (a replaced or deleted one lives on while held).",
	       s->dataframes);
	gauge1(f, "eau2_store_unkeyed_dataframes",
	       "Dataframes no key names: held by clients after a delete or replace, or being built.",
	       s->unkeyed);
	gauge1(f, "eau2_store_segments", "Segment files of the store's dataframes.",
	       s->segments);
	counter1(f, "eau2_load_bytes_total",
		 "Bytes of dataframes that appeared in the store since the node started "
		 "(loads and puts of every local client); rate() of it is the load throughput.",
		 s->added_bytes);
}

static void node(FILE *f, const struct eau2_http_view *v)
{
	gauge1(f, "eau2_clients", "Local clients attached to the node now.", v->node.clients);
	counter1(f, "eau2_client_connections_total",
		 "Client connections the node accepted since it started.", v->node.connects);
	counter1(f, "eau2_client_refused_total",
		 "Client connections the node refused (other user, connection limit, memory).",
		 v->node.refused);
	counter1(f, "eau2_node_requests_total", "Requests the node served, all clients.",
		 v->node.requests);
	counter1(f, "eau2_node_gets_total", "GET requests (a dataframe mapped by a client).",
		 v->node.gets);
}

struct run_ctx {
	FILE *f;
	const struct eau2_http_runs *runs;
};

static void rower_sample(FILE *f, const char *suffix, const char *rower, const char *le)
{
	fprintf(f, "eau2_run_duration_seconds%s{rower=\"", suffix);
	label_value(f, rower);
	if (le)
		fprintf(f, "\",le=\"%s\"} ", le);
	else
		fputs("\"} ", f);
}

/* One registered rower's histogram: its runs, or zeros. */
static void run_hist(void *ctx, const struct eau2_rower_class *c)
{
	const struct run_ctx *rc = ctx;
	const struct eau2_http_rower_runs *r = NULL;
	uint64_t cum = 0;
	char le[32];
	size_t i;

	for (i = 0; rc->runs && i < rc->runs->n && !r; i++)
		if (!strcmp(rc->runs->rower[i].rower, c->name))
			r = &rc->runs->rower[i];
	for (i = 0; i < EAU2_HTTP_RUN_BUCKETS; i++) {
		cum += r ? r->bucket[i] : 0;
		snprintf(le, sizeof(le), "%g", eau2_remote_run_bounds[i]);
		rower_sample(rc->f, "_bucket", c->name, le);
		fprintf(rc->f, "%llu\n", (unsigned long long)cum);
	}
	rower_sample(rc->f, "_bucket", c->name, "+Inf");
	fprintf(rc->f, "%llu\n", (unsigned long long)(r ? r->finished : 0));
	rower_sample(rc->f, "_sum", c->name, NULL);
	fprintf(rc->f, "%.17g\n", r ? r->seconds : 0.0);
	rower_sample(rc->f, "_count", c->name, NULL);
	fprintf(rc->f, "%llu\n", (unsigned long long)(r ? r->finished : 0));
}

static void runs(FILE *f, const struct eau2_http_runs *runs)
{
	struct run_ctx ctx = { f, runs };
	uint64_t finished = 0, failed = 0;
	size_t i;

	for (i = 0; runs && i < runs->n; i++) {
		finished += runs->rower[i].finished;
		failed += runs->rower[i].failed;
	}
	gauge1(f, "eau2_runs_running",
	       "Rower runs the node executes now, for remote clients (local clients run "
	       "rowers in their own processes, not counted here).", runs ? runs->running : 0);
	counter1(f, "eau2_runs_finished_total",
		 "Rower runs the node finished, failed ones included.", finished);
	counter1(f, "eau2_runs_failed_total", "Rower runs of the node that failed.", failed);
	family(f, "eau2_run_duration_seconds", "histogram",
	       "Duration of the node's runs, per rower registered (0 for rowers never run here).");
	eau2_rower_foreach(run_hist, &ctx);
}

static void peer_u64(FILE *f, const char *name, const char *peer, uint64_t v)
{
	fprintf(f, "%s{peer=\"", name);
	label_value(f, peer);
	fprintf(f, "\"} %llu\n", (unsigned long long)v);
}

static void net(FILE *f, const struct eau2_http_view *v)
{
	uint64_t sent = 0, recv = 0, raw = 0, wire = 0;
	size_t i, t, c;

	family(f, "eau2_net_peer_sent_bytes_total", "counter",
	       "Bytes sent to each remote peer, frame headers included (no samples until "
	       "the node serves other hosts).");
	for (i = 0; i < v->npeers; i++)
		peer_u64(f, "eau2_net_peer_sent_bytes_total", v->peers[i].addr,
			 v->peers[i].st.bytes_sent);
	family(f, "eau2_net_peer_received_bytes_total", "counter",
	       "Bytes received from each remote peer, frame headers included.");
	for (i = 0; i < v->npeers; i++)
		peer_u64(f, "eau2_net_peer_received_bytes_total", v->peers[i].addr,
			 v->peers[i].st.bytes_recv);
	for (i = 0; i < v->npeers; i++) {
		const struct eau2_net_stats *st = &v->peers[i].st;

		sent += st->bytes_sent;
		recv += st->bytes_recv;
		for (t = 0; t < 5; t++)
			for (c = 0; c < EAU2_NET_NCODECS; c++) {
				raw += st->sent[t][c].raw + st->recv[t][c].raw;
				wire += st->sent[t][c].wire + st->recv[t][c].wire;
			}
	}
	counter1(f, "eau2_net_sent_bytes_total", "Bytes sent to remote peers, all of them.", sent);
	counter1(f, "eau2_net_received_bytes_total", "Bytes received from remote peers.", recv);
	counter1(f, "eau2_net_chunk_raw_bytes_total",
		 "Chunk bytes carried to or from peers, before compression.", raw);
	counter1(f, "eau2_net_chunk_wire_bytes_total",
		 "Bytes those chunks took on the wire, after compression.", wire);
	family(f, "eau2_net_compression_ratio", "gauge",
	       "Chunk bytes raw / on the wire, all peers since the start (0 until a chunk moved).");
	dbl(f, "eau2_net_compression_ratio", wire ? (double)raw / (double)wire : 0);
}

/* The --listen service's connections (all 0 without --listen). */
static void remote(FILE *f, const struct eau2_http_view *v)
{
	const struct eau2_net_server_stats *r = &v->remote;

	gauge1(f, "eau2_remote_listening",
	       "1 when the node serves other hosts (--listen), else 0 and the eau2_remote_* "
	       "families stay 0.", v->remote_on);
	family(f, "eau2_remote_connections", "gauge",
	       "Connections of remote clients and peers now, by state.");
	fprintf(f, "eau2_remote_connections{state=\"idle\"} %u\n"
		   "eau2_remote_connections{state=\"busy\"} %u\n", r->idle, r->busy);
	counter1(f, "eau2_remote_accepted_total", "Remote connections accepted.", r->accepted);
	family(f, "eau2_remote_refused_total", "counter",
	       "Remote connections refused: at the connection limit, or failing the handshake "
	       "(wrong secret, protocol or cluster).");
	fprintf(f, "eau2_remote_refused_total{reason=\"busy\"} %llu\n"
		   "eau2_remote_refused_total{reason=\"handshake\"} %llu\n",
		(unsigned long long)r->refused_busy, (unsigned long long)r->handshake_failed);
	counter1(f, "eau2_remote_requests_total", "Requests of remote clients served.",
		 r->requests);
}

/* A cluster node's view of its cluster (cview.h); a single node counts
 * itself alive and nothing else. */
static void cluster(FILE *f, const struct eau2_cview_state *c)
{
	uint64_t alive = 1, suspect = 0, dead = 0;

	if (c) {
		alive = 0;
		for (size_t i = 0; i < c->n; i++) {
			alive += c->node[i].up && !c->node[i].suspect;
			suspect += c->node[i].suspect;
			dead += !c->node[i].up;
		}
	}
	family(f, "eau2_heartbeats_total", "counter",
	       "Probes of the other cluster members (GET /api/node of each, every second), by "
	       "result (0 on a single node).");
	fprintf(f, "eau2_heartbeats_total{result=\"ok\"} %llu\n"
		   "eau2_heartbeats_total{result=\"failed\"} %llu\n",
		(unsigned long long)(c ? c->probes_ok : 0),
		(unsigned long long)(c ? c->probes_failed : 0));
	family(f, "eau2_nodes", "gauge",
	       "Cluster members this node knows of, by state: suspect once a probe went "
	       "unanswered, dead once the znode is gone or the member has not answered for 2 s "
	       "(a single node: itself, alive).");
	fprintf(f, "eau2_nodes{state=\"alive\"} %llu\neau2_nodes{state=\"suspect\"} %llu\n"
		   "eau2_nodes{state=\"dead\"} %llu\n",
		(unsigned long long)alive, (unsigned long long)suspect, (unsigned long long)dead);
	family(f, "eau2_node_up", "gauge",
	       "1 while a cluster member is up (alive or suspect) as this node sees it, 0 once "
	       "dead, per member.");
	for (size_t i = 0; c && i < c->n; i++) {
		fputs("eau2_node_up{node=\"", f);
		label_value(f, c->node[i].id);
		fprintf(f, "\"} %d\n", c->node[i].up);
	}
	gauge1(f, "eau2_partitions",
	       "Partition replicas the cluster's directory places on this node (0 outside a "
	       "cluster).", c ? c->replicas_here : 0);
	gauge1(f, "eau2_cluster_partitions",
	       "Partitions of the cluster's distributed keys, all nodes.", c ? c->partitions : 0);
	gauge1(f, "eau2_cluster_keys", "Distributed keys in the cluster's directory.",
	       c ? c->keys : 0);
	gauge1(f, "eau2_partitions_under_replicated",
	       "Partitions of the cluster with fewer live replicas than placed (0 outside a "
	       "cluster).", c ? c->under_replicated : 0);
}

static void host(FILE *f, const struct eau2_snap *s)
{
	family(f, "eau2_host_cores", "gauge", "The host's cores: online, and allowed to the node.");
	fprintf(f, "eau2_host_cores{kind=\"online\"} %u\neau2_host_cores{kind=\"allowed\"} %u\n",
		s->cores_online, s->cores_allowed);
	family(f, "eau2_host_memory_bytes", "gauge", "The host's memory: total and available.");
	fprintf(f, "eau2_host_memory_bytes{kind=\"total\"} %llu\n"
		   "eau2_host_memory_bytes{kind=\"available\"} %llu\n",
		(unsigned long long)s->mem_total, (unsigned long long)s->mem_available);
	family(f, "eau2_host_load1", "gauge", "The host's load average over one minute.");
	dbl(f, "eau2_host_load1", s->load1);
	family(f, "eau2_host_cpu_busy_ratio", "gauge",
	       "Share of the host's CPU time busy since the previous scrape (0 on the first).");
	dbl(f, "eau2_host_cpu_busy_ratio", s->cpu_busy < 0 ? 0 : s->cpu_busy);
	family(f, "process_cpu_seconds_total", "counter", "User and system CPU time of the node.");
	dbl(f, "process_cpu_seconds_total", s->cpu_seconds);
	gauge1(f, "process_resident_memory_bytes", "Resident memory of the node.", s->rss);
	gauge1(f, "process_open_fds", "Open file descriptors of the node.", s->open_fds);
	family(f, "process_start_time_seconds", "gauge", "When the node started, since the epoch.");
	dbl(f, "process_start_time_seconds", s->start_time);
}

int eau2_http_metrics(const struct eau2_http_view *v, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	*out = NULL;
	if (!f)
		return -ENOMEM;
	gauge1(f, "eau2_up", "1 while the node serves its store.", 1);
	family(f, "eau2_build_info", "gauge", "The node's version, as labels.");
	fprintf(f, "eau2_build_info{version=\"%d.%d\",protocol=\"%u\"} 1\n",
		EAU2_VERSION_MAJOR, EAU2_VERSION_MINOR, EAU2_NODE_VERSION);
	store(f, v->snap);
	node(f, v);
	runs(f, v->runs);
	net(f, v);
	remote(f, v);
	cluster(f, v->cluster);
	host(f, v->snap);
	counter1(f, "eau2_http_requests_total", "HTTP requests this service answered before this one.",
		 v->http_requests);
	family(f, "eau2_scrape_duration_seconds", "gauge",
	       "Time this page's snapshot of the store and host took.");
	dbl(f, "eau2_scrape_duration_seconds", v->snap_seconds);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	if (n > EAU2_HTTP_BODY_MAX) {
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*len = n;
	return 0;
}
