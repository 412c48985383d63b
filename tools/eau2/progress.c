/* SPDX-License-Identifier: MIT */
/*
 * progress.c - the progress bar of long commands (load, push, pull,
 * --remote load): drawn on stderr only when stderr is a terminal and the
 * work has run longer than a second, at most ten times a second, and
 * cleared before anything else is printed. Redirected stderr (scripts,
 * tests) never sees it.
 *
 * Access rules: a bar belongs to one command; its callback is called from
 * one thread at a time (the library's contract for its progress hooks),
 * so the struct needs no lock.
 */
#include "cli.h"

#include <string.h>
#include <unistd.h>

void eau2_cli_human_bytes(char *buf, size_t size, double b)
{
	static const char *const units[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (b >= 1000.0 && u < 4) {
		b /= 1000.0;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void eau2_cli_progress_start(struct eau2_cli_progress *p, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->tty = isatty(STDERR_FILENO) == 1;
	p->start = p->last = eau2_cli_now();
	p->label = label;
}

void eau2_cli_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct eau2_cli_progress *p = ctx;
	double now, el, rate;
	char d[32], t[32], r[32], bar[33];
	const char *lb = p->label ? p->label : "", *sp = p->label ? " " : "";

	if (!p->tty)
		return;
	now = eau2_cli_now();
	el = now - p->start;
	if (el < 1.0 || (p->drawn && now - p->last < 0.1))
		return;
	p->last = now;
	p->drawn = true;
	rate = (double)done / el;
	eau2_cli_human_bytes(d, sizeof d, (double)done);
	eau2_cli_human_bytes(r, sizeof r, rate);
	if (total && done <= total) {
		double frac = (double)done / (double)total;
		size_t fill = (size_t)(frac * 30.0);
		double eta = rate > 0 ? (double)(total - done) / rate : 0;

		memset(bar, '#', fill);
		memset(bar + fill, '.', 30 - fill);
		bar[30] = 0;
		eau2_cli_human_bytes(t, sizeof t, (double)total);
		fprintf(stderr, "\r\033[K%s%s%s / %s [%s] %3.0f%% %s/s ETA %.0fs", lb, sp,
			d, t, bar, frac * 100.0, r, eta);
	} else {
		fprintf(stderr, "\r\033[K%s%s%s %s/s", lb, sp, d, r);
	}
	fflush(stderr);
}

void eau2_cli_progress_clear(struct eau2_cli_progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = false;
	}
}
