/* SPDX-License-Identifier: MIT */
/*
 * log.h - warnings the library gives where nothing failed but a user must
 * know (a store clean-up skipped because of a bad key, a node that did not
 * answer). Internal to eau2; not part of the C API.
 */
#ifndef EAU2_UTIL_LOG_H
#define EAU2_UTIL_LOG_H

/* Writes "eau2: warning: <message>\n" to stderr in one write(2), so lines
 * of concurrent processes do not interleave; newlines in the message
 * become spaces (one line, always). */
void eau2_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
