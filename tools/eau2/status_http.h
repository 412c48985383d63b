/* SPDX-License-Identifier: MIT */
/*
 * status_http.h - `eau2 status` asking eau2-node's --http service
 * (status_http.c).
 */
#ifndef EAU2_CLI_STATUS_HTTP_H
#define EAU2_CLI_STATUS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "eau2-node/http/cview.h"

#define STATUS_HTTP_MS 2000 /* the longest a status waits for the nodes */

struct eau2_cli_probe {
	char addr[EAU2_MEMBER_ADDR_MAX + 1]; /* the node's --http; "" none */
	bool ok;                             /* it answered */
	struct eau2_cview_node node;
	struct eau2_node_totals t;
};

/* GET /api/node of every p[i].addr at once, within STATUS_HTTP_MS.
 * secret_file: --secret-file, or NULL for $EAU2_SECRET_FILE. */
void eau2_cli_probe(const char *secret_file, struct eau2_cli_probe *p, size_t n);
/* The address a node serving store dir publishes in DIR/node.http:
 * 0, -ENOENT (no --http), -EBADMSG. */
int eau2_cli_node_http(const char *dir, char *addr, size_t cap);

#endif
