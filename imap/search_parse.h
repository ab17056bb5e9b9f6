/* The SEARCH program (RFC 9051 section 6.4.4 and RFC 3501 section 6.4.4;
 * RFC 4731/9051 ESEARCH RETURN options; RFC 5182 "$"): from the
 * arguments after SEARCH / UID SEARCH to a tree the session evaluates by
 * a plain recursive walk. Strings are copied: the program outlives the
 * parser's tree. */
#ifndef POSTERN_IMAP_SEARCH_PARSE_H
#define POSTERN_IMAP_SEARCH_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "imap/parse.h"
#include "imap/seqset.h"

/* NOT NOT NOT ... and nested lists: bounds the evaluator's recursion. */
#define IMAP_SEARCH_DEPTH_MAX 32

enum imap_search_type {
	/* index data only */
	IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT,
	IMAP_SK_FLAGGED, IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT,
	IMAP_SK_SEEN, IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT,
	IMAP_SK_UNFLAGGED, IMAP_SK_UNSEEN,
	IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,  /* value: the keyword */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE, /* date: internal date */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,     /* number: RFC822.SIZE */
	IMAP_SK_SEQSET, IMAP_SK_UID,         /* set */
	/* header fields */
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE, /* Date: */
	IMAP_SK_BCC, IMAP_SK_CC, IMAP_SK_FROM, IMAP_SK_SUBJECT, IMAP_SK_TO,
	IMAP_SK_HEADER,                      /* field, value */
	/* body */
	IMAP_SK_BODY, IMAP_SK_TEXT,          /* value */
	/* structure */
	IMAP_SK_AND,                         /* children: all of them */
	IMAP_SK_OR,                          /* children: 2 */
	IMAP_SK_NOT,                         /* children: 1 */
};

struct imap_search_date {
	uint16_t year;
	uint8_t month, day; /* 1-12, 1-31 and valid for the month */
};

struct imap_search_key {
	enum imap_search_type type;
	struct imap_search_key *child; /* AND, OR, NOT: contiguous */
	size_t nchild;
	char *field;     /* HEADER: the field name, NUL-terminated */
	struct str value; /* owned copy; may hold NUL */
	uint64_t number;
	struct imap_search_date date;
	struct imap_seqset set; /* unresolved; SEQSET/UID may be "$" */
};

enum imap_search_return {
	IMAP_SEARCH_RET_MIN = 1u << 0,
	IMAP_SEARCH_RET_MAX = 1u << 1,
	IMAP_SEARCH_RET_ALL = 1u << 2,
	IMAP_SEARCH_RET_COUNT = 1u << 3,
	IMAP_SEARCH_RET_SAVE = 1u << 4,
};

struct imap_search_program {
	struct imap_search_key root; /* an AND of the top-level keys */
	bool esearch;      /* RETURN (...) given: answer with ESEARCH */
	unsigned ret;      /* enum imap_search_return; RETURN () is ALL */
	char *charset;     /* as given, or NULL */
};

/* What the session needs to read to evaluate a program. */
enum imap_search_needs {
	IMAP_SEARCH_NEEDS_INDEX = 0,      /* flags, sizes, dates, UIDs */
	IMAP_SEARCH_NEEDS_HEADERS = 1u << 0,
	IMAP_SEARCH_NEEDS_BODY = 1u << 1,
};

struct imap_search_error {
	char reason[96];  /* printable; names an unknown key */
	bool badcharset;  /* answer NO [BADCHARSET (UTF-8 US-ASCII)] */
};

/* args: everything after SEARCH. On error returns false with err
 * filled and nothing to free. */
bool imap_search_parse(const struct imap_arg *args, size_t count,
		       struct imap_search_program *out,
		       struct imap_search_error *err);
void imap_search_free(struct imap_search_program *prog);
unsigned imap_search_needs(const struct imap_search_key *key);

#endif
