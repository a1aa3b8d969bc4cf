#!/usr/bin/python3
"""An interface engine's outbound feed, for Ferry's event tests.

Sends HL7 v2 messages in order over MLLP with python3-hl7's MLLPClient
(Debian python3-hl7), and resends each one as interface engines do until it
is acknowledged AA: after an AE, an ACK timeout or a closed connection it
waits and resends on a new connection; an AR is final (the message is
rejected). Neither python3-hl7 nor @medplum/hl7 resends on its own.

    /usr/bin/python3 sender.py HOST PORT ACK_TIMEOUT_S RESEND_DELAY_S MAX_TRIES < messages.json

messages.json is a JSON list of messages (segments separated by \\r). One
JSON line is printed per attempt: {"control", "ack", "try"}; the exit code
is 0 when every message got AA or AR.
"""
import json
import socket
import sys
import time

import hl7
from hl7.client import MLLPClient


def msa(ack):
    try:
        m = hl7.parse(ack.decode("utf-8", "replace").strip("\x0b\x1c\r\n"))
        return str(m.segment("MSA")[1])
    except Exception:
        return "?"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    timeout, delay, tries = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    messages = json.load(sys.stdin)
    client = None
    failed = 0
    for msg in messages:
        control = msg.split("\r")[0].split("|")[9]
        for n in range(1, tries + 1):
            code = ""
            try:
                if client is None:
                    client = MLLPClient(host, port)
                    client.socket.settimeout(timeout)
                ack = client.send_message(msg)
                code = msa(ack) if ack else "closed"
            except (OSError, socket.timeout) as e:
                code = "timeout" if isinstance(e, socket.timeout) else "closed"
            print(json.dumps({"control": control, "ack": code, "try": n}), flush=True)
            if code in ("AA", "AR"):
                break
            if client is not None:
                client.close()
                client = None
            time.sleep(delay)
        else:
            failed += 1
    if client is not None:
        client.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
