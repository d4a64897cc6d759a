"""An SMTP server on loopback for the reminder tests (aiosmtpd): each message it accepts is
written as JSON (recipients, the message, whether STARTTLS protected it, the client's EHLO
name) to a file of
the output folder. With --cert and --key it offers STARTTLS and refuses mail without it. While
a file named `refuse` exists in the output folder, it answers 451 (try again later) instead.
Prints `ready` once it accepts connections."""

import argparse
import json
import os
import ssl
import threading
import uuid

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        if os.path.exists(os.path.join(self.out, "refuse")):
            return "451 4.3.0 Mailbox busy, try again later"
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": getattr(session, "ssl", None) is not None,
            "helo": session.host_name,
        }
        name = uuid.uuid4().hex
        partial = os.path.join(self.out, "." + name)
        with open(partial, "w") as f:
            json.dump(record, f)
        os.rename(partial, os.path.join(self.out, name + ".json"))
        return "250 2.0.0 Accepted as " + name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    options = {}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options = {"tls_context": context, "require_starttls": True}
    controller = Controller(
        Handler(args.out), hostname="127.0.0.1", port=args.port, **options
    )
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
