from compliance.redaction.bench import bench


def test_bench_reports_rate():
    rows = list(bench(["call me at +49 171 1234567", "nothing here", "a@b.com"], min_messages=30, rounds=1))
    assert rows and rows[0]["messages"] >= 30 and rows[0]["messages_per_s"] > 0


def test_dm_mix_and_summary():
    from compliance.redaction.bench import dm_mix, summarize

    corpus = ["call me at +49 171 1234567", "IBAN DE89 3704 0044 0532 0130 00"]
    texts = dm_mix(corpus, n=400, seed=1, corpus_share=0.05)
    assert len(texts) == 400
    assert 0 < sum(t in corpus for t in texts) < 60  # about 5% corpus texts
    assert dm_mix(corpus, n=50, seed=1) == dm_mix(corpus, n=50, seed=1)  # reproducible
    rows = list(bench(texts, min_messages=400, rounds=2))
    s = summarize("dm", rows)
    assert s["mix"] == "dm" and s["messages"] == 400
    assert s["messages_per_s"] > 0 and s["messages_per_s_wall"] > 0 and len(s["rounds_messages_per_s"]) == 2


def test_each_pass_measures_unseen_messages_unless_asked_to_repeat():
    from compliance.redaction import detectors as D

    texts = ["ruf an: 030 12345678", "pasword: hunter2xyz"]
    list(bench(texts, min_messages=2, rounds=1))
    assert D._phone_valid.cache_info().currsize > 0 and D._PW_WORDS._memo  # a pass fills the caches
    D.forget_values()
    assert D._phone_valid.cache_info().currsize == 0 and not D._PW_WORDS._memo and not D._PW_WORDS._misses

    def seen_before_the_pass(unseen: bool) -> bool:
        D._phone_valid("+4915112345678", None)  # a value seen before the pass
        list(bench(texts, min_messages=2, rounds=1, unseen=unseen))
        hits = D._phone_valid.cache_info().hits
        D._phone_valid("+4915112345678", None)
        return D._phone_valid.cache_info().hits == hits + 1

    assert not seen_before_the_pass(unseen=True)
    assert seen_before_the_pass(unseen=False)
