/* `postern deliver [-f SENDER] NAME`: one message from stdin into the
 * INBOX of each user NAME resolves to (auth/resolve.h: an address, a
 * +tag, an alias), durable before exit 0. The exit codes are what an
 * MTA's pipe transport understands (sysexits.h). */
#include "daemon/cli.h"
#include "auth/aliases.h"
#include "auth/resolve.h"
#include "auth/users.h"
#include "core/diskspace.h"
#include "core/log.h"
#include "deliver/local.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* Reads all of stdin, up to max+1 bytes so "too big" can be told. */
static int read_stdin(struct buf *msg, size_t max)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		buf_append(msg, chunk, (size_t)n);
		if (msg->len > max)
			return 0;
	}
}

/* An mbox "From " separator line before the header is not part of the
 * message (mail piped out of mbox tools often carries one). */
static size_t skip_mbox_from(const struct buf *msg)
{
	if (msg->len < 5 || memcmp(msg->data, "From ", 5) != 0)
		return 0;
	const char *nl = memchr(msg->data, '\n', msg->len);
	return nl ? (size_t)(nl - msg->data) + 1 : msg->len;
}

/* RFC 5322 section 2.2: the message starts with a header field
 * ("name:" with printable name characters), or is body-only after an
 * empty line. */
static const char *unusable(const char *p, size_t len)
{
	if (len == 0)
		return "empty message";
	if (memchr(p, '\0', len))
		return "message contains NUL bytes";
	if (p[0] == '\n' || (len > 1 && p[0] == '\r' && p[1] == '\n'))
		return NULL;
	for (size_t i = 0; i < len && i < 1000; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == ':')
			return i > 0 ? NULL : "message does not start with a header field";
		if (c < 33 || c > 126)
			break;
	}
	return "message does not start with a header field";
}

/* -f SENDER goes into "Return-Path: <SENDER>": no line breaks, no angle
 * brackets, and no longer than an RFC 5321 path. */
static bool sender_ok(const char *s)
{
	return strlen(s) <= RESOLVE_ADDRESS_MAX && !strpbrk(s, "\r\n<>");
}

static void usage(void)
{
	fprintf(stderr, "usage: postern -c CONF deliver [-f SENDER] NAME\n");
}

/* The users and aliases the resolver borrows. */
struct recipients {
	struct users users;
	struct aliases aliases;
	struct resolver *resolver;
};

static int recipients_load(const struct config *cfg, struct recipients *rc)
{
	struct buf err = BUF_INIT;
	users_init(&rc->users);
	aliases_init(&rc->aliases);
	rc->resolver = NULL;
	if (users_load(&rc->users, cfg->users_file, &err) != 0 ||
	    aliases_load(cfg->aliases_file, &rc->aliases, &err) != 0) {
		fprintf(stderr, "postern deliver: %s", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	rc->resolver = resolver_new(cfg, &rc->users, &rc->aliases);
	return 0;
}

static void recipients_free(struct recipients *rc)
{
	resolver_free(&rc->resolver);
	aliases_free(&rc->aliases);
	users_free(&rc->users);
}

int cmd_deliver(const struct config *cfg, int argc, char **argv)
{
	log_init("deliver");
	const char *sender = NULL;
	int i = 1;
	if (argc > 1 && !strcmp(argv[i], "-f")) {
		if (argc != 4) {
			usage();
			return EX_USAGE;
		}
		sender = argv[i + 1];
		i += 2;
	}
	if (argc - i != 1) {
		usage();
		return EX_USAGE;
	}
	const char *name = argv[i];
	if (sender && !sender_ok(sender)) {
		fprintf(stderr, "postern deliver: unusable -f sender\n");
		return EX_USAGE;
	}
	struct recipients rcpt;
	if (recipients_load(cfg, &rcpt) != 0) {
		recipients_free(&rcpt);
		return EX_TEMPFAIL;
	}
	char e[LOG_ESC_MAX], why[LOG_ESC_MAX];
	log_esc(e, sizeof e, name, strlen(name));
	struct resolve_result res;
	struct buf msg = BUF_INIT, hdr = BUF_INIT;
	struct deliver_result *results = NULL;
	int rc;
	switch (resolver_resolve(rcpt.resolver, str_from_cstr(name), &res)) {
	case RESOLVE_LOCAL:
		break;
	case RESOLVE_NOT_LOCAL_DOMAIN:
	case RESOLVE_UNKNOWN_USER:
		fprintf(stderr, "postern deliver: unknown user %s\n", e);
		log_kv(LOG_INFO, "event=deliver result=rejected user=%s reason=%s",
		       e, res.status == RESOLVE_UNKNOWN_USER ? "unknown_user" :
							      "not_local_domain");
		rc = EX_NOUSER;
		goto out;
	case RESOLVE_ERROR:
		/* A broken aliases file: the admin fixes it, the MTA retries. */
		fprintf(stderr, "postern deliver: %s: %s\n", e, res.why);
		log_kv(LOG_ERR, "event=deliver result=tempfail user=%s reason=%s",
		       e, log_esc(why, sizeof why, res.why, strlen(res.why)));
		rc = EX_TEMPFAIL;
		goto out;
	}

	if (read_stdin(&msg, cfg->max_message_size) < 0) {
		fprintf(stderr, "postern deliver: reading stdin: %m\n");
		rc = EX_TEMPFAIL;
		goto out;
	}
	buf_cstr(&msg); /* never NULL below, even for empty input */
	size_t skip = skip_mbox_from(&msg);
	const char *bad = msg.len > cfg->max_message_size ?
				  "message larger than max_message_size" :
				  unusable(msg.data + skip, msg.len - skip);
	if (bad) {
		fprintf(stderr, "postern deliver: %s\n", bad);
		log_kv(LOG_INFO, "event=deliver result=rejected user=%s reason=\"%s\" size=%zu",
		       e, bad, msg.len);
		rc = EX_DATAERR;
		goto out;
	}
	uint64_t avail, need = cfg->min_free_bytes + msg.len;
	if (cfg->min_free_bytes &&
	    disk_space_low(cfg->mail_dir, need, &avail)) {
		/* The MTA keeps the message and retries (sysexits.h). */
		fprintf(stderr, "postern deliver: insufficient system storage "
			"(%llu bytes free, min_free_space needs %llu)\n",
			(unsigned long long)avail, (unsigned long long)need);
		log_kv(LOG_WARN, "event=deliver result=tempfail user=%s "
		       "reason=disk_full avail=%llu need=%llu", e,
		       (unsigned long long)avail, (unsigned long long)need);
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (sender)
		buf_printf(&hdr, "Return-Path: <%s>\n", sender);
	results = calloc(res.n_users, sizeof *results);
	if (!results) {
		rc = EX_TEMPFAIL;
		goto out;
	}
	size_t ok = deliver_local(cfg, buf_str(&hdr), msg.data + skip,
				  msg.len - skip, (int64_t)time(NULL),
				  res.users, res.n_users, results);
	for (size_t k = 0; k < res.n_users; k++) {
		char u[LOG_ESC_MAX];
		log_esc(u, sizeof u, res.users[k], strlen(res.users[k]));
		if (results[k].status == DELIVER_OK) {
			log_kv(LOG_INFO, "event=deliver result=ok rcpt=%s user=%s size=%zu",
			       e, u, msg.len - skip);
			continue;
		}
		fprintf(stderr, "postern deliver: %s: %s\n", res.users[k],
			results[k].why);
		log_kv(LOG_ERR, "event=deliver result=%s rcpt=%s user=%s reason=%s",
		       deliver_status_name(results[k].status), e, u,
		       log_esc(why, sizeof why, results[k].why,
			       strlen(results[k].why)));
	}
	/* Any failure is a temporary failure of the whole delivery, even a
	 * permanent one or when other recipients already have the message:
	 * a pipe transport has one exit status per message, not one per
	 * recipient. On retry those recipients get a second copy. That is
	 * the right trade for a CLI: a duplicate is visible and harmless,
	 * a lost message is neither; SMTP and LMTP, which can answer per
	 * recipient, do not have this problem. */
	rc = ok == res.n_users ? EX_OK : EX_TEMPFAIL;
out:
	free(results);
	resolve_result_free(&res);
	buf_free(&hdr);
	buf_free(&msg);
	recipients_free(&rcpt);
	return rc;
}
