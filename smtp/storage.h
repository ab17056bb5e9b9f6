/* The check before MAIL: enough free space for new mail (core/diskspace.h).
 * RFC 3463 section 3.4: X.3.1 "Mail system full"; Postfix answers
 * "452 4.3.1 Insufficient system storage" the same way. */
#ifndef POSTERN_SMTP_STORAGE_H
#define POSTERN_SMTP_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

struct smtp_session;

/* True (and the reason is logged) when the mail file system -- and for
 * SMTP, which may queue, the queue's -- has less than min_free_space
 * plus the announced SIZE (0 = none) available. */
bool smtp_storage_low(struct smtp_session *s, uint64_t size);

#define SMTP_STORAGE_REPLY "452 4.3.1 Insufficient system storage"

#endif
