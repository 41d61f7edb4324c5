// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the configuration parser (our line reader, inih, the value parsers and the
 * checks) on arbitrary bytes. Seed corpus: tests/fuzz/corpus/config/.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *     tests/fuzz/config_fuzz.c user/config.c user/config_keys.c user/staple_sched.c \
 *     user/log.c -linih -lcrypto -o build/config_fuzz
 *   ./build/config_fuzz -max_len=4096 tests/fuzz/corpus/config
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kstaple/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* Every rejected input logs; keep the fuzzer's output readable and fast. */
	ks_log_set_stream(fopen("/dev/null", "w"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_config *cfg = NULL;
	char *text = malloc(size + 1);
	int r;

	if (!text)
		return 0;
	/* The parser takes a C string (ks_config_load refuses files with NUL bytes). */
	memcpy(text, data, size);
	text[size] = '\0';
	r = ks_config_parse(text, "/etc/kstaple/fuzz.conf", &cfg);
	if ((r == 0) != (cfg != NULL))
		abort();
	if (cfg) {
		/* Whatever was accepted must be complete and within the table's rules. */
		for (size_t i = 0; i < cfg->n_certs; i++)
			if (!cfg->certs[i].chain || !cfg->certs[i].key ||
			    ks_config_cert(cfg, cfg->certs[i].name) != &cfg->certs[i])
				abort();
		if (ks_sched_policy_check(&cfg->fetch.sched) != 0)
			abort();
	}
	ks_config_free(cfg);
	free(text);
	return 0;
}
