/* SPDX-License-Identifier: MIT */
/*
 * mandelbrot.c - the "mandelbrot" rower: escape iteration counts of a
 * width x height image of the region [xmin, xmax] x [ymin, ymax] (defaults
 * -2.5..1 x -1.25..1.25), at most iter iterations per point; optionally
 * written to out=FILE.png (8-bit grey, uncompressed deflate) or FILE.pgm
 * (grey 255 * ln(1 + n) / ln(1 + iter), points inside the set black).
 *
 * Arguments: width=W height=H (default 1024 x 768) iter=N (default 1000)
 * out=FILE, xmin= xmax= ymin= ymax=, result=pixels|summary, threads=N (the
 * pool of the inner run; default one per allowed core).
 * Result: result=pixels (default) gives columns row, col, iter (int), one
 * row per pixel in row-major order (store it with --as); result=summary
 * one row width, height, max_iter, total_iter, inside.
 *
 * Parallelism: the rower needs no input. Its finish builds a temporary
 * one-column dataframe `y` holding the image row indexes, one row group
 * per band of image rows (made with builder fork/join, which seals a row
 * group per part), and runs the "mandelbrot-rows" class over it with
 * eau2_run: the bands are the pool's morsels. mandelbrot-rows is ORDERED,
 * so its task states hold contiguous row ranges and join by appending; the
 * result is the same for any thread count. On a cluster (the backend sets
 * EAU2_RUN_CLUSTER) the rows are a temporary cluster key instead, and
 * mandelbrot-rows runs on the nodes holding its partitions: the image
 * rows split across the nodes and their cores, joined in row order on
 * the driver (run_on_cluster). Point (x, y) is pixel centre
 * xmin + (x + 0.5) * (xmax - xmin) / W, ymax - (y + 0.5) * (ymax - ymin) / H.
 * When a dataframe is given as input it is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apps/apps.h"
#include "rowers/rowers.h"
#include "util/file.h"

#define MB_DIM_MAX 65536
#define MB_PIXELS_MAX (1ull << 31)

struct mb_params {
	int64_t width, height, iter;
	double xmin, xmax, ymin, ymax;
	bool summary;
	const char *out;
};

static int mb_params(const struct eau2_args *a, struct mb_params *p,
		     struct eau2_error *err)
{
	const char *res = eau2_args_get(a, "result");
	int rc;

	rc = eau2_apps_arg_i64(a, "mandelbrot", "width", 1024, 1, MB_DIM_MAX,
			       &p->width, err);
	if (rc == 0)
		rc = eau2_apps_arg_i64(a, "mandelbrot", "height", 768, 1, MB_DIM_MAX,
				       &p->height, err);
	if (rc == 0)
		rc = eau2_apps_arg_i64(a, "mandelbrot", "iter", 1000, 1,
				       1000000000, &p->iter, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(a, "mandelbrot", "xmin", -2.5, &p->xmin, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(a, "mandelbrot", "xmax", 1.0, &p->xmax, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(a, "mandelbrot", "ymin", -1.25, &p->ymin, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(a, "mandelbrot", "ymax", 1.25, &p->ymax, err);
	if (rc < 0)
		return rc;
	if (!(p->xmin < p->xmax) || !(p->ymin < p->ymax))
		return eau2_error_set(err, -EINVAL, "mandelbrot: empty region "
				      "(want xmin < xmax and ymin < ymax)");
	if ((uint64_t)p->width * (uint64_t)p->height > MB_PIXELS_MAX)
		return eau2_error_set(err, -EINVAL, "mandelbrot: %lld x %lld pixels "
				      "(at most %llu)", (long long)p->width,
				      (long long)p->height,
				      (unsigned long long)MB_PIXELS_MAX);
	if (res && strcmp(res, "pixels") && strcmp(res, "summary"))
		return eau2_error_set(err, -EINVAL, "mandelbrot: argument result="
				      "'%s': want pixels or summary", res);
	p->summary = res && !strcmp(res, "summary");
	p->out = eau2_args_get(a, "out");
	if (p->out) {
		size_t n = strlen(p->out);
		if (n < 5 || (strcmp(p->out + n - 4, ".png") &&
			      strcmp(p->out + n - 4, ".pgm")))
			return eau2_error_set(err, -EINVAL, "mandelbrot: out='%s': "
					      "want a .png or .pgm file name", p->out);
	}
	return 0;
}

/* ------------------------------------------------------- mandelbrot-rows */

/* A task's contiguous image rows first..first+nrows-1, width counts each. */
struct mbr_state {
	struct mb_params p;
	size_t col;
	int64_t first;
	size_t nrows, cap_rows;
	uint32_t *counts;
};

static int mbr_init(void *state, const struct eau2_run_ctx *ctx,
		    struct eau2_error *err)
{
	struct mbr_state *s = state;
	int rc = mb_params(ctx->args, &s->p, err);

	if (rc < 0)
		return rc;
	if (!ctx->input)
		return eau2_error_set(err, -EINVAL, "mandelbrot-rows: needs an input "
				      "of image row indexes");
	rc = eau2_apps_column(ctx->input, "mandelbrot-rows", "input", "y", 0,
			      EAU2_APPS_T(EAU2_INT), &s->col, err);
	s->first = -1;
	return rc;
}

static void mbr_destroy(void *state)
{
	free(((struct mbr_state *)state)->counts);
}

static int mbr_reserve(struct mbr_state *s, size_t rows, struct eau2_error *err)
{
	if (rows <= s->cap_rows)
		return 0;
	size_t cap = s->cap_rows ? s->cap_rows * 2 : 16;
	while (cap < rows)
		cap *= 2;
	uint32_t *c = realloc(s->counts, cap * (size_t)s->p.width * sizeof(*c));
	if (!c)
		return eau2_error_set(err, -ENOMEM, "mandelbrot: out of memory");
	s->counts = c;
	s->cap_rows = cap;
	return 0;
}

static int mbr_chunk(void *state, const struct eau2_group *g,
		     struct eau2_error *err)
{
	struct mbr_state *s = state;
	const struct eau2_chunk_view *v = &g->cols[s->col];
	const double dx = (s->p.xmax - s->p.xmin) / (double)s->p.width;
	const double dy = (s->p.ymax - s->p.ymin) / (double)s->p.height;
	int rc;

	for (uint32_t i = 0; i < v->rows; i++) {
		int64_t y = v->values.i64[i];

		if (!eau2_view_valid(v, i) || y < 0 || y >= s->p.height)
			return eau2_error_set(err, -EINVAL, "mandelbrot-rows: row %llu: "
					      "not an image row in [0, %lld)",
					      (unsigned long long)(g->first_row + i),
					      (long long)s->p.height);
		if (s->first < 0)
			s->first = y;
		if (y != s->first + (int64_t)s->nrows)
			return eau2_error_set(err, -EINVAL, "mandelbrot-rows: row %llu: "
					      "image rows must be consecutive",
					      (unsigned long long)(g->first_row + i));
		rc = mbr_reserve(s, s->nrows + 1, err);
		if (rc < 0)
			return rc;
		uint32_t *out = s->counts + s->nrows * (size_t)s->p.width;
		double cy = s->p.ymax - ((double)y + 0.5) * dy;
		for (int64_t x = 0; x < s->p.width; x++)
			out[x] = eau2_apps_mandel(s->p.xmin + ((double)x + 0.5) * dx,
						  cy, (uint32_t)s->p.iter);
		s->nrows++;
	}
	return 0;
}

static int mbr_join(void *state, void *other_, struct eau2_error *err)
{
	struct mbr_state *s = state, *o = other_;
	int rc;

	if (o->nrows == 0)
		return 0;
	if (s->nrows == 0) {
		free(s->counts);
		s->counts = o->counts;
		s->cap_rows = o->cap_rows;
		s->nrows = o->nrows;
		s->first = o->first;
		o->counts = NULL;
		o->nrows = o->cap_rows = 0;
		return 0;
	}
	if (o->first != s->first + (int64_t)s->nrows)
		return eau2_error_set(err, -EINVAL, "mandelbrot-rows: join of "
				      "non-adjacent rows %lld and %lld",
				      (long long)(s->first + (int64_t)s->nrows),
				      (long long)o->first);
	rc = mbr_reserve(s, s->nrows + o->nrows, err);
	if (rc < 0)
		return rc;
	memcpy(s->counts + s->nrows * (size_t)s->p.width, o->counts,
	       o->nrows * (size_t)s->p.width * sizeof(*s->counts));
	s->nrows += o->nrows;
	return 0;
}

static int mbr_encode(const void *state, void **buf, size_t *len,
		      struct eau2_error *err)
{
	const struct mbr_state *s = state;
	struct eau2_buf b = {0};
	int rc = eau2_buf_u64(&b, (uint64_t)s->first);

	if (rc == 0)
		rc = eau2_buf_u64(&b, s->nrows);
	if (rc == 0)
		rc = eau2_buf_put(&b, s->counts,
				  s->nrows * (size_t)s->p.width * sizeof(*s->counts));
	if (rc < 0) {
		free(b.p);
		return eau2_error_set(err, rc, "mandelbrot-rows: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int mbr_decode(void *state, const void *buf, size_t len,
		      struct eau2_error *err)
{
	struct mbr_state *s = state;
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t first, nrows;
	int rc;

	if (eau2_rd_u64(&r, &first) || eau2_rd_u64(&r, &nrows))
		return eau2_error_set(err, -EBADMSG, "mandelbrot-rows: decode: truncated");
	if (nrows > (uint64_t)s->p.height ||
	    (nrows && (first >= (uint64_t)s->p.height ||
		       len - r.pos != nrows * (uint64_t)s->p.width * 4)))
		return eau2_error_set(err, -EBADMSG, "mandelbrot-rows: decode: "
				      "%llu rows from %llu do not match the image "
				      "or the %zu bytes", (unsigned long long)nrows,
				      (unsigned long long)first, len);
	s->nrows = 0;
	rc = mbr_reserve(s, nrows, err);
	if (rc < 0)
		return rc;
	memcpy(s->counts, (const uint8_t *)buf + r.pos, len - r.pos);
	s->first = nrows ? (int64_t)first : -1;
	s->nrows = nrows;
	return 0;
}

/* Pixel table row, col, iter in row-major order. */
static int mbr_finish(void *state, const struct eau2_run_ctx *ctx,
		      eau2_df **result, struct eau2_error *err)
{
	struct mbr_state *s = state;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	int rc;

	rc = eau2_schema_parse("row:int,col:int,iter:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	for (size_t r = 0; rc == 0 && r < s->nrows; r++) {
		const uint32_t *row = s->counts + r * (size_t)s->p.width;
		for (int64_t x = 0; rc == 0 && x < s->p.width; x++) {
			rc = eau2_builder_append_int(b, 0, s->first + (int64_t)r, err);
			if (rc == 0)
				rc = eau2_builder_append_int(b, 1, x, err);
			if (rc == 0)
				rc = eau2_builder_append_int(b, 2, row[x], err);
		}
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	return rc;
}

static const char *const mandelbrot_args[] = { "width", "height", "iter", "xmin", "xmax", "ymin", "ymax", "result", "out", "threads", NULL };

const struct eau2_rower_class eau2_app_mandelbrot_rows = {
	.name = "mandelbrot-rows",
	.summary = "the worker pass of mandelbrot: iteration counts of the image "
		   "rows listed in int column y (same arguments)",
	.flags = EAU2_ROWER_ORDERED,
	.state_size = sizeof(struct mbr_state),
	.init = mbr_init,
	.accept_chunk = mbr_chunk,
	.join = mbr_join,
	.encode = mbr_encode,
	.decode = mbr_decode,
	.finish = mbr_finish,
	.destroy = mbr_destroy,
	.args = mandelbrot_args,
};

/* ------------------------------------------------------------- images */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Writes all of p to fd; 0 or -errno. */
static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;

	while (n) {
		ssize_t k = write(fd, q, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One PNG chunk: length, type, data, CRC over type and data. */
static int png_chunk(int fd, const char *type, const uint8_t *data, size_t n)
{
	uint8_t head[8], tail[4];
	uint32_t crc;
	int rc;

	be32(head, (uint32_t)n);
	memcpy(head + 4, type, 4);
	crc = crc_update(0, (const uint8_t *)type, 4);
	crc = crc_update(crc, data, n);
	be32(tail, crc);
	rc = write_all(fd, head, 8);
	if (rc == 0)
		rc = write_all(fd, data, n);
	if (rc == 0)
		rc = write_all(fd, tail, 4);
	return rc;
}

/* grey is w x h bytes. PNG: colour type 0, depth 8, filter 0 per row, the
 * zlib stream made of stored (uncompressed) deflate blocks. */
static int write_png(int fd, const uint8_t *grey, uint32_t w, uint32_t h)
{
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	uint8_t ihdr[13] = {0};
	size_t raw_len = (size_t)h * (w + 1);
	size_t nblocks = raw_len / 65535 + 1;
	size_t z_len = 2 + raw_len + 5 * nblocks + 4;
	uint8_t *z = malloc(z_len);
	uint32_t a = 1, b = 0;
	size_t zp = 2, left = raw_len, row = 0, col = 0;
	int rc;

	if (!z)
		return -ENOMEM;
	pthread_once(&crc_once, crc_init);
	be32(ihdr, w);
	be32(ihdr + 4, h);
	ihdr[8] = 8;
	z[0] = 0x78;
	z[1] = 0x01;
	while (zp < z_len - 4) {
		size_t n = left < 65535 ? left : 65535;
		z[zp++] = n == left ? 1 : 0; /* BFINAL, BTYPE 00 */
		z[zp++] = (uint8_t)n;
		z[zp++] = (uint8_t)(n >> 8);
		z[zp++] = (uint8_t)~n;
		z[zp++] = (uint8_t)(~n >> 8);
		for (size_t i = 0; i < n; i++) {
			uint8_t byte = col == 0 ? 0 : grey[(size_t)row * w + col - 1];
			if (++col == (size_t)w + 1) {
				col = 0;
				row++;
			}
			z[zp++] = byte;
			a = (a + byte) % 65521;
			b = (b + a) % 65521;
		}
		left -= n;
		if (left == 0)
			break;
	}
	be32(z + zp, (b << 16) | a);
	zp += 4;
	rc = write_all(fd, sig, 8);
	if (rc == 0)
		rc = png_chunk(fd, "IHDR", ihdr, 13);
	if (rc == 0)
		rc = png_chunk(fd, "IDAT", z, zp);
	if (rc == 0)
		rc = png_chunk(fd, "IEND", NULL, 0);
	free(z);
	return rc;
}

static int write_image(const struct mb_params *p, const eau2_df *pix,
		       struct eau2_error *err)
{
	size_t n = (size_t)p->width * (size_t)p->height;
	uint8_t *grey = malloc(n ? n : 1);
	char head[64];
	struct eau2_outfile out = { .fd = -1 };
	int rc = 0;
	size_t k = 0;

	if (!grey)
		return eau2_error_set(err, -ENOMEM, "mandelbrot: out of memory");
	for (size_t g = 0; rc == 0 && g < eau2_df_ngroups(pix); g++) {
		struct eau2_chunk_view v;
		rc = eau2_df_chunk(pix, 2, g, &v, err);
		for (uint32_t i = 0; rc == 0 && i < v.rows && k < n; i++) {
			int64_t it = v.values.i64[i];
			grey[k++] = it >= p->iter ? 0 :
				(uint8_t)(255.0 * log1p((double)it) /
					  log1p((double)p->iter) + 0.5);
		}
	}
	if (rc < 0)
		goto out;
	rc = eau2_outfile_open(&out, p->out, 0666, err);
	if (rc < 0) {
		eau2_error_prefix(err, rc, "mandelbrot");
		goto out;
	}
	if (!strcmp(p->out + strlen(p->out) - 4, ".pgm")) {
		int hl = snprintf(head, sizeof(head), "P5\n%lld %lld\n255\n",
				  (long long)p->width, (long long)p->height);
		rc = write_all(out.fd, head, (size_t)hl);
		if (rc == 0)
			rc = write_all(out.fd, grey, n);
	} else {
		rc = write_png(out.fd, grey, (uint32_t)p->width, (uint32_t)p->height);
	}
	if (rc < 0) {
		rc = eau2_error_set(err, rc, "mandelbrot: writing %s: %s", p->out,
				    strerror(-rc));
		goto out;
	}
	rc = eau2_outfile_commit(&out, err);
	if (rc < 0)
		eau2_error_prefix(err, rc, "mandelbrot");
out:
	eau2_outfile_abort(&out);
	free(grey);
	return rc;
}

/* ------------------------------------------------------------ mandelbrot */

struct mb_state {
	struct mb_params p;
};

static int mb_init(void *state, const struct eau2_run_ctx *ctx,
		   struct eau2_error *err)
{
	return mb_params(ctx->args, &((struct mb_state *)state)->p, err);
}

static int mb_chunk(void *state, const struct eau2_group *g,
		    struct eau2_error *err)
{
	return 0; /* an input, if any, is not used */
}

static int mb_join(void *state, void *other, struct eau2_error *err)
{
	return 0;
}

static int mb_encode(const void *state, void **buf, size_t *len,
		     struct eau2_error *err)
{
	*buf = malloc(1);
	*len = 0;
	return *buf ? 0 : eau2_error_set(err, -ENOMEM, "mandelbrot: out of memory");
}

static int mb_decode(void *state, const void *buf, size_t len,
		     struct eau2_error *err)
{
	return len ? eau2_error_set(err, -EBADMSG, "mandelbrot: decode: "
				    "unexpected bytes") : 0;
}

/* The temporary input: column y = 0..height-1, a row group per band of
 * `band` image rows. */
static int make_rows(eau2 *db, int64_t height, int64_t band, eau2_df **df,
		     struct eau2_error *err)
{
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL, *part = NULL;
	int rc;

	rc = eau2_schema_parse("y:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(db, schema, &b, err);
	for (int64_t y0 = 0; rc == 0 && y0 < height; y0 += band) {
		rc = eau2_builder_fork(b, &part, err);
		for (int64_t y = y0; rc == 0 && y < y0 + band && y < height; y++)
			rc = eau2_builder_append_int(part, 0, y, err);
		if (rc == 0) {
			rc = eau2_builder_join(b, part, err);
			part = NULL;
		}
	}
	eau2_builder_abort(part);
	if (rc == 0) {
		rc = eau2_builder_finish(b, df, err);
		b = NULL;
	}
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	return rc;
}

static atomic_uint tmp_counter;

/* On a cluster: the image rows are put under a temporary cluster key
 * (mandelbrot.tmp.<pid>.<n>, cut at row groups into partitions spread
 * over the live nodes) and mandelbrot-rows runs over it there, each node
 * on its cores; the driver joins the parts' rows in partition order,
 * which is row order. The key is deleted after. */
static int run_on_cluster(const struct eau2_run_ctx *ctx, eau2_df *rows,
			  const struct eau2_run_options *opt, eau2_df **pix,
			  struct eau2_error *err)
{
	char key[64];
	int rc;

	snprintf(key, sizeof(key), "mandelbrot.tmp.%ld.%u", (long)getpid(),
		 atomic_fetch_add(&tmp_counter, 1));
	if ((rc = eau2_put(ctx->db, key, rows, err)))
		return rc;
	rc = eau2_run_key(ctx->db, key, &eau2_app_mandelbrot_rows, ctx->args, opt, NULL,
			  pix, err);
	(void)eau2_delete(ctx->db, key, NULL);
	return rc;
}

static int mb_finish(void *state, const struct eau2_run_ctx *ctx,
		     eau2_df **result, struct eau2_error *err)
{
	struct mb_state *s = state;
	struct eau2_run_options opt = {0};
	eau2_df *rows = NULL, *pix = NULL;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	int64_t band, threads;
	int rc;

	/* ctx->threads is the outer run's, cut to its units of work (1 for
	 * no input): the inner pool is threads=N, by default every core */
	rc = eau2_apps_arg_i64(ctx->args, "mandelbrot", "threads", 0, 0, 1024,
			       &threads, err);
	if (rc < 0)
		return rc;
	opt.threads = (unsigned)threads;
	opt.cancel = ctx->cancel;
	/* one image row per row group (morsel) up to 4096 rows, then bands */
	band = (s->p.height + 4095) / 4096;
	rc = make_rows(ctx->db, s->p.height, band, &rows, err);
	if (rc == 0 && (ctx->flags & EAU2_RUN_CLUSTER))
		rc = run_on_cluster(ctx, rows, &opt, &pix, err);
	else if (rc == 0)
		rc = eau2_run(ctx->db, rows, &eau2_app_mandelbrot_rows, ctx->args,
			      &opt, &pix, err);
	if (rc == 0 && s->p.out)
		rc = write_image(&s->p, pix, err);
	if (rc < 0 || !s->p.summary)
		goto out;
	/* summary */
	int64_t total = 0, inside = 0;
	for (size_t g = 0; rc == 0 && g < eau2_df_ngroups(pix); g++) {
		struct eau2_chunk_view v;
		rc = eau2_df_chunk(pix, 2, g, &v, err);
		for (uint32_t i = 0; rc == 0 && i < v.rows; i++) {
			total += v.values.i64[i];
			inside += v.values.i64[i] >= s->p.iter;
		}
	}
	if (rc == 0)
		rc = eau2_schema_parse("width:int,height:int,max_iter:int,"
				       "total_iter:int,inside:int", &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	if (rc == 0)
		rc = eau2_builder_append_int(b, 0, s->p.width, err);
	if (rc == 0)
		rc = eau2_builder_append_int(b, 1, s->p.height, err);
	if (rc == 0)
		rc = eau2_builder_append_int(b, 2, s->p.iter, err);
	if (rc == 0)
		rc = eau2_builder_append_int(b, 3, total, err);
	if (rc == 0)
		rc = eau2_builder_append_int(b, 4, inside, err);
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
out:
	if (rc == 0 && !s->p.summary) {
		*result = pix;
		pix = NULL;
	}
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	eau2_df_release(rows);
	eau2_df_release(pix);
	return rc;
}

const struct eau2_rower_class eau2_app_mandelbrot = {
	.name = "mandelbrot",
	.summary = "Mandelbrot iteration counts, no input: width= height= iter= "
		   "[out=FILE.png|.pgm] [result=summary]; rows split across the pool",
	.flags = EAU2_ROWER_NO_INPUT,
	.state_size = sizeof(struct mb_state),
	.init = mb_init,
	.accept_chunk = mb_chunk,
	.join = mb_join,
	.encode = mb_encode,
	.decode = mb_decode,
	.finish = mb_finish,
	.args = mandelbrot_args,
};
