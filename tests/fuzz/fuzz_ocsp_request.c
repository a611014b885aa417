/*
 * fuzz_ocsp_request: hkms_x509_ocsp_request_parse() on the body of a
 * public POST /ocsp (or the decoded tail of a GET), then what the
 * responder does with an accepted request short of the token: a basic
 * response answering each CertID (good, revoked with a reason, unknown in
 * turn) with the request's nonce, signed (with a software key made here:
 * the fuzzer has no token) and encoded as an OCSPResponse, and the
 * unsigned error answers. Invariants: an accepted request has
 * 1..HKMS_OCSP_MAX_SINGLE CertIDs, encodes again, and the encoding parses
 * back to as many CertIDs; the response encodes and parses back with one
 * answer per CertID.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "hkms/ocsp.h"
#include "fuzz.h"

/* the signer: a P-256 key and a self-signed certificate, made once */
static EVP_PKEY *sign_key;
static X509 *sign_cert;

static void
signer_init(void)
{
	X509_NAME *nm;

	if (sign_key != NULL)
		return;
	FUZZ_CHECK((sign_key = EVP_EC_gen("P-256")) != NULL);
	FUZZ_CHECK((sign_cert = X509_new()) != NULL);
	FUZZ_CHECK(X509_set_version(sign_cert, 2));
	FUZZ_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(sign_cert), 1));
	FUZZ_CHECK((nm = X509_get_subject_name(sign_cert)) != NULL);
	FUZZ_CHECK(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz OCSP", -1, -1, 0));
	FUZZ_CHECK(X509_set_issuer_name(sign_cert, nm));
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notBefore(sign_cert), 0));
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notAfter(sign_cert), 86400));
	FUZZ_CHECK(X509_set_pubkey(sign_cert, sign_key));
	FUZZ_CHECK(X509_sign(sign_cert, sign_key, EVP_sha256()) > 0);
}

static void
respond(OCSP_REQUEST *req, int n)
{
	struct hkms_x509_ocsp_status st[HKMS_OCSP_MAX_SINGLE];
	static const int kinds[3] = { V_OCSP_CERTSTATUS_GOOD,
	    V_OCSP_CERTSTATUS_REVOKED, V_OCSP_CERTSTATUS_UNKNOWN };
	OCSP_BASICRESP *bs = NULL, *back_bs = NULL;
	OCSP_RESPONSE *back = NULL;
	const unsigned char *p;
	unsigned char *der = NULL;
	struct hkms_err err;
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++) {
		st[i].id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req,
		    i));
		st[i].status = kinds[i % 3];
		st[i].reason = i % 11 == 7 ? -1 : i % 11;
		st[i].revoked_at = FUZZ_NOW - 3600;
	}
	if (hkms_x509_ocsp_basic_build(st, (size_t)n, req, FUZZ_NOW,
	    FUZZ_NOW + 3600, &bs, &err) != HKMS_OK)
		return;
	signer_init();
	FUZZ_CHECK(hkms_x509_ocsp_sign(bs, sign_key, sign_cert,
	    HKMS_X509_DIGEST_AUTO, &err) == HKMS_OK);
	FUZZ_CHECK(hkms_x509_ocsp_response_der(
	    OCSP_RESPONSE_STATUS_SUCCESSFUL, bs, &der, &len, &err) == HKMS_OK);
	p = der;
	FUZZ_CHECK((back = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) != NULL);
	FUZZ_CHECK((back_bs = OCSP_response_get1_basic(back)) != NULL);
	FUZZ_CHECK(OCSP_resp_count(back_bs) == n);
	OCSP_BASICRESP_free(back_bs);
	OCSP_RESPONSE_free(back);
	OCSP_BASICRESP_free(bs);
	free(der);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	OCSP_REQUEST *req = NULL, *again = NULL;
	unsigned char *der = NULL, *e;
	const unsigned char *p;
	struct hkms_err err;
	size_t len = 0;
	int n, m;

	if (hkms_x509_ocsp_request_parse(data, size, &req, &err) != HKMS_OK) {
		FUZZ_CHECK(req == NULL);
		FUZZ_CHECK(strcmp(hkms_err_code(&err), "ocsp_malformed") == 0);
		goto out;
	}
	n = OCSP_request_onereq_count(req);
	FUZZ_CHECK(n >= 1 && n <= HKMS_OCSP_MAX_SINGLE);
	FUZZ_CHECK((m = i2d_OCSP_REQUEST(req, NULL)) > 0);
	FUZZ_CHECK((der = malloc((size_t)m)) != NULL);
	e = der;
	FUZZ_CHECK(i2d_OCSP_REQUEST(req, &e) == m);
	p = der;
	FUZZ_CHECK((again = d2i_OCSP_REQUEST(NULL, &p, m)) != NULL);
	FUZZ_CHECK(OCSP_request_onereq_count(again) == n);
	respond(req, n);
	for (m = 0; m < 4; m++) {
		static const int es[4] = {
		    OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
		    OCSP_RESPONSE_STATUS_INTERNALERROR,
		    OCSP_RESPONSE_STATUS_TRYLATER,
		    OCSP_RESPONSE_STATUS_UNAUTHORIZED };
		unsigned char *d = NULL;

		FUZZ_CHECK(hkms_x509_ocsp_response_der(es[m], NULL, &d, &len,
		    &err) == HKMS_OK && len > 0);
		free(d);
	}
	(void)len;
out:
	free(der);
	OCSP_REQUEST_free(again);
	OCSP_REQUEST_free(req);
	ERR_clear_error();
	return 0;
}
