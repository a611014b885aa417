/*
 * pathgen OUTDIR: one chain per path rule (issue 14b), good and bad,
 * built with OpenSSL's API (not by hkms) so that a chain can break
 * exactly one rule: a v1 certificate with extensions, a negative serial,
 * a non-critical basic constraints, a SHA-224 signature ...
 *
 * Each case is OUTDIR/<name>/anchor.pem (the self-signed root to trust)
 * and OUTDIR/<name>/chain.pem (leaf first, then the intermediates); the
 * manifest OUTDIR/cases.tsv has one line per case:
 *   name purpose host webpki rfc5280 go rustls pyca
 * where webpki and rfc5280 are the verdict `hkms trust verify --profile`
 * must give ("ok" or the rule it must name), go is the verdict of Go's
 * crypto/x509 (x509.Verify, Go 1.19), rustls that of rustls-webpki's
 * path validation as its source states it and pyca that of
 * pyca/cryptography's x509.verification (48) ("ok", "reject"; "n/a" where
 * it has no such check); tests/e2e/trust_pathrules.sh checks all but
 * rustls (not installed: its column is documentation) and docs/truststore.md
 * ("Path rules") explains every difference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define MAXEXT 12
#define MAXCA 9

struct cspec {
	const char *cn;
	const char *key;	/* NULL/"ec" P-256, "rsa2048", "rsa1024",
				 * "p224", "k256", "ed25519" */
	const char *md;		/* digest of the signature made ON this
				 * certificate; NULL = sha256 */
	int v1;			/* version 1 */
	const char *serial;	/* hex, may start with '-'; NULL = random */
	int nb, na;		/* validity in days from now; 0,0 = -1,+365 */
	const char *ext[MAXEXT];	/* "name=value" for X509V3_EXT_nconf */
};

struct tcase {
	const char *name, *purpose, *host;
	const char *webpki, *rfc5280, *go, *rustls, *pyca;
	struct cspec ca[MAXCA];	/* intermediates, top (below root) first */
	int nca;		/* -1: the standard intermediate */
	struct cspec leaf;
};

#define CA_EXT "basicConstraints=critical,CA:TRUE", \
	"keyUsage=critical,keyCertSign,cRLSign", \
	"subjectKeyIdentifier=hash", "AKI"
#define LEAF_BASE "basicConstraints=critical,CA:FALSE", \
	"subjectKeyIdentifier=hash", "AKI"
#define SRV_EXT LEAF_BASE, "keyUsage=critical,digitalSignature", \
	"extendedKeyUsage=serverAuth"
#define SAN_OK "subjectAltName=DNS:good.example.com"
#define HOST "good.example.com"
#define STD_CA { "Std Intermediate", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } }
#define LEAF(...) { "good.example.com", NULL, NULL, 0, NULL, 0, 0, \
	{ __VA_ARGS__ } }

static const struct tcase cases[] = {
	/* good chains */
	{ "good_server", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, LEAF(SRV_EXT, SAN_OK) },
	{ "good_client", "client", "", "ok", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, { "client one", NULL, NULL, 0, NULL, 0, 0,
	    { LEAF_BASE, "keyUsage=critical,digitalSignature",
	    "extendedKeyUsage=clientAuth", "subjectAltName=email:one@example.com" } } },
	{ "good_rsa_ed25519", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { { "RSA Intermediate", "rsa2048", NULL, 0, NULL, 0, 0,
	    { CA_EXT } } }, 1,
	    { "good.example.com", "ed25519", NULL, 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "good_no_intermediate", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { { 0 } }, 0, LEAF(SRV_EXT, SAN_OK) },
	/* version */
	{ "v1_leaf_with_extensions", "server", HOST, "version_v3",
	    "version_v3", "reject", "reject", "reject", { STD_CA }, 1,
	    { "good.example.com", NULL, NULL, 1, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "v1_leaf_no_extensions", "any", "", "version_v3", "ok", "ok", "reject", "n/a",
	    { STD_CA }, 1,
	    { "good.example.com", NULL, NULL, 1, NULL, 0, 0, { NULL } } },
	{ "v1_intermediate", "server", HOST, "ca_basic_constraints",
	    "ca_basic_constraints", "reject", "reject", "reject",
	    { { "V1 Intermediate", NULL, NULL, 1, NULL, 0, 0, { NULL } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	/* serial numbers */
	{ "serial_negative", "server", HOST, "serial_number", "ok", "ok", "ok", "reject",
	    { STD_CA }, 1, { "good.example.com", NULL, NULL, 0, "-1234", 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "serial_zero", "server", HOST, "serial_number", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, { "good.example.com", NULL, NULL, 0, "0", 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "serial_21_octets", "server", HOST, "serial_number",
	    "serial_number", "ok", "ok", "ok", { STD_CA }, 1,
	    { "good.example.com", NULL, NULL, 0,
	    "7f0102030405060708090a0b0c0d0e0f1011121314", 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "serial_20_octets", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, { "good.example.com", NULL, NULL, 0,
	    "7f0102030405060708090a0b0c0d0e0f10111213", 0, 0,
	    { SRV_EXT, SAN_OK } } },
	/* basic constraints, key usage, key identifiers of CAs */
	{ "ca_no_basic_constraints", "server", HOST, "ca_basic_constraints",
	    "ca_basic_constraints", "reject", "reject", "reject",
	    { { "No BC Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "keyUsage=critical,keyCertSign,cRLSign",
	    "subjectKeyIdentifier=hash",
	    "AKI" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	{ "ca_basic_constraints_not_critical", "server", HOST,
	    "ca_basic_constraints_critical", "ca_basic_constraints_critical",
	    "ok", "ok", "reject", { { "BC Noncrit Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "basicConstraints=CA:TRUE",
	    "keyUsage=critical,keyCertSign,cRLSign",
	    "subjectKeyIdentifier=hash",
	    "AKI" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	{ "ca_no_key_usage", "server", HOST, "ca_key_usage", "ca_key_usage",
	    "ok", "ok", "reject", { { "No KU Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "basicConstraints=critical,CA:TRUE",
	    "subjectKeyIdentifier=hash",
	    "AKI" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	{ "ca_key_usage_no_certsign", "server", HOST, "ca_key_usage",
	    "ca_key_usage", "reject", "ok", "reject",
	    { { "No CertSign Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "basicConstraints=critical,CA:TRUE",
	    "keyUsage=critical,digitalSignature,cRLSign",
	    "subjectKeyIdentifier=hash",
	    "AKI" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	{ "ca_no_subject_key_identifier", "server", HOST,
	    "subject_key_identifier", "subject_key_identifier", "ok", "ok", "ok",
	    { { "No SKI Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "basicConstraints=critical,CA:TRUE",
	    "keyUsage=critical,keyCertSign,cRLSign",
	    "AKI" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	{ "leaf_no_authority_key_identifier", "server", HOST,
	    "authority_key_identifier", "authority_key_identifier", "ok", "ok", "reject",
	    { STD_CA }, 1, LEAF("basicConstraints=critical,CA:FALSE",
	    "keyUsage=critical,digitalSignature",
	    "extendedKeyUsage=serverAuth", SAN_OK) },
	{ "pathlen_exceeded", "server", HOST, "path_len_constraint",
	    "path_len_constraint", "reject", "reject", "reject",
	    { { "Pathlen0 Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { "basicConstraints=critical,CA:TRUE,pathlen:0",
	    "keyUsage=critical,keyCertSign,cRLSign",
	    "subjectKeyIdentifier=hash",
	    "AKI" } },
	    { "Sub Intermediate", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } } },
	    2, LEAF(SRV_EXT, SAN_OK) },
	{ "depth_7_intermediates", "server", HOST, "max_depth", "ok", "ok", "reject", "ok",
	    { { "I1", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I2", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I3", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I4", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I5", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I6", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } },
	    { "I7", NULL, NULL, 0, NULL, 0, 0, { CA_EXT } } },
	    7, LEAF(SRV_EXT, SAN_OK) },
	/* the leaf's role */
	{ "leaf_is_ca", "server", HOST, "leaf_not_ca", "ok", "ok", "reject", "reject",
	    { STD_CA }, 1, LEAF("basicConstraints=critical,CA:TRUE",
	    "keyUsage=critical,digitalSignature,keyCertSign",
	    "extendedKeyUsage=serverAuth", "subjectKeyIdentifier=hash",
	    "AKI", SAN_OK) },
	{ "leaf_key_usage_certsign", "server", HOST, "leaf_key_usage",
	    "leaf_key_usage", "ok", "ok", "reject", { STD_CA }, 1, LEAF(LEAF_BASE,
	    "keyUsage=critical,digitalSignature,keyCertSign",
	    "extendedKeyUsage=serverAuth", SAN_OK) },
	{ "leaf_key_usage_no_digital_signature", "server", HOST,
	    "leaf_key_usage", "ok", "ok", "ok", "ok", { STD_CA }, 1, LEAF(LEAF_BASE,
	    "keyUsage=critical,keyAgreement", "extendedKeyUsage=serverAuth",
	    SAN_OK) },
	/* extended key usage */
	{ "leaf_no_eku", "server", HOST, "eku_required", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, LEAF(LEAF_BASE,
	    "keyUsage=critical,digitalSignature", SAN_OK) },
	{ "leaf_wrong_eku", "server", HOST, "eku_purpose", "eku_purpose",
	    "reject", "reject", "reject", { STD_CA }, 1, LEAF(LEAF_BASE,
	    "keyUsage=critical,digitalSignature",
	    "extendedKeyUsage=clientAuth", SAN_OK) },
	{ "leaf_any_eku", "server", HOST, "eku_purpose", "eku_purpose", "ok", "reject", "reject",
	    { STD_CA }, 1, LEAF(LEAF_BASE,
	    "keyUsage=critical,digitalSignature",
	    "extendedKeyUsage=anyExtendedKeyUsage", SAN_OK) },
	{ "ca_eku_inconsistent", "server", HOST, "eku_purpose",
	    "eku_purpose", "reject", "reject", "reject",
	    { { "Client-only Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "extendedKeyUsage=clientAuth" } } }, 1,
	    LEAF(SRV_EXT, SAN_OK) },
	/* names */
	{ "cn_only_no_san", "server", HOST, "san_required", "san_required",
	    "reject", "reject", "reject", { STD_CA }, 1, LEAF(SRV_EXT) },
	{ "host_not_in_san", "server", HOST, "host_name", "host_name",
	    "reject", "reject", "reject", { STD_CA }, 1,
	    LEAF(SRV_EXT, "subjectAltName=DNS:other.example.com") },
	{ "server_no_san_no_host", "server", "", "san_required", "ok", "ok", "ok", "n/a",
	    { STD_CA }, 1, LEAF(SRV_EXT) },
	/* name constraints, each name form */
	{ "nc_dns_violation", "server", "evil.example.org",
	    "name_constraints", "name_constraints", "reject", "reject", "reject",
	    { { "NC DNS Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;DNS:example.com" } } },
	    1, LEAF(SRV_EXT, "subjectAltName=DNS:evil.example.org") },
	{ "nc_dns_ok", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { { "NC DNS Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;DNS:example.com" } } },
	    1, LEAF(SRV_EXT, SAN_OK) },
	{ "nc_ip_violation", "server", HOST, "name_constraints",
	    "name_constraints", "reject", "reject", "reject",
	    { { "NC IP Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;IP:10.0.0.0/255.0.0.0" } } },
	    1, LEAF(SRV_EXT, "subjectAltName=DNS:good.example.com,IP:192.0.2.1") },
	{ "nc_email_violation", "client", "", "name_constraints",
	    "name_constraints", "reject", "reject", "reject",
	    { { "NC Email Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;email:example.com" } } },
	    1, { "client two", NULL, NULL, 0, NULL, 0, 0, { LEAF_BASE,
	    "keyUsage=critical,digitalSignature",
	    "extendedKeyUsage=clientAuth",
	    "subjectAltName=email:two@evil.example.org" } } },
	{ "nc_uri_violation", "server", HOST, "name_constraints",
	    "name_constraints", "reject", "ok", "reject",
	    { { "NC URI Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;URI:.example.com" } } },
	    1, LEAF(SRV_EXT,
	    "subjectAltName=DNS:good.example.com,URI:https://evil.example.org/x") },
	{ "nc_unknown_form_critical", "server", HOST,
	    "name_constraints_form", "name_constraints_form", "reject", "ok", "ok",
	    { { "NC RID Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=critical,permitted;RID:1.2.3.4" } } },
	    1, LEAF(SRV_EXT, SAN_OK) },
	{ "nc_unknown_form_not_critical", "server", HOST, "ok", "ok", "ok", "ok", "ok",
	    { { "NC RID Intermediate", NULL, NULL, 0, NULL, 0, 0,
	    { CA_EXT, "nameConstraints=permitted;RID:1.2.3.4" } } },
	    1, LEAF(SRV_EXT, SAN_OK) },
	/* algorithms and keys */
	{ "sig_sha1", "server", HOST, "signature_algorithm",
	    "signature_algorithm", "reject", "reject", "reject", { STD_CA }, 1,
	    { "good.example.com", NULL, "sha1", 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "sig_md5", "server", HOST, "signature_algorithm",
	    "signature_algorithm", "reject", "reject", "reject",
	    { { "RSA Intermediate", "rsa2048", NULL, 0, NULL, 0, 0,
	    { CA_EXT } } }, 1,
	    { "good.example.com", NULL, "md5", 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "sig_sha224", "server", HOST, "signature_algorithm", "ok",
	    "reject", "reject", "reject", { STD_CA }, 1,
	    { "good.example.com", NULL, "sha224", 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "key_rsa1024", "server", HOST, "weak_key", "weak_key", "ok", "ok", "ok",
	    { STD_CA }, 1, { "good.example.com", "rsa1024", NULL, 0, NULL, 0,
	    0, { SRV_EXT, SAN_OK } } },
	{ "key_p224", "server", HOST, "weak_key", "ok", "ok", "ok", "ok",
	    { STD_CA }, 1, { "good.example.com", "p224", NULL, 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	{ "key_secp256k1", "server", HOST, "weak_key", "ok", "reject", "ok", "ok",
	    { STD_CA }, 1, { "good.example.com", "k256", NULL, 0, NULL, 0, 0,
	    { SRV_EXT, SAN_OK } } },
	/* validity, extensions */
	{ "expired", "server", HOST, "validity", "validity", "reject", "reject", "reject",
	    { STD_CA }, 1, { "good.example.com", NULL, NULL, 0, NULL, -30, -1,
	    { SRV_EXT, SAN_OK } } },
	{ "not_yet_valid", "server", HOST, "validity", "validity", "reject", "reject", "reject",
	    { STD_CA }, 1, { "good.example.com", NULL, NULL, 0, NULL, 2, 30,
	    { SRV_EXT, SAN_OK } } },
	{ "unknown_critical_extension", "server", HOST,
	    "critical_extensions", "critical_extensions", "reject", "reject", "reject",
	    { STD_CA }, 1, LEAF(SRV_EXT, SAN_OK,
	    "1.3.6.1.4.1.55555.1=critical,DER:05:00") },
};

static EVP_PKEY *
mkkey(const char *kind)
{
	if (kind == NULL || strcmp(kind, "ec") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (strcmp(kind, "p224") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224");
	if (strcmp(kind, "k256") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	if (strcmp(kind, "ed25519") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (strcmp(kind, "rsa2048") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (strcmp(kind, "rsa1024") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	return NULL;
}

static void
die(const char *what, const char *name)
{
	fprintf(stderr, "pathgen: %s (%s)\n", what, name);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
set_serial(X509 *x, const char *hex, const char *name)
{
	BIGNUM *bn = NULL;
	unsigned char r[16];

	if (hex == NULL) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			die("rand", name);
		r[0] &= 0x7f;
		r[0] |= 0x01;
		bn = BN_bin2bn(r, sizeof(r), NULL);
	} else if (BN_hex2bn(&bn, hex) == 0) {
		die("serial", name);
	}
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		die("serial", name);
	BN_free(bn);
}

static void
add_aki(X509 *x, X509 *issuer, const char *name)
{
	AUTHORITY_KEYID *a = AUTHORITY_KEYID_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (a == NULL || (a->keyid = ASN1_OCTET_STRING_new()) == NULL ||
	    !X509_pubkey_digest(issuer, EVP_sha1(), md, &len) ||
	    !ASN1_OCTET_STRING_set(a->keyid, md, (int)len) ||
	    !X509_add1_ext_i2d(x, NID_authority_key_identifier, a, 0, 0))
		die("authority key identifier", name);
	AUTHORITY_KEYID_free(a);
}

/* the certificate of spec s with key k, signed by issuer (ik) or by
 * itself when issuer is NULL */
static X509 *
mkcert(const struct cspec *s, EVP_PKEY *k, X509 *issuer, EVP_PKEY *ik)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	const EVP_MD *md = NULL;
	char buf[512], *v;
	int i, nb = s->nb, na = s->na;

	if (x == NULL || n == NULL)
		die("nomem", s->cn);
	if (nb == 0 && na == 0) {
		nb = -1;
		na = 365;
	}
	X509_set_version(x, X509_VERSION_3);
	set_serial(x, s->serial, s->cn);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"hkms pathgen", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)s->cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : n);
	X509_time_adj_ex(X509_getm_notBefore(x), nb, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), na, 0, NULL);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; i < MAXEXT && s->ext[i] != NULL; i++) {
		if (strcmp(s->ext[i], "AKI") == 0) {
			/* the issuer's key id, computed as its SKI would be
			 * (RFC 5280 4.2.1.2 method 1), so that an issuer
			 * without SKI still gets a leaf with an AKI */
			add_aki(x, issuer != NULL ? issuer : x, s->cn);
			continue;
		}
		snprintf(buf, sizeof(buf), "%s", s->ext[i]);
		if ((v = strchr(buf, '=')) == NULL)
			die("extension", s->ext[i]);
		*v++ = '\0';
		if ((e = X509V3_EXT_nconf(NULL, &ctx, buf, v)) == NULL ||
		    !X509_add_ext(x, e, -1))
			die("extension", s->ext[i]);
		X509_EXTENSION_free(e);
	}
	if (s->v1)
		X509_set_version(x, X509_VERSION_1);
	if (EVP_PKEY_get_base_id(ik) != EVP_PKEY_ED25519) {
		md = EVP_get_digestbyname(s->md != NULL ? s->md : "sha256");
		if (md == NULL)
			die("digest", s->cn);
	}
	if (X509_sign(x, ik, md) <= 0)
		die("sign", s->cn);
	X509_NAME_free(n);
	return x;
}

static void
put(const char *dir, const char *file, X509 *x, const char *mode)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, mode)) == NULL || !PEM_write_X509(f, x))
		die("write", path);
	fclose(f);
}

int
main(int argc, char **argv)
{
	static const struct cspec root = { "Pathgen Root", NULL, NULL, 0,
	    NULL, 0, 0, { "basicConstraints=critical,CA:TRUE",
	    "keyUsage=critical,keyCertSign,cRLSign",
	    "subjectKeyIdentifier=hash" } };
	static const struct cspec stdca = STD_CA;
	const struct tcase *t;
	EVP_PKEY *rk, *sk, *k[MAXCA + 1];
	X509 *rc, *sc, *c[MAXCA + 1];
	char dir[1024];
	FILE *m;
	size_t ti;
	int i, nca;

	if (argc != 2) {
		fprintf(stderr, "usage: pathgen OUTDIR\n");
		return 2;
	}
	mkdir(argv[1], 0755);
	snprintf(dir, sizeof(dir), "%s/cases.tsv", argv[1]);
	if ((m = fopen(dir, "w")) == NULL)
		die("write", dir);
	/* one root for all; the standard intermediate is shared too */
	if ((rk = mkkey(NULL)) == NULL || (sk = mkkey(NULL)) == NULL)
		die("keygen", "root");
	rc = mkcert(&root, rk, NULL, rk);
	sc = mkcert(&stdca, sk, rc, rk);
	for (ti = 0; ti < sizeof(cases) / sizeof(cases[0]); ti++) {
		t = &cases[ti];
		snprintf(dir, sizeof(dir), "%s/%s", argv[1], t->name);
		mkdir(dir, 0755);
		put(dir, "anchor.pem", rc, "w");
		nca = t->nca;
		memset(c, 0, sizeof(c));
		memset(k, 0, sizeof(k));
		for (i = 0; i < nca; i++) {
			if (strcmp(t->ca[i].cn, stdca.cn) == 0) {
				c[i] = sc;
				k[i] = sk;
				continue;
			}
			if ((k[i] = mkkey(t->ca[i].key)) == NULL)
				die("keygen", t->ca[i].cn);
			c[i] = mkcert(&t->ca[i], k[i],
			    i == 0 ? rc : c[i - 1], i == 0 ? rk : k[i - 1]);
		}
		if ((k[nca] = mkkey(t->leaf.key)) == NULL)
			die("keygen", t->name);
		c[nca] = mkcert(&t->leaf, k[nca], nca == 0 ? rc : c[nca - 1],
		    nca == 0 ? rk : k[nca - 1]);
		put(dir, "chain.pem", c[nca], "w");
		for (i = nca - 1; i >= 0; i--)
			put(dir, "chain.pem", c[i], "a");
		for (i = 0; i <= nca; i++) {
			if (c[i] == sc)
				continue;
			X509_free(c[i]);
			EVP_PKEY_free(k[i]);
		}
		fprintf(m, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t->name,
		    t->purpose, t->host[0] != '\0' ? t->host : "-", t->webpki,
		    t->rfc5280, t->go, t->rustls, t->pyca);
	}
	fclose(m);
	X509_free(sc);
	X509_free(rc);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(rk);
	return 0;
}
