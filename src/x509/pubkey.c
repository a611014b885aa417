/*
 * Setting a certificate's public key without a decoder round trip.
 *
 * OpenSSL 3.0's X509_set_pubkey() of a provider key (every key a CSR
 * parse yields) encodes it with an OSSL_ENCODER and decodes the result
 * again through the OSSL_DECODERs, only to drop what it decoded: about
 * 0.3 ms per certificate, a sixth of an issuance. A legacy copy of an EC
 * or RSA key is encoded by its ASN.1 method directly (about 15 us) and
 * gives the same SubjectPublicKeyInfo. This file alone uses the (3.0
 * deprecated) EC_KEY/RSA accessors that make such a copy; any other key
 * type, or a failed copy, takes the ordinary path.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "x509_int.h"

int
x509_set_pubkey(X509 *x, EVP_PKEY *pub)
{
	EVP_PKEY *leg = NULL;
	EC_KEY *ec = NULL;
	RSA *rsa = NULL;
	int ok;

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
	ok = leg != NULL && EVP_PKEY_eq(leg, pub) == 1 &&
	    X509_set_pubkey(x, leg) == 1;
	EVP_PKEY_free(leg);
	if (ok)
		return 1;
	ERR_clear_error();
	return X509_set_pubkey(x, pub);
}
