/* A minimal table-friendly test harness. Each test binary defines
 * tests with UNIT_TEST(name) and lists them in UNIT_MAIN(...).
 * Prints "N passed, N failed" last and exits non-zero on any failure. */
#ifndef POSTERN_UNIT_H
#define POSTERN_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_failed_checks;
static int unit_current_failed;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
				__LINE__, #cond);                            \
			unit_failed_checks++;                                \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)
#define CHECK_EQ_INT(a, b)                                                   \
	do {                                                                 \
		long long ua_ = (long long)(a), ub_ = (long long)(b);        \
		if (ua_ != ub_) {                                            \
			fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", \
				__FILE__, __LINE__, #a, ua_, ub_);           \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)
#define CHECK_EQ_STR(a, b)                                                   \
	do {                                                                 \
		const char *ua_ = (a), *ub_ = (b);                           \
		if (!ua_ || !ub_ || strcmp(ua_, ub_) != 0) {                 \
			fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, ua_ ? ua_ : "(null)", \
				ub_ ? ub_ : "(null)");                       \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)
#define CHECK_EQ_MEM(a, alen, b, blen)                                       \
	do {                                                                 \
		size_t ual_ = (alen), ubl_ = (blen);                         \
		if (ual_ != ubl_ || memcmp((a), (b), ual_) != 0) {           \
			fprintf(stderr, "%s:%d: %s (%zu bytes) differs from %s (%zu bytes)\n", \
				__FILE__, __LINE__, #a, ual_, #b, ubl_);     \
			unit_current_failed = 1;                             \
		}                                                            \
	} while (0)

#define UNIT_TEST(name) static void name(void)
#define UNIT_MAIN(...)                                                       \
	int main(void)                                                       \
	{                                                                    \
		void (*tests_[])(void) = { __VA_ARGS__ };                    \
		const char *names_ = #__VA_ARGS__;                           \
		(void)names_;                                                \
		int pass_ = 0, fail_ = 0;                                    \
		for (size_t i_ = 0; i_ < sizeof tests_ / sizeof tests_[0]; i_++) { \
			unit_current_failed = 0;                             \
			tests_[i_]();                                        \
			if (unit_current_failed)                             \
				fail_++;                                     \
			else                                                 \
				pass_++;                                     \
		}                                                            \
		(void)unit_failed_checks;                                    \
		printf("%d passed, %d failed\n", pass_, fail_);              \
		return fail_ ? 1 : 0;                                        \
	}
/* SAN_BUILD: under AddressSanitizer (gcc or clang), where time limits in
 * tests that measure linear behaviour need more room. */
#if defined(__SANITIZE_ADDRESS__)
#define SAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SAN_BUILD 1
#endif
#endif

#endif
