/*
 * Certificate authorities: create (root, intermediate under an hkms CA, or
 * a key + CSR for an external parent), apply the external certificate,
 * list, show and the per-CA signing policy. Issuing lives in ca_issue.c,
 * revocation and CRLs in ca_revoke.c, the policy rules in ca_policy.c.
 *
 * A CA is a record of kind "cas" (meta "type" "ca" or "ca-pending", "key"
 * its token key) whose PEM is its certificate followed by the chain up to
 * the root, so the certificate verbs read it as they read any certificate
 * record. The CA's key is generated in the token under the CA's name and
 * is destroyed again if a later step fails, so a failed create leaves
 * neither a record nor a key. The data lock is held from the name check to
 * the record write. Design notes: docs/ca.md.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"
#include "revocation_int.h"

/* ---- create -------------------------------------------------------- */

static void
key_ref_of(const struct hkms_key_info *ki, char *ref, size_t size)
{
	if (ki->id_len > 0)
		snprintf(ref, size, "id:%s", ki->id_hex);
	else
		snprintf(ref, size, "%s", ki->name);
}

/* Destroy a key made for a request that failed; err (the request's error)
 * says so if it cannot be removed. */
static void
unmake_key(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	size_t n;

	if (ops_key_remove(c, ki, &e) == HKMS_OK || err == NULL)
		return;
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, "; key '%s' made "
	    "for it is left in the token: %s", ki->name,
	    e.detail);
}

static json_t *
strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (; v != NULL && *v != NULL; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static int
strv_len(const char *const *v)
{
	int n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	return n;
}

/* Everything that can be checked before a key is made. */
static enum hkms_rc
create_precheck(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_create_req *req, enum hkms_key_type *kt,
    struct hkms_err *err)
{
	X509_NAME *n = NULL;
	enum hkms_rc rc;

	if ((rc = ca_name_check(req->name, err)) != HKMS_OK)
		return rc;
	if (hkms_store_exists(c->store, CA_KIND, req->name))
		return hkms_err_setc(err, HKMS_E_EXISTS, "ca_exists",
		    "CA '%s' already exists", req->name);
	if (hkms_store_exists(c->store, "certs", req->name))
		return hkms_err_setc(err, HKMS_E_EXISTS, "ca_exists",
		    "a certificate named '%s' exists; a CA needs a name of "
		    "its own", req->name);
	if (req->key_type == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "key_type is required (e.g. ec:p384)");
	if ((rc = hkms_hsm_key_type_parse(req->key_type, kt, err)) !=
	    HKMS_OK)
		return rc;
	if (req->subject == NULL || req->subject[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "subject is required (e.g. '/CN=Example Root CA')");
	if ((rc = hkms_x509_name_parse(req->subject, &n, err)) != HKMS_OK)
		return rc;
	X509_NAME_free(n);
	if ((rc = ops_days_check(req->days, HKMS_OPS_DAYS_MAX, err)) !=
	    HKMS_OK)
		return rc;
	if (req->has_path_len && (req->path_len < 0 || req->path_len > 32))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "path_len must be 0..32");
	if (req->external && req->parent != NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "external and parent exclude each other (an external "
		    "CA signs the CSR)");
	if (req->external && (strv_len(req->permit_dns) ||
	    strv_len(req->exclude_dns) || strv_len(req->permit_ip) ||
	    strv_len(req->exclude_ip)))
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "name constraints of an externally signed CA are set by "
		    "the external CA");
	return HKMS_OK;
}

/* A parent whose path length forbids another CA is refused before a key
 * is made (x509 would refuse it too, later). */
static enum hkms_rc
parent_precheck(struct ca *parent, const struct hkms_ops_ca_create_req *req,
    struct hkms_err *err)
{
	long pl = X509_get_pathlen(parent->cert);

	if (pl == 0)
		return hkms_err_setc(err, HKMS_E_POLICY, "path_len_exceeded",
		    "CA '%s' has path length 0 and cannot make a sub-CA",
		    parent->name);
	if (pl > 0 && req->has_path_len && req->path_len > pl - 1)
		return hkms_err_setc(err, HKMS_E_POLICY, "path_len_exceeded",
		    "path length %d exceeds the %ld CA '%s' allows",
		    req->path_len, pl - 1, parent->name);
	return HKMS_OK;
}

static void
fill_opts(const struct hkms_ops_ca_create_req *req,
    struct hkms_x509_cert_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->subject = req->subject;
	o->days = req->days;
	o->has_path_len = req->has_path_len;
	o->path_len = req->path_len;
	o->permit_dns = req->permit_dns;
	o->exclude_dns = req->exclude_dns;
	o->permit_ip = req->permit_ip;
	o->exclude_ip = req->exclude_ip;
}

/* "10.0.0.0/8" or "fd00::/8" of a name-constraint iPAddress (address +
 * mask); 0 if it is not one. */
static int
nc_ip_str(const ASN1_OCTET_STRING *ip, char *buf, size_t size)
{
	const unsigned char *b = ip->data;
	char a[INET6_ADDRSTRLEN];
	int l = ip->length, bits = 0, j;

	if (l != 8 && l != 32)
		return 0;
	for (j = l / 2; j < l; j++)
		bits += __builtin_popcount(b[j]);
	if (inet_ntop(l == 8 ? AF_INET : AF_INET6, b, a, sizeof(a)) == NULL)
		return 0;
	snprintf(buf, size, "%s/%d", a, bits);
	return 1;
}

/* The name constraints x carries, as permit_dns/exclude_dns/permit_ip/
 * exclude_ip arrays in m. */
static void
nc_json(X509 *x, json_t *m)
{
	NAME_CONSTRAINTS *nc = X509_get_ext_d2i(x, NID_name_constraints,
	    NULL, NULL);
	json_t *a[4];
	char buf[128];
	int i, k;

	for (i = 0; i < 4; i++)
		a[i] = json_array();
	for (i = 0; nc != NULL && i < 2; i++) {
		STACK_OF(GENERAL_SUBTREE) *st = i == 0 ?
		    nc->permittedSubtrees : nc->excludedSubtrees;

		for (k = 0; k < sk_GENERAL_SUBTREE_num(st); k++) {
			GENERAL_NAME *g = sk_GENERAL_SUBTREE_value(st, k)->base;

			if (g->type == GEN_DNS)
				json_array_append_new(a[i], json_stringn(
				    (const char *)g->d.dNSName->data,
				    (size_t)g->d.dNSName->length));
			else if (g->type == GEN_IPADD &&
			    nc_ip_str(g->d.iPAddress, buf, sizeof(buf)))
				json_array_append_new(a[2 + i],
				    json_string(buf));
		}
	}
	NAME_CONSTRAINTS_free(nc);
	json_object_set_new(m, "permit_dns", a[0]);
	json_object_set_new(m, "exclude_dns", a[1]);
	json_object_set_new(m, "permit_ip", a[2]);
	json_object_set_new(m, "exclude_ip", a[3]);
}

/* What the CA's record says beside its certificate (x NULL: pending). */
static json_t *
ca_meta(X509 *x, const char *type, const struct hkms_key_info *ki,
    const char *parent)
{
	json_t *m = x ? ca_cert_meta(x) : json_object();
	long pl;

	if (m == NULL)
		return NULL;
	json_object_set_new(m, "type", json_string(type));
	json_object_set_new(m, "key", json_string(ki->name));
	json_object_set_new(m, "key_id", json_string(ki->id_hex));
	json_object_set_new(m, "key_uri", json_string(ki->uri));
	/* the token key's type ("ec:p256"); key_type is the certificate's */
	json_object_set_new(m, "token_key_type", json_string(
	    hkms_hsm_key_type_name(ki->type)));
	json_object_set_new(m, "parent", parent ? json_string(parent) :
	    json_null());
	json_object_set_new(m, "created", ca_now_json());
	json_object_set_new(m, "used_by", json_array());
	if (x == NULL)
		return m;
	pl = X509_get_pathlen(x);
	json_object_set_new(m, "path_len", pl >= 0 ? json_integer(pl) :
	    json_null());
	nc_json(x, m);
	return m;
}

/* The CSR of an externally signed CA: subject, and the request for CA:TRUE
 * (with the path length) and keyCertSign/cRLSign, which the external CA
 * may honour. Signed in the token. */
static enum hkms_rc
external_csr(struct hkms_ops_ctx *c, const struct hkms_ops_ca_create_req *req,
    const struct hkms_key_info *ki, EVP_PKEY *pub, char **pem,
    struct hkms_err *err)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_REQ *csr = NULL;
	X509_EXTENSION *e;
	enum hkms_rc rc;
	char bc[64], ref[160];

	snprintf(bc, sizeof(bc), "critical,CA:TRUE");
	if (req->has_path_len)
		snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d",
		    req->path_len);
	if (exts == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
	    bc)) == NULL || !sk_X509_EXTENSION_push(exts, e)) {
		X509_EXTENSION_free(e);
		rc = hkms_err_crypto(err, "cannot make basicConstraints");
		goto out;
	}
	if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
	    "critical,keyCertSign,cRLSign")) == NULL ||
	    !sk_X509_EXTENSION_push(exts, e)) {
		X509_EXTENSION_free(e);
		rc = hkms_err_crypto(err, "cannot make keyUsage");
		goto out;
	}
	if ((rc = hkms_x509_csr_build(pub, req->subject, NULL, exts, &csr,
	    err)) != HKMS_OK)
		goto out;
	key_ref_of(ki, ref, sizeof(ref));
	if ((rc = ops_sign_req(c->hsm, ref, csr, hkms_x509_digest_resolve(
	    HKMS_X509_DIGEST_AUTO, pub), err)) != HKMS_OK)
		goto out;
	rc = hkms_x509_csr_pem(csr, pem, err);
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(csr);
	return rc;
}

/* A self-signed root for token key ki. */
static enum hkms_rc
make_root(struct hkms_ops_ctx *c, const struct hkms_ops_ca_create_req *req,
    const struct hkms_key_info *ki, EVP_PKEY *pub, X509 **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *prof = NULL;
	struct hkms_x509_cert_opts o;
	X509 *cert = NULL;
	enum hkms_rc rc;
	char ref[160];

	fill_opts(req, &o);
	if ((rc = hkms_x509_profile_get("ca", NULL, &prof, err)) != HKMS_OK ||
	    (rc = hkms_x509_cert_build(pub, NULL, prof, &o, &cert, err)) !=
	    HKMS_OK)
		goto out;
	key_ref_of(ki, ref, sizeof(ref));
	if ((rc = ops_sign_cert(c->hsm, ref, cert, NULL,
	    hkms_x509_digest_resolve(hkms_x509_profile_digest(prof), pub),
	    err)) != HKMS_OK)
		goto out;
	*out = cert;
	cert = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	X509_free(cert);
	hkms_x509_profile_free(prof);
	return rc;
}

/* An intermediate signed by parent's token key, recorded in its index. */
static json_t *create_detail(const struct hkms_ops_ca_create_req *req);

static enum hkms_rc
make_intermediate(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_create_req *req, struct ca *parent,
    EVP_PKEY *pub, X509 **out, json_t **serial, struct hkms_err *err)
{
	struct hkms_x509_profile *prof = NULL;
	struct ca_issue_req ir;
	enum hkms_rc rc;
	json_t *rec = NULL, *extra;

	memset(&ir, 0, sizeof(ir));
	if ((rc = hkms_x509_profile_get("intermediate-ca", NULL, &prof,
	    err)) != HKMS_OK)
		return rc;
	extra = json_pack("{s:s}", "ca_name", req->name);
	ir.prof = prof;
	ir.pub = pub;
	fill_opts(req, &ir.opts);
	ir.source = "ca-create";
	ir.extra = extra;
	/* write-ahead before the parent's index entry, the first commit;
	 * the CA record put later under the same lock carries it too */
	ir.audit_op = "ca.create";
	ir.audit_object = req->name;
	ir.audit_detail = create_detail(req);
	rc = ca_issue(c, parent, &ir, out, &rec, NULL, err);
	json_decref(ir.audit_detail);
	if (rc == HKMS_OK)
		*serial = json_incref(json_object_get(rec, "serial"));
	json_decref(rec);
	json_decref(extra);
	hkms_x509_profile_free(prof);
	return rc;
}

static json_t *
create_detail(const struct hkms_ops_ca_create_req *req)
{
	json_t *d = json_object();

	json_object_set_new(d, "key_type", req->key_type ?
	    json_string(req->key_type) : json_null());
	json_object_set_new(d, "subject", req->subject ?
	    json_string(req->subject) : json_null());
	json_object_set_new(d, "parent", req->parent ?
	    json_string(req->parent) : req->external ?
	    json_string("external") : json_null());
	if (req->has_path_len)
		json_object_set_new(d, "path_len", json_integer(req->path_len));
	if (strv_len(req->permit_dns))
		json_object_set_new(d, "permit_dns", strv_json(req->permit_dns));
	if (strv_len(req->exclude_dns))
		json_object_set_new(d, "exclude_dns",
		    strv_json(req->exclude_dns));
	if (strv_len(req->permit_ip))
		json_object_set_new(d, "permit_ip", strv_json(req->permit_ip));
	if (strv_len(req->exclude_ip))
		json_object_set_new(d, "exclude_ip", strv_json(req->exclude_ip));
	if (req->days)
		json_object_set_new(d, "days", json_integer(req->days));
	return d;
}

enum hkms_rc
hkms_ops_ca_create(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_create_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_key_type kt;
	struct hkms_key_info ki;
	struct ca *parent = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	json_t *meta = NULL, *serial = NULL, *d;
	char *pem = NULL, ref[160];
	int made = 0, locked = 0;

	OPS_AUTHORIZE(c, "ca.create", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = create_precheck(c, req, &kt, err)) != HKMS_OK)
		goto out;
	if (req->parent != NULL && ((rc = ca_load(c, req->parent, 1, &parent,
	    err)) != HKMS_OK || (rc = parent_precheck(parent, req, err)) !=
	    HKMS_OK))
		goto out;
	if ((rc = ops_key_create(c, req->name, kt, NULL, &ki, err)) !=
	    HKMS_OK)
		goto out;
	made = 1;
	key_ref_of(&ki, ref, sizeof(ref));
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK)
		goto out;
	if (req->external) {
		if ((rc = external_csr(c, req, &ki, pub, &pem, err)) != HKMS_OK)
			goto out;
		meta = ca_meta(NULL, "ca-pending", &ki, "external");
		json_object_set_new(meta, "subject", json_string(req->subject));
		json_object_set_new(meta, "not_after", json_null());
		json_object_set_new(meta, "path_len", req->has_path_len ?
		    json_integer(req->path_len) : json_null());
	} else {
		if (parent != NULL)
			rc = make_intermediate(c, req, parent, pub, &x, &serial,
			    err);
		else
			rc = make_root(c, req, &ki, pub, &x, err);
		if (rc != HKMS_OK)
			goto out;
		if ((chain = ca_leaf_chain(parent, x)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = hkms_certio_pem_string(chain, &pem, err)) != HKMS_OK)
			goto out;
		meta = ca_meta(x, "ca", &ki, req->parent);
	}
	if (meta == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (c->audit_seq == 0) {
		d = create_detail(req);
		json_object_set_new(d, "key_id", json_string(ki.id_hex));
		if (x != NULL)
			json_object_set(d, "serial", json_object_get(meta,
			    "serial"));
		rc = hkms_ops_audit_ahead(c, "ca.create", req->name, d, err);
		json_decref(d);
		if (rc != HKMS_OK)
			goto out;
	}
	if ((rc = hkms_store_put(c->store, CA_KIND, req->name, meta, pem,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_ops_ca_show(c, req->name, out, err)) != HKMS_OK)
		goto out;
	if (req->external)
		json_object_set_new(*out, "csr_pem", json_string(pem));
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK && made)
		unmake_key(c, &ki, err);
	if (locked)
		hkms_store_end(c->store);
	d = create_detail(req);
	if (rc == HKMS_OK) {
		json_object_set_new(d, "key_id", json_string(ki.id_hex));
		if (x != NULL)
			json_object_set(d, "serial", json_object_get(meta,
			    "serial"));
	} else if (serial != NULL)
		/* issued and recorded by the parent, but the CA record
		 * failed: the operator may want to revoke it */
		json_object_set(d, "issued_serial", serial);
	hkms_ops_audit(c, "ca.create", req->name, rc, err, d);
	json_decref(d);
	json_decref(serial);
	json_decref(meta);
	free(pem);
	X509_free(x);
	EVP_PKEY_free(pub);
	hkms_certio_chain_free(chain);
	ca_free(parent);
	return rc;
}

/* ---- apply (externally signed CA) ---------------------------------- */

/* Order pool into the chain above x: issuer of x, its issuer, ... up to a
 * self-signed certificate or the end of what is known. New stack, new
 * references. */
static STACK_OF(X509) *
order_chain(X509 *x, STACK_OF(X509) *pool)
{
	STACK_OF(X509) *out = sk_X509_new_null();
	X509 *cur = x;
	int i, depth;

	if (out == NULL || !X509_up_ref(x) || !sk_X509_push(out, x))
		goto fail;
	for (depth = 0; depth < 16 && X509_self_signed(cur, 0) != 1;
	    depth++) {
		X509 *next = NULL;

		for (i = 0; i < sk_X509_num(pool); i++) {
			X509 *p = sk_X509_value(pool, i);

			if (p != cur && X509_check_issued(p, cur) ==
			    X509_V_OK) {
				next = p;
				break;
			}
		}
		if (next == NULL)
			break;
		if (!X509_up_ref(next))
			goto fail;
		if (!sk_X509_push(out, next)) {
			X509_free(next);
			goto fail;
		}
		cur = next;
	}
	return out;
fail:
	hkms_certio_chain_free(out);
	return NULL;
}

/* The checks of ca apply, in order; the first that fails is the error. */
static enum hkms_rc
apply_checks(struct hkms_ops_ctx *c, struct ca *ca, X509 *x,
    STACK_OF(X509) *extra, STACK_OF(X509) *parents, struct hkms_err *err)
{
	STACK_OF(X509) *trusted = sk_X509_new_null(), *untrusted =
	    sk_X509_new_null();
	struct hkms_certio_verify_opts vo;
	BASIC_CONSTRAINTS *bc = NULL;
	EVP_PKEY *pub = NULL;
	json_t *res = NULL;
	enum hkms_rc rc;
	char ref[160];
	int i;

	if (trusted == NULL || untrusted == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	ca_key_ref(ca, ref, sizeof(ref));
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(x), pub) != 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "the certificate is not for the key of CA '%s' (token "
		    "key '%s')", ca->name, ca->key);
		goto out;
	}
	bc = X509_get_ext_d2i(x, NID_basic_constraints, NULL, NULL);
	if (bc == NULL || !bc->ca || ((X509_get_extension_flags(x) &
	    EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN))) {
		rc = hkms_err_setc(err, HKMS_E_POLICY, "not_a_ca",
		    "the certificate for CA '%s' is not a CA certificate "
		    "(needs basicConstraints CA:TRUE and keyCertSign)",
		    ca->name);
		goto out;
	}
	for (i = 0; i < sk_X509_num(parents); i++) {
		X509 *p = sk_X509_value(parents, i);

		if (!sk_X509_push(X509_self_signed(p, 0) == 1 ? trusted :
		    untrusted, p)) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	for (i = 0; i < sk_X509_num(extra); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(extra, i))) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	memset(&vo, 0, sizeof(vo));
	vo.purpose = HKMS_CERTIO_PURPOSE_ANY;
	if (sk_X509_num(trusted) == 0) {
		/* no root given: the parent chain itself is the anchor */
		sk_X509_free(trusted);
		trusted = untrusted;
		untrusted = NULL;
		vo.partial_chain = 1;
	}
	rc = hkms_certio_verify_ex(trusted, untrusted, x, &vo, &res, err);
	if (rc == HKMS_E_VERIFY) {
		char code[48];

		snprintf(code, sizeof(code), "%s", hkms_err_code(err));
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "chain_invalid",
		    "the certificate for CA '%s' does not chain to the given "
		    "parent: %s: %s", ca->name, code, json_string_value(
		    json_object_get(json_object_get(res, "error"),
		    "message")) ? json_string_value(json_object_get(
		    json_object_get(res, "error"), "message")) : "");
	}
out:
	json_decref(res);
	BASIC_CONSTRAINTS_free(bc);
	EVP_PKEY_free(pub);
	sk_X509_free(trusted);	/* borrowed certificates */
	sk_X509_free(untrusted);
	return rc;
}

enum hkms_rc
hkms_ops_ca_apply(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *cert, size_t cert_len,
    const unsigned char *parent_chain, size_t chain_len, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	struct hkms_key_info ki;
	STACK_OF(X509) *given = NULL, *parents = NULL, *pool = NULL,
	    *chain = NULL;
	X509 *x;
	json_t *meta = NULL, *d = NULL;
	char *pem = NULL;
	const char *type;
	int locked = 0, i;

	OPS_AUTHORIZE(c, "ca.apply", name, NULL, err);
	memset(&ki, 0, sizeof(ki));
	if (out == NULL || cert == NULL || parent_chain == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = ca_load(c, name, 0, &ca, err)) != HKMS_OK)
		goto out;
	type = json_string_value(json_object_get(ca->meta, "type"));
	if (strcmp(type, "ca-pending") != 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "not_pending",
		    "CA '%s' already has its certificate", name);
		goto out;
	}
	if ((rc = hkms_certio_parse(cert, cert_len, NULL, &given, NULL,
	    err)) != HKMS_OK || (rc = hkms_certio_parse(parent_chain,
	    chain_len, NULL, &parents, NULL, err)) != HKMS_OK)
		goto out;
	x = sk_X509_value(given, 0);
	if ((rc = apply_checks(c, ca, x, given, parents, err)) != HKMS_OK)
		goto out;
	if ((pool = hkms_certio_chain_dup(parents)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 1; i < sk_X509_num(given); i++) {
		X509 *g = sk_X509_value(given, i);

		if (!X509_up_ref(g) || !sk_X509_push(pool, g)) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((chain = order_chain(x, pool)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_certio_pem_string(chain, &pem, err)) != HKMS_OK)
		goto out;
	snprintf(ki.name, sizeof(ki.name), "%s", ca->key);
	snprintf(ki.id_hex, sizeof(ki.id_hex), "%s", json_string_value(
	    json_object_get(ca->meta, "key_id")) ? json_string_value(
	    json_object_get(ca->meta, "key_id")) : "");
	snprintf(ki.uri, sizeof(ki.uri), "%s", json_string_value(
	    json_object_get(ca->meta, "key_uri")) ? json_string_value(
	    json_object_get(ca->meta, "key_uri")) : "");
	ki.type = HKMS_KEY_NONE;
	if ((meta = ca_meta(x, "ca", &ki, "external")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* records before the one JSON shape kept it as "key_type" */
	json_object_set(meta, "token_key_type", json_object_get(ca->meta,
	    "token_key_type") ? json_object_get(ca->meta, "token_key_type") :
	    json_object_get(ca->meta, "key_type"));
	json_object_set(meta, "created", json_object_get(ca->meta,
	    "created"));
	json_object_set_new(meta, "applied", ca_now_json());
	if (json_object_get(ca->meta, "policy") != NULL)
		json_object_set(meta, "policy", json_object_get(ca->meta,
		    "policy"));
	d = json_pack("{s:O?,s:O?}", "serial", json_object_get(meta, "serial"),
	    "issuer", json_object_get(meta, "issuer"));
	rc = hkms_ops_audit_ahead(c, "ca.apply", name, d, err);
	json_decref(d);
	d = NULL;
	if (rc != HKMS_OK || (rc = hkms_store_put(c->store, CA_KIND, name,
	    meta, pem, err)) != HKMS_OK)
		goto out;
	rc = hkms_ops_ca_show(c, name, out, err);
out:
	if (locked)
		hkms_store_end(c->store);
	d = json_object();
	if (meta != NULL) {
		json_object_set(d, "serial", json_object_get(meta, "serial"));
		json_object_set(d, "issuer", json_object_get(meta, "issuer"));
	}
	hkms_ops_audit(c, "ca.apply", name, rc, err, d);
	json_decref(d);
	json_decref(meta);
	free(pem);
	hkms_certio_chain_free(given);
	hkms_certio_chain_free(parents);
	hkms_certio_chain_free(pool);
	hkms_certio_chain_free(chain);
	ca_free(ca);
	return rc;
}

/* ---- list, show ---------------------------------------------------- */

/* What a CA object carries beside the certificate's facts. */
static void
ca_context(json_t *meta, json_t *o)
{
	static const char *const keys[] = { "parent", "key_id",
	    "token_key_type", "permit_dns", "exclude_dns", "permit_ip",
	    "exclude_ip", NULL };
	json_t *v;
	size_t i;

	for (i = 0; keys[i] != NULL; i++) {
		v = json_object_get(meta, keys[i]);
		json_object_set(o, keys[i], v ? v : json_null());
	}
	/* records before the one JSON shape kept the token key's type
	 * ("ec:p256") as key_type */
	if (json_is_null(json_object_get(o, "token_key_type")) &&
	    (v = json_object_get(meta, "key_type")) != NULL &&
	    json_is_string(v) && strchr(json_string_value(v), ':') != NULL)
		json_object_set(o, "token_key_type", v);
}

enum hkms_rc
hkms_ops_ca_list(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *list = NULL, *rows, *it, *row;
	struct ops_rev_cas *cas = NULL;
	struct hkms_err e;
	const char *name;
	char *pem;
	size_t i;

	OPS_AUTHORIZE(c, "ca.list", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = hkms_store_list(c->store, CA_KIND, &list, err)) != HKMS_OK)
		return rc;
	if (ops_rev_cas_load(c, &cas, &e) != HKMS_OK)
		cas = NULL;
	rows = json_array();
	json_array_foreach(list, i, it) {
		name = json_string_value(json_object_get(it, "name"));
		pem = NULL;
		if (name != NULL)
			(void)hkms_store_get(c->store, CA_KIND, name, NULL,
			    &pem, &e);
		row = NULL;
		if (ops_cert_object_pem(pem, it, name, NULL, 0, &row, &e) ==
		    HKMS_OK) {
			ca_context(it, row);
			ops_rev_mark(c, cas, row);	/* issue 14a */
			json_object_del(row, "pem");
			json_array_append_new(rows, row);
		}
		free(pem);
	}
	json_decref(list);
	ops_rev_cas_free(cas);
	*out = rows;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_ca_show(struct hkms_ops_ctx *c, const char *name, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	json_t *o = NULL;
	char *pem = NULL;

	OPS_AUTHORIZE(c, "ca.show", name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = ca_load(c, name, 0, &ca, err)) != HKMS_OK ||
	    (rc = hkms_store_get(c->store, CA_KIND, name, NULL, &pem,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = ops_cert_object_pem(pem, ca->meta, name, NULL, 0, &o,
	    err)) != HKMS_OK)
		goto out;
	ca_context(ca->meta, o);
	ops_rev_mark(c, NULL, o);	/* revoked by its parent (issue 14a) */
	json_object_set(o, "policy", json_object_get(ca->meta, "policy") ?
	    json_object_get(ca->meta, "policy") : json_null());
	/* who uses it now (issue 13b: what ca delete would name) */
	{
		json_t *u = ops_ca_users(c, name);

		json_object_set_new(o, "in_use", json_boolean(
		    json_array_size(u) > 0));
		json_object_set_new(o, "used_by", u);
	}
	/* pem: the whole record (the CA certificate and its chain, or the
	 * CSR of a pending CA), last */
	json_object_del(o, "pem");
	json_object_set_new(o, "pem", pem ? json_string(pem) : json_null());
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	free(pem);
	ca_free(ca);
	return rc;
}

enum hkms_rc
hkms_ops_ca_cert_get(struct hkms_ops_ctx *c, const char *name,
    unsigned char **data, size_t *len, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	char *pem = NULL;

	OPS_AUTHORIZE(c, "ca.cert_get", name, NULL, err);
	if (data == NULL || len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*data = NULL;
	*len = 0;
	/* an active CA only (a pending one has no certificate yet) */
	if ((rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = ca_load(c, name, 1, &ca, err)) != HKMS_OK ||
	    (rc = hkms_store_get(c->store, CA_KIND, name, NULL, &pem,
	    err)) != HKMS_OK)
		goto out;
	if (pem == NULL) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "CA '%s' has no certificate", name);
		goto out;
	}
	*len = strlen(pem);
	*data = (unsigned char *)pem;
	pem = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	free(pem);
	ca_free(ca);
	return rc;
}

/* ---- policy -------------------------------------------------------- */

enum hkms_rc
hkms_ops_ca_policy(struct hkms_ops_ctx *c, const char *name,
    const char *policy, size_t len, int clear, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *meta = NULL, *pol = NULL, *d;
	char *pem = NULL;
	int locked = 0, change = policy != NULL || clear;

	OPS_AUTHORIZE(c, "ca.policy", name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (policy != NULL && clear)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "policy and clear exclude each other");
	if ((rc = ca_name_check(name, err)) != HKMS_OK)
		goto out;
	if (policy != NULL && (rc = ca_policy_parse(policy, len, &pol,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if (!hkms_store_exists(c->store, CA_KIND, name)) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "ca_not_found",
		    "no CA '%s'", name);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CA_KIND, name, &meta, &pem,
	    err)) != HKMS_OK)
		goto out;
	if (change) {
		if (pol != NULL)
			json_object_set(meta, "policy", pol);
		else
			json_object_del(meta, "policy");
		d = json_pack("{s:O}", "policy", pol ? pol : json_null());
		rc = hkms_ops_audit_ahead(c, "ca.policy", name, d, err);
		json_decref(d);
		if (rc != HKMS_OK || (rc = hkms_store_put(c->store, CA_KIND,
		    name, meta, pem, err)) != HKMS_OK)
			goto out;
	}
	*out = json_pack("{s:s,s:O}", "ca", name, "policy",
	    json_object_get(meta, "policy") ? json_object_get(meta,
	    "policy") : json_null());
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	if (change) {
		d = json_pack("{s:O}", "policy", pol ? pol : json_null());
		hkms_ops_audit(c, "ca.policy", name ? name : "", rc, err, d);
		json_decref(d);
	}
	json_decref(meta);
	json_decref(pol);
	free(pem);
	return rc;
}

/* ---- renew (issue 13b) --------------------------------------------- */

/* strv (a new vector of borrowed strings) of a JSON array of strings */
static const char **
json_strv(json_t *a)
{
	const char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	size_t i, n = 0;
	json_t *s;

	json_array_foreach(a, i, s)
		if (v != NULL && json_is_string(s))
			v[n++] = json_string_value(s);
	return v;
}

/* "<key>-r<unix time>" (an earlier -r<digits> suffix dropped), <= 64 */
static void
ca_rekey_name(const char *old, char *out, size_t size)
{
	char base[128], suffix[24], *r;
	size_t bl;

	snprintf(base, sizeof(base), "%s", old);
	if ((r = strrchr(base, '-')) != NULL && r[1] == 'r' && r[2] != '\0' &&
	    strspn(r + 2, "0123456789") == strlen(r + 2))
		*r = '\0';
	snprintf(suffix, sizeof(suffix), "-r%lld", (long long)time(NULL));
	bl = strlen(base);
	if (bl + strlen(suffix) > 64)
		bl = 64 - strlen(suffix);
	snprintf(out, size, "%.*s%s", (int)bl, base, suffix);
}

enum hkms_rc
hkms_ops_ca_renew(struct hkms_ops_ctx *c, const char *name, int rekey,
    int days, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_key_type kt;
	struct hkms_key_info ki;
	struct hkms_x509_profile *prof = NULL;
	struct ca *ca = NULL, *parent = NULL;
	struct ca_issue_req ir;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *pub = NULL;
	X509 *x = NULL;
	json_t *meta = NULL, *rec = NULL, *d = NULL, *prev;
	const char *pname, *tkt, **nc[4] = { NULL, NULL, NULL, NULL };
	char *pem = NULL, *oldpem = NULL, ref[160], newkey[72];
	int made = 0, locked = 0, k;
	long pl;

	OPS_AUTHORIZE(c, "ca.renew", name, NULL, err);
	memset(&ki, 0, sizeof(ki));
	memset(&ir, 0, sizeof(ir));
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK ||
	    (rc = ca_name_check(name, err)) != HKMS_OK)
		return rc;
	if (days < 0 || days > HKMS_OPS_DAYS_MAX) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "days must be 0..%d", HKMS_OPS_DAYS_MAX);
		goto out;
	}
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = ca_load(c, name, 1, &ca, err)) != HKMS_OK)
		goto out;
	pname = json_string_value(json_object_get(ca->meta, "parent"));
	if (pname != NULL && strcmp(pname, "external") == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "CA '%s' is signed by an outside CA: its issuer renews "
		    "it (a new CSR comes from creating it external)", name);
		goto out;
	}
	if (pname != NULL && (rc = ca_load(c, pname, 1, &parent, err)) !=
	    HKMS_OK)
		goto out;
	/* the key: the same one, or a new one of the same type (the old one
	 * need not exist any more) */
	if (rekey) {
		tkt = json_string_value(json_object_get(ca->meta,
		    "token_key_type"));
		if ((rc = hkms_hsm_key_type_parse(tkt ? tkt : "", &kt, err)) !=
		    HKMS_OK)
			goto out;
		ca_rekey_name(ca->key, newkey, sizeof(newkey));
		if ((rc = ops_key_create(c, newkey, kt, NULL, &ki, err)) !=
		    HKMS_OK)
			goto out;
		made = 1;
	} else if ((rc = ops_key_find(c, ca->key, &ki, err)) != HKMS_OK)
		goto out;
	key_ref_of(&ki, ref, sizeof(ref));
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK)
		goto out;
	/* the same subject, path length and name constraints; the lifetime
	 * it had unless days says otherwise */
	ir.opts.subject_name = X509_get_subject_name(ca->cert);
	if ((pl = X509_get_pathlen(ca->cert)) >= 0) {
		ir.opts.has_path_len = 1;
		ir.opts.path_len = (int)pl;
	}
	nc[0] = json_strv(json_object_get(ca->meta, "permit_dns"));
	nc[1] = json_strv(json_object_get(ca->meta, "exclude_dns"));
	nc[2] = json_strv(json_object_get(ca->meta, "permit_ip"));
	nc[3] = json_strv(json_object_get(ca->meta, "exclude_ip"));
	for (k = 0; k < 4; k++)
		if (nc[k] == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	ir.opts.permit_dns = nc[0][0] ? nc[0] : NULL;
	ir.opts.exclude_dns = nc[1][0] ? nc[1] : NULL;
	ir.opts.permit_ip = nc[2][0] ? nc[2] : NULL;
	ir.opts.exclude_ip = nc[3][0] ? nc[3] : NULL;
	ir.opts.days = days;
	if (days == 0) {
		int64_t nb = ca_parse_time(json_string_value(json_object_get(
		    ca->meta, "not_before")));
		int64_t na = ca_parse_time(json_string_value(json_object_get(
		    ca->meta, "not_after")));

		if (nb > 0 && na > nb)
			ir.opts.days = (int)((na - nb + CA_DAY / 2) / CA_DAY);
		if (ir.opts.days < 1 || ir.opts.days > HKMS_OPS_DAYS_MAX)
			ir.opts.days = 0;
		/* past the parent's end: clamped to it (days 0) */
		if (parent != NULL && ir.opts.days > 0) {
			int64_t pna = ca_parse_time(json_string_value(
			    json_object_get(parent->meta, "not_after")));

			if (pna > 0 && (int64_t)time(NULL) +
			    (int64_t)ir.opts.days * CA_DAY > pna)
				ir.opts.days = 0;
		}
	}
	d = json_pack("{s:b,s:O,s:s}", "rekey", rekey, "previous_serial",
	    json_object_get(ca->meta, "serial"), "key", ki.name);
	if (parent != NULL) {
		json_t *extra = json_pack("{s:s}", "ca_name", name);

		if ((rc = hkms_x509_profile_get("intermediate-ca", NULL, &prof,
		    err)) != HKMS_OK) {
			json_decref(extra);
			goto out;
		}
		ir.prof = prof;
		ir.pub = pub;
		ir.source = "ca-renew";
		ir.extra = extra;
		ir.audit_op = "ca.renew";
		ir.audit_object = name;
		ir.audit_detail = d;
		rc = ca_issue(c, parent, &ir, &x, &rec, NULL, err);
		json_decref(extra);
		if (rc != HKMS_OK)
			goto out;
	} else {
		if ((rc = hkms_x509_profile_get("ca", NULL, &prof, err)) !=
		    HKMS_OK || (rc = hkms_x509_cert_build(pub, NULL, prof,
		    &ir.opts, &x, err)) != HKMS_OK ||
		    (rc = ops_sign_cert(c->hsm, ref, x, NULL,
		    hkms_x509_digest_resolve(hkms_x509_profile_digest(prof),
		    pub), err)) != HKMS_OK)
			goto out;
	}
	if ((chain = ca_leaf_chain(parent, x)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_certio_pem_string(chain, &pem, err)) != HKMS_OK)
		goto out;
	if ((meta = ca_meta(x, "ca", &ki, pname)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* what stays the CA's: its policy, its creation, and the previous
	 * certificates (certificates issued under them still chain to them) */
	json_object_set(meta, "policy", json_object_get(ca->meta, "policy") ?
	    json_object_get(ca->meta, "policy") : json_null());
	if (json_object_get(ca->meta, "created"))
		json_object_set(meta, "created", json_object_get(ca->meta,
		    "created"));
	prev = json_object_get(ca->meta, "previous");
	prev = json_is_array(prev) ? json_deep_copy(prev) : json_array();
	if ((rc = hkms_store_get(c->store, CA_KIND, name, NULL, &oldpem,
	    err)) != HKMS_OK) {
		json_decref(prev);
		goto out;
	}
	json_array_append_new(prev, json_pack("{s:O,s:O,s:s,s:s}", "serial",
	    json_object_get(ca->meta, "serial"), "not_after",
	    json_object_get(ca->meta, "not_after"), "key", ca->key, "pem",
	    oldpem));
	json_object_set_new(meta, "previous", prev);
	json_object_set_new(meta, "renewed", ca_now_json());
	if (c->audit_seq == 0) {
		json_object_set(d, "serial", json_object_get(meta, "serial"));
		if ((rc = hkms_ops_audit_ahead(c, "ca.renew", name, d, err)) !=
		    HKMS_OK)
			goto out;
	}
	/* the commit point: JSON and PEM as one unit (docs/store.md) */
	if ((rc = hkms_store_put(c->store, CA_KIND, name, meta, pem, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_ops_ca_show(c, name, out, err)) != HKMS_OK)
		goto out;
	json_object_set_new(*out, "renewed", json_pack("{s:b,s:O,s:s}",
	    "rekey", rekey, "previous_serial", json_object_get(ca->meta,
	    "serial"), "previous_key", ca->key));
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK && made)
		unmake_key(c, &ki, err);
	if (locked)
		hkms_store_end(c->store);
	if (d == NULL)
		d = json_pack("{s:b}", "rekey", rekey);
	if (rc == HKMS_OK && meta != NULL)
		json_object_set(d, "serial", json_object_get(meta, "serial"));
	else if (rec != NULL)
		/* issued and recorded by the parent, but the CA record
		 * failed: the operator may want to revoke it */
		json_object_set(d, "issued_serial", json_object_get(rec,
		    "serial"));
	hkms_ops_audit(c, "ca.renew", name, rc, err, d);
	json_decref(d);
	json_decref(rec);
	json_decref(meta);
	for (k = 0; k < 4; k++)
		free(nc[k]);
	free(pem);
	free(oldpem);
	X509_free(x);
	EVP_PKEY_free(pub);
	hkms_certio_chain_free(chain);
	hkms_x509_profile_free(prof);
	ca_free(parent);
	ca_free(ca);
	return rc;
}
