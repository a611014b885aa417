/*
 * Unit tests of the service object (src/ops/service.c): open and close,
 * lazy opening (no token for a command that needs none), the request
 * context, one try per service for a refused PIN, the environment set
 * once, and 8 threads sharing one service on a real SoftHSM2 token:
 * self-signing certificates (token signatures, store commits, audit
 * lines), listing, and truststore imports, after which the store and the
 * audit log verify and every certificate is in place; the CA cache
 * (threads signing under one CA, a record changed through the service
 * and behind its back). The memcheck
 * variant (unit_service_memcheck) runs the same binary under valgrind.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdatomic.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"

#define NTHREADS 8
#define PER_THREAD 3

static char tmpdir[256];
static char cfgpath[320];
static struct hkms_config *cfg;

static int
group_setup(void **state)
{
	struct hkms_ops_init_req req = { NULL, "unit-svc", "unit:test", 1, NULL };
	struct hkms_err err = { 0 };
	char dir[300];
	json_t *out = NULL;

	(void)state;
	hkms_secret_process_init();
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hkms-unit-svc.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/data", tmpdir);
	req.data_dir = dir;
	/* the embedded default set-up: a SoftHSM2 token, PIN files, config,
	 * store and sealed audit log, all through the init operation */
	if (hkms_ops_init(&req, &out, &err) != HKMS_OK) {
		fprintf(stderr, "init: %s: %s\n", hkms_err_code(&err),
		    err.detail);
		return -1;
	}
	snprintf(cfgpath, sizeof(cfgpath), "%s",
	    json_string_value(json_object_get(out, "config")));
	json_decref(out);
	if (hkms_config_load(cfgpath, &cfg, &err) != HKMS_OK) {
		fprintf(stderr, "config: %s\n", err.detail);
		return -1;
	}
	setenv("HKMS_TOKEN_BACKOFF_MAX", "0", 1);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	hkms_config_free(cfg);
	hkms_secret_env_release();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* open, nothing used, close: no token, no store opened */
static void
test_service_open_close_lazy(void **state)
{
	struct hkms_service_opts o = { "unit:test", 0, 0, 0, 0 };
	struct hkms_service *svc = NULL;
	struct hkms_err err = { 0 };
	json_t *m;

	(void)state;
	assert_int_equal(hkms_service_open(cfg, &o, &svc, &err), HKMS_OK);
	assert_ptr_equal(hkms_service_config(svc), cfg);
	assert_non_null(hkms_service_log(svc));
	assert_false(hkms_service_hsm_open(svc));
	m = hkms_service_metrics(svc);
	assert_false(json_is_true(json_object_get(m, "token_open")));
	json_decref(m);
	hkms_service_close(svc);
	hkms_service_close(NULL);
	assert_int_equal(hkms_service_open(NULL, &o, &svc, &err),
	    HKMS_E_INVALID);
}

/* a context for listing certificates opens the store, not the token */
static void
test_service_ctx_no_token(void **state)
{
	struct hkms_service *svc = NULL;
	struct hkms_principal p;
	struct hkms_err err = { 0 };
	struct hkms_ops_ctx c;
	json_t *out = NULL;

	(void)state;
	hkms_principal_local(&p, "tester");
	assert_int_equal(p.clearance, HKMS_CLEARANCE_ADMIN);
	assert_int_equal(hkms_service_open(cfg, NULL, &svc, &err), HKMS_OK);
	assert_int_equal(hkms_service_ctx(svc, &p, "unit:list",
	    HKMS_SERVICE_NEED_STORE, &c, &err), HKMS_OK);
	assert_ptr_equal(c.service, svc);
	assert_ptr_equal(c.principal, &p);
	assert_string_equal(c.actor, "unit:list");
	assert_non_null(c.store);
	assert_null(c.hsm);
	assert_int_equal(hkms_ops_cert_list(&c, -1, &out, &err), HKMS_OK);
	assert_true(json_is_array(out));
	json_decref(out);
	assert_false(hkms_service_hsm_open(svc));
	hkms_service_close(svc);
}

/* the environment is set once: a different SOFTHSM2_CONF is refused */
static void
test_service_env_set_once(void **state)
{
	struct hkms_config other;
	struct hkms_service *svc = NULL;
	struct hkms_err err = { 0 };

	(void)state;
	memcpy(&other, cfg, sizeof(other));
	other.softhsm2_conf = "/nonexistent/softhsm2.conf";
	assert_int_equal(hkms_service_open(&other, NULL, &svc, &err),
	    HKMS_E_INVALID);
	assert_string_equal(hkms_err_code(&err), "conflicting_environment");
	assert_null(svc);
	assert_string_equal(getenv("SOFTHSM2_CONF"), cfg->softhsm2_conf);
	/* the same value again is fine */
	assert_int_equal(hkms_service_open(cfg, NULL, &svc, &err), HKMS_OK);
	hkms_service_close(svc);
}

/* a refused PIN is tried once per service, and audited */
static void
test_service_pin_tried_once(void **state)
{
	struct hkms_service *svc = NULL;
	struct hkms_hsm *h = NULL;
	struct hkms_err err = { 0 }, err2 = { 0 };
	json_t *m;

	(void)state;
	setenv("HKMS_PIN", "00000000", 1);
	assert_int_equal(hkms_service_open(cfg, NULL, &svc, &err), HKMS_OK);
	assert_int_equal(hkms_service_hsm(svc, &h, &err), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err), "pin_incorrect");
	/* the same error again, without a second login */
	assert_int_equal(hkms_service_hsm(svc, &h, &err2), HKMS_E_PIN);
	assert_string_equal(hkms_err_code(&err2), "pin_incorrect");
	m = hkms_service_metrics(svc);
	assert_int_equal(json_integer_value(json_object_get(m,
	    "token_errors")), 1);
	json_decref(m);
	hkms_service_close(svc);
	unsetenv("HKMS_PIN");
}

/* the log: one JSON line per event, level filter, secrets redacted, and
 * the service logs the token's opening at info */
static void
test_log_lines(void **state)
{
	char path[300], buf[4096];
	struct hkms_config lc;
	struct hkms_service_opts o = { "unit:test", 0, 0, 0, 0 };
	struct hkms_service *svc = NULL;
	struct hkms_log *log = NULL;
	struct hkms_hsm *h = NULL;
	struct hkms_err err = { 0 };
	json_t *f, *line;
	FILE *fp;
	int fd, n = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/log.jsonl", tmpdir);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >=
	    0);
	assert_int_equal(hkms_log_open(fd, HKMS_LOG_WARN, &log, &err),
	    HKMS_OK);
	f = json_pack("{s:s,s:s,s:{s:s}}", "pin", "12345678", "what",
	    "visible", "inner", "so_passphrase", "hidden");
	hkms_log_event(log, HKMS_LOG_INFO, "filtered.out", f);	/* below */
	hkms_log_event(log, HKMS_LOG_WARN, "unit.event", f);
	json_decref(f);
	hkms_log_close(log);
	/* a service at info logs the token's opening */
	memcpy(&lc, cfg, sizeof(lc));
	lc.log_level = HKMS_LOG_INFO;
	o.log_fd = fd;
	assert_int_equal(hkms_service_open(&lc, &o, &svc, &err), HKMS_OK);
	assert_int_equal(hkms_service_hsm(svc, &h, &err), HKMS_OK);
	hkms_service_close(svc);
	close(fd);
	assert_non_null(fp = fopen(path, "r"));
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		json_error_t je;

		assert_non_null(line = json_loads(buf, 0, &je));
		assert_non_null(json_object_get(line, "time"));
		assert_non_null(json_object_get(line, "level"));
		if (n == 0) {
			assert_string_equal(json_string_value(json_object_get(
			    line, "event")), "unit.event");
			assert_string_equal(json_string_value(json_object_get(
			    line, "what")), "visible");
			assert_string_equal(json_string_value(json_object_get(
			    line, "pin")), "[redacted]");
			assert_string_equal(json_string_value(json_object_get(
			    json_object_get(line, "inner"), "so_passphrase")),
			    "[redacted]");
		} else {
			assert_string_equal(json_string_value(json_object_get(
			    line, "event")), "token.open");
		}
		assert_null(strstr(buf, "12345678"));
		assert_null(strstr(buf, "hidden"));
		json_decref(line);
		n++;
	}
	fclose(fp);
	assert_int_equal(n, 2);
}

struct worker {
	struct hkms_service *svc;
	int id;
	int signed_ok, listed_ok, imported_ok;
	char fail[300];
};

static void
fail_at(struct worker *w, const char *what, const struct hkms_err *err)
{
	if (w->fail[0] == '\0')
		snprintf(w->fail, sizeof(w->fail), "thread %d: %s: %s: %.200s",
		    w->id, what, hkms_err_code(err), err->detail);
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err err;
	char name[64], actor[64], subject[80];
	json_t *out;
	int i;

	hkms_principal_local(&p, "tester");
	snprintf(actor, sizeof(actor), "unit:thread%d", w->id);
	for (i = 0; i < PER_THREAD; i++) {
		struct hkms_ops_cert_req req = { 0 };
		struct hkms_ops_trust_import_req treq = { 0 };
		const char *pem;

		/* sign: a new key and a self-signed certificate */
		memset(&err, 0, sizeof(err));
		snprintf(name, sizeof(name), "t%d-c%d", w->id, i);
		snprintf(subject, sizeof(subject), "/CN=%s", name);
		req.name = name;
		req.new_key = "ec:p256";
		req.subject = subject;
		out = NULL;
		if (hkms_service_ctx(w->svc, &p, actor, HKMS_SERVICE_NEED_STORE |
		    HKMS_SERVICE_NEED_TOKEN, &c, &err) != HKMS_OK ||
		    hkms_ops_cert_self_sign(&c, &req, &out, &err) != HKMS_OK) {
			fail_at(w, "self-sign", &err);
			json_decref(out);
			continue;
		}
		w->signed_ok++;
		/* import: the certificate just made into the truststore */
		pem = json_string_value(json_object_get(out, "pem"));
		if (pem == NULL) {
			json_decref(out);
			out = NULL;
			if (hkms_ops_cert_export(&c, name, "pem", NULL,
			    (unsigned char **)&treq.data, &treq.len, &err) !=
			    HKMS_OK) {
				fail_at(w, "export", &err);
				continue;
			}
		} else {
			treq.data = (const unsigned char *)strdup(pem);
			treq.len = strlen(pem);
			json_decref(out);
		}
		treq.alias = name;
		out = NULL;
		if (hkms_service_ctx(w->svc, &p, actor, HKMS_SERVICE_NEED_STORE,
		    &c, &err) != HKMS_OK ||
		    hkms_ops_trust_import(&c, &treq, &out, &err) != HKMS_OK)
			fail_at(w, "trust import", &err);
		else
			w->imported_ok++;
		json_decref(out);
		free((void *)treq.data);
		/* list: certificates and truststore, while others write */
		out = NULL;
		if (hkms_service_ctx(w->svc, &p, actor, HKMS_SERVICE_NEED_STORE,
		    &c, &err) != HKMS_OK ||
		    hkms_ops_cert_list(&c, -1, &out, &err) != HKMS_OK) {
			fail_at(w, "cert list", &err);
		} else {
			json_decref(out);
			out = NULL;
			if (hkms_ops_trust_list(&c, &out, &err) != HKMS_OK)
				fail_at(w, "trust list", &err);
			else
				w->listed_ok++;
		}
		json_decref(out);
	}
	return NULL;
}

static void
test_service_concurrent_8_threads(void **state)
{
	struct hkms_service_opts o = { "unit:test", 0, 0, 0, 0 };
	struct hkms_service *svc = NULL;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err err = { 0 };
	json_t *out = NULL, *m, *v;
	size_t i, k, n_ok = 0;
	int t;

	(void)state;
	/* opened before any thread starts (service.h) */
	assert_int_equal(hkms_service_open(cfg, &o, &svc, &err), HKMS_OK);
	memset(w, 0, sizeof(w));
	for (t = 0; t < NTHREADS; t++) {
		w[t].svc = svc;
		w[t].id = t;
		assert_int_equal(pthread_create(&th[t], NULL, worker_run,
		    &w[t]), 0);
	}
	for (t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < NTHREADS; t++) {
		if (w[t].fail[0] != '\0')
			fail_msg("%s", w[t].fail);
		assert_int_equal(w[t].signed_ok, PER_THREAD);
		assert_int_equal(w[t].imported_ok, PER_THREAD);
		assert_int_equal(w[t].listed_ok, PER_THREAD);
	}
	/* every certificate is there, with its key, and the store and the
	 * audit log (token-signed head) verify */
	hkms_principal_local(&p, "tester");
	assert_int_equal(hkms_service_ctx(svc, &p, NULL,
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err),
	    HKMS_OK);
	assert_int_equal(hkms_ops_cert_list(&c, -1, &out, &err), HKMS_OK);
	assert_int_equal(json_array_size(out), NTHREADS * PER_THREAD);
	json_decref(out);
	out = NULL;
	assert_int_equal(hkms_ops_key_list(&c, &out, &err), HKMS_OK);
	/* the audit key and one key per certificate */
	assert_int_equal(json_array_size(out), NTHREADS * PER_THREAD + 1);
	json_decref(out);
	out = NULL;
	assert_int_equal(hkms_ops_trust_list(&c, &out, &err), HKMS_OK);
	assert_int_equal(json_array_size(out), NTHREADS * PER_THREAD);
	json_decref(out);
	out = NULL;
	if (hkms_ops_audit_verify(&c, &out, &err) != HKMS_OK)
		fail_msg("audit verify: %s", err.detail);
	json_decref(out);
	/* the metrics counted every audited operation */
	m = hkms_service_metrics(svc);
	json_array_foreach(json_object_get(m, "operations"), i, v) {
		const char *op = json_string_value(json_object_get(v, "op"));
		const char *res = json_string_value(json_object_get(v,
		    "result"));

		k = (size_t)json_integer_value(json_object_get(v, "count"));
		if (strcmp(res, "ok") == 0 && (strcmp(op, "cert.self_sign") ==
		    0 || strcmp(op, "cert.self-sign") == 0))
			n_ok += k;
		if (strcmp(res, "error") == 0)
			assert_int_equal(k, 0);
	}
	assert_true(json_is_true(json_object_get(m, "token_open")));
	assert_int_equal(json_integer_value(json_object_get(m,
	    "token_errors")), 0);
	json_decref(m);
	assert_int_equal(n_ok, NTHREADS * PER_THREAD);
	hkms_service_close(svc);
}

/* ---- the token goes away under 8 signing threads, and comes back ---- */

static unsigned char *tg_csr;
static size_t tg_csr_len;
static atomic_int tg_stop;
static atomic_long tg_ok, tg_failed;
static pthread_mutex_t tg_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *tg_acked;	/* serials acknowledged */
static char tg_bad[512];	/* the first failure that is not a token one */

/* A P-256 CSR for leaf.tg.example (PEM), made with OpenSSL. */
static void
tg_make_csr(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *san;
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;

	assert_non_null(k);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"leaf.tg.example", -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	san = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    "DNS:leaf.tg.example");
	sk_X509_EXTENSION_push(exts, san);
	X509_REQ_add_extensions(r, exts);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	assert_true(PEM_write_bio_X509_REQ(b, r) == 1);
	len = BIO_get_mem_data(b, &p);
	tg_csr = malloc((size_t)len);
	memcpy(tg_csr, p, (size_t)len);
	tg_csr_len = (size_t)len;
	BIO_free(b);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void *
tg_run(void *arg)
{
	struct hkms_service *svc = arg;
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err err;
	json_t *out;

	hkms_principal_local(&p, "tester");
	while (!atomic_load(&tg_stop)) {
		struct hkms_ops_ca_sign_req req = { 0 };

		memset(&err, 0, sizeof(err));
		out = NULL;
		req.ca = "tg-root";
		req.profile = "tls-server";
		req.csr = tg_csr;
		req.csr_len = tg_csr_len;
		if (hkms_service_ctx(svc, &p, "unit:tg", HKMS_SERVICE_NEED_STORE |
		    HKMS_SERVICE_NEED_TOKEN, &c, &err) == HKMS_OK &&
		    hkms_ops_ca_sign(&c, &req, &out, &err) == HKMS_OK) {
			pthread_mutex_lock(&tg_mu);
			json_array_append(tg_acked, json_object_get(out,
			    "serial"));
			pthread_mutex_unlock(&tg_mu);
			atomic_fetch_add(&tg_ok, 1);
		} else {
			/* a registered code, and one of the token's */
			pthread_mutex_lock(&tg_mu);
			if (tg_bad[0] == '\0' && (hkms_err_lookup(
			    hkms_err_code(&err)) == NULL || (err.rc !=
			    HKMS_E_TOKEN && err.rc != HKMS_E_TOKEN_DOWN &&
			    err.rc != HKMS_E_NOT_FOUND)))
				snprintf(tg_bad, sizeof(tg_bad), "rc %d %s: "
				    "%.400s", (int)err.rc, hkms_err_code(&err),
				    err.detail);
			pthread_mutex_unlock(&tg_mu);
			atomic_fetch_add(&tg_failed, 1);
			usleep(2000);
		}
		json_decref(out);
	}
	return NULL;
}

/* wait until *v >= want, at most secs seconds; 1 if reached */
static int
tg_wait(atomic_long *v, long want, int secs)
{
	int i;

	for (i = 0; i < secs * 100; i++) {
		if (atomic_load(v) >= want)
			return 1;
		usleep(10000);
	}
	return atomic_load(v) >= want;
}

/* no *.rsv anywhere under dir (one level of sub-kinds) */
static int
tg_no_rsv(const char *dir)
{
	char sub[1024];
	struct dirent *d, *e;
	DIR *dp, *sp;
	int n = 0;

	if ((dp = opendir(dir)) == NULL)
		return 1;
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, d->d_name);
		if ((sp = opendir(sub)) == NULL)
			continue;
		while ((e = readdir(sp)) != NULL)
			if (strlen(e->d_name) > 4 && strcmp(e->d_name +
			    strlen(e->d_name) - 4, ".rsv") == 0)
				n++;
		closedir(sp);
	}
	closedir(dp);
	return n == 0;
}

static void
test_service_token_gone_8_threads(void **state)
{
	struct hkms_ops_ca_create_req creq = { 0 };
	struct hkms_service *svc = NULL;
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err err = { 0 };
	pthread_t th[NTHREADS];
	char tokens[400], gone[420], issued[400];
	json_t *out = NULL, *v, *rec;
	long ok0, fail0;
	size_t i, k;
	int t, found;

	(void)state;
	tg_make_csr();
	tg_acked = json_array();
	assert_int_equal(hkms_service_open(cfg, NULL, &svc, &err), HKMS_OK);
	hkms_principal_local(&p, "tester");
	assert_int_equal(hkms_service_ctx(svc, &p, "unit:tg",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err),
	    HKMS_OK);
	creq.name = "tg-root";
	creq.key_type = "ec:p256";
	creq.subject = "/CN=TG-Root";
	if (hkms_ops_ca_create(&c, &creq, &out, &err) != HKMS_OK)
		fail_msg("ca create: %s", err.detail);
	json_decref(out);
	out = NULL;
	for (t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, tg_run, svc), 0);
	assert_true(tg_wait(&tg_ok, 16, 60));
	/* SoftHSM2's token directory goes away under the running threads */
	snprintf(tokens, sizeof(tokens), "%s/data/token/tokens", tmpdir);
	snprintf(gone, sizeof(gone), "%s.gone", tokens);
	assert_int_equal(rename(tokens, gone), 0);
	fail0 = atomic_load(&tg_failed);
	found = tg_wait(&tg_failed, fail0 + 8, 10);
	assert_int_equal(rename(gone, tokens), 0);
	ok0 = atomic_load(&tg_ok);
	/* and comes back: the service signs again without a restart */
	assert_true(tg_wait(&tg_ok, ok0 + 16, 60));
	atomic_store(&tg_stop, 1);
	for (t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	if (tg_bad[0] != '\0')
		fail_msg("a failure that is not the token's: %s", tg_bad);
	print_message("token gone: %ld signed, %ld refused (refusals seen "
	    "while gone: %s)\n", atomic_load(&tg_ok), atomic_load(&tg_failed),
	    found ? "yes" : "no");
	/* nothing reserved is left, every acknowledged serial is indexed
	 * once, and the store and the audit log check */
	snprintf(issued, sizeof(issued), "%s/data/issued", tmpdir);
	assert_true(tg_no_rsv(issued));
	assert_int_equal(hkms_service_ctx(svc, &p, "unit:tg",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err),
	    HKMS_OK);
	assert_int_equal(hkms_ops_ca_issued(&c, "tg-root", -1, NULL, &out,
	    &err), HKMS_OK);
	assert_int_equal(json_array_size(out), json_array_size(tg_acked));
	json_array_foreach(tg_acked, i, v) {
		size_t hits = 0;

		json_array_foreach(out, k, rec)
			if (json_equal(json_object_get(rec, "serial"), v))
				hits++;
		assert_int_equal(hits, 1);
	}
	json_decref(out);
	out = NULL;
	if (hkms_ops_audit_verify(&c, &out, &err) != HKMS_OK)
		fail_msg("audit verify: %s", err.detail);
	json_decref(out);
	out = NULL;
	if (hkms_ops_store_check(&c, &out, &err) != HKMS_OK) {
		char *dump = json_dumps(out, JSON_COMPACT);

		fail_msg("store check: %s: %.600s", err.detail, dump);
	}
	json_decref(out);
	hkms_service_close(svc);
	json_decref(tg_acked);
	free(tg_csr);
}

/* A PEM CSR for CN=<cn> with SAN DNS:<cn> (a new P-256 key). */
static char *
make_csr(const char *cn)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *e;
	char san[96], *pem = NULL, *data;
	BIO *b = BIO_new(BIO_s_mem());
	long len;

	snprintf(san, sizeof(san), "DNS:%s", cn);
	assert_non_null(k);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_REQ_set_subject_name(r, n);
	X509_REQ_set_pubkey(r, k);
	e = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	sk_X509_EXTENSION_push(exts, e);
	X509_REQ_add_extensions(r, exts);
	assert_true(X509_REQ_sign(r, k, EVP_sha256()) > 0);
	PEM_write_bio_X509_REQ(b, r);
	len = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)len);
	BIO_free(b);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(n);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
	return pem;
}

static enum hkms_rc
sign_csr(struct hkms_ops_ctx *c, const char *ca, const char *csr,
    json_t **out, struct hkms_err *err)
{
	struct hkms_ops_ca_sign_req req = { 0 };

	req.ca = ca;
	req.profile = "tls-server";
	req.csr = (const unsigned char *)csr;
	req.csr_len = strlen(csr);
	*out = NULL;
	return hkms_ops_ca_sign(c, &req, out, err);
}

struct cache_worker {
	struct hkms_service *svc;
	char *csr;
	int ok;
	char fail[300];
};

static void *
cache_worker_run(void *arg)
{
	struct cache_worker *w = arg;
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err err = { 0 };
	json_t *out;
	int i;

	hkms_principal_local(&p, "tester");
	if (hkms_service_ctx(w->svc, &p, "unit:cache", HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c, &err) != HKMS_OK) {
		snprintf(w->fail, sizeof(w->fail), "ctx: %s", err.detail);
		return NULL;
	}
	for (i = 0; i < PER_THREAD; i++) {
		if (sign_csr(&c, "cache-ca", w->csr, &out, &err) == HKMS_OK)
			w->ok++;
		else if (w->fail[0] == '\0')
			snprintf(w->fail, sizeof(w->fail), "sign: %s: %.200s",
			    hkms_err_code(&err), err.detail);
		json_decref(out);
	}
	return NULL;
}

/*
 * The service's CA cache (src/ops/ca_util.c): a CA is parsed once and
 * kept while its record file is unchanged. Threads sign under the cached
 * CA at once; a change of the record through the service (a policy) and
 * behind its back (the record file replaced by another process, here:
 * the policy cleared by a second service) is seen by the next signing.
 */
static void
test_service_ca_cache(void **state)
{
	struct hkms_ops_ca_create_req cr = { 0 };
	struct hkms_service *svc = NULL, *other = NULL;
	struct cache_worker w[4];
	pthread_t th[4];
	struct hkms_principal p;
	struct hkms_ops_ctx c, c2;
	struct hkms_err err = { 0 };
	json_t *out = NULL;
	const char *pol = "{\"allow_dns\": [\"only.example.org\"]}";
	char *csr = make_csr("www.example.com");
	int t;

	(void)state;
	hkms_principal_local(&p, "tester");
	assert_int_equal(hkms_service_open(cfg, NULL, &svc, &err), HKMS_OK);
	assert_int_equal(hkms_service_ctx(svc, &p, "unit:cache",
	    HKMS_SERVICE_NEED_STORE | HKMS_SERVICE_NEED_TOKEN, &c, &err),
	    HKMS_OK);
	cr.name = "cache-ca";
	cr.key_type = "ec:p256";
	cr.subject = "/CN=Cache CA";
	if (hkms_ops_ca_create(&c, &cr, &out, &err) != HKMS_OK)
		fail_msg("ca create: %s", err.detail);
	json_decref(out);
	if (sign_csr(&c, "cache-ca", csr, &out, &err) != HKMS_OK)
		fail_msg("sign: %s", err.detail);
	json_decref(out);
	/* concurrent signings under the one cached CA */
	for (t = 0; t < 4; t++) {
		memset(&w[t], 0, sizeof(w[t]));
		w[t].svc = svc;
		w[t].csr = csr;
		assert_int_equal(pthread_create(&th[t], NULL, cache_worker_run,
		    &w[t]), 0);
	}
	for (t = 0; t < 4; t++)
		pthread_join(th[t], NULL);
	for (t = 0; t < 4; t++) {
		if (w[t].fail[0] != '\0')
			fail_msg("%s", w[t].fail);
		assert_int_equal(w[t].ok, PER_THREAD);
	}
	assert_int_equal(hkms_ops_ca_issued(&c, "cache-ca", -1, NULL, &out,
	    &err), HKMS_OK);
	assert_int_equal(json_array_size(out), 1 + 4 * PER_THREAD);
	json_decref(out);
	/* a policy set through this service: the next signing obeys it */
	assert_int_equal(hkms_ops_ca_policy(&c, "cache-ca", pol, strlen(pol),
	    0, &out, &err), HKMS_OK);
	json_decref(out);
	assert_int_equal(sign_csr(&c, "cache-ca", csr, &out, &err),
	    HKMS_E_POLICY);
	assert_string_equal(hkms_err_code(&err), "policy_violation");
	/* cleared by someone else (another service on the same store): the
	 * record file changed under this service's cache */
	assert_int_equal(hkms_service_open(cfg, NULL, &other, &err), HKMS_OK);
	assert_int_equal(hkms_service_ctx(other, &p, "unit:other",
	    HKMS_SERVICE_NEED_STORE, &c2, &err), HKMS_OK);
	assert_int_equal(hkms_ops_ca_policy(&c2, "cache-ca", NULL, 0, 1, &out,
	    &err), HKMS_OK);
	json_decref(out);
	hkms_service_close(other);
	if (sign_csr(&c, "cache-ca", csr, &out, &err) != HKMS_OK)
		fail_msg("sign after the policy was cleared elsewhere: %s",
		    err.detail);
	json_decref(out);
	/* a CA that is gone is gone for the cache too */
	assert_int_equal(sign_csr(&c, "no-such-ca", csr, &out, &err),
	    HKMS_E_NOT_FOUND);
	free(csr);
	hkms_service_close(svc);
}


int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_service_open_close_lazy),
		cmocka_unit_test(test_service_ctx_no_token),
		cmocka_unit_test(test_service_env_set_once),
		cmocka_unit_test(test_log_lines),
		cmocka_unit_test(test_service_concurrent_8_threads),
		/* before the wrong PIN, which the process keeps */
		cmocka_unit_test(test_service_token_gone_8_threads),
		cmocka_unit_test(test_service_ca_cache),
		cmocka_unit_test(test_service_pin_tried_once),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
