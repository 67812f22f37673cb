"""Page cursors: read models hand them out with a page; one not theirs is refused alike."""


class InvalidCursor(ValueError):
    """A page cursor that this service did not hand out (the API answers 400)."""
