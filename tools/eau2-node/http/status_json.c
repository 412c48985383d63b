/* SPDX-License-Identifier: MIT */
/*
 * status_json.c - /api/status: the view (http.h) as one JSON object, what
 * the dashboard polls, and /api/node, the NODE object of this node alone
 * (what the other nodes of a cluster probe). "nodes" holds, in a
 * cluster (--zk), every member this node has seen (cview.h: dead ones
 * included), else this node only, the same object as "self". Built with
 * jansson; keys are the store's, and jansson escapes them. Numbers a node
 * does not know of another are null.
 *
 *   {"time", "version", "self": NODE, "nodes": [NODE...],
 *    "data": {"keys", "dataframes", "unkeyed", "segments", "used_bytes",
 *             "load_bytes", "truncated", "items": [{"key", "id", "bytes",
 *             "segments", "partitions", "nodes": [ADDR]}],
 *             "cluster_items" (in a cluster): [{"key", "rows", "bytes",
 *             "partitions", "under_replicated", "nodes": [ID]}]},
 *    "runs": {"running", "finished", "failed", "items": [{"rower", "input",
 *             "peer", "part", "state" (running, done, failed), "rows",
 *             "rows_done", "started", "seconds", "progress" (the
 *             fraction of the rows visited; null: a run without input)}],
 *             "rowers": [{"rower", "finished", "failed", "seconds"}]},
 *    "cluster": null, or {"self", "started", "keys", "keys_truncated",
 *               "partitions", "under_replicated", "replicas_here",
 *               "probes_ok", "probes_failed", "dead_ms", "error"},
 *    "transfers": {"sent_bytes", "received_bytes", "peers": [{"peer",
 *                  "sent_bytes", "received_bytes"}], "remote": {"listening",
 *                  "idle", "busy", "accepted", "refused_busy",
 *                  "handshake_failed", "requests"}}}
 *   /api/node: NODE and "runs_finished", "runs_failed", "sent_bytes",
 *   "received_bytes", "load_bytes", "cluster": null or {"nodes_alive",
 *   "nodes_suspect", "nodes_dead", "partitions", "under_replicated",
 *   "keys"}.
 *   NODE = {"id", "address", "http", "state" (alive, suspect, dead), "why", "self",
 *           "pid", "store", "started", "cores", "cores_allowed",
 *           "mem_total", "mem_available", "load1", "cpu_busy", "rss",
 *           "store_used", "store_free", "store_size", "clients",
 *           "requests", "runs_running", "partitions", "partition_bytes"}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eau2-node/http/http.h"

static json_t *uint_or_null(bool known, uint64_t v)
{
	return known ? json_integer((json_int_t)v) : json_null();
}

static json_t *real_or_null(bool known, double v)
{
	return known ? json_real(v) : json_null();
}

/* This node, from its own snapshot; me: its record in the cluster view. */
static json_t *node_obj(const struct eau2_http_view *v, const struct eau2_cview_node *me)
{
	const struct eau2_snap *s = v->snap;
	const char *addr = me ? me->addr : v->http_addr ? v->http_addr : "";

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:s, s:f, s:I, s:I, s:I, s:I,"
			 " s:f, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
			 "id", me ? me->id : addr, "address", addr,
			 "http", v->http_addr ? v->http_addr : "",
			 "state", "alive", "why", "", "self", 1,
			 "pid", (json_int_t)s->pid,
			 "store", s->dir ? s->dir : "",
			 "started", s->start_time,
			 "cores", (json_int_t)s->cores_online,
			 "cores_allowed", (json_int_t)s->cores_allowed,
			 "mem_total", (json_int_t)s->mem_total,
			 "mem_available", (json_int_t)s->mem_available,
			 "load1", s->load1,
			 "cpu_busy", s->cpu_busy < 0 ? json_null() : json_real(s->cpu_busy),
			 "rss", (json_int_t)s->rss,
			 "store_used", (json_int_t)s->used_bytes,
			 "store_free", (json_int_t)s->fs_free,
			 "store_size", (json_int_t)s->fs_size,
			 "clients", (json_int_t)v->node.clients,
			 "requests", (json_int_t)v->node.requests,
			 "runs_running", (json_int_t)(v->runs ? v->runs->running : 0),
			 "partitions", uint_or_null(me, me ? me->parts : 0),
			 "partition_bytes", uint_or_null(me, me ? me->part_bytes : 0));
}

/* Another member, from ZooKeeper and its last answer to a probe. */
static json_t *member_obj(const struct eau2_cview_node *n)
{
	bool k = n->have_info;

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:n, s:f, s:I, s:o, s:I, s:o,"
			 " s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:n, s:o, s:I, s:I, s:f}",
			 "id", n->id, "address", n->addr, "http", n->http,
			 "state", eau2_cview_state_name(n), "why", n->why, "self", 0,
			 "pid", "store", "started", n->started,
			 "cores", (json_int_t)n->cores,
			 "cores_allowed", uint_or_null(k, n->cores_allowed),
			 "mem_total", (json_int_t)n->memory,
			 "mem_available", uint_or_null(k, n->mem_available),
			 "load1", real_or_null(k, n->load1),
			 "cpu_busy", real_or_null(k && n->cpu_busy >= 0, n->cpu_busy),
			 "rss", uint_or_null(k, n->rss),
			 "store_used", uint_or_null(k, n->store_used),
			 "store_free", (json_int_t)n->free,
			 "store_size", uint_or_null(k, n->store_size),
			 "clients", uint_or_null(k, n->clients),
			 "requests",
			 "runs_running", uint_or_null(k, n->runs_running),
			 "partitions", (json_int_t)n->parts,
			 "partition_bytes", (json_int_t)n->part_bytes,
			 "last_answer", n->last_ok);
}

static const struct eau2_cview_node *me_of(const struct eau2_http_view *v)
{
	for (size_t i = 0; v->cluster && i < v->cluster->n; i++)
		if (v->cluster->node[i].self)
			return &v->cluster->node[i];
	return NULL;
}

static json_t *nodes_arr(const struct eau2_http_view *v)
{
	const struct eau2_cview_state *c = v->cluster;
	json_t *a = json_array();
	bool self_seen = false;

	for (size_t i = 0; a && c && i < c->n; i++) {
		self_seen |= c->node[i].self;
		if (json_array_append_new(a, c->node[i].self ? node_obj(v, &c->node[i])
							     : member_obj(&c->node[i]))) {
			json_decref(a);
			return NULL;
		}
	}
	if (a && !self_seen && json_array_append_new(a, node_obj(v, NULL))) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *cluster_items(const struct eau2_cview_state *c)
{
	json_t *items = json_array();

	for (size_t i = 0; items && i < c->nkey; i++) {
		const struct eau2_cview_key *k = &c->key[i];
		json_t *nodes = json_array();

		for (uint32_t j = 0; nodes && j < k->nnodes; j++)
			if (json_array_append_new(nodes, json_string(k->nodes[j]))) {
				json_decref(nodes);
				nodes = NULL;
			}
		if (json_array_append_new(items, json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}",
				"key", k->key, "rows", (json_int_t)k->rows,
				"bytes", (json_int_t)k->bytes, "partitions", (json_int_t)k->parts,
				"under_replicated", (json_int_t)k->under, "nodes", nodes))) {
			json_decref(items);
			return NULL;
		}
	}
	return items;
}

static json_t *cluster_obj(const struct eau2_http_view *v)
{
	const struct eau2_cview_state *c = v->cluster;

	if (!c)
		return json_null();
	return json_pack("{s:s, s:b, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:i, s:s}",
			 "self", c->self, "started", c->started, "keys", (json_int_t)c->keys,
			 "keys_truncated", c->keys_truncated,
			 "partitions", (json_int_t)c->partitions,
			 "under_replicated", (json_int_t)c->under_replicated,
			 "replicas_here", (json_int_t)c->replicas_here,
			 "probes_ok", (json_int_t)c->probes_ok,
			 "probes_failed", (json_int_t)c->probes_failed,
			 "dead_ms", EAU2_CVIEW_DEAD_MS, "error", c->error);
}

static json_t *data_obj(const struct eau2_http_view *v)
{
	const struct eau2_snap *s = v->snap;
	json_t *items = json_array(), *d;
	char id[17];
	size_t i;

	for (i = 0; items && i < s->nkey; i++) {
		const struct eau2_snap_key *k = &s->key[i];

		snprintf(id, sizeof(id), "%016" PRIx64, k->id);
		if (json_array_append_new(items, json_pack("{s:s, s:s, s:I, s:I, s:i, s:[s]}",
				"key", k->key, "id", id, "bytes", (json_int_t)k->bytes,
				"segments", (json_int_t)k->segments, "partitions", 1,
				"nodes", v->http_addr ? v->http_addr : ""))) {
			json_decref(items);
			return NULL;
		}
	}
	if (!items)
		return NULL;
	d = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o}",
		      "keys", (json_int_t)s->keys, "dataframes", (json_int_t)s->dataframes,
		      "unkeyed", (json_int_t)s->unkeyed, "segments", (json_int_t)s->segments,
		      "used_bytes", (json_int_t)s->used_bytes,
		      "load_bytes", (json_int_t)s->added_bytes,
		      "truncated", s->nkey < s->keys, "items", items);
	if (d && v->cluster && json_object_set_new(d, "cluster_items", cluster_items(v->cluster))) {
		json_decref(d);
		return NULL;
	}
	return d;
}

static json_t *runs_obj(const struct eau2_http_view *v)
{
	const struct eau2_http_runs *r = v->runs;
	json_t *rowers = json_array(), *items;
	uint64_t finished = 0, failed = 0;
	size_t i;

	for (i = 0; rowers && r && i < r->n; i++) {
		finished += r->rower[i].finished;
		failed += r->rower[i].failed;
		if (json_array_append_new(rowers, json_pack("{s:s, s:I, s:I, s:f}",
				"rower", r->rower[i].rower,
				"finished", (json_int_t)r->rower[i].finished,
				"failed", (json_int_t)r->rower[i].failed,
				"seconds", r->rower[i].seconds))) {
			json_decref(rowers);
			return NULL;
		}
	}
	if (!rowers)
		return NULL;
	if (!(items = json_array())) {
		json_decref(rowers);
		return NULL;
	}
	for (i = 0; r && i < r->nitems; i++) {
		const struct eau2_remote_run_item *x = &r->item[i];

		/* A run without input has no measure of its progress. */
		json_t *progress = x->rows ? json_real((double)x->rows_done / (double)x->rows)
					   : json_null();

		if (json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:b, s:s, s:I, s:I,"
							   " s:f, s:f, s:o}",
				"rower", x->rower, "input", x->input, "peer", x->peer,
				"part", x->part, "state", x->running ? "running" : x->rc ? "failed"
						: "done", "rows", (json_int_t)x->rows,
				"rows_done", (json_int_t)x->rows_done,
				"started", x->started, "seconds", x->seconds, "progress", progress))) {
			json_decref(rowers);
			json_decref(items);
			return NULL;
		}
	}
	return json_pack("{s:I, s:I, s:I, s:o, s:o}", "running",
			 (json_int_t)(r ? r->running : 0), "finished", (json_int_t)finished,
			 "failed", (json_int_t)failed, "items", items, "rowers", rowers);
}

static json_t *transfers_obj(const struct eau2_http_view *v)
{
	json_t *peers = json_array();
	uint64_t sent = 0, recv = 0;
	size_t i;

	for (i = 0; peers && i < v->npeers; i++) {
		const struct eau2_http_peer *p = &v->peers[i];

		sent += p->st.bytes_sent;
		recv += p->st.bytes_recv;
		if (json_array_append_new(peers, json_pack("{s:s, s:I, s:I}", "peer", p->addr,
				"sent_bytes", (json_int_t)p->st.bytes_sent,
				"received_bytes", (json_int_t)p->st.bytes_recv))) {
			json_decref(peers);
			return NULL;
		}
	}
	if (!peers)
		return NULL;
	return json_pack("{s:I, s:I, s:o, s:{s:b, s:i, s:i, s:I, s:I, s:I, s:I}}",
			 "sent_bytes", (json_int_t)sent, "received_bytes", (json_int_t)recv,
			 "peers", peers, "remote", "listening", v->remote_on,
			 "idle", (int)v->remote.idle, "busy", (int)v->remote.busy,
			 "accepted", (json_int_t)v->remote.accepted,
			 "refused_busy", (json_int_t)v->remote.refused_busy,
			 "handshake_failed", (json_int_t)v->remote.handshake_failed,
			 "requests", (json_int_t)v->remote.requests);
}

static int dump(json_t *root, char **out, size_t *len)
{
	int rc = 0;

	if (!root)
		return -ENOMEM;
	*out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!*out)
		return -ENOMEM;
	*len = strlen(*out);
	if (*len > EAU2_HTTP_BODY_MAX) {
		free(*out);
		*out = NULL;
		rc = -EFBIG;
	}
	return rc;
}

int eau2_http_status_json(const struct eau2_http_view *v, char **out, size_t *len)
{
	char version[32];

	*out = NULL;
	snprintf(version, sizeof(version), "%d.%d", EAU2_VERSION_MAJOR, EAU2_VERSION_MINOR);
	/* "o" steals each reference, and on a NULL one fails and frees the rest. */
	return dump(json_pack("{s:f, s:s, s:o, s:o, s:o, s:o, s:o, s:o}",
			      "time", v->snap->time, "version", version,
			      "self", node_obj(v, me_of(v)), "nodes", nodes_arr(v),
			      "data", data_obj(v), "runs", runs_obj(v),
			      "transfers", transfers_obj(v), "cluster", cluster_obj(v)),
		    out, len);
}

/* Totals for /api/node: runs, traffic, and the cluster as this node sees it. */
static json_t *summary(const struct eau2_http_view *v, json_t *o)
{
	const struct eau2_cview_state *c = v->cluster;
	uint64_t finished = 0, failed = 0, sent = 0, recv = 0, alive = 0, suspect = 0, dead = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; v->runs && i < v->runs->n; i++) {
		finished += v->runs->rower[i].finished;
		failed += v->runs->rower[i].failed;
	}
	for (size_t i = 0; i < v->npeers; i++) {
		sent += v->peers[i].st.bytes_sent;
		recv += v->peers[i].st.bytes_recv;
	}
	for (size_t i = 0; c && i < c->n; i++) {
		alive += c->node[i].up && !c->node[i].suspect;
		suspect += c->node[i].suspect;
		dead += !c->node[i].up;
	}
	if (json_object_set_new(o, "runs_finished", json_integer((json_int_t)finished)) ||
	    json_object_set_new(o, "runs_failed", json_integer((json_int_t)failed)) ||
	    json_object_set_new(o, "sent_bytes", json_integer((json_int_t)sent)) ||
	    json_object_set_new(o, "received_bytes", json_integer((json_int_t)recv)) ||
	    json_object_set_new(o, "load_bytes", json_integer((json_int_t)v->snap->added_bytes)) ||
	    json_object_set_new(o, "cluster", !c ? json_null() :
				json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
					  "nodes_alive", (json_int_t)alive,
					  "nodes_suspect", (json_int_t)suspect,
					  "nodes_dead", (json_int_t)dead,
					  "partitions", (json_int_t)c->partitions,
					  "under_replicated", (json_int_t)c->under_replicated,
					  "keys", (json_int_t)c->keys))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int eau2_http_node_json(const struct eau2_http_view *v, char **out, size_t *len)
{
	*out = NULL;
	return dump(summary(v, node_obj(v, me_of(v))), out, len);
}
