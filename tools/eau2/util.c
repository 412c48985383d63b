/* SPDX-License-Identifier: MIT */
/*
 * util.c - the pieces every eau2 command shares: the table-driven option
 * parser and its generated --help, the mapping of API codes to exit
 * statuses, one-line error output, JSON string/number output and a few
 * small parsers.
 *
 * Option values are stored through the offsets of the command's table into
 * a per-command struct, so adding an option is one table line. Strings point
 * into argv (which outlives the command); only repeatable options allocate.
 */
#include "cli.h"
#include "common/env_options.h"
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* -------------------------------------------------- errors and exits */

void eau2_cli_errorf(const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Keep the promise of one line even when a message carries input. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fflush(stdout);
	fprintf(stderr, "eau2: %s\n", msg);
}

int eau2_cli_exit_code(int rc)
{
	switch (rc) {
	case 0:
		return EAU2_CLI_OK;
	case -ENOENT:   /* no such key, file, column or rower */
	case -EINVAL:   /* bad argument or option */
	case -ERANGE:   /* value out of range */
	case -EBADMSG:  /* bad input data */
	case -EEXIST:
	case -ETIMEDOUT:
	/* Also the user's doing: a file that is a directory, unreadable, or
	 * a path that does not resolve. */
	case -EACCES:
	case -EPERM:
	case -EISDIR:
	case -ENOTDIR:
	case -ENAMETOOLONG:
	case -ELOOP:
	/* A full store (space or inodes): the user's data does not fit. */
	case -ENOSPC:
	case -EDQUOT:
	/* A peer's doing (--remote, push, pull): unreachable, gone,
	 * refused us, spoke another protocol. */
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -EPIPE:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -EHOSTDOWN:
	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -ENOTSUP:
	case -EADDRNOTAVAIL:
		return EAU2_CLI_USER;
	default:
		return EAU2_CLI_INTERNAL;
	}
}

int eau2_cli_fail(int rc, const struct eau2_error *err, const char *what)
{
	if (err && err->msg[0])
		eau2_cli_errorf("%s", err->msg);
	else
		eau2_cli_errorf("%s: %s", what, strerror(rc < 0 ? -rc : rc));
	return eau2_cli_exit_code(rc);
}

int eau2_cli_fail_peer(int rc, const struct eau2_error *err, const char *addr)
{
	const char *msg = err && err->msg[0] ? err->msg : strerror(rc < 0 ? -rc : rc);

	if (strstr(msg, addr))
		eau2_cli_errorf("%s", msg);
	else
		eau2_cli_errorf("%s: %s", addr, msg);
	return eau2_cli_exit_code(rc);
}

void eau2_cli_options(struct eau2_cli *cli, struct eau2_options *opt)
{
	eau2_env_options(opt, cli->g->store_dir);
	if (cli->g->secret_file)
		opt->secret_file = cli->g->secret_file;
	opt->timeout_ms = cli->g->timeout_ms;
	opt->heartbeat_ms = cli->g->heartbeat_ms;
	opt->dead_after_ms = cli->g->dead_after_ms;
	/* Silent until a command starts it for a transfer (a bar left drawn
	 * would run into what the command prints next). */
	memset(&cli->bar, 0, sizeof(cli->bar));
	opt->progress = eau2_cli_progress;
	opt->progress_ctx = &cli->bar;
}

int eau2_cli_flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno ? errno : EIO;
		eau2_cli_errorf("writing to standard output: %s", strerror(e));
		return EAU2_CLI_INTERNAL;
	}
	return EAU2_CLI_OK;
}

int eau2_cli_check_key(const char *key)
{
	size_t len = strlen(key);

	if (len == 0 || len > EAU2_KEY_MAX) {
		eau2_cli_errorf("bad key '%.*s': must be 1..%u bytes",
				len > 64 ? 64 : (int)len, key, EAU2_KEY_MAX);
		return EAU2_CLI_USER;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (c < 0x21 || c > 0x7e) {
			eau2_cli_errorf("bad key '%.*s': byte %zu is not printable "
					"ASCII (space and control characters "
					"are not allowed)",
					len > 64 ? 64 : (int)len, key, i);
			return EAU2_CLI_USER;
		}
	}
	return EAU2_CLI_OK;
}

/* eau2_get with the error printed; the message always names the key. */
/* The error of a get of key, named (no such key, or the message). */
static int get_failed(struct eau2_cli *cli, const char *key, int rc,
		      const struct eau2_error *err)
{
	if (cli->remote) {
		const char *msg = err->msg[0] ? err->msg : strerror(-rc);

		/* name the peer and the key, each once */
		eau2_cli_errorf("%s%s%s%s%s", strstr(msg, cli->remote) ? "" : cli->remote,
				strstr(msg, cli->remote) ? "" : ": ",
				strstr(msg, key) ? "" : key, strstr(msg, key) ? "" : ": ", msg);
		return eau2_cli_exit_code(rc);
	}
	if (rc == -ENOENT && !strstr(err->msg, key))
		eau2_cli_errorf("no such key '%s'", key);
	else if (err->msg[0] && !strstr(err->msg, key))
		eau2_cli_errorf("%s: %s", key, err->msg);
	else
		eau2_cli_fail(rc, err, key);
	return eau2_cli_exit_code(rc);
}

int eau2_cli_get_df(struct eau2_cli *cli, const char *key, eau2_df **df)
{
	struct eau2_error err = {0};
	int rc = eau2_get(cli->db, key, df, &err);

	return rc ? get_failed(cli, key, rc, &err) : EAU2_CLI_OK;
}

int eau2_cli_get_head(struct eau2_cli *cli, const char *key, uint64_t rows,
		      eau2_df **df)
{
	struct eau2_error err = {0};
	int rc = eau2_get_head(cli->db, key, rows, df, &err);

	return rc ? get_failed(cli, key, rc, &err) : EAU2_CLI_OK;
}

int eau2_cli_stat(struct eau2_cli *cli, const char *key, struct eau2_stat *st)
{
	struct eau2_error err = {0};
	int rc = eau2_stat(cli->db, key, st, &err);

	return rc ? get_failed(cli, key, rc, &err) : EAU2_CLI_OK;
}

int eau2_cli_fail_store(int rc, const struct eau2_error *err, const char *what,
			const char *input, const char *key)
{
	const char *msg = err && err->msg[0] ? err->msg : strerror(rc < 0 ? -rc : rc);
	size_t n = input ? strlen(input) : 0;

	if (rc != -ENOSPC && rc != -EDQUOT)
		return eau2_cli_fail(rc, err, what);
	/* The input is named once, in front. */
	if (n && !strncmp(msg, input, n) && !strncmp(msg + n, ": ", 2))
		msg += n + 2;
	eau2_cli_errorf("%s%s%s as '%s': %s%s", what, input ? " " : "",
			input ? input : "", key, msg,
			strstr(msg, "store is full") ? "" :
			" (the store is full: out of space or inodes)");
	return eau2_cli_exit_code(rc);
}

double eau2_cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int eau2_cli_split_arg(const char *s, char **name, char **value)
{
	const char *eq = strchr(s, '=');

	if (!eq || eq == s)
		return -EINVAL;
	*name = strndup(s, (size_t)(eq - s));
	*value = strdup(eq + 1);
	if (!*name || !*value) {
		free(*name);
		free(*value);
		*name = *value = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ------------------------------------------------------------- values */

static int parse_char(const char *s, char *out)
{
	if (s[0] && !s[1]) {
		*out = s[0];
		return 0;
	}
	if (!strcmp(s, "\\t") || !strcmp(s, "tab")) {
		*out = '\t';
		return 0;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------- parser */

static const char *kind_metavar(const struct eau2_cli_opt *o)
{
	if (o->metavar)
		return o->metavar;
	switch (o->kind) {
	case EAU2_OPT_FLAG: return NULL;
	case EAU2_OPT_U64:
	case EAU2_OPT_UINT: return "N";
	case EAU2_OPT_SIZE: return "BYTES";
	case EAU2_OPT_CHAR: return "C";
	default: return "VALUE";
	}
}

void eau2_cli_help(const struct eau2_cli_cmd *cmd, FILE *out)
{
	char left[128];

	fprintf(out, "usage: eau2 %s%s %s\n\n%s\n", cmd->needs_store ?
		"[--store DIR] " : "", cmd->name, cmd->synopsis, cmd->summary);
	if (cmd->details)
		fprintf(out, "\n%s", cmd->details);
	if (cmd->more_help)
		cmd->more_help(out);
	fprintf(out, "\noptions:\n");
	for (const struct eau2_cli_opt *o = cmd->opts; o && o->name; o++) {
		const char *mv = kind_metavar(o);
		char sh[8] = "    ";

		if (o->short_name)
			snprintf(sh, sizeof sh, "-%c, ", o->short_name);
		snprintf(left, sizeof left, "%s--%s%s%s", sh, o->name,
			 mv ? " " : "", mv ? mv : "");
		fprintf(out, "  %-24s %s", left, o->help);
		if (o->kind == EAU2_OPT_CHOICE) {
			fputs(" (", out);
			for (const char *const *c = o->choices; *c; c++)
				fprintf(out, "%s%s", c == o->choices ? "" : "|", *c);
			fputc(')', out);
		}
		if (o->kind == EAU2_OPT_LIST)
			fputs(" (repeatable)", out);
		fputc('\n', out);
	}
	fprintf(out, "  %-24s %s\n", "-h, --help", "show this help and exit");
}

static const struct eau2_cli_opt *find_long(const struct eau2_cli_cmd *cmd,
					    const char *name, size_t len)
{
	for (const struct eau2_cli_opt *o = cmd->opts; o && o->name; o++)
		if (strlen(o->name) == len && !memcmp(o->name, name, len))
			return o;
	return NULL;
}

static const struct eau2_cli_opt *find_short(const struct eau2_cli_cmd *cmd,
					     char c)
{
	for (const struct eau2_cli_opt *o = cmd->opts; o && o->name; o++)
		if (o->short_name == c)
			return o;
	return NULL;
}

/* Stores value into the option's slot; prints and returns -EINVAL when it
 * does not parse. */
static int store_value(const struct eau2_cli_cmd *cmd,
		       const struct eau2_cli_opt *o, const char *value,
		       void *opts)
{
	void *slot = (char *)opts + o->offset;
	uint64_t u = 0;
	int rc = 0;
	const char *want = "";

	switch (o->kind) {
	case EAU2_OPT_FLAG:
		*(bool *)slot = true;
		return 0;
	case EAU2_OPT_STR:
		*(const char **)slot = value;
		return 0;
	case EAU2_OPT_U64:
		rc = eau2_parse_u64(value, &u);
		want = "a non-negative integer";
		if (!rc)
			*(uint64_t *)slot = u;
		break;
	case EAU2_OPT_SIZE:
		rc = eau2_parse_size(value, &u);
		want = "a byte count (suffix K, M, G or T allowed)";
		if (!rc)
			*(uint64_t *)slot = u;
		break;
	case EAU2_OPT_UINT:
		rc = eau2_parse_u64(value, &u);
		want = "an integer 0..65535";
		if (!rc && u > 65535)
			rc = -ERANGE;
		if (!rc)
			*(unsigned *)slot = (unsigned)u;
		break;
	case EAU2_OPT_CHAR:
		rc = parse_char(value, slot);
		want = "a single character (or \\t)";
		break;
	case EAU2_OPT_CHOICE:
		rc = -EINVAL;
		want = "one of the listed values";
		for (int i = 0; o->choices[i]; i++) {
			if (!strcmp(o->choices[i], value)) {
				*(int *)slot = i;
				rc = 0;
				break;
			}
		}
		break;
	case EAU2_OPT_LIST: {
		struct eau2_cli_list *l = slot;
		const char **v = realloc(l->v, (l->n + 1) * sizeof *v);

		if (!v) {
			eau2_cli_errorf("%s: out of memory", cmd->name);
			return -ENOMEM;
		}
		v[l->n++] = value;
		l->v = v;
		return 0;
	}
	}
	if (rc) {
		eau2_cli_errorf("%s: bad value '%s' for --%s: want %s",
				cmd->name, value, o->name, want);
		return -EINVAL;
	}
	return 0;
}

int eau2_cli_parse(struct eau2_cli *cli, const struct eau2_cli_cmd *cmd,
		   int argc, char **argv, void *opts)
{
	bool seen[64] = {0};
	bool only_pos = false;
	int rc = 0;

	if (cmd->defaults)
		memcpy(opts, cmd->defaults, cmd->opts_size);
	else
		memset(opts, 0, cmd->opts_size);
	cli->cmd = cmd;
	cli->npos = 0;
	cli->pos = calloc((size_t)argc + 1, sizeof *cli->pos);
	if (!cli->pos) {
		eau2_cli_errorf("%s: out of memory", cmd->name);
		return -ENOMEM;
	}
	for (int i = 0; i < argc; i++) {
		char *a = argv[i];
		const struct eau2_cli_opt *o = NULL;
		const char *value = NULL;
		char shown[64];

		if (only_pos || a[0] != '-' || a[1] == 0) {
			cli->pos[cli->npos++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = true;
			continue;
		}
		if (a[1] == '-') {
			char *eq = strchr(a + 2, '=');
			size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			if (len == 4 && !memcmp(a + 2, "help", 4) && !eq) {
				eau2_cli_help(cmd, stdout);
				return 1;
			}
			o = find_long(cmd, a + 2, len);
			if (eq)
				value = eq + 1;
			snprintf(shown, sizeof shown, "--%.*s",
				 (int)(len > 40 ? 40 : len), a + 2);
		} else {
			if (a[1] == 'h' && !a[2]) {
				eau2_cli_help(cmd, stdout);
				return 1;
			}
			o = find_short(cmd, a[1]);
			if (a[2])
				value = a + 2;
			snprintf(shown, sizeof shown, "-%c", a[1]);
		}
		if (!o) {
			eau2_cli_errorf("%s: unknown option '%s' (see 'eau2 %s "
					"--help')", cmd->name, shown, cmd->name);
			rc = -EINVAL;
			goto out;
		}
		if (o->kind == EAU2_OPT_FLAG && value) {
			eau2_cli_errorf("%s: option '%s' takes no value",
					cmd->name, shown);
			rc = -EINVAL;
			goto out;
		}
		if (o->kind != EAU2_OPT_FLAG && !value) {
			if (i + 1 >= argc) {
				eau2_cli_errorf("%s: option '%s' needs a value "
						"(%s)", cmd->name, shown,
						kind_metavar(o));
				rc = -EINVAL;
				goto out;
			}
			value = argv[++i];
		}
		/* Only a repeatable option may come twice: a second value
		 * must not quietly replace the first. */
		if (o->kind != EAU2_OPT_LIST && o - cmd->opts < 64 &&
		    seen[o - cmd->opts]) {
			eau2_cli_errorf("%s: option '%s' given twice (it takes one "
					"value)", cmd->name, shown);
			rc = -EINVAL;
			goto out;
		}
		rc = store_value(cmd, o, value, opts);
		if (rc)
			goto out;
		if (o - cmd->opts < 64)
			seen[o - cmd->opts] = true;
	}
	for (const struct eau2_cli_opt *o = cmd->opts; o && o->name; o++) {
		if (o->required && !seen[o - cmd->opts]) {
			eau2_cli_errorf("%s: missing option --%s %s (see 'eau2 "
					"%s --help')", cmd->name, o->name,
					kind_metavar(o), cmd->name);
			rc = -EINVAL;
			goto out;
		}
	}
	if (cli->npos < cmd->min_pos || cli->npos > cmd->max_pos) {
		if (cli->npos > cmd->max_pos)
			eau2_cli_errorf("%s: unexpected argument '%s' (usage: "
					"eau2 %s %s)", cmd->name,
					cli->pos[cmd->max_pos], cmd->name,
					cmd->synopsis);
		else
			eau2_cli_errorf("%s: missing argument (usage: eau2 %s "
					"%s)", cmd->name, cmd->name,
					cmd->synopsis);
		rc = -EINVAL;
	}
out:
	return rc;
}

void eau2_cli_opts_free(const struct eau2_cli_cmd *cmd, void *opts)
{
	for (const struct eau2_cli_opt *o = cmd->opts; o && o->name; o++) {
		if (o->kind == EAU2_OPT_LIST) {
			struct eau2_cli_list *l =
				(void *)((char *)opts + o->offset);
			free(l->v);
			l->v = NULL;
			l->n = 0;
		}
	}
}

/* ---------------------------------------------------------------- json */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (avail < n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void eau2_cli_json_str(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', out);
	while (i < len) {
		unsigned char c = p[i];
		size_t n;

		switch (c) {
		case '"': fputs("\\\"", out); i++; continue;
		case '\\': fputs("\\\\", out); i++; continue;
		case '\n': fputs("\\n", out); i++; continue;
		case '\r': fputs("\\r", out); i++; continue;
		case '\t': fputs("\\t", out); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
			i++;
			continue;
		}
		n = utf8_len(p + i, len - i);
		if (n == 0) {
			fputs("\\ufffd", out);
			i++;
			continue;
		}
		fwrite(p + i, 1, n, out);
		i += n;
	}
	fputc('"', out);
}

void eau2_cli_fmt_double(char *buf, size_t size, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

void eau2_cli_json_double(FILE *out, double v)
{
	char buf[40];

	if (isnan(v)) {
		fputs("\"nan\"", out);
		return;
	}
	if (isinf(v)) {
		fputs(v > 0 ? "\"inf\"" : "\"-inf\"", out);
		return;
	}
	eau2_cli_fmt_double(buf, sizeof buf, v);
	fputs(buf, out);
}

bool eau2_cli_warm_options(struct eau2_options *opt)
{
	if (opt->node != EAU2_NODE_AUTO || opt->verify || opt->remote || opt->cluster)
		return false;
	opt->node = EAU2_NODE_RUNS;
	return true;
}
