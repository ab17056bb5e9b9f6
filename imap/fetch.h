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
#include "imap/flags.h"
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
	/* IMAP4rev1: the session's \Recent UIDs (flags.h), else n 0 */
	const struct imap_uid_range *recent;
	size_t n_recent;
};

/* true when the items need the message file (anything beyond FLAGS, UID,
 * INTERNALDATE, RFC822.SIZE, MODSEQ). The session runs the fetch on the
 * thread pool when true and may run it on the loop when false. */
bool imap_fetch_needs_file(const struct imap_fetch_items *items);

/* A literal of this many octets or more is not copied into the
 * response: imap_fetch_write_plan leaves a place for it and the session
 * streams it from the file (cmd_fetch.c), so a client that does not
 * read holds a bounded buffer, not the message. Below it, copying is
 * cheaper than a round trip through the thread pool. */
#define IMAP_FETCH_STREAM_MIN (256 * 1024)
/* A message at least IMAP_FETCH_STREAM_MIN long whose items need only
 * its header (ENVELOPE, BODY[], BODY[TEXT], RFC822*, their partials) is
 * read up to the end of its header, at most this much; a longer header
 * (or no blank line) falls back to reading it all. */
#define IMAP_FETCH_HEADER_SCAN (1024 * 1024)

/* One streamed literal: its "{n}\r\n" is in the response; its n octets
 * go at out offset `at`, before the rest of the response. */
enum imap_fetch_src {
	IMAP_FETCH_SRC_WIRE, /* octets off.. of the message's wire form */
	IMAP_FETCH_SRC_TMP,  /* octets off.. of plan->tmp_fd (bytes built
	                      * for the response: decoded BINARY, header
	                      * fields), an unlinked file */
};
struct imap_fetch_stream {
	size_t at;
	enum imap_fetch_src src;
	uint64_t off, len;
	bool nul_to_80; /* BODY[] literal: NUL goes out as 0x80 */
};
/* The streamed literals of one message's response. The caller owns it:
 * imap_fetch_plan_reset closes the files and forgets the streams. */
struct imap_fetch_plan {
	size_t min; /* IMAP_FETCH_STREAM_MIN (tests and fuzzing lower it) */
	struct imap_fetch_stream *v;
	size_t n, cap;
	struct store_wire_reader *wire; /* the message, open (n > 0) */
	int tmp_fd;                     /* -1 until a built literal is big */
	uint64_t tmp_len;
	char *tmp_dir;                  /* where tmp_fd is made */
	uint64_t wire_pos;              /* octets wire has read so far */
};
void imap_fetch_plan_init(struct imap_fetch_plan *p, const char *tmp_dir);
void imap_fetch_plan_reset(struct imap_fetch_plan *p);
void imap_fetch_plan_free(struct imap_fetch_plan *p);

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

/* imap_fetch_write for a caller that streams: literals of
 * IMAP_FETCH_STREAM_MIN octets or more (and, when only the header was
 * read, any range past it) are left out of out and described in plan,
 * which must be empty (n == 0) on entry. On error plan is reset.
 * IMAP_FETCH_STREAM_MIN is plan->min here. */
int imap_fetch_write_plan(struct buf *out, const struct mailbox *mb,
			  size_t i, uint32_t seq,
			  const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx,
			  struct imap_fetch_plan *plan, char *err,
			  size_t errsz);

/* The same for message data the caller holds: wire is msg's wire form
 * (msg->size octets as store_msg_read_wire gives them). mb may be NULL
 * (then keywords are not written). No I/O; for tests and fuzzing, and
 * for a session that already holds the bytes. */
int imap_fetch_write_wire(struct buf *out, const struct mailbox *mb,
			  const struct store_msg *msg, struct str wire,
			  uint32_t seq, const struct imap_fetch_items *items,
			  const struct imap_fetch_ctx *ctx, char *err,
			  size_t errsz);

/* imap_fetch_write_wire with a plan: the streams' octets are ranges of
 * wire or of plan->tmp_fd (for the fuzzer: the response with every
 * stream put in its place must equal imap_fetch_write_wire's). */
int imap_fetch_write_wire_plan(struct buf *out, const struct mailbox *mb,
			       const struct store_msg *msg, struct str wire,
			       uint32_t seq,
			       const struct imap_fetch_items *items,
			       const struct imap_fetch_ctx *ctx,
			       struct imap_fetch_plan *plan, char *err,
			       size_t errsz);

/* Appends the INTERNALDATE value, quotes included:
 * "dd-Mon-yyyy hh:mm:ss +0000" (day space-padded, RFC 9051
 * date-day-fixed), in UTC. */
void imap_fetch_write_date(struct buf *out, int64_t t);
#endif
