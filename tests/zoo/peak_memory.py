"""Peak memory of a fresh Python process, for tests that bound it.

`ru_maxrss` is the wrong measure in a child of pytest: Linux keeps it across
`execve`, so the child starts with the forked pytest's resident size (gigabytes
late in a full run). `VmHWM` belongs to the process image and starts afresh at
exec. `PEAK_RSS_MB` is source text to paste into a child's script.
"""

PEAK_RSS_MB = '''
def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
'''
