/*
 * Host names, CIDR ranges and name constraints (include/hkms/x509.h):
 * the one CIDR parser of hkms, RFC 5280 dNSName/iPAddress matching, and
 * the check of a certificate against the name constraints of its chain,
 * made at issue time so that a request outside them is refused instead of
 * producing a certificate that fails verification later. The DNS name
 * validator is hkms_x509_dns_check() in name.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/x509v3.h>

#include "hkms/x509.h"

#include "x509_int.h"

/* ---- CIDR ---------------------------------------------------------- */

enum hkms_rc
hkms_x509_cidr_parse(const char *s, int flags, struct hkms_x509_cidr *c,
    struct hkms_err *err)
{
	char buf[64], *slash, *end;
	long bits;
	int i;

	if (c == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	memset(c, 0, sizeof(*c));
	if (s == NULL || strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	else if (flags & HKMS_X509_CIDR_PREFIX)
		goto bad;
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		c->len = 4;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		c->len = 16;
	} else
		goto bad;
	c->bits = c->len * 8;
	if (slash != NULL) {
		/* digits only: no sign, no space, no "0x" */
		if (slash[1] < '0' || slash[1] > '9')
			goto bad;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > c->len * 8)
			goto bad;
		c->bits = (int)bits;
	}
	for (i = c->bits; (flags & HKMS_X509_CIDR_STRICT) && i < c->len * 8;
	    i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8))) {
			memset(c, 0, sizeof(*c));
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_cidr", "CIDR '%.64s' has host bits set "
			    "after the prefix", s);
		}
	return HKMS_OK;
bad:
	memset(c, 0, sizeof(*c));
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_cidr",
	    "invalid CIDR '%.64s' (like 10.0.0.0/8 or fd00::/8)",
	    s ? s : "");
}

int
hkms_x509_cidr_contains(const struct hkms_x509_cidr *c,
    const unsigned char *ip, size_t len)
{
	int i;

	if (c == NULL || ip == NULL || c->len == 0 || len != (size_t)c->len)
		return 0;
	for (i = 0; i < c->bits; i++)
		if ((c->addr[i / 8] ^ ip[i / 8]) & (0x80 >> (i % 8)))
			return 0;
	return 1;
}

/* ---- host names ---------------------------------------------------- */

int
hkms_x509_nc_dns_match(const char *name, const char *base)
{
	size_t n, bl;

	if (name == NULL || base == NULL)
		return 0;
	n = strlen(name);
	bl = strlen(base);
	if (bl == 0)
		return 1;
	if (n > bl) {
		if (base[0] != '.' && name[n - bl - 1] != '.')
			return 0;
		return strcasecmp(name + n - bl, base) == 0;
	}
	return strcasecmp(name, base) == 0;
}

int
hkms_x509_cn_hostname(const X509_NAME *name, char *buf, size_t size)
{
	int i;
	unsigned char *u = NULL;
	const char *p;
	int len;

	if (name == NULL || buf == NULL || size == 0 ||
	    (i = X509_NAME_get_index_by_NID(name, NID_commonName, -1)) < 0)
		return 0;
	len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(
	    X509_NAME_get_entry(name, i)));
	if (len <= 0 || (size_t)len >= size || memchr(u, '\0', (size_t)len)) {
		OPENSSL_free(u);
		return 0;
	}
	memcpy(buf, u, (size_t)len);
	buf[len] = '\0';
	OPENSSL_free(u);
	/* as verifiers do: a CN with a dot and only LDH labels (optionally
	 * "*." first) is a host name */
	p = strncmp(buf, "*.", 2) == 0 ? buf + 2 : buf;
	return strchr(p, '.') != NULL &&
	    hkms_x509_dns_check(p, strlen(p), 0, NULL) == HKMS_OK;
}

/* ---- name constraints ---------------------------------------------- */

static int
nc_dns_base(const char *name, const ASN1_IA5STRING *base)
{
	char b[256];

	if (base->length <= 0)
		return 1;
	if ((size_t)base->length >= sizeof(b) ||
	    memchr(base->data, '\0', (size_t)base->length) != NULL)
		return 0;
	memcpy(b, base->data, (size_t)base->length);
	b[base->length] = '\0';
	return hkms_x509_nc_dns_match(name, b);
}

/* An iPAddress subtree is address + mask (8 or 32 octets). */
static int
nc_ip_match(const ASN1_OCTET_STRING *ip, const ASN1_OCTET_STRING *base)
{
	int i, l = ip->length;

	if (base->length != 2 * l)
		return 0;
	for (i = 0; i < l; i++)
		if ((ip->data[i] & base->data[l + i]) !=
		    (base->data[i] & base->data[l + i]))
			return 0;
	return 1;
}

/* 1 if there is a subtree of type in st; *match: one of them matches. */
static int
nc_scan(STACK_OF(GENERAL_SUBTREE) *st, int type, const char *dns,
    const ASN1_OCTET_STRING *ip, int *match)
{
	int i, any = 0;

	*match = 0;
	for (i = 0; i < sk_GENERAL_SUBTREE_num(st); i++) {
		GENERAL_NAME *b = sk_GENERAL_SUBTREE_value(st, i)->base;

		if (b->type != type)
			continue;
		any = 1;
		if (type == GEN_DNS && nc_dns_base(dns, b->d.dNSName))
			*match = 1;
		if (type == GEN_IPADD && nc_ip_match(ip, b->d.iPAddress))
			*match = 1;
	}
	return any;
}

static enum hkms_rc
nc_refuse(struct hkms_err *err, const char *what, X509 *ca, const char *why)
{
	char cn[128] = "?";

	X509_NAME_get_text_by_NID(X509_get_subject_name(ca), NID_commonName,
	    cn, sizeof(cn));
	return hkms_err_setc(err, HKMS_E_POLICY, "policy_violation",
	    "%s is outside the name constraints of CA '%s' (%s)", what, cn,
	    why);
}

static enum hkms_rc
nc_name(NAME_CONSTRAINTS *nc, X509 *ca, int type, const char *dns,
    const ASN1_OCTET_STRING *ip, struct hkms_err *err)
{
	char what[320], txt[INET6_ADDRSTRLEN];
	int m;

	if (type == GEN_DNS)
		snprintf(what, sizeof(what), "dns name '%s'", dns);
	else {
		if ((ip->length != 4 && ip->length != 16) ||
		    inet_ntop(ip->length == 4 ? AF_INET : AF_INET6, ip->data,
		    txt, sizeof(txt)) == NULL)
			snprintf(txt, sizeof(txt), "?");
		snprintf(what, sizeof(what), "ip address '%s'", txt);
	}
	if (nc_scan(nc->permittedSubtrees, type, dns, ip, &m) && !m)
		return nc_refuse(err, what, ca, "not in a permitted subtree");
	if (nc_scan(nc->excludedSubtrees, type, dns, ip, &m) && m)
		return nc_refuse(err, what, ca, "in an excluded subtree");
	return HKMS_OK;
}

static enum hkms_rc
nc_one(NAME_CONSTRAINTS *nc, X509 *ca, X509 *x, int is_leaf,
    struct hkms_err *err)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL,
	    NULL);
	enum hkms_rc rc = HKMS_OK;
	char buf[256];
	int i, v;

	if (is_leaf && hkms_x509_cn_hostname(X509_get_subject_name(x), buf,
	    sizeof(buf)))
		rc = nc_name(nc, ca, GEN_DNS, buf, NULL, err);
	for (i = 0; rc == HKMS_OK && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int len;

		if (g->type == GEN_DNS) {
			len = ASN1_STRING_length(g->d.dNSName);
			if (len <= 0 || (size_t)len >= sizeof(buf))
				continue;
			memcpy(buf, ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)len);
			buf[len] = '\0';
			rc = nc_name(nc, ca, GEN_DNS, buf, NULL, err);
		} else if (g->type == GEN_IPADD)
			rc = nc_name(nc, ca, GEN_IPADD, NULL, g->d.iPAddress,
			    err);
	}
	GENERAL_NAMES_free(gens);
	if (rc != HKMS_OK)
		return rc;
	/* and OpenSSL's own verdict, for every other name type (email,
	 * directory names) exactly as a verifier will judge it */
	v = NAME_CONSTRAINTS_check(x, nc);
	if (v == X509_V_OK && is_leaf)
		v = NAME_CONSTRAINTS_check_CN(x, nc);
	if (v != X509_V_OK)
		return nc_refuse(err, "the certificate", ca,
		    X509_verify_cert_error_string(v));
	return HKMS_OK;
}

enum hkms_rc
hkms_x509_nc_check(STACK_OF(X509) *chain, X509 *x, int is_leaf,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	int i;

	if (x == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no certificate given");
	for (i = 0; rc == HKMS_OK && i < sk_X509_num(chain); i++) {
		X509 *ca = sk_X509_value(chain, i);
		NAME_CONSTRAINTS *nc = X509_get_ext_d2i(ca,
		    NID_name_constraints, NULL, NULL);

		if (nc == NULL)
			continue;
		rc = nc_one(nc, ca, x, is_leaf, err);
		NAME_CONSTRAINTS_free(nc);
	}
	return rc;
}
