/*
 * The web console's static files, embedded at build time
 * (cmake/EmbedUi.cmake makes the table from ui/; routes_ui.c serves it).
 */
#ifndef HKMS_UI_FILES_H
#define HKMS_UI_FILES_H

#include <stddef.h>

struct hkms_ui_file {
	const char *name;		/* path under ui/: "screens/audit.js" */
	const unsigned char *data;
	size_t len;
	const char *type;		/* Content-Type */
};

/** Every file, ended by a row with name NULL. */
extern const struct hkms_ui_file hkms_ui_files[];

struct hkms_http_route;
struct hkms_http_resp;
struct hkms_err;

/** 1 if route is one of the console's file routes (/ui/...). */
int hkms_http_ui_route(const struct hkms_http_route *route);

struct hkms_http_req;

/** resp = err (its HTTP status) for a /ui/ route refused before it ran
 *  (authentication, sealed): a small HTML page naming the error when the
 *  request's Accept names text/html (a browser opening the console), the
 *  JSON error envelope otherwise (scripts, module loads, API clients). */
void hkms_http_ui_refusal(const struct hkms_http_req *req,
    struct hkms_http_resp *resp, const struct hkms_err *err);

#endif
