/* SPDX-License-Identifier: MIT */
/*
 * csv_write.c - eau2_export_csv: a dataframe as RFC 4180 CSV that the CSV
 * reader loads back equal, types included.
 *
 * What makes the round trip exact:
 *  - null is an empty field; an empty string is "" (the reader reads a
 *    quoted field as a string, an empty unquoted one as null);
 *  - a string is quoted when it holds the delimiter, a quote, CR or LF, or
 *    when unquoted it would read as another type (bool, number);
 *  - doubles print with the fewest digits that read back to the same bits
 *    (%.15g, %.16g, then %.17g), always with a '.', an exponent, inf or nan
 *    so that a column of integral doubles stays double;
 *  - bools print true/false; an int column whose values are all 0 or 1
 *    prints them as +0/+1 so it does not read back as bool.
 * A string holding a NUL byte is written as is, and the reader refuses it.
 *
 * Output goes through a 1 MiB buffer; write() is retried on EINTR and on
 * short writes. Doubles format in the C locale whatever the caller's.
 */
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "df/load.h"

#define WBUF (1u << 20)

struct wbuf {
	int fd;
	size_t n;
	char *buf;
	int rc;
	struct eau2_error *err;
};

static int wflush(struct wbuf *w)
{
	size_t off = 0;

	while (off < w->n && w->rc == 0) {
		ssize_t k = write(w->fd, w->buf + off, w->n - off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			w->rc = eau2_error_set(w->err, -errno, "export: write: %s",
					       strerror(errno));
			break;
		}
		off += (size_t)k;
	}
	w->n = 0;
	return w->rc;
}

static void wput(struct wbuf *w, const char *s, size_t n)
{
	while (n && w->rc == 0) {
		size_t k = WBUF - w->n < n ? WBUF - w->n : n;

		memcpy(w->buf + w->n, s, k);
		w->n += k;
		s += k;
		n -= k;
		if (w->n == WBUF)
			wflush(w);
	}
}

static inline void wchar(struct wbuf *w, char c)
{
	if (w->n == WBUF && wflush(w))
		return;
	w->buf[w->n++] = c;
}

static void put_quoted(struct wbuf *w, const char *s, size_t n)
{
	wchar(w, '"');
	while (n) {
		const char *q = memchr(s, '"', n);
		size_t k = q ? (size_t)(q - s) + 1 : n;

		wput(w, s, k);
		if (q)
			wchar(w, '"');
		s += k;
		n -= k;
	}
	wchar(w, '"');
}

static void put_string(struct wbuf *w, const char *s, size_t n)
{
	bool quote = n == 0;

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote && eau2_csv_kind(s, n) != EAU2_KIND_STR)
		quote = true;
	if (quote)
		put_quoted(w, s, n);
	else
		wput(w, s, n);
}

static void put_int(struct wbuf *w, int64_t v, bool plus)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp), *p = e;
	uint64_t x = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + x % 10);
		x /= 10;
	} while (x);
	if (v < 0)
		*--p = '-';
	else if (plus)
		*--p = '+';
	wput(w, p, (size_t)(e - p));
}

static void put_double(struct wbuf *w, double v, locale_t loc)
{
	char tmp[40];
	int n = 0;
	locale_t old = uselocale(loc);

	for (int prec = 15; prec <= 17; prec++) {
		double back;

		n = snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		back = strtod(tmp, NULL);
		if (back == v || v != v || memcmp(&back, &v, sizeof(v)) == 0)
			break;
	}
	uselocale(old);
	if (!strpbrk(tmp, ".eEna")) {
		tmp[n++] = '.';
		tmp[n++] = '0';
	}
	/* -0.0 == 0.0, so the loop above may stop at "0": keep the sign. */
	if (v == 0 && __builtin_signbit(v) && tmp[0] != '-')
		snprintf(tmp, sizeof(tmp), "-0.0"), n = 4;
	wput(w, tmp, (size_t)n);
}

/* True when every non-null value of int column col is 0 or 1 (and one
 * exists): such a column must not print as 0/1. */
static int int_is_01(const eau2_df *df, size_t col, bool *out,
		     struct eau2_error *err)
{
	size_t groups = eau2_df_ngroups(df);
	bool any = false;

	*out = false;
	for (size_t g = 0; g < groups; g++) {
		struct eau2_chunk_view v;
		int rc = eau2_df_chunk(df, col, g, &v, err);

		if (rc)
			return rc;
		for (uint32_t i = 0; i < v.rows; i++) {
			if (!eau2_view_valid(&v, i))
				continue;
			if ((uint64_t)v.values.i64[i] > 1)
				return 0;
			any = true;
		}
	}
	*out = any;
	return 0;
}

int eau2_export_csv(const eau2_df *df, int fd, uint64_t max_rows,
		    struct eau2_error *err)
{
	struct wbuf w = { .fd = fd, .err = err };
	const eau2_schema *schema;
	struct eau2_chunk_view *views = NULL;
	bool *plus = NULL;
	size_t ncols, groups;
	uint64_t done = 0;
	locale_t loc = (locale_t)0;
	int rc = 0;

	if (!df || fd < 0)
		return eau2_error_set(err, -EINVAL, "export: bad argument");
	schema = eau2_df_schema(df);
	ncols = eau2_df_ncols(df);
	groups = eau2_df_ngroups(df);
	w.buf = malloc(WBUF);
	views = calloc(ncols ? ncols : 1, sizeof(*views));
	plus = calloc(ncols ? ncols : 1, sizeof(*plus));
	loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!w.buf || !views || !plus || !loc) {
		rc = eau2_error_set(err, -ENOMEM, "export: out of memory");
		goto out;
	}
	for (size_t c = 0; c < ncols; c++) {
		const char *name = eau2_schema_name(schema, c);

		if (eau2_schema_type(schema, c) == EAU2_INT) {
			rc = int_is_01(df, c, &plus[c], err);
			if (rc)
				goto out;
		}
		if (c)
			wchar(&w, ',');
		/* A first name starting with a BOM would lose it on reading. */
		if (strpbrk(name, ",\"\r\n") ||
		    (c == 0 && !strncmp(name, "\xef\xbb\xbf", 3)))
			put_quoted(&w, name, strlen(name));
		else
			wput(&w, name, strlen(name));
	}
	wchar(&w, '\n');
	for (size_t g = 0; g < groups && done < max_rows && w.rc == 0; g++) {
		uint32_t rows = eau2_df_group_rows(df, g);

		for (size_t c = 0; c < ncols; c++) {
			rc = eau2_df_chunk(df, c, g, &views[c], err);
			if (rc)
				goto out;
		}
		for (uint32_t i = 0; i < rows && done < max_rows && w.rc == 0; i++, done++) {
			for (size_t c = 0; c < ncols; c++) {
				const struct eau2_chunk_view *v = &views[c];

				if (c)
					wchar(&w, ',');
				if (!eau2_view_valid(v, i))
					continue;
				switch (v->type) {
				case EAU2_BOOL:
					if (eau2_view_bool(v, i))
						wput(&w, "true", 4);
					else
						wput(&w, "false", 5);
					break;
				case EAU2_INT:
					put_int(&w, v->values.i64[i], plus[c]);
					break;
				case EAU2_DOUBLE:
					put_double(&w, v->values.f64[i], loc);
					break;
				default: {
					size_t n;
					const char *s = eau2_view_string(v, i, &n);

					put_string(&w, s, n);
					break;
				}
				}
			}
			wchar(&w, '\n');
		}
	}
	if (w.rc == 0)
		wflush(&w);
	rc = w.rc;
out:
	if (loc)
		freelocale(loc);
	free(w.buf);
	free(views);
	free(plus);
	return rc;
}
