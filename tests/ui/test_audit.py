#!/usr/bin/python3
"""The audit screen in headless Chromium (issue 16b): records of actions
made through the CLI and the API appear, newest first; the operation and
client filters show only matching records (the client by its name for an
admin); long lists paginate; the chain status is shown, and shows a
broken chain after the log was tampered with."""
import json
import os

from harness import Console, fail, main, ok, wait_until

ROW = '[data-test="audit-row"]'


def rows(c):
    """[(seq, op, client, object, result)] of the rows shown."""
    out = []
    for tr in c.find_all(ROW):
        td = [x.text for x in tr.find_elements("css selector", "td")]
        if len(td) >= 6:
            out.append((int(td[0]), td[2], td[3], td[4], td[5]))
    return out


def test():
    with Console(clearance="admin") as c:
        # actions: a CA made with the CLI, refusals of a user client over
        # the API (audited with its thumbprint), then a burst for paging
        c.hkms("ca", "create", "uiroot", "--key-type", "ec:p256",
               "--subject", "/CN=UI Audit Root")
        robot = c.new_client("robot", "user")
        for _ in range(3):
            st, _b = c.api("GET", "/v1/clients", client=robot)
            if st != 403:
                fail("robot GET /v1/clients: %s" % st)
        for _ in range(30):
            c.api("DELETE", "/v1/clients/nobody", client=robot)
        st, page = c.api("GET", "/v1/audit?limit=1000")
        last = page["lines"][-1]
        total = len(page["lines"])
        robot_actor = [r["actor"] for r in page["lines"]
                       if r["op"] == "client.delete"][0]

        c.goto("#/audit")
        c.ready("audit")
        c.wait_for(ROW)
        wait_until(lambda: rows(c) and rows(c)[0][0] == last["seq"], 10,
                   "the newest record (seq %d) first" % last["seq"])
        if len(rows(c)) != 25:
            fail("the first page has %d rows, not 25" % len(rows(c)))
        info = c.wait_for('[data-test="page-info"]').text
        if "of %d" % total not in info:
            fail("the pager says %r, the log has %d records" % (info, total))
        seqs = [r[0] for r in rows(c)]
        if seqs != sorted(seqs, reverse=True):
            fail("records are not newest first: %s" % seqs)
        ok("the latest %d records, newest first (seq %d), 25 a page" %
           (total, last["seq"]))
        c.click('[data-test="page-next"]')
        wait_until(lambda: rows(c) and rows(c)[0][0] == seqs[-1] - 1, 10,
                   "page 2 to start at seq %d" % (seqs[-1] - 1))
        c.click('[data-test="page-prev"]')
        wait_until(lambda: rows(c) and rows(c)[0][0] == last["seq"], 10,
                   "page 1 again")
        ok("pagination: Next and Previous")

        # the chain status
        chain = c.wait_for('[data-test="audit-chain"]:not([data-status="pending"])')
        if chain.get_attribute("data-status") != "ok" or \
                "Chain intact" not in chain.text:
            fail("chain status: %s %r" % (chain.get_attribute("data-status"),
                                          chain.text))
        ok("chain status: %s" % chain.text)
        c.shot("audit")

        # filter by operation
        c.select('[data-test="audit-filter-op"]', value="ca.create")
        wait_until(lambda: rows(c) and all(r[1] == "ca.create"
                                           for r in rows(c)), 10,
                   "only ca.create rows")
        if not any(r[3] == "uiroot" for r in rows(c)):
            fail("the CLI's ca.create of uiroot is not listed: %s" % rows(c))
        n_ca = len([x for x in page["lines"] if x["op"] == "ca.create"])
        if len(rows(c)) != n_ca:
            fail("%d ca.create rows shown, the log has %d" %
                 (len(rows(c)), n_ca))
        ok("filter by operation: %d ca.create records, uiroot among them" %
           n_ca)

        # filter by client: the robot, shown by its name
        c.select('[data-test="audit-filter-op"]', value="")
        c.select('[data-test="audit-filter-client"]', value=robot_actor)
        want = [x for x in page["lines"] if x["actor"] == robot_actor]
        wait_until(lambda: rows(c) and all(r[2] == "robot"
                                           for r in rows(c)), 10,
                   "only the robot's rows, by name")
        info = c.wait_for('[data-test="page-info"]').text
        if "of %d" % len(want) not in info:
            fail("robot filter: pager %r, the log has %d of its records" %
                 (info, len(want)))
        if not all(r[4] == "denied" or r[4] != "ok" for r in rows(c)):
            fail("the robot's refusals show as ok: %s" % rows(c)[:3])
        c.select('[data-test="audit-filter-op"]', value="client.list")
        wait_until(lambda: len(rows(c)) == 3, 10,
                   "the robot's 3 client.list refusals")
        ok("filter by client (by name) and operation together: 3 refusals")
        c.shot("audit-filtered")

        # a record's detail
        c.find_all(ROW)[0].click()
        d = c.wait_for('[data-test="audit-detail"]')
        if json.loads(d.text)["actor"] != robot_actor:
            fail("the detail is not the clicked record")
        ok("a row opens the record's detail")

        # a tampered log: the status says broken after Reload
        log = os.path.join(c.data, "audit.log")
        with open(log) as f:
            lines = f.read().splitlines(True)
        rec = json.loads(lines[2])
        rec["object"] = "tampered"
        lines[2] = json.dumps(rec, separators=(",", ":")) + "\n"
        with open(log, "w") as f:
            f.writelines(lines)
        c.click('[data-test="audit-reload"]')
        chain = c.wait_for('[data-test="audit-chain"][data-status="broken"]',
                           timeout=20)
        if "Chain broken" not in chain.text:
            fail("broken chain text: %r" % chain.text)
        st, rep = c.api("GET", "/v1/audit/verify")
        if st != 200 or rep["ok"] is not False:
            fail("the API's verify of the tampered log: %s %s" % (st, rep))
        ok("a tampered record: %s" % chain.text)
        c.shot("audit-broken")
        c.finish()


if __name__ == "__main__":
    main(test)
