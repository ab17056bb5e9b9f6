/* Local delivery: one message into the INBOX of each of several users.
 * The one path SMTP, LMTP and `postern deliver` store mail through. */
#ifndef POSTERN_DELIVER_LOCAL_H
#define POSTERN_DELIVER_LOCAL_H
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"

enum deliver_status {
	DELIVER_OK,   /* durable in the user's INBOX */
	DELIVER_TEMP, /* try again later (452/451 4.x.x): disk full, I/O,
	                 permissions -- anything an admin can fix is TEMP,
	                 so mail waits at the sender instead of bouncing */
	DELIVER_PERM, /* never will work (550 5.x.x): the name cannot be a
	                 Maildir */
};

struct deliver_result {
	enum deliver_status status;
	char why[256]; /* not OK: the reason, for the log */
};

/* Stores headers followed by data (the message as received: CRLF or LF
 * line ends) into the INBOX of each of users[0..n_users) below
 * cfg->mail_dir, creating Maildirs as needed, and fills results[i] for
 * users[i]. headers are whole lines the caller adds in front
 * ("Return-Path: <a@b>\r\n", "Received: ...\r\n"); may be empty. Each
 * recipient either gets the whole message, durably (fsync of file and
 * directory), or nothing: one failing recipient does not affect the
 * others. Neither headers nor data are copied in memory. Blocks on disk:
 * call it from a worker thread; it is thread-safe. user names must be
 * canonical (from the users file). Returns the number of DELIVER_OK. */
size_t deliver_local(const struct config *cfg, struct str headers,
		     const char *data, size_t len, int64_t internal_date,
		     const char *const *users, size_t n_users,
		     struct deliver_result *results);

/* deliver_local for a message in a spool file (core/spool.h): len
 * bytes of fd from offset 0, read in pieces of a fixed size (pread; the
 * caller keeps and closes fd), so memory does not grow with the message.
 * Same results and durability. */
size_t deliver_local_fd(const struct config *cfg, struct str headers,
			int fd, uint64_t len, int64_t internal_date,
			const char *const *users, size_t n_users,
			struct deliver_result *results);

const char *deliver_status_name(enum deliver_status s);

#endif
