#pragma once
// The block selector of the views that show one block at a time (activations, weight histograms): the blocks that
// have data, in ascending order, each listed once.
#include <QComboBox>

namespace aq::widgets {

class BlockPicker : public QComboBox {
    Q_OBJECT
public:
    explicit BlockPicker(QWidget* parent = nullptr);

    /// Lists `block` in its place; nothing when it is listed already. The selection stays where it was.
    void addBlock(int block);
    /// Selects `block`; none when it is not listed.
    void setCurrentBlock(int block);
    /// The selected block, or -1 when none is.
    int currentBlock() const;
};

}  // namespace aq::widgets
