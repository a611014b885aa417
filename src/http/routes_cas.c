/*
 * Routes of certificate authorities: /v1/cas..., and the public CRL and
 * CA certificate downloads (/crl/{ca}.crl, /ca/{ca}.pem). Each is the CLI
 * verb of the same name (src/cli/cmd_ca.c) over the same operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "routes_int.h"
#include "hkms/secret.h"

#define NEED_STORE HKMS_SERVICE_NEED_STORE
#define NEED_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)

/* GET /v1/cas (hkms ca list) */
void
hkms_route_cas_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/cas {name, key_type, subject, parent, external, path_len,
 * permit_dns, exclude_dns, permit_ip, exclude_ip, days} (hkms ca create) */
struct ca_create_body {
	struct hkms_body_head h;
	const char *name;
	const char *key_type;
	const char *subject;
	const char *parent;
	int external;
	int path_len;
	const char **permit_dns;
	const char **exclude_dns;
	const char **permit_ip;
	const char **exclude_ip;
	int days;
};

static const struct hkms_body_field ca_create_fields[] = {
	HKMS_BODY_F(struct ca_create_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct ca_create_body, key_type, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct ca_create_body, subject, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct ca_create_body, parent, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct ca_create_body, external, HKMS_BODY_BOOL, 0),
	HKMS_BODY_I(struct ca_create_body, path_len, 0, 0, 32),
	HKMS_BODY_F(struct ca_create_body, permit_dns, HKMS_BODY_STRV, 0),
	HKMS_BODY_F(struct ca_create_body, exclude_dns, HKMS_BODY_STRV, 0),
	HKMS_BODY_F(struct ca_create_body, permit_ip, HKMS_BODY_STRV, 0),
	HKMS_BODY_F(struct ca_create_body, exclude_ip, HKMS_BODY_STRV, 0),
	HKMS_BODY_I(struct ca_create_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_create = { "ca.create",
    ca_create_fields, sizeof(struct ca_create_body) };

void
hkms_route_cas_create(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_ca_create_req r;
	struct ca_create_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_create, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.name = b.name;
	r.key_type = b.key_type;
	r.subject = b.subject;
	r.parent = b.parent;
	r.external = b.external;
	r.has_path_len = hkms_http_body_has(&hkms_body_ca_create, &b,
	    "path_len");
	r.path_len = b.path_len;
	r.permit_dns = b.permit_dns;
	r.exclude_dns = b.exclude_dns;
	r.permit_ip = b.permit_ip;
	r.exclude_ip = b.exclude_ip;
	r.days = b.days;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_ca_create(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_ca_create, &b);
}

/* GET /v1/cas/{name} (hkms ca show) */
void
hkms_route_cas_show(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_show(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/cas/{name}/apply {certificate, chain} (hkms ca apply) */
struct ca_apply_body {
	struct hkms_body_head h;
	struct hkms_body_bytes certificate;
	struct hkms_body_bytes chain;
};

static const struct hkms_body_field ca_apply_fields[] = {
	HKMS_BODY_F(struct ca_apply_body, certificate, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct ca_apply_body, chain, HKMS_BODY_BYTES, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_apply = { "ca.apply",
    ca_apply_fields, sizeof(struct ca_apply_body) };

void
hkms_route_cas_apply(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct ca_apply_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_apply, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_ca_apply(&c, req->params[0], b.certificate.data,
		    b.certificate.len, b.chain.data, b.chain.len, &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_ca_apply, &b);
}

/* POST /v1/cas/{name}/sign {csr, profile, days, subject, san, format,
 * basic_constraints, aki, key_usage, extended_key_usage} (hkms ca sign); Accept: application/pem-certificate-chain answers the
 * PEM chain itself */
struct ca_sign_body {
	struct hkms_body_head h;
	struct hkms_body_bytes csr;
	const char *profile;
	int days;
	const char *subject;
	char *san;
	const char *format;
	int basic_constraints;		/* issue 13b: extension switches */
	int aki;
	char *key_usage;
	char *extended_key_usage;
};

static const struct hkms_body_field ca_sign_fields[] = {
	HKMS_BODY_F(struct ca_sign_body, csr, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct ca_sign_body, profile, HKMS_BODY_STRING, 1),
	HKMS_BODY_I(struct ca_sign_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_F(struct ca_sign_body, subject, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct ca_sign_body, san, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct ca_sign_body, format, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct ca_sign_body, basic_constraints, HKMS_BODY_BOOL, 0),
	HKMS_BODY_F(struct ca_sign_body, aki, HKMS_BODY_BOOL, 0),
	HKMS_BODY_F(struct ca_sign_body, key_usage, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct ca_sign_body, extended_key_usage, HKMS_BODY_LIST, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_sign = { "ca.sign",
    ca_sign_fields, sizeof(struct ca_sign_body) };

void
hkms_route_cas_sign(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_ca_sign_req r;
	struct ca_sign_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	const char *pem;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_sign, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.ca = req->params[0];
	r.profile = b.profile;
	r.csr = b.csr.data;
	r.csr_len = b.csr.len;
	r.days = b.days;
	r.subject = b.subject;
	/* "san": [] clears the CSR's names, as --san "" does */
	r.san = b.san;
	r.format = b.format;
	hkms_http_ext_choice(&b.h, b.basic_constraints, b.aki, b.key_usage,
	    b.extended_key_usage, &r.ext);
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) != 0)
		goto out;
	rc = hkms_ops_ca_sign(&c, &r, &out, &err);
	if (rc == HKMS_OK && hkms_http_accepts(req,
	    "application/pem-certificate-chain") &&
	    (pem = json_string_value(json_object_get(out, "pem"))) != NULL) {
		hkms_http_resp_bytes(resp, 201,
		    "application/pem-certificate-chain", pem, strlen(pem));
		json_decref(out);
		goto out;
	}
	hkms_http_reply(resp, rc, 201, out, &err);
out:
	hkms_http_body_free(&hkms_body_ca_sign, &b);
}

/* GET /v1/cas/{name}/issued[?expiring_within=D&status=S] (hkms ca
 * issued) */
void
hkms_route_cas_issued(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	long long within;
	enum hkms_rc rc;

	if (hkms_http_query_int(req, resp, "expiring_within", 0,
	    HKMS_OPS_DAYS_MAX, -1, &within) != 0 ||
	    hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_issued(&c, req->params[0], (int)within,
	    hkms_http_query_get(req, "status"), &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/cas/{name}/issued/{serial} (hkms ca issued --serial) */
void
hkms_route_cas_issued_show(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_issued_show(&c, req->params[0], req->params[1], &out,
	    &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/cas/{name}/revoke {serial, reason} (hkms ca revoke) */
struct ca_revoke_body {
	struct hkms_body_head h;
	const char *serial;
	const char *reason;
};

static const struct hkms_body_field ca_revoke_fields[] = {
	HKMS_BODY_F(struct ca_revoke_body, serial, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct ca_revoke_body, reason, HKMS_BODY_STRING, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_revoke = { "ca.revoke",
    ca_revoke_fields, sizeof(struct ca_revoke_body) };

void
hkms_route_cas_revoke(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct ca_revoke_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_revoke, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_ca_revoke(&c, req->params[0], b.serial, b.reason,
		    &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_ca_revoke, &b);
}

static void
crl_answer(struct hkms_http_req *req, struct hkms_http_resp *resp, int der)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	size_t len = 0;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	if (hkms_ops_ca_crl_get(&c, req->params[0], der, &data, &len,
	    &err) != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		return;
	}
	hkms_http_resp_bytes(resp, 200, der ? "application/pkix-crl" :
	    "application/x-pem-file", data, len);
	free(data);
	if (resp->status == 200)
		snprintf(resp->filename, sizeof(resp->filename), "%.100s%s",
		    req->params[0], der ? ".crl" : ".crl.pem");
}

/* GET /v1/cas/{name}/crl: the last CRL; PEM, or DER with ?format=der or
 * Accept: application/pkix-crl */
void
hkms_route_cas_crl_get(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	const char *f = hkms_http_query_get(req, "format");
	int der;

	if (f != NULL && strcmp(f, "pem") != 0 && strcmp(f, "der") != 0) {
		hkms_http_bad_field(resp, "format must be pem or der");
		return;
	}
	der = f != NULL ? strcmp(f, "der") == 0 :
	    hkms_http_accepts(req, "application/pkix-crl");
	crl_answer(req, resp, der);
}

/* POST /v1/cas/{name}/crl {days} (hkms ca crl: make and publish one) */
struct ca_crl_body {
	struct hkms_body_head h;
	int days;
};

static const struct hkms_body_field ca_crl_fields[] = {
	HKMS_BODY_I(struct ca_crl_body, days, 0, 0, HKMS_OPS_CRL_DAYS_MAX),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_crl = { "ca.crl", ca_crl_fields,
    sizeof(struct ca_crl_body) };

void
hkms_route_cas_crl_make(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct ca_crl_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_crl, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_ca_crl(&c, req->params[0], b.days, &out, &err);
		/* the server's paths are no business of a client */
		if (rc == HKMS_OK) {
			json_object_del(out, "path");
			json_object_del(out, "pem_path");
		}
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_ca_crl, &b);
}

/* GET|PUT|DELETE /v1/cas/{name}/policy (hkms ca policy [--file|--clear]);
 * PUT's body is the policy document itself (docs/ca.md), checked strictly
 * by the operation */
static void
policy(struct hkms_http_req *req, struct hkms_http_resp *resp, int set,
    int clear)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	struct hkms_body_head h;
	static const struct hkms_body_field none[] = { HKMS_BODY_END };
	static const struct hkms_body_schema any = { "ca.policy", none,
	    sizeof(struct hkms_body_head) };

	if (set) {
		/* the media type and JSON well-formedness here, the schema in
		 * the operation */
		if (req->body_len == 0) {
			hkms_http_bad_field(resp, "policy is required");
			return;
		}
		if (hkms_http_body_parse(&any, req->content_type, req->body,
		    req->body_len, &h, &err) != HKMS_OK &&
		    strcmp(hkms_err_code(&err), "unknown_field") != 0) {
			hkms_http_resp_error(resp, &err, NULL);
			return;
		}
		hkms_http_body_free(&any, &h);
	}
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_policy(&c, req->params[0], set ? (const char *)
	    req->body : NULL, set ? req->body_len : 0, clear, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

void
hkms_route_cas_policy_get(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	policy(req, resp, 0, 0);
}

void
hkms_route_cas_policy_put(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	policy(req, resp, 1, 0);
}

void
hkms_route_cas_policy_delete(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	policy(req, resp, 0, 1);
}

/* POST /v1/cas/{name}/clients {subject, san, key_type, days, passphrase}
 * (hkms ca issue-client): the PKCS#12 is in the answer, once, as base64
 * ("pkcs12"); hkms keeps no copy of its key */
struct ca_client_body {
	struct hkms_body_head h;
	const char *subject;
	char *san;
	const char *key_type;
	int days;
	const char *passphrase;
};

static const struct hkms_body_field ca_client_fields[] = {
	HKMS_BODY_F(struct ca_client_body, subject, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct ca_client_body, san, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct ca_client_body, key_type, HKMS_BODY_STRING, 0),
	HKMS_BODY_I(struct ca_client_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_F(struct ca_client_body, passphrase, HKMS_BODY_SECRET, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_issue_client = { "ca.issue_client",
    ca_client_fields, sizeof(struct ca_client_body) };

void
hkms_route_cas_issue_client(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_ops_ca_client_req r;
	struct ca_client_body b;
	struct hkms_secret *pass = NULL, *p12 = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	char *b64 = NULL;
	size_t n;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_issue_client, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	if (hkms_secret_new(b.passphrase, strlen(b.passphrase), &pass,
	    &err) != HKMS_OK) {
		hkms_http_resp_error(resp, &err, NULL);
		goto out;
	}
	r.ca = req->params[0];
	r.subject = b.subject;
	r.san = b.san;
	r.key_type = b.key_type;
	r.days = b.days;
	r.passphrase = pass;
	r.destination = "the HTTP response";
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) != 0)
		goto out;
	if ((rc = hkms_ops_ca_issue_client(&c, &r, &out, &p12, &err)) !=
	    HKMS_OK) {
		hkms_http_reply(resp, rc, 201, out, &err);
		goto out;
	}
	n = hkms_secret_len(p12);
	if ((b64 = malloc(4 * ((n + 2) / 3) + 1)) == NULL) {
		json_decref(out);
		hkms_err_set(&err, HKMS_E_NOMEM, "out of memory");
		hkms_http_resp_error(resp, &err, NULL);
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)
	    hkms_secret_str(p12), (int)n);
	json_object_set_new(out, "pkcs12", json_string(b64));
	hkms_http_reply(resp, HKMS_OK, 201, out, &err);
	OPENSSL_cleanse(b64, strlen(b64));
out:
	free(b64);
	hkms_secret_free(p12);
	hkms_secret_free(pass);
	hkms_http_body_free(&hkms_body_ca_issue_client, &b);
}

/* GET /crl/{ca}.crl (public): the CA's last CRL in DER */
void
hkms_route_public_crl(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	crl_answer(req, resp, 1);
}

/* GET /ca/{ca}.pem (public): the CA's certificate chain in PEM */
void
hkms_route_public_ca(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	size_t len = 0;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	/* a CA only, through the public operation (the anonymous principal
	 * may not run ca.show or cert.export) */
	rc = hkms_ops_ca_cert_get(&c, req->params[0], &data, &len, &err);
	hkms_http_export_reply(resp, req->params[0], "pem", rc, data, len,
	    &err);
}

/* ---- issue 13b: CA delete ------------------------------------------ */

/* DELETE /v1/cas/{name}[?force=true] (hkms ca delete) */
void
hkms_route_cas_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;
	int force;

	if ((force = hkms_http_query_bool(req, resp, "force")) < 0 ||
	    hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_ca_delete(&c, req->params[0], force, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* ---- issue 13b: extension switches --------------------------------- */

void
hkms_http_ext_choice(const struct hkms_body_head *h, int bc, int aki,
    const char *ku, const char *eku, struct hkms_x509_ext_choice *out)
{
	memset(out, 0, sizeof(*out));
	if (json_object_get(h->doc, "basic_constraints") != NULL)
		out->basic_constraints = bc ? HKMS_X509_EXT_ON :
		    HKMS_X509_EXT_OFF;
	if (json_object_get(h->doc, "aki") != NULL)
		out->aki = aki ? HKMS_X509_EXT_ON : HKMS_X509_EXT_OFF;
	out->key_usage = ku;
	out->extended_key_usage = eku;
}

/* ---- issue 13b: CA renew ------------------------------------------- */

/* POST /v1/cas/{name}/renew {rekey, days} (hkms ca renew) */
struct ca_renew_body {
	struct hkms_body_head h;
	int rekey;
	int days;
};

static const struct hkms_body_field ca_renew_fields[] = {
	HKMS_BODY_F(struct ca_renew_body, rekey, HKMS_BODY_BOOL, 0),
	HKMS_BODY_I(struct ca_renew_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_ca_renew = { "ca.renew",
    ca_renew_fields, sizeof(struct ca_renew_body) };

void
hkms_route_cas_renew(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct ca_renew_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_ca_renew, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_ca_renew(&c, req->params[0], b.rekey, b.days,
		    &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_ca_renew, &b);
}
