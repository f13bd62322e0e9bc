"""glupy.fuse: finding the FUSE mount a glusterfs client serves, from its argv and mountinfo."""

from glupy.fuse import served_mount

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:41 / /mnt/other rw,relatime shared:20 - fuse.glusterfs 127.0.0.1:/vol rw,user_id=0
41 22 0:42 / /mnt/my\\040vol rw,relatime shared:21 - fuse.glusterfs 127.0.0.1:/vol rw,user_id=0
43 22 0:44 / /mnt/plain rw,relatime shared:23 - tmpfs tmpfs rw
44 40 0:45 / /mnt/other rw,relatime shared:24 - fuse.glusterfs 127.0.0.1:/vol2 rw,user_id=0
"""


GLUSTERFS = "/usr/sbin/glusterfsd"  # /proc/self/exe of a glusterfs client: the same executable


def argv(*args: str) -> bytes:
    return b"".join(a.encode() + b"\0" for a in args)


def test_the_last_argument_when_a_glusterfs_fuse_mount_is_there() -> None:
    cmd = argv("/usr/sbin/glusterfs", "--volfile-server=127.0.0.1", "--volfile-id=vol", "/mnt/my vol")
    assert served_mount(cmd, MOUNTINFO, GLUSTERFS) == ("/mnt/my vol", 0, 42)  # \040 in mountinfo is a space


def test_a_mount_over_another_is_the_last_one() -> None:
    assert served_mount(argv("glusterfs", "-f", "x.vol", "/mnt/other/"), MOUNTINFO, GLUSTERFS) == ("/mnt/other", 0, 45)


def test_no_mount_in_other_processes() -> None:
    assert served_mount(argv("/usr/sbin/glusterfsd", "-s", "host", "--brick-port", "49152"), MOUNTINFO,
                        GLUSTERFS) is None
    assert served_mount(argv("glusterfs", "-f", "x.vol", "/mnt/plain"), MOUNTINFO, GLUSTERFS) is None  # tmpfs
    # a gfapi program whose last argument is a glusterfs mount does not serve it
    assert served_mount(argv("python3", "app.py", "/mnt/other"), MOUNTINFO, "/usr/bin/python3.11") is None
    assert served_mount(argv("python3"), MOUNTINFO, GLUSTERFS) is None
    assert served_mount(b"", MOUNTINFO, GLUSTERFS) is None
