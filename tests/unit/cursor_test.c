// SPDX-License-Identifier: MIT
#include <criterion/criterion.h>

#include "kstaple/cursor.h"

Test(cursor, reads_integers_in_network_order)
{
	static const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a };
	struct ks_cursor c = ks_cur_init(b, sizeof(b));
	uint8_t u8;
	uint16_t u16;
	uint32_t u24, u32;

	cr_assert_eq(ks_cur_u8(&c, &u8), 0);
	cr_assert_eq(u8, 0x01);
	cr_assert_eq(ks_cur_u16(&c, &u16), 0);
	cr_assert_eq(u16, 0x0203);
	cr_assert_eq(ks_cur_u24(&c, &u24), 0);
	cr_assert_eq(u24, 0x040506);
	cr_assert_eq(ks_cur_u32(&c, &u32), 0);
	cr_assert_eq(u32, 0x0708090a);
	cr_assert(ks_cur_empty(&c));
}

Test(cursor, underrun_fails_and_does_not_advance)
{
	static const uint8_t b[] = { 0xaa, 0xbb, 0xcc };
	struct ks_cursor c = ks_cur_init(b, sizeof(b));
	uint32_t u32;
	const uint8_t *p;

	cr_assert_eq(ks_cur_u32(&c, &u32), -EBADMSG);
	cr_assert_eq(ks_cur_left(&c), 3);
	cr_assert_eq(ks_cur_bytes(&c, 4, &p), -EBADMSG);
	cr_assert_eq(ks_cur_skip(&c, 4), -EBADMSG);
	cr_assert_eq(ks_cur_skip(&c, 3), 0);
	cr_assert_eq(ks_cur_skip(&c, 1), -EBADMSG);
}

Test(cursor, block_must_be_consumed_exactly)
{
	static const uint8_t b[] = { 0x00, 0x03, 'a', 'b', 'c', 0xff };
	struct ks_cursor c = ks_cur_init(b, sizeof(b)), sub;
	uint8_t x;

	cr_assert_eq(ks_cur_block16(&c, &sub), 0);
	cr_assert_eq(ks_cur_left(&sub), 3);
	cr_assert_eq(ks_cur_u8(&sub, &x), 0);
	cr_assert_eq(ks_cur_close(&sub), -EBADMSG);
	cr_assert_eq(ks_cur_skip(&sub, 2), 0);
	cr_assert_eq(ks_cur_close(&sub), 0);
	cr_assert_eq(ks_cur_left(&c), 1);
}

Test(cursor, lying_block_length_fails_and_restores)
{
	static const uint8_t b[] = { 0x00, 0x09, 'a', 'b' };
	struct ks_cursor c = ks_cur_init(b, sizeof(b)), sub;

	cr_assert_eq(ks_cur_block16(&c, &sub), -EBADMSG);
	cr_assert_eq(ks_cur_left(&c), 4);
	cr_assert_eq(ks_cur_block8(&c, &sub), 0); /* length 0 is fine */
	cr_assert_eq(ks_cur_left(&sub), 0);
}

Test(cursor, der_short_and_long_lengths)
{
	uint8_t b[3 + 200] = { 0x04, 0x81, 200 };
	struct ks_cursor c = ks_cur_init(b, sizeof(b)), v;
	uint8_t tag;

	cr_assert_eq(ks_cur_der(&c, &tag, &v), 0);
	cr_assert_eq(tag, 0x04);
	cr_assert_eq(ks_cur_left(&v), 200);
	cr_assert(ks_cur_empty(&c));
}

Test(cursor, der_rejects_non_der_lengths)
{
	static const uint8_t indefinite[] = { 0x30, 0x80, 0x00, 0x00 };
	static const uint8_t non_minimal[] = { 0x04, 0x81, 0x05, 1, 2, 3, 4, 5 };
	static const uint8_t leading_zero[] = { 0x04, 0x82, 0x00, 0x90 };
	static const uint8_t too_long[] = { 0x04, 0x85, 1, 0, 0, 0, 0 };
	static const uint8_t overrun[] = { 0x04, 0x82, 0x01, 0x00, 0xaa };
	static const uint8_t high_tag[] = { 0x1f, 0x01, 0x00 };
	const struct {
		const uint8_t *b;
		size_t n;
	} cases[] = {
		{ indefinite, sizeof(indefinite) },	{ non_minimal, sizeof(non_minimal) },
		{ leading_zero, sizeof(leading_zero) }, { too_long, sizeof(too_long) },
		{ overrun, sizeof(overrun) },		{ high_tag, sizeof(high_tag) },
	};

	for (size_t i = 0; i < KS_ARRAY_SIZE(cases); i++) {
		struct ks_cursor c = ks_cur_init(cases[i].b, cases[i].n), v;
		uint8_t tag;

		cr_assert_eq(ks_cur_der(&c, &tag, &v), -EBADMSG, "case %zu", i);
		cr_assert_eq(ks_cur_left(&c), cases[i].n, "case %zu restores", i);
	}
}

Test(cursor, der_expect_checks_tag)
{
	static const uint8_t b[] = { 0x02, 0x01, 0x05 };
	struct ks_cursor c = ks_cur_init(b, sizeof(b)), v;

	cr_assert_eq(ks_cur_der_expect(&c, 0x30, &v), -EBADMSG);
	cr_assert_eq(ks_cur_left(&c), 3);
	cr_assert_eq(ks_cur_der_expect(&c, 0x02, &v), 0);
}
