/*
 * Sealing: small secrets (ACME EAB MAC keys, later TOTP seeds) encrypted
 * with CKM_AES_GCM by an AES-256 secret key that never leaves the token.
 *
 * Blob: version (1 byte) | IV (12 random bytes) | ciphertext | tag (16).
 * The GCM additional data is the version byte followed by the caller's
 * aad, which names the purpose and the record; a blob copied into another
 * record, or with a byte changed, does not open.
 *
 * The seal key (label HKMS_SEAL_KEY_LABEL) is made on first use: looked
 * for under the shared token lock, and if missing, looked for again and
 * generated under the exclusive one, so two processes sharing the token
 * lock make one key. Should a token still hold two (made by processes
 * without a shared lock), sealing uses the first found and unsealing tries
 * each: no blob is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsm_int.h"

#define SEAL_MAXKEYS 8

static CK_BBOOL s_yes = CK_TRUE, s_no = CK_FALSE;

static CK_RV
find_seal_keys(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *objs,
    CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, (void *)HKMS_SEAL_KEY_LABEL,
		    sizeof(HKMS_SEAL_KEY_LABEL) - 1 },
	};
	CK_RV rv;

	*n = 0;
	if ((rv = h->p11->C_FindObjectsInit(s, t, 3)) != CKR_OK)
		return rv;
	rv = h->p11->C_FindObjects(s, objs, SEAL_MAXKEYS, n);
	h->p11->C_FindObjectsFinal(s);
	return rv;
}

static int
test_no_gcm(void)
{
#ifdef HKMS_TEST_HOOKS
	/* test builds: act as a token without AES-GCM (tests/e2e) */
	const char *v = getenv("HKMS_TEST_NO_AES_GCM");

	return v != NULL && strcmp(v, "1") == 0;
#else
	return 0;
#endif
}

/* The token can do mech with flags (CKF_ENCRYPT ...), else token_mechanism. */
static enum hkms_rc
need_mech(struct hkms_hsm *h, CK_MECHANISM_TYPE mech, CK_FLAGS flags,
    const char *what, CK_RV *rv, struct hkms_err *err)
{
	CK_MECHANISM_INFO mi;

	memset(&mi, 0, sizeof(mi));
	*rv = test_no_gcm() ? CKR_MECHANISM_INVALID :
	    h->p11->C_GetMechanismInfo(h->slot_id, mech, &mi);
	if (*rv != CKR_OK && hsm_ckr_recoverable(*rv))
		return hkms_err_setc(err, HKMS_E_TOKEN_DOWN,
		    "token_unavailable", "cannot read the mechanisms of token "
		    "'%s': %s", h->tok_label, hsm_ckr_name(*rv));
	if (*rv != CKR_OK || (mi.flags & flags) != flags ||
	    (mi.ulMaxKeySize != 0 && mi.ulMaxKeySize < 32)) {
		if (*rv == CKR_OK)
			*rv = CKR_MECHANISM_INVALID;
		return hkms_err_setc(err, HKMS_E_TOKEN, "token_mechanism",
		    "token '%s' cannot %s (needed to seal data; nothing is "
		    "stored unsealed)", h->tok_label, what);
	}
	return HKMS_OK;
}

static enum hkms_rc
need_gcm(struct hkms_hsm *h, CK_RV *rv, struct hkms_err *err)
{
	return need_mech(h, CKM_AES_GCM, CKF_ENCRYPT | CKF_DECRYPT,
	    "encrypt with AES-GCM", rv, err);
}

/* Under the exclusive token lock: make the seal key unless one exists. */
static enum hkms_rc
create_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE objs[SEAL_MAXKEYS], k = CK_INVALID_HANDLE;
	CK_ULONG n = 0, len = 32;
	CK_MECHANISM mech = { CKM_AES_KEY_GEN, NULL, 0 };
	unsigned char id[HKMS_KEY_ID_LEN];
	CK_ATTRIBUTE t[] = {
		{ CKA_TOKEN, &s_yes, sizeof(s_yes) },
		{ CKA_PRIVATE, &s_yes, sizeof(s_yes) },
		{ CKA_SENSITIVE, &s_yes, sizeof(s_yes) },
		{ CKA_EXTRACTABLE, &s_no, sizeof(s_no) },
		{ CKA_ENCRYPT, &s_yes, sizeof(s_yes) },
		{ CKA_DECRYPT, &s_yes, sizeof(s_yes) },
		{ CKA_SIGN, &s_no, sizeof(s_no) },
		{ CKA_VERIFY, &s_no, sizeof(s_no) },
		{ CKA_WRAP, &s_no, sizeof(s_no) },
		{ CKA_UNWRAP, &s_no, sizeof(s_no) },
		{ CKA_DERIVE, &s_no, sizeof(s_no) },
		{ CKA_VALUE_LEN, &len, sizeof(len) },
		{ CKA_LABEL, (void *)HKMS_SEAL_KEY_LABEL,
		    sizeof(HKMS_SEAL_KEY_LABEL) - 1 },
		{ CKA_ID, id, sizeof(id) },
	};
	enum hkms_rc rc;

	(void)arg;
	if ((rc = need_gcm(h, rv, err)) != HKMS_OK ||
	    (rc = need_mech(h, CKM_AES_KEY_GEN, CKF_GENERATE,
	    "generate AES-256 keys", rv, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_hsm_key_id_new(id, err)) != HKMS_OK)
		return rc;
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	if ((*rv = find_seal_keys(h, s, objs, &n)) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_find",
		    "cannot search token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
		goto out;
	}
	if (n > 0) {		/* another process made it meanwhile */
		rc = HKMS_OK;
		goto out;
	}
	*rv = h->p11->C_GenerateKey(s, &mech, t, sizeof(t) / sizeof(t[0]),
	    &k);
	if (*rv != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "keygen_failed",
		    "cannot generate the seal key in token '%s': %s",
		    h->tok_label, hsm_ckr_name(*rv));
		goto out;
	}
	rc = HKMS_OK;
out:
	h->p11->C_CloseSession(s);
	return rc;
}

struct seal_arg {
	const unsigned char *in;
	size_t in_len;
	const unsigned char *aad;	/* version byte + caller's aad */
	size_t naad;
	unsigned char *out;		/* seal: the blob; unseal: plaintext */
	size_t out_len;
	int unseal;
};

static enum hkms_rc
gcm_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct seal_arg *a = arg;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE objs[SEAL_MAXKEYS];
	CK_ULONG n = 0, i, olen;
	CK_GCM_PARAMS gp;
	CK_MECHANISM mech = { CKM_AES_GCM, &gp, sizeof(gp) };
	enum hkms_rc rc;

	if ((rc = need_gcm(h, rv, err)) != HKMS_OK)
		return rc;
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	if ((*rv = find_seal_keys(h, s, objs, &n)) != CKR_OK) {
		rc = hkms_err_setc(err, hsm_ckr_token_down(*rv) ?
		    HKMS_E_TOKEN_DOWN : HKMS_E_TOKEN, hsm_ckr_token_down(*rv) ?
		    "token_unavailable" : "token_find", "cannot search token "
		    "'%s': %s", h->tok_label, hsm_ckr_name(*rv));
		goto out;
	}
	if (n == 0) {
		/* seal: the caller makes the key; unseal: it is gone */
		rc = a->unseal ? hkms_err_setc(err, HKMS_E_VERIFY,
		    "seal_invalid", "token '%s' has no seal key '%s'",
		    h->tok_label, HKMS_SEAL_KEY_LABEL) :
		    hkms_err_set(err, HKMS_E_NOT_FOUND, "no seal key");
		goto out;
	}
	memset(&gp, 0, sizeof(gp));
	gp.ulIvBits = HKMS_SEAL_IV_LEN * 8;
	gp.ulIvLen = HKMS_SEAL_IV_LEN;
	gp.pAAD = (CK_BYTE_PTR)a->aad;
	gp.ulAADLen = a->naad;
	gp.ulTagBits = HKMS_SEAL_TAG_LEN * 8;
	if (!a->unseal) {
		a->out[0] = HKMS_SEAL_VERSION;
		if (RAND_bytes(a->out + 1, HKMS_SEAL_IV_LEN) != 1) {
			rc = hkms_err_crypto(err, "cannot draw an IV");
			goto out;
		}
		gp.pIv = a->out + 1;
		olen = a->in_len + HKMS_SEAL_TAG_LEN;
		if ((*rv = h->p11->C_EncryptInit(s, &mech, objs[0])) ==
		    CKR_OK)
			*rv = h->p11->C_Encrypt(s, (CK_BYTE_PTR)a->in,
			    a->in_len, a->out + 1 + HKMS_SEAL_IV_LEN, &olen);
		if (*rv != CKR_OK || olen != a->in_len + HKMS_SEAL_TAG_LEN) {
			/* a token listing AES-GCM may still refuse our
			 * parameters: that is a missing mechanism too */
			int mech_rv = *rv == CKR_MECHANISM_INVALID ||
			    *rv == CKR_MECHANISM_PARAM_INVALID;

			rc = hkms_err_setc(err, hsm_ckr_token_down(*rv) ?
			    HKMS_E_TOKEN_DOWN : HKMS_E_TOKEN,
			    hsm_ckr_token_down(*rv) ? "token_unavailable" :
			    mech_rv ? "token_mechanism" : "token_key",
			    "cannot seal with token '%s': %s", h->tok_label,
			    hsm_ckr_name(*rv));
			goto out;
		}
		a->out_len = 1 + HKMS_SEAL_IV_LEN + olen;
		rc = HKMS_OK;
		goto out;
	}
	gp.pIv = (CK_BYTE_PTR)a->in + 1;
	rc = hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
	    "the sealed data does not open with the seal key of token '%s' "
	    "(damaged, or sealed for another record)", h->tok_label);
	for (i = 0; i < n; i++) {
		olen = a->in_len;	/* room for the ciphertext and tag */
		if ((*rv = h->p11->C_DecryptInit(s, &mech, objs[i])) !=
		    CKR_OK) {
			if (hsm_ckr_token_down(*rv))
				break;
			continue;
		}
		*rv = h->p11->C_Decrypt(s, (CK_BYTE_PTR)a->in + 1 +
		    HKMS_SEAL_IV_LEN, a->in_len - 1 - HKMS_SEAL_IV_LEN,
		    a->out, &olen);
		if (*rv == CKR_OK) {
			a->out_len = olen;
			rc = HKMS_OK;
			break;
		}
		OPENSSL_cleanse(a->out, a->in_len);
		if (hsm_ckr_token_down(*rv))
			break;
	}
	if (rc != HKMS_OK && hsm_ckr_token_down(*rv))
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
		    "cannot unseal with token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
	else if (rc != HKMS_OK)
		*rv = CKR_OK;	/* a bad blob: nothing to recover */
out:
	h->p11->C_CloseSession(s);
	return rc;
}

static unsigned char *
aad_build(const void *aad, size_t naad, size_t *len)
{
	unsigned char *p = malloc(naad + 1);

	if (p == NULL)
		return NULL;
	p[0] = HKMS_SEAL_VERSION;
	if (naad > 0)
		memcpy(p + 1, aad, naad);
	*len = naad + 1;
	return p;
}

enum hkms_rc
hkms_hsm_seal(struct hkms_hsm *h, const void *plain, size_t len,
    const void *aad, size_t naad, unsigned char **blob, size_t *blob_len,
    struct hkms_err *err)
{
	struct seal_arg a;
	enum hkms_rc rc;

	if (h == NULL || plain == NULL || len == 0 || len > HKMS_SEAL_MAX ||
	    (aad == NULL && naad > 0) || blob == NULL || blob_len == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	memset(&a, 0, sizeof(a));
	a.in = plain;
	a.in_len = len;
	if ((a.aad = aad_build(aad, naad, &a.naad)) == NULL ||
	    (a.out = malloc(len + HKMS_SEAL_OVERHEAD)) == NULL) {
		free((void *)a.aad);
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	}
	rc = hsm_run(h, gcm_op, &a, 1, err);
	if (rc == HKMS_E_NOT_FOUND) {
		pthread_mutex_lock(&h->obj_mu);
		rc = hsm_run_excl(h, create_op, NULL, 0, err);
		pthread_mutex_unlock(&h->obj_mu);
		if (rc == HKMS_OK)
			rc = hsm_run(h, gcm_op, &a, 1, err);
		if (rc == HKMS_E_NOT_FOUND)
			rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
			    "token '%s' does not show the seal key it made",
			    h->tok_label);
	}
	free((void *)a.aad);
	if (rc != HKMS_OK) {
		free(a.out);
		return rc;
	}
	*blob = a.out;
	*blob_len = a.out_len;
	return HKMS_OK;
}

enum hkms_rc
hkms_hsm_unseal(struct hkms_hsm *h, const unsigned char *blob,
    size_t blob_len, const void *aad, size_t naad, struct hkms_secret **out,
    struct hkms_err *err)
{
	struct hkms_secret *sec = NULL;
	struct seal_arg a;
	enum hkms_rc rc;

	if (h == NULL || (blob == NULL && blob_len > 0) ||
	    (aad == NULL && naad > 0) || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (blob_len <= HKMS_SEAL_OVERHEAD ||
	    blob_len > HKMS_SEAL_MAX + HKMS_SEAL_OVERHEAD)
		return hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
		    "the sealed data is %zu bytes: not a sealed blob",
		    blob_len);
	if (blob[0] != HKMS_SEAL_VERSION)
		return hkms_err_setc(err, HKMS_E_VERIFY, "seal_invalid",
		    "the sealed data has version %u; this hkms reads %u",
		    (unsigned)blob[0], (unsigned)HKMS_SEAL_VERSION);
	memset(&a, 0, sizeof(a));
	a.unseal = 1;
	a.in = blob;
	a.in_len = blob_len;
	if ((a.aad = aad_build(aad, naad, &a.naad)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	/* the token writes the plaintext straight into locked memory */
	if ((rc = hkms_secret_alloc(blob_len, &sec, &a.out, err)) !=
	    HKMS_OK) {
		free((void *)a.aad);
		return rc;
	}
	rc = hsm_run(h, gcm_op, &a, 1, err);
	free((void *)a.aad);
	if (rc != HKMS_OK) {
		hkms_secret_free(sec);
		return rc;
	}
	hkms_secret_set_len(sec, a.out_len);
	*out = sec;
	return HKMS_OK;
}
