/* SPDX-License-Identifier: MIT */
/*
 * main.c - entry point of the eau2 command line: global options
 * (--store, --help, --version), then dispatch to the command table. Each
 * command parses its own options with the shared table-driven parser
 * (util.c) and returns an exit status: 0 success, 1 user error, 2 internal
 * failure.
 */
#include "bench.h"
#include "cli.h"
#include "common/env_options.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const struct eau2_cli_cmd *const commands[] = {
	&eau2_cli_cmd_load,
	&eau2_cli_cmd_ls,
	&eau2_cli_cmd_describe,
	&eau2_cli_cmd_head,
	&eau2_cli_cmd_export,
	&eau2_cli_cmd_rm,
	&eau2_cli_cmd_gen,
	&eau2_cli_cmd_run,
	&eau2_cli_cmd_rowers,
	&eau2_cli_cmd_push,
	&eau2_cli_cmd_pull,
	&eau2_cli_cmd_status,
	&eau2_cli_cmd_watch,
	&eau2_cli_cmd_lock,
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* `eau2 bench` (cmd_bench.c) parses its own arguments. */
static int run_bench(const char *store_dir, int argc, char **argv)
{
	/* The store reaches bench and the client processes it starts through
	 * the environment, as if the user had set it. */
	if (store_dir && setenv("EAU2_STORE", store_dir, 1) != 0) {
		eau2_cli_errorf("bench: setenv: %s", strerror(errno));
		return EAU2_CLI_INTERNAL;
	}
	return eau2_cli_bench(argc, argv);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: eau2 [--store DIR] [--remote HOST:PORT | --cluster CONNECT[/NAME]]\n"
		"            [--secret-file FILE] [--timeout MS] [--heartbeat MS]\n"
		"            [--dead-after MS] COMMAND [ARGS...]\n"
		"       eau2 --version | --help\n\n"
		"eau2 keeps dataframes under keys in a shared-memory store and "
		"runs rowers\nover them.\n\n"
		"global options:\n"
		"  --store DIR    the store directory (default: $EAU2_STORE, "
		"else\n"
		"                 /dev/shm/eau2-$USER)\n"
		"  --remote HOST:PORT\n"
		"                 work on the keys of the eau2-node listening there\n"
		"                 (default: $EAU2_REMOTE): ls, describe, head, export,\n"
		"                 rm and run happen there, load parses here and\n"
		"                 stores there; the local store holds what is pulled\n"
		"  --cluster HOST:PORT[,HOST:PORT...][/NAME]\n"
		"                 work on the keys of the cluster NAME (default eau2)\n"
		"                 whose nodes joined with eau2-node --zk at that\n"
		"                 ZooKeeper (default: $EAU2_CLUSTER): load parses\n"
		"                 here and spreads partitions over the nodes (load\n"
		"                 --replicas R), run runs where they are; status\n"
		"                 lists the nodes\n"
		"  --secret-file FILE\n"
		"                 the cluster secret the node was given (default:\n"
		"                 $EAU2_SECRET_FILE; none for a loopback-only node)\n"
		"  --timeout MS   bound on each network step (connect, handshake,\n"
		"                 each frame; default: the library's)\n"
		"  --heartbeat MS, --dead-after MS\n"
		"                 with --cluster: PING every node every MS (default\n"
		"                 1000) and hold one silent for --dead-after MS\n"
		"                 (default 5000) dead: its part of a run moves to\n"
		"                 another replica at once\n"
		"  --version      print the version and exit\n"
		"  -h, --help     show this help and exit\n\n"
		"commands:\n");
	fprintf(out, "  %-10s %s\n", "bench",
		"generate data, run the rower suite with many clients, report");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name,
			commands[i]->summary);
	fprintf(out, "\n'eau2 COMMAND --help' describes a command.\n"
		"Exit status: 0 success, 1 user error (bad file, key, option, "
		"input data,\nrower or column), 2 internal failure.\n");
}

/* "--NAME MS": 1..INT_MAX milliseconds. */
static int parse_ms(const char *name, const char *s, int *ms)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > INT_MAX) {
		eau2_cli_errorf("--%s: '%s' is not a number of milliseconds "
				"(1 to %d)", name, s, INT_MAX);
		return -1;
	}
	*ms = (int)v;
	return 0;
}

/* Opens the store a command works on: the local one, or with --remote
 * (else $EAU2_REMOTE) the keys of that node, for commands that take it. */
static int open_store(struct eau2_cli *cli, const void *opts)
{
	const struct eau2_cli_global *g = cli->g;
	struct eau2_error err = {0};
	struct eau2_options opt;
	int rc;

	eau2_cli_options(cli, &opt);
	if (cli->cmd->takes_remote)
		opt.remote = g->remote ? g->remote : eau2_env_remote();
	/* --cluster, else $EAU2_CLUSTER unless --remote (both variables set:
	 * eau2_open refuses them as exclusive). */
	if (cli->cmd->takes_remote && !g->remote) {
		opt.cluster = g->cluster ? g->cluster : eau2_env_cluster();
		if (g->cluster)
			opt.remote = NULL;
	}
	if (cli->cmd->open_options)
		cli->cmd->open_options(opts, &opt);
	if (opt.cluster && (rc = eau2_env_driver_options(&opt, &err)))
		return eau2_cli_fail(rc, &err, "the environment");
	rc = eau2_open(&cli->db, &opt, &err);
	cli->cluster = opt.cluster;
	cli->remote = opt.remote ? opt.remote : opt.cluster;
	if (rc && cli->remote)
		return eau2_cli_fail_peer(rc, &err, cli->remote);
	if (rc)
		return eau2_cli_fail(rc, &err, g->store_dir ? g->store_dir :
				     "opening the default store");
	return EAU2_CLI_OK;
}

static int dispatch(const struct eau2_cli_cmd *cmd, const struct eau2_cli_global *g,
		    int argc, char **argv)
{
	struct eau2_cli cli = { .g = g, .store_dir = g->store_dir };
	void *opts = calloc(1, cmd->opts_size ? cmd->opts_size : 1);
	int status = EAU2_CLI_INTERNAL;
	int rc;

	if (!opts) {
		eau2_cli_errorf("out of memory");
		return EAU2_CLI_INTERNAL;
	}
	rc = eau2_cli_parse(&cli, cmd, argc, argv, opts);
	if (rc == 1) {
		status = eau2_cli_flush_stdout();
		goto out;
	}
	if (rc < 0) {
		status = rc == -ENOMEM ? EAU2_CLI_INTERNAL : EAU2_CLI_USER;
		goto out;
	}
	if (g->remote && !cmd->takes_remote) {
		eau2_cli_errorf("%s does not take --remote (%s)", cmd->name,
				cmd->remote_hint ? cmd->remote_hint :
				"it works on the local store");
		status = EAU2_CLI_USER;
		goto out;
	}
	if (g->cluster && !cmd->takes_remote && cmd != &eau2_cli_cmd_status) {
		eau2_cli_errorf("%s does not take --cluster (%s)", cmd->name,
				cmd->remote_hint ? cmd->remote_hint :
				"it works on the local store");
		status = EAU2_CLI_USER;
		goto out;
	}
	if (cmd->needs_store && (status = open_store(&cli, opts)))
		goto out;
	status = cmd->run(&cli, opts);
	if (status == EAU2_CLI_OK)
		status = eau2_cli_flush_stdout();
out:
	eau2_close(cli.db);
	eau2_cli_opts_free(cmd, opts);
	free(opts);
	free(cli.pos);
	return status;
}

/* A global option with a value: "--NAME V" or "--NAME=V". Returns 1 when
 * argv[*i] is that option (*val set, *i moved past it), 0 when it is not,
 * -1 after printing an error. */
static int global_value(int argc, char **argv, int *i, const char *name,
			const char *metavar, const char **val)
{
	const char *a = argv[*i] + 2;
	size_t n = strlen(name);

	if (strncmp(a, name, n) || (a[n] && a[n] != '='))
		return 0;
	if (*val) {
		eau2_cli_errorf("option '--%s' given twice", name);
		return -1;
	}
	if (a[n] == '=') {
		*val = a + n + 1;
	} else if (*i + 1 >= argc) {
		eau2_cli_errorf("option '--%s' needs a value (%s)", name, metavar);
		return -1;
	} else {
		*val = argv[++*i];
	}
	if (!**val) {
		eau2_cli_errorf("--%s needs a non-empty %s", name, metavar);
		return -1;
	}
	return 1;
}

int main(int argc, char **argv)
{
	struct eau2_cli_global g = {0};
	const char *timeout = NULL, *heartbeat = NULL, *dead_after = NULL;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		int r;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return eau2_cli_flush_stdout();
		}
		if (!strcmp(a, "--version")) {
			printf("eau2 %d.%d\n", EAU2_VERSION_MAJOR,
			       EAU2_VERSION_MINOR);
			return eau2_cli_flush_stdout();
		}
		if (!strncmp(a, "--", 2) &&
		    ((r = global_value(argc, argv, &i, "store", "DIR", &g.store_dir)) ||
		     (r = global_value(argc, argv, &i, "remote", "HOST:PORT", &g.remote)) ||
		     (r = global_value(argc, argv, &i, "cluster", "CONNECT[/NAME]",
				       &g.cluster)) ||
		     (r = global_value(argc, argv, &i, "secret-file", "FILE",
				       &g.secret_file)) ||
		     (r = global_value(argc, argv, &i, "timeout", "MS", &timeout)) ||
		     (r = global_value(argc, argv, &i, "heartbeat", "MS", &heartbeat)) ||
		     (r = global_value(argc, argv, &i, "dead-after", "MS", &dead_after)))) {
			if (r < 0)
				return EAU2_CLI_USER;
			continue;
		}
		eau2_cli_errorf("unknown option '%s' (see 'eau2 --help'; "
				"command options go after the command)", a);
		return EAU2_CLI_USER;
	}
	if ((timeout && parse_ms("timeout", timeout, &g.timeout_ms)) ||
	    (heartbeat && parse_ms("heartbeat", heartbeat, &g.heartbeat_ms)) ||
	    (dead_after && parse_ms("dead-after", dead_after, &g.dead_after_ms)))
		return EAU2_CLI_USER;
	if (g.heartbeat_ms && g.dead_after_ms && g.dead_after_ms < g.heartbeat_ms) {
		eau2_cli_errorf("--dead-after %d is shorter than --heartbeat %d", g.dead_after_ms,
				g.heartbeat_ms);
		return EAU2_CLI_USER;
	}
	if (g.remote && g.cluster) {
		eau2_cli_errorf("--remote %s and --cluster %s are exclusive", g.remote,
				g.cluster);
		return EAU2_CLI_USER;
	}
	if (i >= argc) {
		eau2_cli_errorf("no command given (see 'eau2 --help')");
		return EAU2_CLI_USER;
	}
	if (!strcmp(argv[i], "bench")) {
		if (g.remote || g.cluster) {
			eau2_cli_errorf("bench runs on the local store only "
					"(--%s %s given)", g.remote ? "remote" : "cluster",
					g.remote ? g.remote : g.cluster);
			return EAU2_CLI_USER;
		}
		return run_bench(g.store_dir, argc - i, argv + i);
	}
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (!strcmp(argv[i], commands[c]->name))
			return dispatch(commands[c], &g, argc - i - 1,
					argv + i + 1);
	eau2_cli_errorf("unknown command '%s' (see 'eau2 --help')", argv[i]);
	return EAU2_CLI_USER;
}
