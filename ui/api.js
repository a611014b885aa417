// The JSON API from the console: same origin, the browser's client
// certificate, the session cookie (HttpOnly: never visible here) and its
// CSRF token on every state-changing request.

export class ApiError extends Error {
	constructor(status, code, message, body) {
		super(message);
		this.name = "ApiError";
		this.status = status;	// HTTP status, 0 when the server was not reached
		this.code = code;	// the API's machine code ("totp_invalid")
		this.body = body;	// the parsed answer (checks of a failed import ...)
	}
}

let current = null;		// the last GET /v1/session object
let pending = null;		// its promise

const CLEARANCE = { none: 0, user: 1, operator: 2, admin: 3 };

function toLogin() {
	const h = location.hash || "#/";
	if (h.startsWith("#/login"))
		return;
	location.hash = "#/login?next=" + encodeURIComponent(h);
}

// api(method, path, body, opts): the parsed JSON answer (null on 204; the
// text when the answer is not JSON); throws ApiError with the API's
// message. opts.raw: return the Response itself (exports); opts.noLogin:
// do not send the user to the TOTP prompt on second_factor_required.
export async function api(method, path, body, opts = {}) {
	const headers = { "Accept": opts.accept || "application/json" };
	const init = { method, headers, credentials: "same-origin", cache: "no-store" };
	if (body !== undefined) {
		headers["Content-Type"] = "application/json";
		init.body = JSON.stringify(body);
	}
	if (method !== "GET" && method !== "HEAD" && current && current.session &&
	    current.session.csrf_token)
		headers["X-CSRF-Token"] = current.session.csrf_token;
	let r;
	try {
		r = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, "network", "the server cannot be reached (" +
		    e.message + ")", null);
	}
	if (opts.raw && r.ok)
		return r;
	if (r.status === 204)
		return null;
	const text = await r.text();
	let data = null;
	if (text) {
		try {
			data = JSON.parse(text);
		} catch (e) {
			data = undefined;
		}
	}
	if (!r.ok) {
		const e = (data && data.error) || {};
		const err = new ApiError(r.status, e.code || "http_" + r.status,
		    e.message || method + " " + path + ": HTTP " + r.status +
		    " " + r.statusText, data === undefined ? null : data);
		if (err.code === "second_factor_required" && !opts.noLogin) {
			current = null;
			pending = null;
			toLogin();
		}
		throw err;
	}
	return data === undefined ? text : data;
}

// The GET /v1/session object, cached; refresh: ask again.
export async function session(refresh) {
	if (refresh || pending === null) {
		pending = api("GET", "/v1/session", undefined, { noLogin: true })
		    .then((s) => { current = s; return s; });
		pending.catch(() => { pending = null; current = null; });
	}
	return pending;
}

// After POST /v1/session (201: the same object) or DELETE /v1/session.
export function setSession(s) {
	current = s;
	pending = s ? Promise.resolve(s) : null;
}

// Has session's client at least clearance c ("user", "operator", "admin")?
export function atLeast(s, c) {
	if (!s || !(c in CLEARANCE))
		return false;
	return (CLEARANCE[s.clearance] || 0) >= CLEARANCE[c];
}
