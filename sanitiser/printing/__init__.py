"""The printing shell: sends what `sanitiser.labels` made to a printer (raw TCP 9100, a
``/dev/usb/lp*`` node, or CUPS through the command runner) and reads back what the printer says
(Brother QL status, Zebra host status, the CUPS job's state), so a fault is a clear
`PrinterError` that says whether the label can have been printed."""
