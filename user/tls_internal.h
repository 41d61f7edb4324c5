/* SPDX-License-Identifier: MIT */
/* Shared by tls_server.c (contexts, callbacks) and tls_tickets.c (session ticket keys). */
#ifndef KSTAPLE_TLS_INTERNAL_H
#define KSTAPLE_TLS_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "kstaple/tls_server.h"

/* The ticket keys of the listener ssl belongs to (NULL: none configured). */
struct ks_ticket_keys *ks_tls_keys_of(SSL *ssl);

/* SSL_CTX_set_tlsext_ticket_key_evp_cb */
int ks_tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

#endif /* KSTAPLE_TLS_INTERNAL_H */
