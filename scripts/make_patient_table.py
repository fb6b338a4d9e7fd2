"""Make the shipped patient table: official PneumoniaMNIST (split, index) → pseudo-patient ID.

Reads ``kermany_cxr_index.csv`` (the project's development table, see the data folder's
PROVENANCE.md) and writes ``medpriv_widgets/data/pneumoniamnist_patients.csv``: one row per
official position, with its label (so the loader can check the table against the file it
annotates) and the pseudo-patient ID inferred from the Kermany source file name. Positions whose
official radiograph has no known source image (74 test images) get an empty ID. No pixels, no
file names, nothing else.

Usage::

    python scripts/make_patient_table.py [--index PATH/kermany_cxr_index.csv] [--out PATH]

The default index is ``$MEDPRIV_DATA_DIR/kermany_cxr_index.csv`` (else ``../shared/data``). The
output is deterministic: running the script again on the same index gives the same bytes
(tests/test_patient_table.py checks that the shipped table equals a fresh run).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "medpriv_widgets" / "data" / "pneumoniamnist_patients.csv"
SPLITS = ("train", "val", "test")
SIZES = {"train": 4708, "val": 524, "test": 624}

HEADER = (
    "# Official PneumoniaMNIST (MedMNIST v2/v3) position -> pseudo-patient ID. Made by "
    "scripts/make_patient_table.py from kermany_cxr_index.csv.\n"
    "# Patient IDs are inferred from the source file names of Kermany D, Zhang K, Goldbaum M "
    "(2018), Mendeley Data V2, doi:10.17632/rscbjbr9sj.2 (CC BY 4.0), via MedMNIST (Yang J et al. "
    "2023, CC BY 4.0); an empty patient_id means the source image is unknown. Not for clinical "
    "use.\n")


def default_index() -> Path:
    env = os.environ.get("MEDPRIV_DATA_DIR")
    folder = Path(env) if env else REPO.parent / "shared" / "data"
    return folder / "kermany_cxr_index.csv"


def build_table(index_csv: str | os.PathLike) -> str:
    """The table's text from the development index (raises ValueError if it is incomplete)."""
    rows = {}
    with open(index_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["medmnist_split"], int(row["medmnist_index"]))
            pid = row["patient_id"] if row["linked_to_official"] == "1" else ""
            rows[key] = (int(row["label"]), pid)
    out = io.StringIO()
    out.write(HEADER)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["split", "index", "label", "patient_id"])
    for split in SPLITS:
        for i in range(SIZES[split]):
            if (split, i) not in rows:
                raise ValueError(f"{index_csv} has no row for {split} position {i}.")
            label, pid = rows[(split, i)]
            writer.writerow([split, i, label, pid])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=None, help="kermany_cxr_index.csv")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    index = args.index or default_index()
    if not index.is_file():
        print(f"{index} not found: set MEDPRIV_DATA_DIR to the folder that holds "
              "kermany_cxr_index.csv, or pass --index.", file=sys.stderr)
        return 2
    text = build_table(index)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.splitlines()) - 3} rows, {len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
