/* SPDX-License-Identifier: MIT */
/*
 * bench_heartbeat.c - what failure detection costs a driver (issue #13):
 * opens a cluster handle on CONNECT (nodes joined with eau2-node --zk)
 * with the network node operations and heartbeats every --heartbeat MS,
 * stays idle for --seconds S, and prints one line:
 *   nodes N beats B seconds S cpu_ms C
 * B: heartbeats answered, all nodes together (the health snapshot's
 * counts); C: the CPU time of this process over the idle window
 * (getrusage), the health thread's and the ZooKeeper client's. The
 * script bench_failover.sh turns these into per-node figures, against a
 * handle opened with heartbeats off (--heartbeat -1) in the same run.
 *
 * Usage: bench_heartbeat CONNECT [--heartbeat MS] [--seconds S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cluster/cluster.h"

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(int argc, char **argv)
{
	struct eau2_error err = {0};
	struct eau2_cluster_net *net = NULL;
	struct eau2_cluster_health_node *v = NULL;
	eau2_cluster *cl = NULL;
	int hb = 1000, secs = 10, rc;
	size_t n = 0;
	uint64_t beats = 0;
	double c0;

	if (argc < 2) {
		fprintf(stderr, "usage: bench_heartbeat CONNECT [--heartbeat MS] [--seconds S]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--heartbeat"))
			hb = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds"))
			secs = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "bench_heartbeat: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (secs < 1 || hb == 0) {
		fprintf(stderr, "bench_heartbeat: --seconds >= 1, --heartbeat not 0\n");
		return 2;
	}
	rc = eau2_cluster_net_new(NULL, NULL, 0, &net, &err);
	if (!rc)
		rc = eau2_cluster_open(&(struct eau2_cluster_options){
			.connect = argv[1], .ops = &eau2_cluster_net_ops, .ctx = net,
			.heartbeat_ms = hb }, &cl, &err);
	/* Connections made and the members known before the window opens. */
	if (!rc && hb > 0)
		rc = eau2_cluster_health_wait(cl, 10000, &err);
	if (rc) {
		fprintf(stderr, "bench_heartbeat: %s\n", err.msg);
		eau2_cluster_close(cl);
		eau2_cluster_net_free(net);
		return 1;
	}
	if (hb > 0 && !eau2_cluster_health(cl, &v, &n, &err))
		for (size_t i = 0; i < n; i++)
			beats -= v[i].beats;
	free(v);
	c0 = cpu_ms();
	sleep((unsigned)secs);
	c0 = cpu_ms() - c0;
	if (hb > 0 && !eau2_cluster_health(cl, &v, &n, &err)) {
		for (size_t i = 0; i < n; i++)
			beats += v[i].beats;
		free(v);
	}
	printf("nodes %zu beats %llu seconds %d cpu_ms %.1f\n", n, (unsigned long long)beats,
	       secs, c0);
	eau2_cluster_close(cl);
	eau2_cluster_net_free(net);
	return 0;
}
