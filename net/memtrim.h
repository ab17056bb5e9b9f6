/* Gives freed heap back to the kernel after a burst of connections has
 * gone. Store views are allocated on thread-pool threads (their own
 * malloc arenas) and freed on the loop thread; glibc returns such
 * memory to the arena, never to the kernel, so a worker that once held
 * thousands of sessions kept their memory forever (IMAP idle rounds of
 * 2000 connections: 188, 212, 220, 227, 230 MB with no connection left,
 * < 1 MB in use). malloc_trim(0) releases the free pages of every arena.
 * Per process, loop thread only. */
#ifndef POSTERN_NET_MEMTRIM_H
#define POSTERN_NET_MEMTRIM_H
#include <stddef.h>

struct event_base;

/* A connection opened; live counts the process's connections now. */
void memtrim_conn_opened(size_t live);
/* A connection closed: once live has fallen to half of its peak since
 * the last trim, a trim runs a second later (at most one pending). */
void memtrim_conn_closed(struct event_base *base, size_t live);

#endif
