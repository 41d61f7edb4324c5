// SPDX-License-Identifier: MIT
/* A bounded RFC 8259 JSON parser into a tree; see include/kstaple/json.h. */
#include <stdlib.h>
#include <string.h>

#include "kstaple/cursor.h"
#include "kstaple/json.h"
#include "kstaple/metrics.h"

#define NUM_MAX 64 /* characters of one number */

static int parse_value(struct ks_cursor *c, struct ks_json *v, int depth);

/* RFC 8259 §2: ws = *( %x20 / %x09 / %x0A / %x0D ) */
static void skip_ws(struct ks_cursor *c)
{
	while (!ks_cur_empty(c) &&
	       (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static int expect(struct ks_cursor *c, char ch)
{
	uint8_t b;

	TRY(ks_cur_u8(c, &b));
	return b == (uint8_t)ch ? 0 : -EBADMSG;
}

static int literal(struct ks_cursor *c, const char *word)
{
	const uint8_t *p;
	size_t n = strlen(word);

	TRY(ks_cur_bytes(c, n, &p));
	return memcmp(p, word, n) ? -EBADMSG : 0;
}

static int hex4(struct ks_cursor *c, unsigned *out)
{
	unsigned v = 0;
	uint8_t h;

	for (int i = 0; i < 4; i++) {
		TRY(ks_cur_u8(c, &h));
		if (h >= '0' && h <= '9')
			v = v << 4 | (unsigned)(h - '0');
		else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
			v = v << 4 | (unsigned)((h | 0x20) - 'a' + 10);
		else
			return -EBADMSG;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* escape = %x5C ( %x22 / %x5C / %x2F / %x62 / %x66 / %x6E / %x72 / %x74 / %x75 4HEXDIG ) */
static int escape(struct ks_cursor *c, char *o, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned cp, lo;
	uint8_t e;
	const char *k;

	TRY(ks_cur_u8(c, &e));
	if (e != 'u') {
		k = e ? strchr(from, e) : NULL;
		ENSURE(k, -EBADMSG);
		o[(*n)++] = to[k - from];
		return 0;
	}
	TRY(hex4(c, &cp));
	if (cp >= 0xd800 && cp < 0xdc00) {
		/* A high surrogate must be followed by an escaped low one (§7, UTF-16 pairs). */
		TRY(literal(c, "\\u"));
		TRY(hex4(c, &lo));
		ENSURE(lo >= 0xdc00 && lo < 0xe000, -EBADMSG);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else {
		ENSURE(cp != 0 && (cp < 0xdc00 || cp >= 0xe000), -EBADMSG);
	}
	*n += put_utf8(o + *n, cp);
	return 0;
}

size_t ks_json_utf8_len(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (!n)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* overlong, surrogate or beyond Unicode */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void ks_json_quote(struct ks_buf *out, const char *s)
{
	const uint8_t *p = (const uint8_t *)(s ? s : "");
	size_t left = strlen((const char *)p), n;

	ks_buf_printf(out, "\"");
	while (left) {
		if (*p == '"' || *p == '\\') {
			ks_buf_printf(out, "\\%c", *p);
			n = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			ks_buf_printf(out, "\\u%04x", *p);
			n = 1;
		} else if ((n = ks_json_utf8_len(p, left)) != 0) {
			ks_buf_printf(out, "%.*s", (int)n, (const char *)p);
		} else {
			/* U+FFFD as UTF-8, as it would be written once read back */
			ks_buf_printf(out, "\xef\xbf\xbd");
			n = 1;
		}
		p += n;
		left -= n;
	}
	ks_buf_printf(out, "\"");
}

/* string = quotation-mark *char quotation-mark. The decoded text is never longer. */
static int parse_string(struct ks_cursor *c, char **out)
{
	struct ks_cursor scan;
	size_t raw = 0, n = 0;
	uint8_t b;
	char *o;
	int ret = 0;

	TRY(expect(c, '"'));
	for (scan = *c;; raw++) {
		TRY(ks_cur_u8(&scan, &b));
		if (b == '"')
			break;
		ENSURE(b >= 0x20, -EBADMSG); /* control characters must be escaped */
		if (b == '\\') {
			TRY(ks_cur_u8(&scan, &b));
			raw++;
		}
	}
	o = malloc(raw + 1);
	ENSURE(o, -ENOMEM);
	for (;;) {
		size_t u;

		TRY_OUT(ks_cur_u8(c, &b));
		if (b == '"')
			break;
		if (b == '\\') {
			TRY_OUT(escape(c, o, &n));
			continue;
		}
		/* RFC 8259 §8.1: JSON text is UTF-8; anything else is not ours to pass on. */
		u = ks_json_utf8_len(c->p - 1, ks_cur_left(c) + 1);
		ENSURE_OUT(u, -EBADMSG);
		memcpy(o + n, c->p - 1, u);
		n += u;
		c->p += u - 1;
	}
	o[n] = '\0';
	*out = o;
	return 0;
out:
	free(o);
	return ret;
}

/* number = [ minus ] int [ frac ] [ exp ] */
static int parse_number(struct ks_cursor *c, struct ks_json *v)
{
	const uint8_t *start = c->p;
	char tmp[NUM_MAX + 1];
	bool exact = true;
	size_t len;
	uint64_t u = 0;
	char *end;

	v->type = KS_JSON_NUMBER;
	v->neg = !ks_cur_empty(c) && *c->p == '-';
	if (v->neg)
		c->p++;
	ENSURE(!ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9', -EBADMSG);
	if (*c->p == '0') {
		c->p++;
	} else {
		for (; !ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9'; c->p++) {
			unsigned d = (unsigned)(*c->p - '0');

			if (u > UINT64_MAX / 10 || (u == UINT64_MAX / 10 && d > UINT64_MAX % 10))
				exact = false;
			u = u * 10 + d;
		}
	}
	if (!ks_cur_empty(c) && *c->p == '.') {
		exact = false;
		c->p++;
		ENSURE(!ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9', -EBADMSG);
		while (!ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	if (!ks_cur_empty(c) && (*c->p == 'e' || *c->p == 'E')) {
		exact = false;
		c->p++;
		if (!ks_cur_empty(c) && (*c->p == '+' || *c->p == '-'))
			c->p++;
		ENSURE(!ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9', -EBADMSG);
		while (!ks_cur_empty(c) && *c->p >= '0' && *c->p <= '9')
			c->p++;
	}
	len = (size_t)(c->p - start);
	ENSURE(len <= NUM_MAX, -EBADMSG);
	memcpy(tmp, start, len);
	tmp[len] = '\0';
	v->d = strtod(tmp, &end);
	if (exact && (!v->neg || u <= (uint64_t)INT64_MAX + 1)) {
		v->is_int = true;
		v->u = v->neg ? 0 : u;
		v->i = v->neg ? (int64_t)(0 - u) : (int64_t)KS_MIN(u, (uint64_t)INT64_MAX);
	}
	return 0;
}

/* array = [ value *( , value ) ]; object = { member *( , member ) }; member = string : value */
static int parse_container(struct ks_cursor *c, struct ks_json *v, bool object, int depth)
{
	size_t cap = 0;
	struct ks_json *items;
	uint8_t close = object ? '}' : ']';

	ENSURE(depth < KS_JSON_MAX_DEPTH, -EBADMSG);
	v->type = object ? KS_JSON_OBJECT : KS_JSON_ARRAY;
	c->p++; /* the opening bracket, checked by the caller */
	skip_ws(c);
	if (!ks_cur_empty(c) && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		struct ks_json *it;

		if (v->n == cap) {
			cap = cap ? cap * 2 : 8;
			items = realloc(v->items, cap * sizeof(*items));
			ENSURE(items, -ENOMEM);
			v->items = items;
		}
		it = &v->items[v->n++];
		memset(it, 0, sizeof(*it));
		skip_ws(c);
		if (object) {
			TRY(parse_string(c, &it->key));
			skip_ws(c);
			TRY(expect(c, ':'));
		}
		TRY(parse_value(c, it, depth + 1));
		skip_ws(c);
		ENSURE(!ks_cur_empty(c), -EBADMSG);
		if (*c->p == close) {
			c->p++;
			return 0;
		}
		TRY(expect(c, ','));
	}
}

static int parse_value(struct ks_cursor *c, struct ks_json *v, int depth)
{
	skip_ws(c);
	ENSURE(!ks_cur_empty(c), -EBADMSG);
	switch (*c->p) {
	case '{':
	case '[':
		return parse_container(c, v, *c->p == '{', depth);
	case '"':
		v->type = KS_JSON_STRING;
		return parse_string(c, &v->s);
	case 't':
		v->type = KS_JSON_BOOL;
		v->b = true;
		return literal(c, "true");
	case 'f':
		v->type = KS_JSON_BOOL;
		return literal(c, "false");
	case 'n':
		v->type = KS_JSON_NULL;
		return literal(c, "null");
	default:
		return parse_number(c, v);
	}
}

static void free_inner(struct ks_json *v)
{
	for (size_t i = 0; i < v->n; i++)
		free_inner(&v->items[i]);
	free(v->items);
	free(v->key);
	free(v->s);
}

void ks_json_free(struct ks_json *v)
{
	if (!v)
		return;
	free_inner(v);
	free(v);
}

int ks_json_parse(const char *text, size_t len, struct ks_json **out)
{
	struct ks_cursor c = ks_cur_init(text, len);
	struct ks_json *v = calloc(1, sizeof(*v));
	int ret;

	*out = NULL;
	ENSURE(v, -ENOMEM);
	TRY_OUT(parse_value(&c, v, 0));
	skip_ws(&c);
	ENSURE_OUT(ks_cur_empty(&c), -EBADMSG);
	*out = v;
	return 0;
out:
	ks_json_free(v);
	return ret;
}

const struct ks_json *ks_json_get(const struct ks_json *v, const char *key)
{
	if (!v || v->type != KS_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (!strcmp(v->items[i].key, key))
			return &v->items[i];
	return NULL;
}

uint64_t ks_json_u64(const struct ks_json *v)
{
	return v && v->type == KS_JSON_NUMBER && v->is_int && !v->neg ? v->u : 0;
}

int64_t ks_json_i64(const struct ks_json *v)
{
	return v && v->type == KS_JSON_NUMBER && v->is_int ? v->i : 0;
}

const char *ks_json_str(const struct ks_json *v)
{
	return v && v->type == KS_JSON_STRING ? v->s : NULL;
}

bool ks_json_bool(const struct ks_json *v)
{
	return v && v->type == KS_JSON_BOOL && v->b;
}
