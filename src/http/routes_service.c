/*
 * The service certificate routes (/v1/service/certificate...): issue 13.
 * Each is the `hkms service-cert` verb of the same name (src/cli/
 * cmd_service.c) over the same operation (src/ops/service_cert.c); all
 * are admin-only (service.cert_*). A route that changes the certificate
 * reloads the TLS credentials before it answers: the next connection is
 * served the new certificate, connections in flight keep theirs.
 */
#include <stdio.h>
#include <string.h>

#include "hkms/log.h"
#include "routes_int.h"
#include "server_int.h"

#define NEED_STORE HKMS_SERVICE_NEED_STORE
#define NEED_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)

/* Serve the record as it is now; a failure to load is logged and said in
 * the answer (the change itself is committed). */
void
hkms_http_service_cert_reload(struct hkms_ops_ctx *c, json_t *out)
{
	struct hkms_err e = { 0 };
	int changed = 0;

	if (c->service == NULL || out == NULL)
		return;
	if (srv_tls_load(c->service, &changed, &e) != HKMS_OK) {
		hkms_log_err(hkms_service_log(c->service), HKMS_LOG_ERROR,
		    "server.certificate", &e, NULL);
		json_object_set_new(out, "served", json_false());
		json_object_set_new(out, "serve_error", json_string(e.detail));
		return;
	}
	json_object_set_new(out, "served", json_true());
}

/* GET /v1/service/certificate (hkms service-cert get) */
static void
route_get(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE | HKMS_SERVICE_WANT_TOKEN,
	    &c) != 0)
		return;
	rc = hkms_ops_service_cert_get(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* GET /v1/service/certificate/status (hkms service-cert status) */
static void
route_status(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_service_cert_status(&c, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/service/certificate/csr {common_name, organization,
 * organization_unit, country, state, locality, alternative_names} */
struct csr_body {
	struct hkms_body_head h;
	const char *common_name;
	const char *organization;
	const char *organization_unit;
	const char *country;
	const char *state;
	const char *locality;
	char *alternative_names;
};

static const struct hkms_body_field csr_fields[] = {
	HKMS_BODY_F(struct csr_body, common_name, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, organization, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, organization_unit, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, country, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, state, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, locality, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct csr_body, alternative_names, HKMS_BODY_LIST, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_service_csr = { "service.cert_csr",
    csr_fields, sizeof(struct csr_body) };

static void
route_csr(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_service_csr_req r;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct csr_body b;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_service_csr, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.common_name = b.common_name;
	r.organization = b.organization;
	r.organization_unit = b.organization_unit;
	r.country = b.country;
	r.state = b.state;
	r.locality = b.locality;
	r.alternative_names = b.alternative_names;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_service_cert_csr(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_service_csr, &b);
}

/* POST /v1/service/certificate/apply {ca, certificate, what_if} */
struct apply_body {
	struct hkms_body_head h;
	struct hkms_body_bytes ca;
	struct hkms_body_bytes certificate;
	int what_if;
};

static const struct hkms_body_field apply_fields[] = {
	HKMS_BODY_F(struct apply_body, ca, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct apply_body, certificate, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct apply_body, what_if, HKMS_BODY_BOOL, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_service_apply = {
    "service.cert_apply", apply_fields, sizeof(struct apply_body) };

static void
route_apply(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct apply_body b;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_service_apply, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_service_cert_apply(&c, b.certificate.data,
		    b.certificate.len, b.ca.data, b.ca.len, b.what_if, &out,
		    &err);
		if (rc == HKMS_OK && !b.what_if)
			hkms_http_service_cert_reload(&c, out);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_service_apply, &b);
}

/* POST /v1/service/certificate/self-signed {rekey} */
struct self_signed_body {
	struct hkms_body_head h;
	int rekey;
};

static const struct hkms_body_field self_signed_fields[] = {
	HKMS_BODY_F(struct self_signed_body, rekey, HKMS_BODY_BOOL, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_service_self_signed = {
    "service.cert_self_sign", self_signed_fields,
    sizeof(struct self_signed_body) };

static void
route_self_signed(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct self_signed_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_service_self_signed, &b) !=
	    0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_service_cert_self_signed(&c, b.rekey, &out,
		    &err);
		if (rc == HKMS_OK)
			hkms_http_service_cert_reload(&c, out);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_service_self_signed, &b);
}

/* POST /v1/service/certificate/trust {} (hkms service-cert trust) */
static const struct hkms_body_field trust_fields[] = { HKMS_BODY_END };

struct trust_body {
	struct hkms_body_head h;
};

const struct hkms_body_schema hkms_body_service_trust = {
    "service.cert_trust", trust_fields, sizeof(struct trust_body) };

static void
route_trust(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct trust_body b;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_service_trust, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_service_cert_trust(&c, &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_service_trust, &b);
}

#define T HKMS_ROUTE_TOKEN

const struct hkms_http_route hkms_http_routes_service[] = {
	{ "GET", "/v1/service/certificate", 0, "admin", route_get },
	{ "GET", "/v1/service/certificate/status", 0, "admin",
	    route_status },
	{ "POST", "/v1/service/certificate/csr", T, "admin", route_csr },
	{ "POST", "/v1/service/certificate/apply", T, "admin", route_apply },
	{ "POST", "/v1/service/certificate/self-signed", T, "admin",
	    route_self_signed },
	{ "POST", "/v1/service/certificate/trust", 0, "admin", route_trust },
	{ NULL, NULL, 0, NULL, NULL }
};

#undef T
