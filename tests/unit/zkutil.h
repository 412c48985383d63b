/* SPDX-License-Identifier: MIT */
/*
 * zkutil.h - a real ZooKeeper for the cmocka tests of src/cluster: starts
 * one (or an ensemble) with tools/zk.sh on ephemeral loopback ports, and
 * makes sure it stops with the test program, however that ends.
 *
 * zku_start forks a reaper first: a small process in its own session that
 * waits on a pipe only the test program holds. When the pipe closes
 * (zku_stop, exit, a failed assertion's abort, a crash, SIGKILL), the
 * reaper runs `zk.sh stop DIR` and removes DIR. Test programs that fork
 * must call zku_forked() in the child, so that children do not keep the
 * pipe open.
 *
 * A missing ZooKeeper (no java, no package) fails the test: tools/deps.sh
 * installs it wherever the suite runs.
 *
 * Child processes (zkc_*): the test binary runs itself again
 * (/proc/self/exe --child ...), so a child starts clean (no inherited
 * ZooKeeper threads) and can be SIGKILLed like a real node. The child
 * answers on its stdout, one line per step; the parent reads those lines
 * with a bound and may send lines to the child's stdin.
 */
#ifndef EAU2_ZKUTIL_H
#define EAU2_ZKUTIL_H

#include <sys/types.h>

#include "cluster/zk.h"

struct zku {
	char *dir;           /* the servers' data, logs, pids */
	char connect[1024];  /* 127.0.0.1:p1[,127.0.0.1:p2...] */
	int n;               /* servers */
	int reaper_fd;       /* write end of the reaper's pipe */
	pid_t reaper;
};

/* Starts n servers (1: standalone); fails the test with zk.sh's output
 * when it cannot. */
struct zku *zku_start(int n);
/* Stops the servers, removes the directory, frees z. NULL is a no-op. */
void zku_stop(struct zku *z);
/* Runs `zk.sh VERB DIR I` (kill, restart, pause, resume); 0 or fails the
 * test. */
int zku_cmd(struct zku *z, const char *verb, int i);
/* The pid of server i (1..n), or -1. */
pid_t zku_pid(const struct zku *z, int i);
/* Restarts every server that is not running (a test that failed half-way
 * leaves the next one a whole ensemble). */
void zku_heal(struct zku *z);
/* In a forked child: let go of the reaper's pipe. */
void zku_forked(struct zku *z);

/* The test program's ZooKeeper, started and stopped by these cmocka group
 * setups and teardown. */
extern struct zku *zku;
int zku_setup1(void **state);  /* a standalone server */
int zku_setup3(void **state);  /* an ensemble of three */
int zku_teardown(void **state);
/* A handle on zku's ZooKeeper under cluster (session_ms 0: the default,
 * calls bounded by 10 s); fails the test when it cannot connect. */
eau2_zk *zku_connect(const char *cluster, int session_ms);

/* ------------------------------------------------- child processes */

struct zkc {
	pid_t pid;
	int in;   /* the child's stdin (write end), -1 once closed */
	int out;  /* the child's stdout (read end) */
};

/* Starts `self --child args...` (args ends with NULL). */
void zkc_spawn(struct zkc *c, const char *const *args);
/* Reads one line from the child within timeout_ms into buf; fails the
 * test on timeout or EOF. */
void zkc_expect(struct zkc *c, const char *want, int timeout_ms);
/* Writes a line to the child. */
void zkc_say(struct zkc *c, const char *line);
/* SIGKILLs the child and reaps it. */
void zkc_kill(struct zkc *c);
/* Waits (at most timeout_ms) for the child to exit; returns its status
 * as from waitpid, or kills it and fails. */
int zkc_wait(struct zkc *c, int timeout_ms);

/* Milliseconds on CLOCK_MONOTONIC. */
long long zkc_now_ms(void);

#endif
