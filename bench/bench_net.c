/* SPDX-License-Identifier: MIT */
/*
 * bench_net.c - the transport over loopback, one connection: chunks of a
 * mixed data set (int, double, string, bool columns) and of a text set
 * (lines of words) sent with each codec policy, against a plain TCP
 * send/recv loop of the same bytes over loopback in the same run (what
 * iperf3 measures; iperf3 itself too when installed). Reports GB/s of
 * chunk bytes, wire bytes, the compression ratio per column type, CPU
 * seconds per GB on each side (thread CPU time: the sender's, and the
 * server worker's), then plain send against SEND_ZC, and shuffle + LZ4
 * against LZ4 alone (and c-blosc's own shuffle + LZ4 when built with it).
 *
 *   build/bench_net [--size BYTES] [--link-rate BYTES_PER_S] [--reps N]
 *
 * --size: chunk bytes sent per run (default 1G); --link-rate: the
 * receiver reads no faster than this (default 125M, a 1 Gbit/s link) for
 * the runs marked "slow link", which show whether AUTO compresses when
 * the link, not the CPU, is what limits.
 */
#include <errno.h>
#include <lz4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef EAU2_HAVE_BLOSC
#include <blosc.h>
#endif

#include "bench.h"
#include "df/df.h"
#include "uring_net/net.h"

#define T_SINK 0x100
#define T_DONE 0x101
#define POOL_BYTES (96u << 20)  /* distinct chunks per data set */
#define DST_BYTES (128u << 20)  /* the receiver's destination ring */

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ----------------------------------------------------------- data sets */

struct pool {
	const char *name;
	uint8_t **chunks;
	size_t n;
	uint64_t bytes;
};

static uint8_t *build(const struct eau2_chunk_src *src)
{
	uint64_t len = eau2_chunk_size(src->type, src->rows, src->null_count, src->data_len);
	uint8_t *c = aligned_alloc(64, (len + 63) / 64 * 64);

	if (!c)
		die("out of memory", NULL);
	eau2_chunk_write(c, src);
	return c;
}

static void add(struct pool *p, uint8_t *c)
{
	p->chunks = realloc(p->chunks, (p->n + 1) * sizeof(*p->chunks));
	p->chunks[p->n++] = c;
	p->bytes += ((struct eau2_chunk_hdr *)(void *)c)->total_len;
}

/* A word of the vocabulary, Zipf-like: low indexes are far more common. */
static const char *word(uint64_t *s, char (*vocab)[12], size_t nv)
{
	double u = (double)(rnd(s) >> 11) / 9007199254740992.0;

	return vocab[(size_t)((double)nv * u * u * u) % nv];
}

/* Mixed: id (sequential int), qty (1..100), price (2 decimals), name
 * (from 1000 names), flag (bool), with a few nulls, as eau2 gen mixed. */
static void gen_mixed(struct pool *p, uint64_t *s, char (*vocab)[12])
{
	const uint32_t rows = EAU2_CHUNK_ROWS;
	int64_t *iv = malloc(rows * 8), *off = malloc((rows + 1) * 8);
	double *dv = malloc(rows * 8);
	uint8_t *valid = malloc(rows / 8), *bits = malloc(rows / 8);
	char *data = malloc(rows * 16);
	int64_t id = 0;

	p->name = "mixed";
	while (p->bytes < POOL_BYTES) {
		struct eau2_chunk_src src = { .rows = rows };
		uint64_t dl = 0;
		uint32_t nulls = 0;

		memset(valid, 0xff, rows / 8);
		for (uint32_t i = 0; i < rows; i++)
			iv[i] = id++;
		src.type = EAU2_INT, src.values = iv;
		add(p, build(&src));
		for (uint32_t i = 0; i < rows; i++) {
			iv[i] = 1 + (int64_t)(rnd(s) % 100);
			if (rnd(s) % 50 == 0) {
				valid[i / 8] &= (uint8_t)~(1u << (i % 8));
				iv[i] = 0;
				nulls++;
			}
		}
		src.null_count = nulls, src.validity = valid;
		add(p, build(&src));
		for (uint32_t i = 0; i < rows; i++)
			dv[i] = (double)(rnd(s) % 100000) / 100.0;
		src = (struct eau2_chunk_src){ .type = EAU2_DOUBLE, .rows = rows, .values = dv };
		add(p, build(&src));
		off[0] = 0;
		for (uint32_t i = 0; i < rows; i++) {
			const char *w = vocab[rnd(s) % 1000];
			size_t n = strlen(w);

			memcpy(data + dl, w, n);
			dl += n;
			off[i + 1] = (int64_t)dl;
		}
		src = (struct eau2_chunk_src){ .type = EAU2_STRING, .rows = rows, .values = off,
					       .data = data, .data_len = dl };
		add(p, build(&src));
		for (uint32_t i = 0; i < rows / 8; i++)
			bits[i] = (uint8_t)rnd(s);
		src = (struct eau2_chunk_src){ .type = EAU2_BOOL, .rows = rows, .values = bits };
		add(p, build(&src));
	}
	free(iv), free(off), free(dv), free(valid), free(bits), free(data);
}

/* Text: one string column, a line of 4 to 16 words per row. */
static void gen_text(struct pool *p, uint64_t *s, char (*vocab)[12], size_t nv)
{
	const uint32_t rows = EAU2_CHUNK_ROWS;
	int64_t *off = malloc((rows + 1) * 8);
	char *data = malloc((size_t)rows * 16 * 13);

	p->name = "text";
	while (p->bytes < POOL_BYTES) {
		struct eau2_chunk_src src = { .type = EAU2_STRING, .rows = rows, .values = off,
					      .data = data };
		uint64_t dl = 0;

		off[0] = 0;
		for (uint32_t i = 0; i < rows; i++) {
			unsigned nw = 4 + (unsigned)(rnd(s) % 13);

			for (unsigned k = 0; k < nw; k++) {
				const char *w = word(s, vocab, nv);
				size_t n = strlen(w);

				memcpy(data + dl, w, n);
				dl += n;
				data[dl++] = k + 1 < nw ? ' ' : '.';
			}
			off[i + 1] = (int64_t)dl;
		}
		src.data_len = dl;
		add(p, build(&src));
	}
	free(off), free(data);
}

/* ---------------------------------------------------------- the server */

struct sink {
	uint8_t *dst;
	uint64_t at;
	double link_rate; /* bytes/s the receiver allows itself; 0: no limit */
};

static struct sink sink;

static void *dst_ring(void *ctx, const struct eau2_chunk_hdr *h, uint64_t tag,
		      struct eau2_error *err)
{
	struct sink *s = ctx;
	uint64_t len = (h->total_len + 63) / 64 * 64;

	(void)tag;
	if (len > DST_BYTES) {
		eau2_error_set(err, -EMSGSIZE, "chunk larger than the bench's buffer");
		return NULL;
	}
	if (s->at + len > DST_BYTES)
		s->at = 0;
	s->at += len;
	return s->dst + s->at - len;
}

/* T_SINK, aux[0] = chunks: receives them; replies T_DONE with the
 * worker's CPU ns in aux[0] and its decompression ns in aux[1]. */
static int on_request(void *ctx, eau2_net_conn *c, const struct eau2_net_frame *f,
		      const void *payload)
{
	struct sink *s = ctx;
	struct eau2_error err = {0};
	struct eau2_net_stats st0, st;
	struct eau2_net_frame r = { .type = T_DONE, .req = f->req };
	double t0 = now(), c0 = thread_cpu();
	int rc = 0;

	(void)payload;
	eau2_net_stats(c, &st0);
	for (uint64_t i = 0; i < f->aux[0] && rc == 0; i++) {
		rc = eau2_net_recv_chunk(c, NULL, 0, dst_ring, s, NULL, &err);
		if (rc == 0 && s->link_rate > 0) {
			double due;

			eau2_net_stats(c, &st);
			due = t0 + (double)(st.bytes_recv - st0.bytes_recv) / s->link_rate;
			while (now() < due)
				usleep(200);
		}
	}
	if (rc) {
		fprintf(stderr, "bench_net: server: %s\n", err.msg);
		return rc;
	}
	eau2_net_stats(c, &st);
	r.aux[0] = (uint64_t)((thread_cpu() - c0) * 1e9);
	r.aux[1] = st.decompress_ns - st0.decompress_ns;
	return eau2_net_send(c, &r, NULL, &err);
}

/* ---------------------------------------------------------------- runs */

struct result {
	double secs, cpu_tx, cpu_rx, comp_s, decomp_s;
	uint64_t chunk_bytes, wire_bytes, zc_copied, zc_sends;
	struct eau2_net_stats st;
};

static void run(eau2_net_conn *c, const struct pool *p, uint64_t size, enum eau2_net_policy pol,
		bool zc, struct result *out)
{
	struct eau2_net_stats st0, st1;
	struct eau2_error err = {0};
	struct eau2_net_frame f = { .type = T_SINK, .req = 1 };
	uint64_t n = 0, bytes = 0;
	double t0, c0;

	for (size_t i = 0; bytes < size; i = (i + 1) % p->n, n++)
		bytes += ((struct eau2_chunk_hdr *)(void *)p->chunks[i])->total_len;
	eau2_net_set_policy(c, pol);
	eau2_net_set_send_zc(c, zc);
	eau2_net_stats(c, &st0);
	f.aux[0] = n;
	t0 = now();
	c0 = thread_cpu();
	if (eau2_net_send(c, &f, NULL, &err))
		die("request", &err);
	for (uint64_t i = 0; i < n; i++)
		if (eau2_net_send_chunk(c, p->chunks[i % p->n], 1, i, &err))
			die("send_chunk", &err);
	if (eau2_net_recv(c, &f, NULL, 0, &err))
		die("reply", &err);
	out->secs = now() - t0;
	out->cpu_tx = thread_cpu() - c0;
	out->cpu_rx = (double)f.aux[0] * 1e-9;
	out->decomp_s = (double)f.aux[1] * 1e-9;
	eau2_net_stats(c, &st1);
	memset(&out->st, 0, sizeof(out->st));
	for (int t = 0; t < 5; t++)
		for (int k = 0; k < EAU2_NET_NCODECS; k++) {
			out->st.sent[t][k].raw = st1.sent[t][k].raw - st0.sent[t][k].raw;
			out->st.sent[t][k].wire = st1.sent[t][k].wire - st0.sent[t][k].wire;
			out->st.sent[t][k].blocks = st1.sent[t][k].blocks - st0.sent[t][k].blocks;
		}
	out->chunk_bytes = bytes;
	out->wire_bytes = st1.bytes_sent - st0.bytes_sent;
	out->comp_s = (double)(st1.compress_ns - st0.compress_ns) * 1e-9;
	out->zc_copied = st1.zc_copied - st0.zc_copied;
	out->zc_sends = st1.zc_sends - st0.zc_sends;
}

static const char *pol_name(enum eau2_net_policy p)
{
	static const char *const n[] = { "auto", "lz4", "shuffle", "none" };

	return n[p];
}

static void report(const char *set, const char *what, const struct result *r)
{
	static const char *const tn[] = { "", "bool", "int", "double", "string" };
	double gb = (double)r->chunk_bytes / 1e9;
	char ratios[200] = "";
	size_t at = 0;

	for (int t = 1; t <= 4; t++) {
		uint64_t raw = 0, wire = 0, comp = 0;

		for (int k = 0; k < EAU2_NET_NCODECS; k++) {
			raw += r->st.sent[t][k].raw;
			wire += r->st.sent[t][k].wire;
			comp += k ? r->st.sent[t][k].raw : 0;
		}
		if (raw)
			at += (size_t)snprintf(ratios + at, sizeof(ratios) - at, " %s %.2f(%2.0f%%)",
					       tn[t], (double)wire / (double)raw,
					       100.0 * (double)comp / (double)raw);
	}
	printf("  %-6s %-18s %6.2f GB/s  wire %6.2f GB  cpu/GB send %5.2f s recv %5.2f s"
	       "  (lz4 %4.1f s, unlz4 %4.1f s) ratio:%s\n",
	       set, what, gb / r->secs, (double)r->wire_bytes / 1e9, r->cpu_tx / gb,
	       r->cpu_rx / gb, r->comp_s, r->decomp_s, ratios);
	fflush(stdout);
}

/* ------------------------------------------------------------ baselines */

struct tcp_side {
	int fd;
	uint64_t bytes;
	const struct pool *p;
	double cpu;
};

static void *tcp_recv(void *arg)
{
	struct tcp_side *t = arg;
	uint8_t *buf = malloc(4u << 20);
	uint64_t got = 0;
	double c0 = thread_cpu();

	while (got < t->bytes) {
		ssize_t n = recv(t->fd, buf, 4u << 20, 0);

		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	t->cpu = thread_cpu() - c0;
	free(buf);
	return NULL;
}

/* The same chunk bytes through a plain blocking TCP socket over
 * loopback: send() of each chunk, recv() into a 4 MiB buffer. */
static void tcp_baseline(const struct pool *p, uint64_t size, struct result *r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), s, one = 1;
	struct tcp_side rx = {0};
	pthread_t th;
	uint64_t bytes = 0;
	double t0, c0;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1))
		die("baseline listen", NULL);
	getsockname(l, (struct sockaddr *)&sa, &sl);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("baseline connect", NULL);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rx.fd = accept(l, NULL, NULL);
	for (size_t i = 0; bytes < size; i = (i + 1) % p->n)
		bytes += ((struct eau2_chunk_hdr *)(void *)p->chunks[i])->total_len;
	rx.bytes = bytes;
	pthread_create(&th, NULL, tcp_recv, &rx);
	t0 = now();
	c0 = thread_cpu();
	bytes = 0;
	for (size_t i = 0; bytes < rx.bytes; i = (i + 1) % p->n) {
		const uint8_t *c = p->chunks[i];
		uint64_t len = ((const struct eau2_chunk_hdr *)(const void *)c)->total_len, done = 0;

		while (done < len) {
			ssize_t n = send(s, c + done, len - done, MSG_NOSIGNAL);

			if (n <= 0)
				die("baseline send", NULL);
			done += (uint64_t)n;
		}
		bytes += len;
	}
	pthread_join(th, NULL);
	memset(r, 0, sizeof(*r));
	r->secs = now() - t0;
	r->cpu_tx = thread_cpu() - c0;
	r->cpu_rx = rx.cpu;
	r->chunk_bytes = r->wire_bytes = bytes;
	close(s), close(rx.fd), close(l);
}

/* iperf3 over loopback for 3 s, one stream, when installed. */
static void iperf3(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	char cmd[256], line[512];
	pid_t srv;
	FILE *f;
	unsigned port;

	if (system("command -v iperf3 >/dev/null 2>&1") != 0) {
		printf("  iperf3: not installed\n");
		return;
	}
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	bind(l, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(l, (struct sockaddr *)&sa, &sl);
	port = ntohs(sa.sin_port);
	close(l);
	srv = fork();
	if (srv == 0) {
		char p[16];

		snprintf(p, sizeof(p), "%u", port);
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execlp("iperf3", "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", p, (char *)NULL);
		_exit(127);
	}
	usleep(300000);
	snprintf(cmd, sizeof(cmd), "iperf3 -c 127.0.0.1 -p %u -t 3 -f g 2>&1", port);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "receiver"))
			printf("  iperf3 (3 s, one stream): %s", line);
	if (f)
		pclose(f);
	waitpid(srv, NULL, 0);
}

/* ------------------------------------------------------- codecs alone */

/* Every fixed-width values buffer of the pool through LZ4 alone and
 * through shuffle + LZ4 (the transport's encoder, forced), and through
 * c-blosc's shuffle + LZ4 when built with it: ratio and speed on one
 * core, compression and decompression. */
static void codecs(const struct pool *p)
{
	static const char *const tn[] = { "", "bool", "int", "double", "string" };
	uint8_t *s0 = malloc(EAU2_NET_SCRATCH_BYTES), *s1 = malloc(EAU2_NET_SCRATCH_BYTES);
	uint8_t *dst = aligned_alloc(64, 64u << 20);

	for (int t = 2; t <= 4; t++) {
		for (int pol = EAU2_NET_FORCE_LZ4; pol <= EAU2_NET_FORCE_SHUFFLE; pol++) {
			struct eau2_net_stats st = {0}, rst = {0};
			struct eau2_net_tx tx;
			struct eau2_net_rx rx;
			uint8_t *wire = malloc(64u << 20);
			uint64_t raw = 0, wbytes = 0;
			int kind_values_only = 1;

			(void)kind_values_only;
			eau2_net_tx_init(&tx, (enum eau2_net_policy)pol, &st);
			for (size_t i = 0; i < p->n; i++) {
				const struct eau2_chunk_hdr *h = (const void *)p->chunks[i];
				uint8_t hdr[EAU2_NET_HDR_SIZE];
				struct iovec iov[2];
				int niov, rc;
				size_t wl = 0;
				struct eau2_net_frame f;
				struct eau2_chunk_hdr hh;

				if (h->type != t)
					continue;
				eau2_net_tx_begin(&tx, p->chunks[i], 0, 0, s0, s1, NULL);
				/* encode to memory, then decode it back (timed in stats) */
				while (eau2_net_tx_next(&tx, NULL, hdr, iov, &niov)) {
					memcpy(wire + wl, hdr, sizeof(hdr));
					wl += sizeof(hdr);
					memcpy(wire + wl, iov[0].iov_base, iov[0].iov_len);
					wl += iov[0].iov_len;
				}
				eau2_net_rx_init(&rx, &rst);
				eau2_net_frame_decode(wire, wl, &f, NULL);
				eau2_net_rx_begin(&rx, &f, wire + 64, 0, &hh, NULL);
				rc = eau2_net_rx_dst(&rx, dst, s0, s1, NULL);
				for (size_t o = 64 + f.len; rc == 0 && o < wl;) {
					void *into;

					eau2_net_frame_decode(wire + o, wl - o, &f, NULL);
					eau2_net_rx_block(&rx, &f, &into, NULL);
					memcpy(into, wire + o + 64, f.len);
					rc = eau2_net_rx_block_done(&rx, &f, NULL);
					o += 64 + f.len;
				}
				if (rc != 1)
					die("codec round trip", NULL);
			}
			for (int k = 1; k < EAU2_NET_NCODECS; k++) {
				raw += st.sent[t][k].raw;
				wbytes += st.sent[t][k].wire;
			}
			raw += st.sent[t][0].raw;
			wbytes += st.sent[t][0].wire;
			printf("  %-6s %-8s %-14s ratio %.3f  compress %5.2f GB/s  decompress %5.2f GB/s\n",
			       p->name, tn[t], pol == EAU2_NET_FORCE_LZ4 ? "lz4" : "shuffle+lz4",
			       (double)wbytes / (double)raw, (double)raw / 1e9 / ((double)st.compress_ns * 1e-9),
			       (double)raw / 1e9 / ((double)rst.decompress_ns * 1e-9));
			free(wire);
		}
#ifdef EAU2_HAVE_BLOSC
		{
			uint64_t raw = 0, wbytes = 0;
			double tc = 0, td = 0;

			for (size_t i = 0; i < p->n; i++) {
				const struct eau2_chunk_hdr *h = (const void *)p->chunks[i];
				size_t n = h->values_len;
				double c0;
				int w;

				if (h->type != t || t == EAU2_BOOL)
					continue;
				c0 = thread_cpu();
				w = blosc_compress_ctx(1, BLOSC_SHUFFLE, 8, n, p->chunks[i] + h->values_off,
						       s0, EAU2_NET_SCRATCH_BYTES, "lz4", 0, 1);
				tc += thread_cpu() - c0;
				c0 = thread_cpu();
				if (w <= 0 || blosc_decompress_ctx(s0, s1, EAU2_NET_SCRATCH_BYTES, 1) != (int)n)
					die("blosc", NULL);
				td += thread_cpu() - c0;
				raw += n;
				wbytes += (uint64_t)w;
			}
			if (raw)
				printf("  %-6s %-8s %-14s ratio %.3f  compress %5.2f GB/s  decompress %5.2f GB/s"
				       "  (values buffers only)\n", p->name, tn[t], "blosc shuf+lz4",
				       (double)wbytes / (double)raw, (double)raw / 1e9 / tc,
				       (double)raw / 1e9 / td);
		}
#endif
	}
	free(s0), free(s1), free(dst);
}

int main(int argc, char **argv)
{
	uint64_t size = 1ull << 30, seed = 42, reps = 1;
	double link = 125e6;
	struct eau2_net_server_opts so = { .listen = "127.0.0.1:0", .on_request = on_request,
					   .ctx = &sink, .workers = 1 };
	struct eau2_net_opts o = { .ident = { .cluster = "bench", .node_id = "client",
					      .role = EAU2_NET_ROLE_CLIENT } };
	struct eau2_error err = {0};
	struct pool sets[2] = {{0}};
	char (*vocab)[12] = malloc(5000 * sizeof(*vocab));
	eau2_net_server *srv;
	eau2_net_conn *c;
	char addr[64];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = arg_num("--size", argv[++i], true);
		else if (!strcmp(argv[i], "--link-rate") && i + 1 < argc)
			link = (double)arg_num("--link-rate", argv[++i], true);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = arg_num("--reps", argv[++i], false);
		else {
			fprintf(stderr, "usage: %s [--size BYTES] [--link-rate BYTES_PER_S] [--reps N]\n",
				argv[0]);
			return 2;
		}
	}
	for (size_t i = 0; i < 5000; i++) {
		size_t n = 2 + rnd(&seed) % 9;

		for (size_t k = 0; k < n; k++)
			vocab[i][k] = (char)('a' + rnd(&seed) % 26);
		vocab[i][n] = 0;
	}
	gen_mixed(&sets[0], &seed, vocab);
	gen_text(&sets[1], &seed, vocab, 5000);
	sink.dst = aligned_alloc(64, DST_BYTES);
	memset(sink.dst, 0, DST_BYTES);
	so.conn.ident = (struct eau2_net_ident){ .cluster = "bench", .node_id = "server",
						 .role = EAU2_NET_ROLE_NODE };
	if (eau2_net_server_start(&srv, &so, &err))
		die("server", &err);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", eau2_net_server_port(srv));
	if (eau2_net_connect(&c, addr, &o, &err))
		die("connect", &err);
	printf("bench_net: %.2f GB of chunks per run over loopback, one connection "
	       "(ratio: wire/raw per type, and the share of its bytes compressed)\n",
	       (double)size / 1e9);
	for (uint64_t rep = 0; rep < reps; rep++) {
		for (int d = 0; d < 2; d++) {
			struct result r;

			tcp_baseline(&sets[d], size, &r);
			report(sets[d].name, "plain TCP", &r);
			for (int pol = EAU2_NET_FORCE_NONE; pol >= EAU2_NET_AUTO; pol--) {
				char what[32];

				run(c, &sets[d], size, (enum eau2_net_policy)pol, false, &r);
				snprintf(what, sizeof(what), "eau2 %s", pol_name((enum eau2_net_policy)pol));
				report(sets[d].name, what, &r);
			}
			run(c, &sets[d], size, EAU2_NET_FORCE_NONE, true, &r);
			report(sets[d].name, "eau2 none SEND_ZC", &r);
			printf("  %-6s (SEND_ZC: %llu of %llu zero-copy sends were copied by the kernel)\n",
			       sets[d].name, (unsigned long long)r.zc_copied,
			       (unsigned long long)r.zc_sends);
		}
	}
	iperf3();
	printf("slow link: the receiver reads at most %.0f MB/s (%.2f Gbit/s)\n", link / 1e6,
	       link * 8 / 1e9);
	sink.link_rate = link;
	for (int d = 0; d < 2; d++) {
		struct result r;
		uint64_t small = size / 4 < (256u << 20) ? size / 4 : (256u << 20);

		for (int pol = EAU2_NET_FORCE_NONE; pol >= EAU2_NET_AUTO; pol--) {
			char what[32];

			if (pol == EAU2_NET_FORCE_LZ4)
				continue;
			run(c, &sets[d], small, (enum eau2_net_policy)pol, false, &r);
			snprintf(what, sizeof(what), "eau2 %s", pol_name((enum eau2_net_policy)pol));
			report(sets[d].name, what, &r);
		}
	}
	sink.link_rate = 0;
	printf("codecs alone, one core (encode and decode of each chunk of the pool):\n");
	codecs(&sets[0]);
	eau2_net_close(c);
	eau2_net_server_stop(srv);
	for (int d = 0; d < 2; d++) {
		for (size_t i = 0; i < sets[d].n; i++)
			free(sets[d].chunks[i]);
		free(sets[d].chunks);
	}
	free(sink.dst);
	free(vocab);
	return 0;
}
