/*
 * The signing policy of a CA.
 *
 * A policy is a JSON object stored in the CA's record (schema in
 * docs/ca.md): top-level rules apply to every profile, "profiles": {P:
 * {rules}} override them field by field for profile P, and
 * "allow_profiles" limits which profiles may be signed at all. A missing
 * rule means "no restriction"; an empty list means "nothing allowed".
 * Everything is checked on the built, still unsigned certificate, so the
 * rules see exactly the names and the lifetime that would be signed.
 * Every refusal is HKMS_E_POLICY "policy_violation" naming the rule, e.g.
 * "dns name 'evil.com' not allowed by rule allow_dns=[.example.com]".
 *
 * The name constraints of the CA's chain are checked by x509
 * (hkms_x509_nc_check, src/x509/nameconst.c).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "hkms/certio.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "ca_int.h"

#define POLICY_MAX (64 * 1024)


/* ---- names --------------------------------------------------------- */

/* DNS names and CIDR ranges are parsed by x509 (hkms_x509_dns_check,
 * hkms_x509_cidr_parse): one validator for the whole code base. */
static int
dns_valid(const char *s)
{
	return hkms_x509_dns_check(s, strlen(s), 0, NULL) == HKMS_OK;
}

/* name ends with suffix (case-insensitive) and is longer. */
static int
ends_with_ci(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcasecmp(name + n - s, suffix) == 0;
}

/* ---- parsing ------------------------------------------------------- */

static enum hkms_rc
bad(struct hkms_err *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum hkms_rc
bad(struct hkms_err *err, const char *where, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return hkms_err_setc(err, HKMS_E_INVALID, "invalid_policy",
	    "invalid policy: %s: %s", where, msg);
}

static enum hkms_rc
str_list(json_t *v, const char *where, int (*ok)(const char *),
    const char *what, struct hkms_err *err)
{
	size_t i;
	json_t *it;

	if (!json_is_array(v))
		return bad(err, where, "must be a list of %s", what);
	if (json_array_size(v) > 256)
		return bad(err, where, "more than 256 %s", what);
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			return bad(err, where, "must be a list of %s", what);
		if (ok != NULL && !ok(json_string_value(it)))
			return bad(err, where, "invalid entry '%s'",
			    json_string_value(it));
	}
	return HKMS_OK;
}

static int
ok_dns_rule(const char *s)
{
	if (s[0] == '.')
		return strchr(s + 1, '.') != NULL && dns_valid(s + 1);
	if (strncmp(s, "*.", 2) == 0)
		return strchr(s + 2, '.') != NULL && dns_valid(s + 2);
	return dns_valid(s);
}

static int
ok_cidr(const char *s)
{
	struct hkms_x509_cidr c;

	return hkms_x509_cidr_parse(s, HKMS_X509_CIDR_STRICT, &c, NULL) ==
	    HKMS_OK;
}

static int
ok_email_rule(const char *s)
{
	const char *at = strchr(s, '@');

	return at != NULL && strchr(at + 1, '@') == NULL &&
	    dns_valid(at + 1) && strlen(s) <= 254;
}

static int
ok_uri_rule(const char *s)
{
	return s[0] != '\0' && strchr(s, ':') != NULL && strlen(s) <= 2048;
}

static int
ok_key_type(const char *s)
{
	return strcmp(s, "rsa") == 0 || strcmp(s, "ec") == 0;
}

static int
ok_curve(const char *s)
{
	return strcmp(s, "p256") == 0 || strcmp(s, "p384") == 0 ||
	    strcmp(s, "p521") == 0;
}

static int
ok_profile(const char *s)
{
	return hkms_name_valid(s);
}

static enum hkms_rc
int_rule(json_t *v, const char *where, json_int_t lo, json_int_t hi,
    struct hkms_err *err)
{
	char range[64];

	snprintf(range, sizeof(range), "%lld..%lld", (long long)lo,
	    (long long)hi);
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return bad(err, where, "must be an integer %s", range);
	return HKMS_OK;
}

/* One rule object (the top level or profiles.P); keys outside rules and
 * extra are refused. */
static enum hkms_rc
parse_rules(json_t *o, const char *scope, const char *const *extra,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_OK;
	const char *k;
	json_t *v;
	char where[160];
	size_t i;

	json_object_foreach(o, k, v) {
		int known = 0;

		snprintf(where, sizeof(where), "%s%s", scope, k);
		for (i = 0; extra != NULL && extra[i] != NULL; i++)
			if (strcmp(k, extra[i]) == 0)
				known = 1;
		if (known)
			continue;
		if (strcmp(k, "allow_dns") == 0)
			rc = str_list(v, where, ok_dns_rule, "DNS names", err);
		else if (strcmp(k, "allow_wildcard") == 0) {
			if (!json_is_boolean(v))
				rc = bad(err, where, "must be %s",
				    "true or false");
		} else if (strcmp(k, "allow_ip") == 0)
			rc = str_list(v, where, ok_cidr, "CIDR ranges", err);
		else if (strcmp(k, "allow_email") == 0)
			rc = str_list(v, where, ok_email_rule,
			    "addresses or @domains", err);
		else if (strcmp(k, "allow_uri") == 0)
			rc = str_list(v, where, ok_uri_rule, "URI prefixes",
			    err);
		else if (strcmp(k, "max_days") == 0)
			rc = int_rule(v, where, 1, 36500, err);
		else if (strcmp(k, "allow_key_types") == 0)
			rc = str_list(v, where, ok_key_type, "rsa|ec", err);
		else if (strcmp(k, "min_rsa_bits") == 0)
			rc = int_rule(v, where, 2048, 16384, err);
		else if (strcmp(k, "allow_ec_curves") == 0)
			rc = str_list(v, where, ok_curve, "p256|p384|p521",
			    err);
		else
			rc = bad(err, where, "unknown field%s", "");
		if (rc != HKMS_OK)
			return rc;
	}
	return HKMS_OK;
}

enum hkms_rc
ca_policy_parse(const char *text, size_t len, json_t **out,
    struct hkms_err *err)
{
	static const char *const top[] = { "description", "allow_profiles",
	    "profiles", NULL };
	json_error_t je;
	json_t *o, *v, *p;
	enum hkms_rc rc;
	const char *k;
	char scope[96];

	if (len > POLICY_MAX)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_policy",
		    "invalid policy: larger than %d bytes", POLICY_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "invalid_policy",
		    "invalid policy: line %d: %s", je.line, je.text);
	if (!json_is_object(o)) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_policy",
		    "invalid policy: not a JSON object");
		goto out;
	}
	if ((rc = parse_rules(o, "", top, err)) != HKMS_OK)
		goto out;
	if ((v = json_object_get(o, "description")) != NULL &&
	    (!json_is_string(v) || strlen(json_string_value(v)) > 255)) {
		rc = bad(err, "description", "must be a string of at most "
		    "%s characters", "255");
		goto out;
	}
	if ((v = json_object_get(o, "allow_profiles")) != NULL &&
	    (rc = str_list(v, "allow_profiles", ok_profile, "profile names",
	    err)) != HKMS_OK)
		goto out;
	if ((v = json_object_get(o, "profiles")) != NULL) {
		if (!json_is_object(v)) {
			rc = bad(err, "profiles", "must be an object %s",
			    "{profile: {rules}}");
			goto out;
		}
		json_object_foreach(v, k, p) {
			snprintf(scope, sizeof(scope), "profiles.%.64s.", k);
			if (!hkms_name_valid(k)) {
				rc = bad(err, "profiles", "invalid profile "
				    "name '%s'", k);
				goto out;
			}
			if (!json_is_object(p)) {
				rc = bad(err, scope, "must be an object of "
				    "rules%s", "");
				goto out;
			}
			if ((rc = parse_rules(p, scope, NULL, err)) != HKMS_OK)
				goto out;
		}
	}
	*out = o;
	o = NULL;	/* transferred */
	rc = HKMS_OK;
out:
	json_decref(o);
	return rc;
}

/* ---- checking ------------------------------------------------------ */

/* Rule key for profile: profiles.P.key, else the top-level key. *scope
 * gets "profiles.P." or "". NULL if neither sets it. */
static json_t *
rule(json_t *policy, const char *profile, const char *key, char *scope,
    size_t size)
{
	json_t *p = json_object_get(json_object_get(policy, "profiles"),
	    profile), *v;

	if ((v = json_object_get(p, key)) != NULL) {
		snprintf(scope, size, "profiles.%s.", profile);
		return v;
	}
	scope[0] = '\0';
	return json_object_get(policy, key);
}

/* "[a,b,c]" of a string list, cut to fit. */
static void
list_str(json_t *a, char *buf, size_t size)
{
	size_t i, n = 0;
	json_t *it;

	n += (size_t)snprintf(buf, size, "[");
	json_array_foreach(a, i, it) {
		if (n >= size)
			break;
		n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? "," : "",
		    json_string_value(it));
	}
	if (n < size)
		snprintf(buf + n, size - n, "]");
	if (n >= size && size > 4)
		memcpy(buf + size - 5, "...]", 5);
}

static enum hkms_rc
violation(struct hkms_err *err, const char *what, const char *scope,
    const char *key, json_t *v)
{
	char val[120];

	if (json_is_array(v))
		list_str(v, val, sizeof(val));
	else if (json_is_boolean(v))
		snprintf(val, sizeof(val), "%s", json_is_true(v) ? "true" :
		    "false");
	else
		snprintf(val, sizeof(val), "%lld",
		    (long long)json_integer_value(v));
	return hkms_err_setc(err, HKMS_E_POLICY, "policy_violation",
	    "%s not allowed by rule %s%s=%s", what, scope, key, val);
}

static int
in_list(json_t *a, const char *s)
{
	size_t i;
	json_t *it;

	json_array_foreach(a, i, it)
		if (strcmp(json_string_value(it), s) == 0)
			return 1;
	return 0;
}

static int
dns_allowed(json_t *allow, const char *name)
{
	size_t i;
	json_t *it;

	json_array_foreach(allow, i, it) {
		const char *r = json_string_value(it);

		if (r[0] == '.' ? ends_with_ci(name, r) :
		    strcasecmp(name, r) == 0)
			return 1;
	}
	return 0;
}

static enum hkms_rc
check_dns(json_t *policy, const char *profile, const char *name,
    const char *label, struct hkms_err *err)
{
	char scope[96], what[400];
	json_t *v;

	v = rule(policy, profile, "allow_wildcard", scope, sizeof(scope));
	if (strncmp(name, "*.", 2) == 0 && json_is_false(v)) {
		snprintf(what, sizeof(what), "wildcard name '%.255s'%s", name,
		    label);
		return violation(err, what, scope, "allow_wildcard", v);
	}
	v = rule(policy, profile, "allow_dns", scope, sizeof(scope));
	if (v != NULL && !dns_allowed(v, name)) {
		snprintf(what, sizeof(what), "dns name '%.255s'%s", name,
		    label);
		return violation(err, what, scope, "allow_dns", v);
	}
	return HKMS_OK;
}

static enum hkms_rc
check_ip(json_t *policy, const char *profile, const ASN1_OCTET_STRING *ip,
    struct hkms_err *err)
{
	char scope[96], what[128], txt[INET6_ADDRSTRLEN];
	struct hkms_x509_cidr c;
	size_t i;
	json_t *v, *it;

	v = rule(policy, profile, "allow_ip", scope, sizeof(scope));
	if (v == NULL)
		return HKMS_OK;
	json_array_foreach(v, i, it)
		if (hkms_x509_cidr_parse(json_string_value(it), 0, &c,
		    NULL) == HKMS_OK && hkms_x509_cidr_contains(&c, ip->data,
		    (size_t)ip->length))
			return HKMS_OK;
	if (inet_ntop(ip->length == 4 ? AF_INET : AF_INET6, ip->data, txt,
	    sizeof(txt)) == NULL)
		snprintf(txt, sizeof(txt), "?");
	snprintf(what, sizeof(what), "ip address '%s'", txt);
	return violation(err, what, scope, "allow_ip", v);
}

static enum hkms_rc
check_email(json_t *policy, const char *profile, const char *addr,
    struct hkms_err *err)
{
	char scope[96], what[320];
	const char *at = strchr(addr, '@');
	size_t i;
	json_t *v, *it;

	v = rule(policy, profile, "allow_email", scope, sizeof(scope));
	if (v == NULL)
		return HKMS_OK;
	json_array_foreach(v, i, it) {
		const char *r = json_string_value(it);

		if (strcasecmp(r, addr) == 0 || (r[0] == '@' && at != NULL &&
		    strcasecmp(r, at) == 0))
			return HKMS_OK;
	}
	snprintf(what, sizeof(what), "email '%.255s'", addr);
	return violation(err, what, scope, "allow_email", v);
}

static enum hkms_rc
check_uri(json_t *policy, const char *profile, const char *uri,
    struct hkms_err *err)
{
	char scope[96], what[200];
	size_t i;
	json_t *v, *it;

	v = rule(policy, profile, "allow_uri", scope, sizeof(scope));
	if (v == NULL)
		return HKMS_OK;
	json_array_foreach(v, i, it)
		if (strncmp(uri, json_string_value(it),
		    strlen(json_string_value(it))) == 0)
			return HKMS_OK;
	snprintf(what, sizeof(what), "uri '%.150s'", uri);
	return violation(err, what, scope, "allow_uri", v);
}

static enum hkms_rc
check_key(json_t *policy, const char *profile, EVP_PKEY *key,
    struct hkms_err *err)
{
	struct hkms_x509_key_info ki;
	char scope[96], what[96], curve[32];
	enum hkms_rc rc;
	const char *t;
	json_t *v;

	if ((rc = hkms_x509_key_describe(key, &ki, err)) != HKMS_OK)
		return rc;
	t = strcmp(ki.type, "RSA") == 0 ? "rsa" : strcmp(ki.type, "EC") == 0 ?
	    "ec" : "other";
	v = rule(policy, profile, "allow_key_types", scope, sizeof(scope));
	if (v != NULL && !in_list(v, t)) {
		snprintf(what, sizeof(what), "key type %s", t);
		return violation(err, what, scope, "allow_key_types", v);
	}
	v = rule(policy, profile, "min_rsa_bits", scope, sizeof(scope));
	if (v != NULL && strcmp(t, "rsa") == 0 && ki.bits <
	    json_integer_value(v)) {
		snprintf(what, sizeof(what), "rsa key of %d bits", ki.bits);
		return violation(err, what, scope, "min_rsa_bits", v);
	}
	v = rule(policy, profile, "allow_ec_curves", scope, sizeof(scope));
	if (v != NULL && strcmp(t, "ec") == 0) {
		/* "P-256" -> "p256" */
		snprintf(curve, sizeof(curve), "p%s", strncmp(ki.curve, "P-",
		    2) == 0 ? ki.curve + 2 : ki.curve);
		if (!in_list(v, curve)) {
			snprintf(what, sizeof(what), "ec curve %s", curve);
			return violation(err, what, scope, "allow_ec_curves",
			    v);
		}
	}
	return HKMS_OK;
}

int
ca_policy_max_days(json_t *policy, const char *profile)
{
	char scope[96];
	json_t *v = rule(policy, profile, "max_days", scope, sizeof(scope));

	return v ? (int)json_integer_value(v) : 0;
}

enum hkms_rc
ca_policy_check(json_t *policy, const char *profile, X509 *x,
    EVP_PKEY *subject_key, int days, struct hkms_err *err)
{
	GENERAL_NAMES *gens = NULL;
	struct hkms_err e;
	enum hkms_rc rc = HKMS_OK;
	char scope[96], what[96], cn[256];
	int64_t na, now = (int64_t)time(NULL);
	json_t *v;
	int i;

	if (policy == NULL || json_is_null(policy))
		return HKMS_OK;
	v = json_object_get(policy, "allow_profiles");
	if (v != NULL && !in_list(v, profile)) {
		snprintf(what, sizeof(what), "profile '%s'", profile);
		return violation(err, what, "", "allow_profiles", v);
	}
	v = rule(policy, profile, "max_days", scope, sizeof(scope));
	if (v != NULL) {
		/* the explicit request, and what the certificate really
		 * gets (a minute of slack for the back-dated not-before) */
		if (hkms_certio_time(X509_get0_notAfter(x), &na, &e) !=
		    HKMS_OK)
			na = 0;
		if (days <= 0 && na > now)
			days = (int)((na - now + CA_DAY - 61) / CA_DAY);
		if (days > json_integer_value(v)) {
			snprintf(what, sizeof(what), "lifetime of %d days",
			    days);
			return violation(err, what, scope, "max_days", v);
		}
	}
	if ((rc = check_key(policy, profile, subject_key, err)) != HKMS_OK)
		return rc;
	if (hkms_x509_cn_hostname(X509_get_subject_name(x), cn, sizeof(cn)) &&
	    (rc = check_dns(policy, profile, cn, " (common name)", err)) !=
	    HKMS_OK)
		return rc;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; rc == HKMS_OK && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char buf[2100];
		int len;

		switch (g->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			len = ASN1_STRING_length(g->d.ia5);
			if (len < 0 || (size_t)len >= sizeof(buf)) {
				rc = hkms_err_setc(err, HKMS_E_POLICY,
				    "policy_violation", "subject alternative "
				    "name too long");
				break;
			}
			memcpy(buf, ASN1_STRING_get0_data(g->d.ia5),
			    (size_t)len);
			buf[len] = '\0';
			if (g->type == GEN_DNS)
				rc = check_dns(policy, profile, buf, "", err);
			else if (g->type == GEN_EMAIL)
				rc = check_email(policy, profile, buf, err);
			else
				rc = check_uri(policy, profile, buf, err);
			break;
		case GEN_IPADD:
			rc = check_ip(policy, profile, g->d.iPAddress, err);
			break;
		default:
			rc = hkms_err_setc(err, HKMS_E_POLICY,
			    "policy_violation", "subject alternative name "
			    "type %d not allowed", g->type);
		}
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

/* ACME (issue 17a): one dns name against the dns rules of policy for
 * profile, before there is a certificate (newOrder). */
enum hkms_rc
ca_policy_name_ok(json_t *policy, const char *profile, const char *name,
    struct hkms_err *err)
{
	if (policy == NULL || !json_is_object(policy))
		return HKMS_OK;
	return check_dns(policy, profile, name, "", err);
}
