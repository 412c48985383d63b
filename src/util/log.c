/* SPDX-License-Identifier: MIT */
/*
 * log.c - one-line warnings on stderr (log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

void eau2_warn(const char *fmt, ...)
{
	static const char prefix[] = "eau2: warning: ";
	char line[1024];
	size_t n = sizeof(prefix) - 1;
	va_list ap;
	int m;

	memcpy(line, prefix, n);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	for (size_t i = sizeof(prefix) - 1; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return; /* nowhere else to say it */
}
