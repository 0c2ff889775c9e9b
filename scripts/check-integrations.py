#!/usr/bin/env python3
"""Structural checks of the Buildroot external tree and the Yocto layer.

Neither build system can run here (a real build downloads its sources), so this
checks what a build would trip over first, and what would make the images
break the boot contract (doc/boot.md) without any build failing:

- Buildroot (buildroot-external/): external.desc, every Config.in sourced and
  existing, every package with its Config.in symbol and .mk file using a package
  infrastructure, every $(BR2_EXTERNAL_NORTHSTAR_PATH) path existing, each
  defconfig naming an existing board directory of board-configs/ and that same
  board's kernel fragment, the scripts, the squashfs root, a musl or glibc
  toolchain, only Northstar options that exist, its genimage configuration with
  the root and data partitions where board.toml expects them.
- Kernel fragments: every board-configs/<board>/kernel.config sets every option
  the init's board check requires (read from init/src/pid1/board/shipped.rs).
- Yocto (yocto-layer/): layer.conf's collection, priority, series and
  dependencies; every require/include, inherited class, file:// entry, symlink,
  WKS_FILE, CARGO_SRC_DIR and workspace path of the recipes; the machine to
  board mapping; the crate list against Cargo.lock; LIC_FILES_CHKSUM against
  the file; the kas files.
- Documentation: doc/buildroot.md and doc/yocto.md exist, are linked from
  README.md and name every defconfig and kas file.

--self-test copies the trees, breaks one reference at a time and checks that
each break is reported.
"""

import argparse
import hashlib
import importlib.util
import pathlib
import re
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

# defconfig -> board directory of board-configs/
DEFCONFIG_BOARDS = {
    "northstar_qemu_x86_64_defconfig": "x86_64",
    "northstar_raspberrypi2_defconfig": "rpi2",
    "northstar_rcar_h3_defconfig": "renesas-aarch64",
}
# Yocto machine -> board directory of board-configs/
MACHINE_BOARDS = {
    "qemux86-64": "x86_64",
    "qemuarm64": "renesas-aarch64",
    "raspberrypi2": "rpi2",
    "salvator-x": "renesas-aarch64",
    "h3ulcb": "renesas-aarch64",
}
# Classes of OE-core and of the BSP layers the recipes may inherit (meta-rauc's bundle:
# dynamic-layers/rauc).
KNOWN_CLASSES = {
    "cargo", "cargo-update-recipe-crates", "cargo_common", "deploy", "image",
    "core-image", "externalsrc", "kernel", "native", "nopackages", "bundle",
}
# Files post-image.sh writes, which genimage configurations may use.
POST_IMAGE_OUTPUTS = {"root.img", "data.ext4", "initramfs.cpio.gz"}


class Checker:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.errors: list[str] = []

    def error(self, where, what):
        where = pathlib.Path(where)
        try:
            where = where.relative_to(self.root)
        except ValueError:
            pass
        self.errors.append(f"{where}: {what}")

    def read(self, path: pathlib.Path) -> str:
        try:
            return path.read_text()
        except OSError as e:
            self.error(path, f"cannot read: {e.strerror}")
            return ""

    # ------------------------------------------------------------------ Buildroot
    def buildroot(self):
        br = self.root / "buildroot-external"
        ext = br
        desc = self.read(br / "external.desc")
        if not re.search(r"^name: NORTHSTAR$", desc, re.M):
            self.error(br / "external.desc", "no 'name: NORTHSTAR' line")
        if not re.search(r"^desc: \S", desc, re.M):
            self.error(br / "external.desc", "no 'desc:' line")

        config_in = self.read(br / "Config.in")
        sourced = set()
        for m in re.finditer(r'^\s*source\s+"\$BR2_EXTERNAL_NORTHSTAR_PATH/([^"]+)"', config_in, re.M):
            sourced.add(m.group(1))
            if not (br / m.group(1)).is_file():
                self.error(br / "Config.in", f"sources {m.group(1)}, which does not exist")

        symbols = set()
        for f in br.rglob("Config.in*"):
            symbols |= set(re.findall(r"^\s*(?:menu)?config\s+(BR2_\w+)", self.read(f), re.M))

        external_mk = self.read(br / "external.mk")
        for inc in re.findall(r"^include \$\(BR2_EXTERNAL_NORTHSTAR_PATH\)/(\S+)$", external_mk, re.M):
            if "*" not in inc and not (br / inc).is_file():
                self.error(br / "external.mk", f"includes {inc}, which does not exist")
        if "$(wildcard $(BR2_EXTERNAL_NORTHSTAR_PATH)/package/*/*.mk)" not in external_mk:
            self.error(br / "external.mk", "does not include the packages' .mk files")

        for pkg in sorted(p for p in (br / "package").iterdir() if p.is_dir()):
            name = pkg.name
            symbol = "BR2_PACKAGE_" + name.upper().replace("-", "_")
            cfg = pkg / "Config.in"
            if not cfg.is_file():
                self.error(pkg, "no Config.in")
            elif f"package/{name}/Config.in" not in sourced:
                self.error(br / "Config.in", f"does not source package/{name}/Config.in")
            if symbol not in symbols:
                self.error(cfg, f"does not define {symbol}")
            mk = pkg / f"{name}.mk"
            if not mk.is_file():
                self.error(pkg, f"no {name}.mk")
                continue
            text = self.read(mk)
            if not re.search(r"^\$\(eval \$\((?:host-)?(?:cargo|generic|npk)-package\)\)$", text, re.M):
                self.error(mk, "uses no package infrastructure ($(eval $(...-package)))")
            if (pkg / "Config.in.host").is_file():
                if f"package/{name}/Config.in.host" not in sourced:
                    self.error(br / "Config.in", f"does not source package/{name}/Config.in.host")
                if "$(eval $(host-cargo-package))" not in text:
                    self.error(mk, "has a Config.in.host but defines no host package")
            if "$(eval $(npk-package))" in text:
                prefix = name.upper().replace("-", "_")
                if f"{prefix}_NPK_MANIFEST" not in text:
                    self.error(mk, f"npk-package without {prefix}_NPK_MANIFEST")
                npk = text.index("$(eval $(npk-package))")
                base = re.search(r"\$\(eval \$\((cargo|generic)-package\)\)", text)
                if base and base.start() < npk:
                    self.error(mk, "npk-package must be evaluated before the package's own infrastructure")
            # Workspace paths of the examples' manifests and roots.
            for rel in re.findall(r"\$\(@D\)/(examples/[\w./-]+)", text):
                if not (self.root / rel).exists():
                    self.error(mk, f"refers to {rel} of the workspace, which does not exist")

        # Every path below the external tree named by any of its files.
        for f in sorted(list(br.rglob("*.mk")) + list(br.rglob("Config.in*")) + list((br / "configs").glob("*"))):
            for rel in re.findall(r"\$\(?BR2_EXTERNAL_NORTHSTAR_PATH\)?(/[^\s\"'()*]+)", self.read(f)):
                if not (ext / rel.lstrip("/")).exists():
                    self.error(f, f"refers to $(BR2_EXTERNAL_NORTHSTAR_PATH){rel}, which does not exist")

        for defconfig, board in DEFCONFIG_BOARDS.items():
            self.defconfig(br, br / "configs" / defconfig, board, symbols)
        for f in (br / "configs").glob("*_defconfig"):
            if f.name not in DEFCONFIG_BOARDS:
                self.error(f, "a defconfig this check does not know: add it to DEFCONFIG_BOARDS")

        for script in ("post-build.sh", "post-image.sh"):
            s = br / "board/northstar" / script
            if s.is_file() and not s.stat().st_mode & 0o111:
                self.error(s, "not executable")

    def defconfig(self, br, path, board, symbols):
        text = self.read(path)
        if not text:
            return
        values = {}
        for line in text.splitlines():
            m = re.match(r"^(BR2_\w+)=(.*)$", line)
            if m:
                values[m.group(1)] = m.group(2).strip('"')

        def resolve(value):
            return pathlib.Path(value.replace("$(BR2_EXTERNAL_NORTHSTAR_PATH)", str(br))).resolve()

        if values.get("BR2_PACKAGE_NORTHSTAR") != "y":
            self.error(path, "BR2_PACKAGE_NORTHSTAR is not set")
        for sym in values:
            if sym.startswith("BR2_PACKAGE_NORTHSTAR") and sym not in symbols:
                self.error(path, f"{sym} is not an option of the external tree")
        board_dir = values.get("BR2_PACKAGE_NORTHSTAR_BOARD_DIR")
        if not board_dir:
            self.error(path, "BR2_PACKAGE_NORTHSTAR_BOARD_DIR is not set")
            return
        board_dir = resolve(board_dir)
        expected = (self.root / "board-configs" / board).resolve()
        if board_dir != expected:
            self.error(path, f"board directory {board_dir} is not board-configs/{board}")
        for f in ("board.toml", "runtime.toml", "kernel.config"):
            if not (board_dir / f).is_file():
                self.error(path, f"board directory {board_dir} has no {f}")
        fragments = [resolve(f) for f in values.get("BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES", "").split()]
        if board_dir / "kernel.config" not in fragments:
            self.error(path, f"BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES does not name {board_dir}/kernel.config")
        for f in fragments:
            if not f.is_file():
                self.error(path, f"kernel fragment {f} does not exist")
        for sym in ("BR2_ROOTFS_POST_BUILD_SCRIPT", "BR2_ROOTFS_POST_IMAGE_SCRIPT"):
            if sym not in values:
                self.error(path, f"{sym} is not set")
            elif not resolve(values[sym]).is_file():
                self.error(path, f"{sym}: {values[sym]} does not exist")
        if values.get("BR2_TARGET_ROOTFS_SQUASHFS") != "y":
            self.error(path, "BR2_TARGET_ROOTFS_SQUASHFS is not set: post-image.sh needs rootfs.squashfs")
        if "y" not in (values.get("BR2_TOOLCHAIN_BUILDROOT_MUSL"), values.get("BR2_TOOLCHAIN_BUILDROOT_GLIBC")):
            self.error(path, "the toolchain is neither musl nor glibc (the init links statically against one)")
        if values.get("BR2_INIT_NONE") != "y":
            self.error(path, "BR2_INIT_NONE is not set: the init is /init of the initramfs")
        for sym in ("BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE", "BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE"):
            if sym in values and not resolve(values[sym]).is_file():
                self.error(path, f"{sym}: {values[sym]} does not exist")
        args = values.get("BR2_ROOTFS_POST_SCRIPT_ARGS", "").split()
        if "-c" in args:
            cfg = resolve(args[args.index("-c") + 1])
            if not cfg.is_file():
                self.error(path, f"genimage configuration {cfg} does not exist")
            else:
                self.genimage(cfg, board_dir)
        elif board != "x86_64":
            self.error(path, "no genimage configuration (-c in BR2_ROOTFS_POST_SCRIPT_ARGS)")

    def genimage(self, cfg, board_dir):
        text = re.sub(r"#.*", "", self.read(cfg))
        defined = set(re.findall(r"^image\s+(\S+)\s*\{", text, re.M))
        for used in re.findall(r'\bimage\s*=\s*"([^"]+)"', text):
            if used not in defined and used not in POST_IMAGE_OUTPUTS:
                self.error(cfg, f"partition image {used} is neither made here nor by post-image.sh")
        order = re.findall(r'\bimage\s*=\s*"([^"]+)"', text)
        board = self.read(board_dir / "board.toml")
        root = re.search(r'^\[root\][^\[]*?^device\s*=\s*"([^"]+)"', board, re.M | re.S)
        data = re.search(r'^\[data\][^\[]*?^device\s*=\s*"([^"]+)"', board, re.M | re.S)
        for image, dev in (("root.img", root), ("data.ext4", data)):
            if not dev:
                continue
            m = re.search(r"p(\d+)$", dev.group(1))
            if not m:
                continue
            n = int(m.group(1))
            if image not in order or order.index(image) + 1 != n:
                self.error(cfg, f"{image} is not partition {n}, the board's {dev.group(1)}")
        for f in re.findall(r'^\s*"([^"]+)",?\s*$', text, re.M):
            if f.startswith("/"):
                self.error(cfg, f"absolute path {f} in a files list")

    def kconfig(self):
        """Buildroot's Kconfig parser's view (kconfiglib, when installed): the tree's
        Config.in files parse without warnings, no Northstar option is referenced
        without being defined, and every Northstar option a defconfig sets takes that
        value (no unmet dependency). Buildroot's own symbols are stubbed."""
        try:
            import kconfiglib
        except ImportError:
            return False
        import os
        br = self.root / "buildroot-external"
        texts = "\n".join(self.read(f) for f in sorted(br.rglob("Config.in*")))
        defined = set(re.findall(r"^\s*(?:menu)?config\s+(\w+)", texts, re.M))
        referenced = set(re.findall(r"\bBR2_\w+", texts)) - defined
        ours = {s for s in referenced if re.match(r"BR2_PACKAGE_(HOST_)?NORTHSTAR", s)}
        for sym in sorted(ours):
            self.error(br, f"{sym} is referenced but not defined")
        stub = ['mainmenu "Buildroot stub"']
        stub += [f"config {s}\n\tbool\n\tdefault y" for s in sorted(referenced - ours)]
        stub += ['menu "External options"', 'source "$BR2_EXTERNAL_NORTHSTAR_PATH/Config.in"', "endmenu"]
        env = {k: os.environ.get(k) for k in ("CONFIG_", "BR2_EXTERNAL_NORTHSTAR_PATH")}
        os.environ["CONFIG_"] = ""
        os.environ["BR2_EXTERNAL_NORTHSTAR_PATH"] = str(br)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                top = pathlib.Path(tmp) / "Config.in"
                top.write_text("\n".join(stub) + "\n")
                try:
                    k = kconfiglib.Kconfig(str(top), warn_to_stderr=False)
                except kconfiglib.KconfigError as e:
                    self.error(br / "Config.in", f"Kconfig: {e}")
                    return True
                for w in k.warnings:
                    self.error(br / "Config.in", f"Kconfig: {w}")
                k.warn_assign_undef = False
                for defconfig in sorted((br / "configs").glob("*_defconfig")):
                    k.load_config(str(defconfig), replace=True)
                    for sym, value in re.findall(r'^(BR2_PACKAGE_(?:HOST_)?NORTHSTAR\w*)=(.*)$',
                                                 self.read(defconfig), re.M):
                        value = value.strip('"')
                        got = k.syms[sym].str_value if sym in k.syms else None
                        if got != value:
                            self.error(defconfig, f"{sym}={value} is not taken by Kconfig (value {got!r}: unmet dependency?)")
        finally:
            for key, value in env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return True

    # ------------------------------------------------------------ kernel options
    def kernel_fragments(self):
        shipped = self.root / "init/src/pid1/board/shipped.rs"
        src = self.read(shipped)
        block = re.search(r"for option in \[(.*?)\]", src, re.S)
        if not block:
            self.error(shipped, "no list of required kernel options found")
            return
        common = re.findall(r'"(CONFIG_\w+)"', block.group(1))
        arms = {m.group(1): re.findall(r'"(CONFIG_\w+)"', m.group(2))
                for m in re.finditer(r'^\s*"([\w-]+)"\s*=>\s*\((.*?)\)', src, re.M | re.S)}
        default = re.search(r"^\s*_\s*=>\s*\((.*?)\)", src, re.M | re.S)
        if len(common) < 10 or not arms:
            self.error(shipped, "the required kernel options could not be read")
            return
        boards = sorted(p for p in (self.root / "board-configs").iterdir() if p.is_dir())
        for board in boards:
            frag = board / "kernel.config"
            text = self.read(frag)
            set_options = set(re.findall(r"^(CONFIG_\w+)=[ym]$", text, re.M))
            own = arms.get(board.name) or (re.findall(r'"(CONFIG_\w+)"', default.group(1)) if default else [])
            for option in common + [o for o in own if o.startswith("CONFIG_")]:
                if option not in set_options:
                    self.error(frag, f"{option} is not set (=y or =m); the init's board check requires it")

    # ---------------------------------------------------------------------- Yocto
    def yocto(self):
        layer = self.root / "yocto-layer"
        conf = self.read(layer / "conf/layer.conf")
        m = re.search(r'^BBFILE_COLLECTIONS \+= "(\w+)"', conf, re.M)
        if not m:
            self.error(layer / "conf/layer.conf", "no BBFILE_COLLECTIONS")
            return
        coll = m.group(1)
        for var in ("BBFILE_PATTERN", "BBFILE_PRIORITY", "LAYERSERIES_COMPAT", "LAYERDEPENDS", "LAYERVERSION"):
            if not re.search(rf'^{var}_{coll}\s*=\s*"[^"]+"', conf, re.M):
                self.error(layer / "conf/layer.conf", f"no {var}_{coll}")
        for dyn in re.findall(r"\w[\w-]*:\$\{LAYERDIR\}/(\S+?)/\*", conf):
            if not (layer / dyn).is_dir():
                self.error(layer / "conf/layer.conf", f"BBFILES_DYNAMIC names {dyn}, which does not exist")

        classes = {p.stem for p in (layer / "classes").glob("*.bbclass")}
        recipes = {}
        files = sorted(list(layer.rglob("*.bb")) + list(layer.rglob("*.bbappend"))
                       + list(layer.rglob("*.bbclass")) + list(layer.rglob("*.inc"))
                       + list(layer.rglob("*.conf")))
        for f in files:
            text = self.read(f)
            if f.suffix == ".bb":
                recipes[f.name.split("_")[0].removesuffix(".bb")] = text
            for kind, inc in re.findall(r"^(require|include)\s+(\S+)", text, re.M):
                if not ((f.parent / inc).is_file() or (layer / inc).is_file()
                        or inc.startswith("conf/distro/poky")):
                    self.error(f, f"{kind}s {inc}, which does not exist")
            for names in re.findall(r"^inherit\s+(.+)$", text, re.M):
                for cls in names.split():
                    if cls not in classes and cls not in KNOWN_CLASSES:
                        self.error(f, f"inherits {cls}, a class neither of this layer nor of OE-core")
            self.file_uris(f, text)
            for rel in re.findall(r'^CARGO_SRC_DIR\s*=\s*"([^"]+)"', text, re.M):
                if not (self.root / rel / "Cargo.toml").is_file():
                    self.error(f, f"CARGO_SRC_DIR {rel} has no Cargo.toml in the workspace")
            for rel in re.findall(r"\$\{S\}/([\w./-]+)", text) if f.suffix != ".bbclass" else []:
                if not (self.root / rel).exists() and rel != "Cargo.lock" or rel == "Cargo.lock" and not (self.root / rel).is_file():
                    self.error(f, f"refers to ${{S}}/{rel}, which the workspace does not have")
            for wks in re.findall(r'^WKS_FILE(?::[\w-]+)?\s*\??=\s*"([^"]+)"', text, re.M):
                if not (layer / "wic" / wks).is_file():
                    self.error(f, f"WKS_FILE {wks} is not in wic/")
            for m in re.finditer(r'LIC_FILES_CHKSUM = "file://([^;"]+);beginline=(\d+);endline=(\d+);md5=(\w+)"', text):
                path, begin, end, md5 = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
                lines = self.read(self.root / path).splitlines(keepends=True)[begin - 1:end]
                if hashlib.md5("".join(lines).encode()).hexdigest() != md5:
                    self.error(f, f"LIC_FILES_CHKSUM: the md5 of {path} lines {begin}-{end} is not {md5}")

        image = recipes.get("northstar-image", "")
        for name in re.findall(r'NORTHSTAR_CONTAINERS \?= "([^"]*)"', image):
            for c in name.split():
                if c not in recipes:
                    self.error(layer / "recipes-core/images/northstar-image.bb", f"container {c} has no recipe")
                elif "inherit npk" not in recipes[c]:
                    self.error(layer / "recipes-core/images/northstar-image.bb", f"container {c} does not inherit npk")

        # Symlinks (the kernel fragments) and the machine -> board mapping.
        for link in sorted(p for p in layer.rglob("*") if p.is_symlink()):
            target = link.resolve()
            if not target.is_file():
                self.error(link, f"symlink to {link.readlink()}, which does not exist")
                continue
            if link.name == "northstar.cfg":
                machine = link.parent.name
                want = MACHINE_BOARDS.get(machine)
                if want is None:
                    self.error(link, f"machine {machine} is not a known Northstar machine")
                elif target != (self.root / "board-configs" / want / "kernel.config").resolve():
                    self.error(link, f"machine {machine} takes {target}, not board-configs/{want}/kernel.config")
        cls = self.read(layer / "classes/northstar.bbclass")
        mapping = dict(re.findall(r'"([\w-]+)":\s*"([\w-]+)"', cls))
        if mapping != MACHINE_BOARDS:
            self.error(layer / "classes/northstar.bbclass", f"machine to board mapping {mapping} is not {MACHINE_BOARDS}")
        for board in set(mapping.values()):
            if not (self.root / "board-configs" / board / "board.toml").is_file():
                self.error(layer / "classes/northstar.bbclass", f"board {board} is not in board-configs/")

        # The crate list.
        spec = importlib.util.spec_from_file_location("yocto_crates", ROOT / "scripts/yocto-crates.py")
        crates = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(crates)
        inc = layer / "recipes-core/northstar/northstar-crates.inc"
        if self.read(inc) != crates.render(self.root / "Cargo.lock"):
            self.error(inc, "does not match Cargo.lock: run scripts/yocto-crates.py")

        # The disk layouts: the root and data partitions where board.toml expects them.
        for wks, board in (("northstar-sdcard.wks.in", "rpi2"), ("northstar-emmc.wks.in", "renesas-aarch64")):
            parts = [l for l in self.read(layer / "wic" / wks).splitlines() if l.startswith("part ")]
            toml = self.read(self.root / "board-configs" / board / "board.toml")
            for suffix, table in ((".root.img", "root"), (".data.ext4", "data")):
                dev = re.search(rf'^\[{table}\][^\[]*?^device\s*=\s*"[^"]*p(\d+)"', toml, re.M | re.S)
                where = [i + 1 for i, l in enumerate(parts) if suffix in l]
                if dev and where != [int(dev.group(1))]:
                    self.error(layer / "wic" / wks, f"{suffix} is partition {where}, board-configs/{board} expects {dev.group(1)}")

        self.kas(layer)

    def file_uris(self, f, text):
        for m in re.finditer(r"file://([^\s;\"\\]+)", text):
            name = m.group(1)
            if name.startswith("${") or name.startswith("/"):
                continue
            if "LIC_FILES_CHKSUM" in text[max(0, m.start() - 40):m.start()]:
                continue
            pn = f.name.split("_")[0].removesuffix(".bb").removesuffix(".bbappend")
            dirs = [f.parent / pn, f.parent / "files", f.parent]
            found = [d for d in dirs if (d / name).exists()]
            found += [p for d in dirs if d.is_dir() for p in d.glob(f"*/{name}")]
            if not found:
                self.error(f, f"file://{name} is in none of {', '.join(str(d.relative_to(self.root)) for d in dirs)} (or their override directories)")

    def kas(self, layer):
        kas_dir = layer / "kas"
        boards = {"qemux86-64": "x86_64", "raspberrypi2": "rpi2", "salvator-x": "renesas-aarch64"}
        seen = set()
        for f in sorted(kas_dir.glob("*.yml")):
            text = self.read(f)
            if not re.search(r"^header:\n(?:\s+.*\n)*?\s+version:\s*\d+", text, re.M):
                self.error(f, "no header version")
            for inc in re.findall(r"^\s+-\s+(\S+\.yml)\s*$", text, re.M):
                if not (kas_dir / inc).is_file():
                    self.error(f, f"includes {inc}, which does not exist")
            m = re.search(r"^machine:\s*(\S+)", text, re.M)
            if m:
                seen.add(m.group(1))
                if m.group(1) not in MACHINE_BOARDS:
                    self.error(f, f"machine {m.group(1)} has no Northstar board")
            m = re.search(r"^distro:\s*(\S+)", text, re.M)
            if m and m.group(1) != "poky" and not (layer / "conf/distro" / f"{m.group(1)}.conf").is_file():
                self.error(f, f"distro {m.group(1)} has no conf/distro/{m.group(1)}.conf")
            for target in re.findall(r"^target:\n((?:\s+-\s+\S+\n)+)", text, re.M):
                for t in re.findall(r"-\s+(\S+)", target):
                    if not list(layer.rglob(f"{t}.bb")) and not list(layer.rglob(f"{t}_*.bb")):
                        self.error(f, f"target {t} is not a recipe of the layer")
            if "yocto-layer:" in text and not re.search(r"^  northstar:\n    layers:\n      yocto-layer:", text, re.M):
                self.error(f, "the layer is not taken from this repository (repos: northstar: layers: yocto-layer:)")
        for machine in boards:
            if machine not in seen:
                self.error(kas_dir, f"no kas file for {machine}")

    # ----------------------------------------------------------------------- docs
    def docs(self):
        readme = self.read(self.root / "README.md")
        for doc in ("doc/buildroot.md", "doc/yocto.md"):
            if not (self.root / doc).is_file():
                self.error(self.root / doc, "does not exist")
            if f"]({doc})" not in readme:
                self.error(self.root / "README.md", f"does not link {doc}")
        br = self.read(self.root / "doc/buildroot.md")
        for defconfig in DEFCONFIG_BOARDS:
            if defconfig not in br:
                self.error(self.root / "doc/buildroot.md", f"does not mention {defconfig}")
        yocto = self.read(self.root / "doc/yocto.md")
        for f in (self.root / "yocto-layer/kas").glob("*.yml"):
            if f.name not in yocto:
                self.error(self.root / "doc/yocto.md", f"does not mention kas/{f.name}")

    def run(self):
        self.buildroot()
        self.kconfig()
        self.kernel_fragments()
        self.yocto()
        self.docs()
        return self.errors


# ----------------------------------------------------- Yocto shell functions, run
BITBAKE_VAR = re.compile(r"\$\{([a-zA-Z0-9\-_+./~:]+?)\}")
SHELL_FUNCTIONS = {
    "classes/northstar.bbclass": ["northstar_key"],
    "classes/npk.bbclass": ["do_npk", "do_deploy"],
    "classes/northstar_image.bbclass": ["northstar_rootfs", "IMAGE_CMD:northstar"],
}


def yocto_shell(root: pathlib.Path, values: dict) -> str:
    """The layer's shell functions as BitBake hands them to /bin/sh: ${VAR} references
    expanded (BitBake's own pattern, so shell expansions such as ${v%.key} stay), task
    names made shell names (IMAGE_CMD:northstar -> IMAGE_CMD_northstar). A reference
    to a variable missing from `values` is an error: BitBake would leave it to the
    shell, which knows no such variable."""
    out = ['bbfatal() { echo "ERROR: $*" >&2; exit 1; }',
           'bbwarn() { echo "WARNING: $*" >&2; }',
           'bbnote() { echo "NOTE: $*"; }']
    for rel, names in SHELL_FUNCTIONS.items():
        text = (root / "yocto-layer" / rel).read_text()
        for name in names:
            m = re.search(rf"^{re.escape(name)}\(\) \{{\n(.*?)^\}}$", text, re.M | re.S)
            if not m:
                raise SystemExit(f"yocto-layer/{rel}: no shell function {name}")
            body = m.group(1)
            missing = sorted({v for v in BITBAKE_VAR.findall(body) if v not in values})
            if missing:
                raise SystemExit(f"yocto-layer/{rel}: {name} uses {', '.join(missing)}, not given")
            body = BITBAKE_VAR.sub(lambda v: values[v.group(1)], body)
            shell_name = name.replace(":", "_")
            if rel.endswith("npk.bbclass"):
                shell_name = "npk_" + shell_name
            out.append(f"{shell_name}() {{\n{body}}}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------- self-test
COPY = ["buildroot-external", "yocto-layer", "board-configs", "Cargo.toml", "Cargo.lock",
        "init/src/pid1/board/shipped.rs", "init/Cargo.toml", "nstar/Cargo.toml",
        "examples", "doc/buildroot.md", "doc/yocto.md", "README.md"]


def edit(path, old, new):
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"self-test: {path}: {old!r} not found")
    path.write_text(text.replace(old, new, 1))


def break_crate(root):
    inc = root / "yocto-layer/recipes-core/northstar/northstar-crates.inc"
    text = inc.read_text()
    m = re.search(r'sha256sum\] = "(\w)', text)
    inc.write_text(text[:m.start(1)] + ("0" if m.group(1) != "0" else "1") + text[m.start(1) + 1:])


MUTATIONS = [
    ("a package Config.in removed",
     lambda r: (r / "buildroot-external/package/northstar-message/Config.in").unlink(),
     "northstar-message"),
    ("a sourced Config.in renamed",
     lambda r: edit(r / "buildroot-external/Config.in", "northstar/Config.in.host", "northstar/Config.host"),
     "Config.host"),
    ("a defconfig's kernel fragment of another board",
     lambda r: edit(r / "buildroot-external/configs/northstar_raspberrypi2_defconfig",
                    "board-configs/rpi2/kernel.config", "board-configs/x86_64/kernel.config"),
     "FRAGMENT_FILES does not name"),
    ("a defconfig's board directory missing",
     lambda r: edit(r / "buildroot-external/configs/northstar_rcar_h3_defconfig",
                    '_BOARD_DIR="$(BR2_EXTERNAL_NORTHSTAR_PATH)/../board-configs/renesas-aarch64"',
                    '_BOARD_DIR="$(BR2_EXTERNAL_NORTHSTAR_PATH)/../board-configs/rcar"'),
     "board-configs/rcar"),
    ("a post-image script path broken",
     lambda r: edit(r / "buildroot-external/configs/northstar_qemu_x86_64_defconfig",
                    "board/northstar/post-image.sh", "board/northstar/postimage.sh"),
     "postimage.sh"),
    ("genimage partitions swapped",
     lambda r: edit(r / "buildroot-external/board/northstar/genimage-raspberrypi2.cfg",
                    'image = "root.img"', 'image = "data.ext4"'),
     "is not partition"),
    ("a required kernel option dropped from a fragment",
     lambda r: edit(r / "board-configs/rpi2/kernel.config", "CONFIG_DM_VERITY=m\n", ""),
     "CONFIG_DM_VERITY is not set"),
    ("a board's driver option dropped",
     lambda r: edit(r / "board-configs/renesas-aarch64/kernel.config", "CONFIG_RENESAS_WDT=m\n", ""),
     "CONFIG_RENESAS_WDT is not set"),
    ("a crate checksum changed",
     break_crate,
     "does not match Cargo.lock"),
    ("a required .inc missing",
     lambda r: (r / "yocto-layer/recipes-core/northstar/northstar-source.inc").unlink(),
     "northstar-source.inc, which does not exist"),
    ("a kernel fragment symlink dangling",
     lambda r: (r / "board-configs/x86_64/kernel.config").rename(r / "board-configs/x86_64/kernel.cfg"),
     "symlink to"),
    ("an inherited class missing",
     lambda r: (r / "yocto-layer/classes/npk.bbclass").unlink(),
     "inherits npk"),
    ("the license line changed",
     lambda r: edit(r / "Cargo.toml", 'license = "Apache-2.0"', 'license = "MIT"'),
     "LIC_FILES_CHKSUM"),
    ("a CARGO_SRC_DIR gone",
     lambda r: edit(r / "yocto-layer/recipes-core/northstar/nstar_git.bb",
                    'CARGO_SRC_DIR = "nstar"', 'CARGO_SRC_DIR = "tools/nstar"'),
     "CARGO_SRC_DIR tools/nstar"),
    ("a wks file missing",
     lambda r: (r / "yocto-layer/wic/northstar-sdcard.wks.in").unlink(),
     "WKS_FILE northstar-sdcard.wks.in"),
    ("wic partitions swapped",
     lambda r: edit(r / "yocto-layer/wic/northstar-emmc.wks.in", ".root.img", ".rootx.img"),
     ".root.img is partition []"),
    ("a Kconfig dependency misspelt",
     lambda r: edit(r / "buildroot-external/package/northstar-hello-world/Config.in",
                    "depends on BR2_PACKAGE_NORTHSTAR", "depends on BR2_PACKAGE_NORTHSTARS"),
     "BR2_PACKAGE_NORTHSTARS is referenced but not defined"),
    ("an unmet Kconfig dependency",
     lambda r: edit(r / "buildroot-external/package/northstar-message/Config.in",
                    "depends on BR2_PACKAGE_NORTHSTAR", "depends on BR2_PACKAGE_NORTHSTAR_NSTAR"),
     "BR2_PACKAGE_NORTHSTAR_MESSAGE=y is not taken"),
    ("a Kconfig syntax error",
     lambda r: edit(r / "buildroot-external/package/northstar/Config.in",
                    'string "data partition size"', 'strin "data partition size"'),
     "Kconfig"),
    ("a kas include missing",
     lambda r: (r / "yocto-layer/kas/common.yml").unlink(),
     "includes common.yml"),
]


def self_test() -> int:
    failures = 0
    for name, mutate, expect in MUTATIONS:
        with tempfile.TemporaryDirectory() as tmp:
            root = pathlib.Path(tmp)
            for rel in COPY:
                src, dst = ROOT / rel, root / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_dir():
                    shutil.copytree(src, dst, symlinks=True)
                else:
                    shutil.copy2(src, dst)
            if Checker(root).run():
                print(f"self-test: the unmodified copy does not pass", file=sys.stderr)
                for e in Checker(root).run():
                    print(f"  {e}", file=sys.stderr)
                return 1
            mutate(root)
            errors = Checker(root).run()
            hit = [e for e in errors if expect in e]
            if hit:
                print(f"ok   {name}: {hit[0]}")
            else:
                failures += 1
                print(f"FAIL {name}: not reported (expected {expect!r}; got {errors})")
    print(f"{len(MUTATIONS) - failures} passed, {failures} failed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--self-test", action="store_true",
                        help="break references in a copy and check each is reported")
    parser.add_argument("--yocto-shell", nargs="+", metavar="VAR=VALUE",
                        help="print the layer's shell functions expanded with these variables")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not Checker(ROOT).kconfig():
        print("check-integrations: kconfiglib is not installed: Kconfig not checked", file=sys.stderr)
    if args.yocto_shell:
        sys.stdout.write(yocto_shell(ROOT, dict(v.split("=", 1) for v in args.yocto_shell)))
        return 0
    errors = Checker(ROOT).run()
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check-integrations: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("check-integrations: Buildroot tree, Yocto layer, kernel fragments and guides are consistent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
