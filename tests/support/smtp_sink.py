#!/usr/bin/env python3
"""A real SMTP server for jiaoying's tests: accepts every message and reports it on stdout.

Usage: python3 tests/support/smtp_sink.py PORT   (PORT 0 = pick a free one)

Prints `LISTENING <port>` once bound, then one `MESSAGE <json>` line per message, where the json is
{"from": ..., "to": [...], "data": <the raw message as a str>}. To let tests see the client's
error handling, a recipient whose local part starts with `reject` gets a permanent 550 and one
starting with `defer` a temporary 451; such messages are not printed. Exits when stdin closes (so a test
that dies takes the server with it) or on SIGTERM. Python 3.11 stdlib only: smtpd and asyncore
are deprecated but still present there, and they speak enough SMTP (EHLO, 8BITMIME, SMTPUTF8).
"""

import json
import os
import signal
import sys
import threading
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import asyncore
    import smtpd


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Sink(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
        for rcpt in rcpttos:
            local = rcpt.split("@", 1)[0].lower()
            if local.startswith("reject"):
                return "550 5.1.1 mailbox unavailable"
            if local.startswith("defer"):
                return "451 4.3.0 try again later"
        # decode_data=False hands us bytes; keep them exact but make them JSON-safe.
        raw = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        emit("MESSAGE " + json.dumps({"from": mailfrom, "to": list(rcpttos), "data": raw}, ensure_ascii=False))
        return None  # "250 OK"


def watch_stdin():
    # Reads until EOF: the parent closed our stdin or died.
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: smtp_sink.py PORT\n")
        return 2
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = Sink(("127.0.0.1", port), None, decode_data=False, enable_SMTPUTF8=True)
    emit("LISTENING %d" % server.socket.getsockname()[1])
    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        asyncore.loop(timeout=0.5)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
