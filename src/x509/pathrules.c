/*
 * Path rules (issue 14b): the checks of RFC 5280 and of the CA/Browser
 * Forum profile that OpenSSL's verifier does not make, run over the path
 * OpenSSL has built and accepted (verify.c). OpenSSL still builds the
 * path and checks signatures, validity, path length, name constraints of
 * each name form it knows and, with X509_V_FLAG_X509_STRICT, a first set
 * of RFC 5280 rules; its errors are named with the same rule names
 * (hkms_certio_openssl_rule) so that a verdict always says which rule
 * broke. The table of rules, and where the profiles differ, is in
 * docs/truststore.md ("Path rules"); each rule has a chain in
 * tests/pathval/pathgen.c.
 *
 * Depths follow OpenSSL's: the leaf is depth 0, the anchor depth n - 1.
 * The anchor is trusted as a name and a key (RFC 5280 section 6.1.1 (d)):
 * only its key strength and its name constraints are checked here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

#include "hkms/certio.h"

struct rule_ctx {
	STACK_OF(X509) *chain;
	int n;
	enum hkms_certio_profile profile;
	enum hkms_certio_purpose purpose;
	const char *host;
	int max_depth;
	int depth;	/* out */
	char *msg;
	size_t msgn;
};

#define WEBPKI(c) ((c)->profile == HKMS_CERTIO_PROFILE_WEBPKI)

static const char *fail(struct rule_ctx *c, int depth, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static const char *
fail(struct rule_ctx *c, int depth, const char *rule, const char *fmt, ...)
{
	va_list ap;

	c->depth = depth;
	if (c->msg != NULL && c->msgn > 0) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->msgn, fmt, ap);
		va_end(ap);
	}
	return rule;
}

static int
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i));
}

static int
has_ext(X509 *x, int nid)
{
	return X509_get_ext_by_NID(x, nid, -1) >= 0;
}

static int
is_ca(X509 *x)
{
	uint32_t f = X509_get_extension_flags(x);

	return (f & EXFLAG_BCONS) != 0 && (f & EXFLAG_CA) != 0;
}

/* RFC 5280 4.1.2.1: extensions need v3; the CA/B profile (and
 * rustls-webpki, cert.rs version3) takes v3 only */
static const char *
rule_version(struct rule_ctx *c, X509 *x, int d)
{
	long v = X509_get_version(x);

	if (v == X509_VERSION_3)
		return NULL;
	if (WEBPKI(c))
		return fail(c, d, "version_v3", "certificate is version %s, "
		    "the profile takes version 3 only", v == 0 ? "1" : "2");
	if (X509_get_ext_count(x) > 0)
		return fail(c, d, "version_v3", "certificate has extensions "
		    "but is not version 3");
	return NULL;
}

/* RFC 5280 4.1.2.2: positive, at most 20 octets; rfc5280 handles
 * negative and zero serials "gracefully" (accepts them), as the RFC
 * asks of users */
static const char *
rule_serial(struct rule_ctx *c, X509 *x, int d)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s), i, zero = 1, octets;

	for (i = 0; i < len; i++)
		if (p[i] != 0)
			zero = 0;
	octets = len + (len > 0 && (p[0] & 0x80) != 0 ? 1 : 0);
	if (octets > 20)
		return fail(c, d, "serial_number", "serial number is longer "
		    "than 20 octets");
	if (!WEBPKI(c))
		return NULL;
	if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER)
		return fail(c, d, "serial_number", "serial number is "
		    "negative");
	if (zero)
		return fail(c, d, "serial_number", "serial number is zero");
	return NULL;
}

/* MD5 and SHA-1 signatures never; webpki: the algorithms of
 * rustls-webpki (RSA PKCS#1 and PSS with SHA-256/384/512, ECDSA with
 * SHA-256/384/512, Ed25519) */
static const char *
rule_sigalg(struct rule_ctx *c, X509 *x, int d)
{
	int mdnid = NID_undef, pknid = NID_undef, secbits = 0;
	uint32_t flags = 0;
	const char *sn;

	sn = OBJ_nid2sn(X509_get_signature_nid(x));
	if (!X509_get_signature_info(x, &mdnid, &pknid, &secbits, &flags))
		return fail(c, d, "signature_algorithm", "signature "
		    "algorithm %s is not known", sn);
	if (mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_md4 ||
	    mdnid == NID_md2 || mdnid == NID_md5_sha1)
		return fail(c, d, "signature_algorithm", "signature "
		    "algorithm %s is forbidden (MD5, SHA-1)", sn);
	if (!WEBPKI(c))
		return NULL;
	if (pknid == NID_ED25519)
		return NULL;
	if ((pknid == EVP_PKEY_RSA || pknid == EVP_PKEY_RSA_PSS ||
	    pknid == EVP_PKEY_EC) && (mdnid == NID_sha256 ||
	    mdnid == NID_sha384 || mdnid == NID_sha512))
		return NULL;
	return fail(c, d, "signature_algorithm", "signature algorithm %s "
	    "is not in the profile (RSA, ECDSA with SHA-256/384/512, "
	    "Ed25519)", sn);
}

/* RSA >= 2048 everywhere; webpki: e >= 65537 and odd, EC only on
 * P-256, P-384, P-521, no DSA */
static const char *
rule_key(struct rule_ctx *c, X509 *x, int d)
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	char group[64] = "";
	BIGNUM *e = NULL;
	const char *r = NULL;
	int id;

	if (pk == NULL)
		return fail(c, d, "weak_key", "public key does not "
		    "parse");
	id = EVP_PKEY_get_base_id(pk);
	if (id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS) {
		if (EVP_PKEY_get_bits(pk) < 2048)
			return fail(c, d, "weak_key", "RSA key is shorter "
			    "than 2048 bits");
		if (!WEBPKI(c))
			return NULL;
		if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) ||
		    !BN_is_odd(e) || BN_num_bits(e) < 17)
			r = fail(c, d, "weak_key", "RSA public exponent is "
			    "not an odd number >= 65537");
		BN_free(e);
		return r;
	}
	if (id == EVP_PKEY_EC) {
		if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), NULL))
			return fail(c, d, "weak_key", "EC key has explicit "
			    "curve parameters");
		if (!WEBPKI(c))
			return NULL;
		if (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, "P-256") != 0 &&
		    strcmp(group, "secp384r1") != 0 &&
		    strcmp(group, "P-384") != 0 &&
		    strcmp(group, "secp521r1") != 0 &&
		    strcmp(group, "P-521") != 0)
			return fail(c, d, "weak_key", "EC curve %s is not "
			    "P-256, P-384 or P-521", group);
		return NULL;
	}
	if (id == EVP_PKEY_DSA && WEBPKI(c))
		return fail(c, d, "weak_key", "DSA keys are not in the "
		    "profile");
	return NULL;
}

/* RFC 5280 4.2.1.1: AKI with a key identifier in every certificate but
 * the self-signed anchor, never critical */
static const char *
rule_aki(struct rule_ctx *c, X509 *x, int d)
{
	/* a v1 certificate has no extensions to carry it (rule_version
	 * decides whether v1 is taken at all) */
	if (X509_get_version(x) != X509_VERSION_3)
		return NULL;
	if (X509_get0_authority_key_id(x) == NULL)
		return fail(c, d, "authority_key_identifier", "certificate "
		    "has no authority key identifier");
	if (ext_critical(x, NID_authority_key_identifier))
		return fail(c, d, "authority_key_identifier", "authority key "
		    "identifier is critical");
	return NULL;
}

/* a CA below the anchor: basic constraints present with cA, critical
 * (4.2.1.9); key usage present with keyCertSign (4.2.1.3); SKI
 * (4.2.1.2); pathLenConstraint; the EKU, if any, covers the purpose */
static const char *
rule_ca(struct rule_ctx *c, X509 *x, int d)
{
	uint32_t ku = X509_get_key_usage(x);
	long pathlen;

	if (!is_ca(x))
		return fail(c, d, "ca_basic_constraints", "issuer has no "
		    "basic constraints with cA true");
	if (!ext_critical(x, NID_basic_constraints))
		return fail(c, d, "ca_basic_constraints_critical", "issuer's "
		    "basic constraints are not critical");
	if (!has_ext(x, NID_key_usage))
		return fail(c, d, "ca_key_usage", "issuer has no key "
		    "usage");
	if ((ku & KU_KEY_CERT_SIGN) == 0)
		return fail(c, d, "ca_key_usage", "issuer's key usage lacks "
		    "keyCertSign");
	if (X509_get0_subject_key_id(x) == NULL)
		return fail(c, d, "subject_key_identifier", "issuer has no "
		    "subject key identifier");
	pathlen = X509_get_pathlen(x);
	if (pathlen >= 0 && d - 1 > pathlen)
		return fail(c, d, "path_len_constraint", "more intermediates "
		    "below the issuer than its pathLenConstraint allows");
	return NULL;
}

static int
eku_has(X509 *x, enum hkms_certio_purpose p, int any_ok)
{
	uint32_t xku = X509_get_extended_key_usage(x);
	uint32_t want = p == HKMS_CERTIO_PURPOSE_SERVER ? XKU_SSL_SERVER :
	    XKU_SSL_CLIENT;

	if ((xku & want) != 0)
		return 1;
	return any_ok && (xku & XKU_ANYEKU) != 0;
}

/* EKU present on the leaf (webpki, BR 7.1.2.7.10), holding the purpose
 * (webpki: exactly, not through anyExtendedKeyUsage), and on every CA
 * that has one (consistent down the chain) */
static const char *
rule_eku(struct rule_ctx *c, X509 *x, int d)
{
	if (c->purpose == HKMS_CERTIO_PURPOSE_ANY)
		return NULL;
	if (!has_ext(x, NID_ext_key_usage)) {
		if (d == 0 && WEBPKI(c))
			return fail(c, d, "eku_required", "leaf has no "
			    "extended key usage");
		return NULL;
	}
	if (!eku_has(x, c->purpose, !WEBPKI(c) || d > 0))
		return fail(c, d, "eku_purpose", "extended key usage lacks "
		    "%s", c->purpose == HKMS_CERTIO_PURPOSE_SERVER ?
		    "serverAuth" : "clientAuth");
	return NULL;
}

/* the leaf: not a CA (webpki; rustls-webpki CaUsedAsEndEntity), no
 * keyCertSign unless a CA, digitalSignature for TLS (webpki: EC and
 * EdDSA keys sign; an RSA server key may instead keyEncipherment), SANs
 * (webpki server; and whenever a host is asked, since names come only
 * from SANs) */
static const char *
rule_leaf(struct rule_ctx *c, X509 *x)
{
	uint32_t ku = X509_get_key_usage(x);
	int rsa, id;

	if (WEBPKI(c) && c->n > 1 && is_ca(x))
		return fail(c, 0, "leaf_not_ca", "leaf has basic constraints "
		    "with cA true");
	if (!is_ca(x) && has_ext(x, NID_key_usage) &&
	    (ku & KU_KEY_CERT_SIGN) != 0)
		return fail(c, 0, "leaf_key_usage", "leaf is not a CA but "
		    "its key usage has keyCertSign");
	if (WEBPKI(c) && c->purpose != HKMS_CERTIO_PURPOSE_ANY &&
	    has_ext(x, NID_key_usage)) {
		id = X509_get0_pubkey(x) != NULL ?
		    EVP_PKEY_get_base_id(X509_get0_pubkey(x)) : 0;
		rsa = id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS;
		if ((ku & KU_DIGITAL_SIGNATURE) == 0 && !(rsa &&
		    c->purpose == HKMS_CERTIO_PURPOSE_SERVER &&
		    (ku & KU_KEY_ENCIPHERMENT) != 0))
			return fail(c, 0, "leaf_key_usage", "leaf's key "
			    "usage lacks digitalSignature");
	}
	if (!has_ext(x, NID_subject_alt_name) && ((c->host != NULL &&
	    c->host[0] != '\0') || (WEBPKI(c) &&
	    c->purpose == HKMS_CERTIO_PURPOSE_SERVER)))
		return fail(c, 0, "san_required", "leaf has no subject "
		    "alternative name (names come only from SANs, never "
		    "from the common name)");
	return NULL;
}

static int
nc_form_known(const GENERAL_NAME *g)
{
	switch (g->type) {
	case GEN_DNS: case GEN_EMAIL: case GEN_URI: case GEN_IPADD:
	case GEN_DIRNAME:
		return 1;
	}
	return 0;
}

/* name constraints of a form no verifier here checks (otherName,
 * registeredID, x400Address, ediPartyName): refused when critical, as
 * RFC 5280 4.2 asks of an extension that cannot be processed */
static const char *
rule_nc_forms(struct rule_ctx *c, X509 *x, int d)
{
	NAME_CONSTRAINTS *nc;
	GENERAL_SUBTREE *st;
	const char *r = NULL;
	int i, crit = 0;

	nc = X509_get_ext_d2i(x, NID_name_constraints, &crit, NULL);
	if (nc == NULL)
		return NULL;
	for (i = 0; r == NULL && i < sk_GENERAL_SUBTREE_num(
	    nc->permittedSubtrees); i++) {
		st = sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, i);
		if (!nc_form_known(st->base) && crit)
			r = "permitted";
	}
	for (i = 0; r == NULL && i < sk_GENERAL_SUBTREE_num(
	    nc->excludedSubtrees); i++) {
		st = sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, i);
		if (!nc_form_known(st->base) && crit)
			r = "excluded";
	}
	NAME_CONSTRAINTS_free(nc);
	if (r != NULL)
		return fail(c, d, "name_constraints_form", "critical name "
		    "constraints have a %s subtree of a name form that "
		    "cannot be checked", r);
	return NULL;
}

int
hkms_certio_profile_max_depth(enum hkms_certio_profile p)
{
	switch (p) {
	case HKMS_CERTIO_PROFILE_WEBPKI: return 7;
	case HKMS_CERTIO_PROFILE_RFC5280: return 32;
	case HKMS_CERTIO_PROFILE_OPENSSL: break;
	}
	return 100;
}

const char *
hkms_certio_profile_name(enum hkms_certio_profile p)
{
	switch (p) {
	case HKMS_CERTIO_PROFILE_WEBPKI: return "webpki";
	case HKMS_CERTIO_PROFILE_RFC5280: return "rfc5280";
	case HKMS_CERTIO_PROFILE_OPENSSL: break;
	}
	return "openssl";
}

enum hkms_rc
hkms_certio_profile_parse(const char *name, enum hkms_certio_purpose purpose,
    enum hkms_certio_profile *out, struct hkms_err *err)
{
	if (name == NULL || name[0] == '\0')
		*out = purpose == HKMS_CERTIO_PURPOSE_SERVER ?
		    HKMS_CERTIO_PROFILE_WEBPKI : HKMS_CERTIO_PROFILE_RFC5280;
	else if (strcmp(name, "webpki") == 0)
		*out = HKMS_CERTIO_PROFILE_WEBPKI;
	else if (strcmp(name, "rfc5280") == 0)
		*out = HKMS_CERTIO_PROFILE_RFC5280;
	else if (strcmp(name, "openssl") == 0)
		*out = HKMS_CERTIO_PROFILE_OPENSSL;
	else
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_profile",
		    "unknown profile '%s': use rfc5280, webpki or openssl",
		    name);
	return HKMS_OK;
}

const char *
hkms_certio_path_rules(STACK_OF(X509) *chain, enum hkms_certio_profile profile,
    enum hkms_certio_purpose purpose, const char *host, int max_depth,
    int *depth, char *msg, size_t n)
{
	struct rule_ctx c;
	const char *r = NULL;
	X509 *x;
	int i;

	memset(&c, 0, sizeof(c));
	c.chain = chain;
	c.n = sk_X509_num(chain);
	c.profile = profile;
	c.purpose = purpose;
	c.host = host;
	c.max_depth = max_depth > 0 ? max_depth :
	    hkms_certio_profile_max_depth(profile);
	c.msg = msg;
	c.msgn = n;
	if (msg != NULL && n > 0)
		msg[0] = '\0';
	if (profile == HKMS_CERTIO_PROFILE_OPENSSL || c.n <= 0)
		goto out;
	if (c.n - 1 > c.max_depth) {
		c.depth = c.n - 1;
		if (msg != NULL)
			snprintf(msg, n, "the anchor is at depth %d, deeper "
			    "than max_depth %d", c.n - 1, c.max_depth);
		r = "max_depth";
		goto out;
	}
	/* a self-signed leaf that is itself the anchor: nothing to check
	 * but the key */
	for (i = 0; r == NULL && i < c.n; i++) {
		x = sk_X509_value(chain, i);
		if ((r = rule_key(&c, x, i)) != NULL)
			break;
		if (i == c.n - 1 && c.n > 1) {
			r = rule_nc_forms(&c, x, i);
			break;
		}
		if (c.n == 1)
			break;
		if ((r = rule_version(&c, x, i)) != NULL ||
		    (r = rule_serial(&c, x, i)) != NULL ||
		    (r = rule_sigalg(&c, x, i)) != NULL ||
		    (r = rule_aki(&c, x, i)) != NULL ||
		    (i > 0 && (r = rule_ca(&c, x, i)) != NULL) ||
		    (i > 0 && (r = rule_nc_forms(&c, x, i)) != NULL) ||
		    (i == 0 && (r = rule_leaf(&c, x)) != NULL) ||
		    (r = rule_eku(&c, x, i)) != NULL)
			break;
	}
out:
	if (depth != NULL)
		*depth = c.depth;
	return r;
}

static const struct {
	int err;
	const char *rule;
} openssl_rules[] = {
	{ X509_V_ERR_CERT_HAS_EXPIRED, "validity" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "validity" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "validity" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "validity" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, "host_name" },
	{ X509_V_ERR_IP_ADDRESS_MISMATCH, "host_name" },
	{ X509_V_ERR_EMAIL_MISMATCH, "host_name" },
	{ X509_V_ERR_INVALID_PURPOSE, "eku_purpose" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_len_constraint" },
	{ X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA, "path_len_constraint" },
	{ X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN,
	    "path_len_constraint" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "max_depth" },
	{ X509_V_ERR_PERMITTED_VIOLATION, "name_constraints" },
	{ X509_V_ERR_EXCLUDED_VIOLATION, "name_constraints" },
	{ X509_V_ERR_SUBTREE_MINMAX, "name_constraints" },
	{ X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE, "name_constraints_form" },
	{ X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX, "name_constraints_form" },
	{ X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "name_constraints_form" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "trust_anchor" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, "trust_anchor" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, "trust_anchor" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "trust_anchor" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "trust_anchor" },
	{ X509_V_ERR_CERT_UNTRUSTED, "trust_anchor" },
	{ X509_V_ERR_CERT_REJECTED, "trust_anchor" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, "signature" },
	{ X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE, "signature" },
	{ X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, "signature" },
	{ X509_V_ERR_INVALID_CA, "ca_basic_constraints" },
	{ X509_V_ERR_INVALID_NON_CA, "ca_basic_constraints" },
	{ X509_V_ERR_CA_BCONS_NOT_CRITICAL, "ca_basic_constraints_critical" },
	{ X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "ca_key_usage" },
	{ X509_V_ERR_CA_CERT_MISSING_KEY_USAGE, "ca_key_usage" },
	{ X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA, "leaf_key_usage" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL, "weak_key" },
	{ X509_V_ERR_EC_KEY_EXPLICIT_PARAMS, "weak_key" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "signature_algorithm" },
	{ X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY,
	    "signature_algorithm" },
	{ X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM, "signature_algorithm" },
	{ X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER,
	    "authority_key_identifier" },
	{ X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL,
	    "authority_key_identifier" },
	{ X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER,
	    "subject_key_identifier" },
	{ X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL,
	    "subject_key_identifier" },
	{ X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3, "version_v3" },
	{ X509_V_ERR_ISSUER_NAME_EMPTY, "names_present" },
	{ X509_V_ERR_SUBJECT_NAME_EMPTY, "names_present" },
	{ X509_V_ERR_EMPTY_SUBJECT_ALT_NAME, "names_present" },
	{ X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL, "names_present" },
	{ X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION, "critical_extensions" },
	{ X509_V_ERR_INVALID_EXTENSION, "extensions_well_formed" },
	{ X509_V_ERR_INVALID_POLICY_EXTENSION, "certificate_policies" },
	{ X509_V_ERR_NO_EXPLICIT_POLICY, "certificate_policies" },
	{ X509_V_ERR_CERT_REVOKED, "revocation" },
};

const char *
hkms_certio_openssl_rule(int e)
{
	size_t i;

	for (i = 0; i < sizeof(openssl_rules) / sizeof(openssl_rules[0]); i++)
		if (openssl_rules[i].err == e)
			return openssl_rules[i].rule;
	return "openssl";
}
