#pragma once
// The engine's messages (English, written for the command-line program) in the window's language and words. The
// messages a user of the window meets most are translated whole, with their figures and paths; every other message
// keeps the engine's English, with the command-line options it names replaced by the window's control labels
// (inWindowWords) and, in a translated window, a note that the details are the engine's own words.
#include <QString>

namespace aq::gui {

QString engineMessageForWindow(const QString& english);

}  // namespace aq::gui
