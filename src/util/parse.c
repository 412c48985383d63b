/* SPDX-License-Identifier: MIT */
/*
 * parse.c - numbers given on command lines (see parse.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "util/parse.h"

/* The leading digits of s into *v; *end after them. */
static int digits(const char *s, unsigned long long *v, char **end)
{
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno == ERANGE ? -ERANGE : 0;
}

int eau2_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int rc = digits(s, &v, &end);

	if (rc)
		return rc;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

int eau2_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;
	int rc = digits(s, &v, &end);

	if (rc)
		return rc;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (*end == 'i' || *end == 'I'))
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}
