/* `postern deliver NAME`: one message from stdin into NAME's INBOX,
 * durable before exit 0. The exit codes are what an MTA's pipe
 * transport understands (sysexits.h). */
#include "daemon/cli.h"
#include "auth/users.h"
#include "core/log.h"
#include "store/store.h"

#include <limits.h>
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

int cmd_deliver(const struct config *cfg, int argc, char **argv)
{
	log_init("deliver");
	if (argc != 2) {
		fprintf(stderr, "usage: postern -c CONF deliver NAME\n");
		return EX_USAGE;
	}
	struct users users;
	users_init(&users);
	struct buf err = BUF_INIT;
	if (users_load(&users, cfg->users_file, &err) != 0) {
		fprintf(stderr, "postern deliver: %s", buf_cstr(&err));
		buf_free(&err);
		return EX_TEMPFAIL;
	}
	char e[LOG_ESC_MAX];
	const struct user_entry *u = users_lookup(&users, str_from_cstr(argv[1]));
	if (!u) {
		fprintf(stderr, "postern deliver: unknown user %s\n",
			log_esc(e, sizeof e, argv[1], strlen(argv[1])));
		log_kv(LOG_INFO, "event=deliver result=rejected user=%s reason=unknown_user",
		       log_esc(e, sizeof e, argv[1], strlen(argv[1])));
		users_free(&users);
		buf_free(&err);
		return EX_NOUSER;
	}
	char maildir[PATH_MAX], why[512];
	int rc = store_user_maildir(cfg->mail_dir, u->name, maildir, sizeof maildir);
	char user[256];
	snprintf(user, sizeof user, "%s", u->name);
	users_free(&users);
	if (rc != 0) {
		fprintf(stderr, "postern deliver: bad user name for a maildir\n");
		buf_free(&err);
		return EX_NOUSER;
	}

	struct buf msg = BUF_INIT;
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
		       log_esc(e, sizeof e, user, strlen(user)), bad, msg.len);
		rc = EX_DATAERR;
		goto out;
	}
	rc = store_maildir_create(maildir, why, sizeof why);
	if (rc == 0)
		rc = store_deliver(maildir, msg.data + skip, msg.len - skip,
				   (int64_t)time(NULL), why, sizeof why);
	if (rc != 0) {
		fprintf(stderr, "postern deliver: %s\n", why);
		log_kv(LOG_ERR, "event=deliver result=tempfail user=%s reason=%s",
		       log_esc(e, sizeof e, user, strlen(user)),
		       log_esc(why, sizeof why, why, strlen(why)));
		rc = EX_TEMPFAIL;
		goto out;
	}
	log_kv(LOG_INFO, "event=deliver result=ok user=%s size=%zu",
	       log_esc(e, sizeof e, user, strlen(user)), msg.len - skip);
	rc = EX_OK;
out:
	buf_free(&msg);
	buf_free(&err);
	return rc;
}
