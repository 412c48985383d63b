/* SPDX-License-Identifier: MIT */
/*
 * fuzz_net_chunk.c - the chunk decoder fed a stream of frames, as
 * eau2_net_recv_chunk feeds it from a socket. The first byte: bit 0 =
 * re-seal every frame (the harness recomputes the payload and header
 * checksums, a raw block's payload sum being 0, so that mutations reach
 * the header checks, LZ4 and the chunk's own verification instead of
 * stopping at a frame checksum);
 * bit 1 = a 1 MiB limit instead of the default. Then frames, back to
 * back. The destination is exactly total_len bytes (ASan sees a write
 * past it). A chunk reported complete must verify.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "uring_net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *scratch[2];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_net_stats st = {0};
	struct eau2_net_rx rx;
	struct eau2_chunk_hdr h;
	struct eau2_error err;
	uint8_t *dst = NULL, hdr[EAU2_NET_HDR_SIZE];
	uint64_t limit;
	size_t off = 1;
	int reseal, rc = 0;

	if (size < 1 || size > (8u << 20))
		return 0;
	if (!scratch[0]) {
		scratch[0] = malloc(EAU2_NET_SCRATCH_BYTES);
		scratch[1] = malloc(EAU2_NET_SCRATCH_BYTES);
	}
	reseal = data[0] & 1;
	limit = data[0] & 2 ? 1u << 20 : 0;
	eau2_net_rx_init(&rx, &st);
	while (rc == 0 && size - off >= EAU2_NET_HDR_SIZE) {
		struct eau2_net_frame f;
		const uint8_t *p;
		void *into;

		memcpy(hdr, data + off, sizeof(hdr));
		off += EAU2_NET_HDR_SIZE;
		if (reseal) {
			uint32_t len;
			uint16_t type;
			uint64_t sum, aux1;

			memcpy(&len, hdr + 8, 4);
			memcpy(&type, hdr + 6, 2);
			memcpy(&aux1, hdr + 32, 8);
			if (len > size - off)
				len = (uint32_t)(size - off);
			memcpy(hdr + 8, &len, 4);
			sum = type == EAU2_NET_CHUNK_BLOCK && ((aux1 >> 32) & 0xff) == EAU2_NET_RAW ?
			      0 : XXH3_64bits(data + off, len);
			memcpy(hdr + 40, &sum, 8);
			sum = XXH3_64bits(hdr, 56);
			memcpy(hdr + 56, &sum, 8);
		}
		if (eau2_net_frame_decode(hdr, sizeof(hdr), &f, &err) || f.len > size - off)
			break;
		p = data + off;
		off += f.len;
		if (!dst) {
			if (eau2_net_frame_check(&f, p, &err) ||
			    eau2_net_rx_begin(&rx, &f, p, limit, &h, &err))
				break;
			if (h.total_len > (limit ? limit : EAU2_NET_CHUNK_LIMIT))
				abort();
			if (h.total_len > (64u << 20)) /* valid, but more than a fuzz run needs */
				break;
			dst = aligned_alloc(64, (h.total_len + 63) & ~(uint64_t)63);
			rc = eau2_net_rx_dst(&rx, dst, scratch[0], scratch[1], &err);
		} else {
			if (eau2_net_rx_block(&rx, &f, &into, &err))
				break;
			if ((uint8_t *)into != scratch[0] &&
			    ((uint8_t *)into < dst || (uint8_t *)into + f.len > dst + h.total_len))
				abort();
			memcpy(into, p, f.len);
			rc = eau2_net_rx_block_done(&rx, &f, &err);
		}
		if (rc == 1 && eau2_chunk_verify(dst, NULL))
			abort();
	}
	free(dst);
	return 0;
}
