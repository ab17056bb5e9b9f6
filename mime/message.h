/* The MIME structure of one message (RFC 2045, 2046, 5322), parsed once
 * into a compact tree of byte offsets into the caller's buffer (which
 * must outlive the tree). The buffer is the message in wire form
 * (normally CRLF), but any bytes are handled: bare LF, NUL, no blank
 * line, no trailing newline. Nesting and part count are bounded (below);
 * what lies beyond is the opaque body of the part that hit the limit.
 * Cost is O(length x depth). */
#ifndef POSTERN_MIME_MESSAGE_H
#define POSTERN_MIME_MESSAGE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define MIME_NONE UINT32_MAX
/* Nesting beyond this (multipart in multipart, or message/rfc822 in
 * message/rfc822) is opaque: bounds the recursion and the rescans of
 * nested bodies. Real mail rarely nests past 10; Dovecot stops at 100. */
#define MIME_DEPTH_MAX 100
/* Parts beyond this are not split out: bounds the tree's memory and
 * every per-part walk (BODYSTRUCTURE, SEARCH). */
#define MIME_PARTS_MAX 10000

/* A Content-Type or Content-Disposition parameter. RFC 2231
 * continuations (name*0, name*1*, ...) are merged as Dovecot does: the
 * name loses its "*N"; if the first piece was extended the name ends in
 * '*' and the value is still "charset'lang'%XX..." (see
 * mime_param_decode). Quoted values are unquoted. */
struct mime_param {
	struct str name, value;
};

enum {
	MIME_PART_MULTIPART = 1 << 0, /* children are its body parts */
	MIME_PART_MESSAGE = 1 << 1,   /* message/rfc822 or message/global
				       * with one child: the message */
	MIME_PART_IS_MESSAGE = 1 << 2, /* the root or a MESSAGE's child: it
					* has an RFC 5322 header */
};

/* Absent header values have p == NULL. Values are unfolded and trimmed
 * (they point into the tree's own storage or into the buffer). */
struct mime_part {
	size_t hdr_off, hdr_len;   /* header incl. the blank line */
	size_t body_off, body_len;
	uint64_t body_lines;       /* LFs in the body: a last line without
				    * one is not counted (Dovecot alike) */
	struct str type, subtype;  /* as written, or the default */
	uint32_t param_first, param_count;
	struct str cte, id, description, md5, language, location;
	struct str disposition;
	uint32_t disp_param_first, disp_param_count;
	uint32_t parent, first_child, next_sibling, nchildren;
	uint16_t depth;
	uint16_t flags;
};

struct mime_arena_block;

struct mime_message {
	const char *data;
	size_t len;
	struct mime_part *parts; /* parts[0] is the whole message */
	uint32_t nparts;
	struct mime_param *params;
	uint32_t nparams;
	struct mime_arena_block *arena;
};

/* Parses data[0..len). Never fails; free with mime_message_free. */
void mime_message_parse(struct mime_message *m, const char *data, size_t len);
void mime_message_free(struct mime_message *m);

static inline struct str mime_part_header(const struct mime_message *m,
					  const struct mime_part *p)
{
	return str_make(m->data + p->hdr_off, p->hdr_len);
}
static inline struct str mime_part_body(const struct mime_message *m,
					const struct mime_part *p)
{
	return str_make(m->data + p->body_off, p->body_len);
}
/* The value of a Content-Type parameter (ASCII case-insensitive), or
 * NULL. */
const struct mime_param *mime_part_param(const struct mime_message *m,
					 const struct mime_part *p,
					 const char *name);
/* Appends the UTF-8 value of parameter name, decoding an RFC 2231
 * "name*" form (charset'lang'%XX) if that is what the part has. False
 * if the part has neither name nor name*. disposition: look in the
 * Content-Disposition parameters instead. */
bool mime_param_decode(const struct mime_message *m, const struct mime_part *p,
		       bool disposition, const char *name, struct buf *out);
/* The child numbered n (1-based) of a multipart, or MIME_NONE. */
uint32_t mime_part_child(const struct mime_message *m, uint32_t part,
			 uint32_t n);
/* Resolves an IMAP part number (RFC 9051 section 6.4.5) such as 2.1.3
 * (path = {2,1,3}, n = 3) to a part index; depth 0 is the root. A
 * non-multipart message's part 1 is its own body (the same index as
 * the message); inside a message/rfc822 part the numbers count the
 * parts of the embedded message; as in Dovecot, x.1 of a leaf part of
 * a multipart is that part (but not x.1.1). MIME_NONE if there is no
 * such part. */
uint32_t mime_part_find(const struct mime_message *m, const uint32_t *path,
			size_t n);

#endif
