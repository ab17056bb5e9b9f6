/* SMTP command parsing: the reply table, verbs, HELO, BDAT. Paths and
 * MAIL/RCPT parameters are in path.c, domains and literals in
 * syntax.c; see parse.h for the contract and leniencies. */
#include "smtp/parse.h"

#include <assert.h>
#include <string.h>

#include "core/limits.h"
#include "smtp/chars.h"

/* ---- replies ---------------------------------------------------------- */

struct err_row {
	int code;
	const char *name;
	const char *reply;
};

static const struct err_row err_table[SMTP_ERR__COUNT] = {
	[SMTP_OK] = { 250, "OK", "250 2.0.0 OK" },
	[SMTP_ERR_EMPTY] = { 500, "EMPTY", "500 5.5.2 Empty command" },
	[SMTP_ERR_NUL] = { 500, "NUL", "500 5.5.2 NUL byte in command" },
	[SMTP_ERR_LINE_TOO_LONG] = { 500, "LINE_TOO_LONG",
				     "500 5.5.2 Line too long" },
	[SMTP_ERR_UNKNOWN_VERB] = { 500, "UNKNOWN_VERB",
				    "500 5.5.1 Command unrecognized" },
	[SMTP_ERR_ARGS] = { 501, "ARGS",
			    "501 5.5.4 No arguments allowed" },
	[SMTP_ERR_HELO_MISSING] = { 501, "HELO_MISSING",
				    "501 5.5.4 Domain name required" },
	[SMTP_ERR_HELO_SYNTAX] = { 501, "HELO_SYNTAX",
				   "501 5.5.4 Invalid domain name" },
	[SMTP_ERR_MAIL_SYNTAX] = { 501, "MAIL_SYNTAX",
				   "501 5.5.4 Syntax: MAIL FROM:<address>" },
	[SMTP_ERR_RCPT_SYNTAX] = { 501, "RCPT_SYNTAX",
				   "501 5.5.4 Syntax: RCPT TO:<address>" },
	[SMTP_ERR_SENDER_SYNTAX] = { 501, "SENDER_SYNTAX",
				     "501 5.1.7 Bad sender address syntax" },
	[SMTP_ERR_SENDER_TOO_LONG] = { 501, "SENDER_TOO_LONG",
				       "501 5.1.7 Sender address too long" },
	[SMTP_ERR_SENDER_UTF8] = { 550, "SENDER_UTF8",
				   "550 5.6.7 Non-ASCII addresses not permitted for that sender" },
	[SMTP_ERR_RCPT_ADDR_SYNTAX] = { 501, "RCPT_ADDR_SYNTAX",
					"501 5.1.3 Bad recipient address syntax" },
	[SMTP_ERR_RCPT_TOO_LONG] = { 501, "RCPT_TOO_LONG",
				     "501 5.1.3 Recipient address too long" },
	[SMTP_ERR_RCPT_UTF8] = { 553, "RCPT_UTF8",
				 "553 5.6.7 Non-ASCII addresses not permitted for that recipient" },
	[SMTP_ERR_PARAM_SYNTAX] = { 501, "PARAM_SYNTAX",
				    "501 5.5.4 Bad parameter syntax" },
	[SMTP_ERR_PARAM_DUP] = { 501, "PARAM_DUP",
				 "501 5.5.4 Parameter given twice" },
	[SMTP_ERR_UNKNOWN_PARAM] = { 555, "UNKNOWN_PARAM",
				     "555 5.5.4 Unsupported parameter" },
	[SMTP_ERR_DSN_UNSUPPORTED] = { 555, "DSN_UNSUPPORTED",
				       "555 5.5.4 DSN parameters not supported" },
	[SMTP_ERR_SIZE_BAD] = { 501, "SIZE_BAD",
				"501 5.5.4 Bad SIZE parameter" },
	[SMTP_ERR_BODY_BAD] = { 501, "BODY_BAD",
				"501 5.5.4 Unsupported BODY type" },
	[SMTP_ERR_AUTH_BAD] = { 501, "AUTH_BAD",
				"501 5.5.4 Bad AUTH parameter" },
	[SMTP_ERR_SMTPUTF8_VALUE] = { 501, "SMTPUTF8_VALUE",
				      "501 5.5.4 SMTPUTF8 takes no value" },
	[SMTP_ERR_RET_BAD] = { 501, "RET_BAD",
			       "501 5.5.4 Syntax: RET=FULL or RET=HDRS" },
	[SMTP_ERR_ENVID_BAD] = { 501, "ENVID_BAD",
				 "501 5.5.4 Bad ENVID parameter" },
	[SMTP_ERR_NOTIFY_BAD] = { 501, "NOTIFY_BAD",
				  "501 5.5.4 Syntax: NOTIFY=NEVER or "
				  "NOTIFY=SUCCESS,FAILURE,DELAY" },
	[SMTP_ERR_ORCPT_BAD] = { 501, "ORCPT_BAD",
				 "501 5.5.4 Bad ORCPT parameter" },
	[SMTP_ERR_BDAT_SYNTAX] = { 501, "BDAT_SYNTAX",
				   "501 5.5.4 Syntax: BDAT <size> [LAST]" },
	[SMTP_ERR_BDAT_TOO_BIG] = { 552, "BDAT_TOO_BIG",
				    "552 5.3.4 Message size exceeds fixed limit" },
	[SMTP_ERR_MSG_TOO_BIG] = { 552, "MSG_TOO_BIG",
				   "552 5.3.4 Message size exceeds fixed limit" },
	[SMTP_ERR_BARE_NEWLINE] = { 550, "BARE_NEWLINE",
				    "550 5.6.11 Bare LF/CR not allowed" },
	[SMTP_ERR_TEXT_LINE_TOO_LONG] = { 554, "TEXT_LINE_TOO_LONG",
					  "554 5.6.0 Message has a line longer "
					  "than 65536 octets" },
	[SMTP_ERR_HEADER_TOO_BIG] = { 552, "HEADER_TOO_BIG",
				      "552 5.3.4 Message header too large" },
};

_Static_assert(SMTP_DATA_LINE_MAX == 65536,
	       "TEXT_LINE_TOO_LONG's reply names the limit");

static const struct err_row *err_row(enum smtp_err e)
{
	assert((unsigned)e < SMTP_ERR__COUNT && err_table[e].reply);
	return &err_table[e];
}

const char *smtp_err_reply(enum smtp_err e) { return err_row(e)->reply; }
int smtp_err_code(enum smtp_err e) { return err_row(e)->code; }
const char *smtp_err_name(enum smtp_err e) { return err_row(e)->name; }

/* ---- verbs ------------------------------------------------------------ */

static const char *const verb_names[SMTP_VERB__COUNT] = {
	[SMTP_VERB_UNKNOWN] = "UNKNOWN", [SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_HELO] = "HELO",       [SMTP_VERB_LHLO] = "LHLO",
	[SMTP_VERB_MAIL] = "MAIL",       [SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",       [SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",       [SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",       [SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_VRFY] = "VRFY",       [SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_STARTTLS] = "STARTTLS", [SMTP_VERB_AUTH] = "AUTH",
};

const char *smtp_verb_name(enum smtp_verb v)
{
	assert((unsigned)v < SMTP_VERB__COUNT);
	return verb_names[v];
}

enum smtp_err smtp_parse_cmd(struct str line, struct smtp_cmd *cmd)
{
	*cmd = (struct smtp_cmd){ 0 };
	if (line.len == 0)
		return SMTP_ERR_EMPTY;
	if (memchr(line.p, '\0', line.len))
		return SMTP_ERR_NUL;
	const char *sp = memchr(line.p, ' ', line.len);
	size_t vlen = sp ? (size_t)(sp - line.p) : line.len;
	cmd->verb_str = str_make(line.p, vlen);
	if (sp) {
		cmd->has_args = true;
		cmd->args = str_make(sp + 1, line.len - vlen - 1);
	} else {
		cmd->args = str_make(line.p + line.len, 0);
	}
	for (int v = 1; v < SMTP_VERB__COUNT; v++) {
		if (vlen == strlen(verb_names[v]) &&
		    str_eq_nocase(cmd->verb_str, verb_names[v])) {
			cmd->verb = (enum smtp_verb)v;
			return SMTP_OK;
		}
	}
	return SMTP_ERR_UNKNOWN_VERB;
}
enum smtp_err smtp_check_no_args(const struct smtp_cmd *cmd)
{
	/* "DATA " with a trailing space is tolerated. */
	return all_spaces(cmd->args) ? SMTP_OK : SMTP_ERR_ARGS;
}
/* ---- HELO and BDAT ---------------------------------------------------- */

enum smtp_err smtp_parse_helo(struct str args, struct str *name,
			      bool *valid_domain)
{
	size_t i = 0;
	*name = str_make(args.p, 0);
	*valid_domain = false;
	while (i < args.len && args.p[i] == ' ')
		i++;
	size_t start = i;
	const unsigned char *p = (const unsigned char *)args.p;
	while (i < args.len && p[i] != ' ') {
		if (p[i] >= 0x80) {
			size_t n = smtp_utf8_seq(p + i, args.len - i);
			if (!n)
				return SMTP_ERR_HELO_SYNTAX;
			i += n;
		} else if (p[i] < 33 || p[i] == 127) {
			return SMTP_ERR_HELO_SYNTAX;
		} else {
			i++;
		}
	}
	if (i == start)
		return SMTP_ERR_HELO_MISSING;
	*name = str_make(args.p + start, i - start);
	struct str rest = str_make(args.p + i, args.len - i);
	*valid_domain = all_spaces(rest) && name->len <= SMTP_DOMAIN_MAX &&
			(smtp_is_domain(*name, true) ||
			 smtp_is_address_literal(*name));
	return SMTP_OK;
}

enum smtp_err smtp_parse_bdat(struct str args, uint64_t max, uint64_t *size,
			      bool *last)
{
	size_t i = 0;
	uint64_t n = 0;
	*size = 0;
	*last = false;
	while (i < args.len && is_digit((unsigned char)args.p[i])) {
		unsigned d = (unsigned)(args.p[i++] - '0');
		n = (n > (UINT64_MAX - d) / 10) ? UINT64_MAX : n * 10 + d;
	}
	if (i == 0)
		return SMTP_ERR_BDAT_SYNTAX;
	struct str rest = str_make(args.p + i, args.len - i);
	if (rest.len > 0) {
		if (rest.p[0] != ' ')
			return SMTP_ERR_BDAT_SYNTAX;
		struct str tok = str_make(rest.p + 1, rest.len - 1);
		size_t t = 0;
		while (t < tok.len && tok.p[t] != ' ')
			t++;
		if (t > 0) {
			if (!str_eq_nocase(str_make(tok.p, t), "LAST"))
				return SMTP_ERR_BDAT_SYNTAX;
			*last = true;
		}
		if (!all_spaces(str_make(tok.p + t, tok.len - t)))
			return SMTP_ERR_BDAT_SYNTAX;
	}
	*size = n;
	return n > max ? SMTP_ERR_BDAT_TOO_BIG : SMTP_OK;
}
