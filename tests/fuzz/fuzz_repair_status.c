/* SPDX-License-Identifier: MIT */
/*
 * fuzz_repair_status.c - the decoder of the repair leader's progress
 * znode (eau2_repair_status_decode): its bytes come from ZooKeeper, where
 * any client of the ensemble may have written them. Beyond not crashing,
 * checks that what decodes has its strings within their bounds and that
 * decode(encode(s)) == s.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/repair.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_cluster_repair_status s, again;
	struct eau2_error err;
	char *buf;
	size_t len;

	if (eau2_repair_status_decode("/eau2/fuzz/repair/status", data, size, &s, &err))
		return 0;
	if (strlen(s.leader) > EAU2_MEMBER_ID_MAX || strlen(s.current) >= sizeof(s.current) ||
	    s.updated_ms < 0)
		abort();
	if (eau2_repair_status_encode(&s, &buf, &len))
		abort();
	if (eau2_repair_status_decode("/eau2/fuzz/repair/status", buf, len, &again, &err) ||
	    memcmp(&s, &again, sizeof(s)))
		abort();
	free(buf);
	return 0;
}
