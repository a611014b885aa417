// CAs and CSRs screen (issue 16c): CA list and detail, create a root or an
// intermediate (signed by an hkms CA, or as a CSR for an outside parent,
// then apply), sign an uploaded CSR under a profile, the issued list with
// revoke, CRL download and publishing, a CSR for a token key. Every action
// is a call of the JSON API (docs/api.md).
import { api, atLeast } from "../api.js";
import { el, showError, showInfo, confirmDialog, download, fmtDate } from "../lib.js";
import {
	field, val, button, pagedTable, fileValue, fetchDownload, enc,
	statusOf, badge, dl, yesno, flash, showFlash, heading, sec,
} from "../certs-lib.js";
import { sanList } from "./certificates.js";

export const title = "CAs and CSRs";
export const least = "user";

const KEY_TYPES = ["ec:p256", "ec:p384", "ec:p521", "rsa:2048", "rsa:3072", "rsa:4096"];
const REASONS = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
	"cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"];

export async function render(root, ctx) {
	await screen(root, ctx);
	showFlash();
}

async function screen(root, ctx) {
	const p = ctx.params || [];
	root.replaceChildren();
	if (p[0] === "new")
		return renderCreate(root, ctx);
	if (p[0] === "csr")
		return renderCsr(root, ctx);
	if (p[0])
		return renderDetail(root, { ...ctx, reload: () => render(root, ctx) }, p[0]);
	return renderList(root, ctx);
}

const list = (s) => (s || "").split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);

/* ---- list ---- */

async function renderList(root, ctx) {
	const op = atLeast(ctx.session, "operator");
	const actions = [];
	if (op) {
		actions.push(button("Create CA", "ca-add", () => ctx.navigate("#/cas/new"), "primary"));
		actions.push(button("Create CSR", "csr-add", () => ctx.navigate("#/cas/csr")));
	}
	root.append(heading("Certificate authorities", ...actions));
	let rows;
	try {
		rows = await api("GET", "/v1/cas");
	} catch (e) {
		showError(e);
		return;
	}
	const cols = [
		{ key: "name", label: "Name", render: (r) => button(r.name, "ca-link", () => ctx.navigate(`#/cas/${enc(r.name)}`), "link") },
		{ key: "cn", label: "Common name", render: (r) => r.cn ?? r.common_name ?? "" },
		{ key: "parent", label: "Parent", render: (r) => r.parent === "external" ? "outside parent" : r.parent || "none (root)" },
		{ key: "status", label: "Status", render: (r) => badge(r.type === "ca-pending" ? "pending" : statusOf(r)) },
		{ key: "path_len", label: "Path length", render: (r) => r.path_len ?? "" },
		{ key: "not_after", label: "Valid until", render: (r) => r.not_after ? fmtDate(r.not_after) : "pending (CSR)" },
		{ key: "days_left", label: "Days left", render: (r) => r.days_left ?? "" },
	];
	root.append(pagedTable(cols, rows, { pageSize: 25, rowTest: "ca-row", rowKey: (r) => r.name, test: "ca-list", empty: "No CAs yet." }));
}

/* ---- create ---- */

async function renderCreate(root, ctx) {
	root.append(heading("Create a CA", button("Cancel", "ca-cancel", () => ctx.navigate("#/cas"))));
	let cas = [];
	try {
		cas = (await api("GET", "/v1/cas")).filter((c) => c.type !== "ca-pending" && c.status !== "expired" && c.status !== "revoked");
	} catch (e) {
		showError(e);
	}
	const name = field({ label: "Name", name: "name", test: "ca-name", required: true });
	const kind = field({ label: "Kind", name: "kind", type: "select", test: "ca-kind", value: "root", options: [
		{ value: "root", label: "Root CA (self-signed)" },
		{ value: "intermediate", label: "Intermediate signed by an hkms CA" },
		{ value: "external", label: "Intermediate for an outside parent (CSR, then apply)" }] });
	const parent = field({ label: "Parent CA", name: "parent", type: "select", test: "ca-parent", options: cas.map((c) => c.name) });
	const kt = field({ label: "Key type and size", name: "key_type", type: "select", options: KEY_TYPES, value: "ec:p256", test: "ca-key-type" });
	const cn = field({ label: "Common name", name: "cn", test: "ca-cn", required: true });
	const o = field({ label: "Organization", name: "o", test: "ca-o" });
	const pl = field({ label: "Path length (empty = no limit)", name: "path_len", type: "number", test: "ca-path-len" });
	const days = field({ label: "Lifetime (days, 0 = the default)", name: "days", type: "number", value: 0, test: "ca-days" });
	const pd = field({ label: "Permitted DNS names (name constraints; comma-separated)", name: "permit_dns", test: "ca-permit-dns" });
	const ed = field({ label: "Excluded DNS names", name: "exclude_dns", test: "ca-exclude-dns" });
	const sync = () => { parent.hidden = kind.input.value !== "intermediate"; };
	kind.input.addEventListener("change", sync);
	sync();
	const form = el("form", { class: "cx-form" }, name, kind, parent, kt, cn, o, pl, days, pd, ed);
	form.addEventListener("submit", (e) => e.preventDefault());
	form.append(el("div", { class: "cx-actions" }, button("Create", "ca-create", async () => {
		const esc = (v) => v.replace(/\\/g, "\\\\").replace(/\//g, "\\/");
		const b = { name: val(name), key_type: kt.input.value, subject: (val(o) ? `/O=${esc(val(o))}` : "") + (val(cn) ? `/CN=${esc(val(cn))}` : "") };
		if (kind.input.value === "intermediate") {
			if (!parent.input.value)
				return showError(new Error("no parent CA: create a root first"));
			b.parent = parent.input.value;
		}
		if (kind.input.value === "external")
			b.external = true;
		if (val(pl) !== "")
			b.path_len = Number(val(pl));
		if (Number(val(days)))
			b.days = Number(val(days));
		if (list(val(pd)).length)
			b.permit_dns = list(val(pd));
		if (list(val(ed)).length)
			b.exclude_dns = list(val(ed));
		try {
			await api("POST", "/v1/cas", b);
			flash(`CA ${b.name} created`);
			ctx.navigate(`#/cas/${enc(b.name)}`);
		} catch (e) {
			showError(e);
		}
	}, "primary")));
	root.append(form);
}

/* ---- a CSR for a token key ---- */

async function renderCsr(root, ctx) {
	root.append(heading("Create a CSR", button("Cancel", "csr-cancel", () => ctx.navigate("#/cas"))));
	let keys = [];
	try {
		keys = await api("GET", "/v1/keys");
	} catch (e) {
		showError(e);
	}
	const name = field({ label: "Name", name: "name", test: "csr-name", required: true });
	const src = field({ label: "Key", name: "key_source", type: "select", test: "csr-key-source", value: keys.length ? "existing" : "new", options: [
		{ value: "existing", label: "An existing token key" }, { value: "new", label: "Generate a new key in the token" }] });
	const key = field({ label: "Token key", name: "key", type: "select", test: "csr-key", options: keys.map((k) => k.name) });
	const kt = field({ label: "Key type and size", name: "new_key", type: "select", options: KEY_TYPES, value: "ec:p256", test: "csr-key-type" });
	const subject = field({ label: "Subject (/CN=a/O=b)", name: "subject", test: "csr-subject", required: true });
	const san = field({ label: "Subject alternative names (comma-separated)", name: "san", test: "csr-san" });
	const digest = field({ label: "Digest", name: "digest", type: "select", options: ["sha256", "sha384", "sha512"], value: "sha256", test: "csr-digest" });
	const sync = () => { key.hidden = src.input.value !== "existing"; kt.hidden = src.input.value !== "new"; };
	src.input.addEventListener("change", sync);
	sync();
	const out = el("div", { "data-test": "csr-result" });
	const form = el("form", { class: "cx-form" }, name, src, key, kt, subject, san, digest);
	form.addEventListener("submit", (e) => e.preventDefault());
	form.append(el("div", { class: "cx-actions" }, button("Create CSR", "csr-create", async () => {
		const b = { name: val(name), subject: val(subject), digest: digest.input.value, san: sanList(val(san)) };
		if (src.input.value === "existing")
			b.key = key.input.value;
		else
			b.new_key = kt.input.value;
		try {
			const r = await api("POST", "/v1/csrs", b);
			showInfo(`CSR ${r.name} created`);
			download(`${r.name}.csr`, r.pem, "application/pkcs10");
			out.replaceChildren(sec("CSR", el("pre", { class: "cx-pem", text: r.pem }),
			    el("div", { class: "cx-actions" }, button("Download CSR", "csr-download", () => download(`${r.name}.csr`, r.pem, "application/pkcs10")),
				button("Open its record", "csr-open", () => ctx.navigate(`#/certificates/${enc(r.name)}`)))));
		} catch (e) {
			showError(e);
		}
	}, "primary")));
	root.append(form, out);
}

/* ---- detail ---- */

async function renderDetail(root, ctx, name) {
	const op = atLeast(ctx.session, "operator");
	const admin = atLeast(ctx.session, "admin");
	let ca;
	try {
		ca = await api("GET", `/v1/cas/${enc(name)}`);
	} catch (e) {
		root.append(heading(name, button("Back to list", "ca-back", () => ctx.navigate("#/cas"))));
		showError(e);
		return;
	}
	const cert = ca.certificate || ca;
	const pending = ca.type === "ca-pending" || (!cert.not_after && !!ca.csr_pem);
	root.append(heading(`CA ${ca.name}`, button("Back to list", "ca-back", () => ctx.navigate("#/cas"))));
	const top = el("div", { class: "cx-detail" });
	root.append(top);
	top.append(sec("CA", el("div", { "data-test": "ca-detail" }, dl([
		["Name", ca.name, "ca-detail-name"], ["Parent", ca.parent === "external" ? "outside parent" : ca.parent || "none (root)", "ca-detail-parent"],
		["Status", badge(pending ? "pending" : statusOf(cert))],
		["Token key", ca.key], ["Token key type", ca.token_key_type], ["PKCS#11 URI", ca.key_uri, "ca-key-uri"],
		["Subject", cert.subject ?? ca.subject, "ca-detail-subject"], ["Issuer", cert.issuer],
		["Serial", cert.serial], ["Valid from", fmtDate(cert.not_before)], ["Valid until", cert.not_after ? fmtDate(cert.not_after) : pending ? "pending: apply the signed certificate" : undefined],
		["Days left", cert.days_left], ["Path length", ca.path_len ?? cert.path_len],
		["Permitted DNS", ca.permit_dns || []], ["Excluded DNS", ca.exclude_dns || []], ["Permitted IP", ca.permit_ip || []], ["Excluded IP", ca.exclude_ip || []],
		["Key usage", cert.key_usage || []], ["Policy", ca.policy ? JSON.stringify(ca.policy) : "none"],
		["SHA-256 fingerprint", cert.fingerprint_sha256], ["In use", ca.used_by],
	]))));
	const dlRow = el("div", { class: "cx-actions" });
	if (pending) {
		dlRow.append(button("Download CSR", "ca-csr-download", () => download(`${ca.name}.csr`, ca.csr_pem || ca.pem, "application/pkcs10")));
	} else {
		dlRow.append(button("Download CA certificate", "ca-cert-download", () => fetchDownload("GET", `/ca/${enc(ca.name)}.pem`, undefined, `${ca.name}.pem`).catch(showError)));
	}
	const side = el("div", {}, sec("Downloads", dlRow));
	top.append(side);
	if (pending && op)
		side.append(applyForm(ctx, ca));
	if (!pending) {
		const issued = await issuedPanel(ctx, ca, op);
		side.append(crlPanel(ctx, ca, op), await signForm(ctx, ca, issued.refresh));
		root.append(issued);
	}
	if (admin)
		root.append(sec("Delete", el("div", { class: "cx-actions" }, button("Delete CA", "ca-delete", async () => {
			if (!await confirmDialog(`Delete CA ${ca.name}? Its token key stays.`, { danger: true }))
				return;
			let force = false;
			for (;;) {
				try {
					await api("DELETE", `/v1/cas/${enc(ca.name)}${force ? "?force=true" : ""}`);
					flash(`deleted CA ${ca.name}`);
					ctx.navigate("#/cas");
					return;
				} catch (e) {
					if (!force && e.status === 409 && await confirmDialog(`${e.message}. Delete it anyway (force)?`, { danger: true })) {
						force = true;
						continue;
					}
					showError(e);
					return;
				}
			}
		}, "danger"))));
}

function applyForm(ctx, ca) {
	const cert = field({ label: "The CA certificate signed by the outside parent", name: "certificate", type: "file", test: "ca-apply-cert" });
	const chain = field({ label: "The parent's chain", name: "chain", type: "file", test: "ca-apply-chain" });
	return sec("Apply the signed certificate", cert, chain, el("div", { class: "cx-actions" }, button("Apply", "ca-apply", async () => {
		try {
			const certificate = await fileValue(cert.input), ch = await fileValue(chain.input);
			if (!certificate || !ch)
				throw new Error("choose the certificate and the chain files");
			await api("POST", `/v1/cas/${enc(ca.name)}/apply`, { certificate, chain: ch });
			flash(`CA ${ca.name} applied`);
			await ctx.reload();
		} catch (e) {
			showError(e);
		}
	}, "primary")));
}

async function signForm(ctx, ca, refresh) {
	let profiles = [];
	try {
		profiles = (await api("GET", "/v1/profiles")).filter((p) => !p.ca).map((p) => p.name);
	} catch (e) {
		showError(e);
	}
	const csr = field({ label: "CSR file (PEM or DER)", name: "csr", type: "file", test: "sign-csr" });
	const prof = field({ label: "Profile", name: "profile", type: "select", options: profiles, value: profiles.includes("tls-server") ? "tls-server" : profiles[0], test: "sign-profile" });
	const days = field({ label: "Lifetime (days, 0 = the profile's default)", name: "days", type: "number", value: 0, test: "sign-days" });
	const san = field({ label: "SAN override (optional, comma-separated; empty keeps the CSR's)", name: "san", test: "sign-san" });
	const out = el("div", { "data-test": "sign-result" });
	return sec("Sign a CSR", csr, prof, days, san, el("div", { class: "cx-actions" }, button("Sign", "sign-submit", async () => {
		try {
			const data = await fileValue(csr.input);
			if (!data)
				throw new Error("choose the CSR file");
			const b = { csr: data, profile: prof.input.value, days: Number(val(days)) || 0 };
			if (val(san))
				b.san = sanList(val(san));
			const r = await api("POST", `/v1/cas/${enc(ca.name)}/sign`, b);
			const fname = `${(r.common_name || r.serial || "signed").replace(/[^A-Za-z0-9._-]/g, "_")}-chain.pem`;
			const get = () => download(fname, r.pem, "application/pem-certificate-chain");
			get();
			showInfo(`signed serial ${r.serial}`);
			out.replaceChildren(dl([["Serial", r.serial, "sign-serial"], ["Subject", r.subject], ["Valid until", fmtDate(r.not_after)]]),
			    el("div", { class: "cx-actions" }, button("Download certificate chain", "sign-download", get)));
			csr.input.value = "";
			await refresh();
		} catch (e) {
			showError(e);
		}
	}, "primary")), out);
}

function crlPanel(ctx, ca, op) {
	const days = field({ label: "Next update in (days, 0 = the default)", name: "crl_days", type: "number", value: 0, test: "crl-days" });
	const info = el("div", { "data-test": "crl-info" });
	const row = el("div", { class: "cx-actions" },
	    button("Download CRL (PEM)", "crl-download", () => fetchDownload("GET", `/v1/cas/${enc(ca.name)}/crl?format=pem`, undefined, `${ca.name}.crl.pem`).catch(showError)),
	    button("Download CRL (DER)", "crl-download-der", () => fetchDownload("GET", `/v1/cas/${enc(ca.name)}/crl?format=der`, undefined, `${ca.name}.crl`).catch(showError)));
	const kids = [row];
	if (op) {
		row.append(button("Publish a new CRL", "crl-publish", async () => {
			try {
				const b = Number(val(days)) ? { days: Number(val(days)) } : {};
				const r = await api("POST", `/v1/cas/${enc(ca.name)}/crl`, b);
				info.replaceChildren(dl([["CRL number", r.number, "crl-number"], ["This update", fmtDate(r.this_update)], ["Next update", fmtDate(r.next_update)], ["Entries", r.entries, "crl-entries"]]));
				showInfo(`CRL ${r.number} of ${ca.name} published`);
			} catch (e) {
				showError(e);
			}
		}));
		kids.unshift(days);
	}
	return sec("CRL", ...kids, info);
}

async function issuedPanel(ctx, ca, op) {
	const box = el("div", {});
	const s = sec("Issued certificates", box);
	s.refresh = async () => {
		let rows = [];
		try {
			rows = await api("GET", `/v1/cas/${enc(ca.name)}/issued`);
		} catch (e) {
			showError(e);
		}
		box.replaceChildren(issuedTable(ctx, ca, op, rows));
	};
	await s.refresh();
	return s;
}

function issuedTable(ctx, ca, op, rows) {
	const cols = [
		{ key: "serial", label: "Serial" },
		{ key: "subject", label: "Subject", class: "wrap" },
		{ key: "profile", label: "Profile" },
		{ key: "not_after", label: "Valid until", render: (r) => fmtDate(r.not_after) },
		{ key: "status", label: "Status", render: (r) => badge(statusOf(r)) },
	];
	if (op)
		cols.push({ key: "", label: "Actions", render: (r) => r.status === "revoked" ? "" : revokeControl(ctx, ca, r) });
	// newest first
	rows = [...rows].sort((a, b) => String(b.issued_at || "").localeCompare(String(a.issued_at || "")));
	return pagedTable(cols, rows, { pageSize: 25, rowTest: "issued-row", rowKey: (r) => r.serial, test: "issued-list", empty: "Nothing issued yet." });
}

function revokeControl(ctx, ca, r) {
	const reason = field({ label: `Reason for ${r.serial}`, name: "reason", type: "select", options: REASONS, value: "unspecified", test: "revoke-reason" });
	reason.classList.add("cx-inline");
	return el("div", { class: "cx-actions" }, reason, button("Revoke", "revoke", async () => {
		if (!await confirmDialog(`Revoke serial ${r.serial} (${r.subject || ""}) for ${reason.input.value}? This cannot be undone.`, { danger: true }))
			return;
		try {
			await api("POST", `/v1/cas/${enc(ca.name)}/revoke`, { serial: r.serial, reason: reason.input.value });
			flash(`revoked ${r.serial}: publish a new CRL to make it known`);
			await ctx.reload();
		} catch (e) {
			showError(e);
		}
	}, "danger"));
}
