/* SPDX-License-Identifier: MIT */
/*
 * cmd_load.c - `eau2 load FILE --as KEY`: loads a CSV, SoR or text file
 * with eau2_load and publishes it with eau2_put only once the load has
 * succeeded, so a failed load leaves the key (and any old value under it)
 * untouched. Draws a progress bar on stderr when stderr is a terminal and
 * the load runs longer than a second; prints a one-line summary.
 *
 * The progress callback runs on the loading thread only (the library's
 * contract), so its state needs no lock.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct load_opts {
	const char *as;
	int format;        /* enum eau2_format: the choices are in its order */
	const char *schema;
	bool no_header;
	char delim;
	int on_error;      /* enum eau2_on_error */
	unsigned threads;
	uint64_t from, len;
	unsigned replicas; /* --cluster: nodes holding each partition */
};

static const char *const format_names[] = { "auto", "csv", "sor", "lines",
					    NULL };
static const char *const on_error_names[] = { "fail", "skip", NULL };

#define O(f) offsetof(struct load_opts, f)
static const struct eau2_cli_opt load_opts_table[] = {
	{ "as", 0, EAU2_OPT_STR, O(as), "KEY", "store the dataframe under KEY",
	  NULL, true },
	{ "format", 'f', EAU2_OPT_CHOICE, O(format), "FMT",
	  "input format; auto picks it from the extension (.csv, .sor, "
	  ".txt/.log)", format_names, false },
	{ "schema", 0, EAU2_OPT_STR, O(schema), "NAME:TYPE,...",
	  "explicit schema (types bool, int, double, string) instead of "
	  "inferring it", NULL, false },
	{ "no-header", 0, EAU2_OPT_FLAG, O(no_header), NULL,
	  "CSV: the first line is data; columns are named c0, c1, ...",
	  NULL, false },
	{ "delim", 'd', EAU2_OPT_CHAR, O(delim), "C",
	  "CSV: field delimiter (default ','; \\t or tab for a tab)",
	  NULL, false },
	{ "on-error", 0, EAU2_OPT_CHOICE, O(on_error), "MODE",
	  "fail on the first bad row, or skip and count bad rows",
	  on_error_names, false },
	{ "threads", 'j', EAU2_OPT_UINT, O(threads), "N",
	  "loader threads (default: one per allowed core)", NULL, false },
	{ "from", 0, EAU2_OPT_SIZE, O(from), "BYTES",
	  "CSV, SoR: start at the row after the one holding this byte",
	  NULL, false },
	{ "len", 0, EAU2_OPT_SIZE, O(len), "BYTES",
	  "CSV, SoR: rows that end within this many bytes (default: to "
	  "the end)", NULL, false },
	{ "replicas", 'r', EAU2_OPT_UINT, O(replicas), "R",
	  "--cluster: nodes holding each partition (default: 2, or 1 on a "
	  "one-node cluster)", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};
#undef O

/* ---------------------------------------------------------------- load */

static int cmd_load(struct eau2_cli *cli, void *vopts)
{
	struct load_opts *o = vopts;
	const char *path = cli->pos[0];
	struct eau2_load_options lo = {0};
	struct eau2_load_stats stats = {0};
	struct eau2_error err = {0};
	struct eau2_cli_progress prog;
	eau2_schema *schema = NULL;
	eau2_df *df = NULL;
	struct stat st;
	double secs, mb;
	char what[64];
	int status, rc;

	status = eau2_cli_check_key(o->as);
	if (status)
		goto out;
	if (o->replicas && !cli->cluster) {
		eau2_cli_errorf("--replicas goes with --cluster");
		status = EAU2_CLI_USER;
		goto out;
	}
	if (stat(path, &st) != 0) {
		rc = -errno;
		eau2_cli_errorf("%s: %s", path, strerror(errno));
		status = eau2_cli_exit_code(rc);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		eau2_cli_errorf("%s: is a directory", path);
		status = EAU2_CLI_USER;
		goto out;
	}
	if (o->schema) {
		rc = eau2_schema_parse(o->schema, &schema, &err);
		if (rc) {
			status = eau2_cli_fail(rc, &err, "--schema");
			goto out;
		}
	}
	lo.format = (enum eau2_format)o->format;
	lo.schema = schema;
	lo.no_header = o->no_header;
	lo.delim = o->delim;
	lo.on_error = (enum eau2_on_error)o->on_error;
	lo.threads = o->threads;
	lo.from = o->from;
	lo.len = o->len;
	lo.progress = eau2_cli_progress;
	lo.progress_ctx = &prog;
	eau2_cli_progress_start(&prog, NULL);

	/* On a cluster or a node the row groups leave while the file is
	 * parsed (none stays here once sent); here the key is put once the
	 * load is done. */
	if (cli->cluster || cli->remote)
		rc = eau2_load_put(cli->db, path, o->as, &lo, NULL, &stats, &err);
	else
		rc = eau2_load(cli->db, path, &lo, &df, &stats, &err);
	eau2_cli_progress_clear(&prog);
	if (rc && cli->remote && strstr(err.msg, cli->remote)) {
		status = eau2_cli_fail_peer(rc, &err, cli->remote);
		goto out;
	}
	if (rc) {
		snprintf(what, sizeof what, "loading %s", path);
		status = rc == -ENOSPC || rc == -EDQUOT ?
			 eau2_cli_fail_store(rc, &err, "loading", path, o->as) :
			 eau2_cli_fail(rc, &err, what);
		goto out;
	}
	rc = cli->cluster || cli->remote ? 0 : eau2_put(cli->db, o->as, df, &err);
	if (rc) {
		status = eau2_cli_fail_store(rc, &err, "loading", path, o->as);
		goto out;
	}
	secs = eau2_cli_now() - prog.start;
	mb = (double)(stats.bytes ? stats.bytes : (uint64_t)st.st_size) / 1e6;
	fprintf(stderr, "eau2: loaded %s: %llu rows, %llu columns in %.2f s "
		"(%.1f MB/s)\n", o->as, (unsigned long long)stats.rows,
		(unsigned long long)stats.columns, secs, secs > 0 ? mb / secs : 0.0);
	if (stats.skipped) {
		fprintf(stderr, "eau2: skipped %llu bad rows%s\n",
			(unsigned long long)stats.skipped,
			stats.where[0][0] ? "; first:" : "");
		for (int i = 0; i < EAU2_LOAD_WHERE_MAX && stats.where[i][0];
		     i++)
			fprintf(stderr, "  %.*s\n", (int)sizeof stats.where[i],
				stats.where[i]);
	}
	status = EAU2_CLI_OK;
out:
	eau2_df_release(df);
	eau2_schema_free(schema);
	return status;
}

static void load_open_options(const void *opts, struct eau2_options *o)
{
	o->replicas = ((const struct load_opts *)opts)->replicas;
}

const struct eau2_cli_cmd eau2_cli_cmd_load = {
	.name = "load",
	.synopsis = "FILE --as KEY [options]",
	.summary = "load a CSV, SoR or text file into the store under KEY",
	.details =
	"The key is replaced only when the whole load succeeds; a failed load\n"
	"leaves the store as it was. CSV types are inferred unless --schema\n"
	"is given; empty fields are nulls. Text files (--format lines) give\n"
	"one string column 'line'.\n",
	.opts = load_opts_table,
	.opts_size = sizeof(struct load_opts),
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.open_options = load_open_options,
	.run = cmd_load,
};
