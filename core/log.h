/* Logs are data a program can parse: one line per event on stderr,
 *   time=... level=... role=... pid=... <fields>
 * where <fields> are the caller's key=value pairs. Untrusted bytes go
 * through log_esc(); passwords and message bodies are never logged. */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR, LOG_CRIT };

/* role: "supervisor", "worker", "auth", "cli" ... */
void log_init(const char *role);
void log_set_level(enum log_level min);
/* Parses "debug"/"info"/"warn"/"error"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_kv(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Crashes on a broken invariant (an impossible internal state, never
 * bad input: that gets the protocol's error reply). */
_Noreturn void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Escapes untrusted bytes for a value: printable ASCII without space,
 * quote, backslash or '=' is copied; anything else makes the value
 * quoted with \xNN escapes. Truncates (adding "...") to fit dst.
 * Returns dst. dstsz must be >= 8. */
const char *log_esc(char *dst, size_t dstsz, const char *src, size_t len);
#define LOG_ESC_MAX 200

#endif
