/*
 * Key operations: generate, list, show, delete and import keys in the
 * token, each audited. The token layer does the PKCS#11 work; this file
 * adds policy (in-use checks), the key records that make a name unique
 * across processes (keys/<name>.json: a reservation, then the key), JSON
 * results and the audit trail.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "ops_int.h"

/* Add rc's error to detail d (a JSON object). */
static void
add_error(json_t *d, enum hkms_rc rc, const struct hkms_err *err)
{
	if (rc == HKMS_OK || err == NULL || d == NULL)
		return;
	json_object_set_new(d, "error", json_string(hkms_err_code(err)));
	json_object_set_new(d, "message", json_string(err->detail[0] ?
	    err->detail : hkms_strerror(rc)));
}

/* Say in err (the operation's error) that its audit line failed too. */
static void
add_audit_failure(struct hkms_err *err, const struct hkms_err *aerr)
{
	size_t n;

	/* the same failure twice (the write-ahead line failed) */
	if (err == NULL || strstr(err->detail, aerr->detail) != NULL)
		return;
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, " (audit: %s)",
	    aerr->detail);
}

enum hkms_rc
hkms_ops_audit_ahead(struct hkms_ops_ctx *c, const char *op,
    const char *object, json_t *detail, struct hkms_err *err)
{
	long long seq = 0;
	enum hkms_rc rc;

	if (c == NULL || c->store == NULL)
		return HKMS_OK;
	c->audit_seq = 0;
	rc = hkms_audit_append_ahead(c->store, c->actor ? c->actor :
	    "unknown", op, object ? object : "", detail, &seq, err);
	if (rc == HKMS_OK)
		c->audit_seq = seq;
	return rc;
}

enum hkms_rc
hkms_ops_audit(struct hkms_ops_ctx *c, const char *op, const char *object,
    enum hkms_rc rc, struct hkms_err *err, json_t *detail)
{
	struct hkms_err aerr = { 0 };
	long long ahead;
	enum hkms_rc arc;
	json_t *d;

	if (c == NULL || c->store == NULL)
		return rc;
	hkms_service_count(c->service, op, rc);
	ahead = c->audit_seq;
	c->audit_seq = 0;
	/* the write-ahead line already says "ok" */
	if (ahead > 0 && rc == HKMS_OK)
		return HKMS_OK;
	d = detail ? json_deep_copy(detail) : json_object();
	if (d == NULL)
		d = json_object();
	add_error(d, rc, err);
	/* a failure after the write-ahead line: say that line's operation
	 * did not complete */
	if (ahead > 0)
		json_object_set_new(d, "aborts", json_integer(ahead));
	/* a failure with nothing to cancel is written unsealed: it needs no
	 * token signature (the token may be what failed); the next sealed
	 * line covers it */
	if (rc != HKMS_OK && ahead == 0)
		arc = hkms_audit_append_unsealed(c->store, c->actor ? c->actor :
		    "unknown", op, object ? object : "", "error", d, &aerr);
	else
		arc = hkms_audit_append(c->store, c->actor ? c->actor :
		    "unknown", op, object ? object : "", rc == HKMS_OK ? "ok" :
		    "error", d, &aerr);
	json_decref(d);
	if (arc == HKMS_OK)
		return rc;
	if (rc != HKMS_OK) {
		/* the operation failed anyway; never hide its error */
		add_audit_failure(err, &aerr);
		return rc;
	}
	/* not acknowledged: the caller undoes the effect and fails */
	if (err != NULL)
		*err = aerr;
	return arc;
}

static int
tribool(json_t *o, const char *k, int v)
{
	if (v < 0)
		return json_object_set_new(o, k, json_null());
	return json_object_set_new(o, k, json_boolean(v));
}

static json_t *
key_json(const struct hkms_key_info *ki)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(ki->name));
	json_object_set_new(o, "id", json_string(ki->id_hex));
	json_object_set_new(o, "uri", json_string(ki->uri));
	json_object_set_new(o, "type", json_string(
	    hkms_hsm_key_type_name(ki->type)));
	json_object_set_new(o, "bits", json_integer(ki->bits));
	tribool(o, "sensitive", ki->sensitive);
	tribool(o, "extractable", ki->extractable);
	tribool(o, "always_sensitive", ki->always_sensitive);
	tribool(o, "never_extractable", ki->never_extractable);
	tribool(o, "private", ki->is_private);
	tribool(o, "token", ki->is_token);
	tribool(o, "sign", ki->can_sign);
	tribool(o, "sign_recover", ki->can_sign_recover);
	tribool(o, "decrypt", ki->can_decrypt);
	tribool(o, "unwrap", ki->can_unwrap);
	tribool(o, "derive", ki->can_derive);
	tribool(o, "modifiable", ki->modifiable);
	tribool(o, "copyable", ki->copyable);
	tribool(o, "destroyable", ki->destroyable);
	if (ki->truncated)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

/* ---- key records: one name, one key, across processes ---- */

/*
 * keys/<name>.json is written under the data lock before any token work:
 * {"state":"reserved","id":HEX,"pid":N,"pid_start":T,...}. The key is then
 * made in the token (outside the lock unless the caller holds it) with
 * exactly that CKA_ID, and the record becomes {"state":"ready",...}. A
 * second process sees the record (or the token key) and gets key_exists.
 * A reservation whose process is gone (pid dead, or reused: its start
 * time differs) is stale: the next request for the name destroys the
 * token objects with that name AND id, if any, and proceeds. docs/hsm.md.
 */

/* Start time of pid (clock ticks since boot, /proc/<pid>/stat field 22),
 * or -1 when the process does not exist or cannot be read. */
/* 1 if the process that wrote reservation m still runs. */
static int
holder_alive(json_t *m, long *pid)
{
	json_int_t p = json_integer_value(json_object_get(m, "pid"));
	json_int_t st = json_integer_value(json_object_get(m, "pid_start"));

	*pid = (long)p;
	return hkms_pid_alive((long)p, (long long)st);
}

static int
rec_reserved(json_t *m)
{
	const char *st = json_string_value(json_object_get(m, "state"));

	return st != NULL && strcmp(st, "reserved") == 0;
}

static enum hkms_rc
rec_id(json_t *m, unsigned char *id, size_t cap, size_t *len,
    struct hkms_err *err)
{
	const char *hex = json_string_value(json_object_get(m, "id"));

	if (hex == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "key record has no id");
	return hkms_unhex(hex, id, cap, len, err);
}

/* 1 if the id of record m has the hkms prefix and length. */
static int
rec_ours(json_t *m)
{
	unsigned char id[64];
	size_t len = 0;

	return rec_id(m, id, sizeof(id), &len, NULL) == HKMS_OK &&
	    hkms_hsm_key_id_ours(id, len);
}

/* 1 if record m names exactly the token key ki (its CKA_ID). */
static int
rec_is(json_t *m, const struct hkms_key_info *ki)
{
	unsigned char id[64];
	size_t len = 0;

	return rec_id(m, id, sizeof(id), &len, NULL) == HKMS_OK &&
	    len == ki->id_len && memcmp(id, ki->id, len) == 0;
}

/*
 * A stale reservation's key is an orphan only if it was never committed:
 * a creation that died before its commit has no "ok" audit line naming
 * its id (key.generate/import write theirs with the ready record,
 * key_create; ca.create and --new-key theirs after the key operation
 * returned). With such a line the key was made and audited: the
 * creation is finished (the record made ready again) if the token holds
 * exactly that key, and nothing is ever destroyed. So a crash between
 * the line and the record loses nothing, and a finished key's record
 * edited back into a stale reservation by someone who can write the data
 * dir (no PIN needed) cannot make the next create of that name destroy
 * the real key (a CA key too).
 */
static enum hkms_rc
not_acked(struct hkms_ops_ctx *c, const char *name, json_t *m,
    struct hkms_err *err)
{
	const char *hex = json_string_value(json_object_get(m, "id"));
	const char *what = json_string_value(json_object_get(m, "type"));
	struct hkms_key_info ki;
	struct hkms_err e = { 0 };
	char needle[160];
	const char *nd[2] = { needle, NULL };
	long long seq = 0;
	enum hkms_rc rc;
	json_t *r;

	if (hex == NULL || strlen(hex) > 128)
		return hkms_err_setc(err, HKMS_E_INVALID, "damaged_record",
		    "the record of key '%s' has no valid id", name);
	snprintf(needle, sizeof(needle), "\"%s\"", hex);
	if ((rc = hkms_audit_find_ok(c->store, nd, 0, &seq, &e)) != HKMS_OK)
		return hkms_err_setc(err, rc, hkms_err_code(&e), "a key named "
		    "'%s' has an interrupted creation, which is not removed "
		    "while the audit log does not verify: %s", name, e.detail);
	if (seq == 0)
		return HKMS_OK;
	/* committed by line seq: finish the record if the token has the
	 * key (its label and that id), then the name is taken */
	if (hkms_hsm_key_find(c->hsm, name, &ki, &e) == HKMS_OK &&
	    rec_is(m, &ki) && (r = json_pack("{s:s, s:s, s:s, s:s}", "state",
	    "ready", "id", ki.id_hex, "type", hkms_hsm_key_type_name(ki.type),
	    "origin", what != NULL && strcmp(what, "imported") == 0 ?
	    "imported" : "generated")) != NULL) {
		rc = hkms_store_put(c->store, "keys", name, r, NULL, &e);
		json_decref(r);
		if (rc == HKMS_OK)
			return hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
			    "a key named '%s' exists already (its creation, "
			    "audit line %lld, was interrupted before its "
			    "record and is finished now)", name, seq);
	}
	return hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
	    "a key named '%s' exists already: its record says an "
	    "interrupted creation, but audit line %lld acknowledged its key; "
	    "nothing was destroyed", name, seq);
}

/* Reserve name for a new key with a fresh CKA_ID in id. what: the key
 * type asked for, or "imported". */
static enum hkms_rc
key_reserve(struct hkms_ops_ctx *c, const char *name, const char *what,
    unsigned char id[HKMS_KEY_ID_LEN], struct hkms_err *err)
{
	struct hkms_key_info ki;
	struct hkms_err e = { 0 };
	unsigned char oid[64];
	size_t olen = 0;
	char hex[2 * HKMS_KEY_ID_LEN + 1];
	json_t *m = NULL, *r = NULL;
	enum hkms_rc rc;
	long long start;
	long pid;

	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	rc = hkms_store_get(c->store, "keys", name, &m, NULL, &e);
	if (rc == HKMS_OK) {
		if (!rec_reserved(m)) {
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
			    "a key named '%s' exists already", name);
			goto out;
		}
		if (holder_alive(m, &pid)) {
			rc = hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
			    "a key named '%s' is being created by process "
			    "%ld", name, pid);
			goto out;
		}
		/* stale: a generation that died before its commit; its
		 * orphan (exactly this name and id) goes. Only an id hkms
		 * makes: a record naming another application's object (a
		 * hand-edited or foreign record) never destroys it; such a
		 * key is found by name below and blocks the name. */
		if ((rc = rec_id(m, oid, sizeof(oid), &olen, err)) !=
		    HKMS_OK || (rc = not_acked(c, name, m, err)) != HKMS_OK)
			goto out;
		rc = hkms_hsm_key_id_ours(oid, olen) ?
		    hkms_hsm_key_destroy_exact(c->hsm, name, oid, olen, &e) :
		    HKMS_E_NOT_FOUND;
		if (rc != HKMS_OK && rc != HKMS_E_NOT_FOUND) {
			rc = hkms_err_setc(err, rc, hkms_err_code(&e),
			    "cannot remove the key left by an interrupted "
			    "creation of '%s': %s", name, e.detail);
			goto out;
		}
	} else if (rc != HKMS_E_NOT_FOUND) {
		if (err != NULL)
			*err = e;
		goto out;
	}
	rc = hkms_hsm_key_find(c->hsm, name, &ki, &e);
	if (rc == HKMS_OK || (rc == HKMS_E_INVALID &&
	    strcmp(hkms_err_code(&e), "key_ambiguous") == 0)) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
		    "a key named '%s' exists already in the token without a "
		    "record in the store (%s); delete that key to reuse the "
		    "name", name, rc == HKMS_OK && ki.ours ? "left by an "
		    "interrupted hkms" : "another application's");
		goto out;
	}
	if (rc != HKMS_E_NOT_FOUND) {
		if (err != NULL)
			*err = e;
		goto out;
	}
	if ((rc = hkms_hsm_key_id_new(id, err)) != HKMS_OK)
		goto out;
	/* without its start time the reservation would be taken for stale
	 * by the next request (hkms_pid_alive) */
	if ((start = hkms_pid_start((long)getpid())) <= 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot read the start time "
		    "of this process (/proc/self/stat)");
		goto out;
	}
	hkms_hex(id, HKMS_KEY_ID_LEN, 0, hex);
	r = json_pack("{s:s, s:s, s:s, s:I, s:I}", "state", "reserved",
	    "id", hex, "type", what, "pid", (json_int_t)getpid(),
	    "pid_start", (json_int_t)start);
	if (r == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	rc = hkms_store_put(c->store, "keys", name, r, NULL, err);
out:
	hkms_store_end(c->store);
	json_decref(m);
	json_decref(r);
	return rc;
}

/* Drop the record of name when it carries id (and, with reserved_only,
 * only a reservation). Errors are left for store check to report. */
static void
key_unrecord(struct hkms_ops_ctx *c, const char *name, const unsigned char *id,
    size_t id_len, int reserved_only)
{
	struct hkms_err e = { 0 };
	unsigned char rid[64];
	size_t rlen = 0;
	json_t *m = NULL;

	if (hkms_store_begin(c->store, &e) != HKMS_OK)
		return;
	if (hkms_store_get(c->store, "keys", name, &m, NULL, &e) == HKMS_OK &&
	    (!reserved_only || rec_reserved(m)) &&
	    rec_id(m, rid, sizeof(rid), &rlen, &e) == HKMS_OK &&
	    rlen == id_len && memcmp(rid, id, id_len) == 0)
		(void)hkms_store_delete(c->store, "keys", name, &e);
	hkms_store_end(c->store);
	json_decref(m);
}

#ifdef HKMS_TEST_HOOKS
/* Test builds only: HKMS_TEST_CRASH_AT=<point> ends the process there
 * like a crash (tests/e2e/key_custody.sh). */
static void
test_crash(const char *point)
{
	const char *v = getenv("HKMS_TEST_CRASH_AT");

	if (v != NULL && strcmp(v, point) == 0)
		_exit(137);
}

/* Test builds only: HKMS_TEST_PAUSE_AT=<point> sleeps there for
 * HKMS_TEST_PAUSE_SECS (2) seconds, to line processes up for a race
 * (tests/e2e/attack_custody.sh). */
static void
test_pause(const char *point)
{
	const char *v = getenv("HKMS_TEST_PAUSE_AT");
	const char *secs = getenv("HKMS_TEST_PAUSE_SECS");

	if (v != NULL && strcmp(v, point) == 0)
		sleep(secs != NULL ? (unsigned)atoi(secs) : 2);
}
#endif

/*
 * Make key name in the token under its reservation, and commit its ready
 * record. With audit_op (key.generate, key.import: operations whose
 * result is the key) the operation's write-ahead line, naming the key's
 * id, is written first and the record carries it, in one data-lock unit:
 * a crash between the two leaves a reservation whose id an "ok" line
 * names, which the next request for the name finishes (key_reserve),
 * never a key without its line. Other operations that make a key write
 * their own line after this returns.
 */
static enum hkms_rc
key_create(struct hkms_ops_ctx *c, const char *name, enum hkms_key_type type,
    EVP_PKEY *import, const char *audit_op, struct hkms_key_info *ki,
    struct hkms_err *err)
{
	unsigned char id[HKMS_KEY_ID_LEN];
	struct hkms_err e = { 0 };
	json_t *r = NULL;
	enum hkms_rc rc;

	if (c == NULL || c->hsm == NULL || ki == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	if (!hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid key name '%s' (1-64 of A-Z a-z 0-9 . _ -)",
		    name ? name : "");
	if (c->store == NULL) {
		/* no data dir: the token's label check is all there is */
		return import != NULL ?
		    hkms_hsm_key_import(c->hsm, name, import, ki, err) :
		    hkms_hsm_key_generate(c->hsm, name, type, ki, err);
	}
	if ((rc = key_reserve(c, name, import != NULL ? "imported" :
	    hkms_hsm_key_type_name(type), id, err)) != HKMS_OK)
		return rc;
	rc = import != NULL ?
	    hkms_hsm_key_import_id(c->hsm, name, import, id, sizeof(id), ki,
	    err) : hkms_hsm_key_generate_id(c->hsm, name, type, id,
	    sizeof(id), ki, err);
	if (rc != HKMS_OK) {
		key_unrecord(c, name, id, sizeof(id), 1);
		return rc;
	}
#ifdef HKMS_TEST_HOOKS
	test_crash("key_before_commit");
	test_pause("key_before_commit");
#endif
	if (audit_op != NULL && (rc = hkms_store_begin(c->store, err)) !=
	    HKMS_OK)
		goto undo;
	if (audit_op != NULL) {
		json_t *d = json_pack("{s:s, s:s}", "type",
		    hkms_hsm_key_type_name(ki->type), "id", ki->id_hex);

		rc = hkms_ops_audit_ahead(c, audit_op, name, d, err);
		json_decref(d);
		if (rc != HKMS_OK) {
			hkms_store_end(c->store);
			goto undo;
		}
#ifdef HKMS_TEST_HOOKS
		test_crash("key_after_audit");
#endif
	}
	r = json_pack("{s:s, s:s, s:s, s:s}", "state", "ready", "id",
	    ki->id_hex, "type", hkms_hsm_key_type_name(ki->type), "origin",
	    import != NULL ? "imported" : "generated");
	if (r == NULL)
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	else
		rc = hkms_store_put(c->store, "keys", name, r, NULL, err);
	json_decref(r);
	if (audit_op != NULL)
		hkms_store_end(c->store);
undo:
	if (rc != HKMS_OK) {
		/* a key without its record is not acknowledged */
		if (hkms_hsm_key_destroy_exact(c->hsm, name, id, sizeof(id),
		    &e) == HKMS_OK)
			key_unrecord(c, name, id, sizeof(id), 1);
	}
	return rc;
}

enum hkms_rc
ops_key_create(struct hkms_ops_ctx *c, const char *name,
    enum hkms_key_type type, EVP_PKEY *import, struct hkms_key_info *ki,
    struct hkms_err *err)
{
	return key_create(c, name, type, import, NULL, ki, err);
}

enum hkms_rc
ops_key_find(struct hkms_ops_ctx *c, const char *ref, struct hkms_key_info *ki,
    struct hkms_err *err)
{
	const char *id;
	json_t *m = NULL;
	enum hkms_rc rc;
	char idref[140];

	if (c->store == NULL || !hkms_name_valid(ref) ||
	    hkms_store_get(c->store, "keys", ref, &m, NULL, NULL) != HKMS_OK ||
	    rec_reserved(m) || (id = json_string_value(json_object_get(m,
	    "id"))) == NULL || strlen(id) > 128) {
		json_decref(m);
		return hkms_hsm_key_find(c->hsm, ref, ki, err);
	}
	snprintf(idref, sizeof(idref), "id:%s", id);
	rc = hkms_hsm_key_find(c->hsm, idref, ki, err);
	if (rc == HKMS_E_NOT_FOUND)
		rc = hkms_err_setc(err, rc, "key_not_found", "key '%s' (id %s, "
		    "from its record) not found in the token", ref, id);
	else if (rc == HKMS_OK && strcmp(ki->name, ref) != 0)
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "the token key with the id recorded for '%s' (%s) is "
		    "labelled '%s'", ref, id, ki->name);
	json_decref(m);
	return rc;
}

enum hkms_rc
ops_key_remove(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	char ref[140];

	/* by name, else by id: either finds the one private key, then the
	 * token layer destroys only the objects with both id and label */
	snprintf(ref, sizeof(ref), "id:%s", ki->id_hex);
	rc = hkms_hsm_key_delete(c->hsm, ki->name[0] != '\0' ? ki->name :
	    ref, err);
	if (rc == HKMS_E_INVALID && ki->name[0] != '\0' && ki->id_len > 0 &&
	    strcmp(hkms_err_code(err), "key_ambiguous") == 0)
		rc = hkms_hsm_key_delete(c->hsm, ref, err);
	if (rc != HKMS_OK)
		return rc;
#ifdef HKMS_TEST_HOOKS
	test_crash("key_delete_before_unrecord");
	test_pause("key_delete_before_unrecord");
#endif
	if (c->store != NULL)
		key_unrecord(c, ki->name, ki->id, ki->id_len, 0);
	return HKMS_OK;
}

/* The audit key's label belongs to hkms (made by init). */
static enum hkms_rc
reserved(const char *name, struct hkms_err *err)
{
	if (name != NULL && strcmp(name, HKMS_AUDIT_KEY_LABEL) == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_name",
		    "key name '%s' is reserved for the audit key", name);
	return HKMS_OK;
}

/* A key made for a request that is not acknowledged (its audit line
 * failed): destroy it, drop the result, and say so in err. */
static void
undo_key(struct hkms_ops_ctx *c, const struct hkms_key_info *ki,
    json_t **out, struct hkms_err *err)
{
	struct hkms_err e = { 0 };
	size_t n;

	if (out != NULL) {
		json_decref(*out);
		*out = NULL;
	}
	if (ops_key_remove(c, ki, &e) == HKMS_OK || err == NULL)
		return;
	n = strlen(err->detail);
	snprintf(err->detail + n, sizeof(err->detail) - n, "; key '%s' is "
	    "left in the token: %s", ki->name, e.detail);
}

static enum hkms_rc
need_hsm(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	if (c == NULL || c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return HKMS_OK;
}

/* Names of certificates (and CAs) in the store whose key is name. */
static json_t *
used_by(struct hkms_ops_ctx *c, const char *name)
{
	static const char *kinds[] = { "certs", "cas", "service", NULL };
	json_t *users = json_array(), *list, *it;
	struct hkms_err e;
	size_t i, k;

	for (k = 0; c->store != NULL && kinds[k] != NULL; k++) {
		if (hkms_store_list(c->store, kinds[k], &list, &e) != HKMS_OK)
			continue;
		json_array_foreach(list, i, it) {
			const char *key = json_string_value(
			    json_object_get(it, "key"));

			if (key != NULL && strcmp(key, name) == 0)
				json_array_append_new(users, json_sprintf(
				    "%s/%s", kinds[k], json_string_value(
				    json_object_get(it, "name"))));
		}
		json_decref(list);
	}
	return users;
}

static enum hkms_rc
show(struct hkms_ops_ctx *c, const struct hkms_key_info *ki, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	EVP_PKEY *pub = NULL;
	BIO *bio = NULL;
	char *pem = NULL;
	long n;
	json_t *o = key_json(ki);
	char ref[140];

	snprintf(ref, sizeof(ref), "id:%s", ki->id_hex);
	if ((rc = hkms_hsm_key_public(c->hsm, ki->id_len ? ref : ki->name,
	    &pub, err)) != HKMS_OK)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PUBKEY(bio, pub)) {
		rc = hkms_err_crypto(err, "cannot encode public key");
		goto out;
	}
	n = BIO_get_mem_data(bio, &pem);
	json_object_set_new(o, "public_key_pem", json_stringn(pem, (size_t)n));
	json_object_set_new(o, "used_by", used_by(c, ki->name));
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	BIO_free(bio);
	EVP_PKEY_free(pub);
	return rc;
}

enum hkms_rc
hkms_ops_key_generate(struct hkms_ops_ctx *c, const char *name,
    const char *type, json_t **out, struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_key_type t;
	enum hkms_rc rc;
	json_t *d;
	int made = 0;

	OPS_AUTHORIZE(c, "key.generate", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = reserved(name, err)) == HKMS_OK &&
	    (rc = hkms_hsm_key_type_parse(type, &t, err)) == HKMS_OK &&
	    (rc = key_create(c, name, t, NULL, "key.generate", &ki, err)) ==
	    HKMS_OK) {
		made = 1;
		rc = show(c, &ki, out, err);
	}
	d = json_pack("{s:s}", "type", type ? type : "");
	if (rc == HKMS_OK)
		json_object_set_new(d, "id", json_string(ki.id_hex));
	/* the write-ahead line was written with the record (key_create);
	 * a failure after it writes its "aborts" line, and the key is
	 * destroyed again (not acknowledged) */
	rc = hkms_ops_audit(c, "key.generate", name, rc, err, d);
	json_decref(d);
	if (rc != HKMS_OK && made)
		undo_key(c, &ki, out, err);
	return rc;
}

enum hkms_rc
hkms_ops_key_list(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	struct hkms_key_info *keys = NULL;
	size_t n = 0, i;
	enum hkms_rc rc;
	json_t *arr;

	OPS_AUTHORIZE(c, "key.list", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_list(c->hsm, &keys, &n, err)) != HKMS_OK)
		return rc;
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, key_json(&keys[i]));
	free(keys);
	*out = arr;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_key_show(struct hkms_ops_ctx *c, const char *ref, json_t **out,
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "key.show", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = ops_key_find(c, ref, &ki, err)) != HKMS_OK)
		return rc;
	return show(c, &ki, out, err);
}

enum hkms_rc
hkms_ops_key_delete(struct hkms_ops_ctx *c, const char *ref, int force,
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	enum hkms_rc rc;
	json_t *users = NULL, *d = NULL, *m = NULL;
	int record_only = 0;
	long pid;

	OPS_AUTHORIZE(c, "key.delete", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
#ifdef HKMS_TEST_HOOKS
	test_pause("key_delete_before_find");
#endif
	rc = hkms_hsm_key_find(c->hsm, ref, &ki, err);
	/* The record is read after the token key is found: a creation
	 * reserves the name before its key exists, so a key found here that
	 * is still being made is seen as such (read before, a creation
	 * starting in between would lose its new key and its reservation,
	 * and then report success). */
	if (c->store != NULL && strncmp(ref ? ref : "", "id:", 3) != 0 &&
	    hkms_store_get(c->store, "keys", ref ? ref : "", &m, NULL,
	    NULL) == HKMS_OK && rec_reserved(m) && holder_alive(m, &pid)) {
		rc = hkms_err_setc(err, HKMS_E_IN_USE, "key_in_use",
		    "key '%s' is being created by process %ld", ref, pid);
		goto out;
	}
	if (rc != HKMS_OK) {
		/* a record whose key is gone (an interrupted delete, or a
		 * stale reservation): deleting the name removes the record */
		if (rc == HKMS_E_NOT_FOUND && m != NULL &&
		    hkms_store_delete(c->store, "keys", ref, err) == HKMS_OK) {
			record_only = 1;
			rc = HKMS_OK;
		}
		goto out;
	}
	/* the name names the key its record holds: a token key with that
	 * label but another id (another application's, made after ours was
	 * deleted) is not ours to destroy */
	if (m != NULL && !rec_is(m, &ki)) {
		const char *rid = json_string_value(json_object_get(m, "id"));

		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_mismatch",
		    "the token key named '%s' has id %s, but the store records "
		    "id %s for that name; nothing was deleted (id:HEX names a "
		    "token key exactly)", ki.name, ki.id_hex,
		    rid ? rid : "(none)");
		goto out;
	}
	if ((rc = reserved(ki.name, err)) != HKMS_OK)
		goto out;
	users = used_by(c, ki.name);
	if (json_array_size(users) > 0 && !force) {
		char *list = json_dumps(users, JSON_COMPACT);

		rc = hkms_err_setc(err, HKMS_E_IN_USE, "key_in_use",
		    "key '%s' is used by %s; force deletes it anyway",
		    ki.name, list ? list : "certificates");
		free(list);
		goto out;
	}
	/* write-ahead: no audit line, no deletion */
	d = json_pack("{s:b}", "force", force);
	rc = hkms_ops_audit_ahead(c, "key.delete", ref, d, err);
	json_decref(d);
	d = NULL;
	if (rc != HKMS_OK)
		goto done;
	rc = ops_key_remove(c, &ki, err);
out:
	d = json_pack("{s:b}", "force", force);
	if (record_only)
		json_object_set_new(d, "record_only", json_true());
	rc = hkms_ops_audit(c, "key.delete", ref, rc, err, d);
done:
	json_decref(d);
	json_decref(users);
	json_decref(m);
	return rc;
}

enum hkms_rc
hkms_ops_key_import(struct hkms_ops_ctx *c, const char *name,
    const unsigned char *data, size_t len, const char *passphrase,
    json_t **out, struct hkms_err *err)
{
	struct hkms_key_info ki;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	enum hkms_rc rc;
	int made = 0;

	OPS_AUTHORIZE(c, "key.import", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if ((rc = reserved(name, err)) != HKMS_OK ||
	    (rc = hkms_certio_parse_key(data, len, passphrase, &key, &certs,
	    err)) != HKMS_OK)
		goto out;
	rc = key_create(c, name, HKMS_KEY_NONE, key, "key.import", &ki, err);
	/* the software copy is gone as soon as the token has it */
	EVP_PKEY_free(key);
	key = NULL;
	if (rc == HKMS_OK) {
		made = 1;
		rc = show(c, &ki, out, err);
	}
out:
	rc = hkms_ops_audit(c, "key.import", name, rc, err, NULL);
	if (rc != HKMS_OK && made)
		undo_key(c, &ki, out, err);
	hkms_certio_chain_free(certs);
	return rc;
}

/* ---- store check: token keys against key records ---- */

/*
 * 1 if the record of name still is m (same id, state and holder). The
 * check reads the records, then the token, without a lock: a process that
 * finished or deleted the key in between, and then exited, must not look
 * like an interrupted one.
 */
static int
rec_unchanged(struct hkms_ops_ctx *c, const char *name, json_t *m)
{
	static const char *const k[] = { "id", "state", "pid", "pid_start" };
	json_t *now = NULL;
	size_t i;
	int same = 1;

	if (hkms_store_get(c->store, "keys", name, &now, NULL, NULL) !=
	    HKMS_OK)
		return 0;
	for (i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		json_t *a = json_object_get(m, k[i]);
		json_t *b = json_object_get(now, k[i]);

		if ((a == NULL) != (b == NULL) || (a != NULL &&
		    !json_equal(a, b)))
			same = 0;
	}
	json_decref(now);
	return same;
}

/*
 * The seq of a key.delete line (write-ahead: written before the key is
 * destroyed, the record goes after) for the key record name/id that comes
 * after the line that created it, or 0. A record whose key is gone with
 * such a line is a delete in flight (a check running next to it) or an
 * interrupted one, not a lost key.
 */
static long long
deleting(struct hkms_ops_ctx *c, const char *name, const char *id)
{
	char obj[160], obj_id[160], idq[160];
	const char *by_name[3] = { "\"op\":\"key.delete\"", obj, NULL };
	const char *by_id[3] = { "\"op\":\"key.delete\"", obj_id, NULL };
	const char *made[2] = { idq, NULL };
	long long del = 0, del2 = 0, mk = 0;

	snprintf(obj, sizeof(obj), "\"object\":\"%s\"", name);
	snprintf(obj_id, sizeof(obj_id), "\"object\":\"id:%s\"", id);
	snprintf(idq, sizeof(idq), "\"%s\"", id);
	if (hkms_audit_find_ok(c->store, by_name, 1, &del, NULL) != HKMS_OK ||
	    hkms_audit_find_ok(c->store, by_id, 1, &del2, NULL) != HKMS_OK ||
	    hkms_audit_find_ok(c->store, made, 0, &mk, NULL) != HKMS_OK)
		return 0;
	if (del2 > del)
		del = del2;
	return del > mk ? del : 0;
}

enum hkms_rc
hkms_ops_key_check(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	struct hkms_key_info *keys = NULL;
	size_t n = 0, i, j;
	json_t *recs = NULL, *errors, *warnings, *foreign, *it;
	json_int_t managed = 0, reserved = 0;
	long long dseq;
	const char *audit_id = NULL;	/* points into keys */
	enum hkms_rc rc;
	long pid;

	OPS_AUTHORIZE(c, "key.check", NULL, NULL, err);
	if ((rc = need_hsm(c, err)) != HKMS_OK)
		return rc;
	if (c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if ((rc = hkms_store_list(c->store, "keys", &recs, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_list(c->hsm, &keys, &n, err)) != HKMS_OK) {
		json_decref(recs);
		return rc;
	}
	errors = json_array();
	warnings = json_array();
	foreign = json_array();
	json_array_foreach(recs, i, it) {
		const char *name = json_string_value(json_object_get(it,
		    "name"));
		const char *id = json_string_value(json_object_get(it, "id"));
		int found = 0;

		if (name == NULL || id == NULL) {
			hkms_json_push(errors, "keys/%s: record without a name or id",
			    name ? name : "?");
			continue;
		}
		for (j = 0; j < n; j++)
			if (!keys[j].truncated &&
			    strcmp(keys[j].name, name) == 0 &&
			    strcasecmp(keys[j].id_hex, id) == 0)
				found = 1;
		if (rec_reserved(it)) {
			reserved++;
			if (holder_alive(it, &pid))
				hkms_json_push(warnings, "keys/%s: being created by "
				    "process %ld", name, pid);
			else if (!rec_unchanged(c, name, it))
				continue;	/* finished or deleted meanwhile */
			else if (!rec_ours(it))
				hkms_json_push(errors, "keys/%s: stale reservation for "
				    "id %s, which hkms does not make: no retry "
				    "destroys a token key with it; remove the "
				    "record by hand", name, id);
			else
				hkms_json_push(errors, "keys/%s: stale reservation: the "
				    "creation of key '%s' (id %s) was "
				    "interrupted, process %ld is gone; %s; "
				    "creating or deleting the key '%s' again "
				    "cleans up", name, name, id, pid, found ?
				    "the token holds its orphan key" :
				    "the token holds no key of it", name);
			continue;
		}
		if (!found && rec_unchanged(c, name, it) &&
		    (dseq = deleting(c, name, id)) > 0)
			hkms_json_push(warnings, "keys/%s: its key is gone after the "
			    "key delete of audit line %lld, which has not removed "
			    "the record yet (in progress, or interrupted: "
			    "deleting '%s' again removes it)", name, dseq, name);
		else if (!found && rec_unchanged(c, name, it))
			hkms_json_push(errors, "keys/%s: no key '%s' with id %s in the "
			    "token", name, name, id);
		else if (!found)
			continue;	/* deleted while we looked */
		else
			managed++;
	}
	for (j = 0; j < n; j++) {
		json_t *rec = NULL;
		int has = 0;

		json_array_foreach(recs, i, rec) {
			const char *name = json_string_value(
			    json_object_get(rec, "name"));
			const char *id = json_string_value(
			    json_object_get(rec, "id"));

			if (name != NULL && id != NULL && !keys[j].truncated &&
			    strcmp(keys[j].name, name) == 0 &&
			    strcasecmp(keys[j].id_hex, id) == 0)
				has = 1;
		}
		if (has)
			continue;
		if (keys[j].ours && audit_id == NULL && !keys[j].truncated &&
		    strcmp(keys[j].name, HKMS_AUDIT_KEY_LABEL) == 0) {
			/* the audit key (made at init, not a key record) */
			audit_id = keys[j].id_hex;
			continue;
		}
		if (keys[j].ours)
			/* an hkms key with no record here: an interrupted
			 * hkms, or another hkms data dir sharing the token */
			hkms_json_push(warnings, "token key '%s' (id %s) was made by "
			    "hkms but has no record in this store",
			    keys[j].name, keys[j].id_hex);
		else
			json_array_append_new(foreign, json_pack("{s:s, s:s}",
			    "name", keys[j].name, "id", keys[j].id_hex));
	}
	*out = json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:s?}",
	    "token_keys", (json_int_t)n, "recorded", managed,
	    "reservations", reserved, "foreign", foreign, "errors", errors,
	    "warnings", warnings, "audit_key_id", audit_id);
	free(keys);
	json_decref(recs);
	if (*out == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}
