/* SPDX-License-Identifier: MIT */
/*
 * test_net_chunk.c - chunks on the wire: the encoder and decoder alone
 * (every type with nulls, empty and long strings, 0 and 65536 rows, every
 * codec, bit-identical), their rejections (a corrupted block, compressed
 * or raw, a forged checksum, a block out of place, a header past the
 * limit), the AUTO
 * policy's choices, then the same chunks through a loopback server and
 * back with each policy, and with SEND_ZC.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nettest.h"

struct shape {
	enum eau2_type type;
	uint32_t rows;
	int nulls;
	uint64_t long_len;
};

static const struct shape shapes[] = {
	{ EAU2_BOOL, 0, 0, 0 },        { EAU2_BOOL, 65536, 1, 0 },
	{ EAU2_BOOL, 13, 1, 0 },       { EAU2_INT, 0, 0, 0 },
	{ EAU2_INT, 65536, 0, 0 },     { EAU2_INT, 65536, 1, 0 },
	{ EAU2_INT, 1, 0, 0 },         { EAU2_DOUBLE, 65536, 1, 0 },
	{ EAU2_DOUBLE, 777, 0, 0 },    { EAU2_STRING, 0, 0, 0 },
	{ EAU2_STRING, 65536, 1, 0 },  { EAU2_STRING, 100, 0, 9u << 20 },
	{ EAU2_STRING, 3, 1, 0 },
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static const enum eau2_net_policy policies[] = {
	EAU2_NET_FORCE_NONE, EAU2_NET_FORCE_LZ4, EAU2_NET_FORCE_SHUFFLE, EAU2_NET_AUTO,
};

static uint8_t *scratch[2];

static int setup(void **state)
{
	(void)state;
	scratch[0] = aligned_alloc(64, EAU2_NET_SCRATCH_BYTES);
	scratch[1] = aligned_alloc(64, EAU2_NET_SCRATCH_BYTES);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(scratch[0]);
	free(scratch[1]);
	return 0;
}

/* Encodes chunk into one byte stream of frames. */
static uint8_t *encode(const uint8_t *chunk, enum eau2_net_policy p,
		       const struct eau2_net_link *link, struct eau2_net_stats *st,
		       size_t *n)
{
	const struct eau2_chunk_hdr *h = (const void *)chunk;
	size_t cap = h->total_len + 64 * (h->total_len / (1u << 20) + 4) + 256, len = 0;
	uint8_t *out = malloc(cap);
	struct eau2_net_tx tx;
	struct eau2_error err = {0};
	struct iovec iov[2];
	int niov;

	eau2_net_tx_init(&tx, p, st);
	tu_ok(eau2_net_tx_begin(&tx, chunk, 5, 42, scratch[0], scratch[1], &err), &err);
	while (eau2_net_tx_next(&tx, link, out + len, iov, &niov)) {
		len += EAU2_NET_HDR_SIZE;
		for (int i = 0; i < niov; i++) {
			assert_true(len + iov[i].iov_len <= cap);
			memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
		}
	}
	*n = len;
	return out;
}

/* Decodes a stream made by encode; returns the chunk (or NULL and err). */
static uint8_t *decode(const uint8_t *in, size_t n, uint64_t limit, struct eau2_net_stats *st,
		       int *rc, struct eau2_error *err)
{
	struct eau2_net_rx rx;
	struct eau2_net_frame f;
	struct eau2_chunk_hdr h;
	uint8_t *dst = NULL;
	size_t off = 0;
	void *into;

	eau2_net_rx_init(&rx, st);
	*rc = -EPROTO;
	while (off < n) {
		if ((*rc = eau2_net_frame_decode(in + off, n - off, &f, err)))
			break;
		off += EAU2_NET_HDR_SIZE;
		if (f.len > n - off) {
			*rc = eau2_error_set(err, -EBADMSG, "truncated");
			break;
		}
		if (!dst) {
			if ((*rc = eau2_net_frame_check(&f, in + off, err)) ||
			    (*rc = eau2_net_rx_begin(&rx, &f, in + off, limit, &h, err)))
				break;
			dst = aligned_alloc(64, (h.total_len + 63) / 64 * 64);
			*rc = eau2_net_rx_dst(&rx, dst, scratch[0], scratch[1], err);
			if (*rc < 0)
				break;
			if (*rc == 1) {
				*rc = off + f.len == n ? 0 : -E2BIG;
				return dst;
			}
		} else {
			if ((*rc = eau2_net_rx_block(&rx, &f, &into, err)))
				break;
			memcpy(into, in + off, f.len);
			*rc = eau2_net_rx_block_done(&rx, &f, err);
			if (*rc < 0)
				break;
			if (*rc == 1) {
				*rc = off + f.len == n ? 0 : -E2BIG;
				return dst;
			}
		}
		off += f.len;
	}
	if (*rc == 0)
		*rc = eau2_error_set(err, -EBADMSG, "stream ended before the chunk");
	free(dst);
	return NULL;
}

static uint64_t codec_blocks(const struct eau2_net_stats *st, int type, int codec)
{
	return st->sent[type][codec].blocks;
}

static void test_codec_round_trips(void **state)
{
	struct eau2_net_link busy = { .rate = 100e6, .backlog = true };

	(void)state;
	for (size_t s = 0; s < NSHAPES; s++) {
		uint64_t len;
		uint8_t *c = nt_chunk(shapes[s].type, shapes[s].rows, shapes[s].nulls,
				      shapes[s].long_len, s + 1, &len);

		for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
			struct eau2_net_stats st = {0}, rst = {0};
			struct eau2_error err = {0};
			size_t n;
			int rc;
			uint8_t *wire = encode(c, policies[p], &busy, &st, &n);
			uint8_t *back = decode(wire, n, 0, &rst, &rc, &err);

			if (rc)
				fail_msg("shape %zu policy %zu: %s", s, p, err.msg);
			assert_memory_equal(back, c, len);
			assert_int_equal(st.sent[shapes[s].type][0].raw + st.sent[shapes[s].type][1].raw +
					 st.sent[shapes[s].type][2].raw, len - 128);
			assert_memory_equal(&st.sent, &rst.recv, sizeof(st.sent));
			/* Fixed-width values of a full chunk compress with the forced codecs. */
			if (shapes[s].rows == 65536 && shapes[s].type == EAU2_INT) {
				if (policies[p] == EAU2_NET_FORCE_LZ4)
					assert_true(codec_blocks(&st, EAU2_INT, EAU2_NET_LZ4) > 0);
				if (policies[p] == EAU2_NET_FORCE_SHUFFLE)
					assert_true(codec_blocks(&st, EAU2_INT, EAU2_NET_SHUF_LZ4) > 0);
				if (policies[p] == EAU2_NET_FORCE_NONE)
					assert_int_equal(n, len + (2 + (shapes[s].nulls ? 1 : 0)) *
							    EAU2_NET_HDR_SIZE);
			}
			if (shapes[s].long_len)
				assert_true(st.sent[EAU2_STRING][0].blocks +
					    st.sent[EAU2_STRING][1].blocks >= 3);
			free(wire);
			free(back);
		}
		free(c);
	}
}

/* AUTO: raw while we are the bottleneck (the queue is not backed up, or
 * TCP says we do not fill the pipe, or compression is slower than the
 * link); compressed while the link is. */
static void test_auto_policy(void **state)
{
	uint64_t len;
	uint8_t *c = nt_chunk(EAU2_INT, 65536, 0, 0, 9, &len);
	/* 10 MB/s: slower than either codec even under the sanitizers. */
	const struct eau2_net_link idle = { .rate = 10e6, .backlog = false },
				   applim = { .rate = 3e6, .backlog = false, .app_limited = true },
				   slow = { .rate = 10e6, .backlog = true },
				   fast = { .rate = 1e15, .backlog = true };
	struct eau2_net_stats st = {0};
	struct eau2_net_tx tx;
	uint8_t hdr[EAU2_NET_HDR_SIZE];
	struct iovec iov[2];
	int niov;

	(void)state;
	eau2_net_tx_init(&tx, EAU2_NET_AUTO, &st);
	for (int round = 0; round < 5; round++) {
		const struct eau2_net_link *l = round == 0 ? &idle : round <= 2 ? &slow :
						round == 3 ? &applim : &fast;
		uint64_t shuf, lz4;

		memset(&st, 0, sizeof(st));
		eau2_net_tx_begin(&tx, c, 0, 0, scratch[0], scratch[1], NULL);
		while (eau2_net_tx_next(&tx, l, hdr, iov, &niov))
			;
		shuf = codec_blocks(&st, EAU2_INT, EAU2_NET_SHUF_LZ4);
		lz4 = codec_blocks(&st, EAU2_INT, EAU2_NET_LZ4);
		if (round == 0) /* the queue drains: nothing tried */
			assert_true(shuf == 0 && lz4 == 0 && st.compress_ns == 0);
		else if (round == 1) /* backed up at 10 MB/s: shuffle tried first */
			assert_true(shuf == 1 && lz4 == 0);
		else if (round == 2) /* then LZ4 alone */
			assert_true(shuf == 0 && st.compress_ns > 0);
		else if (round == 3) /* compressing made us the bottleneck (app-limited at
				      * 3 MB/s): the link is still 10 MB/s, shuffle wins */
			assert_true(shuf == 1);
		else /* 10^15 B/s: no codec keeps up */
			assert_true(shuf == 0 && lz4 == 0 && st.compress_ns == 0);
	}
	/* Data that does not compress is sent raw for a while after one try. */
	{
		uint64_t s = 1;
		int64_t *v = (int64_t *)(void *)(c + ((struct eau2_chunk_hdr *)(void *)c)->values_off);

		for (uint32_t i = 0; i < 65536; i++)
			v[i] = (int64_t)tu_rand(&s);
		eau2_net_tx_init(&tx, EAU2_NET_AUTO, &st);
		for (int k = 0; k < 4; k++) { /* each codec tried once, then neither */
			memset(&st, 0, sizeof(st));
			eau2_net_tx_begin(&tx, c, 0, 0, scratch[0], scratch[1], NULL);
			while (eau2_net_tx_next(&tx, &slow, hdr, iov, &niov))
				;
			assert_int_equal(codec_blocks(&st, EAU2_INT, EAU2_NET_SHUF_LZ4), 0);
			assert_int_equal(codec_blocks(&st, EAU2_INT, EAU2_NET_LZ4), 0);
			assert_int_equal(st.compress_ns > 0, k < 2);
		}
	}
	free(c);
}

/* Re-seals a frame header after a test edits it. */
static void reseal_hdr(uint8_t *h, const struct eau2_net_frame *f)
{
	eau2_net_frame_encode(f, h);
}

static void expect_reject(const uint8_t *w, size_t n, uint64_t limit, int code, const char *text)
{
	struct eau2_net_stats st = {0};
	struct eau2_error err = {0};
	int rc;
	uint8_t *back = decode(w, n, limit, &st, &rc, &err);

	assert_null(back);
	if (rc != code || !strstr(err.msg, text))
		fail_msg("got %d '%s', expected %d '%s'", rc, err.msg, code, text);
}

static void test_codec_rejections(void **state)
{
	uint64_t len;
	uint8_t *c = nt_chunk(EAU2_STRING, 5000, 1, 0, 3, &len);
	struct eau2_net_stats st = {0};
	struct eau2_net_frame f;
	size_t n, b1 = EAU2_NET_HDR_SIZE + 128; /* the first block's header */
	uint8_t *w, *x;

	(void)state;
	w = encode(c, EAU2_NET_FORCE_LZ4, NULL, &st, &n);
	x = malloc(n);

	/* A flipped bit in a compressed block: its frame checksum. */
	memcpy(x, w, n);
	x[b1 + EAU2_NET_HDR_SIZE + 10] ^= 0x10;
	expect_reject(x, n, 0, -EBADMSG, "payload checksum mismatch");

	/* The same with the frame checksum forged to match: LZ4 or the chunk's
	 * own checksum catches it. */
	eau2_net_frame_decode(x + b1, EAU2_NET_HDR_SIZE, &f, NULL);
	f.sum = XXH3_64bits(x + b1 + EAU2_NET_HDR_SIZE, f.len);
	reseal_hdr(x + b1, &f);
	{
		struct eau2_error err = {0};
		int rc;
		uint8_t *back = decode(x, n, 0, &st, &rc, &err);

		assert_null(back);
		assert_int_equal(rc, -EBADMSG);
		if (!strstr(err.msg, "LZ4 gave") && !strstr(err.msg, "checksum mismatch") &&
		    !strstr(err.msg, "offsets"))
			fail_msg("unexpected: %s", err.msg);
	}

	/* Raw blocks carry no payload sum: their bytes are the chunk's, which
	 * the chunk's checksum covers. A flipped byte in the first or the last
	 * block is caught there once the chunk is whole, naming the chunk. */
	free(w);
	w = encode(c, EAU2_NET_FORCE_NONE, NULL, &st, &n);
	x = realloc(x, n);
	eau2_net_frame_decode(w + b1, EAU2_NET_HDR_SIZE, &f, NULL);
	assert_int_equal(f.type, EAU2_NET_CHUNK_BLOCK);
	assert_int_equal(f.aux[1] >> 32, EAU2_NET_RAW);
	assert_int_equal(f.sum, 0);
	assert_true(b1 + EAU2_NET_HDR_SIZE + f.len < n); /* more than one block */
	memcpy(x, w, n);
	x[b1 + EAU2_NET_HDR_SIZE + 10] ^= 0x10;
	expect_reject(x, n, 0, -EBADMSG,
		      "received chunk 42 (string, 5000 rows): checksum mismatch (stored");
	memcpy(x, w, n);
	x[n - 100] ^= 1;
	expect_reject(x, n, 0, -EBADMSG,
		      "received chunk 42 (string, 5000 rows): checksum mismatch (stored");
	/* A raw block with a payload sum is not this protocol's. */
	memcpy(x, w, n);
	f.sum = XXH3_64bits(x + b1 + EAU2_NET_HDR_SIZE, f.len);
	reseal_hdr(x + b1, &f);
	expect_reject(x, n, 0, -EBADMSG, "inconsistent");

	/* A block claiming another offset, a raw length past the chunk, a codec
	 * that does not exist, a shuffle of 3-byte elements. */
	memcpy(x, w, n);
	eau2_net_frame_decode(x + b1, EAU2_NET_HDR_SIZE, &f, NULL);
	f.aux[0] += 64;
	reseal_hdr(x + b1, &f);
	expect_reject(x, n, 0, -EBADMSG, "inconsistent");
	for (int k = 0; k < 3; k++) {
		static const uint64_t aux1[] = { 1ull << 32, 9ull << 32, 2ull << 32 | 3ull << 40 };

		memcpy(x, w, n);
		eau2_net_frame_decode(x + b1, EAU2_NET_HDR_SIZE, &f, NULL);
		f.aux[1] = ((f.aux[1] & 0xffffffffu) + (k == 0 ? len : 0)) | aux1[k];
		reseal_hdr(x + b1, &f);
		expect_reject(x, n, 0, -EBADMSG, "inconsistent");
	}

	/* Over the receiver's limit, before anything is allocated. */
	expect_reject(w, n, len - 1, -EMSGSIZE, "more than the");
	/* A CHUNK_BEGIN whose header lies. */
	memcpy(x, w, n);
	((struct eau2_chunk_hdr *)(void *)(x + EAU2_NET_HDR_SIZE))->rows = 70000;
	eau2_net_frame_decode(x, EAU2_NET_HDR_SIZE, &f, NULL);
	f.sum = XXH3_64bits(x + EAU2_NET_HDR_SIZE, 128);
	reseal_hdr(x, &f);
	expect_reject(x, n, 0, -EBADMSG, "70000 rows");
	/* Truncated mid-stream. */
	expect_reject(w, n - 1, 0, -EBADMSG, "truncated");
	expect_reject(w, b1, 0, -EBADMSG, "stream ended");
	free(w);
	free(x);
	free(c);
}

/* ------------------------------------------------------ over a socket */

#define T_ECHO 0x100
#define T_DONE 0x101

struct echo_ctx {
	pthread_mutex_t mu;
	char last_err[512];
};

static const char *echo_last = "";

/* T_ECHO (payload: the policy to answer with): receives a chunk and sends
 * it back, then T_DONE. */
static int echo_handler(void *ctx, eau2_net_conn *c, const struct eau2_net_frame *f,
			const void *payload)
{
	struct echo_ctx *e = ctx;
	struct eau2_error err = {0};
	struct eau2_net_frame done = { .type = T_DONE, .req = f->req };
	void *buf = NULL;
	uint64_t tag;
	int rc;

	if (f->type != T_ECHO || f->len != 1) {
		snprintf(e->last_err, sizeof(e->last_err), "request type %u len %u", f->type, f->len);
		return -EPROTO;
	}
	eau2_net_set_policy(c, ((const uint8_t *)payload)[0]);
	rc = eau2_net_recv_chunk(c, NULL, 0, nt_dst_malloc, &buf, &tag, &err);
	if (rc == 0)
		rc = eau2_net_send_chunk(c, buf, f->req, tag + 1, &err);
	if (rc == 0)
		rc = eau2_net_send(c, &done, NULL, &err);
	free(buf);
	if (rc) {
		pthread_mutex_lock(&e->mu);
		snprintf(e->last_err, sizeof(e->last_err), "%s", err.msg);
		pthread_mutex_unlock(&e->mu);
		fprintf(stderr, "echo handler: %s\n", err.msg);
	}
	return rc;
}

static void echo_one(eau2_net_conn *c, const uint8_t *chunk, uint64_t len, uint8_t policy)
{
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_ECHO, .len = 1, .req = 9 };
	void *back = NULL;
	uint64_t tag = 0;

	tu_ok(eau2_net_send(c, &f, &policy, &err), &err);
	if (eau2_net_send_chunk(c, chunk, 9, 100, &err))
		fail_msg("%s (server: %s)", err.msg, echo_last);
	tu_ok(eau2_net_recv_chunk(c, NULL, 0, nt_dst_malloc, &back, &tag, &err), &err);
	assert_int_equal(tag, 101);
	assert_memory_equal(back, chunk, len);
	free(back);
	tu_ok(eau2_net_recv(c, &f, NULL, 0, &err), &err);
	assert_int_equal(f.type, T_DONE);
	assert_int_equal(f.req, 9);
}

static void test_socket_round_trips(void **state)
{
	struct echo_ctx e = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct eau2_net_server_opts so = { .on_request = echo_handler, .ctx = &e };
	struct nt_log log = {0};
	char addr[64];
	eau2_net_server *s = nt_server(&so, &log, addr, sizeof(addr));

	echo_last = e.last_err;
	struct eau2_net_opts o = nt_opts("client", NULL);
	struct eau2_error err = {0};
	struct eau2_net_stats st;
	eau2_net_conn *c;

	(void)state;
	tu_ok(eau2_net_connect(&c, addr, &o, &err), &err);
	assert_string_equal(eau2_net_peer_node(c), "server");
	for (size_t s2 = 0; s2 < NSHAPES; s2++) {
		uint64_t len;
		uint8_t *chunk = nt_chunk(shapes[s2].type, shapes[s2].rows, shapes[s2].nulls,
					  shapes[s2].long_len, 100 + s2, &len);

		for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
			eau2_net_set_policy(c, policies[p]);
			if (getenv("EAU2_TEST_VERBOSE"))
				fprintf(stderr, "shape %zu policy %zu\n", s2, p);
			echo_one(c, chunk, len, (uint8_t)policies[(p + 1) % 4]);
		}
		free(chunk);
	}
	eau2_net_stats(c, &st);
	assert_int_equal(st.chunks_sent, NSHAPES * 4);
	assert_int_equal(st.chunks_recv, NSHAPES * 4);
	assert_true(st.sent[EAU2_INT][EAU2_NET_SHUF_LZ4].blocks > 0);
	assert_true(st.recv[EAU2_DOUBLE][EAU2_NET_LZ4].blocks > 0);
	assert_true(st.sent[EAU2_STRING][EAU2_NET_LZ4].wire <
		    st.sent[EAU2_STRING][EAU2_NET_LZ4].raw);

	/* Zero-copy sends of raw blocks give the same bytes. */
	{
		uint64_t len;
		uint8_t *chunk = nt_chunk(EAU2_STRING, 1000, 0, 6u << 20, 7, &len);

		eau2_net_set_policy(c, EAU2_NET_FORCE_NONE);
		eau2_net_set_send_zc(c, true);
		echo_one(c, chunk, len, EAU2_NET_FORCE_NONE);
		eau2_net_stats(c, &st);
		assert_true(st.zc_sends >= 2);
		free(chunk);
	}
	eau2_net_close(c);
	eau2_net_server_stop(s);
	assert_string_equal(e.last_err, "");
	nt_log_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_round_trips),
		cmocka_unit_test(test_auto_policy),
		cmocka_unit_test(test_codec_rejections),
		cmocka_unit_test(test_socket_round_trips),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
