/* SPDX-License-Identifier: MIT */
/*
 * nettest.h - what the transport's tests share: chunks of every type
 * generated from a seed (nulls, empty and long strings), a loopback
 * server on an ephemeral port with a handler table, and a log sink that
 * tests can search. Static functions: each test includes it once.
 */
#ifndef EAU2_NETTEST_H
#define EAU2_NETTEST_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "uring_net/net.h"

#define NT_UNUSED __attribute__((unused))

/* A chunk of `rows` rows of type t: nulls every 7th row when nulls,
 * strings of 0 to 40 bytes with every 5th empty, and, when long_len,
 * one string of long_len bytes. Values are runs with small steps, as
 * real columns often are, so that compression has something to find.
 * Returns 64-byte aligned memory (free()). */
NT_UNUSED static uint8_t *nt_chunk(enum eau2_type t, uint32_t rows, int nulls,
				   uint64_t long_len, uint64_t seed, uint64_t *len)
{
	uint8_t *validity = calloc(rows / 8 + 1, 1);
	int64_t *v = calloc((size_t)rows + 1, 8);
	char *data = NULL;
	uint64_t data_len = 0, s = seed;
	uint32_t nnull = 0;
	struct eau2_chunk_src src = { .type = t, .rows = rows };
	uint8_t *c;

	if (t == EAU2_STRING) {
		uint64_t cap = (uint64_t)rows * 40 + long_len + 1;

		data = malloc(cap);
	}
	for (uint32_t i = 0; i < rows; i++) {
		int null = nulls && i % 7 == 3;

		if (!null)
			validity[i / 8] |= (uint8_t)(1u << (i % 8));
		nnull += (uint32_t)null;
		switch (t) {
		case EAU2_BOOL:
			if (tu_rand(&s) % 3)
				((uint8_t *)v)[i / 8] |= (uint8_t)(1u << (i % 8));
			break;
		case EAU2_INT:
			v[i] = null ? 0 : 1000000 + (int64_t)(i / 16) * 3 + (int64_t)(tu_rand(&s) % 4);
			break;
		case EAU2_DOUBLE: {
			double d = null ? 0 : 100.0 + (double)(tu_rand(&s) % 10000) / 100.0;

			memcpy(&v[i], &d, 8);
			break;
		}
		case EAU2_STRING: {
			uint64_t n = null || i % 5 == 0 ? 0 : tu_rand(&s) % 41;

			if (long_len && i == rows / 2)
				n = long_len;
			for (uint64_t k = 0; k < n; k++)
				data[data_len + k] = (char)('a' + (tu_rand(&s) % 8 == 0 ? tu_rand(&s) % 26 :
								  (i + k) % 6));
			data_len += n;
			v[i + 1] = (int64_t)data_len;
			break;
		}
		}
	}
	src.null_count = nnull;
	src.validity = validity;
	src.values = v;
	src.data = data;
	src.data_len = data_len;
	*len = eau2_chunk_size(t, rows, nnull, data_len);
	c = aligned_alloc(64, (*len + 63) / 64 * 64);
	eau2_chunk_write(c, &src);
	free(validity);
	free(v);
	free(data);
	return c;
}

/* An eau2_net_dst_fn: a new buffer for each chunk, stored at *ctx (the
 * caller frees it). */
NT_UNUSED static void *nt_dst_malloc(void *ctx, const struct eau2_chunk_hdr *h, uint64_t tag,
				     struct eau2_error *err)
{
	void **p = ctx;

	(void)tag, (void)err;
	*p = aligned_alloc(64, (h->total_len + 63) / 64 * 64);
	return *p;
}

/* ------------------------------------------------------------ the server */

#define NT_LOG_MAX 4096

struct nt_log {
	pthread_mutex_t mu;
	char *lines[NT_LOG_MAX];
	int n;
	int echo; /* print lines (EAU2_TEST_VERBOSE) */
};

NT_UNUSED static void nt_log_fn(void *ctx, enum eau2_net_log_level level, const char *line)
{
	struct nt_log *l = ctx;

	pthread_mutex_lock(&l->mu);
	if (l->echo)
		fprintf(stderr, "  [server %s] %s\n", level ? "warn" : "info", line);
	if (l->n < NT_LOG_MAX)
		l->lines[l->n++] = strdup(line);
	pthread_mutex_unlock(&l->mu);
}

/* Waits up to ms for a log line containing all of a and b (b may be
 * NULL); returns it (owned by the log) or NULL. */
NT_UNUSED static const char *nt_log_wait(struct nt_log *l, const char *a, const char *b,
					 int ms)
{
	for (int t = 0; t <= ms; t += 10) {
		pthread_mutex_lock(&l->mu);
		for (int i = 0; i < l->n; i++)
			if (strstr(l->lines[i], a) && (!b || strstr(l->lines[i], b))) {
				pthread_mutex_unlock(&l->mu);
				return l->lines[i];
			}
		pthread_mutex_unlock(&l->mu);
		usleep(10000);
	}
	return NULL;
}

NT_UNUSED static void nt_log_free(struct nt_log *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->lines[i]);
	l->n = 0;
}

/* Identities: a cluster "test", optionally a secret. */
NT_UNUSED static struct eau2_net_opts nt_opts(const char *node, const char *secret)
{
	struct eau2_net_opts o = { .ident = { .cluster = "test", .node_id = node,
					      .role = EAU2_NET_ROLE_CLIENT } };

	if (secret) {
		o.ident.has_secret = true;
		eau2_net_secret_derive(secret, strlen(secret), o.ident.secret);
	}
	return o;
}

NT_UNUSED static eau2_net_server *nt_server(struct eau2_net_server_opts *so, struct nt_log *log,
					    char *addr, size_t cap)
{
	eau2_net_server *s;
	struct eau2_error err = {0};

	pthread_mutex_init(&log->mu, NULL);
	log->echo = getenv("EAU2_TEST_VERBOSE") != NULL;
	so->log = nt_log_fn;
	so->log_ctx = log;
	if (!so->listen)
		so->listen = "127.0.0.1:0";
	if (!so->conn.ident.node_id) {
		struct eau2_net_opts o = nt_opts("server", NULL);

		o.ident.role = EAU2_NET_ROLE_NODE;
		so->conn.ident = o.ident;
	}
	tu_ok(eau2_net_server_start(&s, so, &err), &err);
	snprintf(addr, cap, "%s:%u", strncmp(so->listen, "[::1]", 5) ? "127.0.0.1" : "[::1]",
		 eau2_net_server_port(s));
	return s;
}

#endif
