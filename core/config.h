/* postern.conf: "key = value" lines. Keys are the field names below
 * (listeners: pop3_listen, pop3s_listen, imap_listen, imaps_listen,
 * smtp_listen, submission_listen, submissions_listen, lmtp_listen with
 * "HOST:PORT" or "off"); booleans are yes/no; sizes are bytes.
 * '#' starts a comment; blank lines are ignored.
 * Unknown keys, bad values and duplicates are errors with line numbers.
 * Relative paths are resolved against the config file's directory; when
 * the file is named without a directory (the CLI enters the instance
 * directory and loads "postern.conf", daemon/cli.h), they stay relative,
 * so that processes that could not traverse the directories above the
 * instance still find them from their working directory. */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum listener_kind {
	LISTEN_POP3,
	LISTEN_POP3S,
	LISTEN_IMAP,
	LISTEN_IMAPS,
	LISTEN_SMTP,
	LISTEN_SUBMISSION,
	LISTEN_SUBMISSIONS,
	LISTEN_LMTP,
	LISTEN__COUNT
};

struct listener_conf {
	bool enabled;
	char host[64];  /* numeric address: 127.0.0.1, ::1, 0.0.0.0 */
	int port;
};

/* What POP3 DELE does at QUIT, per account (users file may override). */
enum pop3_dele_mode {
	POP3_DELE_EXPUNGE, /* the message is removed from the store */
	POP3_DELE_HIDE,    /* hidden from POP3 only; IMAP keeps it */
};

/* A bare LF in SMTP DATA (smtp/data.h; Postfix's
 * smtpd_forbid_bare_newline). */
enum smtp_bare_newline {
	SMTP_BARE_NL_NORMALIZE, /* stored as CRLF; only CRLF.CRLF ends */
	SMTP_BARE_NL_REJECT,    /* the message is refused, 550 5.6.11 */
};

struct config {
	char *path;       /* absolute path of the file */
	char *hostname;   /* greeting, Received:, APOP timestamp */
	/* Every path below: absolute, or relative to the working directory
	 * (see above). */
	char *mail_dir;   /* one Maildir++ per user below it */
	char *users_file;
	char *tls_cert;   /* PEM */
	char *tls_key;    /* PEM */
	char *run_user;   /* system user to run as when started as root; "" = none */
	char *lmtp_socket; /* path of the LMTP Unix socket; "" = off */
	struct listener_conf listen[LISTEN__COUNT];
	int workers;      /* 0 = one per core */
	int log_level;    /* enum log_level */

	bool allow_plaintext_auth; /* plaintext logins before TLS from anywhere */
	bool allow_plaintext_auth_loopback; /* ... from 127.0.0.0/8 and ::1 */
	bool auth_cram_md5;        /* offer CRAM-MD5 (needs {PLAIN} passwords) */
	int auth_fail_delay_ms;    /* every failed login is answered this late */
	int auth_fail_limit;       /* attempts per (user, network) before slowing */
	int auth_fail_delay_max_ms; /* the longest slow-down */
	int auth_fail_window;      /* seconds over which failures are counted */
	int auth_flood_limit;      /* attempts per network before a block */
	int auth_block_time;       /* seconds a flood block lasts */

	bool pop3_apop;            /* APOP timestamp in greeting, APOP command */
	int pop3_expire_days;      /* 0 = EXPIRE NEVER */
	int pop3_login_delay;      /* seconds; 0 = not advertised */
	enum pop3_dele_mode pop3_dele_mode;
	int smtp_timeout;          /* seconds; RFC 5321 4.5.3.2.7 wants >= 300 */
	enum smtp_bare_newline smtp_bare_newline;
	int pop3_idle_timeout;     /* seconds, >= 600 (RFC 1939 section 3) */
	int pop3_max_bad_commands;
	int imap_idle_timeout;     /* seconds, >= 1800 (RFC 9051 section 5.4) */
	int imap_max_bad_commands;
	int imap_search_cpu_limit; /* seconds of CPU one SEARCH may use; 0 = none */

	int login_timeout;         /* seconds a client may take to log in */
	int shutdown_timeout;      /* seconds SIGTERM waits for sessions */
	size_t max_message_size;   /* bytes */
	char *min_free_space;      /* "auto" or bytes (0 = no check) */
	uint64_t min_free_bytes;   /* what it means: auto = 1.5 x max_message_size */
	int max_connections_per_ip; /* not logged in, per address (IPv6: /64) */
	int max_connections;       /* whole server */
	int worker_max_connections; /* per worker process; 0 = max_connections */
	int max_userip_connections; /* logged in, per (user, address, protocol) */
	int login_deadline;        /* seconds from connect to login, whatever the client sends */
	int login_max_commands;    /* commands before login (POP3, IMAP, submission) */
	int smtp_junk_command_limit; /* port 25: commands before each MAIL */

	/* Recipients (auth/resolve.h). */
	char *local_domains;       /* comma/space separated; "" = none extra */
	char *aliases_file;        /* a missing file = no aliases */
	char *recipient_delimiter; /* characters starting a +tag; "" = off */
	char *relay_networks;      /* CIDR list allowed to relay on port 25 */
	int relay_max_hops;        /* more Received: fields = a loop */
	/* Unknown recipients from a stranger (smtp/rcpt_limit.h). */
	int smtp_rcpt_error_soft_limit; /* then each reply comes late */
	int smtp_rcpt_error_hard_limit; /* then 421 and the session ends */
	int smtp_rcpt_error_delay_ms;
	int smtp_rcpt_error_window;     /* seconds, per client address */
	bool dsn_success_untrusted; /* EHLO DSN on port 25 for strangers */

	/* Outbound queue and relay (queue/, relay/). The strings with
	 * structure (routes, policies, resolver list) are checked by
	 * relay/route.h. */
	char *queue_dir;
	char *state_dir;
	char *dkim_key_dir;        /* DKIM private keys */
	int queue_retry_min;       /* seconds; doubles per attempt */
	int queue_retry_max;
	int queue_max_age;         /* seconds, then bounce */
	int queue_delay_warning;   /* seconds; 0 = never warn */
	char *dns_resolver;        /* "IP[:PORT],..." or "" = resolv.conf */
	int relay_port;            /* port at MX hosts */
	char *relay_routes;        /* "domain=host[:port] ..." */
	char *relay_tls;           /* default level: none|may|encrypt|verify */
	char *relay_allowed_internal; /* CIDR list of internal targets */
	char *relay_tls_policy;    /* "domain=level ..." */
	char *tls_ca_file;         /* "" = system store */
	char *smarthost;           /* "host[:port]" or "" */
	char *smarthost_tls;       /* level or "smtps" */
	char *smarthost_user;
	char *smarthost_password_file; /* "" = none */
	int relay_connect_timeout;
	int relay_timeout;
	int relay_max_connections;
	int relay_max_per_destination;
	int relay_max_messages_per_connection;
};

/* Fills *cfg with defaults, then reads path. On error returns -1 and
 * appends one "PATH:LINE: message\n" line per problem to err. */
int config_load(const char *path, struct config *cfg, struct buf *err);
void config_free(struct config *cfg);
/* The name used in the file for a listener: "pop3", "pop3s", ... */
const char *config_listener_name(enum listener_kind kind);
/* Writes the text of a new config for `postern init`. */
void config_write_default(struct buf *out, const char *dir, int port_base,
			  const char *run_user);

#endif
