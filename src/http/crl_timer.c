/*
 * The server's CRL timer (issue 14a; docs/ca.md "Re-signing before
 * expiry"): with [crl] resign_before set, every [crl] check_interval the
 * server re-signs each CA's CRL that expires within resign_before, as the
 * local operator "hkms-serve". Each new CRL is an ordinary `ca crl` (the
 * next number, published atomically, audited as ca.crl); this file only
 * decides when.
 */
#include <time.h>

#include "hkms/log.h"
#include "hkms/ops.h"
#include "hkms/service.h"
#include "server_int.h"

void
srv_crl_tick(struct hkms_service *svc, const struct hkms_config *cfg)
{
	static time_t last;
	struct hkms_principal p;
	struct hkms_ops_ctx c;
	struct hkms_err e = { 0 };
	json_t *done = NULL, *it;
	time_t now = time(NULL);
	size_t i;

	if (cfg == NULL || cfg->crl_resign_before <= 0 ||
	    now - last < (cfg->crl_check_s > 0 ? cfg->crl_check_s : 60))
		return;
	last = now;
	hkms_principal_local(&p, "hkms-serve");
	if (hkms_service_ctx(svc, &p, "serve", HKMS_SERVICE_NEED_STORE |
	    HKMS_SERVICE_NEED_TOKEN, &c, &e) != HKMS_OK ||
	    hkms_ops_ca_crl_refresh(&c, cfg->crl_resign_before,
	    cfg->crl_resign_days, 0, &done, &e) != HKMS_OK) {
		hkms_log_err(hkms_service_log(svc), HKMS_LOG_ERROR,
		    "crl.resign", &e, NULL);
		return;
	}
	json_array_foreach(done, i, it) {
		if (json_object_get(it, "error") != NULL)
			hkms_log_event(hkms_service_log(svc), HKMS_LOG_ERROR,
			    "crl.resign", it);
		else
			hkms_log_event(hkms_service_log(svc), HKMS_LOG_INFO,
			    "crl.resign", it);
	}
	json_decref(done);
}
