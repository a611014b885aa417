// Truststore screen (RadiantOne's client truststore): alias list, import
// (PEM, DER, PKCS#7, PKCS#12), view, export, delete, pin; the imported CRLs.
import { api } from "../api.js";
import { el, showInfo, confirmDialog, download, fmtDate, table } from "../lib.js";
import { readUpload, fetchBlob, field, input, checkbox, select, kv, badge, section,
	buttonBar, button, pre, enc, shortThumb } from "../admin-common.js";

export const title = "Truststore";
export const least = "operator";

const EXPORTS = [
	["pem", "PEM", "pem", "application/x-pem-file"],
	["der", "DER", "der", "application/pkix-cert"],
	["p7b", "P7B (PEM)", "p7b", "application/x-pem-file"],
	["p7b-der", "P7B (DER)", "p7c", "application/pkcs7-mime"],
	["p12", "PFX (no key)", "p12", "application/x-pkcs12"],
];

export async function render(root, ctx) {
	const alias = ctx && ctx.params && ctx.params[0];
	if (alias)
		return renderEntry(root, ctx, alias);
	root.replaceChildren(el("h1", { text: title }));
	const [entries, crls] = await Promise.all([
		api("GET", "/v1/truststore"),
		api("GET", "/v1/truststore/crls").catch(() => null),
	]);
	const again = () => render(root, ctx);
	root.append(
		listSection(entries || [], again),
		importSection(again),
		pinSection(again, ""),
		crlSection(crls, again));
}

function statusBadge(s) {
	return badge(s || "—", s === "trusted" ? "ok" : "warn");
}

function exportButtons(alias) {
	const fmt = select(EXPORTS.map((e) => [e[0], e[1]]), { "data-test": "trust-export-format",
		"aria-label": "export format of " + alias });
	const go = button("Export", "trust-export", async () => {
		const e = EXPORTS.find((x) => x[0] === fmt.value);
		const blob = await fetchBlob("/v1/truststore/" + enc(alias) + "?format=" + enc(e[0]));
		download(alias + "." + e[2], blob, e[3]);
	});
	go.dataset.alias = alias;
	fmt.dataset.alias = alias;
	return el("span", { class: "adm-inline" }, fmt, go);
}

function deleteButton(alias, after) {
	const b = button("Delete", "trust-delete", async () => {
		if (!await confirmDialog("Delete the truststore entry \"" + alias + "\"? Peers it vouches for are no longer trusted.", { danger: true }))
			return;
		await api("DELETE", "/v1/truststore/" + enc(alias));
		showInfo("Deleted truststore entry " + alias + ".");
		await after();
	}, "danger");
	b.dataset.alias = alias;
	return b;
}

function listSection(entries, again) {
	if (!entries.length)
		return section("Entries", el("p", { "data-test": "trust-empty", text: "The truststore is empty." }));
	const view = (alias) => {
		const a = el("a", { href: "#/truststore/" + enc(alias), "data-test": "trust-view", text: alias });
		a.dataset.alias = alias;
		return a;
	};
	return section("Entries", table([
		{ key: "alias", label: "Alias", render: (r) => view(r.alias) },
		{ key: "kind", label: "Kind" },
		{ key: "status", label: "Status", render: (r) => statusBadge(r.status) },
		{ key: "certificates", label: "Certificates" },
		{ key: "subject", label: "Subject" },
		{ key: "not_after", label: "Expires", render: (r) => fmtDate(r.not_after) },
		{ key: "thumbprint", label: "Thumbprint", render: (r) => shortThumb(r.thumbprint) },
		{ key: "actions", label: "Actions", render: (r) => el("span", { class: "adm-inline" },
			exportButtons(r.alias), deleteButton(r.alias, again)) },
	], entries, { pageSize: 25, rowTest: "trust-row", test: "trust-table" }));
}

function importSection(again) {
	const alias = input({ name: "alias", "data-test": "trust-import-alias", required: "",
		pattern: "[A-Za-z0-9._-]{1,64}" });
	const file = input({ type: "file", "data-test": "trust-import-file",
		accept: ".pem,.crt,.cer,.der,.p7b,.p7c,.pfx,.p12" });
	const text = el("textarea", { rows: "4", "data-test": "trust-import-text", placeholder: "or paste PEM" });
	const pass = input({ type: "password", "data-test": "trust-import-password", autocomplete: "off" });
	const out = el("div", { class: "adm-result", "data-test": "trust-import-result" });
	file.addEventListener("change", () => {
		if (!alias.value && file.files[0])
			alias.value = file.files[0].name.replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
	});
	const go = button("Import", "trust-import", async () => {
		const req = { alias: alias.value.trim() };
		if (file.files && file.files[0])
			req.certificate = await readUpload(file.files[0]);
		else if (text.value.trim())
			req.certificate = text.value;
		else
			throw new Error("choose a file or paste a certificate");
		if (pass.value)
			req.password = pass.value;
		const r = await api("POST", "/v1/truststore", req);
		pass.value = "";
		showInfo("Imported " + r.imported.length + " certificate(s) as " + r.alias + " (" + r.format + ")" +
			(r.duplicates && r.duplicates.length ? ", " + r.duplicates.length + " already present" : "") +
			(r.private_key_ignored ? "; the private key of the file was ignored" : "") + ".");
		await again();
	}, "primary");
	return section("Import", el("form", { class: "adm-form", on: { submit: (e) => { e.preventDefault(); go.click(); } } },
		field("Alias", alias, "1 to 64 of A-Z a-z 0-9 . _ -"),
		field("File", file, "PEM, DER, PKCS#7 (.p7b) or PKCS#12 (.pfx/.p12)"),
		field("PEM text", text),
		field("Password", pass, "only for a PKCS#12 file; never stored")), buttonBar(go), out);
}

function pinSection(again, fixedAlias) {
	const alias = input({ name: "alias", "data-test": "trust-pin-alias", value: fixedAlias });
	if (fixedAlias)
		alias.readOnly = true;
	const file = input({ type: "file", "data-test": "trust-pin-file", accept: ".pem,.crt,.cer,.der" });
	const text = el("textarea", { rows: "3", "data-test": "trust-pin-text", placeholder: "or paste PEM" });
	const force = checkbox("Replace a different pinned certificate", { "data-test": "trust-pin-force" });
	const go = button("Pin", "trust-pin", async () => {
		const a = alias.value.trim();
		if (!a)
			throw new Error("alias is required");
		let cert;
		if (file.files && file.files[0])
			cert = await readUpload(file.files[0]);
		else if (text.value.trim())
			cert = text.value;
		else
			throw new Error("choose the peer's certificate");
		const r = await api("POST", "/v1/truststore/" + enc(a) + "/pin",
			{ certificate: cert, force: force.box.checked });
		showInfo(r.unchanged ? "The certificate was already pinned as " + r.alias + "." :
			"Pinned the peer certificate as " + r.alias + (r.replaced ? " (replaced the earlier one)" : "") + ".");
		await again();
	});
	return section("Pin a peer certificate", el("p", { text: "Trust on first use: the certificate a peer presents is pinned under the alias." }),
		el("div", { class: "adm-form" }, field("Alias", alias), field("Peer certificate", file),
			field("PEM text", text), force.row), buttonBar(go));
}

function crlSection(crls, again) {
	if (crls === null)
		return el("div");
	const file = input({ type: "file", "data-test": "crl-import-file", accept: ".crl,.pem,.der" });
	const go = button("Import CRL", "crl-import", async () => {
		if (!file.files || !file.files[0])
			throw new Error("choose a CRL file");
		const r = await api("POST", "/v1/truststore/crls", { crl: await readUpload(file.files[0]) });
		showInfo(r.unchanged ? "That CRL was already imported." : "Imported the CRL of " + r.crl.issuer +
			" (number " + r.crl.number + ").");
		await again();
	});
	const del = (r) => {
		const b = button("Delete", "crl-delete", async () => {
			if (!await confirmDialog("Delete the CRL of " + r.issuer + "?", { danger: true }))
				return;
			await api("DELETE", "/v1/truststore/crls/" + enc(r.id));
			showInfo("Deleted the CRL of " + r.issuer + ".");
			await again();
		}, "danger");
		b.dataset.id = r.id;
		return b;
	};
	const list = crls.length ? table([
		{ key: "issuer", label: "Issuer" },
		{ key: "number", label: "Number" },
		{ key: "this_update", label: "This update", render: (r) => fmtDate(r.this_update) },
		{ key: "next_update", label: "Next update", render: (r) => fmtDate(r.next_update) },
		{ key: "entries", label: "Revoked" },
		{ key: "signer", label: "Signer", render: (r) => (r.signer && r.signer.alias) || "" },
		{ key: "status", label: "Status", render: (r) => badge(r.status, r.status === "current" ? "ok" : "warn") },
		{ key: "actions", label: "", render: del },
	], crls, { pageSize: 10, rowTest: "crl-row", test: "crl-table" }) : el("p", { text: "No CRLs imported." });
	return section("CRLs", list, el("div", { class: "adm-form" }, field("CRL file", file, "PEM or DER, signed by a truststore CA")),
		buttonBar(go));
}

// ---- one entry ----

// labels of the entry's and its certificates' fields, in this order; the
// others follow under their own names
const LABELS = [
	["alias", "Alias"], ["kind", "Kind"], ["status", "Status"], ["source_format", "Imported from"],
	["created", "Created"], ["updated", "Updated"],
	["subject", "Subject"], ["common_name", "Common name"], ["issuer", "Issuer"], ["serial", "Serial"],
	["not_before", "Valid from"], ["not_after", "Valid to"],
	["fingerprint_sha256", "SHA-256 fingerprint"], ["fingerprint_sha1", "SHA-1 fingerprint"],
	["thumbprint", "Thumbprint"], ["key_type", "Key type"], ["key_bits", "Key bits"],
	["is_ca", "CA"], ["self_signed", "Self-signed"], ["path_len", "Path length"], ["san", "SANs"],
	["extended_key_usage", "Extended key usage"],
];
const DATES = new Set(["created", "updated", "not_before", "not_after", "pinned_at", "seen"]);

function fieldPairs(o, prefix, skip) {
	const pairs = [];
	const fmt = (k, v) => {
		if (DATES.has(k))
			return fmtDate(v);
		if (typeof v === "boolean")
			return v ? "yes" : "no";
		if (Array.isArray(v))
			return v.length ? v.join(", ") : "—";
		return typeof v === "object" ? JSON.stringify(v) : String(v);
	};
	const known = new Map(LABELS);
	const keys = LABELS.map((l) => l[0]).filter((k) => k in o)
		.concat(Object.keys(o).filter((k) => !known.has(k)));
	for (const k of keys) {
		const v = o[k];
		if (skip.has(k) || v === null || v === undefined)
			continue;
		pairs.push([known.get(k) || k.replace(/_/g, " "), fmt(k, v), prefix + k]);
	}
	return pairs;
}

function certView(c, i) {
	return el("div", { class: "adm-cert", "data-test": "trust-cert", "data-index": String(i) },
		el("h3", { text: "Certificate " + (i + 1) }), kv(fieldPairs(c, "trust-cert-", new Set(["pem"]))));
}

async function renderEntry(root, ctx, alias) {
	const e = await api("GET", "/v1/truststore/" + enc(alias));
	const again = () => renderEntry(root, ctx, alias);
	const back = () => ctx.navigate("#/truststore");
	root.replaceChildren(
		el("p", {}, el("a", { href: "#/truststore", "data-test": "trust-back", text: "← Truststore" })),
		el("h1", { text: "Truststore entry " + alias }));
	const certs = Array.isArray(e.certificates) ? e.certificates : [];
	const top = fieldPairs(e, "trust-entry-", new Set(["pem", "certificates"]));
	const del = deleteButton(alias, back);
	root.append(
		section("Entry", kv(top, { "data-test": "trust-entry" }),
			buttonBar(exportButtons(alias), del)),
		section("Certificates", ...certs.map(certView)));
	if (e.pem)
		root.append(section("PEM", pre(e.pem, "trust-pem")));
	root.append(pinSection(again, alias));
}
