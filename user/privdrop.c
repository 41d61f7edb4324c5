// SPDX-License-Identifier: MIT
/*
 * Least privilege: switch to [kstaple] user/group keeping only the capabilities asked for, then
 * check that the kernel agrees. Capabilities go through libcap (cap_t sets, the ambient and
 * bounding helpers) rather than raw capget/capset, whose ABI versions and 64-bit split are
 * easy to get wrong. See privdrop.h for the sequence and why each step is there.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/capability.h>

#include "kstaple/log.h"
#include "kstaple/privdrop.h"

_Static_assert(CAP_NET_ADMIN == 12 && CAP_BPF == 39, "KS_CAPS_TELEMETRY_REATTACH's numbers");

/* getpwnam_r/getgrnam_r buffers: glibc's sysconf hint is 1024; big group lists need more. */
#define NSS_BUF 16384

int ks_privdrop_resolve(const char *user, const char *group, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	char *buf;
	int r, ret = 0;

	if (!user) {
		ks_err("[kstaple] group = %s is set without user: set user too",
		       group ? group : "(unset)");
		return -EINVAL;
	}
	buf = malloc(NSS_BUF);
	ENSURE(buf, -ENOMEM);
	r = getpwnam_r(user, &pw, buf, NSS_BUF, &pwr);
	if (r || !pwr) {
		/* 0 with no entry is "no such user"; anything else is a lookup failure. */
		ret = r ? -r : -ENOENT;
		ks_err("[kstaple] user = %s: %s", user,
		       r ? strerror(r) : "no such user (create it, e.g. `useradd --system`)");
		goto out;
	}
	if (pwr->pw_uid == 0) {
		ks_err("[kstaple] user = %s is root: that drops nothing; name an unprivileged user "
		       "or remove the line",
		       user);
		ret = -EINVAL;
		goto out;
	}
	*uid = pwr->pw_uid;
	*gid = pwr->pw_gid;
	if (group) {
		r = getgrnam_r(group, &gr, buf, NSS_BUF, &grr);
		if (r || !grr) {
			ret = r ? -r : -ENOENT;
			ks_err("[kstaple] group = %s: %s", group,
			       r ? strerror(r)
				 : "no such group (create it, e.g. `groupadd --system`)");
			goto out;
		}
		*gid = grr->gr_gid;
	}
out:
	free(buf);
	return ret;
}

/* Capabilities are per thread: with a second thread alive, a drop here would be partial. */
static int check_single_threaded(void)
{
	char line[256];
	long n = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f) {
		ks_warn("privilege drop: cannot read /proc/self/status (%s); assuming one thread",
			strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	if (n > 1) {
		ks_err("privilege drop: %ld threads are running; the drop must happen before any "
		       "thread starts (capabilities are per thread)",
		       n);
		return -EBUSY;
	}
	return 0;
}

/* Directories whose ownership must never be handed to the agent's user, however configured. */
static bool is_system_dir(const char *real)
{
	static const char *const dirs[] = {
		"/",	"/bin",	 "/boot",    "/dev",	 "/etc",     "/home",	 "/lib", "/lib64",
		"/opt", "/proc", "/root",    "/run",	 "/sbin",    "/srv",	 "/sys", "/tmp",
		"/usr", "/var",	 "/var/lib", "/var/tmp", "/var/log", "/var/run", NULL
	};

	for (size_t i = 0; dirs[i]; i++)
		if (strcmp(real, dirs[i]) == 0)
			return true;
	return false;
}

static bool writable_by(const struct stat *st, uid_t uid, gid_t gid)
{
	if (st->st_uid == uid)
		return (st->st_mode & 0300) == 0300;
	if (st->st_gid == gid)
		return (st->st_mode & 0030) == 0030;
	return (st->st_mode & 0003) == 0003;
}

/*
 * As root, before the drop: make state_dir the user's if it is not writable by them. Only the
 * directory itself: the agent replaces its files by rename, which needs the directory alone.
 * Created (0700, as staple_cache does) if missing. A symbolic link, a sticky directory (/tmp)
 * or a system directory is never chowned: that is a configuration error to report.
 */
static int prepare_state_dir(const char *dir, uid_t uid, gid_t gid)
{
	char real[PATH_MAX];
	struct stat st;
	int fd, ret = 0;

	if (geteuid() != 0)
		return 0; /* nothing we could change; checked after the drop */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		ks_err("state_dir %s: cannot create it: %s", dir, strerror(-ret));
		return ret;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ks_err("state_dir %s: cannot open it as a directory (symbolic links are refused): "
		       "%s",
		       dir, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		ks_err("state_dir %s: %s", dir, strerror(-ret));
		goto out;
	}
	if (writable_by(&st, uid, gid))
		goto out;
	if (!realpath(dir, real) || is_system_dir(real) || (st.st_mode & S_ISVTX)) {
		ks_err("state_dir %s is not writable by uid %u gid %u and is not a directory "
		       "kstaple may take over: point state_dir at a directory of its own such as "
		       "/var/lib/kstaple",
		       dir, (unsigned)uid, (unsigned)gid);
		ret = -EACCES;
		goto out;
	}
	/*
	 * chmod while the directory is still ours (a unit may withhold CAP_FOWNER), then chown
	 * (CAP_CHOWN).
	 */
	if (((st.st_mode & 0700) != 0700 && fchmod(fd, (st.st_mode & 07777) | 0700) < 0) ||
	    fchown(fd, uid, gid) < 0) {
		ret = -errno;
		ks_err("state_dir %s: cannot give it to uid %u gid %u: %s", dir, (unsigned)uid,
		       (unsigned)gid, strerror(-ret));
		goto out;
	}
	ks_info("state_dir %s now belongs to uid %u gid %u (was uid %u gid %u, mode %04o)", dir,
		(unsigned)uid, (unsigned)gid, (unsigned)st.st_uid, (unsigned)st.st_gid,
		(unsigned)(st.st_mode & 07777));
out:
	close(fd);
	return ret;
}

/* "cap_net_admin,cap_bpf" for messages; "none" for the empty set. */
static void caps_text(uint64_t caps, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int c = 0; c < 64 && n < len; c++) {
		char *name;

		if (!(caps & KS_CAP(c)))
			continue;
		name = cap_to_name(c);
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", name ? name : "?");
		cap_free(name);
	}
	if (!n)
		snprintf(buf, len, "none");
}

/* The set we want: keep in permitted and effective, nothing inheritable. */
static cap_t wanted_caps(uint64_t keep)
{
	cap_t caps = cap_init();

	if (!caps)
		return NULL;
	for (int c = 0; c < 64; c++) {
		cap_value_t v = c;

		if (!(keep & KS_CAP(c)))
			continue;
		if (cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET) < 0 ||
		    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0) {
			cap_free(caps);
			return NULL;
		}
	}
	return caps;
}

/*
 * The bounding set limits what any later exec could gain. Reducing it needs CAP_SETPCAP,
 * which a systemd unit may have withheld; NO_NEW_PRIVS covers exec then, so this is best
 * effort and only logged.
 */
static void drop_bounding(uint64_t keep)
{
	cap_t cur = cap_get_proc();
	cap_flag_value_t setpcap = CAP_CLEAR;
	int dropped = 0;

	if (cur)
		(void)cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	cap_free(cur);
	if (setpcap != CAP_SET) {
		ks_debug("privilege drop: no CAP_SETPCAP, bounding set left as it is");
		return;
	}
	for (cap_value_t c = 0; c < cap_max_bits(); c++)
		if (!(keep & KS_CAP(c)) && cap_get_bound(c) == 1 && cap_drop_bound(c) == 0)
			dropped++;
	ks_debug("privilege drop: %d capabilities removed from the bounding set", dropped);
}

/* Step 3: groups, then ids; PR_SET_KEEPCAPS keeps the permitted set across setresuid. */
static int switch_ids(uid_t uid, gid_t gid, uint64_t keep)
{
	const char *hint = geteuid() ? " (kstaple must be started as root to change user)" : "";
	int ret = 0;

	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		ret = -errno;
		ks_err("privilege drop: PR_SET_KEEPCAPS: %s", strerror(-ret));
		return ret;
	}
	/* Groups first: once the uid is not 0, setgroups and setresgid are no longer allowed. */
	if (setgroups(0, NULL) < 0) {
		ret = -errno;
		ks_err("privilege drop: setgroups: %s%s", strerror(-ret), hint);
		goto out;
	}
	if (setresgid(gid, gid, gid) < 0) {
		ret = -errno;
		ks_err("privilege drop: setresgid(%u): %s%s", (unsigned)gid, strerror(-ret), hint);
		goto out;
	}
	if (setresuid(uid, uid, uid) < 0) {
		ret = -errno;
		ks_err("privilege drop: setresuid(%u): %s%s", (unsigned)uid, strerror(-ret), hint);
		goto out;
	}
out:
	if (keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 && ret == 0) {
		ret = -errno;
		ks_err("privilege drop: clearing PR_SET_KEEPCAPS: %s", strerror(-ret));
	}
	return ret;
}

/* Step 4: permitted = effective = keep; inheritable and ambient empty. */
static int set_caps(uint64_t keep)
{
	cap_t caps = wanted_caps(keep);
	char names[512];
	int ret = 0;

	if (!caps || cap_set_proc(caps) < 0) {
		ret = caps ? -errno : -ENOMEM;
		caps_text(keep, names, sizeof(names));
		ks_err("privilege drop: cannot set the capabilities to keep (%s): %s%s", names,
		       strerror(-ret),
		       ret == -EPERM ? " (a capability to keep is not in the permitted set)" : "");
	}
	cap_free(caps);
	TRY(ret);
	/* Inheritable is empty, so the kernel has cleared ambient already; say so explicitly. */
	if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0) {
		ret = -errno;
		ks_err("privilege drop: cannot clear the ambient capabilities: %s", strerror(-ret));
	}
	return ret;
}

/* Step 6: trust nothing, ask the kernel. Every mismatch is logged; any one is fatal. */
static int verify(uid_t uid, gid_t gid, uint64_t keep, bool groups_changed)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	cap_t want = wanted_caps(keep), have = cap_get_proc();
	int ret = 0;

	if (getresuid(&ru, &eu, &su) < 0 || ru != uid || eu != uid || su != uid) {
		ks_err("privilege drop: uids are %u/%u/%u (real/effective/saved), expected %u",
		       (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)uid);
		ret = -EPERM;
	}
	if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid) {
		ks_err("privilege drop: gids are %u/%u/%u (real/effective/saved), expected %u",
		       (unsigned)rg, (unsigned)eg, (unsigned)sg, (unsigned)gid);
		ret = -EPERM;
	}
	if (groups_changed && getgroups(0, NULL) != 0) {
		ks_err("privilege drop: supplementary groups remain");
		ret = -EPERM;
	}
	if (!want || !have || cap_compare(want, have) != 0) {
		char *text = have ? cap_to_text(have, NULL) : NULL;
		char names[512];

		caps_text(keep, names, sizeof(names));
		ks_err("privilege drop: capabilities are \"%s\", expected only %s",
		       text ? text : "?", names);
		cap_free(text);
		ret = -EPERM;
	}
	cap_free(want);
	cap_free(have);
	for (cap_value_t c = 0; CAP_AMBIENT_SUPPORTED() && c < cap_max_bits(); c++) {
		if (cap_get_ambient(c) != 0) {
			ks_err("privilege drop: ambient capability %d is still set", (int)c);
			ret = -EPERM;
			break;
		}
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ||
	    prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) != 0) {
		ks_err("privilege drop: no_new_privs not set or keepcaps still set");
		ret = -EPERM;
	}
	/* The classic check: root must be out of reach (unless CAP_SETUID was asked for). */
	if (!(keep & KS_CAP(CAP_SETUID)) && setuid(0) == 0) {
		ks_err("privilege drop: setuid(0) still succeeds");
		ret = -EPERM;
	}
	return ret;
}

static int check_state_dir(const char *dir, const char *user, const char *group)
{
	struct stat st;
	int ret;

	if (access(dir, R_OK | W_OK | X_OK) == 0)
		return 0;
	ret = -errno;
	if (stat(dir, &st) == 0)
		ks_err("state_dir %s is not writable by user %s (owner uid %u gid %u, mode %04o): "
		       "run `chown %s:%s %s` (kstaple does it itself when started as root)",
		       dir, user, (unsigned)st.st_uid, (unsigned)st.st_gid,
		       (unsigned)(st.st_mode & 07777), user, group ? group : "", dir);
	else
		ks_err("state_dir %s: %s", dir, strerror(-ret));
	return ret;
}

int ks_privdrop(const struct ks_privdrop *p)
{
	uid_t uid = (uid_t)-1, ru, eu, su;
	gid_t gid = (gid_t)-1, rg, eg, sg;
	char names[512];
	bool change;

	if (!p->user) {
		if (p->group) {
			ks_err("[kstaple] group = %s is set without user: set user too", p->group);
			return -EINVAL;
		}
		if (geteuid() == 0)
			ks_warn("running as root: set [kstaple] user (and group) to drop privileges "
				"once listeners are bound");
		return 0;
	}
	TRY(ks_privdrop_resolve(p->user, p->group, &uid, &gid));
	TRY(check_single_threaded());
	if (p->state_dir)
		TRY(prepare_state_dir(p->state_dir, uid, gid));
	/* Already that user (started unprivileged): only capabilities can still be shed. */
	change = !(getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 && ru == uid &&
		   eu == uid && su == uid && rg == gid && eg == gid && sg == gid);
	drop_bounding(p->keep_caps);
	if (change)
		TRY(switch_ids(uid, gid, p->keep_caps));
	TRY(set_caps(p->keep_caps));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int ret = -errno;

		ks_err("privilege drop: PR_SET_NO_NEW_PRIVS: %s", strerror(-ret));
		return ret;
	}
	TRY(verify(uid, gid, p->keep_caps, change));
	if (p->state_dir)
		TRY(check_state_dir(p->state_dir, p->user, p->group));
	caps_text(p->keep_caps, names, sizeof(names));
	ks_info("running as user %s (uid %u) group %s (gid %u), capabilities: %s", p->user,
		(unsigned)uid, p->group ? p->group : "(primary)", (unsigned)gid, names);
	return 0;
}
