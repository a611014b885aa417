/*
 * The server's own routes: GET /v1/health (public, answers while sealed)
 * and GET /metrics (Prometheus text, op "metrics": clearance operator and
 * the second factor of a client that requires one).
 *
 * Health checks what a request needs: the store is writable (a probe file
 * written atomically) and the token signs (a probe digest signed with the
 * service key, as a handshake would). 200 {"status":"ok","store":{"ok":
 * true},"token":{"ok":true}} when both work; 503 with the failing part's
 * error otherwise, or 503 "sealed" while sealed. ?ready asks the same
 * and is what a load balancer or systemd should probe: the server is
 * ready when it can serve a signing request (the two answers are the
 * same today; ready is kept apart so liveness can be relaxed later
 * without changing probes).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "hkms/clients.h"
#include "hkms/ops.h"
#include "http_int.h"
#include "server_int.h"

static json_t *
part(enum hkms_rc rc, const struct hkms_err *e)
{
	json_t *ej, *inner;

	if (rc == HKMS_OK)
		return json_pack("{s:b}", "ok", 1);
	ej = hkms_err_json(e, NULL);
	inner = json_incref(json_object_get(ej, "error"));
	json_decref(ej);
	return json_pack("{s:b,s:o}", "ok", 0, "error", inner ? inner :
	    json_null());
}

static void
health(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_service *svc = req->svc;
	struct hkms_err se = { 0 }, te = { 0 }, e = { 0 };
	enum hkms_rc src, trc;
	unsigned char dg[32], sig[1024];
	size_t siglen = sizeof(sig);
	const struct srv_cert *c;
	json_t *o;
	int scheme;

	if (hkms_service_sealed(svc)) {
		hkms_err_setc(&e, HKMS_E_PIN, "sealed",
		    "the server is sealed: run %s on its host", "hkms unseal");
		hkms_http_resp_error(resp, &e, NULL);
		return;
	}
	src = hkms_service_probe_store(svc, &se);
	c = srv_tls_current();
	if (c == NULL) {
		trc = hkms_err_set(&te, HKMS_E_TOKEN_DOWN,
		    "no service certificate loaded");
	} else {
		scheme = c->pk == GNUTLS_PK_RSA ? HKMS_TLS_SIGN_RSA_PSS :
		    HKMS_TLS_SIGN_ECDSA;
		(void)RAND_bytes(dg, sizeof(dg));
		trc = hkms_service_tls_sign(svc, c->key_name, scheme, "sha256",
		    dg, sizeof(dg), sig, &siglen, &te);
	}
	o = json_pack("{s:s,s:o,s:o}", "status", src == HKMS_OK &&
	    trc == HKMS_OK ? "ok" : "fail", "store", part(src, &se), "token",
	    part(trc, &te));
	if (src == HKMS_OK && trc == HKMS_OK) {
		hkms_http_resp_json(resp, 200, o);
		return;
	}
	hkms_http_resp_json(resp, 503, o);
	snprintf(resp->error_code, sizeof(resp->error_code), "%s",
	    trc != HKMS_OK ? hkms_err_code(&te) : hkms_err_code(&se));
}

/* Clients by clearance, from the registrations (0s when there are
 * none or they cannot be read). */
static void
clients_by_clearance(struct hkms_service *svc, long n[3])
{
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err e = { 0 };
	json_t *list = NULL, *r;
	const char *cl;
	size_t i;

	n[0] = n[1] = n[2] = 0;
	hkms_principal_local(&p, "hkms-serve");
	if (hkms_service_ctx(svc, &p, "serve", HKMS_SERVICE_NEED_STORE, &c,
	    &e) != HKMS_OK || hkms_ops_client_list(&c, &list, &e) != HKMS_OK)
		return;
	json_array_foreach(list, i, r) {
		cl = json_string_value(json_object_get(r, "clearance"));
		if (cl == NULL)
			continue;
		if (strcmp(cl, "admin") == 0)
			n[0]++;
		else if (strcmp(cl, "operator") == 0)
			n[1]++;
		else if (strcmp(cl, "user") == 0)
			n[2]++;
	}
	json_decref(list);
}

static void
metrics(struct hkms_http_req *req, struct hkms_http_resp *resp)
{
	struct hkms_err e = { 0 };
	struct hkms_ops_ctx c;
	char *text, *all = NULL;
	long n[3];

	/* the operation's authorization, like every route's: clearance
	 * operator, and the second factor of a client that requires one */
	if (hkms_service_ctx(req->svc, req->principal, req->actor, 0, &c,
	    &e) != HKMS_OK || hkms_ops_authorize(&c, "metrics", NULL, NULL,
	    &e) != HKMS_OK) {
		hkms_http_resp_error(resp, &e, NULL);
		return;
	}
	if ((text = srv_metrics_render(req->svc)) == NULL) {
		hkms_err_set(&e, HKMS_E_NOMEM, "out of memory");
		hkms_http_resp_error(resp, &e, NULL);
		return;
	}
	if (hkms_service_sealed(req->svc))
		n[0] = n[1] = n[2] = 0;
	else
		clients_by_clearance(req->svc, n);
	if (asprintf(&all, "%s# HELP hkms_clients Registered clients by "
	    "clearance.\n# TYPE hkms_clients gauge\n"
	    "hkms_clients{clearance=\"admin\"} %ld\n"
	    "hkms_clients{clearance=\"operator\"} %ld\n"
	    "hkms_clients{clearance=\"user\"} %ld\n", text, n[0], n[1],
	    n[2]) < 0)
		all = NULL;
	free(text);
	if (all == NULL) {
		hkms_err_set(&e, HKMS_E_NOMEM, "out of memory");
		hkms_http_resp_error(resp, &e, NULL);
		return;
	}
	hkms_http_resp_bytes(resp, 200, "text/plain; version=0.0.4", all,
	    strlen(all));
	free(all);
}

const struct hkms_http_route hkms_http_routes_server[] = {
	{ "GET", "/v1/health", HKMS_ROUTE_PUBLIC | HKMS_ROUTE_SEALED_OK,
	    "public", health },
	{ "GET", "/metrics", 0, "operator", metrics },
	{ NULL, NULL, 0, NULL, NULL }
};
