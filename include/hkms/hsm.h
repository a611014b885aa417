/*
 * The token layer: the only code that talks PKCS#11. It hands out key
 * handles by name, public keys, and "sign with this key" — never private
 * key material, because no function here returns any.
 */
#ifndef HKMS_HSM_H
#define HKMS_HSM_H

#include <stddef.h>

#include <openssl/evp.h>

#include "hkms/error.h"
#include "hkms/secret.h"

struct hkms_hsm;

enum hkms_key_type {
	HKMS_KEY_NONE = 0,
	HKMS_KEY_RSA2048, HKMS_KEY_RSA3072, HKMS_KEY_RSA4096,
	HKMS_KEY_EC_P256, HKMS_KEY_EC_P384, HKMS_KEY_EC_P521,
};

/** Parse "rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384|ec:p521". RSA below
 *  2048 is refused with code "weak_key", anything else with
 *  "unknown_key_type". */
enum hkms_rc hkms_hsm_key_type_parse(const char *s, enum hkms_key_type *out,
    struct hkms_err *err);
const char *hkms_hsm_key_type_name(enum hkms_key_type t);

struct hkms_hsm_opts {
	const char *module;	/* PKCS#11 module path */
	const char *label;	/* token label, or NULL */
	const char *serial;	/* token serial, or NULL (label wins) */
	const char *softhsm2_conf; /* SOFTHSM2_CONF (hkms_hsm_env_init) */
	/* token lock file (flock) shared by every process using the token,
	 * or NULL: creating and destroying objects hold it exclusively,
	 * every other token call shared (docs/hsm.md) */
	const char *lock_file;
	int lock_create;	/* create lock_file if it is missing */
	/* a long-running process (the server): a key not found rebuilds
	 * the context once (at most every 2 s) and looks again, for
	 * modules that load their objects once (tpm2-pkcs11); a one-shot
	 * CLI context is fresh anyway */
	int refresh_on_miss;
};

/** Set the process environment the module reads at load (SOFTHSM2_CONF;
 *  NULL: nothing), once per process, before any thread starts and before
 *  the first module load: hkms_service_open() calls it. The same value
 *  again is a no-op; a different one is refused (HKMS_E_INVALID, code
 *  "conflicting_environment") and setenv() is never called twice. The
 *  open, list and init functions below call it with opts->softhsm2_conf.
 *  Thread-safe, but setenv() itself is not while other threads read the
 *  environment: hence "before any thread". */
enum hkms_rc hkms_hsm_env_init(const char *softhsm2_conf,
    struct hkms_err *err);

/** Contexts rebuilt since open (a lost token found again). */
unsigned long hkms_hsm_rebuilds(struct hkms_hsm *h);

/** Load the module, find the token, check its PIN flags and log in once.
 *  pin is borrowed; a copy is kept in a locked, wiped buffer so the layer
 *  can log in again after it rebuilds a lost context (docs/hsm.md). On
 *  CKR_PIN_INCORRECT the layer never tries that PIN again: HKMS_E_PIN.
 *  A token whose PIN is locked, or on its final try, is refused before any
 *  login attempt (set HKMS_ALLOW_FINAL_TRY=1 to allow the final try).
 *  Thread-safe to use afterwards; close with hkms_hsm_close(). */
enum hkms_rc hkms_hsm_open(const struct hkms_hsm_opts *opts,
    const struct hkms_secret *pin, struct hkms_hsm **out,
    struct hkms_err *err);
void hkms_hsm_close(struct hkms_hsm *h);

/** What a key is, read back from the token. */
struct hkms_key_info {
	char name[128];		/* CKA_LABEL */
	unsigned char id[64];	/* CKA_ID */
	size_t id_len;
	char id_hex[129];
	char uri[768];		/* RFC 7512 pkcs11: URI of the private key */
	enum hkms_key_type type;
	int bits;
	int has_public;
	/* read back from the private key object; -1 = not readable
	 * (refused, or CK_UNAVAILABLE_INFORMATION) */
	int sensitive, extractable, always_sensitive, never_extractable;
	int is_private, is_token, can_sign, can_decrypt;
	int can_sign_recover, can_unwrap, can_derive;
	int modifiable, copyable, destroyable;
	/* 1 when the token's CKA_LABEL or CKA_ID did not fit name/id: a
	 * foreign object, listed with both cut short; it cannot be
	 * referred to by this name or id */
	int truncated;
	int ours;	/* CKA_ID carries the hkms prefix (HKMS_KEY_ID_PREFIX) */
};

/** CKA_IDs hkms makes: these 4 bytes, then 8 random ones. Tells keys hkms
 *  made from foreign objects sharing the token. */
#define HKMS_KEY_ID_PREFIX "hkms"
#define HKMS_KEY_ID_LEN 12

/** A fresh CKA_ID for a new key: HKMS_KEY_ID_PREFIX + 8 random bytes. */
enum hkms_rc hkms_hsm_key_id_new(unsigned char id[HKMS_KEY_ID_LEN],
    struct hkms_err *err);

/** 1 if id is one hkms makes (prefix and length). */
int hkms_hsm_key_id_ours(const unsigned char *id, size_t id_len);

/** Generate a key pair in the token: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE
 *  true, CKA_EXTRACTABLE false, sign only, a fresh random CKA_ID, label
 *  name. Refuses a duplicate name (HKMS_E_EXISTS) and a size the token's
 *  mechanism info does not allow (HKMS_E_UNSUPPORTED). Never retried: on a
 *  failure any half-made object with the new CKA_ID is destroyed. */
enum hkms_rc hkms_hsm_key_generate(struct hkms_hsm *h, const char *name,
    enum hkms_key_type type, struct hkms_key_info *info,
    struct hkms_err *err);

/** As hkms_hsm_key_generate() with the caller's CKA_ID (id_len 1..64), so
 *  the caller can reserve the name with that id before the token work.
 *  CKA_MODIFIABLE and CKA_COPYABLE are asked false; a token that refuses
 *  them (or the usage restrictions) gets the same template without them
 *  (docs/hsm.md), and the real values are read back into info. */
enum hkms_rc hkms_hsm_key_generate_id(struct hkms_hsm *h, const char *name,
    enum hkms_key_type type, const unsigned char *id, size_t id_len,
    struct hkms_key_info *info, struct hkms_err *err);

/** Write a software private key into the token as a sensitive,
 *  non-extractable key with label name (key import), with the usage
 *  restrictions and the fallback of generated keys: sign only (no
 *  decrypt/unwrap/derive), not modifiable/copyable where the token allows.
 *  A fresh hkms CKA_ID. The caller still owns and frees priv. */
enum hkms_rc hkms_hsm_key_import(struct hkms_hsm *h, const char *name,
    EVP_PKEY *priv, struct hkms_key_info *info, struct hkms_err *err);

/** As hkms_hsm_key_import() with the caller's CKA_ID. */
enum hkms_rc hkms_hsm_key_import_id(struct hkms_hsm *h, const char *name,
    EVP_PKEY *priv, const unsigned char *id, size_t id_len,
    struct hkms_key_info *info, struct hkms_err *err);

/** List private keys; *out is a malloc'd array the caller frees. Objects
 *  whose attributes cannot be read are skipped; labels and ids too long
 *  for hkms_key_info are listed cut short with truncated set. */
enum hkms_rc hkms_hsm_key_list(struct hkms_hsm *h, struct hkms_key_info **out,
    size_t *n, struct hkms_err *err);

/** Find a key by name (CKA_LABEL) or "id:<hex>" (CKA_ID). */
enum hkms_rc hkms_hsm_key_find(struct hkms_hsm *h, const char *ref,
    struct hkms_key_info *info, struct hkms_err *err);

/** Destroy the key pair (and its certificate object) ref names: the
 *  private key, and the public key and certificate objects carrying both
 *  its CKA_ID and its CKA_LABEL. Objects sharing only the id or only the
 *  label (another application's) are never touched. More than one private
 *  key, public key or certificate matching is refused (key_ambiguous)
 *  before anything is destroyed. */
enum hkms_rc hkms_hsm_key_delete(struct hkms_hsm *h, const char *ref,
    struct hkms_err *err);

/** Destroy the private key, public key and certificate objects whose
 *  CKA_LABEL is name AND whose CKA_ID is id (a crashed generation's
 *  orphan). HKMS_E_NOT_FOUND when no object matches. */
enum hkms_rc hkms_hsm_key_destroy_exact(struct hkms_hsm *h, const char *name,
    const unsigned char *id, size_t id_len, struct hkms_err *err);

/** A plain software copy of the public key; the caller frees it. */
enum hkms_rc hkms_hsm_key_public(struct hkms_hsm *h, const char *ref,
    EVP_PKEY **out, struct hkms_err *err);

/** Call fn with an EVP_PKEY bound to the token key ref: signing through it
 *  runs in the token. The key is only valid inside fn. fn must be
 *  idempotent (sign a prepared TBS): when it fails because the token lost
 *  its sessions, login or object handles, the layer rebuilds its context,
 *  logs in again, finds the key again by CKA_ID and calls fn once more.
 *  Thread-safe: many threads may sign at once. */
enum hkms_rc hkms_hsm_with_key(struct hkms_hsm *h, const char *ref,
    enum hkms_rc (*fn)(EVP_PKEY *key, void *arg, struct hkms_err *err),
    void *arg, struct hkms_err *err);

/** Sign a digest (raw ECDSA as DER, or RSA PKCS#1 v1.5 with DigestInfo for
 *  md) with key ref. sig must hold *siglen bytes; set to the length used. */
enum hkms_rc hkms_hsm_sign_digest(struct hkms_hsm *h, const char *ref,
    const EVP_MD *md, const unsigned char *dgst, size_t dlen,
    unsigned char *sig, size_t *siglen, struct hkms_err *err);

/** How hkms_hsm_sign() signs (the TLS handshake's schemes). */
enum hkms_sign_scheme {
	HKMS_SIGN_ECDSA = 1,		/* in: the digest; sig: DER (r,s) */
	HKMS_SIGN_RSA_PKCS1 = 2,	/* in: the digest; PKCS#1 v1.5 with
					 * md's DigestInfo (TLS 1.2) */
	HKMS_SIGN_RSA_PSS = 3,		/* in: the digest; PSS with MGF1(md)
					 * and a salt of the digest's length
					 * (TLS 1.3 rsa_pss_rsae_*) */
};

/** Sign a handshake's digest with key ref in the token, as scheme says.
 *  sig must hold *siglen bytes; set to the length used. Rebuilds and
 *  retries like hkms_hsm_with_key(). */
enum hkms_rc hkms_hsm_sign(struct hkms_hsm *h, const char *ref,
    enum hkms_sign_scheme scheme, const EVP_MD *md, const unsigned char *in,
    size_t inlen, unsigned char *sig, size_t *siglen, struct hkms_err *err);

struct hkms_token_info {
	char label[33], manufacturer[33], model[17], serial[17];
	unsigned long slot_id;
	int initialized, logged_in;
	int pin_count_low, pin_final_try, pin_locked;
	unsigned long rebuilds;	/* contexts rebuilt since open */
};

/** The open token's info, fresh from C_GetTokenInfo. */
enum hkms_rc hkms_hsm_token_info(struct hkms_hsm *h,
    struct hkms_token_info *out, struct hkms_err *err);

/** Tokens of a module, without logging in. *out: malloc'd array. */
enum hkms_rc hkms_hsm_token_list(const struct hkms_hsm_opts *opts,
    struct hkms_token_info **out, size_t *n, struct hkms_err *err);

/** Initialise a free token slot with label, SO PIN and user PIN. */
enum hkms_rc hkms_hsm_token_init(const struct hkms_hsm_opts *opts,
    const char *label, const struct hkms_secret *so_pin,
    const struct hkms_secret *user_pin, struct hkms_err *err);

/* ---- sealing: data encrypted by a token secret key ---- */

/** The token's seal key: an AES-256 secret key (CKA_TOKEN, CKA_PRIVATE,
 *  CKA_SENSITIVE, not extractable, encrypt/decrypt only), made in the
 *  token on first use (docs/hsm.md). */
#define HKMS_SEAL_KEY_LABEL "hkms-seal"
/** Blob: version byte, 12-byte IV, ciphertext, 16-byte GCM tag. */
#define HKMS_SEAL_VERSION 1
#define HKMS_SEAL_IV_LEN 12
#define HKMS_SEAL_TAG_LEN 16
#define HKMS_SEAL_OVERHEAD (1 + HKMS_SEAL_IV_LEN + HKMS_SEAL_TAG_LEN)
#define HKMS_SEAL_MAX (64 * 1024)	/* plaintext bytes */

/** Seal len bytes (1..HKMS_SEAL_MAX) with CKM_AES_GCM under the seal key,
 *  a fresh random IV, and as additional data the version byte followed by
 *  aad (the caller binds what the blob is for and which record holds it,
 *  so a blob moved elsewhere does not unseal). Makes the seal key if the
 *  token has none (holding the token lock exclusively, so two processes
 *  make one). A token without AES-GCM or AES key generation: HKMS_E_TOKEN
 *  "token_mechanism"; nothing is ever stored unsealed. *blob (malloc'd,
 *  len + HKMS_SEAL_OVERHEAD bytes) holds no secret. */
enum hkms_rc hkms_hsm_seal(struct hkms_hsm *h, const void *plain, size_t len,
    const void *aad, size_t naad, unsigned char **blob, size_t *blob_len,
    struct hkms_err *err);

/** Open a blob of hkms_hsm_seal() with the same aad into a new secret
 *  (*out, locked memory, wiped on free). A blob that is damaged, of
 *  another version, sealed with another aad or by a seal key the token no
 *  longer has: HKMS_E_VERIFY "seal_invalid". */
enum hkms_rc hkms_hsm_unseal(struct hkms_hsm *h, const unsigned char *blob,
    size_t blob_len, const void *aad, size_t naad,
    struct hkms_secret **out, struct hkms_err *err);

#endif
