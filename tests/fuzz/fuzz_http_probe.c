/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http_probe.c - raw bytes as another node's answer to the cluster
 * view's probe (GET /api/node, tools/eau2-node/http/probe.c): the status
 * line, headers and JSON body are checked, and a node's figures are
 * taken only from a well-formed answer, within their ranges; the same
 * for the totals eau2 status reads (eau2_http_parse_totals).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eau2-node/http/cview.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_cview_node n;
	struct eau2_error err = {0};
	char *buf = malloc(size + 1);
	const char *body;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0; /* as eau2_http_get_many leaves it */
	memset(&n, 0, sizeof(n));
	if (eau2_cview_parse_node(buf, size, &n, &err) == 0) {
		if (!n.have_info || n.load1 < 0 || n.load1 > 1e9 || n.cpu_busy > 1)
			abort();
	} else if (n.have_info || !err.msg[0]) {
		abort();
	}
	{
		struct eau2_node_totals t;

		memset(&n, 0, sizeof(n));
		if (eau2_http_parse_totals(buf, size, &n, &t, &err) == 0 && !n.have_info)
			abort();
	}
	if (eau2_http_body(buf, size, &body, &err) == 0 && (body < buf || body > buf + size))
		abort();
	free(buf);
	return 0;
}
