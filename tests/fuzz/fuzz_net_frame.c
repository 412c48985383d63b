/* SPDX-License-Identifier: MIT */
/*
 * fuzz_net_frame.c - the transport's frame header decoder and its
 * address parser, on arbitrary bytes. Beyond not crashing, checks what
 * the decoder promises: an accepted header re-encodes to the same 64
 * bytes, its length is within its type's limit, a transport type has no
 * flags; and an accepted HOST:PORT has a host that fits and no brackets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uring_net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_net_frame f;
	struct eau2_error err;
	uint8_t again[EAU2_NET_HDR_SIZE];
	char s[300], host[64];
	uint16_t port;

	if (eau2_net_frame_decode(data, size, &f, &err) == 0) {
		eau2_net_frame_encode(&f, again);
		if (memcmp(again, data, EAU2_NET_HDR_SIZE))
			abort();
		if (f.len > (f.type == EAU2_NET_CHUNK_BLOCK ? EAU2_NET_BLOCK_MAX :
			     EAU2_NET_CONTROL_MAX))
			abort();
		if (f.type < EAU2_NET_TYPE_USER && f.flags)
			abort();
		if (size - EAU2_NET_HDR_SIZE >= f.len)
			eau2_net_frame_check(&f, data + EAU2_NET_HDR_SIZE, &err);
	} else if (!err.msg[0]) {
		abort();
	}
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = 0;
		if (eau2_net_split_hostport(s, host, sizeof(host), &port, &err) == 0 &&
		    (strlen(host) >= sizeof(host) || !host[0] || strpbrk(host, "[] \t")))
			abort();
	}
	return 0;
}
