# Turns INPUT (a text file) into OUTPUT, a C++ file defining
# otpsup::embedded_demo_config(), so the demo tree is compiled into otpsupd.
file(READ ${INPUT} CONTENT)
set(DELIM "otpsup_demo_toml")
file(WRITE ${OUTPUT} "// Generated from etc/otpsup.toml by cmake/embed_text.cmake. Do not edit.\n"
  "#include <string_view>\n"
  "namespace otpsup {\n"
  "std::string_view embedded_demo_config() {\n"
  "  return R\"${DELIM}(${CONTENT})${DELIM}\";\n"
  "}\n"
  "}  // namespace otpsup\n")
