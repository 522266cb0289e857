"""On call: people, schedules, overrides, and who is on call when.

shifts.py is the pure computation (no I/O); users.py and schedules.py own the
rules of storing them; the routers in app/api/ are thin.
"""
