/* pop3load: a bounded POP3 load generator for benchmarks on loopback.
 *
 * Each of C client threads loops: take a user that no other client is
 * using (a FIFO pool, so a POP3 maildrop lock is never contended), connect,
 * read the greeting, USER/PASS, STAT, UIDL (all lines), RETR every message
 * (to the terminating ".\r\n"), QUIT. The run stops after a total number
 * of sessions or a time bound, whichever comes first.
 *
 * Build: cc -O2 -pthread bench/pop3load.c -o build/bench/pop3load -lssl -lcrypto
 * Depends on nothing in the postern tree. Not a test: see bench/README.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
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
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE (64 * 1024)
#define LINE_MAX_LEN 32768 /* a longer line in a response is an error */
#define MAX_CLIENTS 1000
#define MAX_LAT (10 * 1000 * 1000)

enum mode { MODE_FULL, MODE_LOGIN_STAT };

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
	bool tls;
	bool verbose;
	bool check_sizes;
	enum mode mode;
	struct addrinfo *ai;
	SSL_CTX *ssl_ctx;
} opt = {
	.host = "127.0.0.1",
	.port = "110",
	.clients = 1,
	.sessions = 100,
	.duration = 60.0,
	.timeout_s = 30,
	.check_sizes = true,
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
static atomic_long msgs_retr;
static atomic_llong bytes_retr;  /* octets received for RETR, as on the wire */
static atomic_long size_mismatch; /* sessions whose RETR total != STAT octets */
static atomic_long errors_printed;
static double t_start, t_deadline;

/* Login+STAT latencies in microseconds, one per successful session. */
static uint32_t *lat;
static atomic_long n_lat;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("pop3load: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- connection with a buffered reader ---- */

struct conn {
	int fd;
	SSL *ssl;
	char buf[RBUF_SIZE];
	size_t off, len; /* unread bytes are buf[off .. off+len) */
	char err[256];
	const char *user;
};

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
	else if (c->off > 0 && c->off + c->len == sizeof c->buf) {
		memmove(c->buf, c->buf + c->off, c->len);
		c->off = 0;
	}
	size_t room = sizeof c->buf - c->off - c->len;
	if (room == 0) {
		conn_error(c, "line too long");
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
		conn_error(c, "read: %s", errno == EAGAIN ? "timeout"
							  : strerror(errno));
		return -1;
	}
	c->len += (size_t)n;
	return 0;
}

/* Returns the next line (without CRLF, NUL-terminated in place) and its
 * length including the line end in *wire, or NULL on error. The pointer is
 * valid until the next call. */
static char *conn_line(struct conn *c, size_t *linelen, size_t *wire)
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
			if (linelen)
				*linelen = l;
			if (wire)
				*wire = w;
			return start;
		}
		scanned = c->len;
		if (c->len >= LINE_MAX_LEN && c->len >= sizeof c->buf / 2) {
			conn_error(c, "line longer than %d octets", LINE_MAX_LEN);
			return NULL;
		}
		if (conn_fill(c) < 0)
			return NULL;
	}
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

/* Sends a command and reads a single-line status. Returns 0 on +OK (the
 * line in *resp), -1 otherwise. */
static int cmd(struct conn *c, const char *command, const char *shown,
	       char **resp)
{
	char out[1024];
	int n = snprintf(out, sizeof out, "%s\r\n", command);
	if (n < 0 || (size_t)n >= sizeof out) {
		conn_error(c, "command too long");
		return -1;
	}
	if (conn_write(c, out, (size_t)n) < 0)
		return -1;
	char *line = conn_line(c, NULL, NULL);
	if (!line)
		return -1;
	if (strncmp(line, "+OK", 3) != 0) {
		conn_error(c, "%s: %.200s", shown ? shown : command, line);
		return -1;
	}
	if (resp)
		*resp = line;
	return 0;
}

/* Reads a multi-line body after +OK up to ".\r\n". Counts wire octets
 * (including line ends and the terminator) and the octets after
 * un-stuffing with CRLF line ends (what STAT/LIST sizes count). */
static int read_multiline(struct conn *c, long long *wire_bytes,
			  long long *msg_bytes, long *lines)
{
	long long wb = 0, mb = 0;
	long nl = 0;
	for (;;) {
		size_t l, w;
		char *line = conn_line(c, &l, &w);
		if (!line)
			return -1;
		wb += (long long)w;
		if (line[0] == '.') {
			if (l == 1)
				break;
			mb += (long long)l - 1 + 2;
		} else {
			mb += (long long)l + 2;
		}
		nl++;
	}
	if (wire_bytes)
		*wire_bytes = wb;
	if (msg_bytes)
		*msg_bytes = mb;
	if (lines)
		*lines = nl;
	return 0;
}

static int conn_open(struct conn *c)
{
	c->fd = -1;
	c->ssl = NULL;
	c->off = c->len = 0;
	c->err[0] = '\0';
	for (struct addrinfo *a = opt.ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0)
			continue;
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

/* ---- one session ---- */

static int session(struct conn *c, const struct user *u)
{
	char command[600];
	char *line;
	double t0 = now_s();

	c->user = u->name;
	if (conn_open(c) < 0)
		return -1;
	line = conn_line(c, NULL, NULL);
	if (!line)
		return -1;
	if (strncmp(line, "+OK", 3) != 0) {
		conn_error(c, "greeting: %.200s", line);
		return -1;
	}
	snprintf(command, sizeof command, "USER %s", u->name);
	if (cmd(c, command, NULL, NULL) < 0)
		return -1;
	snprintf(command, sizeof command, "PASS %s", u->pass);
	if (cmd(c, command, "PASS", NULL) < 0)
		return -1;
	if (cmd(c, "STAT", NULL, &line) < 0)
		return -1;
	long count = 0;
	long long octets = 0;
	if (sscanf(line, "+OK %ld %lld", &count, &octets) != 2 || count < 0) {
		conn_error(c, "bad STAT response: %.200s", line);
		return -1;
	}
	double t1 = now_s();
	long li = atomic_fetch_add(&n_lat, 1);
	if (li < MAX_LAT) {
		double us = (t1 - t0) * 1e6;
		lat[li] = us > 4e9 ? 4000000000u : (uint32_t)us;
	}

	if (opt.mode == MODE_FULL) {
		long nuidl = 0;
		if (cmd(c, "UIDL", NULL, NULL) < 0 ||
		    read_multiline(c, NULL, NULL, &nuidl) < 0)
			return -1;
		if (nuidl != count) {
			conn_error(c, "UIDL listed %ld messages, STAT said %ld",
				   nuidl, count);
			return -1;
		}
		long long total = 0;
		for (long i = 1; i <= count; i++) {
			long long wb, mb;
			snprintf(command, sizeof command, "RETR %ld", i);
			if (cmd(c, command, NULL, NULL) < 0 ||
			    read_multiline(c, &wb, &mb, NULL) < 0)
				return -1;
			atomic_fetch_add(&msgs_retr, 1);
			atomic_fetch_add(&bytes_retr, wb);
			total += mb;
		}
		if (opt.check_sizes && total != octets)
			atomic_fetch_add(&size_mismatch, 1);
	}
	if (cmd(c, "QUIT", NULL, NULL) < 0)
		return -1;
	return 0;
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

static void *client(void *arg)
{
	(void)arg;
	struct conn *c = malloc(sizeof *c);
	if (!c)
		die("out of memory");
	for (;;) {
		if (now_s() >= t_deadline)
			break;
		if (atomic_fetch_add(&sessions_started, 1) >= opt.sessions)
			break;
		size_t u = pool_take();
		int r = session(c, &users[u]);
		conn_close(c);
		pool_put(u);
		if (r == 0) {
			atomic_fetch_add(&sessions_ok, 1);
		} else {
			atomic_fetch_add(&sessions_err, 1);
			if (opt.verbose ||
			    atomic_fetch_add(&errors_printed, 1) < 10)
				fprintf(stderr, "pop3load: %s: %s\n",
					users[u].name,
					c->err[0] ? c->err : "error");
		}
	}
	free(c);
	return NULL;
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, long n, double p)
{
	if (n == 0)
		return 0;
	long i = (long)(p * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static void usage(void)
{
	fputs("usage: pop3load -u USERFILE [-H host] [-p port] [-c clients]\n"
	      "                [-n sessions] [-d seconds] [-T timeout] [-m full|login-stat]\n"
	      "                [-S] [-v] [-x]\n"
	      "  -u FILE     users, one user:password a line (or passwd-file\n"
	      "              lines user:{PLAIN}password)\n"
	      "  -H HOST     server address (default 127.0.0.1)\n"
	      "  -p PORT     server port (default 110)\n"
	      "  -c N        concurrent clients (default 1; at most the number\n"
	      "              of users, since no two clients share a user)\n"
	      "  -n N        total sessions (default 100)\n"
	      "  -d SECONDS  stop starting sessions after this long (default 60)\n"
	      "  -T SECONDS  socket read/write timeout (default 30)\n"
	      "  -m MODE     full: USER/PASS STAT UIDL RETR-all QUIT (default)\n"
	      "              login-stat: USER/PASS STAT QUIT\n"
	      "  -S          implicit TLS (POP3S), certificates not verified\n"
	      "  -v          print every error\n"
	      "  -x          do not check RETR octets against STAT\n"
	      "Prints a summary and a RESULT line of key=value pairs.\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *userfile = NULL;
	int ch;
	while ((ch = getopt(argc, argv, "u:H:p:c:n:d:T:m:Svxh")) != -1) {
		switch (ch) {
		case 'u': userfile = optarg; break;
		case 'H': opt.host = optarg; break;
		case 'p': opt.port = optarg; break;
		case 'c': opt.clients = atoi(optarg); break;
		case 'n': opt.sessions = atol(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'T': opt.timeout_s = atoi(optarg); break;
		case 'm':
			if (strcmp(optarg, "full") == 0)
				opt.mode = MODE_FULL;
			else if (strcmp(optarg, "login-stat") == 0)
				opt.mode = MODE_LOGIN_STAT;
			else
				usage();
			break;
		case 'S': opt.tls = true; break;
		case 'v': opt.verbose = true; break;
		case 'x': opt.check_sizes = false; break;
		default: usage();
		}
	}
	if (!userfile || optind != argc)
		usage();
	if (opt.clients < 1 || opt.clients > MAX_CLIENTS)
		die("-c must be 1..%d", MAX_CLIENTS);
	if (opt.sessions < 1)
		die("-n must be >= 1");
	if (opt.duration <= 0 || opt.duration > 3600)
		die("-d must be in (0, 3600]");
	if (opt.timeout_s < 1)
		die("-T must be >= 1");
	load_users(userfile);
	if ((size_t)opt.clients > n_users)
		die("%d clients but only %zu users: clients never share a user",
		    opt.clients, n_users);

	pool = malloc(n_users * sizeof *pool);
	lat = malloc((size_t)MAX_LAT * sizeof *lat);
	if (!pool || !lat)
		die("out of memory");
	for (size_t i = 0; i < n_users; i++)
		pool[i] = i;
	pool_len = n_users;

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

	pthread_t *th = calloc((size_t)opt.clients, sizeof *th);
	if (!th)
		die("out of memory");
	t_start = now_s();
	t_deadline = t_start + opt.duration;
	for (int i = 0; i < opt.clients; i++) {
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		if (pthread_create(&th[i], &at, client, NULL) != 0)
			die("pthread_create failed");
		pthread_attr_destroy(&at);
	}
	for (int i = 0; i < opt.clients; i++)
		pthread_join(th[i], NULL);
	double elapsed = now_s() - t_start;

	long ok = atomic_load(&sessions_ok), err = atomic_load(&sessions_err);
	long nm = atomic_load(&msgs_retr);
	long long nb = atomic_load(&bytes_retr);
	long nl = atomic_load(&n_lat);
	if (nl > MAX_LAT)
		nl = MAX_LAT;
	qsort(lat, (size_t)nl, sizeof *lat, cmp_u32);
	double p50 = pct(lat, nl, 0.50), p99 = pct(lat, nl, 0.99);
	double lmax = nl ? lat[nl - 1] / 1000.0 : 0;
	double lmin = nl ? lat[0] / 1000.0 : 0;
	bool timed_out = ok + err < opt.sessions;

	printf("server        %s:%s%s\n", opt.host, opt.port,
	       opt.tls ? " (TLS)" : "");
	printf("clients       %d   users %zu   mode %s\n", opt.clients, n_users,
	       opt.mode == MODE_FULL ? "full" : "login-stat");
	printf("sessions      %ld ok, %ld errors%s in %.2f s\n", ok, err,
	       timed_out ? " (stopped by the time bound)" : "", elapsed);
	printf("sessions/s    %.1f\n", ok / elapsed);
	printf("messages/s    %.1f   (%ld messages)\n", nm / elapsed, nm);
	printf("MB/s          %.1f   (%.1f MB)\n", nb / 1e6 / elapsed,
	       nb / 1e6);
	printf("login+STAT    min %.2f  p50 %.2f  p99 %.2f  max %.2f ms\n",
	       lmin, p50, p99, lmax);
	if (atomic_load(&size_mismatch))
		printf("WARNING       %ld sessions: RETR octets != STAT octets\n",
		       atomic_load(&size_mismatch));
	printf("RESULT clients=%d sessions=%ld errors=%ld elapsed=%.3f "
	       "sess_per_s=%.2f msgs_per_s=%.2f mb_per_s=%.2f "
	       "p50_ms=%.3f p99_ms=%.3f min_ms=%.3f max_ms=%.3f "
	       "size_mismatch=%ld timed_out=%d\n",
	       opt.clients, ok, err, elapsed, ok / elapsed, nm / elapsed,
	       nb / 1e6 / elapsed, p50, p99, lmin, lmax,
	       atomic_load(&size_mismatch), timed_out ? 1 : 0);
	freeaddrinfo(opt.ai);
	if (opt.ssl_ctx)
		SSL_CTX_free(opt.ssl_ctx);
	return err > 0 ? 1 : 0;
}
