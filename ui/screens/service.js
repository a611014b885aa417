// Service certificate screen (the appliance agent's Certificate tab): the
// status of the certificate the server presents, "trust this certificate",
// and the manage wizard (CSR, upload + verify + apply, self-signed, rekey).
import { api } from "../api.js";
import { el, showInfo, confirmDialog, download, fmtDate, daysLeft, table } from "../lib.js";
import { readUpload, apiChecked, errorFrom, field, input, kv, badge,
	section, buttonBar, button, pre } from "../admin-common.js";

export const title = "Service certificate";
export const least = "admin";

const BASE = "/v1/service/certificate";

export async function render(root, ctx) {
	root.replaceChildren(el("h1", { text: title }));
	const [status, cert] = await Promise.all([
		api("GET", BASE + "/status"),
		api("GET", BASE),
	]);
	const again = () => render(root, ctx);
	const wizardSlot = el("div", { class: "adm-wizard-slot" });
	root.append(statusSection(status, cert, again, wizardSlot), wizardSlot, historySection(cert));
	if (ctx && ctx.params && ctx.params[0] === "manage")
		openWizard(wizardSlot, again);
}

function validity(s) {
	const left = daysLeft(s.not_after);
	const txt = fmtDate(s.not_after) + (s.expired ? " (expired)" :
		" (" + left + " days left)");
	return txt;
}

function trustBadge(s) {
	if (s.trust === "trusted")
		return badge("trusted", "ok", "svc-trust");
	const why = { not_pinned: "not pinned", changed: "changed since it was trusted", expired: "expired" };
	return badge("untrusted: " + (why[s.trust_reason] || s.trust_reason || "unknown"), "warn", "svc-trust");
}

function statusSection(s, cert, again, wizardSlot) {
	const pairs = [
		["Subject", s.subject, "svc-subject"],
		["Issuer", s.issuer, "svc-issuer"],
		["Serial", s.serial, "svc-serial"],
		["Thumbprint", el("code", { text: s.thumbprint || "" }), "svc-thumbprint"],
		["Valid from", fmtDate(s.not_before) + (s.not_yet_valid ? " (not yet valid)" : ""), "svc-not-before"],
		["Valid to", validity(s), "svc-not-after"],
		["Self-signed", s.self_signed ? "yes" : "no", "svc-self-signed"],
		["Key", s.key, "svc-key"],
		["Trust", trustBadge(s), null],
	];
	if (s.pinned)
		pairs.push(["Trusted certificate", s.pinned.subject + ", " + s.pinned.thumbprint +
			" (trusted " + fmtDate(s.pinned.pinned_at) + ")", "svc-pinned"]);
	const buttons = [];
	if (s.trust !== "trusted")
		buttons.push(button("Trust this certificate", "svc-trust-btn", async () => {
			const r = await api("POST", BASE + "/trust", {});
			showInfo("The service certificate " + r.thumbprint + " is trusted.");
			await again();
		}));
	buttons.push(button("Download certificate", "svc-download", async () => {
		download("hkms-service.pem", cert.pem, "application/x-pem-file");
	}));
	buttons.push(button("Manage certificate…", "svc-manage", async () => {
		openWizard(wizardSlot, again);
	}, "primary"));
	return section("Certificate", kv(pairs, { "data-test": "svc-status" }), buttonBar(...buttons));
}

function historySection(cert) {
	const rows = (cert.history || []).slice().reverse();
	if (!rows.length)
		return section("History", el("p", { text: "No earlier certificates." }));
	return section("History", table([
		{ key: "version", label: "Version" },
		{ key: "archived", label: "Replaced", render: (r) => fmtDate(r.archived) },
		{ key: "reason", label: "Reason" },
		{ key: "serial", label: "Serial" },
		{ key: "self_signed", label: "Self-signed", render: (r) => (r.self_signed ? "yes" : "no") },
		{ key: "key", label: "Key" },
	], rows, { pageSize: 10, rowTest: "svc-history-row", test: "svc-history" }));
}

// ---- the manage wizard ----

const CHOICES = [
	["csr", "Create a certificate signing request (CSR)",
		"A CSR for the service key, to have it signed by your CA; download it and come back with the certificate."],
	["upload", "Upload a CA-issued certificate",
		"Upload the certificate and its CA, verify the files, then apply."],
	["selfsigned", "Use a self-signed certificate",
		"The newest valid self-signed certificate of the history, or a new one for the current key."],
	["rekey", "Generate a new key",
		"A new key in the token and a new self-signed certificate for it."],
];

function openWizard(slot, again) {
	const body = el("div", { class: "adm-wizard-body" });
	const steps = el("ol", { class: "stepper", "aria-label": "steps" });
	const panel = el("section", { class: "card adm-section adm-wizard", "data-test": "svc-wizard",
		"aria-label": "Manage the service certificate" },
		el("h2", { text: "Manage the service certificate" }), steps, body);
	slot.replaceChildren(panel);
	let choice = "csr";
	const close = () => slot.replaceChildren();
	const setSteps = (labels, at) => {
		steps.replaceChildren(...labels.map((l, i) => el("li",
			{ text: l, class: i === at ? "current" : i < at ? "done" : "",
				"aria-current": i === at ? "step" : undefined, "data-test": "wizard-step" })));
	};

	const chooseStep = () => {
		setSteps(["Choose", "Details"], 0);
		const group = el("fieldset", { class: "adm-choices" }, el("legend", { text: "What do you want to do?" }));
		for (const [v, label, hint] of CHOICES) {
			const r = el("input", { type: "radio", name: "svc-choice", value: v, id: "svc-choice-" + v,
				"data-test": "wiz-choice-" + v });
			r.checked = v === choice;
			r.addEventListener("change", () => { choice = v; });
			group.appendChild(el("div", { class: "adm-choice" }, r,
				el("label", { for: r.id }, el("strong", { text: label }), el("br"), el("small", { text: hint }))));
		}
		body.replaceChildren(group, buttonBar(
			button("Cancel", "wizard-cancel", async () => close()),
			button("Next", "wizard-next", async () => detailStep(), "primary")));
		const first = group.querySelector("input:checked");
		if (first)
			first.focus();
	};

	const backBar = (...more) => buttonBar(
		button("Back", "wizard-back", async () => chooseStep()),
		button("Cancel", "wizard-cancel", async () => close()), ...more);

	const detailStep = () => {
		const label = CHOICES.find((c) => c[0] === choice)[1];
		setSteps(["Choose", label], 1);
		if (choice === "csr")
			csrStep(body, backBar);
		else if (choice === "upload")
			uploadStep(body, backBar, again);
		else
			selfSignedStep(body, backBar, again, choice === "rekey");
	};
	chooseStep();
	panel.scrollIntoView({ block: "nearest" });
}

function csrStep(body, backBar) {
	const f = {
		common_name: input({ name: "common_name", "data-test": "csr-cn", placeholder: "default: the host's FQDN" }),
		organization: input({ name: "organization", "data-test": "csr-o" }),
		organization_unit: input({ name: "organization_unit", "data-test": "csr-ou" }),
		country: input({ name: "country", "data-test": "csr-c", maxlength: "2", placeholder: "two letters" }),
		state: input({ name: "state", "data-test": "csr-st" }),
		locality: input({ name: "locality", "data-test": "csr-l" }),
		alternative_names: input({ name: "alternative_names", "data-test": "csr-san",
			placeholder: "default: host name, FQDN, the host's addresses" }),
	};
	const out = el("div", { class: "adm-result", "data-test": "csr-result" });
	const create = button("Create CSR", "csr-create", async () => {
		const req = {};
		for (const [k, i] of Object.entries(f)) {
			const v = i.value.trim();
			if (!v)
				continue;
			req[k] = k === "alternative_names" ? v.split(/[\s,]+/).filter(Boolean) : v;
		}
		const r = await api("POST", BASE + "/csr", req);
		download("hkms-service.csr", r.pem, "application/pkcs10");
		out.replaceChildren(
			el("p", { text: "The CSR was downloaded as hkms-service.csr. Have your CA sign it, then come back and choose \"Upload a CA-issued certificate\"." }),
			kv([["Subject", r.subject, "csr-subject"], ["SANs", (r.san || []).join(", ")], ["Key", r.key]]),
			pre(r.pem, "csr-pem"),
			buttonBar(button("Download again", "csr-download", async () =>
				download("hkms-service.csr", r.pem, "application/pkcs10"))));
		out.scrollIntoView({ block: "nearest" });
	}, "primary");
	body.replaceChildren(
		el("form", { class: "adm-form", on: { submit: (e) => { e.preventDefault(); create.click(); } } },
			field("Common name", f.common_name),
			field("Organization", f.organization),
			field("Organizational unit", f.organization_unit),
			field("Country", f.country),
			field("State", f.state),
			field("Locality", f.locality),
			field("Alternative names", f.alternative_names, "comma separated; an IP address is an IP SAN")),
		backBar(create), out);
}

function uploadStep(body, backBar, again) {
	const caFile = input({ type: "file", "data-test": "upload-ca", accept: ".pem,.crt,.cer,.der" });
	const certFile = input({ type: "file", "data-test": "upload-cert", accept: ".pem,.crt,.cer,.der" });
	const caText = el("textarea", { rows: "2", "data-test": "upload-ca-text", placeholder: "or paste the PEM" });
	const certText = el("textarea", { rows: "2", "data-test": "upload-cert-text", placeholder: "or paste the PEM" });
	const out = el("div", { class: "adm-result", "data-test": "verify-result" });
	let verified = null;	// the request that passed the checks
	const apply = button("Apply", "apply", async () => {
		if (!verified)
			return;
		const r = await apiChecked("POST", BASE + "/apply", Object.assign({}, verified, { what_if: false }));
		if (!r.ok) {
			out.replaceChildren(checksView(r.body && r.body.error && r.body.error.checks, false));
			throw errorFrom(r);
		}
		showInfo("Applied: the server presents " + r.body.certificate.subject + " (serial " +
			r.body.certificate.serial + ") to new connections.");
		await again();
	}, "primary");
	apply.disabled = true;
	const invalidate = () => { verified = null; apply.disabled = true; out.replaceChildren(); };
	for (const i of [caFile, certFile, caText, certText])
		i.addEventListener("input", invalidate);
	const read = async (file, text, what) => {
		if (file.files && file.files[0])
			return await readUpload(file.files[0]);
		if (text.value.trim())
			return text.value;
		throw new Error(what + " is required");
	};
	const verify = button("Verify files", "verify", async () => {
		invalidate();
		const req = { ca: await read(caFile, caText, "the CA certificate"),
			certificate: await read(certFile, certText, "the certificate"), what_if: true };
		const r = await apiChecked("POST", BASE + "/apply", req);
		const checks = r.ok ? r.body.checks : r.body && r.body.error && r.body.error.checks;
		out.replaceChildren(checksView(checks, r.ok));
		out.scrollIntoView({ block: "nearest" });
		if (!r.ok) {
			out.appendChild(el("p", { class: "adm-error", "data-test": "verify-error",
				text: (r.body && r.body.error && r.body.error.message) || ("HTTP " + r.status) }));
			throw errorFrom(r);
		}
		delete req.what_if;
		verified = req;
		apply.disabled = false;
		apply.focus();
	});
	body.replaceChildren(
		el("div", { class: "adm-form" },
			field("CA certificate(s)", caFile, "PEM or DER, the CA that issued the certificate"),
			field("CA certificate (PEM text)", caText),
			field("Certificate", certFile, "PEM (optionally followed by its chain) or DER"),
			field("Certificate (PEM text)", certText)),
		backBar(verify, apply), out);
}

function checksView(checks, ok) {
	const list = el("ul", { class: "adm-checks" });
	for (const c of checks || [])
		list.appendChild(el("li", { class: c.pass ? "adm-pass" : "adm-fail", "data-test": "check",
			"data-check": c.name, "data-pass": c.pass ? "true" : "false" },
		el("strong", { text: (c.pass ? "✓ " : "✗ ") + c.name }), " ", el("span", { text: c.reason || "" })));
	return el("div", {},
		el("p", { "data-test": "verify-verdict", "data-ok": ok ? "true" : "false",
			text: ok ? "All checks passed: the certificate can be applied." :
				"A check failed: nothing was changed." }), list);
}

function selfSignedStep(body, backBar, again, rekey) {
	const text = rekey ?
		"A new key of the same type is generated in the token with a new self-signed certificate; the server presents it to new connections. Clients that pinned the old certificate must trust the new one." :
		"The server presents a self-signed certificate to new connections: the newest valid one of the history whose key is in the token, or a new one for the current key.";
	const go = button(rekey ? "Generate new key" : "Use self-signed", rekey ? "rekey-apply" : "selfsigned-apply",
		async () => {
			if (!await confirmDialog(rekey ? "Generate a new service key and certificate?" :
				"Serve a self-signed certificate?", { danger: rekey }))
				return;
			const r = await api("POST", BASE + "/self-signed", rekey ? { rekey: true } : {});
			const what = { unchanged: "The certificate was already self-signed; nothing changed.",
				restored: "The earlier self-signed certificate was restored.",
				created: "A new self-signed certificate was created.",
				rekeyed: "A new key and self-signed certificate were created." };
			showInfo((what[r.action] || r.action) + " Serial " + r.certificate.serial + ".");
			await again();
		}, "primary");
	body.replaceChildren(el("p", { text }), backBar(go));
}

