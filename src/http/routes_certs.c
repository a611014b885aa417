/*
 * Routes of certificates and their exports: /v1/certificates... Each is
 * the CLI verb of the same name (src/cli/cmd_cert.c) over the same
 * operation. An export is chosen by ?format= or, without it, by the
 * Accept header (docs/api.md, "Formats").
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "routes_int.h"

#define NEED_STORE HKMS_SERVICE_NEED_STORE
#define NEED_TOKEN (HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN)

static const struct {
	const char *format;	/* hkms_ops_cert_export's name */
	const char *media;	/* what the answer is, and the Accept that
				 * picks it */
	const char *ext;	/* attachment file name suffix */
} formats[] = {
	{ "pem", "application/x-pem-file", ".pem" },
	{ "der", "application/pkix-cert", ".cer" },
	{ "p7b-der", "application/pkcs7-mime", ".p7b" },
	{ "p12", "application/x-pkcs12", ".p12" },
	{ "p7b", "application/x-pem-file", ".p7b.pem" },
};

const char *
hkms_http_export_format(struct hkms_http_req *req)
{
	const char *f = hkms_http_query_get(req, "format");
	size_t i;

	if (f != NULL)
		return f;
	/* a client that takes JSON gets JSON */
	if (hkms_http_accepts(req, "application/json"))
		return NULL;
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (hkms_http_accepts(req, formats[i].media))
			return formats[i].format;
	return NULL;
}

void
hkms_http_export_reply(struct hkms_http_resp *resp, const char *name,
    const char *format, enum hkms_rc rc, unsigned char *data, size_t len,
    const struct hkms_err *err)
{
	const char *media = "application/octet-stream", *ext = "";
	size_t i;

	if (rc != HKMS_OK) {
		hkms_http_resp_error(resp, err, NULL);
		free(data);
		return;
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].format, format) == 0) {
			media = formats[i].media;
			ext = formats[i].ext;
		}
	hkms_http_resp_bytes(resp, 200, media, data, len);
	free(data);
	if (resp->status == 200)
		snprintf(resp->filename, sizeof(resp->filename), "%.100s%s",
		    name, ext);
}

/* GET /v1/certificates[?expiring_within=D] (hkms cert list) */
void
hkms_route_certs_list(struct hkms_http_req *req, struct hkms_http_resp *resp)
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
	rc = hkms_ops_cert_list(&c, (int)within, &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/certificates {name, key | new_key, subject, san, digest,
 * profile, days} (hkms cert self-sign) */
struct self_sign_body {
	struct hkms_body_head h;
	const char *name;
	const char *key;
	const char *new_key;
	const char *subject;
	char *san;
	const char *digest;
	const char *profile;
	int days;
	int basic_constraints;		/* issue 13b: extension switches */
	int aki;
	char *key_usage;
	char *extended_key_usage;
};

static const struct hkms_body_field self_sign_fields[] = {
	HKMS_BODY_F(struct self_sign_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct self_sign_body, key, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct self_sign_body, new_key, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct self_sign_body, subject, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct self_sign_body, san, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct self_sign_body, digest, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct self_sign_body, profile, HKMS_BODY_STRING, 0),
	HKMS_BODY_I(struct self_sign_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_F(struct self_sign_body, basic_constraints, HKMS_BODY_BOOL, 0),
	HKMS_BODY_F(struct self_sign_body, aki, HKMS_BODY_BOOL, 0),
	HKMS_BODY_F(struct self_sign_body, key_usage, HKMS_BODY_LIST, 0),
	HKMS_BODY_F(struct self_sign_body, extended_key_usage, HKMS_BODY_LIST,
	    0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_self_sign = { "cert.self_sign",
    self_sign_fields, sizeof(struct self_sign_body) };

void
hkms_route_certs_self_sign(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct hkms_ops_cert_req r;
	struct self_sign_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_self_sign, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.name = b.name;
	r.key = b.key;
	r.new_key = b.new_key;
	r.subject = b.subject;
	r.san = b.san;
	r.digest = b.digest;
	r.profile = b.profile;
	r.days = b.days;
	hkms_http_ext_choice(&b.h, b.basic_constraints, b.aki, b.key_usage,
	    b.extended_key_usage, &r.ext);
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_cert_self_sign(&c, &r, &out, &err);
		hkms_http_reply(resp, rc, 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_cert_self_sign, &b);
}

/* POST /v1/certificates/import {name, certificate, ca, key, profile,
 * passphrase, what_if, private_key, trust} (hkms cert import) */
struct cert_import_body {
	struct hkms_body_head h;
	const char *name;
	struct hkms_body_bytes certificate;
	struct hkms_body_bytes ca;
	const char *key;
	const char *profile;
	const char *passphrase;
	int what_if;
	int replace;		/* issue 13a */
	struct hkms_body_bytes private_key;	/* issue 13b */
	int trust;
};

static const struct hkms_body_field cert_import_fields[] = {
	HKMS_BODY_F(struct cert_import_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_F(struct cert_import_body, certificate, HKMS_BODY_BYTES, 1),
	HKMS_BODY_F(struct cert_import_body, ca, HKMS_BODY_BYTES, 0),
	HKMS_BODY_F(struct cert_import_body, key, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct cert_import_body, profile, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct cert_import_body, passphrase, HKMS_BODY_SECRET, 0),
	HKMS_BODY_F(struct cert_import_body, what_if, HKMS_BODY_BOOL, 0),
	HKMS_BODY_F(struct cert_import_body, replace, HKMS_BODY_BOOL, 0),
	/* issue 13b: the key in a field of its own; trust on import */
	HKMS_BODY_F(struct cert_import_body, private_key, HKMS_BODY_BYTES, 0),
	HKMS_BODY_F(struct cert_import_body, trust, HKMS_BODY_BOOL, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_import = { "cert.import",
    cert_import_fields, sizeof(struct cert_import_body) };

void
hkms_route_certs_import(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_ops_cert_import_req r;
	struct cert_import_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_import, &b) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.name = b.name;
	r.data = b.certificate.data;
	r.len = b.certificate.len;
	r.ca = b.ca.data;
	r.ca_len = b.ca.len;
	r.key = b.key;
	r.profile = b.profile;
	r.passphrase = b.passphrase;
	r.what_if = b.what_if;
	r.replace = b.replace;
	r.key_data = b.private_key.data;
	r.key_len = b.private_key.len;
	r.trust = b.trust;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_cert_import(&c, &r, &out, &err);
		if (rc == HKMS_OK && b.replace && !b.what_if &&
		    strcmp(b.name, HKMS_SERVICE_CERT) == 0)
			hkms_http_service_cert_reload(&c, out);
		hkms_http_reply(resp, rc, b.what_if ? 200 : 201, out, &err);
	}
	hkms_http_body_free(&hkms_body_cert_import, &b);
}

/* GET /v1/certificates/{name}[?format=...] (hkms cert show, or hkms cert
 * export without a passphrase) */
void
hkms_route_certs_show(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	const char *format = hkms_http_export_format(req);
	unsigned char *data = NULL;
	json_t *out = NULL;
	size_t len = 0;
	enum hkms_rc rc;

	if (format != NULL) {
		if (hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
			return;
		rc = hkms_ops_cert_export(&c, req->params[0], format, NULL,
		    &data, &len, &err);
		hkms_http_export_reply(resp, req->params[0], format, rc, data,
		    len, &err);
		return;
	}
	if (hkms_http_ctx(req, resp, NEED_STORE | HKMS_SERVICE_WANT_TOKEN,
	    &c) != 0)
		return;
	rc = hkms_ops_cert_show(&c, req->params[0], &out, &err);
	hkms_http_reply(resp, rc, 200, out, &err);
}

/* POST /v1/certificates/{name}/export {format, password} (hkms cert
 * export with a passphrase: a PKCS#12 encrypted with it) */
struct cert_export_body {
	struct hkms_body_head h;
	const char *format;
	const char *password;
};

static const struct hkms_body_field cert_export_fields[] = {
	HKMS_BODY_F(struct cert_export_body, format, HKMS_BODY_STRING, 0),
	HKMS_BODY_F(struct cert_export_body, password, HKMS_BODY_SECRET, 0),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_export = { "cert.export",
    cert_export_fields, sizeof(struct cert_export_body) };

void
hkms_route_certs_export(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct cert_export_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	unsigned char *data = NULL;
	const char *format;
	size_t len = 0;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_export, &b) != 0)
		return;
	format = b.format ? b.format : "pem";
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_cert_export(&c, req->params[0], format,
		    b.password, &data, &len, &err);
		hkms_http_export_reply(resp, req->params[0], format, rc, data,
		    len, &err);
	}
	hkms_http_body_free(&hkms_body_cert_export, &b);
}

/* PATCH /v1/certificates/{name} {name} (hkms cert rename) */
struct rename_body {
	struct hkms_body_head h;
	const char *name;
};

static const struct hkms_body_field rename_fields[] = {
	HKMS_BODY_F(struct rename_body, name, HKMS_BODY_STRING, 1),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_rename = { "cert.rename",
    rename_fields, sizeof(struct rename_body) };

void
hkms_route_certs_rename(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct rename_body b;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_rename, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_STORE, &c) == 0) {
		rc = hkms_ops_cert_rename(&c, req->params[0], b.name, &err);
		hkms_http_reply(resp, rc, 200, rc == HKMS_OK ?
		    json_pack("{s:s,s:s}", "from", req->params[0], "name",
		    b.name) : NULL, &err);
	}
	hkms_http_body_free(&hkms_body_cert_rename, &b);
}

/* DELETE /v1/certificates/{name}[?force=true] (hkms cert delete) */
void
hkms_route_certs_delete(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	enum hkms_rc rc;
	int force;

	if ((force = hkms_http_query_bool(req, resp, "force")) < 0 ||
	    hkms_http_ctx(req, resp, NEED_STORE, &c) != 0)
		return;
	rc = hkms_ops_cert_delete(&c, req->params[0], force, &err);
	hkms_http_reply(resp, rc, 200, rc == HKMS_OK ? json_pack("{s:s,s:b}",
	    "name", req->params[0], "deleted", 1) : NULL, &err);
}

/* POST /v1/certificates/{name}/renew {rekey, days} (hkms cert renew) */
struct renew_body {
	struct hkms_body_head h;
	int rekey;
	int days;
};

static const struct hkms_body_field renew_fields[] = {
	HKMS_BODY_F(struct renew_body, rekey, HKMS_BODY_BOOL, 0),
	HKMS_BODY_I(struct renew_body, days, 0, 0, HKMS_OPS_DAYS_MAX),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_renew = { "cert.renew",
    renew_fields, sizeof(struct renew_body) };

void
hkms_route_certs_renew(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct renew_body b;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_renew, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_cert_renew(&c, req->params[0], b.rekey, b.days,
		    &out, &err);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_cert_renew, &b);
}

/* POST /v1/certificates/{name}/restore {version} (hkms cert restore;
 * issue 13a) */
struct restore_body {
	struct hkms_body_head h;
	int version;
};

static const struct hkms_body_field restore_fields[] = {
	HKMS_BODY_I(struct restore_body, version, 0, 0, 1000000),
	HKMS_BODY_END
};

const struct hkms_body_schema hkms_body_cert_restore = { "cert.restore",
    restore_fields, sizeof(struct restore_body) };

void
hkms_route_certs_restore(struct hkms_http_req *req,
    struct hkms_http_resp *resp)
{
	struct restore_body b;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;
	enum hkms_rc rc;

	if (hkms_http_body(req, resp, &hkms_body_cert_restore, &b) != 0)
		return;
	if (hkms_http_ctx(req, resp, NEED_TOKEN, &c) == 0) {
		rc = hkms_ops_cert_restore(&c, req->params[0], b.version, &out,
		    &err);
		if (rc == HKMS_OK && strcmp(req->params[0],
		    HKMS_SERVICE_CERT) == 0)
			hkms_http_service_cert_reload(&c, out);
		hkms_http_reply(resp, rc, 200, out, &err);
	}
	hkms_http_body_free(&hkms_body_cert_restore, &b);
}
