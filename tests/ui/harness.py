"""The web console's test harness (issue 16b): a real hkms server on a
SoftHSM2 token and a headless Chromium that presents a client certificate.

    from harness import Console, skip, fail

    with Console(clearance="admin", require_2fa=False) as c:
        c.goto("#/audit")            # opens https://127.0.0.1:<port>/ui/#/audit
        c.wait_for('[data-test="audit-row"]')
        status, body = c.api("GET", "/v1/audit")
        c.shot("audit")

What Console does, in order (all undone in close(), also on SIGTERM/INT/
HUP and on any exception):

- a private dir T (/tmp/hkms-ui.XXXXXX): `hkms init` (with the bootstrap
  admin client) into T/data on its own SoftHSM2 token, `hkms serve` on a
  free 127.0.0.1 port (log in T/serve.log);
- the browser's client: clearance "admin" without 2FA is init's admin
  client; any other (or require_2fa) is made with `hkms client generate`
  (name `ui-<clearance>`, CA hkms-clients) into T/<name>.p12 with a
  passphrase file; its TOTP secret (2FA) is c.totp_secret;
- a fresh NSS db in T/home/.pki/nssdb (HOME of the browser): the PFX
  imported with pk12util (-w: the passphrase from a file, never argv) and
  the served certificate trusted as a peer (certutil -t P,,: Chromium
  honours NSS trust of a leaf that way, not as a CA "C,,");
- the managed policy /etc/chromium/policies/managed/hkms-ui-test.json,
  AutoSelectCertificateForUrls for https://127.0.0.1:<port> (an exclusive
  flock on /run/lock/hkms-ui-chromium.lock is held meanwhile, so tests of
  other worktrees never share the file);
- headless Chromium (chromedriver, selenium 4.8) at 1280x800 with a
  download dir (T/downloads, c.downloads), the performance log (every
  Network.requestWillBeSent URL is collected in c.requests) and the console
  log (c.console_log()); CSP violations are recorded by a listener the
  DevTools protocol installs in every document (c.csp_violations()).

close() checks nothing by itself: tests call c.check_origin() (or use
c.finish(), which runs the checks every test should make: no request off
the origin, no CSP violation).

Screenshots: c.shot(name) saves <dir>/<name>.png, dir =
$HKMS_UI_SCREENSHOTS (relative: to the source dir) or T/shots.

Exit codes: skip() exits 77 (ctest SKIP_RETURN_CODE) when chromium,
chromedriver, selenium, oathtool or root for the policy dir is missing.
"""
import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

HKMS_BIN = os.environ.get("HKMS_BIN", "")
HKMS_SRC = os.environ.get("HKMS_SRC", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
POLICY_DIR = "/etc/chromium/policies/managed"
POLICY_FILE = os.path.join(POLICY_DIR, "hkms-ui-test.json")
LOCK_FILE = "/run/lock/hkms-ui-chromium.lock"
SOFTHSM_MODULE = os.environ.get("HKMS_SOFTHSM2_MODULE",
                                "/usr/lib/softhsm/libsofthsm2.so")
WIDE = (1280, 800)
NARROW = (420, 800)


def skip(why):
    print("SKIP: %s" % why)
    sys.exit(77)


def fail(why):
    raise AssertionError(why)


def ok(what):
    print("ok - %s" % what, flush=True)


def _need():
    if not HKMS_BIN or not os.access(HKMS_BIN, os.X_OK):
        skip("HKMS_BIN is not set (run through ctest)")
    for p in (CHROMIUM, CHROMEDRIVER):
        if not os.access(p, os.X_OK):
            skip("%s is not installed (apt-get install chromium "
                 "chromium-driver)" % p)
    for t in ("pk12util", "certutil", "openssl", "softhsm2-util"):
        if shutil.which(t) is None:
            skip("%s is not installed" % t)
    if not os.path.exists(SOFTHSM_MODULE):
        skip("no SoftHSM2 module")
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip("python3-selenium is missing (run with /usr/bin/python3)")
    try:
        os.makedirs(POLICY_DIR, exist_ok=True)
        if not os.access(POLICY_DIR, os.W_OK):
            raise PermissionError(POLICY_DIR)
    except OSError as e:
        skip("cannot write the Chromium policy dir (%s): root is needed" % e)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_until(fn, timeout=15.0, what="a condition", interval=0.1):
    """fn() until it returns a true value (returned); AssertionError naming
    what after timeout seconds. Exceptions of fn count as false."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the bound
            last = e
        if time.monotonic() > end:
            fail("timed out after %.0fs waiting for %s%s" % (
                timeout, what, " (last error: %s)" % last if last else ""))
        time.sleep(interval)


class Console:
    """See the module doc. Parameters:

    clearance     "admin" | "operator" | "user": the browser's client
    require_2fa   the browser's client requires a TOTP code (made with
                  `hkms client generate --require-2fa`)
    name          its registration name (default ui-<clearance>, or
                  init's "admin" for a plain admin)
    allow_ca      list of "CA[:PROFILE,...]" grants for a user client
    setup         callable(c) run after the server started, before the
                  client and the browser (make CAs etc. with c.hkms)
    ignore_cert_errors  start Chromium with --ignore-certificate-errors
                  (for tests that replace the served certificate)
    size          window size, default 1280x800
    """

    def __init__(self, clearance="admin", require_2fa=False, name=None,
                 allow_ca=(), setup=None, ignore_cert_errors=False,
                 size=WIDE):
        self.clearance = clearance
        self.require_2fa = require_2fa
        self.name = name
        self.allow_ca = list(allow_ca)
        self.setup_fn = setup
        self.ignore_cert_errors = ignore_cert_errors
        self.size = size
        self.T = None
        self.server = None
        self.driver = None
        self.driver_proc = None
        self.chrome_proc = None
        self.chrome_log = None
        self.lock_fd = None
        self.policy_written = False
        self.policy_dir_made = False
        self.requests = []
        self.totp_secret = None
        self.client = None
        self._closed = False
        self._old_handlers = {}
        self._log_pos = 0

    # ---- setup -------------------------------------------------------

    def __enter__(self):
        _need()
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_handlers[s] = signal.signal(s, self._on_signal)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and self.driver is not None:
            try:
                self.shot("failure-%d" % os.getpid(), force_tmp=True)
                print("page at failure: %s" % self.driver.current_url,
                      file=sys.stderr)
                print(self.driver.find_element("css selector",
                                               "body").text[:2000],
                      file=sys.stderr)
            except Exception:  # noqa: BLE001 - best effort diagnostics
                pass
            self._dump_server_log()
        self.close()
        return False

    def _on_signal(self, signum, frame):
        self.close()
        sys.exit(128 + signum)

    def _start(self):
        self.T = tempfile.mkdtemp(prefix="hkms-ui.", dir="/tmp")
        self.data = os.path.join(self.T, "data")
        self.home = os.path.join(self.T, "home")
        self.downloads = os.path.join(self.T, "downloads")
        self.shots = os.environ.get("HKMS_UI_SCREENSHOTS") or \
            os.path.join(self.T, "shots")
        if not os.path.isabs(self.shots):
            self.shots = os.path.join(HKMS_SRC, self.shots)
        for d in (self.home, self.downloads, self.shots):
            os.makedirs(d, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("HKMS_PIN", "HKMS_SO_PIN", "SOFTHSM2_CONF")}
        self.env["HKMS_DATA_DIR"] = self.data
        r = self.hkms("init", "--data-dir", self.data)
        self.env["HKMS_CONFIG"] = os.path.join(self.data, "hkms.conf")
        self.env["SOFTHSM2_CONF"] = os.path.join(self.data, "token",
                                                 "softhsm2.conf")
        del r
        self.start_server()
        if self.setup_fn is not None:
            self.setup_fn(self)
        if self.clearance == "admin" and not self.require_2fa and \
                self.name in (None, "admin"):
            self.client = {"name": "admin",
                           "p12": os.path.join(self.data, "admin-client.p12"),
                           "pass": os.path.join(self.data,
                                                "admin-client.pass"),
                           "clearance": "admin", "totp_secret": None}
        else:
            self.client = self.new_client(
                self.name or "ui-%s" % self.clearance, self.clearance,
                require_2fa=self.require_2fa, allow_ca=self.allow_ca)
        self.totp_secret = self.client["totp_secret"]
        self._pem_for(self.client)
        self._nssdb()
        self._lock()
        self._policy()
        self._browser()

    def start_server(self, *args):
        """Start (or restart) hkms serve on the port (a new free one the
        first time); waits until /v1/health answers."""
        if not hasattr(self, "port"):
            self.port = _free_port()
            self.origin = "https://127.0.0.1:%d" % self.port
        log = open(os.path.join(self.T, "serve.log"), "ab")
        self.server = subprocess.Popen(
            [HKMS_BIN, "serve", "--listen", "127.0.0.1:%d" % self.port] +
            list(args), env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=self.T)
        log.close()

        def up():
            if self.server.poll() is not None:
                self._dump_server_log()
                fail("hkms serve exited (%s)" % self.server.returncode)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                               context=ctx, timeout=2)
            try:
                conn.request("GET", "/v1/health")
                return conn.getresponse().status in (200, 503)
            finally:
                conn.close()
        wait_until(up, 30, "hkms serve on %s" % self.origin)
        self._service_pem()

    def stop_server(self):
        if self.server is None:
            return
        if self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)
        self.server = None

    def _service_pem(self):
        self.service_pem = os.path.join(self.T, "service.pem")
        with open(self.service_pem, "wb") as f:
            f.write(self.hkms("cert", "export", "hkms-service").stdout)

    def new_client(self, name, clearance, require_2fa=False, allow_ca=(),
                   ca="hkms-clients", passphrase=None):
        """A new registered client made with the CLI: {name, p12, pass
        (the passphrase file), clearance, totp_secret, registration}."""
        p12 = os.path.join(self.T, name + ".p12")
        pw = os.path.join(self.T, name + ".pass")
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (passphrase or base64.b32encode(os.urandom(15))
                      .decode()).encode())
        os.close(fd)
        args = ["client", "generate", name, "--ca", ca, "--clearance",
                clearance, "--out-file", p12, "--passphrase-file", pw]
        for a in allow_ca:
            args += ["--allow-ca", a]
        if require_2fa:
            args.append("--require-2fa")
        r = self.hkms("--json", *args)
        out = {}
        try:
            out = json.loads(r.stdout or b"{}")
        except ValueError:
            pass
        totp = out.get("totp") or (out.get("registration") or {}).get("totp")
        secret = totp.get("secret") if isinstance(totp, dict) else None
        if require_2fa and not secret:
            fail("hkms client generate --require-2fa gave no TOTP secret: "
                 "%s" % (r.stdout[:300],))
        c = {"name": name, "p12": p12, "pass": pw, "clearance": clearance,
             "totp_secret": secret, "registration": out}
        return c

    def _pem_for(self, client):
        """client["pem"]: its certificate and key in one 0600 PEM (for
        c.api's TLS)."""
        pem = os.path.join(self.T, client["name"] + ".client.pem")
        fd = os.open(pem, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        subprocess.run(["openssl", "pkcs12", "-in", client["p12"], "-passin",
                        "file:" + client["pass"], "-nodes", "-out", pem],
                       check=True, capture_output=True)
        client["pem"] = pem
        return pem

    def _nssdb(self):
        db = os.path.join(self.home, ".pki", "nssdb")
        os.makedirs(db, mode=0o700, exist_ok=True)
        empty = os.path.join(self.T, "nss-empty.pass")
        with open(empty, "w") as f:
            f.write("\n")
        self._run(["certutil", "-N", "-d", "sql:" + db, "-f", empty])
        self._run(["pk12util", "-i", self.client["p12"], "-d", "sql:" + db,
                   "-k", empty, "-w", self.client["pass"]])
        self.trust_service_cert()

    def trust_service_cert(self):
        """Trust the certificate the server presents now (after a test
        replaced it: call again, and restart the browser or open a new
        connection)."""
        self._service_pem()
        db = "sql:" + os.path.join(self.home, ".pki", "nssdb")
        nick = "hkms-service-%d" % int(time.time() * 1000)
        self._run(["certutil", "-A", "-d", db, "-n", nick, "-t",
                   "P,,",
                   "-i", self.service_pem])

    def _lock(self):
        self.lock_fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        end = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > end:
                    fail("another console test holds %s for 15 min" %
                         LOCK_FILE)
                time.sleep(0.5)

    def _policy(self):
        if not os.path.isdir(POLICY_DIR):
            os.makedirs(POLICY_DIR)
            self.policy_dir_made = True
        pol = {"AutoSelectCertificateForUrls": [json.dumps(
            {"pattern": self.origin, "filter": {}})]}
        tmp = POLICY_FILE + ".tmp"
        with open(tmp, "w") as f:
            json.dump(pol, f)
        os.chmod(tmp, 0o644)
        os.rename(tmp, POLICY_FILE)
        self.policy_written = True

    def _browser(self):
        """Chromium and chromedriver, started here and joined over
        127.0.0.1 only: selenium's own Service and chromedriver's launch
        of Chrome both reach their child through the name "localhost",
        which a minimal system (a container, a chroot without /etc/hosts)
        cannot resolve. Chromium picks its DevTools port itself and
        writes it to DevToolsActivePort in the profile."""
        from selenium import webdriver
        from selenium.webdriver.chromium.remote_connection import \
            ChromiumRemoteConnection

        profile = os.path.join(self.T, "profile")
        os.makedirs(os.path.join(profile, "Default"), exist_ok=True)
        with open(os.path.join(profile, "Default", "Preferences"), "w") as f:
            json.dump({"download": {"default_directory": self.downloads,
                                    "prompt_for_download": False},
                       "safebrowsing": {"enabled": False}}, f)
        args = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps",
                "--metrics-recording-only", "--password-store=basic",
                "--disable-features=Translate,OptimizationHints,"
                "MediaRouter,AutofillServerCommunication",
                "--user-data-dir=" + profile,
                "--window-size=%d,%d" % self.size,
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0"]
        if self.ignore_cert_errors:
            args.append("--ignore-certificate-errors")
        args.append("about:blank")
        env = dict(self.env)
        env["HOME"] = self.home
        active = os.path.join(profile, "DevToolsActivePort")
        try:
            os.unlink(active)
        except OSError:
            pass
        self.chrome_log = open(os.path.join(self.T, "chromium.log"), "wb")
        self.chrome_proc = subprocess.Popen(
            args, env=env, stdin=subprocess.DEVNULL, stdout=self.chrome_log,
            stderr=subprocess.STDOUT)

        def devtools_port():
            if self.chrome_proc.poll() is not None:
                fail("chromium exited (%s): see %s" % (
                    self.chrome_proc.returncode,
                    os.path.join(self.T, "chromium.log")))
            with open(active) as f:
                line = f.readline().strip()
            return int(line) if line.isdigit() and int(line) > 0 else None
        dport = wait_until(devtools_port, 30, "chromium's DevTools port")

        # chromedriver cannot take port 0: a free port, tried again if
        # another process took it in between
        for attempt in range(5):
            cport = _free_port()
            self.driver_proc = subprocess.Popen(
                [CHROMEDRIVER, "--port=%d" % cport,
                 "--allowed-ips=127.0.0.1",
                 "--log-path=" + os.path.join(self.T, "chromedriver.log")],
                env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def listening():
                if self.driver_proc.poll() is not None:
                    return "exited"
                try:
                    socket.create_connection(("127.0.0.1", cport),
                                             0.5).close()
                    return "up"
                except OSError:
                    return None
            if wait_until(listening, 30, "chromedriver") == "up":
                break
            self.driver_proc = None
        else:
            fail("chromedriver did not start (see chromedriver.log)")

        o = webdriver.ChromeOptions()
        o.debugger_address = "127.0.0.1:%d" % dport
        o.set_capability("goog:loggingPrefs",
                         {"performance": "ALL", "browser": "ALL"})
        conn = ChromiumRemoteConnection("http://127.0.0.1:%d" % cport,
                                        vendor_prefix="goog",
                                        browser_name="chrome")
        self.driver = webdriver.Remote(command_executor=conn, options=o)
        # chromedriver runs here: a file input gets the path itself (the
        # remote default uploads through a Selenium Grid endpoint)
        from selenium.webdriver.remote.file_detector import \
            UselessFileDetector
        self.driver.file_detector = UselessFileDetector()
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        self.cdp("Browser.setDownloadBehavior", {
            "behavior": "allow", "downloadPath": self.downloads})
        # CSP violations, recorded in every document before its scripts
        # (the DevTools protocol is not bound by the page's CSP)
        self.cdp(
            "Page.addScriptToEvaluateOnNewDocument", {"source": (
                "window.__hkmsCsp = [];"
                "document.addEventListener('securitypolicyviolation',"
                " e => window.__hkmsCsp.push(e.violatedDirective + ' ' +"
                " e.blockedURI));")})
        self.set_size(*self.size)
        # the first tab's own page (chrome://new-tab-page...) is not ours:
        # the network log starts with about:blank
        self.driver.get("about:blank")
        self.driver.get_log("performance")
        self.requests = []

    def cdp(self, cmd, params):
        """A DevTools protocol command through chromedriver."""
        return self.driver.execute("executeCdpCommand",
                                   {"cmd": cmd, "params": params})["value"]

    # ---- driving the page --------------------------------------------

    @property
    def url(self):
        return self.origin + "/ui/"

    def goto(self, hash_="#/", ready=True, timeout=20):
        """Open the console at hash_ ("#/audit"); with ready, wait until
        the shell rendered a screen (#main[data-ready]); returns its
        name."""
        cur = self.driver.current_url
        if hash_ and cur == self.url + hash_:
            self.driver.refresh()	# the same hash: no hashchange
        elif cur.startswith(self.url) and hash_:
            self.driver.execute_script(
                "delete document.getElementById('main').dataset.ready;"
                "location.hash = arguments[0];", hash_)
        else:
            self.driver.get(self.url + (hash_ or ""))
        if ready:
            return self.ready(timeout=timeout)
        return None

    def ready(self, screen=None, timeout=20):
        """Wait until #main[data-ready] (= screen, when given); its value."""
        def done():
            v = self.driver.execute_script(
                "const m = document.getElementById('main');"
                "return m && m.dataset.ready;")
            return v if v and (screen is None or v == screen) else None
        return wait_until(done, timeout, "the screen %s" % (screen or ""))

    def wait_for(self, css, timeout=15, visible=True, text=None, gone=False):
        """The first element matching css (visible, containing text);
        gone: wait until none matches (returns True)."""
        from selenium.webdriver.common.by import By

        def find():
            els = self.driver.find_elements(By.CSS_SELECTOR, css)
            if gone:
                return not any(e.is_displayed() for e in els) or not els
            for e in els:
                if visible and not e.is_displayed():
                    continue
                if text is not None and text not in e.text:
                    continue
                return e
            return None
        what = "%s%s%s" % ("no " if gone else "", css,
                           " with text %r" % text if text else "")
        return wait_until(find, timeout, what)

    def find_all(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css, **kw):
        e = self.wait_for(css, **kw)
        wait_until(lambda: e.is_enabled(), 10, "%s enabled" % css)
        e.click()
        return e

    def type(self, css, text, clear=True):
        e = self.wait_for(css)
        if clear:
            e.clear()
        e.send_keys(text)
        return e

    def select(self, css, value=None, label=None):
        from selenium.webdriver.support.ui import Select
        e = self.wait_for(css)
        s = Select(e)
        if value is not None:
            wait_until(lambda: any(o.get_attribute("value") == value
                                   for o in s.options), 10,
                       "option %r in %s" % (value, css))
            s.select_by_value(value)
        else:
            s.select_by_visible_text(label)
        return e

    def banner(self):
        """The banner's text ("" when hidden)."""
        return self.driver.execute_script(
            "const b = document.getElementById('banner');"
            "return b && !b.hidden ? b.textContent : '';")

    def wait_banner(self, contains=None, kind="error", timeout=15):
        def f():
            b = self.driver.execute_script(
                "const b = document.getElementById('banner');"
                "return b && !b.hidden ? [b.dataset.kind, b.textContent] "
                ": null;")
            if b and (kind is None or b[0] == kind) and \
                    (contains is None or contains in b[1]):
                return b[1]
            return None
        text = wait_until(f, timeout, "the %s banner %r" % (kind, contains))
        # the message, its code when it has one, and the close button:
        # nothing else (an absent code once showed as the text "null")
        if text.rstrip("\u00d7").endswith("null") and \
                (contains is None or not contains.endswith("null")):
            fail("the banner shows a stray 'null': %r" % text)
        return text

    def fetch(self, method, path, body=None, headers=None):
        """A request from the page (fetch, same origin, the browser's
        certificate and cookie): {status, text, json}."""
        return self.driver.execute_async_script("""
            const [m, p, b, h, done] = arguments;
            const init = {method: m, credentials: 'same-origin',
                headers: Object.assign({'Accept': 'application/json'}, h || {})};
            if (b !== null) { init.body = JSON.stringify(b);
                init.headers['Content-Type'] = 'application/json'; }
            fetch(p, init).then(async r => {
                const t = await r.text(); let j = null;
                try { j = JSON.parse(t); } catch (e) {}
                done({status: r.status, text: t, json: j});
            }).catch(e => done({status: 0, text: String(e), json: null}));
        """, method, path, body, headers)

    def set_size(self, w, h):
        """The viewport (the screenshot's size) w x h."""
        self.cdp("Emulation.setDeviceMetricsOverride", {
            "width": w, "height": h, "deviceScaleFactor": 1,
            "mobile": False})
        self.size = (w, h)

    def shot(self, name, narrow=False, force_tmp=False, top=True):
        """Save the viewport as <shots>/<name>.png (narrow: at 420x800,
        then back; top: scrolled to the top first). Returns the path."""
        d = os.path.join(self.T, "shots") if force_tmp else self.shots
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name + ".png")
        old = self.size
        if narrow:
            self.set_size(*NARROW)
            time.sleep(0.2)	# one layout pass; nothing is awaited here
        if top:
            self.driver.execute_script("window.scrollTo(0, 0);")
        data = self.cdp("Page.captureScreenshot",
                                           {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        if narrow:
            self.set_size(*old)
        return path

    def downloaded(self, name=None, timeout=20):
        """The path of a finished download (name, or the only new file)."""
        def f():
            files = [x for x in os.listdir(self.downloads)
                     if not x.endswith(".crdownload")]
            if name is not None:
                return os.path.join(self.downloads, name) \
                    if name in files else None
            return os.path.join(self.downloads, files[0]) \
                if len(files) == 1 else None
        return wait_until(f, timeout, "the download %s" % (name or ""))

    # ---- logs and checks ---------------------------------------------

    def _drain_network(self):
        for e in self.driver.get_log("performance"):
            try:
                m = json.loads(e["message"])["message"]
            except (ValueError, KeyError):
                continue
            if m.get("method") == "Network.requestWillBeSent":
                self.requests.append(m["params"]["request"]["url"])
        return self.requests

    def check_origin(self):
        """Every request the browser sent so far went to the server's
        origin (blob: and data: URLs excepted); returns their number."""
        urls = self._drain_network()
        bad = [u for u in urls if not (u.startswith(self.origin + "/") or
                                       u == self.origin or
                                       u.startswith("blob:" + self.origin) or
                                       u.startswith("data:"))]
        if bad:
            fail("requests left the origin %s: %s" % (self.origin, bad[:10]))
        if not urls:
            fail("the network log is empty (performance log not collected?)")
        return len(urls)

    def console_log(self):
        """The browser's console messages since the last call."""
        return [e.get("message", "") for e in self.driver.get_log("browser")]

    def csp_violations(self):
        """CSP violations of the current document (the listener) and CSP
        messages in the console log."""
        v = self.driver.execute_script("return window.__hkmsCsp || [];")
        v += [m for m in self.console_log()
              if "Content Security Policy" in m or
              "Content-Security-Policy" in m]
        return v

    def finish(self):
        """The checks every console test ends with: no request off the
        origin, no CSP violation."""
        n = self.check_origin()
        v = self.csp_violations()
        if v:
            fail("CSP violations: %s" % v)
        ok("%d requests, all to %s; no CSP violation" % (n, self.origin))

    # ---- the API, the CLI, openssl, TOTP -----------------------------

    def api(self, method, path, body=None, client=None, headers=None,
            raw=False):
        """A request with the browser's client certificate (or client, a
        dict of new_client()): (status, parsed JSON | bytes when not JSON
        or raw). The served certificate is not verified (it may be
        replaced by the test)."""
        cl = client or self.client
        if "pem" not in cl:
            self._pem_for(cl)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(cl["pem"])
        conn = http.client.HTTPSConnection("127.0.0.1", self.port,
                                           context=ctx, timeout=60)
        h = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            b = r.read()
            self.last_headers = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        if raw:
            return r.status, b
        try:
            return r.status, json.loads(b) if b else None
        except ValueError:
            return r.status, b

    def _run(self, argv, input=None, check=True, env=None):
        r = subprocess.run(argv, input=input, capture_output=True,
                           env=env or self.env, cwd=self.T, timeout=300)
        if check and r.returncode != 0:
            fail("%s exited %d: %s" % (" ".join(argv[:3]), r.returncode,
                                       r.stderr.decode(errors="replace")
                                       [:1000]))
        return r

    def hkms(self, *args, input=None, check=True):
        """Run the hkms CLI against the same data dir (stdout/stderr as
        bytes in the CompletedProcess)."""
        return self._run([HKMS_BIN] + list(args), input=input, check=check)

    def openssl(self, *args, input=None, check=True):
        return self._run(["openssl"] + list(args), input=input, check=check)

    def totp(self, secret=None, at=None):
        """The TOTP code of secret (default: the browser's client) now, or
        at the unix time at, with oathtool (the secret on stdin, never
        argv)."""
        if shutil.which("oathtool") is None:
            skip("oathtool is not installed")
        s = secret or self.totp_secret
        if not s:
            fail("no TOTP secret")
        argv = ["oathtool", "--totp", "-b"]
        if at is not None:
            argv.append("--now=" + time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                 time.gmtime(at)))
        argv.append("-")
        return self._run(argv, input=(s + "\n").encode()).stdout.decode() \
            .strip()

    # ---- teardown ----------------------------------------------------

    def _dump_server_log(self):
        try:
            with open(os.path.join(self.T, "serve.log"), "rb") as f:
                tail = f.read()[-3000:]
            print("--- serve.log (tail) ---\n%s" % tail.decode(
                errors="replace"), file=sys.stderr)
        except (OSError, TypeError):
            pass

    def _browser_pids(self):
        """Processes whose command line names our profile dir (chromium
        and its helpers)."""
        pids = []
        if self.T is None:
            return pids
        mark = os.path.join(self.T, "profile").encode()
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == os.getpid():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if mark in f.read():
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception:  # noqa: BLE001 - going on with the teardown
                pass
            self.driver = None
        for attr in ("driver_proc", "chrome_proc"):
            proc = getattr(self, attr, None)
            if proc is None:
                continue
            try:
                proc.terminate()
                proc.wait(10)
            except Exception:  # noqa: BLE001 - killed below
                try:
                    proc.kill()
                    proc.wait(5)
                except Exception:  # noqa: BLE001
                    pass
            setattr(self, attr, None)
        if getattr(self, "chrome_log", None) is not None:
            self.chrome_log.close()
            self.chrome_log = None
        for p in self._browser_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self.stop_server()
        if self.policy_written:
            try:
                os.unlink(POLICY_FILE)
            except OSError:
                pass
            self.policy_written = False
        if self.policy_dir_made:
            try:
                os.rmdir(POLICY_DIR)
            except OSError:
                pass
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        if self.T and os.path.isdir(self.T):
            if os.environ.get("HKMS_KEEP"):
                print("kept %s" % self.T)
            else:
                shutil.rmtree(self.T, ignore_errors=True)


def main(fn):
    """Run a test function fn() (exit 0; AssertionError: 1 with the
    message; skip: 77)."""
    try:
        fn()
    except AssertionError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
