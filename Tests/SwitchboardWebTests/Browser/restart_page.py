#!/usr/bin/env python3
"""The chat page across a restart of the server: switchboard.js reconnects by itself (with
backoff) and resumes after the last message it showed, so what was said while it was away
arrives once — no gap, no duplicate.

Usage: restart_page.py SWITCHBOARD_BINARY WORK_DIR

The first start takes a port of its own choosing (port 0); the restart asks for that one again.
(A port picked beforehand and closed could be taken, before the server bound it, by another
test's server in the same run.)
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

binary, work = sys.argv[1:3]
port = "0"
base = None


def start_server():
    """Starts the server and waits until the whole system runs (the page's route is up a level
    before the publish route: answering / is not enough)."""
    global port, base
    path = os.path.join(work, "run.log")
    before = open(path).read().count('system \"chat\" running') if os.path.exists(path) else 0
    log = open(path, "a")
    p = subprocess.Popen([binary, "run", "--set", "port=" + port, "--set", "ops=0"], cwd=work, stdout=log, stderr=log)
    for _ in range(1200):
        text = open(path).read()
        if text.count('system \"chat\" running') > before:
            if port == "0":
                port = re.findall(r"component=chat\.http .*listening on http://127\.0\.0\.1:(\d+)", text)[-1]
                base = "http://127.0.0.1:" + port
            return p
        if p.poll() is not None:
            raise AssertionError("the server exited: " + open(path).read()[-2000:])
        time.sleep(0.05)
    raise AssertionError("the server did not start")


def post(text):
    req = urllib.request.Request(base + "/messages", data=json.dumps({"from": "ops", "text": text}).encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 202


def texts(d):
    return [el.text for el in d.find_elements(By.CSS_SELECTOR, "#messages li .text")]


options = Options()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
    options.add_argument(arg)
options.binary_location = "/usr/bin/chromium"
server = start_server()
page = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    page.get(base + "/")
    WebDriverWait(page, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
    post("before the restart")
    WebDriverWait(page, 20).until(lambda d: "before the restart" in texts(d))
    print("the page is live and shows a message")

    server.terminate()
    assert server.wait(timeout=30) == 0
    WebDriverWait(page, 20).until(lambda d: d.find_element(By.ID, "status").text != "live")
    print("the server stopped; the page says it is reconnecting")

    server = start_server()
    # Said while the page is still away (it reconnects after its backoff): stored, then
    # resumed from the store when it is back.
    for i in range(3):
        post("while away %d" % i)
    WebDriverWait(page, 30).until(lambda d: all(("while away %d" % i) in texts(d) for i in range(3)))
    WebDriverWait(page, 20).until(lambda d: d.find_element(By.ID, "status").text == "live")
    post("after the restart")
    WebDriverWait(page, 20).until(lambda d: "after the restart" in texts(d))
    shown = texts(page)
    for t in ["before the restart", "while away 0", "while away 1", "while away 2", "after the restart"]:
        assert shown.count(t) == 1, (t, shown)
    assert shown.index("while away 2") < shown.index("after the restart"), shown
    notices = [el.text for el in page.find_elements(By.CSS_SELECTOR, "#messages li.notice")]
    assert not any("missed" in n for n in notices), notices
    print("after the restart every message shows once, in order, with no gap")
    print("ok")
finally:
    page.quit()
    server.terminate()
