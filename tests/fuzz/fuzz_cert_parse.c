/*
 * fuzz_cert_parse: hkms_certio_parse() on outside certificate input
 * (PEM / DER / PKCS#7 / PKCS#12, format autodetected), then for every
 * certificate: hkms_certio_describe(), the thumbprint and the name
 * strings. A PKCS#12 that wants a password is retried with "test" (the
 * password of the seed files). Invariant: a parsed list encodes to PEM and
 * parses back to as many certificates with the same thumbprints.
 */
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "hkms/certio.h"
#include "fuzz.h"

static void
describe_all(STACK_OF(X509) *certs)
{
	char thumb[HKMS_CERTIO_THUMB_SIZE];
	struct hkms_err err;
	json_t *j = NULL;
	char *s;
	int i;

	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (hkms_certio_describe(x, FUZZ_NOW, &j, &err) == HKMS_OK) {
			FUZZ_CHECK(json_is_object(j));
			s = json_dumps(j, JSON_COMPACT);
			free(s);
			json_decref(j);
			j = NULL;
		}
		(void)hkms_certio_thumbprint(x, thumb, &err);
		free(hkms_certio_name_str(X509_get_subject_name(x)));
		free(hkms_certio_name_str(X509_get_issuer_name(x)));
	}
}

/* PEM out, parse back: same certificates in the same order. */
static void
roundtrip(STACK_OF(X509) *certs)
{
	char a[HKMS_CERTIO_THUMB_SIZE], b[HKMS_CERTIO_THUMB_SIZE];
	STACK_OF(X509) *back = NULL;
	unsigned char *pem = NULL;
	struct hkms_err err;
	size_t len = 0;
	int i;

	if (hkms_certio_encode(certs, HKMS_CERTIO_FMT_PEM, NULL, &pem, &len,
	    &err) != HKMS_OK)
		return;	/* e.g. a certificate OpenSSL cannot re-encode */
	FUZZ_CHECK(hkms_certio_parse(pem, len, NULL, &back, NULL, &err) ==
	    HKMS_OK);
	FUZZ_CHECK(sk_X509_num(back) == sk_X509_num(certs));
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (hkms_certio_thumbprint(sk_X509_value(certs, i), a, &err)
		    != HKMS_OK)
			continue;
		FUZZ_CHECK(hkms_certio_thumbprint(sk_X509_value(back, i), b,
		    &err) == HKMS_OK);
		FUZZ_CHECK(strcmp(a, b) == 0);
	}
	hkms_certio_chain_free(back);
	free(pem);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;
	enum hkms_rc rc;

	rc = hkms_certio_parse(data, size, NULL, &certs, &info, &err);
	if (rc != HKMS_OK && (strcmp(hkms_err_code(&err),
	    "password_required") == 0 || strcmp(hkms_err_code(&err),
	    "bad_password") == 0))
		rc = hkms_certio_parse(data, size, "test", &certs, &info,
		    &err);
	if (rc == HKMS_OK) {
		FUZZ_CHECK(certs != NULL && sk_X509_num(certs) > 0);
		FUZZ_CHECK(hkms_certio_format_name(info.format) != NULL);
		describe_all(certs);
		roundtrip(certs);
	} else {
		FUZZ_CHECK(certs == NULL);	/* untouched on failure */
		FUZZ_CHECK(err.detail[0] != '\0');
	}
	hkms_certio_chain_free(certs);
	ERR_clear_error();
	return 0;
}
