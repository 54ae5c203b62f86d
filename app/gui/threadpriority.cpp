#include "threadpriority.h"

#include <QtGlobal>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace aq::gui {

void lowerCurrentThreadPriority()
{
#ifdef Q_OS_LINUX
    // With fewer cores than busy threads the window's thread then wins the scheduler and stays responsive; with idle
    // cores it changes nothing.
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    ::setpriority(PRIO_PROCESS, tid, kComputeNiceness);
#endif
}

}  // namespace aq::gui
