/* SPDX-License-Identifier: MIT */
/*
 * Error-handling conventions shared by every kstaple module.
 *
 * Every int-returning function returns 0 (or a non-negative count) on success and a negative
 * errno on failure, as liburing, libbpf 1.x and io_uring's cqe->res do. Pointer-returning
 * functions return NULL and set errno. The macros below keep the happy path readable in the
 * spirit of s2n-tls's RESULT_GUARD/RESULT_ENSURE.
 */
#ifndef KSTAPLE_COMMON_H
#define KSTAPLE_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define KS_MUST_CHECK	__attribute__((warn_unused_result))
#define KS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define KS_UNUSED	__attribute__((unused))

#define KS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KS_MIN(a, b)	 ((a) < (b) ? (a) : (b))
#define KS_MAX(a, b)	 ((a) > (b) ? (a) : (b))

/* Propagate a negative return value. */
#define TRY(expr)                                     \
	do {                                          \
		long long __ks_r = (long long)(expr); \
		if (__ks_r < 0)                       \
			return (int)__ks_r;           \
	} while (0)

/* Return err (a negative errno) unless cond holds. */
#define ENSURE(cond, err)             \
	do {                          \
		if (!(cond))          \
			return (err); \
	} while (0)

/* OpenSSL's convention is 1 (or > 0) for success: map anything else to err. */
#define TRY_OSSL(expr, err)           \
	do {                          \
		if ((expr) <= 0)      \
			return (err); \
	} while (0)

/* Same, for functions with a single cleanup label: sets ret and jumps to out. */
#define TRY_OUT(expr)              \
	do {                       \
		ret = (int)(expr); \
		if (ret < 0)       \
			goto out;  \
	} while (0)

#define ENSURE_OUT(cond, err)        \
	do {                         \
		if (!(cond)) {       \
			ret = (err); \
			goto out;    \
		}                    \
	} while (0)

/*
 * FNV-1a, 64 bits: a spread for hash tables whose keys are compared byte for byte afterwards
 * (never a security boundary: a collision costs a comparison).
 */
static inline uint64_t ks_fnv1a(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Exit codes of the command-line tool (see kstaple(8)). */
enum ks_exit {
	KS_EXIT_OK = 0,
	KS_EXIT_REVOKED = 1,
	KS_EXIT_NOT_STAPLEABLE = 2,
	KS_EXIT_USAGE = 64,    /* EX_USAGE */
	KS_EXIT_DATAERR = 65,  /* EX_DATAERR: unreadable or malformed input */
	KS_EXIT_NOINPUT = 66,  /* EX_NOINPUT: a file could not be opened */
	KS_EXIT_SOFTWARE = 70, /* EX_SOFTWARE */
	KS_EXIT_IOERR = 74,    /* EX_IOERR */
	KS_EXIT_CONFIG = 78,   /* EX_CONFIG */
};

#endif /* KSTAPLE_COMMON_H */
