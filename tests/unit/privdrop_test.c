// SPDX-License-Identifier: MIT
/*
 * privdrop: each drop runs in a forked child (a drop cannot be undone) that checks, with the
 * kernel's own interfaces (getresuid, capget, /proc/self/status) and privileged actions, that
 * the drop took. The child reports through a pipe: its log lines and a "FAILED:" line.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers/fixtures.h"
#include "kstaple/log.h"
#include "kstaple/privdrop.h"

static uid_t nobody_uid;
static gid_t nogroup_gid;
static char dir[256], secret[300];

/* Where the child writes; CHECK() names the failed condition and its line. */
static FILE *out;
#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(out, "FAILED: line %d: %s (errno %s)\n", __LINE__, #cond, \
				strerror(errno));                                         \
			return 1;                                                         \
		}                                                                         \
	} while (0)

static void need_root(void)
{
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");

	if (geteuid() != 0)
		cr_skip_test("not running as root: privileges cannot be dropped");
	if (!pw || !gr)
		cr_skip_test("no user nobody or group nogroup on this system");
	nobody_uid = pw->pw_uid;
	nogroup_gid = gr->gr_gid;
}

static void setup(void)
{
	int fd;

	cr_assert_eq(ks_test_tmpdir(dir, sizeof(dir)), 0);
	/* Searchable by all, so that only the file's own mode protects the secret below. */
	cr_assert_eq(chmod(dir, 0711), 0);
	snprintf(secret, sizeof(secret), "%s/root-only", dir);
	/* Root's, readable by group root: a leftover supplementary group 0 would open it. */
	fd = open(secret, O_CREAT | O_WRONLY, 0640);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void)
{
	char sub[320];

	snprintf(sub, sizeof(sub), "%s/state", dir);
	ks_test_rmdir(sub);
	ks_test_rmdir(dir);
}

TestSuite(privdrop, .init = setup, .fini = teardown);

/* Run fn in a child; returns its exit status (128 + signal if killed), its output in buf. */
static int in_child(int (*fn)(const void *), const void *arg, char *buf, size_t len)
{
	int fds[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		out = fdopen(fds[1], "w");
		if (!out)
			_exit(99);
		setvbuf(out, NULL, _IOLBF, 0);
		ks_log_set_timestamps(0);
		ks_log_set_stream(out);
		st = fn(arg);
		fflush(out);
		_exit(st);
	}
	close(fds[1]);
	while (got + 1 < len && (n = read(fds[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* capget(2) v3: the kernel's view of this thread's sets, as 64-bit masks. */
static int caps_now(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

/* A field of /proc/self/status ("CapAmb", "NoNewPrivs"), parsed as hex; -1 if absent. */
static long long status_field(const char *name)
{
	char line[256];
	long long v = -1;
	FILE *f = fopen("/proc/self/status", "r");
	size_t n = strlen(name);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = strtoll(line + n + 1, NULL, 16);
	fclose(f);
	return v;
}

/* Bind 127.0.0.1:port for the first port in 1023..80 that is not in use; -errno otherwise. */
static int bind_low_port(void)
{
	int err = EADDRINUSE;

	for (int port = 1023; port >= 80 && err == EADDRINUSE; port--) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			return -errno;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		err = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
		close(s);
	}
	return -err;
}

/* Ports below this need CAP_NET_BIND_SERVICE (a container may have lowered it to 0). */
static int unprivileged_port_start(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	int v = 1024;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

struct drop_case {
	struct ks_privdrop p;
	uint64_t want_caps;
};

/* In the child: drop, then check every id and set, and what the process can still do. */
static int drop_and_check(const void *arg)
{
	const struct drop_case *dc = arg;
	uid_t r, e, s;
	gid_t rg, eg, sg;
	uint64_t eff, prm, inh;
	const gid_t extra[] = { 0 };
	int fd;

	/* Start in group root as well, as a root shell often is: the drop must clear it. */
	CHECK(setgroups(KS_ARRAY_SIZE(extra), extra) == 0);
	CHECK(ks_privdrop(&dc->p) == 0);
	CHECK(getresuid(&r, &e, &s) == 0 && r == nobody_uid && e == nobody_uid && s == nobody_uid);
	CHECK(getresgid(&rg, &eg, &sg) == 0 && rg == nogroup_gid && eg == nogroup_gid &&
	      sg == nogroup_gid);
	CHECK(getgroups(0, NULL) == 0);
	CHECK(caps_now(&eff, &prm, &inh) == 0);
	CHECK(eff == dc->want_caps && prm == dc->want_caps && inh == 0);
	CHECK(status_field("CapAmb") == 0);
	CHECK(status_field("NoNewPrivs") == 1);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	/* Privileged actions fail: root's file, root's uid. */
	fd = open(secret, O_RDONLY);
	CHECK(fd < 0 && errno == EACCES);
	CHECK(setuid(0) < 0 && errno == EPERM);
	CHECK(setgroups(0, NULL) < 0 && errno == EPERM);
	if (dc->want_caps & KS_CAP(CAP_NET_BIND_SERVICE))
		CHECK(bind_low_port() == 0);
	else if (unprivileged_port_start() > 80)
		CHECK(bind_low_port() == -EACCES);
	fprintf(out, "child: ok\n");
	return 0;
}

Test(privdrop, drop_to_nobody_keeps_no_capability)
{
	struct drop_case dc = { .p = { .user = "nobody", .group = "nogroup" } };
	char buf[8192];

	need_root();
	cr_assert_eq(in_child(drop_and_check, &dc, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert(strstr(buf, "child: ok"), "%s", buf);
	cr_assert(strstr(buf, "running as user nobody") && strstr(buf, "capabilities: none"), "%s",
		  buf);
	if (unprivileged_port_start() <= 80)
		cr_log_warn("ip_unprivileged_port_start <= 80: the port-80 refusal was not tested");
}

Test(privdrop, kept_net_bind_service_binds_a_low_port)
{
	struct drop_case dc = { .p = { .user = "nobody",
				       .group = "nogroup",
				       .keep_caps = KS_CAP(CAP_NET_BIND_SERVICE) },
				.want_caps = KS_CAP(CAP_NET_BIND_SERVICE) };
	char buf[8192];

	need_root();
	cr_assert_eq(in_child(drop_and_check, &dc, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert(strstr(buf, "capabilities: cap_net_bind_service"), "%s", buf);
}

Test(privdrop, telemetry_reattach_keeps_net_admin_and_bpf_only)
{
	struct drop_case dc = { .p = { .user = "nobody",
				       .group = "nogroup",
				       .keep_caps = KS_CAPS_TELEMETRY_REATTACH },
				.want_caps = KS_CAP(CAP_NET_ADMIN) | KS_CAP(CAP_BPF) };
	char buf[8192];
	int last = 0;
	FILE *f;

	need_root();
	f = fopen("/proc/sys/kernel/cap_last_cap", "r");
	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = 0;
		fclose(f);
	}
	if (last < CAP_BPF)
		cr_skip_test("kernel has no CAP_BPF (cap_last_cap %d)", last);
	cr_assert_eq(in_child(drop_and_check, &dc, buf, sizeof(buf)), 0, "%s", buf);
}

/* The user and group are given explicitly; group unset means the user's primary group. */
Test(privdrop, group_defaults_to_the_primary_group)
{
	struct drop_case dc = { .p = { .user = "nobody" } };
	struct passwd *pw;
	char buf[8192];

	need_root();
	pw = getpwnam("nobody");
	if (pw->pw_gid != nogroup_gid)
		cr_skip_test("nobody's primary group is not nogroup here");
	cr_assert_eq(in_child(drop_and_check, &dc, buf, sizeof(buf)), 0, "%s", buf);
}

static int drop_with_state(const void *arg)
{
	const struct ks_privdrop *p = arg;
	char path[400];
	int fd;

	CHECK(ks_privdrop(p) == 0);
	snprintf(path, sizeof(path), "%s/probe", p->state_dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	CHECK(rename(path, secret) < 0); /* the rest of dir is still root's */
	fprintf(out, "child: ok\n");
	return 0;
}

Test(privdrop, state_dir_is_given_to_the_user)
{
	char state[320], buf[8192];
	struct ks_privdrop p = { .user = "nobody", .group = "nogroup", .state_dir = state };
	struct stat st;

	need_root();
	snprintf(state, sizeof(state), "%s/state", dir);
	/* Not even writable by its owner: the owner's rwx is added before the chown. */
	cr_assert_eq(mkdir(state, 0500), 0);
	cr_assert_eq(in_child(drop_with_state, &p, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert_eq(stat(state, &st), 0);
	cr_assert(st.st_uid == nobody_uid && st.st_gid == nogroup_gid, "owner %u:%u",
		  (unsigned)st.st_uid, (unsigned)st.st_gid);
	cr_assert_eq(st.st_mode & 0777, 0700, "mode %04o", (unsigned)(st.st_mode & 0777));
	cr_assert(strstr(buf, "now belongs to"), "%s", buf);
	/* Only the directory: its parent is untouched. */
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_uid, 0);
}

static int drop_expect(const void *arg)
{
	const struct ks_privdrop *p = arg;
	int r = ks_privdrop(p);

	fprintf(out, "result %d\n", r);
	/* A refused drop changed nothing. */
	CHECK(getuid() == 0 && geteuid() == 0 && getgid() == 0);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
	return 0;
}

static int expect_refused(const struct ks_privdrop *p, char *buf, size_t len)
{
	int r;

	cr_assert_eq(in_child(drop_expect, p, buf, len), 0, "%s", buf);
	cr_assert(sscanf(strstr(buf, "result ") ? strstr(buf, "result ") : "", "result %d", &r) ==
			  1,
		  "%s", buf);
	return r;
}

Test(privdrop, sticky_state_dir_is_not_taken_over)
{
	char state[320], buf[8192];
	struct ks_privdrop p = { .user = "nobody", .group = "nogroup", .state_dir = state };
	struct stat st;

	need_root();
	snprintf(state, sizeof(state), "%s/state", dir);
	cr_assert_eq(mkdir(state, 0755), 0);
	cr_assert_eq(chmod(state, 01755), 0);
	cr_assert_eq(expect_refused(&p, buf, sizeof(buf)), -EACCES, "%s", buf);
	cr_assert(strstr(buf, "is not writable by") && strstr(buf, state), "%s", buf);
	cr_assert_eq(stat(state, &st), 0);
	cr_assert_eq(st.st_uid, 0, "a refused state_dir was chowned");
}

static void *idle_thread(void *arg)
{
	int fd = *(int *)arg;
	char c;

	(void)!read(fd, &c, 1);
	return NULL;
}

static int drop_with_thread(const void *arg)
{
	int fds[2], r;
	pthread_t t;

	CHECK(pipe(fds) == 0);
	CHECK(pthread_create(&t, NULL, idle_thread, &fds[0]) == 0);
	r = drop_expect(arg);
	close(fds[1]);
	pthread_join(t, NULL);
	return r;
}

Test(privdrop, refused_once_a_thread_runs)
{
	struct ks_privdrop p = { .user = "nobody", .group = "nogroup" };
	char buf[8192];
	int r;

	need_root();
	cr_assert_eq(in_child(drop_with_thread, &p, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert(sscanf(strstr(buf, "result ") ? strstr(buf, "result ") : "", "result %d", &r) ==
			  1,
		  "%s", buf);
	cr_assert_eq(r, -EBUSY, "%s", buf);
	cr_assert(strstr(buf, "2 threads are running"), "%s", buf);
}

/* Name errors need no root: nothing changes before the names are resolved. */
static int drop_result_only(const void *arg)
{
	fprintf(out, "result %d\n", ks_privdrop(arg));
	return 0;
}

static int refused_as(const struct ks_privdrop *p, char *buf, size_t len)
{
	int r;

	cr_assert_eq(in_child(drop_result_only, p, buf, len), 0, "%s", buf);
	cr_assert(sscanf(strstr(buf, "result ") ? strstr(buf, "result ") : "", "result %d", &r) ==
			  1,
		  "%s", buf);
	return r;
}

Test(privdrop, unknown_user_or_group_is_enoent)
{
	struct ks_privdrop p = { .user = "kstaple-no-such-user" };
	char buf[8192];

	cr_assert_eq(refused_as(&p, buf, sizeof(buf)), -ENOENT, "%s", buf);
	cr_assert(strstr(buf, "user = kstaple-no-such-user: no such user"), "%s", buf);
	p.user = "nobody";
	p.group = "kstaple-no-such-group";
	cr_assert_eq(refused_as(&p, buf, sizeof(buf)), -ENOENT, "%s", buf);
	cr_assert(strstr(buf, "group = kstaple-no-such-group: no such group"), "%s", buf);
}

Test(privdrop, group_without_user_or_root_user_is_einval)
{
	struct ks_privdrop p = { .group = "nogroup" };
	char buf[8192];

	cr_assert_eq(refused_as(&p, buf, sizeof(buf)), -EINVAL, "%s", buf);
	cr_assert(strstr(buf, "without user"), "%s", buf);
	p.user = "root";
	p.group = NULL;
	cr_assert_eq(refused_as(&p, buf, sizeof(buf)), -EINVAL, "%s", buf);
	cr_assert(strstr(buf, "is root"), "%s", buf);
}

Test(privdrop, no_user_warns_when_root)
{
	struct ks_privdrop p = { 0 };
	char buf[8192];

	cr_assert_eq(refused_as(&p, buf, sizeof(buf)), 0, "%s", buf);
	if (geteuid() == 0)
		cr_assert(strstr(buf, "warning: running as root"), "%s", buf);
	else
		cr_assert_null(strstr(buf, "warning"), "%s", buf);
}

/* Started unprivileged: switching to another user is refused; being that user is fine. */
static int unprivileged_then_drop(const void *arg)
{
	const struct ks_privdrop *p = arg;
	uint64_t eff, prm, inh;

	CHECK(setgroups(0, NULL) == 0);
	CHECK(setresgid(nogroup_gid, nogroup_gid, nogroup_gid) == 0);
	CHECK(setresuid(nobody_uid, nobody_uid, nobody_uid) == 0);
	fprintf(out, "result %d\n", ks_privdrop(p));
	CHECK(caps_now(&eff, &prm, &inh) == 0 && eff == 0 && prm == 0);
	CHECK(getuid() == nobody_uid);
	return 0;
}

Test(privdrop, unprivileged_start)
{
	struct ks_privdrop p = { .user = "nobody", .group = "nogroup" };
	char buf[8192];
	int r;

	need_root();
	cr_assert_eq(in_child(unprivileged_then_drop, &p, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert(sscanf(strstr(buf, "result ") ? strstr(buf, "result ") : "", "result %d", &r) ==
			  1,
		  "%s", buf);
	cr_assert_eq(r, 0, "already nobody: only capabilities to shed: %s", buf);

	if (!getpwnam("daemon"))
		cr_skip_test("no user daemon to switch to");
	p.user = "daemon";
	p.group = NULL;
	cr_assert_eq(in_child(unprivileged_then_drop, &p, buf, sizeof(buf)), 0, "%s", buf);
	cr_assert(sscanf(strstr(buf, "result ") ? strstr(buf, "result ") : "", "result %d", &r) ==
			  1,
		  "%s", buf);
	cr_assert_eq(r, -EPERM, "%s", buf);
	cr_assert(strstr(buf, "must be started as root"), "%s", buf);
}
