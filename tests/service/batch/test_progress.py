from collections import Counter
from pathlib import Path

from rich.console import Console

from service.batch.local_engine import BatchSummary
from service.batch.progress import summary_table


def test_summary_lists_counts_grades_rules_and_files():
    summary = BatchSummary(rows=1000, scored=875, rejected=125, grade_counts=Counter({"AA": 500, "C": 375}),
                           reject_rules=Counter({("rd_staff", "rd_staff_le_staff"): 100, ("", "columns"): 25}),
                           seconds=2.0, output=Path("out.csv"), rejects_path=Path("out.rejects.csv"))
    console = Console(record=True, width=120)
    console.print(summary_table(summary))
    text = console.export_text()
    assert "1,000" in text and "875" in text and "125 (12.50%)" in text
    assert "grade AA" in text and "grade C " in text and "grade AAA" not in text
    assert "rd_staff: rd_staff_le_staff" in text and "(line): columns" in text
    assert "500 rows/s" in text and "out.rejects.csv" in text
