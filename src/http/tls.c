/*
 * The service certificate and its key in the token. GnuTLS signs every
 * handshake through gnutls_privkey_import_ext4 callbacks into the service
 * (hkms_service_tls_sign): the PKCS#11 module is loaded once, by the token
 * layer; GnuTLS never sees it.
 *
 * First start: no "hkms-service" certificate record → a key in the token
 * ([server] key_type, ec:p256 by default) and a self-signed certificate
 * (hkms_ops_service_cert_ensure, src/ops/service_cert.c). A replaced
 * record (service-cert apply, apply-self-signed, a restore) is picked up
 * by srv_tls_load() without a restart: at once after the API route that
 * changed it, within a second when another process changed it (the
 * server loop compares the record's stamp, srv_tls_changed), and on
 * SIGHUP. The certificate callback hands each new handshake whatever is
 * current; a connection in flight keeps the certificate it started with
 * (older ones stay allocated until the server stops).
 *
 * While sealed there is no login, so no handshake can be signed with the
 * token key: the server then serves a temporary certificate (CN "hkms
 * temporary") for an in-memory key (made at start, never stored), enough
 * for health to say 503 sealed; a client that verifies the service
 * certificate fails the handshake until the server is unsealed. The same
 * holds when the token is down at start, until it comes back.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "hkms/ops.h"
#include "server_int.h"

static pthread_mutex_t cert_mu = PTHREAD_MUTEX_INITIALIZER;
static struct srv_cert *current;	/* under cert_mu; the list of older
					 * ones hangs off it */
static struct srv_cert *sealed_cert;	/* the temporary one, or NULL */
static gnutls_x509_privkey_t sealed_xkey;
static char loaded_stamp[128];	/* under cert_mu: the record's stamp when
				 * it was last loaded */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the ext4 key ---- */

static int
key_info(gnutls_privkey_t key, unsigned int flags, void *userdata)
{
	struct srv_cert *c = userdata;
	gnutls_sign_algorithm_t sa;

	(void)key;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO)
		return (int)c->pk;
	if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS)
		return (int)c->bits;
	if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO)
		return 0;
	if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
		sa = (gnutls_sign_algorithm_t)GNUTLS_FLAGS_TO_SIGN_ALGO(flags);
		if (c->pk == GNUTLS_PK_RSA)
			switch (sa) {
			case GNUTLS_SIGN_RSA_SHA256:
			case GNUTLS_SIGN_RSA_SHA384:
			case GNUTLS_SIGN_RSA_SHA512:
			case GNUTLS_SIGN_RSA_PSS_RSAE_SHA256:
			case GNUTLS_SIGN_RSA_PSS_RSAE_SHA384:
			case GNUTLS_SIGN_RSA_PSS_RSAE_SHA512:
				return 1;
			default:
				return 0;
			}
		switch (sa) {
		case GNUTLS_SIGN_ECDSA_SHA256:
		case GNUTLS_SIGN_ECDSA_SHA384:
		case GNUTLS_SIGN_ECDSA_SHA512:
			return 1;
		case GNUTLS_SIGN_ECDSA_SECP256R1_SHA256:
			return c->bits == 256;
		case GNUTLS_SIGN_ECDSA_SECP384R1_SHA384:
			return c->bits == 384;
		case GNUTLS_SIGN_ECDSA_SECP521R1_SHA512:
			return c->bits == 521;
		default:
			return 0;
		}
	}
	return GNUTLS_E_UNIMPLEMENTED_FEATURE;
}

static int key_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo,
    void *userdata, unsigned int flags, const gnutls_datum_t *hash,
    gnutls_datum_t *signature);

/* RSA PKCS#1 v1.5 in TLS 1.2: GnuTLS hands an ext key the DigestInfo
 * (algorithm GNUTLS_SIGN_RSA_RAW); the token layer signs a digest and adds
 * the DigestInfo itself, so the digest is taken back out of it. */
static int
sign_digest_info(struct srv_cert *c, const gnutls_datum_t *di,
    gnutls_datum_t *signature)
{
	static const struct {
		gnutls_sign_algorithm_t algo;
		unsigned char prefix[19];
		unsigned hlen;
	} pre[] = {
		{ GNUTLS_SIGN_RSA_SHA256, { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09,
		    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
		    0x00, 0x04, 0x20 }, 32 },
		{ GNUTLS_SIGN_RSA_SHA384, { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09,
		    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
		    0x00, 0x04, 0x30 }, 48 },
		{ GNUTLS_SIGN_RSA_SHA512, { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09,
		    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
		    0x00, 0x04, 0x40 }, 64 },
	};
	gnutls_datum_t h;
	size_t i;

	if (c->pk != GNUTLS_PK_RSA)
		return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
	for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (di->size == 19 + pre[i].hlen &&
		    memcmp(di->data, pre[i].prefix, 19) == 0) {
			h.data = di->data + 19;
			h.size = pre[i].hlen;
			return key_sign_hash(NULL, pre[i].algo, c, 0, &h,
			    signature);
		}
	return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
}

static int
key_sign_hash(gnutls_privkey_t key, gnutls_sign_algorithm_t algo,
    void *userdata, unsigned int flags, const gnutls_datum_t *hash,
    gnutls_datum_t *signature)
{
	struct srv_cert *c = userdata;
	gnutls_pk_algorithm_t pk = gnutls_sign_get_pk_algorithm(algo);
	gnutls_digest_algorithm_t dig = gnutls_sign_get_hash_algorithm(algo);
	const char *dname = gnutls_digest_get_name(dig);
	struct hkms_err err = { 0 };
	unsigned char sig[1024];
	size_t siglen = sizeof(sig);
	char md[16];
	int scheme;
	enum hkms_rc rc;
	double t0;
	size_t i;

	(void)key;
	if (algo == GNUTLS_SIGN_RSA_RAW)
		return sign_digest_info(c, hash, signature);
	if (dname == NULL)
		return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
	for (i = 0; dname[i] != '\0' && i < sizeof(md) - 1; i++)
		md[i] = (char)(dname[i] >= 'A' && dname[i] <= 'Z' ?
		    dname[i] - 'A' + 'a' : dname[i]);
	md[i] = '\0';
	if (pk == GNUTLS_PK_RSA_PSS || (flags & GNUTLS_PRIVKEY_SIGN_FLAG_RSA_PSS))
		scheme = HKMS_TLS_SIGN_RSA_PSS;
	else if (pk == GNUTLS_PK_RSA)
		scheme = HKMS_TLS_SIGN_RSA_PKCS1;
	else if (pk == GNUTLS_PK_ECDSA)
		scheme = HKMS_TLS_SIGN_ECDSA;
	else
		return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
	t0 = now_s();
	rc = hkms_service_tls_sign(c->svc, c->key_name, scheme, md, hash->data,
	    hash->size, sig, &siglen, &err);
	srv_metrics_sign(now_s() - t0, rc == HKMS_OK);
	if (rc != HKMS_OK) {
		hkms_log_err(hkms_service_log(c->svc), HKMS_LOG_ERROR,
		    "tls.sign", &err, NULL);
		return GNUTLS_E_PK_SIGN_FAILED;
	}
	if ((signature->data = gnutls_malloc(siglen)) == NULL)
		return GNUTLS_E_MEMORY_ERROR;
	memcpy(signature->data, sig, siglen);
	signature->size = (unsigned)siglen;
	return 0;
}

static int
key_sign_data(gnutls_privkey_t key, gnutls_sign_algorithm_t algo,
    void *userdata, unsigned int flags, const gnutls_datum_t *data,
    gnutls_datum_t *signature)
{
	gnutls_digest_algorithm_t dig = gnutls_sign_get_hash_algorithm(algo);
	unsigned char h[64];
	gnutls_datum_t hd;
	int len = (int)gnutls_hash_get_len(dig);

	if (len <= 0 || len > (int)sizeof(h) ||
	    gnutls_hash_fast(dig, data->data, data->size, h) < 0)
		return GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
	hd.data = h;
	hd.size = (unsigned)len;
	return key_sign_hash(key, algo, userdata, flags, &hd, signature);
}

/* ---- loading ---- */

static void
cert_free(struct srv_cert *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < c->npcert; i++)
		gnutls_pcert_deinit(&c->pcert[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	free(c->pem);
	free(c);
}

static enum hkms_rc
cert_make(struct hkms_service *svc, const char *pem, const char *key_name,
    struct srv_cert **out, struct hkms_err *err)
{
	struct srv_cert *c;
	gnutls_datum_t d;
	unsigned n = 8, bits = 0;
	int r, pk;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->pem = strdup(pem)) == NULL) {
		free(c);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	c->svc = svc;
	snprintf(c->key_name, sizeof(c->key_name), "%s", key_name);
	d.data = (unsigned char *)c->pem;
	d.size = (unsigned)strlen(c->pem);
	if ((r = gnutls_pcert_list_import_x509_raw(c->pcert, &n, &d,
	    GNUTLS_X509_FMT_PEM, 0)) < 0 || n == 0) {
		free(c->pem);
		free(c);
		return hkms_err_set(err, HKMS_E_INVALID,
		    "the service certificate does not parse: %s",
		    gnutls_strerror(r));
	}
	c->npcert = n;
	pk = gnutls_pubkey_get_pk_algorithm(c->pcert[0].pubkey, &bits);
	if (pk != GNUTLS_PK_RSA && pk != GNUTLS_PK_ECDSA) {
		cert_free(c);
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED,
		    "unsupported_key_type",
		    "the service certificate's key is neither RSA nor EC");
	}
	c->pk = (gnutls_pk_algorithm_t)pk;
	c->bits = bits;
	if (gnutls_privkey_init(&c->key) < 0 ||
	    gnutls_privkey_import_ext4(c->key, c, key_sign_data,
	    key_sign_hash, NULL, NULL, key_info, 0) < 0) {
		cert_free(c);
		return hkms_err_set(err, HKMS_E_INTERNAL,
		    "cannot set up the TLS key callbacks");
	}
	*out = c;
	return HKMS_OK;
}

enum hkms_rc
srv_tls_load(struct hkms_service *svc, int *changed, struct hkms_err *err)
{
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct srv_cert *nc = NULL;
	json_t *rec = NULL;
	const char *pem, *key;
	char stamp[128];
	enum hkms_rc rc;
	int made = 0;

	*changed = 0;
	hkms_principal_local(&p, "hkms-serve");
	if ((rc = hkms_service_ctx(svc, &p, "serve", HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c, err)) != HKMS_OK)
		return rc;
	/* the stamp before the read: a change after it is seen next time;
	 * a record that fails to load is not retried until it changes (or
	 * the minute's check) */
	hkms_ops_service_cert_stamp(&c, stamp, sizeof(stamp));
	pthread_mutex_lock(&cert_mu);
	snprintf(loaded_stamp, sizeof(loaded_stamp), "%s", stamp);
	pthread_mutex_unlock(&cert_mu);
	if ((rc = hkms_ops_service_cert_ensure(&c, &rec, &made, err)) !=
	    HKMS_OK)
		return rc;
	if (made)
		hkms_log_msg(hkms_service_log(svc), HKMS_LOG_INFO,
		    "server.certificate", "made a self-signed service "
		    "certificate '%s'", HKMS_SERVICE_CERT);
	pem = json_string_value(json_object_get(rec, "pem"));
	key = json_string_value(json_object_get(rec, "key"));
	if (pem == NULL || key == NULL) {
		json_decref(rec);
		return hkms_err_set(err, HKMS_E_INVALID, "the service "
		    "certificate record has no PEM or no token key");
	}
	pthread_mutex_lock(&cert_mu);
	if (current != NULL && strcmp(current->pem, pem) == 0 &&
	    strcmp(current->key_name, key) == 0) {
		pthread_mutex_unlock(&cert_mu);
		json_decref(rec);
		return HKMS_OK;
	}
	pthread_mutex_unlock(&cert_mu);
	rc = cert_make(svc, pem, key, &nc, err);
	json_decref(rec);
	if (rc != HKMS_OK)
		return rc;
	pthread_mutex_lock(&cert_mu);
	nc->older = current;
	current = nc;
	pthread_mutex_unlock(&cert_mu);
	*changed = 1;
	return HKMS_OK;
}

int
srv_tls_changed(struct hkms_service *svc)
{
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err e = { 0 };
	char stamp[128];
	int changed;

	hkms_principal_local(&p, "hkms-serve");
	if (hkms_service_ctx(svc, &p, "serve", HKMS_SERVICE_NEED_STORE, &c,
	    &e) != HKMS_OK)
		return 0;
	hkms_ops_service_cert_stamp(&c, stamp, sizeof(stamp));
	pthread_mutex_lock(&cert_mu);
	changed = strcmp(stamp, loaded_stamp) != 0;
	pthread_mutex_unlock(&cert_mu);
	return changed;
}

/* The temporary certificate of a sealed start: an in-memory P-256 key. */
static enum hkms_rc
sealed_make(struct hkms_err *err)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_privkey_t pk = NULL;
	struct srv_cert *c = NULL;
	unsigned char serial[16];
	time_t now = time(NULL);
	gnutls_datum_t d = { NULL, 0 };
	enum hkms_rc rc = HKMS_E_INTERNAL;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (gnutls_x509_privkey_init(&sealed_xkey) < 0 ||
	    gnutls_x509_privkey_generate(sealed_xkey, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0 ||
	    (serial[0] &= 0x7f, gnutls_x509_crt_set_serial(crt, serial,
	    sizeof(serial))) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "hkms temporary", 14) < 0 ||
	    gnutls_x509_crt_set_activation_time(crt, now - 60) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + 86400) < 0 ||
	    gnutls_x509_crt_set_key(crt, sealed_xkey) < 0 ||
	    gnutls_x509_crt_sign2(crt, crt, sealed_xkey, GNUTLS_DIG_SHA256,
	    0) < 0 ||
	    gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d) < 0 ||
	    gnutls_pcert_import_x509(&c->pcert[0], crt, 0) < 0)
		goto out;
	c->npcert = 1;
	if (gnutls_privkey_init(&pk) < 0 ||
	    gnutls_privkey_import_x509(pk, sealed_xkey, 0) < 0)
		goto out;
	c->key = pk;
	pk = NULL;
	if ((c->pem = strdup((char *)d.data)) == NULL)
		goto out;
	sealed_cert = c;
	c = NULL;
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK)
		hkms_err_set(err, rc, "cannot make the sealed start's "
		    "temporary certificate");
	gnutls_free(d.data);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	if (pk != NULL)
		gnutls_privkey_deinit(pk);
	cert_free(c);
	return rc;
}

enum hkms_rc
srv_tls_sealed_init(struct hkms_err *err)
{
	if (sealed_cert != NULL)
		return HKMS_OK;
	return sealed_make(err);
}

int
srv_tls_cert_cb(gnutls_session_t session, const gnutls_datum_t *req_ca,
    int nreqs, const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
    gnutls_pcert_st **pcert, unsigned int *pcert_length,
    gnutls_privkey_t *privkey)
{
	struct srv_cert *c;

	(void)session;
	(void)req_ca;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	pthread_mutex_lock(&cert_mu);
	c = current != NULL ? current : sealed_cert;
	pthread_mutex_unlock(&cert_mu);
	if (c == NULL)
		return -1;
	*pcert = c->pcert;
	*pcert_length = c->npcert;
	*privkey = c->key;
	return 0;
}

const struct srv_cert *
srv_tls_current(void)
{
	const struct srv_cert *c;

	pthread_mutex_lock(&cert_mu);
	c = current;
	pthread_mutex_unlock(&cert_mu);
	return c;
}

char *
srv_tls_cert_pem(void)
{
	char *s = NULL;

	pthread_mutex_lock(&cert_mu);
	if (current != NULL)
		s = strdup(current->pem);
	else if (sealed_cert != NULL)
		s = strdup(sealed_cert->pem);
	pthread_mutex_unlock(&cert_mu);
	return s;
}

void
srv_tls_free(void)
{
	struct srv_cert *c, *n;

	pthread_mutex_lock(&cert_mu);
	for (c = current; c != NULL; c = n) {
		n = c->older;
		cert_free(c);
	}
	current = NULL;
	cert_free(sealed_cert);
	sealed_cert = NULL;
	if (sealed_xkey != NULL)
		gnutls_x509_privkey_deinit(sealed_xkey);
	sealed_xkey = NULL;
	pthread_mutex_unlock(&cert_mu);
}
