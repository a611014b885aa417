// The audit log: the latest records (GET /v1/audit, newest first), filters
// by operation and client, and the chain status (GET /v1/audit/verify).
// The API pages forward from a sequence number and has no filter of its
// own: the screen finds the end of the log, loads the latest CHUNK records
// (more with "Load older") and filters what it loaded.
import { api, atLeast } from "../api.js";
import { el, showError, table, fmtDate } from "../lib.js";

export const title = "Audit";
export const least = "operator";

const CHUNK = 500;

// the first seq past the end of the log: a doubling then a bisection over
// ?since=N&limit=1 (a page is empty past the end)
async function findEnd() {
	const has = async (n) => (await api("GET", `/v1/audit?since=${n}&limit=1`)).lines.length > 0;
	let lo = 0, hi = 1;
	while (await has(hi)) {
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {	// has(lo) or lo = 0; !has(hi)
		const mid = Math.floor((lo + hi) / 2);
		if (await has(mid))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

function thumbOf(actor) {
	const m = /^client:(?:sha256:)?([0-9a-fA-F]{16,})$/.exec(actor || "");
	return m ? m[1].toLowerCase() : null;
}

export async function render(root, ctx) {
	const records = [];		// newest first
	let oldest = null;		// seq of the oldest loaded record
	const names = new Map();	// thumbprint (lower hex) → client name

	const chain = el("div", { class: "chain pending", "data-test": "audit-chain",
	    "data-status": "pending", role: "status" }, "Checking the chain…");
	const opSel = el("select", { id: "audit-op", "data-test": "audit-filter-op" });
	const clientSel = el("select", { id: "audit-client", "data-test": "audit-filter-client" });
	const text = el("input", { id: "audit-text", type: "search", placeholder: "object contains…",
	    "data-test": "audit-filter-text" });
	const status = el("p", { class: "muted", "data-test": "audit-loaded", "aria-live": "polite" });
	const older = el("button", { type: "button", "data-test": "audit-older", hidden: true },
	    "Load older records");
	const reload = el("button", { type: "button", "data-test": "audit-reload" }, "Reload");
	const detail = el("pre", { class: "detail", "data-test": "audit-detail", hidden: true });

	const who = (r) => {
		const t = thumbOf(r.actor);
		return t && names.has(t) ? names.get(t) : r.actor;
	};
	const grid = table([
		{ key: "seq", label: "Seq", class: "num" },
		{ key: "time", label: "Time", render: (r) => fmtDate(r.time) },
		{ key: "op", label: "Operation", render: (r) => el("code", { text: r.op }) },
		{ key: "actor", label: "Client", render: (r) => el("span", { title: r.actor, text: who(r) }) },
		{ key: "object", label: "Object", class: "wrap" },
		{ key: "result", label: "Result", render: (r) => {
			const d = r.detail && typeof r.detail === "object" ? r.detail : {};
			const why = d.code || d.error || d.reason;
			return el("span", {}, el("span", { class: r.result === "ok" ? "badge ok" : "badge bad",
			    text: r.result }), why ? [" ", el("code", { class: "why", text: String(why) })] : null);
		} },
	], [], { rowTest: "audit-row", test: "audit-table", empty: "No records match.",
	    onRow: (r) => {
		    detail.textContent = JSON.stringify(r, null, 2);
		    detail.hidden = false;
	    } });

	function options(sel, values, label) {
		const cur = sel.value;
		sel.replaceChildren(el("option", { value: "", text: label }),
		    ...values.map(([v, l]) => el("option", { value: v, text: l })));
		sel.value = values.some(([v]) => v === cur) ? cur : "";
	}

	function apply() {
		const op = opSel.value, actor = clientSel.value, t = text.value.trim().toLowerCase();
		const rows = records.filter((r) => (!op || r.op === op) &&
		    (!actor || r.actor === actor) &&
		    (!t || String(r.object || "").toLowerCase().includes(t)));
		grid.setRows(rows);
		root.dataset.filtered = String(rows.length);
	}

	function refreshFilters() {
		options(opSel, [...new Set(records.map((r) => r.op))].sort().map((o) => [o, o]), "any operation");
		options(clientSel, [...new Set(records.map((r) => r.actor))].sort()
		    .map((a) => [a, who({ actor: a }) === a ? a : who({ actor: a }) + " (" + a.slice(0, 20) + "…)"]),
		    "any client");
		apply();
		const first = records.length ? records[records.length - 1].seq : null;
		status.textContent = records.length ? `${records.length} records loaded (seq ${first}–${records[0].seq})` +
		    (oldest > 0 ? "; older ones exist" : "; the whole log") : "The log has no records.";
		older.hidden = !(oldest > 0);
	}

	async function loadChunk(end) {
		const since = Math.max(0, end - CHUNK);
		const page = await api("GET", `/v1/audit?since=${since}&limit=${Math.min(CHUNK, Math.max(1, end - since))}`);
		const lines = page.lines.filter((r) => r.seq < end);
		records.push(...lines.reverse());
		oldest = since;
	}

	async function loadLatest() {
		records.length = 0;
		detail.hidden = true;
		const end = await findEnd();
		if (end > 0)
			await loadChunk(end);
		else
			oldest = 0;
		refreshFilters();
	}

	async function verify() {
		chain.className = "chain pending";
		chain.dataset.status = "pending";
		chain.textContent = "Checking the chain…";
		try {
			const r = await api("GET", "/v1/audit/verify");
			chain.className = r.ok ? "chain ok" : "chain bad";
			chain.dataset.status = r.ok ? "ok" : "broken";
			chain.replaceChildren(el("strong", { text: r.ok ? "Chain intact" : "Chain broken" }),
			    " ", r.ok ? `${r.records} records, hash chain verified` +
				(r.signed ? `, signed head at seq ${r.head_seq}` : "") +
				(r.unsealed_tail ? `, ${r.unsealed_tail} records after the last signed head` : "") + "." :
				(r.problem || r.reason || "the verification failed") +
				(r.bad_line ? ` (line ${r.bad_line})` : ""));
		} catch (e) {
			chain.className = "chain bad";
			chain.dataset.status = "error";
			chain.textContent = "The chain could not be checked: " + e.message;
		}
	}

	for (const s of [opSel, clientSel])
		s.addEventListener("change", apply);
	text.addEventListener("input", apply);
	older.addEventListener("click", async () => {
		older.disabled = true;
		try {
			await loadChunk(oldest);
			refreshFilters();
		} catch (e) {
			showError(e);
		} finally {
			older.disabled = false;
		}
	});
	reload.addEventListener("click", () => {
		Promise.all([verify(), loadLatest().catch(showError)]);
	});

	root.append(
	    el("div", { class: "screen-head" }, el("h1", { text: "Audit log" }), reload),
	    chain,
	    el("div", { class: "filters", role: "search" },
		el("label", { for: "audit-op", text: "Operation" }), opSel,
		el("label", { for: "audit-client", text: "Client" }), clientSel,
		el("label", { for: "audit-text", text: "Object" }), text),
	    status, grid, older, detail);
	options(opSel, [], "any operation");
	options(clientSel, [], "any client");

	// client names for the thumbprints (admin only: others see the actor)
	if (atLeast(ctx.session, "admin")) {
		try {
			for (const c of await api("GET", "/v1/clients"))
				for (const t of c.thumbprints || [])
					names.set(String(typeof t === "object" ? t.thumbprint : t)
					    .replace(/^sha256:/, "").toLowerCase(), c.name);
		} catch (e) {
			/* the actors are shown as they are */
		}
	}
	const v = verify();
	try {
		await loadLatest();
	} catch (e) {
		showError(e);
	}
	await v;
	if (ctx.query.op) {
		opSel.value = ctx.query.op;
		apply();
	}
}
