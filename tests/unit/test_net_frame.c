/* SPDX-License-Identifier: MIT */
/*
 * test_net_frame.c - the transport's pure parts (no sockets): frame
 * headers round trip and every rejection; the handshake state machine
 * between two in-memory sides, success and each mismatch with its
 * message; the secret file loader; the address helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "testutil.h"
#include "uring_net/net.h"

static void encode(const struct eau2_net_frame *f, const void *payload, uint8_t *out)
{
	struct eau2_net_frame g = *f;
	struct iovec v = { (void *)(uintptr_t)payload, f->len };

	g.sum = eau2_net_payload_sum(&v, f->len ? 1 : 0);
	eau2_net_frame_encode(&g, out);
	if (f->len)
		memcpy(out + EAU2_NET_HDR_SIZE, payload, f->len);
}

/* Re-seals a header edited in place (its own checksum). */
static void reseal(uint8_t *h)
{
	uint64_t sum = XXH3_64bits(h, 56);

	memcpy(h + 56, &sum, 8);
}

static void expect_bad(const uint8_t *h, size_t n, int code, const char *text)
{
	struct eau2_error err = {0};
	struct eau2_net_frame f;

	assert_int_equal(eau2_net_frame_decode(h, n, &f, &err), code);
	if (!strstr(err.msg, text))
		fail_msg("message '%s' lacks '%s'", err.msg, text);
}

static void test_frame_round_trip(void **state)
{
	uint8_t buf[EAU2_NET_HDR_SIZE + 16];
	struct eau2_net_frame f = { .type = 0x1234, .flags = 0x81, .len = 11, .req = 77,
				    .aux = { 0x0102030405060708ull, ~0ull } }, g;
	struct eau2_error err = {0};

	(void)state;
	encode(&f, "hello world", buf);
	tu_ok(eau2_net_frame_decode(buf, EAU2_NET_HDR_SIZE, &g, &err), &err);
	assert_int_equal(g.type, f.type);
	assert_int_equal(g.flags, f.flags);
	assert_int_equal(g.len, 11);
	assert_true(g.req == 77 && g.aux[0] == f.aux[0] && g.aux[1] == ~0ull);
	tu_ok(eau2_net_frame_check(&g, buf + EAU2_NET_HDR_SIZE, &err), &err);
	/* Little endian on the wire, whatever the host. */
	assert_int_equal(buf[0], 'E');
	assert_int_equal(buf[3], 'N');
	assert_int_equal(buf[6], 0x34);
	assert_int_equal(buf[7], 0x12);
	assert_int_equal(buf[8], 11);
	/* A flipped payload byte. */
	buf[EAU2_NET_HDR_SIZE + 3] ^= 1;
	assert_int_equal(eau2_net_frame_check(&g, buf + EAU2_NET_HDR_SIZE, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "payload checksum mismatch"));
	/* Empty payload. */
	f.len = 0;
	encode(&f, NULL, buf);
	tu_ok(eau2_net_frame_decode(buf, EAU2_NET_HDR_SIZE, &g, &err), &err);
	tu_ok(eau2_net_frame_check(&g, "", &err), &err);
	assert_string_equal(eau2_net_type_name(EAU2_NET_CHUNK_BLOCK), "CHUNK_BLOCK");
	assert_string_equal(eau2_net_type_name(0x100), "user");
	assert_string_equal(eau2_net_type_name(99), "unknown");
}

static void test_frame_rejections(void **state)
{
	uint8_t good[EAU2_NET_HDR_SIZE], h[EAU2_NET_HDR_SIZE];
	struct eau2_net_frame f = { .type = EAU2_NET_TYPE_USER, .len = 0 };

	(void)state;
	encode(&f, NULL, good);
	expect_bad(good, EAU2_NET_HDR_SIZE - 1, -EBADMSG, "frame header of 63 bytes");
	memcpy(h, good, sizeof(h));
	h[0] = 'X';
	reseal(h);
	expect_bad(h, sizeof(h), -EBADMSG, "bad magic");
	memcpy(h, good, sizeof(h));
	h[4] = 2;
	reseal(h);
	expect_bad(h, sizeof(h), -EBADMSG, "frame version 2 != ours 1");
	memcpy(h, good, sizeof(h));
	h[20] ^= 4; /* the request id, not resealed */
	expect_bad(h, sizeof(h), -EBADMSG, "header checksum mismatch");
	memcpy(h, good, sizeof(h));
	h[12] = 1;
	reseal(h);
	expect_bad(h, sizeof(h), -EBADMSG, "reserved");
	memcpy(h, good, sizeof(h));
	h[50] = 1;
	reseal(h);
	expect_bad(h, sizeof(h), -EBADMSG, "reserved");

	/* Lengths: control frames up to 1 MiB, blocks up to 4 MiB. */
	f.len = EAU2_NET_CONTROL_MAX;
	eau2_net_frame_encode(&f, h);
	assert_int_equal(eau2_net_frame_decode(h, sizeof(h), &f, NULL), 0);
	f.len = EAU2_NET_CONTROL_MAX + 1;
	eau2_net_frame_encode(&f, h);
	expect_bad(h, sizeof(h), -EMSGSIZE, "user frame of 1048577 bytes, over the 1048576");
	f = (struct eau2_net_frame){ .type = EAU2_NET_CHUNK_BLOCK, .len = EAU2_NET_BLOCK_MAX };
	eau2_net_frame_encode(&f, h);
	assert_int_equal(eau2_net_frame_decode(h, sizeof(h), &f, NULL), 0);
	f.len = EAU2_NET_BLOCK_MAX + 1;
	eau2_net_frame_encode(&f, h);
	expect_bad(h, sizeof(h), -EMSGSIZE, "CHUNK_BLOCK frame of 4194305 bytes");
	f = (struct eau2_net_frame){ .type = 0xff };
	eau2_net_frame_encode(&f, h);
	expect_bad(h, sizeof(h), -EBADMSG, "unknown transport frame type 255");
	f = (struct eau2_net_frame){ .type = EAU2_NET_PING, .flags = 1 };
	eau2_net_frame_encode(&f, h);
	expect_bad(h, sizeof(h), -EBADMSG, "PING frame with flags 0x01");
}

/* ------------------------------------------------------------ handshake */

struct side {
	struct eau2_net_ident id;
	struct eau2_net_hs hs;
	int rc;
	struct eau2_error err;
};

/* Delivers one frame (n bytes) to side `to`; returns its verdict. */
static int deliver(const uint8_t *bytes, size_t n, struct side *to)
{
	struct eau2_net_frame f;

	tu_ok(eau2_net_frame_decode(bytes, n, &f, &to->err), &to->err);
	tu_ok(eau2_net_frame_check(&f, bytes + EAU2_NET_HDR_SIZE, &to->err), &to->err);
	assert_int_equal(EAU2_NET_HDR_SIZE + f.len, n);
	to->rc = eau2_net_hs_step(&to->hs, &f, bytes + EAU2_NET_HDR_SIZE, &to->err);
	return to->rc;
}

/* Runs both sides as over a socket: each sends its HELLO, then in each
 * round both sides' outputs cross, until neither has more to say. */
static void run_hs(struct side *a, struct side *b)
{
	eau2_net_hs_init(&a->hs, &a->id, NULL);
	eau2_net_hs_init(&b->hs, &b->id, NULL);
	a->rc = b->rc = 0;
	for (int round = 0; round < 5; round++) {
		uint8_t ao[EAU2_NET_HS_OUT_MAX], bo[EAU2_NET_HS_OUT_MAX];
		size_t an = a->hs.out_len, bn = b->hs.out_len;

		memcpy(ao, a->hs.out, an);
		memcpy(bo, b->hs.out, bn);
		a->hs.out_len = b->hs.out_len = 0;
		if (bn && a->rc == 0)
			deliver(bo, bn, a);
		if (an && b->rc == 0)
			deliver(ao, an, b);
	}
}

static struct side mk(const char *cluster, const char *node, const char *secret)
{
	struct side s = { .id = { .cluster = cluster, .node_id = node,
				  .role = EAU2_NET_ROLE_NODE } };

	if (secret) {
		s.id.has_secret = true;
		eau2_net_secret_derive(secret, strlen(secret), s.id.secret);
	}
	return s;
}

static void test_handshake(void **state)
{
	struct side a, b;

	(void)state;
	/* Both with the same secret, then both without. */
	a = mk("c1", "a", "s3cret");
	b = mk("c1", "b", "s3cret");
	run_hs(&a, &b);
	assert_int_equal(a.rc, 1);
	assert_int_equal(b.rc, 1);
	assert_string_equal(a.hs.peer_node, "b");
	assert_string_equal(b.hs.peer_node, "a");
	assert_int_equal(a.hs.peer_role, EAU2_NET_ROLE_NODE);
	a = mk("c1", "a", NULL);
	b = mk("c1", "b", NULL);
	run_hs(&a, &b);
	assert_int_equal(a.rc, 1);
	assert_int_equal(b.rc, 1);

	/* Secret mismatch: each side finds it, neither learns the other's. */
	a = mk("c1", "a", "one");
	b = mk("c1", "b", "two");
	run_hs(&a, &b);
	assert_int_equal(a.rc, -EACCES);
	assert_int_equal(b.rc, -EACCES);
	assert_string_equal(a.err.msg, "secret mismatch");

	/* Cluster names. */
	a = mk("x", "a", NULL);
	b = mk("y", "b", NULL);
	run_hs(&a, &b);
	assert_int_equal(a.rc, -EACCES);
	assert_string_equal(a.err.msg, "cluster 'y' != ours 'x'");
	assert_string_equal(b.err.msg, "cluster 'x' != ours 'y'");
	assert_string_equal(a.hs.peer_node, "b");

	/* Versions: a peer of version 1 (raw blocks with a payload sum). */
	a = mk("c1", "a", NULL);
	b = mk("c1", "b", NULL);
	b.id.proto_version = 1;
	run_hs(&a, &b);
	assert_int_equal(a.rc, -EPROTO);
	assert_string_equal(a.err.msg, "protocol version 1 != ours 2");
	assert_string_equal(b.err.msg, "protocol version 2 != ours 1");

	/* A secret on one side only. */
	a = mk("c1", "a", "s");
	b = mk("c1", "b", NULL);
	run_hs(&a, &b);
	assert_int_equal(a.rc, -EACCES);
	assert_int_equal(b.rc, -EACCES);
	assert_non_null(strstr(a.err.msg, "configured here, the peer has none"));
	assert_non_null(strstr(b.err.msg, "the peer has a cluster secret, none is configured"));
}

/* What a refusing side sends (ERROR) becomes the other side's message;
 * a replayed or reflected proof fails. */
static void test_handshake_frames(void **state)
{
	struct side a = mk("c1", "a", "k"), b = mk("c1", "b", "k"), c;
	uint8_t nonce[32] = {1};
	struct eau2_net_frame f;
	uint8_t buf[EAU2_NET_HS_OUT_MAX];

	(void)state;
	/* An ERROR frame instead of a HELLO. */
	eau2_net_hs_init(&a.hs, &a.id, NULL);
	f = (struct eau2_net_frame){ .type = EAU2_NET_ERROR, .len = 14, .aux = { EBUSY, 0 } };
	assert_int_equal(eau2_net_hs_step(&a.hs, &f, "busy (3 conns)", &a.err), -EBUSY);
	assert_string_equal(a.err.msg, "refused by the peer: busy (3 conns)");

	/* A frame of another type than expected. */
	eau2_net_hs_init(&a.hs, &a.id, NULL);
	f = (struct eau2_net_frame){ .type = EAU2_NET_READY };
	assert_int_equal(eau2_net_hs_step(&a.hs, &f, "", &a.err), -EPROTO);
	assert_non_null(strstr(a.err.msg, "unexpected READY frame"));
	assert_true(a.hs.out_len > EAU2_NET_HDR_SIZE); /* the ERROR that tells b */

	/* b's AUTH reflected back to b: its proof covers its own HELLO first. */
	eau2_net_hs_init(&a.hs, &a.id, nonce);
	eau2_net_hs_init(&b.hs, &b.id, NULL);
	memcpy(buf, a.hs.out, a.hs.out_len);
	eau2_net_frame_decode(buf, sizeof(buf), &f, NULL);
	assert_int_equal(eau2_net_hs_step(&b.hs, &f, buf + EAU2_NET_HDR_SIZE, &b.err), 0);
	memcpy(buf, b.hs.out, b.hs.out_len); /* b's AUTH */
	eau2_net_frame_decode(buf, sizeof(buf), &f, NULL);
	assert_int_equal(f.type, EAU2_NET_AUTH);
	assert_int_equal(eau2_net_hs_step(&b.hs, &f, buf + EAU2_NET_HDR_SIZE, &b.err), -EACCES);
	assert_string_equal(b.err.msg, "secret mismatch");

	/* Malformed HELLOs: names with a quote, lengths that disagree. */
	c = mk("c1", "c", NULL);
	eau2_net_hs_init(&c.hs, &c.id, NULL);
	{
		struct side a2 = mk("c1", "a", NULL);

		eau2_net_hs_init(&a2.hs, &a2.id, NULL);
		memcpy(buf, a2.hs.out, a2.hs.out_len);
		eau2_net_frame_decode(buf, sizeof(buf), &f, NULL);
		buf[EAU2_NET_HDR_SIZE + 40] = '\'';
		assert_int_equal(eau2_net_hs_step(&c.hs, &f, buf + EAU2_NET_HDR_SIZE, &c.err),
				 -EPROTO);
		assert_non_null(strstr(c.err.msg, "malformed HELLO"));
	}
	/* Identities are checked before use. */
	c.id.node_id = "has space";
	assert_int_equal(eau2_net_ident_check(&c.id, &c.err), -EINVAL);
	assert_non_null(strstr(c.err.msg, "node id 'has space'"));
	c.id.node_id = "n";
	c.id.role = 9;
	assert_int_equal(eau2_net_ident_check(&c.id, &c.err), -EINVAL);
}

/* ---------------------------------------------------------------- secret */

static void test_secret_file(void **state)
{
	char *dir = tu_tmpdir("net-secret");
	char path[4200];
	uint8_t k1[32], k2[32], k3[32];
	struct eau2_error err = {0};
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/s", dir);
	f = fopen(path, "w");
	fputs("correct horse\n", f);
	fclose(f);
	chmod(path, 0644);
	assert_int_equal(eau2_net_secret_load(path, k1, &err), -EPERM);
	assert_non_null(strstr(err.msg, "mode 0644"));
	assert_non_null(strstr(err.msg, "chmod 600"));
	chmod(path, 0600);
	tu_ok(eau2_net_secret_load(path, k1, &err), &err);
	eau2_net_secret_derive("correct horse", 13, k2);
	assert_memory_equal(k1, k2, 32);
	/* CRLF is stripped the same way; other bytes count. */
	f = fopen(path, "w");
	fputs("correct horse\r\n", f);
	fclose(f);
	tu_ok(eau2_net_secret_load(path, k3, &err), &err);
	assert_memory_equal(k1, k3, 32);
	f = fopen(path, "w");
	fputs("correct horse \n", f);
	fclose(f);
	tu_ok(eau2_net_secret_load(path, k3, &err), &err);
	assert_memory_not_equal(k1, k3, 32);
	/* Empty, too large, missing. */
	f = fopen(path, "w");
	fputs("\n", f);
	fclose(f);
	assert_int_equal(eau2_net_secret_load(path, k3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	f = fopen(path, "w");
	for (int i = 0; i < 5000; i++)
		fputc('x', f);
	fclose(f);
	assert_int_equal(eau2_net_secret_load(path, k3, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "larger than 4096"));
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(eau2_net_secret_load(path, k3, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing"));
	tu_rmdir(dir);
}

/* ------------------------------------------------------------- addresses */

static void test_addresses(void **state)
{
	char host[64];
	uint16_t port;
	struct eau2_error err = {0};
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	(void)state;
	tu_ok(eau2_net_split_hostport("127.0.0.1:7400", host, sizeof(host), &port, &err), &err);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7400);
	tu_ok(eau2_net_split_hostport("[::1]:0", host, sizeof(host), &port, &err), &err);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	tu_ok(eau2_net_split_hostport("node-b:65535", host, sizeof(host), &port, &err), &err);
	assert_string_equal(host, "node-b");
	assert_int_equal(eau2_net_split_hostport("::1:80", host, sizeof(host), &port, &err),
			 -EINVAL);
	assert_int_equal(eau2_net_split_hostport("h:65536", host, sizeof(host), &port, &err),
			 -EINVAL);
	assert_int_equal(eau2_net_split_hostport("h:-1", host, sizeof(host), &port, &err),
			 -EINVAL);
	assert_int_equal(eau2_net_split_hostport(":80", host, sizeof(host), &port, &err),
			 -EINVAL);
	assert_int_equal(eau2_net_split_hostport("h", host, sizeof(host), &port, &err), -EINVAL);
	assert_int_equal(eau2_net_split_hostport("a[]b:80", host, sizeof(host), &port, &err),
			 -EINVAL); /* found by fuzz_net_frame */
	assert_int_equal(eau2_net_split_hostport("a b:80", host, sizeof(host), &port, &err),
			 -EINVAL);
	assert_int_equal(eau2_net_split_hostport("[::1]80", host, sizeof(host), &port, &err),
			 -EINVAL);

	inet_pton(AF_INET, "127.1.2.3", &in.sin_addr);
	assert_true(eau2_net_addr_is_loopback((struct sockaddr *)&in));
	inet_pton(AF_INET, "10.0.0.1", &in.sin_addr);
	assert_false(eau2_net_addr_is_loopback((struct sockaddr *)&in));
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	assert_true(eau2_net_addr_is_loopback((struct sockaddr *)&in6));
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	assert_true(eau2_net_addr_is_loopback((struct sockaddr *)&in6));
	inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr);
	assert_false(eau2_net_addr_is_loopback((struct sockaddr *)&in6));
	in6.sin6_port = htons(80);
	eau2_net_addr_str((struct sockaddr *)&in6, host, sizeof(host));
	assert_string_equal(host, "[fe80::1]:80");
	assert_int_equal(eau2_net_host_is_loopback("127.0.0.1", &err), 1);
	assert_int_equal(eau2_net_host_is_loopback("::1", &err), 1);
	assert_int_equal(eau2_net_host_is_loopback("0.0.0.0", &err), 0);
	assert_int_equal(eau2_net_host_is_loopback("::", &err), 0);
	assert_int_equal(eau2_net_host_is_loopback("localhost", &err), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_frame_rejections),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_handshake_frames),
		cmocka_unit_test(test_secret_file),
		cmocka_unit_test(test_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
