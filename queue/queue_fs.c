/* The queue store on disk (queue/queue.h): msg/ID and env/ID under one
 * directory, written tmp/ + fsync + rename + fsync of the directory, so
 * that what a 250 promised survives a crash or a power cut.
 *
 * Locking: dir/lock is flock()ed exclusively around queue_recover's
 * clean-up and shared by everything else -- so recovery never mistakes
 * a message still being written for an orphan; a read-modify-write of
 * one envelope (queue_update) also holds msg/ID exclusively. flock locks
 * belong to the open file, so threads of one process exclude each
 * other too. */
#include "queue/queue.h"
#include "queue/queue_env.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/spool.h"
#include "core/xmalloc.h"

static int sys_err(struct buf *err, const char *what, const char *path)
{
	buf_printf(err, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

static char *path_of(const char *dir, const char *sub, const char *name)
{
	return name ? xasprintf("%s/%s/%s", dir, sub, name)
		    : xasprintf("%s/%s", dir, sub);
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	while (len > 0) {
		ssize_t n = write(fd, c, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *path, struct buf *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sys_err(err, "open", path);
	if (fsync(fd) < 0) {
		sys_err(err, "fsync", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Writes a then b to tmp, fsyncs it and renames it to dst; the caller
 * fsyncs dst's directory. On failure tmp is gone. */
/* a, then b, then (in_fd >= 0) in_len bytes of in_fd from offset 0. */
static int write_durable_fd(const char *tmp, const char *dst, const void *a,
			    size_t alen, const void *b, size_t blen,
			    int in_fd, uint64_t in_len, struct buf *err)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return sys_err(err, "create", tmp);
	if (write_all(fd, a, alen) < 0 || write_all(fd, b, blen) < 0 ||
	    (in_fd >= 0 && spool_copy(fd, in_fd, in_len) < 0)) {
		sys_err(err, "write", tmp);
		goto fail;
	}
	if (fsync(fd) < 0) {
		sys_err(err, "fsync", tmp);
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		sys_err(err, "close", tmp);
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst) < 0) {
		sys_err(err, "rename to", dst);
		goto fail;
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

static int write_durable(const char *tmp, const char *dst, const void *a,
			 size_t alen, const void *b, size_t blen,
			 struct buf *err)
{
	return write_durable_fd(tmp, dst, a, alen, b, blen, -1, 0, err);
}

/* Opens and flocks dir/lock; returns the fd (close it to unlock). */
static int lock_take(const char *dir, int op, struct buf *err)
{
	char *path = path_of(dir, "lock", NULL);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		sys_err(err, "open", path);
		free(path);
		return -1;
	}
	while (flock(fd, op) < 0) {
		if (errno == EINTR)
			continue;
		sys_err(err, "flock", path);
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

static int mkdir_one(const char *path, struct buf *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return sys_err(err, "mkdir", path);
	return 0;
}

int queue_init(const char *dir, struct buf *err)
{
	/* The parent may be missing on a fresh instance: make each level. */
	char *p = xstrdup(dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			sys_err(err, "mkdir", p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	free(p);
	if (mkdir_one(dir, err) < 0)
		return -1;
	static const char *const subs[] = { "tmp", "msg", "env" };
	for (size_t i = 0; i < 3; i++) {
		char *sub = path_of(dir, subs[i], NULL);
		int rc = mkdir_one(sub, err);
		free(sub);
		if (rc < 0)
			return -1;
	}
	int fd = lock_take(dir, LOCK_SH, err);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static bool exists(const char *dir, const char *sub, const char *name)
{
	char *path = path_of(dir, sub, name);
	struct stat st;
	bool r = lstat(path, &st) == 0 || errno != ENOENT;
	free(path);
	return r;
}

/* Removes every entry of dir/sub that keep() does not want. */
static int sweep(const char *dir, const char *sub,
		 bool (*keep)(const char *dir, const char *name),
		 struct buf *err)
{
	char *path = path_of(dir, sub, NULL);
	DIR *d = opendir(path);
	if (!d) {
		sys_err(err, "opendir", path);
		free(path);
		return -1;
	}
	int rc = 0;
	bool removed = false;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (keep && keep(dir, de->d_name))
			continue;
		char *f = path_of(dir, sub, de->d_name);
		if (unlink(f) < 0 && errno != ENOENT)
			rc = sys_err(err, "unlink", f);
		removed = true;
		free(f);
	}
	closedir(d);
	if (removed && fsync_dir(path, err) < 0)
		rc = -1;
	free(path);
	return rc;
}

static bool has_envelope(const char *dir, const char *name)
{
	/* A name that is not an id is not ours to judge: leave it. */
	return !queue_id_valid(name) || exists(dir, "env", name);
}

static bool has_message(const char *dir, const char *name)
{
	return !queue_id_valid(name) || exists(dir, "msg", name);
}

int queue_recover(const char *dir, struct buf *err)
{
	if (queue_init(dir, err) < 0)
		return -1;
	int lock = lock_take(dir, LOCK_EX, err);
	if (lock < 0)
		return -1;
	int rc = sweep(dir, "tmp", NULL, err);
	/* envelopes first: one whose message is gone was being removed */
	if (sweep(dir, "env", has_message, err) < 0)
		rc = -1;
	if (sweep(dir, "msg", has_envelope, err) < 0)
		rc = -1;
	close(lock);
	return rc;
}

static int enqueue(const char *dir, struct queue_env *env, struct str headers,
		   const char *data, size_t len, int fd, uint64_t fd_len,
		   struct buf *err);

int queue_enqueue(const char *dir, struct queue_env *env, struct str headers,
		  const char *data, size_t len, struct buf *err)
{
	return enqueue(dir, env, headers, data, len, -1, 0, err);
}

int queue_enqueue_fd(const char *dir, struct queue_env *env,
		     struct str headers, int fd, uint64_t len, struct buf *err)
{
	return enqueue(dir, env, headers, "", 0, fd, len, err);
}

int queue_enqueue_notification(const char *dir, const char *to,
			       bool body_8bit, struct str dsn, int64_t now,
			       char *id_out, size_t id_size, struct buf *err)
{
	struct queue_env b;
	queue_env_new(&b, now); /* from the null sender */
	b.is_bounce = true;
	b.body_8bit = body_8bit;
	queue_env_add_rcpt(&b, to, NULL, DSN_NOTIFY_NEVER);
	int rc = queue_enqueue(dir, &b, str_make("", 0),
			       dsn.p ? dsn.p : "", dsn.len, err);
	snprintf(id_out, id_size, "%s", b.id);
	queue_env_free(&b);
	return rc;
}

static int enqueue(const char *dir, struct queue_env *env, struct str headers,
		   const char *data, size_t len, int fd, uint64_t fd_len,
		   struct buf *err)
{
	if (!queue_id_valid(env->id) || env->n_rcpts == 0) {
		buf_printf(err, "bad envelope (id \"%s\", %zu recipients)",
			   env->id, env->n_rcpts);
		return -1;
	}
	/* The first message of a fresh instance makes the queue. */
	char *tmp_dir = path_of(dir, "tmp", NULL);
	bool missing = access(tmp_dir, F_OK) < 0;
	free(tmp_dir);
	if (missing && queue_init(dir, err) < 0)
		return -1;
	int lock = lock_take(dir, LOCK_SH, err);
	if (lock < 0)
		return -1;
	env->size = (uint64_t)headers.len + len + fd_len;
	char *tmp_msg = xasprintf("%s/tmp/%s.msg", dir, env->id);
	char *tmp_env = xasprintf("%s/tmp/%s.env", dir, env->id);
	char *msg = path_of(dir, "msg", env->id);
	char *envp = path_of(dir, "env", env->id);
	char *msg_dir = path_of(dir, "msg", NULL);
	char *env_dir = path_of(dir, "env", NULL);
	struct buf text = BUF_INIT;
	queue_env_format(env, &text);
	int rc = -1;
	if (exists(dir, "env", env->id) || exists(dir, "msg", env->id)) {
		buf_printf(err, "queue id %s is already in use", env->id);
		goto out;
	}
	if (write_durable_fd(tmp_msg, msg, headers.p, headers.len, data, len,
			     fd, fd_len, err) < 0)
		goto out;
	/* The message must be durable before the envelope names it. */
	if (fsync_dir(msg_dir, err) < 0 ||
	    write_durable(tmp_env, envp, text.data, text.len, "", 0, err) < 0) {
		unlink(msg);
		goto out;
	}
	if (fsync_dir(env_dir, err) < 0) {
		unlink(envp);
		unlink(msg);
		goto out;
	}
	rc = 0;
out:
	close(lock);
	buf_free(&text);
	free(tmp_msg);
	free(tmp_env);
	free(msg);
	free(envp);
	free(msg_dir);
	free(env_dir);
	return rc;
}

/* Reads a whole file of at most max bytes; errno ENOENT when missing. */
static int read_file(const char *path, size_t max, struct buf *out,
		     struct buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sys_err(err, "open", path);
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sys_err(err, "read", path);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		buf_append(out, chunk, (size_t)n);
		if (out->len > max) {
			buf_printf(err, "%s: larger than %zu bytes", path, max);
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* As queue_env_load, but *missing tells a vanished file from damage. */
static int env_load(const char *dir, const char *id, struct queue_env *env,
		    bool *missing, struct buf *err)
{
	memset(env, 0, sizeof *env);
	*missing = false;
	if (!queue_id_valid(id)) {
		buf_printf(err, "bad queue id");
		return -1;
	}
	char *path = path_of(dir, "env", id);
	struct buf text = BUF_INIT;
	int rc = read_file(path, QUEUE_ENV_MAX, &text, err);
	if (rc < 0) {
		*missing = errno == ENOENT;
	} else {
		struct buf why = BUF_INIT;
		rc = queue_env_parse(text.data ? text.data : "", text.len, env,
				     &why);
		if (rc == 0 && strcmp(env->id, id) != 0) {
			buf_printf(&why, "names id %s", env->id);
			queue_env_free(env);
			rc = -1;
		}
		if (rc < 0)
			buf_printf(err, "%s: damaged envelope: %s", path,
				   buf_cstr(&why));
		buf_free(&why);
	}
	buf_free(&text);
	free(path);
	return rc;
}

int queue_env_load(const char *dir, const char *id, struct queue_env *env,
		   struct buf *err)
{
	bool missing;
	return env_load(dir, id, env, &missing, err);
}

/* Removes env/ID and then msg/ID, without fsync: a removal that a
 * crash undoes only means the message is sent again (at-least-once),
 * and whatever half of it survives is cleaned up by queue_recover (an
 * orphan message, or an envelope whose message is gone -- which only a
 * removal can leave, since msg/ID is durable before env/ID exists).
 * Postfix does not sync its deletions either; here it doubles the rate
 * at which a busy queue drains. */
static int remove_queued(const char *dir, const char *id, struct buf *err)
{
	char *envp = path_of(dir, "env", id), *msg = path_of(dir, "msg", id);
	int rc = 0;
	if (unlink(envp) < 0 && errno != ENOENT)
		rc = sys_err(err, "unlink", envp);
	else if (unlink(msg) < 0 && errno != ENOENT)
		rc = sys_err(err, "unlink", msg);
	free(envp);
	free(msg);
	return rc;
}

static int env_store(const char *dir, const struct queue_env *env,
		     struct buf *err)
{
	struct buf text = BUF_INIT;
	queue_env_format(env, &text);
	char *tmp = xasprintf("%s/tmp/%s.env", dir, env->id);
	char *dst = path_of(dir, "env", env->id);
	char *env_dir = path_of(dir, "env", NULL);
	unlink(tmp); /* a leftover of a crash; we hold the lock */
	int rc = write_durable(tmp, dst, text.data, text.len, "", 0, err);
	if (rc == 0)
		rc = fsync_dir(env_dir, err);
	buf_free(&text);
	free(tmp);
	free(dst);
	free(env_dir);
	return rc;
}

int queue_update(const char *dir, const char *id, queue_update_fn fn,
		 void *arg, struct buf *err)
{
	if (!queue_id_valid(id)) {
		buf_printf(err, "bad queue id");
		return -1;
	}
	/* Shared on the queue (only recovery takes it alone), exclusive on
	 * the message: updates of different messages run side by side. The
	 * message file is the per-message lock because it is never
	 * replaced, only written once and finally removed. */
	int lock = lock_take(dir, LOCK_SH, err);
	if (lock < 0)
		return -1;
	char *msgp = path_of(dir, "msg", id);
	int mlock = open(msgp, O_RDONLY | O_CLOEXEC);
	free(msgp);
	if (mlock < 0) {
		close(lock);
		if (errno == ENOENT)
			return 1; /* removed meanwhile */
		return sys_err(err, "open", id);
	}
	while (flock(mlock, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(mlock);
			close(lock);
			return sys_err(err, "flock", id);
		}
	}
	struct queue_env env;
	bool missing;
	struct buf why = BUF_INIT;
	int rc = env_load(dir, id, &env, &missing, &why);
	if (rc < 0) {
		if (missing)
			rc = 1;
		else
			buf_append(err, why.data, why.len);
		buf_free(&why);
		close(mlock);
		close(lock);
		return rc;
	}
	buf_free(&why);
	switch (fn(&env, arg)) {
	case QUEUE_KEEP:
		/* The id is the file's name: a callback must not move it. */
		memcpy(env.id, id, strlen(id) + 1);
		rc = env_store(dir, &env, err);
		break;
	case QUEUE_REMOVE:
		rc = remove_queued(dir, id, err);
		break;
	case QUEUE_UNCHANGED:
		break;
	}
	queue_env_free(&env);
	close(mlock);
	close(lock);
	return rc;
}

static int env_cmp(const void *a, const void *b)
{
	return strcmp(((const struct queue_env *)a)->id,
		      ((const struct queue_env *)b)->id);
}

int queue_list(const char *dir, struct queue_env **out, size_t *n,
	       struct buf *err)
{
	*out = NULL;
	*n = 0;
	char *path = path_of(dir, "env", NULL);
	DIR *d = opendir(path);
	if (!d) {
		sys_err(err, "opendir", path);
		free(path);
		return -1;
	}
	free(path);
	struct queue_env *list = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		struct queue_env env;
		bool missing;
		struct buf why = BUF_INIT;
		if (env_load(dir, de->d_name, &env, &missing, &why) < 0) {
			/* Gone since readdir: delivered or deleted. */
			if (!missing) {
				buf_append(err, why.data, why.len);
				buf_appendc(err, '\n');
			}
			buf_free(&why);
			continue;
		}
		buf_free(&why);
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			list = xrealloc(list, cap * sizeof *list);
		}
		list[cnt++] = env;
	}
	closedir(d);
	if (cnt > 1)
		qsort(list, cnt, sizeof *list, env_cmp);
	*out = list;
	*n = cnt;
	return 0;
}

void queue_list_free(struct queue_env **list, size_t n)
{
	if (!*list)
		return;
	for (size_t i = 0; i < n; i++)
		queue_env_free(&(*list)[i]);
	free(*list);
	*list = NULL;
}

int queue_msg_open(const char *dir, const char *id, struct queue_msg *m,
		   struct buf *err)
{
	m->data = NULL;
	m->len = 0;
	if (!queue_id_valid(id)) {
		buf_printf(err, "bad queue id");
		return -1;
	}
	char *path = path_of(dir, "msg", id);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		sys_err(err, "open", path);
		free(path);
		return -1;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0) {
		rc = sys_err(err, "stat", path);
	} else if (st.st_size == 0) {
		m->data = "";
	} else {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			       fd, 0);
		if (p == MAP_FAILED) {
			rc = sys_err(err, "mmap", path);
		} else {
			m->data = p;
			m->len = (size_t)st.st_size;
		}
	}
	close(fd);
	free(path);
	return rc;
}

void queue_msg_close(struct queue_msg *m)
{
	if (m->data && m->len > 0)
		munmap((void *)(uintptr_t)m->data, m->len);
	m->data = NULL;
	m->len = 0;
}

int queue_retry_all(const char *dir, struct buf *err)
{
	if (queue_init(dir, err) < 0)
		return -1;
	char *path = path_of(dir, QUEUE_RETRY_FILE, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? sys_err(err, "create", path) : 0;
	if (fd >= 0)
		close(fd); /* IN_CLOSE_WRITE tells the runner */
	free(path);
	return rc;
}
