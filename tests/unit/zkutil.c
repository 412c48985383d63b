/* SPDX-License-Identifier: MIT */
/* zkutil.c - see zkutil.h. */
#include "testutil.h"
#include "zkutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *zk_sh(void)
{
	static char path[4096];
	const char *src = getenv("EAU2_SRC_DIR");

	if (!src || !*src)
		src = EAU2_SRC_DIR_DEFAULT;
	snprintf(path, sizeof(path), "%s/tools/zk.sh", src);
	return path;
}

/* Runs zk.sh with args; its output (both streams) goes to out. */
static int run_zk_sh(const char *args, char *out, size_t size)
{
	char cmd[8192];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "bash '%s' %s 2>&1", zk_sh(), args);
	p = popen(cmd, "re");
	if (!p)
		fail_msg("popen %s: %s", cmd, strerror(errno));
	if (size)
		out[0] = 0;
	while (size && n < size - 1) {
		size_t r = fread(out + n, 1, size - 1 - n, p);

		if (r == 0)
			break;
		n += r;
	}
	if (size)
		out[n] = 0;
	/* Drain what did not fit, so zk.sh never blocks on a full pipe. */
	for (char sink[512]; fread(sink, 1, sizeof(sink), p) > 0;)
		;
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static pid_t start_reaper(const char *dir, int *wfd)
{
	const char *sh = zk_sh(); /* not after fork: the child only execs */
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		char c;

		close(fds[1]);
		setsid(); /* out of the test's process group and its signals */
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		while (read(fds[0], &c, 1) < 0 && errno == EINTR)
			;
		execl("/bin/sh", "sh", "-c",
		      "bash \"$0\" stop \"$1\" >/dev/null 2>&1; rm -rf \"$1\"",
		      sh, dir, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	*wfd = fds[1];
	return pid;
}

struct zku *zku_start(int n)
{
	struct zku *z = calloc(1, sizeof(*z));
	char args[4096], out[8192], path[4096];
	FILE *f;
	int rc;

	assert_non_null(z);
	z->n = n;
	z->dir = tu_tmpdir("zk");
	z->reaper = start_reaper(z->dir, &z->reaper_fd);
	snprintf(args, sizeof(args), "start '%s' %d", z->dir, n);
	rc = run_zk_sh(args, out, sizeof(out));
	if (rc != 0) {
		fprintf(stderr, "%s\n", out);
		fail_msg("tools/zk.sh %s failed (%d)", args, rc);
	}
	snprintf(path, sizeof(path), "%s/connect", z->dir);
	f = fopen(path, "r");
	if (!f || !fgets(z->connect, sizeof(z->connect), f))
		fail_msg("%s: no connect string", path);
	fclose(f);
	z->connect[strcspn(z->connect, "\n")] = 0;
	return z;
}

void zku_stop(struct zku *z)
{
	int st;

	if (!z)
		return;
	close(z->reaper_fd);
	/* The reaper stops the servers (SIGTERM, at worst SIGKILL after 5 s
	 * each) and removes the directory. */
	for (int i = 0; i < 400; i++) {
		pid_t r = waitpid(z->reaper, &st, WNOHANG);

		if (r == z->reaper || (r < 0 && errno == ECHILD))
			break;
		usleep(50 * 1000);
	}
	free(z->dir);
	free(z);
}

int zku_cmd(struct zku *z, const char *verb, int i)
{
	char args[4096], out[8192];
	int rc;

	snprintf(args, sizeof(args), "%s '%s' %d", verb, z->dir, i);
	rc = run_zk_sh(args, out, sizeof(out));
	if (rc != 0) {
		/* cmocka cuts long messages: the log tail goes out whole. */
		fprintf(stderr, "%s\n", out);
		fail_msg("tools/zk.sh %s failed (%d)", args, rc);
	}
	return 0;
}

pid_t zku_pid(const struct zku *z, int i)
{
	char path[4096];
	long pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/zk%d/pid", z->dir, i);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return (pid_t)pid;
}

static int server_running(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	int running = 0;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		running = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return running;
}

void zku_heal(struct zku *z)
{
	for (int i = 1; i <= z->n; i++) {
		if (!server_running(zku_pid(z, i)))
			zku_cmd(z, "restart", i);
	}
}

void zku_forked(struct zku *z)
{
	if (z)
		close(z->reaper_fd);
}

struct zku *zku;

int zku_setup1(void **state)
{
	(void)state;
	zku = zku_start(1);
	return 0;
}

int zku_setup3(void **state)
{
	(void)state;
	zku = zku_start(3);
	return 0;
}

int zku_teardown(void **state)
{
	(void)state;
	zku_stop(zku);
	zku = NULL;
	return 0;
}

eau2_zk *zku_connect(const char *cluster, int session_ms)
{
	struct eau2_zk_options o = {
		.connect = zku->connect, .cluster = cluster, .session_ms = session_ms,
		.timeout_ms = 10000,
	};
	struct eau2_error err = {0};
	eau2_zk *zk = NULL;

	tu_ok(eau2_zk_connect(&zk, &o, &err), &err);
	return zk;
}

/* ------------------------------------------------- child processes */

long long zkc_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void zkc_spawn(struct zkc *c, const char *const *args)
{
	const char *argv[16];
	int in[2], out[2];
	size_t n = 0;

	argv[n++] = "/proc/self/exe";
	argv[n++] = "--child";
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		fail_msg("pipe: %s", strerror(errno));
	c->pid = fork();
	if (c->pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (c->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
}

void zkc_expect(struct zkc *c, const char *want, int timeout_ms)
{
	char line[512];
	size_t n = 0;
	long long end = zkc_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		long long left = end - zkc_now_ms();
		ssize_t r;

		if (left <= 0)
			fail_msg("child %d: no '%s' within %d ms", (int)c->pid, want, timeout_ms);
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		r = read(c->out, line + n, 1);
		if (r <= 0)
			fail_msg("child %d exited before saying '%s' (got '%.*s')",
				 (int)c->pid, want, (int)n, line);
		if (line[n] == '\n') {
			line[n] = 0;
			if (strcmp(line, want))
				fail_msg("child %d said '%s', not '%s'", (int)c->pid, line, want);
			return;
		}
		if (++n == sizeof(line) - 1)
			fail_msg("child %d: line too long", (int)c->pid);
	}
}

void zkc_say(struct zkc *c, const char *line)
{
	size_t n = strlen(line);

	if (write(c->in, line, n) != (ssize_t)n || write(c->in, "\n", 1) != 1)
		fail_msg("write to child %d: %s", (int)c->pid, strerror(errno));
}

static void zkc_close(struct zkc *c)
{
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	c->in = c->out = -1;
	c->pid = 0;
}

void zkc_kill(struct zkc *c)
{
	int st;

	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &st, 0);
	}
	zkc_close(c);
}

int zkc_wait(struct zkc *c, int timeout_ms)
{
	long long end = zkc_now_ms() + timeout_ms;
	int st = 0;

	while (waitpid(c->pid, &st, WNOHANG) == 0) {
		if (zkc_now_ms() > end) {
			pid_t pid = c->pid;

			zkc_kill(c);
			fail_msg("child %d did not exit within %d ms", (int)pid, timeout_ms);
		}
		usleep(10 * 1000);
	}
	zkc_close(c);
	return st;
}
