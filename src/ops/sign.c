/*
 * Signing in the token for the operations: each call hands a fully built,
 * unsigned object to the token layer, whose callback only signs it, so a
 * second run after a token reconnect signs the same TBS again.
 */
#include "hkms/hsm.h"

#include "ops_int.h"

struct sign_arg {
	X509_REQ *req;
	X509 *cert;
	X509_CRL *crl;
	const X509 *issuer;
	enum hkms_x509_digest digest;
};

static enum hkms_rc
sign_fn(EVP_PKEY *key, void *arg, struct hkms_err *err)
{
	struct sign_arg *a = arg;

	if (a->req != NULL)
		return hkms_x509_sign_req(a->req, key, a->digest, err);
	if (a->cert != NULL)
		return hkms_x509_sign_cert(a->cert, key, a->issuer, a->digest,
		    err);
	return hkms_x509_sign_crl(a->crl, key, a->issuer, a->digest, err);
}

enum hkms_rc
ops_sign_req(struct hkms_hsm *h, const char *keyref, X509_REQ *req,
    enum hkms_x509_digest digest, struct hkms_err *err)
{
	struct sign_arg a = { req, NULL, NULL, NULL, digest };

	return hkms_hsm_with_key(h, keyref, sign_fn, &a, err);
}

enum hkms_rc
ops_sign_cert(struct hkms_hsm *h, const char *keyref, X509 *cert,
    const X509 *issuer, enum hkms_x509_digest digest, struct hkms_err *err)
{
	struct sign_arg a = { NULL, cert, NULL, issuer, digest };

	return hkms_hsm_with_key(h, keyref, sign_fn, &a, err);
}

enum hkms_rc
ops_sign_crl(struct hkms_hsm *h, const char *keyref, X509_CRL *crl,
    const X509 *ca, enum hkms_x509_digest digest, struct hkms_err *err)
{
	struct sign_arg a = { NULL, NULL, crl, ca, digest };

	return hkms_hsm_with_key(h, keyref, sign_fn, &a, err);
}
