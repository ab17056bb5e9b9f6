/* Named limits on input, each with its reason: those of the raw
 * network input and those shared by several modules. A limit that is part
 * of one parser's grammar lives in that parser's header, and a limit an
 * admin may change is a config key (docs/CONVENTIONS.md, "Limits"). */
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
 * until the socket drains, so a reply's memory does not grow with
 * its length. */
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
/* The known pairs are written to state_dir/auth-known at most this often
 * (when a login added one) and when the auth process stops, so a reload
 * or restart forgets at most these last seconds of them. */
#define AUTH_KNOWN_SAVE_SECS 10
/* A state file larger than this is not read (16384 pairs of long names
 * fit in a few MB). */
#define AUTH_KNOWN_FILE_MAX (8u << 20)
/* On reload the supervisor waits this long for the old auth process to
 * exit (and write state_dir/auth-known) before starting the new one;
 * logins in that moment get a temporary failure, as they did before. */
#define AUTH_STOP_WAIT_MS 2000
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

/* The key process (tls/keyd.c). KEYD_DATA_MAX bounds what one signing
 * request or reply carries: an RSA modulus of 8192 bits (the largest key
 * we load) is 1024 octets; an ECDSA digest is at most 64 (SHA-512). A
 * private key travels to keyd in one IPC_MSG_MAX datagram, which holds
 * the DER of an RSA key of 4096 bits (about 2.4 KB) with room to spare;
 * bigger keys are refused at load. */
#define KEYD_DATA_MAX 1024
/* A worker's signing request is a synchronous round trip from inside
 * the TLS handshake: past this the handshake fails and the worker
 * reconnects for the next one. A signature takes about a millisecond;
 * a second means keyd is stopped, gone or swamped. */
#define KEYD_TIMEOUT_MS 1000
/* The supervisor's key loader waits this long for keyd to take a key. */
#define KEYD_LOAD_TIMEOUT_MS 5000
/* Key files are small (a 4096-bit RSA key in PEM is 3.3 KB); anything
 * bigger is not a key. */
#define KEYD_KEY_FILE_MAX (64 * 1024)
/* Keys keyd holds at once: the one in force and those of worker
 * generations still retiring after reloads; the oldest goes first. */
#define KEYD_KEYS_MAX 8
/* Connections keyd serves at once, one thread each: one per worker,
 * retiring ones included (MAX_WORKERS is 256). */
#define KEYD_CONNS_MAX 1024

/* MIME header decoding (mime/decode.c, for SEARCH and FETCH's decoded
 * parameters). RFC 2047 section 2 keeps an encoded word within 75
 * octets and a line within 76, so real fields hold a few words; a
 * field is decoded only over its first MIME_HEADER_DECODE_MAX octets,
 * the rest passes as plain text (still searchable, never converted).
 * Within one field at most MIME_HEADER_CHARSETS_MAX charset converters
 * are opened (iconv_open costs microseconds); words in further
 * charsets are taken as UTF-8 with invalid bytes replaced. */
#define MIME_HEADER_DECODE_MAX (64 * 1024)
#define MIME_HEADER_CHARSETS_MAX 16

/* IMAP SEARCH (imap/cmd_search.c). One that needs only the index runs
 * on the event loop when messages x keys is at most this (a few ms);
 * a bigger one goes to the pool like one that reads files, so that a
 * "1:* OR OR OR ..." of thousands of keys never stalls the loop. */
#define IMAP_SEARCH_LOOP_MAX (256 * 1024)
/* A SEARCH on the pool runs in slices of about this many ms, then goes
 * to the back of the heavy queue: sessions take turns. */
#define IMAP_SEARCH_SLICE_MS 20

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
 * including CRLF -- the minimum every server must accept. Longer lines
 * are common in real mail (unwrapped HTML, long header fields from
 * broken mailers) and Postfix takes them (it splits at 2048), so that
 * is not our limit. This is the hard cap on one line of message data
 * (DATA or BDAT), line end included, as stored. The reader does not
 * buffer lines, so memory does not depend on it; it protects what
 * reads the message later (IMAP FETCH/SEARCH, MIME parsers, the next
 * hop). We do not split long lines as Postfix does (that breaks DKIM
 * signatures): we keep them up to 64 KiB (OpenSMTPD's line limit too)
 * and refuse the message beyond with 554 5.6.0. */
#define SMTP_DATA_LINE_MAX (64u * 1024)
/* The header section of a message (RFC 5322 section 2.2; up to the
 * empty line, or the first line that is not a header field) is kept in
 * memory for the checks at the end of the data (Received: count,
 * From: on submission, Date:/Message-ID:), and parsed whole by IMAP
 * ENVELOPE/SEARCH: hard limits, answered with 552 5.3.4 at the end of
 * the data. Sendmail refuses headers over 32 KiB in total (its
 * MaxHeadersLength); we allow twice that. One field (with its folded
 * lines) may take at most half of it: RFC 5322 2.1.1 wants lines of at
 * most 998 characters, but mailers send long unfolded fields and
 * refusing them would only hurt senders. 1000 fields is far above
 * real mail (a few dozen, with every trace field of a long route). */
#define SMTP_HEADER_MAX (64u * 1024)
#define SMTP_HEADER_FIELD_MAX (32u * 1024)
#define SMTP_HEADER_FIELDS_MAX 1000
/* A message up to this size stays in memory; a bigger one goes to an
 * unlinked spool file in queue_dir/tmp as it arrives, so that a session
 * holds kilobytes whatever the message size. The first SMTP_SPOOL_MEM
 * bytes stay in memory too (they hold the whole header section, see
 * SMTP_HEADER_MAX). */
#define SMTP_SPOOL_MEM (64u * 1024)
/* Spooled bytes are written when this much has gathered (and at the end
 * of each batch of input): one bounded write per read on the event loop,
 * as IMAP APPEND does. */
#define SMTP_SPOOL_WRITE (16u * 1024)
/* RFC 1870 section 3: size-value ::= 1*20DIGIT. */
#define SMTP_SIZE_DIGITS_MAX 20
/* RFC 4954 section 4: the AUTH= parameter may add up to 500 octets. */
#define SMTP_AUTH_PARAM_MAX 500
/* RFC 3461 4.4: ENVID may be up to 100 characters; 4.2: the whole
 * ORCPT parameter up to 500. Both are counted as sent (xtext). */
#define SMTP_ENVID_MAX 100
#define SMTP_ORCPT_MAX 500

/* SPF (RFC 7208). Section 4.6.4: at most 10 terms that cause DNS
 * lookups (include, a, mx, ptr, exists, redirect), at most 2 lookups
 * that find nothing ("void"), at most 10 names looked at from one MX
 * or PTR answer (more MX names: permerror; more PTR names: the rest are
 * ignored), and a time bound of at least 20 seconds for the whole
 * evaluation (temperror when it is over). */
#define SPF_LOOKUPS_MAX 10
#define SPF_VOID_MAX 2
#define SPF_MX_NAMES_MAX 10
#define SPF_PTR_NAMES_MAX 10
#define SPF_TIME_MAX_MS 20000
/* An SPF record longer than this is a permerror: RFC 7208 3.4 asks for
 * records that fit in a 512-octet UDP answer; this bound leaves room
 * for big real ones while keeping a record's parse small. */
#define SPF_RECORD_MAX 4096
/* An expanded macro string (an explanation) stops growing here; a
 * domain is cut to 253 octets from the left (RFC 7208 7.3). */
#define SPF_EXPAND_MAX 4096
/* DKIM (dkim/). A tag list (RFC 6376 3.2) in a DKIM-Signature or a key
 * record has a dozen tags; 64 is far above any real one and bounds the
 * duplicate check. A signature's h= names at most 128 fields: real ones
 * list 10-30, and each entry costs a pass over the header. */
#define DKIM_TAGS_MAX 64
#define DKIM_H_MAX 128
/* RSA keys above 8192 bits make verification cost what an attacker
 * chooses (RFC 8301 3.2 asks for 1024..4096; we accept up to 8192);
 * below 1024 bits are refused (RFC 8301 3.2). */
#define DKIM_RSA_BITS_MIN 1024
#define DKIM_RSA_BITS_MAX 8192
/* Header fields a message may have for signing/verifying in memory:
 * as SMTP_HEADER_FIELDS_MAX. */
#define DKIM_HEADER_FIELDS_MAX 1000
/* `postern dkim sign|verify` read the message from stdin up to this. */
#define DKIM_CLI_MESSAGE_MAX (64u * 1024 * 1024)

#endif
