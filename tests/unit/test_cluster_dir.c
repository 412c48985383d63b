/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_dir.c - the directory of distributed keys
 * (src/cluster/dir.c) on a real ZooKeeper: entry payloads and their
 * checks, leases, publishing whole or not at all, two publishers of one
 * key, removal, listing, waiting, and the garbage rule.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An entry of nparts partitions of 10 rows on nodes n0..n2. */
static void make_entry(struct eau2_dir_entry *e, const char *key, uint64_t put,
		       size_t nparts)
{
	struct eau2_error err = {0};

	memset(e, 0, sizeof(*e));
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->put = put;
	e->created_ms = 1733300000000;
	tu_ok(eau2_schema_parse("a:int,s:string", &e->schema, &err), &err);
	e->nnodes = 3;
	e->nodes = calloc(3, sizeof(*e->nodes));
	for (size_t i = 0; i < 3; i++)
		snprintf(e->nodes[i], sizeof(e->nodes[i]), "n%zu", i);
	e->nparts = nparts;
	e->parts = calloc(nparts, sizeof(*e->parts));
	for (size_t i = 0; i < nparts; i++) {
		e->parts[i] = (struct eau2_dir_part){
			.rows = 10, .bytes = 100, .groups = 1, .nrep = 2,
			.rep = { (uint32_t)(i % 3), (uint32_t)((i + 1) % 3) },
		};
		e->rows += 10;
		e->bytes += 100;
	}
}

static void bad(const char *json, const char *want)
{
	struct eau2_error err = {0};
	struct eau2_dir_entry e;

	assert_int_equal(eau2_dir_decode("/eau2/t/keys/k", json, strlen(json), &e, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.msg, "/eau2/t/keys/k"));
	if (!strstr(err.msg, want))
		fail_msg("decode of %s: '%s' lacks '%s'", json, err.msg, want);
	assert_null(e.schema);
}

#define HEAD "{\"v\":1,\"key\":\"k\",\"put\":\"00000000000000ab\",\"created\":0,"

static void test_payload(void **state)
{
	struct eau2_dir_entry e, d;
	struct eau2_error err = {0};
	char *buf, name[EAU2_DIR_PART_NAME_MAX];
	uint64_t put;
	size_t len, idx;

	(void)state;
	make_entry(&e, "k/1 \"x\"", 0xabcdef0123456789ull, 5);
	e.parts[4].state = EAU2_PART_DEGRADED;
	tu_ok(eau2_dir_encode(&e, &buf, &len, &err), &err);
	tu_ok(eau2_dir_decode("/p", buf, len, &d, &err), &err);
	assert_string_equal(d.key, e.key);
	assert_int_equal(d.put, e.put);
	assert_int_equal(d.rows, 50);
	assert_int_equal(d.nparts, 5);
	assert_int_equal(d.parts[4].state, EAU2_PART_DEGRADED);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(d.parts[i].rows, e.parts[i].rows);
		assert_int_equal(d.parts[i].bytes, e.parts[i].bytes);
		assert_int_equal(d.parts[i].groups, e.parts[i].groups);
		assert_int_equal(d.parts[i].nrep, e.parts[i].nrep);
		assert_memory_equal(d.parts[i].rep, e.parts[i].rep, sizeof(e.parts[i].rep));
	}
	assert_string_equal(eau2_dir_replica(&d, 2, 1), "n0");
	assert_int_equal(eau2_schema_ncols(d.schema), 2);
	assert_string_equal(eau2_schema_name(d.schema, 1), "s");
	free(buf);
	eau2_dir_entry_free(&d);
	eau2_dir_entry_free(&e);

	bad("", "not JSON");
	bad("[]", "not a JSON object");
	bad("{\"v\":2}", "format 2");
	bad("{\"v\":1,\"key\":\"\"}", "\"key\"");
	bad("{\"v\":1,\"key\":\"k\",\"put\":\"xyz\"}", "\"put\"");
	bad(HEAD "\"rows\":0,\"bytes\":0,\"schema\":[[\"a\",\"nope\"]]}", "schema column 0");
	bad(HEAD "\"rows\":0,\"bytes\":0,\"schema\":[[\"a\",\"int\"],[\"a\",\"int\"]]}",
	    "schema column 1");
	bad(HEAD "\"rows\":0,\"bytes\":0,\"schema\":[],\"nodes\":[\"a\",\"a\"]}", "twice");
	bad(HEAD "\"rows\":0,\"bytes\":0,\"schema\":[],\"nodes\":[\"a/b\"]}", "node id");
	bad(HEAD "\"rows\":1,\"bytes\":0,\"schema\":[],\"nodes\":[\"a\"],\"parts\":"
	    "[{\"rows\":1,\"bytes\":0,\"groups\":1,\"replicas\":[1],\"state\":\"ok\"}]}",
	    "replicas[0]");
	bad(HEAD "\"rows\":1,\"bytes\":0,\"schema\":[],\"nodes\":[\"a\"],\"parts\":"
	    "[{\"rows\":1,\"bytes\":0,\"groups\":1,\"replicas\":[],\"state\":\"ok\"}]}",
	    "\"replicas\"");
	bad(HEAD "\"rows\":1,\"bytes\":0,\"schema\":[],\"nodes\":[\"a\"],\"parts\":"
	    "[{\"rows\":1,\"bytes\":0,\"groups\":1,\"replicas\":[0],\"state\":\"odd\"}]}",
	    "\"state\"");
	bad(HEAD "\"rows\":5,\"bytes\":0,\"schema\":[],\"nodes\":[\"a\"],\"parts\":"
	    "[{\"rows\":1,\"bytes\":0,\"groups\":1,\"replicas\":[0],\"state\":\"ok\"}]}",
	    "the entry says 5");

	eau2_dir_part_name(0x12ab, 7, name);
	assert_string_equal(name, "eau2.part.00000000000012ab.7");
	tu_ok(eau2_dir_part_parse(name, &put, &idx), &err);
	assert_int_equal(put, 0x12ab);
	assert_int_equal(idx, 7);
	assert_int_equal(eau2_dir_part_parse("eau2.part.00000000000012ab.07", NULL, NULL), -EINVAL);
	assert_int_equal(eau2_dir_part_parse("eau2.part.00000000000012AB.7", NULL, NULL), -EINVAL);
	assert_int_equal(eau2_dir_part_parse("mykey", NULL, NULL), -EINVAL);
	/* Broadcast copies: their own prefix, never a partition's. */
	eau2_dir_bcast_name(0x12ab, 3, name);
	assert_string_equal(name, "eau2.bcast.00000000000012ab.3");
	tu_ok(eau2_dir_bcast_parse(name, &put, &idx), &err);
	assert_int_equal(put, 0x12ab);
	assert_int_equal(idx, 3);
	assert_int_equal(eau2_dir_part_parse(name, NULL, NULL), -EINVAL);
	assert_int_equal(eau2_dir_bcast_parse("eau2.part.00000000000012ab.7", NULL, NULL),
			 -EINVAL);
	assert_int_equal(eau2_dir_bcast_parse("eau2.bcast.12ab.3", NULL, NULL), -EINVAL);
}

static void test_publish(void **state)
{
	eau2_zk *zk = zku_connect("dir1", 0), *other;
	struct eau2_dir_entry e, got, old;
	struct eau2_dir_live live;
	struct eau2_error err = {0};
	char name[EAU2_DIR_PART_NAME_MAX], **keys;
	uint64_t p1, p2, p3;
	size_t n;

	(void)state;
	tu_ok(eau2_dir_init(zk, &err), &err);
	assert_int_equal(eau2_dir_read(zk, "a/b", &got, NULL, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "a/b"));

	/* A leased put is alive before it is published. */
	tu_ok(eau2_dir_lease(zk, "a/b", &p1, &err), &err);
	tu_ok(eau2_dir_live_read(zk, &live, &err), &err);
	eau2_dir_part_name(p1, 0, name);
	assert_false(eau2_dir_is_garbage(&live, name));
	eau2_dir_live_free(&live);
	make_entry(&e, "a/b", p1, 3);
	tu_ok(eau2_dir_publish(zk, &e, &old, &err), &err);
	assert_int_equal(old.put, 0);
	eau2_dir_entry_free(&e);
	tu_ok(eau2_dir_read(zk, "a/b", &got, NULL, NULL, &err), &err);
	assert_int_equal(got.put, p1);
	assert_int_equal(got.nparts, 3);
	eau2_dir_entry_free(&got);

	/* A lease lost with its session: nothing is published. */
	other = zku_connect("dir1", 0);
	tu_ok(eau2_dir_lease(other, "a/b", &p2, &err), &err);
	eau2_zk_close(other);
	make_entry(&e, "a/b", p2, 1);
	assert_int_equal(eau2_dir_publish(zk, &e, NULL, &err), -ENOTCONN);
	assert_non_null(strstr(err.msg, "lease"));
	eau2_dir_entry_free(&e);
	tu_ok(eau2_dir_read(zk, "a/b", &got, NULL, NULL, &err), &err);
	assert_int_equal(got.put, p1);
	eau2_dir_entry_free(&got);
	tu_ok(eau2_dir_live_read(zk, &live, &err), &err);
	eau2_dir_part_name(p2, 0, name);
	assert_true(eau2_dir_is_garbage(&live, name));
	eau2_dir_part_name(p1, 2, name);
	assert_false(eau2_dir_is_garbage(&live, name));
	assert_false(eau2_dir_is_garbage(&live, "not-a-partition"));
	/* A broadcast copy lives as long as its run's lease. */
	eau2_dir_bcast_name(p2, 0, name);
	assert_true(eau2_dir_is_garbage(&live, name));
	eau2_dir_bcast_name(p1, 0, name);
	assert_false(eau2_dir_is_garbage(&live, name));
	eau2_dir_live_free(&live);

	/* Replacing returns the entry replaced. */
	tu_ok(eau2_dir_lease(zk, "a/b", &p3, &err), &err);
	make_entry(&e, "a/b", p3, 2);
	tu_ok(eau2_dir_publish(zk, &e, &old, &err), &err);
	assert_int_equal(old.put, p1);
	eau2_dir_entry_free(&old);
	eau2_dir_entry_free(&e);

	tu_ok(eau2_dir_lease(zk, ".x", &p2, &err), &err);
	make_entry(&e, ".x", p2, 1);
	tu_ok(eau2_dir_publish(zk, &e, NULL, &err), &err);
	eau2_dir_entry_free(&e);
	tu_ok(eau2_dir_list(zk, &keys, &n, &err), &err);
	assert_int_equal(n, 2);
	assert_string_equal(keys[0], ".x");
	assert_string_equal(keys[1], "a/b");
	assert_null(keys[2]);
	eau2_list_free(keys);

	tu_ok(eau2_dir_remove(zk, "a/b", &old, &err), &err);
	assert_int_equal(old.put, p3);
	eau2_dir_entry_free(&old);
	assert_int_equal(eau2_dir_remove(zk, "a/b", NULL, &err), -ENOENT);
	assert_int_equal(eau2_dir_wait(zk, "a/b", 200, &err), -ETIMEDOUT);
	tu_ok(eau2_dir_wait(zk, ".x", 200, &err), &err);
	eau2_zk_close(zk);
}

/* Two drivers publish one key, many times over: each publish replaces
 * exactly one entry (every put id is replaced once, by one of them), and
 * the key ends holding one of them whole. */
static void test_two_publishers(void **state)
{
	eau2_zk *zk[2] = { zku_connect("dir2", 0), zku_connect("dir2", 0) };
	struct eau2_error err = {0};
	uint64_t puts[40], replaced[40];
	size_t nput = 0, nrep = 0;
	struct eau2_dir_entry e, old;

	(void)state;
	tu_ok(eau2_dir_init(zk[0], &err), &err);
	for (int round = 0; round < 20; round++) {
		for (int d = 0; d < 2; d++) {
			tu_ok(eau2_dir_lease(zk[d], "k", &puts[nput], &err), &err);
			nput++;
		}
		for (int d = 0; d < 2; d++) {
			make_entry(&e, "k", puts[nput - 2 + (size_t)d], (size_t)(1 + d));
			tu_ok(eau2_dir_publish(zk[d], &e, &old, &err), &err);
			if (old.put)
				replaced[nrep++] = old.put;
			eau2_dir_entry_free(&old);
			eau2_dir_entry_free(&e);
		}
	}
	assert_int_equal(nrep, nput - 1);
	for (size_t i = 0; i < nrep; i++)
		assert_int_equal(replaced[i], puts[i]);
	tu_ok(eau2_dir_read(zk[0], "k", &e, NULL, NULL, &err), &err);
	assert_int_equal(e.put, puts[nput - 1]);
	assert_int_equal(e.nparts, 2);
	eau2_dir_entry_free(&e);
	eau2_zk_close(zk[0]);
	eau2_zk_close(zk[1]);
}

/* A hostile or corrupt entry in ZooKeeper: reads fail naming its znode,
 * nothing can be judged garbage while it is there, and it can be
 * removed or replaced. */
static void test_corrupt(void **state)
{
	eau2_zk *zk = zku_connect("dir3", 0);
	struct eau2_error err = {0};
	struct eau2_dir_entry e, old;
	struct eau2_dir_live live;
	uint64_t p;

	(void)state;
	tu_ok(eau2_dir_init(zk, &err), &err);
	tu_ok(eau2_zk_create(zk, "keys/bad", "{\"v\":1,", 6, 0, NULL, 0, &err), &err);
	assert_int_equal(eau2_dir_read(zk, "bad", &e, NULL, NULL, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "/eau2/dir3/keys/bad"));
	assert_int_equal(eau2_dir_live_read(zk, &live, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "keys/bad"));
	/* A put replaces it (old: nothing to drop). */
	tu_ok(eau2_dir_lease(zk, "bad", &p, &err), &err);
	make_entry(&e, "bad", p, 1);
	tu_ok(eau2_dir_publish(zk, &e, &old, &err), &err);
	assert_int_equal(old.put, 0);
	eau2_dir_entry_free(&e);
	tu_ok(eau2_zk_set(zk, "keys/bad", "[]", 2, -1, NULL, &err), &err);
	tu_ok(eau2_dir_remove(zk, "bad", &old, &err), &err);
	assert_int_equal(old.put, 0);
	tu_ok(eau2_dir_live_read(zk, &live, &err), &err);
	eau2_dir_live_free(&live);
	eau2_zk_close(zk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_publish),
		cmocka_unit_test(test_two_publishers),
		cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
