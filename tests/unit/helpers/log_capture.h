/* SPDX-License-Identifier: MIT */
/*
 * Test helper: kstaple's log captured in memory, so a test can check that an error names the
 * certificate, file or line it is about. One capture per test process (Criterion forks).
 */
#ifndef KSTAPLE_TEST_LOG_CAPTURE_H
#define KSTAPLE_TEST_LOG_CAPTURE_H

/* Send the log (without timestamps) to memory; call from a suite's .init. */
void ks_test_log_start(void);
/* Back to stderr, memory freed; call from a suite's .fini. */
void ks_test_log_stop(void);
/* Forget what was logged so far. */
void ks_test_log_reset(void);
/* Everything logged since the start (or the last reset); never NULL. */
const char *ks_test_logged(void);

#endif /* KSTAPLE_TEST_LOG_CAPTURE_H */
