/*
 * Routes of tokens, keys and CSRs: GET /v1/tokens, /v1/keys..., POST
 * /v1/csrs. Each is the CLI verb of the same name (src/cli/cmd_key.c,
 * cmd_csr.c, cmd_token.c) over the same operation.
 */
#include <string.h>

#include "routes_int.h"

#define NEED_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)

/* GET /v1/tokens (hkms token list) */
void
hkms_route_tokens_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, 0, &c) != 0)
		return;
	rc = hkms_ops_token_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/keys (hkms key list) */
void
hkms_route_keys_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) != 0)
		return;
	rc = hkms_ops_key_list(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/keys {name, type} (hkms key generate) */
struct key_generate_body {
	struct hkms_body_head h;
	const char *name;
	const char *type;
};

static const struct hkms_body_field key_generate_fields[] = {
	HKMS_BODY_F(struct key_generate_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct key_generate_body, type, HKMS_BODY_STRING, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_key_generate = { "key.generate",
    key_generate_fields, sizeof(struct key_generate_body) };

void
hkms_route_keys_generate(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct key_generate_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_key_generate, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_key_generate(&c, b.name, b.type, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_key_generate, &b);
}

/* POST /v1/keys/import {name, key, passphrase} (hkms key import) */
struct key_import_body {
	struct hkms_body_head h;
	const char *name;
	struct hkms_body_bytes key;
	const char *passphrase;
};

static const struct hkms_body_field key_import_fields[] = {
	HKMS_BODY_F(struct key_import_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct key_import_body, key, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct key_import_body, passphrase, HKMS_BODY_SECRET, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_key_import = { "key.import",
    key_import_fields, sizeof(struct key_import_body) };

void
hkms_route_keys_import(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct key_import_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_key_import, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_key_import(&c, b.name, b.key.data, b.key.len,
		    b.passphrase, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_key_import, &b);
}

/* GET /v1/keys/{name} (hkms key show) */
void
hkms_route_keys_show(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) != 0)
		return;
	rc = hkms_ops_key_show(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* DELETE /v1/keys/{name}[?force=true] (hkms key delete) */
void
hkms_route_keys_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;
	int force;

	if ((force = hkms_http_query_bool(req, resp, "force")) < 0 ||
	    hkms_http_ctx(req, resp, NEED_TOKEN, &c) != 0)
		return;
	rc = hkms_ops_key_delete(&c, req->params[0], force, &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "name", req->params[0], "deleted", 1) : NULL, &err);
}

/* POST /v1/csrs {name, key | new_key, subject, san, digest} (hkms csr
 * create) */
struct csr_body {
	struct hkms_body_head h;
	const char *name;
	const char *key;
	const char *new_key;
	const char *subject;
	char *san;
	const char *digest;
};

static const struct hkms_body_field csr_fields[] = {
	HKMS_BODY_F(struct csr_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct csr_body, key, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, new_key, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, subject, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct csr_body, san, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct csr_body, digest, HKMS_BODY_STRING, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_csr_create = { "csr.create",
    csr_fields, sizeof(struct csr_body) };

void
hkms_route_csrs_create(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_cert_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct csr_body b;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_csr_create, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.name = b.name;
	r.key = b.key;
	r.new_key = b.new_key;
	r.subject = b.subject;
	r.san = b.san;
	r.digest = b.digest;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_csr_create(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_csr_create, &b);
}

/* POST /v1/csrs/verify {csr} (hkms csr verify) */
struct csr_verify_body {
	struct hkms_body_head h;
	struct hkms_body_bytes csr;
};

static const struct hkms_body_field csr_verify_fields[] = {
	HKMS_BODY_F(struct csr_verify_body, csr, HKMS_BODY_BYTES, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_csr_verify = { "csr.verify",
    csr_verify_fields, sizeof(struct csr_verify_body) };

void
hkms_route_csrs_verify(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct csr_verify_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_csr_verify, &b) != 0)
		return;
	/* like the CLI: no store, no token (the context carries who asks) */
	if (hkms_http_ctx(req, resp, 0, &c) == 0) {
		rc = hkms_ops_csr_verify(&c, b.csr.data, b.csr.len, &out,
		    &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_csr_verify, &b);
}
