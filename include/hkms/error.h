/*
 * hkms error handling: one return type, a caller-owned error record.
 */
#ifndef HKMS_ERROR_H
#define HKMS_ERROR_H

#include <stddef.h>

enum hkms_rc {
	HKMS_OK = 0,
	HKMS_E_INTERNAL = -1,
	HKMS_E_NOMEM = -2,
	HKMS_E_INVALID = -3,	/* bad argument or input */
	HKMS_E_NOT_FOUND = -4,
	HKMS_E_EXISTS = -5,	/* duplicate name/alias */
	HKMS_E_IN_USE = -6,	/* object in use, needs force */
	HKMS_E_POLICY = -7,	/* refused by policy (weak key, name not allowed) */
	HKMS_E_VERIFY = -8,	/* a check failed (chain, signature, validity) */
	HKMS_E_DENIED = -9,	/* not allowed for this client */
	HKMS_E_TOKEN = -10,	/* PKCS#11; detail names the CKR_*, never the PIN */
	HKMS_E_PIN = -11,	/* PIN wrong, locked or unreadable */
	HKMS_E_TOKEN_DOWN = -12,	/* token gone; retry later */
	HKMS_E_UNSUPPORTED = -13,	/* the token cannot do this */
	HKMS_E_CRYPTO = -20,	/* OpenSSL; detail holds the reason */
	HKMS_E_IO = -30,
	HKMS_E_LOCKED = -31,	/* store lock held by another process */
	HKMS_E_NOSPACE = -32,
};

/** Error record filled by the layer where a failure happens. */
struct hkms_err {
	enum hkms_rc rc;
	char code[48];		/* specific machine code; "" = derived from rc */
	char detail[256];	/* human message, never a PIN or key byte */
};

/** Stable lower-case name of rc ("invalid_argument", "not_found", ...). */
const char *hkms_strerror(enum hkms_rc rc);

/** Fill err (may be NULL) and return rc. */
enum hkms_rc hkms_err_set(struct hkms_err *err, enum hkms_rc rc,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** Like hkms_err_set with a specific machine-readable code (e.g. "weak_key"). */
enum hkms_rc hkms_err_setc(struct hkms_err *err, enum hkms_rc rc,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** Append OpenSSL's last error reason to err->detail and clear the queue.
 *  A reason of the library set by hkms_err_watch_lib() found in the
 *  queue is kept for the calling thread (hkms_err_take_watched). */
enum hkms_rc hkms_err_crypto(struct hkms_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The machine code of err: err->code if set, else hkms_strerror(err->rc). */
/** The OpenSSL library code whose reasons hkms_err_crypto() keeps (the
 *  token layer's: libp11 pushes each CK_RV under it). Set once. */
void hkms_err_watch_lib(int lib);

/** The last kept reason of that library in this thread (0 if none), and
 *  forget it: the token layer learns the CK_RV behind a failed signature
 *  whose error queue a callback consumed (issue 13b). */
unsigned long hkms_err_take_watched(void);

const char *hkms_err_code(const struct hkms_err *err);

void hkms_err_clear(struct hkms_err *err);

/* ---- the error registry (include/hkms/errors.def) ---- */

/** One row of the registry: a machine code, the rc it is raised with, the
 *  HTTP status the server answers with, and one line of meaning. */
struct hkms_err_entry {
	const char *code;
	enum hkms_rc rc;
	int http_status;
	const char *what;
};

/** The row of code ("code" or "code:<detail>"), or NULL when the code is
 *  not registered (a bug). Thread-safe (a constant table). */
const struct hkms_err_entry *hkms_err_lookup(const char *code);

/** All rows; *n is set to their number. */
const struct hkms_err_entry *hkms_err_registry(size_t *n);

/** The HTTP status for err: its code's row, else its rc's generic row
 *  (500 for an unregistered code). */
int hkms_err_http_status(const struct hkms_err *err);

struct json_t;

/** The error envelope both faces print or send:
 *  {"error":{"code","message"[,"checks"]}}. checks (borrowed, may be
 *  NULL): the checks of a verify or import result, added as "checks" when
 *  it is an array. A new reference (json_decref()); NULL only when out of
 *  memory. */
struct json_t *hkms_err_json(const struct hkms_err *err,
    struct json_t *checks);

#endif
