/*
 * fuzz_pkcs12: the private-key import parser, hkms_certio_parse_key()
 * (PEM, PKCS#8 plain and encrypted, traditional RSA/EC PEM, PKCS#12),
 * without and with the passphrase "test", and the certificate parser on
 * PKCS#12 input with password "test". On success the key must be a key
 * and a matching certificate, if any, comes first.
 */
#include <string.h>

#include <openssl/err.h>

#include "hkms/certio.h"
#include "fuzz.h"

static void
parse_key(const uint8_t *data, size_t size, const char *pass)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	struct hkms_err err;

	if (hkms_certio_parse_key(data, size, pass, &key, &certs, &err) ==
	    HKMS_OK) {
		FUZZ_CHECK(key != NULL && certs != NULL);
		if (sk_X509_num(certs) > 0)
			FUZZ_CHECK(X509_check_private_key(
			    sk_X509_value(certs, 0), key) == 1);
	} else {
		FUZZ_CHECK(key == NULL && certs == NULL);
	}
	EVP_PKEY_free(key);
	hkms_certio_chain_free(certs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *certs = NULL;
	struct hkms_certio_info info;
	struct hkms_err err;

	if (hkms_certio_parse(data, size, "test", &certs, &info, &err) ==
	    HKMS_OK)
		FUZZ_CHECK(sk_X509_num(certs) > 0);
	hkms_certio_chain_free(certs);
	parse_key(data, size, NULL);
	parse_key(data, size, "test");
	ERR_clear_error();
	return 0;
}
