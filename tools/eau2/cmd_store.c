/* SPDX-License-Identifier: MIT */
/*
 * cmd_store.c - the commands that look at or change what the store holds:
 * ls, describe, head, export, rm. Opening a dataframe maps it (cost
 * independent of its size), so ls and describe stay cheap; describe walks
 * the chunk headers only (null counts, min/max), never the values.
 */
#include "cli.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ ls */

struct ls_opts {
	bool json;
};

static const struct eau2_cli_opt ls_opts_table[] = {
	{ "json", 0, EAU2_OPT_FLAG, offsetof(struct ls_opts, json), NULL,
	  "machine-readable output: [{\"key\",\"rows\",\"columns\","
	  "\"bytes\"}...]", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

struct ls_row {
	const char *key;
	uint64_t rows, bytes;
	size_t cols;
};

static int cmd_ls(struct eau2_cli *cli, void *vopts)
{
	struct ls_opts *o = vopts;
	struct eau2_error err = {0};
	struct ls_row *rows = NULL;
	char **keys = NULL;
	size_t n = 0, m = 0, wkey = 0, wrows = 1, wbytes = 1;
	int status = EAU2_CLI_OK, rc;

	rc = eau2_list(cli->db, &keys, &n, &err);
	if (rc) {
		status = eau2_cli_fail(rc, &err, "listing keys");
		goto out;
	}
	rows = calloc(n ? n : 1, sizeof *rows);
	if (!rows) {
		status = eau2_cli_fail(-ENOMEM, NULL, "listing keys");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct eau2_stat st;
		char buf[32];

		/* stat, not get: on a remote node a get would move the data */
		err.msg[0] = 0;
		rc = eau2_stat(cli->db, keys[i], &st, &err);
		if (rc == -ENOENT)
			continue; /* deleted since the listing */
		if (rc) {
			/* Report and go on: one bad key must not hide the
			 * others. */
			int s = eau2_cli_fail(rc, &err, keys[i]);
			if (s > status)
				status = s;
			continue;
		}
		rows[m] = (struct ls_row){ keys[i], st.rows, st.bytes,
					   eau2_schema_ncols(st.schema) };
		eau2_schema_free(st.schema);
		if (strlen(keys[i]) > wkey)
			wkey = strlen(keys[i]);
		if ((size_t)snprintf(buf, sizeof buf, "%" PRIu64,
				     rows[m].rows) > wrows)
			wrows = strlen(buf);
		if ((size_t)snprintf(buf, sizeof buf, "%" PRIu64,
				     rows[m].bytes) > wbytes)
			wbytes = strlen(buf);
		m++;
	}
	if (o->json) {
		fputc('[', stdout);
		for (size_t i = 0; i < m; i++) {
			fputs(i ? ",\n {\"key\":" : "{\"key\":", stdout);
			eau2_cli_json_str(stdout, rows[i].key,
					  strlen(rows[i].key));
			printf(",\"rows\":%" PRIu64 ",\"columns\":%zu,"
			       "\"bytes\":%" PRIu64 "}", rows[i].rows,
			       rows[i].cols, rows[i].bytes);
		}
		fputs("]\n", stdout);
	} else {
		for (size_t i = 0; i < m; i++)
			printf("%-*s  %*" PRIu64 " rows  %*" PRIu64 " bytes\n",
			       (int)wkey, rows[i].key, (int)wrows,
			       rows[i].rows, (int)wbytes, rows[i].bytes);
	}
out:
	free(rows);
	eau2_list_free(keys);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_ls = {
	.name = "ls",
	.synopsis = "[--json]",
	.summary = "list the keys with their rows and bytes",
	.details = "One key per line, sorted: KEY  ROWS rows  BYTES bytes.\n",
	.opts = ls_opts_table,
	.opts_size = sizeof(struct ls_opts),
	.min_pos = 0,
	.max_pos = 0,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_ls,
};

/* ------------------------------------------------------------ describe */

struct describe_opts {
	bool json;
};

static const struct eau2_cli_opt describe_opts_table[] = {
	{ "json", 0, EAU2_OPT_FLAG, offsetof(struct describe_opts, json), NULL,
	  "machine-readable output", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

struct col_stat {
	uint64_t nulls;
	uint64_t bytes; /* payload: bitmap, values, string bytes */
	bool has_minmax;
	union { int64_t i; double d; } min, max;
	char smin[40], smax[40]; /* formatted, "-" when none */
};

/* The per-column stats of key, by the "describe" rower (chunk headers
 * only) where runs run: in the store's eau2-node when one serves it (it
 * keeps the chunk views it checked), else here. */
static int describe_scan(struct eau2_cli *cli, const char *key, const eau2_df *df,
			 struct col_stat *st, struct eau2_error *err)
{
	const struct eau2_rower_class *cls = eau2_rower_find("describe");
	size_t ncols = eau2_df_ncols(df);
	eau2_df *r = NULL;
	int rc;

	if (!cls)
		return eau2_error_set(err, -ENOENT, "no rower 'describe'");
	rc = eau2_run_key(cli->db, key, cls, NULL, NULL, NULL, &r, err);
	if (!rc && eau2_df_rows(r) != ncols)
		rc = eau2_error_set(err, -EIO, "describe: %llu rows for %zu columns (the key "
				    "changed meanwhile?)", (unsigned long long)eau2_df_rows(r),
				    ncols);
	for (size_t c = 0; !rc && c < ncols; c++) {
		enum eau2_type t = eau2_schema_type(eau2_df_schema(df), c);
		int64_t v;
		int g;

		if ((rc = eau2_df_get_int(r, 1, c, &v, err)) < 0)
			break;
		st[c].nulls = (uint64_t)v;
		if ((rc = eau2_df_get_int(r, 2, c, &v, err)) < 0)
			break;
		st[c].bytes = (uint64_t)v;
		g = t == EAU2_INT ? eau2_df_get_int(r, 3, c, &st[c].min.i, err) :
		    t == EAU2_DOUBLE ? eau2_df_get_double(r, 5, c, &st[c].min.d, err) :
		    EAU2_NULL;
		if (g == 0)
			g = t == EAU2_INT ? eau2_df_get_int(r, 4, c, &st[c].max.i, err) :
			    eau2_df_get_double(r, 6, c, &st[c].max.d, err);
		if ((rc = g) < 0)
			break;
		rc = 0;
		st[c].has_minmax = g == 0;
		strcpy(st[c].smin, "-");
		strcpy(st[c].smax, "-");
		if (!st[c].has_minmax)
			continue;
		if (t == EAU2_INT) {
			snprintf(st[c].smin, sizeof st[c].smin, "%" PRId64, st[c].min.i);
			snprintf(st[c].smax, sizeof st[c].smax, "%" PRId64, st[c].max.i);
		} else {
			eau2_cli_fmt_double(st[c].smin, sizeof st[c].smin, st[c].min.d);
			eau2_cli_fmt_double(st[c].smax, sizeof st[c].smax, st[c].max.d);
		}
	}
	eau2_df_release(r);
	return rc;
}

/* st: the per-column stats, or NULL when they are not known (a remote
 * node's key: its chunk headers stay there). */
static void describe_json(const char *key, const struct eau2_stat *ds,
			  const struct col_stat *st)
{
	const eau2_schema *s = ds->schema;
	size_t ncols = eau2_schema_ncols(s);

	fputs("{\"key\":", stdout);
	eau2_cli_json_str(stdout, key, strlen(key));
	printf(",\"rows\":%" PRIu64 ",\"columns\":%zu,\"row_groups\":%zu,"
	       "\"bytes\":%" PRIu64 ",\"schema\":[", ds->rows, ncols,
	       ds->ngroups, ds->bytes);
	for (size_t c = 0; c < ncols; c++) {
		enum eau2_type t = eau2_schema_type(s, c);
		const char *name = eau2_schema_name(s, c);

		fputs(c ? ",\n {\"name\":" : "{\"name\":", stdout);
		eau2_cli_json_str(stdout, name, strlen(name));
		printf(",\"type\":\"%s\"", eau2_type_name(t));
		if (!st) {
			fputs(",\"nulls\":null,\"bytes\":null,\"min\":null,"
			      "\"max\":null}", stdout);
			continue;
		}
		printf(",\"nulls\":%" PRIu64 ",\"bytes\":%" PRIu64, st[c].nulls,
		       st[c].bytes);
		if (!st[c].has_minmax) {
			fputs(",\"min\":null,\"max\":null}", stdout);
		} else if (t == EAU2_INT) {
			printf(",\"min\":%" PRId64 ",\"max\":%" PRId64 "}",
			       st[c].min.i, st[c].max.i);
		} else {
			fputs(",\"min\":", stdout);
			eau2_cli_json_double(stdout, st[c].min.d);
			fputs(",\"max\":", stdout);
			eau2_cli_json_double(stdout, st[c].max.d);
			fputc('}', stdout);
		}
	}
	fputs("]}\n", stdout);
}

static void describe_text(const char *key, const struct eau2_stat *ds,
			  const struct col_stat *st)
{
	const eau2_schema *s = ds->schema;
	size_t ncols = eau2_schema_ncols(s);
	int wname = 6, wnulls = 5, wbytes = 5, wmin = 3;
	char buf[32];

	printf("key         %s\nrows        %" PRIu64 "\ncolumns     %zu\n"
	       "row groups  %zu\nbytes       %" PRIu64 "\n\n", key,
	       ds->rows, ncols, ds->ngroups, ds->bytes);
	if (!st) {
		for (size_t c = 0; c < ncols; c++) {
			int l = (int)strlen(eau2_schema_name(s, c));
			if (l > wname)
				wname = l;
		}
		printf("%-*s  %s\n", wname, "column", "type");
		for (size_t c = 0; c < ncols; c++)
			printf("%-*s  %s\n", wname, eau2_schema_name(s, c),
			       eau2_type_name(eau2_schema_type(s, c)));
		return;
	}
	for (size_t c = 0; c < ncols; c++) {
		int l = (int)strlen(eau2_schema_name(s, c));
		if (l > wname)
			wname = l;
		l = snprintf(buf, sizeof buf, "%" PRIu64, st[c].nulls);
		if (l > wnulls)
			wnulls = l;
		l = snprintf(buf, sizeof buf, "%" PRIu64, st[c].bytes);
		if (l > wbytes)
			wbytes = l;
		l = (int)strlen(st[c].smin);
		if (l > wmin)
			wmin = l;
	}
	printf("%-*s  %-6s  %*s  %*s  %*s  %s\n", wname, "column", "type",
	       wnulls, "nulls", wbytes, "bytes", wmin, "min", "max");
	for (size_t c = 0; c < ncols; c++)
		printf("%-*s  %-6s  %*" PRIu64 "  %*" PRIu64 "  %*s  %s\n",
		       wname, eau2_schema_name(s, c),
		       eau2_type_name(eau2_schema_type(s, c)), wnulls,
		       st[c].nulls, wbytes, st[c].bytes, wmin, st[c].smin,
		       st[c].smax);
}

static void describe_open_options(const void *opts, struct eau2_options *opt)
{
	(void)opts;
	eau2_cli_warm_options(opt);
}

static int cmd_describe(struct eau2_cli *cli, void *vopts)
{
	struct describe_opts *o = vopts;
	const char *key = cli->pos[0];
	struct eau2_error err = {0};
	struct eau2_stat ds = {0};
	struct col_stat *st = NULL;
	eau2_df *df = NULL;
	int status, rc;

	/* A remote node's key: its descriptor only (one round trip); the
	 * chunk headers, and so the per-column stats, stay there. */
	if (cli->remote) {
		status = eau2_cli_stat(cli, key, &ds);
		goto print;
	}
	status = eau2_cli_get_df(cli, key, &df);
	if (status)
		goto out;
	ds = (struct eau2_stat){ .rows = eau2_df_rows(df), .bytes = eau2_df_bytes(df),
				 .ngroups = eau2_df_ngroups(df) };
	st = calloc(eau2_df_ncols(df) + 1, sizeof *st);
	if (!st || (rc = eau2_schema_copy(eau2_df_schema(df), &ds.schema, &err))) {
		status = eau2_cli_fail(-ENOMEM, NULL, key);
		goto out;
	}
	rc = describe_scan(cli, key, df, st, &err);
	if (rc) {
		status = eau2_cli_fail(rc, &err, key);
		goto out;
	}
print:
	if (status)
		goto out;
	if (o->json)
		describe_json(key, &ds, st);
	else
		describe_text(key, &ds, st);
out:
	eau2_schema_free(ds.schema);
	free(st);
	eau2_df_release(df);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_describe = {
	.name = "describe",
	.synopsis = "KEY [--json]",
	.summary = "show the schema and size of KEY, and per column its nulls, "
		   "bytes, min and max",
	.details = "Only chunk headers are read. Column bytes count the "
		   "validity bitmap, values,\nstring offsets and string bytes; "
		   "min and max exist for int and double\ncolumns. With --remote "
		   "only the schema and sizes are shown (the chunk\nheaders stay "
		   "on the node; --json gives null stats).\n",
	.opts = describe_opts_table,
	.opts_size = sizeof(struct describe_opts),
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.open_options = describe_open_options,
	.run = cmd_describe,
};

/* ---------------------------------------------------------- head/export */

static int write_csv(const eau2_df *df, int fd, uint64_t max_rows,
		     const char *key)
{
	struct eau2_error err = {0};
	int rc;

	fflush(stdout);
	rc = eau2_export_csv(df, fd, max_rows, &err);
	return rc ? eau2_cli_fail(rc, &err, key) : EAU2_CLI_OK;
}

struct head_opts {
	uint64_t n;
};

static const struct head_opts head_defaults = { .n = 10 };

static const struct eau2_cli_opt head_opts_table[] = {
	{ "rows", 'n', EAU2_OPT_U64, offsetof(struct head_opts, n), "N",
	  "rows to print (default 10; 0 prints the header only)", NULL,
	  false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};

static int cmd_head(struct eau2_cli *cli, void *vopts)
{
	struct head_opts *o = vopts;
	const char *key = cli->pos[0];
	eau2_df *df = NULL;
	int status;

	status = eau2_cli_get_head(cli, key, o->n, &df);
	if (!status)
		status = write_csv(df, STDOUT_FILENO, o->n, key);
	eau2_df_release(df);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_head = {
	.name = "head",
	.synopsis = "KEY [-n N]",
	.summary = "print the first rows of KEY as CSV with a header",
	.details = NULL,
	.opts = head_opts_table,
	.opts_size = sizeof(struct head_opts),
	.defaults = &head_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_head,
};

static int cmd_export(struct eau2_cli *cli, void *vopts)
{
	const char *key = cli->pos[0], *path = cli->pos[1];
	struct eau2_outfile out = { .fd = -1 };
	struct eau2_error err = {0};
	eau2_df *df = NULL;
	int status, rc;

	eau2_cli_progress_start(&cli->bar, "pull");
	status = eau2_cli_get_df(cli, key, &df);
	eau2_cli_progress_clear(&cli->bar);
	if (status)
		goto out;
	if (!strcmp(path, "-")) {
		status = write_csv(df, STDOUT_FILENO, UINT64_MAX, key);
		goto out;
	}
	/* Write beside the target, then rename: readers of FILE see the old
	 * file or the whole new one. */
	rc = eau2_outfile_open(&out, path, 0666, &err);
	if (rc) {
		status = eau2_cli_fail(rc, &err, path);
		goto out;
	}
	status = write_csv(df, out.fd, UINT64_MAX, key);
	if (status)
		goto out;
	rc = eau2_outfile_commit(&out, &err);
	if (rc)
		status = eau2_cli_fail(rc, &err, path);
out:
	eau2_outfile_abort(&out);
	eau2_df_release(df);
	return status;
}

const struct eau2_cli_cmd eau2_cli_cmd_export = {
	.name = "export",
	.synopsis = "KEY FILE",
	.summary = "write KEY as CSV with a header to FILE ('-' for stdout)",
	.details = "FILE is written to a new temporary beside it (never through\n"
		   "a link) and renamed when complete.\n",
	.opts = NULL,
	.opts_size = 0,
	.min_pos = 2,
	.max_pos = 2,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_export,
};

/* ------------------------------------------------------------------ rm */

static int cmd_rm(struct eau2_cli *cli, void *vopts)
{
	struct eau2_error err = {0};
	const char *key = cli->pos[0];
	int rc = eau2_delete(cli->db, key, &err);

	if (!rc)
		return EAU2_CLI_OK;
	if (rc == -ENOENT && !strstr(err.msg, key)) {
		eau2_cli_errorf("no such key '%s'", key);
		return EAU2_CLI_USER;
	}
	return eau2_cli_fail(rc, &err, key);
}

const struct eau2_cli_cmd eau2_cli_cmd_rm = {
	.name = "rm",
	.synopsis = "KEY",
	.summary = "remove KEY from the store",
	.details = NULL,
	.opts = NULL,
	.opts_size = 0,
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = true,
	.takes_remote = true,
	.run = cmd_rm,
};
