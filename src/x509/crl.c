/*
 * CRLs: a v2 CRL for one of our CAs, built unsigned from the list of
 * revoked serials the store keeps (revocations are append-only there), then
 * signed by sign.c with the CA's token key. The CRL number is the caller's:
 * it must grow with every CRL a CA publishes.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>

#include "x509_int.h"

#define CRL_DEFAULT_DAYS 7
#define CRL_MAX_DAYS 3650

static const struct {
	const char *name;
	enum hkms_x509_crl_reason r;
} reasons[] = {
	{ "unspecified", HKMS_X509_REASON_UNSPECIFIED },
	{ "keyCompromise", HKMS_X509_REASON_KEY_COMPROMISE },
	{ "cACompromise", HKMS_X509_REASON_CA_COMPROMISE },
	{ "affiliationChanged", HKMS_X509_REASON_AFFILIATION_CHANGED },
	{ "superseded", HKMS_X509_REASON_SUPERSEDED },
	{ "cessationOfOperation", HKMS_X509_REASON_CESSATION_OF_OPERATION },
	{ "certificateHold", HKMS_X509_REASON_CERTIFICATE_HOLD },
	{ "privilegeWithdrawn", HKMS_X509_REASON_PRIVILEGE_WITHDRAWN },
	{ "aACompromise", HKMS_X509_REASON_AA_COMPROMISE },
};
#define N_REASONS (sizeof(reasons) / sizeof(reasons[0]))

enum hkms_rc
hkms_x509_crl_reason_parse(const char *s, enum hkms_x509_crl_reason *out,
    struct hkms_err *err)
{
	char norm[40];
	size_t i, n = 0;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no output given");
	if (s == NULL || *s == '\0') {
		*out = HKMS_X509_REASON_UNSPECIFIED;
		return HKMS_OK;
	}
	for (i = 0; s[i] != '\0' && n + 1 < sizeof(norm); i++)
		if (s[i] != '_' && s[i] != '-')
			norm[n++] = s[i];
	norm[n] = '\0';
	for (i = 0; strlen(s) < sizeof(norm) && i < N_REASONS; i++)
		if (strcasecmp(norm, reasons[i].name) == 0) {
			*out = reasons[i].r;
			return HKMS_OK;
		}
	return hkms_err_set(err, HKMS_E_INVALID, "unknown revocation reason "
	    "'%.40s' (unspecified, keyCompromise, cACompromise, "
	    "affiliationChanged, superseded, cessationOfOperation, "
	    "certificateHold, privilegeWithdrawn, aACompromise)", s);
}

const char *
hkms_x509_crl_reason_name(enum hkms_x509_crl_reason r)
{
	size_t i;

	for (i = 0; i < N_REASONS; i++)
		if (reasons[i].r == r)
			return reasons[i].name;
	return "unknown";
}

static int
reason_known(enum hkms_x509_crl_reason r)
{
	return strcmp(hkms_x509_crl_reason_name(r), "unknown") != 0;
}

static enum hkms_rc
add_entry(X509_CRL *crl, const struct hkms_x509_revoked *e,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *code = NULL;

	if (!reason_known(e->reason)) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "revocation reason %d "
		    "is not supported", (int)e->reason);
		goto out;
	}
	if ((rc = hkms_x509_serial_from_hex(e->serial_hex, &serial, err)) !=
	    HKMS_OK)
		goto out;
	if ((rev = X509_REVOKED_new()) == NULL ||
	    (t = ASN1_TIME_set(NULL, (time_t)e->revoked_at)) == NULL ||
	    X509_REVOKED_set_serialNumber(rev, serial) != 1 ||
	    X509_REVOKED_set_revocationDate(rev, t) != 1)
		goto crypto;
	/* RFC 5280 5.3.1: leave out reasonCode for unspecified */
	if (e->reason != HKMS_X509_REASON_UNSPECIFIED) {
		if ((code = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(code, (long)e->reason) ||
		    X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, code, 0,
		    X509V3_ADD_DEFAULT) != 1)
			goto crypto;
	}
	if (X509_CRL_add0_revoked(crl, rev) != 1)
		goto crypto;
	rev = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
crypto:
	rc = hkms_err_crypto(err, "cannot add revoked entry '%.40s'",
	    e->serial_hex);
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(code);
	return rc;
}

static int
has_dup_serial(X509_CRL *crl)
{
	STACK_OF(X509_REVOKED) *sk = X509_CRL_get_REVOKED(crl);
	int i;

	/* sorted by serial, so duplicates are neighbours */
	for (i = 1; i < sk_X509_REVOKED_num(sk); i++)
		if (ASN1_INTEGER_cmp(
		    X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(sk,
		    i - 1)), X509_REVOKED_get0_serialNumber(
		    sk_X509_REVOKED_value(sk, i))) == 0)
			return 1;
	return 0;
}

enum hkms_rc
hkms_x509_crl_build(const X509 *ca, const struct hkms_x509_revoked *entries,
    size_t n, uint64_t crl_number, int days, int64_t now, X509_CRL **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	ASN1_OCTET_STRING *keyid = NULL;
	X509_EXTENSION *aki = NULL;
	size_t i;

	if (ca == NULL || out == NULL || (n > 0 && entries == NULL)) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "CRL build");
		goto out;
	}
	if (days == 0)
		days = CRL_DEFAULT_DAYS;
	if (days < 0 || days > CRL_MAX_DAYS) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "CRL lifetime of %d "
		    "days is out of range (1..%d)", days, CRL_MAX_DAYS);
		goto out;
	}
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = x509_check_ca(ca, 1, now, err)) != HKMS_OK)
		goto out;
	if ((crl = X509_CRL_new()) == NULL ||
	    X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) != 1 ||
	    (t = ASN1_TIME_set(NULL, (time_t)now)) == NULL ||
	    X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    ASN1_TIME_set(t, (time_t)(now + (int64_t)days * 86400)) == NULL ||
	    X509_CRL_set1_nextUpdate(crl, t) != 1)
		goto crypto;
	for (i = 0; i < n; i++)
		if ((rc = add_entry(crl, &entries[i], err)) != HKMS_OK)
			goto out;
	if (X509_CRL_sort(crl) != 1)
		goto crypto;
	if (has_dup_serial(crl)) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "a serial number is "
		    "listed twice in the CRL");
		goto out;
	}
	if ((rc = x509_ca_keyid(ca, &keyid, err)) != HKMS_OK)
		goto out;
	if ((aki = x509_ext_aki(keyid)) == NULL ||
	    X509_CRL_add_ext(crl, aki, -1) != 1 ||
	    (num = ASN1_INTEGER_new()) == NULL ||
	    ASN1_INTEGER_set_uint64(num, crl_number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0,
	    X509V3_ADD_DEFAULT) != 1)
		goto crypto;
	*out = crl;
	crl = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
crypto:
	rc = hkms_err_crypto(err, "cannot build CRL");
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(num);
	ASN1_OCTET_STRING_free(keyid);
	X509_EXTENSION_free(aki);
	return rc;
}
