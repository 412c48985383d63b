/* SPDX-License-Identifier: MIT */
/*
 * test_zk_members.c - membership (src/cluster/members.c) on a real
 * ZooKeeper: the payload and its checks, registering (ids given and
 * derived, taken ids refused or waited for), the periodic refresh of free
 * bytes, listing with a hostile znode among the members, and join/leave
 * events for closes, kills and comebacks.
 */
#include "testutil.h"
#include "zkutil.h"
#include "cluster/members.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- payload */

static void bad(const char *json, const char *want)
{
	struct eau2_error err = {0};
	struct eau2_member m;

	assert_int_equal(eau2_member_decode("/eau2/t/nodes/n1", "n1", json, strlen(json),
					    &m, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "/eau2/t/nodes/n1"));
	if (!strstr(err.msg, want))
		fail_msg("decode of %s: '%s' lacks '%s'", json, err.msg, want);
}

static void test_payload(void **state)
{
	struct eau2_member m = {
		.id = "n1", .addr = "host-1.lan:7400", .cores = 8,
		.memory = 1ull << 34, .free = 123456789, .protocol = 1,
		.started_ms = 1733300000123,
	}, d;
	struct eau2_error err = {0};
	char buf[EAU2_MEMBER_JSON_MAX], small[16];
	size_t len;

	(void)state;
	tu_ok(eau2_member_encode(&m, buf, sizeof(buf), &len, &err), &err);
	tu_ok(eau2_member_decode("/eau2/t/nodes/n1", "n1", buf, len, &d, &err), &err);
	assert_string_equal(d.id, "n1");
	assert_string_equal(d.addr, m.addr);
	assert_int_equal(d.cores, 8);
	assert_int_equal(d.memory, m.memory);
	assert_int_equal(d.free, m.free);
	assert_int_equal(d.protocol, 1);
	assert_int_equal(d.started_ms, m.started_ms);
	assert_int_equal(eau2_member_encode(&m, small, sizeof(small), &len, &err), -EMSGSIZE);
	assert_string_equal(d.http, ""); /* none: not in the payload */
	assert_null(strstr(buf, "http"));
	/* The dashboard's address, when the node serves one. */
	strcpy(m.http, "host-1.lan:8080");
	tu_ok(eau2_member_encode(&m, buf, sizeof(buf), &len, &err), &err);
	tu_ok(eau2_member_decode("/eau2/t/nodes/n1", "n1", buf, len, &d, &err), &err);
	assert_string_equal(d.http, "host-1.lan:8080");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":1,\"free\":1,\"protocol\":1,"
	    "\"started\":0,\"http\":\"nohost\"}", "\"http\" is not HOST:PORT");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":1,\"free\":1,\"protocol\":1,"
	    "\"started\":0,\"http\":3}", "\"http\" is not HOST:PORT");

	/* Unknown keys are ignored (a later format may add some). */
	{
		const char *j = "{\"v\":1,\"addr\":\"[::1]:1\",\"cores\":1,\"memory\":0,"
				"\"free\":0,\"protocol\":1,\"started\":0,\"zone\":\"x\"}";

		tu_ok(eau2_member_decode("/p", "n1", j, strlen(j), &d, &err), &err);
	}
	assert_string_equal(d.addr, "[::1]:1");

	bad("", "not JSON");
	bad("{\"v\":1", "not JSON");
	bad("[1,2]", "not a JSON object");
	bad("{}", "no \"v\"");
	bad("{\"v\":2}", "format 2");
	bad("{\"v\":\"1\"}", "not an integer");
	bad("{\"v\":1,\"v\":1}", "duplicate");
	bad("{\"v\":1}", "\"addr\" is missing");
	bad("{\"v\":1,\"addr\":7}", "not a string");
	bad("{\"v\":1,\"addr\":\"nohost\"}", "not HOST:PORT");
	bad("{\"v\":1,\"addr\":\"h:0\"}", "not HOST:PORT");
	bad("{\"v\":1,\"addr\":\"h:1\\u0000x\"}", "not JSON");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":0}", "\"cores\" is 0");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1.5}", "not an integer");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":-1}", "\"memory\" is -1");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":99999999999999999999}", "not JSON");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":1,\"free\":1,\"protocol\":70000}",
	    "\"protocol\" is 70000");
	bad("{\"v\":1,\"addr\":\"h:1\",\"cores\":1,\"memory\":1,\"free\":1,\"protocol\":1}",
	    "no \"started\"");
	assert_int_equal(eau2_member_decode("/p", "a/b", "{}", 2, &d, &err), -EBADMSG);

	tu_ok(eau2_member_check_addr("10.0.0.1:7400", &err), &err);
	tu_ok(eau2_member_check_addr("[fe80::1]:7400", &err), &err);
	assert_int_equal(eau2_member_check_addr("host", &err), -EINVAL);
	assert_int_equal(eau2_member_check_addr(":80", &err), -EINVAL);
	assert_int_equal(eau2_member_check_addr("h:65536", &err), -EINVAL);
	assert_int_equal(eau2_member_check_addr("h:80x", &err), -EINVAL);
	assert_int_equal(eau2_member_check_addr("h st:80", &err), -EINVAL);
	assert_int_equal(eau2_member_check_addr("[zz]:80", &err), -EINVAL);
}

/* ------------------------------------------------------ register, list */

static uint64_t free_bytes;
static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t get_free(void *arg)
{
	uint64_t f;

	(void)arg;
	pthread_mutex_lock(&free_mu);
	f = free_bytes;
	pthread_mutex_unlock(&free_mu);
	return f;
}

static void test_register(void **state)
{
	eau2_zk *a = zku_connect("t-reg", 0), *b = zku_connect("t-reg", 0);
	struct eau2_member_options o = {
		.addr = "127.0.0.1:7001", .id = "n1", .cores = 4, .memory = 1 << 30,
		.free_fn = get_free, .refresh_ms = 50,
	};
	struct eau2_error err = {0};
	eau2_member_reg *r1 = NULL, *r2 = NULL, *r3 = NULL, *none = NULL;
	struct eau2_members ms;
	struct eau2_zk_stat st;
	char host[256], want[300];

	(void)state;
	free_bytes = 1000;
	tu_ok(eau2_member_register(a, &o, &r1, &err), &err);
	assert_string_equal(eau2_member_id(r1), "n1");
	tu_ok(eau2_members_list(b, &ms, &err), &err);
	assert_int_equal(ms.n, 1);
	assert_string_equal(ms.v[0].id, "n1");
	assert_string_equal(ms.v[0].addr, "127.0.0.1:7001");
	assert_int_equal(ms.v[0].cores, 4);
	assert_int_equal(ms.v[0].memory, 1 << 30);
	assert_int_equal(ms.v[0].free, 1000);
	assert_int_equal(ms.v[0].protocol, EAU2_MEMBER_PROTOCOL);
	assert_int_equal(ms.v[0].session, eau2_zk_session_id(a, NULL));
	assert_true(ms.v[0].started_ms > 1600000000000ll);
	eau2_members_free(&ms);

	/* The refresh publishes a change of free bytes. */
	tu_ok(eau2_zk_exists(b, "nodes/n1", &st, NULL, &err), &err);
	pthread_mutex_lock(&free_mu);
	free_bytes = 777;
	pthread_mutex_unlock(&free_mu);
	tu_ok(eau2_zk_wait_change(b, "nodes/n1", &st, 10000, NULL, &err), &err);
	tu_ok(eau2_members_list(b, &ms, &err), &err);
	assert_int_equal(ms.v[0].free, 777);
	eau2_members_free(&ms);
	/* The refresh thread republishes what the callback says: agree. */
	pthread_mutex_lock(&free_mu);
	free_bytes = 555;
	pthread_mutex_unlock(&free_mu);
	tu_ok(eau2_member_update(r1, 555, &err), &err);
	tu_ok(eau2_members_list(b, &ms, &err), &err);
	assert_int_equal(ms.v[0].free, 555);
	eau2_members_free(&ms);

	/* A live node's id is refused, with who holds it. */
	o.addr = "127.0.0.1:7002";
	o.free_fn = NULL;
	assert_int_equal(eau2_member_register(b, &o, &r2, &err), -EEXIST);
	assert_null(r2);
	assert_non_null(strstr(err.msg, "'n1' is taken"));
	assert_non_null(strstr(err.msg, "127.0.0.1:7001"));
	/* Also when it waits a little: it does not go away. */
	o.join_wait_ms = 300;
	assert_int_equal(eau2_member_register(b, &o, &r2, &err), -EEXIST);

	/* An id derived from the address; a wildcard host becomes ours. */
	o.id = NULL;
	o.join_wait_ms = 0;
	o.addr = "0.0.0.0:7003";
	tu_ok(eau2_member_register(b, &o, &r2, &err), &err);
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	snprintf(want, sizeof(want), "%s:7003", host);
	assert_string_equal(eau2_member_id(r2), want);
	o.addr = "127.0.0.1:7004";
	tu_ok(eau2_member_register(b, &o, &r3, &err), &err);
	assert_string_equal(eau2_member_id(r3), "127.0.0.1:7004");

	/* Bad options. */
	o.addr = "nope";
	assert_int_equal(eau2_member_register(b, &o, &none, &err), -EINVAL);
	assert_null(none);
	o.addr = "127.0.0.1:7005";
	o.id = "a/b";
	assert_int_equal(eau2_member_register(b, &o, &none, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "node id"));

	/* A hostile znode among the members is skipped and reported. */
	tu_ok(eau2_zk_create(a, "nodes/evil", "{\"v\":1,\"addr\":\"x\"}", 18,
			     EAU2_ZK_EPHEMERAL, NULL, 0, &err), &err);
	tu_ok(eau2_members_list(b, &ms, &err), &err);
	assert_int_equal(ms.n, 3);
	assert_int_equal(ms.bad, 1);
	assert_non_null(strstr(ms.bad_msg, "/eau2/t-reg/nodes/evil"));
	eau2_members_free(&ms);

	eau2_member_unregister(r1);
	eau2_member_unregister(r3);
	tu_ok(eau2_members_list(a, &ms, &err), &err);
	assert_int_equal(ms.n, 1);
	assert_string_equal(ms.v[0].id, want);
	eau2_members_free(&ms);
	eau2_member_unregister(r2);
	eau2_zk_close(a);
	eau2_zk_close(b);
}

/* -------------------------------------------------------------- events */

struct rec {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t n, seen;
	struct {
		enum eau2_member_event ev;
		struct eau2_member m;
	} v[64];
};

static void on_event(void *arg, enum eau2_member_event ev, const struct eau2_member *m)
{
	struct rec *r = arg;

	pthread_mutex_lock(&r->mu);
	if (r->n < 64) {
		r->v[r->n].ev = ev;
		r->v[r->n].m = *m;
		r->n++;
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* The next event must be (ev, id) within timeout_ms; returns it. */
static struct eau2_member next_event(struct rec *r, enum eau2_member_event ev,
				     const char *id, int timeout_ms)
{
	long long end = zkc_now_ms() + timeout_ms;
	struct eau2_member m;

	pthread_mutex_lock(&r->mu);
	while (r->seen == r->n) {
		struct timespec ts;

		if (zkc_now_ms() > end) {
			pthread_mutex_unlock(&r->mu);
			fail_msg("no %s event for %s within %d ms",
				 ev == EAU2_MEMBER_JOINED ? "join" : "leave", id, timeout_ms);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	}
	m = r->v[r->seen].m;
	if (r->v[r->seen].ev != ev || strcmp(m.id, id)) {
		int got = r->v[r->seen].ev;

		pthread_mutex_unlock(&r->mu);
		fail_msg("event %zu: %s %s, expected %s %s", r->seen,
			 got == EAU2_MEMBER_JOINED ? "join" : "leave", m.id,
			 ev == EAU2_MEMBER_JOINED ? "join" : "leave", id);
	}
	r->seen++;
	pthread_mutex_unlock(&r->mu);
	return m;
}

static void no_more_events(struct rec *r, int ms)
{
	usleep((useconds_t)ms * 1000);
	pthread_mutex_lock(&r->mu);
	if (r->seen != r->n) {
		size_t i = r->seen;

		pthread_mutex_unlock(&r->mu);
		fail_msg("unexpected event %zu for %s", i, r->v[i].m.id);
	}
	pthread_mutex_unlock(&r->mu);
}

static void test_events(void **state)
{
	struct rec r = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	eau2_zk *w = zku_connect("t-ev", 0), *a = zku_connect("t-ev", 0), *b;
	struct eau2_member_options o = { .addr = "127.0.0.1:7100", .id = "a" };
	struct eau2_error err = {0};
	eau2_member_reg *ra = NULL, *rb = NULL, *rd = NULL;
	eau2_member_watch *watch = NULL;
	struct eau2_member m, m2;
	struct zkc c;
	long long t0;

	(void)state;
	tu_ok(eau2_member_register(a, &o, &ra, &err), &err);
	tu_ok(eau2_members_watch(w, on_event, &r, &watch, &err), &err);
	/* Present at the start: reported as joined. */
	m = next_event(&r, EAU2_MEMBER_JOINED, "a", 10000);
	assert_string_equal(m.addr, "127.0.0.1:7100");

	o.id = "b";
	o.addr = "127.0.0.1:7101";
	tu_ok(eau2_member_register(a, &o, &rb, &err), &err);
	m = next_event(&r, EAU2_MEMBER_JOINED, "b", 10000);
	assert_string_equal(m.addr, "127.0.0.1:7101");
	eau2_member_unregister(rb);
	m = next_event(&r, EAU2_MEMBER_LEFT, "b", 10000);
	assert_string_equal(m.addr, "127.0.0.1:7101");

	/* A node process killed: it leaves when its session (1 s) ends. */
	zkc_spawn(&c, (const char *const[]){ "member", zku->connect, "t-ev", "c",
					     "127.0.0.1:7102", "1000", NULL });
	zkc_expect(&c, "ready", 15000);
	next_event(&r, EAU2_MEMBER_JOINED, "c", 10000);
	t0 = zkc_now_ms();
	zkc_kill(&c);
	m = next_event(&r, EAU2_MEMBER_LEFT, "c", 10000);
	assert_string_equal(m.addr, "127.0.0.1:7102");
	if (zkc_now_ms() - t0 < 400)
		fail_msg("c left %lld ms after its kill, before its session could end",
			 zkc_now_ms() - t0);

	/* A node that closes and comes straight back under the same id: a
	 * leave and a join, with a new session. */
	b = zku_connect("t-ev", 0);
	o.id = "d";
	o.addr = "127.0.0.1:7103";
	tu_ok(eau2_member_register(b, &o, &rd, &err), &err);
	m = next_event(&r, EAU2_MEMBER_JOINED, "d", 10000);
	eau2_member_unregister(rd);
	eau2_zk_close(b);
	b = zku_connect("t-ev", 0);
	tu_ok(eau2_member_register(b, &o, &rd, &err), &err);
	next_event(&r, EAU2_MEMBER_LEFT, "d", 10000);
	m2 = next_event(&r, EAU2_MEMBER_JOINED, "d", 10000);
	assert_int_not_equal(m.session, m2.session);
	no_more_events(&r, 200);

	/* Unwatch is prompt even though the watch waits up to 60 s. */
	t0 = zkc_now_ms();
	eau2_members_unwatch(watch);
	assert_true(zkc_now_ms() - t0 < 3000);
	eau2_member_unregister(rd);
	eau2_member_unregister(ra);
	eau2_zk_close(b);
	eau2_zk_close(a);
	eau2_zk_close(w);
}

/* A restarted node whose previous run was killed: its old registration
 * lives until that session expires; join_wait_ms waits it out. */
static void test_join_wait(void **state)
{
	eau2_zk *zk = zku_connect("t-jw", 0);
	struct eau2_member_options o = { .addr = "127.0.0.1:7200", .id = "n9" };
	struct eau2_error err = {0};
	eau2_member_reg *reg = NULL;
	struct zkc c;
	long long t0, dt;

	(void)state;
	zkc_spawn(&c, (const char *const[]){ "member", zku->connect, "t-jw", "n9",
					     "127.0.0.1:7200", "1000", NULL });
	zkc_expect(&c, "ready", 15000);
	zkc_kill(&c);
	assert_int_equal(eau2_member_register(zk, &o, &reg, &err), -EEXIST);
	o.join_wait_ms = 10000;
	t0 = zkc_now_ms();
	tu_ok(eau2_member_register(zk, &o, &reg, &err), &err);
	dt = zkc_now_ms() - t0;
	if (dt > 8000)
		fail_msg("the dead node's id came free after %lld ms (session 1000 ms)", dt);
	eau2_member_unregister(reg);
	eau2_zk_close(zk);
}

/* ------------------------------------------------------------ children */

static int child_main(int argc, char **argv)
{
	struct eau2_zk_options zo = {0};
	struct eau2_member_options mo = {0};
	struct eau2_error err = {0};
	eau2_member_reg *reg = NULL;
	eau2_zk *zk = NULL;

	if (argc < 8 || strcmp(argv[2], "member"))
		return 2;
	zo.connect = argv[3];
	zo.cluster = argv[4];
	zo.session_ms = atoi(argv[7]);
	zo.timeout_ms = 10000;
	mo.id = argv[5];
	mo.addr = argv[6];
	if (eau2_zk_connect(&zk, &zo, &err) || eau2_member_register(zk, &mo, &reg, &err)) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	sleep(60); /* until killed; bounded all the same */
	eau2_member_unregister(reg);
	eau2_zk_close(zk);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_register),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_join_wait),
	};

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	return cmocka_run_group_tests(tests, zku_setup1, zku_teardown);
}
