/* SPDX-License-Identifier: MIT */
/*
 * name_set: the names of an indexed collection (config.c's [cert:NAME] sections, a listener's
 * certs), hashed, so that finding one among 10,000 costs one probe, not 10,000 comparisons.
 * The set stores indices only; names are read back through a callback, so items may move
 * (a realloc'd array) without the set noticing. Open addressing with linear probing; a slot
 * holds an item's index + 1 (0: empty); cap is a power of two at least twice the item count.
 */
#ifndef KSTAPLE_NAME_SET_H
#define KSTAPLE_NAME_SET_H

#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"

struct ks_name_set {
	size_t *slot;
	size_t cap;
};

/* The name of item i of whatever the set indexes. */
typedef const char *(*ks_name_at_fn)(const void *ctx, size_t i);

/* Index of the item called name[0..len), or -1. */
long ks_nset_find(const struct ks_name_set *ns, const char *name, size_t len, ks_name_at_fn at,
		  const void *ctx);

/*
 * Add item, whose name is not in the set yet; n is the number of items including it (items
 * 0..n-1 are rehashed when the table grows). 0 or -ENOMEM (the set is unchanged).
 */
KS_MUST_CHECK int ks_nset_add(struct ks_name_set *ns, size_t item, size_t n, ks_name_at_fn at,
			      const void *ctx);

void ks_nset_free(struct ks_name_set *ns);

#endif /* KSTAPLE_NAME_SET_H */
