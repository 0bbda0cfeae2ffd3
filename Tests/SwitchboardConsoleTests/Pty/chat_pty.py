#!/usr/bin/env python3
"""`switchboard chat` in a real pseudo-terminal (pexpect): it connects, what is typed is
published and comes back from the server, a message from elsewhere shows, a private message
goes with /msg, Ctrl-D leaves.

Usage: chat_pty.py SWITCHBOARD_BINARY BASE_URL
"""
import json
import sys
import urllib.request

import pexpect

binary, base = sys.argv[1:3]
chat = pexpect.spawn(binary, ["chat", "--url", base, "--name", "ann"], encoding="utf-8", timeout=30,
                     env={"TERM": "xterm", "HOME": "/tmp"}, dimensions=(40, 200))
chat.logfile_read = sys.stdout
try:
    chat.expect(r"\(connected to ")
    chat.expect("all> ")
    print("\n[check] connected, with a prompt")
    chat.sendline("hello from the terminal :)")
    chat.expect("ann: hello from the terminal 🙂")
    print("\n[check] a typed line is published and comes back through the server's transforms")

    req = urllib.request.Request(base + "/messages", data=json.dumps({"from": "bob", "text": "hi ann", "room": "dev"}).encode(),
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 202
    chat.expect("bob #dev: hi ann")
    print("\n[check] a message from elsewhere shows, with its room")

    chat.sendline("/msg bob just you")
    chat.expect(r"ann → bob: just you")
    print("\n[check] /msg sends privately")

    chat.sendcontrol("d")
    chat.expect(pexpect.EOF)
    chat.close()
    assert chat.exitstatus == 0, chat.exitstatus
    print("\n[check] Ctrl-D leaves")
finally:
    if chat.isalive():
        chat.terminate(force=True)
print("ok")
