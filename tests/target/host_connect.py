#!/usr/bin/env python3
"""QEMU's guestfwd command: one process per connection the guest opens (a "tcp:" chardev would
be a single connection for the machine's whole life), joining its stdin and stdout to a TCP
port on the host's loopback.

    host_connect.py PORT
"""
import os
import selectors
import socket
import sys


def main():
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ)
    sel.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj == 0:
                data = os.read(0, 65536)
                if not data:
                    return
                sock.sendall(data)
            else:
                data = sock.recv(65536)
                if not data:
                    return
                while data:
                    data = data[os.write(1, data):]


if __name__ == "__main__":
    main()
