"""``aiops nagios follow --log-file`` across rotations between two reads
(aiops/file_tail.py): the rest of the old log, then every archive written since, then
the new log, each line once; what cannot be read said once. Files are renamed, copied
and created as Nagios 4.4 (base/logging.c, ``rotate_log_file``) and logrotate do."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from aiops.cli import main
from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from tests.unit.test_nagios_follow import OBJECTS, T0, taken, write
from tests.unit.test_nagios_log import NOISE, alert, brief, fine

HOUR = 3600 * 10**9


class Nagios:
    """Writes nagios.log and rotates it as Nagios does, its files' modification times
    on a clock of its own: a test runs within one tick of the system's clock, Nagios
    rotates at most hourly (an archive of the same hour is not overwritten)."""

    def __init__(self, log: Path, archives: Path):
        self.log, self.archives = log, archives
        self.now = time.time_ns() + 60 * 10**9  # after the log's writes before the test
        self.rotations = 0

    def append(self, text: str, path: Path | None = None) -> None:
        path = path or self.log
        with path.open("a") as out:
            out.write(text)
        self.stamp(path)

    def stamp(self, path: Path) -> None:
        self.now += 10**9
        os.utime(path, ns=(self.now, self.now))

    def rotate(self, copy: bool = False) -> Path:
        """nagios.log renamed to ``nagios-MM-DD-YYYY-HH.log`` in the archive folder
        (copied, then deleted, when that folder is on another file system: a new
        inode), and a new log begun."""
        self.rotations += 1
        self.now += HOUR
        archive = self.archives / f"nagios-11-24-2026-{self.rotations:02d}.log"
        if copy:
            shutil.copyfile(self.log, archive)
            self.log.unlink()
            self.stamp(archive)
        else:
            self.log.rename(archive)
        self.append(f"[{T0}] LOG ROTATION: HOURLY\n[{T0}] LOG VERSION: 2.0\n")
        return archive


def follower_of(tmp_path: Path, archive_dir: Path | None = None
                ) -> tuple[NagiosFollower, Forwarder]:
    (tmp_path / "objects.cache").write_text(OBJECTS)
    forwarder = Forwarder("http://127.0.0.1:9/api/v1/webhooks/nagios")
    follower = NagiosFollower(tmp_path / "status.dat", tmp_path / "objects.cache",
                              forwarder, state_file=tmp_path / "state.json",
                              log_file=tmp_path / "nagios.log",
                              log_archive_dir=archive_dir)
    return follower, forwarder


def begin(tmp_path: Path, archives: Path, archive_dir: Path | None = None
          ) -> tuple[NagiosFollower, Forwarder, Nagios]:
    """A follower's first read of a log with history (from its end: nothing sent), with
    archives of days before in the archive folder, which no read may send."""
    archives.mkdir(exist_ok=True)
    before = archives / "nagios-11-23-2026-00.log"
    before.write_text(alert(T0 - 9000, "LDP session", "CRITICAL")
                      + alert(T0 - 8000, "LDP session", "OK"))
    day_ago = time.time_ns() - 24 * HOUR
    os.utime(before, ns=(day_ago, day_ago))
    log = tmp_path / "nagios.log"
    log.write_text(NOISE + alert(T0 - 500, "BGP peer", "CRITICAL")
                   + alert(T0 - 400, "BGP peer", "OK"))
    follower, forwarder = follower_of(tmp_path, archive_dir)
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    assert follower.read_once()
    assert taken(forwarder) == []
    return follower, forwarder, Nagios(log, archives)


def read(tmp_path: Path, follower: NagiosFollower, forwarder: Forwarder,
         caplog: pytest.LogCaptureFixture) -> tuple[list[tuple], list[str]]:
    """A read of status.dat (all fine) and the log: what was sent, what was said."""
    caplog.clear()
    write(tmp_path / "status.dat", fine("BGP peer", "LDP session"))
    with caplog.at_level(logging.WARNING):
        follower.read_once()
    return brief(taken(forwarder)), [r.getMessage() for r in caplog.records
                                     if r.levelno >= logging.WARNING]


def test_two_rotations_between_reads_read_the_old_file_the_middle_one_then_the_new(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    nagios.append(alert(T0 + 1, "BGP peer", "CRITICAL"))  # the old file's rest
    nagios.rotate()
    nagios.append(alert(T0 + 2, "BGP peer", "WARNING")  # the middle file, all of it
                  + alert(T0 + 3, "LDP session", "CRITICAL")
                  + alert(T0 + 4, "LDP session", "OK"))
    nagios.rotate()
    nagios.append(alert(T0 + 5, "BGP peer", "OK"))  # the new file
    sent, said = read(tmp_path, follower, forwarder, caplog)
    # In the order written: LDP's episode ended in the middle file, BGP's in the new;
    # BGP's change to WARNING, in the middle file, is in its episode. The archive of
    # the day before is older than the old file: not read.
    assert sent == [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 3), None),
                    ("RECOVERY", "LDP session", "OK", None, str(T0 + 4)),
                    ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                    ("PROBLEM", "BGP peer", "WARNING", None, None),
                    ("RECOVERY", "BGP peer", "OK", None, str(T0 + 5))]
    assert said == []
    assert read(tmp_path, follower, forwarder, caplog) == ([], [])  # nothing read twice
    # One more rotation: only what came after; the archives read before are not again.
    nagios.append(alert(T0 + 6, "LDP session", "UNKNOWN"))
    nagios.rotate()
    nagios.append(alert(T0 + 7, "LDP session", "OK"))
    assert read(tmp_path, follower, forwarder, caplog) == (
        [("PROBLEM", "LDP session", "UNKNOWN", str(T0 + 6), None),
         ("RECOVERY", "LDP session", "OK", None, str(T0 + 7))], [])


def test_an_archive_folder_elsewhere_is_searched_instead_of_archives_beside_the_log(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    elsewhere = tmp_path / "spool" / "nagios-archives"
    elsewhere.parent.mkdir()
    follower, forwarder, nagios = begin(tmp_path, elsewhere, archive_dir=elsewhere)
    (tmp_path / "archives").mkdir()  # not log_archive_path here: never read
    decoy = tmp_path / "archives" / "nagios-11-24-2026-07.log"
    decoy.write_text(alert(T0 + 1, "LDP session", "CRITICAL")
                     + alert(T0 + 2, "LDP session", "OK"))
    nagios.stamp(decoy)
    nagios.append(alert(T0 + 3, "BGP peer", "CRITICAL"))
    nagios.rotate()
    nagios.append(alert(T0 + 4, "BGP peer", "WARNING"))
    nagios.rotate()
    nagios.append(alert(T0 + 5, "BGP peer", "OK"))
    assert read(tmp_path, follower, forwarder, caplog) == (
        [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 3), None),
         ("PROBLEM", "BGP peer", "WARNING", None, None),
         ("RECOVERY", "BGP peer", "OK", None, str(T0 + 5))], [])


def test_the_archive_folder_option_needs_the_log_and_a_folder(tmp_path: Path) -> None:
    for args, message in (
            (["--log-archive-dir", str(tmp_path)], "--log-archive-dir is where Nagios's "
                                                   "log is archived: it needs --log-file"),
            (["--log-file", str(tmp_path / "nagios.log"), "--log-archive-dir",
              str(tmp_path / "gone")], "does not exist")):
        result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "nagios", "follow",
                                           "--forward", "http://127.0.0.1:9", *args])
        assert result.exit_code == 2, result.output
        assert message in result.output, result.output


def test_an_old_file_gone_is_said_once_and_the_archives_after_it_still_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    nagios.append(alert(T0 + 1, "BGP peer", "CRITICAL"))  # lost with the old file
    old = nagios.rotate()
    nagios.append(alert(T0 + 2, "LDP session", "CRITICAL") + alert(T0 + 3, "LDP session",
                                                                   "OK"))
    nagios.rotate()
    nagios.append(alert(T0 + 4, "BGP peer", "OK"))
    old.unlink()  # an archive cleaned away before the next read (after: no file made
    # since may be given its inode number, the next test's case)
    sent, said = read(tmp_path, follower, forwarder, caplog)
    # BGP's start was in the file lost: its end alone is no episode.
    assert sent == [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 2), None),
                    ("RECOVERY", "LDP session", "OK", None, str(T0 + 3))]
    assert len(said) == 1, said
    assert said[0].startswith(f"{nagios.log} was rotated and its old file (inode ")
    assert f"is not in {tmp_path}, {tmp_path / 'archives'}: what it got after byte" in said[0]
    assert read(tmp_path, follower, forwarder, caplog) == ([], [])  # said once


def test_an_old_file_copied_to_another_file_system_is_read_on_from_where_it_stopped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Nagios copies the log into an archive folder on another file system, then
    deletes it: the archive is a new inode, found by its first bytes. Read whole, it
    would send the episode of the log's history (before the first read) again."""
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    nagios.append(alert(T0 + 1, "BGP peer", "CRITICAL"))
    nagios.rotate(copy=True)
    nagios.append(alert(T0 + 2, "BGP peer", "WARNING"))
    nagios.rotate(copy=True)
    nagios.append(alert(T0 + 3, "BGP peer", "OK"))
    assert read(tmp_path, follower, forwarder, caplog) == (
        [("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
         ("PROBLEM", "BGP peer", "WARNING", None, None),
         ("RECOVERY", "BGP peer", "OK", None, str(T0 + 3))], [])


def test_a_truncated_log_is_read_on_from_its_copy_or_from_its_beginning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    nagios.rotate()
    nagios.append(alert(T0 + 1, "LDP session", "CRITICAL"))
    nagios.rotate()
    nagios.append(alert(T0 + 2, "LDP session", "OK") + NOISE * 3)
    assert read(tmp_path, follower, forwarder, caplog)[0] == [
        ("PROBLEM", "LDP session", "CRITICAL", str(T0 + 1), None),
        ("RECOVERY", "LDP session", "OK", None, str(T0 + 2))]
    # logrotate's copytruncate: the log copied to nagios.log.1, then truncated; what
    # it got after the last read is read from the copy.
    nagios.append(alert(T0 + 3, "BGP peer", "UNKNOWN"))
    shutil.copyfile(nagios.log, tmp_path / "nagios.log.1")
    nagios.stamp(tmp_path / "nagios.log.1")
    nagios.log.write_text(alert(T0 + 4, "BGP peer", "OK"))
    nagios.stamp(nagios.log)
    assert read(tmp_path, follower, forwarder, caplog) == (
        [("PROBLEM", "BGP peer", "UNKNOWN", str(T0 + 3), None),
         ("RECOVERY", "BGP peer", "OK", None, str(T0 + 4))], [])
    # Truncated with no copy: read from its beginning, what is lost said.
    nagios.append(alert(T0 + 5, "BGP peer", "CRITICAL"))  # lost
    nagios.log.write_text(f"[{T0 + 6}] LOG ROTATION")  # shorter than what was read
    nagios.stamp(nagios.log)
    sent, said = read(tmp_path, follower, forwarder, caplog)
    assert sent == []
    assert len(said) == 1 and said[0].startswith(
        f"{nagios.log} shrank to {nagios.log.stat().st_size} bytes from the "), said
    nagios.append(": HOURLY\n" + NOISE)
    assert read(tmp_path, follower, forwarder, caplog) == ([], [])
    # Written again from its start and longer than what was read (as a new file given
    # the old one's inode number): its beginning differs, it is read from there.
    nagios.log.write_text(alert(T0 + 7, "LDP session", "CRITICAL")
                          + alert(T0 + 8, "LDP session", "OK") + NOISE)
    nagios.stamp(nagios.log)
    sent, said = read(tmp_path, follower, forwarder, caplog)
    assert sent == [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 7), None),
                    ("RECOVERY", "LDP session", "OK", None, str(T0 + 8))]
    assert len(said) == 1 and "begins otherwise than the file read" in said[0], said


def test_a_line_cut_short_at_a_read_is_read_whole_across_rotations(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A line Nagios was writing at a read is read once finished, from the old file;
    one never finished (a middle file cut short) is said, and not glued to the next
    file's first line."""
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    line = alert(T0 + 1, "BGP peer", "CRITICAL")
    nagios.append(line[:20])
    assert read(tmp_path, follower, forwarder, caplog) == ([], [])
    nagios.append(line[20:])
    nagios.rotate()
    nagios.append(alert(T0 + 2, "LDP session", "CRITICAL") + alert(T0 + 3, "LDP session",
                                                                   "OK")
                  + alert(T0 + 4, "BGP peer", "OK")[:25])
    middle = nagios.rotate()
    nagios.append(alert(T0 + 5, "BGP peer", "OK"))
    sent, said = read(tmp_path, follower, forwarder, caplog)
    assert sent == [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 2), None),
                    ("RECOVERY", "LDP session", "OK", None, str(T0 + 3)),
                    ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
                    ("RECOVERY", "BGP peer", "OK", None, str(T0 + 5))]
    assert said == [f"{middle} (rotated between two reads of {nagios.log}) ends in 25 "
                    "bytes with no newline (a line cut short): not read"]


def test_logrotate_s_rotations_beside_the_log_and_a_compressed_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """logrotate renames nagios.log.1 to nagios.log.2 and nagios.log to nagios.log.1;
    status.dat and objects.cache, beside the log and newer, are no archives of it."""
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    log = nagios.log

    def logrotate() -> None:
        if (tmp_path / "nagios.log.1").exists():
            (tmp_path / "nagios.log.1").rename(tmp_path / "nagios.log.2")
        log.rename(tmp_path / "nagios.log.1")
        nagios.append("")

    nagios.append(alert(T0 + 1, "BGP peer", "CRITICAL"))
    logrotate()
    nagios.append(alert(T0 + 2, "LDP session", "CRITICAL") + alert(T0 + 3, "LDP session",
                                                                   "OK"))
    logrotate()
    nagios.append(alert(T0 + 4, "BGP peer", "OK"))
    assert read(tmp_path, follower, forwarder, caplog) == (
        [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 2), None),
         ("RECOVERY", "LDP session", "OK", None, str(T0 + 3)),
         ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
         ("RECOVERY", "BGP peer", "OK", None, str(T0 + 4))], [])
    # compress without delaycompress: the middle file is gzipped at the next rotation.
    logrotate()
    nagios.append(alert(T0 + 5, "LDP session", "CRITICAL") + alert(T0 + 6, "LDP session",
                                                                   "OK"))
    logrotate()
    middle = tmp_path / "nagios.log.1"
    with gzip.open(tmp_path / "nagios.log.1.gz", "wb") as out:
        out.write(middle.read_bytes())
    shutil.copystat(middle, tmp_path / "nagios.log.1.gz")  # gzip keeps the time
    middle.unlink()
    sent, said = read(tmp_path, follower, forwarder, caplog)
    assert sent == []
    assert said == [f"{tmp_path / 'nagios.log.1.gz'} (rotated between two reads of {log}) "
                    "is compressed: what it holds is not read"]


def test_a_position_kept_by_an_earlier_version_reads_the_archives_after_its_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A position of [device, inode, offset] has no time: the old file's, when found,
    bounds the archives read; with it not found, none is read, said."""
    follower, forwarder, nagios = begin(tmp_path, tmp_path / "archives")
    follower.finish()
    state = json.loads((tmp_path / "state.json").read_text())
    state["log"]["position"] = state["log"]["position"][:3]
    (tmp_path / "state.json").write_text(json.dumps(state))
    nagios.append(alert(T0 + 1, "BGP peer", "CRITICAL"))
    nagios.rotate()
    nagios.append(alert(T0 + 2, "LDP session", "CRITICAL") + alert(T0 + 3, "LDP session",
                                                                   "OK"))
    nagios.rotate()
    nagios.append(alert(T0 + 4, "BGP peer", "OK"))
    again, forwarder = follower_of(tmp_path)
    assert read(tmp_path, again, forwarder, caplog) == (
        [("PROBLEM", "LDP session", "CRITICAL", str(T0 + 2), None),
         ("RECOVERY", "LDP session", "OK", None, str(T0 + 3)),
         ("PROBLEM", "BGP peer", "CRITICAL", str(T0 + 1), None),
         ("RECOVERY", "BGP peer", "OK", None, str(T0 + 4))], [])
    (tmp_path / "state.json").write_text(json.dumps(state))
    (tmp_path / "archives" / "nagios-11-24-2026-01.log").unlink()  # the old file
    third, forwarder = follower_of(tmp_path)
    sent, said = read(tmp_path, third, forwarder, caplog)
    assert sent == []
    assert len(said) == 1 and said[0].endswith(
        ", nor the archives written since (this position has no time)"), said
