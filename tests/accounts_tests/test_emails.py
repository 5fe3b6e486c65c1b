"""``app/accounts/emails.py``: one canonical form for every spelling of an address."""

from django.test import SimpleTestCase

from app.accounts.emails import InvalidEmail, canonical_email


class CanonicalEmailTests(SimpleTestCase):
    def test_spellings_a_person_reads_as_one_address_give_one_form(self):
        cases = {
            "upper case": ("USER@EXAMPLE.COM", "user@example.com"),
            "surrounding spaces": ("  user@example.com ", "user@example.com"),
            "fullwidth domain": ("user@ｅｘａｍｐｌｅ．ｃｏｍ", "user@example.com"),
            "fullwidth local part": ("ｕｓｅｒ@example.com", "user@example.com"),
            "long s for s": ("\u017fam@example.com", "sam@example.com"),
            "kelvin sign for k": ("\u212aate@example.com", "kate@example.com"),
            "unicode domain": ("user@Bücher.example", "user@xn--bcher-kva.example"),
            "punycode domain": ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
        }
        for label, (typed, stored) in cases.items():
            with self.subTest(label):
                self.assertEqual(canonical_email(typed), stored)

    def test_the_domain_goes_through_idna_2008_before_any_case_folding(self):
        # Case folding would turn sharp s into ss and final sigma into medial sigma: other names
        # under IDNA 2008, which keeps both (UTS 46 non-transitional mapping).
        cases = {
            "sharp s": ("x@fa\u00df.de", "x@xn--fa-hia.de"),
            "sharp s, upper case around it": ("x@FA\u00df.DE", "x@xn--fa-hia.de"),
            "final sigma": ("x@\u03b2\u03cc\u03bb\u03bf\u03c2.gr", "x@xn--nxasmm1c.gr"),
            "final sigma, capital initial": (
                "x@\u0392\u03cc\u03bb\u03bf\u03c2.GR",
                "x@xn--nxasmm1c.gr",
            ),
            "ss is another domain": ("x@fass.de", "x@fass.de"),
        }
        for label, (typed, stored) in cases.items():
            with self.subTest(label):
                self.assertEqual(canonical_email(typed), stored)

    def test_a_quoted_local_part_whose_quotes_change_nothing_is_unquoted(self):
        cases = {
            "one atom": ('"a"@example.com', "a@example.com"),
            "a dot-atom, in upper case": ('"A.b"@Example.com', "a.b@example.com"),
            "a needless quoted-pair": ('"\\a"@example.com', "a@example.com"),
        }
        for label, (typed, stored) in cases.items():
            with self.subTest(label):
                self.assertEqual(canonical_email(typed), stored)

    def test_a_quoted_local_part_that_needs_its_quotes_keeps_them(self):
        cases = {
            "a comma": ('"a,b"@example.com', '"a,b"@example.com'),
            "two dots in a row": ('"a..b"@example.com', '"a..b"@example.com'),
            "an at sign": ('"a@b"@example.com', '"a@b"@example.com'),
            "an escaped quote": ('"a\\"b"@example.com', '"a\\"b"@example.com'),
            "a needless escape among them": ('"a\\,b"@example.com', '"a,b"@example.com'),
        }
        for label, (typed, stored) in cases.items():
            with self.subTest(label):
                self.assertEqual(canonical_email(typed), stored)

    def test_invisible_control_and_space_characters_are_refused(self):
        for char in ("\u200b", "\u200d", "\u202e", "\u00ad", "\x00", " ", "\u3000"):
            with (
                self.subTest(char=hex(ord(char))),
                self.assertRaisesRegex(InvalidEmail, "invisible"),
            ):
                canonical_email(f"user@exa{char}mple.com")

    def test_a_local_part_that_stays_non_ascii_after_folding_is_refused(self):
        for typed in ("\u0131nfo@example.com", "\u0130nfo@example.com", "jos\u00e9@example.com"):
            with self.subTest(typed=typed), self.assertRaisesRegex(InvalidEmail, "ASCII"):
                canonical_email(typed)

    def test_a_domain_idna_refuses_is_refused(self):
        with self.assertRaisesRegex(InvalidEmail, "domain"):
            canonical_email("user@bü--cher.exa_mple")

    def test_text_without_an_at_sign_is_only_folded(self):
        self.assertEqual(canonical_email("NotAnAddress"), "notanaddress")
