/*
 * fuzz_csr: a received CSR (PEM or DER) through everything hkms does to
 * one before the signing policy: hkms_x509_csr_parse(), _csr_verify()
 * (key policy, digest, duplicate extensions, proof of possession),
 * _csr_get_san(), and the name/SAN checks that decide whether its subject
 * and SANs may be copied (hkms_x509_name_check, hkms_x509_san_check), plus
 * formatting them. The checks run whether or not the signature verifies:
 * they must be safe on any parsed CSR. A DER input must also get the
 * verdicts of the ordinary decode (d2i_X509_REQ, the canonical check):
 * parse accepted or refused alike, the same key, the same verify result
 * and message, the same SubjectPublicKeyInfo in a certificate given the
 * key (x509_set_pubkey) (src/x509/pubkey.c decodes most CSRs another
 * way).
 */
#include <string.h>

#include <openssl/err.h>

#include "hkms/x509.h"
#include "fuzz.h"
#include "x509_int.h"

/* The SubjectPublicKeyInfo a certificate gets for key k (*der, length;
 * 0 when it cannot be set). */
static int
cert_spki(EVP_PKEY *k, unsigned char **der)
{
	X509 *x = X509_new();
	int n = 0;

	*der = NULL;
	if (x != NULL && x509_set_pubkey(x, k) == 1 &&
	    (n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), der)) < 0)
		n = 0;
	X509_free(x);
	return n;
}

static void
same_as_ordinary(const uint8_t *data, size_t size, X509_REQ *csr)
{
	const unsigned char *p = data;
	unsigned char *re = NULL;
	struct hkms_err e1, e2;
	enum hkms_rc rc1, rc2;
	X509_REQ *old;
	EVP_PKEY *a, *b;
	int ok;

	if (size == 0 || size > HKMS_X509_CSR_MAX || data[0] != 0x30)
		return;
	old = d2i_X509_REQ(NULL, &p, (long)size);
	ok = old != NULL && p == data + size &&
	    i2d_X509_REQ(old, &re) == (int)size &&
	    memcmp(re, data, size) == 0;
	FUZZ_CHECK(ok == (csr != NULL));
	if (ok) {
		a = X509_REQ_get0_pubkey(csr);
		b = X509_REQ_get0_pubkey(old);
		FUZZ_CHECK((a == NULL) == (b == NULL));
		FUZZ_CHECK(a == NULL || EVP_PKEY_eq(a, b) == 1);
		if (a != NULL) {
			unsigned char *sa, *sb;
			int na = cert_spki(a, &sa), nb = cert_spki(b, &sb);

			FUZZ_CHECK(na == nb && (na == 0 ||
			    memcmp(sa, sb, (size_t)na) == 0));
			OPENSSL_free(sa);
			OPENSSL_free(sb);
		}
		memset(&e1, 0, sizeof(e1));
		memset(&e2, 0, sizeof(e2));
		rc1 = hkms_x509_csr_verify(csr, &e1);
		rc2 = hkms_x509_csr_verify(old, &e2);
		FUZZ_CHECK(rc1 == rc2 && strcmp(e1.detail, e2.detail) == 0);
	}
	OPENSSL_free(re);
	X509_REQ_free(old);
	ERR_clear_error();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *csr = NULL;
	GENERAL_NAMES *gens = NULL;
	struct hkms_err err;
	char *s = NULL;

	if (hkms_x509_csr_parse(data, size, &csr, &err) != HKMS_OK) {
		FUZZ_CHECK(csr == NULL);
		same_as_ordinary(data, size, NULL);
		goto out;
	}
	same_as_ordinary(data, size, csr);
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
