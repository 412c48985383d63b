/* SPDX-License-Identifier: MIT */
/*
 * place.c - partitions cut at row-group boundaries and placed on nodes
 * balanced by bytes (see place.h). Pure functions: no locks, no I/O.
 * Costs: cut O(groups); assign and repair O(parts x nodes x r), a few
 * million steps for the largest directory entry.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/place.h"

int eau2_place_cut(const uint64_t *group_bytes, size_t n, uint64_t target,
		   size_t min_parts, size_t max_parts,
		   struct eau2_place_range **out, size_t *nout,
		   struct eau2_error *err)
{
	struct eau2_place_range *r;
	uint64_t total = 0, done = 0;
	size_t want, k = 0;

	*out = NULL;
	*nout = 0;
	if (n == 0)
		return 0;
	if (max_parts == 0 || max_parts > n)
		max_parts = n;
	if (!target)
		target = EAU2_PLACE_PART_BYTES;
	for (size_t i = 0; i < n; i++)
		total += group_bytes[i];
	want = (size_t)((total + target - 1) / target);
	if (want < min_parts)
		want = min_parts;
	if (want < 1)
		want = 1;
	if (want > max_parts)
		want = max_parts;
	if (!(r = calloc(want, sizeof(*r))))
		return eau2_error_set(err, -ENOMEM, "placement: out of memory");
	/* Range k ends at the first group boundary at or past k+1 shares of
	 * the total, leaving at least one group to each later range. */
	for (size_t i = 0; i < n; i++) {
		bool last = k == want - 1;

		if (r[k].ngroups == 0)
			r[k].group = i;
		r[k].ngroups++;
		r[k].bytes += group_bytes[i];
		done += group_bytes[i];
		if (!last && (n - i - 1 == want - k - 1 ||
			      (double)done >= (double)total * (double)(k + 1) / (double)want))
			k++;
	}
	*out = r;
	*nout = k + 1;
	return 0;
}

/* The best node for a partition of b bytes not already among taken[0..nt):
 * least load, then most room, then lowest index; -1 when none fits. */
static long best_node(const struct eau2_place_node *nodes, size_t n_nodes,
		      const unsigned char *alive, uint64_t b,
		      const uint32_t *taken, size_t nt)
{
	long best = -1;

	for (size_t k = 0; k < n_nodes; k++) {
		bool dup = false;

		if (alive && !alive[k])
			continue;
		for (size_t j = 0; j < nt; j++)
			dup |= taken[j] == k;
		if (dup || nodes[k].load > nodes[k].free || nodes[k].free - nodes[k].load < b)
			continue;
		if (best < 0 || nodes[k].load < nodes[best].load ||
		    (nodes[k].load == nodes[best].load &&
		     nodes[k].free - nodes[k].load > nodes[best].free - nodes[best].load))
			best = (long)k;
	}
	return best;
}

/* The order to place partitions in: largest first, lower index on ties
 * (deterministic; qsort takes no context for the byte counts). */
static void order_desc(const uint64_t *bytes, size_t n, size_t *idx)
{
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	/* Shell sort on (bytes desc, index asc): a total order. */
	for (size_t gap = n / 2; gap > 0; gap /= 2)
		for (size_t i = gap; i < n; i++) {
			size_t t = idx[i], j = i;

			while (j >= gap) {
				size_t u = idx[j - gap];

				if (bytes[u] > bytes[t] || (bytes[u] == bytes[t] && u < t))
					break;
				idx[j] = u;
				j -= gap;
			}
			idx[j] = t;
		}
}

int eau2_place_assign(struct eau2_place_node *nodes, size_t n_nodes,
		      const uint64_t *bytes, size_t nparts, unsigned r,
		      uint32_t *out, struct eau2_error *err)
{
	size_t *order;
	int rc = 0;

	if (r == 0 || r > n_nodes)
		return eau2_error_set(err, -EINVAL, "placement: %u replicas asked, the cluster "
				      "has %zu live node%s", r, n_nodes, n_nodes == 1 ? "" : "s");
	if (nparts == 0)
		return 0;
	if (!(order = malloc(nparts * sizeof(*order))))
		return eau2_error_set(err, -ENOMEM, "placement: out of memory");
	order_desc(bytes, nparts, order);
	for (size_t o = 0; o < nparts && rc == 0; o++) {
		size_t i = order[o];

		for (unsigned j = 0; j < r; j++) {
			long k = best_node(nodes, n_nodes, NULL, bytes[i], &out[i * r], j);

			if (k < 0) {
				rc = eau2_error_set(err, -ENOSPC, "placement: partition %zu (%llu "
						    "bytes) fits on %u of the %u nodes it needs",
						    i, (unsigned long long)bytes[i], j, r);
				break;
			}
			out[i * r + j] = (uint32_t)k;
			nodes[k].load += bytes[i];
		}
	}
	free(order);
	return rc;
}

int eau2_place_repair(struct eau2_place_node *nodes, size_t n_nodes,
		      const unsigned char *alive, const uint64_t *bytes,
		      const uint32_t *reps, const uint32_t *nrep, size_t maxrep,
		      size_t nparts, unsigned r,
		      struct eau2_place_copy *copies, size_t *ncopies,
		      size_t *lost, size_t *nlost, struct eau2_error *err)
{
	uint32_t *have;
	int rc = 0;

	*ncopies = 0;
	*nlost = 0;
	if (!(have = malloc((maxrep + r + 1) * sizeof(*have))))
		return eau2_error_set(err, -ENOMEM, "repair plan: out of memory");
	for (size_t i = 0; i < nparts; i++) {
		size_t live = 0;

		for (size_t j = 0; j < nrep[i]; j++) {
			uint32_t k = reps[i * maxrep + j];

			if (k < n_nodes && alive[k])
				have[live++] = k;
		}
		if (live == 0) {
			lost[(*nlost)++] = i;
			continue;
		}
		/* Copies read from the first live replica; the targets take
		 * the load as assign would. */
		while (live < r) {
			long k = best_node(nodes, n_nodes, alive, bytes[i], have, live);

			if (k < 0) {
				rc = eau2_error_set(err, -ENOSPC, "repair plan: partition %zu has %zu "
						    "live replicas of %u and no node to take another",
						    i, live, r);
				goto out;
			}
			copies[(*ncopies)++] = (struct eau2_place_copy){
				.part = i, .from = have[0], .to = (uint32_t)k,
			};
			nodes[k].load += bytes[i];
			have[live++] = (uint32_t)k;
		}
	}
out:
	free(have);
	return rc;
}
