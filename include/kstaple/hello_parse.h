/* SPDX-License-Identifier: MIT */
/*
 * Userspace twin of bpf/hello.bpf.c: classifies the client byte stream of one TCP connection
 * (from its first byte) exactly as the BPF program does, and is the reference its tests and
 * fuzzer compare against. The rules (see bpf_abi.h for the counters):
 *
 *  - the first 5 bytes must be a TLS record header of type handshake(22), version 3.x, else
 *    unclassified_non_tls; a record longer than 2^14 or empty is unclassified_malformed;
 *  - the handshake message must be a ClientHello whose every length is consistent (RFC 8446
 *    §4.1.2), possibly fragmented over up to KS_HELLO_MAX_RECORDS handshake records; errors
 *    are reported in stream order (the first one met wins);
 *  - status_request counts only a well-formed CertificateStatusRequest of type ocsp
 *    (RFC 6066 §8); status_request_v2 a non-empty, exactly-sized list (RFC 6961 §2.2);
 *  - a hello that ends where its record ends may be followed by one ChangeCipherSpec and a
 *    second ClientHello (after a HelloRetryRequest), counted again and in hrr_hellos;
 *  - a stream that ends inside a hello counts as unclassified_short only if the connection
 *    ended (fin); otherwise the hello is still pending and nothing is counted.
 */
#ifndef KSTAPLE_HELLO_PARSE_H
#define KSTAPLE_HELLO_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kstaple/bpf_abi.h"
#include "kstaple/common.h"

/*
 * Add to *add the counts for one connection whose client sent stream[0..len). Returns the
 * number of counters incremented by one (0, 1 or 2 verdicts) or -EINVAL.
 */
KS_MUST_CHECK int ks_hello_classify(const uint8_t *stream, size_t len, bool fin,
				    struct ks_hello_counters *add);

/* counters += add, field by field. */
void ks_hello_counters_add(struct ks_hello_counters *counters, const struct ks_hello_counters *add);

#endif /* KSTAPLE_HELLO_PARSE_H */
