/* Types shared by the outbound side: routing (route.h), the SMTP client
 * (smtpc.h) and the queue runner. */
#ifndef POSTERN_RELAY_H
#define POSTERN_RELAY_H
#include <sys/socket.h>

/* How much TLS a destination gets (relay_tls, relay_tls_policy,
 * smarthost_tls). */
enum relay_tls_level {
	RELAY_TLS_NONE,    /* never STARTTLS */
	RELAY_TLS_MAY,     /* STARTTLS when offered, certificate not checked */
	RELAY_TLS_ENCRYPT, /* STARTTLS required: not offered = deferred */
	RELAY_TLS_VERIFY,  /* required, and the certificate must verify for
	                      the host name (the MX name, or the route's) */
	RELAY_TLS_SMTPS,   /* implicit TLS from the first byte, verified */
};
const char *relay_tls_level_name(enum relay_tls_level l);
/* "none", "may", ...; -1 if unknown. smtps only when allow_smtps. */
int relay_tls_level_parse(const char *s, int allow_smtps);

/* One address to try, with the name it was found under. */
struct relay_target {
	char host[256];               /* MX or route host name, or the IP */
	struct sockaddr_storage addr; /* port set */
	socklen_t addr_len;
};

#endif
