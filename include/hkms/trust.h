/*
 * The truststore: named entries (aliases) of trusted certificates, kept
 * as store records of kind "trust" (<data>/trust/<alias>.json beside
 * <alias>.pem), plus an append-only change journal
 * (<data>/trust/changes.log) that lets long-running processes and
 * `hkms trust watch` see every change made by any process. Layout,
 * statuses, pin semantics and live reload: docs/truststore.md.
 *
 * Two kinds of entries:
 * - "imported": one or many certificates (a PKCS#12 or PEM collection is
 *   one alias; each certificate is addressable by its thumbprint);
 * - "pinned": one certificate trusted as presented by a peer ("Trust this
 *   certificate"), with the peer's identity recorded so that a different
 *   certificate presented later for the same peer reports `untrusted`.
 *
 * Thread safety: a struct hkms_trust may be shared by threads; every
 * function on it is thread-safe. Snapshots are immutable and reference
 * counted; they may be used from any thread until released.
 */
#ifndef HKMS_TRUST_H
#define HKMS_TRUST_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "hkms/certio.h"
#include "hkms/error.h"

struct hkms_store;
struct hkms_trust;
struct hkms_trust_snap;
struct hkms_trust_watch;

/** Store kind of truststore records. */
#define HKMS_TRUST_KIND "trust"

/** A snapshot is re-checked against the files at least this often (ms),
 *  even when inotify reported nothing (e.g. on NFS). */
#define HKMS_TRUST_RECHECK_MS 1000

/** Open the truststore of st (borrowed; it must outlive the handle).
 *  Sets up inotify on <data>/trust when available (if not, freshness is
 *  checked by stat() on every snapshot call). Loads nothing yet. The
 *  caller frees *out with hkms_trust_close(). */
enum hkms_rc hkms_trust_open(struct hkms_store *st, struct hkms_trust **out,
    struct hkms_err *err);

/** Close the handle; snapshots still held stay valid. Accepts NULL. */
void hkms_trust_close(struct hkms_trust *tr);

/** 1 if alias is acceptable: hkms_name_valid() (1..64 of [A-Za-z0-9._-],
 *  no leading '.' or '-', hence no '/' and no "..") and not containing
 *  "..". */
int hkms_trust_alias_valid(const char *alias);

/* ------------------------------------------------------------------ */
/* Reading: snapshots                                                   */
/* ------------------------------------------------------------------ */

/**
 * A view of the whole truststore that reflects every change committed
 * before the call, provided it was seen: a change made by any process is
 * picked up at the latest HKMS_TRUST_RECHECK_MS after it (at once when
 * inotify works). Cheap when nothing changed (no file is read: one
 * non-blocking inotify read, or a stat()). *out is a new reference the
 * caller releases with hkms_trust_snap_free(). Thread-safe.
 */
enum hkms_rc hkms_trust_snapshot(struct hkms_trust *tr,
    struct hkms_trust_snap **out, struct hkms_err *err);

/** Release a snapshot reference; accepts NULL. */
void hkms_trust_snap_free(struct hkms_trust_snap *s);

/** Every certificate of every entry (the verification anchors),
 *  borrowed: valid while the snapshot is held; do not modify. */
STACK_OF(X509) *hkms_trust_snap_certs(const struct hkms_trust_snap *s);

/** Number of entries (aliases). */
size_t hkms_trust_snap_count(const struct hkms_trust_snap *s);

/** The alias holding the certificate of thumbprint ("sha256:<hex>"), or
 *  NULL; borrowed from the snapshot. */
const char *hkms_trust_snap_find(const struct hkms_trust_snap *s,
    const char *thumbprint);

/** The certificates of alias (borrowed from the snapshot), or
 *  HKMS_E_NOT_FOUND. */
enum hkms_rc hkms_trust_snap_alias_certs(const struct hkms_trust_snap *s,
    const char *alias, STACK_OF(X509) **out, struct hkms_err *err);

/** All entries, sorted by alias, as a new JSON array of
 *  {alias, kind, status, certificates (count), subject, not_after,
 *  thumbprint} (subject/thumbprint of the first certificate, not_after the
 *  earliest). now: the time statuses are relative to (0 = now). */
enum hkms_rc hkms_trust_snap_list(const struct hkms_trust_snap *s,
    int64_t now, json_t **out, struct hkms_err *err);

/**
 * One entry as a new JSON object: alias, kind, status, created, updated,
 * source_format, certificates [{subject, issuer, serial, not_before,
 * not_after, fingerprint_sha1, fingerprint_sha256, thumbprint, is_ca,
 * self_signed, status}], and for pinned entries "pin" {thumbprint, peer
 * {subject, hosts[], thumbprint}, presented {thumbprint, at} | null}.
 * Statuses: a certificate is "trusted", "expired" or "not-yet-valid"; an
 * imported entry takes the first non-trusted status of its certificates;
 * a pinned entry is "trusted" or "untrusted" (its certificate expired or
 * not yet valid, or the peer last presented a different certificate).
 * HKMS_E_NOT_FOUND if there is no such alias.
 */
enum hkms_rc hkms_trust_snap_show(const struct hkms_trust_snap *s,
    const char *alias, int64_t now, json_t **out, struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Writing (each takes the store's data lock, writes the record, and    */
/* appends to the change journal before returning)                      */
/* ------------------------------------------------------------------ */

/**
 * Add alias with certs (borrowed; duplicates within certs are dropped).
 * Certificates already in the truststore (under any alias) are not stored
 * twice: they are reported in *out "duplicates" [{thumbprint, alias}];
 * if every certificate is a duplicate nothing is written and the call
 * fails with HKMS_E_EXISTS "already_trusted". source_format (may be NULL)
 * is recorded. HKMS_E_INVALID "bad_alias" for an invalid alias,
 * HKMS_E_EXISTS "alias_exists" if alias exists. *out (may be NULL): a new
 * {alias, imported: [thumbprints], duplicates: [...]} object.
 */
enum hkms_rc hkms_trust_import(struct hkms_trust *tr, const char *alias,
    STACK_OF(X509) *certs, const char *source_format, json_t **out,
    struct hkms_err *err);

/**
 * Pin: trust the certificate a peer presents. presented (borrowed) is the
 * peer's chain, leaf first, or one certificate. The pinned certificate is
 * the leaf if it is self-signed or given alone, else the leaf's issuer
 * from presented ("the issuing CA of a CA-issued certificate"); if the
 * issuer is not in presented, HKMS_E_INVALID "issuer_not_presented". The
 * peer's identity (leaf subject, DNS/IP SANs and CN as hosts, leaf
 * thumbprint) is recorded. If alias exists: the same pinned certificate
 * is a no-op ("unchanged": true); a different one, or an imported entry,
 * is refused with HKMS_E_EXISTS "pin_changed" / "alias_exists" unless
 * force, which replaces it (journal event "changed"). *out (may be NULL):
 * a new {alias, pinned: thumbprint, peer, replaced, unchanged} object.
 */
enum hkms_rc hkms_trust_pin(struct hkms_trust *tr, const char *alias,
    STACK_OF(X509) *presented, int force, json_t **out,
    struct hkms_err *err);

/** Delete alias and all its certificates. HKMS_E_NOT_FOUND if absent. */
enum hkms_rc hkms_trust_delete(struct hkms_trust *tr, const char *alias,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Verification                                                         */
/* ------------------------------------------------------------------ */

/**
 * Verify a presented chain (leaf first, then what the peer sent) against
 * the truststore, with hkms_certio_verify() semantics (no partial chains:
 * an anchor must be self-signed). Two additions:
 * - pinned certificates are anchors even when not self-signed (a second
 *   pass with partial chains over the pinned certificates only);
 * - pins apply: a pinned entry whose peer matches the leaf (host in the
 *   entry's hosts when host is given, else the same subject) requires the
 *   pinned certificate in the presented chain or built path; otherwise
 *   the verdict is not ok with code "pinned_certificate_changed" and the
 *   entry is marked as presented with a different certificate (status
 *   `untrusted`) until a matching chain is verified again. That mark is
 *   the only write verification makes (only when the state changes).
 * *result as hkms_certio_verify(), plus "trusted_by" (the anchor's alias)
 * and "alias" in each path element found in the truststore, and on a pin
 * mismatch "pin": {alias, pinned, presented}.
 * Returns HKMS_OK if the chain holds, HKMS_E_VERIFY if not.
 */
enum hkms_rc hkms_trust_verify(struct hkms_trust *tr, STACK_OF(X509) *chain,
    const struct hkms_certio_verify_opts *opts, json_t **result,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Watching changes                                                     */
/* ------------------------------------------------------------------ */

/** Start watching the change journal from its current end. The caller
 *  frees *out with hkms_trust_watch_close(). One watcher per thread. */
enum hkms_rc hkms_trust_watch_open(struct hkms_trust *tr,
    struct hkms_trust_watch **out, struct hkms_err *err);

/**
 * Wait up to timeout_ms (-1 = forever) for changes and return them as a
 * new JSON array (possibly empty on timeout) of journal records
 * {"seq","event":"added|removed|changed","alias","time_ms",
 * "thumbprints"} in commit order; every committed change is returned
 * exactly once (a gap, possible only if the journal was rotated twice
 * between two calls, yields one {"event":"resync"} record). Wakes at once
 * on inotify, else re-reads at least every HKMS_TRUST_RECHECK_MS.
 */
enum hkms_rc hkms_trust_watch_next(struct hkms_trust_watch *w, int timeout_ms,
    json_t **events, struct hkms_err *err);

void hkms_trust_watch_close(struct hkms_trust_watch *w);

#endif
