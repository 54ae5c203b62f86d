#include "blockpicker.h"

#include "plotstyle.h"

namespace aq::widgets {

BlockPicker::BlockPicker(QWidget* parent) : QComboBox(parent)
{
    setToolTip(tr("Transformer block."));
}

void BlockPicker::addBlock(int block)
{
    plotstyle::addSortedItem(this, QString::number(block), block);
}

void BlockPicker::setCurrentBlock(int block)
{
    setCurrentIndex(findData(block));
}

int BlockPicker::currentBlock() const
{
    return currentIndex() < 0 ? -1 : currentData().toInt();
}

}  // namespace aq::widgets
