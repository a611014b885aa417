/*
 * fuzz_csr: a received CSR (PEM or DER) through everything hkms does to
 * one before the signing policy: hkms_x509_csr_parse(), _csr_verify()
 * (key policy, digest, duplicate extensions, proof of possession),
 * _csr_get_san(), and the name/SAN checks that decide whether its subject
 * and SANs may be copied (hkms_x509_name_check, hkms_x509_san_check), plus
 * formatting them. The checks run whether or not the signature verifies:
 * they must be safe on any parsed CSR.
 */
#include <string.h>

#include <openssl/err.h>

#include "hkms/x509.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *csr = NULL;
	GENERAL_NAMES *gens = NULL;
	struct hkms_err err;
	char *s = NULL;

	if (hkms_x509_csr_parse(data, size, &csr, &err) != HKMS_OK) {
		FUZZ_CHECK(csr == NULL);
		goto out;
	}
	FUZZ_CHECK(csr != NULL);
	(void)hkms_x509_csr_verify(csr, &err);
	if (hkms_x509_name_check(X509_REQ_get_subject_name(csr), &err) ==
	    HKMS_OK &&
	    hkms_x509_name_format(X509_REQ_get_subject_name(csr), &s, &err)
	    == HKMS_OK) {
		free(s);
		s = NULL;
	}
	if (hkms_x509_csr_get_san(csr, &gens, &err) == HKMS_OK &&
	    gens != NULL && hkms_x509_san_check(gens, &err) == HKMS_OK &&
	    hkms_x509_san_format(gens, &s, &err) == HKMS_OK) {
		free(s);
		s = NULL;
	}
out:
	GENERAL_NAMES_free(gens);
	X509_REQ_free(csr);
	ERR_clear_error();
	return 0;
}
