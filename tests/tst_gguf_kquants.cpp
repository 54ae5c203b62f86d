// The k-quant super-block layouts (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) through the GGUF writer and back through the reader:
// random and edge-case integers are packed with the writer's functions into a small file, and the reader must give
// back the same integers and, bit for bit, the float32 weights of llama.cpp's formula (d·sc)·(q − offset) − dmin·m
// worked out in kquant_blocks.h from the integers alone. Writer and reader share no code, but a layout mistake made
// the same way in both would pass here: tst_gguf_kquants_llamacpp decodes the same kind of file with llama.cpp.
#include "gguf_reader.h"
#include "kquant_blocks.h"

#include "aq/error.h"
#include "testutil.h"

#include <unistd.h>

#include <filesystem>

namespace fs = std::filesystem;
namespace gguf = aq::detail::gguf;
using aq::detail::GgufFile;
using aq::detail::GgufKQuantCodes;
using aq::detail::GgufTensorInfo;

class TestGgufKQuants : public QObject {
    Q_OBJECT

    fs::path m_tmp;
    std::string m_file;
    std::vector<kquant::Tensor> m_tensors;

private slots:
    void initTestCase()
    {
        m_tmp = fs::temp_directory_path() / ("aq-tst-gguf-kquants-" + std::to_string(::getpid()));
        fs::remove_all(m_tmp);
        fs::create_directories(m_tmp);
        // 64 random super-blocks a type: 32 rows of 512 weights.
        m_tensors = kquant::makeTensors(64, 20240611);
        m_file = (m_tmp / "kquants.gguf").string();
        kquant::writeFile(m_file, m_tensors);
    }
    void cleanupTestCase() { fs::remove_all(m_tmp); }

    void sizes_data()
    {
        QTest::addColumn<QString>("type");
        for (const auto& s : kquant::specs())
            QTest::newRow(s.name) << QString(s.name);
    }
    void sizes()
    {
        QFETCH(QString, type);
        const kquant::Spec& s = kquant::spec(type.toStdString());
        QCOMPARE(std::string(gguf::typeName(s.type)), std::string(s.name));
        QCOMPARE(gguf::blockWeights(s.type), int64_t(256));
        QCOMPARE(gguf::blockBytes(s.type), int64_t(s.bytes));
        QCOMPARE(gguf::tensorBytes(s.type, 512, 3), uint64_t(2 * 3 * s.bytes));
        bool refused = false;
        try {
            gguf::tensorBytes(s.type, 128, 1);  // half a super-block
        } catch (const aq::Error& e) {
            refused = e.code() == aq::ErrorCode::BadInput;
        }
        QVERIFY(refused);
        const aq::detail::GgmlTypeInfo* info = aq::detail::ggmlTypeInfo(static_cast<uint32_t>(s.type));
        QVERIFY(info);
        QCOMPARE(std::string(info->name), std::string(s.name));
        QCOMPARE(info->blockElements, 256u);
        QCOMPARE(info->blockBytes, static_cast<uint32_t>(s.bytes));
        QVERIFY(info->decodable && info->kQuantBlocks && !info->simpleBlocks);
    }

    /// Every byte of the super-block is written, and nothing beyond it: packing into a buffer of 0x00 and one of 0xFF
    /// gives the same bytes, and the bytes after the block keep their sentinel.
    void packingWritesExactlyOneSuperBlock_data() { sizes_data(); }
    void packingWritesExactlyOneSuperBlock()
    {
        QFETCH(QString, type);
        const kquant::Spec& s = kquant::spec(type.toStdString());
        std::mt19937 rng(7);
        for (int k = 0; k < 20; ++k) {
            const kquant::SuperBlock b = kquant::randomBlock(s, rng);
            std::vector<uint8_t> zeros(s.bytes + 16, 0x00), ones(s.bytes + 16, 0xFF);
            kquant::pack(s, b, zeros.data());
            kquant::pack(s, b, ones.data());
            QVERIFY(std::equal(zeros.begin(), zeros.begin() + s.bytes, ones.begin()));
            for (int i = s.bytes; i < s.bytes + 16; ++i) {
                QCOMPARE(zeros[i], uint8_t(0x00));
                QCOMPARE(ones[i], uint8_t(0xFF));
            }
        }
    }

    /// The reader's floats equal the formula's bit for bit, and its integer form equals what was packed.
    void roundTrip_data()
    {
        QTest::addColumn<QString>("tensor");
        for (const auto& t : m_tensors)
            QTest::newRow(t.name.c_str()) << QString::fromStdString(t.name);
    }
    void roundTrip()
    {
        QFETCH(QString, tensor);
        const kquant::Tensor* t = nullptr;
        for (const auto& c : m_tensors)
            if (c.name == tensor.toStdString())
                t = &c;
        QVERIFY(t);
        const kquant::Spec& s = *t->spec;
        const GgufFile g(m_file);
        const GgufTensorInfo* info = g.findTensor(t->name);
        QVERIFY(info);
        QCOMPARE(info->typeCode, static_cast<uint32_t>(s.type));
        QCOMPARE(info->ne[0], static_cast<uint64_t>(t->ne0));
        QCOMPARE(info->numElements, static_cast<uint64_t>(t->blocks.size() * 256));
        QCOMPARE(info->numBytes, static_cast<uint64_t>(t->blocks.size() * s.bytes));

        const std::vector<float> w = g.decodeFloats(*info);
        QCOMPARE(w.size(), t->blocks.size() * 256);
        size_t mismatches = 0, negativeZeros = 0, rounded = 0;
        QString first;
        for (size_t k = 0; k < t->blocks.size(); ++k)
            for (int i = 0; i < 256; ++i) {
                const kquant::SuperBlock& b = t->blocks[k];
                const float expected = kquant::weight(s, b, i, kquant::Formula::Plain);
                const float got = w[k * 256 + i];
                QVERIFY2(std::isfinite(expected), "the test data should give finite weights");
                if (kquant::bitsOf(got) != kquant::bitsOf(expected) && mismatches++ == 0)
                    first = QStringLiteral("super-block %1 weight %2 (code %3, scale %4, min %5, d 0x%6, dmin 0x%7): "
                                           "read %8 (0x%9), expected %10 (0x%11)")
                                .arg(k)
                                .arg(i)
                                .arg(b.q[i])
                                .arg(b.sc[i / s.subBlock])
                                .arg(b.m[i / s.subBlock])
                                .arg(b.d, 4, 16, QChar('0'))
                                .arg(b.dmin, 4, 16, QChar('0'))
                                .arg(got, 0, 'g', 9)
                                .arg(kquant::bitsOf(got), 8, 16, QChar('0'))
                                .arg(expected, 0, 'g', 9)
                                .arg(kquant::bitsOf(expected), 8, 16, QChar('0'));
                negativeZeros += kquant::bitsOf(expected) == 0x80000000u;
                rounded += kquant::subtractionRounds(s, b, i);
            }
        QVERIFY2(mismatches == 0,
                 qPrintable(QStringLiteral("%1 of %2 weights differ; first: %3").arg(mismatches).arg(w.size()).arg(first)));
        if (t->name.find(".edges") != std::string::npos)
            QVERIFY2(negativeZeros > 0, "the edge cases should include weights of -0");
        else if (s.hasMin())
            QVERIFY2(rounded > w.size() / 8, "random factors should make the final subtraction round often");
        qInfo("%s: %zu weights bitwise equal to (d*sc)*(q-%d)%s (%zu of them -0, %zu with a rounded subtraction)",
              t->name.c_str(), w.size(), s.codeOffset, s.hasMin() ? " - dmin*m" : "", negativeZeros, rounded);

        const GgufKQuantCodes c = g.decodeKQuants(*info);
        QCOMPARE(c.type, static_cast<aq::detail::GgmlType>(static_cast<uint32_t>(s.type)));
        QCOMPARE(c.superBlockElements, int64_t(256));
        QCOMPARE(c.subBlockElements, int64_t(s.subBlock));
        QCOMPARE(c.codeOffset, s.codeOffset);
        QCOMPARE(c.codeMax, s.codeMax);
        QCOMPARE(c.scaleMin, s.scaleMin);
        QCOMPARE(c.scaleMax, s.scaleMax);
        QCOMPARE(c.hasMin, s.hasMin());
        const size_t subBlocks = t->blocks.size() * s.subBlocks();
        QCOMPARE(c.codes.size(), t->blocks.size() * 256);
        QCOMPARE(c.scales.size(), subBlocks);
        QCOMPARE(c.mins.size(), s.hasMin() ? subBlocks : size_t(0));
        QCOMPARE(c.d.size(), t->blocks.size());
        QCOMPARE(c.dmin.size(), s.hasMin() ? t->blocks.size() : size_t(0));
        for (size_t k = 0; k < t->blocks.size(); ++k) {
            const kquant::SuperBlock& b = t->blocks[k];
            for (int i = 0; i < 256; ++i)
                if (c.codes[k * 256 + i] != b.q[i])
                    QFAIL(qPrintable(QStringLiteral("super-block %1 code %2: read %3, packed %4")
                                         .arg(k)
                                         .arg(i)
                                         .arg(c.codes[k * 256 + i])
                                         .arg(b.q[i])));
            for (int j = 0; j < s.subBlocks(); ++j) {
                QCOMPARE(int(c.scales[k * s.subBlocks() + j]), b.sc[j]);
                if (s.hasMin())
                    QCOMPARE(int(c.mins[k * s.subBlocks() + j]), b.m[j]);
            }
            QCOMPARE(kquant::bitsOf(c.d[k]), kquant::bitsOf(kquant::halfValue(b.d)));
            if (s.hasMin())
                QCOMPARE(kquant::bitsOf(c.dmin[k]), kquant::bitsOf(kquant::halfValue(b.dmin)));
        }
    }

    /// The F32 tensor written after the k-quants is where the writer's offsets say.
    void otherTensorsOfTheFile()
    {
        const GgufFile g(m_file);
        QCOMPARE(g.tensors().size(), m_tensors.size() + 1);
        const GgufTensorInfo* norm = g.findTensor("norm");
        QVERIFY(norm);
        QCOMPARE(g.decodeFloats(*norm), (std::vector<float>{0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f}));
        std::string msg;
        try {
            g.decodeKQuants(*norm);
        } catch (const aq::Error& e) {
            msg = e.what();
        }
        QVERIFY2(msg.find("'norm' is F32, not a k-quant type") != std::string::npos, msg.c_str());
    }
};

QTEST_GUILESS_MAIN(TestGgufKQuants)
#include "tst_gguf_kquants.moc"
