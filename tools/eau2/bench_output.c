/* SPDX-License-Identifier: MIT */
/*
 * bench_output.c - the report of `eau2 bench`: the table on stdout, the
 * --json file and the --plot image (through gnuplot).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_int.h"
#include "common/env_options.h"
#include "eau2.h"
#include "util/file.h"
#include "util/parse.h"

/* ------------------------------------------------------------ output */

/* A client's pool size as shown: a number, or "auto" (shared cores). */
const char *bench_threads_str(unsigned threads, char *buf, size_t size)
{
	if (!threads)
		return "auto";
	snprintf(buf, size, "%u", threads);
	return buf;
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c >= 0x7f)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

static void json_dataset(FILE *f, const char *name, const struct dataset *d,
			 bool last)
{
	fprintf(f, "    \"%s\": {\"key\": ", name);
	json_str(f, d->key);
	fprintf(f, ", \"rows\": %" PRIu64 ", \"bytes\": %" PRIu64
		", \"generated\": %s, \"gen_seconds\": ", d->rows, d->bytes,
		d->generated ? "true" : "false");
	json_num(f, d->gen_secs);
	fprintf(f, "}%s\n", last ? "" : ",");
}

int bench_write_json(const struct report *rp, const char *path)
{
	struct eau2_outfile out = { .fd = -1 };
	struct eau2_error err = {0};
	bool first = true;
	FILE *f = NULL;
	int rc = eau2_outfile_open(&out, path, 0666, &err);

	if (rc || !(f = fdopen(out.fd, "w"))) {
		bench_errorf("--json: %s", rc ? err.msg : strerror(errno));
		eau2_outfile_abort(&out);
		return rc ? rc : -ENOMEM;
	}
	out.fd = -1; /* f owns it now */
	fprintf(f, "{\n  \"format\": 1,\n  \"store\": ");
	json_str(f, rp->dir);
	fprintf(f, ",\n  \"cores\": %u,\n  \"seed\": %" PRIu64 ",\n  \"loadavg\": ",
		rp->cores, rp->o->seed);
	json_num(f, rp->loadavg);
	fprintf(f, ",\n");
	fprintf(f, "  \"membw\": {\"gbps_all_cores\": ");
	json_num(f, rp->bw_all.sustained);
	fprintf(f, ", \"gbps_one_core\": ");
	json_num(f, rp->bw_one.sustained);
	fprintf(f, ", \"best_pass_gbps_all_cores\": ");
	json_num(f, rp->bw_all.best);
	fprintf(f, ", \"best_pass_gbps_one_core\": ");
	json_num(f, rp->bw_one.best);
	fprintf(f, ", \"array_bytes\": %" PRIu64 "},\n  \"data\": {\n", rp->bw_bytes);
	const struct dataset *sets[3] = { rp->mixed, rp->text, rp->dim };
	const char *setn[3] = { "mixed", "text", "dim" };
	int nsets = 0, k = 0;
	for (int s = 0; s < 3; s++)
		nsets += sets[s]->present;
	for (int s = 0; s < 3; s++)
		if (sets[s]->present)
			json_dataset(f, setn[s], sets[s], ++k == nsets);
	fprintf(f, "  },\n  \"data_bytes\": %" PRIu64 ",\n  \"results\": [\n",
		rp->mixed->bytes + rp->text->bytes);
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		for (int op = 0; op < NOPS; op++) {
			const struct op_res *o = &r->op[op];

			if (!rp->run[op] && o->status != ST_SKIPPED)
				continue;
			if (!rp->o->op_on[op])
				continue;
			fprintf(f, "%s    {\"op\": \"%s\", \"clients\": %u, \"threads\": %u, "
				"\"status\": \"%s\"", first ? "" : ",\n", bench_op_names[op],
				r->clients, r->threads, bench_status_names[o->status]);
			first = false;
			if (o->why[0]) {
				fprintf(f, ", \"message\": ");
				json_str(f, o->why);
			}
			if (o->status != ST_SKIPPED) {
				fprintf(f, ", \"bytes_per_client\": %" PRIu64
					", \"result_rows\": %" PRIu64 ", \"runs\": %" PRIu64
					", \"seconds_mean\": ", o->bytes, o->rows, o->runs);
				json_num(f, o->mean);
				fprintf(f, ", \"seconds_max\": ");
				json_num(f, o->max);
				fprintf(f, ", \"seconds_wall\": ");
				json_num(f, o->wall);
				fprintf(f, ", \"gbps_per_client\": ");
				json_num(f, o->gbps_client);
				fprintf(f, ", \"gbps_total\": ");
				json_num(f, o->gbps_total);
				fprintf(f, ", \"membw_gbps\": ");
				json_num(f, o->membw);
				fprintf(f, ", \"membw_ratio\": ");
				json_num(f, o->ratio);
				fprintf(f, ", \"cpu_seconds_mean\": ");
				json_num(f, o->cpu_mean);
				fprintf(f, ", \"cpu_utilisation\": ");
				json_num(f, o->cpu_util);
				if (o->cpu_others >= 0) {
					fprintf(f, ", \"cpu_others\": ");
					json_num(f, o->cpu_others);
				}
			}
			fputc('}', f);
		}
	}
	fprintf(f, "\n  ],\n  \"clients\": [\n");
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		fprintf(f, "    {\"clients\": %u, \"threads\": %u, \"attach_seconds_mean\": ",
			r->clients, r->threads);
		json_num(f, r->attach_mean);
		fprintf(f, ", \"attach_seconds_max\": ");
		json_num(f, r->attach_max);
		fprintf(f, ", \"touch_seconds_mean\": ");
		json_num(f, r->touch_mean);
		fprintf(f, ", \"rss_peak_per_client\": %" PRIu64 ", \"rss_peak_total\": %"
			PRIu64 ", \"pss_peak_per_client\": %" PRIu64
			", \"pss_peak_total\": %" PRIu64 ", \"rss_base_per_client\": %"
			PRIu64 ", \"pss_base_per_client\": %" PRIu64
			", \"huge_page_bytes_per_client\": %" PRIu64 "}%s\n",
			r->rss_client, r->rss_total, r->pss_client, r->pss_total,
			r->rss_base, r->pss_base, r->huge_client,
			i + 1 < rp->nrounds ? "," : "");
	}
	fprintf(f, "  ],\n  \"total_seconds\": ");
	json_num(f, rp->total_secs);
	fprintf(f, "\n}\n");
	if (ferror(f) | fclose(f)) {
		bench_errorf("--json: writing '%s' failed", path);
		eau2_outfile_abort(&out);
		return -EIO;
	}
	rc = eau2_outfile_commit(&out, &err);
	if (rc)
		bench_errorf("--json: %s", err.msg);
	return rc;
}

/* Total GB/s of o per share of the cores that other processes left to
 * the bench; 0 when unknown. */
static double gbps_left(const struct op_res *o)
{
	if (o->cpu_others < 0 || o->cpu_others >= 1)
		return 0;
	return o->gbps_total / (1 - o->cpu_others);
}

/* The one-client reference of round i for op: the mean total GB/s (and
 * GB/s per unit of cpu%, and per share of the cores left, 0 when any is
 * unknown) of the one-client rounds next to it in time (the nearest
 * before and the nearest after). 0 when there is none. */
static double one_client_ref(const struct report *rp, size_t i, int op, double *per_cpu,
			     double *left)
{
	double sum = 0, sum_cpu = 0, sum_left = 0;
	int n = 0;
	bool all_left = true;

	for (int dir = -1; dir <= 1; dir += 2) {
		for (size_t k = i + dir; k < rp->nrounds; k += dir) { /* wraps below 0 */
			const struct op_res *o = &rp->rounds[k].op[op];
			if (rp->rounds[k].clients != 1)
				continue;
			if (o->status == ST_OK && o->cpu_util > 0) {
				sum += o->gbps_total;
				sum_cpu += o->gbps_total / o->cpu_util;
				sum_left += gbps_left(o);
				all_left &= gbps_left(o) > 0;
				n++;
			}
			break;
		}
	}
	*per_cpu = n ? sum_cpu / n : 0;
	*left = n && all_left ? sum_left / n : 0;
	return n ? sum / n : 0;
}

/*
 * Several clients against one: total GB/s over the one-client round's
 * (the mean of the nearest before and after, so --clients 1,8,1 brackets
 * the 8), and the same per CPU share (each total divided by its cpu%). On
 * a shared host the rounds of many clients run 8x longer and meet more
 * of the other processes' bursts, which alone moved the first ratio
 * from 0.65 to 1.3 between two runs here at a load average of ~15 (the
 * second stayed within 0.77-1.24); when the many clients' cpu% is as high
 * as one client's, the second ratio is the fair one, and a low first
 * ratio with a low cpu% of the many clients points at idle cores. The
 * third divides each total by the share of the cores that the host's
 * other processes left to the bench during its segments (bench_hostcpu.c):
 * load from others cancels out, yet a core eau2 leaves idle still counts
 * against it (the per-CPU-share ratio forgives idle cores).
 */
static void print_scaling(const struct report *rp)
{
	bool head = false;

	for (int op = 0; op < NOPS; op++) {
		if (!rp->o->op_on[op])
			continue;
		for (size_t i = 0; i < rp->nrounds; i++) {
			const struct round *r = &rp->rounds[i];
			const struct op_res *o = &r->op[op];
			double ref_cpu, ref_left, ref = one_client_ref(rp, i, op, &ref_cpu,
								     &ref_left);
			char left[16] = "-", others[16] = "-";

			if (r->clients == 1 || o->status != ST_OK || ref <= 0 ||
			    o->cpu_util <= 0)
				continue;
			if (!head) {
				printf("\nscaling: total GB/s against one client's (the nearest "
				       "one-client rounds), per CPU share (GB/s / cpu%%),\n"
				       "and per share of the cores that other processes left "
				       "(GB/s / (1 - others%%))\n"
				       "%-10s %7s %11s %8s %8s %5s %7s\n", "op", "clients",
				       "x 1 client", "per CPU", "per left", "cpu%", "others%");
				head = true;
			}
			if (ref_left > 0 && gbps_left(o) > 0)
				snprintf(left, sizeof(left), "%.2f", gbps_left(o) / ref_left);
			if (o->cpu_others >= 0)
				snprintf(others, sizeof(others), "%.0f", o->cpu_others * 100);
			printf("%-10s %7u %11.2f %8.2f %8s %5.0f %7s\n", bench_op_names[op],
			       r->clients, o->gbps_total / ref,
			       o->gbps_total / o->cpu_util / ref_cpu, left,
			       o->cpu_util * 100, others);
		}
	}
}

void bench_print_table(const struct report *rp)
{
	char h1[32], h2[32], h3[32], h4[32], tb[16];
	const double gib = 1024.0 * 1024 * 1024;
	uint64_t data = rp->mixed->bytes + rp->text->bytes;

	printf("eau2 bench: store %s (%s), %u cores, seed %" PRIu64 ", load average "
	       "before the run %.2f\n", rp->dir, rp->pages, rp->cores, rp->o->seed,
	       rp->loadavg);
	printf("memory-read bandwidth at the start: %.2f GB/s with %u threads, %.2f "
	       "with 1\n  (sum over a %s heap array, warm, sustained over %u and %u "
	       "passes;\n  fastest single pass %.2f and %.2f GB/s); 'membw' is the same "
	       "with %u threads\n  measured for %.1f s before, between and after the "
	       "segments of each\n  operation's round (mean; one client's round runs "
	       "in %d segments)\n",
	       rp->bw_all.sustained, rp->cores, rp->bw_one.sustained,
	       bench_human(h1, sizeof(h1), (double)rp->bw_bytes), rp->bw_all.passes,
	       rp->bw_one.passes, rp->bw_all.best, rp->bw_one.best, rp->cores,
	       BW_SLICE_SECS, SEGMENTS);
	if (rp->mixed->present)
		printf("data: %-20s %10s, %" PRIu64 " rows (id,k,v int; x double; "
		       "s string, %" PRId64 " values) %s\n", rp->mixed->key,
		       bench_human(h1, sizeof(h1), (double)rp->mixed->bytes),
		       rp->mixed->rows, rp->mixed->n_groups,
		       rp->mixed->generated ? "generated" : "reused");
	if (rp->text->present)
		printf("data: %-20s %10s, %" PRIu64 " lines, %" PRId64 " words, %"
		       PRId64 " distinct %s\n", rp->text->key,
		       bench_human(h1, sizeof(h1), (double)rp->text->bytes), rp->text->rows,
		       rp->text->words, rp->text->n_distinct,
		       rp->text->generated ? "generated" : "reused");
	if (rp->dim->present)
		printf("data: %-20s %10s, %" PRIu64 " rows (join on k: %" PRId64
		       " of the mixed rows match) %s\n", rp->dim->key,
		       bench_human(h1, sizeof(h1), (double)rp->dim->bytes), rp->dim->rows,
		       rp->mixed->n_join, rp->dim->generated ? "generated" : "reused");
	for (const struct dataset *d = rp->mixed; ; d = d == rp->mixed ? rp->text : rp->dim) {
		if (d->generated && d->gen_secs > 0.05)
			printf("      (%s generated in %.1f s)\n", d->key, d->gen_secs);
		if (d == rp->dim)
			break;
	}

	printf("\n%-10s %7s %7s %10s %10s %8s %8s %6s %7s %5s  %s\n", "op",
	       "clients", "threads", "read/cl", "time/cl s", "GB/s/cl", "GB/s tot",
	       "membw", "x membw", "cpu%", "result");
	for (int op = 0; op < NOPS; op++) {
		if (!rp->o->op_on[op])
			continue;
		for (size_t i = 0; i < rp->nrounds; i++) {
			const struct round *r = &rp->rounds[i];
			const struct op_res *o = &r->op[op];

			if (o->status == ST_SKIPPED) {
				printf("%-10s %7u %7s   skipped: %s\n", bench_op_names[op],
				       r->clients, bench_threads_str(r->threads, tb, sizeof(tb)),
				       o->why);
				continue;
			}
			printf("%-10s %7u %7s %10s %10.3f %8.2f %8.2f %6.1f %7.3f %5.0f  %s",
			       bench_op_names[op], r->clients,
			       bench_threads_str(r->threads, tb, sizeof(tb)),
			       bench_human(h1, sizeof(h1), (double)o->bytes), o->mean,
			       o->gbps_client, o->gbps_total, o->membw, o->ratio,
			       o->cpu_util * 100, bench_status_names[o->status]);
			if (o->status == ST_OK)
				printf(" (%" PRIu64 " rows)\n", o->rows);
			else
				printf(": %s\n", o->why);
		}
	}
	print_scaling(rp);
	printf("\n%7s %10s %11s %11s %11s %11s %11s %10s %10s\n", "clients",
	       "attach ms", "1st touch s", "RSS/cl", "RSS total", "PSS/cl",
	       "PSS total", "PSS/data", "+PSS/data");
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];
		double grown = (double)r->pss_total - (double)r->pss_base * r->clients;

		printf("%7u %10.2f %11.3f %11s %11s %11s %11s %10.2f %10.2f\n",
		       r->clients, r->attach_mean * 1e3, r->touch_mean,
		       bench_human(h1, sizeof(h1), (double)r->rss_client),
		       bench_human(h2, sizeof(h2), (double)r->rss_total),
		       bench_human(h3, sizeof(h3), (double)r->pss_client),
		       bench_human(h4, sizeof(h4), (double)r->pss_total),
		       data ? (double)r->pss_total / (double)data : 0,
		       data ? grown / (double)data : 0);
	}
	if (rp->nrounds)
		printf("(peaks per client; +PSS counts only what grew after the fork: "
		       "a client starts at %s RSS, %s PSS)\n",
		       bench_human(h1, sizeof(h1), (double)rp->rounds[0].rss_base),
		       bench_human(h2, sizeof(h2), (double)rp->rounds[0].pss_base));
	printf("\ndata mapped by each client: %s (%.2f GiB); one copy is shared by "
	       "all clients.\n", bench_human(h1, sizeof(h1), (double)data), (double)data / gib);
	if (rp->nrounds) {
		uint64_t huge = rp->rounds[0].huge_client;
		printf("page size in use: %s (%s of it mapped in 2 MiB pages)\n",
		       data && huge >= data / 10 * 9 ? "2 MiB" : huge ? "mixed 4 KiB and 2 MiB" : "4 KiB",
		       bench_human(h1, sizeof(h1), (double)huge));
	}
	double low = 2;
	for (size_t i = 0; i < rp->nrounds; i++)
		for (int op = 0; op < NOPS; op++)
			if (rp->o->op_on[op] && rp->rounds[i].op[op].status == ST_OK &&
			    rp->rounds[i].op[op].wall > 0.5 &&
			    rp->rounds[i].op[op].cpu_util < low)
				low = rp->rounds[i].op[op].cpu_util;
	if (low < 0.7)
		printf("note: some runs of over 0.5 s got only %.0f%% of the cores' time "
		       "(load average %.2f before the run):\nother processes competed "
		       "for the CPUs, so those figures understate this host.\n",
		       low * 100, rp->loadavg);
	printf("total time %.1f s\n", rp->total_secs);
}

double bench_read_loadavg(void)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double l = -1;

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

bool bench_have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);

		if (n && n + 9 < sizeof(buf)) {
			memcpy(buf, path, n);
			strcpy(buf + n, "/gnuplot");
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n + (colon ? 1 : 0);
	}
	return false;
}

/* Two panels: total GB/s per operation, and RSS/PSS totals against the
 * data size, both against the client count. */
int bench_write_plot(const struct report *rp, const char *png)
{
	char dat[] = "/tmp/eau2-bench-plot-XXXXXX";
	struct eau2_outfile out = { .fd = -1 };
	struct eau2_error err = {0};
	int fd = mkstemp(dat), rc = 0, st, gfd = -1;
	const double gib = 1024.0 * 1024 * 1024;
	FILE *f, *g;
	int col;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		bench_errorf("--plot: cannot create a temporary file: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	for (size_t i = 0; i < rp->nrounds; i++) {
		const struct round *r = &rp->rounds[i];

		fprintf(f, "%u", r->clients);
		for (int op = 0; op < NOPS; op++) {
			if (!rp->o->op_on[op])
				continue;
			if (r->op[op].status == ST_OK)
				fprintf(f, " %.4f", r->op[op].gbps_total);
			else
				fputs(" ?", f);
		}
		fprintf(f, " %.4f %.4f %.4f\n", (double)r->rss_total / gib,
			(double)r->pss_total / gib,
			(double)(rp->mixed->bytes + rp->text->bytes) / gib);
	}
	if (ferror(f) | fclose(f)) {
		bench_errorf("--plot: writing %s failed", dat);
		unlink(dat);
		return -EIO;
	}
	/* gnuplot writes into our temporary through an inherited fd, so it
	 * never opens the user's path itself (eau2_outfile). */
	if (eau2_outfile_open(&out, png, 0666, &err) ||
	    (gfd = fcntl(out.fd, F_DUPFD, 3)) < 0) {
		bench_errorf("--plot: %s", out.fd < 0 ? err.msg : strerror(errno));
		eau2_outfile_abort(&out);
		unlink(dat);
		return -EIO;
	}
	fflush(NULL);
	g = popen("gnuplot", "w");
	if (!g) {
		bench_errorf("--plot: cannot run gnuplot: %s", strerror(errno));
		close(gfd);
		eau2_outfile_abort(&out);
		unlink(dat);
		return -EIO;
	}
	fprintf(g, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
		"  set terminal pngcairo size 1400,550 noenhanced\n"
		"} else {\n  set terminal png size 1400,550 noenhanced\n}\n");
	fprintf(g, "set output '/proc/self/fd/%d", gfd);
	fprintf(g, "'\nset datafile missing '?'\nset key left top\nset grid\n"
		"set logscale x 2\nset xlabel 'client processes'\n"
		"set multiplot layout 1,2 title 'eau2 bench (%u cores, memory-read "
		"bandwidth %.1f GB/s)'\n", rp->cores, rp->bw_all.sustained);
	fprintf(g, "set ylabel 'GB/s, all clients'\nset logscale y 10\nplot ");
	col = 2;
	for (int op = 0; op < NOPS; op++) {
		if (!rp->o->op_on[op])
			continue;
		fprintf(g, "'%s' using 1:%d with linespoints title '%s', ", dat, col++,
			bench_op_names[op]);
	}
	fprintf(g, "%.4f with lines dashtype 2 title 'memory bandwidth'\n",
		rp->bw_all.sustained);
	fprintf(g, "unset logscale y\nset yrange [0:*]\nset ylabel 'GiB'\nplot '%s' using 1:%d with linespoints title "
		"'RSS total', '%s' using 1:%d with linespoints title 'PSS total', "
		"'%s' using 1:%d with lines dashtype 2 title 'data size'\n"
		"unset multiplot\n", dat, col, dat, col + 1, dat, col + 2);
	st = pclose(g);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		bench_errorf("--plot: gnuplot failed (status 0x%x)", st);
		rc = -EIO;
	}
	close(gfd);
	if (!rc && (rc = eau2_outfile_commit(&out, &err)))
		bench_errorf("--plot: %s", err.msg);
	eau2_outfile_abort(&out);
	unlink(dat);
	return rc;
}
