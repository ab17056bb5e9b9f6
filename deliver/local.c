/* Local delivery into users' INBOXes (deliver/local.h). */
#include "deliver/local.h"
#include "store/store.h"

#include <limits.h>
#include <stdio.h>
#include <sys/uio.h>

const char *deliver_status_name(enum deliver_status s)
{
	switch (s) {
	case DELIVER_OK:
		return "ok";
	case DELIVER_TEMP:
		return "tempfail";
	case DELIVER_PERM:
		return "permfail";
	}
	return "?";
}

static void deliver_one(const struct config *cfg, const struct iovec *iov,
			size_t iovcnt, int fd, uint64_t len,
			int64_t internal_date, const char *user,
			struct deliver_result *res)
{
	char maildir[PATH_MAX];
	res->why[0] = '\0';
	if (store_user_maildir(cfg->mail_dir, user, maildir, sizeof maildir) != 0) {
		res->status = DELIVER_PERM;
		snprintf(res->why, sizeof res->why, "name unusable as a maildir");
		return;
	}
	/* The Maildir almost always exists: create it only when delivery
	 * finds it missing (saves a mkdir per directory per message). */
	int rc = store_deliverv_fd(maildir, iov, iovcnt, fd, len,
				   internal_date, res->why, sizeof res->why);
	if (rc == STORE_ENOENT) {
		rc = store_maildir_create(maildir, res->why, sizeof res->why);
		if (rc == 0)
			rc = store_deliverv_fd(maildir, iov, iovcnt, fd, len,
					       internal_date, res->why,
					       sizeof res->why);
	}
	res->status = rc == 0 ? DELIVER_OK : DELIVER_TEMP;
}

static size_t deliver_all(const struct config *cfg, struct str headers,
			  const char *data, size_t len, int fd,
			  uint64_t fd_len, int64_t internal_date,
			  const char *const *users, size_t n_users,
			  struct deliver_result *results)
{
	/* The store takes const data through iovec's non-const pointer. */
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)headers.p, .iov_len = headers.len },
		{ .iov_base = (void *)(uintptr_t)data, .iov_len = len },
	};
	size_t ok = 0;
	for (size_t i = 0; i < n_users; i++) {
		deliver_one(cfg, iov, 2, fd, fd_len, internal_date, users[i],
			    &results[i]);
		if (results[i].status == DELIVER_OK)
			ok++;
	}
	return ok;
}

size_t deliver_local(const struct config *cfg, struct str headers,
		     const char *data, size_t len, int64_t internal_date,
		     const char *const *users, size_t n_users,
		     struct deliver_result *results)
{
	return deliver_all(cfg, headers, data, len, -1, 0, internal_date,
			   users, n_users, results);
}

size_t deliver_local_fd(const struct config *cfg, struct str headers,
			int fd, uint64_t len, int64_t internal_date,
			const char *const *users, size_t n_users,
			struct deliver_result *results)
{
	return deliver_all(cfg, headers, "", 0, fd, len, internal_date, users,
			   n_users, results);
}
