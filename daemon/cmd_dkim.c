/* `postern dkim keygen|list|sign|verify`: DKIM keys for the operator,
 * and the library (dkim/) on messages from stdin, for testing a setup.
 * Keys live in dkim_key_dir as DOMAIN/SELECTOR.key (PKCS#8 PEM, 0600 in
 * 0700 directories). Started as root, this command stays root, so the
 * keys are root's: only the key-holding process reads them. */
#include "daemon/cli.h"
#include "dkim/dkim.h"
#include "core/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* The RSA size we generate: RFC 8301 3.2 wants at least 2048 for
 * signers; 2048 still fits one TXT string pair everywhere. */
#define DKIM_KEYGEN_RSA_BITS 2048

/* A name we accept for a key file's path: lowercase LDH labels and
 * dots, no empty label, at most max octets, plus the characters in
 * extra; so it is also a safe file or directory name. */
static bool name_ok(const char *d, size_t max, const char *extra)
{
	size_t n = strlen(d);
	if (n == 0 || n > max || d[0] == '.' || d[n - 1] == '.' || strstr(d, ".."))
		return false;
	for (; *d; d++)
		if (!((*d >= 'a' && *d <= 'z') || (*d >= '0' && *d <= '9') ||
		      *d == '-' || *d == '.' || (*extra && strchr(extra, *d))))
			return false;
	return true;
}

static bool domain_ok(const char *d)
{
	return name_ok(d, 253, "");
}

/* A selector: the same, with '_' allowed (RFC 6376 3.1: sub-domains). */
static bool selector_ok(const char *s)
{
	return name_ok(s, 63, "_");
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = ascii_lower(*s);
}

static int mkdir_0700(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "postern: mkdir %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (chmod(path, 0700) != 0) {
		fprintf(stderr, "postern: chmod %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* As root the keys are root's, also in a directory someone else
	 * made: the server's user must not be able to swap a key file. */
	if (geteuid() == 0 && chown(path, 0, 0) != 0) {
		fprintf(stderr, "postern: chown %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Prints the TXT record in zone-file syntax, the text cut into strings
 * of at most 255 octets (RFC 1035 3.3.14). */
static void print_txt(const char *domain, const char *selector, EVP_PKEY *pkey)
{
	struct buf rec = BUF_INIT;
	if (dkim_key_record(pkey, &rec) != 0) {
		fprintf(stderr, "postern: cannot make the record for %s/%s\n", domain,
			selector);
		return;
	}
	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (size_t off = 0; off < rec.len; off += 255) {
		size_t n = rec.len - off < 255 ? rec.len - off : 255;
		printf("%s\"%.*s\"", off ? "\n\t" : " ", (int)n, rec.data + off);
	}
	printf(" )\n");
	buf_free(&rec);
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || dkim_key_alg(k) < 0) {
		fprintf(stderr, "postern: %s: not an RSA or Ed25519 private key\n", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

static int write_key(const char *path, EVP_PKEY *k)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "postern: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (choose another --selector)" : "");
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return -1;
	}
	int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1 &&
		 fflush(f) == 0 && fsync(fd) == 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, "postern: writing %s failed\n", path);
		unlink(path);
		return -1;
	}
	return 0;
}

static int keygen(const struct config *cfg, int argc, char **argv)
{
	const char *domain_arg = NULL, *sel = NULL, *type = "both";
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--selector") && i + 1 < argc)
			sel = argv[++i];
		else if (!strcmp(argv[i], "--type") && i + 1 < argc)
			type = argv[++i];
		else if (argv[i][0] != '-' && !domain_arg)
			domain_arg = argv[i];
		else {
			fprintf(stderr, "usage: postern dkim keygen DOMAIN [--selector S] [--type rsa|ed25519|both]\n");
			return EX_USAGE;
		}
	}
	bool rsa = !strcmp(type, "rsa") || !strcmp(type, "both");
	bool ed = !strcmp(type, "ed25519") || !strcmp(type, "both");
	if (!domain_arg || (!rsa && !ed)) {
		fprintf(stderr, "usage: postern dkim keygen DOMAIN [--selector S] [--type rsa|ed25519|both]\n");
		return EX_USAGE;
	}
	char domain[256];
	snprintf(domain, sizeof domain, "%s", domain_arg);
	lower(domain);
	if (!domain_ok(domain)) {
		fprintf(stderr, "postern: \"%s\" is not a domain name\n", domain_arg);
		return EX_USAGE;
	}
	char base[64];
	if (sel) {
		snprintf(base, sizeof base, "%s", sel);
		lower(base);
	} else {
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(base, sizeof base, "%Y%m", &tm);
	}
	/* A default selector, or both types, get a suffix: r for RSA, e
	 * for Ed25519, so the two keys of one month sit side by side. */
	bool suffix = !sel || (rsa && ed);
	char dir[4096];
	if (mkdir_0700(cfg->dkim_key_dir) != 0)
		return EX_CANTCREAT;
	snprintf(dir, sizeof dir, "%s/%s", cfg->dkim_key_dir, domain);
	if (mkdir_0700(dir) != 0)
		return EX_CANTCREAT;
	for (int pass = 0; pass < 2; pass++) {
		bool is_rsa = pass == 0;
		if ((is_rsa && !rsa) || (!is_rsa && !ed))
			continue;
		char selector[80];
		snprintf(selector, sizeof selector, "%s%s", base,
			 suffix ? (is_rsa ? "r" : "e") : "");
		if (!selector_ok(selector)) {
			fprintf(stderr, "postern: \"%s\" is not a usable selector\n", selector);
			return EX_USAGE;
		}
		EVP_PKEY *k = is_rsa ? EVP_RSA_gen(DKIM_KEYGEN_RSA_BITS)
				     : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		if (!k) {
			fprintf(stderr, "postern: key generation failed\n");
			return EX_SOFTWARE;
		}
		char path[4200];
		snprintf(path, sizeof path, "%s/%s.key", dir, selector);
		if (write_key(path, k) != 0) {
			EVP_PKEY_free(k);
			return EX_CANTCREAT;
		}
		fprintf(stderr, "postern: wrote %s (%s)\n", path,
			is_rsa ? "rsa-2048" : "ed25519");
		print_txt(domain, selector, k);
		EVP_PKEY_free(k);
	}
	return EX_OK;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a > b && !strcmp(s + a - b, suf);
}

static int list(const struct config *cfg, int argc, char **argv)
{
	bool dns = argc > 2 && !strcmp(argv[2], "--dns");
	DIR *top = opendir(cfg->dkim_key_dir);
	if (!top) {
		if (errno == ENOENT)
			return EX_OK; /* no keys yet */
		fprintf(stderr, "postern: %s: %s\n", cfg->dkim_key_dir, strerror(errno));
		return EX_NOINPUT;
	}
	int rc = EX_OK;
	struct dirent *de;
	while ((de = readdir(top))) {
		if (!domain_ok(de->d_name))
			continue;
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/%s", cfg->dkim_key_dir, de->d_name);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *ke;
		while ((ke = readdir(d))) {
			if (!has_suffix(ke->d_name, ".key"))
				continue;
			char sel[256];
			snprintf(sel, sizeof sel, "%.*s", (int)(strlen(ke->d_name) - 4),
				 ke->d_name);
			char path[8400];
			snprintf(path, sizeof path, "%s/%s", dir, ke->d_name);
			struct stat st;
			EVP_PKEY *k = stat(path, &st) == 0 ? load_key(path) : NULL;
			if (!k) {
				rc = EX_NOINPUT;
				continue;
			}
			char when[32];
			struct tm tm;
			gmtime_r(&st.st_mtime, &tm);
			strftime(when, sizeof when, "%Y-%m-%d", &tm);
			if (dns)
				print_txt(de->d_name, sel, k);
			else
				printf("%s %s %s %d %s\n", de->d_name, sel,
				       dkim_alg_name((enum dkim_alg)dkim_key_alg(k)),
				       EVP_PKEY_get_bits(k), when);
			EVP_PKEY_free(k);
		}
		closedir(d);
	}
	closedir(top);
	return rc;
}

static int read_stdin(struct buf *msg)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
		if (msg->len + n > DKIM_CLI_MESSAGE_MAX) {
			fprintf(stderr, "postern: message over %u bytes\n",
				DKIM_CLI_MESSAGE_MAX);
			return EX_DATAERR;
		}
		buf_append(msg, chunk, n);
	}
	if (ferror(stdin)) {
		fprintf(stderr, "postern: reading stdin: %s\n", strerror(errno));
		return EX_IOERR;
	}
	buf_cstr(msg);
	return 0;
}

#define SIGN_KEYS_MAX 8

static int sign(const struct config *cfg, int argc, char **argv)
{
	const char *domain_arg = NULL;
	const char *sels[SIGN_KEYS_MAX];
	size_t nsel = 0;
	long expire = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--domain") && i + 1 < argc)
			domain_arg = argv[++i];
		else if (!strcmp(argv[i], "--selector") && i + 1 < argc &&
			 nsel < SIGN_KEYS_MAX)
			sels[nsel++] = argv[++i];
		else if (!strcmp(argv[i], "--expire") && i + 1 < argc)
			expire = atol(argv[++i]);
		else {
			nsel = 0;
			break;
		}
	}
	if (!domain_arg || nsel == 0) {
		fprintf(stderr, "usage: postern dkim sign --domain D --selector S [--selector S2] [--expire SECONDS] < MESSAGE\n");
		return EX_USAGE;
	}
	char domain[256];
	snprintf(domain, sizeof domain, "%s", domain_arg);
	lower(domain);
	if (!domain_ok(domain)) {
		fprintf(stderr, "postern: \"%s\" is not a domain name\n", domain_arg);
		return EX_USAGE;
	}
	struct dkim_key keys[SIGN_KEYS_MAX];
	int rc = EX_OK;
	size_t nk = 0;
	for (; nk < nsel; nk++) {
		char path[4400];
		if (!selector_ok(sels[nk])) {
			fprintf(stderr, "postern: \"%s\" is not a selector\n", sels[nk]);
			rc = EX_USAGE;
			break;
		}
		snprintf(path, sizeof path, "%s/%s/%s.key", cfg->dkim_key_dir, domain,
			 sels[nk]);
		EVP_PKEY *k = load_key(path);
		if (!k) {
			rc = EX_NOINPUT;
			break;
		}
		keys[nk] = (struct dkim_key){ .alg = (enum dkim_alg)dkim_key_alg(k),
					      .domain = domain,
					      .selector = sels[nk],
					      .pkey = k };
	}
	struct buf msg = BUF_INIT, out = BUF_INIT;
	struct dkim_hdr *hdrs = calloc(DKIM_HEADER_FIELDS_MAX, sizeof *hdrs);
	if (rc == EX_OK)
		rc = read_stdin(&msg);
	if (rc == EX_OK) {
		size_t body_off;
		long nh = dkim_split_header(buf_str(&msg), hdrs, DKIM_HEADER_FIELDS_MAX,
					    &body_off);
		struct dkim_signer s;
		const char *why = "too many header fields";
		if (nh < 0 || dkim_signer_init(&s) != 0) {
			rc = EX_DATAERR;
		} else {
			dkim_signer_body(&s, msg.data + body_off, msg.len - body_off);
			if (dkim_signer_finish(&s, hdrs, (size_t)nh, keys, nk, time(NULL),
					       expire, &out, &why) != 0)
				rc = EX_DATAERR;
			dkim_signer_free(&s);
		}
		if (rc != EX_OK) {
			fprintf(stderr, "postern: cannot sign: %s\n", why);
		} else {
			/* The fields in the message's own line ends. */
			const char *lf = memchr(msg.data, '\n', msg.len);
			bool crlf = lf && lf > msg.data && lf[-1] == '\r';
			for (size_t i = 0; i < out.len; i++)
				if (crlf || out.data[i] != '\r')
					putchar(out.data[i]);
			fwrite(msg.data, 1, msg.len, stdout);
			if (fflush(stdout) != 0)
				rc = EX_IOERR;
		}
	}
	for (size_t i = 0; i < nk; i++)
		EVP_PKEY_free(keys[i].pkey);
	free(hdrs);
	buf_free(&msg);
	buf_free(&out);
	return rc;
}

/* The key records file: one "QNAME TEXT" per line; TEXT may be given as
 * zone-file strings ("..." "..."), which are joined. */
static int load_records(const char *path, struct buf *names, struct buf *texts,
			size_t *n)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return EX_NOINPUT;
	}
	char line[8192];
	*n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		char *sp = p + strcspn(p, " \t");
		if (!*sp)
			continue;
		*sp++ = '\0';
		size_t nl = strlen(p);
		if (nl && p[nl - 1] == '.')
			p[--nl] = '\0';
		lower(p);
		buf_append(names, p, nl + 1);
		while (*sp == ' ' || *sp == '\t')
			sp++;
		if (*sp == '"') {
			bool in = false;
			for (; *sp; sp++) {
				if (*sp == '"')
					in = !in;
				else if (in)
					buf_appendc(texts, *sp);
			}
		} else {
			buf_appends(texts, sp);
		}
		buf_appendc(texts, '\0');
		(*n)++;
	}
	fclose(f);
	return 0;
}

static const char *record_for(const char *qname, const struct buf *names,
			      const struct buf *texts, size_t n)
{
	const char *a = names->data, *b = texts->data;
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(a, qname))
			return b;
		a += strlen(a) + 1;
		b += strlen(b) + 1;
	}
	return NULL;
}

int cmd_dkim_verify(int argc, char **argv)
{
	const char *recfile = NULL;
	time_t now = time(NULL);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--key-records") && i + 1 < argc)
			recfile = argv[++i];
		else if (!strcmp(argv[i], "--now") && i + 1 < argc)
			now = (time_t)atoll(argv[++i]);
		else {
			recfile = NULL;
			break;
		}
	}
	if (!recfile) {
		fprintf(stderr, "usage: postern dkim verify --key-records FILE [--now UNIXTIME] < MESSAGE\n");
		return EX_USAGE;
	}
	struct buf names = BUF_INIT, texts = BUF_INIT, msg = BUF_INIT;
	size_t nrec = 0;
	int rc = load_records(recfile, &names, &texts, &nrec);
	if (rc == 0)
		rc = read_stdin(&msg);
	struct dkim_hdr *hdrs = calloc(DKIM_HEADER_FIELDS_MAX, sizeof *hdrs);
	struct dkim_sig *sig = malloc(sizeof *sig);
	if (rc == 0) {
		size_t body_off;
		long nh = dkim_split_header(buf_str(&msg), hdrs, DKIM_HEADER_FIELDS_MAX,
					    &body_off);
		if (nh < 0) {
			fprintf(stderr, "postern: too many header fields\n");
			rc = EX_DATAERR;
			nh = 0;
		}
		size_t nsig = 0;
		bool all = true;
		for (size_t i = 0; i < (size_t)nh; i++) {
			if (!str_eq_nocase(hdrs[i].name, "DKIM-Signature"))
				continue;
			nsig++;
			const char *why = "";
			enum dkim_result r = dkim_sig_parse(hdrs[i].field, now, sig, &why);
			char q[600] = "";
			if (r == DKIM_NEUTRAL) {
				dkim_sig_query_name(sig, q, sizeof q);
				r = dkim_verify_message(buf_str(&msg), hdrs, (size_t)nh,
							body_off, i,
							record_for(q, &names, &texts, nrec),
							now, sig, &why);
			}
			printf("dkim=%s", dkim_result_name(r));
			if (r != DKIM_PASS)
				printf(" (%s)", why);
			if (r != DKIM_PERMERROR || sig->d.len)
				printf(" header.d=%.*s header.s=%.*s header.a=%s",
				       (int)sig->d.len, sig->d.p, (int)sig->s.len,
				       sig->s.p, dkim_alg_name(sig->alg));
			printf("\n");
			if (r != DKIM_PASS)
				all = false;
		}
		if (nsig == 0)
			printf("dkim=none\n");
		if (rc == 0 && (nsig == 0 || !all))
			rc = 1;
	}
	free(sig);
	free(hdrs);
	buf_free(&names);
	buf_free(&texts);
	buf_free(&msg);
	return rc;
}

int cmd_dkim(const struct config *cfg, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";
	if (!strcmp(sub, "keygen"))
		return keygen(cfg, argc, argv);
	if (!strcmp(sub, "list"))
		return list(cfg, argc, argv);
	if (!strcmp(sub, "sign"))
		return sign(cfg, argc, argv);
	if (!strcmp(sub, "verify"))
		return cmd_dkim_verify(argc, argv);
	fprintf(stderr, "usage: postern dkim keygen|list|sign|verify ... (postern dkim --help)\n");
	return EX_USAGE;
}
