/* Free space on the file systems that hold mail and the queue, for the
 * refusals before MAIL and APPEND ("452 4.3.1 Insufficient system
 * storage", RFC 3463 section 3.4). Postfix's model: refuse new mail
 * while less than a floor (by default 1.5 x the message size limit) is
 * left, so that messages already accepted can still be written.
 *
 * statvfs() is quick on a local file system but may stall on NFS, so
 * each answer is kept for DISK_SPACE_CACHE_MS per path per process: an
 * event loop asks the kernel at most about once a second. Thread-safe. */
#ifndef POSTERN_DISKSPACE_H
#define POSTERN_DISKSPACE_H

#include <stdbool.h>
#include <stdint.h>

/* How long one statvfs() answer is used. */
#define DISK_SPACE_CACHE_MS 1000

/* Bytes available to unprivileged writers (f_bavail) on path's file
 * system; 0, or -1 with errno when statvfs() fails. */
int disk_space_avail(const char *path, uint64_t *avail);

/* True if path's file system has fewer than need bytes available. A
 * failing statvfs() counts as enough space (the write itself will tell);
 * need == 0 is never low. *avail (may be NULL) gets what was seen. */
bool disk_space_low(const char *path, uint64_t need, uint64_t *avail);

/* Forgets the cached answers (tests, and after a failed write). */
void disk_space_forget(void);

#endif
