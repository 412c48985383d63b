/* SPDX-License-Identifier: MIT */
/*
 * fuzz_net_handshake.c - the handshake state machine fed a peer's frames.
 * The first byte picks our side (bit 0: we have a secret). The rest are
 * records: type (2 bytes), length (2 bytes), payload; the harness frames
 * each with correct checksums, so that mutations reach the machine
 * rather than stopping at the frame checks (which fuzz_net_frame covers).
 * Checks: what the machine asks to send is a frame that decodes, an
 * ERROR on refusal; success never comes before the peer's READY, and
 * with a secret never without an AUTH that matched.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uring_net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[32] = { 7 };
	struct eau2_net_ident id = { .cluster = "fuzz", .node_id = "us",
				     .role = EAU2_NET_ROLE_NODE };
	struct eau2_net_hs hs;
	struct eau2_error err;
	size_t off = 1;
	int rc = 0, saw_auth = 0;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		id.has_secret = true;
		eau2_net_secret_derive("fuzz secret", 11, id.secret);
	}
	eau2_net_hs_init(&hs, &id, nonce);
	while (rc == 0 && size - off >= 4) {
		struct eau2_net_frame f = { .type = (uint16_t)(data[off] | data[off + 1] << 8) };
		size_t len = (size_t)(data[off + 2] | data[off + 3] << 8);
		struct iovec v;
		struct eau2_net_frame g;

		off += 4;
		if (len > size - off)
			len = size - off;
		f.len = (uint32_t)len;
		v = (struct iovec){ (void *)(uintptr_t)(data + off), len };
		f.sum = eau2_net_payload_sum(&v, 1);
		if (f.type == EAU2_NET_AUTH)
			saw_auth = 1;
		rc = eau2_net_hs_step(&hs, &f, data + off, &err);
		off += len;
		if (hs.out_len) {
			if (hs.out_len > sizeof(hs.out) ||
			    eau2_net_frame_decode(hs.out, hs.out_len, &g, NULL) ||
			    EAU2_NET_HDR_SIZE + g.len != hs.out_len ||
			    eau2_net_frame_check(&g, hs.out + EAU2_NET_HDR_SIZE, NULL))
				abort();
			if (rc < 0 && g.type != EAU2_NET_ERROR)
				abort();
		}
		if (rc == 1 && (f.type != EAU2_NET_READY || (id.has_secret && !saw_auth)))
			abort();
		if (rc < 0 && !err.msg[0])
			abort();
	}
	return 0;
}
