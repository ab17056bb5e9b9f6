/* The server side of a SASL exchange (RFC 4422) with PLAIN (RFC 4616),
 * LOGIN and CRAM-MD5 (RFC 2195), shared by POP3 AUTH, SMTP AUTH and IMAP
 * AUTHENTICATE. No I/O: the protocol frames what this returns ("+ ",
 * "334 ", "+ " again for IMAP) and sends the credentials to the auth
 * process. Base64 and the client's "*" are handled here, so every
 * protocol refuses the same inputs the same way.
 *
 * A driver holds the decoded responses (passwords among them) until
 * sasl_server_clear(), which wipes them: call it as soon as the
 * credentials are handed to auth_client_verify (which copies them). */
#ifndef POSTERN_SASL_SERVER_H
#define POSTERN_SASL_SERVER_H
#include <stdbool.h>

#include "auth/auth_client.h"
#include "auth/sasl.h"
#include "core/buf.h"

enum sasl_server_mech {
	SASL_SERVER_NONE,
	SASL_SERVER_PLAIN,
	SASL_SERVER_LOGIN,
	SASL_SERVER_CRAM_MD5,
};

enum sasl_server_result {
	SASL_SERVER_CONTINUE, /* send the challenge, feed the next line */
	SASL_SERVER_DONE,     /* credentials are ready */
	SASL_SERVER_FAILED,   /* error says why; the exchange is over */
};

enum sasl_server_error {
	SASL_SERVER_E_NONE,
	SASL_SERVER_E_BASE64,    /* a response is not strict base64 */
	SASL_SERVER_E_RESPONSE,  /* decoded, but not what the mech wants */
	SASL_SERVER_E_CANCELLED, /* the client sent "*" */
	SASL_SERVER_E_NO_IR,     /* CRAM-MD5 was given an initial response */
	SASL_SERVER_E_TEMP,      /* no challenge could be made */
};

/* What goes to the auth process; slices point into the driver and stay
 * valid until sasl_server_clear(). */
struct sasl_server_creds {
	enum auth_mech mech;
	const char *mech_name; /* "PLAIN", "LOGIN", "CRAM-MD5" (logs) */
	struct str authzid;
	struct str user;
	struct str secret;
	struct str challenge;
};

struct sasl_server {
	enum sasl_server_mech mech;
	struct sasl_login *login; /* LOGIN */
	char *cram_challenge;     /* CRAM-MD5 */
	struct buf decoded;       /* the last decoded response */
	struct buf challenge;     /* base64 of cram_challenge */
};

/* The mechanism named by the client (case-insensitive); CRAM-MD5 only
 * when cram_ok. SASL_SERVER_NONE: not offered. */
enum sasl_server_mech sasl_server_mech_lookup(struct str name, bool cram_ok);
const char *sasl_server_mech_name(enum sasl_server_mech m);

/* Starts an exchange. initial: the initial response as sent (base64 or
 * "=" for empty; RFC 4959, RFC 4954, RFC 5034), or NULL when there is
 * none. On CONTINUE, *challenge is set to the base64 text to send after
 * the protocol's continuation prefix ("" for an empty challenge); it
 * points into static or driver memory and stays valid until the next
 * call. hostname: for the CRAM-MD5 challenge. */
enum sasl_server_result sasl_server_start(struct sasl_server *s,
					  enum sasl_server_mech mech,
					  const struct str *initial,
					  const char *hostname,
					  const char **challenge,
					  struct sasl_server_creds *creds,
					  enum sasl_server_error *error);
/* Feeds one client line of the exchange (base64 or "*"). */
enum sasl_server_result sasl_server_step(struct sasl_server *s,
					 struct str line,
					 const char **challenge,
					 struct sasl_server_creds *creds,
					 enum sasl_server_error *error);
/* The auth process request for credentials, from an exchange or built
 * by the caller (POP3's USER/PASS and APOP): one place that says which
 * mechanism, secret and challenge the auth process checks. The strings
 * are borrowed from cr and the arguments. */
void sasl_server_request(const struct sasl_server_creds *cr,
			 const char *service, const char *remote_ip,
			 const char *session_id, bool secured,
			 struct auth_request *req);
/* Ends the exchange and wipes every secret; the driver may be reused. */
void sasl_server_clear(struct sasl_server *s);
bool sasl_server_active(const struct sasl_server *s);

#endif
