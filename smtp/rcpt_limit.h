/* Unknown-recipient replies per client address (Postfix's
 * smtpd_soft_error_limit / smtpd_error_sleep_time / smtpd_hard_error_
 * limit are the model): RCPT TO answers tell which users exist, so a
 * stranger who keeps naming unknown ones is answered late, then sent
 * away. The count outlives the session, in one bounded table that all
 * workers share (and that outlives a reload's new workers), so neither
 * reconnecting nor landing on another worker resets it. The caller
 * gives the time. */
#ifndef POSTERN_SMTP_RCPT_LIMIT_H
#define POSTERN_SMTP_RCPT_LIMIT_H
#include <stdbool.h>
#include <stdint.h>

/* Addresses remembered (8-way sets, the least recently
 * seen one in a set gives way): 4096 x 32 bytes = 128 KiB. An address
 * pushed out starts again from zero, which only helps it: the session's
 * own count still applies. */
#define RCPT_LIMIT_SLOTS 4096
#define RCPT_LIMIT_WAYS 8

struct rcpt_limit;

/* Makes the server's table in shared memory: the supervisor calls it
 * once before it forks workers. 0, or -1 (mmap failed: each process
 * then gets a table of its own). */
int rcpt_limit_share(void);
/* The server's table (the shared one, else this process's own, made on
 * first use). */
struct rcpt_limit *rcpt_limit_table(void);
/* A fresh table, private or shared, for tests. */
struct rcpt_limit *rcpt_limit_new(void);
struct rcpt_limit *rcpt_limit_new_shared(void);
void rcpt_limit_free(struct rcpt_limit **t);

/* Counts one unknown recipient from ip (numeric; an IPv6 address
 * counts for its whole /64) at now (seconds) and
 * returns how many the address has had within `window` seconds of its
 * previous one (a pause of a whole window forgets them). 0 if ip is
 * not an address (a Unix socket peer). */
unsigned rcpt_limit_note(struct rcpt_limit *t, const char *ip, int64_t now,
			 int window);

#endif
