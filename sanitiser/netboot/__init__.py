"""The boot image and the network boot path of the donor agent (issue 19).

Pure parts (values in, values out): `spec` (what goes into an image: Debian packages, files,
kernel modules, the variants), `cpio` (a reproducible initramfs archive), `texts` (the image's
/init, the iPXE script, the dnsmasq configuration, the syslinux configuration). Shell parts:
`build` (downloads Debian packages through apt, extracts them, resolves shared libraries, packs
the initramfs and the USB image), `serve` (the HTTP file server and dnsmasq) and `probe` (the
host report the image prints in its self-test).
"""
