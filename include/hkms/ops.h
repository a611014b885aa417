/*
 * The operations: what the CLI and the HTTP server both call. Each takes a
 * context and a request, does policy, token work, store writes and the
 * audit record in one place, and returns a JSON result (a new reference
 * the caller json_decref()s) or an error.
 */
#ifndef HKMS_OPS_H
#define HKMS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hkms/config.h"
#include "hkms/error.h"

struct hkms_hsm;
struct hkms_store;

/** What an operation runs against. Borrowed pointers; hsm may be NULL for
 *  operations that need no token (truststore, listing metadata). */
struct hkms_ops_ctx {
	const struct hkms_config *cfg;
	struct hkms_hsm *hsm;
	struct hkms_store *store;
	const char *actor;	/* audit actor: "cli:root", "client:<sha256>" */
};

/* ---- keys ---- */

/** Generate a key pair in the token. type: "rsa:2048" ... "ec:p521".
 *  *out: the key as hkms_ops_key_show() describes it. Audited. */
enum hkms_rc hkms_ops_key_generate(struct hkms_ops_ctx *c, const char *name,
    const char *type, json_t **out, struct hkms_err *err);

/** All keys of the token: an array of key objects (no public_key_pem). */
enum hkms_rc hkms_ops_key_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One key: name, id, uri, type, bits, public_key_pem, and the attributes
 *  read back from the token (sensitive, extractable, always_sensitive,
 *  never_extractable, private, token), and used_by (certificates). */
enum hkms_rc hkms_ops_key_show(struct hkms_ops_ctx *c, const char *ref,
    json_t **out, struct hkms_err *err);

/** Delete a key pair; refused with HKMS_E_IN_USE while a certificate in
 *  the store uses it, unless force. Audited. */
enum hkms_rc hkms_ops_key_delete(struct hkms_ops_ctx *c, const char *ref,
    int force, struct hkms_err *err);

/** Import a software private key (PEM/PKCS#8, encrypted with passphrase or
 *  not, or PKCS#12) into the token as sensitive, non-extractable. The
 *  passphrase may be NULL. Audited. */
enum hkms_rc hkms_ops_key_import(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *data, size_t len, const char *passphrase,
    json_t **out, struct hkms_err *err);

/** Write an audit record for op on object with the result of rc/err. */
void hkms_ops_audit(struct hkms_ops_ctx *c, const char *op,
    const char *object, enum hkms_rc rc, const struct hkms_err *err,
    json_t *detail);

/* ---- truststore ---- */
/* truststore: operations on <data>/trust (docs/truststore.md). None needs
 * the token (c->hsm may be NULL). Changes (import, pin, delete, and a
 * verification that finds a pinned peer changed) are audited as
 * "trust.<verb>". */

struct hkms_trust;

/** Import request: the file content as given (PEM, DER, PKCS#7, PKCS#12;
 *  at most HKMS_CERTIO_MAX_INPUT bytes); password for a PKCS#12 (may be
 *  NULL; never logged or audited). */
struct hkms_ops_trust_import_req {
	const char *alias;
	const unsigned char *data;
	size_t len;
	const char *password;
};

/** Import all certificates of the input under one alias (see
 *  hkms_trust_import: duplicates are reported, not stored). *out: {alias,
 *  format, imported[], duplicates[], private_key_ignored}. */
enum hkms_rc hkms_ops_trust_import(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_import_req *req, json_t **out,
    struct hkms_err *err);

/** All entries (hkms_trust_snap_list rows). */
enum hkms_rc hkms_ops_trust_list(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err);

/** One entry (hkms_trust_snap_show). HKMS_E_NOT_FOUND if absent. */
enum hkms_rc hkms_ops_trust_show(struct hkms_ops_ctx *c, const char *alias,
    json_t **out, struct hkms_err *err);

/** Export request: format "pem" (default when NULL), "der" (first
 *  certificate), "p7b", "p7b-der", "p12" (certificates only; password may
 *  be NULL). */
struct hkms_ops_trust_export_req {
	const char *alias;
	const char *format;
	const char *password;
};

/** Encode the certificates of an alias. *data is malloc'd (free). */
enum hkms_rc hkms_ops_trust_export(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_export_req *req, unsigned char **data,
    size_t *len, struct hkms_err *err);

/** Delete an alias. */
enum hkms_rc hkms_ops_trust_delete(struct hkms_ops_ctx *c, const char *alias,
    struct hkms_err *err);

/** Pin request: the peer's presented certificate (or chain, leaf first)
 *  as PEM/DER/PKCS#7; force replaces a different pinned certificate. */
struct hkms_ops_trust_pin_req {
	const char *alias;
	const unsigned char *data;
	size_t len;
	int force;
};

/** Pin (hkms_trust_pin). *out: {alias, pinned, peer, replaced, unchanged}. */
enum hkms_rc hkms_ops_trust_pin(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_pin_req *req, json_t **out,
    struct hkms_err *err);

/** Verify request: the chain (leaf first; PEM/DER/PKCS#7/PKCS#12),
 *  purpose "server"|"client"|"any" (NULL = any), host (NULL = none),
 *  at (Unix time; 0 = now). */
struct hkms_ops_trust_verify_req {
	const unsigned char *chain;
	size_t len;
	const char *password;
	const char *purpose;
	const char *host;
	int64_t at;
};

/** Verify against the truststore (hkms_trust_verify). *out is set also
 *  when the chain does not hold (then the call returns HKMS_E_VERIFY and
 *  err->code names the failed check). */
enum hkms_rc hkms_ops_trust_verify(struct hkms_ops_ctx *c,
    const struct hkms_ops_trust_verify_req *req, json_t **out,
    struct hkms_err *err);

/** Follow changes: call emit(event, arg) for every change committed from
 *  now on ({"seq","event":"added|removed|changed","alias","time_ms",
 *  "seen_ms","thumbprints"}; event is borrowed) until emit returns
 *  non-zero or timeout_ms passes (-1 = forever). */
enum hkms_rc hkms_ops_trust_watch(struct hkms_ops_ctx *c, int timeout_ms,
    int (*emit)(json_t *event, void *arg), void *arg, struct hkms_err *err);

/** The process' truststore handle for c->store, opened on first use and
 *  kept (snapshots are then shared and only reloaded on change). Borrowed;
 *  valid until hkms_ops_trust_release(c->store). Thread-safe. */
enum hkms_rc hkms_ops_trust_handle(struct hkms_ops_ctx *c,
    struct hkms_trust **out, struct hkms_err *err);

/** Close the cached handle of st (call before hkms_store_close(st) in a
 *  long-running process; harmless if none). */
void hkms_ops_trust_release(struct hkms_store *st);

/* ---- end truststore ---- */

#endif
