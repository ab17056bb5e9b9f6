/* The queue envelope reader (queue/queue_env.h) against any bytes: it
 * must answer -1 or an envelope, never crash or leak; and what it
 * accepts must survive a write and a second read unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_env env;
	struct buf err = BUF_INIT;
	if (queue_env_parse((const char *)data, size, &env, &err) < 0) {
		if (err.len == 0)
			abort(); /* every refusal has a reason */
		buf_free(&err);
		return 0;
	}
	struct buf a = BUF_INIT, b = BUF_INIT;
	queue_env_format(&env, &a);
	struct queue_env again;
	if (queue_env_parse(a.data, a.len, &again, &err) < 0)
		abort();
	queue_env_format(&again, &b);
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	queue_env_free(&again);
	queue_env_free(&env);
	buf_free(&a);
	buf_free(&b);
	buf_free(&err);
	return 0;
}
