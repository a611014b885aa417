// The TOTP prompt: a client that requires 2FA opens a session (POST
// /v1/session {code}) before anything else; then back to where it was.
import { api } from "../api.js";
import { el, showError, clearBanner } from "../lib.js";

export const title = "Sign in";
export const least = "user";

function back(ctx) {
	const n = ctx.query.next;
	return n && n.startsWith("#/") && !n.startsWith("#/login") ? n : "#/";
}

export async function render(root, ctx) {
	const s = ctx.session;
	if (s.session && (!s.require_2fa || s.second_factor)) {
		root.append(el("div", { class: "card narrow", "data-test": "login-done" },
		    el("h1", { text: "Session open" }),
		    el("p", { text: "Client " + s.client + " has a session until " +
			s.session.expires + "." }),
		    el("p", {}, el("a", { href: back(ctx), "data-test": "login-continue" }, "Continue"))));
		return;
	}
	const code = el("input", { id: "totp-code", name: "code", type: "text",
	    inputmode: "numeric", pattern: "[0-9]{6}", maxlength: "6", minlength: "6",
	    autocomplete: "one-time-code", required: true, "aria-describedby": "totp-help",
	    "data-test": "totp-code", class: "code" });
	const msg = el("p", { class: "form-error", id: "login-error", "data-test": "login-error",
	    role: "status", hidden: true });
	const submit = el("button", { type: "submit", class: "primary", "data-test": "totp-submit" },
	    s.require_2fa ? "Verify" : "Open session");
	const form = el("form", { class: "card narrow login", "data-test": "login-form", novalidate: true },
	    el("h1", { text: s.require_2fa ? "Second factor" : "Open a session" }),
	    el("p", { text: "Client " + s.client + " (" + s.clearance + ") is authenticated by its certificate." +
		(s.require_2fa ? " It also requires a code from its authenticator app." : "") }),
	    s.require_2fa ? [
		el("label", { for: "totp-code", text: "6-digit code" }),
		code,
		el("small", { id: "totp-help", class: "help",
		    text: "The code of your authenticator app (TOTP, 30 s). A code works once." }),
	    ] : null,
	    msg,
	    el("div", { class: "actions" }, submit));
	form.addEventListener("submit", async (ev) => {
		ev.preventDefault();
		msg.hidden = true;
		const body = {};
		if (s.require_2fa) {
			const v = code.value.replace(/\s+/g, "");
			if (!/^[0-9]{6}$/.test(v)) {
				msg.textContent = "Enter the 6 digits of the code.";
				msg.hidden = false;
				code.focus();
				return;
			}
			body.code = v;
		}
		submit.disabled = true;
		try {
			const ns = await api("POST", "/v1/session", body, { noLogin: true });
			clearBanner();
			ctx.setSession(ns);
			ctx.navigate(back(ctx));
		} catch (e) {
			msg.textContent = e.message;
			msg.dataset.code = e.code || "";
			msg.hidden = false;
			showError(e);
			code.value = "";
			code.focus();
		} finally {
			submit.disabled = false;
		}
	});
	root.append(form);
	if (s.require_2fa)
		code.focus();
}
