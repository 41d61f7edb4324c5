/* SPDX-License-Identifier: MIT */
/*
 * json: a small RFC 8259 parser into a tree, for what `kstaple stats` reads from the agent's
 * control socket. Bytes are read through the cursor; depth, size and string lengths are
 * bounded, so a hostile peer on the socket costs at most the bytes it sent.
 *
 * Integers without fraction or exponent that fit are kept exactly (counters are 64-bit; a
 * double would round them above 2^53); other numbers are doubles.
 */
#ifndef KSTAPLE_JSON_H
#define KSTAPLE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"

#define KS_JSON_MAX_DEPTH 32

enum ks_json_type {
	KS_JSON_NULL = 0,
	KS_JSON_BOOL,
	KS_JSON_NUMBER,
	KS_JSON_STRING,
	KS_JSON_ARRAY,
	KS_JSON_OBJECT,
};

struct ks_json {
	enum ks_json_type type;
	char *key; /* member name inside an object, else NULL */
	bool b;
	bool is_int; /* number: an integer in int64/uint64 range */
	bool neg;    /* is_int: negative (then i holds it), else u */
	int64_t i;
	uint64_t u;
	double d;	       /* every number, possibly rounded */
	char *s;	       /* string: NUL-terminated UTF-8 (an embedded \u0000 is refused) */
	struct ks_json *items; /* array elements or object members */
	size_t n;
};

/*
 * Length (1..4) of the well-formed UTF-8 sequence at p (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0.
 */
size_t ks_json_utf8_len(const uint8_t *p, size_t n);

/*
 * Append s to out as a JSON string: '"', '\' and control characters escaped, well-formed
 * UTF-8 kept, any other byte written as U+FFFD. What ks_json_parse reads back from it is
 * written again identically.
 */
struct ks_buf;
void ks_json_quote(struct ks_buf *out, const char *s);

/* Parse exactly one value (surrounding whitespace allowed). -EBADMSG, -ENOMEM. */
KS_MUST_CHECK int ks_json_parse(const char *text, size_t len, struct ks_json **out);
void ks_json_free(struct ks_json *v);

/* Member of an object by name (the first one), or NULL (also when v is not an object). */
const struct ks_json *ks_json_get(const struct ks_json *v, const char *key);
/* Numbers as counters: a non-negative integer, else 0. */
uint64_t ks_json_u64(const struct ks_json *v);
/* Any integer (Unix times may be negative), else 0. */
int64_t ks_json_i64(const struct ks_json *v);
/* A string, or NULL. */
const char *ks_json_str(const struct ks_json *v);
bool ks_json_bool(const struct ks_json *v);

#endif /* KSTAPLE_JSON_H */
