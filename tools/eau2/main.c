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
	&eau2_cli_cmd_status,
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
		"usage: eau2 [--store DIR] COMMAND [ARGS...]\n"
		"       eau2 --version | --help\n\n"
		"eau2 keeps dataframes under keys in a shared-memory store and "
		"runs rowers\nover them.\n\n"
		"global options:\n"
		"  --store DIR    the store directory (default: $EAU2_STORE, "
		"else\n"
		"                 /dev/shm/eau2-$USER)\n"
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

static int dispatch(const struct eau2_cli_cmd *cmd, const char *store_dir,
		    int argc, char **argv)
{
	struct eau2_cli cli = { .store_dir = store_dir };
	struct eau2_error err = {0};
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
	if (cmd->needs_store) {
		rc = eau2_env_open(&cli.db, store_dir, &err);
		if (rc) {
			status = eau2_cli_fail(rc, &err, store_dir ? store_dir :
					       "opening the default store");
			goto out;
		}
	}
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

int main(int argc, char **argv)
{
	const char *store_dir = NULL;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return eau2_cli_flush_stdout();
		}
		if (!strcmp(a, "--version")) {
			printf("eau2 %d.%d\n", EAU2_VERSION_MAJOR,
			       EAU2_VERSION_MINOR);
			return eau2_cli_flush_stdout();
		}
		if ((!strcmp(a, "--store") || !strncmp(a, "--store=", 8)) && store_dir) {
			eau2_cli_errorf("option '--store' given twice");
			return EAU2_CLI_USER;
		}
		if (!strcmp(a, "--store")) {
			if (i + 1 >= argc) {
				eau2_cli_errorf("option '--store' needs a "
						"value (DIR)");
				return EAU2_CLI_USER;
			}
			store_dir = argv[++i];
			continue;
		}
		if (!strncmp(a, "--store=", 8)) {
			store_dir = a + 8;
			continue;
		}
		eau2_cli_errorf("unknown option '%s' (see 'eau2 --help'; "
				"command options go after the command)", a);
		return EAU2_CLI_USER;
	}
	if (store_dir && !*store_dir) {
		eau2_cli_errorf("--store needs a non-empty directory");
		return EAU2_CLI_USER;
	}
	if (i >= argc) {
		eau2_cli_errorf("no command given (see 'eau2 --help')");
		return EAU2_CLI_USER;
	}
	if (!strcmp(argv[i], "bench"))
		return run_bench(store_dir, argc - i, argv + i);
	for (size_t c = 0; c < NCOMMANDS; c++)
		if (!strcmp(argv[i], commands[c]->name))
			return dispatch(commands[c], store_dir, argc - i - 1,
					argv + i + 1);
	eau2_cli_errorf("unknown command '%s' (see 'eau2 --help')", argv[i]);
	return EAU2_CLI_USER;
}
