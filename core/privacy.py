"""Masking of subscriber numbers (MSISDN): everything a person sees shows them masked."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"\d")
# A run of 7+ digits, optionally with a leading +, is treated as a phone number.
_NUMBER_IN_TEXT = re.compile(r"\+?\d{7,15}")


def mask_msisdn(number: str) -> str:
    """Mask a subscriber number, keeping the first three and the last four digits.

    >>> mask_msisdn("13812341234")
    '138****1234'
    >>> mask_msisdn("+8613812341234")
    '+86138****1234'
    >>> mask_msisdn("138****1234")
    '138****1234'
    >>> mask_msisdn("12345")
    '*****'
    """
    digits = len(_DIGITS.findall(number))
    if "*" in number and digits <= 7:
        return number  # already masked
    if digits < 8:
        return "*" * len(number)
    head = 3 + (len(number) - 11 if len(number) > 11 else 0)
    return number[:head] + "*" * (len(number) - head - 4) + number[-4:]


def mask_numbers_in_text(text: str) -> str:
    """Mask every phone-number-like run of digits inside free text.

    >>> mask_numbers_in_text("call 13812341234 or +8613900001111 about ticket 42")
    'call 138****1234 or +86139****1111 about ticket 42'
    """
    return _NUMBER_IN_TEXT.sub(lambda m: mask_msisdn(m.group(0)), text)
