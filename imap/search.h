/* SEARCH evaluation (RFC 9051 section 6.4.4) over a session's view of a
 * mailbox, and the untagged SEARCH / ESEARCH reply (RFC 4731, RFC 9051
 * section 7.3.4, RFC 5182 SAVE).
 *
 * Choices, each as Dovecot makes it unless said:
 * - Dates: BEFORE/ON/SINCE compare INTERNALDATE's date in UTC, the zone
 *   FETCH INTERNALDATE is written in. SENTBEFORE/SENTON/SENTSINCE use
 *   the Date: header's date in its own zone; a message without a
 *   parsable Date: uses its INTERNALDATE instead.
 * - There is no \Recent (IMAP4rev2): RECENT and NEW match nothing, OLD
 *   matches every message.
 * - KEYWORD of a name the mailbox does not have matches nothing
 *   (UNKEYWORD: everything); names compare ASCII case-insensitively.
 * - Header keys, BODY and TEXT match case-insensitively on decoded
 *   UTF-8 (mime/search_text.h: RFC 2047 words, quoted-printable, base64,
 *   charsets). HEADER name "" matches every message that has the field.
 * - A message whose file vanished is searched as an empty message.
 * Cost: keys that need only the index are tried first in every AND/OR,
 * and a message's file is read (at most once) only when a key still
 * needs it; header-only programs read just the header. */
#ifndef POSTERN_IMAP_SEARCH_H
#define POSTERN_IMAP_SEARCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "imap/search_parse.h"
#include "store/store.h"

struct imap_search_view {
	const struct mailbox *mb;
	size_t count;          /* messages 1..count are the session's view: seq = index + 1 */
	const uint32_t *saved; /* $ (SEARCHRES): UIDs, ascending; NULL = empty */
	size_t n_saved;
	int64_t now;           /* for OLDER/YOUNGER if supported */
};

/* Evaluates prog over the view; *seqs gets ascending sequence numbers of
 * matches (malloc'ed; free(); NULL when n is 0). Blocking when
 * imap_search_needs(&prog->root) says headers/body are needed: the
 * session runs it on the thread pool. Returns 0 or a STORE_E* code
 * (a message file that cannot be read for another reason than having
 * vanished), with err filled and nothing to free. */
int imap_search_run(const struct imap_search_program *prog,
		    const struct imap_search_view *v, uint32_t **seqs,
		    size_t *n, char *err, size_t errsz);

/* Does one message match? msg is its index entry, seq its sequence
 * number, wire its wire form in memory (no I/O: for tests, fuzzing and
 * a caller that holds the bytes). v gives '*', '$' and keyword names;
 * v->mb may be NULL (no keywords, '*' of UIDs is 0). */
bool imap_search_match_wire(const struct imap_search_program *prog,
			    const struct imap_search_view *v, uint32_t seq,
			    const struct store_msg *msg, struct str wire);

/* The untagged reply: "* SEARCH 2 5 7\r\n" (RFC 3501 style, when the
 * program has no RETURN and !force_esearch) or
 * "* ESEARCH (TAG "a1") UID MIN 2 MAX 7 COUNT 3 ALL 2,5,7\r\n" per the
 * RETURN options (IMAP4rev2 sessions always get ESEARCH: pass
 * force_esearch; no RETURN then means ALL). An empty result leaves out
 * MIN, MAX and ALL. RETURN (SAVE) alone writes nothing (RFC 5182
 * section 2.1). vals are UIDs when uid is true, else sequence numbers,
 * ascending. */
void imap_search_write_result(struct buf *out,
			      const struct imap_search_program *prog,
			      struct str tag, bool uid, bool force_esearch,
			      const uint32_t *vals, size_t n);
#endif
