/* The SMTP client's reply parser (RFC 5321 section 4.2): fed one line at
 * a time (without its CRLF), it says need-more, done or error, and keeps
 * its place between lines. A reply is refused, never cut short,
 * when it breaks a limit: a truncated line read as the start of another
 * reply is how OpenSMTPD's client was made to run the server's words as
 * its own (CVE-2020-8794). */
#ifndef POSTERN_SMTPC_REPLY_H
#define POSTERN_SMTPC_REPLY_H
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "relay/smtpc.h"

/* RFC 5321 4.5.3.1.5 caps a reply line at 512 octets; servers send
 * longer EHLO and error lines, so we allow four times that and refuse
 * anything longer. */
#define SMTPC_REPLY_LINE_MAX 2048
/* No real reply has more lines than this (a long EHLO has ~20). */
#define SMTPC_REPLY_LINES_MAX 100

enum smtpc_reply_status {
	SMTPC_REPLY_MORE,  /* a '-' line: feed the next one */
	SMTPC_REPLY_DONE,  /* the reply is in p->reply (and p->ehlo) */
	SMTPC_REPLY_ERROR, /* p->error says why; the connection is unusable */
};

/* What an EHLO reply announced (RFC 5321 4.1.1.1 and the extensions). */
struct smtpc_ehlo {
	bool pipelining;  /* RFC 2920 */
	bool starttls;    /* RFC 3207 */
	bool size;        /* RFC 1870 */
	unsigned long long size_max; /* 0 = no limit announced */
	bool eightbitmime; /* RFC 6152 */
	bool smtputf8;    /* RFC 6531 */
	bool dsn;         /* RFC 3461 */
	bool auth_plain;  /* RFC 4954 + RFC 4616 */
	bool auth_login;
};

struct smtpc_reply_parser {
	struct smtpc_reply reply;
	struct smtpc_ehlo ehlo;  /* from the lines after the first */
	size_t lines;
	size_t text_len;
	const char *error;
};

void smtpc_reply_init(struct smtpc_reply_parser *p);
/* One line without CRLF. After DONE or ERROR, init again for the next
 * reply. */
enum smtpc_reply_status smtpc_reply_feed(struct smtpc_reply_parser *p,
					 struct str line);
/* Fills r with one of our own replies: code, status, "(postern) " text. */
void smtpc_reply_make(struct smtpc_reply *r, int code, const char *status,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The class-matching default status for a reply without one (RFC 3463
 * section 3: X.0.0). */
void smtpc_reply_default_status(struct smtpc_reply *r);

#endif
