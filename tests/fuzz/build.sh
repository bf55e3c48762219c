#!/bin/sh
# build.sh - compile and link one libFuzzer target with clang, for tests/fuzz/meson.build
#
#   build.sh CLANG OUT DEPFILE 'CFLAGS' 'LIBS' TARGET.c SOURCE.c...
#
# The main build is gcc's; the fuzz targets need clang's -fsanitize=fuzzer,
# so meson runs this as a custom target. The target's own file is held to
# the project's warnings as errors; the product's files are compiled as
# they are (gcc checks their warnings in the main build). Objects go to
# OUT.p/, and one depfile lists every header they read, so that ninja
# rebuilds the target when any of them changes.
set -eu
cc=$1 out=$2 dep=$3 cflags=$4 libs=$5
shift 5
san="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
warn="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
	-Wno-missing-field-initializers"
obj=$out.p
rm -rf "$obj"
mkdir -p "$obj"
objs=
i=0
for src in "$@"; do
	o=$obj/$i-$(basename "$src" .c).o
	if [ $i -eq 0 ]; then w=$warn; else w=-w; fi
	# shellcheck disable=SC2086 # flags are lists
	$cc -std=gnu11 -D_GNU_SOURCE $cflags $w $san -MD -MF "$o.d" -c "$src" -o "$o"
	objs="$objs $o"
	i=$((i + 1))
done
# shellcheck disable=SC2086
$cc $san $objs -o "$out" $libs
# one rule: OUT depends on everything every object read
{
	printf '%s:' "$out"
	sed -e 's/^[^:]*://' -e 's/\\$//' "$obj"/*.d | tr '\n' ' '
	printf '\n'
} >"$dep"
