/*
 * Test certificates made in memory with software keys (tests only): a
 * small factory shared by test_certio.c and test_trust.c.
 */
#ifndef HKMS_TEST_CERTIO_FIXTURES_H
#define HKMS_TEST_CERTIO_FIXTURES_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tcert {
	const char *cn;
	X509 *issuer;		/* NULL = self-signed */
	EVP_PKEY *issuer_key;
	int ca;
	int pathlen;		/* -1 = none */
	const char *san;	/* "DNS:a,IP:1.2.3.4" or NULL */
	const char *eku;	/* "serverAuth" or NULL */
	const char *nc;		/* "permitted;DNS:.example.com" or NULL */
	long nb_days;		/* not before, days from now (may be < 0) */
	long na_days;		/* not after, days from now */
};

static EVP_PKEY *
tkey(void)
{
	return EVP_EC_gen("P-256");
}

static void
text_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		abort();
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

/* Make a certificate for key per t; the caller frees it. */
static X509 *
tcert_make(const struct tcert *t, EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char buf[256];
	static long serial = 1000;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x),
	    __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED));
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"hkms test", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)t->cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, t->issuer ? X509_get_subject_name(t->issuer)
	    : n);
	X509_gmtime_adj(X509_getm_notBefore(x), t->nb_days * 86400L);
	X509_gmtime_adj(X509_getm_notAfter(x), t->na_days * 86400L);
	X509_set_pubkey(x, key);
	if (t->ca) {
		if (t->pathlen >= 0)
			snprintf(buf, sizeof(buf), "critical,CA:TRUE,"
			    "pathlen:%d", t->pathlen);
		else
			snprintf(buf, sizeof(buf), "critical,CA:TRUE");
		text_ext(x, t->issuer, NID_basic_constraints, buf);
		text_ext(x, t->issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
	} else {
		text_ext(x, t->issuer, NID_basic_constraints, "CA:FALSE");
		text_ext(x, t->issuer, NID_key_usage,
		    "critical,digitalSignature,keyEncipherment");
	}
	text_ext(x, t->issuer, NID_subject_key_identifier, "hash");
	if (t->issuer)
		text_ext(x, t->issuer, NID_authority_key_identifier,
		    "keyid");
	if (t->san)
		text_ext(x, t->issuer, NID_subject_alt_name, t->san);
	if (t->eku)
		text_ext(x, t->issuer, NID_ext_key_usage, t->eku);
	if (t->nc)
		text_ext(x, t->issuer, NID_name_constraints, t->nc);
	X509_sign(x, t->issuer_key ? t->issuer_key : key, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

/* A three-level PKI: root, intermediate (pathlen 0), leaf for
 * www.example.com with serverAuth. */
struct tpki {
	EVP_PKEY *root_key, *int_key, *leaf_key;
	X509 *root, *inter, *leaf;
};

static void
tpki_make(struct tpki *p)
{
	struct tcert r = { "Test Root", NULL, NULL, 1, -1, NULL, NULL, NULL,
	    -1, 3650 };
	struct tcert i = { "Test Intermediate", NULL, NULL, 1, 0, NULL, NULL,
	    NULL, -1, 1825 };
	struct tcert l = { "www.example.com", NULL, NULL, 0, -1,
	    "DNS:www.example.com,IP:192.0.2.1", "serverAuth", NULL, -1,
	    365 };

	p->root_key = tkey();
	p->int_key = tkey();
	p->leaf_key = tkey();
	p->root = tcert_make(&r, p->root_key);
	i.issuer = p->root;
	i.issuer_key = p->root_key;
	p->inter = tcert_make(&i, p->int_key);
	l.issuer = p->inter;
	l.issuer_key = p->int_key;
	p->leaf = tcert_make(&l, p->leaf_key);
}

static void
tpki_free(struct tpki *p)
{
	X509_free(p->root);
	X509_free(p->inter);
	X509_free(p->leaf);
	EVP_PKEY_free(p->root_key);
	EVP_PKEY_free(p->int_key);
	EVP_PKEY_free(p->leaf_key);
}

static STACK_OF(X509) *
tstack(X509 *a, X509 *b, X509 *c)
{
	STACK_OF(X509) *s = sk_X509_new_null();
	X509 *v[3] = { a, b, c };
	int i;

	for (i = 0; i < 3; i++) {
		if (v[i] == NULL)
			continue;
		X509_up_ref(v[i]);
		sk_X509_push(s, v[i]);
	}
	return s;
}

#endif
