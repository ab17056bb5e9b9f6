/* The IMAP command parser: I/O-free and incremental (RFC 9051 section 9,
 * RFC 7888 LITERAL+/LITERAL-, RFC 3516 literal8).
 *
 * The session reads a line (bytes up to CRLF or a bare LF, the line end
 * stripped) and hands it to imap_parser_feed_line(). When a line ends in
 * a literal announcement the parser answers IMAP_PARSE_NEED_LITERAL and the
 * session either feeds the literal's bytes (imap_parser_feed_literal) or
 * consumes them itself (imap_parser_literal_external), then reads the next
 * line. IMAP_PARSE_DONE means a whole command is in the tree.
 *
 * After IMAP_PARSE_ERROR the session answers BAD (tagged when the tag is
 * known) and keeps feeding: the parser itself discards the rest of the
 * failed command, which can span lines and non-synchronizing literals
 * (RFC 7888 section 3: every line's end is checked for "{N+}"). While it
 * does, feeding returns IMAP_PARSE_MORE and imap_parser_literal_remaining()
 * says how many raw bytes to feed next. Nothing is ever sent for a
 * discarded synchronizing literal, so a discarded line ending in "{N}"
 * ends the discarding (the client got its BAD and will not send it).
 *
 * Atoms are returned raw, and NIL is an atom: "NIL" is a legal mailbox
 * name (astring), so only the command knows whether its grammar has an
 * nstring there; it asks imap_arg_is_nil(). FETCH attributes with a
 * section ("BODY.PEEK[HEADER.FIELDS (From To)]<0.100>") come out as one
 * atom: after an atom prefix BODY, BODY.PEEK, BINARY, BINARY.PEEK or
 * BINARY.SIZE, a '[' runs to its ']' (spaces, parens and quoted strings
 * inside), and a '<...>' right after the ']' belongs to the atom too.
 *
 * Memory: a parser is ~200 bytes plus its buffers; between commands
 * buffers larger than IMAP_PARSE_KEEP_BYTES are freed, so an idle
 * connection costs at most about 4 KiB here (0 after a big command). */
#ifndef POSTERN_IMAP_PARSE_H
#define POSTERN_IMAP_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Defaults for struct imap_parse_limits, each with its reason. */
/* A command's total size (its text, quoted strings and in-memory
 * literals, not external ones): bounds memory per connection. */
#define IMAP_PARSE_COMMAND_MAX (64 * 1024)
/* A line: UID sets from clients that never compress them are long, yet
 * RFC 7162 section 4 asks for at least 8192 octets. */
#define IMAP_PARSE_LINE_MAX (64 * 1024)
/* An in-memory literal (a password, a mailbox name, a search string). */
#define IMAP_PARSE_LITERAL_MAX (64 * 1024)
/* RFC 7888 section 4: with LITERAL-, non-synchronizing literals above
 * 4096 octets get BAD [TOOBIG]. 0 in the limits means LITERAL+. */
#define IMAP_PARSE_NONSYNC_MAX 4096
/* Parenthesized lists: deep nesting is only ever an attack on a
 * recursive consumer. */
#define IMAP_PARSE_DEPTH_MAX 16
/* Arguments, all lists included: a FETCH with a million of them is an
 * attack, a long UID set is one atom. */
#define IMAP_PARSE_ARGS_MAX 10000
/* Buffers above this are freed between commands. */
#define IMAP_PARSE_KEEP_BYTES 4096

struct imap_parse_limits {
	size_t max_command;
	size_t max_line;
	uint64_t max_literal;
	uint64_t max_nonsync_literal; /* 0: no limit (LITERAL+) */
	unsigned max_depth;
	size_t max_args;
};
/* The defaults above. */
struct imap_parse_limits imap_parse_limits_default(void);

enum imap_parse_result {
	IMAP_PARSE_DONE,         /* a whole command: read it, then reset */
	IMAP_PARSE_NEED_LITERAL, /* see imap_parser_literal() */
	IMAP_PARSE_ERROR,        /* see imap_parser_error() */
	IMAP_PARSE_MORE,         /* feed on: a line, or literal bytes when
	                          * imap_parser_literal_remaining() > 0 */
};

enum imap_arg_type {
	IMAP_ARG_ATOM,     /* raw: may be NIL, a number, a seq set, a
	                    * FETCH attribute with its section */
	IMAP_ARG_QUOTED,   /* unescaped; may hold 8-bit bytes, never NUL */
	IMAP_ARG_LITERAL,  /* may hold NUL; literal8 marks "~{N}" */
	IMAP_ARG_LIST,     /* list/count: the children */
	IMAP_ARG_EXTERNAL, /* a literal the session consumed: cookie, size */
};

struct imap_arg {
	enum imap_arg_type type;
	bool literal8;              /* LITERAL or EXTERNAL sent as ~{N} */
	struct str s;               /* ATOM, QUOTED, LITERAL */
	const struct imap_arg *list; /* LIST: children, contiguous */
	size_t count;               /* LIST: number of children */
	void *cookie;               /* EXTERNAL */
	uint64_t size;              /* EXTERNAL and LITERAL: octets */
};

/* What a NEED_LITERAL is about; valid until the next call on p. */
struct imap_literal_info {
	uint64_t size;
	bool sync;           /* "{N}": the session sends "+ " first */
	bool literal8;       /* "~{N}" (RFC 3516) */
	bool append_message; /* a message in APPEND (depth 0, not the
	                      * mailbox): the session may stream it */
	bool in_memory_ok;   /* within max_literal and max_command: may be
	                      * fed with imap_parser_feed_literal() */
	struct str tag;
	struct str command;  /* upper-cased */
};

/* What an ERROR is about; valid until the next call on p. */
struct imap_parse_error {
	const char *reason; /* short, static, printable */
	bool tag_known;     /* reply "tag BAD reason", else "* BAD reason" */
	struct str tag;
	bool toobig;        /* a literal over a limit: RFC 7888 section 4
	                     * and RFC 4469 want [TOOBIG] */
	bool discarding;    /* the parser goes on discarding the rest of
	                     * this command (keep feeding) */
};

struct imap_parser;

struct imap_parser *imap_parser_new(const struct imap_parse_limits *limits);
void imap_parser_free(struct imap_parser **p);
/* Ready for the next command; the tree of the last one is gone. Safe
 * after any result: a command being discarded stays discarded. */
void imap_parser_reset(struct imap_parser *p);
/* Frees the buffers that hold the last command (its tag, verb and
 * arguments must no longer be used) for a command that then waits a
 * long time, IDLE; imap_parser_reset makes the parser whole again. */
void imap_parser_release(struct imap_parser *p);

/* line: without its CRLF or LF (a stray final CR is dropped too).
 * A line longer than max_line is refused ("Line too long") and, like any
 * failed line, its end is checked for "{N+}": a session whose reader
 * will not buffer such a line whole passes its first max_line + 1 bytes
 * followed by its last 32, which gives the tag and the right skip. */
enum imap_parse_result imap_parser_feed_line(struct imap_parser *p,
					     struct str line);
/* Valid after NEED_LITERAL. */
const struct imap_literal_info *imap_parser_literal(const struct imap_parser *p);
/* Raw bytes still wanted: of the literal being read or discarded. */
uint64_t imap_parser_literal_remaining(const struct imap_parser *p);
/* Takes at most imap_parser_literal_remaining() bytes, *used says how
 * many. Feeding an announced literal requires in_memory_ok. Returns
 * MORE (a line is wanted once remaining reaches 0). */
enum imap_parse_result imap_parser_feed_literal(struct imap_parser *p,
						const void *data, size_t n,
						size_t *used);
/* Right after NEED_LITERAL: the session consumes the literal's bytes
 * itself; an EXTERNAL argument with cookie and size takes its place. */
void imap_parser_literal_external(struct imap_parser *p, void *cookie);
/* Right after NEED_LITERAL: the session refuses the literal (and sends
 * its own BAD/NO). A non-synchronizing literal's bytes and the rest of
 * the command are then discarded as after an ERROR. */
void imap_parser_literal_refuse(struct imap_parser *p);
/* Valid after ERROR. */
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);

/* Valid after DONE, until reset. */
struct str imap_parser_tag(const struct imap_parser *p);
struct str imap_parser_command(const struct imap_parser *p); /* upper */
bool imap_parser_command_is(const struct imap_parser *p, const char *name);
const struct imap_arg *imap_parser_args(const struct imap_parser *p,
					size_t *count);

/* Argument helpers for the command grammars. */
bool imap_arg_is_atom(const struct imap_arg *a, const char *word);
bool imap_arg_is_nil(const struct imap_arg *a);
/* astring: an atom (']' allowed), quoted string or literal. */
bool imap_arg_astring(const struct imap_arg *a, struct str *out);
/* string: quoted or literal only. */
bool imap_arg_string(const struct imap_arg *a, struct str *out);

#endif
