"""Pages people open in a browser: the customer's claim page (and its styles)."""
