/*
 * fuzz_crl: outside CRL input (issue 14a, `hkms trust crl import`):
 * hkms_x509_crl_parse() (PEM or DER), then on a parsed CRL the form
 * checks, the description, the time fields, the number comparison and a
 * serial lookup. Invariants: a CRL compares equal to itself, one that
 * passes the form checks lists its first entry, and its DER parses back
 * to a CRL with the same number and entry count.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "hkms/revocation.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_CRL *crl = NULL, *back = NULL;
	STACK_OF(X509_REVOKED) *revs;
	unsigned char *der = NULL;
	struct hkms_err err;
	json_t *a = NULL, *b = NULL;
	const char *reason = NULL;
	int64_t at = 0;
	int n, form_ok;

	if (hkms_x509_crl_parse(data, size, &crl, &err) != HKMS_OK)
		goto out;
	form_ok = hkms_x509_crl_check_form(crl, &err) == HKMS_OK;
	(void)hkms_x509_crl_this_update(crl);
	(void)hkms_x509_crl_next_update(crl);
	FUZZ_CHECK(hkms_x509_crl_number_cmp(crl, crl) == 0);
	a = hkms_x509_crl_describe(crl);
	FUZZ_CHECK(a != NULL);
	revs = X509_CRL_get_REVOKED(crl);
	/* a CRL that passes the form checks lists its first entry (an entry
	 * of another issuer in an indirect CRL aside) */
	if (sk_X509_REVOKED_num(revs) > 0 &&
	    hkms_x509_crl_lists(crl, X509_REVOKED_get0_serialNumber(
	    sk_X509_REVOKED_value(revs, 0)), &at, &reason))
		FUZZ_CHECK(reason != NULL);
	else if (sk_X509_REVOKED_num(revs) > 0 && form_ok)
		FUZZ_CHECK(X509_REVOKED_get_ext_by_NID(sk_X509_REVOKED_value(
		    revs, 0), NID_certificate_issuer, -1) >= 0);
	if ((n = i2d_X509_CRL(crl, &der)) > 0 &&
	    hkms_x509_crl_parse(der, (size_t)n, &back, &err) == HKMS_OK) {
		b = hkms_x509_crl_describe(back);
		FUZZ_CHECK(b != NULL && json_equal(json_object_get(a,
		    "number"), json_object_get(b, "number")) &&
		    json_equal(json_object_get(a, "entries"),
		    json_object_get(b, "entries")));
	}
out:
	json_decref(a);
	json_decref(b);
	OPENSSL_free(der);
	X509_CRL_free(crl);
	X509_CRL_free(back);
	ERR_clear_error();
	return 0;
}
