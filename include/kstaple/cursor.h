/* SPDX-License-Identifier: MIT */
/*
 * The one bounds-checked reader for untrusted bytes (network, disk, CA responses).
 *
 * A cursor is a [p, end) window. Every read either succeeds and advances, or fails with
 * -EBADMSG and leaves the cursor where it was. Length-prefixed blocks are read by opening a
 * sub-cursor (ks_cur_block*), which the caller must consume exactly (ks_cur_close), as in
 * picotls's ptls_decode_open_block and s2n's stuffer.
 */
#ifndef KSTAPLE_CURSOR_H
#define KSTAPLE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/common.h"

struct ks_cursor {
	const uint8_t *p;
	const uint8_t *end;
};

static inline struct ks_cursor ks_cur_init(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	return (struct ks_cursor){ .p = p, .end = p + len };
}

static inline size_t ks_cur_left(const struct ks_cursor *c)
{
	return (size_t)(c->end - c->p);
}

static inline bool ks_cur_empty(const struct ks_cursor *c)
{
	return c->p >= c->end;
}

KS_MUST_CHECK int ks_cur_u8(struct ks_cursor *c, uint8_t *out);
KS_MUST_CHECK int ks_cur_u16(struct ks_cursor *c, uint16_t *out); /* network order */
KS_MUST_CHECK int ks_cur_u24(struct ks_cursor *c, uint32_t *out);
KS_MUST_CHECK int ks_cur_u32(struct ks_cursor *c, uint32_t *out);
/* Point *out at the next n bytes (no copy) and advance. */
KS_MUST_CHECK int ks_cur_bytes(struct ks_cursor *c, size_t n, const uint8_t **out);
/* Copy the next n bytes into dst (which the caller sized for n) and advance. */
KS_MUST_CHECK int ks_cur_copy(struct ks_cursor *c, void *dst, size_t n);
KS_MUST_CHECK int ks_cur_skip(struct ks_cursor *c, size_t n);
KS_MUST_CHECK int ks_cur_peek_u8(const struct ks_cursor *c, uint8_t *out);

/* Sub-cursor over a block of exactly n bytes; the parent advances past it. */
KS_MUST_CHECK int ks_cur_sub(struct ks_cursor *c, size_t n, struct ks_cursor *sub);
/* Sub-cursor over a block prefixed by an 8/16/24-bit length (TLS "opaque x<0..2^N-1>"). */
KS_MUST_CHECK int ks_cur_block8(struct ks_cursor *c, struct ks_cursor *sub);
KS_MUST_CHECK int ks_cur_block16(struct ks_cursor *c, struct ks_cursor *sub);
KS_MUST_CHECK int ks_cur_block24(struct ks_cursor *c, struct ks_cursor *sub);
/* A block must be consumed exactly: -EBADMSG if bytes are left over. */
KS_MUST_CHECK int ks_cur_close(const struct ks_cursor *sub);

/*
 * DER (X.690) tag-length-value. Only definite lengths up to 4 length octets; the minimal
 * encoding rule of DER is enforced. *tag is the full identifier octet (single-octet tags only,
 * which is all OCSP uses).
 */
KS_MUST_CHECK int ks_cur_der(struct ks_cursor *c, uint8_t *tag, struct ks_cursor *value);
/* Same, but fails with -EBADMSG unless the tag is the expected one. */
KS_MUST_CHECK int ks_cur_der_expect(struct ks_cursor *c, uint8_t tag, struct ks_cursor *value);

#endif /* KSTAPLE_CURSOR_H */
