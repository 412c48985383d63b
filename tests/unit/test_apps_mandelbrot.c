/* SPDX-License-Identifier: MIT */
/*
 * test_apps_mandelbrot.c - the mandelbrot application against a serial
 * computation written here: the pixel table (row, col, iter) must be
 * identical for 1, 2 and 3 threads; result=summary must add up; the PGM
 * and PNG files must hold the expected grey levels (the PNG is parsed
 * here: chunk CRCs, zlib header, stored deflate blocks, Adler-32); bad
 * arguments give clear errors. The rower runs without input
 * (EAU2_ROWER_NO_INPUT).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowertest.h"

static uint32_t serial_iter(int W, int H, int maxit, int px, int py)
{
	const double xmin = -2.5, xmax = 1.0, ymin = -1.25, ymax = 1.25;
	double dx = (xmax - xmin) / W, dy = (ymax - ymin) / H;
	double cx = xmin + (px + 0.5) * dx, cy = ymax - (py + 0.5) * dy;
	double x = 0, y = 0, x2 = 0, y2 = 0;
	uint32_t n = 0;

	while (n < (uint32_t)maxit && x2 + y2 <= 4.0) {
		y = 2 * x * y + cy;
		x = x2 - y2 + cx;
		x2 = x * x;
		y2 = y * y;
		n++;
	}
	return n;
}

static uint8_t grey_of(uint32_t it, int maxit)
{
	return it >= (uint32_t)maxit ? 0 :
		(uint8_t)(255.0 * log1p((double)it) / log1p((double)maxit) + 0.5);
}

/* Runs mandelbrot, which takes no input, with args. */
static int run_mb(eau2 *db, const struct eau2_args *a, unsigned threads,
		  eau2_df **res, struct eau2_error *err)
{
	struct eau2_run_options opt = { .threads = threads };

	return eau2_run(db, NULL, eau2_rower_find("mandelbrot"), a, &opt, res, err);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*n = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*n + 1);
	assert_int_equal(fread(buf, 1, *n, f), *n);
	fclose(f);
	return buf;
}

/* Decodes our PNG (grey 8-bit, filter 0, stored blocks) into w*h bytes. */
static uint8_t *decode_png(const char *path, int W, int H)
{
	size_t n, pos = 8, zn = 0;
	uint8_t *f = read_file(path, &n), *z = malloc(n), *raw, *img;
	static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	bool end = false;

	assert_memory_equal(f, sig, 8);
	while (!end) {
		assert_true(pos + 12 <= n);
		uint32_t len = be32(f + pos);
		assert_true(pos + 12 + len <= n);
		assert_int_equal(crc_bitwise(f + pos + 4, len + 4), be32(f + pos + 8 + len));
		if (!memcmp(f + pos + 4, "IHDR", 4)) {
			assert_int_equal(be32(f + pos + 8), W);
			assert_int_equal(be32(f + pos + 12), H);
			assert_int_equal(f[pos + 16], 8);  /* depth */
			assert_int_equal(f[pos + 17], 0);  /* grey */
		} else if (!memcmp(f + pos + 4, "IDAT", 4)) {
			memcpy(z + zn, f + pos + 8, len);
			zn += len;
		} else if (!memcmp(f + pos + 4, "IEND", 4)) {
			end = true;
		}
		pos += 12 + len;
	}
	assert_int_equal(pos, n);
	assert_int_equal((z[0] * 256 + z[1]) % 31, 0);
	assert_int_equal(z[0] & 15, 8); /* deflate */
	size_t rawn = (size_t)H * (W + 1), rp = 0, zp = 2;
	raw = malloc(rawn);
	for (;;) {
		uint8_t hdr = z[zp];
		assert_int_equal(hdr & 6, 0); /* stored */
		unsigned blen = z[zp + 1] | z[zp + 2] << 8;
		unsigned nlen = z[zp + 3] | z[zp + 4] << 8;
		assert_int_equal(blen ^ 0xffff, nlen);
		assert_true(rp + blen <= rawn);
		memcpy(raw + rp, z + zp + 5, blen);
		rp += blen;
		zp += 5 + blen;
		if (hdr & 1)
			break;
	}
	assert_int_equal(rp, rawn);
	uint32_t a = 1, b = 0;
	for (size_t i = 0; i < rawn; i++) {
		a = (a + raw[i]) % 65521;
		b = (b + a) % 65521;
	}
	assert_int_equal(be32(z + zp), (b << 16) | a);
	assert_int_equal(zp + 4, zn);
	img = malloc((size_t)W * H);
	for (int y = 0; y < H; y++) {
		assert_int_equal(raw[(size_t)y * (W + 1)], 0);
		memcpy(img + (size_t)y * W, raw + (size_t)y * (W + 1) + 1, (size_t)W);
	}
	free(f);
	free(z);
	free(raw);
	return img;
}

static void test_pixels(void **state)
{
	char *dir, *tmp = tu_tmpdir("mb");
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	const int W = tu_quick() ? 61 : 211, H = tu_quick() ? 37 : 143, IT = 400;
	char w[32], h[32], it[32], png[512], pgm[512];
	struct rt_args ra;
	eau2_df *first = NULL;

	snprintf(w, sizeof(w), "width=%d", W);
	snprintf(h, sizeof(h), "height=%d", H);
	snprintf(it, sizeof(it), "iter=%d", IT);
	snprintf(png, sizeof(png), "out=%s/m.png", tmp);
	snprintf(pgm, sizeof(pgm), "out=%s/m.pgm", tmp);
	for (unsigned t = 1; t <= 3; t++) {
		const char *kv[] = { w, h, it, t == 2 ? pgm : png };
		eau2_df *res = NULL;
		tu_ok(run_mb(db, rt_args(&ra, 4, kv), t, &res, &err), &err);
		assert_int_equal(eau2_df_rows(res), (uint64_t)W * H);
		assert_string_equal(eau2_schema_name(eau2_df_schema(res), 2), "iter");
		if (!first) {
			uint64_t inside = 0, outside = 0;
			for (int y = 0; y < H; y++)
				for (int x = 0; x < W; x++) {
					uint64_t r = (uint64_t)y * W + x;
					int64_t v[3];
					for (int c = 0; c < 3; c++)
						tu_ok(eau2_df_get_int(res, (size_t)c, r, &v[c], &err), &err);
					uint32_t want = serial_iter(W, H, IT, x, y);
					if (v[0] != y || v[1] != x || v[2] != want)
						fail_msg("pixel %d,%d: %lld,%lld,%lld want iter %u", x, y,
							 (long long)v[0], (long long)v[1],
							 (long long)v[2], want);
					inside += want == IT;
					outside += want < 5;
				}
			assert_true(inside > 0 && outside > 0);
			first = res;
		} else {
			rt_assert_df_equal(first, res);
			eau2_df_release(res);
		}
	}
	/* the image files */
	uint8_t *img = decode_png(png + 4, W, H);
	size_t n;
	uint8_t *p = read_file(pgm + 4, &n);
	char head[64];
	int hl = snprintf(head, sizeof(head), "P5\n%d %d\n255\n", W, H);
	assert_int_equal(n, (size_t)hl + (size_t)W * H);
	assert_memory_equal(p, head, (size_t)hl);
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint8_t g = grey_of(serial_iter(W, H, IT, x, y), IT);
			assert_int_equal(img[y * W + x], g);
			assert_int_equal(p[hl + y * W + x], g);
		}
	free(img);
	free(p);

	/* summary */
	const char *kv[] = { w, h, it, "result=summary" };
	eau2_df *sum = NULL;
	tu_ok(run_mb(db, rt_args(&ra, 4, kv), 2, &sum, &err), &err);
	int64_t total = 0, inside = 0, got;
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint32_t v = serial_iter(W, H, IT, x, y);
			total += v;
			inside += v == IT;
		}
	assert_int_equal(eau2_df_rows(sum), 1);
	tu_ok(eau2_df_get_int(sum, 3, 0, &got, &err), &err);
	assert_int_equal(got, total);
	tu_ok(eau2_df_get_int(sum, 4, 0, &got, &err), &err);
	assert_int_equal(got, inside);
	eau2_df_release(sum);
	eau2_df_release(first);
	/* a PNG of more than 65535 bytes (several stored blocks) */
	const char *big[] = { "width=400", "height=300", "iter=20", png };
	sum = NULL;
	tu_ok(run_mb(db, rt_args(&ra, 4, big), 2, &sum, &err), &err);
	img = decode_png(png + 4, 400, 300);
	for (int y = 0; y < 300; y += 7)
		for (int x = 0; x < 400; x += 3)
			assert_int_equal(img[y * 400 + x],
					 grey_of(serial_iter(400, 300, 20, x, y), 20));
	free(img);
	eau2_df_release(sum);
	tu_rmdir(tmp);
	tu_close_store(db, dir);
}

static void test_errors(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	eau2_df *res = NULL;
	static const struct { const char *arg, *text; } cases[] = {
		{ "width=0", "width" },
		{ "height=abc", "height" },
		{ "iter=-1", "iter" },
		{ "out=picture.jpg", ".png or .pgm" },
		{ "xmin=3", "empty region" },
		{ "result=all", "pixels or summary" },
		{ "out=/nonexistent-dir/x.png", "/nonexistent-dir/x.png" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *kv[] = { "width=8", "height=8", cases[i].arg };
		int rc = run_mb(db, rt_args(&ra, 3, kv), 1, &res, &err);
		assert_true(rc < 0);
		assert_null(res);
		if (!strstr(err.msg, cases[i].text))
			fail_msg("%s: error '%s' lacks '%s'", cases[i].arg, err.msg,
				 cases[i].text);
	}
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pixels),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
