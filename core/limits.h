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
/* Login requests the auth process holds at once for one source network
 * (an IPv4 address or IPv6 /64), in any phase (slowed down, waiting to
 * be checked, or waiting to answer a failure): beyond it, one network's
 * flood is answered "try later" at once instead of taking the table
 * (AUTHD_MAX_JOBS) from everyone else. A busy NAT address's logins are
 * short and are mostly known pairs, a source of their own. */
#define AUTH_NET_JOBS_MAX 256
/* The same for an IPv6 /56: a flood walking through its /64s. */
#define AUTH_WIDE_JOBS_MAX (4 * AUTH_NET_JOBS_MAX)
/* Once the auth table is three quarters full, a source holding this
 * many gets no more: the last quarter stays for everyone else. */
#define AUTH_NET_JOBS_RESERVE 16
/* (user, network) pairs that logged in, remembered so that failures
 * elsewhere never slow them down (auth/limiter.h), and for how long. */
#define AUTH_KNOWN_PAIRS_MAX 16384
#define AUTH_KNOWN_PAIR_TTL (30 * 86400)
/* Users file: a line longer than this is an error (bounds parser work). */
#define USERS_LINE_MAX 8192

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
