/*
 * OCSP, RFC 6960: parsing a request, building and signing a basic
 * response. The request is outside input on a public route: it is parsed
 * strictly (one DER object, bounded counts and sizes, every CertID's
 * digest known) before anything looks at it. The signature goes through
 * the same signer check and verification as certificates and CRLs
 * (sign.c): the key is a token key, and a second call signs again.
 */
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "hkms/ocsp.h"
#include "x509_int.h"

#define MALFORMED(...) hkms_err_setc(err, HKMS_E_INVALID, "ocsp_malformed", \
    __VA_ARGS__)

static enum hkms_rc
check_certid(OCSP_CERTID *id, int i, struct hkms_err *err)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *md_oid = NULL;
	ASN1_INTEGER *serial = NULL;
	const EVP_MD *md;
	int mdlen;

	if (id == NULL || !OCSP_id_get0_info(&nh, &md_oid, &kh, &serial, id) ||
	    nh == NULL || kh == NULL || md_oid == NULL || serial == NULL)
		return MALFORMED("OCSP request #%d has no CertID", i + 1);
	if ((md = EVP_get_digestbyobj(md_oid)) == NULL ||
	    (mdlen = EVP_MD_get_size(md)) <= 0)
		return MALFORMED("OCSP request #%d uses an unknown hash "
		    "algorithm", i + 1);
	if (ASN1_STRING_length(nh) != mdlen || ASN1_STRING_length(kh) != mdlen)
		return MALFORMED("OCSP request #%d has issuer hashes of the "
		    "wrong length", i + 1);
	if (ASN1_STRING_length(serial) < 1 || ASN1_STRING_length(serial) > 64)
		return MALFORMED("OCSP request #%d has a bad serial number",
		    i + 1);
	return HKMS_OK;
}

enum hkms_rc
hkms_x509_ocsp_request_parse(const unsigned char *der, size_t len,
    OCSP_REQUEST **out, struct hkms_err *err)
{
	const unsigned char *p = der;
	OCSP_REQUEST *req = NULL;
	X509_EXTENSION *ext;
	enum hkms_rc rc;
	int i, n, idx;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if (der == NULL || len == 0)
		return MALFORMED("the OCSP request is empty");
	if (len > HKMS_OCSP_MAX_REQUEST)
		return MALFORMED("the OCSP request is larger than %d bytes",
		    HKMS_OCSP_MAX_REQUEST);
	req = d2i_OCSP_REQUEST(NULL, &p, (long)len);
	ERR_clear_error();
	if (req == NULL) {
		rc = MALFORMED("the OCSP request is not DER of an "
		    "OCSPRequest");
		goto out;
	}
	if ((size_t)(p - der) != len) {
		rc = MALFORMED("the OCSP request has trailing bytes");
		goto out;
	}
	n = OCSP_request_onereq_count(req);
	if (n < 1 || n > HKMS_OCSP_MAX_SINGLE) {
		rc = MALFORMED("the OCSP request must ask for 1..%d "
		    "certificates", HKMS_OCSP_MAX_SINGLE);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = check_certid(OCSP_onereq_get0_id(
		    OCSP_request_onereq_get0(req, i)), i, err)) != HKMS_OK)
			goto out;
	idx = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	if (idx >= 0) {
		ASN1_OCTET_STRING *v;

		ext = OCSP_REQUEST_get_ext(req, idx);
		v = ext ? X509_EXTENSION_get_data(ext) : NULL;
		/* the value is an OCTET STRING holding (usually) an OCTET
		 * STRING: bound the outer one, 2 bytes of header allowed */
		if (v == NULL || ASN1_STRING_length(v) < 1 ||
		    ASN1_STRING_length(v) > HKMS_OCSP_MAX_NONCE + 2) {
			rc = MALFORMED("the OCSP request's nonce must be 1..%d "
			    "bytes", HKMS_OCSP_MAX_NONCE);
			goto out;
		}
		if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce,
		    idx) >= 0) {
			rc = MALFORMED("the OCSP request has two nonces");
			goto out;
		}
	}
	*out = req;
	req = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	OCSP_REQUEST_free(req);
	return rc;
}

int
hkms_x509_ocsp_request_has_nonce(OCSP_REQUEST *req)
{
	return req != NULL && OCSP_REQUEST_get_ext_by_NID(req,
	    NID_id_pkix_OCSP_Nonce, -1) >= 0;
}

enum hkms_rc
hkms_x509_ocsp_basic_build(const struct hkms_x509_ocsp_status *st, size_t n,
    OCSP_REQUEST *nonce_from, int64_t this_update, int64_t next_update,
    OCSP_BASICRESP **out, struct hkms_err *err)
{
	OCSP_BASICRESP *bs = NULL;
	ASN1_TIME *tu = NULL, *nu = NULL, *rt = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	size_t i;

	if (st == NULL || n == 0 || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((bs = OCSP_BASICRESP_new()) == NULL ||
	    (tu = ASN1_TIME_set(NULL, (time_t)this_update)) == NULL ||
	    (next_update > 0 && (nu = ASN1_TIME_set(NULL,
	    (time_t)next_update)) == NULL)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		int reason = -1;

		ASN1_TIME_free(rt);
		rt = NULL;
		if (st[i].status == V_OCSP_CERTSTATUS_REVOKED) {
			if ((rt = ASN1_TIME_set(NULL, (time_t)st[i].revoked_at))
			    == NULL) {
				rc = hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory");
				goto out;
			}
			if (st[i].reason > 0)
				reason = st[i].reason;
		}
		if (OCSP_basic_add1_status(bs, st[i].id, st[i].status,
		    reason, rt, tu, nu) == NULL) {
			rc = hkms_err_crypto(err, "cannot build the OCSP "
			    "response");
			goto out;
		}
	}
	if (nonce_from != NULL && hkms_x509_ocsp_request_has_nonce(nonce_from)
	    && OCSP_copy_nonce(bs, nonce_from) <= 0) {
		rc = hkms_err_crypto(err, "cannot copy the OCSP nonce");
		goto out;
	}
	*out = bs;
	bs = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	ERR_clear_error();
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_TIME_free(rt);
	OCSP_BASICRESP_free(bs);
	return rc;
}

/* 1 if bs's signature verifies with cert's key (no path check) */
static int
verify_with(OCSP_BASICRESP *bs, X509 *cert)
{
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_STORE *st = X509_STORE_new();
	int ok = 0;

	if (certs != NULL && st != NULL && sk_X509_push(certs, cert))
		ok = OCSP_basic_verify(bs, certs, st, OCSP_NOVERIFY |
		    OCSP_NOINTERN | OCSP_NOCHECKS) == 1;
	sk_X509_free(certs);
	X509_STORE_free(st);
	return ok;
}

enum hkms_rc
hkms_x509_ocsp_sign(OCSP_BASICRESP *bs, EVP_PKEY *signer, X509 *signer_cert,
    enum hkms_x509_digest digest, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub;

	if (bs == NULL || signer == NULL || signer_cert == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "missing argument to "
		    "OCSP signing");
	pub = X509_get0_pubkey(signer_cert);
	if ((rc = x509_sign_ctx(signer, pub, digest, &mctx, err)) != HKMS_OK)
		goto out;
	if (OCSP_basic_sign_ctx(bs, signer_cert, mctx, NULL, OCSP_NOCERTS |
	    OCSP_RESPID_KEY) != 1) {
		rc = hkms_err_crypto(err, "cannot sign the OCSP response");
		goto out;
	}
	if (verify_with(bs, signer_cert) != 1) {
		rc = hkms_err_setc(err, HKMS_E_CRYPTO,
		    "signature_check_failed", "new OCSP response signature "
		    "does not verify with the signer's public key");
		goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return rc;
}

enum hkms_rc
hkms_x509_ocsp_response_der(int status, OCSP_BASICRESP *bs,
    unsigned char **der, size_t *len, struct hkms_err *err)
{
	OCSP_RESPONSE *r = NULL;
	unsigned char *d = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	int n;

	if (der == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*der = NULL;
	*len = 0;
	if ((r = OCSP_response_create(status, bs)) == NULL ||
	    (n = i2d_OCSP_RESPONSE(r, &d)) <= 0) {
		rc = hkms_err_crypto(err, "cannot encode the OCSP response");
		goto out;
	}
	if ((*der = malloc((size_t)n)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*der, d, (size_t)n);
	*len = (size_t)n;
	rc = HKMS_OK;
out:
	ERR_clear_error();
	OPENSSL_free(d);
	OCSP_RESPONSE_free(r);
	return rc;
}
