from safety.keywords import matching_view
from safety.normalize import detect_language, normalize


def test_full_width_letters_become_half_width_and_case_folds():
    assert normalize("ＦＵＣＫ Ｏｆｆ") == "fuck off"


def test_zero_width_and_combining_characters_are_stripped():
    assert normalize("fu\u200bc\u200dk") == "fuck"
    assert normalize("ca\u0301fe\u0301") == "cafe"


def test_cyrillic_and_greek_homoglyphs_fold_to_latin():
    assert normalize("fаggоt") == "faggot"  # Cyrillic а and о
    assert normalize("ΡΟRΝ") == "porn"  # Greek capitals


def test_leetspeak_folds_inside_words():
    assert normalize("sh1t") == "shit"
    assert normalize("@ss") == "ass"
    assert normalize("f4gg0t") == "faggot"


def test_order_numbers_prices_and_sizes_are_not_leet_folded():
    assert normalize("A10293 costs $19.99, size 4XL") == "a10293 costs $19.99, size 4xl"


def test_separators_between_single_letters_are_closed_up():
    assert matching_view("f.u.c.k you") == "fuck you"
    assert matching_view("s e x") == "sex"
    assert matching_view("f-u-c-k") == "fuck"


def test_separators_between_chinese_characters_are_removed():
    assert matching_view("操-你-妈") == "操你妈"
    assert matching_view("操 你 妈") == "操你妈"


def test_repeated_letters_are_squeezed():
    assert matching_view("fuuuuuck") == "fuck"


def test_ordinary_words_are_not_glued_together():
    assert matching_view("sizes S, M, L please") == "sizes s, m, l please"


def test_language_detection_by_share_of_cjk_letters():
    assert detect_language("我的订单 A10293 到哪里了") == "zh"
    assert detect_language("Where is my order 到?") == "en"
