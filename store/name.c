/* Maildir file names: "<unique>[,<field>...][:2,<flags>]".
 * Fields we read and write: S=<file size>, W=<wire size> (Dovecot's) and
 * U=<uid> (ours). Other fields are kept untouched. */
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/store_int.h"

static bool parse_num(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	if (!str_to_u64(str_make(p, len), max, &v))
		return false;
	*out = v;
	return true;
}

static uint32_t flag_of_letter(char c)
{
	switch (c) {
	case 'S': return STORE_F_SEEN;
	case 'R': return STORE_F_ANSWERED;
	case 'F': return STORE_F_FLAGGED;
	case 'T': return STORE_F_DELETED;
	case 'D': return STORE_F_DRAFT;
	default: return 0; /* P (passed), keywords a-z: not ours */
	}
}

void mname_parse(const char *name, struct mname *out)
{
	memset(out, 0, sizeof *out);
	out->name = name;
	const char *colon = strchr(name, ':');
	out->base_len = colon ? (size_t)(colon - name) : strlen(name);
	if (colon && colon[1] == '2' && colon[2] == ',') {
		out->info = colon + 3;
		for (const char *p = out->info; *p; p++)
			out->flags |= flag_of_letter(*p);
	}
	const char *end = name + out->base_len;
	const char *p = memchr(name, ',', out->base_len);
	while (p && p < end) {
		const char *tok = p + 1;
		const char *next = memchr(tok, ',', (size_t)(end - tok));
		size_t tlen = (size_t)((next ? next : end) - tok);
		uint64_t v;
		if (tlen > 2 && tok[1] == '=') {
			if (tok[0] == 'S' &&
			    parse_num(tok + 2, tlen - 2, UINT64_MAX, &v)) {
				out->has_s = true;
				out->s = v;
			} else if (tok[0] == 'W' &&
				   parse_num(tok + 2, tlen - 2, UINT64_MAX, &v)) {
				out->has_w = true;
				out->w = v;
			} else if (tok[0] == 'U' &&
				   parse_num(tok + 2, tlen - 2, UINT32_MAX, &v) &&
				   v > 0) {
				out->has_u = true;
				out->u = (uint32_t)v;
			}
		}
		p = next;
	}
}

static bool is_our_field(const char *tok, size_t tlen)
{
	return tlen >= 2 && tok[1] == '=' &&
	       (tok[0] == 'S' || tok[0] == 'W' || tok[0] == 'U');
}

char *mname_format(const struct mname *mn, uint64_t file_size, uint64_t size,
		   uint32_t uid)
{
	struct buf b = BUF_INIT;
	const char *name = mn->name, *end = name + mn->base_len;
	const char *comma = memchr(name, ',', mn->base_len);
	buf_append(&b, name, (size_t)((comma ? comma : end) - name));
	for (const char *p = comma; p && p < end;) {
		const char *tok = p + 1;
		const char *next = memchr(tok, ',', (size_t)(end - tok));
		size_t tlen = (size_t)((next ? next : end) - tok);
		if (tlen > 0 && !is_our_field(tok, tlen)) {
			buf_appendc(&b, ',');
			buf_append(&b, tok, tlen);
		}
		p = next;
	}
	buf_printf(&b, ",S=%llu,W=%llu,U=%u:2,%s", (unsigned long long)file_size,
		   (unsigned long long)size, (unsigned)uid,
		   mn->info ? mn->info : "");
	char *s = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return s;
}

bool mname_acceptable(const char *name)
{
	/* Hidden files and "."/".." are never messages; a name we could
	 * not store in the index (NAME_MAX is 255) is not one either. */
	size_t len = strlen(name);
	return len > 0 && len <= 255 && name[0] != '.' &&
	       strchr(name, '/') == NULL;
}
