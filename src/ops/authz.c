/*
 * Authorization (include/hkms/clients.h, hkms_ops_authorize): the one
 * table of operation (its audit name) -> least clearance, with the
 * per-CA rights a user client needs. docs/api.md, "Authorization", shows
 * the same table; tests/unit/test_authz.c checks a representative op of
 * each row, and the docs table is compared with this one by the test.
 *
 * Every operation calls hkms_ops_authorize() first, with its audit name.
 * A refusal is audited like any failed operation (result error, the
 * code) and returns HKMS_E_DENIED. The local operator (the CLI) and a
 * NULL principal (library callers, tests) are admin. An op not in the
 * table needs admin: a new operation is closed until it is listed.
 */
#include <stdio.h>
#include <string.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/service.h"
#include "clients_int.h"

/* what a user client needs on the CA of the request */
#define SCOPE_NONE 0	/* no CA: the clearance is enough */
#define SCOPE_READ 1	/* read on the CA (sign implies read) */
#define SCOPE_SIGN 2	/* sign on the CA, and the profile granted */

struct authz_row {
	const char *op;
	enum hkms_clearance least;
	int scope;
};

static const struct authz_row table[] = {
	/* public: anyone, also without a client certificate */
	{ "health", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "ca.cert_get", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "ca.crl_get", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "client.cas", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	/* EST (issue 17b): the enrollment operations authenticate the
	 * password or certificate themselves and issue through ca.sign
	 * under a principal granted that CA and profile only */
	{ "est.cacerts", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "est.csrattrs", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "est.enroll", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ "est.reenroll", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	/* OCSP responder (issue 14a) */
	{ "ocsp.respond", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	/* ACME (issue 17a): public, authenticated by the account's JWS */
	{ "acme.request", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	/* user: sign with granted CAs and profiles, read granted CAs */
	{ "ca.sign", HKMS_CLEARANCE_USER, SCOPE_SIGN },
	{ "ca.list", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "ca.show", HKMS_CLEARANCE_USER, SCOPE_READ },
	{ "ca.issued", HKMS_CLEARANCE_USER, SCOPE_READ },
	{ "ca.issued_show", HKMS_CLEARANCE_USER, SCOPE_READ },
	{ "profile.list", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "profile.show", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "csr.verify", HKMS_CLEARANCE_USER, SCOPE_NONE },
	/* operator: keys, CAs, certificates, profiles, truststore,
	 * revocation, audit read */
	{ "key.generate", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "key.list", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "key.show", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "key.delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "key.import", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "key.check", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "csr.create", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.self_sign", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.import", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.list", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.show", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.export", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.rename", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "cert.renew", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* certificate history (issue 13a) */
	{ "cert.restore", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.create", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.apply", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.policy", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.policy_get", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.revoke", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.crl", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "ca.issue_client", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* issue 13b */
	{ "ca.renew", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "profile.create", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "profile.delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.import", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.list", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.show", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.export", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.pin", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.verify", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.watch", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* truststore CRLs (issue 14a) */
	{ "trust.crl_import", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.crl_list", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "trust.crl_delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "audit.verify", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "audit.show", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "store.check", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* EST (issue 17b) */
	{ "est.status", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "est.enable", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "est.disable", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "est.token_create", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "est.token_list", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "est.token_delete", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "metrics", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* ACME (issue 17a) */
	{ "acme.enable", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "acme.disable", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "acme.status", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	{ "acme.eab_create", HKMS_CLEARANCE_OPERATOR, SCOPE_NONE },
	/* admin: clients, tokens, deleting CAs, the service certificate */
	{ "token.list", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "token.init", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "ca.delete", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.add", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.generate", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.list", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.show", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.edit", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "client.delete", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "service.cert_show", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "service.cert_csr", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "service.cert_apply", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "service.cert_self_sign", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	{ "service.cert_trust", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	/* sessions, TOTP (issue 16a): any registered client may see who it
	 * is and open or end its session before its second factor */
	{ "session.show", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "session.open", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "session.close", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "client.totp", HKMS_CLEARANCE_ADMIN, SCOPE_NONE },
	/* the web console (issue 16b): its files need a registered client
	 * (authenticated by the server; they run no other operation), GET /
	 * is a redirect */
	{ "ui.static", HKMS_CLEARANCE_USER, SCOPE_NONE },
	{ "ui.redirect", HKMS_CLEARANCE_NONE, SCOPE_NONE },
	{ NULL, HKMS_CLEARANCE_ADMIN, SCOPE_NONE }
};

/* The row of op; an unknown op gets the last row (admin). */
static const struct authz_row *
row_of(const char *op)
{
	size_t i;

	for (i = 0; table[i].op != NULL; i++)
		if (op != NULL && strcmp(table[i].op, op) == 0)
			return &table[i];
	return &table[i];
}

/* The user's grant on ca, or NULL. */
static const struct hkms_permission *
grant_of(const struct hkms_principal *p, const char *ca)
{
	size_t i;

	for (i = 0; ca != NULL && p->perms != NULL && i < p->nperms; i++)
		if (p->perms[i].ca != NULL && strcmp(p->perms[i].ca, ca) == 0)
			return &p->perms[i];
	return NULL;
}

static int
profile_granted(const struct hkms_permission *g, const char *profile)
{
	size_t i;

	if (g->profiles == NULL)
		return 1;	/* any profile */
	for (i = 0; profile != NULL && g->profiles[i] != NULL; i++)
		if (strcmp(g->profiles[i], profile) == 0)
			return 1;
	return 0;
}

static enum hkms_rc
decide(const struct hkms_principal *p, const struct authz_row *r,
    const char *op, const char *ca, const char *profile,
    struct hkms_err *err)
{
	const struct hkms_permission *g;

	if (p == NULL || p->kind == HKMS_PRINCIPAL_LOCAL)
		return HKMS_OK;
	if (r->least == HKMS_CLEARANCE_NONE)
		return HKMS_OK;
	/* the session ops are how a client gives its second factor */
	if (p->require_2fa && !p->second_factor &&
	    strncmp(op, "session.", 8) != 0)
		return hkms_err_setc(err, HKMS_E_DENIED,
		    "second_factor_required", "client '%s' requires a second "
		    "factor for %s", p->name ? p->name : "", op);
	if (p->clearance < r->least)
		return hkms_err_setc(err, HKMS_E_DENIED, "clearance_too_low",
		    "%s needs clearance %s; client '%s' has %s", op,
		    ops_clearance_name(r->least), p->name ? p->name : "",
		    ops_clearance_name(p->clearance));
	/* operator and admin may use every CA and profile */
	if (p->clearance > HKMS_CLEARANCE_USER || r->scope == SCOPE_NONE)
		return HKMS_OK;
	if (ca == NULL)
		return hkms_err_setc(err, HKMS_E_DENIED, "ca_not_granted",
		    "%s needs a CA the client is granted", op);
	g = grant_of(p, ca);
	if (g == NULL || (r->scope == SCOPE_SIGN &&
	    !(g->rights & HKMS_PERM_SIGN)) || (r->scope == SCOPE_READ &&
	    !(g->rights & (HKMS_PERM_READ | HKMS_PERM_SIGN))))
		return hkms_err_setc(err, HKMS_E_DENIED, "ca_not_granted",
		    "client '%s' may not %s with CA '%s'", p->name ?
		    p->name : "", r->scope == SCOPE_SIGN ? "sign" : "read",
		    ca);
	if (r->scope == SCOPE_SIGN && !profile_granted(g, profile))
		return hkms_err_setc(err, HKMS_E_DENIED, "profile_not_granted",
		    "client '%s' may not use profile '%s' with CA '%s'",
		    p->name ? p->name : "", profile ? profile : "", ca);
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_authorize(struct hkms_ops_ctx *c, const char *op, const char *ca,
    const char *profile, struct hkms_err *err)
{
	const struct hkms_principal *p = c ? c->principal : NULL;
	enum hkms_rc rc;
	json_t *d;

	rc = decide(p, row_of(op), op ? op : "", ca, profile, err);
	if (rc == HKMS_OK || c == NULL)
		return rc;
	d = json_pack("{s:s,s:s}", "clearance", ops_clearance_name(
	    p->clearance), "principal", p->name ? p->name : "");
	if (profile != NULL)
		json_object_set_new(d, "profile", json_string(profile));
	rc = hkms_ops_audit(c, op ? op : "", ca ? ca : "", rc, err, d);
	json_decref(d);
	return rc;
}

/* For the documentation test: the table rows, in order. */
size_t
ops_authz_rows(const char **op, const char **least, size_t max)
{
	size_t i;

	for (i = 0; table[i].op != NULL && i < max; i++) {
		op[i] = table[i].op;
		least[i] = table[i].least == HKMS_CLEARANCE_NONE ? "public" :
		    ops_clearance_name(table[i].least);
	}
	return i;
}
