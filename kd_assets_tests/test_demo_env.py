"""`make demo` writes its settings into the project's .env for the CLIs of other shells: a user's
own lines survive and win, and a restart rewrites only the demo's block."""

from __future__ import annotations

from kd_assets.demo_env import BEGIN, END, demo_environment, read_env_file, write_env_file


def test_the_demo_writes_what_the_user_did_not_set_and_keeps_the_users_lines(tmp_path, monkeypatch):
    monkeypatch.delenv("KD_SERVER_URL", raising=False)
    monkeypatch.delenv("KD_WARN_REJECT_SHARE", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("# mine\nKD_WARN_REJECT_SHARE=0.05\nOTHER='x y'\n", encoding="utf-8")
    env = demo_environment(tmp_path, tmp_path / ".dagster_home", 8090)
    assert env["KD_WARN_REJECT_SHARE"] == "0.05"          # the user's .env wins over the demo's 3%
    assert env["KD_RECONCILE_CRON"] == "*/10 * * * *"
    written = write_env_file(env_file, {**env, "KD_DEMO_UI_PORT": "3001"})
    assert "KD_WARN_REJECT_SHARE" not in written and "KD_DEMO_UI_PORT" not in written
    assert {"DAGSTER_HOME", "KD_SERVER_URL", "KD_SYNC_START", "KD_RECONCILE_CRON"} <= set(written)
    text = env_file.read_text(encoding="utf-8")
    assert text.startswith("# mine\nKD_WARN_REJECT_SHARE=0.05\nOTHER='x y'\n")
    assert "KD_RECONCILE_CRON='*/10 * * * *'" in text

    env["KD_SERVER_URL"] = "http://127.0.0.1:9999/k3cloud/"
    write_env_file(env_file, env)
    again = env_file.read_text(encoding="utf-8")
    assert again.count(BEGIN) == again.count(END) == 1 and "9999" in again
    values, _ = read_env_file(env_file)
    assert values == {"KD_WARN_REJECT_SHARE": "0.05", "OTHER": "x y"}


def test_the_dagster_cli_reads_the_written_file(tmp_path):
    from dagster._core.secrets.env_file import get_env_var_dict

    write_env_file(tmp_path / ".env", {"KD_RECONCILE_CRON": "*/10 * * * *", "DAGSTER_HOME": "/x/.dagster_home"})
    assert get_env_var_dict(str(tmp_path)) == {"DAGSTER_HOME": "/x/.dagster_home",
                                               "KD_RECONCILE_CRON": "*/10 * * * *"}
