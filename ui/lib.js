// DOM helpers of the console. No inline script or style anywhere (the CSP
// forbids both): elements are built here, styled by classes of style.css.

// el("button", {class: "primary", on: {click: fn}, "data-test": "x"}, "Save")
// attrs: class, id, text, html is NOT supported (no markup from strings);
// on: {event: handler}; a value of false/null/undefined leaves the
// attribute out, true sets it empty; children: nodes, strings, arrays.
export function el(tag, attrs, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k === "class")
			e.className = Array.isArray(v) ? v.filter(Boolean).join(" ") : v;
		else if (k === "text")
			e.textContent = v;
		else if (k === "on")
			for (const [ev, fn] of Object.entries(v))
				e.addEventListener(ev, fn);
		else if (k === "value" && "value" in e)
			e.value = v;
		else if (k === "checked" || k === "disabled" || k === "selected" ||
		    k === "hidden" || k === "required" || k === "multiple")
			e[k] = !!v;
		else
			e.setAttribute(k, v === true ? "" : String(v));
	}
	append(e, children);
	return e;
}

function append(e, children) {
	for (const c of children) {
		if (c === undefined || c === null || c === false)
			continue;
		if (Array.isArray(c))
			append(e, c);
		else
			e.appendChild(typeof c === "string" || typeof c === "number" ?
			    document.createTextNode(String(c)) : c);
	}
}

// ---- the banner (#banner, role=alert) ----

function banner(kind, text, code) {
	const b = document.getElementById("banner");
	if (!b)
		return;
	b.className = "banner " + kind;
	const parts = [el("span", { class: "banner-text", "data-test": "banner-text", text })];
	if (code)
		parts.push(el("code", { class: "banner-code", "data-test": "banner-code", text: code }));
	parts.push(el("button", { type: "button", class: "banner-close", "aria-label": "Dismiss",
	    "data-test": "banner-close", on: { click: clearBanner } }, "×"));
	b.replaceChildren(...parts);
	b.dataset.kind = kind;
	b.hidden = false;
}

// Show an error: an ApiError's message (the API's own words) and code.
export function showError(err) {
	if (err && err.name === "ApiError")
		banner("error", err.message, err.code);
	else
		banner("error", err && err.message ? err.message : String(err));
}

export function showInfo(text) {
	banner("info", text);
}

export function clearBanner() {
	const b = document.getElementById("banner");
	if (b) {
		b.hidden = true;
		b.replaceChildren();
		delete b.dataset.kind;
	}
}

// ---- confirmation ----

// A modal <dialog>; resolves true (confirmed) or false (cancel, Escape).
export function confirmDialog(text, opts = {}) {
	return new Promise((resolve) => {
		const ok = el("button", { type: "button", class: opts.danger ? "danger" : "primary",
		    "data-test": "confirm-ok" }, opts.okLabel || (opts.danger ? "Delete" : "OK"));
		const cancel = el("button", { type: "button", "data-test": "confirm-cancel" }, "Cancel");
		const d = el("dialog", { class: "confirm", "data-test": "confirm-dialog",
		    "aria-label": opts.title || "Confirm" },
		    opts.title ? el("h2", { text: opts.title }) : null,
		    el("p", { text }),
		    el("div", { class: "actions" }, cancel, ok));
		let done = false;
		const finish = (v) => {
			if (done)
				return;
			done = true;
			d.close();
			d.remove();
			resolve(v);
		};
		ok.addEventListener("click", () => finish(true));
		cancel.addEventListener("click", () => finish(false));
		d.addEventListener("cancel", (ev) => { ev.preventDefault(); finish(false); });
		document.body.appendChild(d);
		d.showModal();
		(opts.danger ? cancel : ok).focus();
	});
}

// ---- tables with pagination ----

// table(columns, rows, opts) → a <div> holding the table and its pager.
// columns: [{key, label, render?(row) → node|string, class?}]
// opts: pageSize (25), onRow(row, tr) (row click / Enter), rowTest
// ("row": each <tr data-test>), test (the table's data-test), empty (the
// text when there are no rows). The div has .setRows(rows) to replace
// the rows (the page resets) and .page() → the current page index.
export function table(columns, rows, opts = {}) {
	const size = opts.pageSize || 25;
	let page = 0, data = rows || [];
	const tbody = el("tbody");
	const info = el("span", { class: "page-info", "data-test": "page-info", "aria-live": "polite" });
	const prev = el("button", { type: "button", "data-test": "page-prev",
	    on: { click: () => { page--; draw(); } } }, "‹ Previous");
	const next = el("button", { type: "button", "data-test": "page-next",
	    on: { click: () => { page++; draw(); } } }, "Next ›");
	const pager = el("div", { class: "pager", "data-test": "pager" }, prev, info, next);
	const t = el("table", { class: "grid", "data-test": opts.test || "table" },
	    el("thead", {}, el("tr", {}, columns.map((c) =>
		el("th", { scope: "col", class: c.class, text: c.label })))),
	    tbody);
	const wrap = el("div", { class: "table-wrap" }, el("div", { class: "table-scroll" }, t), pager);

	function draw() {
		const pages = Math.max(1, Math.ceil(data.length / size));
		page = Math.min(Math.max(page, 0), pages - 1);
		tbody.replaceChildren();
		if (data.length === 0)
			tbody.appendChild(el("tr", { class: "empty" }, el("td",
			    { colspan: columns.length, "data-test": "table-empty",
			    text: opts.empty || "Nothing to show." })));
		for (const row of data.slice(page * size, (page + 1) * size)) {
			const tr = el("tr", { "data-test": opts.rowTest || "row" },
			    columns.map((c) => {
				    const v = c.render ? c.render(row) : row[c.key];
				    return el("td", { class: c.class, "data-label": c.label },
					v === undefined || v === null ? "" : v);
			    }));
			if (opts.onRow) {
				tr.tabIndex = 0;
				tr.classList.add("clickable");
				tr.addEventListener("click", (ev) => {
					if (ev.target.closest("button, a, input, select"))
						return;
					opts.onRow(row, tr);
				});
				tr.addEventListener("keydown", (ev) => {
					if (ev.key === "Enter" && ev.target === tr)
						opts.onRow(row, tr);
				});
			}
			tbody.appendChild(tr);
		}
		info.textContent = data.length === 0 ? "0 rows" :
		    `${page * size + 1}–${Math.min((page + 1) * size, data.length)} of ${data.length}` +
		    (pages > 1 ? ` (page ${page + 1} of ${pages})` : "");
		prev.disabled = page === 0;
		next.disabled = page >= pages - 1;
		pager.hidden = pages <= 1 && !opts.alwaysPager;
	}
	wrap.setRows = (r) => { data = r || []; page = 0; draw(); };
	wrap.page = () => page;
	draw();
	return wrap;
}

// ---- forms ----

// formFields(fields) → a fragment of labelled inputs.
// field: {name, label, type: text|password|number|date|select|checkbox|
//   textarea|file, value?, options?: [value | {value, label}], required?,
//   placeholder?, help?, min?, max?, multiple?, accept?, autocomplete?}
// Each input has name=<name>, id "f-<name>" and data-test="field-<name>".
export function formFields(fields) {
	const frag = document.createDocumentFragment();
	for (const f of fields) {
		const id = "f-" + f.name;
		const common = { id, name: f.name, "data-test": "field-" + f.name,
		    required: f.required, placeholder: f.placeholder,
		    autocomplete: f.autocomplete || (f.type === "password" ? "new-password" : "off"),
		    "aria-describedby": f.help ? id + "-help" : undefined };
		let input;
		if (f.type === "select") {
			input = el("select", { ...common, multiple: f.multiple },
			    (f.options || []).map((o) => {
				    const v = typeof o === "object" ? o.value : o;
				    const l = typeof o === "object" ? o.label : o;
				    return el("option", { value: v, text: l,
					selected: Array.isArray(f.value) ? f.value.includes(v) : f.value === v });
			    }));
		} else if (f.type === "textarea") {
			input = el("textarea", { ...common, rows: f.rows || 6, spellcheck: "false" });
			if (f.value !== undefined)
				input.value = f.value;
		} else if (f.type === "checkbox") {
			input = el("input", { ...common, type: "checkbox", checked: !!f.value });
		} else {
			input = el("input", { ...common, type: f.type || "text", value: f.value,
			    min: f.min, max: f.max, accept: f.accept, multiple: f.multiple,
			    inputmode: f.inputmode, pattern: f.pattern, maxlength: f.maxlength });
		}
		const label = el("label", { for: id, text: f.label || f.name });
		const help = f.help ? el("small", { id: id + "-help", class: "help", text: f.help }) : null;
		frag.appendChild(el("div", { class: f.type === "checkbox" ? "field check" : "field",
		    "data-field": f.name },
		    f.type === "checkbox" ? [input, label] : [label, input], help));
	}
	return frag;
}

// readForm(formEl) → {name: value}: checkboxes as booleans, numbers as
// numbers, a select multiple as an array, a file input as its File (or
// FileList when multiple); empty text and empty numbers are left out
// (so optional fields are not sent).
export function readForm(formEl) {
	const out = {};
	for (const e of formEl.querySelectorAll("input[name], select[name], textarea[name]")) {
		if (e.disabled)
			continue;
		const n = e.name;
		if (e.type === "checkbox")
			out[n] = e.checked;
		else if (e.type === "radio") {
			if (e.checked)
				out[n] = e.value;
		} else if (e.type === "file") {
			if (e.files.length)
				out[n] = e.multiple ? e.files : e.files[0];
		} else if (e.tagName === "SELECT" && e.multiple)
			out[n] = [...e.selectedOptions].map((o) => o.value);
		else if (e.type === "number") {
			if (e.value !== "")
				out[n] = Number(e.value);
		} else if (e.value !== "")
			out[n] = e.type === "password" ? e.value : e.value.trim();
	}
	return out;
}

// ---- wizard ----

// wizard(steps, onDone) → an element: the stepper (ol, each step
// data-test="wizard-step", the current one aria-current="step"), the
// step's body (data-test="wizard-body") and Back / Next (data-test
// "wizard-back", "wizard-next"; on the last step Next reads
// opts.finish || "Finish").
// step: {title, render(body, state) (may be async), next?(body, state)
// (may be async; throw to stay on the step: the error is shown)}.
// onDone(state) runs after the last step's next (errors shown; the wizard
// stays). state is one object shared by all steps.
export function wizard(steps, onDone, opts = {}) {
	const state = opts.state || {};
	let i = 0, busy = false;
	const ol = el("ol", { class: "stepper" });
	const body = el("div", { class: "wizard-body", "data-test": "wizard-body" });
	const back = el("button", { type: "button", "data-test": "wizard-back" }, "Back");
	const next = el("button", { type: "submit", class: "primary", "data-test": "wizard-next" }, "Next");
	const form = el("form", { class: "wizard", "data-test": "wizard", novalidate: true },
	    ol, body, el("div", { class: "actions" }, back, next));

	async function show() {
		ol.replaceChildren(...steps.map((s, k) => el("li", {
		    "data-test": "wizard-step", class: k === i ? "current" : k < i ? "done" : "",
		    "aria-current": k === i ? "step" : undefined }, s.title)));
		back.disabled = i === 0;
		next.textContent = i === steps.length - 1 ? (opts.finish || "Finish") : "Next";
		next.dataset.last = i === steps.length - 1 ? "true" : "false";
		body.replaceChildren();
		try {
			await steps[i].render(body, state);
		} catch (e) {
			showError(e);
		}
		const first = body.querySelector("input, select, textarea, button");
		if (first)
			first.focus();
	}
	back.addEventListener("click", () => {
		if (i > 0 && !busy) {
			i--;
			show();
		}
	});
	form.addEventListener("submit", async (ev) => {
		ev.preventDefault();
		if (busy)
			return;
		busy = true;
		next.disabled = true;
		try {
			if (steps[i].next)
				await steps[i].next(body, state);
			if (i < steps.length - 1) {
				i++;
				clearBanner();
				await show();
			} else if (onDone)
				await onDone(state);
		} catch (e) {
			showError(e);
		} finally {
			busy = false;
			next.disabled = false;
		}
	});
	form.state = state;
	show();
	return form;
}

// ---- downloads, dates ----

// Save data as filename through a temporary <a download>.
export function download(filename, data, type) {
	const blob = data instanceof Blob ? data :
	    new Blob([data], { type: type || "application/octet-stream" });
	const url = URL.createObjectURL(blob);
	const a = el("a", { href: url, download: filename, class: "hidden" });
	document.body.appendChild(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// "2026-12-01 11:02 UTC" from an RFC 3339 / ISO time ("" for none).
export function fmtDate(s) {
	if (!s)
		return "";
	const d = new Date(s);
	if (isNaN(d.getTime()))
		return String(s);
	return d.toISOString().replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

// Whole days from now until notAfter (negative once expired; null for none).
export function daysLeft(notAfter) {
	if (!notAfter)
		return null;
	const t = Date.parse(notAfter);
	if (isNaN(t))
		return null;
	return Math.floor((t - Date.now()) / 86400000);
}
