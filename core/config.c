/* postern.conf parser: a table of keys, each with its type, default and
 * bounds, so that check-config, the defaults written by init and the
 * docs can't drift apart. */
#include "core/config.h"
#include "core/cidr.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/xmalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum key_type { K_STR, K_PATH, K_OPTPATH, K_SOCKPATH, K_BOOL, K_INT, K_SIZE, K_LISTEN, K_LOGLEVEL,
		K_DELE, K_BARE_NL };

struct config_key {
	const char *name;
	enum key_type type;
	size_t offset;
	long long min, max;
	const char *def;  /* default as text; NULL = listener default off */
	const char *help; /* one line for the generated config */
};

#define OFF(f) offsetof(struct config, f)
static const char *const listener_names[LISTEN__COUNT] = {
	"pop3", "pop3s", "imap", "imaps", "smtp", "submission", "submissions",
	"lmtp",
};
static const int listener_std_port[LISTEN__COUNT] = { 110, 995, 143, 993,
						      25, 587, 465, 24 };

static const struct config_key keys[] = {
	{ "hostname", K_STR, OFF(hostname), 1, 253, "localhost",
	  "name in greetings and Received: headers" },
	{ "mail_dir", K_PATH, OFF(mail_dir), 0, 0, "mail",
	  "one Maildir++ per user below this directory" },
	{ "users_file", K_PATH, OFF(users_file), 0, 0, "users",
	  "Dovecot-compatible passwd-file (postern user add/passwd/del)" },
	{ "tls_cert", K_PATH, OFF(tls_cert), 0, 0, "tls/cert.pem",
	  "PEM certificate chain (RSA or EC key)" },
	{ "tls_key", K_PATH, OFF(tls_key), 0, 0, "tls/key.pem",
	  "PEM private key, read as root; only the key process holds it" },
	{ "lmtp_socket", K_SOCKPATH, OFF(lmtp_socket), 0, 0, "off",
	  "LMTP on a Unix socket (Postfix: lmtp:unix:PATH), or off" },
	{ "run_user", K_STR, OFF(run_user), 0, 64, "",
	  "system user to run as when started as root (owns the mail)" },
	{ "workers", K_INT, OFF(workers), 0, 256, "0",
	  "worker processes; 0 = one per core" },
	{ "log_level", K_LOGLEVEL, OFF(log_level), 0, 0, "info",
	  "debug, info, warn or error" },
	{ "allow_plaintext_auth", K_BOOL, OFF(allow_plaintext_auth), 0, 0, "no",
	  "allow USER/PASS, AUTH PLAIN/LOGIN without TLS from anywhere" },
	{ "allow_plaintext_auth_loopback", K_BOOL,
	  OFF(allow_plaintext_auth_loopback), 0, 0, "yes",
	  "allow them without TLS from 127.0.0.0/8 and ::1" },
	{ "auth_cram_md5", K_BOOL, OFF(auth_cram_md5), 0, 0, "no",
	  "offer CRAM-MD5 (works only for {PLAIN} passwords)" },
	{ "auth_fail_delay_ms", K_INT, OFF(auth_fail_delay_ms), 0, 60000,
	  "2000", "every failed login is answered this late" },
	{ "auth_fail_limit", K_INT, OFF(auth_fail_limit), 1, 1000000, "10",
	  "failed logins per (user, network), or per user, before answers "
	  "slow down (per network: 3 times that)" },
	{ "auth_fail_delay_max_ms", K_INT, OFF(auth_fail_delay_max_ms), 0,
	  600000, "15000",
	  "the slow-down doubles from 1 s per further failure up to this" },
	{ "auth_fail_window", K_INT, OFF(auth_fail_window), 1, 86400 * 7,
	  "600", "seconds over which failed logins are counted" },
	{ "auth_flood_limit", K_INT, OFF(auth_flood_limit), 0, 100000000,
	  "100", "failed logins from one network (IPv6 /64; a /56: 4 times) "
	  "before it is refused; 0 = never" },
	{ "auth_block_time", K_INT, OFF(auth_block_time), 1, 86400 * 7, "900",
	  "seconds a flooding network is refused" },
	{ "pop3_apop", K_BOOL, OFF(pop3_apop), 0, 0, "no",
	  "APOP (MD5, needs {PLAIN} passwords; see docs/config.md)" },
	{ "pop3_expire_days", K_INT, OFF(pop3_expire_days), 0, 36500, "0",
	  "delete mail N days after its first POP3 download; 0 = never" },
	{ "pop3_login_delay", K_INT, OFF(pop3_login_delay), 0, 86400, "0",
	  "minimum seconds between POP3 logins of one user; 0 = off" },
	{ "pop3_dele_mode", K_DELE, OFF(pop3_dele_mode), 0, 0, "expunge",
	  "expunge = DELE removes mail; hide = only POP3 stops seeing it" },
	{ "pop3_idle_timeout", K_INT, OFF(pop3_idle_timeout), 600, 86400,
	  "600", "seconds; RFC 1939 section 3 requires at least 600" },
	{ "pop3_max_bad_commands", K_INT, OFF(pop3_max_bad_commands), 1, 1000,
	  "10", "bad commands before a session is closed" },
	{ "imap_idle_timeout", K_INT, OFF(imap_idle_timeout), 1800, 86400,
	  "1800", "seconds a logged-in IMAP client may be silent; RFC 9051 section 5.4 requires at least 1800" },
	{ "imap_max_bad_commands", K_INT, OFF(imap_max_bad_commands), 1, 1000,
	  "20", "bad IMAP commands before a session is closed" },
	{ "imap_search_cpu_limit", K_INT, OFF(imap_search_cpu_limit), 0, 86400,
	  "60", "seconds of CPU time one IMAP SEARCH may use before it is refused with NO [LIMIT]; 0 = no limit" },
	{ "login_timeout", K_INT, OFF(login_timeout), 1, 3600, "60",
	  "seconds a client that has not logged in may stay silent (see login_deadline)" },
	{ "smtp_timeout", K_INT, OFF(smtp_timeout), 1, 3600, "300",
	  "seconds an SMTP/LMTP client may be silent; RFC 5321 4.5.3.2.7 asks for 300 or more" },
	{ "shutdown_timeout", K_INT, OFF(shutdown_timeout), 0, 3600, "10",
	  "seconds SIGTERM waits for open sessions" },
	{ "smtp_bare_newline", K_BARE_NL, OFF(smtp_bare_newline), 0, 0,
	  "normalize", "a bare LF in SMTP DATA: normalize = stored as CRLF "
	  "(only CRLF.CRLF ends the data); reject = 550 5.6.11" },
	{ "max_message_size", K_SIZE, OFF(max_message_size), 1024,
	  (long long)1 << 40, "52428800", "bytes" },
	{ "min_free_space", K_STR, OFF(min_free_space), 1, 24, "auto",
	  "bytes that must stay free on the mail and queue file systems, else MAIL/APPEND get a temporary refusal; auto = 1.5 x max_message_size, 0 = no check" },
	{ "max_connections_per_ip", K_INT, OFF(max_connections_per_ip), 1,
	  1000000, "50", "connections from one address (IPv6: one /64) not logged in, whole server" },
	{ "max_userip_connections", K_INT, OFF(max_userip_connections), 0,
	  1000000, "20", "logged-in IMAP (and POP3) connections of one user from one address; 0 = no limit" },
	{ "max_connections", K_INT, OFF(max_connections), 1, 1000000, "5000",
	  "client connections at once, whole server" },
	{ "worker_max_connections", K_INT, OFF(worker_max_connections), 0,
	  1000000, "0", "client connections at once per worker process; 0 = max_connections" },
	{ "login_deadline", K_INT, OFF(login_deadline), 1, 86400, "120",
	  "seconds from connect to login, however active the client is" },
	{ "login_max_commands", K_INT, OFF(login_max_commands), 0, 100000,
	  "20", "commands before login (POP3, IMAP, submission); 0 = no limit" },
	{ "smtp_junk_command_limit", K_INT, OFF(smtp_junk_command_limit), 0,
	  100000, "20", "port 25: commands before each MAIL (NOOP, RSET, VRFY, EHLO ...); 0 = no limit" },
	{ "local_domains", K_STR, OFF(local_domains), 0, CONFIG_LINE_MAX, "",
	  "extra local domains, comma or space separated (see docs/config.md)" },
	{ "aliases_file", K_PATH, OFF(aliases_file), 0, 0, "aliases",
	  "\"source: target, ...\" lines (a missing file = no aliases)" },
	{ "recipient_delimiter", K_STR, OFF(recipient_delimiter), 0, 8, "+",
	  "alice+tag@ delivers to alice; empty = off" },
	{ "relay_networks", K_STR, OFF(relay_networks), 0, CONFIG_LINE_MAX, "",
	  "clients (CIDR list) that may relay through port 25 without AUTH, like Postfix's mynetworks" },
	{ "smtp_rcpt_error_soft_limit", K_INT, OFF(smtp_rcpt_error_soft_limit),
	  0, 100000, "5",
	  "unknown recipients from a client (port 25, not relay_networks) before each further one is answered late" },
	{ "smtp_rcpt_error_hard_limit", K_INT, OFF(smtp_rcpt_error_hard_limit),
	  1, 100000, "20",
	  "unknown recipients from a client before its session ends with 421" },
	{ "smtp_rcpt_error_delay_ms", K_INT, OFF(smtp_rcpt_error_delay_ms), 0,
	  60000, "1000", "how late each unknown-recipient reply past the soft limit comes" },
	{ "smtp_rcpt_error_window", K_INT, OFF(smtp_rcpt_error_window), 1,
	  86400, "900", "seconds a client address's unknown recipients are remembered across sessions" },
	{ "dsn_success_untrusted", K_BOOL, OFF(dsn_success_untrusted), 0, 0,
	  "no", "offer DSN (NOTIFY=SUCCESS...) on port 25 to clients outside relay_networks" },
	{ "relay_max_hops", K_INT, OFF(relay_max_hops), 1, 1000, "50",
	  "Received: headers above this mean a mail loop (bounced, RFC 5321 6.3)" },
	{ "state_dir", K_PATH, OFF(state_dir), 0, 0, "state",
	  "state kept across restarts (the logins' known networks); run_user writes here" },
	{ "queue_dir", K_PATH, OFF(queue_dir), 0, 0, "queue",
	  "outbound queue (mail for other domains waits here)" },
	{ "dkim_key_dir", K_PATH, OFF(dkim_key_dir), 0, 0, "dkim",
	  "DKIM private keys (postern dkim keygen): DOMAIN/SELECTOR.key, mode 0600 in directories 0700" },
	{ "queue_retry_min", K_INT, OFF(queue_retry_min), 1, 86400, "300",
	  "seconds before the first retry; each retry waits twice as long" },
	{ "queue_retry_max", K_INT, OFF(queue_retry_max), 1, 86400, "4000",
	  "longest wait between retries, seconds" },
	{ "queue_max_age", K_INT, OFF(queue_max_age), 1, 86400 * 60, "432000",
	  "seconds a message may wait before it bounces (5 days)" },
	{ "queue_delay_warning", K_INT, OFF(queue_delay_warning), 0,
	  86400 * 60, "14400", "seconds before the sender is told of a delay; 0 = never" },
	{ "dns_resolver", K_STR, OFF(dns_resolver), 0, CONFIG_LINE_MAX, "",
	  "DNS servers as IP[:PORT], comma separated; empty = /etc/resolv.conf" },
	{ "relay_port", K_INT, OFF(relay_port), 1, 65535, "25",
	  "port of the servers found through MX records" },
	{ "relay_routes", K_STR, OFF(relay_routes), 0, CONFIG_LINE_MAX, "",
	  "static routes \"domain=host[:port] ...\", before DNS" },
	{ "relay_allowed_internal", K_STR, OFF(relay_allowed_internal), 0,
	  CONFIG_LINE_MAX, "",
	  "internal addresses (CIDR list) that MX/A records and address literals may lead to; others are refused" },
	{ "relay_tls", K_STR, OFF(relay_tls), 1, 16, "may",
	  "TLS to other servers: none, may, encrypt or verify" },
	{ "relay_tls_policy", K_STR, OFF(relay_tls_policy), 0, CONFIG_LINE_MAX,
	  "", "per domain: \"domain=none|may|encrypt|verify ...\"" },
	{ "tls_ca_file", K_OPTPATH, OFF(tls_ca_file), 0, 0, "",
	  "CA certificates (PEM) for verify; empty = the system's" },
	{ "smarthost", K_STR, OFF(smarthost), 0, 260, "",
	  "relay all outbound mail through host[:port]; empty = deliver directly" },
	{ "smarthost_tls", K_STR, OFF(smarthost_tls), 1, 16, "verify",
	  "none, may, encrypt, verify, or smtps (implicit TLS, verified)" },
	{ "smarthost_user", K_STR, OFF(smarthost_user), 0, 256, "",
	  "AUTH name at the smarthost; empty = no AUTH" },
	{ "smarthost_password_file", K_OPTPATH, OFF(smarthost_password_file),
	  0, 0, "", "file holding the smarthost password (one line)" },
	{ "relay_connect_timeout", K_INT, OFF(relay_connect_timeout), 1, 600,
	  "30", "seconds to connect to another server" },
	{ "relay_timeout", K_INT, OFF(relay_timeout), 1, 3600, "300",
	  "seconds to wait for a reply (the end of DATA waits 600, RFC 5321 4.5.3.2)" },
	{ "relay_max_connections", K_INT, OFF(relay_max_connections), 1, 10000,
	  "100", "outbound connections at once" },
	{ "relay_max_per_destination", K_INT, OFF(relay_max_per_destination),
	  1, 1000, "10", "outbound connections at once to one domain" },
	{ "relay_max_messages_per_connection", K_INT,
	  OFF(relay_max_messages_per_connection), 1, 100000, "100",
	  "messages sent over one connection before it is closed" },
};
#define NKEYS (sizeof keys / sizeof keys[0])

const char *config_listener_name(enum listener_kind kind)
{
	return listener_names[kind];
}

static void errf(struct buf *err, const char *path, int line,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void errf(struct buf *err, const char *path, int line,
		 const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		buf_printf(err, "%s:%d: %s\n", path, line, msg);
	else
		buf_printf(err, "%s: %s\n", path, msg);
}

/* dir NULL: the config was named without a directory, so it lies in
 * the working directory and relative paths stay relative to it (see
 * config.h). */
static char *resolve_path(const char *dir, const char *v)
{
	if (v[0] == '/' || !dir)
		return xstrdup(v);
	return xasprintf("%s/%s", dir, v);
}

static bool parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off")) {
		*out = false;
		return true;
	}
	return false;
}

static bool parse_ll(const char *v, long long *out)
{
	if (!*v)
		return false;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || *end || (*v != '-' && (*v < '0' || *v > '9')))
		return false;
	*out = n;
	return true;
}

/* "HOST:PORT", "[v6]:PORT" or "off". */
static bool parse_listen(const char *v, struct listener_conf *l)
{
	memset(l, 0, sizeof *l);
	if (!strcmp(v, "off"))
		return true;
	const char *colon = strrchr(v, ':');
	if (!colon)
		return false;
	const char *h = v;
	size_t hlen = (size_t)(colon - v);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof l->host)
		return false;
	memcpy(l->host, h, hlen);
	l->host[hlen] = '\0';
	unsigned char tmp[16];
	if (inet_pton(AF_INET, l->host, tmp) != 1 &&
	    inet_pton(AF_INET6, l->host, tmp) != 1)
		return false;
	long long port;
	if (!parse_ll(colon + 1, &port) || port < 1 || port > 65535)
		return false;
	l->port = (int)port;
	l->enabled = true;
	return true;
}

static bool set_value(struct config *cfg, const struct config_key *k,
		      const char *dir, const char *v, char *why, size_t whysz)
{
	char *base = (char *)cfg + k->offset;
	long long n;
	bool b;
	switch (k->type) {
	case K_STR:
		if ((long long)strlen(v) < k->min ||
		    (long long)strlen(v) > k->max) {
			snprintf(why, whysz, "%s must be %lld to %lld characters",
				 k->name, k->min, k->max);
			return false;
		}
		free(*(char **)base);
		*(char **)base = xstrdup(v);
		return true;
	case K_PATH:
		if (!*v) {
			snprintf(why, whysz, "%s must not be empty", k->name);
			return false;
		}
		free(*(char **)base);
		*(char **)base = resolve_path(dir, v);
		return true;
	case K_OPTPATH:
		free(*(char **)base);
		*(char **)base = *v ? resolve_path(dir, v) : xstrdup("");
		return true;
	case K_SOCKPATH:
		free(*(char **)base);
		*(char **)base = !strcmp(v, "off") ? xstrdup("") : resolve_path(dir, v);
		/* sockaddr_un's sun_path holds 108 bytes with the NUL. */
		if (strlen(*(char **)base) >= 108) {
			snprintf(why, whysz, "%s is too long for a Unix socket (%zu bytes, at most 107)",
				 k->name, strlen(*(char **)base));
			return false;
		}
		return true;
	case K_BOOL:
		if (!parse_bool(v, &b)) {
			snprintf(why, whysz, "%s must be yes or no, not \"%s\"",
				 k->name, v);
			return false;
		}
		*(bool *)base = b;
		return true;
	case K_INT:
	case K_SIZE:
		if (!parse_ll(v, &n) || n < k->min || n > k->max) {
			snprintf(why, whysz, "%s must be a number from %lld to %lld, not \"%s\"",
				 k->name, k->min, k->max, v);
			return false;
		}
		if (k->type == K_INT)
			*(int *)base = (int)n;
		else
			*(size_t *)base = (size_t)n;
		return true;
	case K_LOGLEVEL:
		n = log_level_parse(v);
		if (n < 0) {
			snprintf(why, whysz, "log_level must be debug, info, warn or error, not \"%s\"", v);
			return false;
		}
		*(int *)base = (int)n;
		return true;
	case K_DELE:
		if (!strcmp(v, "expunge"))
			*(enum pop3_dele_mode *)base = POP3_DELE_EXPUNGE;
		else if (!strcmp(v, "hide"))
			*(enum pop3_dele_mode *)base = POP3_DELE_HIDE;
		else {
			snprintf(why, whysz, "pop3_dele_mode must be expunge or hide, not \"%s\"", v);
			return false;
		}
		return true;
	case K_BARE_NL:
		if (!strcmp(v, "normalize"))
			*(enum smtp_bare_newline *)base = SMTP_BARE_NL_NORMALIZE;
		else if (!strcmp(v, "reject"))
			*(enum smtp_bare_newline *)base = SMTP_BARE_NL_REJECT;
		else {
			snprintf(why, whysz, "smtp_bare_newline must be normalize or reject, not \"%s\"", v);
			return false;
		}
		return true;
	case K_LISTEN:
		break;
	}
	return false;
}

static void config_defaults(struct config *cfg, const char *dir)
{
	char why[256];
	for (size_t i = 0; i < NKEYS; i++)
		if (!set_value(cfg, &keys[i], dir, keys[i].def, why, sizeof why))
			log_fatal("event=config_default key=%s", keys[i].name);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		     s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static int config_parse_line(struct config *cfg, const char *dir, char *line,
			     int lineno, bool *seen, bool *seen_listen,
			     struct buf *err)
{
	char *s = trim(line);
	if (!*s || *s == '#')
		return 0;
	char *eq = strchr(s, '=');
	if (!eq) {
		errf(err, cfg->path, lineno, "expected \"key = value\"");
		return -1;
	}
	*eq = '\0';
	char *key = trim(s), *val = trim(eq + 1);
	for (int l = 0; l < LISTEN__COUNT; l++) {
		char name[32];
		snprintf(name, sizeof name, "%s_listen", listener_names[l]);
		if (strcmp(key, name) != 0)
			continue;
		if (seen_listen[l]) {
			errf(err, cfg->path, lineno, "%s is set twice", key);
			return -1;
		}
		seen_listen[l] = true;
		if (!parse_listen(val, &cfg->listen[l])) {
			errf(err, cfg->path, lineno,
			     "%s must be HOST:PORT with a numeric address, or off; not \"%s\"",
			     key, val);
			return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		if (strcmp(key, keys[i].name) != 0)
			continue;
		if (seen[i]) {
			errf(err, cfg->path, lineno, "%s is set twice", key);
			return -1;
		}
		seen[i] = true;
		char why[512];
		if (!set_value(cfg, &keys[i], dir, val, why, sizeof why)) {
			errf(err, cfg->path, lineno, "%s", why);
			return -1;
		}
		return 0;
	}
	errf(err, cfg->path, lineno, "unknown key \"%s\"", key);
	return -1;
}

/* min_free_space -> min_free_bytes. Postfix's rule for the default:
 * 1.5 x the message size limit, so that a message accepted at the floor
 * still fits. */
static int min_free_parse(struct config *cfg)
{
	long long n;
	cfg->min_free_bytes = (uint64_t)cfg->max_message_size / 2 * 3;
	if (!cfg->min_free_space || !strcmp(cfg->min_free_space, "auto"))
		return 0;
	if (!parse_ll(cfg->min_free_space, &n) || n < 0 ||
	    n > (long long)1 << 50)
		return -1;
	cfg->min_free_bytes = (uint64_t)n;
	return 0;
}

/* A file named without a directory is in the working directory: its
 * absolute name comes from getcwd(), which needs no permission on the
 * parents (realpath() does: run_user re-reading the config inside a
 * private /root would fail). */
static bool config_abs_path(const char *path, char abs[PATH_MAX])
{
	if (strchr(path, '/'))
		return realpath(path, abs) != NULL;
	if (!getcwd(abs, PATH_MAX))
		return false;
	size_t n = strlen(abs);
	if (n + 1 + strlen(path) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return false;
	}
	snprintf(abs + n, PATH_MAX - n, "%s%s", n > 1 ? "/" : "", path);
	return true;
}

int config_load(const char *path, struct config *cfg, struct buf *err)
{
	memset(cfg, 0, sizeof *cfg);
	char abs[PATH_MAX];
	if (!config_abs_path(path, abs)) {
		errf(err, path, 0, "cannot open: %s", strerror(errno));
		cfg->path = xstrdup(path);
		config_defaults(cfg, ".");
		(void)min_free_parse(cfg);
		return -1;
	}
	cfg->path = xstrdup(abs);
	char dircopy[PATH_MAX];
	snprintf(dircopy, sizeof dircopy, "%s", abs);
	const char *dir = strchr(path, '/') ? dirname(dircopy) : NULL;
	config_defaults(cfg, dir);
	(void)min_free_parse(cfg);

	/* by the name given: abs may cross a directory we cannot enter */
	FILE *f = fopen(dir ? abs : path, "r");
	if (!f) {
		errf(err, abs, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	bool seen[NKEYS] = { 0 }, seen_listen[LISTEN__COUNT] = { 0 };
	char line[CONFIG_LINE_MAX + 2];
	int lineno = 0, bad = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			errf(err, abs, lineno, "line longer than %d bytes",
			     CONFIG_LINE_MAX);
			bad = 1;
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (config_parse_line(cfg, dir, line, lineno, seen, seen_listen,
				      err) < 0)
			bad = 1;
	}
	fclose(f);
	{
		/* relay_networks is parsed again by each worker; a typo must
		 * stop the start, not quietly let nobody (or everybody) relay */
		struct cidr_list nets = { 0 };
		struct buf why = BUF_INIT;
		if (cidr_list_parse(cfg->relay_networks, &nets, &why) != 0) {
			errf(err, abs, 0, "relay_networks: %.*s", (int)why.len,
			     why.data ? why.data : "");
			bad = 1;
		}
		cidr_list_free(&nets);
		buf_free(&why);
	}
	if (min_free_parse(cfg) < 0) {
		errf(err, abs, 0, "min_free_space must be auto or a number "
		     "of bytes, not \"%s\"", cfg->min_free_space);
		bad = 1;
	}
	{
		struct cidr_list nets = { 0 };
		struct buf why = BUF_INIT;
		if (cidr_list_parse(cfg->relay_allowed_internal, &nets, &why) != 0) {
			errf(err, abs, 0, "relay_allowed_internal: %.*s",
			     (int)why.len, why.data ? why.data : "");
			bad = 1;
		}
		cidr_list_free(&nets);
		buf_free(&why);
	}
	/* Two listeners on one address would fail at bind; say so here. */
	for (int a = 0; a < LISTEN__COUNT; a++)
		for (int b = a + 1; b < LISTEN__COUNT; b++)
			if (cfg->listen[a].enabled && cfg->listen[b].enabled &&
			    cfg->listen[a].port == cfg->listen[b].port &&
			    !strcmp(cfg->listen[a].host, cfg->listen[b].host)) {
				errf(err, abs, 0, "%s_listen and %s_listen both use %s:%d",
				     listener_names[a], listener_names[b],
				     cfg->listen[a].host, cfg->listen[a].port);
				bad = 1;
			}
	return bad ? -1 : 0;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == K_STR || keys[i].type == K_PATH ||
		    keys[i].type == K_OPTPATH ||
		    keys[i].type == K_SOCKPATH) {
			char **p = (char **)((char *)cfg + keys[i].offset);
			free(*p);
			*p = NULL;
		}
	free(cfg->path);
	cfg->path = NULL;
}

void config_write_default(struct buf *out, const char *dir, int port_base,
			  const char *run_user)
{
	buf_printf(out, "# postern.conf -- written by `postern init %s`.\n"
			"# Reference: docs/config.md. Check with `postern -c FILE check-config`.\n"
			"# Relative paths are relative to this file's directory.\n\n",
		   dir);
	for (int l = 0; l < LISTEN__COUNT; l++)
		buf_printf(out, "%s_listen = 127.0.0.1:%d\n", listener_names[l],
			   port_base + listener_std_port[l]);
	buf_appends(out, "\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = keys[i].def;
		if (!strcmp(keys[i].name, "run_user"))
			v = run_user;
		/* The instance's own LMTP socket, where its path fits in a
		 * sockaddr_un (108 bytes with the NUL). */
		char abs[PATH_MAX];
		if (!strcmp(keys[i].name, "lmtp_socket") && realpath(dir, abs) &&
		    strlen(abs) + sizeof "/lmtp.sock" <= 108)
			v = "lmtp.sock";
		buf_printf(out, "# %s\n%s = %s\n", keys[i].help, keys[i].name, v);
	}
}
