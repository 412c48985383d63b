/* SPDX-License-Identifier: MIT */
/*
 * cmd_sync.c - shared state from the command line: `eau2 watch KEY`
 * waits for a key to change (eau2_watch), `eau2 lock NAME -- CMD...` runs
 * a command holding a named lock (eau2_lock). On a cluster both are
 * ZooKeeper's; on the local store inotify and flock.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* "--timeout MS": at most INT_MAX; absent (the defaults' UINT64_MAX):
 * forever, -1. */
#define FOREVER UINT64_MAX

static int wait_ms(uint64_t ms, const char *cmd, int *out)
{
	if (ms == FOREVER) {
		*out = -1;
		return 0;
	}
	if (ms > INT_MAX) {
		eau2_cli_errorf("%s: --timeout %" PRIu64 " is over %d ms", cmd, ms, INT_MAX);
		return -1;
	}
	*out = (int)ms;
	return 0;
}

/* ---------------------------------------------------------------- watch */

struct watch_opts {
	uint64_t timeout;
	uint64_t count;
	const char *since;
};

#define O(f) offsetof(struct watch_opts, f)
static const struct eau2_cli_opt watch_opts[] = {
	{ "timeout", 't', EAU2_OPT_U64, O(timeout), "MS",
	  "give up after MS milliseconds without the changes (exit 1; "
	  "default: wait forever)", NULL, false },
	{ "count", 'n', EAU2_OPT_U64, O(count), "N",
	  "return after N changes (default 1)", NULL, false },
	{ "since", 0, EAU2_OPT_STR, O(since), "VERSION",
	  "count changes from this version (as printed before; 0: the key "
	  "did not exist) rather than from now, so none is lost between "
	  "two calls", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};
#undef O
static const struct watch_opts watch_defaults = { .timeout = FOREVER };

static int cmd_watch(struct eau2_cli *cli, void *vopts)
{
	struct watch_opts *o = vopts;
	struct eau2_error err = {0};
	const char *key = cli->pos[0];
	uint64_t v = EAU2_VERSION_ANY, count = o->count ? o->count : 1;
	double t0 = eau2_cli_now();
	int timeout, rc;

	if (wait_ms(o->timeout, "watch", &timeout) ||
	    eau2_cli_check_key(key))
		return EAU2_CLI_USER;
	if (o->since) {
		char *end;

		errno = 0;
		v = strtoull(o->since, &end, 10);
		if (errno || end == o->since || *end || v == EAU2_VERSION_ANY) {
			eau2_cli_errorf("watch: --since '%s' is not a version (a number as "
					"printed by watch)", o->since);
			return EAU2_CLI_USER;
		}
	} else if ((rc = eau2_watch(cli->db, key, 0, &v, &err))) {
		return eau2_cli_fail(rc, &err, key);
	}
	for (uint64_t i = 0; i < count; i++) {
		uint64_t old = v;
		int left = timeout;

		if (timeout >= 0) {
			double used = (eau2_cli_now() - t0) * 1000;

			left = used >= timeout ? 0 : timeout - (int)used;
		}
		rc = eau2_watch(cli->db, key, left, &v, &err);
		if (rc == -ETIMEDOUT) {
			eau2_cli_errorf("watch: key '%s' did not change%s within %d ms", key,
					i ? " again" : "", timeout);
			return EAU2_CLI_USER;
		}
		if (rc)
			return eau2_cli_fail(rc, &err, key);
		printf("%s %" PRIu64 " %s\n", key, v,
		       v == EAU2_VERSION_NONE ? "deleted" :
		       old == EAU2_VERSION_NONE ? "created" : "replaced");
		if (eau2_cli_flush_stdout())
			return EAU2_CLI_INTERNAL;
	}
	return EAU2_CLI_OK;
}

const struct eau2_cli_cmd eau2_cli_cmd_watch = {
	.name = "watch",
	.synopsis = "KEY [--timeout MS] [--count N] [--since VERSION]",
	.summary = "wait until KEY is put, replaced or deleted",
	.details = "Prints 'KEY VERSION EVENT' for each change, EVENT one of created,\n"
		   "replaced, deleted. Changes that follow each other quickly may\n"
		   "show as one. With --cluster it sleeps on a ZooKeeper watch;\n"
		   "locally on the store's keys (inotify).\n",
	.opts = watch_opts,
	.opts_size = sizeof(struct watch_opts),
	.defaults = &watch_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_watch,
};

/* ----------------------------------------------------------------- lock */

struct lock_opts {
	uint64_t timeout;
};

#define O(f) offsetof(struct lock_opts, f)
static const struct eau2_cli_opt lock_opts[] = {
	{ "timeout", 't', EAU2_OPT_U64, O(timeout), "MS",
	  "give up when the lock is not free within MS milliseconds (exit 1; "
	  "default: wait forever)", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};
#undef O
static const struct lock_opts lock_defaults = { .timeout = FOREVER };

/* The exit status of a command: its own, or 128 + the signal. */
static int run_command(char **argv, int *status)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "eau2: lock: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

static int cmd_lock(struct eau2_cli *cli, void *vopts)
{
	struct lock_opts *o = vopts;
	struct eau2_error err = {0};
	struct eau2_lock *lk = NULL;
	const char *name = cli->pos[0];
	int timeout, rc, status = EAU2_CLI_INTERNAL;

	if (wait_ms(o->timeout, "lock", &timeout))
		return EAU2_CLI_USER;
	if ((rc = eau2_lock(cli->db, name, timeout, &lk, &err)))
		return eau2_cli_fail(rc, &err, name);
	fflush(stdout);
	rc = run_command(cli->pos + 1, &status);
	if (rc) {
		eau2_cli_errorf("lock '%s': cannot run '%s': %s", name, cli->pos[1],
				strerror(-rc));
		status = EAU2_CLI_INTERNAL;
	}
	if ((rc = eau2_unlock(lk, &err)))
		eau2_cli_errorf("lock '%s': %s (it goes with the session)", name, err.msg);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_lock = {
	.name = "lock",
	.synopsis = "NAME [--timeout MS] -- CMD [ARGS...]",
	.summary = "run CMD holding the lock NAME (a mutex of the store or cluster)",
	.details = "NAME is 1-200 bytes of [A-Za-z0-9._:-]. The exit status is CMD's\n"
		   "(128 + the signal that killed it), 1 when the lock was not free\n"
		   "in time. With --cluster it is ZooKeeper's lock recipe: waiters\n"
		   "take it in turn, and a holder that dies releases it when its\n"
		   "session expires (the --timeout of the global options, at least\n"
		   "4 s). Locally it is flock(2) on DIR/locks/NAME. The lock is\n"
		   "this process's, not CMD's: killed, it releases the lock even\n"
		   "though CMD may run on.\n",
	.opts = lock_opts,
	.opts_size = sizeof(struct lock_opts),
	.defaults = &lock_defaults,
	.min_pos = 2,
	.max_pos = 65536,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_lock,
};
