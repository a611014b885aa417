/*
 * Chain verification (include/hkms/certio.h): a thin, strict front of
 * OpenSSL's X509_verify_cert. We never build or check paths ourselves;
 * what we add is the policy (security level 2, purpose, host, time,
 * no partial chains unless asked) and a stable JSON verdict whose error
 * codes do not change with OpenSSL's wording. The verdict matches
 * `openssl verify -auth_level 2 -purpose sslserver -verify_hostname H
 * -attime T` for the same inputs (T-X509-1).
 *
 * With a profile (rfc5280, webpki; issue 14b) OpenSSL runs with
 * X509_V_FLAG_X509_STRICT and without the common-name fallback, and the
 * path rules of pathrules.c run over the path it built; every rejection
 * then names its rule in error.rule, and a rule OpenSSL has no stable
 * code for gives the code "path_rule".
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "hkms/certio.h"

static const struct {
	int err;
	const char *code;
} verify_codes[] = {
	{ X509_V_ERR_CERT_HAS_EXPIRED, "certificate_expired" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "certificate_not_yet_valid" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "bad_validity_field" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "bad_validity_field" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, "hostname_mismatch" },
	{ X509_V_ERR_IP_ADDRESS_MISMATCH, "ip_address_mismatch" },
	{ X509_V_ERR_EMAIL_MISMATCH, "email_mismatch" },
	{ X509_V_ERR_INVALID_PURPOSE, "invalid_purpose" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_length_exceeded" },
	{ X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED, "path_length_exceeded" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "chain_too_long" },
	{ X509_V_ERR_PERMITTED_VIOLATION, "name_constraints_violation" },
	{ X509_V_ERR_EXCLUDED_VIOLATION, "name_constraints_violation" },
	{ X509_V_ERR_SUBTREE_MINMAX, "name_constraints_violation" },
	{ X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE,
	    "name_constraints_violation" },
	{ X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX,
	    "name_constraints_violation" },
	{ X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "name_constraints_violation" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, "unable_to_get_issuer" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	    "unable_to_get_issuer" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
	    "unable_to_get_issuer" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self_signed_certificate" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "self_signed_in_chain" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE, "bad_signature" },
	{ X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE, "bad_signature" },
	{ X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, "bad_signature" },
	{ X509_V_ERR_INVALID_CA, "invalid_ca" },
	{ X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "invalid_ca" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "weak_chain_key" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL, "weak_chain_key" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "weak_signature" },
	{ X509_V_ERR_CERT_REVOKED, "certificate_revoked" },
	{ X509_V_ERR_CERT_REJECTED, "certificate_rejected" },
	{ X509_V_ERR_CERT_UNTRUSTED, "certificate_untrusted" },
	{ X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION,
	    "unhandled_critical_extension" },
	{ X509_V_ERR_INVALID_EXTENSION, "invalid_extension" },
	{ X509_V_ERR_INVALID_NON_CA, "invalid_non_ca" },
	{ X509_V_ERR_INVALID_POLICY_EXTENSION, "certificate_policy_invalid" },
	{ X509_V_ERR_NO_EXPLICIT_POLICY, "certificate_policy_invalid" },
};

static const char *
verify_code(int e)
{
	size_t i;

	for (i = 0; i < sizeof(verify_codes) / sizeof(verify_codes[0]); i++)
		if (verify_codes[i].err == e)
			return verify_codes[i].code;
	return "verification_failed";
}

const char *
hkms_certio_purpose_name(enum hkms_certio_purpose p)
{
	switch (p) {
	case HKMS_CERTIO_PURPOSE_SERVER: return "server";
	case HKMS_CERTIO_PURPOSE_CLIENT: return "client";
	case HKMS_CERTIO_PURPOSE_ANY: break;
	}
	return "any";
}

enum hkms_rc
hkms_certio_purpose_parse(const char *name, enum hkms_certio_purpose *out,
    struct hkms_err *err)
{
	if (name == NULL || strcmp(name, "any") == 0)
		*out = HKMS_CERTIO_PURPOSE_ANY;
	else if (strcmp(name, "server") == 0)
		*out = HKMS_CERTIO_PURPOSE_SERVER;
	else if (strcmp(name, "client") == 0)
		*out = HKMS_CERTIO_PURPOSE_CLIENT;
	else
		return hkms_err_setc(err, HKMS_E_INVALID, "bad_purpose",
		    "unknown purpose '%s': use server, client or any", name);
	return HKMS_OK;
}

static int
is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1;
}

int
hkms_certio_anchor_cb(int ok, X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	int d = X509_STORE_CTX_get_error_depth(ctx);

	if (ok || chain == NULL || d != sk_X509_num(chain) - 1 ||
	    d < X509_STORE_CTX_get_num_untrusted(ctx))
		return ok;
	switch (X509_STORE_CTX_get_error(ctx)) {
	case X509_V_ERR_CA_CERT_MISSING_KEY_USAGE:
	case X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER:
	case X509_V_ERR_CA_BCONS_NOT_CRITICAL:
	case X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN:
	case X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3:
		return 1;
	}
	return ok;
}

static enum hkms_rc
set_params(X509_STORE_CTX *ctx, const struct hkms_certio_verify_opts *o,
    struct hkms_err *err)
{
	X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
	int ok = 1;

	X509_VERIFY_PARAM_set_auth_level(param, 2);
	if (o->purpose == HKMS_CERTIO_PURPOSE_SERVER)
		ok = X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	else if (o->purpose == HKMS_CERTIO_PURPOSE_CLIENT)
		ok = X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
	if (ok && o->host != NULL && o->host[0] != '\0') {
		if (is_ip_literal(o->host))
			ok = X509_VERIFY_PARAM_set1_ip_asc(param, o->host);
		else
			ok = X509_VERIFY_PARAM_set1_host(param, o->host, 0);
	}
	X509_VERIFY_PARAM_set_time(param, (time_t)(o->at_time != 0 ?
	    o->at_time : (int64_t)time(NULL)));
	/* OpenSSL's depth counts intermediates: the anchor may be at
	 * depth + 1 (the profiles check max_depth themselves) */
	if (o->profile == HKMS_CERTIO_PROFILE_OPENSSL && o->max_depth > 0)
		X509_VERIFY_PARAM_set_depth(param, o->max_depth - 1);
	if (o->profile != HKMS_CERTIO_PROFILE_OPENSSL) {
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
		/* strict mode checks the anchor's own extensions too; the
		 * anchor is a name and a key (RFC 5280 6.1.1 (d)) */
		X509_STORE_CTX_set_verify_cb(ctx, hkms_certio_anchor_cb);
		/* names only from SANs (RFC 6125 6.4.4 made optional, the
		 * CA/B profile and the strict verifiers drop it) */
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	}
	if (o->partial_chain)
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	else
		X509_VERIFY_PARAM_clear_flags(param,
		    X509_V_FLAG_PARTIAL_CHAIN);
	if (!ok)
		return hkms_err_crypto(err, "cannot set verification "
		    "parameters");
	return HKMS_OK;
}

static json_t *
path_entry(X509 *x)
{
	json_t *o = json_object();
	char thumb[HKMS_CERTIO_THUMB_SIZE];
	char *subj = hkms_certio_name_str(X509_get_subject_name(x));
	char *iss = hkms_certio_name_str(X509_get_issuer_name(x));
	char when[32] = "";
	int64_t na;
	struct tm tm;

	if (hkms_certio_thumbprint(x, thumb, NULL) != HKMS_OK)
		thumb[0] = '\0';
	if (hkms_certio_time(X509_get0_notAfter(x), &na, NULL) == HKMS_OK) {
		time_t t = (time_t)na;

		if (gmtime_r(&t, &tm) != NULL)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
			    &tm);
	}
	json_object_set_new(o, "subject", json_string(subj ? subj : ""));
	json_object_set_new(o, "issuer", json_string(iss ? iss : ""));
	json_object_set_new(o, "thumbprint", json_string(thumb));
	json_object_set_new(o, "not_after", json_string(when));
	free(subj);
	free(iss);
	return o;
}

/* the verdict's error for a path rule that failed after OpenSSL had
 * accepted the path */
static json_t *
rule_error(const char *rule, const char *msg, int depth, X509 *x)
{
	json_t *e = json_object();
	char *subj = x != NULL ?
	    hkms_certio_name_str(X509_get_subject_name(x)) : NULL;

	json_object_set_new(e, "code", json_string("path_rule"));
	json_object_set_new(e, "rule", json_string(rule));
	json_object_set_new(e, "message", json_string(msg));
	json_object_set_new(e, "depth", json_integer(depth));
	json_object_set_new(e, "subject", subj != NULL ? json_string(subj) :
	    json_null());
	free(subj);
	return e;
}

enum hkms_rc
hkms_certio_verify_ex(STACK_OF(X509) *trusted, STACK_OF(X509) *untrusted,
    X509 *leaf, const struct hkms_certio_verify_opts *opts, json_t **result,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL;
	struct hkms_certio_verify_opts o = { 0 };
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *empty = NULL;
	json_t *res = NULL, *path, *e;
	int ok, i, verr, depth;
	X509 *cur;
	char *subj, msg[200];
	const char *rule = NULL, *code;

	if (leaf == NULL || result == NULL)
		return hkms_err_set(err, HKMS_E_INVALID,
		    "no certificate to verify");
	if (opts != NULL)
		o = *opts;
	if (o.at_time == 0)
		o.at_time = (int64_t)time(NULL);
	if (trusted == NULL && (trusted = empty = sk_X509_new_null()) == NULL)
		return hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
	/* An empty store: anchors come only from the trusted stack, never
	 * from OpenSSL's default paths. */
	if ((store = X509_STORE_new()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
		rc = hkms_err_crypto(err, "cannot set up verification");
		goto out;
	}
	X509_STORE_CTX_set0_trusted_stack(ctx, trusted);
	if ((rc = set_params(ctx, &o, err)) != HKMS_OK)
		goto out;
	ok = X509_verify_cert(ctx);
	if ((res = json_object()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	if (ok == 1 && o.profile != HKMS_CERTIO_PROFILE_OPENSSL &&
	    (rule = hkms_certio_path_rules(X509_STORE_CTX_get0_chain(ctx),
	    o.profile, o.purpose, o.host, o.max_depth, &depth, msg,
	    sizeof(msg))) != NULL) {
		e = rule_error(rule, msg, depth, sk_X509_value(
		    X509_STORE_CTX_get0_chain(ctx), depth));
		json_object_set_new(res, "ok", json_false());
		json_object_set_new(res, "error", e);
		rc = hkms_err_setc(err, HKMS_E_VERIFY, "path_rule", "path "
		    "rule %s fails at depth %d: %s", rule, depth, msg);
		goto done;
	}
	json_object_set_new(res, "ok", json_boolean(ok == 1));
	if (ok == 1) {
		STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);

		path = json_array();
		for (i = 0; i < sk_X509_num(chain); i++)
			json_array_append_new(path,
			    path_entry(sk_X509_value(chain, i)));
		json_object_set_new(res, "path", path);
		rc = HKMS_OK;
	} else {
		verr = X509_STORE_CTX_get_error(ctx);
		depth = X509_STORE_CTX_get_error_depth(ctx);
		cur = X509_STORE_CTX_get_current_cert(ctx);
		if (verr == X509_V_OK)
			verr = X509_V_ERR_UNSPECIFIED;
		e = json_object();
		json_object_set_new(e, "code", json_string(verify_code(verr)));
		json_object_set_new(e, "message",
		    json_string(X509_verify_cert_error_string(verr)));
		json_object_set_new(e, "depth", json_integer(depth));
		subj = cur != NULL ?
		    hkms_certio_name_str(X509_get_subject_name(cur)) : NULL;
		json_object_set_new(e, "subject", subj != NULL ?
		    json_string(subj) : json_null());
		free(subj);
		json_object_set_new(e, "openssl", json_integer(verr));
		json_object_set_new(res, "error", e);
		code = verify_code(verr);
		if (o.profile != HKMS_CERTIO_PROFILE_OPENSSL) {
			rule = hkms_certio_openssl_rule(verr);
			/* no SAN at all, rather than a SAN that differs */
			if (verr == X509_V_ERR_HOSTNAME_MISMATCH &&
			    depth == 0 && X509_get_ext_by_NID(leaf,
			    NID_subject_alt_name, -1) < 0)
				rule = "san_required";
			/* OpenSSL's X509_check_ca says "not a CA" also for a
			 * CA whose key usage lacks keyCertSign */
			if (verr == X509_V_ERR_INVALID_CA && cur != NULL &&
			    (X509_get_extension_flags(cur) & EXFLAG_CA) != 0 &&
			    (X509_get_extension_flags(cur) & EXFLAG_KUSAGE) !=
			    0 && (X509_get_key_usage(cur) & KU_KEY_CERT_SIGN) ==
			    0)
				rule = "ca_key_usage";
			if (strcmp(code, "verification_failed") == 0 &&
			    strcmp(rule, "openssl") != 0)
				code = "path_rule";
			json_object_set_new(e, "code", json_string(code));
			json_object_set_new(e, "rule", json_string(rule));
		}
		rc = hkms_err_setc(err, HKMS_E_VERIFY, code,
		    "certificate chain does not verify at depth %d: %s%s%s%s",
		    depth, X509_verify_cert_error_string(verr),
		    rule != NULL ? " (rule " : "", rule != NULL ? rule : "",
		    rule != NULL ? ")" : "");
	}
done:
	if (o.profile != HKMS_CERTIO_PROFILE_OPENSSL) {
		json_object_set_new(res, "profile", json_string(
		    hkms_certio_profile_name(o.profile)));
		json_object_set_new(res, "max_depth", json_integer(
		    o.max_depth > 0 ? o.max_depth :
		    hkms_certio_profile_max_depth(o.profile)));
	}
	json_object_set_new(res, "purpose",
	    json_string(hkms_certio_purpose_name(o.purpose)));
	json_object_set_new(res, "host", o.host != NULL ?
	    json_string(o.host) : json_null());
	json_object_set_new(res, "at", json_integer(o.at_time));
	*result = res;
	res = NULL;	/* transferred */
out:
	ERR_clear_error();
	json_decref(res);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_free(empty);
	return rc;
}

enum hkms_rc
hkms_certio_verify(STACK_OF(X509) *trusted, STACK_OF(X509) *untrusted,
    X509 *leaf, enum hkms_certio_purpose purpose, const char *host,
    int64_t at_time, json_t **result, struct hkms_err *err)
{
	struct hkms_certio_verify_opts o = { 0 };

	o.purpose = purpose;
	o.host = host;
	o.at_time = at_time;
	return hkms_certio_verify_ex(trusted, untrusted, leaf, &o, result,
	    err);
}
