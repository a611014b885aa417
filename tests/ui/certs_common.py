"""Selenium helpers of the certificates and CAs console tests (issue 16c):
find by data-test, fill, choose, upload, wait for a download, run openssl.
Independent of the harness: UI(driver, base_url, download_dir)."""
import os
import subprocess

from selenium.common.exceptions import (StaleElementReferenceException,
                                        ElementClickInterceptedException)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def css(test):
    return '[data-test="%s"]' % test


class UI:
    def __init__(self, driver, base, download_dir, timeout=30):
        self.d = driver
        self.base = base.rstrip("/")
        self.dl = download_dir
        self.timeout = timeout

    def wait(self, cond, what, timeout=None):
        def f(_):
            try:
                return cond()
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.d, timeout or self.timeout, 0.1).until(f)
        except Exception:
            raise AssertionError("timed out waiting for %s; banner: %r" %
                                 (what, self.banner()))

    def banner(self):
        try:
            return self.d.find_element(By.ID, "banner").text
        except Exception:
            return ""

    def all(self, test, root=None):
        return (root or self.d).find_elements(By.CSS_SELECTOR, css(test))

    def one(self, test, root=None):
        def f():
            for e in self.all(test, root):
                if e.is_displayed():
                    return e
            return None
        return self.wait(f, "[data-test=%s]" % test)

    def act(self, test, fn, root=None):
        """fn(element) on the visible [data-test=test], found again when
        a re-render replaced it (a stale element) until the timeout"""
        def go():
            e = self.one(test, root)
            fn(e)
            return True
        return self.wait(go, "[data-test=%s] to act on" % test)

    def click(self, test, root=None):
        def f(e):
            if not e.is_enabled():
                return False
            self.d.execute_script("arguments[0].scrollIntoView({block:'center'})", e)
            try:
                e.click()
            except ElementClickInterceptedException:
                self.d.execute_script("arguments[0].click()", e)
            return True
        self.wait(lambda: f(self.one(test, root)), "[data-test=%s] clicked" % test)

    def fill(self, test, value, root=None):
        def f(e):
            e.clear()
            e.send_keys(value)
        self.act(test, f, root)

    def choose(self, test, value, root=None):
        def f():
            e = self.one(test, root)
            if not any(o.get_attribute("value") == value
                       for o in e.find_elements(By.TAG_NAME, "option")):
                return False
            Select(e).select_by_value(value)
            return True
        self.wait(f, "option %s in %s" % (value, test))

    def check(self, test, on=True, root=None):
        def f():
            e = self.one(test, root)
            if e.is_selected() != on:
                self.d.execute_script("arguments[0].scrollIntoView({block:'center'})", e)
                e.click()
            return e.is_selected() == on
        self.wait(f, "%s %s" % (test, "checked" if on else "unchecked"))

    def upload(self, test, path, root=None):
        def f():
            e = (self.all(test, root) or [None])[0]
            if e is None:
                return False
            e.send_keys(os.path.abspath(path))
            return True
        self.wait(f, "file input %s" % test)

    def go(self, hash_):
        """open a screen afresh (a reload when the hash is the same) and
        wait until the shell rendered it (#main[data-ready])"""
        url = self.base + "/ui/" + hash_
        cur = self.d.current_url
        if cur == url:
            self.d.refresh()
        elif cur.startswith(self.base + "/ui/"):
            self.d.execute_script(
                "delete document.getElementById('main').dataset.ready;"
                "location.hash = arguments[0];", hash_)
        else:
            self.d.get(url)
        self.wait(lambda: self.d.execute_script(
            "const m = document.getElementById('main');"
            "return m && m.dataset.ready;"), "the screen " + hash_)

    def top(self):
        self.d.execute_script("window.scrollTo(0, 0)")

    def show(self, e):
        self.d.execute_script("arguments[0].scrollIntoView({block:'center'})", e)

    def info(self, contains):
        """wait for the banner to say contains (an info message)"""
        return self.wait(lambda: contains in self.banner(), "banner %r" % contains)

    def rows(self, test):
        return self.all(test)

    def row(self, test, name):
        return self.wait(lambda: next((r for r in self.all(test)
                                       if r.get_attribute("data-name") == name), None),
                         "%s row %s" % (test, name))

    def cell(self, row, col):
        return row.find_element(By.CSS_SELECTOR, 'td[data-col="%s"]' % col).text

    def confirm(self, ok=True):
        self.click("confirm-ok" if ok else "confirm-cancel")

    def download(self, name, before=None, timeout=None):
        """wait for file name in the download dir (complete, non-empty)"""
        p = os.path.join(self.dl, name)

        def done():
            if not os.path.exists(p) or os.path.getsize(p) == 0:
                return False
            if any(f.endswith(".crdownload") for f in os.listdir(self.dl)):
                return False
            if before is not None and os.path.getmtime(p) < before:
                return False
            return p
        return self.wait(done, "download %s" % name, timeout)

    def fresh(self, name):
        p = os.path.join(self.dl, name)
        if os.path.exists(p):
            os.unlink(p)
        return name


def run(*args, input=None):
    r = subprocess.run(list(args), input=input, capture_output=True)
    if r.returncode != 0:
        raise AssertionError("%s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout.decode(errors="replace")


def openssl_text(path, kind="x509", form="PEM"):
    return run("openssl", kind, "-in", path, "-inform", form, "-noout", "-text")


def openssl_field(path, opt, form="PEM"):
    return run("openssl", "x509", "-in", path, "-inform", form, "-noout", opt).strip()
