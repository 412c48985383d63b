/* SPDX-License-Identifier: MIT */
/*
 * main.c - the eau2-node command: serve a store to local clients (in the
 * foreground with logs on stderr, or as a daemon logging to
 * DIR/node.log) and, with --listen, to remote peers over TCP
 * (src/node/remote.h), and `eau2-node status`, which prints what a running node
 * knows: its connections and the reference counts of the dataframes they
 * hold. Exit status: 0 success, 1 user error (bad option, store refused,
 * another node running, no node to ask), 2 internal failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/env_options.h"
#include "eau2-node/http/http.h"
#include "eau2-node/join.h"
#include "eau2.h"
#include "node/node.h"
#include "node/remote.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: eau2-node [--store DIR] [--daemon] [--quiet] [--no-runs] [--plugin FILE.so]...\n"
		"                 [--listen HOST:PORT [--secret-file FILE] [--advertise HOST:PORT]]\n"
		"                 [--http HOST:PORT] [--zk CONNECT [--cluster NAME]\n"
		"                 [--repair-rate BYTES/s] [--heartbeat MS] [--dead-after MS]]\n"
		"       eau2-node status [--store DIR]\n"
		"       eau2-node http-token [--secret-file FILE]\n"
		"       eau2-node --version | --help\n\n"
		"Serves the eau2 store DIR (default: $EAU2_STORE, else /dev/shm/eau2-$USER)\n"
		"to the processes of its owner over the Unix socket DIR/node.sock. Clients\n"
		"(every program using libeau2) attach by themselves when a node runs, and\n"
		"use the store directly otherwise. One node per store: a second one exits.\n"
		"'eau2 run' sends its run to the node, which executes it on a run thread\n"
		"(one run at a time, turns taken round-robin across clients) over the\n"
		"inputs it keeps open from earlier runs: warm runs.\n\n"
		"options:\n"
		"  --store DIR     the store directory\n"
		"  --daemon        detach; log to DIR/node.log; print the node's pid\n"
		"  --quiet         log errors only (not every connect and disconnect)\n"
		"  --no-runs       execute no runs for clients: 'eau2 run' then runs in\n"
		"                  its own process, as without a node\n"
		"  --plugin FILE   load a rower plugin at start (repeatable; the same\n"
		"                  list as the clients' --plugin, so the node knows the\n"
		"                  rowers it may be asked to run); a plugin that fails\n"
		"                  to load stops the node from starting\n"
		"  --listen HOST:PORT  also serve remote peers over TCP there (port 0: any\n"
		"                  free port; the log says which). Without a secret only\n"
		"                  loopback addresses are accepted, and the log says so\n"
		"  --secret-file FILE  the cluster secret (mode 600; default\n"
		"                  $EAU2_SECRET_FILE): peers must prove they know it; it\n"
		"                  never crosses the network\n"
		"  --advertise HOST:PORT  the address peers know this node by (its node\n"
		"                  id in their logs; default the host name and port)\n"
		"  --zk CONNECT    join a cluster: register in ZooKeeper CONNECT\n"
		"                  (HOST:PORT[,HOST:PORT...][/NAME]) with the address\n"
		"                  (--advertise, else --listen's), cores, memory and\n"
		"                  free store bytes, until the node stops (needs --listen)\n"
		"  --cluster NAME  the cluster to join (default /NAME of --zk, else eau2)\n"
		"  --repair-rate BYTES/s  with --zk: how fast a partition left with too\n"
		"                  few replicas after a node's death is copied again,\n"
		"                  node to node (default 62500000, half a 1 Gbit/s link;\n"
		"                  0: no limit; else at least 65536). Every joined node\n"
		"                  repairs while it leads (one at a time, chosen in\n"
		"                  ZooKeeper), and at start drops the partitions no\n"
		"                  directory entry names on it any more\n"
		"  --heartbeat MS  PING a driver waiting on a run every MS (default 1000;\n"
		"                  drivers PING the node with their own --heartbeat)\n"
		"  --dead-after MS the ZooKeeper session (default 10000): once the node\n"
		"                  dies its member znode goes within MS and every driver\n"
		"                  counts it dead, heartbeats or not\n"
		"  --http HOST:PORT  serve /metrics (Prometheus), /api/status (JSON) and\n"
		"                  a dashboard at /, read-only; port 0 picks a free one\n"
		"                  (the log says which). A non-loopback HOST needs the\n"
		"                  cluster secret, and requests then need its token:\n"
		"                  'Authorization: Bearer TOKEN', or TOKEN as a browser's\n"
		"                  password; 'eau2-node http-token' prints TOKEN. With --zk\n"
		"                  the pages show the whole cluster: every member (asked\n"
		"                  for its figures every second; dead once gone from\n"
		"                  ZooKeeper or silent for 2 s) and the distributed keys\n\n"
		"SIGTERM or SIGINT stops the node cleanly (it removes DIR/node.sock).\n"
		"'status' prints the node's pid, one 'conn PID IDS REFS' line per client\n"
		"and one 'id ID REFS CONNS keyed|deleted' line per dataframe held.\n");
}

static int errorf(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int errorf(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "eau2-node: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* Where the remote service logs: stderr, or DIR/node.log once a daemon. */
static int log_fd = 2;
static int log_quiet;

static void remote_log(void *ctx, enum eau2_net_log_level level, const char *text)
{
	char line[1200];
	struct timespec ts;
	struct tm tm;
	int n;

	(void)ctx;
	if (log_fd < 0 || (log_quiet && level == EAU2_NET_LOG_INFO))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "eau2-node[%d] %02d:%02d:%02d.%03ld remote: %s\n",
		     (int)getpid(), tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     text);
	if (n > (int)sizeof(line) - 1) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(log_fd, line, (size_t)n) < 0) {
		/* nowhere left to say it */
	}
}

static int status_cmd(const char *store)
{
	struct eau2_error err = {0};
	struct eau2_node_client *c = NULL;
	struct eau2_node_status *st = NULL;
	struct eau2_options o;
	eau2 *db = NULL;
	size_t i;
	int rc;

	eau2_env_options(&o, store);
	if (o.node == EAU2_NODE_OFF)
		return errorf(1, "%s", "status: EAU2_NODE disables attaching to a node");
	/* Opening checks that DIR is an eau2 store of ours; the handle itself
	 * stays embedded so that the node sees one connection from us. */
	o.node = EAU2_NODE_OFF;
	rc = eau2_open(&db, &o, &err);
	if (rc)
		return errorf(1, "%s", err.msg);
	rc = eau2_node_attach(eau2_dir(db), &c, &err);
	if (!rc)
		rc = eau2_node_status(c, &st, &err);
	if (rc) {
		fprintf(stderr, "eau2-node: %s\n", err.msg);
		rc = rc == -ENOTCONN ? 1 : 2;
		goto out;
	}
	printf("node %d %s\n", (int)st->node_pid, eau2_dir(db));
	for (i = 0; i < st->nconns; i++)
		printf("conn %d %u %llu\n", (int)st->conns[i].pid, st->conns[i].nids,
		       (unsigned long long)st->conns[i].refs);
	for (i = 0; i < st->nids; i++)
		printf("id %016llx %u %u %s\n", (unsigned long long)st->ids[i].id,
		       st->ids[i].refs, st->ids[i].nconns,
		       st->ids[i].keyed ? "keyed" : "deleted");
out:
	free(st);
	eau2_node_client_unref(c);
	eau2_close(db);
	return rc;
}

/* Prints the bearer token of --http for the cluster secret. */
static int token_cmd(const char *secret_file)
{
	struct eau2_error err = {0};
	uint8_t key[EAU2_NET_KEY_BYTES];
	char hex[EAU2_HTTP_TOKEN_HEX + 1];

	if (!secret_file)
		return errorf(1, "%s", "http-token: needs --secret-file FILE or EAU2_SECRET_FILE");
	if (eau2_net_secret_load(secret_file, key, &err))
		return errorf(1, "http-token: %s", err.msg);
	eau2_http_token(key, hex);
	printf("%s\n", hex);
	return 0;
}

/* The --listen service's counters, for --http's pages. */
static size_t http_peers(void *ctx, struct eau2_http_peer *out, size_t cap)
{
	return eau2_remote_server_peers(ctx, out, cap);
}

static void http_runs(void *ctx, struct eau2_http_runs *out, size_t cap)
{
	out->n = eau2_node_server_runs(ctx, &out->running, out->rower, cap, out->item,
				       EAU2_HTTP_RUN_ITEMS, &out->nitems);
}

/* The address other nodes reach the dashboard at: the bound one, its
 * wildcard host (0.0.0.0, [::]) replaced by members.c with the host name. */
static const char *http_public(struct eau2_http *http)
{
	return http ? eau2_http_addr(http) : NULL;
}

/* Starts the cluster view on the joined session zk as node id; the
 * probe's token is the cluster's (nodes on other hosts serve --http with
 * one). */
static int cview_start(struct eau2_cview *cv, eau2_zk *zk, const char *id,
		       const char *secret_file, struct eau2_error *err)
{
	uint8_t key[EAU2_NET_KEY_BYTES];
	char hex[EAU2_HTTP_TOKEN_HEX + 1];
	int rc;

	if (secret_file) {
		if ((rc = eau2_net_secret_load(secret_file, key, err)))
			return rc;
		eau2_http_token(key, hex);
		sodium_memzero(key, sizeof(key));
	}
	rc = eau2_cview_start(cv, zk, id, NULL, NULL, secret_file ? hex : NULL, err);
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/* The cluster view follows the node's session (node_session_fn). */
struct cview_hook {
	struct eau2_cview *cv;   /* NULL without --http */
	const char *secret_file;
};

static void cview_follow(void *ctx, eau2_zk *zk, const char *id)
{
	struct cview_hook *h = ctx;
	struct eau2_error err = {0};

	if (!h->cv)
		return;
	if (!zk)
		eau2_cview_stop(h->cv);
	else if (cview_start(h->cv, zk, id, h->secret_file, &err))
		fprintf(stderr, "eau2-node: the dashboard's cluster view stays stopped: %s\n",
			err.msg);
}

/* DIR/node.http: where --http serves, for `eau2 status` on the store
 * (removed when the node stops; a killed node's stays, and then does not
 * answer). Written to a temporary and renamed into place. */
static void http_file(const char *dir, const char *addr, bool on)
{
	char path[4096], tmp[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/" EAU2_HTTP_FILE, dir);
	if (!on) {
		unlink(path);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return; /* eau2 status then says the node serves no --http */
	if (dprintf(fd, "%s\n", addr) < 0 || close(fd) || rename(tmp, path))
		unlink(tmp);
}

/* Forks; the child becomes the node and tells the parent, through a pipe,
 * once it has recorded its pid; the parent prints it and exits. */
static int daemonize(struct eau2_node_server *srv)
{
	struct eau2_error err = {0};
	char path[4096];
	int p[2], logfd, devnull;
	pid_t pid;
	char ok;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errorf(2, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		return errorf(2, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ok, 1) != 1)
			return errorf(2, "%s", "the daemon died while starting");
		printf("%d\n", (int)pid);
		fflush(stdout);
		_exit(0);
	}
	close(p[0]);
	setsid();
	snprintf(path, sizeof(path), "%s/" EAU2_NODE_LOG, eau2_node_server_dir(srv));
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0) {
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		if (devnull > 2)
			close(devnull);
	}
	eau2_node_server_set_log(srv, logfd);
	log_fd = logfd;
	if (eau2_node_server_forked(srv, &err) < 0)
		_exit(2);
	ok = 1;
	if (write(p[1], &ok, 1) != 1)
		_exit(2);
	close(p[1]);
	return 0;
}

int main(int argc, char **argv)
{
	struct eau2_node_server_opts opts = { .log_fd = 2 };
	struct eau2_options env;
	struct eau2_node_server *srv = NULL;
	struct eau2_error err = {0};
	const char *store = NULL, *listen_addr = NULL, *advertise = NULL, *http_addr = NULL;
	const char *zk = NULL, *cluster = NULL, *repair_rate = NULL;
	unsigned long long rate = NODE_REPAIR_RATE_DEFAULT;
	struct node_join *join = NULL;
	const char *secret_file = getenv("EAU2_SECRET_FILE");
	eau2_remote_server *remote = NULL;
	struct eau2_http *http = NULL;
	struct eau2_cview *cview = NULL;
	struct cview_hook hook = {0};
	int daemon = 0, status = 0, token = 0, nplugins = 0, secret_opt = 0, i, rc;
	int heartbeat_ms = 0, dead_after_ms = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("eau2-node %d.%d (protocol %u)\n", EAU2_VERSION_MAJOR,
			       EAU2_VERSION_MINOR, EAU2_NODE_VERSION);
			return 0;
		} else if (!strcmp(a, "--store") || !strcmp(a, "--listen") ||
			   !strcmp(a, "--plugin")) {
			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			if (a[2] == 's')
				store = argv[++i];
			else if (a[2] == 'l')
				listen_addr = argv[++i];
			else if (eau2_plugin_load(argv[++i], &err))
				return errorf(1, "%s", err.msg);
			else
				nplugins++;
		} else if (!strcmp(a, "--secret-file") || !strcmp(a, "--advertise")) {
			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			secret_opt = a[2] == 's';
			if (a[2] == 's')
				secret_file = argv[++i];
			else
				advertise = argv[++i];
		} else if (!strncmp(a, "--secret-file=", 14)) {
			secret_file = a + 14;
			secret_opt = 1;
		} else if (!strncmp(a, "--advertise=", 12)) {
			advertise = a + 12;
		} else if (!strncmp(a, "--store=", 8)) {
			store = a + 8;
		} else if (!strncmp(a, "--listen=", 9)) {
			listen_addr = a + 9;
		} else if (!strcmp(a, "--zk") || !strcmp(a, "--cluster")) {
			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			*(a[2] == 'z' ? &zk : &cluster) = argv[++i];
		} else if (!strcmp(a, "--repair-rate")) {
			char *end;

			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			repair_rate = argv[++i];
			errno = 0;
			rate = strtoull(repair_rate, &end, 10);
			if (errno || end == repair_rate || *end || repair_rate[0] == '-' ||
			    (rate && rate < EAU2_REMOTE_RATE_MIN))
				return errorf(1, "--repair-rate '%s': want 0 or bytes/s of at least "
					      "%u", repair_rate, EAU2_REMOTE_RATE_MIN);
		} else if (!strcmp(a, "--heartbeat") || !strcmp(a, "--dead-after")) {
			char *end;
			long v;

			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			errno = 0;
			v = strtol(argv[++i], &end, 10);
			if (errno || end == argv[i] || *end || v < 1 || v > 3600000)
				return errorf(1, "%s: '%s' is not a number of milliseconds "
					      "(1 to 3600000)", a, argv[i]);
			*(a[2] == 'h' ? &heartbeat_ms : &dead_after_ms) = (int)v;
		} else if (!strcmp(a, "--http")) {
			if (i + 1 >= argc)
				return errorf(1, "%s needs an argument", a);
			http_addr = argv[++i];
		} else if (!strcmp(a, "http-token") && !status) {
			token = 1;
		} else if (!strcmp(a, "--daemon")) {
			daemon = 1;
		} else if (!strcmp(a, "--quiet")) {
			opts.quiet = 1;
		} else if (!strcmp(a, "--no-runs")) {
			opts.no_runs = 1;
		} else if (!strcmp(a, "status") && !status && !token) {
			status = 1;
		} else {
			usage(stderr);
			return errorf(1, "unknown argument '%s'", a);
		}
	}
	if (secret_file && !*secret_file)
		secret_file = NULL;
	if (advertise && !listen_addr)
		return errorf(1, "%s", "--advertise goes with --listen");
	if (zk && !listen_addr)
		return errorf(1, "%s", "--zk needs --listen HOST:PORT (peers reach the node there)");
	if (cluster && !zk)
		return errorf(1, "%s", "--cluster goes with --zk");
	if (repair_rate && !zk)
		return errorf(1, "%s", "--repair-rate goes with --zk");
	if ((heartbeat_ms || dead_after_ms) && !zk)
		return errorf(1, "%s", "--heartbeat and --dead-after go with --zk");
	if (secret_opt && !listen_addr && !http_addr && !token)
		return errorf(1, "%s", "--secret-file goes with --listen, --http or http-token");
	if (status)
		return daemon ? errorf(1, "%s", "status takes no --daemon") : status_cmd(store);
	if (token)
		return token_cmd(secret_file);

	eau2_env_options(&env, store); /* the store: --store, else $EAU2_STORE */
	rc = eau2_node_server_open(&srv, env.store, &opts, &err);
	if (rc)
		return errorf(rc == -ENOMEM || rc == -EIO ? 2 : 1, "%s", err.msg);
	if (nplugins && !opts.quiet)
		fprintf(stderr, "eau2-node: %d plugin%s loaded\n", nplugins,
			nplugins > 1 ? "s" : "");
	if (daemon && (rc = daemonize(srv))) {
		eau2_node_server_close(srv);
		return rc;
	}
	if (listen_addr) {
		struct eau2_remote_server_opts ro = {
			.listen = listen_addr, .secret_file = secret_file,
			.node_id = advertise, .store = eau2_node_server_dir(srv),
			.log = remote_log, .ping_ms = heartbeat_ms,
			.stats = eau2_node_server_rstats(srv),
		};

		log_quiet = opts.quiet;
		rc = eau2_remote_server_start(&remote, &ro, &err);
		if (rc) {
			eau2_node_server_close(srv);
			return errorf(rc == -ENOMEM ? 2 : 1, "%s", err.msg);
		}
	}
	if (http_addr) {
		struct eau2_http_opts ho = { .addr = http_addr, .secret_file = secret_file,
					     .store = eau2_node_server_dir(srv), .srv = srv,
					     .remote = remote, .log_fd = 2 };
		char path[4096];

		if (daemon) { /* stderr is /dev/null now: the service logs to node.log too */
			snprintf(path, sizeof(path), "%s/" EAU2_NODE_LOG, ho.store);
			ho.log_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		}
		if (remote) {
			ho.peers = http_peers;
			ho.peers_ctx = remote;
		}
		ho.runs = http_runs; /* warm runs, and the remote service's */
		ho.runs_ctx = srv;
		rc = zk ? eau2_cview_new(&cview, &err) : 0;
		ho.cluster = cview;
		if (rc || (rc = eau2_http_start(&http, &ho, &err))) {
			eau2_cview_free(cview);
			eau2_remote_server_stop(remote);
			eau2_node_server_close(srv);
			return errorf(rc == -ENOMEM ? 2 : 1, "%s", err.msg);
		}
	}
	hook.cv = cview;
	hook.secret_file = secret_file;
	if (zk && ((rc = node_join(zk, cluster, listen_addr, eau2_remote_server_port(remote),
				   advertise, http_public(http), eau2_node_server_dir(srv),
				   dead_after_ms, &join, &err)) ||
		   (cview && (rc = cview_start(cview, node_join_zk(join), node_join_id(join),
					       secret_file, &err))) ||
		   (rc = node_repair_start(join, secret_file, rate, &err)) ||
		   (rc = node_keep(join, cview_follow, &hook, &err)))) {
		eau2_http_stop(http);
		eau2_cview_free(cview);
		node_leave(join);
		eau2_remote_server_stop(remote);
		eau2_node_server_close(srv);
		return errorf(rc == -ENOMEM ? 2 : 1, "%s", err.msg);
	}
	if (join)
		fprintf(stderr, "eau2-node: joined the cluster as node %s\n", node_join_id(join));
	if (http)
		http_file(eau2_node_server_dir(srv), eau2_http_addr(http), true);
	rc = eau2_node_server_run(srv, &err);
	if (http)
		http_file(eau2_node_server_dir(srv), NULL, false);
	eau2_http_stop(http);
	node_leave(join); /* stops the cluster view first (cview_follow) */
	eau2_cview_free(cview);
	eau2_remote_server_stop(remote);
	eau2_node_server_close(srv);
	if (rc)
		return errorf(2, "%s", err.msg);
	return 0;
}
