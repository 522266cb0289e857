"""Other tools' wire formats, mapped onto alert submissions.

Each module here owns one format: its payload models (lenient: unknown fields
are ignored, so newer senders keep working) and pure mapping functions. The
rules they feed are the service's own, in app/services/.
"""
