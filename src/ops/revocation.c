/*
 * Revocation everywhere (issue 14a; docs/truststore.md "Revocation",
 * docs/ca.md "Revocation").
 *
 * A certificate an hkms CA issued is revoked when the CA's revocation
 * index (revoked/<ca>/<SERIAL>, the commit point of `ca revoke`) has its
 * serial: `cert show` and `cert list` (ops_rev_annotate), `trust verify`
 * (ops_rev_check_path) and the server's client authentication
 * (clients.c, check_revoked) all read that index, so a revocation takes
 * effect at once, without a CRL and without a restart. Certificates of
 * other CAs are checked in the CRLs imported into the truststore
 * (src/store/trust_crl.c). The truststore CRL operations and the CRL
 * re-signing the server runs before a CRL expires are here too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/ops.h"
#include "hkms/revocation.h"
#include "hkms/store.h"
#include "hkms/trust.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"
#include "revocation_int.h"

struct rev_ca {
	char name[65];
	X509 *cert;		/* a reference */
	char *subject;		/* hkms_certio_name_str */
	char ski[2 * 64 + 1];	/* hex, "" without one */
};

struct ops_rev_cas {
	struct rev_ca *v;
	size_t n;
};

void
ops_rev_cas_free(struct ops_rev_cas *cas)
{
	size_t i;

	if (cas == NULL)
		return;
	for (i = 0; i < cas->n; i++) {
		X509_free(cas->v[i].cert);
		free(cas->v[i].subject);
	}
	free(cas->v);
	free(cas);
}

enum hkms_rc
ops_rev_cas_load(struct hkms_ops_ctx *c, struct ops_rev_cas **out,
    struct hkms_err *err)
{
	struct ops_rev_cas *cas = NULL;
	struct ca *ca = NULL;
	struct hkms_err e;
	json_t *list = NULL, *it;
	enum hkms_rc rc;
	size_t i;

	*out = NULL;
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if ((rc = hkms_store_list_readable(c->store, CA_KIND, &list, NULL,
	    err)) != HKMS_OK)
		return rc;
	if ((cas = calloc(1, sizeof(*cas))) == NULL ||
	    (cas->v = calloc(json_array_size(list) + 1,
	    sizeof(*cas->v))) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));
		const char *type = json_string_value(json_object_get(it,
		    "type"));
		const ASN1_OCTET_STRING *ski;
		struct rev_ca *r = &cas->v[cas->n];

		if (name == NULL || type == NULL || strcmp(type, "ca") != 0 ||
		    ca_load(c, name, 1, &ca, &e) != HKMS_OK)
			continue;
		snprintf(r->name, sizeof(r->name), "%s", name);
		if (X509_up_ref(ca->cert))
			r->cert = ca->cert;
		r->subject = hkms_certio_name_str(X509_get_subject_name(
		    ca->cert));
		ski = X509_get0_subject_key_id(ca->cert);
		if (ski != NULL && ski->length > 0 && ski->length <= 64)
			hkms_hex(ski->data, (size_t)ski->length, 0, r->ski);
		ca_free(ca);
		ca = NULL;
		if (r->cert == NULL || r->subject == NULL) {
			X509_free(r->cert);
			free(r->subject);
			memset(r, 0, sizeof(*r));
			continue;
		}
		cas->n++;
	}
	*out = cas;
	cas = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	ops_rev_cas_free(cas);
	json_decref(list);
	return rc;
}

/* The revocation record of serial in CA name's index, or NULL. Fail
 * closed: a record that exists but does not read still revokes (its
 * reason and time then unknown). */
static json_t *
index_get(struct hkms_ops_ctx *c, const char *ca, const char *serial)
{
	struct hkms_err e;
	json_t *rv = NULL;
	char kind[80];

	snprintf(kind, sizeof(kind), "revoked/%s", ca);
	if (serial == NULL || !hkms_store_exists(c->store, kind, serial))
		return NULL;
	if (hkms_store_get(c->store, kind, serial, &rv, NULL, &e) != HKMS_OK)
		rv = json_pack("{s:s,s:n,s:b}", "reason", "unspecified",
		    "revoked_at", "damaged", 1);
	return rv;
}

void
ops_rev_annotate(struct hkms_ops_ctx *c, const struct ops_rev_cas *cas,
    json_t *o)
{
	const char *issuer = json_string_value(json_object_get(o, "issuer"));
	const char *aki = json_string_value(json_object_get(o,
	    "authority_key_id"));
	const char *serial = json_string_value(json_object_get(o, "serial"));
	json_t *rv;
	size_t i;

	if (c == NULL || cas == NULL || o == NULL || issuer == NULL ||
	    serial == NULL || json_is_true(json_object_get(o, "self_signed")))
		return;
	for (i = 0; i < cas->n; i++) {
		const struct rev_ca *r = &cas->v[i];

		if (strcmp(r->subject, issuer) != 0 || (aki != NULL &&
		    r->ski[0] != '\0' && strcasecmp(aki, r->ski) != 0))
			continue;
		if ((rv = index_get(c, r->name, serial)) == NULL)
			continue;
		json_object_set_new(o, "status", json_string("revoked"));
		json_object_set(o, "revoked_at", json_object_get(rv,
		    "revoked_at") ? json_object_get(rv, "revoked_at") :
		    json_null());
		json_object_set(o, "reason", json_object_get(rv, "reason") ?
		    json_object_get(rv, "reason") : json_null());
		json_object_set_new(o, "revoked_by", json_string(r->name));
		json_decref(rv);
		return;
	}
}

void
ops_rev_mark(struct hkms_ops_ctx *c, const struct ops_rev_cas *cas, json_t *o)
{
	struct ops_rev_cas *own = NULL;
	struct hkms_err e;

	if (cas == NULL && ops_rev_cas_load(c, &own, &e) == HKMS_OK)
		cas = own;
	ops_rev_annotate(c, cas, o);
	ops_rev_cas_free(own);
}

/* ---- trust verify ---------------------------------------------------- */

enum hkms_rc
ops_rev_mode_parse(const char *s, enum ops_rev_mode *hkms_mode,
    enum ops_rev_mode *other_mode, struct hkms_err *err)
{
	enum ops_rev_mode m;

	*hkms_mode = OPS_REV_REQUIRE;
	*other_mode = OPS_REV_PREFER;
	if (s == NULL || *s == '\0')
		return HKMS_OK;
	if (strcmp(s, "require") == 0)
		m = OPS_REV_REQUIRE;
	else if (strcmp(s, "prefer") == 0)
		m = OPS_REV_PREFER;
	else if (strcmp(s, "off") == 0)
		m = OPS_REV_OFF;
	else
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "revocation must be require, prefer or off, not '%.32s'",
		    s);
	*hkms_mode = *other_mode = m;
	return HKMS_OK;
}

static const char *
mode_name(enum ops_rev_mode m)
{
	return m == OPS_REV_REQUIRE ? "require" : m == OPS_REV_PREFER ?
	    "prefer" : "off";
}

/* The certificate of thumbprint tp among chain and the truststore. */
static X509 *
cert_of(STACK_OF(X509) *chain, const struct hkms_trust_snap *s,
    const char *tp)
{
	char t[HKMS_CERTIO_THUMB_SIZE];
	STACK_OF(X509) *certs = NULL;
	const char *alias;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (hkms_certio_thumbprint(sk_X509_value(chain, i), t, NULL) ==
		    HKMS_OK && strcmp(t, tp) == 0)
			return sk_X509_value(chain, i);
	if (s == NULL || (alias = hkms_trust_snap_find(s, tp)) == NULL ||
	    hkms_trust_snap_alias_certs(s, alias, &certs, NULL) != HKMS_OK)
		return NULL;
	for (i = 0; i < sk_X509_num(certs); i++)
		if (hkms_certio_thumbprint(sk_X509_value(certs, i), t, NULL) ==
		    HKMS_OK && strcmp(t, tp) == 0)
			return sk_X509_value(certs, i);
	return NULL;
}

/* The hkms CA whose certificate is issuer (same subject and key). */
static const struct rev_ca *
hkms_ca_of(const struct ops_rev_cas *cas, X509 *issuer)
{
	size_t i;

	for (i = 0; cas != NULL && i < cas->n; i++)
		if (X509_NAME_cmp(X509_get_subject_name(cas->v[i].cert),
		    X509_get_subject_name(issuer)) == 0 &&
		    EVP_PKEY_eq(X509_get0_pubkey(cas->v[i].cert),
		    X509_get0_pubkey(issuer)) == 1)
			return &cas->v[i];
	ERR_clear_error();
	return NULL;
}

/* The revocation status of x (issued by issuer) as a new object. */
static json_t *
status_of(struct hkms_ops_ctx *c, struct hkms_trust *tr,
    const struct ops_rev_cas *cas, X509 *x, X509 *issuer,
    enum ops_rev_mode hm, enum ops_rev_mode om, int64_t at)
{
	char serial[HKMS_X509_SERIAL_HEX_MAX] = "", when[32];
	const struct rev_ca *ca = hkms_ca_of(cas, issuer);
	struct hkms_err e;
	X509_CRL *crl = NULL;
	json_t *o, *rv, *meta = NULL;
	const char *reason = NULL;
	int64_t t = 0;

	if (hkms_x509_serial_to_hex(X509_get0_serialNumber(x), serial, &e) !=
	    HKMS_OK)
		ERR_clear_error();
	if (ca != NULL) {
		if (hm == OPS_REV_OFF)
			return json_pack("{s:s,s:s,s:s}", "status",
			    "not_checked", "source", "index", "ca", ca->name);
		o = json_pack("{s:s,s:s,s:s,s:s}", "status", "good", "source",
		    "index", "ca", ca->name, "serial", serial);
		if ((rv = index_get(c, ca->name, serial)) != NULL) {
			json_object_set_new(o, "status", json_string(
			    "revoked"));
			json_object_set(o, "reason", json_object_get(rv,
			    "reason"));
			json_object_set(o, "revoked_at", json_object_get(rv,
			    "revoked_at"));
			json_decref(rv);
		}
		return o;
	}
	if (om == OPS_REV_OFF)
		return json_pack("{s:s,s:s}", "status", "not_checked",
		    "source", "crl");
	if (hkms_trust_crl_find(tr, issuer, &crl, &meta, &e) != HKMS_OK)
		return json_pack("{s:s,s:s,s:s,s:s}", "status", "unknown",
		    "source", "crl", "serial", serial, "why", "no crl of the "
		    "issuing CA in the truststore");
	o = json_pack("{s:s,s:s,s:O,s:O,s:O,s:s}", "status", "good", "source",
	    "crl", "crl", json_object_get(meta, "id"), "crl_number",
	    json_object_get(meta, "number") ? json_object_get(meta, "number") :
	    json_null(), "next_update", json_object_get(meta, "next_update") ?
	    json_object_get(meta, "next_update") : json_null(), "serial",
	    serial);
	if (hkms_x509_crl_lists(crl, X509_get0_serialNumber(x), &t, &reason)) {
		json_object_set_new(o, "status", json_string("revoked"));
		json_object_set_new(o, "reason", json_string(reason));
		json_object_set_new(o, "revoked_at", json_string(
		    hkms_time_str(t, when)));
	} else if (hkms_x509_crl_next_update(crl) < at) {
		/* a stale CRL tells nothing about now */
		json_object_set_new(o, "status", json_string("unknown"));
		json_object_set_new(o, "why", json_string("the crl of the "
		    "issuing CA has expired (nextUpdate passed)"));
	}
	X509_CRL_free(crl);
	json_decref(meta);
	return o;
}

/* Turn res into the failure of element el at depth d. */
static void
rev_fail(json_t *res, json_t *el, size_t d, const char *code,
    const char *msg, struct hkms_err *err)
{
	json_t *e = json_object();

	json_object_set_new(e, "code", json_string(code));
	json_object_set_new(e, "message", json_string(msg));
	json_object_set_new(e, "depth", json_integer((json_int_t)d));
	json_object_set(e, "subject", json_object_get(el, "subject"));
	json_object_set(e, "revocation", json_object_get(el, "revocation"));
	json_object_set_new(res, "error", e);
	json_object_set_new(res, "ok", json_false());
	json_object_del(res, "trusted_by");
	hkms_err_setc(err, HKMS_E_VERIFY, code, "%s", msg);
}

/* The message for a revoked or unknown element. */
static void
describe(json_t *el, json_t *st, char *msg, size_t size)
{
	const char *subj = json_string_value(json_object_get(el, "subject"));
	const char *status = json_string_value(json_object_get(st, "status"));
	const char *src = json_string_value(json_object_get(st, "source"));
	char where[200];

	if (strcmp(src, "index") == 0)
		snprintf(where, sizeof(where), "the revocation index of CA "
		    "'%s'", json_string_value(json_object_get(st, "ca")));
	else if (json_is_string(json_object_get(st, "crl")))
		snprintf(where, sizeof(where), "truststore crl %s (number "
		    "%s)", json_string_value(json_object_get(st, "crl")),
		    json_string_value(json_object_get(st, "crl_number")) ?
		    json_string_value(json_object_get(st, "crl_number")) :
		    "none");
	else
		snprintf(where, sizeof(where), "the truststore crls");
	if (strcmp(status, "revoked") == 0)
		snprintf(msg, size, "certificate %s (%s) was revoked at %s "
		    "(%s), according to %s", json_string_value(
		    json_object_get(st, "serial")), subj ? subj : "?",
		    json_string_value(json_object_get(st, "revoked_at")) ?
		    json_string_value(json_object_get(st, "revoked_at")) : "?",
		    json_string_value(json_object_get(st, "reason")) ?
		    json_string_value(json_object_get(st, "reason")) :
		    "unspecified", where);
	else
		snprintf(msg, size, "revocation status of certificate %s "
		    "(%s) is unknown: %s", json_string_value(json_object_get(
		    st, "serial")) ? json_string_value(json_object_get(st,
		    "serial")) : "?", subj ? subj : "?", json_string_value(
		    json_object_get(st, "why")) ? json_string_value(
		    json_object_get(st, "why")) : "no crl");
}

enum hkms_rc
ops_rev_check_path(struct hkms_ops_ctx *c, struct hkms_trust *tr,
    STACK_OF(X509) *chain, enum ops_rev_mode hm, enum ops_rev_mode om,
    int64_t at, json_t *res, struct hkms_err *err)
{
	json_t *path = json_object_get(res, "path"), *warn = NULL, *el, *st;
	struct ops_rev_cas *cas = NULL;
	struct hkms_trust_snap *s = NULL;
	enum hkms_rc rc;
	size_t i, n = json_array_size(path);
	char msg[512];
	X509 *x, *iss;

	if (at == 0)
		at = (int64_t)time(NULL);
	if ((warn = json_array()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_object_set_new(res, "revocation", json_pack("{s:s,s:s,s:O}",
	    "hkms_cas", mode_name(hm), "other_cas", mode_name(om),
	    "warnings", warn));
	if ((rc = ops_rev_cas_load(c, &cas, err)) != HKMS_OK ||
	    (rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		goto out;
	for (i = 0; i < n; i++) {
		el = json_array_get(path, i);
		if (i + 1 == n) {
			json_object_set_new(el, "revocation", json_pack(
			    "{s:s,s:s}", "status", "not_checked", "why",
			    "trust anchor"));
			break;
		}
		x = cert_of(chain, s, json_string_value(json_object_get(el,
		    "thumbprint")));
		iss = cert_of(chain, s, json_string_value(json_object_get(
		    json_array_get(path, i + 1), "thumbprint")));
		if (x == NULL || iss == NULL)
			st = json_pack("{s:s,s:s,s:s}", "status", "unknown",
			    "source", "crl", "why", "certificate of the path "
			    "not found");
		else
			st = status_of(c, tr, cas, x, iss, hm, om, at);
		if (st == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		json_object_set_new(el, "revocation", st);
		if (strcmp(json_string_value(json_object_get(st, "status")),
		    "revoked") == 0) {
			describe(el, st, msg, sizeof(msg));
			rev_fail(res, el, i, "certificate_revoked", msg, err);
			rc = HKMS_E_VERIFY;
			goto out;
		}
		if (strcmp(json_string_value(json_object_get(st, "status")),
		    "unknown") == 0) {
			int is_index = strcmp(json_string_value(
			    json_object_get(st, "source")), "index") == 0;

			describe(el, st, msg, sizeof(msg));
			if ((is_index ? hm : om) == OPS_REV_REQUIRE) {
				rev_fail(res, el, i, "revocation_unknown", msg,
				    err);
				rc = HKMS_E_VERIFY;
				goto out;
			}
			json_array_append_new(warn, json_string(msg));
		}
	}
	rc = HKMS_OK;
out:
	ops_rev_cas_free(cas);
	hkms_trust_snap_free(s);
	json_decref(warn);
	return rc;
}

/* ---- truststore CRLs ------------------------------------------------- */

enum hkms_rc
hkms_ops_trust_crl_import(struct hkms_ops_ctx *c, const unsigned char *data,
    size_t len, json_t **out, struct hkms_err *err)
{
	struct hkms_trust *tr = NULL;
	json_t *res = NULL, *d = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "trust.crl_import", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (data == NULL || len == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "crl is required");
		goto out;
	}
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK)
		goto out;
	/* the data lock around the write-ahead line and the record (the
	 * truststore takes it again, recursively) */
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	d = json_pack("{s:I}", "bytes", (json_int_t)len);
	if ((rc = hkms_ops_audit_ahead(c, "trust.crl_import", "crl", d,
	    err)) == HKMS_OK)
		rc = hkms_trust_crl_import(tr, data, len, 0, &res, err);
	hkms_store_end(c->store);
	if (rc == HKMS_OK) {
		json_object_set(d, "id", json_object_get(res, "id"));
		json_object_set(d, "number", json_object_get(json_object_get(
		    res, "crl"), "number"));
		*out = res;
		res = NULL;	/* transferred */
	}
out:
	rc = hkms_ops_audit(c, "trust.crl_import", res ? json_string_value(
	    json_object_get(res, "id")) : "crl", rc, err, d);
	json_decref(d);
	json_decref(res);
	return rc;
}

enum hkms_rc
hkms_ops_trust_crl_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	struct hkms_trust *tr = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "trust.crl_list", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK)
		return rc;
	return hkms_trust_crl_list(tr, 0, out, err);
}

enum hkms_rc
hkms_ops_trust_crl_delete(struct hkms_ops_ctx *c, const char *id,
    struct hkms_err *err)
{
	struct hkms_trust *tr = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "trust.crl_delete", NULL, NULL, err);
	if ((rc = hkms_ops_trust_handle(c, &tr, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_audit_ahead(c, "trust.crl_delete", id ? id : "",
	    NULL, err)) == HKMS_OK)
		rc = hkms_trust_crl_delete(tr, id, err);
	hkms_store_end(c->store);
out:
	return hkms_ops_audit(c, "trust.crl_delete", id ? id : "", rc, err,
	    NULL);
}

/* ---- re-signing CRLs before they expire ------------------------------ */

enum hkms_rc
hkms_ops_ca_crl_refresh(struct hkms_ops_ctx *c, int64_t before, int days,
    int64_t now, json_t **out, struct hkms_err *err)
{
	json_t *list = NULL, *done = NULL, *it, *meta, *r;
	enum hkms_rc rc;
	struct hkms_err e;
	char kind[80];
	size_t i;
	int64_t nu, tu;
	int d;

	OPS_AUTHORIZE(c, "ca.crl", NULL, NULL, err);
	if (out == NULL || before <= 0)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = hkms_store_list_readable(c->store, CA_KIND, &list, NULL,
	    err)) != HKMS_OK)
		return rc;
	done = json_array();
	json_array_foreach(list, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));

		if (name == NULL || json_string_value(json_object_get(it,
		    "type")) == NULL || strcmp(json_string_value(
		    json_object_get(it, "type")), "ca") != 0)
			continue;
		snprintf(kind, sizeof(kind), "crl/%s", name);
		meta = NULL;
		/* only CAs that publish a CRL: the first one is the
		 * operator's decision */
		if (hkms_store_get(c->store, kind, "current", &meta, NULL,
		    &e) != HKMS_OK)
			continue;
		nu = ca_parse_time(json_string_value(json_object_get(meta,
		    "next_update")));
		tu = ca_parse_time(json_string_value(json_object_get(meta,
		    "this_update")));
		json_decref(meta);
		if (nu <= 0 || nu - now > before)
			continue;
		/* the same lifetime as the CRL it replaces, unless set */
		d = days > 0 ? days : tu > 0 && nu > tu ?
		    (int)((nu - tu + CA_DAY - 1) / CA_DAY) : 0;
		/* a CRL that lives no longer than the window would be signed
		 * again at every check: it outlives the window by a day */
		if ((int64_t)d * CA_DAY <= before)
			d = (int)((before + CA_DAY - 1) / CA_DAY) + 1;
		if (d > HKMS_OPS_CRL_DAYS_MAX)
			d = HKMS_OPS_CRL_DAYS_MAX;
		r = NULL;
		if (hkms_ops_ca_crl(c, name, d, &r, &e) == HKMS_OK)
			json_array_append_new(done, json_pack("{s:s,s:O,s:O}",
			    "ca", name, "number", json_object_get(r, "number"),
			    "next_update", json_object_get(r, "next_update")));
		else
			json_array_append_new(done, json_pack("{s:s,s:s,s:s}",
			    "ca", name, "error", hkms_err_code(&e), "message",
			    e.detail));
		json_decref(r);
	}
	json_decref(list);
	*out = done;
	return HKMS_OK;
}
