# shellcheck shell=bash
# tests/kmod/lib.sh: what the kmod harness (tests/kmod/run) and the vm tool
# (tests/kmod/vm) share: the kernel matrix, apt set-up, kernel images,
# the initramfs and one qemu boot.
#
# Everything comes from Debian's archive through apt and is installed only
# when missing. Kernel images are unpacked into a cache (never installed),
# so no initramfs is generated for the host and /boot is left alone.

KMOD_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KMOD_DIR=$KMOD_TOP/tests/kmod
KMOD_CACHE=${HONE_KMOD_CACHE:-$KMOD_TOP/build/kmod}
KMOD_TIMEOUT=${HONE_KMOD_TIMEOUT:-1800}
KMOD_MEM=${HONE_KMOD_MEM:-1024}
KMOD_SMP=${HONE_KMOD_SMP:-2}
# One host thread for all vCPUs: under multi-threaded TCG a vCPU can run a
# stale copy of kernel text that another is patching (static keys, jump
# labels: "Oops: int3" in netif_rx_internal while a tracepoint is turned
# on), which real CPUs never do. Round-robin TCG keeps 2 vCPUs, so the
# guest is still SMP, without that.
KMOD_ACCEL=${HONE_KMOD_ACCEL:-tcg,thread=single}
# Host packages the harness needs (qemu, busybox, cpio, depmod, zstd, python
# for the image tools, tshark to check captures, iproute2/ping in guests).
KMOD_APT=(qemu-system-x86 busybox-static cpio kmod zstd xz-utils python3
	build-essential tshark iproute2 iputils-ping)

kmod_log() { printf '%s\n' "kmod: $*" >&2; }
kmod_die() { printf '%s\n' "kmod: error: $*" >&2; exit 1; }

# The matrix: one kernel per line of tests/kmod/matrix, each a Debian
# meta package (linux-headers-amd64 = bookworm's current 6.1 ABI, ...),
# resolved to the ABI it depends on today. HONE_KMOD_KVERS overrides it
# with a list of kernel releases.
kmod_matrix_packages() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$KMOD_DIR/matrix"
}

# Prints the kernel release a headers meta package depends on.
kmod_meta_kver() {
	local dep
	dep=$(dpkg-query -W -f='${Depends}' "$1" 2>/dev/null |
		tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*\).*/\1/p' |
		head -1)
	[ -n "$dep" ] || return 1
	printf '%s\n' "$dep"
}

kmod_kvers() {
	local p k
	if [ -n "${HONE_KMOD_KVERS:-}" ]; then
		tr ' ' '\n' <<<"$HONE_KMOD_KVERS" | sed '/^$/d'
		return
	fi
	while read -r p; do
		k=$(kmod_meta_kver "$p") ||
			kmod_die "$p is not installed (run: make kmod-setup)"
		printf '%s\n' "$k"
	done < <(kmod_matrix_packages)
}

# Installs what is missing: host tools and the headers of the matrix.
# A kernel the archive no longer has fails here, loudly.
kmod_setup() {
	local missing=() p
	for p in "${KMOD_APT[@]}" $(kmod_matrix_packages); do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	if [ -n "${HONE_KMOD_KVERS:-}" ]; then
		for p in $HONE_KMOD_KVERS; do
			[ -d "/usr/src/linux-headers-$p" ] ||
				missing+=("linux-headers-$p")
		done
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	kmod_log "apt: installing ${missing[*]}"
	apt-get update -qq || kmod_die "apt-get update failed"
	# INITRD=No: the kernel images that headers pull in need no initramfs
	# on this host (the guests boot with our own).
	INITRD=No DEBIAN_FRONTEND=noninteractive apt-get \
		-o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		kmod_die "apt-get install ${missing[*]} failed"
}

# Makes $KMOD_CACHE/$kver/{vmlinux,mods/} for one kernel: the ELF kernel
# (booted through its PVH entry, faster than the bzImage under TCG) and the
# modules the guests need (9p for the shared directories, veth), with a
# load order. The image comes from /boot when installed, otherwise from
# `apt-get download`, unpacked into the cache.
kmod_image() {
	local kver=$1 c=$KMOD_CACHE/$1 root mods
	[ -s "$c/vmlinux" ] && [ -s "$c/mods/order" ] && return 0
	mkdir -p "$c"
	if [ -f "/boot/vmlinuz-$kver" ] && [ -f "/lib/modules/$kver/modules.dep" ]; then
		root=/
	else
		root=$c/root
		if [ ! -f "$root/boot/vmlinuz-$kver" ]; then
			rm -rf "$root" "$c"/*.deb
			kmod_log "apt: downloading linux-image-$kver"
			(cd "$c" && apt-get download -q "linux-image-$kver" \
				>/dev/null 2>&1) ||
				(cd "$c" && apt-get download -q \
					"linux-image-$kver-unsigned" >/dev/null 2>&1) ||
				kmod_die "linux-image-$kver is not in the archive"
			dpkg-deb -x "$c"/linux-image-*.deb "$root" ||
				kmod_die "cannot unpack linux-image-$kver"
			rm -f "$c"/*.deb
		fi
		[ -f "$root/lib/modules/$kver/modules.dep" ] ||
			depmod -b "$root" "$kver" ||
			kmod_die "depmod for $kver failed"
	fi
	python3 "$KMOD_DIR/kimage.py" vmlinux "$root/boot/vmlinuz-$kver" \
		"$c/vmlinux" || kmod_die "cannot extract vmlinux of $kver"
	mods=$c/mods
	rm -rf "$mods"
	python3 "$KMOD_DIR/kimage.py" modules "$root/lib/modules/$kver" "$mods" \
		9p 9pnet_virtio virtio_pci veth ||
		kmod_die "cannot collect the guest modules of $kver"
}

# The initramfs: busybox, /init and the guest modules of one kernel. The
# rest (bash, python3, tshark, dist/hone, the module) is the host's own
# root file system, shared read-only over 9p.
kmod_initramfs() {
	local kver=$1 c=$KMOD_CACHE/$1 r a
	if [ -s "$c/initramfs.cpio" ] && [ "$c/initramfs.cpio" -nt "$KMOD_DIR/init" ] &&
		[ "$c/initramfs.cpio" -nt "$c/mods/order" ]; then
		return 0
	fi
	r=$(mktemp -d "$c/initramfs.XXXXXX")
	mkdir -p "$r"/{bin,dev,proc,sys,tmp,host,mods}
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
	done
	install -m 755 "$KMOD_DIR/init" "$r/init"
	cp "$c"/mods/* "$r/mods/"
	(cd "$r" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) \
		>"$c/initramfs.cpio.tmp"
	mv "$c/initramfs.cpio.tmp" "$c/initramfs.cpio"
	rm -rf "$r"
}

# The module built for one kernel (make kmod puts it there).
kmod_ko() {
	printf '%s\n' "$KMOD_TOP/dist/kmod/$1/honeevent.ko"
}

# Boots one guest: kmod_boot KVER SHARE_DIR SCRIPT [MODULE_ARGS]
# SCRIPT (a host path, run with bash inside the guest, in a chroot of the
# host's root, cwd = the current directory) sees SHARE_DIR read-write at its
# host path; the module is loaded first unless MODULE_ARGS is "-". The
# console goes to stdout; the exit status is the script's, 124 on timeout,
# 125 when the guest died before the script ended (panic, oops, WARN).
kmod_boot() {
	local kver=$1 share=$2 script=$3 margs=${4:-} c=$KMOD_CACHE/$1 ko rc
	local log
	ko=$(kmod_ko "$kver")
	[ "$margs" = - ] || [ -f "$ko" ] || kmod_die "no $ko (run: make kmod)"
	kmod_image "$kver"
	kmod_initramfs "$kver"
	log=$(mktemp "$c/console.XXXXXX")
	# What the guest's /init needs to know, in the shared directory.
	{
		printf 'HONE_KO=%q\n' "$ko"
		printf 'HONE_MARGS=%q\n' "$margs"
		printf 'HONE_SCRIPT=%q\n' "$script"
		printf 'HONE_CWD=%q\n' "$PWD"
		printf 'HONE_SHARE=%q\n' "$share"
		printf 'HONE_TOP=%q\n' "$KMOD_TOP"
	} >"$share/.hone-vm.env"
	timeout --foreground -k 5 "$KMOD_TIMEOUT" qemu-system-x86_64 \
		-accel "$KMOD_ACCEL" -m "$KMOD_MEM" -smp "$KMOD_SMP" -nographic -no-reboot \
		-nic none -monitor none -serial stdio \
		-kernel "$c/vmlinux" -initrd "$c/initramfs.cpio" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$share,mount_tag=share,security_model=none,multidevs=remap" \
		-virtfs "local,path=$KMOD_TOP,mount_tag=top,security_model=none,readonly=on,multidevs=remap" \
		-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=1 quiet loglevel=4" \
		</dev/null 2>&1 | tr -d '\r' | tee "$log" |
		{ grep -av -e '^HONE-VM-EXIT: ' -e 'SeaBIOS (version' || :; }
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 124 ]; then
		kmod_log "$kver: guest timed out after ${KMOD_TIMEOUT}s"
		rm -f "$log"
		return 124
	fi
	rc=$(sed -n 's/^HONE-VM-EXIT: \([0-9]*\)$/\1/p' "$log" | tail -1)
	rm -f "$log"
	if [ -z "$rc" ]; then
		kmod_log "$kver: the guest died before the command ended"
		return 125
	fi
	return "$rc"
}
