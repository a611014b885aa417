/*
 * The service object (include/hkms/service.h): one per process, under
 * both faces. It owns what a request runs against — the token, the store,
 * the truststore handle, the log and the metrics — and opens each on
 * first use, so a command that needs no token never loads the module.
 *
 * Locks (docs/design.md, "Lock order"): trust_mu, then store_mu, then
 * hsm_mu, then metrics_mu; never the other way. Opening the store may
 * need the token (the audit key provider), never the reverse: the audit
 * line of a refused login is written after hsm_mu is released. Each
 * pointer is set once, under its mutex, and stays until close.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/trust.h"

#include "ops_int.h"

#define METRIC_SLOTS 128

struct op_counter {
	char op[48];		/* set once, before nops is raised past it */
	atomic_ulong ok;
	atomic_ulong error;
};

struct hkms_service {
	const struct hkms_config *cfg;	/* borrowed */
	char *actor;
	int store_read_only;
	struct hkms_log *log;

	pthread_mutex_t hsm_mu;
	struct hkms_hsm *hsm;		/* under hsm_mu; then constant */
	int hsm_failed;			/* one try per service */
	struct hkms_err hsm_err;
	int token_retry;		/* retry a token_down open (server) */
	struct timespec hsm_retry_at;	/* not before (CLOCK_MONOTONIC) */
	int hsm_backoff_ms;		/* next wait, doubled to 30 s */
	struct hkms_secret *unseal_pin;	/* under hsm_mu: the PIN hkms
					 * unseal gave (sealed start) */

	pthread_mutex_t store_mu;
	struct hkms_store *store;	/* under store_mu; then constant */

	pthread_mutex_t trust_mu;
	struct hkms_trust *trust;	/* under trust_mu; then constant */

	pthread_mutex_t metrics_mu;	/* adding a counter */
	struct op_counter ops[METRIC_SLOTS];
	atomic_size_t nops;
	atomic_ulong token_errors;

	struct ops_ca_cache *ca_cache;	/* parsed CAs (ca_util.c) */
};

void
hkms_principal_local(struct hkms_principal *p, const char *user)
{
	if (p == NULL)
		return;
	memset(p, 0, sizeof(*p));
	p->kind = HKMS_PRINCIPAL_LOCAL;
	p->name = user;
	p->clearance = HKMS_CLEARANCE_ADMIN;
}

enum hkms_rc
hkms_service_open(const struct hkms_config *cfg,
    const struct hkms_service_opts *opts, struct hkms_service **out,
    struct hkms_err *err)
{
	struct hkms_service *svc;
	enum hkms_rc rc;
	int fd = opts && opts->log_fd > 0 ? opts->log_fd : STDERR_FILENO;

	if (cfg == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	/* before any thread and before the module is loaded: SoftHSM2 reads
	 * it in C_Initialize, and setenv is not thread-safe */
	if ((rc = hkms_hsm_env_init(cfg->softhsm2_conf, err)) != HKMS_OK)
		return rc;
	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	svc->cfg = cfg;
	svc->store_read_only = opts ? opts->store_read_only : 0;
	svc->token_retry = opts ? opts->token_retry : 0;
	pthread_mutex_init(&svc->hsm_mu, NULL);
	pthread_mutex_init(&svc->store_mu, NULL);
	pthread_mutex_init(&svc->trust_mu, NULL);
	pthread_mutex_init(&svc->metrics_mu, NULL);
	atomic_init(&svc->nops, 0);
	atomic_init(&svc->token_errors, 0);
	if ((svc->actor = strdup(opts && opts->actor ? opts->actor :
	    "unknown")) == NULL || (svc->ca_cache = ops_ca_cache_new()) ==
	    NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = hkms_log_open(fd, cfg->log_level >= 0 ?
	    (enum hkms_log_level)cfg->log_level : opts && opts->log_quiet ?
	    HKMS_LOG_OFF : HKMS_LOG_WARN, &svc->log, err)) != HKMS_OK)
		goto fail;
	*out = svc;
	return HKMS_OK;
fail:
	hkms_service_close(svc);
	return rc;
}

void
hkms_service_close(struct hkms_service *svc)
{
	if (svc == NULL)
		return;
	/* the reverse of the lock order: nothing runs any more */
	hkms_trust_close(svc->trust);
	hkms_store_close(svc->store);
	hkms_hsm_close(svc->hsm);
	hkms_log_close(svc->log);
	hkms_secret_free(svc->unseal_pin);
	ops_ca_cache_free(svc->ca_cache);
	pthread_mutex_destroy(&svc->hsm_mu);
	pthread_mutex_destroy(&svc->store_mu);
	pthread_mutex_destroy(&svc->trust_mu);
	pthread_mutex_destroy(&svc->metrics_mu);
	free(svc->actor);
	free(svc);
}

struct ops_ca_cache *
ops_service_ca_cache(struct hkms_service *svc)
{
	return svc ? svc->ca_cache : NULL;
}

const struct hkms_config *
hkms_service_config(const struct hkms_service *svc)
{
	return svc ? svc->cfg : NULL;
}

struct hkms_log *
hkms_service_log(struct hkms_service *svc)
{
	return svc ? svc->log : NULL;
}

/* The user PIN: the one hkms unseal gave, else HKMS_PIN, else the
 * config's pin_file (mode 0600). Under hsm_mu. */
static enum hkms_rc
read_pin(struct hkms_service *svc, struct hkms_secret **pin,
    struct hkms_err *err)
{
	const struct hkms_config *cfg = svc->cfg;
	enum hkms_rc rc;

	if (svc->unseal_pin != NULL)
		return hkms_secret_new(hkms_secret_str(svc->unseal_pin),
		    hkms_secret_len(svc->unseal_pin), pin, err);
	rc = hkms_secret_from_env("HKMS_PIN", pin, err);
	if (rc != HKMS_E_NOT_FOUND)
		return rc;
	return hkms_secret_from_file(cfg->pin_file, "PIN", pin, err);
}

/*
 * A failed login (wrong PIN, locked PIN) is audited: op "token.login",
 * result "error", the token and the error code, never the PIN. It is
 * written unsealed when the log is sealed (the audit key needs the login
 * that just failed); the next sealed append covers it. Only into a data
 * dir that exists: a failed command never creates one. Called without
 * hsm_mu (the store comes first in the lock order).
 */
static void
audit_login_failure(struct hkms_service *svc, struct hkms_err *err)
{
	const struct hkms_config *cfg = svc->cfg;
	struct hkms_err ae = { 0 };
	struct hkms_store *st;
	struct stat sb;
	json_t *d;
	size_t n;

	if (cfg->data_dir == NULL || stat(cfg->data_dir, &sb) != 0 ||
	    !S_ISDIR(sb.st_mode))
		return;
	if (hkms_service_store(svc, &st, &ae) == HKMS_OK) {
		d = json_pack("{s:s,s:s}", "error", hkms_err_code(err),
		    "message", err->detail);
		if (hkms_audit_append_unsealed(st, svc->actor, "token.login",
		    cfg->label ? cfg->label : (cfg->serial ? cfg->serial : ""),
		    "error", d, &ae) == HKMS_OK) {
			json_decref(d);
			return;
		}
		json_decref(d);
	}
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, " (audit: %.200s)",
	    ae.detail);
}

/* A failed open may be tried again (under hsm_mu): only by a service
 * opened with token_retry, only for a token that was down or missing
 * (HKMS_E_TOKEN_DOWN, HKMS_E_TOKEN), never after a refused PIN, and not
 * before the backoff (0.5 s, doubled up to 30 s) has passed. */
static int
retry_due(struct hkms_service *svc)
{
	struct timespec now;

	if (!svc->token_retry || (svc->hsm_err.rc != HKMS_E_TOKEN_DOWN &&
	    svc->hsm_err.rc != HKMS_E_TOKEN))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > svc->hsm_retry_at.tv_sec ||
	    (now.tv_sec == svc->hsm_retry_at.tv_sec &&
	    now.tv_nsec >= svc->hsm_retry_at.tv_nsec);
}

static void
retry_arm(struct hkms_service *svc, enum hkms_rc rc)
{
	long ms;

	if (!svc->token_retry || (rc != HKMS_E_TOKEN_DOWN &&
	    rc != HKMS_E_TOKEN))
		return;
	svc->hsm_backoff_ms = svc->hsm_backoff_ms == 0 ? 500 :
	    svc->hsm_backoff_ms >= 15000 ? 30000 : svc->hsm_backoff_ms * 2;
	clock_gettime(CLOCK_MONOTONIC, &svc->hsm_retry_at);
	ms = svc->hsm_backoff_ms;
	svc->hsm_retry_at.tv_sec += ms / 1000;
	svc->hsm_retry_at.tv_nsec += (ms % 1000) * 1000000L;
	if (svc->hsm_retry_at.tv_nsec >= 1000000000L) {
		svc->hsm_retry_at.tv_sec++;
		svc->hsm_retry_at.tv_nsec -= 1000000000L;
	}
}

int
hkms_service_sealed(struct hkms_service *svc)
{
	const struct hkms_config *cfg;
	struct hkms_secret *pin = NULL;
	struct hkms_err e = { 0 };
	struct stat sb;
	int sealed;

	if (svc == NULL)
		return 1;
	cfg = svc->cfg;
	pthread_mutex_lock(&svc->hsm_mu);
	sealed = svc->hsm == NULL && svc->unseal_pin == NULL;
	pthread_mutex_unlock(&svc->hsm_mu);
	if (!sealed)
		return 0;
	if (hkms_secret_from_env("HKMS_PIN", &pin, &e) == HKMS_OK) {
		hkms_secret_free(pin);
		return 0;
	}
	return cfg->pin_file == NULL || stat(cfg->pin_file, &sb) != 0;
}

enum hkms_rc
hkms_service_unseal(struct hkms_service *svc, const struct hkms_secret *pin,
    struct hkms_err *err)
{
	struct hkms_secret *copy = NULL;
	struct hkms_hsm *h;
	enum hkms_rc rc;

	if (svc == NULL || pin == NULL || hkms_secret_len(pin) == 0)
		return hkms_err_set(err, HKMS_E_INVALID, "no PIN given");
	if ((rc = hkms_secret_new(hkms_secret_str(pin), hkms_secret_len(pin),
	    &copy, err)) != HKMS_OK)
		return rc;
	pthread_mutex_lock(&svc->hsm_mu);
	if (svc->hsm != NULL) {
		pthread_mutex_unlock(&svc->hsm_mu);
		hkms_secret_free(copy);
		return hkms_err_setc(err, HKMS_E_EXISTS, "not_sealed",
		    "the service is not sealed");
	}
	hkms_secret_free(svc->unseal_pin);
	svc->unseal_pin = copy;
	svc->hsm_failed = 0;	/* a new PIN: one new try */
	svc->hsm_backoff_ms = 0;
	pthread_mutex_unlock(&svc->hsm_mu);
	rc = hkms_service_hsm(svc, &h, err);
	if (rc != HKMS_OK) {
		/* stays sealed: the PIN is dropped again */
		pthread_mutex_lock(&svc->hsm_mu);
		if (svc->hsm == NULL) {
			hkms_secret_free(svc->unseal_pin);
			svc->unseal_pin = NULL;
		}
		pthread_mutex_unlock(&svc->hsm_mu);
	}
	return rc;
}

enum hkms_rc
hkms_service_hsm(struct hkms_service *svc, struct hkms_hsm **out,
    struct hkms_err *err)
{
	const struct hkms_config *cfg;
	struct hkms_secret *pin = NULL;
	struct hkms_hsm_opts o;
	struct hkms_err e = { 0 };
	char *lock = NULL;
	enum hkms_rc rc;
	int audit = 0;

	if (svc == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	cfg = svc->cfg;
	pthread_mutex_lock(&svc->hsm_mu);
	if (svc->hsm != NULL) {
		*out = svc->hsm;
		pthread_mutex_unlock(&svc->hsm_mu);
		return HKMS_OK;
	}
	/* one try per service: a second would burn another PIN attempt;
	 * a server retries a token that was down (never a refused PIN),
	 * not before the backoff has passed */
	if (svc->hsm_failed && !retry_due(svc)) {
		e = svc->hsm_err;
		pthread_mutex_unlock(&svc->hsm_mu);
		if (err != NULL)
			*err = e;
		return e.rc;
	}
	/* the module is dlopen'ed: refuse one others could have changed */
	if ((rc = hkms_config_check_token(cfg, &e)) != HKMS_OK ||
	    (rc = read_pin(svc, &pin, &e)) != HKMS_OK) {
		pthread_mutex_unlock(&svc->hsm_mu);
		if (err != NULL)
			*err = e;
		return rc;
	}
	o.module = cfg->module;
	o.label = cfg->label;
	o.serial = cfg->serial;
	o.softhsm2_conf = cfg->softhsm2_conf;
	/* every hkms process of this data dir serializes its token writes
	 * on one lock (docs/hsm.md); a read-only store creates nothing */
	if (cfg->data_dir == NULL || asprintf(&lock, "%s/.token.lock",
	    cfg->data_dir) < 0)
		lock = NULL;
	o.lock_file = lock;
	o.lock_create = !svc->store_read_only;
	o.refresh_on_miss = svc->token_retry;
	rc = hkms_hsm_open(&o, pin, &svc->hsm, &e);
	hkms_secret_free(pin);
	free(lock);
	if (rc == HKMS_OK) {
		*out = svc->hsm;
		svc->hsm_failed = 0;
		svc->hsm_backoff_ms = 0;
		pthread_mutex_unlock(&svc->hsm_mu);
		hkms_log_msg(svc->log, HKMS_LOG_INFO, "token.open",
		    "token '%s' opened", cfg->label ? cfg->label :
		    (cfg->serial ? cfg->serial : ""));
		return HKMS_OK;
	}
	e.rc = rc;
	svc->hsm_failed = 1;
	svc->hsm_err = e;
	retry_arm(svc, rc);
	audit = rc == HKMS_E_PIN;
	pthread_mutex_unlock(&svc->hsm_mu);
	atomic_fetch_add(&svc->token_errors, 1);
	if (audit)
		audit_login_failure(svc, &e);
	pthread_mutex_lock(&svc->hsm_mu);
	svc->hsm_err = e;
	pthread_mutex_unlock(&svc->hsm_mu);
	hkms_log_err(svc->log, HKMS_LOG_ERROR, "token.open", &e, NULL);
	if (err != NULL)
		*err = e;
	return rc;
}

int
hkms_service_hsm_open(struct hkms_service *svc)
{
	int open;

	if (svc == NULL)
		return 0;
	pthread_mutex_lock(&svc->hsm_mu);
	open = svc->hsm != NULL;
	pthread_mutex_unlock(&svc->hsm_mu);
	return open;
}

/* The store's audit key: the token's HKMS_AUDIT_KEY_LABEL key, found when
 * the store first needs it (so a read-only command never opens the
 * token). */
static enum hkms_rc
audit_get_public(void *arg, unsigned char **spki, size_t *len,
    struct hkms_err *err)
{
	struct hkms_service *svc = arg;
	struct hkms_hsm *h;
	EVP_PKEY *pub = NULL;
	unsigned char *der = NULL;
	enum hkms_rc rc;
	int n;

	/* NOT_FOUND means "the token has no audit key": a PIN file or a
	 * token that cannot be found is a failure, not that */
	if ((rc = hkms_service_hsm(svc, &h, err)) != HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND && err != NULL) {
			err->rc = HKMS_E_TOKEN;
			snprintf(err->code, sizeof(err->code), "%s",
			    hkms_strerror(HKMS_E_TOKEN));
		}
		return rc == HKMS_E_NOT_FOUND ? HKMS_E_TOKEN : rc;
	}
	if ((rc = hkms_hsm_key_public(h, HKMS_AUDIT_KEY_LABEL, &pub, err)) !=
	    HKMS_OK)
		return rc;
	n = i2d_PUBKEY(pub, &der);
	EVP_PKEY_free(pub);
	if (n <= 0)
		return hkms_err_crypto(err, "cannot encode the audit key");
	if ((*spki = malloc((size_t)n)) == NULL) {
		OPENSSL_free(der);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	memcpy(*spki, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	return HKMS_OK;
}

static enum hkms_rc
audit_sign(void *arg, const unsigned char dgst[32], unsigned char *sig,
    size_t *siglen, struct hkms_err *err)
{
	struct hkms_service *svc = arg;
	struct hkms_hsm *h;

	/* the public key was asked for first, which opened the token */
	pthread_mutex_lock(&svc->hsm_mu);
	h = svc->hsm;
	pthread_mutex_unlock(&svc->hsm_mu);
	if (h == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return hkms_hsm_sign_digest(h, HKMS_AUDIT_KEY_LABEL, EVP_sha256(),
	    dgst, 32, sig, siglen, err);
}

enum hkms_rc
hkms_service_store(struct hkms_service *svc, struct hkms_store **out,
    struct hkms_err *err)
{
	struct hkms_audit_key ak = { audit_get_public, audit_sign, NULL };
	struct hkms_store *st = NULL;
	enum hkms_rc rc = HKMS_OK;

	if (svc == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	pthread_mutex_lock(&svc->store_mu);
	if (svc->store == NULL) {
		ak.arg = svc;
		rc = svc->store_read_only ? hkms_store_open_readonly(
		    svc->cfg->data_dir, &st, err) : hkms_store_open(
		    svc->cfg->data_dir, &st, err);
		if (rc == HKMS_OK) {
			hkms_store_set_audit_key(st, &ak);
			if (svc->cfg->audit_key_sha256 != NULL)
				rc = hkms_store_pin_audit_key(st,
				    svc->cfg->audit_key_sha256, err);
		}
		if (rc == HKMS_OK)
			svc->store = st;
		else
			hkms_store_close(st);
	}
	*out = svc->store;
	pthread_mutex_unlock(&svc->store_mu);
	return rc;
}

enum hkms_rc
hkms_service_trust(struct hkms_service *svc, struct hkms_trust **out,
    struct hkms_err *err)
{
	struct hkms_store *st;
	enum hkms_rc rc = HKMS_OK;

	if (svc == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	pthread_mutex_lock(&svc->trust_mu);
	if (svc->trust == NULL &&
	    (rc = hkms_service_store(svc, &st, err)) == HKMS_OK)
		rc = hkms_trust_open(st, &svc->trust, err);
	*out = svc->trust;
	pthread_mutex_unlock(&svc->trust_mu);
	return rc;
}

enum hkms_rc
hkms_service_ctx(struct hkms_service *svc,
    const struct hkms_principal *principal, const char *actor,
    unsigned need, struct hkms_ops_ctx *ctx, struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	enum hkms_rc rc;

	if (svc == NULL || ctx == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	memset(ctx, 0, sizeof(*ctx));
	ctx->service = svc;
	ctx->principal = principal;
	ctx->actor = actor ? actor : svc->actor;
	ctx->cfg = svc->cfg;
	if ((need & HKMS_SERVICE_NEED_STORE) &&
	    (rc = hkms_service_store(svc, &ctx->store, err)) != HKMS_OK)
		return rc;
	if ((need & HKMS_SERVICE_NEED_TOKEN) &&
	    (rc = hkms_service_hsm(svc, &ctx->hsm, err)) != HKMS_OK)
		return rc;
	if ((need & HKMS_SERVICE_WANT_TOKEN) && ctx->hsm == NULL &&
	    hkms_service_hsm(svc, &ctx->hsm, &e) != HKMS_OK)
		ctx->hsm = NULL;
	return HKMS_OK;
}

/* ---- sealed data ---- */

size_t
ops_seal_aad(const char *purpose, const char *a, const char *b, char *buf,
    size_t cap)
{
	size_t np = strlen(purpose) + 1, na = strlen(a) + 1, nb = strlen(b);

	if (np + na + nb > cap)
		return 0;
	memcpy(buf, purpose, np);
	memcpy(buf + np, a, na);
	memcpy(buf + np + na, b, nb);
	return np + na + nb;
}

enum hkms_rc
hkms_service_seal_data(struct hkms_service *svc, const void *plain,
    size_t len, const void *aad, size_t naad, unsigned char **blob,
    size_t *blob_len, struct hkms_err *err)
{
	struct hkms_hsm *h;
	enum hkms_rc rc;

	if ((rc = hkms_service_hsm(svc, &h, err)) != HKMS_OK)
		return rc;
	return hkms_hsm_seal(h, plain, len, aad, naad, blob, blob_len, err);
}

enum hkms_rc
hkms_service_unseal_data(struct hkms_service *svc, const unsigned char *blob,
    size_t blob_len, const void *aad, size_t naad, struct hkms_secret **out,
    struct hkms_err *err)
{
	struct hkms_hsm *h;
	enum hkms_rc rc;

	if ((rc = hkms_service_hsm(svc, &h, err)) != HKMS_OK)
		return rc;
	return hkms_hsm_unseal(h, blob, blob_len, aad, naad, out, err);
}

/* ---- the server's TLS key ---- */

enum hkms_rc
hkms_service_tls_sign(struct hkms_service *svc, const char *key,
    int scheme, const char *digest, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, struct hkms_err *err)
{
	const EVP_MD *md = NULL;
	struct hkms_hsm *h;
	enum hkms_rc rc;

	if (digest != NULL && (md = EVP_get_digestbyname(digest)) == NULL)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "unknown digest '%.40s'", digest);
	if (scheme != HKMS_SIGN_ECDSA && scheme != HKMS_SIGN_RSA_PKCS1 &&
	    scheme != HKMS_SIGN_RSA_PSS)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "unknown signature scheme");
	if ((rc = hkms_service_hsm(svc, &h, err)) != HKMS_OK)
		return rc;
	rc = hkms_hsm_sign(h, key, (enum hkms_sign_scheme)scheme, md, in,
	    inlen, sig, siglen, err);
	if (rc == HKMS_E_TOKEN || rc == HKMS_E_TOKEN_DOWN)
		atomic_fetch_add(&svc->token_errors, 1);
	return rc;
}

enum hkms_rc
hkms_service_probe_store(struct hkms_service *svc, struct hkms_err *err)
{
	struct hkms_store *st;
	char *path = NULL;
	enum hkms_rc rc;
	char buf[64];
	int n;

	if ((rc = hkms_service_store(svc, &st, err)) != HKMS_OK)
		return rc;
	if (asprintf(&path, "%s/run", svc->cfg->data_dir) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot make '%s': %s", path,
		    strerror(errno));
		free(path);
		return rc;
	}
	free(path);
	if (asprintf(&path, "%s/run/health.probe", svc->cfg->data_dir) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)time(NULL));
	rc = hkms_store_write_atomic(path, buf, (size_t)n, 0600, err);
	free(path);
	return rc;
}

/* ---- metrics ---- */

static struct op_counter *
counter(struct hkms_service *svc, const char *op)
{
	size_t i, n = atomic_load_explicit(&svc->nops, memory_order_acquire);

	for (i = 0; i < n; i++)
		if (strcmp(svc->ops[i].op, op) == 0)
			return &svc->ops[i];
	pthread_mutex_lock(&svc->metrics_mu);
	n = atomic_load_explicit(&svc->nops, memory_order_relaxed);
	for (i = 0; i < n; i++)
		if (strcmp(svc->ops[i].op, op) == 0)
			break;
	if (i == n && n < METRIC_SLOTS) {
		snprintf(svc->ops[n].op, sizeof(svc->ops[n].op), "%s", op);
		atomic_init(&svc->ops[n].ok, 0);
		atomic_init(&svc->ops[n].error, 0);
		/* the name is complete before a reader can see the slot */
		atomic_store_explicit(&svc->nops, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&svc->metrics_mu);
	return i < METRIC_SLOTS ? &svc->ops[i] : NULL;
}

void
hkms_service_count(struct hkms_service *svc, const char *op,
    enum hkms_rc rc)
{
	struct op_counter *c;

	if (svc == NULL || op == NULL)
		return;
	if (rc == HKMS_E_TOKEN || rc == HKMS_E_TOKEN_DOWN || rc == HKMS_E_PIN)
		atomic_fetch_add(&svc->token_errors, 1);
	if ((c = counter(svc, op)) == NULL)
		return;	/* more names than slots: counted nowhere */
	atomic_fetch_add(rc == HKMS_OK ? &c->ok : &c->error, 1);
}

json_t *
hkms_service_metrics(struct hkms_service *svc)
{
	json_t *o, *ops;
	size_t i, n;
	struct hkms_hsm *h;
	struct hkms_store *st;
	unsigned long long batches = 0, gcops = 0;

	if (svc == NULL)
		return NULL;
	ops = json_array();
	n = atomic_load_explicit(&svc->nops, memory_order_acquire);
	for (i = 0; i < n; i++) {
		json_array_append_new(ops, json_pack("{s:s,s:s,s:I}", "op",
		    svc->ops[i].op, "result", "ok", "count",
		    (json_int_t)atomic_load(&svc->ops[i].ok)));
		json_array_append_new(ops, json_pack("{s:s,s:s,s:I}", "op",
		    svc->ops[i].op, "result", "error", "count",
		    (json_int_t)atomic_load(&svc->ops[i].error)));
	}
	pthread_mutex_lock(&svc->store_mu);
	st = svc->store;
	pthread_mutex_unlock(&svc->store_mu);
	if (st != NULL)
		hkms_store_commit_stats(st, &batches, &gcops);
	pthread_mutex_lock(&svc->hsm_mu);
	h = svc->hsm;
	pthread_mutex_unlock(&svc->hsm_mu);
	o = json_pack("{s:o,s:I,s:I,s:b,s:I,s:I}", "operations", ops,
	    "token_errors", (json_int_t)atomic_load(&svc->token_errors),
	    "token_rebuilds", (json_int_t)hkms_hsm_rebuilds(h), "token_open",
	    h != NULL, "group_commit_batches", (json_int_t)batches,
	    "group_commit_operations", (json_int_t)gcops);
	return o;
}

/* ---- for faces ---- */

enum hkms_rc
hkms_service_write_output(const char *path, const void *data, size_t len,
    unsigned mode, struct hkms_err *err)
{
	struct stat st;
	FILE *f;

	/* A regular file (or a new one) is replaced atomically; anything
	 * else (/dev/null, a FIFO, /dev/stdout, a symlink the user named)
	 * is written in place like a shell redirection, never renamed over
	 * (hkms_store_write_atomic refuses a symlink as its target). */
	if (path != NULL && (lstat(path, &st) != 0 || S_ISREG(st.st_mode)))
		return hkms_store_write_atomic(path, data, len, mode, err);
	if (path == NULL)
		f = stdout;
	else if ((f = fopen(path, "w")) == NULL)
		return hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s",
		    path, strerror(errno));
	if (fwrite(data, 1, len, f) != len || fflush(f) != 0) {
		if (f != stdout)
			fclose(f);
		return hkms_err_set(err, HKMS_E_IO, "cannot write to %s",
		    path ? path : "stdout");
	}
	if (f != stdout && fclose(f) != 0)
		return hkms_err_set(err, HKMS_E_IO, "cannot write to %s", path);
	return HKMS_OK;
}
