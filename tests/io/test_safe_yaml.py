"""Issue 9.2: a 1 KB "billion laughs" policy or price file is refused before expansion, fast, in little memory."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
import yaml

from workbench.io.safe_yaml import YAMLBombError, brief, load_yaml

ROOT = Path(__file__).resolve().parents[2]


def billion_laughs(levels: int = 9, width: int = 10) -> str:
    """``a`` holds ten strings; each next anchor holds ten aliases of the previous: 10^levels leaves."""
    names = [chr(ord("a") + i) for i in range(levels + 1)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * width) + "]"]
    for prev, name in zip(names, names[1:]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMB = billion_laughs()


def test_the_bomb_is_small_and_refused_in_little_memory():
    assert len(BOMB.encode()) < 1024
    tracemalloc.start()
    try:
        with pytest.raises(YAMLBombError, match="expands to more than"):
            load_yaml(BOMB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, peak  # bytes; expanding it would take gigabytes


def test_ordinary_documents_and_aliases_still_load():
    assert load_yaml("x: &x [1, 2]\ny: *x\nz: {<<: {a: 1}, b: 2}\n") == {"x": [1, 2], "y": [1, 2],
                                                                         "z": {"a": 1, "b": 2}}
    assert load_yaml("") is None
    for sheet in sorted((ROOT / "pricing").glob("*.yaml")):  # every real sheet is well inside the limits
        text = sheet.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text,match", [
    ("a: &a [*a]\n", "recursive"),
    ("- " + "[" * 300 + "]" * 300 + "\n", "nest"),
    ("a: &a [1]\nb: [" + ", ".join(["*a"] * 50) + "]\n", "alias uses"),
])
def test_other_shapes_are_refused(text, match):
    with pytest.raises(yaml.YAMLError, match=match):
        load_yaml(text, max_aliases=20)


def test_brief_bounds_a_value_in_a_message():
    assert len(brief(list(range(10**6)))) <= 120 and len(brief({"k": "x" * 10**6})) <= 120


@pytest.mark.parametrize("kind", ["policy", "sheet", "hardware"])
def test_every_loader_refuses_the_bomb_naming_the_file(tmp_path, kind):
    """In a fresh interpreter with a 1 GiB address-space cap: expanding would die, refusing does not."""
    path = tmp_path / "bomb.yaml"
    tail = {"policy": "policies: *j\n", "sheet": "vendor: x\nmodels: *j\n", "hardware": "hardware: *j\n"}
    path.write_text(BOMB + tail[kind])
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pathlib import Path
        path = Path({str(path)!r})
        try:
            if {kind!r} == "policy":
                from workbench.core.replay.stack import PolicyStack
                PolicyStack.from_yaml(path)
            elif {kind!r} == "sheet":
                from workbench.io.pricesheets import load_sheet
                load_sheet(path)
            else:
                from workbench.bench.cost import hardware_presets
                hardware_presets(path)
        except Exception as e:
            print(type(e).__name__, str(e)[:300])
        """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-500:]
    assert "expands to more than" in r.stdout
    if kind != "hardware":
        assert "bomb.yaml" in r.stdout


def test_replay_cli_refuses_a_bomb_policy_in_one_line(run_cli, tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + "policies: *j\n")
    r = run_cli("replay", "sample_data/requests.parquet", "--policy", str(path))
    assert r.returncode == 2, r.stderr[-500:]
    assert len(r.stderr.strip().splitlines()) == 1 and "expands to more than" in r.stderr
