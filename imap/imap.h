/* IMAP4rev2 (RFC 9051) serving IMAP4rev1 (RFC 3501) clients too, on the
 * imap (STARTTLS, RFC 9051 section 6.2.1) and imaps (implicit TLS,
 * RFC 8314) listeners. */
#ifndef POSTERN_IMAP_H
#define POSTERN_IMAP_H

struct conn;
struct session_env;

/* Called by the worker right after accept (c->tls is already true on
 * imaps). Attaches the session to c and writes the greeting. The session
 * frees itself after c's on_close, once its pending auth request and
 * store jobs are gone. env must outlive every session. */
void imap_session_start(struct conn *c, const struct session_env *env);

#endif
