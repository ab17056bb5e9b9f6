/* The FETCH item list (RFC 9051 section 6.4.5, RFC 3501 section 6.4.5,
 * RFC 3516 BINARY, RFC 7162 MODSEQ): from the one argument after the
 * sequence set (an atom, a macro or a parenthesized list) to a struct the
 * FETCH command walks. Modifiers after the items (CHANGEDSINCE ...) are
 * the command's: it passes only the items argument here. */
#ifndef POSTERN_IMAP_FETCH_ITEMS_H
#define POSTERN_IMAP_FETCH_ITEMS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/parse.h"

/* Deeper part numbers are no message a client has (and bound work). */
#define IMAP_SECTION_PARTS_MAX 32
/* Header names in one HEADER.FIELDS list. */
#define IMAP_SECTION_FIELDS_MAX 256

enum imap_fetch_flag {
	IMAP_FETCH_FLAGS = 1u << 0,
	IMAP_FETCH_INTERNALDATE = 1u << 1,
	IMAP_FETCH_RFC822_SIZE = 1u << 2,
	IMAP_FETCH_ENVELOPE = 1u << 3,
	IMAP_FETCH_BODY = 1u << 4,          /* BODY without a section */
	IMAP_FETCH_BODYSTRUCTURE = 1u << 5,
	IMAP_FETCH_UID = 1u << 6,
	IMAP_FETCH_RFC822 = 1u << 7,
	IMAP_FETCH_RFC822_HEADER = 1u << 8,
	IMAP_FETCH_RFC822_TEXT = 1u << 9,
	IMAP_FETCH_MODSEQ = 1u << 10,       /* RFC 7162 section 3.1.4.1 */
};

enum imap_section_kind {
	IMAP_SECTION_BODY,        /* BODY[...] and BODY.PEEK[...] */
	IMAP_SECTION_BINARY,      /* BINARY[...] and BINARY.PEEK[...] */
	IMAP_SECTION_BINARY_SIZE, /* BINARY.SIZE[...] */
};

enum imap_section_text {
	IMAP_SECTION_TEXT_NONE,   /* the whole message or part */
	IMAP_SECTION_TEXT_HEADER,
	IMAP_SECTION_TEXT_FIELDS,     /* HEADER.FIELDS (fields) */
	IMAP_SECTION_TEXT_FIELDS_NOT, /* HEADER.FIELDS.NOT (fields) */
	IMAP_SECTION_TEXT_MIME,
	IMAP_SECTION_TEXT_TEXT,
};

struct imap_fetch_section {
	enum imap_section_kind kind;
	bool peek;
	uint32_t part[IMAP_SECTION_PARTS_MAX]; /* 1.2.3 */
	size_t nparts;
	enum imap_section_text text;
	char **fields;  /* NUL-terminated, upper-cased header names */
	size_t nfields;
	bool partial;
	uint64_t origin, count; /* <origin.count> */
	char *echo;     /* the response's name: BODY[HEADER.FIELDS (FROM)]<0> */
};

struct imap_fetch_items {
	unsigned flags;                      /* enum imap_fetch_flag */
	struct imap_fetch_section *sections; /* in request order */
	size_t nsections;
	bool sets_seen; /* BODY[...], BINARY[...], RFC822, RFC822.TEXT */
};

/* On error returns false with *reason (static) and nothing to free. */
bool imap_fetch_items_parse(const struct imap_arg *arg,
			    struct imap_fetch_items *out, const char **reason);
void imap_fetch_items_free(struct imap_fetch_items *items);

#endif
