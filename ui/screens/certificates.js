// Certificates screen (issue 16c): list, detail with key custody, the add
// wizard, import, download in every export format, rename, delete with
// force. Every action is a call of the JSON API (docs/api.md).
import { api, atLeast } from "../api.js";
import { el, showError, showInfo, confirmDialog, download, fmtDate } from "../lib.js";
import {
	field, val, button, pagedTable, stepper, fileValue, fetchDownload, enc,
	statusOf, badge, dl, yesno, flash, showFlash, extensionsOf, heading, sec,
} from "../certs-lib.js";

export const title = "Certificates";
export const least = "operator";

const KEY_TYPES = ["ec:p256", "ec:p384", "ec:p521", "rsa:2048", "rsa:3072", "rsa:4096"];
const DIGESTS = ["sha256", "sha384", "sha512"];
export const FORMATS = [
	{ value: "pem", label: "PEM (certificate and chain)" },
	{ value: "der", label: "DER (certificate)" },
	{ value: "p7b", label: "PKCS#7, PEM" },
	{ value: "p7b-der", label: "PKCS#7, DER" },
	{ value: "p12", label: "PKCS#12 (certificates, no password)" },
	{ value: "p12-pass", label: "PKCS#12 with a password" },
];
const EXT = { pem: ".pem", der: ".cer", p7b: ".p7b.pem", "p7b-der": ".p7b", p12: ".p12", "p12-pass": ".p12" };

export async function render(root, ctx) {
	await screen(root, ctx);
	showFlash();
}

async function screen(root, ctx) {
	const p = ctx.params || [];
	root.replaceChildren();
	if (p[0] === "new")
		return renderWizard(root, ctx);
	if (p[0] === "import")
		return renderImport(root, ctx);
	if (p[0])
		return renderDetail(root, { ...ctx, reload: () => render(root, ctx) }, p[0]);
	return renderList(root, ctx);
}


/* ---- list ---- */

async function renderList(root, ctx) {
	const op = atLeast(ctx.session, "operator");
	const actions = [];
	if (op) {
		actions.push(button("Add", "cert-add", () => ctx.navigate("#/certificates/new"), "primary"));
		actions.push(button("Import", "cert-import", () => ctx.navigate("#/certificates/import")));
	}
	root.append(heading("Certificates", ...actions));
	let rows;
	try {
		rows = await api("GET", "/v1/certificates");
	} catch (e) {
		showError(e);
		return;
	}
	const open = (r) => ctx.navigate(`#/certificates/${enc(r.name)}`);
	const cols = [
		{ key: "name", label: "Name", render: (r) => button(r.name, "cert-link", () => open(r), "link") },
		{ key: "type", label: "Type" },
		{ key: "cn", label: "Common name", render: (r) => r.common_name ?? r.cn ?? "" },
		{ key: "issuer", label: "Issuer", render: (r) => r.issuer ?? (r.self_signed ? "self-signed" : "") },
		{ key: "status", label: "Status", render: (r) => badge(statusOf(r)) },
		{ key: "days_left", label: "Days left", render: (r) => r.days_left ?? "" },
		{ key: "in_use", label: "In use", render: (r) => inUse(r) },
	];
	root.append(pagedTable(cols, rows, { pageSize: 25, rowTest: "cert-row", rowKey: (r) => r.name, test: "cert-list", empty: "No certificates yet." }));
}

function inUse(r) {
	const u = Array.isArray(r.used_by) ? r.used_by : [];
	if (u.length)
		return `yes (${u.join(", ")})`;
	return r.in_use ? "yes" : "no";
}

/* ---- detail ---- */

async function renderDetail(root, ctx, name) {
	let c, key = null;
	try {
		c = await api("GET", `/v1/certificates/${enc(name)}`);
	} catch (e) {
		root.append(heading(name, button("Back to list", "cert-back", () => ctx.navigate("#/certificates"))));
		showError(e);
		return;
	}
	if (c.key) {
		try {
			key = await api("GET", `/v1/keys/${enc(c.key)}`);
		} catch (e) {
			key = { error: e.message };
		}
	}
	const op = atLeast(ctx.session, "operator");
	root.append(heading(`${c.type === "csr" ? "CSR" : "Certificate"} ${c.name}`,
	    button("Back to list", "cert-back", () => ctx.navigate("#/certificates"))));
	const x = extensionsOf(c.pem);
	const box = el("div", { class: "cx-detail", "data-test": "cert-detail" });
	box.append(sec("General", dl([
		["Name", c.name, "cert-name"], ["Type", c.type, "cert-type"],
		["Status", badge(statusOf(c))], ["Profile", c.profile], ["Source", c.source],
		["Created", fmtDate(c.created)], ["In use", inUse(c), "cert-in-use"],
		["Revoked", c.revoked_at ? `${c.revoked_at} (${c.reason || "unspecified"})` : undefined],
	])));
	box.append(sec("Subject", dl([
		["Common name", c.common_name, "cert-cn"], ["Country", c.country], ["State", c.state],
		["Locality", c.city], ["Organization", c.organization],
		["Organizational unit", c.organizational_unit], ["Email", c.email],
		["Subject", c.subject, "cert-subject"], ["Subject alternative names", c.san || [], "cert-san"],
	])));
	if (c.type !== "csr") {
		box.append(sec("Issuer and validity", dl([
			["Issuer", c.issuer, "cert-issuer"], ["Self-signed", yesno(c.self_signed)],
			["Serial", c.serial, "cert-serial"], ["Version", c.version],
			["Valid from", fmtDate(c.not_before), "cert-not-before"], ["Valid until", fmtDate(c.not_after), "cert-not-after"],
			["Lifetime (days)", c.lifetime_days], ["Days left", c.days_left, "cert-days-left"],
			["Chain length", c.chain_length],
		])));
	}
	box.append(sec("Key and signature", dl([
		["Key type", c.key_type, "cert-key-type"], ["Key size", c.key_bits, "cert-key-bits"], ["Curve", c.curve],
		["Signature algorithm", c.signature_algorithm], ["Digest", c.digest_algorithm, "cert-digest"],
		["SHA-1 fingerprint", c.fingerprint_sha1], ["SHA-256 fingerprint", c.fingerprint_sha256, "cert-fp256"],
		["Thumbprint", c.thumbprint],
	])));
	if (c.type !== "csr") {
		const crit = (n) => x && x.extensions.some((e) => e.name === n && e.critical) ? " (critical)" : "";
		const has = (n) => x ? x.extensions.some((e) => e.name === n) : undefined;
		box.append(sec("Extensions", dl([
			["Basic constraints", has("basicConstraints") === false ? "absent" :
			    `CA: ${yesno(c.is_ca)}${c.path_len !== null && c.path_len !== undefined ? `, path length ${c.path_len}` : ""}${crit("basicConstraints")}`, "cert-bc"],
			["Key usage", (c.key_usage && c.key_usage.length ? c.key_usage.join(", ") : "absent") + crit("keyUsage"), "cert-ku"],
			["Extended key usage", (c.extended_key_usage && c.extended_key_usage.length ? c.extended_key_usage.join(", ") : "absent") + crit("extendedKeyUsage"), "cert-eku"],
			["Authority key identifier", c.authority_key_id || "absent", "cert-aki"],
			["Subject key identifier", c.subject_key_id || "absent", "cert-ski"],
			["CRL distribution points", x ? x.crl_dp : undefined, "cert-crldp"],
			["AIA: OCSP", x ? x.ocsp : undefined, "cert-aia-ocsp"],
			["AIA: CA issuers", x ? x.ca_issuers : undefined, "cert-aia-issuers"],
			["All extensions", x ? x.extensions.map((e) => e.name + (e.critical ? " (critical)" : "")) : undefined],
		])));
	}
	if (c.key || c.key_uri) {
		const k = key || {};
		box.append(sec("Key custody", dl([
			["Token key", c.key, "key-name"],
			["PKCS#11 URI", k.uri || c.key_uri, "key-uri"],
			["Token key type", k.type],
			["Sensitive", yesno(k.sensitive), "key-sensitive"],
			["Extractable", yesno(k.extractable), "key-extractable"],
			["Always sensitive", yesno(k.always_sensitive)],
			["Never extractable", yesno(k.never_extractable), "key-never-extractable"],
			["Key used by", k.used_by],
			["", k.error ? `key details unavailable: ${k.error}` : undefined],
		])));
	}
	const pem = el("pre", { class: "cx-pem", "data-test": "cert-pem", text: c.pem || "" });
	box.append(sec(c.type === "csr" ? "CSR (PEM)" : "PEM", pem));
	root.append(box);
	let profiles = [];
	if (op && c.type === "csr") {
		try {
			profiles = (await api("GET", "/v1/profiles")).filter((x) => !x.ca).map((x) => x.name);
		} catch (e) {
			showError(e);
		}
	}
	if (op)
		root.append(actionsOf(ctx, c, profiles));
}

function actionsOf(ctx, c, profiles) {
	const wrap = el("div", { class: "cx-panel" });
	if (c.type === "csr") {
		wrap.append(sec("CSR", el("div", { class: "cx-actions" },
		    button("Download CSR", "csr-download", () => download(`${c.name}.csr`, c.pem, "application/pkcs10")))));
		const file = field({ label: "Signed certificate (PEM or DER)", name: "certificate", type: "file", test: "csr-apply-file" });
		const prof = field({ label: "Profile whose extended key usages it must have", name: "profile", type: "select", test: "csr-apply-profile",
		    value: "tls-server", options: [...profiles.map((x) => ({ value: x, label: x })), { value: "any", label: "any (no extended key usage check)" }] });
		wrap.append(sec("Apply the signed certificate", file, prof, el("div", { class: "cx-actions" },
		    button("Apply", "csr-apply", async () => {
			try {
				const certificate = await fileValue(file.input);
				if (!certificate)
					throw new Error("choose the signed certificate file");
				await api("POST", "/v1/certificates/import", { name: c.name, certificate, profile: prof.input.value || undefined });
				flash(`certificate ${c.name} applied`);
				await ctx.reload();
			} catch (e) {
				showError(e);
			}
		    }, "primary"))));
	} else {
		const fmt = field({ label: "Format", name: "format", type: "select", options: FORMATS, value: "pem", test: "download-format" });
		const pw = field({ label: "PKCS#12 password", name: "password", type: "password", test: "download-password", autocomplete: "new-password" });
		pw.hidden = true;
		fmt.input.addEventListener("change", () => { pw.hidden = fmt.input.value !== "p12-pass"; });
		wrap.append(sec("Download", fmt, pw, el("div", { class: "cx-actions" },
		    button("Download", "cert-download", async () => {
			const f = fmt.input.value;
			try {
				if (f === "p12-pass") {
					if (!pw.input.value)
						throw new Error("a password is required for an encrypted PKCS#12");
					await fetchDownload("POST", `/v1/certificates/${enc(c.name)}/export`,
					    { format: "p12", password: pw.input.value }, c.name + EXT[f]);
					pw.input.value = "";
				} else {
					await fetchDownload("GET", `/v1/certificates/${enc(c.name)}?format=${f}`, undefined, c.name + EXT[f]);
				}
			} catch (e) {
				showError(e);
			}
		    }, "primary"))));
	}
	const nn = field({ label: "New name", name: "name", value: c.name, test: "rename-input" });
	wrap.append(sec("Rename", nn, el("div", { class: "cx-actions" }, button("Rename", "cert-rename", async () => {
		const to = val(nn);
		if (!to || to === c.name)
			return showError(new Error("enter a new name"));
		try {
			await api("PATCH", `/v1/certificates/${enc(c.name)}`, { name: to });
			flash(`renamed ${c.name} to ${to}`);
			ctx.navigate(`#/certificates/${enc(to)}`);
		} catch (e) {
			showError(e);
		}
	}))));
	wrap.append(sec("Delete", el("div", { class: "cx-actions" }, button("Delete", "cert-delete", () => deleteCert(ctx, c), "danger"))));
	return wrap;
}

async function deleteCert(ctx, c) {
	const users = Array.isArray(c.used_by) ? c.used_by : [];
	let force = users.length > 0;
	const text = force ?
	    `${c.name} is in use (${users.join(", ")}). Delete it anyway (force)?` :
	    `Delete ${c.name}? The record goes; its token key stays.`;
	if (!await confirmDialog(text, { danger: true }))
		return;
	for (;;) {
		try {
			await api("DELETE", `/v1/certificates/${enc(c.name)}${force ? "?force=true" : ""}`);
			flash(`deleted ${c.name}`);
			ctx.navigate("#/certificates");
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
}

/* ---- the add wizard ---- */

function subjectOf(s) {
	const esc = (v) => v.replace(/\\/g, "\\\\").replace(/\//g, "\\/");
	const parts = [["C", s.c], ["ST", s.st], ["L", s.l], ["O", s.o], ["OU", s.ou], ["CN", s.cn], ["emailAddress", s.email]];
	return parts.filter(([, v]) => v).map(([k, v]) => `/${k}=${esc(v)}`).join("");
}

export function sanList(text) {
	return (text || "").split(/[\n,]+/).map((v) => v.trim()).filter(Boolean).map((v) => {
		if (/^(DNS|IP|email|URI):/i.test(v))
			return v;
		if (/^[0-9.]+$/.test(v) || v.includes(":"))
			return `IP:${v}`;
		if (v.includes("@"))
			return `email:${v}`;
		return `DNS:${v}`;
	});
}

async function renderWizard(root, ctx) {
	root.append(heading("Add a certificate", button("Cancel", "wizard-cancel", () => ctx.navigate("#/certificates"))));
	let profiles = [], cas = [], keys = [];
	try {
		[profiles, cas, keys] = await Promise.all([
			api("GET", "/v1/profiles"), api("GET", "/v1/cas"), api("GET", "/v1/keys")]);
	} catch (e) {
		showError(e);
	}
	const leaf = profiles.filter((p) => !p.ca).map((p) => p.name);
	const st = {
		name: "", type: "self-signed", ca: cas.length ? cas[0].name : "", keySource: "new",
		keyType: "ec:p256", key: "", digest: "sha256", days: 0, profile: leaf.includes("tls-server") ? "tls-server" : leaf[0] || "",
		subj: { cn: "", o: "", ou: "", l: "", st: "", c: "", email: "" }, san: "",
		bc: true, aki: true, ku: null, eku: null, profDef: null,
	};
	const bind = (w, set) => { w.input.addEventListener(w.input.type === "checkbox" || w.input.tagName === "SELECT" ? "change" : "input", () => set(val(w))); return w; };
	const steps = [
		{
			title: "Identifier and type",
			render: (s) => {
				const ca = bind(field({ label: "Signing CA", name: "ca", type: "select", options: cas.map((c) => c.name), value: s.ca, test: "wiz-ca" }), (v) => { s.ca = v; });
				ca.hidden = s.type !== "ca-signed";
				const t = bind(field({ label: "Type", name: "type", type: "select", value: s.type, test: "wiz-type", options: [
					{ value: "self-signed", label: "Self-signed certificate" },
					{ value: "csr", label: "Certificate signing request (CSR)" },
					{ value: "ca-signed", label: "Signed by an hkms CA" }] }), (v) => { s.type = v; ca.hidden = v !== "ca-signed"; });
				return el("div", {}, bind(field({ label: "Name", name: "name", value: s.name, test: "wiz-name", required: true,
				    help: "letters, digits, . _ -" }), (v) => { s.name = v; }), t, ca);
			},
			check: (s) => !s.name ? "a name is required" : s.type === "ca-signed" && !s.ca ? "no CA to sign with: create one first" : undefined,
		},
		{
			title: "Key, digest, lifetime, profile",
			render: (s) => {
				const kt = bind(field({ label: "Key type and size", name: "key_type", type: "select", options: KEY_TYPES, value: s.keyType, test: "wiz-key-type" }), (v) => { s.keyType = v; });
				const kx = bind(field({ label: "Existing token key", name: "key", type: "select", options: keys.map((k) => k.name), value: s.key, test: "wiz-key" }), (v) => { s.key = v; });
				const sync = () => { kt.hidden = s.keySource !== "new"; kx.hidden = s.keySource !== "existing"; };
				const src = bind(field({ label: "Key", name: "key_source", type: "select", value: s.keySource, test: "wiz-key-source", options: [
					{ value: "new", label: "Generate a new key in the token" },
					{ value: "existing", label: "Use an existing token key" }] }), (v) => { s.keySource = v; if (v === "existing" && !s.key && keys.length) s.key = keys[0].name; sync(); });
				sync();
				const box = el("div", {}, src, kt, kx,
				    bind(field({ label: "Digest", name: "digest", type: "select", options: DIGESTS, value: s.digest, test: "wiz-digest" }), (v) => { s.digest = v; }));
				if (s.type !== "csr") {
					box.append(bind(field({ label: "Lifetime (days, 0 = the profile's default)", name: "days", type: "number", value: s.days, test: "wiz-days" }), (v) => { s.days = Number(v) || 0; }),
					    bind(field({ label: "Profile", name: "profile", type: "select", options: leaf, value: s.profile, test: "wiz-profile" }), (v) => { s.profile = v; s.ku = s.eku = null; s.profDef = null; }));
				}
				return box;
			},
			check: (s) => s.keySource === "existing" && !s.key ? "choose a token key" : !Number.isInteger(s.days) || s.days < 0 ? "days must be 0 or more" : undefined,
		},
		{
			title: "Subject and SANs",
			render: (s) => {
				const f = (label, k, test) => bind(field({ label, name: k, value: s.subj[k], test }), (v) => { s.subj[k] = v; });
				return el("div", {}, f("Common name", "cn", "wiz-cn"), f("Organization", "o", "wiz-o"), f("Organizational unit", "ou", "wiz-ou"),
				    f("Locality", "l", "wiz-l"), f("State", "st", "wiz-st"), f("Country (2 letters)", "c", "wiz-c"), f("Email", "email", "wiz-email"),
				    bind(field({ label: "Subject alternative names (one a line or comma-separated; DNS:, IP:, email:, URI:)", name: "san", type: "textarea", value: s.san, test: "wiz-san" }), (v) => { s.san = v; }));
			},
			check: (s) => !subjectOf(s.subj) ? "give at least a common name" : undefined,
		},
	];
	if (true) {
		steps.push({
			title: "Extensions",
			render: (s) => {
				const box = el("div", {});
				if (s.type === "csr") {
					box.append(el("p", { text: "A CSR carries no extensions of its own here: the CA that signs it applies its profile." }));
					return box;
				}
				box.append(bind(field({ label: "Basic constraints (CA: false)", name: "bc", type: "checkbox", checked: s.bc, test: "wiz-bc" }), (v) => { s.bc = v; }),
				    bind(field({ label: "Authority key identifier", name: "aki", type: "checkbox", checked: s.aki, test: "wiz-aki" }), (v) => { s.aki = v; }));
				const kuBox = el("fieldset", { class: "cx-set" }, el("legend", { text: "Key usage" }));
				const ekuBox = el("fieldset", { class: "cx-set" }, el("legend", { text: "Extended key usage" }));
				box.append(kuBox, ekuBox);
				const fill = (set, list, chosen, test, assign) => {
					if (!list.length)
						set.append(el("p", { text: "none in this profile" }));
					for (const u of list) {
						const w = field({ label: u, name: `${test}-${u}`, type: "checkbox", checked: chosen.includes(u), test: `${test}-${u}` });
						w.input.addEventListener("change", () => {
							const cur = new Set(chosen);
							if (w.input.checked) cur.add(u); else cur.delete(u);
							chosen = list.filter((x) => cur.has(x));
							assign(chosen);
						});
						set.append(w);
					}
				};
				const go = (def) => {
					if (s.ku === null) s.ku = [...(def.key_usage || [])];
					if (s.eku === null) s.eku = [...(def.extended_key_usage || [])];
					fill(kuBox, def.key_usage || [], s.ku, "wiz-ku", (v) => { s.ku = v; });
					fill(ekuBox, def.extended_key_usage || [], s.eku, "wiz-eku", (v) => { s.eku = v; });
				};
				if (s.profDef)
					go(s.profDef);
				else
					api("GET", `/v1/profiles/${enc(s.profile)}`).then((d) => { s.profDef = profileDef(d); go(s.profDef); }).catch(showError);
				box.append(el("small", { class: "cx-help", text: "The choices are the profile's; unchecking drops a usage or the extension." }));
				return box;
			},
		});
	}
	steps.push({
		title: "Review",
		render: (s) => dl([
			["Name", s.name, "review-name"], ["Type", s.type, "review-type"], ["CA", s.type === "ca-signed" ? s.ca : undefined],
			["Key", s.keySource === "new" ? `new ${s.keyType}` : s.key, "review-key"], ["Digest", s.digest],
			["Lifetime", s.type === "csr" ? undefined : s.days ? `${s.days} days` : "the profile's default"],
			["Profile", s.type === "csr" ? undefined : s.profile], ["Subject", subjectOf(s.subj), "review-subject"],
			["SANs", sanList(s.san), "review-san"],
			["Basic constraints", s.type === "csr" ? undefined : s.bc ? "the profile's" : "omitted"],
			["Authority key identifier", s.type === "csr" ? undefined : s.aki ? "the profile's" : "omitted"],
			["Key usage", s.type === "csr" || s.ku === null ? undefined : s.ku, "review-ku"],
			["Extended key usage", s.type === "csr" || s.eku === null ? undefined : s.eku, "review-eku"],
		]),
	});
	root.append(stepper(steps, st, async (s) => {
		try {
			await create(s);
			flash(`${s.type === "csr" ? "CSR" : "certificate"} ${s.name} created`);
			ctx.navigate(`#/certificates/${enc(s.name)}`);
		} catch (e) {
			showError(e);
		}
	}, { test: "cert-wizard" }));
}

// the key usages of a profile (GET /v1/profiles/{name}) as lists
function profileDef(d) {
	const list = (v) => Array.isArray(v) ? v : v && Array.isArray(v.usages) ? v.usages : v && Array.isArray(v.values) ? v.values : [];
	return { key_usage: list(d.key_usage), extended_key_usage: list(d.extended_key_usage) };
}

function extBody(s) {
	const b = {};
	if (!s.bc)
		b.basic_constraints = false;
	if (!s.aki)
		b.aki = false;
	if (s.profDef && s.ku !== null && s.ku.length !== s.profDef.key_usage.length)
		b.key_usage = s.ku;
	if (s.profDef && s.eku !== null && s.eku.length !== s.profDef.extended_key_usage.length)
		b.extended_key_usage = s.eku;
	return b;
}

async function create(s) {
	const base = { name: s.name, subject: subjectOf(s.subj), san: sanList(s.san), digest: s.digest };
	if (s.keySource === "new")
		base.new_key = s.keyType;
	else
		base.key = s.key;
	if (s.type === "self-signed")
		return api("POST", "/v1/certificates", { ...base, profile: s.profile, days: s.days, ...extBody(s) });
	const csr = await api("POST", "/v1/csrs", base);
	if (s.type === "csr")
		return csr;
	const signed = await api("POST", `/v1/cas/${enc(s.ca)}/sign`, { csr: csr.pem, profile: s.profile, days: s.days, ...extBody(s) });
	// the CSR record of the same name holds the key: the import completes
	// it. The import checks the profile's EKUs; with fewer chosen, "any"
	const b = extBody(s);
	return api("POST", "/v1/certificates/import", { name: s.name, certificate: signed.pem,
	    profile: b.extended_key_usage ? "any" : s.profile });
}

/* ---- import ---- */

async function renderImport(root, ctx) {
	root.append(heading("Import a certificate", button("Cancel", "import-cancel", () => ctx.navigate("#/certificates"))));
	const name = field({ label: "Name", name: "name", test: "import-name", required: true });
	const cert = field({ label: "Certificate (PEM, DER, PKCS#7 or PKCS#12)", name: "certificate", type: "file", test: "import-cert" });
	const key = field({ label: "Private key file (PEM or DER; optional: it goes into the token, not extractable)", name: "private_key", type: "file", test: "import-key" });
	const pass = field({ label: "Passphrase (of the PKCS#12 or the encrypted key)", name: "passphrase", type: "password", test: "import-pass", autocomplete: "off" });
	const chain = field({ label: "CA chain (optional)", name: "ca", type: "file", test: "import-chain" });
	const tkey = field({ label: "Or an existing token key name (optional)", name: "key", test: "import-token-key" });
	let profiles = [];
	try {
		profiles = (await api("GET", "/v1/profiles")).filter((p) => !p.ca).map((p) => p.name);
	} catch (e) {
		showError(e);
	}
	const prof = field({ label: "Profile whose extended key usages the certificate must have", name: "profile", type: "select", test: "import-profile",
	    value: "tls-server", options: [...profiles.map((p) => ({ value: p, label: p })), { value: "any", label: "any (no extended key usage check)" }] });
	const trust = field({ label: "Add to the truststore", name: "trust", type: "checkbox", test: "import-trust" });
	const out = el("div", { "data-test": "import-checks" });
	const form = el("form", { class: "cx-form" }, name, cert, key, pass, chain, tkey, prof, trust);
	form.addEventListener("submit", (e) => e.preventDefault());
	async function body(whatIf) {
		const b = { name: val(name), certificate: await fileValue(cert.input) };
		if (!b.name)
			throw new Error("a name is required");
		if (!b.certificate)
			throw new Error("choose the certificate file");
		const k = await fileValue(key.input), ch = await fileValue(chain.input);
		if (k) b.private_key = k;
		if (ch) b.ca = ch;
		if (pass.input.value) b.passphrase = pass.input.value;
		if (val(tkey)) b.key = val(tkey);
		if (val(trust)) b.trust = true;
		if (prof.input.value) b.profile = prof.input.value;
		if (whatIf) b.what_if = true;
		return b;
	}
	const check = button("Check only", "import-check", async () => {
		try {
			const r = await api("POST", "/v1/certificates/import", await body(true));
			out.replaceChildren(r.checks ? checksTable(r.checks) : el("pre", { class: "cx-pem", text: JSON.stringify(r, null, 2) }));
		} catch (e) {
			showError(e);
			const checks = e.body && e.body.error && e.body.error.checks;
			if (checks)
				out.replaceChildren(checksTable(checks));
		}
	});
	const go = button("Import", "import-submit", async () => {
		try {
			const r = await api("POST", "/v1/certificates/import", await body(false));
			pass.input.value = "";
			flash(`imported ${r.name || val(name)}`);
			ctx.navigate(`#/certificates/${enc(r.name || val(name))}`);
		} catch (e) {
			showError(e);
			const checks = e.body && e.body.error && e.body.error.checks;
			if (checks)
				out.replaceChildren(checksTable(checks));
		}
	}, "primary");
	form.append(el("div", { class: "cx-actions" }, check, go));
	root.append(form, out);
}

// the import's checks (what_if, or a failed import): name, result, reason
function checksTable(checks) {
	return el("section", { class: "cx-section" }, el("h3", { text: "Checks" }),
	    pagedTable([
		{ key: "name", label: "Check" },
		{ key: "pass", label: "Result", render: (c) => badge(c.pass === true ? "passed" : c.pass === false ? "failed" : "skipped") },
		{ key: "reason", label: "Reason" },
	    ], checks, { rowTest: "import-check-row", rowKey: (c) => c.name }));
}
