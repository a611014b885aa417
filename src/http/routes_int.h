/*
 * Between the route handlers (routes_<area>.c) and their helpers
 * (routes.c: contexts and replies; body.c: strict JSON bodies). Not part
 * of the server's contract (http_int.h).
 */
#ifndef HKMS_ROUTES_INT_H
#define HKMS_ROUTES_INT_H

#include <stddef.h>

#include <jansson.h>

#include "http_int.h"
#include "hkms/ops.h"

/* ---- strict JSON bodies (body.c) ---- */

enum hkms_body_type {
	HKMS_BODY_STRING,	/* const char * into the parsed document */
	HKMS_BODY_SECRET,	/* a string wiped when the body is freed */
	HKMS_BODY_INT,		/* int within [min, max] */
	HKMS_BODY_BOOL,		/* int 0/1 */
	HKMS_BODY_LIST,		/* char * (malloc'd): "a,b" given as that
				 * string or as ["a","b"] */
	HKMS_BODY_STRV,		/* const char **, NULL-terminated (a
				 * malloc'd vector of strings into the
				 * document) */
	HKMS_BODY_BYTES,	/* struct hkms_body_bytes: PEM text as is,
				 * anything else base64 of the bytes */
	HKMS_BODY_OBJECT,	/* json_t * (borrowed): any JSON object */
};

/** A binary input: PEM text (kept as sent) or the base64 of DER /
 *  PKCS#12 bytes (decoded). data is malloc'd by the parser. */
struct hkms_body_bytes {
	unsigned char *data;
	size_t len;
};

struct hkms_body_field {
	const char *name;
	enum hkms_body_type type;
	int required;
	size_t offset;		/* where in the request struct */
	long long min, max;	/* HKMS_BODY_INT */
};

/** One route's body: its fields and the struct they go into. Every body
 *  struct starts with struct hkms_body_head. */
struct hkms_body_schema {
	const char *name;	/* "key.generate": the fuzz target's label */
	const struct hkms_body_field *fields;
	size_t size;		/* sizeof the request struct */
};

struct hkms_body_head {
	json_t *doc;		/* the parsed body (owned) */
	unsigned long seen;	/* bit i: fields[i] was given */
};

#define HKMS_BODY_F(st, fname, type, req) \
	{ #fname, type, req, offsetof(st, fname), 0, 0 }
#define HKMS_BODY_I(st, fname, req, lo, hi) \
	{ #fname, HKMS_BODY_INT, req, offsetof(st, fname), lo, hi }
#define HKMS_BODY_END { NULL, 0, 0, 0, 0, 0 }

/** Parse req's body by schema into out (zeroed first; a struct of
 *  schema->size starting with struct hkms_body_head). The body must be a
 *  JSON object (Content-Type application/json), no field outside the
 *  schema (unknown_field), each of its type (invalid_field naming it),
 *  every required one present (invalid_field). An empty body counts as
 *  {}. On failure out holds nothing (it is freed). */
enum hkms_rc hkms_http_body_parse(const struct hkms_body_schema *schema,
    const char *content_type, const unsigned char *body, size_t len,
    void *out, struct hkms_err *err);

/** Free what hkms_http_body_parse() put into out (secrets wiped). */
void hkms_http_body_free(const struct hkms_body_schema *schema, void *out);

/** 1 if field name of schema was given. */
int hkms_http_body_has(const struct hkms_body_schema *schema,
    const void *out, const char *name);

/** Every body schema (for the fuzz target and the docs check), ended by
 *  NULL. */
extern const struct hkms_body_schema *const hkms_http_body_schemas[];

/* ---- handler helpers (routes.c) ---- */

/** Fill c for the request (hkms_service_ctx with the request's principal
 *  and actor); on failure resp holds the error and the call returns
 *  non-zero. */
int hkms_http_ctx(struct hkms_http_req *req, struct hkms_http_resp *resp,
    unsigned need, struct hkms_ops_ctx *c);

/** Answer an operation's outcome: rc OK → out as JSON with status ({}
 *  when out is NULL); otherwise the error envelope, with out's "checks"
 *  array when it has one. Steals out. */
void hkms_http_reply(struct hkms_http_resp *resp, enum hkms_rc rc,
    int status, json_t *out, const struct hkms_err *err);

/** Parse the body for a handler; on failure resp holds the error (400,
 *  415) and the call returns non-zero. */
int hkms_http_body(struct hkms_http_req *req, struct hkms_http_resp *resp,
    const struct hkms_body_schema *schema, void *out);

/** A query flag (?force, ?force=true|1; false|0 = off); -1 (and resp
 *  holds 400 invalid_field) for anything else. */
int hkms_http_query_bool(struct hkms_http_req *req,
    struct hkms_http_resp *resp, const char *key);

/** A query integer in [lo, hi], def when absent; 0 on success, non-zero
 *  (resp holds 400 invalid_field) otherwise. */
int hkms_http_query_int(struct hkms_http_req *req,
    struct hkms_http_resp *resp, const char *key, long long lo, long long hi,
    long long def, long long *out);

/** 1 if the Accept header names media type mt (parameters ignored). */
int hkms_http_accepts(const struct hkms_http_req *req, const char *mt);

/** 400 invalid_field with message. */
void hkms_http_bad_field(struct hkms_http_resp *resp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The export format a GET asks for: ?format=, else NULL (JSON) when
 *  Accept names application/json, else the export media type Accept names
 *  (docs/api.md, "Answers and formats"), else NULL. */
const char *hkms_http_export_format(struct hkms_http_req *req);

/** Answer an export (data malloc'd, taken) with the format's media type
 *  and an attachment name; or the error. */
void hkms_http_export_reply(struct hkms_http_resp *resp, const char *name,
    const char *format, enum hkms_rc rc, unsigned char *data, size_t len,
    const struct hkms_err *err);

/* ---- the bodies, one per route that takes one ---- */

extern const struct hkms_body_schema hkms_body_key_generate;
extern const struct hkms_body_schema hkms_body_key_import;
extern const struct hkms_body_schema hkms_body_csr_create;
extern const struct hkms_body_schema hkms_body_csr_verify;
extern const struct hkms_body_schema hkms_body_cert_self_sign;
extern const struct hkms_body_schema hkms_body_cert_import;
extern const struct hkms_body_schema hkms_body_cert_export;
extern const struct hkms_body_schema hkms_body_cert_rename;
extern const struct hkms_body_schema hkms_body_cert_renew;
extern const struct hkms_body_schema hkms_body_ca_create;
extern const struct hkms_body_schema hkms_body_ca_apply;
extern const struct hkms_body_schema hkms_body_ca_sign;
extern const struct hkms_body_schema hkms_body_ca_revoke;
extern const struct hkms_body_schema hkms_body_ca_crl;
extern const struct hkms_body_schema hkms_body_ca_issue_client;
extern const struct hkms_body_schema hkms_body_trust_import;
extern const struct hkms_body_schema hkms_body_trust_pin;
extern const struct hkms_body_schema hkms_body_trust_verify;
/* ACME (issue 17a): routes_acme.c */
extern const struct hkms_body_schema hkms_body_acme_enable;
extern const struct hkms_body_schema hkms_body_acme_eab_create;
/* issue 13a */
extern const struct hkms_body_schema hkms_body_service_csr;
extern const struct hkms_body_schema hkms_body_service_apply;
extern const struct hkms_body_schema hkms_body_service_self_signed;
extern const struct hkms_body_schema hkms_body_service_trust;
extern const struct hkms_body_schema hkms_body_cert_restore;

/* ---- handlers, by area ---- */

#define HKMS_HANDLER(n) void n(struct hkms_http_req *req, \
    struct hkms_http_resp *resp)

/* routes_keys.c: tokens, keys, CSRs */
HKMS_HANDLER(hkms_route_tokens_list);
HKMS_HANDLER(hkms_route_keys_list);
HKMS_HANDLER(hkms_route_keys_generate);
HKMS_HANDLER(hkms_route_keys_import);
HKMS_HANDLER(hkms_route_keys_show);
HKMS_HANDLER(hkms_route_keys_delete);
HKMS_HANDLER(hkms_route_csrs_create);
HKMS_HANDLER(hkms_route_csrs_verify);

/* routes_certs.c */
HKMS_HANDLER(hkms_route_certs_list);
HKMS_HANDLER(hkms_route_certs_self_sign);
HKMS_HANDLER(hkms_route_certs_import);
HKMS_HANDLER(hkms_route_certs_show);
HKMS_HANDLER(hkms_route_certs_export);
HKMS_HANDLER(hkms_route_certs_rename);
HKMS_HANDLER(hkms_route_certs_delete);
HKMS_HANDLER(hkms_route_certs_renew);
HKMS_HANDLER(hkms_route_certs_restore);	/* issue 13a */

/* routes_service.c (issue 13a): after a change to the service
 * certificate, serve it at once (srv_tls_load); out gets "served" (and
 * "serve_error" when it could not be loaded). */
struct hkms_ops_ctx;
void hkms_http_service_cert_reload(struct hkms_ops_ctx *c, json_t *out);

/* routes_cas.c */
HKMS_HANDLER(hkms_route_cas_list);
HKMS_HANDLER(hkms_route_cas_create);
HKMS_HANDLER(hkms_route_cas_show);
HKMS_HANDLER(hkms_route_cas_apply);
HKMS_HANDLER(hkms_route_cas_sign);
HKMS_HANDLER(hkms_route_cas_issued);
HKMS_HANDLER(hkms_route_cas_issued_show);
HKMS_HANDLER(hkms_route_cas_revoke);
HKMS_HANDLER(hkms_route_cas_crl_get);
HKMS_HANDLER(hkms_route_cas_crl_make);
HKMS_HANDLER(hkms_route_cas_policy_get);
HKMS_HANDLER(hkms_route_cas_policy_put);
HKMS_HANDLER(hkms_route_cas_policy_delete);
/* issue 13b */
HKMS_HANDLER(hkms_route_cas_delete);
HKMS_HANDLER(hkms_route_profiles_create);
HKMS_HANDLER(hkms_route_profiles_delete);
HKMS_HANDLER(hkms_route_cas_renew);
extern const struct hkms_body_schema hkms_body_ca_renew;
extern const struct hkms_body_schema hkms_body_profile_create;
struct hkms_x509_ext_choice;
/** The extension switches of a sign or self-sign body (issue 13b): bools
 *  basic_constraints and aki (as given: absent = the profile's), lists
 *  key_usage and extended_key_usage ([] = omit). */
void hkms_http_ext_choice(const struct hkms_body_head *h, int bc, int aki,
    const char *ku, const char *eku, struct hkms_x509_ext_choice *out);
HKMS_HANDLER(hkms_route_cas_issue_client);
HKMS_HANDLER(hkms_route_public_crl);
HKMS_HANDLER(hkms_route_public_ca);

/* routes_trust.c */
HKMS_HANDLER(hkms_route_trust_list);
HKMS_HANDLER(hkms_route_trust_import);
HKMS_HANDLER(hkms_route_trust_show);
HKMS_HANDLER(hkms_route_trust_delete);
HKMS_HANDLER(hkms_route_trust_pin);
HKMS_HANDLER(hkms_route_trust_verify);
/* routes_trust.c: truststore CRLs (issue 14a) */
extern const struct hkms_body_schema hkms_body_trust_crl_import;
HKMS_HANDLER(hkms_route_trust_crl_list);
HKMS_HANDLER(hkms_route_trust_crl_import);
HKMS_HANDLER(hkms_route_trust_crl_delete);

/* routes_misc.c: profiles, audit */
HKMS_HANDLER(hkms_route_profiles_list);
HKMS_HANDLER(hkms_route_profiles_show);
HKMS_HANDLER(hkms_route_audit_list);

/* routes_est.c: EST (issue 17b) */
extern const struct hkms_body_schema hkms_body_est_enable;
extern const struct hkms_body_schema hkms_body_est_token_create;

/* routes_session.c: sessions, TOTP (issue 16a) */
extern const struct hkms_body_schema hkms_body_session_open;

#endif
