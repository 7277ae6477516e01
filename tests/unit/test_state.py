"""What `up` keeps in its data folder: secrets generated once per folder, the CLI's state, env.sh."""

import json
import os
import shlex
import stat
import subprocess

import pytest

from gourmetgram.settings import Settings
from gourmetgram_tools import state, up
from gourmetgram_tools.local import LocalStack, StartupError, on_loopback
from gourmetgram_tools.occupancy import FolderLock
from gourmetgram_tools.ownership import NotTrusted
from gourmetgram_tools.up import adopt_secrets, banner, tightened_line


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_folder_gets_random_secrets_of_its_own_kept_private(tmp_path):
    first = state.folder_secrets(tmp_path / "a", {})
    second = state.folder_secrets(tmp_path / "b", {})
    assert first.generated == state.GENERATED and not first.kept
    assert set(first.values) == set(state.GENERATED)
    for name in state.GENERATED:
        assert first.values[name] != second.values[name]
        assert len(first.values[name]) >= 32 and len(first.values[name].split()) == 1
    assert first.values["MINIO_PASSWORD"] != Settings().minio_password
    assert mode(first.path) == 0o600
    assert json.loads(first.path.read_text()) == first.values
    # What Settings accepts (one word, 16 characters for the review token, 8 for MinIO's password)
    Settings(
        minio_password=first.values["MINIO_PASSWORD"],
        webhook_token=first.values["WEBHOOK_TOKEN"],
        review_token=first.values["REVIEW_TOKEN"],
    )


def test_a_folder_that_ran_on_the_public_defaults_is_told_it_gets_new_ones(tmp_path):
    (tmp_path / "old" / "minio").mkdir(parents=True)  # before this folder had secrets of its own
    assert any(
        "ran before on the public default password" in line
        for line in state.folder_secrets(tmp_path / "old", {}).describe()
    )
    assert not state.folder_secrets(tmp_path / "new", {}).replaced
    assert not state.folder_secrets(tmp_path / "old", {}).replaced  # told once: now they are its own


def test_the_next_start_reuses_them(tmp_path):
    made = state.folder_secrets(tmp_path, {})
    again = state.folder_secrets(tmp_path, {})
    assert again.values == made.values and again.kept == state.GENERATED and not again.generated


def test_the_environment_wins_and_is_not_stored(tmp_path):
    made = state.folder_secrets(tmp_path, {"MINIO_PASSWORD": "chosen-by-the-operator"})
    assert "MINIO_PASSWORD" not in made.values and "MINIO_PASSWORD" not in json.loads(made.path.read_text())
    stored = state.folder_secrets(tmp_path, {})  # the folder's own then fills only what the environment lacks
    assert stored.generated == ("MINIO_PASSWORD",) and stored.values["WEBHOOK_TOKEN"] == made.values["WEBHOOK_TOKEN"]
    assert state.folder_secrets(tmp_path, {"WEBHOOK_TOKEN": "mine"}).values.keys() == {"MINIO_PASSWORD", "REVIEW_TOKEN"}


def test_a_public_default_given_explicitly_is_warned_about(tmp_path):
    found = state.folder_secrets(tmp_path, {"MINIO_PASSWORD": Settings().minio_password})
    assert found.public == ("MINIO_PASSWORD",)
    assert any("WARNING: MINIO_PASSWORD is the public default" in line for line in found.describe())
    assert not state.folder_secrets(tmp_path, {"MINIO_PASSWORD": "something-else"}).public


def test_a_damaged_secrets_file_is_refused_naming_it(tmp_path):
    (tmp_path / state.SECRETS_FILE).write_text("[1, 2]")
    (tmp_path / state.SECRETS_FILE).chmod(0o600)
    with pytest.raises(state.StateError, match="secrets.json is not what `gourmetgram up` writes"):
        state.folder_secrets(tmp_path, {})


@pytest.mark.parametrize(
    "loose", [0o644, 0o640, 0o606, 0o620], ids=["world-readable", "group-readable", "world-writable", "group-writable"]
)
def test_a_secrets_file_others_can_reach_is_refused_untouched(tmp_path, loose):
    """Restored or copied with loose rights, its secrets may have been read (or changed): the operator must
    check before it is used again, as ssh refuses a private key others can read."""
    path = tmp_path / state.SECRETS_FILE
    path.write_text(json.dumps({name: "s" * 40 for name in state.GENERATED}))
    path.chmod(loose)
    with pytest.raises(
        state.StateError,
        match=rf"secrets.json holds secrets and is readable or writable by others "
        rf"\(mode 0{loose:o}\).*chmod 600 {path}",
    ):
        state.folder_secrets(tmp_path, {})
    assert mode(path) == loose and json.loads(path.read_text())["MINIO_PASSWORD"] == "s" * 40
    path.chmod(0o600)  # what the operator does once they have checked
    assert state.folder_secrets(tmp_path, {}).kept == state.GENERATED


def test_a_secrets_file_of_another_user_is_refused(tmp_path):
    """A secrets.json planted in the folder would give `up` passwords its owner knows."""
    state.folder_secrets(tmp_path, {})
    with pytest.raises(
        state.StateError,
        match=rf"secrets.json belongs to .*uid {os.geteuid()}.*not to you "
        rf"\(.*uid {os.geteuid() + 1}\)",
    ):
        state.folder_secrets(tmp_path, {}, uid=os.geteuid() + 1)


def test_write_private_writes_a_fresh_file_never_one_put_there_and_replaces_the_file_whole(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("old")
    path.chmod(0o644)
    state.write_private(path, "new")
    assert path.read_text() == "new" and mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary left


def test_write_private_does_not_follow_a_link_at_the_temporary_name(tmp_path, monkeypatch):
    """The temporary's name is random and created new (O_EXCL | O_NOFOLLOW): a link planted at a guessed name
    (the old name was the pid's) cannot make it write a secret elsewhere."""
    target = tmp_path / "elsewhere"
    monkeypatch.setattr(state.secrets, "token_hex", lambda n: "guessed")
    (tmp_path / ".x.json.guessed.tmp").symlink_to(target)
    with pytest.raises(state.StateError, match="cannot write .*x.json: File exists"):
        state.write_private(tmp_path / "x.json", "secret")
    assert not target.exists() and not (tmp_path / "x.json").exists()


def test_adopt_secrets_gives_the_stack_the_folders_secrets(tmp_path):
    stack = LocalStack(Settings(), tmp_path)
    found = adopt_secrets(stack, {})
    s = stack.settings
    assert (s.minio_password, s.webhook_token, s.review_token) == tuple(found.values[n] for n in state.GENERATED)
    assert s.local_review_token == found.values["REVIEW_TOKEN"]
    text = banner(stack, found, None)
    assert "generated MINIO_PASSWORD, WEBHOOK_TOKEN, REVIEW_TOKEN for this folder" in text
    assert f"password {found.values['MINIO_PASSWORD']}" in text


def test_the_cli_state_and_env_script(tmp_path):
    data = tmp_path / "my data"
    s = Settings(
        minio_url="http://127.0.0.1:19000",
        minio_password="Pass.w0rd~_-1234",
        review_token="r" * 20,
        tools_dir=tmp_path / "tools",
    )
    env_sh = state.write_cli_state(data, s)
    stored = json.loads((data / state.CLI_FILE).read_text())
    assert stored["MINIO_URL"] == "http://127.0.0.1:19000" and stored["MINIO_PASSWORD"] == "Pass.w0rd~_-1234"
    assert stored["REVIEW_TOKEN"] == "r" * 20 and "WORKERS" not in stored
    assert mode(data / state.CLI_FILE) == mode(env_sh) == 0o600
    assert (data / "bin" / "mc").readlink() == tmp_path / "tools" / "mc"
    script = (
        f"source '{env_sh}' && source '{env_sh}' && echo $PATH && echo $GOURMETGRAM_DATA && "
        "echo $MC_HOST_local && type -P gourmetgram && echo $GOURMETGRAM_WEB"
    )
    shell = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=True
    )
    path, folder, mc_host, gourmetgram, web = shell.stdout.splitlines()
    assert path == f"{data.resolve() / 'bin'}:/usr/bin:/bin"  # first, and once however often sourced
    assert folder == str(data.resolve())
    assert mc_host == "http://gourmetgram:Pass.w0rd~_-1234@127.0.0.1:19000"
    assert gourmetgram == str(data.resolve() / "bin" / "gourmetgram")
    assert web == f"http://127.0.0.1:{s.web_port}"


def source(script, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", f"source {shlex.quote(str(script))} && env"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_env_sh_runs_nothing_of_the_data_folders_name(tmp_path):
    """shlex.quote keeps a newline as it is, which ends a comment: a name in a comment would run its next line."""
    data = tmp_path / "x\ntouch pwned\n"
    data.mkdir()
    script = tmp_path / "env.sh"
    script.write_text(state.env_script(data, Settings()))
    shell = source(script, tmp_path)
    assert shell.returncode == 0, shell.stderr
    assert not (tmp_path / "pwned").exists()
    assert f"GOURMETGRAM_DATA={data.resolve()}" in shell.stdout  # the name is still given, whole, as a value


@pytest.mark.parametrize("password", ["p@ss:w/rd-1234", "100%sure!", "with space"])
def test_a_password_mc_cannot_read_from_a_url_gets_the_alias_command_instead(tmp_path, password):
    """The pinned mc signs with MC_HOST_'s password as it is, percent-encoding and all (checked against MinIO:
    'signature does not match'): env.sh leaves the alias out, and `up` prints `mc alias set`, quoted."""
    s = Settings(minio_url="http://127.0.0.1:19000", minio_password=password)
    assert state.mc_host(s) is None
    script = tmp_path / "env.sh"
    script.write_text(state.env_script(tmp_path, s))
    shell = source(script, tmp_path)
    assert shell.returncode == 0 and "MC_HOST_local" not in shell.stdout and "GOURMETGRAM_DATA=" in shell.stdout
    command = f"mc alias set local http://127.0.0.1:19000 gourmetgram {shlex.quote(password)}"
    assert state.mc_alias_command(s) == command
    assert shlex.split(command)[-1] == password
    stack = LocalStack(s, tmp_path)
    text = banner(stack, None, script)
    assert f"({command})" in text and f"run once `{command}`" in text and "knows this MinIO" not in text
    assert "knows this MinIO" in banner(LocalStack(Settings(minio_password="Plain-1234"), tmp_path), None, script)


def test_the_banners_alias_command_is_quoted_for_a_shell(tmp_path):
    text = banner(LocalStack(Settings(minio_password="a'b c;rm -rf ~"), tmp_path), None, None)
    assert "(mc alias set local http://127.0.0.1:9000 gourmetgram 'a'\"'\"'b c;rm -rf ~')" in text


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:5123"),
        ("0.0.0.0", "http://127.0.0.1:5123"),
        ("::", "http://127.0.0.1:5123"),
        ("::1", "http://[::1]:5123"),
        ("photos.example", "http://photos.example:5123"),
    ],
)
def test_the_web_url_given_to_the_shell_is_one_a_browser_reaches(host, url):
    assert state.web_url(Settings(host=host, web_port=5123)) == url


def test_an_operator_command_reads_the_state_under_its_environment(tmp_path):
    state.write_cli_state(tmp_path, Settings(minio_url="http://127.0.0.1:19000", minio_password="stored-password"))
    found = state.operator_state(tmp_path, {"MINIO_PASSWORD": "from-the-environment", "MINIO_USER": ""})
    assert found.environ["MINIO_URL"] == "http://127.0.0.1:19000"
    assert found.environ["MINIO_PASSWORD"] == "from-the-environment"
    assert found.environ["MINIO_USER"] == "gourmetgram"  # an empty variable is unset, as Settings reads it
    assert found.origin("MINIO_URL") == f"{tmp_path / state.CLI_FILE}, written by `gourmetgram up`"
    assert found.origin("MINIO_PASSWORD") == "the environment (MINIO_PASSWORD)"


def test_without_a_state_an_operator_command_runs_on_its_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = state.operator_state(None, {"BATCH_SIZE": "3"})
    assert found.environ == {"BATCH_SIZE": "3"} and found.state_file is None
    assert found.origin("MINIO_URL").startswith("the default (MINIO_URL unset")
    with pytest.raises(state.StateError, match="holds no state of `gourmetgram up`"):
        state.operator_state(tmp_path / "elsewhere", {})
    state.write_cli_state(tmp_path / ".gourmetgram", Settings(minio_url="http://127.0.0.1:19000"))
    assert state.operator_state(None, {}).environ["MINIO_URL"] == "http://127.0.0.1:19000"


def test_a_folder_that_cannot_be_written_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "a file").write_text("")
    with pytest.raises(state.StateError, match=r"cannot read .*a file/secrets.json: Not a directory"):
        state.folder_secrets(tmp_path / "a file", {})
    with pytest.raises(state.StateError, match=r"cannot write .*a file/cli.json"):
        state.write_cli_state(tmp_path / "a file", Settings())


def test_an_operator_command_refuses_a_state_folder_of_another_user(tmp_path, monkeypatch):
    """As git's safe.directory: a ./.gourmetgram someone else owns would point the operator's commands (export,
    review import) at a MinIO of theirs."""
    state.write_cli_state(tmp_path / ".gourmetgram", Settings(minio_url="http://127.0.0.1:19000"))
    monkeypatch.chdir(tmp_path)
    other = os.geteuid() + 1
    with pytest.raises(state.StateError, match=rf"\.gourmetgram belongs to .*uid {os.geteuid()}.*not to you"):
        state.operator_state(None, {}, uid=other)
    with pytest.raises(state.StateError, match="belongs to"):
        state.operator_state(tmp_path / ".gourmetgram", {}, uid=other)
    assert state.operator_state(None, {}).environ["MINIO_URL"] == "http://127.0.0.1:19000"


def test_an_operator_command_refuses_a_cli_json_others_can_read(tmp_path):
    state.write_cli_state(tmp_path, Settings())
    (tmp_path / state.CLI_FILE).chmod(0o644)
    with pytest.raises(state.StateError, match="cli.json holds secrets and is readable or writable by others"):
        state.operator_state(tmp_path, {})


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_an_operator_command_refuses_a_cli_json_another_user_chowned(tmp_path, monkeypatch):
    """The same, with a real other owner (the uid check above is injected)."""
    folder = tmp_path / ".gourmetgram"
    folder.mkdir()
    (folder / state.CLI_FILE).write_text(json.dumps({"MINIO_URL": "http://127.0.0.1:1"}))
    (folder / state.CLI_FILE).chmod(0o600)
    os.chown(folder / state.CLI_FILE, 65534, 65534)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(state.StateError, match="cli.json belongs to .*uid 65534"):
        state.operator_state(None, {"MINIO_PASSWORD": "the operator's own"})


def test_up_makes_its_data_folder_private(tmp_path):
    """MinIO's store under it holds the function's and the frontend's secret keys in plain text, and every
    photo and record: only the operator may enter it, whatever the umask."""
    lock = FolderLock(tmp_path / "new" / "data")
    old = os.umask(0o022)
    try:
        lock.acquire()
    finally:
        os.umask(old)
    try:
        assert mode(tmp_path / "new" / "data") == 0o700 and lock.tightened_from is None
    finally:
        lock.release()


def test_up_tightens_its_own_data_folder_that_others_could_enter_and_says_so(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    stack = LocalStack(on_loopback(Settings(), free=True), data)
    stack.claim()
    try:
        assert mode(data) == 0o700 and stack.tightened_from == 0o755
        assert tightened_line(stack) == (
            f"{data.resolve()} was mode 0755, open to other users: now 0700 (MinIO's "
            "store under it holds the parts' secret keys, every photo and record)"
        )
    finally:
        stack._lock.release()
    again = FolderLock(data)
    again.acquire()
    again.release()
    assert again.tightened_from is None  # said once


def test_up_says_it_tightened_its_data_folder_before_anything_starts(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o750)
    stack = LocalStack(on_loopback(Settings(), free=True), data)

    def start():
        raise StartupError("stopped here")

    monkeypatch.setattr(stack, "start", start)
    said = []
    with pytest.raises(StartupError):
        up.run(stack, said.append, environ={})
    assert said == [
        f"{data.resolve()} was mode 0750, open to other users: now 0700 (MinIO's store under it holds "
        "the parts' secret keys, every photo and record)"
    ]


def test_up_refuses_a_data_folder_of_another_user(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    other = os.geteuid() + 1
    with pytest.raises(NotTrusted, match=rf"data belongs to .*uid {os.geteuid()}.*not to you"):
        FolderLock(data, uid=other).acquire()
    assert mode(data) == 0o755 and not (data / "up.pid").exists()  # not touched
    monkeypatch.setattr(os, "geteuid", lambda: other)
    with pytest.raises(StartupError, match="belongs to"):
        LocalStack(on_loopback(Settings(), free=True), data).claim()
