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
    def test_statistics(self):
        self.assertEqual(len(problems("struct R {\n  MemoryStats memory() const;\n};\n")), 1)
        self.assertEqual(problems("struct R {\n  MemoryStats memory_stats() const;\n};\n"), [])
        self.assertEqual(problems('struct R {\n  [[deprecated("use memory_stats()")]] MemoryStats memory() const;\n};\n'),
                         [])
        io = "namespace duet::io {\nDUET_API IoStatsSnapshot io_stats() noexcept;\n}  // namespace duet::io\n"
        self.assertEqual(len(problems(io)), 1)
        self.assertEqual(problems("namespace duet {\nDUET_API IoStats io_stats() noexcept;\n}  // namespace duet\n"), [])
        self.assertEqual(len(problems("struct IoStatsSnapshot {\n};\n")), 1)
        self.assertEqual(problems('using IoStatsSnapshot [[deprecated("use duet::IoStats")]] = duet::IoStats;\n'), [])

    def test_fields_that_say_something_else(self):
        self.assertEqual(len(problems("struct Limits {\n  std::chrono::milliseconds read_timeout{10'000};\n};\n")), 1)
        self.assertEqual(len(problems("struct C {\n  std::size_t max_idle_per_host = 64;\n};\n")), 1)
        wrapped = ('struct C {\n  [[deprecated("use max_idle_per_origin")]] std::optional<std::size_t>\n'
                   "      max_idle_per_host;\n};\n")
        self.assertEqual(problems(wrapped), [])
        self.assertEqual(problems("struct Limits {\n  detail::OldReadTimeout read_timeout{};\n};\n"), [])
        self.assertEqual(problems("struct Limits {\n  std::chrono::milliseconds io_timeout{10'000};\n};\n"), [])

    def test_configure_takes_a_config(self):
        self.assertEqual(len(problems("DUET_API void configure_pool(std::size_t n, std::chrono::nanoseconds k);\n")), 1)
        self.assertEqual(problems("DUET_API void configure_pool(PoolConfig config);\n"), [])
        self.assertEqual(problems('[[deprecated("use PoolConfig")]]\ninline void configure_pool(std::size_t n, int k) {\n'
                                  "  configure_pool(PoolConfig{.n = n, .k = k});\n}\n"), [])

    def test_internals(self):
        decl = "template <class S, class F>\nJoinHandle<int> spawn_via(S s, Runtime& rt, F&& f) {\n}\n"
        self.assertEqual(len(problems(decl)), 1)
        self.assertEqual(problems("namespace detail {\n" + decl + "}  // namespace detail\n"), [])
        self.assertEqual(problems("auto spawn_on(Runtime& rt) {\n  return spawn_via(detail::SubmitAnywhere{}, rt);\n}\n"),
                         [])
        self.assertEqual(len(problems('#include "duet/detail/tls.hpp"\n')), 1)
        self.assertEqual(problems('#include "duet/detail/thread_local.hpp"\n#include "duet/tls.hpp"\n'), [])

    def test_try_never_blocks(self):
        self.assertEqual(len(problems("struct C {\n  std::optional<int> try_reap(bool block) noexcept;\n};\n")), 1)
        self.assertEqual(problems("struct C {\n  std::optional<int> try_reap() noexcept;\n  int reap() noexcept;\n};\n"), [])

    def test_timeout_answers_a_result(self):
        old = "//   auto v = co_await duet::timeout(50ms, ch.recv());  // optional<optional<int>>\n"
        self.assertEqual(len(problems(old)), 1)
        new = "//   auto v = co_await duet::timeout(50ms, ch.recv());  // Result<optional<int>>\n"
        self.assertEqual(problems(new), [])
        self.assertEqual(problems("enum class TimeoutErrc {\n  elapsed = 1,\n};\n"), [])


if __name__ == "__main__":
    unittest.main()
