/* SPDX-License-Identifier: MIT */
/*
 * error.c - struct eau2_error: the optional, human-readable side of the
 * 0 / -errno convention every eau2 function follows.
 */
#include <stdarg.h>
#include <stdio.h>

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
