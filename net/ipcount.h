/* Connection counts shared by every worker process: connections per
 * client address before login, per (user, address) after login, and the
 * server-wide total, so that max_connections_per_ip,
 * max_userip_connections and max_connections mean what an administrator
 * reads: one budget for the whole server, not one per worker.
 *
 * The supervisor maps the table before it forks (ipcount_init). It holds
 * real entries -- the full key: class, address, user digest -- in an
 * open-addressing hash table whose hash is SipHash-2-4 under a key drawn
 * at random at each start, so an attacker can neither predict which
 * entries share a probe chain nor make two addresses share a count.
 * IPv4 addresses count one by one; IPv6 ones per /64 (one customer's
 * network: a host picks any of its 2^64 addresses at will).
 *
 * Each worker claims a slot at its first use and its entries carry it;
 * when the supervisor reaps a worker (crash, kill -9, retirement) it
 * drops that slot's entries, so counts never outlive their connections.
 * Every operation takes one process-shared robust mutex for a few
 * hundred nanoseconds; a process killed while holding it leaves the next
 * taker to rebuild the table (net/ipcount.c). */
#ifndef POSTERN_IPCOUNT_H
#define POSTERN_IPCOUNT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sockaddr;

enum ipcount_class {
	IPCOUNT_PRELOGIN = 1, /* connections of an address not logged in */
	IPCOUNT_USER_POP3,    /* logged in, per (user, address) */
	IPCOUNT_USER_IMAP,
	IPCOUNT_USER_SMTP,
};

struct ipcount_key {
	uint8_t cls;      /* enum ipcount_class */
	uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d; IPv6 with its low 64 bits 0 */
	uint8_t user[16]; /* keyed digest of the user name; 0 for addresses */
};

enum ipcount_result {
	IPCOUNT_OK,   /* counted */
	IPCOUNT_OVER, /* the limit was reached: not counted */
	IPCOUNT_FULL, /* no room in the table: not counted */
};

/* Supervisor, before forking: a table for about max_keys live keys (it
 * holds twice that before refusing). Returns 0, or -1 (mmap failed:
 * then each process counts alone, in a private table made at first use). */
int ipcount_init(size_t max_keys);
/* Supervisor, after reaping a child: drops everything pid counted. */
void ipcount_release(pid_t pid);

/* The key of an address (AF_INET/AF_INET6; false for anything else, such
 * as a Unix socket peer) or of its text form. */
bool ipcount_key_sockaddr(struct ipcount_key *k, enum ipcount_class cls,
			  const struct sockaddr *sa);
bool ipcount_key_ip(struct ipcount_key *k, enum ipcount_class cls,
		    const char *ip);
/* Turns an address key into the (user, address) key of class cls. */
void ipcount_key_user(struct ipcount_key *k, enum ipcount_class cls,
		      const char *user);

/* Adds one connection under k for this process, unless limit (> 0)
 * connections are already counted under k in all processes together. */
enum ipcount_result ipcount_add(const struct ipcount_key *k, unsigned limit);
/* Takes back one connection this process added under k. */
void ipcount_sub(const struct ipcount_key *k);
/* Connections under k in all processes. */
unsigned ipcount_get(const struct ipcount_key *k);

/* The server-wide total: one more connection in this process, unless
 * limit (> 0) are open in all processes together. */
bool ipcount_conn_open(unsigned limit);
void ipcount_conn_close(void);
unsigned ipcount_conn_total(void);

/* Whether this process takes new connections, and how many it may hold;
 * and whether any other process that takes them has room: a worker at
 * its cap then leaves new clients to the others instead of refusing. */
void ipcount_set_accepting(bool accepting, unsigned cap);
bool ipcount_room_elsewhere(void);

/* For tests: the table slot where k's probe chain starts. */
size_t ipcount_home(const struct ipcount_key *k);

#endif
