# SPDX-License-Identifier: GPL-3.0-or-later
"""Each bad option of each module fails the task with its message, and nothing connects (issue 9)."""
from __future__ import annotations

import json

import pytest
from ansible_collections.o365.outlook.tests.unit.utils.module_args import patch_module_args

from ansible_collections.o365.outlook.plugins.module_utils.graph import _session
from ansible_collections.o365.outlook.plugins.module_utils.module import _outlook_module
from ansible_collections.o365.outlook.plugins.modules import (outlook_group_photo, outlook_photo_update_settings, outlook_user_photo,
                                                              outlook_user_photo_info, outlook_user_photo_sync)

SINGLE, INFO, SYNC = outlook_user_photo, outlook_user_photo_info, outlook_user_photo_sync
GROUP, SETTINGS = outlook_group_photo, outlook_photo_update_settings
TOKEN = dict(access_token="bad-options-token")

# (module, arguments over the module's valid base arguments, fragment of the failure message).
# Paths: "{file}" is an existing regular file, "{empty}" an empty one, "{dir}" an empty directory, "{jpeg}" a good image,
# "{link}" a symbolic link to "{file}".
BAD_OPTIONS = [
    (SINGLE, dict(timeout=-1), "timeout must be a number of seconds"),
    (SINGLE, dict(pixel_tolerance=300.0), "pixel_tolerance must be between 0 and 255, got 300.0."),
    (SINGLE, dict(wait_timeout=0), "wait_timeout must be a positive number of seconds, got 0."),
    (SINGLE, dict(backup_dir="{file}/sub"), "backup_dir {file}/sub cannot be used: {file} is not a directory."),
    (SINGLE, dict(src="{dir}/missing.jpg"), "src {dir}/missing.jpg does not exist on the host that runs the module"),
    (SINGLE, dict(src="{empty}"), "src {empty} is empty."),
    (SINGLE, dict(user=""), "user is empty: give an object id or a user principal name, or omit it for /me."),
    (SINGLE, dict(user="   "), "user is empty"),
    (SINGLE, dict(user=" a@x"), "user ' a@x' has leading or trailing white space: remove it."),
    (SINGLE, dict(api="outlook_v2", state="absent", src=None), "The Outlook REST v2.0 API cannot remove a photo: use api=graph for state=absent."),
    (SINGLE, dict(cloud="china", api="outlook_v2"), "The Outlook REST v2.0 API has no endpoint in the china cloud: use api=graph, or set api_url."),
    (SINGLE, dict(api_url="http://graph.example/v1.0"), "api_url must be an https:// URL"),
    (SINGLE, dict(auth_method="client_certificate"), "auth_method=client_certificate needs client_certificate_path"),
    (SINGLE, dict(client_certificate_password="pw"), "client_certificate_password is only used with a client certificate"),
    (SINGLE, dict(ca_path="{dir}/ca.pem"), "ca_path {dir}/ca.pem does not exist or is not a file"),
    (INFO, dict(parallelism=0), "parallelism must be between 1 and 64, got 0."),
    (INFO, dict(parallelism=65), "parallelism must be between 1 and 64, got 65."),
    (INFO, dict(timeout=-1), "timeout must be a number of seconds"),
    (INFO, dict(dest_dir="{file}/sub"), "dest_dir {file}/sub cannot be used: {file} is not a directory."),
    (INFO, dict(users=[""]), "user is empty"),
    (INFO, dict(users=["a@x", "b@x "]), "user 'b@x ' has leading or trailing white space"),
    (INFO, dict(users=None, user=" a@x"), "leading or trailing white space"),
    (INFO, dict(api="outlook_v2", users=None, all_users=True), "all_users and include_sizes need api=graph"),
    (INFO, dict(api="outlook_v2", include_sizes=True), "all_users and include_sizes need api=graph"),
    (INFO, dict(cloud="china", api="outlook_v2"), "has no endpoint in the china cloud"),
    (INFO, dict(api_url="http://graph.example/v1.0"), "api_url must be an https:// URL"),
    (INFO, dict(auth_method="client_certificate"), "auth_method=client_certificate needs client_certificate_path"),
    (INFO, dict(client_certificate_password="pw"), "client_certificate_password is only used with a client certificate"),
    (INFO, dict(ca_path="{dir}/ca.pem"), "does not exist or is not a file"),
    (SYNC, dict(parallelism=0), "parallelism must be between 1 and 64, got 0."),
    (SYNC, dict(parallelism=65), "parallelism must be between 1 and 64, got 65."),
    (SYNC, dict(parallelism=16, max_parallelism=8), "max_parallelism must be between parallelism (16) and 128, got 8"),
    (SYNC, dict(max_parallelism=129), "max_parallelism must be between parallelism (8) and 128, got 129"),
    (SYNC, dict(timeout=-1), "timeout must be a number of seconds"),
    (SYNC, dict(pixel_tolerance=300.0), "pixel_tolerance must be between 0 and 255"),
    (SYNC, dict(backup_dir="{file}/sub"), "backup_dir {file}/sub cannot be used: {file} is not a directory."),
    (SYNC, dict(src_dir="{dir}", file_pattern="(unclosed"), "file_pattern '(unclosed' is not a valid regular expression"),
    (SYNC, dict(src_dir="{dir}", file_pattern="^(.+)$"), "file_pattern '^(.+)$' needs a named group (?P<user>...) that captures the user."),
    (SYNC, dict(src_dir="{dir}/missing"), "src_dir {dir}/missing does not exist or is not a directory"),
    (SYNC, dict(api="outlook_v2", absent_users=["b@x"]), "The Outlook REST v2.0 API cannot remove a photo: use api=graph to remove photos."),
    (SYNC, dict(api="outlook_v2", photos=[dict(user="b@x", state="absent")]), "use api=graph to remove photos"),
    (SYNC, dict(cloud="china", api="outlook_v2"), "has no endpoint in the china cloud"),
    (SYNC, dict(api_url="http://graph.example/v1.0"), "api_url must be an https:// URL"),
    (SYNC, dict(auth_method="client_certificate"), "auth_method=client_certificate needs client_certificate_path"),
    (SYNC, dict(client_certificate_password="pw"), "client_certificate_password is only used with a client certificate"),
    (SYNC, dict(ca_path="{dir}/ca.pem"), "does not exist or is not a file"),
    (SYNC, dict(state_file="{dir}"), "state_file {dir} is a directory: give the path of a file."),
    (SYNC, dict(state_file="{dir}/missing/state.json"), "state_file {dir}/missing/state.json cannot be used: its directory {dir}/missing does not exist"),
    (SYNC, dict(state_file="{link}"), "state_file: {link} is a symbolic link; refusing to write through it."),
    (GROUP, dict(group=""), "group '' is empty: give an object id, a mail or a mailNickname."),
    (GROUP, dict(group=" sales"), "padded with white space"),
    (GROUP, dict(api="outlook_v2"), "Group and Team photos need api=graph: the Outlook REST v2.0 API has user photos only."),
    (GROUP, dict(endpoint="team", state="absent", src=None), "A Team photo cannot be removed"),
    (GROUP, dict(src="{empty}"), "src {empty} is empty."),
    (GROUP, dict(pixel_tolerance=300.0), "pixel_tolerance must be between 0 and 255"),
    (GROUP, dict(backup_dir="{file}/sub"), "backup_dir {file}/sub cannot be used: {file} is not a directory."),
    (GROUP, dict(api_url="http://graph.example/v1.0"), "api_url must be an https:// URL"),
    (SETTINGS, dict(allowed_roles=["not-a-guid"]), "not-a-guid"),
    (SETTINGS, dict(api_url="https://graph.example/api"), "photoUpdateSettings is a beta API"),
    (SETTINGS, dict(api="outlook_v2"), "The Outlook REST v2.0 API has no photo policy: use api=graph"),
]


@pytest.fixture
def paths(tmp_path):
    from ansible_collections.o365.outlook.tests.unit.plugins.module_utils.test_bulk import jpeg
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "dir").mkdir()
    (tmp_path / "good.jpg").write_bytes(jpeg((200, 0, 0)))
    (tmp_path / "link").symlink_to(tmp_path / "file")
    return dict(file=str(tmp_path / "file"), empty=str(tmp_path / "empty.jpg"), dir=str(tmp_path / "dir"), jpeg=str(tmp_path / "good.jpg"),
                link=str(tmp_path / "link"))


def base_arguments(module):
    if module is SINGLE:
        return dict(TOKEN, user="a@x", src="{jpeg}")
    if module is INFO:
        return dict(TOKEN, users=["a@x"])
    if module is GROUP:
        return dict(TOKEN, group="sales@x", src="{jpeg}")
    if module is SETTINGS:
        return dict(TOKEN, source="cloud")
    return dict(TOKEN, photos=[dict(user="a@x", src="{jpeg}")])


def filled(value, paths):
    if isinstance(value, str):
        return value.format(**paths)
    if isinstance(value, list):
        return [filled(item, paths) for item in value]
    if isinstance(value, dict):
        return {key: filled(item, paths) for key, item in value.items()}
    return value


@pytest.fixture
def connections(monkeypatch):
    """Every attempt to connect: open_client() calls and TLS sessions made. No request may leave."""
    opened = []
    original_init = _session.TlsSession.__init__

    def counting_init(self, *args, **kwargs):
        opened.append("TlsSession")
        original_init(self, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("a request was sent")
    monkeypatch.setattr(_session.TlsSession, "__init__", counting_init)
    monkeypatch.setattr(_session.TlsSession, "request", refuse)
    monkeypatch.setattr(_outlook_module, "open_client", lambda *args, **kwargs: opened.append("open_client"))
    for name in ("O365_ACCESS_TOKEN", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                 "AZURE_CLOUD", "O365_API_URL", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    return opened


def run_module(module, args, capfd):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capfd.readouterr().out)


@pytest.mark.parametrize("module, bad, message", BAD_OPTIONS,
                         ids=["%s-%s" % (m.__name__.rsplit(".", 1)[-1], "-".join(sorted(bad))) for m, bad, _msg in BAD_OPTIONS])
def test_bad_option_fails_before_anything_connects(module, bad, message, paths, connections, capfd):
    args = filled(dict(base_arguments(module), **bad), paths)
    result = run_module(module, {key: value for key, value in args.items() if value is not None}, capfd)
    assert result.get("failed") is True, result
    assert filled(message, paths) in result["msg"]
    assert connections == []


@pytest.mark.parametrize("module", [SINGLE, INFO, SYNC])
def test_the_base_arguments_are_good(module, paths, connections, capfd):
    """The table means something only if its base arguments pass every check: they reach open_client()."""
    run_module(module, filled(base_arguments(module), paths), capfd)
    assert connections == ["open_client"]


def float_options(module):
    """Every option of the module's real argument spec that Ansible converts to a float."""
    return sorted(name for name, option in module.MODULE.argument_spec().items() if option.get("type") == "float")


# (module, float option): every one of every module, from the argument specs themselves.
FLOAT_OPTIONS = [(module, name) for module in (SINGLE, INFO, SYNC) for name in float_options(module)]
NOT_FINITE = [float("nan"), float("inf"), float("-inf"), "nan", "NaN", "inf", "-Infinity"]


def test_the_float_table_covers_the_options_issue_17_names():
    assert {(m.__name__.rsplit(".", 1)[-1], name) for m, name in FLOAT_OPTIONS} >= {
        ("outlook_user_photo", "pixel_tolerance"), ("outlook_user_photo", "timeout"), ("outlook_user_photo", "request_timeout"),
        ("outlook_user_photo_sync", "pixel_tolerance"), ("outlook_user_photo_sync", "run_timeout"),
        ("outlook_user_photo_info", "run_timeout")}


@pytest.mark.parametrize("value", NOT_FINITE, ids=repr)
@pytest.mark.parametrize("module, option", FLOAT_OPTIONS,
                         ids=["%s-%s" % (m.__name__.rsplit(".", 1)[-1], name) for m, name in FLOAT_OPTIONS])
def test_regression_a_float_option_that_is_not_finite_fails_naming_it(module, option, value, paths, connections, capfd):
    """issue 17: pixel_tolerance=nan passed the 0-255 check (nan compares false), and every user was uploaded every night."""
    args = filled(dict(base_arguments(module), **{option: value}), paths)
    result = run_module(module, args, capfd)
    assert result.get("failed") is True, result
    assert result["msg"].startswith(option + " must be"), result["msg"]
    assert connections == []
