#!/usr/bin/env python3
"""The chat page with a short-lived token: switchboard.js asks for a fresh one before it
expires and sends it on the open WebSocket, so the connection outlives the first token — the
same socket, still live, still sending.

Usage: token_page.py BASE_URL SHORT_TOKEN FRESH_TOKEN SHORT_EXPIRY_MS
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

base, short, fresh, expiry = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
options = Options()
for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
    options.add_argument(arg)
options.binary_location = "/usr/bin/chromium"
page = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    page.get(base + "/?token=" + short)
    WebDriverWait(page, 20).until(EC.text_to_be_present_in_element((By.ID, "status"), "live"))
    assert page.execute_script("return window.switchboard.transport") == "websocket"
    # The application's token source: here, one fresh token (a real one would ask its server).
    page.execute_script("window.firstSocket = window.switchboard.socket; window.switchboard.options.token = () => arguments[0];", fresh)
    print("live on a WebSocket with a token that expires in seconds")
    # Past the first token's expiry, and a little more.
    WebDriverWait(page, 30).until(lambda d: d.execute_script("return Date.now() > arguments[0] + 1500", expiry))
    assert page.execute_script("return window.switchboard.socket === window.firstSocket"), "the same WebSocket, never reopened"
    assert page.find_element(By.ID, "status").text == "live"
    box = page.find_element(By.ID, "text")
    box.send_keys("still here")
    page.find_element(By.ID, "send").click()
    WebDriverWait(page, 20).until(lambda d: "still here" in [el.text for el in d.find_elements(By.CSS_SELECTOR, "#messages li .text")])
    print("past the first token's expiry the same WebSocket is live and sends")
    print("ok")
finally:
    page.quit()
