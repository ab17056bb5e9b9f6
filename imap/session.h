/* Internal to imap/: the session object and what its files share.
 *
 * Life of a session (RFC 9051 section 3):
 *   NOT_AUTHENTICATED --LOGIN/AUTHENTICATE--> AUTHENTICATED
 *   AUTHENTICATED --SELECT/EXAMINE--> SELECTED --CLOSE/UNSELECT--> AUTH...
 *   any --LOGOUT--> LOGOUT (closed after the tagged OK)
 * One command runs at a time: while it waits (auth process, thread pool,
 * output drain, TLS handshake) no further input is parsed, so pipelined
 * commands run strictly in order (RFC 9051 section 5.5). A command ends
 * with imap_cmd_done(), which first reports what changed in the selected
 * mailbox where RFC 9051 section 7.5.1 allows, then writes the tagged
 * line and reads on.
 *
 * How to add a command: write `void imap_cmd_foo(struct imap_session *s,
 * const struct imap_arg *args, size_t n)` in its own cmd_*.c, declare it
 * below, and add a row to the table in commands.c (verb, handler, states,
 * flags, argument counts). The dispatcher has checked the state and the
 * number of arguments; the handler checks their grammar, replies with
 * imap_cmd_done(s, IMAP_NO/IMAP_BAD, "...") or does its work (on the
 * thread pool with imap_job_submit when it touches the store) and ends
 * with imap_cmd_done(s, IMAP_OK, "... completed"). The command's tag is
 * written by imap_cmd_done; untagged data goes out with imap_write* while
 * the command runs. */
#ifndef POSTERN_IMAP_SESSION_H
#define POSTERN_IMAP_SESSION_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_client.h"
#include "auth/sasl_server.h"
#include "core/buf.h"
#include "core/config.h"
#include "imap/flags.h"
#include "imap/parse.h"
#include "session/env.h"

struct conn;
struct mailbox;
struct imap_command;
struct imap_session;
struct event;

enum imap_state {
	IMAP_NOT_AUTHENTICATED,
	IMAP_AUTHENTICATED,
	IMAP_SELECTED,
	IMAP_LOGOUT,
};

/* What the session waits for before it parses the next command. */
enum imap_wait {
	IMAP_WAIT_NONE,
	IMAP_WAIT_SASL,  /* the client's next AUTHENTICATE line */
	IMAP_WAIT_AUTH,  /* auth_client_verify() answer */
	IMAP_WAIT_JOB,   /* a thread pool job of the current command */
	IMAP_WAIT_DRAIN, /* a long reply waiting for the socket to drain */
	IMAP_WAIT_TLS,   /* the STARTTLS handshake */
	IMAP_WAIT_IDLE,  /* IDLE: reading only "DONE" */
};

enum imap_result { IMAP_OK, IMAP_NO, IMAP_BAD };

/* One connection gets this many failed logins, then it is closed (the
 * auth process limits guessing per IP and user across connections). */
#define IMAP_MAX_FAILED_LOGINS 3
/* An AUTHENTICATE response line: PLAIN with 255-octet fields in base64
 * is ~1 KiB; RFC 4959 initial responses ride on the command line. */
#define IMAP_SASL_LINE_MAX 4096
/* The line reader's limit, including CRLF: the connection stops reading
 * at 64 KiB of buffered input, so a longer line could never complete. */
#define IMAP_LINE_MAX IMAP_PARSE_LINE_MAX

/* A literal the command streams itself (APPEND's message, see
 * imap_literal_open_fn): the session hands it the bytes as they come. */
struct imap_literal_sink {
	/* Takes n bytes; returns 0, or -1 to drop the rest (the command
	 * then learns it from its cookie and answers NO). */
	int (*write)(void *cookie, const void *p, size_t n);
	/* The literal was complete; the command has not run (yet). */
	void (*end)(void *cookie);
	/* The command will never see the cookie (parse error, closed
	 * connection, or the handler did not claim it): free it. */
	void (*abort)(void *cookie);
};
/* A table row's hook for APPEND's message literals (info->append_message),
 * called for every one of them before "+ OK", whatever its size. Returns
 * a cookie and *ops to stream it; or NULL with *why set to refuse it (the
 * session answers "tag NO [TOOBIG] why", or BAD for a non-synchronizing
 * literal, RFC 7888 section 4); or NULL with *why left NULL to have it
 * read into memory as usual (only honoured when info->in_memory_ok; a
 * bigger one is then refused as too big). */
typedef void *imap_literal_open_fn(struct imap_session *s,
				   const struct imap_literal_info *info,
				   const struct imap_literal_sink **ops,
				   const char **why);

/* The selected mailbox (SELECTED state). */
struct imap_selected {
	struct mailbox *mb;
	char *name;          /* UTF-8, canonical */
	char *path;          /* its directory */
	bool readonly;       /* EXAMINE */
	uint64_t flags_sig;  /* hash of the FLAGS list last sent */
	uint32_t exists;     /* messages announced to the client: its view
	                      * is store messages 0..exists-1 */
	int watch;           /* store_notify watch id, -1 if none */
	bool changed;        /* notify said "look again" */
	bool refreshing;     /* a refresh job is running */
	bool gone;           /* the mailbox was deleted or renamed away */
	uint32_t *saved;     /* SEARCHRES "$": UIDs ascending */
	size_t n_saved;
	/* This session's own flag changes since the last refresh: the
	 * refresh reports them too, but the client already has them. */
	struct imap_own_change *own;
	size_t n_own, cap_own;
	/* IMAP4rev1 \Recent: the UID ranges [lo, hi) this session claimed
	 * (store_recent_claim), ascending; and the count last announced in
	 * "* n RECENT". An IMAP4rev2 session has none (RFC 9051). */
	struct imap_uid_range *recent;
	size_t n_recent;
	uint32_t recent_announced;
};
/* recent.c: the session's \Recent messages. */
struct imap_session;
void imap_recent_add(struct imap_session *s, uint32_t lo, uint32_t hi);
bool imap_recent_has(const struct imap_session *s, uint32_t uid);
uint32_t imap_recent_count(const struct imap_session *s);
/* Does this session see \Recent at all (IMAP4rev1, not ENABLEd rev2)? */
bool imap_recent_on(const struct imap_session *s);

struct imap_own_change {
	uint32_t uid;
	uint64_t modseq;
};

struct imap_session {
	struct conn *c;               /* NULL once on_close has run */
	const struct session_env *env;
	const struct config *cfg;
	enum imap_state state;
	enum imap_wait wait;
	bool in_input;
	bool dead;                    /* on_close has run */
	/* Set with dead, read by pool threads: a long job (SEARCH) stops
	 * at its next check instead of working for a closed session. */
	atomic_bool cancel;
	int pending_jobs;
	uint64_t auth_id;
	int bad_commands;
	int failed_logins;

	struct imap_parser *parser;
	struct buf line;
	/* The command running now (valid until imap_cmd_done). */
	const struct imap_command *cmd;
	struct buf tag;
	bool cmd_uid;                 /* a UID command */
	bool mid_command;             /* the parser is past a literal */

	/* Streamed literals of the command being read. */
	const struct imap_literal_sink *sink_ops;
	void **sinks;                 /* cookies not yet claimed */
	size_t n_sinks, cap_sinks;
	void *sink_cur;               /* the literal being streamed */
	uint64_t sink_remaining;

	/* ENABLE (RFC 5161). */
	bool rev2;                    /* IMAP4rev2 */
	bool utf8;                    /* UTF8=ACCEPT (implied by rev2) */

	/* Login. */
	struct sasl_server sasl;
	char *attempt_user;           /* the login in progress (logs) */
	const char *mech_name;
	char *user;                   /* canonical, once logged in */
	char *maildir;                /* the user's Maildir root */

	struct imap_selected sel;     /* valid in IMAP_SELECTED */

	/* A command's own state while it waits (FETCH resuming after a
	 * drain, for instance); freed by imap_cmd_done and at close. */
	void *cmd_ctx;
	void (*cmd_ctx_free)(void *ctx);

	/* A long reply's pump, called when the output drained
	 * (IMAP_WAIT_DRAIN). */
	void (*drain_fn)(struct imap_session *s);
	/* imap_cmd_done's result while the final sync runs. */
	enum imap_result done_result;
	struct buf done_text;

	/* IDLE. */
	struct event *idle_timer;     /* keepalive and poll, 1 s ticks */
	unsigned idle_ticks;
	bool idle_done;               /* DONE came while a refresh ran */

	/* For the logout line. */
	unsigned n_commands;
	char *end_reason;
};

/* ---- session.c ---- */
void imap_enter_state(struct imap_session *s, enum imap_state st);
void imap_set_wait(struct imap_session *s, enum imap_wait w);
/* Ends a wait and parses the commands that were pipelined meanwhile. */
void imap_resume(struct imap_session *s);
bool imap_plaintext_ok(const struct imap_session *s);
/* Ends the session: flushes, closes the conn (no BYE written here). */
void imap_close(struct imap_session *s, const char *reason);
/* Runs work() on the thread pool; done() gets the job back on the loop
 * and must call imap_job_finish() first: if it returns false the
 * session is gone (the job only frees its own memory). */
void imap_job_submit(struct imap_session *s, void (*work)(void *),
		     void (*done)(void *), void *job);
/* The same for a job whose size the client chooses (SEARCH of message
 * files, FETCH of bodies, COPY): it runs in the pool's heavy class, so
 * logins, deliveries and SELECTs of other sessions always find a thread
 * (core/threadpool.h). Such a job should watch s->cancel. */
void imap_job_submit_heavy(struct imap_session *s, void (*work)(void *),
			   void (*done)(void *), void *job);
bool imap_job_finish(struct imap_session *s);
/* Forgets the finished command and readies the parser (reply.c calls
 * it after the tagged line). */
void imap_cmd_reset(struct imap_session *s);
/* Claims a streamed literal's cookie for the handler (it frees it). */
void imap_literal_claim(struct imap_session *s, void *cookie);

/* ---- reply.c: everything written to the client ---- */
void imap_write(struct imap_session *s, const void *p, size_t n);
void imap_writes(struct imap_session *s, const char *str);
void imap_write_buf(struct imap_session *s, const struct buf *b);
/* "* <text>\r\n" */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Ends the current command: reports pending mailbox changes where
 * allowed (see the table flags), then "<tag> OK|NO|BAD <text>\r\n",
 * then reads on. text may start with a response code "[...]". A BAD
 * counts towards imap_max_bad_commands. */
void imap_cmd_done(struct imap_session *s, enum imap_result r,
		   const char *text);
void imap_cmd_donef(struct imap_session *s, enum imap_result r,
		    const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A BAD for bytes that never became a command (tag unknown). */
void imap_bad_untagged(struct imap_session *s, const char *text);
/* Counts a bad command; true (and BYE written, session closing) when
 * there were too many. */
bool imap_count_bad(struct imap_session *s);

/* ---- mboxname.c: mailbox names between the client and the store ---- */
/* The client's mailbox argument (astring) to UTF-8: modified UTF-7
 * unless UTF8=ACCEPT or IMAP4rev2 is enabled (RFC 9051 section 5.1,
 * RFC 6855 section 3). false + *reason when the name cannot be decoded. */
bool imap_mboxname_arg(const struct imap_session *s, const struct imap_arg *a,
		       struct buf *utf8, const char **reason);
/* Writes a mailbox name (UTF-8, canonical) in the client's form as an
 * IMAP string (quoted, or a literal). */
void imap_mboxname_write(const struct imap_session *s, struct buf *out,
			 const char *utf8);
/* The directory of a mailbox of the logged-in user ("<maildir>/.A.B");
 * STORE_EINVAL with err for names the store refuses. */
int imap_mboxname_path(const struct imap_session *s, struct str utf8,
		       struct buf *path, struct buf *canon, char *err,
		       size_t errsz);
/* True when utf8 names the selected mailbox. */
bool imap_mboxname_is_selected(const struct imap_session *s,
			       const char *canon);

/* ---- msgset.c: sequence sets against the announced view ---- */
/* Resolves a sequence-set argument (sequence numbers, or UIDs when uid;
 * "$" is the saved search result, RFC 5182) to the ascending 0-based
 * view indexes of the announced messages it names (*idx malloc'ed, may
 * be empty). Sequence numbers past the view are an error (BAD, RFC 9051
 * section 9: seq-number); UIDs that do not exist are ignored (section
 * 6.4.8). Expunged-but-unreported messages are included: callers skip
 * or answer for them. */
bool imap_msgset_arg(const struct imap_session *s, const struct imap_arg *a,
		     bool uid, uint32_t **idx, size_t *n, const char **reason);
/* Replaces view indexes by their UIDs, in place. */
void imap_msgset_to_uids(const struct imap_session *s, uint32_t *v, size_t n);

/* ---- commands.c ---- */
void imap_dispatch(struct imap_session *s);
/* The running command's table name ("SELECT", "UID FETCH"), or "". */
const char *imap_cmd_name(const struct imap_session *s);
/* The streaming hook of the command named cmd (NULL: none). */
imap_literal_open_fn *imap_command_literal_hook(struct str cmd);
/* What the current command may report at its end: nothing (no mailbox
 * work, LOGOUT), no EXPUNGE (FETCH, STORE, SEARCH: RFC 9051 section
 * 7.5.1), or everything. */
enum imap_sync_mode { IMAP_SYNC_NONE, IMAP_SYNC_NO_EXPUNGE, IMAP_SYNC_FULL };
enum imap_sync_mode imap_cmd_sync_mode(const struct imap_session *s);
void imap_capability_write(const struct imap_session *s, struct buf *out);

/* ---- auth.c ---- */
void imap_cmd_login(struct imap_session *s, const struct imap_arg *args,
		    size_t n);
void imap_cmd_authenticate(struct imap_session *s,
			   const struct imap_arg *args, size_t n);
void imap_cmd_starttls(struct imap_session *s, const struct imap_arg *args,
		       size_t n);
void imap_sasl_input(struct imap_session *s, struct str line);
void imap_sasl_abort(struct imap_session *s);

/* ---- sync.c: the selected mailbox's view and its untagged updates ---- */
/* Starts watching after SELECT; stops at close/unselect. */
void imap_sync_watch(struct imap_session *s);
void imap_sync_unwatch(struct imap_session *s);
/* Runs a refresh on the pool when allowed (or just announces new
 * messages already in the view), writes EXISTS/EXPUNGE/FETCH, then calls
 * then(s). */
void imap_sync_report(struct imap_session *s, bool allow_expunge,
		      void (*then)(struct imap_session *s));
/* Remembers flag changes this session made and reported itself (uids
 * ascending, their new state in sel.mb), so the next refresh does not
 * report them again (STORE .SILENT stays silent). */
void imap_sync_note_own(struct imap_session *s, const uint32_t *uids,
			size_t n);
/* Untagged EXISTS for messages in the view the client does not know. */
void imap_sync_announce_new(struct imap_session *s);
/* The mailbox's FLAGS list as SELECT sends it; sets sel.flags_sig. */
void imap_sync_flags_write(struct imap_session *s, struct buf *out);
/* Untagged FLAGS and PERMANENTFLAGS again when the mailbox's keywords
 * differ from what the client was last told. */
void imap_sync_announce_flags(struct imap_session *s);
/* Frees the selection (mailbox, names, watch). */
void imap_selected_free(struct imap_session *s);
/* Per process: the worker's one inotify watcher, lazily opened. */
void imap_notify_changed(struct imap_session *s);

/* ---- idle.c ---- */
void imap_cmd_idle(struct imap_session *s, const struct imap_arg *args,
		   size_t n);
void imap_idle_input(struct imap_session *s, struct str line);
void imap_idle_stop(struct imap_session *s);

/* ---- cmd_*.c: the commands (declared here, rows in commands.c) ---- */
typedef void imap_cmd_fn(struct imap_session *s, const struct imap_arg *args,
			 size_t n);
imap_cmd_fn imap_cmd_select, imap_cmd_close, imap_cmd_unselect,
	imap_cmd_check, imap_cmd_expunge, imap_cmd_uid_expunge, imap_cmd_fetch,
	imap_cmd_store, imap_cmd_search, imap_cmd_copy, imap_cmd_move,
	imap_cmd_create, imap_cmd_delete, imap_cmd_rename, imap_cmd_subscribe,
	imap_cmd_unsubscribe, imap_cmd_list, imap_cmd_lsub, imap_cmd_status,
	imap_cmd_append;
/* cmd_append.c: APPEND's hook for message literals too big for memory. */
imap_literal_open_fn imap_append_literal_open;

/* ---- cmd_status.c: STATUS items, shared with LIST-STATUS ---- */
struct store_status;
#define IMAP_STATUS_MESSAGES    0x01u
#define IMAP_STATUS_UIDNEXT     0x02u
#define IMAP_STATUS_UIDVALIDITY 0x04u
#define IMAP_STATUS_UNSEEN      0x08u
#define IMAP_STATUS_DELETED     0x10u
#define IMAP_STATUS_SIZE        0x20u
#define IMAP_STATUS_RECENT      0x40u /* rev1 only; always 0 here */
#define IMAP_STATUS_APPENDLIMIT 0x80u /* RFC 7889 */
/* A parenthesized list of status items (RFC 9051 6.3.11), in the order
 * given: order[0..*n_order) get the item bits (duplicates dropped).
 * false + static *reason (BAD) for anything else. */
#define IMAP_STATUS_ITEMS_MAX 8
bool imap_status_items_parse(const struct imap_arg *list,
			     unsigned order[IMAP_STATUS_ITEMS_MAX],
			     size_t *n_order, const char **reason);
/* "* STATUS <name> (ITEM n ...)\r\n" in the client's mailbox-name form. */
void imap_status_write(const struct imap_session *s, struct buf *out,
		       const char *name, const unsigned *order,
		       size_t n_order, const struct store_status *st);

#endif
