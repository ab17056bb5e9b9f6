/* Connections per client address, counted across every worker process,
 * so that max_connections_per_ip means what an administrator reads: one
 * budget per address for the whole server, not one per worker.
 *
 * The supervisor maps a small shared table before it forks (ipcount_init).
 * Each worker claims a slot of its own at its first connection and counts
 * there (hashed address -> connections); a lookup sums the slots in use.
 * When the supervisor reaps a worker (crash, kill -9, retirement) it
 * clears that worker's slot, so counts never outlive their connections.
 * Addresses share a bucket on a hash collision: the count can only be
 * too high, by a little, never too low. Without a table (a process not
 * started by the supervisor) or with every slot taken, counting falls
 * back to this process's own connections. */
#ifndef POSTERN_IPCOUNT_H
#define POSTERN_IPCOUNT_H
#include <stddef.h>
#include <sys/types.h>

/* Supervisor, before forking workers. Returns 0, or -1 (then every
 * worker counts alone; the caller logs it). */
int ipcount_init(void);
/* Supervisor, after reaping a child: frees the slot pid held, if any. */
void ipcount_release(pid_t pid);

/* Worker: connections from ip in all workers (this one included), or
 * (size_t)-1 when there is no shared table to ask. */
size_t ipcount_get(const char *ip);
/* Worker: a connection from ip opened (+1) or closed (-1). */
void ipcount_add(const char *ip, int delta);

#endif
