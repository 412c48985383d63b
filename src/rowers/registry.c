/* SPDX-License-Identifier: MIT */
/*
 * registry.c - the process-wide map from rower names to classes, and
 * plugin loading. The public entry points (eau2_rower_find, ...) are in
 * src/api/registry.c, which also registers the seed applications of
 * src/apps (above this module) through eau2_registry_add_builtin before
 * its first lookup.
 *
 * Built-ins (the static table below) are registered once, by pthread_once,
 * on the first call into the registry. Plugins are shared libraries opened
 * with dlopen(RTLD_NOW | RTLD_LOCAL) whose eau2_plugin_init registers their
 * classes. A plugin load is a transaction: every class its init registers
 * is tagged with the load's id, and when the load fails (init returns an
 * error, or any of its registrations failed, e.g. a name clash) those
 * classes are removed again and the library is closed. A loaded plugin is
 * never closed: its classes may be in use by any thread.
 *
 * Access rules: `reg` (the sorted array of entries) is read and written
 * only under reg_lock. plugin_lock serialises plugin loads (it is taken
 * before reg_lock, never after). tl_txn/tl_txn_failed are thread-local:
 * the loading thread sets them around the plugin's init.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rowers/rowers.h"
#include "util/file.h"

struct reg_entry {
	const struct eau2_rower_class *cls;
	unsigned txn; /* plugin load that registered it; 0 = not a plugin */
};

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry *reg;
static size_t reg_n, reg_cap;
static unsigned txn_next = 1;
static _Thread_local unsigned tl_txn;
static _Thread_local bool tl_txn_failed;

static const struct eau2_rower_class *const builtins[] = {
	&eau2_rower_count,
	&eau2_rower_sum,
	&eau2_rower_min,
	&eau2_rower_max,
	&eau2_rower_mean,
	&eau2_rower_distinct,
	&eau2_rower_sort,
	&eau2_rower_wordcount,
	&eau2_rower_filter,
	&eau2_rower_map,
	&eau2_rower_groupby,
	&eau2_rower_join,
	&eau2_rower_describe,
	&eau2_rower_shuffle_keep,
	&eau2_rower_shuffle_cut,
	&eau2_rower_shuffle_reduce,
};

/* Binary search under reg_lock: index of name, or where it would go. */
static size_t reg_search(const char *name, bool *found)
{
	size_t lo = 0, hi = reg_n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(reg[mid].cls->name, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reg_add(const struct eau2_rower_class *cls, unsigned txn,
		   struct eau2_error *err)
{
	bool found;
	int rc = 0;

	pthread_mutex_lock(&reg_lock);
	size_t at = reg_search(cls->name, &found);
	if (found) {
		rc = eau2_error_set(err, -EEXIST,
				    "rower '%s' is already registered", cls->name);
		goto out;
	}
	if (reg_n == reg_cap) {
		size_t ncap = reg_cap ? reg_cap * 2 : 32;
		void *p = realloc(reg, ncap * sizeof(*reg));
		if (!p) {
			rc = eau2_error_set(err, -ENOMEM,
					    "registering rower '%s': out of memory",
					    cls->name);
			goto out;
		}
		reg = p;
		reg_cap = ncap;
	}
	memmove(&reg[at + 1], &reg[at], (reg_n - at) * sizeof(*reg));
	reg[at] = (struct reg_entry){ .cls = cls, .txn = txn };
	reg_n++;
out:
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static void reg_init_builtins(void)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		(void)reg_add(builtins[i], 0, NULL); /* names are distinct */
}

static int check_class(const struct eau2_rower_class *cls,
		       struct eau2_error *err)
{
	if (!cls || !cls->name || !*cls->name)
		return eau2_error_set(err, -EINVAL, "rower class without a name");
	if (strlen(cls->name) > EAU2_NAME_MAX)
		return eau2_error_set(err, -EINVAL, "rower name '%.40s...' too long",
				      cls->name);
	for (const char *p = cls->name; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == ',' || *p >= 127)
			return eau2_error_set(err, -EINVAL,
					      "rower name '%s': bad character", cls->name);
	if (!cls->init || !cls->finish || !cls->join ||
	    (!cls->accept && !cls->accept_chunk))
		return eau2_error_set(err, -EINVAL,
				      "rower '%s': init, join, finish and accept or "
				      "accept_chunk are required", cls->name);
	return 0;
}

void eau2_registry_add_builtin(const struct eau2_rower_class *cls)
{
	pthread_once(&reg_once, reg_init_builtins);
	(void)reg_add(cls, 0, NULL);
}

int eau2_registry_register(const struct eau2_rower_class *cls,
			   struct eau2_error *err)
{
	int rc;

	pthread_once(&reg_once, reg_init_builtins);
	rc = check_class(cls, err);
	if (rc == 0)
		rc = reg_add(cls, tl_txn, err);
	if (rc < 0 && tl_txn)
		tl_txn_failed = true;
	return rc;
}

const struct eau2_rower_class *eau2_registry_find(const char *name)
{
	const struct eau2_rower_class *cls = NULL;
	bool found;

	if (!name)
		return NULL;
	pthread_once(&reg_once, reg_init_builtins);
	pthread_mutex_lock(&reg_lock);
	size_t at = reg_search(name, &found);
	if (found)
		cls = reg[at].cls;
	pthread_mutex_unlock(&reg_lock);
	return cls;
}

void eau2_registry_foreach(void (*fn)(void *ctx, const struct eau2_rower_class *c),
			   void *ctx)
{
	const struct eau2_rower_class **copy;
	size_t n;

	pthread_once(&reg_once, reg_init_builtins);
	/* Call fn on a snapshot, outside the lock, so it may use the
	 * registry itself. */
	pthread_mutex_lock(&reg_lock);
	n = reg_n;
	copy = malloc((n ? n : 1) * sizeof(*copy));
	if (copy)
		for (size_t i = 0; i < n; i++)
			copy[i] = reg[i].cls;
	pthread_mutex_unlock(&reg_lock);
	if (!copy)
		return;
	for (size_t i = 0; i < n; i++)
		fn(ctx, copy[i]);
	free(copy);
}

static void reg_remove_txn(unsigned txn)
{
	size_t k = 0;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < reg_n; i++)
		if (reg[i].txn != txn)
			reg[k++] = reg[i];
	reg_n = k;
	pthread_mutex_unlock(&reg_lock);
}

int eau2_registry_plugin_load(const char *path, struct eau2_error *err)
{
	struct eau2_error ierr = {0};
	eau2_plugin_init_fn init;
	void *handle = NULL, *sym;
	unsigned txn;
	int rc = 0, fd = -1;

	if (!path || !*path)
		return eau2_error_set(err, -EINVAL, "plugin: empty path");
	pthread_once(&reg_once, reg_init_builtins);
	pthread_mutex_lock(&plugin_lock);
	/* A path (not a bare name that dlopen looks up in the library
	 * directories) is opened first, without blocking, and must be a
	 * regular file: dlopen would wait forever on a FIFO. dlopen then
	 * loads that very file through /proc. */
	if (strchr(path, '/')) {
		char proc[64];

		fd = eau2_open_regular(path, err);
		if (fd < 0) {
			rc = eau2_error_prefix(err, fd, "plugin");
			goto out;
		}
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		handle = dlopen(proc, RTLD_NOW | RTLD_LOCAL);
		if (!handle && access("/proc/self/fd", F_OK) != 0)
			handle = dlopen(path, RTLD_NOW | RTLD_LOCAL); /* no /proc */
	} else {
		handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	if (!handle) {
		const char *why = dlerror();
		rc = eau2_error_set(err, -ENOENT, "plugin %s: cannot load: %s",
				    path, why ? why : "?");
		goto out;
	}
	dlerror();
	sym = dlsym(handle, EAU2_PLUGIN_INIT);
	if (!sym) {
		rc = eau2_error_set(err, -ENOENT, "plugin %s: no symbol %s",
				    path, EAU2_PLUGIN_INIT);
		goto out;
	}
	memcpy(&init, &sym, sizeof(init)); /* object to function pointer */
	txn = txn_next++;
	tl_txn = txn;
	tl_txn_failed = false;
	rc = init(&ierr);
	tl_txn = 0;
	if (rc == 0 && tl_txn_failed)
		rc = ierr.code ? ierr.code : -EEXIST;
	if (rc != 0) {
		if (rc > 0) /* not our convention: treat as a plain failure */
			rc = -EINVAL;
		reg_remove_txn(txn);
		rc = eau2_error_set(err, rc, "plugin %s: %s failed: %s", path,
				    EAU2_PLUGIN_INIT,
				    ierr.msg[0] ? ierr.msg :
				    tl_txn_failed ? "a registration failed" :
				    "no message");
		goto out;
	}
	handle = NULL; /* kept loaded for good */
out:
	if (handle)
		dlclose(handle);
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&plugin_lock);
	return rc;
}
