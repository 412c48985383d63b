/* SPDX-License-Identifier: MIT */
/*
 * bench_clients.c - the client processes of `eau2 bench` and their
 * rounds: the parent forks N clients, steps them through barriers over
 * pipes, and sums up what they report.
 *
 * Each client has its own pair of pipes: it writes fixed-size messages
 * (smaller than PIPE_BUF, so atomic) on its result pipe and reads one byte
 * from its go pipe at every barrier. A barrier is: every client reports
 * READY, then the parent writes one byte to every go pipe, so all clients
 * start each step together. Steps: start (then attach), attached (then
 * touch every page), touched (then sample memory), one per segment of
 * each operation (the parent measures the memory bandwidth first; then
 * the clients run, report, and after an operation's last segment sample
 * memory with the result held), and a last one before anyone unmaps, so
 * that no sample sees a page mapped by fewer clients than the others. A
 * client that dies shows as EOF on its result pipe; the parent then kills
 * the others of the round (by pid) and fails.
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

/* ------------------------------------------------------------ clients */

enum { MSG_READY = 1, MSG_ATTACH, MSG_OP, MSG_MEM, MSG_FAIL };

struct msg {
	uint32_t kind, op;
	int32_t rc;
	uint32_t runs;     /* OP: how many runs between start and end */
	double a, b;       /* ATTACH: attach, touch secs; OP: start, end time */
	double cpu;        /* OP: CPU seconds of the run, all threads */
	uint64_t rows;     /* ATTACH: bytes mapped in 2 MiB pages */
	int64_t check;
	uint64_t rss, pss; /* bytes */
	char text[256];
};
_Static_assert(sizeof(struct msg) <= 512, "a message is written atomically");

static int write_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 0, or -EIO on EOF or error. */
static int read_full(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Rss and Pss of this process, in bytes, from smaps_rollup. */
static void read_mem(uint64_t *rss, uint64_t *pss)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long long kb;

	*rss = *pss = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Rss: %llu kB", &kb) == 1)
			*rss = kb * 1024;
		else if (sscanf(line, "Pss: %llu kB", &kb) == 1)
			*pss = kb * 1024;
	}
	fclose(f);
}

/* Bytes of shared memory and files this process maps with 2 MiB page
 * table entries (a store on tmpfs mounted huge=within_size or always, or
 * on hugetlbfs): what the page size in use is. */
static uint64_t read_huge(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long long kb;
	uint64_t n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %llu kB", &kb) == 1 ||
		    sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1)
			n += kb * 1024;
	fclose(f);
	return n;
}

static uint64_t read_hwm(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static uint64_t touch_bytes(const void *p, uint64_t n)
{
	const volatile uint8_t *c = p;
	uint64_t s = 0;

	if (!p || !n)
		return 0;
	for (uint64_t off = 0; off < n; off += 4096)
		s += c[off];
	return s + c[n - 1];
}

/* Reads one byte of every page of every chunk: the first-touch cost a
 * client pays once per mapping. */
static int touch_df(const eau2_df *df, uint64_t *sink, struct eau2_error *err)
{
	for (size_t g = 0; g < eau2_df_ngroups(df); g++) {
		for (size_t c = 0; c < eau2_df_ncols(df); c++) {
			struct eau2_chunk_view v;
			uint64_t r;
			int rc = eau2_df_chunk(df, c, g, &v, err);

			if (rc)
				return rc;
			r = v.rows;
			*sink += touch_bytes(v.validity, v.validity ? (r + 7) / 8 : 0);
			switch (v.type) {
			case EAU2_BOOL: *sink += touch_bytes(v.values.bits, (r + 7) / 8); break;
			case EAU2_INT: case EAU2_DOUBLE:
				*sink += touch_bytes(v.values.i64, r * 8);
				break;
			case EAU2_STRING:
				*sink += touch_bytes(v.values.offsets, (r + 1) * 8);
				*sink += touch_bytes(v.data, (uint64_t)v.values.offsets[r]);
				break;
			}
		}
	}
	return 0;
}

static double cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void child_send(const struct client_plan *p, struct msg *m)
{
	if (write_full(p->res_w, m, sizeof(*m)))
		_exit(3);
}

/* Segments of an operation's round. One client's round runs in SEGMENTS
 * (or one per run when it has fewer runs; runs = 0: the first round,
 * timed), so that its scan is compared with bandwidth measured around it.
 * A round of several clients runs in one: each segment ends when the
 * slowest client does, and the cores the others leave idle meanwhile
 * would be counted once per segment. */
static unsigned segments(uint32_t runs, unsigned clients)
{
	if (clients > 1)
		return 1;
	return runs && runs < SEGMENTS ? runs : SEGMENTS;
}

/* Runs of segment seg of nseg; 0 when the segment is timed instead. */
static uint32_t seg_runs(uint32_t runs, unsigned seg, unsigned nseg)
{
	return (uint32_t)((uint64_t)runs * (seg + 1) / nseg -
			  (uint64_t)runs * seg / nseg);
}

static void child_wait(const struct client_plan *p)
{
	struct msg m = { .kind = MSG_READY };
	char c;

	child_send(p, &m);
	if (read_full(p->go_r, &c, 1))
		_exit(3); /* the parent is gone */
}

static void child_fail(const struct client_plan *p, const char *what,
		       const struct eau2_error *err)
{
	struct msg m = { .kind = MSG_FAIL, .rc = err->code };
	size_t n;

	bench_copy_str(m.text, sizeof(m.text), what);
	n = strlen(m.text);
	bench_copy_str(m.text + n, sizeof(m.text) - n, ": ");
	n = strlen(m.text);
	bench_copy_str(m.text + n, sizeof(m.text) - n, err->msg);
	child_send(p, &m);
	_exit(1);
}

/* The arguments of each operation. */
static void op_args(int op, const struct dataset *dim, const char **names,
		    const char **values, size_t *n)
{
	static char where[64];

	switch (op) {
	case OP_SUM:
		names[0] = "columns"; values[0] = "v"; *n = 1;
		break;
	case OP_FILTER:
		snprintf(where, sizeof(where), "v > %d", FILTER_X);
		names[0] = "where"; values[0] = where; *n = 1;
		break;
	case OP_GROUPBY:
		names[0] = "by"; values[0] = "s";
		names[1] = "agg"; values[1] = "sum:v"; *n = 2;
		break;
	case OP_JOIN:
		names[0] = "with"; values[0] = dim->key;
		names[1] = "on"; values[1] = "k";
		names[2] = "how"; values[2] = "inner"; *n = 3;
		break;
	default:
		names[0] = "column"; values[0] = "line"; *n = 1;
		break;
	}
}

static void child_main(const struct client_plan *p) __attribute__((noreturn));
static void child_main(const struct client_plan *p)
{
	struct eau2_error err = {0};
	eau2 *db = NULL;
	eau2_df *mixed = NULL, *text = NULL;
	uint64_t sink = 0, rss, pss, rss_peak = 0, pss_peak = 0, rss0, pss0;
	struct msg m;
	double t0, t1, t1b, t2;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* A slice of the CPUs, so concurrent clients' pools do not pin to
	 * the same cores; the executor reads this mask on its first run. */
	if (p->threads && p->threads < p->ncpus) {
		cpu_set_t set;

		CPU_ZERO(&set);
		for (unsigned j = 0; j < p->threads; j++)
			CPU_SET(p->cpus[(p->index * p->threads + j) % p->ncpus], &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	read_mem(&rss0, &pss0);
	child_wait(p);
	t0 = bench_now();
	if (eau2_env_open(&db, p->dir, &err))
		child_fail(p, "opening the store", &err);
	if (p->mixed->present && eau2_get(db, p->mixed->key, &mixed, &err))
		child_fail(p, "get", &err);
	if (p->text->present && eau2_get(db, p->text->key, &text, &err))
		child_fail(p, "get", &err);
	t1 = bench_now();
	/* Clients attach together, then touch together: one client's page
	 * faults over all the data would otherwise sit in another's attach. */
	child_wait(p);
	t1b = bench_now();
	if ((mixed && touch_df(mixed, &sink, &err)) ||
	    (text && touch_df(text, &sink, &err)))
		child_fail(p, "touching the data", &err);
	t2 = bench_now();
	memset(&m, 0, sizeof(m));
	m.kind = MSG_ATTACH;
	m.a = t1 - t0;
	m.b = t2 - t1b;
	m.check = (int64_t)(sink & 1); /* keeps the touches */
	m.rss = rss0;
	m.pss = pss0;
	m.rows = read_huge();
	child_send(p, &m);
	/* Sample once every client has touched everything: a page mapped
	 * by fewer clients counts more in each one's PSS. */
	child_wait(p);
	read_mem(&rss, &pss);
	rss_peak = rss;
	pss_peak = pss;

	for (int op = 0; op < NOPS; op++) {
		const struct eau2_rower_class *cls;
		const char *names[4], *values[4];
		struct eau2_args args = { .names = names, .values = values };
		struct eau2_run_options ro = { .threads = p->threads };
		eau2_df *res = NULL;
		int rc;

		if (!p->run[op])
			continue;
		op_args(op, p->dim, names, values, &args.n);
		cls = eau2_rower_find(bench_op_names[op]);
		rc = 0;
		/* The first round runs back to back for OP_MIN_SECS (a short
		 * scan is then not dwarfed by one wake-up of the pool); later
		 * rounds give every client that many runs, so all clients do
		 * the same work and start and end together. Either is split
		 * into segments; the parent measures the bandwidth between
		 * them. After a failure the remaining segments run nothing. */
		for (unsigned seg = 0, nseg = segments(p->runs[op], p->clients); seg < nseg; seg++) {
			uint32_t want = seg_runs(p->runs[op], seg, nseg);

			child_wait(p);
			memset(&m, 0, sizeof(m));
			m.kind = MSG_OP;
			m.op = (uint32_t)op;
			m.cpu = cpu_secs();
			m.a = m.b = bench_now();
			while (!rc) {
				eau2_df_release(res);
				res = NULL;
				memset(&err, 0, sizeof(err));
				if (cls)
					rc = eau2_run(db, op == OP_WORDCOUNT ? text : mixed,
						      cls, &args, &ro, &res, &err);
				else
					rc = eau2_error_set(&err, -ENOSYS, "rower %s "
							    "not registered",
							    bench_op_names[op]);
				m.runs++;
				m.b = bench_now();
				if (want ? m.runs >= want :
				    m.b - m.a >= OP_MIN_SECS / nseg ||
				    m.runs >= OP_MAX_RUNS / nseg)
					break;
			}
			m.cpu = cpu_secs() - m.cpu;
			m.rc = rc;
			if (rc) {
				bench_copy_str(m.text, sizeof(m.text), err.msg);
			} else if (res) {
				m.rows = eau2_df_rows(res);
				if (op == OP_SUM &&
				    eau2_df_get_int(res, 0, 0, &m.check, &err))
					m.check = INT64_MIN;
			}
			child_send(p, &m);
		}
		read_mem(&rss, &pss);
		if (rss > rss_peak)
			rss_peak = rss;
		if (pss > pss_peak)
			pss_peak = pss;
		eau2_df_release(res);
	}
	memset(&m, 0, sizeof(m));
	m.kind = MSG_MEM;
	rss = read_hwm();
	m.rss = rss > rss_peak ? rss : rss_peak;
	m.pss = pss_peak;
	child_send(p, &m);
	/* Nobody unmaps before every client has sampled: a client alone on
	 * a page has it all in its PSS. */
	child_wait(p);
	eau2_df_release(mixed);
	eau2_df_release(text);
	eau2_close(db);
	_exit(0);
}

static void kill_clients(struct client_res *cr, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (cr[i].pid > 0 && cr[i].alive) {
			kill(cr[i].pid, SIGKILL);
			waitpid(cr[i].pid, NULL, 0);
			cr[i].alive = false;
		}
	}
}

/* Reads one message of kind from client i; on FAIL or EOF prints why. */
static int recv_msg(struct client_res *cr, unsigned i, uint32_t kind, struct msg *m)
{
	if (read_full(cr[i].res_r, m, sizeof(*m))) {
		int st = 0;

		if (waitpid(cr[i].pid, &st, 0) == cr[i].pid) {
			cr[i].alive = false;
			if (WIFSIGNALED(st))
				bench_errorf("client %u (pid %d) died of signal %d (%s)", i,
				       (int)cr[i].pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
			else
				bench_errorf("client %u (pid %d) exited with status %d", i,
				       (int)cr[i].pid, WEXITSTATUS(st));
		} else {
			bench_errorf("client %u (pid %d) stopped answering", i, (int)cr[i].pid);
		}
		return -EIO;
	}
	if (m->kind == MSG_FAIL) {
		m->text[sizeof(m->text) - 1] = 0;
		bench_errorf("client %u: %s", i, m->text);
		return m->rc ? m->rc : -EIO;
	}
	if (m->kind != kind) {
		bench_errorf("client %u: unexpected message %u", i, m->kind);
		return -EPROTO;
	}
	return 0;
}

/* Waits until all n clients are ready, then lets them go. With bw, first
 * measures the memory-read bandwidth into *gbps while every client waits
 * (so nothing else of the bench competes for the memory); with at, reads
 * the CPUs' ticks into it last (at->total = 0 when they cannot be read). */
static int barrier_bw(struct client_res *cr, unsigned n, const struct client_plan *bw,
		      double *gbps, struct cpu_ticks *at)
{
	struct bw_result res;
	struct msg m;
	char c = 1;
	int rc;

	for (unsigned i = 0; i < n; i++)
		if ((rc = recv_msg(cr, i, MSG_READY, &m)))
			return rc;
	if (bw) {
		if ((rc = bench_bw_measure(bw->bw, bw->bw_threads, BW_SLICE_PASSES,
				     BW_SLICE_SECS, &res))) {
			bench_errorf("measuring the memory bandwidth failed: %s",
			       strerror(-rc));
			return rc;
		}
		*gbps = res.sustained;
	}
	if (at && !bench_cpu_ticks(bw->cpus, bw->ncpus, at))
		at->total = 0;
	for (unsigned i = 0; i < n; i++)
		if (write_full(cr[i].go_w, &c, 1))
			return -EIO;
	return 0;
}

static int barrier(struct client_res *cr, unsigned n)
{
	return barrier_bw(cr, n, NULL, NULL, NULL);
}

/*
 * Runs one round. Each operation runs in segments; before each, and after
 * the last, the bandwidth is measured while the clients wait: membw[op]
 * gets the mean of those measurements, wall[op] the summed wall time of
 * the segments (first start to last end over the clients), cpu_secs_all[op]
 * the CPU seconds the bench's CPUs had over the segments (from their
 * starts to the last client's report; negative when /proc/stat cannot be
 * read), and others[op] how many of them other processes took.
 */
int bench_run_round(const struct client_plan *base, unsigned nclients,
		     struct client_res *cr, double *membw, double *wall,
		     double *others, double *cpu_secs_all)
{
	struct msg m;
	unsigned forked = 0, i, nsamples = 0;
	int rc = 0, prev = -1;
	double sample = 0, bw_sum = 0;

	for (i = 0; i < nclients; i++)
		cr[i].go_w = cr[i].res_r = -1;
	fflush(NULL);
	for (i = 0; i < nclients; i++) {
		int go[2], res[2];
		struct client_plan p = *base;

		if (pipe2(go, O_CLOEXEC))
			goto sys;
		if (pipe2(res, O_CLOEXEC)) {
			close(go[0]);
			close(go[1]);
			goto sys;
		}
		cr[i].pid = fork();
		if (cr[i].pid < 0) {
			close(go[0]); close(go[1]); close(res[0]); close(res[1]);
			goto sys;
		}
		if (cr[i].pid == 0) {
			for (unsigned j = 0; j < i; j++) {
				close(cr[j].go_w);
				close(cr[j].res_r);
			}
			close(go[1]);
			close(res[0]);
			p.index = i;
			p.go_r = go[0];
			p.res_w = res[1];
			child_main(&p);
		}
		close(go[0]);
		close(res[1]);
		cr[i].go_w = go[1];
		cr[i].res_r = res[0];
		cr[i].alive = true;
		forked++;
	}

	if ((rc = barrier(cr, nclients)) || (rc = barrier(cr, nclients)))
		goto out;
	for (i = 0; i < nclients; i++) {
		if ((rc = recv_msg(cr, i, MSG_ATTACH, &m)))
			goto out;
		cr[i].attach = m.a;
		cr[i].touch = m.b;
		cr[i].rss_base = m.rss;
		cr[i].pss_base = m.pss;
		cr[i].huge = m.rows;
	}
	if ((rc = barrier(cr, nclients)))
		goto out;
	for (int op = 0; op < NOPS; op++) {
		if (!base->run[op])
			continue;
		wall[op] = others[op] = cpu_secs_all[op] = 0;
		for (unsigned seg = 0, nseg = segments(base->runs[op], base->clients); seg < nseg; seg++) {
			double first = INFINITY, last = 0, seg_cpu = 0;
			struct cpu_ticks t0, t1;

			if ((rc = barrier_bw(cr, nclients, base, &sample, &t0)))
				goto out;
			if (prev >= 0 && prev != op)
				membw[prev] = (bw_sum + sample) / (nsamples + 1);
			if (prev != op)
				bw_sum = nsamples = 0;
			bw_sum += sample;
			nsamples++;
			prev = op;
			for (i = 0; i < nclients; i++) {
				if ((rc = recv_msg(cr, i, MSG_OP, &m)))
					goto out;
				cr[i].secs[op] += m.b - m.a;
				cr[i].cpu[op] += m.cpu;
				seg_cpu += m.cpu;
				cr[i].runs[op] += m.runs;
				if (m.a < first)
					first = m.a;
				if (m.b > last)
					last = m.b;
				if (!m.runs) /* after a failure */
					continue;
				cr[i].rc[op] = m.rc;
				m.text[sizeof(m.text) - 1] = 0;
				bench_copy_str(cr[i].msg[op], sizeof(cr[i].msg[op]), m.text);
				cr[i].rows[op] = m.rows;
				cr[i].check[op] = m.check;
			}
			wall[op] += last - first;
			/* What the host's other processes took of the CPUs
			 * meanwhile: busy ticks less the clients' CPU time. */
			if (t0.total && bench_cpu_ticks(base->cpus, base->ncpus, &t1) &&
			    t1.total > t0.total) {
				double hz = bench_cpu_ticks_per_sec(), o;

				o = (double)(t1.busy - t0.busy) / hz - seg_cpu;
				others[op] += o > 0 ? o : 0;
				cpu_secs_all[op] += (double)(t1.total - t0.total) / hz;
			} else {
				cpu_secs_all[op] = -INFINITY; /* unknown */
			}
		}
	}
	for (i = 0; i < nclients; i++) {
		if ((rc = recv_msg(cr, i, MSG_MEM, &m)))
			goto out;
		cr[i].rss_peak = m.rss;
		cr[i].pss_peak = m.pss;
	}
	if ((rc = barrier_bw(cr, nclients, prev >= 0 ? base : NULL, &sample, NULL)))
		goto out;
	if (prev >= 0)
		membw[prev] = (bw_sum + sample) / (nsamples + 1);
	for (i = 0; i < nclients; i++) {
		int st = 0;

		if (waitpid(cr[i].pid, &st, 0) == cr[i].pid)
			cr[i].alive = false;
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			bench_errorf("client %u (pid %d) ended badly (status 0x%x)", i,
			       (int)cr[i].pid, st);
			rc = -EIO;
			goto out;
		}
	}
	goto out;
sys:
	rc = -errno;
	bench_errorf("cannot start client %u: %s", forked, strerror(errno));
out:
	if (rc)
		kill_clients(cr, forked);
	for (i = 0; i < forked; i++) {
		close(cr[i].go_w);
		close(cr[i].res_r);
	}
	return rc;
}

/* Fills r from the clients' results, checking answers against ds. */
void bench_summarise(struct round *r, const struct client_res *cr,
		      const struct client_plan *plan, const bool *avail,
		      const struct dataset *mixed, const struct dataset *text,
		      const double *membw, const double *wall, const double *others,
		      const double *cpu_secs_all, unsigned cores)
{
	unsigned n = r->clients;

	r->attach_mean = r->attach_max = r->touch_mean = 0;
	r->rss_total = r->pss_total = r->rss_base = r->pss_base = 0;
	r->huge_client = 0;
	for (unsigned i = 0; i < n; i++) {
		r->attach_mean += cr[i].attach / n;
		r->touch_mean += cr[i].touch / n;
		if (cr[i].attach > r->attach_max)
			r->attach_max = cr[i].attach;
		r->rss_total += cr[i].rss_peak;
		r->pss_total += cr[i].pss_peak;
		r->rss_base += cr[i].rss_base / n;
		r->pss_base += cr[i].pss_base / n;
		r->huge_client += cr[i].huge / n;
	}
	r->rss_client = r->rss_total / n;
	r->pss_client = r->pss_total / n;

	for (int op = 0; op < NOPS; op++) {
		struct op_res *o = &r->op[op];
		int64_t want = 0;

		memset(o, 0, sizeof(*o));
		if (!avail[op]) {
			o->status = ST_SKIPPED;
			snprintf(o->why, sizeof(o->why), "rower %s not available",
				 bench_op_names[op]);
			continue;
		}
		if (!plan->run[op])
			continue;
		switch (op) {
		case OP_SUM: o->bytes = mixed->col_bytes[2]; want = mixed->sum_v; break;
		case OP_FILTER: o->bytes = mixed->col_bytes[2]; want = mixed->n_filter; break;
		case OP_GROUPBY:
			o->bytes = mixed->col_bytes[4] + mixed->col_bytes[2];
			want = mixed->n_groups;
			break;
		case OP_JOIN: o->bytes = mixed->col_bytes[1]; want = mixed->n_join; break;
		default: o->bytes = text->col_bytes[0]; want = text->n_distinct; break;
		}
		o->status = ST_OK;
		for (unsigned i = 0; i < n; i++) {
			double t = cr[i].secs[op] / (cr[i].runs[op] ? cr[i].runs[op] : 1);
			int64_t got = op == OP_SUM ? cr[i].check[op] : (int64_t)cr[i].rows[op];

			o->mean += t / n;
			o->cpu_mean += cr[i].cpu[op] / n;
			o->runs += cr[i].runs[op];
			if (t > o->max)
				o->max = t;
			o->rows = cr[i].rows[op];
			if (cr[i].rc[op] == -ENOSYS) {
				/* a registered stand-in that says it is not built */
				if (o->status == ST_OK) {
					o->status = ST_SKIPPED;
					snprintf(o->why, sizeof(o->why), "rower %s not "
						 "available (%s)", bench_op_names[op],
						 cr[i].msg[op]);
				}
			} else if (cr[i].rc[op] && o->status != ST_FAILED) {
				o->status = ST_FAILED;
				snprintf(o->why, sizeof(o->why), "client %u: %s", i,
					 cr[i].msg[op]);
			} else if (!cr[i].rc[op] && got != want && o->status == ST_OK) {
				o->status = ST_WRONG;
				snprintf(o->why, sizeof(o->why), "client %u: %s %" PRId64
					 ", expected %" PRId64, i,
					 op == OP_SUM ? "sum" : "rows", got, want);
			}
		}
		if (o->status == ST_SKIPPED)
			continue;
		o->wall = wall[op];
		if (o->mean > 0)
			o->gbps_client = (double)o->bytes / o->mean / 1e9;
		if (o->wall > 0)
			o->gbps_total = (double)o->bytes * (double)o->runs / o->wall / 1e9;
		o->membw = membw[op];
		o->ratio = o->membw > 0 ? o->gbps_total / o->membw : 0;
		if (o->wall > 0)
			o->cpu_util = o->cpu_mean * n / (o->wall * cores);
		/* Under a cgroup quota (cores < CPUs) the CPUs' ticks do not
		 * say what was left to the bench: unknown. */
		o->cpu_others = -1;
		if (cpu_secs_all[op] > 0 && cores == plan->ncpus) {
			o->cpu_others = others[op] / cpu_secs_all[op];
			if (o->cpu_others > 1)
				o->cpu_others = 1;
		}
	}
}
