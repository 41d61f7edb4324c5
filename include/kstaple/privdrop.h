/* SPDX-License-Identifier: MIT */
/*
 * privdrop: least privilege for the agent, `[kstaple] user` and `group`.
 *
 * Started as root, the agent binds its listeners and loads its BPF programs, then calls
 * ks_privdrop() once, before it starts any thread (capabilities are per thread, so a drop in a
 * multi-threaded process could not be complete: it is refused). In order:
 *   1. look up user and group (an unknown name is an error, nothing has changed yet);
 *   2. state_dir: when running as root and the directory is not writable by the user, chown
 *      the directory itself (not its contents) to user:group;
 *   3. setgroups (none), setresgid, setresuid, each checked; PR_SET_KEEPCAPS only while the
 *      uid changes, and only when capabilities are to be kept;
 *   4. permitted = effective = keep_caps, inheritable and ambient empty; the bounding set is
 *      reduced to keep_caps when CAP_SETPCAP allows it;
 *   5. PR_SET_NO_NEW_PRIVS: no exec can regain anything (setuid binaries, file capabilities);
 *   6. verify: real, effective and saved uid and gid, supplementary groups, the capability
 *      sets, no_new_privs, that setuid(0) now fails, and that state_dir is writable.
 * Any failure is logged in words an operator can act on and returned; the caller must exit:
 * a half-dropped process is never left running.
 */
#ifndef KSTAPLE_PRIVDROP_H
#define KSTAPLE_PRIVDROP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kstaple/common.h"

/* A set of capabilities: bit n is capability n of <linux/capability.h> (CAP_NET_ADMIN = 12). */
#define KS_CAP(c) (UINT64_C(1) << (c))

/* What `kstaple serve` keeps when telemetry must re-attach its BPF programs after the drop. */
#define KS_CAPS_TELEMETRY_REATTACH (KS_CAP(12) /* CAP_NET_ADMIN */ | KS_CAP(39) /* CAP_BPF */)

struct ks_privdrop {
	const char *user;      /* NULL: no drop (a warning is logged when running as root) */
	const char *group;     /* NULL: the primary group of user */
	const char *state_dir; /* NULL: not checked */
	uint64_t keep_caps;    /* KS_CAP() bits kept in the permitted and effective sets */
};

/*
 * Look up user and group (group NULL: the user's primary group). -ENOENT (logged) when one
 * does not exist, -EINVAL for a group without a user or for user root.
 */
KS_MUST_CHECK int ks_privdrop_resolve(const char *user, const char *group, uid_t *uid, gid_t *gid);

/*
 * Drop privileges as described above. 0 on success (or when p->user is NULL); a negative
 * errno otherwise, after which the process must exit.
 */
KS_MUST_CHECK int ks_privdrop(const struct ks_privdrop *p);

#endif /* KSTAPLE_PRIVDROP_H */
