/*
 * The log: structured JSON lines, one per event, to a file descriptor
 * (stderr by default; journald captures a service's stderr). A line is
 * {"time":"<RFC 3339 UTC, ms>","level":"info","event":"<name>",<fields>}.
 * Values under secret-looking keys (pin, passphrase, password, secret,
 * private_key, ...) are replaced by "[redacted]" before a line is written,
 * the same redaction the audit log applies (hkms_log_redact); messages are
 * built from hkms_err details, which never hold a secret.
 */
#ifndef HKMS_LOG_H
#define HKMS_LOG_H

#include <jansson.h>

#include "hkms/error.h"

enum hkms_log_level {
	HKMS_LOG_DEBUG = 0,
	HKMS_LOG_INFO = 1,
	HKMS_LOG_WARN = 2,
	HKMS_LOG_ERROR = 3,
	HKMS_LOG_OFF = 4,
};

struct hkms_log;

/** Parse "debug", "info", "warn"/"warning", "error" or "off" (case as
 *  given; NULL = "warn", the CLI's default). HKMS_E_INVALID
 *  ("config_bad_value") otherwise. */
enum hkms_rc hkms_log_level_parse(const char *s, enum hkms_log_level *out,
    struct hkms_err *err);

/** A sink writing lines at level and above to fd (borrowed: never
 *  closed). The caller frees it with hkms_log_close(). */
enum hkms_rc hkms_log_open(int fd, enum hkms_log_level level,
    struct hkms_log **out, struct hkms_err *err);

/** Free the sink (NULL is fine). Not while another thread still logs. */
void hkms_log_close(struct hkms_log *log);

/** Whether a line at level would be written (log may be NULL: no). */
int hkms_log_enabled(const struct hkms_log *log, enum hkms_log_level level);

/** Write one line: event (a short dotted name, "token.rebuild") and the
 *  members of fields (borrowed, may be NULL; redacted in a copy). A NULL
 *  log, or a level below the sink's, writes nothing. Thread-safe: a line
 *  is one write(2), lines never interleave. Never fails visibly (a full
 *  disk loses the line, not the operation). */
void hkms_log_event(struct hkms_log *log, enum hkms_log_level level,
    const char *event, json_t *fields);

/** hkms_log_event() with fields {"message": <printf text>}. */
void hkms_log_msg(struct hkms_log *log, enum hkms_log_level level,
    const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/** hkms_log_event() at HKMS_LOG_ERROR (or WARN for warn != 0) with the
 *  error's code and message: {"code","message"} plus fields. */
void hkms_log_err(struct hkms_log *log, enum hkms_log_level level,
    const char *event, const struct hkms_err *err, json_t *fields);

/** Whether a JSON key names a secret (pin, so_pin, user_pin, private_key,
 *  key_pem, or contains passphrase, password, secret; any case). */
int hkms_log_secret_key(const char *key);

/** Replace, in place and recursively, every value under a secret-looking
 *  key by "[redacted]". */
void hkms_log_redact(json_t *j);

#endif
