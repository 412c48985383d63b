/* SPDX-License-Identifier: MIT */
/*
 * bikes.c - the "bikes" rower: three bike-share queries over the tables
 *
 *   weather  (city, date 'YYYY-MM-DD', prectot mm, other columns ignored)
 *   stations (city, code int, name, latitude, longitude, yearid int)
 *   trips    (city, start_date 'YYYY-MM-DD HH:MM:SS', end_date,
 *             start_station_code int, end_station_code int,
 *             duration_sec number, is_member int, yearid int)
 *
 * `eau2 run bikes --input TRIPS --arg stations=KEY --arg weather=KEY
 *  --arg query=N`; numbers may be int or double columns.
 *
 *  1. avg_duration_sec of the trips that started on a day of their city
 *     with prectot > rain (default 30): one row (null when no trip).
 *  2. stations whose trips started there in 2017 are at least twice those
 *     of 2016, with at least one in 2016: city, name, trips_2016,
 *     trips_2017 by city then name. A trip's year is its yearid.
 *  3. stations of city=NAME (default montreal) whose arriving trips
 *     average more than km=K (default 6) km from their start station
 *     (haversine, R = 6371 km): name, avg_distance_km by name.
 *
 * A trip's station is the stations row with the trip's (city, code,
 * yearid); its weather the row with (city, date part of start_date). A
 * station across years is identified by (city, name) - station codes may
 * be renumbered from one year to the next. Trips whose station or weather
 * is missing (or whose needed fields are null or unparsable) are left out
 * of the query and counted: finish writes "bikes: query N: M trips skipped
 * (...)" to stderr when M > 0. Duplicate stations or weather keys: the
 * first row wins. Only the tables a query needs are read.
 *
 * The sums are exact (fixed point, see xsum), so the result is the same
 * for any thread count and on a cluster, whose nodes' parts join in
 * other groupings; the stations and weather tables are broadcast to the
 * nodes there (side_args). Each task state builds its
 * own lookup tables from the side tables (thousands of rows: far cheaper
 * than the trips); they are numbered the same in every state, so join adds
 * arrays element by element.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/apps.h"
#include "rowers/rowers.h"

#define TRIPS_TABLE "bikes: the trips table (input)" /* in errors */
#define CITIES_MAX 1024
/* Queries 1 and 3 sum exactly, in 128-bit fixed point (xsum below):
 * durations in 2^-20 s (a duration of 2^42 s or more is skipped as
 * unparsable), distances in 2^-40 km (a trip is at most 20016 km <
 * 2^15). The sums are then the same whatever order the states join in:
 * on one host, and on a cluster, whose parts join in other groupings. */
#define DUR_ONE 0x1p20
#define DUR_MAX 0x1p42
#define DIST_ONE 0x1p40
#define DAYS_MAX (400 * 366)

enum { T_CITY, T_START, T_SCODE, T_ECODE, T_DUR, T_YEAR, T_NCOLS };

struct st_slot {
	int64_t code;
	int32_t city, year;
	uint32_t idx1;   /* station row + 1; 0 = empty */
};

struct bikes_state {
	int query;
	double rain, km;
	size_t tc[T_NCOLS];
	/* cities: interned names; montreal = index of city=NAME or -1 */
	struct eau2_htab cities;
	int64_t qcity;
	int64_t last_city;          /* cache for trip city lookups */
	/* weather: prectot[city * ndays + day - dmin], NaN = none */
	double *prectot;
	int64_t dmin, ndays;
	/* stations */
	struct st_slot *slots;
	size_t mask;
	uint32_t nst;
	double *lat, *lon;          /* radians, by station row */
	uint32_t *gid;              /* (city, name) group of each row */
	struct eau2_htab groups;    /* "city\0name" -> gid */
	uint32_t *gcity;            /* city of each group */
	/* aggregates */
	uint64_t sum[2];            /* q1 durations: an xsum of DUR_ONE */
	uint64_t n;                 /* q1 trips counted */
	uint64_t *c16, *c17;        /* q2 by group */
	uint64_t *dsum;             /* q3 by group: xsums of DIST_ONE (words
				     * 2i, 2i + 1) */
	uint64_t *dcnt;
	uint64_t skipped;
};

/* Days since 1970-01-01 of "YYYY-MM-DD" at p (n >= 10), or INT64_MIN. */
static int64_t parse_day(const char *p, size_t n)
{
	int y = 0, m, d;

	if (n < 10 || p[4] != '-' || p[7] != '-')
		return INT64_MIN;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (p[i] < '0' || p[i] > '9'))
			return INT64_MIN;
	for (int i = 0; i < 4; i++)
		y = y * 10 + (p[i] - '0');
	m = (p[5] - '0') * 10 + (p[6] - '0');
	d = (p[8] - '0') * 10 + (p[9] - '0');
	if (m < 1 || m > 12 || d < 1 || d > 31)
		return INT64_MIN;
	/* days_from_civil (H. Hinnant) */
	y -= m <= 2;
	int64_t era = y / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int64_t city_id(struct bikes_state *s, const char *p, size_t n, bool add)
{
	if (add) {
		int64_t id = eau2_htab_intern(&s->cities, p, n,
					      eau2_hash_bytes(p, n), NULL);
		return id;
	}
	if (s->last_city >= 0) {
		size_t l;
		const char *k = eau2_htab_key(&s->cities, (uint32_t)s->last_city, &l);
		if (l == n && !memcmp(k, p, n))
			return s->last_city;
	}
	for (uint32_t i = 0; i < eau2_htab_size(&s->cities); i++) {
		size_t l;
		const char *k = eau2_htab_key(&s->cities, i, &l);
		if (l == n && !memcmp(k, p, n)) {
			s->last_city = i;
			return i;
		}
	}
	return -1;
}

static inline uint64_t st_hash(int64_t code, int32_t city, int32_t year)
{
	return eau2_hash_u64((uint64_t)code * 0x9e3779b97f4a7c15ull ^
			     ((uint64_t)(uint32_t)city << 32 | (uint32_t)year));
}

/* Station row of (city, code, year), or -1. */
static inline int64_t st_find(const struct bikes_state *s, int64_t code,
			      int32_t city, int32_t year)
{
	for (size_t j = st_hash(code, city, year) & s->mask;; j = (j + 1) & s->mask) {
		const struct st_slot *e = &s->slots[j];
		if (!e->idx1)
			return -1;
		if (e->code == code && e->city == city && e->year == year)
			return e->idx1 - 1;
	}
}

static int load_weather(struct bikes_state *s, const struct eau2_run_ctx *ctx,
			struct eau2_error *err)
{
	const char *key = eau2_args_get(ctx->args, "weather");
	char table[EAU2_KEY_MAX + 32];
	eau2_df *df = NULL;
	size_t c_city, c_date, c_rain;
	int64_t dmax = INT64_MIN;
	int rc;

	snprintf(table, sizeof(table), "weather (%s)", key ? key : "?");
	rc = eau2_apps_get(ctx->db, "bikes", "weather", key, &df, err);
	if (rc == 0)
		rc = eau2_apps_column(df, "bikes", table, "city", SIZE_MAX,
				      EAU2_APPS_T(EAU2_STRING), &c_city, err);
	if (rc == 0)
		rc = eau2_apps_column(df, "bikes", table, "date", SIZE_MAX,
				      EAU2_APPS_T(EAU2_STRING), &c_date, err);
	if (rc == 0)
		rc = eau2_apps_column(df, "bikes", table, "prectot", SIZE_MAX,
				      EAU2_APPS_NUMERIC, &c_rain, err);
	if (rc == 0 && eau2_df_rows(df) == 0)
		rc = eau2_error_set(err, -EINVAL, "bikes: table %s is empty", table);
	s->dmin = INT64_MAX;
	/* pass 0: cities and the day range; pass 1: fill */
	for (int pass = 0; rc == 0 && pass < 2; pass++) {
		for (size_t g = 0; rc == 0 && g < eau2_df_ngroups(df); g++) {
			struct eau2_chunk_view vc, vd, vr;
			rc = eau2_df_chunk(df, c_city, g, &vc, err);
			if (rc == 0)
				rc = eau2_df_chunk(df, c_date, g, &vd, err);
			if (rc == 0)
				rc = eau2_df_chunk(df, c_rain, g, &vr, err);
			for (uint32_t i = 0; rc == 0 && i < vc.rows; i++) {
				size_t n, cn;
				const char *d, *c;
				if (!eau2_view_valid(&vc, i) || !eau2_view_valid(&vd, i) ||
				    !eau2_view_valid(&vr, i))
					continue;
				d = eau2_view_string(&vd, i, &n);
				c = eau2_view_string(&vc, i, &cn);
				int64_t day = parse_day(d, n);
				if (day == INT64_MIN || n != 10) {
					rc = eau2_error_set(err, -EINVAL, "bikes: table %s, "
							    "row %llu: date '%.*s' is not "
							    "YYYY-MM-DD", table,
							    (unsigned long long)(vd.first_row + i),
							    (int)(n < 40 ? n : 40), d);
					break;
				}
				int64_t city = city_id(s, c, cn, pass == 0);
				if (city < 0) {
					rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
					break;
				}
				if (pass == 0) {
					s->dmin = day < s->dmin ? day : s->dmin;
					dmax = day > dmax ? day : dmax;
					continue;
				}
				double *slot = &s->prectot[city * s->ndays + day - s->dmin];
				if (isnan(*slot))
					*slot = eau2_apps_num(&vr, i);
			}
		}
		if (rc < 0 || pass == 1)
			break;
		if (dmax == INT64_MIN) {
			rc = eau2_error_set(err, -EINVAL, "bikes: table %s has no row "
					    "with city, date and prectot", table);
			break;
		}
		s->ndays = dmax - s->dmin + 1;
		if (s->ndays > DAYS_MAX || eau2_htab_size(&s->cities) > CITIES_MAX) {
			rc = eau2_error_set(err, -ERANGE, "bikes: table %s spans %lld "
					    "days and %u cities (at most %d and %d)",
					    table, (long long)s->ndays,
					    eau2_htab_size(&s->cities), DAYS_MAX, CITIES_MAX);
			break;
		}
		size_t cells = (size_t)s->ndays * eau2_htab_size(&s->cities);
		s->prectot = malloc(cells * sizeof(double));
		if (!s->prectot) {
			rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
			break;
		}
		for (size_t i = 0; i < cells; i++)
			s->prectot[i] = NAN;
	}
	eau2_df_release(df);
	return rc;
}

static int load_stations(struct bikes_state *s, const struct eau2_run_ctx *ctx,
			 struct eau2_error *err)
{
	static const char *const names[] = { "city", "code", "name", "latitude",
					     "longitude", "yearid" };
	static const unsigned types[] = {
		EAU2_APPS_T(EAU2_STRING), EAU2_APPS_INTLIKE, EAU2_APPS_T(EAU2_STRING),
		EAU2_APPS_NUMERIC, EAU2_APPS_NUMERIC, EAU2_APPS_INTLIKE };
	const char *key = eau2_args_get(ctx->args, "stations");
	char table[EAU2_KEY_MAX + 32], *gkey = NULL;
	size_t col[6], gkey_cap = 0;
	eau2_df *df = NULL;
	uint64_t rows;
	int rc;

	snprintf(table, sizeof(table), "stations (%s)", key ? key : "?");
	rc = eau2_apps_get(ctx->db, "bikes", "stations", key, &df, err);
	for (int i = 0; rc == 0 && i < 6; i++)
		rc = eau2_apps_column(df, "bikes", table, names[i], SIZE_MAX,
				      types[i], &col[i], err);
	if (rc < 0)
		goto out;
	rows = eau2_df_rows(df);
	if (rows == 0 || rows > (UINT32_MAX >> 2)) {
		rc = eau2_error_set(err, rows ? -ERANGE : -EINVAL, "bikes: table %s "
				    "has %llu rows", table, (unsigned long long)rows);
		goto out;
	}
	s->mask = 64;
	while (s->mask < 2 * rows)
		s->mask *= 2;
	s->slots = calloc(s->mask, sizeof(*s->slots));
	s->mask--;
	s->lat = malloc(rows * sizeof(double));
	s->lon = malloc(rows * sizeof(double));
	s->gid = malloc(rows * sizeof(uint32_t));
	s->gcity = malloc(rows * sizeof(uint32_t));
	if (!s->slots || !s->lat || !s->lon || !s->gid || !s->gcity) {
		rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
		goto out;
	}
	for (size_t g = 0; rc == 0 && g < eau2_df_ngroups(df); g++) {
		struct eau2_chunk_view v[6];
		for (int c = 0; rc == 0 && c < 6; c++)
			rc = eau2_df_chunk(df, col[c], g, &v[c], err);
		for (uint32_t i = 0; rc == 0 && i < v[0].rows; i++) {
			size_t cn, nn;
			const char *c, *nm;
			bool ok = true;
			for (int k = 0; k < 6; k++)
				ok = ok && eau2_view_valid(&v[k], i);
			if (!ok)
				continue; /* a station without its key is unusable */
			c = eau2_view_string(&v[0], i, &cn);
			nm = eau2_view_string(&v[2], i, &nn);
			int64_t city = city_id(s, c, cn, true);
			int64_t code = (int64_t)eau2_apps_num(&v[1], i);
			int64_t year = (int64_t)eau2_apps_num(&v[5], i);
			if (city < 0) {
				rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
				break;
			}
			if (year < INT32_MIN || year > INT32_MAX ||
			    eau2_htab_size(&s->cities) > CITIES_MAX) {
				rc = eau2_error_set(err, -ERANGE, "bikes: table %s, row "
						    "%llu: yearid %lld or city count "
						    "out of range", table,
						    (unsigned long long)(v[0].first_row + i),
						    (long long)year);
				break;
			}
			if (st_find(s, code, (int32_t)city, (int32_t)year) >= 0)
				continue; /* duplicate key: the first row wins */
			if (cn + nn + 1 > gkey_cap) {
				gkey_cap = 2 * (cn + nn + 1);
				char *p = realloc(gkey, gkey_cap);
				if (!p) {
					rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
					break;
				}
				gkey = p;
			}
			memcpy(gkey, c, cn);
			gkey[cn] = 0;
			memcpy(gkey + cn + 1, nm, nn);
			int64_t gid = eau2_htab_intern(&s->groups, gkey, cn + nn + 1,
						       eau2_hash_bytes(gkey, cn + nn + 1),
						       NULL);
			if (gid < 0) {
				rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
				break;
			}
			uint32_t idx = s->nst++;
			s->lat[idx] = eau2_apps_num(&v[3], i) * (M_PI / 180.0);
			s->lon[idx] = eau2_apps_num(&v[4], i) * (M_PI / 180.0);
			s->gid[idx] = (uint32_t)gid;
			s->gcity[gid] = (uint32_t)city;
			size_t j = st_hash(code, (int32_t)city, (int32_t)year) & s->mask;
			while (s->slots[j].idx1)
				j = (j + 1) & s->mask;
			s->slots[j] = (struct st_slot){ .code = code, .city = (int32_t)city,
							.year = (int32_t)year,
							.idx1 = idx + 1 };
		}
	}
	if (rc == 0 && s->nst == 0)
		rc = eau2_error_set(err, -EINVAL, "bikes: table %s has no row with "
				    "all of city, code, name, latitude, longitude, "
				    "yearid", table);
out:
	free(gkey);
	eau2_df_release(df);
	return rc;
}

static int bikes_init(void *state, const struct eau2_run_ctx *ctx,
		      struct eau2_error *err)
{
	static const char *const names[T_NCOLS] = {
		"city", "start_date", "start_station_code", "end_station_code",
		"duration_sec", "yearid" };
	static const unsigned types[T_NCOLS] = {
		EAU2_APPS_T(EAU2_STRING), EAU2_APPS_T(EAU2_STRING),
		EAU2_APPS_INTLIKE, EAU2_APPS_INTLIKE, EAU2_APPS_NUMERIC,
		EAU2_APPS_INTLIKE };
	/* columns each query reads */
	static const bool need[4][T_NCOLS] = {
		[1] = { true, true, false, false, true, false },
		[2] = { true, false, true, false, false, true },
		[3] = { true, false, true, true, false, true },
	};
	struct bikes_state *s = state;
	int64_t q;
	int rc;

	s->last_city = -1;
	s->qcity = -1;
	if (!ctx->input)
		return eau2_error_set(err, -EINVAL, "bikes: needs --input TRIPS");
	rc = eau2_apps_arg_i64(ctx->args, "bikes", "query", -1, 1, 3, &q, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(ctx->args, "bikes", "rain", 30.0, &s->rain, err);
	if (rc == 0)
		rc = eau2_apps_arg_double(ctx->args, "bikes", "km", 6.0, &s->km, err);
	if (rc < 0)
		return rc;
	s->query = (int)q;
	for (int c = 0; c < T_NCOLS; c++) {
		if (!need[q][c])
			continue;
		rc = eau2_apps_column(ctx->input, "bikes", "trips (input)", names[c],
				      SIZE_MAX, types[c], &s->tc[c], err);
		if (rc < 0)
			return rc;
	}
	/* A cluster driver's input holds no rows (the nodes' parts do):
	 * finish asks the key. */
	if (!ctx->key && (rc = eau2_apps_nonempty(ctx, TRIPS_TABLE, err)))
		return rc;
	if (eau2_htab_init(&s->cities, 16) < 0 || eau2_htab_init(&s->groups, 1024) < 0)
		return eau2_error_set(err, -ENOMEM, "bikes: out of memory");
	rc = q == 1 ? load_weather(s, ctx, err) : load_stations(s, ctx, err);
	if (rc < 0)
		return rc;
	if (q == 3) {
		const char *city = eau2_args_get(ctx->args, "city");
		if (!city)
			city = "montreal";
		s->qcity = city_id(s, city, strlen(city), false);
		s->last_city = -1;
		if (s->qcity < 0)
			return eau2_error_set(err, -ENOENT, "bikes: city '%s' has no "
					      "station in table stations (%s)", city,
					      eau2_args_get(ctx->args, "stations"));
	}
	uint32_t ng = eau2_htab_size(&s->groups);
	if (q == 2) {
		s->c16 = calloc(ng ? ng : 1, sizeof(uint64_t));
		s->c17 = calloc(ng ? ng : 1, sizeof(uint64_t));
		if (!s->c16 || !s->c17)
			return eau2_error_set(err, -ENOMEM, "bikes: out of memory");
	} else if (q == 3) {
		s->dsum = calloc(2 * (size_t)(ng ? ng : 1), sizeof(uint64_t));
		s->dcnt = calloc(ng ? ng : 1, sizeof(uint64_t));
		if (!s->dsum || !s->dcnt)
			return eau2_error_set(err, -ENOMEM, "bikes: out of memory");
	}
	return 0;
}

static void bikes_destroy(void *state)
{
	struct bikes_state *s = state;

	eau2_htab_free(&s->cities);
	eau2_htab_free(&s->groups);
	free(s->prectot);
	free(s->slots);
	free(s->lat);
	free(s->lon);
	free(s->gid);
	free(s->gcity);
	free(s->c16);
	free(s->c17);
	free(s->dsum);
	free(s->dcnt);
}

/* An xsum: a 128-bit two's complement integer, words w[0] (low) and
 * w[1] (high), counting units of 1 / `one`. */
static inline void xsum_add(uint64_t *w, uint64_t hi, uint64_t lo)
{
	w[0] += lo;
	w[1] += hi + (w[0] < lo);
}

/* Adds v (|v * one| < 2^63) rounded to the unit. */
static inline void xsum_add_value(uint64_t *w, double v, double one)
{
	int64_t q = llround(v * one);

	xsum_add(w, q < 0 ? UINT64_MAX : 0, (uint64_t)q);
}

/* The sum's value over n. */
static double xsum_avg(const uint64_t *w, double one, uint64_t n)
{
	return (ldexp((double)(int64_t)w[1], 64) + (double)w[0]) / one / (double)n;
}

static inline double haversine_km(double lat1, double lon1, double lat2,
				  double lon2)
{
	double sa = sin((lat2 - lat1) / 2), so = sin((lon2 - lon1) / 2);
	double h = sa * sa + cos(lat1) * cos(lat2) * so * so;

	return 2 * 6371.0 * asin(sqrt(h < 1 ? h : 1));
}

static inline bool get_int(const struct eau2_chunk_view *v, uint32_t i,
			   int64_t *out)
{
	if (!eau2_view_valid(v, i))
		return false;
	*out = v->type == EAU2_INT ? v->values.i64[i] : (int64_t)eau2_apps_num(v, i);
	return true;
}

static int bikes_chunk(void *state, const struct eau2_group *g,
		       struct eau2_error *err)
{
	struct bikes_state *s = state;
	const struct eau2_chunk_view *city = &g->cols[s->tc[T_CITY]];

	for (uint32_t i = 0; i < g->rows; i++) {
		size_t cn;
		const char *c;
		int64_t ci;

		if (!eau2_view_valid(city, i)) {
			s->skipped++;
			continue;
		}
		c = eau2_view_string(city, i, &cn);
		ci = city_id(s, c, cn, false);
		if (s->query == 1) {
			const struct eau2_chunk_view *sd = &g->cols[s->tc[T_START]];
			const struct eau2_chunk_view *du = &g->cols[s->tc[T_DUR]];
			size_t dn;
			const char *d;
			int64_t day;
			double r;

			if (ci < 0 || !eau2_view_valid(sd, i) || !eau2_view_valid(du, i)) {
				s->skipped++;
				continue;
			}
			d = eau2_view_string(sd, i, &dn);
			day = parse_day(d, dn);
			if (day != INT64_MIN)
				day -= s->dmin;
			if (day < 0 || day >= s->ndays ||
			    isnan(r = s->prectot[ci * s->ndays + day])) {
				s->skipped++;
				continue;
			}
			if (r > s->rain) {
				double v = eau2_apps_num(du, i);

				if (!(fabs(v) < DUR_MAX)) {
					s->skipped++;
					continue;
				}
				xsum_add_value(s->sum, v, DUR_ONE);
				s->n++;
			}
		} else if (s->query == 2) {
			int64_t code, year, st;

			if (ci < 0 || !get_int(&g->cols[s->tc[T_SCODE]], i, &code) ||
			    !get_int(&g->cols[s->tc[T_YEAR]], i, &year) ||
			    year < INT32_MIN || year > INT32_MAX ||
			    (st = st_find(s, code, (int32_t)ci, (int32_t)year)) < 0) {
				s->skipped++;
				continue;
			}
			if (year == 2016)
				s->c16[s->gid[st]]++;
			else if (year == 2017)
				s->c17[s->gid[st]]++;
		} else {
			int64_t sc, ec, year, a, b;

			if (ci != s->qcity || ci < 0) {
				if (ci < 0)
					s->skipped++;
				continue;
			}
			if (!get_int(&g->cols[s->tc[T_SCODE]], i, &sc) ||
			    !get_int(&g->cols[s->tc[T_ECODE]], i, &ec) ||
			    !get_int(&g->cols[s->tc[T_YEAR]], i, &year) ||
			    year < INT32_MIN || year > INT32_MAX ||
			    (a = st_find(s, sc, (int32_t)ci, (int32_t)year)) < 0 ||
			    (b = st_find(s, ec, (int32_t)ci, (int32_t)year)) < 0) {
				s->skipped++;
				continue;
			}
			double d = haversine_km(s->lat[a], s->lon[a], s->lat[b],
						s->lon[b]);
			if (!(d >= 0 && d < 65536)) {
				s->skipped++;
				continue;
			}
			xsum_add_value(&s->dsum[2 * (size_t)s->gid[b]], d, DIST_ONE);
			s->dcnt[s->gid[b]]++;
		}
	}
	return 0;
}

static int bikes_join(void *state, void *other_, struct eau2_error *err)
{
	struct bikes_state *s = state, *o = other_;
	uint32_t ng = eau2_htab_size(&s->groups);

	xsum_add(s->sum, o->sum[1], o->sum[0]);
	s->n += o->n;
	s->skipped += o->skipped;
	for (uint32_t i = 0; s->c16 && i < ng; i++) {
		s->c16[i] += o->c16[i];
		s->c17[i] += o->c17[i];
	}
	for (uint32_t i = 0; s->dsum && i < ng; i++) {
		xsum_add(&s->dsum[2 * (size_t)i], o->dsum[2 * (size_t)i + 1],
			 o->dsum[2 * (size_t)i]);
		s->dcnt[i] += o->dcnt[i];
	}
	return 0;
}

/* Encoding: sum (two words), n, skipped, ng, then ng pairs of u64 arrays
 * for query 2 (c16, c17) or 3 (dsum: two words a group, dcnt). */
static int bikes_encode(const void *state, void **buf, size_t *len,
			struct eau2_error *err)
{
	const struct bikes_state *s = state;
	uint32_t ng = eau2_htab_size(&s->groups);
	struct eau2_buf b = {0};
	int rc = eau2_buf_put(&b, s->sum, 16);

	if (rc == 0)
		rc = eau2_buf_u64(&b, s->n);
	if (rc == 0)
		rc = eau2_buf_u64(&b, s->skipped);
	if (rc == 0)
		rc = eau2_buf_u64(&b, s->query == 1 ? 0 : ng);
	if (rc == 0 && s->query == 2) {
		rc = eau2_buf_put(&b, s->c16, ng * 8u);
		if (rc == 0)
			rc = eau2_buf_put(&b, s->c17, ng * 8u);
	} else if (rc == 0 && s->query == 3) {
		rc = eau2_buf_put(&b, s->dsum, ng * 16u);
		if (rc == 0)
			rc = eau2_buf_put(&b, s->dcnt, ng * 8u);
	}
	if (rc < 0) {
		free(b.p);
		return eau2_error_set(err, rc, "bikes: encode: out of memory");
	}
	*buf = b.p;
	*len = b.len;
	return 0;
}

static int bikes_decode(void *state, const void *buf, size_t len,
			struct eau2_error *err)
{
	struct bikes_state *s = state;
	uint32_t ng = eau2_htab_size(&s->groups);
	struct eau2_rd r = { .p = buf, .len = len };
	uint64_t n;

	if (eau2_rd_get(&r, s->sum, 16) || eau2_rd_u64(&r, &s->n) ||
	    eau2_rd_u64(&r, &s->skipped) || eau2_rd_u64(&r, &n) ||
	    n != (s->query == 1 ? 0 : ng) || len - r.pos != n * (s->query == 3 ? 24 : 16))
		return eau2_error_set(err, -EBADMSG, "bikes: decode: bad state "
				      "(%zu bytes for %u stations)", len, ng);
	if (s->query == 2) {
		eau2_rd_get(&r, s->c16, ng * 8u);
		eau2_rd_get(&r, s->c17, ng * 8u);
	} else if (s->query == 3) {
		eau2_rd_get(&r, s->dsum, ng * 16u);
		eau2_rd_get(&r, s->dcnt, ng * 8u);
	}
	return 0;
}

static _Thread_local const struct bikes_state *sort_state;

/* By city then name (the group key is "city\0name", compare both parts). */
static int group_cmp(const void *a_, const void *b_)
{
	const struct bikes_state *s = sort_state;
	size_t la, lb;
	const char *a = eau2_htab_key(&s->groups, *(const uint32_t *)a_, &la);
	const char *b = eau2_htab_key(&s->groups, *(const uint32_t *)b_, &lb);
	size_t ca = strlen(a), cb = strlen(b); /* city ends at the NUL */
	int c = memcmp(a, b, ca < cb ? ca : cb);

	if (c || ca != cb)
		return c ? c : (ca > cb) - (ca < cb);
	a += ca + 1;
	b += cb + 1;
	la -= ca + 1;
	lb -= cb + 1;
	c = memcmp(a, b, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

static int bikes_finish(void *state, const struct eau2_run_ctx *ctx,
			eau2_df **result, struct eau2_error *err)
{
	static const char *const specs[4] = {
		NULL, "avg_duration_sec:double",
		"city:string,name:string,trips_2016:int,trips_2017:int",
		"name:string,avg_distance_km:double" };
	struct bikes_state *s = state;
	uint32_t ng = eau2_htab_size(&s->groups), *order = NULL, n = 0;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	int rc;

	/* a cluster's driver: init could not tell */
	if (ctx->key && (rc = eau2_apps_nonempty(ctx, TRIPS_TABLE, err)))
		return rc;
	rc = eau2_schema_parse(specs[s->query], &schema, err);
	if (rc == 0)
		rc = eau2_builder_new(ctx->db, schema, &b, err);
	if (rc < 0)
		goto out;
	if (s->query == 1) {
		rc = s->n ? eau2_builder_append_double(b, 0, xsum_avg(s->sum, DUR_ONE, s->n),
						       err)
			  : eau2_builder_append_null(b, 0, err);
	} else {
		order = malloc((ng ? ng : 1) * sizeof(*order));
		if (!order) {
			rc = eau2_error_set(err, -ENOMEM, "bikes: out of memory");
			goto out;
		}
		for (uint32_t i = 0; i < ng; i++) {
			bool keep = s->query == 2 ?
				s->c16[i] >= 1 && s->c17[i] >= 2 * s->c16[i] :
				(int64_t)s->gcity[i] == s->qcity && s->dcnt[i] &&
				xsum_avg(&s->dsum[2 * (size_t)i], DIST_ONE, s->dcnt[i]) > s->km;
			if (keep)
				order[n++] = i;
		}
		sort_state = s;
		qsort(order, n, sizeof(*order), group_cmp);
	}
	for (uint32_t k = 0; rc == 0 && k < n; k++) {
		uint32_t i = order[k];
		size_t len;
		const char *key = eau2_htab_key(&s->groups, i, &len);
		size_t cl = strlen(key);

		if (s->query == 2) {
			rc = eau2_builder_append_string(b, 0, key, cl, err);
			if (rc == 0)
				rc = eau2_builder_append_string(b, 1, key + cl + 1,
								len - cl - 1, err);
			if (rc == 0)
				rc = eau2_builder_append_int(b, 2, (int64_t)s->c16[i], err);
			if (rc == 0)
				rc = eau2_builder_append_int(b, 3, (int64_t)s->c17[i], err);
		} else {
			rc = eau2_builder_append_string(b, 0, key + cl + 1,
							len - cl - 1, err);
			if (rc == 0)
				rc = eau2_builder_append_double(b, 1, xsum_avg(&s->dsum[2 * (size_t)i],
										       DIST_ONE, s->dcnt[i]),
								err);
		}
	}
	if (rc == 0) {
		rc = eau2_builder_finish(b, result, err);
		b = NULL;
	}
	if (rc == 0 && s->skipped)
		fprintf(stderr, "bikes: query %d: %llu trips skipped (%s missing)\n",
			s->query, (unsigned long long)s->skipped,
			s->query == 1 ? "weather" : "station");
out:
	eau2_builder_abort(b);
	eau2_schema_free(schema);
	free(order);
	return rc;
}

static const char *const bikes_args[] = { "query", "weather", "stations", "city", "rain", "km", NULL };
/* Broadcast to the nodes on a cluster. */
static const char *const bikes_side[] = { "weather", "stations", NULL };

const struct eau2_rower_class eau2_app_bikes = {
	.name = "bikes",
	.summary = "bike-share queries over trips: stations=KEY weather=KEY "
		   "query=1|2|3 (rainy-day avg duration, stations doubling "
		   "2016->2017, montreal stations with arrivals > 6 km)",
	.flags = EAU2_ROWER_ORDERED,
	.state_size = sizeof(struct bikes_state),
	.init = bikes_init,
	.accept_chunk = bikes_chunk,
	.join = bikes_join,
	.encode = bikes_encode,
	.decode = bikes_decode,
	.finish = bikes_finish,
	.destroy = bikes_destroy,
	.args = bikes_args,
	.side_args = bikes_side,
};
