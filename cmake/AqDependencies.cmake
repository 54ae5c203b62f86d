# Third-party libraries besides LibTorch and Qt. Plain find_path/find_library, so an unpacked package tree named in
# CMAKE_PREFIX_PATH works as well as the system (the GPU build uses Debian packages unpacked into a folder).
find_package(nlohmann_json 3.10 REQUIRED)

find_path(AQ_PCRE2_INCLUDE_DIR pcre2.h REQUIRED)
find_library(AQ_PCRE2_LIBRARY NAMES pcre2-8 REQUIRED)
add_library(aq_pcre2 INTERFACE)
target_include_directories(aq_pcre2 SYSTEM INTERFACE ${AQ_PCRE2_INCLUDE_DIR})
target_link_libraries(aq_pcre2 INTERFACE ${AQ_PCRE2_LIBRARY})
target_compile_definitions(aq_pcre2 INTERFACE PCRE2_CODE_UNIT_WIDTH=8)

find_path(AQ_SENTENCEPIECE_INCLUDE_DIR sentencepiece_processor.h REQUIRED)
find_library(AQ_SENTENCEPIECE_LIBRARY NAMES sentencepiece REQUIRED)
add_library(aq_sentencepiece INTERFACE)
target_include_directories(aq_sentencepiece SYSTEM INTERFACE ${AQ_SENTENCEPIECE_INCLUDE_DIR})
target_link_libraries(aq_sentencepiece INTERFACE ${AQ_SENTENCEPIECE_LIBRARY})
