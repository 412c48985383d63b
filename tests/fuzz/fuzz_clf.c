/* SPDX-License-Identifier: MIT */
/*
 * fuzz_clf.c - fuzz target for the Common Log Format line parser of the
 * urlfreq application (eau2_app_clf_parse, src/apps/urlfreq.c). The input
 * is split into lines at '\n' (as the lines loader does); each line is
 * copied into a buffer of exactly its length (so ASan catches any read
 * past it) and parsed, and:
 *  - parsing twice gives the same answer (pure function);
 *  - an accepted URL is non-empty, lies inside the line, holds no space
 *    nor '"', and is framed by spaces (METHOD URL PROTO);
 *  - the verdict and the URL equal those of an independent reference: a
 *    POSIX extended regular expression written from the grammar in
 *    urlfreq.c's header (NUL bytes, which regexec cannot see, are mapped to
 *    0x01, a byte the grammar treats alike).
 * Any disagreement aborts, which libFuzzer and the replay test report.
 */
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* host ident user [date] "METHOD URL PROTO" status bytes[ extra] */
static const char clf_re[] =
	"^[^ ]+ [^ ]+ [^ ]+ \\[[^]]+\\] \"[^ \"]+ ([^ \"]+) [^ \"]+\" "
	"[0-9][0-9][0-9] (-|[0-9]+)( .*)?$";
static regex_t re;
static bool re_ready;

static void must(bool ok, const char *what, const char *line, size_t len)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_clf: %s on line of %zu bytes: \"", what, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fprintf(stderr, "\"\n");
	abort();
}

/* The reference verdict: true with the URL's offset and length. */
static bool reference(const char *line, size_t len, size_t *off, size_t *ulen)
{
	char *s = malloc(len + 1);
	regmatch_t m[2];
	bool ok;

	if (!s)
		abort();
	if (len && line[len - 1] == '\r') /* a final '\r' is ignored */
		len--;
	for (size_t i = 0; i < len; i++)
		s[i] = line[i] ? line[i] : '\x01';
	s[len] = 0;
	ok = regexec(&re, s, 2, m, 0) == 0;
	if (ok) {
		*off = (size_t)m[1].rm_so;
		*ulen = (size_t)(m[1].rm_eo - m[1].rm_so);
	}
	free(s);
	return ok;
}

static void check_line(const uint8_t *p, size_t len)
{
	/* exact-size copy: a read past the line is a heap overflow */
	char *line = malloc(len ? len : 1);
	const char *url = NULL, *url2 = NULL;
	size_t ulen = 0, ulen2 = 0, roff = 0, rlen = 0;
	int rc, rc2;
	bool ref;

	if (!line)
		abort();
	if (len)
		memcpy(line, p, len);
	rc = eau2_app_clf_parse(line, len, &url, &ulen);
	rc2 = eau2_app_clf_parse(line, len, &url2, &ulen2);
	must(rc == 0 || rc == -EINVAL, "unexpected return code", line, len);
	must(rc == rc2 && url == url2 && ulen == ulen2, "not deterministic", line, len);
	ref = reference(line, len, &roff, &rlen);
	must(ref == (rc == 0), ref ? "rejects a line the grammar accepts" :
	     "accepts a line the grammar rejects", line, len);
	if (rc == 0) {
		must(url && ulen > 0 && url > line && url + ulen < line + len,
		     "URL outside the line", line, len);
		must(url[-1] == ' ' && url[ulen] == ' ', "URL not framed by spaces",
		     line, len);
		must(!memchr(url, ' ', ulen) && !memchr(url, '"', ulen),
		     "URL holds a space or quote", line, len);
		must((size_t)(url - line) == roff && ulen == rlen,
		     "URL differs from the reference", line, len);
	}
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!re_ready) {
		if (regcomp(&re, clf_re, REG_EXTENDED) != 0) {
			fprintf(stderr, "fuzz_clf: bad reference regex\n");
			abort();
		}
		re_ready = true;
	}
	for (size_t i = 0; i <= size;) {
		const uint8_t *nl = i < size ? memchr(data + i, '\n', size - i) : NULL;
		size_t end = nl ? (size_t)(nl - data) : size;

		check_line(data + i, end - i);
		i = end + 1;
	}
	return 0;
}
