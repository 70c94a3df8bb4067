#!/usr/bin/python3
# Guest side of bench/scale.ts: the memory subsystem's kernel uevents, counted by action, from the
# kernel's netlink group (what udev reads; udevadm monitor refuses to run in the guest's chroot).
# Prints "listening" once bound, then counts until a change uevent on memory block argv[1], the
# mark the driving script sends after the command it measures, and prints "ACTION COUNT" lines.
import socket
import sys

NETLINK_KOBJECT_UEVENT = 15
SO_RCVBUFFORCE = 33

s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
# A big buffer: thousands of blocks coming online at once must not overflow it (root may force it).
s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
s.bind((0, 1))
print('listening', flush=True)
end = '/devices/system/memory/' + sys.argv[1]
counts = {}
while True:
    parts = s.recv(1 << 16).split(b'\0')
    action, _, devpath = parts[0].decode(errors='replace').partition('@')
    env = dict(p.decode(errors='replace').split('=', 1) for p in parts[1:] if b'=' in p)
    if env.get('SUBSYSTEM') != 'memory':
        continue
    if action == 'change' and devpath == end:
        break
    counts[action] = counts.get(action, 0) + 1
for action in sorted(counts):
    print(action, counts[action])
