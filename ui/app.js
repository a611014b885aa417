// The console's shell: the hash router, the nav by clearance (from GET
// /v1/session) and the TOTP prompt when the client requires 2FA.
//
// #/<screen>/<param>...[?k=v]: ui/screens/<screen>.js, which exports
// title, least ("user" | "operator" | "admin") and render(root, ctx) with
// ctx = {session, params, query, navigate(hash)}.
import { api, session, setSession, atLeast } from "./api.js";
import { el, showError, clearBanner } from "./lib.js";

// the nav, in this order; a screen whose module is not there (yet) is
// left out
const SCREENS = ["certificates", "cas", "service", "truststore", "clients", "audit"];

const modules = {};	// name → the loaded module
let sess = null;

function parseHash() {
	let h = location.hash.replace(/^#\/?/, "");
	let q = "";
	const k = h.indexOf("?");
	if (k >= 0) {
		q = h.slice(k + 1);
		h = h.slice(0, k);
	}
	const parts = h.split("/").filter((s) => s !== "").map(decodeURIComponent);
	return { screen: parts[0] || "", params: parts.slice(1),
	    query: Object.fromEntries(new URLSearchParams(q)) };
}

export function navigate(hash) {
	if (location.hash === hash)
		route();
	else
		location.hash = hash;
}

async function load(name) {
	if (!modules[name])
		modules[name] = await import("./screens/" + name + ".js");
	return modules[name];
}

function allowed() {
	return SCREENS.filter((n) => modules[n] && sess && atLeast(sess, modules[n].least));
}

function needsCode(s) {
	return s && s.require_2fa && !s.session;
}

function drawNav() {
	const nav = document.getElementById("nav");
	const who = document.getElementById("who");
	const cur = parseHash().screen;
	const items = needsCode(sess) ? [] : allowed();
	nav.replaceChildren(el("ul", {}, items.map((n) => el("li", {},
	    el("a", { href: "#/" + n, "data-test": "nav-" + n,
		"aria-current": n === cur ? "page" : undefined,
		on: { click: () => toggleNav(false) } }, modules[n].title)))));
	who.replaceChildren();
	if (sess) {
		who.append(el("span", { class: "who-name", "data-test": "who-name", text: sess.client }),
		    el("span", { class: "badge", "data-test": "who-clearance", text: sess.clearance }));
		if (sess.session)
			who.append(el("button", { type: "button", class: "link", "data-test": "logout",
			    on: { click: logout } }, "End session"));
	}
}

function toggleNav(open) {
	const nav = document.getElementById("nav");
	const btn = document.getElementById("nav-toggle");
	const o = open === undefined ? !nav.classList.contains("open") : open;
	nav.classList.toggle("open", o);
	btn.setAttribute("aria-expanded", o ? "true" : "false");
}

async function logout() {
	try {
		await api("DELETE", "/v1/session");
		setSession(null);
		sess = await session(true);
		drawNav();
		navigate("#/login");
	} catch (e) {
		showError(e);
	}
}

let seq = 0;	// a newer route() supersedes a slower older one

async function route() {
	const my = ++seq;
	const main = document.getElementById("main");
	const { screen, params, query } = parseHash();
	clearBanner();
	// the prompt decides from a fresh session object (the cached one may
	// be of a session that expired meanwhile)
	if (screen === "login" && sess)
		sess = null;
	if (!sess) {
		try {
			sess = await session(screen === "login");
		} catch (e) {
			if (my !== seq)
				return;
			drawNav();
			main.replaceChildren(el("section", { class: "card", "data-test": "no-session" },
			    el("h1", { text: "The console cannot read your session" }),
			    el("p", { text: "GET /v1/session failed; the console shows nothing it cannot check." })));
			showError(e);
			main.dataset.ready = "no-session";
			return;
		}
	}
	if (my !== seq)
		return;
	let name = screen;
	if (name !== "login" && needsCode(sess)) {
		location.replace("#/login?next=" + encodeURIComponent(location.hash || "#/"));
		return;
	}
	if (name === "") {
		const a = allowed();
		if (a.length) {
			location.replace("#/" + a[0]);
			return;
		}
	}
	drawNav();
	let mod;
	try {
		if (name !== "login" && !SCREENS.includes(name))
			throw new Error("no screen '" + name + "'");
		mod = await load(name);
	} catch (e) {
		if (my !== seq)
			return;
		main.replaceChildren(el("section", { class: "card", "data-test": "not-found" },
		    el("h1", { text: "No such screen" }),
		    el("p", { text: "There is no screen at " + location.hash + "." })));
		main.dataset.ready = "not-found";
		return;
	}
	if (my !== seq)
		return;
	if (name !== "login" && !atLeast(sess, mod.least)) {
		main.replaceChildren(el("section", { class: "card", "data-test": "forbidden" },
		    el("h1", { text: mod.title }),
		    el("p", { text: "This screen needs clearance " + mod.least +
			"; client " + sess.client + " has " + sess.clearance + "." })));
		main.dataset.ready = "forbidden";
		return;
	}
	document.title = mod.title + " · hkms";
	const root = el("section", { class: "screen", "data-screen": name, "data-test": "screen-" + name });
	main.replaceChildren(root);
	const ctx = {
		session: sess, params, query, navigate,
		// the login screen tells the shell about the new session
		setSession: (s) => { setSession(s); sess = s; drawNav(); },
	};
	try {
		await mod.render(root, ctx);
	} catch (e) {
		if (my === seq)
			showError(e);
	}
	if (my === seq)
		main.dataset.ready = name;	// tests wait on #main[data-ready]
}

async function boot() {
	document.getElementById("nav-toggle").addEventListener("click", () => toggleNav());
	document.addEventListener("keydown", (ev) => {
		if (ev.key === "Escape")
			toggleNav(false);
	});
	// every screen's module, for its title and clearance; a missing one
	// is no nav entry
	await Promise.all(SCREENS.map((n) => load(n).catch(() => null)));
	window.addEventListener("hashchange", () => {
		delete document.getElementById("main").dataset.ready;
		route();
	});
	await route();
}

boot();
