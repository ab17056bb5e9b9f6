/* Spool files: anonymous files for message bytes too big to keep in
 * memory (IMAP APPEND's large literals, SMTP/LMTP DATA and BDAT past
 * SMTP_SPOOL_MEM). A spool file has no name: it is made with O_TMPFILE
 * in dir where the file system has it, else created and unlinked at
 * once, so nothing is left behind whatever happens to the process;
 * closing the fd frees it. */
#ifndef POSTERN_CORE_SPOOL_H
#define POSTERN_CORE_SPOOL_H
#include <stddef.h>
#include <stdint.h>

/* Opens a new, empty spool file in dir (read-write, close-on-exec).
 * Returns the fd, or -1 with errno. */
int spool_open(const char *dir);

/* Writes all n bytes at the file offset (retrying short writes and
 * EINTR). 0, or -1 with errno (ENOSPC for a write that made no
 * progress). */
int spool_append(int fd, const void *p, size_t n);

/* Appends len bytes of in, from offset 0, to out at its file offset
 * (copy_file_range where the kernel can, else pread/write). 0, or -1
 * with errno (EIO when in is shorter than len). Blocks on disk: call
 * it from a worker thread. */
int spool_copy(int out, int in, uint64_t len);

#endif
