// SPDX-License-Identifier: MIT
/*
 * config: kstaple.conf, split into lines by our reader, into "key = value" by inih, and checked
 * against the table of config_keys.c. Every problem is logged, then -EINVAL is returned once.
 *
 * What inih does here. Debian 12 ships inih r55 built with its defaults, which it exports as
 * variables (ini.h): ini_allow_multiline=1, ini_allow_inline_comments=1 with prefix ";",
 * ini_start_comment_prefixes=";#", ini_allow_no_value=0, ini_allow_bom=1, ini_max_line=200
 * (on the stack). We rely on inih for: comments starting a line with ';' or '#'; an inline
 * comment starting at a ';' that follows a blank ("a;b" is a value, "a ;b" is "a"; '#' after a
 * value is part of it); "name = value" or "name: value" split at the first '=' or ':'; blanks
 * around name and value stripped; quotes kept as written. The unit tests pin these.
 *
 * What our reader (ini_parse_stream) adds, so that neither inih's build options nor its
 * shortcuts decide what a file means:
 *   - it counts lines. The library happens to be built with INI_HANDLER_LINENO=1 (objdump shows
 *     the line in r8 at each handler call) while its ini.h declares the 4-argument handler, so
 *     we use the declared prototype and our own count;
 *   - it removes leading blanks, so inih never sees a continuation line: with multi-line on,
 *     an indented line would silently become a second value of the previous key;
 *   - it rejects lines longer than the buffer inih offers (198 characters) instead of letting
 *     inih split them into two lines;
 *   - it parses "[section]" headers itself (inih truncates names at 49 characters and ignores
 *     text after ']') and rejects lines that are neither "key = value" nor a comment, so that
 *     every error is reported, not only the first (inih returns one line number).
 */
#include <ctype.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config_internal.h"
#include "name_set.h"

#define SEC_NONE     (-1) /* before the first header */
#define SEC_SKIP     (-2) /* after a bad header: its keys are not checked */
#define NAME_MAX_LEN 64
#define FILE_MAX     KS_CONFIG_FILE_MAX /* config.h says why this size */

struct parser {
	const char *file; /* for messages */
	const char *dir;  /* relative paths; NULL: keep them relative */
	struct ks_config *cfg;
	const char *p; /* reader position in the text */
	int line;
	int errors;
	bool oom;
	/* The current section. */
	int kind;	/* enum ks_conf_section, SEC_NONE or SEC_SKIP */
	size_t idx;	/* instanced kinds: index of the element */
	void *scratch;	/* a duplicate or misnamed instance: keys checked, then dropped */
	int sec_line;	/* line of its header */
	char label[96]; /* "cert:www", for messages */
	int *key_line;	/* per row of the table: where it was set (instanced: in this section) */
	int kind_line[KS_SEC__COUNT]; /* singletons: line of the first header */
	/* Instanced kinds: the array's allocated length, and its names (find_instance). */
	size_t cap[KS_SEC__COUNT];
	struct ks_name_set names[KS_SEC__COUNT];
};

/* "FILE:LINE: [label] key: message"; parts that are 0/NULL are left out. */
static void KS_PRINTF(5, 6)
	perr(struct parser *ps, int line, const char *label, const char *key, const char *fmt, ...)
{
	char msg[512], where[32] = "", sec[128] = "", k[80] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	if (label)
		snprintf(sec, sizeof(sec), " [%s]", label);
	if (key)
		snprintf(k, sizeof(k), " %s", key);
	/* Names come from the file: keep control characters out of the log. */
	for (char *c = sec; *c; c++)
		*c = iscntrl((unsigned char)*c) ? '?' : *c;
	for (char *c = k; *c; c++)
		*c = iscntrl((unsigned char)*c) ? '?' : *c;
	ks_err("%s%s:%s%s%s %s", ps->file, where, sec, k, label || key ? ":" : "", msg);
	ps->errors++;
}

static void *field_base(struct parser *ps)
{
	const struct ks_conf_sec_kind *sk = &ks_conf_sections[ps->kind];
	char *arr;

	if (ps->scratch)
		return ps->scratch;
	if (!sk->instanced)
		return ps->cfg;
	memcpy(&arr, (char *)ps->cfg + sk->arr_off, sizeof(arr));
	return arr + ps->idx * sk->elem_size;
}

/* Levenshtein distance, for "did you mean"; large for long strings. */
static size_t distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), row[33], prev, tmp;

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = KS_MIN(KS_MIN(row[j] + 1, row[j - 1] + 1),
					prev + (a[i - 1] != b[j - 1]));
			prev = tmp;
		}
	}
	return row[lb];
}

static bool near(const char *a, size_t la, const char *b)
{
	size_t d = distance(a, la, b);

	return d <= 2 && d < strlen(b);
}

static int find_kind(const char *name, size_t len)
{
	for (int i = 0; i < KS_SEC__COUNT; i++)
		if (strlen(ks_conf_sections[i].name) == len &&
		    !memcmp(name, ks_conf_sections[i].name, len))
			return i;
	return -1;
}

static void set_defaults(struct parser *ps, enum ks_conf_section sec, void *base)
{
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);
	char why[256];

	for (size_t i = 0; i < n; i++) {
		if (keys[i].sec != sec || !keys[i].def)
			continue;
		switch (ks_config_set_value(&keys[i], keys[i].def, NULL, base, why, sizeof(why))) {
		case 0:
			break;
		case -ENOMEM:
			ps->oom = true;
			break;
		default:
			perr(ps, 0, ks_conf_sections[sec].name, keys[i].name,
			     "built-in default is invalid: %s", why);
		}
	}
}

static void free_instance(enum ks_conf_section sec, void *base)
{
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);
	char *name;

	for (size_t i = 0; i < n; i++)
		if (keys[i].sec == sec)
			ks_config_free_value(&keys[i], base);
	if (ks_conf_sections[sec].instanced) {
		memcpy(&name, (char *)base + ks_conf_sections[sec].name_off, sizeof(name));
		free(name);
	}
}

/* End of a section: report the required keys it lacks, drop a scratch instance. */
static void close_section(struct parser *ps)
{
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);

	if (ps->kind >= 0 && !ps->scratch) {
		for (size_t i = 0; i < n; i++)
			if ((int)keys[i].sec == ps->kind && (keys[i].flags & KS_CK_REQUIRED) &&
			    !ps->key_line[i])
				perr(ps, ps->sec_line, ps->label, keys[i].name,
				     "required key missing");
	}
	if (ps->scratch) {
		free_instance(ps->kind, ps->scratch);
		free(ps->scratch);
		ps->scratch = NULL;
	}
	ps->kind = SEC_SKIP;
}

/* [cert:NAME] names appear in metrics labels, file names and logs. */
static bool valid_instance_name(const char *s, size_t len)
{
	if (!len || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* The context of the name sets of instances: the kind's array in the configuration. */
struct inst_ctx {
	const struct ks_config *cfg;
	const struct ks_conf_sec_kind *sk;
};

static char *inst_elem(const struct inst_ctx *ic, size_t i)
{
	char *arr;

	memcpy(&arr, (const char *)ic->cfg + ic->sk->arr_off, sizeof(arr));
	return arr + i * ic->sk->elem_size;
}

static const char *inst_name(const void *ctx, size_t i)
{
	const struct inst_ctx *ic = ctx;
	char *name;

	memcpy(&name, inst_elem(ic, i) + ic->sk->name_off, sizeof(name));
	return name;
}

/* Returns the index of the instance called name, or -1. */
static long find_instance(struct parser *ps, int kind, const char *name, size_t len, int *line)
{
	struct inst_ctx ic = { ps->cfg, &ks_conf_sections[kind] };
	long i = ks_nset_find(&ps->names[kind], name, len, inst_name, &ic);

	if (i >= 0)
		memcpy(line, inst_elem(&ic, (size_t)i) + ic.sk->line_off, sizeof(*line));
	return i;
}

static int add_instance(struct parser *ps, int kind, const char *name, size_t len)
{
	const struct ks_conf_sec_kind *sk = &ks_conf_sections[kind];
	struct inst_ctx ic = { ps->cfg, sk };
	size_t count, cap;
	char *arr, *e, *iname;

	memcpy(&arr, (char *)ps->cfg + sk->arr_off, sizeof(arr));
	memcpy(&count, (char *)ps->cfg + sk->count_off, sizeof(count));
	iname = strndup(name, len);
	ENSURE(iname, -ENOMEM);
	/* Grown geometrically: one realloc per section would copy the array n times. */
	if (count == ps->cap[kind]) {
		cap = ps->cap[kind] ? 2 * ps->cap[kind] : 8;
		e = reallocarray(arr, cap, sk->elem_size);
		if (!e) {
			free(iname);
			return -ENOMEM;
		}
		arr = e;
		ps->cap[kind] = cap;
		memcpy((char *)ps->cfg + sk->arr_off, &arr, sizeof(arr));
	}
	e = arr + count * sk->elem_size;
	memset(e, 0, sk->elem_size);
	memcpy(e + sk->name_off, &iname, sizeof(iname));
	memcpy(e + sk->line_off, &ps->line, sizeof(ps->line));
	ps->idx = count++;
	memcpy((char *)ps->cfg + sk->count_off, &count, sizeof(count));
	/* Without its index entry the section would be invisible to duplicate checks: drop it. */
	if (ks_nset_add(&ps->names[kind], ps->idx, count, inst_name, &ic) < 0) {
		free(iname);
		count--;
		memcpy((char *)ps->cfg + sk->count_off, &count, sizeof(count));
		return -ENOMEM;
	}
	return 0;
}

static void open_instance(struct parser *ps, int kind, const char *name, size_t len)
{
	const struct ks_conf_sec_kind *sk = &ks_conf_sections[kind];
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);
	int first;

	for (size_t i = 0; i < n; i++)
		if ((int)keys[i].sec == kind)
			ps->key_line[i] = 0;
	if (!len)
		perr(ps, ps->line, ps->label, NULL, "needs a name: [%s:NAME]", sk->name);
	else if (!valid_instance_name(name, len))
		perr(ps, ps->line, ps->label, NULL,
		     "NAME may only hold letters, digits, '.', '_' and '-' (at most %d)",
		     NAME_MAX_LEN);
	else if (find_instance(ps, kind, name, len, &first) >= 0)
		perr(ps, ps->line, ps->label, NULL, "duplicate section, first at line %d", first);
	else if (add_instance(ps, kind, name, len) < 0)
		ps->oom = true;
	else
		goto defaults;
	/* Still check the keys of a section we drop, so that one run reports everything. */
	ps->scratch = calloc(1, sk->elem_size);
	if (!ps->scratch) {
		ps->oom = true;
		return;
	}
defaults:
	ps->kind = kind;
	set_defaults(ps, kind, field_base(ps));
}

static void open_section(struct parser *ps, const char *name, size_t len)
{
	const char *colon = memchr(name, ':', len);
	size_t klen = colon ? (size_t)(colon - name) : len;
	int kind = find_kind(name, klen);

	snprintf(ps->label, sizeof(ps->label), "%.*s", (int)len, name);
	ps->sec_line = ps->line;
	if (kind < 0) {
		const char *hint = NULL;

		for (int i = 0; i < KS_SEC__COUNT && !hint; i++)
			if (near(name, klen, ks_conf_sections[i].name))
				hint = ks_conf_sections[i].name;
		if (hint)
			perr(ps, ps->line, ps->label, NULL,
			     "unknown section (did you mean [%s%.*s]?)", hint, (int)(len - klen),
			     name + klen);
		else
			perr(ps, ps->line, ps->label, NULL, "unknown section");
		return;
	}
	if (ks_conf_sections[kind].instanced) {
		open_instance(ps, kind, colon ? colon + 1 : name + len, colon ? len - klen - 1 : 0);
		return;
	}
	if (colon) {
		perr(ps, ps->line, ps->label, NULL, "takes no name: write [%s]",
		     ks_conf_sections[kind].name);
		return;
	}
	if (ps->kind_line[kind])
		perr(ps, ps->line, ps->label, NULL, "duplicate section, first at line %d",
		     ps->kind_line[kind]);
	else
		ps->kind_line[kind] = ps->line;
	ps->kind = kind;
}

/* "[name]" optionally followed by blanks and a comment. */
static void section_header(struct parser *ps, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len), *rest;

	close_section(ps);
	if (!close) {
		perr(ps, ps->line, NULL, NULL, "section header without ']'");
		return;
	}
	for (rest = close + 1; rest < s + len && isblank((unsigned char)*rest); rest++)
		;
	if (rest < s + len && *rest != ';' && *rest != '#') {
		perr(ps, ps->line, NULL, NULL, "unexpected text after ']'");
		return;
	}
	open_section(ps, s + 1, (size_t)(close - s - 1));
}

/* inih's rule: a name ends at the first '=' or ':' unless a comment (" ;") comes first. */
static bool has_separator(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' || s[i] == ':')
			return true;
		if (s[i] == ';' && i && isblank((unsigned char)s[i - 1]))
			return false;
	}
	return false;
}

/* ini_reader: one physical line per call, cleaned up as described at the top. */
static char *read_line(char *str, int num, void *stream)
{
	struct parser *ps = stream;
	const char *start = ps->p, *nl, *end;
	size_t len;

	if (!*start)
		return NULL;
	nl = strchr(start, '\n');
	end = nl ? nl : start + strlen(start);
	ps->p = nl ? nl + 1 : end;
	ps->line++;
	if (ps->line == 1 && !strncmp(start, "\xef\xbb\xbf", 3))
		start += 3;
	while (start < end && isblank((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	len = (size_t)(end - start);
	if (num < 3)
		return NULL;
	/* What inih gets for a line we handled or rejected: a blank line. */
	str[0] = '\n';
	str[1] = '\0';
	if (len > (size_t)num - 2)
		perr(ps, ps->line, NULL, NULL, "line longer than %d characters", num - 2);
	else if (len && *start == '[')
		section_header(ps, start, len);
	else if (len && *start != ';' && *start != '#' && !has_separator(start, len))
		perr(ps, ps->line, NULL, NULL, "expected 'key = value', '[section]' or a comment");
	else if (len && (*start == '=' || *start == ':'))
		perr(ps, ps->line, NULL, NULL, "missing key name before '%c'", *start);
	else {
		memcpy(str, start, len);
		str[len] = '\n';
		str[len + 1] = '\0';
	}
	return str;
}

static void unknown_key(struct parser *ps, const char *name)
{
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);

	for (size_t i = 0; i < n; i++) {
		if ((int)keys[i].sec == ps->kind && near(name, strlen(name), keys[i].name)) {
			perr(ps, ps->line, ps->label, name, "unknown key (did you mean '%s'?)",
			     keys[i].name);
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(name, keys[i].name)) {
			perr(ps, ps->line, ps->label, name, "unknown key (it belongs in [%s%s])",
			     ks_conf_sections[keys[i].sec].name,
			     ks_conf_sections[keys[i].sec].instanced ? ":NAME" : "");
			return;
		}
	}
	perr(ps, ps->line, ps->label, name, "unknown key");
}

/* ini_handler: the section comes from our reader, not from inih. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parser *ps = user;
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);
	char why[256];
	int r;

	(void)section;
	if (ps->kind == SEC_SKIP)
		return 1;
	if (ps->kind == SEC_NONE) {
		perr(ps, ps->line, NULL, name, "key before any [section]");
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((int)keys[i].sec != ps->kind || strcmp(keys[i].name, name) != 0)
			continue;
		if (ps->key_line[i]) {
			perr(ps, ps->line, ps->label, name, "given twice, first at line %d",
			     ps->key_line[i]);
			return 1;
		}
		ps->key_line[i] = ps->line;
		r = ks_config_set_value(&keys[i], value, ps->dir, field_base(ps), why, sizeof(why));
		if (r == -ENOMEM)
			ps->oom = true;
		else if (r < 0)
			perr(ps, ps->line, ps->label, name, "%s", why);
		return 1;
	}
	unknown_key(ps, name);
	return 1;
}

static int line_of(struct parser *ps, enum ks_conf_section sec, const char *name)
{
	size_t n;
	const struct ks_conf_key *keys = ks_config_keys(&n);

	for (size_t i = 0; i < n; i++)
		if (keys[i].sec == sec && !strcmp(keys[i].name, name))
			return ps->key_line[i];
	return 0;
}

/*
 * staple_sched decides what a consistent policy is; we only translate its verdict into the
 * keys an operator has to change, pointing at the last of them that the file sets.
 */
static void check_policy(struct parser *ps)
{
	const struct ks_sched_policy *p = &ps->cfg->fetch.sched;
	int a, b;

	if (ks_sched_policy_check(p) == 0)
		return;
	if (!(p->jitter < KS_MIN(p->refresh_fraction, 1.0 - p->refresh_fraction))) {
		a = line_of(ps, KS_SEC_FETCH, "jitter");
		b = line_of(ps, KS_SEC_FETCH, "refresh_fraction");
		perr(ps, KS_MAX(a, b), "fetch", "jitter",
		     "%g must be smaller than refresh_fraction (%g) and 1 - refresh_fraction, or "
		     "the refresh time could fall outside the validity interval",
		     p->jitter, p->refresh_fraction);
	} else if (p->backoff_max < p->backoff_base) {
		a = line_of(ps, KS_SEC_FETCH, "backoff_max");
		b = line_of(ps, KS_SEC_FETCH, "backoff_base");
		perr(ps, KS_MAX(a, b), "fetch", "backoff_max",
		     "%llds is shorter than backoff_base (%llds)", (long long)p->backoff_max,
		     (long long)p->backoff_base);
	} else {
		perr(ps, ps->kind_line[KS_SEC_FETCH], "fetch",
		     "refresh_fraction, jitter, min_before_expiry, min_delay, backoff_base, backoff_max",
		     "inconsistent refresh policy");
	}
}

static const char *list_name(const void *ctx, size_t i)
{
	return ((char *const *)ctx)[i];
}

/*
 * A listener serves certificates by name: every name must be a [cert:NAME] of this file, and
 * listed once. Both checks go through name sets: a listener may serve thousands of names.
 */
static void check_listeners(struct parser *ps)
{
	struct ks_name_set seen = { 0 };
	int first;
	char label[96];

	for (size_t i = 0; i < ps->cfg->n_listeners; i++) {
		const struct ks_listener_conf *l = &ps->cfg->listeners[i];

		snprintf(label, sizeof(label), "listener:%s", l->name);
		if (seen.cap) /* each listener's names on their own */
			memset(seen.slot, 0, seen.cap * sizeof(*seen.slot));
		for (size_t j = 0; l->certs && l->certs[j]; j++) {
			const char *c = l->certs[j];

			if (find_instance(ps, KS_SEC_CERT, c, strlen(c), &first) < 0)
				perr(ps, l->line, label, "certs",
				     "no section [cert:%s] in this file", c);
			if (ks_nset_find(&seen, c, strlen(c), list_name, l->certs) >= 0)
				perr(ps, l->line, label, "certs", "'%s' is listed twice", c);
			else if (ks_nset_add(&seen, j, j + 1, list_name, l->certs) < 0)
				ps->oom = true;
		}
	}
	ks_nset_free(&seen);
}

/* [telemetry] ports: TCP port numbers (the BPF map holds at most 64), only with interfaces. */
static void check_telemetry(struct parser *ps)
{
	char *const *ports = ps->cfg->telemetry.ports;
	int line = line_of(ps, KS_SEC_TELEMETRY, "ports");
	size_t n = 0;

	for (; ports && ports[n]; n++) {
		const char *p = ports[n];
		long v = 0;

		while (isdigit((unsigned char)*p) && v <= 65535)
			v = v * 10 + (*p++ - '0');
		if (*p || v < 1 || v > 65535)
			perr(ps, line, "telemetry", "ports", "'%s' is not a TCP port (1-65535)",
			     ports[n]);
	}
	if (n > 64)
		perr(ps, line, "telemetry", "ports", "at most 64 ports, got %zu", n);
	if (n && !ps->cfg->telemetry.interfaces)
		perr(ps, line, "telemetry", "ports",
		     "needs interfaces (the interfaces to count ClientHellos on)");
}

static int parse_text(const char *text, const char *file, const char *dir, struct ks_config **out)
{
	struct parser ps = { .file = file, .dir = dir, .p = text, .kind = SEC_NONE };
	size_t n;
	int r;

	*out = NULL;
	(void)ks_config_keys(&n);
	ps.key_line = calloc(n, sizeof(*ps.key_line));
	ps.cfg = calloc(1, sizeof(*ps.cfg));
	if (!ps.key_line || !ps.cfg || !(ps.cfg->path = strdup(file))) {
		r = -ENOMEM;
		goto out;
	}
	for (int s = 0; s < KS_SEC__COUNT; s++)
		if (!ks_conf_sections[s].instanced)
			set_defaults(&ps, s, ps.cfg);
	r = ini_parse_stream(read_line, &ps, on_key, &ps);
	close_section(&ps);
	if (r == -2)
		ps.oom = true;
	else if (r != 0 && !ps.errors)
		/* Our reader should have caught it; inih only reports the first such line. */
		perr(&ps, r, NULL, NULL, "syntax error");
	check_policy(&ps);
	check_listeners(&ps);
	check_telemetry(&ps);
	r = ps.oom ? -ENOMEM : ps.errors ? -EINVAL : 0;
	if (r == -ENOMEM)
		ks_err("%s: out of memory", file);
out:
	for (int s = 0; s < KS_SEC__COUNT; s++)
		ks_nset_free(&ps.names[s]);
	free(ps.key_line);
	if (r < 0)
		ks_config_free(ps.cfg);
	else
		*out = ps.cfg;
	return r;
}

int ks_config_parse(const char *text, const char *name, struct ks_config **out)
{
	const char *slash = strrchr(name, '/');
	char *dir = NULL;
	int r;

	if (slash) {
		dir = strndup(name, slash == name ? 1 : (size_t)(slash - name));
		if (!dir) {
			*out = NULL;
			return -ENOMEM;
		}
	}
	r = parse_text(text, name, dir, out);
	free(dir);
	return r;
}

/* The whole file, NUL-terminated; NUL bytes inside are refused (inih would stop at them). */
static int read_file(const char *path, char **out)
{
	struct stat st;
	size_t len = 0, cap;
	char *buf = NULL, *nul, *grown;
	ssize_t got;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		ks_err("%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	ENSURE_OUT(fstat(fd, &st) == 0, -errno);
	if (!S_ISREG(st.st_mode) || st.st_size > FILE_MAX) {
		ks_err("%s: not a regular file of at most %d bytes", path, FILE_MAX);
		ENSURE_OUT(false, S_ISREG(st.st_mode) ? -EFBIG : -EINVAL);
	}
	/* Sized by fstat, grown if the file grows meanwhile (to read at most FILE_MAX + 1 bytes). */
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	ENSURE_OUT(buf, -ENOMEM);
	for (;;) {
		if (len + 1 == cap) {
			/* Full at FILE_MAX + 1 bytes: one more than allowed. */
			if (cap >= (size_t)FILE_MAX + 2) {
				ks_err("%s: not a regular file of at most %d bytes", path,
				       FILE_MAX);
				ENSURE_OUT(false, -EFBIG);
			}
			cap = KS_MIN(2 * cap + 4096, (size_t)FILE_MAX + 2);
			grown = realloc(buf, cap);
			ENSURE_OUT(grown, -ENOMEM);
			buf = grown;
		}
		got = read(fd, buf + len, cap - 1 - len);
		if (got == 0)
			break;
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			ret = -errno;
			ks_err("%s: cannot read: %s", path, strerror(-ret));
			goto out;
		}
		len += (size_t)got;
	}
	buf[len] = '\0';
	nul = memchr(buf, '\0', len);
	if (nul) {
		int line = 1;

		for (const char *c = buf; c < nul; c++)
			line += *c == '\n';
		ks_err("%s:%d: NUL byte in the file", path, line);
		ENSURE_OUT(false, -EINVAL);
	}
	*out = buf;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

int ks_config_load(const char *path, struct ks_config **out)
{
	char *text = NULL, *copy = NULL, *dir;
	char real[PATH_MAX];
	int ret;

	*out = NULL;
	TRY(read_file(path, &text));
	copy = strdup(path);
	ENSURE_OUT(copy, -ENOMEM);
	/* Canonical, so that paths stay valid whatever the daemon's working directory becomes. */
	dir = dirname(copy);
	ret = parse_text(text, path, realpath(dir, real) ? real : dir, out);
out:
	free(copy);
	free(text);
	return ret;
}

void ks_config_free(struct ks_config *cfg)
{
	if (!cfg)
		return;
	for (int s = 0; s < KS_SEC__COUNT; s++) {
		const struct ks_conf_sec_kind *sk = &ks_conf_sections[s];
		size_t count;
		char *arr;

		if (!sk->instanced) {
			free_instance(s, cfg);
			continue;
		}
		memcpy(&arr, (char *)cfg + sk->arr_off, sizeof(arr));
		memcpy(&count, (char *)cfg + sk->count_off, sizeof(count));
		for (size_t i = 0; i < count; i++)
			free_instance(s, arr + i * sk->elem_size);
		free(arr);
	}
	free(cfg->path);
	free(cfg);
}

const struct ks_cert_conf *ks_config_cert(const struct ks_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_certs; i++)
		if (!strcmp(cfg->certs[i].name, name))
			return &cfg->certs[i];
	return NULL;
}
