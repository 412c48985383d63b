/* SPDX-License-Identifier: MIT */
/*
 * frame.c - the frame header (layout in net.h): encoding, decoding with
 * every check made before a length is trusted, payload checksums; and
 * the address helpers (HOST:PORT, loopback, printing). Pure functions:
 * tests/fuzz/fuzz_net_frame.c drives them with arbitrary bytes.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "uring_net/net_impl.h"

uint64_t eau2_net_payload_sum(const struct iovec *iov, int n)
{
	XXH3_state_t st;

	if (n == 1)
		return XXH3_64bits(iov[0].iov_base, iov[0].iov_len);
	XXH3_64bits_reset(&st);
	for (int i = 0; i < n; i++)
		XXH3_64bits_update(&st, iov[i].iov_base, iov[i].iov_len);
	return XXH3_64bits_digest(&st);
}

void eau2_net_frame_encode(const struct eau2_net_frame *f,
			   uint8_t out[EAU2_NET_HDR_SIZE])
{
	memset(out, 0, EAU2_NET_HDR_SIZE);
	net_put32(out, EAU2_NET_MAGIC);
	out[4] = EAU2_NET_FRAME_VERSION;
	out[5] = f->flags;
	net_put16(out + 6, f->type);
	net_put32(out + 8, f->len);
	net_put64(out + 16, f->req);
	net_put64(out + 24, f->aux[0]);
	net_put64(out + 32, f->aux[1]);
	net_put64(out + 40, f->sum);
	net_put64(out + 56, XXH3_64bits(out, 56));
}

const char *eau2_net_type_name(unsigned type)
{
	static const char *const names[] = {
		[EAU2_NET_HELLO] = "HELLO", [EAU2_NET_AUTH] = "AUTH",
		[EAU2_NET_READY] = "READY", [EAU2_NET_ERROR] = "ERROR",
		[EAU2_NET_PING] = "PING", [EAU2_NET_PONG] = "PONG",
		[EAU2_NET_CHUNK_BEGIN] = "CHUNK_BEGIN",
		[EAU2_NET_CHUNK_BLOCK] = "CHUNK_BLOCK",
	};

	if (type >= EAU2_NET_TYPE_USER)
		return "user";
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "unknown";
}

int eau2_net_frame_decode(const uint8_t *in, size_t n, struct eau2_net_frame *f,
			  struct eau2_error *err)
{
	uint32_t limit;

	memset(f, 0, sizeof(*f));
	if (n < EAU2_NET_HDR_SIZE)
		return eau2_error_set(err, -EBADMSG, "frame header of %zu bytes (needs %u)",
				      n, EAU2_NET_HDR_SIZE);
	if (net_get32(in) != EAU2_NET_MAGIC)
		return eau2_error_set(err, -EBADMSG,
				      "bad magic 0x%08x (not an eau2 transport frame)",
				      net_get32(in));
	if (in[4] != EAU2_NET_FRAME_VERSION)
		return eau2_error_set(err, -EBADMSG, "frame version %u != ours %u",
				      in[4], EAU2_NET_FRAME_VERSION);
	if (net_get64(in + 56) != XXH3_64bits(in, 56))
		return eau2_error_set(err, -EBADMSG, "frame header checksum mismatch");
	if (net_get32(in + 12) || net_get64(in + 48))
		return eau2_error_set(err, -EBADMSG, "frame header: reserved bytes not zero");
	f->flags = in[5];
	f->type = net_get16(in + 6);
	f->len = net_get32(in + 8);
	f->req = net_get64(in + 16);
	f->aux[0] = net_get64(in + 24);
	f->aux[1] = net_get64(in + 32);
	f->sum = net_get64(in + 40);
	if (f->type < EAU2_NET_TYPE_USER) {
		if (f->type < EAU2_NET_HELLO || f->type > EAU2_NET_CHUNK_BLOCK)
			return eau2_error_set(err, -EBADMSG, "unknown transport frame type %u",
					      f->type);
		if (f->flags)
			return eau2_error_set(err, -EBADMSG, "%s frame with flags 0x%02x",
					      eau2_net_type_name(f->type), f->flags);
	}
	limit = f->type == EAU2_NET_CHUNK_BLOCK ? EAU2_NET_BLOCK_MAX : EAU2_NET_CONTROL_MAX;
	if (f->len > limit)
		return eau2_error_set(err, -EMSGSIZE, "%s frame of %u bytes, over the %u allowed",
				      eau2_net_type_name(f->type), f->len, limit);
	return 0;
}

int eau2_net_frame_check(const struct eau2_net_frame *f, const void *payload,
			 struct eau2_error *err)
{
	uint64_t sum = XXH3_64bits(payload, f->len);

	if (sum != f->sum)
		return eau2_error_set(err, -EBADMSG,
				      "%s frame of %u bytes: payload checksum mismatch",
				      eau2_net_type_name(f->type), f->len);
	return 0;
}

/* ------------------------------------------------------------ addresses */

int eau2_net_split_hostport(const char *s, char *host, size_t hostcap,
			    uint16_t *port, struct eau2_error *err)
{
	const char *colon, *h = s;
	size_t hlen;
	char *end;
	unsigned long p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return eau2_error_set(err, -EINVAL, "'%s': expected [ADDRESS]:PORT", s);
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return eau2_error_set(err, -EINVAL,
					      "'%s': expected HOST:PORT (an IPv6 address in brackets)",
					      s);
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= hostcap)
		return eau2_error_set(err, -EINVAL, "'%s': empty or too long host", s);
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f || h[i] == '[' ||
		    h[i] == ']')
			return eau2_error_set(err, -EINVAL, "'%s': the host has a character "
					      "that no address or name has", s);
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+')
		return eau2_error_set(err, -EINVAL, "'%s': port is not a number from 0 to 65535",
				      s);
	memcpy(host, h, hlen);
	host[hlen] = 0;
	*port = (uint16_t)p;
	return 0;
}

bool eau2_net_addr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
	}
	return false;
}

int eau2_net_host_is_loopback(const char *host, struct eau2_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc, all = 1;

	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc)
		return eau2_error_set(err, -EHOSTUNREACH, "host '%s': %s", host,
				      gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next)
		all &= eau2_net_addr_is_loopback(ai->ai_addr);
	freeaddrinfo(res);
	return all;
}

void eau2_net_addr_str(const struct sockaddr *sa, char *buf, size_t cap)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, cap, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, cap, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, cap, "(family %d)", sa->sa_family);
	}
}
