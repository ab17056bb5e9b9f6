/* The login limiter: counts failed logins per remote IP and per user
 * (case-folded) and blocks a key that reaches the limit. Pure logic:
 * the caller passes the time, so tests need no clock.
 *
 * A key's count starts at its first failure and is forgotten `window`
 * seconds later; the failure that brings it to `limit` blocks the key
 * for `block_time` seconds (and restarts its count). Success clears the
 * user's count, not the IP's: a botnet guessing many users from one
 * address keeps its tally. Memory is bounded: at most max_entries keys,
 * the least recently touched are dropped first. */
#ifndef POSTERN_LIMITER_H
#define POSTERN_LIMITER_H
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

struct limiter;

enum limiter_verdict {
	LIMITER_OK,
	LIMITER_BLOCKED_IP,
	LIMITER_BLOCKED_USER,
};

#define LIMITER_DEFAULT_ENTRIES 65536

/* limit <= 0 disables blocking (counting still costs nothing). */
struct limiter *limiter_new(int limit, int window, int block_time,
			    size_t max_entries);
void limiter_free(struct limiter **l);
/* Is this IP or user blocked now? (user may be empty.) */
enum limiter_verdict limiter_check(struct limiter *l, const char *ip,
				   struct str user, time_t now);
void limiter_fail(struct limiter *l, const char *ip, struct str user,
		  time_t now);
void limiter_success(struct limiter *l, const char *ip, struct str user,
		     time_t now);
/* Number of keys held (for tests). */
size_t limiter_size(const struct limiter *l);

#endif
