/* SPDX-License-Identifier: MIT */
/*
 * fuzz_node_proto.c - the parsers of bytes that come off the node's
 * socket: the frame header and request payload checks the node applies to
 * every message (eau2_node_hdr_decode, eau2_node_req_check), and the
 * client's decoders of multi-part replies (STATUS, LIST). Each input is
 * tried as a message and as a reply payload. Beyond not crashing, checks
 * what the parsers promise: an accepted header's length matches the input,
 * an accepted request's key is printable, decoded keys are non-empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "node/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err;
	struct eau2_node_hdr h;
	struct eau2_node_status *st = NULL;
	char **keys = NULL;
	size_t n, i;

	if (size > EAU2_NODE_MSG_MAX * 2)
		return 0;
	if (eau2_node_hdr_decode(data, size, &h, &err) == 0) {
		const uint8_t *p = data + EAU2_NODE_HDR_SIZE;

		if (h.len != size - EAU2_NODE_HDR_SIZE)
			abort();
		if (eau2_node_req_check(&h, p, &err) == 0 &&
		    (h.type == EAU2_NODE_GET || h.type == EAU2_NODE_DELETE))
			for (i = 0; i < h.len; i++)
				if (p[i] < 0x20 || p[i] > 0x7e)
					abort();
		/* a RUN the check passed decodes */
		if (h.type == EAU2_NODE_RUN && eau2_node_req_check(&h, p, &err) == 0) {
			struct eau2_remote_run_req q;

			if (eau2_remote_run_decode(p, h.len, &q, &err) || !q.rower[0])
				abort();
			eau2_remote_run_free(&q);
		}
	}
	if (eau2_node_status_decode(data, size, &st, &err) == 0) {
		if (16 + st->nconns * 16 + st->nids * 24 != size)
			abort();
		free(st);
	}
	if (eau2_node_list_decode(data, size, &keys, &n, &err) == 0) {
		for (i = 0; i < n; i++)
			if (!keys[i] || !keys[i][0])
				abort();
		if (keys[n])
			abort();
		eau2_list_free(keys);
	}
	return 0;
}
