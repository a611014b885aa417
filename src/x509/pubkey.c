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

#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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
