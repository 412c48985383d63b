/* SPDX-License-Identifier: MIT */
/*
 * load.c - eau2_load: picks the format, maps the file, and offers the
 * formats their shared machinery: a small pthread runner for parallel
 * pieces (the calling thread works too and is the only one that calls the
 * progress callback), exact number parsers, and file:line:column errors.
 *
 * Access rules: a struct eau2_load_ctx belongs to one eau2_load call. Its
 * bytes_done is the only field workers write (atomically); everything else
 * is written by the calling thread before workers start or after they end.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "df/df.h"
#include "df/load.h"
#include "util/file.h"

struct eau2_load_tune eau2_load_tune;

#define PROGRESS_STEP (64ull << 20)
#define STREAM_WINDOW (256ull << 20) /* eau2_load_stream_window */

/* ------------------------------------------------------------- threads */

unsigned eau2_load_default_threads(void)
{
	unsigned n = eau2_default_threads();

	return n ? n : 1;
}

struct runner {
	struct eau2_load_ctx *ctx;
	size_t n;
	_Atomic size_t next;
	eau2_load_item_fn fn;
	void *arg;
};

struct runner_thread {
	struct runner *r;
	unsigned worker;
	pthread_t tid;
};

static bool runner_step(struct runner *r, unsigned worker)
{
	size_t i;

	if (atomic_load(&r->ctx->stopped))
		return false;
	i = atomic_fetch_add(&r->next, 1);
	if (i >= r->n)
		return false;
	r->fn(r->arg, i, worker);
	return true;
}

static void *runner_main(void *p)
{
	struct runner_thread *t = p;

	while (runner_step(t->r, t->worker))
		;
	return NULL;
}

static uint64_t progress_step(void)
{
	return eau2_load_tune.progress_bytes ? eau2_load_tune.progress_bytes : PROGRESS_STEP;
}

uint64_t eau2_load_stream_window(void)
{
	return eau2_load_tune.stream_window ? eau2_load_tune.stream_window : STREAM_WINDOW;
}

void eau2_load_progress(struct eau2_load_ctx *ctx, bool final)
{
	uint64_t done = atomic_load(&ctx->bytes_done);

	if (!ctx->opt.progress)
		return;
	if (final) {
		ctx->opt.progress(ctx->opt.progress_ctx, ctx->size, ctx->size);
		return;
	}
	if (done < ctx->progress_next)
		return;
	ctx->opt.progress(ctx->opt.progress_ctx, done > ctx->size ? ctx->size : done,
			  ctx->size);
	ctx->progress_next = (done / progress_step() + 1) * progress_step();
}

int eau2_load_parallel(struct eau2_load_ctx *ctx, size_t n, eau2_load_item_fn fn,
		       void *arg)
{
	struct runner r = { .ctx = ctx, .n = n, .fn = fn, .arg = arg };
	struct runner_thread *ts = NULL;
	unsigned nt = ctx->threads, started = 0;

	atomic_init(&r.next, 0);
	if (nt > n)
		nt = n ? (unsigned)n : 1;
	if (nt > 1) {
		ts = calloc(nt, sizeof(*ts));
		if (!ts)
			nt = 1;
	}
	for (unsigned w = 1; w < nt; w++) {
		ts[w].r = &r;
		ts[w].worker = w;
		if (pthread_create(&ts[w].tid, NULL, runner_main, &ts[w]))
			break; /* fewer threads is still correct: the others share */
		started = w;
	}
	while (runner_step(&r, 0))
		eau2_load_progress(ctx, false);
	for (unsigned w = 1; w <= started; w++)
		pthread_join(ts[w].tid, NULL);
	free(ts);
	if (atomic_load(&ctx->stopped))
		return eau2_error_set(ctx->err, -ECANCELED, "%s: load stopped by its caller",
				      ctx->path);
	return 0;
}

/* -------------------------------------------------------------- errors */

static size_t count_nl(const uint8_t *p, size_t n)
{
	size_t c = 0;

	/* Vectorises at -O2; only run when an error or skip is reported. */
	for (size_t i = 0; i < n; i++)
		c += p[i] == '\n';
	return c;
}

void eau2_load_locate(const struct eau2_load_ctx *ctx, size_t off,
		      uint64_t *line, uint64_t *col)
{
	const uint8_t *nl;

	if (off > ctx->size)
		off = ctx->size;
	if (!ctx->map) {
		*line = 1;
		*col = 1;
		return;
	}
	*line = 1 + count_nl(ctx->map, off);
	nl = off ? memrchr(ctx->map, '\n', off) : NULL;
	*col = off - (nl ? (size_t)(nl - ctx->map) + 1 : 0) + 1;
}

int eau2_load_error_at(struct eau2_load_ctx *ctx, int code, size_t off,
		       const char *msg)
{
	uint64_t line, col;

	eau2_load_locate(ctx, off, &line, &col);
	return eau2_error_set(ctx->err, code, "%s:%llu:%llu: %s", ctx->path,
			      (unsigned long long)line, (unsigned long long)col, msg);
}

void eau2_load_where_add(struct eau2_load_ctx *ctx, size_t off, const char *msg)
{
	uint64_t line, col;
	size_t k = ctx->stats->skipped;

	/* Called with skipped already counting this row. */
	if (k == 0 || k > EAU2_LOAD_WHERE_MAX)
		return;
	eau2_load_locate(ctx, off, &line, &col);
	snprintf(ctx->stats->where[k - 1], sizeof(ctx->stats->where[0]),
		 "%s:%llu:%llu: %s", ctx->path, (unsigned long long)line,
		 (unsigned long long)col, msg);
}

/* ------------------------------------------------------------- numbers */

bool eau2_load_parse_i64(const char *s, size_t n, int64_t *v)
{
	size_t i = 0;
	bool neg = false;
	uint64_t x = 0;

	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n || n - i > 19)
		return false;
	for (; i < n; i++) {
		unsigned d = (unsigned)(uint8_t)s[i] - '0';

		if (d > 9)
			return false;
		x = x * 10 + d; /* 19 digits fit in uint64 */
	}
	if (x > (uint64_t)INT64_MAX + neg)
		return false;
	*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Clinger's fast path: a mantissa below 2^53 times or divided by an exact
 * power of ten up to 1e22 is one correctly rounded IEEE operation. Returns
 * 1 with *v set, 0 when the form is not handled here, -1 when it is surely
 * not a number. */
/* Accumulates the digits at s[i..n) into *m; returns the index after them.
 * Past 19 digits *m wraps: callers count the digits. (A SWAR eight-digit
 * variant measured slower on the short numbers CSV files hold.) */
static inline size_t digits(const char *s, size_t i, size_t n, uint64_t *m)
{
	for (; i < n; i++) {
		unsigned d = (unsigned)(uint8_t)s[i] - '0';

		if (d > 9)
			break;
		*m = *m * 10 + d;
	}
	return i;
}

static inline int f64_fast_impl(const char *s, size_t n, double *v)
{
	size_t i = 0, j, nd;
	bool neg = false, any;
	uint64_t m = 0;
	int64_t e10 = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	j = i;
	while (i < n && s[i] == '0')
		i++;
	any = i > j;
	j = i;
	i = digits(s, i, n, &m);
	nd = i - j;
	any = any || nd;
	if (i < n && s[i] == '.') {
		size_t f = ++i;

		if (m == 0)
			while (i < n && s[i] == '0')
				i++;
		e10 -= (int64_t)(i - f);
		j = i;
		i = digits(s, i, n, &m);
		nd += i - j;
		e10 -= (int64_t)(i - j);
		any = any || i > f;
	}
	if (!any)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false;
		int64_t x = 0;

		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			eneg = s[i++] == '-';
		if (i == n)
			return -1;
		for (; i < n; i++) {
			unsigned d = (unsigned)(uint8_t)s[i] - '0';

			if (d > 9)
				return -1;
			if (x < 100000)
				x = x * 10 + d;
		}
		e10 += eneg ? -x : x;
	}
	if (i != n || nd > 19)
		return 0; /* inf/nan/hex or long mantissas: strtod decides */
	if (m == 0) {
		*v = neg ? -0.0 : 0.0;
		return 1;
	}
	if (m > (1ull << 53) || e10 < -22 || e10 > 22)
		return 0;
	{
		double d = (double)m;

		d = e10 < 0 ? d / pow10_tab[-e10] : d * pow10_tab[e10];
		*v = neg ? -d : d;
	}
	return 1;
}

static int f64_fast(const char *s, size_t n, double *v)
{
	return f64_fast_impl(s, n, v);
}

static bool f64_slow(const char *s, size_t n, double *v, bool allow_hex)
{
	char buf[512];
	char *end;
	size_t i = 0;

	if (n == 0 || n >= sizeof(buf))
		return false;
	if (s[0] == '-' || s[0] == '+')
		i = 1;
	/* strtod skips leading space; eau2 does not. */
	if (i == n || !(isdigit((unsigned char)s[i]) || s[i] == '.' ||
			 strchr("iInN", s[i])))
		return false;
	if (!allow_hex && (memchr(s, 'x', n) || memchr(s, 'X', n)))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	pthread_once(&c_locale_once, c_locale_init);
	if (!c_locale)
		return false;
	errno = 0;
	*v = strtod_l(buf, &end, c_locale);
	return end == buf + n;
}

bool eau2_load_parse_f64(const char *s, size_t n, double *v)
{
	int r = f64_fast(s, n, v);

	if (r)
		return r > 0;
	return f64_slow(s, n, v, true);
}

/* CSV's double: strtod's syntax without hex floats (so that "0x1f" stays
 * a string). */
static bool csv_f64(const char *s, size_t n, double *v)
{
	int r = f64_fast(s, n, v);

	if (r)
		return r > 0;
	return f64_slow(s, n, v, false);
}

bool eau2_csv_parse_bool(const char *s, size_t n, bool *v)
{
	if (n == 4 && (!memcmp(s, "true", 4) || !memcmp(s, "TRUE", 4) ||
		       !memcmp(s, "True", 4))) {
		*v = true;
		return true;
	}
	if (n == 5 && (!memcmp(s, "false", 5) || !memcmp(s, "FALSE", 5) ||
		       !memcmp(s, "False", 5))) {
		*v = false;
		return true;
	}
	return false;
}

bool eau2_csv_parse_f64(const char *s, size_t n, double *v)
{
	return csv_f64(s, n, v);
}

unsigned eau2_csv_kind(const char *s, size_t n)
{
	int64_t i;
	double d;
	bool b;

	if (n == 0)
		return EAU2_KIND_NULL;
	if (n == 1 && (s[0] == '0' || s[0] == '1'))
		return EAU2_KIND_01;
	if (eau2_csv_parse_bool(s, n, &b))
		return EAU2_KIND_TF;
	if (eau2_load_parse_i64(s, n, &i))
		return EAU2_KIND_INT;
	if (csv_f64(s, n, &d))
		return EAU2_KIND_DBL;
	return EAU2_KIND_STR;
}

/* --------------------------------------------------------------- guard */

/* The input is mapped, never copied. Someone truncating it while it is
 * parsed makes the kernel raise SIGBUS on the pages past the new end: a
 * handler, installed once, maps zero pages over the rest of that load's
 * mapping (so the parse goes on over zeros, whatever it was doing: no
 * longjmp, no half-updated state) and flags the load, which then fails.
 * A fault outside every load's mapping goes to the handler that was there
 * before (or the default: the process dies as it would have). Writes that
 * leave the size alone are caught by an inotify watch and by comparing
 * size, mtime and ctime before and after. Slots are lock-free: the
 * handler only reads them; a load takes one before it parses and gives
 * it back before it unmaps. */
#define GUARD_SLOTS 64

struct guard {
	_Atomic uintptr_t base; /* 0: free */
	_Atomic size_t len;     /* bytes mapped, a multiple of the page size */
	atomic_int hit;
};

static struct guard guards[GUARD_SLOTS];
static struct sigaction guard_old;
static uintptr_t guard_page;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (size_t i = 0; si->si_code > 0 && i < GUARD_SLOTS; i++) {
		uintptr_t b = atomic_load(&guards[i].base);
		size_t n = atomic_load(&guards[i].len);
		uintptr_t from = a & ~(guard_page - 1);

		if (!b || a < b || a >= b + n)
			continue;
		if (mmap((void *)from, b + n - from, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			break;
		atomic_store(&guards[i].hit, 1);
		return;
	}
	if ((guard_old.sa_flags & SA_SIGINFO) && guard_old.sa_sigaction) {
		guard_old.sa_sigaction(sig, si, uc);
		return;
	}
	if (guard_old.sa_handler != SIG_DFL && guard_old.sa_handler != SIG_IGN) {
		guard_old.sa_handler(sig);
		return;
	}
	/* Not ours: die of it, as without the handler. */
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

/* Installs the handler unless it is the one in place: on every load, so
 * that one replaced meanwhile (by an application, a test harness) is put
 * back, chaining to its replacement. Under guard_lock: never our own
 * handler as guard_old. */
static bool guard_install(void)
{
	struct sigaction sa, cur;
	bool ok = true;

	pthread_mutex_lock(&guard_lock);
	if (!guard_page)
		guard_page = (uintptr_t)sysconf(_SC_PAGESIZE);
	if (sigaction(SIGBUS, NULL, &cur) < 0) {
		ok = false;
	} else if (!(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_sigbus) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		guard_old = cur;
		ok = sigaction(SIGBUS, &sa, NULL) == 0;
	}
	pthread_mutex_unlock(&guard_lock);
	return ok;
}

/* A slot guarding [map, map + len), or NULL (no handler, or 64 loads at
 * once: that load goes unguarded, as before). */
static struct guard *guard_add(const void *map, size_t len)
{
	if (!guard_install())
		return NULL;
	for (size_t i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t free_ = 0;

		if (atomic_load(&guards[i].base))
			continue;
		atomic_store(&guards[i].len, (len + guard_page - 1) & ~(guard_page - 1));
		atomic_store(&guards[i].hit, 0);
		if (atomic_compare_exchange_strong(&guards[i].base, &free_, (uintptr_t)map))
			return &guards[i];
	}
	return NULL;
}

static void guard_remove(struct guard *g)
{
	if (g)
		atomic_store(&g->base, 0);
}

/* Watches the open file for writes and truncation (IN_MODIFY); -1 when
 * inotify is not to be had (then the stat comparison alone decides). */
static int watch_file(int fd)
{
	char proc[64];
	int w = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (w < 0)
		return -1;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (inotify_add_watch(w, proc, IN_MODIFY) < 0) {
		close(w);
		return -1;
	}
	return w;
}

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* True when the file was truncated or written to since st0 was taken. */
static bool file_changed(int fd, int watch, const struct guard *g,
			 const struct stat *st0)
{
	struct stat st1;
	char ev[4096];

	if (g && atomic_load(&g->hit))
		return true;
	if (watch >= 0 && read(watch, ev, sizeof(ev)) > 0)
		return true;
	return fstat(fd, &st1) < 0 || !same_file_state(st0, &st1);
}

/* ------------------------------------------------------------ dispatch */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int eau2_load_in(struct eau2_store *db, const char *path,
		 const struct eau2_load_options *opt, eau2_df **df,
		 struct eau2_load_stats *stats, struct eau2_error *err)
{
	return eau2_load_stream_in(db, path, opt, NULL, NULL, df, stats, err);
}

int eau2_load_stream_in(struct eau2_store *db, const char *path,
			const struct eau2_load_options *opt, eau2_load_joined_fn *joined,
			void *arg, eau2_df **df, struct eau2_load_stats *stats,
			struct eau2_error *err)
{
	struct eau2_load_ctx ctx = { 0 };
	struct eau2_load_stats local_stats;
	struct eau2_error local_err;
	struct stat st;
	struct guard *guard = NULL;
	void *map = NULL;
	eau2_df *out = NULL;
	int rc = 0, watch = -1;

	ctx.fd = -1;
	if (!err)
		err = &local_err;
	if (!stats)
		stats = &local_stats;
	memset(stats, 0, sizeof(*stats));
	if (!db || !path || !df)
		return eau2_error_set(err, -EINVAL, "eau2_load: NULL argument");
	*df = NULL;
	if (opt)
		ctx.opt = *opt;
	if (!ctx.opt.delim)
		ctx.opt.delim = ',';
	if (ctx.opt.delim == '"' || ctx.opt.delim == '\n' || ctx.opt.delim == '\r')
		return eau2_error_set(err, -EINVAL, "%s: bad CSV delimiter 0x%02x",
				      path, (unsigned char)ctx.opt.delim);
	if (ctx.opt.format == EAU2_FORMAT_AUTO) {
		if (ends_with(path, ".csv"))
			ctx.opt.format = EAU2_FORMAT_CSV;
		else if (ends_with(path, ".sor"))
			ctx.opt.format = EAU2_FORMAT_SOR;
		else if (ends_with(path, ".txt") || ends_with(path, ".log"))
			ctx.opt.format = EAU2_FORMAT_LINES;
		else
			return eau2_error_set(err, -EINVAL,
				"%s: cannot tell the format from the extension "
				"(.csv, .sor, .txt, .log); name it explicitly", path);
	}
	if (ctx.opt.format < EAU2_FORMAT_CSV || ctx.opt.format > EAU2_FORMAT_LINES)
		return eau2_error_set(err, -EINVAL, "%s: bad format %d", path,
				      (int)ctx.opt.format);
	ctx.db = db;
	ctx.path = path;
	ctx.joined = joined;
	ctx.joined_arg = arg;
	ctx.stats = stats;
	ctx.err = err;
	ctx.threads = ctx.opt.threads ? ctx.opt.threads : eau2_load_default_threads();
	if (ctx.threads > 256)
		ctx.threads = 256;
	atomic_init(&ctx.bytes_done, 0);
	atomic_init(&ctx.stopped, false);
	ctx.progress_next = progress_step();

	/* Never blocks: a FIFO is refused before anything waits on it. */
	ctx.fd = eau2_open_regular(path, err);
	if (ctx.fd < 0) {
		rc = ctx.fd;
		goto out;
	}
	/* The watch first, then the state it is compared with. */
	watch = watch_file(ctx.fd);
	if (fstat(ctx.fd, &st) < 0) {
		rc = -errno;
		eau2_error_set(err, rc, "%s: stat: %s", path, strerror(errno));
		goto out;
	}
	ctx.size = (size_t)st.st_size;
	if ((ctx.opt.from || ctx.opt.len) && ctx.opt.format == EAU2_FORMAT_LINES) {
		rc = eau2_error_set(err, -EINVAL, "%s: --from/--len (a byte range) apply to "
				    "CSV and SoR files, not to lines", path);
		goto out;
	}
	if (ctx.opt.from && ctx.opt.from >= ctx.size) {
		rc = eau2_error_set(err, -EINVAL, "%s: --from %llu is past the end of the "
				    "file (%zu bytes)", path,
				    (unsigned long long)ctx.opt.from, ctx.size);
		goto out;
	}
	if (ctx.size) {
		map = mmap(NULL, ctx.size, PROT_READ, MAP_PRIVATE, ctx.fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			rc = -errno;
			eau2_error_set(err, rc, "%s: mmap: %s", path, strerror(errno));
			goto out;
		}
		ctx.map = map;
		guard = guard_add(map, ctx.size);
	}
	switch (ctx.opt.format) {
	case EAU2_FORMAT_CSV:
		rc = eau2_csv_load(&ctx, &out);
		break;
	case EAU2_FORMAT_SOR:
		rc = eau2_sor_load(&ctx, &out);
		break;
	default:
		rc = eau2_lines_load(&ctx, &out);
		break;
	}
	/* A file changed under the map was read torn (or as zeros, past a
	 * truncation): whatever the parse made of it, the load fails. */
	if (file_changed(ctx.fd, watch, guard, &st)) {
		rc = eau2_error_set(err, -EIO, "%s: the file was truncated or written to "
				    "while it was being loaded: nothing loaded", path);
		goto out;
	}
	if (rc)
		goto out;
	eau2_load_progress(&ctx, true);
	stats->columns = eau2_df_ncols(out);
	*df = out;
	out = NULL;
out:
	eau2_df_release(out);
	guard_remove(guard);
	if (watch >= 0)
		close(watch);
	if (map)
		munmap(map, ctx.size);
	if (ctx.fd >= 0)
		close(ctx.fd);
	return rc;
}

int eau2_load_join_done(struct eau2_load_ctx *ctx, eau2_builder *root, size_t *next,
			size_t n, eau2_load_part_fn part, void *arg, struct eau2_error *err)
{
	eau2_builder **p;
	bool joined = false;
	int rc;

	for (; *next < n && (p = part(arg, *next)); (*next)++) {
		if (!*p)
			continue;
		rc = eau2_builder_join(root, *p, err);
		*p = NULL;
		if (rc)
			return rc;
		joined = true;
	}
	if (joined && ctx->joined && !ctx->joined(ctx->joined_arg, root))
		atomic_store(&ctx->stopped, true);
	return 0;
}
