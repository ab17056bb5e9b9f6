/* Commands not written yet. */
#include "imap/session.h"

#define STUB(fn)                                                           \
	void fn(struct imap_session *s, const struct imap_arg *args, size_t n) \
	{                                                                  \
		(void)args;                                                \
		(void)n;                                                   \
		imap_cmd_done(s, IMAP_NO, "Not implemented yet");          \
	}
STUB(imap_cmd_fetch)
STUB(imap_cmd_store)
STUB(imap_cmd_search)
STUB(imap_cmd_copy)
STUB(imap_cmd_move)
