/*
 * The service's own TLS certificate, the appliance way: get, create a CSR
 * (CN = the FQDN, SANs the host name, FQDN and the host's addresses by
 * default), apply a CA-issued certificate (the import checks, the CA
 * required), go back to a self-signed one (the previous one from the
 * history, same serial) or rekey, and a trust status against a pinned
 * copy.
 *
 * The record is the certificate record HKMS_SERVICE_CERT ("certs"); its
 * "key" names the token key (the first one is named like the record, a
 * rekey makes "hkms-service-r<time>"). Every replacement goes through the
 * certificate history (cert_history.c), so apply, self-signed and rekey
 * keep what they replace. The pinned copy is the record
 * service/pinned-certificate (no key member: it is not a key's user).
 *
 * The server (src/http/tls.c) serves whatever the record holds: it calls
 * hkms_ops_service_cert_ensure() at start and polls the record's stamp
 * (hkms_ops_service_cert_stamp) every second, so a change made by the CLI
 * reaches new connections within a second or two; the API routes reload
 * at once.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "hkms/certio.h"
#include "hkms/hsm.h"
#include "hkms/ops.h"
#include "hkms/store.h"
#include "hkms/util.h"
#include "hkms/x509.h"

#include "cert_int.h"
#include "ops_int.h"

#define PIN_KIND "service"
#define PIN_NAME "pinned-certificate"
#define SERVICE_DAYS 397

/* ---- host names ---------------------------------------------------- */

/* The machine's FQDN ([server] hostname, else the canonical name of the
 * host name) and its first label. */
static void
host_names(const struct hkms_config *cfg, char *host, size_t hlen,
    char *fqdn, size_t flen)
{
	struct addrinfo hints, *ai = NULL;

	if (cfg != NULL && cfg->server_hostname != NULL) {
		snprintf(fqdn, flen, "%s", cfg->server_hostname);
		snprintf(host, hlen, "%.*s", (int)strcspn(fqdn, "."), fqdn);
		return;
	}
	if (gethostname(host, hlen) != 0 || host[0] == '\0')
		snprintf(host, hlen, "localhost");
	host[hlen - 1] = '\0';
	snprintf(fqdn, flen, "%s", host);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	if (getaddrinfo(host, NULL, &hints, &ai) == 0 && ai != NULL &&
	    ai->ai_canonname != NULL && strchr(ai->ai_canonname, '.'))
		snprintf(fqdn, flen, "%s", ai->ai_canonname);
	if (ai != NULL)
		freeaddrinfo(ai);
}

/* Append ",TYPE:v" (or "TYPE:v" first) unless it is there already. */
static void
san_add(char *san, size_t size, const char *type, const char *v)
{
	char item[300];
	size_t n = strlen(san), il;
	const char *p;

	snprintf(item, sizeof(item), "%s:%s", type, v);
	il = strlen(item);
	for (p = san; (p = strstr(p, item)) != NULL; p += il)
		if ((p == san || p[-1] == ',') && (p[il] == ',' ||
		    p[il] == '\0'))
			return;
	snprintf(san + n, size - n, "%s%s", n ? "," : "", item);
}

/* The host's addresses: every interface that is up, not loopback, not
 * link-local (what `hostname -I` prints). Addresses a DHCP lease gave
 * cannot be told apart here; name them with alternative names. */
static void
host_addresses(char *san, size_t size)
{
	struct ifaddrs *ifa = NULL, *i;
	char buf[INET6_ADDRSTRLEN];

	if (getifaddrs(&ifa) != 0)
		return;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			struct sockaddr_in *s = (void *)i->ifa_addr;
			uint32_t a = ntohl(s->sin_addr.s_addr);

			if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)
				continue;
			inet_ntop(AF_INET, &s->sin_addr, buf, sizeof(buf));
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			struct sockaddr_in6 *s = (void *)i->ifa_addr;

			if (IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr) ||
			    IN6_IS_ADDR_LOOPBACK(&s->sin6_addr))
				continue;
			inet_ntop(AF_INET6, &s->sin6_addr, buf, sizeof(buf));
		} else
			continue;
		san_add(san, size, "IP", buf);
	}
	freeifaddrs(ifa);
}

/* The alternative names as given: "a,b,c", an address is an IP SAN, a
 * "DNS:"/"IP:"/"email:"/"URI:" prefix is kept, anything else is DNS. */
static void
san_given(const char *given, char *san, size_t size)
{
	static const char *const types[] = { "DNS", "IP", "email", "URI",
		NULL };
	unsigned char a[16];
	char item[300], *s, *e;
	const char *p = given;
	size_t n, t;

	while (*p != '\0') {
		n = strcspn(p, ",");
		snprintf(item, sizeof(item), "%.*s", (int)n, p);
		p += n + (p[n] == ',');
		for (s = item; *s == ' ' || *s == '\t'; s++)
			;
		for (e = s + strlen(s); e > s && (e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			*(e - 1) = '\0';
		if (*s == '\0')
			continue;
		if (inet_pton(AF_INET, s, a) == 1 ||
		    inet_pton(AF_INET6, s, a) == 1) {
			san_add(san, size, "IP", s);
			continue;
		}
		for (t = 0; types[t] != NULL; t++)
			if (strncasecmp(s, types[t], strlen(types[t])) == 0 &&
			    s[strlen(types[t])] == ':')
				break;
		if (types[t] != NULL) {
			n = strlen(san);
			snprintf(san + n, size - n, "%s%s", n ? "," : "", s);
		} else
			san_add(san, size, "DNS", s);
	}
}

/* "/K=v" with '/' and '\' escaped (hkms_x509_name_parse syntax). */
static void
rdn_add(char *subj, size_t size, const char *k, const char *v)
{
	size_t n = strlen(subj);

	if (v == NULL || *v == '\0')
		return;
	n += (size_t)snprintf(subj + n, size > n ? size - n : 0, "/%s=", k);
	for (; *v != '\0' && n + 2 < size; v++) {
		if (*v == '/' || *v == '\\')
			subj[n++] = '\\';
		subj[n++] = *v;
	}
	if (n < size)
		subj[n] = '\0';
}

/* The first start's subject and SANs: CN = FQDN; host name, FQDN,
 * localhost, 127.0.0.1, ::1 (local clients verify it by any of those). */
static void
bootstrap_names(const struct hkms_config *cfg, char *subj, size_t ssize,
    char *san, size_t sansize)
{
	char host[256], fqdn[256];

	host_names(cfg, host, sizeof(host), fqdn, sizeof(fqdn));
	subj[0] = '\0';
	rdn_add(subj, ssize, "CN", fqdn);
	san[0] = '\0';
	san_add(san, sansize, "DNS", host);
	san_add(san, sansize, "DNS", fqdn);
	san_add(san, sansize, "DNS", "localhost");
	san_add(san, sansize, "IP", "127.0.0.1");
	san_add(san, sansize, "IP", "::1");
}

/* ---- the record ---------------------------------------------------- */

static void
key_ref(const struct hkms_key_info *ki, char *ref, size_t size)
{
	if (ki->id_len > 0)
		snprintf(ref, size, "id:%s", ki->id_hex);
	else
		snprintf(ref, size, "%s", ki->name);
}

static enum hkms_rc
need(struct hkms_ops_ctx *c, int token, struct hkms_err *err)
{
	if (c == NULL || c->store == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no store open");
	if (token && c->hsm == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "no token open");
	return HKMS_OK;
}

/* The current record's meta (and PEM); "cert_not_found" when the service
 * has none yet. */
static enum hkms_rc
current(struct hkms_ops_ctx *c, json_t **meta, char **pem,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	rc = hkms_store_get(c->store, CERT_KIND, HKMS_SERVICE_CERT, meta, pem,
	    err);
	if (rc == HKMS_E_NOT_FOUND)
		rc = hkms_err_setc(err, HKMS_E_NOT_FOUND, "cert_not_found",
		    "the service has no certificate yet (the server makes a "
		    "self-signed one on its first start)");
	return rc;
}

/* The token key of the current record. */
static enum hkms_rc
current_key(struct hkms_ops_ctx *c, json_t *meta, struct hkms_key_info *ki,
    struct hkms_err *err)
{
	const char *key = json_string_value(json_object_get(meta, "key"));

	if (key == NULL)
		return hkms_err_setc(err, HKMS_E_INVALID, "no_key",
		    "the service certificate record names no token key");
	return ops_key_find(c, key, ki, err);
}

enum hkms_rc
hkms_ops_service_cert_ensure(struct hkms_ops_ctx *c, json_t **out,
    int *made, struct hkms_err *err)
{
	struct hkms_ops_cert_req req;
	struct hkms_err e = { 0 };
	char subject[300], san[1200];
	enum hkms_rc rc;
	json_t *k = NULL;

	if (made != NULL)
		*made = 0;
	if ((rc = need(c, 1, err)) != HKMS_OK)
		return rc;
	rc = hkms_ops_cert_show(c, HKMS_SERVICE_CERT, out, err);
	if (rc != HKMS_E_NOT_FOUND)
		return rc;
	hkms_err_clear(err);
	bootstrap_names(c->cfg, subject, sizeof(subject), san, sizeof(san));
	memset(&req, 0, sizeof(req));
	req.name = HKMS_SERVICE_CERT;
	req.key = HKMS_SERVICE_CERT;
	req.subject = subject;
	req.san = san;
	req.profile = "tls-server";
	req.days = SERVICE_DAYS;
	/* a key left by an earlier start whose record was deleted is used
	 * again; otherwise a new one */
	if (hkms_ops_key_show(c, HKMS_SERVICE_CERT, &k, &e) != HKMS_OK)
		req.new_key = c->cfg && c->cfg->server_key_type ?
		    c->cfg->server_key_type : "ec:p256";
	json_decref(k);
	if ((rc = hkms_ops_cert_self_sign(c, &req, out, err)) == HKMS_OK &&
	    made != NULL)
		*made = 1;
	return rc;
}

void
hkms_ops_service_cert_stamp(struct hkms_ops_ctx *c, char *buf, size_t size)
{
	struct hkms_store_stamp st;

	if (c == NULL || c->store == NULL || hkms_store_stamp(c->store,
	    CERT_KIND, HKMS_SERVICE_CERT, &st) != 0) {
		snprintf(buf, size, "%s", "");
		return;
	}
	snprintf(buf, size, "%llu:%llu:%llu:%lld:%lld", st.dev, st.ino,
	    st.size, st.mtime_ns, st.ctime_ns);
}

enum hkms_rc
hkms_ops_service_cert_get(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;
	json_t *m = NULL;

	OPS_AUTHORIZE(c, "service.cert_show", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need(c, 0, err)) != HKMS_OK ||
	    (rc = current(c, &m, NULL, err)) != HKMS_OK)
		return rc;
	json_decref(m);
	return hkms_ops_cert_show(c, HKMS_SERVICE_CERT, out, err);
}

/* ---- CSR ----------------------------------------------------------- */

static json_t *
csr_detail(const char *subject, const char *san)
{
	return json_pack("{s:s,s:s}", "subject", subject, "san", san);
}

enum hkms_rc
hkms_ops_service_cert_csr(struct hkms_ops_ctx *c,
    const struct hkms_ops_service_csr_req *req, json_t **out,
    struct hkms_err *err)
{
	struct hkms_key_info ki;
	char host[256], fqdn[256], subject[1024] = "", san[2048] = "";
	char ref[160];
	X509_REQ *csr = NULL;
	EVP_PKEY *pub = NULL;
	json_t *cur = NULL, *meta = NULL, *d;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "service.cert_csr", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	if (req == NULL || out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need(c, 1, err)) != HKMS_OK)
		return rc;
	host_names(c->cfg, host, sizeof(host), fqdn, sizeof(fqdn));
	rdn_add(subject, sizeof(subject), "CN", req->common_name &&
	    req->common_name[0] ? req->common_name : fqdn);
	rdn_add(subject, sizeof(subject), "O", req->organization);
	rdn_add(subject, sizeof(subject), "OU", req->organization_unit);
	rdn_add(subject, sizeof(subject), "C", req->country);
	rdn_add(subject, sizeof(subject), "ST", req->state);
	rdn_add(subject, sizeof(subject), "L", req->locality);
	if (req->alternative_names != NULL && req->alternative_names[0])
		san_given(req->alternative_names, san, sizeof(san));
	else {
		san_add(san, sizeof(san), "DNS", host);
		san_add(san, sizeof(san), "DNS", fqdn);
		host_addresses(san, sizeof(san));
	}
	if ((rc = hkms_ops_service_cert_ensure(c, &cur, NULL, err)) !=
	    HKMS_OK ||
	    (rc = current(c, &meta, NULL, err)) != HKMS_OK ||
	    (rc = current_key(c, meta, &ki, err)) != HKMS_OK)
		goto out;
	key_ref(&ki, ref, sizeof(ref));
	if ((rc = hkms_hsm_key_public(c->hsm, ref, &pub, err)) != HKMS_OK ||
	    (rc = hkms_x509_csr_build(pub, subject, san, NULL, &csr,
	    err)) != HKMS_OK ||
	    (rc = ops_sign_req(c->hsm, ref, csr, hkms_x509_digest_resolve(
	    HKMS_X509_DIGEST_AUTO, pub), err)) != HKMS_OK)
		goto out;
	json_decref(meta);
	meta = json_pack("{s:s,s:s}", "key", ki.name, "key_uri", ki.uri);
	if ((rc = ops_cert_object(NULL, csr, meta, HKMS_SERVICE_CERT, "csr",
	    0, out, err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	d = csr_detail(subject, san);
	if (ki.name[0] != '\0' && rc == HKMS_OK)
		json_object_set_new(d, "key", json_string(ki.name));
	hkms_ops_audit(c, "service.cert_csr", HKMS_SERVICE_CERT, rc, err, d);
	json_decref(d);
	json_decref(cur);
	json_decref(meta);
	X509_REQ_free(csr);
	EVP_PKEY_free(pub);
	return rc;
}

/* ---- apply --------------------------------------------------------- */

enum hkms_rc
hkms_ops_service_cert_apply(struct hkms_ops_ctx *c,
    const unsigned char *cert, size_t cert_len, const unsigned char *ca,
    size_t ca_len, int what_if, json_t **out, struct hkms_err *err)
{
	struct hkms_ops_cert_import_req req;
	json_t *cur = NULL, *meta = NULL;
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "service.cert_apply", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if (cert == NULL || cert_len == 0)
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "certificate is required");
	else if (ca == NULL || ca_len == 0)
		rc = hkms_err_setc(err, HKMS_E_INVALID, "invalid_field",
		    "ca is required: the certificate must be issued by it");
	else if ((rc = need(c, 1, err)) == HKMS_OK &&
	    (rc = hkms_ops_service_cert_ensure(c, &cur, NULL, err)) == HKMS_OK)
		rc = current(c, &meta, NULL, err);
	if (rc != HKMS_OK) {
		if (!what_if)
			hkms_ops_audit(c, "service.cert_apply",
			    HKMS_SERVICE_CERT, rc, err, NULL);
		goto out;
	}
	memset(&req, 0, sizeof(req));
	req.name = HKMS_SERVICE_CERT;
	req.data = cert;
	req.len = cert_len;
	req.ca = ca;
	req.ca_len = ca_len;
	/* the certificate must be for the service key as it is now */
	req.key = json_string_value(json_object_get(meta, "key"));
	req.profile = "tls-server";
	req.what_if = what_if;
	req.replace = 1;
	rc = cert_import_as(c, &req, "service.cert_apply", out, err);
out:
	json_decref(cur);
	json_decref(meta);
	return rc;
}

/* ---- self-signed, rekey ------------------------------------------- */

/* A history version to go back to: self-signed, valid now, its key in
 * the token. */
static int
self_signed_usable(struct hkms_ops_ctx *c, json_t *meta, void *arg)
{
	const char *key = json_string_value(json_object_get(meta, "key"));
	const char *na = json_string_value(json_object_get(meta, "not_after"));
	const char *nb = json_string_value(json_object_get(meta,
	    "not_before"));
	struct hkms_key_info ki;
	struct hkms_err e;
	struct tm tm;
	time_t now = time(NULL);

	(void)arg;
	if (!json_is_true(json_object_get(meta, "self_signed")) ||
	    key == NULL || na == NULL || nb == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (strptime(na, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL ||
	    timegm(&tm) < now)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if (strptime(nb, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL ||
	    timegm(&tm) > now)
		return 0;
	return ops_key_find(c, key, &ki, &e) == HKMS_OK;
}

/* A new key for a rekey, named after the first key with "-r<time>". */
static enum hkms_rc
rekey_key(struct hkms_ops_ctx *c, enum hkms_key_type type,
    struct hkms_key_info *nki, struct hkms_err *err)
{
	char name[65];
	enum hkms_rc rc = HKMS_E_EXISTS;
	int i;

	for (i = 0; i < 5 && rc == HKMS_E_EXISTS; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "%s-r%lld",
			    HKMS_SERVICE_CERT, (long long)time(NULL));
		else
			snprintf(name, sizeof(name), "%s-r%lld-%d",
			    HKMS_SERVICE_CERT, (long long)time(NULL), i);
		rc = ops_key_create(c, name, type, NULL, nki, err);
	}
	return rc;
}

enum hkms_rc
hkms_ops_service_cert_self_signed(struct hkms_ops_ctx *c, int rekey,
    json_t **out, struct hkms_err *err)
{
	struct hkms_key_info ki, nki;
	struct hkms_err e = { 0 };
	char subject[300], san[1200];
	const char *action = "unchanged";
	json_t *cur = NULL, *meta = NULL, *nmeta = NULL, *d = NULL, *cert = NULL;
	enum hkms_rc rc;
	char *pem = NULL;
	int locked = 0, made = 0, newkey = 0, version = 0, deleted = 0;

	OPS_AUTHORIZE(c, "service.cert_self_sign", NULL, NULL, err);
	memset(&ki, 0, sizeof(ki));
	memset(&nki, 0, sizeof(nki));
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need(c, 1, err)) != HKMS_OK ||
	    (rc = hkms_ops_service_cert_ensure(c, &cur, &made, err)) !=
	    HKMS_OK)
		goto out;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = current(c, &meta, NULL, err)) != HKMS_OK ||
	    (rc = current_key(c, meta, &ki, err)) != HKMS_OK)
		goto out;
	d = json_pack("{s:b,s:s}", "rekey", rekey, "key", ki.name);
	if (!rekey && made) {
		action = "created";
		rc = HKMS_OK;
		goto out;
	}
	if (!rekey && json_is_true(json_object_get(meta, "self_signed"))) {
		rc = HKMS_OK;	/* it is one already */
		goto out;
	}
	if (!rekey) {
		rc = cert_history_restore(c, HKMS_SERVICE_CERT, 0,
		    self_signed_usable, NULL, "service.cert_self_sign",
		    &version, &e);
		if (rc == HKMS_OK) {
			action = "restored";
			json_object_set_new(d, "restored_version",
			    json_integer(version));
			goto out;
		}
		if (rc != HKMS_E_NOT_FOUND ||
		    strcmp(hkms_err_code(&e), "history_not_found") != 0) {
			*err = e;
			goto out;
		}
	}
	/* a new certificate, for the current key or a new one */
	bootstrap_names(c->cfg, subject, sizeof(subject), san, sizeof(san));
	if (rekey) {
		if ((rc = rekey_key(c, ki.type, &nki, err)) != HKMS_OK)
			goto out;
		newkey = 1;
		json_object_set_new(d, "new_key", json_string(nki.name));
		json_object_set_new(d, "new_key_id", json_string(nki.id_hex));
	}
	if ((rc = cert_self_signed_make(c, rekey ? &nki : &ki, "tls-server",
	    subject, san, SERVICE_DAYS, &pem, &nmeta, err)) != HKMS_OK)
		goto out;
	json_object_set(d, "serial", json_object_get(nmeta, "serial"));
	if ((rc = hkms_ops_audit_ahead(c, "service.cert_self_sign",
	    HKMS_SERVICE_CERT, d, err)) != HKMS_OK ||
	    (rc = cert_history_replace(c, HKMS_SERVICE_CERT, nmeta, pem,
	    rekey ? "rekey" : "self-signed", err)) != HKMS_OK)
		goto out;
	action = rekey ? "rekeyed" : "created";
	newkey = 0;	/* in use now */
	if (rekey && c->cfg != NULL && c->cfg->server_rekey_delete) {
		/* [server] rekey_old_key = delete: the history versions of
		 * the old key cannot be restored any more */
		if (ops_key_remove(c, &ki, &e) == HKMS_OK)
			deleted = 1;
		else
			json_object_set_new(d, "old_key_delete_error",
			    json_string(e.detail));
	}
	rc = HKMS_OK;
out:
	if (rc != HKMS_OK && newkey) {
		struct hkms_err ue = { 0 };

		(void)ops_key_remove(c, &nki, &ue);
	}
	if (locked)
		hkms_store_end(c->store);
	if (rc == HKMS_OK)
		rc = hkms_ops_cert_show(c, HKMS_SERVICE_CERT, &cert, err);
	if (rc == HKMS_OK) {
		*out = json_pack("{s:s,s:o}", "action", action, "certificate",
		    cert);
		cert = NULL;	/* transferred */
		if (version > 0)
			json_object_set_new(*out, "restored_version",
			    json_integer(version));
		if (rekey) {
			json_object_set_new(*out, "old_key",
			    json_string(ki.name));
			json_object_set_new(*out, "old_key_deleted",
			    json_boolean(deleted));
		}
	}
	if (d == NULL)
		d = json_pack("{s:b}", "rekey", rekey);
	json_object_set_new(d, "action", json_string(action));
	if (deleted)
		json_object_set_new(d, "old_key_deleted", json_true());
	hkms_ops_audit(c, "service.cert_self_sign", HKMS_SERVICE_CERT, rc, err,
	    d);
	json_decref(d);
	json_decref(cert);
	json_decref(cur);
	json_decref(meta);
	json_decref(nmeta);
	free(pem);
	return rc;
}

/* ---- status, trust -------------------------------------------------- */

static json_t *
or_null(json_t *v)
{
	return v != NULL ? v : json_null();
}

static int64_t
time_of(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
		return -1;
	return (int64_t)timegm(&tm);
}

static enum hkms_rc
status(struct hkms_ops_ctx *c, json_t **out, struct hkms_err *err)
{
	static const char *const keys[] = { "subject", "issuer", "serial",
		"thumbprint", "not_before", "not_after", "self_signed", "key",
		NULL };
	json_t *cert = NULL, *pin = NULL, *o, *v;
	const char *reason = NULL, *tp, *pp;
	int64_t now = (int64_t)time(NULL), nb, na;
	struct hkms_err e = { 0 };
	enum hkms_rc rc;
	int expired;
	size_t i;

	if ((rc = current(c, &pin, NULL, err)) != HKMS_OK)
		return rc;
	json_decref(pin);
	pin = NULL;
	if ((rc = hkms_ops_cert_show(c, HKMS_SERVICE_CERT, &cert, err)) !=
	    HKMS_OK)
		return rc;
	o = json_object();
	for (i = 0; keys[i] != NULL; i++)
		json_object_set(o, keys[i], (v = json_object_get(cert,
		    keys[i])) != NULL ? v : json_null());
	nb = time_of(cert, "not_before");
	na = time_of(cert, "not_after");
	expired = na < 0 || now > na;
	json_object_set_new(o, "expired", json_boolean(expired));
	json_object_set_new(o, "not_yet_valid", json_boolean(nb > now));
	tp = json_string_value(json_object_get(cert, "thumbprint"));
	if (hkms_store_get(c->store, PIN_KIND, PIN_NAME, &pin, NULL, &e) !=
	    HKMS_OK)
		pin = NULL;
	pp = json_string_value(json_object_get(pin, "thumbprint"));
	if (pin == NULL || pp == NULL)
		reason = "not_pinned";
	else if (tp == NULL || strcmp(tp, pp) != 0)
		reason = "changed";
	else if (expired || nb > now)
		reason = "expired";
	json_object_set_new(o, "trust", json_string(reason ? "untrusted" :
	    "trusted"));
	json_object_set_new(o, "trust_reason", reason ? json_string(reason) :
	    json_null());
	json_object_set_new(o, "pinned", pin == NULL ? json_null() :
	    json_pack("{s:O,s:O,s:O,s:O}", "thumbprint",
	    or_null(json_object_get(pin, "thumbprint")), "pinned_at",
	    or_null(json_object_get(pin, "pinned_at")), "subject",
	    or_null(json_object_get(pin, "subject")), "not_after",
	    or_null(json_object_get(pin, "not_after"))));
	json_decref(pin);
	json_decref(cert);
	*out = o;
	return HKMS_OK;
}

enum hkms_rc
hkms_ops_service_cert_status(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	enum hkms_rc rc;

	OPS_AUTHORIZE(c, "service.cert_show", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need(c, 0, err)) != HKMS_OK)
		return rc;
	return status(c, out, err);
}

enum hkms_rc
hkms_ops_service_cert_trust(struct hkms_ops_ctx *c, json_t **out,
    struct hkms_err *err)
{
	STACK_OF(X509) *certs = NULL;
	json_t *meta = NULL, *pin = NULL, *d = NULL;
	char *pem = NULL, *leaf = NULL, now[32];
	enum hkms_rc rc;
	int locked = 0;

	OPS_AUTHORIZE(c, "service.cert_trust", NULL, NULL, err);
	if (out == NULL)
		return hkms_err_set(err, HKMS_E_INVALID, "invalid argument");
	if ((rc = need(c, 0, err)) != HKMS_OK)
		return rc;
	if ((rc = hkms_store_begin(c->store, err)) != HKMS_OK)
		goto out;
	locked = 1;
	if ((rc = current(c, &meta, &pem, err)) != HKMS_OK)
		goto out;
	if (pem == NULL) {
		rc = hkms_err_setc(err, HKMS_E_INVALID, "bad_record",
		    "the service certificate record has no PEM");
		goto out;
	}
	/* the pinned copy is the leaf alone */
	if ((rc = hkms_certio_parse((const unsigned char *)pem, strlen(pem),
	    NULL, &certs, NULL, err)) != HKMS_OK)
		goto out;
	while (sk_X509_num(certs) > 1)
		X509_free(sk_X509_pop(certs));
	if ((rc = hkms_certio_pem_string(certs, &leaf, err)) != HKMS_OK)
		goto out;
	hkms_time_str((int64_t)time(NULL), now);
	pin = json_pack("{s:O,s:s,s:O,s:O,s:O}", "thumbprint",
	    or_null(json_object_get(meta, "thumbprint")), "pinned_at",
	    now, "subject", or_null(json_object_get(meta, "subject")),
	    "serial", or_null(json_object_get(meta, "serial")),
	    "not_after", or_null(json_object_get(meta, "not_after")));
	d = json_pack("{s:O}", "thumbprint", json_object_get(pin,
	    "thumbprint"));
	if ((rc = hkms_ops_audit_ahead(c, "service.cert_trust",
	    HKMS_SERVICE_CERT, d, err)) != HKMS_OK ||
	    (rc = hkms_store_put(c->store, PIN_KIND, PIN_NAME, pin, leaf,
	    err)) != HKMS_OK)
		goto out;
	rc = HKMS_OK;
out:
	if (locked)
		hkms_store_end(c->store);
	hkms_ops_audit(c, "service.cert_trust", HKMS_SERVICE_CERT, rc, err,
	    d);
	if (rc == HKMS_OK)
		rc = status(c, out, err);
	json_decref(d);
	json_decref(pin);
	json_decref(meta);
	hkms_certio_chain_free(certs);
	free(pem);
	free(leaf);
	return rc;
}
