/* SPDX-License-Identifier: MIT */
/*
 * test_apps_bikes.c - the three bike-share queries against a naive
 * reference: random weather, stations and trips tables (three cities incl.
 * montreal, 2016-2018, a station renumbered between years, duplicate keys,
 * trips with unknown stations, cities or days) built with builders; the
 * reference answers each query with linear searches over the raw rows and
 * an independent haversine (atan2 form). Checked: rows, order, values
 * (doubles to 1e-9 relative), the skipped-trip count on stderr, thread
 * count independence (bitwise), encode/decode, and the errors.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowertest.h"

static const char *const cities[] = { "montreal", "boston", "paris" };
#define NCITY 3
#define NST 24   /* stations per city and year */

struct wrow { int city; char date[11]; double rain; };
struct srow { int city; int64_t code; char name[32]; double lat, lon; int64_t year; };
struct trow { int city; char start[20]; int64_t sc, ec; double dur; int64_t year; };

struct data {
	struct wrow *w; size_t nw;
	struct srow *s; size_t ns;
	struct trow *t; size_t nt;
	eau2_df *weather, *stations, *trips;
};

static double unif(uint64_t *rng)
{
	return (double)(tu_rand(rng) >> 11) * 0x1.0p-53;
}

static void date_of(int year, int doy, char *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int m = 0;

	while (doy >= mdays[m] + (m == 1 && year % 4 == 0)) {
		doy -= mdays[m] + (m == 1 && year % 4 == 0);
		m++;
	}
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)year % 10000,
		 (unsigned)(m + 1) % 100, (unsigned)(doy + 1) % 100);
}

static void make_data(eau2 *db, size_t ntrips, struct data *d)
{
	struct eau2_error err = {0};
	eau2_schema *sc = NULL;
	eau2_builder *b = NULL;
	uint64_t rng = 99;

	memset(d, 0, sizeof(*d));
	/* weather: 120 days a year from April, ~3% missing, one duplicate */
	d->w = calloc(NCITY * 3 * 121, sizeof(*d->w));
	for (int c = 0; c < NCITY; c++)
		for (int y = 0; y < 3; y++)
			for (int k = 0; k < 120; k++) {
				if (tu_rand(&rng) % 33 == 0)
					continue;
				struct wrow *w = &d->w[d->nw++];
				w->city = c;
				date_of(2016 + y, 90 + k, w->date);
				w->rain = unif(&rng) < 0.7 ? 0 : 60 * unif(&rng);
			}
	d->w[d->nw] = d->w[5];
	d->w[d->nw++].rain = d->w[5].rain > 30 ? 0 : 50; /* ignored duplicate */
	tu_ok(eau2_schema_parse("city:string,date:string,temp:double,prectot:double",
				&sc, &err), &err);
	tu_ok(eau2_builder_new(db, sc, &b, &err), &err);
	for (size_t i = 0; i < d->nw; i++) {
		const char *c = cities[d->w[i].city];
		tu_ok(eau2_builder_append_string(b, 0, c, strlen(c), &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, d->w[i].date, 10, &err), &err);
		tu_ok(eau2_builder_append_double(b, 2, 20.5, &err), &err);
		tu_ok(eau2_builder_append_double(b, 3, d->w[i].rain, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &d->weather, &err), &err);
	eau2_schema_free(sc);

	/* stations: NST per city and year; station 5 renumbered in 2017;
	 * stations spread up to ~15 km from the centre */
	d->s = calloc(NCITY * 3 * NST + 1, sizeof(*d->s));
	double pos[NCITY][NST][2];
	for (int c = 0; c < NCITY; c++)
		for (int j = 0; j < NST; j++) {
			double km = j % 4 == 3 ? 8 + 8 * unif(&rng) : 3 * unif(&rng);
			double a = 6.283 * unif(&rng);
			pos[c][j][0] = 45.5 + km * sin(a) / 111.0;
			pos[c][j][1] = -73.5 + km * cos(a) / 78.0;
		}
	for (int c = 0; c < NCITY; c++)
		for (int y = 0; y < 3; y++)
			for (int j = 0; j < NST; j++) {
				struct srow *s = &d->s[d->ns++];
				s->city = c;
				s->code = 100 + j + (j == 5 && y >= 1 ? 50 : 0);
				snprintf(s->name, sizeof(s->name), "St %c%02d", 'A' + (j * 7) % 26, j);
				s->lat = pos[c][j][0];
				s->lon = pos[c][j][1];
				s->year = 2016 + y;
			}
	d->s[d->ns] = d->s[3];   /* duplicate key, other name: ignored */
	strcpy(d->s[d->ns++].name, "Duplicate");
	tu_ok(eau2_schema_parse("city:string,code:int,name:string,latitude:double,"
				"longitude:double,yearid:int", &sc, &err), &err);
	tu_ok(eau2_builder_new(db, sc, &b, &err), &err);
	for (size_t i = 0; i < d->ns; i++) {
		const char *c = cities[d->s[i].city];
		tu_ok(eau2_builder_append_string(b, 0, c, strlen(c), &err), &err);
		tu_ok(eau2_builder_append_int(b, 1, d->s[i].code, &err), &err);
		tu_ok(eau2_builder_append_string(b, 2, d->s[i].name, strlen(d->s[i].name),
						 &err), &err);
		tu_ok(eau2_builder_append_double(b, 3, d->s[i].lat, &err), &err);
		tu_ok(eau2_builder_append_double(b, 4, d->s[i].lon, &err), &err);
		tu_ok(eau2_builder_append_int(b, 5, d->s[i].year, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &d->stations, &err), &err);
	eau2_schema_free(sc);

	/* trips; city 3 is unknown ("nowhere") */
	d->t = calloc(ntrips, sizeof(*d->t));
	d->nt = ntrips;
	tu_ok(eau2_schema_parse("city:string,start_date:string,end_date:string,"
				"start_station_code:int,end_station_code:int,"
				"duration_sec:double,is_member:int,yearid:int", &sc, &err), &err);
	tu_ok(eau2_builder_new(db, sc, &b, &err), &err);
	for (size_t i = 0; i < ntrips; i++) {
		struct trow *t = &d->t[i];
		uint64_t r = tu_rand(&rng);
		int y = (int)(r % 3);
		int j = (int)((r >> 8) % NST), e = (int)((r >> 16) % NST);
		if (y == 1 && (r >> 24) % 5 == 0)
			j = 2 * (int)((r >> 28) % 4); /* 2017 boom at stations 0,2,4,6 */
		t->city = (r >> 32) % 50 == 0 ? 3 : (int)((r >> 36) % NCITY);
		char day[11];
		date_of(2016 + y, 85 + (int)((r >> 40) % 130), day);
		snprintf(t->start, sizeof(t->start), "%.10s %02u:%02u:00", day,
			 (unsigned)((r >> 48) % 24), (unsigned)((r >> 54) % 60));
		if ((r >> 60) == 3 && (r & 7) == 0)
			strcpy(t->start, "n/a"); /* unparsable: no weather */
		t->sc = 100 + j + (j == 5 && y >= 1 ? 50 : 0);
		t->ec = 100 + e + (e == 5 && y >= 1 ? 50 : 0);
		if ((r >> 58) % 64 == 0)
			t->sc = 999;
		t->dur = floor(60 + 3000 * unif(&rng)); /* whole seconds: sums exact */
		t->year = 2016 + y;
		const char *c = t->city == 3 ? "nowhere" : cities[t->city];
		tu_ok(eau2_builder_append_string(b, 0, c, strlen(c), &err), &err);
		tu_ok(eau2_builder_append_string(b, 1, t->start, strlen(t->start), &err), &err);
		tu_ok(eau2_builder_append_string(b, 2, t->start, strlen(t->start), &err), &err);
		tu_ok(eau2_builder_append_int(b, 3, t->sc, &err), &err);
		tu_ok(eau2_builder_append_int(b, 4, t->ec, &err), &err);
		tu_ok(eau2_builder_append_double(b, 5, t->dur, &err), &err);
		tu_ok(eau2_builder_append_int(b, 6, 1, &err), &err);
		tu_ok(eau2_builder_append_int(b, 7, t->year, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &d->trips, &err), &err);
	eau2_schema_free(sc);
	tu_ok(eau2_put(db, "weather", d->weather, &err), &err);
	tu_ok(eau2_put(db, "stations", d->stations, &err), &err);
}

static void free_data(struct data *d)
{
	free(d->w);
	free(d->s);
	free(d->t);
	eau2_df_release(d->weather);
	eau2_df_release(d->stations);
	eau2_df_release(d->trips);
}

/* ---------------------------------------------------------- reference */

static const struct srow *ref_station(const struct data *d, int city,
				      int64_t code, int64_t year)
{
	for (size_t i = 0; i < d->ns; i++)
		if (d->s[i].city == city && d->s[i].code == code && d->s[i].year == year)
			return &d->s[i];
	return NULL;
}

static double ref_km(const struct srow *a, const struct srow *b)
{
	double rad = M_PI / 180, dlat = (b->lat - a->lat) * rad;
	double dlon = (b->lon - a->lon) * rad;
	double h = sin(dlat / 2) * sin(dlat / 2) +
		   cos(a->lat * rad) * cos(b->lat * rad) * sin(dlon / 2) * sin(dlon / 2);

	return 2 * 6371 * atan2(sqrt(h), sqrt(1 - h));
}

struct ref_group { char city[16], name[32]; long c16, c17; double sum; long n; };

static struct ref_group *ref_find(struct ref_group *g, size_t *n, const char *city,
				  const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(g[i].city, city) && !strcmp(g[i].name, name))
			return &g[i];
	memset(&g[*n], 0, sizeof(g[*n]));
	strcpy(g[*n].city, city);
	strcpy(g[*n].name, name);
	return &g[(*n)++];
}

static int ref_cmp(const void *a_, const void *b_)
{
	const struct ref_group *a = a_, *b = b_;
	int c = strcmp(a->city, b->city);

	return c ? c : strcmp(a->name, b->name);
}

static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

/* Runs query q with stderr captured; returns the skipped count printed. */
static long run_q(eau2 *db, const eau2_df *trips, int q, unsigned threads,
		  eau2_df **res)
{
	struct eau2_error err = {0};
	char qa[16], buf[256] = {0};
	const char *kv[] = { "stations=stations", "weather=weather", qa };
	struct rt_args ra;
	FILE *tmp = tmpfile();
	long n = 0;
	int saved, qq = 0;

	snprintf(qa, sizeof(qa), "query=%d", q);
	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	dup2(fileno(tmp), 2);
	int rc = rt_run(db, trips, "bikes", rt_args(&ra, 3, kv), threads, res, &err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	tu_ok(rc, &err);
	rewind(tmp);
	if (fgets(buf, sizeof(buf), tmp))
		assert_int_equal(sscanf(buf, "bikes: query %d: %ld trips skipped", &qq, &n), 2);
	fclose(tmp);
	return n;
}

static void test_queries(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct data d;
	size_t nt = tu_quick() ? 20000 : 150000;
	struct ref_group *grp;
	size_t ng;

	make_data(db, nt, &d);
	grp = calloc(NCITY * NST * 4 + 8, sizeof(*grp));

	/* query 1 */
	double sum = 0;
	long n = 0, skipped = 0;
	for (size_t i = 0; i < d.nt; i++) {
		const struct wrow *w = NULL;
		for (size_t k = 0; k < d.nw && !w; k++)
			if (d.w[k].city == d.t[i].city && !strncmp(d.w[k].date, d.t[i].start, 10))
				w = &d.w[k];
		if (!w) {
			skipped++;
		} else if (w->rain > 30) {
			sum += d.t[i].dur;
			n++;
		}
	}
	assert_true(n > 0 && skipped > 0);
	eau2_df *r1[3] = {0}, *r2[3] = {0}, *r3[3] = {0};
	for (unsigned t = 1; t <= 2; t++) {
		assert_int_equal(run_q(db, d.trips, 1, t, &r1[t]), skipped);
		double got;
		assert_int_equal(eau2_df_rows(r1[t]), 1);
		tu_ok(eau2_df_get_double(r1[t], 0, 0, &got, &err), &err);
		if (!close_to(got, sum / (double)n))
			fail_msg("query 1: %.17g want %.17g", got, sum / (double)n);
	}
	rt_assert_df_equal(r1[1], r1[2]);

	/* query 2 */
	ng = 0;
	skipped = 0;
	for (size_t i = 0; i < d.nt; i++) {
		const struct srow *s = d.t[i].city < NCITY ?
			ref_station(&d, d.t[i].city, d.t[i].sc, d.t[i].year) : NULL;
		if (!s) {
			skipped++;
			continue;
		}
		struct ref_group *g = ref_find(grp, &ng, cities[s->city], s->name);
		g->c16 += d.t[i].year == 2016;
		g->c17 += d.t[i].year == 2017;
	}
	qsort(grp, ng, sizeof(*grp), ref_cmp);
	for (unsigned t = 1; t <= 2; t++) {
		assert_int_equal(run_q(db, d.trips, 2, t, &r2[t]), skipped);
		uint64_t row = 0;
		for (size_t k = 0; k < ng; k++) {
			if (!(grp[k].c16 >= 1 && grp[k].c17 >= 2 * grp[k].c16))
				continue;
			const char *c, *nm;
			size_t cl, nl;
			int64_t a, b;
			assert_true(row < eau2_df_rows(r2[t]));
			tu_ok(eau2_df_get_string(r2[t], 0, row, &c, &cl, &err), &err);
			tu_ok(eau2_df_get_string(r2[t], 1, row, &nm, &nl, &err), &err);
			tu_ok(eau2_df_get_int(r2[t], 2, row, &a, &err), &err);
			tu_ok(eau2_df_get_int(r2[t], 3, row, &b, &err), &err);
			if (cl != strlen(grp[k].city) || memcmp(c, grp[k].city, cl) ||
			    nl != strlen(grp[k].name) || memcmp(nm, grp[k].name, nl) ||
			    a != grp[k].c16 || b != grp[k].c17)
				fail_msg("query 2 row %llu: %.*s,%.*s,%lld,%lld want %s,%s,%ld,%ld",
					 (unsigned long long)row, (int)cl, c, (int)nl, nm,
					 (long long)a, (long long)b, grp[k].city, grp[k].name,
					 grp[k].c16, grp[k].c17);
			row++;
		}
		assert_true(row >= 4); /* the boom stations */
		assert_int_equal(eau2_df_rows(r2[t]), row);
	}
	rt_assert_df_equal(r2[1], r2[2]);

	/* query 3: montreal */
	ng = 0;
	skipped = 0;
	for (size_t i = 0; i < d.nt; i++) {
		if (d.t[i].city == 3) {
			skipped++; /* unknown city: counted as missing */
			continue;
		}
		if (d.t[i].city != 0)
			continue;
		const struct srow *a = ref_station(&d, 0, d.t[i].sc, d.t[i].year);
		const struct srow *b = ref_station(&d, 0, d.t[i].ec, d.t[i].year);
		if (!a || !b) {
			skipped++;
			continue;
		}
		struct ref_group *g = ref_find(grp, &ng, "montreal", b->name);
		g->sum += ref_km(a, b);
		g->n++;
	}
	qsort(grp, ng, sizeof(*grp), ref_cmp);
	for (unsigned t = 1; t <= 2; t++) {
		assert_int_equal(run_q(db, d.trips, 3, t, &r3[t]), skipped);
		uint64_t row = 0;
		for (size_t k = 0; k < ng; k++) {
			double want = grp[k].sum / (double)grp[k].n, got;
			if (!(want > 6))
				continue;
			const char *nm;
			size_t nl;
			assert_true(row < eau2_df_rows(r3[t]));
			tu_ok(eau2_df_get_string(r3[t], 0, row, &nm, &nl, &err), &err);
			tu_ok(eau2_df_get_double(r3[t], 1, row, &got, &err), &err);
			if (nl != strlen(grp[k].name) || memcmp(nm, grp[k].name, nl) ||
			    !close_to(got, want))
				fail_msg("query 3 row %llu: %.*s,%.17g want %s,%.17g",
					 (unsigned long long)row, (int)nl, nm, got,
					 grp[k].name, want);
			row++;
		}
		assert_true(row >= 2);
		assert_true(row < ng);
		assert_int_equal(eau2_df_rows(r3[t]), row);
	}
	rt_assert_df_equal(r3[1], r3[2]);
	for (int t = 1; t <= 2; t++) {
		eau2_df_release(r1[t]);
		eau2_df_release(r2[t]);
		eau2_df_release(r3[t]);
	}
	/* encode/decode (query 3's sums join in another order there) */
	struct rt_args ra;
	const char *kv1[] = { "stations=stations", "weather=weather", "query=1" };
	rt_check_roundtrip(db, d.trips, "bikes", rt_args(&ra, 3, kv1));
	const char *kv2[] = { "stations=stations", "weather=weather", "query=2" };
	rt_check_roundtrip(db, d.trips, "bikes", rt_args(&ra, 3, kv2));
	free(grp);
	free_data(&d);
	tu_close_store(db, dir);
}

static void expect_error(eau2 *db, const eau2_df *trips, size_t n,
			 const char *const *kv, int code, const char *text)
{
	struct eau2_error err = {0};
	struct rt_args ra;
	eau2_df *res = NULL;

	assert_int_equal(rt_run(db, trips, "bikes", rt_args(&ra, n, kv), 2, &res, &err),
			 code);
	assert_null(res);
	if (!strstr(err.msg, text))
		fail_msg("error '%s' lacks '%s'", err.msg, text);
}

static void test_errors(void **state)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct data d;
	eau2_df *bad = NULL;

	make_data(db, 2000, &d);
	const char *a1[] = { "weather=weather", "query=2" };
	expect_error(db, d.trips, 2, a1, -EINVAL, "stations=KEY");
	const char *a2[] = { "stations=nokey", "query=3" };
	expect_error(db, d.trips, 2, a2, -ENOENT, "nokey");
	const char *a3[] = { "stations=stations", "weather=weather" };
	expect_error(db, d.trips, 2, a3, -EINVAL, "query=N");
	const char *a4[] = { "stations=stations", "query=4" };
	expect_error(db, d.trips, 2, a4, -EINVAL, "query");
	const char *a5[] = { "stations=stations", "query=3", "city=atlantis" };
	expect_error(db, d.trips, 3, a5, -ENOENT, "atlantis");
	/* weather given as the stations table: missing column */
	const char *a6[] = { "stations=weather", "query=2" };
	expect_error(db, d.trips, 2, a6, -ENOENT, "no column 'code'");
	/* trips without duration_sec / with a string yearid */
	const char *names[] = { "montreal" };
	tu_ok(eau2_df_from_array(db, "city", EAU2_STRING, names, 1, &bad, &err), &err);
	const char *a7[] = { "weather=weather", "query=1" };
	expect_error(db, bad, 2, a7, -ENOENT, "start_date");
	eau2_df_release(bad);
	eau2_schema *s = NULL;
	eau2_builder *b = NULL;
	tu_ok(eau2_schema_parse("city:string,start_station_code:int,yearid:string",
				&s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	tu_ok(eau2_builder_finish(b, &bad, &err), &err);
	const char *a8[] = { "stations=stations", "query=2" };
	expect_error(db, bad, 2, a8, -EINVAL, "'yearid' is string");
	eau2_df_release(bad);
	eau2_schema_free(s);
	/* an empty trips table */
	tu_ok(eau2_schema_parse("city:string,start_station_code:int,yearid:int",
				&s, &err), &err);
	tu_ok(eau2_builder_new(db, s, &b, &err), &err);
	tu_ok(eau2_builder_finish(b, &bad, &err), &err);
	expect_error(db, bad, 2, a8, -EINVAL, "empty");
	eau2_df_release(bad);
	eau2_schema_free(s);
	free_data(&d);
	tu_close_store(db, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
