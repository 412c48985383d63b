/* SPDX-License-Identifier: MIT */
/*
 * fuzz_zk_member.c - the decoder of member znodes (eau2_member_decode):
 * their bytes come from ZooKeeper, where any client of the ensemble may
 * have written them. Beyond not crashing, checks what the decoder
 * promises: an accepted payload has a valid address and in-range fields,
 * and decode(encode(m)) == m.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/members.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eau2_error err;
	struct eau2_member m, again;
	char buf[EAU2_MEMBER_JSON_MAX];
	size_t len;

	if (eau2_member_decode("/eau2/fuzz/nodes/n1", "n1", data, size, &m, &err) != 0)
		return 0;
	if (eau2_member_check_addr(m.addr, &err) != 0 || m.cores == 0 ||
	    m.protocol == 0 || m.started_ms < 0 || strcmp(m.id, "n1"))
		abort();
	if (eau2_member_encode(&m, buf, sizeof(buf), &len, &err) != 0)
		abort();
	if (eau2_member_decode("/eau2/fuzz/nodes/n1", "n1", buf, len, &again, &err) != 0)
		abort();
	if (memcmp(&m, &again, sizeof(m)) != 0)
		abort();
	return 0;
}
