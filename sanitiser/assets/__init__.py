"""Devices (laptops, desktops, tablets, monitors, docks ...): intake, grades, reuse readiness
and the device certificate's record. The functional core; the store keeps them
(`sanitiser.store.devices`), the application layer runs the steps (`sanitiser.app.devices`)."""
