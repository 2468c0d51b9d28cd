"""check_vocabulary_test.py: check_vocabulary.py finds each second spelling
it is for, and passes the forms docs/vocabulary.md asks for."""
import pathlib
import tempfile
import unittest

import check_vocabulary


def problems(header_text):
    with tempfile.TemporaryDirectory() as d:
        inc = pathlib.Path(d) / "include" / "duet"
        inc.mkdir(parents=True)
        (inc / "x.hpp").write_text(header_text)
        headers = list(check_vocabulary.public_headers([pathlib.Path(d) / "include"]))
        enums = {"Mode"}
        out = []
        for p in headers:
            out += check_vocabulary.check_file(p, enums)
        return out


class CheckVocabularyTest(unittest.TestCase):
    def test_options_type(self):
        self.assertEqual(len(problems("struct FooOptions {\n};\n")), 1)
        self.assertEqual(problems('using FooOptions [[deprecated("use FooConfig")]] = FooConfig;\n'), [])
        self.assertEqual(problems("class DUET_API SocketOptions {\n};\n"), [])

    def test_enum_names(self):
        self.assertEqual(len(problems("enum class Mode { a, b };\n")), 1)
        named = ("enum class Mode { a, b };\n"
                 "constexpr std::array<Mode, 2> enum_values(Mode) noexcept;\n"
                 "constexpr std::string_view to_string(Mode m) noexcept;\n")
        self.assertEqual(problems(named), [])
        nested = "struct S {\n  enum class Mode { a };\n};\n"
        self.assertEqual(problems(nested), [])
        detail = "namespace detail {\nenum class Mode { a };\n}  // namespace detail\n"
        self.assertEqual(problems(detail), [])

    def test_name_function(self):
        text = ("enum class Mode { a };\nconstexpr std::array<Mode, 1> enum_values(Mode) noexcept;\n"
                "constexpr std::string_view to_string(Mode m) noexcept;\n")
        self.assertEqual(len(problems(text + "const char* mode_name(Mode m) noexcept;\n")), 1)
        self.assertEqual(problems(text + '[[deprecated("use to_string")]] const char* mode_name(Mode m);\n'), [])

    def test_model_words(self):
        self.assertEqual(len(problems("enum class K {\n  stackless,\n  poll,\n};\n"
                                      "constexpr std::array<K, 2> enum_values(K);\n"
                                      "std::string_view to_string(K k);\n")), 1)
        self.assertEqual(len(problems("using CoroThing = int;\n")), 1)
        self.assertEqual(problems("using CoroutineThing = int;\n"), [])

    def test_result_word(self):
        self.assertEqual(len(problems("duet::io::Result<int> f();\n")), 1)
        self.assertEqual(len(problems("//   auto r = f();  // io::Result<int>\n")), 1)
        self.assertEqual(problems("duet::Result<int> f();\n"), [])
        self.assertEqual(problems('using Result [[deprecated("use duet::Result")]] = duet::Result<T>;\n'), [])


if __name__ == "__main__":
    unittest.main()
