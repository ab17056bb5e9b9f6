/* What IMAP SEARCH (RFC 9051 section 6.4.4) needs from a message:
 * decoded UTF-8 texts to look in, a case-insensitive substring match,
 * and the Date: header's calendar date.
 *
 * Case folding is Unicode simple case folding for: ASCII, Latin-1,
 * Latin Extended-A, Greek and Coptic (basic letters, tonos forms, final
 * sigma), Cyrillic (U+0400..U+052F). Other characters match exactly.
 * Not covered: full foldings (German sharp s = "ss"), Latin
 * Extended-B, Armenian, Georgian, Cherokee, fullwidth letters;
 * no normalization (NFC vs NFD forms do not match each other). */
#ifndef POSTERN_MIME_SEARCH_TEXT_H
#define POSTERN_MIME_SEARCH_TEXT_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/message.h"

/* The simple case folding of one code point (see coverage above). */
uint32_t search_fold_char(uint32_t c);
/* Appends utf8 case-folded; invalid UTF-8 becomes U+FFFD. */
void search_fold(struct str utf8, struct buf *out);
/* Case-insensitive: does haystack contain needle (both UTF-8)? The
 * empty needle matches everything. */
bool search_text_contains(struct str haystack, struct str needle);
/* Same, with both already passed through search_fold. */
bool search_folded_contains(struct str folded_hay, struct str folded_needle);

/* The decoded (unfolded, RFC 2047 words to UTF-8) values of every
 * top-level header field named name, one per line. False if there is
 * no such field (SEARCH HEADER name "" matches only if there is). */
bool search_header_text(const struct mime_message *m, const char *name,
			struct buf *out);
/* FROM, TO, CC, BCC: search_header_text, then each address of those
 * fields once more as "name <local@domain>" (RFC 5322 3.4 parsed:
 * comments, folding and spaces around '@' gone, a quoted local part
 * unquoted, the name decoded), so a key spelt one legal way matches a
 * header spelt another (alice@example.org finds "alice"@example.org,
 * alice@(home)example.org and alice @ example.org). */
bool search_address_text(const struct mime_message *m, const char *name,
			 struct buf *out);
/* BODY: every text part's content, transfer encoding undone and
 * charset converted to UTF-8, parts of attached messages included. */
void search_body_text(const struct mime_message *m, struct buf *out);
/* TEXT: every header (the message's and its attached messages')
 * decoded, then the body text. */
void search_all_text(const struct mime_message *m, struct buf *out);
/* Appends one part's decoded content as UTF-8 (any type). */
void search_part_text(const struct mime_message *m, uint32_t part,
		      struct buf *out);
/* SENTBEFORE/SENTON/SENTSINCE: the Date: header's date in its own zone
 * (RFC 9051 6.4.4). False when there is no parsable Date:. */
bool search_sent_date(const struct mime_message *m, int *year, int *month,
		      int *day);

#endif
