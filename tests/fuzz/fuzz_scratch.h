/* SPDX-License-Identifier: MIT */
/*
 * fuzz_scratch.h - for fuzz targets that run rowers over a small dataframe
 * made on first use: the scratch store's directory, handle and dataframe
 * (dir, db, df), cleanup (for atexit: releases them and removes the
 * directory) and check (aborts, naming FUZZ_NAME, when setup fails).
 * Include it once, from the target's .c file, after defining FUZZ_NAME
 * and _GNU_SOURCE (nftw).
 */
#ifndef EAU2_FUZZ_SCRATCH_H
#define EAU2_FUZZ_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "eau2.h"

static char dir[64];
static eau2 *db;
static eau2_df *df;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	eau2_df_release(df);
	eau2_close(db);
	if (dir[0])
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void check(int rc, const struct eau2_error *err)
{
	if (rc) {
		fprintf(stderr, FUZZ_NAME " setup: %d %s\n", rc, err->msg);
		abort();
	}
}

#endif
