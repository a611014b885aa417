/*
 * Internals shared by the CA operations (src/ops/cas.c, ca_issue.c,
 * ca_revoke.c). The helpers (ca_need_*, ca_load, ca_key_ref, the time and
 * chain helpers, ca_sign_cert) live in ca_util.c, which calls no
 * operation; ca_issue() (ca_issue.c), ca_revoke_one() (ca_revoke.c) and
 * the policy (ca_policy.c) are the shared steps. Not installed, not
 * public. Design: docs/ca.md.
 */
#ifndef HKMS_OPS_CA_INT_H
#define HKMS_OPS_CA_INT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/error.h"
#include "hkms/ops.h"
#include "hkms/x509.h"

#define CA_KIND "cas"
#define CA_DAY 86400

/* A loaded CA record. */
struct ca {
	char name[65];
	json_t *meta;			/* the record's meta */
	STACK_OF(X509) *chain;		/* CA cert first, up to the root */
	X509 *cert;			/* borrowed: chain[0] */
	const char *key;		/* borrowed from meta: token key */
	char issued_kind[80];		/* "issued/<ca>" */
	char revoked_kind[80];		/* "revoked/<ca>" */
	char crl_kind[80];		/* "crl/<ca>" */
};

/* HKMS_E_INVALID unless a token / a store is open. */
enum hkms_rc ca_need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err);
enum hkms_rc ca_need_store(struct hkms_ops_ctx *c, struct hkms_err *err);

/* HKMS_E_INVALID "bad_name" unless name is a valid CA name. */
enum hkms_rc ca_name_check(const char *name, struct hkms_err *err);

/* Now in RFC 3339 (UTC), a new JSON string. */
json_t *ca_now_json(void);

/* Load CA name. active: it must have its certificate (not "ca-pending":
 * HKMS_E_INVALID "ca_pending"). Missing: HKMS_E_NOT_FOUND "ca_not_found".
 * Free with ca_free(). */
enum hkms_rc ca_load(struct hkms_ops_ctx *c, const char *name, int active,
    struct ca **out, struct hkms_err *err);
void ca_free(struct ca *ca);

/* Everything one issuance needs. The caller fills it; ca_issue() sets
 * opts.serial itself. */
struct ca_issue_req {
	const struct hkms_x509_profile *prof;
	X509_REQ *csr;			/* subject key from a CSR, or */
	EVP_PKEY *pub;			/* a public key (borrowed) */
	struct hkms_x509_cert_opts opts;
	const char *source;		/* "sign", "issue-client", "ca-create" */
	int check_policy;		/* apply the CA's policy */
	int is_leaf;			/* NC check of the CN too */
	json_t *extra;			/* more meta for the record (borrowed,
					 * may be NULL) */
	/* the write-ahead audit line written just before the record (op
	 * NULL: none); detail (borrowed, may be NULL) gets the serial,
	 * subject, san and not_after */
	const char *audit_op, *audit_object;
	json_t *audit_detail;
	/* 1: token work outside the data lock: the serial is reserved
	 * (hkms_store_reserve), the certificate signed with no store lock
	 * held, and the record committed with its audit line through the
	 * group committer (hkms_store_commit; needs audit_op). 0: the whole
	 * issuance under the data lock (ca create, whose CA record joins
	 * the same transaction). */
	int group;
	/* want_facts: ca_issue() leaves the new certificate's
	 * hkms_certio_describe() output in facts (the caller's, json_decref;
	 * NULL on failure): its record was made from it, and so can the
	 * result be (ops_cert_object_facts) */
	int want_facts;
	json_t *facts;
};

/* Issue one certificate (under the data lock, or with a reserved serial
 * when req->group): pick a serial unused in the CA's issued index, build, check policy and the name constraints of the
 * chain, sign with the CA's token key, record it in issued/<ca>. *cert
 * (X509_free) and *rec (the record's meta, json_decref) on success;
 * *retries: serials drawn again (may be NULL). Not audited here. */
enum hkms_rc ca_issue(struct hkms_ops_ctx *c, struct ca *ca,
    struct ca_issue_req *req, X509 **cert, json_t **rec, int *retries,
    struct hkms_err *err);

/* Check the built, unsigned certificate x against the CA's policy for
 * profile (policy: the CA's "policy" object, may be NULL = no rules) and
 * the requested lifetime days (0 = default). HKMS_E_POLICY
 * "policy_violation" naming the rule. */
enum hkms_rc ca_policy_check(json_t *policy, const char *profile, X509 *x,
    EVP_PKEY *subject_key, int days, struct hkms_err *err);

/* ACME (issue 17a): HKMS_E_POLICY "policy_violation" unless dns name
 * passes the dns rules (allow_dns, allow_wildcard) of policy for profile
 * (policy NULL: no rules). */
enum hkms_rc ca_policy_name_ok(json_t *policy, const char *profile,
    const char *name, struct hkms_err *err);

/* The policy's max_days for profile, 0 if none. */
int ca_policy_max_days(json_t *policy, const char *profile);

/* Parse and check policy text strictly; *out is new (json_decref).
 * HKMS_E_INVALID "invalid_policy" naming the field. */
enum hkms_rc ca_policy_parse(const char *text, size_t len, json_t **out,
    struct hkms_err *err);

/* Meta for a certificate: the facts a record keeps (ops_cert_record:
 * common_name, subject, san, issuer, serial, not_before, not_after,
 * digest_algorithm, key_type, key_bits, curve, thumbprint, self_signed,
 * is_ca). NULL if out of memory. */
json_t *ca_cert_meta(X509 *x);

/* RFC 3339 of an ASN1_TIME; json null if it cannot be read. */
json_t *ca_time_json(const ASN1_TIME *t);
int64_t ca_parse_time(const char *s);

/* A token key reference for hkms_hsm_*: "id:<hex>" if the record knows
 * the id, else the name. */
void ca_key_ref(struct ca *ca, char *buf, size_t size);

/* Normalise a serial given by a user ("0a:1B" -> "0A1B"). */
enum hkms_rc ca_serial_norm(const char *in, char out[HKMS_X509_SERIAL_HEX_MAX],
    struct hkms_err *err);

/* Revoke serial hex (normalised) of ca under the data lock: the
 * revocation record first (the commit point, append-only), then the
 * issued record's status. HKMS_E_NOT_FOUND for an unknown serial,
 * HKMS_E_EXISTS "already_revoked" (nothing written). *out (may be NULL):
 * {ca, serial, reason, revoked_at}. With audit (borrowed, may be NULL)
 * the write-ahead "ca.revoke" line with that detail is written just
 * before the commit; without, it is not audited here. */
enum hkms_rc ca_revoke_one(struct hkms_ops_ctx *c, struct ca *ca,
    const char *hex, enum hkms_x509_crl_reason reason, json_t *audit,
    json_t **out, struct hkms_err *err);

/* Sign cert with the token key of ca (idempotent callback). */
enum hkms_rc ca_sign_cert(struct hkms_ops_ctx *c, struct ca *ca, X509 *cert,
    const struct hkms_x509_profile *prof, struct hkms_err *err);

/* The chain to hand out: leaf followed by the CA's chain (new stack,
 * new references; hkms_certio_chain_free). NULL if out of memory. */
STACK_OF(X509) *ca_leaf_chain(struct ca *ca, X509 *leaf);

#endif
