// SPDX-License-Identifier: MIT
/* Bounds-checked reader for untrusted bytes; see include/kstaple/cursor.h. */
#include <string.h>

#include "kstaple/cursor.h"

static int need(const struct ks_cursor *c, size_t n)
{
	return ks_cur_left(c) >= n ? 0 : -EBADMSG;
}

int ks_cur_u8(struct ks_cursor *c, uint8_t *out)
{
	TRY(need(c, 1));
	*out = c->p[0];
	c->p += 1;
	return 0;
}

int ks_cur_u16(struct ks_cursor *c, uint16_t *out)
{
	TRY(need(c, 2));
	*out = (uint16_t)(c->p[0] << 8 | c->p[1]);
	c->p += 2;
	return 0;
}

int ks_cur_u24(struct ks_cursor *c, uint32_t *out)
{
	TRY(need(c, 3));
	*out = (uint32_t)c->p[0] << 16 | (uint32_t)c->p[1] << 8 | c->p[2];
	c->p += 3;
	return 0;
}

int ks_cur_u32(struct ks_cursor *c, uint32_t *out)
{
	TRY(need(c, 4));
	*out = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
	c->p += 4;
	return 0;
}

int ks_cur_bytes(struct ks_cursor *c, size_t n, const uint8_t **out)
{
	TRY(need(c, n));
	*out = c->p;
	c->p += n;
	return 0;
}

int ks_cur_copy(struct ks_cursor *c, void *dst, size_t n)
{
	TRY(need(c, n));
	if (n)
		memcpy(dst, c->p, n);
	c->p += n;
	return 0;
}

int ks_cur_skip(struct ks_cursor *c, size_t n)
{
	TRY(need(c, n));
	c->p += n;
	return 0;
}

int ks_cur_peek_u8(const struct ks_cursor *c, uint8_t *out)
{
	TRY(need(c, 1));
	*out = c->p[0];
	return 0;
}

int ks_cur_sub(struct ks_cursor *c, size_t n, struct ks_cursor *sub)
{
	TRY(need(c, n));
	*sub = ks_cur_init(c->p, n);
	c->p += n;
	return 0;
}

int ks_cur_block8(struct ks_cursor *c, struct ks_cursor *sub)
{
	struct ks_cursor save = *c;
	uint8_t n;
	int ret;

	TRY(ks_cur_u8(c, &n));
	ret = ks_cur_sub(c, n, sub);
	if (ret < 0)
		*c = save;
	return ret;
}

int ks_cur_block16(struct ks_cursor *c, struct ks_cursor *sub)
{
	struct ks_cursor save = *c;
	uint16_t n;
	int ret;

	TRY(ks_cur_u16(c, &n));
	ret = ks_cur_sub(c, n, sub);
	if (ret < 0)
		*c = save;
	return ret;
}

int ks_cur_block24(struct ks_cursor *c, struct ks_cursor *sub)
{
	struct ks_cursor save = *c;
	uint32_t n;
	int ret;

	TRY(ks_cur_u24(c, &n));
	ret = ks_cur_sub(c, n, sub);
	if (ret < 0)
		*c = save;
	return ret;
}

int ks_cur_close(const struct ks_cursor *sub)
{
	return ks_cur_empty(sub) ? 0 : -EBADMSG;
}

/* X.690 §8.1.3 (length octets) with the DER restrictions of §10.1: definite form, minimal. */
static int der_len(struct ks_cursor *c, size_t *len)
{
	uint8_t first, b;
	size_t n = 0;

	TRY(ks_cur_u8(c, &first));
	if (first < 0x80) {
		*len = first;
		return 0;
	}
	first &= 0x7f;
	/* 0x80 is the indefinite form (not DER); more than 4 octets is beyond any OCSP object. */
	ENSURE(first >= 1 && first <= 4, -EBADMSG);
	for (uint8_t i = 0; i < first; i++) {
		TRY(ks_cur_u8(c, &b));
		ENSURE(!(i == 0 && b == 0), -EBADMSG); /* leading zero: not minimal */
		n = n << 8 | b;
	}
	ENSURE(n >= 0x80, -EBADMSG); /* would have fitted the short form */
	*len = n;
	return 0;
}

int ks_cur_der(struct ks_cursor *c, uint8_t *tag, struct ks_cursor *value)
{
	struct ks_cursor save = *c;
	size_t len;
	int ret;

	ret = ks_cur_u8(c, tag);
	if (ret == 0 && (*tag & 0x1f) == 0x1f)
		ret = -EBADMSG; /* multi-octet tag numbers: never used by OCSP */
	if (ret == 0)
		ret = der_len(c, &len);
	if (ret == 0)
		ret = ks_cur_sub(c, len, value);
	if (ret < 0)
		*c = save;
	return ret;
}

int ks_cur_der_expect(struct ks_cursor *c, uint8_t tag, struct ks_cursor *value)
{
	struct ks_cursor save = *c;
	uint8_t got;

	TRY(ks_cur_der(c, &got, value));
	if (got != tag) {
		*c = save;
		return -EBADMSG;
	}
	return 0;
}
