/*
 * Digests and key policy. Every key hkms certifies or signs with passes
 * hkms_x509_check_key first, so a weak key is refused before any token call
 * (T-CRY-3). Only public parameters are read, which works the same for
 * software keys and libp11-backed token keys.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "x509_int.h"

static const char *const weak_digests[] = {
	"sha1", "sha-1", "md5", "md4", "md2", "sha224", "sha-224", "ripemd160",
	NULL
};

enum hkms_rc
hkms_x509_digest_parse(const char *s, enum hkms_x509_digest *out,
    struct hkms_err *err)
{
	int i;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no digest output");
	if (s == NULL || *s == '\0' || strcasecmp(s, "auto") == 0) {
		*out = HKMS_X509_DIGEST_AUTO;
		return HKMS_OK;
	}
	if (strcasecmp(s, "sha256") == 0 || strcasecmp(s, "sha-256") == 0) {
		*out = HKMS_X509_SHA256;
		return HKMS_OK;
	}
	if (strcasecmp(s, "sha384") == 0 || strcasecmp(s, "sha-384") == 0) {
		*out = HKMS_X509_SHA384;
		return HKMS_OK;
	}
	if (strcasecmp(s, "sha512") == 0 || strcasecmp(s, "sha-512") == 0) {
		*out = HKMS_X509_SHA512;
		return HKMS_OK;
	}
	for (i = 0; weak_digests[i] != NULL; i++)
		if (strcasecmp(s, weak_digests[i]) == 0)
			return hkms_err_setc(err, HKMS_E_POLICY, "weak_digest",
			    "digest '%s' is not allowed: use sha256, sha384 "
			    "or sha512", s);
	return hkms_err_set(err, HKMS_E_INVALID,
	    "unknown digest '%.64s': use sha256, sha384 or sha512", s);
}

const char *
hkms_x509_digest_name(enum hkms_x509_digest d)
{
	switch (d) {
	case HKMS_X509_SHA256: return "sha256";
	case HKMS_X509_SHA384: return "sha384";
	case HKMS_X509_SHA512: return "sha512";
	case HKMS_X509_DIGEST_AUTO: break;
	}
	return "auto";
}

enum hkms_x509_digest
hkms_x509_digest_resolve(enum hkms_x509_digest d, EVP_PKEY *key)
{
	int bits;

	if (d == HKMS_X509_SHA256 || d == HKMS_X509_SHA384 ||
	    d == HKMS_X509_SHA512)
		return d;
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
		return HKMS_X509_SHA256;
	/* match the hash to the curve's security level (RFC 5480 4) */
	bits = EVP_PKEY_get_bits(key);
	if (bits > 384)
		return HKMS_X509_SHA512;
	if (bits > 256)
		return HKMS_X509_SHA384;
	return HKMS_X509_SHA256;
}

const EVP_MD *
x509_digest_md(enum hkms_x509_digest d)
{
	switch (d) {
	case HKMS_X509_SHA256: return EVP_sha256();
	case HKMS_X509_SHA384: return EVP_sha384();
	case HKMS_X509_SHA512: return EVP_sha512();
	case HKMS_X509_DIGEST_AUTO: break;
	}
	return NULL;
}

int
x509_key_is_rsa(EVP_PKEY *key)
{
	return key != NULL && EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;
}

/* The curve's short name. Token keys may be legacy (engine) keys whose
 * provider view fails, hence the EC_KEY fallback. */
static int
ec_curve_nid(EVP_PKEY *key)
{
	char group[64];
	size_t len = 0;
	const EC_KEY *ec;
	const EC_GROUP *g;

	if (EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 &&
	    len > 0) {
		int nid = OBJ_sn2nid(group);

		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		if (nid == NID_undef)
			nid = OBJ_ln2nid(group);
		if (nid != NID_undef)
			return nid;
	}
	ERR_clear_error();
	if ((ec = EVP_PKEY_get0_EC_KEY(key)) == NULL ||
	    (g = EC_KEY_get0_group(ec)) == NULL)
		return NID_undef;
	return EC_GROUP_get_curve_name(g);
}

/* 1 if the key names its curve (an OID), 0 for explicit curve parameters:
 * RFC 5480 2.1.1 allows namedCurve only in PKIX, and a certificate carries
 * the key's parameters as they come (CA/B BR 7.1.3.1.2). */
static int
ec_named(EVP_PKEY *key)
{
	char enc[32];
	const EC_KEY *ec;
	const EC_GROUP *g;

	if (EVP_PKEY_get0_provider(key) != NULL) {
		if (EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc), NULL) == 1)
			return strcmp(enc, OSSL_PKEY_EC_ENCODING_GROUP) == 0;
		ERR_clear_error();
	}
	if ((ec = EVP_PKEY_get0_EC_KEY(key)) == NULL ||
	    (g = EC_KEY_get0_group(ec)) == NULL)
		return 0;
	return (EC_GROUP_get_asn1_flag(g) & OPENSSL_EC_NAMED_CURVE) != 0;
}

static const char *
curve_display(int nid)
{
	const char *n = EC_curve_nid2nist(nid);

	if (n != NULL)
		return n;
	n = OBJ_nid2sn(nid);
	return n != NULL ? n : "unknown";
}

/* RSA public exponent must be odd and >= 65537 (CA/B BR 6.1.6). */
static enum hkms_rc
check_rsa_exponent(EVP_PKEY *key, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIGNUM *e = NULL;
	const RSA *rsa;
	const BIGNUM *le = NULL;

	if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
		ERR_clear_error();
		if ((rsa = EVP_PKEY_get0_RSA(key)) != NULL)
			RSA_get0_key(rsa, NULL, &le, NULL);
		if (le == NULL || (e = BN_dup(le)) == NULL) {
			rc = hkms_err_crypto(err,
			    "cannot read the RSA public exponent");
			goto out;
		}
	}
	if (!BN_is_odd(e) || BN_get_word(e) < 65537) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "RSA public exponent must be odd and at least 65537");
		goto out;
	}
	rc = HKMS_OK;
out:
	BN_free(e);
	return rc;
}

enum hkms_rc
hkms_x509_check_key(EVP_PKEY *pub, struct hkms_err *err)
{
	int bits, nid;

	if (pub == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no key given");
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		bits = EVP_PKEY_get_bits(pub);
		if (bits < 2048)
			return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
			    "RSA key of %d bits is too small: at least 2048 "
			    "are required", bits);
		if (bits > 16384)
			return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
			    "RSA key of %d bits is larger than supported "
			    "(16384)", bits);
		return check_rsa_exponent(pub, err);
	case EVP_PKEY_EC:
		nid = ec_curve_nid(pub);
		if ((nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 ||
		    nid == NID_secp521r1) && !ec_named(pub))
			return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
			    "EC key with explicit curve parameters is not "
			    "allowed: name the curve (P-256, P-384 or P-521)");
		if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1 ||
		    nid == NID_secp521r1)
			return HKMS_OK;
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "EC curve %s is not allowed: use P-256, P-384 or P-521",
		    nid == NID_undef ? "(unnamed)" : curve_display(nid));
	case EVP_PKEY_DSA:
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "DSA keys are not allowed: use RSA or EC");
	default:
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "key type %s is not supported: use RSA or EC",
		    EVP_PKEY_get0_type_name(pub) != NULL ?
		    EVP_PKEY_get0_type_name(pub) : "(unknown)");
	}
}

enum hkms_rc
hkms_x509_key_describe(EVP_PKEY *pub, struct hkms_x509_key_info *out,
    struct hkms_err *err)
{
	int nid;

	if (pub == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no key given");
	memset(out, 0, sizeof(*out));
	out->bits = EVP_PKEY_get_bits(pub);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		snprintf(out->type, sizeof(out->type), "RSA");
		break;
	case EVP_PKEY_EC:
		snprintf(out->type, sizeof(out->type), "EC");
		nid = ec_curve_nid(pub);
		snprintf(out->curve, sizeof(out->curve), "%s",
		    nid == NID_undef ? "unknown" : curve_display(nid));
		break;
	default:
		snprintf(out->type, sizeof(out->type), "other");
		break;
	}
	return HKMS_OK;
}
