/* libFuzzer target: the users file parser, and the editor on whatever
 * parses (an edited file must parse again and say what was set). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct users u;
	struct buf err = BUF_INIT, out = BUF_INIT;
	users_init(&u);
	if (users_parse(&u, (const char *)data, size, "fuzz", &err) == 0 &&
	    u.n > 0) {
		/* Copy the name: the editor re-parses from the input. */
		char name[300];
		size_t n = strlen(u.v[0].name);
		memcpy(name, u.v[0].name, n);
		struct users_edit e = { .op = USERS_EDIT_SET_DELE,
					.name = { name, n },
					.set_pop3_dele = true,
					.pop3_dele = POP3_DELE_HIDE };
		if (users_edit_text((struct str){ (const char *)data, size },
				    "fuzz", &e, &out, &err) != USERS_EDIT_OK)
			abort();
		struct users v;
		users_init(&v);
		if (users_parse(&v, out.data, out.len, "fuzz", &err) != 0 ||
		    v.n != u.n)
			abort();
		const struct user_entry *ent = users_lookup(&v, e.name);
		if (!ent || !ent->has_pop3_dele ||
		    ent->pop3_dele != POP3_DELE_HIDE)
			abort();
		users_free(&v);
		buf_clear(&out);
		e.op = USERS_EDIT_DELETE;
		if (users_edit_text((struct str){ (const char *)data, size },
				    "fuzz", &e, &out, &err) != USERS_EDIT_OK)
			abort();
	}
	users_free(&u);
	buf_free(&err);
	buf_free(&out);
	return 0;
}
