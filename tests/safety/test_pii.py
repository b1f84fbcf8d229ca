import pytest

from safety.pii import cn_id_valid, find_pii, iban_valid, luhn_valid, redact_pii


def kinds(text):
    return [m.kind for m in find_pii(text)]


def test_a_card_number_with_a_valid_luhn_checksum_is_redacted():
    assert redact_pii("card 4111 1111 1111 1111, exp 12/28")[0] == "card [CARD], exp 12/28"


def test_a_card_like_number_with_a_bad_luhn_checksum_is_kept():
    assert not luhn_valid("4111111111111112")
    assert kinds("ref 4111 1111 1111 1112") == []


def test_a_chinese_resident_id_with_a_valid_checksum_is_redacted():
    assert cn_id_valid("11010519491231002X")
    assert redact_pii("身份证11010519491231002X。")[0] == "身份证[CN_ID]。"


def test_a_chinese_resident_id_with_a_bad_checksum_is_kept():
    assert not cn_id_valid("110105194912310021")
    assert "cn_id" not in kinds("身份证110105194912310021")


def test_an_iban_with_a_valid_mod97_is_redacted_and_a_bad_one_is_kept():
    assert iban_valid("GB82 WEST 1234 5698 7654 32")
    assert kinds("pay to DE89 3704 0044 0532 0130 00 please") == ["iban"]
    assert not iban_valid("GB82WEST12345698765433")
    assert kinds("pay to GB82WEST12345698765433") == []


@pytest.mark.parametrize(
    "text",
    ["call 13812345678", "call +86 138 1234 5678", "call +44 20 7946 0958", "call (415) 555-2671"],
)
def test_phone_numbers_international_and_chinese_mobile_are_found(text):
    assert kinds(text) == ["phone"]


def test_emails_are_redacted():
    assert redact_pii("write to jane.doe+shop@example.co.uk")[0] == "write to [EMAIL]"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-abcdefghijklmnopqrstuvwx123",
        "AKIAIOSFODNN7EXAMPLE",
        "ghp_" + "a" * 36,
        "password: hunter2hunter",
    ],
)
def test_api_keys_and_secrets_are_redacted(secret):
    assert redact_pii(f"my key is {secret}")[0] == "my key is [SECRET]"


def test_street_addresses_in_english_and_chinese_are_redacted():
    assert redact_pii("ship to 221B Baker Street, London")[0] == "ship to [ADDRESS], London"
    assert "address" in kinds("寄到上海市浦东新区世纪大道100号2栋301室")


def test_order_numbers_tracking_numbers_and_prices_are_not_pii():
    assert kinds("order A10293, tracking 1Z999AA10123456784, total 19.90, qty 2") == []
