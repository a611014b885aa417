/*
 * Describe a certificate as JSON (include/hkms/certio.h): every field a
 * certificate screen shows, in one flat object that `cert show`, `trust
 * show` and the HTTP API print as they are. Values that a certificate
 * does not carry are JSON null, never missing keys, so clients can rely
 * on the shape. Every ASN.1 field is treated as possibly absent or empty.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/util.h"
#include "hkms/x509.h"

/* RFC 2253 order and escaping, but UTF-8 kept as is (not \XX escaped). */
#define NAME_FLAGS (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)

char *
hkms_certio_name_str(const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL, *s = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	if (name != NULL && X509_NAME_print_ex(bio, name, 0, NAME_FLAGS) < 0)
		goto out;
	n = BIO_get_mem_data(bio, &p);
	if (n < 0 || (s = malloc((size_t)n + 1)) == NULL)
		goto out;
	if (n > 0)	/* an empty name leaves p NULL */
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
out:
	BIO_free(bio);
	return s;
}

enum hkms_rc
hkms_certio_time(const ASN1_TIME *t, int64_t *out, struct hkms_err *err)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_certificate",
		    "malformed time in certificate");
	}
	*out = (int64_t)timegm(&tm);
	return HKMS_OK;
}

enum hkms_rc
hkms_certio_thumbprint(X509 *cert, char out[HKMS_CERTIO_THUMB_SIZE],
    struct hkms_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (cert == NULL || !X509_digest(cert, EVP_sha256(), md, &n) ||
	    n != 32) {
		out[0] = '\0';
		return hkms_err_crypto(err, "cannot hash certificate");
	}
	memcpy(out, "sha256:", 7);
	hkms_hex(md, n, 0, out + 7);
	return HKMS_OK;
}

/* Upper-case colon hex, like `openssl x509 -fingerprint`, of the DER
 * certificate der/len (X509_digest would encode the certificate again). */
static json_t *
fingerprint(const unsigned char *der, int len, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	char hex[3 * EVP_MAX_MD_SIZE + 1];
	unsigned int n = 0;
	char *p;

	if (!EVP_Digest(der, (size_t)len, d, &n, md, NULL))
		return json_null();
	hkms_hex(d, n, ':', hex);
	for (p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	return json_string(hex);
}

static json_t *
jstr_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* First entry of nid in name as UTF-8, or null. */
static json_t *
name_entry(const X509_NAME *name, int nid)
{
	int i = X509_NAME_get_index_by_NID(name, nid, -1);
	const ASN1_STRING *s;
	unsigned char *utf8 = NULL;
	json_t *j;
	int n;

	if (i < 0)
		return json_null();
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	if (s == NULL || (n = ASN1_STRING_to_UTF8(&utf8, s)) < 0)
		return json_null();
	j = json_stringn((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return j != NULL ? j : json_null();
}

static json_t *
name_json(const X509_NAME *name)
{
	char *s = hkms_certio_name_str(name);
	json_t *j = jstr_or_null(s);

	free(s);
	return j;
}

static json_t *
ia5_json(const char *prefix, const ASN1_IA5STRING *s)
{
	char buf[512];

	if (s == NULL || s->data == NULL)
		return NULL;
	/* an embedded NUL ends the string: show what precedes it */
	snprintf(buf, sizeof(buf), "%s:%.*s", prefix, s->length,
	    (const char *)s->data);
	return json_string(buf);
}

static json_t *
ip_json(const ASN1_OCTET_STRING *ip)
{
	char addr[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 4];

	if (ip == NULL || (ip->length != 4 && ip->length != 16))
		return json_string("IP:<invalid>");
	if (inet_ntop(ip->length == 4 ? AF_INET : AF_INET6, ip->data, addr,
	    sizeof(addr)) == NULL)
		return json_string("IP:<invalid>");
	snprintf(buf, sizeof(buf), "IP:%s", addr);
	return json_string(buf);
}

static json_t *
sans_json(const GENERAL_NAMES *gens, json_t **first_email)
{
	json_t *arr = json_array();
	char *dn;
	int i;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		json_t *j = NULL;

		switch (g->type) {
		case GEN_DNS:
			j = ia5_json("DNS", g->d.dNSName);
			break;
		case GEN_IPADD:
			j = ip_json(g->d.iPAddress);
			break;
		case GEN_EMAIL:
			j = ia5_json("email", g->d.rfc822Name);
			if (j != NULL && *first_email == NULL)
				*first_email = json_string(
				    json_string_value(j) + 6);
			break;
		case GEN_URI:
			j = ia5_json("URI", g->d.uniformResourceIdentifier);
			break;
		case GEN_DIRNAME:
			if ((dn = hkms_certio_name_str(g->d.dirn)) != NULL) {
				char buf[512];

				snprintf(buf, sizeof(buf), "DirName:%s", dn);
				j = json_string(buf);
				free(dn);
			}
			break;
		case GEN_RID: {
			char oid[128];

			if (OBJ_obj2txt(oid, sizeof(oid), g->d.rid, 1) > 0) {
				char buf[160];

				snprintf(buf, sizeof(buf), "RID:%s", oid);
				j = json_string(buf);
			}
			break;
		}
		default:
			j = json_string("othername:<unsupported>");
			break;
		}
		if (j != NULL)
			json_array_append_new(arr, j);
	}
	ERR_clear_error();
	return arr;
}

static json_t *
key_usage_json(X509 *cert)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} ku[] = {
		{ KU_DIGITAL_SIGNATURE, "digitalSignature" },
		{ KU_NON_REPUDIATION, "nonRepudiation" },
		{ KU_KEY_ENCIPHERMENT, "keyEncipherment" },
		{ KU_DATA_ENCIPHERMENT, "dataEncipherment" },
		{ KU_KEY_AGREEMENT, "keyAgreement" },
		{ KU_KEY_CERT_SIGN, "keyCertSign" },
		{ KU_CRL_SIGN, "cRLSign" },
		{ KU_ENCIPHER_ONLY, "encipherOnly" },
		{ KU_DECIPHER_ONLY, "decipherOnly" },
	};
	json_t *arr = json_array();
	uint32_t bits;
	size_t i;

	if (!(X509_get_extension_flags(cert) & EXFLAG_KUSAGE))
		return arr;
	bits = X509_get_key_usage(cert);
	for (i = 0; i < sizeof(ku) / sizeof(ku[0]); i++)
		if (bits & ku[i].bit)
			json_array_append_new(arr, json_string(ku[i].name));
	return arr;
}

static json_t *
eku_json(X509 *cert)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage,
	    NULL, NULL);
	json_t *arr = json_array();
	char oid[128];
	int i, nid;

	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);

		nid = OBJ_obj2nid(o);
		if (nid != NID_undef)
			json_array_append_new(arr,
			    json_string(OBJ_nid2sn(nid)));
		else if (OBJ_obj2txt(oid, sizeof(oid), o, 1) > 0)
			json_array_append_new(arr, json_string(oid));
	}
	EXTENDED_KEY_USAGE_free(eku);
	ERR_clear_error();
	return arr;
}

static json_t *
octets_json(const ASN1_OCTET_STRING *s)
{
	char *hex;
	json_t *j;

	if (s == NULL || s->length <= 0)
		return json_null();
	if ((hex = malloc(2 * (size_t)s->length + 1)) == NULL)
		return json_null();
	hkms_hex(s->data, (size_t)s->length, 0, hex);
	j = json_string(hex);
	free(hex);
	return j;
}

/* The serial as hkms_x509_serial_to_hex writes it (the key of the
 * issued index); OpenSSL's hex for what that refuses (negative, > 20
 * octets). */
static json_t *
serial_json(X509 *cert)
{
	char buf[HKMS_X509_SERIAL_HEX_MAX];
	BIGNUM *bn;
	char *hex;
	json_t *j;

	if (hkms_x509_serial_to_hex(X509_get0_serialNumber(cert), buf, NULL) ==
	    HKMS_OK)
		return json_string(buf);
	ERR_clear_error();
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	j = jstr_or_null(hex);

	OPENSSL_free(hex);
	BN_free(bn);
	return j;
}

static void
describe_key(EVP_PKEY *pub, json_t *o)
{
	struct hkms_x509_key_info ki;
	char type[32];
	size_t i;

	if (pub == NULL || hkms_x509_key_describe(pub, &ki, NULL) != HKMS_OK) {
		json_object_set_new(o, "key_type", json_null());
		json_object_set_new(o, "key_bits", json_null());
		json_object_set_new(o, "curve", json_null());
		ERR_clear_error();
		return;
	}
	snprintf(type, sizeof(type), "%s", ki.type);
	if (strcmp(ki.type, "other") == 0 &&
	    EVP_PKEY_get0_type_name(pub) != NULL) {
		snprintf(type, sizeof(type), "%s",
		    EVP_PKEY_get0_type_name(pub));
		for (i = 0; type[i]; i++)
			if (type[i] >= 'a' && type[i] <= 'z')
				type[i] = (char)(type[i] - 'a' + 'A');
	}
	json_object_set_new(o, "key_type", json_string(type));
	json_object_set_new(o, "key_bits", json_integer(ki.bits));
	json_object_set_new(o, "curve",
	    ki.curve[0] ? json_string(ki.curve) : json_null());
}

/* signature_algorithm and digest_algorithm of signature nid signid; cert
 * (may be NULL) refines the digest for RSA-PSS. */
static void
describe_sig(X509 *cert, int signid, json_t *o)
{
	int mdnid = NID_undef, pknid = NID_undef;
	char md[32];
	size_t i;

	json_object_set_new(o, "signature_algorithm", signid != NID_undef ?
	    json_string(OBJ_nid2ln(signid)) : json_null());
	if (cert != NULL) {
		if (!X509_get_signature_info(cert, &mdnid, &pknid, NULL, NULL))
			mdnid = NID_undef;
	} else if (!OBJ_find_sigid_algs(signid, &mdnid, &pknid))
		mdnid = NID_undef;
	if (mdnid == NID_undef) {
		ERR_clear_error();
		json_object_set_new(o, "digest_algorithm", json_null());
		return;
	}
	snprintf(md, sizeof(md), "%s", OBJ_nid2sn(mdnid));
	for (i = 0; md[i]; i++)
		if (md[i] >= 'a' && md[i] <= 'z')
			md[i] = (char)(md[i] - 'a' + 'A');
	/* "SHA2-256" style names would surprise; OBJ short names are SHA256 */
	json_object_set_new(o, "digest_algorithm", json_string(md));
}

static json_t *
time_json(int64_t t)
{
	char buf[32];

	return json_string(hkms_time_str(t, buf));
}

/* The PEM of the DER certificate der/len: PEM_write_bio_X509's output,
 * without encoding the certificate again. */
static json_t *
pem_json(const unsigned char *der, int len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;
	json_t *j = json_null();

	if (bio != NULL && PEM_write_bio(bio, PEM_STRING_X509, "", der,
	    len) > 0 &&
	    (n = BIO_get_mem_data(bio, &p)) > 0) {
		json_decref(j);
		j = json_stringn(p, (size_t)n);
	}
	BIO_free(bio);
	return j != NULL ? j : json_null();
}

/* common_name, san, subject and its parts, in the order of the shape. */
static void
describe_subject(const X509_NAME *subj, const GENERAL_NAMES *gens,
    json_t *o)
{
	json_t *email = NULL;

	json_object_set_new(o, "common_name", name_entry(subj,
	    NID_commonName));
	json_object_set_new(o, "subject", name_json(subj));
	json_object_set_new(o, "san", sans_json(gens, &email));
	json_object_set_new(o, "country", name_entry(subj, NID_countryName));
	json_object_set_new(o, "state", name_entry(subj,
	    NID_stateOrProvinceName));
	json_object_set_new(o, "city", name_entry(subj, NID_localityName));
	json_object_set_new(o, "organization", name_entry(subj,
	    NID_organizationName));
	json_object_set_new(o, "organizational_unit", name_entry(subj,
	    NID_organizationalUnitName));
	if (X509_NAME_get_index_by_NID(subj, NID_pkcs9_emailAddress, -1) >= 0) {
		json_decref(email);
		email = name_entry(subj, NID_pkcs9_emailAddress);
	}
	json_object_set_new(o, "email", email != NULL ? email : json_null());
}

/* Whole days from now to t, rounded down; negative once past. */
static json_int_t
days_left(int64_t t, int64_t now)
{
	return t >= now ? (t - now) / 86400 : -((now - t + 86399) / 86400);
}

enum hkms_rc
hkms_certio_describe_req(X509_REQ *req, json_t **out, struct hkms_err *err)
{
	static const char *const none[] = { "issuer", "serial", "not_before",
	    "not_after", "lifetime_days", "days_left", "fingerprint_sha1",
	    "fingerprint_sha256", "thumbprint", "subject_key_id",
	    "authority_key_id", "self_signed", "is_ca", "path_len", NULL };
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens = NULL;
	BIO *bio = NULL;
	char *p = NULL;
	json_t *o;
	size_t i;
	long n;
	int k;

	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no CSR given");
	if ((o = json_object()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	exts = X509_REQ_get_extensions(req);
	k = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
	if (k >= 0)
		gens = X509V3_EXT_d2i(X509v3_get_ext(exts, k));
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	describe_subject(X509_REQ_get_subject_name(req), gens, o);
	GENERAL_NAMES_free(gens);
	json_object_set_new(o, "version", json_integer(
	    X509_REQ_get_version(req) + 1));
	describe_sig(NULL, X509_REQ_get_signature_nid(req), o);
	describe_key(X509_REQ_get0_pubkey(req), o);
	for (i = 0; none[i] != NULL; i++)
		json_object_set_new(o, none[i], json_null());
	json_object_set_new(o, "key_usage", json_array());
	json_object_set_new(o, "extended_key_usage", json_array());
	json_object_set_new(o, "status", json_string("csr"));
	if ((bio = BIO_new(BIO_s_mem())) != NULL &&
	    PEM_write_bio_X509_REQ(bio, req) &&
	    (n = BIO_get_mem_data(bio, &p)) > 0)
		json_object_set_new(o, "pem", json_stringn(p, (size_t)n));
	else
		json_object_set_new(o, "pem", json_null());
	BIO_free(bio);
	ERR_clear_error();
	*out = o;
	return HKMS_OK;
}

enum hkms_rc
hkms_certio_describe(X509 *cert, int64_t now, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *o = NULL;
	GENERAL_NAMES *gens;
	const X509_NAME *subj;
	char thumb[HKMS_CERTIO_THUMB_SIZE];
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdlen = 0;
	int64_t nb = 0, na = 0;
	long pathlen;
	uint32_t xflags;
	int derlen;

	if (cert == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "no certificate given");
	if (now == 0)
		now = (int64_t)time(NULL);
	if ((rc = hkms_certio_time(X509_get0_notBefore(cert), &nb, err)) !=
	    HKMS_OK || (rc = hkms_certio_time(X509_get0_notAfter(cert), &na,
	    err)) != HKMS_OK)
		goto out;
	/* encoded once for the digests and the PEM (a certificate just
	 * built keeps no encoding: each i2d encodes it all again) */
	if ((derlen = i2d_X509(cert, &der)) <= 0 ||
	    !EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_sha256(),
	    NULL) || mdlen != 32) {
		rc = hkms_err_crypto(err, "cannot hash certificate");
		goto out;
	}
	memcpy(thumb, "sha256:", 7);
	hkms_hex(md, mdlen, 0, thumb + 7);
	if ((o = json_object()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	subj = X509_get_subject_name(cert);
	/* computes and caches the extension flags (thread-safe in 3.0) */
	xflags = X509_get_extension_flags(cert);

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	describe_subject(subj, gens, o);
	GENERAL_NAMES_free(gens);
	json_object_set_new(o, "issuer", name_json(
	    X509_get_issuer_name(cert)));
	json_object_set_new(o, "serial", serial_json(cert));
	json_object_set_new(o, "version", json_integer(
	    X509_get_version(cert) + 1));
	describe_sig(cert, X509_get_signature_nid(cert), o);
	describe_key(X509_get0_pubkey(cert), o);
	json_object_set_new(o, "not_before", time_json(nb));
	json_object_set_new(o, "not_after", time_json(na));
	json_object_set_new(o, "lifetime_days", json_integer(
	    (na - nb + 43200) / 86400));
	json_object_set_new(o, "days_left", json_integer(days_left(na, now)));
	json_object_set_new(o, "fingerprint_sha1", fingerprint(der, derlen,
	    EVP_sha1()));
	json_object_set_new(o, "fingerprint_sha256", fingerprint(der, derlen,
	    EVP_sha256()));
	json_object_set_new(o, "thumbprint", json_string(thumb));
	json_object_set_new(o, "subject_key_id", octets_json(
	    X509_get0_subject_key_id(cert)));
	json_object_set_new(o, "authority_key_id", octets_json(
	    X509_get0_authority_key_id(cert)));
	json_object_set_new(o, "self_signed", json_boolean(
	    X509_self_signed(cert, 0) == 1));
	json_object_set_new(o, "is_ca", json_boolean((xflags & EXFLAG_CA)
	    != 0));
	pathlen = X509_get_pathlen(cert);
	json_object_set_new(o, "path_len", (xflags & EXFLAG_CA) &&
	    pathlen >= 0 ? json_integer(pathlen) : json_null());
	json_object_set_new(o, "key_usage", key_usage_json(cert));
	json_object_set_new(o, "extended_key_usage", eku_json(cert));
	json_object_set_new(o, "status", json_string(now < nb ?
	    "not-yet-valid" : now > na ? "expired" : "valid"));
	json_object_set_new(o, "pem", pem_json(der, derlen));
	ERR_clear_error();
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	OPENSSL_free(der);
	json_decref(o);
	return rc;
}
