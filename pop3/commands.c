/* The command table (each verb with the states it is allowed in) and
 * the short TRANSACTION commands.
 * The dispatcher checks the verb, the state, the plaintext policy and
 * the argument count in one place; handlers only check their own
 * arguments, then act. */
#include "pop3/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "net/conn.h"
#include "store/store.h"

#define ST_AUTHORIZATION (1u << POP3_AUTHORIZATION)
#define ST_TRANSACTION (1u << POP3_TRANSACTION)

/* The command sends a password in the clear (RFC 2595 section 2.1):
 * refused before TLS unless the config allows it. */
#define F_PLAINTEXT 0x1u
/* The single argument is the rest of the line, spaces included (PASS). */
#define F_REST 0x2u

typedef void pop3_cmd_fn(struct pop3_session *s, struct str *argv, int argc);

struct pop3_command {
	const char *verb;
	pop3_cmd_fn *fn;
	unsigned states;
	unsigned flags;
	int min_args, max_args;
};

static pop3_cmd_fn pop3_cmd_quit, pop3_cmd_stat, pop3_cmd_list, pop3_cmd_uidl,
	pop3_cmd_dele, pop3_cmd_noop, pop3_cmd_rset;

static const struct pop3_command commands[] = {
	{ "USER", pop3_cmd_user, ST_AUTHORIZATION, F_PLAINTEXT, 1, 1 },
	{ "PASS", pop3_cmd_pass, ST_AUTHORIZATION, F_PLAINTEXT | F_REST, 1, 1 },
	{ "APOP", pop3_cmd_apop, ST_AUTHORIZATION, 0, 2, 2 },
	{ "AUTH", pop3_cmd_auth, ST_AUTHORIZATION, 0, 0, 2 },
	{ "STLS", pop3_cmd_stls, ST_AUTHORIZATION, 0, 0, 0 },
	{ "CAPA", pop3_cmd_capa, ST_AUTHORIZATION | ST_TRANSACTION, 0, 0, 0 },
	{ "QUIT", pop3_cmd_quit, ST_AUTHORIZATION | ST_TRANSACTION, 0, 0, 0 },
	{ "STAT", pop3_cmd_stat, ST_TRANSACTION, 0, 0, 0 },
	{ "LIST", pop3_cmd_list, ST_TRANSACTION, 0, 0, 1 },
	{ "UIDL", pop3_cmd_uidl, ST_TRANSACTION, 0, 0, 1 },
	{ "RETR", pop3_cmd_retr, ST_TRANSACTION, 0, 1, 1 },
	{ "TOP", pop3_cmd_top, ST_TRANSACTION, 0, 2, 2 },
	{ "DELE", pop3_cmd_dele, ST_TRANSACTION, 0, 1, 1 },
	{ "RSET", pop3_cmd_rset, ST_TRANSACTION, 0, 0, 0 },
	{ "NOOP", pop3_cmd_noop, ST_TRANSACTION, 0, 0, 0 },
};

static const struct pop3_command *lookup(struct str verb)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (str_eq_nocase(verb, commands[i].verb))
			return &commands[i];
	return NULL;
}

void pop3_dispatch(struct pop3_session *s, struct str line)
{
	struct pop3_line pl;
	switch (pop3_parse_line(line, &pl)) {
	case POP3_PARSE_OK:
		break;
	case POP3_PARSE_EMPTY:
		pop3_bad_command(s, "Empty command");
		return;
	case POP3_PARSE_NUL:
		pop3_bad_command(s, "NUL octet in command");
		return;
	case POP3_PARSE_BAD_VERB:
		pop3_bad_command(s, "Unknown command");
		return;
	}
	const struct pop3_command *cmd = lookup(pl.verb);
	if (!cmd) {
		pop3_bad_command(s, "Unknown command");
		return;
	}
	log_kv(LOG_DEBUG, "event=command proto=pop3 sid=%s verb=%s", s->c->id,
	       cmd->verb);
	if (!(cmd->states & (1u << s->state))) {
		char text[96];
		snprintf(text, sizeof text, "%s not allowed %s", cmd->verb,
			 s->state == POP3_AUTHORIZATION
				 ? "before login (use USER/PASS, APOP or AUTH)"
				 : "after login");
		pop3_bad_command(s, text);
		return;
	}
	if ((cmd->flags & F_PLAINTEXT) && !pop3_plaintext_ok(s)) {
		conn_writes(s->c, "-ERR [AUTH] Plaintext authentication "
				  "disallowed on non-secured connections; "
				  "use STLS\r\n");
		return;
	}
	struct str argv[POP3_ARGS_MAX];
	int argc;
	if (cmd->flags & F_REST) {
		argv[0] = pl.rest;
		argc = pl.rest.len > 0 ? 1 : 0;
	} else {
		argc = pop3_split_args(&pl, argv, POP3_ARGS_MAX);
	}
	if (argc == POP3_ARGS_EMPTY) {
		pop3_bad_command(s, "Syntax error: arguments are separated "
				    "by one space");
		return;
	}
	if (argc == POP3_ARGS_TOO_MANY || argc > cmd->max_args) {
		pop3_bad_command(s, "Syntax error: too many arguments");
		return;
	}
	if (argc < cmd->min_args) {
		pop3_bad_command(s, "Syntax error: missing argument");
		return;
	}
	cmd->fn(s, argv, argc);
}

const struct store_msg *pop3_msg(const struct pop3_session *s, size_t idx)
{
	return store_mailbox_msg(s->mb, s->msg_idx[idx]);
}

const char *pop3_uidl(const struct pop3_session *s, size_t idx,
		      char out[POP3_UIDL_LEN + 1])
{
	snprintf(out, POP3_UIDL_LEN + 1, "%08" PRIX32 "%08" PRIX32,
		 pop3_msg(s, idx)->uid, store_mailbox_uidvalidity(s->mb));
	return out;
}

bool pop3_msg_arg(struct pop3_session *s, struct str arg, size_t *idx)
{
	size_t n;
	switch (pop3_parse_msgnum(arg, s->n_msgs, &n)) {
	case POP3_NUM_OK:
		break;
	case POP3_NUM_SYNTAX:
		pop3_bad_command(s, "Invalid message number");
		return false;
	case POP3_NUM_RANGE:
		conn_writes(s->c, "-ERR no such message\r\n");
		return false;
	}
	if (s->marks[n - 1] & POP3_M_DELETED) {
		conn_writes(s->c, "-ERR no such message (deleted)\r\n");
		return false;
	}
	*idx = n - 1;
	return true;
}

static void pop3_cmd_quit(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	if (s->state == POP3_TRANSACTION) {
		pop3_update_start(s);
		return;
	}
	conn_writes(s->c, "+OK Bye\r\n");
	pop3_close(s, "quit");
}

static void pop3_cmd_stat(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	conn_printf(s->c, "+OK %zu %" PRIu64 "\r\n", s->n_msgs - s->n_deleted,
		    s->total_size - s->deleted_size);
}

static void pop3_cmd_list(struct pop3_session *s, struct str *argv, int argc)
{
	if (argc == 0) {
		pop3_list_all(s, POP3_STREAM_LIST);
		return;
	}
	size_t i;
	if (!pop3_msg_arg(s, argv[0], &i))
		return;
	conn_printf(s->c, "+OK %zu %" PRIu64 "\r\n", i + 1,
		    pop3_msg(s, i)->pop3_size);
}

static void pop3_cmd_uidl(struct pop3_session *s, struct str *argv, int argc)
{
	if (argc == 0) {
		pop3_list_all(s, POP3_STREAM_UIDL);
		return;
	}
	size_t i;
	if (!pop3_msg_arg(s, argv[0], &i))
		return;
	char uidl[POP3_UIDL_LEN + 1];
	conn_printf(s->c, "+OK %zu %s\r\n", i + 1, pop3_uidl(s, i, uidl));
}

static void pop3_cmd_dele(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argc;
	size_t i;
	if (!pop3_msg_arg(s, argv[0], &i))
		return;
	s->marks[i] |= POP3_M_DELETED;
	s->n_deleted++;
	s->deleted_size += pop3_msg(s, i)->pop3_size;
	s->n_dele++;
	conn_printf(s->c, "+OK message %zu deleted\r\n", i + 1);
}

static void pop3_cmd_rset(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	for (size_t i = 0; i < s->n_msgs; i++)
		s->marks[i] &= (uint8_t)~POP3_M_DELETED;
	s->n_deleted = 0;
	s->deleted_size = 0;
	conn_printf(s->c, "+OK maildrop has %zu messages (%" PRIu64 " octets)\r\n",
		    s->n_msgs, s->total_size);
}

static void pop3_cmd_noop(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	conn_writes(s->c, "+OK\r\n");
}
