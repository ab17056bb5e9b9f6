/* Envelopes in memory and as text (queue/queue_env.h): building one,
 * writing it, and reading it back without trusting a byte of it -- a
 * file may be cut short by a full disk or edited by hand. */
#include "queue/queue_env.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/xmalloc.h"

static const char *const state_names[] = {
	[QUEUE_RCPT_PENDING] = "pending",
	[QUEUE_RCPT_DELIVERED] = "delivered",
	[QUEUE_RCPT_FAILED] = "failed",
	[QUEUE_RCPT_BOUNCED] = "bounced",
};
#define NSTATES (sizeof state_names / sizeof state_names[0])

static const char *const ret_names[] = {
	[DSN_RET_NONE] = "default",
	[DSN_RET_FULL] = "full",
	[DSN_RET_HDRS] = "hdrs",
};
#define NRETS (sizeof ret_names / sizeof ret_names[0])

const char *queue_rcpt_state_name(enum queue_rcpt_state s)
{
	return (size_t)s < NSTATES ? state_names[s] : "unknown";
}

static bool id_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '-';
}

bool queue_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n >= QUEUE_ID_MAX || id[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!id_char(id[i]))
			return false;
	return true;
}

/* "YYYYMMDDTHHMMSS-UUUUUU-RRRRRRRR": UTC seconds, then microseconds so
 * ids made in one second still sort by arrival, then 32 random bits so
 * two processes never pick the same one. */
static void id_make(char *out, size_t n, int64_t now)
{
	time_t t = (time_t)now;
	struct tm tm;
	gmtime_r(&t, &tm);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned char r[4] = { 0 };
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		/* Unique enough with the microseconds and the time. */
		unsigned long x = (unsigned long)ts.tv_nsec ^
				  ((unsigned long)clock() << 7);
		memcpy(r, &x, sizeof r);
	}
	char id[96]; /* ample for any int the compiler can imagine */
	snprintf(id, sizeof id, "%04d%02d%02dT%02d%02d%02d-%06ld-%02x%02x%02x%02x",
		 (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000 % 1000000,
		 r[0], r[1], r[2], r[3]);
	size_t len = strlen(id);
	if (len >= n)
		len = n - 1;
	memcpy(out, id, len);
	out[len] = '\0';
}

void queue_env_new(struct queue_env *env, int64_t now)
{
	memset(env, 0, sizeof *env);
	id_make(env->id, sizeof env->id, now);
	env->created = now;
	env->sender = xstrdup("");
	env->auth_user = xstrdup("");
}

void queue_env_add_rcpt(struct queue_env *env, const char *addr,
			const char *orcpt, unsigned notify)
{
	env->rcpts = xrealloc(env->rcpts,
			      (env->n_rcpts + 1) * sizeof *env->rcpts);
	struct queue_rcpt *r = &env->rcpts[env->n_rcpts++];
	memset(r, 0, sizeof *r);
	r->addr = xstrdup(addr);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
	r->state = QUEUE_RCPT_PENDING;
	r->status = xstrdup("");
	r->diag = xstrdup("");
	r->remote_mta = xstrdup("");
}

void queue_env_free(struct queue_env *env)
{
	for (size_t i = 0; i < env->n_rcpts; i++) {
		struct queue_rcpt *r = &env->rcpts[i];
		free(r->addr);
		free(r->orcpt);
		free(r->status);
		free(r->diag);
		free(r->remote_mta);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	free(env->auth_user);
	memset(env, 0, sizeof *env);
}

/* ---- writing -------------------------------------------------------- */

void queue_env_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s) {
		buf_appendc(out, '-');
		return;
	}
	if (!s[0]) {
		buf_appendc(out, '.');
		return;
	}
	bool lone = !s[1] && (s[0] == '-' || s[0] == '.');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x21 || *p == '%' || *p == 0x7f || lone) {
			buf_appendc(out, '%');
			buf_appendc(out, hex[*p >> 4]);
			buf_appendc(out, hex[*p & 15]);
		} else {
			buf_appendc(out, (char)*p);
		}
	}
}

static void put_str(struct buf *out, const char *key, const char *v)
{
	buf_appends(out, key);
	buf_appendc(out, ' ');
	queue_env_escape(out, v);
	buf_appendc(out, '\n');
}

void queue_env_format(const struct queue_env *env, struct buf *out)
{
	buf_appends(out, QUEUE_ENV_MAGIC "\n");
	put_str(out, "id", env->id);
	put_str(out, "sender", env->sender ? env->sender : "");
	buf_printf(out, "created %lld\n", (long long)env->created);
	buf_printf(out, "next_attempt %lld\n", (long long)env->next_attempt);
	buf_printf(out, "attempts %d\n", env->attempts);
	buf_printf(out, "hold %d\nwarned %d\nbody_8bit %d\nsmtputf8 %d\n"
			"is_bounce %d\n",
		   env->hold, env->warned, env->body_8bit, env->smtputf8,
		   env->is_bounce);
	put_str(out, "envid", env->envid);
	buf_printf(out, "ret %s\n", (size_t)env->ret < NRETS ?
				    ret_names[env->ret] : "default");
	buf_printf(out, "size %llu\n", (unsigned long long)env->size);
	put_str(out, "auth_user", env->auth_user ? env->auth_user : "");
	for (size_t i = 0; i < env->n_rcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		buf_printf(out, "rcpt %s %d %lld %u ",
			   queue_rcpt_state_name(r->state), r->attempts,
			   (long long)r->last_attempt, r->notify);
		queue_env_escape(out, r->addr ? r->addr : "");
		buf_appendc(out, ' ');
		queue_env_escape(out, r->orcpt);
		buf_appendc(out, ' ');
		queue_env_escape(out, r->status ? r->status : "");
		buf_appendc(out, ' ');
		queue_env_escape(out, r->diag ? r->diag : "");
		buf_appendc(out, ' ');
		queue_env_escape(out, r->remote_mta ? r->remote_mta : "");
		buf_appendc(out, '\n');
	}
	buf_appends(out, "end\n");
}

/* ---- reading -------------------------------------------------------- */

struct parser {
	struct buf *err;
	size_t line;
	bool failed;
};

static int fail(struct parser *p, const char *what)
{
	if (!p->failed)
		buf_printf(p->err, "line %zu: %s", p->line, what);
	p->failed = true;
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes a token into a new string (*out NULL for "-" when nullable). */
static int get_str(struct parser *p, struct str tok, bool nullable,
		   char **out)
{
	*out = NULL;
	if (tok.len == 0)
		return fail(p, "empty field");
	if (tok.len == 1 && tok.p[0] == '-') {
		if (!nullable)
			return fail(p, "missing value");
		return 0;
	}
	if (tok.len == 1 && tok.p[0] == '.') {
		*out = xstrdup("");
		return 0;
	}
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < tok.len; i++) {
		unsigned char c = (unsigned char)tok.p[i];
		if (c < 0x21 || c == 0x7f) {
			buf_free(&b);
			return fail(p, "control byte in a value");
		}
		if (c != '%') {
			buf_appendc(&b, (char)c);
			continue;
		}
		int hi = i + 2 < tok.len ? hexval(tok.p[i + 1]) : -1;
		int lo = i + 2 < tok.len ? hexval(tok.p[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			buf_free(&b);
			return fail(p, "bad %-escape");
		}
		buf_appendc(&b, (char)(hi << 4 | lo));
		i += 2;
	}
	*out = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return 0;
}

static int get_i64(struct parser *p, struct str tok, long long max,
		   int64_t *out)
{
	unsigned long long v;
	if (!str_to_u64(tok, (unsigned long long)max, &v))
		return fail(p, "bad number");
	*out = (int64_t)v;
	return 0;
}

static int get_int(struct parser *p, struct str tok, int *out)
{
	int64_t v;
	if (get_i64(p, tok, INT_MAX, &v) < 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int get_bool(struct parser *p, struct str tok, bool *out)
{
	if (tok.len != 1 || (tok.p[0] != '0' && tok.p[0] != '1'))
		return fail(p, "bad boolean");
	*out = tok.p[0] == '1';
	return 0;
}

static int get_ret(struct parser *p, struct str tok, enum dsn_ret *out)
{
	for (size_t i = 0; i < NRETS; i++)
		if (str_eq(tok, ret_names[i])) {
			*out = (enum dsn_ret)i;
			return 0;
		}
	return fail(p, "bad ret");
}

static int get_state(struct parser *p, struct str tok,
		     enum queue_rcpt_state *out)
{
	for (size_t i = 0; i < NSTATES; i++)
		if (str_eq(tok, state_names[i])) {
			*out = (enum queue_rcpt_state)i;
			return 0;
		}
	return fail(p, "bad recipient state");
}

/* Splits value into exactly n single-space separated tokens. */
static int split(struct parser *p, struct str v, struct str *tok, size_t n)
{
	if (v.len > 0 && v.p[v.len - 1] == ' ')
		return fail(p, "trailing space");
	for (size_t i = 0; i < n; i++) {
		struct str rest;
		if (!str_next_token(v, &tok[i], &rest) || tok[i].len == 0)
			return fail(p, "missing field");
		v = rest;
	}
	if (v.len != 0)
		return fail(p, "extra fields");
	return 0;
}

static int parse_rcpt(struct parser *p, struct str v, struct queue_env *env)
{
	struct str t[9];
	if (split(p, v, t, 9) < 0)
		return -1;
	if (env->n_rcpts >= QUEUE_ENV_MAX_RCPTS)
		return fail(p, "too many recipients");
	env->rcpts = xrealloc(env->rcpts,
			      (env->n_rcpts + 1) * sizeof *env->rcpts);
	struct queue_rcpt *r = &env->rcpts[env->n_rcpts++];
	memset(r, 0, sizeof *r);
	int64_t notify;
	if (get_state(p, t[0], &r->state) < 0 ||
	    get_int(p, t[1], &r->attempts) < 0 ||
	    get_i64(p, t[2], INT64_MAX, &r->last_attempt) < 0 ||
	    get_i64(p, t[3], 15, &notify) < 0 ||
	    get_str(p, t[4], false, &r->addr) < 0 ||
	    get_str(p, t[5], true, &r->orcpt) < 0 ||
	    get_str(p, t[6], false, &r->status) < 0 ||
	    get_str(p, t[7], false, &r->diag) < 0 ||
	    get_str(p, t[8], false, &r->remote_mta) < 0)
		return -1;
	r->notify = (unsigned)notify;
	if (!r->addr[0])
		return fail(p, "empty recipient address");
	return 0;
}

/* Keys seen, so that a repeated or missing one is damage. */
enum {
	K_ID = 1u << 0, K_SENDER = 1u << 1, K_CREATED = 1u << 2,
	K_NEXT = 1u << 3, K_ATTEMPTS = 1u << 4, K_HOLD = 1u << 5,
	K_WARNED = 1u << 6, K_8BIT = 1u << 7, K_UTF8 = 1u << 8,
	K_BOUNCE = 1u << 9, K_ENVID = 1u << 10, K_RET = 1u << 11,
	K_SIZE = 1u << 12, K_AUTH = 1u << 13, K_END = 1u << 14,
	K_REQUIRED = K_ID | K_SENDER | K_CREATED | K_NEXT | K_ATTEMPTS |
		     K_HOLD | K_SIZE | K_END,
};

static int parse_line(struct parser *p, struct str key, struct str v,
		      struct queue_env *env, unsigned *seen)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {
		{ "id", K_ID }, { "sender", K_SENDER },
		{ "created", K_CREATED }, { "next_attempt", K_NEXT },
		{ "attempts", K_ATTEMPTS }, { "hold", K_HOLD },
		{ "warned", K_WARNED }, { "body_8bit", K_8BIT },
		{ "smtputf8", K_UTF8 }, { "is_bounce", K_BOUNCE },
		{ "envid", K_ENVID }, { "ret", K_RET }, { "size", K_SIZE },
		{ "auth_user", K_AUTH },
	};
	if (str_eq(key, "rcpt"))
		return parse_rcpt(p, v, env);
	unsigned bit = 0;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (str_eq(key, keys[i].name))
			bit = keys[i].bit;
	if (!bit)
		return fail(p, "unknown key");
	if (*seen & bit)
		return fail(p, "repeated key");
	*seen |= bit;
	struct str t;
	if (split(p, v, &t, 1) < 0)
		return -1;
	char *s = NULL;
	int rc;
	switch (bit) {
	case K_ID:
		if ((rc = get_str(p, t, false, &s)) == 0) {
			if (!queue_id_valid(s))
				rc = fail(p, "bad id");
			else
				memcpy(env->id, s, strlen(s) + 1);
		}
		free(s);
		return rc;
	case K_SENDER:
		free(env->sender);
		return get_str(p, t, false, &env->sender);
	case K_CREATED:
		return get_i64(p, t, INT64_MAX, &env->created);
	case K_NEXT:
		return get_i64(p, t, INT64_MAX, &env->next_attempt);
	case K_ATTEMPTS:
		return get_int(p, t, &env->attempts);
	case K_HOLD:
		return get_bool(p, t, &env->hold);
	case K_WARNED:
		return get_bool(p, t, &env->warned);
	case K_8BIT:
		return get_bool(p, t, &env->body_8bit);
	case K_UTF8:
		return get_bool(p, t, &env->smtputf8);
	case K_BOUNCE:
		return get_bool(p, t, &env->is_bounce);
	case K_ENVID:
		return get_str(p, t, true, &env->envid);
	case K_RET:
		return get_ret(p, t, &env->ret);
	case K_SIZE: {
		int64_t sz;
		if (get_i64(p, t, INT64_MAX, &sz) < 0)
			return -1;
		env->size = (uint64_t)sz;
		return 0;
	}
	case K_AUTH:
		free(env->auth_user);
		return get_str(p, t, false, &env->auth_user);
	}
	return fail(p, "unknown key");
}

int queue_env_parse(const char *data, size_t len, struct queue_env *env,
		    struct buf *err)
{
	memset(env, 0, sizeof *env);
	struct parser p = { err, 0, false };
	unsigned seen = 0;
	size_t off = 0;
	while (off < len && !p.failed) {
		p.line++;
		const char *eol = memchr(data + off, '\n', len - off);
		if (!eol) {
			fail(&p, "cut short (no line end)");
			break;
		}
		struct str line = str_make(data + off, (size_t)(eol - data - off));
		off = (size_t)(eol - data) + 1;
		if (p.line == 1) {
			if (!str_eq(line, QUEUE_ENV_MAGIC))
				fail(&p, "not a version 1 queue envelope");
			continue;
		}
		if (seen & K_END) {
			fail(&p, "data after the end line");
			break;
		}
		if (str_eq(line, "end")) {
			seen |= K_END;
			continue;
		}
		struct str key, v;
		if (!str_next_token(line, &key, &v) || key.len == 0) {
			fail(&p, "malformed line");
			break;
		}
		parse_line(&p, key, v, env, &seen);
	}
	if (!p.failed && p.line == 0)
		fail(&p, "empty file");
	if (!p.failed && (seen & K_REQUIRED) != K_REQUIRED)
		fail(&p, (seen & K_END) ? "a required key is missing"
					: "cut short (no end line)");
	if (!p.failed && env->n_rcpts == 0)
		fail(&p, "no recipients");
	if (!env->sender && !p.failed)
		fail(&p, "no sender");
	if (p.failed) {
		queue_env_free(env);
		return -1;
	}
	if (!env->auth_user)
		env->auth_user = xstrdup("");
	return 0;
}
