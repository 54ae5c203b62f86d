# CPack: a Debian package of the installed programs (affinequant, affinequant-studio), the sentencepiece shim, the
# desktop files, the icons and the demo model and texts. Build it from a tree configured with the prefix /usr, so
# that the paths compiled into the programs (the shim under CMAKE_INSTALL_FULL_LIBDIR/affinequant, the data under
# CMAKE_INSTALL_FULL_DATADIR/affinequant) are those the package installs to:
#
#   cmake -S . -B build-pkg -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
#         -DAQ_BUILD_GUI=ON -DAQ_BUILD_TESTS=OFF -DAQ_BUILD_TOOLS=OFF
#   cmake --build build-pkg -j2 && (cd build-pkg && cpack -G DEB)
#
# tools/test-deb-install.sh installs the result on a fresh Debian 12 root and starts both programs (README, Packaging).
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
# Dependencies. dpkg-shlibdeps (dpkg-dev) derives the library packages, with their minimum versions, from the NEEDED
# entries of the installed binaries; on Debian 12 that gives libtorch1.13, libqt6core6/gui6/widgets6,
# libqcustomplot2.1-qt6 (which brings libqt6printsupport6), libpcre2-8-0, libsentencepiece0 (the shim's) and the C and
# C++ runtimes. Named by hand on top: OpenBLAS, because LibTorch's CPU matrix products go through libblas.so.3 and the
# reference BLAS that libtorch1.13's "libblas3 | libblas.so.3" would otherwise install is about 25 times slower.
# Without dpkg-shlibdeps the list below is used: what dpkg-shlibdeps gave on Debian 12 for version 0.1.0.
find_program(AQ_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(AQ_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libopenblas0-pthread")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libopenblas0-pthread, libc6 (>= 2.35), libgcc-s1 (>= 3.0), libpcre2-8-0 (>= 10.22), \
libqcustomplot2.1-qt6 (>= 2.1.0+dfsg1), libqt6core6 (>= 6.4.0), libqt6gui6 (>= 6.1.2), libqt6svg6 (>= 6.4.0), libqt6widgets6 (>= 6.3.0), \
libsentencepiece0 (>= 0.1.97), libstdc++6 (>= 11), libtorch1.13 (>= 1.13.1+dfsg)")
endif()
# The zh_CN translation needs a CJK font to be readable. WenQuanYi Micro Hei first (a 1.6 MB download, 5 MB installed):
# on a system with no CJK font, apt would otherwise fetch Noto CJK (57 MB, 91 MB installed); a system that has Noto CJK
# already keeps it.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "fonts-wqy-microhei | fonts-noto-cjk")

include(CPack)
