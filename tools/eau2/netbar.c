/* SPDX-License-Identifier: MIT */
/*
 * netbar.c - the progress bar of a transfer to or from a remote node
 * (push, pull, --remote load and export). The library's transfer calls
 * take no progress hook, so a thread watches this process's TCP sockets
 * instead: every 100 ms it sums their kernel counters (TCP_INFO: bytes
 * acknowledged by the peer when sending, bytes received when receiving)
 * and draws the bar (progress.c) against the dataframe's payload bytes.
 * On links where chunks travel compressed the wire bytes stay below the
 * payload, so the bar is a lower bound of the progress; it never blocks
 * or slows the transfer, and is not started at all when stderr is not a
 * terminal.
 *
 * Access rules: the bar's struct eau2_cli_progress is drawn by the
 * watcher thread only, until eau2_cli_netbar_stop has joined it; the
 * main thread is inside the library call meanwhile.
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_TCP
#define SOL_TCP 6
#endif

struct eau2_cli_netbar {
	struct eau2_cli_progress bar;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;           /* under lock */
	bool sending;
	uint64_t total, base;
};

/* Sum of this process's TCP sockets' byte counters in one direction. */
static uint64_t tcp_bytes(bool sending)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t sum = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);
		char *end;
		long fd = strtol(e->d_name, &end, 10);

		if (*end || end == e->d_name || fd == dirfd(d))
			continue;
		memset(&ti, 0, sizeof(ti));
		if (getsockopt((int)fd, SOL_TCP, TCP_INFO, &ti, &len) != 0)
			continue; /* not a TCP socket */
		if (len >= offsetof(struct tcp_info, tcpi_bytes_received) +
			   sizeof(ti.tcpi_bytes_received))
			sum += sending ? ti.tcpi_bytes_acked : ti.tcpi_bytes_received;
	}
	closedir(d);
	return sum;
}

static void *watch(void *arg)
{
	struct eau2_cli_netbar *b = arg;
	struct timespec until;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		uint64_t now = tcp_bytes(b->sending);
		uint64_t done = now > b->base ? now - b->base : 0;

		/* frames and headers cross too: never past the total */
		if (b->total && done > b->total)
			done = b->total;
		pthread_mutex_unlock(&b->lock);
		eau2_cli_progress(&b->bar, done, b->total);
		pthread_mutex_lock(&b->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!b->stop)
			pthread_cond_timedwait(&b->cond, &b->lock, &until);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct eau2_cli_netbar *eau2_cli_netbar_start(const char *label, uint64_t total,
					      bool sending)
{
	struct eau2_cli_netbar *b;

	if (isatty(STDERR_FILENO) != 1 || !(b = calloc(1, sizeof(*b))))
		return NULL; /* no terminal, or no memory: no bar, same transfer */
	eau2_cli_progress_start(&b->bar, label);
	b->sending = sending;
	b->total = total;
	b->base = tcp_bytes(sending);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if (pthread_create(&b->thread, NULL, watch, b) != 0) {
		pthread_cond_destroy(&b->cond);
		pthread_mutex_destroy(&b->lock);
		free(b);
		return NULL;
	}
	return b;
}

void eau2_cli_netbar_stop(struct eau2_cli_netbar *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	eau2_cli_progress_clear(&b->bar);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct eau2_cli_netbar *eau2_cli_netbar_get(eau2 *db, const char *key, const char *label)
{
	struct eau2_stat st;
	uint64_t total = 0;

	if (isatty(STDERR_FILENO) != 1)
		return NULL;
	/* one round trip for the total; without it the bar shows bytes only */
	if (eau2_stat(db, key, &st, NULL) == 0) {
		total = st.bytes;
		eau2_schema_free(st.schema);
	}
	return eau2_cli_netbar_start(label, total, false);
}
