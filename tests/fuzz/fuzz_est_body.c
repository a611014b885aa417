/*
 * fuzz_est_body: the EST request bodies (RFC 7030, issue 17b) through
 * what simpleenroll / simplereenroll do before authentication decides
 * anything: hkms_ops_est_body_decode() (base64 with any white space,
 * padding optional, of exactly one DER PKCS#10), then the CSR checks of
 * hkms_x509_csr_parse() / _csr_verify() and its subject and SANs; and the
 * HTTP Basic header parser (hkms_ops_est_basic_parse) on the same bytes.
 * The first byte picks: even = body, odd = "Basic " + the rest.
 *
 * Invariants: a refused body leaves *der NULL with est_bad_request; an
 * accepted one is a DER PKCS#10 that hkms_x509_csr_parse() takes, with no
 * bytes after it, and re-encoding it in base64 decodes to the same bytes;
 * a parsed Basic header gives a user without ':' and the password the
 * rest.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "hkms/ops.h"
#include "hkms/x509.h"
#include "fuzz.h"

static void
basic(const uint8_t *data, size_t size)
{
	struct hkms_err err;
	char *h, *user = NULL, *pass = NULL;

	if ((h = malloc(size + 7)) == NULL)
		return;
	memcpy(h, "Basic ", 6);
	memcpy(h + 6, data, size);
	h[size + 6] = '\0';
	if (hkms_ops_est_basic_parse(h, &user, &pass, &err) == HKMS_OK) {
		FUZZ_CHECK(user != NULL && pass != NULL);
		FUZZ_CHECK(strchr(user, ':') == NULL);
		OPENSSL_clear_free(pass, strlen(pass));
		free(user);
	} else {
		FUZZ_CHECK(user == NULL && pass == NULL);
		FUZZ_CHECK(err.rc == HKMS_E_DENIED || err.rc == HKMS_E_NOMEM);
	}
	free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der = NULL, *b64 = NULL, *der2 = NULL;
	size_t len = 0, len2 = 0;
	X509_REQ *csr = NULL;
	GENERAL_NAMES *gens = NULL;
	struct hkms_err err;
	int n;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		basic(data + 1, size - 1);
		return 0;
	}
	if (hkms_ops_est_body_decode(data + 1, size - 1, &der, &len, &err) !=
	    HKMS_OK) {
		FUZZ_CHECK(der == NULL && len == 0);
		FUZZ_CHECK(strcmp(err.code, "est_bad_request") == 0);
		goto out;
	}
	FUZZ_CHECK(der != NULL && len > 0);
	FUZZ_CHECK(hkms_x509_csr_parse(der, len, &csr, &err) == HKMS_OK);
	(void)hkms_x509_csr_verify(csr, &err);
	(void)hkms_x509_name_check(X509_REQ_get_subject_name(csr), &err);
	if (hkms_x509_csr_get_san(csr, &gens, &err) == HKMS_OK && gens != NULL)
		(void)hkms_x509_san_check(gens, &err);
	/* the same DER in one-line base64 decodes to the same bytes */
	if ((b64 = malloc((len + 2) / 3 * 4 + 1)) != NULL) {
		n = EVP_EncodeBlock(b64, der, (int)len);
		FUZZ_CHECK(hkms_ops_est_body_decode(b64, (size_t)n, &der2,
		    &len2, &err) == HKMS_OK);
		FUZZ_CHECK(len2 == len && memcmp(der, der2, len) == 0);
	}
out:
	GENERAL_NAMES_free(gens);
	X509_REQ_free(csr);
	free(der);
	free(der2);
	free(b64);
	ERR_clear_error();
	return 0;
}
