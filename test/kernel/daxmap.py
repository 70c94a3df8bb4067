# Guest-side helper for the engine's kernel tests: device-dax supports only mmap, so patterns
# are written and zeroes checked through a MAP_SHARED mapping of the whole device.
#   daxmap.py pattern DEV   write 0xa5 pages at the start, the middle and the end
#   daxmap.py check DEV     print "zero" or the first non-zero offset
#   daxmap.py stamp DEV TXT write TXT at the start and in the last page (a trace buffer's bytes)
#   daxmap.py read DEV      print what stamp wrote (start|last page)
import mmap, os, sys

mode, dev = sys.argv[1], sys.argv[2]
size = int(open(f'/sys/bus/dax/devices/{dev}/size').read())
fd = os.open(f'/dev/{dev}', os.O_RDWR)
mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
if mode == 'pattern':
    for off in (0, (size // 2) & ~4095, size - 4096):
        mm[off:off + 4096] = b'\xa5' * 4096
    # No msync: device-dax refuses it (EINVAL); stores reach the device directly.
    print('pattern', sum(1 for off in (0, (size // 2) & ~4095, size - 4096) if mm[off] == 0xa5))
elif mode == 'stamp':
    b = sys.argv[3].encode()
    mm[0:len(b)] = b
    mm[size - 4096:size - 4096 + len(b)] = b
    print('stamped')
elif mode == 'read':
    def txt(off):
        return bytes(mm[off:off + 256]).split(b'\0')[0].decode(errors='replace')
    print(txt(0) + '|' + txt(size - 4096))
else:
    ch = 64 << 20
    for off in range(0, size, ch):
        chunk = mm[off:off + ch]
        if chunk.count(0) != len(chunk):
            i = next(i for i, b in enumerate(chunk) if b)
            print('nonzero at', off + i)
            sys.exit(0)
    print('zero')
