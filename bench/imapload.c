/* imapload: a bounded IMAP load generator for benchmarks on loopback.
 *
 * Three modes:
 *
 *   full    C client threads each loop over sessions: take a user no other
 *           client is using (a FIFO pool, so no two sessions of one user
 *           race on the same messages), connect, LOGIN, SELECT INBOX,
 *           FETCH 1:* (FLAGS UID), FETCH BODY.PEEK[] of -b messages,
 *           STORE +FLAGS then -FLAGS (\Flagged) on -s messages, APPEND -a
 *           small messages, UID STORE +FLAGS.SILENT (\Deleted) on them and
 *           EXPUNGE (so the mailbox ends as it began), IDLE/DONE, LOGOUT.
 *           Stops after -n sessions or -d seconds, whichever comes first.
 *   idle    Opens -c connections (a few threads), each LOGIN, SELECT INBOX,
 *           IDLE; prints "READY ..." once all of them are idling, holds them
 *           for -d seconds or until SIGTERM/SIGINT, then ends every IDLE
 *           with DONE and counts the connections still alive.
 *   bigbox  -r times: connect, LOGIN, SELECT INBOX (timed), FETCH 1:*
 *           (UID FLAGS) (timed, every FETCH response counted), LOGOUT.
 *
 * Build: cc -O2 -pthread bench/imapload.c -o build/bench/imapload -lssl -lcrypto -lm
 * Depends on nothing in the postern tree. Not a test: see bench/README.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RBUF_FULL (64 * 1024)
#define RBUF_IDLE (4 * 1024) /* 5 000 idle connections: keep the client small */
#define MAX_CLIENTS 1000
#define MAX_IDLE_CONNS 100000
#define IDLE_THREADS 8
#define MAX_EXTRA 64 /* bodies, stores, appends per session */
#define MAX_RUNS 1000
#define HIST_BUCKETS 480 /* 5 % wide buckets from 1 us to ~10^10 us */

enum mode { MODE_FULL, MODE_IDLE, MODE_BIGBOX };

/* Operation kinds, each with its own latency histogram. */
enum op {
	OP_CONNECT, /* connect + TLS + greeting */
	OP_LOGIN,
	OP_SELECT,
	OP_FETCHALL, /* FETCH 1:* (FLAGS UID) */
	OP_BODY,     /* FETCH n BODY.PEEK[] */
	OP_STORE,
	OP_APPEND,
	OP_EXPUNGE, /* UID STORE \Deleted + EXPUNGE: two commands, one op each */
	OP_IDLE,    /* IDLE, "+", DONE, tagged OK */
	OP_LOGOUT,
	OP_N
};
static const char *const op_name[OP_N] = {
	"connect", "login", "select", "fetchall", "body",
	"store",   "append", "expunge", "idle",   "logout",
};

struct user {
	char *name;
	char *pass;
};

static struct {
	const char *host;
	const char *port;
	int clients;
	long sessions;
	double duration;
	int timeout_s;
	int bodies, stores, appends;
	int idle_ms;
	int runs;
	bool tls;
	bool verbose;
	bool idle_noselect;
	enum mode mode;
	struct addrinfo *ai;
	SSL_CTX *ssl_ctx;
} opt = {
	.host = "127.0.0.1",
	.port = "143",
	.clients = 1,
	.sessions = 100,
	.duration = 60.0,
	.timeout_s = 30,
	.bodies = 10,
	.stores = 5,
	.appends = 1,
	.idle_ms = 0,
	.runs = 5,
	.mode = MODE_FULL,
};

/* User pool: a FIFO ring of indexes of users not in use. */
static struct user *users;
static size_t n_users;
static size_t *pool;
static size_t pool_head, pool_len;
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;

static atomic_long sessions_started;
static atomic_long sessions_ok;
static atomic_long sessions_err;
static atomic_long commands;       /* IMAP commands completed with OK */
static atomic_llong literal_bytes; /* octets of literals received */
static atomic_long errors_printed;
static double t_start, t_deadline;
static volatile sig_atomic_t stop_flag;

static atomic_long hist[OP_N][HIST_BUCKETS];
static atomic_long hist_n[OP_N];

/* The APPENDed message: CRLF line ends, about 3 KB. */
static char *append_msg;
static size_t append_len;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
							noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("imapload: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void hist_add(enum op k, double seconds)
{
	double us = seconds * 1e6;
	int b = us < 1 ? 0 : (int)(log(us) / log(1.05)) + 1;
	if (b >= HIST_BUCKETS)
		b = HIST_BUCKETS - 1;
	atomic_fetch_add(&hist[k][b], 1);
	atomic_fetch_add(&hist_n[k], 1);
}

/* The p-quantile of an operation's latencies in ms (bucket middle). */
static double hist_pct(enum op k, double p)
{
	long n = atomic_load(&hist_n[k]);
	if (n == 0)
		return 0;
	long want = (long)(p * (double)(n - 1)) + 1, seen = 0;
	for (int b = 0; b < HIST_BUCKETS; b++) {
		seen += atomic_load(&hist[k][b]);
		if (seen >= want)
			return b == 0 ? 0.0005 : pow(1.05, b - 0.5) / 1000.0;
	}
	return 0;
}

/* ---- connection with a buffered reader ---- */

struct conn {
	int fd;
	SSL *ssl;
	char *buf;
	size_t cap;
	size_t off, len; /* unread bytes are buf[off .. off+len) */
	unsigned tag;
	char err[256];
};

static void conn_error(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void conn_error(struct conn *c, const char *fmt, ...)
{
	if (c->err[0])
		return; /* keep the first reason */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
}

static int conn_fill(struct conn *c)
{
	if (c->len == 0)
		c->off = 0;
	else if (c->off > 0 && c->off + c->len == c->cap) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	size_t room = c->cap - c->off - c->len;
	if (room == 0) {
		conn_error(c, "response line longer than %zu octets", c->cap);
		return -1;
	}
	ssize_t n;
	for (;;) {
		if (c->ssl) {
			int r = SSL_read(c->ssl, c->buf + c->off + c->len,
					 (int)room);
			if (r > 0) {
				n = r;
				break;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN)
				n = 0;
			else if (e == SSL_ERROR_SYSCALL && errno == EINTR)
				continue;
			else
				n = -1;
			break;
		}
		n = read(c->fd, c->buf + c->off + c->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n == 0) {
		conn_error(c, "connection closed by server");
		return -1;
	}
	if (n < 0) {
		conn_error(c, "read: %s",
			   errno == EAGAIN ? "timeout" : strerror(errno));
		return -1;
	}
	c->len += (size_t)n;
	return 0;
}

/* Returns the next line (without CRLF, NUL-terminated in place) and its
 * length in *linelen, or NULL on error. Valid until the next read. */
static char *conn_line(struct conn *c, size_t *linelen)
{
	size_t scanned = 0;
	for (;;) {
		char *start = c->buf + c->off;
		char *nl = memchr(start + scanned, '\n', c->len - scanned);
		if (nl) {
			size_t w = (size_t)(nl - start) + 1;
			size_t l = w - 1;
			if (l > 0 && start[l - 1] == '\r')
				l--;
			start[l] = '\0';
			c->off += w;
			c->len -= w;
			*linelen = l;
			return start;
		}
		scanned = c->len;
		if (conn_fill(c) < 0)
			return NULL;
	}
}

/* Consumes n octets of literal data without keeping them. */
static int conn_skip(struct conn *c, unsigned long long n)
{
	while (n > 0) {
		if (c->len == 0 && conn_fill(c) < 0)
			return -1;
		size_t k = c->len < n ? c->len : (size_t)n;
		c->off += k;
		c->len -= k;
		n -= k;
	}
	return 0;
}

static int conn_write(struct conn *c, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->ssl) {
			int r = SSL_write(c->ssl, s, (int)n);
			w = r > 0 ? r : -1;
		} else {
			w = send(c->fd, s, n, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
		}
		if (w < 0) {
			conn_error(c, "write: %s", strerror(errno));
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int conn_open(struct conn *c, size_t bufsize)
{
	c->fd = -1;
	c->ssl = NULL;
	c->off = c->len = 0;
	c->tag = 0;
	c->err[0] = '\0';
	if (!c->buf) {
		c->buf = malloc(bufsize);
		if (!c->buf)
			die("out of memory");
		c->cap = bufsize;
	}
	for (struct addrinfo *a = opt.ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0) {
			conn_error(c, "socket: %s", strerror(errno));
			continue;
		}
		struct timeval tv = { .tv_sec = opt.timeout_s };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			c->fd = fd;
			break;
		}
		conn_error(c, "connect: %s", strerror(errno));
		close(fd);
	}
	if (c->fd < 0)
		return -1;
	c->err[0] = '\0';
	if (opt.tls) {
		c->ssl = SSL_new(opt.ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1 ||
		    SSL_connect(c->ssl) != 1) {
			conn_error(c, "TLS handshake failed");
			return -1;
		}
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ---- IMAP responses ---- */

/* What one command's responses said. */
struct result {
	long exists;       /* last "* N EXISTS", -1 if none */
	long fetches;      /* "* N FETCH" responses */
	long expunges;     /* "* N EXPUNGE" responses */
	long literals;     /* literals received */
	long long lbytes;  /* their octets */
	unsigned long appenduid;
	char status[256];  /* the tagged line (or "+ ..." for a continuation) */
};

static void result_init(struct result *r)
{
	memset(r, 0, sizeof *r);
	r->exists = -1;
}

/* If the line segment ends in a literal announcement "{N}" or "~{N}",
 * returns N, else -1. */
static long long literal_size(const char *line, size_t l)
{
	if (l < 3 || line[l - 1] != '}')
		return -1;
	size_t i = l - 1;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || i == l - 1 || line[i - 1] != '{')
		return -1;
	return strtoll(line + i, NULL, 10);
}

/* Reads one whole response (a line and, for each literal it announces, the
 * literal and the rest of the line) and notes what it says in r. Returns
 * 1 for the tagged completion of tag (OK: r->status holds it), 2 for a
 * continuation request, 0 for an untagged response, -1 on error. */
static int read_response(struct conn *c, const char *tag, struct result *r)
{
	size_t l;
	char *line = conn_line(c, &l);
	if (!line)
		return -1;
	char head[256];
	snprintf(head, sizeof head, "%s", line);
	long long lit;
	while ((lit = literal_size(line, l)) >= 0) {
		r->literals++;
		r->lbytes += lit;
		if (conn_skip(c, (unsigned long long)lit) < 0)
			return -1;
		if (!(line = conn_line(c, &l)))
			return -1;
	}
	if (head[0] == '+') {
		snprintf(r->status, sizeof r->status, "%s", head);
		return 2;
	}
	if (head[0] == '*') {
		char *end;
		long n = strtol(head + 1, &end, 10);
		if (end != head + 1 && *end == ' ') {
			if (strncasecmp(end, " EXISTS", 7) == 0)
				r->exists = n;
			else if (strncasecmp(end, " FETCH", 6) == 0)
				r->fetches++;
			else if (strncasecmp(end, " EXPUNGE", 8) == 0)
				r->expunges++;
		} else if (strncasecmp(head, "* BYE", 5) == 0) {
			snprintf(r->status, sizeof r->status, "%s", head);
		}
		return 0;
	}
	size_t tl = strlen(tag);
	if (strncmp(head, tag, tl) != 0 || head[tl] != ' ') {
		conn_error(c, "unexpected response: %.200s", head);
		return -1;
	}
	snprintf(r->status, sizeof r->status, "%s", head + tl + 1);
	if (strncasecmp(r->status, "OK", 2) != 0)
		return -1;
	char *au = strcasestr(r->status, "[APPENDUID ");
	if (au) {
		unsigned long v, u;
		if (sscanf(au + 11, "%lu %lu", &v, &u) == 2)
			r->appenduid = u;
	}
	return 1;
}

static void next_tag(struct conn *c, char *tag, size_t n)
{
	snprintf(tag, n, "a%u", ++c->tag);
}

/* Reads responses until the tagged completion of tag. */
static int wait_tagged(struct conn *c, const char *tag, const char *shown,
		       struct result *r)
{
	for (;;) {
		int k = read_response(c, tag, r);
		if (k == 1)
			return 0;
		if (k == 2) {
			conn_error(c, "%s: unexpected continuation", shown);
			return -1;
		}
		if (k < 0) {
			if (r->status[0])
				conn_error(c, "%s: %.200s", shown, r->status);
			return -1;
		}
	}
}

/* Sends "TAG command" and waits for its tagged OK. shown names the
 * command in errors (so a password is never printed). */
static int command(struct conn *c, enum op kind, const char *shown,
		   struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int command(struct conn *c, enum op kind, const char *shown,
		   struct result *r, const char *fmt, ...)
{
	char tag[16], out[1024];
	next_tag(c, tag, sizeof tag);
	int n = snprintf(out, sizeof out, "%s ", tag);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(out + n, sizeof out - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m) >= sizeof out - 2) {
		conn_error(c, "command too long");
		return -1;
	}
	n += m;
	out[n++] = '\r';
	out[n++] = '\n';
	result_init(r);
	double t0 = now_s();
	if (conn_write(c, out, (size_t)n) < 0 ||
	    wait_tagged(c, tag, shown, r) < 0)
		return -1;
	hist_add(kind, now_s() - t0);
	atomic_fetch_add(&commands, 1);
	if (r->lbytes)
		atomic_fetch_add(&literal_bytes, r->lbytes);
	return 0;
}

/* A quoted string (RFC 9051 section 4.3) of a user name or password. */
static void quote(char *out, size_t n, const char *s)
{
	size_t o = 0;
	out[o++] = '"';
	for (; *s && o + 3 < n; s++) {
		if (*s == '"' || *s == '\\')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o++] = '"';
	out[o] = '\0';
}

static int greeting(struct conn *c)
{
	double t0 = now_s();
	size_t l;
	char *line = conn_line(c, &l);
	if (!line)
		return -1;
	if (strncasecmp(line, "* OK", 4) != 0) {
		conn_error(c, "greeting: %.200s", line);
		return -1;
	}
	hist_add(OP_CONNECT, now_s() - t0);
	return 0;
}

static int login(struct conn *c, const struct user *u)
{
	char qu[300], qp[300];
	struct result r;
	quote(qu, sizeof qu, u->name);
	quote(qp, sizeof qp, u->pass);
	return command(c, OP_LOGIN, "LOGIN", &r, "LOGIN %s %s", qu, qp);
}

static int select_inbox(struct conn *c, long *exists)
{
	struct result r;
	if (command(c, OP_SELECT, "SELECT", &r, "SELECT INBOX") < 0)
		return -1;
	if (r.exists < 0) {
		conn_error(c, "SELECT: no EXISTS");
		return -1;
	}
	*exists = r.exists;
	return 0;
}

static int fetch_all(struct conn *c, long exists, const char *items)
{
	struct result r;
	if (exists == 0)
		return 0;
	if (command(c, OP_FETCHALL, "FETCH 1:*", &r, "FETCH 1:* %s", items) < 0)
		return -1;
	if (r.fetches != exists) {
		conn_error(c, "FETCH 1:* %s: %ld responses for %ld messages",
			   items, r.fetches, exists);
		return -1;
	}
	return 0;
}

/* IDLE (RFC 2177), "+", optionally wait, DONE, tagged OK. */
static int idle_start(struct conn *c, char *tag, size_t tagsize)
{
	char out[32];
	struct result r;
	next_tag(c, tag, tagsize);
	int n = snprintf(out, sizeof out, "%s IDLE\r\n", tag);
	if (conn_write(c, out, (size_t)n) < 0)
		return -1;
	result_init(&r);
	for (;;) {
		int k = read_response(c, tag, &r);
		if (k == 2)
			return 0;
		if (k != 0) {
			conn_error(c, "IDLE: %.200s",
				   r.status[0] ? r.status : "no continuation");
			return -1;
		}
	}
}

static int idle_done(struct conn *c, const char *tag)
{
	struct result r;
	result_init(&r);
	if (conn_write(c, "DONE\r\n", 6) < 0 ||
	    wait_tagged(c, tag, "IDLE/DONE", &r) < 0)
		return -1;
	atomic_fetch_add(&commands, 1);
	return 0;
}

static int append_one(struct conn *c, unsigned long *uid)
{
	char tag[16], out[128];
	struct result r;
	next_tag(c, tag, sizeof tag);
	int n = snprintf(out, sizeof out, "%s APPEND INBOX (\\Seen) {%zu}\r\n",
			 tag, append_len);
	double t0 = now_s();
	if (conn_write(c, out, (size_t)n) < 0)
		return -1;
	result_init(&r);
	for (;;) { /* a synchronizing literal: wait for "+" */
		int k = read_response(c, tag, &r);
		if (k == 2)
			break;
		if (k != 0) {
			conn_error(c, "APPEND: %.200s",
				   r.status[0] ? r.status : "no continuation");
			return -1;
		}
	}
	if (conn_write(c, append_msg, append_len) < 0 ||
	    conn_write(c, "\r\n", 2) < 0)
		return -1;
	result_init(&r);
	if (wait_tagged(c, tag, "APPEND", &r) < 0)
		return -1;
	hist_add(OP_APPEND, now_s() - t0);
	atomic_fetch_add(&commands, 1);
	if (r.appenduid == 0) {
		conn_error(c, "APPEND: no APPENDUID in \"%.150s\"", r.status);
		return -1;
	}
	*uid = r.appenduid;
	return 0;
}

static int logout(struct conn *c)
{
	struct result r;
	return command(c, OP_LOGOUT, "LOGOUT", &r, "LOGOUT");
}

/* ---- full mode: one session ---- */

static int session(struct conn *c, const struct user *u, long seq)
{
	struct result r;
	long exists;

	if (conn_open(c, RBUF_FULL) < 0 || greeting(c) < 0 || login(c, u) < 0 ||
	    select_inbox(c, &exists) < 0 ||
	    fetch_all(c, exists, "(FLAGS UID)") < 0)
		return -1;
	/* Messages differ per session (seq) so the page cache is not one
	 * file's; a user's sessions walk through the whole mailbox. */
	for (int i = 0; i < opt.bodies && exists > 0; i++) {
		long m = (seq * opt.bodies + i) % exists + 1;
		if (command(c, OP_BODY, "FETCH BODY.PEEK[]", &r,
			    "FETCH %ld BODY.PEEK[]", m) < 0)
			return -1;
		if (r.literals != 1) {
			conn_error(c, "FETCH %ld BODY.PEEK[]: %ld literals", m,
				   r.literals);
			return -1;
		}
	}
	for (int i = 0; i < opt.stores && exists > 0; i++) {
		long m = (seq * 7 + (long)i * 13) % exists + 1;
		if (command(c, OP_STORE, "STORE", &r,
			    "STORE %ld +FLAGS (\\Flagged)", m) < 0 ||
		    command(c, OP_STORE, "STORE", &r,
			    "STORE %ld -FLAGS (\\Flagged)", m) < 0)
			return -1;
	}
	if (opt.appends > 0) {
		char set[MAX_EXTRA * 12 + 1];
		size_t o = 0;
		for (int i = 0; i < opt.appends; i++) {
			unsigned long uid;
			if (append_one(c, &uid) < 0)
				return -1;
			o += (size_t)snprintf(set + o, sizeof set - o, "%s%lu",
					      i ? "," : "", uid);
		}
		if (command(c, OP_EXPUNGE, "UID STORE", &r,
			    "UID STORE %s +FLAGS.SILENT (\\Deleted)", set) < 0 ||
		    command(c, OP_EXPUNGE, "EXPUNGE", &r, "EXPUNGE") < 0)
			return -1;
		if (r.expunges != opt.appends) {
			conn_error(c, "EXPUNGE: %ld expunged, %d appended",
				   r.expunges, opt.appends);
			return -1;
		}
	}
	char tag[16];
	double t0 = now_s();
	if (idle_start(c, tag, sizeof tag) < 0)
		return -1;
	if (opt.idle_ms > 0)
		usleep((useconds_t)opt.idle_ms * 1000);
	if (idle_done(c, tag) < 0)
		return -1;
	hist_add(OP_IDLE, now_s() - t0);
	return logout(c);
}

static size_t pool_take(void)
{
	pthread_mutex_lock(&pool_mu);
	while (pool_len == 0)
		pthread_cond_wait(&pool_cv, &pool_mu);
	size_t u = pool[pool_head];
	pool_head = (pool_head + 1) % n_users;
	pool_len--;
	pthread_mutex_unlock(&pool_mu);
	return u;
}

static void pool_put(size_t u)
{
	pthread_mutex_lock(&pool_mu);
	pool[(pool_head + pool_len) % n_users] = u;
	pool_len++;
	pthread_cond_signal(&pool_cv);
	pthread_mutex_unlock(&pool_mu);
}

static void report_error(const char *who, const struct conn *c)
{
	if (opt.verbose || atomic_fetch_add(&errors_printed, 1) < 10)
		fprintf(stderr, "imapload: %s: %s\n", who,
			c->err[0] ? c->err : "error");
}

static void *client(void *arg)
{
	(void)arg;
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		die("out of memory");
	for (;;) {
		if (stop_flag || now_s() >= t_deadline)
			break;
		long seq = atomic_fetch_add(&sessions_started, 1);
		if (seq >= opt.sessions)
			break;
		size_t u = pool_take();
		int r = session(c, &users[u], seq / (long)n_users);
		conn_close(c);
		pool_put(u);
		if (r == 0) {
			atomic_fetch_add(&sessions_ok, 1);
		} else {
			atomic_fetch_add(&sessions_err, 1);
			report_error(users[u].name, c);
		}
	}
	free(c->buf);
	free(c);
	return NULL;
}

/* ---- idle mode ---- */

struct idle_conn {
	struct conn c;
	char tag[16];
	bool up;
};

static struct idle_conn *iconns;
static atomic_long idle_next;
static atomic_long idle_up, idle_failed, idle_alive;
static double idle_open_deadline;

static void *idle_opener(void *arg)
{
	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&idle_next, 1);
		if (i >= opt.clients || stop_flag)
			break;
		struct idle_conn *ic = &iconns[i];
		long exists;
		if (now_s() >= idle_open_deadline) {
			conn_error(&ic->c, "not opened: time bound");
		} else if (conn_open(&ic->c, RBUF_IDLE) == 0 &&
			   greeting(&ic->c) == 0 &&
			   login(&ic->c, &users[(size_t)i % n_users]) == 0 &&
			   (opt.idle_noselect ||
			    select_inbox(&ic->c, &exists) == 0) &&
			   idle_start(&ic->c, ic->tag, sizeof ic->tag) == 0) {
			ic->up = true;
			long k = atomic_fetch_add(&idle_up, 1) + 1;
			if (k % 1000 == 0)
				fprintf(stderr, "imapload: %ld idling\n", k);
			continue;
		}
		atomic_fetch_add(&idle_failed, 1);
		report_error(users[(size_t)i % n_users].name, &ic->c);
		conn_close(&ic->c);
	}
	return NULL;
}

static void *idle_closer(void *arg)
{
	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&idle_next, 1);
		if (i >= opt.clients)
			break;
		struct idle_conn *ic = &iconns[i];
		if (!ic->up)
			continue;
		if (idle_done(&ic->c, ic->tag) == 0 && logout(&ic->c) == 0)
			atomic_fetch_add(&idle_alive, 1);
		else if (opt.verbose)
			report_error(users[(size_t)i % n_users].name, &ic->c);
		conn_close(&ic->c);
		free(ic->c.buf);
	}
	return NULL;
}

static void run_threads(int n, void *(*fn)(void *))
{
	pthread_t *th = calloc((size_t)n, sizeof *th);
	if (!th)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&th[i], &at, fn, NULL) != 0)
			die("pthread_create failed");
		pthread_attr_destroy(&at);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
}

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int idle_mode(void)
{
	iconns = calloc((size_t)opt.clients, sizeof *iconns);
	if (!iconns)
		die("out of memory");
	for (int i = 0; i < opt.clients; i++)
		iconns[i].c.fd = -1;
	double t0 = now_s();
	/* Opening is bounded too: at most the hold time, at least 5 minutes. */
	idle_open_deadline = t0 + (opt.duration > 300 ? opt.duration : 300);
	int nth = opt.clients < IDLE_THREADS ? opt.clients : IDLE_THREADS;
	run_threads(nth, idle_opener);
	double t_open = now_s() - t0;
	long up = atomic_load(&idle_up), failed = atomic_load(&idle_failed);
	printf("READY up=%ld failed=%ld open_s=%.2f\n", up, failed, t_open);
	fflush(stdout);
	/* Hold: until the time bound or SIGTERM/SIGINT. */
	double end = now_s() + opt.duration;
	while (!stop_flag && now_s() < end)
		usleep(100 * 1000);
	atomic_store(&idle_next, 0);
	run_threads(nth, idle_closer);
	long alive = atomic_load(&idle_alive);
	printf("connections   %d asked, %ld idling after %.2f s, %ld failed, "
	       "%ld still alive at the end (DONE + LOGOUT answered)\n",
	       opt.clients, up, t_open, failed, alive);
	printf("RESULT conns=%d up=%ld failed=%ld alive=%ld open_s=%.3f\n",
	       opt.clients, up, failed, alive, t_open);
	free(iconns);
	return failed > 0 || alive < up ? 1 : 0;
}

/* ---- bigbox mode ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void print_stats(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("%-22s min %8.1f  median %8.1f  max %8.1f ms\n", what,
	       v[0] * 1000, med * 1000, v[n - 1] * 1000);
}

static int bigbox_mode(void)
{
	double sel[MAX_RUNS], fet[MAX_RUNS], both[MAX_RUNS];
	int ok = 0, err = 0;
	long exists = 0;
	struct conn c = { .fd = -1 };
	double end = now_s() + opt.duration;
	for (int i = 0; i < opt.runs && now_s() < end; i++) {
		double t0, t1, t2;
		if (conn_open(&c, RBUF_FULL) < 0 || greeting(&c) < 0 ||
		    login(&c, &users[0]) < 0)
			goto fail;
		t0 = now_s();
		if (select_inbox(&c, &exists) < 0)
			goto fail;
		t1 = now_s();
		if (fetch_all(&c, exists, "(UID FLAGS)") < 0)
			goto fail;
		t2 = now_s();
		if (logout(&c) < 0)
			goto fail;
		conn_close(&c);
		sel[ok] = t1 - t0;
		fet[ok] = t2 - t1;
		both[ok] = t2 - t0;
		if (opt.verbose)
			printf("run %d: SELECT %.1f ms, FETCH 1:* %.1f ms, "
			       "%ld messages\n",
			       i + 1, sel[ok] * 1000, fet[ok] * 1000, exists);
		ok++;
		continue;
	fail:
		err++;
		fprintf(stderr, "imapload: run %d: %s\n", i + 1,
			c.err[0] ? c.err : "error");
		conn_close(&c);
	}
	free(c.buf);
	printf("messages %ld, %d runs, %d failed\n", exists, ok, err);
	if (ok == 0)
		return 1;
	double med_sel, med_fet, med_both;
	print_stats("SELECT INBOX", sel, ok);
	med_sel = ok % 2 ? sel[ok / 2] : (sel[ok / 2 - 1] + sel[ok / 2]) / 2;
	print_stats("FETCH 1:* (UID FLAGS)", fet, ok);
	med_fet = ok % 2 ? fet[ok / 2] : (fet[ok / 2 - 1] + fet[ok / 2]) / 2;
	print_stats("SELECT + FETCH", both, ok);
	med_both = ok % 2 ? both[ok / 2] : (both[ok / 2 - 1] + both[ok / 2]) / 2;
	printf("RESULT messages=%ld runs=%d errors=%d select_ms=%.1f "
	       "fetch_ms=%.1f both_ms=%.1f both_min_ms=%.1f\n",
	       exists, ok, err, med_sel * 1000, med_fet * 1000,
	       med_both * 1000, both[0] * 1000);
	return err > 0 ? 1 : 0;
}

/* ---- setup ---- */

static void load_users(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	size_t cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t n;
	while ((n = getline(&line, &lcap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			die("%s: expected user:password, got \"%s\"", path,
			    line);
		*colon = '\0';
		char *pass = colon + 1;
		/* Accept Dovecot passwd-file lines: user:{PLAIN}pw:... */
		if (strncmp(pass, "{PLAIN}", 7) == 0) {
			pass += 7;
			char *c2 = strchr(pass, ':');
			if (c2)
				*c2 = '\0';
		}
		if (n_users == cap) {
			cap = cap ? cap * 2 : 64;
			users = realloc(users, cap * sizeof *users);
			if (!users)
				die("out of memory");
		}
		users[n_users].name = strdup(line);
		users[n_users].pass = strdup(pass);
		n_users++;
	}
	free(line);
	fclose(f);
	if (n_users == 0)
		die("%s: no users", path);
}

/* A plain-text message of about 3 KB with CRLF line ends. */
static void make_append_msg(void)
{
	size_t cap = 4096;
	append_msg = malloc(cap);
	if (!append_msg)
		die("out of memory");
	int n = snprintf(append_msg, cap,
			 "From: imapload <load@example.org>\r\n"
			 "To: bench <bench@example.org>\r\n"
			 "Subject: imapload APPEND\r\n"
			 "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
			 "Message-ID: <imapload.%d@bench.example.org>\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=us-ascii\r\n"
			 "\r\n",
			 (int)getpid());
	size_t o = (size_t)n;
	for (int i = 0; o + 80 < 3072; i++)
		o += (size_t)snprintf(append_msg + o, cap - o,
				      "line %04d of the appended message, "
				      "padding to about three kilobytes.\r\n",
				      i);
	append_len = o;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    opt.mode == MODE_IDLE && rl.rlim_cur < (rlim_t)opt.clients + 32)
		die("%d connections need %d file descriptors; the limit is "
		    "%llu (ulimit -n)",
		    opt.clients, opt.clients + 32,
		    (unsigned long long)rl.rlim_cur);
}

static void usage(void)
{
	fputs("usage: imapload -u USERFILE [-H host] [-p port] [-m full|idle|bigbox]\n"
	      "                [-c clients] [-n sessions] [-d seconds] [-T timeout]\n"
	      "                [-b bodies] [-s stores] [-a appends] [-i idle-ms]\n"
	      "                [-r runs] [-S] [-v] [-N]\n"
	      "  -u FILE     users, one user:password a line (or passwd-file\n"
	      "              lines user:{PLAIN}password)\n"
	      "  -H HOST     server address (default 127.0.0.1)\n"
	      "  -p PORT     server port (default 143)\n"
	      "  -m MODE     full (default): concurrent sessions of LOGIN, SELECT,\n"
	      "              FETCH 1:* (FLAGS UID), FETCH bodies, STORE, APPEND,\n"
	      "              EXPUNGE, IDLE, LOGOUT\n"
	      "              idle: hold -c connections in IDLE for -d seconds\n"
	      "              bigbox: time SELECT and FETCH 1:* (UID FLAGS) of\n"
	      "              the first user's INBOX, -r runs\n"
	      "  -c N        full: concurrent clients (default 1, at most the\n"
	      "              number of users); idle: connections (users are\n"
	      "              reused round-robin)\n"
	      "  -n N        full: total sessions (default 100)\n"
	      "  -d SECONDS  full, bigbox: stop starting sessions after this long;\n"
	      "              idle: hold time (default 60)\n"
	      "  -T SECONDS  socket read/write timeout (default 30)\n"
	      "  -b N        full: FETCH BODY.PEEK[] per session (default 10)\n"
	      "  -s N        full: messages flagged and unflagged per session\n"
	      "              (default 5; two STOREs each)\n"
	      "  -a N        full: APPENDs (then expunged) per session (default 1)\n"
	      "  -i MS       full: stay in IDLE this long (default 0)\n"
	      "  -r N        bigbox: runs (default 5)\n"
	      "  -S          implicit TLS (IMAPS), certificates not verified\n"
	      "  -v          print every error (bigbox: every run)\n"
	      "  -N          idle: IDLE without SELECT (authenticated state)\n"
	      "Prints a summary and a RESULT line of key=value pairs.\n",
	      stderr);
	exit(2);
}

static void print_full(double elapsed)
{
	long ok = atomic_load(&sessions_ok), err = atomic_load(&sessions_err);
	long ncmd = atomic_load(&commands);
	long long nb = atomic_load(&literal_bytes);
	bool timed_out = ok + err < opt.sessions;

	printf("server        %s:%s%s\n", opt.host, opt.port,
	       opt.tls ? " (TLS)" : "");
	printf("clients       %d   users %zu   per session: %d bodies, "
	       "%d stores x2, %d appends\n",
	       opt.clients, n_users, opt.bodies, opt.stores, opt.appends);
	printf("sessions      %ld ok, %ld errors%s in %.2f s\n", ok, err,
	       timed_out ? " (stopped by the time bound)" : "", elapsed);
	printf("sessions/s    %.1f\n", ok / elapsed);
	printf("commands/s    %.1f   (%ld commands with OK)\n", ncmd / elapsed,
	       ncmd);
	printf("MB/s          %.1f   (%.1f MB of literals)\n",
	       nb / 1e6 / elapsed, nb / 1e6);
	printf("latency ms    %-9s %8s %8s %8s\n", "", "count", "p50", "p99");
	for (int k = 0; k < OP_N; k++)
		printf("              %-9s %8ld %8.2f %8.2f\n", op_name[k],
		       atomic_load(&hist_n[k]), hist_pct(k, 0.5),
		       hist_pct(k, 0.99));
	printf("RESULT clients=%d sessions=%ld errors=%ld elapsed=%.3f "
	       "sess_per_s=%.2f ops_per_s=%.2f mb_per_s=%.2f timed_out=%d",
	       opt.clients, ok, err, elapsed, ok / elapsed, ncmd / elapsed,
	       nb / 1e6 / elapsed, timed_out ? 1 : 0);
	for (int k = 0; k < OP_N; k++)
		printf(" %s_p50=%.3f %s_p99=%.3f", op_name[k],
		       hist_pct(k, 0.5), op_name[k], hist_pct(k, 0.99));
	printf("\n");
}

int main(int argc, char **argv)
{
	const char *userfile = NULL;
	int ch;
	while ((ch = getopt(argc, argv, "u:H:p:m:c:n:d:T:b:s:a:i:r:SvNh")) != -1) {
		switch (ch) {
		case 'u': userfile = optarg; break;
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = optarg; break;
		case 'm':
			if (strcmp(optarg, "full") == 0)
				opt.mode = MODE_FULL;
			else if (strcmp(optarg, "idle") == 0)
				opt.mode = MODE_IDLE;
			else if (strcmp(optarg, "bigbox") == 0)
				opt.mode = MODE_BIGBOX;
			else
				usage();
			break;
		case 'c': opt.clients = atoi(optarg); break;
		case 'n': opt.sessions = atol(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'T': opt.timeout_s = atoi(optarg); break;
		case 'b': opt.bodies = atoi(optarg); break;
		case 's': opt.stores = atoi(optarg); break;
		case 'a': opt.appends = atoi(optarg); break;
		case 'i': opt.idle_ms = atoi(optarg); break;
		case 'r': opt.runs = atoi(optarg); break;
		case 'S': opt.tls = true; break;
		case 'v': opt.verbose = true; break;
		case 'N': opt.idle_noselect = true; break;
		default: usage();
		}
	}
	if (!userfile || optind != argc)
		usage();
	int max_c = opt.mode == MODE_IDLE ? MAX_IDLE_CONNS : MAX_CLIENTS;
	if (opt.clients < 1 || opt.clients > max_c)
		die("-c must be 1..%d", max_c);
	if (opt.sessions < 1)
		die("-n must be >= 1");
	if (opt.duration <= 0 || opt.duration > 3600)
		die("-d must be in (0, 3600]");
	if (opt.timeout_s < 1)
		die("-T must be >= 1");
	if (opt.bodies < 0 || opt.bodies > MAX_EXTRA || opt.stores < 0 ||
	    opt.stores > MAX_EXTRA || opt.appends < 0 ||
	    opt.appends > MAX_EXTRA)
		die("-b, -s and -a must be 0..%d", MAX_EXTRA);
	if (opt.idle_ms < 0 || opt.idle_ms > 60000)
		die("-i must be 0..60000");
	if (opt.runs < 1 || opt.runs > MAX_RUNS)
		die("-r must be 1..%d", MAX_RUNS);
	load_users(userfile);
	if (opt.mode == MODE_FULL && (size_t)opt.clients > n_users)
		die("%d clients but only %zu users: clients never share a user",
		    opt.clients, n_users);
	raise_nofile();
	make_append_msg();

	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	int gai = getaddrinfo(opt.host, opt.port, &hints, &opt.ai);
	if (gai)
		die("%s:%s: %s", opt.host, opt.port, gai_strerror(gai));
	if (opt.tls) {
		opt.ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!opt.ssl_ctx)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(opt.ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int rc;
	if (opt.mode == MODE_IDLE) {
		rc = idle_mode();
	} else if (opt.mode == MODE_BIGBOX) {
		rc = bigbox_mode();
	} else {
		pool = malloc(n_users * sizeof *pool);
		if (!pool)
			die("out of memory");
		for (size_t i = 0; i < n_users; i++)
			pool[i] = i;
		pool_len = n_users;
		t_start = now_s();
		t_deadline = t_start + opt.duration;
		run_threads(opt.clients, client);
		print_full(now_s() - t_start);
		rc = atomic_load(&sessions_err) > 0 ? 1 : 0;
	}
	freeaddrinfo(opt.ai);
	if (opt.ssl_ctx)
		SSL_CTX_free(opt.ssl_ctx);
	return rc;
}
