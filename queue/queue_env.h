/* Internal to queue/: the text form of an envelope (env/ID), apart from
 * any I/O so that the fuzzer and the unit tests can drive it.
 *
 *   postern-queue 1               first line: the format version
 *   id 20261122T100311-...        then "key value" lines, any order
 *   sender a@b
 *   ...
 *   rcpt STATE ATTEMPTS LAST_ATTEMPT NOTIFY ADDR ORCPT STATUS DIAG MTA
 *
 * Every string value is one token: bytes below 0x21, '%' and 0x7f are
 * written %XX, so no CR, LF, NUL, space or control byte can end a line
 * or a field early; bytes >= 0x80 (UTF-8 addresses) are kept as they
 * are. A NULL string is "-", an empty one ".", and a value that is
 * exactly "-" or "." is written %2D / %2E. */
#ifndef POSTERN_QUEUE_ENV_H
#define POSTERN_QUEUE_ENV_H
#include <stddef.h>

#include "core/buf.h"
#include "queue/queue.h"

/* The version line this code writes and reads. */
#define QUEUE_ENV_MAGIC "postern-queue 1"
/* An envelope file larger than this is damaged (100 recipients with
 * 1 KB diagnostics each fit many times over). */
#define QUEUE_ENV_MAX (4u << 20)
/* Recipients per envelope. */
#define QUEUE_ENV_MAX_RCPTS 10000

/* Appends the whole file text of env to out. */
void queue_env_format(const struct queue_env *env, struct buf *out);
/* Parses a file's text into *env (which it initialises). On error
 * returns -1, appends the reason (with the line number) to err and
 * leaves *env empty (safe to queue_env_free). */
int queue_env_parse(const char *data, size_t len, struct queue_env *env,
		    struct buf *err);

/* One string value as a token (see above); s may be NULL. */
void queue_env_escape(struct buf *out, const char *s);

#endif
