/* FETCH responses (RFC 9051 sections 6.4.5 and 7.5.2, RFC 3501 6.4.5,
 * RFC 3516 BINARY): one "* n FETCH (...)" line for one message, from
 * the store's index and, when the items need it, the message's wire
 * form (read once, parsed at most once). */
#ifndef POSTERN_IMAP_FETCH_H
#define POSTERN_IMAP_FETCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "imap/fetch_items.h"
#include "store/store.h"

/* imap_fetch_write's answer for BINARY of a part whose
 * Content-Transfer-Encoding is unknown: the session answers the command
 * with a tagged NO [UNKNOWN-CTE] (RFC 3516 section 4.3). Nothing was
 * appended to out. */
#define IMAP_FETCH_EUNKNOWN_CTE (-100)

struct imap_fetch_ctx {
	bool utf8;   /* UTF8=ACCEPT enabled or IMAP4rev2 enabled */
	bool rev2;   /* IMAP4rev2 enabled (affects BODYSTRUCTURE of message/global) */
	bool uid;    /* UID FETCH: UID always included (RFC 9051 6.4.9) */
	bool modseq; /* include MODSEQ (CONDSTORE enabled) */
};

/* true when the items need the message file (anything beyond FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, MODSEQ). The session runs the fetch on the
 * thread pool when true and may run it on the loop when false. */
bool imap_fetch_needs_file(const struct imap_fetch_items *items);

/* Appends "* <seq> FETCH (...)\r\n" for message index i of mb. Reads the
 * file when needed (blocking). Reports the flags mb holds at call time.
 * Items go out in a fixed order: UID (when asked or ctx->uid), FLAGS,
 * INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, RFC822,
 * RFC822.HEADER, RFC822.TEXT, MODSEQ, then the sections in request
 * order. INTERNALDATE is written in UTC ("+0000"); SEARCH's date keys
 * use the same zone. Section contents are always literals; NUL bytes in
 * BODY[...] output become 0x80 (like Dovecot), BINARY[...] output that
 * holds NUL goes out as literal8 "~{n}".
 * Returns 0; STORE_ENOENT when the message file vanished or the message
 * is expunged (the session answers per RFC 9051 7.5.1 / 6.4.5: NO or
 * omits it); IMAP_FETCH_EUNKNOWN_CTE; or another STORE_E* code. On any
 * error out is left as it was and err gets the reason. */
int imap_fetch_write(struct buf *out, const struct mailbox *mb, size_t i,
		     uint32_t seq, const struct imap_fetch_items *items,
		     const struct imap_fetch_ctx *ctx, char *err, size_t errsz);

/* The same for message data the caller holds: wire is msg's wire form
 * (msg->size octets as store_msg_read_wire gives them). mb may be NULL
 * (then keywords are not written). No I/O; for tests and fuzzing, and
 * for a session that already holds the bytes. */
int imap_fetch_write_wire(struct buf *out, const struct mailbox *mb,
			  const struct store_msg *msg, struct str wire,
			  uint32_t seq, const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx, char *err,
			  size_t errsz);

/* Appends the INTERNALDATE value, quotes included:
 * "dd-Mon-yyyy hh:mm:ss +0000" (day space-padded, RFC 9051
 * date-day-fixed), in UTC. */
void imap_fetch_write_date(struct buf *out, int64_t t);
#endif
