#include "unit.h"

#include "mime/header.h"

/* RFC 5321 6.3: the hop count is the number of Received: fields. */
static size_t count_n(const char *s, size_t len)
{
	return mime_header_count(str_make(s, len), "Received");
}

static size_t count(const char *s)
{
	return count_n(s, strlen(s));
}

UNIT_TEST(test_count_received)
{
	CHECK_EQ_INT(count(""), 0);
	CHECK_EQ_INT(count("Subject: x\r\n\r\nReceived: body\r\n"), 0);
	CHECK_EQ_INT(count("Received: a\r\nreceived: b\nRECEIVED:c\r\n"
			   "\r\nReceived: in the body\r\n"), 3);
	/* Continuation lines and look-alikes do not count. */
	CHECK_EQ_INT(count("Received: a\r\n Received: folded\r\n"
			   "X-Received: b\r\nReceivedx: c\r\nReceived\r\n"), 1);
	/* LF-only, no final line end, no body. */
	CHECK_EQ_INT(count("Received: a\nReceived: b"), 2);
	/* A NUL inside does not stop the count. */
	static const char nul[] = "X: \0\r\nReceived: a\r\n";
	CHECK_EQ_INT(count_n(nul, sizeof nul - 1), 1);
	CHECK_EQ_INT(count("Received: a\r\n\r\n"), 1);
}

UNIT_MAIN(test_count_received)
