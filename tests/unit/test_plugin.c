/* SPDX-License-Identifier: MIT */
/*
 * test_plugin.c - eau2_plugin_load with the example plugin
 * (examples/plugin/even_count.c) and the broken ones (broken.c), found in
 * $EAU2_BIN_DIR/plugins (default: the directory of this executable):
 * the example's rower against a reference on 1, 2 and 7 threads and
 * through encode/decode; errors for a missing file, a file that is not a
 * library, a missing init symbol, a name clash and a failing init - each
 * leaving no class registered.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowertest.h"

static char plugin_dir[PATH_MAX];

static const char *plugin_path(const char *name)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/plugins/%s.so", plugin_dir, name);
	return path;
}

static int setup(void **st)
{
	const char *bin = getenv("EAU2_BIN_DIR");
	char exe[PATH_MAX];
	ssize_t n;

	(void)st;
	if (bin) {
		snprintf(plugin_dir, sizeof(plugin_dir), "%s", bin);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = 0;
		snprintf(plugin_dir, sizeof(plugin_dir), "%s", dirname(exe));
	}
	/* A plugin resolves eau2_* in this process: they must be exported. */
	if (!dlsym(RTLD_DEFAULT, "eau2_rower_register") ||
	    !dlsym(RTLD_DEFAULT, "eau2_df_schema")) {
		fprintf(stderr, "test_plugin: this executable does not export the "
			"eau2_* API (hidden visibility?), so no plugin can load\n");
		return -1;
	}
	if (access(plugin_path("eau2_even_count"), R_OK) != 0) {
		fprintf(stderr, "test_plugin: %s missing (build examples)\n",
			plugin_path("eau2_even_count"));
		exit(77);
	}
	return 0;
}

static void test_even_count(void **st)
{
	char *dir;
	eau2 *db = tu_open_store(&dir);
	struct eau2_error err = {0};
	struct rt_args ra;
	size_t n = tu_quick() ? 70000 : 300000;
	uint64_t rs = 99;
	eau2_schema *schema = NULL;
	eau2_builder *b = NULL;
	eau2_df *df = NULL;
	int64_t want = 0;

	(void)st;
	tu_ok(eau2_plugin_load(plugin_path("eau2_even_count"), &err), &err);
	const struct eau2_rower_class *cls = eau2_rower_find("even_count");
	assert_non_null(cls);

	tu_ok(eau2_schema_parse("s:string,v:int", &schema, &err), &err);
	tu_ok(eau2_builder_new(db, schema, &b, &err), &err);
	for (size_t i = 0; i < n; i++) {
		uint64_t x = tu_rand(&rs);
		tu_ok(eau2_builder_append_string(b, 0, "x", 1, &err), &err);
		if (x % 7 == 0) {
			tu_ok(eau2_builder_append_null(b, 1, &err), &err);
			continue;
		}
		int64_t v = (int64_t)(x >> 3) - (int64_t)(1ull << 59);
		want += (v & 1) == 0;
		tu_ok(eau2_builder_append_int(b, 1, v, &err), &err);
	}
	tu_ok(eau2_builder_finish(b, &df, &err), &err);
	eau2_schema_free(schema);

	for (unsigned t = 1; t <= 7; t += t == 1 ? 1 : 5) {
		eau2_df *res = NULL;
		int64_t got;
		tu_ok(rt_run(db, df, "even_count", t == 2 ? NULL :
			     rt_args(&ra, 1, (const char *[]){"column=v"}), t, &res, &err), &err);
		tu_ok(eau2_df_get_int(res, 0, 0, &got, &err), &err);
		assert_int_equal(got, want);
		eau2_df_release(res);
	}
	rt_check_roundtrip(db, df, "even_count", NULL);
	eau2_df_release(df);

	/* loading it again clashes with itself; the first copy stays usable */
	assert_int_equal(eau2_plugin_load(plugin_path("eau2_even_count"), &err), -EEXIST);
	assert_non_null(strstr(err.msg, "even_count"));
	assert_ptr_equal(eau2_rower_find("even_count"), cls);
	tu_close_store(db, dir);
}

static void test_errors(void **st)
{
	struct eau2_error err = {0};
	const struct eau2_rower_class *count = eau2_rower_find("count");
	char *dir = tu_tmpdir("plugin");
	char junk[PATH_MAX + 16];
	int rc;

	(void)st;
	/* missing file */
	rc = eau2_plugin_load("/nonexistent/eau2_nothing.so", &err);
	assert_true(rc < 0);
	assert_non_null(strstr(err.msg, "/nonexistent/eau2_nothing.so"));
	/* not a shared library */
	snprintf(junk, sizeof(junk), "%s/junk.so", dir);
	int fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF file\n", 16), 16);
	close(fd);
	rc = eau2_plugin_load(junk, &err);
	assert_true(rc < 0);
	assert_non_null(strstr(err.msg, "junk.so"));
	/* no eau2_plugin_init */
	rc = eau2_plugin_load(plugin_path("eau2_broken_noinit"), &err);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err.msg, EAU2_PLUGIN_INIT));
	/* name clash with a built-in: the class registered before it is
	 * removed again, the built-in untouched */
	rc = eau2_plugin_load(plugin_path("eau2_broken_clash"), &err);
	assert_int_equal(rc, -EEXIST);
	assert_non_null(strstr(err.msg, "count"));
	assert_null(eau2_rower_find("broken_first"));
	assert_ptr_equal(eau2_rower_find("count"), count);
	/* init fails on its own */
	rc = eau2_plugin_load(plugin_path("eau2_broken_fail"), &err);
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(err.msg, "refusing to start"));
	assert_null(eau2_rower_find("broken_fail_first"));
	/* and again: same result, nothing left behind */
	rc = eau2_plugin_load(plugin_path("eau2_broken_fail"), &err);
	assert_int_equal(rc, -EPROTO);
	assert_null(eau2_rower_find("broken_fail_first"));
	assert_int_equal(eau2_plugin_load(NULL, &err), -EINVAL);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_even_count),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
