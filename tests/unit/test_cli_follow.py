"""What the followers' commands share (aiops/cli_follow.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aiops.cli import main
from aiops.cli_follow import read_secret
from aiops.errors import InputError


def test_a_secret_file_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    """It ended in a UnicodeDecodeError traceback."""
    secret = tmp_path / "password"
    secret.write_bytes(b"\xff\xfep\x00a\x00s\x00s\x00")  # saved as UTF-16
    with pytest.raises(InputError, match=f"--password-file {secret} cannot be read"):
        read_secret(secret, "AIOPS_TEST_SECRET", "password", "--password-file")


def test_a_secret_file_that_cannot_be_opened_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--token-file .* cannot be read: No such file"):
        read_secret(tmp_path / "gone", "AIOPS_TEST_SECRET", "API token", "--token-file")


@pytest.mark.parametrize("args, message", [
    (["icinga", "check", "--url", "ftp://icinga", "--user", "u"], "--url must be Icinga's"),
    (["icinga", "follow", "--url", "https://icinga", "--user", "u", "--forward",
      "http://127.0.0.1:1"], "no password: give --password-file or set AIOPS_ICINGA_"),
    (["zabbix", "check", "--url", "https://zabbix/api_jsonrpc.php"], "no API token"),
    (["zabbix", "follow", "--url", "zabbix", "--forward", "http://127.0.0.1:1"],
     "--url must be Zabbix's"),
    (["nagios", "follow", "--forward", "127.0.0.1:8080"], "--forward must be an http(s)"),
])
def test_a_bad_connection_option_is_one_line_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
        message: str) -> None:
    """The connection's own checks ran outside the command's error handling: each
    ended in a traceback and exit status 1."""
    for env in ("AIOPS_ICINGA_PASSWORD", "AIOPS_ZABBIX_TOKEN", "AIOPS_ZABBIX_PASSWORD"):
        monkeypatch.delenv(env, raising=False)
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("aiops: error: ") and message in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
