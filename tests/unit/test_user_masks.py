"""User names in authentication messages: masked by each format's own wording.

Login failures rarely carry a label naming the account, so without these masks every
account tried made a new template (15 each for two kinds on the templates benchmark).
"""

from __future__ import annotations

import pytest

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.templates import alert_text, event_text, template
from aiops.learning.users import mask_users
from aiops.models import Alert

# One message of each format with the account names in it, and its template.
MASKED = [
    ("Failed password for invalid user oracle from 10.1.2.3 port 52814 ssh2",
     "failed password for invalid user <user> from <ip> port <num> ssh<num>"),
    ("Failed password for root from 198.51.100.7 port 37291 ssh2",
     "failed password for <user> from <ip> port <num> ssh<num>"),
    ("Accepted publickey for deploy from 10.0.0.5 port 44321 ssh2: RSA SHA256:abc",
     "accepted publickey for <user> from <ip> port <num> ssh<num>: rsa sha<num>:abc"),
    ("Invalid user admin from 198.51.100.7 port 37292",
     "invalid user <user> from <ip> port <num>"),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=203.0.113.9  user=root",
     "pam_unix(sshd:auth): authentication failure; logname= uid=<num> euid=<num> tty=ssh "
     "ruser= rhost=<ip> user=<user>"),
    ("pam_unix(sshd:session): session opened for user alice(uid=1001) by (uid=0)",
     "pam_unix(sshd:session): session opened for user <user>(uid=<num>) by (uid=<num>)"),
    ("sudo:     mark : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/mark ; "
     "USER=root ; COMMAND=/usr/bin/id",
     "sudo: <user> : <num> incorrect password attempts ; tty=pts/<num> ; pwd=/home/<user> ; "
     "user=<user> ; command=/usr/bin/id"),
    ("FAILED SU (to root) jdoe on pts/0", "failed su (to <user>) <user> on pts/<num>"),
    ("Successful su for root by jdoe", "successful su for <user> by <user>"),
    ("%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: operator] [Source: 10.1.1.1] "
     "[localport: 22] [Reason: Login Authentication Failed]",
     "%sec_login-<num>-login_failed: login failed [user: <user>] [source: <ip>] "
     "[localport: <num>] [reason: login authentication failed]"),
    ("%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: admin] [Source: 10.0.0.5] "
     "[localport: 22]",
     "%sec_login-<num>-login_success: login success [user: <user>] [source: <ip>] "
     "[localport: <num>]"),
    ("%ASA-6-113005: AAA user authentication Rejected : reason = Invalid password : "
     "server = 10.0.0.10 : user = van der Berg : user IP = 203.0.113.9",
     "%asa-<num>-<num>: aaa user authentication rejected : reason = invalid password : "
     "server = <ip> : user = <user> : user ip = <ip>"),
    ('%ASA-6-605004: Login denied from 10.10.10.10/60358 to outside:10.0.0.1/ssh for '
     'user "root"',
     '%asa-<num>-<num>: login denied from <ip>/<num> to outside:<ip>/ssh for user "<user>"'),
    ("%ASA-6-605005: Login permitted from 10.10.10.10/60358 to inside:10.0.0.1/ssh for "
     "user 'admin'",
     "%asa-<num>-<num>: login permitted from <ip>/<num> to inside:<ip>/ssh for user "
     "'<user>'"),
    ("sshd: SSHD_LOGIN_FAILED: Login failed for user 'emf' from host '142.44.160.173'",
     "sshd: sshd_login_failed: login failed for user '<user>' from host '<ip>'"),
    ("UI_LOGIN_EVENT: User 'noc-mweber' login, class 'j-super-user' [48211]",
     "ui_login_event: user '<user>' login, class 'j-super-user' [<num>]"),
    ("Login failed for user 'SQLAdminUser'. Reason: Password did not match that for the "
     "login provided.",
     "login failed for user '<user>'. reason: password did not match that for the login "
     "provided."),
    ("An account failed to log on. Account For Which Logon Failed: Security ID: NULL SID "
     "Account Name: hllih6420e Account Domain: CORP",
     "an account failed to log on. account for which logon failed: security id: null sid "
     "account name: <user> account domain: corp"),
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_each_format_masks_its_account_names(text: str, expected: str) -> None:
    assert template(text) == expected


def test_accounts_of_one_kind_share_one_template() -> None:
    texts = {template(f"Failed password for invalid user {user} from 10.0.0.{i} port "
                      f"{40000 + i} ssh2")
             for i, user in enumerate(("admin", "svc-ci", "user01", "mkowalski"))}
    assert len(texts) == 1
    # The account's existence is a kind: known and unknown accounts stay apart.
    assert template("Failed password for root from 10.0.0.1 port 1 ssh2") not in texts


@pytest.mark.parametrize("text", [
    "user plane down on upf-01",
    "invalid user count 3",
    "invalid user count from db",  # "db" is no address
    "Failed backup for db01 from snapshot",  # no ``port`` after the source
    "Probe failed for https://shop.example.com port 443",
    "session opened for user-facing API",
    "Quota for user group exceeded",
    "account name: - account domain: -",  # Windows' "no account"
    "login failed [user: ]",  # nothing between the brackets to mask
])
def test_ordinary_wording_is_not_masked(text: str) -> None:
    lowered = text.lower()
    assert mask_users(lowered) == lowered
    assert "<user>" not in template(text)


def test_alert_text_masks_users_without_labels() -> None:
    alert = Alert("a1", "syslog", "sshd_auth_failure", "web-01", "warning",
                  "Failed password for invalid user oracle from 10.1.2.3 port 5 ssh2",
                  1000.0)
    assert event_text(alert) == ("sshd auth failure: failed password for invalid user "
                                 "<user> from <ip> port <num> ssh<num>")
    assert alert.summary.endswith("oracle from 10.1.2.3 port 5 ssh2")  # stored as sent


def test_the_kind_of_login_weighs_over_the_account_for_the_text_model() -> None:
    """Unmasked, a failed login of one account read nearer to a successful login of the
    same account than to a failed login of another; masked, failures read alike."""
    embedder = TemplateEmbedder()  # the real numpy MiniLM
    failed = "Failed password for invalid user {} from 10.0.0.9 port 51234 ssh2"
    accepted = "Accepted publickey for {} from 10.0.0.5 port 4432 ssh2"

    def read(summary: str, users: bool) -> str:
        return alert_text("sshd_auth_failure", summary, users)

    other_account = embedder.similarity(read(failed.format("admin"), False),
                                        read(failed.format("svc-ci"), False))
    other_kind = embedder.similarity(read(failed.format("admin"), False),
                                     read(accepted.format("admin"), False))
    assert other_account < other_kind  # unmasked: the account outweighs the kind
    assert read(failed.format("admin"), True) == read(failed.format("svc-ci"), True)
    masked_kind = embedder.similarity(read(failed.format("admin"), True),
                                      read(accepted.format("deploy"), True))
    assert masked_kind < 1.0
