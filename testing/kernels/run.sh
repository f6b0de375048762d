#!/usr/bin/env bash
# Kernel matrix: boots Debian 12's own distribution kernels under QEMU
# (software emulation, TCG) with an initramfs holding a static perfprobe, the
# prebuilt test targets and `go test -c` binaries of the packages listed in
# testing/kernels/suite, runs those tests in each VM and prints a table per
# kernel. Exits 1 if a test binary did not build, exited non-zero in a VM, or
# a VM crashed or timed out before reporting every result. Needs root (apt).
#
#   bash testing/kernels/run.sh [KERNEL...]          # or: make test-kernels
#
# KERNEL is a flavour of Debian's metapackage linux-image-<flavour>-amd64
# (cloud, rt, amd64) or a concrete package (linux-image-6.1.0-57-cloud-amd64).
#
# Environment (all optional):
#   PERFPROBE_KERNELS         kernels when none are given     (default: cloud rt)
#   PERFPROBE_KERNEL_CACHE    unpacked kernel packages        (default: /var/cache/perfprobe-kernels)
#   PERFPROBE_KERNEL_OUT      build outputs and serial logs   (default: testing/kernels/out)
#   PERFPROBE_KERNEL_SUITE    the suite file                  (default: testing/kernels/suite)
#   PERFPROBE_KERNEL_TIMEOUT  seconds one VM may run          (default: 2400; the rt kernel needs ~17 min)
#   PERFPROBE_TEST_TIMEOUT    seconds, -test.timeout of each test binary (default: 1500)
#   PERFPROBE_DOCTOR_TIMEOUT  seconds `perfprobe doctor` may take in a VM (default: 300)
#   PERFPROBE_VM_MEM, PERFPROBE_VM_CPUS, PERFPROBE_VM_ACCEL   (default: 3G, 2, tcg,thread=single)
#   PERFPROBE_KERNEL_JOBS     VMs run at once                 (default: host CPUs; 1 with thread=multi)
#   PERFPROBE_VM_CMDLINE      more kernel command line
#   PERFPROBE_VM_BINS         host programs copied into the VM (default: openssl, if installed)
#   PERFPROBE_VM_MODULES      modules loaded in the VM (default: virtio_pci virtio_blk crc32c_generic ext4)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

GO=${GO:-go}
command -v "$GO" >/dev/null || PATH=$PATH:/usr/local/go/bin
CACHE=${PERFPROBE_KERNEL_CACHE:-/var/cache/perfprobe-kernels}
OUT=${PERFPROBE_KERNEL_OUT:-$HERE/out}
SUITE=${PERFPROBE_KERNEL_SUITE:-$HERE/suite}
VM_TIMEOUT=${PERFPROBE_KERNEL_TIMEOUT:-2400}
TEST_TIMEOUT=${PERFPROBE_TEST_TIMEOUT:-1500}
DOCTOR_TIMEOUT=${PERFPROBE_DOCTOR_TIMEOUT:-300}
VM_MEM=${PERFPROBE_VM_MEM:-3G}
VM_CPUS=${PERFPROBE_VM_CPUS:-2}
# One host thread for all vCPUs: with thread=multi (one per vCPU) Debian 12's
# QEMU 7.2 wedged a guest in about one of ten `perfprobe doctor` runs, both
# vCPUs spinning in text_poke_bp (a tracepoint's static call being patched
# while the other vCPU executes it).
VM_ACCEL=${PERFPROBE_VM_ACCEL:-tcg,thread=single}
VM_CMDLINE=${PERFPROBE_VM_CMDLINE-}
VM_JOBS=${PERFPROBE_KERNEL_JOBS:-$(nproc)}
VM_BINS=${PERFPROBE_VM_BINS-openssl}
# Loaded in the VM, in this order, unless built into the kernel. virtio_pci
# is the bus of the virtio disk; ext4 wants the crc32c shash for metadata
# checksums but only requests it at mount time through modprobe aliases,
# which busybox does not resolve, so it is loaded by name first.
VM_MODULES=${PERFPROBE_VM_MODULES:-virtio_pci virtio_blk crc32c_generic ext4}

if [ $# -gt 0 ]; then KERNELS=("$@"); else read -ra KERNELS <<<"${PERFPROBE_KERNELS:-cloud rt}"; fi

export DEBIAN_FRONTEND=noninteractive

say() { echo "== $*"; }
die() { echo "test-kernels: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

TIMINGS=() # "phase seconds" lines for the closing summary
timed() { # timed PHASE COMMAND...: runs COMMAND and records how long it took
	local phase=$1 t0
	shift
	t0=$(now)
	"$@"
	TIMINGS+=("$phase $(since "$t0")")
}

# --- host tools --------------------------------------------------------------

APT_UPDATED=
apt_update_once() {
	[ -n "$APT_UPDATED" ] && return
	say "apt-get update"
	apt-get update -qq
	APT_UPDATED=1
}

install_host_tools() {
	local missing=()
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v cpio >/dev/null || missing+=(cpio)
	command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
	command -v gcc >/dev/null || missing+=(gcc) # the C test targets
	# The initramfs needs a static busybox ("not a dynamic executable").
	if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
	[ ${#missing[@]} -eq 0 ] && return
	say "installing ${missing[*]}"
	[ "$(id -u)" = 0 ] || die "run as root to install ${missing[*]}"
	apt_update_once
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# --- kernels -----------------------------------------------------------------

# resolve_kernel_package KERNEL: sets PKG to the concrete linux-image package
# and VER to its candidate version.
resolve_kernel_package() {
	local k=$1 meta attempt
	case $k in
	linux-image-[0-9]*) meta='' PKG=$k ;;
	linux-image-*) meta=$k ;;
	*) meta=linux-image-$k-amd64 ;;
	esac
	for attempt in 1 2; do
		if [ -n "$meta" ]; then
			PKG=$(apt-cache depends "$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		fi
		VER=$(apt-cache show --no-all-versions "$PKG" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
		[ -n "$PKG" ] && [ -n "$VER" ] && return
		[ $attempt = 1 ] && apt_update_once # no package lists yet?
	done
	die "cannot resolve $k to a kernel package (apt-cache depends ${meta:-$k})"
}

# fetch_kernel PACKAGE VERSION: downloads and unpacks the package into the
# cache (once per version), runs depmod on it, and sets KDIR to it.
fetch_kernel() {
	local pkg=$1 ver=$2 tmp
	KDIR=$CACHE/${pkg}_$ver
	[ -e "$KDIR/.done" ] && return
	say "downloading $pkg $ver into $KDIR"
	rm -rf "$KDIR"
	mkdir -p "$KDIR/root"
	tmp=$(mktemp -d "$CACHE/download.XXXXXX")
	chown _apt "$tmp" 2>/dev/null || true # apt downloads as _apt when it can
	(cd "$tmp" && apt-get download -q "$pkg=$ver")
	dpkg-deb -x "$tmp"/*.deb "$KDIR/root"
	rm -rf "$tmp"
	# The package ships no modules.dep (its postinst makes it); busybox's
	# depmod writes one that busybox's modprobe in the VM reads.
	busybox depmod -b "$KDIR/root" "$(kernel_release "$KDIR")"
	touch "$KDIR/.done"
}

# kernel_release DIR: the release (uname -r) of an unpacked kernel package.
kernel_release() {
	local vmlinuz
	vmlinuz=$(ls "$1"/root/boot/vmlinuz-*)
	echo "${vmlinuz##*/vmlinuz-}"
}

# --- builds --------------------------------------------------------------------

ROOT=$OUT/root # the initramfs tree shared by every kernel
SUITE_LINES=() # "pkg regex" per suite line
SUITE_BIN=()   # test binary (relative to $ROOT/src) per suite line, empty if it did not build

read_suite() {
	local pkg regex rest
	while read -r pkg regex rest; do
		case $pkg in '' | '#'*) continue ;; esac
		if [ -z "$regex" ] || [ -n "$rest" ]; then
			die "$SUITE: want '<package> <-test.run regex>', got: $pkg $regex $rest"
		fi
		SUITE_LINES+=("$pkg $regex")
	done <"$SUITE"
	[ ${#SUITE_LINES[@]} -gt 0 ] || die "$SUITE lists no tests"
}

build_perfprobe() {
	CGO_ENABLED=0 "$GO" build -o "$ROOT/bin/perfprobe" ./cmd/perfprobe
}

build_targets() {
	"$GO" run ./internal/testtarget/prebuild -o "$ROOT/targets" >/dev/null
}

# build_tests: one `go test -c` per package of the suite (a package listed on
# several lines is built once), copying its testdata/ beside the binary.
build_tests() {
	local i pkg dir bin
	declare -A built=()
	cp go.mod "$ROOT/src/go.mod"
	for i in "${!SUITE_LINES[@]}"; do
		pkg=${SUITE_LINES[$i]%% *}
		dir=${pkg#./}
		bin=$dir/$(basename "$(realpath -m "$dir")").test
		if [ -z "${built[$pkg]+x}" ]; then
			built[$pkg]=
			mkdir -p "$ROOT/src/$dir"
			if CGO_ENABLED=0 "$GO" test -c -o "$ROOT/src/$bin" "$pkg" && [ -x "$ROOT/src/$bin" ]; then
				built[$pkg]=$bin
				[ -d "$dir/testdata" ] && cp -a "$dir/testdata" "$ROOT/src/$dir/"
			else
				echo "test-kernels: go test -c $pkg failed" >&2
			fi
		fi
		SUITE_BIN[i]=${built[$pkg]}
	done
}

# copy_host_programs: programs the tests run that busybox does not provide.
copy_host_programs() {
	local b path
	for b in $VM_BINS; do
		if path=$(command -v "$b"); then
			cp -L "$path" "$ROOT/usr/bin/"
		else
			echo "test-kernels: $b not installed on the host; the VM will not have it" >&2
		fi
	done
	if [ -e /usr/lib/ssl/openssl.cnf ]; then # openssl reads its config from here
		mkdir -p "$ROOT/usr/lib/ssl"
		cp -L /usr/lib/ssl/openssl.cnf "$ROOT/usr/lib/ssl/"
	fi
}

# copy_shared_libraries: for every dynamically linked executable in the tree
# (gcc-built targets, openssl), copy the libraries ldd resolves and the loader
# to the same paths.
copy_shared_libraries() {
	local f lib
	find "$ROOT" -type f -perm -u+x | while read -r f; do
		ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' || true
	done | sort -u | while read -r lib; do
		mkdir -p "$ROOT$(dirname "$lib")"
		cp -L "$lib" "$ROOT$lib"
	done
}

# assemble_root: the busybox system around the builds.
assemble_root() {
	local applet i d
	mkdir -p "$ROOT"/{bin,usr/bin,etc/perfprobe,root,mnt,tmp}
	# Like the host (Debian 12 merges /lib into /usr/lib), so that libraries
	# are found under both names in the VM.
	for d in lib lib64; do
		if [ -L /$d ]; then
			mkdir -p "$ROOT/usr/$d"
			ln -sfn "usr/$d" "$ROOT/$d"
		fi
	done
	ln -sfn bin "$ROOT/sbin"
	ln -sfn ../bin "$ROOT/usr/sbin"
	cp /bin/busybox "$ROOT/bin/busybox"
	for applet in $(busybox --list); do
		[ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
	done
	install -m 755 "$HERE/init" "$ROOT/init"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOT/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
	echo 'hosts: files' >"$ROOT/etc/nsswitch.conf"
	printf 'TEST_TIMEOUT=%d\nDOCTOR_TIMEOUT=%d\n' "$TEST_TIMEOUT" "$DOCTOR_TIMEOUT" >"$ROOT/etc/perfprobe/config"
	: >"$ROOT/etc/perfprobe/suite"
	for i in "${!SUITE_LINES[@]}"; do
		[ -n "${SUITE_BIN[$i]}" ] || continue
		echo "$i $(dirname "${SUITE_BIN[$i]}") $(basename "${SUITE_BIN[$i]}") ${SUITE_LINES[$i]#* }" >>"$ROOT/etc/perfprobe/suite"
	done
}

# write_cpio DIR FILE: an uncompressed newc archive (decompressing under TCG
# would cost more than reading the bigger file).
write_cpio() {
	(cd "$1" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) >"$2"
}

# modules_archive KERNELDIR RELEASE FILE: the modules VM_MODULES needs (with
# their dependencies), a modules.dep for them and the load list, appended to
# the common archive (the kernel unpacks concatenated archives).
modules_archive() {
	local kdir=$1 rel=$2 file=$3 stage mods dest dep m path queue=() seen=()
	mods=$kdir/root/lib/modules/$rel
	stage=$OUT/vm/$rel/modroot
	# Where /lib/modules really is in the VM: an archive must not make a
	# directory where the first one made a symlink.
	dest=$stage/$(readlink "$ROOT/lib" || echo lib)/modules/$rel
	rm -rf "$stage"
	mkdir -p "$dest" "$stage/etc/perfprobe"
	: >"$stage/etc/perfprobe/modules"
	for m in $VM_MODULES; do
		path=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n); gsub(/-/, "_", n) } n == m { print $1; exit }' "$mods/modules.dep")
		if [ -z "$path" ]; then
			grep -Eq "/${m//_/[-_]}\.ko" "$mods/modules.builtin" || die "$rel has no module $m, built in or loadable"
			continue
		fi
		echo "$m" >>"$stage/etc/perfprobe/modules"
		queue+=("$path")
	done
	# Copy the modules with every dependency, transitively.
	while [ ${#queue[@]} -gt 0 ]; do
		path=${queue[0]}
		queue=("${queue[@]:1}")
		[[ " ${seen[*]} " == *" $path "* ]] && continue
		seen+=("$path")
		mkdir -p "$dest/$(dirname "$path")"
		cp "$mods/$path" "$dest/$path"
		dep=$(grep "^$path:" "$mods/modules.dep")
		echo "$dep" >>"$dest/modules.dep"
		for m in ${dep#*:}; do queue+=("$m"); done
	done
	cp "$mods/modules.builtin" "$dest/"
	write_cpio "$stage" "$file.modules"
	cat "$OUT/common.cpio" "$file.modules" >"$file"
	rm "$file.modules"
	echo "${seen[*]}" | tr ' ' '\n' | sed 's,.*/,,; s,\.ko.*,,' | paste -sd' '
}

# --- VMs -----------------------------------------------------------------------

# boot_kernel KERNELDIR RELEASE LOG: boots the kernel with its initramfs and a
# fresh ext4 disk; the serial console goes to LOG. Returns QEMU's status
# (124 on timeout).
boot_kernel() {
	local kdir=$1 rel=$2 log=$3 vm=$OUT/vm/$2
	truncate -s 0 "$vm/disk.img"
	truncate -s 1G "$vm/disk.img"
	# Inode tables and journal initialised now, not by a kernel thread
	# writing in the background while the I/O tests measure.
	mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$vm/disk.img"
	# --foreground keeps QEMU in our process group: stopping this script stops it.
	timeout --foreground --kill-after=10 "$VM_TIMEOUT" \
		qemu-system-x86_64 -accel "$VM_ACCEL" -cpu max -smp "$VM_CPUS" -m "$VM_MEM" \
		-nographic -no-reboot -nic none \
		-kernel "$kdir/root/boot/vmlinuz-$rel" -initrd "$vm/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 softlockup_panic=1 mitigations=off $VM_CMDLINE" \
		-drive "file=$vm/disk.img,if=virtio,format=raw" \
		</dev/null >"$log" 2>&1
}

# run_vm KERNELDIR RELEASE: boots one kernel (in the background, see main)
# and leaves QEMU's status and the seconds it ran in the VM's directory.
run_vm() {
	local kdir=$1 rel=$2 t rc=0
	t=$(now)
	boot_kernel "$kdir" "$rel" "$OUT/logs/$rel.log" || rc=$?
	echo "$rc $(since "$t")" >"$OUT/vm/$rel/status"
	rm -f "$OUT/vm/$rel/initramfs.cpio" # a copy of common.cpio, mostly
}

# --- report --------------------------------------------------------------------

MATRIX=()   # one closing line per kernel
FAILURES=() # "kernel: test: first failure line", repeated at the very end
PASSED=0
FAILED=0

# note_failures RELEASE SUITE_LINE STATUS OUTPUT: remembers, for the closing
# lines (the part of a CI log people see), each failed test and the first
# lines of what it said.
note_failures() {
	local rel=$1 line=$2 status=$3 out=$4 t
	if [ "$status" != FAIL ]; then
		FAILURES+=("$rel: $line: $status")
		return
	fi
	while read -r t; do
		FAILURES+=("$rel: $t")
		# the test's own log lines: indented, between its RUN and FAIL lines
		FAILURES+=("$(awk -v t="$t" '$0 ~ "^=== (RUN|CONT) +"t"$" { on = 1; next } /^(=== |--- )/ { on = 0 } on && /_test\.go:[0-9]+:/' "$out" | grep -v 'capture warning' | head -n 4 | sed 's/^ */      /' || true)")
	done < <(awk '/^ *--- FAIL: / { print $3 }' "$out" || true)
	if grep -q '^panic: ' "$out"; then
		FAILURES+=("$rel: $line: $(grep -m 1 '^panic: ' "$out" || true)")
	fi
}

# report_kernel RELEASE PACKAGE LOG QEMU_STATUS SECONDS: prints the table for
# one kernel from its serial log and counts passed and failed suite lines.
report_kernel() {
	local rel=$1 pkg=$2 log=$3 qemu_rc=$4 secs=$5 clean i line rc tsecs counts status bad=0 vm_secs booted
	clean=$OUT/vm/$rel/console.txt
	tr -d '\r' <"$log" >"$clean"
	vm_secs=$(awk '$1 == "@@PERFPROBE-DONE" { print $2 }' "$clean")
	booted=$(awk '$1 == "@@PERFPROBE-BOOTED" { print $2 }' "$clean")
	echo
	say "kernel $rel ($pkg)"
	echo "   uname -r in the VM: $(awk '$1 == "@@PERFPROBE-UNAME" { print $2 }' "$clean" | grep . || echo "(not reported)")"
	echo "   boot to poweroff: $secs s on the host${vm_secs:+, $vm_secs s VM uptime}${booted:+ (disk mounted at $booted s)}$([ "$qemu_rc" = 124 ] && echo ", TIMED OUT after $VM_TIMEOUT s")"
	grep '^@@PERFPROBE-SETUP-FAIL' "$clean" | sed 's/^@@PERFPROBE-SETUP-FAIL/   VM SETUP FAILED:/' || true
	grep -E '^@@PERFPROBE-(DEADLINE|STUCK)' "$clean" | sed 's/^@@PERFPROBE-/   /' || true
	echo "   perfprobe doctor$(awk '$1 == "@@PERFPROBE-DOCTOR-END" { printf " (%s s, exit status %s)", $3, $2 }' "$clean"):"
	awk '$1 == "@@PERFPROBE-DOCTOR-BEGIN" { on = 1; next } $1 == "@@PERFPROBE-DOCTOR-END" { on = 0 } on { print "     " $0 }' "$clean"
	printf '   %-50s %-8s %5s %5s %5s %8s\n' "suite line" result pass fail skip seconds
	for i in "${!SUITE_LINES[@]}"; do
		line=${SUITE_LINES[$i]}
		# The binary's own output: between its START and RESULT markers.
		awk -v i="$i" '$1 == "@@PERFPROBE-START" && $2 == i { on = 1; next } $1 == "@@PERFPROBE-RESULT" && $2 == i { exit } on' "$clean" >"$OUT/vm/$rel/test-$i.txt"
		read -r rc tsecs < <(awk -v i="$i" '$1 == "@@PERFPROBE-RESULT" && $2 == i { print $4, $5 }' "$clean") || true
		counts=$(awk '/^--- PASS/ { p++ } /^--- FAIL/ { f++ } /^--- SKIP/ { s++ } END { printf "%5d %5d %5d", p, f, s }' "$OUT/vm/$rel/test-$i.txt")
		if [ -z "${SUITE_BIN[$i]}" ]; then
			status=NOBUILD
		elif [ -z "${rc:-}" ]; then
			status=NORESULT # the VM crashed, timed out or never got there
		elif [ "$rc" = 0 ] && [ "$counts" = "$(printf '%5d %5d %5d' 0 0 0)" ]; then
			status=NOTESTS # the regex matched no test: a typo in the suite?
		elif [ "$rc" = 0 ]; then
			status=PASS
		else
			status=FAIL
		fi
		printf '   %-50s %-8s %s %8s\n' "$line" "$status" "$counts" "${tsecs:--}"
		grep -E '^ *--- (PASS|FAIL|SKIP)' "$OUT/vm/$rel/test-$i.txt" | sed 's/^/       /' || true
		if [ "$status" = PASS ]; then
			PASSED=$((PASSED + 1))
		else
			FAILED=$((FAILED + 1))
			bad=1
			note_failures "$rel" "$line" "$status" "$OUT/vm/$rel/test-$i.txt"
			if [ "$status" = FAIL ] && grep -q '^panic: ' "$OUT/vm/$rel/test-$i.txt"; then
				echo "     exit status $rc; its panic (a -test.timeout names the tests still running):"
				grep -A 12 -m 1 '^panic: ' "$OUT/vm/$rel/test-$i.txt" | sed 's/^/     | /'
			elif [ "$status" = FAIL ]; then
				echo "     exit status $rc; last lines of its output:"
				tail -n 60 "$OUT/vm/$rel/test-$i.txt" | sed 's/^/     | /'
			elif [ "$status" = NORESULT ] && grep -q "^@@PERFPROBE-START $i " "$clean"; then
				echo "     started but never finished (VM crash or timeout); last lines of the console:"
				tail -n 60 "$OUT/vm/$rel/test-$i.txt" | sed 's/^/     | /'
			fi
		fi
		rc=
		tsecs=
	done
	if [ -z "$vm_secs" ]; then
		echo "   the VM did not reach @@PERFPROBE-DONE (crashed, timed out or failed to set up)"
		if ! grep -q '^@@PERFPROBE-START ' "$clean"; then
			echo "   last lines of the console:"
			tail -n 40 "$clean" | sed 's/^/     | /'
		fi
		if [ $bad = 0 ]; then # every result is in, but no clean poweroff
			bad=1
			FAILED=$((FAILED + 1))
		fi
	fi
	echo "   serial log: $log"
	MATRIX+=("$(printf '%-28s %-5s %8s s' "$rel" "$([ $bad = 0 ] && echo ok || echo FAIL)" "$secs")")
}

# --- main ----------------------------------------------------------------------

main() {
	local t0 td tb i k kdir rel qemu_rc secs mods kdirs=() pkgs=()
	t0=$(now)
	read_suite
	install_host_tools
	mkdir -p "$CACHE" "$OUT"
	# Two runs sharing $OUT would overwrite each other's logs and disks.
	exec 9>"$OUT/.lock"
	flock -n 9 || die "another run is using $OUT (set PERFPROBE_KERNEL_OUT to run beside it)"

	say "kernels: ${KERNELS[*]}"
	td=$(now)
	for k in "${KERNELS[@]}"; do
		resolve_kernel_package "$k"
		fetch_kernel "$PKG" "$VER"
		pkgs+=("$PKG $VER")
		kdirs+=("$KDIR")
	done
	TIMINGS+=("download+unpack $(since "$td")")

	say "building perfprobe, the test targets and ${#SUITE_LINES[@]} test binaries"
	rm -rf "$ROOT" "$OUT/vm"
	mkdir -p "$ROOT/src" "$ROOT/bin" "$ROOT/targets" "$OUT/vm" "$OUT/logs"
	timed "build perfprobe" build_perfprobe
	timed "build targets" build_targets
	timed "build tests" build_tests
	assemble_root
	copy_host_programs
	copy_shared_libraries
	timed "initramfs" write_cpio "$ROOT" "$OUT/common.cpio"
	say "initramfs: $(du -sh "$OUT/common.cpio" | cut -f1)"

	# Each VM emulates its vCPUs on one host thread (tcg,thread=single), so up
	# to VM_JOBS of them run at once; their reports follow when all are done.
	tb=$(now)
	for i in "${!kdirs[@]}"; do
		kdir=${kdirs[$i]}
		rel=$(kernel_release "$kdir")
		mkdir -p "$OUT/vm/$rel"
		mods=$(modules_archive "$kdir" "$rel" "$OUT/vm/$rel/initramfs.cpio")
		while [ "$(jobs -rp | wc -l)" -ge "$VM_JOBS" ]; do wait -n || true; done
		say "booting $rel (${pkgs[$i]}), modules in the initramfs: ${mods:-none}; timeout $VM_TIMEOUT s; console: $OUT/logs/$rel.log"
		run_vm "$kdir" "$rel" &
	done
	wait
	TIMINGS+=("all VMs $(since "$tb")")
	rm -f "$OUT/common.cpio"

	for i in "${!kdirs[@]}"; do
		rel=$(kernel_release "${kdirs[$i]}")
		read -r qemu_rc secs <"$OUT/vm/$rel/status" || { qemu_rc='?' secs='?'; }
		TIMINGS+=("boot+tests $rel $secs")
		report_kernel "$rel" "${pkgs[$i]}" "$OUT/logs/$rel.log" "$qemu_rc" "$secs"
	done

	echo
	say "kernel matrix"
	printf '   %s\n' "${MATRIX[@]}"
	say "timings (s)"
	printf '   %s\n' "${TIMINGS[@]}" "total $(since "$t0")"
	if [ ${#FAILURES[@]} -gt 0 ]; then
		say "failures (details in each kernel's report above)"
		printf '%s\n' "${FAILURES[@]}" | grep . | sed 's/^/   /'  || true
	fi
	# A plain closing line: suite lines x kernels.
	echo "kernel-matrix: $PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

main
