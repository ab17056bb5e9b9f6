/* Allocation that aborts on failure: callers never see NULL, so no
 * error path is ever written (or left untested) for it. */
#ifndef POSTERN_XMALLOC_H
#define POSTERN_XMALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Formats into a fresh heap string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
