#!/usr/bin/env python3
"""The web page in a real headless Chromium, driven over WebDriver (chromedriver's HTTP protocol, no
Python packages beyond the standard library).

Loads the page for a user, waits for recommendations, clicks the first recommended item's action (Like
for movies, the first option's vote for polls), and checks that the list changes within the timeout (the
event went browser → gateway → Kafka → processor → Redis → API). Saves a screenshot. Exit status 0 only
if every check passed; each failure is printed.

usage: browser-test.py --url 'http://127.0.0.1:8082/?user=web-1&domain=movies' --screenshot out.png
                       [--timeout 20] [--no-click]
"""
import argparse
import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}").get("value")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None

    def start(self):
        capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,960"],
        }}}}
        self.session = self.call("POST", "/session", capabilities)["sessionId"]

    def s(self, path, method="GET", body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def script(self, source, *args):
        return self.s("/execute/sync", "POST", {"script": source, "args": list(args)})

    def find(self, css):
        found = self.s("/element", "POST", {"using": "css selector", "value": css})
        return next(iter(found.values()))


def wait_for(condition, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--screenshot", required=True)
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--no-click", action="store_true", help="only load the page and take the screenshot")
    parser.add_argument("--state-preferences", action="store_true",
                        help="a new user: tick the first group of the preferences form, save, and expect the 'preferences' strategy before clicking")
    arguments = parser.parse_args()

    failures = []
    port = free_port()
    driver_process = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = WebDriver(port)
    try:
        if not wait_for(lambda: _answers(driver), 10):
            print("chromedriver did not start", file=sys.stderr)
            return 1
        driver.start()
        driver.s("/url", "POST", {"url": arguments.url})
        ids = lambda: driver.script("return [...document.querySelectorAll('#recommendations li')].map(li => li.dataset.itemId)")
        before = wait_for(ids, arguments.timeout)
        if not before:
            failures.append(f"no recommendations on the page within {arguments.timeout} s; status: {_status(driver)!r}")
        else:
            strategy = driver.script("return document.getElementById('strategy').textContent")
            print(f"page loaded: {len(before)} recommendations, strategy {strategy}, first {before[0]}")
            titles = driver.script("return [...document.querySelectorAll('#recommendations li .title')].map(e => e.textContent)")
            if not all(titles):
                failures.append("an item without a title")
            if arguments.state_preferences:
                shown = wait_for(lambda: driver.script("return !document.getElementById('preferences-form').hidden || null"), arguments.timeout)
                if not shown:
                    failures.append(f"the preferences form was not offered to a new user (strategy {strategy})")
                else:
                    group = driver.script("const box = document.querySelector('#preference-groups input'); box.checked = true; return box.value")
                    driver.s(f"/element/{driver.find('#save-preferences')}/click", "POST", {})
                    stated = wait_for(lambda: driver.script("return document.getElementById('strategy').textContent === 'preferences' || null"), arguments.timeout)
                    if not stated:
                        failures.append(f"saving the preference {group!r} did not give the 'preferences' strategy; status: {_status(driver)!r}")
                    else:
                        before = wait_for(ids, arguments.timeout)
                        print(f"stated a preference for {group!r}: {len(before)} recommendations from it, first {before[0]}")
            if not arguments.no_click and before:
                domain = driver.script("return document.querySelector('#domains button.active').dataset.domain")
                action = "like" if domain == "movies" else "vote"
                clicked = before[0]
                started = time.monotonic()
                # The page re-renders its list every second, so an element found just before may be gone by the
                # click ("stale element reference"): find it again and retry, a few times.
                for attempt in range(5):
                    button = driver.find(f"#recommendations li:first-child [data-action={action}]")
                    clicked = driver.script("return document.querySelector('#recommendations li:first-child').dataset.itemId")
                    try:
                        driver.s(f"/element/{button}/click", "POST", {})
                        break
                    except RuntimeError as error:
                        if "stale element" not in str(error) or attempt == 4:
                            raise
                after = wait_for(lambda: (lambda now: now if now and now != before else None)(ids()), arguments.timeout)
                if not after:
                    failures.append(f"the list did not change within {arguments.timeout} s of clicking {action} on {clicked}; status: {_status(driver)!r}")
                else:
                    print(f"clicked {action} on {clicked}: the list changed after {time.monotonic() - started:.2f} s")
                    if clicked in after:
                        failures.append(f"{clicked} is still recommended after the {action} (it is seen now)")
                    status = _status(driver)
                    if "accepted" not in status:
                        failures.append(f"the page did not report the event as accepted: {status!r}")
        time.sleep(0.5)  # the fresh-item highlight settles a little for the picture
        png = base64.b64decode(driver.s("/screenshot"))
        with open(arguments.screenshot, "wb") as file:
            file.write(png)
        print(f"screenshot: {arguments.screenshot} ({len(png)} bytes)")
    except Exception as error:  # a WebDriver error is a failure of the test, reported as such
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        if driver.session:
            try:
                driver.s("", "DELETE")
            except Exception:
                pass
        driver_process.terminate()
        driver_process.wait(timeout=10)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _answers(driver):
    try:
        return driver.call("GET", "/status")
    except Exception:
        return None


def _status(driver):
    try:
        return driver.script("return document.getElementById('status').textContent")
    except Exception as error:
        return f"(unreadable: {error})"


if __name__ == "__main__":
    sys.exit(main())
