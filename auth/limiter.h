/* The login limiter: slows down guessing, and refuses only a network
 * that floods. Dovecot's auth_penalty and Postfix's anvil are the models.
 * Pure logic: the caller passes the time, so tests need no clock.
 *
 * Sources are counted per network, not per address: an IPv4 address is
 * its own network, an IPv6 source counts per /64 (what one subscriber
 * or host gets, RFC 6177) and, for floods, per /56 as well, so that
 * walking through the addresses of a prefix earns no fresh budget.
 *
 * Every attempt is counted when it arrives (so that parallel guesses are
 * no cheaper than sequential ones) and undone by limiter_success(). Over
 * a window of `window` seconds from its first count, a key holds:
 *   - (user, network): the attempts of one user name from one network;
 *   - user: the attempts of that name from networks it never logged in
 *     from (a distributed guess at one account);
 *   - network (and /56): the attempts from it, for any user.
 * The answer is delayed (before the secret is even checked) once one of
 * them reaches `free_tries` (the network's at NET_FACTOR times that):
 * 1 s, doubling with each further attempt, up to delay_max_ms. Nothing
 * is ever refused because of a user's count: the right password always
 * works, at worst `delay_max_ms` late.
 *
 * A (user, network) pair that logged in successfully in the last
 * `known_ttl` seconds is "known": it is judged only by its own pair
 * count, never by the user's or the network's, so an owner is not
 * locked out or slowed by failures elsewhere. Known pairs live in their
 * own table, evicted only by other successes.
 *
 * A network with `flood` attempts in the window (a /56 with
 * WIDE_FACTOR times that) is refused outright for `block_time` seconds,
 * except for its known pairs.
 *
 * Memory is bounded: max_entries counters and max_known pairs, the
 * least recently touched dropped first. Whether a user exists never
 * changes anything here: unknown user and wrong password count alike. */
#ifndef POSTERN_LIMITER_H
#define POSTERN_LIMITER_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/buf.h"

struct limiter;

#define LIMITER_DEFAULT_ENTRIES 65536
/* A network's own slow-down starts at this many times free_tries:
 * an office behind one NAT address makes typos for many users. */
#define LIMITER_NET_FACTOR 3
/* A /56 may make this many times a /64's flood limit. */
#define LIMITER_WIDE_FACTOR 4
/* The first penalty; each further attempt doubles it. */
#define LIMITER_PENALTY_INIT_MS 1000

/* "a.b.c.d", or the IPv6 prefix as "2001:db8:0:1::/64"; other strings
 * (a Unix socket peer) are their own network. */
#define LIMITER_NET_MAX 64

struct limiter_params {
	int free_tries;     /* <= 0: no slow-down and no flood block */
	int window;         /* seconds */
	int delay_max_ms;
	int flood;          /* attempts per network; <= 0: never refuse */
	int block_time;     /* seconds a flood block lasts */
	size_t max_entries; /* 0: LIMITER_DEFAULT_ENTRIES */
	size_t max_known;   /* 0: LIMITER_DEFAULT_ENTRIES / 4 */
	int known_ttl;      /* seconds */
};

struct limiter_verdict {
	bool blocked;       /* refuse: the network floods */
	bool flood_started; /* this attempt started the block (log it) */
	bool known;         /* the pair logged in before */
	int delay_ms;       /* wait this long before checking the secret */
	const char *reason; /* why blocked or delayed: "net_flood",
	                       "wide_flood", "user_net", "user", "net" */
};

struct limiter *limiter_new(const struct limiter_params *p);
void limiter_free(struct limiter **l);

/* The network of an address: prefix 64 (or 56) applies to IPv6 only. */
void limiter_net_of(const char *ip, int prefix6, char out[LIMITER_NET_MAX]);

/* Has user logged in from ip's network recently? (No side effect
 * besides dropping a stale memory.) */
bool limiter_known(struct limiter *l, const char *ip, struct str user,
		   time_t now);
/* Counts one attempt (unless it is blocked) and says how to treat it. */
void limiter_attempt(struct limiter *l, const char *ip, struct str user,
		     time_t now, struct limiter_verdict *v);
/* The attempt succeeded: undo its counts, clear the pair's, remember
 * the pair as known. */
void limiter_success(struct limiter *l, const char *ip, struct str user,
		     time_t now);
/* The known pairs survive the auth process (a reload starts a new one):
 * limiter_known_export appends them to out, least recently confirmed
 * first, one line each: "<age in seconds> <key in hex>\n" -- ages, not
 * times, because `now` is a monotonic clock that a reboot restarts.
 * limiter_known_import reads such text (from the state file, which only
 * run_user can write, but parsed as untrusted all the same: a line that
 * is not exactly that, or names an expired pair, is skipped) and returns
 * the number of pairs it remembered. Linear in len. */
void limiter_known_export(const struct limiter *l, time_t now,
			  struct buf *out);
size_t limiter_known_import(struct limiter *l, const char *text, size_t len,
			    time_t now);

/* Keys held (for tests): counters, and known pairs. */
size_t limiter_size(const struct limiter *l);
size_t limiter_known_size(const struct limiter *l);

#endif
