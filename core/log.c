#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_role = "postern";
static enum log_level log_min = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error",
					   "crit" };

void log_init(const char *role)
{
	log_role = role;
}

void log_set_level(enum log_level min)
{
	log_min = min;
}

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_ERR; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

__attribute__((format(printf, 2, 0)))
static void log_vemit(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line,
			 "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s role=%s pid=%ld ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, level_names[level], log_role,
			 (long)getpid());
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	/* One write per line so lines from several processes never mix. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void log_kv(enum log_level level, const char *fmt, ...)
{
	if (level < log_min)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vemit(level, fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vemit(LOG_CRIT, fmt, ap);
	va_end(ap);
	abort();
}

static int plain_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *log_esc(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t i, o = 0;
	int quote = len == 0;
	for (i = 0; i < len; i++)
		if (!plain_byte((unsigned char)src[i]))
			quote = 1;
	if (!quote) {
		if (len < dstsz) {
			memcpy(dst, src, len);
			dst[len] = '\0';
			return dst;
		}
	}
	dst[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		/* Room for the longest escape, "..." and the closing quote. */
		if (o + 4 + 4 + 2 > dstsz) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c == ' ' || plain_byte(c) || c == '=') {
			dst[o++] = (char)c;
		} else if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			o += (size_t)snprintf(dst + o, 5, "\\x%02x", c);
		}
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}
