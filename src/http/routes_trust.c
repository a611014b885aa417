/*
 * Routes of the truststore: /v1/truststore... Each is the CLI verb of the
 * same name (src/cli/cmd_trust.c) over the same operation; none needs the
 * token.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "routes_int.h"

#define NEED_STORE HKMS_SERVICE_NEED_STORE

/* GET /v1/truststore (hkms trust list) */
void
hkms_route_trust_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_trust_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/truststore {alias, certificate, password} (hkms trust import) */
struct trust_import_body {
	struct hkms_body_head h;
	const char *alias;
	struct hkms_body_bytes certificate;
	const char *password;
};

static const struct hkms_body_field trust_import_fields[] = {
	HKMS_BODY_F(struct trust_import_body, alias, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct trust_import_body, certificate, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct trust_import_body, password, HKMS_BODY_SECRET, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_trust_import = { "trust.import",
    trust_import_fields, sizeof(struct trust_import_body) };

void
hkms_route_trust_import(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_trust_import_req r;
	struct trust_import_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_trust_import, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.alias = b.alias;
	r.data = b.certificate.data;
	r.len = b.certificate.len;
	r.password = b.password;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_trust_import(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_trust_import, &b);
}

/* GET /v1/truststore/{alias}[?format=...] (hkms trust show, or hkms trust
 * export by ?format= or Accept) */
void
hkms_route_trust_show(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_trust_export_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *format = hkms_http_export_format(req);
	unsigned char *data = NULL;
	json_t *out = NULL;
	size_t len = 0;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	if (format != NULL) {
		memset(&r, 0, sizeof(r));
		r.alias = req->params[0];
		r.format = format;
		rc = hkms_ops_trust_export(&c, &r, &data, &len, &err);
		hkms_http_export_reply(resp, req->params[0], format, rc, data,
		    len, &err);
		return;
	}
	rc = hkms_ops_trust_show(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* DELETE /v1/truststore/{alias} (hkms trust delete) */
void
hkms_route_trust_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_trust_delete(&c, req->params[0], &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "alias", req->params[0], "deleted", 1) : NULL, &err);
}

/* POST /v1/truststore/{alias}/pin {certificate, force} (hkms trust pin) */
struct trust_pin_body {
	struct hkms_body_head h;
	struct hkms_body_bytes certificate;
	int force;
};

static const struct hkms_body_field trust_pin_fields[] = {
	HKMS_BODY_F(struct trust_pin_body, certificate, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct trust_pin_body, force, HKMS_BODY_BOOL, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_trust_pin = { "trust.pin",
    trust_pin_fields, sizeof(struct trust_pin_body) };

void
hkms_route_trust_pin(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_trust_pin_req r;
	struct trust_pin_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_trust_pin, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.alias = req->params[0];
	r.data = b.certificate.data;
	r.len = b.certificate.len;
	r.force = b.force;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_trust_pin(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_trust_pin, &b);
}

/* POST /v1/truststore/verify {chain, password, purpose, host, at, profile,
 * max_depth} (hkms
 * trust verify): 200 with the verdict when the chain holds, else 422 with
 * the failed check as the error code and the verdict as "verdict" */
struct trust_verify_body {
	struct hkms_body_head h;
	struct hkms_body_bytes chain;
	const char *password;
	const char *purpose;
	const char *host;
	int at;
	const char *profile;	/* path validation (issue 14b) */
	int max_depth;
	const char *revocation;
};

static const struct hkms_body_field trust_verify_fields[] = {
	HKMS_BODY_F(struct trust_verify_body, chain, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct trust_verify_body, password, HKMS_BODY_SECRET, 0),
	HKMS_BODY_F(struct trust_verify_body, purpose, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct trust_verify_body, host, HKMS_BODY_STRING, 0),
	HKMS_BODY_I(struct trust_verify_body, at, 0, 0, 0x7fffffff),
	HKMS_BODY_F(struct trust_verify_body, profile, HKMS_BODY_STRING, 0),
	HKMS_BODY_I(struct trust_verify_body, max_depth, 0, 1, 32),
	HKMS_BODY_F(struct trust_verify_body, revocation, HKMS_BODY_STRING, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_trust_verify = { "trust.verify",
    trust_verify_fields, sizeof(struct trust_verify_body) };

void
hkms_route_trust_verify(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_trust_verify_req r;
	struct trust_verify_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL, *env;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_trust_verify, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.chain = b.chain.data;
	r.len = b.chain.len;
	r.password = b.password;
	r.purpose = b.purpose;
	r.host = b.host;
	r.at = b.at;
	r.profile = b.profile;
	r.max_depth = b.max_depth;
	r.revocation = b.revocation;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		goto out;
	rc = hkms_ops_trust_verify(&c, &r, &out, &err);
	if (rc == HKMS_E_VERIFY && out != NULL &&
	    (env = hkms_err_json(&err, NULL)) != NULL) {
		/* the envelope, and the verdict beside it (depth, subject) */
		json_object_set_new(env, "verdict", out);
		hkms_http_resp_json(resp, hkms_err_http_status(&err), env);
		snprintf(resp->error_code, sizeof(resp->error_code), "%s",
		    hkms_err_code(&err));
		goto out;
	}
	hkms_http_reply(resp, rc, 200, out, &err);
out:
	hkms_http_body_free(&hkms_body_trust_verify, &b);
}

/* ---- truststore CRLs (issue 14a) ---------------------------------- */

/* GET /v1/truststore/crls (hkms trust crl list) */
void
hkms_route_trust_crl_list(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_trust_crl_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/truststore/crls {crl} (hkms trust crl import): the CRL as PEM
 * or base64 DER */
struct trust_crl_import_body {
	struct hkms_body_head h;
	struct hkms_body_bytes crl;
};

static const struct hkms_body_field trust_crl_import_fields[] = {
	HKMS_BODY_F(struct trust_crl_import_body, crl, HKMS_BODY_BYTES, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_trust_crl_import = {
    "trust.crl_import", trust_crl_import_fields,
    sizeof(struct trust_crl_import_body) };

void
hkms_route_trust_crl_import(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct trust_crl_import_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_trust_crl_import, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_trust_crl_import(&c, b.crl.data, b.crl.len, &out,
		    &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_trust_crl_import, &b);
}

/* DELETE /v1/truststore/crls/{id} (hkms trust crl delete) */
void
hkms_route_trust_crl_delete(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_trust_crl_delete(&c, req->params[0], &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "id", req->params[0], "deleted", 1) : NULL, &err);
}
