/* SPDX-License-Identifier: MIT */
/*
 * fuzz_remote.c - the decoders of the remote protocol's payloads
 * (src/node/rproto.c): descriptors, GET and RUN requests, keys. The
 * first byte picks the decoder, the rest is its input. Beyond not
 * crashing, checks what they promise: a descriptor's row groups sum to
 * its rows and each holds 1..EAU2_CHUNK_ROWS; a run request's strings
 * are NUL-terminated within their limits; what decodes encodes back to
 * the same bytes (RUN, GET).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void desc(const uint8_t *p, size_t n)
{
	struct eau2_remote_desc d;
	struct eau2_error err;
	uint64_t sum = 0;

	if (eau2_remote_desc_decode(p, n, &d, &err))
		return;
	for (size_t g = 0; g < d.ngroups; g++) {
		if (d.group_rows[g] == 0 || d.group_rows[g] > EAU2_CHUNK_ROWS)
			abort();
		sum += d.group_rows[g];
	}
	if (sum != d.rows || eau2_schema_ncols(d.schema) > EAU2_COLS_MAX)
		abort();
	eau2_remote_desc_free(&d);
}

static void get(const uint8_t *p, size_t n)
{
	struct eau2_remote_get_req r;
	struct eau2_error err;
	uint8_t out[20 + EAU2_KEY_MAX];
	size_t len;

	if (eau2_remote_get_decode(p, n, &r, &err))
		return;
	if (strlen(r.key) == 0 || strlen(r.key) > EAU2_KEY_MAX ||
	    r.wait_ms > EAU2_REMOTE_WAIT_SLICE_MS)
		abort();
	if (eau2_remote_get_encode(&r, out, &len) || len != n ||
	    memcmp(out, p, 16) || memcmp(out + 20, p + 20, n - 20))
		abort();
}

static void run(const uint8_t *p, size_t n)
{
	struct eau2_remote_run_req r;
	struct eau2_error err;
	uint8_t *out;
	size_t len;

	if (eau2_remote_run_decode(p, n, &r, &err))
		return;
	if (!r.rower[0] || strlen(r.rower) > EAU2_NAME_MAX || strlen(r.key) > EAU2_KEY_MAX ||
	    strlen(r.as) > EAU2_KEY_MAX || r.args.n > EAU2_REMOTE_ARGS_MAX)
		abort();
	if (eau2_remote_run_encode(&r, &out, &len, &err) == 0) {
		if (len != n || memcmp(out, p, n))
			abort();
		free(out);
	}
	eau2_remote_run_free(&r);
}

static void pull(const uint8_t *p, size_t n)
{
	struct eau2_remote_pull_req r;
	struct eau2_error err;
	uint8_t out[12 + EAU2_REMOTE_ADDR_MAX + EAU2_KEY_MAX];
	size_t len;

	if (eau2_remote_pull_decode(p, n, &r, &err))
		return;
	if (!r.from[0] || strlen(r.from) > EAU2_REMOTE_ADDR_MAX || !r.key[0] ||
	    strlen(r.key) > EAU2_KEY_MAX || (r.rate && r.rate < EAU2_REMOTE_RATE_MIN))
		abort();
	if (eau2_remote_pull_encode(&r, out, &len, &err) || len != n || memcmp(out, p, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char key[EAU2_KEY_MAX + 1];
	struct eau2_error err;

	if (size < 1 || size > (1u << 20))
		return 0;
	if (data[0] >= 0xf0) {
		pull(data + 1, size - 1);
		return 0;
	}
	switch (data[0] % 4) {
	case 0: desc(data + 1, size - 1); break;
	case 1: get(data + 1, size - 1); break;
	case 2: run(data + 1, size - 1); break;
	case 3:
		if (eau2_remote_key_decode(data + 1, size - 1, key, &err) == 0 &&
		    strlen(key) != size - 1)
			abort();
		break;
	}
	return 0;
}
