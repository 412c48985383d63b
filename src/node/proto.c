/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the node protocol's framing (see node.h): header encoding and
 * checking, request payload checks, sending and receiving one message with
 * its descriptors, and the decoders of multi-part replies. Every length
 * that comes off the socket is checked here before anything is allocated
 * from it; the fuzz target tests/fuzz/fuzz_node_proto.c drives these
 * functions with arbitrary bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "node/node.h"
#include "node/remote.h"

/* The wire is little endian; these compile to plain loads on x86-64 and
 * arm64 and stay correct elsewhere. */
uint32_t eau2_node_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

uint64_t eau2_node_get_u64(const uint8_t *p)
{
	return (uint64_t)eau2_node_get_u32(p) | (uint64_t)eau2_node_get_u32(p + 4) << 32;
}

void eau2_node_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void eau2_node_put_u64(uint8_t *p, uint64_t v)
{
	eau2_node_put_u32(p, (uint32_t)v);
	eau2_node_put_u32(p + 4, (uint32_t)(v >> 32));
}

void eau2_node_hdr_encode(const struct eau2_node_hdr *h, uint8_t *out)
{
	eau2_node_put_u32(out, h->magic);
	out[4] = (uint8_t)h->version;
	out[5] = (uint8_t)(h->version >> 8);
	out[6] = (uint8_t)h->type;
	out[7] = (uint8_t)(h->type >> 8);
	eau2_node_put_u32(out + 8, h->flags);
	eau2_node_put_u32(out + 12, h->len);
	eau2_node_put_u64(out + 16, h->req);
	eau2_node_put_u32(out + 24, (uint32_t)h->code);
	eau2_node_put_u32(out + 28, h->nfds);
}

static int type_known(unsigned type)
{
	unsigned base = type & ~(unsigned)EAU2_NODE_REPLY;

	return (type & ~0xffu) == 0 && base >= EAU2_NODE_HELLO && base <= EAU2_NODE_RUN;
}

int eau2_node_hdr_decode(const uint8_t *msg, size_t msg_len,
			 struct eau2_node_hdr *h, struct eau2_error *err)
{
	memset(h, 0, sizeof(*h));
	if (msg_len < EAU2_NODE_HDR_SIZE)
		return eau2_error_set(err, -EBADMSG, "message of %zu bytes is shorter than a header",
				      msg_len);
	h->magic = eau2_node_get_u32(msg);
	h->version = (uint16_t)(msg[4] | msg[5] << 8);
	h->type = (uint16_t)(msg[6] | msg[7] << 8);
	h->flags = eau2_node_get_u32(msg + 8);
	h->len = eau2_node_get_u32(msg + 12);
	h->req = eau2_node_get_u64(msg + 16);
	h->code = (int32_t)eau2_node_get_u32(msg + 24);
	h->nfds = eau2_node_get_u32(msg + 28);
	if (h->magic != EAU2_NODE_MAGIC)
		return eau2_error_set(err, -EBADMSG, "bad magic 0x%08x (not an eau2 node message)",
				      h->magic);
	if (h->version != EAU2_NODE_VERSION)
		return eau2_error_set(err, -EPROTO, "protocol version %u, this side speaks %u",
				      h->version, EAU2_NODE_VERSION);
	if (msg_len > EAU2_NODE_MSG_MAX || h->len != msg_len - EAU2_NODE_HDR_SIZE)
		return eau2_error_set(err, -EBADMSG,
				      "header says %u payload bytes, message has %zu",
				      h->len, msg_len - EAU2_NODE_HDR_SIZE);
	if (!type_known(h->type))
		return eau2_error_set(err, -EBADMSG, "unknown message type %u", h->type);
	if (h->flags & ~EAU2_NODE_F_MORE)
		return eau2_error_set(err, -EBADMSG, "unknown flags 0x%x", h->flags);
	if (h->nfds > EAU2_NODE_FDS_MAX)
		return eau2_error_set(err, -EBADMSG, "%u descriptors announced (at most %u)",
				      h->nfds, EAU2_NODE_FDS_MAX);
	return 0;
}

static int check_key(const uint8_t *p, uint32_t len, struct eau2_error *err)
{
	uint32_t i;

	if (len == 0 || len > EAU2_KEY_MAX)
		return eau2_error_set(err, -EINVAL, "key of %u bytes (1 to %d)", len,
				      EAU2_KEY_MAX);
	for (i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return eau2_error_set(err, -EINVAL,
					      "key has byte 0x%02x at offset %u: keys are printable ASCII",
					      p[i], i);
	return 0;
}

int eau2_node_req_check(const struct eau2_node_hdr *h, const uint8_t *payload,
			struct eau2_error *err)
{
	if (h->type & EAU2_NODE_REPLY)
		return eau2_error_set(err, -EBADMSG, "a reply (type 0x%x) sent as a request",
				      h->type);
	if (h->flags || h->nfds || h->code)
		return eau2_error_set(err, -EBADMSG,
				      "request with flags, descriptors or a code set");
	switch (h->type) {
	case EAU2_NODE_HELLO:
		if (h->len != 8)
			break;
		return 0;
	case EAU2_NODE_GET:
	case EAU2_NODE_DELETE:
		return check_key(payload, h->len, err);
	case EAU2_NODE_RELEASE:
	case EAU2_NODE_HOLD:
		if (h->len != 12)
			break;
		if (eau2_node_get_u64(payload) == 0)
			return eau2_error_set(err, -EINVAL, "dataframe id 0");
		if (eau2_node_get_u32(payload + 8) == 0 ||
		    eau2_node_get_u32(payload + 8) > (1u << 30))
			return eau2_error_set(err, -EINVAL, "count %u out of range",
					      eau2_node_get_u32(payload + 8));
		return 0;
	case EAU2_NODE_LIST:
	case EAU2_NODE_STATUS:
		if (h->len != 0)
			break;
		return 0;
	case EAU2_NODE_RUN: {
		struct eau2_remote_run_req q;
		int rc = eau2_remote_run_decode(payload, h->len, &q, err);

		if (!rc)
			eau2_remote_run_free(&q);
		return rc;
	}
	}
	return eau2_error_set(err, -EBADMSG, "request type %u with a payload of %u bytes",
			      h->type, h->len);
}

int eau2_node_send(int sock, const struct eau2_node_hdr *h, const void *payload,
		   const int *fds, size_t nfds)
{
	uint8_t hdr[EAU2_NODE_HDR_SIZE];
	union {
		char buf[CMSG_SPACE(sizeof(int) * EAU2_NODE_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = h->len },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = h->len ? 2 : 1 };
	ssize_t n;

	if (nfds > EAU2_NODE_FDS_MAX || nfds != h->nfds ||
	    h->len > EAU2_NODE_PAYLOAD_MAX)
		return -EINVAL;
	eau2_node_hdr_encode(h, hdr);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == (ssize_t)(sizeof(hdr) + h->len) ? 0 : -EIO;
}

ssize_t eau2_node_recv(int sock, uint8_t *buf, int *fds, size_t *nfds, int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * EAU2_NODE_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = EAU2_NODE_MSG_MAX };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &m, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* Take every descriptor that came, whatever else is wrong, so that
	 * none leaks. */
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		size_t k, cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (*nfds < EAU2_NODE_FDS_MAX)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		while (*nfds)
			close(fds[--*nfds]);
		return -EMSGSIZE;
	}
	return n;
}

int eau2_node_sockaddr(const char *dir, int dirfd, void *addr, unsigned *addr_len)
{
	struct sockaddr_un *a = addr;
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path, sizeof(a->sun_path), "%s/" EAU2_NODE_SOCK, dir);
	if (n < 0 || (size_t)n >= sizeof(a->sun_path)) {
		/* The kernel resolves the path like any other, so the
		 * magic link to the open directory keeps it short. */
		if (dirfd < 0)
			return -ENAMETOOLONG;
		n = snprintf(a->sun_path, sizeof(a->sun_path),
			     "/proc/self/fd/%d/" EAU2_NODE_SOCK, dirfd);
	}
	*addr_len = (unsigned)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
	return 0;
}

/* ------------------------------------------------------ reply decoders */

#define STATUS_HDR 16u
#define STATUS_CONN 16u
#define STATUS_ID 24u

int eau2_node_status_decode(const uint8_t *buf, size_t len,
			    struct eau2_node_status **out, struct eau2_error *err)
{
	struct eau2_node_status *st;
	uint64_t nconns, nids, need;
	size_t i;
	const uint8_t *p;

	*out = NULL;
	if (len < STATUS_HDR)
		return eau2_error_set(err, -EBADMSG, "status reply of %zu bytes is truncated", len);
	nconns = eau2_node_get_u32(buf + 4);
	nids = eau2_node_get_u32(buf + 8);
	need = STATUS_HDR + nconns * STATUS_CONN + nids * STATUS_ID;
	if (need != len)
		return eau2_error_set(err, -EBADMSG,
				      "status reply: %llu connections and %llu ids need %llu bytes, got %zu",
				      (unsigned long long)nconns, (unsigned long long)nids,
				      (unsigned long long)need, len);
	/* need == len bounds both counts by the bytes actually received. */
	st = calloc(1, sizeof(*st) + nconns * sizeof(*st->conns) + nids * sizeof(*st->ids));
	if (!st)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	st->node_pid = (pid_t)eau2_node_get_u32(buf);
	st->nconns = (size_t)nconns;
	st->nids = (size_t)nids;
	st->conns = (struct eau2_node_conn_status *)(void *)(st + 1);
	st->ids = (struct eau2_node_id_status *)(void *)(st->conns + nconns);
	p = buf + STATUS_HDR;
	for (i = 0; i < nconns; i++, p += STATUS_CONN) {
		st->conns[i].pid = (pid_t)eau2_node_get_u32(p);
		st->conns[i].nids = eau2_node_get_u32(p + 4);
		st->conns[i].refs = eau2_node_get_u64(p + 8);
	}
	for (i = 0; i < nids; i++, p += STATUS_ID) {
		st->ids[i].id = eau2_node_get_u64(p);
		st->ids[i].refs = eau2_node_get_u32(p + 8);
		st->ids[i].nconns = eau2_node_get_u32(p + 12);
		st->ids[i].keyed = eau2_node_get_u32(p + 16) != 0;
	}
	*out = st;
	return 0;
}

int eau2_node_list_decode(const uint8_t *buf, size_t len, char ***out,
			  size_t *nout, struct eau2_error *err)
{
	char **keys;
	size_t n = 0, i, off, k = 0;
	int rc = 0;

	*out = NULL;
	if (len && buf[len - 1] != 0)
		return eau2_error_set(err, -EBADMSG, "list reply does not end a key");
	for (i = 0; i < len; i++)
		n += buf[i] == 0;
	keys = calloc(n + 1, sizeof(*keys));
	if (!keys)
		return eau2_error_set(err, -ENOMEM, "out of memory");
	for (off = 0; off < len; k++) {
		size_t l = strlen((const char *)buf + off);

		if (l == 0 || l > EAU2_KEY_MAX) {
			rc = eau2_error_set(err, -EBADMSG, "list reply has a key of %zu bytes", l);
			break;
		}
		keys[k] = strdup((const char *)buf + off);
		if (!keys[k]) {
			rc = eau2_error_set(err, -ENOMEM, "out of memory");
			break;
		}
		off += l + 1;
	}
	if (rc) {
		eau2_list_free(keys);
		return rc;
	}
	*out = keys;
	if (nout)
		*nout = n;
	return 0;
}
