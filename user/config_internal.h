/* SPDX-License-Identifier: MIT */
/* Shared by config.c (the parser) and config_keys.c (the table and the value parsers). */
#ifndef KSTAPLE_CONFIG_INTERNAL_H
#define KSTAPLE_CONFIG_INTERNAL_H

#include "kstaple/config.h"

struct ks_conf_sec_kind {
	const char *name; /* "fetch"; for instanced kinds the part before ':' */
	bool instanced;	  /* [name:INSTANCE], any number of them */
	size_t arr_off, count_off, elem_size, name_off, line_off;
};

extern const struct ks_conf_sec_kind ks_conf_sections[KS_SEC__COUNT];

#endif /* KSTAPLE_CONFIG_INTERNAL_H */
