/*
 * issue_bench: certificate issuance rates on one token, for tests/bench.
 *
 *   HKMS_CONFIG=<data>/hkms.conf issue_bench MODE CA CSR SECONDS THREADS
 *   HKMS_CONFIG=<data>/hkms.conf issue_bench count CA CSR N THREADS
 *
 * MODE:
 *   raw    C_Sign of a SHA-256 digest with the CA's key, straight through
 *          PKCS#11 (dlopen of the module), each thread its own session:
 *          the token's ceiling.
 *   naive  the textbook loop: parse the CSR, verify it, build an X509
 *          with OpenSSL, X509_sign() through libp11's EVP_PKEY of the CA
 *          key, encode; nothing stored, nothing audited.
 *   hkms   hkms_ops_ca_sign() per certificate: parse, verify once, build
 *          under tls-server, CA policy and name constraints, sign in the
 *          token, encode, record + audit line made durable (group commit
 *          across the threads).
 *   count  N issuances through hkms_ops_ca_sign() over THREADS threads
 *          (the e2e serial test).
 *
 * Prints one JSON object: {"what","key","threads","per_second",...}.
 * HKMS_BENCH_ACKS=<file>: append the serial of each certificate
 * hkms_ops_ca_sign() acknowledged (the crash tests kill the issuer).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <libp11.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <p11-kit/pkcs11.h>

#include "hkms/config.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"

static struct hkms_config *cfg;
static struct hkms_secret *pin;
static struct hkms_service *svc;
static struct hkms_principal me;
static struct hkms_store *st;
static json_t *camet;
static const char *ca_name;
static unsigned char *csr;
static size_t csr_len;
static double until;
static long count_left;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *serials;
static int ack_fd = -1;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "issue_bench: %s: %s\n", what, detail ? detail : "");
	exit(1);
}

/* ---- raw PKCS#11 ---------------------------------------------------- */

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static int is_rsa;

static void
raw_init(void)
{
	CK_RV (*gfl)(CK_FUNCTION_LIST_PTR_PTR);
	CK_C_INITIALIZE_ARGS ia = { 0 };
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_RV rv;
	void *lib;
	char lab[33];

	if ((lib = dlopen(cfg->module, RTLD_NOW)) == NULL ||
	    (gfl = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib,
	    "C_GetFunctionList")) == NULL || gfl(&p11) != CKR_OK)
		die("cannot load module", cfg->module);
	ia.flags = CKF_OS_LOCKING_OK;
	rv = p11->C_Initialize(&ia);
	if ((rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) ||
	    p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		die("C_Initialize", NULL);
	for (i = 0; i < n; i++) {
		if (p11->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		memcpy(lab, ti.label, 32);
		lab[32] = '\0';
		for (int k = 31; k >= 0 && lab[k] == ' '; k--)
			lab[k] = '\0';
		if (strcmp(lab, cfg->label) == 0)
			break;
	}
	if (i == n)
		die("no token labelled", cfg->label);
	slot = slots[i];
	if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		die("C_OpenSession", NULL);
	rv = p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)hkms_secret_str(pin),
	    hkms_secret_len(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die("C_Login", NULL);
	/* the login is the application's; this session keeps it */
}

static void *
raw_work(void *arg)
{
	long *done = arg;
	const char *label = json_string_value(json_object_get(camet, "key"));
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	static const unsigned char prefix[19] = { 0x30, 0x31, 0x30, 0x0d,
	    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
	    0x05, 0x00, 0x04, 0x20 };
	CK_MECHANISM m = { is_rsa ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_ULONG nf = 0, siglen;
	unsigned char data[51], sig[1024];
	size_t dlen = is_rsa ? 51 : 32;
	char msg[64];
	CK_RV rv;

	memcpy(data, prefix, 19);
	RAND_bytes(data + 19, 32);
	if (!is_rsa)
		memmove(data, data + 19, 32);
	if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK || p11->C_FindObjectsInit(s, t, 2) != CKR_OK ||
	    p11->C_FindObjects(s, &key, 1, &nf) != CKR_OK || nf != 1)
		die("raw: cannot find the CA key", label);
	p11->C_FindObjectsFinal(s);
	while (now() < until) {
		siglen = sizeof(sig);
		if ((rv = p11->C_SignInit(s, &m, key)) != CKR_OK ||
		    (rv = p11->C_Sign(s, data, dlen, sig, &siglen)) != CKR_OK) {
			snprintf(msg, sizeof(msg), "CK_RV 0x%lx", (unsigned long)rv);
			die("raw: C_Sign failed", msg);
		}
		(*done)++;
	}
	p11->C_CloseSession(s);
	return NULL;
}

/* ---- naive OpenSSL + libp11 ----------------------------------------- */

static EVP_PKEY *naive_key;
static X509 *naive_ca;

static void
naive_init(void)
{
	PKCS11_CTX *ctx = PKCS11_CTX_new();
	PKCS11_SLOT *slots = NULL, *sl;
	PKCS11_KEY *keys = NULL;
	unsigned int ns = 0, nk = 0, i;
	const char *label = json_string_value(json_object_get(camet, "key"));
	const char *pem = json_string_value(json_object_get(camet, "pem"));
	char *cpem = NULL;
	BIO *b;

	if (hkms_store_get(st, "cas", ca_name, NULL, &cpem, NULL) != HKMS_OK)
		cpem = pem ? strdup(pem) : NULL;
	if (cpem == NULL || (b = BIO_new_mem_buf(cpem, -1)) == NULL ||
	    (naive_ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		die("naive: no CA certificate", ca_name);
	BIO_free(b);
	free(cpem);
	if (PKCS11_CTX_load(ctx, cfg->module) != 0 ||
	    PKCS11_enumerate_slots(ctx, &slots, &ns) != 0)
		die("naive: libp11 cannot load", cfg->module);
	for (sl = NULL, i = 0; i < ns; i++)
		if (slots[i].token != NULL &&
		    strcmp(slots[i].token->label, cfg->label) == 0)
			sl = &slots[i];
	if (sl == NULL || PKCS11_open_session(sl, 1) != 0 ||
	    PKCS11_login(sl, 0, hkms_secret_str(pin)) != 0 ||
	    PKCS11_enumerate_keys(sl->token, &keys, &nk) != 0)
		die("naive: libp11 login", NULL);
	for (i = 0; i < nk; i++)
		if (keys[i].label != NULL && strcmp(keys[i].label, label) == 0)
			naive_key = PKCS11_get_private_key(&keys[i]);
	if (naive_key == NULL)
		die("naive: no key", label);
}

static int
naive_one(void)
{
	const unsigned char *p = csr;
	X509_REQ *req = NULL;
	X509 *x = NULL;
	EVP_PKEY *pub;
	ASN1_INTEGER *sn = NULL;
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	STACK_OF(X509_EXTENSION) *rexts;
	unsigned char *der = NULL;
	int ok = 0, len, i;
	BIO *b = BIO_new_mem_buf(csr, (int)csr_len);
	static const char *const exts[][2] = {
		{ "basicConstraints", "critical,CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "serverAuth" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid" },
	};

	(void)p;
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	BIO_free(b);
	if (req == NULL || (pub = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pub) != 1)
		goto out;
	if ((x = X509_new()) == NULL || !X509_set_version(x, 2) ||
	    (bn = BN_new()) == NULL || !BN_rand(bn, 159, BN_RAND_TOP_ANY,
	    BN_RAND_BOTTOM_ANY) || (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_serialNumber(x, sn) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(naive_ca)) ||
	    !X509_set_subject_name(x, X509_REQ_get_subject_name(req)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 90L * 86400) ||
	    !X509_set_pubkey(x, pub))
		goto out;
	X509V3_set_ctx(&v3, naive_ca, x, NULL, NULL, 0);
	for (i = 0; i < 5; i++) {
		if ((ext = X509V3_EXT_conf(NULL, &v3, exts[i][0],
		    exts[i][1])) == NULL)
			goto out;
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if ((rexts = X509_REQ_get_extensions(req)) != NULL) {
		for (i = 0; i < sk_X509_EXTENSION_num(rexts); i++) {
			ext = sk_X509_EXTENSION_value(rexts, i);
			if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) ==
			    NID_subject_alt_name)
				X509_add_ext(x, ext, -1);
		}
		sk_X509_EXTENSION_pop_free(rexts, X509_EXTENSION_free);
	}
	if (X509_sign(x, naive_key, EVP_sha256()) <= 0 ||
	    (len = i2d_X509(x, &der)) <= 0)
		goto out;
	ok = 1;
out:
	if (!ok)
		ERR_print_errors_fp(stderr);
	OPENSSL_free(der);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_free(x);
	X509_REQ_free(req);
	return ok;
}

/* ---- hkms library --------------------------------------------------- */

static int
hkms_one(struct hkms_ops_ctx *c)
{
	struct hkms_ops_ca_sign_req req;
	struct hkms_err err = { 0 };
	json_t *out = NULL;

	memset(&req, 0, sizeof(req));
	req.ca = ca_name;
	req.profile = "tls-server";
	req.csr = csr;
	req.csr_len = csr_len;
	if (hkms_ops_ca_sign(c, &req, &out, &err) != HKMS_OK) {
		fprintf(stderr, "issue_bench: ca sign: %s: %s\n",
		    hkms_err_code(&err), err.detail);
		return 0;
	}
	if (ack_fd >= 0) {
		/* acknowledged: one line per certificate, for the crash
		 * tests (a write survives a SIGKILL; no fsync needed) */
		char line[128];
		int n = snprintf(line, sizeof(line), "%s\n",
		    json_string_value(json_object_get(out, "serial")));

		if (write(ack_fd, line, (size_t)n) != n)
			fprintf(stderr, "issue_bench: ack log write failed\n");
	}
	if (serials != NULL) {
		pthread_mutex_lock(&mu);
		json_object_set_new(serials, json_string_value(json_object_get(
		    out, "serial")), json_true());
		pthread_mutex_unlock(&mu);
	}
	json_decref(out);
	return 1;
}

/* ---- driver --------------------------------------------------------- */

struct worker {
	const char *mode;
	long n, failed;
};

static int
take_one(void)
{
	int r;

	pthread_mutex_lock(&mu);
	r = count_left > 0;
	if (r)
		count_left--;
	pthread_mutex_unlock(&mu);
	return r;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;

	if (strcmp(w->mode, "raw") == 0)
		return raw_work(&w->n);
	if (svc != NULL && hkms_service_ctx(svc, &me, "cli:bench",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err) !=
	    HKMS_OK) {
		fprintf(stderr, "issue_bench: %s\n", err.detail);
		w->failed++;
		return NULL;
	}
	for (;;) {
		if (strcmp(w->mode, "count") == 0 ? !take_one() :
		    now() >= until)
			break;
		if (strcmp(w->mode, "naive") == 0 ? naive_one() :
		    hkms_one(&c))
			w->n++;
		else if (++w->failed > 10)
			break;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct hkms_err err = { 0 };
	struct worker w[16];
	pthread_t th[16];
	unsigned long long b0 = 0, o0 = 0, b1 = 0, o1 = 0;
	const char *mode, *kt;
	double t0, dt, amount;
	long total = 0, failed = 0;
	int nt, i;

	if (argc != 6) {
		fprintf(stderr, "usage: HKMS_CONFIG=… issue_bench raw|naive|"
		    "hkms|count CA CSR SECONDS|N THREADS\n");
		return 2;
	}
	mode = argv[1];
	ca_name = argv[2];
	amount = atof(argv[4]);
	nt = atoi(argv[5]);
	if (nt < 1 || nt > 16)
		die("threads", "1..16");
	if (hkms_read_file(argv[3], 1 << 20, &csr, &csr_len, &err) != HKMS_OK ||
	    hkms_config_load(getenv("HKMS_CONFIG"), &cfg, &err) != HKMS_OK ||
	    hkms_secret_from_file(cfg->pin_file, "PIN", &pin, &err) !=
	    HKMS_OK)
		die("setup", err.detail);
	if (strcmp(mode, "hkms") == 0 || strcmp(mode, "count") == 0) {
		/* the library as a face uses it: one service, a context per
		 * thread (token, store with its audit key, group commit) */
		hkms_principal_local(&me, "bench");
		if (hkms_service_open(cfg, NULL, &svc, &err) != HKMS_OK ||
		    hkms_service_store(svc, &st, &err) != HKMS_OK)
			die("open", err.detail);
	} else {
		/* raw and naive talk to the module themselves */
		if (cfg->softhsm2_conf != NULL)
			setenv("SOFTHSM2_CONF", cfg->softhsm2_conf, 1);
		if (hkms_store_open(cfg->data_dir, &st, &err) != HKMS_OK)
			die("open", err.detail);
	}
	if (hkms_store_get(st, "cas", ca_name, &camet, NULL, &err) != HKMS_OK)
		die("CA", err.detail);
	/* "token_key_type" ("ec:p256", "rsa:2048"); older records had it
	 * as "key_type" */
	kt = json_string_value(json_object_get(camet, "token_key_type"));
	if (kt == NULL)
		kt = json_string_value(json_object_get(camet, "key_type"));
	is_rsa = kt != NULL && strncasecmp(kt, "rsa", 3) == 0;
	if (strcmp(mode, "raw") == 0)
		raw_init();
	else if (strcmp(mode, "naive") == 0)
		naive_init();
	else if (strcmp(mode, "count") == 0)
		serials = json_object();
	else if (strcmp(mode, "hkms") != 0)
		die("unknown mode", mode);
	if (getenv("HKMS_BENCH_ACKS") != NULL &&
	    (ack_fd = open(getenv("HKMS_BENCH_ACKS"), O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0600)) < 0)
		die("ack log", getenv("HKMS_BENCH_ACKS"));
	count_left = (long)amount;
	hkms_store_commit_stats(st, &b0, &o0);
	t0 = now();
	until = t0 + amount;
	for (i = 0; i < nt; i++) {
		w[i] = (struct worker){ mode, 0, 0 };
		pthread_create(&th[i], NULL, work, &w[i]);
	}
	for (i = 0; i < nt; i++) {
		pthread_join(th[i], NULL);
		total += w[i].n;
		failed += w[i].failed;
	}
	dt = now() - t0;
	hkms_store_commit_stats(st, &b1, &o1);
	printf("{\"what\":\"%s\",\"key\":\"%s\",\"threads\":%d,"
	    "\"per_second\":%.0f,\"count\":%ld,\"seconds\":%.3f,"
	    "\"failed\":%ld", strcmp(mode, "count") == 0 ? "hkms" : mode,
	    kt ? kt : "?", nt, dt > 0 ? (double)total / dt : 0, total, dt,
	    failed);
	if (b1 > b0)
		printf(",\"batches\":%llu,\"per_batch\":%.2f", b1 - b0,
		    (double)(o1 - o0) / (double)(b1 - b0));
	if (serials != NULL)
		printf(",\"serials_unique\":%zu", json_object_size(serials));
	printf("}\n");
	json_decref(serials);
	json_decref(camet);
	if (svc != NULL)
		hkms_service_close(svc);	/* closes its store */
	else
		hkms_store_close(st);
	hkms_secret_free(pin);
	hkms_config_free(cfg);
	free(csr);
	return failed > 0 ? 1 : 0;
}
