/*
 * Internals of the token layer shared by token.c and key.c.
 *
 * Locking: ctx_lock is a read/write lock around the libp11 context. Every
 * operation holds it for reading, so many threads sign at once through
 * libp11's session pool; only a rebuild after a lost token takes it for
 * writing, so no context is torn down under a running call. mu serializes
 * what libp11 0.4.12 does not protect: enumeration, login and our key cache.
 */
#ifndef HKMS_HSM_INT_H
#define HKMS_HSM_INT_H

#include <pthread.h>
#include <time.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>

#include "hkms/hsm.h"

struct key_cache {
	char label[128];
	unsigned char id[64];
	size_t id_len;
	EVP_PKEY *priv;		/* bound to the token object; never exported */
};

struct hkms_hsm {
	char *module;
	char *label;
	char *serial;
	struct hkms_secret *pin;	/* for re-login after a rebuild */

	pthread_rwlock_t ctx_lock;
	pthread_mutex_t mu;
	pthread_mutex_t obj_mu;	/* serializes create/delete of objects */

	/* the token lock across processes (flock on lock_fd, -1: none):
	 * tl_shared threads hold it shared, tl_excl one thread exclusively,
	 * tl_wait writers wait (new readers queue behind them); every process
	 * passes gate_fd (exclusive, briefly) on its way to lock_fd, so a
	 * waiting writer is not starved by overlapping readers */
	int lock_fd;
	int gate_fd;	/* <lock>.gate: taken to queue for lock_fd */
	pthread_mutex_t tl_mu;
	pthread_cond_t tl_cv;
	int tl_shared, tl_excl, tl_wait;

	/* valid while up, protected by ctx_lock */
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	PKCS11_SLOT *slot;
	CK_FUNCTION_LIST_PTR p11;
	CK_SLOT_ID slot_id;
	char tok_label[33], tok_manuf[33], tok_model[17], tok_serial[17];

	int up;			/* context usable */
	int sealed;		/* the PIN was refused: no more logins */
	int logins;		/* C_Login calls made */
	int opened;		/* a login succeeded once */
	unsigned long epoch;	/* bumped on every rebuild */
	unsigned long rebuilds;
	time_t next_try;	/* token down: no reconnect before this */
	int refresh_on_miss;	/* opts->refresh_on_miss */
	long miss_rebuild_at;	/* last rebuild for a key not found (atomic;
				 * see run_locked) */
	int backoff;

	struct key_cache *cache;	/* under mu */
	size_t ncache;
};

/* token.c */
CK_RV hsm_ckr_from_queue(void);
int hsm_ckr_recoverable(CK_RV rv);
/* CKRs of a token that is down or gone: reported as token_unavailable */
int hsm_ckr_token_down(CK_RV rv);
const char *hsm_ckr_name(CK_RV rv);
enum hkms_rc hsm_rebuild(struct hkms_hsm *h, unsigned long seen_epoch,
    struct hkms_err *err);
enum hkms_rc hsm_session(struct hkms_hsm *h, CK_SESSION_HANDLE *s,
    CK_RV *rv, struct hkms_err *err);
void hsm_cache_clear(struct hkms_hsm *h);

/* Run fn under the read lock; when it fails with a recoverable CK_RV (set
 * in *rv by fn) and retry is set, rebuild the context and run it once
 * more. */
typedef enum hkms_rc (*hsm_op_fn)(struct hkms_hsm *h, void *arg, CK_RV *rv,
    struct hkms_err *err);
enum hkms_rc hsm_run(struct hkms_hsm *h, hsm_op_fn fn, void *arg, int retry,
    struct hkms_err *err);
/* hsm_run holding the token lock exclusively: for calls that create or
 * destroy token objects */
enum hkms_rc hsm_run_excl(struct hkms_hsm *h, hsm_op_fn fn, void *arg,
    int retry, struct hkms_err *err);
void hsm_token_lock(struct hkms_hsm *h, int excl);
void hsm_token_unlock(struct hkms_hsm *h, int excl);

#endif
