/*
 * Issuing under a CA: the one path every certificate a CA signs goes
 * through (ca_issue), the signing of CSRs (ca sign), client certificates
 * with a software key handed out once in a PKCS#12 (ca issue-client), and
 * the issued index (ca issued).
 *
 * ca_issue draws a serial (159 random bits), reserves it in issued/<ca>
 * (hkms_store_reserve: an O_EXCL file; drawn again if taken), builds the
 * certificate unsigned, checks it against the CA's policy and the name
 * constraints of its chain and signs it in the token (hkms_hsm_with_key
 * may run the sign twice; it only replaces the signature) holding no
 * store lock, then commits the record and its audit line through the
 * store's group committer (hkms_store_commit), which makes them durable
 * together with those of concurrent issuances. ca create, whose CA
 * record joins the same transaction, still does all of it under the
 * data lock (req->group = 0). A failure before the commit leaves
 * nothing behind but the audit line the caller writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/secret.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"
#include "ops_int.h"

/* PBKDF2 iterations of the client PKCS#12 (key and certificate bags) and
 * of its MAC. */
#define P12_ITER 100000
#define PASSPHRASE_MIN 8
#define SERIAL_DRAWS 16

/* ---- the issuance path ---------------------------------------------- */

/* A serial not in the CA's issued index (and not the CA's own). Test
 * hook (test builds only, HKMS_TEST_HOOKS): HKMS_CA_TEST_SERIAL=<hex> is
 * the first candidate of every draw, so tests can force a collision and
 * see the retry. */
static enum hkms_rc
pick_serial(struct hkms_ops_ctx *c, struct ca *ca, ASN1_INTEGER **out,
    char hex[HKMS_X509_SERIAL_HEX_MAX], int *retries,
    struct hkms_store_rsv **rsv, struct hkms_err *err)
{
#ifdef HKMS_TEST_HOOKS
	const char *hook = getenv("HKMS_CA_TEST_SERIAL");
#else
	const char *hook = NULL;
#endif
	const char *own = json_string_value(json_object_get(ca->meta,
	    "serial"));
	ASN1_INTEGER *s = NULL;
	enum hkms_rc rc = HKMS_OK;
	int tries;

	for (tries = 0; tries < SERIAL_DRAWS; tries++) {
		if (tries == 0 && hook != NULL && hook[0] != '\0')
			rc = hkms_x509_serial_from_hex(hook, &s, err);
		else
			rc = hkms_x509_serial_new(&s, err);
		if (rc != HKMS_OK)
			return rc;
		if ((rc = hkms_x509_serial_to_hex(s, hex, err)) != HKMS_OK) {
			ASN1_INTEGER_free(s);
			return rc;
		}
		if ((own == NULL || strcmp(own, hex) != 0) && (rsv != NULL ?
		    (rc = hkms_store_reserve(c->store, ca->issued_kind, hex,
		    rsv, err)) == HKMS_OK : !hkms_store_exists(c->store,
		    ca->issued_kind, hex))) {
			*out = s;
			*retries = tries;
			return HKMS_OK;
		}
		if (rsv != NULL && rc != HKMS_E_EXISTS) {
			ASN1_INTEGER_free(s);
			return rc;
		}
		ASN1_INTEGER_free(s);
		s = NULL;
	}
	return hkms_err_setc(err, HKMS_E_INTERNAL, "serial_exhausted",
	    "no unused serial for CA '%s' after %d draws", ca->name,
	    SERIAL_DRAWS);
}

static json_t *
now_json(void)
{
	char buf[32];

	return json_string(hkms_time_str((int64_t)time(NULL), buf));
}

/* A default lifetime longer than the policy's max_days becomes max_days
 * (the CA's not-after still clamps it); an explicit one is checked. */
static void
policy_days(struct ca *ca, struct ca_issue_req *r)
{
	const char *pname = hkms_x509_profile_name(r->prof);
	int max = ca_policy_max_days(json_object_get(ca->meta, "policy"),
	    pname);
	struct hkms_err e;
	int64_t na;

	if (!r->check_policy || r->opts.days != 0 || max <= 0 ||
	    hkms_x509_profile_default_days(r->prof) <= max)
		return;
	if (hkms_certio_time(X509_get0_notAfter(ca->cert), &na, &e) ==
	    HKMS_OK && (na - (int64_t)time(NULL)) / CA_DAY > max)
		r->opts.days = max;
}

/* The detail of an issuance's write-ahead line: it names the serial
 * about to be recorded. */
static json_t *
issue_detail(const struct ca_issue_req *r, json_t *m, int tries)
{
	json_t *d;

	d = r->audit_detail ? json_deep_copy(r->audit_detail) : json_object();
	if (d == NULL)
		return NULL;
	json_object_set(d, "serial", json_object_get(m, "serial"));
	json_object_set(d, "subject", json_object_get(m, "subject"));
	json_object_set(d, "san", json_object_get(m, "san"));
	json_object_set(d, "not_after", json_object_get(m, "not_after"));
	if (tries > 0)
		json_object_set_new(d, "serial_retries", json_integer(tries));
	return d;
}

/* The write-ahead line, under the data lock (ca create). */
static enum hkms_rc
issue_ahead(struct hkms_ops_ctx *c, const struct ca_issue_req *r, json_t *m,
    int tries, struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *d;

	if ((d = issue_detail(r, m, tries)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	rc = hkms_ops_audit_ahead(c, r->audit_op, r->audit_object, d, err);
	json_decref(d);
	return rc;
}

/* Record and audit line through the group committer; c->audit_seq gets
 * the line (also when the record failed after it: the caller's
 * hkms_ops_audit then writes the "aborts" line). */
static enum hkms_rc
issue_commit(struct hkms_ops_ctx *c, struct hkms_store_rsv *rsv,
    const struct ca_issue_req *r, json_t *m, int tries, struct hkms_err *err)
{
	long long seq = 0;
	enum hkms_rc rc;
	json_t *d;

	if ((d = issue_detail(r, m, tries)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	rc = hkms_store_commit(c->store, rsv, m, c->actor ? c->actor :
	    "unknown", r->audit_op, r->audit_object ? r->audit_object : "", d,
	    &seq, err);
	c->audit_seq = seq;
	json_decref(d);
	return rc;
}

enum hkms_rc
ca_issue(struct hkms_ops_ctx *c, struct ca *ca, struct ca_issue_req *r,
    X509 **cert, json_t **rec, int *retries, struct hkms_err *err)
{
	enum hkms_rc rc;
	ASN1_INTEGER *serial = NULL;
	struct hkms_store_rsv *rsv = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *one = NULL;
	json_t *m = NULL, *facts = NULL;
	char *pem = NULL, hex[HKMS_X509_SERIAL_HEX_MAX];
	const char *pname = hkms_x509_profile_name(r->prof);
	int locked = 0, tries = 0, reqdays = r->opts.days;
	int group = r->group && r->audit_op != NULL;

	r->facts = NULL;
	policy_days(ca, r);
	if (!group) {
		if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
			goto out;
		locked = 1;
	}
	/* group: the serial is reserved, and nothing below holds a store
	 * lock until the commit */
	if ((rc = pick_serial(c, ca, &serial, hex, &tries, group ? &rsv :
	    NULL, err)) != HKMS_OK)
		goto out;
	r->opts.serial = serial;
	r->opts.url_ca = ca->name;	/* {ca} in CRLDP/AIA URLs */
	if (r->csr != NULL)
		rc = hkms_x509_cert_build_from_csr(r->csr, ca->cert, r->prof,
		    &r->opts, &x, err);
	else
		rc = hkms_x509_cert_build(r->pub, ca->cert, r->prof, &r->opts,
		    &x, err);
	r->opts.serial = NULL;
	if (rc != HKMS_OK)
		goto out;
	if (r->check_policy && (rc = ca_policy_check(json_object_get(ca->meta,
	    "policy"), pname, x, X509_get0_pubkey(x), reqdays, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_x509_nc_check(ca->chain, x, r->is_leaf, err)) != HKMS_OK ||
	    (rc = ca_sign_cert(c, ca, x, r->prof, err)) != HKMS_OK)
		goto out;
	/* described once: for the record here, for the result after */
	if ((rc = hkms_certio_describe(x, 0, &facts, err)) != HKMS_OK)
		goto out;
	if ((m = ops_cert_record_facts(facts)) == NULL || (one =
	    sk_X509_new_null()) == NULL || !sk_X509_push(one, x)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_certio_pem_string(one, &pem, err)) != HKMS_OK)
		goto out;
	json_object_set_new(m, "ca", json_string(ca->name));
	json_object_set_new(m, "profile", json_string(pname));
	json_object_set_new(m, "requester", json_string(c->actor ? c->actor :
	    "unknown"));
	json_object_set_new(m, "source", json_string(r->source));
	json_object_set_new(m, "status", json_string("valid"));
	json_object_set_new(m, "issued_at", now_json());
	if (r->extra != NULL)
		json_object_update(m, r->extra);
	/* the PEM lives in the record itself: one atomic file per
	 * issuance instead of a JSON + PEM pair (fewer fsyncs) */
	json_object_set_new(m, "pem", json_string(pem));
	if (group) {
		if ((rc = issue_commit(c, rsv, r, m, tries, err)) != HKMS_OK)
			goto out;
	} else {
		if (r->audit_op != NULL && (rc = issue_ahead(c, r, m, tries,
		    err)) != HKMS_OK)
			goto out;
		if ((rc = hkms_store_put(c->store, ca->issued_kind, hex, m,
		    NULL, err)) != HKMS_OK)
			goto out;
	}
	*cert = x;
	x = NULL;	/* transferred */
	*rec = m;
	m = NULL;	/* transferred */
	if (retries != NULL)
		*retries = tries;
	if (r->want_facts) {
		r->facts = facts;
		facts = NULL;	/* transferred */
	}
	rc = HKMS_OK;
out:
	json_decref(facts);
	if (locked)
		hkms_store_end(c->store);
	hkms_store_release(rsv);	/* after a commit: only freed */
	sk_X509_free(one);	/* x borrowed */
	ASN1_INTEGER_free(serial);
	X509_free(x);
	json_decref(m);
	free(pem);
	return rc;
}

/* ---- ca sign ------------------------------------------------------- */

/* A leaf profile: "ca"/"intermediate-ca" (and any custom CA profile) are
 * refused; sub-CAs are made with 'ca create --parent'. */
static enum hkms_rc
leaf_profile(struct hkms_ops_ctx *c, const char *name,
    struct hkms_x509_profile **out, struct hkms_err *err)
{
	enum hkms_rc rc;

	if (name == NULL || name[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "profile is required (e.g. tls-server)");
	if ((rc = hkms_x509_profile_get(name, c->cfg ? c->cfg->profiles_dir :
	    NULL, out, err)) != HKMS_OK)
		return rc;
	if (hkms_x509_profile_is_ca(*out)) {
		hkms_x509_profile_free(*out);
		*out = NULL;
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_profile",
		    "profile '%s' makes CA certificates; a sub-CA is made "
		    "by creating a CA with a parent", name);
	}
	return HKMS_OK;
}

static enum hkms_rc
add_p7b(STACK_OF(X509) *chain, json_t *o, struct hkms_err *err)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	enum hkms_rc rc;

	if ((rc = hkms_certio_encode(chain, HKMS_CERTIO_FMT_P7B, NULL, &buf,
	    &len, err)) != HKMS_OK)
		return rc;
	json_object_set_new(o, "p7b", json_stringn((const char *)buf, len));
	free(buf);
	return HKMS_OK;
}

/* The result of one issuance: the certificate object plus the chain. */
static enum hkms_rc
issue_result(struct ca *ca, X509 *x, json_t *rec, json_t *facts, int p7b,
    json_t **out, struct hkms_err *err)
{
	STACK_OF(X509) *chain = ca_leaf_chain(ca, x);
	enum hkms_rc rc;
	json_t *o = NULL;
	char *pem = NULL;

	if (chain == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* the certificate in the one JSON shape, with the record's context */
	if ((rc = facts != NULL ? ops_cert_object_facts(facts, rec, NULL,
	    "certificate", &o, err) : ops_cert_object(x, NULL, rec, NULL,
	    "certificate", 0, &o, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_certio_pem_string(chain, &pem, err)) != HKMS_OK)
		goto out;
	json_object_set_new(o, "chain_length", json_integer(sk_X509_num(
	    chain)));
	json_object_set_new(o, "pem", json_string(pem));
	if (p7b && (rc = add_p7b(chain, o, err)) != HKMS_OK)
		goto out;
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	free(pem);
	hkms_certio_chain_free(chain);
	return rc;
}

static json_t *
sign_detail(const struct hkms_ops_ca_sign_req *req, json_t *rec,
    int retries)
{
	json_t *d = json_object();

	json_object_set_new(d, "profile", req->profile ?
	    json_string(req->profile) : json_null());
	if (rec != NULL) {
		json_object_set(d, "serial", json_object_get(rec, "serial"));
		json_object_set(d, "subject", json_object_get(rec, "subject"));
		json_object_set(d, "san", json_object_get(rec, "san"));
		json_object_set(d, "not_after", json_object_get(rec,
		    "not_after"));
		if (retries > 0)
			json_object_set_new(d, "serial_retries",
			    json_integer(retries));
	}
	if (req->days)
		json_object_set_new(d, "days", json_integer(req->days));
	if (req->subject)
		json_object_set_new(d, "subject_override",
		    json_string(req->subject));
	if (req->san)
		json_object_set_new(d, "san_override", json_string(req->san));
	return d;
}

enum hkms_rc
hkms_ops_ca_sign(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_sign_req *req, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_x509_profile *prof = NULL;
	struct ca_issue_req ir;
	struct ca *ca = NULL;
	X509_REQ *csr = NULL;
	X509 *x = NULL;
	json_t *rec = NULL, *facts = NULL, *d;
	int p7b = 0, retries = 0, audited = 0;

	OPS_AUTHORIZE(c, "ca.sign", req ? req->ca : NULL,
	    req ? req->profile : NULL, err);
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	/* concurrent signings batch their commits (hkms_store_commit) */
	hkms_store_commit_intent(c->store, 1);
	if (req->format != NULL && strcmp(req->format, "pem") != 0) {
		if (strcmp(req->format, "p7b") != 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_format",
			    "unknown format '%s' (pem or p7b)", req->format);
			goto out;
		}
		p7b = 1;
	}
	if ((rc = ops_days_check(req->days, HKMS_OPS_DAYS_MAX, err)) !=
	    HKMS_OK)
		goto out;
	if (req->csr == NULL || req->csr_len == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "csr is required");
		goto out;
	}
	/* the CSR is verified once, here (proof of possession, key and
	 * digest strength); the build below trusts that */
	if ((rc = ca_load(c, req->ca, 1, &ca, err)) != HKMS_OK ||
	    (rc = leaf_profile(c, req->profile, &prof, err)) != HKMS_OK ||
	    (rc = ops_profile_narrow(&req->ext, &prof, err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_parse(req->csr, req->csr_len, &csr, err)) !=
	    HKMS_OK || (rc = hkms_x509_csr_verify(csr, err)) != HKMS_OK)
		goto out;
	memset(&ir, 0, sizeof(ir));
	ir.prof = prof;
	ir.csr = csr;
	ir.opts.subject = req->subject;
	ir.opts.san = req->san;
	ir.opts.days = req->days;
	ir.opts.csr_verified = 1;
	ir.source = "sign";
	ir.check_policy = 1;
	ir.is_leaf = 1;
	ir.audit_op = "ca.sign";
	ir.audit_object = ca->name;
	ir.audit_detail = d = sign_detail(req, NULL, 0);
	if (hkms_x509_ext_choice_set(&req->ext))
		json_object_set_new(d, "extensions",
		    hkms_x509_ext_choice_json(&req->ext));
	ir.group = 1;
	ir.want_facts = 1;
	rc = ca_issue(c, ca, &ir, &x, &rec, &retries, err);
	facts = ir.facts;
	json_decref(d);
	d = sign_detail(req, rec, retries);
	hkms_ops_audit(c, "ca.sign", ca->name, rc, err, d);
	json_decref(d);
	audited = 1;
	if (rc != HKMS_OK)
		goto out;
	if ((rc = issue_result(ca, x, rec, facts, p7b, out, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	json_decref(facts);
	if (!audited) {
		d = sign_detail(req, NULL, 0);
		hkms_ops_audit(c, "ca.sign", req->ca ? req->ca : "", rc, err, d);
		json_decref(d);
	}
	hkms_store_commit_intent(c->store, -1);
	json_decref(rec);
	X509_free(x);
	X509_REQ_free(csr);
	hkms_x509_profile_free(prof);
	ca_free(ca);
	return rc;
}

/* ---- the issued index ---------------------------------------------- */

static const char *
derived_status(json_t *rec, json_t *revoked, int64_t now)
{
	const char *s = json_string_value(json_object_get(rec, "status"));
	const char *serial = json_string_value(json_object_get(rec,
	    "serial"));
	int64_t na = ca_parse_time(json_string_value(json_object_get(rec,
	    "not_after")));

	/* the revocation index is the authority: a crash between its
	 * record and the issued record's status update still counts */
	if ((s != NULL && strcmp(s, "revoked") == 0) || (serial != NULL &&
	    json_object_get(revoked, serial) != NULL))
		return "revoked";
	if (na >= 0 && na < now)
		return "expired";
	return "valid";
}

/* An issued certificate in the one JSON shape, from its record (the PEM
 * is in it) and its revocation record rv (may be NULL); status is the
 * derived one. The record's own name ("serial") is not a name. */
static enum hkms_rc
issued_object(json_t *rec, json_t *rv, const char *status, int64_t now,
    json_t **out, struct hkms_err *err)
{
	json_t *ctx = json_copy(rec);
	enum hkms_rc rc;

	if (ctx == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_object_del(ctx, "name");
	if (rv != NULL) {
		json_object_set(ctx, "revoked_at", json_object_get(rv,
		    "revoked_at"));
		json_object_set(ctx, "reason", json_object_get(rv, "reason"));
	}
	rc = ops_cert_object_pem(json_string_value(json_object_get(rec,
	    "pem")), ctx, NULL, "certificate", now, out, err);
	json_decref(ctx);
	if (rc != HKMS_OK)
		return rc;
	json_object_set_new(*out, "status", json_string(status));
	json_object_del(*out, "chain_length");
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_ca_issued(struct hkms_ops_ctx *c, const char *ca_name,
    int expiring_within, const char *status_filter, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	json_t *list = NULL, *rlist = NULL, *revoked = NULL, *rows = NULL,
	    *it;
	int64_t now = (int64_t)time(NULL), na;
	size_t i;

	OPS_AUTHORIZE(c, "ca.issued", ca_name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if (status_filter != NULL && strcmp(status_filter, "valid") != 0 &&
	    strcmp(status_filter, "revoked") != 0 &&
	    strcmp(status_filter, "expired") != 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "status must be valid, revoked or expired");
	if ((rc = ca_load(c, ca_name, 0, &ca, err)) != HKMS_OK ||
	    (rc = hkms_store_list(c->store, ca->issued_kind, &list, err)) !=
	    HKMS_OK || (rc = hkms_store_list(c->store, ca->revoked_kind,
	    &rlist, err)) != HKMS_OK)
		goto out;
	revoked = json_object();
	json_array_foreach(rlist, i, it)
		if (json_string_value(json_object_get(it, "serial")) != NULL)
			json_object_set(revoked, json_string_value(
			    json_object_get(it, "serial")), it);
	rows = json_array();
	json_array_foreach(list, i, it) {
		const char *st = derived_status(it, revoked, now);
		json_t *row = NULL;

		if (status_filter != NULL && strcmp(st, status_filter) != 0)
			continue;
		na = ca_parse_time(json_string_value(json_object_get(it,
		    "not_after")));
		if (expiring_within >= 0 && (na < now || na - now >
		    (int64_t)expiring_within * CA_DAY))
			continue;
		if ((rc = issued_object(it, json_object_get(revoked,
		    json_string_value(json_object_get(it, "serial"))), st,
		    now, &row, err)) != HKMS_OK)
			goto out;
		json_object_del(row, "pem");
		json_array_append_new(rows, row);
	}
	*out = rows;
	rows = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(rows);
	json_decref(revoked);
	json_decref(list);
	json_decref(rlist);
	ca_free(ca);
	return rc;
}

enum hkms_rc
hkms_ops_ca_issued_show(struct hkms_ops_ctx *c, const char *ca_name,
    const char *serial, json_t **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct ca *ca = NULL;
	json_t *meta = NULL, *rv = NULL;
	char hex[HKMS_X509_SERIAL_HEX_MAX], *pem = NULL;

	OPS_AUTHORIZE(c, "ca.issued_show", ca_name, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = ca_load(c, ca_name, 0, &ca, err)) != HKMS_OK ||
	    (rc = ca_serial_norm(serial, hex, err)) != HKMS_OK)
		goto out;
	if (!hkms_store_exists(c->store, ca->issued_kind, hex)) {
		rc = hkms_err_set(err, HKMS_E_NOT_FOUND, "CA '%s' issued no "
		    "certificate with serial %s", ca->name, hex);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, ca->issued_kind, hex, &meta, &pem,
	    err)) != HKMS_OK)
		goto out;
	if (pem != NULL && json_object_get(meta, "pem") == NULL)
		json_object_set_new(meta, "pem", json_string(pem));
	if (hkms_store_get(c->store, ca->revoked_kind, hex, &rv, NULL,
	    NULL) != HKMS_OK)
		rv = NULL;
	rc = issued_object(meta, rv, derived_status(meta, NULL,
	    (int64_t)time(NULL)), 0, out, err);
	if (rc == HKMS_OK && rv != NULL)
		json_object_set_new(*out, "status", json_string("revoked"));
out:
	json_decref(meta);
	json_decref(rv);
	free(pem);
	ca_free(ca);
	return rc;
}

/* ---- client certificates ------------------------------------------- */

/* A software key of type t, in memory only. */
static enum hkms_rc
soft_key(enum hkms_key_type t, EVP_PKEY **out, struct hkms_err *err)
{
	EVP_PKEY *k = NULL;

	switch (t) {
	case HKMS_KEY_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case HKMS_KEY_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case HKMS_KEY_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	case HKMS_KEY_EC_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case HKMS_KEY_EC_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case HKMS_KEY_EC_P521:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
		break;
	default:
		return hkms_err_setc(err, HKMS_E_INVALID, "unknown_key_type",
		    "unknown key type");
	}
	if (k == NULL)
		return hkms_err_crypto(err, "cannot generate the client key");
	*out = k;
	return HKMS_OK;
}

/* Key + certificate + CA chain, PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)
 * for both bags, SHA-256 MAC. *out is malloc'd; the caller cleanses and
 * frees it. */
static enum hkms_rc
client_p12(EVP_PKEY *key, X509 *x, STACK_OF(X509) *chain, const char *pass,
    const char *name, unsigned char **out, size_t *len,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	unsigned char *der = NULL;
	PKCS12 *p12;
	int n = 0;

	p12 = PKCS12_create(pass, name, key, x, chain, NID_aes_256_cbc,
	    NID_aes_256_cbc, P12_ITER, -1, 0);
	if (p12 == NULL) {
		rc = hkms_err_crypto(err, "cannot build the PKCS#12");
		goto out;
	}
	if (!PKCS12_set_mac(p12, pass, -1, NULL, 0, P12_ITER, EVP_sha256())) {
		rc = hkms_err_crypto(err, "cannot add the PKCS#12 MAC");
		goto out;
	}
	if ((n = i2d_PKCS12(p12, &der)) <= 0) {
		rc = hkms_err_crypto(err, "cannot encode the PKCS#12");
		goto out;
	}
	if ((*out = malloc((size_t)n)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, der, (size_t)n);
	*len = (size_t)n;
	rc = HKMS_OK;
out:
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)n);
	PKCS12_free(p12);
	return rc;
}

static enum hkms_rc
client_precheck(const struct hkms_ops_ca_client_req *req,
    enum hkms_key_type *kt, struct hkms_err *err)
{
	const char *pass = req->passphrase ? hkms_secret_str(req->passphrase) :
	    NULL;
	enum hkms_rc rc;

	if (req->subject == NULL || req->subject[0] == '\0')
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "subject is required (e.g. /CN=alice)");
	if (pass != NULL && strlen(pass) != hkms_secret_len(req->passphrase))
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_passphrase",
		    "the PKCS#12 passphrase must not contain a NUL byte");
	if (pass == NULL || strlen(pass) < PASSPHRASE_MIN)
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_passphrase",
		    "the PKCS#12 passphrase must have at least %d characters",
		    PASSPHRASE_MIN);
	if ((rc = ops_days_check(req->days, HKMS_OPS_DAYS_MAX, err)) !=
	    HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_type_parse(req->key_type ? req->key_type :
	    "ec:p256", kt, err)) != HKMS_OK)
		return rc;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_ca_issue_client(struct hkms_ops_ctx *c,
    const struct hkms_ops_ca_client_req *req, json_t **out,
    struct hkms_secret **p12out, struct hkms_err *err)
{
	enum hkms_rc rc;
	enum hkms_key_type kt = HKMS_KEY_NONE;
	struct hkms_x509_profile *prof = NULL;
	struct ca_issue_req ir;
	struct ca *ca = NULL;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	json_t *rec = NULL, *d;
	unsigned char *p12 = NULL;
	size_t p12len = 0;
	char cn[128] = "client";

	OPS_AUTHORIZE(c, "ca.issue_client", req ? req->ca : NULL, NULL, err);
	if (req == NULL || out == NULL || p12out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*p12out = NULL;
	if ((rc = ca_need_hsm(c, err)) != HKMS_OK ||
	    (rc = ca_need_store(c, err)) != HKMS_OK)
		return rc;
	if ((rc = client_precheck(req, &kt, err)) != HKMS_OK ||
	    (rc = ca_load(c, req->ca, 1, &ca, err)) != HKMS_OK ||
	    (rc = hkms_x509_profile_get("tls-client", NULL, &prof, err)) !=
	    HKMS_OK || (rc = soft_key(kt, &key, err)) != HKMS_OK)
		goto out;
	memset(&ir, 0, sizeof(ir));
	ir.prof = prof;
	ir.pub = key;	/* x509 uses the public half only */
	ir.opts.subject = req->subject;
	ir.opts.san = req->san && req->san[0] ? req->san : NULL;
	ir.opts.days = req->days;
	ir.source = "issue-client";
	ir.check_policy = 1;
	ir.is_leaf = 1;
	ir.audit_op = "ca.issue_client";
	ir.audit_object = ca->name;
	ir.group = 1;
	ir.audit_detail = d = json_pack("{s:s}", "key_type",
	    hkms_hsm_key_type_name(kt));
	if (req->destination != NULL)
		json_object_set_new(d, "file", json_string(req->destination));
	rc = ca_issue(c, ca, &ir, &x, &rec, NULL, err);
	json_decref(d);
	if (rc != HKMS_OK)
		goto out;
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
	    cn, sizeof(cn));
	rc = client_p12(key, x, ca->chain, hkms_secret_str(req->passphrase), cn,
	    &p12, &p12len, err);
	/* the only copy of the key is in the (encrypted) PKCS#12 now; it
	 * goes to the caller in a secret buffer, and nowhere else */
	EVP_PKEY_free(key);
	key = NULL;
	if (rc == HKMS_OK)
		rc = hkms_secret_new(p12, p12len, p12out, err);
	if (rc != HKMS_OK) {
		/* issued and recorded, but its key is lost: revoke it so the
		 * certificate can never be used */
		struct hkms_err e2 = { 0 };
		const char *s = json_string_value(json_object_get(rec,
		    "serial"));

		if (s != NULL && err != NULL && ca_revoke_one(c, ca, s,
		    HKMS_X509_REASON_CESSATION_OF_OPERATION, NULL, NULL, &e2) ==
		    HKMS_OK)
			snprintf(err->detail + strlen(err->detail),
			    sizeof(err->detail) - strlen(err->detail),
			    "; certificate %.40s revoked", s);
		goto out;
	}
	if ((rc = issue_result(ca, x, rec, NULL, 0, out, err)) != HKMS_OK)
		goto out;
	/* key_type is the certificate's ("EC"); this is the request's */
	json_object_set_new(*out, "client_key_type", json_string(
	    hkms_hsm_key_type_name(kt)));
	json_object_set_new(*out, "pkcs12_bytes", json_integer(
	    (json_int_t)p12len));
	rc = HKMS_OK;
out:
	d = json_pack("{s:s,s:s}", "subject", req->subject ? req->subject :
	    "", "key_type", kt != HKMS_KEY_NONE ? hkms_hsm_key_type_name(kt) :
	    (req->key_type ? req->key_type : ""));
	if (rec != NULL)
		json_object_set(d, "serial", json_object_get(rec, "serial"));
	if (req->destination != NULL)
		json_object_set_new(d, "file", json_string(req->destination));
	hkms_ops_audit(c, "ca.issue_client", req->ca ? req->ca : "", rc, err,
	    d);
	json_decref(d);
	if (p12 != NULL) {
		OPENSSL_cleanse(p12, p12len);
		free(p12);
	}
	if (rc != HKMS_OK) {
		hkms_secret_free(*p12out);
		*p12out = NULL;
	}
	EVP_PKEY_free(key);
	json_decref(rec);
	X509_free(x);
	hkms_x509_profile_free(prof);
	ca_free(ca);
	return rc;
}
