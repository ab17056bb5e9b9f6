/* Pure parsing for POP3: a command line into a verb and arguments,
 * message numbers, and the cut of a TOP reply. No I/O, no allocation:
 * every slice points into the caller's line. Fuzzed by fuzz/fuzz_pop3.c,
 * table-tested by tests/unit/test_pop3_parse.c. */
#ifndef POSTERN_POP3_PARSE_H
#define POSTERN_POP3_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* RFC 1939 section 3: keywords are three or four characters; RFC 2449
 * extensions keep that (CAPA, STLS, AUTH, UIDL). */
#define POP3_VERB_MIN 3
#define POP3_VERB_MAX 4
/* No POP3 command takes more than two arguments (TOP msg n, APOP name
 * digest, AUTH mech initial-response); one more is enough to say
 * "too many". */
#define POP3_ARGS_MAX 3

enum pop3_parse_status {
	POP3_PARSE_OK,
	POP3_PARSE_EMPTY,    /* an empty line */
	POP3_PARSE_NUL,      /* a NUL octet anywhere in the line */
	POP3_PARSE_BAD_VERB, /* not 3-4 ASCII letters */
};

struct pop3_line {
	struct str verb;  /* as sent (compare case-insensitively) */
	struct str rest;  /* everything after the first space */
	bool has_rest;    /* a space followed the verb (rest may be "") */
};

enum pop3_parse_status pop3_parse_line(struct str line,
				       struct pop3_line *out);

/* Splits rest into arguments separated by single spaces (RFC 1939
 * section 3). Returns the count (0..max), POP3_ARGS_EMPTY if an argument
 * is empty (a leading, trailing or doubled space, or has_rest with
 * nothing after it), or POP3_ARGS_TOO_MANY. */
#define POP3_ARGS_EMPTY (-1)
#define POP3_ARGS_TOO_MANY (-2)
int pop3_split_args(const struct pop3_line *pl, struct str *argv,
		    size_t max);

/* A message number: decimal digits only (no sign, no space), 1..count. */
enum pop3_num_status {
	POP3_NUM_OK,
	POP3_NUM_SYNTAX, /* not a decimal number */
	POP3_NUM_RANGE,  /* 0 or greater than count */
};
enum pop3_num_status pop3_parse_msgnum(struct str s, size_t count,
				       size_t *out);
/* The line count of TOP: any decimal number; values beyond 2^63 are
 * clamped (they mean "the whole body" anyway). */
bool pop3_parse_count(struct str s, uint64_t *out);

/* True if s is a plausible user name from the wire: 1..AUTH_NAME_MAX
 * octets, no control characters (NUL, CR, LF ...). The auth process
 * decides whether it exists. */
bool pop3_name_ok(struct str s);

/* TOP (RFC 1939 section 7): the header, the blank line that ends it and
 * the first `lines` lines of the body. The raw file has LF or CRLF line
 * ends; the header ends at the first empty line; a message without one
 * is all header. Feed the raw bytes in chunks of any size; each call
 * returns how many leading bytes of the chunk belong to the reply and
 * sets done once the rest of the message is not wanted. */
struct pop3_top {
	uint64_t lines_left; /* body lines still wanted */
	uint64_t line_len;   /* octets of the current line so far */
	bool last_cr;        /* the current line's last octet was CR */
	bool in_body;
	bool done;
};
void pop3_top_init(struct pop3_top *t, uint64_t lines);
size_t pop3_top_feed(struct pop3_top *t, const char *p, size_t n);

#endif
