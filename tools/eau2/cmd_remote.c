/* SPDX-License-Identifier: MIT */
/*
 * cmd_remote.c - `eau2 push KEY HOST:PORT` and `eau2 pull HOST:PORT KEY`:
 * copy one dataframe between the local store and an eau2-node on another
 * host. Both open a second handle, on the same local store, whose keys are
 * the node's (eau2_open with options.remote): a push is eau2_put of the
 * local dataframe through it (the node publishes it only once complete),
 * a pull is eau2_get through it (the chunks land in the local store under
 * no key) then eau2_put under the local key. Either way the key on the
 * receiving side keeps its old dataframe until the copy is whole, and an
 * interrupted copy leaves nothing behind.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

struct xfer_opts {
	const char *as;
};

static const struct eau2_cli_opt xfer_opts_table[] = {
	{ "as", 0, EAU2_OPT_STR, offsetof(struct xfer_opts, as), "KEY2",
	  "the key on the receiving side (default: the same key)", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

/* A handle on the local store whose keys are those of the node at addr. */
static int open_remote(struct eau2_cli *cli, const char *addr, eau2 **rdb)
{
	struct eau2_error err = {0};
	struct eau2_options opt;
	int rc;

	eau2_cli_options(cli->g, &opt);
	opt.remote = addr;
	rc = eau2_open(rdb, &opt, &err);
	return rc ? eau2_cli_fail_peer(rc, &err, addr) : EAU2_CLI_OK;
}

/* Copies key between the local store (cli->db) and the node at addr, in
 * the direction pull says, under `as` (NULL: key) on the receiving side. */
static int xfer(struct eau2_cli *cli, bool pull, const char *addr, const char *key,
		const char *as)
{
	struct eau2_error err = {0};
	eau2 *rdb = NULL;
	eau2_df *df = NULL;
	double t0, secs, mb;
	int status, rc;

	if (!as)
		as = key;
	if ((status = eau2_cli_check_key(as)) ||
	    (!pull && (status = eau2_cli_get_df(cli, key, &df))) ||
	    (status = open_remote(cli, addr, &rdb)))
		goto out;
	t0 = eau2_cli_now();
	rc = pull ? eau2_get(rdb, key, &df, &err) : eau2_put(rdb, as, df, &err);
	if (rc) {
		status = eau2_cli_fail_peer(rc, &err, addr);
		goto out;
	}
	if (pull && (rc = eau2_put(cli->db, as, df, &err))) {
		status = eau2_cli_fail_store(rc, &err, "pulling", key, as);
		goto out;
	}
	secs = eau2_cli_now() - t0;
	mb = (double)eau2_df_bytes(df) / 1e6;
	fprintf(stderr, "eau2: %s %s %s %s as %s: %llu rows, %.1f MB in %.2f s "
		"(%.1f MB/s)\n", pull ? "pulled" : "pushed", key, pull ? "from" : "to",
		addr, as, (unsigned long long)eau2_df_rows(df), mb, secs,
		secs > 0 ? mb / secs : 0.0);
out:
	eau2_df_release(df);
	eau2_close(rdb);
	return status;
}

static int cmd_push(struct eau2_cli *cli, void *vopts)
{
	return xfer(cli, false, cli->pos[1], cli->pos[0], ((struct xfer_opts *)vopts)->as);
}

static int cmd_pull(struct eau2_cli *cli, void *vopts)
{
	return xfer(cli, true, cli->pos[0], cli->pos[1], ((struct xfer_opts *)vopts)->as);
}

#define XFER_DETAILS \
	"HOST:PORT is an eau2-node started with --listen; give --secret-file\n" \
	"(before the command, or $EAU2_SECRET_FILE) when it has a secret.\n" \
	"The receiving side publishes KEY2 only once the whole dataframe has\n" \
	"arrived and been checked: until then its old value stays readable,\n" \
	"and an interrupted copy leaves nothing behind. A copy longer than a\n" \
	"second draws a progress bar when stderr is a terminal.\n"

const struct eau2_cli_cmd eau2_cli_cmd_push = {
	.name = "push",
	.synopsis = "KEY HOST:PORT [--as KEY2]",
	.summary = "copy a local dataframe to a remote eau2-node",
	.details = XFER_DETAILS,
	.opts = xfer_opts_table,
	.opts_size = sizeof(struct xfer_opts),
	.min_pos = 2,
	.max_pos = 2,
	.needs_store = true,
	.remote_hint = "push names its node: eau2 push KEY HOST:PORT",
	.run = cmd_push,
};

const struct eau2_cli_cmd eau2_cli_cmd_pull = {
	.name = "pull",
	.synopsis = "HOST:PORT KEY [--as KEY2]",
	.summary = "copy a remote eau2-node's dataframe into the local store",
	.details = XFER_DETAILS,
	.opts = xfer_opts_table,
	.opts_size = sizeof(struct xfer_opts),
	.min_pos = 2,
	.max_pos = 2,
	.needs_store = true,
	.remote_hint = "pull names its node: eau2 pull HOST:PORT KEY",
	.run = cmd_pull,
};
