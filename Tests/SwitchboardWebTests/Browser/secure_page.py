#!/usr/bin/env python3
"""Three headless Chromium windows on dev/systems/secure.json, each with its own token:
a private message reaches only its two parties, and the online list follows who is there.

Usage: secure_page.py BASE_URL ALICE_TOKEN BOB_TOKEN CAROL_TOKEN   (exit 0 when all pass)
"""
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

base, tokens = sys.argv[1], dict(zip(["alice", "bob", "carol"], sys.argv[2:5]))


def browser():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def texts(driver):
    return [el.text for el in driver.find_elements(By.CSS_SELECTOR, "#messages li .text")]


def online(driver):
    return sorted(b.text for b in driver.find_elements(By.CSS_SELECTOR, "#people button"))


def send(driver, text):
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


windows = {}
try:
    for who in ("alice", "bob", "carol"):
        d = browser()
        windows[who] = d
        d.get(base + "/?token=" + tokens[who])
        WebDriverWait(d, 20).until(EC.text_to_be_present_in_element((By.ID, "status"), "live"))
        assert d.find_element(By.ID, "name").get_attribute("value") == who, "the name comes from the token"
    print("three windows live, each named by its token")

    alice, bob, carol = windows["alice"], windows["bob"], windows["carol"]
    WebDriverWait(alice, 20).until(lambda d: online(d) == ["alice", "bob", "carol"])
    print("the online list shows all three")

    send(alice, "/msg bob psst, just you")
    WebDriverWait(bob, 20).until(lambda d: "psst, just you" in texts(d))
    WebDriverWait(alice, 20).until(lambda d: "psst, just you" in texts(d))
    item = [li for li in bob.find_elements(By.CSS_SELECTOR, "#messages li") if "psst" in li.text][0]
    assert "private" in item.get_attribute("class") and "bob" in item.find_element(By.CSS_SELECTOR, ".to").text
    print("the private message reaches bob, marked private, and alice's own window")

    send(alice, "hello everyone")
    WebDriverWait(carol, 20).until(lambda d: "hello everyone" in texts(d))
    assert "psst, just you" not in texts(carol), "carol never sees it"
    carol.refresh()
    WebDriverWait(carol, 20).until(lambda d: "hello everyone" in texts(d))
    assert "psst, just you" not in texts(carol), "nor in her history"
    print("carol gets the public message and not the private one, live or from history")

    # Over the WebSocket the token goes as a subprotocol (the endpoint takes none in its URL).
    assert carol.execute_script("return window.switchboard.transport") == "websocket"
    send(carol, "over the socket")
    WebDriverWait(alice, 20).until(lambda d: "over the socket" in texts(d))
    assert carol.find_element(By.ID, "error").text == "", carol.find_element(By.ID, "error").text
    print("a message over the WebSocket, its token sent as a subprotocol, reaches alice")

    # A click on a name starts a private message to them.
    [b for b in carol.find_elements(By.CSS_SELECTOR, "#people button") if b.text == "alice"][0].click()
    assert carol.find_element(By.ID, "text").get_attribute("value") == "/msg alice ", "a click on a name fills /msg"
    print("a click on a name starts a private message")

    bob.quit()
    del windows["bob"]
    WebDriverWait(alice, 20).until(lambda d: online(d) == ["alice", "carol"])
    print("bob leaves the online list when his window closes")
    print("ok")
finally:
    for d in windows.values():
        d.quit()
