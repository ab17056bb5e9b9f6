/* CAPA (RFC 2449), STLS (RFC 2595) and the APOP greeting timestamp.
 * CAPA tells the truth at the moment it is asked: what is offered
 * depends on TLS, on the plaintext policy and on the state. */
#include "pop3/session.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "net/conn.h"

void pop3_cmd_capa(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	struct conn *c = s->c;
	const struct config *cfg = s->cfg;
	conn_writes(c, "+OK Capability list follows\r\n"
		       "TOP\r\n"
		       "UIDL\r\n"
		       "RESP-CODES\r\n"
		       "AUTH-RESP-CODE\r\n"
		       "PIPELINING\r\n");
	if (s->state == POP3_AUTHORIZATION && pop3_plaintext_ok(s))
		conn_writes(c, "USER\r\n");
	/* RFC 5034 section 4: SASL stays listed after a successful AUTH. */
	struct buf mechs = BUF_INIT;
	if (pop3_sasl_mechs(s, &mechs) > 0)
		conn_printf(c, "SASL %s\r\n", buf_cstr(&mechs));
	buf_free(&mechs);
	if (s->state == POP3_AUTHORIZATION && !c->tls && s->env->tls)
		conn_writes(c, "STLS\r\n");
	if (cfg->pop3_expire_days > 0)
		conn_printf(c, "EXPIRE %d\r\n", cfg->pop3_expire_days);
	else
		conn_writes(c, "EXPIRE NEVER\r\n");
	if (cfg->pop3_login_delay > 0)
		conn_printf(c, "LOGIN-DELAY %d\r\n", cfg->pop3_login_delay);
	conn_writes(c, "IMPLEMENTATION postern\r\n.\r\n");
}

void pop3_cmd_stls(struct pop3_session *s, struct str *argv, int argc)
{
	(void)argv, (void)argc;
	if (s->c->tls) {
		conn_writes(s->c, "-ERR already using TLS\r\n");
		return;
	}
	if (!s->env->tls) {
		conn_writes(s->c, "-ERR TLS not available\r\n");
		return;
	}
	if (s->user_pending) {
		conn_writes(s->c, "-ERR STLS not allowed after USER\r\n");
		return;
	}
	conn_writes(s->c, "+OK Begin TLS negotiation\r\n");
	/* conn_starttls throws away whatever the client pipelined after
	 * STLS (CVE-2011-0411); on_tls resumes the session. */
	pop3_set_wait(s, POP3_WAIT_TLS);
	if (conn_starttls(s->c, s->env->tls) < 0)
		pop3_close(s, "stls_failed");
}

char *pop3_apop_timestamp(const char *hostname)
{
	uint64_t rnd;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		/* Uniqueness is what APOP needs from the timestamp; the
		 * clock and the address of a fresh object still give it. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rnd = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
		      (uint64_t)(uintptr_t)&ts;
	}
	return xasprintf("<%ld.%016" PRIx64 ".%lld@%s>", (long)getpid(), rnd,
			 (long long)time(NULL),
			 hostname && *hostname ? hostname : "localhost");
}
