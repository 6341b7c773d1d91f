"""Hostile split files: CRLF, BOM, blank lines, duplicates, absolute paths; messages name file and line.

Covered in tests/pipeline/test_splits.py, not repeated: unknown classes, labels that disagree with classInd,
``..`` and absolute paths in UCF-101 lists (test_malformed_ucf_line_names_file_and_line), ``..`` in
HMDB-51 lists, BOM/CRLF in classInd.txt.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.official_lists import read_hmdb_split, read_ucf_list
from pipeline.steps.splits import SplitRow, compare_official, read_split

CLASSES = ["ApplyEyeMakeup", "ApplyLipstick"]


def test_ucf_list_with_bom_crlf_and_blank_lines_keeps_true_line_numbers(tmp_path):
    path = tmp_path / "trainlist01.txt"
    path.write_bytes(
        b"\xef\xbb\xbfApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n\r\n  \r\n"
        b"ApplyLipstick/v_ApplyLipstick_g08_c01.avi 2\r\n"
    )
    entries = read_ucf_list(path, CLASSES, tmp_path, train=True)
    assert [(e.video_id, e.where) for e in entries] == [
        ("v_ApplyEyeMakeup_g08_c01", "trainlist01.txt:1"),
        ("v_ApplyLipstick_g08_c01", "trainlist01.txt:4"),
    ]


def test_duplicate_entry_is_a_difference_naming_file_and_line(tmp_path):
    path = tmp_path / "trainlist01.txt"
    line = b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
    path.write_bytes(line + b"\r\n" + line)
    listed = read_ucf_list(path, CLASSES, tmp_path, train=True)
    rows = [SplitRow("v_ApplyEyeMakeup_g08_c01", 0, "ApplyEyeMakeup", "train")]
    differences, missing = compare_official(rows, listed, {"v_ApplyEyeMakeup_g08_c01"})
    assert differences == ["trainlist01.txt:3: v_ApplyEyeMakeup_g08_c01 listed twice"] and missing == []


def test_hmdb_absolute_path_is_rejected(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "brush_hair_test_split1.txt").write_bytes(b"ok.avi 1 \n/etc/passwd.avi 1 \n")
    with pytest.raises(ValueError, match=r"brush_hair_test_split1.txt:2: absolute path not allowed"):
        read_hmdb_split(lists, 1, ["brush_hair"], tmp_path / "videos")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xef\xbb\xbfvideo_id,label,class,subset\r\nv_a,0,A,train\r\n", r"split1.csv:1: expected columns"),
        (b"video_id,label,class,subset\r\nv_a,0,A,train\r\n\r\nv_b,0,A,test\r\n", r"split1.csv:3: malformed"),
        (b"video_id,label,class,subset\nv_a,zero,A,train\n", r"split1.csv:2: malformed"),
    ],
)
def test_split_csv_errors_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "split1.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_split(Path(path))


def test_split_csv_with_crlf_reads(tmp_path):
    path = tmp_path / "split1.csv"
    path.write_bytes(b"video_id,label,class,subset\r\nv_a,0,A,train\r\nv_b,1,B,test\r\n")
    assert read_split(path) == [SplitRow("v_a", 0, "A", "train"), SplitRow("v_b", 1, "B", "test")]
