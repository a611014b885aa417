/*
 * hkms x509: the certificate engine. Names, profiles, CSRs, certificates and
 * CRLs with OpenSSL 3. No token code: signing keys arrive as EVP_PKEY * (for
 * token keys a libp11-backed key whose private half stays in the HSM).
 *
 * Every object is made in two steps so the token layer can retry a sign
 * after a reconnect:
 *
 *	hkms_x509_cert_build*() / _csr_build() / _crl_build()
 *		-> a fully populated, unsigned X509 / X509_REQ / X509_CRL
 *	hkms_x509_sign_cert() / _sign_req() / _sign_crl()
 *		-> idempotent: signing again replaces the signature
 *
 * Error codes (err->code) used here, beside the generic ones:
 *   weak_key, weak_digest, invalid_subject, invalid_san, san_not_allowed,
 *   invalid_profile, unknown_profile, bad_csr, bad_csr_signature,
 *   lifetime_exceeds_ca, lifetime_exceeds_profile, ca_expired,
 *   ca_not_yet_valid, not_a_ca,
 *   path_len_exceeded, key_mismatch, signature_check_failed.
 *
 * Thread safety: every function is thread-safe; no function keeps global
 * mutable state. Objects passed in are only read unless stated otherwise
 * (OpenSSL getters are not const-clean, hence some non-const borrowed
 * pointers). Design notes, profiles table and policies: docs/x509.md.
 */
#ifndef HKMS_X509_H
#define HKMS_X509_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hkms/error.h"
#include <jansson.h>

/* ------------------------------------------------------------------ */
/* Digests and keys                                                    */
/* ------------------------------------------------------------------ */

enum hkms_x509_digest {
	HKMS_X509_DIGEST_AUTO = 0,	/* from the signing key: P-384 -> sha384,
					 * P-521 -> sha512, else sha256 */
	HKMS_X509_SHA256 = 256,
	HKMS_X509_SHA384 = 384,
	HKMS_X509_SHA512 = 512,
};

/** Parse "sha256" | "sha384" | "sha512" | "auto" (case-insensitive; NULL or
 *  "" = auto). sha1, md5 and friends give HKMS_E_POLICY "weak_digest",
 *  anything else HKMS_E_INVALID. */
enum hkms_rc hkms_x509_digest_parse(const char *s,
    enum hkms_x509_digest *out, struct hkms_err *err);

/** "sha256", "sha384", "sha512" or "auto". Never NULL. */
const char *hkms_x509_digest_name(enum hkms_x509_digest d);

/** The digest to sign with: d itself, or for AUTO the one matching key
 *  (key may be NULL: sha256). */
enum hkms_x509_digest hkms_x509_digest_resolve(enum hkms_x509_digest d,
    EVP_PKEY *key);

/** Refuse keys hkms does not sign for or certify: RSA < 2048 bits or with
 *  a public exponent that is even or < 65537, EC on curves other than
 *  P-256/P-384/P-521, and every other type (DSA, DH, Ed25519, RSA-PSS...).
 *  HKMS_E_POLICY "weak_key" with the reason in detail; HKMS_E_INVALID for
 *  a NULL key. Only the public half is looked at. */
enum hkms_rc hkms_x509_check_key(EVP_PKEY *pub, struct hkms_err *err);

/** What a key is, for display. */
struct hkms_x509_key_info {
	char type[8];		/* "RSA", "EC", or "other" */
	int bits;		/* modulus / field size */
	char curve[24];		/* "P-256", "P-384", "P-521", other NIST or
				 * SN name; "" for RSA */
};

/** Describe pub into *out. HKMS_E_INVALID for NULL. Never refuses a weak
 *  key (use hkms_x509_check_key for that). */
enum hkms_rc hkms_x509_key_describe(EVP_PKEY *pub,
    struct hkms_x509_key_info *out, struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

/** Parse a subject "/CN=a/O=b/OU=c/C=DE/ST=x/L=y/emailAddress=z" (email= is
 *  accepted for emailAddress; attribute names are case-insensitive).
 *  "\/" is a literal '/' and "\\" a literal '\'. Values are UTF-8, not
 *  empty, no control characters; CN/O/OU <= 64 characters, ST/L <= 128,
 *  email <= 255 ASCII with one '@', C exactly two letters (upper-cased).
 *  OU may repeat, other attributes may not; at least one attribute.
 *  Unknown attributes are refused. Entries keep the given order.
 *  *out is new: the caller frees it with X509_NAME_free(); untouched on
 *  failure. HKMS_E_INVALID "invalid_subject" naming the bad part. */
enum hkms_rc hkms_x509_name_parse(const char *subject, X509_NAME **out,
    struct hkms_err *err);

/** Apply the rules of hkms_x509_name_parse to a name that came from
 *  elsewhere (a CSR): attribute set, string types, embedded NULs, UTF-8,
 *  lengths. An empty name passes (the caller decides whether it needs
 *  one). HKMS_E_INVALID "invalid_subject". */
enum hkms_rc hkms_x509_name_check(const X509_NAME *name,
    struct hkms_err *err);

/** Format name in the same "/CN=a/O=b" syntax (with '/' and '\' escaped),
 *  so that hkms_x509_name_parse(*out) gives name back. *out is malloc'd;
 *  the caller frees it with free(). */
enum hkms_rc hkms_x509_name_format(const X509_NAME *name, char **out,
    struct hkms_err *err);

/** Parse a SAN list "DNS:a,IP:10.0.0.1,IP:::1,email:x@y,URI:https://u"
 *  (type names case-insensitive; "\," is a literal ',', "\\" a '\').
 *  DNS: LDH labels of 1..63, <= 253 in all, one optional leading "*."
 *  followed by at least two labels. IP: IPv4 or IPv6 (inet_pton). email:
 *  ASCII local@domain with a valid domain. URI: "scheme:rest", printable
 *  ASCII. At most 100 entries, no duplicates, no empty list.
 *  *out is new (GENERAL_NAMES_free()); untouched on failure.
 *  HKMS_E_INVALID "invalid_san" naming the bad entry. */
enum hkms_rc hkms_x509_san_parse(const char *sans, GENERAL_NAMES **out,
    struct hkms_err *err);

/** Apply the rules of hkms_x509_san_parse to SANs from elsewhere (a CSR):
 *  only DNS/IP/email/URI, no embedded NULs, valid syntax.
 *  HKMS_E_INVALID "invalid_san". */
enum hkms_rc hkms_x509_san_check(const GENERAL_NAMES *gens,
    struct hkms_err *err);

/** Format SANs as "DNS:a,IP:10.0.0.1" (',' and '\' escaped). *out is
 *  malloc'd, freed with free(); "" for an empty list. */
enum hkms_rc hkms_x509_san_format(const GENERAL_NAMES *gens, char **out,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Host names, CIDR ranges, name constraints (nameconst.c, name.c)     */
/* ------------------------------------------------------------------ */

/** The one DNS name validator of hkms: LDH labels of 1..63 ASCII letters,
 *  digits and '-' (not first or last in a label) separated by single dots,
 *  1..253 characters in all, no trailing dot. Punycode ("xn--…") labels
 *  are LDH and pass; raw UTF-8 does not. wildcard_ok: "*." may lead, with
 *  at least two labels after it. s need not be NUL-terminated (len).
 *  HKMS_E_INVALID "invalid_san" (err may be NULL). */
enum hkms_rc hkms_x509_dns_check(const char *s, size_t len, int wildcard_ok,
    struct hkms_err *err);

/** An address range: family AF_INET (len 4) or AF_INET6 (len 16). An
 *  IPv4-mapped IPv6 address ("::ffff:10.0.0.0/104") stays IPv6 (len 16),
 *  as in a certificate's iPAddress, and never covers a 4-octet address. */
struct hkms_x509_cidr {
	int family;
	unsigned char addr[16];
	int len;		/* address octets: 4 or 16 */
	int bits;		/* prefix length, 0..8*len */
};

/** hkms_x509_cidr_parse flags. */
#define HKMS_X509_CIDR_STRICT	0x1	/* host bits must be zero */
#define HKMS_X509_CIDR_PREFIX	0x2	/* the "/bits" is required (else a
					 * bare address is /32 or /128) */

/** Parse "10.0.0.0/8", "fd00::/8", "192.0.2.1" (flags as above). The one
 *  CIDR parser of hkms. HKMS_E_INVALID "invalid_cidr" (err may be NULL). */
enum hkms_rc hkms_x509_cidr_parse(const char *s, int flags,
    struct hkms_x509_cidr *out, struct hkms_err *err);

/** 1 if the address ip (len octets: 4 or 16) is inside c. */
int hkms_x509_cidr_contains(const struct hkms_x509_cidr *c,
    const unsigned char *ip, size_t len);

/** RFC 5280 dNSName constraint matching as OpenSSL does it
 *  (case-insensitive): base "example.com" covers itself and every name
 *  below it, ".example.com" only the names below it, "" every name. */
int hkms_x509_nc_dns_match(const char *name, const char *base);

/** The CN of name if verifiers treat it as a host name (a dot and only
 *  LDH labels, optionally "*." first), copied to buf; 0 if there is none. */
int hkms_x509_cn_hostname(const X509_NAME *name, char *buf, size_t size);

/** Check x against the name constraints of every CA in chain (issuer
 *  first, up to the root) like a verifier would: DNS and IP SANs (and,
 *  is_leaf, a host-name CN) by the rules above, every other name type by
 *  OpenSSL's NAME_CONSTRAINTS_check. HKMS_E_POLICY "policy_violation"
 *  naming the name and the CA. */
enum hkms_rc hkms_x509_nc_check(STACK_OF(X509) *chain, X509 *x, int is_leaf,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Profiles                                                            */
/* ------------------------------------------------------------------ */

/** A certificate profile: which extensions a certificate gets, its
 *  lifetime and digest, and which names may come from a CSR. Immutable
 *  once made; share it freely between threads. */
struct hkms_x509_profile;

/** Find profile name: a built-in one (tls-server, tls-client,
 *  tls-server-client, ca, intermediate-ca, code-signing, email), else
 *  <profiles_dir>/<name>.json (profiles_dir may be NULL: built-ins only).
 *  Built-in names are reserved and never read from the directory.
 *  *out is new: free it with hkms_x509_profile_free(). HKMS_E_NOT_FOUND
 *  "unknown_profile"; HKMS_E_INVALID "invalid_profile" for a bad file,
 *  with the file and the offending field in detail. */
enum hkms_rc hkms_x509_profile_get(const char *name, const char *profiles_dir,
    struct hkms_x509_profile **out, struct hkms_err *err);

/** Parse a custom profile from JSON text (schema: docs/x509.md). name must
 *  satisfy hkms_name_valid() and must not be a built-in name. Unknown
 *  fields and values are refused by name. *out as for _get. */
enum hkms_rc hkms_x509_profile_from_json(const char *name, const char *json,
    size_t len, struct hkms_x509_profile **out, struct hkms_err *err);

/** Serialize p to JSON in the custom-profile schema (every field given), so
 *  _from_json of the result makes an equal profile. *out is malloc'd,
 *  freed with free(). */
enum hkms_rc hkms_x509_profile_to_json(const struct hkms_x509_profile *p,
    char **out, struct hkms_err *err);

/** List the profile names: built-ins first (in the order above), then the
 *  *.json files in profiles_dir (nullable; a missing directory counts as
 *  empty), sorted. Files are not parsed here. A file using a built-in name
 *  gives HKMS_E_INVALID "invalid_profile". *names is a NULL-terminated
 *  malloc'd vector, freed with hkms_x509_strv_free(); *count may be NULL. */
enum hkms_rc hkms_x509_profile_list(const char *profiles_dir, char ***names,
    size_t *count, struct hkms_err *err);

/** The profiles directory is never used through a symbolic link (it is
 *  <data>/profiles by default, where nothing is; a configured one is named
 *  by its real path): HKMS_E_DENIED "unsafe_path" when profiles_dir is a
 *  link or not a directory; HKMS_OK when it is one, or is missing, or is
 *  NULL. _get, _list and the profile operations check it first. */
enum hkms_rc hkms_x509_profiles_dir_check(const char *profiles_dir,
    struct hkms_err *err);

void hkms_x509_profile_free(struct hkms_x509_profile *p);

/* ---- per-request extension switches (issue 13b) ---- */

/** The TrueNAS wizard's switches for one certificate, within its profile.
 *  0 / NULL everywhere: the profile as it is. */
#define HKMS_X509_EXT_ON 1
#define HKMS_X509_EXT_OFF 2
struct hkms_x509_ext_choice {
	int basic_constraints;	/* 0, HKMS_X509_EXT_ON or _OFF */
	int aki;		/* authority key identifier: 0, _ON, _OFF */
	const char *key_usage;	/* comma list of key usage names, a subset
				 * of the profile's; "" or "none": omit the
				 * extension; NULL: the profile's */
	const char *extended_key_usage;	/* the same for EKU names/OIDs */
};

/** Whether ch changes anything. */
int hkms_x509_ext_choice_set(const struct hkms_x509_ext_choice *ch);

/** A copy of p narrowed by ch (*out new; free with
 *  hkms_x509_profile_free). Only what the profile has can be chosen:
 *  switching on an extension it lacks, a usage outside its list, or
 *  dropping basic constraints of a CA profile is HKMS_E_POLICY
 *  "extension_not_allowed" naming the field; an unknown name
 *  "invalid_field". */
enum hkms_rc hkms_x509_profile_narrow(const struct hkms_x509_profile *p,
    const struct hkms_x509_ext_choice *ch, struct hkms_x509_profile **out,
    struct hkms_err *err);

/** ch as JSON for an audit line or result (a new object). */
json_t *hkms_x509_ext_choice_json(const struct hkms_x509_ext_choice *ch);
void hkms_x509_strv_free(char **v);

/** Accessors. Never fail on a valid profile. */
const char *hkms_x509_profile_name(const struct hkms_x509_profile *p);
int hkms_x509_profile_builtin(const struct hkms_x509_profile *p);
int hkms_x509_profile_is_ca(const struct hkms_x509_profile *p);
int hkms_x509_profile_default_days(const struct hkms_x509_profile *p);
/** 0 = no cap beyond the issuer's not-after. */
int hkms_x509_profile_max_days(const struct hkms_x509_profile *p);
enum hkms_x509_digest hkms_x509_profile_digest(
    const struct hkms_x509_profile *p);
int hkms_x509_profile_allow_san_from_csr(const struct hkms_x509_profile *p);

/* ------------------------------------------------------------------ */
/* Serial numbers                                                      */
/* ------------------------------------------------------------------ */

/** Longest hex serial (20 octets) plus NUL. */
#define HKMS_X509_SERIAL_HEX_MAX 41

/** A fresh serial: 159 bits from the OpenSSL CSPRNG with the top bit
 *  cleared, never zero, so it is positive and at most 20 DER octets.
 *  Uniqueness per CA is the caller's job (store lookup); two serials
 *  collide with probability 2^-159. *out is new: ASN1_INTEGER_free(). */
enum hkms_rc hkms_x509_serial_new(ASN1_INTEGER **out, struct hkms_err *err);

/** Upper-case hex without separators or leading zero octets into out. */
enum hkms_rc hkms_x509_serial_to_hex(const ASN1_INTEGER *serial,
    char out[HKMS_X509_SERIAL_HEX_MAX], struct hkms_err *err);

/** Parse hex (optional ':' separators, either case): positive, 1..20
 *  octets. *out is new: ASN1_INTEGER_free(). HKMS_E_INVALID. */
enum hkms_rc hkms_x509_serial_from_hex(const char *hex, ASN1_INTEGER **out,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* CSRs                                                                */
/* ------------------------------------------------------------------ */

/** Largest CSR hkms_x509_csr_parse accepts. */
#define HKMS_X509_CSR_MAX (1024u * 1024u)

/** Build an unsigned PKCS#10 request for pub (borrowed; only its public
 *  half is used): subject (hkms_x509_name_parse syntax, required), SANs
 *  (hkms_x509_san_parse syntax, NULL or "" = none) as a subjectAltName in
 *  the extensionRequest attribute, plus extra requested extensions
 *  (nullable, copied; a subjectAltName in extra is refused when san is
 *  given). pub must pass hkms_x509_check_key. *out is new: X509_REQ_free().
 *  Sign it with hkms_x509_sign_req(). */
enum hkms_rc hkms_x509_csr_build(EVP_PKEY *pub, const char *subject,
    const char *san, const STACK_OF(X509_EXTENSION) *extra,
    X509_REQ **out, struct hkms_err *err);

/** Proof of possession and sanity of a received CSR: version 1, a public
 *  key that passes hkms_x509_check_key, a signature digest of SHA-256/384/
 *  512 ("weak_digest" otherwise), no duplicate requested extensions
 *  ("bad_csr"), and a self-signature that verifies (HKMS_E_VERIFY
 *  "bad_csr_signature"). Names are not checked here. */
enum hkms_rc hkms_x509_csr_verify(X509_REQ *csr, struct hkms_err *err);

/** Parse a CSR from PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE
 *  REQUEST", whitespace allowed around it) or DER (detected). Refused with
 *  HKMS_E_INVALID "bad_csr": more than HKMS_X509_CSR_MAX bytes, anything
 *  before or after the one object, PEM headers, DER that is not the
 *  canonical encoding, truncated input. Does not verify it (see _verify).
 *  *out is new: X509_REQ_free(). */
/** The CSR as a NUL-terminated PEM string; the caller frees *pem. */
enum hkms_rc hkms_x509_csr_pem(X509_REQ *csr, char **pem,
    struct hkms_err *err);

enum hkms_rc hkms_x509_csr_parse(const unsigned char *buf, size_t len,
    X509_REQ **out, struct hkms_err *err);

/** The SANs a CSR requests (NULL when none). HKMS_E_INVALID "bad_csr" for
 *  two subjectAltName requests or an undecodable one. *out is new:
 *  GENERAL_NAMES_free(). Not validated (see hkms_x509_san_check). */
enum hkms_rc hkms_x509_csr_get_san(X509_REQ *csr, GENERAL_NAMES **out,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Certificates                                                        */
/* ------------------------------------------------------------------ */

/** What a caller may set for one certificate; zero it, then fill in. */
struct hkms_x509_cert_opts {
	/* Subject: a string (name_parse syntax) or a name (borrowed), not
	 * both. Required for hkms_x509_cert_build; for _build_from_csr it
	 * overrides the CSR's subject. */
	const char *subject;
	const X509_NAME *subject_name;
	/* SANs: string (san_parse syntax) or names (borrowed), not both.
	 * For _build_from_csr they replace the CSR's SANs (san = "" means
	 * none at all); without them the CSR's SANs are used if the profile
	 * allows it. */
	const char *san;
	const GENERAL_NAMES *san_names;
	/* Lifetime in days. 0: the profile's default_days, clamped to the
	 * issuer's not-after. > 0: explicit; past the issuer's not-after is
	 * HKMS_E_POLICY "lifetime_exceeds_ca", past the profile's max_days
	 * "lifetime_exceeds_profile". */
	int days;
	/* _build_from_csr: the caller has checked this CSR with
	 * hkms_x509_csr_verify() already (one verification per issuance);
	 * 0: the build verifies it. */
	int csr_verified;
	/* CA profiles only. path_len: -1 (or 0 with has_path_len 0) = the
	 * profile's default; set has_path_len to give one explicitly. */
	int has_path_len;
	int path_len;
	/* CA profiles only: name constraints (critical). NULL-terminated
	 * vectors; DNS as "example.com" / ".example.com", IP as CIDR
	 * "10.0.0.0/8" or "fd00::/8". */
	const char *const *permit_dns;
	const char *const *exclude_dns;
	const char *const *permit_ip;
	const char *const *exclude_ip;
	/* Serial (borrowed, copied); NULL = hkms_x509_serial_new(). */
	const ASN1_INTEGER *serial;
	/* Time of issue, unix seconds; 0 = now. For tests and replays. */
	int64_t now;
	/* The issuing CA's name: "{ca}" in the profile's CRL distribution
	 * point and AIA URLs becomes it (issue 14a); NULL keeps them as
	 * written. */
	const char *url_ca;
};

/** Build an unsigned v3 certificate for subject_key (borrowed; public half
 *  only) under profile. issuer NULL: self-signed (issuer = subject, AKI =
 *  SKI). Otherwise issuer (borrowed) must be a CA certificate valid now
 *  (basicConstraints CA:TRUE, keyCertSign if keyUsage present; "not_a_ca",
 *  "ca_expired"); a CA profile respects the issuer's pathlen
 *  ("path_len_exceeded"). not-before = now - 60 s (clock skew), never
 *  before the issuer's not-before; not-after per opts->days. opts->subject
 *  or opts->subject_name is required. subject_key must pass
 *  hkms_x509_check_key. Extensions come from the profile only.
 *  *out is new: X509_free(); NULL on failure. Sign with
 *  hkms_x509_sign_cert() using the issuer's key (or subject_key's private
 *  half when self-signed). */
enum hkms_rc hkms_x509_cert_build(EVP_PKEY *subject_key, const X509 *issuer,
    const struct hkms_x509_profile *profile,
    const struct hkms_x509_cert_opts *opts, X509 **out,
    struct hkms_err *err);

/** Like hkms_x509_cert_build, for the key in csr (borrowed). Runs
 *  hkms_x509_csr_verify first. Subject: opts or the CSR's (checked with
 *  hkms_x509_name_check). SANs: opts, else the CSR's (checked with
 *  hkms_x509_san_check) when the profile has allow_san_from_csr, else
 *  none. No other CSR extension is ever copied (basicConstraints,
 *  keyUsage, EKU, nameConstraints, AIA, CRLDP, policies... are ignored).
 *  SAN types and wildcards must be allowed by the profile
 *  ("san_not_allowed"). issuer is required here. */
enum hkms_rc hkms_x509_cert_build_from_csr(X509_REQ *csr, const X509 *issuer,
    const struct hkms_x509_profile *profile,
    const struct hkms_x509_cert_opts *opts, X509 **out,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* CRLs                                                                */
/* ------------------------------------------------------------------ */

/** RFC 5280 CRLReason codes. */
enum hkms_x509_crl_reason {
	HKMS_X509_REASON_UNSPECIFIED = 0,
	HKMS_X509_REASON_KEY_COMPROMISE = 1,
	HKMS_X509_REASON_CA_COMPROMISE = 2,
	HKMS_X509_REASON_AFFILIATION_CHANGED = 3,
	HKMS_X509_REASON_SUPERSEDED = 4,
	HKMS_X509_REASON_CESSATION_OF_OPERATION = 5,
	HKMS_X509_REASON_CERTIFICATE_HOLD = 6,
	/* 7 is unused; 8 removeFromCRL is for delta CRLs, not supported */
	HKMS_X509_REASON_PRIVILEGE_WITHDRAWN = 9,
	HKMS_X509_REASON_AA_COMPROMISE = 10,
};

/** Parse a reason: "unspecified", "keyCompromise", "cACompromise",
 *  "affiliationChanged", "superseded", "cessationOfOperation",
 *  "certificateHold", "privilegeWithdrawn", "aACompromise"; case and
 *  '_'/'-' are ignored ("key_compromise" works). NULL or "" =
 *  unspecified. HKMS_E_INVALID otherwise. */
enum hkms_rc hkms_x509_crl_reason_parse(const char *s,
    enum hkms_x509_crl_reason *out, struct hkms_err *err);

/** The RFC 5280 name ("keyCompromise"); "unknown" for other values. */
const char *hkms_x509_crl_reason_name(enum hkms_x509_crl_reason r);

/** One revoked certificate. */
struct hkms_x509_revoked {
	const char *serial_hex;		/* as hkms_x509_serial_from_hex */
	int64_t revoked_at;		/* unix seconds */
	enum hkms_x509_crl_reason reason;	/* unspecified = no reasonCode
						 * entry extension (RFC 5280) */
};

/** Build an unsigned v2 CRL for ca (borrowed; CA:TRUE and cRLSign if it
 *  has keyUsage): issuer = ca's subject, thisUpdate = now (0 = current
 *  time), nextUpdate = now + days (0 = 7; 1..3650), the n entries
 *  (duplicates refused), cRLNumber = crl_number (the caller keeps it
 *  monotonic), AKI = ca's key id. *out is new: X509_CRL_free(). Sign with
 *  hkms_x509_sign_crl(). */
enum hkms_rc hkms_x509_crl_build(const X509 *ca,
    const struct hkms_x509_revoked *entries, size_t n, uint64_t crl_number,
    int days, int64_t now, X509_CRL **out, struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Signing                                                             */
/* ------------------------------------------------------------------ */

/*
 * The sign functions may be called again on the same object (a token
 * retry): each call replaces the signature. They check the signer key
 * (hkms_x509_check_key) and refuse a signer whose public half differs from
 * the expected one ("key_mismatch") before touching the token, sign with
 * the digest (RSA: PKCS#1 v1.5; EC: ECDSA), then verify the new signature
 * with the expected public key and fail with HKMS_E_CRYPTO
 * "signature_check_failed" if it does not verify (a broken token). On
 * failure the object holds no trustworthy signature; sign again or free
 * it. signer is borrowed.
 */

/** Sign req with the private half of its own public key. */
enum hkms_rc hkms_x509_sign_req(X509_REQ *req, EVP_PKEY *signer,
    enum hkms_x509_digest digest, struct hkms_err *err);

/** Sign cert. issuer (borrowed) is the CA certificate whose key signer
 *  holds; NULL for a self-signed cert (expected key = cert's own). */
enum hkms_rc hkms_x509_sign_cert(X509 *cert, EVP_PKEY *signer,
    const X509 *issuer, enum hkms_x509_digest digest, struct hkms_err *err);

/** Sign crl with the key of ca (borrowed, required). */
enum hkms_rc hkms_x509_sign_crl(X509_CRL *crl, EVP_PKEY *signer,
    const X509 *ca, enum hkms_x509_digest digest, struct hkms_err *err);

#endif
