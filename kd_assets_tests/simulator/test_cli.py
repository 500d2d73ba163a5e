"""`python -m kd_assets.simulator`: --help documents every option; the banner names the URL."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import requests

from kd_assets.kingdee import protocol as p
from kd_assets.simulator import SimulatorConfig
from kd_assets.simulator.config import parse_args


def test_help_documents_every_option():
    result = subprocess.run([sys.executable, "-m", "kd_assets.simulator", "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    for f in fields(SimulatorConfig):
        assert "--" + f.name.replace("_", "-") in result.stdout
    assert "--activity" in result.stdout and "/_sim/" in result.stdout
    assert "--forms-dir DIR" in result.stdout and "BD_MATERIAL" in result.stdout


def test_options_map_onto_the_config():
    config = parse_args(["--port", "0", "--customers", "12", "--max-limit", "500", "--fail-rate", "0.1",
                         "--shuffle-unordered", "--no-enable-clears-forbid-date", "--acct-id", "x"])
    assert (config.port, config.customers, config.max_limit, config.fail_rate) == (0, 12, 500, 0.1)
    assert config.shuffle_unordered and not config.enable_clears_forbid_date and config.acct_id == "x"
    assert parse_args([]) == SimulatorConfig()


def test_form_options_are_repeatable():
    config = parse_args(["--forms-dir", "a", "--form-dirs", "b", "--rows", "BD_Department=7",
                         "--rows", "BD_Customer=3", "--suppliers", "4", "--materials", "5"])
    assert config.form_dirs == ("a", "b") and config.rows == {"BD_Department": 7, "BD_Customer": 3}
    assert (config.suppliers, config.materials) == (4, 5)


def test_bill_lines_take_a_count_or_a_range():
    config = parse_args(["--bill-lines", "FSaleOrderEntry=1-4", "--bill-lines", "FSaleOrderPlan=2"])
    assert config.bill_lines == {"FSaleOrderEntry": (1, 4), "FSaleOrderPlan": (2, 2)}
    for bad in ("FSaleOrderEntry", "FSaleOrderEntry=5-2", "=3", "FSaleOrderEntry=x"):
        result = subprocess.run([sys.executable, "-m", "kd_assets.simulator", "--bill-lines", bad],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "expected ENTITY=N or ENTITY=MIN-MAX" in result.stderr


def test_cli_prints_base_url_and_serves(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "kd_assets.simulator", "--port", "0",
                                "--customers", "50", "--db", str(tmp_path / "sim.db")],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        banner = process.stdout.readline()
        base_url = banner.rsplit(" ", 1)[-1].strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/k3cloud/")
        login = requests.post(base_url + p.VALIDATE_USER + p.SERVICE_SUFFIX,
                              json={"parameters": ["kd-demo", "demo", "demo-pass", 2052]}, timeout=10)
        assert login.json()["LoginResultType"] == 1
        banner += "".join(process.stdout.readline() for _ in range(11))
        assert "BD_Supplier: 300 rows" in banner and "BD_Customer: 50 rows" in banner
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (tmp_path / "sim.db").stat().st_size > 0
