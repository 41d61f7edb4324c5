// SPDX-License-Identifier: MIT
/* A set of names over an indexed collection; see name_set.h. */
#include <stdlib.h>
#include <string.h>

#include "name_set.h"

/* Index of the item called name[0..len), or -1. */
long ks_nset_find(const struct ks_name_set *ns, const char *name, size_t len, ks_name_at_fn at,
		  const void *ctx)
{
	size_t mask = ns->cap - 1, i, k;
	const char *other;

	if (!ns->cap)
		return -1;
	for (i = (size_t)ks_fnv1a(name, len) & mask; (k = ns->slot[i]) != 0; i = (i + 1) & mask) {
		other = at(ctx, k - 1);
		if (strlen(other) == len && !memcmp(other, name, len))
			return (long)(k - 1);
	}
	return -1;
}

static void nset_put(struct ks_name_set *ns, size_t item, const char *name)
{
	size_t mask = ns->cap - 1, i;

	for (i = (size_t)ks_fnv1a(name, strlen(name)) & mask; ns->slot[i]; i = (i + 1) & mask)
		;
	ns->slot[i] = item + 1;
}

/* Add item (whose name is not in the set yet); n: the number of items including it. */
int ks_nset_add(struct ks_name_set *ns, size_t item, size_t n, ks_name_at_fn at, const void *ctx)
{
	size_t cap, *slot;

	if (2 * n > ns->cap) {
		cap = ns->cap ? 2 * ns->cap : 16;
		while (2 * n > cap)
			cap *= 2;
		slot = calloc(cap, sizeof(*slot));
		ENSURE(slot, -ENOMEM);
		free(ns->slot);
		ns->slot = slot;
		ns->cap = cap;
		/* Rehash the items added before: 0..n-1 except item, which comes next. */
		for (size_t i = 0; i < n; i++)
			if (i != item)
				nset_put(ns, i, at(ctx, i));
	}
	nset_put(ns, item, at(ctx, item));
	return 0;
}

void ks_nset_free(struct ks_name_set *ns)
{
	free(ns->slot);
	ns->slot = NULL;
	ns->cap = 0;
}
