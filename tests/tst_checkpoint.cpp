// Checkpoint reading: config parsing, safetensors validation (every corruption gives BadInput), shards, .bin.
// LibTorch headers must come before any Qt header (Qt's `slots` macro breaks them).
#include "checkpoint.h"
#include "model.h"
#include "safetensors.h"

#include "aq/error.h"
#include "aq/model_config.h"
#include "aq/model_info.h"
#include "testutil.h"

#include <nlohmann/json.hpp>

#include <QElapsedTimer>
#include <QFile>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using aq::detail::Checkpoint;
using aq::detail::SafetensorsFile;

namespace {

void writeBytes(const fs::path& p, const std::string& bytes)
{
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string le64(uint64_t v)
{
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
        s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

/// A safetensors file with the given header text and `dataBytes` bytes of payload.
std::string makeSafetensors(const std::string& header, size_t dataBytes)
{
    return le64(header.size()) + header + std::string(dataBytes, '\x01');
}

/// Copies a fixture model folder, optionally patching config.json.
fs::path copyModel(const std::string& src, const fs::path& dst, const nlohmann::json& patch = {})
{
    fs::create_directories(dst);
    for (const auto& e : fs::directory_iterator(src))
        fs::copy_file(e.path(), dst / e.path().filename(), fs::copy_options::overwrite_existing);
    if (!patch.is_null()) {
        std::ifstream in(dst / "config.json");
        nlohmann::json c = nlohmann::json::parse(in);
        c.merge_patch(patch);
        fs::permissions(dst / "config.json", fs::perms::owner_all, fs::perm_options::add);
        std::ofstream(dst / "config.json") << c.dump(2);
    }
    return dst;
}

#define QVERIFY_BAD_INPUT(expr, fragment)                                                               \
    do {                                                                                                \
        bool thrown = false;                                                                            \
        try {                                                                                           \
            expr;                                                                                       \
        } catch (const aq::Error& e) {                                                                  \
            thrown = true;                                                                              \
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);                                                \
            QVERIFY2(std::string(e.what()).find(fragment) != std::string::npos, e.what());              \
        }                                                                                               \
        QVERIFY2(thrown, "expected aq::Error(BadInput) mentioning: " fragment);                         \
    } while (0)

}  // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT

private slots:
    void safetensorsRoundTrip()
    {
        QTemporaryDir dir;
        const fs::path p = fs::path(dir.path().toStdString()) / "t.safetensors";
        torch::manual_seed(1);
        auto a = torch::randn({3, 5});
        auto b = torch::randn({7}).to(torch::kFloat16);
        auto c = torch::randn({2, 2, 2}).to(torch::kBFloat16);
        aq::detail::writeSafetensors(p.string(), {{"a", a}, {"b", b}, {"c", c}}, {{"format", "pt"}});
        SafetensorsFile f(p.string());
        QCOMPARE(f.entries().size(), size_t(3));
        QCOMPARE(f.entries().at("b").dtype, std::string("F16"));
        QCOMPARE(f.entries().at("c").dtype, std::string("BF16"));
        QCOMPARE(f.metadata().at("format"), std::string("pt"));
        QVERIFY(torch::equal(f.load("a"), a));
        QVERIFY(torch::equal(f.load("b"), b));
        QVERIFY(torch::equal(f.load("c"), c));
        QVERIFY(!fs::exists(p.string() + ".partial"));
    }

    void corruptSafetensors_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("fragment");
        const std::string ok = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
        QTest::newRow("empty file") << QByteArray() << "truncated";
        QTest::newRow("shorter than header length") << QByteArray("\x10\x00\x00", 3) << "truncated";
        const std::string truncated = makeSafetensors(ok, 16).substr(0, 8 + ok.size() + 7);
        QTest::newRow("truncated data") << QByteArray::fromStdString(truncated) << "past the end";
        QTest::newRow("absurd header length")
            << QByteArray::fromStdString(le64(uint64_t(1) << 60) + "{}") << "header claims";
        QTest::newRow("header longer than file") << QByteArray::fromStdString(le64(1000) + ok) << "header claims";
        QTest::newRow("header not json") << QByteArray::fromStdString(makeSafetensors("{nope", 0)) << "not valid JSON";
        QTest::newRow("offsets past end")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 8))
            << "past the end";
        QTest::newRow("overlap")
            << QByteArray::fromStdString(makeSafetensors(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   16))
            << "overlap";
        QTest::newRow("unknown dtype")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F8_E9","shape":[2],"data_offsets":[0,2]}})", 2))
            << "unknown dtype 'F8_E9'";
        QTest::newRow("size mismatch")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8))
            << "occupies 8 bytes";
        QTest::newRow("negative dim")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4))
            << "negative";
        QTest::newRow("reversed offsets")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8))
            << "past the end";
        QTest::newRow("missing fields")
            << QByteArray::fromStdString(makeSafetensors(R"({"w":{"dtype":"F32"}})", 0)) << "malformed";
        {
            // A length prefix one byte short: the header still parses (it ends in padding) but every weight would be
            // read one byte off.
            std::string header = ok + "   ";
            std::string file = le64(header.size() - 1) + header + std::string(16, '\x01');
            QTest::newRow("header length one byte short") << QByteArray::fromStdString(file) << "tensors cover 16 bytes";
        }
        QTest::newRow("trailing bytes") << QByteArray::fromStdString(makeSafetensors(ok, 17)) << "tensors cover 16 bytes";
        QTest::newRow("gap")
            << QByteArray::fromStdString(makeSafetensors(
                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                   20))
            << "belong to no tensor";
    }
    void corruptSafetensors()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, fragment);
        QTemporaryDir dir;
        const fs::path p = fs::path(dir.path().toStdString()) / "bad.safetensors";
        writeBytes(p, bytes.toStdString());
        bool thrown = false;
        try {
            SafetensorsFile f(p.string());
        } catch (const aq::Error& e) {
            thrown = true;
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);
            QVERIFY2(std::string(e.what()).find(fragment.toStdString()) != std::string::npos, e.what());
        }
        QVERIFY(thrown);
    }

    void configErrors_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("fragment");
        QTest::newRow("unknown type") << R"({"model_type":"gpt_neox","vocab_size":10})" << "model type 'gpt_neox'";
        QTest::newRow("no type") << R"({"vocab_size":10})" << "no 'model_type'";
        QTest::newRow("missing hidden") << R"({"model_type":"llama","vocab_size":10})" << "hidden_size";
        QTest::newRow("bad rope scaling")
            << R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rope_scaling":{"type":"yarn","factor":2}})"
            << "rope_scaling type 'yarn'";
        QTest::newRow("heads not multiple")
            << R"({"model_type":"llama","vocab_size":10,"hidden_size":12,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":3,"num_key_value_heads":2})"
            << "not a multiple";
        QTest::newRow("bad activation")
            << R"({"model_type":"opt","vocab_size":10,"hidden_size":8,"ffn_dim":8,"num_hidden_layers":1,"num_attention_heads":2,"activation_function":"swish"})"
            << "activation_function 'swish'";
        QTest::newRow("not json") << "{" << "not valid JSON";
        // Wrong JSON types name the key and what was expected, and absurd values are refused up front.
        const QString base =
            R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2)";
        QTest::newRow("rope type a number") << base + R"(,"rope_scaling":{"type":3,"factor":2}})"
                                            << "'rope_scaling': 'type' must be a string, not a number (3)";
        QTest::newRow("rope type an object") << base + R"(,"rope_scaling":{"rope_type":{"a":1},"factor":2}})"
                                             << "'rope_type' must be a string, not an object";
        QTest::newRow("rope type a bool") << base + R"(,"rope_scaling":{"type":true}})"
                                          << "'type' must be a string, not a boolean (true)";
        QTest::newRow("rope factor a string") << base + R"(,"rope_scaling":{"type":"linear","factor":"2"}})"
                                              << "'factor' must be a number, not a string";
        QTest::newRow("rope factor absurd") << base + R"(,"rope_scaling":{"type":"linear","factor":1e300}})"
                                            << "rope_scaling factor is 1e+300";
        QTest::newRow("rope factor zero") << base + R"(,"rope_scaling":{"type":"linear","factor":0}})"
                                          << "rope_scaling factor is 0";
        QTest::newRow("llama3 low factor") << base + R"(,"rope_scaling":{"rope_type":"llama3","low_freq_factor":-1}})"
                                           << "low_freq_factor";
        QTest::newRow("rope_theta zero") << base + R"(,"rope_theta":0})" << "'rope_theta' is 0";
        QTest::newRow("rope_theta negative") << base + R"(,"rope_theta":-10000})" << "'rope_theta' is -10000";
        QTest::newRow("rope_theta a string") << base + R"(,"rope_theta":"1e4"})" << "'rope_theta' must be a number";
        QTest::newRow("layers a string") << QString(base).replace(R"("num_hidden_layers":1)", R"("num_hidden_layers":"1")") + "}"
                                         << "'num_hidden_layers' must be a non-negative integer, not a string";
        QTest::newRow("layers 10^9") << QString(base).replace(R"("num_hidden_layers":1)", R"("num_hidden_layers":1000000000)") + "}"
                                     << "'num_hidden_layers' is 1000000000, more than the limit";
        QTest::newRow("layers above int64") << QString(base).replace(R"("num_hidden_layers":1)", R"("num_hidden_layers":18446744073709551615)") + "}"
                                            << "must be a non-negative integer";
        QTest::newRow("positions absurd") << base + R"(,"max_position_embeddings":4611686018427387904})"
                                          << "'max_position_embeddings' is 4611686018427387904, more than the limit";
        QTest::newRow("wbits wrapping") << base + R"(,"affinequant":{"wbits":4294967300}})" << "between 2 and 16";
    }
    void configErrors()
    {
        QFETCH(QString, json);
        QFETCH(QString, fragment);
        bool thrown = false;
        try {
            aq::parseModelConfig(json.toStdString(), "config.json");
        } catch (const aq::Error& e) {
            thrown = true;
            QCOMPARE(e.code(), aq::ErrorCode::BadInput);
            QVERIFY2(std::string(e.what()).find(fragment.toStdString()) != std::string::npos, e.what());
        }
        QVERIFY(thrown);
    }

    void configVariants()
    {
        auto mistral = aq::parseModelConfig(
            R"({"model_type":"mistral","vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,
                "num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768,"sliding_window":4096})",
            "mistral");
        QVERIFY(mistral.isGqa());
        QCOMPARE(mistral.headDim, int64_t(128));
        mistral.checkSequenceLength(4096);
        QVERIFY_BAD_INPUT(mistral.checkSequenceLength(8192), "sliding window");
        auto qwen = aq::parseModelConfig(
            R"({"model_type":"qwen2","vocab_size":100,"hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,
                "num_attention_heads":4,"num_key_value_heads":2,"tie_word_embeddings":true})",
            "qwen2");
        QVERIFY(qwen.attentionBias);
        QVERIFY(!qwen.attentionOutBias);
        auto l3 = aq::parseModelConfig(
            R"({"model_type":"llama","vocab_size":128256,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,
                "num_attention_heads":32,"num_key_value_heads":8,"rope_theta":500000.0,"bos_token_id":128000,"eos_token_id":[128001,128009],
                "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}})",
            "llama3");
        QCOMPARE(l3.ropeScaling.type, aq::RopeScaling::Type::Llama3);
        QCOMPARE(l3.eosTokenId, int64_t(128001));
        auto opt = aq::parseModelConfig(
            R"({"model_type":"opt","vocab_size":50272,"hidden_size":1024,"ffn_dim":4096,"num_hidden_layers":24,
                "num_attention_heads":16,"word_embed_proj_dim":512,"do_layer_norm_before":false})",
            "opt-350m");
        QCOMPARE(opt.wordEmbedProjDim, int64_t(512));
        QVERIFY(!opt.doLayerNormBefore);
        QCOMPARE(aq::detail::expectedTensors(opt).back().shape, (std::vector<int64_t>{50272, 512}));
    }

    void missingFiles()
    {
        QTemporaryDir dir;
        const std::string d = dir.path().toStdString();
        QVERIFY_BAD_INPUT(aq::inspectModel(d + "/nope"), "does not exist");
        QVERIFY_BAD_INPUT(aq::inspectModel(d), "no config.json");
        std::ofstream(fs::path(d) / "config.json")
            << R"({"model_type":"llama","vocab_size":10,"hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2})";
        QVERIFY_BAD_INPUT(aq::inspectModel(d), "has no weights");
    }

    void shapeInconsistentWithConfig()
    {
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        QTemporaryDir dir;
        auto d = copyModel(src, fs::path(dir.path().toStdString()) / "m", {{"intermediate_size", 256}});
        QVERIFY_BAD_INPUT(aq::inspectModel(d.string()), "has shape [172, 64] but config.json implies [256, 64]");
        auto d2 = copyModel(src, fs::path(dir.path().toStdString()) / "m2", {{"num_hidden_layers", 6}});
        QVERIFY_BAD_INPUT(aq::inspectModel(d2.string()), "says num_hidden_layers is 6 but the weights hold 5 layers");
    }

    void layerCountAgainstWeights()
    {
        // Fewer layers in config.json than in the weights used to be accepted (a truncated model was evaluated);
        // a huge count used to build a per-layer list until memory ran out. Both fail at once now.
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        auto fewer = copyModel(src, root / "fewer", {{"num_hidden_layers", 4}});
        QVERIFY_BAD_INPUT(aq::inspectModel(fewer.string()), "says num_hidden_layers is 4 but the weights hold 5 layers");
        QVERIFY_BAD_INPUT(Checkpoint(fewer.string()).validate(), "the weights hold 5 layers");
        QElapsedTimer timer;
        timer.start();
        auto many = copyModel(src, root / "many", {{"num_hidden_layers", 60000}});
        QVERIFY_BAD_INPUT(aq::inspectModel(many.string()), "says num_hidden_layers is 60000 but the weights hold 5");
        auto huge = copyModel(src, root / "huge", {{"num_hidden_layers", 1000000000}});
        QVERIFY_BAD_INPUT(aq::inspectModel(huge.string()), "more than the limit");
        QVERIFY2(timer.elapsed() < 5000, qPrintable(QString::number(timer.elapsed()) + " ms"));
    }

    void specialFilesAreRefused()
    {
        // A FIFO in place of a weights file or config.json used to block forever in open(); only regular files are
        // read.
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        QTemporaryDir dir;
        const fs::path root(dir.path().toStdString());
        auto single = copyModel(src, root / "single");
        fs::remove(single / "model.safetensors");
        QCOMPARE(::mkfifo((single / "model.safetensors").c_str(), 0600), 0);
        QVERIFY_BAD_INPUT(Checkpoint c(single.string()), "is not a regular file");

        auto sharded = copyModel(src, root / "sharded");
        fs::rename(sharded / "model.safetensors", sharded / "model-00001-of-00002.safetensors");
        QCOMPARE(::mkfifo((sharded / "model-00002-of-00002.safetensors").c_str(), 0600), 0);
        nlohmann::json index = {{"weight_map",
                                 {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                                  {"model.norm.weight", "model-00002-of-00002.safetensors"}}}};
        std::ofstream(sharded / "model.safetensors.index.json") << index.dump();
        QVERIFY_BAD_INPUT(Checkpoint c(sharded.string()), "model-00002-of-00002.safetensors' is not a regular file");

        auto config = copyModel(src, root / "config");
        fs::remove(config / "config.json");
        QCOMPARE(::mkfifo((config / "config.json").c_str(), 0600), 0);
        QVERIFY_BAD_INPUT(aq::loadModelConfig(config.string()), "is not a regular file");
    }

    void hugeTensorOutOfMemory()
    {
        // A 1 TB tensor in a sparse file: reading it fails for lack of memory, and the message names the tensor and
        // its size instead of advising fewer calibration samples.
        QFile overcommit(QStringLiteral("/proc/sys/vm/overcommit_memory"));
        if (overcommit.open(QIODevice::ReadOnly) && overcommit.readAll().trimmed() == "1")
            QSKIP("memory overcommit is unlimited here: a 1 TB allocation would succeed and then be killed");
        QTemporaryDir dir;
        const fs::path p = fs::path(dir.path().toStdString()) / "huge.safetensors";
        const uint64_t bytes = uint64_t(1) << 40;
        const std::string header = R"({"w":{"dtype":"F32","shape":[)" + std::to_string(bytes / 4) +
                                   R"(],"data_offsets":[0,)" + std::to_string(bytes) + "]}}";
        writeBytes(p, le64(header.size()) + header);
        std::error_code ec;
        fs::resize_file(p, 8 + header.size() + bytes, ec);
        if (ec)
            QSKIP(qPrintable(QString::fromStdString("cannot make a 1 TB sparse file here: " + ec.message())));
        SafetensorsFile f(p.string());
        bool thrown = false;
        try {
            (void)f.load("w");
        } catch (const aq::Error& e) {
            thrown = true;
            QCOMPARE(e.code(), aq::ErrorCode::OutOfMemory);
            const std::string what = e.what();
            QVERIFY2(what.find("tensor 'w'") != std::string::npos && what.find("1099.5 GB") != std::string::npos,
                     e.what());
            QVERIFY2(what.find("nsamples") == std::string::npos, e.what());
        }
        QVERIFY(thrown);
    }

    void inspectStories()
    {
        AQ_REQUIRE_FIXTURE(src, "models/stories260K-hf");
        const auto s = aq::inspectModel(src);
        QCOMPARE(s.config.numKvHeads, int64_t(4));
        QVERIFY(s.config.isGqa());
        QVERIFY(s.config.tieWordEmbeddings);
        QCOMPARE(s.weightFormat, std::string("safetensors"));
        QCOMPARE(s.parametersByDtype.size(), size_t(1));
        QCOMPARE(s.parametersByDtype.begin()->first, std::string("F32"));
        // 512*64 embeddings + 5 * (2*64 norms + 64*64*2 (q,o) + 2*32*64 (k,v) + 3*172*64) + 64 final norm
        QCOMPARE(s.parameterCount, int64_t(512 * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) + 64));
    }

    void binMatchesSafetensors()
    {
        AQ_REQUIRE_FIXTURE(st, "models/stories260K-hf");
        AQ_REQUIRE_FIXTURE(bin, "models/stories260K-hf-bin");
        Checkpoint a(st), b(bin);
        QCOMPARE(b.format(), std::string("pytorch_model.bin"));
        b.validate();
        for (const auto& name : a.names())
            QVERIFY2(torch::equal(a.load(name), b.load(name)), name.c_str());
    }

    void shardedIndex()
    {
        AQ_REQUIRE_FIXTURE(st, "models/stories260K-hf");
        QTemporaryDir dir;
        const fs::path d = fs::path(dir.path().toStdString());
        Checkpoint a(st);
        fs::copy_file(fs::path(st) / "config.json", d / "config.json");
        std::vector<std::pair<std::string, torch::Tensor>> s1, s2;
        nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
        int i = 0;
        for (const auto& name : a.names()) {
            const bool first = (i++ % 2) == 0;
            (first ? s1 : s2).emplace_back(name, a.load(name).to(torch::kBFloat16));
            index["weight_map"][name] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
        }
        aq::detail::writeSafetensors((d / "model-00001-of-00002.safetensors").string(), s1);
        aq::detail::writeSafetensors((d / "model-00002-of-00002.safetensors").string(), s2);
        std::ofstream(d / "model.safetensors.index.json") << index.dump();
        Checkpoint b(d.string());
        QCOMPARE(b.format(), std::string("safetensors (sharded, 2 files)"));
        b.validate();
        for (const auto& name : a.names()) {
            QCOMPARE(b.dtypeName(name), std::string("BF16"));
            QVERIFY(torch::equal(a.load(name).to(torch::kBFloat16), b.load(name)));
        }
        // A shard listed in the index but missing is a clear error.
        fs::remove(d / "model-00002-of-00002.safetensors");
        QVERIFY_BAD_INPUT(Checkpoint c(d.string()), "is missing");
    }

    void loadOneBlockOnly()
    {
        AQ_REQUIRE_FIXTURE(st, "models/stories260K-hf");
        Checkpoint ck(st);
        auto w = aq::detail::loadBlock(ck, 2, torch::Device(torch::kCPU), torch::kFloat32);
        QCOMPARE(w.tensors.size(), size_t(9));
        QVERIFY(torch::equal(w.at("mlp.up_proj.weight"), ck.load("model.layers.2.mlp.up_proj.weight")));
    }
};

QTEST_APPLESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
