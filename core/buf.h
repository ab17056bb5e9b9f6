/* Length-tracked strings and growable byte buffers: no strcpy or
 * sprintf into fixed arrays on the request path.
 * Bytes from the network only ever live in these: they may contain NUL. */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H
#include <stdbool.h>
#include <stddef.h>

/* A borrowed slice: not owned, not NUL-terminated. */
struct str {
	const char *p;
	size_t len;
};
#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })
static inline struct str str_make(const char *p, size_t len)
{
	return (struct str){ p, len };
}
struct str str_from_cstr(const char *s);
static inline char ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
/* ASCII case-insensitive ordering (<0, 0, >0), for sorted name tables. */
int str_cmp_nocase(struct str a, struct str b);
/* ASCII case-insensitive comparison against a C string. */
bool str_eq_nocase(struct str a, const char *b);
bool str_eq(struct str a, const char *b);
/* Splits off the next token separated by a single space; *rest gets what
 * follows the space (empty if none). Returns false when s is empty. */
bool str_next_token(struct str s, struct str *tok, struct str *rest);
/* Parses a non-negative decimal number that fits in uint64 with no sign,
 * no leading '+', no spaces; false on anything else. */
bool str_to_u64(struct str s, unsigned long long max, unsigned long long *out);

/* An owned, growable buffer. data is always NUL-terminated after len
 * once anything was appended (buf_cstr guarantees it). */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT { NULL, 0, 0 }
void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_clear(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *buf_cstr(struct buf *b);
static inline struct str buf_str(const struct buf *b)
{
	return (struct str){ b->data, b->len };
}

#endif
