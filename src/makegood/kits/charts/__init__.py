"""SVG charts drawn on the server: series over time and estimates with intervals."""
