#!/bin/bash
# build-deb.sh OUTDIR: builds the Debian source and binary packages
# (ztvpn-server, ztvpn-client, ztvpn-common) from this tree with
# dpkg-buildpackage and puts the .deb, .dsc, .tar.xz, .buildinfo and
# .changes files into OUTDIR.
#
# The repository keeps its Debian directory at packaging/debian, so the tree
# is exported into a temporary directory (in a git checkout: the files git
# knows, tracked or new but not ignored, as they are in the working tree;
# otherwise a copy without build*/ directories), packaging/debian becomes
# debian/ there, and the build runs in that copy: build directories of the
# checkout are never touched. The temporary directory is removed at exit.
# Needs dpkg-dev, debhelper and the build dependencies
# (packaging/install-deps.sh installs them all).
set -euo pipefail

prog=${0##*/}
die() {
	echo "$prog: $*" >&2
	exit 1
}

[ $# -eq 1 ] || {
	echo "usage: $prog OUTDIR" >&2
	exit 2
}
mkdir -p "$1" || die "cannot create $1"
out=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage missing: run packaging/install-deps.sh"

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
cmake_version=$(sed -nE 's/^project\(ztvpn VERSION ([0-9.]+).*/\1/p' "$top/CMakeLists.txt")
[ "$version" = "$cmake_version" ] ||
	die "packaging/debian/changelog says $version but CMakeLists.txt project() says $cmake_version"

work=$(mktemp -d /tmp/ztvpn-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src="$work/ztvpn-$version"
mkdir "$src"

if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Deleted but still tracked files are listed too: copy what exists.
	(cd "$top" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$top" && while IFS= read -r -d '' f; do
			[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
		done) | tar -C "$top" --null --no-recursion -T - -cf - | tar -C "$src" -xf -
else
	tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$src" -xf -
fi
[ -f "$src/CMakeLists.txt" ] || die "exporting the tree failed"
rm -rf "$src/debian"
cp -a "$src/packaging/debian" "$src/debian"

echo "$prog: building ztvpn $version in $src"
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc) >"$work/build.log" 2>&1 || {
	tail -60 "$work/build.log" >&2
	die "dpkg-buildpackage failed (the last 60 lines of its log are above)"
}

shopt -s nullglob
files=("$work"/*.deb "$work"/*.dsc "$work"/*.tar.xz "$work"/*.buildinfo "$work"/*.changes)
[ ${#files[@]} -gt 0 ] || die "dpkg-buildpackage produced nothing"
cp -f "${files[@]}" "$out/"
for f in "${files[@]}"; do
	echo "$out/${f##*/}"
done
