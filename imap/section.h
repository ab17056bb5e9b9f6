/* FETCH BODY[section]<partial> and BINARY[part] (RFC 9051 section
 * 6.4.5, RFC 3516): locating the bytes to send. A section is a part
 * path plus a kind; the answer is either a range of the message buffer
 * or (HEADER.FIELDS[.NOT], BINARY of an encoded part) bytes built for
 * it. */
#ifndef POSTERN_IMAP_SECTION_H
#define POSTERN_IMAP_SECTION_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "mime/message.h"

enum imap_section_spec {
	IMAP_SECTION_NONE,         /* BODY[] or BODY[1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_MIME,
	IMAP_SECTION_TEXT,
};

struct imap_section {
	const uint32_t *path; /* part numbers, each >= 1 */
	size_t depth;         /* 0: the whole message */
	enum imap_section_spec kind;
	const struct str *fields; /* HEADER.FIELDS[.NOT] names */
	size_t nfields;
};

enum imap_section_status {
	IMAP_SECTION_OK,
	/* MIME with no part number (the grammar forbids it): BAD. */
	IMAP_SECTION_BAD,
	/* BINARY of a part whose Content-Transfer-Encoding we do not
	 * know: the session answers NO [UNKNOWN-CTE] (RFC 3516 4.3). */
	IMAP_SECTION_UNKNOWN_CTE,
};

/* What to send: data[off..off+len) of the message when !built, else
 * built.data[0..built.len). Free with imap_section_data_free. */
struct imap_section_data {
	bool built;
	size_t off, len;
	struct buf buf;
};

/* Locates a BODY[] section. A part that does not exist, or HEADER/TEXT
 * of a part that is not message/rfc822 or message/global, is an empty
 * string (RFC 9051 leaves it open; Dovecot does this and clients cope).
 * HEADER.FIELDS keeps the matching fields, folded lines and all, in
 * their order, then the blank line (CRLF). */
enum imap_section_status imap_section_fetch(const struct mime_message *m,
					    const struct imap_section *sec,
					    struct imap_section_data *out);
/* BINARY[path]: the part's body with its transfer encoding undone
 * (base64, quoted-printable; 7bit, 8bit, binary as they are). depth 0 is
 * the whole message as it is. A nonexistent part is empty. */
enum imap_section_status imap_section_binary(const struct mime_message *m,
					     const uint32_t *path, size_t depth,
					     struct imap_section_data *out);
/* The bytes of out (a pointer into m->data or into out->buf). */
struct str imap_section_bytes(const struct mime_message *m,
			      const struct imap_section_data *d);
void imap_section_data_free(struct imap_section_data *d);
/* <origin.count> (RFC 9051 6.4.5): clips [0, total) to the partial
 * range; an origin past the end gives an empty range at total. */
void imap_partial_clip(size_t total, uint64_t origin, uint64_t count,
		       size_t *off, size_t *len);

#endif
