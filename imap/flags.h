/* IMAP flag lists (RFC 9051 section 2.3.2, formal syntax flag-list):
 * parsing what STORE and APPEND send, and writing a message's or a
 * mailbox's flags. System flags map to STORE_F_*; keywords are atoms
 * kept by name (the store maps them to its letters). */
#ifndef POSTERN_IMAP_FLAGS_H
#define POSTERN_IMAP_FLAGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "imap/parse.h"
#include "store/store.h"

/* A parsed flag list, e.g. from STORE or APPEND: system flags (STORE_F_*)
 * and keyword names (borrowed from the args). \Recent is refused (RFC 9051
 * dropped it; "\Recent" in STORE/APPEND -> BAD); unknown \Xxx -> BAD.
 * Keywords are deduplicated (ASCII case-insensitively, RFC 9051 2.3.2). */
struct imap_flag_list {
	uint32_t flags;
	struct str *keywords; /* malloc'ed array; the bytes are the args' */
	size_t n_keywords;
};

/* args[0..n): one parenthesized list (n == 1), or a single flag atom, or
 * a space-separated sequence of atoms (STORE's "+FLAGS \Seen \Draft").
 * "()" is an empty list. false + static reason on error, with nothing
 * to free. */
bool imap_flag_list_parse(const struct imap_arg *args, size_t n,
			  struct imap_flag_list *out, const char **reason);
void imap_flag_list_free(struct imap_flag_list *fl);

/* The IMAP name of one system flag bit ("\\Seen"), or NULL. */
const char *imap_flag_name(uint32_t bit);

/* Not a store flag: the session's own \Recent (RFC 3501 2.3.2), ORed
 * into the flags given to imap_flags_write for a message recent in an
 * IMAP4rev1 session. */
#define IMAP_FLAG_RECENT 0x80000000u

/* UIDs lo..hi-1: a session's \Recent messages are a few such ranges,
 * ascending and disjoint. */
struct imap_uid_range {
	uint32_t lo, hi;
};

/* Is uid in one of the n ranges? O(log n). */
bool imap_uid_ranges_has(const struct imap_uid_range *r, size_t n,
			 uint32_t uid);

/* Appends "(\Seen \Flagged kw1 kw2)" for a message: system flags in the
 * order \Seen \Answered \Flagged \Deleted \Draft, then the keywords set
 * in keywords (bit i = store_mailbox_keyword(mb, i); none when mb is
 * NULL). */
void imap_flags_write(struct buf *out, const struct mailbox *mb,
		      uint32_t flags, uint64_t keywords);

/* Appends the list for SELECT's "* FLAGS" (permanent false) or
 * "[PERMANENTFLAGS ...]" (permanent true, ends with \* while clients
 * may still create keywords: fewer than STORE_KEYWORDS_MAX exist): every system flag plus the mailbox's keywords. Only
 * the parenthesized list is written. */
void imap_flags_write_mailbox(struct buf *out, const struct mailbox *mb,
			      bool permanent);
#endif
