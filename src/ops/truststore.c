/*
 * Truststore operations (include/hkms/ops.h, "truststore" block): what
 * `hkms trust ...` and the /v1/truststore routes both call. Input files
 * are parsed here (certio), the truststore library does the records,
 * journal and verification, and every change is audited here.
 *
 * The truststore handle belongs to the service (hkms_service_trust), so a
 * long-running server shares snapshots between requests and only reloads
 * them when another process (or the CLI) changed something.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/trust.h"
#include "ops_int.h"
#include "revocation_int.h"

enum hkms_rc
hkms_ops_trust_handle(struct hkms_ops_ctx *c, struct hkms_trust **out,
    struct hkms_err *err)
{
	if (c == NULL || c->service == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "truststore: no "
		    "service");
	return hkms_service_trust(c->service, out, err);
}

/* Parse what a client sent as certificates. */
static enum hkms_rc
parse_input(const unsigned char *data, size_t len, const char *password,
    STACK_OF(X509) **certs, struct hkms_certio_info *info,
    struct hkms_err *err)
{
	if (data == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no certificate given");
	return hkms_certio_parse(data, len, password, certs, info, err);
}

/* Take the data lock and write the write-ahead line of a truststore
 * change; on success the caller makes the change and then calls
 * hkms_store_end(). A change that then fails is closed by an "aborts"
 * line (hkms_ops_audit). */
static enum hkms_rc
trust_ahead(struct hkms_ops_ctx *c, const char *op, const char *alias,
    json_t *detail, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_ops_audit_ahead(c, op, alias, detail, err)) != HKMS_OK)
		hkms_store_end(c->store);
	return rc;
}

enum hkms_rc
hkms_ops_trust_import(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_import_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	struct hkms_certio_info info = { HKMS_CERTIO_FMT_UNKNOWN, 0 };
	STACK_OF(X509) *certs = NULL;
	json_t *res = NULL, *detail;
	const char *alias = req ? req->alias : NULL;

	OPS_AUTHORIZE(c, "trust.import", NULL, NULL, err);
	detail = json_object();	/* after the check: a refusal returns */
	if (req == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no request");
		goto out;
	}
	/* check the alias before the input: a bad alias is the first error */
	if (!hkms_trust_alias_valid(alias)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_alias",
		    "invalid alias '%s': use 1 to 64 of A-Z a-z 0-9 . _ -, "
		    "not starting with '.' or '-', without '..'",
		    alias ? alias : "");
		goto out;
	}
	if ((rc = parse_input(req->data, req->len, req->password, &certs,
	    &info, err)) != HKMS_OK)
		goto out;
	json_object_set_new(detail, "format",
	    json_string(hkms_certio_format_name(info.format)));
	json_object_set_new(detail, "certificates",
	    json_integer(sk_X509_num(certs)));
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = trust_ahead(c, "trust.import", alias, detail, err)) !=
	    HKMS_OK)
		goto out;
	rc = hkms_trust_import(tr, alias, certs,
	    hkms_certio_format_name(info.format), &res, err);
	hkms_store_end(c->store);
	if (rc != HKMS_OK)
		goto out;
	json_object_set_new(res, "format",
	    json_string(hkms_certio_format_name(info.format)));
	json_object_set_new(res, "private_key_ignored",
	    json_boolean(info.has_private_key));
	json_object_set(detail, "imported", json_object_get(res, "imported"));
	*out = res;
	res = NULL;	/* transferred */
out:
	if (c != NULL)
		rc = hkms_ops_audit(c, "trust.import", alias, rc, err, detail);
	json_decref(detail);
	json_decref(res);
	hkms_certio_chain_free(certs);
	return rc;
}

enum hkms_rc
hkms_ops_trust_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	struct hkms_trust_snap *s = NULL;

	OPS_AUTHORIZE(c, "trust.list", NULL, NULL, err);
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		return rc;
	rc = hkms_trust_snap_list(s, 0, out, err);
	hkms_trust_snap_free(s);
	return rc;
}

enum hkms_rc
hkms_ops_trust_show(struct hkms_ops_ctx *c, const char *alias, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	struct hkms_trust_snap *s = NULL;
	char ref[HKMS_OPS_REF_SIZE];

	OPS_AUTHORIZE(c, "trust.show", NULL, NULL, err);
	if ((rc = ops_trust_ref(c, &alias, ref, err)) != HKMS_OK ||
	    (rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		return rc;
	rc = hkms_trust_snap_show(s, alias, 0, out, err);
	hkms_trust_snap_free(s);
	return rc;
}

enum hkms_rc
hkms_ops_trust_export(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_export_req *req, unsigned char **data,
    size_t *len, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_certio_format fmt = HKMS_CERTIO_FMT_PEM;
	struct hkms_trust *tr = NULL;
	struct hkms_trust_snap *s = NULL;
	STACK_OF(X509) *certs = NULL;
	const char *alias = req ? req->alias : NULL;
	char ref[HKMS_OPS_REF_SIZE];

	OPS_AUTHORIZE(c, "trust.export", NULL, NULL, err);
	if (req == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no request");
	if ((rc = ops_trust_ref(c, &alias, ref, err)) != HKMS_OK)
		return rc;
	if (req->format != NULL &&
	    (rc = hkms_certio_format_parse(req->format, &fmt, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_trust_snap_alias_certs(s, alias, &certs, err)) ==
	    HKMS_OK) {
		if (fmt == HKMS_CERTIO_FMT_P12)
			rc = hkms_certio_encode_p12(certs, req->password,
			    alias, data, len, err);
		else
			rc = hkms_certio_encode(certs, fmt, NULL, data, len,
			    err);
	}
	hkms_trust_snap_free(s);
	return rc;
}

enum hkms_rc
hkms_ops_trust_delete(struct hkms_ops_ctx *c, const char *alias,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	char ref[HKMS_OPS_REF_SIZE];

	OPS_AUTHORIZE(c, "trust.delete", NULL, NULL, err);
	if ((rc = ops_trust_ref(c, &alias, ref, err)) != HKMS_OK)
		return hkms_ops_audit(c, "trust.delete", alias, rc, err, NULL);
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) == HKMS_OK &&
	    (rc = trust_ahead(c, "trust.delete", alias, NULL, err)) ==
	    HKMS_OK) {
		rc = hkms_trust_delete(tr, alias, err);
		hkms_store_end(c->store);
	}
	if (c != NULL)
		rc = hkms_ops_audit(c, "trust.delete", alias, rc, err, NULL);
	return rc;
}

enum hkms_rc
hkms_ops_trust_pin(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_pin_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	STACK_OF(X509) *certs = NULL;
	json_t *res = NULL, *d;
	const char *alias = req ? req->alias : NULL;

	OPS_AUTHORIZE(c, "trust.pin", NULL, NULL, err);
	if (req == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no request");
		goto out;
	}
	if (!hkms_trust_alias_valid(alias)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_alias",
		    "invalid alias '%s'", alias ? alias : "");
		goto out;
	}
	if ((rc = parse_input(req->data, req->len, NULL, &certs, NULL, err)) !=
	    HKMS_OK ||
	    (rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK)
		goto out;
	d = json_pack("{s:b}", "force", req->force);
	rc = trust_ahead(c, "trust.pin", alias, d, err);
	json_decref(d);
	if (rc != HKMS_OK)
		goto out;
	rc = hkms_trust_pin(tr, alias, certs, req->force, &res, err);
	hkms_store_end(c->store);
	if (rc != HKMS_OK)
		goto out;
	*out = json_incref(res);
out:
	if (c != NULL)
		rc = hkms_ops_audit(c, "trust.pin", alias, rc, err, res);
	json_decref(res);
	hkms_certio_chain_free(certs);
	return rc;
}

enum hkms_rc
hkms_ops_trust_verify(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_verify_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_certio_verify_opts o = { 0 };
	struct hkms_trust *tr = NULL;
	STACK_OF(X509) *chain = NULL;
	enum ops_rev_mode rev_hkms, rev_other;
	json_t *res = NULL;

	OPS_AUTHORIZE(c, "trust.verify", NULL, NULL, err);
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no request");
	if ((rc = hkms_certio_purpose_parse(req->purpose, &o.purpose, err)) !=
	    HKMS_OK)
		return rc;
	if (req->at < 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_time",
		    "verification time must be a Unix time >= 0");
	o.host = req->host;
	o.at_time = req->at;
	if ((rc = hkms_certio_profile_parse(req->profile, o.purpose,
	    &o.profile, err)) != HKMS_OK)
		return rc;
	if (req->max_depth < 0 || req->max_depth > 32)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_max_depth",
		    "max_depth must be between 1 and 32");
	o.max_depth = req->max_depth;
	if ((rc = ops_rev_mode_parse(req->revocation, &rev_hkms, &rev_other,
	    err)) != HKMS_OK)
		return rc;
	if ((rc = parse_input(req->chain, req->len, req->password, &chain,
	    NULL, err)) != HKMS_OK ||
	    (rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK)
		goto out;
	rc = hkms_trust_verify(tr, chain, &o, &res, err);
	if (rc != HKMS_OK && rc != HKMS_E_VERIFY)
		goto out;
	/* revocation of every certificate of the path built (issue 14a) */
	if (rc == HKMS_OK && (rc = ops_rev_check_path(c, tr, chain, rev_hkms,
	    rev_other, req->at, res, err)) != HKMS_OK &&
	    rc != HKMS_E_VERIFY)
		goto out;
	/* a pinned peer that changed its certificate is a security event */
	if (json_object_get(res, "pin") != NULL)
		rc = hkms_ops_audit(c, "trust.verify", json_string_value(
		    json_object_get(json_object_get(res, "pin"), "alias")), rc,
		    err, json_object_get(res, "pin"));
	*out = res;
	res = NULL;	/* transferred */
out:
	json_decref(res);
	hkms_certio_chain_free(chain);
	return rc;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum hkms_rc
hkms_ops_trust_watch(struct hkms_ops_ctx *c, int timeout_ms,
    int (*emit)(json_t *event, void *arg), void *arg, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_trust *tr = NULL;
	struct hkms_trust_watch *w = NULL;
	struct timespec ts;
	json_t *ev = NULL;
	int64_t deadline = -1, left;
	size_t i;
	int stop = 0;

	OPS_AUTHORIZE(c, "trust.watch", NULL, NULL, err);
	if (emit == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no event callback");
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK ||
	    (rc = hkms_trust_watch_open(tr, &w, err)) != HKMS_OK)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (timeout_ms >= 0)
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
		    timeout_ms;
	while (!stop) {
		left = -1;
		if (deadline >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			left = deadline - ((int64_t)ts.tv_sec * 1000 +
			    ts.tv_nsec / 1000000);
			if (left <= 0)
				break;
		}
		if ((rc = hkms_trust_watch_next(w, left < 0 ? -1 : (int)left,
		    &ev, err)) != HKMS_OK)
			break;
		for (i = 0; i < json_array_size(ev) && !stop; i++) {
			json_t *e = json_array_get(ev, i);

			json_object_set_new(e, "seen_ms",
			    json_integer(wall_ms()));
			stop = emit(e, arg);
		}
		json_decref(ev);
		ev = NULL;
	}
	hkms_trust_watch_close(w);
	return rc;
}
