/*
 * Certificate profiles: the only source of a certificate's extensions.
 * Seven built-in profiles live in a table here; custom ones are JSON files
 * "<name>.json" in a profiles directory, parsed strictly (an unknown field
 * or value is an error naming it) so a typo never silently weakens a
 * certificate. A profile is immutable after it is made. Schema and the
 * built-in table: docs/x509.md.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/err.h>

#include "hkms/util.h"
#include "x509_int.h"

#define PROFILE_FILE_MAX (64u * 1024u)

/* key usage names by bit number of the KeyUsage BIT STRING */
static const char *const ku_names[] = {
	"digitalSignature", "nonRepudiation", "keyEncipherment",
	"dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign",
	"encipherOnly", "decipherOnly",
};
#define N_KU ((int)(sizeof(ku_names) / sizeof(ku_names[0])))
#define KU(bit) (1u << (bit))
#define KU_DS	KU(0)
#define KU_KE	KU(2)
#define KU_CS	KU(5)
#define KU_CRL	KU(6)

static const char *const san_type_names[] = { "dns", "ip", "email", "uri" };

static const char *const builtin_names[] = {
	"tls-server", "tls-client", "tls-server-client", "ca",
	"intermediate-ca", "code-signing", "email",
};
#define N_BUILTIN (sizeof(builtin_names) / sizeof(builtin_names[0]))

static void
leaf_defaults(struct hkms_x509_profile *p)
{
	p->key_usage_critical = 1;
	p->bc_present = 1;
	p->bc_ca = 0;
	p->bc_path_len = -1;
	p->bc_critical = 1;
	p->ski = 1;
	p->aki = 1;
	p->digest = HKMS_X509_DIGEST_AUTO;
	p->allow_subject_from_csr = 1;
	p->allow_san_from_csr = 1;
	p->san_types = X509_SAN_ALL;
	p->allow_wildcard = 1;
	p->default_days = 397;
}

static void
add_eku(struct hkms_x509_profile *p, int nid)
{
	OBJ_obj2txt(p->eku[p->n_eku++], sizeof(p->eku[0]),
	    OBJ_nid2obj(nid), 1);
}

/* Fill p with built-in profile i. keyEncipherment is listed where RSA
 * needs it; cert.c drops it for non-RSA keys. */
static void
builtin_fill(size_t i, struct hkms_x509_profile *p)
{
	memset(p, 0, sizeof(*p));
	leaf_defaults(p);
	snprintf(p->name, sizeof(p->name), "%s", builtin_names[i]);
	p->builtin = 1;
	switch (i) {
	case 0:
		snprintf(p->description, sizeof(p->description),
		    "TLS server (web server, appliance identity)");
		p->key_usage = KU_DS | KU_KE;
		add_eku(p, NID_server_auth);
		break;
	case 1:
		snprintf(p->description, sizeof(p->description),
		    "TLS client (mTLS client identity)");
		p->key_usage = KU_DS;
		add_eku(p, NID_client_auth);
		p->default_days = 1826;
		break;
	case 2:
		snprintf(p->description, sizeof(p->description),
		    "TLS server and client");
		p->key_usage = KU_DS | KU_KE;
		add_eku(p, NID_server_auth);
		add_eku(p, NID_client_auth);
		break;
	case 3:
	case 4:
		p->key_usage = KU_CS | KU_CRL;
		p->bc_ca = 1;
		p->allow_san_from_csr = 0;
		p->allow_wildcard = 0;
		if (i == 3) {
			snprintf(p->description, sizeof(p->description),
			    "root certificate authority");
			p->default_days = 3652;
		} else {
			snprintf(p->description, sizeof(p->description),
			    "intermediate certificate authority (issues "
			    "leaves only by default)");
			p->bc_path_len = 0;
			p->default_days = 1826;
		}
		break;
	case 5:
		snprintf(p->description, sizeof(p->description),
		    "code signing");
		p->key_usage = KU_DS;
		add_eku(p, NID_code_sign);
		p->allow_wildcard = 0;
		p->default_days = 1095;
		break;
	case 6:
		snprintf(p->description, sizeof(p->description),
		    "S/MIME email signing and encryption");
		p->key_usage = KU_DS | KU_KE;
		add_eku(p, NID_email_protect);
		p->allow_wildcard = 0;
		p->default_days = 730;
		break;
	}
}

static int
builtin_index(const char *name)
{
	size_t i;

	for (i = 0; i < N_BUILTIN; i++)
		if (strcmp(name, builtin_names[i]) == 0)
			return (int)i;
	return -1;
}

void
hkms_x509_profile_free(struct hkms_x509_profile *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n_crldp; i++)
		free(p->crldp[i]);
	for (i = 0; i < p->n_aia_ca_issuers; i++)
		free(p->aia_ca_issuers[i]);
	for (i = 0; i < p->n_aia_ocsp; i++)
		free(p->aia_ocsp[i]);
	free(p);
}

void
hkms_x509_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* --- JSON parsing ------------------------------------------------- */

#define BADP(...) hkms_err_setc(err, HKMS_E_INVALID, "invalid_profile", \
    __VA_ARGS__)

static enum hkms_rc
get_bool(const char *pn, const char *field, json_t *v, int *out,
    struct hkms_err *err)
{
	if (!json_is_boolean(v))
		return BADP("profile '%s': %s must be true or false", pn, field);
	*out = json_is_true(v);
	return HKMS_OK;
}

static enum hkms_rc
get_days(const char *pn, const char *field, json_t *v, int min, int *out,
    struct hkms_err *err)
{
	json_int_t n;

	if (!json_is_integer(v) || (n = json_integer_value(v)) < min ||
	    n > X509_PROFILE_MAX_DAYS)
		return BADP("profile '%s': %s must be an integer from %d to %d",
		    pn, field, min, X509_PROFILE_MAX_DAYS);
	*out = (int)n;
	return HKMS_OK;
}

static enum hkms_rc
get_key_usage(const char *pn, json_t *v, unsigned *out, struct hkms_err *err)
{
	size_t i;
	json_t *e;
	int b;

	if (!json_is_array(v))
		return BADP("profile '%s': key_usage must be a list", pn);
	*out = 0;
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		for (b = 0; s != NULL && b < N_KU; b++)
			if (strcmp(s, ku_names[b]) == 0 ||
			    (b == 1 && strcmp(s, "contentCommitment") == 0))
				break;
		if (s == NULL || b == N_KU)
			return BADP("profile '%s': unknown key_usage value "
			    "'%.40s'", pn, s ? s : "(not a string)");
		if (*out & KU(b))
			return BADP("profile '%s': key_usage '%s' given twice",
			    pn, s);
		*out |= KU(b);
	}
	return HKMS_OK;
}

/* The EKU names a profile may use; any other EKU is given as a dotted OID. */
static const int eku_known[] = { NID_server_auth, NID_client_auth,
    NID_code_sign, NID_email_protect, NID_time_stamp, NID_OCSP_sign };

static int
eku_is_known(int nid)
{
	size_t i;

	for (i = 0; i < sizeof(eku_known) / sizeof(eku_known[0]); i++)
		if (eku_known[i] == nid)
			return 1;
	return 0;
}

static enum hkms_rc
get_eku(const char *pn, json_t *v, struct hkms_x509_profile *p,
    struct hkms_err *err)
{
	size_t i;
	int j;
	json_t *e;
	ASN1_OBJECT *obj;
	char oid[64];

	if (!json_is_array(v))
		return BADP("profile '%s': extended_key_usage must be a list",
		    pn);
	if (json_array_size(v) > X509_PROFILE_MAX_EKU)
		return BADP("profile '%s': more than %d extended_key_usage "
		    "values", pn, X509_PROFILE_MAX_EKU);
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);
		int nid = NID_undef;

		for (j = 0; s != NULL && j < (int)(sizeof(eku_known) /
		    sizeof(eku_known[0])); j++)
			if (strcmp(s, OBJ_nid2sn(eku_known[j])) == 0)
				nid = eku_known[j];
		if (nid != NID_undef)
			obj = OBJ_dup(OBJ_nid2obj(nid));
		else if (s != NULL && s[0] >= '0' && s[0] <= '2' &&
		    strlen(s) < sizeof(oid))
			obj = OBJ_txt2obj(s, 1);
		else
			obj = NULL;
		ERR_clear_error();
		if (obj == NULL)
			return BADP("profile '%s': unknown extended_key_usage "
			    "value '%.40s' (use serverAuth, clientAuth, "
			    "codeSigning, emailProtection, timeStamping, "
			    "OCSPSigning or a dotted OID)", pn,
			    s ? s : "(not a string)");
		/* OpenSSL reads "1..3" as 1.0.3, and its text may not fit oid
		 * (it is cut silently): take only a dotted OID as written
		 * (found by fuzz_profile) */
		if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) >= (int)sizeof(oid) ||
		    (nid == NID_undef && strcmp(s, oid) != 0)) {
			ASN1_OBJECT_free(obj);
			return BADP("profile '%s': extended_key_usage value "
			    "'%.40s' is not a dotted OID", pn, s);
		}
		ASN1_OBJECT_free(obj);
		if (strcmp(oid, "2.5.29.37.0") == 0)
			return BADP("profile '%s': anyExtendedKeyUsage is not "
			    "allowed", pn);
		for (j = 0; j < p->n_eku; j++)
			if (strcmp(p->eku[j], oid) == 0)
				return BADP("profile '%s': extended_key_usage "
				    "'%s' given twice", pn, s);
		snprintf(p->eku[p->n_eku++], sizeof(p->eku[0]), "%s", oid);
	}
	return HKMS_OK;
}

static int
url_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n > 1024 || (strncmp(s, "http://", 7) != 0 &&
	    strncmp(s, "https://", 8) != 0 && strncmp(s, "ldap://", 7) != 0))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	return n > 8;
}

static enum hkms_rc
get_urls(const char *pn, const char *field, json_t *v, char **urls, int *n,
    struct hkms_err *err)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > X509_PROFILE_MAX_URLS)
		return BADP("profile '%s': %s must be a list of at most %d "
		    "URLs", pn, field, X509_PROFILE_MAX_URLS);
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		if (s == NULL || !url_ok(s))
			return BADP("profile '%s': %s has an invalid URL "
			    "'%.60s' (http://, https:// or ldap://)", pn,
			    field, s ? s : "(not a string)");
		if ((urls[*n] = strdup(s)) == NULL)
			return hkms_err_set(err, HKMS_E_NOMEM,
			    "out of memory");
		(*n)++;
	}
	return HKMS_OK;
}

static enum hkms_rc
get_bc(const char *pn, json_t *v, struct hkms_x509_profile *p,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	const char *k;
	json_t *e;

	if (json_is_null(v)) {
		p->bc_present = 0;
		return HKMS_OK;
	}
	if (!json_is_object(v))
		return BADP("profile '%s': basic_constraints must be an "
		    "object or null", pn);
	json_object_foreach(v, k, e) {
		if (strcmp(k, "ca") == 0)
			rc = get_bool(pn, "basic_constraints.ca", e,
			    &p->bc_ca, err);
		else if (strcmp(k, "critical") == 0)
			rc = get_bool(pn, "basic_constraints.critical", e,
			    &p->bc_critical, err);
		else if (strcmp(k, "path_len") == 0) {
			rc = HKMS_OK;
			if (json_is_null(e))
				p->bc_path_len = -1;
			else if (json_is_integer(e) &&
			    json_integer_value(e) >= 0 &&
			    json_integer_value(e) <= 32)
				p->bc_path_len = (int)json_integer_value(e);
			else
				rc = BADP("profile '%s': basic_constraints."
				    "path_len must be null or 0..32", pn);
		} else
			rc = BADP("profile '%s': unknown field "
			    "'basic_constraints.%.40s'", pn, k);
		if (rc != HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

static enum hkms_rc
get_aia(const char *pn, json_t *v, struct hkms_x509_profile *p,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	const char *k;
	json_t *e;

	if (!json_is_object(v))
		return BADP("profile '%s': aia must be an object", pn);
	json_object_foreach(v, k, e) {
		if (strcmp(k, "ca_issuers") == 0)
			rc = get_urls(pn, "aia.ca_issuers", e,
			    p->aia_ca_issuers, &p->n_aia_ca_issuers, err);
		else if (strcmp(k, "ocsp") == 0)
			rc = get_urls(pn, "aia.ocsp", e, p->aia_ocsp,
			    &p->n_aia_ocsp, err);
		else
			rc = BADP("profile '%s': unknown field 'aia.%.40s'",
			    pn, k);
		if (rc != HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

static enum hkms_rc
get_san_types(const char *pn, json_t *v, unsigned *out,
    struct hkms_err *err)
{
	size_t i;
	unsigned b;
	json_t *e;

	if (!json_is_array(v))
		return BADP("profile '%s': san_types must be a list", pn);
	*out = 0;
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);

		for (b = 0; s != NULL && b < 4; b++)
			if (strcasecmp(s, san_type_names[b]) == 0)
				break;
		if (s == NULL || b == 4)
			return BADP("profile '%s': unknown san_types value "
			    "'%.40s' (dns, ip, email, uri)", pn,
			    s ? s : "(not a string)");
		*out |= 1u << b;
	}
	return HKMS_OK;
}

static enum hkms_rc
profile_field(struct hkms_x509_profile *p, const char *k, json_t *v,
    struct hkms_err *err)
{
	const char *pn = p->name;
	const char *s;
	enum hkms_rc rc;

	if (strcmp(k, "description") == 0) {
		if ((s = json_string_value(v)) == NULL ||
		    strlen(s) >= sizeof(p->description))
			return BADP("profile '%s': description must be a "
			    "string of at most 255 bytes", pn);
		snprintf(p->description, sizeof(p->description), "%s", s);
		return HKMS_OK;
	}
	if (strcmp(k, "key_usage") == 0)
		return get_key_usage(pn, v, &p->key_usage, err);
	if (strcmp(k, "key_usage_critical") == 0)
		return get_bool(pn, k, v, &p->key_usage_critical, err);
	if (strcmp(k, "extended_key_usage") == 0)
		return get_eku(pn, v, p, err);
	if (strcmp(k, "extended_key_usage_critical") == 0)
		return get_bool(pn, k, v, &p->eku_critical, err);
	if (strcmp(k, "basic_constraints") == 0)
		return get_bc(pn, v, p, err);
	if (strcmp(k, "ski") == 0)
		return get_bool(pn, k, v, &p->ski, err);
	if (strcmp(k, "aki") == 0)
		return get_bool(pn, k, v, &p->aki, err);
	if (strcmp(k, "crl_distribution_points") == 0)
		return get_urls(pn, k, v, p->crldp, &p->n_crldp, err);
	if (strcmp(k, "aia") == 0)
		return get_aia(pn, v, p, err);
	if (strcmp(k, "default_days") == 0)
		return get_days(pn, k, v, 1, &p->default_days, err);
	if (strcmp(k, "max_days") == 0)
		return get_days(pn, k, v, 0, &p->max_days, err);
	if (strcmp(k, "digest") == 0) {
		if ((s = json_string_value(v)) == NULL)
			return BADP("profile '%s': digest must be a string",
			    pn);
		if ((rc = hkms_x509_digest_parse(s, &p->digest, err)) !=
		    HKMS_OK)
			return hkms_err_setc(err, rc == HKMS_E_POLICY ?
			    HKMS_E_POLICY : HKMS_E_INVALID, rc ==
			    HKMS_E_POLICY ? "weak_digest" : "invalid_profile",
			    "profile '%s': digest '%.20s' is not allowed "
			    "(auto, sha256, sha384, sha512)", pn, s);
		return HKMS_OK;
	}
	if (strcmp(k, "allow_subject_from_csr") == 0)
		return get_bool(pn, k, v, &p->allow_subject_from_csr, err);
	if (strcmp(k, "allow_san_from_csr") == 0)
		return get_bool(pn, k, v, &p->allow_san_from_csr, err);
	if (strcmp(k, "san_types") == 0)
		return get_san_types(pn, v, &p->san_types, err);
	if (strcmp(k, "allow_wildcard") == 0)
		return get_bool(pn, k, v, &p->allow_wildcard, err);
	return BADP("profile '%s': unknown field '%.40s'", pn, k);
}

/* Rules that span fields (RFC 5280 4.2.1.3, 4.2.1.9). */
static enum hkms_rc
profile_consistent(const struct hkms_x509_profile *p, struct hkms_err *err)
{
	int ca = p->bc_present && p->bc_ca;

	if (ca && p->key_usage != 0 && !(p->key_usage & KU_CS))
		return BADP("profile '%s': a CA profile needs keyCertSign in "
		    "key_usage", p->name);
	if (!ca && (p->key_usage & KU_CS))
		return BADP("profile '%s': keyCertSign needs "
		    "basic_constraints.ca true", p->name);
	if (ca && !p->bc_critical)
		return BADP("profile '%s': basic_constraints must be critical "
		    "for a CA", p->name);
	if (!ca && p->bc_path_len >= 0)
		return BADP("profile '%s': basic_constraints.path_len needs "
		    "ca true", p->name);
	if (p->max_days != 0 && p->default_days > p->max_days)
		return BADP("profile '%s': default_days %d exceeds max_days "
		    "%d", p->name, p->default_days, p->max_days);
	return HKMS_OK;
}

enum hkms_rc
hkms_x509_profile_from_json(const char *name, const char *json, size_t len,
    struct hkms_x509_profile **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_x509_profile *p = NULL;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *k;

	if (name == NULL || json == NULL || out == NULL ||
	    !hkms_name_valid(name)) {
		rc = BADP("invalid profile name '%.64s'", name ? name : "");
		goto out;
	}
	if (builtin_index(name) >= 0) {
		rc = BADP("profile name '%s' is reserved for a built-in "
		    "profile", name);
		goto out;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	leaf_defaults(p);
	snprintf(p->name, sizeof(p->name), "%s", name);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		rc = BADP("profile '%s': JSON error at line %d: %.100s", name,
		    jerr.line, jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		rc = BADP("profile '%s': top level must be an object", name);
		goto out;
	}
	json_object_foreach(root, k, v)
		if ((rc = profile_field(p, k, v, err)) != HKMS_OK)
			goto out;
	if ((rc = profile_consistent(p, err)) != HKMS_OK)
		goto out;
	*out = p;
	p = NULL; /* transferred */
	rc = HKMS_OK;
out:
	json_decref(root);
	hkms_x509_profile_free(p);
	return rc;
}

enum hkms_rc
hkms_x509_profile_get(const char *name, const char *profiles_dir,
    struct hkms_x509_profile **out, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_x509_profile *p = NULL;
	unsigned char *buf = NULL;
	char *path = NULL;
	struct stat sb;
	size_t len = 0;
	int i;

	if (name == NULL || out == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no profile name given");
		goto out;
	}
	if ((i = builtin_index(name)) >= 0) {
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
		builtin_fill((size_t)i, p);
		*out = p;
		rc = HKMS_OK;
		goto out;
	}
	if (!hkms_name_valid(name) || profiles_dir == NULL) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "unknown_profile",
		    "no such profile '%.64s'", name);
		goto out;
	}
	if (asprintf(&path, "%s/%s.json", profiles_dir, name) < 0) {
		path = NULL;
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	/* profiles_dir defaults to <data>/profiles, where nothing is read
	 * through a symlink (docs/store.md) */
	if ((rc = hkms_x509_profiles_dir_check(profiles_dir, err)) != HKMS_OK)
		goto out;
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		rc = hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing profile file '%s': not a regular file (a "
		    "symbolic link?)", path);
		goto out;
	}
	rc = hkms_read_file(path, PROFILE_FILE_MAX, &buf, &len, err);
	if (rc == HKMS_E_NOT_FOUND) {
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "unknown_profile",
		    "no such profile '%s'", name);
		goto out;
	}
	if (rc != HKMS_OK) {
		/* keep the reader's detail, add the profile code */
		if (err != NULL)
			snprintf(err->code, sizeof(err->code),
			    "invalid_profile");
		goto out;
	}
	if ((rc = hkms_x509_profile_from_json(name, (char *)buf, len, out,
	    err)) != HKMS_OK && err != NULL) {
		char d[sizeof(err->detail)];

		snprintf(d, sizeof(d), "%s", err->detail);
		snprintf(err->detail, sizeof(err->detail), "%.100s: %.150s",
		    path, d);
	}
out:
	free(buf);
	free(path);
	return rc;
}

enum hkms_rc
hkms_x509_profiles_dir_check(const char *profiles_dir, struct hkms_err *err)
{
	struct stat sb;

	if (profiles_dir == NULL || lstat(profiles_dir, &sb) != 0)
		return HKMS_OK;
	if (S_ISLNK(sb.st_mode) || !S_ISDIR(sb.st_mode))
		return hkms_err_setc(err, HKMS_E_DENIED, "unsafe_path",
		    "refusing the profiles directory '%s': %s", profiles_dir,
		    S_ISLNK(sb.st_mode) ? "a symbolic link (never followed)" :
		    "not a directory");
	return HKMS_OK;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum hkms_rc
hkms_x509_profile_list(const char *profiles_dir, char ***names,
    size_t *count, struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	DIR *d = NULL;
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = N_BUILTIN + 1, i, nb;

	if (names == NULL) {
		rc = hkms_err_set(err, HKMS_E_INVALID, "no output given");
		goto out;
	}
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		goto oom;
	for (i = 0; i < N_BUILTIN; i++)
		if ((v[n++] = strdup(builtin_names[i])) == NULL)
			goto oom;
	nb = n;
	if ((rc = hkms_x509_profiles_dir_check(profiles_dir, err)) != HKMS_OK)
		goto out;
	if (profiles_dir != NULL && (d = opendir(profiles_dir)) == NULL &&
	    errno != ENOENT) {
		rc = hkms_err_set(err, HKMS_E_IO, "cannot read profiles "
		    "directory '%s': %s", profiles_dir, strerror(errno));
		goto out;
	}
	while (d != NULL && (de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' || l <= 5 ||
		    strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		if (n + 2 > cap) {
			if ((nv = realloc(v, cap * 2 * sizeof(*v))) == NULL)
				goto oom;
			v = nv;
			memset(v + cap, 0, cap * sizeof(*v));
			cap *= 2;
		}
		if ((v[n] = strndup(de->d_name, l - 5)) == NULL)
			goto oom;
		if (!hkms_name_valid(v[n]) || builtin_index(v[n]) >= 0) {
			rc = BADP("profile file '%s/%s' %s", profiles_dir,
			    de->d_name, builtin_index(v[n]) >= 0 ?
			    "uses a built-in profile name" :
			    "does not have a valid profile name");
			n++;
			goto out;
		}
		n++;
	}
	qsort(v + nb, n - nb, sizeof(*v), cmp_str);
	v[n] = NULL;
	if (count != NULL)
		*count = n;
	*names = v;
	v = NULL; /* transferred */
	rc = HKMS_OK;
	goto out;
oom:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
out:
	if (d != NULL)
		closedir(d);
	hkms_x509_strv_free(v);
	return rc;
}

/* --- JSON output -------------------------------------------------- */

static json_t *
str_array(char *const *s, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(s[i]));
	return a;
}

enum hkms_rc
hkms_x509_profile_to_json(const struct hkms_x509_profile *p, char **out,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	json_t *o = NULL, *a, *bc, *aia;
	int i, nid;
	unsigned b;

	if (p == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no profile given");
	o = json_object();
	json_object_set_new(o, "description", json_string(p->description));
	a = json_array();
	for (i = 0; i < N_KU; i++)
		if (p->key_usage & KU(i))
			json_array_append_new(a, json_string(ku_names[i]));
	json_object_set_new(o, "key_usage", a);
	json_object_set_new(o, "key_usage_critical",
	    json_boolean(p->key_usage_critical));
	a = json_array();
	for (i = 0; i < p->n_eku; i++) {
		ASN1_OBJECT *obj = OBJ_txt2obj(p->eku[i], 1);

		nid = obj ? OBJ_obj2nid(obj) : NID_undef;
		ASN1_OBJECT_free(obj);
		/* a name only where _from_json takes it back (found by
		 * fuzz_profile: 1.3.6.1.5.5.7.3.5 came out as ipsecEndSystem) */
		json_array_append_new(a, json_string(eku_is_known(nid) ?
		    OBJ_nid2sn(nid) : p->eku[i]));
	}
	json_object_set_new(o, "extended_key_usage", a);
	json_object_set_new(o, "extended_key_usage_critical",
	    json_boolean(p->eku_critical));
	if (p->bc_present) {
		bc = json_object();
		json_object_set_new(bc, "ca", json_boolean(p->bc_ca));
		json_object_set_new(bc, "path_len", p->bc_path_len < 0 ?
		    json_null() : json_integer(p->bc_path_len));
		json_object_set_new(bc, "critical",
		    json_boolean(p->bc_critical));
	} else {
		bc = json_null();
	}
	json_object_set_new(o, "basic_constraints", bc);
	json_object_set_new(o, "ski", json_boolean(p->ski));
	json_object_set_new(o, "aki", json_boolean(p->aki));
	json_object_set_new(o, "crl_distribution_points",
	    str_array(p->crldp, p->n_crldp));
	aia = json_object();
	json_object_set_new(aia, "ca_issuers",
	    str_array(p->aia_ca_issuers, p->n_aia_ca_issuers));
	json_object_set_new(aia, "ocsp", str_array(p->aia_ocsp,
	    p->n_aia_ocsp));
	json_object_set_new(o, "aia", aia);
	json_object_set_new(o, "default_days", json_integer(p->default_days));
	json_object_set_new(o, "max_days", json_integer(p->max_days));
	json_object_set_new(o, "digest",
	    json_string(hkms_x509_digest_name(p->digest)));
	json_object_set_new(o, "allow_subject_from_csr",
	    json_boolean(p->allow_subject_from_csr));
	json_object_set_new(o, "allow_san_from_csr",
	    json_boolean(p->allow_san_from_csr));
	a = json_array();
	for (b = 0; b < 4; b++)
		if (p->san_types & (1u << b))
			json_array_append_new(a, json_string(
			    san_type_names[b]));
	json_object_set_new(o, "san_types", a);
	json_object_set_new(o, "allow_wildcard",
	    json_boolean(p->allow_wildcard));
	if ((*out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	    NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	rc = HKMS_OK;
out:
	json_decref(o);
	return rc;
}

const char *
hkms_x509_profile_name(const struct hkms_x509_profile *p)
{
	return p->name;
}

int
hkms_x509_profile_builtin(const struct hkms_x509_profile *p)
{
	return p->builtin;
}

int
hkms_x509_profile_is_ca(const struct hkms_x509_profile *p)
{
	return p->bc_present && p->bc_ca;
}

int
hkms_x509_profile_default_days(const struct hkms_x509_profile *p)
{
	return p->default_days;
}

int
hkms_x509_profile_max_days(const struct hkms_x509_profile *p)
{
	return p->max_days;
}

enum hkms_x509_digest
hkms_x509_profile_digest(const struct hkms_x509_profile *p)
{
	return p->digest;
}

int
hkms_x509_profile_allow_san_from_csr(const struct hkms_x509_profile *p)
{
	return p->allow_san_from_csr;
}

/* ---- per-request extension switches (issue 13b) ---- */

int
hkms_x509_ext_choice_set(const struct hkms_x509_ext_choice *ch)
{
	return ch != NULL && (ch->basic_constraints != 0 || ch->aki != 0 ||
	    ch->key_usage != NULL || ch->extended_key_usage != NULL);
}

/* "a,b" (or "" / "none") as a JSON array of strings */
static json_t *
comma_list(const char *s)
{
	json_t *a = json_array();
	const char *p = s, *q;
	size_t n;

	if (strcmp(s, "none") == 0)
		return a;
	while (a != NULL && *p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		q = strchr(p, ',');
		n = q ? (size_t)(q - p) : strlen(p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
		p += n;
	}
	return a;
}

static enum hkms_rc
not_allowed(struct hkms_err *err, const char *prof, const char *what)
{
	return hkms_err_setc(err, HKMS_E_POLICY, "extension_not_allowed",
	    "%s is not allowed by profile '%s'", what, prof);
}

/* a profile parser's complaint about a switch: the request's field */
static enum hkms_rc
bad_switch(struct hkms_err *err, const char *field)
{
	char why[sizeof(err->detail)];

	snprintf(why, sizeof(why), "%s", err ? err->detail : "");
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_field", "%s: %.200s",
	    field, why);
}

enum hkms_rc
hkms_x509_profile_narrow(const struct hkms_x509_profile *p,
    const struct hkms_x509_ext_choice *ch, struct hkms_x509_profile **out,
    struct hkms_err *err)
{
	struct hkms_x509_profile *n = NULL, tmp;
	enum hkms_rc rc = HKMS_E_NOMEM;
	json_t *list = NULL;
	int i, j;
	unsigned ku;

	if (p == NULL || ch == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	*n = *p;
	/* the URL lists are owned: copy them */
	n->n_crldp = n->n_aia_ca_issuers = n->n_aia_ocsp = 0;
	for (i = 0; i < p->n_crldp; i++)
		if ((n->crldp[n->n_crldp++] = strdup(p->crldp[i])) == NULL)
			goto nomem;
	for (i = 0; i < p->n_aia_ca_issuers; i++)
		if ((n->aia_ca_issuers[n->n_aia_ca_issuers++] =
		    strdup(p->aia_ca_issuers[i])) == NULL)
			goto nomem;
	for (i = 0; i < p->n_aia_ocsp; i++)
		if ((n->aia_ocsp[n->n_aia_ocsp++] = strdup(p->aia_ocsp[i])) ==
		    NULL)
			goto nomem;
	if (ch->basic_constraints == HKMS_X509_EXT_OFF) {
		if (p->bc_present && p->bc_ca) {
			rc = not_allowed(err, p->name, "basic_constraints off "
			    "(a CA certificate needs it)");
			goto fail;
		}
		n->bc_present = 0;
	} else if (ch->basic_constraints == HKMS_X509_EXT_ON &&
	    !p->bc_present) {
		rc = not_allowed(err, p->name, "basic_constraints");
		goto fail;
	}
	if (ch->aki == HKMS_X509_EXT_OFF)
		n->aki = 0;
	else if (ch->aki == HKMS_X509_EXT_ON && !p->aki) {
		rc = not_allowed(err, p->name, "aki");
		goto fail;
	}
	if (ch->key_usage != NULL) {
		if ((list = comma_list(ch->key_usage)) == NULL)
			goto nomem;
		if (get_key_usage(p->name, list, &ku, err) != HKMS_OK) {
			rc = bad_switch(err, "key_usage");
			goto fail;
		}
		if ((ku & ~p->key_usage) != 0) {
			rc = not_allowed(err, p->name, "a key_usage outside "
			    "the profile's");
			goto fail;
		}
		if (p->bc_present && p->bc_ca && ku != 0 && !(ku & KU_CS)) {
			rc = not_allowed(err, p->name, "key_usage without "
			    "keyCertSign for a CA");
			goto fail;
		}
		n->key_usage = ku;
		json_decref(list);
		list = NULL;
	}
	if (ch->extended_key_usage != NULL) {
		if ((list = comma_list(ch->extended_key_usage)) == NULL)
			goto nomem;
		memset(&tmp, 0, sizeof(tmp));
		snprintf(tmp.name, sizeof(tmp.name), "%s", p->name);
		if (get_eku(p->name, list, &tmp, err) != HKMS_OK) {
			rc = bad_switch(err, "extended_key_usage");
			goto fail;
		}
		for (i = 0; i < tmp.n_eku; i++) {
			for (j = 0; j < p->n_eku; j++)
				if (strcmp(tmp.eku[i], p->eku[j]) == 0)
					break;
			if (j == p->n_eku) {
				rc = not_allowed(err, p->name, "an "
				    "extended_key_usage outside the "
				    "profile's");
				goto fail;
			}
		}
		n->n_eku = tmp.n_eku;
		memcpy(n->eku, tmp.eku, sizeof(n->eku));
	}
	json_decref(list);
	*out = n;
	return HKMS_OK;
nomem:
	rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
fail:
	json_decref(list);
	hkms_x509_profile_free(n);
	return rc;
}

json_t *
hkms_x509_ext_choice_json(const struct hkms_x509_ext_choice *ch)
{
	json_t *o = json_object();

	if (o == NULL || ch == NULL)
		return o;
	if (ch->basic_constraints)
		json_object_set_new(o, "basic_constraints", json_boolean(
		    ch->basic_constraints == HKMS_X509_EXT_ON));
	if (ch->aki)
		json_object_set_new(o, "aki", json_boolean(ch->aki ==
		    HKMS_X509_EXT_ON));
	if (ch->key_usage)
		json_object_set_new(o, "key_usage",
		    comma_list(ch->key_usage));
	if (ch->extended_key_usage)
		json_object_set_new(o, "extended_key_usage",
		    comma_list(ch->extended_key_usage));
	return o;
}
