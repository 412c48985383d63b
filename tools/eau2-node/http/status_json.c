/* SPDX-License-Identifier: MIT */
/*
 * status_json.c - /api/status: the view (http.h) as one JSON object, what
 * the dashboard polls. "nodes" is a list so that a cluster fills it with a
 * row per node later; on a single node it holds this node, the same object
 * as "self". Built with jansson; keys are the store's, and jansson escapes
 * them.
 *
 *   {"time", "version", "self": NODE, "nodes": [NODE...],
 *    "data": {"keys", "dataframes", "unkeyed", "segments", "used_bytes",
 *             "load_bytes", "truncated", "items": [{"key", "id", "bytes",
 *             "segments", "partitions", "nodes": [ADDR]}]},
 *    "runs": {"running", "finished", "failed", "items": [] (runs one by
 *             one: none recorded yet), "rowers": [{"rower", "finished",
 *             "failed", "seconds"}]},
 *    "transfers": {"sent_bytes", "received_bytes", "peers": [{"peer",
 *                  "sent_bytes", "received_bytes"}], "remote": {"listening",
 *                  "idle", "busy", "accepted", "refused_busy",
 *                  "handshake_failed", "requests"}}}
 *   NODE = {"address", "state", "pid", "store", "started", "cores",
 *           "cores_allowed", "mem_total", "mem_available", "load1",
 *           "cpu_busy" (null: unknown), "rss", "store_used", "store_free",
 *           "store_size", "clients", "requests"}
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eau2-node/http/http.h"

static json_t *node_obj(const struct eau2_http_view *v)
{
	const struct eau2_snap *s = v->snap;

	return json_pack("{s:s, s:s, s:I, s:s, s:f, s:I, s:I, s:I, s:I, s:f, s:o, s:I,"
			 " s:I, s:I, s:I, s:I, s:I}",
			 "address", v->http_addr ? v->http_addr : "",
			 "state", "up",
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
			 "requests", (json_int_t)v->node.requests);
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
	return d;
}

static json_t *runs_obj(const struct eau2_http_view *v)
{
	const struct eau2_http_runs *r = v->runs;
	json_t *rowers = json_array();
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
	return json_pack("{s:I, s:I, s:I, s:[], s:o}", "running",
			 (json_int_t)(r ? r->running : 0), "finished", (json_int_t)finished,
			 "failed", (json_int_t)failed, "items", "rowers", rowers);
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

int eau2_http_status_json(const struct eau2_http_view *v, char **out, size_t *len)
{
	json_t *self = node_obj(v), *nodes = node_obj(v), *root;
	char version[32];
	int rc = 0;

	*out = NULL;
	snprintf(version, sizeof(version), "%d.%d", EAU2_VERSION_MAJOR, EAU2_VERSION_MINOR);
	/* "o" steals each reference, and on a NULL one fails and frees the rest. */
	root = json_pack("{s:f, s:s, s:o, s:[o], s:o, s:o, s:o}",
			 "time", v->snap->time, "version", version, "self", self,
			 "nodes", nodes, "data", data_obj(v), "runs", runs_obj(v),
			 "transfers", transfers_obj(v));
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
