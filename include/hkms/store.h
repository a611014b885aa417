/*
 * The file store: everything hkms knows apart from keys, under one data
 * directory. Every write is atomic and durable; writers take a lock.
 *
 * Layout, schema, lock order and the audit format: docs/store.md.
 *
 * Lock order (never the other way round):
 *   1. <data>/.daemon.lock  (held for a daemon's lifetime, non-blocking)
 *   2. <data>/.lock         (the data lock: hkms_store_begin/_end; every
 *                            mutation of records and files holds it)
 *   3. <data>/.audit.lock   (leaf: taken inside hkms_audit_append only)
 */
#ifndef HKMS_STORE_H
#define HKMS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "hkms/error.h"

/* ------------------------------------------------------------------ */
/* Atomic files and directory locks (no store object needed)           */
/* ------------------------------------------------------------------ */

/** Replace path with data atomically and durably: a temp file in the same
 *  directory (O_EXCL, mode), write, fsync, rename, fsync of the directory.
 *  On failure the previous content of path is intact and the temp file is
 *  gone. An fsync failure is an error, never retried. Thread-safe.
 *  ENOSPC/EDQUOT give HKMS_E_NOSPACE, other failures HKMS_E_IO.
 *  Caveat: if only the final directory fsync fails, the new content is
 *  already visible but not known durable; the call still fails.
 *  Test hook (test builds, HKMS_TEST_HOOKS only):
 *  HKMS_STORE_CRASH_AT=<step>[:<n>] with step one of
 *  after_write, after_fsync, after_rename calls _exit(137) the n-th time
 *  (default 1st) this process reaches that step (docs/store.md). */
enum hkms_rc hkms_store_write_atomic(const char *path, const void *data,
    size_t len, unsigned mode, struct hkms_err *err);

struct hkms_lock;

/** Take an flock() on dir/.lock (created 0600): exclusive for writers,
 *  shared for readers. Blocks until it is free. Release with
 *  hkms_store_unlock(), which accepts NULL. Each call opens its own file
 *  description, so two threads of one process exclude each other too. */
enum hkms_rc hkms_store_lock_dir(const char *dir, int exclusive,
    struct hkms_lock **out, struct hkms_err *err);
void hkms_store_unlock(struct hkms_lock *lock);

/* ------------------------------------------------------------------ */
/* The store object                                                     */
/* ------------------------------------------------------------------ */

struct hkms_store;

/** Current (and highest understood) metadata schema version. */
#define HKMS_STORE_SCHEMA 1

/** Most operations one group commit writes (audit lines of one batch). */
#define HKMS_STORE_GROUP_MAX 64

/** Largest record JSON / PEM / file the store reads back (bytes). */
#define HKMS_STORE_MAX_FILE (4u * 1024 * 1024)

/** Open the store on data_dir, which must exist (else HKMS_E_NOT_FOUND,
 *  code "not_initialized": only hkms_store_init_dir() creates it) and be
 *  safe (hkms_path_check_safe(): owned by root or the effective user, not
 *  group/world-writable, nor any directory above it; else HKMS_E_DENIED,
 *  code "unsafe_path"). Creates the fixed kind directories if missing
 *  (0700), then recovers under the data lock: removes stale "*.tmp.*"
 *  files, finishes or drops staged PEM files (".pem.next"), and creates
 *  audit.head for a new audit log. (A PEM without a record, left by an
 *  interrupted delete, is kept but ignored; check() warns.) Nothing under
 *  the data dir is used through a symlink: a kind dir or file that is one
 *  is refused ("unsafe_path") here or by the call that meets it. The
 *  caller frees *out with hkms_store_close(). Safe while other processes
 *  use the same dir. The object may be shared by threads: the data lock
 *  is recursive per store object and serializes threads as well as
 *  processes. */
enum hkms_rc hkms_store_open(const char *data_dir, struct hkms_store **out,
    struct hkms_err *err);

/** Open the store for hkms_store_check() and reads only: the same data
 *  dir checks as hkms_store_open(), but no recovery, no lock, and it
 *  creates and changes nothing; every write through it fails (code
 *  "store_read_only"). */
enum hkms_rc hkms_store_open_readonly(const char *data_dir,
    struct hkms_store **out, struct hkms_err *err);

/** Create data_dir 0700 (and missing parents, 0700) for `hkms init`, or
 *  accept an existing one only if it is safe (as hkms_store_open()).
 *  Does not create the layout: hkms_store_open() does that. */
enum hkms_rc hkms_store_init_dir(const char *data_dir, struct hkms_err *err);

/** Release everything (a held data lock too). Accepts NULL. */
void hkms_store_close(struct hkms_store *st);

/** The data directory path, resolved (realpath) at open; owned by st. */
const char *hkms_store_dir(const struct hkms_store *st);

/** Take <data>/.daemon.lock with flock(LOCK_EX|LOCK_NB) and keep it until
 *  hkms_store_close(): a second daemon on the same data dir gets
 *  HKMS_E_LOCKED. Independent of the data lock, so CLI mutations still
 *  work (they serialize on the data lock). */
enum hkms_rc hkms_store_lock_daemon(struct hkms_store *st,
    struct hkms_err *err);

/** Take the exclusive data lock (<data>/.lock) for a read-modify-write
 *  sequence. Blocks. Recursive: nested begin/end pairs from the same
 *  thread are fine. Every put/delete/rename/put_file takes it by itself,
 *  so begin/end is only needed to make several calls one unit (check then
 *  create, read a counter then write it). Pair with hkms_store_end(). */
enum hkms_rc hkms_store_begin(struct hkms_store *st, struct hkms_err *err);

/** Release one level of hkms_store_begin(). */
void hkms_store_end(struct hkms_store *st);

/** 1 if the store refused further writes because an fsync failed earlier
 *  in this process (RELIABILITY: fsync failure is fatal, go read-only). */
int hkms_store_read_only(const struct hkms_store *st);

/* ------------------------------------------------------------------ */
/* Metadata records: <data>/<kind>/<name>.json (+ <name>.pem)          */
/* ------------------------------------------------------------------ */

/*
 * Kinds are a fixed set of top-level directories, optionally with one
 * sub-level named by a valid name:
 *   "keys" "certs" "cas" "clients" "trust" "service" "state" "secrets"
 *   "issued/<ca>" "revoked/<ca>" "crl/<ca>"  (and "<base>/<name>" for any
 *   base above)
 * Records in "secrets" are written 0600, all others 0644.
 * Names: hkms_name_valid() and must not contain ".tmp.".
 */

/** 1 if kind is a valid kind string as described above. */
int hkms_store_kind_valid(const char *kind);

/** Write record name of kind: the PEM (if pem != NULL) is staged as
 *  <name>.pem.next, then <name>.json is replaced (the commit point), then
 *  the PEM is moved into place. A crash at any instant leaves either the
 *  old or the new record (open() finishes or drops the staged PEM).
 *  meta (borrowed, a JSON object) is copied; the store sets "schema",
 *  "name", "updated" (RFC 3339) and "pem_sha256" (hex, or removes it when
 *  pem is NULL) in the copy. Overwrites an existing record; a NULL pem
 *  removes an old PEM. Takes the data lock. */
enum hkms_rc hkms_store_put(struct hkms_store *st, const char *kind,
    const char *name, json_t *meta, const char *pem, struct hkms_err *err);

/** Read a record. meta and/or pem may be NULL if not wanted; *meta is a new
 *  reference (json_decref), *pem is malloc'd (free) or NULL when the record
 *  has no PEM. HKMS_E_NOT_FOUND if absent; HKMS_E_INVALID naming the file
 *  for a damaged/truncated JSON or a PEM that does not match its record;
 *  HKMS_E_UNSUPPORTED (code "schema_version") for a future schema.
 *  Needs no lock (files are replaced atomically). Thread-safe. */
enum hkms_rc hkms_store_get(struct hkms_store *st, const char *kind,
    const char *name, json_t **meta, char **pem, struct hkms_err *err);

/** 1 if record name of kind exists (its JSON does), 0 otherwise. */
int hkms_store_exists(struct hkms_store *st, const char *kind,
    const char *name);

/** A change stamp of record name of kind: the device, inode, size, mtime
 *  and ctime (ns) of its JSON file. Every write replaces the file (a new
 *  inode), so an unchanged stamp means an unchanged record: callers cache
 *  what they parsed from it under its stamp. 0 on success, -1 if the
 *  record does not exist or cannot be stat'd. */
struct hkms_store_stamp {
	unsigned long long dev, ino, size;
	long long mtime_ns, ctime_ns;
};
int hkms_store_stamp(struct hkms_store *st, const char *kind,
    const char *name, struct hkms_store_stamp *out);
/** 1 if two stamps are of the same file, unchanged (every field equal). */
int hkms_store_stamp_same(const struct hkms_store_stamp *a,
    const struct hkms_store_stamp *b);

/** All records of kind as a new JSON array of meta objects sorted by name
 *  (json_decref). Temp files, staged and orphan PEMs are ignored. A kind
 *  directory that does not exist yet is an empty list. A damaged record
 *  makes the call fail naming the file. */
enum hkms_rc hkms_store_list(struct hkms_store *st, const char *kind,
    json_t **out, struct hkms_err *err);

/** hkms_store_list, leaving out (and counting in *skipped) each record
 *  that cannot be read (damaged, unsafe, too large) instead of failing:
 *  for indexes where one bad record must not hide every other. */
enum hkms_rc hkms_store_list_readable(struct hkms_store *st,
    const char *kind, json_t **out, size_t *skipped, struct hkms_err *err);

/** Delete a record: JSON first (the commit point), then the PEM, then a
 *  directory fsync. HKMS_E_NOT_FOUND if absent. Takes the data lock. */
enum hkms_rc hkms_store_delete(struct hkms_store *st, const char *kind,
    const char *name, struct hkms_err *err);

/** Rename a record within kind (the new JSON gets "name" = newname).
 *  HKMS_E_NOT_FOUND if old is absent, HKMS_E_EXISTS if newname exists.
 *  Written as put(new) then delete(old) under the data lock: a crash in
 *  between leaves both names, each a whole record ("renamed_from" in the
 *  new one tells; hkms_store_check() warns). */
enum hkms_rc hkms_store_rename(struct hkms_store *st, const char *kind,
    const char *oldname, const char *newname, struct hkms_err *err);

/** Read-modify-write counter: under the data lock, read record name of
 *  kind (field "value", 0 if the record is absent), raise it to floor if
 *  it is lower, add 1, write it back and return the new value in *out
 *  (so *out > floor always). For CRL numbers and the like. A record whose
 *  "value" is missing, not an integer or negative is damaged: HKMS_E_VERIFY
 *  "counter_damaged", nothing written (never a restart at 1). */
enum hkms_rc hkms_store_counter_next(struct hkms_store *st, const char *kind,
    const char *name, uint64_t floor, uint64_t *out, struct hkms_err *err);

/** Read counter name of kind without changing it: *out (may be NULL) gets
 *  its value. HKMS_E_NOT_FOUND if absent, HKMS_E_VERIFY "counter_damaged"
 *  as for hkms_store_counter_next(). hkms_store_check() reports damaged
 *  crl/<ca>/number counters as errors. */
enum hkms_rc hkms_store_counter_check(struct hkms_store *st, const char *kind,
    const char *name, uint64_t *out, struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Plain files beside records (CRLs, bundles): <data>/<kind>/<file>     */
/* ------------------------------------------------------------------ */

/** Atomically replace <data>/<kind>/<file> with data (mode e.g. 0644 or
 *  0600). file: a valid name not ending in ".json", ".pem" or ".next" and
 *  without ".tmp." (those belong to records). Takes the data lock. */
enum hkms_rc hkms_store_put_file(struct hkms_store *st, const char *kind,
    const char *file, const void *data, size_t len, unsigned mode,
    struct hkms_err *err);

/** Read <data>/<kind>/<file> (at most HKMS_STORE_MAX_FILE bytes) into a
 *  malloc'd, NUL-terminated buffer (*len excludes the NUL). The caller
 *  frees *data. HKMS_E_NOT_FOUND if missing. */
enum hkms_rc hkms_store_get_file(struct hkms_store *st, const char *kind,
    const char *file, unsigned char **data, size_t *len,
    struct hkms_err *err);

/** Remove <data>/<kind>/<file> durably. HKMS_E_NOT_FOUND if missing. */
enum hkms_rc hkms_store_delete_file(struct hkms_store *st, const char *kind,
    const char *file, struct hkms_err *err);

/** Build "<data>/<kind>" (kind validated) into a malloc'd string the caller
 *  frees; for modules that keep their own files under the store (they
 *  must write through hkms_store_write_atomic() holding the data lock).
 *  A kind dir that is a symlink is refused (code "unsafe_path"). */
enum hkms_rc hkms_store_kind_path(struct hkms_store *st, const char *kind,
    char **out, struct hkms_err *err);

/** For a directory path a module writes into (a CRL publish dir): if it
 *  lies under the data dir, every component below the data dir must be
 *  a real directory, not a symlink (code "unsafe_path"); missing ones
 *  and paths outside the data dir pass. */
enum hkms_rc hkms_store_check_dir(struct hkms_store *st, const char *path,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Reservations and group commit: token work outside the data lock     */
/* ------------------------------------------------------------------ */

struct hkms_store_rsv;

/** Reserve record name of kind (a new record: an issued serial) for an
 *  operation that signs in the token before it commits. Creates
 *  <kind>/<name>.rsv holding {"pid","pid_start"}, whole or not at all
 *  (an O_TMPFILE linked to the name; O_CREAT|O_EXCL where O_TMPFILE is
 *  missing), not fsynced (a reservation only matters while its process
 *  lives), then checks that no record of that name exists.
 *  HKMS_E_EXISTS if the record or another reservation exists. Takes no
 *  lock: the exclusive create excludes threads and processes. Recovery
 *  (hkms_store_open) removes reservations whose process is gone;
 *  hkms_store_check reports them under "would_recover". Test hook:
 *  crash point "gc_reserved" right after the file is made. */
enum hkms_rc hkms_store_reserve(struct hkms_store *st, const char *kind,
    const char *name, struct hkms_store_rsv **out, struct hkms_err *err);

/** Drop a reservation that was not committed (removes its file) and free
 *  it; after a successful commit only frees. Accepts NULL. */
void hkms_store_release(struct hkms_store_rsv *r);

/** Commit the reserved record with its audit line, through the group
 *  committer: concurrent commits of this process are gathered into one
 *  batch (at most HKMS_STORE_GROUP_MAX). One leader takes the data lock
 *  once, writes each record into its reservation file (no fsync yet),
 *  appends the batch's audit lines (actor, op, object, result "ok",
 *  detail) with one write and one fdatasync and signs one head, fsyncs
 *  the record files, renames each to <name>.json (the commit point) and
 *  fsyncs each directory once; then every operation of the batch gets
 *  its own result. Returns only when this record and its line are
 *  durable (HKMS_OK) or failed; *seq (may be NULL) gets the line's seq
 *  also on a failure after the line (0 when no line was written), so
 *  the caller can write its "aborts" line. The record gets "audit_seq"
 *  and "audit_hash". meta is borrowed. */
enum hkms_rc hkms_store_commit(struct hkms_store *st,
    struct hkms_store_rsv *r, json_t *meta, const char *actor,
    const char *op, const char *object, json_t *detail, long long *seq,
    struct hkms_err *err);

/** An operation that will call hkms_store_commit() starts (delta +1) or
 *  ends (-1): while more are running than are queued, a leader waits a
 *  little (at most as long as the last batch took, never over 2 ms) so
 *  that one batch carries them all. Only a hint: a missing call costs
 *  batching, never correctness. */
void hkms_store_commit_intent(struct hkms_store *st, int delta);

/** Counters of the group committer (batches written, operations in
 *  them) since the store was opened: for tests and benchmarks. */
void hkms_store_commit_stats(struct hkms_store *st,
    unsigned long long *batches, unsigned long long *ops);

/* ------------------------------------------------------------------ */
/* Consistency check                                                   */
/* ------------------------------------------------------------------ */

/** Check the whole store without changing it (use a store from
 *  hkms_store_open_readonly() so that not even recovery runs): every
 *  record JSON parses with a known schema and matching name, every PEM a
 *  record names exists with the recorded SHA-256, stray temp/staged/orphan
 *  files are only warnings (they are never taken as data), a symlink or
 *  special file anywhere in the layout is an error, and the audit log
 *  verifies. "would_recover" lists what hkms_store_open() would change
 *  (temp files removed, staged PEMs finished or dropped, kind dirs made).
 *  *report (may be NULL) gets a new object {"ok","records","errors":[],
 *  "warnings":[],"would_recover":[],"audit":{...}} on success and on
 *  HKMS_E_VERIFY.
 *  Returns HKMS_E_VERIFY if any error was found (err names the first). */
enum hkms_rc hkms_store_check(struct hkms_store *st, json_t **report,
    struct hkms_err *err);

/** hkms_audit_verify plus the record cross-check of hkms_store_check:
 *  every record's "audit_seq"/"audit_hash" names a line the head covers
 *  and that line is its own. The report is the audit report with
 *  "record_errors":[...]; HKMS_E_VERIFY (code "audit_chain") on any
 *  problem, err naming the first. */
enum hkms_rc hkms_store_audit_check(struct hkms_store *st, json_t **report,
    struct hkms_err *err);

/* ------------------------------------------------------------------ */
/* Audit log: <data>/audit.log (JSON lines, hash chain) + audit.head    */
/* ------------------------------------------------------------------ */

/** Append one record {"seq","time","actor","op","object","result",
 *  "detail","prev","hash"} with hash = hex SHA-256(prev ‖ canonical
 *  record without hash). result is "ok" or "error". detail (borrowed,
 *  may be NULL) MUST be non-secret: never a PIN, passphrase, password or
 *  key; values under keys named like pin/passphrase/password/secret/
 *  private_key are replaced by "[redacted]" as a last line of defence.
 *  Takes <data>/.audit.lock (may be called with the data lock held, never
 *  the reverse), writes the line with one O_APPEND write, fdatasync()s,
 *  then updates audit.head atomically. A torn last line left by a crash
 *  is cut off first and an "audit.recover" record notes how many bytes.
 *  Refuses (HKMS_E_VERIFY) to append if audit.head is ahead of the log
 *  (truncated tail). Thread- and process-safe. */
enum hkms_rc hkms_audit_append(struct hkms_store *st, const char *actor,
    const char *op, const char *object, const char *result, json_t *detail,
    struct hkms_err *err);

/** Like hkms_audit_append, for the write-ahead line of an operation:
 *  result "ok", written before the operation commits. Takes the data lock
 *  for the call; while the caller holds the data lock (hkms_store_begin),
 *  every record put until its outermost hkms_store_end() gets
 *  "audit_seq" and "audit_hash" of this line. *seq (may be NULL) gets the
 *  line's seq. Fails (nothing written) when the line cannot be made
 *  durable and sealed: then the operation must not commit. */
enum hkms_rc hkms_audit_append_ahead(struct hkms_store *st,
    const char *actor, const char *op, const char *object, json_t *detail,
    long long *seq, struct hkms_err *err);

/** Append a line that needs no audit key signature, for failures (a
 *  failed login, an operation the token could not sign): when the head is
 *  signed (or an audit key is set) the line is marked "unsealed":true and
 *  the head is left as it is; the next sealed append covers it. In a store
 *  without an audit key, like hkms_audit_append. */
enum hkms_rc hkms_audit_append_unsealed(struct hkms_store *st,
    const char *actor, const char *op, const char *object, const char *result,
    json_t *detail, struct hkms_err *err);

/** The audit key: the layer that has the token gives the store its public
 *  key and a signer; the store never talks to the token itself.
 *  get_public: called once per store object, lazily, before the first
 *  append or verify (never under the audit lock): set *spki to a malloc'd
 *  DER SubjectPublicKeyInfo, or return HKMS_E_NOT_FOUND when the token has
 *  no audit key. sign: sign a SHA-256 digest (ECDSA as DER, or RSA
 *  PKCS#1 v1.5) into sig (*siglen bytes in, used bytes out); NULL = verify
 *  only. */
struct hkms_audit_key {
	enum hkms_rc (*get_public)(void *arg, unsigned char **spki,
	    size_t *len, struct hkms_err *err);
	enum hkms_rc (*sign)(void *arg, const unsigned char dgst[32],
	    unsigned char *sig, size_t *siglen, struct hkms_err *err);
	void *arg;
};

/** Set (key copied) or clear (NULL) the audit key provider of st. With a
 *  key, every head written is signed, an unsigned or badly signed head is
 *  an error, and a missing log is an error. Thread-safe. */
void hkms_store_set_audit_key(struct hkms_store *st,
    const struct hkms_audit_key *key);

/** Pin the audit key by the hex SHA-256 of its SubjectPublicKeyInfo
 *  (config [audit] key_sha256): without a provider, verify checks the
 *  head with the public key the head carries, once it matches the pin;
 *  with one, the token's key must match the pin. */
enum hkms_rc hkms_store_pin_audit_key(struct hkms_store *st,
    const char *sha256_hex, struct hkms_err *err);

/** Append an "audit.seal" line and sign the head with the audit key,
 *  accepting an unsigned head: run once when the audit key is made
 *  (hkms init). HKMS_E_VERIFY (code "audit_sealed") without a key. */
enum hkms_rc hkms_audit_seal(struct hkms_store *st, const char *actor,
    struct hkms_err *err);

/** 1 if audit.head is signed (the log is sealed by an audit key). */
int hkms_audit_sealed(struct hkms_store *st);

/** After the whole log verifies (else its error): *seq = the seq of the
 *  first (last != 0: the last) "ok" line containing every string of the
 *  NULL-terminated needles (e.g. a key id in quotes), 0 if none. For
 *  decisions made on the word of a record. */
enum hkms_rc hkms_audit_find_ok(struct hkms_store *st,
    const char *const *needles, int last, long long *seq,
    struct hkms_err *err);

/** Verify the whole audit log: each line's hash, the prev chain, seq
 *  continuity from 1, and audit.head (seq and hash; the log may be one
 *  record ahead after a crash, never behind). A torn (unterminated) last
 *  line is not an error: it is reported as "torn_tail_bytes". On failure
 *  returns HKMS_E_VERIFY (code "audit_chain") with err->detail
 *  "audit.log line N: <reason>". *report (may be NULL) gets a new object
 *  {"ok","records","last_seq","last_hash","head_seq","torn_tail_bytes",
 *  and on failure "bad_line","reason"}. Takes no lock (reads a snapshot;
 *  run it with no writer for an exact head check). */
enum hkms_rc hkms_audit_verify(struct hkms_store *st, json_t **report,
    struct hkms_err *err);

#endif
