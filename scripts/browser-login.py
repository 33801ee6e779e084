#!/usr/bin/env python3
"""Logs in to a coordinator's dashboard in headless Chromium, as a person would, and prints
what the browser then shows (used by the test suite's LoginTests).

    browser-login.py CHROMIUM BASE_URL TOKEN PAGE

Drives Chromium over the DevTools protocol (a minimal WebSocket client, standard library
only): opens BASE_URL/login, types the token into the form, submits it, then opens PAGE.
Prints one JSON object: the final URL, the page's HTML, and document.cookie (an HttpOnly
session cookie must not be visible there).
"""
import base64, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request


class DevTools:
    """One WebSocket to a page target; send() waits for the answer with the same id."""

    def __init__(self, url):
        host, port, path = re.match(r"ws://([^:/]+):(\d+)(/.*)", url).groups()
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += self.sock.recv(4096)
        assert b" 101 " in reply.split(b"\r\n")[0], reply
        self.buffer = reply.split(b"\r\n\r\n", 1)[1]
        self.next_id = 0

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("DevTools closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _frame(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(self._read(2), "big")
            elif length == 127:
                length = int.from_bytes(self._read(8), "big")
            message += self._read(length)
            if b0 & 0x80:
                return message

    def send(self, method, **params):
        self.next_id += 1
        payload = json.dumps({"id": self.next_id, "method": method, "params": params}).encode()
        header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126
                                  else bytes([0x80 | 126]) + len(payload).to_bytes(2, "big"))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        while True:
            message = json.loads(self._frame())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        # The dashboard reloads itself every few seconds; an evaluation that meets a reload
        # ("Inspected target navigated or closed") is asked again once the new page is there.
        for attempt in range(20):
            try:
                result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
                return result.get("result", {}).get("value")
            except RuntimeError as error:
                if "navigated" not in str(error) and "context" not in str(error).lower() or attempt == 19:
                    raise
                time.sleep(0.2)

    def wait_loaded(self, path_prefix, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            state = self.evaluate("[location.pathname, document.readyState]")
            if state and state[0].startswith(path_prefix) and state[1] == "complete":
                return
            time.sleep(0.2)
        raise TimeoutError(f"the page {path_prefix} did not load: {self.evaluate('location.href')}")


def main():
    chromium, base, token, page = sys.argv[1:5]
    profile = tempfile.mkdtemp(prefix="longrope-chromium-")
    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        endpoint = None
        for line in browser.stderr:
            found = re.search(r"DevTools listening on ws://([^/]+)/", line)
            if found:
                endpoint = found.group(1)
                break
        if endpoint is None:
            sys.exit("chromium did not open its DevTools port")
        targets = json.load(urllib.request.urlopen(f"http://{endpoint}/json/list", timeout=10))
        tab = DevTools(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        tab.send("Page.enable")
        tab.send("Page.navigate", url=base + "/login")
        tab.wait_loaded("/login")
        tab.evaluate("document.querySelector('input[name=token]').value = %s; document.forms[0].submit(); true"
                     % json.dumps(token))
        tab.wait_loaded("/")
        time.sleep(0.5)
        tab.send("Page.navigate", url=base + page)
        tab.wait_loaded(page)
        time.sleep(1)   # the plots are drawn by the page's script after load
        print(json.dumps({"url": tab.evaluate("location.href"), "cookie": tab.evaluate("document.cookie"),
                          "html": tab.evaluate("document.documentElement.outerHTML")}))
    finally:
        browser.kill()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
