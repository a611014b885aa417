/*
 * The service object: what both faces (the CLI, per command; the server,
 * once at start) open from a config and run every operation against. It
 * owns the token (hkms_hsm), the store, the truststore handle, the log
 * sink and the metrics counters. Token, store and truststore are opened
 * on first use, so a command that needs no token never opens it (cert
 * list, a read-only store check when the token is absent).
 *
 * A request runs with a context (struct hkms_ops_ctx, include/hkms/ops.h)
 * made by hkms_service_ctx(): the service, the principal who asks, and
 * the actor name written to the audit.
 *
 * Threads: hkms_service_open() must run before the process starts any
 * thread. It sets the process environment the PKCS#11 module reads
 * (SOFTHSM2_CONF, read by SoftHSM2 only in C_Initialize) once, before the
 * module is loaded; setenv() is never called again. After open, every
 * function here is thread-safe; hkms_service_close() runs once, after the
 * last request.
 */
#ifndef HKMS_SERVICE_H
#define HKMS_SERVICE_H

#include <stddef.h>

#include <jansson.h>

#include "hkms/config.h"
#include "hkms/error.h"
#include "hkms/log.h"

struct hkms_service;
struct hkms_hsm;
struct hkms_store;
struct hkms_trust;
struct hkms_ops_ctx;
struct hkms_secret;

/* ---- principals ---- */

/** What a principal may do (docs/design.md, "Clients and clearance"). */
enum hkms_clearance {
	HKMS_CLEARANCE_NONE = 0,	/* nothing (an unknown client) */
	HKMS_CLEARANCE_USER = 1,	/* sign with granted CAs, read */
	HKMS_CLEARANCE_OPERATOR = 2,	/* keys, CAs, certificates, trust */
	HKMS_CLEARANCE_ADMIN = 3,	/* everything */
};

#define HKMS_PERM_READ 0x1u	/* read a CA's certificates and CRL */
#define HKMS_PERM_SIGN 0x2u	/* sign CSRs with a CA */

/** One per-CA grant of a user client. Strings are borrowed from the
 *  client registration. */
struct hkms_permission {
	const char *ca;			/* CA name */
	unsigned rights;		/* HKMS_PERM_* */
	const char *const *profiles;	/* allowed profiles, NULL = any */
	const char *name_policy;	/* name policy (CA policy format), or
					 * NULL */
};

enum hkms_principal_kind {
	HKMS_PRINCIPAL_LOCAL = 0,	/* the local operator (the CLI) */
	HKMS_PRINCIPAL_CLIENT = 1,	/* an mTLS client of the server */
};

/** Who asks. The CLI's principal is the local operator with clearance
 *  admin (file permissions on the data dir and the PIN are its access
 *  control); the server fills a client's from its registration (the
 *  clients issue). Borrowed by the context; the face keeps it alive for
 *  the request. */
struct hkms_principal {
	enum hkms_principal_kind kind;
	const char *name;		/* OS user, or registration name */
	char thumbprint[65];		/* client certificate SHA-256 (hex),
					 * "" for a local operator */
	enum hkms_clearance clearance;
	const struct hkms_permission *perms;	/* user clients */
	size_t nperms;
	int second_factor;		/* a required TOTP code was checked */
	int require_2fa;		/* the registration requires one
					 * (hkms_ops_authorize refuses the
					 * principal until second_factor) */
};

/** The local operator named user (clearance admin). */
void hkms_principal_local(struct hkms_principal *p, const char *user);

/* ---- the service ---- */

struct hkms_service_opts {
	const char *actor;	/* audit actor of lines the service writes
				 * itself (a failed login); NULL = "unknown" */
	int store_read_only;	/* open the store read-only (store check):
				 * no recovery, no lock, nothing created */
	int log_fd;		/* log lines go here; 0 = stderr */
	int log_quiet;		/* no log lines unless [log] level is set:
				 * a one-shot face (the CLI) whose errors
				 * reach the user as the error envelope */
	int token_retry;	/* a long-running face (the server): a token
				 * open that failed because the token was
				 * down or missing is tried again on a later
				 * call, after a backoff (0.5 s doubling to
				 * 30 s); a refused PIN never is */
};

/** Open the service for cfg (borrowed: it must outlive the service).
 *  Sets SOFTHSM2_CONF from cfg->softhsm2_conf (hkms_hsm_env_init):
 *  HKMS_E_INVALID ("conflicting_environment") when this process already
 *  set a different value. Opens the log sink at cfg->log_level (unset:
 *  warn, or off with opts->log_quiet); token,
 *  store and truststore are opened on first use. opts may be NULL. Call
 *  before starting threads. *out is freed with hkms_service_close(). */
enum hkms_rc hkms_service_open(const struct hkms_config *cfg,
    const struct hkms_service_opts *opts, struct hkms_service **out,
    struct hkms_err *err);

/** Close the truststore handle, the store, the token and the log, once,
 *  when no request runs any more. NULL is fine. */
void hkms_service_close(struct hkms_service *svc);

/** The config the service was opened with (borrowed). */
const struct hkms_config *hkms_service_config(const struct hkms_service *svc);

/** The log sink (borrowed; valid until close). */
struct hkms_log *hkms_service_log(struct hkms_service *svc);

/** The token, opened and logged in on first use with the PIN from
 *  HKMS_PIN (taken out of the environment at process start) or the
 *  config's pin_file. One try per service: a failed open is remembered
 *  and returned again (a second try would spend another PIN attempt). A
 *  refused PIN is audited ("token.login", result "error", never the PIN)
 *  into an existing data dir. Borrowed. */
enum hkms_rc hkms_service_hsm(struct hkms_service *svc, struct hkms_hsm **out,
    struct hkms_err *err);

/** Whether the token is open (without opening it). */
int hkms_service_hsm_open(struct hkms_service *svc);

/** Whether the service is sealed: the token is not open and there is no
 *  PIN source (no HKMS_PIN, no pin_file or none on disk, no PIN from
 *  hkms_service_unseal()). */
int hkms_service_sealed(struct hkms_service *svc);

/** Unseal: log in with pin (copied into a secret buffer, kept only in
 *  memory so a lost context can log in again; never written). A refused
 *  PIN (HKMS_E_PIN, one try counted like any login, audited) or a token
 *  that does not open leaves the service sealed; HKMS_E_EXISTS
 *  ("not_sealed") when the token is open already. */
enum hkms_rc hkms_service_unseal(struct hkms_service *svc,
    const struct hkms_secret *pin, struct hkms_err *err);

/** Seal small secret data (EAB MAC keys, TOTP seeds) with the token's
 *  seal key, AES-256-GCM (hkms_hsm_seal(); docs/hsm.md). aad names the
 *  purpose and the record the blob goes into, so it cannot be moved to
 *  another. *blob (malloc'd) holds no secret. A token without AES-GCM:
 *  HKMS_E_TOKEN "token_mechanism". */
enum hkms_rc hkms_service_seal_data(struct hkms_service *svc,
    const void *plain, size_t len, const void *aad, size_t naad,
    unsigned char **blob, size_t *blob_len, struct hkms_err *err);

/** Open a blob of hkms_service_seal_data() sealed with the same aad into a
 *  new secret (locked, wiped memory); otherwise HKMS_E_VERIFY
 *  "seal_invalid". (Not hkms_service_unseal(), which logs in.) */
enum hkms_rc hkms_service_unseal_data(struct hkms_service *svc,
    const unsigned char *blob, size_t blob_len, const void *aad,
    size_t naad, struct hkms_secret **out, struct hkms_err *err);

/* signature schemes of hkms_service_tls_sign (= enum hkms_sign_scheme) */
#define HKMS_TLS_SIGN_ECDSA 1		/* in: digest; out: DER (r,s) */
#define HKMS_TLS_SIGN_RSA_PKCS1 2	/* in: digest; PKCS#1 v1.5 */
#define HKMS_TLS_SIGN_RSA_PSS 3		/* in: digest; PSS, salt = digest
					 * length, MGF1 with digest */

/** Sign a TLS handshake's digest with the token key named key (the
 *  server's GnuTLS callbacks; the token is opened on first use).
 *  digest: "sha256", "sha384", "sha512". sig holds
 *  *siglen bytes; set to the length used. Token errors are counted. */
enum hkms_rc hkms_service_tls_sign(struct hkms_service *svc, const char *key,
    int scheme, const char *digest, const unsigned char *in, size_t inlen,
    unsigned char *sig, size_t *siglen, struct hkms_err *err);

/** The health check's store probe: <data_dir>/run/health.probe written
 *  atomically (the store opened on first use). */
enum hkms_rc hkms_service_probe_store(struct hkms_service *svc,
    struct hkms_err *err);

/** The store on the config's data dir, opened on first use (read-only
 *  with opts->store_read_only), with the token's audit key provider and
 *  the config's pinned audit key fingerprint. Borrowed. */
enum hkms_rc hkms_service_store(struct hkms_service *svc,
    struct hkms_store **out, struct hkms_err *err);

/** The truststore handle on the service's store, opened on first use and
 *  shared by every request (snapshots are reloaded only on change).
 *  Borrowed; valid until close. */
enum hkms_rc hkms_service_trust(struct hkms_service *svc,
    struct hkms_trust **out, struct hkms_err *err);

/* what a request needs opened before its operation runs */
#define HKMS_SERVICE_NEED_STORE 0x1	/* the store */
#define HKMS_SERVICE_NEED_TOKEN 0x2	/* the token: fail without it */
#define HKMS_SERVICE_WANT_TOKEN 0x4	/* the token if it opens (show: a
					 * key's URI is a bonus) */

/** Fill a request context: the service, principal and actor (borrowed;
 *  they must outlive the request), cfg, and the store and token as need
 *  says. ctx is zeroed first. */
enum hkms_rc hkms_service_ctx(struct hkms_service *svc,
    const struct hkms_principal *principal, const char *actor,
    unsigned need, struct hkms_ops_ctx *ctx, struct hkms_err *err);

/* ---- metrics ---- */

/** Count one finished operation (op: its audit name, "ca.sign") with its
 *  result; token errors (HKMS_E_TOKEN, _TOKEN_DOWN, _PIN) are also
 *  counted apart. Lock-free after an operation's first count.
 *  hkms_ops_audit() counts every audited operation; a face counts the
 *  read-only ones it serves. */
void hkms_service_count(struct hkms_service *svc, const char *op,
    enum hkms_rc rc);

/** The counters as a new object {"operations":[{"op","result":"ok"|
 *  "error","count"}], "token_errors", "token_rebuilds", "token_open",
 *  "group_commit_batches", "group_commit_operations"}:
 *  what the server exports as Prometheus metrics. */
json_t *hkms_service_metrics(struct hkms_service *svc);

/* ---- for faces ---- */

/** Write a face's output file: a regular (or new) file is replaced
 *  atomically with mode (hkms_store_write_atomic); anything else the
 *  user named (/dev/null, a FIFO, /dev/stdout) is written in place like a
 *  shell redirection. path NULL = stdout. */
enum hkms_rc hkms_service_write_output(const char *path, const void *data,
    size_t len, unsigned mode, struct hkms_err *err);

#endif
