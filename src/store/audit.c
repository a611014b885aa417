/*
 * The audit log: <data>/audit.log, append-only JSON lines chained by hash.
 *
 * Each line is the canonical record (compact JSON, keys sorted, without
 * "hash") with ,"hash":"<hex>"} spliced in before the closing brace, where
 * hash = SHA-256(prev ‖ canonical record) and prev is the previous line's
 * hash (64 zeros for seq 1). Verification hashes the exact bytes of the
 * line, so it never depends on re-serializing JSON.
 *
 * Appends take <data>/.audit.lock (a leaf lock: callers may hold the data
 * lock, never the reverse), write the line with one O_APPEND write(),
 * fdatasync() and then replace <data>/audit.head ({"seq","hash"})
 * atomically, so a truncated tail shows as a head ahead of the log. A
 * crash mid-write leaves an unterminated last line; the next append cuts
 * it off and records an "audit.recover" entry saying how many bytes went.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hkms/log.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "store_int.h"

#define HASH_HEX 64
#define MAX_LINE (64 * 1024)
#define HASH_SUFFIX_LEN (sizeof(",\"hash\":\"\"}") - 1 + HASH_HEX)

static const char zero_hash[HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* hex SHA-256(prev ‖ body) */
static void
chain_hash(const char *prev, const char *body, size_t len,
    char out[HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, prev, strlen(prev)) ||
	    !EVP_DigestUpdate(ctx, body, len) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen))
		memset(md, 0, sizeof(md));	/* never matches a real chain */
	EVP_MD_CTX_free(ctx);
	hkms_hex(md, 32, 0, out);
}

static int
is_hex64(const char *s)
{
	int i;

	for (i = 0; i < HASH_HEX; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

/*
 * Split a line (without '\n') into its canonical body, written to body
 * (line minus the hash member, '}' re-added), and the hash. 0 if the line
 * does not end in ,"hash":"<64 hex>"}.
 */
static int
split_line(const char *line, size_t len, char *body, char hash[HASH_HEX + 1])
{
	const char *suf;

	if (len < HASH_SUFFIX_LEN + 2)
		return 0;
	suf = line + len - HASH_SUFFIX_LEN;
	if (strncmp(suf, ",\"hash\":\"", 9) != 0 || !is_hex64(suf + 9) ||
	    strcmp(suf + 9 + HASH_HEX, "\"}") != 0)
		return 0;
	memcpy(hash, suf + 9, HASH_HEX);
	hash[HASH_HEX] = '\0';
	memcpy(body, line, (size_t)(suf - line));
	body[suf - line] = '}';
	body[suf - line + 1] = '\0';
	return 1;
}

/* Replace values under secret-looking keys, recursively (in a copy):
 * the log module's redaction, shared so log lines and audit lines hide
 * the same fields. */
static void
redact(json_t *j)
{
	hkms_log_redact(j);
}

/* 1 if redact() would change j: a secret-looking key anywhere in it
 * (the same walk as hkms_log_redact). Most details have none and are
 * then used as they are, without a copy. */
static int
needs_redact(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			if (hkms_log_secret_key(k) || needs_redact(v))
				return 1;
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (needs_redact(v))
				return 1;
	}
	return 0;
}

static enum hkms_rc
audit_path(struct hkms_store *st, const char *file, char **out,
    struct hkms_err *err)
{
	if ((*out = hkms_store_join(st->dir, file, NULL)) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	return HKMS_OK;
}

/* ---------------------------------------------------------------- */
/* the audit key (set by the layer that has the token)               */
/* ---------------------------------------------------------------- */

void
hkms_store_set_audit_key(struct hkms_store *st,
    const struct hkms_audit_key *key)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	free(st->akey_spki);
	st->akey_spki = NULL;
	st->akey_len = 0;
	st->akey_state = AKEY_UNKNOWN;
	st->akey_set = key != NULL;
	if (key != NULL)
		st->akey = *key;
	pthread_mutex_unlock(&st->mu);
}

enum hkms_rc
hkms_store_pin_audit_key(struct hkms_store *st, const char *sha256_hex,
    struct hkms_err *err)
{
	if (st == NULL || sha256_hex == NULL || strlen(sha256_hex) != HASH_HEX ||
	    !is_hex64(sha256_hex))
		return hkms_err_set(err, HKMS_E_INVALID, "audit key pin must be "
		    "64 lower-case hex digits (SHA-256 of the public key)");
	pthread_mutex_lock(&st->mu);
	memcpy(st->akey_pin, sha256_hex, HASH_HEX + 1);
	pthread_mutex_unlock(&st->mu);
	return HKMS_OK;
}

static void
sha256_hex(const void *data, size_t len, char out[HASH_HEX + 1])
{
	unsigned char md[32];
	unsigned mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
		memset(md, 0, sizeof(md));
	hkms_hex(md, 32, 0, out);
}

/*
 * Ask the provider for the audit public key once per store object: the
 * state is AKEY_HAVE (st->akey_spki), AKEY_NONE (no provider, or the token
 * has no audit key) or AKEY_ERROR (the provider failed; st->akey_err; a
 * token that was down or not logged in is asked again on the next call).
 * Called without the audit lock: the provider may open the token, and a
 * failed login is audited (an append of its own).
 */
static int
akey_resolve(struct hkms_store *st)
{
	struct hkms_audit_key k;
	struct hkms_err e = { 0 };
	unsigned char *spki = NULL;
	size_t len = 0;
	enum hkms_rc rc;
	int state;

	pthread_mutex_lock(&st->mu);
	if (st->akey_state != AKEY_UNKNOWN || !st->akey_set) {
		state = st->akey_set ? st->akey_state : AKEY_NONE;
		pthread_mutex_unlock(&st->mu);
		return state;
	}
	k = st->akey;
	rc = k.get_public(k.arg, &spki, &len, &e);
	if (rc == HKMS_OK && spki != NULL && len > 0) {
		st->akey_spki = spki;
		st->akey_len = len;
		sha256_hex(spki, len, st->akey_fpr);
		st->akey_state = AKEY_HAVE;
		if (st->akey_pin[0] != '\0' &&
		    strcmp(st->akey_pin, st->akey_fpr) != 0) {
			hkms_err_setc(&st->akey_err, HKMS_E_VERIFY,
			    "audit_chain", "the token's audit key (sha256 %s) "
			    "is not the one pinned in the configuration",
			    st->akey_fpr);
			st->akey_state = AKEY_ERROR;
		}
		spki = NULL;	/* transferred */
	} else if (rc == HKMS_E_NOT_FOUND) {
		st->akey_state = AKEY_NONE;
	} else {
		st->akey_err = e;
		st->akey_state = AKEY_ERROR;
	}
	state = st->akey_state;
	/* a token that is down, or not logged in yet (a sealed server, a
	 * refused PIN before the right one), is asked again next time: the
	 * provider remembers its own failures, and a server recovers */
	if (state == AKEY_ERROR && (rc == HKMS_E_TOKEN_DOWN ||
	    rc == HKMS_E_TOKEN || rc == HKMS_E_PIN))
		st->akey_state = AKEY_UNKNOWN;
	pthread_mutex_unlock(&st->mu);
	free(spki);
	return state;
}

/* ---------------------------------------------------------------- */
/* audit.head                                                        */
/* ---------------------------------------------------------------- */

struct head {
	long long seq;			/* -1: no audit.head */
	char hash[HASH_HEX + 1];
	long long off;			/* log bytes up to seq; -1: old head */
	int is_signed;
	char fpr[HASH_HEX + 1];		/* key_sha256 */
	unsigned char pub[1024];	/* SubjectPublicKeyInfo DER */
	size_t publen;
	unsigned char sig[1024];
	size_t siglen;
};

#define HEAD_TBS_MAX 256

/*
 * The head this store object last wrote: its bytes and what read_head()
 * makes of them. An append (read_head_c, under the exclusive audit lock)
 * still reads audit.head every time, but a
 * file holding exactly these bytes needs no parse (same bytes, same
 * head); anything else — another writer's head, a head put back by hand
 * — is parsed and checked as before. Under the audit lock, like every
 * head write.
 */
#define HEAD_RAW_MAX 4096

struct head_cache {
	int valid;		/* raw/h are the head in place */
	size_t len, plen;
	char raw[HEAD_RAW_MAX];
	char pending[HEAD_RAW_MAX];	/* written by head_begin, not yet
					 * in place */
	struct head h;
};

static struct head_cache *
head_cache(struct hkms_store *st)
{
	if (st->head_cache == NULL)
		st->head_cache = calloc(1, sizeof(struct head_cache));
	return st->head_cache;
}

static int
head_tbs(long long seq, const char *hash, long long off, const char *fpr,
    unsigned char dgst[32])
{
	char tbs[HEAD_TBS_MAX];
	unsigned mdlen = 0;
	int n;

	n = snprintf(tbs, sizeof(tbs), "hkms-audit-head-v1\nseq=%lld\n"
	    "hash=%s\noff=%lld\nkey=%s\n", seq, hash, off, fpr);
	return n > 0 && (size_t)n < sizeof(tbs) &&
	    EVP_Digest(tbs, (size_t)n, dgst, &mdlen, EVP_sha256(), NULL);
}

/* 1 if sig verifies over the head with the key spki. */
static int
head_sig_ok(const struct head *h, const unsigned char *spki, size_t len)
{
	const unsigned char *p = spki;
	unsigned char dgst[32];
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ok = 0;

	if (!head_tbs(h->seq, h->hash, h->off, h->fpr, dgst) ||
	    (pk = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0)
		goto out;
	ok = EVP_PKEY_verify(ctx, h->sig, h->siglen, dgst, sizeof(dgst)) == 1;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ok;
}

static int
get_hexbin(json_t *j, const char *k, unsigned char *out, size_t cap,
    size_t *len)
{
	const char *s = json_string_value(json_object_get(j, k));

	return s != NULL && strlen(s) <= 2 * cap &&
	    hkms_unhex(s, out, cap, len, NULL) == HKMS_OK;
}

/* Read audit.head: h->seq = -1 when it does not exist. cached: the
 * caller holds the audit lock exclusively (no head write can run
 * meanwhile), so the kept bytes of the last head may be compared. */
static enum hkms_rc
read_head_c(struct hkms_store *st, struct head *h, int cached,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	const struct head_cache *c;
	unsigned char *buf = NULL;
	char *path = NULL;
	json_t *j = NULL, *o;
	const char *hs, *f;
	size_t len;

	memset(h, 0, sizeof(*h));
	h->seq = -1;
	h->off = -1;
	memcpy(h->hash, zero_hash, HASH_HEX + 1);
	if ((rc = audit_path(st, "audit.head", &path, err)) != HKMS_OK)
		goto out;
	rc = hkms_store_read_file(path, 8192, &buf, &len, err);
	if (rc == HKMS_E_NOT_FOUND) {
		rc = HKMS_OK;
		goto out;
	}
	if (rc != HKMS_OK)
		goto out;
	c = cached ? st->head_cache : NULL;
	if (c != NULL && c->valid && len == c->len &&
	    memcmp(buf, c->raw, len) == 0) {
		*h = c->h;	/* the bytes this object wrote last */
		goto out;
	}
	j = json_loadb((const char *)buf, len, 0, NULL);
	hs = json_string_value(json_object_get(j, "hash"));
	o = json_object_get(j, "off");
	if (!json_is_integer(json_object_get(j, "seq")) || hs == NULL ||
	    strlen(hs) != HASH_HEX || !is_hex64(hs) ||
	    json_integer_value(json_object_get(j, "seq")) < 0 ||
	    json_integer_value(json_object_get(j, "seq")) > LLONG_MAX / 2 ||
	    (o != NULL && (!json_is_integer(o) || json_integer_value(o) < 0)))
		goto damaged;
	h->seq = json_integer_value(json_object_get(j, "seq"));
	memcpy(h->hash, hs, HASH_HEX + 1);
	h->off = o != NULL ? json_integer_value(o) : -1;
	if (json_object_get(j, "sig") != NULL) {
		f = json_string_value(json_object_get(j, "key_sha256"));
		if (h->off < 0 || f == NULL || strlen(f) != HASH_HEX ||
		    !get_hexbin(j, "sig", h->sig, sizeof(h->sig), &h->siglen) ||
		    !get_hexbin(j, "pub", h->pub, sizeof(h->pub), &h->publen))
			goto damaged;
		memcpy(h->fpr, f, HASH_HEX + 1);
		h->is_signed = 1;
	}
	rc = HKMS_OK;
	goto out;
damaged:
	rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
	    "audit.head is damaged");
out:
	json_decref(j);
	free(buf);
	free(path);
	return rc;
}

static enum hkms_rc
read_head(struct hkms_store *st, struct head *h, struct hkms_err *err)
{
	return read_head_c(st, h, 0, err);
}

/*
 * Check a signed head against the key we trust: the token's (st->akey_*),
 * else a configured pin of its fingerprint (then the head's own copy of
 * the public key is used once its fingerprint matches the pin). 1 = good;
 * 0 with why set.
 */
static int
head_trusted(struct hkms_store *st, const struct head *h, int state,
    const char **why)
{
	char fpr[HASH_HEX + 1];

	if (state == AKEY_HAVE) {
		if (strcmp(h->fpr, st->akey_fpr) != 0) {
			*why = "audit.head is signed by another key than the "
			    "token's audit key (head forged)";
			return 0;
		}
		if (!head_sig_ok(h, st->akey_spki, st->akey_len)) {
			*why = "audit.head signature does not verify (log cut "
			    "or rewritten and the head re-sealed without the "
			    "token)";
			return 0;
		}
		return 1;
	}
	if (st->akey_pin[0] != '\0') {
		sha256_hex(h->pub, h->publen, fpr);
		if (strcmp(fpr, st->akey_pin) != 0 ||
		    strcmp(h->fpr, st->akey_pin) != 0) {
			*why = "audit.head is signed by another key than the "
			    "pinned audit key (head forged)";
			return 0;
		}
		if (!head_sig_ok(h, h->pub, h->publen)) {
			*why = "audit.head signature does not verify (log cut "
			    "or rewritten and the head re-sealed without the "
			    "token)";
			return 0;
		}
		return 1;
	}
	*why = state == AKEY_ERROR ? st->akey_err.detail :
	    "audit.head is signed but the audit key is not available to "
	    "check it (open the token or set [audit] key_sha256)";
	return 0;
}

/* The last signed head this process wrote or verified with the token's
 * key (under the audit lock): an append that finds exactly that head
 * (same seq, hash, off, key and signature bytes) needs no second
 * signature check. Any other head is checked in full. */
static int
head_cached(struct hkms_store *st, const struct head *h)
{
	const struct head *c = st->trusted_head;

	return c != NULL && h->is_signed && c->seq == h->seq &&
	    c->off == h->off && strcmp(c->hash, h->hash) == 0 &&
	    strcmp(c->fpr, h->fpr) == 0 && c->siglen == h->siglen &&
	    memcmp(c->sig, h->sig, h->siglen) == 0 &&
	    strcmp(h->fpr, st->akey_fpr) == 0;
}

static void
head_remember(struct hkms_store *st, const struct head *h)
{
	if (st->trusted_head == NULL &&
	    (st->trusted_head = malloc(sizeof(struct head))) == NULL)
		return;
	memcpy(st->trusted_head, h, sizeof(struct head));
}

/* Write the new audit.head to a temp file (signed with the audit key when
 * sign is set); head_finish() puts it in place. */
static enum hkms_rc
head_begin(struct hkms_store *st, long long seq, const char *hash,
    long long off, int sign, struct hkms_atomic *a, struct head *w,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	unsigned char dgst[32], sig[1024];
	char *path = NULL, *buf = NULL, *sighex = NULL, *pubhex = NULL;
	char *spare = NULL;
	struct head_cache *c;
	size_t siglen = sizeof(sig);
	int n;

	memset(w, 0, sizeof(*w));
	a->fd = -1;
	a->tmp[0] = '\0';
	a->spare = 0;
	if ((rc = audit_path(st, "audit.head", &path, err)) != HKMS_OK)
		return rc;
	if (sign) {
		if (!head_tbs(seq, hash, off, st->akey_fpr, dgst)) {
			rc = hkms_err_set(err, HKMS_E_CRYPTO, "cannot hash "
			    "audit head");
			goto out;
		}
		if ((rc = st->akey.sign(st->akey.arg, dgst, sig, &siglen,
		    err)) != HKMS_OK)
			goto out;
		if ((sighex = malloc(2 * siglen + 1)) == NULL ||
		    (pubhex = malloc(2 * st->akey_len + 1)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		hkms_hex(sig, siglen, 0, sighex);
		hkms_hex(st->akey_spki, st->akey_len, 0, pubhex);
		n = asprintf(&buf, "{\"seq\":%lld,\"hash\":\"%s\",\"off\":%lld,"
		    "\"key_sha256\":\"%s\",\"pub\":\"%s\",\"sig\":\"%s\"}\n",
		    seq, hash, off, st->akey_fpr, pubhex, sighex);
		if (siglen <= sizeof(w->sig)) {
			w->seq = seq;
			w->off = off;
			w->is_signed = 1;
			snprintf(w->hash, sizeof(w->hash), "%s", hash);
			memcpy(w->fpr, st->akey_fpr, sizeof(w->fpr));
			memcpy(w->sig, sig, siglen);
			w->siglen = siglen;
			if (st->akey_len <= sizeof(w->pub)) {
				memcpy(w->pub, st->akey_spki, st->akey_len);
				w->publen = st->akey_len;
			} else {
				w->is_signed = 0;	/* not kept */
			}
		}
	} else {
		n = asprintf(&buf, "{\"seq\":%lld,\"hash\":\"%s\",\"off\":%lld}"
		    "\n", seq, hash, off);
	}
	if (n < 0) {
		buf = NULL;
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* written into audit.head.spare and exchanged with audit.head
	 * (atomic.c): the head changes once per batch, and a new temp file
	 * each time freed an inode each time */
	if ((rc = audit_path(st, "audit.head.spare", &spare, err)) != HKMS_OK)
		goto out;
	if ((c = head_cache(st)) != NULL) {
		c->plen = 0;
		if (w->is_signed && (size_t)n <= sizeof(c->pending)) {
			memcpy(c->pending, buf, (size_t)n);
			c->plen = (size_t)n;
		}
	}
	rc = hkms_store_atomic_begin_spare(path, spare, buf, (size_t)n, 0600,
	    a, err);
out:
	free(buf);
	free(sighex);
	free(pubhex);
	free(spare);
	free(path);
	return rc;
}

static enum hkms_rc
head_finish(struct hkms_store *st, struct hkms_atomic *a,
    const struct head *w, int flags, struct hkms_err *err)
{
	enum hkms_rc rc = hkms_store_atomic_finish(a, flags, err);
	struct head_cache *c = st->head_cache;

	if (rc == HKMS_OK && w->is_signed)
		head_remember(st, w);
	/* the bytes now in audit.head, and their parse (a failed finish
	 * may have put them there or not: nothing is kept) */
	if (c != NULL) {
		c->valid = rc == HKMS_OK && w->is_signed && c->plen > 0;
		if (c->valid) {
			memcpy(c->raw, c->pending, c->plen);
			c->len = c->plen;
			c->h = *w;
		}
		c->plen = 0;
	}
	return rc;
}

/* Replace audit.head; signed with the audit key when sign is set. */
static enum hkms_rc
write_head(struct hkms_store *st, long long seq, const char *hash,
    long long off, int sign, struct hkms_err *err)
{
	struct hkms_atomic a;
	struct head w;
	enum hkms_rc rc;

	if ((rc = head_begin(st, seq, hash, off, sign, &a, &w, err)) !=
	    HKMS_OK)
		return rc;
	return head_finish(st, &a, &w, 0, err);
}

/* Take .audit.lock: exclusive for appends, shared for verify. A shared
 * lock on a store we cannot write is skipped (-2: no lock, go on). */
static int
open_audit_lock(struct hkms_store *st, int exclusive, struct hkms_err *err)
{
	enum hkms_rc rc;
	char *path = NULL;
	int fd;

	if (audit_path(st, ".audit.lock", &path, err) != HKMS_OK)
		return -1;
	/* store check creates nothing: the lock file if it is there */
	rc = st->check_only && !exclusive ?
	    hkms_store_open_file(path, O_RDONLY, 0, &fd, err) :
	    hkms_store_open_file(path, O_RDWR | O_CREAT, 0600, &fd, err);
	if (rc != HKMS_OK && rc != HKMS_E_DENIED && !exclusive)
		rc = hkms_store_open_file(path, O_RDONLY, 0, &fd, err);
	if (rc != HKMS_OK) {
		free(path);
		/* a shared lock that cannot be had (read-only dir) is no
		 * lock; a link is refused either way */
		return !exclusive && rc != HKMS_E_DENIED ? -2 : -1;
	}
	/* a new open file description per call: excludes threads too */
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
		if (errno == EINTR)
			continue;
		hkms_err_set(err, HKMS_E_IO, "cannot lock '%s': %s", path,
		    strerror(errno));
		close(fd);
		fd = -1;
		break;
	}
	free(path);
	return fd;
}

int
hkms_audit_lock(struct hkms_store *st, struct hkms_err *err)
{
	return open_audit_lock(st, 1, err);
}

enum hkms_rc
hkms_audit_init(struct hkms_store *st, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *logp = NULL;
	struct head h;
	struct stat sb;
	int lk;

	if ((lk = open_audit_lock(st, 1, err)) < 0)
		return HKMS_E_IO;
	if ((rc = read_head(st, &h, err)) != HKMS_OK)
		goto out;
	if (h.seq >= 0) {
		rc = HKMS_OK;
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	/* a log without a head is left for verify to report */
	if (lstat(logp, &sb) == 0) {
		rc = HKMS_OK;
		goto out;
	}
	rc = write_head(st, 0, zero_hash, 0, 0, err);
out:
	free(logp);
	close(lk);
	return rc;
}

/* ---------------------------------------------------------------- */
/* reading the log                                                   */
/* ---------------------------------------------------------------- */

static enum hkms_rc
pread_all(int fd, char *buf, size_t n, off_t off, struct hkms_err *err)
{
	size_t i;
	ssize_t r;

	for (i = 0; i < n; i += (size_t)r) {
		r = pread(fd, buf + i, n - i, off + (off_t)i);
		if (r < 0 && errno == EINTR) {
			r = 0;
			continue;
		}
		if (r <= 0)
			return hkms_err_set(err, HKMS_E_IO, "cannot read audit "
			    "log: %s", r < 0 ? strerror(errno) : "short read");
	}
	return HKMS_OK;
}

/*
 * The last complete line of the log's first size bytes: *keep = offset
 * just after it (torn bytes beyond it are to be cut), *start = its first
 * byte, and its seq, hash and prev (0, zeros and *start = 0 when there is
 * none).
 */
/* read_tail_win: the window held no complete line; try a larger one */
#define TAIL_AGAIN ((enum hkms_rc)1)

static enum hkms_rc read_tail_win(int fd, off_t size, size_t win,
    off_t *keep, off_t *lstart, long long *seq, char hash[HASH_HEX + 1],
    char lastprev[HASH_HEX + 1], struct hkms_err *err);

/* Most lines are short: look at the last 8 KiB first, and at the whole
 * window two lines can take only when that holds no complete line. */
static enum hkms_rc
read_tail(int fd, off_t size, off_t *keep, off_t *lstart, long long *seq,
    char hash[HASH_HEX + 1], char lastprev[HASH_HEX + 1], struct hkms_err *err)
{
	enum hkms_rc rc;

	rc = read_tail_win(fd, size, 8192, keep, lstart, seq, hash, lastprev,
	    err);
	if (rc != TAIL_AGAIN)
		return rc;
	if (err != NULL)
		hkms_err_clear(err);
	return read_tail_win(fd, size, 2 * MAX_LINE + 2, keep, lstart, seq,
	    hash, lastprev, err);
}

static enum hkms_rc
read_tail_win(int fd, off_t size, size_t win, off_t *keep, off_t *lstart,
    long long *seq, char hash[HASH_HEX + 1], char lastprev[HASH_HEX + 1],
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	size_t n, end, start;
	int small = win < 2 * MAX_LINE + 2;
	char *buf = NULL, *body = NULL;
	json_t *j = NULL;
	off_t off;

	*keep = 0;
	*lstart = 0;
	*seq = 0;
	memcpy(hash, zero_hash, HASH_HEX + 1);
	memcpy(lastprev, zero_hash, HASH_HEX + 1);
	if (size == 0)
		return HKMS_OK;
	n = (off_t)win < size ? win : (size_t)size;
	off = size - (off_t)n;
	if ((buf = malloc(n + 1)) == NULL || (body = malloc(n + 2)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = pread_all(fd, buf, n, off, err)) != HKMS_OK)
		goto out;
	buf[n] = '\0';
	for (end = n; end > 0 && buf[end - 1] != '\n'; end--)
		;
	if (end == 0) {
		if (off == 0) {		/* only a torn first line */
			rc = HKMS_OK;
			goto out;
		}
		if (small) {
			rc = TAIL_AGAIN;
			goto out;
		}
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last line too long (damaged)");
		goto out;
	}
	*keep = off + (off_t)end;
	for (start = end - 1; start > 0 && buf[start - 1] != '\n'; start--)
		;
	if (start == 0 && off > 0) {
		if (small) {
			rc = TAIL_AGAIN;
			goto out;
		}
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last line too long (damaged)");
		goto out;
	}
	*lstart = off + (off_t)start;
	buf[end - 1] = '\0';
	if (!split_line(buf + start, end - 1 - start, body, hash) ||
	    (j = json_loads(body, 0, NULL)) == NULL ||
	    !json_is_integer(json_object_get(j, "seq"))) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last record is damaged; run audit verify");
		goto out;
	}
	*seq = json_integer_value(json_object_get(j, "seq"));
	/* the caller adds to it: a forged huge or negative seq would
	 * overflow (found by fuzz_audit_verify) */
	if (*seq < 1 || *seq > LLONG_MAX / 2) {
		*seq = 0;
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log: last record has a bad seq; run audit verify");
		goto out;
	}
	if (json_is_string(json_object_get(j, "prev")))
		snprintf(lastprev, HASH_HEX + 1, "%s",
		    json_string_value(json_object_get(j, "prev")));
	rc = HKMS_OK;
out:
	json_decref(j);
	free(buf);
	free(body);
	return rc;
}

/* Largest log segment after the head an append reads (unsealed lines). */
#define MAX_UNSEALED (16 * 1024 * 1024)

/*
 * The lines of [off, size) must continue the chain from (*seq, hash):
 * advance both over every complete line, count lines marked "unsealed"
 * and the others (*plain), and set *keep after the last complete line.
 */
/*
 * The lines of one group commit carry "group":[first seq, n]. After the
 * head, a crash may leave one plain line, or up to n plain lines of one
 * group (written with one write() and one fdatasync() before their
 * head): *grouped tracks whether the plain lines seen so far are that.
 */
struct group_state {
	int plain;		/* plain (not unsealed) lines */
	long long first, n;	/* the group of the first plain line */
	int ok;			/* all plain lines are of that group */
};

static void
group_note(struct group_state *g, json_t *j, long long seq)
{
	json_t *gr = json_object_get(j, "group");
	long long f = -1, n = -1;

	if (json_is_true(json_object_get(j, "unsealed")))
		return;
	if (json_is_array(gr) && json_array_size(gr) == 2 &&
	    json_is_integer(json_array_get(gr, 0)) &&
	    json_is_integer(json_array_get(gr, 1))) {
		f = json_integer_value(json_array_get(gr, 0));
		n = json_integer_value(json_array_get(gr, 1));
	}
	if (g->plain++ == 0) {
		g->first = f;
		g->n = n;
		g->ok = f == seq && n >= 1 && n <= HKMS_STORE_GROUP_MAX;
		return;
	}
	if (!g->ok || f != g->first || n != g->n || g->plain > n)
		g->ok = 0;
}

/* 1 if the plain lines after the head are what a crash can leave. */
static int
group_fine(const struct group_state *g)
{
	return g->plain <= 1 || g->ok;
}

static enum hkms_rc
scan_after(int fd, off_t off, off_t size, long long *seq,
    char hash[HASH_HEX + 1], off_t *keep, struct group_state *g,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char *buf = NULL, *body = NULL, calc[HASH_HEX + 1], lh[HASH_HEX + 1];
	size_t n, pos = 0, e;
	json_t *j = NULL;
	const char *p;

	*keep = off;
	memset(g, 0, sizeof(*g));
	if (size <= off)
		return HKMS_OK;
	if (size - off > MAX_UNSEALED)
		return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log has more than %d bytes after audit.head; "
		    "refusing to append", MAX_UNSEALED);
	n = (size_t)(size - off);
	if ((buf = malloc(n + 1)) == NULL || (body = malloc(n + 2)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = pread_all(fd, buf, n, off, err)) != HKMS_OK)
		goto out;
	buf[n] = '\0';
	while (pos < n) {
		for (e = pos; e < n && buf[e] != '\n'; e++)
			;
		if (e == n)
			break;		/* torn tail */
		buf[e] = '\0';
		json_decref(j);
		j = NULL;
		if (strlen(buf + pos) != e - pos ||
		    !split_line(buf + pos, e - pos, body, lh) ||
		    (j = json_loads(body, 0, NULL)) == NULL ||
		    json_integer_value(json_object_get(j, "seq")) != *seq + 1 ||
		    (p = json_string_value(json_object_get(j, "prev"))) ==
		    NULL || strcmp(p, hash) != 0) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
			    "audit.log: the records after audit.head (seq "
			    "%lld) do not continue its chain; refusing to "
			    "append", *seq);
			goto out;
		}
		chain_hash(hash, body, strlen(body), calc);
		if (strcmp(calc, lh) != 0) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
			    "audit.log: record %lld after audit.head is "
			    "altered; refusing to append", *seq + 1);
			goto out;
		}
		group_note(g, j, *seq + 1);
		(*seq)++;
		memcpy(hash, lh, HASH_HEX + 1);
		pos = e + 1;
		*keep = off + (off_t)pos;
	}
	rc = HKMS_OK;
out:
	json_decref(j);
	free(buf);
	free(body);
	return rc;
}

/* Build the line for one record; *line is malloc'd and ends in '\n'. */
static enum hkms_rc
make_line(long long seq, const char *prev, const char *actor, const char *op,
    const char *object, const char *result, json_t *detail, int unsealed,
    long long gfirst, size_t gn, char **line, size_t *linelen,
    char hash[HASH_HEX + 1], struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char now[32], *dump = NULL, *l = NULL;
	json_t *rec = NULL;
	size_t dl;

	rec = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:O?, s:s}",
	    "seq", (json_int_t)seq,
	    "time", hkms_time_str((int64_t)time(NULL), now),
	    "actor", actor, "op", op, "object", object, "result", result,
	    "detail", detail, "prev", prev);
	if (rec != NULL && unsealed)
		json_object_set_new(rec, "unsealed", json_true());
	if (rec != NULL && gn > 1)
		json_object_set_new(rec, "group", json_pack("[I,I]",
		    (json_int_t)gfirst, (json_int_t)gn));
	if (rec == NULL || (dump = json_dumps(rec, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "cannot encode audit "
		    "record (invalid UTF-8?)");
		goto out;
	}
	dl = strlen(dump);
	if (dl + HASH_SUFFIX_LEN + 1 > MAX_LINE) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "audit record for '%s'"
		    " is too large", op);
		goto out;
	}
	chain_hash(prev, dump, dl, hash);
	if ((l = malloc(dl + HASH_SUFFIX_LEN + 2)) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* dump ends in '}': splice the hash member in before it */
	*linelen = (size_t)sprintf(l, "%.*s,\"hash\":\"%s\"}\n", (int)(dl - 1),
	    dump, hash);
	*line = l;
	l = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(rec);
	free(dump);
	free(l);
	return rc;
}

/* Append one line at size (O_APPEND, lock held); undo a partial write. */
static enum hkms_rc sync_log(struct hkms_store *st, int fd, off_t size,
    struct hkms_err *err);
static enum hkms_rc write_lines(int fd, off_t size, const char *line,
    size_t len, struct hkms_err *err);

static enum hkms_rc
append_line(struct hkms_store *st, int fd, off_t size, const char *line,
    size_t len, struct hkms_err *err)
{
	enum hkms_rc rc;

	if ((rc = write_lines(fd, size, line, len, err)) != HKMS_OK)
		return rc;
	return sync_log(st, fd, size, err);
}

/* The lines, with one write(); not yet durable. */
static enum hkms_rc
write_lines(int fd, off_t size, const char *line, size_t len,
    struct hkms_err *err)
{
	int e;

#ifdef HKMS_TEST_HOOKS
	if (getenv("HKMS_STORE_CRASH_AT") != NULL &&
	    strncmp(getenv("HKMS_STORE_CRASH_AT"), "audit_partial", 13) == 0) {
		(void)hkms_store_write_all(fd, line, len / 2);
		hkms_store_crash_point("audit_partial");
		(void)ftruncate(fd, size);
	}
#endif
	if ((e = hkms_store_write_all(fd, line, len)) != 0) {
		(void)ftruncate(fd, size);
		if (hkms_store_errno_nospace(e))
			return hkms_err_setc(err, HKMS_E_NOSPACE, "no_space",
			    "no space left on device: cannot append to "
			    "audit.log");
		return hkms_err_set(err, HKMS_E_IO, "cannot append to "
		    "audit.log: %s", strerror(e));
	}
	hkms_store_crash_point("audit_after_write");
	return HKMS_OK;
}

/* fdatasync the lines written after size (failure: cut them off again). */
static enum hkms_rc
sync_log(struct hkms_store *st, int fd, off_t size, struct hkms_err *err)
{
	int e;

	if (fdatasync(fd) != 0) {
		e = errno;
		/* not acknowledged: take it out again, best effort */
		(void)ftruncate(fd, size);
		hkms_store_note_failure(st, HKMS_E_IO, &(struct hkms_err){
		    .code = "fsync_failed" });
		return hkms_err_setc(err, HKMS_E_IO, "fsync_failed",
		    "cannot fdatasync audit.log: %s (record abandoned)",
		    strerror(e));
	}
	hkms_store_crash_point("audit_after_sync");
	return HKMS_OK;
}

/* ---------------------------------------------------------------- */
/* append                                                            */
/* ---------------------------------------------------------------- */

enum mode { M_NORMAL, M_UNSEALED, M_SEAL };

/*
 * Where the log stands, under the audit lock: the head h and the lines
 * after it. Fills *seq/prev with the last complete line, *keep after it,
 * *hoff the log offset the head covers, *plain the number of lines after
 * the head not marked "unsealed".
 */
static enum hkms_rc
locate(int fd, off_t size, struct head *h, long long *seq,
    char prev[HASH_HEX + 1], off_t *keep, int *plain, struct hkms_err *err)
{
	enum hkms_rc rc;
	char lhash[HASH_HEX + 1], lastprev[HASH_HEX + 1];
	struct group_state g;
	long long lseq;
	off_t lkeep, lstart;

	if (h->seq < 0 && size > 0)
		return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.head is missing but audit.log has records (head "
		    "removed); refusing to append");
	if (h->seq < 0) {
		h->seq = 0;
		h->off = 0;
	}
	if (h->off < 0) {
		/* a head written before heads had "off": it is at the last
		 * line or one before it (a crash before the head update) */
		if ((rc = read_tail(fd, size, &lkeep, &lstart, &lseq, lhash,
		    lastprev, err)) != HKMS_OK)
			return rc;
		if (h->seq == lseq && strcmp(h->hash, lhash) == 0)
			h->off = lkeep;
		else if (h->seq == lseq - 1 && strcmp(h->hash, lastprev) == 0)
			h->off = lstart;
		else
			goto behind;
	}
	if (h->off > size)
		goto behind;
	/* the line that ends at off is the head's */
	if ((rc = read_tail(fd, h->off, &lkeep, &lstart, &lseq, lhash,
	    lastprev, err)) != HKMS_OK)
		return rc;
	if (lkeep != h->off || lseq != h->seq || strcmp(lhash, h->hash) != 0)
		goto behind;
	*seq = h->seq;
	memcpy(prev, h->hash, HASH_HEX + 1);
	if ((rc = scan_after(fd, h->off, size, seq, prev, keep, &g, err)) !=
	    HKMS_OK)
		return rc;
	*plain = g.plain;
	/* a crash can leave one record after the head, or the lines of one
	 * group commit, never more */
	if (!group_fine(&g))
		return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
		    "audit.log has %d records after audit.head (seq %lld): "
		    "head rolled back or records added; refusing to append",
		    *plain, h->seq);
	return HKMS_OK;
behind:
	return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
	    "audit.log does not reach audit.head (seq %lld): tail truncated "
	    "or altered; refusing to append", h->seq);
}

/*
 * Append the n records of recs (n > 1: one group commit, each line marked
 * "group":[first seq, n]) with one write() and one fdatasync(), then one
 * head. before (may be NULL) runs under the audit lock once each record's
 * seq and hash are known (recs[i].seq/.hash), before the lines are
 * written: the group committer writes its record files there.
 */
static enum hkms_rc
audit_write_n(struct hkms_store *st, struct hkms_audit_rec *recs, size_t n,
    enum mode mode, hkms_audit_before_fn before,
    hkms_audit_syncing_fn syncing, void *barg, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1];
	char *logp = NULL, *line = NULL, *all = NULL, *na;
	json_t **clean = NULL, *rdetail = NULL;
	const char *why = NULL;
	long long seq = 0;
	struct head h;
	size_t len, total = 0, i;
	struct stat sb;
	off_t keep = 0;
	int lk = -1, fd = -1, state, seal, sign, plain = 0;

	if (st == NULL || n == 0 || n > HKMS_STORE_GROUP_MAX)
		return hkms_err_set(err, HKMS_E_INVALID, "audit: bad record "
		    "count");
	for (i = 0; i < n; i++)
		if (recs[i].op == NULL || *recs[i].op == '\0' ||
		    recs[i].result == NULL ||
		    (strcmp(recs[i].result, "ok") != 0 &&
		    strcmp(recs[i].result, "error") != 0))
			return hkms_err_set(err, HKMS_E_INVALID, "audit: need "
			    "op and result \"ok\" or \"error\"");
	if ((clean = calloc(n, sizeof(*clean))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		if (recs[i].detail == NULL)
			continue;
		if (!needs_redact(recs[i].detail)) {
			clean[i] = json_incref(recs[i].detail);
			continue;
		}
		if ((clean[i] = json_deep_copy(recs[i].detail)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		redact(clean[i]);
	}
	/* before the lock: the provider may open the token */
	state = akey_resolve(st);
	if ((lk = open_audit_lock(st, 1, err)) < 0) {
		rc = HKMS_E_IO;
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_open_file(logp, O_RDWR | O_APPEND | O_CREAT,
	    0600, &fd, err)) != HKMS_OK)
		goto out;
	if (fstat(fd, &sb) != 0) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s", logp,
		    strerror(errno));
		goto out;
	}
	/* the audit lock is ours: the bytes of the head this object wrote
	 * last need no parse (read_head_c) */
	if ((rc = read_head_c(st, &h, 1, err)) != HKMS_OK)
		goto out;
	/* who may write the head: see docs/store.md, "Sealed head" */
	sign = state == AKEY_HAVE && st->akey.sign != NULL;
	if (state == AKEY_HAVE) {
		if (h.seq >= 0 && !h.is_signed && mode != M_SEAL) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
			    "audit.head is not signed but the token holds the "
			    "audit key (head replaced or audit files deleted);"
			    " refusing to append");
			goto out;
		}
		if (h.is_signed && !head_cached(st, &h)) {
			if (!head_trusted(st, &h, state, &why)) {
				rc = hkms_err_setc(err, HKMS_E_VERIFY,
				    "audit_chain", "%s; refusing to append",
				    why);
				goto out;
			}
			head_remember(st, &h);
		}
		/* an unsealed line needs no signature (a failure is audited
		 * even when the token cannot sign) */
		seal = sign && mode != M_UNSEALED;
	} else if (h.is_signed || mode == M_SEAL || st->akey_pin[0] != '\0') {
		seal = 0;
		if (mode != M_UNSEALED) {
			rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_sealed",
			    "the audit log is sealed by the token's audit key; "
			    "cannot write without it%s%s", state == AKEY_ERROR ?
			    ": " : "", state == AKEY_ERROR ?
			    st->akey_err.detail : "");
			goto out;
		}
	} else {
		seal = 1;	/* no audit key anywhere: an unsigned head */
	}
	if (!seal && mode != M_UNSEALED) {
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "audit_sealed",
		    "the audit key cannot sign; refusing to append");
		goto out;
	}
	if ((rc = locate(fd, sb.st_size, &h, &seq, prev, &keep, &plain,
	    err)) != HKMS_OK)
		goto out;
	/* catch the head up first (over the one line or the group a crash
	 * left), so a crash below leaves one line or group after it */
	if (seal && plain >= 1 &&
	    (rc = write_head(st, seq, prev, (long long)keep, sign, err)) !=
	    HKMS_OK)
		goto out;
	if (keep < sb.st_size) {
		/* torn tail from a crash mid-write: never acknowledged */
		long long torn = (long long)(sb.st_size - keep);

		if (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0) {
			rc = hkms_err_set(err, HKMS_E_IO, "cannot cut torn "
			    "tail of '%s': %s", logp, strerror(errno));
			goto out;
		}
		rdetail = json_pack("{s:I}", "torn_bytes", (json_int_t)torn);
		if ((rc = make_line(seq + 1, prev, "hkms", "audit.recover",
		    "audit.log", "ok", rdetail, !seal, 0, 0, &line, &len, hash,
		    err)) != HKMS_OK ||
		    (rc = append_line(st, fd, keep, line, len, err)) != HKMS_OK)
			goto out;
		keep += (off_t)len;
		/* head now too, so a crash below leaves it one behind */
		if (seal && (rc = write_head(st, seq + 1, hash,
		    (long long)keep, sign, err)) != HKMS_OK)
			goto out;
		free(line);
		line = NULL;
		seq++;
		memcpy(prev, hash, sizeof(prev));
	}
	for (i = 0; i < n; i++) {
		if ((rc = make_line(seq + 1 + (long long)i, prev,
		    recs[i].actor ? recs[i].actor : "", recs[i].op,
		    recs[i].object ? recs[i].object : "", recs[i].result,
		    clean[i], !seal, seq + 1, n, &line, &len, hash, err)) !=
		    HKMS_OK)
			goto out;
		if ((na = realloc(all, total + len + 1)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		all = na;
		memcpy(all + total, line, len);
		total += len;
		free(line);
		line = NULL;
		recs[i].seq = seq + 1 + (long long)i;
		memcpy(recs[i].hash, hash, HASH_HEX + 1);
		memcpy(prev, hash, HASH_HEX + 1);
	}
	if (before != NULL && (rc = before(barg, recs, n, err)) != HKMS_OK)
		goto out;
	if (before != NULL && seal) {
		/*
		 * A group commit: lines written, the new head written to its
		 * temp file, then one fdatasync of the log commits the lines,
		 * the head's and the batch's record files' data in one
		 * journal transaction; the head's own fsync and rename
		 * follow (the order lines -> head -> records still holds).
		 */
		struct hkms_psync hs;
		struct hkms_atomic ha;
		struct head hw;
		int e;

		if ((rc = write_lines(fd, keep, all, total, err)) != HKMS_OK)
			goto out;
		/* its writeback starts now, with the records' and the head's */
		(void)sync_file_range(fd, keep, (off_t)total,
		    SYNC_FILE_RANGE_WRITE);
		if ((rc = head_begin(st, seq + (long long)n, hash,
		    (long long)keep + (long long)total, sign, &ha, &hw,
		    err)) != HKMS_OK) {
			if (ftruncate(fd, keep) == 0)
				(void)fdatasync(fd);
			goto out;
		}
		/* the head's writeback was started by head_begin: its
		 * blocks and size are in the journal transaction the log's
		 * fdatasync commits */
		/* the head's fdatasync on its own thread, alongside the
		 * log's (and the batch's records', commit.c): they wait
		 * for the device together */
		hkms_store_psync_start(st, &hs, ha.fd, 0);
		if (syncing != NULL)
			syncing(barg);
		rc = sync_log(st, fd, keep, err);
		e = hkms_store_psync_wait(st, &hs);
		if (e != 0 && rc == HKMS_OK) {
			if (ftruncate(fd, keep) == 0)
				(void)fdatasync(fd);
			rc = hkms_store_errno_nospace(e) ?
			    hkms_err_setc(err, HKMS_E_NOSPACE, "no_space",
			    "no space left on device: cannot fdatasync "
			    "audit.head") : hkms_err_setc(err, HKMS_E_IO,
			    "fsync_failed", "cannot fdatasync the new "
			    "audit.head: %s (write abandoned)", strerror(e));
		}
		if (rc != HKMS_OK) {
			hkms_store_atomic_abort(&ha);
			goto out;
		}
		/* the data dir's fsync (the head's rename) is the group
		 * committer's, together with its records' renames: one
		 * journal commit for all of them (commit.c) */
		if ((rc = head_finish(st, &ha, &hw, HKMS_ATOMIC_DATASYNC |
		    HKMS_ATOMIC_NO_DIRSYNC | HKMS_ATOMIC_SYNCED, err)) !=
		    HKMS_OK) {
			if (ftruncate(fd, keep) == 0)
				(void)fdatasync(fd);
			goto out;
		}
		rc = HKMS_OK;
		goto out;
	}
	if ((rc = append_line(st, fd, keep, all, total, err)) != HKMS_OK)
		goto out;
	/* the lines are durable; the head makes a truncation detectable */
	if (seal && (rc = write_head(st, seq + (long long)n, hash,
	    (long long)keep + (long long)total, sign, err)) != HKMS_OK) {
		/* not acknowledged: take the lines out so the head never lags
		 * by more than the one line or group a crash can leave */
		if (ftruncate(fd, keep) == 0)
			(void)fdatasync(fd);
		goto out;
	}
	rc = HKMS_OK;
out:
	if (fd >= 0)
		close(fd);
	if (lk >= 0)
		close(lk);
	for (i = 0; clean != NULL && i < n; i++)
		json_decref(clean[i]);
	free(clean);
	json_decref(rdetail);
	free(line);
	free(all);
	free(logp);
	return rc;
}

static enum hkms_rc
audit_write(struct hkms_store *st, const char *actor, const char *op,
    const char *object, const char *result, json_t *detail, enum mode mode,
    long long *out_seq, char out_hash[HASH_HEX + 1], struct hkms_err *err)
{
	struct hkms_audit_rec r = { actor, op, object, result, detail, 0,
	    "" };
	enum hkms_rc rc;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	rc = audit_write_n(st, &r, 1, mode, NULL, NULL, NULL, err);
	if (rc == HKMS_OK && out_seq != NULL)
		*out_seq = r.seq;
	if (rc == HKMS_OK && out_hash != NULL)
		memcpy(out_hash, r.hash, HASH_HEX + 1);
	return rc;
}

enum hkms_rc
hkms_audit_append_group(struct hkms_store *st, struct hkms_audit_rec *recs,
    size_t n, hkms_audit_before_fn before, hkms_audit_syncing_fn syncing,
    void *barg, struct hkms_err *err)
{
	return audit_write_n(st, recs, n, M_NORMAL, before, syncing, barg,
	    err);
}

enum hkms_rc
hkms_audit_append(struct hkms_store *st, const char *actor, const char *op,
    const char *object, const char *result, json_t *detail,
    struct hkms_err *err)
{
	return audit_write(st, actor, op, object, result, detail, M_NORMAL,
	    NULL, NULL, err);
}

enum hkms_rc
hkms_audit_append_unsealed(struct hkms_store *st, const char *actor,
    const char *op, const char *object, const char *result, json_t *detail,
    struct hkms_err *err)
{
	return audit_write(st, actor, op, object, result, detail, M_UNSEALED,
	    NULL, NULL, err);
}

enum hkms_rc
hkms_audit_append_ahead(struct hkms_store *st, const char *actor,
    const char *op, const char *object, json_t *detail, long long *seq,
    struct hkms_err *err)
{
	char hash[HASH_HEX + 1];
	long long s = 0;
	enum hkms_rc rc;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rc = hkms_store_begin(st, err)) != HKMS_OK)
		return rc;
	rc = audit_write(st, actor, op, object, "ok", detail, M_NORMAL, &s,
	    hash, err);
	if (rc == HKMS_OK) {
		/* stamped into every record put until the outermost end */
		st->stamp_seq = s;
		memcpy(st->stamp_hash, hash, sizeof(st->stamp_hash));
		if (seq != NULL)
			*seq = s;
	}
	hkms_store_end(st);
	return rc;
}

enum hkms_rc
hkms_audit_seal(struct hkms_store *st, const char *actor,
    struct hkms_err *err)
{
	json_t *d;
	enum hkms_rc rc;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if (akey_resolve(st) != AKEY_HAVE || st->akey.sign == NULL)
		return hkms_err_setc(err, HKMS_E_VERIFY, "audit_sealed",
		    "no audit key to seal the audit log with");
	d = json_pack("{s:s}", "key_sha256", st->akey_fpr);
	rc = audit_write(st, actor, "audit.seal", "audit.log", "ok", d, M_SEAL,
	    NULL, NULL, err);
	json_decref(d);
	return rc;
}

int
hkms_audit_sealed(struct hkms_store *st)
{
	struct head h;

	return st != NULL && read_head(st, &h, NULL) == HKMS_OK &&
	    h.is_signed;
}

/* ---------------------------------------------------------------- */
/* verify                                                            */
/* ---------------------------------------------------------------- */

static enum hkms_rc
bad(struct hkms_err *err, json_t *rep, long long lineno, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static enum hkms_rc
bad(struct hkms_err *err, json_t *rep, long long lineno, const char *fmt,
    ...)
{
	char reason[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	json_object_set_new(rep, "ok", json_false());
	json_object_set_new(rep, "bad_line", json_integer(lineno));
	json_object_set_new(rep, "reason", json_string(reason));
	return hkms_err_setc(err, HKMS_E_VERIFY, "audit_chain",
	    "audit.log line %lld: %s", lineno, reason);
}

static int
push_hash(struct hkms_audit_lines *t, const char *hex)
{
	unsigned char (*nh)[32];
	size_t len;

	if (t == NULL)
		return 1;
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		if ((nh = realloc(t->hash, t->cap * sizeof(*nh))) == NULL)
			return 0;
		t->hash = nh;
	}
	if (hkms_unhex(hex, t->hash[t->n], 32, &len, NULL) != HKMS_OK)
		memset(t->hash[t->n], 0, 32);
	t->n++;
	return 1;
}

void
hkms_audit_lines_free(struct hkms_audit_lines *t)
{
	if (t == NULL)
		return;
	free(t->hash);
	memset(t, 0, sizeof(*t));
}

/*
 * Verify everything: the chain, the head (and its signature), what may
 * follow the head. t (may be NULL) gets each line's hash by seq - 1 and
 * the head's seq, for the store check's record cross-check.
 */
enum hkms_rc
hkms_audit_verify_lines(struct hkms_store *st, json_t **report,
    struct hkms_audit_lines *t, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	char prev[HASH_HEX + 1], hash[HASH_HEX + 1], calc[HASH_HEX + 1];
	char *logp = NULL, *line = NULL, *body = NULL;
	long long lineno = 0, expect = 1, seq, head_end = -1;
	long long after = 0, pos = 0;
	struct group_state grp = { 0 };
	size_t cap = 0;
	ssize_t n;
	json_t *rep = NULL, *j = NULL;
	const char *p, *why = NULL;
	struct head h;
	FILE *f = NULL;
	long long torn = 0, sealed_at = 0;
	int state, lk = -1, wfd, fd = -1, keyed;

	if (st == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store");
	if ((rep = json_object()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	json_object_set_new(rep, "ok", json_true());
	memcpy(prev, zero_hash, sizeof(prev));
	state = akey_resolve(st);
	/* a snapshot no append is half-way through */
	if ((lk = open_audit_lock(st, 0, err)) == -1) {
		rc = HKMS_E_IO;
		goto out;
	}
	if (state == AKEY_ERROR && st->akey_err.rc == HKMS_E_VERIFY) {
		rc = bad(err, rep, 0, "%s", st->akey_err.detail);
		goto out;
	}
	if ((rc = read_head(st, &h, err)) != HKMS_OK) {
		if (rc == HKMS_E_DENIED)
			goto out;	/* a link: refused, named in err */
		rc = bad(err, rep, 0, "audit.head is damaged");
		goto out;
	}
	/* seq 0 is the empty chain: its hash can only be the zero hash (the
	 * append refuses anything else; found by fuzz_audit_verify) */
	if (h.seq == 0 && strcmp(h.hash, zero_hash) != 0) {
		rc = bad(err, rep, 0, "audit.head names seq 0 with a hash "
		    "that is not the empty log's (altered)");
		goto out;
	}
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_open_file(logp, O_RDONLY, 0, &fd, err)) !=
	    HKMS_OK && rc != HKMS_E_NOT_FOUND)
		goto out;
	if (fd >= 0 && (f = fdopen(fd, "r")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s", logp,
		    strerror(errno));
		close(fd);
		goto out;
	}
	while (f != NULL && (n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n') {
			torn = n;	/* crash mid-append; cut on next append */
			break;
		}
		line[--n] = '\0';
		/* the hash covers the bytes up to a NUL only: bytes hidden
		 * after one would go unnoticed (found by fuzz_audit_verify) */
		if (strlen(line) != (size_t)n) {
			rc = bad(err, rep, lineno, "NUL byte in record "
			    "(altered or damaged)");
			goto out;
		}
		free(body);
		json_decref(j);
		j = NULL;
		if ((body = malloc((size_t)n + 2)) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		if (!split_line(line, (size_t)n, body, hash) ||
		    (j = json_loads(body, 0, NULL)) == NULL) {
			rc = bad(err, rep, lineno, "malformed record "
			    "(altered or damaged)");
			goto out;
		}
		if (!json_is_integer(json_object_get(j, "seq"))) {
			rc = bad(err, rep, lineno, "no seq (altered)");
			goto out;
		}
		seq = json_integer_value(json_object_get(j, "seq"));
		if (seq != expect) {
			rc = bad(err, rep, lineno, "seq %lld, expected %lld "
			    "(record deleted, inserted or reordered)", seq,
			    expect);
			goto out;
		}
		p = json_string_value(json_object_get(j, "prev"));
		if (p == NULL || strcmp(p, prev) != 0) {
			rc = bad(err, rep, lineno, "prev does not match the "
			    "previous record's hash (record deleted or "
			    "reordered)");
			goto out;
		}
		chain_hash(prev, body, strlen(body), calc);
		if (strcmp(calc, hash) != 0) {
			rc = bad(err, rep, lineno, "hash mismatch (record "
			    "altered)");
			goto out;
		}
		pos += n + 1;
		p = json_string_value(json_object_get(j, "op"));
		if (sealed_at == 0 && p != NULL && strcmp(p, "audit.seal") == 0)
			sealed_at = seq;
		if (seq == h.seq) {
			if (strcmp(hash, h.hash) != 0) {
				rc = bad(err, rep, seq, "hash differs from "
				    "audit.head (record altered or replaced)");
				goto out;
			}
			head_end = pos;
		} else if (h.seq >= 0 && seq > h.seq) {
			after++;
			group_note(&grp, j, seq);
		}
		if (!push_hash(t, hash)) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		memcpy(prev, hash, sizeof(prev));
		expect++;
	}
	seq = expect - 1;	/* last complete record */
	json_object_set_new(rep, "records", json_integer(seq));
	json_object_set_new(rep, "last_seq", json_integer(seq));
	json_object_set_new(rep, "last_hash", json_string(prev));
	json_object_set_new(rep, "head_seq", json_integer(h.seq));
	json_object_set_new(rep, "torn_tail_bytes", json_integer(torn));
	json_object_set_new(rep, "signed", json_boolean(h.is_signed));
	json_object_set_new(rep, "unsealed_tail", json_integer(after));
	if (h.is_signed)
		json_object_set_new(rep, "key_sha256", json_string(h.fpr));
	if (t != NULL)
		t->head_seq = t->group_end = h.seq;
	/* an audit key exists: the token has it, the config pins it or the
	 * log says it was sealed (then a head without a signature is a
	 * stripped one, also when the token is not at hand) */
	keyed = state == AKEY_HAVE || st->akey_pin[0] != '\0';
	if (keyed && seq == 0) {
		rc = bad(err, rep, 0, "audit.log is missing or empty but %s "
		    "(log and head deleted)", state == AKEY_HAVE ? "the token "
		    "holds the audit key" : "an audit key is pinned");
		goto out;
	}
	if (h.seq < 0) {
		/* a torn line alone too: the open writes a head before the
		 * first append, and an append refuses a log with no head */
		if (seq > 0 || torn > 0 || keyed) {
			rc = bad(err, rep, 0, "audit.head is missing (head "
			    "removed)");
			goto out;
		}
		rc = HKMS_OK;
		goto out;
	}
	if (!h.is_signed && (keyed || sealed_at > 0)) {
		rc = bad(err, rep, 0, "audit.head is not signed but %s (head "
		    "replaced)", state == AKEY_HAVE ? "the token holds the "
		    "audit key" : sealed_at > 0 ? "the log was sealed" :
		    "an audit key is pinned");
		if (sealed_at > 0 && state != AKEY_HAVE)
			json_object_set_new(rep, "sealed_at", json_integer(
			    sealed_at));
		goto out;
	}
	if (h.is_signed && !head_trusted(st, &h, state, &why)) {
		rc = bad(err, rep, h.seq, "%s", why);
		goto out;
	}
	if (h.seq > seq) {
		rc = bad(err, rep, seq + 1, "log ends at seq %lld but "
		    "audit.head says %lld (tail truncated)", seq, h.seq);
		goto out;
	}
	if (h.seq == 0)
		head_end = 0;
	if (h.off >= 0 && h.off != head_end) {
		rc = bad(err, rep, h.seq, "audit.head covers %lld bytes but "
		    "record %lld ends at byte %lld (log rewritten)", h.off,
		    h.seq, head_end);
		goto out;
	}
	/* after the head: lines written without the token (failed logins,
	 * marked "unsealed") and at most one line or one group commit's
	 * lines a crash left before its head */
	if (!group_fine(&grp)) {
		rc = bad(err, rep, h.seq + 1, "audit.head is %d records "
		    "behind the log (head rolled back or records appended)",
		    grp.plain);
		goto out;
	}
	if (t != NULL)
		t->group_end = seq;
	/* an append must be possible: an immutable or read-only log makes
	 * every write fail (the open changes nothing) */
	if (f != NULL && (wfd = open(logp, O_NOFOLLOW | O_WRONLY | O_APPEND |
	    O_CLOEXEC)) < 0) {
		rc = bad(err, rep, 0, "audit.log cannot be opened for "
		    "appending: %s (immutable or read-only; every write "
		    "will fail)", strerror(errno));
		goto out;
	} else if (f != NULL) {
		close(wfd);
	}
	rc = HKMS_OK;
out:
	if (report != NULL) {
		*report = rep;
		rep = NULL;	/* transferred */
	}
	if (f != NULL)
		fclose(f);
	if (lk >= 0)
		close(lk);
	json_decref(rep);
	json_decref(j);
	free(body);
	free(line);
	free(logp);
	return rc;
}

enum hkms_rc
hkms_audit_verify(struct hkms_store *st, json_t **report,
    struct hkms_err *err)
{
	return hkms_audit_verify_lines(st, report, NULL, err);
}

/*
 * The seq of the first (last: the last) "ok" line that contains every
 * string of needles (NULL-terminated), in *seq (0: none), after the whole
 * log verified: a line edited to hide a needle fails the verify. For
 * decisions made on the word of a record: a stale key reservation's
 * orphan (an id an "ok" line names was acknowledged, whatever the record
 * now says), a key record whose key a key.delete already destroyed.
 */
enum hkms_rc
hkms_audit_find_ok(struct hkms_store *st, const char *const *needles,
    int last, long long *seq, struct hkms_err *err)
{
	enum hkms_rc rc;
	char *logp = NULL, *line = NULL;
	size_t cap = 0, i;
	ssize_t n;
	long long lineno = 0;
	FILE *f = NULL;
	int fd = -1;

	*seq = 0;
	if (needles == NULL || needles[0] == NULL || needles[0][0] == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "nothing to look for");
	if ((rc = hkms_audit_verify_lines(st, NULL, NULL, err)) != HKMS_OK)
		return rc;
	if ((rc = audit_path(st, "audit.log", &logp, err)) != HKMS_OK)
		goto out;
	if ((rc = hkms_store_open_file(logp, O_RDONLY, 0, &fd, err)) !=
	    HKMS_OK) {
		if (rc == HKMS_E_NOT_FOUND)
			rc = HKMS_OK;	/* verified empty */
		goto out;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot open '%s': %s", logp,
		    strerror(errno));
		close(fd);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		if (line[n - 1] != '\n')
			break;	/* a torn tail: never acknowledged */
		/* canonical compact lines: a member appears exactly so */
		if (strstr(line, "\"result\":\"ok\"") == NULL)
			continue;
		for (i = 0; needles[i] != NULL; i++)
			if (strstr(line, needles[i]) == NULL)
				break;
		if (needles[i] != NULL)
			continue;
		*seq = lineno;	/* verified: line N has seq N */
		if (!last)
			break;
	}
	rc = HKMS_OK;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	free(logp);
	return rc;
}
