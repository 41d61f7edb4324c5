/* SPDX-License-Identifier: MIT */
/*
 * ktls: hand a finished TLS session to the kernel (Linux kTLS, Documentation/networking/tls.rst).
 *
 * After SSL_accept() returns 1, ks_ktls_offload() checks the preconditions first (as s2n-tls
 * does: handshake done, nothing pending or buffered in OpenSSL, TLS 1.2/1.3, AES-128-GCM,
 * AES-256-GCM or ChaCha20-Poly1305, kernel support probed once) and then installs the keys:
 *   - whatever OpenSSL's own kTLS already enabled (SSL_OP_ENABLE_KTLS; Debian's OpenSSL 3.0
 *     does TLS 1.2 TX+RX and TLS 1.3 TX) is kept: OpenSSL knows its record sequence numbers,
 *     including the NewSessionTickets it sent under the application key;
 *   - TLS 1.3 RX is installed here from CLIENT_TRAFFIC_SECRET_0 (captured by
 *     ks_ktls_keylog_cb) with HKDF-Expand-Label, record sequence 0: nothing under the client's
 *     application key has been consumed (SSL_has_pending() == 0 is a precondition);
 *   - TLS 1.3 TX is installed here only if OpenSSL did not do it and the server sends no
 *     tickets (SSL_get_num_tickets() == 0), the one case where its sequence is known to be 0.
 * RX is installed before a manual TX, so that every outcome leaves a consistent session:
 * the caller reads plaintext from the fd if KS_KTLS_RX is set (else SSL_read) and writes
 * plaintext to the fd if KS_KTLS_TX is set (else SSL_write). Every fallible step (probe,
 * key derivation, struct filling) happens before the first key reaches the kernel.
 *
 * Sessions that stay in userspace are counted by reason and the reason is logged once per
 * process in operator words. All setsockopt calls go through ks_ktls_setsockopt, which only
 * tests replace.
 */
#ifndef KSTAPLE_KTLS_H
#define KSTAPLE_KTLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/tcp.h>

#include <linux/tls.h>
#include <openssl/ssl.h>

#include "kstaple/common.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

enum ks_ktls_dir {
	KS_KTLS_TX = 1u << 0,
	KS_KTLS_RX = 1u << 1,
	KS_KTLS_BOTH = KS_KTLS_TX | KS_KTLS_RX,
};

/* Why a direction stayed in userspace (KS_KTLS_WHY_NONE: both are in the kernel). */
enum ks_ktls_why {
	KS_KTLS_WHY_NONE = 0,
	KS_KTLS_WHY_OFF,	   /* ktls = off for this listener */
	KS_KTLS_WHY_NO_ULP,	   /* kernel has no TLS ULP (CONFIG_TLS) */
	KS_KTLS_WHY_NOT_DONE,	   /* handshake not finished */
	KS_KTLS_WHY_VERSION,	   /* neither TLS 1.2 nor TLS 1.3 */
	KS_KTLS_WHY_CIPHER,	   /* negotiated cipher has no kTLS path (CBC, CCM, ...) */
	KS_KTLS_WHY_PENDING,	   /* OpenSSL holds bytes already read from the socket */
	KS_KTLS_WHY_KERNEL_CIPHER, /* kernel refused this version/cipher (crypto module missing) */
	KS_KTLS_WHY_OPENSSL,	   /* OpenSSL did not enable its kTLS (TLS 1.2 needs it) */
	KS_KTLS_WHY_NO_SECRET,	   /* keylog callback not installed or secret not seen */
	KS_KTLS_WHY_TX_SEQ,	   /* TLS 1.3 TX: OpenSSL did not offload and tickets were sent */
	KS_KTLS_WHY_SETSOCKOPT,	   /* kernel refused the keys of this session */
	KS_KTLS_WHY_MAX
};

/* Operator words for a reason ("kernel has no TLS ULP (CONFIG_TLS)"). */
const char *ks_ktls_why_str(enum ks_ktls_why why);

/* Kernel cipher indexes used in ks_ktls_support.dirs[][]. */
enum ks_ktls_cipher {
	KS_KTLS_AES_128_GCM = 0,
	KS_KTLS_AES_256_GCM,
	KS_KTLS_CHACHA20_POLY1305,
	KS_KTLS_CIPHER_MAX
};

/* What the running kernel accepts, probed once on loopback socket pairs. */
struct ks_ktls_support {
	bool ulp;    /* setsockopt(TCP_ULP, "tls") works */
	int ulp_err; /* its errno otherwise (ENOENT: no tls module) */
	/* dirs[0 = TLS 1.2, 1 = TLS 1.3][enum ks_ktls_cipher]: KS_KTLS_TX|KS_KTLS_RX accepted */
	uint8_t dirs[2][KS_KTLS_CIPHER_MAX];
	bool rekey; /* a second TLS_RX on a TLS 1.3 socket works (KeyUpdate; Linux 6.14+) */
};

/* The result of ks_ktls_offload() and, for TLS 1.3, the state a KeyUpdate needs. */
struct ks_ktls_result {
	unsigned dirs;	      /* enum ks_ktls_dir now carried by the kernel */
	enum ks_ktls_why why; /* why not KS_KTLS_BOTH */
	int err;	      /* errno of the refused setsockopt, 0 otherwise */
	uint16_t version;     /* TLS1_2_VERSION or TLS1_3_VERSION (0 if neither) */
	int8_t cipher;	      /* enum ks_ktls_cipher, -1 if none */
	bool tx_openssl;      /* TX installed by OpenSSL's own kTLS */
	bool rx_openssl;
	/*
	 * TLS 1.3 traffic secrets, kept only while the kernel can rekey (support.rekey), so a
	 * KeyUpdate can move to the next generation. Wiped by ks_ktls_result_wipe().
	 */
	uint8_t secret_len;
	uint8_t rx_secret[48], tx_secret[48];
};

void ks_ktls_result_wipe(struct ks_ktls_result *r);

/* Replaceable only by tests: every setsockopt of this module and of ktls_record.c. */
typedef int (*ks_ktls_setsockopt_fn)(int fd, int level, int name, const void *val, socklen_t len);
extern ks_ktls_setsockopt_fn ks_ktls_setsockopt;

/*
 * Probe once per process (thread-safe) and return the cached answer. Never fails: a kernel
 * without kTLS is an answer (ulp = false).
 */
const struct ks_ktls_support *ks_ktls_probe(void);
/* Tests: forget the cached probe (after replacing ks_ktls_setsockopt). */
void ks_ktls_probe_reset(void);

/*
 * Configure ctx for offload: SSL_OP_ENABLE_KTLS and ks_ktls_keylog_cb as its keylog callback
 * (replaces any other keylog callback).
 */
void ks_ktls_ctx_setup(SSL_CTX *ctx);
/*
 * Keylog callback: keeps CLIENT/SERVER_TRAFFIC_SECRET_0 of each SSL in its ex_data until
 * ks_ktls_offload() used them or the SSL is freed (wiped with OPENSSL_cleanse both ways).
 */
void ks_ktls_keylog_cb(const SSL *ssl, const char *line);

/*
 * Move the session of ssl on socket fd to the kernel as far as possible; out says which
 * directions and why not both. Returns 0 (out filled, whatever the outcome) or -EINVAL.
 * Call right after SSL_accept() returned 1, before any SSL_read/SSL_write.
 */
KS_MUST_CHECK int ks_ktls_offload(SSL *ssl, int fd, struct ks_ktls_result *out);

/*
 * Same, with flags. KS_KTLS_F_BOTH_OR_NONE: install RX only if TX will be in the kernel too
 * (OpenSSL's, or ours), so the caller never meets the RX-only state (a splice proxy or a
 * hand-off need both; a session that keeps OpenSSL's TX stays entirely usable with
 * SSL_read/SSL_write). Only a kernel that takes RX keys and then refuses TX keys can still
 * leave RX-only: close such a connection.
 */
enum {
	KS_KTLS_F_BOTH_OR_NONE = 1u << 0
};
KS_MUST_CHECK int ks_ktls_offload_flags(SSL *ssl, int fd, unsigned flags,
					struct ks_ktls_result *out);

/*
 * Configuration: ktls = auto|require|off. ks_ktls_check_mode() says whether a listener with
 * this mode may start: -EOPNOTSUPP with the reason in why (operator words) if mode is
 * require (or need_both is set, as hand-off needs) and the kernel cannot carry both
 * directions of at least one supported version/cipher.
 */
enum ks_ktls_mode {
	KS_KTLS_MODE_AUTO = 0,
	KS_KTLS_MODE_REQUIRE,
	KS_KTLS_MODE_OFF
};
KS_MUST_CHECK int ks_ktls_mode_parse(const char *s, enum ks_ktls_mode *out);
KS_MUST_CHECK int ks_ktls_check_mode(enum ks_ktls_mode mode, bool need_both, char *why,
				     size_t why_len);

/* Sessions by path since start (relaxed atomic counters, read by the metrics module). */
struct ks_ktls_counts {
	uint64_t both;			     /* TX and RX in the kernel */
	uint64_t tx_only;		     /* TX in the kernel, RX in OpenSSL */
	uint64_t rx_only;		     /* RX in the kernel, TX in OpenSSL */
	uint64_t userspace[KS_KTLS_WHY_MAX]; /* by reason; [KS_KTLS_WHY_NONE] unused */
	uint64_t key_updates;		     /* KeyUpdates applied in the kernel */
	uint64_t closed_key_update;	     /* sessions closed: kernel cannot rekey */
};
void ks_ktls_counts_read(struct ks_ktls_counts *out);
/* Count a session that stays in userspace without calling ks_ktls_offload() (ktls = off). */
void ks_ktls_count_userspace(enum ks_ktls_why why);

/* ---- building blocks, exported for the tests and for ktls_record.c ---- */

/* The union of the kernel's crypto_info structs for the three ciphers. */
union ks_ktls_crypto_info {
	struct tls_crypto_info info;
	struct tls12_crypto_info_aes_gcm_128 gcm128;
	struct tls12_crypto_info_aes_gcm_256 gcm256;
	struct tls12_crypto_info_chacha20_poly1305 chacha;
};

/* Key length of a cipher (16 or 32), 0 if unknown. */
size_t ks_ktls_key_len(enum ks_ktls_cipher c);
/* enum ks_ktls_cipher of an OpenSSL cipher NID, -1 if it has no kTLS path. */
int ks_ktls_cipher_from_nid(int nid);

/*
 * Fill ci for version (TLS1_2_VERSION/TLS1_3_VERSION) and cipher from key, the 12-byte
 * record IV (salt || iv as the kernel splits it: AES-GCM salt = iv[0..4], iv = iv[4..12];
 * ChaCha20-Poly1305 no salt, iv = iv[0..12]) and the next record sequence number (big endian
 * in rec_seq). *len is the size to pass to setsockopt.
 */
KS_MUST_CHECK int ks_ktls_fill_info(uint16_t version, enum ks_ktls_cipher cipher,
				    const uint8_t *key, size_t key_len, const uint8_t iv[12],
				    uint64_t seq, union ks_ktls_crypto_info *ci, socklen_t *len);

/* RFC 8446 §7.1 HKDF-Expand-Label(secret, label, context, out_len) with md. */
KS_MUST_CHECK int ks_tls13_expand_label(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
					const char *label, const uint8_t *context,
					size_t context_len, uint8_t *out, size_t out_len);
/* RFC 8446 §7.3: key = Expand-Label(secret, "key", "", key_len), iv = (.., "iv", "", 12). */
KS_MUST_CHECK int ks_tls13_traffic_keys(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
					uint8_t *key, size_t key_len, uint8_t iv[12]);
/* RFC 8446 §7.2: next = Expand-Label(secret, "traffic upd", "", Hash.length), in place. */
KS_MUST_CHECK int ks_tls13_next_secret(const EVP_MD *md, uint8_t *secret, size_t secret_len);
/* The HKDF hash of a TLS 1.3 cipher (SHA-384 for AES-256-GCM, SHA-256 otherwise). */
const EVP_MD *ks_ktls_cipher_md(enum ks_ktls_cipher c);

/*
 * Install one direction of a TLS 1.3 session from a traffic secret (TCP_ULP must already be
 * attached). Returns 0 or the negative errno of the refused setsockopt.
 */
KS_MUST_CHECK int ks_ktls_install13(int fd, int dir_opt, enum ks_ktls_cipher cipher,
				    const uint8_t *secret, size_t secret_len, uint64_t seq);

/* ---- records that are not application data on a kTLS RX socket (ktls_record.c) ---- */

/*
 * A kTLS RX socket hands non-data records (alerts, handshake messages) to userspace only
 * through recvmsg() with a TLS_GET_RECORD_TYPE control message; read()/recv() and splice
 * fail on them (-EIO, -EINVAL). ks_ktls_recv_record() reads the next record (or data bytes)
 * and its content type: 23 for application data. Returns the byte count (0 at end of stream)
 * or a negative errno. Give it room for a whole record (16 KiB) when a control record is
 * expected. flags: recvmsg flags (MSG_DONTWAIT, ...).
 */
KS_MUST_CHECK ssize_t ks_ktls_recv_record(int fd, void *buf, size_t len, uint8_t *type, int flags);

/* TLS record content types (RFC 8446 §5.1). */
enum ks_tls_content_type {
	KS_TLS_CT_CHANGE_CIPHER_SPEC = 20,
	KS_TLS_CT_ALERT = 21,
	KS_TLS_CT_HANDSHAKE = 22,
	KS_TLS_CT_APPLICATION_DATA = 23,
};

enum ks_ktls_ctl_action {
	KS_KTLS_CTL_CONTINUE = 0, /* handled (KeyUpdate applied, user_canceled): keep going */
	KS_KTLS_CTL_END,	  /* close_notify: the peer finished sending, cleanly */
	KS_KTLS_CTL_CLOSE,	  /* close the session; reason says why */
};

/* What a control record means. */
struct ks_ktls_ctl {
	enum ks_ktls_ctl_action action;
	uint8_t type;	     /* record content type */
	uint8_t alert_level; /* alerts */
	uint8_t alert_desc;
	uint8_t hs_type;       /* handshake: the message that decided */
	bool key_update;       /* a KeyUpdate was the (last) message */
	bool update_requested; /* ... with request_update = update_requested */
	const char *reason;    /* operator words for END and CLOSE, "" otherwise */
};

/*
 * Pure parser of one control record of a session of version (fuzzed). Fills out; returns 0,
 * or -EBADMSG for a record that breaks RFC 8446/5246 (out->action is then CLOSE).
 */
KS_MUST_CHECK int ks_ktls_parse_control(uint16_t version, uint8_t type, const uint8_t *rec,
					size_t len, struct ks_ktls_ctl *out);

/*
 * Act on a control record read by ks_ktls_recv_record() from session s on fd: a TLS 1.3
 * KeyUpdate moves RX (and TX, with our own KeyUpdate, if requested) to the next secret when
 * the kernel can rekey; otherwise the session must close. Logs END/CLOSE reasons once per
 * session with who (e.g. "listener web, peer 192.0.2.1:5555"). Returns 0 (see out->action)
 * or a negative errno (out->action is CLOSE).
 */
KS_MUST_CHECK int ks_ktls_handle_control(struct ks_ktls_result *s, int fd, uint8_t type,
					 const uint8_t *rec, size_t len, const char *who,
					 struct ks_ktls_ctl *out);

/* Send one record of content type through kTLS TX (sendmsg + TLS_SET_RECORD_TYPE). */
KS_MUST_CHECK int ks_ktls_send_record(int fd, uint8_t type, const void *buf, size_t len);
/* Send a close_notify alert (warning, 0) through kTLS TX. */
KS_MUST_CHECK int ks_ktls_send_close_notify(int fd);

#endif /* KSTAPLE_KTLS_H */
