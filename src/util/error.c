/* SPDX-License-Identifier: MIT */
/*
 * error.c - struct eau2_error: the optional, human-readable side of the
 * 0 / -errno convention every eau2 function follows.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eau2.h"

int eau2_error_set(struct eau2_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int eau2_error_prefix(struct eau2_error *err, int code, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	va_list ap;
	int n;

	if (!err)
		return code;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", old);
	err->code = code;
	return code;
}
