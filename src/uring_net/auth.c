/* SPDX-License-Identifier: MIT */
/*
 * auth.c - who the peers are: identities, the cluster secret (loaded from
 * a file, derived to a 32-byte key) and the handshake state machine. The
 * machine does no I/O: the client's blocking connect (conn.c), the
 * server's network thread (server.c) and tests/fuzz/fuzz_net_handshake.c
 * drive the same code.
 *
 * HELLO payload (little endian):
 *      0  2  protocol version      6  2  reserved, 0
 *      2  1  role                  8 32  nonce
 *      3  1  flags: 1 = has secret 40     cluster name, then node id
 *      4  1  cluster name length
 *      5  1  node id length
 *
 * AUTH payload: BLAKE2b-256 keyed with the cluster key over
 * "eau2-net-auth-v1", the sender's HELLO and the receiver's HELLO (each
 * preceded by its length). Each side's proof covers its own HELLO first,
 * so a proof cannot be reflected back to the side that made it, and a
 * fresh nonce in each HELLO means an old proof never matches again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uring_net/net_impl.h"

enum { HS_WAIT_HELLO = 1, HS_WAIT_AUTH, HS_WAIT_READY, HS_DONE, HS_FAILED };

#define HELLO_FIXED 40u
#define NONCE_BYTES 32u
#define PROOF_BYTES 32u
#define AUTH_LABEL "eau2-net-auth-v1"

static int name_ok(const char *s, size_t len)
{
	if (len == 0 || len > EAU2_NET_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr("._:@/-", ch)) || !ch)
			return 0;
	}
	return 1;
}

int eau2_net_ident_check(const struct eau2_net_ident *id, struct eau2_error *err)
{
	if (!id->cluster || !name_ok(id->cluster, strlen(id->cluster)))
		return eau2_error_set(err, -EINVAL,
				      "cluster name '%s': 1 to %u letters, digits or ._:@/-",
				      id->cluster ? id->cluster : "(null)", EAU2_NET_NAME_MAX);
	if (!id->node_id || !name_ok(id->node_id, strlen(id->node_id)))
		return eau2_error_set(err, -EINVAL,
				      "node id '%s': 1 to %u letters, digits or ._:@/-",
				      id->node_id ? id->node_id : "(null)", EAU2_NET_NAME_MAX);
	if (id->role < EAU2_NET_ROLE_CLIENT || id->role > EAU2_NET_ROLE_DRIVER)
		return eau2_error_set(err, -EINVAL, "role %u is not a role", id->role);
	return 0;
}

/* ---------------------------------------------------------------- secret */

void eau2_net_secret_derive(const void *secret, size_t len,
			    uint8_t key[EAU2_NET_KEY_BYTES])
{
	crypto_generichash(key, EAU2_NET_KEY_BYTES, secret, len, NULL, 0);
}

int eau2_net_secret_load(const char *path, uint8_t key[EAU2_NET_KEY_BYTES],
			 struct eau2_error *err)
{
	uint8_t buf[EAU2_NET_SECRET_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return eau2_error_set(err, -errno, "secret file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = eau2_error_set(err, -errno, "secret file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = eau2_error_set(err, -EINVAL, "secret file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = eau2_error_set(err, -EPERM,
				    "secret file %s: mode %04o lets group or others access it "
				    "(chmod 600 it)", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = eau2_error_set(err, -errno, "secret file %s: %s", path,
					    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > EAU2_NET_SECRET_FILE_MAX) {
		rc = eau2_error_set(err, -EINVAL, "secret file %s: larger than %u bytes", path,
				    EAU2_NET_SECRET_FILE_MAX);
		goto out;
	}
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	if (len == 0) {
		rc = eau2_error_set(err, -EINVAL, "secret file %s: empty", path);
		goto out;
	}
	eau2_net_secret_derive(buf, len, key);
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* ------------------------------------------------------------- handshake */

static void out_frame(struct eau2_net_hs *hs, uint16_t type, uint64_t aux0,
		      const void *payload, uint32_t len)
{
	struct eau2_net_frame f = { .type = type, .len = len, .aux = { aux0, 0 } };
	struct iovec iov = { .iov_base = (void *)(uintptr_t)payload, .iov_len = len };

	f.sum = eau2_net_payload_sum(&iov, len ? 1 : 0);
	eau2_net_frame_encode(&f, hs->out);
	if (len)
		memcpy(hs->out + EAU2_NET_HDR_SIZE, payload, len);
	hs->out_len = EAU2_NET_HDR_SIZE + len;
}

/* Refuses: err gets msg, and out the ERROR frame that tells the peer. */
__attribute__((format(printf, 4, 5)))
static int refuse(struct eau2_net_hs *hs, int code, struct eau2_error *err,
		  const char *fmt, ...)
{
	char text[EAU2_NET_ERROR_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(text))
		n = sizeof(text) - 1;
	out_frame(hs, EAU2_NET_ERROR, (uint64_t)-code, text, (uint32_t)n);
	hs->state = HS_FAILED;
	return eau2_error_set(err, code, "%s", text);
}

static uint16_t our_version(const struct eau2_net_ident *id)
{
	return id->proto_version ? id->proto_version : EAU2_NET_PROTO_VERSION;
}

void eau2_net_hs_init(struct eau2_net_hs *hs, const struct eau2_net_ident *self,
		      const uint8_t *nonce)
{
	size_t cl = strlen(self->cluster), nl = strlen(self->node_id);
	uint8_t *h = hs->hello;

	if (sodium_init() < 0)
		abort(); /* no usable random source: nothing safe to do */
	memset(hs, 0, sizeof(*hs));
	hs->self = self;
	net_put16(h, our_version(self));
	h[2] = self->role;
	h[3] = self->has_secret ? 1 : 0;
	h[4] = (uint8_t)cl;
	h[5] = (uint8_t)nl;
	if (nonce)
		memcpy(h + 8, nonce, NONCE_BYTES);
	else
		randombytes_buf(h + 8, NONCE_BYTES);
	memcpy(h + HELLO_FIXED, self->cluster, cl);
	memcpy(h + HELLO_FIXED + cl, self->node_id, nl);
	hs->hello_len = HELLO_FIXED + cl + nl;
	out_frame(hs, EAU2_NET_HELLO, 0, h, (uint32_t)hs->hello_len);
	hs->state = HS_WAIT_HELLO;
}

/* The proof that `first`'s sender knows key, bound to both HELLOs. */
static void proof(const uint8_t *key, const uint8_t *first, size_t first_len,
		  const uint8_t *second, size_t second_len, uint8_t out[PROOF_BYTES])
{
	crypto_generichash_state st;
	uint8_t len[4];

	crypto_generichash_init(&st, key, EAU2_NET_KEY_BYTES, PROOF_BYTES);
	crypto_generichash_update(&st, (const uint8_t *)AUTH_LABEL, sizeof(AUTH_LABEL) - 1);
	net_put32(len, (uint32_t)first_len);
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, first, first_len);
	net_put32(len, (uint32_t)second_len);
	crypto_generichash_update(&st, len, 4);
	crypto_generichash_update(&st, second, second_len);
	crypto_generichash_final(&st, out, PROOF_BYTES);
}

static int on_hello(struct eau2_net_hs *hs, const struct eau2_net_frame *f,
		    const uint8_t *p, struct eau2_error *err)
{
	const struct eau2_net_ident *self = hs->self;
	size_t cl, nl;
	uint16_t v;

	if (f->len < 2)
		return refuse(hs, -EPROTO, err, "malformed HELLO (%u bytes)", f->len);
	v = net_get16(p);
	hs->peer_version = v;
	if (v != our_version(self))
		return refuse(hs, -EPROTO, err, "protocol version %u != ours %u", v,
			      our_version(self));
	if (f->len < HELLO_FIXED || p[4] == 0 || p[5] == 0 ||
	    f->len != HELLO_FIXED + (size_t)p[4] + p[5] || net_get16(p + 6) ||
	    p[3] > 1 || !name_ok((const char *)p + HELLO_FIXED, p[4]) ||
	    !name_ok((const char *)p + HELLO_FIXED + p[4], p[5]) ||
	    p[2] < EAU2_NET_ROLE_CLIENT || p[2] > EAU2_NET_ROLE_DRIVER)
		return refuse(hs, -EPROTO, err, "malformed HELLO (%u bytes)", f->len);
	cl = p[4];
	nl = p[5];
	memcpy(hs->peer_cluster, p + HELLO_FIXED, cl);
	hs->peer_cluster[cl] = 0;
	memcpy(hs->peer_node, p + HELLO_FIXED + cl, nl);
	hs->peer_node[nl] = 0;
	hs->peer_role = p[2];
	memcpy(hs->peer_hello, p, f->len);
	hs->peer_hello_len = f->len;
	if (strcmp(hs->peer_cluster, self->cluster))
		return refuse(hs, -EACCES, err, "cluster '%s' != ours '%s'", hs->peer_cluster,
			      self->cluster);
	if (p[3] && !self->has_secret)
		return refuse(hs, -EACCES, err,
			      "the peer has a cluster secret, none is configured here");
	if (!p[3] && self->has_secret)
		return refuse(hs, -EACCES, err,
			      "a cluster secret is configured here, the peer has none");
	if (self->has_secret) {
		uint8_t mine[PROOF_BYTES];

		proof(self->secret, hs->hello, hs->hello_len, hs->peer_hello,
		      hs->peer_hello_len, mine);
		out_frame(hs, EAU2_NET_AUTH, 0, mine, PROOF_BYTES);
		hs->state = HS_WAIT_AUTH;
		return 0;
	}
	out_frame(hs, EAU2_NET_READY, 0, NULL, 0);
	hs->state = HS_WAIT_READY;
	return 0;
}

int eau2_net_hs_step(struct eau2_net_hs *hs, const struct eau2_net_frame *f,
		     const void *payload, struct eau2_error *err)
{
	const uint8_t *p = payload;

	hs->out_len = 0;
	if (hs->state == HS_FAILED || hs->state == HS_DONE)
		return eau2_error_set(err, -EPROTO, "handshake already over");
	if (f->type == EAU2_NET_ERROR) {
		int code = f->aux[0] > 0 && f->aux[0] < 4096 ? -(int)f->aux[0] : -ECONNREFUSED;
		char text[EAU2_NET_ERROR_MAX + 1];
		size_t n = f->len < EAU2_NET_ERROR_MAX ? f->len : EAU2_NET_ERROR_MAX;

		for (size_t i = 0; i < n; i++)
			text[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
		text[n] = 0;
		hs->state = HS_FAILED;
		return eau2_error_set(err, code, "refused by the peer: %s", text);
	}
	switch (hs->state) {
	case HS_WAIT_HELLO:
		if (f->type != EAU2_NET_HELLO)
			break;
		return on_hello(hs, f, p, err);
	case HS_WAIT_AUTH: {
		uint8_t want[PROOF_BYTES];

		if (f->type != EAU2_NET_AUTH)
			break;
		if (f->len != PROOF_BYTES)
			return refuse(hs, -EPROTO, err, "malformed AUTH (%u bytes)", f->len);
		proof(hs->self->secret, hs->peer_hello, hs->peer_hello_len, hs->hello,
		      hs->hello_len, want);
		if (sodium_memcmp(want, p, PROOF_BYTES) != 0)
			return refuse(hs, -EACCES, err, "secret mismatch");
		out_frame(hs, EAU2_NET_READY, 0, NULL, 0);
		hs->state = HS_WAIT_READY;
		return 0;
	}
	case HS_WAIT_READY:
		if (f->type != EAU2_NET_READY)
			break;
		if (f->len)
			return refuse(hs, -EPROTO, err, "malformed READY (%u bytes)", f->len);
		hs->state = HS_DONE;
		return 1;
	}
	return refuse(hs, -EPROTO, err, "unexpected %s frame (type %u) during the handshake",
		      eau2_net_type_name(f->type), f->type);
}
