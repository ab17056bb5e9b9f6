/* A proxy private key for workers' TLS contexts (tls/key_proxy.c):
 * public numbers only; its private operations go to the key process
 * (keyd.h). Internal to tls/. */
#ifndef POSTERN_KEY_PROXY_H
#define POSTERN_KEY_PROXY_H
#include <stdint.h>

#include "core/buf.h"

struct evp_pkey_st;

/* A key with pub's public half (an RSA or EC key, e.g. a certificate's)
 * that asks keyd to use key key_id for signing. NULL with the reason in
 * err for any other key type. */
struct evp_pkey_st *key_proxy_new(struct evp_pkey_st *pub, uint32_t key_id,
				  struct buf *err);

#endif
