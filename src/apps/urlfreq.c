/* SPDX-License-Identifier: MIT */
/*
 * urlfreq.c - the "urlfreq" rower: URL frequencies of web-server access
 * logs in the Common Log Format, one line per row (load with --format
 * lines; column=NAME picks the string column, default the first):
 *
 *     host ident user [date] "METHOD URL PROTO" status bytes[ extra]
 *
 * host, ident, user, METHOD, URL and PROTO are non-empty and hold no space
 * (nor '"' inside the request); date is non-empty and holds no ']'; status
 * is three digits; bytes is digits or '-'; anything after bytes must start
 * with a space (the Combined Log Format's referer and user agent), and a
 * final '\r' is ignored. Any other line (a null row too) is malformed: it
 * is counted and skipped.
 *
 * Result: url (string), count (int), most frequent first, ties by URL
 * bytewise, the first top=K rows when given. The number of malformed lines
 * is not a row of the result: finish writes "urlfreq: N malformed lines
 * skipped" to stderr when N > 0 (the result stays a clean url,count table
 * that --as can store).
 *
 * The line parser is eau2_app_clf_parse (apps.h; fuzzed by
 * tests/fuzz/fuzz_clf.c).
 *
 * State: a table interning URLs (eau2_htab) and a count per URL id; join
 * adds the other's counts into this one; encode writes (malformed, n, then
 * n times url bytes + count).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"
#include "rowers/rowers.h"

struct uf_state {
	size_t col;
	struct eau2_htab urls;
	uint64_t *counts;   /* by URL id */
	size_t counts_cap;
	uint64_t malformed;
	uint64_t lines;
};

static int no_lines(struct eau2_error *err)
{
	return eau2_error_set(err, -EINVAL, "urlfreq: the input holds no lines");
}

static int uf_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	struct uf_state *s = state;
	const char *name = eau2_args_get(ctx->args, "column");
	int64_t top;
	int rc;

	if (!ctx->input)
		return eau2_error_set(err, -EINVAL, "urlfreq: needs --input KEY "
				      "(access log lines)");
	/* A cluster driver's input holds no rows (the nodes' parts do):
	 * finish counts the parts' lines. */
	if (!ctx->key && eau2_df_rows(ctx->input) == 0)
		return no_lines(err);
	rc = eau2_apps_arg_i64(ctx->args, "urlfreq", "top", 0, 0, INT64_MAX,
			       &top, err);
	if (rc < 0)
		return rc;
	if (name) {
		rc = eau2_apps_column(ctx->input, "urlfreq", "input", name, SIZE_MAX,
				      EAU2_APPS_T(EAU2_STRING), &s->col, err);
		if (rc < 0)
			return rc;
	} else {
		const eau2_schema *sc = eau2_df_schema(ctx->input);
		size_t c;

		for (c = 0; c < eau2_schema_ncols(sc); c++)
			if (eau2_schema_type(sc, c) == EAU2_STRING)
				break;
		if (c == eau2_schema_ncols(sc))
			return eau2_error_set(err, -EINVAL, "urlfreq: input has no "
					      "string column (load the log with "
					      "--format lines)");
		s->col = c;
	}
	if (eau2_htab_init(&s->urls, 1024) < 0)
		return eau2_error_set(err, -ENOMEM, "urlfreq: out of memory");
	return 0;
}

static void uf_destroy(void *state)
{
	struct uf_state *s = state;

	eau2_htab_free(&s->urls);
	free(s->counts);
}

/* Adds n to the count of url; 0 or -ENOMEM / -E2BIG. */
static int uf_add(struct uf_state *s, const char *url, size_t len, uint64_t n)
{
	int64_t id = eau2_htab_intern(&s->urls, url, len,
				      eau2_hash_bytes(url, len), NULL);

	if (id < 0)
		return (int)id;
	if ((size_t)id >= s->counts_cap) {
		size_t cap = s->counts_cap ? 2 * s->counts_cap : 1024;
		uint64_t *c = realloc(s->counts, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		memset(c + s->counts_cap, 0, (cap - s->counts_cap) * sizeof(*c));
		s->counts = c;
		s->counts_cap = cap;
	}
	s->counts[id] += n;
	return 0;
}

/* A run of bytes other than space (and other than `stop`), at least one;
 * returns its end or NULL. */
static inline const char *token(const char *p, const char *e, char stop)
{
	const char *q = p;

	while (q < e && *q != ' ' && *q != stop)
		q++;
	return q > p ? q : NULL;
}

/* The URL of a Common Log Format line, or NULL for a malformed one. */
static const char *clf_url(const char *p, size_t n, size_t *url_len)
{
	const char *e = p + n, *q, *url;

	if (n && e[-1] == '\r')
		e--;
	for (int f = 0; f < 3; f++) {       /* host ident user */
		if (!(q = token(p, e, ' ')) || q == e || *q != ' ')
			return NULL;
		p = q + 1;
	}
	if (p == e || *p != '[')              /* [date] */
		return NULL;
	q = memchr(p + 1, ']', (size_t)(e - p - 1));
	if (!q || q == p + 1 || q + 2 >= e || q[1] != ' ' || q[2] != '"')
		return NULL;
	p = q + 3;
	if (!(q = token(p, e, '"')) || q == e || *q != ' ')   /* METHOD */
		return NULL;
	url = p = q + 1;
	if (!(q = token(p, e, '"')) || q == e || *q != ' ')   /* URL */
		return NULL;
	*url_len = (size_t)(q - url);
	p = q + 1;
	if (!(q = token(p, e, '"')) || q == e || *q != '"')   /* PROTO" */
		return NULL;
	p = q + 1;
	if (e - p < 5 || p[0] != ' ')                          /* status */
		return NULL;
	for (int i = 1; i <= 3; i++)
		if (p[i] < '0' || p[i] > '9')
			return NULL;
	if (p[4] != ' ')
		return NULL;
	p += 5;
	if (p < e && *p == '-') {                              /* bytes */
		p++;
	} else {
		q = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == q)
			return NULL;
	}
	if (p != e && *p != ' ')
		return NULL;
	return url;
}

int eau2_app_clf_parse(const char *line, size_t len, const char **url,
		       size_t *url_len)
{
	size_t n = 0;
	const char *u = clf_url(line, len, &n);

	if (!u)
		return -EINVAL;
	*url = u;
	*url_len = n;
	return 0;
}

static int uf_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	struct uf_state *s = state;
	const struct eau2_chunk_view *v = &g->cols[s->col];
	int rc;

	for (uint32_t i = 0; i < v->rows; i++) {
		size_t len, ulen;
		const char *line, *url;

		if (!eau2_view_valid(v, i)) {
			s->malformed++;
			continue;
		}
		line = eau2_view_string(v, i, &len);
		url = clf_url(line, len, &ulen);
		if (!url) {
			s->malformed++;
			continue;
		}
		rc = uf_add(s, url, ulen, 1);
		if (rc < 0)
			return eau2_error_set(err, rc, "urlfreq: row %llu: %s",
					      (unsigned long long)(g->first_row + i),
					      rc == -ENOMEM ? "out of memory" :
					      "URL table full");
	}
	s->lines += v->rows;
	return 0;
}

static int uf_join(void *state, void *other_, struct eau2_error *err)
{
	struct uf_state *s = state, *o = other_;

	for (uint32_t id = 0; id < eau2_htab_size(&o->urls); id++) {
		size_t len;
		const char *url = eau2_htab_key(&o->urls, id, &len);
		int rc = uf_add(s, url, len, o->counts[id]);

		if (rc < 0)
			return eau2_error_set(err, rc, "urlfreq: join: out of memory");
	}
	s->malformed += o->malformed;
	s->lines += o->lines;
	return 0;
}

static int uf_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	const struct uf_state *s = state;
	struct eau2_buf b = {0};
	int rc;

	rc = eau2_buf_u64(&b, s->malformed);
	if (rc == 0)
		rc = eau2_buf_u64(&b, s->lines);
	if (rc == 0)
		rc = eau2_buf_u64(&b, eau2_htab_size(&s->urls));
	for (uint32_t id = 0; rc == 0 && id < eau2_htab_size(&s->urls); id++) {
		size_t n;
		const char *url = eau2_htab_key(&s->urls, id, &n);

		rc = eau2_buf_bytes(&b, url, n);
		if (rc == 0)
			rc = eau2_buf_u64(&b, s->counts[id]);
	}
	if (rc < 0) {
		free(b.p);
		return eau2_error_set(err, rc, "urlfreq: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int uf_decode(void *state, const void *buf, size_t len,
		     struct eau2_error *err)
{
	struct uf_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t malformed, lines, n;

	if (eau2_rd_u64(&r, &malformed) || eau2_rd_u64(&r, &lines) ||
	    eau2_rd_u64(&r, &n))
		return eau2_error_set(err, -EBADMSG, "urlfreq: decode: truncated header");
	/* each entry takes at least 16 bytes: check before looping */
	if (n > (len - r.pos) / 16)
		return eau2_error_set(err, -EBADMSG, "urlfreq: decode: %llu entries "
				      "do not fit in %zu bytes", (unsigned long long)n, len);
	for (uint64_t i = 0; i < n; i++) {
		const char *url;
		size_t ulen;
		uint64_t count;
		int rc;

		if (eau2_rd_bytes(&r, &url, &ulen) || eau2_rd_u64(&r, &count))
			return eau2_error_set(err, -EBADMSG, "urlfreq: decode: "
					      "truncated entry %llu", (unsigned long long)i);
		rc = uf_add(s, url, ulen, count);
		if (rc < 0)
			return eau2_error_set(err, rc, "urlfreq: decode: out of memory");
	}
	if (r.pos != len)
		return eau2_error_set(err, -EBADMSG, "urlfreq: decode: trailing bytes");
	s->malformed += malformed;
	s->lines += lines;
	return 0;
}

static _Thread_local const struct uf_state *sort_state;

static int url_cmp(const void *a_, const void *b_)
{
	const struct uf_state *s = sort_state;
	uint32_t a = *(const uint32_t *)a_, b = *(const uint32_t *)b_;
	size_t la, lb;
	const char *ka, *kb;
	int c;

	if (s->counts[a] != s->counts[b])
		return s->counts[a] > s->counts[b] ? -1 : 1;
	ka = eau2_htab_key(&s->urls, a, &la);
	kb = eau2_htab_key(&s->urls, b, &lb);
	c = memcmp(ka, kb, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

static int uf_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct uf_state *s = state;
	uint32_t n = eau2_htab_size(&s->urls);
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	uint32_t *order = NULL;
	int64_t top;
	int rc;

	if (ctx->key && s->lines == 0)
		return no_lines(err);
	rc = eau2_apps_arg_i64(ctx->args, "urlfreq", "top", 0, 0, INT64_MAX,
			       &top, err);
	if (rc < 0)
		goto out;
	order = malloc((n ? n : 1) * sizeof(*order));
	if (!order) {
		rc = eau2_error_set(err, -ENOMEM, "urlfreq: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	sort_state = s;
	qsort(order, n, sizeof(*order), url_cmp);
	if (top > 0 && (uint64_t)top < n)
		n = (uint32_t)top;
	rc = eau2_schema_parse("url:string,count:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		size_t len;
		const char *url = eau2_htab_key(&s->urls, order[i], &len);

		rc = eau2_builder_append_string(b, 0, url, len, err);
		if (rc == 0)
			rc = eau2_builder_append_int(b, 1, (int64_t)s->counts[order[i]], err);
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
	if (rc == 0 && s->malformed)
		fprintf(stderr, "urlfreq: %llu malformed lines skipped (of %llu)\n",
			(unsigned long long)s->malformed,
			(unsigned long long)s->lines);
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	return rc;
}

static const char *const urlfreq_args[] = { "column", "top", NULL };

const struct eau2_rower_class eau2_app_urlfreq = {
	.name = "urlfreq",
	.summary = "url, count of Common Log Format lines (column=NAME, top=K), "
		   "most frequent first; malformed lines counted on stderr",
	.state_size = sizeof(struct uf_state),
	.init = uf_init,
	.accept_chunk = uf_chunk,
	.join = uf_join,
	.encode = uf_encode,
	.decode = uf_decode,
	.finish = uf_finish,
	.destroy = uf_destroy,
	.args = urlfreq_args,
};
