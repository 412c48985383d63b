/* SPDX-License-Identifier: MIT */
/*
 * api.h - internal header of src/api, the facade: the top of libeau2,
 * above every other module (util < shm < df < rowers < uring_net < node <
 * cluster < apps < api). It defines the public handle (struct eau2),
 * implements the public calls that take it, and routes the calls on keys
 * to a backend. Nothing below includes this header.
 *
 * Backends. Every handle has a local store (src/shm): dataframes are
 * built and mapped there whatever the backend, and the builders, loaders,
 * zip and eau2_run always work on it. What a key names, and where, is the
 * backend's: put, get, wait_get, delete, list and gc go to db->be.
 *
 *   local    the store's files; gets go through the store's eau2-node when
 *            one runs (it counts references) and fall back to the files
 *            (local.c).
 *   remote   a remote eau2-node over TCP (src/uring_net, src/node;
 *            remote.c): eau2_put pushes the local dataframe there, eau2_get
 *            pulls into the local store and maps it from there,
 *            eau2_run_key runs there.
 *   cluster  the keys of a cluster coordinated through ZooKeeper
 *            (src/cluster; cluster.c).
 * A new backend is one file here defining a const struct eau2_backend, and
 * the line in pick_backend (store.c) that chooses it from the options

 *
 * Access rules: a handle is used by one thread at a time (eau2.h); a
 * backend's state (db->be_state) belongs to the handle. Dataframes a
 * backend hands out may outlive the handle and be released from any
 * thread: what their release hook needs must be reference counted (the
 * local backend's node client is).
 */
#ifndef EAU2_API_API_H
#define EAU2_API_API_H

#include "eau2.h"

struct eau2_store;

/* A backend: what eau2's calls on keys do. Every function gets the handle
 * (its local store db->store, its state db->be_state, its options
 * db->opt: the address, secret and timeout a network backend needs) and
 * follows eau2.h's
 * contract of the public call of the same name, errors included; the
 * facade checks db and the output pointers first, and verifies what get
 * and wait_get return when the handle asks for it, so backends do
 * neither. A dataframe returned by get or wait_get is mapped from the
 * local store, one reference the caller's; a backend that lends it (a
 * node counting references) sets its release hook (eau2_df_set_release,
 * src/df/df.h). */
struct eau2_backend {
	const char *name; /* "local", "remote", "cluster": for messages */
	/* Attaches a handle whose store is open (sets db->be_state); 0 or
	 * -errno with err filled, then nothing is left to close. */
	int (*open)(eau2 *db, struct eau2_error *err);
	/* Releases db->be_state; dataframes got through it stay usable. */
	void (*close)(eau2 *db);
	int (*put)(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err);
	int (*get)(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err);
	int (*wait_get)(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
			struct eau2_error *err);
	int (*del)(eau2 *db, const char *key, struct eau2_error *err);
	int (*list)(eau2 *db, char ***keys, size_t *n, struct eau2_error *err);
	int (*gc)(eau2 *db, struct eau2_error *err);
	/* Optional (NULL: the facade does them with get, eau2_run and put
	 * in the local store): eau2_stat, eau2_get_head and eau2_run_key,
	 * for a backend where they cost less than a whole get. */
	int (*stat)(eau2 *db, const char *key, struct eau2_stat *st, struct eau2_error *err);
	int (*get_head)(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
			struct eau2_error *err);
	int (*run_key)(eau2 *db, const char *key, const struct eau2_rower_class *cls,
		       const struct eau2_args *args, const struct eau2_run_options *opt,
		       const char *as, eau2_df **result, struct eau2_error *err);
	/* Optional (NULL: eau2_load, then put): eau2_load_put, for a backend
	 * that can store a load while it is parsed. df NULL: the caller
	 * keeps no copy of the dataframe loaded here. */
	int (*load_put)(eau2 *db, const char *path, const char *key,
			const struct eau2_load_options *opt, eau2_df **df,
			struct eau2_load_stats *stats, struct eau2_error *err);
	/* Shared state (sync.c); optional, NULL: -ENOTSUP. watch: eau2_watch
	 * with version not NULL (the facade turns NULL into the current
	 * version first). lock: takes the lock named lk->name within
	 * timeout_ms (negative: forever) into lk's fd or impl; unlock releases
	 * what lock took (the facade frees lk). */
	int (*watch)(eau2 *db, const char *key, int timeout_ms, uint64_t *version,
		     struct eau2_error *err);
	int (*lock)(eau2 *db, struct eau2_lock *lk, int timeout_ms, struct eau2_error *err);
	int (*unlock)(struct eau2_lock *lk, struct eau2_error *err);
	/* Optional (NULL: -ENOTSUP): eau2_on_node_event. */
	int (*on_node_event)(eau2 *db, eau2_node_event_fn *fn, void *arg,
			     struct eau2_error *err);
};

/* A held lock (eau2_lock): its handle, its name and what the backend
 * holds, an flock'ed file (local) or a ZooKeeper lock (cluster). */
#define EAU2_LOCK_NAME_MAX 200
struct eau2_lock {
	eau2 *db;
	char name[EAU2_LOCK_NAME_MAX + 1];
	int fd;     /* -1 unless the backend holds a file */
	void *impl; /* the backend's, or NULL */
};

extern const struct eau2_backend eau2_backend_local;
extern const struct eau2_backend eau2_backend_remote;
extern const struct eau2_backend eau2_backend_cluster;

/* eau2_run_key in this process: get key (through the backend), eau2_run,
 * then eau2_api_run_result. as is NULL or not empty. */
int eau2_api_run_here(eau2 *db, const char *key, const struct eau2_rower_class *cls,
		      const struct eau2_args *args, const struct eau2_run_options *opt,
		      const char *as, eau2_df **result, struct eau2_error *err);

/* The end of eau2_run_key once out is computed (rc: how that went):
 * with as, out is put there (through the backend) and released; else it
 * becomes *result. Releases out on failure. */
int eau2_api_run_result(eau2 *db, int rc, eau2_df *out, const char *as, eau2_df **result,
			struct eau2_error *err);

/* The public handle. Access rules: see above; everything is set by
 * eau2_open and freed by eau2_close. */
struct eau2 {
	struct eau2_store *store;      /* the local store (src/shm) */
	const struct eau2_backend *be; /* where keys live */
	void *be_state;                /* the backend's own, or NULL */
	/* eau2_open's options, copied: remote, cluster and secret_file are
	 * owned copies (or NULL); store is NULL (the directory is
	 * store->dir). */
	struct eau2_options opt;
};

#endif
