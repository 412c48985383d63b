/* SPDX-License-Identifier: MIT */
/*
 * cli.h - shared pieces of the eau2 command line: the command table entry,
 * the table-driven option parser, exit codes, error printing, JSON output
 * and small helpers. Each command group lives in its own file (cmd_*.c,
 * gen.c) and exports one `struct eau2_cli_cmd` per command; main.c holds
 * the list and dispatches.
 *
 * The tool is single-threaded except where the library runs its own pools
 * (loads, runs); nothing here is shared between threads.
 */
#ifndef EAU2_CLI_H
#define EAU2_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eau2.h"

/* Exit statuses. */
enum {
	EAU2_CLI_OK = 0,
	EAU2_CLI_USER = 1,     /* bad file, key, option, input data, rower */
	EAU2_CLI_INTERNAL = 2, /* ENOMEM, EIO, anything unexpected */
};

/* ------------------------------------------------------------ options */

enum eau2_cli_opt_kind {
	EAU2_OPT_FLAG,   /* bool, no argument */
	EAU2_OPT_STR,    /* const char *, points into argv */
	EAU2_OPT_U64,    /* uint64_t, decimal */
	EAU2_OPT_SIZE,   /* uint64_t, decimal with optional K/M/G/T (x1024) */
	EAU2_OPT_UINT,   /* unsigned, decimal, at most 65535 (thread counts) */
	EAU2_OPT_CHAR,   /* char: one character, or \t, tab */
	EAU2_OPT_CHOICE, /* int: index of the value in `choices` */
	EAU2_OPT_LIST,   /* struct eau2_cli_list: repeatable string */
};

/* A repeatable option's values, in command-line order. */
struct eau2_cli_list {
	size_t n;
	const char **v; /* malloc'd array; strings point into argv */
};

/* One option of a command. The parser stores the value at `offset` in the
 * command's option struct (of `opts_size` bytes, zeroed before parsing). */
struct eau2_cli_opt {
	const char *name;              /* long name without "--" */
	char short_name;               /* single-dash letter, or 0 */
	enum eau2_cli_opt_kind kind;
	size_t offset;
	const char *metavar;           /* shown in help: "KEY", "N" */
	const char *help;
	const char *const *choices;    /* EAU2_OPT_CHOICE: NULL-terminated */
	bool required;
};

struct eau2_cli;

/* One command: its options, positionals and the function that runs it. */
struct eau2_cli_cmd {
	const char *name;
	const char *synopsis;   /* after "eau2 NAME ": "KEY [-n N]" */
	const char *summary;    /* one line for `eau2 --help` */
	const char *details;    /* more help text, or NULL */
	void (*more_help)(FILE *out); /* help built at run time, or NULL */
	const struct eau2_cli_opt *opts; /* terminated by a NULL name */
	size_t opts_size;
	const void *defaults;            /* opts_size bytes, or NULL: zeroes */
	unsigned min_pos, max_pos;       /* positional arguments */
	bool needs_store;                /* open the store before run */
	/* With needs_store: --remote (or $EAU2_REMOTE) opens that node's
	 * keys instead of the local store's. Otherwise --remote is refused,
	 * with remote_hint (or "it works on the local store") saying why. */
	bool takes_remote;
	const char *remote_hint;
	/* Optional: adds the command's options to eau2_open's (load's
	 * --replicas) before the store opens. */
	void (*open_options)(const void *opts, struct eau2_options *o);
	/* Returns an exit status (EAU2_CLI_*), having printed any error. */
	int (*run)(struct eau2_cli *cli, void *opts);
};

/* ------------------------------------------------------------ progress */

/* A progress bar on stderr (progress.c): drawn only on a terminal, after
 * the first second. */
struct eau2_cli_progress {
	double start, last;
	bool tty;          /* stderr is a terminal */
	bool drawn;        /* a bar is on screen and must be cleared */
	const char *label; /* printed before the figures, or NULL */
};
void eau2_cli_progress_start(struct eau2_cli_progress *p, const char *label);
/* A progress hook (eau2_load_options.progress and the like): ctx is the
 * struct eau2_cli_progress; total 0 when unknown. */
void eau2_cli_progress(void *ctx, uint64_t done, uint64_t total);
/* Clears the bar when one is drawn. */
void eau2_cli_progress_clear(struct eau2_cli_progress *p);
/* "12.3 MB": decimal units, as the bar prints them. */
void eau2_cli_human_bytes(char *buf, size_t size, double b);

/* The global options (before the command), pointing into argv. */
struct eau2_cli_global {
	const char *store_dir;   /* --store, or NULL: $EAU2_STORE, the default */
	const char *remote;      /* --remote, or NULL */
	const char *cluster;     /* --cluster, or NULL */
	const char *secret_file; /* --secret-file, or NULL: $EAU2_SECRET_FILE */
	int timeout_ms;          /* --timeout, or 0: the library's default */
	int heartbeat_ms;        /* --heartbeat, or 0: the library's default */
	int dead_after_ms;       /* --dead-after, or 0: the library's default */
};

struct eau2_cli;
/* eau2_open's options for the local store from the environment and the
 * global options (remote left NULL), transfers reporting to cli->bar. */
void eau2_cli_options(struct eau2_cli *cli, struct eau2_options *opt);

/* What a command sees of the invocation. */
struct eau2_cli {
	const struct eau2_cli_cmd *cmd;
	const struct eau2_cli_global *g;
	const char *store_dir;  /* --store, or NULL for the default */
	/* With --cluster (or $EAU2_CLUSTER) the cluster's connect string;
	 * remote is then that string too (messages name it as the peer). */
	const char *cluster;
	eau2 *db;               /* open when cmd->needs_store */
	const char *remote;     /* db's keys are this node's, or NULL: local */
	/* The bar of transfers with a node: every handle the command opens
	 * on one reports there (eau2_options.progress); a command restarts it
	 * (eau2_cli_progress_start) before each transfer and clears it after. */
	struct eau2_cli_progress bar;
	size_t npos;
	char **pos;             /* positional arguments */
};

/* For a command whose runs may execute in the store's eau2-node (warm
 * runs: eau2_run_key under EAU2_NODE_RUNS): asks for it unless the
 * options rule it out (EAU2_NODE=0, EAU2_VERIFY=1, a remote or a
 * cluster). True when asked. */
bool eau2_cli_warm_options(struct eau2_options *opt);

/* Parses argv[0..argc) (the words after the command name) against cmd's
 * table into opts (cmd->opts_size bytes) and fills cli->pos/npos. Returns
 * 0, 1 when --help was asked (help already printed on stdout), or -EINVAL
 * after printing the error. Free with eau2_cli_opts_free. */
int eau2_cli_parse(struct eau2_cli *cli, const struct eau2_cli_cmd *cmd,
		   int argc, char **argv, void *opts);
void eau2_cli_opts_free(const struct eau2_cli_cmd *cmd, void *opts);
void eau2_cli_help(const struct eau2_cli_cmd *cmd, FILE *out);

/* -------------------------------------------------- errors and exits */

/* Prints "eau2: <message>" on stderr, one line. */
void eau2_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Maps a negative API code to an exit status. */
int eau2_cli_exit_code(int rc);
/* Prints err's message (or, when empty, `what` and strerror(rc)) and
 * returns the exit status for rc. */
int eau2_cli_fail(int rc, const struct eau2_error *err, const char *what);
/* eau2_cli_fail, but a full store (-ENOSPC, -EDQUOT: out of space or
 * inodes) is told in one line naming what was done, the input (NULL:
 * none) and the key it was going to: "loading FILE as 'KEY': ...". */
int eau2_cli_fail_store(int rc, const struct eau2_error *err, const char *what,
			const char *input, const char *key);
/* eau2_cli_fail for a failure talking to the node at addr: the message
 * names the peer (prefixed "ADDR: " when err does not already name it). */
int eau2_cli_fail_peer(int rc, const struct eau2_error *err, const char *addr);
/* Flushes stdout; on a write error prints it and returns EAU2_CLI_INTERNAL
 * (EAU2_CLI_OK otherwise). */
int eau2_cli_flush_stdout(void);

/* A key must be 1..EAU2_KEY_MAX printable ASCII bytes; checked before long
 * work (a load) so that it fails early. Prints the error. */
int eau2_cli_check_key(const char *key);

/* eau2_get with the error printed (the message always names the key, and
 * the peer with --remote);
 * returns an exit status. */
int eau2_cli_get_df(struct eau2_cli *cli, const char *key, eau2_df **df);
/* The same for eau2_get_head (at least `rows` rows: all a remote node
 * sends) and eau2_stat. */
int eau2_cli_get_head(struct eau2_cli *cli, const char *key, uint64_t rows,
		      eau2_df **df);
int eau2_cli_stat(struct eau2_cli *cli, const char *key, struct eau2_stat *st);

/* Monotonic seconds. */
double eau2_cli_now(void);

/* Splits a "NAME=VALUE" string at the first '='; -EINVAL without one or
 * with an empty name. */
int eau2_cli_split_arg(const char *s, char **name, char **value);

/* ---------------------------------------------------------------- json */

/* Writes s[0..len) as a JSON string with quotes; control characters are
 * escaped and invalid UTF-8 bytes become U+FFFD, so the output always
 * parses. */
void eau2_cli_json_str(FILE *out, const char *s, size_t len);
/* A double as a JSON number; non-finite values as the strings "inf",
 * "-inf", "nan" (JSON has no literal for them). */
void eau2_cli_json_double(FILE *out, double v);
/* A double the way it reads back equal ("%.17g" shortened). */
void eau2_cli_fmt_double(char *buf, size_t size, double v);

/* ------------------------------------------------------------ commands */

extern const struct eau2_cli_cmd eau2_cli_cmd_load;
extern const struct eau2_cli_cmd eau2_cli_cmd_ls;
extern const struct eau2_cli_cmd eau2_cli_cmd_describe;
extern const struct eau2_cli_cmd eau2_cli_cmd_head;
extern const struct eau2_cli_cmd eau2_cli_cmd_export;
extern const struct eau2_cli_cmd eau2_cli_cmd_rm;
extern const struct eau2_cli_cmd eau2_cli_cmd_gen;
extern const struct eau2_cli_cmd eau2_cli_cmd_run;
extern const struct eau2_cli_cmd eau2_cli_cmd_rowers;
extern const struct eau2_cli_cmd eau2_cli_cmd_push;
extern const struct eau2_cli_cmd eau2_cli_cmd_pull;
extern const struct eau2_cli_cmd eau2_cli_cmd_status;
/* Shared state (cmd_sync.c). */
extern const struct eau2_cli_cmd eau2_cli_cmd_watch;
extern const struct eau2_cli_cmd eau2_cli_cmd_lock;
/* `eau2 --cluster CONNECT status [--json]` (cmd_cstatus.c). */
int eau2_cli_cluster_status(struct eau2_cli *cli, const char *connect, bool json);

#endif
