/*
 * Certificate input/output (include/hkms/certio.h): the one place where
 * certificates handed to us from outside are parsed, and where lists of
 * certificates are encoded back out.
 *
 * Parsing is strict about the envelope and lenient about what OpenSSL
 * itself writes: PEM may carry explanatory text before each block (as
 * `openssl pkcs12 -nokeys` and `openssl x509 -text` produce) but nothing
 * but white space after the last one; DER must be exactly one object.
 * Format detection: PEM if a "-----BEGIN " line is present, otherwise DER
 * tried as X.509, then PKCS#7, then PKCS#12, then a private key (to give
 * a clear "private_key_not_certificate" instead of "bad_certificate").
 * Private keys are only ever decoded by hkms_certio_parse_key(), for key
 * import; hkms_certio_parse() notes that one is present and skips it.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/util.h"

#define BAD_CERT "bad_certificate"

static const struct {
	const char *name;
	enum hkms_certio_format fmt;
} format_names[] = {
	{ "pem", HKMS_CERTIO_FMT_PEM },
	{ "der", HKMS_CERTIO_FMT_DER },
	{ "p7b", HKMS_CERTIO_FMT_P7B },
	{ "p7c", HKMS_CERTIO_FMT_P7B },
	{ "pkcs7", HKMS_CERTIO_FMT_P7B },
	{ "p7b-der", HKMS_CERTIO_FMT_P7B_DER },
	{ "p12", HKMS_CERTIO_FMT_P12 },
	{ "pfx", HKMS_CERTIO_FMT_P12 },
	{ "pkcs12", HKMS_CERTIO_FMT_P12 },
};

const char *
hkms_certio_format_name(enum hkms_certio_format fmt)
{
	switch (fmt) {
	case HKMS_CERTIO_FMT_PEM: return "pem";
	case HKMS_CERTIO_FMT_DER: return "der";
	case HKMS_CERTIO_FMT_P7B: return "p7b";
	case HKMS_CERTIO_FMT_P7B_DER: return "p7b-der";
	case HKMS_CERTIO_FMT_P12: return "p12";
	case HKMS_CERTIO_FMT_UNKNOWN: break;
	}
	return "unknown";
}

enum hkms_rc
hkms_certio_format_parse(const char *name, enum hkms_certio_format *out,
    struct hkms_err *err)
{
	size_t i;

	if (name == NULL || out == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_format",
		    "no format given");
	for (i = 0; i < sizeof(format_names) / sizeof(format_names[0]); i++) {
		if (strcasecmp(name, format_names[i].name) == 0) {
			*out = format_names[i].fmt;
			return HKMS_OK;
		}
	}
	return hkms_err_setc(err, HKMS_E_INVALID, "bad_format",
	    "unknown format '%s': use pem, der, p7b, p7b-der or p12", name);
}

void
hkms_certio_chain_free(STACK_OF(X509) *certs)
{
	sk_X509_pop_free(certs, X509_free);
}

STACK_OF(X509) *
hkms_certio_chain_dup(STACK_OF(X509) *certs)
{
	STACK_OF(X509) *dup = sk_X509_new_null();
	int i;

	if (dup == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (!sk_X509_push(dup, x)) {
			sk_X509_pop_free(dup, X509_free);
			return NULL;
		}
		X509_up_ref(x);
	}
	return dup;
}

/* Push x onto st; takes x over (freed on failure). */
static enum hkms_rc
push_cert(STACK_OF(X509) *st, X509 *x, struct hkms_err *err)
{
	if (!sk_X509_push(st, x)) {
		X509_free(x);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	return HKMS_OK;
}

static int
is_blank(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isspace(p[i]) && p[i] != '\0')
			return 0;
	return 1;
}

static int
pem_is_key(const char *name)
{
	return strcmp(name, PEM_STRING_PKCS8INF) == 0 ||
	    strcmp(name, PEM_STRING_PKCS8) == 0 ||
	    strcmp(name, PEM_STRING_RSA) == 0 ||
	    strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0 ||
	    strcmp(name, PEM_STRING_DSA) == 0 ||
	    strcmp(name, "OPENSSH PRIVATE KEY") == 0;
}

static int
pem_is_cert(const char *name)
{
	return strcmp(name, PEM_STRING_X509) == 0 ||
	    strcmp(name, PEM_STRING_X509_OLD) == 0 ||
	    strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
}

static int
pem_is_p7(const char *name)
{
	return strcmp(name, PEM_STRING_PKCS7) == 0 ||
	    strcmp(name, "CERTIFICATE CHAIN") == 0;
}

/* Exactly one DER X.509 certificate in buf. */
static X509 *
der_cert(const unsigned char *buf, long len, int trusted)
{
	const unsigned char *p = buf;
	X509 *x;

	x = trusted ? d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);
	if (x != NULL && p != buf + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Append the certificates of a PKCS#7 signedData (DER) to st. */
static enum hkms_rc
p7_certs(const unsigned char *buf, long len, STACK_OF(X509) *st,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	const unsigned char *p = buf;
	STACK_OF(X509) *certs = NULL;
	PKCS7 *p7;
	int i;

	p7 = d2i_PKCS7(NULL, &p, len);
	if (p7 == NULL || p != buf + len) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "cannot decode PKCS#7 structure");
		goto out;
	}
	if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
		certs = p7->d.sign->cert;
	else if (PKCS7_type_is_signedAndEnveloped(p7) &&
	    p7->d.signed_and_enveloped != NULL)
		certs = p7->d.signed_and_enveloped->cert;
	if (sk_X509_num(certs) <= 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "PKCS#7 structure holds no certificate");
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		X509_up_ref(x);
		if ((rc = push_cert(st, x, err)) != HKMS_OK)
			goto out;
	}
	rc = HKMS_OK;
out:
	ERR_clear_error();
	PKCS7_free(p7);
	return rc;
}

/*
 * PEM input: walk the blocks with PEM_read_bio, which skips text before a
 * "-----BEGIN" line. After the last block only white space may follow.
 */
static enum hkms_rc
parse_pem(const unsigned char *data, size_t len, STACK_OF(X509) *st,
    int *has_key, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	size_t rest = len;
	int n = 0, keys = 0;

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		name = header = NULL;
		der = NULL;
		if (!PEM_read_bio(bio, &name, &header, &der, &derlen)) {
			unsigned long e = ERR_peek_last_error();

			ERR_clear_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
			    (n > 0 || keys > 0))
				break;
			rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
			    n + keys == 0 ? "no PEM certificate found" :
			    "PEM block %d is truncated or corrupt",
			    n + keys + 1);
			goto out;
		}
		rest = (size_t)BIO_pending(bio);
		if (pem_is_key(name)) {
			keys++;
			continue;
		}
		if (pem_is_cert(name)) {
			X509 *x = der_cert(der, derlen,
			    strcmp(name, PEM_STRING_X509_TRUSTED) == 0);

			if (x == NULL) {
				ERR_clear_error();
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    BAD_CERT, "PEM block %d (%s) is not a "
				    "valid certificate", n + keys + 1, name);
				goto out;
			}
			/* hkms keeps its own trust: drop OpenSSL aux data */
			X509_trust_clear(x);
			X509_reject_clear(x);
			if ((rc = push_cert(st, x, err)) != HKMS_OK)
				goto out;
			n++;
			continue;
		}
		if (pem_is_p7(name)) {
			if ((rc = p7_certs(der, derlen, st, err)) != HKMS_OK)
				goto out;
			n++;
			continue;
		}
		rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "PEM block %d is a '%s', not a certificate", n + keys + 1,
		    name);
		goto out;
	}
	if (!is_blank(data + len - rest, rest)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "unexpected data after the last PEM block");
		goto out;
	}
	if (n == 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID,
		    "private_key_not_certificate", "the input is a private "
		    "key, not a certificate");
		goto out;
	}
	*has_key = keys > 0;
	rc = HKMS_OK;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	BIO_free(bio);
	return rc;
}

/* The legacy provider, for PKCS#12 files made with RC2/3DES (OpenSSL 1.x,
 * Windows). Loaded once per process, on demand, beside the default one. */
static OSSL_PROVIDER *legacy;

static void
legacy_unload(void)
{
	OSSL_PROVIDER_unload(legacy);
}

static void
legacy_once(void)
{
	if ((legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1)) != NULL)
		atexit(legacy_unload);
	ERR_clear_error();
}

static void
load_legacy(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, legacy_once);
}

/*
 * Key-derivation cost: the parameters come from the file, so a hostile
 * PKCS#12 or encrypted key could ask for 2^31 PBKDF2 rounds or a scrypt
 * with a huge p and stall the caller for minutes (found by fuzz_pkcs12).
 * Every derivation is checked before it runs (docs/hsm.md, "Key import"):
 *  - PBKDF2, PKCS#12/PKCS#5 v1 PBEs, the PKCS#12 MAC: at most
 *    CERTIO_MAX_ITER iterations (common tools use 2048 to 600,000);
 *  - scrypt: N a power of two, 2..2^20; r 1..32; p 1..16; and the memory
 *    128*N*r at most 32 MiB, OpenSSL's own default limit (openssl pkcs8
 *    -scrypt makes N=16384 r=8 p=1: 16 MiB, about 0.1 s). The worst
 *    accepted, 32 MiB with p=16, takes about 2 s.
 * A PBES2 whose KDF is neither, or whose parameters do not parse, is
 * refused too (OpenSSL would fail on it anyway).
 */
#define CERTIO_MAX_ITER 1000000L
#define CERTIO_SCRYPT_MAX_N (1ULL << 20)
#define CERTIO_SCRYPT_MAX_R 32ULL
#define CERTIO_SCRYPT_MAX_P 16ULL
#define CERTIO_SCRYPT_MAX_MEM (32ULL * 1024 * 1024)
/* Each encrypted safe of a PKCS#12 is one derivation (two: the check
 * opens it, then PKCS12_parse): a file of many, each within the cap, took
 * 0.7 s per safe (20 safes: 15 s, in 8 KB). Tools write one or two. */
#define CERTIO_P12_MAX_ENC_SAFES 4

static enum hkms_rc
iter_check(long iter, const char *what, struct hkms_err *err)
{
	if (iter < 1 || iter > CERTIO_MAX_ITER)
		return hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s asks for %ld key-derivation iterations (at most "
		    "%ld are accepted)", what, iter, CERTIO_MAX_ITER);
	return HKMS_OK;
}

static enum hkms_rc
scrypt_check(const ASN1_STRING *seq, const char *what, struct hkms_err *err)
{
	const unsigned char *p = ASN1_STRING_get0_data(seq);
	SCRYPT_PARAMS *sp = d2i_SCRYPT_PARAMS(NULL, &p,
	    ASN1_STRING_length(seq));
	uint64_t n = 0, r = 0, par = 0;
	enum hkms_rc rc = HKMS_OK;

	if (sp == NULL || !ASN1_INTEGER_get_uint64(&n, sp->costParameter) ||
	    !ASN1_INTEGER_get_uint64(&r, sp->blockSize) ||
	    !ASN1_INTEGER_get_uint64(&par, sp->parallelizationParameter)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s has scrypt parameters out of range or malformed",
		    what);
	} else if (n < 2 || (n & (n - 1)) != 0 || n > CERTIO_SCRYPT_MAX_N ||
	    r < 1 || r > CERTIO_SCRYPT_MAX_R || par < 1 ||
	    par > CERTIO_SCRYPT_MAX_P ||
	    128 * n * r > CERTIO_SCRYPT_MAX_MEM) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s asks for scrypt N=%llu r=%llu p=%llu (at most "
		    "N=%llu, r=%llu, p=%llu and %llu MiB are accepted)", what,
		    (unsigned long long)n, (unsigned long long)r,
		    (unsigned long long)par,
		    (unsigned long long)CERTIO_SCRYPT_MAX_N,
		    (unsigned long long)CERTIO_SCRYPT_MAX_R,
		    (unsigned long long)CERTIO_SCRYPT_MAX_P,
		    (unsigned long long)(CERTIO_SCRYPT_MAX_MEM >> 20));
	}
	SCRYPT_PARAMS_free(sp);
	return rc;
}

/* The KDF of a PBES2: PBKDF2 or scrypt, parameters within the limits. */
static enum hkms_rc
pbes2_check(const ASN1_STRING *seq, const char *what, struct hkms_err *err)
{
	const unsigned char *p = ASN1_STRING_get0_data(seq);
	PBE2PARAM *pbe2 = d2i_PBE2PARAM(NULL, &p, ASN1_STRING_length(seq));
	PBKDF2PARAM *kdf = NULL;
	const ASN1_STRING *ks;
	enum hkms_rc rc;
	int knid;

	if (pbe2 == NULL || pbe2->keyfunc == NULL ||
	    pbe2->keyfunc->parameter == NULL ||
	    pbe2->keyfunc->parameter->type != V_ASN1_SEQUENCE) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s has malformed PBES2 parameters", what);
		goto out;
	}
	ks = pbe2->keyfunc->parameter->value.sequence;
	knid = OBJ_obj2nid(pbe2->keyfunc->algorithm);
	if (knid == NID_id_scrypt) {
		rc = scrypt_check(ks, what, err);
	} else if (knid == NID_id_pbkdf2) {
		p = ASN1_STRING_get0_data(ks);
		if ((kdf = d2i_PBKDF2PARAM(NULL, &p, ASN1_STRING_length(ks))) ==
		    NULL)
			rc = hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
			    "the %s has malformed PBKDF2 parameters", what);
		else
			rc = iter_check(ASN1_INTEGER_get(kdf->iter), what, err);
	} else {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s uses an unknown key-derivation function", what);
	}
out:
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
	return rc;
}

/* The cost of a password-based encryption algorithm: PBES2 (PBKDF2 or
 * scrypt), or a PKCS#12/PKCS#5 v1 PBE. Other algorithms pass. */
static enum hkms_rc
alg_iter_check(const X509_ALGOR *alg, const char *what, struct hkms_err *err)
{
	const ASN1_OBJECT *obj = NULL;
	const void *pval = NULL;
	int ptype = 0, nid;
	const ASN1_STRING *seq;
	const unsigned char *p;
	enum hkms_rc rc = HKMS_OK;

	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	nid = OBJ_obj2nid(obj);
	if (nid == NID_pbes2 && (ptype != V_ASN1_SEQUENCE || pval == NULL)) {
		ERR_clear_error();
		return hkms_err_setc(err, HKMS_E_INVALID, "too_costly",
		    "the %s has malformed PBES2 parameters", what);
	}
	if (ptype != V_ASN1_SEQUENCE || pval == NULL)
		return HKMS_OK;
	seq = pval;
	if (nid == NID_pbes2) {
		rc = pbes2_check(seq, what, err);
	} else {
		PBEPARAM *pbe;

		p = ASN1_STRING_get0_data(seq);
		pbe = d2i_PBEPARAM(NULL, &p, ASN1_STRING_length(seq));
		if (pbe != NULL && pbe->iter != NULL)
			rc = iter_check(ASN1_INTEGER_get(pbe->iter), what, err);
		PBEPARAM_free(pbe);
	}
	ERR_clear_error();
	return rc;
}

/* Every shrouded key bag in bags, and in nested safe-contents bags. */
static enum hkms_rc
bags_cost_check(const STACK_OF(PKCS12_SAFEBAG) *bags, int depth,
    struct hkms_err *err)
{
	const X509_ALGOR *alg = NULL;
	enum hkms_rc rc = HKMS_OK;
	int j;

	if (depth > 16)
		return hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT, "the "
		    "PKCS#12 file nests safe contents too deeply");
	for (j = 0; j < sk_PKCS12_SAFEBAG_num(bags) && rc == HKMS_OK; j++) {
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
		const X509_SIG *sig;

		if (PKCS12_SAFEBAG_get_nid(bag) == NID_safeContentsBag) {
			rc = bags_cost_check(PKCS12_SAFEBAG_get0_safes(bag),
			    depth + 1, err);
			continue;
		}
		if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag ||
		    (sig = PKCS12_SAFEBAG_get0_pkcs8(bag)) == NULL)
			continue;
		X509_SIG_get0(sig, &alg, NULL);
		rc = alg_iter_check(alg, "PKCS#12 key", err);
	}
	return rc;
}

/*
 * Check every derivation of a PKCS#12 before it runs. Without decrypt:
 * the MAC, each encrypted safe's own algorithm, and the key bags of the
 * plain safes. With decrypt (after the MAC and those checks passed): each
 * encrypted safe is opened with pass, as PKCS12_parse will, and the key
 * bags inside it are checked before PKCS12_parse derives their keys.
 */
static enum hkms_rc
p12_cost_check(PKCS12 *p12, int decrypt, const char *pass,
    struct hkms_err *err)
{
	STACK_OF(PKCS7) *safes = NULL;
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	const ASN1_INTEGER *iter = NULL;
	enum hkms_rc rc = HKMS_OK;
	int i, nenc = 0;

	if (!decrypt && PKCS12_mac_present(p12)) {
		PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
		if ((rc = iter_check(iter ? ASN1_INTEGER_get(iter) : 1,
		    "PKCS#12 MAC", err)) != HKMS_OK)
			return rc;
	}
	if ((safes = PKCS12_unpack_authsafes(p12)) == NULL) {
		ERR_clear_error();
		return HKMS_OK;	/* PKCS12_parse reports the damage */
	}
	for (i = 0; i < sk_PKCS7_num(safes) && rc == HKMS_OK; i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);

		bags = NULL;
		if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
			if (++nenc > CERTIO_P12_MAX_ENC_SAFES) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "too_costly", "the PKCS#12 file has more "
				    "than %d encrypted safes (each is a key "
				    "derivation)", CERTIO_P12_MAX_ENC_SAFES);
				continue;
			}
			if (!decrypt) {
				if (p7->d.encrypted != NULL &&
				    p7->d.encrypted->enc_data != NULL)
					rc = alg_iter_check(p7->d.encrypted->
					    enc_data->algorithm,
					    "PKCS#12 encryption", err);
				continue;
			}
			bags = PKCS12_unpack_p7encdata(p7, pass, -1);
			if (bags == NULL) {
				/* RC2 and friends: PKCS12_parse retries with
				 * the legacy provider, so check with it too */
				ERR_clear_error();
				load_legacy();
				bags = PKCS12_unpack_p7encdata(p7, pass, -1);
			}
		} else if (!decrypt &&
		    OBJ_obj2nid(p7->type) == NID_pkcs7_data) {
			bags = PKCS12_unpack_p7data(p7);
		}
		if (bags != NULL)
			rc = bags_cost_check(bags, 0, err);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	sk_PKCS7_pop_free(safes, PKCS7_free);
	ERR_clear_error();
	return rc;
}

/*
 * Open a PKCS#12: check the MAC with password (NULL and "" are both tried
 * when none is given, as different tools use either; NULL first, as
 * PKCS12_parse does), then PKCS12_parse. Every key derivation's cost is
 * checked before it runs.
 */
static enum hkms_rc
p12_open(PKCS12 *p12, const char *password, EVP_PKEY **pkey, X509 **cert,
    STACK_OF(X509) **ca, struct hkms_err *err)
{
	const char *pass = password;
	enum hkms_rc rc;
	int tries;

	if ((rc = p12_cost_check(p12, 0, NULL, err)) != HKMS_OK)
		return rc;
	if (PKCS12_mac_present(p12)) {
		if (password == NULL || password[0] == '\0') {
			if (PKCS12_verify_mac(p12, NULL, 0))
				pass = NULL;
			else if (PKCS12_verify_mac(p12, "", 0))
				pass = "";
			else
				return hkms_err_setc(err, HKMS_E_INVALID,
				    "password_required", "the PKCS#12 file "
				    "is protected by a password: give it");
		} else if (!PKCS12_verify_mac(p12, password, -1)) {
			ERR_clear_error();
			return hkms_err_setc(err, HKMS_E_INVALID,
			    "bad_password", "wrong password for the PKCS#12 "
			    "file");
		}
	} else if (password == NULL || password[0] == '\0') {
		pass = NULL;	/* what PKCS12_parse decrypts with */
	}
	ERR_clear_error();
	if ((rc = p12_cost_check(p12, 1, pass, err)) != HKMS_OK)
		return rc;
	for (tries = 0; tries < 2; tries++) {
		if (PKCS12_parse(p12, pass, pkey, cert, ca))
			break;
		if (tries == 0) {
			ERR_clear_error();
			load_legacy();
			continue;
		}
		return hkms_err_crypto(err, "cannot read the PKCS#12 file");
	}
	ERR_clear_error();
	return HKMS_OK;
}

/* A DER PKCS#12: all its certificates, key's certificate first. */
static enum hkms_rc
parse_p12(PKCS12 *p12, const char *password, STACK_OF(X509) *st,
    EVP_PKEY **pkey_out, int *has_key, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;

	if ((rc = p12_open(p12, password, &pkey, &cert, &ca, err)) != HKMS_OK)
		goto out;
	if (cert != NULL) {
		rc = push_cert(st, cert, err);
		cert = NULL;	/* transferred */
		if (rc != HKMS_OK)
			goto out;
	}
	while (sk_X509_num(ca) > 0) {
		if ((rc = push_cert(st, sk_X509_shift(ca), err)) != HKMS_OK)
			goto out;
	}
	*has_key = pkey != NULL;
	if (pkey_out != NULL) {
		*pkey_out = pkey;
		pkey = NULL;	/* transferred */
	}
	rc = HKMS_OK;
out:
	EVP_PKEY_free(pkey);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	return rc;
}

static PKCS12 *
der_p12(const unsigned char *data, size_t len)
{
	const unsigned char *p = data;
	PKCS12 *p12 = d2i_PKCS12(NULL, &p, (long)len);

	if (p12 != NULL && p != data + len) {
		PKCS12_free(p12);
		p12 = NULL;
	}
	ERR_clear_error();
	return p12;
}

/* Does DER data look like a private key (plain or encrypted PKCS#8, or a
 * traditional RSA/EC key)? Only decodes the structure, never decrypts. */
static int
der_is_key(const unsigned char *data, size_t len)
{
	const unsigned char *p = data;
	X509_SIG *sig;
	PKCS8_PRIV_KEY_INFO *p8;
	EVP_PKEY *k;
	int yes = 0;

	if ((sig = d2i_X509_SIG(NULL, &p, (long)len)) != NULL)
		yes = p == data + len;
	X509_SIG_free(sig);
	p = data;
	if (!yes && (p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)len))) {
		yes = p == data + len;
		PKCS8_PRIV_KEY_INFO_free(p8);
	}
	p = data;
	if (!yes && (k = d2i_AutoPrivateKey(NULL, &p, (long)len)) != NULL) {
		yes = 1;
		EVP_PKEY_free(k);
	}
	ERR_clear_error();
	return yes;
}

static int
looks_pem(const unsigned char *data, size_t len)
{
	return memmem(data, len, "-----BEGIN ", 11) != NULL;
}

enum hkms_rc
hkms_certio_parse(const unsigned char *data, size_t len,
    const char *password, STACK_OF(X509) **out,
    struct hkms_certio_info *info, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(X509) *st = NULL;
	PKCS12 *p12 = NULL;
	struct hkms_certio_info inf = { HKMS_CERTIO_FMT_UNKNOWN, 0 };
	X509 *x;

	if (data == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no input given");
	if (len > HKMS_CERTIO_MAX_INPUT)
		return hkms_err_setc(err, HKMS_E_INVALID, "too_large",
		    "input of %zu bytes is larger than %d bytes", len,
		    HKMS_CERTIO_MAX_INPUT);
	if (len == 0 || is_blank(data, len))
		return hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "the input is empty");
	if ((st = sk_X509_new_null()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");

	if (looks_pem(data, len)) {
		inf.format = HKMS_CERTIO_FMT_PEM;
		rc = parse_pem(data, len, st, &inf.has_private_key, err);
		if (rc != HKMS_OK)
			goto out;
		if (memmem(data, len, "-----BEGIN PKCS7", 16) != NULL &&
		    memmem(data, len, "-----BEGIN CERTIFICATE", 22) == NULL)
			inf.format = HKMS_CERTIO_FMT_P7B;
	} else if ((x = der_cert(data, (long)len, 0)) != NULL) {
		inf.format = HKMS_CERTIO_FMT_DER;
		if ((rc = push_cert(st, x, err)) != HKMS_OK)
			goto out;
	} else if (p7_certs(data, (long)len, st, NULL) == HKMS_OK) {
		inf.format = HKMS_CERTIO_FMT_P7B_DER;
	} else if ((p12 = der_p12(data, len)) != NULL) {
		inf.format = HKMS_CERTIO_FMT_P12;
		rc = parse_p12(p12, password, st, NULL, &inf.has_private_key,
		    err);
		if (rc != HKMS_OK)
			goto out;
		if (sk_X509_num(st) == 0) {
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    inf.has_private_key ?
			    "private_key_not_certificate" : BAD_CERT,
			    "the PKCS#12 file holds no certificate");
			goto out;
		}
	} else if (der_is_key(data, len)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID,
		    "private_key_not_certificate", "the input is a private "
		    "key, not a certificate");
		goto out;
	} else {
		rc = hkms_err_setc(err, HKMS_E_INVALID, BAD_CERT,
		    "the input is not a certificate (PEM, DER, PKCS#7 or "
		    "PKCS#12), or it is truncated or has trailing data");
		goto out;
	}
	ERR_clear_error();
	*out = st;
	st = NULL;	/* transferred */
	if (info != NULL)
		*info = inf;
	rc = HKMS_OK;
out:
	ERR_clear_error();
	PKCS12_free(p12);
	sk_X509_pop_free(st, X509_free);
	return rc;
}

enum hkms_rc
hkms_certio_parse_file(const char *path, const char *password,
    STACK_OF(X509) **out, struct hkms_certio_info *info,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	unsigned char *buf = NULL;
	size_t len = 0;

	if (path == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no file given");
	rc = hkms_read_file(path, HKMS_CERTIO_MAX_INPUT, &buf, &len, err);
	if (rc == HKMS_OK)
		rc = hkms_certio_parse(buf, len, password, out, info, err);
	if (buf != NULL)	/* a PKCS#12 may hold a private key */
		OPENSSL_clear_free(buf, len + 1);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Private keys, for key import                                        */
/* ------------------------------------------------------------------ */

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	size_t n;

	(void)rwflag;
	if (pass == NULL)
		return -1;	/* no prompt: refuse */
	n = strlen(pass);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pass, n);
	return (int)n;
}

static int
pem_encrypted(const char *name, const char *header)
{
	return strcmp(name, PEM_STRING_PKCS8) == 0 ||
	    (header != NULL && strstr(header, "ENCRYPTED") != NULL);
}

static enum hkms_rc
key_error(int encrypted, const char *passphrase, struct hkms_err *err)
{
	ERR_clear_error();
	if (encrypted && (passphrase == NULL || passphrase[0] == '\0'))
		return hkms_err_setc(err, HKMS_E_INVALID, "password_required",
		    "the private key is encrypted: give its passphrase");
	if (encrypted)
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_password",
		    "wrong passphrase for the private key");
	return hkms_err_setc(err, HKMS_E_INVALID, "bad_key",
	    "the private key is corrupt or of an unsupported type");
}

/* One PEM key block: re-armour it and let OpenSSL pick the decoder (it
 * knows PKCS#8, encrypted PKCS#8 and the traditional forms). */
static enum hkms_rc
pem_key(const char *name, const char *header, const unsigned char *der,
    long derlen, const char *passphrase, EVP_PKEY **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIO *bio = BIO_new(BIO_s_mem());
	EVP_PKEY *k = NULL;

	/* any block that decodes as an EncryptedPrivateKeyInfo, whatever
	 * its label: OpenSSL's decoders may not go by the label */
	{
		const unsigned char *p = der;
		const X509_ALGOR *alg = NULL;
		X509_SIG *sig = d2i_X509_SIG(NULL, &p, derlen);

		if (sig != NULL) {
			X509_SIG_get0(sig, &alg, NULL);
			rc = alg_iter_check(alg, "encrypted key", err);
			X509_SIG_free(sig);
			if (rc != HKMS_OK)
				goto out;
		}
		ERR_clear_error();
	}
	if (bio == NULL ||
	    !PEM_write_bio(bio, name, header ? header : "", der, derlen)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, (void *)passphrase);
	if (k == NULL) {
		rc = key_error(pem_encrypted(name, header), passphrase, err);
		goto out;
	}
	*out = k;
	rc = HKMS_OK;
out:
	BIO_free_all(bio);
	return rc;
}

static enum hkms_rc
parse_key_pem(const unsigned char *data, size_t len, const char *passphrase,
    EVP_PKEY **key, STACK_OF(X509) *st, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	long derlen = 0;
	int blocks = 0;

	if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (;; blocks++) {
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(der);
		name = header = NULL;
		der = NULL;
		if (!PEM_read_bio(bio, &name, &header, &der, &derlen)) {
			unsigned long e = ERR_peek_last_error();

			ERR_clear_error();
			if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
			    blocks > 0)
				break;
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_key",
			    "PEM block %d is truncated or corrupt",
			    blocks + 1);
			goto out;
		}
		if (pem_is_key(name)) {
			if (*key != NULL) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "multiple_private_keys", "the input holds "
				    "more than one private key");
				goto out;
			}
			rc = pem_key(name, header, der, derlen, passphrase,
			    key, err);
			if (rc != HKMS_OK)
				goto out;
		} else if (pem_is_cert(name)) {
			X509 *x = der_cert(der, derlen,
			    strcmp(name, PEM_STRING_X509_TRUSTED) == 0);

			if (x == NULL) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    BAD_CERT, "PEM block %d is not a valid "
				    "certificate", blocks + 1);
				goto out;
			}
			if ((rc = push_cert(st, x, err)) != HKMS_OK)
				goto out;
		} else {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_key",
			    "PEM block %d is a '%s', not a key or "
			    "certificate", blocks + 1, name);
			goto out;
		}
	}
	rc = HKMS_OK;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	if (der != NULL)
		OPENSSL_clear_free(der, (size_t)derlen);
	BIO_free(bio);
	return rc;
}

static enum hkms_rc
parse_key_der(const unsigned char *data, size_t len, const char *passphrase,
    EVP_PKEY **key, STACK_OF(X509) *st, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	const unsigned char *p = data;
	PKCS12 *p12 = NULL;
	X509_SIG *sig = NULL;
	BIO *bio = NULL;
	int has_key = 0;

	if ((p12 = der_p12(data, len)) != NULL) {
		rc = parse_p12(p12, passphrase, st, key, &has_key, err);
		goto out;
	}
	if ((sig = d2i_X509_SIG(NULL, &p, (long)len)) != NULL &&
	    p == data + len) {
		const X509_ALGOR *alg = NULL;

		/* encrypted PKCS#8 */
		X509_SIG_get0(sig, &alg, NULL);
		if ((rc = alg_iter_check(alg, "encrypted key", err)) !=
		    HKMS_OK)
			goto out;
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		*key = d2i_PKCS8PrivateKey_bio(bio, NULL, pass_cb,
		    (void *)passphrase);
		rc = *key != NULL ? HKMS_OK : key_error(1, passphrase, err);
		goto out;
	}
	p = data;
	if ((*key = d2i_AutoPrivateKey(NULL, &p, (long)len)) != NULL &&
	    p == data + len) {
		rc = HKMS_OK;
		goto out;
	}
	EVP_PKEY_free(*key);
	*key = NULL;
	rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_key", "the input is not "
	    "a private key (PEM, PKCS#8 or PKCS#12)");
out:
	ERR_clear_error();
	BIO_free(bio);
	X509_SIG_free(sig);
	PKCS12_free(p12);
	return rc;
}

enum hkms_rc
hkms_certio_parse_key(const unsigned char *data, size_t len,
    const char *passphrase, EVP_PKEY **key, STACK_OF(X509) **certs,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	EVP_PKEY *k = NULL;
	STACK_OF(X509) *st = NULL;
	int i, match = -1;

	if (data == NULL || key == NULL || certs == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no input given");
	if (len > HKMS_CERTIO_MAX_INPUT)
		return hkms_err_setc(err, HKMS_E_INVALID, "too_large",
		    "input of %zu bytes is larger than %d bytes", len,
		    HKMS_CERTIO_MAX_INPUT);
	if ((st = sk_X509_new_null()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (looks_pem(data, len))
		rc = parse_key_pem(data, len, passphrase, &k, st, err);
	else
		rc = parse_key_der(data, len, passphrase, &k, st, err);
	if (rc != HKMS_OK)
		goto out;
	if (k == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "no_private_key",
		    "the input holds no private key");
		goto out;
	}
	for (i = 0; i < sk_X509_num(st) && match < 0; i++)
		if (X509_check_private_key(sk_X509_value(st, i), k) == 1)
			match = i;
	ERR_clear_error();
	if (sk_X509_num(st) > 0 && match < 0) {
		rc = hkms_err_setc(err, HKMS_E_INVALID,
		    "key_certificate_mismatch", "no certificate of the input "
		    "matches its private key");
		goto out;
	}
	if (match > 0) {
		X509 *x = sk_X509_delete(st, match);

		if (!sk_X509_unshift(st, x)) {
			X509_free(x);
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	}
	*key = k;
	k = NULL;	/* transferred */
	*certs = st;
	st = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	ERR_clear_error();
	EVP_PKEY_free(k);
	sk_X509_pop_free(st, X509_free);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* Move the content of a memory BIO into a malloc'd buffer. */
static enum hkms_rc
bio_take(BIO *bio, unsigned char **out, size_t *outlen, struct hkms_err *err)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	unsigned char *buf;

	if (n < 0)
		return hkms_err_set(err, HKMS_E_INTERNAL, "empty output");
	if ((buf = malloc((size_t)n + 1)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (n > 0)	/* an empty BIO leaves p NULL */
		memcpy(buf, p, (size_t)n);
	buf[n] = '\0';
	*out = buf;
	*outlen = (size_t)n;
	return HKMS_OK;
}

static enum hkms_rc
encode_p7(STACK_OF(X509) *certs, int pem, BIO *bio, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	PKCS7 *p7 = NULL;
	int i;

	/* A degenerate signedData, as `openssl crl2pkcs7 -nocrl` makes. */
	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed)
	    || !PKCS7_content_new(p7, NID_pkcs7_data)) {
		rc = hkms_err_crypto(err, "cannot create PKCS#7 structure");
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (!PKCS7_add_certificate(p7, sk_X509_value(certs, i))) {
			rc = hkms_err_crypto(err, "cannot add certificate to "
			    "PKCS#7 structure");
			goto out;
		}
	}
	if (!(pem ? PEM_write_bio_PKCS7(bio, p7) : i2d_PKCS7_bio(bio, p7))) {
		rc = hkms_err_crypto(err, "cannot encode PKCS#7 structure");
		goto out;
	}
	rc = HKMS_OK;
out:
	PKCS7_free(p7);
	return rc;
}

enum hkms_rc
hkms_certio_encode(STACK_OF(X509) *certs, enum hkms_certio_format fmt,
    const char *password, unsigned char **out, size_t *outlen,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	BIO *bio = NULL;
	int i;

	if (out == NULL || outlen == NULL || sk_X509_num(certs) <= 0)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "no certificate to encode");
	if (fmt == HKMS_CERTIO_FMT_P12)
		return hkms_certio_encode_p12(certs, password, NULL, out,
		    outlen, err);
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	switch (fmt) {
	case HKMS_CERTIO_FMT_PEM:
		for (i = 0; i < sk_X509_num(certs); i++) {
			if (!PEM_write_bio_X509(bio, sk_X509_value(certs, i))) {
				rc = hkms_err_crypto(err, "cannot encode "
				    "certificate %d as PEM", i + 1);
				goto out;
			}
		}
		break;
	case HKMS_CERTIO_FMT_DER:
		if (!i2d_X509_bio(bio, sk_X509_value(certs, 0))) {
			rc = hkms_err_crypto(err, "cannot encode certificate "
			    "as DER");
			goto out;
		}
		break;
	case HKMS_CERTIO_FMT_P7B:
	case HKMS_CERTIO_FMT_P7B_DER:
		rc = encode_p7(certs, fmt == HKMS_CERTIO_FMT_P7B, bio, err);
		if (rc != HKMS_OK)
			goto out;
		break;
	default:
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_format",
		    "cannot encode to format %d", (int)fmt);
		goto out;
	}
	rc = bio_take(bio, out, outlen, err);
out:
	BIO_free(bio);
	return rc;
}

enum hkms_rc
hkms_certio_encode_p12(STACK_OF(X509) *certs, const char *password,
    const char *name, unsigned char **out, size_t *outlen,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	const char *pass = password != NULL && password[0] != '\0' ?
	    password : NULL;
	char fname[96];
	int i, len;

	if (out == NULL || outlen == NULL || sk_X509_num(certs) <= 0)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "no certificate to encode");
	/*
	 * PKCS12_create() with a NULL key does this too, but cannot name
	 * each certificate; build the bags ourselves. Without a password the
	 * bag is plain data (nid -1) and no MAC is added (OpenSSL 3 would
	 * compute a MAC over an empty password, which some readers reject).
	 */
	for (i = 0; i < sk_X509_num(certs); i++) {
		PKCS12_SAFEBAG *bag = PKCS12_add_cert(&bags,
		    sk_X509_value(certs, i));

		if (bag == NULL) {
			rc = hkms_err_crypto(err, "cannot add certificate %d "
			    "to PKCS#12", i + 1);
			goto out;
		}
		if (name != NULL) {
			if (i == 0)
				snprintf(fname, sizeof(fname), "%s", name);
			else
				snprintf(fname, sizeof(fname), "%s-%d", name,
				    i + 1);
			if (!PKCS12_add_friendlyname(bag, fname, -1)) {
				rc = hkms_err_crypto(err, "cannot name "
				    "certificate %d in PKCS#12", i + 1);
				goto out;
			}
		}
	}
	if (!PKCS12_add_safe(&safes, bags, pass ? NID_aes_256_cbc : -1, 0,
	    pass)) {
		rc = hkms_err_crypto(err, "cannot build PKCS#12 safe");
		goto out;
	}
	if ((p12 = PKCS12_add_safes(safes, 0)) == NULL) {
		rc = hkms_err_crypto(err, "cannot build PKCS#12");
		goto out;
	}
	if (pass != NULL && !PKCS12_set_mac(p12, pass, -1, NULL, 0,
	    PKCS12_DEFAULT_ITER, EVP_sha256())) {
		rc = hkms_err_crypto(err, "cannot add PKCS#12 MAC");
		goto out;
	}
	if ((len = i2d_PKCS12(p12, &der)) <= 0) {
		rc = hkms_err_crypto(err, "cannot encode PKCS#12");
		goto out;
	}
	if ((*out = malloc((size_t)len)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*out, der, (size_t)len);
	*outlen = (size_t)len;
	rc = HKMS_OK;
out:
	OPENSSL_free(der);
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	return rc;
}

enum hkms_rc
hkms_certio_pem_string(STACK_OF(X509) *certs, char **pem, struct hkms_err *err)
{
	enum hkms_rc rc;
	unsigned char *buf = NULL;
	size_t len = 0;
	char *s;

	if ((rc = hkms_certio_encode(certs, HKMS_CERTIO_FMT_PEM, NULL, &buf,
	    &len, err)) != HKMS_OK)
		return rc;
	if ((s = malloc(len + 1)) == NULL) {
		free(buf);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	memcpy(s, buf, len);
	s[len] = '\0';
	free(buf);
	*pem = s;
	return HKMS_OK;
}
