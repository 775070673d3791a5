#!/usr/bin/env python3
"""DOMContentLoaded of a page in headless Chromium on a phone with a slow CPU.

    python3 ops/page_load.py http://127.0.0.1:8080/ [--runs 5] [--width 390] [--cpu 4]

Drives Chromium over its DevTools pipe (--remote-debugging-pipe: commands on
fd 3, answers on fd 4, each a JSON message ended by a NUL byte), as
tests/tests/browser.rs does, with the standard library only. Each run opens a
fresh tab with the cache off, emulates a phone `--width` CSS pixels wide and
slows the CPU `--cpu` times (Emulation.setCPUThrottlingRate), loads the page,
and reads the navigation timing entry: DOMContentLoaded is
`domContentLoadedEventEnd` from the start of the navigation, in ms. Prints
every run and the median. A measurement, not a test: run it once or twice,
on a machine as quiet as you can get, and say how loaded it was.

Serve something first, e.g. the Kaixuan demo:

    mingzhang --data-dir /tmp/demo init && mingzhang --data-dir /tmp/demo demo
    mingzhang --data-dir /tmp/demo serve --http 127.0.0.1:8080 --grpc 127.0.0.1:8081
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# A page that has not loaded in this long is reported as a failure, not waited on.
LOAD_SECONDS_MAX = 60


class Chromium:
    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="page-load-")
        browser_reads, self.to_browser = os.pipe()
        self.from_browser, browser_writes = os.pipe()

        def wire_pipes():
            # Copies above 4 first: the pipes may themselves be fds 3 and 4.
            reads, writes = os.dup(browser_reads), os.dup(browser_writes)
            os.dup2(reads, 3, inheritable=True)
            os.dup2(writes, 4, inheritable=True)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes, close_fds=False)
        os.close(browser_reads)
        os.close(browser_writes)
        self.pending = b""
        self.next_id = 1
        self.events = []

    def _message(self, deadline):
        while b"\0" not in self.pending:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium exited")
            self.pending += chunk
        message, self.pending = self.pending.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None):
        call_id = self.next_id
        self.next_id += 1
        request = {"id": call_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self.to_browser, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + LOAD_SECONDS_MAX
        while True:
            message = self._message(deadline)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method, session):
        deadline = time.monotonic() + LOAD_SECONDS_MAX
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self.events[: index + 1]
                    return event
            self.events.append(self._message(deadline))

    def close(self):
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def one_run(chromium, url, width, cpu):
    target = chromium.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = chromium.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
    chromium.call("Page.enable", session=session)
    chromium.call("Network.enable", session=session)
    chromium.call("Network.setCacheDisabled", {"cacheDisabled": True}, session=session)
    chromium.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": 844, "deviceScaleFactor": 3, "mobile": True},
                  session=session)
    chromium.call("Emulation.setCPUThrottlingRate", {"rate": cpu}, session=session)
    chromium.call("Page.navigate", {"url": url}, session=session)
    chromium.wait_for_event("Page.loadEventFired", session)
    timing = chromium.call("Runtime.evaluate", {
        "expression": "JSON.stringify(performance.getEntriesByType('navigation')[0])",
        "returnByValue": True}, session=session)
    entry = json.loads(timing["result"]["value"])
    chromium.call("Target.closeTarget", {"targetId": target})
    return entry["domContentLoadedEventEnd"], entry["loadEventEnd"], entry["transferSize"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--width", type=int, default=390)
    parser.add_argument("--cpu", type=float, default=4.0)
    parser.add_argument("--chromium", default=shutil.which("chromium")
                        or shutil.which("chromium-browser") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not 1 <= args.runs <= 100:
        sys.exit("--runs: from 1 to 100")
    chromium = Chromium(args.chromium)
    try:
        dom_ms = []
        for run in range(args.runs):
            dom, load, transferred = one_run(chromium, args.url, args.width, args.cpu)
            dom_ms.append(dom)
            print(f"run {run + 1}: DOMContentLoaded {dom:.0f} ms, load {load:.0f} ms, "
                  f"{transferred} bytes transferred")
        print(f"median DOMContentLoaded at {args.width} px, CPU slowed {args.cpu:g}x: "
              f"{statistics.median(dom_ms):.0f} ms over {args.runs} runs")
    finally:
        chromium.close()


if __name__ == "__main__":
    main()
