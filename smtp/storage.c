/* Free space before MAIL (storage.h). */
#include "smtp/storage.h"

#include "core/config.h"
#include "core/diskspace.h"
#include "core/log.h"
#include "net/conn.h"
#include "smtp/session.h"

static bool low(struct smtp_session *s, const char *what, const char *dir,
		uint64_t need)
{
	uint64_t avail;
	if (!disk_space_low(dir, need, &avail))
		return false;
	log_kv(LOG_WARN, "event=mail_from proto=%s sid=%s result=tempfail "
	       "reason=disk_full fs=%s avail=%llu need=%llu",
	       config_listener_name(s->kind), s->c->id, what,
	       (unsigned long long)avail, (unsigned long long)need);
	return true;
}

bool smtp_storage_low(struct smtp_session *s, uint64_t size)
{
	uint64_t floor = s->cfg->min_free_bytes;
	if (floor == 0)
		return false;
	uint64_t need = floor + size;
	if (low(s, "mail_dir", s->cfg->mail_dir, need))
		return true;
	/* LMTP only delivers locally; SMTP may queue any recipient. */
	return !s->lmtp && low(s, "queue_dir", s->cfg->queue_dir, need);
}
