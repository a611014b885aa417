/*
 * The operations: what the CLI and the HTTP server both call. Each takes a
 * context and a request, does policy, token work, store writes and the
 * audit record in one place, and returns a JSON result (a new reference
 * the caller json_decref()s) or an error.
 */
#ifndef HKMS_OPS_H
#define HKMS_OPS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "hkms/config.h"
#include "hkms/error.h"
#include "hkms/x509.h"

struct hkms_hsm;
struct hkms_store;
struct hkms_service;
struct hkms_principal;
struct hkms_secret;

/** The lifetime, in days, every operation that takes one accepts: 0 (the
 *  default of the profile or the operation) or 1..HKMS_OPS_DAYS_MAX; a CRL's
 *  next update 0 or 1..HKMS_OPS_CRL_DAYS_MAX. Anything else is refused
 *  with "days must be 1..N" (the CA's not-after and policy may clamp or
 *  refuse more). */
#define HKMS_OPS_DAYS_MAX	36500
#define HKMS_OPS_CRL_DAYS_MAX	3650

/** Token label of the audit key (EC P-256, made by hkms init); no key
 *  operation accepts this name. */
#define HKMS_AUDIT_KEY_LABEL "hkms-audit"

/** The request context: what an operation runs against and who asks.
 *  Made by hkms_service_ctx() (include/hkms/service.h); every pointer is
 *  borrowed for the request. cfg, hsm and store are the service's (hsm
 *  may be NULL for operations that need no token: truststore, listing
 *  metadata; store NULL only for token list and token init). One context
 *  per request and thread (audit_seq is the running operation's). */
struct hkms_ops_ctx {
	struct hkms_service *service;	/* owner of token, store, trust */
	const struct hkms_principal *principal;	/* who asks; the clients
					 * issue checks clearance with it */
	const struct hkms_config *cfg;
	struct hkms_hsm *hsm;
	struct hkms_store *store;
	const char *actor;	/* audit actor: "cli:root", "client:<sha256>" */
	long long audit_seq;	/* write-ahead line of the running operation
				 * (hkms_ops_audit_ahead), 0 = none */
};

/* ---- keys ---- */

/** Generate a key pair in the token. type: "rsa:2048" ... "ec:p521".
 *  *out: the key as hkms_ops_key_show() describes it. Audited. */
enum hkms_rc hkms_ops_key_generate(struct hkms_ops_ctx *c, const char *name,
    const char *type, json_t **out, struct hkms_err *err);

/** All keys of the token: an array of key objects (no public_key_pem). */
enum hkms_rc hkms_ops_key_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One key: name, id, uri, type, bits, public_key_pem, and the attributes
 *  read back from the token (sensitive, extractable, always_sensitive,
 *  never_extractable, private, token, sign, sign_recover, decrypt, unwrap,
 *  derive, modifiable, copyable, destroyable; null where the token does not
 *  say), and used_by (certificates). */
enum hkms_rc hkms_ops_key_show(struct hkms_ops_ctx *c, const char *ref,
    json_t **out, struct hkms_err *err);

/** Delete exactly the key pair ref names (hkms_hsm_key_delete()) and its
 *  key record; refused with HKMS_E_IN_USE while a certificate in the store
 *  uses it, unless force, or while another process is creating it. A name
 *  whose record has no token key left only loses the record. Audited. */
enum hkms_rc hkms_ops_key_delete(struct hkms_ops_ctx *c, const char *ref,
    int force, struct hkms_err *err);

/** Import a software private key (PEM/PKCS#8, encrypted with passphrase or
 *  not, or PKCS#12) into the token as sensitive, non-extractable. The
 *  passphrase may be NULL. Audited. */
enum hkms_rc hkms_ops_key_import(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *data, size_t len, const char *passphrase,
    json_t **out, struct hkms_err *err);

/** Compare the token's keys with the key records (store check): a new
 *  object {token_keys, recorded, reservations, foreign:[{name,id}],
 *  errors:[...], warnings:[...]}. Errors: stale reservations (an
 *  interrupted key creation, naming the key and its orphan), records
 *  whose key is missing. Warnings: live reservations, keys with the hkms
 *  CKA_ID prefix but no record (an interrupted older hkms, or another data
 *  dir on the same token). Keys of other applications are only listed. */
enum hkms_rc hkms_ops_key_check(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** The write-ahead audit line of op (result "ok"), written before the
 *  operation commits, while the caller holds the data lock: the records
 *  put until that lock is released carry its seq ("audit_seq"). When this
 *  fails nothing may be committed: undo any token object made for the
 *  operation and return the error. Pair with hkms_ops_audit(). */
enum hkms_rc hkms_ops_audit_ahead(struct hkms_ops_ctx *c, const char *op,
    const char *object, json_t *detail, struct hkms_err *err);

/** Close the audit of op: after a write-ahead line, nothing when rc is OK,
 *  else a line with result "error" and detail "aborts": <its seq>; without
 *  one, a line with rc's result (and err's code and message). Returns rc,
 *  or, when rc was OK and the line could not be written, that failure in
 *  err: the caller must then undo the operation's effect and fail. A
 *  failed line for a failed operation is added to err's message. */
enum hkms_rc hkms_ops_audit(struct hkms_ops_ctx *c, const char *op,
    const char *object, enum hkms_rc rc, struct hkms_err *err,
    json_t *detail);

/* ---- truststore ---- */
/* truststore: operations on <data>/trust (docs/truststore.md). None needs
 * the token (c->hsm may be NULL). Changes (import, pin, delete, and a
 * verification that finds a pinned peer changed) are audited as
 * "trust.<verb>". */

struct hkms_trust;

/** Import request: the file content as given (PEM, DER, PKCS#7, PKCS#12;
 *  at most HKMS_CERTIO_MAX_INPUT bytes); password for a PKCS#12 (may be
 *  NULL; never logged or audited). */
struct hkms_ops_trust_import_req {
	const char *alias;
	const unsigned char *data;
	size_t len;
	const char *password;
};

/** Import all certificates of the input under one alias (see
 *  hkms_trust_import: duplicates are reported, not stored). *out: {alias,
 *  format, imported[], duplicates[], private_key_ignored}. */
enum hkms_rc hkms_ops_trust_import(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_import_req *req, json_t **out,
    struct hkms_err *err);

/** All entries (hkms_trust_snap_list rows). */
enum hkms_rc hkms_ops_trust_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One entry (hkms_trust_snap_show). HKMS_E_NOT_FOUND if absent. */
enum hkms_rc hkms_ops_trust_show(struct hkms_ops_ctx *c, const char *alias,
    json_t **out, struct hkms_err *err);

/** Export request: format "pem" (default when NULL), "der" (first
 *  certificate), "p7b", "p7b-der", "p12" (certificates only; password may
 *  be NULL). */
struct hkms_ops_trust_export_req {
	const char *alias;
	const char *format;
	const char *password;
};

/** Encode the certificates of an alias. *data is malloc'd (free). */
enum hkms_rc hkms_ops_trust_export(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_export_req *req, unsigned char **data,
    size_t *len, struct hkms_err *err);

/** Delete an alias. */
enum hkms_rc hkms_ops_trust_delete(struct hkms_ops_ctx *c, const char *alias,
    struct hkms_err *err);

/** Pin request: the peer's presented certificate (or chain, leaf first)
 *  as PEM/DER/PKCS#7; force replaces a different pinned certificate. */
struct hkms_ops_trust_pin_req {
	const char *alias;
	const unsigned char *data;
	size_t len;
	int force;
};

/** Pin (hkms_trust_pin). *out: {alias, pinned, peer, replaced, unchanged}. */
enum hkms_rc hkms_ops_trust_pin(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_pin_req *req, json_t **out,
    struct hkms_err *err);

/** Verify request: the chain (leaf first; PEM/DER/PKCS#7/PKCS#12),
 *  purpose "server"|"client"|"any" (NULL = any), host (NULL = none),
 *  at (Unix time; 0 = now). */
struct hkms_ops_trust_verify_req {
	const unsigned char *chain;
	size_t len;
	const char *password;
	const char *purpose;
	const char *host;
	int64_t at;
	/* path validation (issue 14b) */
	const char *profile;	/* "rfc5280"|"webpki"; NULL = by purpose */
	int max_depth;		/* 1..32; 0 = the profile's default */
	/* revocation checks (issue 14a): "require", "prefer", "off"; NULL =
	 * require for hkms CAs, prefer for the others */
	const char *revocation;
};

/** Verify against the truststore (hkms_trust_verify). *out is set also
 *  when the chain does not hold (then the call returns HKMS_E_VERIFY and
 *  err->code names the failed check). */
enum hkms_rc hkms_ops_trust_verify(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_verify_req *req, json_t **out,
    struct hkms_err *err);

/** Follow changes: call emit(event, arg) for every change committed from
 *  now on ({"seq","event":"added|removed|changed","alias","time_ms",
 *  "seen_ms","thumbprints"}; event is borrowed) until emit returns
 *  non-zero or timeout_ms passes (-1 = forever). */
enum hkms_rc hkms_ops_trust_watch(struct hkms_ops_ctx *c, int timeout_ms,
    int (*emit)(json_t *event, void *arg), void *arg, struct hkms_err *err);

/** The service's truststore handle (hkms_service_trust), opened on first
 *  use and shared by every request (snapshots are only reloaded on
 *  change). Borrowed; valid until the service closes. Thread-safe.
 *  HKMS_E_INVALID without c->service. */
enum hkms_rc hkms_ops_trust_handle(struct hkms_ops_ctx *c,
    struct hkms_trust **out, struct hkms_err *err);

/* ---- end truststore ---- */

/* ---- certificates ---- */

/*
 * Certificates and CSRs for token keys, stored as records of kind "certs"
 * (meta "type": "certificate" or "csr", "key": the token key's name) with
 * their PEM. Every state change and every signing is audited, failures
 * too. Codes beside the x509/certio/hsm ones: "cert_exists",
 * "cert_not_found", "in_use", "not_self_signed", "check_failed:<check>".
 * Design notes and the CLI: docs/certificates.md.
 */

/** What hkms_ops_csr_create() and hkms_ops_cert_self_sign() take. Strings
 *  are borrowed; NULL = not given. Exactly one of key / new_key, except
 *  that new_key may come with key, which then names the new key (else it
 *  is named like the record). */
struct hkms_ops_cert_req {
	const char *name;	/* record name (hkms_name_valid) */
	const char *key;	/* existing token key: name or "id:<hex>" */
	const char *new_key;	/* generate a key of this type first */
	const char *subject;	/* "/CN=a/O=b" */
	const char *san;	/* "DNS:a,IP:10.0.0.1", or NULL */
	const char *digest;	/* sha256|sha384|sha512, NULL = auto */
	const char *profile;	/* self-sign only; NULL = "tls-server" */
	int days;		/* self-sign only; 0 = profile default */
	/* issue 13b: self-sign only; the profile's extensions narrowed
	 * (hkms_x509_profile_narrow); zero = as the profile */
	struct hkms_x509_ext_choice ext;
};

/** Make a CSR signed in the token and store it as a "csr" record. A key
 *  made for it (new_key) is destroyed again if a later step fails.
 *  *out: the record's meta plus "pem". Audited ("csr.create"). */
enum hkms_rc hkms_ops_csr_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_req *req, json_t **out, struct hkms_err *err);

/** Parse and verify a CSR (proof of possession, key and digest policy,
 *  names) without storing anything; needs no token. *out: {"ok":true,
 *  subject, san, key_type, key_length, digest_algorithm}. Errors as
 *  hkms_x509_csr_parse/_verify ("bad_csr", "bad_csr_signature", ...). */
enum hkms_rc hkms_ops_csr_verify(struct hkms_ops_ctx *c,
    const unsigned char *data, size_t len, json_t **out,
    struct hkms_err *err);

/** Self-signed certificate for a token key under a leaf profile (CA
 *  profiles are refused: "hkms ca create" makes CAs), stored as a
 *  "certificate" record. *out as hkms_ops_cert_show(). Audited
 *  ("cert.self_sign"). */
enum hkms_rc hkms_ops_cert_self_sign(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_req *req, json_t **out, struct hkms_err *err);

/** What hkms_ops_cert_import() takes; buffers are borrowed. */
struct hkms_ops_cert_import_req {
	const char *name;
	const unsigned char *data;	/* certificate(s), or key + cert */
	size_t len;
	const unsigned char *ca;	/* CA certificate(s), or NULL */
	size_t ca_len;
	const char *key;	/* token key; NULL = find the matching one
				 * (or, for a key bundle, the new key's name;
				 * NULL = the record name) */
	const char *profile;	/* required EKU: NULL/"tls-server" =
				 * serverAuth, any profile's EKUs, "any" =
				 * none */
	const char *passphrase;	/* PKCS#12 / encrypted key, or NULL */
	int what_if;		/* validate only, change nothing */
	int replace;		/* an existing certificate of that name is
				 * replaced (archived in its history) */
	/* issue 13b */
	const unsigned char *key_data;	/* the private key in a file of its
				 * own (PEM, PKCS#8, encrypted with
				 * passphrase), or NULL */
	size_t key_len;
	int trust;		/* also add the certificate to the truststore
				 * (alias = name), in the same operation */
};

/** Import ("apply") a certificate issued elsewhere for a token key, or a
 *  private key with its certificate (the key goes into the token as
 *  sensitive, non-extractable). Runs the checks validity, key_matches,
 *  extended_key_usage, chains_to_ca, in that order; each is reported as
 *  {"name","pass","reason"}. When all pass (and not what_if) the record
 *  is written. *out is set on HKMS_OK and on HKMS_E_VERIFY (a check
 *  failed: err->code is "check_failed:<first failed check>"): {"name",
 *  "what_if","ok","checks":[...]} plus, once stored, "certificate".
 *  Audited ("cert.import") unless what_if. */
enum hkms_rc hkms_ops_cert_import(struct hkms_ops_ctx *c,
    const struct hkms_ops_cert_import_req *req, json_t **out,
    struct hkms_err *err);

/** Certificates, CSRs (and CAs, kind "cas") as an array of {name, type,
 *  cn, not_after, days_left, key}, sorted by name. expiring_within >= 0
 *  keeps only certificates whose not-after is at most that many days away
 *  (expired ones included); -1 keeps everything. Needs no token. */
enum hkms_rc hkms_ops_cert_list(struct hkms_ops_ctx *c, int expiring_within,
    json_t **out, struct hkms_err *err);

/** One record with every field of a certificate screen (certio describe)
 *  plus name, type, path (its PEM file), key, key_uri (null when the key
 *  is not in the token; checked when c->hsm is set), used_by and pem.
 *  Looks in "certs", then "cas". */
enum hkms_rc hkms_ops_cert_show(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

/** Encode a record: format "pem" (default), "der", "p7b", "p7b-der" or
 *  "p12" (certificates only, never a key; password NULL or "" = no
 *  encryption). CSRs: pem or der. *data is malloc'd; the caller frees. */
enum hkms_rc hkms_ops_cert_export(struct hkms_ops_ctx *c, const char *name,
    const char *format, const char *password, unsigned char **data,
    size_t *len, struct hkms_err *err);

/** Rename a record; refused ("in_use") while something uses it. Audited. */
enum hkms_rc hkms_ops_cert_rename(struct hkms_ops_ctx *c, const char *from,
    const char *to, struct hkms_err *err);

/** Delete a record (never its key); refused with HKMS_E_IN_USE "in_use"
 *  while its used_by is not empty, unless force. Audited. */
enum hkms_rc hkms_ops_cert_delete(struct hkms_ops_ctx *c, const char *name,
    int force, struct hkms_err *err);

/** Re-issue a self-signed certificate under the same name, subject, SANs
 *  and profile: with the same key, or with a new key of the same type
 *  (rekey; the old key stays in the token). days 0 = the old lifetime.
 *  *out as hkms_ops_cert_show(). Audited ("cert.renew"). */
enum hkms_rc hkms_ops_cert_renew(struct hkms_ops_ctx *c, const char *name,
    int rekey, int days, json_t **out, struct hkms_err *err);

/* ---- certificate authorities ---- */

/*
 * Certificate authorities with their keys in the token (docs/ca.md). A CA
 * is a record of kind "cas" (meta "type": "ca", or "ca-pending" while an
 * externally signed CA waits for its certificate; "key": its token key;
 * PEM: its certificate followed by the chain up to the root), so the
 * certificate verbs (show, export, list) read it too. Per CA:
 *   issued/<ca>/<SERIAL>    every certificate it issued (PEM = the cert)
 *   revoked/<ca>/<SERIAL>   revocations, append-only, never deleted
 *   crl/<ca>/number         the CRL number counter; crl/<ca>/current the
 *                           last CRL; published to <crl_dir>/<ca>.crl
 *                           (DER) and <crl_dir>/<ca>.crl.pem
 * Every signing and state change is audited ("ca.<verb>"), failures too.
 * Codes beside the x509/certio/hsm/store ones: "ca_exists",
 * "ca_not_found", "ca_pending", "not_pending", "policy_violation",
 * "invalid_policy", "already_revoked", "not_found", "key_mismatch",
 * "not_a_ca", "chain_invalid", "file_exists", "weak_passphrase".
 * Thread-safe as far as the store and token layers are.
 */

/** What hkms_ops_ca_create() takes. Strings and vectors are borrowed;
 *  vectors are NULL-terminated or NULL. */
struct hkms_ops_ca_create_req {
	const char *name;	/* CA name = record name = token key label */
	const char *key_type;	/* "ec:p256" ... "rsa:4096" */
	const char *subject;	/* "/CN=Root/O=x" */
	const char *parent;	/* issuing hkms CA; NULL = self-signed root */
	int external;		/* key + CSR only ("ca-pending"); the
				 * certificate comes later (ca apply) */
	int has_path_len;	/* path_len given */
	int path_len;
	const char *const *permit_dns;
	const char *const *exclude_dns;
	const char *const *permit_ip;
	const char *const *exclude_ip;
	int days;		/* 0 = profile default (root 10 y,
				 * intermediate 5 y, clamped to the parent) */
};

/** Make a CA: generate its key in the token, then a self-signed root
 *  (profile "ca"), an intermediate signed by parent's token key (profile
 *  "intermediate-ca", recorded in the parent's issued index), or with
 *  external a CSR (*out has "csr_pem"). Nothing is left behind on failure
 *  (the new key is destroyed again). *out as hkms_ops_ca_show() (plus
 *  "csr_pem" for external). Audited ("ca.create"). */
enum hkms_rc hkms_ops_ca_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_create_req *req, json_t **out,
    struct hkms_err *err);

/** Give a "ca-pending" CA its certificate: cert (PEM/DER/PKCS#7, the CA
 *  certificate first, optionally followed by its chain) must carry the
 *  CA's token key, be CA:TRUE (with keyCertSign if it has keyUsage), be
 *  valid now and chain to the certificates in parent_chain (PEM/DER/
 *  PKCS#7; its self-signed ones are the anchors). *out as
 *  hkms_ops_ca_show(). Audited ("ca.apply"). */
enum hkms_rc hkms_ops_ca_apply(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *cert, size_t cert_len,
    const unsigned char *parent_chain, size_t chain_len, json_t **out,
    struct hkms_err *err);

/** All CAs: [{name, type, cn, parent, path_len, not_after, key}]. */
enum hkms_rc hkms_ops_ca_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One CA: its record (type, key, parent, path_len, name constraints,
 *  policy, ...) plus "certificate" (certio describe) and "pem" (the
 *  chain, or the CSR while pending). Needs no token. */
enum hkms_rc hkms_ops_ca_show(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

/** The certificate of active CA name with the chain it was recorded with
 *  (PEM; *data malloc'd, free). Public ("ca.cert_get": GET /ca/<ca>.pem);
 *  needs no token. HKMS_E_NOT_FOUND "ca_not_found". */
enum hkms_rc hkms_ops_ca_cert_get(struct hkms_ops_ctx *c, const char *name,
    unsigned char **data, size_t *len, struct hkms_err *err);

/** Set (policy != NULL; JSON text, schema in docs/ca.md, checked
 *  strictly: "invalid_policy" naming the field), clear (clear != 0) or
 *  show (neither) the signing policy of a CA. *out: {"ca", "policy"}
 *  (null when none). Set and clear are audited ("ca.policy"). */
enum hkms_rc hkms_ops_ca_policy(struct hkms_ops_ctx *c, const char *name,
    const char *policy, size_t len, int clear, json_t **out,
    struct hkms_err *err);

/** What hkms_ops_ca_sign() takes. */
struct hkms_ops_ca_sign_req {
	const char *ca;
	const char *profile;		/* a leaf profile (required) */
	const unsigned char *csr;	/* PEM or DER */
	size_t csr_len;
	int days;			/* 0 = profile default, clamped */
	const char *subject;		/* override the CSR's subject */
	const char *san;		/* override the CSR's SANs ("" =
					 * none) */
	const char *format;		/* "pem" (default) or "p7b" */
	/* issue 13b: the profile's extensions narrowed per request
	 * (hkms_x509_profile_narrow); zero = as the profile */
	struct hkms_x509_ext_choice ext;
};

/** Sign a CSR: proof of possession and key strength, then subject and
 *  SANs (the CSR's or the overrides), the profile's extensions only (never
 *  the CSR's), the CA's policy and name constraints (every CA up to the
 *  root), a fresh 159-bit serial unique in the CA's issued index (drawn
 *  again on a collision) reserved in the issued index, not-after within
 *  the CA's; signed in the token with no store lock held, then recorded
 *  with its audit line ("ca.sign") through the store's group committer:
 *  concurrent calls on one store share their fsyncs and audit head, and
 *  each returns only once its record and line are durable. Thread-safe
 *  (one ctx per thread; hsm and store shared). *out: {ca, serial,
 *  subject, san, profile, not_before, not_after, requester, pem (leaf
 *  then the CA chain to the root), and "p7b" (PEM-armoured PKCS#7) for
 *  format p7b}. Load tests call this from tests/bench. */
enum hkms_rc hkms_ops_ca_sign(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_sign_req *req, json_t **out,
    struct hkms_err *err);

/** The issued index of a CA, sorted by serial: rows {serial, subject, san,
 *  profile, not_before, not_after, requester, status, ...}; status is
 *  "revoked", "expired" or "valid". status_filter (NULL = all) keeps one
 *  status; expiring_within >= 0 keeps unexpired certificates whose
 *  not-after is at most that many days away (-1 = no filter). Needs no
 *  token. */
enum hkms_rc hkms_ops_ca_issued(struct hkms_ops_ctx *c, const char *ca,
    int expiring_within, const char *status_filter, json_t **out,
    struct hkms_err *err);

/** One issued certificate by serial (hex, ':' allowed), with its "pem". */
enum hkms_rc hkms_ops_ca_issued_show(struct hkms_ops_ctx *c, const char *ca,
    const char *serial, json_t **out, struct hkms_err *err);

/** Revoke a certificate a CA issued. reason: hkms_x509_crl_reason_parse
 *  names (NULL = unspecified). Unknown serial: HKMS_E_NOT_FOUND
 *  "not_found"; already revoked: HKMS_E_EXISTS "already_revoked" and
 *  nothing is written. *out: {ca, serial, reason, revoked_at}. Audited
 *  ("ca.revoke"). */
enum hkms_rc hkms_ops_ca_revoke(struct hkms_ops_ctx *c, const char *ca,
    const char *serial, const char *reason, json_t **out,
    struct hkms_err *err);

/** Make a CRL of every revocation of the CA, signed by its token key,
 *  with the next CRL number and nextUpdate = now + days (0 = 7), and
 *  publish it atomically to <crl_dir>/<ca>.crl (DER) and .crl.pem.
 *  *out: {ca, number, this_update, next_update, entries, path, pem_path,
 *  pem}. Audited ("ca.crl"). */
enum hkms_rc hkms_ops_ca_crl(struct hkms_ops_ctx *c, const char *ca,
    int days, json_t **out, struct hkms_err *err);

/** The CA's last CRL, as hkms_ops_ca_crl() published it: PEM, or DER
 *  with der. *data is malloc'd (free). HKMS_E_NOT_FOUND "not_found"
 *  before the first CRL. Needs no token; read-only (GET /crl/<ca>.crl). */
enum hkms_rc hkms_ops_ca_crl_get(struct hkms_ops_ctx *c, const char *ca,
    int der, unsigned char **data, size_t *len, struct hkms_err *err);

/** What hkms_ops_ca_issue_client() takes. */
struct hkms_ops_ca_client_req {
	const char *ca;
	const char *subject;
	const char *san;		/* optional */
	const char *key_type;		/* NULL = "ec:p256" */
	int days;			/* 0 = 5 years, clamped to the CA */
	const struct hkms_secret *passphrase; /* >= 8 bytes, no NUL; never
					 * stored (borrowed) */
	const char *destination;	/* for the audit line only: where the
					 * caller delivers the PKCS#12 (the
					 * CLI: its file); may be NULL */
};

/** A client certificate with a software key (the only key hkms hands
 *  out, never a token key): the key is made in memory, the certificate
 *  (profile tls-client) is signed by the CA's token key and recorded in
 *  the issued index (no key), and key + certificate + CA chain go into a
 *  passphrase-protected PKCS#12 (PBES2/PBKDF2/AES-256-CBC, SHA-256 MAC)
 *  returned in *p12 (a secret buffer; hkms_secret_free) — the key is freed
 *  at once and stored nowhere. The operation writes no file: the face
 *  delivers the bytes (the CLI writes a new 0600 file; a server answers
 *  with them). A caller that cannot deliver them revokes the certificate
 *  (hkms_ops_ca_revoke, reason cessationOfOperation): its key is lost.
 *  *out: the certificate object (docs/certificates.md "JSON shape") with
 *  the chain's pem, plus client_key_type ("ec:p256") and pkcs12_bytes.
 *  Audited ("ca.issue_client"). */
enum hkms_rc hkms_ops_ca_issue_client(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_client_req *req, json_t **out,
    struct hkms_secret **p12, struct hkms_err *err);

/* ---- end certificate authorities ---- */

/* ---- token, audit and store administration ---- */

/** The tokens of the configured module, without logging in (c->cfg
 *  only): an array of {slot, label, serial, manufacturer, model,
 *  initialized, pin_count_low, pin_final_try, pin_locked}. */
enum hkms_rc hkms_ops_token_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** What hkms_ops_token_init() takes; the PINs are borrowed. */
struct hkms_ops_token_init_req {
	const char *label;
	const struct hkms_secret *so_pin;
	const struct hkms_secret *pin;
};

/** Initialise a free slot of the configured module with label and PINs.
 *  *out: {label, module, initialized}. Audited ("token.init", unsealed:
 *  the new token holds no audit key) into the data dir when one exists. */
enum hkms_rc hkms_ops_token_init(struct hkms_ops_ctx *c,
    const struct hkms_ops_token_init_req *req, json_t **out,
    struct hkms_err *err);

/** Verify the audit log (hkms_store_audit_check): *out is the report,
 *  also on HKMS_E_VERIFY (err names the first problem). Read-only. */
enum hkms_rc hkms_ops_audit_verify(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** Check the data dir without changing it (c->store opened read-only):
 *  hkms_store_check, then the token's keys against the key records
 *  (hkms_ops_key_check; its errors fail the check; a token that cannot be
 *  opened is a warning: the files were still checked). *out is the
 *  report, also on HKMS_E_VERIFY (err names the first problem). */
enum hkms_rc hkms_ops_store_check(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** The certificate profiles: built-in ones, then the custom files of
 *  [store] profiles_dir, as [{name, builtin, ca, default_days,
 *  max_days}]. A custom file that does not parse fails the listing
 *  (invalid_profile naming it). Read-only, no token. */
enum hkms_rc hkms_ops_profile_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One profile: its list row plus "profile", the profile in the custom
 *  profile schema (docs/x509.md). HKMS_E_NOT_FOUND "unknown_profile". */
enum hkms_rc hkms_ops_profile_show(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

#define HKMS_OPS_AUDIT_PAGE_MAX 1000	/* lines per hkms_ops_audit_show */

/** A page of the audit log: at most limit (1..HKMS_OPS_AUDIT_PAGE_MAX)
 *  lines with seq >= since, oldest first, as {"lines":[...], "next": the
 *  seq to ask for next, or null when the page reached the end}. A torn
 *  last line is not shown. Read-only, no token; the chain is not
 *  verified here (hkms_ops_audit_verify). */
enum hkms_rc hkms_ops_audit_show(struct hkms_ops_ctx *c, long long since,
    size_t limit, json_t **out, struct hkms_err *err);

/** The bootstrap admin client hkms init makes: its client CA (EC P-256,
 *  key in the token) and its registration name. */
#define HKMS_CLIENT_CA "hkms-clients"
#define HKMS_ADMIN_CLIENT "admin"

/** What hkms_ops_init() takes. */
struct hkms_ops_init_req {
	const char *data_dir;	/* NULL = hkms_config_default_data_dir() */
	const char *label;	/* NULL = HKMS_DEFAULT_LABEL */
	const char *actor;	/* audit actor of the seal */
	int no_admin_client;	/* make no bootstrap admin client (one
				 * that exists is kept and named) */
	const char *config_path;	/* where the config is (--config,
				 * HKMS_CONFIG): read when it exists,
				 * written there when not; NULL =
				 * <data dir>/hkms.conf (issue 13b) */
};

/** The embedded default set-up: data_dir (0700) with a private SoftHSM2
 *  token (random PINs in 0600 files), data_dir/hkms.conf, the store
 *  layout and the audit key (a sealed audit log: the seal is init's
 *  audit line), and the bootstrap admin client (a client CA
 *  HKMS_CLIENT_CA, client HKMS_ADMIN_CLIENT with clearance admin, its
 *  PKCS#12 written once 0600 to <data>/admin-client.p12 and its random
 *  passphrase to <data>/admin-client.pass, 0600). Idempotent: what exists
 *  is kept. It opens its own service on the config it writes (call
 *  before any thread starts). *out: {data_dir, config, module, token,
 *  created, audit_key_sha256, admin_client: {p12, passphrase_file, name,
 *  ca, created} (null with no_admin_client when there is none)}. */
enum hkms_rc hkms_ops_init(const struct hkms_ops_init_req *req, json_t **out,
    struct hkms_err *err);

/* ---- the service certificate, certificate history (issue 13a) ---- */

/*
 * Certificate history (src/ops/cert_history.c, docs/certificates.md
 * "History"): whatever replaces a certificate record (cert import
 * replace, cert renew, the service certificate's apply, self-signed and
 * rekey, a restore) first archives the record it replaces as version N
 * of kind "certs/<name>" (record "<N>", N = 1, 2, ...: the old record's
 * meta and PEM, plus version, archived, reason), then writes the new
 * record, both under the data lock after the operation's write-ahead
 * audit line. A crash between the two leaves the old record current and a
 * copy of it archived; the next archive of the same PEM is skipped, so the
 * history never holds the same version twice in a row. At most [store]
 * cert_history versions (default 20) are kept, the oldest dropped first.
 * Codes: "history_not_found", "cert_not_found", "key_not_found",
 * "check_failed:validity".
 */

/** The history of certificate name, oldest first: [{version, archived,
 *  reason, serial, thumbprint, subject, issuer, not_before, not_after,
 *  self_signed, key, source}] ([] when none). Needs no token. */
enum hkms_rc hkms_ops_cert_history(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

/** Make version (0 = the newest) of name's history current again; the
 *  current record is archived first (reason "restore"). Refused when the
 *  version's key is not in the token ("key_not_found") or it is not valid
 *  now ("check_failed:validity"); nothing changes then. Restoring the
 *  service certificate needs admin (service.cert_apply). *out as
 *  hkms_ops_cert_show() plus "restored_version". Audited
 *  ("cert.restore"). */
enum hkms_rc hkms_ops_cert_restore(struct hkms_ops_ctx *c, const char *name,
    int version, json_t **out, struct hkms_err *err);

/*
 * The service's own TLS certificate (src/ops/service_cert.c): record and
 * token key HKMS_SERVICE_CERT in "certs" (a rekey names the new key
 * "hkms-service-r<time>"; the record's "key" says which), its pinned copy
 * in service/pinned-certificate. Admin only (service.cert_*). A running
 * server serves a changed record to new connections (docs/operations.md).
 */
#define HKMS_SERVICE_CERT "hkms-service"	/* record and first key name */

/** The record, made on first use: a key in the token ([server] key_type,
 *  ec:p256) and a self-signed certificate (CN = the FQDN; SANs host name,
 *  FQDN, localhost, 127.0.0.1, ::1; 397 days). *out as hkms_ops_cert_show().
 *  *made: 1 if it was made now. For the server's start (no authz: the
 *  server itself asks). */
enum hkms_rc hkms_ops_service_cert_ensure(struct hkms_ops_ctx *c,
    json_t **out, int *made, struct hkms_err *err);

/** A change stamp of the record (hkms_store_stamp) as text into buf: equal
 *  stamps mean an unchanged record. "" when there is none. No token, no
 *  audit; cheap enough to poll every second. */
void hkms_ops_service_cert_stamp(struct hkms_ops_ctx *c, char *buf,
    size_t size);

/** The current certificate (hkms_ops_cert_show of the record plus
 *  "history"). "service.cert_show". */
enum hkms_rc hkms_ops_service_cert_get(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** What hkms_ops_service_cert_csr() takes; NULL = the default. */
struct hkms_ops_service_csr_req {
	const char *common_name;	/* default: the FQDN ([server]
					 * hostname, else the system's) */
	const char *organization;
	const char *organization_unit;
	const char *country;
	const char *state;
	const char *locality;
	const char *alternative_names;	/* "a,b,c": an IP address is an IP
					 * SAN, "TYPE:v" as given, anything
					 * else DNS; default host name, FQDN
					 * and the host's non-loopback,
					 * non-link-local addresses */
};

/** A CSR for the service's current key, signed in the token; not stored.
 *  *out: the CSR object (docs/certificates.md "JSON shape") with "pem".
 *  Audited ("service.cert_csr"). */
enum hkms_rc hkms_ops_service_cert_csr(struct hkms_ops_ctx *c,
    const struct hkms_ops_service_csr_req *req, json_t **out,
    struct hkms_err *err);

/** Apply a CA-issued certificate (PEM or DER, optionally followed by its
 *  chain) to the service: ca (PEM/DER, required) must verify it, its
 *  public key must be the service key's, now within its validity, with
 *  serverAuth; each refusal is "check_failed:<check>" (chains_to_ca,
 *  key_matches, validity, extended_key_usage) and changes nothing. The
 *  record it replaces goes into the history. what_if: check only.
 *  *out as hkms_ops_cert_import(). Audited ("service.cert_apply") unless
 *  what_if. */
enum hkms_rc hkms_ops_service_cert_apply(struct hkms_ops_ctx *c,
    const unsigned char *cert, size_t cert_len, const unsigned char *ca,
    size_t ca_len, int what_if, json_t **out, struct hkms_err *err);

/** Use a self-signed certificate. Without rekey: the current one when it
 *  is self-signed (unchanged), else the newest self-signed version of the
 *  history that is valid now and whose key is in the token (the same
 *  certificate, same serial), else a new one for the current key. With
 *  rekey: a new key of the current key's type and a new self-signed
 *  certificate for it; the old key stays in the token (history versions
 *  can be restored) unless [server] rekey_old_key = delete. *out:
 *  {"action": "unchanged"|"restored"|"created"|"rekeyed", "certificate",
 *  "restored_version" (restored), "old_key", "old_key_deleted"
 *  (rekeyed)}. Audited ("service.cert_self_sign"). */
enum hkms_rc hkms_ops_service_cert_self_signed(struct hkms_ops_ctx *c,
    int rekey, json_t **out, struct hkms_err *err);

/** subject, issuer, serial, thumbprint, not_before, not_after,
 *  self_signed, expired, and trust: "trusted" when the current
 *  certificate is the pinned one and valid now, else "untrusted" with
 *  trust_reason "not_pinned", "changed" or "expired"; pinned
 *  {thumbprint, pinned_at, subject} or null. "service.cert_show". */
enum hkms_rc hkms_ops_service_cert_status(struct hkms_ops_ctx *c,
    json_t **out, struct hkms_err *err);

/** Pin the current certificate (replacing an earlier pin). *out as
 *  hkms_ops_service_cert_status() after the pin. Audited
 *  ("service.cert_trust"). */
enum hkms_rc hkms_ops_service_cert_trust(struct hkms_ops_ctx *c,
    json_t **out, struct hkms_err *err);

/* ---- profiles, import, in use, CA delete/renew (issue 13b) ---- */

/** Create custom profile name in profiles_dir from its JSON text (the
 *  custom profile schema, docs/x509.md; parsed strictly, written in its
 *  canonical form). Built-in or existing names: HKMS_E_EXISTS
 *  "profile_exists". *out as hkms_ops_profile_show(). Audited
 *  ("profile.create"). */
enum hkms_rc hkms_ops_profile_create(struct hkms_ops_ctx *c,
    const char *name, const char *text, size_t len, json_t **out,
    struct hkms_err *err);

/** Delete custom profile name. Built-ins are refused; a profile granted
 *  to a client or named by a CA's policy is HKMS_E_IN_USE "in_use" (the
 *  users named) unless force. *out: {name, deleted, used_by}. Audited
 *  ("profile.delete"). */
enum hkms_rc hkms_ops_profile_delete(struct hkms_ops_ctx *c,
    const char *name, int force, json_t **out, struct hkms_err *err);

/** Renew CA name: a new certificate with the same subject, path length
 *  and name constraints, for the same token key or (rekey) a new one of
 *  the same type ("<key>-r<unix time>"; the old key need not exist and is
 *  kept), issued by its parent CA (recorded in the parent's index) or
 *  self-signed for a root; days 0 = the lifetime it had. The policy stays;
 *  the previous certificates are kept in the record ("previous"). An
 *  externally signed CA is refused (its issuer renews it). One store put
 *  after the write-ahead line. *out as hkms_ops_ca_show() plus "renewed"
 *  {rekey, previous_serial, previous_key}. Audited ("ca.renew"). */
enum hkms_rc hkms_ops_ca_renew(struct hkms_ops_ctx *c, const char *name,
    int rekey, int days, json_t **out, struct hkms_err *err);

/** Delete CA name (its record: certificate and chain). Refused with
 *  HKMS_E_IN_USE "in_use" naming the users while it has unexpired,
 *  unrevoked issued certificates, child CAs, or is the server's client CA,
 *  unless force. Issued and revocation records, the published CRL and the
 *  token key stay. *out: {name, deleted, used_by, key_kept}. Audited
 *  ("ca.delete", admin clearance). */
enum hkms_rc hkms_ops_ca_delete(struct hkms_ops_ctx *c, const char *name,
    int force, json_t **out, struct hkms_err *err);

/* ---- revocation, truststore CRLs, OCSP (issue 14a) ---- */

/* OCSP responder (src/ops/ocsp.c, docs/ocsp.md) */

/** Answer one DER OCSPRequest (RFC 6960) for the hkms CAs; public
 *  (ocsp.respond). The issuer is found by the CertID's name and key hash
 *  among the CAs; the answer is signed in the token by that CA's key.
 *  Always answers when it returns HKMS_OK: *resp (malloc'd, free) is an
 *  OCSPResponse, unsigned with malformedRequest, unauthorized (an issuer
 *  that is no hkms CA), tryLater (the token is needed and not open) or
 *  internalError, else a signed basic response (good, revoked with time
 *  and reason, unknown for a serial the CA never issued) with thisUpdate
 *  now and nextUpdate [ocsp] validity_s later. A request for one
 *  certificate without a nonce is answered from a cache of signed
 *  responses (one token signature per certificate and half validity;
 *  the status is looked up again on every hit, so a revocation shows at
 *  once); a nonce or several certificates are signed fresh. *info
 *  (may be NULL): {status, ca, serial, cached, nonce}. Thread-safe. */
enum hkms_rc hkms_ops_ocsp_respond(struct hkms_ops_ctx *c,
    const unsigned char *der, size_t len, unsigned char **resp,
    size_t *resp_len, json_t **info, struct hkms_err *err);

/** The responder's counters since start: {requests: {good, revoked,
 *  unknown, malformed, unauthorized, try_later, internal_error} (a
 *  request for several certificates counts by its first),
 *  signatures, sign_errors, cache_hits} (new reference). */
json_t *hkms_ops_ocsp_metrics(void);

/*
 * Revocation (docs/truststore.md "Revocation"): cert show/list mark a
 * certificate an hkms CA revoked (status "revoked", revoked_at, reason,
 * revoked_by) from the CA's revocation index; trust verify checks every
 * certificate of the path (req->revocation); CRLs of other CAs are
 * imported into the truststore (hkms_trust_crl_import: signature checked
 * against a truststore CA, fresh, newer than the stored one).
 */

/** Import a CRL (PEM or DER) into the truststore. *out: {id, signer,
 *  replaced, unchanged, crl}. Refusals: bad_crl, crl_delta_unsupported,
 *  crl_no_next_update, crl_issuer_unknown, crl_bad_signature,
 *  crl_expired, crl_not_yet_valid, crl_not_newer. Audited
 *  ("trust.crl_import"). */
enum hkms_rc hkms_ops_trust_crl_import(struct hkms_ops_ctx *c,
    const unsigned char *data, size_t len, json_t **out,
    struct hkms_err *err);

/** The truststore's CRLs: [{id, issuer, number, this_update, next_update,
 *  entries, signer, imported, status}]. */
enum hkms_rc hkms_ops_trust_crl_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** Delete truststore CRL id ("not_found" if absent). Audited
 *  ("trust.crl_delete"). */
enum hkms_rc hkms_ops_trust_crl_delete(struct hkms_ops_ctx *c,
    const char *id, struct hkms_err *err);

/** Re-sign, with hkms_ops_ca_crl(), the CRL of every CA whose last CRL
 *  (crl/<ca>/current) expires within before seconds of now (0 = the
 *  current time); days: the new CRL's lifetime (0 = that of the CRL it
 *  replaces), at least a day longer than before (or it would be due
 *  again at once). A CA that never published a CRL is left alone. Each new
 *  CRL is audited as "ca.crl". *out: [{ca, number, next_update} or {ca,
 *  error, message}]. What the server's CRL timer calls ([crl]
 *  resign_before). */
enum hkms_rc hkms_ops_ca_crl_refresh(struct hkms_ops_ctx *c, int64_t before,
    int days, int64_t now, json_t **out, struct hkms_err *err);

/* ---- path validation (issue 14b) ---- */

/* ---- ACME (issue 17a) ---- */

/** One ACME request (RFC 8555) as the HTTP face hands it over: the CA of
 *  /acme/{ca}/..., the resource (endpoint) and its object id, the URL the
 *  request was sent to (base + path, compared with the JWS "url") and the
 *  body. Everything borrowed. */
struct hkms_acme_req {
	const char *ca;
	const char *endpoint;	/* "directory", "new-nonce", "new-account",
				 * "new-order", "revoke-cert", "key-change",
				 * "acct", "orders", "order", "finalize",
				 * "authz", "chall", "cert" */
	const char *id;		/* object id of acct..cert, else NULL */
	const char *base;	/* "https://host:port" (no slash at the end) */
	const char *url;	/* base + the request's path */
	int head;		/* a HEAD request (new-nonce) */
	const unsigned char *body;
	size_t body_len;
};

/** What the face sends back: status and a JSON body, or a certificate
 *  chain (pem, application/pem-certificate-chain); the headers
 *  Replay-Nonce (nonce, "" = none), Location, Link and Retry-After (0 =
 *  none). Freed with hkms_acme_resp_free(). */
struct hkms_acme_resp {
	int status;
	json_t *json;
	char *pem;
	char nonce[32];
	char location[512];
	char link[1024];
	int retry_after;
};

/** Serve one ACME request: JWS checked as RFC 8555 §6.2 says (url,
 *  single-use nonce, jwk for newAccount and revokeCert, else kid of an
 *  existing valid account, alg ES256/ES384/RS256 fitting the key,
 *  signature), then the resource. On failure err holds an acme_* code
 *  (hkms_acme_problem_type gives its RFC 8555 §6.7 type) and resp still
 *  carries a fresh nonce. finalize issues through hkms_ops_ca_sign with
 *  the CA's ACME profile, audited with the account as actor
 *  ("acme:<ca>/<account>"). Thread-safe. */
enum hkms_rc hkms_ops_acme(struct hkms_ops_ctx *c,
    const struct hkms_acme_req *req, struct hkms_acme_resp *resp,
    struct hkms_err *err);

void hkms_acme_resp_free(struct hkms_acme_resp *resp);

/** The RFC 8555 problem type ("urn:ietf:params:acme:error:badNonce") of
 *  an error: the acme_* codes by name, policy refusals as
 *  rejectedIdentifier, anything else serverInternal or malformed. */
const char *hkms_acme_problem_type(const struct hkms_err *err);

/** Enable ACME on CA ca: leaf profile (required), an ACME name policy
 *  (policy text in the CA policy format, may be NULL) and whether an
 *  external account binding is required. Replaces an earlier setting.
 *  *out: the setting. Audited ("acme.enable"). */
enum hkms_rc hkms_ops_acme_enable(struct hkms_ops_ctx *c, const char *ca,
    const char *profile, const char *policy, size_t policy_len,
    int eab_required, json_t **out, struct hkms_err *err);

/** Disable ACME on ca (accounts and orders are kept). Audited
 *  ("acme.disable"). */
enum hkms_rc hkms_ops_acme_disable(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err);

/** The ACME setting of ca (NULL: every CA's, an array) with counts of
 *  accounts and orders. */
enum hkms_rc hkms_ops_acme_status(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err);

/** A new external account binding key for ca (ACME enabled): kid (NULL =
 *  a random one) and 32 random bytes of HS256 key, stored in the store's
 *  secrets (0600). *out: {ca, kid, hmac_key (base64url)}: the only time
 *  the key is shown. A key binds one account. Audited
 *  ("acme.eab_create", without the key). */
enum hkms_rc hkms_ops_acme_eab_create(struct hkms_ops_ctx *c, const char *ca,
    const char *kid, json_t **out, struct hkms_err *err);

/** Stop the ACME validation workers before the service closes: queued
 *  validations are dropped (queued again when their authorization is
 *  polled), running ones are waited for (bounded by their deadline).
 *  A no-op when none ran. */
void hkms_ops_acme_stop(void);

/** ACME counters for the metrics: {orders, finalized, issue_seconds:
 *  {buckets:[{le,count}], sum, count}}. A new object. */
json_t *hkms_ops_acme_metrics(void);

/* ---- EST (issue 17b) ---- */
/* EST, RFC 7030 (src/ops/est.c, docs/est.md): per-CA enabling, one-time
 * enrollment passwords, and the four EST operations. Enrollment goes
 * through hkms_ops_ca_sign() (policy, profile, audit, group commit) with
 * the principal of the enrollment: a password's ("est-token:<id>") or a
 * certificate's ("est-client:<sha256>"), a user granted sign on the CA
 * with the EST profile only. */

/** What hkms_ops_est_enable() takes. */
struct hkms_ops_est_enable_req {
	const char *ca;
	const char *profile;		/* a leaf profile (required) */
	int days;			/* 0 = the profile's default */
	int make_default;		/* also serve it at /.well-known/est/
					 * without a CA label (one CA is) */
};

/** Enable EST on a CA (or change its profile, days, default). *out: the
 *  CA's EST settings {ca, profile, days, default, enabled_at, url_path}.
 *  Audited ("est.enable"). The ops below that take a ca take NULL for
 *  the default EST CA (HKMS_E_NOT_FOUND "est_not_enabled" when none). */
enum hkms_rc hkms_ops_est_enable(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_enable_req *req, json_t **out,
    struct hkms_err *err);

/** Disable EST on a CA; its enrollment passwords stay (and work again
 *  when it is enabled again). HKMS_E_NOT_FOUND "est_not_enabled".
 *  Audited ("est.disable"). */
enum hkms_rc hkms_ops_est_disable(struct hkms_ops_ctx *c, const char *ca,
    struct hkms_err *err);

/** The EST settings of every enabled CA (ca NULL: an array) or of one
 *  (an object; HKMS_E_NOT_FOUND "est_not_enabled"), each with the count
 *  of its active enrollment passwords. */
enum hkms_rc hkms_ops_est_status(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err);

/** What hkms_ops_est_token_create() takes. */
struct hkms_ops_est_token_req {
	const char *ca;
	const char *subject;		/* the subject the CSR must have
					 * (hkms_x509_name_parse syntax) */
	int days;			/* lifetime, 0 = 7, at most 365 */
	const char *san;		/* the SANs the CSR must have, exactly
					 * (hkms_x509_san_parse syntax); NULL
					 * or "": the CSR must have none */
};

/** A one-time enrollment password for first enrollment on ca: 144
 *  random bits, stored only as a salted PBKDF2-HMAC-SHA256 hash, valid
 *  once until it expires. *out: {id (the Basic user name), password
 *  (only here, never again), ca, subject, expires, ...}; the caller
 *  wipes it (the password is in it). Audited ("est.token_create"),
 *  without the password. */
enum hkms_rc hkms_ops_est_token_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_token_req *req, json_t **out,
    struct hkms_err *err);

/** The enrollment passwords (of ca, or all with ca NULL): id, ca,
 *  subject, created, expires, status (active, used, expired, claimed),
 *  used_at, serial; never a hash. */
enum hkms_rc hkms_ops_est_token_list(struct hkms_ops_ctx *c, const char *ca,
    json_t **out, struct hkms_err *err);

/** Delete an enrollment password. HKMS_E_NOT_FOUND "est_token_not_found".
 *  Audited ("est.token_delete"). */
enum hkms_rc hkms_ops_est_token_delete(struct hkms_ops_ctx *c,
    const char *id, struct hkms_err *err);

/** GET /.well-known/est/{ca}/cacerts: the CA's chain (the CA first, up to
 *  its root) as a certs-only PKCS#7, DER, in base64 with line breaks.
 *  *out is malloc'd (free). HKMS_E_NOT_FOUND "est_not_enabled". */
enum hkms_rc hkms_ops_est_cacerts(struct hkms_ops_ctx *c, const char *ca,
    char **out, size_t *len, struct hkms_err *err);

/** GET /.well-known/est/{ca}/csrattrs: what the CA's EST profile asks of
 *  a CSR, as base64 of a DER CsrAttrs (RFC 7030 section 4.5.2): the
 *  profile's digest and, when the profile takes SANs from the CSR,
 *  subjectAltName. *out is malloc'd (free). */
enum hkms_rc hkms_ops_est_csrattrs(struct hkms_ops_ctx *c, const char *ca,
    char **out, size_t *len, struct hkms_err *err);

/** What hkms_ops_est_enroll() takes: the request as it came. */
struct hkms_ops_est_enroll_req {
	const char *ca;
	int reenroll;			/* simplereenroll */
	const char *content_type;	/* must be application/pkcs10 */
	const unsigned char *body;	/* base64 DER PKCS#10 */
	size_t body_len;
	const char *authorization;	/* the Authorization header, NULL */
	/* the TLS peer's certificates (DER, leaf first), n 0: none */
	const unsigned char *const *peer_der;
	const size_t *peer_len;
	size_t npeer;
};

/** simpleenroll / simplereenroll. Authentication: HTTP Basic with an
 *  enrollment password of this CA (enroll only; the CSR's subject must be
 *  the password's; the password is claimed atomically before issuing, so
 *  of two concurrent uses exactly one issues, and given back if the
 *  issuance fails), or the TLS client certificate: for re-enroll a valid,
 *  unrevoked certificate of this CA whose subject and SANs the CSR
 *  repeats (RFC 7030 section 4.2.2), for enroll a registered hkms client
 *  allowed to sign with the CA and the profile. The certificate is
 *  issued by hkms_ops_ca_sign with the CA's EST profile. *out: the new
 *  certificate as a certs-only PKCS#7 in base64 (malloc'd). Audited
 *  ("est.enroll" / "est.reenroll", with the token id or the client
 *  thumbprint; the issuance itself as "ca.sign"). No credential:
 *  HKMS_E_DENIED "est_auth_required" (401). */
enum hkms_rc hkms_ops_est_enroll(struct hkms_ops_ctx *c,
    const struct hkms_ops_est_enroll_req *req, char **out, size_t *len,
    struct hkms_err *err);

/** An EST request body, base64 (RFC 4648, line breaks and other white
 *  space allowed, padding optional) of a DER PKCS#10, to its DER bytes;
 *  *der is malloc'd (free). HKMS_E_INVALID "est_bad_request". The fuzz
 *  target tests/fuzz/fuzz_est_body.c drives it. */
enum hkms_rc hkms_ops_est_body_decode(const unsigned char *body, size_t len,
    unsigned char **der, size_t *der_len, struct hkms_err *err);

/** The user name and password of an "Authorization: Basic ..." header;
 *  user and pass are malloc'd, pass wiped by the caller (OPENSSL_clear_free).
 *  HKMS_E_DENIED "est_auth_failed" when the header is not Basic or does
 *  not decode to user:password. */
enum hkms_rc hkms_ops_est_basic_parse(const char *header, char **user,
    char **pass, struct hkms_err *err);

/* ---- sessions, TOTP (issue 16a) ---- */
/* The second factor of clients with require_2fa (docs/api.md, "Sessions
 * and second factor"): TOTP codes (RFC 6238) checked by POST /v1/session,
 * which opens a session of the web console bound to the client
 * certificate; the server sets principal->second_factor for a request
 * that carries a live session cookie of that certificate. */

#define HKMS_TOTP_DIGITS 6
#define HKMS_TOTP_PERIOD 30		/* seconds per step */
#define HKMS_TOTP_SEED_LEN 20		/* bytes of a seed (160 bits) */

/** HOTP (RFC 4226) of counter with HMAC-SHA1 over key, reduced to digits
 *  decimal digits; UINT32_MAX when HMAC fails. Thread-safe. */
uint32_t hkms_totp_hotp(const unsigned char *key, size_t klen,
    uint64_t counter, unsigned digits);

/** Check a 6-digit code against the steps now/30 - 1 .. + 1. 1: it is
 *  the code of a step after last_step (*step = that step); -1: it is the
 *  code of a step <= last_step (replayed); 0: wrong or malformed. */
int hkms_totp_check(const unsigned char *key, size_t klen, const char *code,
    time_t now, int64_t last_step, int64_t *step);

/** Base32 (RFC 4648 alphabet, no padding) of data; malloc'd, NULL when
 *  out of memory. */
char *hkms_totp_base32(const unsigned char *data, size_t len);

/** text as a QR code (libqrencode, level M) in SVG: a white background,
 *  the black modules as one path, a quiet zone of 4 modules, a viewBox of
 *  the symbol's width + 8. malloc'd; NULL on failure. */
char *hkms_totp_qr_svg(const char *text);

/** Enrol a new TOTP seed for client name (admin, "client.totp"): 20
 *  random bytes sealed by the token's seal key into the registration
 *  (the old seed, its replay guard and every session of the client end).
 *  *out: {"name", "totp": {"secret", "uri", "qr_svg"}}, given once.
 *  Audited (client.totp; never the seed). */
enum hkms_rc hkms_ops_client_totp(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

#define HKMS_SESSION_ID_LEN 43		/* base64url of 32 random bytes */

/** A session of the web console as a face sees it. */
struct hkms_ops_session {
	char id[HKMS_SESSION_ID_LEN + 1];	/* the cookie value, "" none */
	char csrf[HKMS_SESSION_ID_LEN + 1];	/* X-CSRF-Token */
	time_t expires;
	int max_age;			/* seconds, for Set-Cookie */
	int second_factor;		/* opened with a TOTP code */
};

/** The session (cookie value id) of the certificate thumb and client
 *  name whose registration's TOTP enrolment is totp_id ("" none): 1 and
 *  *out when it is live, 0 otherwise (unknown, expired, another
 *  certificate, re-enrolled since). Thread-safe (the process's table). */
int hkms_ops_session_lookup(const char *id, const char *thumb,
    const char *name, const char *totp_id, struct hkms_ops_session *out);

/** GET /v1/session: who the principal is; sess the request's live
 *  session or NULL. Allowed before the second factor ("session.show"). */
enum hkms_rc hkms_ops_session_show(struct hkms_ops_ctx *c,
    const struct hkms_ops_session *sess, json_t **out,
    struct hkms_err *err);

/** POST /v1/session: check code (NULL allowed for a client without
 *  require_2fa) and open a session ("session.open", audited both ways):
 *  totp_invalid, totp_replayed, totp_not_enrolled, totp_locked (5 wrong
 *  codes in a row), session_table_full. *sess and *out (the show object
 *  of the new session) on success. */
enum hkms_rc hkms_ops_session_open(struct hkms_ops_ctx *c, const char *code,
    struct hkms_ops_session *sess, json_t **out, struct hkms_err *err);

/** Seconds client name must wait before its next code (a lockout after
 *  wrong codes), 0 when none: the Retry-After of totp_locked. */
long hkms_ops_session_locked(const char *name);

/** DELETE /v1/session: end the session id (NULL or unknown: nothing to
 *  end, still OK). Audited ("session.close"). */
enum hkms_rc hkms_ops_session_close(struct hkms_ops_ctx *c, const char *id,
    struct hkms_err *err);

/* the session table itself (session.c), for tests: a bounded table of
 * cap sessions, at most per_client of one client (its oldest is ended for
 * a new one); a full table ends the session expiring first when it has
 * expired, and refuses a new one otherwise (session_table_full). */
struct hkms_session_table;
struct hkms_session_table *hkms_session_table_new(size_t cap,
    size_t per_client);
void hkms_session_table_free(struct hkms_session_table *t);
enum hkms_rc hkms_session_table_open(struct hkms_session_table *t,
    const char *name, const char *thumb, const char *totp_id, time_t now,
    int ttl, struct hkms_ops_session *out, struct hkms_err *err);
int hkms_session_table_find(struct hkms_session_table *t, const char *id,
    const char *thumb, const char *name, const char *totp_id, time_t now,
    struct hkms_ops_session *out);
int hkms_session_table_close(struct hkms_session_table *t, const char *id);
void hkms_session_table_end_client(struct hkms_session_table *t,
    const char *name);
size_t hkms_session_table_live(struct hkms_session_table *t, time_t now);
/** Wrong-code lockout: 0 when name may try a code at now, else the
 *  seconds it must wait. */
long hkms_session_table_locked(struct hkms_session_table *t,
    const char *name, time_t now);
/** Count a wrong code (the 5th in a row locks 60 s, each lock after
 *  that doubles up to an hour); a right one (ok) resets. */
void hkms_session_table_tried(struct hkms_session_table *t,
    const char *name, time_t now, int ok);

#define HKMS_TOTP_MAX_WRONG 5
#define HKMS_TOTP_LOCK_S 60
#define HKMS_TOTP_LOCK_MAX_S 3600

#endif
