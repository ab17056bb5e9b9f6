/* POP3 (RFC 1939) with CAPA and PIPELINING (RFC 2449), STLS (RFC 2595),
 * AUTH (RFC 5034) and the response codes of RFC 2449 and RFC 3206. */
#ifndef POSTERN_POP3_H
#define POSTERN_POP3_H

struct conn;
struct session_env;

/* Called by the worker right after accept on a pop3 or pop3s listener
 * (c->tls is already true on pop3s). Attaches the session to c and
 * writes the greeting. The session frees itself after c's on_close, once
 * its pending auth request and store jobs are gone. env must outlive
 * every session (it is the worker's). */
void pop3_session_start(struct conn *c, const struct session_env *env);

#endif
