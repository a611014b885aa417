/*
 * Certificate building: a v3 X509, fully populated and unsigned, for a
 * public key or a CSR under a profile. The profile alone decides the
 * extensions; from a CSR only the subject and the SANs are taken, after
 * the same checks as names typed by an operator (T-POL-1). Serial numbers,
 * validity (clock-skew back-dating, clamping to the issuer) and CA
 * constraints (path length, name constraints) are decided here too.
 * Signing is a separate step (sign.c) so the token layer can retry it.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "x509_int.h"

#define SKEW_SECONDS	60
#define DAY_SECONDS	86400

/* --- serial numbers ----------------------------------------------- */

enum hkms_rc
hkms_x509_serial_new(ASN1_INTEGER **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char b[20];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no output given");
	do {
		if (RAND_bytes(b, sizeof(b)) != 1) {
			rc = hkms_err_crypto(err, "cannot get random bytes "
			    "for a serial number");
			goto out;
		}
		/* 159 random bits: positive, and DER needs no 0x00 pad
		 * octet, so the encoding is at most 20 octets */
		b[0] &= 0x7f;
		BN_free(bn);
		if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
			goto oom;
	} while (BN_is_zero(bn));
	if ((ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto oom;
	*out = ai;
	rc = HKMS_OK;
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	BN_free(bn);
	return rc;
}

enum hkms_rc
hkms_x509_serial_to_hex(const ASN1_INTEGER *serial,
    char out[HKMS_X509_SERIAL_HEX_MAX], struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIGNUM *bn = NULL;
	char *hex = NULL;

	if (serial == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no serial given");
	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL) {
		rc = hkms_err_crypto(err, "cannot convert serial number");
		goto out;
	}
	if (BN_is_negative(bn) || strlen(hex) >= HKMS_X509_SERIAL_HEX_MAX) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "serial number is "
		    "negative or longer than 20 octets");
		goto out;
	}
	memcpy(out, hex, strlen(hex) + 1);
	rc = HKMS_OK;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

enum hkms_rc
hkms_x509_serial_from_hex(const char *hex, ASN1_INTEGER **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char clean[2 * HKMS_X509_SERIAL_HEX_MAX];
	BIGNUM *bn = NULL;
	size_t i, n = 0;

	if (hex == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no serial given");
	for (i = 0; hex[i] != '\0'; i++) {
		if (hex[i] == ':')
			continue;
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f') ||
		    (hex[i] >= 'A' && hex[i] <= 'F')) ||
		    n + 1 >= sizeof(clean)) {
			rc = hkms_err_set(err, HKMS_E_INVALID, "invalid serial "
			    "number '%.64s': hex of 1 to 20 octets expected",
			    hex);
			goto out;
		}
		clean[n++] = hex[i];
	}
	clean[n] = '\0';
	if (n == 0 || BN_hex2bn(&bn, clean) == 0 || BN_is_zero(bn) ||
	    BN_num_bits(bn) > 159) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "invalid serial number "
		    "'%.64s': must be positive and fit 20 octets", hex);
		goto out;
	}
	if ((*out = BN_to_ASN1_INTEGER(bn, NULL)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	rc = HKMS_OK;
out:
	BN_free(bn);
	return rc;
}

/* Positive and at most 20 DER octets (RFC 5280 4.1.2.2). */
static enum hkms_rc
serial_check(const ASN1_INTEGER *serial, struct hkms_err *err)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	int ok = bn != NULL && !BN_is_negative(bn) && !BN_is_zero(bn) &&
	    BN_num_bits(bn) <= 159;

	BN_free(bn);
	if (!ok)
		return hkms_err_set(err, HKMS_E_INVALID, "serial number must "
		    "be positive and fit 20 octets");
	return HKMS_OK;
}

/* --- extension builders ------------------------------------------- */

/* uri with each "{ca}" replaced by ca (NULL: kept as written), a new
 * string (free), NULL if out of memory. The profile's URLs point at this
 * server for every CA: http://pki.example/crl/{ca}.crl. */
static char *
url_expand(const char *uri, const char *ca)
{
	size_t n = strlen(uri) + 1, cl = ca ? strlen(ca) : 0, k = 0;
	const char *p;
	char *out;

	for (p = uri; ca != NULL && (p = strstr(p, "{ca}")) != NULL; p += 4)
		n += cl;
	if ((out = malloc(n)) == NULL)
		return NULL;
	for (p = uri; *p != '\0'; ) {
		if (ca != NULL && strncmp(p, "{ca}", 4) == 0) {
			memcpy(out + k, ca, cl);
			k += cl;
			p += 4;
		} else
			out[k++] = *p++;
	}
	out[k] = '\0';
	return out;
}

static GENERAL_NAME *
uri_name(const char *uri, const char *ca)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	char *u = url_expand(uri, ca);

	if (gn == NULL || s == NULL || u == NULL ||
	    !ASN1_STRING_set(s, u, -1)) {
		free(u);
		GENERAL_NAME_free(gn);
		ASN1_IA5STRING_free(s);
		return NULL;
	}
	free(u);
	GENERAL_NAME_set0_value(gn, GEN_URI, s);
	return gn;
}

static int
add_crldp(X509 *x, char *const *urls, int n, const char *ca)
{
	CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
	DIST_POINT *dp = DIST_POINT_new();
	GENERAL_NAME *gn;
	int i, ok = 0;

	if (dps == NULL || dp == NULL)
		goto out;
	if ((dp->distpoint = DIST_POINT_NAME_new()) == NULL ||
	    (dp->distpoint->name.fullname = GENERAL_NAMES_new()) == NULL)
		goto out;
	dp->distpoint->type = 0;	/* fullName */
	for (i = 0; i < n; i++) {
		if ((gn = uri_name(urls[i], ca)) == NULL)
			goto out;
		if (!sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn)) {
			GENERAL_NAME_free(gn);
			goto out;
		}
	}
	if (!sk_DIST_POINT_push(dps, dp))
		goto out;
	dp = NULL; /* transferred */
	ok = X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0,
	    X509V3_ADD_DEFAULT) == 1;
out:
	DIST_POINT_free(dp);
	CRL_DIST_POINTS_free(dps);
	return ok;
}

static int
add_aia(X509 *x, const struct hkms_x509_profile *p, const char *ca)
{
	AUTHORITY_INFO_ACCESS *aia = sk_ACCESS_DESCRIPTION_new_null();
	ACCESS_DESCRIPTION *ad = NULL;
	int i, ok = 0, n = p->n_aia_ocsp + p->n_aia_ca_issuers;

	if (aia == NULL)
		goto out;
	/* OCSP first, the order every public CA uses */
	for (i = 0; i < n; i++) {
		int ocsp = i < p->n_aia_ocsp;
		const char *u = ocsp ? p->aia_ocsp[i] :
		    p->aia_ca_issuers[i - p->n_aia_ocsp];

		if ((ad = ACCESS_DESCRIPTION_new()) == NULL)
			goto out;
		ASN1_OBJECT_free(ad->method);
		ad->method = OBJ_nid2obj(ocsp ? NID_ad_OCSP :
		    NID_ad_ca_issuers);
		GENERAL_NAME_free(ad->location);
		if ((ad->location = uri_name(u, ca)) == NULL ||
		    !sk_ACCESS_DESCRIPTION_push(aia, ad))
			goto out;
		ad = NULL; /* transferred */
	}
	ok = X509_add1_ext_i2d(x, NID_info_access, aia, 0,
	    X509V3_ADD_DEFAULT) == 1;
out:
	ACCESS_DESCRIPTION_free(ad);
	AUTHORITY_INFO_ACCESS_free(aia);
	return ok;
}

/* One name-constraint subtree from "example.com" / ".example.com" or a
 * CIDR "10.0.0.0/8", "fd00::/8". */
static enum hkms_rc
nc_subtree(const char *s, int ip, GENERAL_SUBTREE **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	GENERAL_SUBTREE *st = NULL;
	ASN1_OCTET_STRING *os = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	struct hkms_x509_cidr cidr;
	unsigned char buf[32];
	int alen, i;

	if ((st = GENERAL_SUBTREE_new()) == NULL)
		goto oom;
	if (!ip) {
		const char *d = s[0] == '.' ? s + 1 : s;

		if (hkms_x509_dns_check(d, strlen(d), 0, NULL) != HKMS_OK) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_name_constraint", "invalid DNS name "
			    "constraint '%.64s'", s);
			goto out;
		}
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, s, -1))
			goto oom;
		GENERAL_NAME_set0_value(st->base, GEN_DNS, ia5);
		ia5 = NULL; /* transferred */
		goto done;
	}
	/* the one CIDR parser; a name constraint needs the prefix and no
	 * host bits (RFC 5280 4.2.1.10: address + mask) */
	if (hkms_x509_cidr_parse(s, HKMS_X509_CIDR_STRICT |
	    HKMS_X509_CIDR_PREFIX, &cidr, NULL) != HKMS_OK)
		goto badip;
	alen = cidr.len;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, cidr.addr, (size_t)alen);
	for (i = 0; i < alen; i++) {
		int bits = cidr.bits - i * 8;

		buf[alen + i] = bits >= 8 ? 0xff : bits <= 0 ? 0 :
		    (unsigned char)(0xff << (8 - bits));
	}
	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, buf, alen * 2))
		goto oom;
	GENERAL_NAME_set0_value(st->base, GEN_IPADD, os);
	os = NULL; /* transferred */
done:
	*out = st;
	st = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
badip:
	rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_name_constraint",
	    "invalid IP name constraint '%.64s': CIDR like 10.0.0.0/8 "
	    "expected", s);
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	GENERAL_SUBTREE_free(st);
	ASN1_OCTET_STRING_free(os);
	ASN1_IA5STRING_free(ia5);
	return rc;
}

static enum hkms_rc
nc_add(STACK_OF(GENERAL_SUBTREE) **sk, const char *const *v, int ip,
    struct hkms_err *err)
{
	GENERAL_SUBTREE *st = NULL;
	enum hkms_rc rc;

	for (; v != NULL && *v != NULL; v++) {
		if (*sk == NULL && (*sk = sk_GENERAL_SUBTREE_new_null()) ==
		    NULL)
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
		if ((rc = nc_subtree(*v, ip, &st, err)) != HKMS_OK)
			return rc;
		if (!sk_GENERAL_SUBTREE_push(*sk, st)) {
			GENERAL_SUBTREE_free(st);
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
		}
	}
	return HKMS_OK;
}

static int
has_nc(const struct hkms_x509_cert_opts *o)
{
	return (o->permit_dns && o->permit_dns[0]) ||
	    (o->exclude_dns && o->exclude_dns[0]) ||
	    (o->permit_ip && o->permit_ip[0]) ||
	    (o->exclude_ip && o->exclude_ip[0]);
}

static enum hkms_rc
add_nc(X509 *x, const struct hkms_x509_cert_opts *o, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	NAME_CONSTRAINTS *nc = NAME_CONSTRAINTS_new();

	if (nc == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if ((rc = nc_add(&nc->permittedSubtrees, o->permit_dns, 0, err)) !=
	    HKMS_OK ||
	    (rc = nc_add(&nc->permittedSubtrees, o->permit_ip, 1, err)) !=
	    HKMS_OK ||
	    (rc = nc_add(&nc->excludedSubtrees, o->exclude_dns, 0, err)) !=
	    HKMS_OK ||
	    (rc = nc_add(&nc->excludedSubtrees, o->exclude_ip, 1, err)) !=
	    HKMS_OK)
		goto out;
	/* critical: RFC 5280 4.2.1.10 */
	if (X509_add1_ext_i2d(x, NID_name_constraints, nc, 1,
	    X509V3_ADD_DEFAULT) != 1) {
		rc = hkms_err_crypto(err, "cannot add name constraints");
		goto out;
	}
	rc = HKMS_OK;
out:
	NAME_CONSTRAINTS_free(nc);
	return rc;
}

/* --- building ----------------------------------------------------- */

struct plan {
	int64_t now;
	int64_t not_before;
	int64_t not_after;
	int path_len;		/* -1 = none */
	const char *url_ca;	/* {ca} in CRLDP/AIA URLs (opts) */
};

static enum hkms_rc
plan_validity(const struct hkms_x509_profile *p, const X509 *issuer,
    const struct hkms_x509_cert_opts *o, struct plan *pl,
    struct hkms_err *err)
{
	int64_t ib, ia;
	int days = o->days > 0 ? o->days : p->default_days;

	if (o->days < 0 || o->days > X509_PROFILE_MAX_DAYS)
		return hkms_err_set(err, HKMS_E_INVALID, "lifetime of %d days "
		    "is out of range (1..%d)", o->days, X509_PROFILE_MAX_DAYS);
	if (o->days > 0 && p->max_days > 0 && o->days > p->max_days)
		return hkms_err_setc(err, HKMS_E_POLICY,
		    "lifetime_exceeds_profile", "lifetime of %d days exceeds "
		    "the %d allowed by profile '%s'", o->days, p->max_days,
		    p->name);
	/* back-date a minute so a relying party whose clock is slightly
	 * behind ours does not see a not-yet-valid certificate */
	pl->not_before = pl->now - SKEW_SECONDS;
	pl->not_after = pl->now + (int64_t)days * DAY_SECONDS;
	if (issuer == NULL)
		return HKMS_OK;
	if (!x509_time_to_unix(X509_get0_notBefore(issuer), &ib) ||
	    !x509_time_to_unix(X509_get0_notAfter(issuer), &ia))
		return hkms_err_set(err, HKMS_E_INVALID, "issuer certificate "
		    "has an unreadable validity period");
	if (pl->not_before < ib)
		pl->not_before = ib;
	if (pl->not_after > ia) {
		/* an explicit request is an error, the default is clamped */
		if (o->days > 0)
			return hkms_err_setc(err, HKMS_E_POLICY,
			    "lifetime_exceeds_ca", "lifetime of %d days ends "
			    "after the issuing CA expires (in %lld days)",
			    o->days, (long long)((ia - pl->now) /
			    DAY_SECONDS));
		pl->not_after = ia;
	}
	if (pl->not_after <= pl->not_before)
		return hkms_err_setc(err, HKMS_E_POLICY, "ca_expired",
		    "issuing CA has no validity time left");
	return HKMS_OK;
}

static enum hkms_rc
plan_path_len(const struct hkms_x509_profile *p, const X509 *issuer,
    const struct hkms_x509_cert_opts *o, struct plan *pl,
    struct hkms_err *err)
{
	BASIC_CONSTRAINTS *bc = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	long ipl;
	int explicit = o->has_path_len;

	if (!hkms_x509_profile_is_ca(p)) {
		pl->path_len = -1;
		if (explicit || has_nc(o))
			return hkms_err_set(err, HKMS_E_INVALID, "path length "
			    "and name constraints need a CA profile, not "
			    "'%s'", p->name);
		return HKMS_OK;
	}
	if (explicit && (o->path_len < 0 || o->path_len > 32))
		return hkms_err_set(err, HKMS_E_INVALID, "path length %d is "
		    "out of range (0..32)", o->path_len);
	pl->path_len = explicit ? o->path_len : p->bc_path_len;
	if (issuer == NULL)
		return HKMS_OK;
	bc = X509_get_ext_d2i(issuer, NID_basic_constraints, NULL, NULL);
	if (bc == NULL || bc->pathlen == NULL) {
		rc = HKMS_OK;	/* unlimited */
		goto out;
	}
	ipl = ASN1_INTEGER_get(bc->pathlen);
	if (ipl <= 0) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "path_len_exceeded",
		    "issuing CA has path length 0 and cannot issue CA "
		    "certificates");
		goto out;
	}
	if (pl->path_len < 0 || pl->path_len > ipl - 1) {
		if (explicit) {
			rc = hkms_err_setc(err, HKMS_E_POLICY,
			    "path_len_exceeded", "path length %d exceeds the "
			    "%ld the issuing CA allows", pl->path_len,
			    ipl - 1);
			goto out;
		}
		pl->path_len = (int)(ipl - 1);
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	BASIC_CONSTRAINTS_free(bc);
	return rc;
}

static enum hkms_rc
add_profile_exts(X509 *x, EVP_PKEY *pub, const X509 *issuer,
    const struct hkms_x509_profile *p, const struct plan *pl,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	ASN1_OCTET_STRING *ski = NULL, *akid = NULL;
	X509_EXTENSION *ext = NULL;
	ASN1_OBJECT *obj;
	unsigned kumask = p->key_usage;
	int i;

	if (p->bc_present) {
		if ((bc = BASIC_CONSTRAINTS_new()) == NULL)
			goto oom;
		bc->ca = p->bc_ca ? 0xff : 0;
		if (p->bc_ca && pl->path_len >= 0 &&
		    ((bc->pathlen = ASN1_INTEGER_new()) == NULL ||
		    !ASN1_INTEGER_set(bc->pathlen, pl->path_len)))
			goto oom;
		if (X509_add1_ext_i2d(x, NID_basic_constraints, bc,
		    p->bc_critical, X509V3_ADD_DEFAULT) != 1)
			goto crypto;
	}
	/* key transport only exists for RSA (RFC 5480 3, RFC 8813) */
	if (!x509_key_is_rsa(pub))
		kumask &= ~(1u << 2);
	if (kumask != 0) {
		if ((ku = ASN1_BIT_STRING_new()) == NULL)
			goto oom;
		for (i = 0; i < 9; i++)
			if ((kumask & (1u << i)) &&
			    !ASN1_BIT_STRING_set_bit(ku, i, 1))
				goto oom;
		if (X509_add1_ext_i2d(x, NID_key_usage, ku,
		    p->key_usage_critical, X509V3_ADD_DEFAULT) != 1)
			goto crypto;
	}
	if (p->n_eku > 0) {
		if ((eku = sk_ASN1_OBJECT_new_null()) == NULL)
			goto oom;
		for (i = 0; i < p->n_eku; i++) {
			if ((obj = OBJ_txt2obj(p->eku[i], 1)) == NULL)
				goto crypto;
			if (!sk_ASN1_OBJECT_push(eku, obj)) {
				ASN1_OBJECT_free(obj);
				goto oom;
			}
		}
		if (X509_add1_ext_i2d(x, NID_ext_key_usage, eku,
		    p->eku_critical, X509V3_ADD_DEFAULT) != 1)
			goto crypto;
	}
	if (p->ski || (p->aki && issuer == NULL)) {
		/* from the key bits the certificate already holds: encoding
		 * pub again would cost as much as the whole build */
		if ((rc = x509_keyid_bits(X509_get0_pubkey_bitstr(x), &ski,
		    err)) != HKMS_OK)
			goto out;
	}
	if (p->ski && X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto crypto;
	if (p->aki) {
		if (issuer != NULL &&
		    (rc = x509_ca_keyid(issuer, &akid, err)) != HKMS_OK)
			goto out;
		if ((ext = x509_ext_aki(issuer ? akid : ski)) == NULL ||
		    X509_add_ext(x, ext, -1) != 1)
			goto crypto;
	}
	if (p->n_crldp > 0 && !add_crldp(x, p->crldp, p->n_crldp, pl->url_ca))
		goto crypto;
	if (p->n_aia_ocsp + p->n_aia_ca_issuers > 0 &&
	    !add_aia(x, p, pl->url_ca))
		goto crypto;
	rc = HKMS_OK;
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	goto out;
crypto:
	rc = hkms_err_crypto(err, "cannot add certificate extensions");
out:
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	ASN1_OCTET_STRING_free(ski);
	ASN1_OCTET_STRING_free(akid);
	X509_EXTENSION_free(ext);
	return rc;
}

static int
set_time(X509 *x, int64_t t, int after)
{
	ASN1_TIME *at = ASN1_TIME_set(NULL, (time_t)t);
	int ok;

	if (at == NULL)
		return 0;
	ok = after ? X509_set1_notAfter(x, at) : X509_set1_notBefore(x, at);
	ASN1_TIME_free(at);
	return ok;
}

/* The shared path: subject and gens are borrowed and already checked.
 * csr_key: pub is a CSR's public key, set without OpenSSL's decoder round
 * trip (pubkey.c); a caller's own key pair (issue-client's software key)
 * is never copied. */
static enum hkms_rc
build(EVP_PKEY *pub, int csr_key, const X509_NAME *subject,
    const GENERAL_NAMES *gens, const X509 *issuer,
    const struct hkms_x509_profile *p, const struct hkms_x509_cert_opts *o,
    X509 **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct plan pl;
	X509 *x = NULL;
	ASN1_INTEGER *serial = NULL;
	int empty = X509_NAME_entry_count(subject) == 0;

	memset(&pl, 0, sizeof(pl));
	pl.now = o->now != 0 ? o->now : (int64_t)time(NULL);
	pl.url_ca = o->url_ca;
	if ((rc = hkms_x509_check_key(pub, err)) != HKMS_OK)
		goto out;
	if (issuer != NULL &&
	    (rc = x509_check_ca(issuer, 0, pl.now, err)) != HKMS_OK)
		goto out;
	if (empty && (issuer == NULL || gens == NULL)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "a certificate needs a subject%s", issuer ? " or SANs" :
		    "");
		goto out;
	}
	if (gens != NULL && (rc = x509_san_policy(p, gens, err)) != HKMS_OK)
		goto out;
	if ((rc = plan_validity(p, issuer, o, &pl, err)) != HKMS_OK ||
	    (rc = plan_path_len(p, issuer, o, &pl, err)) != HKMS_OK)
		goto out;
	if (o->serial != NULL) {
		if ((rc = serial_check(o->serial, err)) != HKMS_OK)
			goto out;
		serial = ASN1_INTEGER_dup(o->serial);
	} else if ((rc = hkms_x509_serial_new(&serial, err)) != HKMS_OK) {
		goto out;
	}
	if (serial == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((x = X509_new()) == NULL ||
	    X509_set_version(x, X509_VERSION_3) != 1 ||
	    X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_subject_name(x, subject) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    subject) != 1 ||
	    !set_time(x, pl.not_before, 0) || !set_time(x, pl.not_after, 1) ||
	    (csr_key ? x509_set_pubkey(x, pub) : X509_set_pubkey(x, pub)) !=
	    1) {
		rc = hkms_err_crypto(err, "cannot build certificate");
		goto out;
	}
	if ((rc = add_profile_exts(x, pub, issuer, p, &pl, err)) != HKMS_OK)
		goto out;
	/* without a subject the SAN carries the identity: critical
	 * (RFC 5280 4.2.1.6) */
	if (gens != NULL && sk_GENERAL_NAME_num(gens) > 0 &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)gens, empty,
	    X509V3_ADD_DEFAULT) != 1) {
		rc = hkms_err_crypto(err, "cannot add subjectAltName");
		goto out;
	}
	if (has_nc(o) && (rc = add_nc(x, o, err)) != HKMS_OK)
		goto out;
	*out = x;
	x = NULL; /* transferred */
	rc = HKMS_OK;
out:
	ASN1_INTEGER_free(serial);
	X509_free(x);
	return rc;
}

/* Subject and SANs from opts (parsed or copied and checked). */
static enum hkms_rc
opts_names(const struct hkms_x509_cert_opts *o, X509_NAME **subject,
    GENERAL_NAMES **gens, struct hkms_err *err)
{
	enum hkms_rc rc;

	if (o->subject != NULL && o->subject_name != NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "give subject or "
		    "subject_name, not both");
	if (o->san != NULL && o->san_names != NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "give san or "
		    "san_names, not both");
	if (o->subject != NULL &&
	    (rc = hkms_x509_name_parse(o->subject, subject, err)) != HKMS_OK)
		return rc;
	if (o->subject_name != NULL) {
		if ((rc = hkms_x509_name_check(o->subject_name, err)) !=
		    HKMS_OK)
			return rc;
		if ((*subject = X509_NAME_dup(o->subject_name)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
	}
	if (o->san != NULL && *o->san != '\0' &&
	    (rc = hkms_x509_san_parse(o->san, gens, err)) != HKMS_OK)
		return rc;
	if (o->san_names != NULL) {
		if ((rc = hkms_x509_san_check(o->san_names, err)) != HKMS_OK)
			return rc;
		if ((*gens = sk_GENERAL_NAME_deep_copy(o->san_names,
		    GENERAL_NAME_dup, GENERAL_NAME_free)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
	}
	return HKMS_OK;
}

enum hkms_rc
hkms_x509_cert_build(EVP_PKEY *subject_key, const X509 *issuer,
    const struct hkms_x509_profile *profile,
    const struct hkms_x509_cert_opts *opts, X509 **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_NAME *subject = NULL;
	GENERAL_NAMES *gens = NULL;

	if (subject_key == NULL || profile == NULL || opts == NULL ||
	    out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "certificate build");
		goto out;
	}
	*out = NULL;
	if ((rc = opts_names(opts, &subject, &gens, err)) != HKMS_OK)
		goto out;
	if (subject == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_subject",
		    "no subject given");
		goto out;
	}
	rc = build(subject_key, 0, subject, gens, issuer, profile, opts, out,
	    err);
out:
	X509_NAME_free(subject);
	GENERAL_NAMES_free(gens);
	return rc;
}

enum hkms_rc
hkms_x509_cert_build_from_csr(X509_REQ *csr, const X509 *issuer,
    const struct hkms_x509_profile *profile,
    const struct hkms_x509_cert_opts *opts, X509 **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_NAME *subject = NULL;
	GENERAL_NAMES *gens = NULL;
	const X509_NAME *csr_subject;

	if (csr == NULL || issuer == NULL || profile == NULL ||
	    opts == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "certificate build");
		goto out;
	}
	*out = NULL;
	if (!opts->csr_verified && (rc = hkms_x509_csr_verify(csr, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = opts_names(opts, &subject, &gens, err)) != HKMS_OK)
		goto out;
	if (subject == NULL) {
		if (!profile->allow_subject_from_csr) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "invalid_subject", "profile '%s' needs an "
			    "explicit subject", profile->name);
			goto out;
		}
		csr_subject = X509_REQ_get_subject_name(csr);
		if ((rc = hkms_x509_name_check(csr_subject, err)) != HKMS_OK)
			goto out;
		if ((subject = X509_NAME_dup(csr_subject)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	/* SANs from the CSR only when none were given and the profile
	 * allows it; nothing else of the CSR's extensions is ever used */
	if (gens == NULL && opts->san == NULL && opts->san_names == NULL &&
	    profile->allow_san_from_csr) {
		if ((rc = hkms_x509_csr_get_san(csr, &gens, err)) != HKMS_OK)
			goto out;
		if (gens != NULL &&
		    (rc = hkms_x509_san_check(gens, err)) != HKMS_OK)
			goto out;
	}
	rc = build(X509_REQ_get0_pubkey(csr), 1, subject, gens, issuer,
	    profile, opts, out, err);
out:
	X509_NAME_free(subject);
	GENERAL_NAMES_free(gens);
	return rc;
}
