/* `postern user`: manage the users file (auth/users.h).
 *   user add NAME [--scheme yescrypt|sha512-crypt|plain] [--pop3-dele expunge|hide]
 *   user passwd NAME [--scheme ...]
 *   user set NAME --pop3-dele expunge|hide
 *   user del NAME
 *   user list
 * Passwords come from stdin, one line (trailing CR LF stripped); on a
 * terminal, without echo. argv[0] is "user". Returns a sysexits.h code:
 * 0 ok, 64 usage, 65 bad input (password, name, broken file),
 * 67 unknown user, 73/74 file trouble. */
#ifndef POSTERN_CMD_USER_H
#define POSTERN_CMD_USER_H
#include "core/config.h"

int cmd_user(const struct config *cfg, int argc, char **argv);

#endif
