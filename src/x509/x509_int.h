/*
 * Internals shared by the files of src/x509 (not installed, not public).
 */
#ifndef HKMS_X509_INT_H
#define HKMS_X509_INT_H

#include <stdint.h>

#include "hkms/x509.h"

/* SAN type bits, used by profiles (san_types) and the SAN policy check. */
#define X509_SAN_DNS	0x1u
#define X509_SAN_IP	0x2u
#define X509_SAN_EMAIL	0x4u
#define X509_SAN_URI	0x8u
#define X509_SAN_ALL	0xfu

#define X509_PROFILE_MAX_EKU	16
#define X509_PROFILE_MAX_URLS	8
#define X509_PROFILE_MAX_DAYS	36500

struct hkms_x509_profile {
	char name[65];
	char description[256];
	int builtin;
	unsigned key_usage;		/* X509v3_KU_* bits */
	int key_usage_critical;
	int n_eku;
	char eku[X509_PROFILE_MAX_EKU][64];	/* dotted OIDs */
	int eku_critical;
	int bc_present;
	int bc_ca;
	int bc_path_len;		/* -1 = none */
	int bc_critical;
	int ski;
	int aki;
	int n_crldp;
	char *crldp[X509_PROFILE_MAX_URLS];
	int n_aia_ca_issuers;
	char *aia_ca_issuers[X509_PROFILE_MAX_URLS];
	int n_aia_ocsp;
	char *aia_ocsp[X509_PROFILE_MAX_URLS];
	int default_days;
	int max_days;			/* 0 = none */
	enum hkms_x509_digest digest;
	int allow_subject_from_csr;
	int allow_san_from_csr;
	unsigned san_types;		/* X509_SAN_* */
	int allow_wildcard;
};

/* keycheck.c */
const EVP_MD *x509_digest_md(enum hkms_x509_digest d);
int x509_key_is_rsa(EVP_PKEY *key);

/* X509_set_pubkey(x, pub), without OpenSSL 3.0's encoder + decoder round
 * trip for EC and RSA keys (pubkey.c). 1 on success. */
int x509_set_pubkey(X509 *x, EVP_PKEY *pub);
/* The canonical DER request der/len with its RSA or EC key decoded
 * without OpenSSL 3.0's per-call decoder context (pubkey.c); NULL when
 * this path does not apply (any doubt): then parse it the ordinary way. */
X509_REQ *x509_csr_d2i_fast(const unsigned char *der, long len);

/* name.c (the DNS validator is public: hkms_x509_dns_check) */
/* Enforce a profile's SAN types and wildcard rule on gens. */
enum hkms_rc x509_san_policy(const struct hkms_x509_profile *p,
    const GENERAL_NAMES *gens, struct hkms_err *err);

/* ext.c */
/* SHA-1 of subjectPublicKey bits (method 1), from a certificate's own
 * bit string (X509_get0_pubkey_bitstr): no re-encoding of the key. */
enum hkms_rc x509_keyid_bits(const ASN1_BIT_STRING *bits,
    ASN1_OCTET_STRING **out, struct hkms_err *err);
enum hkms_rc x509_keyid(EVP_PKEY *pub, ASN1_OCTET_STRING **out,
    struct hkms_err *err);
enum hkms_rc x509_ca_keyid(const X509 *ca, ASN1_OCTET_STRING **out,
    struct hkms_err *err);
/* A new non-critical AKI extension with keyid only; NULL on OOM. */
X509_EXTENSION *x509_ext_aki(ASN1_OCTET_STRING *keyid);
int x509_time_to_unix(const ASN1_TIME *t, int64_t *out);
/* ca is a CA valid at now that may sign certs (keyCertSign) or CRLs
 * (for_crl: cRLSign). */
enum hkms_rc x509_check_ca(const X509 *ca, int for_crl, int64_t now,
    struct hkms_err *err);

/* The signer check and digest-sign context of the sign functions
 * (sign.c), for the OCSP signature (ocsp.c): signer against expected,
 * then a context for digest. *out: EVP_MD_CTX_free. */
enum hkms_rc x509_sign_ctx(EVP_PKEY *signer, EVP_PKEY *expected,
    enum hkms_x509_digest digest, EVP_MD_CTX **out, struct hkms_err *err);

#endif
