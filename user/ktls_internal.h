/* SPDX-License-Identifier: MIT */
/* Shared by ktls.c, ktls_offload.c and ktls_record.c; not an interface for other modules. */
#ifndef KSTAPLE_KTLS_INTERNAL_H
#define KSTAPLE_KTLS_INTERNAL_H

#include <stdbool.h>

#include "kstaple/ktls.h"

/* Log "kTLS: <reason>: <what> stay in userspace" the first time why is seen. */
void ks_ktls_log_once(enum ks_ktls_why why, int err, const char *what);
/* Count a session by the directions it ended up with (0: nothing counted here). */
void ks_ktls_count_path(unsigned dirs);
/* Count a KeyUpdate: applied in the kernel, or the session closed because it could not be. */
void ks_ktls_count_key_update(bool applied);

#endif /* KSTAPLE_KTLS_INTERNAL_H */
