# CPack: a Debian package of the installed programs (affinequant, affinequant-studio), the sentencepiece shim, the
# desktop files, the icons and the demo model and texts. Build it from a tree configured with the prefix /usr, so
# that the paths compiled into the programs (the shim under CMAKE_INSTALL_FULL_LIBDIR/affinequant, the data under
# CMAKE_INSTALL_FULL_DATADIR/affinequant) are those the package installs to:
#
#   cmake -S . -B /tmp/pkg-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
#         -DAQ_BUILD_TESTS=OFF -DAQ_BUILD_TOOLS=OFF
#   cmake --build /tmp/pkg-build && (cd /tmp/pkg-build && cpack -G DEB)
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "Packaging: CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}; a .deb should be built with /usr")
endif()

set(CPACK_PACKAGE_NAME "affinequant-studio")
set(CPACK_PACKAGE_VENDOR "AffineQuant Studio")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Quantize large language models with AffineQuant and watch the calibration live")
set(CPACK_PACKAGE_DESCRIPTION
    "AffineQuant Studio calibrates post-training quantization of LLaMA- and OPT-family models with AffineQuant and \
OmniQuant (learned affine transforms, learnable weight clipping) and evaluates their perplexity. The package holds \
the desktop application affinequant-studio, the command-line program affinequant and a small demo model with \
texts, on which the window opens.")
set(CPACK_PACKAGE_CONTACT "AffineQuant Studio maintainers")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_MAINTAINER "AffineQuant Studio maintainers")
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# The Debian 12 packages of the libraries the installed binaries load (their NEEDED entries, found with
# `readelf -d` and `dpkg -S`), plus OpenBLAS: LibTorch's CPU matrix products go through libblas.so.3, and the
# reference BLAS Debian would otherwise pick is about 25 times slower. libqt6printsupport6 is QCustomPlot's.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6, libgcc-s1, libstdc++6, libtorch1.13, libopenblas0-pthread, libqt6core6 (>= 6.4), libqt6gui6 (>= 6.4), \
libqt6widgets6 (>= 6.4), libqt6printsupport6 (>= 6.4), libqcustomplot2.1-qt6, libsentencepiece0, libpcre2-8-0")
# The zh_CN translation needs a CJK font to be readable.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-noto-cjk | fonts-wqy-microhei")

include(CPack)
