# Project-wide compiler settings, carried by one interface target.
add_library(aq_settings INTERFACE)
target_compile_features(aq_settings INTERFACE cxx_std_20)
target_compile_options(aq_settings INTERFACE
  "$<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU,Clang>>:-Wall;-Wextra;-Wno-unused-parameter>")

set(AQ_SANITIZE "" CACHE STRING "Sanitizers to enable, e.g. address,undefined")
if(AQ_SANITIZE)
  target_compile_options(aq_settings INTERFACE "$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${AQ_SANITIZE};-fno-omit-frame-pointer>")
  target_link_options(aq_settings INTERFACE -fsanitize=${AQ_SANITIZE})
endif()

find_program(AQ_CCACHE ccache)
if(AQ_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${AQ_CCACHE})
endif()

# Where the sentencepiece shim is installed, so the programs can find it after `make install`.
set(AQ_SPM_SHIM_NAME "${CMAKE_SHARED_LIBRARY_PREFIX}aq_spm${CMAKE_SHARED_LIBRARY_SUFFIX}")
set(AQ_INSTALL_PKGLIBDIR "${CMAKE_INSTALL_LIBDIR}/affinequant")
