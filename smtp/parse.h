/* SMTP/LMTP command parsing: pure functions, no I/O, no allocation.
 *
 * The session reads a line (without its CRLF), calls smtp_parse_cmd()
 * to find the verb, then the argument parser for that verb. Every
 * failure is an enum smtp_err; smtp_err_reply() gives the one reply
 * line for it, so the same error always gets the same words.
 *
 * Grammar: RFC 5321 section 4.1.2, extended by RFC 6531 (SMTPUTF8),
 * RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3030 (CHUNKING,
 * BINARYMIME), RFC 4954 (AUTH=). Leniencies, each on purpose:
 *  - "MAIL FROM: <a@b>" (spaces after the colon) is accepted: common,
 *    and unambiguous because the path must still be in angle brackets.
 *  - A path without angle brackets ("MAIL FROM:a@b") is REFUSED: where
 *    such a path ends and parameters begin is a guess, and guessing
 *    differently from the next hop is how address confusion starts.
 *  - Several spaces between parameters, and trailing spaces, are
 *    accepted.
 *  - HELO/EHLO/LHLO accept any printable token; valid_domain says
 *    whether it was a Domain or address-literal.
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/dsn_param.h"
#include "core/limits.h"

enum smtp_err {
	SMTP_OK = 0,
	SMTP_ERR_EMPTY,          /* 500 5.5.2: empty line */
	SMTP_ERR_NUL,            /* 500 5.5.2: NUL byte in a command */
	SMTP_ERR_LINE_TOO_LONG,  /* 500 5.5.2: for the session's line reader */
	SMTP_ERR_UNKNOWN_VERB,   /* 500 5.5.1 */
	SMTP_ERR_ARGS,           /* 501 5.5.4: arguments where none allowed */
	SMTP_ERR_HELO_MISSING,   /* 501 5.5.4: EHLO/HELO/LHLO without name */
	SMTP_ERR_HELO_SYNTAX,    /* 501 5.5.4: non-printable name */
	SMTP_ERR_MAIL_SYNTAX,    /* 501 5.5.4: not "FROM:<...>" */
	SMTP_ERR_RCPT_SYNTAX,    /* 501 5.5.4: not "TO:<...>" */
	SMTP_ERR_SENDER_SYNTAX,  /* 501 5.1.7: bad reverse-path */
	SMTP_ERR_SENDER_TOO_LONG, /* 501 5.1.7: RFC 5321 4.5.3.1.1-3 */
	SMTP_ERR_SENDER_UTF8,    /* 550 5.6.7: RFC 6531 section 3.5 */
	SMTP_ERR_RCPT_ADDR_SYNTAX, /* 501 5.1.3: bad forward-path, or <> */
	SMTP_ERR_RCPT_TOO_LONG,  /* 501 5.1.3 */
	SMTP_ERR_RCPT_UTF8,      /* 553 5.6.7: RFC 6531 section 3.5 */
	SMTP_ERR_PARAM_SYNTAX,   /* 501 5.5.4: not keyword[=value] */
	SMTP_ERR_PARAM_DUP,      /* 501 5.5.4: same keyword twice */
	SMTP_ERR_UNKNOWN_PARAM,  /* 555 5.5.4: unknown or not advertised */
	SMTP_ERR_DSN_UNSUPPORTED, /* 555 5.5.4: RET ENVID NOTIFY ORCPT
				   * without DSN advertised */
	SMTP_ERR_SIZE_BAD,       /* 501 5.5.4: SIZE= not 1*20DIGIT */
	SMTP_ERR_BODY_BAD,       /* 501 5.5.4: BODY= unknown value */
	SMTP_ERR_AUTH_BAD,       /* 501 5.5.4: AUTH= not xtext or <> */
	SMTP_ERR_SMTPUTF8_VALUE, /* 501 5.5.4: SMTPUTF8=something */
	SMTP_ERR_RET_BAD,        /* 501 5.5.4: RET= not FULL or HDRS */
	SMTP_ERR_ENVID_BAD,      /* 501 5.5.4: ENVID= not xtext, too long */
	SMTP_ERR_NOTIFY_BAD,     /* 501 5.5.4: NOTIFY= bad list */
	SMTP_ERR_ORCPT_BAD,      /* 501 5.5.4: ORCPT= not type;xtext */
	SMTP_ERR_BDAT_SYNTAX,    /* 501 5.5.4: see smtp_parse_bdat() */
	SMTP_ERR_BDAT_TOO_BIG,   /* 552 5.3.4: see smtp_parse_bdat() */
	/* Results of the DATA/BDAT reader (smtp/data.h), after the end. */
	SMTP_ERR_MSG_TOO_BIG,    /* 552 5.3.4: RFC 1870 section 6.3 */
	SMTP_ERR_BARE_NEWLINE,   /* 550 5.6.11: bare LF or CR in DATA */
	/* 554 5.6.0 (RFC 3463 X.6.0: the content cannot be taken): a
	 * line over SMTP_DATA_LINE_MAX; a malformed message, not an
	 * over-size one (RFC 5321 4.5.3.1.6, RFC 5322 2.1.1). */
	SMTP_ERR_TEXT_LINE_TOO_LONG,
	/* 552 5.3.4 (RFC 3463 X.3.4: a per-message size limit; RFC 5321
	 * 552: exceeded storage allocation): the header section or one of
	 * its fields is over its limit (SMTP_HEADER_*). */
	SMTP_ERR_HEADER_TOO_BIG,
	SMTP_ERR__COUNT
};

/* The complete reply line (code, enhanced status, text) without CRLF.
 * Never NULL; an out-of-range value asserts. */
const char *smtp_err_reply(enum smtp_err e);
/* The 3-digit code alone (e.g. 501), for counters and tests. */
int smtp_err_code(enum smtp_err e);
/* A stable name ("SENDER_SYNTAX") for logs. */
const char *smtp_err_name(enum smtp_err e);

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_LHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB__COUNT
};
const char *smtp_verb_name(enum smtp_verb v); /* "EHLO", "UNKNOWN" */

/* A command line split at the first space. Slices point into the line
 * given to smtp_parse_cmd and live as long as it does. */
struct smtp_cmd {
	enum smtp_verb verb;
	struct str verb_str; /* as sent */
	struct str args;     /* after the first space, may be empty */
	bool has_args;       /* there was a space after the verb */
};
/* Returns SMTP_OK, SMTP_ERR_EMPTY, SMTP_ERR_NUL or SMTP_ERR_UNKNOWN_VERB
 * (cmd->verb_str is set then, for the log). Verbs are case-insensitive.
 * Does not check arguments: see the functions below. */
enum smtp_err smtp_parse_cmd(struct str line, struct smtp_cmd *cmd);

/* For DATA, RSET, QUIT, STARTTLS (RFC 5321 4.1.1.4, 4.1.1.5, 4.1.1.10;
 * RFC 3207): SMTP_OK if cmd has no arguments, else SMTP_ERR_ARGS.
 * NOOP, HELP, VRFY, EXPN take free text and need no check. */
enum smtp_err smtp_check_no_args(const struct smtp_cmd *cmd);

/* EHLO/HELO/LHLO argument. name = the first token (a slice of args);
 * *valid_domain = it is a Domain or an address-literal (RFC 5321
 * 4.1.1.1) and nothing follows it. Any printable ASCII token, or
 * valid UTF-8, is accepted; control characters (and invalid UTF-8)
 * give SMTP_ERR_HELO_SYNTAX, an empty argument SMTP_ERR_HELO_MISSING. */
enum smtp_err smtp_parse_helo(struct str args, struct str *name,
			      bool *valid_domain);

/* Extensions this server advertised in its EHLO/LHLO reply. Parameters
 * for others are SMTP_ERR_UNKNOWN_PARAM; after HELO pass 0. */
enum {
	SMTP_EXT_SIZE = 1u << 0,       /* RFC 1870 */
	SMTP_EXT_8BITMIME = 1u << 1,   /* RFC 6152: BODY=7BIT|8BITMIME */
	SMTP_EXT_BINARYMIME = 1u << 2, /* RFC 3030: BODY=BINARYMIME */
	SMTP_EXT_SMTPUTF8 = 1u << 3,   /* RFC 6531 */
	SMTP_EXT_AUTH = 1u << 4,       /* RFC 4954: AUTH= */
	SMTP_EXT_DSN = 1u << 5,        /* RFC 3461: RET ENVID NOTIFY ORCPT */
};

enum smtp_path_flag {
	SMTP_PATH_NULL = 1u << 0,         /* "<>" (MAIL only) */
	SMTP_PATH_QUOTED = 1u << 1,       /* Local-part was a Quoted-string */
	SMTP_PATH_SOURCE_ROUTE = 1u << 2, /* "<@a,@b:u@c>": refuse or ignore */
	SMTP_PATH_PERCENT = 1u << 3,      /* '%' in the local part */
	SMTP_PATH_BANG = 1u << 4,         /* '!' in the local part */
	SMTP_PATH_ADDR_LITERAL = 1u << 5, /* domain is [IPv4] / [IPv6:..] / [tag:..] */
	SMTP_PATH_UTF8 = 1u << 6,         /* non-ASCII in local part or domain
					   * (a source route is checked, not kept) */
	SMTP_PATH_POSTMASTER = 1u << 7,   /* RCPT TO:<Postmaster>, no domain */
};

/* A parsed reverse- or forward-path. Self-contained (copies, no
 * pointers into the line), so it may be copied and kept. local and
 * domain are also NUL-terminated, and contain no NUL (the grammar has
 * none), so they may be used as C strings. */
struct smtp_path {
	unsigned flags;          /* enum smtp_path_flag */
	/* The local part unquoted: quotes and backslashes removed. Case
	 * kept (local parts are case-sensitive, RFC 5321 2.4). */
	char local[SMTP_LOCAL_MAX + 1];
	size_t local_len;
	/* The domain lower-cased (ASCII letters only), brackets kept for
	 * an address literal ("[ipv6:::1]"); empty for NULL/POSTMASTER. */
	char domain[SMTP_DOMAIN_MAX + 1];
	size_t domain_len;
};
static inline struct str smtp_path_local(const struct smtp_path *p)
{
	return str_make(p->local, p->local_len);
}
static inline struct str smtp_path_domain(const struct smtp_path *p)
{
	return str_make(p->domain, p->domain_len);
}

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME,
		 SMTP_BODY_BINARYMIME };

struct smtp_mail_params {
	bool has_size;
	uint64_t size;     /* SIZE=; saturates at UINT64_MAX (answer 552) */
	enum smtp_body body;
	bool smtputf8;     /* SMTPUTF8 given (only if advertised) */
	bool has_auth;
	bool auth_null;    /* AUTH=<> */
	struct str auth;   /* the xtext as sent (slice of args), if !auth_null */
	enum dsn_ret ret;  /* RET= (only if DSN advertised) */
	bool has_envid;
	struct str envid;  /* ENVID=: the xtext as sent (slice of args),
			    * kept encoded to be passed on (RFC 3461 5.2.1) */
};

struct smtp_rcpt_params {
	unsigned notify;   /* DSN_NOTIFY_*; 0 when not given */
	bool has_orcpt;
	/* ORCPT= "addr-type;xtext" as sent (slice of args): RFC 3461
	 * 5.2.1 (d) passes it on unchanged, case included. */
	struct str orcpt;
};

/* "MAIL FROM:<reverse-path> [params]": args is smtp_cmd.args. UTF-8 in
 * the path is allowed only if ext has SMTP_EXT_SMTPUTF8 and the command
 * carries the SMTPUTF8 parameter (RFC 6531 section 3.4); otherwise it
 * is SMTP_ERR_SENDER_UTF8. On error *path and *params are undefined. */
enum smtp_err smtp_parse_mail(struct str args, unsigned ext,
			      struct smtp_path *path,
			      struct smtp_mail_params *params);

/* "RCPT TO:<forward-path> [params]". utf8 = the transaction's MAIL had
 * SMTPUTF8 (so UTF-8 in the path is allowed). "<Postmaster>" (any case)
 * is accepted without a domain (RFC 5321 4.1.1.3) and flagged. The only
 * RCPT parameters are RFC 3461's NOTIFY and ORCPT, with SMTP_EXT_DSN;
 * without it they give SMTP_ERR_DSN_UNSUPPORTED, others
 * SMTP_ERR_UNKNOWN_PARAM. On error *path and *params are undefined. */
enum smtp_err smtp_parse_rcpt(struct str args, unsigned ext, bool utf8,
			      struct smtp_path *path,
			      struct smtp_rcpt_params *params);

/* "BDAT <chunk-size> [LAST]" (RFC 3030 section 2). On SMTP_OK, *size and
 * *last are set. SMTP_ERR_BDAT_TOO_BIG: the size is above max, *size and
 * *last are still set, and the session MUST read and discard the chunk
 * (RFC 3030 section 2: "accept and discard") before its 552 -- e.g. by
 * feeding it to the BDAT reader, whose size limit discards it.
 * SMTP_ERR_BDAT_SYNTAX: the chunk length is unknown, the session cannot
 * find the next command and should reply, then close the connection. */
enum smtp_err smtp_parse_bdat(struct str args, uint64_t max, uint64_t *size,
			      bool *last);

/* Building blocks, exposed for tests and for the session's VRFY. */
/* s is a Domain (RFC 5321 4.1.2; U-labels if utf8) of any length. */
bool smtp_is_domain(struct str s, bool utf8);
/* s is an address-literal including brackets (RFC 5321 4.1.3). */
bool smtp_is_address_literal(struct str s);
/* s is an RFC 3461 section 4 xtext (used by AUTH=). */
bool smtp_is_xtext(struct str s);
/* s is xtext whose decoded octets are all printable US-ASCII (graphic
 * or space): what RFC 3461 4.2 and 4.4 ask of ORCPT and ENVID. */
bool smtp_is_xtext_printable(struct str s);
/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80),
 * or 0 if it is not one (overlong, surrogate, > U+10FFFF, truncated). */
size_t smtp_utf8_seq(const unsigned char *s, size_t len);

#endif
