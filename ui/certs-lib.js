// Helpers shared by the certificates and CAs screens (issue 16c): a
// paginated table, a stepper, labelled fields, file reading, downloads of
// the API's binary answers and a small DER reader for the extensions the
// JSON shape does not carry (CRL distribution points, AIA). They use the
// shell's classes (style.css) and keep data-test and data-name/data-col
// attributes the tests find rows and cells by.
import { api } from "./api.js";
import { el, download, showInfo, visible } from "./lib.js";

// A screen's title with its actions beside it; a titled section.
export function heading(text, ...actions) {
	return el("div", { class: "screen-head" }, el("h1", { text }), ...actions);
}
export const sec = (t, ...kids) => el("section", { class: "cx-section" }, el("h3", { text: t }), ...kids);

// A message for the next render: the shell clears the banner on every
// route, so an action that navigates leaves its message here.
let flashed = null;
export function flash(text) {
	flashed = text;
}
export function showFlash() {
	if (flashed)
		showInfo(flashed);
	flashed = null;
}

let uid = 0;
export function nextId(prefix) {
	uid += 1;
	return `${prefix}-${uid}`;
}

// A labelled input: {label, name, type, value, options, test, help,
// required, checked, multiple}. Returns the wrapper; the input is .input.
export function field(f) {
	const id = nextId(f.name || "f");
	let input;
	if (f.type === "select") {
		input = el("select", { id, name: f.name });
		for (const o of f.options || []) {
			const opt = typeof o === "string" ? { value: o, label: o } : o;
			const oe = el("option", { value: opt.value, text: opt.label });
			if (String(opt.value) === String(f.value ?? ""))
				oe.selected = true;
			input.append(oe);
		}
	} else if (f.type === "textarea") {
		input = el("textarea", { id, name: f.name, rows: String(f.rows || 4) });
		if (f.value)
			input.value = f.value;
	} else {
		input = el("input", { id, name: f.name, type: f.type || "text" });
		if (f.type === "checkbox")
			input.checked = !!f.checked;
		else if (f.value !== undefined && f.value !== null)
			input.value = String(f.value);
	}
	if (f.test)
		input.setAttribute("data-test", f.test);
	if (f.required)
		input.required = true;
	if (f.placeholder)
		input.placeholder = f.placeholder;
	if (f.autocomplete)
		input.setAttribute("autocomplete", f.autocomplete);
	const label = el("label", { for: id, text: f.label });
	const wrap = el("div", { class: f.type === "checkbox" ? "field check" : "field" });
	if (f.type === "checkbox")
		wrap.append(input, label);
	else
		wrap.append(label, input);
	if (f.help)
		wrap.append(el("small", { class: "help", text: f.help }));
	wrap.input = input;
	return wrap;
}

// value of a field wrapper
export function val(w) {
	const i = w.input;
	if (i.type === "checkbox")
		return i.checked;
	return i.value.trim();
}

export function button(text, test, onClick, cls) {
	const b = el("button", { type: "button", class: cls || "", text });
	if (test)
		b.setAttribute("data-test", test);
	b.addEventListener("click", onClick);
	return b;
}

// A table with pagination: columns [{key, label, render?}], rows; opts
// {pageSize, rowTest, onRow, test, empty}.
export function pagedTable(columns, rows, opts = {}) {
	const size = opts.pageSize || 25;
	let page = 0;
	const wrap = el("div", { class: "table-wrap" });
	if (opts.test)
		wrap.setAttribute("data-test", opts.test);
	const tbl = el("table", { class: "grid" });
	const head = el("tr", {});
	for (const c of columns)
		head.append(el("th", { scope: "col", text: c.label }));
	tbl.append(el("thead", {}, head));
	const body = el("tbody", {});
	tbl.append(body);
	const info = el("span", { class: "page-info", "data-test": "page-info", "aria-live": "polite" });
	const prev = button("Previous", "page-prev", () => { page -= 1; draw(); });
	const next = button("Next", "page-next", () => { page += 1; draw(); });
	const nav = el("div", { class: "pager", "data-test": "pager" }, prev, info, next);
	function draw() {
		const pages = Math.max(1, Math.ceil(rows.length / size));
		page = Math.min(Math.max(0, page), pages - 1);
		body.replaceChildren();
		if (rows.length === 0) {
			const td = el("td", { text: opts.empty || "Nothing here yet.", "data-test": "table-empty" });
			td.colSpan = columns.length;
			body.append(el("tr", { class: "empty" }, td));
		}
		for (const r of rows.slice(page * size, (page + 1) * size)) {
			const tr = el("tr", {});
			if (opts.rowTest)
				tr.setAttribute("data-test", opts.rowTest);
			if (opts.rowKey)
				tr.setAttribute("data-name", opts.rowKey(r));
			for (const c of columns) {
				const v = c.render ? c.render(r) : r[c.key];
				const td = el("td", { "data-label": c.label, class: c.class });
				if (c.key)
					td.setAttribute("data-col", c.key);
				if (v instanceof Node)
					td.append(v);
				else
					td.textContent = v === null || v === undefined ? "" : visible(v);
				tr.append(td);
			}
			body.append(tr);
		}
		info.textContent = rows.length === 0 ? "0 rows" :
		    `${page * size + 1}–${Math.min((page + 1) * size, rows.length)} of ${rows.length}` +
		    (pages > 1 ? ` (page ${page + 1} of ${pages})` : "");
		prev.disabled = page === 0;
		next.disabled = page >= pages - 1;
		nav.hidden = rows.length <= size;
	}
	draw();
	wrap.append(el("div", { class: "table-scroll" }, tbl), nav);
	return wrap;
}

// A stepper: steps [{title, render(state) -> Node, check?(state) ->
// string|undefined (an error keeps the step)}], onDone(state) async.
export function stepper(steps, state, onDone, opts = {}) {
	let i = 0;
	// a form: Enter in a field is Next
	const wrap = el("form", { class: "wizard", novalidate: true });
	if (opts.test)
		wrap.setAttribute("data-test", opts.test);
	const list = el("ol", { class: "stepper" });
	const pane = el("div", { class: "wizard-body", "data-test": "wizard-body" });
	const err = el("p", { class: "form-error", role: "alert", "data-test": "wizard-error", hidden: true });
	const back = button("Back", "wizard-back", () => { i -= 1; draw(); });
	const onNext = async () => {
		const s = steps[i];
		err.textContent = "";
		err.hidden = true;
		const m = s.check ? s.check(state) : undefined;
		if (m) {
			err.textContent = m;
			err.hidden = false;
			return;
		}
		if (i < steps.length - 1) {
			i += 1;
			draw();
			return;
		}
		next.disabled = true;
		try {
			await onDone(state);
		} finally {
			next.disabled = false;
		}
	};
	const next = el("button", { type: "submit", class: "primary", "data-test": "wizard-next", text: "Next" });
	wrap.addEventListener("submit", (ev) => {
		ev.preventDefault();
		if (!next.disabled)
			onNext();
	});
	function draw() {
		list.replaceChildren();
		steps.forEach((s, k) => {
			const li = el("li", { text: s.title, "data-test": "wizard-step", class: k === i ? "current" : k < i ? "done" : "" });
			if (k === i)
				li.setAttribute("aria-current", "step");
			list.append(li);
		});
		pane.replaceChildren(el("h3", { text: steps[i].title }), steps[i].render(state));
		back.disabled = i === 0;
		next.textContent = i === steps.length - 1 ? (opts.doneText || "Create") : "Next";
		next.setAttribute("data-test", i === steps.length - 1 ? "wizard-done" : "wizard-next");
		err.textContent = "";
		err.hidden = true;
		const first = pane.querySelector("input, select, textarea");
		if (first)
			first.focus();
	}
	wrap.append(list, pane, err, el("div", { class: "actions" }, back, next));
	draw();
	return wrap;
}

// The contents of a file input for a JSON binary field: PEM as text,
// anything else as the base64 of its bytes.
export async function fileValue(input) {
	const f = input.files && input.files[0];
	if (!f)
		return undefined;
	const bytes = new Uint8Array(await f.arrayBuffer());
	const head = new TextDecoder("latin1").decode(bytes.slice(0, Math.min(bytes.length, 65536)));
	if (head.includes("-----BEGIN "))
		return new TextDecoder().decode(bytes);
	let s = "";
	for (let k = 0; k < bytes.length; k += 0x8000)
		s += String.fromCharCode.apply(null, bytes.subarray(k, k + 0x8000));
	return btoa(s);
}

// A binary answer of the API (an export, a CRL) saved as a file.
export async function fetchDownload(method, path, body, filename, type) {
	// raw: the Response when it is 2xx; an ApiError with the API's
	// message otherwise
	const resp = await api(method, path, body, { raw: true });
	const buf = new Uint8Array(await resp.arrayBuffer());
	const cd = resp.headers.get("Content-Disposition") || "";
	const m = /filename="?([^";]+)"?/.exec(cd);
	download(filename || (m ? m[1] : "download"), buf, type || resp.headers.get("Content-Type") || "application/octet-stream");
}

export function enc(s) {
	return encodeURIComponent(s);
}

// A status badge: valid, expiring (30 days or fewer left), expired,
// revoked, not-yet-valid, csr.
export function statusOf(c) {
	const st = c.status || (c.type === "csr" ? "csr" : "");
	if (st === "valid" && typeof c.days_left === "number" && c.days_left <= 30)
		return "expiring";
	return st || "unknown";
}

const TONE = { valid: "ok", passed: "ok", failed: "bad", expiring: "warn", "not-yet-valid": "warn", expired: "bad", revoked: "bad" };
export function badge(st) {
	return el("span", { class: `badge ${TONE[st] || ""}`, "data-test": "status", text: st });
}

export function dl(pairs) {
	const d = el("dl", { class: "cx-dl" });
	for (const [k, v, test] of pairs) {
		if (v === undefined)
			continue;
		const dd = el("dd", {});
		if (test)
			dd.setAttribute("data-test", test);
		if (v instanceof Node)
			dd.append(v);
		else if (Array.isArray(v))
			dd.textContent = v.length ? visible(v.join(", ")) : "—";
		else
			dd.textContent = v === null || v === "" ? "—" : visible(v);
		d.append(el("dt", { text: k }), dd);
	}
	return d;
}

export function yesno(b) {
	return b === true ? "yes" : b === false ? "no" : "—";
}

/* ---- a small DER reader: the extensions the JSON shape lacks ---- */

function pemToDer(pem) {
	const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem || "");
	if (!m)
		return null;
	const b = atob(m[1].replace(/\s+/g, ""));
	const u = new Uint8Array(b.length);
	for (let i = 0; i < b.length; i++)
		u[i] = b.charCodeAt(i);
	return u;
}

// one TLV at off: {tag, start (of contents), end}
function tlv(d, off) {
	const tag = d[off];
	let len = d[off + 1], p = off + 2;
	if (len & 0x80) {
		const n = len & 0x7f;
		len = 0;
		for (let k = 0; k < n; k++)
			len = len * 256 + d[p + k];
		p += n;
	}
	if (p + len > d.length)
		throw new Error("bad DER");
	return { tag, start: p, end: p + len };
}

function children(d, t) {
	const out = [];
	for (let p = t.start; p < t.end;) {
		const c = tlv(d, p);
		out.push(c);
		p = c.end;
	}
	return out;
}

function oid(d, t) {
	const b = d.subarray(t.start, t.end);
	const parts = [Math.floor(b[0] / 40), b[0] % 40];
	let v = 0;
	for (let k = 1; k < b.length; k++) {
		v = v * 128 + (b[k] & 0x7f);
		if (!(b[k] & 0x80)) {
			parts.push(v);
			v = 0;
		}
	}
	return parts.join(".");
}

function ascii(d, t) {
	return new TextDecoder().decode(d.subarray(t.start, t.end));
}

// every URI GeneralName ([6] IA5String) under t
function uris(d, t, out) {
	if (t.tag === 0x86) {
		out.push(ascii(d, t));
		return out;
	}
	if (t.tag & 0x20)
		for (const c of children(d, t))
			uris(d, c, out);
	return out;
}

const EXT_NAMES = {
	"2.5.29.19": "basicConstraints", "2.5.29.15": "keyUsage",
	"2.5.29.37": "extendedKeyUsage", "2.5.29.35": "authorityKeyIdentifier",
	"2.5.29.14": "subjectKeyIdentifier", "2.5.29.17": "subjectAltName",
	"2.5.29.31": "cRLDistributionPoints", "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
	"2.5.29.32": "certificatePolicies", "2.5.29.30": "nameConstraints",
};

// {extensions: [{oid, name, critical}], crl_dp: [uri], ocsp: [uri],
// ca_issuers: [uri]} of a PEM certificate, or null when unreadable
export function extensionsOf(pem) {
	try {
		const d = pemToDer(pem);
		if (!d)
			return null;
		const cert = tlv(d, 0);
		const tbs = children(d, cert)[0];
		const ext = children(d, tbs).find((c) => c.tag === 0xa3);
		const out = { extensions: [], crl_dp: [], ocsp: [], ca_issuers: [] };
		if (!ext)
			return out;
		for (const e of children(d, children(d, ext)[0])) {
			const parts = children(d, e);
			const id = oid(d, parts[0]);
			const critical = parts.length === 3 && parts[1].tag === 0x01 && d[parts[1].start] !== 0;
			const value = parts[parts.length - 1];
			out.extensions.push({ oid: id, name: EXT_NAMES[id] || id, critical });
			const inner = tlv(d, value.start);
			if (id === "2.5.29.31")
				uris(d, inner, out.crl_dp);
			if (id === "1.3.6.1.5.5.7.1.1")
				for (const ad of children(d, inner)) {
					const [m, loc] = children(d, ad);
					const which = oid(d, m) === "1.3.6.1.5.5.7.48.1" ? out.ocsp : out.ca_issuers;
					uris(d, loc, which);
				}
		}
		return out;
	} catch (e) {
		return null;
	}
}
