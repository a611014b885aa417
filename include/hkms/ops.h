/*
 * The operations: what the CLI and the HTTP server both call. Each takes a
 * context and a request, does policy, token work, store writes and the
 * audit record in one place, and returns a JSON result (a new reference
 * the caller json_decref()s) or an error.
 */
#ifndef HKMS_OPS_H
#define HKMS_OPS_H

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

#endif
