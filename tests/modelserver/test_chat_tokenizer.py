from modelserver.chat.tokenizer import IncrementalDetokenizer

CHINESE = "您好！请问有什么可以帮您？我想退货，谢谢。"


def test_r1_markers_are_single_tokens_and_bos_is_prepended(tokenizer):
    ids = tokenizer.encode("<｜User｜>hi<｜Assistant｜><think>\n", add_bos=True)
    assert ids[0] == tokenizer.bos_id
    assert tokenizer.decode([ids[1]]) == "<｜User｜>"
    assert tokenizer.token_id("</think>") is not None
    assert tokenizer.eos_id in tokenizer.stop_ids


def test_token_bytes_concatenate_to_the_decoded_text(tokenizer):
    ids = tokenizer.encode("Order A-1 " + CHINESE + "<｜tool▁sep｜>{}", add_bos=True)
    raw = b"".join(tokenizer.token_bytes[i] for i in ids)
    assert raw.decode() == tokenizer.decode(ids)


def test_chinese_split_across_byte_tokens_streams_only_whole_characters(tokenizer):
    ids = tokenizer.encode("ab" + CHINESE + "xyz")
    # The tiny tokenizer has to split some characters into byte tokens: the case under test.
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids)
    detok = IncrementalDetokenizer(tokenizer)
    pieces = [detok.push(i) for i in ids]
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) + detok.flush() == "ab" + CHINESE + "xyz"


def test_an_incomplete_character_at_the_end_is_flushed_as_a_replacement(tokenizer):
    detok = IncrementalDetokenizer(tokenizer)
    first_byte = next(i for i, b in enumerate(tokenizer.token_bytes) if b == "您".encode()[:1])
    assert detok.push(first_byte) == ""
    assert detok.flush() == "\ufffd"
