// Tokenizer tests: reference token ids for 46 tricky inputs per tokenizer (fixtures/tokenizers/testvectors),
// whole-text token counts against independent references, the tokenizer.json reader, BOS/EOS resolution from
// model folders, and the error paths.
#include "aq/error.h"
#include "aq/evaluate.h"
#include "aq/tokenizer.h"

#include "testutil.h"

#include <nlohmann/json.hpp>

#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace {

using Json = nlohmann::json;
using Ids = std::vector<int32_t>;

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

void writeFile(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

/// The .inp files end every input (the last one included) with "\n__ggml_vocab_test__\n"; the newline before the
/// marker belongs to the separator, so inputs such as "\n" or "" come back exactly.
std::vector<std::string> readInputs(const std::string& path)
{
    const std::string text = readFile(path);
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    size_t start = 0;
    for (size_t at; (at = text.find(separator, start)) != std::string::npos; start = at + separator.size())
        inputs.push_back(text.substr(start, at - start));
    if (start < text.size())
        inputs.push_back(text.substr(start));
    return inputs;
}

/// The .out files hold one line of space-separated ids per input (an empty line for no ids).
std::vector<Ids> readExpected(const std::string& path)
{
    std::vector<Ids> expected;
    std::istringstream lines(readFile(path));
    std::string line;
    while (std::getline(lines, line)) {
        Ids ids;
        std::istringstream numbers(line);
        for (int32_t id; numbers >> id;)
            ids.push_back(id);
        expected.push_back(std::move(ids));
    }
    return expected;
}

QString idsToString(const Ids& ids)
{
    QStringList parts;
    for (int32_t id : ids)
        parts << QString::number(id);
    return parts.join(QLatin1Char(' '));
}

QString escaped(const std::string& s)
{
    return QString::fromStdString(Json(s).dump(-1, ' ', false, Json::error_handler_t::replace));
}

/// Runs one vector set and returns how many inputs matched; mismatches are logged.
int countMatches(const aq::Tokenizer& tok, const std::vector<std::string>& inputs, const std::vector<Ids>& expected,
                 const char* label)
{
    int matched = 0;
    for (size_t i = 0; i < inputs.size() && i < expected.size(); ++i) {
        const Ids got = tok.encode(inputs[i]);
        if (got == expected[i]) {
            ++matched;
        } else {
            qWarning("%s: input %zu %s\n  expected: %s\n  got:      %s", label, i, qPrintable(escaped(inputs[i])),
                     qPrintable(idsToString(expected[i])), qPrintable(idsToString(got)));
        }
    }
    qInfo("%s: %d/%zu", label, matched, inputs.size());
    return matched;
}

std::unique_ptr<aq::Tokenizer> loadByKind(const QString& kind, const std::string& path)
{
    if (kind == QLatin1String("spm"))
        return aq::loadSentencePiece(path);
    return aq::loadGpt2Bpe(path + "/vocab.json", path + "/merges.txt");
}

/// GPT-2's byte -> character table, written out again here so the tests do not rely on the code under test.
std::string byteChar(int b)
{
    static const std::vector<std::string> table = [] {
        std::vector<int> printable;
        for (int c = '!'; c <= '~'; ++c)
            printable.push_back(c);
        for (int c = 0xA1; c <= 0xAC; ++c)
            printable.push_back(c);
        for (int c = 0xAE; c <= 0xFF; ++c)
            printable.push_back(c);
        std::vector<std::string> t(256);
        int shifted = 0;
        for (int c = 0; c < 256; ++c) {
            const bool kept = std::find(printable.begin(), printable.end(), c) != printable.end();
            const char32_t cp = kept ? c : 256 + shifted++;
            std::string utf8;
            if (cp < 0x80) {
                utf8 += char(cp);
            } else {
                utf8 += char(0xC0 | (cp >> 6));
                utf8 += char(0x80 | (cp & 0x3F));
            }
            t[c] = utf8;
        }
        return t;
    }();
    return table[b];
}

/// A small byte-level vocabulary (the 256 bytes plus a few merges) that needs no fixture.
struct TinyBpe {
    Json vocab = Json::object();
    std::vector<std::pair<std::string, std::string>> merges;

    TinyBpe()
    {
        for (int b = 0; b < 256; ++b)
            vocab[byteChar(b)] = b;
        const std::string space = byteChar(' ');
        addMerge("h", "e");
        addMerge("l", "l");
        addMerge("he", "ll");
        addMerge("hell", "o");
        addMerge(space, "hello");
    }
    void addMerge(const std::string& a, const std::string& b)
    {
        merges.emplace_back(a, b);
        vocab[a + b] = int(vocab.size());
    }
    std::string mergesTxt() const
    {
        std::string text = "#version: 0.2\n";
        for (const auto& [a, b] : merges)
            text += a + " " + b + "\n";
        return text;
    }
    void writeGpt2(const QString& dir) const
    {
        writeFile((dir + "/vocab.json").toStdString(), vocab.dump());
        writeFile((dir + "/merges.txt").toStdString(), mergesTxt());
    }
};

/// Hugging Face tokenizer.json around a vocabulary and merges, in the layouts the reader must accept.
enum class MergeStyle { Strings, Arrays };
enum class PreTokenizerStyle { ByteLevel, SplitThenByteLevel };

Json makeTokenizerJson(const Json& vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                       MergeStyle mergeStyle, PreTokenizerStyle preStyle)
{
    Json mergeList = Json::array();
    for (const auto& [a, b] : merges)
        mergeList.push_back(mergeStyle == MergeStyle::Strings ? Json(a + " " + b) : Json::array({a, b}));

    const Json byteLevelWithRegex = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    const Json split = {
        {"type", "Split"},
        {"pattern", {{"Regex", R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
        {"behavior", "Isolated"},
        {"invert", false}};
    const Json byteLevelNoRegex = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};

    Json root;
    root["version"] = "1.0";
    root["truncation"] = nullptr;
    root["padding"] = nullptr;
    root["added_tokens"] = Json::array();
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = preStyle == PreTokenizerStyle::ByteLevel
                                ? byteLevelWithRegex
                                : Json{{"type", "Sequence"}, {"pretokenizers", {split, byteLevelNoRegex}}};
    root["post_processor"] = {
        {"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
    root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    root["model"] = {{"type", "BPE"},
                     {"dropout", nullptr},
                     {"unk_token", nullptr},
                     {"continuing_subword_prefix", ""},
                     {"end_of_word_suffix", ""},
                     {"fuse_unk", false},
                     {"byte_fallback", false},
                     {"ignore_merges", false},
                     {"vocab", vocab},
                     {"merges", mergeList}};
    return root;
}

/// Reads a GPT-2 vocab.json + merges.txt pair for conversion into tokenizer.json files.
void readGpt2(const std::string& dir, Json& vocab, std::vector<std::pair<std::string, std::string>>& merges)
{
    vocab = Json::parse(readFile(dir + "/vocab.json"));
    std::istringstream lines(readFile(dir + "/merges.txt"));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line.rfind("#version", 0) == 0)
            continue;
        const size_t space = line.find(' ');
        merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
}

/// Calls fn and checks that it throws aq::Error with `code` and a message containing every one of `needles`.
template <typename Fn>
bool throwsError(Fn&& fn, aq::ErrorCode code, const QStringList& needles, QString* why)
{
    try {
        fn();
    } catch (const aq::Error& e) {
        const QString message = QString::fromUtf8(e.what());
        qInfo("expected error: %s", e.what());
        if (e.code() != code) {
            *why = QStringLiteral("wrong error code %1: %2").arg(int(e.code())).arg(message);
            return false;
        }
        for (const auto& needle : needles) {
            if (!message.contains(needle)) {
                *why = QStringLiteral("message lacks \"%1\": %2").arg(needle, message);
                return false;
            }
        }
        return true;
    } catch (const std::exception& e) {
        *why = QStringLiteral("threw a non-aq exception: %1").arg(QString::fromUtf8(e.what()));
        return false;
    }
    *why = QStringLiteral("did not throw");
    return false;
}

#define AQ_VERIFY_THROWS(expr, code, ...)                                                              \
    do {                                                                                               \
        QString why_;                                                                                  \
        QVERIFY2(throwsError([&] { (void)(expr); }, code, QStringList{__VA_ARGS__}, &why_), qPrintable(why_)); \
    } while (false)


// ---- sentencepiece models with a precompiled character map -----------------------------------------------------
// The stories260K model has an identity normalizer. Protobuf merges a repeated message field, so appending a
// normalizer spec (ModelProto field 3) that holds only a precompiled_charsmap (its field 2) gives the model that map.

std::string protoVarint(uint64_t v)
{
    std::string out;
    do {
        unsigned char b = v & 0x7F;
        v >>= 7;
        out += char(v ? (b | 0x80) : b);
    } while (v);
    return out;
}

std::string protoBytesField(uint32_t field, const std::string& payload)
{
    return protoVarint((uint64_t(field) << 3) | 2) + protoVarint(payload.size()) + payload;
}

/// darts-clone units of a map with one rule, "A" -> "a": root base 256, the node for 'A' at 256 ^ 0x41 = 321 with
/// its leaf at base 384, whose value 0 is the offset of "a" in the string pool.
std::vector<uint32_t> charsMapUnits()
{
    std::vector<uint32_t> units(512, 0);
    units[0] = 256u << 10;                                      // root: offset 256
    units[321] = ((321u ^ 384u) << 10) | (1u << 8) | 0x41u;     // label 'A', has a leaf, child base 384
    units[384] = 0x80000000u | 0u;                              // leaf: value 0
    return units;
}

/// Gives unused units a label that no byte reaching them can match, as darts-clone's builder does (an all-zero unit
/// would match the byte 0). Every base in these maps has its low byte equal to 0 or 0x80, so a byte reaching unit i
/// is (i & 0xFF) or (i & 0xFF) ^ 0x80.
std::vector<uint32_t> withUnusedLabels(std::vector<uint32_t> units)
{
    for (size_t i = 1; i < units.size(); ++i)
        if (units[i] == 0)
            units[i] = uint32_t((i & 0xFF) ^ 0x01);
    return units;
}

std::string charsMapBlob(std::vector<uint32_t> units, const std::string& pool = std::string("a\0", 2))
{
    units = withUnusedLabels(std::move(units));
    std::string blob;
    const uint32_t trieBytes = uint32_t(units.size() * 4);
    for (int i = 0; i < 4; ++i)
        blob += char((trieBytes >> (8 * i)) & 0xFF);
    for (uint32_t u : units)
        for (int i = 0; i < 4; ++i)
            blob += char((u >> (8 * i)) & 0xFF);
    return blob + pool;
}

std::string withCharsMap(const std::string& model, const std::string& blob)
{
    return model + protoBytesField(3, protoBytesField(2, blob));
}

}  // namespace

class TstTokenizers : public QObject {
    Q_OBJECT

private slots:
    // Must stay first: it needs a process in which the shim has not been loaded yet.
    void shimNotFound();

    void testVectors_data();
    void testVectors();
    void tokenizerJson_data();
    void tokenizerJson();
    void tokenizerJsonTemplateBos();
    void tokenizerJsonOptions();
    void wholeTextCounts_data();
    void wholeTextCounts();
    void concurrentEncode();

    void loadTokenizerStories();
    void loadTokenizerOpt();
    void loadTokenizerFallsBackFromUnsupportedJson();
    void tinyBpe();

    void missingFolder();
    void folderWithoutTokenizer();
    void corruptSentencePiece();
    void sentencePieceCharsMap();
    void corruptSentencePieceCharsMap_data();
    void corruptSentencePieceCharsMap();
    void mutatedSentencePieceCharsMap();
    void backtrackingSplitRegex();
    void specialFilesAsText();
    void malformedVocabJson_data();
    void malformedVocabJson();
    void malformedMerges();
    void invalidUtf8Text_data();
    void invalidUtf8Text();
    void unsupportedTokenizerJson_data();
    void unsupportedTokenizerJson();
    void checkUtf8_data();
    void checkUtf8();
};

void TstTokenizers::shimNotFound()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string model = (dir.path() + "/tokenizer.model").toStdString();
    writeFile(model, "not a model");
    const QByteArray bogus = QFile::encodeName(dir.path() + "/missing/libaq_spm.so");
    qputenv("AQ_SPM_SHIM", bogus);
    try {
        aq::loadSentencePiece(model);
        qunsetenv("AQ_SPM_SHIM");
        QFAIL("loading through a missing shim did not fail");
    } catch (const aq::Error& e) {
        qunsetenv("AQ_SPM_SHIM");
        if (e.code() == aq::ErrorCode::BadInput)
            QSKIP("the shim was already loaded in this process (run this test first)");
        QCOMPARE(int(e.code()), int(aq::ErrorCode::Internal));
        QVERIFY2(QString::fromUtf8(e.what()).contains(QString::fromLocal8Bit(bogus)), e.what());
        QVERIFY2(QString::fromUtf8(e.what()).contains(QLatin1String("AQ_SPM_SHIM")), e.what());
    }
}

void TstTokenizers::testVectors_data()
{
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("inputs");
    QTest::addColumn<QString>("expected");
    const QString tv = QStringLiteral("tokenizers/testvectors/");
    QTest::newRow("llama-spm") << "spm" << "tokenizers/llama/tokenizer.model" << tv + "llama-spm.inp"
                               << tv + "llama-spm.out";
    QTest::newRow("gpt-2") << "bpe" << "tokenizers/gpt2" << tv + "gpt-2.inp" << tv + "gpt-2.out";
    // OPT ids over the GPT-2 merges; the derived ids carry no BOS (encode() adds none; see loadTokenizerOpt).
    QTest::newRow("opt") << "bpe" << "tokenizers/opt" << tv + "gpt-2.inp" << tv + "opt.out.derived";
    QTest::newRow("tok512-llama2c") << "spm" << "models/stories260K-llama2c/tok512.model" << tv + "llama-spm.inp"
                                    << tv + "tok512.out.derived";
    QTest::newRow("tok512-hf") << "spm" << "models/stories260K-hf/tokenizer.model" << tv + "llama-spm.inp"
                               << tv + "tok512.out.derived";
}

void TstTokenizers::testVectors()
{
    QFETCH(QString, kind);
    QFETCH(QString, model);
    QFETCH(QString, inputs);
    QFETCH(QString, expected);
    AQ_REQUIRE_FIXTURE(modelPath, model.toStdString());
    AQ_REQUIRE_FIXTURE(inputPath, inputs.toStdString());
    AQ_REQUIRE_FIXTURE(expectedPath, expected.toStdString());

    const auto in = readInputs(inputPath);
    const auto out = readExpected(expectedPath);
    QCOMPARE(in.size(), size_t(46));
    QCOMPARE(out.size(), in.size());
    const auto tok = loadByKind(kind, modelPath);
    qInfo("%s", tok->describe().c_str());
    QCOMPARE(countMatches(*tok, in, out, QTest::currentDataTag()), int(in.size()));
}

void TstTokenizers::tokenizerJson_data()
{
    QTest::addColumn<int>("mergeStyle");
    QTest::addColumn<int>("preStyle");
    QTest::addColumn<bool>("ignoreMerges");
    QTest::newRow("string merges") << int(MergeStyle::Strings) << int(PreTokenizerStyle::ByteLevel) << false;
    QTest::newRow("array merges") << int(MergeStyle::Arrays) << int(PreTokenizerStyle::ByteLevel) << false;
    QTest::newRow("Sequence[Split, ByteLevel]") << int(MergeStyle::Arrays)
                                                << int(PreTokenizerStyle::SplitThenByteLevel) << false;
    // LLaMA-3 files set ignore_merges (a word found whole in the vocabulary is taken as is); on these inputs the
    // GPT-2 merges reach the same tokens.
    QTest::newRow("ignore_merges") << int(MergeStyle::Strings) << int(PreTokenizerStyle::ByteLevel) << true;
}

void TstTokenizers::tokenizerJson()
{
    QFETCH(int, mergeStyle);
    QFETCH(int, preStyle);
    QFETCH(bool, ignoreMerges);
    AQ_REQUIRE_FIXTURE(gpt2, std::string("tokenizers/gpt2"));
    AQ_REQUIRE_FIXTURE(inputPath, std::string("tokenizers/testvectors/gpt-2.inp"));
    AQ_REQUIRE_FIXTURE(expectedPath, std::string("tokenizers/testvectors/gpt-2.out"));

    Json vocab;
    std::vector<std::pair<std::string, std::string>> merges;
    readGpt2(gpt2, vocab, merges);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    Json file = makeTokenizerJson(vocab, merges, MergeStyle(mergeStyle), PreTokenizerStyle(preStyle));
    file["model"]["ignore_merges"] = ignoreMerges;
    writeFile((dir.path() + "/tokenizer.json").toStdString(), file.dump());

    // Through loadTokenizer, which must prefer tokenizer.json; with no config, no BOS is added.
    const auto tok = aq::loadTokenizer(dir.path().toStdString());
    qInfo("%s", tok->describe().c_str());
    QCOMPARE(tok->vocabSize(), int64_t(50257));
    QVERIFY(!tok->addBos());
    const auto in = readInputs(inputPath);
    const auto out = readExpected(expectedPath);
    const QByteArray label = QByteArray("tokenizer.json ") + QTest::currentDataTag();
    QCOMPARE(countMatches(*tok, in, out, label.constData()), int(in.size()));
}

void TstTokenizers::tokenizerJsonTemplateBos()
{
    // A post-processor template that starts with a special token means "prepend BOS" (LLaMA-3 style); the token
    // comes from added_tokens.
    TinyBpe tiny;
    Json file = makeTokenizerJson(tiny.vocab, tiny.merges, MergeStyle::Arrays, PreTokenizerStyle::ByteLevel);
    file["added_tokens"] = Json::array({Json{{"id", 300}, {"content", "<|begin|>"}, {"special", true}},
                                        Json{{"id", 301}, {"content", "<|end|>"}, {"special", true}}});
    file["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", Json::array({Json{{"SpecialToken", {{"id", "<|begin|>"}, {"type_id", 0}}}},
                                Json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
        {"special_tokens", {{"<|begin|>", {{"id", "<|begin|>"}, {"ids", {300}}, {"tokens", {"<|begin|>"}}}}}}};
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    writeFile((dir.path() + "/tokenizer.json").toStdString(), file.dump());
    writeFile((dir.path() + "/tokenizer_config.json").toStdString(),
              Json{{"bos_token", "<|begin|>"}, {"eos_token", {{"content", "<|end|>"}, {"special", true}}}}.dump());

    const auto tok = aq::loadTokenizer(dir.path().toStdString());
    QCOMPARE(tok->bosId(), 300);
    QCOMPARE(tok->eosId(), 301);
    QVERIFY(tok->addBos());
    QCOMPARE(tok->vocabSize(), int64_t(302));
    const Ids ids = tok->encodeForModel("hello hello");
    QCOMPARE(ids, (Ids{300, tiny.vocab["hello"].get<int32_t>(), tiny.vocab[byteChar(' ') + "hello"].get<int32_t>()}));
}

void TstTokenizers::tokenizerJsonOptions()
{
    TinyBpe tiny;
    tiny.vocab["xyz"] = 400;  // no merge builds it: reachable only as a whole word
    const int32_t spaceHello = tiny.vocab[byteChar(' ') + "hello"];
    Json file = makeTokenizerJson(tiny.vocab, tiny.merges, MergeStyle::Strings, PreTokenizerStyle::ByteLevel);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = (dir.path() + "/tokenizer.json").toStdString();

    writeFile(path, file.dump());
    QCOMPARE(aq::loadHfTokenizerJson(path)->encode("xyz hello"), (Ids{'x', 'y', 'z', spaceHello}));

    file["model"]["ignore_merges"] = true;
    writeFile(path, file.dump());
    QCOMPARE(aq::loadHfTokenizerJson(path)->encode("xyz hello"), (Ids{400, spaceHello}));

    // ByteLevel's add_prefix_space puts a space in front unless there is one already.
    file["pre_tokenizer"]["add_prefix_space"] = true;
    writeFile(path, file.dump());
    const auto tok = aq::loadHfTokenizerJson(path);
    QCOMPARE(tok->encode("hello"), Ids{spaceHello});
    QCOMPARE(tok->encode(" hello"), Ids{spaceHello});
    QCOMPARE(tok->encode(""), Ids{});

    // Plain-string Split patterns are literal, not regular expressions.
    file["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {Json{{"type", "Split"}, {"pattern", {{"String", "."}}}, {"behavior", "Isolated"}},
                               Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    writeFile(path, file.dump());
    QCOMPARE(aq::loadHfTokenizerJson(path)->encode("hello.hello"),
             (Ids{tiny.vocab["hello"].get<int32_t>(), '.', tiny.vocab["hello"].get<int32_t>()}));
}

void TstTokenizers::wholeTextCounts_data()
{
    // Reference counts and id sums (mod 1000003) over the whole WikiText-2 test text, computed independently with
    // fixtures/scripts/gpt2bpe.py and the sentencepiece Python module; the LLaMA count plus BOS is the 341,469 of
    // fixtures/README.md.
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("model");
    QTest::addColumn<qint64>("count");
    QTest::addColumn<qint64>("idSum");
    QTest::newRow("gpt-2") << "bpe" << "tokenizers/gpt2" << qint64(287644) << qint64(596602);
    QTest::newRow("llama-spm") << "spm" << "tokenizers/llama/tokenizer.model" << qint64(341468) << qint64(55139);
    QTest::newRow("tok512") << "spm" << "models/stories260K-hf/tokenizer.model" << qint64(815065) << qint64(665130);
}

void TstTokenizers::wholeTextCounts()
{
    QFETCH(QString, kind);
    QFETCH(QString, model);
    QFETCH(qint64, count);
    QFETCH(qint64, idSum);
    AQ_REQUIRE_FIXTURE(modelPath, model.toStdString());
    AQ_REQUIRE_FIXTURE(textPath, std::string("text/wikitext2_test_hf_joined.txt"));
    const std::string text = readFile(textPath);
    const auto tok = loadByKind(kind, modelPath);

    QElapsedTimer timer;
    timer.start();
    const Ids ids = tok->encode(text);
    const qint64 elapsedMs = timer.elapsed();
    qint64 sum = 0;
    for (int32_t id : ids)
        sum = (sum + id) % 1000003;
    qInfo("%s: %zu tokens from %zu bytes in %lld ms", QTest::currentDataTag(), ids.size(), text.size(),
          static_cast<long long>(elapsedMs));
    QCOMPARE(qint64(ids.size()), count);
    QCOMPARE(sum, idSum);
    // A generous bound that still catches a quadratic merge loop or per-call UTF-8 re-validation.
    QVERIFY2(elapsedMs < 60000, "tokenizing 1.3 MB took more than a minute");
}

void TstTokenizers::concurrentEncode()
{
    // encode() is const and documented as usable from any thread; the BPE word cache is shared state.
    AQ_REQUIRE_FIXTURE(gpt2, std::string("tokenizers/gpt2"));
    AQ_REQUIRE_FIXTURE(inputPath, std::string("tokenizers/testvectors/gpt-2.inp"));
    const auto tok = aq::loadGpt2Bpe(gpt2 + "/vocab.json", gpt2 + "/merges.txt");
    const auto inputs = readInputs(inputPath);
    std::string joined;
    for (const auto& s : inputs)
        joined += s + "\n";
    std::vector<Ids> results(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < results.size(); ++t)
        threads.emplace_back([&, t] {
            for (int repeat = 0; repeat < 20; ++repeat)
                results[t] = tok->encode(joined);
        });
    for (auto& thread : threads)
        thread.join();
    const Ids single = tok->encode(joined);
    for (const auto& r : results)
        QCOMPARE(r, single);
}

void TstTokenizers::loadTokenizerStories()
{
    AQ_REQUIRE_FIXTURE(dir, std::string("models/stories260K-hf"));
    const auto tok = aq::loadTokenizer(dir);
    QCOMPARE(tok->describe(), std::string("sentencepiece (512 pieces)"));
    QCOMPARE(tok->vocabSize(), int64_t(512));
    QCOMPARE(tok->bosId(), 1);
    QCOMPARE(tok->eosId(), 2);
    QVERIFY(tok->addBos());
    // "Hello world" from tok512.out.derived, with BOS 1 in front.
    QCOMPARE(tok->encodeForModel("Hello world"), (Ids{1, 346, 306, 414, 263, 304, 341}));
    QCOMPARE(tok->encode("Hello world"), (Ids{346, 306, 414, 263, 304, 341}));
    QCOMPARE(tok->encodeForModel(""), (Ids{1}));
}

void TstTokenizers::loadTokenizerOpt()
{
    AQ_REQUIRE_FIXTURE(dir, std::string("models/tiny-random-opt-hf"));
    const auto tok = aq::loadTokenizer(dir);
    qInfo("%s", tok->describe().c_str());
    // tokenizer_config.json: bos_token "</s>" (id 2) with add_bos_token true, as Hugging Face OPT does.
    QCOMPARE(tok->bosId(), 2);
    QCOMPARE(tok->eosId(), 2);
    QVERIFY(tok->addBos());
    // "Hello world" from opt.out.derived, with BOS 2 in front.
    QCOMPARE(tok->encodeForModel("Hello world"), (Ids{2, 31414, 232}));
    QCOMPARE(tok->encode("Hello world"), (Ids{31414, 232}));
}

void TstTokenizers::loadTokenizerFallsBackFromUnsupportedJson()
{
    // LLaMA-2 folders carry a sentencepiece-style tokenizer.json next to tokenizer.model; the latter is used.
    AQ_REQUIRE_FIXTURE(stories, std::string("models/stories260K-hf"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string d = dir.path().toStdString();
    std::filesystem::copy_file(stories + "/tokenizer.model", d + "/tokenizer.model");
    std::filesystem::copy_file(stories + "/tokenizer_config.json", d + "/tokenizer_config.json");
    writeFile(d + "/tokenizer.json",
              Json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", Json::array()}, {"byte_fallback", true}}},
                   {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\u2581"}}}}
                  .dump());
    const auto tok = aq::loadTokenizer(d);
    QCOMPARE(tok->describe(), std::string("sentencepiece (512 pieces)"));
    QCOMPARE(tok->encodeForModel("Hello world"), (Ids{1, 346, 306, 414, 263, 304, 341}));
}

void TstTokenizers::tinyBpe()
{
    // Needs no fixture: merge order, the per-word cache and the GPT-2 folder layout without any config files.
    TinyBpe tiny;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    tiny.writeGpt2(dir.path());
    const auto tok = aq::loadTokenizer(dir.path().toStdString());
    QCOMPARE(tok->bosId(), -1);
    QVERIFY(!tok->addBos());
    const int32_t hello = tiny.vocab["hello"];
    const int32_t spaceHello = tiny.vocab[byteChar(' ') + "hello"];
    const int32_t ll = tiny.vocab["ll"];
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second round is served from the cache
        QCOMPARE(tok->encode("hello hello"), (Ids{hello, spaceHello}));
        QCOMPARE(tok->encode("hell"), (Ids{tiny.vocab["hell"].get<int32_t>()}));
        QCOMPARE(tok->encode("llll"), (Ids{ll, ll}));
        QCOMPARE(tok->encode("lll"), (Ids{ll, 'l'}));
        QCOMPARE(tok->encode("\xC3\xA9"), (Ids{0xC3, 0xA9}));
    }
    QCOMPARE(tok->encode(""), Ids{});
    QCOMPARE(tok->encodeForModel("hello"), Ids{hello});
}

void TstTokenizers::missingFolder()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string missing = (dir.path() + "/does-not-exist").toStdString();
    AQ_VERIFY_THROWS(aq::loadTokenizer(missing), aq::ErrorCode::BadInput, "no tokenizer found",
                     QString::fromStdString(missing));
}

void TstTokenizers::folderWithoutTokenizer()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    writeFile((dir.path() + "/vocab.json").toStdString(), "{}");  // merges.txt missing: not a tokenizer
    AQ_VERIFY_THROWS(aq::loadTokenizer(dir.path().toStdString()), aq::ErrorCode::BadInput,
                     "no tokenizer found in " + dir.path(), "tokenizer.json", "tokenizer.model",
                     "vocab.json + merges.txt");
}

void TstTokenizers::corruptSentencePiece()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string model = (dir.path() + "/tokenizer.model").toStdString();
    std::mt19937 rng(1234);
    std::string noise(4096, '\0');
    for (auto& c : noise)
        c = char(rng() & 0xFF);
    writeFile(model, noise);
    AQ_VERIFY_THROWS(aq::loadSentencePiece(model), aq::ErrorCode::BadInput, QString::fromStdString(model));
    AQ_VERIFY_THROWS(aq::loadTokenizer(dir.path().toStdString()), aq::ErrorCode::BadInput,
                     QString::fromStdString(model));
    writeFile(model, "");
    AQ_VERIFY_THROWS(aq::loadSentencePiece(model), aq::ErrorCode::BadInput, QString::fromStdString(model));
    AQ_VERIFY_THROWS(aq::loadSentencePiece(model + ".missing"), aq::ErrorCode::BadInput, "not found");
}

void TstTokenizers::sentencePieceCharsMap()
{
    // A well-formed map is accepted and applied: with the rule "A" -> "a", "A" encodes as "a" does.
    AQ_REQUIRE_FIXTURE(source, std::string("models/stories260K-hf/tokenizer.model"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string model = (dir.path() + "/tokenizer.model").toStdString();
    writeFile(model, withCharsMap(readFile(source), charsMapBlob(charsMapUnits())));
    const auto tok = aq::loadSentencePiece(model);
    const auto plain = aq::loadSentencePiece(source);
    QVERIFY(plain->encode("Aa") != plain->encode("aa"));
    QCOMPARE(tok->encode("Aa"), plain->encode("aa"));
    QCOMPARE(tok->encode("Hello world"), plain->encode("Hello world"));
}

void TstTokenizers::corruptSentencePieceCharsMap_data()
{
    QTest::addColumn<QByteArray>("blob");
    QTest::addColumn<QString>("needle");
    auto bytes = [](const std::string& s) { return QByteArray(s.data(), qsizetype(s.size())); };
    {
        // The node for 'A' points about 2 GB past the array: sentencepiece reads there while encoding "A".
        auto units = charsMapUnits();
        units[321] = (0x1FFFFFu << 10) | (1u << 9) | (1u << 8) | 0x41u;
        QTest::newRow("child outside the trie") << bytes(charsMapBlob(units)) << "points outside its trie";
    }
    {
        auto units = charsMapUnits();
        units[0] = 0x3FFu << 10;  // root base 1023: its block ends past the 512 units
        QTest::newRow("root outside the trie") << bytes(charsMapBlob(units)) << "points outside its trie";
    }
    {
        auto units = charsMapUnits();
        units[384] = 0x80000000u | 5000u;
        QTest::newRow("replacement outside the pool") << bytes(charsMapBlob(units)) << "outside its string pool";
    }
    QTest::newRow("pool without NUL") << bytes(charsMapBlob(charsMapUnits(), "a")) << "outside its string pool";
    {
        // 'A' leads back to the root block: "AAAA..." would collect a match per byte.
        auto units = charsMapUnits();
        units[321] = ((321u ^ 256u) << 10) | (1u << 8) | 0x41u;
        QTest::newRow("cycle") << bytes(charsMapBlob(units)) << "has a cycle";
    }
    {
        // A chain of 40 nodes for "AAAA...", each with a leaf: more prefix matches than sentencepiece can hold.
        std::vector<uint32_t> units(256 * 42, 0);
        units[0] = 256u << 10;
        for (uint32_t level = 0; level < 40; ++level) {
            const uint32_t base = 256 * (level + 1), node = base ^ 0x41u, child = base + 256;
            units[node] = ((node ^ child) << 10) | (1u << 8) | 0x41u;
            units[child] = 0x80000000u;  // leaf value 0 at the child base ("a")
        }
        QTest::newRow("too many prefix matches") << bytes(charsMapBlob(units)) << "more than 32 prefixes";
    }
}

void TstTokenizers::corruptSentencePieceCharsMap()
{
    // A damaged precompiled character map used to crash inside sentencepiece's encoder (reading past its arrays);
    // it must be refused when loading, naming the file.
    AQ_REQUIRE_FIXTURE(source, std::string("models/stories260K-hf/tokenizer.model"));
    QFETCH(QByteArray, blob);
    QFETCH(QString, needle);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string model = (dir.path() + "/tokenizer.model").toStdString();
    writeFile(model, withCharsMap(readFile(source), blob.toStdString()));
    AQ_VERIFY_THROWS(aq::loadSentencePiece(model)->encode(std::string(64, 'A') + " Hello"), aq::ErrorCode::BadInput,
                     QString::fromStdString(model), "character map", needle);
}

void TstTokenizers::mutatedSentencePieceCharsMap()
{
    // Random damage to a map: every model is either refused as bad input or encodes without crashing.
    AQ_REQUIRE_FIXTURE(source, std::string("models/stories260K-hf/tokenizer.model"));
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string base = readFile(source);
    const std::string model = (dir.path() + "/tokenizer.model").toStdString();
    std::string text;
    for (int c = 1; c < 128; ++c)
        text += char(c);
    text = text + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA " + text;
    std::mt19937 rng(20261205);
    int refused = 0;
    for (int round = 0; round < 300; ++round) {
        std::string blob = charsMapBlob(charsMapUnits());
        const int edits = 1 + int(rng() % 4);
        for (int e = 0; e < edits; ++e) {
            // Damage the interesting units (root, 'A', leaf) most of the time, anything else otherwise.
            static const size_t hot[] = {0, 321, 384};
            const size_t unit = rng() % 2 ? hot[rng() % 3] : rng() % 512;
            blob[4 + 4 * unit + rng() % 4] = char(rng() & 0xFF);
        }
        writeFile(model, withCharsMap(base, blob));
        try {
            aq::loadSentencePiece(model)->encode(text);
        } catch (const aq::Error& e) {
            QCOMPARE(int(e.code()), int(aq::ErrorCode::BadInput));
            ++refused;
        }
    }
    QVERIFY(refused > 0);
}

void TstTokenizers::backtrackingSplitRegex()
{
    // `a*b|a` backtracks over the rest of the text at every position: it used to take seconds on 100 KB and minutes
    // on 1 MB. Now the regex's work is bounded by the text's length and such a pattern is refused as bad input.
    TinyBpe tiny;
    Json file = makeTokenizerJson(tiny.vocab, tiny.merges, MergeStyle::Strings, PreTokenizerStyle::ByteLevel);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = (dir.path() + "/tokenizer.json").toStdString();
    const Json split = {{"type", "Split"}, {"pattern", {{"Regex", "a*b|a"}}}, {"behavior", "Isolated"}};
    const Json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
    const std::string bomb(1 << 20, 'a');
    // Split before and after the ByteLevel stage (tokenizer.json needs one).
    for (const Json& pre : {Json{{"type", "Sequence"}, {"pretokenizers", {split, byteLevel}}},
                            Json{{"type", "Sequence"}, {"pretokenizers", {byteLevel, split}}}}) {
        file["pre_tokenizer"] = pre;
        writeFile(path, file.dump());
        const auto tok = aq::loadHfTokenizerJson(path);
        QCOMPARE(tok->encode("aab"), (Ids{'a', 'a', 'b'}));  // short texts split as the pattern says
        QElapsedTimer timer;
        timer.start();
        AQ_VERIFY_THROWS(tok->encode(bomb), aq::ErrorCode::BadInput, QString::fromStdString(path),
                         "needs too much work on this text");
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed()) + " ms"));
    }

    // The patterns real tokenizers use stay unaffected on long runs of one character class (LLaMA-3's pattern
    // backtracks over a whole run of spaces once in \s*[\r\n]+).
    const std::string llama3 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    file["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {Json{{"type", "Split"}, {"pattern", {{"Regex", llama3}}}, {"behavior", "Isolated"}},
                               byteLevel}}};
    writeFile(path, file.dump());
    const auto llama = aq::loadHfTokenizerJson(path);
    const std::string longRuns = std::string(1 << 20, ' ') + "x" + std::string(1 << 20, 'y') + std::string(1 << 18, '1') +
                                 std::string(1 << 18, '!');
    QElapsedTimer timer;
    timer.start();
    QCOMPARE(llama->encode(longRuns).empty(), false);
    QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed()) + " ms"));

    // Words longer than the regex's first window, or ending right at it, split exactly as a whole-text match would:
    // "zz...zhello" stays one word, so its "hello" still merges.
    const int32_t hello = tiny.vocab["hello"].get<int32_t>();
    for (size_t zs : {size_t(4000), size_t(4026), size_t(4027), size_t(4091), size_t(4093), size_t(9000), size_t(70000)}) {
        Ids expected(zs, int32_t('z'));
        expected.push_back(hello);
        expected.push_back(int32_t('.'));
        QCOMPARE(llama->encode(std::string(zs, 'z') + "hello."), expected);
    }
}

void TstTokenizers::specialFilesAsText()
{
    // `--text /dev/zero` used to read until memory ran out, and a FIFO blocked forever: only regular files are read.
    AQ_VERIFY_THROWS(aq::readTextForModel("/dev/zero"), aq::ErrorCode::BadInput, "/dev/zero",
                     "is not a regular file");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string fifo = (dir.path() + "/text.fifo").toStdString();
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    AQ_VERIFY_THROWS(aq::readTextForModel(fifo), aq::ErrorCode::BadInput, QString::fromStdString(fifo),
                     "is not a regular file");
    const std::string text = (dir.path() + "/text.txt").toStdString();
    writeFile(text, "Hello world\n");
    QCOMPARE(aq::readTextForModel(text), std::string("Hello world\n"));
}

void TstTokenizers::malformedVocabJson_data()
{
    QTest::addColumn<QByteArray>("vocab");
    QTest::addColumn<QString>("needle");
    QTest::newRow("truncated") << QByteArray(R"({"a": 0, "b": )") << "JSON";
    QTest::newRow("not an object") << QByteArray("[1, 2, 3]") << "not a JSON object";
    QTest::newRow("string id") << QByteArray(R"({"a": "zero"})") << "invalid id";
    QTest::newRow("negative id") << QByteArray(R"({"a": -1})") << "invalid id";
    QTest::newRow("empty") << QByteArray("{}") << "empty";
    QTest::newRow("binary") << QByteArray("\xFF\xFE\x00\x01", 4) << "JSON";
}

void TstTokenizers::malformedVocabJson()
{
    QFETCH(QByteArray, vocab);
    QFETCH(QString, needle);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string d = dir.path().toStdString();
    writeFile(d + "/vocab.json", vocab.toStdString());
    writeFile(d + "/merges.txt", "#version: 0.2\na b\n");
    AQ_VERIFY_THROWS(aq::loadGpt2Bpe(d + "/vocab.json", d + "/merges.txt"), aq::ErrorCode::BadInput, needle,
                     QString::fromStdString(d + "/vocab.json"));
    AQ_VERIFY_THROWS(aq::loadTokenizer(d), aq::ErrorCode::BadInput, needle);
}

void TstTokenizers::malformedMerges()
{
    TinyBpe tiny;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    tiny.writeGpt2(dir.path());
    const std::string d = dir.path().toStdString();
    writeFile(d + "/merges.txt", tiny.mergesTxt() + "x y z\n");
    AQ_VERIFY_THROWS(aq::loadGpt2Bpe(d + "/vocab.json", d + "/merges.txt"), aq::ErrorCode::BadInput, "line 7");
    writeFile(d + "/merges.txt", tiny.mergesTxt() + "hello world\n");  // "world" is not in the vocabulary
    AQ_VERIFY_THROWS(aq::loadGpt2Bpe(d + "/vocab.json", d + "/merges.txt"), aq::ErrorCode::BadInput,
                     "not in the vocabulary", "line 7");
    writeFile(d + "/merges.txt", "#version: 0.2\n");
    AQ_VERIFY_THROWS(aq::loadGpt2Bpe(d + "/vocab.json", d + "/merges.txt"), aq::ErrorCode::BadInput, "no merges");
    AQ_VERIFY_THROWS(aq::loadGpt2Bpe(d + "/vocab.json", d + "/missing.txt"), aq::ErrorCode::BadInput, "missing.txt");
}

void TstTokenizers::invalidUtf8Text_data()
{
    QTest::addColumn<QString>("kind");
    QTest::newRow("bpe") << "bpe";
    QTest::newRow("tokenizer.json") << "json";
    QTest::newRow("sentencepiece") << "spm";
}

void TstTokenizers::invalidUtf8Text()
{
    QFETCH(QString, kind);
    std::unique_ptr<aq::Tokenizer> tok;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    TinyBpe tiny;
    if (kind == QLatin1String("spm")) {
        AQ_REQUIRE_FIXTURE(model, std::string("models/stories260K-hf/tokenizer.model"));
        tok = aq::loadSentencePiece(model);
    } else if (kind == QLatin1String("json")) {
        const std::string path = (dir.path() + "/tokenizer.json").toStdString();
        writeFile(path, makeTokenizerJson(tiny.vocab, tiny.merges, MergeStyle::Strings, PreTokenizerStyle::ByteLevel)
                            .dump());
        tok = aq::loadHfTokenizerJson(path);
    } else {
        tiny.writeGpt2(dir.path());
        tok = aq::loadGpt2Bpe((dir.path() + "/vocab.json").toStdString(), (dir.path() + "/merges.txt").toStdString());
    }
    AQ_VERIFY_THROWS(tok->encode("hello \xFF world"), aq::ErrorCode::BadInput, "UTF-8", "byte offset 6");
    AQ_VERIFY_THROWS(tok->encodeForModel("h\xC3"), aq::ErrorCode::BadInput, "UTF-8", "byte offset 1");
    QVERIFY(!tok->encode("h\xC3\xA9llo").empty());
}

void TstTokenizers::unsupportedTokenizerJson_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("needle");
    const Json bpeModel = {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", {"a b"}}};
    const Json byteLevel = {{"type", "ByteLevel"}};
    auto row = [](const char* name, const Json& j, const char* needle) {
        QTest::newRow(name) << QByteArray::fromStdString(j.dump()) << QString::fromLatin1(needle);
    };
    row("WordPiece", Json{{"model", {{"type", "WordPiece"}, {"vocab", {{"a", 0}}}}}, {"pre_tokenizer", byteLevel}},
        "WordPiece");
    row("Unigram", Json{{"model", {{"type", "Unigram"}, {"vocab", Json::array()}}}}, "Unigram");
    row("WordLevel", Json{{"model", {{"type", "WordLevel"}, {"vocab", {{"a", 0}}}}}}, "WordLevel");
    row("no model", Json{{"version", "1.0"}}, "no \"model\"");
    row("Metaspace", Json{{"model", bpeModel}, {"pre_tokenizer", {{"type", "Metaspace"}}}}, "Metaspace");
    row("no pre-tokenizer", Json{{"model", bpeModel}, {"pre_tokenizer", nullptr}}, "ByteLevel");
    row("Split Removed",
        Json{{"model", bpeModel},
             {"pre_tokenizer",
              {{"type", "Sequence"},
               {"pretokenizers",
                {Json{{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}}, byteLevel}}}}},
        "Removed");
    row("bad regex",
        Json{{"model", bpeModel},
             {"pre_tokenizer",
              {{"type", "Sequence"},
               {"pretokenizers", {Json{{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}}, byteLevel}}}}},
        "regex");
    row("Lowercase normalizer", Json{{"model", bpeModel}, {"normalizer", {{"type", "Lowercase"}}}, {"pre_tokenizer", byteLevel}},
        "Lowercase");
    row("merge out of vocabulary",
        Json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", {"a b"}}}},
             {"pre_tokenizer", byteLevel}},
        "not in the vocabulary");
    row("malformed merge", Json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {42}}}}, {"pre_tokenizer", byteLevel}},
        "merge 0");
}

void TstTokenizers::unsupportedTokenizerJson()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, needle);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = (dir.path() + "/tokenizer.json").toStdString();
    writeFile(path, json.toStdString());
    AQ_VERIFY_THROWS(aq::loadHfTokenizerJson(path), aq::ErrorCode::BadInput, needle);
    // With nothing to fall back to, loadTokenizer reports the same problem.
    AQ_VERIFY_THROWS(aq::loadTokenizer(dir.path().toStdString()), aq::ErrorCode::BadInput, needle);
}

void TstTokenizers::checkUtf8_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<int>("badOffset");  // -1: valid
    QTest::newRow("empty") << QByteArray() << -1;
    QTest::newRow("ascii") << QByteArray("plain ASCII text, long enough for the fast path") << -1;
    QTest::newRow("two-byte") << QByteArray("h\xC3\xA9llo") << -1;
    QTest::newRow("four-byte") << QByteArray("\xF0\x9F\xA6\x99 llama") << -1;
    QTest::newRow("max code point") << QByteArray("\xF4\x8F\xBF\xBF") << -1;
    QTest::newRow("stray continuation") << QByteArray("abc\x80") << 3;
    QTest::newRow("invalid lead after ascii run") << QByteArray("0123456789abcdef\xFF") << 16;
    QTest::newRow("truncated at end") << QByteArray("abc\xE2\x82") << 3;
    QTest::newRow("missing continuation") << QByteArray("a\xE2(b") << 2;
    QTest::newRow("overlong") << QByteArray("\xC0\xAF") << 0;
    QTest::newRow("overlong three-byte") << QByteArray("x\xE0\x80\xAF") << 1;
    QTest::newRow("surrogate") << QByteArray("ok\xED\xA0\x80") << 2;
    QTest::newRow("above U+10FFFF") << QByteArray("\xF4\x90\x80\x80") << 0;
    QTest::newRow("NUL is valid") << QByteArray("a\0b", 3) << -1;
}

void TstTokenizers::checkUtf8()
{
    QFETCH(QByteArray, text);
    QFETCH(int, badOffset);
    const std::string_view view(text.constData(), size_t(text.size()));
    if (badOffset < 0) {
        aq::checkUtf8(view, "sample");  // must not throw
        return;
    }
    AQ_VERIFY_THROWS(aq::checkUtf8(view, "sample"), aq::ErrorCode::BadInput, "sample",
                     QStringLiteral("byte offset %1").arg(badOffset));
}

QTEST_APPLESS_MAIN(TstTokenizers)
#include "tst_tokenizers.moc"
