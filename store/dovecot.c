/* Reading Dovecot's dovecot-uidlist once, when postern first meets a
 * mailbox that Dovecot used (no postern-uidstate, no postern-index):
 * its UIDVALIDITY, next UID and each file's UID are taken over, so the
 * POP3 UIDLs (same %08Xu%08Xv format) and IMAP UIDs do not change
 * across a migration and clients download nothing twice.
 *
 * Format (Dovecot's maildir-uidlist.c, versions 1 and 3):
 *   v1 header: "1 <uidvalidity> <next_uid>"
 *   v3 header: "3 V<uidvalidity> N<next_uid> [other fields]"
 *   records:   "<uid> <filename>" (v1) or "<uid> [fields] :<filename>" (v3)
 * File names are matched on their base (up to ':'), which flag changes
 * do not touch. Anything we do not understand makes the import give up:
 * postern then assigns its own UIDs as for any unknown Maildir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/store_int.h"

#define DOVECOT_UIDLIST_NAME "dovecot-uidlist"
/* A uidlist line is a UID, a few short fields and a file name. */
#define DOVECOT_LINE_MAX 4096

static size_t base_len(const char *name)
{
	const char *colon = strchr(name, ':');
	return colon ? (size_t)(colon - name) : strlen(name);
}

static int cmp_entry(const void *pa, const void *pb)
{
	const struct dovecot_uid *a = pa, *b = pb;
	size_t la = base_len(a->name), lb = base_len(b->name);
	int c = memcmp(a->name, b->name, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

static bool parse_u32(const char *s, char **end, uint32_t *out)
{
	if (*s < '0' || *s > '9')
		return false;
	unsigned long long v = strtoull(s, end, 10);
	if (v == 0 || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool parse_header(char *line, struct dovecot_uidlist *dl)
{
	char *p;
	if (line[0] == '1' && line[1] == ' ')
		return parse_u32(line + 2, &p, &dl->uidvalidity) && *p == ' ' &&
		       parse_u32(p + 1, &p, &dl->uidnext);
	if (line[0] != '3' || line[1] != ' ')
		return false;
	for (char *tok = strtok_r(line + 2, " ", &p); tok;
	     tok = strtok_r(NULL, " ", &p)) {
		char *end;
		if (tok[0] == 'V' && !parse_u32(tok + 1, &end, &dl->uidvalidity))
			return false;
		if (tok[0] == 'N' && !parse_u32(tok + 1, &end, &dl->uidnext))
			return false;
	}
	return dl->uidvalidity != 0 && dl->uidnext != 0;
}

static bool parse_record(char *line, int version, struct dovecot_uidlist *dl)
{
	char *p;
	uint32_t uid;
	if (!parse_u32(line, &p, &uid) || *p != ' ' || uid >= dl->uidnext)
		return false;
	const char *name = p + 1;
	if (version == 3) {
		name = strstr(p, " :");
		if (!name)
			return false;
		name += 2;
	}
	if (!*name)
		return false;
	if (dl->n == dl->cap) {
		dl->cap = dl->cap ? dl->cap * 2 : 256;
		dl->v = xrealloc(dl->v, dl->cap * sizeof *dl->v);
	}
	dl->v[dl->n].uid = uid;
	dl->v[dl->n].name = xstrdup(name);
	dl->n++;
	return true;
}

bool dovecot_uidlist_read(const char *mailbox_path, struct dovecot_uidlist *dl)
{
	memset(dl, 0, sizeof *dl);
	char *file = xasprintf("%s/" DOVECOT_UIDLIST_NAME, mailbox_path);
	FILE *f = fopen(file, "re");
	free(file);
	if (!f)
		return false;
	char line[DOVECOT_LINE_MAX];
	bool ok = fgets(line, sizeof line, f) != NULL;
	int version = ok ? line[0] - '0' : 0;
	if (ok) {
		line[strcspn(line, "\r\n")] = '\0';
		ok = parse_header(line, dl);
	}
	while (ok && fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\r\n");
		if (line[n] == '\0' && !feof(f)) {
			ok = false; /* longer than we read: not a uidlist */
			break;
		}
		line[n] = '\0';
		ok = parse_record(line, version, dl);
	}
	fclose(f);
	if (!ok) {
		dovecot_uidlist_free(dl);
		return false;
	}
	if (dl->n > 1)
		qsort(dl->v, dl->n, sizeof *dl->v, cmp_entry);
	return true;
}

uint32_t dovecot_uidlist_find(const struct dovecot_uidlist *dl,
			      const char *name)
{
	if (!dl || dl->n == 0)
		return 0;
	struct dovecot_uid key = { 0, (char *)name };
	const struct dovecot_uid *hit =
		bsearch(&key, dl->v, dl->n, sizeof *dl->v, cmp_entry);
	return hit ? hit->uid : 0;
}

void dovecot_uidlist_free(struct dovecot_uidlist *dl)
{
	for (size_t i = 0; i < dl->n; i++)
		free(dl->v[i].name);
	free(dl->v);
	memset(dl, 0, sizeof *dl);
}
