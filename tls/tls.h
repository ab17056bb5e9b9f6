/* The only headers that include OpenSSL's TLS API are in tls/ (STYLE 9).
 * TLS 1.2 and 1.3 only, with OpenSSL's modern cipher defaults. */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H
#include <stddef.h>

#include "core/buf.h"

struct ssl_ctx_st;
struct bufferevent;
struct event_base;

/* Loads a PEM certificate chain and key; on error returns NULL and
 * appends the reason to err. */
struct ssl_ctx_st *tls_server_ctx_new(const char *cert, const char *key,
				      struct buf *err);
void tls_ctx_free(struct ssl_ctx_st **ctx);

/* A bufferevent that accepts TLS on fd (implicit TLS: 993, 995, 465). */
struct bufferevent *tls_bev_accept(struct event_base *base, int fd,
				   struct ssl_ctx_st *ctx);
/* Wraps an existing bufferevent (STLS/STARTTLS); the returned one owns
 * it and frees it with itself. */
struct bufferevent *tls_bev_upgrade(struct event_base *base,
				    struct bufferevent *under,
				    struct ssl_ctx_st *ctx);
/* "TLSv1.3/TLS_AES_256_GCM_SHA384", or "none". */
const char *tls_bev_desc(struct bufferevent *bev, char *buf, size_t n);
/* The last TLS error on this bufferevent, for the log. */
const char *tls_bev_error(struct bufferevent *bev, char *buf, size_t n);

/* Makes a self-signed certificate and key for `postern init`. */
int tls_make_self_signed(const char *cert_path, const char *key_path,
			 const char *hostname, struct buf *err);

#endif
