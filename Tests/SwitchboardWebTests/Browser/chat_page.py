#!/usr/bin/env python3
"""Two headless Chromium windows on the chat page: one sends, the other sees it.

Usage: chat_page.py BASE_URL   (prints one line per check; exit 0 when all pass)
"""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

base = sys.argv[1]


def browser():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait_for_text(driver, text, timeout=20):
    WebDriverWait(driver, timeout).until(
        lambda d: any(text == el.text for el in d.find_elements(By.CSS_SELECTOR, "#messages li .text")))


def send(driver, name, text):
    driver.find_element(By.ID, "name").clear()
    driver.find_element(By.ID, "name").send_keys(name)
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send").click()


alice, bob = browser(), browser()
others = []
try:
    for d in (alice, bob):
        d.get(base + "/")
        WebDriverWait(d, 20).until(EC.text_to_be_present_in_element((By.ID, "status"), "live"))
    print("both windows live")

    empty = alice.find_element(By.ID, "empty")
    assert empty.is_displayed() and "No messages yet" in empty.text, "empty state shown"
    print("an empty room says so")

    send(alice, "alice", "hello bob :)")
    wait_for_text(bob, "hello bob 🙂")
    item = bob.find_elements(By.CSS_SELECTOR, "#messages li")[-1]
    assert item.find_element(By.CSS_SELECTOR, ".from").text == "alice", "sender shown"
    assert item.find_element(By.CSS_SELECTOR, "time").text.strip(), "time shown"
    print("a message from one window arrives in the other with sender and time")
    mine = [li for li in alice.find_elements(By.CSS_SELECTOR, "#messages li") if "hello bob" in li.text][0]
    theirs = [li for li in bob.find_elements(By.CSS_SELECTOR, "#messages li") if "hello bob" in li.text][0]
    assert "mine" in mine.get_attribute("class") and "mine" not in theirs.get_attribute("class"), "your own messages look like yours"
    print("your own messages look like yours")
    assert not bob.find_elements(By.ID, "empty"), "empty state gone once a message is shown"

    assert bob.execute_script("return window.switchboard.transport") == "websocket", "the page's client is on the WebSocket"
    send(bob, "bob", "hi alice over `ws`")
    wait_for_text(alice, "hi alice over ws")
    code = alice.find_elements(By.CSS_SELECTOR, "#messages li")[-1].find_element(By.CSS_SELECTOR, "code")
    assert code.text == "ws", "code span rendered"
    print("WebSocket send arrives; code span rendered as <code>")

    attack = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    send(alice, "mallory", attack)
    wait_for_text(bob, attack)
    assert bob.execute_script("return window.pwned === undefined"), "markup in a message must not run"
    assert not bob.find_elements(By.CSS_SELECTOR, "#messages img"), "no element injected"
    print("markup in a message is shown as text, never run")

    # Resume: bob's connection drops; switchboard.js reconnects by itself (backoff) and
    # resumes after the last id, so what was sent meanwhile arrives once.
    bob.execute_script("const s = window.switchboard; (s.socket || s.source).close(); if (s.source) s.source.onerror();")
    send(alice, "alice", "while you were away")
    wait_for_text(bob, "while you were away")
    texts = [el.text for el in bob.find_elements(By.CSS_SELECTOR, "#messages li .text")]
    assert texts.count("while you were away") == 1, "no duplicates after resume"
    print("a reconnect resumes from the last event id without duplicates")

    # History: a window opened later shows what was said before (from the store).
    carol = browser()
    others.append(carol)
    carol.get(base + "/")
    wait_for_text(carol, "hello bob 🙂")
    wait_for_text(carol, "while you were away")
    assert not carol.find_elements(By.ID, "empty"), "no empty state when history exists"
    assert not carol.find_elements(By.ID, "earlier"), "no 'load earlier' when everything is shown"
    print("a window opened later shows the earlier messages")

    # More than a page: the newest 50 on open, the rest behind "Load earlier messages".
    alice.set_script_timeout(60)
    alice.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          for (let i = 0; i < 55; i++) {
            await fetch(config.publish, { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ from: "bulk", text: "bulk " + i }) });
          }
          done();
        })();
    """)
    dave = browser()
    others.append(dave)
    dave.get(base + "/")
    wait_for_text(dave, "bulk 54")
    texts = [el.text for el in dave.find_elements(By.CSS_SELECTOR, "#messages li .text")]
    assert len(texts) == 50 and texts[0] == "bulk 5", f"the newest 50 in order, got {len(texts)} from {texts[:1]}"
    dave.find_element(By.CSS_SELECTOR, "#earlier button").click()
    wait_for_text(dave, "hello bob 🙂")
    texts = [el.text for el in dave.find_elements(By.CSS_SELECTOR, "#messages li .text")]
    assert texts[0] == "hello bob 🙂" and texts[-1] == "bulk 54", "older page above, in order"
    assert len(texts) == len(set(texts)), "no duplicates"
    assert not dave.find_elements(By.ID, "earlier"), "'load earlier' gone at the start of history"
    print("the newest 50 on open; 'Load earlier messages' brings the rest, in order")

    # Rooms: a window in #dev shows #dev only, live (once, a WebSocket opened before a switch
    # kept delivering every room).
    def set_room(d, room):
        d.execute_script("const r = document.getElementById('room'); r.value = arguments[0]; r.dispatchEvent(new Event('change'));", room)
        WebDriverWait(d, 20).until(EC.text_to_be_present_in_element((By.ID, "status"), "live"))
    set_room(bob, "dev")
    set_room(alice, "ops")
    send(alice, "alice", "for ops only")
    wait_for_text(alice, "for ops only")
    set_room(alice, "dev")
    send(alice, "alice", "dev talk")
    wait_for_text(bob, "dev talk")
    assert "for ops only" not in [el.text for el in bob.find_elements(By.CSS_SELECTOR, "#messages li .text")], "another room's message"
    print("a window switched to #dev shows #dev only")

    # Unread counts: what came in #ops while bob reads #dev is counted beside #ops (and in the
    # title); opening #ops shows it and clears the count. Your own messages are never unread.
    def badge(d, room):
        found = d.find_elements(By.CSS_SELECTOR, f'#rooms button[data-room="{room}"] .unread')
        return found[0].text if found else ""
    WebDriverWait(bob, 20).until(lambda d: badge(d, "ops") == "1")
    assert bob.title.startswith("(1) "), f"the title counts it: {bob.title!r}"
    assert badge(alice, "ops") == "" and badge(alice, "dev") == "", "alice's own message is not unread to her"
    set_room(alice, "ops")
    send(alice, "alice", "ops again")
    WebDriverWait(bob, 20).until(lambda d: badge(d, "ops") == "2")
    bob.find_element(By.CSS_SELECTOR, '#rooms button[data-room="ops"]').click()
    wait_for_text(bob, "for ops only")
    wait_for_text(bob, "ops again")
    texts = [el.text for el in bob.find_elements(By.CSS_SELECTOR, "#messages li .text")]
    assert texts == ["for ops only", "ops again"], f"#ops only, in order, once: {texts}"
    assert badge(bob, "ops") == "" and not bob.title.startswith("("), "the count is cleared"
    assert bob.find_element(By.CSS_SELECTOR, '#rooms button[data-room="ops"]').get_attribute("aria-current") == "true"
    send(alice, "alice", "live in ops")
    wait_for_text(bob, "live in ops")
    print("unread counts per room: counted beside the room and in the title, cleared on opening it")

    # The README's picture of the page (SWITCHBOARD_SCREENSHOT=path), as a user sees it: bob in
    # #ops, his own message on the right, one unread in #dev.
    shot = os.environ.get("SWITCHBOARD_SCREENSHOT")
    if shot:
        bob.set_window_size(900, 520)
        bob.execute_script("const m = document.querySelector('main'); m.scrollTop = m.scrollHeight;")
        send(bob, "bob", "on it :) the fix is in `deploy.sh`")
        wait_for_text(bob, "on it 🙂 the fix is in deploy.sh")
        set_room(alice, "dev")
        send(alice, "alice", "standup in 5")
        WebDriverWait(bob, 20).until(lambda d: badge(d, "dev") == "1")
        bob.save_screenshot(shot)

    # Many rooms: the bar keeps the room on view and every room with something unread (a
    # quiet room leaves it first), so the title's count is what the badges show.
    alice.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          for (let i = 1; i <= 13; i++) {
            await fetch(config.publish, { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ from: "carol", text: "in r" + i, room: "r" + i }) });
          }
          done();
        })();
    """)
    WebDriverWait(bob, 20).until(lambda d: all(badge(d, f"r{i}") == "1" for i in range(1, 14)))
    shown = sum(int(el.text) for el in bob.find_elements(By.CSS_SELECTOR, "#rooms .unread"))
    assert bob.title.startswith(f"({shown}) "), f"the title counts what the badges show: {bob.title!r}, {shown}"
    assert bob.find_elements(By.CSS_SELECTOR, '#rooms button[data-room="ops"][aria-current="true"]'), "the room on view stays"
    assert not bob.find_elements(By.CSS_SELECTOR, '#rooms button[data-room="lobby"]'), "a quiet room left the bar"
    print("with many rooms the bar keeps the one on view and every unread one")
finally:
    alice.quit()
    bob.quit()
    for d in others:
        d.quit()
print("ok")
