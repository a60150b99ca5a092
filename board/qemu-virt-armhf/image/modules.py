#!/usr/bin/env python3
"""Prints the kernel modules that load the named ones, dependencies first (modinfo's depends=,
read from the .ko itself: the unpacked kernel has no modules.dep and the host no depmod)."""
import os
import re
import sys


def main():
    root, wanted = sys.argv[1], sys.argv[2:]
    index = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".ko"):
                index[f[:-3].replace("-", "_")] = os.path.join(d, f)
    order = []

    def visit(name):
        name = name.replace("-", "_")
        if name in order:
            return
        if name not in index:
            sys.exit("no module %s under %s" % (name, root))
        data = open(index[name], "rb").read()
        m = re.search(rb"\x00depends=([^\x00]*)\x00", data)
        for dep in m.group(1).decode().split(",") if m and m.group(1) else []:
            visit(dep)
        order.append(name)

    for w in wanted:
        visit(w)
    for n in order:
        print(index[n])


if __name__ == "__main__":
    main()
