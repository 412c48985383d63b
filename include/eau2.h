/* SPDX-License-Identifier: MIT */
/*
 * eau2.h - the one public header of libeau2, a columnar dataframe store and
 * compute engine.
 *
 * A store is a directory (default /dev/shm/eau2-$USER) holding immutable
 * dataframes under string keys. A dataframe is a schema, a row count and a
 * list of row groups; each row group holds one chunk per column, at most
 * EAU2_CHUNK_ROWS rows, laid out as an Apache Arrow array (validity bitmap,
 * values, and for strings int64 offsets plus bytes; every buffer 64-byte
 * aligned). The chunk bytes live in shared segment files that every process
 * maps read-only: opening a dataframe maps, it never copies.
 *
 * Conventions, for every function below unless it says otherwise:
 *  - Returns 0 on success or a negative errno-style code on failure
 *    (-EINVAL bad argument, -ENOENT no such key or column, -ENOSPC store
 *    full, -EBADMSG corrupt data, -ERANGE out of range, -ENOMEM, -EIO...).
 *  - Takes an optional `struct eau2_error *err` (NULL allowed) that receives
 *    a one-line message naming what failed (key, column, row, file, peer).
 *  - Pointers returned into a dataframe stay valid while the caller holds a
 *    reference to that dataframe (eau2_df_release drops it).
 *  - Handles are not thread-safe unless stated; dataframes are immutable and
 *    may be read from any number of threads at once.
 */
#ifndef EAU2_H
#define EAU2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with hidden visibility; what this header declares
 * is its exported API (plugins loaded into eau2 binaries link against it). */
#pragma GCC visibility push(default)

#define EAU2_VERSION_MAJOR 0
#define EAU2_VERSION_MINOR 1

/* Rows per row group (and so per chunk). Loaders and builders seal a row
 * group when it reaches this many rows; parallel loaders may seal shorter
 * ones at their split points. */
#define EAU2_CHUNK_ROWS 65536u

#define EAU2_KEY_MAX 200      /* bytes in a key, excluding the NUL */
#define EAU2_NAME_MAX 255     /* bytes in a column name */
#define EAU2_COLS_MAX 4096    /* columns in a schema */

/* ---------------------------------------------------------------- errors */

struct eau2_error {
	int code;       /* the negative code that was returned */
	char msg[512];  /* NUL-terminated, one line */
};

/* Fills err (when not NULL) with code and a printf-style message; returns
 * code, so that `return eau2_error_set(err, -EINVAL, "...")` reads well. */
int eau2_error_set(struct eau2_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Puts a formatted context and ": " before err's message (e.g. the key or
 * file that was being worked on) and sets its code; returns code. */
int eau2_error_prefix(struct eau2_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ----------------------------------------------------------------- types */

enum eau2_type {
	EAU2_BOOL = 1,
	EAU2_INT = 2,    /* int64 */
	EAU2_DOUBLE = 3, /* IEEE 754 binary64 */
	EAU2_STRING = 4, /* UTF-8 bytes (not validated), any length */
};

/* "bool", "int", "double", "string"; "?" for an invalid value. */
const char *eau2_type_name(enum eau2_type type);

/* Parses a type name as printed by eau2_type_name (also accepts "int64",
 * "float", "str"). Returns 0, or -EINVAL for an unknown name. */
int eau2_type_parse(const char *name, enum eau2_type *type);

/* ---------------------------------------------------------------- schema */

/* An ordered list of (name, type). Names are non-empty, unique, at most
 * EAU2_NAME_MAX bytes, with no NUL; at most EAU2_COLS_MAX columns. */
typedef struct eau2_schema eau2_schema;

int eau2_schema_new(eau2_schema **schema, struct eau2_error *err);
/* Appends a column; -EINVAL for an empty, too long or duplicate name, or a
 * bad type (the message names the column). */
int eau2_schema_add(eau2_schema *schema, const char *name, enum eau2_type type,
		    struct eau2_error *err);
/* Parses "name:type,name:type,..." into a new schema. */
int eau2_schema_parse(const char *spec, eau2_schema **schema,
		      struct eau2_error *err);
int eau2_schema_copy(const eau2_schema *src, eau2_schema **dst,
		     struct eau2_error *err);
size_t eau2_schema_ncols(const eau2_schema *schema);
/* The name or type of column `col`; col must be < ncols (asserted). */
const char *eau2_schema_name(const eau2_schema *schema, size_t col);
enum eau2_type eau2_schema_type(const eau2_schema *schema, size_t col);
/* Index of the column called name, or -ENOENT. */
int eau2_schema_find(const eau2_schema *schema, const char *name);
void eau2_schema_free(eau2_schema *schema); /* NULL allowed */

/* ----------------------------------------------------------------- store */

typedef struct eau2 eau2;

/* Whether a handle uses the store's eau2-node. */
enum eau2_node_mode {
	EAU2_NODE_AUTO = 0, /* attach to the store's eau2-node when one runs */
	EAU2_NODE_OFF = 1,  /* embedded: the files only */
	EAU2_NODE_RUNS = 2, /* as AUTO, and eau2_run_key runs on the node */
};

/* How eau2_open opens a store. A zeroed struct is all defaults; the
 * strings are copied, so they may be freed once eau2_open returns. The
 * library reads none of the EAU2_* variables: the eau2 command lines take
 * EAU2_STORE (store), EAU2_NODE=0 (node = EAU2_NODE_OFF) and EAU2_VERIFY=1
 * (verify) as their defaults and fill this struct. */
struct eau2_options {
	const char *store;       /* local store directory; NULL: /dev/shm/eau2-$USER */
	enum eau2_node_mode node;
	bool verify;             /* check every chunk's checksum on get */
	const char *remote;      /* HOST:PORT of a remote eau2-node (eau2-node --listen) */
	const char *cluster;     /* ZooKeeper HOST:PORT[,HOST:PORT...][/NAME] of a cluster */
	const char *secret_file; /* cluster secret for remote and cluster */
	int timeout_ms;          /* bound on each blocking network step; 0: the default */
	/* Called during a put to or get from a remote node, after each chunk,
	 * on the calling thread: chunk bytes done and in all (0 when not
	 * known: a head). NULL: not called. */
	void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total);
	void *progress_ctx;
	unsigned replicas;       /* cluster: nodes holding each partition a put
				  * places; 0: min(2, live nodes) */
	/* cluster: failure detection. Every node is PINGed every heartbeat_ms
	 * (0: 1000; negative: no heartbeats, a node is dead only once its
	 * ZooKeeper session expires); one silent for dead_after_ms (0: 5000;
	 * at least heartbeat_ms) is dead, and the parts of a run it was
	 * computing start again at once on another replica. */
	int heartbeat_ms;
	int dead_after_ms;
	/* cluster: a run stored under a key (eau2_run_key's as) of a
	 * row-wise class, or of one that shuffles, leaves its output on the
	 * nodes that made it; gather: it is gathered here and put back out
	 * instead, as for other classes (what bench/bench_cluster.sh
	 * compares). The eau2 command sets it from EAU2_CLUSTER_GATHER=1. */
	bool gather;
	/* cluster: the shuffle bound. The parts' states of a run of a class
	 * with sample and split (groupby) are shuffled by key range, node to
	 * node, when one is at least shuffle_bytes (encoded), and gathered
	 * and joined here otherwise. 0: 64 MiB; negative: always shuffle.
	 * The eau2 command sets it from EAU2_SHUFFLE_BYTES (0 there: always). */
	int64_t shuffle_bytes;
	/* cluster: the bytes of one side table a run broadcasts to the
	 * nodes (side_args); a larger one is refused, naming it. 0: 256 MiB.
	 * The eau2 command sets it from EAU2_BCAST_MAX. */
	uint64_t bcast_max;
};

/* Opens (creating when absent) the local store rooted at directory
 * opt->store. opt NULL: all defaults (a zeroed struct). Refuses (-ENOTDIR,
 * -EACCES, -EBADMSG) a path that is not a directory, a directory owned by
 * another user, a symbolic link owned by another user (one of the
 * caller's own is followed), or a non-empty directory that is not an eau2
 * store; -EINVAL for a bad option (an unknown node mode, a negative
 * timeout_ms, both remote and cluster). With cluster, keys are the
 * cluster's (its nodes joined with eau2-node --zk): opening connects to
 * ZooKeeper (an unreachable one: -ETIMEDOUT within timeout_ms naming
 * it); eau2_put cuts the dataframe into partitions placed on `replicas`
 * nodes and publishes the key whole or not at all; eau2_get fetches the
 * partitions into the local store; eau2_run_key runs on the nodes and
 * joins their states here, giving the answer of a single host. With
 * remote, keys are the remote node's: opening
 * connects and authenticates (secret_file: the node's secret, or NULL
 * for a node without one, loopback only), failing with the transport's
 * error naming the peer (-ECONNREFUSED, -ETIMEDOUT, -EACCES for a wrong
 * secret...); eau2_put pushes, eau2_get pulls into the local store
 * (the dataframe belongs to no key there), and every network step is
 * bounded by timeout_ms. Opening also reclaims the space of puts that
 * died half-way (see eau2_gc) when no writer holds the store at that
 * moment: opening never waits for a writer. With node = EAU2_NODE_AUTO
 * (or EAU2_NODE_RUNS),
 * when an eau2-node serves the store the handle attaches to it (gets then
 * come through the node, which counts references) and falls back to the
 * files if the node goes away, or when it does not answer within a second
 * (a one-line warning names it); EAU2_NODE_OFF uses the files only.
 * EAU2_NODE_RUNS also sends eau2_run_key to the node ("warm runs": the
 * node keeps the inputs it opened mapped and checked, so a short-lived
 * process skips that work): the run executes there, its result is put
 * under `as` there or handed back mapped (zero-copy), with the same
 * answer as in-process. A class the node does not have (one the program
 * registered, a plugin the node was not started with) runs in-process,
 * as does every run without a node, or with one too old to run. eau2_run, and
 * eau2_run_key under AUTO, always run in the calling process. With
 * verify, every eau2_get and eau2_wait_get checks every chunk
 * (eau2_df_verify: O(data)) and fails with -EBADMSG rather than return a
 * corrupt dataframe. The handle may be used by one thread at a time; open
 * one per thread or guard it. Free
 * with eau2_close. */
int eau2_open(eau2 **db, const struct eau2_options *opt, struct eau2_error *err);
void eau2_close(eau2 *db); /* NULL allowed; dataframes stay usable */
const char *eau2_dir(const eau2 *db);

/* What a cluster handle's failure detection tells of a node. */
enum eau2_node_event {
	EAU2_NODE_EVENT_JOINED = 1, /* it joined the cluster, or answers again
				     * after it was declared dead */
	EAU2_NODE_EVENT_DIED = 2,   /* declared dead: silent for dead_after_ms,
				     * or its ZooKeeper session expired */
};
typedef void eau2_node_event_fn(void *arg, enum eau2_node_event event, const char *node_id,
				const char *addr);
/* Calls fn(arg, ...) for every later join and death of a node of db's
 * cluster (opened with opt.cluster), with the node's id and HOST:PORT
 * (valid during the call only). fn runs on the handle's health thread,
 * one call at a time; it must return soon and must not use db. fn NULL
 * stops the calls; either way, eau2_on_node_event returns once no call of
 * the previous fn is running (so do not call it from fn). Nodes present
 * when fn is set are not reported (eau2 --cluster C status lists them).
 * -ENOTSUP for a handle of another kind, or with heartbeat_ms < 0. */
int eau2_on_node_event(eau2 *db, eau2_node_event_fn *fn, void *arg, struct eau2_error *err);
/* The size of the pages backing the store's dataframes (4096, or 2 MiB on
 * a tmpfs mounted huge=within_size or huge=always), and when how is not
 * NULL a description for logs ("2048 KiB pages (tmpfs huge=within_size)"),
 * valid while db is open. */
uint64_t eau2_page_size(const eau2 *db, const char **how);

/* Removes the files of dataframes that no key references and no live
 * process is still building: leftovers of writers killed mid-put and of
 * deletes interrupted before their cleanup. Space still mapped by readers
 * is returned by the kernel when they unmap. A key file that cannot be
 * read or parsed (garbage, no permission) might name any dataframe: then
 * nothing is removed and -EBADMSG names that key (eau2_open prints that
 * message as a one-line warning on stderr and opens the store). */
int eau2_gc(eau2 *db, struct eau2_error *err);

typedef struct eau2_df eau2_df; /* an immutable dataframe, see below */

/* --------------------------------------------------------------- builders */

/* A builder appends values column by column and seals full row groups
 * straight into new segments of the store; nothing is visible under any key
 * until eau2_put. Append to every column in turn for row-at-a-time input,
 * or a whole column at a time: a row group is sealed as soon as every
 * column has EAU2_CHUNK_ROWS values pending. */
typedef struct eau2_builder eau2_builder;

/* The builder copies `schema`. */
int eau2_builder_new(eau2 *db, const eau2_schema *schema,
		     eau2_builder **builder, struct eau2_error *err);
const eau2_schema *eau2_builder_schema(const eau2_builder *builder);

/* Append one value (or a null) to column `col`. -ERANGE for a bad column,
 * -EINVAL for a type mismatch (ints may be appended to a double column,
 * nothing else converts), -ENOSPC when the store is full. After a failed
 * append the builder may only be aborted. */
int eau2_builder_append_null(eau2_builder *b, size_t col, struct eau2_error *err);
int eau2_builder_append_bool(eau2_builder *b, size_t col, bool v,
			     struct eau2_error *err);
int eau2_builder_append_int(eau2_builder *b, size_t col, int64_t v,
			    struct eau2_error *err);
int eau2_builder_append_double(eau2_builder *b, size_t col, double v,
			       struct eau2_error *err);
int eau2_builder_append_string(eau2_builder *b, size_t col, const char *s,
			       size_t len, struct eau2_error *err);

/* Values appended so far to column `col` (sealed and pending). */
uint64_t eau2_builder_rows(const eau2_builder *b, size_t col);

/* Parallel building: fork makes a part that shares the parent's segments
 * and may be filled on another thread. join seals the parent's pending rows,
 * then the part's, and appends the part's row groups after the parent's;
 * the part is consumed. Join parts in the order their rows should appear.
 * A part must not be used after it is joined or aborted. */
int eau2_builder_fork(eau2_builder *parent, eau2_builder **part,
		      struct eau2_error *err);
int eau2_builder_join(eau2_builder *parent, eau2_builder *part,
		      struct eau2_error *err);

/* Seals the last row group and makes the dataframe; every column must hold
 * the same number of values (-EINVAL otherwise). The builder is freed in
 * every case. The dataframe belongs to no key until eau2_put; released
 * without a put, its space is freed. */
int eau2_builder_finish(eau2_builder *b, eau2_df **df,
			struct eau2_error *err);
/* Discards everything built; frees b (NULL allowed). Also frees parts that
 * were forked and not yet joined only when they are aborted themselves. */
void eau2_builder_abort(eau2_builder *b);

/* ------------------------------------------------------------ dataframes */

/* Publishes df under key, atomically replacing what key held: a reader sees
 * the old dataframe or the new one, never part of either. The caller keeps
 * its reference; a dataframe may be put under several keys. Keys are
 * 1..EAU2_KEY_MAX bytes of printable ASCII (' ' to '~'); bytes other than
 * letters, digits, '.', '_' and '-' count three towards the 250-byte
 * on-disk name. -EINVAL otherwise; -EXDEV when df belongs to another store. */
int eau2_put(eau2 *db, const char *key, eau2_df *df, struct eau2_error *err);

/* Maps the dataframe under key: cost independent of its size. -ENOENT when
 * the key does not exist, -EBADMSG when its descriptor is corrupt. */
int eau2_get(eau2 *db, const char *key, eau2_df **df, struct eau2_error *err);

/* eau2_get, waiting up to timeout_ms (negative: forever) for the key to be
 * put (eau2's getAndWait). -ETIMEDOUT when it does not appear in time. */
int eau2_wait_get(eau2 *db, const char *key, int timeout_ms, eau2_df **df,
		  struct eau2_error *err);

/* Removes key. Its space is freed once no process maps it. -ENOENT when
 * the key does not exist. */
int eau2_delete(eau2 *db, const char *key, struct eau2_error *err);

/* All keys, sorted bytewise. *keys is a NULL-terminated array to free with
 * eau2_list_free. */
int eau2_list(eau2 *db, char ***keys, size_t *n, struct eau2_error *err);
void eau2_list_free(char **keys);

/* What eau2_stat tells of a key without mapping or moving its data (one
 * round trip to a remote node). schema is the caller's (eau2_schema_free). */
struct eau2_stat {
	uint64_t rows;
	uint64_t bytes;    /* chunk payload bytes, as eau2_df_bytes */
	size_t ngroups;
	eau2_schema *schema;
};
int eau2_stat(eau2 *db, const char *key, struct eau2_stat *st, struct eau2_error *err);

/* eau2_get of the first row groups only: at least `rows` rows (all of
 * them when the key has fewer), for printing a head without moving the
 * rest from a remote node. Locally the same as eau2_get. */
int eau2_get_head(eau2 *db, const char *key, uint64_t rows, eau2_df **df,
		  struct eau2_error *err);

/* Reference counting within a process: retain adds one, release drops one
 * and unmaps at zero. Thread-safe. Both accept NULL. */
eau2_df *eau2_df_retain(eau2_df *df);
void eau2_df_release(eau2_df *df);

const eau2_schema *eau2_df_schema(const eau2_df *df);
uint64_t eau2_df_rows(const eau2_df *df);
size_t eau2_df_ncols(const eau2_df *df);
size_t eau2_df_ngroups(const eau2_df *df);          /* row groups */
uint64_t eau2_df_group_first_row(const eau2_df *df, size_t group);
uint32_t eau2_df_group_rows(const eau2_df *df, size_t group);
/* Bytes of chunk payload (headers, bitmaps, values, string bytes). */
uint64_t eau2_df_bytes(const eau2_df *df);

/* Reads every chunk and checks its header and payload checksum; -EBADMSG
 * with the column and row group that failed. O(data): reads everything. */
int eau2_df_verify(const eau2_df *df, struct eau2_error *err);

/* A read-only view of one chunk; valid while the dataframe is held. */
struct eau2_chunk_view {
	enum eau2_type type;
	uint32_t rows;
	uint32_t null_count;
	uint64_t first_row;       /* row of the dataframe that is row 0 here */
	const uint8_t *validity;  /* LSB-first bitmap, 1 = valid; NULL if no nulls */
	union {
		const uint8_t *bits;     /* EAU2_BOOL, bit-packed LSB first */
		const int64_t *i64;      /* EAU2_INT */
		const double *f64;       /* EAU2_DOUBLE */
		const int64_t *offsets;  /* EAU2_STRING: rows + 1 offsets into data */
	} values;
	const char *data;          /* EAU2_STRING bytes; NULL otherwise */
	bool has_minmax;           /* numeric chunks with a non-null value */
	union { int64_t i; double d; } min, max;
};

/* The view of column `col` in row group `group`. The first view of a chunk
 * in a process checks its header against its segment (and a string
 * chunk's offsets); -EBADMSG when out of bounds. Later views return the
 * kept view without reading the chunk. */
int eau2_df_chunk(const eau2_df *df, size_t col, size_t group,
		  struct eau2_chunk_view *view, struct eau2_error *err);

static inline bool eau2_view_valid(const struct eau2_chunk_view *v, uint32_t i)
{
	return !v->validity || (v->validity[i >> 3] >> (i & 7)) & 1;
}
static inline bool eau2_view_bool(const struct eau2_chunk_view *v, uint32_t i)
{
	return (v->values.bits[i >> 3] >> (i & 7)) & 1;
}
static inline const char *eau2_view_string(const struct eau2_chunk_view *v,
					   uint32_t i, size_t *len)
{
	*len = (size_t)(v->values.offsets[i + 1] - v->values.offsets[i]);
	return v->data + v->values.offsets[i];
}

/* Typed access by (column, row). Returns 0 and sets *out for a value,
 * EAU2_NULL (1) for a null (*out untouched), -ERANGE for a row or column
 * out of range, -EINVAL for a type mismatch (get_double also reads int
 * columns). O(log row groups). */
#define EAU2_NULL 1
int eau2_df_get_bool(const eau2_df *df, size_t col, uint64_t row, bool *out,
		     struct eau2_error *err);
int eau2_df_get_int(const eau2_df *df, size_t col, uint64_t row, int64_t *out,
		    struct eau2_error *err);
int eau2_df_get_double(const eau2_df *df, size_t col, uint64_t row,
		       double *out, struct eau2_error *err);
int eau2_df_get_string(const eau2_df *df, size_t col, uint64_t row,
		       const char **s, size_t *len, struct eau2_error *err);

/* Row group holding `row`, or -ERANGE. */
int eau2_df_find_group(const eau2_df *df, uint64_t row, size_t *group);

/* eau2's fromArray: a one-column dataframe of n values. `values` points to
 * bool[], int64_t[], double[] or const char *[] (NUL-terminated strings, a
 * NULL element is a null) according to type. */
int eau2_df_from_array(eau2 *db, const char *name, enum eau2_type type,
		       const void *values, size_t n, eau2_df **df,
		       struct eau2_error *err);
/* eau2's fromScalar: a one-column, one-row dataframe; value points to one
 * bool, int64_t, double or const char * as for from_array. */
int eau2_df_from_scalar(eau2 *db, const char *name, enum eau2_type type,
			const void *value, eau2_df **df, struct eau2_error *err);
/* eau2's fromVisitor: calls fill repeatedly; each call appends rows to the
 * builder and returns 1 to be called again, 0 when done, or a negative code
 * (with err filled) to abandon the dataframe. */
typedef int (*eau2_fill_fn)(void *ctx, eau2_builder *b, struct eau2_error *err);
int eau2_df_from_visitor(eau2 *db, const eau2_schema *schema, eau2_fill_fn fill,
			 void *ctx, eau2_df **df, struct eau2_error *err);

/* A new dataframe (under no key until eau2_put) whose columns are a's then
 * b's, sharing their chunks: no byte is copied, the segment files are
 * linked under the new dataframe's id, so deleting a or b later does not
 * affect it. a and b must be in store db, have the same row groups (the
 * same rows in each group) and no column name in common. -EXDEV when they
 * are in another store, -ENOENT when their files were removed meanwhile
 * (a deleted or replaced key: still readable where mapped, no longer
 * linkable). */
int eau2_df_zip(eau2 *db, const eau2_df *a, const eau2_df *b, eau2_df **out,
		struct eau2_error *err);

/* --------------------------------------------------------------- loaders */

enum eau2_format {
	EAU2_FORMAT_AUTO = 0, /* from the file's extension: .csv, .sor, .txt/.log */
	EAU2_FORMAT_CSV,
	EAU2_FORMAT_SOR,
	EAU2_FORMAT_LINES,    /* one string column "line", one row per line */
};

enum eau2_on_error {
	EAU2_ON_ERROR_FAIL = 0, /* the first bad row fails the load */
	EAU2_ON_ERROR_SKIP,     /* bad rows are skipped and counted */
};

struct eau2_load_options {
	enum eau2_format format;
	const eau2_schema *schema; /* explicit schema, or NULL to infer */
	bool no_header;            /* CSV: columns named c0, c1, ... */
	char delim;                /* CSV: field delimiter; 0 means ',' */
	enum eau2_on_error on_error;
	unsigned threads;          /* 0: one per allowed core */
	/* CSV and SoR: a byte range. With from > 0 the row (SoR line, CSV
	 * record) holding byte `from` is skipped, so ranges that meet split
	 * no row; a last row that does not end inside the range is dropped,
	 * unless the range runs to the end. CSV reads its header from the
	 * file's start. len 0 = to the end; a from past the end is -EINVAL. */
	uint64_t from, len;
	/* Called now and then from the loading thread; may be NULL. */
	void (*progress)(void *ctx, uint64_t bytes_done, uint64_t bytes_total);
	void *progress_ctx;
};

#define EAU2_LOAD_WHERE_MAX 5
struct eau2_load_stats {
	uint64_t rows;     /* rows loaded */
	uint64_t skipped;  /* rows skipped (on_error skip, SoR invalid rows) */
	uint64_t bytes;    /* input bytes read */
	uint64_t columns;  /* columns of the dataframe loaded */
	/* "file:line:column: what" of the first skipped rows */
	char where[EAU2_LOAD_WHERE_MAX][256];
};

/* Loads a CSV, SoR or text file into a new dataframe (not yet under any
 * key; see eau2_put). opt may be NULL for defaults; stats may be NULL.
 * Errors name file:line:column and what was wrong; a failed load leaves
 * nothing in the store. */
int eau2_load(eau2 *db, const char *path, const struct eau2_load_options *opt,
	      eau2_df **df, struct eau2_load_stats *stats, struct eau2_error *err);

/* eau2_load, then eau2_put under key once the whole load succeeded (a
 * failed load or put leaves key as it was, and nothing in the store). On
 * a cluster the partitions go to the nodes while the file is parsed,
 * rather than after. df (may be NULL) gets the dataframe loaded here;
 * stats may be NULL. On a cluster or a remote node, a NULL df lets the
 * store here write the next row groups over those it sent, and the parse
 * wait while too much is unsent: it then holds what is in flight (about
 * 256 MiB), not the whole file. */
int eau2_load_put(eau2 *db, const char *path, const char *key,
		  const struct eau2_load_options *opt, eau2_df **df,
		  struct eau2_load_stats *stats, struct eau2_error *err);

/* Writes df as RFC 4180 CSV with a header row to the file descriptor fd;
 * at most max_rows rows (UINT64_MAX for all). Doubles are printed so that
 * they read back equal; nulls are empty fields. */
int eau2_export_csv(const eau2_df *df, int fd, uint64_t max_rows,
		    struct eau2_error *err);

/* ---------------------------------------------------------------- rowers */

/* One row seen by a row-at-a-time rower: the views of every column of its
 * row group and the row's index in them. */
struct eau2_row {
	const eau2_df *df;
	const struct eau2_chunk_view *cols; /* one per column */
	uint32_t i;                         /* index within the row group */
	uint64_t row;                       /* row number in the dataframe */
};

/* Typed getters on a row: 0 and *out set, EAU2_NULL for a null, -EINVAL for
 * a type mismatch, -ERANGE for a bad column. */
int eau2_row_get_bool(const struct eau2_row *row, size_t col, bool *out);
int eau2_row_get_int(const struct eau2_row *row, size_t col, int64_t *out);
int eau2_row_get_double(const struct eau2_row *row, size_t col, double *out);
int eau2_row_get_string(const struct eau2_row *row, size_t col,
			const char **s, size_t *len);

/* eau2's Fielder: eau2_row_visit calls the callback matching each field's
 * type, in column order (NULL callbacks are skipped). */
struct eau2_fielder {
	void (*on_null)(void *ctx, size_t col);
	void (*on_bool)(void *ctx, size_t col, bool v);
	void (*on_int)(void *ctx, size_t col, int64_t v);
	void (*on_double)(void *ctx, size_t col, double v);
	void (*on_string)(void *ctx, size_t col, const char *s, size_t len);
};
void eau2_row_visit(const struct eau2_row *row, const struct eau2_fielder *f,
		    void *ctx);

/* One row group seen by a vectorised rower. */
struct eau2_group {
	const eau2_df *df;
	size_t group;                       /* row group index */
	uint64_t first_row;
	uint32_t rows;
	const struct eau2_chunk_view *cols; /* one per column */
};

/* NAME=VALUE arguments of a run. */
struct eau2_args {
	size_t n;
	const char *const *names;
	const char *const *values;
};
/* The value of argument name, or NULL when absent. */
const char *eau2_args_get(const struct eau2_args *args, const char *name);

/* What init and finish see of the run. */
struct eau2_run_ctx {
	eau2 *db;                     /* the store, for rowers reading other keys */
	const eau2_df *input;         /* the dataframe run over */
	const struct eau2_args *args; /* never NULL */
	unsigned threads;             /* pool size of this run */
	/* The run's eau2_run_options.cancel (NULL: none): a rower whose
	 * finish runs eau2_run itself passes it on, so that cancelling the
	 * outer run stops the inner one too. */
	const volatile int *cancel;
	/* EAU2_RUN_* bits: where this run's states live (below). */
	unsigned flags;
	/* On the driver of a run over a cluster key (flags has
	 * EAU2_RUN_CLUSTER): that key. Its states see an input of the key's
	 * schema and no rows, and are decoded from the nodes' parts; a
	 * finish that runs again over the same input (linus) passes key to
	 * eau2_run_key. NULL otherwise. */
	const char *key;
};

/* Bits of eau2_run_ctx.flags and eau2_run_options.flags. */
enum {
	/* This run is one part of a run spread over nodes (a node's share of
	 * a cluster run): its joined state is encoded and joined with the
	 * other parts' in another process, which does not hold this input.
	 * A class must not plan on the input being whole (join's one-to-one
	 * zip with its input is off). */
	EAU2_RUN_PART = 1u << 0,
	/* ctx->db is a cluster handle: eau2_put and eau2_run_key on it
	 * spread over the nodes (mandelbrot splits its image rows this way).
	 * Set by the cluster backend for a run without input, and on the
	 * driver's states of a run over a cluster key (with ctx->key). */
	EAU2_RUN_CLUSTER = 1u << 1,
};

enum {
	/* Each morsel gets a fresh state; states are joined in row order, so a
	 * rower that emits rows (filter, map) keeps the input order. */
	EAU2_ROWER_ORDERED = 1u << 0,
	/* Computes without an input dataframe (mandelbrot): eau2_run accepts
	 * df == NULL for it, and refuses NULL for every other class. */
	EAU2_ROWER_NO_INPUT = 1u << 1,
	/* The result for any run over consecutive row groups is the
	 * results of its parts, concatenated in order (filter, map, join:
	 * its small side is broadcast whole; not sort or group-by): on a
	 * cluster a run stored under a key
	 * (eau2_run_key's as) leaves each partition's output on the node
	 * that ran it, and only sizes reach the driver (the option gather
	 * of the driver's handle turns this off: the rows are gathered and
	 * put back out, as for other classes). A class must also give the
	 * same rows for the same input on every run. */
	EAU2_ROWER_ROWWISE = 1u << 2,
};

/* A rower class (eau2's Rower). The executor gives every worker thread its
 * own state (state_size bytes, zeroed, then init), feeds it row groups
 * (accept_chunk when present, else accept for each row), joins the states
 * in a fixed order with join, and calls finish on the survivor. Every
 * state, joined or not, is destroyed. Functions return 0 or -errno with err
 * filled, except accept (1 keep, 0 drop, -errno on error). */
struct eau2_rower_class {
	const char *name;
	const char *summary; /* one line: what it does and its arguments */
	unsigned flags;
	size_t state_size;
	int (*init)(void *state, const struct eau2_run_ctx *ctx,
		    struct eau2_error *err);
	int (*accept)(void *state, const struct eau2_row *row);
	int (*accept_chunk)(void *state, const struct eau2_group *g,
			    struct eau2_error *err);
	/* Merge other into state (eau2's join_delete); other is destroyed
	 * afterwards by the executor. */
	int (*join)(void *state, void *other, struct eau2_error *err);
	/* Serialise a state so it can cross processes and hosts; *buf is
	 * malloc'd and freed by the caller. decode fills an init'ed state. */
	int (*encode)(const void *state, void **buf, size_t *len,
		      struct eau2_error *err);
	int (*decode)(void *state, const void *buf, size_t len,
		      struct eau2_error *err);
	/* Turn the final state into a result dataframe (not under any key). */
	int (*finish)(void *state, const struct eau2_run_ctx *ctx,
		      eau2_df **result, struct eau2_error *err);
	void (*destroy)(void *state);
	/* Optional: sets bit c of used[c / 64] (all clear on entry; ncols
	 * input columns) for each column an init'ed state reads in accept or
	 * accept_chunk. The chunks of the other columns are never touched:
	 * their views are zeroed (type 0, so typed row getters return
	 * -EINVAL). NULL: the run reads every column. */
	void (*columns)(const void *state, uint64_t *used, size_t ncols);
	/* Optional: the NULL-terminated names of the arguments init reads.
	 * eau2_run then refuses (-EINVAL, listing these) any other name. NULL:
	 * not declared, any name passes. A name given twice is refused
	 * either way. */
	const char *const *args;
	/* Optional: the NULL-terminated names of the arguments that name a
	 * side table init reads whole from ctx->db (join's with=KEY, bikes'
	 * stations= and weather=). On a cluster the driver broadcasts each
	 * such table given to every node that runs a part (gathered once;
	 * one over 256 MiB, or the bytes the option bcast_max of the
	 * driver's handle says, is refused naming it) under a
	 * temporary node-local key "eau2.bcast.*", and the nodes see that
	 * key as the argument's value; the driver's own states read the
	 * cluster key. The copies cost the table's bytes once per node. NULL: none; on a cluster, such a class would read a key
	 * of the node's own store. */
	const char *const *side_args;
	/* Optional, both or neither: a shuffle of the states by key range
	 * (a cluster's run whose states are too large to gather on one
	 * process). A state's groups are ordered by a byte string, its
	 * shuffle key, compared as eau2_shuffle_key_cmp does; finish emits
	 * them in that order. A key list is, per key, a u64 length (little
	 * endian) and the bytes.
	 * sample: into *buf (malloc'd, the caller frees it) a key list of
	 * up to n keys of the state's groups, spread over them.
	 * split: the state's encoding cut at the nsplit keys of the key list
	 * splits[splits_len] (outside bytes: checked; sorted, or -EINVAL):
	 * bufs[r] (r in [0, nsplit], each malloc'd, lens[r] bytes) is an
	 * encoding that decode reads, of the groups whose key k has
	 * split[r - 1] <= k < split[r] (no bound at either end). Decoding
	 * range r of every part's state, in partition order, into one
	 * init'ed state and finishing it gives rows r of the result the
	 * parts' states joined would give, bit for bit; the ranges' results
	 * in order are that result. On error nothing is left allocated. */
	int (*sample)(const void *state, size_t n, void **buf, size_t *len,
		      struct eau2_error *err);
	int (*split)(const void *state, const void *splits, size_t splits_len,
		     size_t nsplit, void **bufs, size_t *lens, struct eau2_error *err);
};

/* Order of two shuffle keys: bytes (memcmp) first, then the shorter
 * first. <0, 0 or >0. */
int eau2_shuffle_key_cmp(const void *a, size_t la, const void *b, size_t lb);

/* The split keys of a shuffle into nranges ranges (>= 1) from the
 * samples of its parts' states (nsamples key lists, as a class's sample
 * gives them: outside bytes, checked): the sorted samples cut into
 * nranges runs of about as many keys, so the ranges hold about as many
 * groups. *splits (malloc'd, the caller frees it, *len bytes) is a key
 * list of exactly nranges - 1 sorted keys (empty keys when there are no
 * samples: every group then falls in the last range), as split takes.
 * 0, -EBADMSG for a malformed list, -ENOMEM. */
int eau2_shuffle_splits(const void *const *samples, const size_t *lens,
			size_t nsamples, size_t nranges, void **splits,
			size_t *len, struct eau2_error *err);

/* For a class's columns: marks column c as read. */
static inline void eau2_columns_set(uint64_t *used, size_t c)
{
	used[c / 64] |= 1ull << (c % 64);
}

/* Registers a class (the pointer is kept: it must outlive its use).
 * -EEXIST when the name is taken. Built-ins are registered on first use
 * of the registry. Thread-safe. */
int eau2_rower_register(const struct eau2_rower_class *cls,
			struct eau2_error *err);
/* The class registered under name, or NULL. */
const struct eau2_rower_class *eau2_rower_find(const char *name);
/* Calls fn for every registered class, sorted by name. */
void eau2_rower_foreach(void (*fn)(void *ctx, const struct eau2_rower_class *c),
			void *ctx);

/* A plugin is a shared library exporting
 *     int eau2_plugin_init(struct eau2_error *err);
 * which calls eau2_rower_register for each of its classes. */
#define EAU2_PLUGIN_INIT "eau2_plugin_init"
typedef int (*eau2_plugin_init_fn)(struct eau2_error *err);
int eau2_plugin_load(const char *path, struct eau2_error *err);

struct eau2_run_options {
	unsigned threads;         /* 0: one per allowed core (affinity, cgroup quota) */
	const volatile int *cancel; /* when it becomes non-zero the run stops with -ECANCELED */
	/* Progress (NULL: none): the run adds the rows of each row group it
	 * has visited, with __atomic_fetch_add, so that another thread may
	 * read it (__atomic_load_n) while the run goes on. */
	uint64_t *rows_done;
	/* EAU2_RUN_* bits handed to the states' ctx->flags (0 for a plain
	 * run; the cluster and the nodes set them). */
	unsigned flags;
};

/* Runs cls over df on the pinned pool and returns its result dataframe in
 * *result (not under any key). -EINVAL for an argument name that cls does
 * not declare (see args above) or one given twice. opt and args may be NULL; so may df when
 * cls has EAU2_ROWER_NO_INPUT (one state is init'ed, then finished). */
int eau2_run(eau2 *db, const eau2_df *df, const struct eau2_rower_class *cls,
	     const struct eau2_args *args, const struct eau2_run_options *opt,
	     eau2_df **result, struct eau2_error *err);

/* eau2_run over the dataframe under key where that key lives: on a
 * remote node the run executes there (cls->name must be registered on
 * the node) and only its result crosses the network. key NULL: for a
 * class with EAU2_ROWER_NO_INPUT. as (not NULL or ""): the result is put
 * under as where the run happened and *result is NULL; otherwise *result
 * is the result in the local store (under no key). */
int eau2_run_key(eau2 *db, const char *key, const struct eau2_rower_class *cls,
		 const struct eau2_args *args, const struct eau2_run_options *opt,
		 const char *as, eau2_df **result, struct eau2_error *err);

/* Worker threads a run gets with threads = 0 on this host. */
unsigned eau2_default_threads(void);

/* ---------------------------------------------------------- shared state */

/* A distributed variable and a distributed mutex over the handle's keys.
 * On a cluster they are ZooKeeper's: a watch on the key's directory
 * entry, and ZooKeeper's lock recipe (an ephemeral sequential znode per
 * contender, each watching only the one before it). On the local store:
 * inotify on its keys (as eau2_wait_get) and flock(2) on a file per lock
 * under DIR/locks/. A handle on a remote node (opt.remote) has neither:
 * both fail with -ENOTSUP. */

/* A key's version, as eau2_watch compares it: every put, replace and
 * delete changes it. Locally it is the id of the dataframe the key names
 * (so a put of the very dataframe the key already names is no change); on
 * a cluster, the ZooKeeper transaction that last wrote the key's entry.
 * EAU2_VERSION_NONE: the key does not exist. EAU2_VERSION_ANY: a version
 * no key has; a watch given it returns at once with the key's version. */
#define EAU2_VERSION_NONE 0ull
#define EAU2_VERSION_ANY UINT64_MAX

/* Waits at most timeout_ms (negative: forever) until key's version
 * differs from *version, then stores the version it saw in *version and
 * returns 0; at once when it differs already, so that no change between a
 * read and the wait is lost (start from EAU2_VERSION_ANY). version NULL:
 * waits for the first change after the call starts. Changes that follow
 * each other quickly may be seen as one. -ETIMEDOUT (the message names the
 * key) when nothing changed in time; -ENOTSUP on a remote node; a
 * cluster's ZooKeeper that is unreachable costs at most the handle's
 * timeout beyond timeout_ms. */
int eau2_watch(eau2 *db, const char *key, int timeout_ms, uint64_t *version,
	       struct eau2_error *err);

/* A held lock (opaque). */
struct eau2_lock;

/* Takes the lock called name (1-200 bytes of [A-Za-z0-9._:-]), shared by
 * every process working on the same keys (the same cluster, or the same
 * local store), waiting at most timeout_ms (negative: forever). *lock is
 * then held until eau2_unlock, or until its holder dies: on a cluster when
 * its ZooKeeper session ends (at most the session timeout after a SIGKILL:
 * the handle's timeout, at least 4 s), locally at once (the kernel drops a
 * dead process's flock). Waiters on a cluster take it first come, first
 * served; locally in no order (a waiter polls every 50 ms at most). Not
 * re-entrant: taking a lock the handle already holds waits for the
 * timeout. -ETIMEDOUT with a message naming the lock when it was not
 * free in time, -EINVAL for a bad name, -ENOTSUP on a remote node. Release
 * every lock of a handle before eau2_close. */
int eau2_lock(eau2 *db, const char *name, int timeout_ms, struct eau2_lock **lock,
	      struct eau2_error *err);
/* Releases lock and frees it (NULL: a no-op). It is freed whatever the
 * result: non-zero when ZooKeeper could not be told (then the lock goes
 * with the session, at eau2_close or when it expires). */
int eau2_unlock(struct eau2_lock *lock, struct eau2_error *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* EAU2_H */
