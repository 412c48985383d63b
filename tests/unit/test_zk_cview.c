/* SPDX-License-Identifier: MIT */
/*
 * test_zk_cview.c - eau2-node's view of its cluster (tools/eau2-node/
 * http/cview.h) on a real ZooKeeper, with a probe of the test's own in
 * place of the HTTP one (the swap a driver-side health service makes):
 * members listed with what their znodes say and what the probe answers;
 * one that stops answering shows suspect after its first unanswered
 * probe, dead within EAU2_CVIEW_DEAD_MS and a probe round, and alive
 * again when it answers; one whose znode goes shows
 * dead ("its znode is gone") and stays listed; this node is never probed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/members.h"
#include "eau2-node/http/cview.h"
#include "testutil.h"
#include "zkutil.h"

struct fake {
	atomic_bool answer_b, answer_c;
	atomic_int self_probed;
};

static void fake_probe(void *ctx, struct eau2_cview_node *n, bool *ok, size_t k, int timeout_ms)
{
	struct fake *f = ctx;

	assert_int_equal(timeout_ms, EAU2_CVIEW_PROBE_TIMEOUT_MS);
	for (size_t i = 0; i < k; i++) {
		if (!strcmp(n[i].id, "a"))
			atomic_fetch_add(&f->self_probed, 1);
		ok[i] = (!strcmp(n[i].id, "b") && atomic_load(&f->answer_b)) ||
			(!strcmp(n[i].id, "c") && atomic_load(&f->answer_c));
		if (ok[i]) {
			n[i].have_info = true;
			n[i].load1 = 0.5;
			n[i].store_used = 42;
			n[i].cpu_busy = -1;
		}
	}
}

static const struct eau2_cview_node *find(const struct eau2_cview_state *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->node[i].id, id))
			return &s->node[i];
	return NULL;
}

/* Waits (at most ms) until id is in state (alive, suspect, dead); the
 * time it took. */
static long long wait_state(struct eau2_cview *cv, struct eau2_cview_state *s, const char *id,
			    const char *state, int ms)
{
	long long t0 = zkc_now_ms();

	for (;;) {
		const struct eau2_cview_node *n;

		eau2_cview_get(cv, s);
		n = find(s, id);
		if (s->started && n && !strcmp(eau2_cview_state_name(n), state))
			return zkc_now_ms() - t0;
		if (zkc_now_ms() - t0 > ms)
			fail_msg("node %s not %s after %d ms", id, state, ms);
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
}

static eau2_member_reg *join(eau2_zk *zk, const char *id, const char *addr, const char *http)
{
	struct eau2_member_options o = { .addr = addr, .id = id, .http = http, .cores = 2,
					 .memory = 1 << 30, .free = 1000 };
	struct eau2_error err = {0};
	eau2_member_reg *r = NULL;

	tu_ok(eau2_member_register(zk, &o, &r, &err), &err);
	return r;
}

static void test_view(void **state)
{
	eau2_zk *za = zku_connect("cv", 0), *zb = zku_connect("cv", 0);
	struct eau2_cview_state *s = malloc(sizeof(*s));
	struct eau2_cview *cv = NULL;
	struct eau2_error err = {0};
	struct fake f;
	eau2_member_reg *ra, *rb, *rc;
	const struct eau2_cview_node *n;
	long long ms;

	(void)state;
	assert_non_null(s);
	atomic_init(&f.answer_b, true);
	atomic_init(&f.answer_c, true);
	atomic_init(&f.self_probed, 0);
	ra = join(za, "a", "127.0.0.1:7001", "127.0.0.1:8001");
	rb = join(zb, "b", "127.0.0.1:7002", "127.0.0.1:8002");
	rc = join(zb, "c", "127.0.0.1:7003", "127.0.0.1:8003");
	tu_ok(eau2_cview_new(&cv, &err), &err);
	eau2_cview_get(cv, s);
	assert_false(s->started); /* nothing until started */
	tu_ok(eau2_cview_start(cv, za, "a", fake_probe, &f, NULL, &err), &err);

	wait_state(cv, s, "c", "alive", 5000);
	assert_int_equal(s->n, 3);
	assert_string_equal(s->self, "a");
	n = find(s, "a");
	assert_true(n->self && n->up);
	n = find(s, "b");
	assert_string_equal(n->addr, "127.0.0.1:7002");
	assert_string_equal(n->http, "127.0.0.1:8002");
	assert_int_equal(n->cores, 2);
	assert_int_equal(n->free, 1000);
	assert_true(n->have_info && n->load1 == 0.5 && n->store_used == 42);
	assert_true(s->probes_ok > 0);
	assert_int_equal(s->keys, 0);

	/* c stops answering: suspect after a round, dead within the
	 * detection time, then back. */
	atomic_store(&f.answer_c, false);
	ms = wait_state(cv, s, "c", "suspect", 6000);
	assert_true(ms <= 2 * EAU2_CVIEW_PROBE_MS + 500);
	assert_true(find(s, "c")->up);
	assert_string_equal(eau2_cview_state_name(find(s, "b")), "alive");
	ms += wait_state(cv, s, "c", "dead", 6000);
	assert_true(ms <= EAU2_CVIEW_DEAD_MS + 2 * EAU2_CVIEW_PROBE_MS + 500);
	n = find(s, "c");
	assert_non_null(n);
	if (strncmp(n->why, "no answer", 9))
		fail_msg("c dead for '%s'", n->why);
	assert_true(n->in_zk);
	assert_true(s->probes_failed > 0);
	assert_true(find(s, "b")->up);
	atomic_store(&f.answer_c, true);
	wait_state(cv, s, "c", "alive", 5000);

	/* b's znode goes: dead, and remembered. */
	eau2_member_unregister(rb);
	wait_state(cv, s, "b", "dead", 5000);
	n = find(s, "b");
	assert_string_equal(n->why, "its znode is gone");
	assert_false(n->in_zk);
	assert_int_equal(s->n, 3);
	assert_int_equal(atomic_load(&f.self_probed), 0);

	eau2_cview_free(cv);
	eau2_member_unregister(rc);
	eau2_member_unregister(ra);
	eau2_zk_close(zb);
	eau2_zk_close(za);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view),
	};

	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
