/* Encoding and strict decoding of auth IPC messages (see auth_proto.h). */
#include "auth/auth_proto.h"

#include <string.h>

#define HDR_LEN 12 /* u8 type, u8, u8, u8, u64 id */
#define REQ_FIELDS 7
#define REP_FIELDS 2

static const size_t req_max[REQ_FIELDS] = {
	AUTH_PROTO_SERVICE_MAX, AUTH_NAME_MAX,	  AUTH_NAME_MAX,
	AUTH_SECRET_MAX,	AUTH_PROTO_CHALLENGE_MAX, AUTH_PROTO_IP_MAX,
	AUTH_PROTO_SID_MAX,
};
static const size_t rep_max[REP_FIELDS] = { AUTH_NAME_MAX,
					    AUTH_PROTO_REASON_MAX };

static void put_hdr(struct buf *out, uint8_t type, uint8_t a, uint8_t b,
		    uint64_t id)
{
	uint8_t h[HDR_LEN] = { type, a, b, 0 };
	memcpy(h + 4, &id, 8);
	buf_append(out, h, sizeof h);
}

static int put_fields(struct buf *out, const struct str *f,
		      const size_t *max, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].len > max[i])
			return -1;
	for (size_t i = 0; i < n; i++) {
		uint16_t l = (uint16_t)f[i].len;
		buf_append(out, &l, 2);
	}
	for (size_t i = 0; i < n; i++)
		buf_append(out, f[i].p, f[i].len);
	return 0;
}

static struct str cs(const char *s)
{
	return s ? str_from_cstr(s) : (struct str){ "", 0 };
}

int auth_proto_encode_request(struct buf *out, uint64_t id,
			      const struct auth_request *req)
{
	struct str f[REQ_FIELDS] = { cs(req->service), req->authzid,
				     req->user,	       req->secret,
				     req->challenge,   cs(req->remote_ip),
				     cs(req->session_id) };
	size_t old = out->len;
	if ((unsigned)req->mech > AUTH_MECH_CRAM_MD5)
		return -1;
	put_hdr(out, AUTH_MSG_REQUEST, (uint8_t)req->mech,
		req->secured ? 1 : 0, id);
	if (put_fields(out, f, req_max, REQ_FIELDS) < 0 ||
	    out->len - old > IPC_MSG_MAX) {
		out->len = old;
		return -1;
	}
	return 0;
}

int auth_proto_encode_reply(struct buf *out, const struct auth_proto_reply *r)
{
	struct str f[REP_FIELDS] = { r->user, r->reason };
	size_t old = out->len;
	put_hdr(out, AUTH_MSG_REPLY, (uint8_t)r->status, (uint8_t)r->pop3_dele,
		r->id);
	if (put_fields(out, f, rep_max, REP_FIELDS) < 0) {
		out->len = old;
		return -1;
	}
	return 0;
}

/* Checks the header and the field table; fills f with slices. */
static int get_fields(const uint8_t *m, size_t len, uint8_t type,
		      struct str *f, const size_t *max, size_t n)
{
	if (len < HDR_LEN + 2 * n || len > IPC_MSG_MAX || m[0] != type ||
	    m[3] != 0)
		return -1;
	size_t pos = HDR_LEN + 2 * n;
	for (size_t i = 0; i < n; i++) {
		uint16_t l;
		memcpy(&l, m + HDR_LEN + 2 * i, 2);
		if (l > max[i] || l > len - pos)
			return -1;
		f[i] = (struct str){ (const char *)m + pos, l };
		pos += l;
	}
	return pos == len ? 0 : -1;
}

static bool printable(struct str s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] <= 0x20 || (unsigned char)s.p[i] >= 0x7f)
			return false;
	return true;
}

int auth_proto_decode_request(const void *msg, size_t len,
			      struct auth_proto_request *out)
{
	const uint8_t *m = msg;
	struct str f[REQ_FIELDS];
	if (get_fields(m, len, AUTH_MSG_REQUEST, f, req_max, REQ_FIELDS) < 0)
		return -1;
	if (m[1] > AUTH_MECH_CRAM_MD5 || m[2] > 1)
		return -1;
	/* Service, address and session id are ours, not the client's:
	 * anything odd there means a broken worker. */
	if (f[0].len == 0 || !printable(f[0]) || !printable(f[5]) ||
	    !printable(f[6]))
		return -1;
	memcpy(&out->id, m + 4, 8);
	if (out->id == 0)
		return -1;
	out->mech = (enum auth_mech)m[1];
	out->secured = m[2] == 1;
	out->service = f[0];
	out->authzid = f[1];
	out->user = f[2];
	out->secret = f[3];
	out->challenge = f[4];
	out->remote_ip = f[5];
	out->session_id = f[6];
	return 0;
}

int auth_proto_decode_reply(const void *msg, size_t len,
			    struct auth_proto_reply *out)
{
	const uint8_t *m = msg;
	struct str f[REP_FIELDS];
	if (get_fields(m, len, AUTH_MSG_REPLY, f, rep_max, REP_FIELDS) < 0)
		return -1;
	if (m[1] > AUTH_TEMPFAIL || m[2] > POP3_DELE_HIDE)
		return -1;
	memcpy(&out->id, m + 4, 8);
	out->status = (enum auth_status)m[1];
	out->pop3_dele = (enum pop3_dele_mode)m[2];
	out->user = f[0];
	out->reason = f[1];
	if (memchr(out->user.p, '\0', out->user.len) || !printable(out->reason))
		return -1;
	return 0;
}

/* ---- recipient lookup ---- */

#define RCPT_FIELDS 2
#define RCPT_REP_HDR (HDR_LEN + 4) /* + u16 reason_len, u16 count */

static const size_t rcpt_max[RCPT_FIELDS] = { AUTH_PROTO_SID_MAX,
					      AUTH_PROTO_ADDRESS_MAX };

/* No NUL or other control octet; UTF-8 (SMTPUTF8) passes. */
static bool no_controls(struct str s)
{
	for (size_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] == 0x7f)
			return false;
	return true;
}

int auth_proto_type(const void *msg, size_t len)
{
	return len ? ((const uint8_t *)msg)[0] : -1;
}

int auth_proto_encode_rcpt(struct buf *out, uint64_t id, struct str address,
			   const char *session_id)
{
	struct str f[RCPT_FIELDS] = { cs(session_id), address };
	size_t old = out->len;
	if (!printable(f[0]) || !no_controls(address))
		return -1;
	put_hdr(out, AUTH_MSG_RCPT, 0, 0, id);
	if (put_fields(out, f, rcpt_max, RCPT_FIELDS) < 0) {
		out->len = old;
		return -1;
	}
	return 0;
}

int auth_proto_decode_rcpt(const void *msg, size_t len,
			   struct auth_proto_rcpt *out)
{
	const uint8_t *m = msg;
	struct str f[RCPT_FIELDS];
	if (get_fields(m, len, AUTH_MSG_RCPT, f, rcpt_max, RCPT_FIELDS) < 0)
		return -1;
	if (m[1] != 0 || m[2] != 0 || !printable(f[0]) || !no_controls(f[1]))
		return -1;
	memcpy(&out->id, m + 4, 8);
	if (out->id == 0)
		return -1;
	out->session_id = f[0];
	out->address = f[1];
	return 0;
}

int auth_proto_encode_rcpt_reply(struct buf *out,
				 const struct auth_proto_rcpt_reply *r)
{
	size_t n = r->n_users;
	if ((unsigned)r->status > AUTH_RCPT_TEMPFAIL ||
	    (r->status == AUTH_RCPT_LOCAL) != (n > 0) ||
	    n > AUTH_PROTO_RCPT_USERS_MAX || r->reason.len > AUTH_PROTO_REASON_MAX ||
	    !printable(r->reason))
		return -1;
	size_t total = RCPT_REP_HDR + 2 * n + r->reason.len;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(r->users[i]);
		if (l == 0 || l > AUTH_NAME_MAX)
			return -1;
		total += l;
	}
	if (total > IPC_MSG_MAX)
		return -1;
	put_hdr(out, AUTH_MSG_RCPT_REPLY, (uint8_t)r->status, 0, r->id);
	uint16_t l16 = (uint16_t)r->reason.len;
	buf_append(out, &l16, 2);
	l16 = (uint16_t)n;
	buf_append(out, &l16, 2);
	for (size_t i = 0; i < n; i++) {
		l16 = (uint16_t)strlen(r->users[i]);
		buf_append(out, &l16, 2);
	}
	buf_append(out, r->reason.p, r->reason.len);
	for (size_t i = 0; i < n; i++)
		buf_append(out, r->users[i], strlen(r->users[i]));
	return 0;
}

int auth_proto_decode_rcpt_reply(const void *msg, size_t len,
				 struct auth_proto_rcpt_reply *out)
{
	const uint8_t *m = msg;
	if (len < RCPT_REP_HDR || len > IPC_MSG_MAX ||
	    m[0] != AUTH_MSG_RCPT_REPLY || m[2] != 0 || m[3] != 0 ||
	    m[1] > AUTH_RCPT_TEMPFAIL)
		return -1;
	uint16_t rlen, n;
	memcpy(&rlen, m + HDR_LEN, 2);
	memcpy(&n, m + HDR_LEN + 2, 2);
	if (rlen > AUTH_PROTO_REASON_MAX || n > AUTH_PROTO_RCPT_USERS_MAX ||
	    (m[1] == AUTH_RCPT_LOCAL) != (n > 0) ||
	    len - RCPT_REP_HDR < 2 * (size_t)n)
		return -1;
	size_t pos = RCPT_REP_HDR + 2 * (size_t)n;
	if (rlen > len - pos)
		return -1;
	struct str reason = { (const char *)m + pos, rlen };
	pos += rlen;
	const char *names = (const char *)m + pos;
	for (size_t i = 0; i < n; i++) {
		uint16_t l;
		memcpy(&l, m + RCPT_REP_HDR + 2 * i, 2);
		if (l == 0 || l > AUTH_NAME_MAX || l > len - pos ||
		    memchr(m + pos, '\0', l))
			return -1;
		pos += l;
	}
	if (pos != len || !printable(reason))
		return -1;
	memcpy(&out->id, m + 4, 8);
	out->status = (enum auth_rcpt_status)m[1];
	out->reason = reason;
	out->n_users = n;
	out->users = NULL;
	out->user_lens = m + RCPT_REP_HDR;
	out->user_bytes = names;
	return 0;
}

struct str auth_proto_rcpt_user(const struct auth_proto_rcpt_reply *r,
				size_t i, size_t *pos)
{
	uint16_t l;
	memcpy(&l, r->user_lens + 2 * i, 2);
	struct str s = { r->user_bytes + *pos, l };
	*pos += l;
	return s;
}
