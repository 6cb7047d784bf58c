from compliance.redaction.bench import bench


def test_bench_reports_rate():
    rows = list(bench(["call me at +49 171 1234567", "nothing here", "a@b.com"], min_messages=30, rounds=1))
    assert rows and rows[0]["messages"] >= 30 and rows[0]["messages_per_s"] > 0
