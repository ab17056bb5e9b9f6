/* The DSN parameters of RFC 3461 that travel with a message: NOTIFY per
 * recipient and RET per message, parsed by the SMTP server
 * (smtp/path.c), kept in the queue envelope (queue/queue_env.c), acted
 * on by the bounce maker (queue/dsn.c) and passed on by the SMTP client
 * (relay/smtpc_txn.c). One definition for all of them, so nothing
 * converts. */
#ifndef POSTERN_DSN_PARAM_H
#define POSTERN_DSN_PARAM_H

/* RFC 3461 section 4.1 NOTIFY, as bits in an unsigned; 0 = no NOTIFY
 * given, which means FAILURE and DELAY (section 4.1, and 5.2.2 when
 * passing it on). NEVER comes alone (the parser refuses the rest).
 * The envelope stores the bits as a number: these values are on disk
 * and never change. */
enum {
	DSN_NOTIFY_NEVER = 1u << 0,
	DSN_NOTIFY_SUCCESS = 1u << 1,
	DSN_NOTIFY_FAILURE = 1u << 2,
	DSN_NOTIFY_DELAY = 1u << 3,
};

/* RFC 3461 section 4.3 RET: what a failure DSN returns of the message.
 * NONE: not given (our bounce then returns the header only). The
 * envelope stores it by name ("default", "full", "hdrs"). */
enum dsn_ret { DSN_RET_NONE = 0, DSN_RET_FULL, DSN_RET_HDRS };

#endif
