# Turns a file into a C array at build time: cmake -DIN=file -DOUT=file.c
# -DNAME=symbol -P embed.cmake. Used for docs/runbooks.md, which the agent
# serves at /runbooks.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE "${OUT}" "/* Generated from ${IN}; do not edit. */\n#include \"kmswatch/runbooks.h\"\nconst unsigned char ${NAME}[] = {${body} 0x00};\nconst size_t ${NAME}_len = ${n};\n")
