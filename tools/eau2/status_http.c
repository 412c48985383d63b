/* SPDX-License-Identifier: MIT */
/*
 * status_http.c - what `eau2 status` asks of eau2-node's --http service
 * (tools/eau2-node/http): a node's /api/node, the figures only the node
 * knows (its runs, its traffic with remote peers, its view of the
 * cluster), and, for `eau2 --cluster C status`, every member's at once.
 * Each ask is bounded by STATUS_HTTP_MS; the token is the cluster's when
 * a secret is at hand (a loopback service asks for none).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "eau2-node/http/http.h"
#include "status_http.h"

static bool token_of(const char *secret_file, char hex[EAU2_HTTP_TOKEN_HEX + 1])
{
	uint8_t key[EAU2_NET_KEY_BYTES];
	const char *f = secret_file ? secret_file : getenv("EAU2_SECRET_FILE");

	if (!f || !*f || eau2_net_secret_load(f, key, NULL))
		return false;
	eau2_http_token(key, hex);
	sodium_memzero(key, sizeof(key));
	return true;
}

void eau2_cli_probe(const char *secret_file, struct eau2_cli_probe *p, size_t n)
{
	struct eau2_http_get *g = calloc(n ? n : 1, sizeof(*g));
	char hex[EAU2_HTTP_TOKEN_HEX + 1];
	bool tok = token_of(secret_file, hex);

	for (size_t i = 0; i < n; i++)
		p[i].ok = false;
	if (!g)
		return;
	for (size_t i = 0; i < n; i++)
		g[i] = (struct eau2_http_get){ .addr = p[i].addr, .path = "/api/node",
					       .token = tok ? hex : NULL,
					       .max = EAU2_CVIEW_PROBE_BODY_MAX };
	eau2_http_get_many(g, n, STATUS_HTTP_MS);
	for (size_t i = 0; i < n; i++) {
		struct eau2_error err = {0};

		memset(&p[i].node, 0, sizeof(p[i].node));
		p[i].ok = g[i].ok && p[i].addr[0] &&
			  !eau2_http_parse_totals(g[i].buf, g[i].len, &p[i].node, &p[i].t, &err);
		free(g[i].buf);
	}
	sodium_memzero(hex, sizeof(hex));
	free(g);
}

int eau2_cli_node_http(const char *dir, char *addr, size_t cap)
{
	char path[4200];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/" EAU2_HTTP_FILE, dir);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	r = read(fd, addr, cap - 1);
	close(fd);
	if (r <= 0)
		return -ENOENT;
	addr[r] = 0;
	addr[strcspn(addr, "\n")] = 0;
	return eau2_net_split_hostport(addr, path, sizeof(path), &(uint16_t){0}, NULL)
		       ? -EBADMSG : 0;
}
