/*
 * Token context: load the module through libp11, find the token, log in
 * once, and rebuild everything when the token goes away and comes back.
 *
 * libp11 0.4.12 does not recover by logging in again (its login is a no-op
 * while it believes it is logged in), so recovery tears the whole context
 * down (C_Finalize) and builds a new one (C_Initialize, find, login), and
 * keys are looked up again by CKA_ID. A PIN the token refused is never
 * tried again: the layer stays sealed until it is reopened with a new PIN.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

#include "hsm_int.h"

#define BACKOFF_MAX_DEFAULT 30

static const struct {
	CK_RV rv;
	const char *name;
} ckr_names[] = {
	{ CKR_OK, "CKR_OK" },
	{ CKR_HOST_MEMORY, "CKR_HOST_MEMORY" },
	{ CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR" },
	{ CKR_FUNCTION_FAILED, "CKR_FUNCTION_FAILED" },
	{ CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD" },
	{ CKR_ATTRIBUTE_SENSITIVE, "CKR_ATTRIBUTE_SENSITIVE" },
	{ CKR_ATTRIBUTE_TYPE_INVALID, "CKR_ATTRIBUTE_TYPE_INVALID" },
	{ CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID" },
	{ CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR" },
	{ CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY" },
	{ CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED" },
	{ CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID" },
	{ CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE" },
	{ CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID" },
	{ CKR_OBJECT_HANDLE_INVALID, "CKR_OBJECT_HANDLE_INVALID" },
	{ CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE" },
	{ CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT" },
	{ CKR_PIN_INVALID, "CKR_PIN_INVALID" },
	{ CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE" },
	{ CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED" },
	{ CKR_PIN_LOCKED, "CKR_PIN_LOCKED" },
	{ CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED" },
	{ CKR_SESSION_COUNT, "CKR_SESSION_COUNT" },
	{ CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID" },
	{ CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY" },
	{ CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT" },
	{ CKR_TEMPLATE_INCOMPLETE, "CKR_TEMPLATE_INCOMPLETE" },
	{ CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT" },
	{ CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED" },
	{ CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED" },
	{ CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN" },
	{ CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN" },
	{ CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED" },
	{ CKR_CRYPTOKI_ALREADY_INITIALIZED, "CKR_CRYPTOKI_ALREADY_INITIALIZED" },
	{ CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID" },
};

const char *
hsm_ckr_name(CK_RV rv)
{
	static __thread char buf[32];
	size_t i;

	for (i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
		if (ckr_names[i].rv == rv)
			return ckr_names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
	return buf;
}

/* The CK_RV that libp11 pushed on the OpenSSL error queue (under its
 * dynamically assigned library code), or CKR_GENERAL_ERROR if none. The
 * queue is cleared. */
CK_RV
hsm_ckr_from_queue(void)
{
	int lib = ERR_get_CKR_code();
	CK_RV rv = CKR_GENERAL_ERROR;
	int found = 0;
	unsigned long e;

	while ((e = ERR_get_error()) != 0) {
		if (!found && lib != 0 && ERR_GET_LIB(e) == lib) {
			rv = (CK_RV)ERR_GET_REASON(e);
			found = 1;
		}
	}
	return rv;
}

/* Codes that say the token itself is down or gone (not the session, not
 * the request): reported as token_unavailable with the CKR named. */
int
hsm_ckr_token_down(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_MEMORY:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
		return 1;
	}
	return 0;
}

/* Codes after which the context is rebuilt and an idempotent operation
 * retried once (RELIABILITY.md, PKCS#11 rules 1 and 6). */
int
hsm_ckr_recoverable(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED:
		return 1;
	}
	return 0;
}

static int
pin_rejected(CK_RV rv)
{
	return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID ||
	    rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_EXPIRED ||
	    rv == CKR_PIN_LOCKED;
}

static void
copy_trim(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;

	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	while (n > 0 && dst[n - 1] == ' ')
		dst[--n] = '\0';
}

void
hsm_cache_clear(struct hkms_hsm *h)
{
	size_t i;

	for (i = 0; i < h->ncache; i++)
		EVP_PKEY_free(h->cache[i].priv);
	free(h->cache);
	h->cache = NULL;
	h->ncache = 0;
}

static void
ctx_teardown(struct hkms_hsm *h)
{
	hsm_cache_clear(h);
	if (h->ctx != NULL) {
		if (h->slots != NULL)
			PKCS11_release_all_slots(h->ctx, h->slots, h->nslots);
		PKCS11_CTX_unload(h->ctx);
		PKCS11_CTX_free(h->ctx);
	}
	h->ctx = NULL;
	h->slots = NULL;
	h->nslots = 0;
	h->slot = NULL;
	h->p11 = NULL;
	h->up = 0;
}

/* Load the module into a new libp11 context and fetch the raw function
 * list of that same loaded module (never a second copy of it). */
static enum hkms_rc
ctx_load(const char *module, PKCS11_CTX **ctxp, CK_FUNCTION_LIST_PTR *p11,
    struct hkms_err *err)
{
	CK_RV (*getfl)(CK_FUNCTION_LIST_PTR_PTR);
	PKCS11_CTX *ctx;
	void *dl;

	if ((ctx = PKCS11_CTX_new()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	if (PKCS11_CTX_load(ctx, module) != 0) {
		CK_RV rv = hsm_ckr_from_queue();

		/* never unload after a failed load: libp11 0.4.12 crashes */
		PKCS11_CTX_free(ctx);
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "module_load",
		    "cannot load PKCS#11 module '%s': %s", module,
		    hsm_ckr_name(rv));
	}
	ERR_clear_error();	/* SoftHSM leaves ENGINE noise behind */
	/* keep the CK_RV behind a failed signature (with_op) */
	hkms_err_watch_lib(ERR_get_CKR_code());
	/* RTLD_NODELETE: the module stays mapped for the life of the
	 * process, so a rebuild is a C_Finalize/C_Initialize cycle and never
	 * a reload (libp11 0.4.12 can dlclose once too often after a failed
	 * load, and many HSM modules do not survive being unloaded). */
	dl = dlopen(module, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
	getfl = dl ? (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl,
	    "C_GetFunctionList") : NULL;
	if (getfl == NULL || getfl(p11) != CKR_OK || *p11 == NULL) {
		if (dl != NULL)
			dlclose(dl);
		PKCS11_CTX_unload(ctx);
		PKCS11_CTX_free(ctx);
		return hkms_err_set(err, HKMS_E_TOKEN,
		    "cannot get the function list of '%s'", module);
	}
	dlclose(dl);	/* drops our reference; libp11 keeps its own */
	*ctxp = ctx;
	return HKMS_OK;
}

static int
slot_matches(PKCS11_SLOT *s, const char *label, const char *serial)
{
	char buf[64];

	if (s->token == NULL || !s->token->initialized)
		return 0;
	if (label != NULL) {
		copy_trim(buf, sizeof(buf), s->token->label);
		return strcmp(buf, label) == 0;
	}
	if (serial != NULL) {
		copy_trim(buf, sizeof(buf), s->token->serialnr);
		return strcmp(buf, serial) == 0;
	}
	return 1;
}

static const char *
token_name(const struct hkms_hsm *h)
{
	return h->label ? h->label : h->serial ? h->serial : "(any)";
}

/* Build a fresh logged-in context. Called at open and, with the write
 * lock held, by hsm_rebuild(). */
static enum hkms_rc
ctx_build(struct hkms_hsm *h, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	PKCS11_TOKEN *tok;
	unsigned int i;
	CK_RV rv;

	if (h->sealed)
		return hkms_err_setc(err, HKMS_E_PIN, "pin_refused",
		    "token '%s' refused the PIN; not trying it again",
		    token_name(h));
	if ((rc = ctx_load(h->module, &h->ctx, &h->p11, err)) != HKMS_OK)
		return rc;
	if (PKCS11_enumerate_slots(h->ctx, &h->slots, &h->nslots) != 0) {
		rv = hsm_ckr_from_queue();
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_not_found",
		    "cannot list slots of '%s': %s", h->module,
		    hsm_ckr_name(rv));
		goto fail;
	}
	for (i = 0; i < h->nslots && h->slot == NULL; i++)
		if (slot_matches(&h->slots[i], h->label, h->serial))
			h->slot = &h->slots[i];
	if (h->slot == NULL) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_not_found",
		    "token '%s' not found in module '%s'", token_name(h),
		    h->module);
		goto fail;
	}
	tok = h->slot->token;
	copy_trim(h->tok_label, sizeof(h->tok_label), tok->label);
	copy_trim(h->tok_manuf, sizeof(h->tok_manuf), tok->manufacturer);
	copy_trim(h->tok_model, sizeof(h->tok_model), tok->model);
	copy_trim(h->tok_serial, sizeof(h->tok_serial), tok->serialnr);
	h->slot_id = PKCS11_get_slotid_from_slot(h->slot);

	/* PIN safety: look at the flags before spending an attempt. */
	if (tok->userPinLocked) {
		h->sealed = 1;
		rc = hkms_err_setc(err, HKMS_E_PIN, "pin_locked",
		    "the user PIN of token '%s' is locked; an operator must "
		    "reset it", h->tok_label);
		goto fail;
	}
	if (tok->userPinFinalTry && getenv("HKMS_ALLOW_FINAL_TRY") == NULL) {
		h->sealed = 1;
		rc = hkms_err_setc(err, HKMS_E_PIN, "pin_final_try",
		    "token '%s' allows one more PIN attempt only; not logging "
		    "in (set HKMS_ALLOW_FINAL_TRY=1 to use it)", h->tok_label);
		goto fail;
	}
	/* A login that failed with a device error (SoftHSM2 reading a torn
	 * token file says CKR_GENERAL_ERROR) is tried again while opening,
	 * but not once the token says it counted a failed attempt: that
	 * error came after the PIN check, and the PIN is not tried twice. */
	if (!h->opened && h->logins > 0 && tok->userPinCountLow) {
		h->sealed = 1;
		rc = hkms_err_setc(err, HKMS_E_PIN, "pin_refused",
		    "token '%s' counted the failed login as a wrong PIN "
		    "attempt; not trying the PIN again", h->tok_label);
		goto fail;
	}
	/* A read-write session first: libp11 fixes the pool's mode with the
	 * first session it opens. */
	if (PKCS11_open_session(h->slot, 1) != 0) {
		rv = hsm_ckr_from_queue();
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
		    "cannot open a session on token '%s': %s", h->tok_label,
		    hsm_ckr_name(rv));
		goto fail;
	}
	/* libp11 0.4.12 (Debian 12) waits forever in pkcs11_get_session when
	 * C_OpenSession fails with anything but CKR_SESSION_COUNT (fixed
	 * upstream, libp11 PR 579), and PKCS11_login opens the pool's first
	 * session: a token that went away would hang the process here. A
	 * raw session first turns that into token_unavailable; what is left
	 * is a token failing in the microseconds between the two opens. */
	{
		CK_SESSION_HANDLE probe;

		if ((rc = hsm_session(h, &probe, &rv, err)) != HKMS_OK)
			goto fail;
		h->p11->C_CloseSession(probe);
	}
	h->logins++;
	if (PKCS11_login(h->slot, 0, hkms_secret_str(h->pin)) != 0) {
		rv = hsm_ckr_from_queue();
		if (rv != CKR_USER_ALREADY_LOGGED_IN) {
			if (pin_rejected(rv)) {
				h->sealed = 1;
				rc = hkms_err_setc(err, HKMS_E_PIN,
				    rv == CKR_PIN_LOCKED ? "pin_locked" :
				    "pin_incorrect", "cannot log in to token "
				    "'%s': %s", h->tok_label, hsm_ckr_name(rv));
			} else
				rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN,
				    "login_failed", "cannot log in to token "
				    "'%s': %s", h->tok_label, hsm_ckr_name(rv));
			goto fail;
		}
	}
	ERR_clear_error();
	h->up = 1;
	h->opened = 1;
	return HKMS_OK;
fail:
	ctx_teardown(h);
	return rc;
}

/* C_Initialize reads every object file and C_Login may rewrite
 * token.object: under the token lock, shared */
static enum hkms_rc
build_locked(struct hkms_hsm *h, struct hkms_err *err)
{
	enum hkms_rc rc;

	hsm_token_lock(h, 0);
	rc = ctx_build(h, err);
	hsm_token_unlock(h, 0);
	return rc;
}

/* set by run_locked around a refresh_on_miss rebuild */
static __thread int refreshing;

enum hkms_rc
hsm_rebuild(struct hkms_hsm *h, unsigned long seen_epoch,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	const char *v;
	int cap = BACKOFF_MAX_DEFAULT;
	time_t now = time(NULL);

	pthread_rwlock_wrlock(&h->ctx_lock);
	if (h->epoch != seen_epoch && h->up)
		goto out;	/* another thread rebuilt it already */
	if (!h->up && h->next_try > now && !h->sealed) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
		    "token '%s' is unavailable; next reconnect attempt in "
		    "%lds", token_name(h), (long)(h->next_try - now));
		goto out;
	}
	pthread_mutex_lock(&h->mu);
	ctx_teardown(h);
	h->epoch++;
	rc = build_locked(h, err);
	pthread_mutex_unlock(&h->mu);
	if (rc == HKMS_OK) {
		/* a refresh for a key another process made is not a
		 * recovery: hkms_hsm_rebuilds() counts recoveries */
		if (!refreshing)
			h->rebuilds++;
		h->backoff = 0;
		h->next_try = 0;
		goto out;
	}
	/* the module loaded and the token was found before (the module
	 * stays mapped): now the token is down, whatever step the rebuild
	 * failed at; the step stays in the message */
	if (rc == HKMS_E_TOKEN_DOWN && h->opened && err != NULL &&
	    (strcmp(err->code, "module_load") == 0 ||
	    strcmp(err->code, "token_not_found") == 0))
		snprintf(err->code, sizeof(err->code), "%s",
		    "token_unavailable");
	if ((v = getenv("HKMS_TOKEN_BACKOFF_MAX")) != NULL && atoi(v) >= 0)
		cap = atoi(v);
	h->backoff = h->backoff ? h->backoff * 2 : 1;
	if (h->backoff > cap)
		h->backoff = cap;
	h->next_try = now + h->backoff;
out:
	pthread_rwlock_unlock(&h->ctx_lock);
	return rc;
}

/*
 * The token lock. SoftHSM2's file store is not safe for several processes
 * at once: a process that reads an object while another is still writing
 * it (C_GenerateKeyPair and C_CreateObject write the new object file once
 * per attribute) fills in the attributes it did not see with defaults and
 * writes them back (C_GetAttributeValue, P11Attribute::init), and a writer
 * flushes the file only after it dropped its fcntl lock. A new private key
 * was overwritten that way with an object holding no label, no CKA_ID and
 * CKA_TOKEN false: its record named a key the token no longer showed
 * (tests/e2e/token_lock_race.sh). So every process using the token takes
 * an flock on one lock file: exclusively around the calls that create or
 * destroy objects, shared around every other token call. Threads of one
 * process share its flock: readers count, a writer waits for them and
 * new readers wait behind a waiting writer.
 */
void
hsm_token_lock(struct hkms_hsm *h, int excl)
{
	int want = excl ? LOCK_EX : LOCK_SH;

	if (h->lock_fd < 0)
		return;
	pthread_mutex_lock(&h->tl_mu);
	if (excl) {
		h->tl_wait++;
		while (h->tl_excl || h->tl_shared > 0)
			pthread_cond_wait(&h->tl_cv, &h->tl_mu);
		h->tl_wait--;
		h->tl_excl = 1;
	} else {
		while (h->tl_excl || h->tl_wait > 0)
			pthread_cond_wait(&h->tl_cv, &h->tl_mu);
		if (h->tl_shared++ > 0)
			want = 0;	/* this process holds it shared */
	}
	/* blocking under tl_mu: the other threads wait for it anyway. The
	 * gate first: flock has no writer preference, so readers of other
	 * processes that overlap would starve a writer; behind the gate a
	 * waiting writer holds up new readers */
	if (want != 0) {
		while (h->gate_fd >= 0 && flock(h->gate_fd, LOCK_EX) != 0 &&
		    errno == EINTR)
			;
		while (flock(h->lock_fd, want) != 0 && errno == EINTR)
			;
		if (h->gate_fd >= 0)
			(void)flock(h->gate_fd, LOCK_UN);
	}
	pthread_mutex_unlock(&h->tl_mu);
}

void
hsm_token_unlock(struct hkms_hsm *h, int excl)
{
	if (h->lock_fd < 0)
		return;
	pthread_mutex_lock(&h->tl_mu);
	if (excl)
		h->tl_excl = 0;
	else
		h->tl_shared--;
	if (!h->tl_excl && h->tl_shared == 0)
		(void)flock(h->lock_fd, LOCK_UN);
	pthread_cond_broadcast(&h->tl_cv);
	pthread_mutex_unlock(&h->tl_mu);
}

/* whether a key-not-found may rebuild the context now (once per 2 s) */
static int
miss_rebuild_due(struct hkms_hsm *h)
{
	long now = (long)time(NULL);
	long last = __atomic_load_n(&h->miss_rebuild_at, __ATOMIC_RELAXED);

	if (last != 0 && now - last < 2)
		return 0;
	return __atomic_compare_exchange_n(&h->miss_rebuild_at, &last, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* A call that failed with the token down (after its one retry) says so,
 * whichever step saw it: token_unavailable, the CKR in the message (the
 * step's own message names it too). */
static enum hkms_rc
token_down_code(struct hkms_hsm *h, enum hkms_rc rc, CK_RV rv,
    struct hkms_err *err)
{
	char detail[sizeof(err->detail)];

	if (rc == HKMS_OK || !hsm_ckr_token_down(rv) || err == NULL ||
	    strcmp(err->code, "token_unavailable") == 0)
		return rc;
	snprintf(detail, sizeof(detail), "%s", err->detail);
	if (strstr(detail, hsm_ckr_name(rv)) != NULL)
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN,
		    "token_unavailable", "%s", detail);
	return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
	    "token '%s' is unavailable: %s (%s)", token_name(h),
	    hsm_ckr_name(rv), detail);
}

static enum hkms_rc
run_locked(struct hkms_hsm *h, hsm_op_fn fn, void *arg, int retry, int excl,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	unsigned long epoch;
	int attempt, rebuilt = 0;
	CK_RV rv;

	for (attempt = 0; attempt < 3; attempt++) {
		pthread_rwlock_rdlock(&h->ctx_lock);
		epoch = h->epoch;
		if (!h->up) {
			pthread_rwlock_unlock(&h->ctx_lock);
			if (rebuilt++ > 0)
				break;
			if ((rc = hsm_rebuild(h, epoch, err)) != HKMS_OK)
				return rc;
			continue;
		}
		rv = CKR_OK;
		hsm_token_lock(h, excl);
		rc = fn(h, arg, &rv, err);
		hsm_token_unlock(h, excl);
		pthread_rwlock_unlock(&h->ctx_lock);
		if (rc == HKMS_E_NOT_FOUND && retry && !rebuilt &&
		    h->refresh_on_miss && miss_rebuild_due(h)) {
			/* A token that loads its object list once (the
			 * TPM's tpm2-pkcs11 reads its store at
			 * C_Initialize) does not see a key another
			 * process made since: a fresh context does. At
			 * most one such rebuild per 2 s, so names of keys
			 * that do not exist cannot keep the token busy. */
			rebuilt++;
			refreshing = 1;
			rc = hsm_rebuild(h, epoch, err);
			refreshing = 0;
			if (rc != HKMS_OK)
				return rc;
			continue;
		}
		if (rc == HKMS_OK || !retry || rebuilt ||
		    !hsm_ckr_recoverable(rv))
			return token_down_code(h, rc, rv, err);
		rebuilt++;
		if ((rc = hsm_rebuild(h, epoch, err)) != HKMS_OK)
			return rc;
	}
	return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
	    "token '%s' is unavailable", token_name(h));
}

enum hkms_rc
hsm_run(struct hkms_hsm *h, hsm_op_fn fn, void *arg, int retry,
    struct hkms_err *err)
{
	return run_locked(h, fn, arg, retry, 0, err);
}

enum hkms_rc
hsm_run_excl(struct hkms_hsm *h, hsm_op_fn fn, void *arg, int retry,
    struct hkms_err *err)
{
	return run_locked(h, fn, arg, retry, 1, err);
}

/* Open the token lock file: ours, a regular file with one link, never
 * through a symbolic link. Missing and not to be created (store check on
 * a read-only data dir), or in a directory that is not there: no lock. */
static enum hkms_rc
lock_file_open(const char *p, int create, int *out, struct hkms_err *err)
{
	struct stat sb;
	int fd;

	*out = -1;
	fd = open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == EACCES || errno == EROFS))
		fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create)
		fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		fd = open(p, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == EACCES || errno == EROFS)
			return HKMS_OK;
		return hkms_err_setc(err, errno == ELOOP ? HKMS_E_DENIED :
		    HKMS_E_IO, errno == ELOOP ? "unsafe_path" : "io_error",
		    "cannot open the token lock '%s': %s", p,
		    errno == ELOOP ? "it is a symbolic link" :
		    strerror(errno));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1 ||
	    (sb.st_uid != geteuid() && sb.st_uid != 0) ||
	    (sb.st_mode & 022) != 0) {
		close(fd);
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing the token lock '%s': not a regular file of "
		    "ours with one link, writable only by us", p);
	}
	*out = fd;
	return HKMS_OK;
}

/* The lock file and its gate (<lock>.gate) */
static enum hkms_rc
lock_open(struct hkms_hsm *h, const struct hkms_hsm_opts *opts,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char *gate;

	h->lock_fd = h->gate_fd = -1;
	if (opts->lock_file == NULL)
		return HKMS_OK;
	if ((rc = lock_file_open(opts->lock_file, opts->lock_create,
	    &h->lock_fd, err)) != HKMS_OK || h->lock_fd < 0)
		return rc;
	if (asprintf(&gate, "%s.gate", opts->lock_file) < 0)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	rc = lock_file_open(gate, opts->lock_create, &h->gate_fd, err);
	free(gate);
	return rc;
}

/* A raw read-write session on the token; the caller closes it. Login is
 * per application, so it is already logged in. */
enum hkms_rc
hsm_session(struct hkms_hsm *h, CK_SESSION_HANDLE *s, CK_RV *rv,
    struct hkms_err *err)
{
	*rv = h->p11->C_OpenSession(h->slot_id,
	    CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (*rv != CKR_OK)
		return hsm_ckr_recoverable(*rv) ?
		    hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
		    "cannot open a session on token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv)) : hkms_err_setc(err, HKMS_E_TOKEN,
		    "token_session", "cannot open a session on token '%s': %s",
		    h->tok_label, hsm_ckr_name(*rv));
	return HKMS_OK;
}

/*
 * SOFTHSM2_CONF is read by SoftHSM2 from the environment, only in
 * C_Initialize, and setenv() is not safe while other threads may read the
 * environment. So it is set once per process, by the first caller
 * (hkms_service_open, before any thread starts), and never changed: a
 * later different value is refused instead of a second setenv().
 */
static pthread_mutex_t env_mu = PTHREAD_MUTEX_INITIALIZER;
static char *env_softhsm2_conf;	/* the value set; guarded by env_mu */

enum hkms_rc
hkms_hsm_env_init(const char *softhsm2_conf, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;

	if (softhsm2_conf == NULL)
		return HKMS_OK;
	pthread_mutex_lock(&env_mu);
	if (env_softhsm2_conf != NULL) {
		if (strcmp(env_softhsm2_conf, softhsm2_conf) != 0)
			rc = hkms_err_setc(err, HKMS_E_INVALID,
			    "conflicting_environment", "softhsm2_conf '%s' "
			    "differs from '%s', already set for this process",
			    softhsm2_conf, env_softhsm2_conf);
	} else if ((env_softhsm2_conf = strdup(softhsm2_conf)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	} else if (setenv("SOFTHSM2_CONF", softhsm2_conf, 1) != 0) {
		free(env_softhsm2_conf);
		env_softhsm2_conf = NULL;
		rc = hkms_err_set(err, HKMS_E_INTERNAL,
		    "cannot set SOFTHSM2_CONF");
	}
	pthread_mutex_unlock(&env_mu);
	return rc;
}

unsigned long
hkms_hsm_rebuilds(struct hkms_hsm *h)
{
	unsigned long n;

	if (h == NULL)
		return 0;
	pthread_rwlock_rdlock(&h->ctx_lock);	/* written under the write lock */
	n = h->rebuilds;
	pthread_rwlock_unlock(&h->ctx_lock);
	return n;
}

static enum hkms_rc
opts_check(const struct hkms_hsm_opts *opts, struct hkms_err *err)
{
	if (opts == NULL || opts->module == NULL || *opts->module == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "no PKCS#11 module "
		    "given");
	/* a no-op when the service set it at open; the first setting
	 * otherwise (a single-threaded tool) */
	return hkms_hsm_env_init(opts->softhsm2_conf, err);
}

enum hkms_rc
hkms_hsm_open(const struct hkms_hsm_opts *opts, const struct hkms_secret *pin,
    struct hkms_hsm **out, struct hkms_err *err)
{
	enum hkms_rc rc;
	struct hkms_hsm *h = NULL;
	int i;

	if ((rc = opts_check(opts, err)) != HKMS_OK)
		return rc;
	if (pin == NULL || hkms_secret_len(pin) == 0 || out == NULL)
		return hkms_err_setc(err, HKMS_E_PIN, "pin_missing",
		    "no PIN given (pin_file in the config or HKMS_PIN)");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	pthread_rwlock_init(&h->ctx_lock, NULL);
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->obj_mu, NULL);
	pthread_mutex_init(&h->tl_mu, NULL);
	pthread_cond_init(&h->tl_cv, NULL);
	h->refresh_on_miss = opts->refresh_on_miss;
	if ((rc = lock_open(h, opts, err)) != HKMS_OK)
		goto out;
	if ((h->module = strdup(opts->module)) == NULL ||
	    (opts->label && (h->label = strdup(opts->label)) == NULL) ||
	    (!opts->label && opts->serial &&
	    (h->serial = strdup(opts->serial)) == NULL)) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = hkms_secret_new(hkms_secret_str(pin), hkms_secret_len(pin),
	    &h->pin, err)) != HKMS_OK)
		goto out;
	/* A token whose files another process is rewriting (SoftHSM2's file
	 * store writes token.object in place) can look absent, uninitialised
	 * or failing for a moment: a few short retries of the whole build
	 * (20..160 ms apart) before it counts as down. Never after a PIN
	 * refusal (sealed), and no login again once the token counted a
	 * failed one (ctx_build), so no PIN attempt is spent twice. */
	for (i = 0; (rc = build_locked(h, err)) == HKMS_E_TOKEN_DOWN &&
	    !h->sealed && i < 4; i++) {
		struct timespec ts = { 0, 20000000L << i };

		nanosleep(&ts, NULL);
	}
	if (rc != HKMS_OK)
		goto out;
	*out = h;
	h = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	hkms_hsm_close(h);
	return rc;
}

void
hkms_hsm_close(struct hkms_hsm *h)
{
	if (h == NULL)
		return;
	ctx_teardown(h);
	hkms_secret_free(h->pin);
	pthread_rwlock_destroy(&h->ctx_lock);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->obj_mu);
	pthread_mutex_destroy(&h->tl_mu);
	pthread_cond_destroy(&h->tl_cv);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	if (h->gate_fd >= 0)
		close(h->gate_fd);
	free(h->module);
	free(h->label);
	free(h->serial);
	free(h);
}

static void
info_from_ck(const CK_TOKEN_INFO *ti, CK_SLOT_ID slot,
    struct hkms_token_info *o)
{
	char buf[40];

	memset(o, 0, sizeof(*o));
	memcpy(buf, ti->label, 32);
	buf[32] = '\0';
	copy_trim(o->label, sizeof(o->label), buf);
	memcpy(buf, ti->manufacturerID, 32);
	buf[32] = '\0';
	copy_trim(o->manufacturer, sizeof(o->manufacturer), buf);
	memcpy(buf, ti->model, 16);
	buf[16] = '\0';
	copy_trim(o->model, sizeof(o->model), buf);
	memcpy(buf, ti->serialNumber, 16);
	buf[16] = '\0';
	copy_trim(o->serial, sizeof(o->serial), buf);
	o->slot_id = slot;
	o->initialized = (ti->flags & CKF_TOKEN_INITIALIZED) != 0;
	o->pin_count_low = (ti->flags & CKF_USER_PIN_COUNT_LOW) != 0;
	o->pin_final_try = (ti->flags & CKF_USER_PIN_FINAL_TRY) != 0;
	o->pin_locked = (ti->flags & CKF_USER_PIN_LOCKED) != 0;
}

struct tinfo_arg {
	struct hkms_token_info *out;
};

static enum hkms_rc
token_info_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct tinfo_arg *a = arg;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	enum hkms_rc rc;

	if ((*rv = h->p11->C_GetTokenInfo(h->slot_id, &ti)) != CKR_OK)
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_info",
		    "cannot read token info of '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
	info_from_ck(&ti, h->slot_id, a->out);
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	*rv = h->p11->C_GetSessionInfo(s, &si);
	h->p11->C_CloseSession(s);
	if (*rv != CKR_OK)
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_info",
		    "cannot read session info of '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
	a->out->logged_in = si.state == CKS_RW_USER_FUNCTIONS ||
	    si.state == CKS_RO_USER_FUNCTIONS;
	if (!a->out->logged_in) {
		*rv = CKR_USER_NOT_LOGGED_IN;
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "not_logged_in",
		    "token '%s' lost its login", h->tok_label);
	}
	a->out->rebuilds = h->rebuilds;
	return HKMS_OK;
}

enum hkms_rc
hkms_hsm_token_info(struct hkms_hsm *h, struct hkms_token_info *out,
    struct hkms_err *err)
{
	struct tinfo_arg a = { out };

	if (h == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	return hsm_run(h, token_info_op, &a, 1, err);
}

enum hkms_rc
hkms_hsm_token_list(const struct hkms_hsm_opts *opts,
    struct hkms_token_info **out, size_t *n, struct hkms_err *err)
{
	enum hkms_rc rc;
	PKCS11_CTX *ctx = NULL;
	CK_FUNCTION_LIST_PTR p11 = NULL;
	CK_SLOT_ID *ids = NULL;
	CK_ULONG count = 0, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	*out = NULL;
	*n = 0;
	if ((rc = opts_check(opts, err)) != HKMS_OK)
		return rc;
	if ((rc = ctx_load(opts->module, &ctx, &p11, err)) != HKMS_OK)
		return rc;
	if ((rv = p11->C_GetSlotList(CK_TRUE, NULL, &count)) != CKR_OK ||
	    (ids = calloc(count + 1, sizeof(*ids))) == NULL ||
	    (*out = calloc(count + 1, sizeof(**out))) == NULL ||
	    (rv = p11->C_GetSlotList(CK_TRUE, ids, &count)) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_list",
		    "cannot list slots of '%s': %s", opts->module,
		    hsm_ckr_name(rv));
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (p11->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		info_from_ck(&ti, ids[i], &(*out)[*n]);
		(*n)++;
	}
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK) {
		free(*out);
		*out = NULL;
	}
	free(ids);
	PKCS11_CTX_unload(ctx);
	PKCS11_CTX_free(ctx);
	return rc;
}

/* Find the slot of an initialised token by label; or, with label NULL, the
 * first slot whose token is not initialised. */
static enum hkms_rc
find_slot(CK_FUNCTION_LIST_PTR p11, const char *label, CK_SLOT_ID *slot,
    CK_FLAGS *flags, struct hkms_err *err)
{
	CK_SLOT_ID ids[256];
	CK_ULONG count = 256, i;
	CK_TOKEN_INFO ti;
	char raw[40], buf[40];
	CK_RV rv;

	if ((rv = p11->C_GetSlotList(CK_TRUE, ids, &count)) != CKR_OK)
		return hkms_err_set(err, HKMS_E_TOKEN, "cannot list slots: %s",
		    hsm_ckr_name(rv));
	for (i = 0; i < count; i++) {
		if (p11->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		memcpy(raw, ti.label, 32);
		raw[32] = '\0';
		copy_trim(buf, sizeof(buf), raw);
		if ((label == NULL && !(ti.flags & CKF_TOKEN_INITIALIZED)) ||
		    (label != NULL && (ti.flags & CKF_TOKEN_INITIALIZED) &&
		    strcmp(buf, label) == 0)) {
			*slot = ids[i];
			*flags = ti.flags;
			return HKMS_OK;
		}
	}
	return HKMS_E_NOT_FOUND;
}

enum hkms_rc
hkms_hsm_token_init(const struct hkms_hsm_opts *opts, const char *label,
    const struct hkms_secret *so_pin, const struct hkms_secret *user_pin,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	PKCS11_CTX *ctx = NULL;
	CK_FUNCTION_LIST_PTR p11 = NULL;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	CK_UTF8CHAR lab[32];
	size_t len;
	CK_RV rv;

	if ((rc = opts_check(opts, err)) != HKMS_OK)
		return rc;
	if (label == NULL || (len = strlen(label)) == 0 || len > 32)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "a token label has 1 to 32 characters");
	if (hkms_secret_len(so_pin) < 4 || hkms_secret_len(user_pin) < 4)
		return hkms_err_setc(err, HKMS_E_PIN, "pin_missing",
		    "the SO PIN and the user PIN need at least 4 characters");
	if ((rc = ctx_load(opts->module, &ctx, &p11, err)) != HKMS_OK)
		return rc;
	if (find_slot(p11, label, &slot, &flags, NULL) == HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "token_exists",
		    "a token labelled '%s' exists already", label);
		goto out;
	}
	if (find_slot(p11, NULL, &slot, &flags, NULL) != HKMS_OK) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "no_free_slot",
		    "module '%s' has no slot with an uninitialised token",
		    opts->module);
		goto out;
	}
	memset(lab, ' ', sizeof(lab));
	memcpy(lab, label, len);
	rv = p11->C_InitToken(slot, (CK_UTF8CHAR_PTR)hkms_secret_str(so_pin),
	    hkms_secret_len(so_pin), lab);
	if (rv != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_init",
		    "cannot initialise token '%s': %s", label,
		    hsm_ckr_name(rv));
		goto out;
	}
	/* SoftHSM moves an initialised token to a new slot: look it up. */
	if (find_slot(p11, label, &slot, &flags, err) != HKMS_OK) {
		rc = hkms_err_set(err, HKMS_E_TOKEN, "token '%s' vanished "
		    "after initialisation", label);
		goto out;
	}
	if ((rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
	    NULL, NULL, &s)) != CKR_OK ||
	    (rv = p11->C_Login(s, CKU_SO,
	    (CK_UTF8CHAR_PTR)hkms_secret_str(so_pin),
	    hkms_secret_len(so_pin))) != CKR_OK ||
	    (rv = p11->C_InitPIN(s, (CK_UTF8CHAR_PTR)hkms_secret_str(user_pin),
	    hkms_secret_len(user_pin))) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_init",
		    "cannot set the user PIN of token '%s': %s", label,
		    hsm_ckr_name(rv));
		goto out;
	}
	p11->C_Logout(s);
	rc = HKMS_OK;
out:
	if (s != CK_INVALID_HANDLE)
		p11->C_CloseSession(s);
	PKCS11_CTX_unload(ctx);
	PKCS11_CTX_free(ctx);
	return rc;
}
