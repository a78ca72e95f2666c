"""Labels for printers, pure: printer addresses, label contents, templates rendered at a printer's
own resolution (1-bit, whole dots per QR module), and the printer languages (Brother QL raster,
Zebra ZPL II) with their status replies. No sockets, files or commands: `sanitiser.printing`
sends what this package makes."""
