/* SPDX-License-Identifier: MIT */
/*
 * gen.c - `eau2 gen NAME --out FILE`: deterministic synthetic data for
 * tests and benchmarks. A generator is one entry of `generators[]`: an
 * optional init/fini for its tables, an optional header, and a row
 * function that appends one row to the output buffer. The driver repeats
 * rows until --rows rows or --size bytes, so a new generator is a row
 * function and a table line. Multi-table generators (linus, bikes) list
 * their files in a gen_table array and write them under --out DIR; their
 * small tables are sized from the main one (--rows = main-table rows).
 *
 * Speed: rows are formatted by hand (no printf) into a 4 MiB buffer that
 * a writer thread writes with write(2) while the next one fills; random numbers
 * come from wyrand (one multiply); skewed choices from a precomputed
 * inverse-CDF table (one load). The same seed always gives the same bytes,
 * and a longer run with the same seed extends a shorter one.
 *
 * A `struct gen` belongs to one run: the generating thread and its writer
 * thread (see the access rule on the struct).
 */
#include "cli.h"
#include "util/file.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GEN_BUF_SIZE (4u << 20)

/* --------------------------------------------------------------- output */

/* The generator fills `buf` while a writer thread writes the previous
 * buffer (generation and the kernel's page copies overlap on two cores).
 * Access rule: `out`, `out_len`, `busy`, `done` and `err` are shared with
 * the writer and guarded by `mu`; `buf`, `len` and everything else belong
 * to the generating thread. */
struct gen {
	char *buf;
	size_t len;
	uint64_t written;     /* bytes handed to the writer */
	int fd;
	uint64_t rng;         /* wyrand state */
	uint64_t row;         /* index of the row being generated */
	void *priv;           /* the generator's own tables */
	uint64_t scale;       /* multi-table generators: rows of the main table */
	uint64_t groups;      /* dbbench: K, the groups of id1, id2, id4, id5 */
	uint64_t rows;        /* rows asked for (UINT64_MAX: --size given) */

	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *out;            /* buffer being written (under mu) */
	size_t out_len;
	bool busy, done;
	int err;              /* first write error, positive errno (under mu) */
};

static void *gen_writer(void *arg)
{
	struct gen *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		while (!g->busy && !g->done)
			pthread_cond_wait(&g->cv, &g->mu);
		if (!g->busy)
			break;
		char *p = g->out;
		size_t left = g->out_len;
		int err = g->err;

		pthread_mutex_unlock(&g->mu);
		while (left && !err) {
			ssize_t n = write(g->fd, p, left);

			if (n < 0) {
				if (errno != EINTR)
					err = errno;
				continue;
			}
			p += n;
			left -= (size_t)n;
		}
		pthread_mutex_lock(&g->mu);
		g->err = err;
		g->busy = false;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

/* Hands buf to the writer once it is idle and continues in the buffer it
 * gives back. Returns the writer's first error (positive errno) or 0. */
static int gen_flush(struct gen *g)
{
	char *spare;
	int err;

	pthread_mutex_lock(&g->mu);
	while (g->busy)
		pthread_cond_wait(&g->cv, &g->mu);
	err = g->err;
	if (!err && g->len) {
		spare = g->out;
		g->out = g->buf;
		g->out_len = g->len;
		g->busy = true;
		g->buf = spare;
		g->written += g->len;
		g->len = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return err;
}

/* Waits for the last buffer and stops the writer; returns its error. */
static int gen_finish(struct gen *g)
{
	int err;

	pthread_mutex_lock(&g->mu);
	while (g->busy)
		pthread_cond_wait(&g->cv, &g->mu);
	g->done = true;
	err = g->err;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->writer, NULL);
	g->writer_started = false;
	return err;
}

static inline void put_bytes(struct gen *g, const char *s, size_t n)
{
	memcpy(g->buf + g->len, s, n);
	g->len += n;
}

static inline void put_char(struct gen *g, char c)
{
	g->buf[g->len++] = c;
}

static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233"
	"34353637383940414243444546474849505152535455565758596061626364656667"
	"6869707172737475767778798081828384858687888990919293949596979899";

static inline void put_u64(struct gen *g, uint64_t v)
{
	char tmp[20];
	char *p = tmp + sizeof tmp;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--p = digit_pairs[d + 1];
		*--p = digit_pairs[d];
	}
	if (v >= 10) {
		*--p = digit_pairs[v * 2 + 1];
		*--p = digit_pairs[v * 2];
	} else {
		*--p = (char)('0' + v);
	}
	put_bytes(g, p, (size_t)(tmp + sizeof tmp - p));
}

static inline void put_i64(struct gen *g, int64_t v)
{
	if (v < 0) {
		put_char(g, '-');
		put_u64(g, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(g, (uint64_t)v);
	}
}

/* cents / 100 with exactly two decimals: reads back as the same decimal. */
static inline void put_cents(struct gen *g, int64_t cents)
{
	uint64_t a;

	if (cents < 0) {
		put_char(g, '-');
		a = (uint64_t)0 - (uint64_t)cents;
	} else {
		a = (uint64_t)cents;
	}
	put_u64(g, a / 100);
	put_char(g, '.');
	put_bytes(g, digit_pairs + (a % 100) * 2, 2);
}

/* --------------------------------------------------------------- random */

static inline uint64_t rnd(struct gen *g)
{
	unsigned __int128 t;

	g->rng += 0xa0761d6478bd642full;
	t = (unsigned __int128)g->rng * (g->rng ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* Uniform in [0, n) (Lemire's multiply; the bias is below 2^-40 here). */
static inline uint64_t rnd_below(struct gen *g, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rnd(g) * n) >> 64);
}

/* True with probability num / 1024. */
static inline bool rnd_chance(struct gen *g, unsigned num)
{
	return (rnd(g) >> 54) < num;
}

/* A Zipf(s = 1) distribution over ranks 0..n-1 as an inverse-CDF table of
 * 2^bits entries: sampling is one load. Every rank keeps at least one slot
 * when 1 / (n * H_n) > 2^-bits, which holds for the sizes used here. */
struct zipf {
	uint16_t *tab;
	unsigned bits;
};

static int zipf_init(struct zipf *z, uint32_t n, unsigned bits)
{
	size_t slots = (size_t)1 << bits;
	double h = 0, cum = 0;
	uint32_t r = 0;

	if (n > 65536)
		return -EINVAL;
	z->bits = bits;
	z->tab = malloc(slots * sizeof *z->tab);
	if (!z->tab)
		return -ENOMEM;
	for (uint32_t i = 1; i <= n; i++)
		h += 1.0 / i;
	cum = 1.0 / h;
	for (size_t i = 0; i < slots; i++) {
		double u = ((double)i + 0.5) / (double)slots;

		while (cum < u && r + 1 < n) {
			r++;
			cum += 1.0 / ((double)(r + 1) * h);
		}
		z->tab[i] = (uint16_t)r;
	}
	return 0;
}

static inline uint32_t zipf_draw(struct gen *g, const struct zipf *z)
{
	return z->tab[rnd(g) >> (64 - z->bits)];
}

/* ----------------------------------------------------------- vocabulary */

/* Words built from consonant-vowel syllables: word r is r + 1 written in
 * bijective base 75, one syllable per digit, so words are distinct and the
 * most frequent ranks are the shortest. Lowercase ASCII letters only. */
struct vocab {
	char *bytes;
	uint32_t *off;  /* n + 1 offsets into bytes */
	uint32_t n;
	struct zipf zipf;
	/* word r followed by a space, in 8 bytes (words are at most 6
	 * letters): one unaligned 8-byte store per word on the hot path */
	uint64_t *word_sp;
};

static const char consonants[] = "bcdfghklmnprstv";
static const char vowels[] = "aeiou";

static int vocab_init(struct vocab *v, uint32_t n, bool capital)
{
	const uint32_t base = (sizeof consonants - 1) * (sizeof vowels - 1);
	size_t pos = 0;
	int rc;

	v->n = n;
	v->bytes = malloc((size_t)n * 16);
	v->off = malloc(((size_t)n + 1) * sizeof *v->off);
	if (!v->bytes || !v->off)
		return -ENOMEM;
	for (uint32_t r = 0; r < n; r++) {
		char syl[16];
		size_t k = 0;
		uint32_t x = r + 1;

		while (x > 0 && k + 2 <= sizeof syl) {
			uint32_t d = (x - 1) % base;
			syl[k++] = vowels[d % (sizeof vowels - 1)];
			syl[k++] = consonants[d / (sizeof vowels - 1)];
			x = (x - 1) / base;
		}
		v->off[r] = (uint32_t)pos;
		while (k > 0)
			v->bytes[pos++] = syl[--k];
		if (capital)
			v->bytes[v->off[r]] = (char)(v->bytes[v->off[r]] - 32);
	}
	v->off[n] = (uint32_t)pos;
	v->word_sp = calloc(n, sizeof *v->word_sp);
	if (!v->word_sp)
		return -ENOMEM;
	for (uint32_t r = 0; r < n; r++) {
		char w[8] = {0};
		uint32_t len = v->off[r + 1] - v->off[r];

		if (len > 7)
			return -EINVAL;
		memcpy(w, v->bytes + v->off[r], len);
		w[len] = ' ';
		memcpy(&v->word_sp[r], w, 8);
	}
	/* 2^18 slots (512 KiB) stay in L2; the rarest of 20000 words has
	 * p = 4.8e-6 > 2^-18, so it keeps a slot. */
	rc = zipf_init(&v->zipf, n, n > 4096 ? 18 : 16);
	return rc;
}

static void vocab_free(struct vocab *v)
{
	free(v->bytes);
	free(v->off);
	free(v->zipf.tab);
	free(v->word_sp);
}

static inline void put_word(struct gen *g, const struct vocab *v, uint32_t r)
{
	put_bytes(g, v->bytes + v->off[r], v->off[r + 1] - v->off[r]);
}

/* --------------------------------------------------------- generators */

/* One vocabulary serves all three generators: names for mixed and sor
 * (capitalised, 1000 words), words for text (20000). */
static int vocab_gen_init(struct gen *g, uint32_t n, bool capital)
{
	struct vocab *v = calloc(1, sizeof *v);
	int rc;

	if (!v)
		return -ENOMEM;
	g->priv = v;
	rc = vocab_init(v, n, capital);
	return rc;
}

static int names_init(struct gen *g)
{
	return vocab_gen_init(g, 1000, true);
}

static int words_init(struct gen *g)
{
	return vocab_gen_init(g, 20000, false);
}

static void vocab_gen_fini(struct gen *g)
{
	if (g->priv)
		vocab_free(g->priv);
	free(g->priv);
	g->priv = NULL;
}

/* mixed: id,qty,price,name,flag - int (never null), int, double, string,
 * bool; ~1% nulls (empty fields) in every column but id; names Zipf-skewed
 * with a few values that need RFC 4180 quoting. */
static void mixed_header(struct gen *g)
{
	static const char h[] = "id,qty,price,name,flag\n";

	put_bytes(g, h, sizeof h - 1);
}

#define NULL_PER_1024 10u /* ~1% */

static void mixed_row(struct gen *g)
{
	const struct vocab *v = g->priv;
	uint64_t r;

	put_u64(g, g->row);
	put_char(g, ',');
	if (!rnd_chance(g, NULL_PER_1024))
		put_i64(g, (int64_t)rnd_below(g, 1000) - 50);
	put_char(g, ',');
	if (!rnd_chance(g, NULL_PER_1024))
		put_cents(g, (int64_t)rnd_below(g, 10000000) - 100000);
	put_char(g, ',');
	if (!rnd_chance(g, NULL_PER_1024)) {
		uint32_t w = zipf_draw(g, &v->zipf);

		r = rnd(g) & 1023;
		if (r < 5) {          /* a comma: must be quoted */
			put_char(g, '"');
			put_word(g, v, w);
			put_bytes(g, ", ", 2);
			put_word(g, v, (w + 1) % v->n);
			put_char(g, '"');
		} else if (r < 7) {   /* embedded quotes, doubled */
			put_bytes(g, "\"the \"\"", 7);
			put_word(g, v, w);
			put_bytes(g, "\"\"\"", 3);
		} else {
			put_word(g, v, w);
		}
	}
	put_char(g, ',');
	if (!rnd_chance(g, NULL_PER_1024)) {
		if (rnd(g) & 1)
			put_bytes(g, "true", 4);
		else
			put_bytes(g, "false", 5);
	}
	put_char(g, '\n');
}

/* text: lines of 5..20 Zipf-distributed lowercase words, single spaces. */
static void text_row(struct gen *g)
{
	const struct vocab *v = g->priv;
	unsigned n = 5 + (unsigned)rnd_below(g, 16);

	for (unsigned i = 0; i < n; i++) {
		uint32_t r = zipf_draw(g, &v->zipf);

		/* 8 bytes stored, the word and its space kept; max_row leaves
		 * room for the overhang */
		memcpy(g->buf + g->len, &v->word_sp[r], 8);
		g->len += v->off[r + 1] - v->off[r] + 1;
	}
	g->buf[g->len - 1] = '\n';
}

/* sor: <id> <qty> <price> <name> <flag> - int, int, double, string (some
 * quoted, with a space), bool (0/1); ~1% missing fields "<>". The id and
 * qty columns are never all 0/1, so SoR inference keeps them int. */
static void sor_row(struct gen *g)
{
	const struct vocab *v = g->priv;

	put_char(g, '<');
	put_u64(g, g->row + 2);
	put_bytes(g, "> <", 3);
	if (!rnd_chance(g, NULL_PER_1024))
		put_i64(g, (int64_t)rnd_below(g, 1000) - 50);
	put_bytes(g, "> <", 3);
	if (!rnd_chance(g, NULL_PER_1024))
		put_cents(g, (int64_t)rnd_below(g, 10000000) - 100000);
	put_bytes(g, "> <", 3);
	if (!rnd_chance(g, NULL_PER_1024)) {
		uint32_t w = zipf_draw(g, &v->zipf);

		if ((rnd(g) & 15) == 0) {
			put_char(g, '"');
			put_word(g, v, w);
			put_char(g, ' ');
			put_word(g, v, (w + 7) % v->n);
			put_char(g, '"');
		} else {
			put_word(g, v, w);
		}
	}
	put_bytes(g, "> <", 3);
	if (!rnd_chance(g, NULL_PER_1024))
		put_char(g, (rnd(g) & 1) ? '1' : '0');
	put_bytes(g, ">\n", 2);
}

/* One file of a multi-table generator (--out names a directory). */
struct gen_table {
	const char *file;
	size_t max_row;
	uint64_t (*rows)(const struct gen *g); /* NULL: g->scale (main table) */
	void (*header)(struct gen *g);     /* may be NULL */
	void (*row)(struct gen *g);
};

struct generator {
	const char *name;
	const char *summary;
	size_t max_row;                 /* bytes one row may take */
	int (*init)(struct gen *g);     /* may be NULL */
	void (*header)(struct gen *g);  /* may be NULL */
	void (*row)(struct gen *g);
	void (*fini)(struct gen *g);    /* may be NULL; also after a failed init */
	/* Multi-table generators: the files written under --out DIR; --rows
	 * counts rows of the main (last) table, --size is turned into rows
	 * at about row_bytes bytes per main row. init sees g->scale. */
	const struct gen_table *tables;
	size_t ntables;
	unsigned row_bytes;
};

/* ------------------------------------------------- application generators */

/* Power law over ranks 0..n-1 for any n (Zipf s = 1 in the continuous
 * limit: P(rank < k) = ln(k + 1) / ln(n + 1)); one exp per draw. */
static inline uint64_t powerlaw(struct gen *g, uint64_t n)
{
	double u = (double)(rnd(g) >> 11) * 0x1.0p-53;
	uint64_t r = (uint64_t)(exp(u * log((double)n + 1.0)) - 1.0);

	return r < n ? r : n - 1;
}

/* Proleptic Gregorian date of a day number (days since 1970-01-01). */
static void civil(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static inline void put_2(struct gen *g, unsigned v)
{
	put_bytes(g, digit_pairs + (v % 100) * 2, 2);
}

/* YYYY-MM-DD */
static void put_date(struct gen *g, int64_t day)
{
	int y, m, d;

	civil(day, &y, &m, &d);
	put_2(g, (unsigned)y / 100);
	put_2(g, (unsigned)y);
	put_char(g, '-');
	put_2(g, (unsigned)m);
	put_char(g, '-');
	put_2(g, (unsigned)d);
}

/* YYYY-MM-DD HH:MM:SS of seconds since the epoch */
static void put_datetime(struct gen *g, int64_t t)
{
	int64_t s = t % 86400;

	put_date(g, t / 86400);
	put_char(g, ' ');
	put_2(g, (unsigned)(s / 3600));
	put_char(g, ':');
	put_2(g, (unsigned)(s / 60 % 60));
	put_char(g, ':');
	put_2(g, (unsigned)(s % 60));
}

#define DAY_2016 16801 /* 2016-01-01 */

/* ----- logs: Common / Combined Log Format access logs */

#define LOG_URLS 20000
#define LOG_HOSTS 5000

struct logs_priv {
	struct vocab words;   /* lowercase words: URL parts */
	struct vocab names;   /* capitalised: user names */
	struct zipf urls, hosts;
	char **url;           /* LOG_URLS strings */
	uint32_t *url_len;
};

static int logs_init(struct gen *g)
{
	static const char *const sections[] = {
		"blog", "docs", "static/img", "api/v1", "products", "news", "wiki",
		"user", "download", "search", "static/css", "forum" };
	static const char *const exts[] = { "", ".html", "/", ".png", ".php",
					    ".js", "?page=2", ".css" };
	struct logs_priv *p = calloc(1, sizeof *p);
	int rc;

	if (!p)
		return -ENOMEM;
	g->priv = p;
	rc = vocab_init(&p->words, LOG_URLS, false);
	if (!rc)
		rc = vocab_init(&p->names, 1000, false);
	if (!rc)
		rc = zipf_init(&p->urls, LOG_URLS, 18);
	if (!rc)
		rc = zipf_init(&p->hosts, LOG_HOSTS, 16);
	if (rc)
		return rc;
	p->url = calloc(LOG_URLS, sizeof *p->url);
	p->url_len = calloc(LOG_URLS, sizeof *p->url_len);
	if (!p->url || !p->url_len)
		return -ENOMEM;
	for (uint32_t r = 0; r < LOG_URLS; r++) {
		char buf[96];
		int n;

		if (r == 0)
			n = snprintf(buf, sizeof buf, "/");
		else if (r == 1)
			n = snprintf(buf, sizeof buf, "/favicon.ico");
		else if (r == 2)
			n = snprintf(buf, sizeof buf, "/index.html");
		else
			n = snprintf(buf, sizeof buf, "/%s/%.*s%s",
				     sections[r % 12],
				     (int)(p->words.off[r + 1] - p->words.off[r]),
				     p->words.bytes + p->words.off[r], exts[r / 12 % 8]);
		p->url[r] = strdup(buf);
		if (!p->url[r])
			return -ENOMEM;
		p->url_len[r] = (uint32_t)n;
	}
	return 0;
}

static void logs_fini(struct gen *g)
{
	struct logs_priv *p = g->priv;

	if (!p)
		return;
	vocab_free(&p->words);
	vocab_free(&p->names);
	free(p->urls.tab);
	free(p->hosts.tab);
	for (uint32_t r = 0; p->url && r < LOG_URLS; r++)
		free(p->url[r]);
	free(p->url);
	free(p->url_len);
	free(p);
	g->priv = NULL;
}

static void put_host(struct gen *g, uint32_t h)
{
	uint64_t x = (h + 1) * 0x9e3779b97f4a7c15ull;

	put_u64(g, 10 + (x >> 56) % 200);
	put_char(g, '.');
	put_u64(g, (x >> 48) & 255);
	put_char(g, '.');
	put_u64(g, (x >> 40) & 255);
	put_char(g, '.');
	put_u64(g, 1 + (x >> 32) % 254);
}

/* [10/Oct/2024:13:55:36 +0000], about 20 lines a second from 2024-01-01 */
static void put_clf_time(struct gen *g)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int64_t t = 19723 * 86400ll + (int64_t)(g->row / 20);
	int y, m, d;

	civil(t / 86400, &y, &m, &d);
	put_char(g, '[');
	put_2(g, (unsigned)d);
	put_char(g, '/');
	put_bytes(g, months + (m - 1) * 3, 3);
	put_char(g, '/');
	put_u64(g, (uint64_t)y);
	put_char(g, ':');
	put_2(g, (unsigned)(t % 86400 / 3600));
	put_char(g, ':');
	put_2(g, (unsigned)(t % 3600 / 60));
	put_char(g, ':');
	put_2(g, (unsigned)(t % 60));
	put_bytes(g, " +0000]", 7);
}

/* About 0.3% of lines are malformed in one of four ways (a request of "-",
 * a line cut after the URL, a bare request, a date without brackets);
 * 30% carry the Combined format's referer and user agent. */
static void logs_row(struct gen *g)
{
	static const char *const agents[] = {
		"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/119.0",
		"curl/8.4.0", "Googlebot/2.1 (+http://www.google.com/bot.html)" };
	const struct logs_priv *p = g->priv;
	uint32_t u = zipf_draw(g, &p->urls);
	uint64_t r = rnd(g) & 1023, st;
	unsigned bad = r < 3 ? (unsigned)(rnd(g) & 3) + 1 : 0;

	if (bad == 3) {
		put_bytes(g, "GET ", 4);
		put_bytes(g, p->url[u], p->url_len[u]);
		put_bytes(g, " HTTP/1.1\n", 10);
		return;
	}
	put_host(g, zipf_draw(g, &p->hosts));
	put_bytes(g, " - ", 3);
	if (rnd_chance(g, 100))
		put_word(g, &p->names, (uint32_t)rnd_below(g, p->names.n));
	else
		put_char(g, '-');
	put_char(g, ' ');
	if (bad == 4) {
		put_bytes(g, "10/Oct/2024:13:55:36 +0000 \"GET ", 32);
		put_bytes(g, p->url[u], p->url_len[u]);
		put_bytes(g, " HTTP/1.1\" 200 512\n", 19);
		return;
	}
	put_clf_time(g);
	if (bad == 1) {
		put_bytes(g, " \"-\" 400 0\n", 11);
		return;
	}
	r = rnd(g) & 1023;
	put_bytes(g, r < 900 ? " \"GET " : r < 1000 ? " \"POST " : " \"HEAD ",
		  r < 900 ? 6u : r < 1000 ? 7u : 7u);
	put_bytes(g, p->url[u], p->url_len[u]);
	if (bad == 2) {
		put_char(g, '\n');
		return;
	}
	put_bytes(g, (rnd(g) & 7) ? " HTTP/1.1\" " : " HTTP/1.0\" ", 11);
	st = rnd(g) & 1023;
	if (st < 870) {
		put_bytes(g, "200 ", 4);
		put_u64(g, 200 + powerlaw(g, 200000));
	} else if (st < 940) {
		put_bytes(g, "304 -", 5);
	} else if (st < 990) {
		put_bytes(g, "404 ", 4);
		put_u64(g, 150 + rnd_below(g, 300));
	} else if (st < 1010) {
		put_bytes(g, "301 ", 4);
		put_u64(g, 0);
	} else {
		put_bytes(g, "500 ", 4);
		put_u64(g, 100 + rnd_below(g, 100));
	}
	if (rnd_chance(g, 300)) {
		uint32_t from = zipf_draw(g, &p->urls);

		put_bytes(g, " \"http://example.com", 20);
		put_bytes(g, p->url[from], p->url_len[from]);
		put_bytes(g, "\" \"", 3);
		const char *a = agents[rnd(g) & 3];
		put_bytes(g, a, strlen(a));
		put_char(g, '"');
	}
	put_char(g, '\n');
}

/* ----- linus: projects.sor, users.sor, commits.sor */

struct linus_priv {
	struct vocab names;
	uint64_t users, projects;
};

static uint64_t linus_entities(uint64_t commits)
{
	return commits / 10 > 2 ? commits / 10 : 2;
}

static uint64_t linus_table_rows(const struct gen *g)
{
	return linus_entities(g->scale);
}

static int linus_init(struct gen *g)
{
	struct linus_priv *p = calloc(1, sizeof *p);

	if (!p)
		return -ENOMEM;
	g->priv = p;
	p->users = p->projects = linus_entities(g->scale);
	return vocab_init(&p->names, 20000, false);
}

static void linus_fini(struct gen *g)
{
	struct linus_priv *p = g->priv;

	if (p)
		vocab_free(&p->names);
	free(p);
	g->priv = NULL;
}

/* <id> <name>: names are two words joined by '-' (projects) or a word and
 * the id (users), so every user name is distinct. */
static void linus_project_row(struct gen *g)
{
	const struct linus_priv *p = g->priv;

	put_char(g, '<');
	put_u64(g, g->row);
	put_bytes(g, "> <", 3);
	put_word(g, &p->names, (uint32_t)(g->row % p->names.n));
	put_char(g, '-');
	put_word(g, &p->names, (uint32_t)((g->row * 7919 + 13) % p->names.n));
	put_bytes(g, ">\n", 2);
}

static void linus_user_row(struct gen *g)
{
	const struct linus_priv *p = g->priv;

	put_char(g, '<');
	put_u64(g, g->row);
	put_bytes(g, "> <", 3);
	if (g->row == 0) {
		put_bytes(g, "torvalds", 8);
	} else {
		put_word(g, &p->names, (uint32_t)(g->row * 31 % p->names.n));
		put_u64(g, g->row);
	}
	put_bytes(g, ">\n", 2);
}

/* Project sizes follow a power law (project 0 is the largest). Each
 * project has a team: author = one of its ~20 team members (their ids
 * spread over all users) 60% of the time, else a user drawn by a power law
 * of activity (user 0 - torvalds - the most active); the committer is the
 * author 75% of the time, else the project's lead. */
static void linus_commit_row(struct gen *g)
{
	const struct linus_priv *p = g->priv;
	uint64_t pid = powerlaw(g, p->projects), author, committer;
	uint64_t team = pid * 0x9e3779b97f4a7c15ull;

	if (rnd_chance(g, 614))
		author = (team + rnd_below(g, 20) * 2654435761ull) % p->users;
	else
		author = powerlaw(g, p->users);
	committer = rnd_chance(g, 768) ? author : team % p->users;
	put_char(g, '<');
	put_u64(g, pid);
	put_bytes(g, "> <", 3);
	put_u64(g, author);
	put_bytes(g, "> <", 3);
	put_u64(g, committer);
	put_bytes(g, ">\n", 2);
}

static const struct gen_table linus_tables[] = {
	{ "projects.sor", 64, linus_table_rows, NULL, linus_project_row },
	{ "users.sor", 64, linus_table_rows, NULL, linus_user_row },
	{ "commits.sor", 80, NULL, NULL, linus_commit_row },
};

/* ----- bikes: weather.csv, stations.csv, trips.csv */

#define BIKE_CITIES 5
#define BIKE_YEARS 3
#define BIKE_DAYS (366 + 365 + 365)

static const struct bike_city {
	const char *name;
	double lat, lon;
	unsigned stations, share;  /* stations in 2018; trips per 1024 */
	unsigned code0;
	double wet;                /* chance of a wet day */
} bike_cities[BIKE_CITIES] = {
	{ "montreal", 45.5017, -73.5673, 560, 360, 6000, 0.32 },
	{ "toronto", 43.6532, -79.3832, 420, 220, 7000, 0.30 },
	{ "boston", 42.3601, -71.0589, 300, 150, 100, 0.33 },
	{ "chicago", 41.8781, -87.6298, 610, 200, 1000, 0.31 },
	{ "newyork", 40.7128, -74.0060, 180, 94, 3000, 0.34 },
};

struct bike_station {
	double lat, lon;
	uint32_t near[8];   /* nearest stations (indexes in the city) */
};

struct bikes_priv {
	struct vocab names;
	struct bike_station *st[BIKE_CITIES];
	double rain[BIKE_CITIES][BIKE_DAYS];  /* mm */
	bool no_weather[BIKE_CITIES][BIKE_DAYS];
	uint64_t weather_rows, station_rows;
	unsigned row_city, row_year;          /* cursors of the small tables */
	uint64_t row_in;
};

/* Stations active in year index y (0 = 2016): the city grows. */
static unsigned bike_active(const struct bike_city *c, unsigned y)
{
	static const unsigned pct[BIKE_YEARS] = { 60, 82, 100 };

	return c->stations * pct[y] / 100;
}

static double deg_km(double dlat, double dlon, double lat)
{
	double x = dlon * cos(lat * M_PI / 180) * 111.32, y = dlat * 110.57;

	return sqrt(x * x + y * y);
}

static int bikes_init(struct gen *g)
{
	struct bikes_priv *p = calloc(1, sizeof *p);
	int rc;

	if (!p)
		return -ENOMEM;
	g->priv = p;
	rc = vocab_init(&p->names, 4000, true);
	if (rc)
		return rc;
	for (unsigned c = 0; c < BIKE_CITIES; c++) {
		const struct bike_city *bc = &bike_cities[c];
		unsigned n = bc->stations;

		p->st[c] = calloc(n, sizeof *p->st[c]);
		if (!p->st[c])
			return -ENOMEM;
		/* a dense core (radius ~4 km) and 12% suburbs 10-20 km out;
		 * lower indexes (older, busier stations) nearer the centre */
		for (unsigned j = 0; j < n; j++) {
			double ang = j * 2.399963, km;

			if (j % 8 == 7)
				km = 10 + 10 * (double)(rnd(g) >> 11) * 0x1.0p-53;
			else
				km = 4.5 * sqrt((j + 1.0) / n) *
					(0.6 + 0.4 * (double)(rnd(g) >> 11) * 0x1.0p-53);
			p->st[c][j].lat = bc->lat + km * sin(ang) / 110.57;
			p->st[c][j].lon = bc->lon + km * cos(ang) /
				(111.32 * cos(bc->lat * M_PI / 180));
		}
		for (unsigned j = 0; j < n; j++) {
			double best[8];

			for (int k = 0; k < 8; k++) {
				best[k] = 1e9;
				p->st[c][j].near[k] = j;
			}
			for (unsigned i = 0; i < n; i++) {
				if (i == j)
					continue;
				double d = deg_km(p->st[c][i].lat - p->st[c][j].lat,
						  p->st[c][i].lon - p->st[c][j].lon, bc->lat);
				for (int k = 0; k < 8; k++) {
					if (d < best[k]) {
						for (int m = 7; m > k; m--) {
							best[m] = best[m - 1];
							p->st[c][j].near[m] = p->st[c][j].near[m - 1];
						}
						best[k] = d;
						p->st[c][j].near[k] = i;
						break;
					}
				}
			}
		}
		for (unsigned d = 0; d < BIKE_DAYS; d++) {
			double u = (double)(rnd(g) >> 11) * 0x1.0p-53;

			/* wet days: exponential with mean 9 mm: ~3% of days > 30 mm */
			p->rain[c][d] = u < bc->wet ?
				-9.0 * log(1.0 - (double)(rnd(g) >> 11) * 0x1.0p-53) : 0;
			p->no_weather[c][d] = rnd_chance(g, 8);   /* ~0.8% missing */
			p->weather_rows += !p->no_weather[c][d];
		}
		for (unsigned y = 0; y < BIKE_YEARS; y++)
			p->station_rows += bike_active(bc, y);
	}
	return 0;
}

static void bikes_fini(struct gen *g)
{
	struct bikes_priv *p = g->priv;

	if (!p)
		return;
	vocab_free(&p->names);
	for (unsigned c = 0; c < BIKE_CITIES; c++)
		free(p->st[c]);
	free(p);
	g->priv = NULL;
}

/* Small tables: their row functions walk (city, day or year, index)
 * cursors in the priv state; the row counts come from init. */
static uint64_t bikes_weather_rows(const struct gen *g)
{
	return ((const struct bikes_priv *)g->priv)->weather_rows;
}

static uint64_t bikes_station_rows(const struct gen *g)
{
	return ((const struct bikes_priv *)g->priv)->station_rows;
}

static void bikes_weather_header(struct gen *g)
{
	static const char h[] = "city,date,prectot,temp_max,temp_min\n";
	struct bikes_priv *p = g->priv;

	p->row_city = 0;
	p->row_in = 0;
	put_bytes(g, h, sizeof h - 1);
}

static void bikes_weather_row(struct gen *g)
{
	struct bikes_priv *p = g->priv;

	while (p->no_weather[p->row_city][p->row_in]) {
		if (++p->row_in == BIKE_DAYS) {
			p->row_in = 0;
			p->row_city++;
		}
	}
	unsigned c = p->row_city, d = (unsigned)p->row_in;
	double season = cos(((double)(d % 365) - 200) * 2 * M_PI / 365);
	int64_t tmax = (int64_t)(1000 + 1600 * season) + (int64_t)rnd_below(g, 800);

	put_bytes(g, bike_cities[c].name, strlen(bike_cities[c].name));
	put_char(g, ',');
	put_date(g, DAY_2016 + d);
	put_char(g, ',');
	put_cents(g, (int64_t)(p->rain[c][d] * 100 + 0.5));
	put_char(g, ',');
	put_cents(g, tmax);
	put_char(g, ',');
	put_cents(g, tmax - 600 - (int64_t)rnd_below(g, 600));
	put_char(g, '\n');
	if (++p->row_in == BIKE_DAYS) {
		p->row_in = 0;
		p->row_city++;
	}
}

static void bikes_station_header(struct gen *g)
{
	static const char h[] = "city,code,name,latitude,longitude,yearid\n";
	struct bikes_priv *p = g->priv;

	p->row_city = 0;
	p->row_year = 0;
	p->row_in = 0;
	put_bytes(g, h, sizeof h - 1);
}

/* Station names are street corners "Word / Word", distinct in a city. */
static void put_station_name(struct gen *g, unsigned c, unsigned j)
{
	const struct bikes_priv *p = g->priv;
	uint32_t a = (j * 2 + c * 1301) % p->names.n;
	uint32_t b = (j * 2 + 1 + c * 1301) % p->names.n;

	put_word(g, &p->names, a);
	put_bytes(g, " / ", 3);
	put_word(g, &p->names, b);
}

static void put_coord(struct gen *g, double v)
{
	int64_t micro = (int64_t)llround(v * 1e6);
	uint64_t a = micro < 0 ? (uint64_t)-micro : (uint64_t)micro;

	if (micro < 0)
		put_char(g, '-');
	put_u64(g, a / 1000000);
	put_char(g, '.');
	char frac[6];
	for (int i = 5; i >= 0; i--, a /= 10)
		frac[i] = (char)('0' + a % 10);
	put_bytes(g, frac, 6);
}

static void bikes_station_row(struct gen *g)
{
	struct bikes_priv *p = g->priv;
	unsigned c = p->row_city, y = p->row_year, j = (unsigned)p->row_in;
	const struct bike_city *bc = &bike_cities[c];

	put_bytes(g, bc->name, strlen(bc->name));
	put_char(g, ',');
	put_u64(g, bc->code0 + j);
	put_char(g, ',');
	put_station_name(g, c, j);
	put_char(g, ',');
	put_coord(g, p->st[c][j].lat);
	put_char(g, ',');
	put_coord(g, p->st[c][j].lon);
	put_char(g, ',');
	put_u64(g, 2016 + y);
	put_char(g, '\n');
	if (++p->row_in == bike_active(bc, y)) {
		p->row_in = 0;
		if (++p->row_year == BIKE_YEARS) {
			p->row_year = 0;
			p->row_city++;
		}
	}
}

static void bikes_trip_header(struct gen *g)
{
	static const char h[] = "city,start_date,end_date,start_station_code,"
		"end_station_code,duration_sec,is_member,yearid\n";

	put_bytes(g, h, sizeof h - 1);
}

/* A trip: city by share, year 25/35/40%, a day of the April-November
 * season (rainy days lose most riders), a start station by a power law
 * over the stations active that year (in 2017 one station in ten booms),
 * an end station among the 8 nearest 70% of the time, else anywhere in
 * the city; duration from the distance at ~12-16 km/h plus stops (casual
 * riders slower); ~0.2% of trips name a station code that does not exist. */
static void bikes_trip_row(struct gen *g)
{
	const struct bikes_priv *p = g->priv;
	unsigned share = (unsigned)(rnd(g) & 1023), c = 0, acc = 0, y, n, s, e;
	uint64_t d;
	const struct bike_city *bc;

	while (c + 1 < BIKE_CITIES && share >= acc + bike_cities[c].share)
		acc += bike_cities[c++].share;
	bc = &bike_cities[c];
	share = (unsigned)(rnd(g) & 1023);
	y = share < 256 ? 0 : share < 614 ? 1 : 2;
	n = bike_active(bc, y);
	for (int tries = 0;; tries++) {
		d = (uint64_t)(y == 0 ? 0 : y == 1 ? 366 : 731) + 91 +
			rnd_below(g, 244);
		if (tries > 3 || p->rain[c][d] < 8 || rnd_chance(g, 300))
			break;
	}
	if (y == 1 && rnd_chance(g, 200))
		s = 3 + 10 * (unsigned)rnd_below(g, n / 10);
	else
		s = (unsigned)powerlaw(g, n);
	if (s >= n)
		s = n - 1;
	if (rnd_chance(g, 717)) {
		e = p->st[c][s].near[rnd(g) & 7];
		if (e >= n)
			e = (unsigned)rnd_below(g, n);
	} else {
		e = (unsigned)rnd_below(g, n);
	}
	bool member = rnd_chance(g, 780);
	double km = deg_km(p->st[c][e].lat - p->st[c][s].lat,
			   p->st[c][e].lon - p->st[c][s].lon, bc->lat);
	double speed = member ? 15.0 : 11.0;
	int64_t dur = (int64_t)(km * 1.3 / speed * 3600 + 60 +
				(double)rnd_below(g, member ? 300 : 1500));
	/* commute peaks at 8h and 17h, else 7h-23h */
	unsigned hour = (unsigned)(rnd(g) & 3) == 0 ? 8 :
		(unsigned)(rnd(g) & 3) == 0 ? 17 : 7 + (unsigned)rnd_below(g, 16);
	int64_t t0 = ((int64_t)DAY_2016 + (int64_t)d) * 86400 + hour * 3600 +
		(int64_t)rnd_below(g, 3600);
	uint64_t scode = bc->code0 + s, ecode = bc->code0 + e;

	if (rnd_chance(g, 2))
		scode = 9990 + rnd_below(g, 9); /* no such station */
	put_bytes(g, bc->name, strlen(bc->name));
	put_char(g, ',');
	put_datetime(g, t0);
	put_char(g, ',');
	put_datetime(g, t0 + dur);
	put_char(g, ',');
	put_u64(g, scode);
	put_char(g, ',');
	put_u64(g, ecode);
	put_char(g, ',');
	put_u64(g, (uint64_t)dur);
	put_char(g, ',');
	put_char(g, member ? '1' : '0');
	put_char(g, ',');
	put_u64(g, 2016 + y);
	put_char(g, '\n');
}

static const struct gen_table bikes_tables[] = {
	{ "weather.csv", 96, bikes_weather_rows, bikes_weather_header,
	  bikes_weather_row },
	{ "stations.csv", 160, bikes_station_rows, bikes_station_header,
	  bikes_station_row },
	{ "trips.csv", 160, NULL, bikes_trip_header, bikes_trip_row },
};


/* dbbench: the group-by table of the public db-benchmark (h2oai, later
 * duckdblabs; groupby-datagen.R) without NAs: id1, id2 strings
 * "id%03d" of 1..K, id3 "id%010d" of 1..N/K, id4, id5 ints 1..K, id6 an
 * int 1..N/K, v1 int 1..5, v2 int 1..15, v3 a double 0..100 (here with 2
 * decimals, so that it reads back exactly). K is --groups (default 100);
 * N is --rows (with --size, N/K is taken from K alone: 1). Uniform draws. */
static void dbbench_header(struct gen *g)
{
	static const char h[] = "id1,id2,id3,id4,id5,id6,v1,v2,v3\n";

	put_bytes(g, h, sizeof h - 1);
}

/* "id" and v with at least width digits (zero-padded). */
static inline void put_id(struct gen *g, uint64_t v, unsigned width)
{
	char tmp[20];
	unsigned n = 0;

	put_bytes(g, "id", 2);
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n < width)
		tmp[n++] = '0';
	while (n)
		put_char(g, tmp[--n]);
}

static void dbbench_row(struct gen *g)
{
	uint64_t k = g->groups ? g->groups : 100;
	uint64_t nk = g->rows != UINT64_MAX && g->rows / k ? g->rows / k : 1;

	put_id(g, 1 + rnd_below(g, k), 3);
	put_char(g, ',');
	put_id(g, 1 + rnd_below(g, k), 3);
	put_char(g, ',');
	put_id(g, 1 + rnd_below(g, nk), 10);
	put_char(g, ',');
	put_u64(g, 1 + rnd_below(g, k));
	put_char(g, ',');
	put_u64(g, 1 + rnd_below(g, k));
	put_char(g, ',');
	put_u64(g, 1 + rnd_below(g, nk));
	put_char(g, ',');
	put_u64(g, 1 + rnd_below(g, 5));
	put_char(g, ',');
	put_u64(g, 1 + rnd_below(g, 15));
	put_char(g, ',');
	put_cents(g, (int64_t)rnd_below(g, 10001));
	put_char(g, '\n');
}

static const struct generator generators[] = {
	{ "mixed", "CSV id,qty,price,name,flag (int, int, double, string, "
	  "bool), ~1% nulls, skewed names", 160, names_init, mixed_header,
	  mixed_row, vocab_gen_fini, NULL, 0, 0 },
	{ "text", "lines of 5-20 Zipf-distributed words (for --format lines)",
	  20 * 8 + 8, words_init, NULL, text_row, vocab_gen_fini, NULL, 0, 0 },
	{ "sor", "SoR rows <int> <int> <double> <string> <bool>, ~1% missing",
	  160, names_init, NULL, sor_row, vocab_gen_fini, NULL, 0, 0 },
	{ "logs", "web access log lines (Common/Combined Log Format), Zipf "
	  "URLs and hosts, ~0.3% malformed (for --format lines)", 512,
	  logs_init, NULL, logs_row, logs_fini, NULL, 0, 0 },
	{ "linus", "--out DIR: projects.sor, users.sor, commits.sor (1:1:10, "
	  "power-law project sizes and user activity; --rows = commits)", 0,
	  linus_init, NULL, NULL, linus_fini, linus_tables, 3, 28 },
	{ "bikes", "--out DIR: weather.csv, stations.csv, trips.csv (5 cities "
	  "incl. montreal, 2016-2018; --rows = trips)", 0, bikes_init,
	  NULL, NULL, bikes_fini, bikes_tables, 3, 72 },
	{ "dbbench", "db-benchmark group-by table id1..id6,v1,v2,v3 (K = "
	  "--groups, default 100)", 160, NULL, dbbench_header, dbbench_row,
	  NULL, NULL, 0, 0 },
};
#define NGENERATORS (sizeof generators / sizeof generators[0])

/* ------------------------------------------------------------- command */

struct gen_opts {
	const char *out;
	uint64_t rows;
	uint64_t size;
	uint64_t seed;
	uint64_t groups;
};

#define O(f) offsetof(struct gen_opts, f)
static const struct eau2_cli_opt gen_opts_table[] = {
	{ "out", 'o', EAU2_OPT_STR, O(out), "FILE",
	  "write to FILE ('-' for stdout), or into directory DIR for linus and bikes", NULL, true },
	{ "rows", 'n', EAU2_OPT_U64, O(rows), "N",
	  "exactly N rows (default 1000)", NULL, false },
	{ "size", 's', EAU2_OPT_SIZE, O(size), "BYTES",
	  "about BYTES bytes (suffix K, M, G allowed)", NULL, false },
	{ "seed", 0, EAU2_OPT_U64, O(seed), "S",
	  "random seed (default 1): the same seed gives the same file",
	  NULL, false },
	{ "groups", 0, EAU2_OPT_U64, O(groups), "K",
	  "dbbench: K groups of id1, id2, id4, id5 (default 100)", NULL, false },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, false },
};
#undef O

/* UINT64_MAX marks "not given", so --rows 0 stays meaningful. */
static const struct gen_opts gen_defaults = {
	.rows = UINT64_MAX, .size = UINT64_MAX, .seed = 1,
};

/* Writes one file: the header, then rows until `rows` rows or about
 * `size` bytes (UINT64_MAX: not given). g->row and g->written end as the
 * rows and bytes written. The rows go to a new temporary beside path
 * (eau2_outfile: never through a link), renamed to path once complete, so
 * a failed or interrupted run leaves an existing path as it was. Returns 0
 * or a positive errno. */
static int gen_emit(struct gen *g, const char *path, void (*header)(struct gen *),
		    void (*row)(struct gen *), size_t max_row, uint64_t rows,
		    uint64_t size)
{
	bool to_stdout = !strcmp(path, "-");
	struct eau2_outfile out = { .fd = -1 };
	int err = 0, rc;

	g->len = 0;
	g->written = 0;
	g->busy = g->done = false;
	g->err = 0;
	g->row = 0;
	if (!to_stdout && (rc = eau2_outfile_open(&out, path, 0666, NULL)))
		return -rc;
	g->fd = to_stdout ? STDOUT_FILENO : out.fd;
	fflush(stdout);
	rc = pthread_create(&g->writer, NULL, gen_writer, g);
	if (rc) {
		err = rc;
		goto out;
	}
	g->writer_started = true;
	if (header)
		header(g);
	for (g->row = 0; rows == UINT64_MAX ? g->written + g->len < size :
	     g->row < rows; g->row++) {
		if (g->len + max_row > GEN_BUF_SIZE) {
			err = gen_flush(g);
			if (err)
				break;
		}
		row(g);
	}
	if (!err)
		err = gen_flush(g);
	rc = gen_finish(g);
	if (!err)
		err = rc;
out:
	g->fd = -1;
	if (!err && !to_stdout)
		err = -eau2_outfile_commit(&out, NULL);
	eau2_outfile_abort(&out);
	return err;
}

static int cmd_gen(struct eau2_cli *cli, void *vopts)
{
	struct gen_opts *o = vopts;
	const char *name = cli->pos[0];
	const struct generator *gt = NULL;
	struct gen g = { .fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER,
			 .cv = PTHREAD_COND_INITIALIZER };
	int err = 0;
	uint64_t rows = o->rows, size = o->size, total_rows = 0, total_bytes = 0;
	bool to_stdout = !strcmp(o->out, "-");
	double t0 = eau2_cli_now(), secs;
	char *path = NULL;
	const char *failed = o->out;
	int status = EAU2_CLI_INTERNAL, rc;

	for (size_t i = 0; i < NGENERATORS; i++)
		if (!strcmp(generators[i].name, name))
			gt = &generators[i];
	if (!gt) {
		eau2_cli_errorf("gen: unknown generator '%s' (see 'eau2 gen "
				"--help')", name);
		return EAU2_CLI_USER;
	}
	if (rows != UINT64_MAX && size != UINT64_MAX) {
		eau2_cli_errorf("gen: give --rows or --size, not both");
		return EAU2_CLI_USER;
	}
	if (gt->tables && to_stdout) {
		eau2_cli_errorf("gen %s writes several files: give --out DIR",
				gt->name);
		return EAU2_CLI_USER;
	}
	if (rows == UINT64_MAX && size == UINT64_MAX)
		rows = 1000;
	if (o->groups && strcmp(gt->name, "dbbench")) {
		eau2_cli_errorf("gen: --groups is for dbbench only");
		return EAU2_CLI_USER;
	}
	g.groups = o->groups;
	g.rows = rows;
	if (gt->tables) {
		/* --size: main-table rows at about row_bytes bytes each */
		g.scale = rows != UINT64_MAX ? rows : size / gt->row_bytes;
		rows = g.scale;
		size = UINT64_MAX;
	}
	/* splitmix64 of the seed, so nearby seeds give unrelated streams */
	g.rng = o->seed + 0x9e3779b97f4a7c15ull;
	g.rng = (g.rng ^ (g.rng >> 30)) * 0xbf58476d1ce4e5b9ull;
	g.rng = (g.rng ^ (g.rng >> 27)) * 0x94d049bb133111ebull;
	g.rng ^= g.rng >> 31;

	g.buf = malloc(GEN_BUF_SIZE);
	g.out = malloc(GEN_BUF_SIZE);
	if (!g.buf || !g.out) {
		status = eau2_cli_fail(-ENOMEM, NULL, "gen");
		goto out;
	}
	if (gt->init) {
		rc = gt->init(&g);
		if (rc) {
			status = eau2_cli_fail(rc, NULL, "gen");
			goto out;
		}
	}
	if (!gt->tables) {
		err = gen_emit(&g, o->out, gt->header, gt->row, gt->max_row, rows,
			       size);
		total_rows = g.row;
		total_bytes = g.written;
	} else if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
		err = errno;
	}
	for (size_t t = 0; gt->tables && !err && t < gt->ntables; t++) {
		const struct gen_table *tb = &gt->tables[t];

		free(path);
		path = malloc(strlen(o->out) + strlen(tb->file) + 2);
		if (!path) {
			err = ENOMEM;
			break;
		}
		sprintf(path, "%s/%s", o->out, tb->file);
		failed = path;
		err = gen_emit(&g, path, tb->header, tb->row, tb->max_row,
			       tb->rows ? tb->rows(&g) : g.scale, UINT64_MAX);
		total_rows += g.row;
		total_bytes += g.written;
	}
	if (err) {
		eau2_cli_errorf("%s: %s", failed, strerror(err));
		status = err == ENOSPC || err == EIO ? EAU2_CLI_INTERNAL :
			eau2_cli_exit_code(-err);
		goto out;
	}
	secs = eau2_cli_now() - t0;
	fprintf(stderr, "eau2: gen %s: %llu rows, %llu bytes in %.2f s "
		"(%.0f MB/s)\n", gt->name, (unsigned long long)total_rows,
		(unsigned long long)total_bytes, secs,
		secs > 0 ? (double)total_bytes / 1e6 / secs : 0.0);
	status = EAU2_CLI_OK;
out:
	free(path);
	if (gt && gt->fini)
		gt->fini(&g);
	free(g.buf);
	free(g.out);
	return status;
}

/* The generator list in the help comes from the table. */
static void gen_help(FILE *out)
{
	fprintf(out, "\ngenerators:\n");
	for (size_t i = 0; i < NGENERATORS; i++)
		fprintf(out, "  %-7s %s\n", generators[i].name,
			generators[i].summary);
}

const struct eau2_cli_cmd eau2_cli_cmd_gen = {
	.name = "gen",
	.synopsis = "NAME --out FILE|DIR [--rows N | --size BYTES] [--seed S] "
		    "[--groups K]",
	.summary = "write synthetic data (mixed CSV, text, SoR, access logs, "
		   "linus and bikes tables, db-benchmark) for tests and "
		   "benchmarks",
	.details = NULL,
	.more_help = gen_help,
	.opts = gen_opts_table,
	.opts_size = sizeof(struct gen_opts),
	.defaults = &gen_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.needs_store = false,
	.run = cmd_gen,
};
