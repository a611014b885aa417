/*
 * Helpers shared by certificates and CRLs: key identifiers (RFC 5280
 * 4.2.1.2 method 1), the authorityKeyIdentifier extension, time
 * conversion, and the "may this certificate act as a CA" check.
 */
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "x509_int.h"

enum hkms_rc
x509_keyid(EVP_PKEY *pub, ASN1_OCTET_STRING **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_PUBKEY *xpk = NULL;
	ASN1_OCTET_STRING *id = NULL;
	const unsigned char *pk;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int pklen;

	/* SHA-1 of the subjectPublicKey bits: an identifier, not a signature,
	 * and what every other CA computes, so chains line up */
	if (X509_PUBKEY_set(&xpk, pub) != 1 ||
	    X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) != 1 ||
	    EVP_Digest(pk, (size_t)pklen, md, &mdlen, EVP_sha1(), NULL) != 1) {
		rc = hkms_err_crypto(err, "cannot compute key identifier");
		goto out;
	}
	if ((id = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(id, md, (int)mdlen)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	*out = id;
	id = NULL; /* transferred */
	rc = HKMS_OK;
out:
	X509_PUBKEY_free(xpk);
	ASN1_OCTET_STRING_free(id);
	return rc;
}

enum hkms_rc
x509_keyid_bits(const ASN1_BIT_STRING *bits, ASN1_OCTET_STRING **out,
    struct hkms_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *id;

	if (bits == NULL || EVP_Digest(bits->data, (size_t)bits->length, md,
	    &mdlen, EVP_sha1(), NULL) != 1)
		return hkms_err_crypto(err, "cannot compute key identifier");
	if ((id = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(id, md, (int)mdlen)) {
		ASN1_OCTET_STRING_free(id);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	*out = id;
	return HKMS_OK;
}

enum hkms_rc
x509_ca_keyid(const X509 *ca, ASN1_OCTET_STRING **out, struct hkms_err *err)
{
	ASN1_OCTET_STRING *ski;
	EVP_PKEY *pub;

	/* use the CA's own SKI when it has one: it may not be method 1 */
	ski = X509_get_ext_d2i(ca, NID_subject_key_identifier, NULL, NULL);
	if (ski != NULL) {
		*out = ski;
		return HKMS_OK;
	}
	ERR_clear_error();
	if ((pub = X509_get0_pubkey(ca)) == NULL)
		return hkms_err_crypto(err, "CA certificate has no usable "
		    "public key");
	return x509_keyid(pub, out, err);
}

X509_EXTENSION *
x509_ext_aki(ASN1_OCTET_STRING *keyid)
{
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	X509_EXTENSION *ext = NULL;

	if (akid == NULL)
		return NULL;
	if ((akid->keyid = ASN1_OCTET_STRING_dup(keyid)) != NULL)
		ext = X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid);
	AUTHORITY_KEYID_free(akid);
	return ext;
}

int
x509_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	*out = (int64_t)timegm(&tm);
	return 1;
}

enum hkms_rc
x509_check_ca(const X509 *ca, int for_crl, int64_t now, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	int64_t nb, na;
	int bit = for_crl ? 6 : 5;	/* cRLSign : keyCertSign */

	bc = X509_get_ext_d2i(ca, NID_basic_constraints, NULL, NULL);
	if (bc == NULL || !bc->ca) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "not_a_ca",
		    "issuer certificate is not a CA (no basicConstraints "
		    "CA:TRUE)");
		goto out;
	}
	ku = X509_get_ext_d2i(ca, NID_key_usage, NULL, NULL);
	if (ku != NULL && !ASN1_BIT_STRING_get_bit(ku, bit)) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "not_a_ca",
		    "issuer certificate's keyUsage lacks %s",
		    for_crl ? "cRLSign" : "keyCertSign");
		goto out;
	}
	if (!x509_time_to_unix(X509_get0_notBefore(ca), &nb) ||
	    !x509_time_to_unix(X509_get0_notAfter(ca), &na)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_certificate",
		    "issuer certificate has an unreadable validity period");
		goto out;
	}
	/* a final CRL may still be issued by an expired CA */
	if (!for_crl && na <= now) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "ca_expired",
		    "issuer certificate has expired");
		goto out;
	}
	if (!for_crl && nb > now) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "ca_not_yet_valid",
		    "issuer certificate is not valid yet");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING_free(ku);
	return rc;
}
