"""`rech serve`'s web page in a real headless Chromium, driven over the DevTools protocol on
Chromium's own pipe (--remote-debugging-pipe: no driver, no Python package). Each scenario
prints what the page showed and what went over the network as one JSON object on stdout, for
crates/cli/tests/page.rs to check; a screenshot of each state is written to SHOTS.

Usage: page_browser.py SCENARIO BASE_URL SHOTS [ARGS...]
  upload BASE SHOTS FILE          the file through #files; the text shown, the SRT download
  dictate BASE SHOTS WAV PHRASES  the WAV as the fake microphone until PHRASES finals came;
                                  the finals shown and the WebSocket frames received
  key BASE SHOTS WRONG RIGHT      a server with a key: the prompt, a wrong key, the right one
  insecure BASE SHOTS             the record button on a page that is not a secure context
"""

import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    """Headless Chromium and one page, spoken to in DevTools JSON messages separated by NUL."""

    def __init__(self, extra_flags, shots):
        self.shots = shots
        self.profile = tempfile.mkdtemp(prefix="rech-chromium-")
        # fd 3: commands to the browser; fd 4: its answers and events.
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():
            # Through fds above both, so that neither dup2 overwrites the other's source.
            os.dup2(to_browser_r, 100)
            os.dup2(from_browser_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        flags = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-pipe",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1000,1400",
            # rech.test is this machine, by a name that is not localhost (so a secure context
            # needs https), with the tests' own self-signed certificate.
            "--host-resolver-rules=MAP rech.test 127.0.0.1",
            "--ignore-certificate-errors",
            f"--user-data-dir={self.profile}",
            *extra_flags,
            "about:blank",
        ]
        self.process = subprocess.Popen(
            ["chromium", *flags],
            preexec_fn=fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call(
            "Target.attachToTarget", targetId=page["targetId"], flatten=True, browser=True
        )["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")
        self.shot_index = 0

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("the browser did not answer")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser exited")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, browser=False, timeout=60, **params):
        """A command's result; events that arrive meanwhile are kept in self.events."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session and not browser:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds):
        """Collects events for up to `seconds` (returns as soon as one arrives)."""
        deadline = time.monotonic() + seconds
        import select

        ready, _, _ = select.select([self.from_browser], [], [], seconds)
        if ready or b"\0" in self.buffer:
            try:
                reply = self._read_message(deadline)
                if "method" in reply:
                    self.events.append(reply)
            except TimeoutError:
                pass

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression, timeout, what):
        """Polls the page until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            self.pump(0.1)
        self.screenshot(f"timeout-{what}")
        raise TimeoutError(f"waited {timeout} s for {what}")

    def navigate(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'",
            30,
            "the page to load",
        )

    def screenshot(self, name):
        self.shot_index += 1
        data = self.call("Page.captureScreenshot", format="png")["data"]
        import base64

        os.makedirs(self.shots, exist_ok=True)
        path = os.path.join(self.shots, f"{self.shot_index:02}-{name}.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", browser=True, timeout=5)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def text_of(selector):
    return f"Array.from(document.querySelectorAll({json.dumps(selector)})).map(e => e.textContent)"


def upload(browser, base, path):
    downloads = tempfile.mkdtemp(prefix="rech-downloads-")
    browser.call(
        "Browser.setDownloadBehavior",
        browser=True,
        behavior="allowAndName",
        downloadPath=downloads,
        eventsEnabled=True,
    )
    browser.navigate(base + "/")
    browser.screenshot("loaded")
    document = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=document, selector="#files")["nodeId"]
    browser.call("DOM.setFileInputFiles", nodeId=node, files=[os.path.realpath(path)])
    state = browser.wait_for(
        "(() => { const j = document.querySelector('.job');"
        " return j && ['done', 'failed'].includes(j.dataset.state) && j.dataset.state })()",
        300,
        "the transcript",
    )
    browser.screenshot(state)
    result = {
        "state": state,
        "status": browser.evaluate("document.querySelector('.job .status').textContent"),
        "text": browser.evaluate("document.querySelector('.job .text')?.textContent"),
        "segments": browser.evaluate(text_of(".job .segments li")),
        "formats": browser.evaluate(
            "Array.from(document.querySelectorAll('.job .download')).map(b => b.dataset.format)"
        ),
    }
    if state != "done":
        return result
    # The search box hides the passages without the word.
    word = result["segments"][0].split()[-1] if result["segments"] else ""
    browser.evaluate(
        f"(() => {{ const s = document.getElementById('search'); s.value = {json.dumps(word)};"
        " s.dispatchEvent(new Event('input')); })()"
    )
    result["search"] = {
        "word": word,
        "shown": browser.evaluate(
            "Array.from(document.querySelectorAll('.job .segments li')).filter(e => !e.hidden).length"
        ),
    }
    browser.events.clear()
    browser.evaluate("document.querySelector('.job .download[data-format=srt]').click()")
    deadline = time.monotonic() + 30
    guid = None
    while time.monotonic() < deadline:
        for event in browser.events:
            if event["method"] == "Browser.downloadWillBegin":
                result["srt_name"] = event["params"]["suggestedFilename"]
            if event["method"] == "Browser.downloadProgress" and event["params"]["state"] == "completed":
                guid = event["params"]["guid"]
        if guid:
            break
        browser.pump(0.2)
    if guid is None:
        browser.screenshot("no-download")
        raise TimeoutError("the SRT download did not complete")
    with open(os.path.join(downloads, guid), encoding="utf-8", newline="") as f:
        result["srt"] = f.read()
    return result


def dictate(browser, base, phrases):
    browser.navigate(base + "/")
    browser.evaluate("document.getElementById('record').click()")
    browser.wait_for(
        "document.getElementById('record').dataset.state === 'recording'", 30, "recording"
    )
    browser.screenshot("recording")
    started = time.monotonic()
    browser.wait_for(
        f"document.querySelectorAll('#finals .final').length >= {phrases}", 120, "the finals"
    )
    browser.evaluate("document.getElementById('record').click()")

    def frames():
        return [
            json.loads(e["params"]["response"]["payloadData"])
            for e in browser.events
            if e["method"] == "Network.webSocketFrameReceived"
        ]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(f.get("type") == "end" for f in frames()):
        browser.pump(0.2)
    browser.screenshot("stopped")
    return {
        "seconds": time.monotonic() - started,
        "shown": browser.evaluate(text_of("#finals .final")),
        "partial": browser.evaluate("document.getElementById('partial').textContent"),
        "frames": frames(),
        "sent": sum(
            1
            for e in browser.events
            if e["method"] == "Network.webSocketFrameSent" and e["params"]["response"]["opcode"] == 2
        ),
        "error": browser.evaluate("document.getElementById('mic-error').textContent"),
    }


def key(browser, base, wrong, right):
    browser.navigate(base + "/")
    visible = "!document.getElementById('key-section').hidden"
    result = {"asked": bool(browser.wait_for(visible, 30, "the key prompt"))}
    browser.screenshot("key-asked")

    def enter(value):
        browser.evaluate(
            f"(() => {{ document.getElementById('api-key').value = {json.dumps(value)};"
            " document.getElementById('key-form').requestSubmit(); })()"
        )

    enter(wrong)
    result["wrong"] = browser.wait_for(
        "!document.getElementById('key-error').hidden && document.getElementById('key-error').textContent",
        30,
        "the wrong key's message",
    )
    browser.screenshot("key-wrong")
    enter(right)
    browser.wait_for("document.getElementById('key-section').hidden", 30, "the prompt to go")
    result["error_after_right_key"] = browser.evaluate("document.getElementById('key-error').textContent")
    result["stored"] = browser.evaluate("sessionStorage.getItem('rech-api-key')")
    browser.screenshot("key-right")
    return result


def insecure(browser, base):
    browser.navigate(base + "/")
    browser.evaluate("document.getElementById('record').click()")
    message = browser.wait_for(
        "!document.getElementById('mic-error').hidden && document.getElementById('mic-error').textContent",
        30,
        "the microphone's message",
    )
    browser.screenshot("insecure")
    return {
        "message": message,
        "secure": browser.evaluate("window.isSecureContext"),
        "state": browser.evaluate("document.getElementById('record').dataset.state"),
    }


def main():
    scenario, base, shots, *args = sys.argv[1:]
    flags = []
    if scenario in ("dictate", "insecure"):
        flags = [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={args[0] if args else '/dev/null'}",
        ]
    browser = Browser(flags, shots)
    try:
        if scenario == "upload":
            result = upload(browser, base, args[0])
        elif scenario == "dictate":
            result = dictate(browser, base, int(args[1]))
        elif scenario == "insecure":
            result = insecure(browser, base)
        elif scenario == "key":
            result = key(browser, base, args[0], args[1])
        else:
            raise SystemExit(f"unknown scenario {scenario}")
    except Exception:
        try:
            browser.screenshot("failed")
        finally:
            browser.close()
        raise
    browser.close()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
