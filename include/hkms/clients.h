/*
 * Clients and clearance (docs/design.md, "Clients and clearance"): the
 * registrations of mTLS clients (clients/<name>.json in the store), the
 * authentication of a presented certificate chain to a principal, and the
 * authorization every operation asks before it acts.
 *
 * A registration: name, one or more certificate thumbprints (SHA-256 of
 * the DER, lower-case hex; a PKCS#12 collection registers all of its
 * certificates as one client), clearance (admin|operator|user), per-CA
 * permissions for a user ({ca, rights sign|read, profiles[], name_policy}),
 * require_2fa, not_after (the latest certificate's), created, and the
 * certificates' subject/issuer for display. Files are written with the
 * store's atomic writes; a running server sees a change without restart
 * (the lookup re-reads a registration whose file changed).
 */
#ifndef HKMS_CLIENTS_H
#define HKMS_CLIENTS_H

#include <stddef.h>

#include <jansson.h>

#include "hkms/error.h"
#include "hkms/service.h"

struct hkms_ops_ctx;
struct hkms_secret;

/* ---- registrations (operations; admin clearance) ---- */

/** One per-CA grant as a request gives it ("root" or "root:tls-server,
 *  tls-client" in the CLI; {"ca","rights","profiles"} in the API). */
struct hkms_ops_client_grant {
	const char *ca;
	unsigned rights;		/* HKMS_PERM_*; 0 = sign|read */
	const char *const *profiles;	/* NULL = any profile */
	size_t nprofiles;
};

/** What hkms_ops_client_add() and _generate() take. */
struct hkms_ops_client_req {
	const char *name;		/* hkms_name_valid */
	const char *clearance;		/* "admin" | "operator" | "user" */
	const struct hkms_ops_client_grant *grants;
	size_t ngrants;
	int require_2fa;
	/* add: the certificate or collection (PEM, DER, PKCS#7, PKCS#12) */
	const unsigned char *cert;
	size_t cert_len;
	const char *password;		/* PKCS#12 password, or NULL */
	/* generate: issued by an hkms CA, returned as PKCS#12 once */
	const char *ca;
	const char *subject;		/* NULL = "/CN=<name>" */
	int days;			/* 0 = 5 years, clamped to the CA */
	const struct hkms_secret *passphrase;	/* of the PKCS#12, >= 8 */
	const char *destination;	/* for the audit line only */
};

/** Register an existing certificate or collection. Every certificate must
 *  verify against the client CAs (hkms_ops_client_cas) and carry the
 *  clientAuth EKU; a thumbprint registered to another client is refused
 *  (already_exists). *out: the registration (hkms_ops_client_show). */
enum hkms_rc hkms_ops_client_add(struct hkms_ops_ctx *c,
    const struct hkms_ops_client_req *req, json_t **out,
    struct hkms_err *err);

/** Issue a client certificate from req->ca (hkms_ops_ca_issue_client) and
 *  register it in one step. *p12 (the PKCS#12, given once, never stored)
 *  is freed by the caller with hkms_secret_free(). */
enum hkms_rc hkms_ops_client_generate(struct hkms_ops_ctx *c,
    const struct hkms_ops_client_req *req, json_t **out,
    struct hkms_secret **p12, struct hkms_err *err);

/** All registrations: [{name, clearance, thumbprints[], permissions[],
 *  require_2fa, not_after, subject, issuer}]. */
enum hkms_rc hkms_ops_client_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One registration (a user client may read its own). */
enum hkms_rc hkms_ops_client_show(struct hkms_ops_ctx *c, const char *name,
    json_t **out, struct hkms_err *err);

/** What hkms_ops_client_edit() changes; NULL / -1 = keep. */
struct hkms_ops_client_edit_req {
	const char *clearance;
	const struct hkms_ops_client_grant *grants;	/* replaces all */
	size_t ngrants;
	int set_grants;			/* grants given (possibly none) */
	int require_2fa;		/* -1 keep, 0 off, 1 on */
};

enum hkms_rc hkms_ops_client_edit(struct hkms_ops_ctx *c, const char *name,
    const struct hkms_ops_client_edit_req *req, json_t **out,
    struct hkms_err *err);

enum hkms_rc hkms_ops_client_delete(struct hkms_ops_ctx *c, const char *name,
    struct hkms_err *err);

/** The client CAs as PEM (what the server asks clients to present a
 *  certificate from; MHD_OPTION_HTTPS_MEM_TRUST): every hkms CA's
 *  certificate. *pem is malloc'd; "" when there is none. */
enum hkms_rc hkms_ops_client_cas_pem(struct hkms_ops_ctx *c, char **pem,
    struct hkms_err *err);

/* ---- authentication (the server, per request) ---- */

/** A principal with storage for what it borrows (the registration). */
struct hkms_client_principal {
	struct hkms_principal p;	/* what the context borrows */
	json_t *reg;			/* the registration (owned) */
	struct hkms_permission *perms;	/* owned */
	char actor[80];			/* "client:<sha256>" */
};

/** Authenticate a presented chain (DER certificates, leaf first, as
 *  GnuTLS gives them): the leaf must verify against the client CAs (or
 *  [server] admin_thumbprints name its thumbprint), be valid now, carry
 *  clientAuth, not be revoked by an hkms CA, and be registered. Results:
 *  no certificate (n == 0) → HKMS_E_DENIED "client_certificate_required"
 *  (HTTP 401); anything else refused → HKMS_E_DENIED with a specific code
 *  (client_unknown, client_cert_invalid, client_cert_expired,
 *  client_cert_revoked; HTTP 403). Every refusal is audited
 *  ("client.auth", result error, the thumbprint). On success *out is
 *  filled (free with hkms_client_principal_free). The thumbprint of the
 *  leaf is in out->p.thumbprint also on failure (when there was a leaf). */
enum hkms_rc hkms_client_authenticate(struct hkms_service *svc,
    const unsigned char *const *der, const size_t *der_len, size_t n,
    struct hkms_client_principal *out, struct hkms_err *err);

void hkms_client_principal_free(struct hkms_client_principal *cp);

/* ---- authorization (every operation) ---- */

/** May the context's principal do op (its audit name: "ca.sign",
 *  "key.generate", "client.add", ...) on ca (NULL when no CA is
 *  involved) with profile (NULL)? HKMS_OK, or HKMS_E_DENIED
 *  "clearance_too_low" / "ca_not_granted" / "profile_not_granted" /
 *  "second_factor_required" (HTTP 403). The local operator is admin (a
 *  NULL principal too: library callers, tests). The server never passes
 *  NULL: a request without a client certificate on a public route runs
 *  as an anonymous client principal (clearance none), which may do only
 *  the public ops (CA certificate, CRL download, health). The table of
 *  op → clearance is in src/ops/authz.c and docs/api.md,
 *  "Authorization". */
enum hkms_rc hkms_ops_authorize(struct hkms_ops_ctx *c, const char *op,
    const char *ca, const char *profile, struct hkms_err *err);

#endif
