/*
 * Error codes and messages shared by every module. A failure is described
 * once, where it happens, and passed up unchanged.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include "hkms/error.h"

/* The registry, from include/hkms/errors.def (one line per code). */
static const struct hkms_err_entry registry[] = {
#define HKMS_ERROR(code, rc, status, what) { code, rc, status, what },
#include "hkms/errors.def"
#undef HKMS_ERROR
};
#define NREGISTRY (sizeof(registry) / sizeof(registry[0]))

const struct hkms_err_entry *
hkms_err_registry(size_t *n)
{
	if (n != NULL)
		*n = NREGISTRY;
	return registry;
}

const struct hkms_err_entry *
hkms_err_lookup(const char *code)
{
	size_t i, len;

	if (code == NULL)
		return NULL;
	/* "check_failed:<check>" is the row "check_failed" */
	len = strcspn(code, ":");
	for (i = 0; i < NREGISTRY; i++)
		if (strlen(registry[i].code) == len &&
		    strncmp(registry[i].code, code, len) == 0)
			return &registry[i];
	return NULL;
}

int
hkms_err_http_status(const struct hkms_err *err)
{
	const struct hkms_err_entry *e;

	if (err == NULL || err->rc == HKMS_OK)
		return 200;
	if ((e = hkms_err_lookup(hkms_err_code(err))) == NULL)
		return 500;
	return e->http_status;
}

json_t *
hkms_err_json(const struct hkms_err *err, json_t *checks)
{
	json_t *o, *inner;

	if (err == NULL)
		return NULL;
	inner = json_pack("{s:s,s:s}", "code", hkms_err_code(err), "message",
	    err->detail[0] ? err->detail : hkms_strerror(err->rc));
	if (inner != NULL && json_is_array(checks))
		json_object_set(inner, "checks", checks);
	o = inner ? json_pack("{s:o}", "error", inner) : NULL;
	return o;
}

const char *
hkms_strerror(enum hkms_rc rc)
{
	switch (rc) {
	case HKMS_OK: return "ok";
	case HKMS_E_INTERNAL: return "internal_error";
	case HKMS_E_NOMEM: return "out_of_memory";
	case HKMS_E_INVALID: return "invalid_argument";
	case HKMS_E_NOT_FOUND: return "not_found";
	case HKMS_E_EXISTS: return "already_exists";
	case HKMS_E_IN_USE: return "in_use";
	case HKMS_E_POLICY: return "policy_violation";
	case HKMS_E_VERIFY: return "verification_failed";
	case HKMS_E_DENIED: return "permission_denied";
	case HKMS_E_TOKEN: return "token_error";
	case HKMS_E_PIN: return "pin_error";
	case HKMS_E_TOKEN_DOWN: return "token_unavailable";
	case HKMS_E_UNSUPPORTED: return "unsupported_by_token";
	case HKMS_E_CRYPTO: return "crypto_error";
	case HKMS_E_IO: return "io_error";
	case HKMS_E_LOCKED: return "store_locked";
	case HKMS_E_NOSPACE: return "no_space";
	}
	return "internal_error";
}

static enum hkms_rc err_vset(struct hkms_err *, enum hkms_rc, const char *,
    const char *, va_list) __attribute__((format(printf, 4, 0)));

static enum hkms_rc
err_vset(struct hkms_err *err, enum hkms_rc rc, const char *code,
    const char *fmt, va_list ap)
{
#ifdef HKMS_TEST_HOOKS
	/* a code outside the registry, or raised with another rc than its
	 * row's, is a bug: test builds stop on it */
	if (code != NULL && code[0] != '\0') {
		const struct hkms_err_entry *e = hkms_err_lookup(code);

		if (e == NULL || e->rc != rc) {
			fprintf(stderr, "hkms: BUG: error code '%s' with rc %d "
			    "%s\n", code, (int)rc, e == NULL ? "is not in "
			    "include/hkms/errors.def" : "does not match the "
			    "registry");
			abort();
		}
	}
#endif
	if (err == NULL)
		return rc;
	err->rc = rc;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	return rc;
}

enum hkms_rc
hkms_err_set(struct hkms_err *err, enum hkms_rc rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, rc, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

enum hkms_rc
hkms_err_setc(struct hkms_err *err, enum hkms_rc rc, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, rc, code, fmt, ap);
	va_end(ap);
	return rc;
}

static int watched_lib;			/* set once, before threads */
static __thread unsigned long watched_reason;

void
hkms_err_watch_lib(int lib)
{
	__atomic_store_n(&watched_lib, lib, __ATOMIC_RELAXED);
}

unsigned long
hkms_err_take_watched(void)
{
	unsigned long r = watched_reason;

	watched_reason = 0;
	return r;
}

enum hkms_rc
hkms_err_crypto(struct hkms_err *err, const char *fmt, ...)
{
	va_list ap;
	unsigned long e = ERR_peek_last_error(), q;
	char reason[128] = "";
	size_t len;
	int lib = __atomic_load_n(&watched_lib, __ATOMIC_RELAXED);

	va_start(ap, fmt);
	err_vset(err, HKMS_E_CRYPTO, NULL, fmt, ap);
	va_end(ap);
	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	/* the token layer's CK_RV beneath the last error (the failed C_Sign
	 * under "EVP lib") */
	while (lib != 0 && (q = ERR_get_error()) != 0)
		if (ERR_GET_LIB(q) == lib)
			watched_reason = ERR_GET_REASON(q);
	ERR_clear_error();
	if (err != NULL && reason[0] != '\0') {
		len = strlen(err->detail);
		snprintf(err->detail + len, sizeof(err->detail) - len, ": %s",
		    reason);
	}
	return HKMS_E_CRYPTO;
}

const char *
hkms_err_code(const struct hkms_err *err)
{
	if (err->code[0] != '\0')
		return err->code;
	return hkms_strerror(err->rc);
}

void
hkms_err_clear(struct hkms_err *err)
{
	if (err == NULL)
		return;
	err->rc = HKMS_OK;
	err->code[0] = '\0';
	err->detail[0] = '\0';
}
