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
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_snapshot_store),
		cmocka_unit_test(test_start_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
