/* RFC 5322 section 3.4 address lists, for IMAP ENVELOPE: mailboxes with
 * or without display names, groups, obsolete source routes (section
 * 4.4), comments. Never fails: whatever the header holds becomes a list
 * of addresses that can be written out. */
#ifndef POSTERN_MIME_ADDR_H
#define POSTERN_MIME_ADDR_H
#include <stddef.h>

#include "core/buf.h"

/* A group is written as GROUP_START (mailbox = the group's name) ...
 * GROUP_END, as in RFC 9051 section 7.5.2. */
enum mime_addr_kind { MIME_ADDR_MAILBOX, MIME_ADDR_GROUP_START,
		      MIME_ADDR_GROUP_END };

/* Absent fields have p == NULL. The mailbox of an address without one
 * is "MISSING_MAILBOX" and its host "MISSING_DOMAIN" (as Dovecot does):
 * IMAP reads a NIL host as a group marker, so it cannot be NIL. */
struct mime_addr {
	enum mime_addr_kind kind;
	struct str name;    /* display name, quotes removed, not decoded;
			     * else the text of a trailing comment */
	struct str adl;     /* obsolete route "@a,@b" */
	struct str mailbox; /* local part as written (quotes kept) */
	struct str host;
};

struct mime_addr_list {
	struct mime_addr *v;
	size_t n;
	struct buf strings; /* owns what the slices point to */
};

/* Parses an address-list field value (folded or not). */
void mime_addr_parse(struct str value, struct mime_addr_list *out);
void mime_addr_list_free(struct mime_addr_list *l);

#endif
