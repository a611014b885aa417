/*
 * Verification against the truststore and pin evaluation
 * (hkms_trust_verify, docs/truststore.md "Pins").
 *
 * Pass 1 is plain OpenSSL verification with every truststore certificate
 * as an anchor and partial chains off. Only if that fails for want of an
 * anchor, and some pinned certificate is not self-signed (a pinned
 * intermediate CA, or a pinned CA-issued leaf), pass 2 retries with the
 * pinned certificates alone as anchors and partial chains on: a pin is an
 * explicit "trust exactly this", imported intermediates never are.
 *
 * Then pins are applied: a pinned entry whose recorded peer matches the
 * presented leaf (by host name when one is given, else by subject) must
 * find its pinned certificate in the presented chain or the built path.
 * If not, the peer's certificate has changed: the verdict is
 * "pinned_certificate_changed" whatever OpenSSL said, and the entry is
 * marked (status `untrusted`) until a matching chain verifies again.
 */
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "trust_int.h"

static int
retry_code(const char *code)
{
	return strcmp(code, "unable_to_get_issuer") == 0 ||
	    strcmp(code, "self_signed_in_chain") == 0 ||
	    strcmp(code, "self_signed_certificate") == 0;
}

/* Does pinned entry e apply to a peer presenting leaf (subject subj)? */
static int
pin_applies(const struct trust_entry *e, const char *subj, const char *host)
{
	json_t *peer = json_object_get(json_object_get(e->meta, "pin"),
	    "peer");
	json_t *hosts = json_object_get(peer, "hosts");
	const char *ps = json_string_value(json_object_get(peer, "subject"));
	size_t i;

	if (host != NULL && host[0] != '\0') {
		for (i = 0; i < json_array_size(hosts); i++)
			if (strcasecmp(json_string_value(json_array_get(hosts,
			    i)) ? json_string_value(json_array_get(hosts, i)) :
			    "", host) == 0)
				return 1;
		return 0;
	}
	return ps != NULL && subj != NULL && strcmp(ps, subj) == 0;
}

static int
in_array(json_t *arr, const char *s)
{
	size_t i;

	for (i = 0; i < json_array_size(arr); i++)
		if (json_is_string(json_array_get(arr, i)) &&
		    strcmp(json_string_value(json_array_get(arr, i)), s) == 0)
			return 1;
	return 0;
}

/* Thumbprints of the presented chain and of the built path. */
static json_t *
seen_thumbs(STACK_OF(X509) *chain, json_t *res)
{
	json_t *arr = json_array(), *path = json_object_get(res, "path");
	char tp[HKMS_CERTIO_THUMB_SIZE];
	size_t k;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (hkms_certio_thumbprint(sk_X509_value(chain, i), tp, NULL) ==
		    HKMS_OK)
			json_array_append_new(arr, json_string(tp));
	for (k = 0; k < json_array_size(path); k++)
		json_array_append(arr, json_object_get(json_array_get(path, k),
		    "thumbprint"));
	return arr;
}

/* Name each path element that is in the truststore, and the anchor. */
static void
annotate(const struct hkms_trust_snap *s, json_t *res)
{
	json_t *path = json_object_get(res, "path"), *el;
	const char *alias = NULL, *tp;
	size_t i;

	for (i = 0; i < json_array_size(path); i++) {
		el = json_array_get(path, i);
		tp = json_string_value(json_object_get(el, "thumbprint"));
		alias = tp ? hkms_trust_snap_find(s, tp) : NULL;
		if (alias != NULL)
			json_object_set_new(el, "alias", json_string(alias));
	}
	if (json_is_true(json_object_get(res, "ok")))
		json_object_set_new(res, "trusted_by", alias ?
		    json_string(alias) : json_null());
}

/* Turn res into a pin failure, keeping OpenSSL's own verdict as cause. */
static void
pin_fail(json_t *res, const char *alias, const char *pinned,
    const char *presented, struct hkms_err *err)
{
	json_t *e = json_object(), *p = json_object();
	char msg[256];

	snprintf(msg, sizeof(msg), "the certificate presented for pinned "
	    "alias '%s' has changed", alias);
	json_object_set_new(e, "code",
	    json_string("pinned_certificate_changed"));
	json_object_set_new(e, "message", json_string(msg));
	json_object_set_new(e, "depth", json_integer(0));
	if (json_object_get(res, "error") != NULL)
		json_object_set(e, "cause", json_object_get(res, "error"));
	json_object_set_new(res, "error", e);
	json_object_set_new(res, "ok", json_false());
	json_object_del(res, "trusted_by");
	json_object_set_new(p, "alias", json_string(alias));
	json_object_set_new(p, "pinned", json_string(pinned));
	json_object_set_new(p, "presented", json_string(presented));
	json_object_set_new(p, "status", json_string("untrusted"));
	json_object_set_new(res, "pin", p);
	hkms_err_setc(err, HKMS_E_VERIFY, "pinned_certificate_changed", "%s "
	    "(pinned %s, presented %s)", msg, pinned, presented);
}

enum hkms_rc
hkms_trust_verify(struct hkms_trust *tr, STACK_OF(X509) *chain,
    const struct hkms_certio_verify_opts *opts, json_t **result,
    struct hkms_err *err)
{
	enum hkms_rc rc = HKMS_E_INTERNAL, rc2;
	struct hkms_certio_verify_opts o = { 0 };
	struct hkms_trust_snap *s = NULL;
	STACK_OF(X509) *untrusted = NULL;
	json_t *res = NULL, *res2 = NULL, *seen = NULL;
	struct hkms_err err2;
	char leaf_tp[HKMS_CERTIO_THUMB_SIZE], *subj = NULL;
	X509 *leaf;
	size_t i;
	int j, failed_pin = 0;

	if (tr == NULL || sk_X509_num(chain) <= 0 || result == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no chain to verify");
	if (opts != NULL)
		o = *opts;
	o.partial_chain = 0;
	leaf = sk_X509_value(chain, 0);
	if ((untrusted = sk_X509_new_null()) == NULL) {
		rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
		goto out;
	}
	for (j = 1; j < sk_X509_num(chain); j++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, j))) {
			rc = hkms_err_set(err, HKMS_E_NOMEM, "out of memory");
			goto out;
		}
	if ((rc = hkms_trust_snapshot(tr, &s, err)) != HKMS_OK)
		goto out;
	rc = hkms_certio_verify_ex(s->all, untrusted, leaf, &o, &res, err);
	if (rc == HKMS_E_VERIFY && s->pinned_non_root &&
	    retry_code(hkms_err_code(err))) {
		o.partial_chain = 1;
		rc2 = hkms_certio_verify_ex(s->pinned, untrusted, leaf, &o,
		    &res2, &err2);
		if (rc2 == HKMS_OK) {
			json_decref(res);
			res = res2;
			res2 = NULL;
			rc = HKMS_OK;
			hkms_err_clear(err);
		}
	}
	if (rc != HKMS_OK && rc != HKMS_E_VERIFY)
		goto out;
	annotate(s, res);

	if ((rc2 = hkms_certio_thumbprint(leaf, leaf_tp, err)) != HKMS_OK ||
	    (subj = hkms_certio_name_str(X509_get_subject_name(leaf))) ==
	    NULL) {
		rc = rc2 != HKMS_OK ? rc2 : hkms_err_set(err, HKMS_E_NOMEM,
		    "out of memory");
		goto out;
	}
	seen = seen_thumbs(chain, res);
	for (i = 0; i < s->n; i++) {
		const struct trust_entry *e = &s->v[i];
		json_t *pin = json_object_get(e->meta, "pin");
		const char *ptp = json_string_value(json_object_get(pin,
		    "thumbprint"));
		int marked = json_is_object(json_object_get(pin, "presented"));

		if (!e->pinned || ptp == NULL ||
		    !pin_applies(e, subj, o.host))
			continue;
		if (in_array(seen, ptp)) {
			/* the peer is back to its pinned certificate */
			if (marked && rc == HKMS_OK)
				(void)trust_pin_observe(tr, e->alias, NULL,
				    NULL, NULL);
			continue;
		}
		if (!failed_pin) {
			pin_fail(res, e->alias, ptp, leaf_tp, err);
			rc = HKMS_E_VERIFY;
			failed_pin = 1;
		}
		/* a failed mark must not hide the verdict: best effort */
		(void)trust_pin_observe(tr, e->alias, leaf_tp, subj, NULL);
	}
	*result = res;
	res = NULL;	/* transferred */
out:
	hkms_trust_snap_free(s);
	sk_X509_free(untrusted);
	json_decref(res);
	json_decref(res2);
	json_decref(seen);
	free(subj);
	return rc;
}
