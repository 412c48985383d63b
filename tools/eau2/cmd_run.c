/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - `eau2 run ROWER` and `eau2 rowers`. The command line
 * registers no rower itself: built-ins come from the library's registry and
 * user rowers from --plugin shared libraries, loaded before the name is
 * looked up. A run's result is printed as CSV, or stored with --as.
 *
 * SIGINT during a run sets the cancel flag the executor polls (the run then
 * fails with -ECANCELED and exits 130); a second SIGINT kills the process.
 * The flag is the only state the handler touches.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Load every --plugin in order; prints the error. */
static int load_plugins(const struct eau2_cli_list *plugins)
{
	for (size_t i = 0; i < plugins->n; i++) {
		struct eau2_error err = {0};
		int rc = eau2_plugin_load(plugins->v[i], &err);

		if (rc) {
			if (err.msg[0] && !strstr(err.msg, plugins->v[i]))
				eau2_cli_errorf("plugin %s: %s", plugins->v[i],
						err.msg);
			else
				eau2_cli_fail(rc, &err, plugins->v[i]);
			return eau2_cli_exit_code(rc);
		}
	}
	return EAU2_CLI_OK;
}

/* ----------------------------------------------------------------- run */

struct run_opts {
	const char *input;
	struct eau2_cli_list args;
	const char *as;
	unsigned threads;
	struct eau2_cli_list plugins;
	unsigned replicas; /* --cluster: copies of each partition of --as */
};

#define O(f) offsetof(struct run_opts, f)
static const struct eau2_cli_opt run_opts_table[] = {
	{ "input", 'i', EAU2_OPT_STR, O(input), "KEY",
	  "the dataframe to run over (omit for rowers that need no input)",
	  NULL, false },
	{ "arg", 'a', EAU2_OPT_LIST, O(args), "NAME=VALUE",
	  "an argument of the rower", NULL, false },
	{ "as", 0, EAU2_OPT_STR, O(as), "OUTKEY",
	  "store the result under OUTKEY instead of printing it", NULL, false },
	{ "threads", 'j', EAU2_OPT_UINT, O(threads), "N",
	  "worker threads (default: one per allowed core)", NULL, false },
	{ "plugin", 'p', EAU2_OPT_LIST, O(plugins), "FILE.so",
	  "load rowers from a plugin first", NULL, false },
	{ "replicas", 'r', EAU2_OPT_UINT, O(replicas), "R",
	  "with --cluster and --as: nodes holding each partition of OUTKEY "
	  "(default: filter's, map's and join's output as many as the "
	  "input's, others' min(2, nodes))", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};
#undef O

static volatile int run_cancel;

static void on_sigint(int sig)
{
	(void)sig;
	run_cancel = 1;
}

/* Stores or prints a run's result as eau2_run_key left it: with --as, the
 * line saying what was stored (where: " on HOST:PORT", or ""); else the
 * result as CSV. */
static int run_print(struct eau2_cli *cli, const struct run_opts *o, eau2_df *result,
		     const char *where, double t0)
{
	struct eau2_error err = {0};
	struct eau2_stat st = {0};
	int status, rc;

	if (o->as) {
		status = eau2_cli_stat(cli, o->as, &st);
		if (!status)
			fprintf(stderr, "eau2: stored %s%s: %llu rows, %zu columns "
				"in %.2f s\n", o->as, where, (unsigned long long)st.rows,
				eau2_schema_ncols(st.schema), eau2_cli_now() - t0);
		eau2_schema_free(st.schema);
		return status;
	}
	fflush(stdout);
	rc = eau2_export_csv(result, STDOUT_FILENO, UINT64_MAX, &err);
	eau2_df_release(result);
	return rc ? eau2_cli_fail(rc, &err, "writing the result") : EAU2_CLI_OK;
}

/* With --remote: the run executes on the node, over its key; only the
 * result crosses the network (or nothing, with --as: it stays there). */
static int run_remote(struct eau2_cli *cli, const struct run_opts *o,
		      const struct eau2_rower_class *cls, const struct eau2_args *args,
		      const struct eau2_run_options *ro)
{
	struct eau2_error err = {0};
	eau2_df *result = NULL;
	double t0 = eau2_cli_now();
	char where[300];
	int rc;

	eau2_cli_progress_start(&cli->bar, "result");
	rc = eau2_run_key(cli->db, o->input, cls, args, ro, o->as, &result, &err);
	eau2_cli_progress_clear(&cli->bar);
	if (rc)
		return eau2_cli_fail_peer(rc, &err, cli->remote);
	snprintf(where, sizeof(where), " on %s", cli->remote);
	return run_print(cli, o, result, where, t0);
}

/* Without --plugin the handle sends runs to the store's eau2-node when
 * one serves it (eau2_run_key under EAU2_NODE_RUNS: warm runs); a plugin
 * is this process's, so its rowers run here. */
static bool run_warm_asked; /* the handle was opened with EAU2_NODE_RUNS */

static void run_open_options(const void *vopts, struct eau2_options *opt)
{
	const struct run_opts *o = vopts;

	opt->replicas = o->replicas;
	if (o->plugins.n == 0)
		run_warm_asked = eau2_cli_warm_options(opt);
}

/* The run on the store's node (warm), when one serves the store; else
 * eau2_run_key runs it here. Prints as the in-process path does. Returns
 * -1 to have the caller run it in-process after all (the input is
 * missing: the caller's get words that error). */
static int run_warm(struct eau2_cli *cli, const struct run_opts *o, const char *name,
		    const struct eau2_rower_class *cls, const struct eau2_args *args,
		    const struct eau2_run_options *ro)
{
	struct eau2_error err = {0};
	eau2_df *result = NULL;
	double t0 = eau2_cli_now();
	int rc;

	rc = eau2_run_key(cli->db, o->input, cls, args, ro, o->as, &result, &err);
	if (rc == -ENOENT && o->input)
		return -1;
	if (rc == -ECANCELED && run_cancel) {
		eau2_cli_errorf("run %s: cancelled", name);
		return 130;
	}
	if (rc && !o->input && err.msg[0]) {
		eau2_cli_errorf("run %s: %s (no --input KEY given)", name, err.msg);
		return eau2_cli_exit_code(rc);
	}
	if (rc)
		return o->as && (rc == -ENOSPC || rc == -EDQUOT) ?
		       eau2_cli_fail_store(rc, &err, "run", name, o->as) :
		       eau2_cli_fail(rc, &err, name);
	return run_print(cli, o, result, "", t0);
}

static int cmd_run(struct eau2_cli *cli, void *vopts)
{
	struct run_opts *o = vopts;
	const char *name = cli->pos[0];
	const struct eau2_rower_class *cls;
	struct eau2_run_options ro = { .threads = o->threads,
				       .cancel = &run_cancel };
	struct eau2_error err = {0};
	struct sigaction sa = {0}, old_sa;
	struct eau2_args args = {0};
	char **names = NULL, **values = NULL;
	eau2_df *input = NULL, *result = NULL;
	bool handler = false;
	double t0;
	int status, rc;

	status = load_plugins(&o->plugins);
	if (status)
		goto out;
	cls = eau2_rower_find(name);
	if (!cls) {
		eau2_cli_errorf("unknown rower '%s' (see 'eau2 rowers')", name);
		status = EAU2_CLI_USER;
		goto out;
	}
	if (o->as) {
		status = eau2_cli_check_key(o->as);
		if (status)
			goto out;
	}
	if (o->replicas && (!cli->cluster || !o->as)) {
		eau2_cli_errorf("--replicas goes with --cluster and --as");
		status = EAU2_CLI_USER;
		goto out;
	}
	names = calloc(o->args.n + 1, sizeof *names);
	values = calloc(o->args.n + 1, sizeof *values);
	if (!names || !values) {
		status = eau2_cli_fail(-ENOMEM, NULL, "run");
		goto out;
	}
	for (size_t i = 0; i < o->args.n; i++) {
		rc = eau2_cli_split_arg(o->args.v[i], &names[i], &values[i]);
		if (rc == -EINVAL) {
			eau2_cli_errorf("run: bad --arg '%s': want NAME=VALUE",
					o->args.v[i]);
			status = EAU2_CLI_USER;
			goto out;
		}
		if (rc) {
			status = eau2_cli_fail(rc, NULL, "run");
			goto out;
		}
		args.n = i + 1;
	}
	args.names = (const char *const *)names;
	args.values = (const char *const *)values;
	if (cli->remote) {
		status = run_remote(cli, o, cls, &args, &ro);
		goto out;
	}
	sa.sa_handler = on_sigint;
	sa.sa_flags = (int)SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	handler = sigaction(SIGINT, &sa, &old_sa) == 0;
	if (run_warm_asked) {
		status = run_warm(cli, o, name, cls, &args, &ro);
		if (status >= 0)
			goto out;
	}
	/* No --input: the rower gets a NULL dataframe (generators such as
	 * mandelbrot); rowers that need one report it. */
	if (o->input) {
		status = eau2_cli_get_df(cli, o->input, &input);
		if (status)
			goto out;
	}

	t0 = eau2_cli_now();
	rc = eau2_run(cli->db, input, cls, &args, &ro, &result, &err);
	if (rc == -ECANCELED && run_cancel) {
		eau2_cli_errorf("run %s: cancelled", name);
		status = 130;
		goto out;
	}
	if (rc && !input && err.msg[0]) {
		/* say what is likely wrong when the rower wanted a dataframe */
		eau2_cli_errorf("run %s: %s (no --input KEY given)", name,
				err.msg);
		status = eau2_cli_exit_code(rc);
		goto out;
	}
	if (rc) {
		status = o->as && (rc == -ENOSPC || rc == -EDQUOT) ?
			 eau2_cli_fail_store(rc, &err, "run", name, o->as) :
			 eau2_cli_fail(rc, &err, name);
		goto out;
	}
	if (o->as) {
		rc = eau2_put(cli->db, o->as, result, &err);
		if (rc) {
			status = eau2_cli_fail_store(rc, &err, "run", name, o->as);
			goto out;
		}
		fprintf(stderr, "eau2: stored %s: %llu rows, %zu columns in "
			"%.2f s\n", o->as,
			(unsigned long long)eau2_df_rows(result),
			eau2_df_ncols(result), eau2_cli_now() - t0);
		status = EAU2_CLI_OK;
	} else {
		fflush(stdout);
		err.msg[0] = 0;
		rc = eau2_export_csv(result, STDOUT_FILENO, UINT64_MAX, &err);
		status = rc ? eau2_cli_fail(rc, &err, "writing the result") :
			      EAU2_CLI_OK;
	}
out:
	if (handler)
		sigaction(SIGINT, &old_sa, NULL);
	eau2_df_release(result);
	eau2_df_release(input);
	for (size_t i = 0; names && values && i < args.n; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_run = {
	.name = "run",
	.synopsis = "ROWER [--input KEY] [--arg NAME=VALUE]... [--as OUTKEY] "
		    "[options]",
	.summary = "run a rower over a dataframe; print or store the result",
	.details =
	"Without --as the result is printed as CSV with a header. Plugins\n"
	"(--plugin) are loaded before ROWER is looked up. A rower that needs\n"
	"no input (a generator) may be run without --input: it is given no\n"
	"dataframe. 'eau2 rowers' lists the rowers and their arguments.\n"
	"When an eau2-node serves the store, the run executes in the node\n"
	"(warm: it keeps its inputs mapped and checked between runs) and the\n"
	"output is the same; with --plugin, EAU2_NODE=0 or EAU2_VERIFY=1 it\n"
	"runs in this process.\n"
	"On a cluster, the output of filter, map and join with --as stays on\n"
	"the nodes that ran each part (copied node to node to --replicas\n"
	"nodes): only its size reaches this process.\n",
	.opts = run_opts_table,
	.opts_size = sizeof(struct run_opts),
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.open_options = run_open_options,
	.run = cmd_run,
};

/* -------------------------------------------------------------- rowers */

struct rowers_opts {
	struct eau2_cli_list plugins;
};

static const struct eau2_cli_opt rowers_opts_table[] = {
	{ "plugin", 'p', EAU2_OPT_LIST, offsetof(struct rowers_opts, plugins),
	  "FILE.so", "load rowers from a plugin first", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

struct rower_list {
	const struct eau2_rower_class **v;
	size_t n, cap;
	bool oom;
};

static void collect(void *ctx, const struct eau2_rower_class *c)
{
	struct rower_list *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		const struct eau2_rower_class **v =
			realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->oom = true;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = c;
}

static int cmd_rowers(struct eau2_cli *cli, void *vopts)
{
	struct rowers_opts *o = vopts;
	struct rower_list l = {0};
	int status, w = 4;

	status = load_plugins(&o->plugins);
	if (status)
		goto out;
	eau2_rower_foreach(collect, &l);
	if (l.oom) {
		status = eau2_cli_fail(-ENOMEM, NULL, "listing rowers");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++)
		if ((int)strlen(l.v[i]->name) > w)
			w = (int)strlen(l.v[i]->name);
	for (size_t i = 0; i < l.n; i++)
		printf("%-*s  %s\n", w, l.v[i]->name,
		       l.v[i]->summary ? l.v[i]->summary : "");
out:
	free(l.v);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_rowers = {
	.name = "rowers",
	.synopsis = "[--plugin FILE.so]...",
	.summary = "list the registered rowers with a one-line summary",
	.details = NULL,
	.opts = rowers_opts_table,
	.opts_size = sizeof(struct rowers_opts),
	.min_pos = 0,
	.max_pos = 0,
	.needs_store = false,
	.run = cmd_rowers,
};
