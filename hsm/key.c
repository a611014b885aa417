/*
 * Keys in the token: generation with an explicit template, listing with
 * attributes read back from the token, lookup by label or CKA_ID, deletion,
 * public keys, and signing through libp11-backed EVP_PKEYs.
 *
 * Raw Cryptoki calls go to the function list of the module libp11 loaded
 * (libp11 0.4.12 has no templated or EC key generation and no attribute
 * read-back). Objects are always found again by CKA_ID or label, never by a
 * handle kept across calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "hkms/util.h"
#include "hsm_int.h"

static const unsigned char oid_p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07 };
static const unsigned char oid_p384[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
    0x22 };
static const unsigned char oid_p521[] = { 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00,
    0x23 };

static const struct {
	enum hkms_key_type t;
	const char *name;
	int rsa;
	int bits;
	const unsigned char *oid;
	size_t oid_len;
	const char *group;
} key_types[] = {
	{ HKMS_KEY_RSA2048, "rsa:2048", 1, 2048, NULL, 0, NULL },
	{ HKMS_KEY_RSA3072, "rsa:3072", 1, 3072, NULL, 0, NULL },
	{ HKMS_KEY_RSA4096, "rsa:4096", 1, 4096, NULL, 0, NULL },
	{ HKMS_KEY_EC_P256, "ec:p256", 0, 256, oid_p256, sizeof(oid_p256),
	    "P-256" },
	{ HKMS_KEY_EC_P384, "ec:p384", 0, 384, oid_p384, sizeof(oid_p384),
	    "P-384" },
	{ HKMS_KEY_EC_P521, "ec:p521", 0, 521, oid_p521, sizeof(oid_p521),
	    "P-521" },
};
#define NTYPES (sizeof(key_types) / sizeof(key_types[0]))

static int
type_index(enum hkms_key_type t)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (key_types[i].t == t)
			return (int)i;
	return -1;
}

enum hkms_rc
hkms_hsm_key_type_parse(const char *s, enum hkms_key_type *out,
    struct hkms_err *err)
{
	size_t i;
	long bits;
	char *end;

	for (i = 0; s != NULL && i < NTYPES; i++) {
		if (strcasecmp(s, key_types[i].name) == 0) {
			*out = key_types[i].t;
			return HKMS_OK;
		}
	}
	if (s != NULL && strncasecmp(s, "rsa:", 4) == 0) {
		bits = strtol(s + 4, &end, 10);
		if (*end == '\0' && bits > 0 && bits < 2048)
			return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
			    "RSA keys below 2048 bits are refused (asked for "
			    "%ld)", bits);
	}
	return hkms_err_setc(err, HKMS_E_INVALID, "unknown_key_type",
	    "unknown key type '%s' (use rsa:2048, rsa:3072, rsa:4096, "
	    "ec:p256, ec:p384 or ec:p521)", s ? s : "");
}

const char *
hkms_hsm_key_type_name(enum hkms_key_type t)
{
	int i = type_index(t);

	return i < 0 ? "unknown" : key_types[i].name;
}

enum hkms_rc
hkms_hsm_key_id_new(unsigned char id[HKMS_KEY_ID_LEN], struct hkms_err *err)
{
	size_t np = strlen(HKMS_KEY_ID_PREFIX);

	memcpy(id, HKMS_KEY_ID_PREFIX, np);
	if (RAND_bytes(id + np, (int)(HKMS_KEY_ID_LEN - np)) != 1)
		return hkms_err_set(err, HKMS_E_CRYPTO, "no random bytes");
	return HKMS_OK;
}

int
hkms_hsm_key_id_ours(const unsigned char *id, size_t id_len)
{
	return id != NULL && id_len == HKMS_KEY_ID_LEN &&
	    memcmp(id, HKMS_KEY_ID_PREFIX, strlen(HKMS_KEY_ID_PREFIX)) == 0;
}

/* ---- object helpers (raw Cryptoki, under the read lock) ---- */

static CK_RV
find_objects(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl,
    CK_ULONG ntmpl, CK_OBJECT_HANDLE *objs, CK_ULONG cap, CK_ULONG *n)
{
	CK_RV rv;

	*n = 0;
	if ((rv = h->p11->C_FindObjectsInit(s, tmpl, ntmpl)) != CKR_OK)
		return rv;
	rv = h->p11->C_FindObjects(s, objs, cap, n);
	h->p11->C_FindObjectsFinal(s);
	return rv;
}

static CK_RV
get_attr(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *len)
{
	CK_ATTRIBUTE a = { type, buf, cap };
	CK_RV rv;

	rv = h->p11->C_GetAttributeValue(s, o, &a, 1);
	if (rv == CKR_OK && a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		rv = CKR_ATTRIBUTE_TYPE_INVALID;
	if (len != NULL)
		*len = a.ulValueLen;
	return rv;
}

static int
get_bool(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL b = CK_FALSE;

	if (get_attr(h, s, o, type, &b, sizeof(b), NULL) != CKR_OK)
		return -1;
	return b == CK_TRUE;
}

static void
uri_append(char *uri, size_t cap, const char *attr, const unsigned char *v,
    size_t len, int last)
{
	size_t n = strlen(uri), i;

	n += (size_t)snprintf(uri + n, n < cap ? cap - n : 0, "%s=", attr);
	for (i = 0; i < len && n + 4 < cap; i++) {
		unsigned char c = v[i];

		/* RFC 7512 pchar minus the attribute separators */
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~:[]@!$'()*+,=&", c))
			uri[n++] = (char)c;
		else
			n += (size_t)snprintf(uri + n, cap - n, "%%%02X", c);
	}
	uri[n] = '\0';
	if (!last && n + 1 < cap) {
		uri[n++] = ';';
		uri[n] = '\0';
	}
}

static void
make_uri(struct hkms_hsm *h, struct hkms_key_info *ki)
{
	char *u = ki->uri;
	size_t cap = sizeof(ki->uri), i;
	size_t n;

	snprintf(u, cap, "pkcs11:");
	uri_append(u, cap, "model", (unsigned char *)h->tok_model,
	    strlen(h->tok_model), 0);
	uri_append(u, cap, "manufacturer", (unsigned char *)h->tok_manuf,
	    strlen(h->tok_manuf), 0);
	uri_append(u, cap, "serial", (unsigned char *)h->tok_serial,
	    strlen(h->tok_serial), 0);
	uri_append(u, cap, "token", (unsigned char *)h->tok_label,
	    strlen(h->tok_label), 0);
	/* ids are always percent-encoded in full, as p11tool does */
	n = strlen(u);
	n += (size_t)snprintf(u + n, cap - n, "id=");
	for (i = 0; i < ki->id_len && n + 4 < cap; i++)
		n += (size_t)snprintf(u + n, cap - n, "%%%02X", ki->id[i]);
	if (n + 1 < cap) {
		u[n++] = ';';
		u[n] = '\0';
	}
	uri_append(u, cap, "object", (unsigned char *)ki->name,
	    strlen(ki->name), 0);
	n = strlen(u);
	snprintf(u + n, cap - n, "type=private");
}

/* Read a variable-length attribute into buf (cap bytes). A longer value
 * (a foreign object's 1000-byte label) is read in full into a scratch
 * buffer and cut to cap bytes, with *cut set, so it never fails a whole
 * listing. */
static CK_RV
get_attr_cut(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_ULONG *len, int *cut)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };
	unsigned char *tmp;
	CK_RV rv;

	*len = 0;
	if ((rv = h->p11->C_GetAttributeValue(s, o, &a, 1)) != CKR_OK)
		return rv;
	if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (a.ulValueLen <= cap)
		return get_attr(h, s, o, type, buf, cap, len);
	*cut = 1;
	if (a.ulValueLen > 65536)	/* absurd: keep nothing of it */
		return CKR_OK;
	if ((tmp = malloc(a.ulValueLen)) == NULL)
		return CKR_HOST_MEMORY;
	a.pValue = tmp;
	if ((rv = h->p11->C_GetAttributeValue(s, o, &a, 1)) == CKR_OK) {
		memcpy(buf, tmp, cap);
		*len = cap;
	}
	free(tmp);
	return rv;
}

/* Replace every byte of s that is not part of a valid UTF-8 sequence
 * (a Latin-1 label, a multi-byte character cut by the 127-byte bound)
 * with '?': a label is shown in JSON, which holds UTF-8 only. */
static void
utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n, i;
	unsigned lo, hi;

	while (*p != '\0') {
		lo = 0x80;
		hi = 0xbf;
		if (*p < 0x80)
			n = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			n = 2;
		else if (*p >= 0xe0 && *p <= 0xef) {
			n = 3;
			if (*p == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (*p == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 4;
			if (*p == 0xf0)
				lo = 0x90;
			else if (*p == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else
			n = 0;
		for (i = 1; n > 1 && i < n; i++)
			if (p[i] < (i == 1 ? lo : 0x80) ||
			    p[i] > (i == 1 ? hi : 0xbf))
				n = 0;
		if (n == 0) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

/* Fill ki from the private key object o. */
static CK_RV
read_key_info(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    struct hkms_key_info *ki)
{
	CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = 0;
	CK_OBJECT_HANDLE po;
	CK_ULONG len = 0, n = 0, mbits = 0;
	unsigned char buf[1024];
	CK_RV rv;
	size_t i;

	memset(ki, 0, sizeof(*ki));
	rv = get_attr_cut(h, s, o, CKA_LABEL, ki->name, sizeof(ki->name) - 1,
	    &len, &ki->truncated);
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return rv;
	ki->name[rv == CKR_OK ? len : 0] = '\0';
	/* a label is shown and put in URIs: no control bytes, no NULs */
	for (i = 0; ki->name[i] != '\0'; i++)
		if ((unsigned char)ki->name[i] < 0x20 || ki->name[i] == 0x7f)
			ki->name[i] = '?';
	utf8_clean(ki->name);
	if (rv == CKR_OK && memchr(ki->name, '\0', len) != NULL)
		ki->truncated = 1;
	rv = get_attr_cut(h, s, o, CKA_ID, ki->id, sizeof(ki->id), &len,
	    &ki->truncated);
	if (rv == CKR_OK)
		ki->id_len = len;
	else if (rv != CKR_ATTRIBUTE_TYPE_INVALID)
		return rv;
	hkms_hex(ki->id, ki->id_len, 0, ki->id_hex);
	ki->ours = !ki->truncated && hkms_hsm_key_id_ours(ki->id, ki->id_len);
	ki->sensitive = get_bool(h, s, o, CKA_SENSITIVE);
	ki->extractable = get_bool(h, s, o, CKA_EXTRACTABLE);
	ki->always_sensitive = get_bool(h, s, o, CKA_ALWAYS_SENSITIVE);
	ki->never_extractable = get_bool(h, s, o, CKA_NEVER_EXTRACTABLE);
	ki->is_private = get_bool(h, s, o, CKA_PRIVATE);
	ki->is_token = get_bool(h, s, o, CKA_TOKEN);
	ki->can_sign = get_bool(h, s, o, CKA_SIGN);
	ki->can_sign_recover = get_bool(h, s, o, CKA_SIGN_RECOVER);
	ki->can_decrypt = get_bool(h, s, o, CKA_DECRYPT);
	ki->can_unwrap = get_bool(h, s, o, CKA_UNWRAP);
	ki->can_derive = get_bool(h, s, o, CKA_DERIVE);
	ki->modifiable = get_bool(h, s, o, CKA_MODIFIABLE);
	ki->copyable = get_bool(h, s, o, CKA_COPYABLE);
	ki->destroyable = get_bool(h, s, o, CKA_DESTROYABLE);
	(void)get_attr(h, s, o, CKA_KEY_TYPE, &kt, sizeof(kt), NULL);

	/* the matching public key object (same id and label) gives the
	 * size; a cut label or id matches nothing exactly */
	if (!ki->truncated) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &pub, sizeof(pub) },
			{ CKA_ID, ki->id, ki->id_len },
			{ CKA_LABEL, ki->name, strlen(ki->name) },
		};
		if (find_objects(h, s, t, 3, &po, 1, &n) != CKR_OK)
			n = 0;
	}
	ki->has_public = n > 0;
	if (kt == CKK_RSA) {
		if (n > 0 && get_attr(h, s, po, CKA_MODULUS_BITS, &mbits,
		    sizeof(mbits), NULL) == CKR_OK)
			ki->bits = (int)mbits;
		else if (get_attr(h, s, n > 0 ? po : o, CKA_MODULUS, buf,
		    sizeof(buf), &len) == CKR_OK)
			ki->bits = (int)len * 8;
		for (i = 0; i < NTYPES; i++)
			if (key_types[i].rsa && key_types[i].bits == ki->bits)
				ki->type = key_types[i].t;
	} else if (kt == CKK_EC) {
		if (get_attr(h, s, o, CKA_EC_PARAMS, buf, sizeof(buf),
		    &len) == CKR_OK) {
			for (i = 0; i < NTYPES; i++)
				if (!key_types[i].rsa &&
				    key_types[i].oid_len == len &&
				    memcmp(key_types[i].oid, buf, len) == 0) {
					ki->type = key_types[i].t;
					ki->bits = key_types[i].bits;
				}
		}
	}
	make_uri(h, ki);
	return CKR_OK;
}

/* Parse a reference: "id:<hex>" selects by CKA_ID, anything else is a
 * label. */
struct keyref {
	const char *label;
	unsigned char id[64];
	size_t id_len;
};

static enum hkms_rc
ref_parse(const char *ref, struct keyref *kr, struct hkms_err *err)
{
	memset(kr, 0, sizeof(*kr));
	if (ref == NULL || *ref == '\0')
		return hkms_err_set(err, HKMS_E_INVALID, "no key name given");
	if (strncmp(ref, "id:", 3) == 0)
		return hkms_unhex(ref + 3, kr->id, sizeof(kr->id),
		    &kr->id_len, err);
	if (strlen(ref) >= sizeof(((struct hkms_key_info *)0)->name))
		return hkms_err_set(err, HKMS_E_INVALID, "key name too long");
	kr->label = ref;
	return HKMS_OK;
}

/* Find the private key object of kr; HKMS_E_NOT_FOUND if none. */
static enum hkms_rc
find_private(struct hkms_hsm *h, CK_SESSION_HANDLE s,
    const struct keyref *kr, CK_OBJECT_HANDLE *o, CK_RV *rv,
    struct hkms_err *err)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_OBJECT_HANDLE objs[2];
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ULONG n = 0;

	if (kr->label != NULL) {
		t[1].type = CKA_LABEL;
		t[1].pValue = (void *)kr->label;
		t[1].ulValueLen = strlen(kr->label);
	} else {
		t[1].type = CKA_ID;
		t[1].pValue = (void *)kr->id;
		t[1].ulValueLen = kr->id_len;
	}
	if ((*rv = find_objects(h, s, t, 2, objs, 2, &n)) != CKR_OK)
		return hkms_err_setc(err, HKMS_E_TOKEN, "token_find",
		    "cannot search token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
	if (n == 0)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "key_not_found",
		    "key '%s' not found in token '%s'",
		    kr->label ? kr->label : "(by id)", h->tok_label);
	if (n > 1)
		return hkms_err_setc(err, HKMS_E_INVALID, "key_ambiguous",
		    "more than one key named '%s' in token '%s'; use id:<hex>",
		    kr->label ? kr->label : "(by id)", h->tok_label);
	*o = objs[0];
	return HKMS_OK;
}

/* ---- find / list ---- */

struct find_arg {
	struct keyref kr;
	struct hkms_key_info *info;
};

static enum hkms_rc
find_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct find_arg *a = arg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o;
	enum hkms_rc rc;

	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	if ((rc = find_private(h, s, &a->kr, &o, rv, err)) == HKMS_OK &&
	    (*rv = read_key_info(h, s, o, a->info)) != CKR_OK)
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
		    "cannot read key attributes: %s", hsm_ckr_name(*rv));
	h->p11->C_CloseSession(s);
	return rc;
}

enum hkms_rc
hkms_hsm_key_find(struct hkms_hsm *h, const char *ref,
    struct hkms_key_info *info, struct hkms_err *err)
{
	struct find_arg a;
	enum hkms_rc rc;

	if (h == NULL || info == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ref_parse(ref, &a.kr, err)) != HKMS_OK)
		return rc;
	a.info = info;
	return hsm_run(h, find_op, &a, 1, err);
}

struct list_arg {
	struct hkms_key_info *out;
	size_t n;
};

static enum hkms_rc
list_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct list_arg *a = arg;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE *objs = NULL, *no;
	CK_SESSION_HANDLE s;
	CK_ULONG n = 0, got, cap = 0, i;
	enum hkms_rc rc;

	free(a->out);
	a->out = NULL;
	a->n = 0;
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	/* every private key, however many: C_FindObjects in chunks until
	 * it returns none (a shared token may hold thousands) */
	*rv = h->p11->C_FindObjectsInit(s, t, 1);
	for (got = 1; *rv == CKR_OK && got > 0; n += got) {
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if (cap > 1048576 || (no = realloc(objs,
			    cap * sizeof(*objs))) == NULL) {
				h->p11->C_FindObjectsFinal(s);
				rc = hkms_err_set(err, HKMS_E_NOMEM,
				    "out of memory");
				goto out;
			}
			objs = no;
		}
		got = 0;
		*rv = h->p11->C_FindObjects(s, objs + n, cap - n, &got);
	}
	if (*rv != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_find",
		    "cannot list keys of token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
		goto out;
	}
	h->p11->C_FindObjectsFinal(s);
	if ((a->out = calloc(n + 1, sizeof(*a->out))) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((*rv = read_key_info(h, s, objs[i], &a->out[a->n])) ==
		    CKR_OK) {
			a->n++;
			continue;
		}
		/* a lost session fails the listing (and is retried); one
		 * object we cannot read (another application's) is skipped */
		if (hsm_ckr_recoverable(*rv)) {
			rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
			    "cannot read key attributes: %s",
			    hsm_ckr_name(*rv));
			goto out;
		}
		*rv = CKR_OK;
	}
	rc = HKMS_OK;
out:
	free(objs);
	h->p11->C_CloseSession(s);
	return rc;
}

static int
info_cmp(const void *x, const void *y)
{
	return strcmp(((const struct hkms_key_info *)x)->name,
	    ((const struct hkms_key_info *)y)->name);
}

enum hkms_rc
hkms_hsm_key_list(struct hkms_hsm *h, struct hkms_key_info **out, size_t *n,
    struct hkms_err *err)
{
	struct list_arg a = { NULL, 0 };
	enum hkms_rc rc;

	if (h == NULL || out == NULL || n == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = hsm_run(h, list_op, &a, 1, err)) != HKMS_OK) {
		free(a.out);
		return rc;
	}
	qsort(a.out, a.n, sizeof(*a.out), info_cmp);
	*out = a.out;
	*n = a.n;
	return HKMS_OK;
}

/* ---- generate ---- */

struct gen_arg {
	const char *name;
	int ti;
	struct hkms_key_info *info;
	const unsigned char *id;
	size_t id_len;
};

static enum hkms_rc
check_mechanism(struct hkms_hsm *h, CK_MECHANISM_TYPE mech, int bits,
    const char *tname, CK_RV *rv, struct hkms_err *err)
{
	CK_MECHANISM_INFO mi;

	*rv = h->p11->C_GetMechanismInfo(h->slot_id, mech, &mi);
	if (*rv == CKR_MECHANISM_INVALID)
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED, "token_limit",
		    "token '%s' cannot generate %s keys (no such mechanism)",
		    h->tok_label, tname);
	if (*rv != CKR_OK)
		return hkms_err_setc(err, HKMS_E_TOKEN, "token_mechanism",
		    "cannot read mechanism info of token '%s': %s",
		    h->tok_label, hsm_ckr_name(*rv));
	if (!(mi.flags & CKF_GENERATE_KEY_PAIR))
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED, "token_limit",
		    "token '%s' cannot generate %s key pairs", h->tok_label,
		    tname);
	/* ulMaxKeySize 0 means "not stated" on some modules */
	if ((mi.ulMaxKeySize != 0 && (CK_ULONG)bits > mi.ulMaxKeySize) ||
	    (CK_ULONG)bits < mi.ulMinKeySize)
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED, "token_limit",
		    "token '%s' cannot generate %s keys: its key sizes are "
		    "%lu to %lu bits", h->tok_label, tname,
		    (unsigned long)mi.ulMinKeySize,
		    (unsigned long)mi.ulMaxKeySize);
	return HKMS_OK;
}

/* Destroy the private key, public key and certificate objects carrying
 * both this label and this CKA_ID; the number destroyed. Never an object
 * that shares only one of them. */
static CK_ULONG
destroy_exact(struct hkms_hsm *h, CK_SESSION_HANDLE s, const char *label,
    const unsigned char *id, size_t id_len)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY,
	    CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, id_len },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE objs[8];
	CK_ULONG n = 0, i, done = 0;
	size_t c;

	for (c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		cls = classes[c];
		if (find_objects(h, s, t, 3, objs, 8, &n) != CKR_OK)
			continue;
		for (i = 0; i < n; i++)
			if (h->p11->C_DestroyObject(s, objs[i]) == CKR_OK)
				done++;
	}
	return done;
}

/* A CK_RV by which a token may be refusing an attribute of our template
 * (rather than the request): worth one more try without it. */
static int
template_refused(CK_RV rv)
{
	return rv == CKR_GENERAL_ERROR || rv == CKR_TEMPLATE_INCONSISTENT ||
	    rv == CKR_ATTRIBUTE_VALUE_INVALID ||
	    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_READ_ONLY;
}

/*
 * The private key's restrictions beyond sensitivity, in the order they are
 * given up on a token that refuses them (docs/hsm.md): first asked all,
 * then without CKA_MODIFIABLE/CKA_COPYABLE = false, then without
 * CKA_DECRYPT/UNWRAP/DERIVE = false but with the first two, then without
 * both. Sensitivity, non-extractability and CKA_PRIVATE are never given
 * up. Each attempt starts after the objects the previous one may have left
 * under the new CKA_ID and label are destroyed.
 */
#define STAGES 4
static const struct { int usage, lock; } stages[STAGES] = {
	{ 1, 1 }, { 1, 0 }, { 0, 1 }, { 0, 0 },
};

static CK_BBOOL b_yes = CK_TRUE, b_no = CK_FALSE;

/* Append the restrictions of stage st to template t (n entries so far). */
static CK_ULONG
add_restrictions(CK_ATTRIBUTE *t, CK_ULONG n, int st)
{
	static const CK_ATTRIBUTE_TYPE usage[] = { CKA_DECRYPT, CKA_UNWRAP,
	    CKA_DERIVE, CKA_SIGN_RECOVER };
	static const CK_ATTRIBUTE_TYPE lock[] = { CKA_MODIFIABLE,
	    CKA_COPYABLE };
	size_t i;

	for (i = 0; stages[st].usage && i < 4; i++) {
		t[n].type = usage[i];
		t[n].pValue = &b_no;
		t[n++].ulValueLen = sizeof(b_no);
	}
	for (i = 0; stages[st].lock && i < 2; i++) {
		t[n].type = lock[i];
		t[n].pValue = &b_no;
		t[n++].ulValueLen = sizeof(b_no);
	}
	return n;
}

/*
 * Read back a key just made under name and id. Under SoftHSM2's file store
 * a process rewriting token.object can make the attributes of a new object
 * read as absent (CKR_ATTRIBUTE_TYPE_INVALID, taken for "no label, no id"):
 * a key that does not read back as the one asked for is an error, never a
 * key with an empty id in its record.
 */
static CK_RV
read_back(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    const char *name, const unsigned char *id, size_t id_len,
    struct hkms_key_info *ki)
{
	CK_RV rv = read_key_info(h, s, o, ki);

	if (rv == CKR_OK && (ki->truncated || strcmp(ki->name, name) != 0 ||
	    ki->id_len != id_len || memcmp(ki->id, id, id_len) != 0))
		rv = CKR_GENERAL_ERROR;
	return rv;
}

static enum hkms_rc
gen_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct gen_arg *a = arg;
	int rsa = key_types[a->ti].rsa;
	CK_ULONG bits = (CK_ULONG)key_types[a->ti].bits;
	CK_BYTE exp[] = { 0x01, 0x00, 0x01 };
	CK_MECHANISM mech = { rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN :
	    CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub = 0, priv = 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	size_t nlab = strlen(a->name);
	struct keyref kr;
	CK_OBJECT_HANDLE dummy;
	enum hkms_rc rc;
	CK_ULONG npub, npriv;
	int st;

	CK_ATTRIBUTE pubt[] = {
		{ CKA_TOKEN, &b_yes, sizeof(b_yes) },
		{ CKA_PRIVATE, &b_no, sizeof(b_no) },
		{ CKA_VERIFY, &b_yes, sizeof(b_yes) },
		{ CKA_LABEL, (void *)a->name, nlab },
		{ CKA_ID, (void *)a->id, a->id_len },
		{ 0, NULL, 0 },	/* modulus bits or EC params */
		{ CKA_PUBLIC_EXPONENT, exp, sizeof(exp) },	/* RSA only */
	};
	CK_ATTRIBUTE privt[16] = {
		{ CKA_TOKEN, &b_yes, sizeof(b_yes) },
		{ CKA_PRIVATE, &b_yes, sizeof(b_yes) },
		{ CKA_SENSITIVE, &b_yes, sizeof(b_yes) },
		{ CKA_EXTRACTABLE, &b_no, sizeof(b_no) },
		{ CKA_SIGN, &b_yes, sizeof(b_yes) },
		{ CKA_LABEL, (void *)a->name, nlab },
		{ CKA_ID, (void *)a->id, a->id_len },
	};
	const CK_ULONG nbase = 7;

	if (rsa) {
		pubt[5].type = CKA_MODULUS_BITS;
		pubt[5].pValue = &bits;
		pubt[5].ulValueLen = sizeof(bits);
		npub = 7;
	} else {
		pubt[5].type = CKA_EC_PARAMS;
		pubt[5].pValue = (void *)key_types[a->ti].oid;
		pubt[5].ulValueLen = key_types[a->ti].oid_len;
		npub = 6;
	}
	if ((rc = check_mechanism(h, mech.mechanism, key_types[a->ti].bits,
	    key_types[a->ti].name, rv, err)) != HKMS_OK)
		return rc;
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	memset(&kr, 0, sizeof(kr));
	kr.label = a->name;
	rc = find_private(h, s, &kr, &dummy, rv, err);
	if (rc == HKMS_OK || rc == HKMS_E_INVALID) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
		    "a key named '%s' exists already in token '%s'", a->name,
		    h->tok_label);
		goto out;
	}
	if (rc != HKMS_E_NOT_FOUND)
		goto out;
	for (st = 0; st < STAGES; st++) {
		/* Not a blind retry: some tokens (tpm2-pkcs11 makes every
		 * key sign+decrypt) refuse a restriction. Remove anything the
		 * attempt before may have left under this id and label, then
		 * ask again with fewer restrictions; the key's real usages
		 * are read back and shown. */
		if (st > 0)
			destroy_exact(h, s, a->name, a->id, a->id_len);
		npriv = add_restrictions(privt, nbase, st);
		*rv = h->p11->C_GenerateKeyPair(s, &mech, pubt, npub, privt,
		    npriv, &pub, &priv);
		if (!template_refused(*rv))
			break;
	}
	if (*rv != CKR_OK) {
		/* Never retried blindly: remove whatever half of the pair
		 * the token may have made under our fresh CKA_ID. */
		destroy_exact(h, s, a->name, a->id, a->id_len);
		if (*rv == CKR_KEY_SIZE_RANGE ||
		    *rv == CKR_ATTRIBUTE_VALUE_INVALID ||
		    *rv == CKR_MECHANISM_INVALID)
			rc = hkms_err_setc(err, HKMS_E_UNSUPPORTED,
			    "token_limit", "cannot generate %s key '%s' in "
			    "token '%s': %s", key_types[a->ti].name, a->name,
			    h->tok_label, hsm_ckr_name(*rv));
		else
			rc = hkms_err_setc(err, HKMS_E_TOKEN, "keygen_failed",
			    "cannot generate %s key '%s' in token '%s': %s",
			    key_types[a->ti].name, a->name, h->tok_label,
			    hsm_ckr_name(*rv));
		goto out;
	}
	if ((*rv = read_back(h, s, priv, a->name, a->id, a->id_len,
	    a->info)) != CKR_OK) {
		/* a key we cannot describe must not stay behind */
		destroy_exact(h, s, a->name, a->id, a->id_len);
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
		    "cannot read back key '%s' (destroyed it): %s", a->name,
		    hsm_ckr_name(*rv));
		goto out;
	}
	rc = HKMS_OK;
out:
	h->p11->C_CloseSession(s);
	return rc;
}

enum hkms_rc
hkms_hsm_key_generate_id(struct hkms_hsm *h, const char *name,
    enum hkms_key_type type, const unsigned char *id, size_t id_len,
    struct hkms_key_info *info, struct hkms_err *err)
{
	struct gen_arg a = { name, type_index(type), info, id, id_len };
	enum hkms_rc rc;

	if (h == NULL || info == NULL || a.ti < 0)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid key type");
	if (id == NULL || id_len == 0 || id_len > sizeof(info->id))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid key id");
	if (!hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid key name '%s' (1-64 of A-Z a-z 0-9 . _ -)",
		    name ? name : "");
	/* no retry: key generation is not idempotent */
	pthread_mutex_lock(&h->obj_mu);
	rc = hsm_run_excl(h, gen_op, &a, 0, err);
	pthread_mutex_unlock(&h->obj_mu);
	return rc;
}

enum hkms_rc
hkms_hsm_key_generate(struct hkms_hsm *h, const char *name,
    enum hkms_key_type type, struct hkms_key_info *info,
    struct hkms_err *err)
{
	unsigned char id[HKMS_KEY_ID_LEN];
	enum hkms_rc rc;

	if ((rc = hkms_hsm_key_id_new(id, err)) != HKMS_OK)
		return rc;
	return hkms_hsm_key_generate_id(h, name, type, id, sizeof(id), info,
	    err);
}

/* ---- delete ---- */

static void
cache_forget(struct hkms_hsm *h, const char *label, const unsigned char *id,
    size_t id_len)
{
	size_t i = 0;

	pthread_mutex_lock(&h->mu);
	while (i < h->ncache) {
		if (h->cache[i].id_len == id_len &&
		    memcmp(h->cache[i].id, id, id_len) == 0 &&
		    strcmp(h->cache[i].label, label) == 0) {
			EVP_PKEY_free(h->cache[i].priv);
			h->cache[i] = h->cache[--h->ncache];
		} else
			i++;
	}
	pthread_mutex_unlock(&h->mu);
}

#ifdef HKMS_TEST_HOOKS
/* Test builds only: HKMS_TEST_CRASH_AT=<point> ends the process there
 * like a crash (tests/e2e/attack_custody.sh). */
static void
test_crash(const char *point)
{
	const char *v = getenv("HKMS_TEST_CRASH_AT");

	if (v != NULL && strcmp(v, point) == 0)
		_exit(137);
}
#endif

/* Count the objects of class cls with this id and label (up to cap). */
static CK_RV
count_exact(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
    const struct hkms_key_info *ki, CK_OBJECT_HANDLE *objs, CK_ULONG cap,
    CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)ki->id, ki->id_len },
		{ CKA_LABEL, (void *)ki->name, strlen(ki->name) },
	};

	return find_objects(h, s, t, 3, objs, cap, n);
}

static enum hkms_rc
delete_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct find_arg *a = arg;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o, pubs[2], certs[2], privs[2];
	CK_ULONG npub = 0, ncert = 0, npriv = 0, i;
	enum hkms_rc rc;

	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	if ((rc = find_private(h, s, &a->kr, &o, rv, err)) != HKMS_OK)
		goto out;
	if ((*rv = read_key_info(h, s, o, a->info)) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
		    "cannot read key attributes: %s", hsm_ckr_name(*rv));
		goto out;
	}
	if (a->info->truncated) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_ambiguous",
		    "the key's label or id is too long to match it exactly; "
		    "delete it with the tool that made it");
		goto out;
	}
	/* Exactly our pair: the objects carrying both the id and the label.
	 * Another application's key that shares only the CKA_ID (the
	 * pkcs11-tool --id 01 habit) or only the label is left alone; two
	 * candidates for one part means we cannot tell which is ours. */
	if ((*rv = count_exact(h, s, CKO_PRIVATE_KEY, a->info, privs, 2,
	    &npriv)) != CKR_OK || (*rv = count_exact(h, s, CKO_PUBLIC_KEY,
	    a->info, pubs, 2, &npub)) != CKR_OK || (*rv = count_exact(h, s,
	    CKO_CERTIFICATE, a->info, certs, 2, &ncert)) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_find",
		    "cannot search token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
		goto out;
	}
	if (npriv != 1 || npub > 1 || ncert > 1) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "key_ambiguous",
		    "key '%s' (id %s) is not one key pair in token '%s': "
		    "%lu private, %lu public key and %lu certificate objects "
		    "share its label and id; nothing was deleted",
		    a->info->name, a->info->id_hex, h->tok_label,
		    (unsigned long)npriv, (unsigned long)npub,
		    (unsigned long)ncert);
		goto out;
	}
	/* The private key goes last: it is what finds the pair by name, so
	 * a delete interrupted half-way (kill -9) leaves a key that a retry
	 * of `key delete` finds and finishes, never a public key or
	 * certificate object that nothing names any more. */
	for (i = 0; i < ncert; i++)
		if ((*rv = h->p11->C_DestroyObject(s, certs[i])) != CKR_OK)
			break;
	for (i = 0; *rv == CKR_OK && i < npub; i++) {
		*rv = h->p11->C_DestroyObject(s, pubs[i]);
#ifdef HKMS_TEST_HOOKS
		test_crash("key_delete_partial");
#endif
	}
	if (*rv != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_delete",
		    "cannot delete the public key or certificate object of "
		    "'%s' (the private key is kept; run the delete again): %s",
		    a->info->name, hsm_ckr_name(*rv));
		goto out;
	}
	if ((*rv = h->p11->C_DestroyObject(s, o)) != CKR_OK) {
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_delete",
		    "cannot delete key '%s': %s", a->info->name,
		    hsm_ckr_name(*rv));
		goto out;
	}
	cache_forget(h, a->info->name, a->info->id, a->info->id_len);
	rc = HKMS_OK;
out:
	h->p11->C_CloseSession(s);
	return rc;
}

enum hkms_rc
hkms_hsm_key_delete(struct hkms_hsm *h, const char *ref, struct hkms_err *err)
{
	struct hkms_key_info info;
	struct find_arg a;
	enum hkms_rc rc;

	if (h == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ref_parse(ref, &a.kr, err)) != HKMS_OK)
		return rc;
	a.info = &info;
	pthread_mutex_lock(&h->obj_mu);
	rc = hsm_run_excl(h, delete_op, &a, 1, err);
	pthread_mutex_unlock(&h->obj_mu);
	return rc;
}

struct exact_arg {
	const char *name;
	const unsigned char *id;
	size_t id_len;
};

static enum hkms_rc
exact_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct exact_arg *a = arg;
	CK_SESSION_HANDLE s;
	CK_ULONG n;
	enum hkms_rc rc;

	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	n = destroy_exact(h, s, a->name, a->id, a->id_len);
	cache_forget(h, a->name, a->id, a->id_len);
	h->p11->C_CloseSession(s);
	if (n == 0)
		return hkms_err_setc(err, HKMS_E_NOT_FOUND, "key_not_found",
		    "no object named '%s' with that id in token '%s'",
		    a->name, h->tok_label);
	return HKMS_OK;
}

enum hkms_rc
hkms_hsm_key_destroy_exact(struct hkms_hsm *h, const char *name,
    const unsigned char *id, size_t id_len, struct hkms_err *err)
{
	struct exact_arg a = { name, id, id_len };
	enum hkms_rc rc;

	if (h == NULL || name == NULL || id == NULL || id_len == 0)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	pthread_mutex_lock(&h->obj_mu);
	rc = hsm_run_excl(h, exact_op, &a, 1, err);
	pthread_mutex_unlock(&h->obj_mu);
	return rc;
}

/* ---- keys bound to the token (libp11) ---- */

/* The cached libp11 EVP_PKEY for the key ref, looked up by CKA_ID. Valid
 * while the caller holds the read lock. */
static enum hkms_rc
token_pkey(struct hkms_hsm *h, const struct keyref *kr, EVP_PKEY **out,
    CK_RV *rv, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_key_info info;
	struct find_arg fa;
	PKCS11_KEY *keys = NULL;
	unsigned int nkeys = 0, i;
	struct key_cache *kc;
	size_t k;

	pthread_mutex_lock(&h->mu);
	for (k = 0; k < h->ncache; k++) {
		kc = &h->cache[k];
		if ((kr->label != NULL && strcmp(kc->label, kr->label) == 0) ||
		    (kr->label == NULL && kc->id_len == kr->id_len &&
		    memcmp(kc->id, kr->id, kr->id_len) == 0)) {
			*out = kc->priv;
			pthread_mutex_unlock(&h->mu);
			return HKMS_OK;
		}
	}
	pthread_mutex_unlock(&h->mu);

	/* resolve the name to its CKA_ID first (raw, exact) */
	fa.kr = *kr;
	fa.info = &info;
	if ((rc = find_op(h, &fa, rv, err)) != HKMS_OK)
		return rc;
	if (info.id_len == 0)
		return hkms_err_setc(err, HKMS_E_INVALID, "key_without_id",
		    "key '%s' has no CKA_ID", info.name);

	pthread_mutex_lock(&h->mu);
	if (PKCS11_enumerate_keys(h->slot->token, &keys, &nkeys) != 0) {
		*rv = hsm_ckr_from_queue();
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_find",
		    "cannot enumerate keys of token '%s': %s", h->tok_label,
		    hsm_ckr_name(*rv));
		goto out;
	}
	/* id and label: a foreign key may share the CKA_ID */
	for (i = 0; i < nkeys; i++)
		if (keys[i].isPrivate && keys[i].id_len == info.id_len &&
		    memcmp(keys[i].id, info.id, info.id_len) == 0 &&
		    strcmp(keys[i].label ? keys[i].label : "",
		    info.name) == 0)
			break;
	if (i == nkeys) {
		*rv = CKR_OBJECT_HANDLE_INVALID;	/* raced a change */
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "key_not_found",
		    "key '%s' not found by libp11", info.name);
		goto out;
	}
	kc = realloc(h->cache, (h->ncache + 1) * sizeof(*h->cache));
	if (kc == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	h->cache = kc;
	kc = &h->cache[h->ncache];
	memset(kc, 0, sizeof(*kc));
	if ((kc->priv = PKCS11_get_private_key(&keys[i])) == NULL) {
		*rv = hsm_ckr_from_queue();
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_key",
		    "cannot use key '%s': %s", info.name, hsm_ckr_name(*rv));
		goto out;
	}
	snprintf(kc->label, sizeof(kc->label), "%s", info.name);
	memcpy(kc->id, info.id, info.id_len);
	kc->id_len = info.id_len;
	h->ncache++;
	*out = kc->priv;
	rc = HKMS_OK;
out:
	pthread_mutex_unlock(&h->mu);
	return rc;
}

struct with_arg {
	struct keyref kr;
	enum hkms_rc (*fn)(EVP_PKEY *, void *, struct hkms_err *);
	void *arg;
};

static enum hkms_rc
with_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct with_arg *a = arg;
	EVP_PKEY *pk = NULL;
	enum hkms_rc rc;

	if ((rc = token_pkey(h, &a->kr, &pk, rv, err)) != HKMS_OK)
		return rc;
	ERR_clear_error();
	(void)hkms_err_take_watched();
	if ((rc = a->fn(pk, a->arg, err)) != HKMS_OK) {
		/* The CK_RV is gone from the queue by now; a failure of a
		 * signature through a healthy key is rare, so treat any
		 * crypto or token failure as "context may be stale":
		 * the caller's operation is idempotent. */
		unsigned long ckr = hkms_err_take_watched();

		if (rc == HKMS_E_CRYPTO || rc == HKMS_E_TOKEN ||
		    rc == HKMS_E_TOKEN_DOWN)
			*rv = CKR_GENERAL_ERROR;
		/* the CK_RV libp11 pushed under the callback's error, kept
		 * by hkms_err_crypto: a token that is down says so */
		if (rc == HKMS_E_CRYPTO && ckr != 0) {
			*rv = (CK_RV)ckr;
			if (hsm_ckr_token_down(*rv))
				rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN,
				    "token_unavailable", "cannot sign in token "
				    "'%s': %s", h->tok_label,
				    hsm_ckr_name(*rv));
		}
	}
	return rc;
}

enum hkms_rc
hkms_hsm_with_key(struct hkms_hsm *h, const char *ref,
    enum hkms_rc (*fn)(EVP_PKEY *key, void *arg, struct hkms_err *err),
    void *arg, struct hkms_err *err)
{
	struct with_arg a;
	enum hkms_rc rc;

	if (h == NULL || fn == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = ref_parse(ref, &a.kr, err)) != HKMS_OK)
		return rc;
	a.fn = fn;
	a.arg = arg;
	return hsm_run(h, with_op, &a, 1, err);
}

struct sign_arg {
	const EVP_MD *md;
	const unsigned char *dgst;
	size_t dlen;
	unsigned char *sig;
	size_t *siglen;
};

static enum hkms_rc
sign_fn(EVP_PKEY *pk, void *arg, struct hkms_err *err)
{
	struct sign_arg *a = arg;
	EVP_PKEY_CTX *pctx = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	size_t len = *a->siglen;

	if ((pctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, a->md) <= 0 ||
	    (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_sign(pctx, a->sig, &len, a->dgst, a->dlen) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign in the token");
		goto out;
	}
	*a->siglen = len;
	rc = HKMS_OK;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

enum hkms_rc
hkms_hsm_sign_digest(struct hkms_hsm *h, const char *ref, const EVP_MD *md,
    const unsigned char *dgst, size_t dlen, unsigned char *sig,
    size_t *siglen, struct hkms_err *err)
{
	struct sign_arg a = { md, dgst, dlen, sig, siglen };

	if (md == NULL || dgst == NULL || sig == NULL || siglen == NULL ||
	    (int)dlen != EVP_MD_get_size(md))
		return hkms_err_set(err, HKMS_E_INVALID,
		    "digest length does not match the digest algorithm");
	return hkms_hsm_with_key(h, ref, sign_fn, &a, err);
}

/* ---- TLS handshake signatures ---- */

struct tls_sign_arg {
	enum hkms_sign_scheme scheme;
	const EVP_MD *md;
	const unsigned char *in;
	size_t inlen;
	unsigned char *sig;
	size_t *siglen;
};

static enum hkms_rc
tls_sign_fn(EVP_PKEY *pk, void *arg, struct hkms_err *err)
{
	struct tls_sign_arg *a = arg;
	EVP_PKEY_CTX *pctx = NULL;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	size_t len = *a->siglen;
	int rsa = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA;
	int ok;

	if (rsa != (a->scheme != HKMS_SIGN_ECDSA))
		return hkms_err_set(err, HKMS_E_INVALID,
		    "the signature scheme does not fit the key type");
	if ((pctx = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pctx) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign in the token");
		goto out;
	}
	switch (a->scheme) {
	case HKMS_SIGN_ECDSA:
		ok = EVP_PKEY_CTX_set_signature_md(pctx, a->md) > 0;
		break;
	case HKMS_SIGN_RSA_PKCS1:
		/* the DigestInfo of md is added before the padding */
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, a->md) > 0;
		break;
	case HKMS_SIGN_RSA_PSS:
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_signature_md(pctx, a->md) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md) > 0 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    RSA_PSS_SALTLEN_DIGEST) > 0;
		break;
	default:
		ok = 0;
	}
	if (!ok || EVP_PKEY_sign(pctx, a->sig, &len, a->in, a->inlen) <= 0) {
		rc = hkms_err_crypto(err, "cannot sign in the token");
		goto out;
	}
	*a->siglen = len;
	rc = HKMS_OK;
out:
	EVP_PKEY_CTX_free(pctx);
	return rc;
}

enum hkms_rc
hkms_hsm_sign(struct hkms_hsm *h, const char *ref,
    enum hkms_sign_scheme scheme, const EVP_MD *md, const unsigned char *in,
    size_t inlen, unsigned char *sig, size_t *siglen, struct hkms_err *err)
{
	struct tls_sign_arg a = { scheme, md, in, inlen, sig, siglen };

	if (in == NULL || sig == NULL || siglen == NULL || md == NULL ||
	    (int)inlen != EVP_MD_get_size(md))
		return hkms_err_set(err, HKMS_E_INVALID,
		    "digest length does not match the digest algorithm");
	return hkms_hsm_with_key(h, ref, tls_sign_fn, &a, err);
}

/* ---- public key ---- */

static enum hkms_rc
public_fn(EVP_PKEY *pk, void *arg, struct hkms_err *err)
{
	EVP_PKEY **out = arg;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	/* a plain copy through DER, detached from the token object */
	if ((len = i2d_PUBKEY(pk, &der)) <= 0)
		return hkms_err_crypto(err, "cannot encode public key");
	p = der;
	*out = d2i_PUBKEY(NULL, &p, len);
	OPENSSL_free(der);
	if (*out == NULL)
		return hkms_err_crypto(err, "cannot decode public key");
	return HKMS_OK;
}

static int
bits_of_group(const char *group)
{
	size_t i;

	for (i = 0; i < NTYPES; i++)
		if (key_types[i].group != NULL &&
		    strcmp(key_types[i].group, group) == 0)
			return key_types[i].bits;
	return 0;
}

/* Build a software public key from the token's attributes: CKA_MODULUS and
 * CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS and CKA_EC_POINT (a DER OCTET
 * STRING, or the bare point on some modules). Read from the public key
 * object, else from the private one. Independent of libp11, whose 0.4.12
 * EC code fails on some modules' P-521 points. */
static enum hkms_rc
public_raw(struct hkms_hsm *h, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
    EVP_PKEY **out, CK_RV *rv, struct hkms_err *err)
{
	unsigned char a[1100], b[1100];
	CK_ULONG alen = 0, blen = 0;
	CK_KEY_TYPE kt = 0;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const unsigned char *pt = b;
	size_t ptlen, i;
	enum hkms_rc rc = HKMS_E_TOKEN;
	const char *group = NULL;

	if ((*rv = get_attr(h, s, o, CKA_KEY_TYPE, &kt, sizeof(kt),
	    NULL)) != CKR_OK)
		goto bad;
	bld = OSSL_PARAM_BLD_new();
	if (kt == CKK_RSA) {
		if ((*rv = get_attr(h, s, o, CKA_MODULUS, a, sizeof(a),
		    &alen)) != CKR_OK || (*rv = get_attr(h, s, o,
		    CKA_PUBLIC_EXPONENT, b, sizeof(b), &blen)) != CKR_OK)
			goto bad;
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		if (bld == NULL || n == NULL || e == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto crypto;
	} else if (kt == CKK_EC) {
		if ((*rv = get_attr(h, s, o, CKA_EC_PARAMS, a, sizeof(a),
		    &alen)) != CKR_OK || (*rv = get_attr(h, s, o,
		    CKA_EC_POINT, b, sizeof(b), &blen)) != CKR_OK)
			goto bad;
		for (i = 0; i < NTYPES; i++)
			if (!key_types[i].rsa && key_types[i].oid_len == alen &&
			    memcmp(key_types[i].oid, a, alen) == 0)
				group = key_types[i].group;
		if (group == NULL) {
			rc = hkms_err_setc(err, HKMS_E_UNSUPPORTED,
			    "unknown_curve", "key uses an EC curve hkms does "
			    "not support");
			goto out;
		}
		/* CKA_EC_POINT is a DER OCTET STRING of the uncompressed
		 * point; some modules give the bare point, and tpm2-pkcs11
		 * 1.9 writes P-521's length 133 as the single byte 0x85.
		 * The point's size is known from the curve: strip whatever
		 * header precedes it. */
		ptlen = 1 + 2 * (((size_t)bits_of_group(group) + 7) / 8);
		if (blen < ptlen || blen > ptlen + 3 || b[blen - ptlen] != 0x04) {
			rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
			    "the token's EC point has an unexpected encoding");
			goto out;
		}
		pt = b + (blen - ptlen);
		if (bld == NULL || !OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen))
			goto crypto;
	} else {
		rc = hkms_err_setc(err, HKMS_E_UNSUPPORTED,
		    "unsupported_key_type",
		    "key is neither RSA nor EC");
		goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, kt == CKK_RSA ? "RSA" :
	    "EC", NULL)) == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
	    EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto crypto;
	rc = HKMS_OK;
	goto out;
bad:
	if (hsm_ckr_recoverable(*rv))
		rc = hkms_err_setc(err, HKMS_E_TOKEN_DOWN, "token_unavailable",
		    "cannot read the public key: %s", hsm_ckr_name(*rv));
	else
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
		    "cannot read the public key: %s", hsm_ckr_name(*rv));
	goto out;
crypto:
	rc = hkms_err_crypto(err, "cannot build the public key");
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(pctx);
	BN_free(n);
	BN_free(e);
	return rc;
}

struct pub_arg {
	struct keyref kr;
	EVP_PKEY **out;
};

static enum hkms_rc
public_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct pub_arg *a = arg;
	CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY;
	struct hkms_key_info ki;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE o, po;
	CK_ULONG n = 0;
	enum hkms_rc rc;

	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		return rc;
	if ((rc = find_private(h, s, &a->kr, &o, rv, err)) != HKMS_OK)
		goto out;
	if ((*rv = get_attr(h, s, o, CKA_ID, ki.id, sizeof(ki.id),
	    &n)) == CKR_OK && n > 0) {
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &pub, sizeof(pub) },
			{ CKA_ID, ki.id, n },
		};
		CK_ULONG found = 0;

		if (find_objects(h, s, t, 2, &po, 1, &found) == CKR_OK &&
		    found == 1)
			o = po;
	}
	rc = public_raw(h, s, o, a->out, rv, err);
out:
	h->p11->C_CloseSession(s);
	return rc;
}

enum hkms_rc
hkms_hsm_key_public(struct hkms_hsm *h, const char *ref, EVP_PKEY **out,
    struct hkms_err *err)
{
	struct pub_arg a;
	enum hkms_rc rc;

	if (h == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	*out = NULL;
	if ((rc = ref_parse(ref, &a.kr, err)) != HKMS_OK)
		return rc;
	a.out = out;
	if ((rc = hsm_run(h, public_op, &a, 1, err)) == HKMS_OK)
		return HKMS_OK;
	/* a module whose attributes we cannot read: ask libp11 */
	if (rc == HKMS_E_NOT_FOUND || rc == HKMS_E_TOKEN_DOWN ||
	    rc == HKMS_E_PIN)
		return rc;
	return hkms_hsm_with_key(h, ref, public_fn, out, err);
}

/* ---- import ---- */

#define BN_MAX 1024	/* bytes: RSA-8192 */

struct bnbuf {
	const char *param;
	CK_ATTRIBUTE_TYPE type;
	unsigned char buf[BN_MAX];
	CK_ULONG len;
};

struct import_arg {
	const char *name;
	EVP_PKEY *priv;
	struct hkms_key_info *info;
	const unsigned char *id;
	size_t id_len;
};

static int
bn_param(EVP_PKEY *pk, struct bnbuf *b)
{
	BIGNUM *bn = NULL;
	int n;

	if (!EVP_PKEY_get_bn_param(pk, b->param, &bn))
		return 0;
	n = BN_num_bytes(bn);
	if (n <= 0 || n > BN_MAX || BN_bn2bin(bn, b->buf) != n) {
		BN_clear_free(bn);
		return 0;
	}
	b->len = (CK_ULONG)n;
	BN_clear_free(bn);
	return 1;
}

/* DER length of n bytes at p; the bytes used (1 or 2, n < 256). */
static size_t
der_len(unsigned char *p, size_t n)
{
	if (n < 128) {
		p[0] = (unsigned char)n;
		return 1;
	}
	p[0] = 0x81;
	p[1] = (unsigned char)n;
	return 2;
}

static enum hkms_rc
import_op(struct hkms_hsm *h, void *arg, CK_RV *rv, struct hkms_err *err)
{
	struct import_arg *a = arg;
	CK_OBJECT_CLASS cpriv = CKO_PRIVATE_KEY, cpub = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_OBJECT_HANDLE po = 0, ko = 0;
	CK_ATTRIBUTE privt[32], pubt[16];
	CK_ULONG np = 0, nq = 0, npriv;
	struct bnbuf *bn = NULL;
	unsigned char point[200], ecpt[210];
	size_t nlab = strlen(a->name), plen = 0, want, hl, i;
	char group[64];
	const unsigned char *oid = NULL;
	size_t oid_len = 0;
	int ti = -1, st;
	struct keyref kr;
	CK_OBJECT_HANDLE dummy;
	enum hkms_rc rc = HKMS_E_INTERNAL;
	int rsa = EVP_PKEY_get_base_id(a->priv) == EVP_PKEY_RSA;
	static const struct { const char *p; CK_ATTRIBUTE_TYPE t; } rsap[] = {
		{ OSSL_PKEY_PARAM_RSA_N, CKA_MODULUS },
		{ OSSL_PKEY_PARAM_RSA_E, CKA_PUBLIC_EXPONENT },
		{ OSSL_PKEY_PARAM_RSA_D, CKA_PRIVATE_EXPONENT },
		{ OSSL_PKEY_PARAM_RSA_FACTOR1, CKA_PRIME_1 },
		{ OSSL_PKEY_PARAM_RSA_FACTOR2, CKA_PRIME_2 },
		{ OSSL_PKEY_PARAM_RSA_EXPONENT1, CKA_EXPONENT_1 },
		{ OSSL_PKEY_PARAM_RSA_EXPONENT2, CKA_EXPONENT_2 },
		{ OSSL_PKEY_PARAM_RSA_COEFFICIENT1, CKA_COEFFICIENT },
	};

#define ADD(t, n, ty, p, l) do { t[n].type = (ty); t[n].pValue = (void *)(p); \
	t[n].ulValueLen = (l); n++; } while (0)
	if ((bn = calloc(8, sizeof(*bn))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	kt = rsa ? CKK_RSA : CKK_EC;
	ADD(privt, np, CKA_CLASS, &cpriv, sizeof(cpriv));
	ADD(privt, np, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(privt, np, CKA_TOKEN, &b_yes, sizeof(b_yes));
	ADD(privt, np, CKA_PRIVATE, &b_yes, sizeof(b_yes));
	ADD(privt, np, CKA_SENSITIVE, &b_yes, sizeof(b_yes));
	ADD(privt, np, CKA_EXTRACTABLE, &b_no, sizeof(b_no));
	ADD(privt, np, CKA_SIGN, &b_yes, sizeof(b_yes));
	ADD(privt, np, CKA_LABEL, a->name, nlab);
	ADD(privt, np, CKA_ID, a->id, a->id_len);
	ADD(pubt, nq, CKA_CLASS, &cpub, sizeof(cpub));
	ADD(pubt, nq, CKA_KEY_TYPE, &kt, sizeof(kt));
	ADD(pubt, nq, CKA_TOKEN, &b_yes, sizeof(b_yes));
	ADD(pubt, nq, CKA_PRIVATE, &b_no, sizeof(b_no));
	ADD(pubt, nq, CKA_VERIFY, &b_yes, sizeof(b_yes));
	ADD(pubt, nq, CKA_LABEL, a->name, nlab);
	ADD(pubt, nq, CKA_ID, a->id, a->id_len);
	if (rsa) {
		for (i = 0; i < 8; i++) {
			bn[i].param = rsap[i].p;
			bn[i].type = rsap[i].t;
			if (!bn_param(a->priv, &bn[i])) {
				rc = hkms_err_setc(err, HKMS_E_INVALID,
				    "bad_key", "the RSA key to import lacks "
				    "its CRT components");
				goto out;
			}
			ADD(privt, np, bn[i].type, bn[i].buf, bn[i].len);
			if (i < 2)
				ADD(pubt, nq, bn[i].type, bn[i].buf,
				    bn[i].len);
		}
	} else {
		if (!EVP_PKEY_get_utf8_string_param(a->priv,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
			group[0] = '\0';
		for (i = 0; i < NTYPES; i++)
			if (key_types[i].group != NULL &&
			    (strcasecmp(group, key_types[i].group) == 0 ||
			    (key_types[i].bits == 256 &&
			    strcmp(group, "prime256v1") == 0) ||
			    (key_types[i].bits == 384 &&
			    strcmp(group, "secp384r1") == 0) ||
			    (key_types[i].bits == 521 &&
			    strcmp(group, "secp521r1") == 0))) {
				oid = key_types[i].oid;
				oid_len = key_types[i].oid_len;
				ti = (int)i;
			}
		if (oid == NULL) {
			rc = hkms_err_setc(err, HKMS_E_UNSUPPORTED,
			    "unknown_curve", "EC keys on curve '%s' cannot be "
			    "imported (use P-256, P-384 or P-521)",
			    group[0] ? group : "(unnamed)");
			goto out;
		}
		/* the uncompressed point of the curve: 04 || X || Y */
		want = 1 + 2 * (((size_t)key_types[ti].bits + 7) / 8);
		bn[0].param = OSSL_PKEY_PARAM_PRIV_KEY;
		if (!bn_param(a->priv, &bn[0]) ||
		    !EVP_PKEY_get_octet_string_param(a->priv,
		    OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &plen)) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_key",
			    "the %s key to import lacks its private value or "
			    "public point", key_types[ti].group);
			goto out;
		}
		if (plen != want || point[0] != 0x04) {
			rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_key",
			    "the %s key's public point is %zu bytes, expected "
			    "an uncompressed point of %zu bytes",
			    key_types[ti].group, plen, want);
			goto out;
		}
		/* CKA_VALUE: the private value at the curve's full size */
		hl = (want - 1) / 2;
		if (bn[0].len < hl) {
			memmove(bn[0].buf + (hl - bn[0].len), bn[0].buf,
			    bn[0].len);
			memset(bn[0].buf, 0, hl - bn[0].len);
			bn[0].len = hl;
		}
		/* CKA_EC_POINT is the DER OCTET STRING of the point (P-521's
		 * 133 bytes need the long length form) */
		ecpt[0] = 0x04;
		hl = 1 + der_len(ecpt + 1, plen);
		memcpy(ecpt + hl, point, plen);
		ADD(privt, np, CKA_EC_PARAMS, oid, oid_len);
		ADD(privt, np, CKA_VALUE, bn[0].buf, bn[0].len);
		ADD(pubt, nq, CKA_EC_PARAMS, oid, oid_len);
		ADD(pubt, nq, CKA_EC_POINT, ecpt, plen + hl);
	}
#undef ADD
	if ((rc = hsm_session(h, &s, rv, err)) != HKMS_OK)
		goto out;
	memset(&kr, 0, sizeof(kr));
	kr.label = a->name;
	rc = find_private(h, s, &kr, &dummy, rv, err);
	if (rc == HKMS_OK || rc == HKMS_E_INVALID) {
		rc = hkms_err_setc(err, HKMS_E_EXISTS, "key_exists",
		    "a key named '%s' exists already in token '%s'", a->name,
		    h->tok_label);
		goto out;
	}
	if (rc != HKMS_E_NOT_FOUND)
		goto out;
	/* the same restrictions, in the same fallback order, as keygen */
	for (st = 0; st < STAGES; st++) {
		if (st > 0)
			destroy_exact(h, s, a->name, a->id, a->id_len);
		npriv = add_restrictions(privt, np, st);
		*rv = h->p11->C_CreateObject(s, privt, npriv, &ko);
		if (!template_refused(*rv))
			break;
	}
	if (*rv == CKR_OK)
		*rv = h->p11->C_CreateObject(s, pubt, nq, &po);
	if (*rv != CKR_OK) {
		destroy_exact(h, s, a->name, a->id, a->id_len);
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "import_failed",
		    "cannot import key '%s' into token '%s': %s", a->name,
		    h->tok_label, hsm_ckr_name(*rv));
		goto out;
	}
	if ((*rv = read_back(h, s, ko, a->name, a->id, a->id_len,
	    a->info)) != CKR_OK) {
		destroy_exact(h, s, a->name, a->id, a->id_len);
		rc = hkms_err_setc(err, HKMS_E_TOKEN, "token_read",
		    "cannot read back key '%s' (destroyed it): %s", a->name,
		    hsm_ckr_name(*rv));
		goto out;
	}
	rc = HKMS_OK;
out:
	if (s != CK_INVALID_HANDLE)
		h->p11->C_CloseSession(s);
	if (bn != NULL) {
		OPENSSL_cleanse(bn, 8 * sizeof(*bn));
		free(bn);
	}
	OPENSSL_cleanse(privt, sizeof(privt));
	return rc;
}

enum hkms_rc
hkms_hsm_key_import_id(struct hkms_hsm *h, const char *name, EVP_PKEY *priv,
    const unsigned char *id, size_t id_len, struct hkms_key_info *info,
    struct hkms_err *err)
{
	struct import_arg a = { name, priv, info, id, id_len };
	enum hkms_rc rc;
	int kid;

	if (h == NULL || priv == NULL || info == NULL || id == NULL ||
	    id_len == 0 || id_len > sizeof(info->id))
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (!hkms_name_valid(name))
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_name",
		    "invalid key name '%s'", name ? name : "");
	kid = EVP_PKEY_get_base_id(priv);
	if (kid == EVP_PKEY_RSA && EVP_PKEY_get_bits(priv) < 2048)
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "RSA keys below 2048 bits are refused (this one has %d)",
		    EVP_PKEY_get_bits(priv));
	if (kid == EVP_PKEY_EC && EVP_PKEY_get_bits(priv) < 256)
		return hkms_err_setc(err, HKMS_E_POLICY, "weak_key",
		    "EC keys on curves below 256 bits are refused (this one "
		    "has %d)", EVP_PKEY_get_bits(priv));
	if (kid != EVP_PKEY_RSA && kid != EVP_PKEY_EC)
		return hkms_err_setc(err, HKMS_E_UNSUPPORTED,
		    "unsupported_key_type", "only RSA and EC keys can be "
		    "imported");
	pthread_mutex_lock(&h->obj_mu);
	rc = hsm_run_excl(h, import_op, &a, 0, err);
	pthread_mutex_unlock(&h->obj_mu);
	return rc;
}

enum hkms_rc
hkms_hsm_key_import(struct hkms_hsm *h, const char *name, EVP_PKEY *priv,
    struct hkms_key_info *info, struct hkms_err *err)
{
	unsigned char id[HKMS_KEY_ID_LEN];
	enum hkms_rc rc;

	if ((rc = hkms_hsm_key_id_new(id, err)) != HKMS_OK)
		return rc;
	return hkms_hsm_key_import_id(h, name, priv, id, sizeof(id), info,
	    err);
}
