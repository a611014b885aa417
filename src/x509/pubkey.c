/*
 * Public keys without OpenSSL 3.0's decoder and encoder round trips.
 *
 * Parsing a CSR: d2i_X509_REQ() builds a new OSSL_DECODER_CTX for the
 * request's SubjectPublicKeyInfo on every call (enumerating every key
 * manager and decoder: about 0.25 ms, an eighth of an issuance), and no
 * public API reuses one. x509_csr_d2i_fast() decodes the request in a
 * library context that holds only the null provider (so that step finds
 * nothing and leaves the key undecoded), then decodes an rsaEncryption or
 * named-curve id-ecPublicKey key with the legacy d2i_RSA_PUBKEY() /
 * d2i_EC_PUBKEY() (the very functions the default provider's decoders
 * call; for P-256/384/521 the latter's steps with a copy of a group made
 * once) and sets it into the request. It gives up (NULL) on anything
 * else: another key type, a key those functions refuse, an SM2 or
 * explicit curve, a point not in uncompressed form (certificates get
 * the ordinary path's uncompressed point, never a hybrid one), or a
 * request whose re-encoding is not its exact input;
 * the caller then takes the ordinary d2i_X509_REQ() path, so what is
 * accepted and refused, and with which error, does not change.
 *
 * Setting a certificate's public key: OpenSSL 3.0's X509_set_pubkey() of
 * a provider key (what the ordinary CSR parse yields) encodes it with an OSSL_ENCODER and decodes the result
 * again through the OSSL_DECODERs, only to drop what it decoded: about
 * 0.3 ms per certificate, a sixth of an issuance. A legacy copy of an EC
 * or RSA key is encoded by its ASN.1 method directly (about 15 us) and
 * gives the same SubjectPublicKeyInfo (a key from x509_csr_d2i_fast()
 * is one already). This file alone uses the (3.0 deprecated) EC_KEY/RSA
 * functions; any other key type, or a failed copy, takes the ordinary
 * path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <pthread.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "x509_int.h"

/* 1 if x's public key (just set from a copy) is pub: for EC the encoded
 * point against the key's bit string (cheap), else EVP_PKEY_eq. */
static int
same_key(X509 *x, EVP_PKEY *pub)
{
	const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
	unsigned char *pt = NULL;
	size_t n;
	int eq;

	if (EVP_PKEY_get_base_id(pub) != EVP_PKEY_EC)
		return EVP_PKEY_eq(X509_get0_pubkey(x), pub) == 1;
	n = EVP_PKEY_get1_encoded_public_key(pub, &pt);
	eq = bits != NULL && n > 0 && (size_t)ASN1_STRING_length(bits) == n &&
	    memcmp(ASN1_STRING_get0_data(bits), pt, n) == 0;
	OPENSSL_free(pt);
	return eq;
}

int
x509_set_pubkey(X509 *x, EVP_PKEY *pub)
{
	EVP_PKEY *leg = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int ok;

	/* a legacy key (x509_csr_d2i_fast's) is encoded by its ASN.1
	 * method already */
	if (EVP_PKEY_get0_provider(pub) == NULL)
		return X509_set_pubkey(x, pub);
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_EC:
		if ((ec = EVP_PKEY_get1_EC_KEY(pub)) != NULL &&
		    (leg = EVP_PKEY_new()) != NULL &&
		    EVP_PKEY_assign_EC_KEY(leg, ec))
			ec = NULL;	/* owned by leg */
		break;
	case EVP_PKEY_RSA:
		if ((rsa = EVP_PKEY_get1_RSA(pub)) != NULL &&
		    (leg = EVP_PKEY_new()) != NULL &&
		    EVP_PKEY_assign_RSA(leg, rsa))
			rsa = NULL;	/* owned by leg */
		break;
	default:
		break;
	}
	EC_KEY_free(ec);
	RSA_free(rsa);
	if (leg != NULL && (ec != NULL || rsa != NULL ||
	    EVP_PKEY_get_base_id(leg) == EVP_PKEY_NONE)) {
		EVP_PKEY_free(leg);
		leg = NULL;
	}
	/* the copy must encode to the very same key */
	ok = leg != NULL && X509_set_pubkey(x, leg) == 1 && same_key(x, pub);
	EVP_PKEY_free(leg);
	if (ok)
		return 1;
	ERR_clear_error();
	return X509_set_pubkey(x, pub);
}

static OSSL_LIB_CTX *nokeys_ctx;
static pthread_once_t nokeys_once = PTHREAD_ONCE_INIT;

/* A library context with only the null provider: no key manager, no
 * decoder (loading any provider keeps the default one from loading). */
static void
nokeys_init(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	if (c != NULL && OSSL_PROVIDER_load(c, "null") == NULL) {
		OSSL_LIB_CTX_free(c);
		c = NULL;
	}
	nokeys_ctx = c;
	ERR_clear_error();
}

/* P-256, P-384, P-521, made once: a CSR's key gets a copy of its curve
 * (EC_GROUP_dup only reads the original) instead of a new group (the
 * curve's Montgomery constants and generator computed again). */
static const int fast_curves[] = { NID_X9_62_prime256v1, NID_secp384r1,
    NID_secp521r1 };
static EC_GROUP *curve_groups[3];
static pthread_once_t curves_once = PTHREAD_ONCE_INIT;

static void
curves_init(void)
{
	size_t i;

	for (i = 0; i < 3; i++)
		curve_groups[i] = EC_GROUP_new_by_curve_name(fast_curves[i]);
	ERR_clear_error();
}

/* eckey_pub_decode() (what d2i_EC_PUBKEY runs) for a key on one of
 * fast_curves named by its OID, with a copy of the kept group: a new
 * EC_KEY, the group, o2i_ECPublicKey() of the bit string. NULL if the
 * key is not on such a curve (then d2i_EC_PUBKEY) or does not decode. */
static EC_KEY *
ec_named_decode(X509_PUBKEY *xpk, int *other)
{
	const unsigned char *pt = NULL;
	const void *pval = NULL;
	X509_ALGOR *alg = NULL;
	const EC_GROUP *g = NULL;
	EC_KEY *ec = NULL;
	int ptype, ptlen = 0, nid;
	size_t i;

	*other = 1;
	if (X509_PUBKEY_get0_param(NULL, &pt, &ptlen, &alg, xpk) != 1 ||
	    alg == NULL)
		return NULL;
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT || pval == NULL ||
	    pthread_once(&curves_once, curves_init) != 0)
		return NULL;
	nid = OBJ_obj2nid(pval);
	for (i = 0; i < 3; i++)
		if (fast_curves[i] == nid)
			g = curve_groups[i];
	if (g == NULL)
		return NULL;
	*other = 0;
	if ((ec = EC_KEY_new()) == NULL || EC_KEY_set_group(ec, g) != 1 ||
	    o2i_ECPublicKey(&ec, &pt, ptlen) == NULL) {
		EC_KEY_free(ec);
		return NULL;
	}
	return ec;
}

/* The SubjectPublicKeyInfo xpk encoded (*der, OPENSSL_free) for the
 * legacy d2i functions; its length, or 0. */
static int
spki_der(X509_PUBKEY *xpk, unsigned char **der)
{
	int n;

	*der = NULL;
	return (n = i2d_X509_PUBKEY(xpk, der)) > 0 ? n : 0;
}

/* The legacy EVP_PKEY of an RSA or named-curve EC SubjectPublicKeyInfo,
 * decoded as the default provider's decoders do (d2i_*_PUBKEY, then their
 * type check); NULL for anything else. */
static EVP_PKEY *
spki_legacy(X509_PUBKEY *xpk)
{
	const ASN1_OBJECT *obj = NULL;
	const unsigned char *p;
	unsigned char *der = NULL;
	EVP_PKEY *pk = NULL;
	const EC_GROUP *g;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int n = 0, other;

	if (xpk == NULL ||
	    X509_PUBKEY_get0_param((ASN1_OBJECT **)&obj, NULL, NULL, NULL,
	    xpk) != 1)
		goto out;
	switch (OBJ_obj2nid(obj)) {
	case NID_X9_62_id_ecPublicKey:
		if ((ec = ec_named_decode(xpk, &other)) == NULL && other &&
		    (n = spki_der(xpk, &der)) > 0) {
			p = der;
			if ((ec = d2i_EC_PUBKEY(NULL, &p, n)) != NULL &&
			    p != der + n)
				goto out;
		}
		if (ec == NULL ||
		    (EC_KEY_get_flags(ec) & EC_FLAG_SM2_RANGE) != 0 ||
		    (g = EC_KEY_get0_group(ec)) == NULL ||
		    EC_GROUP_get_curve_name(g) == NID_undef ||
		    (EC_GROUP_get_asn1_flag(g) & OPENSSL_EC_NAMED_CURVE) == 0 ||
		    EC_KEY_get0_public_key(ec) == NULL ||
		    /* a compressed or hybrid point would go into the
		     * certificate as it came (x509_set_pubkey): the
		     * ordinary path's key is encoded uncompressed */
		    EC_KEY_get_conv_form(ec) != POINT_CONVERSION_UNCOMPRESSED)
			goto out;
		if ((pk = EVP_PKEY_new()) == NULL ||
		    !EVP_PKEY_assign_EC_KEY(pk, ec))
			goto out;
		ec = NULL;	/* owned by pk */
		break;
	case NID_rsaEncryption:
		if ((n = spki_der(xpk, &der)) == 0)
			goto out;
		p = der;
		if ((rsa = d2i_RSA_PUBKEY(NULL, &p, n)) == NULL ||
		    p != der + n ||
		    RSA_test_flags(rsa, RSA_FLAG_TYPE_MASK) !=
		    RSA_FLAG_TYPE_RSA)
			goto out;
		if ((pk = EVP_PKEY_new()) == NULL ||
		    !EVP_PKEY_assign_RSA(pk, rsa))
			goto out;
		rsa = NULL;	/* owned by pk */
		break;
	default:
		break;
	}
out:
	if (ec != NULL || rsa != NULL) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EC_KEY_free(ec);
	RSA_free(rsa);
	OPENSSL_free(der);
	return pk;
}

X509_REQ *
x509_csr_d2i_fast(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	unsigned char *re = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pk = NULL;
	int ok = 0;

	if (pthread_once(&nokeys_once, nokeys_init) != 0 ||
	    nokeys_ctx == NULL)
		return NULL;
	/* the request's own libctx stays the default one: only the
	 * SubjectPublicKeyInfo (replaced below) is made in nokeys_ctx */
	if ((req = (X509_REQ *)ASN1_item_d2i_ex(NULL, &p, len,
	    ASN1_ITEM_rptr(X509_REQ), nokeys_ctx, NULL)) == NULL ||
	    p != der + len ||
	    (pk = spki_legacy(X509_REQ_get_X509_PUBKEY(req))) == NULL ||
	    X509_REQ_set_pubkey(req, pk) != 1)
		goto out;
	/* setting the key drops the kept encoding of the request info: the
	 * whole request must encode to its input again, so that its
	 * signature is checked over the bytes it came in */
	ok = i2d_X509_REQ(req, &re) == len &&
	    memcmp(re, der, (size_t)len) == 0;
out:
	ERR_clear_error();
	OPENSSL_free(re);
	EVP_PKEY_free(pk);
	if (!ok) {
		X509_REQ_free(req);
		req = NULL;
	}
	return req;
}
