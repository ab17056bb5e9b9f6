/* inotify watcher for mailboxes (store/notify.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/xmalloc.h"
#include "store/notify.h"
#include "store/store_int.h"

#define ROOT_MASK                                                         \
	(IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | \
	 IN_ONLYDIR)
#define SUB_MASK                                                          \
	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | \
	 IN_ONLYDIR)

struct nwatch {
	bool used;
	bool hit;
	int wd[3]; /* root, cur, new; -1 = none */
	void *cookie;
};

struct store_notify {
	int fd;
	struct nwatch *v;
	size_t n;
};

int store_notify_open(struct store_notify **out, char *err, size_t errsz)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return store_err(err, errsz, STORE_ETEMP, "inotify_init1: %s",
				 strerror(errno));
	struct store_notify *n = xcalloc(1, sizeof *n);
	n->fd = fd;
	*out = n;
	return 0;
}

void store_notify_close(struct store_notify **np)
{
	struct store_notify *n = *np;
	if (!n)
		return;
	close(n->fd);
	free(n->v);
	free(n);
	*np = NULL;
}

int store_notify_fd(const struct store_notify *n)
{
	return n->fd;
}

static bool wd_in_use(const struct store_notify *n, int wd, size_t except)
{
	for (size_t i = 0; i < n->n; i++)
		if (i != except && n->v[i].used)
			for (int k = 0; k < 3; k++)
				if (n->v[i].wd[k] == wd)
					return true;
	return false;
}

void store_notify_remove(struct store_notify *n, int id)
{
	if (id < 0 || (size_t)id >= n->n || !n->v[id].used)
		return;
	struct nwatch *w = &n->v[id];
	/* inotify gives one wd per inode: another watch of the same
	 * mailbox keeps it. */
	for (int k = 0; k < 3; k++)
		if (w->wd[k] >= 0 && !wd_in_use(n, w->wd[k], (size_t)id))
			inotify_rm_watch(n->fd, w->wd[k]);
	memset(w, 0, sizeof *w);
}

int store_notify_add(struct store_notify *n, const char *path, void *cookie,
		     char *err, size_t errsz)
{
	size_t id = 0;
	while (id < n->n && n->v[id].used)
		id++;
	if (id == n->n) {
		n->v = xrealloc(n->v, (n->n + 1) * sizeof *n->v);
		n->n++;
	}
	struct nwatch *w = &n->v[id];
	memset(w, 0, sizeof *w);
	w->used = true;
	w->cookie = cookie;
	static const char *const sub[3] = { "", "/cur", "/new" };
	for (int k = 0; k < 3; k++) {
		char *p = xasprintf("%s%s", path, sub[k]);
		w->wd[k] = inotify_add_watch(n->fd, p,
					     k == 0 ? ROOT_MASK : SUB_MASK);
		int e = errno;
		free(p);
		if (w->wd[k] < 0) {
			int rc = store_err(err, errsz,
					   e == ENOENT || e == ENOTDIR
						   ? STORE_ENOENT
						   : STORE_ETEMP,
					   "inotify_add_watch %s%s: %s", path,
					   sub[k], strerror(e));
			store_notify_remove(n, (int)id);
			return rc;
		}
	}
	return (int)id;
}

/* Events in the mailbox directory itself that matter. */
static bool root_name_relevant(const struct inotify_event *ev)
{
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))
		return true;
	if (ev->len == 0)
		return false;
	return strcmp(ev->name, STORE_LOG_NAME) == 0 ||
	       strcmp(ev->name, STORE_INDEX_NAME) == 0 ||
	       strcmp(ev->name, STORE_KEYWORDS_NAME) == 0;
}

int store_notify_read(struct store_notify *n,
		      void (*cb)(void *cookie, void *arg), void *arg)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	for (;;) {
		ssize_t r = read(n->fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0)
			return STORE_ETEMP;
		for (char *p = buf; p < buf + r;) {
			const struct inotify_event *ev = (const void *)p;
			p += sizeof *ev + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* Events were lost: everyone looks again. */
				for (size_t i = 0; i < n->n; i++)
					n->v[i].hit = n->v[i].used;
				any = true;
				continue;
			}
			for (size_t i = 0; i < n->n; i++) {
				struct nwatch *w = &n->v[i];
				if (!w->used)
					continue;
				for (int k = 0; k < 3; k++) {
					if (w->wd[k] != ev->wd)
						continue;
					if (k > 0 || root_name_relevant(ev)) {
						w->hit = true;
						any = true;
					}
					if (ev->mask & IN_IGNORED)
						w->wd[k] = -1; /* gone */
				}
			}
		}
	}
	int reports = 0;
	for (size_t i = 0; any && i < n->n; i++) {
		if (!n->v[i].used || !n->v[i].hit)
			continue;
		n->v[i].hit = false;
		reports++;
		cb(n->v[i].cookie, arg);
	}
	return reports;
}
