"""Suite-wide settings: the devserver fixture comes from the package's pytest plugin."""
