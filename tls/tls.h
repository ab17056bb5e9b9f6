/* The only headers that include OpenSSL's TLS API are in tls/, so a
 * change of TLS library or of OpenSSL's API touches one folder.
 * TLS 1.2 and 1.3 only, with OpenSSL's modern cipher defaults. */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct ssl_ctx_st;
struct bufferevent;
struct event_base;

/* Loads a PEM certificate chain and key; on error returns NULL and
 * appends the reason to err. */
struct ssl_ctx_st *tls_server_ctx_new(const char *cert, const char *key,
				      struct buf *err);
/* The workers' context: the certificate chain of cert and, instead of
 * the private key, a proxy that asks the key process (tls/keyd.h) to
 * sign with its key key_id. Reads no key. NULL with the reason (which
 * names cert) appended to err, also for a key type other than RSA or EC. */
struct ssl_ctx_st *tls_server_ctx_new_keyd(const char *cert, uint32_t key_id,
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

/* The client side (relay/smtpc.c). A context for outgoing connections,
 * TLS 1.2 or later, trusting ca_file (PEM), or the system's default
 * store when ca_file is "". Certificates are checked only on the
 * connections that ask for it (tls_bev_connect*, verify). */
struct ssl_ctx_st *tls_client_ctx_new(const char *ca_file, struct buf *err);
/* STARTTLS as client: wraps under (which the returned one owns, as with
 * tls_bev_upgrade). name goes in SNI (unless it is an IP literal, RFC
 * 6066 section 3) and, when verify, must match the certificate, which
 * must chain to a trusted root, or the handshake fails (BEV_EVENT_ERROR;
 * tls_bev_verify_error says why). NULL on error. */
struct bufferevent *tls_bev_connect_upgrade(struct event_base *base,
					    struct bufferevent *under,
					    struct ssl_ctx_st *ctx,
					    const char *name, bool verify);
/* Implicit TLS (smtps, RFC 8314): a bufferevent on fd that handshakes as
 * client once connected. fd may be -1; then bufferevent_socket_connect()
 * on the result connects it, and BEV_EVENT_CONNECTED comes after the
 * handshake. Same name and verify rules as above. */
struct bufferevent *tls_bev_connect(struct event_base *base, int fd,
				    struct ssl_ctx_st *ctx, const char *name,
				    bool verify);
/* Why the peer's certificate did not verify ("certificate has expired",
 * "hostname mismatch" ...), or NULL if it did (or there is no TLS). For
 * the log, and the reason a VERIFY delivery was deferred. */
const char *tls_bev_verify_error(struct bufferevent *bev);

/* Makes a self-signed certificate and key for `postern init`. */
int tls_make_self_signed(const char *cert_path, const char *key_path,
			 const char *hostname, struct buf *err);

#endif
