// Clients screen (RavenDB Studio's certificates view): the client
// registrations with clearance, permissions and 2FA; generate (PKCS#12
// once, TOTP secret once), upload, edit, re-enrol 2FA, delete. Admin only.
import { api } from "../api.js";
import { el, showInfo, confirmDialog, download, fmtDate, daysLeft, table } from "../lib.js";
import { readUpload, b64ToBytes, field, input, select, checkbox, kv, badge, section,
	buttonBar, button, enc, shortThumb, totpPanel } from "../admin-common.js";

export const title = "Clients";
export const least = "admin";

const CLEARANCES = ["user", "operator", "admin"];
const DEFAULT_DAYS = 1826;	// 5 years, the server's default

export async function render(root, ctx) {
	const name = ctx && ctx.params && ctx.params[0];
	if (name)
		return renderClient(root, ctx, name, null);
	return renderList(root, ctx, null);
}

async function loadCas() {
	try {
		const cas = await api("GET", "/v1/cas");
		return (Array.isArray(cas) ? cas : []).filter((c) => c.certificate !== false && c.type !== "ca-pending")
			.map((c) => c.name);
	} catch (_) {
		return [];
	}
}

function validFrom(r) {
	return r.not_before || null;
}

function permSummary(r) {
	if (r.clearance !== "user")
		return "all (" + r.clearance + ")";
	const p = r.permissions || [];
	if (!p.length)
		return "none";
	return p.map((g) => g.ca + ": " + (g.rights || ["sign", "read"]).join("+") +
		(g.profiles && g.profiles.length ? " [" + g.profiles.join(", ") + "]" : "")).join("; ");
}

function tfaBadge(r) {
	if (!r.require_2fa)
		return badge("off", "", "client-2fa");
	return r.totp_enrolled === false ? badge("required, not enrolled", "warn", "client-2fa") :
		badge("required", "ok", "client-2fa");
}

function expiry(r) {
	if (!r.not_after)
		return "—";
	const d = daysLeft(r.not_after);
	return fmtDate(r.not_after) + (d < 0 ? " (expired)" : " (" + d + " days)");
}

async function renderList(root, ctx, flash) {
	const [clients, cas] = await Promise.all([api("GET", "/v1/clients"), loadCas()]);
	root.replaceChildren(el("h1", { text: title }));
	const resultSlot = el("div", { class: "adm-flash", "data-test": "client-result" });
	if (flash)
		resultSlot.appendChild(flash);
	const again = (f) => renderList(root, ctx, f || null);
	const link = (n) => {
		const a = el("a", { href: "#/clients/" + enc(n), "data-test": "client-view", text: n });
		a.dataset.name = n;
		return a;
	};
	const list = (clients || []).length ? table([
		{ key: "name", label: "Name", render: (r) => link(r.name) },
		{ key: "thumbprints", label: "Thumbprint(s)", render: (r) =>
			el("span", { class: "adm-thumbs" }, ...(r.thumbprints || []).map(shortThumb)) },
		{ key: "clearance", label: "Clearance", render: (r) => {
			const s = el("span", { "data-test": "client-clearance", text: r.clearance });
			s.dataset.name = r.name;
			return s;
		} },
		{ key: "valid_from", label: "Valid from", render: (r) => fmtDate(validFrom(r)) },
		{ key: "not_after", label: "Expires", render: expiry },
		{ key: "permissions", label: "Permissions", render: permSummary },
		{ key: "require_2fa", label: "2FA", render: tfaBadge },
		{ key: "actions", label: "", render: (r) => (ctx.session && r.name === ctx.session.client ?
			badge("you", "", "client-self") : deleteButton(r.name, () => again())) },
	], clients, { pageSize: 25, rowTest: "client-row", test: "client-table" }) : el("p", { text: "No clients are registered." });
	root.append(resultSlot, section("Registered clients", list),
		generateSection(cas, again), uploadSection(cas, again));
	if (flash)
		resultSlot.scrollIntoView({ block: "nearest" });
}

function deleteButton(name, after) {
	const b = button("Delete", "client-delete", async () => {
		if (!await confirmDialog("Delete the client \"" + name + "\"? Its certificates can no longer use the API.", { danger: true }))
			return;
		await api("DELETE", "/v1/clients/" + enc(name));
		showInfo("Deleted client " + name + ".");
		await after();
	}, "danger");
	b.dataset.name = name;
	return b;
}

// permissionsEditor(cas, initial) -> {node, read()}: per-CA grants of a
// user client: rights sign/read and an optional list of profiles
function permissionsEditor(cas, initial, prefix) {
	const rows = el("div", { class: "adm-perms", "data-test": prefix + "-perms" });
	const add = (g) => {
		const ca = select(cas.length ? cas : [g && g.ca ? g.ca : ""], { "data-test": prefix + "-perm-ca",
			"aria-label": "CA" }, g && g.ca);
		const rights = (g && g.rights) || ["sign", "read"];
		const sign = checkbox("sign", { "data-test": prefix + "-perm-sign" }, rights.includes("sign"));
		// read comes with every grant (the server always adds it)
		const read = checkbox("read", { "data-test": prefix + "-perm-read", disabled: true }, true);
		const profiles = input({ "data-test": prefix + "-perm-profiles", "aria-label": "profiles",
			placeholder: "profiles (empty = all)", value: g && g.profiles ? g.profiles.join(", ") : "" });
		const row = el("div", { class: "adm-perm" }, ca, sign.row, read.row, profiles);
		row.appendChild(button("Remove", prefix + "-perm-remove", async () => row.remove()));
		row._read = () => {
			const o = { ca: ca.value, rights: sign.box.checked ? ["sign", "read"] : ["read"] };
			const p = profiles.value.split(/[\s,]+/).filter(Boolean);
			if (p.length)
				o.profiles = p;
			return o;
		};
		rows.appendChild(row);
	};
	for (const g of initial || [])
		add(g);
	const node = el("fieldset", { class: "adm-perms-box" }, el("legend", { text: "CA permissions (user clearance)" }),
		rows, buttonBar(button("Add CA permission", prefix + "-perm-add", async () => add(null))));
	return { node, read: () => Array.from(rows.children).map((r) => r._read()) };
}

// the clearance select shows the permissions editor only for "user"
function clearanceAndPerms(cas, prefix, clearance, perms) {
	const cl = select(CLEARANCES, { "data-test": prefix + "-clearance" }, clearance || "user");
	const pe = permissionsEditor(cas, perms, prefix);
	const sync = () => { pe.node.hidden = cl.value !== "user"; };
	cl.addEventListener("change", sync);
	sync();
	return { cl, pe };
}

function p12Result(name, p12b64, totp) {
	const bytes = b64ToBytes(p12b64);
	const file = name + ".p12";
	download(file, bytes, "application/x-pkcs12");
	const parts = [el("p", { text: "The PKCS#12 of " + name + " was downloaded as " + file +
		". It is not kept by the server: keep it and its passphrase safe." }),
	buttonBar(button("Download " + file + " again", "client-p12-download", async () =>
		download(file, bytes, "application/x-pkcs12")))];
	if (totp)
		parts.push(totpPanel(totp, name));
	return section("Generated " + name, ...parts);
}

function generateSection(cas, again) {
	const name = input({ "data-test": "gen-name", required: "", pattern: "[A-Za-z0-9._-]{1,64}" });
	const ca = select(cas, { "data-test": "gen-ca" });
	const { cl, pe } = clearanceAndPerms(cas, "gen", "user", []);
	const subject = input({ "data-test": "gen-subject", placeholder: "default: CN=<name>" });
	const pass = input({ type: "password", "data-test": "gen-passphrase", autocomplete: "new-password", minlength: "8" });
	const pass2 = input({ type: "password", "data-test": "gen-passphrase2", autocomplete: "new-password" });
	const days = input({ type: "number", "data-test": "gen-days", min: "1", value: String(DEFAULT_DAYS) });
	const tfa = checkbox("Require 2FA (TOTP)", { "data-test": "gen-2fa" });
	const go = button("Generate", "gen-submit", async () => {
		if (pass.value !== pass2.value)
			throw new Error("the passphrases differ");
		const req = { name: name.value.trim(), ca: ca.value, clearance: cl.value, passphrase: pass.value,
			require_2fa: tfa.box.checked };
		const d = parseInt(days.value, 10);
		if (d && d !== DEFAULT_DAYS)
			req.days = d;
		if (subject.value.trim())
			req.subject = subject.value.trim();
		if (cl.value === "user")
			req.permissions = pe.read();
		const r = await api("POST", "/v1/clients/generate", req);
		pass.value = pass2.value = "";
		const reg = r.registration || { name: req.name };
		await again(p12Result(reg.name, r.p12_base64 || r.pkcs12, r.totp));
	}, "primary");
	return section("Generate a client certificate",
		el("form", { class: "adm-form", on: { submit: (e) => { e.preventDefault(); go.click(); } } },
			field("Name", name, "1 to 64 of A-Z a-z 0-9 . _ -"),
			field("Issuing CA", ca),
			field("Clearance", cl),
			pe.node,
			field("Subject", subject),
			field("Passphrase", pass, "protects the PKCS#12, at least 8 characters; never stored"),
			field("Passphrase again", pass2),
			field("Lifetime (days)", days, "5 years by default, never past the CA"),
			tfa.row),
		buttonBar(go));
}

function uploadSection(cas, again) {
	const name = input({ "data-test": "up-name", required: "" });
	const file = input({ type: "file", "data-test": "up-file", accept: ".pem,.crt,.cer,.der,.p7b,.p7c,.pfx,.p12" });
	const pass = input({ type: "password", "data-test": "up-password", autocomplete: "off" });
	const { cl, pe } = clearanceAndPerms(cas, "up", "user", []);
	const tfa = checkbox("Require 2FA (TOTP)", { "data-test": "up-2fa" });
	const go = button("Upload", "up-submit", async () => {
		if (!file.files || !file.files[0])
			throw new Error("choose the certificate or PKCS#12 file");
		const req = { name: name.value.trim(), clearance: cl.value, certificate: await readUpload(file.files[0]),
			require_2fa: tfa.box.checked };
		if (pass.value)
			req.password = pass.value;
		if (cl.value === "user")
			req.permissions = pe.read();
		const r = await api("POST", "/v1/clients", req);
		pass.value = "";
		const reg = r.registration || r;
		const parts = [el("p", { text: "Registered " + reg.name + " (" + (reg.thumbprints || []).length +
			" certificate(s)) with clearance " + reg.clearance + "." })];
		if (r.totp)
			parts.push(totpPanel(r.totp, reg.name));
		await again(section("Uploaded " + reg.name, ...parts));
	}, "primary");
	return section("Upload an existing certificate",
		el("form", { class: "adm-form", on: { submit: (e) => { e.preventDefault(); go.click(); } } },
			field("Name", name),
			field("Certificate or collection", file, "PEM, DER, PKCS#7 or PKCS#12 (.pfx): every client certificate in it"),
			field("PKCS#12 password", pass, "never stored"),
			field("Clearance", cl),
			pe.node,
			tfa.row),
		buttonBar(go));
}

// ---- one client ----

async function renderClient(root, ctx, name, flash) {
	const [r, cas] = await Promise.all([api("GET", "/v1/clients/" + enc(name)), loadCas()]);
	const again = (f) => renderClient(root, ctx, name, f || null);
	root.replaceChildren(
		el("p", {}, el("a", { href: "#/clients", "data-test": "client-back", text: "← Clients" })),
		el("h1", { text: "Client " + name }));
	const slot = el("div", { class: "adm-flash", "data-test": "client-result" });
	if (flash)
		slot.appendChild(flash);
	const certs = r.certificates || [];
	root.append(slot, section("Registration", kv([
		["Name", r.name, "client-name"],
		["Clearance", r.clearance, "client-detail-clearance"],
		["Permissions", permSummary(r), "client-detail-permissions"],
		["2FA", tfaBadge(r)],
		["Valid from", fmtDate(validFrom(r))],
		["Expires", expiry(r)],
		["Created", fmtDate(r.created)],
	])), section("Certificates", certs.length ? table([
		{ key: "subject", label: "Subject" },
		{ key: "issuer", label: "Issuer" },
		{ key: "serial", label: "Serial" },
		{ key: "not_after", label: "Expires", render: (c) => fmtDate(c.not_after) },
	], certs, { pageSize: 10, rowTest: "client-cert-row" }) : el("div"),
	el("div", { class: "adm-thumbs" }, ...(r.thumbprints || []).map((t) => el("code", { text: t })))));

	const { cl, pe } = clearanceAndPerms(cas.length ? cas : (r.permissions || []).map((g) => g.ca),
		"edit", r.clearance, r.permissions);
	const tfa = checkbox("Require 2FA (TOTP)", { "data-test": "edit-2fa" }, r.require_2fa);
	const save = button("Save", "client-save", async () => {
		const req = { clearance: cl.value, require_2fa: tfa.box.checked };
		if (cl.value === "user")
			req.permissions = pe.read();
		const a = await api("PATCH", "/v1/clients/" + enc(name), req);
		showInfo("Saved client " + name + ".");
		await again(a && a.totp ? section("2FA enrolled", totpPanel(a.totp, name)) : null);
	}, "primary");
	const buttons = [save];
	if (r.require_2fa)
		buttons.push(button("Re-enrol 2FA", "client-totp", async () => {
			if (!await confirmDialog("Issue a new TOTP secret for " + name + "? The old one stops working.", { danger: true }))
				return;
			const a = await api("POST", "/v1/clients/" + enc(name) + "/totp", {});
			await again(section("New TOTP secret", totpPanel(a.totp, name)));
		}));
	if (!ctx.session || name !== ctx.session.client)
		buttons.push(deleteButton(name, () => ctx.navigate("#/clients")));
	root.append(section("Edit", el("form", { class: "adm-form", on: { submit: (e) => { e.preventDefault(); save.click(); } } },
		field("Clearance", cl), pe.node, tfa.row), buttonBar(...buttons)));
	if (flash)
		slot.scrollIntoView({ block: "nearest" });
}
