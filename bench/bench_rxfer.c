/* SPDX-License-Identifier: MIT */
/*
 * bench_rxfer.c - a dataframe pushed to and pulled from an eau2 node over
 * loopback, end to end (the client's store, the remote protocol, the
 * node's store), against a plain TCP send/recv of the same number of
 * bytes over loopback in the same run, one stream each. The node is a
 * child process (eau2_remote_server on a store of its own); a sampler
 * thread reads both processes' RssAnon for the peak anonymous memory of
 * each side.
 *
 *   build/bench_rxfer [--size BYTES] [--reps N] [--text]
 *
 * --size: chunk bytes of the dataframe (default 512M); --text: one string
 * column of words (else int, double, string and bool columns).
 * Prints one line per run and the medians: GB/s of chunk bytes, and the
 * ratio to plain TCP. A second baseline is what the store's fresh pages
 * cost at the time: one thread writing the same bytes into a new file of
 * the node's store (1 MiB pwrites, as a receiver's writer does), before
 * the first run and after the last. Every receiver writes each byte once
 * into such pages; plain TCP stores nothing. (On a VM whose host takes
 * freed memory back, this figure moves several-fold within a minute.)
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "node/remote.h"

/* ------------------------------------------------------------ memory */

static _Atomic long peak_client, peak_node;
static atomic_int sampling = 1;
static pid_t node_pid;

static long rss_anon_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void *sampler(void *arg)
{
	(void)arg;
	while (sampling) {
		long c = rss_anon_kb(getpid()), n = rss_anon_kb(node_pid);

		if (c > peak_client)
			peak_client = c;
		if (n > peak_node)
			peak_node = n;
		usleep(5000);
	}
	return NULL;
}

/* --------------------------------------------------------- the data */

static const char *words[] = { "the", "of", "and", "a", "to", "in", "is", "you", "that",
			       "it", "he", "was", "for", "on", "are", "as", "with", "his",
			       "they", "I", "at", "be", "this", "have", "from", "or", "one",
			       "had", "by", "word", "but", "not", "what", "all", "were" };
#define NWORDS (sizeof(words) / sizeof(words[0]))

static eau2_df *make(eau2 *db, uint64_t size, int text)
{
	struct eau2_error err = {0};
	eau2_schema *s;
	eau2_builder *b;
	eau2_df *df;
	uint64_t seed = 42, r = 0;
	char line[256];

	if (eau2_schema_parse(text ? "line:string" : "id:int,price:double,name:string,ok:bool",
			      &s, &err) || eau2_builder_new(db, s, &b, &err))
		die("schema", &err);
	while (r % EAU2_CHUNK_ROWS || eau2_builder_rows(b, 0) == 0 ||
	       (uint64_t)(eau2_builder_rows(b, 0)) * (text ? 48 : 40) < size) {
		uint64_t x = rnd(&seed);
		size_t len = 0, nw = text ? 4 + x % 12 : 1 + x % 3;
		int rc;

		for (size_t k = 0; k < nw; k++) {
			const char *w = words[(x >> (k * 5)) % NWORDS * (k % 3 ? 1 : 0) +
					      (rnd(&seed) % NWORDS) * (k % 3 ? 0 : 1)];
			size_t l = strlen(w);

			if (len + l + 1 >= sizeof(line))
				break;
			memcpy(line + len, w, l);
			len += l;
			line[len++] = ' ';
		}
		if (text) {
			rc = eau2_builder_append_string(b, 0, line, len, &err);
		} else {
			rc = eau2_builder_append_int(b, 0, (int64_t)(r * 3 + x % 7), &err) ||
			     eau2_builder_append_double(b, 1, (double)(x % 100000) / 100.0, &err) ||
			     eau2_builder_append_string(b, 2, line, len, &err) ||
			     (x % 11 == 0 ? eau2_builder_append_null(b, 3, &err)
					  : eau2_builder_append_bool(b, 3, x & 1, &err));
		}
		if (rc)
			die("append", &err);
		r++;
	}
	if (eau2_builder_finish(b, &df, &err))
		die("finish", &err);
	eau2_schema_free(s);
	return df;
}

/* ---------------------------------------------------------- baseline */

struct sink_arg {
	int fd;
	uint64_t n;
};

static void *tcp_sink(void *arg)
{
	struct sink_arg *a = arg;
	char *buf = malloc(1 << 20);
	uint64_t got = 0;

	while (got < a->n) {
		ssize_t k = recv(a->fd, buf, 1 << 20, 0);

		if (k <= 0)
			break;
		got += (uint64_t)k;
	}
	free(buf);
	return NULL;
}

/* Seconds to send n bytes through a plain loopback TCP socket. */
static double tcp_baseline(uint64_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, a = -1;
	char *buf = calloc(1, 1 << 20);
	struct sink_arg sarg;
	pthread_t t;
	uint64_t sent = 0;
	double t0;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		die("baseline listen", NULL);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) || (a = accept(l, NULL, NULL)) < 0)
		die("baseline connect", NULL);
	sarg = (struct sink_arg){ a, n };
	pthread_create(&t, NULL, tcp_sink, &sarg);
	t0 = now();
	while (sent < n) {
		ssize_t k = send(c, buf, n - sent < (1 << 20) ? n - sent : (1 << 20), 0);

		if (k <= 0)
			die("baseline send", NULL);
		sent += (uint64_t)k;
	}
	pthread_join(t, NULL);
	t0 = now() - t0;
	close(a);
	close(c);
	close(l);
	free(buf);
	return t0;
}

/* Seconds for one thread to write n bytes into a new file of dir (fresh
 * store pages), 1 MiB per pwrite; the file is removed. */
static double store_write(const char *dir, uint64_t n)
{
	char path[PATH_MAX];
	uint64_t seed = 7, off = 0;
	uint64_t *buf = malloc(1 << 20);
	double t0;
	int fd;

	snprintf(path, sizeof(path), "%s/bench_rxfer.write", dir);
	if (!buf || (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		die("store write baseline: cannot create a file in the node's store", NULL);
	for (size_t i = 0; i < (1 << 20) / sizeof(*buf); i++)
		buf[i] = rnd(&seed);
	t0 = now();
	while (off < n) {
		size_t len = n - off < (1 << 20) ? (size_t)(n - off) : (1 << 20);
		ssize_t k = pwrite(fd, buf, len, (off_t)off);

		if (k <= 0)
			die("store write baseline: pwrite", NULL);
		off += (uint64_t)k;
	}
	t0 = now() - t0;
	close(fd);
	unlink(path);
	free(buf);
	return t0;
}

/* ---------------------------------------------------------- the node */

static uint16_t start_node(const char *dir)
{
	int p[2];
	uint16_t port = 0;

	if (pipe(p))
		die("pipe", NULL);
	node_pid = fork();
	if (node_pid == 0) {
		struct eau2_remote_server_opts o = { .listen = "127.0.0.1:0", .store = dir };
		struct eau2_error err = {0};
		eau2_remote_server *s;

		if (eau2_remote_server_start(&s, &o, &err))
			die("node", &err);
		port = eau2_remote_server_port(s);
		if (write(p[1], &port, sizeof(port)) != sizeof(port))
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(p[0], &port, sizeof(port)) != sizeof(port))
		die("node did not start", NULL);
	close(p[0]);
	close(p[1]);
	return port;
}

/* CPU seconds the node has used. */
static double node_cpu(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)node_pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* After "(comm)": state is field 3, utime 14, stime 15. */
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct eau2_error err = {0};
	uint64_t size = 512ull << 20;
	int reps = 3, text = 0;
	char cdir[] = "/dev/shm/bench_rxfer_c_XXXXXX", ndir[] = "/dev/shm/bench_rxfer_n_XXXXXX";
	char addr[64];
	double tcp[16], push[16], pull[16], wr[2], cpu[3][2] = {{0}};
	pthread_t samp;
	eau2 *db, *local;
	eau2_df *df;
	uint64_t bytes;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = arg_num("--size", argv[++i], true);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = (int)arg_num("--reps", argv[++i], false);
		else if (!strcmp(argv[i], "--text"))
			text = 1;
		else {
			fprintf(stderr, "usage: bench_rxfer [--size BYTES] [--reps N] [--text]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > 16)
		reps = 3;
	if (!mkdtemp(cdir) || !mkdtemp(ndir))
		die("mkdtemp", NULL);
	if (eau2_open(&local, &(struct eau2_options){ .store = ndir, .node = EAU2_NODE_OFF },
		      &err))
		die("node store", &err);
	eau2_close(local);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", start_node(ndir));
	if (eau2_open(&db, &(struct eau2_options){ .store = cdir, .node = EAU2_NODE_OFF,
						   .remote = addr }, &err))
		die(addr, &err);
	df = make(db, size, text);
	bytes = eau2_df_bytes(df);
	printf("%s data set: %llu rows, %.1f MiB of chunks, %zu row groups\n",
	       text ? "text" : "mixed", (unsigned long long)eau2_df_rows(df),
	       (double)bytes / 1048576.0, eau2_df_ngroups(df));
	pthread_create(&samp, NULL, sampler, NULL);
	wr[0] = store_write(ndir, bytes);
	for (int r = 0; r < reps; r++) {
		eau2_df *got;
		double t0, c0 = cpu_now(), n0;

		tcp[r] = tcp_baseline(bytes);
		cpu[0][0] += cpu_now() - c0;
		t0 = now();
		c0 = cpu_now();
		n0 = node_cpu();
		if (eau2_put(db, "bench", df, &err))
			die("push", &err);
		push[r] = now() - t0;
		cpu[1][0] += cpu_now() - c0;
		cpu[1][1] += node_cpu() - n0;
		t0 = now();
		c0 = cpu_now();
		n0 = node_cpu();
		if (eau2_get(db, "bench", &got, &err))
			die("pull", &err);
		pull[r] = now() - t0;
		cpu[2][0] += cpu_now() - c0;
		cpu[2][1] += node_cpu() - n0;
		eau2_df_release(got);
		printf("run %d: plain TCP %.2f GB/s, push %.2f GB/s (%.2fx), pull %.2f GB/s (%.2fx)\n",
		       r + 1, bytes / tcp[r] / 1e9, bytes / push[r] / 1e9, tcp[r] / push[r],
		       bytes / pull[r] / 1e9, tcp[r] / pull[r]);
	}
	wr[1] = store_write(ndir, bytes);
	sampling = 0;
	pthread_join(samp, NULL);
	qsort(tcp, (size_t)reps, sizeof(double), cmp_double);
	qsort(push, (size_t)reps, sizeof(double), cmp_double);
	qsort(pull, (size_t)reps, sizeof(double), cmp_double);
	printf("median: plain TCP %.2f GB/s; push %.2f GB/s = %.2fx; pull %.2f GB/s = %.2fx\n",
	       bytes / tcp[reps / 2] / 1e9, bytes / push[reps / 2] / 1e9,
	       tcp[reps / 2] / push[reps / 2], bytes / pull[reps / 2] / 1e9,
	       tcp[reps / 2] / pull[reps / 2]);
	printf("CPU s/GB: plain TCP %.2f (both ends); push client %.2f node %.2f; "
	       "pull client %.2f node %.2f\n", cpu[0][0] / reps / (bytes / 1e9),
	       cpu[1][0] / reps / (bytes / 1e9), cpu[1][1] / reps / (bytes / 1e9),
	       cpu[2][0] / reps / (bytes / 1e9), cpu[2][1] / reps / (bytes / 1e9));
	printf("store write, one thread into fresh pages of the node's store: %.2f GB/s before "
	       "the first run, %.2f after the last (%.2fx and %.2fx plain TCP)\n",
	       bytes / wr[0] / 1e9, bytes / wr[1] / 1e9, tcp[reps / 2] / wr[0],
	       tcp[reps / 2] / wr[1]);
	printf("peak RssAnon: client %.1f MiB, node %.1f MiB\n", peak_client / 1024.0,
	       peak_node / 1024.0);
	eau2_df_release(df);
	eau2_close(db);
	kill(node_pid, SIGKILL);
	waitpid(node_pid, NULL, 0);
	nftw(cdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(ndir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
