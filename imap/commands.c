/* The command table (each command with the states it is allowed in;
 * docs/CONVENTIONS.md, "Adding a command") and the short commands that
 * need no mailbox: CAPABILITY, NOOP, LOGOUT, ENABLE, ID, NAMESPACE. The
 * dispatcher checks the verb, the state and the argument count in one
 * place; handlers check their own grammar, then act. */
#include "imap/session.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "imap/istring.h"
#include "net/conn.h"

#define ST_NOAUTH (1u << IMAP_NOT_AUTHENTICATED)
#define ST_AUTH (1u << IMAP_AUTHENTICATED)
#define ST_SEL (1u << IMAP_SELECTED)
#define ST_ANY (ST_NOAUTH | ST_AUTH | ST_SEL)
#define ST_LOGGED (ST_AUTH | ST_SEL)

/* Nothing to report at the end (no mailbox work, or the session ends). */
#define F_NOSYNC 0x1u
/* RFC 9051 section 7.5.1: no EXPUNGE while answering FETCH, STORE or
 * SEARCH (their UID forms may send them). */
#define F_NOEXPUNGE 0x2u

#define ARGS_ANY (-1)

struct imap_command {
	const char *name; /* "UID FETCH" for the UID forms */
	imap_cmd_fn *fn;
	unsigned states;
	unsigned flags;
	int min_args, max_args;
	imap_literal_open_fn *literal_open; /* streams big literals */
};

static imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_enable, cmd_id,
	cmd_namespace;

static const struct imap_command commands[] = {
	{ "CAPABILITY", cmd_capability, ST_ANY, F_NOSYNC, 0, 0, NULL },
	{ "NOOP", cmd_noop, ST_ANY, 0, 0, 0, NULL },
	{ "LOGOUT", cmd_logout, ST_ANY, F_NOSYNC, 0, 0, NULL },
	{ "STARTTLS", imap_cmd_starttls, ST_NOAUTH, F_NOSYNC, 0, 0, NULL },
	{ "AUTHENTICATE", imap_cmd_authenticate, ST_NOAUTH, F_NOSYNC, 1, 2,
	  NULL },
	{ "LOGIN", imap_cmd_login, ST_NOAUTH, F_NOSYNC, 2, 2, NULL },
	{ "ENABLE", cmd_enable, ST_AUTH, F_NOSYNC, 1, ARGS_ANY, NULL },
	{ "ID", cmd_id, ST_ANY, F_NOSYNC, 1, 1, NULL },
	{ "NAMESPACE", cmd_namespace, ST_LOGGED, 0, 0, 0, NULL },
	{ "IDLE", imap_cmd_idle, ST_LOGGED, 0, 0, 0, NULL },
	{ "CREATE", imap_cmd_create, ST_LOGGED, 0, 1, 1, NULL },
	{ "DELETE", imap_cmd_delete, ST_LOGGED, 0, 1, 1, NULL },
	{ "RENAME", imap_cmd_rename, ST_LOGGED, 0, 2, 2, NULL },
	{ "SUBSCRIBE", imap_cmd_subscribe, ST_LOGGED, 0, 1, 1, NULL },
	{ "UNSUBSCRIBE", imap_cmd_unsubscribe, ST_LOGGED, 0, 1, 1, NULL },
	{ "LIST", imap_cmd_list, ST_LOGGED, 0, 2, 5, NULL },
	{ "LSUB", imap_cmd_lsub, ST_LOGGED, 0, 2, 2, NULL },
	{ "STATUS", imap_cmd_status, ST_LOGGED, 0, 2, 2, NULL },
	/* mailbox [flags] [date-time] message, or ... UTF8 (message) */
	{ "APPEND", imap_cmd_append, ST_LOGGED, 0, 2, 5,
	  imap_append_literal_open },
	{ "SELECT", imap_cmd_select, ST_LOGGED, F_NOSYNC, 1, 2, NULL },
	{ "EXAMINE", imap_cmd_select, ST_LOGGED, F_NOSYNC, 1, 2, NULL },
	{ "CLOSE", imap_cmd_close, ST_SEL, F_NOSYNC, 0, 0, NULL },
	{ "UNSELECT", imap_cmd_unselect, ST_SEL, F_NOSYNC, 0, 0, NULL },
	{ "CHECK", imap_cmd_check, ST_SEL, 0, 0, 0, NULL },
	{ "EXPUNGE", imap_cmd_expunge, ST_SEL, 0, 0, 0, NULL },
	{ "UID EXPUNGE", imap_cmd_uid_expunge, ST_SEL, 0, 1, 1, NULL },
	{ "FETCH", imap_cmd_fetch, ST_SEL, F_NOEXPUNGE, 2, 3, NULL },
	{ "UID FETCH", imap_cmd_fetch, ST_SEL, 0, 2, 3, NULL },
	{ "STORE", imap_cmd_store, ST_SEL, F_NOEXPUNGE, 3, ARGS_ANY, NULL },
	{ "UID STORE", imap_cmd_store, ST_SEL, 0, 3, ARGS_ANY, NULL },
	{ "SEARCH", imap_cmd_search, ST_SEL, F_NOEXPUNGE, 1, ARGS_ANY, NULL },
	{ "UID SEARCH", imap_cmd_search, ST_SEL, 0, 1, ARGS_ANY, NULL },
	{ "COPY", imap_cmd_copy, ST_SEL, 0, 2, 2, NULL },
	{ "UID COPY", imap_cmd_copy, ST_SEL, 0, 2, 2, NULL },
	{ "MOVE", imap_cmd_move, ST_SEL, 0, 2, 2, NULL },
	{ "UID MOVE", imap_cmd_move, ST_SEL, 0, 2, 2, NULL },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct imap_command *lookup(struct str name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (str_eq_nocase(name, commands[i].name))
			return &commands[i];
	return NULL;
}

imap_literal_open_fn *imap_command_literal_hook(struct str cmd)
{
	const struct imap_command *c = lookup(cmd);
	return c ? c->literal_open : NULL;
}

const char *imap_cmd_name(const struct imap_session *s)
{
	return s->cmd ? s->cmd->name : "";
}

enum imap_sync_mode imap_cmd_sync_mode(const struct imap_session *s)
{
	if (!s->cmd || (s->cmd->flags & F_NOSYNC))
		return IMAP_SYNC_NONE;
	if (s->cmd->flags & F_NOEXPUNGE)
		return IMAP_SYNC_NO_EXPUNGE;
	return IMAP_SYNC_FULL;
}

void imap_dispatch(struct imap_session *s)
{
	struct str tag = imap_parser_tag(s->parser);
	struct str verb = imap_parser_command(s->parser);
	size_t n;
	const struct imap_arg *args = imap_parser_args(s->parser, &n);
	buf_clear(&s->tag);
	buf_append(&s->tag, tag.p, tag.len);
	buf_cstr(&s->tag);
	s->n_commands++;

	char name[64];
	if (str_eq(verb, "UID")) {
		if (n == 0 || args[0].type != IMAP_ARG_ATOM ||
		    args[0].s.len > 32) {
			imap_cmd_done(s, IMAP_BAD, "UID needs a command");
			return;
		}
		snprintf(name, sizeof name, "UID %.*s", (int)args[0].s.len,
			 args[0].s.p);
		args++;
		n--;
		s->cmd_uid = true;
	} else {
		snprintf(name, sizeof name, "%.*s",
			 (int)(verb.len < 60 ? verb.len : 60), verb.p);
	}
	const struct imap_command *cmd = lookup(str_from_cstr(name));
	if (!cmd) {
		imap_cmd_done(s, IMAP_BAD, "Unknown command");
		return;
	}
	if (!(cmd->states & (1u << s->state))) {
		imap_cmd_done(s, IMAP_BAD,
			      s->state == IMAP_NOT_AUTHENTICATED
				      ? "Log in first"
				      : s->state == IMAP_AUTHENTICATED &&
						(cmd->states & ST_SEL)
					? "Select a mailbox first"
					: "Command not allowed in this state");
		return;
	}
	if ((int)n < cmd->min_args ||
	    (cmd->max_args != ARGS_ANY && (int)n > cmd->max_args)) {
		char text[96];
		snprintf(text, sizeof text, "Wrong number of arguments to %s",
			 cmd->name);
		imap_cmd_done(s, IMAP_BAD, text);
		return;
	}
	s->cmd = cmd;
	cmd->fn(s, args, n);
}

void imap_capability_write(const struct imap_session *s, struct buf *out)
{
	buf_appends(out, "CAPABILITY IMAP4rev1 IMAP4rev2");
	if (s->state == IMAP_NOT_AUTHENTICATED) {
		/* RFC 9051 section 6.2.1: STARTTLS only where it can run. */
		if (!s->c->tls && s->c->kind == LISTEN_IMAP)
			buf_appends(out, " STARTTLS");
		if (imap_plaintext_ok(s))
			buf_appends(out, " AUTH=PLAIN AUTH=LOGIN");
		else
			buf_appends(out, " LOGINDISABLED");
		if (s->cfg->auth_cram_md5)
			buf_appends(out, " AUTH=CRAM-MD5");
		buf_appends(out, " SASL-IR");
	}
	buf_appends(out, " LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS "
			 "MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
			 "ESEARCH SEARCHRES STATUS=SIZE");
	buf_printf(out, " APPENDLIMIT=%zu", s->cfg->max_message_size);
	buf_appends(out, " UTF8=ACCEPT");
}

static void cmd_capability(struct imap_session *s, const struct imap_arg *args,
			   size_t n)
{
	(void)args;
	(void)n;
	struct buf b = BUF_INIT;
	buf_appends(&b, "* ");
	imap_capability_write(s, &b);
	buf_appends(&b, "\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_done(s, IMAP_OK, "CAPABILITY completed");
}

static void cmd_noop(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	(void)args;
	(void)n;
	imap_cmd_done(s, IMAP_OK, "NOOP completed");
}

static void cmd_logout(struct imap_session *s, const struct imap_arg *args,
		       size_t n)
{
	(void)args;
	(void)n;
	imap_untagged(s, "BYE postern logging out");
	imap_enter_state(s, IMAP_LOGOUT);
	imap_cmd_done(s, IMAP_OK, "LOGOUT completed");
}

/* RFC 5161; RFC 9051 section 6.3.1 (IMAP4rev2), RFC 6855 (UTF8=ACCEPT).
 * Unknown extensions are ignored, and the ENABLED response lists only
 * what this command newly enabled. */
static void cmd_enable(struct imap_session *s, const struct imap_arg *args,
		       size_t n)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "* ENABLED");
	for (size_t i = 0; i < n; i++) {
		if (args[i].type != IMAP_ARG_ATOM) {
			buf_free(&b);
			imap_cmd_done(s, IMAP_BAD, "ENABLE takes atoms");
			return;
		}
		if (imap_arg_is_atom(&args[i], "IMAP4rev2") && !s->rev2) {
			s->rev2 = true;
			s->utf8 = true;
			buf_appends(&b, " IMAP4rev2");
		} else if (imap_arg_is_atom(&args[i], "UTF8=ACCEPT") &&
			   !s->utf8) {
			s->utf8 = true;
			buf_appends(&b, " UTF8=ACCEPT");
		}
	}
	buf_appends(&b, "\r\n");
	imap_write_buf(s, &b);
	buf_free(&b);
	imap_cmd_done(s, IMAP_OK, "ENABLE completed");
}

/* RFC 2971: the client's fields go to the log, ours go back. */
static void cmd_id(struct imap_session *s, const struct imap_arg *args,
		   size_t n)
{
	(void)n;
	const struct imap_arg *a = &args[0];
	if (a->type == IMAP_ARG_LIST) {
		if (a->count % 2 || a->count > 60) {
			imap_cmd_done(s, IMAP_BAD, "ID takes field/value pairs");
			return;
		}
		struct buf log = BUF_INIT;
		for (size_t i = 0; i + 1 < a->count; i += 2) {
			struct str k, v;
			if (!imap_arg_string(&a->list[i], &k)) {
				buf_free(&log);
				imap_cmd_done(s, IMAP_BAD, "ID field must be a string");
				return;
			}
			if (!imap_arg_string(&a->list[i + 1], &v))
				v = STR_LIT("NIL");
			if (str_eq_nocase(k, "name") || str_eq_nocase(k, "version") ||
			    str_eq_nocase(k, "os") || str_eq_nocase(k, "vendor")) {
				char ek[LOG_ESC_MAX], ev[LOG_ESC_MAX];
				log_esc(ek, sizeof ek, k.p, k.len);
				for (char *p = ek; *p; p++)
					*p = ascii_lower(*p);
				buf_printf(&log, " client_%s=%s", ek,
					   log_esc(ev, sizeof ev, v.p, v.len));
			}
		}
		log_kv(LOG_INFO, "event=id proto=imap sid=%s%s", s->c->id,
		       log.data ? log.data : "");
		buf_free(&log);
	} else if (!imap_arg_is_nil(a)) {
		imap_cmd_done(s, IMAP_BAD, "ID takes a list or NIL");
		return;
	}
	imap_untagged(s, "ID (\"name\" \"postern\" \"vendor\" \"postern\")");
	imap_cmd_done(s, IMAP_OK, "ID completed");
}

/* RFC 2342 / RFC 9051 section 6.3.10: one personal namespace, no
 * prefix, '/' between levels. */
static void cmd_namespace(struct imap_session *s, const struct imap_arg *args,
			  size_t n)
{
	(void)args;
	(void)n;
	imap_untagged(s, "NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_cmd_done(s, IMAP_OK, "NAMESPACE completed");
}
