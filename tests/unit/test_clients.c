/*
 * Unit tests of clients and clearance (src/ops/clients.c, authz.c) on a
 * real SoftHSM2 token made by the init operation: authentication of a
 * presented chain (no certificate, self-signed, unknown CA, expired,
 * revoked by the hkms CA, no clientAuth, unregistered, registered,
 * [server] admin_thumbprints, a registration changed on disk), the
 * authorization table (a representative op of each row for principals
 * of every clearance, a user of another CA, a profile not granted, 2FA),
 * and that the table in docs/api.md ("Authorization") is the code's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"

size_t ops_authz_rows(const char **op, const char **least, size_t max);

static char tmpdir[256];
static char cfgpath[320];
static struct hkms_config *cfg;
static struct hkms_service *svc;
static struct hkms_principal local;
static struct hkms_secret *pass;

static void
ctx(struct hkms_ops_ctx *c, const struct hkms_principal *p)
{
	struct hkms_err err = { 0 };

	assert_int_equal(hkms_service_ctx(svc, p, "unit:clients",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, c, &err),
	    HKMS_OK);
}

static int
group_setup(void **state)
{
	struct hkms_ops_init_req req = { NULL, "unit-cli", "unit:test", 0, NULL };
	struct hkms_ops_ca_create_req ca;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	char dir[300];
	json_t *out = NULL;
	const char *names[] = { "root", "other" };
	size_t i;

	(void)state;
	hkms_secret_process_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hkms-unit-cli.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/data", tmpdir);
	req.data_dir = dir;
	if (hkms_ops_init(&req, &out, &err) != HKMS_OK) {
		fprintf(stderr, "init: %s: %s\n", hkms_err_code(&err),
		    err.detail);
		return -1;
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s",
	    json_string_value(json_object_get(out, "config")));
	json_decref(out);
	if (hkms_config_load(cfgpath, &cfg, &err) != HKMS_OK ||
	    hkms_service_open(cfg, NULL, &svc, &err) != HKMS_OK)
		return -1;
	hkms_principal_local(&local, "tester");
	if (hkms_service_ctx(svc, &local, "unit:clients",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err) !=
	    HKMS_OK)
		return -1;
	for (i = 0; i < 2; i++) {
		memset(&ca, 0, sizeof(ca));
		ca.name = names[i];
		ca.key_type = "ec:p256";
		ca.subject = i == 0 ? "/CN=Unit Root" : "/CN=Unit Other";
		if (hkms_ops_ca_create(&c, &ca, &out, &err) != HKMS_OK) {
			fprintf(stderr, "ca: %s\n", err.detail);
			return -1;
		}
		json_decref(out);
	}
	if (hkms_secret_new("unit passphrase", 15, &pass, &err) != HKMS_OK)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	hkms_secret_free(pass);
	hkms_service_close(svc);
	hkms_config_free(cfg);
	hkms_secret_env_release();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A presented chain: DER certificates, leaf first. */
struct chain {
	unsigned char *der[4];
	size_t len[4];
	size_t n;
	char serial[64];
};

static void
chain_add(struct chain *ch, X509 *x)
{
	unsigned char *d = NULL;
	int l = i2d_X509(x, &d);

	assert_true(l > 0 && ch->n < 4);
	ch->der[ch->n] = d;
	ch->len[ch->n++] = (size_t)l;
}

static void
chain_free(struct chain *ch)
{
	size_t i;

	for (i = 0; i < ch->n; i++)
		OPENSSL_free(ch->der[i]);
	memset(ch, 0, sizeof(*ch));
}

/* The leaf (and chain) of a PKCS#12 the operations handed out. */
static void
chain_from_p12(struct chain *ch, const struct hkms_secret *p12)
{
	const unsigned char *p = (const unsigned char *)hkms_secret_str(p12);
	PKCS12 *pk = d2i_PKCS12(NULL, &p, (long)hkms_secret_len(p12));
	EVP_PKEY *key = NULL;
	X509 *leaf = NULL;
	STACK_OF(X509) *cas = NULL;
	int i;

	assert_non_null(pk);
	assert_int_equal(PKCS12_parse(pk, hkms_secret_str(pass), &key, &leaf,
	    &cas), 1);
	chain_add(ch, leaf);
	for (i = 0; i < sk_X509_num(cas); i++)
		chain_add(ch, sk_X509_value(cas, i));
	EVP_PKEY_free(key);
	X509_free(leaf);
	sk_X509_pop_free(cas, X509_free);
	PKCS12_free(pk);
}

/* Generate and register client name; its chain into ch. */
static void
gen_client(const char *name, const char *clearance, const char *ca,
    const struct hkms_ops_client_grant *g, size_t ng, struct chain *ch)
{
	struct hkms_ops_client_req req;
	struct hkms_secret *p12 = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	ctx(&c, &local);
	memset(&req, 0, sizeof(req));
	req.name = name;
	req.clearance = clearance;
	req.ca = ca;
	req.grants = g;
	req.ngrants = ng;
	req.passphrase = pass;
	if (hkms_ops_client_generate(&c, &req, &out, &p12, &err) != HKMS_OK)
		fail_msg("generate %s: %s: %s", name, hkms_err_code(&err),
		    err.detail);
	snprintf(ch->serial, sizeof(ch->serial), "%s",
	    json_string_value(json_object_get(out, "serial")));
	chain_from_p12(ch, p12);
	hkms_secret_free(p12);
	json_decref(out);
}

/* A software-signed certificate: self-signed when issuer is NULL. */
static X509 *
soft_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey,
    int ca, const char *eku, long from, long to)
{
	X509 *x = X509_new();
	X509V3_CTX v;
	X509_EXTENSION *e;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffff)
	    + 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, ca ?
	    "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	if (eku != NULL) {
		e = X509V3_EXT_conf_nid(NULL, &v, NID_ext_key_usage, eku);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static EVP_PKEY *
soft_key(void)
{
	return EVP_EC_gen("P-256");
}

static enum hkms_rc
auth(const struct chain *ch, struct hkms_client_principal *cp,
    struct hkms_err *err)
{
	return hkms_client_authenticate(svc,
	    (const unsigned char *const *)ch->der, ch->len, ch->n, cp, err);
}

static void
expect_refused(const struct chain *ch, const char *code)
{
	struct hkms_client_principal cp;
	struct hkms_err err = { 0 };

	assert_int_equal(auth(ch, &cp, &err), HKMS_E_DENIED);
	if (strcmp(hkms_err_code(&err), code) != 0)
		fail_msg("expected %s, got %s: %s", code, hkms_err_code(&err),
		    err.detail);
	assert_int_equal(hkms_err_http_status(&err),
	    strcmp(code, "client_certificate_required") == 0 ? 401 : 403);
	if (ch->n > 0)
		assert_int_equal(strlen(cp.p.thumbprint), 64);
	hkms_client_principal_free(&cp);
}

static int
audit_has(const char *needle)
{
	char path[400], line[8192];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/data/audit.log", tmpdir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "\"client.auth\"") && strstr(line, needle))
			found = 1;
	fclose(f);
	return found;
}

static int
audit_count(const char *needle)
{
	char path[400], line[8192];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/data/audit.log", tmpdir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, "\"client.auth\"") && strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void
test_auth_no_certificate(void **state)
{
	struct chain ch = { 0 };

	(void)state;
	expect_refused(&ch, "client_certificate_required");
}

static void
test_auth_registered_and_refusals(void **state)
{
	static const char *const prof[] = { "tls-server" };
	struct hkms_ops_client_grant g = { "root", 0, prof, 1 };
	struct hkms_client_principal cp;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct chain u = { 0 }, un = { 0 }, r = { 0 }, ss = { 0 }, uk = { 0 };
	struct hkms_ops_ca_client_req cr;
	struct hkms_secret *p12 = NULL;
	struct hkms_ops_client_edit_req ed;
	EVP_PKEY *k1 = soft_key(), *k2 = soft_key(), *k3 = soft_key();
	X509 *self, *sca, *sleaf;
	json_t *out = NULL;
	char thumb[65];

	(void)state;
	/* registered: a user of root, profile tls-server */
	gen_client("u1", "user", "root", &g, 1, &u);
	assert_int_equal(auth(&u, &cp, &err), HKMS_OK);
	assert_string_equal(cp.p.name, "u1");
	assert_int_equal(cp.p.kind, HKMS_PRINCIPAL_CLIENT);
	assert_int_equal(cp.p.clearance, HKMS_CLEARANCE_USER);
	assert_int_equal(cp.p.nperms, 1);
	assert_string_equal(cp.p.perms[0].ca, "root");
	assert_string_equal(cp.p.perms[0].profiles[0], "tls-server");
	assert_null(cp.p.perms[0].profiles[1]);
	assert_true(cp.p.perms[0].rights & HKMS_PERM_SIGN);
	assert_int_equal(strncmp(cp.actor, "client:", 7), 0);
	snprintf(thumb, sizeof(thumb), "%s", cp.p.thumbprint);
	hkms_client_principal_free(&cp);

	/* the cost of one authentication of a registered client (chain
	 * verification, revocation lookups, index, registration file) */
	{
		struct timespec t0, t1;
		const char *nr = getenv("UNIT_ROUNDS");
		int i, rounds = nr ? atoi(nr) : 2000;
		double us;

		/* past the racy second after the last change: the steady
		 * state of a server */
		sleep(2);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < rounds; i++) {
			assert_int_equal(auth(&u, &cp, &err), HKMS_OK);
			hkms_client_principal_free(&cp);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		    (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / rounds;
		printf("# authenticate: %.1f us per call (%d calls)\n", us,
		    rounds);
	}

	/* a change on disk is seen by the next lookup, without a restart */
	ctx(&c, &local);
	memset(&ed, 0, sizeof(ed));
	ed.clearance = "operator";
	ed.require_2fa = -1;
	assert_int_equal(hkms_ops_client_edit(&c, "u1", &ed, &out, &err),
	    HKMS_OK);
	json_decref(out);
	assert_int_equal(auth(&u, &cp, &err), HKMS_OK);
	assert_int_equal(cp.p.clearance, HKMS_CLEARANCE_OPERATOR);
	hkms_client_principal_free(&cp);

#ifdef HKMS_TEST_HOOKS
	/* expired: the same certificate six years on */
	{
		char at[32];

		snprintf(at, sizeof(at), "%lld", (long long)time(NULL) +
		    6LL * 366 * 86400);
		setenv("HKMS_TEST_CLIENT_AUTH_AT", at, 1);
		expect_refused(&u, "client_cert_expired");
		unsetenv("HKMS_TEST_CLIENT_AUTH_AT");
	}
#endif

	/* unregistered: issued by root, never registered */
	memset(&cr, 0, sizeof(cr));
	cr.ca = "root";
	cr.subject = "/CN=nobody";
	cr.passphrase = pass;
	assert_int_equal(hkms_ops_ca_issue_client(&c, &cr, &out, &p12, &err),
	    HKMS_OK);
	json_decref(out);
	chain_from_p12(&un, p12);
	hkms_secret_free(p12);
	expect_refused(&un, "client_unknown");

	/* revoked by the hkms CA that issued it */
	gen_client("r1", "operator", "root", NULL, 0, &r);
	assert_int_equal(auth(&r, &cp, &err), HKMS_OK);
	hkms_client_principal_free(&cp);
	assert_int_equal(hkms_ops_ca_revoke(&c, "root", r.serial, NULL, &out,
	    &err), HKMS_OK);
	json_decref(out);
	expect_refused(&r, "client_cert_revoked");

	/* self-signed with clientAuth */
	self = soft_cert(k1, "self", NULL, NULL, 0, "clientAuth", 0, 86400);
	chain_add(&ss, self);
	expect_refused(&ss, "client_cert_invalid");
	/* a flood of the same refusal is one audit line (and a count), not
	 * one fsync each */
	{
		char st[65];
		int k;

		assert_int_equal(auth(&ss, &cp, &err), HKMS_E_DENIED);
		snprintf(st, sizeof(st), "%s", cp.p.thumbprint);
		hkms_client_principal_free(&cp);
		for (k = 0; k < 200; k++)
			expect_refused(&ss, "client_cert_invalid");
		assert_int_equal(audit_count(st), 1);
	}

	/* a CA hkms does not know, chain presented */
	sca = soft_cert(k2, "Stranger CA", NULL, NULL, 1, NULL, 0, 86400);
	sleaf = soft_cert(k3, "stranger", sca, k2, 0, "clientAuth", 0, 86400);
	chain_add(&uk, sleaf);
	chain_add(&uk, sca);
	expect_refused(&uk, "client_cert_invalid");

	/* admin_thumbprints admit the self-signed certificate as admin,
	 * while it is valid */
	{
		struct chain tmp = { 0 };
		char pin[100], *old = cfg->admin_thumbprints;
		X509 *expired = soft_cert(k1, "old", NULL, NULL, 0,
		    "clientAuth", -3 * 86400, -86400);

		assert_int_equal(auth(&ss, &cp, &err), HKMS_E_DENIED);
		snprintf(pin, sizeof(pin), "sha256:%s", cp.p.thumbprint);
		hkms_client_principal_free(&cp);
		cfg->admin_thumbprints = pin;
		assert_int_equal(auth(&ss, &cp, &err), HKMS_OK);
		assert_int_equal(cp.p.clearance, HKMS_CLEARANCE_ADMIN);
		hkms_client_principal_free(&cp);
		chain_add(&tmp, expired);
		assert_int_equal(auth(&tmp, &cp, &err), HKMS_E_DENIED);
		snprintf(pin, sizeof(pin), "sha256:%s", cp.p.thumbprint);
		hkms_client_principal_free(&cp);
		expect_refused(&tmp, "client_cert_expired");
		cfg->admin_thumbprints = old;
		chain_free(&tmp);
		X509_free(expired);
	}

	/* deleted: unknown at once */
	assert_int_equal(hkms_ops_client_delete(&c, "u1", &err), HKMS_OK);
	expect_refused(&u, "client_unknown");

	/* every refusal is audited with the thumbprint */
	assert_true(audit_has(thumb));
	assert_true(audit_has("client_cert_revoked"));
	assert_true(audit_has("client_cert_invalid"));

	chain_free(&u);
	chain_free(&un);
	chain_free(&r);
	chain_free(&ss);
	chain_free(&uk);
	X509_free(self);
	X509_free(sca);
	X509_free(sleaf);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	EVP_PKEY_free(k3);
}

/* a certificate of an hkms CA without clientAuth (a server certificate) */
static void
test_auth_no_client_auth(void **state)
{
	struct hkms_ops_ca_sign_req sr;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct chain ch = { 0 };
	EVP_PKEY *k = soft_key();
	X509_REQ *req = X509_REQ_new();
	X509 *x;
	BIO *b = BIO_new(BIO_s_mem());
	char *pem;
	long len;
	json_t *out = NULL;

	(void)state;
	X509_REQ_set_pubkey(req, k);
	X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_ASC, (const unsigned char *)"srv.example", -1, -1, 0);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	PEM_write_bio_X509_REQ(b, req);
	len = BIO_get_mem_data(b, &pem);
	ctx(&c, &local);
	memset(&sr, 0, sizeof(sr));
	sr.ca = "root";
	sr.profile = "tls-server";
	sr.csr = (const unsigned char *)pem;
	sr.csr_len = (size_t)len;
	sr.san = "DNS:srv.example";
	if (hkms_ops_ca_sign(&c, &sr, &out, &err) != HKMS_OK)
		fail_msg("sign: %s", err.detail);
	pem = (char *)json_string_value(json_object_get(out, "pem"));
	BIO_free(b);
	b = BIO_new_mem_buf(pem, -1);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	assert_non_null(x);
	chain_add(&ch, x);
	expect_refused(&ch, "client_cert_invalid");
	chain_free(&ch);
	X509_free(x);
	BIO_free(b);
	json_decref(out);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

/* a collection of two certificates is one client: each authenticates as it */
static void
test_auth_collection(void **state)
{
	struct hkms_ops_ca_client_req cr;
	struct hkms_ops_client_req req;
	struct hkms_client_principal cp;
	struct hkms_secret *p12 = NULL;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	struct chain ch[2];
	json_t *out = NULL;
	char pem[16384] = "";
	const char *subj[] = { "/CN=duo-1", "/CN=duo-2" };
	int i;

	(void)state;
	ctx(&c, &local);
	memset(ch, 0, sizeof(ch));
	for (i = 0; i < 2; i++) {
		const char *p, *end;

		memset(&cr, 0, sizeof(cr));
		cr.ca = "other";
		cr.subject = subj[i];
		cr.passphrase = pass;
		assert_int_equal(hkms_ops_ca_issue_client(&c, &cr, &out, &p12,
		    &err), HKMS_OK);
		/* the leaf's PEM: the first block of the chain */
		p = json_string_value(json_object_get(out, "pem"));
		end = strstr(p, "-----END CERTIFICATE-----");
		assert_non_null(end);
		strncat(pem, p, (size_t)(end - p) + 26);
		strcat(pem, "\n");
		chain_from_p12(&ch[i], p12);
		hkms_secret_free(p12);
		json_decref(out);
	}
	memset(&req, 0, sizeof(req));
	req.name = "duo";
	req.clearance = "operator";
	req.cert = (const unsigned char *)pem;
	req.cert_len = strlen(pem);
	if (hkms_ops_client_add(&c, &req, &out, &err) != HKMS_OK)
		fail_msg("add: %s: %s", hkms_err_code(&err), err.detail);
	assert_int_equal(json_array_size(json_object_get(out, "thumbprints")),
	    2);
	json_decref(out);
	for (i = 0; i < 2; i++) {
		assert_int_equal(auth(&ch[i], &cp, &err), HKMS_OK);
		assert_string_equal(cp.p.name, "duo");
		assert_int_equal(cp.p.clearance, HKMS_CLEARANCE_OPERATOR);
		hkms_client_principal_free(&cp);
		chain_free(&ch[i]);
	}
}

/* ---- authorization ---- */

static const char *
authz(const struct hkms_principal *p, const char *op, const char *ca,
    const char *profile)
{
	static char code[64];
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;

	ctx(&c, p);
	if (hkms_ops_authorize(&c, op, ca, profile, &err) == HKMS_OK)
		return "ok";
	assert_int_equal(err.rc, HKMS_E_DENIED);
	assert_int_equal(hkms_err_http_status(&err), 403);
	snprintf(code, sizeof(code), "%s", hkms_err_code(&err));
	return code;
}

static void
client_principal(struct hkms_principal *p, const char *name,
    enum hkms_clearance cl, const struct hkms_permission *perms, size_t n)
{
	memset(p, 0, sizeof(*p));
	p->kind = HKMS_PRINCIPAL_CLIENT;
	p->name = name;
	p->clearance = cl;
	p->perms = perms;
	p->nperms = n;
}

static void
test_authorize_table(void **state)
{
	static const char *const prof[] = { "tls-server", NULL };
	const struct hkms_permission signer = { "root", HKMS_PERM_SIGN |
	    HKMS_PERM_READ, prof, NULL };
	const struct hkms_permission reader = { "root", HKMS_PERM_READ, NULL,
	    NULL };
	struct hkms_principal admin, oper, user, user2, anon, ruser, tfa;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	(void)state;
	client_principal(&admin, "adm", HKMS_CLEARANCE_ADMIN, NULL, 0);
	client_principal(&oper, "ops", HKMS_CLEARANCE_OPERATOR, NULL, 0);
	client_principal(&user, "usr", HKMS_CLEARANCE_USER, &signer, 1);
	client_principal(&ruser, "rdr", HKMS_CLEARANCE_USER, &reader, 1);
	client_principal(&user2, "usr2", HKMS_CLEARANCE_USER, NULL, 0);
	client_principal(&anon, "anonymous", HKMS_CLEARANCE_NONE, NULL, 0);
	client_principal(&tfa, "tfa", HKMS_CLEARANCE_ADMIN, NULL, 0);
	tfa.require_2fa = 1;

	/* admin row: clients, tokens */
	assert_string_equal(authz(&admin, "client.add", NULL, NULL), "ok");
	assert_string_equal(authz(&admin, "token.init", NULL, NULL), "ok");
	assert_string_equal(authz(&oper, "client.add", NULL, NULL),
	    "clearance_too_low");
	assert_string_equal(authz(&oper, "ca.delete", NULL, NULL),
	    "clearance_too_low");
	assert_string_equal(authz(&user, "client.list", NULL, NULL),
	    "clearance_too_low");
	/* operator row: keys, CAs, truststore, audit read */
	assert_string_equal(authz(&oper, "key.generate", NULL, NULL), "ok");
	assert_string_equal(authz(&oper, "ca.sign", "other", "tls-client"),
	    "ok");
	assert_string_equal(authz(&oper, "trust.import", NULL, NULL), "ok");
	assert_string_equal(authz(&oper, "audit.verify", NULL, NULL), "ok");
	assert_string_equal(authz(&admin, "ca.revoke", "root", NULL), "ok");
	assert_string_equal(authz(&user, "key.generate", NULL, NULL),
	    "clearance_too_low");
	assert_string_equal(authz(&user, "ca.revoke", "root", NULL),
	    "clearance_too_low");
	/* user row: sign with granted CA and profile, read granted CA */
	assert_string_equal(authz(&user, "ca.sign", "root", "tls-server"),
	    "ok");
	assert_string_equal(authz(&user, "ca.sign", "other", "tls-server"),
	    "ca_not_granted");
	assert_string_equal(authz(&user, "ca.sign", "root", "tls-client"),
	    "profile_not_granted");
	assert_string_equal(authz(&user2, "ca.sign", "root", "tls-server"),
	    "ca_not_granted");
	assert_string_equal(authz(&ruser, "ca.sign", "root", "tls-server"),
	    "ca_not_granted");
	assert_string_equal(authz(&ruser, "ca.show", "root", NULL), "ok");
	assert_string_equal(authz(&ruser, "ca.show", "other", NULL),
	    "ca_not_granted");
	assert_string_equal(authz(&user, "ca.list", NULL, NULL), "ok");
	/* public */
	assert_string_equal(authz(&anon, "health", NULL, NULL), "ok");
	assert_string_equal(authz(&anon, "ca.crl_get", "root", NULL),
	    "ok");
	assert_string_equal(authz(&anon, "ca.list", NULL, NULL),
	    "clearance_too_low");
	/* an op not in the table needs admin */
	assert_string_equal(authz(&oper, "nonsense.op", NULL, NULL),
	    "clearance_too_low");
	assert_string_equal(authz(&admin, "nonsense.op", NULL, NULL), "ok");
	/* 2FA: refused until a second factor was checked */
	assert_string_equal(authz(&tfa, "ca.list", NULL, NULL),
	    "second_factor_required");
	tfa.second_factor = 1;
	assert_string_equal(authz(&tfa, "ca.list", NULL, NULL), "ok");
	/* the local operator and no principal: admin */
	assert_string_equal(authz(&local, "client.delete", NULL, NULL), "ok");
	assert_int_equal(hkms_ops_authorize(NULL, "client.delete", NULL, NULL,
	    &err), HKMS_OK);

	/* the operations really ask: a user cannot list keys, an operator
	 * cannot list clients; a user may read its own registration only */
	ctx(&c, &user);
	assert_int_equal(hkms_ops_key_list(&c, &out, &err), HKMS_E_DENIED);
	assert_string_equal(hkms_err_code(&err), "clearance_too_low");
	ctx(&c, &oper);
	assert_int_equal(hkms_ops_client_list(&c, &out, &err), HKMS_E_DENIED);
	{
		static const char *const none[] = { NULL };
		struct hkms_ops_client_grant g = { "root", 0, NULL, 0 };
		struct chain ch = { 0 };
		struct hkms_principal self;

		(void)none;
		gen_client("self1", "user", "root", &g, 1, &ch);
		client_principal(&self, "self1", HKMS_CLEARANCE_USER, NULL, 0);
		ctx(&c, &self);
		assert_int_equal(hkms_ops_client_show(&c, "self1", &out, &err),
		    HKMS_OK);
		json_decref(out);
		assert_int_equal(hkms_ops_client_show(&c, "admin", &out, &err),
		    HKMS_E_DENIED);
		chain_free(&ch);
	}
}

/* docs/api.md "Authorization" lists exactly the table's rows */
static void
test_authorize_docs(void **state)
{
	const char *ops[256], *least[256];
	const char *src = getenv("HKMS_SRC");
	char path[512], line[1024], op[128], cl[64];
	size_t n, i, found = 0;
	int in = 0;
	FILE *f;

	(void)state;
	if (src == NULL)
		skip();
	n = ops_authz_rows(ops, least, 256);
	snprintf(path, sizeof(path), "%s/docs/api.md", src);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "## Authorization", 16) == 0) {
			in = 1;
			continue;
		}
		if (in && strncmp(line, "## ", 3) == 0)
			break;
		if (!in || sscanf(line, "| `%127[^`]` | %63[a-z] |", op,
		    cl) != 2)
			continue;
		for (i = 0; i < n; i++)
			if (strcmp(ops[i], op) == 0)
				break;
		if (i == n)
			fail_msg("docs/api.md lists '%s', the table does not",
			    op);
		if (strcmp(least[i], cl) != 0)
			fail_msg("'%s': docs say %s, the table %s", op, cl,
			    least[i]);
		found++;
	}
	fclose(f);
	assert_int_equal(found, n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_no_certificate),
		cmocka_unit_test(test_auth_registered_and_refusals),
		cmocka_unit_test(test_auth_no_client_auth),
		cmocka_unit_test(test_auth_collection),
		cmocka_unit_test(test_authorize_table),
		cmocka_unit_test(test_authorize_docs),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
