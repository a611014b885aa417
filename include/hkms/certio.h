/*
 * Certificate input/output: parse certificates from what people hand us
 * (PEM, DER, PKCS#7, PKCS#12), encode them back out, describe one as JSON,
 * and verify a chain with OpenSSL's verifier. Pure OpenSSL, no token code:
 * every module that meets an outside certificate goes through here.
 *
 * Conventions of this header:
 * - A certificate list is a STACK_OF(X509); the caller frees one returned
 *   to it with hkms_certio_chain_free() (sk_X509_pop_free(s, X509_free)).
 * - Output buffers are malloc'd; the caller frees them with free().
 * - Machine codes set in err->code (hkms_err_code()) are part of the API:
 *   "too_large", "bad_certificate", "private_key_not_certificate",
 *   "bad_password", "password_required", "no_private_key",
 *   "multiple_private_keys", "key_certificate_mismatch", "bad_format".
 * - Every function is thread-safe (no shared state of its own).
 */
#ifndef HKMS_CERTIO_H
#define HKMS_CERTIO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hkms/error.h"

/** Largest input accepted by the parsers (1 MiB); larger is "too_large". */
#define HKMS_CERTIO_MAX_INPUT (1024 * 1024)

/** "sha256:" + 64 lower-case hex digits + NUL. */
#define HKMS_CERTIO_THUMB_SIZE 72

enum hkms_certio_format {
	HKMS_CERTIO_FMT_UNKNOWN = 0,
	HKMS_CERTIO_FMT_PEM,		/* one or many CERTIFICATE blocks */
	HKMS_CERTIO_FMT_DER,		/* one certificate */
	HKMS_CERTIO_FMT_P7B,		/* PKCS#7 certs-only, PEM armoured */
	HKMS_CERTIO_FMT_P7B_DER,	/* PKCS#7 certs-only, DER */
	HKMS_CERTIO_FMT_P12,		/* PKCS#12 */
};

/** Stable name of a format: "pem", "der", "p7b", "p7b-der", "p12". */
const char *hkms_certio_format_name(enum hkms_certio_format fmt);

/** Parse a format name (the names above; "p7c"/"pkcs7" = "p7b",
 *  "pfx"/"pkcs12" = "p12"). HKMS_E_INVALID, code "bad_format", if unknown. */
enum hkms_rc hkms_certio_format_parse(const char *name,
    enum hkms_certio_format *out, struct hkms_err *err);

/** What hkms_certio_parse() found besides the certificates. */
struct hkms_certio_info {
	enum hkms_certio_format format;	/* the detected input format */
	int has_private_key;		/* the input also held a private key
					 * (PKCS#12 or PEM); it was ignored */
};

/**
 * Parse outside input into certificates, detecting the format:
 * - PEM: any number of CERTIFICATE, X509 CERTIFICATE, TRUSTED CERTIFICATE
 *   (its OpenSSL trust settings are dropped: hkms keeps its own) and PKCS7
 *   blocks, in file order; text before a block (e.g. "Bag Attributes") is
 *   skipped, non-blank text after the last block is refused. Private key
 *   blocks are noted in info->has_private_key and skipped; other block types
 *   (CSR, CRL, public key) are refused.
 * - DER: one certificate, a PKCS#7 (certificates of a signedData), or a
 *   PKCS#12 opened with password (NULL or "" for none; both are tried).
 *   Trailing bytes after the DER object are refused.
 * Errors (HKMS_E_INVALID unless noted) carry a code: "too_large" (more
 * than HKMS_CERTIO_MAX_INPUT), "bad_certificate" (garbage, truncated,
 * trailing junk, no certificate), "private_key_not_certificate" (only a
 * key was given), "bad_password" / "password_required" (PKCS#12).
 * On success *out is a non-empty list in input order (PKCS#12: the
 * certificate matching the key first, then the others); the caller frees
 * it. info may be NULL. On failure *out is untouched.
 */
enum hkms_rc hkms_certio_parse(const unsigned char *data, size_t len,
    const char *password, STACK_OF(X509) **out,
    struct hkms_certio_info *info, struct hkms_err *err);

/** hkms_certio_parse() on the content of a file (at most
 *  HKMS_CERTIO_MAX_INPUT bytes; HKMS_E_NOT_FOUND if missing). */
enum hkms_rc hkms_certio_parse_file(const char *path, const char *password,
    STACK_OF(X509) **out, struct hkms_certio_info *info,
    struct hkms_err *err);

/**
 * Parse a private key and its certificates for key import: PEM ("PRIVATE
 * KEY", "ENCRYPTED PRIVATE KEY", traditional "RSA/EC PRIVATE KEY" also
 * when encrypted, plus any CERTIFICATE blocks), DER PKCS#8 (encrypted or
 * not) or PKCS#12. passphrase may be NULL; it is only borrowed and no copy
 * is kept. Exactly one key is required ("no_private_key",
 * "multiple_private_keys"); an encrypted key without passphrase gives
 * "password_required", a wrong one "bad_password". If certificates are
 * present one must match the key ("key_certificate_mismatch"); it is put
 * first in *certs. On success the caller owns *key (EVP_PKEY_free) and
 * *certs (possibly empty, never NULL); on failure both are untouched.
 * The key is a software key: the caller writes it into the token and
 * frees it at once.
 */
enum hkms_rc hkms_certio_parse_key(const unsigned char *data, size_t len,
    const char *passphrase, EVP_PKEY **key, STACK_OF(X509) **certs,
    struct hkms_err *err);

/**
 * Encode certificates: PEM (all, in order), DER (the first only), P7B /
 * P7B_DER (PKCS#7 certs-only with all), P12 (all, no key: see
 * hkms_certio_encode_p12 with name NULL). password is used for P12 only.
 * On success *out (malloc'd, caller frees) and *outlen are set.
 */
enum hkms_rc hkms_certio_encode(STACK_OF(X509) *certs,
    enum hkms_certio_format fmt, const char *password, unsigned char **out,
    size_t *outlen, struct hkms_err *err);

/** All certificates as one NUL-terminated PEM string (for records and JSON);
 *  the caller frees *pem. */
enum hkms_rc hkms_certio_pem_string(STACK_OF(X509) *certs, char **pem,
    struct hkms_err *err);

/**
 * A PKCS#12 of certificates only (never a key), e.g. a collection of many.
 * With a password (non-empty) the certificate bags are encrypted
 * (PBES2/AES-256-CBC, OpenSSL 3 default) and a SHA-256 MAC is added; with
 * password NULL or "" the bags are in clear and there is no MAC, which
 * `openssl pkcs12 -passin pass:` and Java read. name, if not NULL, becomes
 * the friendlyName of the first certificate and "<name>-<n>" of the n-th.
 */
enum hkms_rc hkms_certio_encode_p12(STACK_OF(X509) *certs,
    const char *password, const char *name, unsigned char **out,
    size_t *outlen, struct hkms_err *err);

/**
 * Describe a certificate as a JSON object (what a certificate screen
 * shows). now: the time "status" is relative to (0 = time(NULL)).
 * This is the one JSON shape of a certificate (docs/certificates.md
 * "JSON shape"); the operations add the record's context to it. Every key
 * is always present (absent values are JSON null, lists []):
 *   common_name, subject (RFC 4514/2253 string, UTF-8, most specific RDN
 *   first, e.g. "CN=a,O=b,C=US"), san ["DNS:x","IP:y","email:z","URI:u",
 *   ...], country, state, city, organization, organizational_unit, email,
 *   issuer (same form as subject), serial (upper-case hex, no separators,
 *   as hkms_x509_serial_to_hex), version, digest_algorithm ("SHA256"),
 *   signature_algorithm ("sha256WithRSAEncryption"), key_type ("RSA",
 *   "EC", "ED25519", ...), key_bits, curve ("P-256", else OpenSSL's group
 *   name), not_before, not_after (RFC 3339 UTC), lifetime_days, days_left
 *   (whole days to not_after from now, rounded down, negative once
 *   expired), fingerprint_sha1, fingerprint_sha256 (upper-case hex with
 *   ':', as `openssl x509 -fingerprint`), thumbprint ("sha256:<lower-case
 *   hex>"), subject_key_id, authority_key_id (lower-case hex),
 *   self_signed, is_ca, path_len (null if unlimited or not a CA),
 *   key_usage [names like "digitalSignature", "keyCertSign"],
 *   extended_key_usage ["serverAuth", "clientAuth", ... or dotted OIDs],
 *   status ("valid", "expired", "not-yet-valid"), pem.
 * On success the caller owns *out (json_decref).
 */
enum hkms_rc hkms_certio_describe(X509 *cert, int64_t now, json_t **out,
    struct hkms_err *err);

/** The same shape for a PKCS#10 request: the subject and SAN keys, version,
 *  digest_algorithm, signature_algorithm, key_type, key_bits, curve and pem
 *  from the request; the certificate-only keys (issuer, serial, times,
 *  fingerprints, thumbprint, key ids, self_signed, is_ca, path_len) null,
 *  key_usage and extended_key_usage [], status "csr". */
enum hkms_rc hkms_certio_describe_req(X509_REQ *req, json_t **out,
    struct hkms_err *err);

/** The "sha256:<64 lower-case hex>" thumbprint of the DER certificate
 *  into out. Returns HKMS_E_CRYPTO only if OpenSSL cannot encode it. */
enum hkms_rc hkms_certio_thumbprint(X509 *cert,
    char out[HKMS_CERTIO_THUMB_SIZE], struct hkms_err *err);

/** A name as an RFC 4514/2253 UTF-8 string (as "dn" above); malloc'd,
 *  caller frees; NULL if out of memory. */
char *hkms_certio_name_str(const X509_NAME *name);

/** An ASN1_TIME as seconds since the epoch. HKMS_E_INVALID if malformed. */
enum hkms_rc hkms_certio_time(const ASN1_TIME *t, int64_t *out,
    struct hkms_err *err);

/** Free a certificate list and its certificates; accepts NULL. */
void hkms_certio_chain_free(STACK_OF(X509) *certs);

/** Copy a list: a new stack holding new references to the same
 *  certificates. NULL if out of memory. */
STACK_OF(X509) *hkms_certio_chain_dup(STACK_OF(X509) *certs);

enum hkms_certio_purpose {
	HKMS_CERTIO_PURPOSE_ANY = 0,	/* no purpose / EKU check */
	HKMS_CERTIO_PURPOSE_SERVER,	/* X509_PURPOSE_SSL_SERVER */
	HKMS_CERTIO_PURPOSE_CLIENT,	/* X509_PURPOSE_SSL_CLIENT */
};

/** "any", "server", "client". */
const char *hkms_certio_purpose_name(enum hkms_certio_purpose p);

/** Parse "any|server|client" (HKMS_E_INVALID, code "bad_purpose"). */
enum hkms_rc hkms_certio_purpose_parse(const char *name,
    enum hkms_certio_purpose *out, struct hkms_err *err);

/* path validation (issue 14b) */
/** Path-validation profile (docs/truststore.md, "Path rules"). OPENSSL
 *  runs OpenSSL's verifier alone (security level 2), as before profiles;
 *  RFC5280 adds X509_V_FLAG_X509_STRICT and the RFC 5280 rules of
 *  pathrules.c; WEBPKI adds the CA/Browser Forum profile on top. */
enum hkms_certio_profile {
	HKMS_CERTIO_PROFILE_OPENSSL = 0,
	HKMS_CERTIO_PROFILE_RFC5280,
	HKMS_CERTIO_PROFILE_WEBPKI,
};

/** Default max_depth of a profile: 7 for webpki (6 intermediates, the
 *  limit of rustls-webpki), 32 for rfc5280, 100 (OpenSSL's) otherwise. */
int hkms_certio_profile_max_depth(enum hkms_certio_profile p);

/** "openssl", "rfc5280", "webpki". */
const char *hkms_certio_profile_name(enum hkms_certio_profile p);

/** Parse "rfc5280|webpki|openssl" (HKMS_E_INVALID, code "bad_profile");
 *  NULL or "" picks the default for the purpose: webpki for server,
 *  rfc5280 otherwise. "openssl" is OpenSSL's verifier alone, the verdict
 *  of `openssl verify -auth_level 2` (T-X509-1). */
enum hkms_rc hkms_certio_profile_parse(const char *name,
    enum hkms_certio_purpose purpose, enum hkms_certio_profile *out,
    struct hkms_err *err);

/**
 * Run the path rules of profile over a chain OpenSSL has built and
 * accepted (leaf first, anchor last; borrowed). host is the name the
 * caller asked for (NULL = none). Returns NULL when every rule holds,
 * else the name of the first rule that fails (a static string, e.g.
 * "serial_number"); *depth gets the depth of the certificate that broke
 * it and msg (size n) a lower-case sentence. Thread-safe.
 */
const char *hkms_certio_path_rules(STACK_OF(X509) *chain,
    enum hkms_certio_profile profile, enum hkms_certio_purpose purpose,
    const char *host, int max_depth, int *depth, char *msg, size_t n);

/** An X509_STORE_CTX verify callback for X509_V_FLAG_X509_STRICT: the
 *  strict checks of a certificate's own extensions (key usage, SKI,
 *  critical basic constraints, pathLen without keyCertSign, extensions
 *  on v1) are not applied to the trusted anchor at the top of the chain
 *  (RFC 5280 6.1.1 (d): an anchor is a name and a key). */
int hkms_certio_anchor_cb(int ok, X509_STORE_CTX *ctx);

/** The path rule an OpenSSL verification error stands for (e.g.
 *  X509_V_ERR_CA_BCONS_NOT_CRITICAL -> "ca_basic_constraints_critical");
 *  "openssl" when none fits. */
const char *hkms_certio_openssl_rule(int x509_v_err);

/** Options of hkms_certio_verify_ex(). Zero-initialise, then set. */
struct hkms_certio_verify_opts {
	enum hkms_certio_purpose purpose;
	const char *host;	/* DNS name or IP literal to match; NULL = none */
	int64_t at_time;	/* verification time; 0 = now */
	int partial_chain;	/* accept a trusted non-self-signed anchor
				 * (X509_V_FLAG_PARTIAL_CHAIN); off by default */
	/* path validation (issue 14b) */
	enum hkms_certio_profile profile; /* 0 = OpenSSL's checks only */
	int max_depth;		/* deepest anchor allowed (leaf = depth 0);
				 * 0 = the profile's default */
};

/**
 * Verify leaf against trusted anchors with OpenSSL's X509_verify_cert:
 * untrusted (may be NULL) are intermediates offered by the peer; purpose
 * checks the EKU and key usage (X509_PURPOSE_SSL_SERVER/CLIENT); host is
 * matched against the SANs (an IP literal against IP SANs); at_time 0 =
 * now; security level 2 (RSA >= 2048, no SHA-1 signatures); path length,
 * name constraints and validity periods are checked by OpenSSL; partial
 * chains are refused (the anchor must be a self-signed trusted
 * certificate, or the leaf itself when it is self-signed and trusted).
 * *result (caller owns) is always set when the verifier ran:
 *   {"ok":true, "path":[{"subject","issuer","thumbprint","not_after"},...]
 *    leaf first, anchor last, "purpose", "host", "at"}
 *   {"ok":false, "error":{"code","message","depth","subject","openssl"},
 *    "purpose", "host", "at"}
 * where code is a stable name: "certificate_expired",
 * "certificate_not_yet_valid", "hostname_mismatch", "ip_address_mismatch",
 * "invalid_purpose", "path_length_exceeded", "name_constraints_violation",
 * "unable_to_get_issuer", "self_signed_certificate" (untrusted self-signed
 * leaf), "self_signed_in_chain" (untrusted root), "bad_signature",
 * "invalid_ca", "weak_key", "weak_signature", "certificate_revoked",
 * "unhandled_critical_extension", ... ("verification_failed" for the rest;
 * "openssl" holds X509_V_ERR_* and "message" X509_verify_cert_error_string).
 * With a profile (opts->profile, issue 14b) the result also has "profile"
 * and "max_depth", every error has "rule" (hkms_certio_openssl_rule, or
 * the path rule that failed after OpenSSL accepted the path, then with
 * code "path_rule" and no "openssl").
 * Returns HKMS_OK when the chain holds, HKMS_E_VERIFY (err->code = the
 * error code above) when it does not, other codes if it could not run
 * (then *result is NULL).
 */
enum hkms_rc hkms_certio_verify(STACK_OF(X509) *trusted,
    STACK_OF(X509) *untrusted, X509 *leaf, enum hkms_certio_purpose purpose,
    const char *host, int64_t at_time, json_t **result,
    struct hkms_err *err);

/** hkms_certio_verify() with options (e.g. partial_chain). */
enum hkms_rc hkms_certio_verify_ex(STACK_OF(X509) *trusted,
    STACK_OF(X509) *untrusted, X509 *leaf,
    const struct hkms_certio_verify_opts *opts, json_t **result,
    struct hkms_err *err);

#endif
