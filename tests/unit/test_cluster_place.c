/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_place.c - placement (src/cluster/place.c), pure functions:
 * cuts at row-group boundaries, replicas on distinct nodes balanced by
 * bytes within free space, and repair plans after node losses.
 */
#include "testutil.h"
#include "cluster/place.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check_cut(const uint64_t *g, size_t n, const struct eau2_place_range *r,
		      size_t nr)
{
	size_t next = 0;

	for (size_t i = 0; i < nr; i++) {
		uint64_t b = 0;

		assert_int_equal(r[i].group, next);
		assert_true(r[i].ngroups >= 1);
		for (size_t j = 0; j < r[i].ngroups; j++)
			b += g[r[i].group + j];
		assert_int_equal(b, r[i].bytes);
		next += r[i].ngroups;
	}
	assert_int_equal(next, n);
}

static void test_cut(void **state)
{
	struct eau2_error err = {0};
	struct eau2_place_range *r;
	uint64_t g[100];
	size_t nr;

	(void)state;
	for (size_t i = 0; i < 100; i++)
		g[i] = 1000;
	/* 100 KB in 10 KB parts. */
	tu_ok(eau2_place_cut(g, 100, 10000, 1, 0, &r, &nr, &err), &err);
	assert_int_equal(nr, 10);
	check_cut(g, 100, r, nr);
	for (size_t i = 0; i < nr; i++)
		assert_int_equal(r[i].ngroups, 10);
	free(r);
	/* At least one part per node, even when small. */
	tu_ok(eau2_place_cut(g, 100, 0, 3, 0, &r, &nr, &err), &err);
	assert_int_equal(nr, 3);
	check_cut(g, 100, r, nr);
	free(r);
	/* Never more parts than groups, nor than max. */
	tu_ok(eau2_place_cut(g, 2, 1, 5, 0, &r, &nr, &err), &err);
	assert_int_equal(nr, 2);
	check_cut(g, 2, r, nr);
	free(r);
	tu_ok(eau2_place_cut(g, 100, 1, 1, 7, &r, &nr, &err), &err);
	assert_int_equal(nr, 7);
	check_cut(g, 100, r, nr);
	free(r);
	/* Skewed groups: a huge one stays whole, the rest still get parts. */
	g[0] = 1000000;
	tu_ok(eau2_place_cut(g, 100, 0, 4, 0, &r, &nr, &err), &err);
	assert_int_equal(nr, 4);
	check_cut(g, 100, r, nr);
	assert_int_equal(r[0].ngroups, 1);
	free(r);
	/* Nothing to cut. */
	tu_ok(eau2_place_cut(g, 0, 0, 3, 0, &r, &nr, &err), &err);
	assert_int_equal(nr, 0);
	assert_null(r);
}

static void test_assign(void **state)
{
	struct eau2_place_node nodes[3] = {
		{ .id = "a", .free = 1000 }, { .id = "b", .free = 1000 },
		{ .id = "c", .free = 1000 },
	};
	uint64_t bytes[6] = { 100, 100, 100, 100, 100, 100 };
	struct eau2_error err = {0};
	uint32_t out[12];

	(void)state;
	tu_ok(eau2_place_assign(nodes, 3, bytes, 6, 2, out, &err), &err);
	for (size_t i = 0; i < 6; i++)
		assert_int_not_equal(out[i * 2], out[i * 2 + 1]);
	/* 12 replicas of 100 bytes over 3 nodes: 400 each. */
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(nodes[k].load, 400);

	/* Unequal parts: the largest spread first; no node over its free. */
	{
		struct eau2_place_node n2[3] = {
			{ .id = "a", .free = 500 }, { .id = "b", .free = 10000 },
			{ .id = "c", .free = 10000 },
		};
		uint64_t b2[4] = { 400, 300, 200, 100 };
		uint64_t max = 0, min = UINT64_MAX;

		tu_ok(eau2_place_assign(n2, 3, b2, 4, 1, out, &err), &err);
		assert_true(n2[0].load <= 500);
		for (size_t k = 0; k < 3; k++) {
			max = n2[k].load > max ? n2[k].load : max;
			min = n2[k].load < min ? n2[k].load : min;
		}
		assert_true(max - min <= 400);
		assert_int_equal(n2[0].load + n2[1].load + n2[2].load, 1000);
	}

	/* Too many replicas; no room. */
	memset(nodes, 0, sizeof(nodes));
	nodes[0].free = nodes[1].free = nodes[2].free = 150;
	assert_int_equal(eau2_place_assign(nodes, 3, bytes, 6, 4, out, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "3 live nodes"));
	assert_int_equal(eau2_place_assign(nodes, 3, bytes, 6, 1, out, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "partition"));
}

static void test_repair(void **state)
{
	struct eau2_place_node nodes[4] = {
		{ .id = "a", .free = 1000 }, { .id = "b", .free = 1000 },
		{ .id = "c", .free = 1000 }, { .id = "d", .free = 1000 },
	};
	/* Partitions 0..3 on pairs; node 1 dies, then 1 and 2. */
	uint32_t reps[4 * 2] = { 0, 1, 1, 2, 2, 3, 1, 2 };
	uint32_t nrep[4] = { 2, 2, 2, 2 };
	uint64_t bytes[4] = { 10, 20, 30, 40 };
	unsigned char alive[4] = { 1, 0, 1, 1 };
	struct eau2_place_copy copies[8];
	struct eau2_error err = {0};
	size_t nc, lost[4], nl;

	(void)state;
	tu_ok(eau2_place_repair(nodes, 4, alive, bytes, reps, nrep, 2, 4, 2, copies, &nc,
				lost, &nl, &err), &err);
	assert_int_equal(nl, 0);
	assert_int_equal(nc, 3); /* parts 0, 1 and 3 lost their replica on b */
	for (size_t i = 0; i < nc; i++) {
		size_t p = copies[i].part;

		assert_true(alive[copies[i].from] && alive[copies[i].to]);
		assert_int_not_equal(copies[i].to, 1);
		for (size_t j = 0; j < nrep[p]; j++)
			assert_int_not_equal(copies[i].to, reps[p * 2 + j]);
	}
	alive[2] = 0;
	memset(nodes, 0, sizeof(nodes));
	for (size_t k = 0; k < 4; k++)
		nodes[k].free = 1000;
	tu_ok(eau2_place_repair(nodes, 4, alive, bytes, reps, nrep, 2, 4, 2, copies, &nc,
				lost, &nl, &err), &err);
	/* Part 1 (b, c) and part 3 (b, c) have no replica left. */
	assert_int_equal(nl, 2);
	assert_int_equal(lost[0], 1);
	assert_int_equal(lost[1], 3);
	/* Part 0 (a) and part 2 (d) need one copy each, a<->d. */
	assert_int_equal(nc, 2);
	assert_int_equal(copies[0].to, 3);
	assert_int_equal(copies[1].to, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_assign),
		cmocka_unit_test(test_repair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
