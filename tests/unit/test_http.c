/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - eau2-node's HTTP service (tools/eau2-node/http): the
 * Prometheus text it renders (every sample typed, names and values that
 * parse, label values escaped, the compression ratio), the JSON of
 * /api/status (parsed back), the bearer token, snapshots of a real store
 * (keys, dataframes, segments, bytes added), and the refusals at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "eau2-node/http/http.h"
#include "node/rstats.h"
#include "testutil.h"

static bool is_name(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     c == ':';

		if (!alpha && !(i && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

/* The exposition format as a scraper reads it; returns the samples. */
static int check_exposition(char *text)
{
	char typed[256][96];
	size_t ntyped = 0, i;
	int samples = 0;
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], *end;
		size_t n;
		bool found = false;

		if (!strncmp(line, "# TYPE ", 7)) {
			n = strcspn(line + 7, " ");
			assert_true(is_name(line + 7, n));
			assert_true(n < sizeof(name));
			assert_true(ntyped < 256);
			memcpy(typed[ntyped], line + 7, n);
			typed[ntyped++][n] = '\0';
			continue;
		}
		if (line[0] == '#')
			continue;
		n = strcspn(line, "{ ");
		assert_true(is_name(line, n));
		assert_true(n < sizeof(name));
		memcpy(name, line, n);
		name[n] = '\0';
		for (i = 0; i < ntyped && !found; i++) {
			size_t t = strlen(typed[i]);

			found = !strcmp(name, typed[i]) ||
				(!strncmp(name, typed[i], t) &&
				 (!strcmp(name + t, "_bucket") || !strcmp(name + t, "_sum") ||
				  !strcmp(name + t, "_count")));
		}
		if (!found)
			fail_msg("sample without a TYPE before it: %s", line);
		end = strrchr(line, ' ');
		assert_non_null(end);
		errno = 0;
		(void)strtod(end + 1, &end);
		if (*end || errno)
			fail_msg("value does not parse: %s", line);
		samples++;
	}
	return samples;
}

static struct eau2_snap fake_snap(void)
{
	static struct eau2_snap_key keys[2] = {
		{ .key = "trips", .id = 0x1234, .bytes = 1000, .segments = 2 },
		{ .key = "a\"b\\c", .id = 0x99, .bytes = 10, .segments = 1 },
	};

	return (struct eau2_snap){
		.time = 1e9, .dir = "/dev/shm/x", .fs_size = 1 << 30, .fs_free = 1 << 29,
		.used_bytes = 4096, .keys = 3, .dataframes = 3, .segments = 3,
		.added_bytes = 1010, .key = keys, .nkey = 2, .cores_online = 4,
		.cores_allowed = 2, .mem_total = 1 << 30, .mem_available = 1 << 28,
		.load1 = 0.5, .cpu_busy = -1, .pid = 42, .start_time = 1e9 - 5,
		.cpu_seconds = 0.25, .rss = 1 << 20, .open_fds = 9 };
}

static void test_metrics_format(void **state)
{
	struct eau2_snap s = fake_snap();
	struct eau2_http_peer peer = { .addr = "10.0.0.1:7400\"\\\n" };
	struct eau2_http_view v = { .snap = &s, .http_addr = "127.0.0.1:1",
				    .peers = &peer, .npeers = 1 };
	char *out;
	size_t len;

	struct eau2_http_rower_runs rr = { .rower = "count", .finished = 3, .failed = 1,
					   .seconds = 2.5, .bucket = { 1, 0, 1, 0, 0, 0, 0, 1 } };
	struct eau2_http_runs runs = { .running = 2, .n = 1, .rower = &rr };

	v.runs = &runs;
	peer.st.bytes_sent = 500;
	peer.st.sent[1][1].raw = 300;
	peer.st.sent[1][1].wire = 100;
	v.node.clients = 7;
	assert_int_equal(eau2_http_metrics(&v, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	assert_non_null(strstr(out, "\neau2_clients 7\n"));
	assert_non_null(strstr(out, "\neau2_store_keys 3\n"));
	assert_non_null(strstr(out, "\neau2_load_bytes_total 1010\n"));
	assert_non_null(strstr(out, "\neau2_net_compression_ratio 3\n"));
	/* Quote, backslash and newline escaped in a label value. */
	assert_non_null(strstr(out, "eau2_net_peer_sent_bytes_total{peer=\"10.0.0.1:7400\\\"\\\\\\n\"} 500\n"));
	/* An unknown CPU figure is 0, not a negative share. */
	assert_non_null(strstr(out, "\neau2_host_cpu_busy_ratio 0\n"));
	/* Buckets are cumulative; a rower never run here has zeros. */
	assert_non_null(strstr(out, "eau2_run_duration_seconds_bucket{rower=\"count\",le=\"0.01\"} 1\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_bucket{rower=\"count\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_bucket{rower=\"count\",le=\"1\"} 2\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_bucket{rower=\"count\",le=\"3600\"} 2\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_bucket{rower=\"count\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_sum{rower=\"count\"} 2.5\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_count{rower=\"count\"} 3\n"));
	assert_non_null(strstr(out, "eau2_run_duration_seconds_count{rower=\"sum\"} 0\n"));
	assert_non_null(strstr(out, "\neau2_runs_running 2\n"));
	assert_non_null(strstr(out, "\neau2_runs_finished_total 3\n"));
	assert_non_null(strstr(out, "\neau2_runs_failed_total 1\n"));
	assert_true(check_exposition(out) > 40);
	free(out);
	(void)state;
}

static void test_status_json(void **state)
{
	struct eau2_snap s = fake_snap();
	struct eau2_http_view v = { .snap = &s, .http_addr = "127.0.0.1:1" };
	json_error_t jerr;
	json_t *j, *items;
	char *out;
	size_t len;

	assert_int_equal(eau2_http_status_json(&v, &out, &len), 0);
	j = json_loadb(out, len, 0, &jerr);
	if (!j)
		fail_msg("not JSON: %s: %s", jerr.text, out);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
				    json_object_get(j, "nodes"), 0), "address")), "127.0.0.1:1");
	assert_true(json_is_null(json_object_get(json_object_get(j, "self"), "cpu_busy")));
	items = json_object_get(json_object_get(j, "data"), "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "key")),
			    "a\"b\\c");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "id")),
			    "0000000000001234");
	/* 3 keys, 2 listed. */
	assert_true(json_is_true(json_object_get(json_object_get(j, "data"), "truncated")));
	json_decref(j);
	free(out);
	(void)state;
}


/* A cluster of three as node "a" sees it: "c" dead, one key whose
 * partitions are on a, b and c. */
static void fake_cluster(struct eau2_cview_state *c)
{
	static const char *const id[] = { "a", "b", "c" };

	memset(c, 0, sizeof(*c));
	c->started = true;
	strcpy(c->self, "a");
	c->n = 3;
	for (size_t i = 0; i < 3; i++) {
		struct eau2_cview_node *n = &c->node[i];

		strcpy(n->id, id[i]);
		snprintf(n->addr, sizeof(n->addr), "10.0.0.%zu:7400", i + 1);
		n->self = i == 0;
		n->in_zk = i != 2;
		n->up = i != 2;
		n->suspect = i == 1;
		n->cores = 4;
		n->memory = 1 << 30;
		n->parts = 2;
		n->have_info = i == 1;
		n->load1 = 1.5;
		n->cpu_busy = -1;
	}
	strcpy(c->node[2].why, "no answer for 3 s");
	c->keys = 1;
	c->nkey = 1;
	strcpy(c->key[0].key, "w\"x");
	c->key[0].parts = 3;
	c->key[0].under = 2;
	c->key[0].nnodes = 3;
	for (size_t i = 0; i < 3; i++)
		strcpy(c->key[0].nodes[i], id[i]);
	c->partitions = 3;
	c->replicas_here = 2;
	c->under_replicated = 2;
	c->probes_ok = 10;
	c->probes_failed = 3;
}

static void test_cluster_pages(void **state)
{
	struct eau2_snap s = fake_snap();
	struct eau2_http_view v = { .snap = &s, .http_addr = "127.0.0.1:1" };
	struct eau2_cview_state *c = malloc(sizeof(*c));
	struct eau2_remote_run_item item = { .rower = "wordcount", .input = "eau2.part.1.0",
					     .peer = "10.0.0.9", .part = true, .running = true,
					     .rows = 1000, .seconds = 1.5 };
	struct eau2_http_runs runs = { .running = 1, .nitems = 1, .item = &item };
	json_t *j, *nodes, *n;
	json_error_t jerr;
	char *out;
	size_t len;

	assert_non_null(c);
	fake_cluster(c);
	v.cluster = c;
	v.runs = &runs;
	assert_int_equal(eau2_http_metrics(&v, &out, &len), 0);
	assert_non_null(strstr(out, "\neau2_nodes{state=\"alive\"} 1\n"));
	assert_non_null(strstr(out, "\neau2_nodes{state=\"suspect\"} 1\n"));
	assert_non_null(strstr(out, "\neau2_node_up{node=\"b\"} 1\n"));
	assert_non_null(strstr(out, "\neau2_nodes{state=\"dead\"} 1\n"));
	assert_non_null(strstr(out, "\neau2_node_up{node=\"c\"} 0\n"));
	assert_non_null(strstr(out, "\neau2_partitions 2\n"));
	assert_non_null(strstr(out, "\neau2_cluster_partitions 3\n"));
	assert_non_null(strstr(out, "\neau2_partitions_under_replicated 2\n"));
	assert_non_null(strstr(out, "\neau2_heartbeats_total{result=\"failed\"} 3\n"));
	assert_true(check_exposition(out) > 40);
	free(out);

	assert_int_equal(eau2_http_status_json(&v, &out, &len), 0);
	j = json_loadb(out, len, 0, &jerr);
	if (!j)
		fail_msg("not JSON: %s: %s", jerr.text, out);
	nodes = json_object_get(j, "nodes");
	assert_int_equal(json_array_size(nodes), 3);
	/* Self: its own snapshot's figures under its cluster id. */
	n = json_array_get(nodes, 0);
	assert_string_equal(json_string_value(json_object_get(n, "id")), "a");
	assert_int_equal(json_integer_value(json_object_get(n, "pid")), 42);
	assert_string_equal(json_string_value(json_object_get(n, "state")), "alive");
	/* b: probed, suspect; c: dead, why, and unknown figures null. */
	n = json_array_get(nodes, 1);
	assert_true(json_real_value(json_object_get(n, "load1")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(n, "state")), "suspect");
	n = json_array_get(nodes, 2);
	assert_string_equal(json_string_value(json_object_get(n, "state")), "dead");
	assert_string_equal(json_string_value(json_object_get(n, "why")), "no answer for 3 s");
	assert_true(json_is_null(json_object_get(n, "load1")));
	assert_true(json_is_null(json_object_get(n, "store_used")));
	n = json_array_get(json_object_get(json_object_get(j, "data"), "cluster_items"), 0);
	assert_string_equal(json_string_value(json_object_get(n, "key")), "w\"x");
	assert_int_equal(json_integer_value(json_object_get(n, "under_replicated")), 2);
	assert_int_equal(json_array_size(json_object_get(n, "nodes")), 3);
	n = json_array_get(json_object_get(json_object_get(j, "runs"), "items"), 0);
	assert_string_equal(json_string_value(json_object_get(n, "state")), "running");
	assert_string_equal(json_string_value(json_object_get(n, "input")), "eau2.part.1.0");
	/* Its rows counted, none visited yet. */
	assert_true(json_is_real(json_object_get(n, "progress")));
	assert_true(json_real_value(json_object_get(n, "progress")) == 0.0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "cluster"),
							      "under_replicated")), 2);
	json_decref(j);
	free(out);

	/* /api/node: what the probe of another node reads back. */
	assert_int_equal(eau2_http_node_json(&v, &out, &len), 0);
	{
		char resp[8192];
		struct eau2_cview_node got = {0};
		struct eau2_error err = {0};
		int k = snprintf(resp, sizeof(resp), "HTTP/1.0 200 OK\r\nX: y\r\n\r\n%s", out);

		assert_int_equal(eau2_cview_parse_node(resp, (size_t)k, &got, &err), 0);
		assert_true(got.have_info);
		assert_int_equal(got.cores_allowed, 2);
		assert_int_equal(got.mem_available, 1 << 28);
		assert_int_equal(got.rss, 1 << 20);
		assert_int_equal(got.runs_running, 1);
		assert_true(got.cpu_busy < 0);
		resp[9] = '4'; /* "HTTP/1.0 400" */
		assert_int_equal(eau2_cview_parse_node(resp, (size_t)k, &got, &err), -EBADMSG);
	}
	free(out);
	free(c);
	(void)state;
}

static void test_probe_refusals(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.0 200 OK\r\n\r\n{\"cores_allowed\":2}",
		"HTTP/1.0 200 OK\r\n\r\n{\"cores_allowed\":-1,\"mem_available\":1,\"store_used\":1,"
		"\"store_size\":1,\"clients\":1,\"rss\":1,\"load1\":1}",
		"HTTP/1.0 200 OK\r\n\r\n{\"cores_allowed\":1,\"mem_available\":1,\"store_used\":1,"
		"\"store_size\":1,\"clients\":1,\"rss\":1,\"load1\":1,\"cpu_busy\":7}",
		"HTTP/1.0 200 OK\r\nno end of headers",
		"garbage",
	};
	struct eau2_cview_node n;
	struct eau2_error err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&n, 0, sizeof(n));
		memset(&err, 0, sizeof(err));
		assert_int_equal(eau2_cview_parse_node(bad[i], strlen(bad[i]), &n, &err), -EBADMSG);
		assert_false(n.have_info);
		assert_non_null(strstr(err.msg, "probe"));
	}
	(void)state;
}

/* The remote service's counters: runs listed then remembered, durations
 * bucketed, peers by host and bounded. */
static void test_rstats(void **state)
{
	struct eau2_rstats *st = eau2_rstats_new();
	struct eau2_remote_rower_runs rr[4];
	struct eau2_remote_run_item it[8];
	struct eau2_remote_peer *peers = calloc(EAU2_REMOTE_PEERS_MAX, sizeof(*peers));
	struct eau2_net_stats a = {0}, b = {0};
	uint64_t running;
	size_t n, ni;
	int s1, s2;
	char peer[64];

	assert_non_null(st);
	assert_non_null(peers);
	uint64_t done1 = 0, done2 = 0;

	s1 = eau2_rstats_run_begin(st, "count", "k1", "10.0.0.1:5000 (node x)", false, 10, &done1);
	s2 = eau2_rstats_run_begin(st, "wordcount", "eau2.part.1.0", "[::1]:7 (client)", true, 5,
				   &done2);
	assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
	n = eau2_rstats_runs(st, &running, rr, 4, it, 8, &ni);
	assert_int_equal(n, 0);
	assert_int_equal(running, 2);
	assert_int_equal(ni, 2);
	assert_string_equal(it[0].peer, "10.0.0.1");
	assert_string_equal(it[1].peer, "[::1]");
	assert_true(it[0].running);
	/* Progress is read from the run's counter while it runs. */
	assert_int_equal(it[0].rows_done, 0);
	done1 = 4;
	done2 = 5;
	n = eau2_rstats_runs(st, &running, rr, 4, it, 8, &ni);
	assert_int_equal(it[0].rows_done, 4);
	assert_int_equal(it[1].rows_done, 5);
	eau2_rstats_run_end(st, s1, "count", -ECANCELED);
	eau2_rstats_run_end(st, s2, "wordcount", 0);
	n = eau2_rstats_runs(st, &running, rr, 4, it, 8, &ni);
	assert_int_equal(n, 2);
	assert_int_equal(running, 0);
	assert_int_equal(ni, 2);
	assert_string_equal(it[0].rower, "wordcount"); /* newest first */
	assert_false(it[0].running);
	assert_int_equal(it[1].rc, -ECANCELED);
	assert_int_equal(it[0].rows_done, 5); /* kept once finished */
	assert_int_equal(it[1].rows_done, 4);
	assert_int_equal(rr[0].finished, 1);
	assert_int_equal(rr[0].failed, 1);
	assert_int_equal(rr[0].bucket[0], 1); /* well under 10 ms */

	b.bytes_sent = 100;
	b.sent[1][1].raw = 50;
	for (unsigned i = 0; i < EAU2_REMOTE_PEERS_MAX + 10; i++) {
		snprintf(peer, sizeof(peer), "10.1.%u.%u:%u (client)", i / 256, i % 256, 1000 + i);
		eau2_rstats_traffic(st, peer, &a, &b);
	}
	eau2_rstats_traffic(st, "10.1.0.0:999 (client)", &a, &b); /* same host */
	n = eau2_rstats_peers(st, peers, EAU2_REMOTE_PEERS_MAX);
	assert_int_equal(n, EAU2_REMOTE_PEERS_MAX);
	assert_string_equal(peers[0].addr, "10.1.0.0");
	assert_int_equal(peers[0].st.bytes_sent, 200);
	assert_int_equal(peers[0].st.sent[1][1].raw, 100);
	assert_string_equal(peers[n - 1].addr, "other");
	assert_int_equal(peers[n - 1].st.bytes_sent, 11 * 100);
	free(peers);
	eau2_rstats_free(st);
	(void)state;
}

static void test_token(void **state)
{
	uint8_t k1[EAU2_NET_KEY_BYTES] = { 1 }, k2[EAU2_NET_KEY_BYTES] = { 2 };
	char t1[EAU2_HTTP_TOKEN_HEX + 1], t1b[EAU2_HTTP_TOKEN_HEX + 1];
	char t2[EAU2_HTTP_TOKEN_HEX + 1];
	size_t i;

	eau2_http_token(k1, t1);
	eau2_http_token(k1, t1b);
	eau2_http_token(k2, t2);
	assert_int_equal(strlen(t1), EAU2_HTTP_TOKEN_HEX);
	for (i = 0; i < EAU2_HTTP_TOKEN_HEX; i++)
		assert_non_null(strchr("0123456789abcdef", t1[i]));
	assert_string_equal(t1, t1b);
	assert_string_not_equal(t1, t2);
	/* Not the key itself, in hex. */
	assert_memory_not_equal(t1, "0100000000", 10);
	(void)state;
}

static eau2_df *small_df(eau2 *db, size_t n)
{
	struct eau2_error err = {0};
	int64_t *v = calloc(n, sizeof(*v));
	eau2_df *df = NULL;

	assert_non_null(v);
	tu_ok(eau2_df_from_array(db, "x", EAU2_INT, v, n, &df, &err), &err);
	free(v);
	return df;
}

static void test_snapshot_store(void **state)
{
	struct eau2_error err = {0};
	struct eau2_snapper *sp;
	struct eau2_snap s;
	char *dir;
	eau2 *db = tu_open_store(&dir);
	eau2_df *df = small_df(db, 100000), *df2;

	tu_ok(eau2_put(db, "before", df, &err), &err);
	tu_ok(eau2_snapper_open(&sp, dir, &err), &err);
	tu_ok(eau2_snapper_take(sp, &s, &err), &err);
	assert_int_equal(s.keys, 1);
	assert_int_equal(s.dataframes, 1);
	assert_true(s.segments >= 1);
	assert_true(s.used_bytes >= 800000);
	/* What was there at the first snapshot is the baseline. */
	assert_int_equal(s.added_bytes, 0);
	assert_int_equal(s.nkey, 1);
	assert_string_equal(s.key[0].key, "before");
	assert_true(s.key[0].bytes >= 800000);
	assert_true(s.cores_online >= 1 && s.cores_allowed >= 1);
	assert_true(s.mem_total > 0);
	assert_true(s.cpu_busy < 0); /* one sample: unknown */
	assert_int_equal(s.pid, getpid());
	eau2_snap_clear(&s);

	df2 = small_df(db, 100000);
	usleep(50000); /* a few clock ticks, for the CPU figure */
	tu_ok(eau2_put(db, "after", df2, &err), &err);
	tu_ok(eau2_snapper_take(sp, &s, &err), &err);
	assert_int_equal(s.keys, 2);
	assert_int_equal(s.dataframes, 2);
	assert_true(s.added_bytes >= 800000);
	assert_true(s.cpu_busy >= 0 && s.cpu_busy <= 1);
	assert_string_equal(s.key[0].key, "after");
	eau2_snap_clear(&s);

	tu_ok(eau2_delete(db, "before", &err), &err);
	tu_ok(eau2_snapper_take(sp, &s, &err), &err);
	assert_int_equal(s.keys, 1);
	eau2_snap_clear(&s);
	eau2_snapper_close(sp);
	eau2_df_release(df);
	eau2_df_release(df2);
	tu_close_store(db, dir);
	(void)state;
}

static void test_start_refusals(void **state)
{
	struct eau2_error err = {0};
	struct eau2_http *h = NULL;
	char *dir = tu_tmpdir("http");
	char secret[4200], store[4200];
	struct eau2_http_opts o = { .addr = "0.0.0.0:0", .store = store, .log_fd = -1 };
	int fd;

	snprintf(store, sizeof(store), "%s/store", dir);
	assert_int_equal(eau2_http_start(&h, &o, &err), -EPERM);
	assert_null(h);
	assert_non_null(strstr(err.msg, "needs the cluster secret"));

	o.addr = "no-port";
	assert_true(eau2_http_start(&h, &o, &err) < 0);
	assert_non_null(strstr(err.msg, "--http"));

	snprintf(secret, sizeof(secret), "%s/secret", dir);
	fd = open(secret, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret\n", 7), 7);
	close(fd);
	chmod(secret, 0644);
	o.addr = "0.0.0.0:0";
	o.secret_file = secret;
	assert_int_equal(eau2_http_start(&h, &o, &err), -EPERM);
	assert_non_null(strstr(err.msg, "chmod 600"));

	chmod(secret, 0600);
	tu_ok(eau2_http_start(&h, &o, &err), &err);
	assert_null(strstr(eau2_http_addr(h), ":0"));
	eau2_http_stop(h);

	o.addr = "127.0.0.1:0";
	o.secret_file = NULL;
	tu_ok(eau2_http_start(&h, &o, &err), &err);
	assert_true(!strncmp(eau2_http_addr(h), "127.0.0.1:", 10));
	eau2_http_stop(h);
	eau2_http_stop(NULL);
	tu_rmdir(dir);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_format),
		cmocka_unit_test(test_status_json),
		cmocka_unit_test(test_cluster_pages),
		cmocka_unit_test(test_probe_refusals),
		cmocka_unit_test(test_rstats),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_snapshot_store),
		cmocka_unit_test(test_start_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
