/* Every input has a named limit, with its reason (STYLE 4). */
#ifndef POSTERN_LIMITS_H
#define POSTERN_LIMITS_H

/* RFC 2449 section 4: a POP3 command line is at most 255 octets
 * including the CRLF; longer lines get -ERR and are skipped. */
#define POP3_LINE_MAX 255
/* RFC 2449 section 4 allows a SASL continuation of up to 255 octets;
 * we accept longer ones (PLAIN with long names) up to this bound. */
#define POP3_SASL_LINE_MAX 2048
/* A client that streams bytes without CRLF is cut off here: it bounds
 * what one connection can make us buffer. */
#define POP3_INPUT_MAX 8192
/* Output queued beyond this pauses a long reply (RETR, LIST, UIDL)
 * until the socket drains (STYLE 3). */
#define CONN_OUTPUT_HIGH_WATER (128 * 1024)

/* Names and secrets: RFC 4616 limits PLAIN fields to 255 octets each. */
#define AUTH_NAME_MAX 255
#define AUTH_SECRET_MAX 1024
/* Users file: a line longer than this is an error (bounds parser work). */
#define USERS_LINE_MAX 8192

/* Descriptors (RLIMIT_NOFILE). A connection holds at most this many at
 * once: its socket, plus POP3's maildrop lock, an APPEND spool file or
 * a message file a pool job reads. */
#define CONN_FDS_PER_CONN 2
/* Kept free in each worker beyond its connections and what it opened at
 * start: for accept() of clients that only get the busy reply, index
 * and change-log files, the store's directory scans. */
#define WORKER_FD_SPARE 16
/* About what a worker opens at start (listeners, auth socket, pool
 * pipe, inotify, epoll): for sizing RLIMIT_NOFILE before it runs. */
#define WORKER_FD_START 32
/* A worker that ran out of descriptors (EMFILE) tries accept() again
 * after this long, or as soon as one of its connections closes. */
#define WORKER_ACCEPT_RETRY_MS 1000

/* Config file lines. */
#define CONFIG_LINE_MAX 4096

/* One IPC message (auth requests and replies) fits in this. */
#define IPC_MSG_MAX 8192

/* Default size limit for a delivered message (config: max_message_size). */
#define DEFAULT_MAX_MESSAGE_SIZE (50u * 1024 * 1024)

/* SMTP (RFC 5321 section 4.5.3.1 gives the minimum sizes every server
 * must accept; larger ones are refused so one address cannot grow
 * without bound). */
/* 4.5.3.1.1: a local part is at most 64 octets. */
#define SMTP_LOCAL_MAX 64
/* 4.5.3.1.2: a domain is at most 255 octets. */
#define SMTP_DOMAIN_MAX 255
/* 4.5.3.1.3: a reverse- or forward-path is at most 256 octets,
 * including the punctuation ("<", ">", "@", source route). */
#define SMTP_PATH_MAX 256
/* 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define SMTP_LINE_MAX 512
/* RFC 1870 section 3 (SIZE adds 26), RFC 4954 section 4 (AUTH= adds
 * 500), RFC 3461 (DSN): MAIL and RCPT lines with parameters may be
 * longer than SMTP_LINE_MAX; this bounds them. */
#define SMTP_LINE_EXT_MAX 2048
/* 4.5.3.1.6: a text line of message data is at most 1000 octets
 * including CRLF; longer lines are flagged by the DATA reader. */
#define SMTP_TEXT_LINE_MAX 1000
/* RFC 1870 section 3: size-value ::= 1*20DIGIT. */
#define SMTP_SIZE_DIGITS_MAX 20
/* RFC 4954 section 4: the AUTH= parameter may add up to 500 octets. */
#define SMTP_AUTH_PARAM_MAX 500
/* RFC 3461 4.4: ENVID may be up to 100 characters; 4.2: the whole
 * ORCPT parameter up to 500. Both are counted as sent (xtext). */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

#endif
