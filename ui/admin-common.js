// Helpers shared by the service, truststore and clients screens (16d),
// kept out of screens/ (every module there is a screen).
// Plain DOM; no innerHTML of strings anywhere: text goes in as text nodes,
// the server's QR code SVG is parsed as XML and its <svg> node imported.
import { api, ApiError } from "./api.js";
import { el, showError } from "./lib.js";

// readUpload(file) -> the string the API takes for a certificate field:
// PEM text as is, anything else (DER, PKCS#7, PKCS#12) as base64 of the bytes.
export async function readUpload(file) {
	const bytes = new Uint8Array(await file.arrayBuffer());
	const head = new TextDecoder("latin1").decode(bytes.subarray(0, 64)).trimStart();
	if (head.startsWith("-----BEGIN"))
		return new TextDecoder("utf-8").decode(bytes);
	return bytesToB64(bytes);
}

export function bytesToB64(bytes) {
	let s = "";
	for (let i = 0; i < bytes.length; i += 0x8000)
		s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
	return btoa(s);
}

export function b64ToBytes(b64) {
	const s = atob(b64);
	const out = new Uint8Array(s.length);
	for (let i = 0; i < s.length; i++)
		out[i] = s.charCodeAt(i);
	return out;
}

// apiChecked(method, path, body) -> {ok, status, body}: for the answers whose
// error envelope carries more than code and message (the checks of a 422).
export async function apiChecked(method, path, body) {
	try {
		return { ok: true, status: 200, body: await api(method, path, body) };
	} catch (e) {
		if (!(e instanceof ApiError) || e.status === 0)
			throw e;
		return { ok: false, status: e.status, err: e,
			body: e.body || { error: { code: e.code, message: e.message } } };
	}
}

// errorFrom(r) -> the ApiError of a failed apiChecked answer
export function errorFrom(r) {
	if (r.err)
		return r.err;
	const e = (r.body && r.body.error) || {};
	return new ApiError(r.status, e.code || "http_" + r.status, e.message || "HTTP " + r.status, r.body);
}

// fetchBlob(path) -> Blob of a raw GET (exports); api() throws the API's
// error when the answer is not 2xx
export async function fetchBlob(path) {
	const r = await api("GET", path, undefined, { raw: true, accept: "*/*" });
	return await r.blob();
}

// guarded(fn) -> an event handler that shows the API's message on failure
// and keeps the button disabled while the call runs
export function guarded(fn) {
	return async (ev) => {
		const b = ev && ev.currentTarget instanceof HTMLButtonElement ? ev.currentTarget : null;
		if (ev && ev.type === "submit")
			ev.preventDefault();
		if (b)
			b.disabled = true;
		try {
			await fn(ev);
		} catch (e) {
			showError(e);
		} finally {
			if (b && b.isConnected)
				b.disabled = false;
		}
	};
}

let uid = 0;
// field(label, input, hint) -> a labelled row; the label points at the input
export function field(label, input, hint) {
	if (!input.id)
		input.id = "f16d-" + (++uid);
	const row = el("div", { class: "field" },
		el("label", { for: input.id, text: label }), input);
	if (hint) {
		const h = el("small", { class: "help", id: input.id + "-help", text: hint });
		input.setAttribute("aria-describedby", h.id);
		row.appendChild(h);
	}
	return row;
}

export function input(attrs) {
	return el("input", Object.assign({ type: "text" }, attrs));
}

export function select(options, attrs, value) {
	const s = el("select", attrs || {});
	for (const o of options) {
		const [v, t] = Array.isArray(o) ? o : [o, o];
		const opt = el("option", { value: v, text: t });
		if (v === value)
			opt.selected = true;
		s.appendChild(opt);
	}
	return s;
}

export function checkbox(label, attrs, checked) {
	const c = el("input", Object.assign({ type: "checkbox" }, attrs || {}));
	c.checked = !!checked;
	if (!c.id)
		c.id = "f16d-" + (++uid);
	return { box: c, row: el("div", { class: "field check" }, c, el("label", { for: c.id, text: label })) };
}

// kv(pairs) -> a definition list; a value may be a node, a string or null
export function kv(pairs, attrs) {
	const dl = el("dl", Object.assign({ class: "adm-kv" }, attrs || {}));
	for (const [k, v, test] of pairs) {
		dl.appendChild(el("dt", { text: k }));
		const dd = el("dd", test ? { "data-test": test } : {});
		if (v instanceof Node)
			dd.appendChild(v);
		else
			dd.textContent = v === null || v === undefined || v === "" ? "—" : String(v);
		dl.appendChild(dd);
	}
	return dl;
}

export function badge(text, kind, test) {
	const a = { class: "badge " + kind, text };
	if (test)
		a["data-test"] = test;
	return el("span", a);
}

export function section(title, ...children) {
	return el("section", { class: "card adm-section" }, el("h2", { text: title }), ...children);
}

export function buttonBar(...buttons) {
	return el("div", { class: "adm-buttons" }, ...buttons);
}

export function button(text, test, onClick, cls) {
	const a = { type: "button", text, on: { click: guarded(onClick) } };
	if (test)
		a["data-test"] = test;
	if (cls)
		a.class = cls;
	return el("button", a);
}

export function pre(text, test) {
	const a = { class: "adm-pre", text };
	if (test)
		a["data-test"] = test;
	return el("pre", a);
}

// svgFromServer(text) -> an <svg> node parsed from the server's markup, or
// null; scripts, foreign content, event handlers and links are dropped
export function svgFromServer(text) {
	if (typeof text !== "string" || !text)
		return null;
	const doc = new DOMParser().parseFromString(text, "image/svg+xml");
	const root = doc.documentElement;
	if (!root || root.localName !== "svg" || doc.getElementsByTagName("parsererror").length)
		return null;
	for (const bad of Array.from(root.querySelectorAll("script, foreignObject, a, iframe, image, style")))
		bad.remove();
	for (const n of [root, ...root.querySelectorAll("*")]) {
		for (const at of Array.from(n.attributes)) {
			const name = at.name.toLowerCase();
			const link = name === "href" || name.endsWith(":href");
			if (name.startsWith("on") || name === "style" || (link && !at.value.startsWith("#")))
				n.removeAttribute(at.name);
		}
	}
	return document.importNode(root, true);
}

// totpPanel(totp, name) -> the one-time enrolment answer: secret as text,
// the QR code, the otpauth URI and the warning that it is shown once
export function totpPanel(totp, name) {
	const qr = el("div", { class: "adm-qr", "data-test": "totp-qr", role: "img",
		"aria-label": "QR code of the TOTP secret for " + name });
	const svg = svgFromServer(totp.qr_svg);
	if (svg)
		qr.appendChild(svg);
	else
		qr.textContent = "(no QR code)";
	return el("div", { class: "adm-totp", "data-test": "totp-panel" },
		el("p", { class: "adm-warn", role: "alert",
			text: "Scan or copy this TOTP secret now: it will not be shown again." }),
		qr,
		kv([["Secret (base32)", el("code", { "data-test": "totp-secret", text: totp.secret })],
			["otpauth URI", el("code", { "data-test": "totp-uri", class: "adm-wrap", text: totp.uri })]]));
}

export function enc(s) {
	return encodeURIComponent(s);
}

// shortThumb("sha256:abcd...") -> "sha256:abcdef01…" for tables (the full
// value stays in the title)
export function shortThumb(t) {
	if (!t)
		return el("span", { text: "—" });
	return el("code", { title: t, text: t.length > 23 ? t.slice(0, 23) + "…" : t });
}
