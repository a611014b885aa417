/*
 * Subject names and subjectAltNames: parse the "/CN=a/O=b" and
 * "DNS:a,IP:b" syntaxes of the CLI and the API into OpenSSL objects, check
 * names that came from elsewhere (CSRs) by the same rules, and format them
 * back. Everything that reaches a certificate's subject or SAN goes through
 * one of the checks here, so a name's rules live in one place.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>

#include "x509_int.h"

#define SAN_MAX_ENTRIES	100
#define URI_MAX_LEN	2048

struct attr {
	const char *key;	/* what we print */
	const char *alias;	/* also accepted on input */
	int nid;
	int max_chars;
	int repeat;		/* may occur more than once */
};

static const struct attr attrs[] = {
	{ "CN", "commonName", NID_commonName, 64, 0 },
	{ "O", "organizationName", NID_organizationName, 64, 0 },
	{ "OU", "organizationalUnitName", NID_organizationalUnitName, 64, 1 },
	{ "C", "countryName", NID_countryName, 2, 0 },
	{ "ST", "stateOrProvinceName", NID_stateOrProvinceName, 128, 0 },
	{ "L", "localityName", NID_localityName, 128, 0 },
	{ "emailAddress", "email", NID_pkcs9_emailAddress, 255, 0 },
};
#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

/* A growing string for the formatters. */
struct sbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void
sb_putc(struct sbuf *b, char c)
{
	char *n;

	if (b->oom)
		return;
	if (b->len + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 128;

		if ((n = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = n;
		b->cap = cap;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s, size_t len, const char *esc)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (esc != NULL && (s[i] == '\\' || strchr(esc, s[i]) != NULL))
			sb_putc(b, '\\');
		sb_putc(b, s[i]);
	}
}

static enum hkms_rc
sb_finish(struct sbuf *b, char **out, struct hkms_err *err)
{
	if (b->oom) {
		free(b->s);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	if (b->s == NULL && (b->s = strdup("")) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	*out = b->s;
	return HKMS_OK;
}

static const struct attr *
attr_by_key(const char *key)
{
	size_t i;

	for (i = 0; i < N_ATTRS; i++)
		if (strcasecmp(key, attrs[i].key) == 0 ||
		    strcasecmp(key, attrs[i].alias) == 0)
			return &attrs[i];
	return NULL;
}

static const struct attr *
attr_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < N_ATTRS; i++)
		if (attrs[i].nid == nid)
			return &attrs[i];
	return NULL;
}

/* Count the code points of well-formed UTF-8 without control characters
 * (C0, DEL, C1), overlong forms or surrogates; -1 if it is not. */
static long
utf8_chars(const unsigned char *s, size_t len)
{
	size_t i = 0;
	long n = 0;

	while (i < len) {
		unsigned c = s[i], cp, need, k;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return -1;
			i++;
			n++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return -1;
		}
		if (len - i <= need)
			return -1;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp <= 0x9f))
			return -1;
		i += need + 1;
		n++;
	}
	return n;
}

enum hkms_rc
hkms_x509_dns_check(const char *s, size_t len, int wildcard_ok,
    struct hkms_err *err)
{
	size_t i, label = 0, labels = 0;
	size_t start = 0;

	if (s == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "no DNS name given");
	if (len == 0 || len > 253)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "DNS name '%.*s' must have 1 to 253 characters",
		    (int)(len > 64 ? 64 : len), s);
	if (len >= 2 && s[0] == '*' && s[1] == '.') {
		if (!wildcard_ok)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_san", "wildcard not allowed in '%.*s'",
			    (int)(len > 64 ? 64 : len), s);
		start = 2;
	}
	if (start == len)
		goto bad;
	for (i = start; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				goto bad;
			labels++;
			label = 0;
			continue;
		}
		if (!(isascii((unsigned char)c) &&
		    (isalnum((unsigned char)c) || c == '-')))
			goto bad;
		if (label == 0 && c == '-')
			goto bad;
		label++;
	}
	/* "*.com" would match a whole top-level domain */
	if (start == 2 && labels < 2)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "wildcard '%.*s' needs at least two labels after '*.'",
		    (int)(len > 64 ? 64 : len), s);
	return HKMS_OK;
bad:
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
	    "invalid DNS name '%.*s'", (int)(len > 64 ? 64 : len), s);
}

/* local@domain, printable ASCII, a DNS domain. */
static enum hkms_rc
email_check(const char *s, size_t len, size_t max, const char *code,
    struct hkms_err *err)
{
	const char *at = NULL;
	size_t i;

	if (len == 0 || len > max)
		goto bad;
	for (i = 0; i < len; i++) {
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			goto bad;
		if (s[i] == '@') {
			if (at != NULL)
				goto bad;
			at = s + i;
		}
	}
	if (at == NULL || at == s || (size_t)(at - s) > 64 ||
	    at + 1 == s + len)
		goto bad;
	if (hkms_x509_dns_check(at + 1, (size_t)(s + len - at - 1), 0, NULL) !=
	    HKMS_OK)
		goto bad;
	return HKMS_OK;
bad:
	return hkms_err_setc(err, HKMS_E_INVALID, code,
	    "invalid email address '%.*s'", (int)(len > 64 ? 64 : len), s);
}

static enum hkms_rc
uri_check(const char *s, size_t len, struct hkms_err *err)
{
	size_t i;
	const char *colon = memchr(s, ':', len);

	if (len == 0 || len > URI_MAX_LEN || colon == NULL || colon == s ||
	    colon + 1 == s + len || !isalpha((unsigned char)s[0]))
		goto bad;
	for (i = 0; s + i < colon; i++)
		if (!isascii((unsigned char)s[i]) ||
		    !(isalnum((unsigned char)s[i]) || s[i] == '+' ||
		    s[i] == '-' || s[i] == '.'))
			goto bad;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			goto bad;
	return HKMS_OK;
bad:
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
	    "invalid URI '%.*s'", (int)(len > 64 ? 64 : len), s);
}

/* The rules for one attribute value (UTF-8, len bytes). */
static enum hkms_rc
value_check(const struct attr *a, const char *v, size_t len,
    struct hkms_err *err)
{
	long chars;

	if (len == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "empty value for %s", a->key);
	if (memchr(v, '\0', len) != NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "embedded NUL in %s", a->key);
	if ((chars = utf8_chars((const unsigned char *)v, len)) < 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "%s is not valid UTF-8 or has control characters",
		    a->key);
	if (a->nid == NID_countryName) {
		if (len != 2 || !isalpha((unsigned char)v[0]) ||
		    !isalpha((unsigned char)v[1]))
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject",
			    "C must be a two-letter country code, not '%.*s'",
			    (int)(len > 16 ? 16 : len), v);
		return HKMS_OK;
	}
	if (chars > a->max_chars)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "%s has %ld characters, at most %d are allowed", a->key,
		    chars, a->max_chars);
	if (a->nid == NID_pkcs9_emailAddress)
		return email_check(v, len, (size_t)a->max_chars,
		    "invalid_subject", err);
	return HKMS_OK;
}

/* Copy the next component of s (up to an unescaped sep) into buf,
 * unescaping "\<sep>" and "\\". Returns the position after it, or NULL
 * with err set on a bad escape. */
static const char *
next_component(const char *s, char sep, char *buf, size_t *blen,
    const char *what, struct hkms_err *err)
{
	size_t n = 0;

	while (*s != '\0' && *s != sep) {
		if (*s == '\\') {
			if (s[1] != sep && s[1] != '\\') {
				hkms_err_setc(err, HKMS_E_INVALID, what,
				    "bad escape '\\%c': only '\\%c' and "
				    "'\\\\' are allowed", s[1] ? s[1] : ' ',
				    sep);
				return NULL;
			}
			s++;
		}
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	*blen = n;
	return s;
}

enum hkms_rc
hkms_x509_name_parse(const char *subject, X509_NAME **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_NAME *name = NULL;
	char *buf = NULL, *eq;
	const char *p;
	const struct attr *a;
	unsigned seen = 0;
	size_t len;

	if (subject == NULL || out == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "no subject given");
		goto out;
	}
	if (subject[0] != '/' || subject[1] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "subject must look like /CN=name/O=org, not '%.64s'",
		    subject);
		goto out;
	}
	if (strlen(subject) > 4096) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "subject is too long");
		goto out;
	}
	if ((buf = malloc(strlen(subject) + 1)) == NULL ||
	    (name = X509_NAME_new()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	p = subject;
	while (*p == '/') {
		p++;
		if ((p = next_component(p, '/', buf, &len, "invalid_subject",
		    err)) == NULL) {
			rc = HKMS_E_INVALID;
			goto out;
		}
		if ((eq = strchr(buf, '=')) == NULL || eq == buf) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "'%.64s' is not attr=value",
			    buf);
			goto out;
		}
		*eq = '\0';
		if ((a = attr_by_key(buf)) == NULL) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "unknown subject attribute "
			    "'%.32s' (allowed: CN, O, OU, C, ST, L, "
			    "emailAddress)", buf);
			goto out;
		}
		if (!a->repeat && (seen & (1u << (a - attrs))) != 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "%s given twice", a->key);
			goto out;
		}
		seen |= 1u << (a - attrs);
		len -= (size_t)(eq + 1 - buf);
		if ((rc = value_check(a, eq + 1, len, err)) != HKMS_OK)
			goto out;
		if (a->nid == NID_countryName) {
			eq[1] = (char)toupper((unsigned char)eq[1]);
			eq[2] = (char)toupper((unsigned char)eq[2]);
		}
		if (X509_NAME_add_entry_by_NID(name, a->nid, MBSTRING_UTF8,
		    (unsigned char *)eq + 1, (int)len, -1, 0) != 1) {
			rc = hkms_err_crypto(err, "cannot add %s to subject",
			    a->key);
			goto out;
		}
	}
	if (*p != '\0' || X509_NAME_entry_count(name) == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "empty attribute in subject '%.64s'", subject);
		goto out;
	}
	*out = name;
	name = NULL; /* transferred */
	rc = HKMS_OK;
out:
	free(buf);
	X509_NAME_free(name);
	return rc;
}

enum hkms_rc
hkms_x509_name_check(const X509_NAME *name, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *utf8 = NULL;
	const struct attr *a;
	unsigned seen = 0;
	int i, n, len, type, prev_set = -1;

	if (name == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no name given");
	n = X509_NAME_entry_count(name);
	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(ne);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		char oid[80];

		if ((a = attr_by_nid(nid)) == NULL) {
			OBJ_obj2txt(oid, sizeof(oid),
			    X509_NAME_ENTRY_get_object(ne), 0);
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "subject attribute %s is not "
			    "allowed", oid);
			goto out;
		}
		if (X509_NAME_ENTRY_set(ne) == prev_set) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject",
			    "multi-valued name components are not allowed");
			goto out;
		}
		prev_set = X509_NAME_ENTRY_set(ne);
		if (!a->repeat && (seen & (1u << (a - attrs))) != 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "%s given twice", a->key);
			goto out;
		}
		seen |= 1u << (a - attrs);
		type = ASN1_STRING_type(v);
		if (type != V_ASN1_UTF8STRING &&
		    type != V_ASN1_PRINTABLESTRING &&
		    type != V_ASN1_IA5STRING && type != V_ASN1_BMPSTRING &&
		    type != V_ASN1_UNIVERSALSTRING &&
		    type != V_ASN1_T61STRING) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "%s has an unsupported string "
			    "type", a->key);
			goto out;
		}
		/* embedded NUL first: the UTF-8 conversion keeps it */
		if (memchr(ASN1_STRING_get0_data(v), '\0',
		    (size_t)ASN1_STRING_length(v)) != NULL &&
		    (type == V_ASN1_UTF8STRING ||
		    type == V_ASN1_PRINTABLESTRING ||
		    type == V_ASN1_IA5STRING || type == V_ASN1_T61STRING)) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "embedded NUL in %s", a->key);
			goto out;
		}
		if ((len = ASN1_STRING_to_UTF8(&utf8, v)) < 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "%s is not a valid string",
			    a->key);
			ERR_clear_error();
			goto out;
		}
		if ((rc = value_check(a, (char *)utf8, (size_t)len, err)) !=
		    HKMS_OK)
			goto out;
		OPENSSL_free(utf8);
		utf8 = NULL;
	}
	rc = HKMS_OK;
out:
	OPENSSL_free(utf8);
	return rc;
}

enum hkms_rc
hkms_x509_name_format(const X509_NAME *name, char **out,
    struct hkms_err *err)
{
	struct sbuf b = { 0 };
	unsigned char *utf8;
	const struct attr *a;
	char key[80];
	int i, n, len;

	if (name == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no name given");
	n = X509_NAME_entry_count(name);
	for (i = 0; i < n; i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(ne);

		if ((a = attr_by_nid(OBJ_obj2nid(obj))) != NULL)
			snprintf(key, sizeof(key), "%s", a->key);
		else
			OBJ_obj2txt(key, sizeof(key), obj, 0);
		sb_putc(&b, '/');
		sb_puts(&b, key, strlen(key), NULL);
		sb_putc(&b, '=');
		utf8 = NULL;
		if ((len = ASN1_STRING_to_UTF8(&utf8,
		    X509_NAME_ENTRY_get_data(ne))) < 0) {
			ERR_clear_error();
			sb_puts(&b, "?", 1, NULL);
			continue;
		}
		sb_puts(&b, (char *)utf8, (size_t)len, "/");
		OPENSSL_free(utf8);
	}
	return sb_finish(&b, out, err);
}

/* One SAN entry "TYPE:value" (unescaped, trimmed) into a new name. */
static enum hkms_rc
san_entry(char *s, GENERAL_NAME **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	GENERAL_NAME *gn = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	unsigned char addr[16];
	char *v = strchr(s, ':');
	size_t vlen, i;
	int type, alen = 0;

	if (v == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "SAN '%.64s' is not TYPE:value", s);
		goto out;
	}
	*v++ = '\0';
	vlen = strlen(v);
	if (strcasecmp(s, "DNS") == 0) {
		type = GEN_DNS;
		if ((rc = hkms_x509_dns_check(v, vlen, 1, err)) != HKMS_OK)
			goto out;
		for (i = 0; i < vlen; i++)
			v[i] = (char)tolower((unsigned char)v[i]);
	} else if (strcasecmp(s, "IP") == 0) {
		type = GEN_IPADD;
		if (inet_pton(AF_INET, v, addr) == 1)
			alen = 4;
		else if (inet_pton(AF_INET6, v, addr) == 1)
			alen = 16;
		else {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
			    "invalid IP address '%.64s'", v);
			goto out;
		}
	} else if (strcasecmp(s, "email") == 0) {
		type = GEN_EMAIL;
		if ((rc = email_check(v, vlen, 254, "invalid_san", err)) !=
		    HKMS_OK)
			goto out;
	} else if (strcasecmp(s, "URI") == 0) {
		type = GEN_URI;
		if ((rc = uri_check(v, vlen, err)) != HKMS_OK)
			goto out;
	} else {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "unknown SAN type '%.16s' (allowed: DNS, IP, email, URI)",
		    s);
		goto out;
	}
	if ((gn = GENERAL_NAME_new()) == NULL)
		goto oom;
	if (type == GEN_IPADD) {
		if ((ip = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(ip, addr, alen))
			goto oom;
		GENERAL_NAME_set0_value(gn, type, ip);
		ip = NULL; /* transferred */
	} else {
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, v, (int)vlen))
			goto oom;
		GENERAL_NAME_set0_value(gn, type, ia5);
		ia5 = NULL; /* transferred */
	}
	*out = gn;
	gn = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	GENERAL_NAME_free(gn);
	ASN1_IA5STRING_free(ia5);
	ASN1_OCTET_STRING_free(ip);
	return rc;
}

static int
san_has(const GENERAL_NAMES *gens, const GENERAL_NAME *gn)
{
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++)
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i),
		    (GENERAL_NAME *)gn) == 0)
			return 1;
	return 0;
}

enum hkms_rc
hkms_x509_san_parse(const char *sans, GENERAL_NAMES **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gn = NULL;
	char *buf = NULL, *s, *e;
	const char *p;
	size_t len;

	if (sans == NULL || out == NULL || *sans == '\0') {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "empty SAN list");
		goto out;
	}
	if (strlen(sans) > 100 * (URI_MAX_LEN + 8)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "SAN list is too long");
		goto out;
	}
	if ((buf = malloc(strlen(sans) + 1)) == NULL ||
	    (gens = GENERAL_NAMES_new()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	p = sans;
	for (;;) {
		if ((p = next_component(p, ',', buf, &len, "invalid_san",
		    err)) == NULL) {
			rc = HKMS_E_INVALID;
			goto out;
		}
		for (s = buf; *s == ' ' || *s == '\t'; s++)
			;
		for (e = buf + len; e > s && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = '\0';
		if (*s == '\0') {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
			    "empty entry in SAN list");
			goto out;
		}
		if (sk_GENERAL_NAME_num(gens) >= SAN_MAX_ENTRIES) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
			    "more than %d SANs", SAN_MAX_ENTRIES);
			goto out;
		}
		if ((rc = san_entry(s, &gn, err)) != HKMS_OK)
			goto out;
		if (san_has(gens, gn)) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
			    "SAN '%.64s' given twice", s);
			goto out;
		}
		if (!sk_GENERAL_NAME_push(gens, gn)) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		gn = NULL; /* transferred */
		if (*p == '\0')
			break;
		p++;
	}
	*out = gens;
	gens = NULL; /* transferred */
	rc = HKMS_OK;
out:
	free(buf);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
san_has_before(const GENERAL_NAMES *gens, int i)
{
	int j;

	for (j = 0; j < i; j++)
		if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, j),
		    sk_GENERAL_NAME_value(gens, i)) == 0)
			return 1;
	return 0;
}

enum hkms_rc
hkms_x509_san_check(const GENERAL_NAMES *gens, struct hkms_err *err)
{
	int i, n, len;

	if (gens == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no SANs given");
	n = sk_GENERAL_NAME_num(gens);
	if (n <= 0 || n > SAN_MAX_ENTRIES)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_san",
		    "a SAN list needs 1 to %d entries, not %d",
		    SAN_MAX_ENTRIES, n);
	for (i = 0; i < n; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		int type;
		void *v = GENERAL_NAME_get0_value(gn, &type);
		const char *d;
		enum hkms_rc rc;

		if (type != GEN_DNS && type != GEN_IPADD &&
		    type != GEN_EMAIL && type != GEN_URI)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_san", "SAN type %d is not allowed "
			    "(only DNS, IP, email, URI)", type);
		if (san_has_before(gens, i))
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_san", "SAN number %d repeats an earlier "
			    "one", i + 1);
		len = ASN1_STRING_length(v);
		d = (const char *)ASN1_STRING_get0_data(v);
		if (type == GEN_IPADD) {
			if (len != 4 && len != 16)
				return hkms_err_setc(err, HKMS_E_INVALID,
				    "invalid_san", "IP SAN of %d octets", len);
			continue;
		}
		if (ASN1_STRING_type(v) != V_ASN1_IA5STRING)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_san", "SAN is not an IA5String");
		if (len <= 0 || memchr(d, '\0', (size_t)len) != NULL)
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_san", "empty SAN or embedded NUL in SAN");
		if (type == GEN_DNS)
			rc = hkms_x509_dns_check(d, (size_t)len, 1, err);
		else if (type == GEN_EMAIL)
			rc = email_check(d, (size_t)len, 254, "invalid_san",
			    err);
		else
			rc = uri_check(d, (size_t)len, err);
		if (rc != HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

enum hkms_rc
hkms_x509_san_format(const GENERAL_NAMES *gens, char **out,
    struct hkms_err *err)
{
	struct sbuf b = { 0 };
	char ip[INET6_ADDRSTRLEN];
	int i, type;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no output given");
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);
		const char *d = (const char *)ASN1_STRING_get0_data(v);
		int len = ASN1_STRING_length(v);

		if (b.len > 0)
			sb_putc(&b, ',');
		switch (type) {
		case GEN_DNS:
			sb_puts(&b, "DNS:", 4, NULL);
			break;
		case GEN_EMAIL:
			sb_puts(&b, "email:", 6, NULL);
			break;
		case GEN_URI:
			sb_puts(&b, "URI:", 4, NULL);
			break;
		case GEN_IPADD:
			sb_puts(&b, "IP:", 3, NULL);
			if (inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip,
			    sizeof(ip)) == NULL || (len != 4 && len != 16))
				snprintf(ip, sizeof(ip), "?");
			sb_puts(&b, ip, strlen(ip), NULL);
			continue;
		default:
			sb_puts(&b, "other:?", 7, NULL);
			continue;
		}
		sb_puts(&b, d, (size_t)len, ",");
	}
	return sb_finish(&b, out, err);
}

enum hkms_rc
x509_san_policy(const struct hkms_x509_profile *p, const GENERAL_NAMES *gens,
    struct hkms_err *err)
{
	int i, type;

	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const ASN1_STRING *v = GENERAL_NAME_get0_value(
		    sk_GENERAL_NAME_value(gens, i), &type);
		unsigned bit = type == GEN_DNS ? X509_SAN_DNS :
		    type == GEN_IPADD ? X509_SAN_IP :
		    type == GEN_EMAIL ? X509_SAN_EMAIL :
		    type == GEN_URI ? X509_SAN_URI : 0;
		const char *d = (const char *)ASN1_STRING_get0_data(v);

		if ((p->san_types & bit) == 0)
			return hkms_err_setc(err, HKMS_E_POLICY,
			    "san_not_allowed", "profile '%s' does not allow "
			    "%s SANs", p->name, type == GEN_DNS ? "DNS" :
			    type == GEN_IPADD ? "IP" : type == GEN_EMAIL ?
			    "email" : type == GEN_URI ? "URI" : "other");
		if (type == GEN_DNS && !p->allow_wildcard &&
		    ASN1_STRING_length(v) >= 2 && d[0] == '*' && d[1] == '.')
			return hkms_err_setc(err, HKMS_E_POLICY,
			    "san_not_allowed", "profile '%s' does not allow "
			    "wildcard names", p->name);
	}
	return HKMS_OK;
}
