/* SPDX-License-Identifier: MIT */
/*
 * test_cluster_health.c - failure detection (src/cluster/health.c): the
 * state machine alone (alive, suspect after 2 missed heartbeats, dead
 * after the silence bound or when the member znode goes), then the
 * health thread on a real ZooKeeper with a double of the ping operation:
 * heartbeats counted, a silent node suspect then dead, back alive when it
 * answers, a node whose znode goes dead at once and alive when it comes
 * back, the events in order, and a prompt stop.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/health.h"
#include "cluster/members.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_judge(void **state)
{
	(void)state;
	assert_int_equal(eau2_health_judge(true, 0, 0, 5000), EAU2_CLUSTER_ALIVE);
	assert_int_equal(eau2_health_judge(true, 1, 1500, 5000), EAU2_CLUSTER_ALIVE);
	assert_int_equal(eau2_health_judge(true, 2, 2500, 5000), EAU2_CLUSTER_SUSPECT);
	assert_int_equal(eau2_health_judge(true, 4, 4999, 5000), EAU2_CLUSTER_SUSPECT);
	assert_int_equal(eau2_health_judge(true, 5, 5000, 5000), EAU2_CLUSTER_DEAD);
	/* Silence alone kills (a round slowed by other frozen nodes). */
	assert_int_equal(eau2_health_judge(true, 0, 6000, 5000), EAU2_CLUSTER_DEAD);
	/* No znode: dead, whatever the heartbeats say. */
	assert_int_equal(eau2_health_judge(false, 0, 0, 5000), EAU2_CLUSTER_DEAD);
	assert_string_equal(eau2_cluster_state_name(EAU2_CLUSTER_ALIVE), "alive");
	assert_string_equal(eau2_cluster_state_name(EAU2_CLUSTER_SUSPECT), "suspect");
	assert_string_equal(eau2_cluster_state_name(EAU2_CLUSTER_DEAD), "dead");
}

/* ------------------------------------------------------ the thread */

static int silent[2];   /* ping of node i fails (atomic) */
static int pings[2];    /* pings of node i (atomic) */

static int p_ping(void *ctx, const struct eau2_member *node, int timeout_ms,
		  struct eau2_error *err)
{
	int i = node->id[1] - '0';

	(void)ctx;
	__atomic_add_fetch(&pings[i], 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&silent[i], __ATOMIC_SEQ_CST)) {
		usleep((useconds_t)timeout_ms * 1000 / 4);
		return eau2_error_set(err, -ETIMEDOUT, "node %s: no PONG", node->id);
	}
	return 0;
}

static const struct eau2_cluster_node_ops pops = { .ping = p_ping };

struct log {
	pthread_mutex_t mu;
	char s[1024];
};

static void on_event(void *arg, enum eau2_cluster_event ev, const char *id, const char *addr)
{
	struct log *l = arg;
	size_t n;

	assert_non_null(addr);
	pthread_mutex_lock(&l->mu);
	n = strlen(l->s);
	snprintf(l->s + n, sizeof(l->s) - n, "%s %s;", ev == EAU2_CLUSTER_DIED ? "died" : "joined",
		 id);
	pthread_mutex_unlock(&l->mu);
}

static struct eau2_cluster_health_node node(struct eau2_health *h, const char *id)
{
	struct eau2_cluster_health_node *v, out = { .state = -1 };
	struct eau2_error err = {0};
	size_t n;

	tu_ok(eau2_health_snapshot(h, &v, &n, &err), &err);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].id, id))
			out = v[i];
	free(v);
	return out;
}

/* Waits up to ms for node id to reach state s; the time it took. */
static long long reach(struct eau2_health *h, const char *id, enum eau2_cluster_node_state s,
		       int ms)
{
	long long t0 = zkc_now_ms();

	while ((int)node(h, id).state != (int)s) {
		if (zkc_now_ms() - t0 > ms)
			fail_msg("node %s not %s within %d ms", id, eau2_cluster_state_name(s), ms);
		usleep(10000);
	}
	return zkc_now_ms() - t0;
}

static eau2_member_reg *join(eau2_zk *zk, const char *id, int port)
{
	char addr[32];
	struct eau2_error err = {0};
	eau2_member_reg *reg;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	tu_ok(eau2_member_register(zk, &(struct eau2_member_options){
		.addr = addr, .id = id, .free = 1u << 20 }, &reg, &err), &err);
	return reg;
}

static void test_thread(void **state)
{
	struct log l = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct eau2_error err = {0};
	eau2_zk *zk = zku_connect("health1", 0), *nzk = zku_connect("health1", 0);
	eau2_member_reg *r0 = join(nzk, "n0", 7500), *r1 = join(nzk, "n1", 7501);
	struct eau2_health *h;
	uint64_t deaths = 99;
	long long t0, took;

	(void)state;
	assert_int_equal(eau2_health_start(&(struct eau2_health_opts){
		.zk = zk, .ops = &pops, .heartbeat_ms = 0, .dead_after_ms = 100 }, &h, &err),
		-EINVAL);
	tu_ok(eau2_health_start(&(struct eau2_health_opts){
		.zk = zk, .ops = &pops, .heartbeat_ms = 100, .dead_after_ms = 1000 }, &h, &err),
		&err);
	eau2_health_on_event(h, on_event, &l);
	tu_ok(eau2_health_wait_round(h, 3000, &err), &err);
	assert_int_equal(eau2_health_state(h, "n0", &deaths), EAU2_CLUSTER_ALIVE);
	assert_int_equal(deaths, 0);
	assert_int_equal(eau2_health_state(h, "nobody", NULL), EAU2_CLUSTER_ALIVE);
	usleep(350000);
	assert_true(node(h, "n0").beats >= 2);
	assert_true(node(h, "n0").heard_ago_ms < 300);
	assert_true(node(h, "n1").member);

	/* Silent: suspect after 2 beats, dead after the bound, not before. */
	t0 = zkc_now_ms();
	__atomic_store_n(&silent[1], 1, __ATOMIC_SEQ_CST);
	reach(h, "n1", EAU2_CLUSTER_SUSPECT, 1000);
	took = zkc_now_ms() - t0 + reach(h, "n1", EAU2_CLUSTER_DEAD, 3000);
	if (took < 900 || took > 2000)
		fail_msg("a silent node declared dead after %lld ms (bound 1000)", took);
	assert_true(node(h, "n1").missed >= 2);
	assert_int_equal(node(h, "n0").state, EAU2_CLUSTER_ALIVE);
	/* It answers again. */
	__atomic_store_n(&silent[1], 0, __ATOMIC_SEQ_CST);
	reach(h, "n1", EAU2_CLUSTER_ALIVE, 1000);
	assert_int_equal(node(h, "n1").deaths, 1);

	/* Its znode goes: dead within the watch's delay, not the bound. */
	t0 = zkc_now_ms();
	eau2_member_unregister(r0);
	reach(h, "n0", EAU2_CLUSTER_DEAD, 900);
	assert_false(node(h, "n0").member);
	r0 = join(nzk, "n0", 7502);
	reach(h, "n0", EAU2_CLUSTER_ALIVE, 2000);
	assert_string_equal(node(h, "n0").addr, "127.0.0.1:7502");
	usleep(250000);
	pthread_mutex_lock(&l.mu);
	/* Joins of the first look, then the transitions in order. */
	assert_non_null(strstr(l.s, "died n1;joined n1;died n0;joined n0;"));
	pthread_mutex_unlock(&l.mu);

	/* A stop does not wait for a silent node's PINGs to time out. */
	__atomic_store_n(&silent[0], 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&silent[1], 1, __ATOMIC_SEQ_CST);
	usleep(150000);
	t0 = zkc_now_ms();
	eau2_health_stop(h);
	assert_true(zkc_now_ms() - t0 < 1000);
	__atomic_store_n(&silent[0], 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&silent[1], 0, __ATOMIC_SEQ_CST);
	eau2_member_unregister(r0);
	eau2_member_unregister(r1);
	eau2_zk_close(nzk);
	eau2_zk_close(zk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_judge),
		cmocka_unit_test(test_thread),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
