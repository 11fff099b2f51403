"""The shared "load a traffic log" piece without a browser: files go through the same chunked
upload the page uses (``ChunkedUpload.deliver``) and what the app gets is compared with
:func:`workbench.io.traffic.load_log` on the same file."""
from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from workbench.io.traffic import load_log
from workbench.widgets.log_source import SAMPLE_LOG, LogSource, LogSourceView

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "tests" / "fixtures" / "logs"


def log_csv(n: int = 30, *, prompts: bool = True, bad_lines: int = 0) -> bytes:
    """A small log in the canonical CSV columns (real model ids), ``bad_lines`` rows with a negative
    token count at the end."""
    rows = ["request_id,ts,tenant,feature,model,prompt,input_tokens,output_tokens,status"]
    for i in range(n):
        prompt = f"question {i % 4}" if prompts else ""
        rows.append(f"r{i:03d},2025-06-02T{9 + i // 60:02d}:{i % 60:02d}:00Z,t{i % 3},chat,"
                    f"{'gpt-4.1' if i % 2 else 'gpt-4.1-mini'},{prompt},{100 + i},{10 + i},ok")
    for j in range(bad_lines):
        rows.append(f"bad{j},2025-06-02T12:00:00Z,t0,chat,gpt-4.1,x,-5,1,ok")
    return ("\n".join(rows) + "\n").encode()


class App:
    """Stands in for an app's state: records what the log source hands it."""

    def __init__(self, fail: str = ""):
        self.got: list[tuple[pd.DataFrame, str]] = []
        self.fail = fail

    def set_log(self, frame: pd.DataFrame, source: str) -> None:
        if self.fail:
            raise ValueError(self.fail)
        self.got.append((frame, source))


@pytest.fixture
def made(real_book):
    app = App()
    src = LogSource(app.set_log, book=real_book, source="Sample week")
    return app, src, LogSourceView(src)


def expected(real_book, tmp_path, name: str, content: bytes, **kw) -> pd.DataFrame:
    path = tmp_path / name
    path.write_bytes(content)
    return load_log(path, book=real_book, **kw).frame


def test_a_good_file_is_handed_over_as_load_log_reads_it(made, real_book, tmp_path):
    app, src, view = made
    content = log_csv(30)
    view.upload.deliver("mine.csv", content)
    frame, label = app.got[-1]
    pd.testing.assert_frame_equal(frame, expected(real_book, tmp_path, "mine.csv", content))
    assert label == src.source and label.startswith("Uploaded mine.csv: read 30 rows")
    assert src.report == {"name": "mine.csv", "format": "csv", "rows_read": 30, "kept": 30, "rejected": 0,
                          "first_rejected": []}
    assert src.errors == {} and src.progress == {} and src.mapping == {}
    assert view.summary.value == "" and view.error.value == ""           # nothing rejected: nothing to name
    assert view.progress_row.layout.display == "none" and not view.upload.busy
    assert "Uploaded mine.csv" in view.label.value


def test_a_csv_with_other_column_names_is_mapped_in_the_page(made, real_book, tmp_path):
    app, src, view = made
    content = (LOGS / "requests_custom.csv").read_bytes()
    view.upload.deliver("custom.csv", content)
    msg = src.errors["upload"]
    assert msg.startswith("custom.csv:") and "Choose the columns below" in msg and "column_map" not in msg
    assert app.got == [] and src.source == "Sample week"          # nothing handed over yet
    assert src.mapping["header"][:3] == ["id", "created_at", "customer"]
    assert "custom.csv: " in view.error.value and "data-testid='error-load'" in view.error.value
    pending = Path(src.mapping["path"])
    assert pending.is_file()                                       # kept for the mapping
    mapping = {"ts": "created_at", "request_id": "id", "tenant": "customer", "input_tokens": "prompt_tokens",
               "output_tokens": "completion_tokens", "cached_input_tokens": "cached"}
    for target, column in mapping.items():
        view.map_controls[target].value = column
    assert "ts *" == view.map_controls["ts"].description and "(none)" == view.map_controls["user"].label
    view.mapping_box.children[-1].click()                          # "Load with this mapping"
    frame, label = app.got[-1]
    want = {k: v for k, v in mapping.items()} | {"model": "model", "feature": "feature", "status": "status"}
    pd.testing.assert_frame_equal(frame, expected(real_book, tmp_path, "custom.csv", content, format="csv",
                                                  column_map=want))
    assert label.startswith("Uploaded custom.csv") and list(frame["tenant"][:1]) == ["acme"]
    assert src.errors == {} and src.mapping == {} and view.mapping_box.children == ()
    assert not pending.exists()                                    # the kept copy is cleaned up


def test_a_mapping_that_still_fails_keeps_the_form_and_the_file(made):
    app, src, view = made
    view.upload.deliver("custom.csv", (LOGS / "requests_custom.csv").read_bytes())
    pending = Path(src.mapping["path"])
    src.load_mapped({"ts": "customer"})                            # not a time: the loader says so
    assert "custom.csv" in src.errors["upload"] and src.mapping and pending.is_file() and app.got == []
    src.load_mapped({"ts": "created_at", "request_id": "id", "input_tokens": "prompt_tokens",
                     "output_tokens": "completion_tokens"})
    assert src.errors == {} and len(app.got) == 1 and not pending.exists()


def test_bad_files_get_a_message_naming_them_and_the_next_file_loads(made, real_book, tmp_path):
    app, src, view = made
    view.upload.deliver("photo.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    assert src.errors["upload"].startswith("photo.jsonl is a binary file")
    assert view.upload.error == src.errors["upload"] and "photo.jsonl" in view.error.value
    view.upload.deliver("broken.parquet", b"PAR1" + b"\x00" * 100 + b"PAR1")
    msg = src.errors["upload"]
    assert msg.startswith("broken.parquet is not a readable parquet file") and msg.endswith("nothing changed")
    buf = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_parquet(buf)
    view.upload.deliver("other.parquet", buf.getvalue())
    assert "other.parquet: missing required column(s) request_id" in src.errors["upload"]
    assert src.load_file("big.csv", b"x" * (src.max_bytes + 1)) is None and "upload limit" in src.errors["upload"]
    assert app.got == [] and src.source == "Sample week" and src.report == {}
    assert src.progress == {} and view.progress_row.layout.display == "none" and not view.upload.busy
    view.upload.deliver("mine.csv", log_csv(10))                   # ready for the next file
    assert src.errors == {} and len(app.got) == 1 and view.error.value == "" and view.upload.error == ""
    # a canonical parquet file (e.g. an export of the sample week) is read as it is
    week = pd.read_parquet(SAMPLE_LOG).head(50)
    buf = io.BytesIO()
    week.to_parquet(buf)
    view.upload.deliver("week.parquet", buf.getvalue())
    assert len(app.got[-1][0]) == 50 and src.report["format"] == "canonical parquet"


def test_some_bad_rows_good_ones_kept_and_the_rejected_counted_and_named(made, real_book, tmp_path):
    app, src, view = made
    content = (LOGS / "openai_chat.jsonl").read_bytes()
    view.upload.deliver("chat.jsonl", content)
    path = tmp_path / "chat.jsonl"
    path.write_bytes(content)
    want = load_log(path, book=real_book)
    frame, label = app.got[-1]
    pd.testing.assert_frame_equal(frame, want.frame)
    assert src.report["kept"] == want.kept_count > 0 and src.report["rejected"] == want.rejected_count > 0
    first = src.report["first_rejected"]
    assert first[0] == str(want.rejected[0]).replace(str(path), "chat.jsonl") and first[0].startswith("chat.jsonl:4: ")
    assert f"data-testid='log-rejected'>{want.rejected_count:,}<" in view.summary.value
    assert "chat.jsonl:4: line: malformed JSON" in view.summary.value
    more = want.rejected_count - len(first)
    assert (f"and {more:,} more" in view.summary.value) == (more > 0)
    assert label == f"Uploaded chat.jsonl: read {want.rows_read:,} rows (format openai-jsonl): " \
                    f"{want.kept_count:,} kept, {want.rejected_count:,} rejected"
    # rows of a CSV: the good ones kept, the bad ones counted
    view.upload.deliver("mixed.csv", log_csv(12, bad_lines=3))
    assert len(app.got[-1][0]) == 12 and src.report["rejected"] == 3
    assert src.report["first_rejected"][0].startswith("mixed.csv:14: input_tokens")


def test_what_the_app_refuses_is_the_uploads_error_and_nothing_changes(real_book):
    app = App(fail="the log has no rows the app can price")
    src = LogSource(app.set_log, book=real_book, source="Sample week")
    assert src.load_file("mine.csv", log_csv(5)) is None
    assert src.errors["upload"] == "the log has no rows the app can price"
    assert src.source == "Sample week" and src.report == {}
    app.fail = ""
    assert "5 kept" in src.load_file("mine.csv", log_csv(5)) and src.errors == {}


def test_required_columns_are_a_parameter(real_book):
    app = App()
    src = LogSource(app.set_log, book=real_book, required={"prompt": "a cache compares prompt texts"})
    view = LogSourceView(src)
    view.upload.deliver("tokens_only.csv", log_csv(6, prompts=False))
    assert src.errors["upload"] == ("tokens_only.csv: no row has 'prompt' (a cache compares prompt texts); "
                                    "nothing changed") and app.got == []
    view.upload.deliver("custom.csv", (LOGS / "requests_custom.csv").read_bytes())
    assert "prompt" in src.mapping["required"] and view.map_controls["prompt"].description == "prompt *"
    view.upload.deliver("mine.csv", log_csv(6))
    assert src.errors == {} and len(app.got) == 1 and src.mapping == {}


def test_the_sample_week_button(real_book):
    app = App()
    src = LogSource(app.set_log, book=real_book)
    view = LogSourceView(src)
    src.load_file("mine.csv", log_csv(5))
    view.sample_button.click()
    frame, label = app.got[-1]
    pd.testing.assert_frame_equal(frame, pd.read_parquet(SAMPLE_LOG))
    assert label == src.source and label.startswith(f"Sample week: {len(frame):,} calls")
    assert src.report == {} and view.summary.value == ""
    # an app's own sample action (e.g. with its tenants table) returns its label
    calls = []
    own = LogSource(app.set_log, sample=lambda: calls.append(1) or "Sample week (own)")
    LogSourceView(own).sample_button.click()
    assert calls == [1] and own.source == "Sample week (own)"


def test_every_upload_shows_its_transfer_and_errors_through_one_helper():
    """upload_into (the log source's upload, the cascade's evaluation CSV): the transfer in the
    progress row, then the reading where the state reports one; the errors in errors['upload']."""
    from traitlets import Dict

    from workbench.widgets._state import FieldErrors
    from workbench.widgets.log_source import upload_into
    from workbench.widgets.upload import ProgressRow

    class Reads(FieldErrors):
        progress = Dict()

    for state in (FieldErrors(), Reads()):
        row, labels, loaded = ProgressRow(), [], []
        row.label.observe(lambda c: labels.append(c["new"]), "value")

        def load(name, path, state=state):
            if state.has_trait("progress"):
                state.progress = {"value": 0.5, "label": f"reading {name}"}
                state.progress = {}
            if name.startswith("bad"):
                state.set_error("upload", f"{name}: broken")
            else:
                loaded.append(Path(path).read_bytes())

        up = upload_into(state, load, row, description="Upload", max_bytes=5_000, accept=".csv")
        up.chunk_bytes = 1_000
        up.deliver("bad.csv", b"x" * 2_500)
        assert state.errors["upload"] == up.error == "bad.csv: broken"
        up.deliver("good.csv", b"y" * 2_500)                    # a new transfer clears the error
        assert loaded == [b"y" * 2_500] and "upload" not in state.errors and up.error == ""
        assert any("receiving good.csv: 0.0 of 0.0 MB" in v for v in labels)
        assert any("reading good.csv" in v for v in labels) == state.has_trait("progress")
        assert row.layout.display == "none"
        up.deliver("huge.csv", b"z" * 6_000)                    # refused before anything is sent
        assert "huge.csv" in state.errors["upload"] and "limit" in state.errors["upload"]
