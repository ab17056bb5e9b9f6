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
 * needs it; header-only programs read just the header; a field's
 * decoded text is made once per message however many keys name it.
 * A search can run in slices with a budget (imap_search_step), so the
 * session can share the pool's heavy threads with other sessions, stop
 * when the client is gone, and refuse to go on past a CPU limit. */
#ifndef POSTERN_IMAP_SEARCH_H
#define POSTERN_IMAP_SEARCH_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "imap/flags.h"
#include "imap/search_parse.h"
#include "store/store.h"

struct imap_search_view {
	const struct mailbox *mb;
	size_t count;          /* messages 1..count are the session's view: seq = index + 1 */
	const uint32_t *saved; /* $ (SEARCHRES): UIDs, ascending; NULL = empty */
	size_t n_saved;
	int64_t now;           /* for OLDER/YOUNGER if supported */
	/* IMAP4rev1 \Recent (imap/flags.h ranges); n_recent 0 otherwise */
	const struct imap_uid_range *recent;
	size_t n_recent;
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

/* The same in slices. imap_search_start compiles prog against v (both
 * must outlive the state, and v's mailbox must not change meanwhile);
 * each imap_search_step goes on where the last one stopped. */
struct imap_search_state;
struct imap_search_limits {
	const atomic_bool *cancel; /* when set: CANCELLED at the next check */
	uint64_t slice_ns;    /* MORE after a message once a step has run
	                       * this long (wall clock); 0: to the end */
	uint64_t cpu_limit_ns; /* OVER_LIMIT once all steps together used
	                        * this much CPU time; 0: no limit */
};
enum imap_search_status {
	IMAP_SEARCH_DONE,       /* imap_search_take has the result */
	IMAP_SEARCH_MORE,       /* call imap_search_step again */
	IMAP_SEARCH_OVER_LIMIT, /* stopped: cpu_limit_ns used up */
	IMAP_SEARCH_CANCELLED,  /* stopped: *cancel was set */
	IMAP_SEARCH_FAILED,     /* a message could not be read:
	                         * imap_search_error */
};
struct imap_search_state *imap_search_start(
	const struct imap_search_program *prog,
	const struct imap_search_view *v);
/* Runs on (blocking, for the pool) until done or a limit of lim (NULL:
 * none) is reached. The budget is checked every ~1024 keys or 4 MiB
 * scanned, so a single message with thousands of BODY keys is cut short
 * too; a slice ends only between messages. */
enum imap_search_status imap_search_step(struct imap_search_state *st,
					 const struct imap_search_limits *lim);
/* After FAILED: the STORE_E* code and a static description. */
int imap_search_error(const struct imap_search_state *st, const char **err);
/* CPU time the steps have used so far. */
uint64_t imap_search_cpu_ns(const struct imap_search_state *st);
/* After DONE: the matches as imap_search_run gives them (the caller's). */
void imap_search_take(struct imap_search_state *st, uint32_t **seqs,
		      size_t *n);
void imap_search_state_free(struct imap_search_state **st);
/* Keys in a program (AND/OR/NOT included): with the view's size, how
 * much an index-only search costs. */
size_t imap_search_key_count(const struct imap_search_key *k);

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
