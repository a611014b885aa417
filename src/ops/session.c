/*
 * Sessions of the web console and the TOTP second factor (issue 16a;
 * docs/api.md, "Sessions and second factor").
 *
 * The session table lives in the server process only (a restart ends
 * every session): HKMS_SESSION_MAX slots, each a random 32-byte id (the
 * cookie, base64url), a random CSRF token, the client's name and
 * certificate thumbprint, the registration's TOTP enrolment id and the
 * expiry. A lookup compares the id with every slot in constant time and
 * then wants the same certificate, client and enrolment. A client holds
 * at most HKMS_SESSION_PER_CLIENT sessions (a new one ends its oldest);
 * a full table reuses the slot of an expired session and otherwise
 * refuses a new one (503 session_table_full): live sessions are never
 * ended for another client.
 *
 * The replay guard is durable: the step of the accepted code is written
 * into the registration ("totp_last_step") under the data lock before the
 * session opens, so a code opens at most one session, in any process and
 * across restarts. Wrong codes are counted per client in memory (a
 * restart forgets them): HKMS_TOTP_MAX_WRONG in a row lock the client for
 * HKMS_TOTP_LOCK_S; after a lock every further wrong code locks again,
 * twice as long, up to HKMS_TOTP_LOCK_MAX_S; a right code resets it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "hkms/secret.h"
#include "hkms/service.h"
#include "hkms/store.h"
#include "ca_int.h"
#include "clients_int.h"
#include "ops_int.h"

#define HKMS_SESSION_MAX 1024
#define HKMS_SESSION_PER_CLIENT 16
#define LOCK_SLOTS 256

struct slot {
	int used;
	char id[HKMS_SESSION_ID_LEN + 1];
	char csrf[HKMS_SESSION_ID_LEN + 1];
	char name[65];
	char thumb[65];
	char totp_id[33];
	time_t created, expires;
	int ttl;
	int second_factor;	/* opened with a TOTP code */
};

struct lock_slot {
	char name[65];
	int wrong;		/* wrong codes in a row */
	int locks;		/* locks since the last right code */
	time_t until, last;
};

struct hkms_session_table {
	pthread_mutex_t mu;
	struct slot *s;
	size_t cap, per_client;
	struct lock_slot locks[LOCK_SLOTS];
};

struct hkms_session_table *
hkms_session_table_new(size_t cap, size_t per_client)
{
	struct hkms_session_table *t = calloc(1, sizeof(*t));

	if (t == NULL || cap == 0)
		goto fail;
	if ((t->s = calloc(cap, sizeof(*t->s))) == NULL)
		goto fail;
	t->cap = cap;
	t->per_client = per_client ? per_client : cap;
	pthread_mutex_init(&t->mu, NULL);
	return t;
fail:
	free(t);
	return NULL;
}

void
hkms_session_table_free(struct hkms_session_table *t)
{
	if (t == NULL)
		return;
	OPENSSL_cleanse(t->s, t->cap * sizeof(*t->s));
	free(t->s);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static int
rand_token(char out[HKMS_SESSION_ID_LEN + 1])
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char b[33];
	size_t i, o = 0;

	if (RAND_bytes(b, 32) != 1)
		return 0;
	b[32] = 0;
	/* base64url of 32 bytes: 42 full sextets + 4 bits */
	for (i = 0; i < 33 && o < HKMS_SESSION_ID_LEN; i += 3) {
		unsigned v = ((unsigned)b[i] << 16) |
		    (i + 1 < 33 ? (unsigned)b[i + 1] << 8 : 0) |
		    (i + 2 < 33 ? b[i + 2] : 0);

		out[o++] = al[(v >> 18) & 63];
		if (o < HKMS_SESSION_ID_LEN)
			out[o++] = al[(v >> 12) & 63];
		if (o < HKMS_SESSION_ID_LEN)
			out[o++] = al[(v >> 6) & 63];
		if (o < HKMS_SESSION_ID_LEN)
			out[o++] = al[v & 63];
	}
	out[HKMS_SESSION_ID_LEN] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return 1;
}

static struct slot *find_id(struct hkms_session_table *t, const char *id);

static void
slot_out(const struct slot *s, struct hkms_ops_session *out)
{
	if (out == NULL)
		return;
	memcpy(out->id, s->id, sizeof(out->id));
	memcpy(out->csrf, s->csrf, sizeof(out->csrf));
	out->expires = s->expires;
	out->max_age = (int)(s->expires - s->created);
	out->second_factor = s->second_factor;
}

/* Mark the session id as opened with a second factor (a session opened
 * without one, while the client did not require it, is no second factor
 * once the client requires one: server.c ignores it then). */
static void
table_mark_2fa(struct hkms_session_table *t, struct hkms_ops_session *sess)
{
	struct slot *s;

	pthread_mutex_lock(&t->mu);
	if ((s = find_id(t, sess->id)) != NULL) {
		s->second_factor = 1;
		sess->second_factor = 1;
	}
	pthread_mutex_unlock(&t->mu);
}

enum hkms_rc
hkms_session_table_open(struct hkms_session_table *t, const char *name,
    const char *thumb, const char *totp_id, time_t now, int ttl,
    struct hkms_ops_session *out, struct hkms_err *err)
{
	struct slot *free_s = NULL, *expired = NULL, *oldest = NULL, *s;
	size_t i, mine = 0;
	enum hkms_rc rc = HKMS_OK;

	if (t == NULL || name == NULL || thumb == NULL || ttl <= 0)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->cap; i++) {
		s = &t->s[i];
		if (s->used && s->expires <= now) {
			/* expired: reuse first the one that expired first */
			if (expired == NULL || s->expires < expired->expires)
				expired = s;
			continue;
		}
		if (!s->used) {
			if (free_s == NULL)
				free_s = s;
			continue;
		}
		if (strcmp(s->name, name) == 0) {
			mine++;
			if (oldest == NULL || s->created < oldest->created)
				oldest = s;
		}
	}
	if (mine >= t->per_client && oldest != NULL)
		s = oldest;	/* the client's oldest session ends */
	else if (free_s != NULL)
		s = free_s;
	else if (expired != NULL)
		s = expired;
	else
		s = NULL;
	if (s == NULL) {
		rc = hkms_err_setc(err, HKMS_E_IN_USE, "session_table_full",
		    "the session table is full (%zu live sessions); retry "
		    "when one expires", t->cap);
		goto out;
	}
	memset(s, 0, sizeof(*s));
	if (!rand_token(s->id) || !rand_token(s->csrf)) {
		memset(s, 0, sizeof(*s));
		rc = hkms_err_set(err, HKMS_E_CRYPTO, "cannot make a session "
		    "id: no random bytes");
		goto out;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->thumb, sizeof(s->thumb), "%s", thumb);
	snprintf(s->totp_id, sizeof(s->totp_id), "%s", totp_id ? totp_id :
	    "");
	s->created = now;
	s->expires = now + ttl;
	s->used = 1;
	slot_out(s, out);
out:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* the slot whose id is id; every used slot is compared in full */
static struct slot *
find_id(struct hkms_session_table *t, const char *id)
{
	struct slot *hit = NULL;
	size_t i;

	if (id == NULL || strlen(id) != HKMS_SESSION_ID_LEN)
		return NULL;
	for (i = 0; i < t->cap; i++)
		if (t->s[i].used && CRYPTO_memcmp(t->s[i].id, id,
		    HKMS_SESSION_ID_LEN) == 0)
			hit = &t->s[i];
	return hit;
}

int
hkms_session_table_find(struct hkms_session_table *t, const char *id,
    const char *thumb, const char *name, const char *totp_id, time_t now,
    struct hkms_ops_session *out)
{
	struct slot *s;
	int ok = 0;

	if (t == NULL || thumb == NULL || name == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	s = find_id(t, id);
	if (s != NULL && s->expires <= now) {
		memset(s, 0, sizeof(*s));	/* expired: gone */
		s = NULL;
	}
	if (s != NULL && strcmp(s->thumb, thumb) == 0 &&
	    strcmp(s->name, name) == 0 &&
	    strcmp(s->totp_id, totp_id ? totp_id : "") == 0) {
		slot_out(s, out);
		ok = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

int
hkms_session_table_close(struct hkms_session_table *t, const char *id)
{
	struct slot *s;
	int ok = 0;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	if ((s = find_id(t, id)) != NULL) {
		OPENSSL_cleanse(s, sizeof(*s));
		ok = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

void
hkms_session_table_end_client(struct hkms_session_table *t, const char *name)
{
	size_t i;

	if (t == NULL || name == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->cap; i++)
		if (t->s[i].used && strcmp(t->s[i].name, name) == 0)
			OPENSSL_cleanse(&t->s[i], sizeof(t->s[i]));
	pthread_mutex_unlock(&t->mu);
}

size_t
hkms_session_table_live(struct hkms_session_table *t, time_t now)
{
	size_t i, n = 0;

	if (t == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	for (i = 0; i < t->cap; i++)
		if (t->s[i].used && t->s[i].expires > now)
			n++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

/* the lockout slot of name (caller: mu); create: take the least recently
 * used one when name has none */
static struct lock_slot *
lock_of(struct hkms_session_table *t, const char *name, int create)
{
	struct lock_slot *lru = &t->locks[0];
	size_t i;

	for (i = 0; i < LOCK_SLOTS; i++) {
		if (strcmp(t->locks[i].name, name) == 0)
			return &t->locks[i];
		if (t->locks[i].last < lru->last)
			lru = &t->locks[i];
	}
	if (!create)
		return NULL;
	memset(lru, 0, sizeof(*lru));
	snprintf(lru->name, sizeof(lru->name), "%s", name);
	return lru;
}

long
hkms_session_table_locked(struct hkms_session_table *t, const char *name,
    time_t now)
{
	struct lock_slot *l;
	long wait = 0;

	if (t == NULL || name == NULL)
		return 0;
	pthread_mutex_lock(&t->mu);
	l = lock_of(t, name, 0);
	if (l != NULL && l->until > now)
		wait = (long)(l->until - now);
	pthread_mutex_unlock(&t->mu);
	return wait;
}

void
hkms_session_table_tried(struct hkms_session_table *t, const char *name,
    time_t now, int ok)
{
	struct lock_slot *l;
	long dur;

	if (t == NULL || name == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	if ((l = lock_of(t, name, !ok)) == NULL)
		goto out;
	l->last = now;
	if (ok) {
		l->wrong = 0;
		l->locks = 0;
		l->until = 0;
		goto out;
	}
	if (++l->wrong >= HKMS_TOTP_MAX_WRONG) {
		dur = HKMS_TOTP_LOCK_S;
		for (int i = 0; i < l->locks && dur < HKMS_TOTP_LOCK_MAX_S; i++)
			dur *= 2;
		if (dur > HKMS_TOTP_LOCK_MAX_S)
			dur = HKMS_TOTP_LOCK_MAX_S;
		l->until = now + dur;
		l->locks++;
		/* after a lock, the next wrong code locks again */
		l->wrong = HKMS_TOTP_MAX_WRONG - 1;
	}
out:
	pthread_mutex_unlock(&t->mu);
}

/* ---- the process's table ---- */

static struct hkms_session_table *proc_table;
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

static void
proc_init(void)
{
	proc_table = hkms_session_table_new(HKMS_SESSION_MAX,
	    HKMS_SESSION_PER_CLIENT);
}

static struct hkms_session_table *
table(void)
{
	pthread_once(&proc_once, proc_init);
	return proc_table;
}

void
ops_session_end_client(const char *name)
{
	hkms_session_table_end_client(table(), name);
}

int
hkms_ops_session_lookup(const char *id, const char *thumb, const char *name,
    const char *totp_id, struct hkms_ops_session *out)
{
	return hkms_session_table_find(table(), id, thumb, name, totp_id,
	    time(NULL), out);
}

long
hkms_ops_session_locked(const char *name)
{
	return hkms_session_table_locked(table(), name, time(NULL));
}

/* ---- operations ---- */

static enum hkms_rc
need_client(struct hkms_ops_ctx *c, struct hkms_err *err)
{
	const struct hkms_principal *p = c ? c->principal : NULL;

	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if (p == NULL || p->kind != HKMS_PRINCIPAL_CLIENT || p->name == NULL ||
	    p->clearance == HKMS_CLEARANCE_NONE)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "a session needs a registered client certificate");
	return HKMS_OK;
}

static json_t *
show_json(const struct hkms_principal *p, const json_t *reg,
    const struct hkms_ops_session *sess)
{
	json_t *perms = json_object_get(reg, "permissions"), *s = json_null();
	char exp[32];
	struct tm tm;

	if (sess != NULL && sess->id[0] != '\0') {
		gmtime_r(&sess->expires, &tm);
		strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		s = json_pack("{s:s,s:s}", "expires", exp, "csrf_token",
		    sess->csrf);
	}
	return json_pack("{s:s,s:s,s:O,s:b,s:b,s:b,s:o}", "client", p->name,
	    "clearance", ops_clearance_name(p->clearance), "permissions",
	    perms ? perms : json_array(), "require_2fa", p->require_2fa,
	    "second_factor", p->second_factor || !json_is_null(s),
	    "totp_enrolled", json_is_string(json_object_get(reg,
	    "totp_sealed")), "session", s);
}

enum hkms_rc
hkms_ops_session_show(struct hkms_ops_ctx *c,
    const struct hkms_ops_session *sess, json_t **out, struct hkms_err *err)
{
	json_t *reg = NULL;
	enum hkms_rc rc;

	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = need_client(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "session.show", NULL, NULL, err);
	/* a principal of [server] admin_thumbprints has no registration */
	rc = hkms_store_get(c->store, CLIENT_KIND, c->principal->name, &reg,
	    NULL, err);
	if (rc != HKMS_OK && rc != HKMS_E_NOT_FOUND)
		return rc;
	*out = show_json(c->principal, reg, sess);
	json_decref(reg);
	return *out ? HKMS_OK : hkms_err_set(err, HKMS_E_NOMEM,
	    "out of memory");
}

/* Check code against the registration's seed under the data lock and
 * write the replay guard (with the write-ahead line of session.open). */
static enum hkms_rc
check_code(struct hkms_ops_ctx *c, const char *name, const char *code,
    json_t *d, char *totp_id, size_t idcap, struct hkms_err *err)
{
	struct hkms_secret *seed = NULL;
	json_t *reg = NULL, *ls;
	int64_t last = -1, step = 0;
	time_t now = time(NULL);
	enum hkms_rc rc;
	long wait;
	int r, locked = 0;

	/* the lockout is looked at under the data lock, which every code
	 * check of the client holds up to its count: parallel requests
	 * cannot all pass it before the first wrong code is counted */
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		return rc;
	locked = 1;
	if ((wait = hkms_session_table_locked(table(), name, now)) > 0) {
		rc = hkms_err_setc(err, HKMS_E_IN_USE, "totp_locked",
		    "client '%s' gave %d wrong codes in a row: try again in "
		    "%ld s", name, HKMS_TOTP_MAX_WRONG, wait);
		goto out;
	}
	if (code == NULL || code[0] == '\0') {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "totp_invalid",
		    "code is required: client '%s' requires a second factor",
		    name);
		goto out;
	}
	if ((rc = hkms_store_get(c->store, CLIENT_KIND, name, &reg, NULL,
	    err)) != HKMS_OK)
		goto out;
	if ((rc = ops_totp_unseal(c, name, reg, &seed, err)) != HKMS_OK)
		goto out;
	if (json_is_integer(ls = json_object_get(reg, "totp_last_step")))
		last = json_integer_value(ls);
	r = hkms_totp_check((const unsigned char *)hkms_secret_str(seed),
	    hkms_secret_len(seed), code, now, last, &step);
	hkms_secret_free(seed);
	hkms_session_table_tried(table(), name, now, r == 1);
	if (r == 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "totp_invalid",
		    "code is wrong for client '%s'", name);
		goto out;
	}
	if (r < 0) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "totp_replayed",
		    "code was already used for client '%s': wait for the "
		    "next one", name);
		goto out;
	}
	json_object_set_new(reg, "totp_last_step", json_integer(step));
	json_object_set_new(d, "second_factor", json_true());
	if ((rc = hkms_ops_audit_ahead(c, "session.open", name, d, err)) !=
	    HKMS_OK || (rc = hkms_store_put(c->store, CLIENT_KIND, name, reg,
	    NULL, err)) != HKMS_OK)
		goto out;
	snprintf(totp_id, idcap, "%s", json_string_value(json_object_get(reg,
	    "totp_id")) ? json_string_value(json_object_get(reg, "totp_id")) :
	    "");
out:
	if (locked)
		hkms_store_end(c->store);
	json_decref(reg);
	return rc;
}

enum hkms_rc
hkms_ops_session_open(struct hkms_ops_ctx *c, const char *code,
    struct hkms_ops_session *sess, json_t **out, struct hkms_err *err)
{
	const struct hkms_principal *p;
	json_t *d = NULL, *reg = NULL;
	char totp_id[33] = "";
	enum hkms_rc rc;
	int ttl;

	if (out == NULL || sess == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	memset(sess, 0, sizeof(*sess));
	if ((rc = need_client(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "session.open", NULL, NULL, err);
	p = c->principal;
	d = json_pack("{s:s,s:b}", "thumbprint", p->thumbprint,
	    "second_factor", 0);
	ttl = c->cfg && c->cfg->console_session_s > 0 ?
	    c->cfg->console_session_s : 900;
	if (p->require_2fa && (rc = check_code(c, p->name, code, d, totp_id,
	    sizeof(totp_id), err)) != HKMS_OK)
		goto out;
	if (!p->require_2fa) {
		/* no second factor asked: the session carries the
		 * registration's enrolment id all the same, so a later
		 * re-enrolment ends it too */
		if ((rc = hkms_store_get(c->store, CLIENT_KIND, p->name, &reg,
		    NULL, err)) != HKMS_OK)
			goto out;
		if (json_is_string(json_object_get(reg, "totp_id")))
			snprintf(totp_id, sizeof(totp_id), "%s",
			    json_string_value(json_object_get(reg,
			    "totp_id")));
		json_decref(reg);
		reg = NULL;
	}
	if ((rc = hkms_session_table_open(table(), p->name, p->thumbprint,
	    totp_id, time(NULL), ttl, sess, err)) != HKMS_OK)
		goto out;
	if (p->require_2fa)
		table_mark_2fa(table(), sess);
	if ((rc = hkms_store_get(c->store, CLIENT_KIND, p->name, &reg, NULL,
	    err)) != HKMS_OK)
		goto out;
	{
		struct hkms_principal q = *p;

		q.second_factor = 1;
		*out = show_json(&q, reg, sess);
	}
	if (*out == NULL)
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	rc = hkms_ops_audit(c, "session.open", p ? p->name : "", rc, err, d);
	if (rc != HKMS_OK) {
		if (sess->id[0] != '\0')
			hkms_session_table_close(table(), sess->id);
		OPENSSL_cleanse(sess, sizeof(*sess));
		json_decref(*out);
		*out = NULL;
	}
	json_decref(reg);
	json_decref(d);
	return rc;
}

enum hkms_rc
hkms_ops_session_close(struct hkms_ops_ctx *c, const char *id,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *d;
	int ended;

	if ((rc = need_client(c, err)) != HKMS_OK)
		return rc;
	OPS_AUTHORIZE(c, "session.close", NULL, NULL, err);
	ended = id != NULL && hkms_session_table_close(table(), id);
	d = json_pack("{s:b}", "ended", ended);
	rc = hkms_ops_audit(c, "session.close", c->principal->name, HKMS_OK,
	    err, d);
	json_decref(d);
	return rc;
}
