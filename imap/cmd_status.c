/* STATUS (RFC 9051 section 6.3.11; SIZE and DELETED are RFC 9051's,
 * STATUS=SIZE RFC 8438; APPENDLIMIT RFC 7889 section 4; RECENT is
 * RFC 3501's: the messages no session has had as \Recent). The values
 * come from store_mailbox_status on the thread pool; the items parser
 * and writer also serve LIST-STATUS (cmd_list.c). */
#include "imap/session.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "net/conn.h"
#include "store/store.h"

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "DELETED", IMAP_STATUS_DELETED },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "RECENT", IMAP_STATUS_RECENT },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
};
#define N_ITEMS (sizeof status_items / sizeof status_items[0])

bool imap_status_items_parse(const struct imap_arg *list,
			     unsigned order[IMAP_STATUS_ITEMS_MAX],
			     size_t *n_order, const char **reason)
{
	*n_order = 0;
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*reason = "STATUS needs a list of items";
		return false;
	}
	unsigned seen = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct imap_arg *a = &list->list[i];
		size_t k = 0;
		while (k < N_ITEMS && !imap_arg_is_atom(a, status_items[k].name))
			k++;
		if (k == N_ITEMS) {
			*reason = "Unknown STATUS item";
			return false;
		}
		if (seen & status_items[k].bit)
			continue;
		seen |= status_items[k].bit;
		order[(*n_order)++] = status_items[k].bit;
	}
	return true;
}

void imap_status_write(const struct imap_session *s, struct buf *out,
		       const char *name, const unsigned *order,
		       size_t n_order, const struct store_status *st)
{
	buf_appends(out, "* STATUS ");
	imap_mboxname_write(s, out, name);
	buf_appends(out, " (");
	for (size_t i = 0; i < n_order; i++) {
		if (i)
			buf_appendc(out, ' ');
		switch (order[i]) {
		case IMAP_STATUS_MESSAGES:
			buf_printf(out, "MESSAGES %" PRIu32, st->messages);
			break;
		case IMAP_STATUS_UIDNEXT:
			buf_printf(out, "UIDNEXT %" PRIu32, st->uidnext);
			break;
		case IMAP_STATUS_UIDVALIDITY:
			buf_printf(out, "UIDVALIDITY %" PRIu32, st->uidvalidity);
			break;
		case IMAP_STATUS_UNSEEN:
			buf_printf(out, "UNSEEN %" PRIu32, st->unseen);
			break;
		case IMAP_STATUS_DELETED:
			buf_printf(out, "DELETED %" PRIu32, st->deleted);
			break;
		case IMAP_STATUS_SIZE:
			buf_printf(out, "SIZE %" PRIu64, st->size);
			break;
		case IMAP_STATUS_RECENT:
			/* RFC 3501 6.3.10: what a SELECT now would make
			 * \Recent; IMAP4rev2 has no RECENT item at all */
			buf_printf(out, "RECENT %" PRIu32, st->recent);
			break;
		case IMAP_STATUS_APPENDLIMIT:
			buf_printf(out, "APPENDLIMIT %zu",
				   s->cfg->max_message_size);
			break;
		}
	}
	buf_appends(out, ")\r\n");
}

struct status_job {
	struct imap_session *s;
	char *path;
	char *name;
	unsigned order[IMAP_STATUS_ITEMS_MAX];
	size_t n_order;
	struct store_status st;
	int rc;
	char err[256];
};

static void status_job_free(struct status_job *j)
{
	free(j->path);
	free(j->name);
	free(j);
}

static void status_work(void *arg)
{
	struct status_job *j = arg;
	j->rc = store_mailbox_status(j->path, &j->st, j->err, sizeof j->err);
}

static void status_done(void *arg)
{
	struct status_job *j = arg;
	struct imap_session *s = j->s;
	if (!imap_job_finish(s)) {
		status_job_free(j);
		return;
	}
	if (j->rc == STORE_ENOENT) {
		imap_cmd_done(s, IMAP_NO, "[NONEXISTENT] No such mailbox");
	} else if (j->rc < 0) {
		char why[LOG_ESC_MAX];
		log_kv(LOG_INFO, "event=status_failed proto=imap sid=%s error=%s",
		       s->c->id, log_esc(why, sizeof why, j->err, strlen(j->err)));
		imap_cmd_done(s, IMAP_NO, "[UNAVAILABLE] STATUS failed, try "
					  "again later");
	} else {
		struct buf b = BUF_INIT;
		imap_status_write(s, &b, j->name, j->order, j->n_order, &j->st);
		imap_write_buf(s, &b);
		buf_free(&b);
		imap_cmd_done(s, IMAP_OK, "STATUS completed");
	}
	status_job_free(j);
}

void imap_cmd_status(struct imap_session *s, const struct imap_arg *args,
		     size_t n)
{
	(void)n;
	unsigned order[IMAP_STATUS_ITEMS_MAX];
	size_t n_order;
	const char *reason;
	if (!imap_status_items_parse(&args[1], order, &n_order, &reason)) {
		imap_cmd_done(s, IMAP_BAD, reason);
		return;
	}
	struct buf name = BUF_INIT, path = BUF_INIT, canon = BUF_INIT;
	char err[256];
	if (!imap_mboxname_arg(s, &args[0], &name, &reason)) {
		buf_free(&name);
		imap_cmd_done(s, IMAP_NO, reason);
		return;
	}
	if (imap_mboxname_path(s, buf_str(&name), &path, &canon, err,
			       sizeof err) < 0) {
		buf_free(&name);
		buf_free(&path);
		buf_free(&canon);
		imap_cmd_donef(s, IMAP_NO, "[NONEXISTENT] %s", err);
		return;
	}
	buf_free(&name);
	struct status_job *j = xcalloc(1, sizeof *j);
	j->s = s;
	j->path = xstrdup(buf_cstr(&path));
	j->name = xstrdup(buf_cstr(&canon));
	memcpy(j->order, order, sizeof order);
	j->n_order = n_order;
	buf_free(&path);
	buf_free(&canon);
	imap_set_wait(s, IMAP_WAIT_JOB);
	imap_job_submit(s, status_work, status_done, j);
}
