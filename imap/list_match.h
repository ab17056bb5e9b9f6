/* LIST/LSUB mailbox patterns (RFC 9051 section 6.3.9): '*' matches any
 * run of characters, '%' any run without the hierarchy delimiter '/'.
 * Pure: no I/O, no allocation except in imap_list_pattern_join. */
#ifndef POSTERN_IMAP_LIST_MATCH_H
#define POSTERN_IMAP_LIST_MATCH_H
#include <stdbool.h>

#include "core/buf.h"

/* A pattern longer than this cannot match a name the store accepts
 * (STORE_MBOX_NAME_MAX octets) unless it is mostly wildcards; it also
 * bounds the matcher's work (pattern length x name length). */
#define IMAP_LIST_PATTERN_MAX 4096

/* True when the canonical name (UTF-8, '/' separated, INBOX in capitals)
 * matches pattern. "INBOX" and the "INBOX" of "INBOX/..." are compared
 * case-insensitively with the pattern (RFC 9051 section 5.1: INBOX is
 * case-insensitive), so "inbox", "In%" and "inbox/%" find them. Runs in
 * O(pattern x name); false for patterns over IMAP_LIST_PATTERN_MAX. */
bool imap_list_match(struct str pattern, struct str name);

/* The pattern a LIST searches for: the reference with the mailbox
 * pattern appended (RFC 9051 6.3.9: "the reference name is prepended
 * to the mailbox name"); one '/' where the reference ends in '/' and
 * the pattern starts with one. Replaces out's contents. */
void imap_list_pattern_join(struct str ref, struct str pattern,
			    struct buf *out);

/* What `LIST ref ""` answers as the root name (RFC 9051 6.3.9): the
 * reference up to and including its first '/', or "" (one flat personal
 * namespace). Replaces out's contents. */
void imap_list_root(struct str ref, struct buf *out);
#endif
