/* SMTP (RFC 5321) on port 25, submission (RFC 6409) on 587 and 465
 * (RFC 8314 implicit TLS), and LMTP (RFC 2033), with PIPELINING,
 * SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING, STARTTLS and
 * AUTH PLAIN/LOGIN (submission only). Local delivery only for now. */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

struct conn;
struct session_env;

/* Called by the worker right after accept on an smtp, submission,
 * submissions or lmtp listener (c->tls is already true on 465).
 * Attaches the session to c and writes the greeting. The session frees
 * itself after c's on_close, once its pending auth request and delivery
 * job are gone. env must outlive every session. */
void smtp_session_start(struct conn *c, const struct session_env *env);

#endif
