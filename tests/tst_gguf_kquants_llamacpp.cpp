// The k-quant super-block layouts (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) of the GGUF writer and reader against llama.cpp
// itself: a file of random and edge-case super-blocks packed by the writer is parsed by ggml's GGUF reader and decoded
// by ggml's to_float of each type (aq-llama-check --dequant), and every float32 must equal, bit for bit, both our
// reader's decoding and the formula (d·sc)·(q − offset) − dmin·m with each operation rounded to float32.
//
// Whether llama.cpp computes that sequence or a fused multiply-add fma(d·sc, q − offset, −dmin·m) is counted as
// well. The two cannot differ: d has 11 significant bits, |sc| <= 128 and |q − offset| <= 32, so (d·sc)·(q − offset)
// has at most 23 and is exact in float32; only the subtraction rounds, once in either form. The counts show it on
// values whose exponents are spread over binary16's whole range, where the subtraction does round.
//
// Without llama.cpp the test is skipped (exit status 77), except under CI (the environment variable CI set), where it
// fails and says to run tools/install-deps.sh.
#include "gguf_reader.h"
#include "kquant_blocks.h"

#include "llamacpp_checker.h"
#include "testutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>

#include <cstdio>
#include <map>

namespace {

using namespace llamacpp;



/// Mismatch count and the first mismatch described.
struct Count {
    size_t n = 0;
    QString first;
    void add(size_t block, int i, float theirs, float ours)
    {
        if (kquant::bitsOf(theirs) == kquant::bitsOf(ours))
            return;
        if (n++ == 0)
            first = QStringLiteral("super-block %1 weight %2: llama.cpp %3 (0x%4), here %5 (0x%6)")
                        .arg(block)
                        .arg(i)
                        .arg(theirs, 0, 'g', 9)
                        .arg(kquant::bitsOf(theirs), 8, 16, QChar('0'))
                        .arg(ours, 0, 'g', 9)
                        .arg(kquant::bitsOf(ours), 8, 16, QChar('0'));
    }
};

}  // namespace

class TestGgufKQuantsLlamaCpp : public QObject {
    Q_OBJECT

    QTemporaryDir m_tmp;
    std::vector<kquant::Tensor> m_tensors;
    QString m_file;
    QJsonObject m_listing;
    QByteArray m_decoded;  // llama.cpp's float32 values of every tensor, in file order

private slots:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        // 512 random super-blocks a type (131072 weights; 256 rows of 512) and the edge cases.
        m_tensors = kquant::makeTensors(512, 77);
        m_file = m_tmp.filePath("kquants.gguf");
        kquant::writeFile(m_file.toStdString(), m_tensors);
        const QString out = m_tmp.filePath("dequant.f32");
        const QStringList args = {"--dequant", m_file, "--out", out, "--json"};
        const Run r = run(kChecker, args, 300000);
        QVERIFY2(r.exitCode == 0, (kChecker + " " + args.join(' ')).toUtf8() + "\nexit " +
                                      QByteArray::number(r.exitCode) + "\n" + r.err + r.out.right(2000));
        m_listing = QJsonDocument::fromJson(r.out).object();
        QVERIFY2(!m_listing.isEmpty(), r.out.constData());
        QFile f(out);
        QVERIFY(f.open(QIODevice::ReadOnly));
        m_decoded = f.readAll();
        QCOMPARE(m_decoded.size(), m_listing.value("floats").toInteger() * 4);
    }

    /// ggml's GGUF reader lists every tensor of the file with the type, shape and element count written.
    void llamaCppReadsTheFile()
    {
        const QJsonArray tensors = m_listing.value("tensors").toArray();
        QCOMPARE(tensors.size(), static_cast<qsizetype>(m_tensors.size() + 1));
        for (qsizetype k = 0; k < tensors.size(); ++k) {
            const QJsonObject t = tensors[k].toObject();
            if (k == tensors.size() - 1) {
                QCOMPARE(t.value("name").toString(), QStringLiteral("norm"));
                const auto* v = reinterpret_cast<const float*>(m_decoded.constData()) +
                                t.value("float_offset").toInteger();
                for (int i = 0; i < 8; ++i)
                    QCOMPARE(v[i], 0.5f + static_cast<float>(i));
                continue;
            }
            const kquant::Tensor& ours = m_tensors[static_cast<size_t>(k)];
            QCOMPARE(t.value("name").toString().toStdString(), ours.name);
            // ggml names the types "q4_K" and so on.
            QVERIFY2(t.value("type").toString().compare(ours.spec->name, Qt::CaseInsensitive) == 0,
                     qPrintable(t.value("type").toString()));
            const QJsonArray shape = t.value("shape").toArray();
            QCOMPARE(shape.size(), 2);
            QCOMPARE(shape[0].toInteger(), static_cast<qint64>(ours.blocks.size()) * 256 / ours.ne0);
            QCOMPARE(shape[1].toInteger(), static_cast<qint64>(ours.ne0));
            QCOMPARE(t.value("elements").toInteger(), static_cast<qint64>(ours.blocks.size() * 256));
        }
    }

    /// llama.cpp's decoding equals ours and the plain float32 formula bit for bit; the fused form is counted.
    void llamaCppDecodesLikeTheReader()
    {
        const aq::detail::GgufFile g(m_file.toStdString());
        std::map<std::string, QJsonObject> listed;
        for (const auto& e : m_listing.value("tensors").toArray())
            listed[e.toObject().value("name").toString().toStdString()] = e.toObject();
        struct Totals {
            size_t values = 0, rounded = 0;
            Count reader, plain, fused;
        };
        std::map<std::string, Totals> byType;
        for (const kquant::Tensor& t : m_tensors) {
            QVERIFY2(listed.count(t.name), t.name.c_str());
            const auto* theirs =
                reinterpret_cast<const float*>(m_decoded.constData()) + listed[t.name].value("float_offset").toInteger();
            const aq::detail::GgufTensorInfo* info = g.findTensor(t.name);
            QVERIFY(info);
            const std::vector<float> ours = g.decodeFloats(*info);
            Totals& tot = byType[t.spec->name];
            for (size_t k = 0; k < t.blocks.size(); ++k)
                for (int i = 0; i < 256; ++i) {
                    const float llama = theirs[k * 256 + i];
                    const kquant::SuperBlock& b = t.blocks[k];
                    tot.reader.add(k, i, llama, ours[k * 256 + i]);
                    tot.plain.add(k, i, llama, kquant::weight(*t.spec, b, i, kquant::Formula::Plain));
                    tot.fused.add(k, i, llama, kquant::weight(*t.spec, b, i, kquant::Formula::Fused));
                    tot.rounded += kquant::subtractionRounds(*t.spec, b, i);
                    ++tot.values;
                }
        }
        for (const auto& s : kquant::specs()) {
            const Totals& tot = byType[s.name];
            qInfo("%s: %zu weights (%zu with a rounded subtraction); differing from llama.cpp: our reader %zu, "
                  "(d*sc)*q - dmin*m %zu, fma(d*sc, q, -dmin*m) %zu",
                  s.name, tot.values, tot.rounded, tot.reader.n, tot.plain.n, tot.fused.n);
            QCOMPARE(tot.values, size_t((512 + 10) * 256));  // 512 random and 10 edge super-blocks
            QVERIFY2(tot.reader.n == 0, qPrintable(QStringLiteral("%1, our reader: %2 differ; first: %3")
                                                       .arg(s.name)
                                                       .arg(tot.reader.n)
                                                       .arg(tot.reader.first)));
            QVERIFY2(tot.plain.n == 0, qPrintable(QStringLiteral("%1, plain float32 formula: %2 differ; first: %3")
                                                      .arg(s.name)
                                                      .arg(tot.plain.n)
                                                      .arg(tot.plain.first)));
            if (s.hasMin())
                QVERIFY2(tot.rounded > tot.values / 8, "random factors should make the final subtraction round often");
        }
    }
};

int main(int argc, char** argv)
{
    return llamacpp::checkerMain<TestGgufKQuantsLlamaCpp>(argc, argv, "the k-quant layouts");
}

#include "tst_gguf_kquants_llamacpp.moc"
