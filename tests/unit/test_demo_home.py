"""The demo's home: a second `make demo` replaces what the first left, and only that."""

import json

from cloudinsights_dagster.demo.home import DemoHome
from cloudinsights_dagster.demo.run import main


def test_reset_replaces_only_a_demo_home(tmp_path):
    home = DemoHome(tmp_path, tmp_path / "dagster")
    home.prepare()
    (tmp_path / "warehouse.db").write_text("x")
    (tmp_path / "topology").mkdir()
    (tmp_path / "dagster" / "storage").mkdir()
    assert home.reset() is False  # no record: not the demo's, left alone
    assert (tmp_path / "warehouse.db").exists()

    home.save_record({"state": "finished"})
    assert home.reset() is True
    assert not (tmp_path / "warehouse.db").exists()
    assert not (tmp_path / "topology").exists()
    assert not (tmp_path / "dagster" / "storage").exists()
    assert (tmp_path / "dagster" / "dagster.yaml").exists()  # the instance's settings stay
    assert home.load_record() is None


def test_demo_refuses_a_warehouse_it_did_not_make(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLOUDINSIGHTS_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "warehouse.db").write_text("someone's data")
    assert main([]) == 2
    assert "did not make" in capsys.readouterr().out
    assert (tmp_path / "warehouse.db").read_text() == "someone's data"


def test_demo_refuses_while_its_ui_runs(tmp_path, monkeypatch, capsys):
    import os

    monkeypatch.setenv("CLOUDINSIGHTS_HOME", str(tmp_path))
    home = DemoHome.from_env()
    home.save_record({"state": "finished"})
    home.ui_pid.write_text(str(os.getpid()))  # a live process stands for the UI
    assert main([]) == 2
    assert "stop it" in capsys.readouterr().out
    assert json.loads(home.record.read_text()) == {"state": "finished"}
